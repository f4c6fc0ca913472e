"""Vendors' own Python pipelines, unpacked from their pinned wheels for comparison tests.

rapidocr-onnxruntime requires the CPU ``onnxruntime`` package, which must not be
installed beside ``onnxruntime-gpu``; its code runs unchanged on the
``onnxruntime`` module onnxruntime-gpu provides, so the pinned wheel is unpacked
into the model cache and put on ``sys.path`` (its other requirements are in the
dev extras).
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

from tests import real_models

RAPIDOCR = "rapidocr-onnxruntime==1.4.4"


def rapidocr_root() -> Path:
    """The folder holding the unpacked ``rapidocr_onnxruntime`` package (on ``sys.path``)."""
    root = real_models.cache_dir() / "vendor" / RAPIDOCR.replace("==", "-")
    if not (root / "rapidocr_onnxruntime" / "config.yaml").is_file():
        with tempfile.TemporaryDirectory() as scratch:
            wheel = real_models._pip_download(RAPIDOCR, ("--only-binary", ":all:"),
                                              Path(scratch))
            partial = root.with_name(root.name + ".partial")
            with zipfile.ZipFile(wheel) as archive:
                members = [m for m in archive.namelist()
                           if m.startswith("rapidocr_onnxruntime/") and ".." not in m]
                archive.extractall(partial, members)
            partial.replace(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root
