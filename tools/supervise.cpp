// portshim-supervise: runs COMMAND under a seccomp user-notification filter for
// bind(2) and listen(2), so that Go, static and raw-syscall programs get the
// same EADDRINUSE report as the preload gives libc programs. COMMAND keeps
// this process's pid and gets no child; the supervisor is a grandchild that
// re-execs itself as `portshim-supervise --serve FD` (docs/supervisor.md 2).
#include "launch.hpp"
#include "supervisor.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void usage(FILE* to) {
    std::fputs("usage: portshim-supervise [--supervise] [--] COMMAND [ARG...]\n"
               "       portshim-supervise --help | --version\n"
               "\n"
               "Runs COMMAND (found as execvp finds it) with its bind and listen calls sent to a\n"
               "supervisor, which reports a failure with EADDRINUSE as libportshim.so would\n"
               "(PORTSHIM_FORMAT, PORTSHIM_LOG) and returns exactly the kernel's result.\n"
               "portshim-run uses it for static and Go programs and with --supervise.\n"
               "\n"
               "  --supervise  allow PR_SET_NO_NEW_PRIVS, which the filter needs without CAP_SYS_ADMIN;\n"
               "               it stops setuid helpers (sudo) and file capabilities in COMMAND\n"
               "\n"
               "Without seccomp user notification, or without CAP_SYS_ADMIN nor --supervise, one line\n"
               "says so and COMMAND runs unsupervised. Exit status is COMMAND's; 127 when it is\n"
               "not found, 126 when it cannot run, 2 for a bad option.\n",
               to);
}

} // namespace

int main(int argc, char** argv) {
    bool nnp_allowed = false;
    int i = 1;
    for (; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--supervise") nnp_allowed = true;
        else if (arg == "--serve" && i + 1 < argc) return portshim::supervisor::serve(std::atoi(argv[i + 1]));
        else if (arg == "-h" || arg == "--help") return usage(stdout), 0;
        else if (arg == "--version") return std::printf("portshim-supervise %s\n", PORTSHIM_VERSION), 0;
        else if (arg == "--") { ++i; break; }
        else if (arg[0] == '-') {
            portshim::supervisor::say("unknown option '" + arg + "' (see portshim-supervise --help)");
            return 2;
        } else break;
    }
    if (i >= argc) {
        portshim::supervisor::say("missing COMMAND (see portshim-supervise --help)");
        return 2;
    }
    return portshim::supervisor::run_supervised(argv + i, nnp_allowed);
}
