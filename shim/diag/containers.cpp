// Container forwarders: which runtime a holder belongs to (by its executable
// or comm), and the published mapping its command line shows. Pure parsing.
#include "containers.hpp"

#include "identity.hpp"

#include <fmt/format.h>
#include <string_view>
#include <tuple>
#include <vector>

namespace portshim {

Runtime container_runtime(const Holder& h) {
    struct Known {
        std::string_view name;
        Runtime runtime;
        bool prefix; ///< also names that start with it: containerd-shim-runc-v2, pasta.avx2
    };
    static constexpr Known known[] = {
        {"docker-proxy", Runtime::docker, false},
        {"dockerd", Runtime::docker, false},
        {"rootlesskit", Runtime::docker, false},
        {"containerd-shim", Runtime::containerd, true},
        {"containers-rootlessport", Runtime::podman, false},
        {"rootlessport", Runtime::podman, false},
        {"conmon", Runtime::podman, false},
        {"pasta", Runtime::podman, false},
        {"pasta.", Runtime::podman, true},
        {"slirp4netns", Runtime::podman, false},
    };
    const std::string_view exe = program_name(h.exe);
    const std::string_view comm = h.comm;
    for (const Known& k : known) {
        // comm is cut to 15 characters: "containers-rootlessport" reads "containers-root".
        if (exe == k.name || (!comm.empty() && comm == k.name.substr(0, 15))) return k.runtime;
        if (k.prefix && (exe.substr(0, k.name.size()) == k.name ||
                         comm.substr(0, k.name.size()) == k.name))
            return k.runtime;
    }
    return Runtime::none;
}

namespace {

/** A Go-style flag's value: "-name V", "--name V", "-name=V" or "--name=V". */
std::vector<std::string> flag_values(const std::vector<std::string>& argv, std::string_view name) {
    std::vector<std::string> out;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        std::string_view a = argv[i];
        if (a.size() < 2 || a[0] != '-') continue;
        a.remove_prefix(a[1] == '-' ? 2 : 1);
        if (a == name && i + 1 < argv.size()) out.push_back(argv[++i]);
        else if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=')
            out.emplace_back(a.substr(name.size() + 1));
    }
    return out;
}

std::string first_flag(const std::vector<std::string>& argv, std::string_view name) {
    auto values = flag_values(argv, name);
    return values.empty() ? std::string() : values.front();
}

std::string host_port(const std::string& ip, const std::string& port) {
    return ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", ip, port)
                                            : fmt::format("{}:{}", ip, port);
}

} // namespace

std::string published_mapping(const Holder& h) {
    const std::string host = first_flag(h.argv, "host-port");
    if (!host.empty()) { // docker-proxy
        std::string proto = first_flag(h.argv, "proto");
        std::string host_ip = first_flag(h.argv, "host-ip");
        return fmt::format("{} {} -> {}", proto.empty() ? "tcp" : proto,
                           host_port(host_ip.empty() ? "0.0.0.0" : host_ip, host),
                           host_port(first_flag(h.argv, "container-ip"),
                                     first_flag(h.argv, "container-port")));
    }
    std::string ports; // pasta -t/-u SPEC
    for (const auto& [flag, long_flag, proto] :
         {std::tuple{"t", "tcp-ports", "tcp"}, std::tuple{"u", "udp-ports", "udp"}}) {
        for (std::string_view f : {flag, long_flag})
            for (const std::string& spec : flag_values(h.argv, f))
                if (spec != "none" && spec != "auto")
                    ports += fmt::format("{}{} {}", ports.empty() ? "" : ", ", proto, spec);
    }
    if (!ports.empty()) return "ports " + ports;
    const std::string name = first_flag(h.argv, "name"); // conmon --name / -n
    if (!name.empty()) return "container " + name;
    const std::string short_name = first_flag(h.argv, "n");
    return short_name.empty() ? std::string() : "container " + short_name;
}

const char* runtime_name(Runtime runtime) {
    return runtime == Runtime::docker       ? "docker"
           : runtime == Runtime::containerd ? "containerd"
                                            : "podman";
}

} // namespace portshim
