"""The model card: inputs, outputs, opsets, metadata, ops, file, provider."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QWidget

from app.state import AppState
from engine.types import RunInfo


def provider_text(run: RunInfo | None) -> str:
    """``CUDA (GPU name)`` or ``CPU (why not CUDA)``."""
    if run is None:
        return "not run yet"
    if run.provider == "CUDAExecutionProvider":
        return f"CUDA on {run.device_name}"
    reason = f" — CUDA unused: {run.fallback_reason}" if run.fallback_reason else ""
    return f"CPU{reason}"


def _as_run(value: object, verb: str) -> str:
    """`` — fed as 1×3×320×320`` for an array, else nothing."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return ""
    return f" — {verb} {'×'.join(str(int(d)) for d in shape)}"


class ModelCard(QTextBrowser):
    """Read-only HTML card bound to the state's model and run info."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setOpenExternalLinks(False)
        state.modelChanged.connect(self.refresh)
        state.mapsChanged.connect(self.refresh)
        state.labelsChanged.connect(self.refresh)
        state.predictionsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-render the card."""
        model = self.state.model
        if model is None:
            self.setHtml("<p>No model open. Use <b>File ▸ Open model…</b> (Ctrl+O) or drop an "
                         "<code>.onnx</code> file here.</p>")
            return
        info = model.info
        e = html.escape
        rows = [
            ("File", f"{e(str(info.path))}"),
            ("Size", f"{info.file_size / 1e6:.2f} MB"),
            ("sha256", f"<code>{e(info.sha256)}</code>"),
            ("Producer", e(f"{info.producer_name} {info.producer_version}".strip() or "—")),
            ("IR / opsets", e(f"IR {info.ir_version}; " + ", ".join(
                f"{d} {v}" for d, v in info.opsets))),
            ("Graph", e(info.graph_name or "—")),
            ("Provider", e(provider_text(self.state.run_info))),
            ("Labels", e(self.state.labels_source or "none")),
        ]
        parts = ["<h3>Model</h3><table cellspacing=4>"]
        parts += [f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows]
        fed = dict(self.state.prepared.feeds) if self.state.prepared is not None else {}
        made = dict(self.state.maps.outputs) if self.state.maps is not None else {}
        parts.append("</table><h4>Inputs</h4><ul>")
        parts += [f"<li><code>{e(t.name)}</code>: {e(str(t.dtype))} {e(t.shape_text())}"
                  f"{_as_run(fed.get(t.name), 'fed as')}</li>" for t in info.inputs]
        parts.append("</ul><h4>Outputs</h4><ul>")
        parts += [f"<li><code>{e(t.name)}</code>: {e(str(t.dtype))} {e(t.shape_text())}"
                  f"{_as_run(made.get(t.name), 'gives')}</li>" for t in info.outputs]
        parts.append("</ul>")
        predicted = self.state.predicted
        if predicted is not None:
            parts.append(f"<h4>Head</h4><p>{e(predicted.head.kind)}: "
                         f"{e(predicted.head.reason)}</p>")
        if info.metadata:
            parts.append("<h4>Metadata</h4><table cellspacing=3>")
            for key, value in info.metadata:
                short = value if len(value) <= 300 else value[:297] + "…"
                parts.append(f"<tr><td valign=top><code>{e(key)}</code></td>"
                             f"<td>{e(short)}</td></tr>")
            parts.append("</table>")
        parts.append(f"<h4>Operators ({info.node_count} nodes)</h4><p>")
        parts.append(", ".join(f"{e(op)} {n}" for op, n in info.op_counts))
        exposable = sum(1 for la in self.state.layers if la.exposable)
        parts.append(f"</p><p>{len(self.state.layers)} convolution layers, {exposable} shown.</p>")
        sized = [la for la in self.state.layers if la.exposable and la.shape is not None
                 and all(isinstance(d, int) for d in la.shape)]
        if self.state.prepared is not None and sized:
            parts.append(f"<p>At this input size the first shown layer gives "
                         f"{e('×'.join(map(str, sized[0].shape[1:])))}, the last "
                         f"{e('×'.join(map(str, sized[-1].shape[1:])))}.</p>")
        if model.warnings:
            parts.append("<h4>Warnings</h4><ul>")
            parts += [f"<li>{e(w)}</li>" for w in model.warnings]
            parts.append("</ul>")
        self.setHtml("".join(parts))
