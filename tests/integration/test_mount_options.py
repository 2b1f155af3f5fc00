"""Issue 11 item 12: every option `ocirun features` lists in mountOptions takes effect.

Each option is used on its own mount (/m/<option>), in one container that prints its
mountinfo; the check is what /proc/self/mountinfo shows (proc_namespace.c: per-mount
options, optional fields for propagation, super options for sync/dirsync/lazytime).
A negation is shown after its positive form: ["nosuid", "suid"] must leave no nosuid.
The few options no mountinfo field can show are listed with the reason, and the test
checks mountopts hands their flag to mount(2).
"""
import json
import subprocess

import pytest

from conftest import new_id

SEEN = "seen"      # (where, word): word in that field
UNSEEN = "unseen"  # (where, word): word not in that field

# option -> (options to use, [(field, word, present?)])
CHECKS = {
    "ro": (["ro"], [("opts", "ro", True)]),
    "rw": (["ro", "rw"], [("opts", "rw", True)]),
    "nosuid": (["nosuid"], [("opts", "nosuid", True)]),
    "suid": (["nosuid", "suid"], [("opts", "nosuid", False)]),
    "nodev": (["nodev"], [("opts", "nodev", True)]),
    "dev": (["nodev", "dev"], [("opts", "nodev", False)]),
    "noexec": (["noexec"], [("opts", "noexec", True)]),
    "exec": (["noexec", "exec"], [("opts", "noexec", False)]),
    "sync": (["sync"], [("super", "sync", True)]),
    "async": (["sync", "async"], [("super", "sync", False)]),
    "dirsync": (["dirsync"], [("super", "dirsync", True)]),
    "lazytime": (["lazytime"], [("super", "lazytime", True)]),
    "nolazytime": (["lazytime", "nolazytime"], [("super", "lazytime", False)]),
    "nosymfollow": (["nosymfollow"], [("opts", "nosymfollow", True)]),
    "symfollow": (["nosymfollow", "symfollow"], [("opts", "nosymfollow", False)]),
    "noatime": (["noatime"], [("opts", "noatime", True)]),
    "atime": (["noatime", "atime"], [("opts", "noatime", False)]),
    "nodiratime": (["nodiratime"], [("opts", "nodiratime", True)]),
    "diratime": (["nodiratime", "diratime"], [("opts", "nodiratime", False)]),
    "relatime": (["relatime"], [("opts", "relatime", True)]),
    "strictatime": (["strictatime"], [("opts", "relatime", False), ("opts", "noatime", False)]),
    "nostrictatime": (["strictatime", "nostrictatime"], [("opts", "relatime", True)]),
    "shared": (["shared"], [("optional", "shared:", True)]),
    "rshared": (["rshared"], [("optional", "shared:", True)]),
    "private": (["shared", "private"], [("optional", "shared:", False)]),
    "rprivate": (["shared", "rprivate"], [("optional", "shared:", False)]),
    "slave": (["shared", "slave"], [("optional", "shared:", False)]),
    "rslave": (["shared", "rslave"], [("optional", "shared:", False)]),
    "unbindable": (["unbindable"], [("optional", "unbindable", True)]),
    "runbindable": (["runbindable"], [("optional", "unbindable", True)]),
    "rro": (["rro"], [("opts", "ro", True)]),
    "rrw": (["ro", "rrw"], [("opts", "rw", True)]),
    "rnosuid": (["rnosuid"], [("opts", "nosuid", True)]),
    "rsuid": (["nosuid", "rsuid"], [("opts", "nosuid", False)]),
    "rnodev": (["rnodev"], [("opts", "nodev", True)]),
    "rdev": (["nodev", "rdev"], [("opts", "nodev", False)]),
    "rnoexec": (["rnoexec"], [("opts", "noexec", True)]),
    "rexec": (["noexec", "rexec"], [("opts", "noexec", False)]),
    "rnodiratime": (["rnodiratime"], [("opts", "nodiratime", True)]),
    "rdiratime": (["nodiratime", "rdiratime"], [("opts", "nodiratime", False)]),
    "rnosymfollow": (["rnosymfollow"], [("opts", "nosymfollow", True)]),
    "rsymfollow": (["nosymfollow", "rsymfollow"], [("opts", "nosymfollow", False)]),
    "rnoatime": (["rnoatime"], [("opts", "noatime", True)]),
    "ratime": (["noatime", "ratime"], [("opts", "noatime", False), ("opts", "relatime", True)]),
    "rrelatime": (["noatime", "rrelatime"], [("opts", "relatime", True)]),
    "rstrictatime": (["rstrictatime"], [("opts", "relatime", False), ("opts", "noatime", False)]),
    "rnostrictatime": (["strictatime", "rnostrictatime"], [("opts", "relatime", True)]),
    "rnorelatime": (["rnorelatime"], [("opts", "relatime", True)]),
    "defaults": (["defaults"], [("opts", "rw", True), ("opts", "nosuid", False)]),
}
# Each shown by a line of its own below.
SPECIAL = {"bind", "rbind", "remount", "tmpcopyup"}
# No mountinfo field shows them; their MS_* flag is passed to mount(2) (checked below).
UNOBSERVABLE = {
    "mand": "the kernel ignores MS_MANDLOCK since 5.15",
    "nomand": "the kernel ignores MS_MANDLOCK since 5.15",
    "silent": "only the kernel log's verbosity",
    "loud": "only the kernel log's verbosity",
    "acl": "tmpfs has POSIX ACLs either way; no mountinfo field",
    "noacl": "tmpfs has POSIX ACLs either way; no mountinfo field",
    "iversion": "no mountinfo field shows i_version",
    "noiversion": "no mountinfo field shows i_version",
    "norelatime": "relatime is the kernel's default either way",
    "idmap": "test_features.py::test_idmap_claim (needs a user namespace)",
    "ridmap": "test_features.py::test_idmap_claim (needs a user namespace)",
}


@pytest.fixture(scope="module")
def listed(ocirun_bin):
    return json.loads(subprocess.run([ocirun_bin, "features"], capture_output=True, text=True,
                                     check=True).stdout)["mountOptions"]


def test_every_listed_option_has_a_check(listed):
    assert set(listed) <= set(CHECKS) | SPECIAL | set(UNOBSERVABLE)


def test_unobservable_options_reach_mount(listed):
    from ocirun import mountopts

    for opt in set(listed) & set(UNOBSERVABLE) - {"idmap", "ridmap"}:
        plain = mountopts.parse_mount({"type": "tmpfs", "destination": "/x", "options": []})
        m = mountopts.parse_mount({"type": "tmpfs", "destination": "/x", "options": [opt]})
        # it sets a flag, or (nomand, loud...) clears the one an earlier option set
        undoes = any(mountopts.parse_mount({"type": "tmpfs", "destination": "/x", "options": [o, opt]}).flags
                     != mountopts.parse_mount({"type": "tmpfs", "destination": "/x", "options": [o]}).flags
                     for o in listed)
        assert m.data == "" and (m.flags != plain.flags or undoes), opt


def parse(text):
    """{mount point: (per-mount options, optional fields, super options)}; the last mount wins."""
    out = {}
    for line in text.splitlines():
        head, _, tail = line.partition(" - ")
        f = head.split(" ")
        out[f[4]] = (f[5].split(","), f[6:], tail.split(" ")[2].split(","))
    return out


def test_every_listed_option_takes_effect(listed, oci, bundle, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("bound\n")

    def edit(c):
        for opt in sorted(set(listed) & set(CHECKS)):
            c["mounts"].append({"destination": f"/m/{opt}", "type": "tmpfs", "source": "tmpfs",
                                "options": CHECKS[opt][0]})
        c["mounts"] += [
            {"destination": "/m/bind", "type": "none", "source": str(src), "options": ["bind"]},
            {"destination": "/m/rbind", "type": "none", "source": str(src), "options": ["rbind"]},
            {"destination": "/m/remount", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]},
            {"destination": "/m/remount", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]},
            {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]},
        ]

    args = ["sh", "-c", "cat /proc/self/mountinfo; echo ===; cat /m/bind/marker /m/rbind/marker; "
                        "grep -c ^root: /etc/passwd"]
    p = oci("run", "--bundle", bundle(args=args, edit=edit), new_id())
    assert p.returncode == 0, p.stderr
    info, _, files = p.stdout.partition("===\n")
    mounts = parse(info)
    bad = []
    for opt in sorted(set(listed) & set(CHECKS)):
        opts, optional, sup = mounts[f"/m/{opt}"]
        fields = {"opts": opts, "optional": optional, "super": sup}
        for where, word, present in CHECKS[opt][1]:
            has = any(x == word or (word.endswith(":") and x.startswith(word)) for x in fields[where])
            if has != present:
                bad.append(f"{opt}: {word!r} {'missing from' if present else 'in'} {where} {fields[where]}")
    assert bad == []
    assert files == "bound\nbound\n1\n"
    assert "ro" in mounts["/m/remount"][0]
    assert info.count(" /m/remount ") == 1  # changed in place, not mounted twice
    assert mounts["/etc"][2][0] in ("rw", "ro") and "tmpfs" in [ln.split(" - ")[1].split()[0]
                                                                   for ln in info.splitlines()
                                                                   if ln.split(" ")[4] == "/etc"]
