"""Receptive-field centres (padding, SAME padding, strides) and boxes through a resize."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scan.examples import receptive_box
from engine.scan.fields import field_starts
from engine.scan.records import ImageRecord, ScanLayer
from engine.types import InputSpec
from tests._onnx_build import GraphBuilder, make_model, value_info


def test_padding_and_strides_place_each_position_over_the_pixels_it_reads() -> None:
    g = GraphBuilder(0)
    same = g.op("Conv", ["input", g.const("W", np.ones((1, 1, 3, 3), np.float32))],
                name="same", auto_pad="SAME_UPPER", strides=[2, 2])
    valid = g.conv(same, 1, 1, 3, pad=0, name="valid")
    pooled = g.op("MaxPool", [valid], name="pool", kernel_shape=[2, 2], strides=[2, 2])
    model = make_model(g.graph("f", [value_info("input", [1, 1, 8, 8])],
                               [value_info(pooled, None)], pooled))
    shapes = {"input": [1, 1, 8, 8], same: [1, 1, 4, 4], valid: [1, 1, 2, 2]}
    fields = field_starts(model, "input", shapes)
    # SAME_UPPER, stride 2 on 8 pixels: total padding 1, all of it at the end, so
    # position 0 reads pixels 0..2 (centre 1.5) and position j reads 2j..2j+2.
    assert fields[same] == ((1.5, 2.0), (1.5, 2.0))
    # a valid 3x3 conv on that grid: position 0 reads same-positions 0..2 (centre 1)
    assert fields[valid] == ((3.5, 2.0), (3.5, 2.0))
    # 2x2 pooling, stride 2: between valid-positions 0 and 1
    assert fields[pooled] == ((4.5, 4.0), (4.5, 4.0))


@pytest.mark.parametrize(("resize", "size", "scale", "offset", "box"), [
    # 256x128 stretched to 64x64: x / 4, y / 2
    ("stretch", (128, 256), (0.5, 0.25), (0.0, 0.0), (36, 38, 52, 46)),
    # 256x208 letterboxed into 64x64: scale 1/4, 12 rows of padding on top
    ("letterbox", (208, 256), (0.25, 0.25), (12.0, 0.0), (36, 28, 52, 44)),
])
def test_boxes_map_back_through_the_resize(resize: str, size: tuple[int, int],
                                           scale: tuple[float, float],
                                           offset: tuple[float, float],
                                           box: tuple[int, int, int, int]) -> None:
    layer = ScanLayer(0, "l", "t", 1, 32, 32, (4, 4), (2, 2), (1.0, 1.0), (2.0, 2.0))
    spec = InputSpec(height=64, width=64, resize=resize)  # type: ignore[arg-type]
    image = ImageRecord(0, "a.png", 1, "", "ok", "", size[1], size[0], scale, offset)
    # position (10, 5) is centred at input (21, 11): its 4x4 field is input y 19..23, x 9..13
    assert receptive_box(layer, 10, 5, spec, image) == box
    # a field reaching past the image is clipped to it
    assert receptive_box(layer, 0, 0, spec, image)[:2] == (0, 0)
