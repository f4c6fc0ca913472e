"""Dataset scans on a Ray cluster: shards go to a pool of actors, the driver commits.

Each actor holds one onnxruntime session, created inside the actor (never
pickled), with as many intra-op threads as CPUs it reserved, so actors that
share a node do not oversubscribe it. An actor returns a shard's partial
top-k, statistics and vectors; the driver merges and commits shards in shard
order, each once, so the result equals a local scan exactly. A worker process
that dies is restarted by Ray and its shard retried (and, past Ray's retries,
re-queued on a fresh actor); nothing is counted twice because only the
driver commits. Ray is imported here only, so the engine runs without it.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.errors import Cancelled, EngineError, ProviderError
from engine.model_io import load_model
from engine.scan.records import ScanPlan, ScanSummary, ShardResult, ShardTask
from engine.scan.runner import ScanRequest, Throughput, prepare_scan, summarize
from engine.scan.shard import ShardProcessor, process_shard

LOG = logging.getLogger("featurescope.scan")
#: Shards submitted to one actor before the previous ones return.
IN_FLIGHT_PER_ACTOR = 2
#: How often a shard is handed to a fresh actor after Ray's own retries failed.
MAX_SHARD_ATTEMPTS = 3
EventKind = Literal["workers_ready", "shard_committed", "worker_lost"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to scan on Ray.

    ``address`` is ``local`` (start a local cluster) or the address of a
    running one (``auto``, ``ray://host:10001``, ``host:6379``). ``workers``
    None: as many actors as the cluster's CPUs (or GPUs) allow.
    """

    address: str = "local"
    workers: int | None = None
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    decode_threads: int | None = None


@dataclass(frozen=True)
class RayEvent:
    """What happened in the pool (for logs and tests): the actors' process ids."""

    kind: EventKind
    pids: tuple[int, ...]
    shard: int = -1


class ScanActor:
    """The work of one Ray actor: a session and a decode pool, built in the actor."""

    def __init__(self, plan: ScanPlan, elem_types: dict[str, int], threads: int,
                 decode_threads: int) -> None:
        model = load_model(plan.model_path)
        self.processor = ShardProcessor(model, plan, threads, elem_types)
        self.pool = ThreadPoolExecutor(decode_threads, thread_name_prefix="featurescope-decode")
        self.window = max(2 * plan.batch_size, 4 * decode_threads)

    def pid(self) -> int:
        """This worker's process id."""
        return os.getpid()

    def provider(self) -> str:
        """The execution provider that really runs here."""
        return self.processor.provider

    def process(self, task: ShardTask) -> ShardResult:
        """Process one shard."""
        return process_shard(self.processor, task, self.pool, self.window)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ProviderError("Scanning on Ray needs the 'cluster' extra: "
                            "pip install 'featurescope[cluster]'.", str(exc)) from exc
    return ray


def _connect(ray: Any, options: RayOptions) -> bool:
    """Join or start the cluster; return whether this call started Ray."""
    if ray.is_initialized():
        return False
    settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                "logging_level": logging.WARNING}
    try:
        if options.address == "local":
            ray.init(**settings)
        else:
            ray.init(address=options.address, **settings)
    except Exception as exc:
        raise ProviderError(f"Could not reach the Ray cluster at '{options.address}'.",
                            str(exc)) from exc
    return True


def _worker_count(ray: Any, options: RayOptions) -> int:
    if options.workers:
        return options.workers
    resources = ray.cluster_resources()
    if options.gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) / options.gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // max(1, options.cpus_per_worker)))


class _Pool:
    """The actors and their shards in flight."""

    def __init__(self, ray: Any, plan: ScanPlan, elem_types: dict[str, int],
                 options: RayOptions, count: int) -> None:
        self.ray = ray
        # On the CPU onnxruntime takes the actor's CPUs and decoders get half of them;
        # a GPU actor's session needs one CPU, and decoding, the limit there, the rest.
        decode = options.decode_threads or (
            max(1, options.cpus_per_worker - 1) if options.gpus_per_worker > 0
            else max(1, options.cpus_per_worker // 2))
        self.factory = ray.remote(ScanActor).options(
            num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker,
            max_restarts=3, max_task_retries=3)
        self.args = (plan, elem_types, max(1, options.cpus_per_worker), decode)
        self.actors = [self.factory.remote(*self.args) for _ in range(count)]
        self.busy: dict[Any, tuple[int, int]] = {}

    def pids(self) -> tuple[int, ...]:
        return tuple(self.ray.get([a.pid.remote() for a in self.actors]))

    def load(self, index: int) -> int:
        return sum(1 for _, a in self.busy.values() if a == index)

    def submit(self, index: int, task: ShardTask) -> None:
        self.busy[self.actors[index].process.remote(task)] = (task.shard, index)

    def replace(self, index: int) -> None:
        try:
            self.ray.kill(self.actors[index], no_restart=True)
        except Exception:  # noqa: BLE001 - it is already gone
            LOG.debug("actor %d was already gone", index)
        self.actors[index] = self.factory.remote(*self.args)

    def stop(self) -> None:
        for ref in list(self.busy):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                LOG.debug("could not cancel a shard", exc_info=True)
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:
                LOG.debug("could not kill an actor", exc_info=True)


def run_scan_ray(request: ScanRequest, options: RayOptions | None = None,
                 progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                 events: Callable[[RayEvent], None] | None = None) -> ScanSummary:
    """Scan a dataset with a pool of Ray actors; the result equals :func:`run_scan`'s.

    Parameters
    ----------
    request
        What to scan (its ``threads`` and ``decode_threads`` are ignored:
        each actor uses its reserved CPUs).
    options
        Cluster address and pool size.
    progress, cancel
        As for :func:`~engine.scan.runner.run_scan`.
    events
        Called with pool events (actors ready, shard committed, worker lost).

    Raises
    ------
    ProviderError
        Ray is not installed or the cluster cannot be reached.
    EngineError
        As for a local scan; :class:`~engine.errors.Cancelled` when cancelled.
    """
    opts = options or RayOptions()
    ray = _import_ray()
    token = ensure_token(cancel)
    notify = events or (lambda _event: None)
    prepared = prepare_scan(replace(request, threads=1))
    prepared.processor = None  # verified in the driver; the actors build their own
    store, plan = prepared.store, prepared.plan
    started = False
    pool: _Pool | None = None
    try:
        pending = store.pending_shards()
        resumed = store.committed_shards()
        meter = Throughput(plan.image_count, store.committed_images())
        progress(meter.report(meter.done, "starting Ray workers"))
        provider, count = "none", 0
        if pending:
            started = _connect(ray, opts)
            count = min(_worker_count(ray, opts), len(pending))
            pool = _Pool(ray, plan, prepared.elem_types, opts, count)
            provider = ray.get(pool.actors[0].provider.remote())
            notify(RayEvent("workers_ready", pool.pids()))
            topks, stats = store.load_state()
            _drive(ray, pool, store, pending, topks, stats, meter, progress, token, notify)
            store.finish(topks, stats, {"provider": provider, "workers": str(count)})
        elif not store.complete:
            store.finish(*store.load_state(), {"provider": provider, "workers": "0"})
        progress(meter.report(plan.image_count, "done"))
        return summarize(prepared, meter, resumed, provider, count)
    finally:
        if pool is not None:
            pool.stop()
        store.close()
        if started:
            ray.shutdown()


def _drive(ray: Any, pool: _Pool, store: Any, pending: list[int], topks: list[Any],
           stats: list[Any], meter: Throughput, progress: ProgressCallback, token: CancelToken,
           notify: Callable[[RayEvent], None]) -> None:
    """Hand out shards, collect results, commit them in shard order."""
    queue = deque(pending)
    order = deque(pending)
    ready: dict[int, ShardResult] = {}
    attempts: dict[int, int] = {}
    limit = IN_FLIGHT_PER_ACTOR * len(pool.actors)
    while order:
        if token.cancelled:
            raise Cancelled()
        for index in range(len(pool.actors)):
            while (queue and pool.load(index) < IN_FLIGHT_PER_ACTOR
                   and len(ready) + len(pool.busy) < 2 * limit):
                pool.submit(index, store.task(queue.popleft()).under(topks))
        done, _ = ray.wait(list(pool.busy), num_returns=1, timeout=0.25)
        for ref in done:
            shard, index = pool.busy.pop(ref)
            try:
                ready[shard] = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                attempts[shard] = attempts.get(shard, 0) + 1
                if attempts[shard] >= MAX_SHARD_ATTEMPTS:
                    raise EngineError(f"Shard {shard} failed on {attempts[shard]} workers.",
                                      str(exc)) from exc
                LOG.warning("a scan worker died; shard %d goes to a fresh one", shard)
                pool.replace(index)
                queue.appendleft(shard)
                notify(RayEvent("worker_lost", pool.pids(), shard))
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, EngineError):
                    raise cause from exc
                raise
        while order and order[0] in ready:
            result = ready.pop(order.popleft())
            if store.commit(result, topks, stats):
                progress(meter.report(meter.done + len(result.images)))
                notify(RayEvent("shard_committed", (), result.shard))
        time.sleep(0)
