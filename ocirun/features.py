"""The features document (features.md, features-linux.md) for `ocirun features`.

Every list comes from the table the code itself uses, so the document cannot
claim a name the runtime would not recognise: hooks from the validator's hook
kinds, mount options from mountopts, namespaces from namespaces.FLAGS,
capabilities from captable, memory policies from procattrs, cgroup support
from the cgroup package, seccomp from ocirun.seccomp (left out if that module
is absent), AppArmor/SELinux from ocirun.lsm. Members we do not implement
are reported as disabled rather than omitted, so a caller need not guess.
"""

# Not implemented: nothing writes resctrl. Flip only with the code that does.
INTEL_RDT = False
# Options that only make sense with idmapped mounts: claimed with them.
_IDMAP_OPTIONS = ("idmap", "ridmap")

OCI_VERSION_MIN = "1.0.0"


def build():
    """The features document as a dict (ociVersionMin/Max first, as in runc)."""
    from ocirun import SPEC_VERSION, __version__
    from ocirun import captable, mountopts, namespaces, procattrs
    from ocirun.spec.validate import HOOK_KINDS

    idmap = idmap_mounts()
    options = mountopts.known_options()
    if not idmap:
        options = [o for o in options if o not in _IDMAP_OPTIONS]
    linux = {
        "namespaces": sorted(namespaces.FLAGS),
        # Kernel order, as runc prints them.
        "capabilities": sorted(captable.CAPABILITIES, key=captable.CAPABILITIES.get),
        "cgroup": cgroup_support(),
    }
    seccomp = seccomp_support()
    if seccomp is not None:
        linux["seccomp"] = seccomp
    linux["apparmor"] = {"enabled": lsm_enabled("apparmor")}
    linux["selinux"] = {"enabled": lsm_enabled("selinux")}
    linux["memoryPolicy"] = {
        "modes": sorted(procattrs.MPOL_MODES, key=procattrs.MPOL_MODES.get),
        "flags": sorted(procattrs.MPOL_FLAGS),
    }
    linux["intelRdt"] = {"enabled": INTEL_RDT}
    linux["mountExtensions"] = {"idmap": {"enabled": idmap}}
    linux["netDevices"] = {"enabled": net_devices()}
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": options,
        "linux": linux,
        "annotations": annotations(__version__, seccomp),
    }


def cgroup_support():
    """What the cgroup package can drive (features-linux.md#linuxFeaturesCgroup):
    both cgroupfs managers; no systemd driver (a systemd-style cgroupsPath is
    rejected by the path parser, which is what we ask); rdma if both resource
    writers handle it."""
    from ocirun.cgroups import resources_v1, resources_v2, v1, v2
    from ocirun.cgroups.paths import parse_cgroups_path
    from ocirun.errors import OciError

    try:
        parse_cgroups_path("system.slice:ocirun:probe", "probe")
        systemd = True
    except OciError:
        systemd = False
    v1_setters = dict(resources_v1.ORDER)
    return {
        "v1": hasattr(v1, "V1Manager"),
        "v2": hasattr(v2, "V2Manager"),
        "systemd": systemd,
        "systemdUser": systemd,
        "rdma": "rdma" in v1_setters and resources_v2.set_rdma in resources_v2.ORDER,
    }


def idmap_mounts():
    """mounts[].uidMappings/gidMappings and idmap/ridmap: userns makes the
    mapping's namespace, rootfs binds through it (mount_setattr MOUNT_ATTR_IDMAP)."""
    from ocirun import rootfs, userns

    return hasattr(userns, "idmap_fd") and hasattr(rootfs, "_attach_tree")


def net_devices():
    """linux.netDevices: ocirun.netdev moves the interfaces in."""
    try:
        from ocirun import netdev
    except ImportError:
        return False
    return hasattr(netdev, "move_all")


def seccomp_support():
    """The seccomp member from ocirun.seccomp's own tables, or None without it.
    supportedFlags is given only when the module can say what the kernel takes."""
    try:
        from ocirun import seccomp
    except ImportError:
        return None
    needed = ("known_actions", "known_operators", "known_archs", "known_flags")
    if not all(hasattr(seccomp, name) for name in needed):
        return None
    out = {
        "enabled": True,
        "actions": sorted(seccomp.known_actions()),
        "operators": sorted(seccomp.known_operators()),
        "archs": sorted(seccomp.known_archs()),
        "knownFlags": list(seccomp.known_flags()),
    }
    if hasattr(seccomp, "supported_flags"):
        out["supportedFlags"] = list(seccomp.supported_flags())
    return out


def lsm_enabled(name):
    """ocirun.lsm applies AppArmor/SELinux labels, and refuses them when the
    host lacks the LSM (rather than running unconfined). So the truthful
    claim is "supported here": the code has the writer and the host has the LSM."""
    from ocirun import lsm

    host = {"apparmor": lsm.apparmor_enabled, "selinux": lsm.selinux_enabled}[name]
    return hasattr(lsm, "apply_exec_labels") and host()


def annotations(version, seccomp):
    """Only what is true of this build. runc's checkpoint annotation only when
    a CRIU is on PATH for the checkpoint command to drive. The libseccomp
    version only if seccomp uses it."""
    from ocirun.criu import find_criu

    out = {"ocirun.version": version}
    if find_criu("criu"):
        out["org.opencontainers.runc.checkpoint.enabled"] = "true"
    if seccomp is not None:
        from ocirun import seccomp as mod

        lib = getattr(mod, "libseccomp_version", None)
        lib = lib() if lib else None
        if lib:
            out["io.github.seccomp.libseccomp.version"] = lib
    return out
