"""The model's image input as attribution sees it: layout, channels, height, width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.errors import UnsupportedModelError
from engine.input_spec import detect_layout
from engine.model_io import LoadedModel
from engine.types import InputSpec, PreparedInput

Layout = Literal["NCHW", "NHWC"]


@dataclass(frozen=True)
class ImageGeometry:
    """Layout, channels and spatial size of the model's image input."""

    layout: Layout
    channels: int
    height: int
    width: int

    def image_shape(self, batch: int | str = 1) -> list[int | str]:
        """The full tensor shape with ``batch`` as the first dim."""
        if self.layout == "NCHW":
            return [batch, self.channels, self.height, self.width]
        return [batch, self.height, self.width, self.channels]

    def mask_shape(self) -> list[int]:
        """Reshape target of a per-item [B, H, W] mask to broadcast over channels."""
        if self.layout == "NCHW":
            return [-1, 1, self.height, self.width]
        return [-1, self.height, self.width, 1]

    def channel_shape(self) -> list[int]:
        """Shape of per-channel constants broadcast over an image tensor."""
        return [1, self.channels, 1, 1] if self.layout == "NCHW" else [1, 1, 1, self.channels]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.height, self.width


def main_input(model: LoadedModel, prepared: PreparedInput) -> str:
    """The input that attribution perturbs: the first rank-4 fed tensor."""
    feeds = prepared.feed_dict()
    for tensor in model.info.inputs:
        value = feeds.get(tensor.name)
        if value is not None and value.ndim == 4:
            return tensor.name
    return model.info.inputs[0].name


def input_geometry(value: np.ndarray, spec: InputSpec | None) -> ImageGeometry:
    """Layout and size of an image tensor ``value`` (layout from ``spec`` when given).

    Raises
    ------
    UnsupportedModelError
        ``value`` is not a rank-4 tensor.
    """
    if value.ndim != 4:
        raise UnsupportedModelError(
            "Attribution needs an image input (a rank-4 tensor); this model's first input "
            f"has shape {list(value.shape)}.")
    layout = spec.layout if spec is not None else detect_layout(tuple(value.shape))
    if layout == "NCHW":
        return ImageGeometry("NCHW", value.shape[1], value.shape[2], value.shape[3])
    return ImageGeometry("NHWC", value.shape[3], value.shape[1], value.shape[2])


def prepared_geometry(model: LoadedModel, prepared: PreparedInput) -> ImageGeometry:
    """The geometry of ``prepared``'s main input (see :func:`main_input`)."""
    feeds = prepared.feed_dict()
    return input_geometry(feeds[main_input(model, prepared)], prepared.spec)
