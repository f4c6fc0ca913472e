"""Gradient-free attribution: one registry of methods shared by the CLI and the GUI.

:data:`METHODS` maps each method's name to its declaration (parameters dataclass
with specs, ``run``, pass estimate); :func:`plan_attribution` and
:func:`run_attribution` are the entry points.
"""

from engine.attribution.method_spec import Method, MethodOutput, ParamSpec, PassQuery, param
from engine.attribution.registry import (
    METHODS,
    AttributionPlan,
    method,
    plan_attribution,
    run_attribution,
)
from engine.attribution.types import AttributionRequest, AttributionResult, Target

__all__ = [
    "METHODS",
    "AttributionPlan",
    "AttributionRequest",
    "AttributionResult",
    "Method",
    "MethodOutput",
    "ParamSpec",
    "PassQuery",
    "Target",
    "method",
    "param",
    "plan_attribution",
    "run_attribution",
]
