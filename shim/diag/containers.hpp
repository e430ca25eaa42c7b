// Container forwarders: which runtime a holder belongs to, and the published
// mapping its command line shows. Pure parsing of exe, comm and argv.
#pragma once

#include "types.hpp"

#include <cstdint>
#include <string>

namespace portshim {

/** Container runtimes whose forwarders hold published host ports. */
enum class Runtime : std::uint8_t { none, docker, containerd, podman };

/** The runtime whose forwarder `h` is (docker-proxy, conmon, pasta, ...); none for other programs. */
Runtime container_runtime(const Holder& h);

/** "docker", "containerd" or "podman". */
const char* runtime_name(Runtime runtime);

/**
 * The published mapping a forwarder's command line shows, or empty:
 * "tcp 0.0.0.0:8443 -> 172.17.0.2:443" (docker-proxy), "ports tcp 8080:80"
 * (pasta -t), "container web" (conmon --name).
 */
std::string published_mapping(const Holder& h);

} // namespace portshim
