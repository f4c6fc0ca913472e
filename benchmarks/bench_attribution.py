"""Benchmark: attribution methods, fused graphs against numpy masks, same run.

For each method on the demo model (EfficientNet-Lite0, chelsea.png) this times
the fused path (perturbations generated inside the ONNX graph) and the numpy
path (perturbed batches built on the host), and the network's own throughput
bound at the same batch size (the plain model on a ready batch, passes /
images per second). Ratios are what matter on a shared machine. Each timed run
follows a warm-up with the same session and batch shape.

Run: ``python -m benchmarks.bench_attribution [--provider auto|cpu|cuda] [--quick]
[--batch-size N] [--repeats N] [--json-out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"

FULL: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    # method: (timed parameters, warm-up parameters with the same session and batch shape)
    "occlusion": ({"window": 16, "stride": 8}, {"window": 112, "stride": 112}),
    "score-cam": ({}, {"channels": 16}),
    "score-cam/pytorch-grad-cam": ({"variant": "pytorch-grad-cam"},
                                   {"variant": "pytorch-grad-cam", "channels": 16}),
    "rise": ({"masks": 1000}, {"masks": 16}),
    "ablation-cam": ({}, {"channels": 16}),
    "eigen-cam": ({}, {}),
}
QUICK: dict[str, dict[str, object]] = {
    "occlusion": {"window": 32, "stride": 16},
    "score-cam": {"channels": 256},
    "score-cam/pytorch-grad-cam": {"variant": "pytorch-grad-cam", "channels": 256},
    "rise": {"masks": 256},
    "ablation-cam": {},
    "eigen-cam": {},
}


def _run(model: Any, prepared: Any, method: str, params: dict[str, object], provider: str,
         batch: int | None) -> Any:
    from engine.attribution.registry import run_attribution
    from engine.attribution.types import AttributionRequest

    name = method.split("/")[0]
    request = AttributionRequest(name, params=tuple(params.items()), batch_size=batch)
    return run_attribution(model, prepared, request, provider)  # type: ignore[arg-type]


def network_bound(model: Any, prepared: Any, provider: str, batch: int, repeats: int = 5
                  ) -> float:
    """Images per second of the plain model on a ready batch (the throughput bound)."""
    from engine.session import create_session

    session = create_session(model.proto, provider)  # type: ignore[arg-type]
    feeds = {n: np.repeat(v, batch, axis=0) for n, v in prepared.feed_dict().items()}
    session.run(feeds, session.output_names[:1])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(feeds, session.output_names[:1])
        times.append(time.perf_counter() - start)
    return batch / min(times)


def bench(provider: str, quick: bool, batch: int | None, repeats: int = 3) -> dict[str, Any]:
    """Time every method's fused and numpy paths; return the JSON-ready report.

    Each path runs ``repeats`` times, fused and numpy interleaved so that load
    from other processes hits both alike; the fastest run counts.
    """
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    model = load_model(DEMO)
    prepared = prepare_input(model.info, CHELSEA)
    rows: list[dict[str, Any]] = []
    images_per_s: float | None = None
    for method, (params, warm) in FULL.items():
        timed = QUICK[method] if quick else params
        row: dict[str, Any] = {"method": method, "params": {k: str(v) for k, v in timed.items()}}
        has_path = method.split("/")[0] in ("occlusion", "score-cam", "rise")
        paths = (True, False) if has_path else (True,)
        for fused in paths:
            extra = {"fused": fused} if has_path else {}
            _run(model, prepared, method, {**warm, **extra}, provider, batch)
        best: dict[bool, float] = {}
        results: dict[bool, Any] = {}
        for _ in range(repeats):
            for fused in paths:
                extra = {"fused": fused} if has_path else {}
                results[fused] = _run(model, prepared, method, {**timed, **extra}, provider,
                                      batch)
                best[fused] = min(best.get(fused, float("inf")), results[fused].seconds)
        for fused in paths:
            result = results[fused]
            key = "fused" if fused else "numpy"
            row[f"{key}_s"] = round(best[fused], 4)
            row[f"{key}_path"] = result.path
            row["passes"] = result.perturbation_passes
            row["batch_size"] = result.batch_size
            row["batch_mode"] = result.batch_mode
            row["provider"] = result.provider
            if images_per_s is None:
                images_per_s = network_bound(model, prepared, provider, result.batch_size)
        if "numpy_s" in row:
            row["numpy_over_fused"] = round(row["numpy_s"] / row["fused_s"], 3)
        if images_per_s and row.get("passes", 0) > 1:
            row["bound_s"] = round(row["passes"] / images_per_s, 4)
            row["fused_over_bound"] = round(row["fused_s"] / row["bound_s"], 3)
        rows.append(row)
    return {
        "benchmark": "attribution",
        "model": DEMO.name,
        "image": CHELSEA.name,
        "provider": rows[0]["provider"] if rows else provider,
        "network_images_per_s": round(images_per_s or 0.0, 1),
        "quick": quick,
        "repeats": repeats,
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "rows": rows,
    }


def table(report: dict[str, Any]) -> str:
    """Render the report's rows as a Markdown table."""
    head = ("| method | passes | batch | fused s | numpy s | numpy/fused | bound s | "
            "fused/bound |")
    lines = [head, "|" + "---|" * 8]
    for r in report["rows"]:
        lines.append(f"| {r['method']} | {r.get('passes', '')} | {r.get('batch_size', '')} "
                     f"({r.get('batch_mode', '')}) | {r.get('fused_s', '')} | "
                     f"{r.get('numpy_s', '-')} | {r.get('numpy_over_fused', '-')} | "
                     f"{r.get('bound_s', '-')} | {r.get('fused_over_bound', '-')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print JSON then the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer passes per method")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path (best)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    report = bench(args.provider, args.quick, args.batch_size, args.repeats)
    text = json.dumps(report, indent=2)
    print(text)
    print()
    print(f"provider: {report['provider']}; network: {report['network_images_per_s']} "
          "images/s at the batch size used")
    print(table(report))
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
