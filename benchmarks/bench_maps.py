"""Benchmark: forward pass with every conv output exposed vs the plain model.

Prints a table and JSON. The baseline (the unmodified model on the same
provider) is measured in the same run, so the ratio is what matters on a noisy
machine. Also measures the peak memory of ``featurescope maps`` in a separate
process for the demo and for the largest real model input.

Run: ``.venv/bin/python -m benchmarks.bench_maps [--provider auto|cpu|cuda] [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._gpu_common import median_seconds

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"


def bench_exposed(provider: str, repeats: int) -> dict[str, object]:
    """Time the plain forward and the all-layers-exposed forward on one provider."""
    from engine.featuremaps import extract_feature_maps, model_layers
    from engine.graph.expose import expose_tensors
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.session import create_session

    model = load_model(DEMO)
    prepared = prepare_input(model.info, CHELSEA)
    feeds = prepared.feed_dict()
    layers = model_layers(model)
    plain = create_session(model.proto, provider)  # type: ignore[arg-type]
    exposed_model, report = expose_tensors(model.proto, [layer.tensor for layer in layers])
    exposed = create_session(exposed_model, provider)  # type: ignore[arg-type]
    t_plain = median_seconds(lambda: plain.run(feeds, plain.output_names[:1]), repeats)
    t_exposed = median_seconds(lambda: exposed.run(feeds), repeats)
    t_full = median_seconds(
        lambda: extract_feature_maps(model, prepared, preference=provider), max(3, repeats // 4))
    return {
        "model": DEMO.name, "layers_exposed": len(report.exposed),
        "provider": exposed.info.provider, "plain_forward_s": t_plain,
        "exposed_forward_s": t_exposed, "ratio_exposed_vs_plain": t_exposed / t_plain,
        "extract_feature_maps_s": t_full, "ratio_extract_vs_plain": t_full / t_plain,
    }


def peak_memory_of_maps(model: Path, image: Path, extra: list[str]) -> dict[str, object]:
    """Run ``featurescope maps`` in a child process and return its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import resource, sys; from engine.cli import main; rc = main(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
                "sys.exit(rc)")
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code, "maps", str(model), str(image),
                               "--out", str(Path(tmp) / "out"), *extra],
                              capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return {"model": model.name, "error": proc.stderr.strip()}
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return {"model": model.name, "options": " ".join(extra), "peak_rss_mib": peak_kib / 1024,
            "wall_s": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    np.random.seed(0)
    result: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                    platform.machine(), "cores": __import__("os").cpu_count()},
        "exposed": bench_exposed(args.provider, args.repeats),
    }
    if not args.skip_memory:
        from tests.real_models import fetch

        runs = [(DEMO, CHELSEA, []),
                (fetch("ppocrv4_det_dbnet"), fetch("page"),
                 ["--preset", "paddle", "--size", "736x736"])]
        result["memory"] = [peak_memory_of_maps(m, i, e) for m, i, e in runs]
        result["memory_baseline_python_mib"] = resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024
    e = result["exposed"]
    rows = [("plain forward (baseline)", f"{e['plain_forward_s'] * 1e3:8.2f} ms", "1.00x"),
            (f"all {e['layers_exposed']} conv outputs exposed",
             f"{e['exposed_forward_s'] * 1e3:8.2f} ms", f"{e['ratio_exposed_vs_plain']:.2f}x"),
            ("extract_feature_maps (+check, stats)", f"{e['extract_feature_maps_s'] * 1e3:8.2f} ms",
             f"{e['ratio_extract_vs_plain']:.2f}x")]
    print(f"provider: {e['provider']}  model: {e['model']}")
    print(f"{'what':<40} {'median':>12} {'ratio':>8}")
    for row in rows:
        print(f"{row[0]:<40} {row[1]:>12} {row[2]:>8}")
    for m in result.get("memory", []):  # type: ignore[union-attr]
        if "error" in m:
            print(f"maps {m['model']}: {m['error']}")
        else:
            print(f"maps {m['model']} {m['options']}: peak RSS {m['peak_rss_mib']:.0f} MiB, "
                  f"{m['wall_s']:.1f} s wall")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
