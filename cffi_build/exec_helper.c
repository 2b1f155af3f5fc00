/* ocirun-exec: the container process's last step before its own program.
 *
 * The init is the host's Python until its final execve. If that execve ran a
 * script whose interpreter is /proc/self/exe, the kernel would load the host
 * interpreter into the container, where it could be reopened and overwritten
 * (CVE-2019-5736). So the init execs this helper from a sealed memfd instead:
 * /proc/self/exe is then an unwritable copy, and the helper execs the target.
 *
 * argv: MARKER path arg0 arg1 ...   (any other argv[0]: refuse, exit 127)
 * No libc: a few raw syscalls keep the binary a few KiB.
 */
#define MARKER "ocirun-exec"

#include "nolibc.h"

/* strerror(3), lower case, for the errors execve(2) documents. */
static const char *errno_text(long err)
{
    static char buf[24];
    char *p = buf + sizeof(buf) - 1;
    switch (err) {
    case 1: return "operation not permitted";
    case 2: return "no such file or directory";
    case 5: return "input/output error";
    case 7: return "argument list too long";
    case 8: return "exec format error";
    case 12: return "cannot allocate memory";
    case 13: return "permission denied";
    case 14: return "bad address";
    case 20: return "not a directory";
    case 21: return "is a directory";
    case 22: return "invalid argument";
    case 23: return "too many open files in system";
    case 24: return "too many open files";
    case 26: return "text file busy";
    case 36: return "file name too long";
    case 40: return "too many levels of symbolic links";
    case 80: return "accessing a corrupted shared library";
    }
    *p = 0;
    do
        *--p = (char)('0' + err % 10);
    while ((err /= 10) && p > buf + 6);
    p -= 6;
    for (int i = 0; i < 6; i++)
        p[i] = "errno "[i];
    return p;
}

__attribute__((used, noreturn)) void start_c(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    long err;

    if (argc < 3 || !same(argv[0], MARKER)) {
        say("ocirun-exec: refusing to run outside of ocirun\n");
        sys3(NR_exit_group, 127, 0, 0);
    }
    err = -sys3(NR_execve, (long)argv[1], (long)(argv + 2), (long)envp);
    /* As runc and crun: the real errno and the path, and exit status 1. */
    say("ocirun: exec ");
    say(argv[1]);
    say(": ");
    say(errno_text(err));
    say("\n");
    sys3(NR_exit_group, 1, 0, 0);
    for (;;)
        ;
}
