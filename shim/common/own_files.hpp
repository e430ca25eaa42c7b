// The files portshim writes inside a host, the PORTSHIM_LOG file and the
// registry's state directory, and why one is refused. They must be ordinary:
// a regular file (a directory) of our own on an ordinary file system. On proc,
// sysfs, cgroupfs and their kin a "file" is a kernel interface: a report
// written to /proc/self/comm renames the host, to /proc/self/mem it vanishes.
// Plain system calls only (async-signal-safe), shared by both libraries.
#pragma once

#include "line_buffer.hpp"

#include <sys/stat.h>

namespace portshim {

/**
 * The name of the pseudo file system `fd` is on ("proc", "sysfs", "cgroup2",
 * ...: fstatfs(2) f_type, see statfs(2) and linux/magic.h), "an unidentified
 * file system" when fstatfs fails, or nullptr for an ordinary one (ext4, xfs,
 * btrfs, tmpfs, overlayfs, NFS, ...). Keeps errno.
 */
const char* pseudo_fs_of(int fd) noexcept;

/** pseudo_fs_of for a path (statfs(2)); nullptr also when it cannot be read. Keeps errno. */
const char* pseudo_fs_at(const char* path) noexcept;

/**
 * Whether `st` may be written by us: of type `type` (S_IFREG, S_IFDIR),
 * owned by our effective uid, and with `private_mode` not writable by group
 * or others. When not, the reason goes to `why` ("a FIFO", "owned by uid
 * 65534, not uid 0", "writable by group or others (mode 0777)").
 */
bool own_file(const struct stat& st, mode_t type, bool private_mode, LineBuffer& why) noexcept;

/** "a symbolic link", "a FIFO", "a character device", ... for a stat mode. */
const char* file_kind(mode_t mode) noexcept;

/** Puts "ENOENT", "EACCES", ... (or "errno N") for `err`: strerror(3) is not async-signal-safe. */
void put_errno(LineBuffer& out, int err) noexcept;

/** Puts "on proc, a kernel interface rather than an ordinary file system". */
void put_pseudo_fs(LineBuffer& out, const char* fs) noexcept;

} // namespace portshim
