"""A scan's defaults: shard size (small datasets keep every session busy) and decoders."""

from __future__ import annotations

import math

import pytest

from engine.scan import shard
from engine.scan.plan import DEFAULT_SHARD_IMAGES, default_shard_size


def test_large_datasets_keep_the_standard_shard() -> None:
    for count in (4096, 4097, 10_000, 1_000_000):
        assert default_shard_size(count, 8) == DEFAULT_SHARD_IMAGES


def test_small_datasets_get_many_shards_of_at_least_four_batches() -> None:
    for batch in (1, 2, 3, 8, 16, 32, 100, 300):
        for count in range(1, 4097, 7):
            shard = default_shard_size(count, batch)
            whole = batch * math.ceil(shard / batch)  # make_plan rounds up to whole batches
            assert shard <= max(DEFAULT_SHARD_IMAGES, batch)
            if 4 * batch <= DEFAULT_SHARD_IMAGES:
                assert shard >= 4 * batch
            if count >= 64 * batch and count <= 16 * DEFAULT_SHARD_IMAGES:
                # ceil(count / 16) images a shard, rounded up to whole batches.
                assert math.ceil(count / whole) >= 16 * whole // (whole + batch)


def test_the_demo_photo_folder_gets_two_workers_worth_of_shards() -> None:
    # 256 images in batches of 8: shards of 32 images, 8 of them (one used to be all 256).
    assert default_shard_size(256, 8) == 32
    assert default_shard_size(96, 8) == 32
    assert default_shard_size(2000, 8) == 125
    assert default_shard_size(5, 1) == 4
    assert default_shard_size(3, 1024) == 1024


@pytest.mark.parametrize(("cores", "gpu_sessions", "decoders"), [
    (2, 0, 1), (4, 0, 2), (16, 0, 4), (64, 0, 4),  # CPU: half the cores, at most 4
    (2, 1, 1), (16, 4, 12), (8, 1, 7), (64, 8, 16), (4, 8, 1),  # GPU: the cores left over
])
def test_decoders_share_the_cores_with_onnxruntime(monkeypatch: pytest.MonkeyPatch, cores: int,
                                                   gpu_sessions: int, decoders: int) -> None:
    monkeypatch.setattr(shard.os, "cpu_count", lambda: cores)
    assert shard.default_decode_threads(gpu_sessions) == decoders
