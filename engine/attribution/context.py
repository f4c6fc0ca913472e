"""Everything a method needs about one model and one input, prepared once.

:func:`prepare_context` runs the model on the input, resolves the target,
decides the batch mode (dynamic, rewritten Reshape, or one pass at a time,
each verified against batch 1) and offers the two ways to score perturbed
inputs: the plain path (perturbed batches built in numpy, scores computed from
the outputs) and fused sessions (:mod:`engine.attribution.fused_graphs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from onnx import ModelProto

from engine.attribution.activations import Activations, layer_activations, reference_session
from engine.attribution.batch_size import CPU_BATCH, CUDA_BATCH, choose_batch_size
from engine.attribution.fused_graphs import ScoreBuilder, fusable
from engine.attribution.geometry import ImageGeometry, input_geometry, main_input
from engine.attribution.runner import run_batches
from engine.attribution.targets import ResolvedTarget, append_score_nodes, resolve_target
from engine.attribution.types import ScoreMode, Target
from engine.bounded_cache import BoundedCache
from engine.cancellation import CancelToken, ProgressCallback
from engine.errors import EngineError, InputError
from engine.graph.batching import batch_feeds, make_batch_dynamic, verify_batching
from engine.graph.nodes import NodeBuilder, elem_type_of
from engine.model_io import LoadedModel
from engine.preprocess import first_item
from engine.providers import CUDA, ProviderPreference
from engine.session import EXACT_FP32, Session, SessionCache
from engine.types import LayerInfo, PreparedInput

__all__ = ["CPU_BATCH", "CUDA_BATCH", "DERIVED_SESSIONS", "BatchPlan", "Context",
           "prepare_context"]


@dataclass(frozen=True)
class BatchPlan:
    """The model proto to batch, and how batching runs (``dynamic|rewritten|single``)."""

    proto: ModelProto
    mode: str
    key: str
    notes: tuple[str, ...]


#: Sessions of graphs derived for attribution (fused prefixes, suffixes, exposed side
#: inputs), kept apart from the model sessions so switching methods does not evict them.
DERIVED_SESSIONS = SessionCache(capacity=8)

#: Batch plans per (model, batched inputs, provider preference); a plan holds a
#: model proto (the rewritten one for fixed-batch models), so only a few are kept.
_PLANS: BoundedCache[tuple[str, str, str], BatchPlan] = BoundedCache(4)


@dataclass
class Context:
    """A model, its input, its resolved target and how to run perturbed batches.

    The reference run (the model once on the input, with the CAM layer exposed
    when there is one) has already happened; batching is planned and the batch
    size chosen only when a method first runs batches (:attr:`plan`,
    :attr:`session`, :attr:`batch_size`), so a one-pass method such as
    Eigen-CAM never pays for them.
    """

    model: LoadedModel
    prepared: PreparedInput
    preference: ProviderPreference
    cache: SessionCache
    progress: ProgressCallback
    cancel: CancelToken
    feeds: dict[str, np.ndarray]
    main_input: str
    geometry: ImageGeometry
    batch_inputs: list[str]
    outputs: dict[str, np.ndarray]
    output_names: tuple[str, ...]
    target: ResolvedTarget
    target_score: float
    reference_provider: str
    requested_batch_size: int | None = None
    activations: Activations | None = None
    notes: list[str] = field(default_factory=list)
    derived: SessionCache = DERIVED_SESSIONS
    exact_fp32: bool = False
    #: Keep constant inputs on the device across batches (None: only on CUDA).
    resident_constants: bool | None = None

    @cached_property
    def plan(self) -> BatchPlan:
        """How batches run (planned and verified against batch 1 on first use)."""
        plan = _plan(self.model, self.feeds, self.batch_inputs, self.preference, self.cache,
                     self.requested_batch_size == 1)
        self.notes.extend(plan.notes)
        return plan

    @cached_property
    def session(self) -> Session:
        """The session that runs perturbed batches (of :attr:`plan`'s model)."""
        plan = self.plan
        return self.cache.get(plan.key, (), self.preference, "all", lambda: plan.proto)

    @cached_property
    def batch_size(self) -> int:
        """Items per batch: the request's, or grown while the memory estimate allows."""
        plan = self.plan
        geo = self.geometry
        item_bytes = 4 * geo.channels * geo.height * geo.width
        size, note = choose_batch_size(plan.key, plan.proto, self.feeds, self.batch_inputs,
                                       item_bytes, self.session.info.provider,
                                       self.requested_batch_size, plan.mode == "single")
        self.notes.append(note)
        return size

    def layer_activations(self) -> Activations:
        """The CAM layer's activations from the reference run.

        Raises
        ------
        InputError
            The method needs a layer and none was prepared.
        """
        if self.activations is None:
            raise InputError("This method needs a layer, and none was chosen.")
        return self.activations

    def batch_mode(self) -> str:
        """``dynamic``, ``rewritten`` or ``single`` once batches ran, else ``none``."""
        return self.plan.mode if "plan" in self.__dict__ else "none"

    @property
    def provider(self) -> str:
        """The execution provider that really runs the model."""
        if "session" in self.__dict__:
            return self.session.info.provider
        return self.reference_provider

    def image(self) -> np.ndarray:
        """The main input (batch 1) as float32."""
        return self.feeds[self.main_input].astype(np.float32)

    def to_input_dtype(self, batch: np.ndarray) -> np.ndarray:
        """Convert a float perturbed batch to the main input's dtype."""
        dtype = self.feeds[self.main_input].dtype
        if dtype == np.uint8:
            return np.clip(np.round(batch), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(batch.astype(dtype, copy=False))

    def retarget(self, target: Target, mode: ScoreMode) -> None:
        """Resolve ``target`` again with another default score mode."""
        self.target = resolve_target(target, self.outputs, self.output_names, mode)
        self.target_score = float(self.target.score(self.outputs[self.target.output])[0])

    def run_plain(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the (batch-planned) model on a perturbed main-input batch."""
        feeds = batch_feeds(self.feeds, [n for n in self.batch_inputs if n != self.main_input],
                            len(batch))
        feeds[self.main_input] = self.to_input_dtype(batch)
        return self.session.run(feeds, [self.target.output], cancel=self.cancel)

    def plain_scores(self, total: int, make_batch: Callable[[np.ndarray], np.ndarray],
                     classes: bool = False, message: str = "forward passes"
                     ) -> tuple[np.ndarray, np.ndarray | None, int]:
        """Scores of ``total`` perturbed inputs built by ``make_batch(indices)`` in numpy.

        Returns
        -------
        (ndarray, ndarray or None, int)
            Scores [total], class scores [total, classes] if asked, final batch size.
        """
        def one(indices: np.ndarray) -> dict[str, np.ndarray]:
            value = self.run_plain(make_batch(indices))[self.target.output]
            out = {"score": self.target.score(value)}
            if classes:
                out["classes"] = self.target.class_scores(value)
            return out

        size = balanced_batch(total, self.batch_size)
        result, size, notes = run_batches(total, size, one, self.progress, self.cancel, message)
        self.notes.extend(notes)
        return result["score"], result.get("classes"), size

    def can_fuse(self) -> bool:
        """Whether fused graphs can be built for this model (else a note says why)."""
        reason = fusable(self.plan.proto)
        if reason:
            note = f"perturbations built in numpy: {reason}"
            if note not in self.notes:
                self.notes.append(note)
        return not reason

    def fused_session(self, kind: str,
                      build: Callable[[ModelProto, int, ScoreBuilder], ModelProto]) -> Session:
        """Create (or reuse) the session of a fused graph built on the planned model."""
        output_type = elem_type_of(self.plan.proto, self.target.output)
        target = self.target

        def score_nodes(builder: NodeBuilder, output: str, elem: int
                        ) -> tuple[str, str | None]:
            return append_score_nodes(builder, output, elem, target, all_classes="rise" in kind)

        key = f"{self.plan.key}:fused:{kind}:{target}:{output_type}"
        return self.derived.get(key, (), self.preference, "all",
                                lambda: build(self.plan.proto, output_type, score_nodes))

    def keep_on_device(self) -> bool:
        """Whether constant inputs are copied to the device once (on CUDA by default)."""
        if self.resident_constants is not None:
            return self.resident_constants
        return self.provider == CUDA

    def fused_scores(self, session: Session, total: int,
                     make_feeds: Callable[[np.ndarray], dict[str, np.ndarray]],
                     classes: bool = False, message: str = "forward passes",
                     constants: dict[str, np.ndarray] | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None, int]:
        """Scores from a fused session fed ``make_feeds(indices)`` per batch.

        ``constants`` are inputs that are the same for every batch (the image,
        the baseline); with :meth:`keep_on_device` they and the model's other
        untiled inputs are copied to the device once and bound by IO binding,
        so each batch sends only its small description.
        """
        extra = {n: v for n, v in self.feeds.items() if n != self.main_input}
        tiled = [n for n in self.batch_inputs if n != self.main_input]
        fixed = {**{n: v for n, v in extra.items() if n not in tiled}, **(constants or {})}
        fetch = ["fs_score", "fs_classes"] if classes else ["fs_score"]
        resident = session.device_values(fixed) if fixed and self.keep_on_device() else None
        per_batch = {n: v for n, v in extra.items() if n in tiled}
        if resident is None:
            per_batch.update(fixed)

        def one(indices: np.ndarray) -> dict[str, np.ndarray]:
            feeds = batch_feeds(per_batch, tiled, len(indices))
            feeds.update(make_feeds(indices))
            out = session.run(feeds, fetch, cancel=self.cancel, resident=resident)
            result = {"score": np.asarray(out["fs_score"], np.float64).reshape(-1)}
            if classes:
                result["classes"] = np.asarray(out["fs_classes"], np.float64)
            return result

        size = balanced_batch(total, self.batch_size)
        result, size, notes = run_batches(total, size, one, self.progress, self.cancel, message)
        self.notes.extend(notes)
        return result["score"], result.get("classes"), size


def balanced_batch(total: int, batch_size: int) -> int:
    """The batch size (at most ``batch_size``) that runs ``total`` items cheapest.

    Batches keep one shape (onnxruntime plans each new shape anew), so the last
    batch is padded. Each candidate costs its padded items plus one item's worth
    per batch (the fixed cost of a run); the candidates are the smallest size
    that needs as few batches as ``batch_size`` does and every size from 3/4 of
    the budget up to it, the larger winning ties. 225 items with a budget of 32
    run as 9 batches of 25 (225 items) instead of 8 of 29 (232) or 8 of 32 (256);
    961 items with a budget of 4 stay at 4 (241 batches; 3 would take 321).
    """
    if total <= 0 or batch_size <= 1:
        return max(1, batch_size)
    if total <= batch_size:
        return total
    fewest = -(-total // -(-total // batch_size))
    lowest = max(1, -(-3 * batch_size // 4))
    candidates = sorted({fewest, *range(lowest, batch_size + 1)}, reverse=True)
    return int(min(candidates, key=lambda size: -(-total // size) * (size + 1)))


def _batch_inputs(model: LoadedModel, main: str) -> list[str]:
    dims = {t.name: (t.shape[0] if t.shape else None) for t in model.info.inputs}
    first = dims.get(main)
    return [name for name, dim in dims.items()
            if name == main or (dim == first and not isinstance(dim, int)) or
            (dim == 1 and first == 1)]


def _plan(model: LoadedModel, feeds: dict[str, np.ndarray], batch_inputs: list[str],
          preference: ProviderPreference, cache: SessionCache, single: bool) -> BatchPlan:
    """How perturbed inputs run: the model as it is (``dynamic``), with its batch made
    dynamic and verified (``rewritten``), or one pass at a time (``single``).

    A model declaring a fixed batch above 1 cannot run one item at a time as it is, so
    even ``single`` runs on its verified rewrite.

    Raises
    ------
    InputError
        A fixed batch above 1 that cannot be made dynamic.
    """
    key = (model.sha256, ",".join(batch_inputs), preference)
    main_dim = next(t.shape[0] for t in model.info.inputs if t.name == batch_inputs[0])
    many = isinstance(main_dim, int) and main_dim > 1
    known = _PLANS.get(key)
    if known is not None:
        return BatchPlan(known.proto, "single", known.key, ()) if single else known
    if single and not many:
        return BatchPlan(model.proto, "single", model.sha256, ("batch size 1 requested",))

    def runner(session: Session) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        return lambda f: session.run(f)

    plan: BatchPlan | None = None
    if not isinstance(main_dim, int):
        original = cache.get(model.sha256, (), preference, "all", lambda: model.proto)
        ok, _, why = verify_batching(runner(original), feeds, batch_inputs)
        if ok:
            plan = BatchPlan(model.proto, "dynamic", model.sha256, ())
        note = f"the declared dynamic batch failed its check ({why})"
    else:
        note = f"the model declares a fixed batch of {main_dim}"
    if plan is None:
        proto, rewrite = make_batch_dynamic(model.proto, batch_inputs)
        bkey = f"{model.sha256}:batched"
        try:
            session = cache.get(bkey, (), preference, "all", lambda: proto)
            ok, _, why = verify_batching(runner(session), feeds, batch_inputs)
        except EngineError as exc:
            ok, why = False, exc.message
        if ok:
            changes = ", ".join(rewrite.reshapes) or "no Reshape"
            plan = BatchPlan(proto, "rewritten", bkey,
                             (f"{note}; batch made dynamic (rewritten: {changes}) and "
                              "verified against batch 1",))
        elif many:
            raise InputError(f"The model declares a fixed batch of {main_dim} that could not "
                             f"be made dynamic ({why}), so perturbed inputs cannot run on it; "
                             "Eigen-CAM needs none.")
        else:
            plan = BatchPlan(model.proto, "single", model.sha256,
                             (f"{note}; batching could not be verified ({why}), so every "
                              "pass runs alone",))
    _PLANS.put(key, plan)
    return BatchPlan(plan.proto, "single", plan.key, plan.notes) if single else plan


def _one_item(model: LoadedModel, feeds: dict[str, np.ndarray], batch_inputs: list[str]
              ) -> dict[str, np.ndarray]:
    """The feeds of the one real item, where ``prepare_input`` repeated it to fill a
    fixed batch above 1 (perturbed batches run on the planned model, whose batch is
    made dynamic; every method builds them from batch-1 feeds)."""
    tensors = {t.name: t for t in model.info.inputs}
    return {name: (first_item(value, tensors[name]) if name in batch_inputs else value)
            for name, value in feeds.items()}


def prepare_context(model: LoadedModel, prepared: PreparedInput, target: Target,
                    preference: ProviderPreference, cache: SessionCache,
                    progress: ProgressCallback, cancel: CancelToken,
                    batch_size: int | None = None, score_mode: ScoreMode = "probability",
                    exact_fp32: bool = False, layer: LayerInfo | None = None) -> Context:
    """Run the model once (with ``layer`` exposed, if given) and resolve the target.

    Parameters
    ----------
    model, prepared
        The model and its input feeds.
    target
        What to explain.
    preference, cache
        Provider preference and session cache.
    progress, cancel
        Passed on to the batch loops.
    batch_size
        Items per batch; default 128 on CUDA, 8 on CPU, grown up to 256 / 32
        while the memory estimate allows (:mod:`engine.attribution.batch_size`);
        a given size is only reduced to fit. 1 disables batching.
    score_mode
        What ``auto`` means for class targets.
    exact_fp32
        Switch TensorFloat-32 off on CUDA (sessions cached apart); a no-op
        with a note on CPU.
    layer
        The CAM layer whose activations the same reference run returns.

    Raises
    ------
    EngineError
        Typed errors (unsupported input, bad target, provider failures).
    """
    derived = DERIVED_SESSIONS
    if exact_fp32:
        cache = cache.with_cuda_options(EXACT_FP32)
        derived = DERIVED_SESSIONS.with_cuda_options(EXACT_FP32)
    feeds = prepared.feed_dict()
    main = main_input(model, prepared)
    geometry = input_geometry(feeds[main], prepared.spec)
    batch_inputs = _batch_inputs(model, main)
    cancel.check()
    session, output_names = reference_session(model, layer, preference, cache)
    outputs = session.run(feeds, cancel=cancel)
    acts = layer_activations(model, layer, outputs) if layer is not None else None
    resolved = resolve_target(target, outputs, output_names, score_mode)
    if not np.all(np.isfinite(resolved.score(outputs[resolved.output]))):
        raise InputError("The model's output for the target is not a finite number.")
    feeds = _one_item(model, feeds, batch_inputs)
    notes: list[str] = []
    if exact_fp32:
        notes.append("exact fp32: TensorFloat-32 switched off in the CUDA provider"
                     if session.info.provider == CUDA else
                     f"exact fp32 requested: no effect on {session.info.provider} (TensorFloat-32 "
                     "is only used by the CUDA provider)")
    return Context(model=model, prepared=prepared, preference=preference, cache=cache,
                   progress=progress, cancel=cancel, feeds=feeds, main_input=main,
                   geometry=geometry, batch_inputs=batch_inputs, outputs=outputs,
                   output_names=output_names, target=resolved,
                   target_score=float(resolved.score(outputs[resolved.output])[0]),
                   reference_provider=session.info.provider, requested_batch_size=batch_size,
                   activations=acts, notes=notes, derived=derived, exact_fp32=exact_fp32)
