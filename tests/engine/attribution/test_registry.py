"""One registry end to end: specs, generated CLI flags, estimates that match the runs,
and pass counts checked against onnxruntime itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from engine.attribution.method_spec import ParamSpec, PassQuery
from engine.attribution.registry import METHODS, plan_attribution, run_attribution
from engine.attribution.types import AttributionRequest
from engine.cli import build_parser, main
from engine.errors import InputError
from engine.model_io import load_model
from engine.preprocess import prepare_input
from tests import models, toy_method
from tests.engine.attribution._helpers import npy_input, save_and_load

SMALL: dict[str, tuple[tuple[str, object], ...]] = {
    "occlusion": (("window", (56, 56)), ("stride", (28, 28))),
    "score-cam": (("channels", 96),),
    "ablation-cam": (("channels", 24),),
    "eigen-cam": (),
    "rise": (("masks", 24),),
}


class OrtCounter:
    """Counts onnxruntime's own runs and the batch items they evaluate (independent of
    the engine's meter): wraps InferenceSession.run and run_with_iobinding."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs = 0
        self.items = 0
        self.bound_runs = 0
        plain, bound = ort.InferenceSession.run, ort.InferenceSession.run_with_iobinding
        counter = self

        def run(session: Any, names: Any, feeds: dict[str, np.ndarray], *a: Any,
                **k: Any) -> Any:
            counter.runs += 1
            counter.items += max((len(v) for v in feeds.values() if np.ndim(v)), default=1)
            return plain(session, names, feeds, *a, **k)

        def run_bound(session: Any, binding: Any, *a: Any, **k: Any) -> Any:
            counter.runs += 1
            counter.bound_runs += 1  # items not readable from a binding: tests expect none
            return bound(session, binding, *a, **k)

        monkeypatch.setattr(ort.InferenceSession, "run", run)
        monkeypatch.setattr(ort.InferenceSession, "run_with_iobinding", run_bound)


@pytest.fixture
def ort_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[OrtCounter]:
    yield OrtCounter(monkeypatch)


def test_every_method_is_one_module_with_specs() -> None:
    for name, method in METHODS.items():
        assert method.name == name
        defaults = method.resolve({})
        assert method.as_pairs(defaults) == tuple((p.name, p.default) for p in method.params)
        for spec in method.params:
            assert isinstance(spec, ParamSpec) and spec.help
            assert spec.parse(spec.default) == spec.default


def test_param_specs_refuse_bad_values_in_one_sentence() -> None:
    occlusion = METHODS["occlusion"]
    assert occlusion.resolve({"window": "8x4", "stride": "2"}).window == (8, 4)
    assert occlusion.resolve({"refine": "yes"}).refine is True
    for bad, words in (({"window": "0"}, "must lie in [1, inf]"),
                       ({"keep_fraction": 1.5}, "must lie in [0, 1]"),
                       ({"coarse_step": "two"}, "must be a whole number"),
                       ({"refine": "maybe"}, "must be true or false"),
                       ({"masks": 10}, "has no parameter masks")):
        with pytest.raises(InputError, match=r"\.$") as caught:
            occlusion.resolve(bad)
        assert words in caught.value.message and "\n" not in caught.value.message
    with pytest.raises(InputError, match="must be one of paper, pytorch-grad-cam"):
        METHODS["score-cam"].resolve({"variant": "other"})


#: Methods for classifiers (the demo); D-RISE explains detections and has its own tests.
CLASSIFIER_METHODS = [name for name in METHODS if name != "d-rise"]


@pytest.mark.parametrize("method", CLASSIFIER_METHODS)
def test_the_estimate_is_the_run(demo_model: Path, chelsea: Path, method: str,
                                 ort_counter: OrtCounter) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    request = AttributionRequest(method=method, params=SMALL[method])
    plan = plan_attribution(model, prepared, request, "cpu")
    ort_counter.runs = ort_counter.items = ort_counter.bound_runs = 0
    result = run_attribution(model, prepared, request, "cpu")
    assert ort_counter.bound_runs == 0  # on the CPU every run is a plain one
    assert plan.exact and plan.size == (224, 224) and plan.layout == "NCHW"
    assert result.perturbation_passes == plan.passes
    assert result.layer == (plan.layer.name if plan.layer is not None else None)
    # every run is counted, as onnxruntime itself saw them (CPU: no IO binding here)
    assert result.session_runs == ort_counter.runs
    assert result.forward_passes == ort_counter.items >= plan.total_passes


def test_score_cam_estimate_counts_the_constant_channels_it_skips(
        demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    for variant in ("paper", "pytorch-grad-cam"):
        request = AttributionRequest("score-cam", params=(("variant", variant),))
        upper = plan_attribution(model, prepared, request, "cpu", run_model=False)
        exact = plan_attribution(model, prepared, request, "cpu")
        result = run_attribution(model, prepared, request, "cpu")
        skipped = int(dict(result.stats)["constant_channels_skipped"])
        assert upper.passes == 1280 and not upper.exact
        # the paper skips constant channels; pytorch-grad-cam scores them once, together
        assert exact.passes == result.perturbation_passes == \
            1280 - skipped + (variant == "pytorch-grad-cam")
        assert skipped > 0


def test_nhwc_npy_input_estimate(tmp_path: Path) -> None:
    model = save_and_load(models.nhwc_input(), tmp_path, "nhwc")
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    prepared = npy_input(model, x, tmp_path)
    request = AttributionRequest("occlusion", params=(("window", (8, 8)), ("stride", (8, 8))))
    plan = plan_attribution(model, prepared, request, "cpu")
    result = run_attribution(model, prepared, request, "cpu")
    assert (plan.size, plan.layout) == ((32, 32), "NHWC")
    assert plan.passes == result.perturbation_passes == 16


def test_eigen_cam_makes_one_run_cold_and_warm(demo_model: Path, chelsea: Path,
                                               ort_counter: OrtCounter) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    for _ in range(2):
        ort_counter.runs = 0
        result = run_attribution(model, prepared, AttributionRequest("eigen-cam"), "cpu")
        assert ort_counter.runs == result.session_runs == result.forward_passes == 1


def test_a_toy_method_in_one_module_appears_in_the_cli(
        monkeypatch: pytest.MonkeyPatch, demo_model: Path, chelsea: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(METHODS, "toy-constant", toy_method.METHOD)
    parser = build_parser()
    attribute = next(a for a in parser._subparsers._group_actions  # type: ignore[union-attr]
                     if a.dest == "command").choices["attribute"]
    help_text = " ".join(attribute.format_help().split())
    assert "toy-constant" in help_text and "--level N" in help_text
    assert "--shade {warm,cold,grey}" in help_text
    assert "[toy-constant] value of every pixel of the map; higher: a brighter map at no " \
        "extra cost; range 1..9; default 3" in help_text
    out = tmp_path / "toy"
    assert main(["attribute", str(demo_model), str(chelsea), "--method", "toy-constant",
                 "--level", "7", "--shade", "cold", "--provider", "cpu", "--out",
                 str(out)]) == 0
    np.testing.assert_array_equal(np.load(out / "heatmap.npy"), np.full((224, 224), 7.0))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"] == {"level": 7, "shade": "cold"}
    assert manifest["variant"] == "cold"
    assert main(["attribute", str(demo_model), str(chelsea), "--method", "toy-constant",
                 "--level", "12", "--out", str(tmp_path / "bad")]) == 1
    assert "Parameter level must lie in [1, 9], not '12'." in capsys.readouterr().err


def test_d_rise_on_a_classifier_says_what_it_needs(demo_model: Path, chelsea: Path) -> None:
    model = load_model(demo_model)
    prepared = prepare_input(model.info, chelsea)
    with pytest.raises(InputError, match="D-RISE explains detections; this model's head is a "
                       "classifier head"):
        run_attribution(model, prepared, AttributionRequest("d-rise", params=(("masks", 4),)),
                        "cpu")


def test_shared_flags_come_from_one_spec() -> None:
    fused = {m.name: next(p for p in m.params if p.name == "fused") for m in METHODS.values()
             if any(p.name == "fused" for p in m.params)}
    assert set(fused) == {"occlusion", "score-cam", "ablation-cam", "rise"}
    assert len(set(fused.values())) == 1
    assert METHODS["occlusion"].estimate_passes(
        PassQuery((224, 224)), METHODS["occlusion"].resolve({})) == 27 * 27
