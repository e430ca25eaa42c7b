// The inherited-fd rule: a socket held by processes that never opened it,
// known from the listen registry or inferred from /proc facts. Pure: no I/O.
#include "causes_inherited.hpp"

#include "causes_common.hpp"
#include "facts.hpp"
#include "identity.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace portshim::detail {

namespace {

/** The distinct pids of `hs`, in order, joined by `sep`. */
std::string pid_list(const std::vector<const Holder*>& hs, const char* sep) {
    std::vector<int> pids;
    for (const Holder* h : hs)
        if (std::find(pids.begin(), pids.end(), h->pid) == pids.end()) pids.push_back(h->pid);
    std::string out;
    for (const int pid : pids) out += fmt::format("{}{}", out.empty() ? "" : sep, pid);
    return out;
}

std::string how_held(const Holder& who) {
    return fmt::format("which inherited it as fd {}{}", who.fd, who.cloexec ? "" : " without O_CLOEXEC");
}

/** "which has exited", or why the opener no longer holds the socket. */
std::string opener_state(const RecordedListen& r) {
    if (r.alive) return "which still runs but has closed its copy";
    if (r.pid_reused) return "which has exited (its pid now belongs to a later process)";
    return "which has exited";
}

std::string opener_program(const ListenRecord& r) {
    return r.exe.empty() ? std::string("unknown program") : r.exe;
}

} // namespace

std::optional<Inheritance> inheritance_of(const Observation& obs, std::uint64_t inode,
                                          const std::vector<const Holder*>& hs, bool listener) {
    if (hs.empty() || inode == 0) return std::nullopt;
    Inheritance inh;
    for (const RecordedListen& r : obs.records)
        if (r.record.inode == inode) inh.record = &r;
    if (inh.record != nullptr) {
        const ListenRecord& r = inh.record->record;
        // The same pid with other start ticks is a later process that reused it.
        for (const Holder* h : hs)
            if (h->pid == r.pid && inh.opener_holder == nullptr &&
                (r.start_ticks == 0 || h->start_ticks == 0 || h->start_ticks == r.start_ticks))
                inh.opener_holder = h;
        inh.inherited = inh.opener_holder == nullptr;
        inh.opener.pid = r.pid;
        inh.opener.exe = r.exe;
        inh.opener.start_time = inh.record->start_time;
        inh.opener.alive = inh.record->alive || inh.opener_holder != nullptr;
        inh.opener.holds = inh.opener_holder != nullptr;
        inh.opener.source = "registry";
        return inh;
    }
    if (!listener) return std::nullopt;
    // Without a record every fact must hold positively: a daemon that forked
    // itself into the background (parent gone, no O_CLOEXEC) still imports listen().
    const Holder* who = principal(hs);
    if (who->cloexec || who->parent_gone != Tri::yes || who->imports_listen != Tri::no ||
        who->socket_activated != Tri::no ||
        std::any_of(hs.begin(), hs.end(),
                    [](const Holder* h) { return h->imports_listen == Tri::yes; }))
        return std::nullopt;
    inh.inherited = true;
    inh.inferred = true;
    inh.opener.source = "inferred";
    return inh;
}

Verdict rule_inherited(const Observation& obs, const Inheritance& inh,
                          const std::vector<const Holder*>& hs, const std::string& held,
                          const std::string& ss) {
    Verdict v;
    v.cause = Cause::inherited_fd;
    const Holder* who = principal(hs);
    add_holders(hs, who, v);
    v.opener = inh.opener;
    const std::string holder = fmt::format("pid {} ({})", who->pid, program_of(*who));
    std::string opener = "the program that opened it";
    if (inh.record != nullptr) {
        const ListenRecord& r = inh.record->record;
        opener = opener_program(r);
        v.summary = fmt::format("{} was opened by pid {} ({}), {}; held now by {}, {}", held,
                                r.pid, opener, opener_state(*inh.record), holder, how_held(*who));
        const std::string when = r.time > 0 && obs.host.now > 0
                                     ? fmt::format(" {} ago", format_duration(obs.host.now -
                                                                              static_cast<double>(r.time)))
                                     : std::string();
        v.why.push_back(fmt::format("portshim's listen registry names pid {} as the process that "
                                    "called listen() on this socket{}; pid {} never did",
                                    r.pid, when, who->pid));
    } else {
        v.summary = fmt::format("inferred: {} is held by {}, {} from a parent that has exited; "
                                "its program never calls listen()",
                                held, holder, how_held(*who));
        v.why.push_back(fmt::format("inferred, as no registry record names the opener: pid {}'s "
                                    "parent is gone (it was re-parented to pid {}), neither its "
                                    "program nor its libraries import listen(), and its fd {} "
                                    "lacks O_CLOEXEC",
                                    who->pid, who->ppid, who->fd));
    }
    v.why.push_back("a listening socket without O_CLOEXEC stays open across exec: the server "
                    "started another program (a helper, a shell through system()) that kept it, "
                    "so the port stays busy after the server is gone, until every copy is closed");
    if (hs.size() > 1)
        v.why.push_back(fmt::format("{} descriptors in pids {} hold it", hs.size(),
                                    pid_list(hs, ", ")));
    v.fix = fmt::format("stop what holds it: kill -TERM {} (it keeps the port only because it "
                        "inherited the socket); then prevent it: create the socket with "
                        "SOCK_CLOEXEC (or set FD_CLOEXEC) in {}, or run that program with "
                        "PORTSHIM_CLOEXEC=1 (portshim-run --cloexec)",
                        pid_list(hs, " "), opener);
    v.confirm.push_back(fmt::format("ls -l /proc/{}/fd/{}", who->pid, who->fd));
    v.confirm.push_back(fmt::format("ps -o pid,ppid,lstart,args -p {}", who->pid));
    v.confirm.push_back(ss);
    return v;
}

std::string inherited_instance_reason(const Inheritance& inh, const Holder& who) {
    if (inh.record == nullptr)
        return fmt::format("inferred: pid {} did not open the socket; it inherited it as fd {} "
                           "from a parent that has exited",
                           who.pid, who.fd);
    const ListenRecord& r = inh.record->record;
    return fmt::format("pid {} ({}) opened the socket, {}; pid {} holds it now, {}", r.pid,
                       opener_program(r), opener_state(*inh.record), who.pid, how_held(who));
}

} // namespace portshim::detail

namespace portshim {

void rule_inherited_event(const std::vector<StartupSocket>& listed,
                     const std::vector<RecordedListen>& records, const Holder& me,
                     const Holder& parent, InheritedReport& report) {
    const RecordedListen* opened = nullptr;
    for (std::size_t i = 0; i < listed.size() && opened == nullptr; ++i)
        for (const RecordedListen& rl : records)
            if (rl.record.inode == listed[i].inode) opened = &rl;
    if (opened != nullptr) {
        const ListenRecord& rec = opened->record;
        const bool this_process = rec.pid == me.pid && rec.start_ticks == me.start_ticks;
        report.opener = Opener{rec.pid, rec.exe, opened->start_time, opened->alive || this_process,
                               this_process, "registry"};
    }
    const bool all_listen_fds =
        std::all_of(listed.begin(), listed.end(), [](const StartupSocket& s) { return s.listen_fds; });
    if (all_listen_fds && report.more == 0 && !listed.empty()) {
        report.handover = Handover::listen_fds;
    } else if (fd_closing_helper(me.exe.c_str())) {
        report.handover = Handover::closes_fds; // jspawnhelper: they never reach the program it runs
    } else if (opened != nullptr
                   ? report.opener->holds || same_program(opened->record.exe, {}, me.exe, me.argv)
                   : same_program(parent.exe, parent.argv, me.exe, me.argv)) {
        report.handover = Handover::self_exec;
    }
}

} // namespace portshim
