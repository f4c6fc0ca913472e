"""A PDF of an audit report, rendered by Qt's own PDF writer from the report's HTML.

The engine writes ``report.html`` (self-contained: images inline); where PySide6
is present (the installer always has it) the same HTML becomes ``report.pdf``
through :class:`QTextDocument` and :class:`QPdfWriter`: no extra PDF stack.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument


def html_to_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Render ``html_path`` to ``pdf_path`` (A4, 15 mm margins), written atomically."""
    app = QGuiApplication.instance()
    if app is None:  # the command line: a GUI application object without a window
        app = QGuiApplication(["featurescope"])
    document = QTextDocument()
    document.setHtml(html_path.read_text(encoding="utf-8"))
    handle, temporary = tempfile.mkstemp(dir=pdf_path.parent, prefix=".report-",
                                         suffix=".pdf")
    os.close(handle)
    try:
        writer = QPdfWriter(temporary)
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
        writer.setTitle(document.metaInformation(QTextDocument.MetaInformation.DocumentTitle))
        document.print_(writer)
        del writer  # finishes the file
        os.replace(temporary, pdf_path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return pdf_path
