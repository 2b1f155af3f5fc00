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
    say("ocirun: exec ");
    say(argv[1]);
    say(err == 2 ? ": no such file or directory\n"
        : err == 13 ? ": permission denied\n"
        : ": exec format error or other failure\n");
    sys3(NR_exit_group, err == 2 ? 127 : 126, 0, 0);
    for (;;)
        ;
}
