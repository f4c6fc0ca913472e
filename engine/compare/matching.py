"""Match the conv layers of a reference model A with those of a candidate B.

In order: by name (node name, else the shown tensor, else the conv output; the
suffixes quantisers add such as ``_quant`` or ``_DequantizeLinear_Output`` are
ignored, so quantised layers match their float counterparts), then by position
in the conv-layer order with equal op kind and shape (an order-keeping
alignment of the rest), and what is left, for unrelated versions, by linear
CKA over the inputs (:mod:`engine.compare.cka`, done by the runner).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import onnx

from engine.compare.types import MatchKind
from engine.graph.suffix import topological_nodes
from engine.types import LayerInfo

#: Suffixes quantisers append to node and tensor names (longest first).
_QUANT_SUFFIXES = ("_output_quantized", "_DequantizeLinear_Output", "_QuantizeLinear_Output",
                   "_dequantized", "_quantized", "_quant")
#: Name matches, and then a position alignment, are kept only if they pair at least this
#: share of the (remaining) layers of the smaller model: unrelated exports reuse generic
#: names (``conv2d_3.tmp_0``) and shapes, which would pair unrelated layers.
NAME_COVERAGE = 0.5
POSITION_COVERAGE = 0.5
#: Below that coverage, position matches are kept in runs of at least this many
#: consecutive layers on both sides (a shared block: a head, a neck).
MIN_RUN = 3


@dataclass(frozen=True)
class LayerPair:
    """Two layers matched to each other, and how."""

    a: LayerInfo
    b: LayerInfo
    match: MatchKind
    cka: float | None = None


def normalized_name(name: str) -> str:
    """``name`` without the suffixes quantisers append."""
    changed = True
    while changed and name:
        changed = False
        for suffix in _QUANT_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def _kind(layer: LayerInfo) -> str:
    return "transpose" if layer.op_type == "ConvTranspose" else "conv"


def _resolution(layer: LayerInfo) -> tuple[int, ...] | None:
    """The layer's effective stride on the input (its resolution relative to the input)."""
    return layer.receptive_field.stride if layer.receptive_field is not None else None


def signature(layer: LayerInfo) -> tuple[object, ...]:
    """Op kind and shape of a layer: what a position match must agree on.

    The shape is the channel count, kernel, stride and group, plus the spatial
    size relative to the input (the effective stride), as symbolic dims leave
    the size itself unknown.
    """
    spatial = tuple(d if isinstance(d, int) else None for d in (layer.shape or ())[2:])
    return (_kind(layer), layer.channels, layer.kernel, layer.stride, layer.group, spatial,
            _resolution(layer))


def compatible(a: LayerInfo, b: LayerInfo) -> bool:
    """Same op kind and, where both are known, channels, kernel, stride, group and size."""
    if _kind(a) != _kind(b) or a.group != b.group:
        return False
    res_a, res_b = _resolution(a), _resolution(b)
    if res_a is not None and res_b is not None and res_a != res_b:
        return False
    if a.channels is not None and b.channels is not None and a.channels != b.channels:
        return False
    if a.kernel and b.kernel and (a.kernel != b.kernel or a.stride != b.stride):
        return False
    for da, db in zip((a.shape or ())[2:], (b.shape or ())[2:], strict=False):
        if isinstance(da, int) and isinstance(db, int) and da != db:
            return False
    return True


def topological_layers(model: onnx.ModelProto, layers: Iterable[LayerInfo]) -> list[LayerInfo]:
    """Exposable layers sorted by their conv node's place in a topological order."""
    order = {node.output[0]: i for i, node in enumerate(topological_nodes(model.graph))
             if node.output}
    chosen = [layer for layer in layers if layer.exposable]
    return sorted(chosen, key=lambda layer: (order.get(layer.conv_output, len(order)),
                                             layer.index))


def _by_key(layers_a: list[LayerInfo], layers_b: list[LayerInfo], taken_a: set[str],
            taken_b: set[str], keys: list[str]) -> list[LayerPair]:
    """One-to-one matches of compatible layers whose keys (attribute names) agree."""
    found: list[LayerPair] = []
    for attribute in keys:
        index: dict[str, list[LayerInfo]] = {}
        for layer in layers_b:
            value = getattr(layer, attribute)
            if layer.name not in taken_b and value:
                index.setdefault(normalized_name(value), []).append(layer)
        for layer in layers_a:
            value = getattr(layer, attribute)
            if layer.name in taken_a or not value:
                continue
            candidates = [b for b in index.get(normalized_name(value), [])
                          if b.name not in taken_b and compatible(layer, b)]
            if len(candidates) == 1:
                found.append(LayerPair(layer, candidates[0], "name"))
                taken_a.add(layer.name)
                taken_b.add(candidates[0].name)
    return found


def _cross_tensor(layers_a: list[LayerInfo], layers_b: list[LayerInfo], taken_a: set[str],
                  taken_b: set[str]) -> list[LayerPair]:
    """Shown tensor of one side named like the conv output of the other (fused activations)."""
    found: list[LayerPair] = []
    for layer in layers_a:
        if layer.name in taken_a:
            continue
        names = {normalized_name(layer.tensor), normalized_name(layer.conv_output)}
        candidates = [b for b in layers_b if b.name not in taken_b and compatible(layer, b)
                      and names & {normalized_name(b.tensor), normalized_name(b.conv_output)}]
        if len(candidates) == 1:
            found.append(LayerPair(layer, candidates[0], "name"))
            taken_a.add(layer.name)
            taken_b.add(candidates[0].name)
    return found


def _runs(pairs: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Split index pairs into runs of consecutive layers on both sides."""
    runs: list[list[tuple[int, int]]] = []
    for i, j in pairs:
        if runs and runs[-1][-1] == (i - 1, j - 1):
            runs[-1].append((i, j))
        else:
            runs.append([(i, j)])
    return runs


def _aligned(rest_a: list[LayerInfo], rest_b: list[LayerInfo]) -> list[LayerPair]:
    """Longest order-keeping alignment of equal signatures (see :func:`match_layers`)."""
    sig_a = [signature(layer) for layer in rest_a]
    sig_b = [signature(layer) for layer in rest_b]
    rows, cols = len(sig_a), len(sig_b)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            table[i][j] = (table[i + 1][j + 1] + 1 if sig_a[i] == sig_b[j]
                           else max(table[i + 1][j], table[i][j + 1]))
    found: list[tuple[int, int]] = []
    i = j = 0
    while i < rows and j < cols:
        if sig_a[i] == sig_b[j]:
            found.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    if len(found) < POSITION_COVERAGE * min(rows, cols):
        found = [pair for run in _runs(found) if len(run) >= MIN_RUN for pair in run]
    return [LayerPair(rest_a[i], rest_b[j], "position") for i, j in found]


def match_layers(layers_a: list[LayerInfo], layers_b: list[LayerInfo],
                 methods: tuple[str, ...] = ("name", "position")
                 ) -> tuple[list[LayerPair], list[LayerInfo], list[LayerInfo]]:
    """Match by name, then by position; return pairs (A order) and the unmatched layers.

    Parameters
    ----------
    layers_a, layers_b
        Exposable layers of A and B in topological order.
    methods
        Which of ``name`` and ``position`` to use.

    Name matches are dropped when they pair less than :data:`NAME_COVERAGE` of
    the smaller model's layers (coincidental generic names). The position
    alignment is the longest order-keeping one of equal signatures; when it
    pairs less than :data:`POSITION_COVERAGE` of the rest, only its runs of at
    least :data:`MIN_RUN` consecutive layers are kept (a shared head or neck
    of otherwise unrelated versions).

    Returns
    -------
    (pairs, rest_a, rest_b)
        Pairs in A's order; layers of A and of B left unmatched, in order.
    """
    taken_a: set[str] = set()
    taken_b: set[str] = set()
    pairs: list[LayerPair] = []
    if "name" in methods:
        pairs += _by_key(layers_a, layers_b, taken_a, taken_b, ["name", "node_name"])
        pairs += _by_key(layers_a, layers_b, taken_a, taken_b, ["tensor", "conv_output"])
        pairs += _cross_tensor(layers_a, layers_b, taken_a, taken_b)
        if len(pairs) < NAME_COVERAGE * min(len(layers_a), len(layers_b)):
            pairs, taken_a, taken_b = [], set(), set()
    rest_a = [layer for layer in layers_a if layer.name not in taken_a]
    rest_b = [layer for layer in layers_b if layer.name not in taken_b]
    if "position" in methods and rest_a and rest_b:
        aligned = _aligned(rest_a, rest_b)
        if aligned:
            pairs += aligned
            taken_a.update(p.a.name for p in aligned)
            taken_b.update(p.b.name for p in aligned)
            rest_a = [layer for layer in rest_a if layer.name not in taken_a]
            rest_b = [layer for layer in rest_b if layer.name not in taken_b]
    return sort_pairs(pairs, layers_a), rest_a, rest_b


def sort_pairs(pairs: list[LayerPair], layers_a: list[LayerInfo]) -> list[LayerPair]:
    """Pairs in the order of A's layers."""
    order = {layer.name: i for i, layer in enumerate(layers_a)}
    return sorted(pairs, key=lambda pair: order[pair.a.name])
