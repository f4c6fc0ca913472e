"""``featurescope evaluate``: deletion and insertion curves of an attribution map."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.atomic_files import atomic_directory
from engine.attribution.registry import METHODS
from engine.attribution.target_text import parse_target
from engine.attribution.types import AttributionRequest
from engine.audit.export import metrics_json, write_evaluation
from engine.audit.faithfulness import METRICS, Metric, evaluate
from engine.cli.attribute import add_method_flags, choose_target, given_params
from engine.cli.options import EXIT_OK, add_input_options, prepare_from_args
from engine.cli.progress import watched
from engine.errors import InputError
from engine.model_io import load_model


def _metrics(text: str) -> tuple[Metric, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise InputError(f"--metrics takes deletion and/or insertion, not '{text}'.")
    return names  # type: ignore[return-value]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    model, prepared = prepare_from_args(args, model)
    target_text, _ = choose_target(args, model, prepared)
    request = AttributionRequest(method=args.method, target=parse_target(target_text),
                                 layer=args.layer, params=tuple(given_params(args).items()),
                                 batch_size=args.batch_size)
    with watched(args.timeout, "The evaluation") as (bar, token):
        result = evaluate(model, prepared, request, _metrics(args.metrics), args.steps,
                          args.score, preference=args.provider, progress=bar,
                          cancel=token)
    if args.out:
        with atomic_directory(args.out) as folder:
            write_evaluation(result, prepared, model.sha256, folder)
    if args.json:
        sys.stdout.write(json.dumps(metrics_json(result)) + "\n")
    else:
        aucs = ", ".join(f"{c.metric} AUC {c.auc:.4f}" for c in result.curves)
        sys.stdout.write(f"{result.attribution.method}: {aucs} ({result.steps} steps, "
                         f"{result.score_mode} score, {result.forward_passes} forward passes "
                         f"in {result.seconds:.2f} s)\n")
    return EXIT_OK


def add_evaluate_command(subparsers: Any) -> None:
    """Register ``evaluate`` on the CLI's subparsers."""
    parser = subparsers.add_parser("evaluate", help="deletion/insertion faithfulness of an "
                                   "attribution map")
    add_input_options(parser)
    parser.add_argument("--method", required=True, choices=tuple(METHODS))
    parser.add_argument("--layer", help="CAM layer (default: the engine's choice)")
    parser.add_argument("--target", default=None, help="as for attribute (default det:0, the "
                        "top prediction)")
    parser.add_argument("--metrics", default="deletion,insertion",
                        help="deletion, insertion or both (comma-separated)")
    parser.add_argument("--steps", type=int, help="equal steps (default: the input's rows)")
    parser.add_argument("--score", choices=["auto", "probability", "logit"], default="auto",
                        help="probability (softmax) or the raw output; auto: the raw output "
                        "(a probability when the model ends in a softmax)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--json", action="store_true", help="print {metric: {auc, curve}}")
    parser.add_argument("--out", help="write heatmap, curves (CSV, PNG) and a manifest here")
    add_method_flags(parser)
    parser.set_defaults(handler=_cmd_evaluate)
