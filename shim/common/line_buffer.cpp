// See line_buffer.hpp. Every function here is plain arithmetic on the
// caller's buffer plus clock_gettime(2), which POSIX lists as async-signal-safe.
#include "line_buffer.hpp"

#include "escape.hpp"
#include "markup.hpp"

#include <climits>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <sys/auxv.h>
#include <unistd.h>

namespace portshim {

namespace {

const char hex_digits[] = "0123456789abcdef";

/** Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
void civil_from_days(long long days, long long& year, unsigned& month, unsigned& day) {
    days += 719468;
    const long long era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    day = doy - (153 * mp + 2) / 5 + 1;
    month = mp < 10 ? mp + 3 : mp - 9;
    year = static_cast<long long>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

void put_padded(LineBuffer& out, unsigned long long value, int width) {
    char digits[24];
    int n = 0;
    do digits[n++] = static_cast<char>('0' + value % 10); while ((value /= 10) != 0 && n < 20);
    while (n < width) digits[n++] = '0';
    while (n > 0) out.put(digits[--n]);
}

void put_ipv4(LineBuffer& out, const unsigned char* b) {
    for (int i = 0; i < 4; ++i) {
        if (i != 0) out.put('.');
        out.put_uint(b[i]);
    }
}

void put_ipv6(LineBuffer& out, const unsigned char* b) {
    unsigned words[8];
    for (int i = 0; i < 8; ++i) words[i] = static_cast<unsigned>(b[2 * i] << 8 | b[2 * i + 1]);
    // RFC 5952 4.2: the longest run of two or more zero groups becomes "::" (the first on a tie).
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (words[i] != 0) { ++i; continue; }
        int j = i;
        while (j < 8 && words[j] == 0) ++j;
        if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
        i = j;
    }
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out.put(i == 0 ? "::" : ":");
            i += best_len - 1;
            continue;
        }
        // As inet_ntop(3): an IPv4-mapped (::ffff:a.b.c.d) or -compatible tail in dotted form.
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            put_ipv4(out, b + 12);
            return;
        }
        char group[5];
        int n = 0;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned nibble = (words[i] >> shift) & 0xf;
            if (n == 0 && nibble == 0 && shift != 0) continue;
            group[n++] = hex_digits[nibble];
        }
        out.put(group, static_cast<std::size_t>(n));
        if (i != 7) out.put(':');
    }
}

} // namespace

LineBuffer& LineBuffer::put(const char* text, std::size_t n) noexcept {
    if (text == nullptr) return *this;
    for (std::size_t i = 0; i < n; ++i) put(text[i]);
    return *this;
}

LineBuffer& LineBuffer::put(const char* text) noexcept {
    return text == nullptr ? *this : put(text, std::strlen(text));
}

LineBuffer& LineBuffer::put(char c) noexcept { return put_whole(&c, 1); }

LineBuffer& LineBuffer::put_whole(const char* text, std::size_t n) noexcept {
    const auto escaped = [this](char c) {
        return escape_ == Escape::none ? nullptr
                                       : markup::github_escape(c, escape_ == Escape::github_property);
    };
    std::size_t need = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char* e = escaped(text[i]);
        need += e != nullptr ? std::strlen(e) : 1;
    }
    // One byte kept for end_line's '\n'. Nothing after a piece that did not
    // fit is written either: the text stays a prefix.
    if (truncated_ || len_ + need >= cap_) {
        if (!truncated_ && n > 0) len_ = escape::utf8_cut(data_, len_, text[0]);
        truncated_ = true;
        return *this;
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (const char* e = escaped(text[i])) {
            std::memcpy(data_ + len_, e, std::strlen(e));
            len_ += std::strlen(e);
        } else {
            data_[len_++] = text[i];
        }
    }
    return *this;
}

LineBuffer& LineBuffer::put_visible(const char* text, std::size_t n) noexcept {
    if (text == nullptr) return *this;
    for (std::size_t i = 0; i < n;) {
        const escape::Piece p = escape::text_piece(text + i, n - i);
        put_whole(p.data(text + i), p.size);
        i += p.consumed;
    }
    return *this;
}

LineBuffer& LineBuffer::put_visible(const char* text) noexcept {
    return text == nullptr ? *this : put_visible(text, std::strlen(text));
}

LineBuffer& LineBuffer::put_uint(unsigned long long value) noexcept {
    put_padded(*this, value, 1);
    return *this;
}

LineBuffer& LineBuffer::put_int(long long value) noexcept {
    if (value < 0) {
        put('-');
        return put_uint(0ULL - static_cast<unsigned long long>(value));
    }
    return put_uint(static_cast<unsigned long long>(value));
}

LineBuffer& LineBuffer::put_json(const char* text) noexcept {
    put('"');
    const char* s = text != nullptr ? text : "";
    for (std::size_t i = 0, n = std::strlen(s); i < n;) {
        const escape::Piece p = escape::json_piece(s + i, n - i);
        put_whole(p.data(s + i), p.size);
        i += p.consumed;
    }
    return put('"');
}

LineBuffer& LineBuffer::put_time_now() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const long long secs = now.tv_sec;
    long long days = secs / 86400, rem = secs % 86400;
    if (rem < 0) rem += 86400, --days;
    long long year = 0;
    unsigned month = 0, day = 0;
    civil_from_days(days, year, month, day);
    put_padded(*this, static_cast<unsigned long long>(year), 4);
    put('-'), put_padded(*this, month, 2), put('-'), put_padded(*this, day, 2);
    put('T'), put_padded(*this, static_cast<unsigned long long>(rem / 3600), 2);
    put(':'), put_padded(*this, static_cast<unsigned long long>(rem / 60 % 60), 2);
    put(':'), put_padded(*this, static_cast<unsigned long long>(rem % 60), 2);
    put('.'), put_padded(*this, static_cast<unsigned long long>(now.tv_nsec / 1000000), 3);
    return put('Z');
}

LineBuffer& LineBuffer::put_address(const sockaddr* addr) noexcept {
    if (addr->sa_family == AF_INET) {
        put_ipv4(*this, reinterpret_cast<const unsigned char*>(
                            &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr));
    } else if (addr->sa_family == AF_INET6) {
        put_ipv6(*this, reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr);
    }
    return *this;
}

LineBuffer& LineBuffer::end_line() noexcept {
    if (cap_ == 0) return *this;
    if (len_ >= cap_) len_ = cap_ - 1;
    data_[len_++] = '\n';
    return *this;
}

namespace {
int g_subject_pid = 0; // set_subject_pid; zero, so it stays in .bss
} // namespace

void set_subject_pid(int pid) noexcept { __atomic_store_n(&g_subject_pid, pid, __ATOMIC_RELAXED); }

int subject_pid() noexcept {
    const int pid = __atomic_load_n(&g_subject_pid, __ATOMIC_RELAXED);
    return pid != 0 ? pid : static_cast<int>(::getpid());
}

void put_json_event_head(LineBuffer& out, const char* event, bool no_syscalls, int pid) noexcept {
    out.put("{\"event\":\"").put(event).put("\",\"time\":\"").put_time_now();
    out.put("\",\"pid\":").put_int(pid != 0 ? pid : subject_pid()).put(",\"exe\":");
    if (no_syscalls) {
        // Straight from the aux vector: no copy on a stack that may be small.
        const auto* execfn = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
        out.put_json(execfn != nullptr ? execfn : "");
        return;
    }
    char exe[PATH_MAX];
    char link_storage[32] = "/proc/self/exe";
    if (const int subject = __atomic_load_n(&g_subject_pid, __ATOMIC_RELAXED); subject != 0) {
        LineBuffer link(link_storage, sizeof link_storage - 1);
        link.put("/proc/").put_int(subject).put("/exe");
        link_storage[link.size()] = '\0';
    }
    const ssize_t n = ::readlink(link_storage, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    out.put_json(exe);
}

} // namespace portshim
