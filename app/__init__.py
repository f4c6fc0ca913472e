"""Featurescope's desktop application (PySide6 + pyqtgraph); may import engine, never the reverse."""
