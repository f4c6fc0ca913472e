"""How an attribution method declares itself: parameters, cost and how to run it.

A method is one module that declares a frozen parameters dataclass whose fields
are made with :func:`param` (name, type, default, range, help), and a
:class:`Method` value bundling that dataclass with the method's ``run`` and
``estimate_passes`` functions. The registry (:mod:`engine.attribution.registry`)
lists the methods; the CLI flags and the GUI forms are generated from
:attr:`Method.params`, so adding a method means adding one module and one line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from engine.errors import InputError

if TYPE_CHECKING:
    from engine.attribution.activations import Activations
    from engine.attribution.context import Context
    from engine.attribution.types import ScoreMode
    from engine.cancellation import CancelToken, ProgressCallback
    from engine.types import LayerInfo

ParamKind = Literal["int", "float", "pair", "choice", "text", "bool"]

_SPEC_KEY = "featurescope_param"


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter, described for a command-line flag and a form field.

    ``kind`` is ``int``, ``float``, ``pair`` (one or two positive ints, "H,W"),
    ``choice`` (one of ``choices``), ``text`` or ``bool``; ``low``/``high``
    bound numbers (inclusive); ``help`` says what the parameter changes for the
    user, ``effect`` (optional) what a larger value costs or gains.
    """

    name: str
    kind: ParamKind
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    effect: str = ""

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--keep-fraction``."""
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """A form label, e.g. ``Keep fraction``."""
        return self.name.replace("_", " ").capitalize()

    def describe(self) -> str:
        """Help with the range and the default, for a tooltip or ``--help``."""
        parts = [self.help]
        if self.effect:
            parts.append(self.effect)
        if self.low is not None or self.high is not None:
            low = "" if self.low is None else f"{self.low:g}"
            high = "" if self.high is None else f"{self.high:g}"
            parts.append(f"range {low}..{high}")
        if self.kind != "bool":
            default = self.default
            if isinstance(default, tuple):
                default = ",".join(str(v) for v in default)
            parts.append(f"default {default}")
        return "; ".join(parts)

    def parse(self, value: object) -> object:
        """Convert ``value`` (text from a flag or a field, or a Python value) and check it.

        Raises
        ------
        InputError
            A value of the wrong type, outside the range or not among the choices.
        """
        parsed = self._convert(value)
        if self.choices and parsed not in self.choices:
            raise InputError(f"Parameter {self.name} must be one of "
                             f"{', '.join(self.choices)}, not {value!r}.")
        numbers = parsed if isinstance(parsed, tuple) else (parsed,)
        for number in numbers:
            if isinstance(number, bool) or not isinstance(number, int | float):
                continue
            if (self.low is not None and number < self.low) or (
                    self.high is not None and number > self.high):
                low = "-inf" if self.low is None else f"{self.low:g}"
                high = "inf" if self.high is None else f"{self.high:g}"
                raise InputError(f"Parameter {self.name} must lie in [{low}, {high}], "
                                 f"not {value!r}.")
        return parsed

    def _convert(self, value: object) -> object:
        try:
            if self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                return int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
            if self.kind == "float":
                number = float(value)  # type: ignore[arg-type]
                if not math.isfinite(number):
                    raise ValueError(value)
                return number
            if self.kind == "pair":
                return _pair(value)
            if self.kind == "bool":
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return str(value).strip()
        except (TypeError, ValueError) as exc:
            raise InputError(f"Parameter {self.name} must be {_KIND_WORDS[self.kind]}, not "
                             f"{value!r}.") from exc


_KIND_WORDS = {"int": "a whole number", "float": "a number", "pair": "one or two whole "
               "numbers (H,W)", "choice": "one of the choices", "text": "text",
               "bool": "true or false"}


def _pair(value: object) -> tuple[int, int]:
    """``8``, ``(8, 4)``, ``"8,4"`` or ``"8x4"`` as an (h, w) pair of ints."""
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
        numbers = [int(p) for p in parts]
    elif isinstance(value, int):
        numbers = [value]
    elif isinstance(value, tuple | list):
        numbers = [int(v) for v in value]
    else:
        numbers = [int(value)]  # type: ignore[call-overload]
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) != 2:
        raise ValueError(value)
    return numbers[0], numbers[1]


def param(default: Any, kind: ParamKind, help: str, *, low: float | None = None,
          high: float | None = None, choices: tuple[str, ...] = (), effect: str = "") -> Any:
    """A field of a method's parameters dataclass, carrying its :class:`ParamSpec`.

    The field's name becomes the parameter's name; ``default`` must already be
    of the parsed type (a tuple for pairs).
    """
    spec = {"kind": kind, "default": default, "help": help, "low": low, "high": high,
            "choices": choices, "effect": effect}
    return dataclasses.field(default=default, metadata={_SPEC_KEY: spec})


def fused_param() -> Any:
    """The ``fused`` switch shared by the perturbation methods."""
    return param(True, "bool", "build the perturbed inputs inside the ONNX graph, so only a "
                 "small description of each one is sent per batch (off: built in numpy)")


def channels_param() -> Any:
    """The ``channels`` limit shared by Score-CAM and Ablation-CAM."""
    return param(0, "int", "use only the N channels of the layer with the largest spatial "
                 "variance (0: all)", low=0, effect="fewer channels: fewer passes, a rougher map")


def param_specs(params_type: type[Any]) -> tuple[ParamSpec, ...]:
    """The :class:`ParamSpec` of every field of a parameters dataclass, in field order."""
    specs = []
    for item in dataclasses.fields(params_type):
        meta = item.metadata.get(_SPEC_KEY)
        if meta is None:
            raise TypeError(f"{params_type.__name__}.{item.name} is not declared with param().")
        specs.append(ParamSpec(name=item.name, **meta))
    return tuple(specs)


@dataclass
class MethodOutput:
    """What one method computed, before the registry wraps it in a result.

    ``forward_passes`` counts the perturbed inputs the method scored (what
    :meth:`Method.estimate_passes` predicts); the result reports every run
    besides, reference and check runs included.
    """

    heatmap: np.ndarray
    forward_passes: int
    batch_size: int
    path: str
    variant: str = ""
    notes: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    class_maps: np.ndarray | None = None
    class_indices: tuple[int, ...] = ()
    #: How the perturbed passes were batched when not the context's plan (Ablation-CAM's suffix).
    batch_mode: str | None = None


@dataclass(frozen=True)
class PassQuery:
    """What the forward-pass estimate of a method may look at.

    ``size`` is the input's (H, W) as the model sees it; ``layer`` the CAM
    layer (None for perturbation methods); ``activations`` that layer's
    activations on this input when known (None: the estimate is an upper
    bound), from which the channels a method skips can be counted exactly.
    """

    size: tuple[int, int]
    layer: LayerInfo | None = None
    activations: Activations | None = None


type RunFunction[P] = Callable[[Context, P, ProgressCallback, CancelToken], MethodOutput]


@dataclass(frozen=True)
class Method[P]:
    """One attribution method: its parameters dataclass, ``run`` and cost.

    Attributes
    ----------
    name
        The registry key and the CLI's ``--method`` value.
    title, description
        For menus and help: one sentence with what it computes and what it costs.
    params_type
        The frozen parameters dataclass (fields made with :func:`param`).
    run
        ``run(context, params, progress, cancel) -> MethodOutput``.
    estimate_passes
        ``estimate_passes(query, params) -> int``: the perturbation passes it will run.
    needs_layer
        Whether it explains through a layer's activations (CAM methods).
    score_mode
        What an ``auto`` class score means for it (probability unless it says otherwise).
    estimate_is_exact
        False where the estimate needs the layer's activations to be exact.
    """

    name: str
    title: str
    description: str
    params_type: type[P]
    run: RunFunction[P]
    estimate_passes: Callable[[PassQuery, P], int]
    needs_layer: bool = False
    score_mode: Callable[[P], ScoreMode] = lambda params: "probability"
    #: The estimate is exact without the layer's activations (it counts no skipped channels).
    estimate_is_exact: bool = True

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        """The parameter specs, in declaration order."""
        return param_specs(self.params_type)

    def resolve(self, given: Mapping[str, object] | tuple[tuple[str, object], ...] = ()
                ) -> P:
        """The parameters dataclass with defaults filled in and every value checked.

        Raises
        ------
        InputError
            An unknown parameter name, or a value its spec refuses.
        """
        values = dict(given)
        specs = {spec.name: spec for spec in self.params}
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise InputError(f"Method {self.name} has no parameter {', '.join(unknown)}; it "
                             f"takes {', '.join(specs) or 'none'}.")
        parsed = {name: spec.parse(values.get(name, spec.default)) for name, spec in
                  specs.items()}
        return self.params_type(**parsed)

    def as_pairs(self, params: P) -> tuple[tuple[str, object], ...]:
        """``params`` as (name, value) pairs, for a manifest or a request."""
        return tuple((spec.name, getattr(params, spec.name)) for spec in self.params)
