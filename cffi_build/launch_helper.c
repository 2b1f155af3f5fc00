/* ocirun-launch: the interpreter named by the `ocirun` launcher's first line,
 *
 *     #!/.../ocirun/ocirun-launch /.../bin/python3.11
 *
 * so the kernel runs `ocirun-launch PYTHON SCRIPT ARGS...`. Before CPython
 * starts it:
 * - drops every PYTHON* variable (and __PYVENV_LAUNCHER__): CPython's path
 *   setup reads PYTHONEXECUTABLE even with -I and would then load a planted
 *   standard library as root;
 * - copies PYTHON into a sealed memfd and executes that copy, so that
 *   /proc/PID/exe of every ocirun process (the container's init and exec
 *   helper are forks of one) is an unwritable copy, never the host's file
 *   (CVE-2019-5736's pattern: a container holding CAP_SYS_PTRACE opens it,
 *   then writes it once no Python runs). The interpreter is small when it
 *   links libpython; argv[0] stays its path, so sys.prefix is unchanged.
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
    fd = sealed_copy(argv[1]);
    sys6(NR_execveat, fd, (long)"", (long)nargv, (long)envp, AT_EMPTY_PATH, 0);
    die("cannot execute ", argv[1]);
    for (;;)
        ;
}
