"""``featurescope attribute``: compute one attribution map from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.attribution.types import Target
from engine.errors import EngineError, InputError

_METHOD_NAMES = ("occlusion", "score-cam", "ablation-cam", "eigen-cam", "rise")


_TARGET_FORMS = ("top1, a class number, OUTPUT:INDEX (flat or i,j,k) or a region "
                 "OUTPUT:C@y0,x0,y1,x1")


def _parse_region(text: str, mode: Any) -> Target:
    """``OUTPUT:C@y0,x0,y1,x1``, ``OUTPUT@y0,x0,y1,x1`` (channel 0) or ``@y0,x0,y1,x1``."""
    head, _, box_text = text.partition("@")
    output, sep, channel_text = head.rpartition(":")
    if not sep:
        output, channel_text = head, "0"
    try:
        channel = int(channel_text)
        box = tuple(int(v) for v in box_text.split(","))
    except ValueError as exc:
        raise InputError(f"A region target looks like OUTPUT:C@y0,x0,y1,x1, not '{text}'.") \
            from exc
    if len(box) != 4 or channel < 0:
        raise InputError(f"A region target needs a channel and four box corners "
                         f"(OUTPUT:C@y0,x0,y1,x1), not '{text}'.")
    y0, x0, y1, x1 = box
    if not (0 <= y0 < y1 and 0 <= x0 < x1):
        raise InputError(f"The region box {list(box)} must have y0 < y1 and x0 < x1, "
                         "counted from 0.")
    return Target(kind="region", index=channel, box=(y0, x0, y1, x1),
                  output=output.strip() or None, score=mode)


def parse_target(text: str, score: str = "auto") -> Target:
    """Parse a ``--target``.

    Forms: ``top1``; ``CLASS``; ``OUTPUT:INDEX`` with INDEX flat or ``i,j,k``
    coordinates after the batch axis (e.g. one box's score in a detector's
    ``[1, N, 6]`` output: ``dets:5,4``); ``OUTPUT:C@y0,x0,y1,x1``, the mean of
    channel C over rows y0..y1-1 and columns x0..x1-1 of a map-like output
    ``[1, C, H, W]`` (``OUTPUT@...`` means channel 0, e.g. a text detector's
    probability map ``[1, 1, H, W]`` or a ``[1, H, W]`` map; an empty OUTPUT
    means the first output).

    Raises
    ------
    InputError
        Text that is none of these.
    """
    text = text.strip()
    mode: Any = score
    if "@" in text:
        return _parse_region(text, mode)
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
            raise InputError(f"--target must be {_TARGET_FORMS}, not '{text}'.") from exc
        if len(parts) == 1:
            return Target(kind="element", index=parts[0], output=output, score=mode)
        return Target(kind="element", coords=tuple(parts), output=output, score=mode)
    raise InputError(f"--target must be {_TARGET_FORMS}, not '{text}'.")


def _params(args: argparse.Namespace) -> dict[str, object]:
    given = {"window": args.window, "stride": args.stride, "baseline": args.baseline,
             "variant": args.variant, "channels": args.channels, "masks": args.masks,
             "seed": args.seed, "grid": args.grid, "probability": args.probability,
             "refine": args.refine or None, "coarse_step": args.coarse_step,
             "keep_fraction": args.keep_fraction,
             "compare": args.compare or None}
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
    from engine.jobs import CancelToken, watchdog
    from engine.model_io import load_model
    from engine.outputs import atomic_directory
    from engine.preprocess import prepare_input

    model = load_model(args.model)
    spec = spec_from_args(args, spec_from_model(model.info))
    prepared = prepare_input(model.info, args.input, spec, extra_inputs(args), args.samples)
    method = METHODS[args.method]
    params = _params(args)
    request = AttributionRequest(method=args.method, target=parse_target(args.target, args.score),
                                 layer=args.layer, params=tuple(params.items()),
                                 batch_size=args.batch_size, exact_fp32=args.exact_fp32)
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
    token = CancelToken()
    try:
        with watchdog(token, args.timeout, f"The {method.title} attribution"):
            result = run_attribution(model, prepared, request, args.provider, progress=bar,
                                     cancel=token)
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
    parser.add_argument(
        "--target", default="top1",
        help="what to explain: top1 (default), a class number, OUTPUT:INDEX (one element, "
        "flat index or i,j,k after the batch axis, e.g. one detection's score 'dets:5,4'), "
        "or a region OUTPUT:C@y0,x0,y1,x1 = the mean of channel C over rows y0..y1-1 and "
        "columns x0..x1-1 of a map-like output [1,C,H,W] (OUTPUT@y0,x0,y1,x1: channel 0, "
        "e.g. a text detector's probability map; coordinates in the output's cells)")
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
    parser.add_argument("--batch-size", type=int, help="items per batch (1: no batching; "
                        "default: grown while memory allows, up to 256 on CUDA, 32 on CPU)")
    parser.add_argument("--exact-fp32", action="store_true",
                        help="switch TensorFloat-32 off on CUDA (exact fp32, slower); no "
                        "effect on CPU")
    parser.add_argument("--refine", action="store_true", help="occlusion: coarse-to-fine "
                        "(a coarse pass, then fine windows where the coarse map is strong)")
    parser.add_argument("--coarse-step", type=int, help="occlusion --refine: the coarse pass "
                        "uses this many times the stride (default 2)")
    parser.add_argument("--keep-fraction", type=float,
                        help="occlusion --refine: share of fine windows scored (0..1)")
    parser.add_argument("--compare", action="store_true", help="occlusion --refine: also "
                        "compute the full map and report the agreement")
    parser.add_argument("--numpy", action="store_true", help="build perturbed inputs in numpy "
                        "instead of inside the ONNX graph")
    parser.add_argument("--colormap", default="turbo")
    parser.add_argument("--out", required=True, help="output folder (replaced atomically)")
    parser.set_defaults(handler=_cmd_attribute)
