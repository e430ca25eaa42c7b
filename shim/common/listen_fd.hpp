// A listening socket as the hooks describe it in their events and registry
// records: plain data, shared by the hooks (which fill it) and the
// async-signal-safe event writer in common/ (which renders it).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

namespace portshim::listeners {

/** One listening socket, described for events and the registry. */
struct ListenFd {
    int fd = -1;
    bool cloexec = false;             ///< FD_CLOEXEC set
    unsigned long long inode = 0;     ///< st_ino of the socket
    int family = 0;                   ///< AF_INET, AF_INET6 or AF_UNIX
    int type = 0;                     ///< SOCK_STREAM or SOCK_SEQPACKET
    sockaddr_storage addr{};          ///< getsockname()
    socklen_t addr_len = 0;
    bool inherited = false;           ///< held when the library loaded (startup scan)
};

/** Up to `max` listening fds, and how many more there were. */
struct FdList {
    static constexpr int max = 32;
    int count = 0;
    int more = 0;
    ListenFd items[max];

    void add(const ListenFd& fd) noexcept {
        if (count < max) items[count++] = fd;
        else ++more;
    }
};

} // namespace portshim::listeners
