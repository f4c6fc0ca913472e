"""``compare.json`` and its companions: the comparison as files.

``compare.json`` (the contract read by other tools): ``pairs`` (topological
order of A, each with ``a``, ``b``, ``match``, ``max_abs``, ``rel_l2``,
``cosine``, ``snr_db``, ``local_rel_l2``), ``first_divergence`` (``a`` and
``b`` of that pair, or null), ``outputs`` (agreement figures) and
``strategy``; more keys add detail. Non-finite numbers are written as null
(``snr_db`` of identical tensors is infinite). ``pairs.csv`` has one row per
pair; ``cka.csv`` the CKA matrix when CKA matching ran.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from engine.atomic_files import csv_text, write_json_atomic, write_text_atomic
from engine.compare.types import ComparisonResult, PairResult

FORMAT_VERSION = 1


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _pair(pair: PairResult) -> dict[str, Any]:
    return {
        "a": pair.a, "b": pair.b, "match": pair.match,
        "max_abs": _number(pair.max_abs), "rel_l2": _number(pair.rel_l2),
        "cosine": _number(pair.cosine), "snr_db": _number(pair.snr_db),
        "local_rel_l2": _number(pair.local_rel_l2),
        "local_max_abs": _number(pair.local_max_abs),
        "depth": pair.index, "a_tensor": pair.a_tensor, "b_tensor": pair.b_tensor,
        "shape": list(pair.shape) if pair.shape is not None else None,
        "cka": _number(pair.cka),
        "per_channel_rel_l2": [_number(float(v)) for v in pair.per_channel_rel_l2],
        "note": pair.note,
    }


def comparison_json(result: ComparisonResult, model_a: str | Path | None = None,
                    model_b: str | Path | None = None) -> dict[str, Any]:
    """The comparison as the ``compare.json`` object (JSON-ready, no non-finite numbers).

    Parameters
    ----------
    result
        From :func:`engine.compare.compare_models`.
    model_a, model_b
        Paths of the models, recorded beside their sha256.
    """
    first = result.divergent_pair()
    outputs = result.outputs
    strategy = result.strategy
    return {
        "format_version": FORMAT_VERSION,
        "model_a": {"path": None if model_a is None else str(model_a),
                    "sha256": result.model_a_sha256},
        "model_b": {"path": None if model_b is None else str(model_b),
                    "sha256": result.model_b_sha256, "quantized": result.b_quantized},
        "inputs": list(result.sources),
        "pairs": [_pair(p) for p in result.pairs],
        "first_divergence": None if first is None else {"a": first.a, "b": first.b},
        "tolerance": _number(result.tolerance),
        "tolerance_rule": result.tolerance_rule,
        "outputs": {
            "top1_agreement": _number(outputs.top1_agreement),
            "max_abs": _number(outputs.max_abs),
            "per_output": [{"a": o.a, "b": o.b, "shape": list(o.shape),
                            "classifier": o.classifier, "max_abs": _number(o.max_abs),
                            "rel_l2": _number(o.rel_l2),
                            "top1_agreement": _number(o.top1_agreement)}
                           for o in outputs.outputs],
        },
        "strategy": strategy.name,
        "strategy_detail": {"windows": list(strategy.windows), "inputs": strategy.inputs,
                            "budget_bytes": strategy.budget_bytes,
                            "estimated_bytes": strategy.estimated_bytes,
                            "sessions_kept": strategy.keep_sessions,
                            "reason": strategy.reason},
        "unmatched_a": list(result.unmatched_a),
        "unmatched_b": list(result.unmatched_b),
        "cka": None if result.cka is None else {
            "a": list(result.cka.a_layers), "b": list(result.cka.b_layers),
            "examples": result.cka.examples, "file": "cka.csv"},
        "runs": {label: None if info is None else {
            "provider": info.provider, "optimization_level": info.optimization_level}
            for label, info in (("a", result.run_a), ("b", result.run_b))},
        "timings": {name: round(seconds, 4) for name, seconds in result.timings},
        "notes": list(result.notes),
    }


def write_comparison(result: ComparisonResult, folder: str | Path,
                     model_a: str | Path | None = None,
                     model_b: str | Path | None = None) -> dict[str, Any]:
    """Write ``compare.json``, ``pairs.csv`` and (with CKA) ``cka.csv`` into ``folder``.

    Returns
    -------
    dict
        The ``compare.json`` object.

    Raises
    ------
    OutputError
        A file cannot be written.
    """
    out = Path(folder)
    data = comparison_json(result, model_a, model_b)
    write_json_atomic(out / "compare.json", data)
    header = ["depth", "a", "b", "match", "max_abs", "rel_l2", "cosine", "snr_db",
              "local_rel_l2", "local_max_abs", "cka", "note"]
    rows = [[p["depth"], p["a"], p["b"], p["match"], p["max_abs"], p["rel_l2"], p["cosine"],
             p["snr_db"], p["local_rel_l2"], p["local_max_abs"], p["cka"], p["note"]]
            for p in data["pairs"]]
    write_text_atomic(out / "pairs.csv", csv_text(header, rows))
    if result.cka is not None:
        matrix = result.cka.values
        cka_rows: list[list[object]] = [
            [name, *(f"{v:.6f}" for v in matrix[i])] for i, name in enumerate(result.cka.a_layers)]
        write_text_atomic(out / "cka.csv", csv_text(["a \\ b", *result.cka.b_layers], cka_rows))
    return data
