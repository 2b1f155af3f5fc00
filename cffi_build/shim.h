/* ocirun's C shim: thin system-call wrappers only. No policy lives here.
 * Every wrapper returns what the kernel returns (-1 with errno set on
 * failure); the Python side (ocirun/syscalls.py) turns errno into OSError. */
#include <stdint.h>
#include <seccomp.h>

int ocirun_unshare(int flags);
int ocirun_setns(int fd, int nstype);
int ocirun_mount(const char *src, const char *dst, const char *fstype,
                 unsigned long flags, const char *data);
int ocirun_umount2(const char *target, int flags);
int ocirun_pivot_root(const char *new_root, const char *put_old);
int ocirun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                   uint64_t resolve);
int ocirun_open_tree(int dirfd, const char *path, unsigned int flags);
int ocirun_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                      const char *to_path, unsigned int flags);
int ocirun_mount_setattr(int dirfd, const char *path, unsigned int flags,
                         uint64_t attr_set, uint64_t attr_clr,
                         uint64_t propagation, uint64_t userns_fd);
int ocirun_fsopen(const char *fsname, unsigned int flags);
int ocirun_fsconfig(int fd, unsigned int cmd, const char *key,
                    const char *value, int aux);
int ocirun_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
int ocirun_sethostname(const char *name, size_t len);
int ocirun_setdomainname(const char *name, size_t len);
int ocirun_prctl(int option, unsigned long a2, unsigned long a3,
                 unsigned long a4, unsigned long a5);
int ocirun_capget(int pid, uint32_t data[6]);
int ocirun_capset(int pid, const uint32_t data[6]);
int ocirun_close_range(unsigned int first, unsigned int last, unsigned int flags);
long ocirun_fstatfs_type(int fd);
long ocirun_keyctl_join(const char *name);
long ocirun_keyctl_describe(long id, char *buf, unsigned long len);
long ocirun_keyctl_setperm(long id, unsigned int perm);
int ocirun_personality(unsigned long persona);
int ocirun_ioprio_set(int which, int who, int ioprio);
int ocirun_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period);
long ocirun_set_mempolicy(int mode, const unsigned long *nodemask,
                          unsigned long maxnode);
int ocirun_bpf(int cmd, void *attr, unsigned int size);
