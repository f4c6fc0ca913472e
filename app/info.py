"""Facts about this installation: versions, paths, execution providers (``--info``, Help)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path


def info_text() -> str:
    """Versions, paths, onnxruntime providers and why CUDA is (not) used."""
    from app.paths import DEMO_MODEL, RESOURCES
    from engine.version import __version__

    lines = [f"featurescope {__version__}", f"python {sys.version.split()[0]} "
             f"({platform.platform()})", f"executable {sys.executable}",
             f"package {Path(__file__).resolve().parent.parent}",
             f"resources {RESOURCES} ({'present' if RESOURCES.is_dir() else 'MISSING'})",
             f"demo model {DEMO_MODEL} ({'present' if DEMO_MODEL.is_file() else 'MISSING'})"]
    try:
        import onnxruntime as ort

        from engine.providers import cuda_status

        lines.append(f"onnxruntime {ort.__version__} ({ort.get_device()} build)")
        lines.append(f"available providers {', '.join(ort.get_available_providers())}")
        status = cuda_status()
        if status.usable:
            lines.append(f"GPU {status.device_name or '?'}: CUDA will be tried first")
        else:
            lines.append(f"CUDA unused: {status.reason}"
                         + (f" (GPU {status.device_name})" if status.device_name else ""))
    except ImportError as exc:
        lines.append(f"onnxruntime is not installed ({exc})")
    for name in ("onnx", "numpy", "PySide6", "pyqtgraph"):
        try:
            module = __import__(name)
            lines.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name} not installed")
    from app.settings import APPLICATION, ORGANIZATION

    lines.append(f"settings organisation '{ORGANIZATION}', application '{APPLICATION}'")
    return "\n".join(lines)
