"""Compare two versions of a model layer by layer (fp16, int8, a newer release).

:func:`compare_models` matches the conv layers (by name, position or CKA),
measures each pair's accumulated and local error over the inputs, names the
first layer that introduces an error above the tolerance and reports how the
models' outputs agree; :func:`write_comparison` writes ``compare.json``.
"""

from engine.compare.inputs import (
    CompareInputs,
    expand_inputs,
    inputs_from_paths,
    inputs_from_prepared,
)
from engine.compare.pair_maps import pair_maps
from engine.compare.report import comparison_json, write_comparison
from engine.compare.runner import CompareOptions, compare_models
from engine.compare.types import (
    CkaMatrix,
    ComparisonResult,
    OutputAgreement,
    OutputResult,
    PairResult,
    Strategy,
)

__all__ = [
    "CkaMatrix",
    "CompareInputs",
    "CompareOptions",
    "ComparisonResult",
    "OutputAgreement",
    "OutputResult",
    "PairResult",
    "Strategy",
    "compare_models",
    "comparison_json",
    "expand_inputs",
    "inputs_from_paths",
    "inputs_from_prepared",
    "pair_maps",
    "write_comparison",
]
