// Entry points of libportshim-engine.so: turn a failed call into a Request,
// run the probes and rules, render the verdict and hand it to the sink.
// Loaded RTLD_LOCAL by libportshim.so only when something must be reported.
#include "engine_api.hpp"

#include "diag/address.hpp"
#include "diag/causes.hpp"
#include "diag/host.hpp"
#include "diag/observe.hpp"
#include "diag/report.hpp"
#include "diag/sharing.hpp"
#include "log.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PORTSHIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace portshim {

namespace {

bool get_int_option(int fd, int level, int name, int& out) {
    socklen_t len = sizeof out;
    return ::getsockopt(fd, level, name, &out, &len) == 0;
}

/** What the failing socket is and what it asked for, from the fd and the call's address. */
bool describe_request(const Failure& f, Request& req) {
    req.call = f.call == 1 ? Call::listen : Call::bind;
    req.fd = f.fd;
    req.err = f.err;
    int family = 0, type = 0;
    if (!get_int_option(f.fd, SOL_SOCKET, SO_DOMAIN, family) ||
        !get_int_option(f.fd, SOL_SOCKET, SO_TYPE, type))
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
        if (len > offsetof(sockaddr_un, sun_path)) {
            const char* path = reinterpret_cast<const sockaddr_un*>(addr)->sun_path;
            const std::size_t max = len - offsetof(sockaddr_un, sun_path);
            if (path[0] == '\0')
                req.unix_path = "@" + std::string(path + 1, strnlen(path + 1, max - 1));
            else
                req.unix_path.assign(path, strnlen(path, max));
        }
    } else if (family == AF_INET || family == AF_INET6) {
        if (type == SOCK_STREAM) req.proto = Proto::tcp;
        else if (type == SOCK_DGRAM) req.proto = Proto::udp;
        else return false;
        const auto ep = endpoint_from_sockaddr(addr, len);
        if (!ep) return false;
        req.local = *ep;
    } else {
        return false;
    }
    int v = 0;
    if (get_int_option(f.fd, SOL_SOCKET, SO_REUSEADDR, v)) req.reuseaddr = v != 0;
    if (get_int_option(f.fd, SOL_SOCKET, SO_REUSEPORT, v)) req.reuseport = v != 0;
    if (family == AF_INET6 && get_int_option(f.fd, IPPROTO_IPV6, IPV6_V6ONLY, v))
        req.v6only = v != 0;
    char dev[IFNAMSIZ + 1] = {};
    socklen_t dev_len = IFNAMSIZ;
    if (::getsockopt(f.fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &dev_len) == 0 && dev_len > 0)
        req.device.assign(dev, strnlen(dev, dev_len));
    struct stat st;
    if (::fstat(f.fd, &st) == 0) req.inode = st.st_ino;
    return true;
}

} // namespace

} // namespace portshim

PORTSHIM_EXPORT void portshim_engine_report(portshim::Failure* f) {
    using namespace portshim;
    const int saved = errno;
    try {
        Request req;
        if (f != nullptr && f->config != nullptr && describe_request(*f, req)) {
            req.reuseaddr_injected = f->reuseaddr_injected;
            ProbeEnv env;
            env.bind_fn = f->real_bind;
            const Observation obs = observe(req, env);
            const Verdict verdict = diagnose(req, obs);
            const ReportContext ctx{static_cast<int>(::getpid()), obs.self.exe,
                                    obs.host.now > 0 ? obs.host.now : host::wall_clock()};
            std::string out = render(f->config->format, req, verdict, ctx);
            if (f->config->wait_seconds > 0 && req.call == Call::bind &&
                clears_by_itself(verdict.cause)) {
                f->retry = true;
                out += render_waiting(f->config->format, req, verdict, f->config->wait_seconds,
                                      time_wait_left_ms(req, obs), ctx);
            }
            log::emit(*f->config, Level::error, out, f->stderr_identity);
        }
    } catch (...) {
        // Out of memory or a bug in the engine: the report is lost, the host is not.
    }
    errno = saved;
}

PORTSHIM_EXPORT void portshim_engine_listened(portshim::Failure* f) {
    using namespace portshim;
    const int saved = errno;
    try {
        Request req;
        if (f != nullptr && f->config != nullptr && f->config->level >= Level::warn &&
            describe_request(*f, req) && req.proto == Proto::tcp) {
            ProbeEnv env; // no scratch bind: nothing failed
            const Observation obs = observe(req, env);
            const std::vector<Holder> others = reuseport_strangers(req, obs);
            if (!others.empty()) {
                const ReportContext ctx{static_cast<int>(::getpid()), obs.self.exe,
                                        obs.host.now > 0 ? obs.host.now : host::wall_clock()};
                log::emit(*f->config, Level::warn,
                          render_reuseport_shared(f->config->format, req, others, ctx),
                          f->stderr_identity);
            }
        }
    } catch (...) {
    }
    errno = saved;
}

PORTSHIM_EXPORT void portshim_engine_config_errors(const portshim::Config* config,
                                                   const portshim::ConfigErrors* errors,
                                                   const portshim::StderrIdentity* identity) {
    using namespace portshim;
    const int saved = errno;
    try {
        if (config != nullptr && errors != nullptr && errors->count > 0 &&
            config->level >= Level::warn) {
            const ReportContext ctx{static_cast<int>(::getpid()), host::self_exe(), host::wall_clock()};
            std::string out;
            for (int i = 0; i < errors->count; ++i)
                out += render_config_error(config->format, config_error_message(errors->items[i]),
                                           ctx);
            log::emit(*config, Level::warn, out, identity);
        }
    } catch (...) {
    }
    errno = saved;
}
