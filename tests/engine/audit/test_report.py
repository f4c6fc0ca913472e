"""The audit report: contents, provenance, and identical numbers when run twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[3]
IMAGES = ROOT / "resources" / "images"


def _audit(out: Path) -> dict[str, object]:
    code = main(["audit", str(ROOT / "resources" / "models" / "efficientnet_lite0.onnx"),
                 str(IMAGES), "--out", str(out), "--methods",
                 "eigen-cam occlusion:window=56,stride=56", "--steps", "8", "--cascade", "1",
                 "--provider", "cpu"])
    assert code == 0
    data: dict[str, object] = json.loads((out / "audit.json").read_text())
    return data


def test_audit_is_reproducible_and_complete(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    first = _audit(tmp_path / "a")
    second = _audit(tmp_path / "b")
    first.pop("times"), second.pop("times")
    assert first == second  # identical numbers, everything but the times
    images = first["images"]
    assert isinstance(images, list) and len(images) >= 2
    chelsea = next(i for i in images if i["path"].endswith("chelsea.png"))
    assert chelsea["predictions"][0]["label"] == "Egyptian cat"
    methods = {m["method"]: m for m in chelsea["methods"]}
    assert set(methods) == {"eigen-cam", "occlusion"}
    for entry in methods.values():
        assert len(entry["metrics"]["deletion"]["curve"]) == 9
    # step 0 of deletion is the unchanged input: the same raw score for both methods
    starts = {m["metrics"]["deletion"]["curve"][0] for m in methods.values()}
    assert len(starts) == 1
    provenance = first["model"]["provenance"]
    assert len(provenance["sha256"]) == 64
    assert all(len(i["sha256"]) == 64 for i in images)
    assert first["software"]["onnxruntime"] and first["settings"]["seed"] == 0
    assert first["sanity"][0]["steps"][0]["randomised_layers"] == 50
    html = (tmp_path / "a" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 * 2 * len(images)  # self-contained
    assert "Egyptian cat" in html and provenance["sha256"] in html
    assert "audited" in capsys.readouterr().out
