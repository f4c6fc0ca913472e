"""The entry point: fast --help, --info, engine CLI dispatch, --screenshot, excepthooks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")

from app import main as app_main
from app.notify import ExceptHooks, Notifier
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL, ROOT


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "app.main", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)


def test_help_imports_neither_qt_nor_onnxruntime() -> None:
    code = ("import sys, contextlib, io\n"
            "from app import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main.main(['--help'])\n"
            "heavy = ('onnxruntime', 'PySide6', 'pyqtgraph', 'onnx')\n"
            "bad = [m for m in heavy if m in sys.modules]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_info_names_versions_and_provider(capsys) -> None:
    assert app_main.main(["--info"]) == 0
    out = capsys.readouterr().out
    assert "featurescope 0.1.0" in out and "onnxruntime" in out and "PySide6" in out
    assert "CUDA unused:" in out or "GPU " in out


def test_engine_commands_are_dispatched(capsys) -> None:
    assert app_main.main(["inspect", str(DEMO_MODEL)]) == 0
    assert "_conv_stem" in capsys.readouterr().out
    assert app_main.main(["inspect", str(ROOT / "missing.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_screenshot_of_the_demo(tmp_path) -> None:
    out = tmp_path / "shot.png"
    proc = _run("--screenshot", str(out), str(DEMO_MODEL), str(DEMO_IMAGE),
                "--layer", "/_blocks.1/_expand_conv/Conv", "--channel", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(out) as image:
        assert image.width >= 800 and image.height >= 500
        gray = np.asarray(image.convert("L").resize((64, 40)))
    assert len(np.unique(gray)) > 20  # not blank


def test_screenshot_with_a_bad_layer_fails_cleanly(tmp_path) -> None:
    proc = _run("--screenshot", str(tmp_path / "x.png"), str(DEMO_MODEL), "--layer", "nope")
    assert proc.returncode == 1
    assert "no layer named 'nope'" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_excepthooks_route_to_the_notifier(qapp, qtbot) -> None:
    notifier = Notifier()
    hooks = ExceptHooks(notifier)
    hooks.install()
    try:
        try:
            raise ValueError("from the GUI thread")
        except ValueError:
            sys.excepthook(*sys.exc_info())

        def boom() -> None:
            raise RuntimeError("from a thread")

        thread = threading.Thread(target=boom, name="helper")
        thread.start()
        thread.join()
    finally:
        hooks.uninstall()
    messages = [n.message for n in notifier.history]
    assert any("ValueError: from the GUI thread" in m for m in messages)
    assert any("thread helper" in m and "RuntimeError: from a thread" in m for m in messages)


def test_attribution_param_must_be_name_equals_value() -> None:
    with pytest.raises(SystemExit, match="--param needs NAME=VALUE, not 'stride'"):
        app_main.main(["--dump-state", "x.json", "--attribution", "occlusion", "--param",
                       "stride"])


def test_help_lists_restore_and_dump_state(capsys) -> None:
    with pytest.raises(SystemExit):
        app_main.main(["--help"])
    out = capsys.readouterr().out
    assert "--restore" in out and "--dump-state" in out and "--param" in out


def test_scripts_choose_the_panel_and_the_prediction_explained() -> None:
    args = app_main.build_parser().parse_args(
        ["m.onnx", "i.png", "--screenshot", "s.png", "--panel", "input", "--attribution",
         "d-rise", "--target", "1"])
    script = app_main._script(args)
    assert (script.panel, script.target, script.method) == ("input", 1, "d-rise")
    with pytest.raises(SystemExit):
        app_main.build_parser().parse_args(["--panel", "mosaic"])
