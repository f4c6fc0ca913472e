"""``featurescope attribute``: compute one attribution map from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.attribution.types import Target
from engine.errors import EngineError, InputError

_METHOD_NAMES = ("occlusion", "score-cam", "ablation-cam", "eigen-cam", "rise")


def parse_target(text: str, score: str = "auto") -> Target:
    """Parse ``top1``, ``CLASS`` or ``OUTPUT:INDEX`` (INDEX flat or ``i,j,k`` coordinates).

    Raises
    ------
    InputError
        Text that is none of these.
    """
    text = text.strip()
    mode: Any = score
    if text.lower() in ("", "top1"):
        return Target(score=mode)
    if text.isdigit():
        return Target(kind="class", index=int(text), score=mode)
    output, sep, index = text.rpartition(":")
    if sep and output:
        if index.lower() == "top1":
            return Target(output=output, score=mode)
        try:
            parts = [int(p) for p in index.split(",")]
        except ValueError as exc:
            raise InputError(f"--target must be top1, a class number or OUTPUT:INDEX, not "
                             f"'{text}'.") from exc
        if len(parts) == 1:
            return Target(kind="element", index=parts[0], output=output, score=mode)
        return Target(kind="element", coords=tuple(parts), output=output, score=mode)
    raise InputError(f"--target must be top1, a class number or OUTPUT:INDEX, not '{text}'.")


def _params(args: argparse.Namespace) -> dict[str, object]:
    given = {"window": args.window, "stride": args.stride, "baseline": args.baseline,
             "variant": args.variant, "channels": args.channels, "masks": args.masks,
             "seed": args.seed, "grid": args.grid, "probability": args.probability}
    from engine.attribution.registry import METHODS

    names = {p.name for p in METHODS[args.method].params}
    params = {k: v for k, v in given.items() if v is not None and k in names}
    if "fused" in names and args.numpy:
        params["fused"] = False
    return params


def _cmd_attribute(args: argparse.Namespace) -> int:
    from engine.attribution.export import write_attribution
    from engine.attribution.layers import default_layer, find_layer
    from engine.attribution.registry import METHODS, run_attribution
    from engine.attribution.types import AttributionRequest
    from engine.cli import EXIT_OK, extra_inputs, spec_from_args
    from engine.cli_progress import TerminalProgress
    from engine.input_spec import spec_from_model
    from engine.model_io import load_model
    from engine.outputs import atomic_directory
    from engine.preprocess import prepare_input

    model = load_model(args.model)
    spec = spec_from_args(args, spec_from_model(model.info))
    prepared = prepare_input(model.info, args.input, spec, extra_inputs(args))
    method = METHODS[args.method]
    params = _params(args)
    request = AttributionRequest(method=args.method, target=parse_target(args.target, args.score),
                                 layer=args.layer, params=tuple(params.items()),
                                 batch_size=args.batch_size)
    feeds = prepared.feed_dict()
    shape = next((v.shape for v in feeds.values() if v.ndim == 4), None)
    if shape is not None:
        nhwc = prepared.spec is not None and prepared.spec.layout == "NHWC"
        size = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
        try:
            layer = (find_layer(model, args.layer) if args.layer else default_layer(model)) \
                if method.needs_layer else None
            passes = method.estimate_passes(size, layer, params)
            sys.stderr.write(f"{method.title}: about {passes} forward passes\n")
        except EngineError:
            pass
    bar = TerminalProgress()
    try:
        result = run_attribution(model, prepared, request, args.provider, progress=bar)
    finally:
        bar.close()
    with atomic_directory(args.out) as folder:
        write_attribution(result, prepared, model.sha256, folder, args.colormap)
    where = f" at layer {result.layer}" if result.layer else ""
    sys.stdout.write(
        f"{method.title}{where}: {result.forward_passes} passes ({result.path}, batch "
        f"{result.batch_mode} x{result.batch_size}) on {result.provider} in "
        f"{result.seconds:.2f} s; target {result.target_index} score "
        f"{result.target_score:.4g}; written to {args.out}\n")
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    return EXIT_OK


def add_attribute_command(subparsers: Any) -> None:
    """Register ``attribute`` on the CLI's subparsers."""
    from engine.cli import add_input_options

    parser = subparsers.add_parser("attribute", help="compute an attribution heatmap")
    add_input_options(parser)
    parser.add_argument("--method", required=True, choices=_METHOD_NAMES)
    parser.add_argument("--layer", help="layer for CAM methods (default: the last conv layer "
                        "with a spatial size above 1x1)")
    parser.add_argument("--target", default="top1", help="top1, a class number, or "
                        "OUTPUT:INDEX (flat index or i,j,k)")
    parser.add_argument("--score", choices=["auto", "probability", "logit"], default="auto",
                        help="class score: probability (softmax) or the raw logit")
    parser.add_argument("--window", help="occlusion window H[,W]")
    parser.add_argument("--stride", help="occlusion stride S[,S]")
    parser.add_argument("--baseline", help="occlusion baseline: 0, a number, mean or blur")
    parser.add_argument("--variant", choices=["paper", "pytorch-grad-cam"])
    parser.add_argument("--channels", type=int, help="keep the N highest-variance channels")
    parser.add_argument("--masks", type=int, help="RISE: number of masks")
    parser.add_argument("--seed", type=int, help="RISE: random seed")
    parser.add_argument("--grid", type=int, help="RISE: grid cells per side")
    parser.add_argument("--probability", type=float, help="RISE: keep probability")
    parser.add_argument("--batch-size", type=int, help="items per batch (1: no batching)")
    parser.add_argument("--numpy", action="store_true", help="build perturbed inputs in numpy "
                        "instead of inside the ONNX graph")
    parser.add_argument("--colormap", default="turbo")
    parser.add_argument("--out", required=True, help="output folder (replaced atomically)")
    parser.set_defaults(handler=_cmd_attribute)
