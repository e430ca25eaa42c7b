// See own_files.hpp. The magic numbers are those of linux/magic.h (and of
// fs/configfs, fs/fuse/control.c and ipc/mqueue.c, which it does not list),
// spelled out so that older kernel headers build the same table.
#include "own_files.hpp"

#include <cerrno>
#include <sys/statfs.h>
#include <unistd.h>

namespace portshim {

namespace {

struct PseudoFs {
    unsigned long magic;
    char name[14]; // in place, not a pointer: no relocation for ld.so at every process start
};

// Kernel interfaces that look like files, and memory-only file systems whose
// files are not for write(2) (hugetlbfs, mqueue). tmpfs, ramfs and devtmpfs
// are ordinary: their regular files are plain storage.
constexpr PseudoFs pseudo_file_systems[] = {
    {0x9fa0, "proc"},
    {0x62656572, "sysfs"},
    {0x27e0eb, "cgroup"},
    {0x63677270, "cgroup2"},
    {0x64626720, "debugfs"},
    {0x74726163, "tracefs"},
    {0x73636673, "securityfs"},
    {0x62656570, "configfs"},
    {0xcafe4a11, "bpf"},
    {0xde5e81e4, "efivarfs"},
    {0x6165676c, "pstore"},
    {0x1cd1, "devpts"},
    {0xf97cff8c, "selinuxfs"},
    {0x43415d53, "smackfs"},
    {0x42494e4d, "binfmt_misc"},
    {0x6e736673, "nsfs"},
    {0x65735543, "fusectl"},
    {0x7655821, "resctrl"},
    {0x9fa2, "usbdevfs"},
    {0x0187, "autofs"},
    {0x958458f6, "hugetlbfs"},
    {0x19800202, "mqueue"},
    {0x09041934, "anon_inodefs"},
    {0x534f434b, "sockfs"},
    {0x50495045, "pipefs"},
    {0x5345434d, "secretmem"},
};

const char* name_of(const struct statfs& fs) {
    const auto magic = static_cast<unsigned long>(fs.f_type) & 0xffffffffUL;
    for (const PseudoFs& p : pseudo_file_systems)
        if (p.magic == magic) return p.name;
    return nullptr;
}

} // namespace

const char* pseudo_fs_of(int fd) noexcept {
    const int saved = errno;
    struct statfs fs;
    const char* name = ::fstatfs(fd, &fs) == 0 ? name_of(fs) : "an unidentified file system";
    errno = saved;
    return name;
}

const char* pseudo_fs_at(const char* path) noexcept {
    const int saved = errno;
    struct statfs fs;
    const char* name = ::statfs(path, &fs) == 0 ? name_of(fs) : nullptr;
    errno = saved;
    return name;
}

const char* file_kind(mode_t mode) noexcept {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symbolic link";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
    }
}

bool own_file(const struct stat& st, mode_t type, bool private_mode, LineBuffer& why) noexcept {
    if ((st.st_mode & S_IFMT) != type) {
        why.put(file_kind(st.st_mode));
        return false;
    }
    if (st.st_uid != ::geteuid()) {
        why.put("owned by uid ").put_uint(st.st_uid).put(", not uid ").put_uint(::geteuid());
        return false;
    }
    if (private_mode && (st.st_mode & 022) != 0) {
        const unsigned mode = st.st_mode & 07777;
        why.put("writable by group or others (mode ");
        for (int shift = 9; shift >= 0; shift -= 3) why.put(static_cast<char>('0' + ((mode >> shift) & 7)));
        why.put(')');
        return false;
    }
    return true;
}

void put_errno(LineBuffer& out, int err) noexcept {
    const char* name = nullptr;
    switch (err) {
    case EACCES: name = "EACCES"; break;
    case EPERM: name = "EPERM"; break;
    case ENOENT: name = "ENOENT"; break;
    case ENOTDIR: name = "ENOTDIR"; break;
    case EISDIR: name = "EISDIR"; break;
    case ELOOP: name = "ELOOP"; break;
    case EROFS: name = "EROFS"; break;
    case ENXIO: name = "ENXIO"; break;
    case ENOSPC: name = "ENOSPC"; break;
    case EDQUOT: name = "EDQUOT"; break;
    case ETXTBSY: name = "ETXTBSY"; break;
    case ENAMETOOLONG: name = "ENAMETOOLONG"; break;
    case EMFILE: name = "EMFILE"; break;
    case ENFILE: name = "ENFILE"; break;
    default: break;
    }
    if (name != nullptr) out.put(name);
    else out.put("errno ").put_int(err);
}

void put_pseudo_fs(LineBuffer& out, const char* fs) noexcept {
    out.put("on ").put(fs).put(", a kernel interface rather than an ordinary file system");
}

} // namespace portshim
