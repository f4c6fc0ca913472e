"""Read a scan back: a channel's top-k examples, their boxes, crops and contact sheet."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.atomic_files import atomic_directory, png_bytes, write_json_atomic
from engine.cancellation import CancelToken, ensure_token
from engine.colormaps import lookup_table
from engine.errors import EngineError, InputError
from engine.featuremaps import extract_feature_maps
from engine.images import load_image
from engine.model_io import LoadedModel
from engine.preprocess import prepare_input
from engine.providers import ProviderPreference
from engine.scan.records import ChannelStatistics, Example, ImageRecord, ScanLayer
from engine.scan.store import ScanStore
from engine.types import InputSpec

#: Opacity of the activation drawn over a crop.
OVERLAY_ALPHA = 0.45
TILE = 160


def receptive_box(layer: ScanLayer, y: int, x: int, spec: InputSpec, image: ImageRecord
                  ) -> tuple[int, int, int, int]:
    """The receptive field around map position (y, x) in the original image's pixels.

    The field (``layer.rf_size`` input pixels) is centred on the position's
    centre in the model input, mapped back through the image's resize
    (stretch, centre crop, letterbox...) and clipped to the image.

    Returns
    -------
    tuple of int
        ``(x0, y0, x1, y1)``, end-exclusive, at least one pixel wide.
    """
    width, height = image.width, image.height
    if width <= 0 or height <= 0:
        return 0, 0, 0, 0
    size_y, size_x = layer.rf_size
    if size_y < 0 or size_x < 0:
        return 0, 0, width, height
    cy = layer.rf_start[0] + y * layer.rf_jump[0]
    cx = layer.rf_start[1] + x * layer.rf_jump[1]
    transform = image.transform((spec.height, spec.width))
    x0, y0, x1, y1 = transform.box_to_original(
        (cx - size_x / 2, cy - size_y / 2, cx + size_x / 2, cy + size_y / 2))
    left = min(max(0, math.floor(x0 + 1e-6)), width - 1)
    top = min(max(0, math.floor(y0 + 1e-6)), height - 1)
    right = max(left + 1, min(width, math.ceil(x1 - 1e-6)))
    bottom = max(top + 1, min(height, math.ceil(y1 - 1e-6)))
    return left, top, right, bottom


def _channel(store: ScanStore, layer: ScanLayer, channel: int) -> int:
    if not 0 <= channel < layer.channels:
        raise InputError(f"Layer '{layer.name}' has channels 0 to {layer.channels - 1}; "
                         f"{channel} is not one of them.")
    return channel


def read_examples(store: ScanStore, layer_name: str, channel: int) -> tuple[Example, ...]:
    """A channel's top-k images, best first (as far as the scan has got).

    Raises
    ------
    InputError
        Unknown layer or channel.
    """
    layer = store.layer(layer_name)
    _channel(store, layer, channel)
    topk, _ = store.layer_state(layer)
    scores, images = topk.scores()[channel], topk.images()[channel]
    kept = [i for i in range(len(images)) if images[i] >= 0]
    records = store.image_records([int(images[i]) for i in kept])
    spec = store.spec
    examples = []
    for rank, i in enumerate(kept):
        record = records[int(images[i])]
        y, x = int(topk.y[channel, i]), int(topk.x[channel, i])
        examples.append(Example(rank=rank, image=int(images[i]), path=record.path,
                                score=float(scores[i]), y=y, x=x,
                                box=receptive_box(layer, y, x, spec, record)))
    return tuple(examples)


def channel_statistics(store: ScanStore, layer_name: str) -> ChannelStatistics:
    """Dataset statistics of every channel of a layer."""
    layer = store.layer(layer_name)
    _, stats = store.layer_state(layer)
    return ChannelStatistics(
        layer=layer.name, count=stats.count, mean=stats.mean, variance=stats.variance(),
        maximum=np.where(np.isfinite(stats.maximum), stats.maximum, np.nan),
        fire_fraction=stats.fire_fraction(), activation=stats.activation)


def _overlay(crop: np.ndarray, values: np.ndarray, peak: float) -> np.ndarray:
    """Blend a colour-mapped activation (same size as ``crop``) over it."""
    scale = peak if peak > 0 else float(np.max(values, initial=0.0))
    norm = np.clip(values / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(values)
    colours = lookup_table("inferno")[np.round(norm * 255).astype(np.uint8)].astype(np.float32)
    alpha = OVERLAY_ALPHA * norm[..., None]
    blended = crop.astype(np.float32) * (1 - alpha) + colours * alpha
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _map_on_image(channel_map: np.ndarray, layer: ScanLayer, image: ImageRecord,
                  box: tuple[int, int, int, int]) -> np.ndarray:
    """The map's values over the pixels of ``box``, each position drawn around its field's
    centre (nearest position; zero outside the map)."""
    x0, y0, x1, y1 = box
    mh, mw = channel_map.shape
    tx = (np.arange(x0, x1) + 0.5) * image.scale[1] + image.offset[1]
    ty = (np.arange(y0, y1) + 0.5) * image.scale[0] + image.offset[0]
    cols = np.floor((tx - layer.rf_start[1]) / layer.rf_jump[1] + 0.5).astype(np.int64)
    rows = np.floor((ty - layer.rf_start[0]) / layer.rf_jump[0] + 0.5).astype(np.int64)
    inside_x = (cols >= 0) & (cols < mw)
    inside_y = (rows >= 0) & (rows < mh)
    values: np.ndarray = channel_map[np.clip(rows, 0, mh - 1)[:, None],
                                     np.clip(cols, 0, mw - 1)[None, :]]
    return np.where(inside_y[:, None] & inside_x[None, :], values, 0.0)


def example_crops(store: ScanStore, examples: tuple[Example, ...], layer_name: str,
                  channel: int, model: LoadedModel | None = None,
                  preference: ProviderPreference = "auto", cancel: CancelToken | None = None
                  ) -> list[np.ndarray | None]:
    """The receptive-field crop of each example (uint8 RGB), with the activation overlaid.

    With ``model`` (the scan's model), each image is run once more to draw the
    channel's map over its crop; without it the crops are plain. An image
    that cannot be read any more gives None.
    """
    token = ensure_token(cancel)
    layer = store.layer(layer_name)
    spec = store.spec
    records = store.image_records([e.image for e in examples])
    crops: list[np.ndarray | None] = []
    for example in examples:
        token.check()
        try:
            pixels, _ = load_image(example.path)
        except EngineError:
            crops.append(None)
            continue
        x0, y0, x1, y1 = example.box
        crop = np.clip(np.round(pixels[y0:y1, x0:x1]), 0, 255).astype(np.uint8)
        if model is not None:
            prepared = prepare_input(model.info, example.path, spec)
            maps = extract_feature_maps(model, prepared, [layer.name], preference, cancel=token)
            data = maps.layers[0].data
            channel_map = data[channel] if data.ndim == 3 else data[channel][None, :]
            crop = _overlay(crop, _map_on_image(channel_map, layer, records[example.image],
                                                example.box), example.score)
        crops.append(crop)
    return crops


def _tile(crop: np.ndarray | None, caption: str) -> Image.Image:
    tile = Image.new("RGB", (TILE, TILE + 18), (24, 24, 24))
    if crop is not None and crop.size:
        image = Image.fromarray(crop)
        image.thumbnail((TILE, TILE), Image.Resampling.NEAREST if max(crop.shape[:2]) < TILE
                        else Image.Resampling.BILINEAR)
        if max(image.size) < TILE:
            factor = TILE / max(image.size)
            image = image.resize((max(1, round(image.width * factor)),
                                  max(1, round(image.height * factor))), Image.Resampling.NEAREST)
        tile.paste(image, ((TILE - image.width) // 2, (TILE - image.height) // 2))
    ImageDraw.Draw(tile).text((4, TILE + 3), caption, fill=(230, 230, 230))
    return tile


def contact_sheet(crops: list[np.ndarray | None], examples: tuple[Example, ...],
                  columns: int = 4) -> np.ndarray:
    """The crops as one captioned grid (uint8 RGB)."""
    count = max(1, len(crops))
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    sheet = Image.new("RGB", (cols * (TILE + 4) + 4, rows * (TILE + 22) + 4), (12, 12, 12))
    for i, (crop, example) in enumerate(zip(crops, examples, strict=True)):
        r, c = divmod(i, cols)
        caption = f"#{example.rank + 1}  {example.score:.4g}"
        sheet.paste(_tile(crop, caption), (4 + c * (TILE + 4), 4 + r * (TILE + 22)))
    return np.asarray(sheet)


def write_examples(folder: str | os.PathLike[str], examples: tuple[Example, ...],
                   crops: list[np.ndarray | None]) -> Path:
    """Write the crops as PNGs, a contact sheet and ``examples.json`` (atomically)."""
    with atomic_directory(Path(folder)) as work:
        for example, crop in zip(examples, crops, strict=True):
            if crop is not None:
                (work / f"{example.rank + 1:03d}_{Path(example.path).stem[:60]}.png"
                 ).write_bytes(png_bytes(crop))
        (work / "contact_sheet.png").write_bytes(png_bytes(contact_sheet(crops, examples)))
        write_json_atomic(work / "examples.json", [e.as_json() for e in examples])
    return Path(folder)
