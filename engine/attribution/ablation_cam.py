"""Ablation-CAM: w_k = (y - y_k) / y with channel k of the layer set to zero.

Only the part of the graph after the layer runs (:mod:`engine.graph.suffix`):
it is extracted once, checked to reproduce the model's output from the
layer's activations, and fed batches of ablated activations. By default the
ablated batch is built inside the graph (:func:`engine.attribution.fused_graphs.ablation_graph`:
channel indices in, Equal/Where against the activations, scores out), so
per batch only the channel indices go in; ``fused=False`` builds it in numpy.
For a QLinearConv layer "zero" is the layer's output zero point (real value 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from engine.attribution.activations import Activations
from engine.attribution.context import Context
from engine.attribution.fused_graphs import ACTS, CHANNELS, SCORE, ablation_graph
from engine.attribution.image_tensors import top_variance
from engine.attribution.method_spec import (
    Method,
    MethodOutput,
    PassQuery,
    channels_param,
    fused_param,
)
from engine.attribution.resample import resize_maps
from engine.attribution.runner import run_batches
from engine.attribution.targets import append_score_nodes
from engine.cancellation import CancelToken, ProgressCallback
from engine.errors import EngineError, RewriteError
from engine.graph.batching import batch_feeds, verify_batching
from engine.graph.constants import ConstantTable
from engine.graph.expose import expose_tensors
from engine.graph.nodes import NodeBuilder, elem_type_of
from engine.graph.suffix import Suffix, extract_suffix
from engine.session import Session

_NP_TO_ONNX = {np.dtype(k): v for k, v in ((np.float32, onnx.TensorProto.FLOAT),
                                          (np.float16, onnx.TensorProto.FLOAT16),
                                          (np.uint8, onnx.TensorProto.UINT8),
                                          (np.int8, onnx.TensorProto.INT8),
                                          (np.int64, onnx.TensorProto.INT64),
                                          (np.int32, onnx.TensorProto.INT32))}


def _zero_value(ctx: Context, acts: Activations) -> float:
    """The stored value meaning real 0 (the zero point of a QLinearConv output)."""
    if acts.raw.dtype.kind not in "iu" or acts.layer.op_type != "QLinearConv":
        return 0.0
    graph = ctx.model.proto.graph
    node = next((n for n in graph.node if n.output and n.output[0] == acts.layer.conv_output),
                None)
    if node is None or len(node.input) < 8:
        return 0.0
    zero = ConstantTable(graph).scalar(node.input[7])
    return 0.0 if zero is None else zero


def _suffix_inputs(ctx: Context, cut: str) -> tuple[Suffix, dict[str, np.ndarray]]:
    """Extract the suffix and read its side inputs from one run of the full model."""
    proto = ctx.plan.proto
    probe = extract_suffix(proto, cut, {})
    exposed, _ = expose_tensors(proto, [cut, *probe.side_inputs])
    key = f"{ctx.plan.key}:suffix-inputs:{cut}"
    session = ctx.derived.get(key, (), ctx.preference, "disabled", lambda: exposed)
    values = session.run(ctx.feeds, [cut, *probe.side_inputs], cancel=ctx.cancel)
    types = {n: _NP_TO_ONNX.get(np.asarray(v).dtype, onnx.TensorProto.FLOAT)
             for n, v in values.items()}
    return extract_suffix(proto, cut, types), values


def batch_free_shapes(suffix: Suffix, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Side inputs that are Reshape shapes starting with the batch (1) copy it instead (0).

    Shapes computed from the input before the cut (``Concat(Shape(x)[0], -1)``)
    hard-code batch 1 for the suffix; 0 makes Reshape copy the batch dim.
    The caller verifies the result against batch 1.
    """
    shape_inputs = {n.input[1] for n in suffix.model.graph.node
                    if n.op_type == "Reshape" and len(n.input) > 1}
    patched = dict(values)
    for name in suffix.side_inputs:
        value = np.asarray(values[name])
        if name in shape_inputs and value.ndim == 1 and value.size > 1 and value.dtype.kind == "i" \
                and int(value[0]) == 1:
            fixed = value.copy()
            fixed[0] = 0
            patched[name] = fixed
    return patched


def _suffix_session(ctx: Context, suffix: Suffix, values: dict[str, np.ndarray]
                    ) -> tuple[Session, list[str], str, dict[str, np.ndarray]]:
    key = f"{ctx.plan.key}:suffix:{suffix.cut}"
    session = ctx.derived.get(key, (), ctx.preference, "all", lambda: suffix.model)
    out = session.run(values, [ctx.target.output], cancel=ctx.cancel)[ctx.target.output]
    got = float(ctx.target.score(out)[0])
    if not abs(got - ctx.target_score) <= 1e-3 * max(1.0, abs(ctx.target_score)):
        raise RewriteError("The graph after the layer does not reproduce the model's score.",
                           f"{got} != {ctx.target_score}")
    tiled = [n for n, v in values.items() if np.ndim(v) >= 2 and np.shape(v)[0] == 1]
    if ctx.plan.mode == "single":
        return session, tiled, "single", values
    why = ""
    for candidate in (values, batch_free_shapes(suffix, values)):
        ok, _, why = verify_batching(lambda f: session.run(f, [ctx.target.output]), candidate,
                                     tiled)
        if ok:
            return session, tiled, ctx.plan.mode, candidate
    ctx.notes.append(f"the graph after the layer could not be batched ({why}); one pass "
                     "at a time")
    return session, tiled, "single", values


def _fused_session(ctx: Context, suffix: Suffix, raw: np.ndarray, zero: float) -> Session:
    """The session of the suffix with an in-graph ablation prefix (raises EngineError)."""
    elem = _NP_TO_ONNX.get(raw.dtype)
    if elem is None:
        raise RewriteError(f"activations of type {raw.dtype} cannot be ablated in the graph")
    output_type = elem_type_of(suffix.model, ctx.target.output)
    target = ctx.target

    def score_nodes(builder: NodeBuilder, output: str, kind: int) -> tuple[str, str | None]:
        return append_score_nodes(builder, output, kind, target)

    key = f"{ctx.plan.key}:ablation:{suffix.cut}:{target}:{zero}:{raw.dtype}"
    return ctx.derived.get(key, (), ctx.preference, "all", lambda: ablation_graph(
        suffix.model, suffix.cut, raw.shape[1], zero, elem, ctx.target.output, output_type,
        score_nodes))


def _fused_scores(ctx: Context, session: Session, values: dict[str, np.ndarray],
                  tiled: list[str], raw: np.ndarray, active: np.ndarray, batch_size: int
                  ) -> tuple[dict[str, np.ndarray], int, tuple[str, ...]]:
    """Score every ablation with the fused session: only channel indices per batch."""
    constants = {n: v for n, v in values.items() if n not in tiled and n in session.input_names}
    constants[ACTS] = raw
    resident = session.device_values(constants) if ctx.keep_on_device() else None
    side = {n: v for n, v in values.items() if n in tiled and n in session.input_names}

    def one(idx: np.ndarray) -> dict[str, np.ndarray]:
        feeds = batch_feeds(side, tiled, len(idx))
        if resident is None:
            feeds.update(constants)
        feeds[CHANNELS] = active[idx].astype(np.int64)
        out = session.run(feeds, [SCORE], cancel=ctx.cancel, resident=resident)
        return {"score": np.asarray(out[SCORE], np.float64).reshape(-1)}

    return run_batches(len(active), batch_size, one, ctx.progress, ctx.cancel, "ablation-cam")


@dataclass(frozen=True)
class AblationCamParams:
    """Ablation-CAM's parameters."""

    channels: int = channels_param()
    fused: bool = fused_param()


def run(ctx: Context, params: AblationCamParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """Ablation-CAM of the context's layer; the suffix's batch mode is in ``batch_mode``."""
    del progress, cancel  # the context's batch loops report and check them
    output, mode = ablation_cam(ctx, ctx.layer_activations(), params.channels or None,
                                params.fused)
    output.batch_mode = mode
    return output


def estimate_passes(query: PassQuery, params: AblationCamParams) -> int:
    """One pass of the graph after the layer per kept channel that is not all zero."""
    if query.activations is None:
        total = query.layer.channels if query.layer is not None and query.layer.channels else 0
        return min(params.channels, total) if params.channels and total else total
    return len(_ablated_channels(query.activations.maps, params.channels or None))


def _ablated_channels(maps: np.ndarray, channels: int | None) -> np.ndarray:
    """The kept channels (largest spatial variance) that are not all zero."""
    kept = top_variance(maps, channels)
    nonzero: np.ndarray = kept[np.abs(maps[kept]).reshape(len(kept), -1).max(axis=1) > 0]
    return nonzero


def ablation_cam(ctx: Context, acts: Activations, channels: int | None = None,
                 fused: bool = True) -> tuple[MethodOutput, str]:
    """Ablate each channel of the layer and weight it by the relative score drop.

    Parameters
    ----------
    ctx
        Prepared model, input and target.
    acts
        The layer's activations.
    channels
        Ablate only this many channels, those with the largest spatial variance.
    fused
        Build the ablated activations inside the graph (else in numpy).

    Returns
    -------
    (MethodOutput, str)
        The result and the batch mode that ran for the suffix.
    """
    cut = acts.layer.tensor
    suffix, values = _suffix_inputs(ctx, cut)
    try:
        session, tiled, mode, values = _suffix_session(ctx, suffix, values)
    except EngineError as exc:
        raise RewriteError("Ablation-CAM could not isolate the graph after this layer.",
                           exc.one_line()) from exc
    raw = np.asarray(values[cut])
    zero = _zero_value(ctx, acts)
    kept = top_variance(acts.maps, channels)
    active = _ablated_channels(acts.maps, channels)
    y = ctx.target_score
    batch_size = 1 if mode == "single" else ctx.batch_size
    in_graph = False
    fused_session = None
    if fused and len(active):
        try:
            fused_session = _fused_session(ctx, suffix, raw, zero)
        except EngineError as exc:
            ctx.notes.append(f"ablated activations built in numpy: {exc.one_line()}")

    def one(idx: np.ndarray) -> dict[str, np.ndarray]:
        feeds = batch_feeds(values, tiled, len(idx))
        batch = np.repeat(raw, len(idx), axis=0)
        batch[np.arange(len(idx)), active[idx]] = zero
        feeds[cut] = batch
        out = session.run(feeds, [ctx.target.output], cancel=ctx.cancel)[ctx.target.output]
        return {"score": ctx.target.score(out)}

    if fused_session is not None:
        result, size, notes = _fused_scores(ctx, fused_session, values, tiled, raw, active,
                                            batch_size)
        in_graph = True
    else:
        result, size, notes = run_batches(len(active), batch_size, one, ctx.progress,
                                          ctx.cancel, "ablation-cam")
    ctx.notes.extend(notes)
    weights = np.zeros(acts.maps.shape[0])
    denom = y if abs(y) > 1e-12 else 1e-12
    if len(active):
        weights[active] = (y - result["score"]) / denom
    cam = np.maximum(np.tensordot(weights, acts.maps, axes=1), 0.0)
    heatmap = resize_maps(cam, (ctx.geometry.height, ctx.geometry.width))
    notes_out = [f"ran {suffix.node_count} of {suffix.total_nodes} nodes (the graph after "
                 "the layer)", "ablated activations built " + (
                     "inside the graph (only channel indices sent per batch)" if in_graph
                     else "in numpy")]
    if len(active) < len(kept):
        notes_out.append(f"skipped {len(kept) - len(active)} all-zero channels (ablating "
                         "them changes nothing)")
    output = MethodOutput(heatmap=heatmap.astype(np.float32), forward_passes=len(active),
                          batch_size=size if len(active) else batch_size, path="suffix",
                          notes=notes_out,
                          stats={"suffix_nodes": float(suffix.node_count),
                                 "model_nodes": float(suffix.total_nodes),
                                 "channels_used": float(len(kept)),
                                 "ablation_in_graph": float(in_graph)})
    return output, mode


METHOD = Method(
    name="ablation-cam", title="Ablation-CAM",
    description="Zeroes each channel of a layer and weights it by the relative score drop; one "
    "pass of the graph after the layer per channel.",
    params_type=AblationCamParams, run=run, estimate_passes=estimate_passes, needs_layer=True,
    estimate_is_exact=False)
