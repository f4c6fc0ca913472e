"""Seeded bad images and .npy tensors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from tests.fuzz.mutate_models import Case


def image_cases(photo: Path, model: Path, folder: Path, rng: np.random.Generator,
                truncations: int, flips: int) -> Iterator[Case]:
    """Odd, corrupt and hostile images for ``model``."""
    made: dict[str, Image.Image] = {
        "1x1.png": Image.new("RGB", (1, 1), (200, 10, 10)),
        "cmyk.jpg": Image.new("CMYK", (64, 48), (10, 200, 30, 5)),
        "palette.png": Image.new("P", (40, 30), 3),
        "gray16.png": Image.fromarray(np.full((30, 40), 40000, np.uint16)),
        "rgba.webp": Image.new("RGBA", (50, 50), (0, 0, 255, 10)),
        "tall.bmp": Image.new("RGB", (3, 900), (1, 2, 3)),
        "float.tif": Image.fromarray(
            np.linspace(-1e30, 1e30, 400, dtype=np.float32).reshape(20, 20)),
    }
    for name, image in made.items():
        path = folder / name
        image.save(path)
        yield Case("image", name, model, path)
    frames = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(3)]
    anim = folder / "anim.gif"
    frames[0].save(anim, save_all=True, append_images=frames[1:])
    yield Case("image", "animated.gif", model, anim)
    exif = Image.Exif()
    exif[0x0112] = 9  # orientation out of range
    exif[0x010F] = "x" * 5000
    odd = folder / "odd_exif.jpg"
    Image.new("RGB", (30, 20)).save(odd, exif=exif)
    yield Case("image", "odd_exif.jpg", model, odd)
    data = photo.read_bytes()
    for offset in sorted(rng.integers(1, len(data), truncations).tolist()):
        path = folder / f"cut{offset}.png"
        path.write_bytes(data[:offset])
        yield Case("image", f"truncated@{offset}", model, path)
    for k in range(flips):
        mutated = bytearray(data)
        for position in rng.integers(8, len(data), int(rng.integers(1, 12))).tolist():
            mutated[position] = int(rng.integers(0, 256))
        path = folder / f"flip{k}.png"
        path.write_bytes(bytes(mutated))
        yield Case("image", f"flip{k}", model, path)
    junk = folder / "junk.jpg"
    junk.write_bytes(rng.bytes(3000))
    yield Case("image", "random_bytes.jpg", model, junk)


def npy_cases(model: Path, shape: tuple[int, ...], folder: Path) -> Iterator[Case]:
    """.npy tensors that are right, wrong, hostile or damaged."""
    arrays: dict[str, np.ndarray] = {
        "good": np.zeros(shape, np.float32),
        "float64": np.zeros(shape, np.float64),
        "wrong_rank": np.zeros(shape[1:], np.float32),
        "wrong_shape": np.zeros((1, 3, 7, 7), np.float32),
        "int_dtype": np.zeros(shape, np.int64),
        "scalar": np.array(3.0, np.float32),
        "structured": np.zeros(4, dtype=[("a", "f4"), ("b", "i4")]),
        "fortran": np.asfortranarray(np.zeros(shape, np.float32)),
        "nan": np.full(shape, np.nan, np.float32),
        "bool": np.zeros(shape, bool),
    }
    for name, array in arrays.items():
        path = folder / f"{name}.npy"
        np.save(path, array)
        yield Case("npy", name, model, path)
    pickled = folder / "object.npy"
    np.save(pickled, np.array([{"payload": 1}], dtype=object), allow_pickle=True)
    yield Case("npy", "object_dtype", model, pickled)
    good = (folder / "good.npy").read_bytes()
    for name, data in {"truncated": good[: len(good) // 2], "header_only": good[:64],
                       "bad_magic": b"\x93NUMPX" + good[6:], "empty": b""}.items():
        path = folder / f"{name}.npy"
        path.write_bytes(data)
        yield Case("npy", name, model, path)
