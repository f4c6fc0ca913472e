"""Two releases of the same vendor model: PP-OCRv3 (rapidocr 1.2.3) against PP-OCRv4 (1.4.4).

The backbones differ (MobileNetV3 against PP-LCNetV3): hardly any name or
position is shared there, so those layers are matched by linear CKA and the
CKA matrix is part of the result; the DB heads share their architecture and
are matched by position. Every weight was retrained, so the first matched
layer with a local error already diverges.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.compare import compare_models, inputs_from_paths, write_comparison
from engine.input_spec import apply_preset, spec_from_model
from engine.model_io import load_model
from tests._compare_models import fetch_version_pair


@pytest.mark.slow
def test_ppocr_v3_against_v4_matches_by_position_and_cka(photo, tmp_path: Path) -> None:
    older, newer = fetch_version_pair("ppocr_det_v3_v4")
    a, b = load_model(older), load_model(newer)
    spec = replace(apply_preset(spec_from_model(a.info), "paddle"), height=320, width=320)
    result = compare_models(a, b, inputs_from_paths(a, b, [photo("page")], spec),
                            preference="cpu")
    kinds = {p.match for p in result.pairs}
    assert kinds == {"position", "cka"}
    b_order = {name: i for i, name in enumerate(p.b for p in result.pairs)}
    assert len(b_order) == len(result.pairs)  # one-to-one
    cka = result.cka
    assert cka is not None and cka.values.shape == (len(cka.a_layers), len(cka.b_layers))
    assert np.all((cka.values >= 0) & (cka.values <= 1)) and cka.examples == 64
    by_cka = [p for p in result.pairs if p.match == "cka"]
    assert all(p.cka is not None and p.cka >= 0.5 and p.local_rel_l2 is None for p in by_cka)
    assert by_cka[0].a == "Conv_0" and by_cka[0].b == "p2o.Conv.0"  # the stems
    assert by_cka[0].cka > 0.95  # type: ignore[operator]
    positions = [p for p in result.pairs if p.match == "position"]
    assert len(positions) >= 16  # the neck and the DB head
    assert all(p.rel_l2 is not None and p.local_rel_l2 is not None for p in positions)
    assert positions[-1].a == "ConvTranspose_1" and positions[-1].b == "p2o.ConvTranspose.2"
    assert "unmatched conv layers of B" in positions[0].note  # the whole v4 backbone
    divergent = result.divergent_pair()
    assert divergent is not None and divergent == positions[0]
    assert divergent.local_rel_l2 > 0.5  # type: ignore[operator]  # retrained weights
    assert result.outputs.top1_agreement is None and result.outputs.max_abs is not None
    data = write_comparison(result, tmp_path, older, newer)
    assert json.loads((tmp_path / "compare.json").read_text()) == data
    with open(tmp_path / "cka.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == len(cka.a_layers) + 1 and len(rows[0]) == len(cka.b_layers) + 1


def test_cka_alone_matches_every_layer_of_a_model_with_itself() -> None:
    from engine.compare.runner import CompareOptions
    from tests.engine.conftest import CHELSEA, DEMO_MODEL

    model = load_model(DEMO_MODEL)
    result = compare_models(model, model, inputs_from_paths(model, model, [CHELSEA]),
                            CompareOptions(methods=("cka",)), preference="cpu")
    assert [(p.a, p.match) for p in result.pairs] == [(p.b, "cka") for p in result.pairs]
    assert len(result.pairs) == 49
    assert result.cka is not None
    np.testing.assert_allclose(np.diag(result.cka.values), 1.0, atol=1e-9)
    assert result.first_divergence is None and result.outputs.max_abs == 0.0
