"""Loading and validating models: the model card and every refusal's message."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import onnx
import pytest

from engine.errors import ExternalDataError, ModelLoadError, UnsupportedModelError
from engine.model_io import load_model
from tests.models import custom_domain_op, future_ir_version, future_opset, unused_custom_opset


def test_demo_model_card(demo_model: Path) -> None:
    model = load_model(demo_model)
    info = model.info
    data = demo_model.read_bytes()
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.file_size == len(data)
    assert info.default_opset == 13
    assert info.inputs[0].name == "input"
    assert info.inputs[0].shape == ("batch", 3, 224, 224)
    assert info.outputs[0].shape == ("batch", 1000)
    assert info.producer_name == "pytorch"
    assert dict(info.op_counts)["Conv"] == 49
    assert info.metadata_value("featurescope.input_spec") is not None
    assert model.warnings == ()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path / "nope.onnx")
    assert err.value.message == "The model file 'nope.onnx' does not exist."


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"The model file is empty\."):
        load_model(path)


def test_random_bytes(variant) -> None:
    with pytest.raises(ModelLoadError) as err:
        load_model(variant("random_bytes"))
    assert err.value.message == "The file is not an ONNX model."


def test_text_file_is_not_onnx(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("this is a README, not a model\n" * 20)
    with pytest.raises(ModelLoadError, match="not an ONNX model"):
        load_model(path)


def test_truncated_file(variant) -> None:
    with pytest.raises(ModelLoadError) as err:
        load_model(variant("truncated"))
    assert err.value.message == (
        "The model file is truncated or damaged: it starts like an ONNX model but cannot be "
        "read to the end.")


@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.33, 0.9, 0.999])
def test_truncated_at_many_offsets(demo_model: Path, tmp_path: Path, fraction: float) -> None:
    data = demo_model.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelLoadError):
        load_model(path)


def test_future_opset(tmp_path: Path) -> None:
    path = tmp_path / "future.onnx"
    onnx.save_model(future_opset(), path)
    with pytest.raises(UnsupportedModelError) as err:
        load_model(path)
    assert err.value.message.startswith("The model needs ONNX opset 99, newer than this "
                                        "onnxruntime supports (up to ")


def test_future_ir_version(tmp_path: Path) -> None:
    path = tmp_path / "future_ir.onnx"
    onnx.save_model(future_ir_version(), path)
    with pytest.raises(UnsupportedModelError, match="IR version 99, newer than this onnxruntime"):
        load_model(path)


def test_custom_domain_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.onnx"
    onnx.save_model(custom_domain_op(), path)
    with pytest.raises(UnsupportedModelError) as err:
        load_model(path)
    assert err.value.message == (
        "The model uses custom operators (com.vendor: MagicConv) that need a vendor library, "
        "which Featurescope does not load.")


def test_unused_custom_opset_loads(tmp_path: Path) -> None:
    path = tmp_path / "unused.onnx"
    onnx.save_model(unused_custom_opset(), path)
    model = load_model(path)
    assert ("ai.vendor", 1) in model.info.opsets


def test_external_data_loads(variant) -> None:
    model = load_model(variant("external"))
    assert model.info.external_data == ("weights.bin",)


def test_external_data_missing(variant) -> None:
    with pytest.raises(ExternalDataError) as err:
        load_model(variant("external_missing"))
    assert err.value.message == (
        "The model's weights file 'weights.bin' is missing from the model's folder.")


def test_external_data_escape_refused(variant) -> None:
    with pytest.raises(ExternalDataError) as err:
        load_model(variant("external_escape"))
    assert err.value.message == (
        "The model asks to read weights from outside its folder, which Featurescope refuses.")


def test_external_data_absolute_refused(variant) -> None:
    with pytest.raises(ExternalDataError) as err:
        load_model(variant("external_absolute"))
    assert err.value.message == (
        "The model asks to read weights from an absolute path, which Featurescope refuses.")


def test_external_data_symlink_out_of_folder_refused(variant, tmp_path: Path) -> None:
    source = variant("external")
    outside = tmp_path / "outside"
    inside = tmp_path / "model"
    outside.mkdir()
    inside.mkdir()
    (outside / "weights.bin").write_bytes((source.parent / "weights.bin").read_bytes())
    (inside / "model.onnx").write_bytes(source.read_bytes())
    os.symlink(outside / "weights.bin", inside / "weights.bin")
    with pytest.raises(ExternalDataError) as err:
        load_model(inside / "model.onnx")
    assert err.value.message == ("The model's external weights file resolves outside the "
                                 "model's folder, which Featurescope refuses.")


def test_external_data_wrong_size(variant, tmp_path: Path) -> None:
    source = variant("external")
    (tmp_path / "model.onnx").write_bytes(source.read_bytes())
    (tmp_path / "weights.bin").write_bytes(b"\0" * 100)
    with pytest.raises(ExternalDataError) as err:
        load_model(tmp_path / "model.onnx")
    assert err.value.message == ("The model's weights file 'weights.bin' is shorter than the "
                                 "model says.")


def test_load_does_not_touch_file(demo_model: Path) -> None:
    before = demo_model.stat().st_mtime_ns
    load_model(demo_model)
    assert demo_model.stat().st_mtime_ns == before
