"""A fixed, seeded fuzz budget: every bad input gives a result or one clean sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.corpus import build_corpus
from tests.fuzz.runner import run_cases, summarise


@pytest.mark.slow
def test_seeded_fuzz_budget(tmp_path: Path) -> None:
    cases = build_corpus(tmp_path, seed=2026, scale=1)
    outcomes = run_cases(cases, tmp_path)
    summary = summarise(outcomes)
    bad = [f"{o.outcome}: {o.case.kind} {o.case.name}: {o.message[:400]}" for o in outcomes
           if o.outcome not in ("result", "error")]
    assert bad == [], "\n".join(bad)
    assert sum(sum(c.values()) for c in summary.values()) == len(cases) > 100
    assert summary["npy"].get("result", 0) >= 3 and summary["npy"].get("error", 0) >= 5


def test_runtime_retry_chatter_never_reaches_stdout(tmp_path: Path) -> None:
    """onnxruntime's Python wrapper prints 'EP Error' banners on some damaged models."""
    import subprocess
    import sys

    import numpy as np

    from tests import real_models
    from tests.fuzz.mutate_models import byte_cases

    source = real_models.fetch("ppocr_mobile_v2_textline_cls")
    cases = {c.name: c for c in byte_cases(source, tmp_path, None,
                                           np.random.default_rng(2026), 4, 6)}
    case = cases["ppocr_mobile_v2_textline_cls:flip3x10"]
    proc = subprocess.run([sys.executable, "-m", "engine", "maps", str(case.path),
                           str(real_models.fetch("text")), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: ")
