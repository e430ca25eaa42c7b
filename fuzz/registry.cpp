// libFuzzer target: the listen registry, one line and a whole file. Whatever
// parses must survive the writer's encoding unchanged (a round trip); in a
// file, torn records and garbage must never yield a record that is not one.
#include "diag/registry.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace portshim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string line(reinterpret_cast<const char*>(data), size);
    // As a file: every record found is one a line (or a line's end) parses to.
    for (const ListenRecord& r : registry::parse_listen_records(line))
        if (r.inode == 0 || r.pid <= 0 || (r.proto != "tcp" && r.proto != "udp" && r.proto != "unix"))
            __builtin_trap();
    const auto record = registry::parse_listen_record(line);
    if (!record) return 0;
    if (record->inode == 0 || record->pid <= 0) __builtin_trap();
    // "-" stands for the empty value; a field that is literally "-" is written %2D.
    const std::string again = fmt::format(
        "L1 netns={} inode={} proto={} addr={} port={} pid={} start={} time={} uid={} exe={}",
        record->netns, record->inode, record->proto, registry::encode_registry_field(record->address),
        record->port, record->pid, record->start_ticks, record->time, record->uid,
        registry::encode_registry_field(record->exe));
    const auto reparsed = registry::parse_listen_record(again);
    if (!reparsed || reparsed->netns != record->netns || reparsed->inode != record->inode ||
        reparsed->proto != record->proto || reparsed->address != record->address ||
        reparsed->port != record->port || reparsed->pid != record->pid ||
        reparsed->start_ticks != record->start_ticks || reparsed->time != record->time ||
        reparsed->uid != record->uid || reparsed->exe != record->exe)
        __builtin_trap();
    return 0;
}
