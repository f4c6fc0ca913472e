"""Runs of one model with chosen tensors exposed, checked against its plain run.

The first input of a window goes through :func:`engine.featuremaps._session_with_check`
(the same optimisation-level fallback and output check as ``maps``); later
inputs reuse the chosen session and are checked against the plain model at
the same optimisation level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.cancellation import CancelToken, ProgressCallback
from engine.compare.inputs import CompareInputs
from engine.featuremaps import FLOAT_RTOL, HALF_RTOL, _session_with_check, compare_outputs
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import Session, SessionCache
from engine.types import Progress, RunInfo

Values = dict[str, np.ndarray]


class PlainRunner:
    """The unmodified model at the full optimisation level (the reference outputs)."""

    def __init__(self, model: LoadedModel, preference: ProviderPreference,
                 cache: SessionCache) -> None:
        self.model = model
        self.preference = preference
        self.cache = cache
        self.session: Session | None = None

    def run(self, feeds: Values, cancel: CancelToken) -> Values:
        """The model's outputs on ``feeds``."""
        if self.session is None:
            self.session = self.cache.get(self.model.sha256, (), self.preference, "all",
                                          lambda: self.model.proto)
        return self.session.run(feeds, cancel=cancel)

    def release(self) -> None:
        """Drop the session (and its memory arena); the next run creates it again."""
        self.session = None


class ExposedRunner:
    """One model with ``tensors`` exposed, run input after input.

    Parameters
    ----------
    model
        The model.
    tensors
        Tensors to expose.
    label
        ``A`` or ``B``, for the notes.
    """

    def __init__(self, model: LoadedModel, tensors: list[str], label: str,
                 preference: ProviderPreference, cache: SessionCache,
                 notes: list[str]) -> None:
        self.model = model
        self.tensors = tensors
        self.label = label
        self.preference = preference
        self.cache = cache
        self.notes = notes
        self.session: Session | None = None
        self.exposed: tuple[str, ...] = ()
        self._info: RunInfo | None = None

    @property
    def info(self) -> RunInfo | None:
        """Provider and optimisation level of the exposed session (after the first run)."""
        return self._info

    def _note(self, text: str) -> None:
        line = f"model {self.label}: {text}"
        if line not in self.notes:
            self.notes.append(line)

    def release(self) -> None:
        """Drop the session (and its memory arena) once no input needs it any more."""
        self.session = None

    def run(self, feeds: Values, reference: Values, cancel: CancelToken) -> Values:
        """Exposed values on ``feeds``; ``reference`` is the plain run at level ``all``."""
        if self.session is None:
            session, values, _check, notes, report = _session_with_check(
                self.model, self.tensors, feeds, self.preference, self.cache, reference, cancel)
            self.session = session
            self._info = session.info
            self.exposed = report.exposed + report.already_outputs
            for note in notes:
                self._note(note)
            return values
        values = self.session.run(feeds, cancel=cancel)
        level = self.session.info.optimization_level
        same_level = reference if level == "all" else self.cache.get(
            self.model.sha256, (), self.preference, level,  # type: ignore[arg-type]
            lambda: self.model.proto).run(feeds, cancel=cancel)
        half = any(np.asarray(values[t]).dtype == np.float16 for t in self.exposed
                   if t in values)
        check = compare_outputs(same_level, values, rtol=HALF_RTOL if half else FLOAT_RTOL)
        if not check.passed:
            self._note(f"exposing the layers changed the model's own outputs by up to "
                       f"{check.worst:.3g} on some inputs, so those figures are uncertain")
        return values


@dataclass
class RunContext:
    """What every pass of one comparison shares.

    ``release_each``: drop every session right after its run (a single input,
    or too little memory to keep the sessions of a window over several inputs;
    they are then created again for each input).
    """

    a: LoadedModel
    b: LoadedModel
    inputs: CompareInputs
    preference: ProviderPreference
    cache: SessionCache
    cancel: CancelToken
    progress: ProgressCallback
    budget: int | None
    notes: list[str] = field(default_factory=list)
    step: int = 0
    steps: int = 1
    release_each: bool = True
    plain_a: PlainRunner | None = None
    plain_b: PlainRunner | None = None
    _kept: tuple[Values, Values, Values, Values] | None = None

    def __post_init__(self) -> None:
        self.plain_a = PlainRunner(self.a, self.preference, self.cache)
        self.plain_b = PlainRunner(self.b, self.preference, self.cache)

    def tick(self, message: str) -> None:
        """Report one more step done and honour cancellation."""
        self.step += 1
        self.progress(Progress(min(self.step, self.steps), max(self.steps, self.step), message))
        self.cancel.check()

    def note(self, text: str) -> None:
        """Add a note once."""
        if text not in self.notes:
            self.notes.append(text)

    def references(self, index: int) -> tuple[Values, Values, Values, Values]:
        """Feeds and plain outputs of input ``index`` for A and B.

        With a single input they are computed once. With :attr:`release_each`
        the plain sessions are dropped right after their run, so that their
        memory is free for the exposed runs.
        """
        assert self.plain_a is not None and self.plain_b is not None
        if self._kept is not None:
            return self._kept
        feeds_a, feeds_b = self.inputs.feeds(index)
        outputs_a = self.plain_a.run(feeds_a, self.cancel)
        if self.release_each:
            self.plain_a.release()
            self.cache.clear()
        outputs_b = self.plain_b.run(feeds_b, self.cancel)
        if self.release_each:
            self.plain_b.release()
            self.cache.clear()
        found = (feeds_a, feeds_b, outputs_a, outputs_b)
        if len(self.inputs) == 1:
            self._kept = found
        return found

    def used(self, runner: ExposedRunner) -> None:
        """A runner has done its run: with :attr:`release_each`, free its session now."""
        if self.release_each:
            runner.release()
            self.cache.clear()

    def release(self) -> None:
        """Drop the window's sessions (their arenas) but keep the plain ones."""
        self.cache.clear()
