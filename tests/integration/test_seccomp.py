"""linux.seccomp (config-linux.md#seccomp): filters built by ocirun.seccomp.

Containers (busybox) check the actions, argument comparisons, flags, the
notify listener and the error paths; a hypothesis test loads generated rule
sets into forked children (faster than containers) and checks every syscall's
outcome against a model of the rules.
"""
import ctypes
import errno
import json
import os
import select
import socket
import struct
import threading
import time

import pytest
from conftest import new_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocirun import seccomp
from ocirun.errors import InvalidSpec

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs containers")

ALLOW = "SCMP_ACT_ALLOW"
EPERM_TEXT = "Operation not permitted"
ENOSYS_TEXT = "Function not implemented"


def with_seccomp(sc, nnp=True):
    def edit(c):
        c["linux"]["seccomp"] = sc
        c["process"]["noNewPrivileges"] = nnp
    return edit


def deny(names, action="SCMP_ACT_ERRNO", **extra):
    return {"defaultAction": ALLOW, "syscalls": [dict(names=names, action=action, **extra)]}


MKDIR = ["mkdir", "mkdirat"]
CHMOD = ["chmod", "fchmodat", "fchmodat2"]


def run(oci, bundle, sc, script, nnp=True):
    b = bundle(args=["/bin/sh", "-c", script], edit=with_seccomp(sc, nnp))
    return oci("run", "--bundle", b, new_id())


# ---- actions in containers ------------------------------------------------

@pytest.mark.parametrize("nnp", [True, False], ids=["late-load-nnp", "early-load-no-nnp"])
def test_filter_is_installed_once(oci, bundle, nnp):
    """The container process runs under exactly one filter (config-linux.md#seccomp),
    with or without noNewPrivileges (without it the init must load before
    dropping CAP_SYS_ADMIN)."""
    script = "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status"
    p = run(oci, bundle, deny(MKDIR), script, nnp)
    assert p.returncode == 0, p.stderr
    fields = dict(line.split(":\t") for line in p.stdout.splitlines())
    assert fields == {"Seccomp": "2", "Seccomp_filters": "1", "NoNewPrivs": "1" if nnp else "0"}


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_errno_rule_defaults_to_eperm(oci, bundle, nnp):
    """SCMP_ACT_ERRNO without errnoRet returns EPERM (config-linux.md#seccomp)."""
    p = run(oci, bundle, deny(MKDIR), "mkdir /tmp/x; echo rc=$?; ls -d /tmp/x", nnp)
    assert EPERM_TEXT in p.stderr
    assert "rc=1" in p.stdout
    assert p.returncode != 0  # ls: the directory was never made


def test_errno_rule_with_errnoret(oci, bundle):
    """errnoRet is the errno the syscall fails with (config-linux.md#seccomp)."""
    p = run(oci, bundle, deny(MKDIR, errnoRet=errno.ENOSYS), "mkdir /tmp/x")
    assert p.returncode == 1
    assert ENOSYS_TEXT in p.stderr


def test_uname_and_chmod_blocked_others_not(oci, bundle):
    sc = {"defaultAction": ALLOW, "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
        {"names": CHMOD, "action": "SCMP_ACT_ERRNO"},
    ]}
    # busybox uname ignores the failure and prints garbage: compare its output
    script = ("uname -s | grep -qx Linux; echo u=$?; touch /tmp/f; echo t=$?;"
              " chmod 600 /tmp/f; echo c=$?")
    p = run(oci, bundle, sc, script)
    assert p.stdout.split() == ["u=1", "t=0", "c=1"], p.stderr
    assert EPERM_TEXT in p.stderr
    control = run(oci, bundle, {"defaultAction": ALLOW}, script)
    assert control.stdout.split() == ["u=0", "t=0", "c=0"], control.stderr


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"])
def test_kill_actions_end_the_process_with_sigsys(oci, bundle, action):
    b = bundle(args=["/bin/uname"], edit=with_seccomp(deny(["uname"], action)))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 128 + 31, (p.returncode, p.stderr)  # SIGSYS
    assert p.stdout == ""


def test_trap_sends_sigsys(oci, bundle):
    """SCMP_ACT_TRAP raises SIGSYS, whose default action ends the process."""
    b = bundle(args=["/bin/uname"], edit=with_seccomp(deny(["uname"], "SCMP_ACT_TRAP")))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 128 + 31, (p.returncode, p.stderr)
    assert p.stdout == ""


def test_trace_without_tracer_is_enosys(oci, bundle):
    """SCMP_ACT_TRACE with no tracer attached: the kernel fails the call with ENOSYS."""
    p = run(oci, bundle, deny(MKDIR, "SCMP_ACT_TRACE", errnoRet=5), "mkdir /tmp/x")
    assert p.returncode == 1
    assert ENOSYS_TEXT in p.stderr


def _kmsg_tail():
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    return fd


def _kmsg_read(fd):
    out = []
    while True:
        try:
            out.append(os.read(fd, 8192).decode(errors="replace"))
        except BlockingIOError:
            return out
        except OSError as e:
            if e.errno == errno.EPIPE:  # overwritten records: go on
                continue
            raise


def test_log_action_allows_and_logs(oci, bundle):
    """SCMP_ACT_LOG lets the syscall run; the kernel audits it (code 0x7ffc0000)."""
    nr = seccomp._lib()[1].seccomp_syscall_resolve_name(b"uname")
    b = bundle(args=["/bin/uname"], edit=with_seccomp(deny(["uname"], "SCMP_ACT_LOG")))
    for _attempt in range(3):  # audit's printk is rate limited (10 per 5 s, shared)
        kmsg = _kmsg_tail()
        try:
            p = oci("run", "--bundle", b, new_id())
            records = _kmsg_read(kmsg)
        finally:
            os.close(kmsg)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "Linux"
        if any("type=1326" in r and 'comm="uname"' in r and f"syscall={nr} " in r
               and "code=0x7ffc0000" in r for r in records):
            break
        time.sleep(5.5)
    else:
        pytest.fail(f"no audit record of the logged uname: {records}")


# ---- argument comparisons -----------------------------------------------

def test_arg_eq_blocks_only_matching_mode(oci, bundle):
    """args: the rule matches only when the argument compares true (config-linux.md#seccomp)."""
    sc = {"defaultAction": ALLOW, "syscalls": [
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
        {"names": ["fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
    ]}
    p = run(oci, bundle, sc, "touch /tmp/f; chmod 755 /tmp/f; echo a=$?; chmod 700 /tmp/f; echo b=$?;"
                             " stat -c %a /tmp/f")
    assert p.stdout.split() == ["a=0", "b=1", "755"], p.stderr


def test_arg_masked_eq_uses_value_as_mask(oci, bundle):
    """SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the datum (libseccomp: the
    masked argument equals the masked datum). Blocks world-writable modes only."""
    arg = {"value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}
    sc = {"defaultAction": ALLOW, "syscalls": [
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [dict(arg, index=1)]},
        {"names": ["fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "args": [dict(arg, index=2)]},
    ]}
    p = run(oci, bundle, sc, "touch /tmp/f; chmod 775 /tmp/f; echo a=$?; chmod 777 /tmp/f; echo b=$?;"
                             " chmod 646 /tmp/f; echo c=$?; stat -c %a /tmp/f")
    assert p.stdout.split() == ["a=0", "b=1", "c=1", "775"], p.stderr


# ---- allow-list profiles --------------------------------------------------

# A Docker/podman-shaped default profile: deny by default, allow ~300 names
# (some only exist on other architectures, some are newer than libseccomp
# 2.5.4), plus argument-filtered clone/personality/socket rules.
PROFILE_ALLOW = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_mempolicy getrusage getsid getsockname getsockopt gettid
gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_setup io_submit ioctl
ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
lchown lchown32 lgetxattr link linkat listen listmount listxattr listxattrat llistxattr
lremovexattr lseek lsetxattr lstat lstat64 lsm_get_self_attr lsm_list_modules madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _llseek
_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
removexattrat rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32
setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times
tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev arch_prctl
modify_ldt
""".split()
CLONE_NS_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def docker_like_profile():
    rules = [{"names": PROFILE_ALLOW, "action": ALLOW}]
    for persona in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        rules.append({"names": ["personality"], "action": ALLOW,
                      "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]})
    rules.append({"names": ["clone"], "action": ALLOW,
                  "args": [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                            "op": "SCMP_CMP_MASKED_EQ"}]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    rules.append({"names": ["socket"], "action": ALLOW,
                  "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]})  # not AF_NETLINK
    rules.append({"names": ["bpf", "mount", "umount2", "unshare", "setns", "kexec_load"],
                  "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": rules}


def test_profile_has_the_docker_shape():
    assert len(PROFILE_ALLOW) >= 300 and len(set(PROFILE_ALLOW)) == len(PROFILE_ALLOW)
    warnings = []
    seccomp.prepare(docker_like_profile(), {}, warn=warnings.append)
    # names newer than this libseccomp are left to the default action, said once
    unknown = [n for n in PROFILE_ALLOW if seccomp._lib()[1].seccomp_syscall_resolve_name(n.encode()) == -1]
    if unknown:
        assert len(warnings) == 1 and all(n in warnings[0] for n in unknown)
    else:
        assert warnings == []


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_docker_like_default_profile_runs_busybox(oci, bundle, nnp):
    """An allow-list profile (defaultAction SCMP_ACT_ERRNO) loads and a shell works under it."""
    p = run(oci, bundle, docker_like_profile(), "ls /; id", nnp)
    assert p.returncode == 0, p.stderr
    assert "bin" in p.stdout.split() and "uid=0(root)" in p.stdout


def test_allow_list_default_errno_applies_to_unlisted(oci, bundle):
    """What the allow-list leaves out fails with defaultErrnoRet (config-linux.md#seccomp)."""
    sc = docker_like_profile()
    sc["syscalls"][0]["names"] = [n for n in PROFILE_ALLOW if n not in ("mkdir", "mkdirat")]
    p = run(oci, bundle, sc, "mkdir /tmp/x; echo rc=$?; unshare -n true; echo u=$?")
    assert p.stdout.split() == ["rc=1", "u=1"], p.stderr
    assert ENOSYS_TEXT in p.stderr  # mkdir: the default errno
    assert EPERM_TEXT in p.stderr  # unshare: its own rule's errnoRet


def test_architectures_and_flags(oci, bundle):
    sc = deny(MKDIR)
    sc["architectures"] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    sc["flags"] = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                   "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    p = run(oci, bundle, sc, "mkdir /tmp/x; echo rc=$?")
    assert p.stdout.split() == ["rc=1"], p.stderr


def test_rule_with_the_default_action_is_skipped(oci, bundle):
    """libseccomp refuses such rules; like runc, they are dropped, not fatal."""
    sc = {"defaultAction": ALLOW, "syscalls": [{"names": ["uname"], "action": ALLOW},
                                                 {"names": MKDIR, "action": "SCMP_ACT_ERRNO"}]}
    p = run(oci, bundle, sc, "uname; mkdir /tmp/x; echo rc=$?")
    assert p.stdout.split() == ["Linux", "rc=1"], p.stderr


# ---- SCMP_ACT_NOTIFY and listenerPath -----------------------------------

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)  (80 bytes)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1


class Agent(threading.Thread):
    """A seccomp agent: takes one connection, records the fds and the state
    JSON, then lets `answers` notifications continue."""

    def __init__(self, path, answers=1):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.answers = answers
        self.fds, self.payload, self.notified = [], b"", []
        self.link, self.fdinfo, self.error = None, "", None

    def run(self):
        import fcntl

        try:
            self.srv.settimeout(30)
            conn, _ = self.srv.accept()
            with conn:
                data, self.fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 4)
                while data:  # the runtime closes the connection after one state
                    self.payload += data
                    data = conn.recv(1 << 16)
            fd = self.fds[0]
            self.link = os.readlink(f"/proc/self/fd/{fd}")
            with open(f"/proc/self/fdinfo/{fd}") as f:
                self.fdinfo = f.read()
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            for _ in range(self.answers):
                if not poller.poll(30000):
                    raise TimeoutError("no notification")
                notif = bytearray(80)
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, notif)
                nid, pid, _f, nr = struct.unpack_from("=QIIi", notif)
                self.notified.append((pid, nr))
                resp = bytearray(struct.pack("=QqiI", nid, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE))
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp)
        except BaseException as e:  # noqa: B902 - reported by the test
            self.error = e
        finally:
            self.srv.close()
            for fd in self.fds:
                os.close(fd)


def test_notify_sends_fd_and_state_to_listener(oci, bundle, tmp_path):
    """The listener gets the seccomp fd by SCM_RIGHTS and the container process
    state (config-linux.md#the-container-process-state); answering the
    notification lets the process go on."""
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    agent.start()
    sc = deny(MKDIR, "SCMP_ACT_NOTIFY")
    sc.update(listenerPath=path, listenerMetadata="MKDIR=allow;x=1")
    cid = new_id()
    b = bundle(args=["/bin/sh", "-c", "mkdir /tmp/n && echo made"], edit=with_seccomp(sc))
    p = oci("run", "--bundle", b, cid, timeout=60)
    agent.join(60)
    assert agent.error is None, repr(agent.error)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["made"]

    msg = json.loads(agent.payload)
    assert msg["fds"] == ["seccompFd"] and len(agent.fds) == 1
    assert msg["metadata"] == "MKDIR=allow;x=1"
    assert isinstance(msg["pid"], int) and msg["pid"] > 1
    assert isinstance(msg["ociVersion"], str) and msg["ociVersion"]
    state = msg["state"]
    assert state["id"] == cid and state["status"] == "creating" and state["pid"] == msg["pid"]
    assert state["bundle"] == b and "ociVersion" in state

    assert agent.link == "anon_inode:seccomp notify"
    assert "flags:" in agent.fdinfo
    lib = seccomp._lib()[1]
    (pid, nr), = agent.notified
    assert nr in (lib.seccomp_syscall_resolve_name(b"mkdir"), lib.seccomp_syscall_resolve_name(b"mkdirat"))


def test_notify_listener_unreachable_fails_create(oci, bundle, tmp_path):
    """Sending to listenerPath failing MUST be an error (config-linux.md#seccomp)."""
    sc = deny(MKDIR, "SCMP_ACT_NOTIFY")
    sc["listenerPath"] = str(tmp_path / "nobody.sock")
    b = bundle(edit=with_seccomp(sc))
    cid = new_id()
    p = oci("create", "--bundle", b, cid)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]
    assert "linux.seccomp.listenerPath" in p.stderr and "no such file or directory" in p.stderr
    assert_nothing_left(oci, cid)


# ---- config errors: one line naming the path, nothing left ---------------

def assert_nothing_left(oci, cid):
    assert oci("list", "-q").stdout.split() == []
    assert not os.path.exists(os.path.join(oci.root, cid))


@pytest.mark.parametrize("sc, path, words", [
    (deny(["mkdir", "no_such_call"]), "linux.seccomp.syscalls[0].names[1]", 'unknown syscall "no_such_call"'),
    (deny(["mkdir"], "SCMP_ACT_BOGUS"), "linux.seccomp.syscalls[0].action", "SCMP_ACT_BOGUS"),
    (dict(deny(MKDIR), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]),
     "linux.seccomp.architectures[1]", "SCMP_ARCH_VAX"),
    (dict(deny(MKDIR), flags=["SECCOMP_FILTER_FLAG_BOGUS"]), "linux.seccomp.flags[0]",
     "SECCOMP_FILTER_FLAG_BOGUS"),
    (deny(["mkdir"], "SCMP_ACT_ALLOW", errnoRet=1) | {"defaultAction": "SCMP_ACT_ERRNO"},
     "linux.seccomp.syscalls[0].errnoRet", "errnoRet"),
    (deny(["mseal"]), "linux.seccomp.syscalls[0].names[0]", "cannot be enforced"),
], ids=["syscall", "action", "arch", "flag", "errnoRet-on-allow", "newer-syscall-in-deny-rule"])
def test_invalid_seccomp_fails_create_cleanly(oci, bundle, sc, path, words):
    if words == "cannot be enforced" and seccomp._lib()[1].seccomp_syscall_resolve_name(b"mseal") != -1:
        pytest.skip("this libseccomp knows mseal")
    b = bundle(edit=with_seccomp(sc))
    cid = new_id()
    p = oci("create", "--bundle", b, cid)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert path in lines[0] and words in lines[0]
    assert_nothing_left(oci, cid)


def test_wait_killable_recv_follows_libseccomp_support(oci, bundle):
    sc = dict(deny(MKDIR), flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    b = bundle(args=["/bin/sh", "-c", "mkdir /tmp/x"], edit=with_seccomp(sc))
    cid = new_id()
    p = oci("run", "--bundle", b, cid)
    if "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in seccomp.supported_flags():
        assert p.returncode == 1 and EPERM_TEXT in p.stderr
    else:
        assert p.returncode == 1
        assert "linux.seccomp.flags[0]" in p.stderr and "not supported" in p.stderr
        assert_nothing_left(oci, cid)


# ---- prepare() without containers ---------------------------------------

@pytest.mark.parametrize("sc, path", [
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": ALLOW, "defaultErrnoRet": 1}, "linux.seccomp.defaultErrnoRet"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}, "linux.seccomp.defaultAction"),
    (deny(MKDIR, errnoRet=4095), "linux.seccomp.syscalls[0].errnoRet"),
    (deny(MKDIR, errnoRet=-1), "linux.seccomp.syscalls[0].errnoRet"),
    (deny([]), "linux.seccomp.syscalls[0].names"),
    (deny(MKDIR, args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]),
     "linux.seccomp.syscalls[0].args[0].index"),
    (deny(MKDIR, args=[{"index": 0, "value": 1 << 64, "op": "SCMP_CMP_EQ"}]),
     "linux.seccomp.syscalls[0].args[0].value"),
    (deny(MKDIR, args=[{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]),
     "linux.seccomp.syscalls[0].args[0].op"),
    (deny(MKDIR, "SCMP_ACT_NOTIFY"), "linux.seccomp.listenerPath"),
    (dict(deny(MKDIR), listenerMetadata="m"), "linux.seccomp.listenerMetadata"),
    (dict(deny(["sendmsg"], "SCMP_ACT_NOTIFY"), listenerPath="/x"), "linux.seccomp.syscalls[0].names"),
    (dict(deny(MKDIR), architectures=["SCMP_ARCH_LOONGARCH64"]), "linux.seccomp.architectures[0]"),
])
def test_prepare_rejects_with_path(sc, path):
    if path.endswith("architectures[0]") and "SCMP_ARCH_LOONGARCH64" in seccomp.known_archs():
        pytest.skip("this libseccomp knows LoongArch")
    with pytest.raises(InvalidSpec) as ei:
        seccomp.prepare(sc, {})
    assert ei.value.path == path, str(ei.value)


def test_needs_early():
    f = seccomp.prepare(deny(MKDIR), {})
    assert f.needs_early({}) and f.needs_early({"noNewPrivileges": False})
    assert not f.needs_early({"noNewPrivileges": True})
    n = seccomp.prepare(dict(deny(MKDIR, "SCMP_ACT_NOTIFY"), listenerPath="/x"), {})
    assert n.needs_early({"noNewPrivileges": True})  # the listener hears during create


def test_features_lists():
    assert set(seccomp.known_actions()) == {
        "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}
    assert set(seccomp.known_operators()) == {
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ"}
    little_endian = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"}
    assert little_endian <= set(seccomp.known_archs())
    assert set(seccomp.supported_flags()) <= set(seccomp.known_flags()) == {
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}
    # every listed arch is recognized: it loads, or (libseccomp: one byte order
    # per filter) fails naming the field and the reason
    added = []
    for a in seccomp.known_archs():
        try:
            seccomp.prepare(dict(deny(MKDIR), architectures=[a]), {})
            added.append(a)
        except InvalidSpec as e:
            assert e.path == "linux.seccomp.architectures[0]" and "byte order" in e.message, str(e)
    assert little_endian <= set(added)
    for f in seccomp.supported_flags():
        seccomp.prepare(dict(deny(MKDIR), flags=[f]), {})


# ---- generated rule sets in forked children ------------------------------

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
# syscall -> the integer argument index a rule may compare, and the values tried
INT_ARG = {"mkdir": (1, (0o700, 0o755)), "chmod": (1, (0o600, 0o644)), "getcwd": (1, (4096, 1024)),
           "uname": (None, (None,))}
OPS = {
    "SCMP_CMP_NE": lambda a, v, _t: a != v, "SCMP_CMP_LT": lambda a, v, _t: a < v,
    "SCMP_CMP_LE": lambda a, v, _t: a <= v, "SCMP_CMP_EQ": lambda a, v, _t: a == v,
    "SCMP_CMP_GE": lambda a, v, _t: a >= v, "SCMP_CMP_GT": lambda a, v, _t: a > v,
    "SCMP_CMP_MASKED_EQ": lambda a, v, t: a & v == t & v,  # libseccomp masks the datum too
}


def attempt(name, value, workdir, k):
    """Make one raw syscall (64-bit clean arguments); return 0 or its errno."""
    nr = seccomp._lib()[1].seccomp_syscall_resolve_name(name.encode())
    L = ctypes.c_long
    if name == "mkdir":
        rc = LIBC.syscall(L(nr), ctypes.c_char_p(f"{workdir}/d{k}".encode()), L(value))
    elif name == "chmod":
        rc = LIBC.syscall(L(nr), ctypes.c_char_p(f"{workdir}/f".encode()), L(value))
    elif name == "getcwd":
        buf = ctypes.create_string_buffer(4096)
        rc = LIBC.syscall(L(nr), buf, L(value))
    else:
        buf = ctypes.create_string_buffer(6 * 65)
        rc = LIBC.syscall(L(nr), buf)
    return ctypes.get_errno() if rc < 0 else 0


def outcomes_in_child(flt, workdir):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            flt.load()
            res, k = {}, 0
            for name, (_idx, values) in INT_ARG.items():
                for v in values:
                    k += 1
                    res[(name, v)] = attempt(name, v, workdir, k)
            os.write(w, repr(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    import ast

    return ast.literal_eval(data.decode())


values64 = st.one_of(st.sampled_from([0, 1, 0o600, 0o644, 0o700, 0o755, 1024, 4096, 0o7, 0o77, 0xFFF]),
                     st.integers(0, (1 << 64) - 1))


@st.composite
def rule_sets(draw):
    names = draw(st.lists(st.sampled_from(sorted(INT_ARG)), unique=True, max_size=4))
    rules = []
    for name in names:
        rule = {"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": draw(st.integers(1, 133))}
        idx = INT_ARG[name][0]
        if idx is not None and draw(st.booleans()):
            op = draw(st.sampled_from(sorted(OPS)))
            arg = {"index": idx, "op": op, "value": draw(values64)}
            if op == "SCMP_CMP_MASKED_EQ":
                arg["valueTwo"] = draw(values64) & arg["value"] if draw(st.booleans()) else draw(values64)
            rules.append(dict(rule, args=[arg]))
        else:
            rules.append(rule)
    return rules


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rule_sets())
def test_generated_rules_match_model(rules, tmp_path):
    """Rule syscalls fail with their errnoRet when their comparison holds; all else succeeds."""
    workdir = tmp_path / f"w{os.urandom(4).hex()}"
    workdir.mkdir()
    (workdir / "f").touch()
    flt = seccomp.prepare({"defaultAction": ALLOW, "syscalls": rules}, {"noNewPrivileges": False})
    got = outcomes_in_child(flt, workdir)
    by_name = {r["names"][0]: r for r in rules}
    for (name, v), err in got.items():
        rule = by_name.get(name)
        blocked = rule is not None and all(OPS[a["op"]](v, a["value"], a.get("valueTwo", 0))
                                           for a in rule.get("args", ()))
        assert err == (rule["errnoRet"] if blocked else 0), (name, v, rule)


def test_repeated_arg_index_means_any_of(tmp_path):
    """Two comparisons on one argument become separate rules (runc's reading): either blocks."""
    (tmp_path / "f").touch()
    rules = [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS,
              "args": [{"index": 1, "value": 0o600, "op": "SCMP_CMP_EQ"},
                       {"index": 1, "value": 0o644, "op": "SCMP_CMP_EQ"}]}]
    got = outcomes_in_child(seccomp.prepare({"defaultAction": ALLOW, "syscalls": rules}, {}), tmp_path)
    assert got[("chmod", 0o600)] == errno.EROFS and got[("chmod", 0o644)] == errno.EROFS
    assert got[("mkdir", 0o700)] == 0
