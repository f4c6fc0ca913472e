"""Featurescope's entry point: the GUI, ``--info``, ``--screenshot`` and the engine CLI.

``featurescope inspect|maps|attribute ...`` runs the headless engine commands;
``featurescope [MODEL] [IMAGE]`` opens the window (the bundled demo when no
model is given). A session autosaved by a window that crashed or was killed is
offered back at the next start (``--restore`` reopens it without asking). Qt and
onnxruntime are imported only when needed so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import locale
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.driver import Script

LOG = logging.getLogger("featurescope")


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the GUI entry point."""
    parser = argparse.ArgumentParser(
        prog="featurescope",
        description="Open an ONNX CNN, browse its layers' feature maps and run attributions. "
                    "Headless commands (inspect, maps, predict, attribute, evaluate, scan, "
                    "examples, compare, drift, audit, ...): featurescope-cli --help.")
    parser.add_argument("model", nargs="?", help="an .onnx model or a .fsession file "
                        "(default: the bundled demo)")
    parser.add_argument("image", nargs="?", help="an image, .npy tensor or .wav input")
    parser.add_argument("--info", action="store_true",
                        help="print versions, paths and execution providers, then exit")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="open the window, wait until everything is shown, save a PNG, exit")
    parser.add_argument("--dump-state", metavar="JSON",
                        help="like --screenshot, but write the session the window holds "
                             "(model, input, spec, layer, settings) as JSON")
    parser.add_argument("--restore", action="store_true",
                        help="reopen the session autosaved before a crash without asking")
    parser.add_argument("--layer", help="the layer to show once the maps are computed")
    parser.add_argument("--channel", type=int, help="the channel to open")
    parser.add_argument("--attribution", metavar="METHOD",
                        help="run this attribution method once the maps are computed")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of --attribution (repeatable), e.g. stride=4,4")
    parser.add_argument("--target", type=int, metavar="K",
                        help="with --attribution: explain the K-th prediction (default 0, the "
                             "top one)")
    parser.add_argument("--panel", choices=["input", "channel", "attribution"],
                        help="the right-hand panel to show in front")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="with --screenshot/--dump-state: give up after this many seconds")
    parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--verbose", action="store_true", help="log details to stderr")
    return parser


def ensure_utf8_locale(environ: MutableMapping[str, str] | None = None,
                       system: str = sys.platform) -> str | None:
    """Give the process a UTF-8 locale when the session sets none (or only C/POSIX).

    Qt reads file names and text through the locale's encoding and warns (then
    mangles non-ASCII names) under the C locale. Nothing is changed when LC_ALL,
    LC_CTYPE or LANG names a real locale, nor on Windows (Qt uses UTF-16 there).

    Returns
    -------
    str or None
        The variable set (``LC_ALL=C.UTF-8``), or None when nothing was changed.
    """
    env = os.environ if environ is None else environ
    if system.startswith("win"):
        return None
    current = next((env[k] for k in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(k)), "")
    if current and current.split(".")[0] not in ("C", "POSIX"):
        return None  # a real locale chosen by the user, UTF-8 or not
    if "utf" in current.lower().replace("-", ""):
        return None  # C.UTF-8 already
    value = "UTF-8" if system == "darwin" else "C.UTF-8"
    name = "LC_ALL" if env.get("LC_ALL") else "LC_CTYPE"
    env[name] = value
    if environ is None:  # the real process: the C library's locale follows
        with contextlib.suppress(locale.Error):
            locale.setlocale(locale.LC_CTYPE, "")
    return f"{name}={value}"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("PIL", "pyqtgraph"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_gui(args: argparse.Namespace) -> int:
    """Create the application and window; return the exit code."""
    script = _script(args)
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from app.notify import ExceptHooks, Notifier
    from app.paths import DEMO_IMAGE, DEMO_MODEL
    from app.settings import APPLICATION, ORGANIZATION
    from app.views.common import configure_pyqtgraph

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_pyqtgraph()
    from app.driver import StartupDriver
    from app.main_window import MainWindow

    notifier = Notifier()
    hooks = ExceptHooks(notifier)
    hooks.install()
    window = MainWindow(notifier)
    window.controller.preference = args.provider
    paths = [Path(p) for p in (args.model, args.image) if p]
    if not paths:
        paths = [DEMO_MODEL, DEMO_IMAGE]
    elif len(paths) == 1 and args.model and Path(args.model).suffix.lower() == ".onnx":
        paths.append(DEMO_IMAGE)
    driver = StartupDriver(window, script)
    window.show()
    if script.exits:
        app.processEvents()
        window.default_layout(1600, 1000, fit=False)

    def open_files() -> None:
        if args.restore:
            if window.offer_recovery(restore=True) is not None:
                return
            notifier.notify("info", "There is no interrupted session to restore.")
        window.open_paths(paths)
        if not args.restore and not script.exits:
            window.offer_recovery()

    driver.start(open_files)
    code = app.exec()
    window.autosaver.discard()
    hooks.uninstall()
    return driver.exit_code if code == 0 else code


def _script(args: argparse.Namespace) -> Script:
    from app.driver import Script

    params = []
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"featurescope: --param needs NAME=VALUE, not '{item}'")
        params.append((name.strip(), value.strip()))
    return Script(layer=args.layer, channel=args.channel, method=args.attribution,
                  params=tuple(params), target=args.target, panel=args.panel,
                  screenshot=Path(args.screenshot) if args.screenshot else None,
                  dump_state=Path(args.dump_state) if args.dump_state else None,
                  timeout=args.timeout)


def _is_command(word: str) -> bool:
    """Whether ``word`` names an engine command (checked without importing the engine for
    anything that looks like a path or an option)."""
    if word.startswith("-") or "/" in word or "\\" in word or Path(word).suffix:
        return False
    from engine.cli import command_names

    return word in command_names()


def run_cli(argv: list[str]) -> int:
    """Run a headless command; after ``audit``, also render its report as PDF with Qt."""
    from engine.cli import main as cli_main

    code = cli_main(argv)
    if code == 0 and argv[0] == "audit":
        from engine.cli import build_parser

        out = Path(build_parser().parse_args(argv).out)
        from app.report_pdf import html_to_pdf

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        html_to_pdf(out / "report.html", out / "report.pdf")
        sys.stdout.write(f"PDF: {out / 'report.pdf'}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the engine CLI, ``--info`` or the GUI; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ensure_utf8_locale()
    if argv and _is_command(argv[0]):
        return run_cli(argv)
    args = build_parser().parse_args(argv)
    if args.info:
        from app.info import info_text

        sys.stdout.write(info_text() + "\n")
        return 0
    _setup_logging(args.verbose)
    scripted = bool(args.screenshot or args.dump_state)
    if scripted and not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith(
            "linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
