"""compare_reference's agreement measures and its Markdown tables (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np


def minmax(values: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1] (zeros for a constant map)."""
    v = np.asarray(values, np.float64)
    span = v.max() - v.min()
    return np.zeros_like(v) if span <= 0 else (v - v.min()) / span


def agreement(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Pearson and max / mean abs difference of the two maps after min-max normalisation."""
    a, b = minmax(ours).ravel(), minmax(ref).ravel()
    return {"pearson": float(np.corrcoef(a, b)[0, 1]),
            "max_abs_diff_normalised": float(np.abs(a - b).max()),
            "mean_abs_diff_normalised": float(np.abs(a - b).mean())}


def timing(runs: list[float]) -> dict[str, Any]:
    """All runs, the first (cold) and the best of the others (warm)."""
    warm = runs[1:] or runs
    return {"runs_s": [round(r, 4) for r in runs], "cold_s": runs[0], "warm_s": min(warm)}


def table(results: list[dict[str, Any]]) -> str:
    """Agreement, passes and times per case and side; the plain networks; the controls."""
    head = ("| case | side | pearson | max abs diff (norm.) | passes | batch | cold s | warm s "
            "| ms/pass | warm vs library |")
    rows = [head, "|" + "---|" * 10]
    for r in results:
        lib_warm = r["reference"]["warm_s"]
        a = r["agreement"]
        sides = [("Featurescope", r["featurescope"], f"{a['pearson']:.6f}",
                  f"{a['max_abs_diff_normalised']:.2e}"),
                 ("Featurescope, library's batch", r["featurescope_at_library_batch"], "", ""),
                 (r["library"], r["reference"], "", "")]
        for name, t, corr, mad in sides:
            cold = f"{t['cold_s']:.2f}" if "cold_s" in t else "-"
            rows.append(f"| {r['case']} | {name} | {corr} | {mad} | {t['forward_passes']} | "
                        f"{t['batch_size']} | {cold} | {t['warm_s']:.2f} | "
                        f"{1e3 * t['warm_s'] / max(1, t['forward_passes']):.1f} | "
                        f"{t['warm_s'] / lib_warm:.3f}x |")
    rows += ["", "| case | model, input | target | plain network, batch | torch ms/image | "
             "onnxruntime ms/image | torch / onnxruntime | load avg before -> after |",
             "|" + "---|" * 8]
    for r in results:
        p, la = r["plain_network"], r["load_average_1_5_15"]
        shape = "x".join(str(d) for d in r.get("input_shape", [])[1:])
        rows.append(f"| {r['case']} | {r.get('model', '')}, {shape} | {r.get('target', '')} | "
                    f"{p['batch']} | {p['torch_ms_per_image']:.1f} | "
                    f"{p['onnxruntime_ms_per_image']:.1f} | {p['torch_vs_onnxruntime']:.2f}x | "
                    f"{la['before'][0]} -> {la['after'][0]} |")
    rows.append("")
    for r in results:
        a = r["agreement"]
        if "control_uniform_weights_pearson" in a:
            rows.append(f"control, {r['case']}: reference vs the same CAM with equal channel "
                        f"weights: pearson {a['control_uniform_weights_pearson']:.4f}")
        if "raw_max_abs_diff_logits" in a:
            rows.append(f"raw values, {r['case']}: max abs diff {a['raw_max_abs_diff_logits']:.2e}"
                        f" logits (largest |attribution| {a['raw_max_abs_ref_logits']:.3f}); "
                        f"Captum channels differ by at most "
                        f"{a['captum_channels_max_abs_spread']:.1e}")
    return "\n".join(rows)
