// The sock_diag conversation shared by the inet and unix probes: a never-bound
// netlink socket, one request, and the recv loop until the dump is done.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace portshim::netlink {

// net/netlink/af_netlink.c caps one dump recv() at SKB_WITH_OVERHEAD(32768).
constexpr std::size_t recv_buffer_size = 32768;

// The kernel answers a dump at once; this only bounds a hook path against a
// wedged socket (no SO_RCVTIMEO: setsockopt is one of the wrapped calls).
// One deadline for a whole dump: EINTR and foreign messages do not restart it.
constexpr int recv_timeout_ms = 2000;

/** Closes a descriptor on every path out of a scope. */
struct FdGuard {
    int fd;
    ~FdGuard();
};

/**
 * A SOCK_CLOEXEC NETLINK_SOCK_DIAG socket, or -1 with errno set. Never bound:
 * bind is wrapped, and netlink_autobind() assigns a port id on the first sendto.
 */
int open_sock_diag();

/** Sends `req` to the kernel, retrying EINTR; 0 or an errno. */
int send_request(int fd, const std::vector<std::uint8_t>& req);

/** A point on CLOCK_MONOTONIC, in milliseconds. */
std::int64_t deadline_after(int timeout_ms);

/**
 * Receives one datagram from the kernel into `buf` before `deadline`, skipping
 * messages from any other sender; sets `n`. 0, ETIMEDOUT, EMSGSIZE on a
 * truncated datagram, EBADMSG on an empty one, or the errno of poll/recvmsg.
 */
int receive(int fd, std::vector<std::uint8_t>& buf, std::int64_t deadline, std::size_t& n);

/**
 * Sends `req` and feeds every reply to `parse(data, len)`, which returns a
 * status with `error` and `done`, until the dump is done or fails; 0 or an errno.
 */
template <typename Parse>
int run_dump(int fd, const std::vector<std::uint8_t>& req, std::vector<std::uint8_t>& buf,
             Parse&& parse) {
    if (const int rc = send_request(fd, req); rc != 0) return rc;
    const std::int64_t deadline = deadline_after(recv_timeout_ms);
    for (;;) {
        std::size_t n = 0;
        if (const int rc = receive(fd, buf, deadline, n); rc != 0) return rc;
        const auto status = parse(buf.data(), n);
        if (status.error != 0) return status.error;
        if (status.done) return 0;
    }
}

/**
 * Calls `visit(type, payload, payload_len)` for each rtattr in data[0, len),
 * the type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. Never reads past `len`;
 * false on a malformed attribute.
 */
template <typename Visit>
bool for_each_attr(const std::uint8_t* data, std::size_t len, Visit&& visit) {
    std::size_t off = 0;
    while (off < len) {
        const std::size_t left = len - off;
        rtattr attr{};
        if (left < sizeof attr) return false;
        std::memcpy(&attr, data + off, sizeof attr);
        if (attr.rta_len < sizeof attr || attr.rta_len > left) return false;
        visit(static_cast<unsigned>(attr.rta_type & NLA_TYPE_MASK), data + off + RTA_LENGTH(0),
              static_cast<std::size_t>(attr.rta_len - RTA_LENGTH(0)));
        const std::size_t step = (std::size_t{attr.rta_len} + 3) & ~std::size_t{3};
        if (step >= left) break;
        off += step;
    }
    return true;
}

} // namespace portshim::netlink
