"""The frozen records a dataset scan passes around: plan, shards, results, examples."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from engine.scan.topk import RunningStats, TopK
from engine.types import ImageTransform, InputSpec

ImageStatus = Literal["ok", "unreadable", "pending"]


@dataclass(frozen=True)
class ScanLayer:
    """One scanned layer: its map size and receptive field on the model input.

    ``rf_size`` and ``rf_stride`` are (y, x) in input-tensor pixels; a size of
    -1 means the whole input (after a global pooling). The field of map position
    (y, x) is centred at ``rf_start + (y, x) * rf_jump`` in continuous input
    coordinates (see :mod:`engine.scan.fields`).
    """

    index: int
    name: str
    tensor: str
    channels: int
    height: int
    width: int
    rf_size: tuple[int, int]
    rf_stride: tuple[int, int]
    rf_start: tuple[float, float] = (0.5, 0.5)
    rf_jump: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True)
class ScanPlan:
    """Everything a worker needs to process shards exactly as every other worker.

    Two runs with equal plans over the same files give identical results;
    a scan is resumed only with an equal plan.
    """

    model_path: str
    model_sha256: str
    layers: tuple[ScanLayer, ...]
    k: int
    batch_size: int
    shard_size: int
    spec: InputSpec
    preference: str
    opt_level: str
    image_count: int
    paths_sha256: str

    def to_json(self) -> str:
        """The plan as canonical JSON (stored with the scan)."""
        data = asdict(self)
        data.pop("model_path")  # the same model may be given by another path on resume
        data.pop("preference")  # where it runs does not change what it computes
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, model_path: str, preference: str) -> ScanPlan:
        """Rebuild a plan stored by :meth:`to_json`."""
        data = json.loads(text)
        spec = data.pop("spec")
        spec["mean"], spec["std"] = tuple(spec["mean"]), tuple(spec["std"])
        layers = tuple(ScanLayer(**{**layer, **{key: tuple(layer[key]) for key in (
            "rf_size", "rf_stride", "rf_start", "rf_jump")}}) for layer in data.pop("layers"))
        return cls(model_path=model_path, preference=preference, layers=layers,
                   spec=InputSpec(**spec), **data)

    @property
    def channels(self) -> int:
        """Channels over all scanned layers."""
        return sum(layer.channels for layer in self.layers)


@dataclass(frozen=True)
class ShardTask:
    """A run of consecutive images (indices into the sorted path list).

    ``floors`` (one (C,) array per layer, or empty) are the worst kept top-k
    keys of the scan when the shard was handed out: candidates at or below them
    cannot reach the scan's top-k, so the shard does not keep them.
    """

    shard: int
    indices: tuple[int, ...]
    paths: tuple[str, ...]
    floors: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)

    def under(self, topks: Sequence[TopK]) -> ShardTask:
        """This task with the floors of the scan's current top-k (``topks``, one per layer)."""
        return replace(self, floors=tuple(topk.worst().copy() for topk in topks))


@dataclass(frozen=True)
class ImageRecord:
    """What the scan learnt about one file: size, hash, status and its place in the input.

    ``width`` and ``height`` are the original image's (after EXIF orientation);
    ``scale`` and ``offset`` (y, x) map its pixels onto the model input.
    """

    index: int
    path: str
    size: int
    sha256: str
    status: ImageStatus
    reason: str = ""
    width: int = 0
    height: int = 0
    scale: tuple[float, float] = (1.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)

    def transform(self, input_size: tuple[int, int]) -> ImageTransform:
        """How the image maps onto the model input (``input = original * scale + offset``)."""
        return ImageTransform((self.height, self.width), input_size, self.scale, self.offset)


@dataclass(frozen=True)
class LayerPartial:
    """One layer's share of a shard: top-k, statistics and per-image vectors.

    ``maxima`` and ``means`` are float16 (images read, C) in the order of the
    shard's readable images.
    """

    topk: TopK
    stats: RunningStats
    maxima: np.ndarray
    means: np.ndarray


@dataclass(frozen=True)
class ShardResult:
    """A processed shard, ready to be merged and committed once."""

    shard: int
    images: tuple[ImageRecord, ...]
    layers: tuple[LayerPartial, ...]
    seconds: float
    provider: str

    @property
    def readable(self) -> tuple[int, ...]:
        """Indices of the shard's readable images, in order."""
        return tuple(r.index for r in self.images if r.status == "ok")


@dataclass(frozen=True)
class ScanSummary:
    """The outcome of :func:`engine.scan.run_scan`."""

    out: Path
    images: int
    readable: int
    unreadable: tuple[tuple[str, str], ...]
    layers: int
    channels: int
    shards: int
    resumed_shards: int
    seconds: float
    images_per_second: float
    provider: str
    workers: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    """One of a channel's top-k images.

    ``y``, ``x``: the arg-max in the layer's map; ``box`` (x0, y0, x1, y1):
    the receptive field around it in the original image's pixels.
    """

    rank: int
    image: int
    path: str
    score: float
    y: int
    x: int
    box: tuple[int, int, int, int]

    def as_json(self) -> dict[str, object]:
        """The example as the CLI prints it (``path``, ``score``, ``y``, ``x``, ``box``)."""
        return {"path": self.path, "score": self.score, "y": self.y, "x": self.x,
                "box": list(self.box)}


@dataclass(frozen=True)
class ChannelStatistics:
    """Dataset statistics of every channel of one layer (arrays of length C).

    Of the per-image scores (maximum over space): ``count``, ``mean``,
    ``variance``, ``maximum`` and ``fire_fraction`` (images scoring above 0);
    ``activation`` is the mean over images of each image's spatial mean.
    """

    layer: str
    count: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    maximum: np.ndarray
    fire_fraction: np.ndarray
    activation: np.ndarray

    def order(self, key: str) -> np.ndarray:
        """Channel indices sorted by ``key`` (``index`` or a statistic, largest first)."""
        if key == "index":
            return np.arange(len(self.count))
        values = {"mean": self.mean, "variance": self.variance, "max": self.maximum,
                  "fire_fraction": self.fire_fraction, "activation": self.activation}.get(key)
        if values is None:
            raise KeyError(key)
        return np.argsort(-np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf),
                          kind="stable")


#: The keys :meth:`ChannelStatistics.order` accepts.
SORT_KEYS = ("index", "max", "mean", "variance", "fire_fraction", "activation")
