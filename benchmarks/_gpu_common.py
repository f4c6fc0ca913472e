"""gpu_suite's settings, goals and small helpers (numpy only: the torch worker imports it too)."""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"
DTYPES = ("fp32", "fp16")
ONNX_DTYPE = {"fp32": "float32", "fp16": "float16"}
TORCH_SECTIONS = ("torch_equivalence", "pytorch_grad_cam", "captum")
#: Where pytorch-grad-cam and the torch check look: ``model.layer4[-1]`` (a Bottleneck) is
#: layer4's block output, the Relu after the residual Add, the engine's Score-CAM layer.
TORCH_CAM_MODULE = "layer4[-1]"
#: Packages the libraries import at module level but never call on the Score-CAM and
#: occlusion paths (plots, 3-D zoom, kernel PCA, progress bars); stubbed only if absent.
STUBBABLE = ("matplotlib.pyplot", "mpl_toolkits.axes_grid1", "scipy.ndimage",
             "sklearn.decomposition", "tqdm")
GOALS: dict[str, Any] = {
    "over_bound_max": 1.05,
    "about_tolerance": 0.10,
    "score-cam": {"fp32_about_s": 0.33, "fp16_max_s": 0.23},
    "occlusion": {"fp32_about_s": 0.12, "fp16_max_s": 0.08},
    "where": "H100-class GPU, CUDA provider, full mode (224x224, 2048 channels, 729 windows)",
    "about": "'about X s' counts as met up to X * (1 + about_tolerance)",
}


@dataclass(frozen=True)
class Config:
    """What one run does."""

    quick: bool
    provider: str
    size: int
    scorecam_channels: int  # 0: all channels of the layer
    scorecam_variant: str
    window: int
    stride: int
    repeats: int
    library_repeats: int
    maps_repeats: int
    bound_repeats: int
    batch_size: int | None
    budget_s: float
    seed: int

    @property
    def occlusion_passes(self) -> int:
        """Windows for this size, window and stride (closed form; exact when they tile)."""
        per_side = math.ceil((self.size - self.window) / self.stride) + 1
        return per_side * per_side


def make_config(args: argparse.Namespace) -> Config:
    """Full (GPU) or quick (CPU) settings, with command-line overrides."""
    quick = bool(args.quick)
    return Config(
        quick=quick, provider=args.provider or ("cpu" if quick else "cuda"),
        size=args.size or (64 if quick else 224),
        scorecam_channels=args.channels if args.channels is not None else (32 if quick else 0),
        scorecam_variant=args.scorecam_variant, window=16,
        stride=args.stride or (16 if quick else 8),
        repeats=args.repeats or (2 if quick else 3), library_repeats=1 if quick else 2,
        maps_repeats=5 if quick else 20, bound_repeats=3 if quick else 10,
        batch_size=args.batch_size, budget_s=args.budget_s or (200.0 if quick else 420.0),
        seed=args.seed)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps (the same after any min-max normalisation)."""
    x = np.asarray(a, np.float64).ravel()
    y = np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"map sizes differ: {np.shape(a)} vs {np.shape(b)}")
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def top_variance(maps: np.ndarray, count: int) -> list[int]:
    """Faster Score-CAM's channel choice: the ``count`` channels of largest spatial variance.

    The same computation as the engine's (float64 variance, stable sort), so both sides
    keep the same channels.
    """
    channels = maps.shape[0]
    if not count or count >= channels:
        return list(range(channels))
    variance = maps.reshape(channels, -1).astype(np.float64).var(axis=1)
    return sorted(int(i) for i in np.argsort(-variance, kind="stable")[:count])


def constant_channels(maps: np.ndarray) -> int:
    """Channels whose map is one value (all zero after a Relu, most often)."""
    flat = maps.reshape(maps.shape[0], -1)
    return int(np.count_nonzero(flat.max(axis=1) == flat.min(axis=1)))


def rnd(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded, None for None or a non-finite value (JSON-safe)."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()  # warm-up (first run allocates and plans)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def error_text(exc: BaseException) -> str:
    """``Type: message``, cut at 2000 characters."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) < 2000 else text[:2000] + " ..."


def nested_errors(value: object, where: str = "") -> list[str]:
    """Every ``error`` string inside a section's result, with its path."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "error" and isinstance(item, str):
                found.append(f"{where or 'section'}: {item}")
            else:
                found.extend(nested_errors(item, path))
    return found


def guarded(out: dict[str, Any], key: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one part of a section; its failure becomes ``out[key] = {"error": ...}``."""
    try:
        out[key] = fn()
    except Exception as exc:  # noqa: BLE001 - a benchmark part reports any failure and goes on
        out[key] = {"error": error_text(exc), "traceback": traceback.format_exc()[-1500:]}


def add_site(dirs: list[str]) -> list[str]:
    """Prepend these directories (staged libraries) to ``sys.path``; their absolute paths."""
    added: list[str] = []
    for d in reversed(dirs or []):
        path = str(Path(d).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
        added.insert(0, path)
    return added


def dist_version(name: str) -> str:
    """An installed distribution's version, or why there is none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown (no distribution metadata; unpacked source?)"
