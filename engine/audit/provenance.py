"""Provenance of an audit: what exactly was run, on what, with which software.

Everything here is deterministic for the same model, inputs and settings,
except the times, which live under their own key.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from engine.model_io import LoadedModel
from engine.version import __version__

_REPO = Path(__file__).resolve().parents[2]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_commit() -> str | None:
    """The git commit of the Featurescope source that runs, when it runs from a checkout."""
    if not (_REPO / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def software() -> dict[str, str | None]:
    """Versions of everything that computes the numbers."""
    import onnx
    import onnxruntime

    return {"featurescope": __version__, "featurescope_commit": source_commit(),
            "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "platform": sys.platform}


def model_provenance(model: LoadedModel) -> dict[str, Any]:
    """The model file's and its external data files' sha256, and where it came from."""
    folder = model.info.path.parent
    external = {name: file_sha256(folder / name) for name in model.info.external_data
                if (folder / name).is_file()}
    return {"path": str(model.info.path), "sha256": model.sha256,
            "bytes": model.info.file_size, "external_data": external,
            "producer": f"{model.info.producer_name} {model.info.producer_version}".strip(),
            "opset": model.info.default_opset}
