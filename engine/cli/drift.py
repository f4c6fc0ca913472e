"""``featurescope drift``: which channels' activations drift between two dataset scans."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.audit.drift import scan_drift
from engine.audit.drift_stats import ALPHA, MIN_EFFECT
from engine.cli.options import EXIT_OK


def _cmd_drift(args: argparse.Namespace) -> int:
    rows = scan_drift(args.scan_a, args.scan_b, args.alpha, args.min_effect)
    if args.json:
        sys.stdout.write(json.dumps({"channels": [row.as_json() for row in rows]}) + "\n")
        return EXIT_OK
    flagged = sum(row.flagged for row in rows)
    sys.stdout.write(f"{flagged} of {len(rows)} channels drift (q < {args.alpha:g} and effect "
                     f"size >= {args.min_effect:g}); largest effects first:\n")
    for row in rows[: args.top]:
        mark = "DRIFT" if row.flagged else ""
        sys.stdout.write(f"  {row.layer} #{row.channel}: effect {row.effect_size:.3f}, KS "
                         f"{row.ks:.3f}, q {row.q:.3g} {mark}\n")
    return EXIT_OK


def add_drift_command(subparsers: Any) -> None:
    """Register ``drift`` on the CLI's subparsers."""
    parser = subparsers.add_parser("drift", help="per-channel activation drift between two "
                                   "scans (Wasserstein-1 effect size, KS, BH q-values)")
    parser.add_argument("scan_a", help="the reference scan folder")
    parser.add_argument("scan_b", help="the scan compared with it")
    parser.add_argument("--json", action="store_true",
                        help="print {channels: [{layer, channel, effect_size, ks, p, q, "
                        "flagged}]} ranked by effect size")
    parser.add_argument("--alpha", type=float, default=ALPHA, help="false discovery rate")
    parser.add_argument("--min-effect", type=float, default=MIN_EFFECT,
                        help="smallest effect size (W1 / reference std) that is flagged")
    parser.add_argument("--top", type=int, default=20, help="rows to print without --json")
    parser.set_defaults(handler=_cmd_drift)
