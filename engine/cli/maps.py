"""``featurescope maps``: write every conv layer's feature maps."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.atomic_files import atomic_directory
from engine.cli.options import EXIT_OK, add_input_options, prepare_from_args
from engine.cli.progress import watched
from engine.featuremaps import extract_feature_maps
from engine.maps_export import write_maps
from engine.model_io import load_model


def _cmd_maps(args: argparse.Namespace) -> int:

    model = load_model(args.model)
    model, prepared = prepare_from_args(args, model)
    names = None if args.layers in (None, "all") else [n for n in args.layers.split(",") if n]
    with watched(args.timeout, "Extracting the feature maps") as (bar, token):
        result = extract_feature_maps(model, prepared, names, args.provider, progress=bar,
                                      cancel=token)
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


def add_maps_command(subparsers: Any) -> None:
    """Register ``maps`` on the CLI's subparsers."""
    maps = subparsers.add_parser("maps", help="write every conv layer's feature maps")
    add_input_options(maps)
    maps.add_argument("--out", required=True, help="output folder (replaced atomically)")
    maps.add_argument("--layers", default="all", help="all, or comma-separated layer names")
    maps.add_argument("--colormap", default="viridis")
    maps.set_defaults(handler=_cmd_maps)
