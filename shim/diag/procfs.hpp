// Small readers for /proc-style trees shared by the probes: whole small files,
// symlinks and directory listings, on O_CLOEXEC descriptors closed before return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <dirent.h>
#include <string>
#include <string_view>

namespace portshim::procfs {

/** Owns one descriptor and closes it on every path out of a scope. */
class Fd {
public:
    Fd() noexcept = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();

    int get() const noexcept { return fd_; }
    bool ok() const noexcept { return fd_ >= 0; }
    int release() noexcept;

private:
    int fd_ = -1;
};

/**
 * A directory listing (readdir(3) over fdopendir(3)) that owns its descriptor;
 * "." and ".." are skipped. get() is the directory's fd, usable with *at(2).
 */
class Dir {
public:
    /** Opens `path` relative to `dirfd` (AT_FDCWD for absolute paths); `extra_flags` e.g. O_NOFOLLOW. */
    Dir(int dirfd, const char* path, int extra_flags = 0) noexcept;
    Dir(const Dir&) = delete;
    Dir& operator=(const Dir&) = delete;
    ~Dir();

    bool ok() const noexcept { return dir_ != nullptr; }
    int error() const noexcept { return error_; }  ///< errno of the failed open
    int get() const noexcept;
    /** The next entry's name, or nullptr at the end (or on a read error). */
    const char* next() noexcept;
    /** d_type of the entry next() returned: DT_DIR, DT_REG, ... or DT_UNKNOWN. */
    unsigned char type() const noexcept { return type_; }

private:
    DIR* dir_ = nullptr;
    unsigned char type_ = DT_UNKNOWN;
    int error_ = 0;
};

/** The bound read_small_file uses unless told: the probes' /proc files are a few KiB. */
inline constexpr std::size_t small_file_limit = 64 * 1024;

/**
 * Reads at most `limit` bytes of `path` (relative to `dirfd`, or AT_FDCWD)
 * into `out`. /proc files report st_size 0 (proc(5)), so this reads until EOF.
 * Returns 0 or the errno of open/read; ENOMEM when out of memory. Never throws.
 */
int read_small_file(int dirfd, const char* path, std::string& out,
                    std::size_t limit = small_file_limit) noexcept;
int read_small_file(const std::string& path, std::string& out,
                    std::size_t limit = small_file_limit) noexcept;

/** readlinkat(2) of `path` into `out` (up to 64 KiB). Returns 0 or errno. Never throws. */
int read_link(int dirfd, const char* path, std::string& out) noexcept;

/** `text` without leading and trailing spaces, tabs and newlines. */
std::string_view trim(std::string_view text) noexcept;

/** Cuts the text up to the next `sep` (or the end) off the front of `rest`; drops the `sep`. */
std::string_view next_line(std::string_view& rest, char sep = '\n') noexcept;

/** Cuts the next run of non-blank characters off the front of `rest`. */
std::string_view next_field(std::string_view& rest) noexcept;

/**
 * Finds the first line starting with `key` (e.g. "flags:", "btime ") and sets
 * `value` to the rest of it, trimmed. False when no line starts with `key`.
 */
bool line_value(std::string_view text, std::string_view key, std::string_view& value) noexcept;

/** Parses all of `text` as an unsigned number in `base`; false on junk or overflow. */
bool parse_u64(std::string_view text, std::uint64_t& value, int base = 10) noexcept;

} // namespace portshim::procfs
