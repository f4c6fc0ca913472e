"""``featurescope predict``: what the model predicts on an input, through its recognised head."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.cancellation import CancelToken, watchdog
from engine.cli.options import EXIT_OK, add_input_options, prepare_from_args
from engine.heads import Predictions, predict
from engine.model_io import load_model
from engine.predictions import LABELS_KEY, model_labels
from engine.types import PreparedInput


def predictions_json(prepared: PreparedInput, result: Predictions) -> dict[str, Any]:
    """The ``predict --json`` object (a contract read outside this repository)."""
    summary = prepared.input_summary()
    return {
        "input": {"size": summary["size"], "preset": summary["preset"],
                  "layout": summary["layout"], "reason": summary["reason"]},
        "head": {"kind": result.head.kind, "output": result.head.output,
                 "reason": result.head.reason},
        "predictions": [item.as_json() for item in result.items],
    }


def _cmd_predict(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    model, prepared = prepare_from_args(args, model)
    token = CancelToken()
    with watchdog(token, args.timeout, "The prediction"):
        labels = model_labels(model.info.path, model.info.metadata_value(LABELS_KEY),
                              Path(args.labels) if args.labels else None)
        result = predict(model, prepared, args.provider, cancel=token, labels=labels)
    if args.json:
        sys.stdout.write(json.dumps(predictions_json(prepared, result), ensure_ascii=False,
                                    indent=2) + "\n")
        return EXIT_OK
    size = prepared.input_summary()["size"]
    sys.stdout.write(f"{result.head.kind} head: {result.head.reason}\n"
                     f"input {size} ({prepared.spec_reason})\n")
    for rank, item in enumerate(result.items[: args.top]):
        where = ""
        if item.box is not None:
            where = " box [" + ", ".join(f"{v:.0f}" for v in item.box) + "]"
        elif item.point is not None:
            where = " at (" + ", ".join(f"{v:.0f}" for v in item.point) + ")"
        sys.stdout.write(f"{rank:3d}  {item.score:.4f}  {item.label}{where}  "
                         f"--target {item.target if len(item.target) < 60 else f'det:{rank}'}\n")
    if len(result.items) > args.top:
        sys.stdout.write(f"... {len(result.items) - args.top} more (--top N or --json)\n")
    return EXIT_OK


def add_predict_command(subparsers: Any) -> None:
    """Register ``predict`` on the CLI's subparsers."""
    parser = subparsers.add_parser("predict", help="show what the model predicts on an input "
                                   "(classes, boxes, maps, text)")
    add_input_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--labels", help="class names, one per line (default: the file the "
                        "model's metadata names, or the names in its metadata)")
    parser.add_argument("--top", type=int, default=20, help="rows to print without --json")
    parser.set_defaults(handler=_cmd_predict)
