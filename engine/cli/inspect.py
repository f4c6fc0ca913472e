"""``featurescope inspect``: the model card and the layer table."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.options import EXIT_OK, parse_size
from engine.featuremaps import input_shapes_for, layers_at_size
from engine.input_proposal import propose_input_spec
from engine.model_card import card_text, layer_dict, model_card
from engine.model_io import load_model


def _cmd_inspect(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    proposal = propose_input_spec(model)
    height, width = proposal.spec.height, proposal.spec.width
    reason = proposal.reason("size") or proposal.reason("resize")
    if args.size:
        height, width = parse_size(args.size)
        reason = f"{height}x{width} from --size"
    layers = layers_at_size(model, input_shapes_for(model, height, width))
    if args.json:
        data = model_card(model.info, model.warnings)
        data["input"] = {"size": [height, width], "preset": proposal.spec.preset,
                         "layout": proposal.spec.layout, "reason": proposal.reason()}
        data["layers"] = [layer_dict(layer) for layer in layers]
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(card_text(model.info, layers, model.warnings) + "\n")
        sys.stdout.write(f"Layer shapes for a {height}x{width} input ({reason}).\n")
    return EXIT_OK


def add_inspect_command(subparsers: Any) -> None:
    """Register ``inspect`` on the CLI's subparsers."""
    inspect = subparsers.add_parser("inspect", help="print the model card and the layer table")
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.add_argument("--size", help="input size HxW for the layer shapes (default: the "
                         "size the model suggests)")
    inspect.set_defaults(handler=_cmd_inspect)
