"""A PDF of an audit report, rendered by Qt's own PDF writer from the report's HTML.

The engine writes ``report.html`` (self-contained: images inline); where PySide6
is present (the installer always has it) the same HTML becomes ``report.pdf``
through :class:`QTextDocument` and :class:`QPdfWriter`: no extra PDF stack.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from engine.atomic_files import write_bytes_atomic


def html_to_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Render ``html_path`` to ``pdf_path`` (A4, 15 mm margins), written atomically."""
    app = QGuiApplication.instance()
    if app is None:  # the command line: a GUI application object without a window
        app = QGuiApplication(["featurescope"])
    document = QTextDocument()
    document.setHtml(html_path.read_text(encoding="utf-8"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setTitle(document.metaInformation(QTextDocument.MetaInformation.DocumentTitle))
    document.print_(writer)
    del writer  # finishes the document in the buffer
    buffer.close()
    write_bytes_atomic(pdf_path, bytes(data.data()))
    return pdf_path
