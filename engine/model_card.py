"""Plain-data and text renderings of model cards and layer tables (for CLI and JSON)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from engine.types import LayerInfo, LayerStats, ModelInfo, TensorInfo


def tensor_dict(tensor: TensorInfo) -> dict[str, Any]:
    """A JSON-ready dict of a graph input or output."""
    return {"name": tensor.name, "dtype": tensor.dtype, "shape": list(tensor.shape)}


def layer_dict(layer: LayerInfo) -> dict[str, Any]:
    """A JSON-ready dict of a layer's catalogue entry."""
    data = asdict(layer)
    data["shape"] = None if layer.shape is None else list(layer.shape)
    for key in ("kernel", "stride", "dilation"):
        data[key] = list(data[key])
    data["receptive_field"] = (None if layer.receptive_field is None else
                               {"size": list(layer.receptive_field.size),
                                "stride": list(layer.receptive_field.stride)})
    return data


def model_card(info: ModelInfo, warnings: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON-ready model card."""
    return {
        "path": str(info.path), "file_size": info.file_size, "sha256": info.sha256,
        "ir_version": info.ir_version, "opsets": dict(info.opsets),
        "producer": f"{info.producer_name} {info.producer_version}".strip(),
        "graph_name": info.graph_name, "doc_string": info.doc_string,
        "metadata": dict(info.metadata),
        "inputs": [tensor_dict(t) for t in info.inputs],
        "outputs": [tensor_dict(t) for t in info.outputs],
        "op_counts": dict(info.op_counts), "node_count": info.node_count,
        "external_data": list(info.external_data), "warnings": list(warnings),
    }


def stats_dict(stats: LayerStats) -> dict[str, Any]:
    """Layer-level statistics as a JSON-ready dict."""
    return {"min": stats.layer_min, "max": stats.layer_max, "mean": stats.layer_mean,
            "std": stats.layer_std, "zero_fraction": stats.layer_zero_fraction,
            "dead_channels": stats.dead_count, "channels": len(stats.mean)}


def _dims(shape: tuple[object, ...] | None) -> str:
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape)


def card_text(info: ModelInfo, layers: tuple[LayerInfo, ...], warnings: tuple[str, ...] = ()
              ) -> str:
    """The model card and the layer table as aligned text."""
    mb = info.file_size / 1e6
    lines = [
        f"Model      {info.path.name}  ({mb:.1f} MB, sha256 {info.sha256[:16]}...)",
        f"Producer   {info.producer_name} {info.producer_version}".rstrip(),
        f"IR/opset   IR {info.ir_version}; " + ", ".join(f"{d} {v}" for d, v in info.opsets),
    ]
    for t in info.inputs:
        lines.append(f"Input      {t.name}: {t.dtype} {t.shape_text()}")
    for t in info.outputs:
        lines.append(f"Output     {t.name}: {t.dtype} {t.shape_text()}")
    for key, value in info.metadata:
        short = value if len(value) <= 80 else value[:77] + "..."
        lines.append(f"Metadata   {key} = {short}")
    if info.external_data:
        lines.append(f"Ext. data  {', '.join(info.external_data)}")
    ops = ", ".join(f"{op} {n}" for op, n in info.op_counts[:12])
    lines.append(f"Ops        {info.node_count} nodes: {ops}")
    for warning in warnings:
        lines.append(f"Warning    {warning}")
    lines.append("")
    header = f"{'#':>3}  {'layer':<28} {'op':<13} {'act':<10} {'shape':<18} {'k/s/g':<10} " \
             f"{'RF':<9} stage"
    lines.append(header)
    lines.append("-" * len(header))
    for layer in layers:
        kernel = "x".join(map(str, layer.kernel)) or "?"
        ks = f"{kernel}/{max(layer.stride, default=1)}/{layer.group}"
        rf = "-" if layer.receptive_field is None else \
            f"{max(layer.receptive_field.size)}@{max(layer.receptive_field.stride)}"
        name = layer.name if len(layer.name) <= 28 else layer.name[:25] + "..."
        row = (f"{layer.index:>3}  {name:<28} {layer.op_type:<13} "
               f"{(layer.activation_op or '-')[:10]:<10} {_dims(layer.shape):<18} {ks:<10} "
               f"{rf:<9} {layer.stage if layer.stage >= 0 else '-'}")
        if not layer.exposable:
            row += f"  (not exposable: {layer.reason})"
        lines.append(row)
    exposable = sum(1 for layer in layers if layer.exposable)
    lines.append(f"{len(layers)} convolution layers, {exposable} exposable")
    return "\n".join(lines)
