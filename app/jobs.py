"""One worker thread for all engine work, newest request first.

Engine work (loading, feature maps, attributions) runs one job at a time on a
single worker thread: GPU work is serial and onnxruntime sessions are shared.
A new request replaces a pending one of the same kind that has not started
(pending jobs of different kinds run in submission order); a running job can be
cancelled cooperatively (the engine checks its :class:`CancelToken` between
batches). Results come back to the GUI thread through queued signals; errors
go to the one notifier.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.notify import Notifier
from engine.cancellation import CancelToken, ThrottledProgress
from engine.errors import Cancelled
from engine.types import Progress

LOG = logging.getLogger("featurescope.jobs")
#: Nice increment of the worker thread (Linux): onnxruntime's pool threads are
#: created by the worker and inherit it, so the GUI thread wins the CPU when the
#: model saturates every core.
WORKER_NICENESS = 5


def lower_thread_priority(increment: int = WORKER_NICENESS) -> bool:
    """Raise the calling thread's nice value on Linux (per-thread there); else do nothing."""
    if not sys.platform.startswith("linux") or increment <= 0:
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except (OSError, AttributeError):
        return False
    return True


@dataclass
class JobContext:
    """What a job function receives: its id, cancel token and report hooks."""

    job_id: int
    kind: str
    cancel: CancelToken
    progress: Callable[[Progress], None]
    partial: Callable[[object], None]


JobFunction = Callable[[JobContext], Any]


@dataclass
class _Job:
    job_id: int
    kind: str
    fn: JobFunction
    label: str
    cancel: CancelToken = field(default_factory=CancelToken)
    submitted: float = field(default_factory=time.monotonic)


class JobRunner(QObject):
    """Run job functions on one worker thread; report through signals.

    Signals carry ``(job_id, kind, payload)``; they are emitted from the worker
    thread and delivered queued to receivers living in the GUI thread.
    """

    started = Signal(int, str, str)
    progress = Signal(int, str, object)
    partial = Signal(int, str, object)
    finished = Signal(int, str, object)
    failed = Signal(int, str, object)
    cancelled = Signal(int, str)
    idle = Signal()

    def __init__(self, notifier: Notifier | None = None, parent: QObject | None = None,
                 progress_interval: float = 0.05) -> None:
        super().__init__(parent)
        self._notifier = notifier
        self._interval = progress_interval
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, _Job] = OrderedDict()
        self._current: _Job | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- public API ---------------------------------------------------------------------
    def submit(self, kind: str, fn: JobFunction, label: str = "",
               supersede_running: bool = False) -> int:
        """Queue ``fn(ctx)``; it replaces a job of the same kind still waiting to start.

        Parameters
        ----------
        kind
            A short name (``model``, ``maps``, ``attribution``) echoed in the signals.
        fn
            The work; its return value is the ``finished`` payload.
        label
            Text for the status bar.
        supersede_running
            Also cancel the running job if it is of the same kind.

        Returns
        -------
        int
            The job id.
        """
        job = _Job(next(self._ids), kind, fn, label or kind)
        dropped: _Job | None = None
        with self._cond:
            if self._stopping:
                raise RuntimeError("the job runner is shut down")
            dropped = self._pending.pop(kind, None)
            self._pending[kind] = job
            if supersede_running and self._current is not None and self._current.kind == kind:
                self._current.cancel.cancel()
            self._ensure_thread()
            self._cond.notify_all()
        if dropped is not None:
            self.cancelled.emit(dropped.job_id, dropped.kind)
        return job.job_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job (running or pending) or, with None, every job."""
        with self._cond:
            dropped = [job for job in self._pending.values() if job_id in (None, job.job_id)]
            for job in dropped:
                del self._pending[job.kind]
            if self._current is not None and job_id in (None, self._current.job_id):
                self._current.cancel.cancel()
        for job in dropped:
            self.cancelled.emit(job.job_id, job.kind)

    @property
    def busy(self) -> bool:
        """Whether a job is running or waiting."""
        with self._cond:
            return self._current is not None or bool(self._pending)

    def active_kinds(self) -> set[str]:
        """Kinds of the running and the pending jobs."""
        with self._cond:
            kinds = set(self._pending)
            if self._current is not None:
                kinds.add(self._current.kind)
        return kinds

    def running(self) -> tuple[int, str] | None:
        """The (id, kind) of the running job, if any."""
        with self._cond:
            job = self._current
        return None if job is None else (job.job_id, job.kind)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel everything and wait for the worker; return whether it stopped."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            if self._current is not None:
                self._current.cancel.cancel()
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            LOG.warning("the worker thread did not stop within %.0f s", timeout)
            return False
        return True

    # -- worker -------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="featurescope-worker",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        lower_thread_priority()
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    self._current = None
                    return
                _, job = self._pending.popitem(last=False)
                self._current = job
            announce = self._run(job)
            # The job stops counting as active before anyone hears of its end, so a
            # receiver that checks active_kinds() on the result sees it finished.
            with self._cond:
                self._current = None
                idle = not self._pending
            announce()
            if idle:
                self.idle.emit()

    def _run(self, job: _Job) -> Callable[[], None]:
        """Run one job; return the call that announces its outcome."""
        self.started.emit(job.job_id, job.kind, job.label)

        def report(p: Progress) -> None:
            self.progress.emit(job.job_id, job.kind, p)

        ctx = JobContext(job.job_id, job.kind, job.cancel,
                         ThrottledProgress(report, self._interval),
                         lambda value: self.partial.emit(job.job_id, job.kind, value))
        try:
            job.cancel.check()
            result = job.fn(ctx)
            job.cancel.check()
        except Cancelled:
            return lambda: self.cancelled.emit(job.job_id, job.kind)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is lost
            if self._notifier is not None:
                self._notifier.error(exc, job.label, topic=job.kind)
            error = exc
            return lambda: self.failed.emit(job.job_id, job.kind, error)
        return lambda: self.finished.emit(job.job_id, job.kind, result)
