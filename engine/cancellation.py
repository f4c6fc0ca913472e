"""Cancellation and progress plumbing for long engine work.

Long engine functions take ``progress`` (a callable receiving
:class:`engine.types.Progress`) and ``cancel`` (a :class:`CancelToken`). They
call :meth:`CancelToken.check` between units of work (batches, layers), which
raises :class:`engine.errors.Cancelled`. Cancellation is cooperative.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from engine.errors import Cancelled, OperationTimeout
from engine.types import Progress

ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """A thread-safe flag that a long operation polls.

    Examples
    --------
    >>> token = CancelToken()
    >>> token.cancel()
    >>> token.cancelled
    True
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.timed_out = False

    def cancel(self) -> None:
        """Ask the operation to stop at its next check (and interrupt a running pass)."""
        self._event.set()
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def add_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on cancellation (at once if already cancelled)."""
        with self._lock:
            self._callbacks.append(callback)
        if self._event.is_set():
            callback()

    def remove_callback(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback`` on cancellation."""
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


@contextmanager
def watchdog(token: CancelToken, seconds: float | None, what: str) -> Iterator[None]:
    """Cancel ``token`` after ``seconds`` and turn the resulting stop into a timeout error.

    The engine code inside must pass ``token`` to its long calls (they check it
    between batches, and a running onnxruntime pass is terminated).

    Raises
    ------
    OperationTimeout
        The body was still running when the budget ran out.
    """
    if seconds is None or seconds <= 0:
        yield
        return

    def expire() -> None:
        token.timed_out = True
        token.cancel()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Cancelled as exc:
        if token.timed_out:
            raise OperationTimeout(f"{what} took longer than {seconds:g} s and was stopped.",
                                   "watchdog") from exc
        raise
    finally:
        timer.cancel()


def no_progress(_: Progress) -> None:
    """A progress callback that ignores every report."""


class ThrottledProgress:
    """Forward progress reports at most every ``interval`` seconds.

    The first and the final report (``done == total``) always pass.

    Parameters
    ----------
    callback
        Where reports go.
    interval
        Minimum seconds between two forwarded reports.
    """

    def __init__(self, callback: ProgressCallback, interval: float = 0.05) -> None:
        self._callback = callback
        self._interval = interval
        self._last = -1.0e9

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        final = progress.total > 0 and progress.done >= progress.total
        if final or now - self._last >= self._interval:
            self._last = now
            self._callback(progress)


def ensure_token(cancel: CancelToken | None) -> CancelToken:
    """Return ``cancel`` or a fresh token that is never cancelled."""
    return cancel if cancel is not None else CancelToken()
