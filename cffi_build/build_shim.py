"""cffi (API mode, out of line) build of ocirun's C shim: ocirun._shim.

The declarations below are the whole C surface ocirun uses: thin syscall
wrappers from shim.c and the part of libseccomp's API the seccomp module needs.
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

# shim.h's prototypes (its #include lines are for the C compiler, not cffi).
with open(os.path.join(HERE, "shim.h")) as f:
    SHIM_CDEF = "".join(line for line in f if not line.startswith("#"))

CDEF = SHIM_CDEF + """
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
    # Copy, then rename over: a process that has the old library mapped keeps it.
    dest = os.path.join(HERE, "..", "ocirun", os.path.basename(built))
    shutil.copy2(built, dest + ".new")
    os.replace(dest + ".new", dest)
    import build_exec

    build_exec.build(os.path.join(HERE, "..", "ocirun"))
