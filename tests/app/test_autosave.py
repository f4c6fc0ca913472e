"""Autosave and crash recovery: debounced atomic autosaves, the restore offer, a real kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from app.autosave import autosave_folder, find_orphans
from app.export import SESSION_FORMAT, SESSION_VERSION
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL, LOAD_TIMEOUT_MS, ROOT

LAYER = "/_blocks.2/_expand_conv/Conv"


def session_file(path: Path, **extra: object) -> Path:
    """A session file for the demo with a non-default spec, layer, channel and colormap."""
    data = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "model": str(DEMO_MODEL),
            "input": str(DEMO_IMAGE),
            "spec": {"height": 224, "width": 224, "resize": "stretch", "channel_order": "RGB",
                     "scale": "0..1", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                     "layout": "NCHW", "preset": "custom"},
            "layer": LAYER, "channel": 7,
            "display": {"colormap": "turbo", "normalization": "layer", "sort": "index"},
            **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def autosaves() -> list[Path]:
    folder = autosave_folder()
    return sorted(folder.glob("*.fsession")) if folder.is_dir() else []


def test_autosave_folder_is_the_isolated_app_data(tmp_path) -> None:
    assert autosave_folder() == tmp_path / "data" / "Featurescope" / "Featurescope" / "autosave"


def test_session_is_autosaved_after_changes_and_removed_on_close(make_window, qtbot) -> None:
    w = make_window()
    assert autosaves() == []
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([DEMO_MODEL, DEMO_IMAGE])
    qtbot.waitUntil(lambda: w.autosaver.path.exists(), timeout=5000)
    data = json.loads(w.autosaver.path.read_text())
    assert data["model"] == str(DEMO_MODEL) and data["input"] == str(DEMO_IMAGE)
    assert data["layer"] == "/_conv_stem/Conv" and data["format"] == SESSION_FORMAT
    assert w.autosaver.path.with_suffix(".lock").exists()
    saves = w.autosaver.saves
    # several quick changes: one save, about a second after the last one
    w.state.select_layer(LAYER)
    w.state.select_channel(3)
    w.mosaic.colormap.setCurrentText("magma")
    w.attribution.select_method("score-cam")
    w.attribution.params.set_value("channels", 9)
    assert w.autosaver.pending and w.autosaver.saves == saves
    qtbot.waitUntil(lambda: not w.autosaver.pending, timeout=3000)
    assert w.autosaver.saves == saves + 1
    data = json.loads(w.autosaver.path.read_text())
    assert (data["layer"], data["channel"], data["display"]["colormap"]) == (LAYER, 3, "magma")
    assert data["attribution"]["method"] == "score-cam"
    assert data["attribution"]["params"]["channels"] == 9
    assert not w.autosaver.save_now()  # unchanged: nothing rewritten
    assert not [p for p in autosave_folder().iterdir() if p.name.endswith(".tmp")]
    w.close()
    assert list(autosave_folder().iterdir()) == []  # a normal exit leaves nothing


def test_autosave_follows_the_state_and_the_widgets_follow_it(demo_window, qtbot) -> None:
    from app.state import AttributionChoice

    w = demo_window
    qtbot.waitUntil(lambda: w.autosaver.path.exists() and not w.autosaver.pending, timeout=5000)
    saves = w.autosaver.saves
    w.attribution.view.opacity.setValue(20)  # the heatmap's slider writes the state
    qtbot.waitUntil(lambda: w.state.heatmap_opacity == 0.2, timeout=2000)
    assert w.autosaver.pending
    # changes made to the state alone reach the widgets and the autosave
    w.state.set_opacity(channel=0.8)
    assert w.channel.opacity.value() == 80
    w.state.set_attribution_choice(AttributionChoice("rise", None, (("masks", 200),)))
    panel = w.attribution
    assert panel.method.currentData() == "rise"
    assert panel.params.field("masks").value() == 200
    assert dict(w.state.attribution_choice.params)["grid"] == 7  # the form's full choice
    qtbot.waitUntil(lambda: w.autosaver.saves == saves + 1, timeout=3000)
    data = json.loads(w.autosaver.path.read_text())
    assert data["display"]["heatmap_opacity"] == 0.2 and data["display"]["opacity"] == 0.8
    assert data["attribution"]["method"] == "rise"
    assert data["attribution"]["params"]["masks"] == 200


def test_closing_the_model_removes_the_autosave(demo_window, qtbot) -> None:
    w = demo_window
    qtbot.waitUntil(lambda: w.autosaver.path.exists(), timeout=5000)
    w.actions_.close_model.trigger()
    assert w.state.model is None and w.state.maps is None
    assert not w.autosaver.path.exists()
    assert "No model" in w.model_card.toPlainText()


def test_orphan_is_offered_and_restored(make_window, qtbot) -> None:
    orphan = session_file(autosave_folder() / "session-dead00000000.fsession",
                          attribution={"method": "score-cam", "layer": "/_conv_head/Conv",
                                       "params": {"channels": 12}})
    w = make_window()
    assert w.state.model is None
    offered = w.offer_recovery()
    assert offered is not None and offered.path == orphan
    bar = w.recovery_bar
    assert bar.isVisible() and "efficientnet_lite0.onnx with chelsea.png" in bar.label.text()
    assert find_orphans() == []  # claimed by this window while the offer is shown
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(bar.restore_button, qtbot_left())
    qtbot.waitUntil(lambda: w.state.channel == 7, timeout=5000)
    assert not bar.isVisible() and not orphan.exists()
    assert w.state.model.info.path == DEMO_MODEL and w.state.image_path == DEMO_IMAGE
    assert w.state.spec.resize == "stretch" and w.state.spec.mean == (0.5, 0.5, 0.5)
    assert w.state.layer_name == LAYER and w.state.colormap == "turbo"
    request = w.attribution.request()
    assert request.method == "score-cam" and request.layer == "/_conv_head/Conv"
    assert dict(request.params)["channels"] == 12
    assert w.autosaver.path.exists()  # the restored session is this window's autosave now
    assert "Restored the session" in w.infobar.label.text()
    assert str(DEMO_MODEL) not in [str(p) for p in w.settings.recent("sessions")]


def test_orphan_can_be_discarded(make_window, qtbot) -> None:
    orphan = session_file(autosave_folder() / "session-dead00000001.fsession")
    w = make_window()
    assert w.offer_recovery() is not None
    qtbot.mouseClick(w.recovery_bar.discard_button, qtbot_left())
    assert not orphan.exists() and not orphan.with_suffix(".lock").exists()
    assert not w.recovery_bar.isVisible() and w.state.model is None
    assert w.offer_recovery() is None


def test_unanswered_offer_stays_for_the_next_start(make_window) -> None:
    orphan = session_file(autosave_folder() / "session-dead00000002.fsession")
    w = make_window()
    assert w.offer_recovery() is not None
    w.close()
    assert orphan.exists() and not orphan.with_suffix(".lock").exists()
    assert [o.path for o in find_orphans()] == [orphan]


def test_a_live_windows_autosave_is_not_offered(demo_window, make_window, qtbot) -> None:
    qtbot.waitUntil(lambda: demo_window.autosaver.path.exists(), timeout=5000)
    other = make_window()
    assert other.offer_recovery() is None
    assert not other.recovery_bar.isVisible()


def test_unwritable_autosave_folder_warns_once(make_window, qtbot, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    from app.main_window import MainWindow
    from app.notify import Notifier
    from app.settings import Settings

    w = MainWindow(Notifier(), Settings(), autosave_folder=blocker / "autosave")
    try:
        with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
            w.open_paths([DEMO_MODEL, DEMO_IMAGE])
        qtbot.waitUntil(lambda: not w.autosaver.enabled, timeout=5000)
        w.state.select_layer(LAYER)
        assert not w.autosaver.pending
        warnings = [n.message for n in w.notifier.history if n.message.startswith("Autosave")]
        assert len(warnings) == 1 and "autosave folder" in warnings[0]
        assert w.state.maps is not None
    finally:
        w.close()
        w.deleteLater()


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


# -- a real process, a real kill ---------------------------------------------------------------
def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", HOME=str(home),
               XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), XDG_RUNTIME_DIR=str(home / "run"))
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def _wait_for(predicate, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the app exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"timed out; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def _autosave_in(folder: Path) -> dict[str, object] | None:
    for path in folder.glob("*.fsession") if folder.is_dir() else ():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None
    return None


def test_killed_during_an_attribution_the_next_start_restores(tmp_path, capsys) -> None:
    home = tmp_path / "home"
    env = _env(home)
    folder = home / "data" / "Featurescope" / "Featurescope" / "autosave"
    start = session_file(tmp_path / "start.fsession")
    log = tmp_path / "first.log"
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.main", str(start), "--verbose",
             "--attribution", "occlusion", "--param", "window=8,8", "--param", "stride=2,2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def autosaved_running() -> bool:
            data = _autosave_in(folder)
            return (b"running attribution occlusion" in log.read_bytes() and data is not None
                    and data.get("layer") == LAYER
                    and data.get("attribution", {}).get("method") == "occlusion")

        _wait_for(autosaved_running, proc, log, timeout=90)
        time.sleep(0.3)  # well inside the attribution (thousands of passes)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = time.perf_counter()
    assert len(list(folder.glob("*.fsession"))) == 1
    assert len(list(folder.glob("*.lock"))) == 1  # left behind by the dead process

    dump = tmp_path / "state.json"
    second = subprocess.run([sys.executable, "-m", "app.main", "--restore", "--dump-state",
                             str(dump), "--timeout", "90"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    restored = time.perf_counter()
    assert second.returncode == 0, second.stderr[-3000:]
    state = json.loads(dump.read_text())
    assert state["model"] == str(DEMO_MODEL) and state["input"] == str(DEMO_IMAGE)
    assert state["spec"]["resize"] == "stretch" and state["spec"]["mean"] == [0.5, 0.5, 0.5]
    assert state["layer"] == LAYER and state["channel"] == 7
    assert state["display"]["colormap"] == "turbo"
    assert state["display"]["normalization"] == "layer"
    attribution = state["attribution"]
    assert attribution["method"] == "occlusion"
    assert attribution["params"]["window"] == [8, 8] and attribution["params"]["stride"] == [2, 2]
    assert any("Restored the session" in message for _level, message in state["notices"])
    assert list(folder.iterdir()) == []  # adopted, then removed by the normal exit
    with capsys.disabled():
        print(f"\nkill-and-restore: first run until the kill {killed - t0:.1f} s, "
              f"restore run {restored - killed:.1f} s")
