"""JobRunner: one worker, newest request wins, cancel, errors to the notifier, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QObject, Signal

from app.jobs import JobContext, JobRunner
from app.notify import Notifier
from engine.errors import InputError
from engine.types import Progress


@pytest.fixture
def runner(qapp, leak_check):
    notifier = Notifier()
    job_runner = JobRunner(notifier, progress_interval=0.0)
    yield job_runner
    assert job_runner.shutdown(timeout=5.0)


def slow(seconds: float, value: object = None):
    def work(ctx: JobContext) -> object:
        end = time.monotonic() + seconds
        step = 0
        while time.monotonic() < end:
            ctx.cancel.check()
            step += 1
            ctx.progress(Progress(step, 1000))
            time.sleep(0.005)
        return value
    return work


def test_results_arrive_in_the_gui_thread(runner, qtbot) -> None:
    seen: list[tuple[object, bool]] = []
    runner.finished.connect(lambda _i, _k, value: seen.append(
        (value, threading.current_thread() is threading.main_thread())))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit("maps", lambda ctx: 42)
    assert seen == [(42, True)]


def test_newest_request_supersedes_the_pending_one(runner, qtbot) -> None:
    done: list[object] = []
    dropped: list[int] = []
    runner.finished.connect(lambda _i, _k, value: done.append(value))
    runner.cancelled.connect(lambda job, _k: dropped.append(job))
    with qtbot.waitSignal(runner.started, timeout=5000):
        runner.submit("maps", slow(0.3, "first"))
    second = runner.submit("maps", slow(0.0, "second"))
    third = runner.submit("maps", slow(0.0, "third"))
    qtbot.waitUntil(lambda: "third" in done, timeout=5000)
    assert done == ["first", "third"]
    assert dropped == [second]
    assert third == second + 1


def test_pending_jobs_of_different_kinds_all_run_in_order(runner, qtbot) -> None:
    done: list[object] = []
    runner.finished.connect(lambda _i, _k, value: done.append(value))
    with qtbot.waitSignal(runner.started, timeout=5000):
        runner.submit("model", slow(0.2, "model"))
    runner.submit("maps", slow(0.0, "maps-old"))
    runner.submit("attribution", slow(0.0, "attribution"))
    runner.submit("maps", slow(0.0, "maps-new"))
    assert runner.active_kinds() == {"model", "maps", "attribution"}
    qtbot.waitUntil(lambda: len(done) == 3, timeout=5000)
    assert done == ["model", "attribution", "maps-new"]


def test_supersede_running_cancels_the_running_job_of_that_kind(runner, qtbot) -> None:
    done: list[object] = []
    cancelled: list[str] = []
    runner.finished.connect(lambda _i, _k, value: done.append(value))
    runner.cancelled.connect(lambda _j, kind: cancelled.append(kind))
    with qtbot.waitSignal(runner.started, timeout=5000):
        runner.submit("maps", slow(10.0, "old"))
    runner.submit("maps", slow(0.0, "new"), supersede_running=True)
    qtbot.waitUntil(lambda: done == ["new"], timeout=5000)
    assert cancelled == ["maps"]


def test_cancel_and_progress(runner, qtbot) -> None:
    reports: list[Progress] = []
    runner.progress.connect(lambda _i, _k, p: reports.append(p))
    with qtbot.waitSignal(runner.progress, timeout=5000):
        job = runner.submit("attribution", slow(30.0))
    with qtbot.waitSignal(runner.cancelled, timeout=5000) as blocker:
        runner.cancel(job)
    assert blocker.args == [job, "attribution"]
    assert reports and reports[0].total == 1000
    assert not runner.busy


def test_errors_go_to_the_notifier(runner, qtbot) -> None:
    notifier = runner._notifier
    def fail(ctx: JobContext) -> None:
        raise InputError("The image cannot be read.", "detail for logs")

    def crash(ctx: JobContext) -> None:
        raise ZeroDivisionError("boom")

    with qtbot.waitSignal(runner.failed, timeout=5000):
        runner.submit("maps", fail, "Reading")
    with qtbot.waitSignal(runner.failed, timeout=5000):
        runner.submit("maps", crash, "Crashing")
    assert [n.level for n in notifier.history] == ["error", "error"]
    assert notifier.history[0].message == "Reading: The image cannot be read."
    assert "ZeroDivisionError: boom" in notifier.history[1].message
    assert "Traceback" in notifier.history[1].detail


def test_shutdown_cancels_and_waits(qapp, leak_check) -> None:
    job_runner = JobRunner(Notifier())
    job_runner.submit("attribution", slow(30.0))
    time.sleep(0.05)
    t0 = time.monotonic()
    assert job_runner.shutdown(timeout=5.0)
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(RuntimeError):
        job_runner.submit("maps", slow(0.0))


class _Emitter(QObject):
    flag = Signal(bool)


def test_many_booleans_through_a_qt_signal(qapp, qtbot) -> None:
    """Regression: PySide6 on Python 3.11 crashed emitting many bools through Signal(bool)."""
    emitter = _Emitter()
    received: list[bool] = []
    emitter.flag.connect(received.append)
    values = [i % 3 == 0 for i in range(5000)]
    for value in values:
        emitter.flag.emit(value)
    assert received == values
    # the same across threads (queued delivery)
    received.clear()
    thread = threading.Thread(target=lambda: [emitter.flag.emit(v) for v in values])
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(received) == len(values), timeout=5000)
    assert received == values


def test_finished_job_no_longer_active_when_announced(runner, qtbot) -> None:
    """A receiver of ``finished`` that submits follow-up work must see the job as ended."""
    from PySide6.QtCore import Qt

    seen: list[set[str]] = []
    # Direct connection: the slot runs at the very moment the worker announces the end.
    runner.finished.connect(lambda *_: seen.append(runner.active_kinds()),
                            Qt.ConnectionType.DirectConnection)
    for i in range(20):
        runner.submit("maps", slow(0.01, "done"))
        # wait for the announcement itself: "not busy" comes true just before it, and a
        # job submitted in between would rightly be seen as active by the slot
        qtbot.waitUntil(lambda n=i + 1: len(seen) == n, timeout=5000)
    assert all("maps" not in kinds for kinds in seen)
