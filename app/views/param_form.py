"""Editors for attribution method parameters, built from the registry's parameter specs."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from app.attribution_api import ParamInfo
from engine.errors import InputError


def format_value(value: object) -> str:
    """Text for a tuple/list/str parameter value."""
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def parse_like(text: str, default: object, name: str) -> object:
    """Parse ``text`` into the type of ``default`` (tuples of numbers, numbers, text)."""
    text = text.strip()
    if isinstance(default, tuple | list):
        parts = [p for p in text.replace(";", ",").replace("x", ",").split(",") if p.strip()]
        kinds = [type(v) for v in default] or [int]
        try:
            values = [kinds[min(i, len(kinds) - 1)](p.strip()) for i, p in enumerate(parts)]
        except ValueError as exc:
            raise InputError(f"Parameter '{name}' needs numbers separated by commas.") from exc
        return tuple(values)
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError as exc:
            raise InputError(f"Parameter '{name}' needs a whole number.") from exc
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError as exc:
            raise InputError(f"Parameter '{name}' needs a number.") from exc
    if default is None and text == "":
        return None
    return text


class ParamForm(QWidget):
    """A form with one editor per parameter; ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._form = QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._editors: dict[str, tuple[ParamInfo, QWidget]] = {}

    def set_params(self, params: tuple[ParamInfo, ...]) -> None:
        """Replace the editors with those of ``params`` at their defaults."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self._editors.clear()
        for p in params:
            editor = self._editor(p)
            editor.setToolTip(p.description or p.name)
            editor.setObjectName(f"param_{p.name}")
            self._form.addRow(p.name.replace("_", " "), editor)
            self._editors[p.name] = (p, editor)

    def _editor(self, p: ParamInfo) -> QWidget:
        d = p.default
        if p.choices:
            box = QComboBox(self)
            box.addItems([str(c) for c in p.choices])
            box.setCurrentText(str(d))
            box.currentTextChanged.connect(lambda _t: self.changed.emit())
            return box
        if isinstance(d, bool):
            check = QCheckBox(self)
            check.setChecked(d)
            check.toggled.connect(lambda _b: self.changed.emit())
            return check
        if isinstance(d, int):
            spin = QSpinBox(self)
            spin.setRange(int(p.minimum) if p.minimum is not None else -1_000_000,
                          int(p.maximum) if p.maximum is not None else 1_000_000)
            spin.setValue(d)
            spin.valueChanged.connect(lambda _v: self.changed.emit())
            return spin
        if isinstance(d, float):
            dspin = QDoubleSpinBox(self)
            dspin.setDecimals(4)
            dspin.setRange(p.minimum if p.minimum is not None else -1e9,
                           p.maximum if p.maximum is not None else 1e9)
            dspin.setValue(d)
            dspin.valueChanged.connect(lambda _v: self.changed.emit())
            return dspin
        line = QLineEdit(format_value(d), self)
        line.editingFinished.connect(self.changed.emit)
        return line

    def set_value(self, name: str, value: object) -> None:
        """Set one editor's value (tests, sessions)."""
        if name not in self._editors:
            return
        _, editor = self._editors[name]
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))  # type: ignore[call-overload]
        elif isinstance(editor, QDoubleSpinBox):
            editor.setValue(float(value))  # type: ignore[arg-type]
        elif isinstance(editor, QLineEdit):
            editor.setText(format_value(value))
        self.changed.emit()

    def values(self) -> tuple[tuple[str, object], ...]:
        """Current (name, value) pairs, typed like each default.

        Raises
        ------
        InputError
            A text field that does not parse.
        """
        result: list[tuple[str, object]] = []
        for name, (p, editor) in self._editors.items():
            if isinstance(editor, QComboBox):
                text = editor.currentText()
                value: object = next((c for c in p.choices if str(c) == text), text)
            elif isinstance(editor, QCheckBox):
                value = editor.isChecked()
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                value = editor.value()
            else:
                value = parse_like(editor.text(), p.default, name)  # type: ignore[attr-defined]
            result.append((name, value))
        return tuple(result)
