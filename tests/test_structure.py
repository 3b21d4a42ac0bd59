"""The package's shape: no import circle, no reaching into another package's private modules."""

import ast
import os

from .helpers import ROOT

PACKAGE = os.path.join(ROOT, "learnsolve")


def modules():
    """``{dotted name: path}`` of every module of learnsolve (packages by their ``__init__``)."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[name.removesuffix(".__init__")] = path
    return out


def imports(name, path, known):
    """Modules of learnsolve that ``name`` imports anywhere (function-level imports included)."""
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level \
                else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t not in known and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in known and t != name:
                found.add(t)
    return found


def test_no_import_circle_in_learnsolve():
    """No cycle in the module import graph, lazy imports counted (the root package, which only
    gathers the subpackages, is left out)."""
    known = modules()
    graph = {m: imports(m, p, known) - {"learnsolve"} for m, p in known.items()}
    state = {}

    def visit(m, trail):
        state[m] = "open"
        for d in sorted(graph[m]):
            assert state.get(d) != "open", "import circle: " + " -> ".join(trail + [m, d])
            if d not in state:
                visit(d, trail + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def _private(parts):
    """A leading underscore marks a private name; dunders (``__init__``, ``__version__``) are not."""
    return any(part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
               for part in parts)


def _references(path, name=None, known=None):
    """``(line, dotted learnsolve name)`` of every import and ``learnsolve.x.y`` attribute chain."""
    tree = ast.parse(open(path).read())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
            out += [(node.lineno, f"{module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("learnsolve"):
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("learnsolve")]
        elif isinstance(node, ast.Attribute):
            chain, v = [node.attr], node.value
            while isinstance(v, ast.Attribute):
                chain.append(v.attr)
                v = v.value
            if isinstance(v, ast.Name) and v.id == "learnsolve":
                out.append((node.lineno, ".".join(["learnsolve"] + chain[::-1])))
    return out


def test_no_module_imports_another_packages_private_names():
    """Inside learnsolve a subpackage takes from another one only what its ``__init__`` exports
    (the root's ``_validation`` and ``_backend`` are shared by all); the benchmarks and examples
    use the public API only."""
    known = modules()
    bad = []
    for name, path in known.items():
        own = name.split(".")[:2]
        for line, ref in _references(path, name, known):
            parts = ref.split(".")
            if parts[:2] == own or parts[1] in ("_validation", "_backend"):
                continue  # its own package, or the root's shared helpers
            if _private(parts[2:]):
                bad.append(f"{os.path.relpath(path, ROOT)}:{line}: {ref}")
    for folder in ("benchmarks", "examples"):
        for path, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if f.endswith(".py"):
                    full = os.path.join(path, f)
                    bad += [f"{os.path.relpath(full, ROOT)}:{line}: {ref}"
                            for line, ref in _references(full) if _private(ref.split(".")[1:])]
    assert not bad, "\n".join(bad)
