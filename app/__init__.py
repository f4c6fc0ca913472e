"""Featurescope's desktop application (PySide6 + pyqtgraph).

It may import the engine; the engine never imports it.
"""
