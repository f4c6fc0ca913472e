"""Top-k predictions and labels lookup (metadata names a file, never a path)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.predictions import find_labels, read_labels, top_k


def test_top_k_softmax_and_probabilities() -> None:
    logits = np.array([[1.0, 3.0, 2.0]], np.float32)
    rows = top_k((("logits", logits),), ("a", "b"), k=3)
    assert [r.index for r in rows] == [1, 2, 0]
    assert [r.label for r in rows] == ["b", "class 2", "a"]
    assert sum(r.score for r in rows) == pytest.approx(1.0)
    assert not rows[0].probability
    probs = top_k((("p", np.array([0.2, 0.8])),), k=1)
    assert probs[0].score == pytest.approx(0.8) and probs[0].probability
    assert top_k((("map", np.zeros((1, 200_000))),)) == ()
    assert top_k(()) == ()


def test_find_labels_uses_only_the_file_name(tmp_path: Path) -> None:
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    (model.parent / "classes.txt").write_text("cat\ndog\n\n")
    assert find_labels(model, "../../etc/classes.txt") == model.parent / "classes.txt"
    assert find_labels(model, "/etc/passwd") is None
    assert read_labels(model.parent / "classes.txt") == ("cat", "dog")


def test_find_labels_ignores_symlinks_out_of_the_folder(tmp_path: Path) -> None:
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    os.symlink(secret, model.parent / "labels.txt")
    assert find_labels(model, "labels.txt") is None


def test_read_labels_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        read_labels(tmp_path / "missing.txt")
