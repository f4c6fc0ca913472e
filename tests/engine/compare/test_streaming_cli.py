"""Streaming within a memory budget, several inputs, cancellation and the ``compare`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cancellation import CancelToken
from engine.cli import main
from engine.compare import (
    ComparisonResult,
    compare_models,
    expand_inputs,
    inputs_from_paths,
    inputs_from_prepared,
)
from engine.compare.runner import CompareOptions
from engine.errors import Cancelled, InputError
from engine.model_io import load_model
from engine.preprocess import prepare_input
from tests.engine.compare._faults import plant_fault
from tests.engine.conftest import CHELSEA, COFFEE, DEMO_MODEL

CONTRACT_PAIR_KEYS = {"a", "b", "match", "max_abs", "rel_l2", "cosine", "snr_db", "local_rel_l2"}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo with one bias channel changed, and the changed layer's name."""
    path = tmp_path_factory.mktemp("broken") / "broken.onnx"
    return path, plant_fault(DEMO_MODEL, path, "bias").name


_RUNS: dict[str, ComparisonResult] = {}


def _run(broken_path: Path, images: list[Path], budget: int | None = None,
         key: str = "") -> ComparisonResult:
    if key and key in _RUNS:
        return _RUNS[key]
    a, b = load_model(DEMO_MODEL), load_model(broken_path)
    result = compare_models(a, b, inputs_from_paths(a, b, images),
                            CompareOptions(budget_bytes=budget), preference="cpu")
    if key:
        _RUNS[key] = result
    return result


def test_layer_windows_give_the_same_figures_as_every_layer_at_once(broken) -> None:
    path, layer = broken
    whole = _run(path, [CHELSEA], key="chelsea")
    assert whole.strategy.name == "batch-by-batch" and whole.strategy.windows == (49,)
    budget = whole.strategy.estimated_bytes // 3
    windowed = _run(path, [CHELSEA], budget=budget)
    assert windowed.strategy.name == "layer-windows"
    assert len(windowed.strategy.windows) >= 3 and sum(windowed.strategy.windows) == 49
    assert windowed.strategy.estimated_bytes <= budget
    for one, other in zip(whole.pairs, windowed.pairs, strict=True):
        assert (one.a, one.b) == (other.a, other.b)
        # other exposed sets can fuse Conv and activation differently: float noise only
        assert one.rel_l2 == pytest.approx(other.rel_l2, rel=1e-4, abs=1e-6)
        assert one.local_rel_l2 == pytest.approx(other.local_rel_l2, rel=1e-4, abs=1e-6)
    assert windowed.divergent_pair().a == whole.divergent_pair().a == layer  # type: ignore[union-attr]


def test_several_inputs_pool_their_errors(broken, tmp_path: Path) -> None:
    path, layer = broken
    folder = tmp_path / "images"
    folder.mkdir()
    for image in (CHELSEA, COFFEE):
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "notes.md").write_text("not an input")
    listing = tmp_path / "scan.txt"
    listing.write_text(f"# a scan's image list\n{CHELSEA}\n\nimages/{COFFEE.name}\n")
    assert expand_inputs([folder]) == [folder / CHELSEA.name, folder / COFFEE.name]
    assert expand_inputs([listing]) == [CHELSEA, folder / COFFEE.name]
    both = _run(path, expand_inputs([listing]))
    assert both.sources == (str(CHELSEA), str(folder / COFFEE.name))
    assert both.strategy.keep_sessions  # the default budget holds every session
    released = _run(path, expand_inputs([listing]), budget=both.strategy.estimated_bytes)
    assert released.strategy.name == "batch-by-batch" and not released.strategy.keep_sessions
    for kept, fresh in zip(both.pairs, released.pairs, strict=True):
        assert kept.rel_l2 == pytest.approx(fresh.rel_l2, rel=1e-9)
        assert kept.local_rel_l2 == pytest.approx(fresh.local_rel_l2, rel=1e-9)
    cat, cup = _run(path, [CHELSEA], key="chelsea"), _run(path, [COFFEE])
    for pooled, one, other in zip(both.pairs, cat.pairs, cup.pairs, strict=True):
        low, high = sorted((one.rel_l2, other.rel_l2))  # type: ignore[type-var]
        assert low - 1e-12 <= pooled.rel_l2 <= high + 1e-12  # type: ignore[operator]
        assert pooled.max_abs == pytest.approx(max(one.max_abs, other.max_abs))  # type: ignore[type-var]
    assert both.divergent_pair().a == layer  # type: ignore[union-attr]
    assert both.outputs.top1_agreement in (0.0, 0.5, 1.0)


def test_missing_inputs_and_cancellation(broken, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        expand_inputs([tmp_path / "nowhere.png"])
    with pytest.raises(InputError, match="No input files"):
        expand_inputs([tmp_path])
    a, b = load_model(DEMO_MODEL), load_model(broken[0])
    token = CancelToken()
    with pytest.raises(Cancelled):
        compare_models(a, b, inputs_from_prepared(b, [prepare_input(a.info, CHELSEA)]),
                       preference="cpu", progress=lambda _p: token.cancel(), cancel=token)


def test_compare_command_writes_and_prints_the_contract(broken, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    path, layer = broken
    out = tmp_path / "out"
    code = main(["compare", str(DEMO_MODEL), str(path), str(CHELSEA), "--out", str(out),
                 "--json", "--memory-budget", "60", "--provider", "cpu"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "compare.json").read_text())
    assert printed == written
    assert {"pairs", "first_divergence", "outputs", "strategy"} <= set(written)
    assert all(set(p) >= CONTRACT_PAIR_KEYS for p in written["pairs"])
    assert [p["a"] for p in written["pairs"]][:3] == [
        "/_conv_stem/Conv", "/_blocks.0/_depthwise_conv/Conv", "/_blocks.0/_project_conv/Conv"]
    assert written["first_divergence"] == {"a": layer, "b": layer}
    assert written["strategy"] == "layer-windows"
    assert written["outputs"]["top1_agreement"] is not None
    assert (out / "pairs.csv").read_text().count("\n") == 50
    code = main(["compare", str(DEMO_MODEL), str(path), str(CHELSEA), "--out", str(out)])
    assert code == 0
    assert f"first divergence: {layer} -> {layer}" in capsys.readouterr().out


@pytest.mark.parametrize(("options", "message"), [
    (["--tolerance", "-1"], "--tolerance must be a positive number"),
    (["--match", "name,colour"], "--match takes a comma-separated subset"),
])
def test_compare_command_refuses_bad_options_in_one_line(options: list[str], message: str,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    code = main(["compare", str(DEMO_MODEL), str(DEMO_MODEL), str(CHELSEA), "--out",
                 str(tmp_path / "out"), *options])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
