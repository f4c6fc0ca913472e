"""An audit of a model on a set of images: predictions, attribution maps with their
deletion/insertion curves, the parameter-randomisation sanity check, drift against a
reference scan, and full provenance; written as ``audit.json`` and a self-contained
HTML report (images inline).

``audit.json`` is reproducible: running the same audit twice gives identical
content except under ``times`` (floats are rounded to 6 significant digits, so
the last bits of a multi-threaded reduction cannot differ).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.atomic_files import png_bytes, write_json_atomic, write_text_atomic
from engine.attribution.export import overlay
from engine.attribution.registry import method as find_method
from engine.attribution.target_text import parse_target
from engine.attribution.types import AttributionRequest
from engine.audit.faithfulness import Faithfulness, evaluate
from engine.audit.plots import curve_plot
from engine.audit.provenance import file_sha256, model_provenance, software
from engine.audit.sanity import SanityCheck, cascading_randomisation
from engine.cancellation import CancelToken, ProgressCallback, ensure_token, no_progress
from engine.errors import EngineError, InputError
from engine.heads import predict
from engine.input_proposal import propose_input_spec
from engine.model_card import model_card
from engine.model_io import LoadedModel
from engine.predictions import LABELS_KEY, model_labels
from engine.preprocess import prepare_input
from engine.providers import ProviderPreference
from engine.types import Progress

#: The audit's default number of deletion/insertion steps (``evaluate`` defaults to the rows).
AUDIT_STEPS = 32


@dataclass(frozen=True)
class AuditSettings:
    """What an audit runs: methods (``name`` or ``name:param=value,...``), steps, seeds."""

    methods: tuple[str, ...] = ("eigen-cam", "occlusion:window=32,stride=32")
    steps: int = AUDIT_STEPS
    seed: int = 0
    cascade: int = 3
    sanity_images: int = 1
    score: str = "auto"


def parse_method(text: str, seed: int) -> AttributionRequest:
    """``name`` or ``name:param=value,param=value`` as a request (seeded where it takes one)."""
    name, _, rest = text.partition(":")
    params: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in rest.split(";" if ";" in rest else ","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"A method parameter looks like NAME=VALUE, not '{item}'.")
        params[key.strip()] = value.strip()
    spec = find_method(name.strip())
    if "seed" in {p.name for p in spec.params}:
        params.setdefault("seed", seed)
    resolved = spec.resolve(params)
    return AttributionRequest(method=spec.name, params=spec.as_pairs(resolved))


def rounded(value: Any) -> Any:
    """Floats rounded to 6 significant digits, recursively (deterministic JSON)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def _png_uri(rgb: Any) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode()


def _method_entry(result: Faithfulness, assets: dict[str, str], key: str) -> dict[str, Any]:
    attribution = result.attribution
    assets[key + ":curves"] = _png_uri(curve_plot(
        {c.metric: c.scores for c in result.curves}, f"{attribution.method}: " + ", ".join(
            f"{c.metric} AUC {c.auc:.3f}" for c in result.curves)))
    return {"method": attribution.method, "variant": attribution.variant,
            "layer": attribution.layer,
            "parameters": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in attribution.params},
            "target": {"index": attribution.target_index, "score": attribution.target_score},
            "perturbation_passes": attribution.perturbation_passes,
            "metrics": {c.metric: {"auc": c.auc, "curve": [float(v) for v in c.scores]}
                        for c in result.curves},
            "steps": result.steps, "score": result.score_mode}


def _sanity_entry(check: SanityCheck) -> dict[str, Any]:
    return {"method": check.method, "passed": check.passed, "verdict": check.verdict,
            "seed": check.seed, "weighted_layers": check.layers,
            "steps": [{"randomised_layers": s.randomised, "down_to": s.last_layer,
                       "spearman": s.spearman, "ssim": s.ssim} for s in check.steps]}


def run_audit(model: LoadedModel, paths: list[str], settings: AuditSettings,
              preference: ProviderPreference = "auto", progress: ProgressCallback = no_progress,
              cancel: CancelToken | None = None, drift: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, str]]:
    """Audit ``model`` on ``paths`` (sorted image paths).

    Returns
    -------
    (dict, dict)
        The ``audit.json`` content and the report's inline images (data URIs by key).

    Raises
    ------
    EngineError
        Bad settings, an unusable model; an unreadable image is listed, not fatal.
    """
    token = ensure_token(cancel)
    if not paths:
        raise InputError("The audit has no images to look at.")
    requests = [parse_method(text, settings.seed) for text in settings.methods]
    proposal = propose_input_spec(model)
    labels = model_labels(model.info.path, model.info.metadata_value(LABELS_KEY))
    begin = time.perf_counter()
    assets: dict[str, str] = {}
    images: list[dict[str, Any]] = []
    sanity: list[dict[str, Any]] = []
    provider = ""
    total = len(paths) * len(requests)
    for index, path in enumerate(paths):
        token.check()
        entry: dict[str, Any] = {"path": path, "sha256": file_sha256(path)}
        images.append(entry)
        try:
            prepared = prepare_input(model.info, path, proposal.spec)
            found = predict(model, prepared, preference, cancel=token, labels=labels)
        except EngineError as exc:
            entry["error"] = exc.message
            continue
        entry["head"] = {"kind": found.head.kind, "output": found.head.output}
        entry["predictions"] = [item.as_json() for item in found.items[:5]]
        target = parse_target(found.items[0].target) if found.items else None
        entry["methods"] = []
        for number, request in enumerate(requests):
            progress(Progress(index * len(requests) + number, total,
                              f"{request.method} on {Path(path).name}"))
            if target is not None:
                request = AttributionRequest(request.method, target=target,
                                             params=request.params)
            result = evaluate(model, prepared, request, steps=settings.steps,
                              score_mode=settings.score,  # type: ignore[arg-type]
                              preference=preference, cancel=token)
            provider = result.attribution.provider
            key = f"{index}:{request.method}"
            assets[key + ":overlay"] = _png_uri(overlay(result.attribution.heatmap,
                                                        prepared.display))
            entry["methods"].append(_method_entry(result, assets, key))
            if index < settings.sanity_images:
                sanity.append({"image": path, **_sanity_entry(cascading_randomisation(
                    model, prepared, request, settings.cascade, settings.seed, preference,
                    cancel=token, original=result.attribution))})
    audit = {
        "featurescope": "audit",
        "model": {"card": model_card(model.info, model.warnings),
                  "provenance": model_provenance(model)},
        "input": {"size": [proposal.spec.height, proposal.spec.width],
                  "preset": proposal.spec.preset, "layout": proposal.spec.layout,
                  "reason": proposal.reason(), "spec": proposal.spec.__dict__.copy()},
        "settings": {"methods": list(settings.methods), "steps": settings.steps,
                     "seed": settings.seed, "cascade": settings.cascade,
                     "sanity_images": settings.sanity_images, "score": settings.score},
        "software": software(), "provider": provider,
        "images": images, "sanity": sanity, "drift": drift,
        "summary": _summary(images),
    }
    result = rounded(audit)
    result["times"] = {"seconds": round(time.perf_counter() - begin, 3),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return result, assets


def _summary(images: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean AUCs per method over the images that ran."""
    sums: dict[str, dict[str, list[float]]] = {}
    for image in images:
        for entry in image.get("methods", []):
            for metric, values in entry["metrics"].items():
                sums.setdefault(entry["method"], {}).setdefault(metric, []).append(
                    values["auc"])
    return {name: {metric: sum(v) / len(v) for metric, v in metrics.items()}
            for name, metrics in sums.items()}


def write_report(audit: dict[str, Any], assets: dict[str, str], folder: Path) -> None:
    """Write ``audit.json`` and ``report.html`` (self-contained) into ``folder``."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("engine.audit", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(audit=audit, assets=assets)
    write_json_atomic(folder / "audit.json", audit)
    write_text_atomic(folder / "report.html", html)
