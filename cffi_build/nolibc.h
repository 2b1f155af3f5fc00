/* nolibc.h: the few raw syscalls and string helpers of ocirun's static,
 * libc-free helpers (exec_helper.c, launch_helper.c). Each defines
 * start_c(long *sp), called from _start with the initial stack. */
#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_fcntl 72
#define NR_execve 59
#define NR_exit_group 231
#define NR_memfd_create 319
#define NR_execveat 322
#define NR_openat 257
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
__asm__(".text\n.global _start\n_start:\n"
        "  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n  hlt\n");
#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_close 57
#define NR_fcntl 25
#define NR_openat 56
#define NR_execve 221
#define NR_exit_group 94
#define NR_memfd_create 279
#define NR_execveat 281
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n"
        "  mov x0, sp\n  bl start_c\n  brk #0\n");
#else
#error "ocirun: unsupported architecture"
#endif

/* the new mount API has one number on every architecture */
#define NR_fsopen 430
#define NR_fsconfig 431
#define NR_fsmount 432

#define sys3(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static unsigned long len(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(const char *s) { sys3(NR_write, 2, (long)s, (long)len(s)); }

static int same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}
