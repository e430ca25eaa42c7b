// The cause ids of DESIGN.md as one enum and one table: the id string the
// JSON `cause` key and the text show, whether the cause clears by itself, its meaning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portshim {

/** Why a bind failed: one per verdict. The id strings are a contract (cause_table). */
enum class Cause : std::uint8_t {
    unknown,
    previous_instance,
    other_service,
    self,
    inherited_fd,
    container_proxy,
    hidden_owner,
    time_wait,
    outbound_collision,
    stale_unix_socket,
};

/** One row of the cause table. */
struct CauseInfo {
    Cause cause;
    std::string_view id;      ///< stable id: JSON `cause`, the text report, tests, docs
    bool clears_by_itself;    ///< goes away without anyone acting: worth a PORTSHIM_WAIT retry
    std::string_view meaning; ///< when it applies, in the words of DESIGN.md's table
};

/** Every cause, in the enum's order (cause_info indexes it). */
inline constexpr CauseInfo cause_table[] = {
    {Cause::unknown, "unknown", false, "nothing found (freed meanwhile, or the probes failed)"},
    {Cause::previous_instance, "previous-instance", true,
     "a live process running the same program listens"},
    {Cause::other_service, "other-service", false,
     "a different program listens or is bound there"},
    {Cause::self, "self", false, "this very process already holds it"},
    {Cause::inherited_fd, "inherited-fd", true,
     "the holder did not open the socket: a child kept it"},
    {Cause::container_proxy, "container-proxy", false,
     "the holder is a container runtime's forwarder"},
    {Cause::hidden_owner, "hidden-owner", false,
     "a socket holds it but no visible process does"},
    {Cause::time_wait, "time-wait", true,
     "only old connection sockets and no live listener"},
    {Cause::outbound_collision, "outbound-collision", false,
     "an outbound connection's local port is the wanted port"},
    {Cause::stale_unix_socket, "stale-unix-socket", false,
     "an AF_UNIX path exists, nobody listens on it"},
};

inline constexpr std::size_t cause_count = sizeof cause_table / sizeof cause_table[0];

constexpr bool cause_table_in_enum_order() {
    for (std::size_t i = 0; i < cause_count; ++i)
        if (static_cast<std::size_t>(cause_table[i].cause) != i) return false;
    return true;
}
static_assert(cause_table_in_enum_order(), "cause_table must list the causes in the enum's order");

constexpr const CauseInfo& cause_info(Cause c) { return cause_table[static_cast<std::size_t>(c)]; }

/** The stable id: "previous-instance", "time-wait", ... */
constexpr std::string_view cause_id(Cause c) { return cause_info(c).id; }

/** Causes that go away without anyone acting: worth a PORTSHIM_WAIT retry. */
constexpr bool clears_by_itself(Cause c) { return cause_info(c).clears_by_itself; }

/** The cause an id names; nullopt for any other string (an empty one: no cause yet). */
constexpr std::optional<Cause> cause_from_id(std::string_view id) {
    for (const CauseInfo& info : cause_table)
        if (info.id == id) return info.cause;
    return std::nullopt;
}

} // namespace portshim
