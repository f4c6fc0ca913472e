"""A scan on disk: ``SCAN/scan.sqlite`` plus per-layer ``.npy`` vectors beside it.

The database (stdlib sqlite3, WAL, synchronous=FULL) holds the images (path,
size, sha256, status), the layers, the committed shards and, per layer, the
running top-k and statistics (as blobs, rewritten at every commit). When the
scan completes, the readable ``topk`` and ``channel_stats`` tables are filled.

The per-image vectors (each channel's maximum and mean, float16) live in
``SCAN/vectors/<layer id>.max.npy`` and ``.mean.npy``, shape (images, C);
rows of unreadable images are NaN. A shard's rows are written and fsynced
before the transaction that commits the shard, so after any interruption the
committed shards are complete and the others are simply done again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from engine.errors import EngineError, InputError, OutputError
from engine.scan.records import ImageRecord, ScanLayer, ScanPlan, ShardResult, ShardTask
from engine.scan.topk import RunningStats, TopK
from engine.scan.vectors import VECTORS, VectorFile, vector_path
from engine.types import InputSpec

__all__ = ["DB_NAME", "VOLATILE_META", "ScanStore", "content_digest", "vector_path"]

DB_NAME = "scan.sqlite"
FORMAT_VERSION = "1"
#: ``meta`` keys that describe a run, not its result (left out of :func:`content_digest`).
VOLATILE_META = ("provider", "seconds", "workers")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, shard INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '',
    size INTEGER, sha256 TEXT, width INTEGER, height INTEGER,
    scale_y REAL, scale_x REAL, offset_y REAL, offset_x REAL);
CREATE INDEX IF NOT EXISTS images_by_shard ON images(shard);
CREATE TABLE IF NOT EXISTS layers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, tensor TEXT NOT NULL,
    channels INTEGER NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
    rf_size_y INTEGER NOT NULL, rf_size_x INTEGER NOT NULL,
    rf_stride_y INTEGER NOT NULL, rf_stride_x INTEGER NOT NULL,
    rf_start_y REAL NOT NULL, rf_start_x REAL NOT NULL,
    rf_jump_y REAL NOT NULL, rf_jump_x REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
    id INTEGER PRIMARY KEY, first_image INTEGER NOT NULL, images INTEGER NOT NULL,
    readable INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS layer_state (
    layer_id INTEGER PRIMARY KEY, keys BLOB NOT NULL, y BLOB NOT NULL, x BLOB NOT NULL,
    count BLOB NOT NULL, mean BLOB NOT NULL, m2 BLOB NOT NULL, maximum BLOB NOT NULL,
    fires BLOB NOT NULL, activation BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS topk (
    layer_id INTEGER NOT NULL, channel INTEGER NOT NULL, rank INTEGER NOT NULL,
    image_id INTEGER NOT NULL, score REAL NOT NULL, y INTEGER NOT NULL, x INTEGER NOT NULL,
    PRIMARY KEY (layer_id, channel, rank)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS channel_stats (
    layer_id INTEGER NOT NULL, channel INTEGER NOT NULL, count INTEGER NOT NULL,
    mean REAL NOT NULL, variance REAL NOT NULL, maximum REAL, fire_fraction REAL NOT NULL,
    activation REAL NOT NULL, PRIMARY KEY (layer_id, channel)) WITHOUT ROWID;
"""
_STATE_FIELDS = ("keys", "y", "x", "count", "mean", "m2", "maximum", "fires", "activation")
_DTYPES = {"keys": np.uint64, "y": np.int32, "x": np.int32, "count": np.int64,
           "mean": np.float64, "m2": np.float64, "maximum": np.float32, "fires": np.int64,
           "activation": np.float64}


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit).

    The writing connection may be handed to a committer thread (one thread
    at a time uses it), so it is not tied to the thread that opened it.
    """
    try:
        if readonly:
            db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                                 isolation_level=None)
        else:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise OutputError(f"The scan database '{path}' cannot be opened.", str(exc)) from exc
    return db


def stored_shard_size(folder: str | os.PathLike[str]) -> int | None:
    """The shard size of the scan already in ``folder``, or None when there is none.

    Defaults may change between versions (or with the image count); a scan that is
    continued keeps the shards it was started with. A database that cannot be read
    gives None here and is reported when the scan opens it.
    """
    path = Path(folder) / DB_NAME
    if not path.is_file():
        return None
    try:
        with closing(_connect(path, readonly=True)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'plan'").fetchone()
        size = json.loads(row[0])["shard_size"] if row else None
    except (EngineError, sqlite3.Error, ValueError, KeyError, TypeError):
        return None
    return size if isinstance(size, int) and size > 0 else None


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed when the block ends, rolled back when it raises.

    An interruption (Ctrl-C) can land after ``COMMIT`` returned; then there is
    nothing to roll back, and the interruption itself goes on up, not an error
    about the rollback.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class ScanStore:
    """A scan folder opened for writing (scan) or reading (examples).

    Use :meth:`create_or_resume` or :meth:`open`.
    """

    def __init__(self, folder: Path, db: sqlite3.Connection, layers: tuple[ScanLayer, ...],
                 meta: dict[str, str]) -> None:
        self.folder = folder
        self.db = db
        self.layers = layers
        self.meta = meta
        self._vectors: list[tuple[VectorFile, VectorFile]] = []
        self._reader: sqlite3.Connection | None = None

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def create_or_resume(cls, folder: str | os.PathLike[str], plan: ScanPlan,
                         paths: Sequence[str]) -> ScanStore:
        """Open ``folder`` for this plan: a new scan, or the same scan to continue.

        Raises
        ------
        InputError
            The folder holds a scan with other settings, model or images.
        OutputError
            The folder cannot be written.
        """
        root = Path(folder)
        try:
            (root / VECTORS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the scan folder '{root}': "
                              f"{exc.strerror or exc}.", str(exc)) from exc
        db = _connect(root / DB_NAME)
        try:
            db.executescript(_SCHEMA)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if "plan" not in meta:
                cls._initialise(db, plan, paths)
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            elif meta["plan"] != plan.to_json():
                raise InputError(
                    f"'{root}' holds a scan with other settings, model or images; give a new "
                    "--out folder, or repeat the original command to continue it.")
        except BaseException:
            db.close()
            raise
        store = cls(root, db, plan.layers, meta)
        try:
            store._open_vectors(plan.image_count)
        except BaseException:
            store.close()
            raise
        return store

    @staticmethod
    def _initialise(db: sqlite3.Connection, plan: ScanPlan, paths: Sequence[str]) -> None:
        """Everything a new scan starts with, in one transaction."""
        with _transaction(db):
            db.executemany("INSERT INTO images (id, path, shard) VALUES (?, ?, ?)",
                           ((i, p, i // plan.shard_size) for i, p in enumerate(paths)))
            for layer in plan.layers:
                db.execute("INSERT INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                    layer.index, layer.name, layer.tensor, layer.channels, layer.height,
                    layer.width, *layer.rf_size, *layer.rf_stride, *layer.rf_start,
                    *layer.rf_jump))
                _write_state(db, layer.index, TopK.empty(layer.channels, plan.k),
                             RunningStats.empty(layer.channels), insert=True)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("plan", plan.to_json()), ("format", FORMAT_VERSION), ("status", "running"),
                ("model_path", plan.model_path), ("k", str(plan.k)),
                ("spec", json.dumps(json.loads(plan.to_json())["spec"]))])

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> ScanStore:
        """Open a scan for reading.

        Raises
        ------
        InputError
            No scan database in ``folder``, or one that was never started.
        """
        root = Path(folder)
        path = root / DB_NAME
        if not path.is_file():
            raise InputError(f"'{root}' is not a scan folder (it has no {DB_NAME}).")
        db = _connect(path, readonly=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if "plan" not in meta:
                raise InputError(f"The scan in '{root}' was interrupted before it started.")
            rows = db.execute("SELECT * FROM layers ORDER BY id")
            layers = tuple(ScanLayer(r[0], r[1], r[2], r[3], r[4], r[5], (r[6], r[7]),
                                     (r[8], r[9]), (r[10], r[11]), (r[12], r[13]))
                           for r in rows)
        except sqlite3.Error as exc:
            db.close()
            raise InputError(f"'{path}' is not a readable scan database.", str(exc)) from exc
        return cls(root, db, layers, meta)

    def _open_vectors(self, images: int) -> None:
        for layer in self.layers:
            self._vectors.append(tuple(  # type: ignore[arg-type]
                VectorFile(vector_path(self.folder, layer.index, kind), images, layer.channels)
                for kind in ("max", "mean")))

    def close(self) -> None:
        """Close the database and the vector files."""
        for pair in self._vectors:
            for vector in pair:
                vector.close()
        self._vectors.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.db.close()

    # -- scanning --------------------------------------------------------------------
    def plan(self, model_path: str, preference: str) -> ScanPlan:
        """The stored plan."""
        return ScanPlan.from_json(self.meta["plan"], model_path, preference)

    @property
    def spec(self) -> InputSpec:
        """The preprocessing the scan used."""
        data = json.loads(self.meta["spec"])
        data["mean"], data["std"] = tuple(data["mean"]), tuple(data["std"])
        return InputSpec(**data)

    @property
    def k(self) -> int:
        """Examples kept per channel."""
        return int(self.meta["k"])

    @property
    def complete(self) -> bool:
        """Whether every shard is committed and the tables are written."""
        return self.meta.get("status") == "complete"

    def committed_shards(self) -> int:
        """How many shards are committed."""
        return int(self.db.execute("SELECT COUNT(*) FROM shards").fetchone()[0])

    def committed_images(self) -> int:
        """How many images the committed shards hold."""
        return int(self.db.execute("SELECT COALESCE(SUM(images), 0) FROM shards").fetchone()[0])

    def pending_shards(self) -> list[int]:
        """Shard numbers not yet committed, in order."""
        rows = self.db.execute("SELECT DISTINCT shard FROM images WHERE shard NOT IN "
                               "(SELECT id FROM shards) ORDER BY shard")
        return [int(r[0]) for r in rows]

    def task(self, shard: int) -> ShardTask:
        """The images of one shard.

        Read through a connection of its own, so the thread that reads the next
        shards is never held up by a commit running in another thread.
        """
        if self._reader is None:
            self._reader = _connect(self.folder / DB_NAME, readonly=True)
        rows = self._reader.execute("SELECT id, path FROM images WHERE shard = ? ORDER BY id",
                                    (shard,)).fetchall()
        return ShardTask(shard=shard, indices=tuple(r[0] for r in rows),
                         paths=tuple(r[1] for r in rows))

    def iter_tasks(self, shards: Sequence[int]) -> Iterator[ShardTask]:
        """The tasks of ``shards``, read one at a time."""
        for shard in shards:
            yield self.task(shard)

    def load_state(self) -> tuple[list[TopK], list[RunningStats]]:
        """The running top-k and statistics of every layer, as last committed."""
        topks: list[TopK] = []
        stats: list[RunningStats] = []
        for layer in self.layers:
            arrays = self._state_arrays(layer)
            topks.append(TopK(arrays["keys"], arrays["y"], arrays["x"]))
            stats.append(RunningStats(arrays["count"], arrays["mean"], arrays["m2"],
                                      arrays["maximum"], arrays["fires"], arrays["activation"]))
        return topks, stats

    def _state_arrays(self, layer: ScanLayer) -> dict[str, np.ndarray]:
        row = self.db.execute(f"SELECT {', '.join(_STATE_FIELDS)} FROM layer_state "
                              "WHERE layer_id = ?", (layer.index,)).fetchone()
        if row is None:
            raise InputError(f"The scan has no state for layer '{layer.name}'.")
        arrays: dict[str, np.ndarray] = {name: np.frombuffer(blob, dtype=_DTYPES[name]).copy()
                  for name, blob in zip(_STATE_FIELDS, row, strict=True)}
        for name in ("keys", "y", "x"):
            arrays[name] = arrays[name].reshape(layer.channels, -1)
        return arrays

    def commit(self, result: ShardResult, topks: list[TopK], stats: list[RunningStats]) -> bool:
        """Merge a shard into the running state and commit it, once.

        Returns False (and changes nothing) when the shard was already committed.
        """
        if self.db.execute("SELECT 1 FROM shards WHERE id = ?", (result.shard,)).fetchone():
            return False
        images = result.images
        first = images[0].index if images else 0
        readable = np.array([r.status == "ok" for r in images], bool)
        for i, partial in enumerate(result.layers):
            topks[i].merge(partial.topk)
            stats[i].merge(partial.stats)
            for vector, values in zip(self._vectors[i], (partial.maxima, partial.means),
                                      strict=True):
                block = np.full((len(images), vector.channels), np.nan, np.float16)
                block[readable] = values
                vector.write_rows(first, block)
        for pair in self._vectors:
            for vector in pair:
                vector.sync()
        with _transaction(self.db):
            self.db.executemany(
                "UPDATE images SET status = ?, reason = ?, size = ?, sha256 = ?, width = ?, "
                "height = ?, scale_y = ?, scale_x = ?, offset_y = ?, offset_x = ? WHERE id = ?",
                ((r.status, r.reason, r.size, r.sha256, r.width, r.height, *r.scale, *r.offset,
                  r.index) for r in images))
            self.db.execute("INSERT INTO shards VALUES (?, ?, ?, ?)",
                            (result.shard, first, len(images), int(readable.sum())))
            for layer, topk, stat in zip(self.layers, topks, stats, strict=True):
                _write_state(self.db, layer.index, topk, stat)
        return True

    def finish(self, topks: list[TopK], stats: list[RunningStats],
               run_meta: dict[str, str]) -> None:
        """Write the readable ``topk`` and ``channel_stats`` tables and mark the scan complete."""
        with _transaction(self.db):
            self.db.execute("DELETE FROM topk")
            self.db.execute("DELETE FROM channel_stats")
            for layer, topk, stat in zip(self.layers, topks, stats, strict=True):
                self.db.executemany("INSERT INTO topk VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    _topk_rows(layer.index, topk))
                self.db.executemany("INSERT INTO channel_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                    _stats_rows(layer.index, stat))
            rows = [("status", "complete"), *run_meta.items()]
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)
        self.meta.update(dict(rows))

    # -- reading ---------------------------------------------------------------------
    def layer(self, name: str) -> ScanLayer:
        """A scanned layer by name (or tensor name).

        Raises
        ------
        InputError
            The scan has no such layer.
        """
        for layer in self.layers:
            if name in (layer.name, layer.tensor):
                return layer
        raise InputError(f"The scan has no layer named '{name}'.")

    def layer_state(self, layer: ScanLayer) -> tuple[TopK, RunningStats]:
        """One layer's top-k and statistics."""
        arrays = self._state_arrays(layer)
        return (TopK(arrays["keys"], arrays["y"], arrays["x"]),
                RunningStats(arrays["count"], arrays["mean"], arrays["m2"], arrays["maximum"],
                             arrays["fires"], arrays["activation"]))

    def image_records(self, indices: Sequence[int]) -> dict[int, ImageRecord]:
        """What the scan recorded about images, by index."""
        found: dict[int, ImageRecord] = {}
        for index in indices:
            row = self.db.execute(
                "SELECT path, size, sha256, status, reason, width, height, scale_y, scale_x, "
                "offset_y, offset_x FROM images WHERE id = ?", (int(index),)).fetchone()
            if row is not None:
                found[int(index)] = ImageRecord(
                    int(index), row[0], int(row[1] or 0), row[2] or "", row[3], row[4],
                    int(row[5] or 0), int(row[6] or 0), (row[7] or 1.0, row[8] or 1.0),
                    (row[9] or 0.0, row[10] or 0.0))
        return found

    def unreadable(self) -> list[tuple[str, str]]:
        """(path, reason) of every unreadable image so far."""
        rows = self.db.execute("SELECT path, reason FROM images WHERE status = 'unreadable' "
                               "ORDER BY id")
        return [(r[0], r[1]) for r in rows]

    def counts(self) -> dict[str, int]:
        """Images by status."""
        return {r[0]: int(r[1]) for r in
                self.db.execute("SELECT status, COUNT(*) FROM images GROUP BY status")}


def _write_state(db: sqlite3.Connection, layer: int, topk: TopK, stats: RunningStats,
                 insert: bool = False) -> None:
    values = (topk.keys, topk.y, topk.x, stats.count, stats.mean, stats.m2, stats.maximum,
              stats.fires, stats.activation)
    blobs = [np.ascontiguousarray(v, dtype=_DTYPES[name]).tobytes()
             for name, v in zip(_STATE_FIELDS, values, strict=True)]
    if insert:
        db.execute(f"INSERT INTO layer_state VALUES (?, {', '.join('?' * len(blobs))})",
                   (layer, *blobs))
    else:
        db.execute(f"UPDATE layer_state SET {', '.join(f'{n} = ?' for n in _STATE_FIELDS)} "
                   "WHERE layer_id = ?", (*blobs, layer))


def _topk_rows(layer: int, topk: TopK) -> Iterator[tuple[int, ...]]:
    images = topk.images()
    channels, ranks = np.nonzero(images >= 0)
    columns = (np.full(len(channels), layer), channels, ranks, images[channels, ranks],
               topk.scores()[channels, ranks].astype(np.float64), topk.y[channels, ranks],
               topk.x[channels, ranks])
    return zip(*(c.tolist() for c in columns), strict=True)


def _stats_rows(layer: int, stats: RunningStats) -> Iterator[tuple[object, ...]]:
    maximum = stats.maximum.astype(np.float64)
    columns = (np.full(len(stats.count), layer).tolist(), list(range(len(stats.count))),
               stats.count.tolist(), stats.mean.tolist(), stats.variance().tolist(),
               [m if np.isfinite(m) else None for m in maximum.tolist()],
               stats.fire_fraction().tolist(), stats.activation.tolist())
    return zip(*columns, strict=True)


def content_digest(folder: str | os.PathLike[str]) -> str:
    """A sha256 of a scan's results: every table and vector file, run timings left out.

    Two scans with equal digests hold the same images, statuses, top-k,
    statistics and vectors, bit for bit.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    with closing(_connect(root / DB_NAME, readonly=True)) as db:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            digest.update(table.encode())
            order = "key" if table == "meta" else "1, 2, 3" if table == "topk" else "1, 2" \
                if table == "channel_stats" else "1"
            for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                if table == "meta" and row[0] in VOLATILE_META:
                    continue
                digest.update(repr(row).encode())
    for path in sorted((root / VECTORS).glob("*.npy")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
