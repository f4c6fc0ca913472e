"""``featurescope compare``: where a second version of a model departs from the first."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from engine.atomic_files import atomic_directory
from engine.cli.options import EXIT_OK, extra_inputs, spec_from_args
from engine.cli.progress import watched
from engine.compare import (
    CompareOptions,
    compare_models,
    expand_inputs,
    inputs_from_paths,
    write_comparison,
)
from engine.compare.types import ComparisonResult
from engine.errors import InputError
from engine.input_spec import spec_from_model
from engine.model_io import load_model

METHODS = ("name", "position", "cka")


def _methods(text: str) -> tuple[str, ...]:
    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise InputError(f"--match takes a comma-separated subset of {', '.join(METHODS)}, "
                         f"not '{text}'.")
    return chosen


def _tolerance(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"--tolerance must be a positive number, not {value}.")
    return value


def summary(result: ComparisonResult) -> str:
    """The comparison in a few lines for the terminal."""
    kinds: dict[str, int] = {}
    for pair in result.pairs:
        kinds[pair.match] = kinds.get(pair.match, 0) + 1
    matched = ", ".join(f"{count} by {kind}" for kind, count in kinds.items())
    first = result.divergent_pair()
    strategy = result.strategy
    lines = [f"{len(result.pairs)} layer pairs ({matched}) compared on "
             f"{len(result.sources)} input{'s' if len(result.sources) != 1 else ''}; "
             f"strategy {strategy.name} ({len(strategy.windows)} window"
             f"{'s' if len(strategy.windows) != 1 else ''})"]
    if first is None:
        lines.append(f"no layer's local error exceeds {result.tolerance:.3g} "
                     f"({result.tolerance_rule})")
    else:
        lines.append(f"first divergence: {first.a} -> {first.b} (local relative L2 error "
                     f"{first.local_rel_l2:.3g} > {result.tolerance:.3g}, "
                     f"{result.tolerance_rule})")
    outputs = result.outputs
    if outputs.top1_agreement is not None:
        lines.append(f"outputs: top-1 agreement {outputs.top1_agreement:.1%}, "
                     f"max abs difference {outputs.max_abs:.3g}")
    elif outputs.max_abs is not None:
        lines.append(f"outputs: max abs difference {outputs.max_abs:.3g}")
    return "\n".join(lines) + "\n"


def _cmd_compare(args: argparse.Namespace) -> int:
    model_a = load_model(args.model_a)
    model_b = load_model(args.model_b)
    spec = spec_from_args(args, spec_from_model(model_a.info))
    paths = expand_inputs(args.inputs)
    inputs = inputs_from_paths(model_a, model_b, paths, spec, extra_inputs(args), args.samples)
    budget = None if args.memory_budget is None else int(args.memory_budget * 1e6)
    options = CompareOptions(tolerance=_tolerance(args.tolerance), methods=_methods(args.match),
                             budget_bytes=budget)
    with watched(args.timeout, "Comparing the models") as (bar, token):
        result = compare_models(model_a, model_b, inputs, options, args.provider,
                                progress=bar, cancel=token)
    with atomic_directory(args.out) as folder:
        data = write_comparison(result, folder, args.model_a, args.model_b)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(summary(result) + f"written to {args.out}\n")
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    return EXIT_OK


def add_compare_command(subparsers: Any) -> None:
    """Register ``compare`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "compare", help="compare two versions of a model layer by layer",
        description="Compare model B (fp16, int8, a newer release) with the reference A layer "
                    "by layer: accumulated and local error per matched layer pair, the first "
                    "layer that introduces an error, and how the outputs agree.")
    parser.add_argument("model_a", help="the reference .onnx file (A)")
    parser.add_argument("model_b", help="the .onnx file compared with it (B)")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="images, .npy or .wav files, folders of them, or a .txt list "
                             "with one path per line")
    parser.add_argument("--out", required=True, help="output folder (replaced atomically)")
    parser.add_argument("--json", action="store_true",
                        help="print compare.json's object on stdout")
    parser.add_argument("--tolerance", type=float, metavar="T",
                        help="local relative L2 error above which a layer diverges (default "
                             "1e-3 for a float B, 10x the median local error for a quantised B)")
    parser.add_argument("--match", default=",".join(METHODS),
                        help="matching methods in order (default: name,position,cka)")
    parser.add_argument("--memory-budget", type=float, metavar="MB",
                        help="memory the comparison may hold at once (default: the configured "
                             "share of available memory)")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--preset", help="preprocessing preset (imagenet, caffe, tf, yolo, "
                        "paddle, mtcnn, raw); default: from model A")
    parser.add_argument("--size", help="input size HxW for models with symbolic height/width")
    parser.add_argument("--resize", choices=["stretch", "letterbox", "center_crop"])
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop with an error if the work takes longer than this")
    parser.add_argument("--samples", type=int, help="for .wav input: samples to feed")
    parser.add_argument("--extra-input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="a .npy file for a further model input")
    parser.set_defaults(handler=_cmd_compare)
