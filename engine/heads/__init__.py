"""Output heads: recognise what a model's outputs are and decode its predictions.

:func:`predict` runs a model once and returns :class:`Predictions`: the
recognised head (classifier, dense detection, post-NMS detection, map, CTC
sequence, or an integer output moved back to the tensor it consumes) and what
it predicts, each prediction with the ``--target`` text that explains it.
"""

from engine.heads.registry import RECOGNISERS, predict, recognise_head
from engine.heads.types import Head, HeadContext, PredictionItem, Predictions, Recogniser

__all__ = ["RECOGNISERS", "Head", "HeadContext", "PredictionItem", "Predictions", "Recogniser",
           "predict", "recognise_head"]
