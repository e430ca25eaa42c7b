// Program identity on plain command lines: the main program as each runtime's
// launcher reads its options, and the three answers of the comparison.
#include "diag/cause.hpp"
#include "diag/causes.hpp"
#include "diag/identity.hpp"
#include "fixtures.hpp"

#include <catch2/catch.hpp>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

using Argv = std::vector<std::string>;

/** The main program in words ("-m http.server"), "" when not established. */
std::string main_of(const std::string& exe, const Argv& argv) {
    return describe_main(identify_program(exe, argv));
}

Sameness compare(const std::string& exe, const Argv& a, const Argv& b) {
    return compare_programs(identify_program(exe, a), identify_program(exe, b));
}

const std::string java = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";
const std::string python = "/usr/bin/python3.11";
const std::string node = "/usr/bin/node";

} // namespace

TEST_CASE("identity: java options that take an argument are not the program", "[identity]") {
    CHECK(main_of(java, {"java", "-cp", "/srv/classes", "Alpha"}) == "Alpha");
    CHECK(main_of(java, {"java", "-classpath", "a.jar:b.jar", "-Xmx64m", "com.example.Main", "x"}) ==
          "com.example.Main");
    CHECK(main_of(java, {"java", "--class-path", "d", "-Dx=y", "Beta"}) == "Beta");
    CHECK(main_of(java, {"java", "-XX:+UseG1GC", "-jar", "/opt/app.jar", "--port", "8080"}) ==
          "-jar /opt/app.jar");
    CHECK(main_of(java, {"java", "-p", "mods", "-m", "org.app/org.app.Main"}) == "-m org.app/org.app.Main");
    CHECK(main_of(java, {"java", "--module-path=mods", "--module=org.app"}) == "--module org.app");
    CHECK(main_of(java, {"java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "Alpha"}) == "Alpha");
    CHECK(main_of(java, {"java", "--source", "17", "Server.java"}) == "Server.java");
    // An @argfile holds options portshim does not read; -version runs nothing.
    CHECK(main_of(java, {"java", "@/etc/app/jvm.args"}).empty());
    CHECK(main_of(java, {"java", "-version"}).empty());
}

TEST_CASE("identity: java -cp DIR Alpha and Beta are different programs", "[identity]") {
    CHECK(compare(java, {"java", "-cp", "/tmp/d", "Alpha"}, {"java", "-cp", "/tmp/d", "Beta"}) ==
          Sameness::different);
    CHECK(compare(java, {"java", "-cp", "/tmp/d", "Alpha"}, {"java", "-cp", "/tmp/e", "Alpha"}) ==
          Sameness::same);
    CHECK(compare(java, {"java", "-jar", "app.jar"}, {"java", "-jar", "/opt/app.jar"}) == Sameness::same);
    CHECK(compare(java, {"java", "-jar", "app.jar"}, {"java", "-cp", "app.jar", "app"}) ==
          Sameness::different);
    CHECK(compare(java, {"java", "@args"}, {"java", "-cp", "d", "Alpha"}) == Sameness::unknown);
}

TEST_CASE("identity: python options and -m", "[identity]") {
    CHECK(main_of(python, {"python3", "-W", "ignore", "a.py"}) == "a.py");
    CHECK(main_of(python, {"python3", "-Wignore", "-X", "dev", "a.py"}) == "a.py");
    CHECK(main_of(python, {"python3", "-uW", "ignore", "b.py", "-W", "x"}) == "b.py");
    CHECK(main_of(python, {"python3", "-m", "http.server", "8000"}) == "-m http.server");
    CHECK(main_of(python, {"python3", "-Bmhttp.server"}) == "-m http.server");
    CHECK(main_of(python, {"python3", "--check-hash-based-pycs", "never", "app.py"}) == "app.py");
    CHECK(main_of(python, {"python3", "-c", "import app; app.run()"}) == "-c import app; app.run()");
    CHECK(main_of(python, {"python3", "--", "-weird.py"}) == "-weird.py");
    CHECK(main_of(python, {"python3"}).empty());
    CHECK(main_of(python, {"python3", "-"}).empty());
    CHECK(compare(python, {"python3", "-W", "ignore", "a.py"}, {"python3", "-W", "ignore", "b.py"}) ==
          Sameness::different);
    CHECK(compare(python, {"python3", "-W", "ignore", "a.py"}, {"python3", "a.py"}) == Sameness::same);
    CHECK(compare(python, {"python3", "-m", "http.server"}, {"python3", "-m", "json.tool"}) ==
          Sameness::different);
    CHECK(compare(python, {"python3", "-m", "app"}, {"python3", "app"}) == Sameness::different);
    CHECK(compare(python, {"python3", "a.py"}, {"python3"}) == Sameness::unknown);
}

TEST_CASE("identity: node flags, --require and --inspect=", "[identity]") {
    CHECK(main_of(node, {"node", "--inspect=127.0.0.1:9229", "server.js"}) == "server.js");
    CHECK(main_of(node, {"node", "-r", "dotenv/config", "--max-old-space-size=64", "server.js"}) ==
          "server.js");
    CHECK(main_of(node, {"node", "--require", "./trace.js", "--import", "tsx", "app.mjs"}) == "app.mjs");
    CHECK(main_of(node, {"node", "--title", "api", "--enable-source-maps", "app.js"}) == "app.js");
    CHECK(main_of(node, {"node", "-e", "require('./srv')"}) == "-e require('./srv')");
    CHECK(main_of(node, {"node", "--eval=1"}) == "--eval 1");
    // A REPL, and a process that renamed itself (process.title): no main program.
    CHECK(main_of(node, {"node"}).empty());
    CHECK(main_of(node, {"my-api"}).empty());
    CHECK(compare(node, {"node", "-r", "a.js", "b.js"}, {"node", "-r", "b.js", "a.js"}) == Sameness::different);
}

TEST_CASE("identity: perl ruby php and shells", "[identity]") {
    CHECK(main_of("/usr/bin/perl", {"perl", "-I", "lib", "-w", "srv.pl"}) == "srv.pl");
    CHECK(main_of("/usr/bin/perl", {"perl", "-Ilib", "-MIO::Socket", "srv.pl"}) == "srv.pl");
    CHECK(main_of("/usr/bin/perl", {"perl", "-l0ne", "print"}) == "-e print");
    CHECK(main_of("/usr/bin/ruby3.1", {"ruby", "-r", "json", "-I", "lib", "app.rb"}) == "app.rb");
    CHECK(main_of("/usr/bin/ruby3.1", {"ruby", "-e", "puts 1"}) == "-e puts 1");
    CHECK(main_of("/usr/bin/php8.2", {"php", "-d", "memory_limit=1G", "-f", "srv.php"}) == "-f srv.php");
    CHECK(main_of("/usr/bin/php8.2", {"php", "-c", "/etc/php.ini", "srv.php"}) == "srv.php");
    CHECK(main_of("/usr/bin/php8.2", {"php", "-S", "0.0.0.0:8000", "router.php"}) == "router.php");
    CHECK(main_of("/usr/bin/bash", {"bash", "-o", "pipefail", "run.sh"}) == "run.sh");
    CHECK(main_of("/usr/bin/dash", {"sh", "-ec", "exec ./srv", "sh"}) == "-c exec ./srv");
    CHECK(main_of("/usr/bin/bash", {"bash", "--rcfile", "x", "-i"}).empty());
    CHECK(main_of("/usr/bin/busybox", {"httpd", "-p", "8080"}) == "httpd");
    CHECK(main_of("/usr/bin/busybox", {"busybox", "sh", "srv.sh"}) == "srv.sh");
}

TEST_CASE("identity: same only when established on both sides", "[identity]") {
    // Native programs: the executable decides.
    CHECK(compare_programs(identify_program("/opt/x (deleted)", {}), identify_program("/opt/x", {})) ==
          Sameness::same);
    CHECK(compare_programs(identify_program("/opt/x", {}), identify_program("/opt/y", {})) ==
          Sameness::different);
    // Nothing known of a side (portshim why without --for): never the same, never different.
    CHECK(compare_programs(identify_program("/opt/x", {"x"}), identify_program("", {})) ==
          Sameness::unknown);
    // An unreadable exe: argv[0]'s name stands in, and the script still counts.
    CHECK(compare_programs(identify_program("", {"python3", "a.py"}),
                           identify_program(python, {"python3", "b.py"})) == Sameness::different);
    CHECK(compare_programs(identify_program("", {"nginx"}), identify_program("", {"sshd"})) ==
          Sameness::different);
    // Different interpreters, whatever they run.
    CHECK(compare_programs(identify_program(python, {"python3", "a.py"}),
                           identify_program(node, {"node", "a.py"})) == Sameness::different);
    CHECK_FALSE(same_program(java, {"java", "-cp", "d", "Alpha"}, java, {"java", "-cp", "d", "Beta"}));
    CHECK(same_program(java, {"java", "-cp", "d", "Alpha"}, java, {"java", "Alpha"}));
}

namespace {

/** This process runs `self_argv` with `exe`; pid 300 runs `holder_argv` with it and listens on 8080. */
Verdict holder_verdict(const std::string& exe, const Argv& self_argv, const Argv& holder_argv) {
    Observation o = observation_of_self(exe.c_str());
    o.self.argv = self_argv;
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 42)};
    o.holders = {holder(300, 1, exe.c_str(), holder_argv, 42, 5)};
    return diagnose(bind_request("0.0.0.0", 8080), o);
}

} // namespace

TEST_CASE("identity rules: the same interpreter running another class is another service", "[identity]") {
    const Verdict v = holder_verdict(java, {"java", "-cp", "/tmp/d", "Beta"}, {"java", "-cp", "/tmp/d", "Alpha"});
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(any_contains(v.why, "the same runtime (java) runs another program there: Alpha, not Beta "
                              "(java -cp /tmp/d Alpha)"));
    CHECK(contains(v.fix, "stop pid 300 if it should not run here"));
}

TEST_CASE("identity rules: a main program that cannot be told is never the previous instance", "[identity]") {
    const Verdict v = holder_verdict(node, {"node", "server.js"}, {"my-api"});
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(any_contains(v.why, "node runs there too, but which program it runs cannot be told from its "
                              "command line (my-api), so it is not taken for a previous instance"));
    CHECK(contains(v.fix, "if pid 300 is an old instance of this program, stop it first"));
    const Verdict ours = holder_verdict(python, {"python3"}, {"python3", "a.py"});
    CHECK(cause_id(ours.cause) == "other-service");
    CHECK(any_contains(ours.why, "which program this one runs cannot be told from its command line (python3)"));
}

TEST_CASE("identity rules: an unknown program asking compares nothing", "[identity]") {
    // portshim why without --for: nothing is known of the program about to start.
    const Verdict v = holder_verdict("", {}, {"/opt/legacy/server"});
    CHECK(cause_id(v.cause) == "other-service");
    CHECK_FALSE(any_contains(v.why, "a different program"));
    CHECK(any_contains(v.why, "which program is about to start is not known"));
}

TEST_CASE("identity rules: previous-instance shows the holder's command line", "[identity]") {
    const Verdict v = holder_verdict(python, {"python3", "-W", "ignore", "a.py"}, {"python3", "a.py", "--port", "8080"});
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(any_contains(v.why, "it runs the same program (a.py): python3 a.py --port 8080"));
}

TEST_CASE("identity: a node option this parser does not know may take the next word", "[identity]") {
    // node's own value options also take "--opt VALUE": the operand may be that value.
    CHECK(compare(node, {"node", "--experimental-default-type", "module", "a.js"},
                  {"node", "--experimental-default-type", "module", "b.js"}) == Sameness::unknown);
    CHECK(compare(node, {"node", "--v8-pool-size", "3", "srv.js"},
                  {"node", "--v8-pool-size", "3", "srv.js"}) == Sameness::same);
    CHECK(compare(node, {"node", "--v8-pool-size", "3", "a.js"}, {"node", "--v8-pool-size", "4", "b.js"}) ==
          Sameness::different);
    // A script's name is never such a value, and with no word after it only one reading is left.
    CHECK(compare(node, {"node", "--enable-source-maps", "a.js", "8080"},
                  {"node", "--enable-source-maps", "b.js", "8080"}) == Sameness::different);
    CHECK(compare(node, {"node", "--no-warnings", "server"}, {"node", "--no-warnings", "server"}) ==
          Sameness::same);
    // "=VALUE" is never ambiguous.
    CHECK(compare(node, {"node", "--experimental-default-type=module", "srv", "a"},
                  {"node", "--experimental-default-type=module", "srv", "b"}) == Sameness::same);
}

TEST_CASE("identity: php -f counts only before the script, and inline code is shortened", "[identity]") {
    CHECK(compare("/usr/bin/php8.2", {"php", "a.php", "-f", "x"}, {"php", "b.php", "-f", "x"}) ==
          Sameness::different);
    CHECK(main_of("/usr/bin/php8.2", {"php", "-f", "srv.php", "--", "-f", "x"}) == "-f srv.php");
    const std::string code(5000, 'x');
    const std::string shown = main_of(python, {"python3", "-c", code});
    CHECK(shown.size() < 100);
    CHECK(shown.rfind("-c xxxx", 0) == 0);
    CHECK(shown.substr(shown.size() - 3) == "…");
    // A script path is never cut.
    const std::string path = "/srv/" + std::string(200, 'a') + ".py";
    CHECK(main_of(python, {"python3", path}) == path);
}
