"""A generated model whose channels detect known things, and images that contain them.

``detector_model()`` takes raw RGB pixels (0..255, 64x64, preset ``raw``):

* ``color`` (1x1 conv + Relu): channel 0 ``R - G - B`` (a red blob), channel 1
  ``G - R - B`` (green), channel 2 all zeros (a dead channel: every image ties),
  channel 3 ``B - R - G`` (blue);
* ``edge`` (3x3 valid conv + Relu): a Sobel-x of the grey value, i.e. a vertical
  edge from dark (left) to bright (right);
* ``pool`` (3x3 stride-2 conv + Relu over ``color``): the sum of the red
  channel over 3x3 neighbourhoods, at half resolution.

``write_dataset(folder)`` writes images on a grey background: red squares of
known redness at known places, vertical edges of known strength at known
columns, and plain ones; :data:`RED` and :data:`EDGES` say where.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper
from PIL import Image

from tests._onnx_build import GraphBuilder, make_model, value_info

SIZE = 64
BACKGROUND = 128
SQUARE = 6


@dataclass(frozen=True)
class Red:
    """A red square: file name, top-left (y, x), red value (its score)."""

    name: str
    y: int
    x: int
    red: int


@dataclass(frozen=True)
class Edge:
    """A vertical edge: file name, first bright column, bright value."""

    name: str
    column: int
    bright: int
    dark: int = 40

    @property
    def score(self) -> float:
        """Sobel-x response of the step (weights 1, 2, 1 on the grey value)."""
        return 4.0 * (self.bright - self.dark)


RED = tuple(Red(f"red_{i:02d}.png", 5 + 4 * i, 50 - 5 * i, 255 - 12 * i) for i in range(7))
EDGES = tuple(Edge(f"edge_{i:02d}.png", 10 + 6 * i, 250 - 15 * i) for i in range(6))
PLAIN = tuple(f"plain_{i:02d}.png" for i in range(3))


def detector_model() -> onnx.ModelProto:
    """The detector model (opset 17, batch free)."""
    g = GraphBuilder(0)
    color_w = np.zeros((4, 3, 1, 1), np.float32)
    color_w[0, :, 0, 0] = (1, -1, -1)
    color_w[1, :, 0, 0] = (-1, 1, -1)
    color_w[3, :, 0, 0] = (-1, -1, 1)
    color = g.op("Relu", [g.conv("input", 3, 4, 1, name="color", weight=color_w,
                                 bias=np.zeros(4, np.float32))])
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    edge_w = np.repeat(sobel[None, None] / 3.0, 3, axis=1)  # grey = mean of R, G, B
    edge = g.op("Relu", [g.conv("input", 3, 1, 3, pad=0, name="edge", weight=edge_w,
                                bias=np.zeros(1, np.float32))])
    pool_w = np.zeros((2, 4, 3, 3), np.float32)
    pool_w[0, 0] = 1.0
    pool_w[1, 1] = 1.0
    pool = g.op("Relu", [g.conv(color, 4, 2, 3, stride=2, pad=1, name="pool", weight=pool_w,
                                bias=np.zeros(2, np.float32))])
    outputs = [g.op("GlobalAveragePool", [pool], name="pool_mean"),
               g.op("GlobalAveragePool", [edge], name="edge_mean")]
    graph = g.graph("detector", [value_info("input", ["batch", 3, SIZE, SIZE])],
                    [value_info(outputs[0], ["batch", 2, 1, 1]),
                     value_info(outputs[1], ["batch", 1, 1, 1])], outputs[0])
    model = make_model(graph)
    helper.set_model_props(model, {"featurescope.input_spec": json.dumps(
        {"preset": "raw", "resize": "stretch", "size": [SIZE, SIZE]})})
    return model


def write_model(folder: Path) -> Path:
    """Save the detector model as ``folder/detector.onnx``."""
    path = folder / "detector.onnx"
    onnx.save(detector_model(), path)
    return path


def _canvas() -> np.ndarray:
    return np.full((SIZE, SIZE, 3), BACKGROUND, np.uint8)


def write_dataset(folder: Path, copies: int = 1) -> list[Path]:
    """Write the images (``copies`` > 1 adds shifted plain copies for volume)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for red in RED:
        pixels = _canvas()
        pixels[red.y:red.y + SQUARE, red.x:red.x + SQUARE] = (red.red, 0, 0)
        written.append(folder / red.name)
        Image.fromarray(pixels).save(written[-1])
    for edge in EDGES:
        pixels = _canvas()
        pixels[:, :edge.column] = edge.dark
        pixels[:, edge.column:] = edge.bright
        written.append(folder / edge.name)
        Image.fromarray(pixels).save(written[-1])
    rng = np.random.default_rng(3)
    for name in PLAIN:
        written.append(folder / name)
        Image.fromarray(_canvas()).save(written[-1])
    for i in range(copies - 1):
        # Faint noise: nothing reaches the detectors' known maxima.
        noise = rng.integers(-6, 7, (SIZE, SIZE, 3))
        pixels = np.clip(BACKGROUND + noise, 0, 255).astype(np.uint8)
        written.append(folder / f"zz_noise_{i:04d}.png")
        Image.fromarray(pixels).save(written[-1])
    return written
