"""The library's import graph: no cycles, the layering holds, and every module imports alone.

The static graph is read from the source with ast: every `import` and `from ... import` of a
library module, at any depth (an import inside a function still ties the two modules
together), except those under `if TYPE_CHECKING:`, which never run. An edge goes to the module
named, or to the submodule `from PACKAGE import NAME` names when NAME is one. A parent package
is not an edge: importing a submodule runs its package first whatever the importer, and
counting that would make every package that imports its own submodules a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hil", "drivers", "simulators", "protocols")

# Cycles tolerated while they are being removed (none now); the test fails on an entry that is
# no longer a cycle, so that one cannot be forgotten here.
KNOWN_CYCLES: list[set[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def library_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, path: Path) -> set[str]:
    """The library modules `module` imports, by name."""
    known = library_modules()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from PACKAGE import SUBMODULE` ties to the submodule alone, as `import
            # PACKAGE.SUBMODULE` does: the parent package runs first either way.
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return {name for name in found if name in known and name != module}


@cache
def import_graph() -> dict[str, frozenset[str]]:
    return {module: frozenset(_imported(module, path)) for module, path in library_modules().items()}


def cycles(graph: dict[str, frozenset[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree() -> None:
    assert cycles(
        {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    ) == [{"a", "b", "c"}]
    assert cycles({"a": frozenset({"b", "c"}), "b": frozenset({"c"}), "c": frozenset()}) == []


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking_blocks() -> None:
    graph = import_graph()
    assert "protocols.reproduce" in graph["hil.cli.train"]  # imported inside a command
    assert "protocols.symmetry" not in graph["protocols.plots"]  # imported only for annotations
    assert "protocols.symmetry" in graph["hil.cli.measure"]  # imported inside a command


def test_the_library_import_graph_has_no_cycles() -> None:
    found = cycles(import_graph())
    assert [sorted(c) for c in found if c not in KNOWN_CYCLES] == [], "import cycles"
    assert [sorted(c) for c in KNOWN_CYCLES if c not in found] == [], "fixed: remove from KNOWN_CYCLES"


def test_the_layering_holds() -> None:
    """protocols -> hil <- drivers, simulators: the contract imports none of its implementations
    (the command line, hil.cli, is where they are put together) and protocols never import a
    bench implementation."""
    below = {
        "hil": ("drivers", "simulators", "protocols"),
        "protocols": ("drivers", "simulators"),
    }
    wrong = [
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        for layer, forbidden in below.items()
        if module.split(".")[0] == layer
        and not module.startswith("hil.cli")
        and target.split(".")[0] in forbidden
    ]
    assert wrong == []


def test_every_library_module_imports_alone() -> None:
    """Each module imported first, with no other library module loaded: an import-time cycle
    fails here with a partially initialised module. Third-party modules stay loaded between
    imports (they are not under test), which keeps this to one interpreter."""
    modules = sorted(m for m in library_modules() if m.rpartition(".")[2] != "__main__")
    code = f"""
import importlib, sys, traceback
PACKAGES = {PACKAGES!r}
failures = []
for name in {modules!r}:
    for loaded in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures.append(name + ": " + traceback.format_exc(limit=-1).strip().splitlines()[-1])
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_opening_a_bench_by_name_loads_no_implementation_until_one_is_opened() -> None:
    code = """
import sys
import hil.benches
print(sorted({m.split(".")[0] for m in sys.modules} & {"drivers", "simulators", "protocols"}))
bench = hil.benches.open_bench("sim", seed=1)
print(type(bench).__module__)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "simulators.chip"]
