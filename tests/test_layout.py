"""The layout shows the flow: imports go one way, down the stage packages, with no cycle anywhere.

Every ``import`` counts, at module level or inside a function (a function-level import must not hide a
cycle or an upward import), and so does one under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# rank of each package of ``pipeline``: a module may import its own package and any package of lower rank
RANKS = {
    "foundation": 0,  # pipeline/__init__, errors, progress, labels, io, tracking: used by every layer
    "targets": 1,
    "config": 2,
    "data": 2,
    "splits": 3,
    "models": 4,
    "evaluation": 5,
    "stages": 6,
    "calibration": 7,
    "reporting": 8,
    "cli": 9,
    "api": 10,  # the Python API over the commands' compositions (pipeline.run(...))
}
# the package's front door: ``pipeline.run`` etc. are the API's, loaded on first use (PEP 562 __getattr__)
FRONT_DOOR = {("pipeline", "pipeline.api")}
FOUNDATION = {
    "pipeline",
    "pipeline.errors",
    "pipeline.progress",
    "pipeline.labels",
    "pipeline.io",
    "pipeline.openmp",
    "pipeline.tracking",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    out = {}
    for top in ("pipeline", "features", "explain"):
        for path in (ROOT / top).rglob("*.py"):
            out[module_name(path)] = path
    return out


def imports_of(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Our modules that ``path`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def layer(name: str) -> str:
    if name == "pipeline.__main__":
        return "cli"
    if name in FOUNDATION:
        return "foundation"
    parts = name.split(".")
    if parts[0] != "pipeline":
        return parts[0]
    return parts[1] if len(parts) > 2 or (ROOT / "pipeline" / parts[1]).is_dir() else "foundation"


def graph() -> dict[str, set[str]]:
    known = modules()
    # the front door's import runs on attribute access, after every module is loaded: no edge of the import graph
    return {
        name: {d for d in imports_of(path, name, known) if (name, d) not in FRONT_DOOR} for name, path in known.items()
    }


def test_no_upward_import_between_stage_packages():
    bad = []
    for name, deps in graph().items():
        src = layer(name)
        for dep in deps:
            dst = layer(dep)
            if src in ("features", "explain"):
                if dst not in (src, "features", "explain") or (src == "features" and dst == "explain"):
                    bad.append(f"{name} -> {dep}")
                continue
            if dst in ("features", "explain"):
                continue
            if src == dst:
                continue
            if RANKS[dst] >= RANKS[src]:
                bad.append(f"{name} ({src}) -> {dep} ({dst})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    g = graph()
    index, low, stack, on, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    # a package's __init__ importing its own modules is not a cycle of logic; nothing else is allowed
    assert not cycles, f"import cycles: {cycles}"


def test_no_private_helper_imported_across_modules():
    known = modules()
    bad = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] in ("pipeline", "features", "explain")
            ):
                bad += [
                    f"{name}: from {node.module} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not bad, "\n".join(bad)


def test_the_graph_sees_function_level_imports():
    g = graph()
    assert "pipeline.cli.commands" in g["pipeline.cli.main"]  # imported inside build_parser
