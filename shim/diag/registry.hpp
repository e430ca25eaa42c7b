// Reader of the listen registry the hooks write (state_dir/listeners and its
// rotated predecessor listeners.1): which process called listen() on a socket.
#pragma once

#include "types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::registry {

/** Each file is read up to this many bytes; the writer rotates at 1 MiB. */
inline constexpr std::size_t file_limit = 2 * 1024 * 1024;

/**
 * Parses one record line (without its '\n'; trailing padding allowed):
 * "L1 netns=N inode=N proto=P addr=ENC port=N pid=N start=N time=N uid=N exe=ENC".
 * Every key exactly once; ENC fields are %XX-decoded, "-" is empty. Another
 * tag, a missing, repeated or unknown key, or a bad number: nullopt.
 */
std::optional<ListenRecord> parse_listen_record(std::string_view line);

/**
 * Every well-formed record in the text of a registry file, in order. A line
 * is a record only whole: a torn record (a writer cut short) and whatever is
 * not a record are skipped, and a torn start glued to the record written
 * after it costs only itself (a line longer than a record is read by its last
 * 511 bytes). A last line without '\n' is skipped. find_listen_records reads
 * files the same way.
 */
std::vector<ListenRecord> parse_listen_records(std::string_view text);

/** The writer's encoding of a value: bytes outside 0x21..0x7e and '%' as %XX; "" as "-". */
std::string encode_registry_field(std::string_view value);

/**
 * The last record per inode of `inodes` in STATE_DIR/listeners.1, then
 * STATE_DIR/listeners (later records win). The directory is used only when it
 * is owned by the effective uid and not group/other-writable, and the files
 * only when they are regular files owned by it; no symlink is followed and
 * nothing is created. An empty `state_dir` means the registry is off. Refusals
 * and read errors become lines of `evidence`; a missing file is no error.
 * Every fd is O_CLOEXEC and closed before returning. Never throws.
 */
std::vector<ListenRecord> find_listen_records(const std::string& state_dir,
                                              const std::vector<std::uint64_t>& inodes,
                                              std::vector<std::string>& evidence) noexcept;

/** find_listen_records for one inode. */
std::optional<ListenRecord> find_listen_record(const std::string& state_dir, std::uint64_t inode,
                                               std::vector<std::string>& evidence) noexcept;

} // namespace portshim::registry
