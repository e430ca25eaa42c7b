// See listeners.hpp. State lives in two pages mapped at the first listening
// socket, never in .bss (every exec'd process would pay for the mapping):
// a private page with the remembered sockets and the fork counters (copied by
// fork, as a process's own facts should be), and a shared page with the
// sockets already warned about (one warning per server, not per child).
#include "listeners.hpp"

#include "common/raw_syscall.hpp"
#include "seccomp_state.hpp"

#include "common/zeroed_map.hpp"

#include <atomic>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace portshim::listeners {

namespace {

struct Slot {
    std::atomic<int> fd_plus1;              // 0 = free (zero pages start free)
    std::atomic<int> opener;                // pid that called listen(); 0 for inherited sockets
    std::atomic<unsigned long long> inode;  // inherited: the socket; else the last one recorded
    std::atomic<bool> inherited;
};

constexpr int slot_count = 120;
constexpr int fork_lines = 16;              // children logged one line each
constexpr long long summary_ms = 10000;     // then one summary line per 10 s

struct Private {
    Slot slots[slot_count];
    std::atomic<int> used;                  // slots [0, used) were ever filled: scans stop there
    std::atomic<int> forks_logged;
    std::atomic<int> forks_pending;
    std::atomic<long long> last_line_ms;
};
static_assert(sizeof(Private) <= 4096, "one page");

struct Shared {
    std::atomic<unsigned long long> warned[512];
};
static_assert(sizeof(Shared) <= 4096, "one page");

std::atomic<Private*> g_private{nullptr};
std::atomic<Shared*> g_shared{nullptr};

/** Both pages: the shared one must exist before the first fork to be shared. */
Private* pages() {
    Private* p = map_zeroed(g_private, 4096);
    map_zeroed(g_shared, 4096, MAP_SHARED);
    return p;
}

unsigned long long inode_of(int fd) {
    struct stat st;
    if (raw_fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    return st.st_ino;
}

int slot_fd(const Slot& s) { return s.fd_plus1.load(std::memory_order_acquire) - 1; }

/**
 * A slot for `fd`: the one already holding it, else a free one; when none is
 * free, slots whose fd no longer listens are freed first (system calls only
 * then). nullptr when `fd` is already there and `fresh` is false, or no room.
 */
Slot* slot_for(Private* p, int fd) {
    Slot* free_slot = nullptr;
    const int used = p->used.load(std::memory_order_acquire);
    for (int i = 0; i < used; ++i) {
        Slot& s = p->slots[i];
        const int current = slot_fd(s);
        if (current == fd) return nullptr;
        if (free_slot == nullptr && current < 0) free_slot = &s;
    }
    if (free_slot != nullptr) return free_slot;
    // A fresh slot past the used ones; a bind/listen/close loop keeps reusing slot 0.
    for (int n = used; n < slot_count; n = p->used.load(std::memory_order_acquire))
        if (p->used.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) return &p->slots[n];
    int listening = 0;
    socklen_t n = sizeof listening;
    for (Slot& s : p->slots) {
        if (::getsockopt(slot_fd(s), SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) != 0 || listening == 0) {
            s.fd_plus1.store(0, std::memory_order_release);
            if (free_slot == nullptr) free_slot = &s;
        }
    }
    return free_slot;
}

void fill(Slot& s, int fd, int opener, unsigned long long inode, bool inherited) {
    s.opener.store(opener, std::memory_order_relaxed);
    s.inode.store(inode, std::memory_order_relaxed);
    s.inherited.store(inherited, std::memory_order_relaxed);
    // A lost race between two threads listening at once costs one entry, which
    // only makes a fork event shorter.
    s.fd_plus1.store(fd + 1, std::memory_order_release);
}

long long monotonic_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

/** linux_dirent64 from getdents64(2); glibc has no async-signal-safe readdir. */
struct Dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
};

/**
 * Calls visit(fd) for every fd >= 3 in /proc/self/fd except the listing's own.
 * Returns false when /proc could not be read.
 */
template <typename Visit>
bool for_each_fd(Visit visit) {
    const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return false;
    alignas(8) char buf[2048];
    for (;;) {
        const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            const auto* d = reinterpret_cast<const Dirent64*>(buf + off);
            off += d->d_reclen;
            int fd = 0;
            const char* c = d->d_name;
            if (*c < '0' || *c > '9') continue;
            for (; *c >= '0' && *c <= '9'; ++c) fd = fd * 10 + (*c - '0');
            if (fd >= 3 && fd != dir) visit(fd);
        }
    }
    ::close(dir);
    return true;
}

/**
 * Polls fds first..first+N-1 (events 0, no wait: POLLNVAL marks the closed
 * ones) and adds the listening sockets among them. Returns whether any was
 * open. The array is on the stack, so the common call keeps it small.
 */
template <int N>
__attribute__((noinline)) bool poll_block(int first, FdList& out) {
    pollfd probe[N];
    for (int i = 0; i < N; ++i) probe[i] = pollfd{first + i, 0, 0};
    if (raw_poll_now(probe, N) < 0) return false;
    bool any_open = false;
    ListenFd lf;
    for (const pollfd& p : probe) {
        if ((p.revents & POLLNVAL) != 0) continue;
        any_open = true;
        // A socket is open: looking closer takes getsockopt, which a filter
        // inherited at exec may punish (rule 10). fstat the loader made too.
        if (inode_of(p.fd) != 0 && seccomp::in_force_cached()) return true;
        // Sockets a constructor that ran before ours listened on went through
        // the listen hook: they are this process's own, not inherited.
        if (describe(p.fd, lf) && !listened_on(p.fd)) out.add(lf);
    }
    return any_open;
}

} // namespace

bool describe(int fd, ListenFd& out) noexcept {
    const int saved = errno;
    bool ok = false;
    int listening = 0, family = 0, type = 0;
    socklen_t n = sizeof listening;
    const unsigned long long inode = inode_of(fd);
    if (inode != 0 && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) == 0 &&
        listening != 0) {
        n = sizeof family;
        ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &n);
        n = sizeof type;
        ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n);
        out = ListenFd{};
        out.fd = fd;
        out.inode = inode;
        out.family = family;
        out.type = type;
        const int flags = ::fcntl(fd, F_GETFD);
        out.cloexec = flags >= 0 && (flags & FD_CLOEXEC) != 0;
        out.addr_len = sizeof out.addr;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&out.addr), &out.addr_len) != 0)
            out.addr_len = 0;
        out.inherited = inherited(inode);
        ok = true;
    }
    errno = saved;
    return ok;
}

void note_listen(int fd) noexcept {
    const int saved = errno;
    if (Private* p = pages(); p != nullptr)
        if (Slot* s = slot_for(p, fd); s != nullptr) fill(*s, fd, ::getpid(), 0, false);
    errno = saved;
}

void note_inherited(const ListenFd& fd) noexcept {
    if (Private* p = pages(); p != nullptr)
        if (Slot* s = slot_for(p, fd.fd); s != nullptr) fill(*s, fd.fd, 0, fd.inode, true);
}

bool any() noexcept { return g_private.load(std::memory_order_acquire) != nullptr; }

bool listened_on(int fd) noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return false;
    for (const Slot& s : p->slots)
        if (slot_fd(s) == fd && !s.inherited.load(std::memory_order_relaxed)) return true;
    return false;
}

bool inherited(unsigned long long inode) noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return false;
    for (const Slot& s : p->slots)
        if (s.inherited.load(std::memory_order_relaxed) && slot_fd(s) >= 0 &&
            s.inode.load(std::memory_order_relaxed) == inode)
            return true;
    return false;
}

bool any_unrecorded() noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return false;
    const int used = p->used.load(std::memory_order_acquire);
    for (int i = 0; i < used && i < slot_count; ++i) {
        const Slot& s = p->slots[i];
        if (slot_fd(s) >= 0 && !s.inherited.load(std::memory_order_relaxed) &&
            s.inode.load(std::memory_order_relaxed) == 0)
            return true;
    }
    return false;
}

int take_unrecorded(ListenFd* out, int* openers, int max) noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return 0;
    const int saved = errno;
    int n = 0;
    for (Slot& s : p->slots) {
        const int fd = slot_fd(s);
        if (n >= max || fd < 0 || s.inherited.load(std::memory_order_relaxed)) continue;
        if (!describe(fd, out[n]) || out[n].inode == s.inode.load(std::memory_order_relaxed)) continue;
        s.inode.store(out[n].inode, std::memory_order_relaxed);
        openers[n++] = s.opener.load(std::memory_order_relaxed);
    }
    errno = saved;
    return n;
}

namespace {

/**
 * Fds first..first+count-1 in blocks of `block` entries (`block` pollfds of
 * stack, no more): whether any is open, and whether any open one is a socket.
 */
__attribute__((noinline)) void probe_range(int first, int count, bool& any_open, bool& socket) {
    constexpr int block = 64;
    pollfd probe[block];
    for (int base = first; base < first + count && !socket; base += block) {
        for (int i = 0; i < block; ++i) probe[i] = pollfd{base + i, 0, 0};
        if (raw_poll_now(probe, block) < 0) return;
        for (const pollfd& p : probe) {
            if ((p.revents & POLLNVAL) != 0) continue;
            any_open = true;
            if (inode_of(p.fd) != 0) {
                socket = true;
                break;
            }
        }
    }
}

} // namespace

bool socket_at_load() noexcept {
    const int saved = errno;
    bool any_open = false, socket = false;
    probe_range(3, 64, any_open, socket);
    if (any_open && !socket) probe_range(3 + 64, 1024, any_open, socket);
    errno = saved;
    return socket;
}

void scan_at_load(FdList& out) noexcept {
    const int saved = errno;
    // Not /proc/self/fd: in a fresh process its first lookup instantiates the
    // /proc/PID entries, ~50 us measured, against ~1 us for this poll.
    if (poll_block<64>(3, out)) poll_block<1024>(3 + 64, out); // nearly every process: stdio only
    errno = saved;
}

void collect_held(FdList& out) noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return;
    ListenFd lf;
    for (const Slot& s : p->slots)
        if (const int fd = slot_fd(s); fd >= 0 && describe(fd, lf)) out.add(lf);
}

void for_each_leaking(void (*visit)(const ListenFd& fd, void* context), void* context) noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return;
    ListenFd lf;
    const bool listed = for_each_fd([&](int fd) {
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && (flags & FD_CLOEXEC) == 0 && describe(fd, lf)) visit(lf, context);
    });
    if (listed) return;
    for (const Slot& s : p->slots)
        if (const int fd = slot_fd(s); fd >= 3 && describe(fd, lf) && !lf.cloexec) visit(lf, context);
}

bool first_warning(unsigned long long inode) noexcept {
    Shared* shared = g_shared.load(std::memory_order_acquire);
    if (shared == nullptr) return true;
    for (auto& slot : shared->warned) {
        unsigned long long current = slot.load(std::memory_order_acquire);
        if (current == inode) return false;
        if (current == 0) {
            if (slot.compare_exchange_strong(current, inode, std::memory_order_acq_rel)) return true;
            if (current == inode) return false; // another child claimed it first
        }
    }
    return true; // the set is full: warn rather than stay silent
}

bool fork_line_due(int& more) noexcept {
    Private* p = g_private.load(std::memory_order_acquire);
    if (p == nullptr) return false;
    if (p->forks_logged.fetch_add(1, std::memory_order_relaxed) < fork_lines) {
        more = 0;
        p->last_line_ms.store(monotonic_ms(), std::memory_order_relaxed);
        return true;
    }
    const int pending = p->forks_pending.fetch_add(1, std::memory_order_relaxed) + 1;
    const long long now = monotonic_ms();
    long long last = p->last_line_ms.load(std::memory_order_relaxed);
    if (now - last < summary_ms ||
        !p->last_line_ms.compare_exchange_strong(last, now, std::memory_order_relaxed))
        return false;
    p->forks_pending.fetch_sub(pending, std::memory_order_relaxed);
    more = pending - 1; // the others, besides the child this line names
    return true;
}

} // namespace portshim::listeners
