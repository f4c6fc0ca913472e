"""The audit report's PDF, rendered by Qt's PDF writer from the report's HTML."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from app.report_pdf import html_to_pdf
from engine.atomic_files import png_bytes


def test_html_with_inline_images_becomes_a_pdf(tmp_path: Path, qapp: object) -> None:
    del qapp
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :30] = (255, 0, 0)
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()
    html = (f"<html><head><title>Audit</title></head><body><h1>Audit of m.onnx</h1>"
            f"<p>sha256 abc</p><img src='{uri}'></body></html>")
    (tmp_path / "report.html").write_text(html, encoding="utf-8")
    pdf = html_to_pdf(tmp_path / "report.html", tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/Type /Page" in data
    assert b"/Subtype /Image" in data  # the inline picture made it into the PDF
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left over
