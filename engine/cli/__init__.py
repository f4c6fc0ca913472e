"""The headless command line (``featurescope-cli``, ``python -m engine``).

One module per command (:mod:`~engine.cli.inspect`, :mod:`~engine.cli.maps`,
:mod:`~engine.cli.attribute`), shared options in :mod:`~engine.cli.options`,
and :func:`main`.
"""

from engine.cli.main import build_parser, command_names, main

__all__ = ["build_parser", "command_names", "main"]
