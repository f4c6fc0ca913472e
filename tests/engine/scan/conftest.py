"""Fixtures for scan tests: the detector model, its images, and one finished scan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.scan import ScanRequest, ScanSummary, run_scan
from tests.engine.scan._scan_data import write_dataset, write_model

BROKEN = "broken.png"
BIG_IMAGES = 150


@dataclass(frozen=True)
class Detector:
    """The detector model, its image folder and a finished scan of it."""

    model: Path
    images: Path
    out: Path
    summary: ScanSummary

    def request(self, out: Path, **changes: object) -> ScanRequest:
        """The request that made :attr:`out`, writing to ``out`` (with changes)."""
        fields: dict[str, object] = {"k": 4, "batch_size": 3, "shard_size": 5, **changes}
        return ScanRequest(str(self.model), (str(self.images),), str(out),
                           **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    """The detector model scanned over its images (k=4, batch 3, shards of 5)."""
    folder = tmp_path_factory.mktemp("detector")
    model = write_model(folder)
    images = folder / "images"
    write_dataset(images)
    (images / BROKEN).write_bytes(b"this is not an image")
    out = folder / "scan"
    probe = Detector(model, images, out, None)  # type: ignore[arg-type]
    summary = run_scan(probe.request(out))
    return Detector(model, images, out, summary)


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    """The detector over 151 images (one unreadable), scanned with shards of 4 images."""
    folder = tmp_path_factory.mktemp("big")
    model = write_model(folder)
    images = folder / "images"
    write_dataset(images, copies=BIG_IMAGES - 15)
    (images / "zz_broken.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    probe = Detector(model, images, folder / "reference", None)  # type: ignore[arg-type]
    summary = run_scan(probe.request(probe.out, shard_size=4, batch_size=2))
    return Detector(model, images, probe.out, summary)
