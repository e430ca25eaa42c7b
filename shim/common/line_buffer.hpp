// An async-signal-safe builder for one event: text or JSON into a fixed stack
// buffer, without malloc, locks, locale or stdio, so the fork and exec hooks
// can report from a fork child or a signal handler (DESIGN.md rule 7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/socket.h>

namespace portshim {

/**
 * Appends to a caller-owned buffer; silently truncates, never inside a UTF-8
 * sequence or an escape, and remembers it.
 */
class LineBuffer {
public:
    /** What put() does with the bytes a GitHub workflow command must escape (markup.hpp). */
    enum class Escape : unsigned char { none, github_message, github_property };

    LineBuffer(char* storage, std::size_t capacity) noexcept : data_(storage), cap_(capacity) {}

    /**
     * From now on every byte put, whatever the put_* call, is escaped this way:
     * an annotation's title and message are built from the same helpers as text.
     */
    LineBuffer& escape(Escape mode) noexcept {
        escape_ = mode;
        return *this;
    }

    const char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return len_; }
    bool truncated() const noexcept { return truncated_; }

    LineBuffer& put(const char* text) noexcept;
    LineBuffer& put(const char* text, std::size_t n) noexcept;
    LineBuffer& put(char c) noexcept;
    LineBuffer& put_int(long long value) noexcept;
    LineBuffer& put_uint(unsigned long long value) noexcept;
    /**
     * A value from outside (a path, a command line) in text: control
     * characters escaped visibly (escape.hpp text_piece), each character
     * whole or not at all.
     */
    LineBuffer& put_visible(const char* text) noexcept;
    LineBuffer& put_visible(const char* text, std::size_t n) noexcept;
    /** A JSON string literal with quotes, valid UTF-8 (escape::json_piece), as the engine writes it. */
    LineBuffer& put_json(const char* text) noexcept;
    /** Now as RFC 3339 UTC with milliseconds: "2026-11-26T08:05:12.345Z". */
    LineBuffer& put_time_now() noexcept;
    /** The numeric host part of an AF_INET/AF_INET6 address (RFC 5952 for IPv6, no brackets). */
    LineBuffer& put_address(const sockaddr* addr) noexcept;
    /** Ends the line: makes room for the '\n' by cutting the text when it was truncated. */
    LineBuffer& end_line() noexcept;

private:
    /**
     * Writes text[0..n), each byte escaped as escape_ says, whole or not at
     * all; when not, drops what the cut leaves of a UTF-8 sequence.
     */
    LineBuffer& put_whole(const char* text, std::size_t n) noexcept;

    char* data_;
    std::size_t cap_;
    std::size_t len_ = 0;
    bool truncated_ = false;
    Escape escape_ = Escape::none;
};

/**
 * The process events are about, when it is not this one: portshim-supervise
 * sets it to the supervised program it is about to report for, so that JSON
 * `pid`/`exe`, text prefixes and syslog's tag name the program, not the
 * supervisor. 0 (the default): this process. Plain stores, no system call.
 */
void set_subject_pid(int pid) noexcept;

/** The pid events name and prefixes carry: the subject's when set, else getpid(). */
int subject_pid() noexcept;

/**
 * Starts a JSON event: {"event":EVENT,"time":…,"pid":…,"exe":… (no closing
 * brace). exe is readlink(/proc/self/exe) (/proc/PID/exe of a subject); with `no_syscalls` (under a
 * seccomp filter) the path the program was started as (AT_EXECFN), read
 * without a system call. `pid`: the event's pid (0: subject_pid()).
 */
void put_json_event_head(LineBuffer& out, const char* event, bool no_syscalls = false,
                         int pid = 0) noexcept;

/** A LineBuffer with its storage. */
template <std::size_t N>
class FixedLineBuffer : public LineBuffer {
public:
    FixedLineBuffer() noexcept : LineBuffer(storage_, N) {}

private:
    char storage_[N];
};

} // namespace portshim
