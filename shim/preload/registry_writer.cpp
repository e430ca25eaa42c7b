// See registry_writer.hpp. System calls and a stack buffer only: listen() may
// run on any thread of any host, and the hooks library has no C++ runtime.
#include "registry_writer.hpp"

#include "listeners.hpp"
#include "common/registry_record.hpp"
#include "startup.hpp"

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::registry {

void record_pending(const Config& config) noexcept {
    if (config.state_dir[0] == '\0' || !listeners::any()) return;
    listeners::ListenFd fds[8];
    int openers[8];
    for (int n; (n = listeners::take_unrecorded(fds, openers, 8)) > 0;)
        for (int i = 0; i < n; ++i) record_listen(config, fds[i], openers[i]);
}

void record_listen(const Config& config, const listeners::ListenFd& fd, int opener) noexcept {
    if (config.state_dir[0] == '\0' || opener <= 0) return;
    const int saved = errno;
    RecordSubject subject;
    struct stat st;
    subject.netns = ::stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
    subject.uid = ::geteuid();
    subject.identity = stderr_identity();
    errno = saved;
    write_record(config, fd, opener, subject);
}

} // namespace portshim::registry
