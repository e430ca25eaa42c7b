// `portshim unit` on plain data: reading ExecStart= as systemd does (continuation
// lines, comments, resets, prefixes), splitting command lines, the drop-in itself,
// and finding a unit and its drop-ins in a scratch root.
#include "unit.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace portshim::cli;
using Catch::Matchers::Contains;

namespace {

ServiceUnit read(const std::string& text) {
    ServiceUnit unit;
    std::string error;
    REQUIRE(read_unit_text(text, unit, error));
    return unit;
}

DropInRequest request() {
    DropInRequest r;
    r.unit_name = "app.service";
    r.source = "/etc/systemd/system/app.service";
    r.portshim = "/usr/bin/portshim";
    r.run = "/usr/bin/portshim-run";
    r.undo_path = "/etc/systemd/system/app.service.d/portshim.conf";
    return r;
}

std::string render(const ServiceUnit& unit, const DropInRequest& r) {
    std::string error;
    const auto text = render_drop_in(unit, r, error);
    INFO(error);
    REQUIRE(text);
    return *text;
}

/** The drop-in's lines that are settings: no header comment. */
std::vector<std::string> settings(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t nl = text.find('\n', pos);
        const std::string line = text.substr(pos, nl - pos);
        if (!line.empty() && line[0] != '#') lines.push_back(line);
        pos = nl == std::string::npos ? text.size() : nl + 1;
    }
    return lines;
}

struct ScratchRoot {
    std::string path;
    ScratchRoot() {
        char name[] = "/tmp/portshim-unit-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
    }
    ~ScratchRoot() { std::filesystem::remove_all(path); }
    void write(const std::string& file, const std::string& text) const {
        std::filesystem::create_directories(std::filesystem::path(path + file).parent_path());
        std::ofstream(path + file) << text;
    }
};

} // namespace

TEST_CASE("unit files: ExecStart continued over lines with comments in between", "[unit]") {
    const ServiceUnit unit = read("[Unit]\nDescription=ExecStart=/not/this\n\n"
                                  "[Service]\n"
                                  "ExecStart=/usr/sbin/daemon \\\n"
                                  "    --port 8080 \\\n"
                                  "# a comment inside the continuation is skipped\n"
                                  "    --foreground\n"
                                  "; another comment\n");
    REQUIRE(unit.exec_start.size() == 1);
    CHECK(unit.exec_start[0].prefixes.empty());
    CHECK(unit.exec_start[0].command == "/usr/sbin/daemon  --port 8080  --foreground");
}

TEST_CASE("unit files: an even number of backslashes ends the line", "[unit]") {
    const ServiceUnit unit = read("[Service]\nExecStart=/bin/echo a\\\\\nType=oneshot\n");
    REQUIRE(unit.exec_start.size() == 1);
    CHECK(unit.exec_start[0].command == "/bin/echo a\\\\");
    CHECK(unit.type == "oneshot");
}

TEST_CASE("unit files: an empty ExecStart resets the list as in a drop-in", "[unit]") {
    ServiceUnit unit = read("[Service]\nExecStart=/usr/bin/old\n");
    std::string error;
    REQUIRE(read_unit_text("[Service]\nExecStart=\nExecStart=@/usr/bin/new new-name\n", unit, error));
    REQUIRE(unit.exec_start.size() == 1);
    CHECK(unit.exec_start[0].prefixes == "@");
    CHECK(unit.exec_start[0].command == "/usr/bin/new new-name");
}

TEST_CASE("unit files: a line that is no setting is refused with its number", "[unit]") {
    ServiceUnit unit;
    std::string error;
    CHECK_FALSE(read_unit_text("[Service]\nExecStart=/bin/true\nnonsense\n", unit, error));
    CHECK(error == "line 3: neither a [section], a setting nor a comment");
    CHECK_FALSE(read_unit_text("[Service\n", unit, error));
}

TEST_CASE("unit files: prefixes are kept in front of portshim-run", "[unit]") {
    const ServiceUnit unit = read("[Service]\nType=oneshot\n"
                                  "ExecStart=-/usr/bin/may-fail\n"
                                  "ExecStart=+/usr/bin/as-root\n"
                                  "ExecStart=!!/usr/bin/ambient\n"
                                  "ExecStart=-:/usr/bin/literal $HOME\n");
    DropInRequest r = request();
    r.reuseaddr = true;
    CHECK(settings(render(unit, r)) == std::vector<std::string>{
        "[Service]",
        "ExecStart=",
        "ExecStart=-/usr/bin/portshim-run --reuseaddr -- /usr/bin/may-fail",
        "ExecStart=+/usr/bin/portshim-run --reuseaddr -- /usr/bin/as-root",
        "ExecStart=!!/usr/bin/portshim-run --reuseaddr -- /usr/bin/ambient",
        "ExecStart=-:/usr/bin/portshim-run --reuseaddr -- /usr/bin/literal $HOME",
    });
}

TEST_CASE("unit files: ports become ExecStartPre=portshim wait and --supervise is passed on", "[unit]") {
    DropInRequest r = request();
    r.ports = {"8080", "[::1]:9090"};
    r.timeout = 12;
    r.supervise = true;
    const std::string text = render(read("[Service]\nExecStart=/srv/app --listen 8080\n"), r);
    CHECK(settings(text) == std::vector<std::string>{
        "[Service]",
        "ExecStartPre=/usr/bin/portshim wait --timeout 12 8080",
        "ExecStartPre=/usr/bin/portshim wait --timeout 12 [::1]:9090",
        "ExecStart=",
        "ExecStart=/usr/bin/portshim-run --supervise -- /srv/app --listen 8080",
    });
    // The header: what wrote it, from what, and how to undo it.
    CHECK(text.rfind(drop_in_marker, 0) == 0);
    CHECK_THAT(text, Contains("from /etc/systemd/system/app.service"));
    CHECK_THAT(text, Contains("# Undo: rm /etc/systemd/system/app.service.d/portshim.conf && systemctl daemon-reload"));
}

TEST_CASE("unit files: what the drop-in cannot do is refused in one line", "[unit]") {
    std::string error;
    CHECK_FALSE(render_drop_in(read("[Service]\nType=simple\n"), request(), error));
    CHECK(error == "app.service has no ExecStart= (/etc/systemd/system/app.service)");
    CHECK_FALSE(render_drop_in(read("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n"), request(), error));
    CHECK(error == "app.service has 2 ExecStart= lines but Type=simple: only Type=oneshot may have several");
    CHECK_FALSE(render_drop_in(read("[Service]\nExecStart=@/bin/busybox httpd -f\n"), request(), error));
    CHECK_THAT(error, Contains("ExecStart=@"));
    CHECK_FALSE(render_drop_in(read("[Service]\nExecStart=/bin/echo \"open\n"), request(), error));
    CHECK_THAT(error, Contains("unterminated"));
    CHECK_FALSE(render_drop_in(read("[Service]\nExecStart=-\n"), request(), error));
    CHECK(error == "app.service: an ExecStart= without a command");
    // Already under portshim (scripts/examples/legacy.service): wrapping again would run portshim-run twice.
    CHECK_FALSE(render_drop_in(read("[Service]\nExecStart=/usr/local/bin/portshim-run --reuseaddr -- /opt/s -p 1\n"),
                               request(), error));
    CHECK(error == "app.service: ExecStart= already runs under /usr/local/bin/portshim-run; nothing to add");
}

TEST_CASE("unit files: command lines split as systemd splits them", "[unit]") {
    std::string error;
    const auto words = split_unit_words(R"(/bin/sh -c "echo \"a b\"; exit 3" 'single quoted' x\sy \x41\102 "")", error);
    REQUIRE(words);
    CHECK(*words == std::vector<std::string>{"/bin/sh", "-c", "echo \"a b\"; exit 3", "single quoted", "x y", "AB", ""});
    CHECK_FALSE(split_unit_words("/bin/echo 'open", error));
    CHECK_FALSE(split_unit_words("/bin/echo \\", error));
}

TEST_CASE("unit files: our own paths are quoted and escaped as unit words", "[unit]") {
    CHECK(unit_word("/usr/bin/portshim-run") == "/usr/bin/portshim-run");
    CHECK(unit_word("/opt/my tools/portshim-run") == "\"/opt/my tools/portshim-run\"");
    CHECK(unit_word("/opt/100%/$x") == "/opt/100%%/$$x");
    std::string error;
    const auto back = split_unit_words(unit_word("/a \"b\\c"), error);
    REQUIRE(back);
    CHECK(*back == std::vector<std::string>{"/a \"b\\c"});
}

TEST_CASE("unit files: found in systemd's directories with their drop-ins in order", "[unit]") {
    ScratchRoot root;
    root.write("/lib/systemd/system/app.service", "[Service]\nExecStart=/usr/bin/vendor\n");
    root.write("/etc/systemd/system/app.service", "[Service]\nExecStart=/usr/bin/admin\n");
    root.write("/lib/systemd/system/app.service.d/20-vendor.conf", "");
    root.write("/etc/systemd/system/app.service.d/10-admin.conf", "");
    root.write("/lib/systemd/system/app.service.d/10-admin.conf", ""); // shadowed by /etc's
    root.write("/etc/systemd/system/app.service.d/portshim.conf", "");  // ours: never read back
    root.write("/lib/systemd/system/tmpl@.service", "[Service]\nExecStart=/usr/bin/t %i\n");
    std::string error;
    const auto app = find_unit("app", root.path, error);
    REQUIRE(app);
    CHECK(app->name == "app.service");
    CHECK(app->files == std::vector<std::string>{root.path + "/etc/systemd/system/app.service",
                                                 root.path + "/etc/systemd/system/app.service.d/10-admin.conf",
                                                 root.path + "/lib/systemd/system/app.service.d/20-vendor.conf"});
    const auto instance = find_unit("tmpl@one.service", root.path, error);
    REQUIRE(instance);
    CHECK(instance->files.front() == root.path + "/lib/systemd/system/tmpl@.service");
    const auto by_path = find_unit(root.path + "/lib/systemd/system/app.service", root.path, error);
    REQUIRE(by_path);
    CHECK(by_path->name == "app.service");

    CHECK_FALSE(find_unit("missing.service", root.path, error));
    CHECK_THAT(error, Contains("no unit missing.service"));
    CHECK_FALSE(find_unit("app.socket", root.path, error));
    CHECK_FALSE(find_unit("../app.service", "", error));  // a slash: a path, and there is no such file
    CHECK_FALSE(find_unit("a b.service", root.path, error));
    CHECK_FALSE(find_unit(root.path + "/lib/systemd/system/app.service.d/20-vendor.conf", root.path, error));
}

TEST_CASE("unit files: --write replaces its own drop-in only", "[unit]") {
    ScratchRoot root;
    const std::string path = drop_in_path("app.service", root.path);
    CHECK(path == root.path + "/etc/systemd/system/app.service.d/portshim.conf");
    std::string error;
    const std::string ours = std::string(drop_in_marker) + " (test)\n[Service]\n";
    REQUIRE(write_drop_in(path, ours, false, error));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    REQUIRE(write_drop_in(path, ours + "ExecStart=\n", false, error)); // regenerating its own file
    root.write("/etc/systemd/system/app.service.d/portshim.conf", "[Service]\nNice=5\n");
    CHECK_FALSE(write_drop_in(path, ours, false, error));
    CHECK_THAT(error, Contains("portshim did not write it"));
    CHECK(write_drop_in(path, ours, true, error));
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    CHECK(first == std::string(drop_in_marker) + " (test)");
}
