// Program identity with the real runtimes: a Java, Python or Node server
// holding a port and another program of the same runtime failing on it is
// another service, not "another instance of this program", however options
// and their arguments come first; the same program twice is still the
// previous instance, and a holder whose program cannot be told is never called one.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

const std::string java = "/usr/bin/java";
const std::string javac = "/usr/bin/javac";
const std::string python = "/usr/bin/python3"; // Debian's, not a pyenv shim
const std::string node = "/usr/bin/node";

/**
 * A server as a legacy daemon behaves: binds 0.0.0.0:PORT (argv, 0 for any),
 * prints "port P" and sleeps; on failure "errno=98" on stdout, "bind: Address
 * already in use" on stderr and exit 1, whether portshim is loaded or not.
 */
std::string java_server(const std::string& name)
{
    return "import java.net.*;\n"
           "public class " + name + " {\n"
           "    public static void main(String[] args) throws Exception {\n"
           "        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;\n"
           "        ServerSocket s = new ServerSocket();\n"
           "        try {\n"
           "            s.bind(new InetSocketAddress(\"0.0.0.0\", port));\n"
           "        } catch (BindException e) {\n"
           "            System.out.println(\"Address already in use\".equals(e.getMessage()) ? \"errno=98\" : \"errno=?\");\n"
           "            System.err.println(\"bind: \" + e.getMessage());\n"
           "            System.exit(1);\n"
           "        }\n"
           "        System.out.println(\"port \" + s.getLocalPort());\n"
           "        Thread.sleep(60000);\n"
           "    }\n"
           "}\n";
}

const char* const python_server = R"(import socket, sys, time
port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
s = socket.socket()
try:
    s.bind(("0.0.0.0", port))
except OSError as e:
    print("errno=%d" % e.errno, flush=True)
    print("bind: " + e.strerror, file=sys.stderr, flush=True)
    sys.exit(1)
s.listen()
print("port %d" % s.getsockname()[1], flush=True)
time.sleep(60)
)";

const char* const node_server = R"(const net = require('net');
const port = Number(process.argv[2] || 0);
const s = net.createServer();
s.on('error', (e) => {
  console.log('errno=' + -e.errno);
  console.error('bind: Address already in use');
  process.exit(1);
});
s.listen(port, '0.0.0.0', () => console.log('port ' + s.address().port));
setTimeout(() => process.exit(0), 60000);
)";

/** Runs `second` preloaded against `first`'s port; checks the host saw what it sees without portshim. */
Json verdict_of(const std::vector<std::string>& first, std::vector<std::string> second, const Launch& launch,
                int* holder = nullptr, const std::string& gallery_name = {})
{
    Process server(first, launch);
    const int port = read_port(server);
    second.push_back(std::to_string(port));
    Process failing(second, launch);
    require_failed_as_without_shim(failing);
    Json event = only_bind_failed_event(failing);
    CHECK(event["holders"][0]["pid"].number() == server.pid());
    if (holder != nullptr) *holder = server.pid();
    if (!gallery_name.empty()) gallery(gallery_name, second, launch);
    return event;
}

std::string why_of(const Json& event) { return joined(event["why"]); }

} // namespace

TEST_CASE("identity: java -cp DIR Beta against Alpha is another service and Alpha twice the previous instance")
{
    require_program(java, "openjdk-17-jdk-headless");
    require_program(javac, "openjdk-17-jdk-headless");
    // One compile for both checks: javac takes seconds.
    TempDir classes;
    const std::string dir = classes.path();
    write_file(classes / "Alpha.java", java_server("Alpha"));
    write_file(classes / "Beta.java", java_server("Beta"));
    Process compile({javac, "-d", dir, classes / "Alpha.java", classes / "Beta.java"}, Launch{});
    INFO("javac: " << compile.err());
    REQUIRE(compile.wait(std::chrono::seconds(60)) == 0);

    const Json other =
        verdict_of({java, "-cp", dir, "Alpha"}, {java, "-cp", dir, "Beta"}, preloaded(), nullptr, "other-service-java");
    CHECK(other["cause"].str() == "other-service");
    CHECK_THAT(why_of(other), Contains("the same runtime (java) runs another program there: Alpha, not Beta"));

    const Json same = verdict_of({java, "-Xmx64m", "-cp", dir, "Alpha"}, {java, "-classpath", dir, "Alpha"},
                                 preloaded(), nullptr, "previous-instance-java");
    CHECK(same["cause"].str() == "previous-instance");
    CHECK_THAT(why_of(same), Contains("it runs the same program (Alpha): " + java + " -Xmx64m -cp " + dir + " Alpha"));
}

TEST_CASE("identity: python3 -W ignore b.py against a.py is another service")
{
    require_program(python, "python3");
    TempDir dir;
    write_file(dir / "a.py", python_server);
    write_file(dir / "b.py", python_server);
    const Json event = verdict_of({python, "-W", "ignore", dir / "a.py"}, {python, "-W", "ignore", dir / "b.py"},
                                  preloaded(), nullptr, "other-service-python");
    CHECK(event["cause"].str() == "other-service");
    CHECK_THAT(why_of(event), Contains("runs another program there: " + dir / "a.py" + ", not " + dir / "b.py"));
}

TEST_CASE("identity: python3 -m with another module is another service and the same one twice the previous instance")
{
    require_program(python, "python3");
    TempDir dir;
    write_file(dir / "alpha_srv.py", python_server);
    write_file(dir / "beta_srv.py", python_server);
    Launch launch = preloaded();
    launch.env.emplace_back("PYTHONPATH", dir.path());
    const Json other = verdict_of({python, "-m", "alpha_srv"}, {python, "-X", "dev", "-m", "beta_srv"}, launch);
    CHECK(other["cause"].str() == "other-service");
    CHECK_THAT(why_of(other), Contains("runs another program there: -m alpha_srv, not -m beta_srv"));
    const Json same = verdict_of({python, "-m", "alpha_srv"}, {python, "-W", "ignore", "-malpha_srv"}, launch);
    CHECK(same["cause"].str() == "previous-instance");
    CHECK_THAT(why_of(same), Contains("it runs the same program (-m alpha_srv)"));
}

TEST_CASE("identity: node with -r and flags names the script and a renamed holder is not called the previous instance")
{
    require_program(node, "nodejs");
    TempDir dir;
    write_file(dir / "a.js", node_server);
    write_file(dir / "b.js", node_server);
    write_file(dir / "pre.js", "// preloaded module\n");
    const std::vector<std::string> flags{node, "--max-old-space-size=64", "-r", dir / "pre.js"};
    auto with = [&](const std::string& script) {
        std::vector<std::string> argv = flags;
        argv.push_back(script);
        return argv;
    };
    const Json other = verdict_of(with(dir / "a.js"), with(dir / "b.js"), preloaded());
    CHECK(other["cause"].str() == "other-service");
    CHECK_THAT(why_of(other), Contains("runs another program there: " + dir / "a.js"));
    const Json same = verdict_of(with(dir / "a.js"), {node, "--inspect-port=0", dir / "a.js"}, preloaded());
    CHECK(same["cause"].str() == "previous-instance");
    // --title renames the process: its command line no longer says which script it runs.
    const Json renamed = verdict_of({node, "--title=api", dir / "a.js"}, {node, dir / "a.js"}, preloaded());
    CHECK(renamed["cause"].str() == "other-service");
    CHECK_THAT(why_of(renamed), Contains("node runs there too, but which program it runs cannot be told"));
}
