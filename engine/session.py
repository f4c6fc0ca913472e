"""onnxruntime sessions: creation with typed errors, caching and IO binding."""

from __future__ import annotations

import contextlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from onnx import ModelProto

from engine.errors import (
    Cancelled,
    EngineError,
    ProviderError,
    ResourceError,
    UnsupportedModelError,
)
from engine.jobs import CancelToken
from engine.providers import CPU, CUDA, ProviderPreference, cuda_status, provider_list
from engine.types import RunInfo

OptLevel = Literal["all", "extended", "basic", "disabled"]
OPT_LEVELS: tuple[OptLevel, ...] = ("all", "extended", "basic", "disabled")


def _graph_opt(level: OptLevel) -> Any:
    import onnxruntime as ort

    return {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an onnxruntime error reports exhausted host or device memory."""
    text = str(exc).lower()
    return any(k in text for k in ("out of memory", "failed to allocate", "bad_alloc",
                                    "cudaerrormemoryallocation", "cuda_error_out_of_memory"))


def translate_error(exc: Exception, stage: str) -> EngineError:
    """Turn an onnxruntime exception into a typed error with one sentence.

    Parameters
    ----------
    exc
        The exception onnxruntime raised.
    stage
        ``"load"`` (session creation) or ``"run"``.
    """
    text = str(exc)
    if is_out_of_memory(exc):
        return ResourceError("The model ran out of memory; try a smaller input or the CPU.", text)
    missing = re.search(r"Could not find an implementation for (\w+)\((\d+)\)", text)
    if missing:
        return UnsupportedModelError(
            f"The model uses operator {missing.group(1)} (version {missing.group(2)}), "
            "which this onnxruntime cannot run.", text)
    unknown = re.search(r"No Op registered for (\w+) with domain_version of (\d+)", text)
    if unknown:
        return UnsupportedModelError(
            f"The model uses operator {unknown.group(1)}, which does not exist in ONNX "
            f"opset {unknown.group(2)}.", text)
    if stage == "load":
        return UnsupportedModelError("onnxruntime could not load the model.", text)
    if "INVALID_ARGUMENT" in text or "Got invalid dimensions" in text:
        return UnsupportedModelError("The model rejected the input tensor's shape or type.", text)
    return UnsupportedModelError(
        "onnxruntime failed while running the model on this input; the input size or "
        "type may not suit the model.", text)


@dataclass
class Session:
    """An onnxruntime session and what really runs it."""

    session: Any
    info: RunInfo
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray], fetch: list[str] | tuple[str, ...] | None = None,
            cancel: CancelToken | None = None) -> dict[str, np.ndarray]:
        """Run once and return the requested outputs as host arrays.

        On CUDA all outputs stay on the device (IO binding) and only ``fetch``
        is copied to the host.

        Parameters
        ----------
        feeds
            Input name to array.
        fetch
            Output names to return; all outputs when None.
        cancel
            Cancelling it terminates the pass in flight (``RunOptions.terminate``)
            and raises :class:`engine.errors.Cancelled`.
        """
        import onnxruntime as ort

        names = list(self.output_names if fetch is None else fetch)
        options = ort.RunOptions()
        options.log_severity_level = 4

        def terminate() -> None:
            options.terminate = True

        if cancel is not None:
            cancel.check()
            cancel.add_callback(terminate)
        try:
            if self.info.provider == CUDA:
                return self._run_bound(feeds, names, options)
            values = self.session.run(names, feeds, options)
        except EngineError:
            raise
        except Exception as exc:
            if cancel is not None and cancel.cancelled:
                raise Cancelled() from exc
            raise translate_error(exc, "run") from exc
        finally:
            if cancel is not None:
                cancel.remove_callback(terminate)
        return dict(zip(names, values, strict=True))

    def _run_bound(self, feeds: dict[str, np.ndarray], names: list[str],
                   options: Any) -> dict[str, np.ndarray]:
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding, options)
        values = dict(zip(self.output_names, binding.get_outputs(), strict=True))
        return {name: values[name].numpy() for name in names}


def _quiet_session(data: bytes, options: Any, providers: list[str]) -> Any:
    """Create a session; onnxruntime's wrapper prints its provider retries to stdout."""
    import onnxruntime as ort

    with contextlib.redirect_stdout(io.StringIO()):
        return ort.InferenceSession(data, options, providers=providers)


def create_session(model: ModelProto | bytes, preference: ProviderPreference = "auto",
                   opt_level: OptLevel = "all") -> Session:
    """Create an onnxruntime session, reading back which provider really runs.

    Parameters
    ----------
    model
        The model (or its serialized bytes). Custom-op libraries are never
        registered.
    preference
        ``auto``, ``cpu`` or ``cuda``.
    opt_level
        Graph optimisation level.

    Raises
    ------
    UnsupportedModelError
        onnxruntime cannot load the model.
    ProviderError
        ``cuda`` was demanded and CUDA cannot run here.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    providers, reason = provider_list(preference)
    if preference == "cuda" and CUDA not in providers:
        raise ProviderError(f"CUDA was requested but cannot be used: {reason}.")
    data = model if isinstance(model, bytes) else model.SerializeToString()
    options = ort.SessionOptions()
    options.graph_optimization_level = _graph_opt(opt_level)
    options.log_severity_level = 4  # errors surface as exceptions, not log lines
    try:
        session = _quiet_session(data, options, providers)
    except Exception as exc:
        if CUDA in providers and not is_out_of_memory(exc) and "implementation" not in str(exc):
            try:
                session = _quiet_session(data, options, [CPU])
            except Exception as exc2:
                raise translate_error(exc2, "load") from exc2
            reason = f"the CUDA provider failed to initialise ({str(exc).splitlines()[0]})"
        else:
            raise translate_error(exc, "load") from exc
    used = tuple(session.get_providers())
    provider = used[0] if used else CPU
    if provider != CUDA and not reason:
        reason = "the CUDA provider failed to initialise; onnxruntime fell back to CPU"
    info = RunInfo(provider=provider, providers=used, fallback_reason=reason if provider != CUDA
                   else "", device_name=cuda_status().device_name if provider == CUDA else "CPU",
                   optimization_level=opt_level)
    return Session(session=session, info=info,
                   input_names=tuple(i.name for i in session.get_inputs()),
                   output_names=tuple(o.name for o in session.get_outputs()))


class SessionCache:
    """A small LRU cache of sessions keyed by (model hash, exposed set, provider, level).

    Parameters
    ----------
    capacity
        How many sessions to keep alive.
    """

    def __init__(self, capacity: int = 6) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[object, ...], Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_hash: str, exposed: tuple[str, ...], preference: ProviderPreference,
            opt_level: OptLevel, build: Any) -> Session:
        """Return the cached session or create it with ``build()`` (a ModelProto)."""
        key = (model_hash, frozenset(exposed), preference, opt_level)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        session = create_session(build(), preference, opt_level)
        with self._lock:
            self._items[key] = session
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return session

    def clear(self) -> None:
        """Drop every cached session."""
        with self._lock:
            self._items.clear()


#: The process-wide cache used by the engine's convenience functions.
SESSIONS = SessionCache()
