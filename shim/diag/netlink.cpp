// The sock_diag conversation shared by the inet and unix probes: socket,
// request, and a recv loop bounded by one deadline.
#include "netlink.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace portshim::netlink {

FdGuard::~FdGuard() {
    // close(2): on Linux the descriptor is gone even on EINTR; never retry.
    if (fd >= 0) ::close(fd);
}

int open_sock_diag() { return ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); }

int send_request(int fd, const std::vector<std::uint8_t>& req) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK; // nl_pid 0: the kernel
    for (;;) {
        const ssize_t n = ::sendto(fd, req.data(), req.size(), 0,
                                   reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
        if (n >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

namespace {

std::int64_t now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

} // namespace

std::int64_t deadline_after(int timeout_ms) { return now_ms() + timeout_ms; }

int receive(int fd, std::vector<std::uint8_t>& buf, std::int64_t deadline, std::size_t& n) {
    for (;;) {
        const std::int64_t left = deadline - now_ms();
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, left > 0 ? static_cast<int>(left) : 0);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (ready == 0) return ETIMEDOUT;

        sockaddr_nl from{};
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t got = ::recvmsg(fd, &msg, 0);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return errno;
        }
        if (got == 0) return EBADMSG;
        if (msg.msg_flags & MSG_TRUNC) return EMSGSIZE;
        // Only the kernel may answer; a privileged peer could unicast to us.
        if (from.nl_pid != 0) continue;
        n = static_cast<std::size_t>(got);
        return 0;
    }
}

} // namespace portshim::netlink
