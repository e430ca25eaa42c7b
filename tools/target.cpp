// Parsing of CLI targets and numbers: strict, with one-line reasons, because a
// wrong port in a restart unit must fail loudly rather than check something else.
#include "target.hpp"

#include "diag/address.hpp"

#include <netinet/in.h>
#include <sys/un.h>

namespace portshim::cli {

namespace {

std::optional<unsigned long> parse_number(std::string_view text, unsigned long max) {
    if (text.empty() || text.size() > 10) return std::nullopt;
    unsigned long n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    if (n > max) return std::nullopt;
    return n;
}

} // namespace

std::optional<std::vector<std::string>> split_command_line(std::string_view text, std::string& error) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
            continue;
        }
        in_word = true;
        if (c == '\\' && i + 1 < text.size()) {
            word += text[++i];
            continue;
        }
        if (c != '\'' && c != '"') {
            word += c;
            continue;
        }
        std::size_t j = i + 1;
        for (; j < text.size() && text[j] != c; ++j) {
            // Inside "…" a backslash escapes only " \ $ `; inside '…' nothing.
            if (c == '"' && text[j] == '\\' && j + 1 < text.size() &&
                std::string_view("\"\\$`").find(text[j + 1]) != std::string_view::npos)
                ++j;
            word += text[j];
        }
        if (j >= text.size()) {
            error = "--for: an unterminated quote in the command line";
            return std::nullopt;
        }
        i = j;
    }
    if (in_word) words.push_back(std::move(word));
    if (words.empty()) {
        error = "--for needs a program";
        return std::nullopt;
    }
    return words;
}

std::optional<Target> parse_target(std::string_view text, bool udp, std::string& error) {
    Target t;
    if (text.substr(0, 5) == "unix:") {
        t.proto = Proto::unix_stream;
        t.unix_path = std::string(text.substr(5));
        if (t.unix_path.empty() || t.unix_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
            error = "unix:PATH needs a path shorter than 108 bytes";
            return std::nullopt;
        }
        if (t.unix_path[0] != '/' && t.unix_path[0] != '@') {
            error = "unix:PATH needs an absolute path or @abstract-name";
            return std::nullopt;
        }
        return t;
    }
    t.proto = udp ? Proto::udp : Proto::tcp;
    std::string_view address = "0.0.0.0";
    std::string_view port = text;
    if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        address = text.substr(0, colon);
        port = text.substr(colon + 1);
        const bool bracketed = address.size() >= 2 && address.front() == '[' && address.back() == ']';
        if (!bracketed && address.find(':') != std::string_view::npos) {
            error = "write IPv6 addresses in brackets: [::1]:PORT";
            return std::nullopt;
        }
    }
    const auto number = parse_number(port, 99999);
    if (!number) {
        error = "'" + std::string(port) + "' is not a port number";
        return std::nullopt;
    }
    if (*number < 1 || *number > 65535) {
        error = "port " + std::to_string(*number) + " is out of range (1-65535)";
        return std::nullopt;
    }
    const auto ep = parse_address(address, static_cast<std::uint16_t>(*number));
    if (!ep) {
        error = "'" + std::string(address) + "' is not an IPv4 or IPv6 address";
        return std::nullopt;
    }
    t.local = *ep;
    return t;
}

std::optional<unsigned> parse_seconds(std::string_view text) {
    const auto n = parse_number(text, 86400);
    if (!n) return std::nullopt;
    return static_cast<unsigned>(*n);
}

} // namespace portshim::cli
