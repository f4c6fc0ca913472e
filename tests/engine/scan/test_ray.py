"""Scans on a real local Ray cluster (2 CPUs, started here): equal to the local scan.

One worker process is killed with SIGKILL while shards are in flight; Ray
restarts it and retries its shards, and the driver commits each shard once, so
the result still equals the local scan bit for bit.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.scan import content_digest
from engine.scan.ray_runner import RayEvent, RayOptions, run_scan_ray
from tests.engine.scan.conftest import Detector

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A local Ray cluster with 2 CPUs for this module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=128 * 1024**2)
    yield
    ray.shutdown()


def test_two_ray_workers_give_exactly_the_local_result(cluster: None, detector: Detector,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "scan"
    events: list[RayEvent] = []
    summary = run_scan_ray(detector.request(out), RayOptions(workers=2), events=events.append)
    assert summary.workers == 2 and summary.readable == detector.summary.readable
    assert len(events[0].pids) == 2 and len(set(events[0].pids)) == 2
    committed = [e.shard for e in events if e.kind == "shard_committed"]
    assert committed == list(range(detector.summary.shards))  # in order, each once
    assert content_digest(out) == content_digest(detector.out)


def test_killing_a_worker_mid_scan_still_gives_the_local_result(
        cluster: None, big: Detector, tmp_path: Path) -> None:
    out = tmp_path / "scan"
    killed: list[int] = []
    committed: list[int] = []

    def on_event(event: RayEvent) -> None:
        if event.kind == "workers_ready":
            on_event.pids = event.pids  # type: ignore[attr-defined]
        elif event.kind == "shard_committed":
            committed.append(event.shard)
            if len(committed) == 2:  # both actors hold shards in flight now
                victim = on_event.pids[0]  # type: ignore[attr-defined]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

    request = big.request(out, shard_size=4, batch_size=2)
    summary = run_scan_ray(request, RayOptions(workers=2), events=on_event)
    assert killed, "no worker was killed"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    assert summary.shards == big.summary.shards
    assert committed == list(range(big.summary.shards))
    assert content_digest(out) == content_digest(big.out)


def test_cli_scan_with_ray_uses_the_running_cluster(cluster: None, detector: Detector,
                                                    tmp_path: Path, capsys) -> None:
    out = tmp_path / "scan"
    assert main(["scan", str(detector.model), str(detector.images), "--out", str(out),
                 "--k", "4", "--batch-size", "3", "--shard-size", "5", "--ray", "local",
                 "--workers", "2"]) == 0
    assert "with 2 workers" in capsys.readouterr().out
    assert content_digest(out) == content_digest(detector.out)
