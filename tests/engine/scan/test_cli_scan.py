"""``featurescope scan`` and ``examples`` from the command line (the JSON keys are a contract)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.main import main
from engine.scan import content_digest
from tests.engine.scan._scan_data import RED
from tests.engine.scan.conftest import Detector


def test_examples_json_prints_the_top_k_best_first(detector: Detector, capsys) -> None:
    assert main(["examples", str(detector.out), "--layer", "color", "--channel", "0",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [set(item) for item in printed] == [{"path", "score", "y", "x", "box"}] * 4
    reddest = sorted(RED, key=lambda r: -r.red)[:4]
    assert [Path(item["path"]).name for item in printed] == [r.name for r in reddest]
    assert [item["score"] for item in printed] == sorted(
        (item["score"] for item in printed), reverse=True)
    assert printed[0]["y"] == reddest[0].y and printed[0]["x"] == reddest[0].x
    x0, y0, x1, y1 = printed[0]["box"]
    assert (x0, y0) == (reddest[0].x, reddest[0].y) and x1 > x0 and y1 > y0


def test_examples_text_lists_rank_score_and_path(detector: Detector, capsys) -> None:
    assert main(["examples", str(detector.out), "--layer", "edge", "--channel", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("layer edge, channel 0: top 4")
    assert len(lines) == 5 and lines[1].split()[0] == "1" and "edge_00.png" in lines[1]


def test_examples_out_writes_crops_with_the_activation_and_a_contact_sheet(
        detector: Detector, tmp_path: Path, capsys) -> None:
    out = tmp_path / "crops"
    assert main(["examples", str(detector.out), "--layer", "pool", "--channel", "0",
                 "--out", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert "contact_sheet.png" in files and "examples.json" in files
    crops = [out / name for name in files if name[:3].isdigit()]
    assert len(crops) == 4 and crops[0].name.startswith("001_red_00")
    examples = json.loads((out / "examples.json").read_text())
    x0, y0, x1, y1 = examples[0]["box"]
    with Image.open(crops[0]) as crop, Image.open(examples[0]["path"]) as image:
        drawn = np.asarray(crop.convert("RGB"))
        plain = np.asarray(image.convert("RGB"))[y0:y1, x0:x1]
    assert drawn.shape == plain.shape
    # the activation is drawn over the pixels where the channel fires (all of this box)
    assert (drawn != plain).any(axis=2).all()
    assert examples[0]["path"].endswith("red_00.png")
    assert "written" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--layer", "nope", "--channel", "0"], "no layer named 'nope'"),
    (["--layer", "color", "--channel", "9"], "channels 0 to 3"),
])
def test_bad_examples_requests_fail_with_one_line(detector: Detector, capsys, argv,
                                                   message: str) -> None:
    assert main(["examples", str(detector.out), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_scan_prints_a_summary_and_the_unreadable_images(detector: Detector, tmp_path: Path,
                                                        capsys) -> None:
    out = tmp_path / "scan"
    argv = ["scan", str(detector.model), str(detector.images), "--out", str(out), "--k", "4",
            "--batch-size", "3", "--shard-size", "5", "--provider", "cpu"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "16 of 17 images scanned (1 unreadable) over 3 layers and 7 channels" in captured.out
    assert "skipped unreadable image" in captured.err and "broken.png" in captured.err
    assert content_digest(out) == content_digest(detector.out)
    # Another k into the same folder is refused in one line, the scan kept.
    assert main([*argv[:-6], "--k", "5", "--batch-size", "3", "--shard-size", "5"]) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and err.count("\n") == 1
    assert content_digest(out) == content_digest(detector.out)


@pytest.mark.parametrize(("extra", "message"), [
    (["--layers", "missing"], "no convolution layer named 'missing'"),
    (["--k", "5000"], "--k must be between 1 and 1024"),
])
def test_bad_scan_requests_fail_with_one_line(detector: Detector, tmp_path: Path, capsys,
                                              extra: list[str], message: str) -> None:
    argv = ["scan", str(detector.model), str(detector.images), "--out", str(tmp_path / "s"),
            *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_data_that_names_nothing_fails_with_one_line(detector: Detector, tmp_path: Path,
                                                     capsys) -> None:
    argv = ["scan", str(detector.model), str(tmp_path / "nowhere"), "--out",
            str(tmp_path / "s")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "neither a folder, an image, a list of images nor a pattern" in err
    assert err.count("\n") == 1
