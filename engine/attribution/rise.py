"""RISE: randomised input sampling, seeded, with maps for many classes at once.

Mask i: a binary s x s grid (each cell kept with probability p) bilinearly
upsampled to ((s + 1) * cell) pixels per side (cell = ceil(H / s)) and cropped
at a random shift in [0, cell). Expressed as ``rows_i @ grid_i @ cols_i`` with
shifted interpolation matrices, so the fused graph receives only the grids and
the two small matrices per item. saliency = sum_i score_i * M_i / (N * p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.attribution.context import Context
from engine.attribution.fused_graphs import COLS, GRIDS, IMAGE, ROWS, rise_graph
from engine.attribution.image_tensors import expand_mask
from engine.attribution.method_spec import Method, MethodOutput, PassQuery, fused_param, param
from engine.attribution.resample import interp_matrix
from engine.cancellation import CancelToken, ProgressCallback

_CHUNK = 64


@dataclass(frozen=True)
class MaskSet:
    """The seeded description of N RISE masks."""

    grids: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    row_shift: np.ndarray
    col_shift: np.ndarray
    probability: float

    def matrices(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grids [B, s, s], rows [B, H, s] and cols [B, s, W] (float32) of items ``idx``."""
        return (self.grids[idx], self.rows[self.row_shift[idx]],
                self.cols[self.col_shift[idx]])

    def masks(self, idx: np.ndarray) -> np.ndarray:
        """The masks [B, H, W] (float32) of items ``idx``."""
        grids, rows, cols = self.matrices(idx)
        masks: np.ndarray = np.matmul(np.matmul(rows, grids), cols)
        return masks


def make_masks(count: int, grid: int, probability: float, height: int, width: int,
               seed: int) -> MaskSet:
    """Draw ``count`` masks reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    grids = (rng.random((count, grid, grid)) < probability).astype(np.float32)
    cell_h, cell_w = math.ceil(height / grid), math.ceil(width / grid)
    row_shift = rng.integers(0, cell_h, count)
    col_shift = rng.integers(0, cell_w, count)
    scale_h, scale_w = (grid + 1) * cell_h / grid, (grid + 1) * cell_w / grid
    rows = np.stack([interp_matrix(grid, height, offset=dy, scale=scale_h)
                     for dy in range(cell_h)]).astype(np.float32)
    cols = np.stack([interp_matrix(grid, width, offset=dx, scale=scale_w).T
                     for dx in range(cell_w)]).astype(np.float32)
    return MaskSet(grids, rows, cols, row_shift, col_shift, probability)


def _classes_to_keep(ctx: Context, limit: int) -> np.ndarray:
    value = ctx.target.class_scores(ctx.outputs[ctx.target.output])[0]
    order = np.argsort(-value, kind="stable")
    chosen = order[:limit] if 0 < limit < len(order) else order
    if ctx.target.kind in ("class", "element") and ctx.target.index not in chosen:
        chosen = np.concatenate([chosen[:-1], [ctx.target.index]])
    return np.sort(chosen)


@dataclass(frozen=True)
class MaskParams:
    """The random masks' parameters, shared by RISE and D-RISE."""

    masks: int = param(1000, "int", "number of random masks", low=1, high=100000,
                       effect="more masks: a smoother map, one pass each")
    grid: int = param(7, "int", "mask grid cells per side", low=2, high=64,
                      effect="more cells: finer detail, noisier with few masks")
    probability: float = param(0.5, "float", "probability that a grid cell is kept",
                               low=0.01, high=1.0)
    seed: int = param(0, "int", "random seed (the same seed draws the same masks)", low=0)


@dataclass(frozen=True)
class RiseParams(MaskParams):
    """RISE's parameters: the masks, plus class maps and the fused switch."""

    class_maps: int = param(100, "int", "also keep maps for this many top classes from the "
                            "same passes (0: all classes)", low=0)
    fused: bool = fused_param()


def run(ctx: Context, params: RiseParams, progress: ProgressCallback,
        cancel: CancelToken) -> MethodOutput:
    """RISE with the given masks, grid, keep probability and seed."""
    del progress, cancel  # the context's batch loops report and check them
    return rise(ctx, params.masks, params.grid, params.probability, params.seed,
                params.class_maps, params.fused)


def estimate_passes(query: PassQuery, params: RiseParams) -> int:
    """One pass per mask."""
    del query
    return params.masks


def rise(ctx: Context, masks: int = 1000, grid: int = 7, probability: float = 0.5,
         seed: int = 0, class_maps: int = 100, fused: bool = True) -> MethodOutput:
    """Score ``masks`` randomly masked inputs and average the masks by score.

    Parameters
    ----------
    ctx
        Prepared model, input and target.
    masks, grid, probability, seed
        N, s, p and the generator seed.
    class_maps
        Also return maps for this many top-scoring classes of the target's
        output (0: every class); only for class outputs.
    fused
        Generate the masks inside the graph (else in numpy).
    """
    geo = ctx.geometry
    mask_set = make_masks(masks, grid, probability, geo.height, geo.width, seed)
    image = ctx.image()
    want_classes = ctx.target.kind == "class" and class_maps >= 0
    if fused and ctx.can_fuse():
        session = ctx.fused_session(f"rise:{grid}", lambda proto, elem, nodes: rise_graph(
            proto, ctx.main_input, geo, grid, ctx.target.output, elem, nodes))

        def feeds(idx: np.ndarray) -> dict[str, np.ndarray]:
            grids, rows, cols = mask_set.matrices(idx)
            return {GRIDS: grids, ROWS: rows, COLS: cols}

        scores, classes, size = ctx.fused_scores(session, masks, feeds, classes=want_classes,
                                                 message="rise", constants={IMAGE: image})
        path = "fused"
    else:
        scores, classes, size = ctx.plain_scores(
            masks, lambda idx: image * expand_mask(mask_set.masks(idx), geo),
            classes=want_classes, message="rise")
        path = "numpy"
    keep = _classes_to_keep(ctx, class_maps) if want_classes and classes is not None else None
    weights = scores[:, None] if keep is None or classes is None else \
        np.concatenate([scores[:, None], classes[:, keep]], axis=1)
    total = np.zeros((weights.shape[1], geo.height * geo.width))
    for start in range(0, masks, _CHUNK):
        ctx.cancel.check()
        idx = np.arange(start, min(start + _CHUNK, masks))
        chunk = mask_set.masks(idx).reshape(len(idx), -1).astype(np.float64)
        total += weights[idx].T @ chunk
    total /= masks * probability
    maps = total.reshape(-1, geo.height, geo.width).astype(np.float32)
    notes = [f"{masks} masks, grid {grid}, p={probability:g}, seed {seed}"]
    class_indices: tuple[int, ...] = ()
    extra = None
    if keep is not None:
        extra = maps[1:]
        class_indices = tuple(int(c) for c in keep)
        notes.append(f"class maps for {len(class_indices)} classes from the same passes")
    return MethodOutput(heatmap=maps[0], forward_passes=masks, batch_size=size, path=path,
                        notes=notes, class_maps=extra, class_indices=class_indices)


METHOD = Method(
    name="rise", title="RISE",
    description="Averages random masks weighted by the score of the masked input; one forward "
    "pass per mask, maps for many classes at once.",
    params_type=RiseParams, run=run, estimate_passes=estimate_passes)
