"""GPU suite: feature maps, Score-CAM and occlusion against the network's bound and PyTorch libs.

One run, one JSON document (printed and written to ``--json``), then a table. Sections:

maps
    ``extract_feature_maps`` on the demo model (EfficientNet-Lite0, chelsea.png) with the
    provider read back from the result (what really ran), and the median forward with every
    conv output exposed against the plain model on the same provider (as bench_maps.py).
network
    A ResNet-50 with seeded random weights built as ONNX with ``onnx.helper``
    (``benchmarks/_resnet50_onnx.py``; no torch needed), fp32 and fp16, loaded by the
    engine. The Score-CAM layer is layer4's block output, the Relu after the last residual
    Add (``/layer4/layer4.2/relu_2/Relu_output_0``, torchvision ``model.layer4[-1]``),
    passed by tensor name (``AttributionRequest(layer=...)``; the engine takes any 4-D
    tensor). The JSON's ``cam_layer`` says which.
torch_equivalence
    Where torch is importable: the same numpy weights in ``torchvision.models.resnet50()``;
    max abs difference of the logits and of the Score-CAM layer against onnxruntime.
score_cam, occlusion
    The engine (``run_attribution``) on the ResNet-50, fp32 and fp16: Score-CAM on all 2048
    channels of that layer (``--quick``: the N channels of largest variance), occlusion with
    16x16 windows at stride 8 (729 passes at 224x224). Each against the network's own
    throughput bound at the same batch size on the same provider (the plain network on a
    batch already on the device, images per second; bench_attribution.py measures it with
    host feeds, also recorded), measured in the same run.
pytorch_grad_cam, captum
    The same work in ``pytorch_grad_cam.ScoreCAM(target_layers=[model.layer4[-1]])`` (the
    engine's layer and channels, ``batch_size`` = the engine's; JSON key ``same_layer``) and
    ``captum.attr.Occlusion`` (window (3, 16, 16), strides (3, 8, 8),
    ``perturbations_per_eval`` = the engine's batch), each run with its own model instance
    (pytorch-grad-cam leaves hooks on its model), fp32 and ``.half()``; the Pearson
    correlation and max abs difference of their map against the engine's, and the plain
    torch network's bound.
scan, curves
    A dataset scan of the demo against the plain forward (goal on the GPU: 0.9x) and the
    deletion/insertion curves against the network's bound (goal: within 10%); see
    ``_gpu_dataset_sections``. They run after occlusion, before the torch sections.

Goals (H100-class GPU): Score-CAM and occlusion within 5% of the bound; Score-CAM about
0.33 s fp32 and at most 0.23 s fp16; occlusion about 0.12 s fp32 and at most 0.08 s fp16.

Every section records its own failure as an error string and the run goes on; the exit
code is 1 if a section that should have run failed; sections stop starting after
``--budget-s``. ``--quick`` runs on the CPU in well under a minute on 2 cores (64x64 input,
32 Score-CAM channels, occlusion stride 16: 16 windows); sections that need torch record
``"skipped": "torch not installed"`` where it is missing, or run in ``--torch-python``'s
interpreter. "over_bound" divides the method's time by its perturbed passes at the bound;
the engine's reference run and batch checks count against it.

Modules: this file (command line, section order, budget); ``_gpu_common`` (settings,
goals, helpers); ``_gpu_engine_sections`` (maps, network, score_cam, occlusion);
``_gpu_dataset_sections`` (scan, curves);
``_gpu_torch_sections`` and ``_gpu_torch_worker`` (the torch sections, in this process or
another interpreter); ``_gpu_stubs`` (stand-ins for the libraries' unused imports);
``_gpu_report`` (environment and tables).

Run (see benchmarks/README.md for staging onnxruntime-gpu and the libraries)::

    python benchmarks/gpu_suite.py [--quick] [--provider auto|cpu|cuda] [--json FILE]
        [--site DIR ...] [--torch-python PY] [--budget-s S]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``engine`` and ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks._gpu_common import (  # noqa: E402
    GOALS,
    STUBBABLE,
    TORCH_SECTIONS,
    Config,
    add_site,
    error_text,
    make_config,
    nested_errors,
)
from benchmarks._gpu_dataset_sections import section_curves, section_scan  # noqa: E402
from benchmarks._gpu_engine_sections import (  # noqa: E402
    section_engine,
    section_maps,
    section_network,
)
from benchmarks._gpu_report import environment, table  # noqa: E402
from benchmarks._gpu_torch_worker import (  # noqa: E402
    add_correlations,
    run_torch_worker,
    torch_job,
    worker_main,
)


class Suite:
    """Runs sections in order; each failure is recorded and the next section runs."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.start = time.perf_counter()
        self.sections: dict[str, Any] = {}
        self.failed: list[str] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def skip(self, name: str, why: str) -> None:
        self.sections[name] = {"skipped": why}

    def fail(self, name: str, why: str) -> None:
        self.sections[name] = {"error": why}
        self.failed.append(name)

    def run(self, name: str, fn: Callable[[], dict[str, Any]]) -> bool:
        if self.elapsed() > self.cfg.budget_s:
            self.fail(name, f"not run: the time budget of {self.cfg.budget_s:.0f} s was spent")
            return False
        print(f"[gpu_suite] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - a section reports any failure and the run goes on
            result = {"error": error_text(exc), "traceback": traceback.format_exc()[-2000:]}
        result["section_s"] = round(time.perf_counter() - start, 2)
        self.sections[name] = result
        errors = nested_errors(result)
        if errors:
            self.failed.append(name)
            result.setdefault("errors", errors)
        return not errors

    def record(self, out: dict[str, Any], start: float) -> None:
        """The torch sections' results, from this process or the worker."""
        for name in TORCH_SECTIONS:
            result = out.get(name, {"error": "missing from the torch run"})
            result["section_s"] = round(time.perf_counter() - start, 2)
            self.sections[name] = result
            if nested_errors(result):
                self.failed.append(name)


def run_torch(suite: Suite, cfg: Config, args: argparse.Namespace, env: dict[str, Any],
              state: dict[str, Any], sites: list[str], workdir: Path) -> None:
    """The torch sections: here, in ``--torch-python``'s interpreter, skipped or failed."""
    torch_env: dict[str, Any] = env["torch"] if isinstance(env.get("torch"), dict) else {}
    torch_here = "version" in torch_env
    wants_cuda = cfg.provider == "cuda" or (cfg.provider == "auto" and (
        torch_env.get("cuda_available") if torch_here else
        env.get("cuda", {}).get("usable", False)))
    if "fp32" not in state.get("models", {}):
        for name in TORCH_SECTIONS:
            suite.fail(name, "needs the network section, which failed")
        return
    if not (torch_here or args.torch_python):
        why = torch_env.get("error") or "torch not installed"
        for name in TORCH_SECTIONS:
            if cfg.quick and why == "torch not installed":
                suite.skip(name, why)
            else:
                suite.fail(name, why + ("" if cfg.quick else " (the full run needs it)"))
        return
    if suite.elapsed() > cfg.budget_s:
        for name in TORCH_SECTIONS:
            suite.fail(name, f"not run: the time budget of {cfg.budget_s:.0f} s was spent")
        return
    start = time.perf_counter()
    try:
        job, arrays = torch_job(cfg, state, "cuda" if wants_cuda else "cpu",
                                libraries_required=not cfg.quick, stubs=not args.no_stubs,
                                seconds_left=cfg.budget_s - suite.elapsed())
        if torch_here:
            from benchmarks._gpu_torch_sections import torch_sections

            print("[gpu_suite] torch sections ...", file=sys.stderr, flush=True)
            out, maps = torch_sections(job, arrays)
        else:
            print(f"[gpu_suite] torch sections in {args.torch_python} ...",
                  file=sys.stderr, flush=True)
            out, maps = run_torch_worker(args.torch_python, job, arrays, workdir, sites,
                                         cfg.budget_s - suite.elapsed() + 120)
        add_correlations(out, maps, state.get("engine_maps", {}))
        suite.record(out, start)
        for key in ("_environment", "_worker"):
            if key in out:
                env[f"torch_run{key}"] = out[key]
    except Exception as exc:  # noqa: BLE001 - reported, the report is still written
        for name in TORCH_SECTIONS:
            suite.fail(name, error_text(exc))


def run_suite(cfg: Config, args: argparse.Namespace, sites: list[str], workdir: Path
              ) -> dict[str, Any]:
    """Every section, in order; the JSON-ready report."""
    suite = Suite(cfg)
    state: dict[str, Any] = {}
    env = environment(sites)
    suite.run("maps", lambda: section_maps(cfg))
    suite.run("network", lambda: section_network(cfg, state, workdir))
    network_ok = "fp32" in state.get("models", {})  # fp16 failures fail only fp16 parts
    for method, name in (("score-cam", "score_cam"), ("occlusion", "occlusion")):
        if network_ok:
            suite.run(name, functools.partial(section_engine, cfg, state, method))
        else:
            suite.fail(name, "needs the network section, which failed")
    suite.run("scan", lambda: section_scan(cfg))
    suite.run("curves", lambda: section_curves(cfg))
    run_torch(suite, cfg, args, env, state, sites, workdir)
    return {
        "benchmark": "gpu_suite", "quick": cfg.quick, "config": asdict(cfg),
        "environment": env, "goals": GOALS, "sections": suite.sections,
        "failed_sections": suite.failed, "total_s": round(suite.elapsed(), 1),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="CPU, small input, few passes (under a minute on 2 cores)")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default=None,
                        help="default: cuda (full), cpu (--quick)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--site", action="append", default=[],
                        help="directory prepended to sys.path (staged libraries); repeatable")
    parser.add_argument("--no-stubs", action="store_true",
                        help=f"do not stub missing {', '.join(STUBBABLE)} (imported, never "
                             "called, by pytorch-grad-cam and Captum)")
    parser.add_argument("--torch-python", default=None,
                        help="run the torch sections with this interpreter when this one has "
                             "no torch")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="sections starting after this many seconds are not run "
                             "(default 420 full, 200 quick)")
    parser.add_argument("--size", type=int, default=None, help="ResNet-50 input side")
    parser.add_argument("--channels", type=int, default=None,
                        help="Score-CAM channels (0: all; default 0 full, 32 quick)")
    parser.add_argument("--scorecam-variant", default="pytorch-grad-cam",
                        choices=["pytorch-grad-cam", "paper"])
    parser.add_argument("--stride", type=int, default=None, help="occlusion stride")
    parser.add_argument("--repeats", type=int, default=None, help="timed engine runs")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="engine batch size (default: the engine's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the ONNX models here (default: a temporary folder)")
    parser.add_argument("--torch-worker", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print the JSON then the table; 1 if a section that should run failed."""
    args = parse_args(argv)
    sites = add_site(args.site)
    if args.torch_worker is not None:
        return worker_main(args.torch_worker)
    cfg = make_config(args)
    with tempfile.TemporaryDirectory(prefix="gpu_suite_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_suite(cfg, args, sites, workdir)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    print()
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 1 if report["failed_sections"] else 0


if __name__ == "__main__":
    sys.exit(main())
