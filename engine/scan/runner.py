"""Local streaming dataset scans: decode in a thread pool, run, merge, commit per shard."""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from queue import Queue

import numpy as np

from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.errors import EngineError, RewriteError
from engine.featuremaps import extract_feature_maps
from engine.input_proposal import propose_input_spec
from engine.input_spec import validate_spec
from engine.model_io import LoadedModel, load_model
from engine.preprocess import prepare_input
from engine.providers import CUDA, ProviderPreference
from engine.scan.plan import make_plan, plan_layers
from engine.scan.records import ScanPlan, ScanSummary, ShardResult, ShardTask
from engine.scan.shard import (
    ShardProcessor,
    default_decode_threads,
    process_shard,
    split_feeds,
)
from engine.scan.sources import collect_paths, paths_digest
from engine.scan.store import ScanStore, stored_shard_size
from engine.scan.topk import RunningStats, TopK
from engine.session import OPT_LEVELS, SessionCache
from engine.types import InputSpec, Progress

#: How many readable images the start-up check tries before it gives up.
_CHECK_CANDIDATES = 16


@dataclass(frozen=True)
class ScanRequest:
    """What to scan, where to, and how.

    ``layers`` None scans every exposable conv layer; ``shard_size`` None: 256
    images, less for small datasets (:func:`~engine.scan.plan.default_shard_size`).
    ``workers`` sessions process shards side by side (default:
    :func:`default_workers`), each with ``threads`` onnxruntime threads (default:
    the cores shared out); ``decode_threads`` decode images for all of them.
    """

    model: str
    data: tuple[str, ...]
    out: str
    layers: tuple[str, ...] | None = None
    k: int = 16
    batch_size: int = 8
    shard_size: int | None = None
    preference: ProviderPreference = "auto"
    spec: InputSpec | None = None
    threads: int | None = None
    decode_threads: int | None = None
    workers: int | None = None


@dataclass
class PreparedScan:
    """A scan opened on disk with its verified plan (see :func:`prepare_scan`)."""

    model: LoadedModel
    plan: ScanPlan
    store: ScanStore
    elem_types: dict[str, int]
    processor: ShardProcessor | None
    notes: list[str]


def _check_reductions(processor: ShardProcessor, model: LoadedModel, path: str) -> str:
    """Compare the in-graph reductions of one image with the maps ``maps`` saves.

    Returns an empty string when they agree, else what differs.
    """
    plan = processor.plan
    prepared = prepare_input(model.info, path, plan.spec)
    preference: ProviderPreference = plan.preference  # type: ignore[assignment]
    maps = extract_feature_maps(model, prepared, [layer.name for layer in plan.layers],
                                preference, cache=SessionCache(capacity=2))
    tensor, extra = split_feeds(model, prepared)
    outputs = processor.run_batch([tensor], dict(extra))
    for layer, got, want in zip(plan.layers, outputs, maps.layers, strict=True):
        peak, y, x, mean = (a[0] for a in got)
        data = want.data.reshape(want.data.shape[0], -1)
        expected = data.max(axis=1)
        tolerance = 1e-5 * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        at = data[np.arange(len(data)), y.astype(np.int64) * layer.width + x]
        if not (np.all(np.abs(peak - expected) <= tolerance)
                and np.all(np.abs(at - expected) <= tolerance)
                and np.allclose(mean, data.mean(axis=1), rtol=1e-4, atol=tolerance * 10)):
            return f"layer {layer.name}: max differs by {np.max(np.abs(peak - expected)):.3g}"
    return ""


def _first_readable(model: LoadedModel, spec: InputSpec, paths: list[str]) -> str | None:
    for path in paths[:_CHECK_CANDIDATES]:
        try:
            prepare_input(model.info, path, spec)
        except EngineError:
            continue
        return path
    return None


#: Said when a scan rounds 16-bit float layers (see ``round_to_storage``).
HALF_NOTE = ("16-bit float layers run in float32 on this provider: their maxima are rounded "
             "to the layer's type, as maps saves them, and a location is an arg-max of that "
             "rounded map (among values that round alike, not always the first)")


def verified_processor(model: LoadedModel, plan: ScanPlan, paths: list[str],
                       elem_types: dict[str, int], threads: int | None
                       ) -> tuple[ShardProcessor, ScanPlan, list[str]]:
    """A processor whose reductions match ``maps`` on the first readable image.

    Like ``maps``, a lower optimisation level is tried when onnxruntime's
    optimiser changes a reduced tensor.

    Raises
    ------
    RewriteError
        The reductions differ from the maps at every level.
    """
    notes: list[str] = []
    probe = _first_readable(model, plan.spec, paths)
    for level in OPT_LEVELS:
        candidate = replace(plan, opt_level=level)
        processor = ShardProcessor(model, candidate, threads, elem_types)
        problem = "" if probe is None else _check_reductions(processor, model, probe)
        if not problem:
            if processor.half_channels and processor.provider != CUDA:
                notes.append(HALF_NOTE)
            return processor, candidate, notes
        notes.append(f"optimisation level '{level}': {problem}")
    raise RewriteError("The reduced model does not reproduce the feature maps.",
                       "; ".join(notes))


def prepare_scan(request: ScanRequest, build_processor: bool = True) -> PreparedScan:
    """Collect the paths, plan the scan, check the reductions and open the store.

    Raises
    ------
    EngineError
        Bad model, data, layers or numbers, or a scan folder holding another scan.
    """
    model = load_model(request.model)
    paths = collect_paths(request.data)
    spec = validate_spec(request.spec or propose_input_spec(model).spec)
    names = list(request.layers) if request.layers else None
    layers, types = plan_layers(model, names, spec, request.preference)
    # Repeating a command without --shard-size continues its scan with the scan's shards.
    shard_size = request.shard_size or stored_shard_size(request.out)
    plan = make_plan(model, str(Path(request.model).absolute()), layers, spec, len(paths),
                     paths_digest(paths), request.k, request.batch_size, shard_size,
                     request.preference)
    threads = request.threads or worker_threads(request.workers or default_workers())
    processor, plan, notes = verified_processor(model, plan, paths, types, threads) \
        if build_processor else (None, plan, [])
    store = ScanStore.create_or_resume(request.out, plan, paths)
    del paths
    return PreparedScan(model, plan, store, types, processor, notes)


class Throughput:
    """Images per second and the time left, for progress reports."""

    def __init__(self, total: int, done: int) -> None:
        self.total = total
        self.done = done
        self.start_done = done
        self.started = time.perf_counter()

    def report(self, done: int, message: str = "") -> Progress:
        """A progress report after ``done`` images in all."""
        self.done = done
        elapsed = time.perf_counter() - self.started
        rate = (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        text = message or f"{done}/{self.total} images, {rate:.1f} images/s"
        return Progress(done, self.total, text,
                        extra=(("images_per_second", rate), ("eta_seconds", eta)))

    @property
    def rate(self) -> float:
        """Images per second in this run."""
        elapsed = time.perf_counter() - self.started
        return (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0


def summarize(prepared: PreparedScan, meter: Throughput, resumed: int, provider: str,
              workers: int) -> ScanSummary:
    """The summary of a finished scan."""
    store = prepared.store
    counts = store.counts()
    unreadable = tuple(store.unreadable())
    return ScanSummary(
        out=store.folder, images=prepared.plan.image_count, readable=counts.get("ok", 0),
        unreadable=unreadable, layers=len(prepared.plan.layers),
        channels=prepared.plan.channels, shards=store.committed_shards(),
        resumed_shards=resumed, seconds=time.perf_counter() - meter.started,
        images_per_second=meter.rate, provider=provider, workers=workers,
        notes=tuple(prepared.notes))


def default_workers() -> int:
    """Sessions of a local scan: one per core up to 4 cores, then one per 4 cores (at most 8).

    Several small sessions side by side use the cores better than one wide
    session: its parallel sections stall whenever a decoding thread takes a core.
    """
    cores = os.cpu_count() or 1
    return cores if cores <= 4 else min(8, cores // 4)


def worker_threads(workers: int) -> int:
    """onnxruntime threads of each of ``workers`` sessions: the cores shared out."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_scan(request: ScanRequest, progress: ProgressCallback = no_progress,
             cancel: CancelToken | None = None) -> ScanSummary:
    """Scan a dataset on this machine: top-k examples and statistics of every channel.

    Running the same request again after an interruption continues where it
    stopped; the result equals an uninterrupted scan.

    Parameters
    ----------
    request
        What to scan and how.
    progress
        Receives :class:`~engine.types.Progress` (images done of all images;
        ``extra`` has ``images_per_second`` and ``eta_seconds``).
    cancel
        Stops the scan between images (and interrupts a running batch); the
        committed shards are kept.

    Returns
    -------
    ScanSummary

    Raises
    ------
    EngineError
        Typed errors; :class:`~engine.errors.Cancelled` when cancelled.
    """
    token = ensure_token(cancel)
    prepared = prepare_scan(request)
    store, plan, processor = prepared.store, prepared.plan, prepared.processor
    assert processor is not None
    try:
        pending = store.pending_shards()
        resumed = store.committed_shards()
        done = store.committed_images()
        meter = Throughput(plan.image_count, done)
        progress(meter.report(done, "starting"))
        if pending:
            topks, stats = store.load_state()
            workers = max(1, min(request.workers or default_workers(), len(pending)))
            threads = request.threads or worker_threads(workers)
            processors = [processor] + [
                ShardProcessor(prepared.model, plan, threads, prepared.elem_types)
                for _ in range(workers - 1)]
            on_gpu = processor.provider == CUDA
            decoders = request.decode_threads or default_decode_threads(
                workers if on_gpu else 0)
            with ThreadPoolExecutor(decoders, thread_name_prefix="featurescope-decode") as pool:
                _scan_shards(prepared, pending, topks, stats, processors, pool, decoders, meter,
                             progress, token)
            store.finish(topks, stats, {"provider": processor.provider, "workers": "1"})
        elif not store.complete:
            store.finish(*store.load_state(), {"provider": processor.provider, "workers": "1"})
        progress(meter.report(plan.image_count, "done"))
        return summarize(prepared, meter, resumed, processor.provider,
                         max(1, min(request.workers or default_workers(), len(pending) or 1)))
    finally:
        store.close()


def _scan_shards(prepared: PreparedScan, pending: list[int], topks: list[TopK],
                 stats: list[RunningStats], processors: list[ShardProcessor],
                 pool: ThreadPoolExecutor, decoders: int, meter: Throughput,
                 progress: ProgressCallback, token: CancelToken) -> None:
    """Process shards on the processors side by side; commit them in shard order.

    While a shard is committed (in this thread) the processors go on with the
    next ones; at most one shard per processor is in flight.
    """
    store, plan = prepared.store, prepared.plan
    window = max(2 * plan.batch_size, 2 * decoders)
    # Shards in flight stop on the caller's cancel and on any failure here.
    stop = CancelToken()
    token.add_callback(stop.cancel)
    idle: Queue[ShardProcessor] = Queue()
    for processor in processors:
        idle.put(processor)

    def work(task: ShardTask) -> ShardResult:
        processor = idle.get()
        try:
            return process_shard(processor, task, pool, window, stop)
        finally:
            idle.put(processor)

    queue = deque(pending)
    running: deque[Future[ShardResult]] = deque()
    try:
        with ThreadPoolExecutor(len(processors), thread_name_prefix="featurescope-scan") as shards:
            try:
                while queue or running:
                    while queue and len(running) < len(processors):
                        stop.check()
                        running.append(shards.submit(
                            work, store.task(queue.popleft()).under(topks)))
                    result = running.popleft().result()
                    if store.commit(result, topks, stats):
                        progress(meter.report(meter.done + len(result.images)))
            except BaseException:
                stop.cancel()  # the other shards in flight stop at their next image
                raise
    finally:
        token.remove_callback(stop.cancel)
