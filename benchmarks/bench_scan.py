"""Benchmark: dataset scan throughput vs the plain forward, and peak memory vs dataset size.

1. **throughput**: ``run_scan`` over every conv layer of the demo (EfficientNet-Lite0),
   reading PNG and JPEG files from disk (real photos: scikit-image's, cropped, flipped
   and scaled), against the unmodified model's forward on the same images already
   decoded into tensors, at the same batch size on the same provider. The plain
   forward is timed before and after the scan and averaged, so the ratio holds on a
   shared machine. The forward of the reduced graph alone (no decoding, no top-k, no
   commits) is timed too, to show where the time goes, and so are the *floors*: the model
   with only ``GlobalMaxPool`` per scanned layer, and with ``GlobalMaxPool`` and
   ``GlobalAveragePool`` (round robin with the plain and the reduced graph; see
   :mod:`benchmarks._scan_floor`): no in-graph scan can be faster than reading its maps.
2. **memory**: the peak RSS of ``featurescope scan`` in a fresh process for N and 10N
   images (same layers, k and batch size); it should stay flat (within +50 MB).

3. **ray**: the same scan on a local Ray cluster with one single-CPU actor per core
   (from the moment the actors are ready to the last commit): a node's throughput.

Run: ``.venv/bin/python -m benchmarks.bench_scan [--images 96] [--batch-size 8]
[--memory-images 40] [--ray-workers 2] [--provider cpu] [--model demo|resnet50]``; prints a
table, then JSON. ``--model resnet50`` measures throughput on a compute-bound network (a
ResNet-50 built from seeded weights by :mod:`benchmarks._resnet50_onnx`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
BUNDLED = (ROOT / "resources" / "images" / "chelsea.png",
           ROOT / "resources" / "images" / "coffee.png")
FETCHED = ("astronaut", "page", "text")


def photo_set(folder: Path, count: int, fetched: bool = True) -> list[Path]:
    """``count`` files from real photographs: crops, flips and scales, half PNG, half JPEG.

    ``fetched`` False uses only the two bundled photos (no download: the GPU machine
    has no network).
    """
    from PIL import Image

    sources = list(BUNDLED)
    try:
        if fetched:
            from tests.real_models import fetch

            sources += [fetch(name) for name in FETCHED]
    except Exception as exc:  # noqa: BLE001 - the bundled photos are enough
        print(f"note: fetched photos unavailable ({exc}); using the bundled ones",
              file=sys.stderr)
    pictures = []
    for source in sources:
        with Image.open(source) as opened:
            pictures.append(opened.convert("RGB"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    made: list[Path] = []
    while len(made) < count:
        picture = pictures[len(made) % len(pictures)]
        w, h = picture.size
        x0, y0 = int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4))
        crop = picture.crop((x0, y0, x0 + w * 3 // 4, y0 + h * 3 // 4))
        side = int(rng.integers(224, 320))
        crop = crop.resize((side, side * crop.height // crop.width))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = folder / f"img_{len(made):05d}.{'png' if len(made) % 2 else 'jpg'}"
        crop.save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
        made.append(path)
    return made


def plain_forward(paths: list[Path], batch: int, provider: str, model_path: Path = DEMO
                  ) -> dict[str, float]:
    """Images/s of the unmodified model on pre-decoded tensors, and its CPU time per image.

    The wall-clock rate uses the engine's usual session; the CPU time a session
    with the scan's settings (no spinning threads, whose idle loops count as CPU).
    """
    from engine.input_proposal import propose_input_spec
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.scan.shard import scan_session
    from engine.session import create_session

    model = load_model(model_path)
    spec = propose_input_spec(model).spec
    tensors = [prepare_input(model.info, p, spec).feed_dict()["input"] for p in paths]
    batches = [np.concatenate(tensors[i:i + batch]) for i in range(0, len(tensors), batch)]
    session = create_session(model.proto, provider)  # type: ignore[arg-type]
    session.run({"input": batches[0]})  # warm-up
    start = time.perf_counter()
    for feed in batches:
        session.run({"input": feed}, fetch=session.output_names[:1])
    seconds = time.perf_counter() - start
    quiet = scan_session(model.proto, provider, "all", None)  # type: ignore[arg-type]
    quiet.run({"input": batches[0]})
    cpu = time.process_time()
    for feed in batches:
        quiet.run({"input": feed}, fetch=quiet.output_names[:1])
    cpu_ms = (time.process_time() - cpu) / len(paths) * 1e3
    return {"images_per_second": len(paths) / seconds, "seconds": seconds,
            "cpu_ms_per_image": cpu_ms, "provider": session.info.provider}


def reduced_forward(paths: list[Path], batch: int, provider: str, model_path: Path = DEMO
                    ) -> tuple[float, float]:
    """Images/s and CPU ms per image of the reduced graph alone (max, arg-max, mean)."""
    from engine.input_proposal import propose_input_spec
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.scan.plan import make_plan, plan_layers
    from engine.scan.shard import ShardProcessor

    model = load_model(model_path)
    spec = propose_input_spec(model).spec
    layers, types = plan_layers(model, None, spec)
    plan = make_plan(model, str(model_path), layers, spec, len(paths), "", 16, batch,
                     preference=provider)  # type: ignore[arg-type]
    processor = ShardProcessor(model, plan, None, types)
    tensors = [prepare_input(model.info, p, spec).feed_dict()["input"] for p in paths]
    processor.run_batch(tensors[:batch], {})
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(tensors), batch):
        processor.run_batch(tensors[i:i + batch], {})
    return (len(paths) / (time.perf_counter() - start),
            (time.process_time() - cpu) / len(paths) * 1e3)


def graph_floors(paths: list[Path], batch: int, provider: str, model_path: Path = DEMO,
                 rounds: int = 11) -> dict[str, float]:
    """Images/s of the plain model, the pooling floors and the reduced graph, round robin.

    One session each, with the scan's settings (onnxruntime's default thread count, no
    spinning: idle spinning threads of one session would slow the next one down), on the
    first batch of the photos; see :mod:`benchmarks._scan_floor`.
    """
    from benchmarks._scan_floor import floor_variants, time_round_robin
    from engine.input_proposal import propose_input_spec
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.scan.plan import make_plan, plan_layers
    from engine.scan.shard import ShardProcessor, scan_session

    model = load_model(model_path)
    spec = propose_input_spec(model).spec
    layers, types = plan_layers(model, None, spec)
    plan = make_plan(model, str(model_path), layers, spec, len(paths), "", 16, batch,
                     preference=provider)  # type: ignore[arg-type]
    reduced = ShardProcessor(model, plan, None, types).reduced
    variants = floor_variants(model.proto, reduced.proto,
                              [r.layer.tensor for r in reduced.layers])
    sessions = {label: scan_session(proto, provider, "all", None)  # type: ignore[arg-type]
                for label, proto in variants.items()}
    feed = {"input": np.concatenate([prepare_input(model.info, p, spec).feed_dict()["input"]
                                     for p in paths[:batch]])}
    return time_round_robin(sessions, feed, rounds, runs=max(1, 32 // batch))


def scan_throughput(folder: Path, out: Path, batch: int, provider: str,
                    model_path: Path = DEMO) -> dict[str, float]:
    """Images/s of a whole scan (decode from disk, reduce, top-k, commit)."""
    from engine.scan import ScanRequest, run_scan

    marks: list[tuple[float, int, str, float]] = []

    def progress(report: object) -> None:
        marks.append((time.perf_counter(), int(report.done),  # type: ignore[attr-defined]
                      str(report.message), time.process_time()))  # type: ignore[attr-defined]

    start = time.perf_counter()
    summary = run_scan(ScanRequest(str(model_path), (str(folder),), str(out), k=16,
                                   batch_size=batch, shard_size=4 * batch,
                                   preference=provider),  # type: ignore[arg-type]
                       progress=progress)
    total = time.perf_counter() - start
    # From the start of the first shard to the last commit (set-up and final tables apart).
    commits = [mark for mark in marks if mark[1] > 0 and mark[2] != "done"]
    first, last = marks[0], commits[-1]
    steady = (last[1] - first[1]) / (last[0] - first[0])
    cpu_ms = (last[3] - first[3]) / (last[1] - first[1]) * 1e3
    return {"images_per_second": steady, "cpu_ms_per_image": cpu_ms,
            "end_to_end_images_per_second": summary.readable / total,
            "end_to_end_seconds": total, "images": summary.readable,
            "provider": summary.provider, "layers": summary.layers, "channels": summary.channels}


def ray_throughput(folder: Path, out: Path, batch: int, provider: str, workers: int
                   ) -> dict[str, float]:
    """Images/s of a scan on a local Ray cluster of ``workers`` one-CPU actors."""
    import ray

    from engine.scan import ScanRequest
    from engine.scan.ray_runner import RayEvent, RayOptions, run_scan_ray

    marks: list[tuple[float, str]] = []

    def on_event(event: RayEvent) -> None:
        marks.append((time.perf_counter(), event.kind))

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        summary = run_scan_ray(ScanRequest(str(DEMO), (str(folder),), str(out), k=16,
                                           batch_size=batch, shard_size=4 * batch,
                                           preference=provider),  # type: ignore[arg-type]
                               RayOptions(workers=workers, cpus_per_worker=1), events=on_event)
        total = time.perf_counter() - start
    finally:
        ray.shutdown()
    ready = next(t for t, kind in marks if kind == "workers_ready")
    last = [t for t, kind in marks if kind == "shard_committed"][-1]
    return {"images_per_second": summary.readable / (last - ready), "workers": workers,
            "end_to_end_seconds": total, "images": summary.readable}


def peak_rss(folder: Path, out: Path, batch: int, provider: str) -> dict[str, float]:
    """Peak RSS of ``featurescope scan`` in a fresh process."""
    code = ("import resource, sys; from engine.cli import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")
    start = time.perf_counter()
    # Shards of 2 batches: both runs keep every session busy, so only the image count differs.
    proc = subprocess.run([sys.executable, "-c", code, "scan", str(DEMO), str(folder), "--out",
                           str(out), "--batch-size", str(batch), "--shard-size", str(2 * batch),
                           "--provider", provider],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    return {"peak_rss_mib": int(proc.stderr.strip().splitlines()[-1]) / 1024,
            "wall_s": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--memory-images", type=int, default=40,
                        help="N of the memory check (10N is scanned too); 0 skips it")
    parser.add_argument("--provider", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model", default="demo", choices=["demo", "resnet50"],
                        help="the demo (memory-bound EfficientNet-Lite0) or a ResNet-50 built "
                             "with seeded weights (compute-bound); resnet50 skips the memory "
                             "and Ray parts")
    parser.add_argument("--ray-workers", type=int, default=os.cpu_count() or 1,
                        help="one-CPU actors of the local Ray run; 0 skips it")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="featurescope-bench-scan-"))
    try:
        model_path = DEMO
        if args.model == "resnet50":
            import onnx

            from benchmarks._resnet50_onnx import build_onnx, make_weights

            model_path = scratch / "resnet50.onnx"
            onnx.save(build_onnx(make_weights(0)), model_path)
            args.memory_images, args.ray_workers = 0, 0
        photos = scratch / "photos"
        paths = photo_set(photos, args.images)
        before = plain_forward(paths, args.batch_size, args.provider, model_path)
        scan = scan_throughput(photos, scratch / "scan", args.batch_size, args.provider,
                               model_path)
        after = plain_forward(paths, args.batch_size, args.provider, model_path)
        reduced, reduced_cpu = reduced_forward(paths, args.batch_size, args.provider,
                                               model_path)
        floors = graph_floors(paths, args.batch_size, args.provider, model_path)
        cluster = ray_throughput(photos, scratch / "ray", args.batch_size, args.provider,
                                 args.ray_workers) if args.ray_workers else None
        plain = (before["images_per_second"] + after["images_per_second"]) / 2
        plain_cpu = (before["cpu_ms_per_image"] + after["cpu_ms_per_image"]) / 2
        result: dict[str, object] = {
            "machine": {"python": platform.python_version(), "cores": os.cpu_count(),
                        "cpu": platform.processor() or platform.machine(),
                        "load_average": os.getloadavg()},
            "model": model_path.name, "batch_size": args.batch_size, "images": args.images,
            "plain_forward_images_per_second": plain,
            "plain_forward_runs": [before["images_per_second"], after["images_per_second"]],
            "reduced_forward_images_per_second": reduced,
            "scan": scan,
            "ratio_scan_vs_plain": scan["images_per_second"] / plain,
            "ratio_reduced_graph_vs_plain": reduced / plain,
            "cpu_ms_per_image": {"plain": plain_cpu, "reduced_graph": reduced_cpu,
                                 "scan": scan["cpu_ms_per_image"]},
            "cpu_ratio_scan_vs_plain": plain_cpu / scan["cpu_ms_per_image"],
            "cpu_ratio_reduced_graph_vs_plain": plain_cpu / reduced_cpu,
            "goal_ratio": 0.7,
            # Round robin, one batch: how far pooling alone (no location) can go.
            "graph_floors_images_per_second": floors,
            "graph_floor_ratios": {label: rate / floors["plain"]
                                   for label, rate in floors.items()},
        }
        if cluster is not None:
            result["ray_local"] = cluster
            result["ratio_ray_vs_plain"] = cluster["images_per_second"] / plain
        if args.memory_images:
            small, large = args.memory_images, 10 * args.memory_images
            many = scratch / "many"
            photo_set(many, large)
            few = scratch / "few"
            few.mkdir()
            for path in sorted(many.iterdir())[:small]:
                shutil.copy(path, few / path.name)
            memory = {"n": small, "n_run": peak_rss(few, scratch / "m1", args.batch_size,
                                                     args.provider),
                      "ten_n_run": peak_rss(many, scratch / "m2", args.batch_size,
                                            args.provider)}
            memory["growth_mib"] = (memory["ten_n_run"]["peak_rss_mib"]  # type: ignore[index]
                                    - memory["n_run"]["peak_rss_mib"])  # type: ignore[index]
            result["memory"] = memory
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"model {model_path.name}, all {scan['layers']} conv layers "
          f"({scan['channels']} channels), "
          f"batch {args.batch_size}, {scan['provider']}, {os.cpu_count()} cores")
    print(f"{'what':<52} {'images/s':>10} {'ratio':>7} {'CPU ms/img':>11} {'CPU ratio':>10}")
    rows = [("plain forward, pre-decoded tensors (baseline)", plain, 1.0, plain_cpu, 1.0),
            ("reduced graph forward, pre-decoded tensors", reduced, reduced / plain,
             reduced_cpu, plain_cpu / reduced_cpu),
            ("scan: PNG/JPEG from disk, reduce, top-k, commit", scan["images_per_second"],
             scan["images_per_second"] / plain, scan["cpu_ms_per_image"],
             plain_cpu / scan["cpu_ms_per_image"]),
            ("scan end to end (with set-up and final tables)",
             scan["end_to_end_images_per_second"], scan["end_to_end_images_per_second"] / plain,
             float("nan"), float("nan"))]
    if "ray_local" in result:
        rows.append((f"scan on local Ray, {args.ray_workers} one-CPU actors",
                     cluster["images_per_second"],  # type: ignore[index]
                     cluster["images_per_second"] / plain,  # type: ignore[index]
                     float("nan"), float("nan")))
    for name, rate, ratio, cpu, cpu_ratio in rows:
        print(f"{name:<52} {rate:>10.1f} {ratio:>6.2f}x {cpu:>11.1f} {cpu_ratio:>9.2f}x")
    print("graph floors, round robin on one batch (images/s, ratio to plain): "
          + "; ".join(f"{label} {rate:.1f} ({rate / floors['plain']:.2f}x)"
                      for label, rate in floors.items()))
    if "memory" in result:
        memory = result["memory"]
        print(f"peak RSS: {memory['n']} images {memory['n_run']['peak_rss_mib']:.0f} MiB, "  # type: ignore[index]
              f"{10 * memory['n']} images {memory['ten_n_run']['peak_rss_mib']:.0f} MiB "  # type: ignore[index]
              f"(growth {memory['growth_mib']:+.0f} MiB, goal <= +50)")  # type: ignore[index]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
