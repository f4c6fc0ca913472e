"""The parameter form of an attribution method, generated from its :class:`ParamSpec` tuple.

Each spec becomes one labelled field: ``int`` a spin box and ``float`` a
decimal spin box bounded by ``low``/``high``, ``choice`` a combo box of its
``choices``, ``bool`` a check box, ``pair`` and ``text`` a line edit. The
label and the field carry the spec's :meth:`~ParamSpec.describe` as tooltip,
and every value is parsed and checked by the spec itself, so a refused value
is reported with the engine's own sentence.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from app.views.common import plain_tooltip, text_label
from engine.attribution.method_spec import ParamSpec
from engine.errors import InputError

#: Bounds of a spin box whose spec leaves a side open (QSpinBox holds 32-bit ints).
INT_LIMIT = 2**31 - 1
FLOAT_LIMIT = 1e9
FLOAT_DECIMALS = 4

Field = QSpinBox | QDoubleSpinBox | QComboBox | QCheckBox | QLineEdit


def format_value(value: object) -> str:
    """Text of a value for a line edit: ``16, 16`` for a pair."""
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _int_bound(value: float | None, fallback: int) -> int:
    if value is None:
        return fallback
    return max(-INT_LIMIT, min(INT_LIMIT, int(value)))


def make_field(spec: ParamSpec, parent: QWidget) -> Field:
    """The editor for one spec, at its default value (not yet connected)."""
    if spec.kind == "int":
        spin = QSpinBox(parent)
        spin.setRange(_int_bound(spec.low, -INT_LIMIT), _int_bound(spec.high, INT_LIMIT))
        spin.setValue(int(spec.default))  # type: ignore[call-overload]
        return spin
    if spec.kind == "float":
        low = spec.low if spec.low is not None else -FLOAT_LIMIT
        high = spec.high if spec.high is not None else FLOAT_LIMIT
        dspin = QDoubleSpinBox(parent)
        dspin.setDecimals(FLOAT_DECIMALS)
        dspin.setRange(low, high)
        if spec.low is not None and spec.high is not None:
            dspin.setSingleStep((high - low) / 100)
        dspin.setValue(float(spec.default))  # type: ignore[arg-type]
        return dspin
    if spec.kind == "choice":
        box = QComboBox(parent)
        box.addItems(list(spec.choices))
        box.setCurrentText(str(spec.default))
        return box
    if spec.kind == "bool":
        check = QCheckBox(parent)
        check.setChecked(bool(spec.default))
        return check
    line = QLineEdit(format_value(spec.default), parent)
    if spec.kind == "pair":
        line.setPlaceholderText("H, W")
    return line


def field_text(field: Field) -> object:
    """What a field holds, for :meth:`ParamSpec.parse`."""
    if isinstance(field, QComboBox):
        return field.currentText()
    if isinstance(field, QCheckBox):
        return field.isChecked()
    if isinstance(field, QSpinBox | QDoubleSpinBox):
        return field.value()
    return field.text()


class ParamForm(QWidget):
    """One generated field per parameter of a method; ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._form = QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._fields: dict[str, tuple[ParamSpec, Field, QLabel]] = {}

    def set_specs(self, specs: tuple[ParamSpec, ...]) -> None:
        """Replace the fields with those generated from ``specs``, at their defaults."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self._fields.clear()
        for spec in specs:
            field = make_field(spec, self)
            field.setObjectName(f"param_{spec.name}")
            label = text_label(spec.label, self)
            label.setObjectName(f"param_label_{spec.name}")
            label.setBuddy(field)
            tip = plain_tooltip(spec.describe())
            label.setToolTip(tip)
            field.setToolTip(tip)
            self._connect(field)
            self._form.addRow(label, field)
            self._fields[spec.name] = (spec, field, label)

    def _connect(self, field: Field) -> None:
        if isinstance(field, QSpinBox | QDoubleSpinBox):
            field.valueChanged.connect(lambda _v: self.changed.emit())
        elif isinstance(field, QComboBox):
            field.currentTextChanged.connect(lambda _t: self.changed.emit())
        elif isinstance(field, QCheckBox):
            field.toggled.connect(lambda _b: self.changed.emit())
        else:
            field.textChanged.connect(lambda _t: self.changed.emit())

    # -- access ----------------------------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """The parameter names, in the method's order."""
        return tuple(self._fields)

    def spec(self, name: str) -> ParamSpec:
        """The spec a field was generated from (KeyError if none)."""
        return self._fields[name][0]

    def field(self, name: str) -> Field:
        """The editor of one parameter (KeyError if none)."""
        return self._fields[name][1]

    def label(self, name: str) -> QLabel:
        """The label of one parameter (KeyError if none)."""
        return self._fields[name][2]

    def set_value(self, name: str, value: object) -> None:
        """Show ``value`` in a field (sessions, scripts, tests).

        Line edits take any text (a refused one is reported when the form is read);
        other fields only a value their spec accepts.

        Raises
        ------
        InputError
            No parameter ``name``, or a value a spin box, combo or check box cannot hold.
        """
        if name not in self._fields:
            raise InputError(f"This method has no parameter {name}; it takes "
                             f"{', '.join(self._fields) or 'none'}.")
        spec, field, _ = self._fields[name]
        if isinstance(field, QLineEdit):
            field.setText(format_value(value))
            return
        parsed = spec.parse(value)
        if isinstance(field, QComboBox):
            field.setCurrentText(str(parsed))
        elif isinstance(field, QCheckBox):
            field.setChecked(bool(parsed))
        elif isinstance(field, QSpinBox):
            field.setValue(int(parsed))  # type: ignore[call-overload]
        else:
            field.setValue(float(parsed))  # type: ignore[arg-type]

    def values(self) -> tuple[tuple[str, object], ...]:
        """(name, value) pairs, each parsed and checked by its spec.

        Raises
        ------
        InputError
            The engine's sentence about the first refused value.
        """
        return tuple((name, spec.parse(field_text(field)))
                     for name, (spec, field, _) in self._fields.items())
