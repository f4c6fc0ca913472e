"""Compare two versions of a model layer by layer: accumulated and local error.

For every matched layer pair, B run end to end is compared with A (the error
a layer *accumulates*), and B's layer computed from A's activations at its
inputs is compared with A (the error it *introduces*, see
:mod:`engine.compare.local`). The first layer whose local error exceeds the
tolerance is the first divergence. Layers are streamed within the memory
budget (:mod:`engine.compare.plan`), inputs one at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import onnx

from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.compare.cka import MAX_EXAMPLES, grid_side
from engine.compare.codec import CodecTable
from engine.compare.collect import collect_cka
from engine.compare.inputs import CompareInputs
from engine.compare.local import CutGraph, LocalModel
from engine.compare.matching import LayerPair, compatible, match_layers, topological_layers
from engine.compare.metrics import ErrorSums, OutputSums
from engine.compare.passes import ExposedRunner, RunContext, Values
from engine.compare.plan import layer_bytes, plan_windows
from engine.compare.types import ComparisonResult, PairResult
from engine.errors import Cancelled, EngineError, InputError
from engine.featuremaps import model_layers
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import SessionCache
from engine.types import RunInfo

#: Default tolerance on the local relative L2 error of two float models.
FLOAT_TOLERANCE = 1e-3
#: For a quantised B: a layer diverges when its local error exceeds this many medians.
QUANTIZED_FACTOR = 10.0
QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                       "QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger"})
#: Sessions kept at once: the plain and exposed models, their lower-level fallbacks, local.
CACHE_SESSIONS = 6


@dataclass(frozen=True)
class CompareOptions:
    """How to compare.

    Attributes
    ----------
    tolerance
        Local relative L2 error above which a layer diverges (default:
        :data:`FLOAT_TOLERANCE` for float B, ``10 x`` the median local error
        for a quantised B).
    methods
        Matching methods allowed, in order: ``name``, ``position``, ``cka``.
    cka_threshold
        Least CKA for a CKA match.
    budget_bytes
        Memory allowed (default: the configured share of available memory).
    """

    tolerance: float | None = None
    methods: tuple[str, ...] = ("name", "position", "cka")
    cka_threshold: float = 0.5
    budget_bytes: int | None = None


@dataclass
class _PairState:
    pair: LayerPair
    sums: ErrorSums = field(default_factory=ErrorSums)
    local: ErrorSums = field(default_factory=ErrorSums)
    shape: tuple[int, ...] | None = None
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def is_quantized(model: onnx.ModelProto) -> bool:
    """Whether the model computes with quantised tensors (QDQ, QOperator, dynamic int8)."""
    return any(node.op_type in QUANT_OPS for node in model.graph.node)


def _elem_type(value: np.ndarray) -> int:
    return int(onnx.helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype))


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


class _Windows:
    """The compare pass: windows of pairs over every input (see :func:`compare_models`)."""

    def __init__(self, context: RunContext, cut_pairs: dict[str, LayerPair]) -> None:
        self.context = context
        self.cut_pairs = cut_pairs
        self.cut_graph = CutGraph(context.b.proto, set(cut_pairs))
        self.codecs_a, self.codecs_b = CodecTable(context.a.proto), CodecTable(context.b.proto)
        self.outputs = OutputSums()
        self.run_a: RunInfo | None = None
        self.run_b: RunInfo | None = None

    def window(self, states: list[_PairState], first: bool, label: str) -> None:
        """Compare one window of pairs over every input."""
        context = self.context
        to_pair = {s.pair.b.tensor: s for s in states}
        local_ok = [s for s in states if s.pair.b.tensor in self.cut_graph.cuts]
        cuts: set[str] = set()
        for state in local_ok:
            cuts |= self.cut_graph.walk(state.pair.b.tensor)[1]
        by_cut = {cut: self.cut_pairs[cut].a.tensor for cut in cuts}
        tensors_a = _unique([s.pair.a.tensor for s in states] + [by_cut[c] for c in sorted(cuts)])
        tensors_b = _unique([s.pair.b.tensor for s in states] + sorted(cuts))
        runner_a = ExposedRunner(context.a, tensors_a, "A", context.preference, context.cache,
                                 context.notes) if states else None
        runner_b = ExposedRunner(context.b, tensors_b, "B", context.preference, context.cache,
                                 context.notes) if states else None
        local: LocalModel | None = None
        count = len(context.inputs)
        for index in range(count):
            context.tick(f"{label}: input {index + 1} of {count}")
            feeds_a, feeds_b, reference_a, reference_b = context.references(index)
            if first:
                self.outputs.add(reference_a, reference_b)
            if runner_a is None or runner_b is None:
                continue
            values_a = runner_a.run(feeds_a, reference_a, context.cancel)
            self.run_a = runner_a.info
            context.used(runner_a)
            values_b = runner_b.run(feeds_b, reference_b, context.cancel)
            self.run_b = runner_b.info
            context.used(runner_b)
            self._accumulate(states, values_a, values_b)
            if index == 0 and local_ok:
                local = self._local_model(local_ok, by_cut, values_a, values_b)
            del values_b
            if local is not None:
                level = self.run_b.optimization_level if self.run_b else "all"
                self._run_local(local, to_pair, by_cut, values_a, feeds_b, level)
                if context.release_each:
                    context.cache.clear()
            del values_a
        context.release()

    def _accumulate(self, states: list[_PairState], values_a: Values, values_b: Values) -> None:
        for state in states:
            pair = state.pair
            real_a = self.codecs_a.codec(pair.a.tensor).decode(values_a[pair.a.tensor])
            real_b = self.codecs_b.codec(pair.b.tensor).decode(values_b[pair.b.tensor])
            if state.shape is None:
                state.shape = tuple(int(d) for d in real_a.shape)
            if real_a.shape != real_b.shape:
                state.note(f"A's map is {list(real_a.shape)} but B's is {list(real_b.shape)}")
                continue
            state.sums.add(real_a, real_b)

    def _local_model(self, states: list[_PairState], by_cut: dict[str, str], values_a: Values,
                     values_b: Values) -> LocalModel | None:
        """The window's local model, for the pairs whose cuts can be fed with A's values."""
        usable: list[_PairState] = []
        types: dict[str, int] = {}
        for state in states:
            tensor = state.pair.b.tensor
            bad = ""
            for cut in sorted(self.cut_graph.walk(tensor)[1]):
                a_value, b_value = values_a[by_cut[cut]], values_b[cut]
                if a_value.shape != b_value.shape:
                    bad = f"A's value of its input '{cut}' has another shape"
                elif b_value.dtype.kind in "iu" and self.codecs_b.codec(cut).scale is None:
                    bad = f"B's integer input '{cut}' has no known scale"
                types[cut] = _elem_type(b_value)
            if bad:
                state.note(f"no local error: {bad}")
                continue
            types[tensor] = _elem_type(values_b[tensor])
            between = self.cut_graph.convs_between(tensor)
            if between:
                state.note(f"its local error also covers {between} unmatched conv layer"
                           f"{'s' if between != 1 else ''} of B before it")
            usable.append(state)
        if not usable:
            return None
        try:
            return self.cut_graph.build([s.pair.b.tensor for s in usable], types)
        except EngineError as exc:
            for state in usable:
                state.note(f"no local error: {exc.message}")
            return None

    def _run_local(self, local: LocalModel, to_pair: dict[str, _PairState],
                   by_cut: dict[str, str], values_a: Values, feeds_b: Values, level: str) -> None:
        context = self.context
        feeds: Values = {name: feeds_b[name] for name in local.graph_inputs}
        for cut, elem_type in local.cut_types:
            a_real = self.codecs_a.codec(by_cut[cut]).decode(values_a[by_cut[cut]])
            encoded = self.codecs_b.codec(cut).encode(
                a_real, onnx.helper.tensor_dtype_to_np_dtype(elem_type))
            if encoded is None:  # pragma: no cover - excluded when the model was built
                return
            feeds[cut] = encoded
        key = f"{context.b.sha256}:local:{','.join(t for t, _ in local.outputs)}"
        try:
            session = context.cache.get(key, (), context.preference, level,  # type: ignore[arg-type]
                                        lambda: local.model)
            values = session.run(feeds, cancel=context.cancel)
        except Cancelled:
            raise
        except EngineError as exc:
            context.note(f"the local errors could not be computed ({exc.message})")
            return
        for tensor, renamed in local.outputs:
            state = to_pair[tensor]
            real_a = self.codecs_a.codec(state.pair.a.tensor).decode(
                values_a[state.pair.a.tensor])
            real_b = self.codecs_b.codec(tensor).decode(values[renamed])
            if real_a.shape == real_b.shape:
                state.local.add(real_a, real_b, per_channel=False)


def _pair_result(index: int, state: _PairState) -> PairResult:
    pair, sums, local = state.pair, state.sums, state.local
    measured = sums.count > 0
    return PairResult(
        index=index, a=pair.a.name, b=pair.b.name, a_tensor=pair.a.tensor,
        b_tensor=pair.b.tensor, match=pair.match, shape=state.shape,
        max_abs=sums.max_abs if measured else None, rel_l2=sums.rel_l2 if measured else None,
        cosine=sums.cosine if measured else None, snr_db=sums.snr_db if measured else None,
        local_rel_l2=local.rel_l2 if local.count else None,
        local_max_abs=local.max_abs if local.count else None,
        per_channel_rel_l2=sums.per_channel() if measured else np.zeros(0),
        cka=pair.cka, note="; ".join(state.notes))


def first_divergence(pairs: list[PairResult], tolerance: float | None, quantized: bool
                     ) -> tuple[int | None, float, str]:
    """The first pair whose local error exceeds the threshold, the threshold and its rule."""
    local = [p.local_rel_l2 for p in pairs if p.local_rel_l2 is not None]
    if tolerance is not None:
        threshold, rule = float(tolerance), "the given tolerance"
    elif quantized:
        median = float(np.median(local)) if local else 0.0
        threshold = QUANTIZED_FACTOR * median
        rule = f"{QUANTIZED_FACTOR:g}x the median local error of a quantised B"
    else:
        threshold, rule = FLOAT_TOLERANCE, "the default tolerance of two float models"
    for i, pair in enumerate(pairs):
        if pair.local_rel_l2 is not None and pair.local_rel_l2 > threshold:
            return i, threshold, rule
    return None, threshold, rule


def compare_models(model_a: LoadedModel, model_b: LoadedModel, inputs: CompareInputs,
                   options: CompareOptions | None = None, preference: ProviderPreference = "auto",
                   progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                   cache: SessionCache | None = None) -> ComparisonResult:
    """Compare B with the reference A layer by layer on ``inputs``.

    Parameters
    ----------
    model_a, model_b
        The reference and the candidate (fp16, int8, another version).
    inputs
        From :func:`engine.compare.inputs.inputs_from_paths` or ``inputs_from_prepared``.
    options
        Tolerance, matching methods and memory budget.
    preference
        Execution provider preference.
    progress, cancel
        Progress callback and cancel token.
    cache
        Session cache (default: a private one, emptied after each window).

    Returns
    -------
    ComparisonResult

    Raises
    ------
    EngineError
        Typed errors for every failure; :class:`engine.errors.Cancelled` when cancelled.
    """
    options = options or CompareOptions()
    token = ensure_token(cancel)
    started = time.perf_counter()
    if not len(inputs):
        raise InputError("No input files were given to compare the models on.")
    layers_a = topological_layers(model_a.proto, model_layers(model_a))
    layers_b = topological_layers(model_b.proto, model_layers(model_b))
    for label, layers in (("A", layers_a), ("B", layers_b)):
        if not layers:
            raise InputError(f"Model {label} has no convolution layer that can be exposed.")
    pairs, rest_a, rest_b = match_layers(layers_a, layers_b, options.methods)
    context = RunContext(model_a, model_b, inputs, preference,
                         cache or SessionCache(CACHE_SESSIONS), token, progress,
                         options.budget_bytes)
    feeds_a, feeds_b = inputs.feeds(0)
    timings = [("matching", time.perf_counter() - started)]
    cka = None
    if rest_a and rest_b and "cka" in options.methods:
        t0 = time.perf_counter()
        count = min(len(inputs), MAX_EXAMPLES)
        context.steps = 2 * count
        cka, cka_pairs = collect_cka(context, rest_a, rest_b, count, grid_side(count),
                                     options.cka_threshold)
        order = {layer.name: i for i, layer in enumerate(layers_a)}
        pairs = sorted(pairs + cka_pairs, key=lambda p: order[p.a.name])
        timings.append(("cka", time.perf_counter() - t0))
    if not pairs:
        raise InputError("No convolution layer of model B could be matched with one of model A.")
    states = [_PairState(pair) for pair in pairs]
    measured = [s for s in states if s.pair.match != "cka"]
    for state in states:
        if state.pair.match == "cka":
            state.note("matched by CKA: the layers differ, so only their CKA is given")
    bytes_a = layer_bytes(model_a.proto, [s.pair.a for s in measured], feeds_a)
    bytes_b = layer_bytes(model_b.proto, [s.pair.b for s in measured], feeds_b)
    strategy = plan_windows([x + y for x, y in zip(bytes_a, bytes_b, strict=True)],
                            len(inputs), options.budget_bytes)
    context.release_each = not strategy.keep_sessions
    windows = _Windows(context, {s.pair.b.tensor: s.pair for s in measured
                                 if compatible(s.pair.a, s.pair.b)})
    sizes = strategy.windows if measured else (0,)
    context.steps = context.step + len(sizes) * len(inputs)
    t0 = time.perf_counter()
    start = 0
    for number, size in enumerate(sizes):
        label = f"window {number + 1} of {len(sizes)}"
        windows.window(measured[start:start + size], number == 0, label)
        start += size
    timings.append(("compare", time.perf_counter() - t0))
    results = [_pair_result(i, state) for i, state in enumerate(states)]
    quantized = is_quantized(model_b.proto)
    first, threshold, rule = first_divergence(results, options.tolerance, quantized)
    matched_a = {p.a.name for p in pairs}
    matched_b = {p.b.name for p in pairs}
    notes = context.notes
    if not any(r.local_rel_l2 is not None for r in results):
        notes.append("no pair has a local error (B's layers cannot take A's activations), "
                     "so no first divergence can be named")
    timings.append(("total", time.perf_counter() - started))
    return ComparisonResult(
        model_a_sha256=model_a.sha256, model_b_sha256=model_b.sha256, sources=inputs.sources,
        pairs=tuple(results), first_divergence=first, tolerance=threshold, tolerance_rule=rule,
        b_quantized=quantized, outputs=windows.outputs.result(), strategy=strategy,
        unmatched_a=tuple(layer.name for layer in layers_a if layer.name not in matched_a),
        unmatched_b=tuple(layer.name for layer in layers_b if layer.name not in matched_b),
        cka=cka, run_a=windows.run_a, run_b=windows.run_b, timings=tuple(timings),
        notes=tuple(notes))
