"""The package's structure: no import cycle between the modules of ``neurovis``.

The import graph is built from the source with ``ast`` (nothing is imported): an edge A -> B for
every import in A, at module level or inside a function, that names module B of the package.
``from X import n`` is an edge to the submodule ``X.n`` when there is one, else to ``X`` (whose
``__init__`` must then have run); relative imports are resolved against A's package. The implicit
import of a module's parent packages is not an edge (every submodule would otherwise form a cycle
with an ``__init__`` that re-exports it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import neurovis


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package at ``root``."""
    mods = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join([package, *parts])] = path
    return mods


def _resolve(module: str | None, level: int, current: str, is_package: bool) -> str:
    """Absolute name of ``from <level dots><module> import ...`` written in module ``current``."""
    if level == 0:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]  # a plain module's package
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module-level and function-level imports)."""
    mods = module_names(root, package)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                src = _resolve(node.module, node.level, mod, is_pkg)
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    targets.append(sub if sub in mods else src)
            for t in targets:
                # `import a.b.c` names module a.b.c; keep the longest prefix that is a module
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
                elif t == mod and t:
                    graph[mod].add(t)  # a module importing itself is a cycle too
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a, as a list of names) per strongly connected component with one."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def strongconnect(v):  # Tarjan's algorithm; the graph is small
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    cycles = []
    for comp in sccs:
        start = min(comp)
        if len(comp) == 1 and start not in graph.get(start, ()):
            continue
        # shortest path from start back to start inside the component (BFS)
        prev, frontier, found = {}, [start], None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & comp):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path, v = [start], found
        while v != start:
            path.insert(1, v)
            v = prev[v]
        cycles.append(path + [start])
    return sorted(cycles)


def test_the_package_has_no_import_cycle():
    root = Path(neurovis.__file__).parent
    graph = import_graph(root, "neurovis")
    assert len(graph) > 50 and graph["neurovis.driving.train"], "the builder found the modules"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in neurovis:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _write(root: Path, files: dict[str, str]):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_the_cycle_check_finds_a_synthetic_cycle(tmp_path):
    """A tiny package with a function-level relative import closing a three-module loop."""
    _write(
        tmp_path / "pkg",
        {
            "__init__.py": "from .a import f\n",
            "a.py": "from .sub.b import g\n\ndef f():\n    return g()\n",
            "sub/__init__.py": "",
            "sub/b.py": "import pkg.c\n\ndef g():\n    return pkg.c.h()\n",
            "c.py": "def h():\n    from . import a   # function-level: still an edge\n    return "
            "a\n",
            "d.py": "from .sub import b\nfrom pkg.sub.b import g\n",  # no cycle through d
        },
    )
    graph = import_graph(tmp_path / "pkg", "pkg")
    assert graph["pkg.d"] == {"pkg.sub.b"}
    assert graph["pkg"] == {"pkg.a"}
    cycles = find_cycles(graph)
    assert cycles == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
    with pytest.raises(AssertionError, match=r"pkg.a -> pkg.sub.b -> pkg.c -> pkg.a"):
        assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_passes_an_acyclic_package(tmp_path):
    _write(
        tmp_path / "pkg",
        {
            "__init__.py": "from .a import f\nfrom . import b\n",
            "a.py": "from .b import g\n\ndef f():\n    from .sub import c\n    return g(c)\n",
            "b.py": "import os\n\ndef g(x):\n    return x\n",
            "sub/__init__.py": "",
            "sub/c.py": "from ..b import g\n",
        },
    )
    graph = import_graph(tmp_path / "pkg", "pkg")
    assert graph["pkg.a"] == {"pkg.b", "pkg.sub.c"}
    assert find_cycles(graph) == []
