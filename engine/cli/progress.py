"""A terminal progress bar fed by the engine's progress callback."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from engine.cancellation import CancelToken, watchdog
from engine.types import Progress


class TerminalProgress:
    """Draw a one-line bar on a terminal once work has lasted over ``delay`` seconds.

    Parameters
    ----------
    stream
        Where to draw (stderr by default); nothing is drawn if it is not a TTY.
    delay
        Seconds before the bar first appears.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._delay = delay
        self._drawn = False
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())

    def __call__(self, progress: Progress) -> None:
        if not self._enabled or time.monotonic() - self._start < self._delay:
            return
        width = 30
        filled = int(progress.fraction * width)
        bar = "#" * filled + "-" * (width - filled)
        elapsed = time.monotonic() - self._start
        eta = ""
        if 0 < progress.fraction < 1:
            eta = f" ETA {elapsed / progress.fraction - elapsed:5.1f}s"
        text = f"\r[{bar}] {progress.fraction * 100:5.1f}% {progress.message[:40]:<40}{eta}"
        self._stream.write(text)
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line if one was drawn."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


@contextlib.contextmanager
def watched(timeout: float | None, what: str) -> Iterator[tuple[TerminalProgress, CancelToken]]:
    """A progress bar and a cancel token for one long piece of work under ``--timeout``.

    An overrun raises :class:`engine.errors.OperationTimeout` naming ``what``; the bar
    is closed however the work ends.
    """
    bar = TerminalProgress()
    token = CancelToken()
    try:
        with watchdog(token, timeout, what):
            yield bar, token
    finally:
        bar.close()
