"""``featurescope attribute``: compute one attribution map from the command line.

The method flags are generated from the registry's parameter specs: every
parameter of every method is a flag (``--keep-fraction``, ``--fused/--no-fused``),
shared names appear once, and its help names the methods that take it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.atomic_files import atomic_directory
from engine.attribution.activations import default_layer
from engine.attribution.export import write_attribution
from engine.attribution.method_spec import ParamSpec
from engine.attribution.registry import METHODS, method, plan_attribution, run_attribution
from engine.attribution.target_text import parse_target
from engine.attribution.types import AttributionRequest
from engine.cli.options import EXIT_OK, add_input_options, prepare_from_args
from engine.cli.progress import watched
from engine.errors import InputError
from engine.heads import predict
from engine.model_io import LoadedModel, load_model
from engine.predictions import LABELS_KEY, model_labels
from engine.types import PreparedInput

_DEST_PREFIX = "method_param_"


def _shared_specs() -> dict[str, list[tuple[ParamSpec, str]]]:
    """Every parameter name once, with the spec each method declares for it."""
    specs: dict[str, list[tuple[ParamSpec, str]]] = {}
    for name, spec in METHODS.items():
        for param in spec.params:
            known = specs.setdefault(param.name, [])
            if known and (known[0][0].kind, known[0][0].choices) != (param.kind, param.choices):
                raise TypeError(f"Parameter {param.name} of {name} has another type than the "
                                f"one of {known[0][1]}; one flag needs one type.")
            known.append((param, name))
    return specs


def _flag_help(declared: list[tuple[ParamSpec, str]]) -> str:
    """``[methods] help`` (per-method defaults and ranges where they differ)."""
    first = declared[0][0]
    owners = ", ".join(name for _, name in declared)
    if all(spec == first for spec, _ in declared):
        return f"[{owners}] {first.describe()}"
    parts = [f"{name}: {spec.describe()}" for spec, name in declared]
    return f"[{owners}] " + " | ".join(parts)


def add_method_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per registered method parameter (generated from the specs)."""
    group = parser.add_argument_group("method parameters (generated from the method registry)")
    for declared in _shared_specs().values():
        param = declared[0][0]
        help_text = _flag_help(declared).replace("%", "%%")
        dest = _DEST_PREFIX + param.name
        if param.kind == "bool":
            group.add_argument(param.flag, dest=dest, action=argparse.BooleanOptionalAction,
                               default=None, help=help_text)
        elif param.kind == "choice":
            group.add_argument(param.flag, dest=dest, choices=param.choices, default=None,
                               help=help_text)
        else:
            metavar = {"int": "N", "float": "X", "pair": "H[,W]", "text": "TEXT"}[param.kind]
            group.add_argument(param.flag, dest=dest, metavar=metavar, default=None,
                               help=help_text)


def given_params(args: argparse.Namespace) -> dict[str, object]:
    """The method parameters given on the command line (checked later by the method)."""
    return {key[len(_DEST_PREFIX):]: value for key, value in vars(args).items()
            if key.startswith(_DEST_PREFIX) and value is not None}


def choose_target(args: argparse.Namespace, model: LoadedModel, prepared: PreparedInput
                  ) -> tuple[str, int]:
    """``--target`` as given, or the prediction it names (``det:K``; default ``det:0``),
    and the stride of the map cell that made that prediction (0: none).

    Raises
    ------
    InputError
        ``det:K`` beyond the predictions, or a model that predicts nothing here.
    """
    text = args.target.strip() if args.target else "det:0"
    if not text.lower().startswith("det:"):
        return text, 0
    try:
        rank = int(text[4:])
    except ValueError as exc:
        raise InputError(f"det:K needs a whole number K, not '{text}'.") from exc
    labels = model_labels(model.info.path, model.info.metadata_value(LABELS_KEY))
    result = predict(model, prepared, args.provider, labels=labels)
    if not 0 <= rank < len(result.items):
        raise InputError(f"The model makes {len(result.items)} predictions on this input "
                         f"({result.head.kind} head), so there is no prediction {rank}; "
                         "give --target explicitly.")
    item = result.items[rank]
    sys.stderr.write(f"explaining prediction {rank}: {item.label} ({item.score:.4g}), "
                     f"--target {item.target if len(item.target) < 80 else '(symbol path)'}\n")
    return item.target, item.stride


def _cmd_attribute(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    model, prepared = prepare_from_args(args, model)
    chosen = method(args.method)
    target_text, stride = choose_target(args, model, prepared)
    layer = args.layer
    if layer is None and chosen.needs_layer and stride:
        shapes = {name: tuple(value.shape) for name, value in prepared.feeds}
        layer = default_layer(model, shapes, stride).name  # before the head branch
    request = AttributionRequest(method=args.method, target=parse_target(target_text, args.score),
                                 layer=layer, params=tuple(given_params(args).items()),
                                 batch_size=args.batch_size, exact_fp32=args.exact_fp32)
    plan = plan_attribution(model, prepared, request, args.provider, run_model=False)
    where = f" at layer {plan.layer.name}" if plan.layer is not None else ""
    bound = "" if plan.exact else "at most "
    sys.stderr.write(f"{chosen.title}{where}: {bound}{plan.passes} forward passes after the "
                     "model's own run\n")
    with watched(args.timeout, f"The {chosen.title} attribution") as (bar, token):
        result = run_attribution(model, prepared, request, args.provider, progress=bar,
                                 cancel=token)
    with atomic_directory(args.out) as folder:
        write_attribution(result, prepared, model.sha256, folder, args.colormap)
    where = f" at layer {result.layer}" if result.layer else ""
    sys.stdout.write(
        f"{chosen.title}{where}: {result.forward_passes} forward passes in "
        f"{result.session_runs} runs ({result.perturbation_passes} perturbed, {result.path}, "
        f"batch {result.batch_mode} x{result.batch_size}) on {result.provider} in "
        f"{result.seconds:.2f} s; target {result.target_index} score "
        f"{result.target_score:.4g}; written to {args.out}\n")
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    return EXIT_OK


def add_attribute_command(subparsers: Any) -> None:
    """Register ``attribute`` on the CLI's subparsers."""
    parser = subparsers.add_parser("attribute", help="compute an attribution heatmap")
    add_input_options(parser)
    parser.add_argument("--method", required=True, choices=tuple(METHODS),
                        help="; ".join(f"{name}: {m.description}" for name, m in
                                       METHODS.items()).replace("%", "%%"))
    parser.add_argument("--layer", help="layer for CAM methods (default: the last conv layer "
                        "with more than one channel and a spatial size above 1x1)")
    parser.add_argument(
        "--target", default=None,
        help="what to explain: det:K, the K-th prediction of `featurescope predict` (default: "
        "det:0, the top prediction), top1, a class number, OUTPUT:class=N, OUTPUT:INDEX (one "
        "element, "
        "flat index or i,j,k after the batch axis, e.g. one detection's score 'dets:5,4'), "
        "or a region OUTPUT:C@y0,x0,y1,x1 = the mean of channel C over rows y0..y1-1 and "
        "columns x0..x1-1 of a map-like output [1,C,H,W] (OUTPUT@y0,x0,y1,x1: channel 0, "
        "e.g. a text detector's probability map; coordinates in the output's cells), or "
        "OUTPUT:seq=c0,c1,... (the log-probability of a CTC symbol path)")
    parser.add_argument("--score", choices=["auto", "probability", "logit"], default="auto",
                        help="class score: probability (softmax) or the raw logit")
    parser.add_argument("--batch-size", type=int, help="items per batch (1: no batching; "
                        "default: grown while memory allows, up to 256 on CUDA, 32 on CPU)")
    parser.add_argument("--exact-fp32", action="store_true",
                        help="switch TensorFloat-32 off on CUDA (exact fp32, slower); no "
                        "effect on CPU")
    parser.add_argument("--colormap", default="turbo")
    parser.add_argument("--out", required=True, help="output folder (replaced atomically)")
    add_method_flags(parser)
    parser.set_defaults(handler=_cmd_attribute)


