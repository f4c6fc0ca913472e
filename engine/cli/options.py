"""Options shared by the commands, and the exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine.errors import InputError
from engine.input_override import at_input_size
from engine.input_proposal import propose_input_spec
from engine.input_spec import apply_preset, validate_spec
from engine.model_io import LoadedModel
from engine.preprocess import prepare_input
from engine.types import RESIZE_MODES, InputSpec, PreparedInput

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
    parser.add_argument("--resize", choices=RESIZE_MODES,
                        help="keep_aspect: fixed height, width from the aspect ratio (text lines)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop with an error if the work takes longer than this")
    parser.add_argument("--samples", type=int, help="for .wav input: samples to feed "
                        "(models with a free length; e.g. 576 for Silero VAD at 16 kHz)")
    parser.add_argument("--extra-input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="a .npy file for a further model input")


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` (or one number for a square) as (height, width).

    Raises
    ------
    InputError
        Anything else.
    """
    try:
        h, _, w = text.lower().partition("x")
        return int(h), int(w or h)
    except ValueError as exc:
        raise InputError(f"--size must look like 224x224, not '{text}'.") from exc


def spec_from_args(args: argparse.Namespace, base: InputSpec) -> InputSpec:
    """Apply ``--preset``, ``--size`` and ``--resize`` to a model's default spec."""
    spec = base
    if args.preset:
        spec = apply_preset(spec, args.preset)
    if args.size:
        height, width = parse_size(args.size)
        spec = replace(spec, height=height, width=width)
    if args.resize:
        spec = replace(spec, resize=args.resize)
    return validate_spec(spec)


def prepare_from_args(args: argparse.Namespace, model: LoadedModel
                      ) -> tuple[LoadedModel, PreparedInput]:
    """The model (rewritten for ``--size`` where it declares placeholder dims) and the input
    prepared with the model's proposed spec and the command line's overrides.

    The prepared input records why its size and preset were chosen
    (``spec_reason``), which ``maps`` and ``attribute`` write into their manifests.
    """
    proposal = propose_input_spec(model)
    spec = spec_from_args(args, proposal.spec)
    rewritten = ""
    if args.size:
        model, rewritten = at_input_size(model, spec.height, spec.width)
    reasons = dict(proposal.reasons)
    if args.preset:
        reasons["preset"] = f"{args.preset} from --preset"
    if args.size:
        reasons["size"] = f"{spec.height}x{spec.width} from --size"
    if args.resize:
        reasons["resize"] = f"{spec.resize} from --resize"
    if rewritten:
        reasons["size"] = f"{spec.height}x{spec.width} from --size ({rewritten})"
    prepared = prepare_input(model.info, args.input, spec, extra_inputs(args), args.samples)
    return model, replace(prepared, spec_reason="; ".join(reasons.values()))


def extra_inputs(args: argparse.Namespace) -> dict[str, str | Path]:
    """Parse ``--extra-input NAME=FILE`` options."""
    result: dict[str, str | Path] = {}
    for item in args.extra_input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--extra-input must look like NAME=FILE.npy, not '{item}'.")
        result[name] = path
    return result
