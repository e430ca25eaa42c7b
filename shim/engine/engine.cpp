// Entry points of libportshim-engine.so: turn a failed call into a Request,
// run the probes and rules, render the verdict and hand it to the sink.
// Loaded RTLD_LOCAL by libportshim.so only when something must be reported.
#include "common/engine_api.hpp"

#include "backtrace.hpp"
#include "diag/address.hpp"
#include "diag/causes.hpp"
#include "diag/causes_inherited.hpp"
#include "diag/host.hpp"
#include "common/markup.hpp"
#include "diag/observe.hpp"
#include "diag/owners.hpp"
#include "diag/report.hpp"
#include "diag/request.hpp"
#include "diag/sharing.hpp"
#include "common/sink.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PORTSHIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace portshim {

namespace {

/** Colour for an event's text: decided where the sink decides between stderr, a file and syslog. */
bool colour_for(const Config& config, const StderrIdentity* identity) {
    return markup::use_colour(config, sink::stderr_is_terminal(identity));
}

/** An inherited listening fd as the event lists it; false when it is no inet or unix socket. */
bool describe_fd(const InheritedFd& in, EventFd& out) {
    int family = 0, type = 0;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (!socket_int_option(in.fd, SOL_SOCKET, SO_DOMAIN, family) ||
        !socket_int_option(in.fd, SOL_SOCKET, SO_TYPE, type) ||
        ::getsockname(in.fd, reinterpret_cast<sockaddr*>(&local), &len) != 0)
        return false;
    out.fd = in.fd;
    out.cloexec = in.cloexec;
    if (family == AF_UNIX) {
        out.proto = type == SOCK_DGRAM ? Proto::unix_dgram : Proto::unix_stream;
        out.unix_path = unix_path_of(reinterpret_cast<const sockaddr*>(&local), len);
        return true;
    }
    const auto ep = endpoint_from_sockaddr(family, reinterpret_cast<const sockaddr*>(&local), len);
    if (!ep) return false;
    out.proto = type == SOCK_DGRAM ? Proto::udp : Proto::tcp;
    out.local = *ep;
    return true;
}

/**
 * The `inherited` event for the startup scan's findings: the fds, the parent,
 * and the registry's records, which the inherited rules judge.
 */
InheritedReport describe_inherited(const Inherited& found, const Holder& me) {
    InheritedReport r;
    std::vector<StartupSocket> listed;
    std::vector<std::uint64_t> inodes;
    const int count = std::min(found.count, Inherited::max_fds);
    for (int i = 0; i < count; ++i) {
        EventFd f;
        if (!describe_fd(found.fds[i], f)) continue;
        r.fds.push_back(std::move(f));
        listed.push_back({found.fds[i].inode, found.fds[i].listen_fds});
        inodes.push_back(found.fds[i].inode);
    }
    r.more = found.more;
    r.ppid = static_cast<int>(::getppid());
    Holder parent;
    // Under secure execution another user's parent is his to name (rule 12).
    if (owners::read_process("/proc", r.ppid, parent) &&
        (!found.config->secure || parent.uid == ::getuid()))
        r.parent_exe = parent.exe.empty() ? parent.comm : parent.exe;
    else
        parent = Holder{};

    std::vector<std::string> evidence;  // the event has no room for it
    const std::vector<RecordedListen> records =
        recorded_listens(found.config->state_dir, "/proc", me.pid, inodes, evidence);
    rule_inherited_event(listed, records, me, parent, r);
    return r;
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
            env.state_dir = f->config->state_dir;
            env.secure = f->config->secure;
            const Observation obs = observe(req, env);
            const Verdict verdict = diagnose(req, obs);
            ReportContext ctx{static_cast<int>(::getpid()), obs.self.exe,
                              obs.host.now > 0 ? obs.host.now : host::wall_clock(),
                              colour_for(*f->config, f->stderr_identity)};
            const bool same_cause = f->repeats > 0 && cause_from_id(f->cause) == verdict.cause;
            // The full report names the calling code; the rate limit's summary line does not.
            // Under secure execution its addresses would show the user the layout
            // (ASLR) of a program he may not read (rule 12).
            if (f->config->backtrace && !same_cause && !f->config->secure)
                ctx.backtrace = capture_backtrace();
            std::string out = same_cause ? render_repeated(f->config->format, req, verdict, f->repeats, ctx)
                                         : render(f->config->format, req, verdict, ctx);
            const std::string_view id = cause_id(verdict.cause);
            std::snprintf(f->cause, sizeof f->cause, "%.*s", static_cast<int>(id.size()), id.data());
            JournalView view = journal_view(req, verdict, ctx, same_cause ? f->repeats : 0);
            if (f->config->wait_seconds > 0 && req.call == Call::bind &&
                clears_by_itself(verdict.cause)) {
                f->retry = true;
                const unsigned wait = f->config->wait_seconds; // all of it is left: the wait starts
                out += render_waiting(f->config->format, req, verdict,
                                      WaitTimes{wait, wait, time_wait_left_ms(req, obs)}, ctx);
                view.add("PORTSHIM_WAIT_SECONDS", std::to_string(wait));
            }
            const journal::Fields fields = view.as_fields();
            sink::write_event(*f->config, Level::error, out.data(), out.size(), f->stderr_identity,
                              sink::Origin::own_failure, &fields);
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
            ProbeEnv env; // no scratch bind and no openers: nothing failed
            env.find_openers = false;
            env.secure = f->config->secure;
            const Observation obs = observe(req, env);
            const std::vector<ReuseportPeer> others = reuseport_strangers(req, obs);
            // An earlier instance of this program is a reload's hand-over: a note, not a warning.
            const Level level = reuseport_handover(others) ? Level::info : Level::warn;
            if (!others.empty() && f->config->level >= level) {
                const ReportContext ctx{static_cast<int>(::getpid()), obs.self.exe,
                                        obs.host.now > 0 ? obs.host.now : host::wall_clock(),
                                        colour_for(*f->config, f->stderr_identity)};
                const std::string out = render_reuseport_shared(f->config->format, req, others, ctx);
                const JournalView view = journal_event_view("reuseport-shared", render_reuseport_shared(
                                                                Format::text, req, others, ctx), ctx);
                const journal::Fields fields = view.as_fields();
                sink::write_event(*f->config, level, out.data(), out.size(), f->stderr_identity,
                                  sink::Origin::other, &fields);
            }
        }
    } catch (...) {
    }
    errno = saved;
}

PORTSHIM_EXPORT void portshim_engine_inherited(const portshim::Inherited* found) {
    using namespace portshim;
    const int saved = errno;
    try {
        // The event is info at most: below that level there is nothing to work out.
        if (found != nullptr && found->config != nullptr && found->count > 0 &&
            found->config->level >= Level::info) {
            Holder me;
            if (!owners::read_process("/proc", static_cast<int>(::getpid()), me)) {
                me.pid = static_cast<int>(::getpid());
                me.exe = host::self_exe();
            }
            const InheritedReport report = describe_inherited(*found, me);
            const Level level = report.handover == Handover::none ? Level::info : Level::debug;
            if (!report.fds.empty() && found->config->level >= level) {
                const ReportContext ctx{me.pid, me.exe, host::wall_clock(),
                                        colour_for(*found->config, found->stderr_identity)};
                const std::string out = render_inherited(found->config->format, report, ctx);
                const JournalView view =
                    journal_event_view("inherited", render_inherited(Format::text, report, ctx), ctx);
                const journal::Fields fields = view.as_fields();
                sink::write_event(*found->config, level, out.data(), out.size(),
                                  found->stderr_identity, sink::Origin::other, &fields);
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
            const ReportContext ctx{static_cast<int>(::getpid()), host::self_exe(), host::wall_clock(),
                                    colour_for(*config, identity)};
            std::string out, text;
            for (int i = 0; i < errors->count; ++i) {
                const std::string message = config_error_message(errors->items[i]);
                out += render_config_error(config->format, message, ctx);
                text += render_config_error(Format::text, message, ctx);
            }
            const JournalView view = journal_event_view("config-error", text, ctx);
            const journal::Fields fields = view.as_fields();
            // At the first hook of any process, a curl run by popen("... 2>&1") too: not
            // into a piped stderr unless asked (rule 13; a refused PORTSHIM_LOG asks).
            sink::write_event(*config, Level::warn, out.data(), out.size(), identity,
                              sink::Origin::other, &fields);
        }
    } catch (...) {
    }
    errno = saved;
}
