/* See shim.h. Raw syscall() is used where glibc 2.36 has no wrapper. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/capability.h>
#include "shim.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct ocirun_open_how { uint64_t flags, mode, resolve; };
struct ocirun_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
struct ocirun_sched_attr {
    uint32_t size, sched_policy; uint64_t sched_flags; int32_t sched_nice;
    uint32_t sched_priority; uint64_t sched_runtime, sched_deadline, sched_period;
};

int ocirun_unshare(int flags) { return unshare(flags); }
int ocirun_setns(int fd, int nstype) { return setns(fd, nstype); }

int ocirun_mount(const char *src, const char *dst, const char *fstype,
                 unsigned long flags, const char *data)
{ return mount(src, dst, fstype, flags, data); }

int ocirun_umount2(const char *target, int flags) { return umount2(target, flags); }

int ocirun_pivot_root(const char *new_root, const char *put_old)
{ return (int)syscall(SYS_pivot_root, new_root, put_old); }

int ocirun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                   uint64_t resolve)
{
    struct ocirun_open_how how = { flags, mode, resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int ocirun_open_tree(int dirfd, const char *path, unsigned int flags)
{ return (int)syscall(SYS_open_tree, dirfd, path, flags); }

int ocirun_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                      const char *to_path, unsigned int flags)
{ return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags); }

int ocirun_mount_setattr(int dirfd, const char *path, unsigned int flags,
                         uint64_t attr_set, uint64_t attr_clr,
                         uint64_t propagation, uint64_t userns_fd)
{
    struct ocirun_mount_attr attr = { attr_set, attr_clr, propagation, userns_fd };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

int ocirun_fsopen(const char *fsname, unsigned int flags)
{ return (int)syscall(SYS_fsopen, fsname, flags); }

int ocirun_fsconfig(int fd, unsigned int cmd, const char *key,
                    const char *value, int aux)
{ return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux); }

int ocirun_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{ return (int)syscall(SYS_fsmount, fd, flags, attr_flags); }

int ocirun_sethostname(const char *name, size_t len) { return sethostname(name, len); }
int ocirun_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

int ocirun_prctl(int option, unsigned long a2, unsigned long a3,
                 unsigned long a4, unsigned long a5)
{ return prctl(option, a2, a3, a4, a5); }

/* data: effective, permitted, inheritable for the low 32 caps, then the high. */
int ocirun_capget(int pid, uint32_t data[6])
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    int r = (int)syscall(SYS_capget, &hdr, d);
    if (r == 0) {
        data[0] = d[0].effective; data[1] = d[0].permitted; data[2] = d[0].inheritable;
        data[3] = d[1].effective; data[4] = d[1].permitted; data[5] = d[1].inheritable;
    }
    return r;
}

int ocirun_capset(int pid, const uint32_t data[6])
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2] = {
        { data[0], data[1], data[2] }, { data[3], data[4], data[5] } };
    return (int)syscall(SYS_capset, &hdr, d);
}

int ocirun_close_range(unsigned int first, unsigned int last, unsigned int flags)
{ return (int)syscall(SYS_close_range, first, last, flags); }

/* The filesystem magic (f_type) of an fd: Python's os has no fstatfs. */
long ocirun_fstatfs_type(int fd)
{
	struct statfs st;
	if (fstatfs(fd, &st) < 0)
		return -1;
	return (long)st.f_type;
}

long ocirun_keyctl_join(const char *name)
{ return syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name); }

long ocirun_keyctl_describe(long id, char *buf, unsigned long len)
{ return syscall(SYS_keyctl, 6 /* KEYCTL_DESCRIBE */, id, buf, len); }

long ocirun_keyctl_setperm(long id, unsigned int perm)
{ return syscall(SYS_keyctl, 5 /* KEYCTL_SETPERM */, id, perm); }

int ocirun_personality(unsigned long persona) { return personality(persona); }

int ocirun_ioprio_set(int which, int who, int ioprio)
{ return (int)syscall(SYS_ioprio_set, which, who, ioprio); }

int ocirun_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period)
{
    struct ocirun_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a; a.sched_policy = policy; a.sched_flags = flags;
    a.sched_nice = nice; a.sched_priority = priority; a.sched_runtime = runtime;
    a.sched_deadline = deadline; a.sched_period = period;
    return (int)syscall(SYS_sched_setattr, pid, &a, 0);
}

long ocirun_set_mempolicy(int mode, const unsigned long *nodemask,
                          unsigned long maxnode)
{ return syscall(SYS_set_mempolicy, mode, nodemask, maxnode); }

int ocirun_bpf(int cmd, void *attr, unsigned int size)
{ return (int)syscall(SYS_bpf, cmd, attr, size); }
