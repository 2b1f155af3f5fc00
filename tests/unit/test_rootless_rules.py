"""ocirun.rootless: runc's --rootless auto rule and its XDG_RUNTIME_DIR state root."""
import pytest

from ocirun import rootless
from ocirun.errors import UsageError


@pytest.fixture
def as_(monkeypatch):
    def set_(euid, in_userns=False, **environ):
        monkeypatch.setattr(rootless.os, "geteuid", lambda: euid)
        monkeypatch.setattr(rootless, "in_user_namespace", lambda: in_userns)
        for k in ("XDG_RUNTIME_DIR", "USER"):
            monkeypatch.delenv(k, raising=False)
        for k, v in environ.items():
            monkeypatch.setenv(k, v)
    return set_


@pytest.mark.parametrize("euid,userns,want", [(0, False, False), (1000, False, True), (0, True, True)])
def test_auto_is_on_for_a_user_or_inside_a_user_namespace(as_, euid, userns, want):
    as_(euid, userns)
    assert rootless.enabled("auto") is want
    assert rootless.enabled("") is want


def test_true_and_false_override_auto(as_):
    as_(0)
    assert rootless.enabled("true") is True
    as_(1000)
    assert rootless.enabled("false") is False
    with pytest.raises(UsageError, match="-rootless"):
        rootless.enabled("maybe")


@pytest.mark.parametrize("euid,userns,environ,want", [
    (1000, False, {"XDG_RUNTIME_DIR": "/run/user/1000"}, "/run/user/1000/ocirun"),
    (1000, False, {}, "/run/ocirun"),
    (0, False, {"XDG_RUNTIME_DIR": "/run/user/0"}, "/run/ocirun"),  # the real root: as before
    (0, True, {"XDG_RUNTIME_DIR": "/run/user/1000", "USER": "me"}, "/run/user/1000/ocirun"),
    (0, True, {"XDG_RUNTIME_DIR": "/run/user/0", "USER": "root"}, "/run/ocirun"),
])
def test_state_root_follows_runcs_xdg_rule(as_, euid, userns, environ, want):
    as_(euid, userns, **environ)
    assert rootless.state_root() == want


def test_own_id_map_needs_no_helper_and_denies_setgroups(as_):
    as_(1000)
    one = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert rootless.own_id_map(one, 1000)
    assert not rootless.own_id_map(one + [{"containerID": 1, "hostID": 100000, "size": 10}], 1000)
    assert not rootless.own_id_map([{"containerID": 0, "hostID": 1000, "size": 2}], 1000)


def test_limits_without_a_writable_cgroup_name_the_field(monkeypatch):
    monkeypatch.setattr(rootless, "_writable", lambda d: False)

    class M:
        mode = "hybrid"
        paths = {"memory": "/nonexistent-cgroup-root/x"}
    with pytest.raises(Exception, match=r"linux\.resources\.memory: cannot set memory limit"):
        rootless.cgroup_manager(M(), {"resources": {"memory": {"limit": 1 << 20}}})
    none = rootless.cgroup_manager(M(), {"resources": {"devices": [{"allow": False}]}})
    assert isinstance(none, rootless.NoCgroup) and none.paths == {} and none.to_dict() is None
    # the container stays in our own cgroup: the `cgroup` mount shows that one
    assert none.view.paths == {"memory": "/nonexistent-cgroup-root"}
    m = M()
    assert rootless.cgroup_manager(m, {"cgroupsPath": "/x"}) is m  # explicit: its errors are real
