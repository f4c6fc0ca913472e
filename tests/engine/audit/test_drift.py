"""``featurescope drift`` between real scans: a scan against itself, and against darker photos."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from engine.audit.drift import scan_drift
from engine.cli import main
from engine.scan.runner import ScanRequest, run_scan

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
LAYERS = ("/_conv_stem/Conv", "/_blocks.3/_project_conv/Conv")


def _photos(folder: Path, sources: list[Path], count: int, darken: float = 1.0) -> Path:
    """``count`` real photographs (crops and flips of ``sources``), optionally darker."""
    folder.mkdir()
    for n in range(count):
        with Image.open(sources[n % len(sources)]) as image:
            picture = image.convert("RGB")
        w, h = picture.size
        k = n // len(sources)
        picture = picture.crop((k * w // 40, k * h // 50, w - k * w // 60, h - k * h // 45))
        if n % 2:
            picture = ImageOps.mirror(picture)
        if darken != 1.0:
            picture = ImageEnhance.Brightness(picture).enhance(darken)
        picture.save(folder / f"p{n:03d}.png")
    return folder


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory,
          photo: Callable[[str], Path]) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("drift")
    sources = [ROOT / "resources" / "images" / "chelsea.png",
               ROOT / "resources" / "images" / "coffee.png", photo("astronaut")]
    bright = _photos(root / "bright", sources, 36)
    dark = _photos(root / "dark", sources, 36, darken=0.35)
    out = []
    for name, data in (("a", bright), ("b", dark)):
        request = ScanRequest(model=str(DEMO), data=(str(data),), out=str(root / name),
                              layers=LAYERS, k=4, batch_size=8, preference="cpu")
        run_scan(request)
        out.append(root / name)
    return out[0], out[1]


def test_a_scan_compared_with_itself_flags_nothing(scans: tuple[Path, Path]) -> None:
    rows = scan_drift(scans[0], scans[0])
    assert rows and not any(row.flagged for row in rows)
    assert all(row.effect_size == 0 and row.ks == 0 for row in rows)


def test_darker_photos_drift_and_the_json_contract(
        scans: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift", str(scans[0]), str(scans[1]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    channels = data["channels"]
    assert len(channels) == 32 + 40  # the two layers' channels
    assert set(channels[0]) == {"layer", "channel", "effect_size", "ks", "p", "q", "flagged"}
    effects = [c["effect_size"] for c in channels if c["effect_size"] is not None]
    assert effects == sorted(effects, reverse=True)  # ranked by effect size
    assert sum(c["flagged"] for c in channels) >= 5  # a darker data set moves the stem
    # the statistics, recomputed from the scans' own vectors for the top finite channel
    # (a channel constant over the reference that moves at all has an infinite effect,
    # written as null, ranked first)
    vectors = [[np.load(scan / "vectors" / f"{i:04d}.max.npy").astype(np.float64)
                for i in range(len(LAYERS))] for scan in scans]
    for row in channels:
        if row["effect_size"] is None:
            ref = vectors[0][LAYERS.index(row["layer"])][:, row["channel"]]
            assert np.ptp(ref) == 0
    top = next(c for c in channels if c["effect_size"] is not None)
    layer_index = LAYERS.index(top["layer"])
    a = np.sort(vectors[0][layer_index][:, top["channel"]])
    b = np.sort(vectors[1][layer_index][:, top["channel"]])
    w1 = np.abs(a - b).mean()  # equal sample sizes: W1 is the mean gap of the sorted samples
    assert top["effect_size"] == pytest.approx(w1 / a.std(), rel=1e-6)


def test_audit_reports_drift_against_a_reference_scan(scans: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    dark = scans[1].parent / "dark"
    assert main(["audit", str(DEMO), str(dark), "--out", str(tmp_path / "report"),
                 "--methods", "eigen-cam", "--steps", "4", "--cascade", "1", "--max-images",
                 "12", "--reference-scan", str(scans[0]), "--provider", "cpu"]) == 0
    audit = json.loads((tmp_path / "report" / "audit.json").read_text())
    drift = audit["drift"]
    assert drift["reference"] == str(scans[0]) and drift["channels"] == 72
    assert drift["flagged"] >= 1 and len(drift["top"]) == 20
    assert "Drift against the reference scan" in (tmp_path / "report" / "report.html").read_text()
