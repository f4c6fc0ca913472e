"""Count every onnxruntime run a piece of work makes.

:func:`count_runs` opens a meter for the current thread (a context variable);
:meth:`engine.session.Session.run` reports each completed run to it, so a result
can state how many passes it really cost, reference and check runs included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class RunMeter:
    """What the runs counted so far cost.

    ``session_runs`` counts calls of ``Session.run``; ``forward_passes`` counts
    the inputs they evaluated (a batch of 32 counts 32, a single run 1).
    """

    session_runs: int = 0
    forward_passes: int = 0

    def record(self, items: int) -> None:
        """Count one run over ``items`` batch items."""
        self.session_runs += 1
        self.forward_passes += max(1, items)


_CURRENT: ContextVar[RunMeter | None] = ContextVar("featurescope_run_meter", default=None)


@contextlib.contextmanager
def count_runs() -> Iterator[RunMeter]:
    """Count the runs made inside the ``with`` block (nested meters all count)."""
    meter = RunMeter()
    outer = _CURRENT.get()
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)
        if outer is not None:
            outer.session_runs += meter.session_runs
            outer.forward_passes += meter.forward_passes


def batch_items(feeds: Mapping[str, Any]) -> int:
    """The batch size of one run: the largest leading dimension among the fed arrays."""
    sizes = []
    for value in feeds.values():
        shape = getattr(value, "shape", None)
        if callable(shape):  # onnxruntime.OrtValue.shape() is a method
            shape = shape()
        if shape is not None and len(shape) > 0:
            sizes.append(int(shape[0]))
    return max(sizes, default=1)


def record_run(feeds: Mapping[str, Any]) -> None:
    """Report one completed run to the meter of the current context, if any."""
    meter = _CURRENT.get()
    if meter is not None:
        meter.record(batch_items(feeds))
