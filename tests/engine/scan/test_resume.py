"""Interrupting a scan (SIGKILL, Ctrl-C) and running the same command again.

The scan runs as a real ``python -m engine scan`` subprocess; it is killed once
some shards are committed. The resumed scan's database and vectors must equal
an uninterrupted scan's bit for bit (no image counted twice or lost).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.scan import content_digest
from engine.scan.store import DB_NAME
from tests.engine.scan.conftest import Detector

TIMEOUT = 60.0


def command(big: Detector, out: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "scan", str(big.model), str(big.images),
            "--out", str(out), "--k", "4", "--batch-size", "2", "--shard-size", "4",
            "--provider", "cpu", "--threads", "1", "--decode-threads", "1"]


def committed(out: Path) -> int:
    """Shards committed so far (0 before the database exists)."""
    path = out / DB_NAME
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.1) as db:
            return int(db.execute("SELECT COUNT(*) FROM shards").fetchone()[0])
    except sqlite3.Error:
        return 0


def interrupt(big: Detector, out: Path, sig: signal.Signals, after: int) -> int:
    """Start the scan, send ``sig`` once ``after`` shards are committed; its exit code."""
    process = subprocess.Popen(command(big, out), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=Path(__file__).parents[3])
    deadline = time.monotonic() + TIMEOUT
    try:
        while committed(out) < after:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the scan did not start"
            time.sleep(0.005)
        os.kill(process.pid, sig)
        process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_scan_resumes_to_the_uninterrupted_result(big: Detector, tmp_path: Path,
                                                                  sig: signal.Signals) -> None:
    out = tmp_path / "scan"
    code = interrupt(big, out, sig, after=3)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    done = committed(out)
    total = big.summary.shards
    assert 3 <= done < total, "the interruption came after the end of the scan"
    finished = subprocess.run(command(big, out), capture_output=True, text=True,
                              timeout=TIMEOUT, cwd=Path(__file__).parents[3], check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"continued after {done} committed shards" in finished.stdout
    assert committed(out) == total
    assert content_digest(out) == content_digest(big.out)


class _InterruptedAfterCommit(sqlite3.Connection):
    """A connection whose COMMIT succeeds and then meets Ctrl-C, as a real one can."""

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
        cursor = super().execute(sql, *args)  # type: ignore[arg-type]
        if sql == "COMMIT":
            raise KeyboardInterrupt
        return cursor


def test_ctrl_c_right_after_a_commit_stays_an_interruption(tmp_path: Path) -> None:
    """Not 'cannot rollback - no transaction is active' (exit 1): the scan exits with 130."""
    from engine.scan.store import _transaction

    db = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None,
                         factory=_InterruptedAfterCommit)
    db.execute("CREATE TABLE t (x)")
    with pytest.raises(KeyboardInterrupt), _transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1  # committed, kept
    with pytest.raises(ZeroDivisionError), _transaction(db):  # a failure inside rolls back
        db.execute("INSERT INTO t VALUES (2)")
        raise ZeroDivisionError
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    db.close()


def test_a_repeat_without_shard_size_continues_with_the_scans_own_shards(
        big: Detector, tmp_path: Path) -> None:
    """The default shard size (10 images here) differs from the scan's 4: the scan's wins."""
    out = tmp_path / "scan"
    assert interrupt(big, out, signal.SIGKILL, after=3) == -signal.SIGKILL
    done = committed(out)
    argv = command(big, out)
    at = argv.index("--shard-size")
    repeat = argv[:at] + argv[at + 2:]
    finished = subprocess.run(repeat, capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=Path(__file__).parents[3], check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"continued after {done} committed shards" in finished.stdout
    assert content_digest(out) == content_digest(big.out)
