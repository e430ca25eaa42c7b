// Support for scenario tests: run helper programs (optionally preloaded, optionally as
// nobody), read their output with timeouts, kill them by pid, and parse JSON events.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portshim::test {

using namespace std::chrono_literals;

/** The preload library's path, fixed at build time; empty until libportshim.so is built. */
std::string library();

/** The helper program tests/progs/NAME.c builds (or a file next to it, such as
 *  "libearly_listener.so"): the one way scenarios reach a helper. */
std::string prog(std::string_view name);

inline constexpr unsigned nobody_uid = 65534;

/** Prints "SKIPPED: reason", kills every child still running and exits 77 (ctest skip). */
[[noreturn]] void skip(const std::string& reason);

/** skip()s unless `path` is an executable: "PATH is not installed (Debian package PACKAGE; …)". */
void require_program(const std::string& path, const std::string& package);

/** Writes `text` to `path` (created or truncated); fails the test if it cannot. */
void write_file(const std::string& path, const std::string& text);

/** The library path, or skip("library not built"). */
std::string require_library();

/** Skips unless running as root. */
void require_root(const std::string& why);

/** True when uid nobody can open every path for reading (checked by a child as nobody). */
bool readable_by_nobody(const std::vector<std::string>& paths);

/** How to start a program. */
struct Launch {
    bool preload = false;   ///< LD_PRELOAD=library(), PORTSHIM_FORMAT=json, PORTSHIM_LOG=stderr
    bool as_nobody = false; ///< setgroups/setgid/setuid to nobody before exec
    std::vector<std::pair<std::string, std::string>> env; ///< extra variables
};

/** A child process with captured stdout and stderr; killed by pid and reaped on destruction. */
class Process {
public:
    Process(std::vector<std::string> argv, const Launch& launch);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    int pid() const { return pid_; }

    /** Next stdout line without its newline; nullopt on EOF or timeout. */
    std::optional<std::string> read_line(std::chrono::milliseconds timeout = 10s);

    /** Captures output until ready() holds (true), EOF on both pipes or timeout (ready()'s last value). */
    bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds timeout = 10s);

    /** Exit code, or 128+signal; on timeout kills the child and returns -1. */
    int wait(std::chrono::milliseconds timeout = 20s);

    /** Everything captured so far (complete after wait()). */
    const std::string& out() const { return out_; }
    const std::string& err() const { return err_; }

private:
    bool pump(int timeout_ms);
    void kill_and_reap();

    int pid_ = -1;
    int out_fd_ = -1, err_fd_ = -1;
    std::string out_, err_;
    std::size_t out_read_ = 0; ///< how much of out_ read_line() has returned
    std::optional<int> status_;
};

/** A fresh private directory (mkdtemp: mode 0700), removed with its contents at the end. */
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

/**
 * For the README gallery: when PORTSHIM_GALLERY_DIR is set, runs `argv` once more
 * with the same launch but PORTSHIM_FORMAT=text, while the scenario's condition
 * still holds, and saves its portshim lines as DIR/NAME.txt (scripts/gallery
 * assembles them). Does nothing otherwise. Call it after the scenario's checks.
 */
void gallery(const std::string& name, const std::vector<std::string>& argv, const Launch& launch);

/** require_library(), then a Launch with the preload set. */
Launch preloaded();

/**
 * Waits for a daemon whose bind must fail exactly as without the shim: perror,
 * "errno=98" on stdout, exit 1.
 */
void require_failed_as_without_shim(Process& daemon);

/** skip()s unless root (without root the filter needs no_new_privs) and the kernel has user notification. */
void require_supervisor();

/**
 * `supervised` (PROGRAM under portshim-run) ends as PROGRAM run plain, started now:
 * the same status, the same stdout, the same stderr but for portshim's lines.
 */
void require_same_result(Process& supervised, const std::vector<std::string>& program, int status);

/** A legacy server serves one client, closing first (its socket stays in TIME_WAIT), and exits. */
int leave_time_wait(const Launch& launch, bool own_flag = false);

/** A port nobody uses right now: bound to port 0 by the kernel, then released. */
int unused_port();

/** Polls (15 s at most) until a TCP socket listens on `port`, capturing the daemon's output meanwhile; fails if it exits first. */
void wait_until_listening(Process& daemon, int port);

/** The output without the library's lines: JSON events (PORTSHIM_FORMAT=json) and text reports. */
std::string without_portshim_lines(const std::string& text);

/** Sends `request` to 127.0.0.1:port and returns everything read until the daemon closes. */
std::string exchange(int port, const std::string& request, bool half_close = false);

/** Reads the "port P" line a server prints once it listens; fails the test otherwise. */
int read_port(Process& server);

/** Connects to 127.0.0.1:port, reads to EOF and closes (the server closed first). */
std::string fetch(int port);

/** What syslog_catcher saw: the command's status and output, and each datagram. */
struct Caught {
    int status = -1;
    std::string out, err;
    std::vector<std::string> datagrams;
};

/**
 * Runs `command` (its environment from `launch`, the preload included) under
 * syslog_catcher with a private /dev/log; skips where that namespace is refused.
 * `stderr_mode`: "" (a pipe), "closed" or "socket" (syslog_catcher -e).
 */
Caught catch_syslog(const std::vector<std::string>& command, const Launch& launch,
                    const std::string& stderr_mode = "");

/**
 * For secure execution (tests/progs/secure_exec): a 0755 directory nobody can
 * run from, with copies of the built libraries in lib/ and a staging/ directory;
 * skips unless root.
 */
class SetuidTree {
public:
    SetuidTree();
    /** A root-owned setuid (04755) copy of `program` named `name` in the tree. */
    std::string setuid_copy(const std::string& program, const std::string& name) const;
    /** The copy of libportshim.so. */
    const std::string& library() const { return library_; }
    std::string staging() const { return dir_ / "staging"; }
    const TempDir& dir() const { return dir_; }

private:
    TempDir dir_;
    std::string library_;
};

/**
 * A cgroup of the test's own (NAME, e.g. "x.scope", on the cgroup v2 hierarchy), so
 * the report can name where a hidden socket was made; path() is empty when none
 * could be made. Removed at the end, once its last process has left.
 */
class ScratchCgroup {
public:
    explicit ScratchCgroup(const std::string& name);
    ~ScratchCgroup();
    ScratchCgroup(const ScratchCgroup&) = delete;
    ScratchCgroup& operator=(const ScratchCgroup&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;
};

/** A parsed JSON value; missing keys and out-of-range indexes yield a null value. */
class Json {
public:
    enum class Type { null, boolean, number, string, array, object };

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::null; }
    bool is_string() const { return type_ == Type::string; }
    bool is_number() const { return type_ == Type::number; }
    bool is_array() const { return type_ == Type::array; }
    bool is_object() const { return type_ == Type::object; }
    bool has(const std::string& key) const;

    bool boolean() const { return boolean_; }
    double number() const { return number_; }
    const std::string& str() const { return string_; }
    const std::vector<Json>& items() const { return items_; }
    const std::map<std::string, Json>& members() const { return members_; }

    const Json& operator[](const std::string& key) const;
    const Json& operator[](std::size_t index) const;

private:
    friend class JsonParser;
    Type type_ = Type::null;
    bool boolean_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<Json> items_;
    std::map<std::string, Json> members_;
};

/** Strict RFC 8259 parse of one document; throws std::runtime_error with the offset. */
Json parse_json(std::string_view text);

/** Every stderr line starting with '{', parsed strictly. */
std::vector<Json> json_lines(const std::string& text);

/** The single "bind-failed" event on the program's stderr; fails the test unless exactly one. */
Json only_bind_failed_event(const Process& program);

/** The pids of an event's holders, in order. */
std::vector<int> holder_pids(const Json& event);

/** A JSON list of strings, one per line. */
std::string joined(const Json& list);

} // namespace portshim::test
