// See rate_limit.hpp. 63 addresses are tracked at once; a new one takes the
// least recently reported entry.
#include "rate_limit.hpp"

#include "inet_address.hpp"
#include "zeroed_map.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace portshim::rate_limit {

namespace {

constexpr long long interval_ms = 10000;

struct Entry {
    std::atomic<unsigned long long> key;  // 0 = free
    std::atomic<bool> busy;               // a thread is reporting this address
    std::atomic<int> repeats;
    std::atomic<long long> last_ms;       // when the last line was written
    std::atomic<bool> retry;
    char cause[32];                       // written only by the thread holding busy
};

struct Table {
    Entry entries[63];
};
static_assert(sizeof(Table) <= 4096, "one page");

std::atomic<Table*> g_table{nullptr};

Table* table() { return map_zeroed(g_table, 4096); }

long long monotonic_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

/**
 * FNV-1a over the subject, the call, the socket type and the address; never 0. An inet
 * address is hashed as the kernel read it (inet_address.hpp), so one address
 * is one key whatever its sockaddr's length, padding or AF_UNSPEC spelling.
 */
unsigned long long key_of(bool listen_call, int fd, const sockaddr* addr, socklen_t len, int subject) {
    sockaddr_storage own{};
    if (addr == nullptr) {
        socklen_t n = sizeof own;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&own), &n) == 0) {
            addr = reinterpret_cast<const sockaddr*>(&own);
            len = n;
        } else {
            len = 0;
        }
    }
    int type = 0, domain = 0;
    socklen_t n = sizeof type;
    ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n);
    n = sizeof domain;
    ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &n);
    unsigned long long h = 14695981039346656037ULL;
    auto mix = [&h](const void* data, std::size_t size) {
        for (std::size_t i = 0; i < size; ++i) {
            h ^= static_cast<const unsigned char*>(data)[i];
            h *= 1099511628211ULL;
        }
    };
    if (subject != 0) mix(&subject, sizeof subject); // 0: the keys the hooks always had
    mix(&listen_call, sizeof listen_call);
    mix(&type, sizeof type);
    InetAddress inet;
    if (parse_inet_address(domain, addr, len, inet)) {
        mix(&inet.family, sizeof inet.family);
        mix(inet.addr, sizeof inet.addr);
        mix(&inet.port, sizeof inet.port);
        mix(&inet.scope_id, sizeof inet.scope_id);
    } else if (addr != nullptr && len > 0) {
        mix(addr, len < sizeof own ? len : sizeof own);
    }
    return h != 0 ? h : 1;
}

} // namespace

Ticket check(bool listen_call, int fd, const sockaddr* addr, socklen_t len, int subject) noexcept {
    Ticket ticket;
    const int saved = errno;
    Table* t = table();
    const unsigned long long key = t != nullptr ? key_of(listen_call, fd, addr, len, subject) : 0;
    errno = saved;
    if (t == nullptr) return ticket; // no memory for the table: report everything
    const long long now = monotonic_ms();
    for (Entry& e : t->entries) {
        if (e.key.load(std::memory_order_acquire) != key) continue;
        if (e.busy.exchange(true, std::memory_order_acquire)) { // another thread reports it now
            e.repeats.fetch_add(1, std::memory_order_relaxed);
            ticket.report = false;
            ticket.retry = e.retry.load(std::memory_order_relaxed);
            return ticket;
        }
        if (now - e.last_ms.load(std::memory_order_relaxed) < interval_ms) {
            e.repeats.fetch_add(1, std::memory_order_relaxed);
            ticket.report = false;
            ticket.retry = e.retry.load(std::memory_order_relaxed);
            e.busy.store(false, std::memory_order_release);
            return ticket;
        }
        ticket.entry = &e;
        ticket.repeats = e.repeats.exchange(0, std::memory_order_relaxed);
        std::memcpy(ticket.cause, e.cause, sizeof ticket.cause);
        return ticket;
    }
    // A new address: a free entry, else the least recently reported idle one.
    Entry* victim = nullptr;
    for (Entry& e : t->entries) {
        if (e.busy.load(std::memory_order_relaxed)) continue;
        if (victim == nullptr || e.last_ms.load(std::memory_order_relaxed) <
                                     victim->last_ms.load(std::memory_order_relaxed))
            victim = &e;
        if (e.key.load(std::memory_order_relaxed) == 0) break;
    }
    if (victim == nullptr || victim->busy.exchange(true, std::memory_order_acquire)) return ticket;
    victim->key.store(key, std::memory_order_release);
    victim->repeats.store(0, std::memory_order_relaxed);
    victim->cause[0] = '\0';
    ticket.entry = victim;
    return ticket;
}

void done(Ticket& ticket, const char* cause, bool retry) noexcept {
    auto* e = static_cast<Entry*>(ticket.entry);
    if (e == nullptr) return;
    std::strncpy(e->cause, cause, sizeof e->cause - 1);
    e->cause[sizeof e->cause - 1] = '\0';
    e->retry.store(retry, std::memory_order_relaxed);
    e->last_ms.store(monotonic_ms(), std::memory_order_relaxed);
    e->busy.store(false, std::memory_order_release);
    ticket.entry = nullptr;
}

} // namespace portshim::rate_limit
