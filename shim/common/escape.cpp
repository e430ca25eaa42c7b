// See escape.hpp. Built into portshim_common, which both the hooks library and
// the engine link: one decoder, one set of escapes, no second copy to drift.
#include "escape.hpp"

#include <cstring>

namespace portshim::escape {

namespace {

const char hex_digits[] = "0123456789abcdef";

bool continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

struct Decoded {
    std::uint32_t cp = 0;
    std::size_t len = 0;              ///< 0: not strict UTF-8
};

/**
 * RFC 3629 section 4: the second byte's range depends on the first, which is
 * what excludes overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates
 * (ED A0-BF) and code points above U+10FFFF (F4 90-BF, F5-FF).
 */
Decoded decode(const unsigned char* s, std::size_t n) {
    const unsigned char c = s[0];
    if (c < 0x80) return {c, 1};
    std::size_t len = 0;
    std::uint32_t cp = 0;
    unsigned char low = 0x80, high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1fU;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0fU;
        if (c == 0xe0) low = 0xa0;
        if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07U;
        if (c == 0xf0) low = 0x90;
        if (c == 0xf4) high = 0x8f;
    } else {
        return {};
    }
    if (n < len) return {};
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char b = s[k];
        if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xbf)) return {};
        cp = cp << 6 | (b & 0x3fU);
    }
    return {cp, len};
}

/** Valid characters that control a terminal or the direction and lines of what is shown. */
bool shown_escaped(std::uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c ||
           cp == 0x2028 || cp == 0x2029;
}

Piece as_is(std::size_t len) {
    Piece p;
    p.consumed = len, p.size = len, p.raw = true;
    return p;
}

Piece replaced(const char* text, std::size_t consumed) {
    Piece p;
    p.consumed = consumed;
    p.size = std::strlen(text);
    std::memcpy(p.text, text, p.size);
    return p;
}

/** "\xNN" (x = 'x') or "\u00NN"-style "\uNNNN" (x = 'u'), standing for `consumed` bytes. */
Piece hex_escape(char x, std::uint32_t value, std::size_t consumed) {
    Piece p;
    p.consumed = consumed;
    const int digits = x == 'x' ? 2 : 4;
    p.text[0] = '\\', p.text[1] = x;
    for (int i = 0; i < digits; ++i)
        p.text[2 + i] = hex_digits[(value >> (4 * (digits - 1 - i))) & 0xf];
    p.size = static_cast<std::size_t>(2 + digits);
    return p;
}

const char* short_escape(unsigned char c) {
    switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return nullptr;
    }
}

} // namespace

bool shell_plain(const char* s, std::size_t n) noexcept {
    if (n == 0) return false;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::strchr("_@%+=:,./-", c) != nullptr) || c == '\0')
            return false;
    }
    return true;
}

std::size_t utf8_sequence(const char* s, std::size_t n) noexcept {
    return n == 0 ? 0 : decode(reinterpret_cast<const unsigned char*>(s), n).len;
}

Piece text_piece(const char* s, std::size_t n) noexcept {
    const auto c = static_cast<unsigned char>(s[0]);
    if (c >= 0x20 && c < 0x7f) return as_is(1);
    if (const char* e = short_escape(c)) return replaced(e, 1);
    const Decoded d = decode(reinterpret_cast<const unsigned char*>(s), n);
    if (d.len == 0 || d.cp < 0x20 || d.cp == 0x7f) return hex_escape('x', c, 1);
    if (shown_escaped(d.cp)) return hex_escape('u', d.cp, d.len);
    return as_is(d.len);
}

Piece json_piece(const char* s, std::size_t n) noexcept {
    const auto c = static_cast<unsigned char>(s[0]);
    if (c == '"') return replaced("\\\"", 1);
    if (c == '\\') return replaced("\\\\", 1);
    if (c >= 0x20 && c < 0x7f) return as_is(1);
    if (const char* e = short_escape(c)) return replaced(e, 1);
    if (c < 0x20 || c == 0x7f) return hex_escape('u', c, 1);
    const Decoded d = decode(reinterpret_cast<const unsigned char*>(s), n);
    if (d.len == 0) return replaced("\xef\xbf\xbd", 1); // U+FFFD: paths are bytes, JSON is UTF-8
    if (shown_escaped(d.cp)) return hex_escape('u', d.cp, d.len);
    return as_is(d.len);
}

std::size_t utf8_cut(const char* s, std::size_t len, char next) noexcept {
    if (!continuation(static_cast<unsigned char>(next))) return len;
    // `next` continues a sequence: back up over its other continuation bytes
    // to the lead byte, and leave the lead out too.
    std::size_t cut = len;
    for (int back = 0; cut > 0 && back < 3 && continuation(static_cast<unsigned char>(s[cut - 1])); ++back)
        --cut;
    return cut > 0 && static_cast<unsigned char>(s[cut - 1]) >= 0xc0 ? cut - 1 : cut;
}

std::size_t utf8_prefix(const char* s, std::size_t n, std::size_t max) noexcept {
    return max >= n ? n : utf8_cut(s, max, s[max]);
}

// ---- json_fit ----

namespace {

constexpr std::size_t unlimited = static_cast<std::size_t>(-1);
constexpr std::size_t failed = static_cast<std::size_t>(-1);
constexpr int max_depth = 16;            // portshim's events nest 3 deep
constexpr char ellipsis[] = "\xe2\x80\xa6"; // "…"

struct Limits {
    std::size_t items = unlimited;    ///< elements kept per array
    std::size_t string = unlimited;   ///< bytes of a string value's content, "…" included
};

/** Counts what would be written; copies it when `out` is set. */
struct Writer {
    char* out = nullptr;
    std::size_t size = 0;
    std::size_t len = 0;
    bool muted = false;               ///< inside a dropped array element

    void put(const char* p, std::size_t n) {
        if (muted) return;
        if (out != nullptr && len + n <= size) std::memcpy(out + len, p, n);
        len += n;
    }
};

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

unsigned hex4(const char* s) {
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
        const char c = s[i];
        v = v << 4 | static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

bool is_u_escape(const char* in, std::size_t i, std::size_t n) {
    return i + 6 <= n && in[i] == '\\' && in[i + 1] == 'u' && is_hex(in[i + 2]) && is_hex(in[i + 3]) &&
           is_hex(in[i + 4]) && is_hex(in[i + 5]);
}

/**
 * Bytes of the unit at in[i] inside a string literal: an escape (a surrogate
 * pair as one), or a character with its continuation bytes; 0 when the
 * literal is not JSON (a raw control character, a bad escape).
 */
std::size_t string_unit(const char* in, std::size_t i, std::size_t n) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c == '\\') {
        if (is_u_escape(in, i, n)) {
            const unsigned v = hex4(in + i + 2);
            if (v >= 0xd800 && v <= 0xdbff && is_u_escape(in, i + 6, n)) {
                const unsigned low = hex4(in + i + 8);
                if (low >= 0xdc00 && low <= 0xdfff) return 12;
            }
            return 6;
        }
        if (i + 1 < n && std::strchr("\"\\/bfnrt", in[i + 1]) != nullptr && in[i + 1] != '\0') return 2;
        return 0;
    }
    if (c < 0x20) return 0;
    std::size_t k = 1;
    if (c >= 0x80)
        while (k < 4 && i + k < n && continuation(static_cast<unsigned char>(in[i + k]))) ++k;
    return k;
}

bool is_scalar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '+' || c == '.';
}

enum class Want : unsigned char { value, value_or_close, key, key_or_close, colon, comma_or_close, nothing };

/** One pass: the bytes json_fit writes under `lim`, or `failed` when `in` is not walkable JSON. */
std::size_t walk(const char* in, std::size_t n, const Limits& lim, Writer& w) {
    struct Level {
        bool array;
        std::size_t items;
    };
    Level stack[max_depth];
    int depth = 0;
    int dropping = -1;                // the depth of the array whose element is left out
    Want want = Want::value;
    const auto begin_value = [&] {
        if (depth == 0 || !stack[depth - 1].array) return;
        const std::size_t index = stack[depth - 1].items++;
        if (dropping < 0 && index >= lim.items) {
            dropping = depth;
            w.muted = true;
        } else if (index > 0) {
            w.put(",", 1); // the array's commas are written with the element they precede
        }
    };
    const auto end_value = [&] {
        if (dropping == depth) {
            dropping = -1;
            w.muted = false;
        }
        want = depth == 0 ? Want::nothing : Want::comma_or_close;
    };
    for (std::size_t i = 0; i < n;) {
        const char c = in[i];
        const bool value = want == Want::value || want == Want::value_or_close;
        const bool key = want == Want::key || want == Want::key_or_close;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++i;
        } else if (c == '{' || c == '[') {
            if (!value || depth == max_depth) return failed;
            begin_value();
            w.put(&c, 1);
            stack[depth++] = Level{c == '[', 0};
            want = c == '[' ? Want::value_or_close : Want::key_or_close;
            ++i;
        } else if (c == '}' || c == ']') {
            const bool array = c == ']';
            if (depth == 0 || stack[depth - 1].array != array ||
                (want != Want::comma_or_close && want != (array ? Want::value_or_close : Want::key_or_close)))
                return failed;
            --depth;
            w.put(&c, 1);
            end_value();
            ++i;
        } else if (c == ',') {
            if (want != Want::comma_or_close) return failed;
            if (stack[depth - 1].array) {
                want = Want::value;
            } else {
                w.put(",", 1);
                want = Want::key;
            }
            ++i;
        } else if (c == ':') {
            if (want != Want::colon) return failed;
            w.put(":", 1);
            want = Want::value;
            ++i;
        } else if (c == '"') {
            if (!value && !key) return failed;
            const std::size_t start = i + 1;
            std::size_t end = start;
            while (end < n && in[end] != '"') {
                const std::size_t unit = string_unit(in, end, n);
                if (unit == 0) return failed;
                end += unit;
            }
            if (end >= n) return failed;
            const std::size_t length = end - start;
            if (key || length <= lim.string) {
                if (value) begin_value();
                w.put(in + i, length + 2);
            } else {
                begin_value();
                const std::size_t room = lim.string >= sizeof ellipsis - 1 ? lim.string - (sizeof ellipsis - 1) : 0;
                std::size_t kept = 0;
                for (std::size_t unit; kept < length && kept + (unit = string_unit(in, start + kept, n)) <= room;)
                    kept += unit;
                w.put("\"", 1);
                w.put(in + start, kept);
                if (lim.string >= sizeof ellipsis - 1) w.put(ellipsis, sizeof ellipsis - 1);
                w.put("\"", 1);
            }
            if (key) want = Want::colon;
            else end_value();
            i = end + 1;
        } else if (is_scalar(c)) {
            if (!value) return failed;
            std::size_t end = i;
            while (end < n && is_scalar(in[end])) ++end;
            begin_value();
            w.put(in + i, end - i);
            end_value();
            i = end;
        } else {
            return failed;
        }
    }
    return want == Want::nothing ? w.len : failed;
}

std::size_t measure(const char* in, std::size_t n, const Limits& lim) {
    Writer w;
    return walk(in, n, lim, w);
}

/** The largest x in [low, high] for which fits(x), given fits(low) and that fits only turns false as x grows. */
template <class Fits>
std::size_t largest(std::size_t low, std::size_t high, const Fits& fits) {
    while (low < high) {
        const std::size_t mid = low + (high - low + 1) / 2;
        if (fits(mid)) low = mid;
        else high = mid - 1;
    }
    return low;
}

} // namespace

std::size_t json_fit(const char* in, std::size_t n, char* out, std::size_t size) noexcept {
    if (in == nullptr || out == nullptr) return 0;
    Limits lim;
    const std::size_t whole = measure(in, n, lim);
    if (whole == failed) return 0;
    if (whole > size) {
        const auto fits = [&](std::size_t items, std::size_t string) {
            return measure(in, n, Limits{items, string}) <= size;
        };
        // Strings first, all cut to one length; only when even empty strings do
        // not fit are trailing elements dropped, keeping a few bytes of each string.
        std::size_t floor = 0;
        if (!fits(unlimited, 0)) {
            floor = fits(0, 48) ? 48 : 0;
            if (!fits(0, floor)) return 0;
            lim.items = largest(0, n, [&](std::size_t items) { return fits(items, floor); });
        }
        lim.string = largest(floor, n, [&](std::size_t string) { return fits(lim.items, string); });
    }
    Writer w{out, size};
    const std::size_t written = walk(in, n, lim, w);
    return written <= size ? written : 0;
}

} // namespace portshim::escape
