"""gpu_suite's torch sections: torch_equivalence, pytorch_grad_cam, captum.

They run in the suite's process when it has torch, else in ``--torch-python``'s interpreter
(:mod:`benchmarks._gpu_torch_worker`); only numpy, torch, torchvision and the two libraries
are imported here, never the engine. pytorch-grad-cam's ``ScoreCAM`` runs on
``model.layer4[-1]`` (layer4's block output), the engine's Score-CAM layer, with the
engine's channel subset in ``--quick``.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import _resnet50_onnx as resnet
from benchmarks._gpu_common import (
    DTYPES,
    TORCH_CAM_MODULE,
    constant_channels,
    dist_version,
    error_text,
    guarded,
    rnd,
)
from benchmarks._gpu_stubs import install_stubs


class PassCounter:
    """Counts calls and images through a model's top-level forward."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        self.images = 0
        self.handle = model.register_forward_pre_hook(self._hook)

    def _hook(self, module: Any, args: tuple[Any, ...]) -> None:
        self.calls += 1
        self.images += int(args[0].shape[0])

    def reset(self) -> None:
        self.calls = self.images = 0


class TorchRun:
    """One job's device, model factory, input, time budget and timing helpers."""

    def __init__(self, job: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        import torch

        self.torch = torch
        self.job = job
        self.arrays = arrays
        self.device = torch.device(job["device"])
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False")
        self.state_dict = {k[2:]: v for k, v in arrays.items() if k.startswith("w:")}
        self.x32 = torch.from_numpy(np.ascontiguousarray(arrays["x"], np.float32))
        self.target = int(job["target"])
        self.started = time.perf_counter()
        self.maps: dict[str, np.ndarray] = {}

    def in_time(self, what: str) -> None:
        if time.perf_counter() - self.started > float(self.job.get("seconds_left", math.inf)):
            raise TimeoutError(f"not run: the time budget was spent before {what}")

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def build(self, dt: str) -> Any:
        model = resnet.torchvision_from_state(self.state_dict).to(self.device)
        return model.half() if dt == "fp16" else model

    def input(self, dt: str) -> Any:
        return (self.x32.half() if dt == "fp16" else self.x32).to(self.device)

    def bound(self, model: Any, x: Any, batch: int) -> float:
        """Images per second of the plain network at ``batch`` (best of bound_repeats)."""
        xb = x.repeat(batch, 1, 1, 1)
        with self.torch.no_grad():
            model(xb)
            model(xb)
            self.sync()
            times = []
            for _ in range(int(self.job["bound_repeats"])):
                start = time.perf_counter()
                model(xb)
                self.sync()
                times.append(time.perf_counter() - start)
        return batch / min(times)


def equivalence(run: TorchRun) -> dict[str, Any]:
    """Logits and the Score-CAM layer (layer4[-1]'s output) of torch against onnxruntime."""
    torch = run.torch
    run.in_time("the torch equivalence check")
    model = run.build("fp32")
    captured: dict[str, Any] = {}
    handle = model.layer4[-1].register_forward_hook(
        lambda m, i, o: captured.__setitem__("layer", o.detach().float().cpu().numpy().copy()))
    with torch.no_grad():
        logits = model(run.x32.to(run.device)).float().cpu().numpy()
    handle.remove()
    diff = float(np.abs(logits - run.arrays["onnx_logits"]).max())
    layer_diff = float(np.abs(captured["layer"][0] - run.arrays["onnx_layer"]).max())
    row = {"torch": torch.__version__, "device": str(run.device),
           "logits_max_abs_diff": diff,
           "logits_max_abs": float(np.abs(logits).max()),
           "layer_max_abs_diff": layer_diff,
           "layer_compared": f"torch {TORCH_CAM_MODULE} output (block output) vs the "
                             "engine's Score-CAM layer",
           "same_top1": int(np.argmax(logits[0])) == run.target,
           "tf32": {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                    "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}}
    if diff > 1e-3 * max(1.0, row["logits_max_abs"]) or layer_diff > 1e-3:
        row["error"] = f"torch and onnxruntime differ: logits {diff:.2e}, layer {layer_diff:.2e}"
    return row


def gradcam_run(run: TorchRun, dt: str) -> dict[str, Any]:
    """pytorch-grad-cam ScoreCAM on layer4[-1], the engine's channels and batch size."""
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch = run.torch
    run.in_time(f"pytorch-grad-cam {dt}")
    batch = int(run.job["scorecam_batch"][dt])
    subsets = run.job["scorecam_channels"]
    model = run.build(dt)  # its own instance: pytorch-grad-cam leaves hooks on its model
    module = model.layer4[-1]
    x = run.input(dt)
    grabbed: dict[str, Any] = {}
    hook = module.register_forward_hook(
        lambda m, i, o: grabbed.__setitem__("a", o.float().cpu().numpy()[0].copy()))
    with torch.no_grad():
        model(x)
    hook.remove()
    constant = constant_channels(grabbed["a"])
    channels: list[int] | None = subsets[dt] if subsets["count"] else None
    transform: Callable[[Any], Any] | None = None
    if channels is not None:  # the engine's Faster Score-CAM subset (largest variance)
        index = torch.tensor(channels, dtype=torch.long, device=run.device)

        def transform(t: Any, index: Any = index) -> Any:
            return t.index_select(1, index)

    images_per_s = run.bound(model, x, batch)
    counter = PassCounter(model)
    cam = ScoreCAM(model=model, target_layers=[module], reshape_transform=transform)
    cam.batch_size = batch
    times = []
    heat = None
    try:
        for _ in range(int(run.job["library_repeats"])):
            counter.reset()
            run.sync()
            start = time.perf_counter()
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(run.target)])[0]
            run.sync()
            times.append(time.perf_counter() - start)
    finally:
        cam.activations_and_grads.release()
        counter.handle.remove()
    heat = np.asarray(heat, np.float32)
    passes = counter.images - 1
    row: dict[str, Any] = {
        "target_layer": TORCH_CAM_MODULE,
        "channels": len(channels) if channels is not None else "all",
        "constant_channels": constant, "batch_size": batch, "forward_passes": passes,
        "calls": counter.calls, "runs_s": [rnd(t) for t in times],
        "best_s": rnd(min(times)),
        "torch_bound_images_per_s": rnd(images_per_s, 1),
        "torch_bound_s": rnd(passes / images_per_s),
        "over_torch_bound": rnd(min(times) / (passes / images_per_s), 3)}
    if not np.isfinite(heat).all():
        why = "the map holds non-finite values"
        if dt == "fp16" and constant:
            why += (f": {constant} channels are constant (all zero after the block's Relu) "
                    "and pytorch-grad-cam normalises each mask as (x - min) / (max - min + "
                    "1e-8); in float16 1e-8 rounds to 0, so those masks are 0/0 = NaN")
        row["unsupported" if dt == "fp16" else "error"] = why
        return row
    run.maps[f"pytorch_grad_cam/{dt}/same_layer"] = heat
    return row


def gradcam_part(run: TorchRun, dt: str) -> dict[str, Any]:
    """``{"same_layer": row}``: the one layer, the engine's (the key the JSON has kept)."""
    try:
        row = gradcam_run(run, dt)
    except Exception as exc:  # noqa: BLE001 - recorded; fp16 may be unsupported
        key = "unsupported" if dt == "fp16" and not isinstance(exc, TimeoutError) else "error"
        row = {key: error_text(exc), "traceback": traceback.format_exc()[-1500:]}
    return {"same_layer": row}


def captum_part(run: TorchRun, dt: str) -> dict[str, Any]:
    """captum.attr.Occlusion with the engine's window, stride and batch."""
    from captum.attr import Occlusion

    run.in_time(f"captum {dt}")
    batch = int(run.job["occlusion_batch"][dt])
    window, stride = int(run.job["window"]), int(run.job["stride"])
    model = run.build(dt)
    x = run.input(dt)
    images_per_s = run.bound(model, x, batch)
    counter = PassCounter(model)
    occ = Occlusion(model)
    times = []
    attr = None
    for _ in range(int(run.job["library_repeats"])):
        counter.reset()
        run.sync()
        start = time.perf_counter()
        with run.torch.no_grad():
            attr = occ.attribute(x, sliding_window_shapes=(3, window, window),
                                 strides=(3, stride, stride), baselines=0, target=run.target,
                                 perturbations_per_eval=batch)
        run.sync()
        times.append(time.perf_counter() - start)
    counter.handle.remove()
    heat = attr.detach().float().cpu().numpy()[0]  # type: ignore[union-attr]
    spread = float(np.abs(heat - heat[:1]).max())
    heat = heat[0]
    if not np.isfinite(heat).all():
        raise RuntimeError("the map holds non-finite values")
    run.maps[f"captum/{dt}"] = heat.astype(np.float32)
    passes = counter.images - 1
    return {"sliding_window_shapes": [3, window, window], "strides": [3, stride, stride],
            "perturbations_per_eval": batch, "forward_passes": passes,
            "calls": counter.calls, "runs_s": [rnd(t) for t in times],
            "best_s": rnd(min(times)), "channels_max_abs_spread": spread,
            "torch_bound_images_per_s": rnd(images_per_s, 1),
            "torch_bound_s": rnd(passes / images_per_s),
            "over_torch_bound": rnd(min(times) / (passes / images_per_s), 3)}


def torch_sections(job: dict[str, Any], arrays: dict[str, np.ndarray]
                   ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """torch_equivalence, pytorch_grad_cam and captum; returns their JSON and maps.

    ``arrays``: the state_dict (``w:`` prefix), ``x`` (the prepared fp32 input),
    ``onnx_logits`` and ``onnx_layer`` (the Score-CAM layer from onnxruntime).
    """
    os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's progress bars
    stubbed = install_stubs(bool(job["stubs"]))
    run = TorchRun(job, arrays)
    out: dict[str, Any] = {"_environment": {
        "python": platform.python_version(), "torch": run.torch.__version__,
        "device": str(run.device), "stubbed_modules": stubbed,
        "stub_note": "stand-ins for packages the libraries import at module level but never "
                     "call on these paths (plots, 3-D zoom, kernel PCA)" if stubbed else ""}}
    guarded(out, "torch_equivalence", lambda: equivalence(run))
    for section, part, module_name in (("pytorch_grad_cam", gradcam_part, "pytorch_grad_cam"),
                                       ("captum", captum_part, "captum")):
        result: dict[str, Any] = {"device": str(run.device)}
        try:
            lib = importlib.import_module(module_name)
            result["version"] = dist_version("grad-cam" if section == "pytorch_grad_cam"
                                             else "captum")
            result["module"] = getattr(lib, "__file__", "")
        except Exception as exc:  # noqa: BLE001 - reported in the JSON
            why = f"{module_name} not importable: {error_text(exc)}"
            out[section] = {"error": why} if job["libraries_required"] else {"skipped": why}
            continue
        for dt in DTYPES:
            try:
                result[dt] = part(run, dt)
            except Exception as exc:  # noqa: BLE001 - fp16 may be unsupported; fp32 must run
                key = "unsupported" if dt == "fp16" and not isinstance(exc, TimeoutError) \
                    else "error"
                result[dt] = {key: error_text(exc), "traceback": traceback.format_exc()[-1500:]}
        out[section] = result
    return out, run.maps
