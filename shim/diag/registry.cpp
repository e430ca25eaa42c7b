// Reader of the listen registry: fixed-size text records appended by the hooks
// on each successful listen(), read here only from a directory we own.
#include "registry.hpp"

#include "address.hpp"
#include "procfs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::registry {

namespace {

// A record is 511 bytes and its '\n'. A longer line is the torn start of a
// record (a writer cut short: disk full, an older writer at RLIMIT_FSIZE)
// glued to the whole record written after it: only its last 511 bytes can be
// a record, so no more than that of any line is kept.
constexpr std::size_t record_line = 511;

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool decode(std::string_view enc, std::string& out) {
    out.clear();
    if (enc == "-") return true;
    for (std::size_t i = 0; i < enc.size(); ++i) {
        if (enc[i] != '%') {
            out += enc[i];
            continue;
        }
        if (i + 2 >= enc.size()) return false;
        const int hi = hex_digit(enc[i + 1]), lo = hex_digit(enc[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

template <typename T>
bool parse_number(std::string_view text, T& value) {
    std::uint64_t v = 0;
    if (!procfs::parse_u64(text, v) ||
        v > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        return false;
    value = static_cast<T>(v);
    return true;
}

/** The value of " inode=" in a line, without parsing the rest; 0 when absent. */
std::uint64_t quick_inode(std::string_view line) {
    constexpr std::string_view key = " inode=";
    const std::size_t at = line.find(key);
    if (at == std::string_view::npos) return 0;
    std::string_view rest = line.substr(at + key.size());
    rest = rest.substr(0, rest.find(' '));
    std::uint64_t inode = 0;
    return procfs::parse_u64(rest, inode) ? inode : 0;
}

/** The part of a line that can hold a record: a longer line's last record_line bytes. */
std::string_view candidate(std::string_view line) {
    return line.size() > record_line ? line.substr(line.size() - record_line) : line;
}

/** Latest record so far for each wanted inode (parallel to the sorted `wanted`). */
struct Search {
    std::vector<std::uint64_t> wanted;
    std::vector<std::optional<ListenRecord>> latest;

    void offer(std::string_view line) {
        line = candidate(line);
        const std::uint64_t inode = quick_inode(line);
        const auto it = std::lower_bound(wanted.begin(), wanted.end(), inode);
        if (inode == 0 || it == wanted.end() || *it != inode) return;
        if (auto record = parse_listen_record(line); record && record->inode == inode)
            latest[static_cast<std::size_t>(it - wanted.begin())] = std::move(record);
    }
};

/**
 * Feeds every complete line of an open file to `search`, up to file_limit
 * bytes; of a line longer than a record only its last record_line bytes.
 */
int scan_lines(int fd, Search& search) {
    constexpr std::size_t chunk = 16 * 1024;
    std::string buf(record_line + chunk, '\0');
    std::size_t have = 0, total = 0; // buf[0, have): the start of a line not yet ended
    while (total < file_limit) {
        const ssize_t n = ::read(fd, &buf[have], std::min(chunk, file_limit - total));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) break;
        total += static_cast<std::size_t>(n);
        const std::size_t end = have + static_cast<std::size_t>(n);
        std::size_t start = 0;
        while (const void* nl = std::memchr(&buf[start], '\n', end - start)) {
            const auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
            search.offer(std::string_view(buf.data() + start, at - start));
            start = at + 1;
        }
        // Keep the unfinished line's last record_line bytes: all that can matter of it.
        const std::size_t keep = std::min(end - start, record_line);
        std::memmove(&buf[0], &buf[end - keep], keep);
        have = keep;
    }
    // A last line without '\n' is a record still being written, or cut: skipped.
    return 0;
}

/** Reads DIR/NAME if it is a regular file of ours; a missing file is no error. */
void scan_file(int dirfd, const std::string& state_dir, const char* name, Search& search,
               std::vector<std::string>& evidence) {
    // O_NONBLOCK: a FIFO planted under the name must not block the open.
    procfs::Fd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.ok()) {
        const int err = errno;
        if (err == ELOOP)
            evidence.push_back(fmt::format("registry {}/{} is a symbolic link: ignored", state_dir,
                                           name));
        else if (err != ENOENT)
            evidence.push_back(fmt::format("registry {}/{} could not be opened: {}", state_dir,
                                           name, errno_name(err)));
        return;
    }
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        evidence.push_back(fmt::format("registry {}/{} is not a regular file owned by uid {}: "
                                       "ignored",
                                       state_dir, name, ::geteuid()));
        return;
    }
    if (const int err = scan_lines(fd.get(), search))
        evidence.push_back(fmt::format("registry {}/{} could not be read: {}", state_dir, name,
                                       errno_name(err)));
}

} // namespace

std::optional<ListenRecord> parse_listen_record(std::string_view line) {
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    if (line.substr(0, 3) != "L1 ") return std::nullopt;
    for (const char c : line)
        if (c < 0x20 || c > 0x7e) return std::nullopt;
    line.remove_prefix(3);

    static constexpr std::string_view keys[] = {"netns", "inode", "proto", "addr", "port",
                                                "pid",   "start", "time",  "uid",  "exe"};
    std::string_view values[std::size(keys)];
    bool seen[std::size(keys)] = {};
    while (!line.empty()) {
        const std::size_t space = line.find(' ');
        const std::string_view field = line.substr(0, space);
        line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
        const std::size_t eq = field.find('=');
        if (eq == std::string_view::npos || eq + 1 == field.size()) return std::nullopt;
        const std::string_view key = field.substr(0, eq);
        const auto k = static_cast<std::size_t>(std::find(std::begin(keys), std::end(keys), key) -
                                                std::begin(keys));
        if (k == std::size(keys) || seen[k]) return std::nullopt;
        seen[k] = true;
        values[k] = field.substr(eq + 1);
    }
    if (std::find(std::begin(seen), std::end(seen), false) != std::end(seen)) return std::nullopt;

    try {
        ListenRecord r;
        if (!parse_number(values[0], r.netns) || !parse_number(values[1], r.inode) ||
            !parse_number(values[4], r.port) || !parse_number(values[5], r.pid) ||
            !parse_number(values[6], r.start_ticks) || !parse_number(values[7], r.time) ||
            !parse_number(values[8], r.uid) || !decode(values[3], r.address) ||
            !decode(values[9], r.exe))
            return std::nullopt;
        r.proto.assign(values[2]);
        if ((r.proto != "tcp" && r.proto != "udp" && r.proto != "unix") || r.inode == 0 ||
            r.pid <= 0)
            return std::nullopt;
        return r;
    } catch (const std::bad_alloc&) {
        return std::nullopt;
    }
}

std::vector<ListenRecord> parse_listen_records(std::string_view text) {
    std::vector<ListenRecord> records;
    for (std::size_t start = 0;;) {
        const std::size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) break; // being written, or cut: skipped
        if (auto r = parse_listen_record(candidate(text.substr(start, nl - start))))
            records.push_back(std::move(*r));
        start = nl + 1;
    }
    return records;
}

std::string encode_registry_field(std::string_view value) {
    if (value.empty()) return "-";
    if (value == "-") return "%2D"; // "-" alone means empty
    std::string out;
    for (const char c : value) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x21 && b <= 0x7e && b != '%') out += c;
        else out += fmt::format("%{:02X}", b);
    }
    return out;
}

std::vector<ListenRecord> find_listen_records(const std::string& state_dir,
                                              const std::vector<std::uint64_t>& inodes,
                                              std::vector<std::string>& evidence) noexcept {
    std::vector<ListenRecord> found;
    try {
        if (state_dir.empty() || inodes.empty()) return found;
        procfs::Fd dir(::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir.ok()) {
            const int err = errno;
            // No directory: nothing listened under portshim yet, not a failure.
            // open(2): a symlink gives ELOOP with O_NOFOLLOW, or ENOTDIR with O_DIRECTORY.
            struct stat link{};
            if ((err == ELOOP || err == ENOTDIR) && ::lstat(state_dir.c_str(), &link) == 0 &&
                S_ISLNK(link.st_mode))
                evidence.push_back(fmt::format("registry {} is a symbolic link: ignored",
                                               state_dir));
            else if (err != ENOENT)
                evidence.push_back(fmt::format("registry {} could not be opened: {}", state_dir,
                                               errno_name(err)));
            return found;
        }
        struct stat st{};
        if (::fstat(dir.get(), &st) != 0) return found;
        if (st.st_uid != ::geteuid()) {
            evidence.push_back(fmt::format("registry {} ignored: owned by uid {}, not uid {}",
                                           state_dir, st.st_uid, ::geteuid()));
            return found;
        }
        if ((st.st_mode & 022) != 0) {
            evidence.push_back(fmt::format("registry {} ignored: writable by group or others "
                                           "(mode {:04o})",
                                           state_dir, st.st_mode & 07777));
            return found;
        }
        Search search;
        search.wanted = inodes;
        std::sort(search.wanted.begin(), search.wanted.end());
        search.wanted.erase(std::unique(search.wanted.begin(), search.wanted.end()),
                            search.wanted.end());
        search.latest.resize(search.wanted.size());
        // The rotated file holds the older records: read it first so newer ones win.
        scan_file(dir.get(), state_dir, "listeners.1", search, evidence);
        scan_file(dir.get(), state_dir, "listeners", search, evidence);
        for (auto& r : search.latest)
            if (r) found.push_back(std::move(*r));
    } catch (...) {
        found.clear();
    }
    return found;
}

std::optional<ListenRecord> find_listen_record(const std::string& state_dir, std::uint64_t inode,
                                               std::vector<std::string>& evidence) noexcept {
    try {
        std::vector<ListenRecord> found = find_listen_records(state_dir, {inode}, evidence);
        if (!found.empty()) return std::move(found.front());
    } catch (...) {
    }
    return std::nullopt;
}

} // namespace portshim::registry
