"""Benchmark: ``compare`` against two ``maps`` runs, time and peak memory, ratios in one run.

For each case (model A, model B, input) this times, interleaved and from cold
caches each time, ``extract_feature_maps`` on A, ``extract_feature_maps`` on B
and ``compare_models(A, B)`` with every layer, and reports the ratio of the
comparison to the two maps runs (goal: within 3x). Peak memory is measured in
child processes (``VmHWM``): ``maps`` on A alone against ``compare`` on the
largest listed real model (PP-OCRv4 DBNet at 736x736, as in ``bench_maps``)
(goal: below 2x).

Run: ``python -m benchmarks.bench_compare [--quick] [--repeats N] [--json-out FILE]
[--screenshot PNG]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"
WORK = Path(tempfile.gettempdir()) / "featurescope-bench-compare"
CASES = ("demo_fp16", "demo_qdq", "demo_dynamic", "det736_fault")
QUICK = ("demo_fp16", "det736_fault")


def case_files(name: str) -> tuple[Path, Path, Path, dict[str, Any]]:
    """(model A, model B, input, spec overrides) of a case, building B once."""
    from tests import variants
    from tests.engine.compare._faults import plant_fault

    WORK.mkdir(parents=True, exist_ok=True)
    if name.startswith("demo_"):
        kind = name.removeprefix("demo_")
        target = WORK / f"demo_{kind}.onnx"
        if not target.is_file():
            folder = WORK / kind
            built = {"fp16": lambda: variants.to_fp16(DEMO, folder, keep_io_types=False),
                     "qdq": lambda: variants.quantize_qdq(DEMO, folder),
                     "dynamic": lambda: _dynamic(DEMO, folder)}[kind]()
            built.replace(target)
        return DEMO, target, CHELSEA, {}
    from tests.real_models import fetch

    source = fetch("ppocrv4_det_dbnet")
    target = WORK / "det_fault.onnx"
    if not target.is_file():
        plant_fault(source, target, "weights")
    return source, target, fetch("page"), {"preset": "paddle", "size": (736, 736)}


def _dynamic(src: Path, folder: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / "dynamic.onnx"
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv"])
    return dst


def _spec(model: Any, overrides: dict[str, Any]) -> Any:
    from engine.input_spec import apply_preset, spec_from_model

    spec = spec_from_model(model.info)
    if "preset" in overrides:
        spec = apply_preset(spec, overrides["preset"])
    if "size" in overrides:
        spec = replace(spec, height=overrides["size"][0], width=overrides["size"][1])
    return spec


def _cold() -> None:
    """Empty every engine cache, so each timed call pays what a fresh process pays."""
    from engine import featuremaps
    from engine.session import SESSIONS

    SESSIONS.clear()
    for cache in (featuremaps._CATALOGUES, featuremaps._REPORTS, featuremaps._ESTIMATES,
                  featuremaps._EXPOSED):
        cache.clear()


def _maps(model: Any, image: Path, spec: Any, provider: str) -> float:
    from engine.featuremaps import extract_feature_maps
    from engine.preprocess import prepare_input

    _cold()
    start = time.perf_counter()
    extract_feature_maps(model, prepare_input(model.info, image, replace(
        spec, dtype=_spec(model, {}).dtype)), preference=provider)  # type: ignore[arg-type]
    return time.perf_counter() - start


def _compare(a: Any, b: Any, image: Path, spec: Any, provider: str) -> tuple[float, Any]:
    from engine.compare import compare_models, inputs_from_paths

    _cold()
    start = time.perf_counter()
    result = compare_models(a, b, inputs_from_paths(a, b, [image], spec),
                            preference=provider)  # type: ignore[arg-type]
    return time.perf_counter() - start, result


def bench_time(name: str, provider: str, repeats: int) -> dict[str, Any]:
    """Median seconds of maps A, maps B and compare, interleaved, and their ratio."""
    from engine.model_io import load_model

    path_a, path_b, image, overrides = case_files(name)
    a, b = load_model(path_a), load_model(path_b)
    spec = _spec(a, overrides)
    _maps(a, image, spec, provider)  # warm-up: imports, first allocations
    times: dict[str, list[float]] = {"maps_a": [], "maps_b": [], "compare": []}
    result = None
    for _ in range(repeats):
        times["maps_a"].append(_maps(a, image, spec, provider))
        times["maps_b"].append(_maps(b, image, spec, provider))
        seconds, result = _compare(a, b, image, spec, provider)
        times["compare"].append(seconds)
    medians = {k: statistics.median(v) for k, v in times.items()}
    divergent = result.divergent_pair() if result is not None else None
    return {
        "case": name, "model_a": path_a.name, "model_b": path_b.name, "input": image.name,
        "pairs": len(result.pairs) if result else 0,
        "strategy": result.strategy.name if result else None,
        "first_divergence": divergent.a if divergent else None,
        "levels": [info.optimization_level if info else None
                   for info in ((result.run_a, result.run_b) if result else ())],
        **{f"{k}_s": v for k, v in medians.items()},
        "ratio_compare_vs_two_maps": medians["compare"] / (medians["maps_a"] + medians["maps_b"]),
    }


def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB.

    ``VmHWM`` on Linux: ``ru_maxrss`` survives ``execve``, so a child started by
    a large parent would report the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(what: str, name: str, provider: str) -> None:
    """In a child process: load, record the baseline, run once, print peak RSS as JSON."""
    from engine.model_io import load_model

    path_a, path_b, image, overrides = case_files(name)
    a, b = load_model(path_a), load_model(path_b)
    spec = _spec(a, overrides)
    base = peak_rss_kib()
    seconds = (_maps(a, image, spec, provider) if what == "maps"
               else _compare(a, b, image, spec, provider)[0])
    peak = peak_rss_kib()
    sys.stdout.write(json.dumps({"baseline_mib": base / 1024, "peak_mib": peak / 1024,
                                 "seconds": seconds}) + "\n")


def bench_memory(name: str, provider: str) -> dict[str, Any]:
    """Peak RSS of maps on A and of compare(A, B), each in its own process."""
    runs = {}
    for what in ("maps", "compare"):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_compare", "--child",
                               what, "--case", name, "--provider", provider],
                              capture_output=True, text=True, cwd=ROOT, check=False)
        if proc.returncode != 0:
            return {"case": name, "error": proc.stderr.strip()[-500:]}
        runs[what] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"case": name, "maps": runs["maps"], "compare": runs["compare"],
            "ratio_peak": runs["compare"]["peak_mib"] / runs["maps"]["peak_mib"],
            "ratio_above_baseline": (runs["compare"]["peak_mib"] - runs["compare"]["baseline_mib"])
            / max(1.0, runs["maps"]["peak_mib"] - runs["maps"]["baseline_mib"])}


def screenshot(path: Path, provider: str) -> None:
    """Render the compare view on the demo against a copy with one conv's weights x1.05."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.views.compare_view import SORT_KEYS, CompareView
    from engine.compare import compare_models, inputs_from_paths, pair_maps
    from engine.model_io import load_model
    from tests.engine.compare._faults import plant_fault

    app = QApplication.instance() or QApplication([])
    broken = WORK / "demo_weights_fault.onnx"
    WORK.mkdir(parents=True, exist_ok=True)
    plant_fault(DEMO, broken, "weights")
    a, b = load_model(DEMO), load_model(broken)
    inputs = inputs_from_paths(a, b, [CHELSEA])
    result = compare_models(a, b, inputs, preference=provider)  # type: ignore[arg-type]
    view = CompareView()
    view.resize(1280, 900)
    view.set_result(result)
    index = view.selected or 0
    view.show_pair_maps(index, *pair_maps(a, b, result.pairs[index], inputs,
                                          preference=provider))  # type: ignore[arg-type]
    view.sort.setCurrentText(SORT_KEYS[1])
    view.show()
    for _ in range(5):
        app.processEvents()
    view.grab().save(str(path))
    view.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--screenshot", type=Path, help="also save the compare view as PNG")
    parser.add_argument("--child", choices=["maps", "compare"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.case, args.provider)
        return 0
    cases = QUICK if args.quick else CASES
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor()
                    or platform.machine(), "cores": os.cpu_count(), "provider": args.provider},
        "time": [bench_time(name, args.provider, args.repeats) for name in cases],
        "memory": [bench_memory("det736_fault", args.provider)],
    }
    print(f"{'case':<14} {'pairs':>5} {'strategy':<15} {'maps A':>8} {'maps B':>8} "
          f"{'compare':>8} {'ratio':>6}  first divergence")
    for row in result["time"]:
        print(f"{row['case']:<14} {row['pairs']:>5} {row['strategy']:<15} "
              f"{row['maps_a_s']:>7.2f}s {row['maps_b_s']:>7.2f}s {row['compare_s']:>7.2f}s "
              f"{row['ratio_compare_vs_two_maps']:>5.2f}x  {row['first_divergence']}")
    for row in result["memory"]:
        if "error" in row:
            print(f"memory {row['case']}: {row['error']}")
            continue
        print(f"memory {row['case']}: maps peak {row['maps']['peak_mib']:.0f} MiB, compare peak "
              f"{row['compare']['peak_mib']:.0f} MiB ({row['ratio_peak']:.2f}x; above the "
              f"{row['compare']['baseline_mib']:.0f} MiB baseline: "
              f"{row['ratio_above_baseline']:.2f}x)")
    if args.screenshot:
        screenshot(args.screenshot, args.provider)
        result["screenshot"] = str(args.screenshot)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
