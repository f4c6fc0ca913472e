"""Featurescope's headless command line: ``featurescope inspect|maps|attribute``.

Bad input prints one line on stderr and exits non-zero; output folders are
written atomically. ``python -m engine`` runs the same commands.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine import __version__
from engine.errors import EngineError
from engine.types import InputSpec

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

Handler = Callable[[argparse.Namespace], int]


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by commands that run a model on an input."""
    parser.add_argument("model", help="the .onnx file")
    parser.add_argument("input", help="an image, a .npy tensor (used as is) or a .wav file")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--preset", help="preprocessing preset (imagenet, caffe, tf, yolo, paddle, "
                        "mtcnn, raw); default: from the model")
    parser.add_argument("--size", help="input size HxW for models with symbolic height/width")
    parser.add_argument("--resize", choices=["stretch", "letterbox", "center_crop"])
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop with an error if the work takes longer than this")
    parser.add_argument("--samples", type=int, help="for .wav input: samples to feed "
                        "(models with a free length; e.g. 576 for Silero VAD at 16 kHz)")
    parser.add_argument("--extra-input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="a .npy file for a further model input")


def spec_from_args(args: argparse.Namespace, base: InputSpec) -> InputSpec:
    """Apply ``--preset``, ``--size`` and ``--resize`` to a model's default spec."""
    from engine.errors import InputError
    from engine.input_spec import apply_preset, validate_spec

    spec = base
    if args.preset:
        spec = apply_preset(spec, args.preset)
    if args.size:
        try:
            h, _, w = args.size.lower().partition("x")
            spec = replace(spec, height=int(h), width=int(w or h))
        except ValueError as exc:
            raise InputError(f"--size must look like 224x224, not '{args.size}'.") from exc
    if args.resize:
        spec = replace(spec, resize=args.resize)
    return validate_spec(spec)


def extra_inputs(args: argparse.Namespace) -> dict[str, str | Path]:
    """Parse ``--extra-input NAME=FILE`` options."""
    from engine.errors import InputError

    result: dict[str, str | Path] = {}
    for item in args.extra_input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--extra-input must look like NAME=FILE.npy, not '{item}'.")
        result[name] = path
    return result


def _cmd_inspect(args: argparse.Namespace) -> int:
    from engine.describe import card_text, layer_dict, model_card
    from engine.featuremaps import model_layers
    from engine.model_io import load_model

    model = load_model(args.model)
    layers = model_layers(model)
    if args.json:
        data = model_card(model.info, model.warnings)
        data["layers"] = [layer_dict(layer) for layer in layers]
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(card_text(model.info, layers, model.warnings) + "\n")
    return EXIT_OK


def _cmd_maps(args: argparse.Namespace) -> int:
    from engine.cli_progress import TerminalProgress
    from engine.featuremaps import extract_feature_maps
    from engine.input_spec import spec_from_model
    from engine.jobs import CancelToken, watchdog
    from engine.maps_export import write_maps
    from engine.model_io import load_model
    from engine.outputs import atomic_directory
    from engine.preprocess import prepare_input

    model = load_model(args.model)
    spec = spec_from_args(args, spec_from_model(model.info))
    prepared = prepare_input(model.info, args.input, spec, extra_inputs(args), args.samples)
    names = None if args.layers in (None, "all") else [n for n in args.layers.split(",") if n]
    bar = TerminalProgress()
    token = CancelToken()
    try:
        with watchdog(token, args.timeout, "Extracting the feature maps"):
            result = extract_feature_maps(model, prepared, names, args.provider, progress=bar,
                                          cancel=token)
    finally:
        bar.close()
    with atomic_directory(args.out) as folder:
        write_maps(result, folder, args.colormap)
    check = "passed" if result.check.passed else "FAILED"
    sys.stdout.write(
        f"{len(result.layers)} layers written to {args.out} on {result.run.provider} "
        f"in {dict(result.timings)['total']:.2f} s; original outputs check {check} "
        f"(max abs diff {result.check.worst:.3g})\n")
    for warning in prepared.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all commands."""
    parser = argparse.ArgumentParser(prog="featurescope", description=(
        "Inspect ONNX convolutional networks: layers, feature maps and attributions."))
    parser.add_argument("--version", action="version", version=f"featurescope {__version__}")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", help="print the model card and the layer table")
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=_cmd_inspect)
    maps = sub.add_parser("maps", help="write every conv layer's feature maps")
    add_input_options(maps)
    maps.add_argument("--out", required=True, help="output folder (replaced atomically)")
    maps.add_argument("--layers", default="all", help="all, or comma-separated layer names")
    maps.add_argument("--colormap", default="viridis")
    maps.set_defaults(handler=_cmd_maps)
    try:
        from engine.attribution.cli import add_attribute_command
    except ImportError:
        pass
    else:
        add_attribute_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except EngineError as exc:
        from engine.errors import Cancelled

        sys.stderr.write(f"error: {exc.one_line() if args.verbose else exc.message}\n")
        return EXIT_CANCELLED if isinstance(exc, Cancelled) else EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted.\n")
        return EXIT_CANCELLED
    except MemoryError:
        sys.stderr.write("error: out of memory.\n")
        return EXIT_ERROR
    except Exception as exc:
        logging.getLogger("featurescope").debug("unexpected error", exc_info=True)
        sys.stderr.write(f"error: unexpected internal error: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''} (please report it)\n")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
