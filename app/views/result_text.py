"""Attribution results in plain words; engineering details kept apart for a disclosure.

The result line says what was explained, how, and how long it took:
``Score-CAM of 'Egyptian cat' at layer _conv_head: 487 passes, 2.6 s``. Batch
sizes, batching mode, provider, memory and notes go to :func:`details_text`
(behind the panel's "Details" button, and into exported manifests).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.state import AppState
from app.views.target_editor import target_words
from engine.attribution import registry
from engine.attribution.method_spec import Method
from engine.attribution.registry import AttributionPlan
from engine.attribution.target_text import parse_target
from engine.attribution.types import AttributionResult, Target
from engine.errors import InputError
from engine.heads import PredictionItem
from engine.types import Progress

#: A map whose range is below this fraction of its magnitude is flat.
FLAT_RTOL = 1e-6
#: A map is near-empty when fewer than this fraction of its pixels rise above a tenth of
#: its range.
EMPTY_FRACTION = 0.002


def method_title(name: str) -> str:
    """The registry's title of a method (its name if unregistered)."""
    method = registry.METHODS.get(name)
    return method.title if method is not None else name


def short_layer(name: str) -> str:
    """``_blocks.15/_project_conv`` from ``/_blocks.15/_project_conv/Conv``."""
    return name.strip("/").removesuffix("/Conv") or name


def explained_item(state: AppState, target: Target) -> PredictionItem | None:
    """The prediction whose target is ``target``, if one is."""
    for item in state.predictions:
        try:
            if parse_target(item.target) == target:
                return item
        except InputError:
            continue
    return None


def explained_words(state: AppState, result: AttributionResult) -> str:
    """What a result explains, in words (a prediction's label, a class name, a region)."""
    target = result.target
    label = state.label(result.target_index) if target.kind in ("top1", "class") else ""
    return target_words(target, explained_item(state, target), label)


def result_sentence(result: AttributionResult, words: str) -> str:
    """``Score-CAM of 'Egyptian cat' at layer X: 487 passes, 2.6 s``."""
    layer = f" at layer {short_layer(result.layer)}" if result.layer else ""
    noun = "pass" if result.forward_passes == 1 else "passes"
    return (f"{method_title(result.method)} of {words}{layer}: {result.forward_passes} "
            f"{noun}, {result.seconds:.1f} s")


def caption(result: AttributionResult, words: str) -> str:
    """A thumbnail's label: method, layer, target."""
    layer = f" · {short_layer(result.layer)}" if result.layer else ""
    return f"{method_title(result.method)}{layer} · {words}"


def details_text(result: AttributionResult) -> str:
    """The engineering details of a result, one fact per line (plain text)."""
    lines = [
        f"Target score {result.target_score:.4g} (output index {result.target_index})",
        f"{result.forward_passes} forward passes in {result.session_runs} runs: "
        f"{result.perturbation_passes} perturbed, the rest reference and batch checks",
        f"Batching: {result.batch_mode}, batch size {result.batch_size}"
        + (f", path {result.path}" if result.path else ""),
        f"Provider: {result.provider}" + (", exact fp32" if result.exact_fp32 else ""),
        f"Variant: {result.variant}" if result.variant else "",
        "Parameters: " + (", ".join(f"{k}={_value(v)}" for k, v in result.params) or "none"),
    ]
    if result.stats:
        lines.append("Statistics: " + ", ".join(f"{k} {v:.4g}" for k, v in result.stats))
    lines += [f"Note: {note}" for note in result.notes]
    return "\n".join(line for line in lines if line)


def _value(value: object) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def flatness(heatmap: np.ndarray) -> str:
    """Why a map shows nothing, in words ("" when it shows something).

    Flat: (nearly) one value everywhere. Near-empty: almost no pixel rises above a
    tenth of the map's range.
    """
    finite = np.asarray(heatmap, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return "The map holds no finite value."
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo <= FLAT_RTOL * max(1.0, abs(lo), abs(hi)):
        return "The map is flat: this layer does not respond to the target."
    raised = float(np.mean(finite > lo + 0.1 * (hi - lo)))
    if raised < EMPTY_FRACTION:
        return (f"The map is nearly empty: only {100 * raised:.2f}% of the pixels rise above "
                "a tenth of its range.")
    return ""


def eta_text(progress: Progress, elapsed: float) -> str:
    """``12/40 passes · 3 s elapsed · ETA 9 s``."""
    text = f"{progress.done}/{progress.total}" + (f" {progress.message}" if progress.message
                                                 else "")
    if progress.done > 0 and progress.total > progress.done:
        remaining = elapsed / progress.done * (progress.total - progress.done)
        return f"{text} · {elapsed:.0f} s elapsed · ETA {remaining:.0f} s"
    return f"{text} · {elapsed:.0f} s elapsed"


def method_tooltip(method: Method[Any]) -> str:
    """``Occlusion: Slides a window over the input ...`` (what it computes and costs)."""
    return f"{method.title}: {method.description}"


def cost_text(plan: AttributionPlan) -> str:
    """``Cost: 50 forward passes (1 reference + 49 perturbed)``; "at most" for a bound."""
    bound = "" if plan.exact or plan.passes == 0 else "at most "
    total = plan.total_passes
    noun = "forward pass" if total == 1 else "forward passes"
    return (f"Cost: {bound}{total} {noun} ({plan.reference_passes} reference + "
            f"{plan.passes} perturbed)")


def plan_details(plan: AttributionPlan) -> str:
    """What the plan says beyond the count: input geometry, layer, exactness (plain text)."""
    height, width = plan.size
    text = f"{plan.method} on the {height}×{width} {plan.layout} input"
    if plan.layer is not None:
        text += f", layer {plan.layer.name}"
    if plan.exact or plan.passes == 0:
        return text + "; the pass count is exact."
    return text + ("; an upper bound until the model has run once on this input (the "
                   "layer's constant channels are skipped).")
