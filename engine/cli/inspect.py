"""``featurescope inspect``: the model card and the layer table."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.options import EXIT_OK
from engine.featuremaps import model_layers
from engine.model_card import card_text, layer_dict, model_card
from engine.model_io import load_model


def _cmd_inspect(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    layers = model_layers(model)
    if args.json:
        data = model_card(model.info, model.warnings)
        data["layers"] = [layer_dict(layer) for layer in layers]
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(card_text(model.info, layers, model.warnings) + "\n")
    return EXIT_OK


def add_inspect_command(subparsers: Any) -> None:
    """Register ``inspect`` on the CLI's subparsers."""
    inspect = subparsers.add_parser("inspect", help="print the model card and the layer table")
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=_cmd_inspect)
