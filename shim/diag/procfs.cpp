// Small readers for /proc-style trees shared by the probes: whole small files,
// symlinks and directory listings, on O_CLOEXEC descriptors closed before return.
#include "procfs.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <unistd.h>

namespace portshim::procfs {

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        Fd old(fd_);
        fd_ = other.release();
    }
    return *this;
}

Fd::~Fd() {
    // close(2): on Linux the descriptor is gone even on EINTR; never retry.
    if (fd_ >= 0) ::close(fd_);
}

int Fd::release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

Dir::Dir(int dirfd, const char* path, int extra_flags) noexcept {
    Fd fd(::openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | extra_flags));
    if (!fd.ok()) {
        error_ = errno;
        return;
    }
    // fdopendir(3) takes the descriptor over only when it succeeds.
    dir_ = ::fdopendir(fd.get());
    if (dir_ == nullptr) {
        error_ = errno;
        return;
    }
    fd.release();
}

Dir::~Dir() {
    if (dir_ != nullptr) ::closedir(dir_);
}

int Dir::get() const noexcept { return dir_ != nullptr ? ::dirfd(dir_) : -1; }

const char* Dir::next() noexcept {
    if (dir_ == nullptr) return nullptr;
    while (const dirent* entry = ::readdir(dir_)) {
        const char* name = entry->d_name;
        if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
        type_ = entry->d_type;
        return name;
    }
    return nullptr;
}

int read_small_file(int dirfd, const char* path, std::string& out, std::size_t limit) noexcept {
    out.clear();
    Fd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) return errno;
    try {
        // Most /proc files arrive in one read(2); seq_file ones may come in pieces.
        std::size_t chunk = 4096;
        while (out.size() < limit) {
            const std::size_t old = out.size();
            const std::size_t want = std::min(chunk, limit - old);
            out.resize(old + want);
            const ssize_t n = ::read(fd.get(), &out[old], want);
            if (n < 0) {
                const int err = errno;
                out.resize(old);
                if (err == EINTR) continue;
                return err;
            }
            out.resize(old + static_cast<std::size_t>(n));
            if (n == 0) break;
            if (chunk < 65536) chunk *= 2;
        }
    } catch (const std::bad_alloc&) {
        out.clear();
        return ENOMEM;
    }
    return 0;
}

int read_small_file(const std::string& path, std::string& out, std::size_t limit) noexcept {
    return read_small_file(AT_FDCWD, path.c_str(), out, limit);
}

int read_link(int dirfd, const char* path, std::string& out) noexcept {
    out.clear();
    try {
        // readlink(2) truncates silently: a full buffer means "try a larger one".
        for (std::size_t size = 256; size <= 65536; size *= 4) {
            out.resize(size);
            const ssize_t n = ::readlinkat(dirfd, path, &out[0], size);
            if (n < 0) {
                const int err = errno;
                out.clear();
                return err;
            }
            if (static_cast<std::size_t>(n) < size) {
                out.resize(static_cast<std::size_t>(n));
                return 0;
            }
        }
    } catch (const std::bad_alloc&) {
        out.clear();
        return ENOMEM;
    }
    out.clear();
    return ENAMETOOLONG;
}

namespace {
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
} // namespace

std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
    return text;
}

std::string_view next_line(std::string_view& rest, char sep) noexcept {
    const std::size_t end = rest.find(sep);
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    return line;
}

std::string_view next_field(std::string_view& rest) noexcept {
    while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
    std::size_t end = 0;
    while (end < rest.size() && !is_blank(rest[end])) ++end;
    const std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end);
    return field;
}

bool line_value(std::string_view text, std::string_view key, std::string_view& value) noexcept {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(start, end - start);
        if (line.substr(0, key.size()) == key) {
            value = trim(line.substr(key.size()));
            return true;
        }
        start = end + 1;
    }
    return false;
}

bool parse_u64(std::string_view text, std::uint64_t& value, int base) noexcept {
    if (text.empty()) return false;
    const char* end = text.data() + text.size();
    std::uint64_t v = 0;
    const auto res = std::from_chars(text.data(), end, v, base);
    if (res.ec != std::errc() || res.ptr != end) return false;
    value = v;
    return true;
}

} // namespace portshim::procfs
