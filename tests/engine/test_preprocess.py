"""Images, tensors and audio become the model's feeds exactly as the spec says."""

from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from engine import images
from engine.errors import InputError
from engine.input_spec import apply_preset, spec_from_model
from engine.model_io import load_model
from engine.preprocess import image_to_tensor, load_wav, prepare_input
from engine.types import InputSpec
from tests.models import two_inputs


def _save(tmp_path: Path, name: str, image: Image.Image, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_demo_spec_from_metadata(demo_model: Path) -> None:
    spec = spec_from_model(load_model(demo_model).info)
    assert (spec.preset, spec.resize, spec.layout, spec.height, spec.width) == (
        "imagenet", "center_crop", "NCHW", 224, 224)
    assert spec.mean == (0.485, 0.456, 0.406)


def test_nhwc_detected(real_model) -> None:
    spec = spec_from_model(load_model(real_model("mtcnn_pnet_nhwc_keras2onnx")).info)
    assert spec.layout == "NHWC"


def test_normalisation_known_values() -> None:
    pixels = np.full((4, 4, 3), [255.0, 0.0, 127.5], dtype=np.float32)
    spec = apply_preset(InputSpec(height=4, width=4), "imagenet")
    tensor, display, _ = image_to_tensor(pixels, spec)
    assert tensor.shape == (1, 3, 4, 4) and tensor.dtype == np.float32
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]
    np.testing.assert_allclose(tensor[0, :, 0, 0], expected, rtol=1e-5)
    assert display.shape == (4, 4, 3) and display.dtype == np.uint8
    bgr, _, _ = image_to_tensor(pixels, replace(apply_preset(spec, "caffe"), layout="NHWC"))
    assert bgr.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(bgr[0, 0, 0], [127.5 - 103.939, 0 - 116.779, 255 - 123.68],
                               rtol=1e-5)
    tf, _, _ = image_to_tensor(pixels, apply_preset(spec, "tf"))
    np.testing.assert_allclose(tf[0, :, 0, 0], [1.0, -1.0, 0.0], atol=1e-6)


def test_resize_modes() -> None:
    pixels = np.zeros((100, 200, 3), dtype=np.float32)
    pixels[:, :100] = 255.0
    base = InputSpec(height=50, width=50, scale="0..255")
    stretch, _, _ = image_to_tensor(pixels, replace(base, resize="stretch"))
    crop, _, _ = image_to_tensor(pixels, replace(base, resize="center_crop"))
    box, _, _ = image_to_tensor(pixels, replace(base, resize="letterbox"))
    assert stretch.shape == crop.shape == box.shape == (1, 3, 50, 50)
    assert box[0, 0, 0, 0] == pytest.approx(114.0)  # padding above the 50x25 picture
    assert crop[0, 0, 25, 0] == pytest.approx(255.0) and crop[0, 0, 25, 49] == pytest.approx(0.0)


@pytest.mark.parametrize("mode,suffix,kwargs", [
    ("RGBA", ".png", {}), ("P", ".png", {}), ("L", ".png", {}), ("CMYK", ".jpg", {}),
    ("RGB", ".webp", {}), ("RGB", ".bmp", {}), ("I;16", ".tif", {}), ("LA", ".png", {}),
])
def test_image_modes_convert(tmp_path: Path, mode: str, suffix: str, kwargs: dict) -> None:
    image = Image.new(mode, (20, 10))
    path = _save(tmp_path, f"img{suffix}", image, **kwargs)
    pixels, notes = images.load_image(path)
    assert pixels.shape == (10, 20, 3) and pixels.dtype == np.float32
    assert notes == ()


def test_sixteen_bit_scaled(tmp_path: Path) -> None:
    array = np.full((8, 8), 65535, dtype=np.uint16)
    path = _save(tmp_path, "deep.png", Image.fromarray(array))
    pixels, _ = images.load_image(path)
    assert pixels.max() == pytest.approx(255.0)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    path = _save(tmp_path, "rotated.jpg", image, exif=exif)
    pixels, _ = images.load_image(path)
    assert pixels.shape[:2] == (40, 20)


def test_animated_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pixels, notes = images.load_image(path)
    assert notes == ("the image has several frames; the first is used",)
    assert pixels[0, 0, 0] > 200


def test_tiny_image_warns(tmp_path: Path, demo_model: Path) -> None:
    path = _save(tmp_path, "dot.png", Image.new("RGB", (1, 1), (9, 9, 9)))
    prepared = prepare_input(load_model(demo_model).info, path)
    assert "the image is only 1x1 pixels" in prepared.warnings
    assert prepared.feed_dict()["input"].shape == (1, 3, 224, 224)


def test_corrupt_and_truncated_images(tmp_path: Path, chelsea: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really" * 10)
    with pytest.raises(InputError) as err:
        images.load_image(junk)
    assert err.value.message == "'junk.png' is not an image Featurescope can read."
    cut = tmp_path / "cut.png"
    cut.write_bytes(chelsea.read_bytes()[:5000])
    with pytest.raises(InputError) as err:
        images.load_image(cut)
    assert err.value.message == "The image 'cut.png' is damaged or truncated."


def test_decompression_bomb_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path, "big.png", Image.new("RGB", (200, 100)))
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with pytest.raises(InputError) as err:
        images.load_image(path)
    assert err.value.message == "The image is 200x100 pixels, larger than the 0.01 megapixel limit."


def test_huge_header_refused_before_decoding(tmp_path: Path) -> None:
    import struct
    import zlib

    path = _save(tmp_path, "bomb.png", Image.new("L", (1, 1)))
    data = bytearray(path.read_bytes())
    ihdr = struct.pack(">II", 30000, 30000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        images.load_image(path)
    assert err.value.message == "The image is larger than the 100 megapixel limit."


def test_npy_input(tmp_path: Path, demo_model: Path) -> None:
    info = load_model(demo_model).info
    good = tmp_path / "x.npy"
    np.save(good, np.zeros((2, 3, 224, 224), dtype=np.float64))
    prepared = prepare_input(info, good)
    assert prepared.feed_dict()["input"].dtype == np.float32
    assert prepared.display is None and prepared.spec is None
    bad_shape = tmp_path / "s.npy"
    np.save(bad_shape, np.zeros((1, 3, 100, 100), dtype=np.float32))
    with pytest.raises(InputError) as err:
        prepare_input(info, bad_shape)
    assert err.value.message == ("'s.npy' has shape [1, 3, 100, 100] but input 'input' needs "
                                 "[batch, 3, 224, 224].")
    objects = tmp_path / "o.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError) as err:
        prepare_input(info, objects)
    assert err.value.message == "'o.npy' holds Python objects, which Featurescope never loads."
    ints = tmp_path / "i.npy"
    np.save(ints, np.zeros((1, 3, 224, 224), dtype=np.int64))
    with pytest.raises(InputError, match="holds int64 values but input 'input' needs float32"):
        prepare_input(info, ints)


def test_extra_inputs(tmp_path: Path) -> None:
    path = tmp_path / "two.onnx"
    onnx.save_model(two_inputs(), path)
    info = load_model(path).info
    first, second = info.inputs
    main = tmp_path / "a.npy"
    np.save(main, np.ones([d if isinstance(d, int) else 1 for d in first.shape], np.float32))
    prepared = prepare_input(info, main)
    assert prepared.warnings and "filled with zeros" in prepared.warnings[0]
    extra = tmp_path / "b.npy"
    np.save(extra, np.ones([d if isinstance(d, int) else 1 for d in second.shape], np.float32))
    prepared = prepare_input(info, main, extra={second.name: extra})
    assert prepared.warnings == ()
    assert prepared.feed_dict()[second.name].sum() > 0


def test_wav_reading(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    frames = np.array([[16384, -16384]] * 100, dtype=np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(frames.tobytes())
    samples, rate = load_wav(path)
    assert rate == 8000 and samples.shape == (100,)
    np.testing.assert_allclose(samples, 0.0)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(InputError, match=r"not a readable PCM \.wav file"):
        load_wav(junk)


def test_image_for_audio_model_refused(real_model, chelsea: Path) -> None:
    info = load_model(real_model("silero_vad_v6_16k_op15")).info
    with pytest.raises(InputError, match="does not take images"):
        prepare_input(info, chelsea)
