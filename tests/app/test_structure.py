"""The app's module boundaries: no import cycle, state written only through its setters,
no second list of input suffixes.

Unlike tests/test_import_graph.py, imports under ``if TYPE_CHECKING:`` count here: a
module pair of app/ that names each other, even for types only, is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.app.conftest import ROOT
from tests.test_import_graph import cycles

APP = ROOT / "app"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_import_graph() -> dict[str, set[str]]:
    """app module -> the app modules it imports anywhere (functions, TYPE_CHECKING too)."""
    modules = {_module_name(p): p for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in modules else node.module)
        graph[name] = {m for m in found if m in modules and m not in (name, "app")}
    return graph


def test_no_two_app_modules_import_each_other() -> None:
    graph = app_import_graph()
    assert "app.main_window" in graph["app.driver"]  # the graph sees real edges
    assert cycles(graph) == []
    assert "app.main_window" not in graph["app.actions"]


def _is_state(node: ast.expr) -> bool:
    """``state`` or ``<anything>.state``."""
    return (isinstance(node, ast.Name) and node.id == "state") or (
        isinstance(node, ast.Attribute) and node.attr == "state")


def test_state_fields_are_written_only_by_the_state_itself() -> None:
    writes: list[str] = []
    for path in sorted(APP.rglob("*.py")):
        if path.name == "state.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            flat = [t for target in targets
                    for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
            writes += [f"{path.relative_to(ROOT)}:{node.lineno}" for t in flat
                       if isinstance(t, ast.Attribute | ast.Subscript) and _is_state(t.value)]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "setattr" and node.args and _is_state(node.args[0]):
                writes.append(f"{path.relative_to(ROOT)}:{node.lineno} setattr")
    assert writes == []


def test_the_app_keeps_no_list_of_input_suffixes() -> None:
    """The engine's INPUT_SUFFIXES is the one list (no literal of image/tensor suffixes)."""
    lists: list[str] = []
    for path in sorted(APP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and any(
                    isinstance(e, ast.Constant) and e.value in (".jpg", ".gif", ".png", ".wav")
                    for e in node.elts):
                lists.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert lists == []
