// journald's native protocol (systemd.journal-fields(7), "Native Journal
// Protocol" in systemd's docs): one entry as FIELD=value lines in one datagram,
// without libsystemd. Built as iovecs that point at the caller's bytes, so an
// entry costs no copy and no allocation (async-signal-safe, like the sink).
#pragma once

#include <cstddef>
#include <sys/uio.h>

namespace portshim::journal {

/** Where journald listens for native entries (sd_journal_sendv's address). */
inline constexpr char socket_path[] = "/run/systemd/journal/socket";

/**
 * Our own bound on one entry: it must go as one datagram, never split and
 * without the memfd hand-over libsystemd uses for big ones, so it stays far
 * below an AF_UNIX datagram's limit (the sender's SO_SNDBUF, 208 KiB by
 * default: net.core.wmem_default) and journald's (768 MiB a field, 1024
 * fields an entry).
 */
inline constexpr std::size_t entry_max = 16384;
/** One field's value at most (but MESSAGE's and the report's: see the sink). */
inline constexpr std::size_t value_max = 2048;
/** Fields one entry can hold; the rest is left out. */
inline constexpr int fields_max = 48;

/** One NAME=value a producer adds: `value` points into the producer's storage. */
struct Field {
    const char* name = nullptr;       ///< a valid field name (valid_name), static text
    const char* value = nullptr;
    std::size_t len = 0;
};

/**
 * What a producer knows about its event beyond the rendered text: the
 * headline for MESSAGE (nullptr: the text's first line) and the fields to
 * filter on (PORTSHIM_EVENT, PORTSHIM_CAUSE, ...). The sink adds PRIORITY,
 * SYSLOG_IDENTIFIER, SYSLOG_PID and the report itself.
 */
struct Fields {
    const char* message = nullptr;
    std::size_t message_len = 0;
    Field items[32];
    int count = 0;

    /** Adds one field; beyond the slots it is left out. A name may repeat (one value each). */
    void add(const char* name, const char* value, std::size_t len) noexcept;
    /** A NUL-terminated value; nullptr or "" adds nothing. */
    void add(const char* name, const char* value) noexcept;
};

/**
 * A journal field name clients may set: 1 to 64 bytes of A-Z, 0-9 and '_',
 * not starting with a digit or '_' (journald reserves "_" for trusted fields
 * and drops invalid names: journal-file.h journal_field_valid).
 */
bool valid_name(const char* name, std::size_t len) noexcept;

/**
 * One entry being built. A value goes as NAME=value\n, or, when it holds a
 * '\n' (or a NUL), in the length-prefixed binary form NAME\n<le64 length>
 * value\n, so no outside byte can end the field or start another. Values are
 * cut at a UTF-8 boundary to their bound and to what is left of entry_max;
 * a field whose name does not fit any more is left out: an entry is always
 * whole and valid.
 */
class Entry {
public:
    /**
     * Adds NAME=value, the value cut to `max` bytes. Returns the bytes of the
     * value kept; `fitted` (optional) says whether it was kept whole.
     */
    std::size_t add(const char* name, const char* value, std::size_t len,
                    std::size_t max = value_max, bool* fitted = nullptr) noexcept;
    /** The room left for one more value named `name` (0: it would not fit at all). */
    std::size_t room_for(const char* name) const noexcept;

    const iovec* iov() const noexcept { return iov_; }
    int iov_count() const noexcept { return iov_count_; }
    std::size_t size() const noexcept { return size_; }
    /** Some value was cut or left out. */
    bool truncated() const noexcept { return truncated_; }
    /** The datagram's bytes into out[0..size): for tests. Returns size(), 0 when it does not fit. */
    std::size_t flatten(char* out, std::size_t size) const noexcept;

private:
    iovec iov_[fields_max * 4];
    /** Per field: the "\n" and little-endian length of the binary form. */
    unsigned char binary_[fields_max][9];
    int iov_count_ = 0;
    int fields_ = 0;
    std::size_t size_ = 0;
    bool truncated_ = false;
};

/**
 * Parses a native datagram (either form of every field, as journald's
 * server_process_native_message does), calling `on_field` for each; false
 * at the first malformed byte. For tests and the fuzzer: the sink only writes.
 */
bool decode(const char* data, std::size_t n,
            void (*on_field)(void* context, const char* name, std::size_t name_len,
                             const char* value, std::size_t value_len),
            void* context) noexcept;

} // namespace portshim::journal
