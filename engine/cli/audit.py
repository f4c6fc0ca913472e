"""``featurescope audit``: a reproducible audit report of a model on a set of images."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.atomic_files import atomic_directory
from engine.audit.drift import drift_against
from engine.audit.report import AUDIT_STEPS, AuditSettings, run_audit, write_report
from engine.cli.options import EXIT_OK
from engine.cli.progress import watched
from engine.model_io import load_model
from engine.scan.sources import collect_paths


def _cmd_audit(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    paths = collect_paths(args.data)
    if args.max_images:
        paths = paths[: args.max_images]
    methods = tuple(m for m in args.methods.split(" ") if m) if args.methods else \
        AuditSettings().methods
    settings = AuditSettings(methods=methods, steps=args.steps, seed=args.seed,
                             cascade=args.cascade, sanity_images=args.sanity_images)
    drift = None
    if args.reference_scan:
        drift = drift_against(args.reference_scan, args.model, paths, args.provider)
    with watched(args.timeout, "The audit") as (bar, token):
        audit, assets = run_audit(model, paths, settings, args.provider, bar, token, drift)
    with atomic_directory(args.out) as folder:
        write_report(audit, assets, folder)
    summary = "; ".join(f"{name}: " + ", ".join(f"{metric} {value:.4f}" for metric, value
                                                  in metrics.items())
                        for name, metrics in audit["summary"].items())
    sys.stdout.write(f"audited {len(paths)} images in {audit['times']['seconds']:.1f} s "
                     f"({summary}); report in {args.out}\n")
    return EXIT_OK


def add_audit_command(subparsers: Any) -> None:
    """Register ``audit`` on the CLI's subparsers."""
    parser = subparsers.add_parser("audit", help="a reproducible audit report (HTML + JSON)")
    parser.add_argument("model", help="the .onnx file")
    parser.add_argument("data", nargs="+", help="images: folders, glob patterns or list files")
    parser.add_argument("--out", required=True, help="report folder (replaced atomically)")
    parser.add_argument("--methods", help="space-separated methods, each NAME or "
                        "NAME:param=value,... (default: 'eigen-cam "
                        "occlusion:window=32,stride=32')")
    parser.add_argument("--steps", type=int, default=AUDIT_STEPS,
                        help="deletion/insertion steps per image")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--cascade", type=int, default=3, help="sanity-check cascade steps")
    parser.add_argument("--sanity-images", type=int, default=1,
                        help="images the sanity check runs on")
    parser.add_argument("--max-images", type=int, help="audit only the first N images")
    parser.add_argument("--reference-scan", help="a scan folder (featurescope scan) to "
                        "measure these images' activation drift against")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--timeout", type=float, metavar="SECONDS")
    parser.set_defaults(handler=_cmd_audit)
