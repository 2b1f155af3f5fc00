"""cffi (API mode, out of line) build of ocirun's C shim: ocirun._shim.

The declarations below are the whole C surface ocirun uses: thin syscall
wrappers from shim.c and the part of libseccomp's API the seccomp module needs.
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
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
long ocirun_keyctl_join(const char *name);
int ocirun_personality(unsigned long persona);
int ocirun_ioprio_set(int which, int who, int ioprio);
int ocirun_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period);
long ocirun_set_mempolicy(int mode, const unsigned long *nodemask,
                          unsigned long maxnode);
int ocirun_bpf(int cmd, void *attr, unsigned int size);

/* libseccomp */
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
enum scmp_compare { SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ,
                    SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ, ... };
enum scmp_filter_attr { SCMP_FLTATR_ACT_DEFAULT, SCMP_FLTATR_ACT_BADARCH,
                        SCMP_FLTATR_CTL_NNP, SCMP_FLTATR_CTL_TSYNC,
                        SCMP_FLTATR_API_TSKIP, SCMP_FLTATR_CTL_LOG,
                        SCMP_FLTATR_CTL_SSB, SCMP_FLTATR_CTL_OPTIMIZE,
                        SCMP_FLTATR_API_SYSRAWRC, ... };
struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op;
                      scmp_datum_t datum_a; scmp_datum_t datum_b; };
struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };
const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_exist(const scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_remove(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_load(const scmp_filter_ctx ctx);
int seccomp_notify_fd(const scmp_filter_ctx ctx);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
with open(os.path.join(HERE, "shim.c")) as f:
    SOURCE = f.read()
ffibuilder.set_source(
    "ocirun._shim",
    SOURCE,
    include_dirs=[HERE],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    # In-tree build for development: puts the extension into ocirun/.
    import shutil

    built = ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "cffi"))
    shutil.copy2(built, os.path.join(HERE, "..", "ocirun", os.path.basename(built)))
    import build_exec

    build_exec.build(os.path.join(HERE, "..", "ocirun"))
