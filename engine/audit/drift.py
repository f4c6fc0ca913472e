"""Activation drift between two dataset scans, channel by channel.

Each scan keeps, per layer, every image's per-channel maximum (float16 vectors
beside ``scan.sqlite``). For every channel of every layer both scans have,
:func:`engine.audit.drift_stats.channel_drift` compares the two samples (rows
of unreadable images are left out); channels are ranked by effect size.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audit.drift_stats import ALPHA, MIN_EFFECT, benjamini_hochberg, channel_drift
from engine.cancellation import CancelToken
from engine.errors import InputError
from engine.providers import ProviderPreference
from engine.scan.runner import ScanRequest, run_scan
from engine.scan.store import ScanStore, vector_path


@dataclass(frozen=True)
class DriftRow:
    """One channel's drift."""

    layer: str
    channel: int
    effect_size: float
    ks: float
    p: float
    q: float
    flagged: bool

    def as_json(self) -> dict[str, object]:
        """The row as ``drift --json`` prints it."""
        effect = self.effect_size if np.isfinite(self.effect_size) else None
        return {"layer": self.layer, "channel": self.channel, "effect_size": effect,
                "ks": self.ks, "p": self.p, "q": self.q, "flagged": self.flagged}


def _vectors(store: ScanStore, index: int) -> np.ndarray:
    path = vector_path(store.folder, index, "max")
    if not path.is_file():
        raise InputError(f"The scan in '{store.folder}' has no per-image vectors for layer "
                         f"{index}.")
    values = np.load(path, mmap_mode="r").astype(np.float64)
    readable: np.ndarray = values[~np.isnan(values).any(axis=1)]
    return readable


def scan_drift(reference: str | os.PathLike[str], current: str | os.PathLike[str],
               alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> list[DriftRow]:
    """Per-channel drift of scan ``current`` against scan ``reference``, largest effect first.

    Raises
    ------
    InputError
        A folder that is not a complete scan, or two scans without a layer in common.
    """
    stores = [ScanStore.open(reference), ScanStore.open(current)]
    try:
        for store in stores:
            if not store.complete:
                raise InputError(f"The scan in '{store.folder}' is not complete; run it again "
                                 "to finish it.")
        common = [(a, b) for a in stores[0].layers for b in stores[1].layers
                  if a.name == b.name and a.channels == b.channels]
        if not common:
            raise InputError("The two scans have no layer in common (same name and channels).")
        rows: list[DriftRow] = []
        samples = [(a, _vectors(stores[0], a.index), _vectors(stores[1], b.index))
                   for a, b in common]
        keys = [(layer.name, c) for layer, ref, _ in samples for c in range(ref.shape[1])]
        reference_all = [ref for _, ref, _ in samples]
        current_all = [cur for _, _, cur in samples]
        if min(len(r) for r in reference_all) < 2 or min(len(c) for c in current_all) < 2:
            raise InputError("Drift needs at least two readable images in each scan.")
        results = [channel_drift(ref, cur, 1.0, 0.0) for ref, cur in
                   zip(reference_all, current_all, strict=True)]
        p = np.concatenate([r.p for r in results])
        q = benjamini_hochberg(p)  # across every channel of every layer
        effect = np.concatenate([r.effect_size for r in results])
        ks = np.concatenate([r.ks for r in results])
        for i, (name, channel) in enumerate(keys):
            rows.append(DriftRow(name, channel, float(effect[i]), float(ks[i]), float(p[i]),
                                 float(q[i]), bool(q[i] < alpha and effect[i] >= min_effect)))
    finally:
        for store in stores:
            store.close()
    rows.sort(key=lambda row: (-row.effect_size if np.isfinite(row.effect_size) else -1e300,
                               row.layer, row.channel))
    return rows


def drift_against(reference: str | os.PathLike[str], model_path: str | os.PathLike[str],
                  paths: list[str], preference: ProviderPreference = "auto",
                  cancel: CancelToken | None = None, top: int = 20) -> dict[str, object]:
    """Scan ``paths`` as the reference scan was made (same layers, spec and k) and report
    the drift of these images against it: counts and the ``top`` channels.

    Raises
    ------
    InputError
        ``reference`` is not a complete scan.
    """
    store = ScanStore.open(reference)
    try:
        layers = tuple(layer.name for layer in store.layers)
        spec, k = store.spec, store.k
    finally:
        store.close()
    with tempfile.TemporaryDirectory(prefix="featurescope-audit-") as scratch:
        listing = Path(scratch) / "images.txt"
        listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
        current = Path(scratch) / "scan"
        run_scan(ScanRequest(model=str(model_path), data=(str(listing),), out=str(current),
                             layers=layers, k=k, preference=preference, spec=spec),
                 cancel=cancel)
        rows = scan_drift(reference, current)
    return {"reference": str(reference), "channels": len(rows),
            "flagged": sum(row.flagged for row in rows), "alpha": ALPHA,
            "min_effect": MIN_EFFECT, "top": [row.as_json() for row in rows[:top]]}
