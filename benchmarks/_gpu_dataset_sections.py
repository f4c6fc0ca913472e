"""gpu_suite's dataset sections: a scan (issue 11) and faithfulness curves (issue 13).

scan
    ``run_scan`` over every conv layer of the demo, photos read from disk (the two bundled
    photos, cropped, flipped and scaled: the GPU machine has no network), against the plain
    forward on pre-decoded tensors at the same batch size (8) on the same provider, timed
    before and after the scan (as ``bench_scan.py``); the reduced graph alone and the
    pooling floors (``benchmarks/_scan_floor.py``) show where the time goes. Goal on the
    GPU: the scan at 0.9x the plain forward or better.
curves
    Deletion and insertion curves of one image on the demo (450 passes, fused in the graph)
    against the plain network on ready batches of the same size, as ``bench_audit.py``.
    Goal: within 10% of that bound.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks._gpu_common import Config

#: Ratio goals of the scan against the plain forward (issue 11).
SCAN_GOAL = {"cuda": 0.9, "cpu": 0.7}
CURVES_GOAL_OVER_BOUND = 1.10
#: Batch sizes of the scan section (the JSON keeps one entry per size).
SCAN_BATCHES = (8,)


def section_scan(cfg: Config) -> dict[str, Any]:
    """Scan throughput against the plain forward at batch 8 (the goal's; the engine's default).

    One batch size only: on the GPU every new session searches cuDNN algorithms for
    each conv, and the section makes about a dozen sessions.
    """
    from benchmarks.bench_scan import (
        graph_floors,
        photo_set,
        plain_forward,
        reduced_forward,
        scan_throughput,
    )

    images = 32 if cfg.quick else 256
    result: dict[str, Any] = {"images": images, "model": "efficientnet_lite0.onnx",
                              "goal_ratio": SCAN_GOAL["cpu" if cfg.provider == "cpu"
                                                      else "cuda"], "batches": {}}
    with tempfile.TemporaryDirectory(prefix="gpu_suite_scan_") as scratch:
        folder = Path(scratch) / "photos"
        paths = photo_set(folder, images, fetched=False)
        for batch in SCAN_BATCHES:
            before = plain_forward(paths, batch, cfg.provider)
            scan = scan_throughput(folder, Path(scratch) / f"scan{batch}", batch, cfg.provider)
            after = plain_forward(paths, batch, cfg.provider)
            reduced, _ = reduced_forward(paths, batch, cfg.provider)
            floors = graph_floors(paths, batch, cfg.provider, rounds=3 if cfg.quick else 5)
            plain = (before["images_per_second"] + after["images_per_second"]) / 2
            result["batches"][str(batch)] = {
                "plain_images_per_second": plain, "plain_provider": before["provider"],
                "scan_images_per_second": scan["images_per_second"],
                "scan_provider": scan["provider"], "layers": scan["layers"],
                "reduced_graph_images_per_second": reduced,
                "ratio_scan_vs_plain": scan["images_per_second"] / plain,
                "ratio_reduced_graph_vs_plain": reduced / plain,
                "floor_ratios": {label: rate / floors["plain"]
                                 for label, rate in floors.items()}}
    first = result["batches"]["8"]
    result["ratio_scan_vs_plain"] = first["ratio_scan_vs_plain"]
    result["provider"] = first["scan_provider"]
    result["goal_met"] = first["ratio_scan_vs_plain"] >= result["goal_ratio"]
    return result


def section_curves(cfg: Config) -> dict[str, Any]:
    """Deletion and insertion curves against the network's bound at the same batch size."""
    from benchmarks.bench_audit import curves

    result = curves(cfg.provider, repeats=1 if cfg.quick else 3)
    result["goal_over_bound"] = CURVES_GOAL_OVER_BOUND
    result["goal_met"] = result["over_bound"] <= CURVES_GOAL_OVER_BOUND
    return result


def dataset_lines(sections: dict[str, Any]) -> list[str]:
    """Markdown rows for the scan and the curves."""
    lines = ["| dataset work | provider | figure | goal | met |", "|---|---|---|---|---|"]
    scan = sections.get("scan", {})
    if "ratio_scan_vs_plain" in scan:
        for batch, row in scan["batches"].items():
            lines.append(f"| scan, batch {batch} ({row['layers']} layers, {scan['images']} "
                         f"photos) | {row['scan_provider']} | "
                         f"{row['ratio_scan_vs_plain']:.2f}x plain "
                         f"(reduced graph {row['ratio_reduced_graph_vs_plain']:.2f}x) | "
                         f">= {scan['goal_ratio']}x | "
                         f"{'yes' if row['ratio_scan_vs_plain'] >= scan['goal_ratio'] else 'no'} |")
    else:
        lines.append(f"| scan | - | {scan.get('error') or scan.get('skipped') or '-'} | | |")
    curve = sections.get("curves", {})
    if "over_bound" in curve:
        lines.append(f"| deletion + insertion curves ({curve['passes']} passes, batch "
                     f"{curve['batch']}) | {curve['provider']} | {curve['over_bound']:.2f}x "
                     f"the bound | <= {CURVES_GOAL_OVER_BOUND}x | "
                     f"{'yes' if curve['goal_met'] else 'no'} |")
    else:
        lines.append(f"| curves | - | {curve.get('error') or curve.get('skipped') or '-'} | | |")
    return lines
