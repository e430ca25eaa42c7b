// libFuzzer target: the sock_diag dump parsers (inet for TCP and UDP, unix) on
// one recv() worth of bytes, as the probes feed them. Input: a selector byte, then the dump.
#include "diag/sockets.hpp"
#include "diag/unix_sockets.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace portshim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t selector = data[0];
    ++data;
    --size;
    // An exact-size heap copy, so ASan sees any read past `len`.
    const std::vector<std::uint8_t> dump(data, data + size);
    sockets::DumpStatus status;
    switch (selector % 3) {
    case 0:
    case 1: {
        std::vector<SocketEntry> out;
        status = sockets::parse_dump(dump.data(), dump.size(), selector % 3 == 0 ? Proto::tcp : Proto::udp,
                                     out);
        for (const SocketEntry& e : out)
            if (e.proto != (selector % 3 == 0 ? Proto::tcp : Proto::udp)) __builtin_trap();
        break;
    }
    default: {
        std::vector<UnixSocket> out;
        status = unix_sockets::parse_dump(dump.data(), dump.size(), out);
        for (const UnixSocket& s : out)
            if (s.name.empty()) __builtin_trap();  // only sockets with an address are kept
        break;
    }
    }
    if (status.error < 0) __builtin_trap();  // an errno or 0
    return 0;
}
