"""Turn the ``DATA`` arguments of a scan into one sorted list of image paths.

A ``DATA`` item is a folder (searched recursively for image files), a glob
pattern (``photos/**/*.jpg``), or a text file listing one path per line
(relative paths are relative to the list's folder; blank lines and lines
starting with ``#`` are skipped). Paths are made absolute, de-duplicated and
sorted, so a scan's result never depends on how its images were listed.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from engine.errors import InputError
from engine.images import IMAGE_SUFFIXES

#: Suffixes of text files read as lists of paths.
LIST_SUFFIXES = (".txt", ".lst", ".list")
_GLOB_CHARS = set("*?[")


def _is_image(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def _walk(folder: Path) -> Iterable[str]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and _is_image(name):
                yield os.path.join(root, name)


def _read_list(path: Path) -> Iterable[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"The list of images '{path.name}' cannot be read.", str(exc)) from exc
    for line in text.splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            yield entry if os.path.isabs(entry) else str(path.parent / entry)


def _expand(item: str) -> list[str]:
    path = Path(item).expanduser()
    if path.is_dir():
        return list(_walk(path))
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return list(_read_list(path))
    if path.is_file():
        return [str(path)]
    if _GLOB_CHARS & set(item):
        found = [p for p in glob.glob(str(path), recursive=True) if os.path.isfile(p)]
        if not found:
            raise InputError(f"The pattern '{item}' matches no file.")
        return [p for p in found if _is_image(p)]
    raise InputError(f"'{item}' is neither a folder, an image, a list of images nor a pattern "
                     "that matches files.")


def collect_paths(data: Sequence[str | os.PathLike[str]]) -> list[str]:
    """All images named by ``data``, as sorted, unique absolute paths.

    Parameters
    ----------
    data
        Folders, glob patterns, image files and text files listing paths.

    Returns
    -------
    list of str
        Sorted absolute paths (listed files are kept even if they are missing
        or not images: the scan reports them as unreadable).

    Raises
    ------
    InputError
        An item that names nothing, or no image at all.
    """
    if not data:
        raise InputError("Give at least one folder, pattern or list of images to scan.")
    found: set[str] = set()
    for item in data:
        found.update(os.path.abspath(p) for p in _expand(os.fspath(item)))
    if not found:
        raise InputError("No image file was found in the given data.")
    return sorted(found)


def paths_digest(paths: Sequence[str]) -> str:
    """A sha256 of the sorted path list: a resumed scan must see the same list."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return digest.hexdigest()
