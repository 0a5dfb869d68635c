"""The layer table of DESIGN.md holds: imports in ``pyrolite/`` only point downward.

Every module is parsed with ``ast`` (no import is executed). Its imports, at the top level and
inside functions alike, absolute and relative, ``import a.b`` and ``from a import b``, are
resolved to modules of ``pyrolite``; each module belongs to the row of its path. An import of a
higher row from a lower one fails the test, which names the module, the line and both rows.
``pyrolite/__init__.py``, ``pyroapi_backend.py`` and the thin modules that only re-export (a
body of imports and ``__all__``, recognised automatically) sit on top of everything: they may
import anything and nothing may import them. Imports that form a cycle inside one row fail too,
except the one DESIGN.md names: the distribution mixin's ``to_event`` and ``mask`` factories
build ``Independent`` and ``MaskedDistribution``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).parents[1] / "pyrolite"

# DESIGN.md's table, ground first: (row name, path prefixes relative to pyrolite/). The most
# specific prefix wins, so ``nn/module.py`` (PyroModule) sits above the rest of ``nn/``.
ROWS = [
    ("ground", ("nn/", "checkpoint.py", "rng.py", "data/")),
    ("ops", ("ops/",)),
    ("distributions", ("distributions/",)),
    ("constraint codec", ("constraint_codec.py",)),
    ("effect runtime and handlers", ("poutine/",)),
    ("parameters", ("params.py",)),
    ("primitives", ("primitives.py",)),
    # nn/__init__.py imports the ground modules first and, once it exists, PyroModule
    ("modules", ("nn/module.py", "nn/__init__.py")),
    ("optimisers", ("optim/",)),
    ("inference", ("infer/",)),
    ("parallel", ("parallel/",)),
    ("front ends", ("edward2/",)),
]
TOP = "top (package entry points and re-exports)"
TOP_PATHS = ("__init__.py", "pyroapi_backend.py")

# The one cycle DESIGN.md allows inside a row: the mixin's ``to_event`` and ``mask`` build
# ``Independent`` and ``MaskedDistribution``: (importer, target, where) with ``where`` the
# enclosing function, or TYPE_CHECKING for the import that annotates the factory's result.
MIXIN = "pyrolite.distributions.torch_distribution"
ALLOWED_CYCLE_EDGES = {
    (MIXIN, "pyrolite.distributions.torch", "to_event"),
    (MIXIN, "pyrolite.distributions.masked", "mask"),
    (MIXIN, "pyrolite.distributions.masked", "TYPE_CHECKING"),
}


class Import(NamedTuple):
    importer: str  # dotted module name
    target: str  # dotted module name inside pyrolite
    line: int
    function: str | None  # innermost enclosing function, None at module level
    typing_only: bool = False  # under ``if TYPE_CHECKING:``: an annotation, not run


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of pyrolite by dotted name."""
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_reexport(tree: ast.Module) -> bool:
    """True for a body of only a docstring, imports and an ``__all__`` assignment."""
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    has_import = False
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            has_import = True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return False
        else:
            return False
    return has_import


def row_of(name: str, path: Path, tree: ast.Module) -> int | None:
    """Index of the module's row in ROWS, len(ROWS) for the top, None when no row fits."""
    relative = path.relative_to(ROOT).as_posix()
    if relative in TOP_PATHS or (path.name != "__init__.py" and is_reexport(tree)):
        return len(ROWS)
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(ROWS):
        for prefix in prefixes:
            matches = relative.startswith(prefix) if prefix.endswith("/") else relative == prefix
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def row_label(index: int) -> str:
    return TOP if index == len(ROWS) else ROWS[index][0]


def imports_of(name: str, path: Path, tree: ast.Module, known: set[str]) -> list[Import]:
    """The pyrolite modules that ``name`` imports, with line and enclosing function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name, typing_only)
                continue
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), function, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), function, typing_only)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "pyrolite":
                        found.append(Import(name, alias.name, child.lineno, function, typing_only))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                if source.split(".")[0] == "pyrolite":
                    for alias in child.names:
                        # ``from pkg import submodule`` imports the submodule
                        sub = f"{source}.{alias.name}"
                        target = sub if sub in known else source
                        found.append(Import(name, target, child.lineno, function, typing_only))
            visit(child, function, typing_only)

    visit(tree, None, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class Graph(NamedTuple):
    rows: dict[str, int]
    edges: list[Import]
    unplaced: list[str]


def build_graph() -> Graph:
    found = modules()
    known = set(found)
    rows, edges, unplaced = {}, [], []
    for name, path in found.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        row = row_of(name, path, tree)
        if row is None:
            unplaced.append(name)
            continue
        rows[name] = row
        edges.extend(imports_of(name, path, tree, known))
    return Graph(rows, edges, unplaced)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph()


def test_every_module_has_a_row(graph):
    assert not graph.unplaced, (
        f"modules outside every row of DESIGN.md's layer table: {graph.unplaced}; add the row "
        "(or the path to a row) in DESIGN.md and in tests/test_layers.py's ROWS"
    )


def test_every_import_resolves_to_a_module(graph):
    missing = [
        f"{e.importer}:{e.line} imports {e.target}"
        for e in graph.edges
        if e.target not in graph.rows and e.target != "pyrolite"
    ]
    assert not missing, "imports of pyrolite modules that do not exist:\n" + "\n".join(missing)


def upward_imports(graph: Graph) -> list[str]:
    problems = []
    for e in graph.edges:
        low, high = graph.rows[e.importer], graph.rows.get(e.target)
        if high is not None and high > low:
            where = f" (inside {e.function}())" if e.function else ""
            where += " (under TYPE_CHECKING)" if e.typing_only else ""
            problems.append(
                f"{e.importer} line {e.line}{where}: layer '{row_label(low)}' imports "
                f"{e.target}, layer '{row_label(high)}'"
            )
    return problems


def test_imports_point_downward(graph):
    problems = upward_imports(graph)
    assert not problems, "imports against DESIGN.md's layer table:\n" + "\n".join(problems)


def strongly_connected(nodes: set[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            connect(v)
    return components


def cycles_within_rows(graph: Graph) -> list[str]:
    succ: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], list[int]] = {}
    for e in graph.edges:
        if e.target == e.importer or graph.rows.get(e.target) != graph.rows[e.importer]:
            continue
        where = "TYPE_CHECKING" if e.typing_only else e.function
        if (e.importer, e.target, where) in ALLOWED_CYCLE_EDGES:
            continue
        # a package importing its own submodules is how packages are built, not a cycle
        if e.target.startswith(e.importer + ".") and graph.rows[e.importer] != len(ROWS):
            continue
        succ.setdefault(e.importer, set()).add(e.target)
        lines.setdefault((e.importer, e.target), []).append(e.line)
    problems = []
    for component in strongly_connected(set(graph.rows), succ):
        members = set(component)
        arrows = [
            f"{a} line {min(lines[(a, b)])} -> {b}"
            for a in component
            for b in sorted(succ.get(a, ()))
            if b in members
        ]
        row = row_label(graph.rows[component[0]])
        problems.append(f"cycle in layer '{row}': " + "; ".join(arrows))
    return problems


def test_no_import_cycles_inside_a_row(graph):
    problems = cycles_within_rows(graph)
    assert not problems, "import cycles DESIGN.md does not allow:\n" + "\n".join(problems)


# -- the checker itself, on made-up modules -----------------------------------------------------


def test_reexport_modules_are_recognised():
    assert is_reexport(ast.parse('"""Doc."""\nfrom a import b\n__all__ = ["b"]\n'))
    assert not is_reexport(ast.parse("from a import b\n\ndef f():\n    return b\n"))
    assert not is_reexport(ast.parse('"""Only a docstring."""\n'))


def test_function_level_and_relative_imports_are_found():
    source = (
        "from . import sibling\n"
        "from ..poutine.runtime import apply_stack\n"
        "def f():\n"
        "    import pyrolite.params\n"
        "    from pyrolite.infer import svi\n"
        "if TYPE_CHECKING:\n"
        "    from pyrolite.primitives import sample\n"
    )
    path = ROOT / "distributions" / "example.py"
    known = {"pyrolite.distributions.sibling", "pyrolite.infer.svi"}
    found = imports_of("pyrolite.distributions.example", path, ast.parse(source), known)
    assert [(i.target, i.line, i.function) for i in found] == [
        ("pyrolite.distributions.sibling", 1, None),
        ("pyrolite.poutine.runtime", 2, None),
        ("pyrolite.params", 4, "f"),
        ("pyrolite.infer.svi", 5, "f"),
        ("pyrolite.primitives", 7, None),
    ]
    assert [i.typing_only for i in found] == [False] * 4 + [True]


def test_upward_import_and_cycle_are_reported():
    rows = {"pyrolite.params": 5, "pyrolite.infer.a": 9, "pyrolite.infer.b": 9}
    edges = [
        Import("pyrolite.params", "pyrolite.infer.a", 3, "load"),
        Import("pyrolite.infer.a", "pyrolite.infer.b", 1, None),
        Import("pyrolite.infer.b", "pyrolite.infer.a", 7, "f"),
    ]
    graph = Graph(rows, edges, [])
    assert upward_imports(graph) == [
        "pyrolite.params line 3 (inside load()): layer 'parameters' imports pyrolite.infer.a, "
        "layer 'inference'"
    ]
    assert cycles_within_rows(graph) == [
        "cycle in layer 'inference': pyrolite.infer.a line 1 -> pyrolite.infer.b; "
        "pyrolite.infer.b line 7 -> pyrolite.infer.a"
    ]


def test_rows_follow_the_paths():
    tree = ast.parse("x = 1\n")
    assert row_label(row_of("pyrolite.nn.module", ROOT / "nn" / "module.py", tree)) == "modules"
    assert row_label(row_of("pyrolite.nn.dense_nn", ROOT / "nn" / "dense_nn.py", tree)) == "ground"
    assert row_label(row_of("pyrolite.ops.stats", ROOT / "ops" / "stats.py", tree)) == "ops"
    reexport = ast.parse("from pyrolite.infer.mcmc.mcmc import MCMC\n__all__ = ['MCMC']\n")
    path = ROOT / "infer" / "mcmc" / "api.py"
    assert row_label(row_of("pyrolite.infer.mcmc.api", path, reexport)) == TOP
