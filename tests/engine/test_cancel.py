"""Cancelling interrupts a pass in flight, promptly, and leaves the session usable."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cancellation import CancelToken
from engine.errors import Cancelled
from engine.model_io import load_model
from engine.session import create_session


def test_cancel_terminates_a_running_pass(demo_model: Path) -> None:
    model = load_model(demo_model)
    session = create_session(model.proto, "cpu")
    feeds = {"input": np.random.default_rng(0).standard_normal((16, 3, 224, 224),
                                                              dtype=np.float32)}
    start = time.perf_counter()
    session.run(feeds, ["logits"])
    full = time.perf_counter() - start
    token = CancelToken()
    timer = threading.Timer(full * 0.2, token.cancel)
    timer.start()
    start = time.perf_counter()
    with pytest.raises(Cancelled):
        session.run(feeds, ["logits"], cancel=token)
    latency = time.perf_counter() - start
    timer.cancel()
    assert latency < full * 0.8 + 0.2, (latency, full)
    # The session still works afterwards.
    out = session.run({"input": feeds["input"][:1]}, ["logits"], cancel=CancelToken())
    assert out["logits"].shape == (1, 1000)


def test_callbacks_fire_once_registered_and_can_be_removed() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.add_callback(lambda: calls.append("a"))
    removed = lambda: calls.append("b")  # noqa: E731
    token.add_callback(removed)
    token.remove_callback(removed)
    token.cancel()
    assert calls == ["a"]
    token.add_callback(lambda: calls.append("late"))
    assert calls == ["a", "late"]


def test_watchdog_turns_overrun_into_error(demo_model: Path) -> None:
    from engine.cancellation import watchdog
    from engine.errors import OperationTimeout

    model = load_model(demo_model)
    session = create_session(model.proto, "cpu")
    feeds = {"input": np.zeros((16, 3, 224, 224), np.float32)}
    token = CancelToken()
    start = time.perf_counter()
    with pytest.raises(OperationTimeout) as err, watchdog(token, 0.05, "The test pass"):
        session.run(feeds, ["logits"], cancel=token)
    assert time.perf_counter() - start < 1.0
    assert err.value.message == "The test pass took longer than 0.05 s and was stopped."
    with watchdog(CancelToken(), 30, "A quick pass"):
        session.run({"input": feeds["input"][:1]}, ["logits"])


def test_cli_timeout_one_line(demo_model: Path, chelsea: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    code = main(["maps", str(demo_model), str(chelsea), "--out", str(tmp_path / "o"),
                 "--timeout", "0.001"])
    assert code == 1
    assert capsys.readouterr().err == (
        "error: Extracting the feature maps took longer than 0.001 s and was stopped.\n")
    assert not (tmp_path / "o").exists()


def test_attribute_cli_timeout_one_line(demo_model: Path, chelsea: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    code = main(["attribute", str(demo_model), str(chelsea), "--method", "occlusion",
                 "--window", "8", "--stride", "4", "--out", str(tmp_path / "o"),
                 "--timeout", "0.5"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: The Occlusion attribution took longer than 0.5 s and was stopped."
    assert not (tmp_path / "o").exists()
