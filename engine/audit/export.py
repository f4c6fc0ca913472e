"""Write a faithfulness evaluation: the map as ``attribute`` writes it, curves as CSV and PNG,
and a manifest that adds the metric definitions' parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.atomic_files import csv_text, png_bytes, write_bytes_atomic, write_json_atomic
from engine.attribution.export import write_attribution
from engine.audit.faithfulness import BLUR_KERNEL, BLUR_SIGMA, Faithfulness
from engine.audit.plots import curve_plot
from engine.types import PreparedInput


def metrics_json(evaluation: Faithfulness) -> dict[str, Any]:
    """``{metric: {auc, curve}}``: the ``evaluate --json`` object (a contract)."""
    return {curve.metric: {"auc": curve.auc, "curve": [float(v) for v in curve.scores]}
            for curve in evaluation.curves}


def write_evaluation(evaluation: Faithfulness, prepared: PreparedInput, model_sha256: str,
                     folder: Path, colormap: str = "turbo") -> dict[str, Any]:
    """Write heatmap.npy, overlay.png, curves.csv, curves.png and manifest.json into ``folder``.

    Returns
    -------
    dict
        The manifest.
    """
    manifest = write_attribution(evaluation.attribution, prepared, model_sha256, folder,
                                 colormap)
    header = ["step", "fraction", *(c.metric for c in evaluation.curves)]
    rows: list[list[object]] = [
        [k, k / evaluation.steps, *(float(c.scores[k]) for c in evaluation.curves)]
        for k in range(evaluation.steps + 1)]
    write_bytes_atomic(folder / "curves.csv", csv_text(header, rows).encode())
    title = (f"{evaluation.attribution.method}: " + ", ".join(
        f"{c.metric} AUC {c.auc:.3f}" for c in evaluation.curves))
    write_bytes_atomic(folder / "curves.png", png_bytes(curve_plot(
        {c.metric: c.scores for c in evaluation.curves}, title)))
    manifest["metrics"] = {
        **metrics_json(evaluation), "steps": evaluation.steps,
        "score": evaluation.score_mode, "path": evaluation.path,
        "ranking": "heatmap value, highest first; ties by row-major index",
        "deletion_value": 0.0,
        "insertion_start": {"blur": "gaussian", "kernel": BLUR_KERNEL, "sigma": BLUR_SIGMA,
                            "border": "reflect-101"},
        "forward_passes": evaluation.forward_passes, "seconds": round(evaluation.seconds, 4)}
    write_json_atomic(folder / "manifest.json", manifest)
    return manifest
