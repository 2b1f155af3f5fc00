/* ocirun-launch: the interpreter named by the `ocirun` launcher's first line,
 *
 *     #!/.../ocirun/ocirun-launch /.../bin/python3.11
 *
 * so the kernel runs `ocirun-launch PYTHON SCRIPT ARGS...`. Before CPython
 * starts it:
 * - drops every PYTHON* variable (and __PYVENV_LAUNCHER__): CPython's path
 *   setup reads PYTHONEXECUTABLE even with -I and would then load a planted
 *   standard library as root;
 * - executes PYTHON through a read-only overlayfs mount attached nowhere
 *   (root), else from a sealed memfd copy (rootless), so that /proc/PID/exe
 *   of every ocirun process (the container's init and exec helper are forks
 *   of one) can never be opened for writing, never the host's file
 *   (CVE-2019-5736's pattern: a container holding CAP_SYS_PTRACE opens it,
 *   then writes it once no Python runs). argv[0] stays PYTHON's path, so
 *   sys.prefix is unchanged.
 * Then: PYTHON -IS SCRIPT ARGS... No libc (nolibc.h).
 */
#include "nolibc.h"

#define O_RDONLY_CLOEXEC 02000000
#define MFD_CLOEXEC 1
#define MFD_ALLOW_SEALING 2
#define F_ADD_SEALS 1033
#define SEALS 15 /* F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE */
#define AT_EMPTY_PATH 0x1000
#define AT_FDCWD -100

static int starts(const char *s, const char *prefix)
{
    while (*prefix && *s == *prefix)
        s++, prefix++;
    return !*prefix;
}

static void die(const char *what, const char *path)
{
    say("ocirun-launch: ");
    say(what);
    say(path);
    say("\n");
    sys3(NR_exit_group, 127, 0, 0);
}

/* A sealed memfd holding the file at path, or dies. */
static long sealed_copy(const char *path)
{
    static char buf[65536];
    long in, out, n;

#ifdef NR_open
    in = sys3(NR_open, path, O_RDONLY_CLOEXEC, 0);
#else
    in = sys6(NR_openat, AT_FDCWD, (long)path, O_RDONLY_CLOEXEC, 0, 0, 0);
#endif
    if (in < 0)
        die("cannot open ", path);
    out = sys3(NR_memfd_create, "python", MFD_CLOEXEC | MFD_ALLOW_SEALING, 0);
    if (out < 0)
        die("memfd_create failed for ", path);
    while ((n = sys3(NR_read, in, buf, sizeof buf)) > 0) {
        char *p = buf;
        while (n > 0) {
            long w = sys3(NR_write, out, p, n);
            if (w <= 0)
                die("cannot copy ", path);
            p += w;
            n -= w;
        }
    }
    if (n < 0 || sys3(NR_fcntl, out, F_ADD_SEALS, SEALS) < 0)
        die("cannot copy and seal ", path);
    sys3(NR_close, in, 0, 0);
    return out;
}

#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define MOUNT_ATTR_RDONLY 1
#define MOUNT_ATTR_NOSUID 2
#define MOUNT_ATTR_NODEV 4
#define O_PATH_CLOEXEC 012000000

/* The length of path's directory part ("/a/b" for "/a/b/c"), or 0 if path
 * is not absolute, has no directory, or holds a character that overlayfs's
 * option syntax treats specially. */
static unsigned long dir_len(const char *path)
{
    unsigned long i, slash = 0;

    if (path[0] != '/')
        return 0;
    for (i = 0; path[i]; i++) {
        if (path[i] == ':' || path[i] == ',' || path[i] == '\\' || i >= 4000)
            return 0;
        if (path[i] == '/')
            slash = i;
    }
    return slash;
}

/* An O_PATH fd of the file at path seen through a read-only overlayfs mount
 * attached nowhere, or -1 (not allowed, e.g. not root; an odd path): then
 * the caller copies. The file executed from it cannot be opened for writing
 * (EROFS: no upper layer, read-only superblock and mount) and no copy is
 * made: ~0.1 ms where copying the 7 MB static interpreter costs ~3 ms. runc
 * (1.2+) seals its binary the same way. Without an upper layer overlayfs
 * wants two lower ones that do not overlap: path's directory on top (the
 * file is looked up there), ocirun-launch's own directory (`other`) below. */
static long sealed_overlay(const char *path, const char *other)
{
    static char dirs[8192];
    unsigned long n = dir_len(path), m = dir_len(other), i;
    long ctx, mnt, fd = -1;

    if (!n || !m)
        return -1;
    for (i = 0; i < n; i++)
        dirs[i] = path[i];
    dirs[n] = ':';
    for (i = 0; i < m; i++)
        dirs[n + 1 + i] = other[i];
    dirs[n + 1 + m] = 0;
    ctx = sys3(NR_fsopen, "overlay", 1 /* FSOPEN_CLOEXEC */, 0);
    if (ctx < 0)
        return -1;
    if (sys6(NR_fsconfig, ctx, FSCONFIG_SET_STRING, (long)"lowerdir", (long)dirs, 0, 0) == 0
        && sys6(NR_fsconfig, ctx, FSCONFIG_SET_FLAG, (long)"ro", 0, 0, 0) == 0
        && sys6(NR_fsconfig, ctx, FSCONFIG_CMD_CREATE, 0, 0, 0, 0) == 0) {
        mnt = sys3(NR_fsmount, ctx, 1 /* FSMOUNT_CLOEXEC */,
                   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        if (mnt >= 0) {
            fd = sys6(NR_openat, mnt, (long)(path + n + 1), O_PATH_CLOEXEC, 0, 0, 0);
            sys3(NR_close, mnt, 0, 0);
        }
    }
    sys3(NR_close, ctx, 0, 0);
    return fd < 0 ? -1 : fd;
}

__attribute__((used, noreturn)) void start_c(long *sp)
{
    long argc = sp[0], i, fd;
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1, **e, **keep;
    char *nargv[argc + 1];

    if (argc < 3)
        die("usage: ocirun-launch PYTHON SCRIPT [ARGS...]", "");
    for (e = keep = envp; *e; e++)
        if (!starts(*e, "PYTHON") && !starts(*e, "__PYVENV_LAUNCHER__="))
            *keep++ = *e;
    *keep = 0;
    nargv[0] = argv[1];
    nargv[1] = "-IS";
    for (i = 2; i < argc; i++)
        nargv[i] = argv[i];
    nargv[argc] = 0;
    fd = sealed_overlay(argv[1], argv[0]);
    if (fd >= 0) { /* returns only if that exec failed (e.g. an LSM): copy then */
        sys6(NR_execveat, fd, (long)"", (long)nargv, (long)envp, AT_EMPTY_PATH, 0);
        sys3(NR_close, fd, 0, 0);
    }
    fd = sealed_copy(argv[1]);
    sys6(NR_execveat, fd, (long)"", (long)nargv, (long)envp, AT_EMPTY_PATH, 0);
    die("cannot execute ", argv[1]);
    for (;;)
        ;
}
