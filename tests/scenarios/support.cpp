// Child processes for scenario tests (fork/exec, pipes, timeouts, kill by pid) and a
// small strict JSON parser for the library's one-object-per-line events.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace portshim::test {

std::string library()
{
    const std::string path = PORTSHIM_TEST_LIBRARY;
    struct stat st {};
    return !path.empty() && ::stat(path.c_str(), &st) == 0 ? path : std::string();
}

std::string prog(std::string_view name)
{
    return std::string(PORTSHIM_TEST_PROGRAMS_DIR "/").append(name);
}

void gallery(const std::string& name, const std::vector<std::string>& argv, const Launch& launch)
{
    const char* dir = std::getenv("PORTSHIM_GALLERY_DIR");
    if (dir == nullptr || *dir == '\0')
        return;
    Launch text = launch;
    text.preload = true;
    text.env.emplace_back("PORTSHIM_FORMAT", "text");
    Process again(argv, text);
    again.wait();
    std::string report;
    const std::string& err = again.err();
    for (std::size_t at = 0; at < err.size();) {
        std::size_t end = err.find('\n', at);
        end = end == std::string::npos ? err.size() : end + 1;
        if (err.compare(at, 9, "portshim[") == 0)
            report.append(err, at, end - at);
        at = end;
    }
    const std::string path = std::string(dir) + "/" + name + ".txt";
    if (FILE* f = std::fopen(path.c_str(), "w")) {
        std::fwrite(report.data(), 1, report.size(), f);
        std::fclose(f);
    }
}

namespace {

// Children not yet reaped, so that skip() (which bypasses destructors) can kill them.
std::vector<int>& live_children()
{
    static std::vector<int> pids;
    return pids;
}

void forget_child(int pid)
{
    auto& pids = live_children();
    pids.erase(std::remove(pids.begin(), pids.end(), pid), pids.end());
}

void kill_and_reap_pid(int pid)
{
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    forget_child(pid);
}

bool drop_to_nobody()
{
    return ::setgroups(0, nullptr) == 0 && ::setgid(nobody_uid) == 0 && ::setuid(nobody_uid) == 0;
}

// The test's own environment minus anything that would change what the program does.
std::vector<std::string> child_environment(const Launch& launch)
{
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        const std::string_view entry(*e);
        if (entry.rfind("LD_PRELOAD=", 0) == 0 || entry.rfind("PORTSHIM_", 0) == 0)
            continue;
        env.emplace_back(entry);
    }
    if (launch.preload) {
        env.push_back("LD_PRELOAD=" + require_library());
        env.push_back("PORTSHIM_FORMAT=json");
        // Every event on the captured stderr, even those a default run sends only
        // to a terminal (rule 13); the data-stream scenarios set PORTSHIM_LOG="".
        env.push_back("PORTSHIM_LOG=stderr");
    }
    // Extra variables replace earlier ones: getenv() would return the first.
    for (const auto& [name, value] : launch.env) {
        const std::string prefix = name + "=";
        env.erase(std::remove_if(env.begin(), env.end(),
                                 [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }),
                  env.end());
        env.push_back(prefix + value);
    }
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings)
{
    std::vector<char*> out;
    for (auto& s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

int remaining_ms(std::chrono::steady_clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

} // namespace

[[noreturn]] void skip(const std::string& reason)
{
    std::printf("SKIPPED: %s\n", reason.c_str());
    std::fflush(stdout);
    for (int pid : std::vector<int>(live_children()))
        kill_and_reap_pid(pid);
    ::_exit(77);
}

void require_program(const std::string& path, const std::string& package)
{
    if (::access(path.c_str(), X_OK) != 0)
        skip(path + " is not installed (Debian package " + package + "; scripts/test installs it)");
}

void write_file(const std::string& path, const std::string& text)
{
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << text;
    REQUIRE(file.good());
}

std::string require_library()
{
    std::string path = library();
    if (path.empty())
        skip("library not built (" + std::string(PORTSHIM_TEST_LIBRARY) + ")");
    return path;
}

void require_root(const std::string& why)
{
    if (::geteuid() != 0)
        skip("needs root: " + why);
}

bool readable_by_nobody(const std::vector<std::string>& paths)
{
    const pid_t pid = ::fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        if (!drop_to_nobody())
            ::_exit(1);
        for (const auto& path : paths)
            if (::access(path.c_str(), R_OK | X_OK) != 0)
                ::_exit(1);
        ::_exit(0);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Process::Process(std::vector<std::string> argv, const Launch& launch)
{
    std::vector<std::string> env = child_environment(launch);
    std::vector<char*> c_argv = c_strings(argv);
    std::vector<char*> c_env = c_strings(env);

    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) < 0)
        throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
    if (::pipe2(err_pipe, O_CLOEXEC) < 0) {
        const int saved = errno;
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        throw std::runtime_error("pipe2: " + std::string(std::strerror(saved)));
    }

    pid_ = ::fork();
    if (pid_ == 0) {
        // Child: only async-signal-safe calls until exec.
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_pipe[1], 1) < 0 ||
            ::dup2(err_pipe[1], 2) < 0)
            ::_exit(127);
        if (launch.as_nobody && !drop_to_nobody()) {
            static const char msg[] = "support: cannot switch to nobody\n";
            (void)!::write(2, msg, sizeof msg - 1);
            ::_exit(127);
        }
        ::execve(c_argv[0], c_argv.data(), c_env.data());
        static const char msg[] = "support: execve failed\n";
        (void)!::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    if (pid_ < 0) {
        ::close(out_fd_);
        ::close(err_fd_);
        throw std::runtime_error("fork: " + std::string(std::strerror(fork_errno)));
    }
    live_children().push_back(pid_);
}

Process::~Process()
{
    if (!status_)
        kill_and_reap();
    for (int fd : {out_fd_, err_fd_})
        if (fd >= 0)
            ::close(fd);
}

void Process::kill_and_reap()
{
    kill_and_reap_pid(pid_);
    status_ = 128 + SIGKILL;
}

// Waits up to timeout_ms for output and appends what arrived; false if nothing did.
bool Process::pump(int timeout_ms)
{
    pollfd fds[2];
    std::string* sinks[2];
    int* owners[2];
    nfds_t n = 0;
    for (auto [fd, sink] : {std::pair{&out_fd_, &out_}, std::pair{&err_fd_, &err_}}) {
        if (*fd < 0)
            continue;
        fds[n] = pollfd{*fd, POLLIN, 0};
        sinks[n] = sink;
        owners[n] = fd;
        ++n;
    }
    if (n == 0)
        return false;
    if (::poll(fds, n, timeout_ms) <= 0)
        return false;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0)
            continue;
        char buf[4096];
        const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
            sinks[i]->append(buf, static_cast<std::size_t>(got));
        } else if (got == 0 || errno != EINTR) {
            ::close(*owners[i]);
            *owners[i] = -1;
        }
    }
    return true;
}

std::optional<std::string> Process::read_line(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto newline = out_.find('\n', out_read_);
        if (newline != std::string::npos) {
            std::string line = out_.substr(out_read_, newline - out_read_);
            out_read_ = newline + 1;
            return line;
        }
        const int left = remaining_ms(deadline);
        if (out_fd_ < 0 || left == 0)
            return std::nullopt;
        pump(left);
    }
}

bool Process::wait_for(const std::function<bool()>& ready, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ready()) {
        const int left = remaining_ms(deadline);
        if (left == 0 || (out_fd_ < 0 && err_fd_ < 0))
            return ready();
        pump(left);
    }
    return true;
}

int Process::wait(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_ || out_fd_ >= 0 || err_fd_ >= 0) {
        if (!status_) {
            int status = 0;
            const pid_t got = ::waitpid(pid_, &status, WNOHANG);
            if (got == pid_) {
                forget_child(pid_);
                status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                continue;
            }
        }
        const int left = remaining_ms(deadline);
        if (left == 0)
            break;
        // Short slices: the child may exit without closing a pipe a grandchild still holds.
        pump(std::min(left, 50));
    }
    if (!status_) {
        kill_and_reap();
        return -1;
    }
    return *status_;
}

TempDir::TempDir()
{
    char templ[] = "/tmp/portshim-test-XXXXXX";
    REQUIRE(::mkdtemp(templ) != nullptr);
    path_ = templ;
}

TempDir::~TempDir()
{
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

int read_port(Process& server)
{
    const auto line = server.read_line();
    if (line && line->rfind("port ", 0) == 0)
        return std::atoi(line->c_str() + 5);
    server.wait(2s);
    FAIL("server printed no \"port P\" line; stdout: " << server.out()
                                                         << "\nstderr: " << server.err());
    return 0;
}

std::string fetch(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string data;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0) {
        char buf[512];
        ssize_t got;
        while ((got = ::read(fd, buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR))
            data.append(buf, static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
    }
    const int saved = errno;
    ::close(fd);
    INFO("connect/read 127.0.0.1:" << port << ": " << std::strerror(saved));
    REQUIRE(!data.empty());
    return data;
}

// ---- shared checks ------------------------------------------------------------------------

Launch preloaded()
{
    require_library();
    Launch launch;
    launch.preload = true;
    return launch;
}

void require_failed_as_without_shim(Process& daemon)
{
    const int status = daemon.wait();
    INFO("stdout: " << daemon.out() << "\nstderr: " << daemon.err());
    REQUIRE(status == 1);
    CHECK(daemon.out() == "errno=98\n");
    CHECK_THAT(daemon.err(), Catch::Matchers::Contains("bind: Address already in use"));
}

void require_supervisor()
{
    require_root("without root the seccomp filter needs no_new_privs (--supervise)");
    Process probe({PORTSHIM_TEST_SUPERVISE, "--", "true"}, Launch{});
    REQUIRE(probe.wait() == 0);
    if (!probe.err().empty())
        skip("no seccomp user notification here: " + probe.err().substr(0, probe.err().find('\n')));
}

void require_same_result(Process& supervised, const std::vector<std::string>& program, int status)
{
    Process plain(program, Launch{});
    REQUIRE(plain.wait() == status);
    INFO("supervised stderr: " << supervised.err());
    CHECK(supervised.wait() == status);
    CHECK(without_portshim_lines(supervised.err()) == plain.err());
    CHECK(supervised.out() == plain.out());
}

Json only_bind_failed_event(const Process& program)
{
    INFO("stderr: " << program.err());
    std::vector<Json> events;
    for (Json& event : json_lines(program.err()))
        if (event["event"].str() == "bind-failed")
            events.push_back(std::move(event));
    REQUIRE(events.size() == 1);
    return events.front();
}

std::vector<int> holder_pids(const Json& event)
{
    std::vector<int> pids;
    for (const Json& holder : event["holders"].items())
        pids.push_back(static_cast<int>(holder["pid"].number()));
    return pids;
}

std::string joined(const Json& list)
{
    std::string out;
    for (const Json& item : list.items())
        out += item.str() + "\n";
    return out;
}

int leave_time_wait(const Launch& launch, bool own_flag)
{
    std::vector<std::string> argv{prog("legacy_server"), "-c", "1"};
    if (own_flag)
        argv.push_back("-r");
    Process server(argv, launch);
    const int port = read_port(server);
    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);
    return port;
}

// ---- JSON -------------------------------------------------------------------------------

bool Json::has(const std::string& key) const
{
    return members_.count(key) != 0;
}

const Json& Json::operator[](const std::string& key) const
{
    static const Json null;
    const auto it = members_.find(key);
    return it == members_.end() ? null : it->second;
}

const Json& Json::operator[](std::size_t index) const
{
    static const Json null;
    return index < items_.size() ? items_[index] : null;
}

class JsonParser {
public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    Json document()
    {
        Json value = parse_value(0);
        skip_space();
        if (pos_ != text_.size())
            fail("trailing characters");
        return value;
    }

private:
    [[noreturn]] void fail(const std::string& what) const
    {
        throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(pos_) + " in: " +
                                 std::string(text_));
    }

    void skip_space()
    {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\n'))
            ++pos_;
    }

    bool eat(char c)
    {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    void expect(char c)
    {
        if (!eat(c))
            fail(std::string("expected '") + c + "'");
    }

    bool literal(std::string_view word)
    {
        if (text_.substr(pos_, word.size()) != word)
            return false;
        pos_ += word.size();
        return true;
    }

    Json parse_value(int depth)
    {
        if (depth > 64)
            fail("nesting too deep");
        skip_space();
        if (pos_ >= text_.size())
            fail("unexpected end");
        Json v;
        const char c = text_[pos_];
        if (c == '{') {
            ++pos_;
            v.type_ = Json::Type::object;
            if (eat('}'))
                return v;
            do {
                skip_space();
                if (pos_ >= text_.size() || text_[pos_] != '"')
                    fail("expected a string key");
                std::string key = parse_string();
                expect(':');
                if (!v.members_.emplace(key, parse_value(depth + 1)).second)
                    fail("duplicate key \"" + key + "\"");
            } while (eat(','));
            expect('}');
        } else if (c == '[') {
            ++pos_;
            v.type_ = Json::Type::array;
            if (eat(']'))
                return v;
            do
                v.items_.push_back(parse_value(depth + 1));
            while (eat(','));
            expect(']');
        } else if (c == '"') {
            v.type_ = Json::Type::string;
            v.string_ = parse_string();
        } else if (literal("true")) {
            v.type_ = Json::Type::boolean;
            v.boolean_ = true;
        } else if (literal("false")) {
            v.type_ = Json::Type::boolean;
        } else if (literal("null")) {
            v.type_ = Json::Type::null;
        } else {
            v.type_ = Json::Type::number;
            v.number_ = parse_number();
        }
        return v;
    }

    bool digit_at(std::size_t i) const { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; }

    // RFC 8259 grammar: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
    double parse_number()
    {
        const std::size_t start = pos_;
        if (pos_ < text_.size() && text_[pos_] == '-')
            ++pos_;
        if (!digit_at(pos_))
            fail("unexpected character");
        if (text_[pos_] == '0')
            ++pos_;
        else
            while (digit_at(pos_))
                ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '.') {
            if (!digit_at(++pos_))
                fail("digit expected after '.'");
            while (digit_at(pos_))
                ++pos_;
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
                ++pos_;
            if (!digit_at(pos_))
                fail("digit expected in exponent");
            while (digit_at(pos_))
                ++pos_;
        }
        return std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
    }

    unsigned hex4()
    {
        if (pos_ + 4 > text_.size())
            fail("short \\u escape");
        unsigned value = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            value <<= 4;
            if (c >= '0' && c <= '9')
                value |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                value |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                value |= static_cast<unsigned>(c - 'A' + 10);
            else
                fail("bad hex digit in \\u escape");
        }
        return value;
    }

    static void append_utf8(std::string& out, unsigned cp)
    {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // Copies one UTF-8 sequence, rejecting overlong forms, surrogates and bad bytes.
    void copy_utf8(std::string& out)
    {
        const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text_[i]); };
        const unsigned lead = byte(pos_);
        const std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
        if (len == 0 || lead > 0xF4 || pos_ + len > text_.size())
            fail("invalid UTF-8");
        unsigned cp = lead & (0x7F >> len);
        for (std::size_t i = 1; i < len; ++i) {
            if ((byte(pos_ + i) & 0xC0) != 0x80)
                fail("invalid UTF-8");
            cp = (cp << 6) | (byte(pos_ + i) & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            fail("invalid UTF-8");
        out.append(text_.substr(pos_, len));
        pos_ += len;
    }

    std::string parse_string()
    {
        ++pos_; // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= text_.size())
                fail("unterminated string");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20)
                fail("control character in string");
            if (c >= 0x80) {
                copy_utf8(out);
                continue;
            }
            ++pos_;
            if (c != '\\') {
                out += static_cast<char>(c);
                continue;
            }
            if (pos_ >= text_.size())
                fail("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    fail("lone low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (!literal("\\u"))
                        fail("lone high surrogate");
                    const unsigned low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF)
                        fail("bad low surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                append_utf8(out, cp);
                break;
            }
            default: fail(std::string("bad escape \\") + e);
            }
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

Caught catch_syslog(const std::vector<std::string>& command, const Launch& launch,
                    const std::string& stderr_mode)
{
    require_root("syslog_catcher mounts a private /dev to own /dev/log");
    Caught caught;
    {
        const TempDir dir;
        std::vector<std::string> argv{prog("syslog_catcher")};
        if (!stderr_mode.empty())
            argv.insert(argv.end(), {"-e", stderr_mode});
        // env applies the preload to the command only, never to the catcher itself.
        argv.insert(argv.end(), {dir / "datagrams", "/usr/bin/env"});
        if (launch.preload)
            argv.insert(argv.end(), {"LD_PRELOAD=" + require_library(), "PORTSHIM_FORMAT=json"});
        for (const auto& [name, value] : launch.env)
            argv.push_back(name + "=" + value);
        argv.insert(argv.end(), command.begin(), command.end());

        Process catcher(argv, Launch{});
        caught.status = catcher.wait();
        caught.out = catcher.out();
        caught.err = catcher.err();
        std::ifstream in(dir / "datagrams");
        for (std::string line; std::getline(in, line);)
            caught.datagrams.push_back(line);
    }
    if (caught.status == 77)
        skip("no private /dev/log here: " + caught.err);
    return caught;
}

SetuidTree::SetuidTree()
{
    require_root("a setuid-root program");
    // Everything nobody runs must be reachable by nobody: a 0755 tree of copies.
    REQUIRE(::chmod(dir_.path().c_str(), 0755) == 0);
    std::filesystem::create_directories(dir_ / "lib");
    const auto library_dir = std::filesystem::path(require_library()).parent_path();
    for (const auto& entry : std::filesystem::directory_iterator(library_dir))
        if (entry.is_regular_file() && entry.path().extension() == ".so")
            std::filesystem::copy_file(entry.path(), dir_ / ("lib/" + entry.path().filename().string()));
    library_ = dir_ / ("lib/" + std::filesystem::path(require_library()).filename().string());
    std::filesystem::create_directories(dir_ / "staging");
}

std::string SetuidTree::setuid_copy(const std::string& program, const std::string& name) const
{
    const std::string copy = dir_ / name;
    std::filesystem::copy_file(program, copy);
    REQUIRE(::chown(copy.c_str(), 0, 0) == 0);
    REQUIRE(::chmod(copy.c_str(), 04755) == 0);
    return copy;
}

ScratchCgroup::ScratchCgroup(const std::string& name)
{
    for (const std::string root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        struct statfs fs {};
        if (::statfs(root.c_str(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
            continue;
        const std::string dir = root + "/" + name;
        if (::mkdir(dir.c_str(), 0755) == 0)
            path_ = dir;
        return;
    }
}

ScratchCgroup::~ScratchCgroup()
{
    // A holder's namespace may die a moment after its unshare process (--kill-child);
    // rmdir fails with EBUSY until the cgroup's last process has left.
    for (int tries = 0; !path_.empty() && tries < 500; ++tries) {
        if (::rmdir(path_.c_str()) == 0 || errno != EBUSY)
            break;
        ::usleep(10000);
    }
}

Json parse_json(std::string_view text)
{
    return JsonParser(text).document();
}

std::vector<Json> json_lines(const std::string& text)
{
    std::vector<Json> events;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        const std::string_view line(text.data() + start, end - start);
        if (!line.empty() && line.front() == '{')
            events.push_back(parse_json(line));
        start = end + 1;
    }
    return events;
}

/** A port nobody uses right now: bound to port 0 by the kernel, then released. */
int unused_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&sin), len) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0;
    ::close(fd);
    REQUIRE(bound);
    return ntohs(sin.sin_port);
}

namespace {

/** True when a TCP socket listens on `port` (read from /proc/net/tcp: no connection is made). */
bool listening(int port)
{
    std::ifstream table("/proc/net/tcp");
    std::string line;
    std::getline(table, line); // header
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        const auto colon = local.rfind(':');
        if (state == "0A" && colon != std::string::npos &&
            std::stoi(local.substr(colon + 1), nullptr, 16) == port)
            return true;
    }
    return false;
}

/** True once `pid` has exited (a zombie: Process has not reaped it yet). */
bool exited(int pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto paren = text.rfind(')');
    return paren == std::string::npos || text.compare(paren, 3, ") Z") == 0;
}

} // namespace

/** Polls until the daemon listens on `port`, capturing its output meanwhile. */
void wait_until_listening(Process& daemon, int port)
{
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!listening(port)) {
        if (exited(daemon.pid()) || std::chrono::steady_clock::now() > deadline) {
            daemon.wait(2s);
            FAIL("no listener on port " << port << "; stdout: " << daemon.out()
                                        << "\nstderr: " << daemon.err());
        }
        daemon.wait_for([] { return false; }, 10ms);
    }
}

/** The output without the library's lines: JSON events (PORTSHIM_FORMAT=json) and text reports. */
std::string without_portshim_lines(const std::string& text)
{
    std::string kept;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("{", 0) != 0 && line.rfind("portshim[", 0) != 0)
            kept += line + "\n";
    return kept;
}

/** Sends `request` to 127.0.0.1:port and returns everything read until the daemon closes. */
std::string exchange(int port, const std::string& request, bool half_close)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const timeval limit{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    int err = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()) &&
        (!half_close || ::shutdown(fd, SHUT_WR) == 0)) {
        char buf[4096];
        ssize_t got;
        while ((got = ::read(fd, buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR))
            reply.append(buf, static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
        err = got < 0 ? errno : 0;
    } else {
        err = errno;
    }
    ::close(fd);
    INFO("talking to 127.0.0.1:" << port << ": " << (err != 0 ? std::strerror(err) : "ok"));
    CHECK(err == 0);
    return reply;
}

} // namespace portshim::test
