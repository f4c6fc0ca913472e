"""Process one shard of images: decode (in a thread pool), run, reduce, keep the top-k.

The same :class:`ShardProcessor` runs in the local scan and inside every Ray
actor, so a shard gives the same bytes wherever it is computed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import onnx

from engine.cancellation import CancelToken
from engine.errors import EngineError, InputError, ProviderError
from engine.featuremaps import model_layers, select_layers
from engine.input_spec import image_input
from engine.model_io import LoadedModel
from engine.preprocess import first_item, prepare_input
from engine.providers import CPU, CUDA, ProviderPreference, cuda_status, provider_list
from engine.scan.records import ImageRecord, LayerPartial, ScanPlan, ShardResult, ShardTask
from engine.scan.reduce_graph import reduce_model
from engine.scan.topk import RunningStats, TopK
from engine.session import OptLevel, Session, translate_error
from engine.types import PreparedInput, RunInfo

#: Bytes read at a time while hashing a file.
_CHUNK = 1 << 20
_LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED",
           "basic": "ORT_ENABLE_BASIC", "disabled": "ORT_DISABLE_ALL"}


@dataclass(frozen=True)
class Decoded:
    """One image read and preprocessed (``tensor`` is None when unreadable)."""

    record: ImageRecord
    tensor: np.ndarray | None
    extra: tuple[tuple[str, np.ndarray], ...] = ()


def _file_facts(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def decode_image(model: LoadedModel, plan: ScanPlan, index: int, path: str) -> Decoded:
    """Read, hash and preprocess one image exactly as ``featurescope maps`` does.

    Unreadable files give a record with status ``unreadable`` and a one-line reason.
    """
    try:
        size, sha256 = _file_facts(path)
    except OSError as exc:
        reason = f"cannot be read: {exc.strerror or exc}"
        return Decoded(ImageRecord(index, path, 0, "", "unreadable", reason), None)
    try:
        prepared = prepare_input(model.info, path, plan.spec)
    except EngineError as exc:
        return Decoded(ImageRecord(index, path, size, sha256, "unreadable", exc.message), None)
    transform = prepared.transform
    if transform is None:
        record = ImageRecord(index, path, size, sha256, "ok")
    else:
        height, width = transform.original_size
        record = ImageRecord(index, path, size, sha256, "ok", "", width, height,
                             transform.scale, transform.offset)
    return Decoded(record, *split_feeds(model, prepared))


def split_feeds(model: LoadedModel, prepared: PreparedInput
                ) -> tuple[np.ndarray, tuple[tuple[str, np.ndarray], ...]]:
    """The image tensor of ``prepared`` as one item (``prepare_input`` repeats it to
    fill a fixed batch), and the other feeds."""
    main = image_input(model.info)
    name = main.name if main is not None else prepared.feeds[0][0]
    tensor = next(t for t in model.info.inputs if t.name == name)
    return (first_item(prepared.feed_dict()[name], tensor),
            tuple((k, v) for k, v in prepared.feeds if k != name))


def decode_stream(model: LoadedModel, plan: ScanPlan, items: Iterable[tuple[int, str]],
                  pool: ThreadPoolExecutor, window: int) -> Generator[Decoded, None, None]:
    """Decode ``items`` (index, path) in ``pool``, at most ``window`` ahead, in order."""
    pending: deque[Future[Decoded]] = deque()
    source = iter(items)
    try:
        for index, path in source:
            pending.append(pool.submit(decode_image, model, plan, index, path))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def scan_session(model: onnx.ModelProto, preference: ProviderPreference, opt_level: OptLevel,
                 threads: int | None) -> Session:
    """An onnxruntime session for a scan: a fixed intra-op thread count, no spinning.

    Parameters
    ----------
    model
        The reduced model's proto (or any model, for a like-for-like baseline).
    preference
        ``auto``, ``cpu`` or ``cuda``.
    opt_level
        Graph optimisation level.
    threads
        Intra-op threads (None: onnxruntime's default, one per physical core);
        actors sharing a node each get their share so they do not oversubscribe it.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    providers, reason = provider_list(preference)
    if preference == "cuda" and CUDA not in providers:
        raise ProviderError(f"CUDA was requested but cannot be used: {reason}.")
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[opt_level])
    options.log_severity_level = 4
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    # Decoding threads share the cores: onnxruntime's pool must not spin while idle.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # One arena block per tensor, reused, instead of one block planned for all of them:
    # the same speed here, and about half the memory per session (so more sessions fit).
    options.enable_mem_pattern = False
    data = model.SerializeToString()
    try:
        session = ort.InferenceSession(data, options, providers=providers)
    except Exception as exc:
        if CUDA not in providers or preference == "cuda":
            raise translate_error(exc, "load") from exc
        try:
            session = ort.InferenceSession(data, options, providers=[CPU])
        except Exception as exc2:
            raise translate_error(exc2, "load") from exc2
        reason = f"the CUDA provider failed to initialise ({str(exc).splitlines()[0]})"
    used = tuple(session.get_providers())
    provider = used[0] if used else CPU
    info = RunInfo(provider=provider, providers=used,
                   fallback_reason=reason if provider != CUDA else "",
                   device_name=cuda_status().device_name if provider == CUDA else "CPU",
                   optimization_level=opt_level)
    return Session(session=session, info=info,
                   input_names=tuple(i.name for i in session.get_inputs()),
                   output_names=tuple(o.name for o in session.get_outputs()))


#: 16-bit float element types (float16, bfloat16).
HALF_TYPES = (onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)


def round_to_storage(values: np.ndarray, elem_type: int) -> np.ndarray:
    """Float32 ``values`` rounded to the nearest float16 or bfloat16 (ties to even).

    onnxruntime's CPU provider runs 16-bit float layers in float32 and keeps the
    float32 values between them, while ``maps`` saves the tensors the graph
    declares, rounded. Rounding is monotonic, so the rounded maximum of the float32
    map is the maximum of the rounded map, exactly as ``maps`` shows it.
    """
    if elem_type == onnx.TensorProto.FLOAT16:
        return values.astype(np.float16).astype(np.float32)
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
        & np.uint32(0xFFFF0000)
    return np.where(np.isnan(values), values, rounded.view(np.float32))


def fixed_batch(model: LoadedModel) -> int | None:
    """The batch size a model's image input demands, or None when it is free."""
    main = image_input(model.info)
    if main is None or not main.shape:
        return None
    first = main.shape[0]
    return first if isinstance(first, int) else None


class ShardProcessor:
    """Run shards of a plan: batches through the reduced model, then top-k and statistics.

    Parameters
    ----------
    model
        The loaded model (its sha256 must be the plan's).
    plan
        The scan plan.
    threads
        Intra-op threads of the session (None: onnxruntime's default).
    elem_types
        Element types of the layer tensors, where known.
    """

    def __init__(self, model: LoadedModel, plan: ScanPlan, threads: int | None = None,
                 elem_types: dict[str, int] | None = None) -> None:
        if model.sha256 != plan.model_sha256:
            raise InputError("The model file differs from the one this scan was started with.")
        self.model = model
        self.plan = plan
        catalogue = model_layers(model)
        chosen = select_layers(catalogue, [layer.name for layer in plan.layers])
        self.reduced = reduce_model(model, chosen, elem_types,
                                    {layer.tensor: layer.width for layer in plan.layers})
        preference: ProviderPreference = plan.preference  # type: ignore[assignment]
        self.session = scan_session(self.reduced.proto, preference,
                                    plan.opt_level, threads)  # type: ignore[arg-type]
        self.fixed_batch = fixed_batch(model)
        #: Where each layer's channels start and end among all layers' side by side.
        self.bounds = np.cumsum([0, *(layer.channels for layer in plan.layers)])
        #: Channels of 16-bit float layers (see :func:`round_to_storage`), by element type.
        half: dict[int, list[np.ndarray]] = {}
        for layer, (a, b) in zip(plan.layers, pairwise(self.bounds), strict=True):
            elem = (elem_types or {}).get(layer.tensor, 0)
            if elem in HALF_TYPES:
                half.setdefault(elem, []).append(np.arange(a, b))
        self.half_channels = {elem: np.concatenate(parts) for elem, parts in half.items()}

    @property
    def provider(self) -> str:
        """The execution provider that really runs."""
        return self.session.info.provider

    def run_batch(self, tensors: list[np.ndarray], extra: dict[str, np.ndarray],
                  cancel: CancelToken | None = None
                  ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per layer (max, y, x, mean), each (n, C), of one batch of image tensors."""
        peak, y, x, mean = self.run_joined(tensors, extra, cancel)
        cuts = self.bounds
        return [(peak[:, a:b], y[:, a:b], x[:, a:b], mean[:, a:b])
                for a, b in pairwise(cuts)]

    def run_joined(self, tensors: list[np.ndarray], extra: dict[str, np.ndarray],
                   cancel: CancelToken | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(max, y, x, mean) of one batch, each (n, channels of all layers side by side)."""
        n = len(tensors)
        if self.fixed_batch is not None and n != self.fixed_batch:
            # A model with a fixed batch gets it full; the repeated rows are dropped.
            tensors = tensors + [tensors[-1]] * (self.fixed_batch - n) if n < self.fixed_batch \
                else tensors
        main = image_input(self.model.info)
        name = main.name if main is not None else self.session.input_names[0]
        feeds = {name: np.concatenate(tensors, axis=0), **extra}
        out = self.session.run(feeds, fetch=list(self.reduced.fetch), cancel=cancel)
        total = int(self.bounds[-1])
        values = out[self.reduced.values][:n]  # maxima, then means
        places = out[self.reduced.places][:n]  # rows, then columns
        peak = values[:, :total]
        for elem, columns in self.half_channels.items():
            peak[:, columns] = round_to_storage(peak[:, columns], elem)
        return (peak, places[:, :total].astype(np.int32),
                places[:, total:].astype(np.int32), values[:, total:])

    def process(self, task: ShardTask, decoded: Iterator[Decoded],
                cancel: CancelToken | None = None) -> ShardResult:
        """Process the images of ``task``, taking them in order from ``decoded``.

        Every layer's channels are kept side by side in one top-k and one set of
        statistics (a few array operations per batch, not a few per layer), split
        into layers at the end.
        """
        started = time.perf_counter()
        plan = self.plan
        cuts = self.bounds
        total = int(cuts[-1])
        topk = TopK.empty(total, plan.k, np.concatenate(task.floors) if task.floors else None)
        stats = RunningStats.empty(total)
        maxima: list[np.ndarray] = []
        means: list[np.ndarray] = []
        records: list[ImageRecord] = []
        batch: list[Decoded] = []

        def flush() -> None:
            if not batch:
                return
            indices = np.array([d.record.index for d in batch], np.int64)
            tensors = [d.tensor for d in batch if d.tensor is not None]
            peak, y, x, mean = self.run_joined(tensors, dict(batch[0].extra), cancel)
            topk.add(peak, indices, y, x)
            stats.merge(RunningStats.of_batch(peak, mean))
            maxima.append(peak.astype(np.float16))
            means.append(mean.astype(np.float16))
            batch.clear()

        for expected in task.indices:
            if cancel is not None:
                cancel.check()
            item = next(decoded)
            if item.record.index != expected:
                raise RuntimeError(f"decoded image {item.record.index}, expected {expected}")
            records.append(item.record)
            if item.tensor is not None:
                batch.append(item)
                if len(batch) == plan.batch_size:
                    flush()
        flush()
        all_maxima = np.concatenate(maxima) if maxima else np.zeros((0, total), np.float16)
        all_means = np.concatenate(means) if means else np.zeros((0, total), np.float16)
        layers = tuple(LayerPartial(
            topk=topk.rows(a, b), stats=stats.rows(a, b),
            maxima=np.ascontiguousarray(all_maxima[:, a:b]),
            means=np.ascontiguousarray(all_means[:, a:b]))
            for a, b in pairwise(cuts))
        return ShardResult(shard=task.shard, images=tuple(records), layers=layers,
                           seconds=time.perf_counter() - started, provider=self.provider)


def process_shard(processor: ShardProcessor, task: ShardTask, pool: ThreadPoolExecutor,
                  window: int, cancel: CancelToken | None = None) -> ShardResult:
    """Decode (``window`` images ahead) and process one shard on its own, as a Ray actor does."""
    stream = decode_stream(processor.model, processor.plan, zip(task.indices, task.paths,
                                                                 strict=True), pool, window)
    try:
        return processor.process(task, stream, cancel)
    finally:
        stream.close()


#: Most decoding threads of one process on the GPU.
MAX_GPU_DECODERS = 16


def default_decode_threads(gpu_sessions: int = 0) -> int:
    """Decoding threads for one process.

    On the CPU: one per two cores, at most four; onnxruntime's threads take the
    cores, and more decoders preempt them in the middle of a parallel section,
    which slows every batch down. With ``gpu_sessions`` sessions on the GPU the
    cores are free but for one per session (launches and copies), and decoding
    is what limits a scan: every other core decodes, at most 16.
    """
    cores = os.cpu_count() or 1
    if gpu_sessions:
        return max(1, min(MAX_GPU_DECODERS, cores - gpu_sessions))
    return max(1, min(4, cores // 2))
