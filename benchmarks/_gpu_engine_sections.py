"""gpu_suite's sections that need only the engine: maps, network, score_cam, occlusion.

The Score-CAM layer is layer4's block output of the ResNet-50 (the Relu after the last
residual Add, ``resnet.BLOCK_OUTPUT_TENSOR``; torchvision ``layer4[-1]``), passed to the
engine by tensor name: the engine takes any 4-D tensor as a CAM layer.
"""

from __future__ import annotations

import functools
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _resnet50_onnx as resnet
from benchmarks._gpu_common import (
    CHELSEA,
    DEMO,
    DTYPES,
    GOALS,
    ONNX_DTYPE,
    TORCH_CAM_MODULE,
    Config,
    constant_channels,
    guarded,
    median_seconds,
    pearson,
    rnd,
)

CAM_TENSOR = resnet.BLOCK_OUTPUT_TENSOR
CAM_NOTE = (
    "the engine takes any 4-D tensor as the CAM layer; Score-CAM explains layer4's block "
    "output (the Relu after the last residual Add, torchvision model.layer4[-1]), the layer "
    "pytorch-grad-cam users pass as target_layers=[model.layer4[-1]], and pytorch-grad-cam "
    "runs on that same module. Earlier versions used layer4's last conv (layer4[-1].bn3), "
    "the deepest layer the engine then offered; that comparison is no longer run.")


def engine_api() -> types.SimpleNamespace:
    """The engine's attribution entry points, wherever the registry refactor put them."""
    try:
        from engine.attribution import AttributionRequest, Target, run_attribution
    except ImportError:
        from engine.attribution.registry import run_attribution
        from engine.attribution.types import AttributionRequest, Target
    return types.SimpleNamespace(run_attribution=run_attribution,
                                 AttributionRequest=AttributionRequest, Target=Target)


def onnx_bound(proto: Any, item: np.ndarray, batch: int, provider: str, repeats: int
               ) -> dict[str, Any]:
    """Images per second of the plain ONNX network at ``batch`` on the engine's session.

    ``images_per_s``: the batch is already on the device (IO binding, the bound the fused
    attribution graphs can reach); ``host_feed_images_per_s``: fed from host memory each
    run (as bench_attribution.py measures it). Best of ``repeats`` after two warm-ups.
    """
    import onnxruntime as ort

    from engine.session import create_session

    session = create_session(proto, provider)  # type: ignore[arg-type]
    raw = session.session
    used = session.info.provider
    name = raw.get_inputs()[0].name
    out = raw.get_outputs()[0].name
    x = np.ascontiguousarray(np.repeat(item, batch, axis=0))
    device = "cuda" if used == "CUDAExecutionProvider" else "cpu"
    binding = raw.io_binding()
    binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(x, device, 0))
    binding.bind_output(out, device)

    def resident() -> None:
        raw.run_with_iobinding(binding)
        binding.copy_outputs_to_cpu()  # waits for the device

    def host() -> None:
        raw.run([out], {name: x})

    best: dict[str, float] = {}
    for label, fn in (("resident", resident), ("host", host)):
        fn()
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        best[label] = min(times)
    return {"batch": batch, "provider": used, "images_per_s": batch / best["resident"],
            "host_feed_images_per_s": batch / best["host"], "repeats": repeats}


def section_maps(cfg: Config) -> dict[str, Any]:
    """extract_feature_maps on the demo model; exposed vs plain forward (bench_maps.py)."""
    from engine.featuremaps import extract_feature_maps, model_layers
    from engine.input_spec import spec_from_model
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.session import create_session

    model = load_model(DEMO)
    prepared = prepare_input(model.info, CHELSEA, spec_from_model(model.info))
    start = time.perf_counter()
    result = extract_feature_maps(model, prepared, None, cfg.provider)  # type: ignore[arg-type]
    first_s = time.perf_counter() - start
    tensors: list[str] = []
    for layer in model_layers(model):
        if layer.exposable:
            tensors.append(layer.tensor)
            if layer.raw_tensor:
                tensors.append(layer.raw_tensor)
    try:
        from engine.featuremaps import exposed_model

        exposed_proto = exposed_model(model, tensors)
    except ImportError:
        from engine.graph.expose import expose_tensors

        exposed_proto = expose_tensors(model.proto, tensors)[0]
    feeds = prepared.feed_dict()
    plain = create_session(model.proto, cfg.provider)  # type: ignore[arg-type]
    exposed = create_session(exposed_proto, cfg.provider)  # type: ignore[arg-type]
    t_plain = median_seconds(lambda: plain.run(feeds, plain.output_names[:1]), cfg.maps_repeats)
    t_exposed = median_seconds(lambda: exposed.run(feeds), cfg.maps_repeats)
    t_extract = median_seconds(
        lambda: extract_feature_maps(model, prepared, None, cfg.provider),  # type: ignore[arg-type]
        max(3, cfg.maps_repeats // 4))
    return {
        "model": DEMO.name, "image": CHELSEA.name, "requested_provider": cfg.provider,
        "provider": result.run.provider, "device": result.run.device_name,
        "fallback_reason": result.run.fallback_reason, "layers": len(result.layers),
        "exposed_tensors": len(tensors), "output_check_passed": bool(result.check.passed),
        "first_extract_s": rnd(first_s), "plain_forward_median_s": rnd(t_plain, 6),
        "exposed_forward_median_s": rnd(t_exposed, 6),
        "extract_feature_maps_median_s": rnd(t_extract, 6),
        "ratio_exposed_vs_plain": rnd(t_exposed / t_plain, 3),
        "ratio_extract_vs_plain": rnd(t_extract / t_plain, 3),
        "sessions_provider": [plain.info.provider, exposed.info.provider],
        "repeats": cfg.maps_repeats,
    }


def layer_and_logits(model: Any, prepared: Any, tensor: str, provider: str
                     ) -> tuple[Any, np.ndarray, np.ndarray, str]:
    """The engine's CAM layer for ``tensor``, its (K, h, w) activations and the logits.

    ``find_layer`` is the lookup ``AttributionRequest(layer=...)`` goes through; one run
    of the model with that tensor exposed gives the activations and the logits.
    """
    from engine.attribution.activations import find_layer
    from engine.featuremaps import exposed_model
    from engine.session import create_session

    feeds = prepared.feed_dict()
    layer = find_layer(model, tensor, {k: tuple(v.shape) for k, v in feeds.items()})
    session = create_session(exposed_model(model, [layer.tensor]), provider)  # type: ignore[arg-type]
    values = session.run(feeds)
    acts = np.asarray(values[layer.tensor], np.float32)[0]
    return layer, acts, np.asarray(values[resnet.OUTPUT_NAME], np.float64), session.info.provider


def section_network(cfg: Config, state: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Build the ResNet-50 (fp32, fp16), load it in the engine, pick the layer and target.

    The fp32 network is required by every later section; an fp16 failure is recorded under
    ``fp16`` and only the fp16 parts of later sections fail.
    """
    import onnx

    from engine.featuremaps import model_layers
    from engine.input_spec import spec_from_model
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    start = time.perf_counter()
    weights = resnet.make_weights(cfg.seed)
    weights_s = time.perf_counter() - start
    out: dict[str, Any] = {
        "architecture": "torchvision resnet50 topology (bottlenecks [3, 4, 6, 3], stride on "
                        "the 3x3 conv), BN folded into the convs",
        "seed": cfg.seed, "parameters": weights.parameter_count(), "input_size": cfg.size,
        "weights_s": rnd(weights_s, 3), "opset": resnet.OPSET, "ir_version": resnet.IR_VERSION,
        "fp16_conversion": "numpy: BN folded in float64, every initializer cast to float16, "
                           "float16 input and output (no onnx float16 helper used)",
    }
    models: dict[str, Any] = {}
    prepared: dict[str, Any] = {}
    logits: dict[str, np.ndarray] = {}
    acts: dict[str, np.ndarray] = {}
    layers: dict[str, Any] = {}

    def load(dt: str) -> dict[str, Any]:
        proto = resnet.build_onnx(weights, cfg.size, cfg.size, ONNX_DTYPE[dt])
        path = workdir / f"resnet50_random_{dt}.onnx"
        onnx.save(proto, str(path))
        model = load_model(path)
        prep = prepare_input(model.info, CHELSEA, spec_from_model(model.info))
        layers[dt], acts[dt], logits[dt], provider = layer_and_logits(
            model, prep, CAM_TENSOR, cfg.provider)
        models[dt], prepared[dt] = model, prep
        return {"file_mb": round(path.stat().st_size / 1e6, 1),
                "input_dtype": str(prep.feed_dict()[resnet.INPUT_NAME].dtype),
                "provider": provider}

    out["fp32"] = load("fp32")  # required: an exception here fails the section
    catalogue = model_layers(models["fp32"])
    cam = layers["fp32"]
    out["engine_layers"] = len(catalogue)
    out["last_engine_layers"] = [la.name for la in catalogue[-3:]]
    out["cam_layer"] = {
        "engine_layer": cam.name, "tensor": cam.tensor, "op_type": cam.op_type,
        "channels": int(acts["fp32"].shape[0]), "shape": list(acts["fp32"].shape),
        "constant_channels": constant_channels(acts["fp32"]),
        "requested_as": f'AttributionRequest(layer="{CAM_TENSOR}")',
        "torchvision_module": f"{TORCH_CAM_MODULE}, the block output (Relu after the Add)",
        "block_output_tensor": resnet.BLOCK_OUTPUT_TENSOR,
        "note": CAM_NOTE,
    }
    target = int(np.argmax(logits["fp32"][0]))
    order = np.argsort(-logits["fp32"][0])
    first, second = logits["fp32"][0][order[:2]]
    out.update(target_class=target, top5_fp32=[int(i) for i in order[:5]],
               top1_margin_fp32=rnd(float(first - second), 5),
               logits_std_fp32=rnd(float(logits["fp32"].std()), 4))
    guarded(out, "fp16", lambda: load("fp16"))
    if "fp16" in logits:
        out["fp16"].update(
            logits_max_abs_diff_vs_fp32=rnd(
                float(np.abs(logits["fp16"] - logits["fp32"]).max()), 6),
            top1=int(np.argmax(logits["fp16"][0])),
            cam_layer_max_abs_diff_vs_fp32=rnd(
                float(np.abs(acts["fp16"].astype(np.float32) - acts["fp32"]).max()), 5))
    state.update(weights=weights, models=models, prepared=prepared, target=target,
                 layer=cam.tensor, acts=acts, onnx_logits=logits["fp32"],
                 x32=prepared["fp32"].feed_dict()[resnet.INPUT_NAME],
                 protos={dt: m.proto for dt, m in models.items()})
    return out


def expected_provider(preference: str) -> str:
    """The provider a run with this preference must read back (auto: whatever ran)."""
    return {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(preference, "")


def goal_check(cfg: Config, method: str, dt: str, seconds: float, over_bound: float,
               provider: str) -> dict[str, Any]:
    """The GPU goals next to the figures; judged only in full mode on CUDA."""
    goal = GOALS[method]
    text = (f"<= {GOALS['over_bound_max']}x bound; "
            + (f"about {goal['fp32_about_s']} s" if dt == "fp32"
               else f"<= {goal['fp16_max_s']} s"))
    if cfg.quick or provider != "CUDAExecutionProvider":
        return {"goal": text, "judged": False,
                "why": "goals are for the full run on an H100-class GPU"}
    limit = (goal["fp32_about_s"] * (1 + GOALS["about_tolerance"]) if dt == "fp32"
             else goal["fp16_max_s"])
    return {"goal": text, "judged": True, "time_met": seconds <= limit,
            "bound_met": over_bound <= GOALS["over_bound_max"]}


def section_engine(cfg: Config, state: dict[str, Any], method: str) -> dict[str, Any]:
    """The engine's Score-CAM or occlusion, fp32 and fp16, against the network's bound."""
    api = engine_api()
    target = state["target"]
    if method == "score-cam":
        params: dict[str, object] = {"variant": cfg.scorecam_variant}
        if cfg.scorecam_channels:
            params["channels"] = cfg.scorecam_channels
        layer = state["layer"]
        request_target = api.Target(kind="class", index=target)
    else:
        params = {"window": (cfg.window, cfg.window), "stride": (cfg.stride, cfg.stride),
                  "baseline": "0"}
        layer = None
        request_target = api.Target(kind="class", index=target, score="logit")
    out: dict[str, Any] = {"method": method, "layer": layer, "target_class": target,
                           "params": {k: str(v) for k, v in params.items()},
                           "requested_provider": cfg.provider}
    if method == "occlusion":
        out["expected_passes"] = cfg.occlusion_passes
        out["expected_passes_formula"] = (f"((H-{cfg.window})//{cfg.stride}+1) * "
                                          f"((W-{cfg.window})//{cfg.stride}+1), H = W = {cfg.size}")
    maps: dict[str, np.ndarray] = {}
    batches: dict[str, int] = {}

    def one(dt: str) -> dict[str, Any]:
        if dt not in state["models"]:
            raise RuntimeError(f"no {dt} network (see the network section)")
        model, prepared = state["models"][dt], state["prepared"][dt]
        request = api.AttributionRequest(method=method, target=request_target, layer=layer,
                                         params=tuple(params.items()),
                                         batch_size=cfg.batch_size)
        start = time.perf_counter()
        cold = api.run_attribution(model, prepared, request, cfg.provider)
        cold_wall = time.perf_counter() - start
        runs, walls = [], []
        result = cold
        for _ in range(cfg.repeats):
            start = time.perf_counter()
            result = api.run_attribution(model, prepared, request, cfg.provider)
            walls.append(time.perf_counter() - start)
            runs.append(result.seconds)
        heat = np.asarray(result.heatmap, np.float32)
        if not np.isfinite(heat).all():
            raise RuntimeError("the heatmap holds non-finite values")
        maps[dt] = heat
        batches[dt] = int(result.batch_size)
        item = prepared.feed_dict()[resnet.INPUT_NAME]
        bound = onnx_bound(state["protos"][dt], item, int(result.batch_size), cfg.provider,
                           cfg.bound_repeats)
        best = min(runs)
        # The method's own perturbed inputs (older engines: forward_passes is just those).
        passes = int(getattr(result, "perturbation_passes", 0) or result.forward_passes)
        bound_s = passes / bound["images_per_s"]
        host_bound_s = passes / bound["host_feed_images_per_s"]
        row: dict[str, Any] = {
            "provider": result.provider, "path": result.path, "variant": result.variant,
            "layer": result.layer, "perturbation_passes": passes,
            "all_inputs_evaluated": int(result.forward_passes),
            "session_runs": int(getattr(result, "session_runs", 0)),
            "batch_size": int(result.batch_size), "batch_mode": result.batch_mode,
            "cold_s": rnd(cold.seconds), "cold_wall_s": rnd(cold_wall),
            "runs_s": [rnd(r) for r in runs], "wall_s": [rnd(w) for w in walls],
            "best_s": rnd(best), "heatmap_shape": list(heat.shape),
            "stats": {k: float(v) for k, v in result.stats},
            "notes": list(result.notes)[:6], "bound": {k: rnd(v, 1) if isinstance(v, float)
                                                       else v for k, v in bound.items()},
            "bound_s": rnd(bound_s), "over_bound": rnd(best / bound_s, 3),
            "host_feed_bound_s": rnd(host_bound_s),
            "over_host_feed_bound": rnd(best / host_bound_s, 3),
        }
        if method == "occlusion" and passes != cfg.occlusion_passes:
            row["error"] = (f"occlusion scored {passes} windows, the closed form gives "
                            f"{cfg.occlusion_passes}")
        expected = expected_provider(cfg.provider)
        if expected and result.provider != expected:
            row["error"] = (f"ran on {result.provider}, {cfg.provider} was requested")
        row["goal"] = goal_check(cfg, method, dt, best, best / bound_s, result.provider)
        return row

    for dt in DTYPES:
        guarded(out, dt, functools.partial(one, dt))
    if "fp32" in maps and "fp16" in maps:
        out["fp16_vs_fp32_pearson"] = rnd(pearson(maps["fp16"], maps["fp32"]), 6)
    state.setdefault("engine_maps", {})[method] = maps
    state.setdefault("engine_batches", {})[method] = batches
    return out
