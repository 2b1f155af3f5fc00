"""The example bundle runs end to end (runtime.md#lifecycle, steps 1-12)."""
from conftest import new_id


def test_run_prints_and_exits(oci, bundle):
    b = bundle(args=["/bin/sh", "-c", "echo pid=$$; hostname; exit 3"], edit=lambda c: c.update(hostname="smoke"))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 3, p.stderr
    assert p.stdout.split() == ["pid=1", "smoke"]
    assert oci("list", "-q").stdout == ""
