"""The torch sections' job: what they are given, running them in another interpreter, and
the correlations of their maps with the engine's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._gpu_common import DTYPES, ROOT, Config, pearson, rnd, top_variance
from benchmarks._gpu_torch_sections import torch_sections

SUITE = ROOT / "benchmarks" / "gpu_suite.py"


def torch_job(cfg: Config, state: dict[str, Any], torch_device: str,
              libraries_required: bool, stubs: bool, seconds_left: float
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The job description and arrays for :func:`torch_sections`.

    The Score-CAM channel subsets are chosen here from the engine's activations of the
    block output, per dtype, so pytorch-grad-cam gets exactly the engine's channels.
    """
    layer_acts = state["acts"]
    batches = state.get("engine_batches", {})
    default = cfg.batch_size or 16
    count = cfg.scorecam_channels
    job = {
        "device": torch_device, "target": state["target"], "window": cfg.window,
        "stride": cfg.stride, "library_repeats": cfg.library_repeats,
        "bound_repeats": cfg.bound_repeats, "libraries_required": libraries_required,
        "stubs": stubs, "seconds_left": seconds_left,
        "scorecam_batch": {dt: batches.get("score-cam", {}).get(dt, default) for dt in DTYPES},
        "occlusion_batch": {dt: batches.get("occlusion", {}).get(dt, default) for dt in DTYPES},
        "scorecam_channels": {"count": count,
                              **{dt: top_variance(layer_acts[dt], count)
                                 for dt in DTYPES if dt in layer_acts}},
    }
    arrays = {f"w:{k}": v for k, v in state["weights"].state_dict().items()}
    arrays.update(x=np.asarray(state["x32"], np.float32), onnx_logits=state["onnx_logits"],
                  onnx_layer=np.asarray(layer_acts["fp32"], np.float32))
    return job, arrays


def run_torch_worker(python: str, job: dict[str, Any], arrays: dict[str, np.ndarray],
                     workdir: Path, sites: list[str], timeout: float
                     ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run :func:`torch_sections` in another interpreter (one with torch)."""
    folder = workdir / "torch_worker"
    folder.mkdir(exist_ok=True)
    (folder / "job.json").write_text(json.dumps(job))
    np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
    command = [python, str(SUITE), "--torch-worker", str(folder)]
    for site in sites:
        command += ["--site", site]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=max(30.0, timeout),
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"torch worker ({python}) failed: {proc.stderr.strip()[-1500:]}")
    result = json.loads((folder / "result.json").read_text())
    with np.load(folder / "maps.npz") as data:
        maps = {k.replace("__", "/"): data[k] for k in data.files}
    result["_worker"] = {"python": python, "stderr_tail": proc.stderr.strip()[-500:]}
    return result, maps


def worker_main(folder: Path) -> int:
    """``--torch-worker``: answer one job written by :func:`run_torch_worker`."""
    job = json.loads((folder / "job.json").read_text())
    with np.load(folder / "arrays.npz") as data:
        arrays = {k: data[k] for k in data.files}
    out, maps = torch_sections(job, arrays)
    (folder / "result.json").write_text(json.dumps(out, default=str))
    flat = {k.replace("/", "__"): v for k, v in maps.items()}
    np.savez(folder / "maps.npz", **flat)  # type: ignore[arg-type]
    return 0


def add_correlations(out: dict[str, Any], maps: dict[str, np.ndarray],
                     engine_maps: dict[str, dict[str, np.ndarray]]) -> None:
    """Pearson of each library map with the engine's map of the same dtype (and fp32)."""
    for key, heat in maps.items():
        parts = key.split("/")
        section, dt = parts[0], parts[1]
        method = "score-cam" if section == "pytorch_grad_cam" else "occlusion"
        ours = engine_maps.get(method, {})
        row = out.get(section, {}).get(dt, {})
        if len(parts) == 3:
            row = row.get(parts[2], {})
        if not isinstance(row, dict):
            continue
        if dt in ours:
            row["pearson_vs_engine"] = rnd(pearson(heat, ours[dt]), 6)
            row["max_abs_diff_vs_engine"] = rnd(
                float(np.abs(np.asarray(heat, np.float64) - ours[dt]).max()), 6)
        if dt != "fp32" and "fp32" in ours:
            row["pearson_vs_engine_fp32"] = rnd(pearson(heat, ours["fp32"]), 6)
