// Helpers shared by the inet and AF_UNIX cause rules: who to name among a
// socket's holders and how to describe them. Pure: no I/O here.
#include "causes_common.hpp"

#include "common/escape.hpp"
#include "facts.hpp"
#include "identity.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace portshim::detail {

std::vector<const Holder*> holders_of(const Observation& obs, std::uint64_t inode) {
    std::vector<const Holder*> out;
    if (inode == 0) return out;
    for (const Holder& h : obs.holders)
        if (h.inode == inode) out.push_back(&h);
    return out;
}

const Holder* principal(const std::vector<const Holder*>& hs) {
    const Holder* best = nullptr;
    for (const Holder* h : hs) {
        const bool parent_holds = std::any_of(hs.begin(), hs.end(), [&](const Holder* o) {
            return o->pid == h->ppid && o->pid != h->pid;
        });
        if (parent_holds) continue;
        if (best == nullptr || (h->start_ticks != 0 && h->start_ticks < best->start_ticks))
            best = h;
    }
    return best != nullptr ? best : (hs.empty() ? nullptr : hs.front());
}

namespace {

/**
 * Evidence that `parent` is the master that forked `child` as its worker, not
 * just an ancestor running the same executable (sshd's listener above a
 * session's "sshd: user@pts/0"): the worker kept the master's command line
 * (haproxy), or the registry names the parent as the opener of the socket.
 */
bool is_master_of(const Observation& obs, const Holder& parent, const Holder& child,
                  std::uint64_t inode) {
    if (!parent.argv.empty() && parent.argv == child.argv) return true;
    return std::any_of(obs.records.begin(), obs.records.end(), [&](const RecordedListen& r) {
        return r.alive && r.record.pid == parent.pid && r.record.inode == inode;
    });
}

} // namespace

const Holder& service_master(const Observation& obs, const Holder& who, bool stop_at_own_parent) {
    const auto parent_of = [&](const Holder& child) -> const Holder* {
        const auto is = [&](const Holder& h) { return h.pid == child.ppid && h.pid != child.pid; };
        for (const std::vector<Holder>* list : {&obs.holders, &obs.masters})
            if (const auto it = std::find_if(list->begin(), list->end(), is); it != list->end())
                return &*it;
        return nullptr;
    };
    const Holder* top = &who;
    // Bounded: a pid table read at two moments may hold a cycle.
    for (int depth = 0; depth < 8; ++depth) {
        const Holder* up = parent_of(*top);
        // Never this process, its own master (a worker is not told to stop its own
        // server), init, or an ancestor without evidence that it is the master.
        if (up == nullptr || up->pid <= 1 || up->pid == obs.self.pid ||
            (stop_at_own_parent && up->pid == obs.self.ppid) ||
            !same_program(up->exe, up->argv, who.exe, who.argv) || !is_master_of(obs, *up, *top, who.inode))
            break;
        top = up;
    }
    return *top;
}

void add_worker_reason(const Holder& who, const Holder& master,
                       const std::vector<const Holder*>& hs, Verdict& v) {
    if (master.pid == who.pid) return;
    const bool master_holds =
        std::any_of(hs.begin(), hs.end(), [&](const Holder* h) { return h->pid == master.pid; });
    v.why.push_back(fmt::format(
        "pid {} is a worker: its parent pid {} ({}) runs the same program and is the master "
        "that a service manager starts and stops; {}stopping only the worker makes it start "
        "another",
        who.pid, master.pid, master.argv.empty() ? program_of(master) : quote_args(master.argv),
        master_holds ? "" : "it holds no copy of the socket, and "));
}

void add_holders(const std::vector<const Holder*>& hs, const Holder* first, Verdict& v) {
    if (first != nullptr) v.holders.push_back(*first);
    for (const Holder* h : hs)
        if (h != first) v.holders.push_back(*h);
}

std::string program_of(const Holder& h) {
    if (!h.exe.empty()) return h.exe;
    if (!h.comm.empty()) return h.comm;
    return "unknown program";
}

Sameness compare_with_self(const Holder& h, const SelfInfo& self) {
    const ProgramIdentity them = identify_program(h.exe, h.argv);
    const ProgramIdentity us = identify_program(self.exe, self.argv);
    const Sameness s = compare_programs(them, us);
    if (s == Sameness::different && self.launcher_script && them.executable != us.executable)
        return Sameness::unknown;
    return s;
}

std::string same_program_reason(const Holder& h) {
    const std::string main = describe_main(identify_program(h.exe, h.argv));
    return fmt::format("it runs the same program{}: {}", main.empty() ? "" : " (" + main + ")",
                       h.argv.empty() ? program_of(h) : quote_args(h.argv));
}

std::string program_difference(const Holder& h, const SelfInfo& self, Sameness s, std::string_view what) {
    const std::string theirs = h.argv.empty() ? program_of(h) : quote_args(h.argv);
    const ProgramIdentity them = identify_program(h.exe, h.argv);
    const ProgramIdentity us = identify_program(self.exe, self.argv);
    if (us.executable.empty() && us.argv0_name.empty())
        return fmt::format("it runs {}; which program is about to start is not known, so whether "
                           "this is its previous instance cannot be told (portshim why --for "
                           "PROGRAM compares)",
                           theirs);
    if (self.launcher_script && s == Sameness::unknown && them.executable != us.executable)
        return fmt::format("it runs {}; the program about to start is a shell script ({}) that may "
                           "exec another program, so whether this is its previous instance cannot "
                           "be told",
                           theirs, self.argv.size() > 1 ? self.argv[1] : self.exe);
    // The executables alone: one interpreter on both sides, whatever each runs?
    ProgramIdentity their_exe, our_exe;
    their_exe.executable = them.executable;
    their_exe.argv0_name = them.argv0_name;
    our_exe.executable = us.executable;
    our_exe.argv0_name = us.argv0_name;
    const bool one_interpreter =
        them.interpreter && compare_programs(their_exe, our_exe) == Sameness::same;
    if (s == Sameness::different && !one_interpreter)
        return fmt::format("a different program holds the {}: {}", what, theirs);
    if (!one_interpreter)
        return fmt::format("it runs {}; its executable cannot be read, so whether it is this "
                           "program cannot be told",
                           theirs);
    const std::string name(program_name(them.executable.empty() ? them.argv0_name : them.executable));
    if (s == Sameness::different)
        return fmt::format("the same runtime ({}) runs another program there: {}, not {} ({})", name,
                           describe_main(them), describe_main(us), theirs);
    return fmt::format("{} runs there too, but which program {} cannot be told from its command line "
                       "({}), so it is not taken for a previous instance",
                       name, them.main.empty() ? "it runs" : "this one runs",
                       them.main.empty() ? theirs : quote_args(self.argv));
}

std::string age_of(const Holder& h, const HostFacts& host) {
    if (h.start_time <= 0 || host.now <= 0) return {};
    return fmt::format("started {} ago", format_duration(std::max(0.0, host.now - h.start_time)));
}

std::string quote_args(const std::vector<std::string>& argv) {
    std::string out;
    for (const std::string& a : argv) {
        if (!out.empty()) out += ' ';
        out += a;
        if (out.size() > 200) {
            out.resize(escape::utf8_prefix(out.data(), out.size(), 200)); // never inside a character
            out += "…";
            break;
        }
    }
    return out;
}

std::string user_of(const Observation& obs, std::int64_t uid) {
    if (uid < 0) return "an unknown user";
    for (const auto& [id, name] : obs.user_names)
        if (id == uid && !name.empty()) return fmt::format("{} (uid {})", name, uid);
    return fmt::format("uid {}", uid);
}

std::uint32_t viewer_uid(const Observation& obs) {
    return obs.self.secure ? obs.self.real_uid : obs.self.uid;
}

std::string withheld_reason(const Observation& obs) {
    if (!obs.self.secure || obs.pids_withheld == 0) return {};
    const std::string user = user_of(obs, obs.self.real_uid);
    return fmt::format("this program runs with rights {} does not have (setuid/setgid: secure "
                       "execution), so the report shows only what {} could see: the {} "
                       "process(es) of other users holding sockets on the port are not named",
                       user, user, obs.pids_withheld);
}

std::string sudo(const Observation& obs) { return viewer_uid(obs) == 0 ? "" : "sudo "; }

std::string shell_quote(std::string_view s) {
    if (escape::shell_plain(s.data(), s.size())) return std::string(s);
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

} // namespace portshim::detail
