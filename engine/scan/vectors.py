"""Per-image vectors of a scan: one float16 ``.npy`` file per layer and kind, rows in place.

``SCAN/vectors/<layer id>.max.npy`` and ``.mean.npy`` hold, for every image in
path order, each channel's maximum and mean over space; rows of unreadable
images are NaN. Read them with ``numpy.load(path, mmap_mode="r")``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.errors import InputError

VECTORS = "vectors"


def vector_path(folder: Path, layer: int, kind: str) -> Path:
    """The ``.npy`` file of one layer's per-image ``max`` or ``mean`` vectors."""
    return folder / VECTORS / f"{layer:04d}.{kind}.npy"


class VectorFile:
    """An (images, C) float16 ``.npy`` file whose rows are written in place (pwrite).

    The file is created sparse at its full size, so opening it costs nothing and
    rows are written through the page cache, never kept in this process's memory.

    Raises
    ------
    InputError
        An existing file of another shape or type.
    """

    def __init__(self, path: Path, images: int, channels: int) -> None:
        self.path = path
        self.channels = channels
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp")
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16,
                                              shape=(images, channels))
            del array  # the file is sparse: nothing is written or kept in memory
            os.replace(tmp, path)
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle)
            self.offset = handle.tell()
        if shape != (images, channels) or dtype != np.float16:
            raise InputError(f"The vector file '{path.name}' does not match this scan.")
        self._fd = os.open(path, os.O_RDWR)

    def write_rows(self, first: int, rows: np.ndarray) -> None:
        """Write ``rows`` (n, C) from row ``first`` on."""
        data = np.ascontiguousarray(rows, dtype=np.float16).tobytes()
        os.pwrite(self._fd, data, self.offset + first * self.channels * 2)

    def sync(self) -> None:
        """Flush the written rows to the disk."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)
