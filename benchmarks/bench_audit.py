"""Benchmark: faithfulness curves against the network's throughput bound, and a 100-image audit.

1. Deletion + insertion curves for one image on the demo (EfficientNet-Lite0,
   chelsea.png, 224 steps each: 450 passes), fused in the graph, against the
   plain network on ready batches of the same size (the throughput bound), in
   the same run. Goal: within 10% of the bound.
2. ``featurescope audit`` of 100 images (the bundled and fetched photos, with
   flips, crops and scales for volume) with two methods (Eigen-CAM and occlusion
   32x32 stride 32), on the CPU. Goal: under 10 minutes.

Run: ``python -m benchmarks.bench_audit [--provider cpu] [--images 100] [--json-out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "efficientnet_lite0.onnx"
CHELSEA = ROOT / "resources" / "images" / "chelsea.png"


def plain_seconds(session: Any, feeds: dict[str, np.ndarray], batches: int) -> float:
    """Seconds the plain network takes for ``batches`` runs of the ready batch ``feeds``."""
    start = time.perf_counter()
    for _ in range(batches):
        session.run(feeds, session.output_names[:1])
    return time.perf_counter() - start


def curves(provider: str, repeats: int) -> dict[str, Any]:
    """Median seconds of the 450 curve passes (the curves alone, not the attribution before
    them) vs the bound at the same batch size, measured alternately.

    The bound is the plain network running as many batches of the same size on a
    ready batch, timed the same way (one pass over all batches per repeat, the
    median of the repeats) and scaled to the useful passes, so padding counts
    against the curves and the two figures see the same load.
    """
    from engine.attribution.context import balanced_batch
    from engine.attribution.types import AttributionRequest
    from engine.audit.faithfulness import evaluate
    from engine.model_io import load_model
    from engine.preprocess import prepare_input
    from engine.session import create_session

    model = load_model(DEMO)
    prepared = prepare_input(model.info, CHELSEA)
    request = AttributionRequest("eigen-cam")
    warm = evaluate(model, prepared, request, preference=provider, steps=8)
    items = warm.steps + 1
    session = create_session(model.proto, provider)  # type: ignore[arg-type]
    times, bounds, result = [], [], None
    for _ in range(repeats):  # curves and bound interleaved, so load changes hit both
        result = evaluate(model, prepared, request, preference=provider)
        times.append(result.curve_seconds)
        items = result.steps + 1
        used = balanced_batch(items, result.batch_size)  # the batch that ran
        feeds = {n: np.repeat(v, used, axis=0) for n, v in prepared.feed_dict().items()}
        batches = 2 * -(-items // used)
        session.run(feeds, session.output_names[:1])  # this batch shape planned
        bounds.append(plain_seconds(session, feeds, batches) * 2 * items / (batches * used))
    assert result is not None
    passes = 2 * items
    seconds = float(np.median(times))
    batch = balanced_batch(items, result.batch_size)
    bound = float(np.median(bounds))
    # Each repeat's curves and bound ran back to back under the same load: the median of
    # their ratios is the figure (the ratio of the two medians is given too).
    pairs = [t / b for t, b in zip(times, bounds, strict=True)]
    return {"passes": passes, "steps": result.steps, "batch": batch, "seconds": seconds,
            "bound_s": bound, "over_bound": float(np.median(pairs)),
            "ratio_of_medians": seconds / bound, "path": result.path,
            "provider": result.attribution.provider, "curve_runs_s": times,
            "bound_runs_s": bounds}


def photo_set(folder: Path, count: int) -> Path:
    """``count`` real photographs: the bundled and fetched ones, flipped, cropped, scaled."""
    from tests.real_models import fetch

    sources = [CHELSEA, ROOT / "resources" / "images" / "coffee.png",
               *(fetch(name) for name in ("astronaut", "page", "text"))]
    made = 0
    while made < count:
        for source in sources:
            if made >= count:
                break
            with Image.open(source) as image:
                picture = image.convert("RGB")
            variant = made // len(sources)
            if variant % 2:
                picture = ImageOps.mirror(picture)
            if variant % 3 == 1:
                w, h = picture.size
                picture = picture.crop((w // 10, h // 10, w - w // 10, h - h // 10))
            if variant % 4 == 2:
                picture = picture.resize((picture.width * 3 // 4, picture.height * 3 // 4))
            picture.save(folder / f"photo_{made:03d}.png")
            made += 1
    return folder


def audit(provider: str, images: int) -> dict[str, Any]:
    """Wall time of ``featurescope audit`` on ``images`` photos with two methods."""
    from engine.cli import main

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "photos"
        data.mkdir()
        photo_set(data, images)
        start = time.perf_counter()
        code = main(["audit", str(DEMO), str(data), "--out", str(Path(scratch) / "report"),
                     "--provider", provider])
        seconds = time.perf_counter() - start
        report = json.loads((Path(scratch) / "report" / "audit.json").read_text())
    return {"images": images, "exit_code": code, "seconds": seconds,
            "methods": report["settings"]["methods"], "steps": report["settings"]["steps"],
            "summary": report["summary"], "goal_s": 600.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "curves": curves(args.provider, args.repeats),
              "audit": audit(args.provider, args.images) if args.images else None}
    text = json.dumps(report, indent=2)
    print(text)
    c = report["curves"]
    print(f"\n| what | seconds | bound s | ratio |\n|---|---|---|---|\n"
          f"| deletion+insertion, {c['passes']} passes, batch {c['batch']} ({c['path']}) | "
          f"{c['seconds']:.2f} | {c['bound_s']:.2f} | {c['over_bound']:.2f}x |")
    if report["audit"]:
        a = report["audit"]
        print(f"| audit of {a['images']} images, 2 methods, {a['steps']} steps | "
              f"{a['seconds']:.1f} | (goal {a['goal_s']:.0f}) | |")
    if args.json_out:
        Path(args.json_out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
