"""The inputs of a comparison: images, folders and image lists, prepared for both models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.input_spec import spec_from_model
from engine.model_io import LoadedModel
from engine.preprocess import INPUT_SUFFIXES, prepare_input
from engine.types import InputSpec, ModelInfo, PreparedInput

#: Text files listing one input path per line (a scan's image list).
LIST_SUFFIXES = (".txt", ".lst", ".list")
Feeds = dict[str, np.ndarray]


def _read_list(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"The image list '{path.name}' cannot be read.", str(exc)) from exc
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entry = Path(line)
            entries.append(entry if entry.is_absolute() else path.parent / entry)
    return entries


def expand_inputs(items: Sequence[str | Path]) -> list[Path]:
    """Turn the command line's inputs into input files.

    Parameters
    ----------
    items
        Input files, folders (their input files, sorted by name, not recursive)
        and image lists (``.txt``: one path per line, relative to the list's
        folder; blank lines and ``#`` comments are skipped).

    Raises
    ------
    InputError
        A path that does not exist, or no input at all.
    """
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES))
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            found.extend(_read_list(path))
        else:
            found.append(path)
    for path in found:
        if not path.is_file():
            raise InputError(f"The input '{path}' does not exist.")
    if not found:
        raise InputError("No input files were found to compare the models on.")
    return found


def adapt_feeds(feeds: Feeds, info: ModelInfo) -> Feeds:
    """A's feeds for model ``info``: by input name, else by position, cast to its types."""
    values = list(feeds.values())
    adapted: Feeds = {}
    for position, tensor in enumerate(info.inputs):
        value = feeds.get(tensor.name)
        if value is None and position < len(values):
            value = values[position]
        if value is None:
            raise InputError(f"Model B's input '{tensor.name}' has no counterpart in model A.")
        if tensor.dtype not in ("", "undefined") and value.dtype.name != tensor.dtype:
            try:
                value = value.astype(tensor.dtype)
            except TypeError as exc:
                raise InputError(f"Model B's input '{tensor.name}' needs {tensor.dtype} "
                                 f"values, which A's {value.dtype} input cannot give.") from exc
        adapted[tensor.name] = np.ascontiguousarray(value)
    return adapted


@dataclass(frozen=True)
class CompareInputs:
    """The inputs of a comparison, prepared for A and B when asked (never all held at once)."""

    sources: tuple[str, ...]
    prepare: Callable[[int], tuple[Feeds, Feeds]]

    def __len__(self) -> int:
        return len(self.sources)

    def feeds(self, index: int) -> tuple[Feeds, Feeds]:
        """The feeds of input ``index`` for A and for B."""
        return self.prepare(index)


def b_spec(spec_a: InputSpec, info_b: ModelInfo) -> InputSpec:
    """A's preprocessing with B's own layout, element type and channel count."""
    own = spec_from_model(info_b)
    return replace(spec_a, layout=own.layout, dtype=own.dtype, channels=own.channels)


def inputs_from_paths(model_a: LoadedModel, model_b: LoadedModel, paths: Sequence[Path],
                      spec: InputSpec | None = None,
                      extra: dict[str, str | Path] | None = None,
                      samples: int | None = None) -> CompareInputs:
    """Inputs read from files, preprocessed with ``spec`` (default: A's) for both models.

    B's feeds are prepared with the same preprocessing in B's own layout and
    type; where that fails (a ``.npy`` shaped for A) A's tensor is adapted.
    """
    spec_a = spec or spec_from_model(model_a.info)
    spec_for_b = b_spec(spec_a, model_b.info)

    def prepare(index: int) -> tuple[Feeds, Feeds]:
        path = paths[index]
        feeds_a = prepare_input(model_a.info, path, spec_a, extra, samples).feed_dict()
        try:
            feeds_b = prepare_input(model_b.info, path, spec_for_b, extra, samples).feed_dict()
        except InputError:
            feeds_b = adapt_feeds(feeds_a, model_b.info)
        return feeds_a, feeds_b

    return CompareInputs(sources=tuple(str(p) for p in paths), prepare=prepare)


def inputs_from_prepared(model_b: LoadedModel, prepared: Sequence[PreparedInput]
                         ) -> CompareInputs:
    """Inputs already prepared for A (the GUI's current input); B gets them adapted."""
    items = list(prepared)

    def prepare(index: int) -> tuple[Feeds, Feeds]:
        feeds_a = items[index].feed_dict()
        return feeds_a, adapt_feeds(feeds_a, model_b.info)

    return CompareInputs(sources=tuple(p.source for p in items), prepare=prepare)
