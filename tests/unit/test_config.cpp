// PORTSHIM_* parsing: defaults, every accepted value, and one message per bad value.
#include "common/config.hpp"
#include "fixtures.hpp"
#include "diag/report.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>
#include <unistd.h>

using namespace portshim;
using portshim::fixtures::in_child;

namespace {
std::map<std::string, std::string> g_env;
const char* fake_getenv(const char* name) {
    auto it = g_env.find(name);
    return it == g_env.end() ? nullptr : it->second.c_str();
}
/** Parses `env`; the errors come back as the messages the library would print. */
Config parse(std::map<std::string, std::string> env, std::vector<std::string>& errors,
             bool secure = false) {
    g_env = std::move(env);
    ConfigErrors found;
    const Config c = parse_config(&fake_getenv, secure, found);
    for (int i = 0; i < found.count; ++i) errors.push_back(config_error_message(found.items[i]));
    return c;
}

/**
 * The state_dir a user who is not root gets from `env`: parsed in a child that
 * drops to uid 65534 first when the tests run as root (root's default differs).
 */
std::string user_state_dir(std::map<std::string, std::string> env, bool secure = false) {
    auto state_dir = [env = std::move(env), secure]() mutable {
        std::vector<std::string> errors;
        return std::string(parse(std::move(env), errors, secure).state_dir);
    };
    if (::geteuid() != 0) return state_dir();
    return in_child([&] {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(2);
        return state_dir();
    });
}
} // namespace

TEST_CASE("no variables: the documented defaults", "[config]") {
    std::vector<std::string> errors;
    const Config c = parse({}, errors);
    CHECK(errors.empty());
    CHECK(c.format == Format::text);
    CHECK(c.level == Level::info);
    CHECK(c.sink == Sink::stderr_);
    CHECK_FALSE(c.reuseaddr);
    CHECK_FALSE(c.cloexec);
    CHECK(c.wait_seconds == 0);
    CHECK(c.backtrace);
    // No XDG_RUNTIME_DIR here: a registry for root only.
    CHECK(std::string(c.state_dir) == (::geteuid() == 0 ? "/run/portshim" : ""));
}

TEST_CASE("valid values are taken", "[config]") {
    std::vector<std::string> errors;
    const Config c = parse({{"PORTSHIM_FORMAT", "json"},
                            {"PORTSHIM_LEVEL", "debug"},
                            {"PORTSHIM_LOG", "/var/log/portshim.log"},
                            {"PORTSHIM_REUSEADDR", "1"},
                            {"PORTSHIM_CLOEXEC", "yes"},
                            {"PORTSHIM_WAIT", "30"},
                            {"PORTSHIM_BACKTRACE", "0"},
                            {"PORTSHIM_STATE_DIR", "/run/user/1000/portshim"}},
                           errors);
    CHECK(errors.empty());
    CHECK(c.format == Format::json);
    CHECK(c.level == Level::debug);
    CHECK(c.sink == Sink::file);
    CHECK(std::string(c.log_path) == "/var/log/portshim.log");
    CHECK(c.reuseaddr);
    CHECK(c.cloexec);
    CHECK(c.wait_seconds == 30);
    CHECK_FALSE(c.backtrace);
    CHECK(std::string(c.state_dir) == "/run/user/1000/portshim");
    CHECK(parse({{"PORTSHIM_LOG", "syslog"}}, errors).sink == Sink::syslog);
    CHECK(parse({{"PORTSHIM_FORMAT", "github"}}, errors).format == Format::github);
}

TEST_CASE("each bad value gives one message naming it, and the default", "[config]") {
    std::vector<std::string> errors;
    const Config c = parse({{"PORTSHIM_FORMAT", "xml"},
                            {"PORTSHIM_LEVEL", "loud"},
                            {"PORTSHIM_REUSEADDR", "maybe"},
                            {"PORTSHIM_WAIT", "-5"},
                            {"PORTSHIM_LOG", "relative/path"}},
                           errors);
    REQUIRE(errors.size() == 5);
    CHECK(c.format == Format::text);
    CHECK(c.level == Level::info);
    CHECK_FALSE(c.reuseaddr);
    CHECK(c.wait_seconds == 0);
    CHECK(c.sink == Sink::stderr_);
    CHECK(errors[0] == "PORTSHIM_FORMAT=\"xml\" is not valid (text, json or github); using the default");
    for (const char* bad : {"abc", "10s", "99999", ""}) {
        errors.clear();
        CHECK(parse({{"PORTSHIM_WAIT", bad}}, errors).wait_seconds == 0);
        CHECK(errors.size() == 1);
    }
}

TEST_CASE("secure execution ignores paths from the environment", "[config]") {
    std::vector<std::string> errors;
    const Config c = parse({{"PORTSHIM_LOG", "/tmp/x.log"}, {"PORTSHIM_STATE_DIR", "/tmp/s"}},
                           errors, true);
    CHECK(c.sink == Sink::stderr_);
    CHECK(c.log_path[0] == '\0');
    CHECK(c.state_dir[0] == '\0');
    REQUIRE(errors.size() == 2);
    CHECK(errors[0] == "PORTSHIM_LOG ignored under secure execution (setuid/setgid): paths from "
                       "the environment are not trusted there");
}

TEST_CASE("the registry's default: XDG_RUNTIME_DIR for users, /run/portshim for root", "[config]") {
    CHECK(user_state_dir({{"XDG_RUNTIME_DIR", "/run/user/1000"}}) == "/run/user/1000/portshim");
    CHECK(user_state_dir({}).empty());                                   // no XDG_RUNTIME_DIR
    CHECK(user_state_dir({{"XDG_RUNTIME_DIR", "run/user/1000"}}).empty()); // relative: ignored
    CHECK(user_state_dir({{"XDG_RUNTIME_DIR", ""}}).empty());
    CHECK(user_state_dir({{"XDG_RUNTIME_DIR", "/" + std::string(600, 'a')}}).empty());
    CHECK(user_state_dir({{"XDG_RUNTIME_DIR", "/run/user/1000"},
                          {"PORTSHIM_STATE_DIR", "/srv/state"}}) == "/srv/state");
    // Secure execution: no registry at all, whoever runs it.
    CHECK(user_state_dir({{"XDG_RUNTIME_DIR", "/run/user/1000"}}, true).empty());
    std::vector<std::string> errors;
    CHECK(parse({{"XDG_RUNTIME_DIR", "/run/user/0"}}, errors, true).state_dir[0] == '\0');
    if (::geteuid() == 0) {
        CHECK(std::string(parse({{"XDG_RUNTIME_DIR", "/run/user/0"}}, errors).state_dir) ==
              "/run/portshim");
    }
}

TEST_CASE("an over-long log path is refused, not truncated", "[config]") {
    std::vector<std::string> errors;
    const Config c = parse({{"PORTSHIM_LOG", "/" + std::string(600, 'a')}}, errors);
    CHECK(c.sink == Sink::stderr_);
    CHECK(errors.size() == 1);
}
