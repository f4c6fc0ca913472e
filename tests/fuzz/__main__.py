"""``python -m tests.fuzz [--seed S] [--scale K] [--json FILE]``: the documented long fuzz run."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tests.fuzz.corpus import build_corpus
from tests.fuzz.runner import run_cases, summarise


def main() -> int:
    """Build a corpus of ``scale`` times the CI budget, run it, print a summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = build_corpus(Path(tmp), args.seed, args.scale)
        outcomes = run_cases(cases, Path(tmp))
    summary = summarise(outcomes)
    bad = [o for o in outcomes if o.outcome not in ("result", "error")]
    for item in bad:
        print(f"{item.outcome}: {item.case.kind} {item.case.name}: {item.message[:300]}")
    for item in sorted(outcomes, key=lambda o: -o.seconds)[:8]:
        print(f"slowest: {item.seconds:6.2f} s {item.case.kind} {item.case.name} -> {item.outcome}")
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "scale": args.scale,
                                         "summary": summary}, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
