"""Fuzz driver: feeds cases to a worker process, detects crashes, hangs and partial output."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.mutate_models import Case

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    """What happened to one case."""

    case: Case
    outcome: str  # result | error | traceback | crash | hang | partial | bad-message
    message: str
    seconds: float = 0.0


class Worker:
    """A child Python process running :mod:`tests.fuzz.worker`."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, bufsize=1)

    def ask(self, case: dict[str, str | None], timeout: float) -> dict[str, str] | str:
        """Send a case; return the answer, or 'crash' / 'hang'."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(case) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return "crash"
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
        selector.close()
        if not ready:
            self.proc.kill()
            return "hang"
        line = self.proc.stdout.readline()
        if not line:
            return "crash"
        return json.loads(line)

    def close(self) -> None:
        """Stop the worker and close its pipes (also after a crash or a kill)."""
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


def _one_sentence(message: str) -> bool:
    return bool(message) and "\n" not in message and message.rstrip().endswith((".", ")"))


def run_cases(cases: Iterable[Case], work: Path, timeout: float = 120.0) -> list[Outcome]:
    """Run every case in a worker; restart it after a crash or a hang."""
    outcomes: list[Outcome] = []
    worker = Worker()
    try:
        for index, case in enumerate(cases):
            start = time.perf_counter()
            out = work / f"out{index}"
            answer = worker.ask({"model": str(case.path),
                                 "input": None if case.input is None else str(case.input),
                                 "out": str(out)}, timeout)
            if isinstance(answer, str):
                worker.close()
                worker = Worker()
                outcomes.append(Outcome(case, answer, "", time.perf_counter() - start))
                continue
            kind, message = answer["outcome"], answer.get("message", "")
            leftovers = list(work.glob(f".out{index}.*"))
            if leftovers or (kind == "error" and out.exists()):
                kind = "partial"
            elif kind == "error" and not _one_sentence(message):
                kind = "bad-message"
            outcomes.append(Outcome(case, kind, message, time.perf_counter() - start))
    finally:
        worker.close()
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Counts of outcomes per input kind (model, image, npy)."""
    table: dict[str, Counter[str]] = {}
    for item in outcomes:
        table.setdefault(item.case.kind, Counter())[item.outcome] += 1
    return {kind: dict(counts) for kind, counts in sorted(table.items())}
