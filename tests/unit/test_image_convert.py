"""Image config -> config.json (image-spec conversion.md), on a rootfs made here."""
import os

import pytest

from ocirun.image import ImageError, convert

PASSWD = "root:x:0:0::/root:/bin/sh\nweb:x:33:34::/srv:/bin/sh\n# comment\nbroken\n"
GROUP = "root:x:0:\nwww:x:34:\nstaff:x:50:web,other\nmisc:x:60:other\n"


@pytest.fixture
def root_fd(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


@pytest.mark.parametrize("user,want", [
    ("web", (33, 34, [34, 50])),          # name: primary group, then the groups listing it
    ("web:staff", (33, 50, None)),         # a group given: additionalGids untouched
    ("33", (33, 34, None)),                # numeric user: verbatim, additionalGids untouched
    ("4242", (4242, 0, None)),             # numeric user the image does not know: still verbatim
    ("4242:77", (4242, 77, None)),
    ("root:60", (0, 60, None)),
])
def test_user_resolved_in_the_images_own_files(root_fd, user, want):
    assert convert.resolve_user(user, root_fd, "image") == want


@pytest.mark.parametrize("user,message", [
    ("nobody", "no user 'nobody' in the image's /etc/passwd"),
    ("web:nogroup", "no group 'nogroup' in the image's /etc/group"),
])
def test_unknown_user_or_group_is_an_error(root_fd, user, message):
    """conversion.md, Config.User: a user the container does not have MUST be an error."""
    with pytest.raises(ImageError, match=message):
        convert.resolve_user(user, root_fd, "image")


def test_passwd_symlinked_out_of_the_rootfs_is_read_inside_it(tmp_path):
    (tmp_path / "rootfs" / "etc").mkdir(parents=True)
    (tmp_path / "rootfs" / "host-passwd").write_text("web:x:7:7::/:/bin/sh\n")
    (tmp_path / "etc-passwd").write_text("web:x:99:99::/:/bin/sh\n")
    os.symlink(str(tmp_path / "etc-passwd"), tmp_path / "rootfs" / "etc" / "passwd")
    fd = os.open(tmp_path / "rootfs", os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(ImageError, match="no user 'web'"):  # never the host file
            convert.resolve_user("web", fd, "image")
        os.unlink(tmp_path / "rootfs" / "etc" / "passwd")
        os.symlink("/host-passwd", tmp_path / "rootfs" / "etc" / "passwd")
        assert convert.resolve_user("web", fd, "image")[:2] == (7, 7)
    finally:
        os.close(fd)


def test_defaults_when_the_image_says_nothing(root_fd):
    c = convert.runtime_config({"config": {}}, root_fd, "image")
    assert c["process"]["args"] == ["sh"] and c["process"]["cwd"] == "/"
    assert c["process"]["user"] == {"uid": 0, "gid": 0}
    assert "annotations" not in c and c["root"] == {"path": "rootfs", "readonly": False}


@pytest.mark.parametrize("cfg,message", [
    ({"Env": "A=1"}, "config.Env: not a list of strings"),
    ({"Cmd": [1]}, "config.Cmd: not a list of strings"),
    ({"User": 0}, "User: not a string"),
    ({"Labels": {"a": 1}}, "config.Labels: not an object of strings"),
])
def test_malformed_config_fields_named(root_fd, cfg, message):
    with pytest.raises(ImageError, match=message):
        convert.runtime_config({"config": cfg}, root_fd, "image")
