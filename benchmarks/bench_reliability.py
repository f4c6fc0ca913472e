"""Reliability figures for the README: fuzzing outcomes, memory over long runs, cancel latency.

Run: ``.venv/bin/python -m benchmarks.bench_reliability [--fuzz-scale K] [--maps-runs N]
[--attribution-jobs N]``. Prints a table and JSON. Everything runs on the CPU provider.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def fuzz(scale: int, seed: int) -> dict[str, object]:
    """Run the fuzz corpus and count outcomes per input kind."""
    from tests.fuzz.corpus import build_corpus
    from tests.fuzz.runner import run_cases, summarise

    with tempfile.TemporaryDirectory() as tmp:
        cases = build_corpus(Path(tmp), seed, scale)
        start = time.perf_counter()
        outcomes = run_cases(cases, Path(tmp))
        seconds = time.perf_counter() - start
    return {"seed": seed, "scale": scale, "cases": len(cases), "seconds": seconds,
            "summary": summarise(outcomes)}


def maps_soak(runs: int) -> dict[str, object]:
    """RSS before and after ``runs`` all-layer feature-map extractions of the demo."""
    from engine.featuremaps import extract_feature_maps
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    model = load_model(DEMO)
    prepared = prepare_input(model.info, CHELSEA)
    warm = max(1, runs // 10)
    for _ in range(warm):
        extract_feature_maps(model, prepared, preference="cpu")
    before = rss_mib()
    start = time.perf_counter()
    for _ in range(runs - warm):
        extract_feature_maps(model, prepared, preference="cpu")
    return {"runs": runs, "warm_up": warm, "rss_before_mib": before, "rss_after_mib": rss_mib(),
            "rss_growth_mib": rss_mib() - before, "seconds": time.perf_counter() - start}


def attribution_soak(jobs: int) -> dict[str, object] | None:
    """RSS growth over ``jobs`` attribution jobs (Eigen-CAM and a small occlusion)."""
    from engine.attribution.registry import run_attribution
    from engine.attribution.types import AttributionRequest
    from engine.model_io import load_model
    from engine.preprocess import prepare_input

    model = load_model(DEMO)
    prepared = prepare_input(model.info, CHELSEA)
    requests = [AttributionRequest("eigen-cam"),
                AttributionRequest("occlusion", params=(("window", (56, 56)),
                                                        ("stride", (56, 56))))]
    for request in requests:
        run_attribution(model, prepared, request, preference="cpu")
    before = rss_mib()
    trace = []
    for k in range(jobs):
        run_attribution(model, prepared, requests[k % 2], preference="cpu")
        if (k + 1) % max(1, jobs // 4) == 0:
            trace.append(round(rss_mib() - before, 1))
    return {"jobs": jobs, "rss_growth_mib": rss_mib() - before,
            "rss_growth_by_quarter_mib": trace}


def cancel_latency(trials: int) -> dict[str, object]:
    """Seconds from cancel() to the Cancelled exception during a long onnxruntime pass."""
    from engine.cancellation import CancelToken
    from engine.errors import Cancelled
    from engine.model_io import load_model
    from engine.session import create_session

    session = create_session(load_model(DEMO).proto, "cpu")
    feeds = {"input": np.zeros((128, 3, 224, 224), np.float32)}
    latencies = []
    for k in range(trials):
        token = CancelToken()
        stamp: list[float] = []

        def fire(token: CancelToken = token, stamp: list[float] = stamp) -> None:
            stamp.append(time.perf_counter())
            token.cancel()

        timer = threading.Timer(0.05 + 0.03 * k, fire)
        timer.start()
        try:
            session.run(feeds, ["logits"], cancel=token)
        except Cancelled:
            latencies.append(time.perf_counter() - stamp[0])
        timer.cancel()
    return {"trials": trials, "cancelled": len(latencies),
            "median_s": statistics.median(latencies) if latencies else None,
            "max_s": max(latencies) if latencies else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-scale", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--maps-runs", type=int, default=500)
    parser.add_argument("--attribution-jobs", type=int, default=100)
    parser.add_argument("--cancel-trials", type=int, default=10)
    args = parser.parse_args()
    result = {"fuzz": fuzz(args.fuzz_scale, args.seed), "maps": maps_soak(args.maps_runs),
              "attribution": attribution_soak(args.attribution_jobs),
              "cancel": cancel_latency(args.cancel_trials)}
    print(f"{'what':<36} figure")
    for kind, counts in result["fuzz"]["summary"].items():  # type: ignore[index]
        print(f"{'fuzzed ' + kind:<36} {counts}")
    m = result["maps"]
    print(f"{'maps runs, RSS growth':<36} {m['runs']} runs: {m['rss_growth_mib']:+.1f} MiB")
    if result["attribution"]:
        a = result["attribution"]
        label = "attribution jobs, RSS growth"
        print(f"{label:<36} {a['jobs']} jobs: {a['rss_growth_mib']:+.1f} MiB "
              f"(by quarter: {a['rss_growth_by_quarter_mib']})")
    c = result["cancel"]
    if c["cancelled"]:
        print(f"{'cancel latency (median / max)':<36} {c['median_s']:.3f} s / "
              f"{c['max_s']:.3f} s ({c['cancelled']} of {c['trials']} passes interrupted)")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
