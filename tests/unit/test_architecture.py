"""The shape of the code: the library never imports its front doors, and no module imports itself back.

Every module under loader/, clickstream/, dashboard/ and bench/ is parsed (not imported); every import counts,
at module level or inside a function, including ``importlib.import_module("...")`` and ``__import__("...")``
with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("loader", "clickstream", "dashboard", "bench")
# package → the packages it must never import
FORBIDDEN = {"loader": ("clickstream", "dashboard"), "dashboard": ("clickstream",)}


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of :data:`PACKAGES` under ``root``."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _literal_imports(node: ast.Call) -> Iterator[str]:
    """``importlib.import_module("a.b")``, ``import_module("a.b")`` and ``__import__("a.b")``."""
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
    if name in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
            yield first.value


@dataclass(frozen=True)
class Import:
    module: str
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``: never runs, so it makes no cycle (but is still forbidden)


def _type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, known: set[str]) -> list[Import]:
    """Every module ``name`` imports (``from a import b`` is ``a.b`` when that is a module), in order."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        elif isinstance(node, ast.Call):
            names = list(_literal_imports(node))
        found.extend(Import(imported, getattr(node, "lineno", 0), type_only) for imported in names)
        if _type_checking(node):
            assert isinstance(node, ast.If)
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            visit(node.test, type_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False)
    return found


def graph(root: Path) -> tuple[dict[str, list[Import]], dict[str, Path]]:
    """Each module's imports and the module files."""
    files = modules(root)
    known = set(files)
    return {name: imports(name, path, known) for name, path in files.items()}, files


def _internal(imported: str, known: set[str]) -> str | None:
    """The module of :data:`PACKAGES` that importing ``imported`` runs (its nearest known ancestor), if any."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def forbidden_imports(root: Path) -> list[str]:
    """``file:line: module imports name`` for every import :data:`FORBIDDEN` rules out."""
    edges, files = graph(root)
    found = []
    for name, imported in edges.items():
        banned = FORBIDDEN.get(name.split(".")[0], ())
        found += [
            f"{files[name].relative_to(root)}:{i.line}: {name} imports {i.module}"
            for i in imported
            if i.module.split(".")[0] in banned
        ]
    return sorted(set(found))


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between the modules (imports that run: at module level or in a function), each as the path
    ``[a, b, ..., a]``, each cycle once."""
    edges, files = graph(root)
    known = set(files)
    successors = {
        name: sorted({target for i in imported if not i.type_only and (target := _internal(i.module, known))})
        for name, imported in edges.items()
    }
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, str] = {}  # "open" while on the path, "done" once every successor was walked
    path: list[str] = []

    def walk(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for successor in successors[name]:
            if state.get(successor) == "open":
                cycle = [*path[path.index(successor) :], successor]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
            elif successor not in state:
                walk(successor)
        path.pop()
        state[name] = "done"

    for name in sorted(successors):
        if name not in state:
            walk(name)
    return found


def test_every_package_is_parsed() -> None:
    found = modules(ROOT)
    for module in ("loader.etl", "clickstream.cli", "clickstream.demo", "dashboard.app", "bench.run"):
        assert module in found, f"{module} not found under {ROOT}"


def test_the_library_imports_neither_the_front_doors_nor_the_dashboard_and_the_dashboard_not_the_cli() -> None:
    assert forbidden_imports(ROOT) == []


def test_no_module_imports_itself_back_through_others() -> None:
    found = cycles(ROOT)
    assert found == [], "import cycles: " + "; ".join(" → ".join(cycle) for cycle in found)


def test_the_checks_see_imports_in_functions_relative_ones_literal_import_module_and_type_only_ones(
    tmp_path: Path,
) -> None:
    sources = {
        "loader/__init__.py": "",
        "loader/etl.py": "def run():\n    from clickstream.cli import main\n",
        "loader/load.py": "import importlib\nfrom loader import ledger\nimportlib.import_module('dashboard.app')\n",
        # ledger → load for the type checker only: no cycle; a type-only import is still forbidden
        "loader/ledger.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from loader.load import X\n",
        "loader/writers.py": "import typing\nif typing.TYPE_CHECKING:\n    import dashboard\n",
        "clickstream/__init__.py": "",
        "clickstream/cli.py": "from . import demo\n",
        "clickstream/demo.py": "def run():\n    from clickstream.cli import main\n",
        "dashboard/__init__.py": "",
        "dashboard/app.py": "import clickstream.cli\nfrom loader import etl\n",
        "bench/__init__.py": "",
        "bench/run.py": "from bench.sections import SECTIONS\n",
        "bench/sections.py": "def section():\n    from bench import run\n",
    }
    for relative, text in sources.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    assert forbidden_imports(tmp_path) == [
        "dashboard/app.py:1: dashboard.app imports clickstream.cli",
        "loader/etl.py:2: loader.etl imports clickstream.cli",
        "loader/load.py:3: loader.load imports dashboard.app",
        "loader/writers.py:3: loader.writers imports dashboard",
    ]
    assert sorted(cycles(tmp_path)) == [
        ["bench.run", "bench.sections", "bench.run"],
        ["clickstream.cli", "clickstream.demo", "clickstream.cli"],
    ]
