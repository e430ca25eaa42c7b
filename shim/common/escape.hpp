// How bytes from outside the failing process (a holder's exe, argv and comm,
// cgroup paths, unix paths, command lines) are written: visibly escaped in
// text, valid UTF-8 in JSON, cut only at sequence boundaries, and JSON lines
// shortened to fit a datagram (DESIGN.md rule 11). Plain arithmetic on the
// caller's buffers: no allocation, no locks, async-signal-safe, so the hooks'
// LineBuffer and the engine's renderers share this one routine.
#pragma once

#include <cstddef>
#include <cstdint>

namespace portshim::escape {

/**
 * How one unit of the input (a byte, or one UTF-8 sequence) is written.
 * raw: the consumed input bytes themselves; else the `text` bytes.
 */
struct Piece {
    std::size_t consumed = 1;         ///< input bytes this piece stands for, at least 1
    std::size_t size = 0;             ///< output bytes
    bool raw = false;
    char text[8] = {};

    const char* data(const char* input) const noexcept { return raw ? input : text; }
};

/**
 * Text (and annotations): printable characters and valid UTF-8 as they are;
 * "\n", "\r", "\t"; other C0 bytes, DEL and bytes that are not valid UTF-8 as
 * "\xNN"; C1 controls (U+0080-U+009F), the bidi embeddings, overrides,
 * isolates and marks (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)
 * and the line/paragraph separators (U+2028, U+2029) as "\uNNNN". So no value
 * can start a line, drive a terminal or reorder what is shown. `s` has n >= 1 bytes.
 */
Piece text_piece(const char* s, std::size_t n) noexcept;

/**
 * Inside a JSON string literal (RFC 8259): '"' and '\' escaped, "\n", "\r",
 * "\t", other controls and DEL as "\u00NN", the characters text_piece escapes
 * as "\uNNNN" (still the same string once parsed), and whatever is not strict
 * UTF-8 (RFC 3629: overlong forms, surrogates, code points above U+10FFFF,
 * stray or missing continuation bytes) as U+FFFD. `s` has n >= 1 bytes.
 */
Piece json_piece(const char* s, std::size_t n) noexcept;

/**
 * Whether s[0..n) is one word of a POSIX shell command line as it is: not
 * empty, and only letters, digits and "_@%+=:,./-", which no shell treats
 * specially. Anything else is single-quoted (detail::shell_quote, and the
 * hooks' undiagnosed line).
 */
bool shell_plain(const char* s, std::size_t n) noexcept;

/** Length of the strict UTF-8 sequence at s[0..n), 0 when there is none. */
std::size_t utf8_sequence(const char* s, std::size_t n) noexcept;

/**
 * Where to end s[0..len) when the byte `next` after it is left out: before
 * the UTF-8 sequence `next` would continue, else at len.
 */
std::size_t utf8_cut(const char* s, std::size_t len, char next) noexcept;

/** The longest prefix of s[0..n), at most `max` bytes, that does not end inside a UTF-8 sequence. */
std::size_t utf8_prefix(const char* s, std::size_t n, std::size_t max) noexcept;

/**
 * Copies the JSON text in[0..n) (one value; blanks between tokens dropped)
 * into out[0..size) so that it fits: first the longest string values are
 * shortened, all to the same length, at UTF-8 and escape boundaries and
 * marked with "…"; only if the value still does not fit with every string
 * empty, trailing array elements are dropped too. Keys, numbers and the
 * structure are never touched, so valid JSON stays valid JSON. Returns the
 * bytes written; 0 when `in` is not JSON it can walk (deeper than 16 levels,
 * say) or it cannot fit at all.
 */
std::size_t json_fit(const char* in, std::size_t n, char* out, std::size_t size) noexcept;

} // namespace portshim::escape
