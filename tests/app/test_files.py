"""Every file the app writes goes through engine.atomic_files' atomic writers; settings sync."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from app import export
from engine.errors import OutputError
from tests.app.conftest import DEMO_MODEL, ROOT

#: Calls that write a file directly (bypassing a temporary file and an atomic rename).
DIRECT_WRITERS = {"write_text", "write_bytes", "tofile", "savez", "savez_compressed", "save",
                  "savetxt", "dump", "QFile", "QSaveFile", "mkstemp", "NamedTemporaryFile",
                  "touch", "symlink_to", "hardlink_to"}
#: File-moving functions of ``os`` and ``shutil`` (``str.replace`` is not one).
MODULE_WRITERS = {"os": {"rename", "replace", "link", "symlink"},
                  "shutil": {"copy", "copyfile", "copy2", "copytree", "move"}}
#: (module, function, call): the one allowed exception, encoding a PNG into memory.
ALLOWED = {("app/export.py", "widget_png", "save")}


class _Finder(ast.NodeVisitor):
    """Collect direct file writes with the innermost function they are in."""

    def __init__(self, rel: str) -> None:
        self.rel, self.stack, self.found = rel, ["<module>"], []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_Call(self, node: ast.Call) -> None:
        callee, where = node.func, f"{self.rel}:{node.lineno}"
        called = callee.attr if isinstance(callee, ast.Attribute) else \
            callee.id if isinstance(callee, ast.Name) else ""
        if called == "open" and isinstance(callee, ast.Name):
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords
                      if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            if any(set(str(m)) & set("wax+") for m in modes):
                self.found.append(f"{where} open({modes[0]!r})")
        elif called in DIRECT_WRITERS and (self.rel, self.stack[-1], called) not in ALLOWED:
            self.found.append(f"{where} {called}() in {self.stack[-1]}")
        elif isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name) \
                and called in MODULE_WRITERS.get(callee.value.id, ()):
            self.found.append(f"{where} {callee.value.id}.{called}()")
        self.generic_visit(node)


def _direct_writes() -> list[str]:
    found: list[str] = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        finder = _Finder(path.relative_to(ROOT).as_posix())
        finder.visit(ast.parse(path.read_text(encoding="utf-8")))
        found += finder.found
    return found


def test_the_app_writes_files_only_through_the_atomic_writers() -> None:
    assert _direct_writes() == []
    sources = "".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    assert "engine.atomic_files import" in sources


def test_failed_writes_leave_nothing_behind(demo_window, tmp_path) -> None:
    w = demo_window
    writes = (lambda p: export.export_view_png(w, p),
              lambda p: export.export_channel_npy(w.state, p, True),
              lambda p: export.export_stats_csv(w.state, p),
              lambda p: export.save_session(w.state, p))
    # 1. Nothing can be created: the target's parent is a file.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = blocker / "out"
    for write in writes:
        with pytest.raises(OutputError, match="Could not write 'out'"):
            write(target)
    assert not w.actions_.save_session(target)
    assert "Could not write 'out'" in w.infobar.label.text()
    assert blocker.read_text() == "x"
    # 2. The write fails after its temporary file was written: the target is a folder, so
    # the final rename fails. The temporary file must be gone, the folder untouched.
    late = tmp_path / "late"
    (late / "out").mkdir(parents=True)
    (late / "out" / "keep.txt").write_text("k")
    for write in writes:
        with pytest.raises(OutputError, match="Could not write 'out'"):
            write(late / "out")
    assert not w.actions_.save_session(late / "out")
    assert sorted(p.relative_to(late).as_posix() for p in late.rglob("*")) == [
        "out", "out/keep.txt"]
    assert (late / "out" / "keep.txt").read_text() == "k"
    assert [p for p in tmp_path.rglob("*") if p.suffix in (".tmp", ".partial")] == []


def test_settings_reach_the_disk_at_once(make_window) -> None:
    w = make_window()
    w.settings.add_recent("models", DEMO_MODEL)
    ini = Path(w.settings.q.fileName())
    assert ini.is_file() and str(DEMO_MODEL) in ini.read_text()
    assert w.settings.q.isAtomicSyncRequired()
    assert w.settings.sync()
