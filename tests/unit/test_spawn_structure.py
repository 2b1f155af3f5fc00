"""Issue 12, one spawn path and thin commands, kept so by reading the source:
commands are thin verbs over ocirun/container/ (no command imports another);
no module reaches into another's private helpers; one Plan class."""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(REPO, "ocirun")


def sources():
    for d, _, files in os.walk(PKG):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(d, name)
                with open(path) as f:
                    yield os.path.relpath(path, REPO), ast.parse(f.read())


def ocirun_names(tree):
    """Local names bound to ocirun modules (or their members) by imports."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "ocirun":
            out.update(a.asname or a.name for a in n.names)
        elif isinstance(n, ast.Import):
            out.update((a.asname or a.name.split(".")[0]) for a in n.names if a.name.split(".")[0] == "ocirun")
    return out


def test_no_module_uses_another_modules_private_names():
    bad = []
    for path, tree in sources():
        names = ocirun_names(tree)
        for n in ast.walk(tree):
            if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in names
                    and n.attr.startswith("_") and not n.attr.startswith("__")
                    and not hasattr(os, n.attr)):  # os._exit through an os stand-in
                bad.append(f"{path}:{n.lineno}: {n.value.id}.{n.attr}")
    assert not bad, bad


def test_no_command_imports_another_command():
    """What two commands share lives in ocirun/container/, not in a command."""
    bad = []
    for path, tree in sources():
        if path == os.path.join("ocirun", "cli.py"):
            continue  # the dispatcher
        for n in ast.walk(tree):
            mod = None
            if isinstance(n, ast.ImportFrom) and n.module:
                mod = n.module + "." + ",".join(a.name for a in n.names)
            elif isinstance(n, ast.Import):
                mod = ",".join(a.name for a in n.names)
            if mod and ("ocirun.commands." in mod or mod.startswith("ocirun.commands")):
                bad.append(f"{path}:{n.lineno}: {mod}")
    assert not bad, bad


def test_one_plan_class():
    """spawn.Plan is the only Plan: what a forked child runs from."""
    plans = [path for path, tree in sources() for n in ast.walk(tree)
             if isinstance(n, ast.ClassDef) and n.name == "Plan"]
    assert plans == [os.path.join("ocirun", "container", "spawn.py")], plans


def test_lifecycle_commands_are_thin_verbs():
    """create, run, start, delete and kill parse arguments and call container/."""
    for verb in ("create", "run", "start", "delete", "kill"):
        path = os.path.join(PKG, "commands", f"{verb}.py")
        with open(path) as f:
            tree = ast.parse(f.read())
        funcs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert funcs == ["run"], (verb, funcs)
        imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "ocirun.container" in imports, (verb, imports)
