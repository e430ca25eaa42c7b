// journald's native protocol (common/journal.hpp): both forms of a field, the
// bounds that keep an entry one whole datagram, field names, the decoder, and
// the JOURNAL_STREAM / PORTSHIM_LOG=journal configuration.
#include "common/config.hpp"
#include "common/journal.hpp"
#include "diag/report.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace portshim;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string bytes_of(const journal::Entry& e) {
    std::string out(e.size(), '\0');
    REQUIRE(e.flatten(out.data(), out.size()) == e.size());
    return out;
}

/** The decoder's view of a datagram; REQUIREs it to be well-formed. */
Pairs decoded(const std::string& d) {
    Pairs out;
    REQUIRE(journal::decode(d.data(), d.size(),
                            [](void* c, const char* n, std::size_t nl, const char* v, std::size_t vl) {
                                static_cast<Pairs*>(c)->emplace_back(std::string(n, nl), std::string(v, vl));
                            },
                            &out));
    return out;
}

std::map<std::string, std::string> g_env;
Config parse(std::map<std::string, std::string> env, ConfigErrors& errors) {
    g_env = std::move(env);
    errors = ConfigErrors{};
    return parse_config(
        [](const char* n) -> const char* {
            auto it = g_env.find(n);
            return it == g_env.end() ? nullptr : it->second.c_str();
        },
        false, errors);
}

} // namespace

TEST_CASE("journal entry: a plain value is NAME=value and a newline", "[journal]") {
    journal::Entry e;
    e.add("MESSAGE", "bind failed", 11);
    e.add("PORTSHIM_PORT", "8080", 4);
    CHECK(bytes_of(e) == "MESSAGE=bind failed\nPORTSHIM_PORT=8080\n");
    CHECK_FALSE(e.truncated());
}

TEST_CASE("journal entry: a value with a newline goes length-prefixed", "[journal]") {
    journal::Entry e;
    const std::string exe = "/srv/x\nPORTSHIM_CAUSE=forged";
    e.add("PORTSHIM_HOLDER_EXE", exe.data(), exe.size());
    std::string expected = "PORTSHIM_HOLDER_EXE\n";
    expected += static_cast<char>(exe.size());
    expected += std::string(7, '\0');
    expected += exe + "\n";
    CHECK(bytes_of(e) == expected);
    CHECK(decoded(bytes_of(e)) == Pairs{{"PORTSHIM_HOLDER_EXE", exe}});
}

TEST_CASE("journal entry: a value is cut to its bound at a UTF-8 boundary", "[journal]") {
    journal::Entry e;
    std::string long_value(journal::value_max - 1, 'a');
    long_value += "\xc3\xa9tail"; // "é" straddles the bound
    bool whole = true;
    const std::size_t kept = e.add("PORTSHIM_FIX", long_value.data(), long_value.size(), journal::value_max, &whole);
    CHECK_FALSE(whole);
    CHECK(kept == journal::value_max - 1);
    CHECK(e.truncated());
    const Pairs fields = decoded(bytes_of(e));
    REQUIRE(fields.size() == 1);
    CHECK(fields[0].second == std::string(journal::value_max - 1, 'a'));
}

TEST_CASE("journal entry: never larger than entry_max, and always whole", "[journal]") {
    journal::Entry e;
    const std::string big(journal::entry_max, 'x');
    e.add("MESSAGE", "headline", 8);
    e.add("PORTSHIM_REPORT", big.data(), big.size(), journal::entry_max);
    e.add("PORTSHIM_AFTER", "y", 1); // no room left: left out, not split
    CHECK(e.size() <= journal::entry_max);
    CHECK(e.truncated());
    const Pairs fields = decoded(bytes_of(e));
    REQUIRE(fields.size() == 2);
    CHECK(fields[0] == std::pair<std::string, std::string>{"MESSAGE", "headline"});
    CHECK(fields[1].first == "PORTSHIM_REPORT");
    CHECK(e.room_for("PORTSHIM_AFTER") == 0);
}

TEST_CASE("journal entry: at most fields_max fields", "[journal]") {
    journal::Entry e;
    for (int i = 0; i < journal::fields_max + 5; ++i) e.add("PORTSHIM_HOLDER_PID", "1", 1);
    CHECK(decoded(bytes_of(e)).size() == static_cast<std::size_t>(journal::fields_max));
    CHECK(e.truncated());
}

TEST_CASE("journal field names: what journald accepts from a client", "[journal]") {
    for (const char* ok : {"MESSAGE", "PORTSHIM_HOLDER_EXE", "A", "X9_"})
        CHECK(journal::valid_name(ok, std::strlen(ok)));
    for (const char* bad : {"", "_PID", "9LIVES", "message", "PORTSHIM-X", "A=B"})
        CHECK_FALSE(journal::valid_name(bad, std::strlen(bad)));
    const std::string longest(64, 'A'), too_long(65, 'A');
    CHECK(journal::valid_name(longest.data(), longest.size()));
    CHECK_FALSE(journal::valid_name(too_long.data(), too_long.size()));
    journal::Entry e;
    CHECK(e.add("_PID", "1", 1) == 0); // a trusted field cannot be forged
    CHECK(e.size() == 0);
}

TEST_CASE("journal decoder: refuses what is no native entry", "[journal]") {
    auto ok = [](const std::string& d) {
        return journal::decode(d.data(), d.size(), [](void*, const char*, std::size_t, const char*, std::size_t) {},
                               nullptr);
    };
    CHECK(ok("A=1\nB=2\n"));
    CHECK_FALSE(ok("A=1"));                            // no final newline
    CHECK_FALSE(ok("A\n\x05\0\0\0\0\0\0\0ab\n"));      // length past the end
    CHECK_FALSE(ok(std::string("A\n\x01\0\0\0\0\0\0\0xy", 12))); // no newline after the value
    CHECK_FALSE(ok("lower=1\n"));
    CHECK_FALSE(ok("\n"));
}

TEST_CASE("journal config: PORTSHIM_LOG=journal and JOURNAL_STREAM", "[journal][config]") {
    ConfigErrors errors;
    CHECK(parse({{"PORTSHIM_LOG", "journal"}}, errors).sink == Sink::journal);
    CHECK(errors.count == 0);
    CHECK(parse({{"PORTSHIM_LOG", "journald"}}, errors).sink == Sink::stderr_);
    REQUIRE(errors.count == 1);
    CHECK(config_error_message(errors.items[0]) ==
          "PORTSHIM_LOG=\"journald\" is not valid (stderr, syslog, journal or an absolute file path); "
          "using the default");
    Config c = parse({{"JOURNAL_STREAM", "64770:1234567"}}, errors);
    CHECK(c.journal_stream);
    CHECK(c.journal_dev == 64770);
    CHECK(c.journal_ino == 1234567);
    CHECK(c.sink == Sink::stderr_);
    CHECK_FALSE(c.stderr_asked);
    for (const char* bad : {"", "12", "12:", ":34", "a:b", "1:2:3", "99999999999999999999:1"}) {
        INFO(bad);
        CHECK_FALSE(parse({{"JOURNAL_STREAM", bad}}, errors).journal_stream);
        CHECK(errors.count == 0); // systemd's variable, not the user's mistake
    }
}
