"""Top-k predictions of a classifier output and the labels that name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.types import Prediction

LABELS_KEY = "featurescope.labels"
#: Labels files shipped with Featurescope (found by the name a model's metadata gives).
BUNDLED_LABELS_DIR = Path(__file__).resolve().parents[1] / "resources" / "labels"
MAX_LABELS_BYTES = 5_000_000
MAX_CLASSES = 100_000


def top_k(outputs: tuple[tuple[str, np.ndarray], ...], labels: tuple[str, ...] = (),
          k: int = 5) -> tuple[Prediction, ...]:
    """Top-k classes of the first output when it looks like a class vector.

    Parameters
    ----------
    outputs
        The model's outputs, (name, array) pairs; the first one is used.
    labels
        Class names by index (missing ones become ``class N``).
    k
        How many rows.

    Returns
    -------
    tuple of Prediction
        Empty when the first output is not a numeric vector of at most
        100,000 classes. Scores are the output itself when it already holds
        probabilities (non-negative, summing to 1), else its softmax.
    """
    if not outputs:
        return ()
    values = np.asarray(outputs[0][1])
    if values.dtype.kind not in "fiu" or values.size < 2:
        return ()
    flat = values.reshape(-1) if values.ndim <= 1 else values.reshape(values.shape[0], -1)[0]
    if flat.size > MAX_CLASSES:
        return ()
    flat = np.nan_to_num(flat.astype(np.float64))
    is_prob = bool(np.all(flat >= 0) and abs(flat.sum() - 1.0) < 1e-3)
    if is_prob:
        scores = flat
    else:
        shifted = np.exp(flat - flat.max())
        scores = shifted / shifted.sum()
    order = np.argsort(-scores, kind="stable")[:k]
    return tuple(Prediction(int(i), labels[i] if i < len(labels) else f"class {i}",
                            float(scores[i]), is_prob) for i in order)


def find_labels(model_path: Path, name: str | None, bundled: Path | None = None) -> Path | None:
    """Resolve a labels file named by model metadata, beside the model or among bundled ones.

    Metadata is untrusted: only its file name is used, never a path, and a
    candidate that resolves outside its folder (a symlink) is ignored.
    """
    if not name:
        return None
    base = Path(name.replace("\\", "/")).name
    if not base or base in (".", ".."):
        return None
    folders = [model_path.parent, model_path.parent / "labels"]
    if bundled is not None:
        folders.append(bundled)
    for folder in folders:
        candidate = folder / base
        if candidate.is_file() and candidate.resolve().is_relative_to(folder.resolve()):
            return candidate
    return None


def model_labels(model_path: Path, metadata_name: str | None, given: Path | None = None
                 ) -> tuple[str, ...]:
    """Class names: from ``given``, else the file the metadata names (beside the model,
    or among the bundled labels), else none.

    Raises
    ------
    InputError
        ``given`` cannot be read.
    """
    path = given or find_labels(model_path, metadata_name,
                                BUNDLED_LABELS_DIR if BUNDLED_LABELS_DIR.is_dir() else None)
    return read_labels(path) if path is not None else ()


def read_labels(path: Path) -> tuple[str, ...]:
    """Read one label per line (trailing blank lines dropped).

    Raises
    ------
    InputError
        Missing, unreadable or oversized file.
    """
    try:
        if path.stat().st_size > MAX_LABELS_BYTES:
            raise InputError(f"The labels file '{path.name}' is larger than 5 MB.")
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"The labels file '{path.name}' cannot be read.", str(exc)) from exc
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(line.strip() for line in lines)
