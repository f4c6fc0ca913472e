"""A method declared in one module (tests/toy_method.py) shows up in the panel and runs.

The panel lists the engine's registry, generates the form from the method's specs and
runs it through the one engine entry point; nothing in the app names the method.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QComboBox, QSpinBox

from engine.attribution import registry
from engine.errors import InputError
from tests import toy_method
from tests.app.conftest import DEMO_IMAGE, DEMO_MODEL, LOAD_TIMEOUT_MS

RUN_TIMEOUT_MS = 60_000


def tooltip_text(tip: str) -> str:
    """The text a (rich-text) tool tip shows, its line breaks (wrapping) read as spaces."""
    doc = QTextDocument()
    doc.setHtml(tip)
    return " ".join(doc.toPlainText().split())


def test_a_method_added_in_one_module_is_listed_generated_and_run(make_window, qtbot,
                                                                  monkeypatch) -> None:
    toy = toy_method.METHOD
    monkeypatch.setitem(registry.METHODS, toy.name, toy)
    w = make_window()
    with qtbot.waitSignal(w.controller.mapsReady, timeout=LOAD_TIMEOUT_MS):
        w.open_paths([DEMO_MODEL, DEMO_IMAGE])
    panel = w.attribution

    index = panel.method.findData(toy.name)
    assert index >= 0 and panel.method.itemText(index) == toy.title
    assert toy.description in tooltip_text(panel.method.itemData(
        index, Qt.ItemDataRole.ToolTipRole))
    assert panel.select_method(toy.name)
    assert not panel.layer.isEnabled()  # not a CAM method

    # the form is generated from the two specs: widget, range, choices, default, tooltip
    specs = {spec.name: spec for spec in toy.params}
    assert panel.params.names() == ("level", "shade")
    level = panel.params.field("level")
    assert isinstance(level, QSpinBox)
    assert (level.minimum(), level.maximum(), level.value()) == (1, 9, 3)
    shade = panel.params.field("shade")
    assert isinstance(shade, QComboBox)
    assert [shade.itemText(i) for i in range(shade.count())] == ["warm", "cold", "grey"]
    assert shade.currentText() == "warm"
    for name, spec in specs.items():
        label = panel.params.label(name)
        assert label.text() == spec.label and label.buddy() is panel.params.field(name)
        for widget in (label, panel.params.field(name)):
            assert tooltip_text(widget.toolTip()) == " ".join(spec.describe().split())

    panel.update_cost()  # the toy's own estimate, through the engine's plan
    assert panel.cost.text() == "Cost: 1 forward pass (1 reference + 0 perturbed)"

    panel.params.set_value("level", 7)
    panel.params.set_value("shade", "cold")
    choice = w.state.attribution_choice
    assert choice is not None and choice.method == toy.name
    assert choice.params == (("level", 7), ("shade", "cold"))

    outcome: list[object] = []
    w.controller.attributionReady.connect(outcome.append)
    w.controller.attributionStopped.connect(outcome.append)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(outcome), timeout=RUN_TIMEOUT_MS)
    result = outcome[0]
    assert not isinstance(result, str), [n.message for n in w.notifier.history][-3:]
    assert result.method == toy.name and result.variant == "cold"
    assert result.params == (("level", 7), ("shade", "cold"))
    assert result.heatmap.shape == (224, 224) and np.all(result.heatmap == 7.0)
    assert result.perturbation_passes == 0 and result.forward_passes >= 1
    assert w.state.attributions[0] is result
    assert panel.view.shown is result
    assert np.array_equal(panel.view.main.heat.image, result.heatmap)
    assert panel.view.title.text().startswith(toy.title)


def test_refused_values_are_reported_with_the_specs_sentence(make_window, monkeypatch) -> None:
    toy = toy_method.METHOD
    monkeypatch.setitem(registry.METHODS, toy.name, toy)
    w = make_window()
    panel = w.attribution
    assert panel.select_method(toy.name)
    with pytest.raises(InputError, match="must lie in"):
        panel.params.set_value("level", 12)  # outside 1..9: the spin box cannot hold it
    with pytest.raises(InputError, match="must be one of warm, cold, grey"):
        panel.params.set_value("shade", "blue")
    with pytest.raises(InputError, match="no parameter colour"):
        panel.params.set_value("colour", "red")
    assert panel.params.values() == (("level", 3), ("shade", "warm"))
