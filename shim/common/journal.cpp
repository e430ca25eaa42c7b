// See journal.hpp. The protocol is systemd's "Native Journal Protocol"
// (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): what sd_journal_sendv
// writes, without the library (it allocates and opens a memfd for big entries).
#include "journal.hpp"

#include "escape.hpp"

#include <cstring>

namespace portshim::journal {

namespace {

char equals_sign[] = "=";
char newline[] = "\n";

/** A value journald's simple form cannot carry: it ends at the first '\n'. */
bool needs_binary(const char* value, std::size_t len) {
    return std::memchr(value, '\n', len) != nullptr || std::memchr(value, '\0', len) != nullptr;
}

} // namespace

void Fields::add(const char* name, const char* value, std::size_t len) noexcept {
    if (count >= static_cast<int>(sizeof items / sizeof items[0]) || value == nullptr) return;
    items[count++] = Field{name, value, len};
}

void Fields::add(const char* name, const char* value) noexcept {
    if (value != nullptr && *value != '\0') add(name, value, std::strlen(value));
}

bool valid_name(const char* name, std::size_t len) noexcept {
    if (len == 0 || len > 64 || (name[0] >= '0' && name[0] <= '9') || name[0] == '_') return false;
    for (std::size_t i = 0; i < len; ++i) {
        const char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

std::size_t Entry::room_for(const char* name) const noexcept {
    // The binary form's overhead, the larger one: NAME \n le64 value \n.
    const std::size_t overhead = std::strlen(name) + 1 + 8 + 1;
    if (fields_ >= fields_max || size_ + overhead > entry_max) return 0;
    return entry_max - size_ - overhead;
}

std::size_t Entry::add(const char* name, const char* value, std::size_t len, std::size_t max,
                       bool* fitted) noexcept {
    const std::size_t name_len = std::strlen(name);
    if (fitted != nullptr) *fitted = false;
    if (!valid_name(name, name_len) || fields_ >= fields_max ||
        size_ + name_len + 1 + 8 + 1 > entry_max) {
        truncated_ = true;
        return 0;
    }
    const std::size_t room = entry_max - size_ - (name_len + 1 + 8 + 1);
    std::size_t keep = len;
    if (keep > max) keep = max;
    if (keep > room) keep = room;
    if (keep < len) {
        keep = escape::utf8_prefix(value, len, keep);
        truncated_ = true;
    } else if (fitted != nullptr) {
        *fitted = true;
    }
    iovec* at = iov_ + iov_count_;
    at[0] = {const_cast<char*>(name), name_len};
    if (needs_binary(value, keep)) {
        unsigned char* head = binary_[fields_];
        head[0] = '\n';
        for (int i = 0; i < 8; ++i) head[1 + i] = static_cast<unsigned char>(static_cast<unsigned long long>(keep) >> (8 * i));
        at[1] = {head, 9};
    } else {
        at[1] = {equals_sign, 1};
    }
    at[2] = {const_cast<char*>(value), keep};
    at[3] = {newline, 1};
    iov_count_ += 4;
    ++fields_;
    size_ += name_len + at[1].iov_len + keep + 1;
    return keep;
}

std::size_t Entry::flatten(char* out, std::size_t size) const noexcept {
    if (size < size_) return 0;
    std::size_t at = 0;
    for (int i = 0; i < iov_count_; ++i) {
        if (iov_[i].iov_len > 0) std::memcpy(out + at, iov_[i].iov_base, iov_[i].iov_len);
        at += iov_[i].iov_len;
    }
    return at;
}

bool decode(const char* data, std::size_t n,
            void (*on_field)(void*, const char*, std::size_t, const char*, std::size_t),
            void* context) noexcept {
    std::size_t at = 0;
    while (at < n) {
        const char* line = data + at;
        const auto* nl = static_cast<const char*>(std::memchr(line, '\n', n - at));
        if (nl == nullptr) return false;                 // a field always ends with '\n'
        const std::size_t line_len = static_cast<std::size_t>(nl - line);
        if (line_len == 0) return false;                 // an entry separator: we never write one
        if (const auto* eq = static_cast<const char*>(std::memchr(line, '=', line_len))) {
            const std::size_t name_len = static_cast<std::size_t>(eq - line);
            if (!valid_name(line, name_len)) return false;
            on_field(context, line, name_len, eq + 1, line_len - name_len - 1);
            at += line_len + 1;
            continue;
        }
        if (!valid_name(line, line_len)) return false;
        std::size_t value_at = at + line_len + 1;
        if (n - value_at < 8) return false;
        unsigned long long len = 0;
        for (int i = 7; i >= 0; --i)
            len = (len << 8) | static_cast<unsigned char>(data[value_at + static_cast<std::size_t>(i)]);
        value_at += 8;
        if (len > n - value_at || n - value_at - len < 1 || data[value_at + len] != '\n') return false;
        on_field(context, line, line_len, data + value_at, static_cast<std::size_t>(len));
        at = value_at + static_cast<std::size_t>(len) + 1;
    }
    return true;
}

} // namespace portshim::journal
