"""The Help menu's pages: keyboard shortcuts, how to read the views, facts about this install.

The attribution part of "How to read these views" is generated from the engine's
registry (:data:`engine.attribution.registry.METHODS`), so a new method is described
there without an edit here. Pages open in non-modal windows (the app keeps running).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QTextBrowser, QVBoxLayout, QWidget

from engine.attribution import registry
from engine.version import __version__


def shortcuts_html(actions: list[QAction]) -> str:
    """A table of every action that has a shortcut: keys, name, what it does."""
    rows = []
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if not keys:
            continue
        name = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        rows.append(f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(name)}</td>"
                    f"<td>{html.escape(action.toolTip() if action.toolTip() != name else '')}"
                    "</td></tr>")
    return ("<h3>Keyboard shortcuts</h3><table cellspacing=6>" + "".join(rows) + "</table>"
            "<p>In the layer list, the arrow keys move between layers. Text fields keep their "
            "own editing keys (Ctrl+A, Ctrl+E, Ctrl+K, ...): no menu shortcut uses them.</p>")


def methods_html() -> str:
    """What each registered attribution method computes and what it costs."""
    items = []
    for method in registry.METHODS.values():
        layer = " It explains through a layer's activations (a CAM method): choose the " \
            "layer, or leave the engine's default." if method.needs_layer else ""
        params = ", ".join(html.escape(p.label.lower()) for p in method.params)
        items.append(f"<li><b>{html.escape(method.title)}</b> — "
                     f"{html.escape(method.description)}{html.escape(layer)}"
                     + (f" Parameters: {params}." if params else "") + "</li>")
    return "<h4>Attribution methods</h4><ul>" + "".join(items) + "</ul>"


def reading_guide_html() -> str:
    """A short guide to the views: feature maps, receptive field, predictions, heatmaps."""
    return f"""<h3>How to read these views</h3>
<h4>Feature maps (centre)</h4>
<p>Each tile is one channel of the chosen convolution layer: how strongly that channel's
filter responds at each place of the input. Bright is strong. With normalisation
<i>channel</i> every tile uses its own range (compare shapes, not strengths); with
<i>layer</i> one range for the whole layer (compare strengths); the colour bar says which.
A red ✕ marks a dead channel: the same value everywhere on this input.</p>
<h4>Receptive field</h4>
<p>A layer's receptive field (tool tip in the layer list and the chart under the mosaic) is
the patch of input pixels that can influence one value of its map. Early layers see small
patches (edges, colours); late layers see most of the image (parts, objects). The map side
in the chart is the map's size at the input size in use.</p>
<h4>Channel (right)</h4>
<p>One channel over the input at its real values (colour bar), with its histogram against
the whole layer's.</p>
<h4>Input and predictions (right)</h4>
<p>The image exactly as the model receives it (after resizing and padding), with what the
model predicts drawn over it: boxes with labels and scores for detectors, the score map of a
map output, the characters a text recogniser read under the line, the top classes of a
classifier. Under each part of the input spec a grey line says why it was chosen.</p>
<h4>Attribution (right)</h4>
<p>A heatmap of which input regions matter for one prediction (the target; the top
prediction unless you choose another, or click one in the input view). The colour bar
gives the method's raw values; a flat map means the chosen layer does not respond to the
target. Earlier results stay below for comparison, labelled with method, layer and
target.</p>
{methods_html()}"""


class HelpWindow(QDialog):
    """A non-modal window showing one help page (rich text, links not followed)."""

    def __init__(self, title: str, page: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        self.resize(640, 560)

    def set_page(self, page: str) -> None:
        """Replace the shown page."""
        self.browser.setHtml(page)


def about_html(facts: str) -> str:
    """Version and the ``--info`` facts (plain text shown literally)."""
    return (f"<h3>Featurescope {html.escape(__version__)}</h3><p>Feature maps, predictions "
            "and attributions of ONNX vision models.</p><h4>This installation</h4>"
            f"<pre>{html.escape(facts)}</pre>")
