"""Featurescope's engine: load ONNX models, expose conv layers, compute maps and attributions.

The engine never imports Qt, pyqtgraph or the ``app`` package.
"""

__version__ = "0.1.0"
