// libFuzzer target: the text parsers of /proc and host files (procfs, owners,
// sockets' /proc/net fallback, host) and the address parser. Input: a selector
// byte, then the file's text.
#include "diag/address.hpp"
#include "diag/host.hpp"
#include "diag/owners.hpp"
#include "diag/procfs.hpp"
#include "diag/sockets.hpp"

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace portshim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t selector = data[0];
    // An exact-size heap copy, so ASan sees any read past the end of the view.
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string_view view = text;
    switch (selector % 12) {
    case 0:
    case 1: {
        // /proc/net/{tcp,tcp6,udp,udp6}; the port from the selector's upper bits
        // (0 matches no row of a real table, 8080 and 41001 match the seeds').
        std::vector<SocketEntry> out;
        static constexpr std::uint16_t ports[] = {41001, 41002, 41004, 8080, 0, 1, 65535, 22};
        sockets::parse_procnet(view, (selector / 12) % 2 ? Proto::udp : Proto::tcp,
                               selector % 12 == 0 ? AF_INET : AF_INET6, ports[(selector / 24) % 8], out);
        break;
    }
    case 2: {
        Holder h;
        owners::parse_stat(view, h);
        break;
    }
    case 3: {
        int flags = 0;
        owners::parse_fdinfo_flags(view, flags);
        break;
    }
    case 4: {
        std::uint32_t uid = 0;
        owners::parse_status_uid(view, uid);
        break;
    }
    case 5: {
        std::size_t total = 0;
        for (const std::string& arg : owners::parse_cmdline(view)) total += arg.size();
        if (total > view.size()) __builtin_trap();
        break;
    }
    case 6:
        owners::parse_socket_link(view);
        break;
    case 7:
        for (const std::string& path : owners::parse_maps_objects(view))
            if (path.size() > view.size()) __builtin_trap();
        break;
    case 8: {
        std::string_view value;
        procfs::line_value(view, "btime ", value);
        std::uint64_t number = 0;
        procfs::parse_u64(procfs::trim(view), number, (selector / 12) % 2 ? 8 : 10);
        std::string_view rest = view;
        while (!rest.empty()) {
            const std::size_t before = rest.size();
            procfs::next_field(rest);
            procfs::next_line(rest);
            if (rest.size() >= before) __builtin_trap();  // no progress: a loop would hang
        }
        break;
    }
    case 9:
        host::user_from_passwd(view, selector / 12);
        host::user_from_passwd(view, 0);
        break;
    case 10: {
        CgroupFacts facts;
        facts.path = text;
        host::name_cgroup(facts);
        break;
    }
    default:
        parse_address(view, 8080);
        break;
    }
    return 0;
}
