// describe_request (request.hpp): the failing socket's family, type, options
// and address, read from the fd itself, as the rules need them.
#include "request.hpp"

#include "address.hpp"

#include <climits>
#include <cstddef>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace portshim {

bool socket_int_option(int fd, int level, int name, int& out) {
    socklen_t len = sizeof out;
    return ::getsockopt(fd, level, name, &out, &len) == 0;
}

/** The path of an AF_UNIX address, "@name" for an abstract one; empty when unnamed. */
std::string unix_path_of(const sockaddr* addr, socklen_t len) {
    if (len <= offsetof(sockaddr_un, sun_path)) return {};
    const char* path = reinterpret_cast<const sockaddr_un*>(addr)->sun_path;
    const std::size_t max = len - offsetof(sockaddr_un, sun_path);
    if (path[0] == '\0') return "@" + std::string(path + 1, strnlen(path + 1, max - 1));
    return std::string(path, strnlen(path, max));
}

bool describe_request(const Failure& f, Request& req, std::string_view cwd) {
    req.call = f.call == 1 ? Call::listen : Call::bind;
    req.fd = f.fd;
    req.err = f.err;
    int family = 0, type = 0;
    if (!socket_int_option(f.fd, SOL_SOCKET, SO_DOMAIN, family) ||
        !socket_int_option(f.fd, SOL_SOCKET, SO_TYPE, type))
        return false;
    const sockaddr* addr = f.addr;
    socklen_t len = f.addr_len;
    sockaddr_storage local{};
    if (req.call == Call::listen || addr == nullptr) {
        socklen_t n = sizeof local;
        if (::getsockname(f.fd, reinterpret_cast<sockaddr*>(&local), &n) != 0) return false;
        addr = reinterpret_cast<const sockaddr*>(&local);
        len = n;
    }
    if (family == AF_UNIX) {
        req.proto = type == SOCK_STREAM ? Proto::unix_stream : Proto::unix_dgram;
        req.unix_path = unix_path_of(addr, len);
        // A relative path is relative to the host's directory, not to the one the
        // operator pastes the fix in: name it absolutely.
        char here[PATH_MAX];
        if (cwd.empty() && ::getcwd(here, sizeof here) != nullptr) cwd = here;
        if (!req.unix_path.empty() && req.unix_path[0] != '/' && req.unix_path[0] != '@' &&
            !cwd.empty())
            req.unix_path = std::string(cwd) + (cwd.size() > 1 ? "/" : "") + req.unix_path;
    } else if (family == AF_INET || family == AF_INET6) {
        if (type == SOCK_STREAM) req.proto = Proto::tcp;
        else if (type == SOCK_DGRAM) req.proto = Proto::udp;
        else return false;
        // The socket's family decides how the kernel read the address (AF_UNSPEC, RFC 2133).
        const auto ep = endpoint_from_sockaddr(family, addr, len);
        if (!ep) return false;
        req.local = *ep;
    } else {
        return false;
    }
    int v = 0;
    if (socket_int_option(f.fd, SOL_SOCKET, SO_REUSEADDR, v)) req.reuseaddr = v != 0;
    if (socket_int_option(f.fd, SOL_SOCKET, SO_REUSEPORT, v)) req.reuseport = v != 0;
    if (family == AF_INET6 && socket_int_option(f.fd, IPPROTO_IPV6, IPV6_V6ONLY, v))
        req.v6only = v != 0;
    struct stat st;
    if (::fstat(f.fd, &st) == 0) req.inode = st.st_ino;
    return true;
}

} // namespace portshim
