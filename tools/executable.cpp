// Program lookup and inspection for portshim-run: the PATH search of glibc's
// execvpe (posix/execvpe.c: EACCES remembered, ENOEXEC run by /bin/sh), the
// #! line as fs/binfmt_script.c reads it, the program headers for PT_INTERP
// (elf(5)), and Go's build-info magic ("\xff Go buildinf:", see Go's
// debug/buildinfo), which every Go binary since 1.13 carries.
#include "executable.hpp"

#include "diag/elf.hpp"
#include "diag/identity.hpp"

#include <cerrno>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <climits>
#include <cstdlib>
#include <unistd.h>

namespace portshim::cli {

namespace {

/** BINPRM_BUF_SIZE: what the kernel reads of a file to pick its binary format. */
constexpr std::size_t binprm_buf_size = 256;

/** Interpreters of interpreters: fs/exec.c gives up after 5 levels (search_binary_handler). */
constexpr int max_interpreter_depth = 4;

std::string error_text(const std::string& path, int err) { return path + ": " + std::strerror(err); }

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

/**
 * What execve checks before reading anything: the file exists, is regular and
 * executable. `err` gets the errno of a failed stat(), 0 otherwise.
 */
Reach check_runnable(const std::string& path, struct stat& st, std::string& detail, int& err) {
    err = 0;
    if (::stat(path.c_str(), &st) != 0) {
        err = errno;
        detail = error_text(path, err);
        return err == ENOENT ? Reach::not_found : Reach::cannot_run;
    }
    if (!S_ISREG(st.st_mode)) {
        detail = path + ": " + kind_of(st.st_mode) + ", not a program";
        return Reach::cannot_run;
    }
    if (::access(path.c_str(), X_OK) != 0) {
        detail = path + ": not executable (" + std::strerror(errno) + ")";
        return Reach::cannot_run;
    }
    return Reach::preloadable;
}

bool spacetab(char c) { return c == ' ' || c == '\t'; }

/**
 * The interpreter of a "#!" line as load_script() takes it from the first
 * BINPRM_BUF_SIZE bytes; empty when the kernel says ENOEXEC (no name, or a
 * name cut off by the buffer's end), which execvp answers with /bin/sh.
 */
std::string shebang_interpreter(const char (&buf)[binprm_buf_size], std::string* arg = nullptr) {
    const char* end = static_cast<const char*>(std::memchr(buf, '\n', sizeof buf));
    const char* const buf_end = buf + sizeof buf - 1;
    const char* p = buf + 2;
    if (end == nullptr) {
        while (p < buf_end && spacetab(*p)) ++p;
        const char* q = p;
        while (q < buf_end && !spacetab(*q) && *q != '\0') ++q;
        if (p == buf_end || q == buf_end) return {}; // all blanks, or the name is truncated
        end = buf_end;
    }
    while (p < end && spacetab(*p)) ++p;
    const char* name_end = p;
    while (name_end < end && !spacetab(*name_end) && *name_end != '\0') ++name_end;
    if (arg != nullptr) {
        // The rest of the line, blanks around it removed, is one optional argument.
        const char* a = name_end;
        while (a < end && spacetab(*a)) ++a;
        const char* a_end = a;
        while (a_end < end && *a_end != '\0') ++a_end;
        while (a_end > a && spacetab(a_end[-1])) --a_end;
        *arg = std::string(a, a_end);
    }
    return std::string(p, name_end);
}

/** The first BINPRM_BUF_SIZE bytes of a regular file; false when it cannot be read. */
bool read_head(const std::string& path, char (&buf)[binprm_buf_size], ssize_t& n) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return false;
    do n = ::pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    ::close(fd);
    return n >= 0;
}

/** Whether Go's build-info magic occurs in the file, read in chunks (a file rewritten meanwhile cannot SIGBUS us). */
bool has_go_buildinfo(int fd) {
    static constexpr char magic[] = "\xff Go buildinf:";
    constexpr std::size_t magic_len = sizeof magic - 1;
    char buf[64 * 1024];
    std::size_t kept = 0;
    for (off_t off = 0;;) {
        const ssize_t n = ::pread(fd, buf + kept, sizeof buf - kept, off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += n;
        const std::size_t have = kept + static_cast<std::size_t>(n);
        if (have >= magic_len && memmem(buf, have, magic, magic_len) != nullptr) return true;
        kept = have < magic_len - 1 ? have : magic_len - 1;
        std::memmove(buf, buf + have - kept, kept);
    }
}

Reach inspect(const std::string& path, std::string& detail, int depth) {
    struct stat st;
    int err = 0;
    if (const Reach r = check_runnable(path, st, detail, err); r != Reach::preloadable) return r;
    // O_NONBLOCK: should a FIFO have replaced the file since stat(), open must not wait for a writer.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return Reach::preloadable; // execute-only (mode --x): the kernel still runs it
    struct stat opened;
    if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode) || opened.st_ino != st.st_ino ||
        opened.st_dev != st.st_dev) {
        ::close(fd);
        detail = path + ": replaced while it was being checked";
        return Reach::cannot_run;
    }
    char buf[binprm_buf_size] = {};
    ssize_t n;
    do n = ::pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    Reach reach = Reach::preloadable;
    if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
        ::close(fd);
        const std::string interpreter = shebang_interpreter(buf);
        if (interpreter.empty()) return Reach::preloadable; // ENOEXEC: execvp runs it with /bin/sh
        if (depth >= max_interpreter_depth) {
            detail = path + ": too many levels of #! interpreters";
            return Reach::cannot_run;
        }
        std::string why;
        reach = inspect(interpreter, why, depth + 1);
        if (reach != Reach::preloadable) detail = path + ": its #! interpreter " + why;
        return reach;
    }
    if (n >= SELFMAG && std::memcmp(buf, ELFMAG, SELFMAG) == 0) {
        if (has_go_buildinfo(fd)) {
            detail = path + " is a Go program: its net package makes socket system calls "
                            "directly, so LD_PRELOAD cannot see its binds";
            reach = Reach::go_binary;
        } else if (!elf::has_interp(fd)) {
            detail = path + " is statically linked (no PT_INTERP): the dynamic loader, and "
                            "with it LD_PRELOAD, never runs";
            reach = Reach::static_binary;
        }
    }
    // Anything else, an empty file included, is ENOEXEC for the kernel: execvp runs it with /bin/sh.
    ::close(fd);
    return reach;
}

} // namespace

std::string find_program(std::string_view name, const char* path_env, Reach& reach,
                         std::string& detail) {
    reach = Reach::not_found;
    if (name.empty()) {
        detail = "an empty program name";
        return {};
    }
    if (name.find('/') != std::string_view::npos) {
        reach = Reach::preloadable;
        return std::string(name);
    }
    // confstr(_CS_PATH) when PATH is unset, as execvpe.
    const std::string_view path = path_env != nullptr ? path_env : "/bin:/usr/bin";
    std::string denied;
    for (std::size_t start = 0; start <= path.size();) {
        std::size_t colon = path.find(':', start);
        if (colon == std::string_view::npos) colon = path.size();
        const std::string_view dir = path.substr(start, colon - start);
        start = colon + 1;
        const std::string candidate = dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
        struct stat st;
        std::string why;
        int err = 0;
        const Reach r = check_runnable(candidate, st, why, err);
        if (r == Reach::preloadable) {
            reach = r;
            return candidate;
        }
        // execvpe goes on past every failure; EACCES (no permission, not a regular
        // file) is remembered and reported when nothing runs.
        if (r == Reach::cannot_run && (err == 0 || err == EACCES) && denied.empty()) denied = why;
    }
    if (!denied.empty()) {
        reach = Reach::cannot_run;
        detail = denied;
    } else {
        detail = std::string(name) + ": command not found in PATH";
    }
    return {};
}

std::optional<RunAs> program_as_run(const std::vector<std::string>& words, const char* path_env,
                                    std::string& detail) {
    if (words.empty()) {
        detail = "an empty command line";
        return std::nullopt;
    }
    Reach reach;
    std::string path = find_program(words[0], path_env, reach, detail);
    if (path.empty()) return std::nullopt;
    RunAs run;
    run.argv = words;
    for (int depth = 0; depth <= max_interpreter_depth; ++depth) {
        char buf[binprm_buf_size] = {};
        ssize_t n = 0;
        if (!read_head(path, buf, n) || n < 2 || buf[0] != '#' || buf[1] != '!') break;
        std::string arg;
        const std::string interpreter = shebang_interpreter(buf, &arg);
        if (interpreter.empty()) break;
        // fs/binfmt_script.c: argv becomes INTERPRETER [ARG] PATH ARGV[1]...
        std::vector<std::string> argv{interpreter};
        if (!arg.empty()) argv.push_back(arg);
        argv.push_back(path);
        argv.insert(argv.end(), run.argv.begin() + 1, run.argv.end());
        run.argv = std::move(argv);
        path = interpreter;
        const auto slash = interpreter.rfind('/');
        if (interpreter.substr(slash + 1) == "env" && !arg.empty() && arg[0] != '-') {
            // #!/usr/bin/env NAME: env runs NAME as execvp finds it, with argv NAME PATH ARGV[1]...
            run.argv.erase(run.argv.begin());
            const std::string found = find_program(arg, path_env, reach, detail);
            if (found.empty()) return std::nullopt;
            path = found;
        }
    }
    char resolved[PATH_MAX];
    run.exe = ::realpath(path.c_str(), resolved) != nullptr ? resolved : path;
    // "bash run.sh" names the shell on purpose; a #! line that leads to one is a launcher.
    run.shell_script = is_shell(run.exe) && !is_shell(words[0]);
    return run;
}

Reach inspect_executable(const std::string& path, std::string& detail) {
    return inspect(path, detail, 0);
}

int exit_status_of(Reach reach) {
    switch (reach) {
    case Reach::not_found: return 127;
    case Reach::cannot_run: return 126;
    case Reach::static_binary:
    case Reach::go_binary: return 1;
    case Reach::preloadable: return 0;
    }
    return 126;
}

} // namespace portshim::cli
