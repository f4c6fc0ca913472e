"""Statistics, normalisation, mosaics and atomic writing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from engine import atomic_files as outputs
from engine.atomic_files import atomic_directory, csv_text, write_bytes_atomic
from engine.errors import OutputError
from engine.stats import as_images, channel_stats, mosaic, mosaic_cell, normalize, sort_order


def test_channel_stats_known_values() -> None:
    data = np.array([[[0.0, 0.0], [2.0, 2.0]], [[5.0, 5.0], [5.0, 5.0]]])
    stats = channel_stats(data)
    np.testing.assert_allclose(stats.mean, [1.0, 5.0])
    np.testing.assert_allclose(stats.zero_fraction, [0.5, 0.0])
    assert stats.dead.tolist() == [False, True]
    assert stats.dead_count == 1
    assert (stats.layer_min, stats.layer_max) == (0.0, 5.0)


def test_normalize_modes() -> None:
    data = np.array([[[0.0, 2.0]], [[10.0, 10.0]]], dtype=np.float32)
    np.testing.assert_allclose(normalize(data, "channel"), [[[0, 1]], [[0, 0]]])
    np.testing.assert_allclose(normalize(data, "layer"), [[[0, 0.2]], [[1, 1]]])
    np.testing.assert_allclose(normalize(data, "fixed", (0, 4)), [[[0, 0.5]], [[1, 1]]])


def test_mosaic_layout_and_hit_test() -> None:
    images = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 2, 3), np.float32)
    tile = mosaic(images, pad=1, fill=-1.0, columns=3)
    assert tile.shape == (2 * 3 - 1, 3 * 4 - 1)
    assert tile[0, 4] == 1.0 and tile[3, 0] == 3.0 and tile[0, 3] == -1.0
    assert mosaic_cell(3, 5, (2, 3), 3) == 4
    assert mosaic_cell(2, 0, (2, 3), 3) is None


def test_as_images_ranks() -> None:
    assert as_images(np.zeros((4, 10))).shape == (4, 1, 10)
    assert as_images(np.zeros((4, 6, 8, 8))).shape == (4, 8, 8)


def test_sort_order() -> None:
    stats = channel_stats(np.array([[[1.0]], [[3.0]], [[2.0]]]))
    assert sort_order(stats, "mean").tolist() == [1, 2, 0]
    assert sort_order(stats, "index").tolist() == [0, 1, 2]


def test_csv_injection_neutralised() -> None:
    text = csv_text(["layer"], [["=cmd|'/c calc'!A1"], ["+1"], ["-x"], ["@y"], ["ok"]])
    assert text.splitlines()[1:] == ["'=cmd|'/c calc'!A1", "'+1", "'-x", "'@y", "ok"]


def test_atomic_directory_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "result"
    with pytest.raises(RuntimeError), atomic_directory(target) as work:
        (work / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_failure_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "replace", full_disk)
    with pytest.raises(OutputError) as err:
        write_bytes_atomic(tmp_path / "a.bin", b"data")
    assert err.value.message == "Could not write 'a.bin': No space left on device."
    assert list(tmp_path.iterdir()) == []


def test_unwritable_parent(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="Cannot create the output folder"), \
            atomic_directory(blocker / "sub"):
        pass


def test_atomic_files_get_the_usual_mode(tmp_path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    write_bytes_atomic(tmp_path / "x.bin", b"1")
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o666 & ~mask
