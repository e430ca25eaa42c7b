// The inherited-fd rules: whether the processes holding a socket opened it,
// from the registry or from /proc facts, and who opened the sockets a process started with.
#pragma once

#include "types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portshim::detail {

/** Who opened a socket, and whether its holders inherited it. */
struct Inheritance {
    const RecordedListen* record = nullptr; ///< the registry's record; nullptr when inferred
    const Holder* opener_holder = nullptr;  ///< the opener among the holders: it still holds it
    bool inherited = false;                 ///< no holder opened it: inherited-fd applies
    bool inferred = false;                  ///< no record: concluded from the holders' facts
    Opener opener;
};

/**
 * What is known about the opener of socket `inode` held by `hs`: the registry
 * record when there is one (inherited when the opener, same pid and start
 * ticks, is not among the holders); else, for a listener, inherited only when
 * the principal holder's fd lacks O_CLOEXEC, its parent is gone, it was not
 * socket-activated, its program does not import listen(), and no holder's
 * does. nullopt when neither applies.
 */
std::optional<Inheritance> inheritance_of(const Observation& obs, std::uint64_t inode,
                                          const std::vector<const Holder*>& hs, bool listener);

/**
 * The inherited-fd verdict. `held` names the socket as the summary shows it
 * ("0.0.0.0:8080", "/run/app.sock"); `ss` is the command that lists it.
 */
Verdict rule_inherited(const Observation& obs, const Inheritance& inh,
                          const std::vector<const Holder*>& hs, const std::string& held,
                          const std::string& ss);

/** The why line when a previous instance holds a socket its exited opener left it. */
std::string inherited_instance_reason(const Inheritance& inh, const Holder& who);

} // namespace portshim::detail

namespace portshim {

/** One listening socket a process started with, as the start-up scan found it. */
struct StartupSocket {
    std::uint64_t inode = 0;
    bool listen_fds = false;          ///< passed by systemd's LISTEN_FDS
};

/**
 * The `inherited` event's verdict on the listening sockets `me` started with
 * (`listed`, in the scan's order; report.more beyond them): report.opener from
 * the registry record of the first listed socket that has one, and
 * report.handover when it is a hand-over by design: Handover::listen_fds when systemd
 * passed every socket (none beyond those listed), else Handover::closes_fds when `me`
 * is a spawn helper that closes them before its exec (fd_closing_helper), else Handover::self_exec when the
 * recorded opener is `me` itself or runs the same program, or, without a
 * record, when `parent` does (a program re-executing itself, in place or
 * nginx-style from a child of the old master). `parent` is empty when unknown.
 */
void rule_inherited_event(const std::vector<StartupSocket>& listed,
                     const std::vector<RecordedListen>& records, const Holder& me,
                     const Holder& parent, InheritedReport& report);

} // namespace portshim
