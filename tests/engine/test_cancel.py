"""Cancelling interrupts a pass in flight, promptly, and leaves the session usable."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import Cancelled
from engine.jobs import CancelToken
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
