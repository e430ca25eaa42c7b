// The libc functions behind the hooks: one typed table, each entry resolved
// once with dlsym(RTLD_NEXT) on first use, so hooks work before any constructor.
#pragma once

#include <sys/socket.h>

namespace portshim::real {

int bind(int fd, const sockaddr* addr, socklen_t len);
int listen(int fd, int backlog);
int setsockopt(int fd, int level, int name, const void* value, socklen_t len);

} // namespace portshim::real
