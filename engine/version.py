"""The engine's version (the package's, from pyproject.toml)."""

__version__ = "0.1.0"
