"""Persistent settings (QSettings): layout, recent files, display choices, specs per model.

QSettings writes its INI file atomically (a temporary file renamed over it: atomic
sync is required here); recent files and specs are synced as soon as they change so
that a crash loses none of them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from app.paths import inside_bundle
from engine.errors import InputError
from engine.input_spec import validate_spec
from engine.types import InputSpec

LOG = logging.getLogger("featurescope.settings")
ORGANIZATION = "Featurescope"
APPLICATION = "Featurescope"
MAX_RECENT = 10


def spec_to_dict(spec: InputSpec) -> dict[str, object]:
    """An InputSpec as JSON-ready data."""
    data = asdict(spec)
    data["mean"], data["std"] = list(spec.mean), list(spec.std)
    return data


def spec_from_dict(data: object) -> InputSpec | None:
    """Rebuild an InputSpec from :func:`spec_to_dict` data; None if it does not fit."""
    if not isinstance(data, dict):
        return None
    known = {f.name for f in fields(InputSpec)}
    values = {k: v for k, v in data.items() if k in known}
    for key in ("mean", "std"):
        if key in values:
            if not isinstance(values[key], list | tuple) or len(values[key]) != 3:
                return None
            values[key] = tuple(float(v) for v in values[key])
    try:
        return validate_spec(InputSpec(**values))
    except (TypeError, ValueError, InputError):
        return None


class Settings:
    """Typed access to the app's QSettings (INI format, per user)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                        ORGANIZATION, APPLICATION)
        self.q.setAtomicSyncRequired(True)  # never a half-written INI file

    # -- recent files and folders ----------------------------------------------------
    def recent(self, kind: str) -> list[Path]:
        """Recent files of a kind (``models``, ``images``, ``sessions``), newest first."""
        value = self.q.value(f"recent/{kind}", [])
        if isinstance(value, str):
            value = [value]
        return [Path(v) for v in (value or []) if isinstance(v, str) and v]

    def add_recent(self, kind: str, path: Path) -> None:
        """Put ``path`` first in the recent list of ``kind``."""
        text = str(Path(path).resolve())
        items = [text] + [str(p) for p in self.recent(kind) if str(p) != text]
        self.q.setValue(f"recent/{kind}", items[:MAX_RECENT])
        self._remember_folder(kind, Path(text).parent)
        self.sync()

    def folder(self, kind: str) -> str:
        """Where a file dialog for ``kind`` starts: the last folder used for it, else the
        last one used for anything, else the home folder; never inside the bundle."""
        for key in (f"folders/{kind}", "folders/last"):
            value = self.q.value(key, "")
            if isinstance(value, str) and value and Path(value).is_dir() \
                    and not inside_bundle(value):
                return value
        return str(Path.home())

    def set_folder(self, kind: str, folder: Path) -> None:
        """Remember the last folder used for ``kind``."""
        self._remember_folder(kind, folder)
        self.sync()

    def _remember_folder(self, kind: str, folder: Path) -> None:
        if inside_bundle(folder):
            return  # the bundled demo's folder is nobody's working folder
        self.q.setValue(f"folders/{kind}", str(folder))
        self.q.setValue("folders/last", str(folder))

    # -- display choices ------------------------------------------------------------------
    def get(self, key: str, default: str) -> str:
        """A string setting."""
        value = self.q.value(f"display/{key}", default)
        return value if isinstance(value, str) else default

    def put(self, key: str, value: str) -> None:
        """Store a string setting."""
        self.q.setValue(f"display/{key}", value)

    # -- input spec per model ------------------------------------------------------------
    def save_spec(self, sha256: str, spec: InputSpec) -> None:
        """Remember the spec used with a model (keyed by its hash)."""
        self.q.setValue(f"specs/{sha256}", json.dumps(spec_to_dict(spec)))
        self.sync()

    def load_spec(self, sha256: str) -> InputSpec | None:
        """The spec last used with a model, if any."""
        text = self.q.value(f"specs/{sha256}", "")
        if not isinstance(text, str) or not text:
            return None
        try:
            return spec_from_dict(json.loads(text))
        except json.JSONDecodeError:
            return None

    # -- window layout ---------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        """Saved (geometry, dock state) of the main window."""
        geometry = self.q.value("window/geometry")
        state = self.q.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        """Store the main window's geometry and dock layout."""
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    def sync(self) -> bool:
        """Write to disk now; return whether it worked (a failure is logged)."""
        self.q.sync()
        status = self.q.status()
        if status != QSettings.Status.NoError:
            LOG.warning("settings could not be written to %s (%s)", self.q.fileName(),
                        status.name)
            return False
        return True
