from conftest import new_id

def test_q(oci, bundle):
    def edit(c):
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    b = bundle(args=["/bin/sh", "-c", "grep Seccomp /proc/self/status; mkdir /tmp/x"], edit=edit)
    p = oci("run", "--bundle", b, new_id())
    print(p.returncode, p.stdout, p.stderr)
    def edit2(c):
        edit(c); c["process"]["noNewPrivileges"] = False
    b = bundle(args=["/bin/sh", "-c", "grep -E 'Seccomp|NoNew' /proc/self/status; mkdir /tmp/x"], edit=edit2)
    p = oci("run", "--bundle", b, new_id())
    print(p.returncode, p.stdout, p.stderr)
    assert 0
