"""The import graph is one-way (config -> layers -> heads -> models -> checkpoints/qat -> export -> benchmarks
-> commands), function-level imports included; no ``_private`` name is imported from another module; library
modules never import CLI modules; ruff (ruff.toml) is clean. docs/architecture.md describes the layers."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> import name: export/ and benchmarks/ install as mobilebert_tf.export / mobilebert_tf.benchmarks
PACKAGES = {"mobilebert_tf": "mobilebert_tf", "export": "mobilebert_tf.export", "benchmarks": "mobilebert_tf.benchmarks"}

# Lower rank first; a module may import modules of its own rank or lower (cycles are checked separately).
# The first matching prefix wins, so list specific modules before their packages.
RANKS = [
    ("mobilebert_tf.errors", 0), ("mobilebert_tf.fileio", 0), ("mobilebert_tf.paths", 0),
    ("mobilebert_tf.argtypes", 0),
    ("mobilebert_tf.config", 1), ("mobilebert_tf.weights", 1), ("mobilebert_tf.tokenization", 1),
    ("mobilebert_tf.data", 1), ("mobilebert_tf.metrics", 1), ("mobilebert_tf.squad_eval", 1),
    ("mobilebert_tf.flops", 1), ("mobilebert_tf.modeldir", 1),
    ("mobilebert_tf.layers", 2),
    ("mobilebert_tf.heads", 3), ("mobilebert_tf.qat", 3),
    ("mobilebert_tf.models", 4), ("mobilebert_tf.model_tasks", 4),
    ("mobilebert_tf.checkpoints", 5),
    ("mobilebert_tf.training", 6), ("mobilebert_tf.distillation", 6), ("mobilebert_tf.finetuning", 6),
    ("mobilebert_tf.__init__", 7),
    ("mobilebert_tf.export.cli", 10), ("mobilebert_tf.export", 8),
    ("mobilebert_tf.benchmarks.cli", 10), ("mobilebert_tf.benchmarks", 9),
    ("mobilebert_tf.commands", 11), ("mobilebert_tf.cli", 11),
]
CLI = ("mobilebert_tf.commands", "mobilebert_tf.cli", "mobilebert_tf.export.cli", "mobilebert_tf.benchmarks.cli")


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            found[".".join([package, *path.relative_to(ROOT / folder).with_suffix("").parts])] = path
    return found


def rank(module: str) -> int:
    for prefix, r in RANKS:
        if module == prefix or module.startswith(prefix + "."):
            return r
    raise AssertionError(f"{module} has no rank in tests/test_architecture.py RANKS: add it")


def imports(mods: dict[str, Path]) -> list[tuple[str, str, str | None, int]]:
    """(importer, imported module, imported name or None, line) for every project import, at any level."""
    names = {m.removesuffix(".__init__"): m for m in mods}
    out = []
    for module, path in mods.items():
        # the package a relative import starts from: the module's own for __init__, else its parent's
        package = module.removesuffix(".__init__") if module.endswith(".__init__") else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out += [(module, names[a.name], None, node.lineno) for a in node.names if a.name in names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                for a in node.names:
                    if f"{base}.{a.name}" in names:
                        out.append((module, names[f"{base}.{a.name}"], None, node.lineno))
                    elif base in names:
                        out.append((module, names[base], a.name, node.lineno))
    return [edge for edge in out if edge[0] != edge[1]]


MODS = modules()
EDGES = imports(MODS)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODS}
    for src, dst, _, _ in EDGES:
        graph[src].add(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(MODS)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_flow_one_way():
    wrong = [f"{src}:{line} imports {dst} (rank {rank(src)} -> {rank(dst)})"
             for src, dst, _, line in EDGES if rank(dst) > rank(src)]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_library_never_imports_cli():
    wrong = [f"{src}:{line} imports {dst}" for src, dst, _, line in EDGES
             if not src.startswith(CLI) and dst.startswith(CLI)]
    assert not wrong, "library modules importing CLI modules:\n" + "\n".join(wrong)


def test_no_private_names_across_modules():
    wrong = [f"{src}:{line} imports {name} from {dst}" for src, dst, name, line in EDGES
             if name and name.startswith("_") and not name.startswith("__")]
    assert not wrong, "private names imported from another module:\n" + "\n".join(wrong)


def test_modules_stay_small():
    big = {m: n for m, p in MODS.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not big, f"modules over 600 lines: {big}"


def test_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: it is pinned in setup.py's dev extra (make install)")
    result = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
