"""compare_reference's reference side (torch): models, activation check, one case.

Runs in the reference environment. Cases name their model (``efficientnet-lite0``: built by
``packaging/export_demo_model.py``'s own code and weights; ``resnet50``: torchvision's
``resnet50()`` holding the arrays the Featurescope worker built the ONNX graph from).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._compare_report import agreement, timing
from benchmarks._compare_worker import ROOT, Featurescope, slug

EXPORT_SCRIPT = ROOT / "packaging" / "export_demo_model.py"
EFFICIENTNET_TARGET = 285  # Egyptian cat: the demo model's top-1 on chelsea.png
GRADCAM_BATCH = 16  # pytorch-grad-cam ScoreCAM's default BATCH_SIZE
CAPTUM_PER_EVAL = 64
WINDOW, STRIDE = 16, 8

# case -> model, Featurescope layer, torch module path, transform on the module's output
SCORECAM_CASES: dict[str, dict[str, Any]] = {
    "scorecam-head": {"model": "efficientnet-lite0", "layer": "/_conv_head/Conv",
                      "module": "_bn1", "relu6": True},
    "scorecam-block15": {"model": "efficientnet-lite0", "layer": "/_blocks.15/_project_conv/Conv",
                         "module": "_blocks.15._bn2", "relu6": False},
    # layer4's block output: the Relu after the last residual Add, by tensor name; torch
    # ``model.layer4[2]`` is ``model.layer4[-1]``, the Bottleneck whose output that is.
    "scorecam-resnet50-block": {"model": "resnet50",
                                "layer": "/layer4/layer4.2/relu_2/Relu_output_0",
                                "module": "layer4.2", "relu6": False},
}
ALL_CASES = (*SCORECAM_CASES, "occlusion")


def case_model(case: str) -> str:
    """The model a case runs on (occlusion: the demo model)."""
    return SCORECAM_CASES[case]["model"] if case in SCORECAM_CASES else "efficientnet-lite0"


def _export_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_demo_model", EXPORT_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_builder(key: str, prep: dict[str, Any]) -> Callable[[], Any]:
    """A function that builds a fresh torch model (eval) for this model key."""
    if key == "efficientnet-lite0":
        export = _export_module()
        weights = export.read_weights(None)
        return lambda: export.build_model(weights)
    from benchmarks import _resnet50_onnx as resnet

    with np.load(prep["state"]) as data:
        arrays = {k: data[k] for k in data.files}
    return lambda: resnet.torchvision_from_state(arrays)


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


def submodule(model: Any, path: str) -> Any:
    """``model._blocks.15._bn2`` style paths (digits index a Sequential)."""
    module = model
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _relu6(tensor: Any) -> Any:
    return tensor.clamp(0.0, 6.0)


def check_activations(key: str, build: Callable[[], Any], x: Any, workdir: Path,
                      cases: list[str], target: int) -> dict[str, Any]:
    """Logits and layer activations of torch against onnxruntime (Featurescope's tensors)."""
    import torch

    model = build()
    seen: dict[str, np.ndarray] = {}
    handles = []
    for case in cases:
        cfg = SCORECAM_CASES[case]

        def hook(module: Any, inputs: Any, output: Any, case: str = case,
                 relu6: bool = cfg["relu6"]) -> None:
            seen[case] = (_relu6(output) if relu6 else output).detach().numpy().copy()

        handles.append(submodule(model, cfg["module"]).register_forward_hook(hook))
    report: dict[str, Any] = {}
    if key == "efficientnet-lite0":
        # The shared ReLU6 runs twice (stem, then head): record what hooking it would give.
        swish_shapes: list[list[int]] = []
        handles.append(model._swish.register_forward_hook(
            lambda m, i, o: swish_shapes.append(list(o.shape))))
        report["model._swish_calls_output_shapes"] = swish_shapes
    with torch.no_grad():
        logits = model(x).numpy()
    for handle in handles:
        handle.remove()
    ours = np.load(workdir / f"fs_{key}_logits.npy")
    report.update({
        "logits_max_abs_diff": float(np.abs(logits - ours).max()),
        f"logit_{target}": float(logits[0, target]), "top1": int(np.argmax(logits[0])),
        "layers": {}})
    for case in cases:
        cfg = SCORECAM_CASES[case]
        ref = np.load(workdir / f"fs_act_{slug(cfg['layer'])}.npy")
        flat = ref.reshape(ref.shape[1], -1)
        report["layers"][case] = {
            "featurescope_layer": cfg["layer"],
            "torch_module": f"model.{cfg['module']}" + (" + clamp(0, 6)" if cfg["relu6"] else ""),
            "shape": list(ref.shape), "max_abs_diff": float(np.abs(seen[case] - ref).max()),
            "value_range": [float(ref.min()), float(ref.max())],
            "constant_channels": int(((flat.max(1) - flat.min(1)) <= 0).sum())}
    return report


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def plain_throughput(fs: Featurescope, key: str, build: Callable[[], Any], x: Any, batch: int,
                     images: int) -> dict[str, Any]:
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
    ort = fs.ask(task="plain", model=key, batch=batch, runs=runs)
    return {"batch": batch, "images": runs * batch, "torch_ms_per_image": torch_ms,
            "onnxruntime_ms_per_image": ort["ms_per_image"],
            "torch_vs_onnxruntime": torch_ms / ort["ms_per_image"]}


LibraryRun = Callable[[], tuple[np.ndarray, float, int, int]]  # map, seconds, images, calls


def kept_channels(workdir: Path, layer: str, count: int) -> list[int] | None:
    """Faster Score-CAM's channels (largest spatial variance, as the engine picks them from
    the same onnxruntime activations); None for all channels."""
    if not count:
        return None
    from benchmarks._gpu_common import top_variance

    return top_variance(np.load(workdir / f"fs_act_{slug(layer)}.npy")[0], count)


def _library(case: str, build: Callable[[], Any], x: Any, target: int,
             channels: list[int] | None) -> tuple[Any, dict[str, Any], int, str, LibraryRun]:
    """The reference tool for a case, Featurescope's job, the library's batch and name."""
    model = build()
    counter = PassCounter(model)
    if case == "occlusion":
        from captum.attr import Occlusion

        occ = Occlusion(model)

        def once() -> tuple[np.ndarray, float, int, int]:
            counter.reset()
            start = time.perf_counter()
            attr = occ.attribute(x, sliding_window_shapes=(3, WINDOW, WINDOW),
                                 strides=(3, STRIDE, STRIDE), baselines=0, target=target,
                                 perturbations_per_eval=CAPTUM_PER_EVAL)
            seconds = time.perf_counter() - start
            return (attr.detach().numpy()[0].astype(np.float64), seconds, counter.images,
                    counter.calls)

        job = {"method": "occlusion", "score": "logit",
               "params": {"window": WINDOW, "stride": STRIDE, "baseline": "0"}}
        return occ, job, CAPTUM_PER_EVAL, (f"Captum Occlusion (perturbations_per_eval="
                                           f"{CAPTUM_PER_EVAL})"), once
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cfg = SCORECAM_CASES[case]
    transform: Callable[[Any], Any] | None = _relu6 if cfg["relu6"] else None
    if channels is not None:  # the same subset as Featurescope's ``channels`` option
        import torch

        index = torch.tensor(channels, dtype=torch.long)

        def transform(t: Any, first: Any = transform) -> Any:
            return (first(t) if first is not None else t).index_select(1, index)

    cam = ScoreCAM(model=model, target_layers=[submodule(model, cfg["module"])],
                   reshape_transform=transform)

    def cam_once() -> tuple[np.ndarray, float, int, int]:
        counter.reset()
        start = time.perf_counter()
        heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
        seconds = time.perf_counter() - start
        return np.asarray(heat, np.float64), seconds, counter.images, counter.calls

    params: dict[str, Any] = {"variant": "pytorch-grad-cam"}
    if channels is not None:
        params["channels"] = len(channels)
    job = {"method": "score-cam", "layer": cfg["layer"], "params": params}
    return cam, job, GRADCAM_BATCH, f"pytorch-grad-cam ScoreCAM (batch {GRADCAM_BATCH})", cam_once


def compare_case(case: str, fs: Featurescope, build: Callable[[], Any], x: Any, target: int,
                 repeats: int, library_repeats: int, channels: int = 0) -> dict[str, Any]:
    """Run one case on both sides, interleaved; return agreement, passes and timings.

    ``channels`` (Score-CAM): 0 for all channels, else both sides use the same ``channels``
    of largest spatial variance (Faster Score-CAM).
    """
    load_before = _load()
    key = case_model(case)
    kept = (kept_channels(fs.workdir, SCORECAM_CASES[case]["layer"], channels)
            if case in SCORECAM_CASES else None)
    tool, fs_job, lib_batch, lib_name, lib_once = _library(case, build, x, target, kept)
    fs_job.update(model=key, target=target)
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
        tool.activations_and_grads.release()  # remove pytorch-grad-cam's hooks
        channel_spread = 0.0
        ref_map = lib_map
    np.save(fs.workdir / f"ref_{case}.npy", ref_map.astype(np.float32))
    fs_passes = fs_info["forward_passes"]
    result: dict[str, Any] = {
        "case": case, "model": key, "target": target, "input_shape": list(x.shape),
        "library": lib_name, "channels": len(kept) if kept is not None else "all",
        "featurescope": {
            "layer": fs_info.get("layer"), "variant": fs_info.get("variant"),
            "path": fs_info["path"], "batch_mode": fs_info["batch_mode"],
            "batch_size": fs_info["batch_size"], "forward_passes": fs_passes,
            "batches": math.ceil(fs_passes / fs_info["batch_size"]),
            "target_score": fs_info["target_score"], "notes": fs_info["notes"],
            "stats": fs_info["stats"], **timing([r["seconds"] for r in fs_runs])},
        "featurescope_at_library_batch": {
            "batch_size": matched["batch_size"], "forward_passes": matched["forward_passes"],
            "runs_s": [round(r["seconds"], 4) for r in matched_runs],
            "warm_s": min(r["seconds"] for r in matched_runs),
            "same_map_as_default_batch_max_abs_diff": float(np.abs(matched_map - fs_map).max())},
        "reference": {"batch_size": lib_batch, "forward_passes": lib_images - 1,
                      "forward_passes_incl_unperturbed": lib_images, "batches": lib_calls,
                      **timing(lib_times)},
        "agreement": agreement(fs_map, ref_map),
    }
    if case == "occlusion":
        diff = np.abs(fs_map - ref_map)
        result["agreement"].update({
            "raw_max_abs_diff_logits": float(diff.max()),
            "raw_max_abs_ref_logits": float(np.abs(ref_map).max()),
            "captum_channels_max_abs_spread": channel_spread})
    else:
        result["agreement"]["control_uniform_weights_pearson"] = uniform_control(
            fs.workdir, SCORECAM_CASES[case]["layer"], ref_map, kept)
    result["plain_network"] = plain_throughput(fs, key, build, x, lib_batch,
                                               max(64, 2 * lib_batch))
    result["load_average_1_5_15"] = {"before": load_before, "after": _load()}
    return result


def uniform_control(workdir: Path, layer: str, ref_map: np.ndarray,
                    channels: list[int] | None = None) -> float:
    """Pearson of the reference map with the same CAM pipeline but all weights equal.

    Shows how much the channel weights matter on this layer, i.e. how much a high
    correlation with the reference proves.
    """
    from pytorch_grad_cam.utils.image import scale_cam_image

    from benchmarks._compare_report import minmax

    acts = np.load(workdir / f"fs_act_{slug(layer)}.npy")[0]
    if channels is not None:
        acts = acts[channels]
    cam = np.maximum(acts.mean(axis=0), 0.0)[None]
    size = (ref_map.shape[1], ref_map.shape[0])
    uniform = scale_cam_image(scale_cam_image(cam, size))[0]
    return float(np.corrcoef(minmax(uniform).ravel(), minmax(ref_map).ravel())[0, 1])
