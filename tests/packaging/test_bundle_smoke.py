"""Smoke test of a built bundle (skipped until `make package` has built one)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("FEATURESCOPE_BUNDLE",
                             ROOT / "dist" / "cpu" / "featurescope" / "featurescope"))


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLE.is_file(), reason=f"no built bundle at {BUNDLE} (make package)")
def test_bundle_runs_in_a_clean_environment():
    args = ["bash", str(ROOT / "packaging" / "smoke_test.sh"), str(BUNDLE)]
    try:
        from tests.real_models import fetch

        args += ["--real-model", str(fetch("ppocrv4_det_dbnet")),
                 "--real-input", str(fetch("page"))]
    except Exception:  # noqa: BLE001 - offline: the demo checks still run, without it
        pass
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout
