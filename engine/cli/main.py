"""Featurescope's headless command line: ``featurescope inspect|maps|attribute``.

Bad input prints one line on stderr and exits non-zero; output folders are
written atomically. ``python -m engine`` runs the same commands.
"""

from __future__ import annotations

import argparse
import logging
import sys

from engine.cli.attribute import add_attribute_command
from engine.cli.audit import add_audit_command
from engine.cli.compare import add_compare_command
from engine.cli.drift import add_drift_command
from engine.cli.evaluate import add_evaluate_command
from engine.cli.inspect import add_inspect_command
from engine.cli.maps import add_maps_command
from engine.cli.options import EXIT_CANCELLED, EXIT_ERROR, Handler
from engine.cli.predict import add_predict_command
from engine.cli.scan import add_scan_command
from engine.errors import Cancelled, EngineError
from engine.version import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all commands."""
    parser = argparse.ArgumentParser(prog="featurescope", description=(
        "Inspect ONNX convolutional networks: layers, feature maps and attributions."))
    parser.add_argument("--version", action="version", version=f"featurescope {__version__}")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_command in (add_inspect_command, add_maps_command, add_predict_command,
                        add_attribute_command, add_evaluate_command, add_compare_command,
                        add_audit_command, add_drift_command, add_scan_command):
        add_command(sub)
    return parser


def command_names() -> tuple[str, ...]:
    """The names of every command (for the ``featurescope`` entry point's dispatch)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return tuple(sub.choices)


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
