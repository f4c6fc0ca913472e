"""onnxruntime sessions: creation with typed errors, caching and IO binding."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from onnx import ModelProto

from engine.bounded_cache import BoundedCache
from engine.cancellation import CancelToken
from engine.errors import (
    Cancelled,
    EngineError,
    ProviderError,
    ResourceError,
    UnsupportedModelError,
)
from engine.providers import CPU, CUDA, ProviderPreference, cuda_status, provider_list
from engine.run_meter import record_run
from engine.types import RunInfo

OptLevel = Literal["all", "extended", "basic", "disabled"]
OPT_LEVELS: tuple[OptLevel, ...] = ("all", "extended", "basic", "disabled")
#: CUDA provider options as sorted (key, value) string pairs: hashable, part of cache keys.
ProviderOptions = tuple[tuple[str, str], ...]
#: CUDA provider options that switch TensorFloat-32 off (exact fp32 convolutions/GEMMs).
EXACT_FP32: ProviderOptions = (("use_tf32", "0"),)


def provider_options(options: Mapping[str, object] | ProviderOptions | None) -> ProviderOptions:
    """Normalise CUDA provider options to sorted ``(key, value)`` string pairs."""
    if not options:
        return ()
    items = options.items() if isinstance(options, Mapping) else options
    return tuple(sorted((str(k), str(v)) for k, v in items))


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

    def device_values(self, values: Mapping[str, np.ndarray], device: str | None = None
                      ) -> dict[str, Any]:
        """Copy inputs that stay constant over many runs to the device once.

        Parameters
        ----------
        values
            Input name to array.
        device
            ``cuda`` or ``cpu``; default: the device of this session's provider.

        Returns
        -------
        dict
            Input name to ``onnxruntime.OrtValue``, for ``run(..., resident=)``.
        """
        import onnxruntime as ort

        where = device or ("cuda" if self.info.provider == CUDA else "cpu")
        try:
            return {name: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), where, 0)
                    for name, value in values.items()}
        except Exception as exc:
            raise translate_error(exc, "run") from exc

    def run(self, feeds: dict[str, np.ndarray], fetch: list[str] | tuple[str, ...] | None = None,
            cancel: CancelToken | None = None, resident: Mapping[str, Any] | None = None
            ) -> dict[str, np.ndarray]:
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
        resident
            More inputs, already on the device (:meth:`device_values`); they
            are bound without a copy (IO binding, on any provider).
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
            # Every attempted run is counted, also one that fails (it cost a pass).
            if self.info.provider == CUDA or resident:
                record_run({**feeds, **(resident or {})})
                return self._run_bound(feeds, names, options, resident or {})
            record_run(feeds)
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
                   options: Any, resident: Mapping[str, Any]) -> dict[str, np.ndarray]:
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name, value in resident.items():
            binding.bind_ortvalue_input(name, value)
        device = "cuda" if self.info.provider == CUDA else "cpu"
        for name in self.output_names:
            binding.bind_output(name, device)
        self.session.run_with_iobinding(binding, options)
        values = dict(zip(self.output_names, binding.get_outputs(), strict=True))
        return {name: values[name].numpy() for name in names}


def _quiet_session(data: bytes, options: Any, providers: list[Any]) -> Any:
    """Create a session; onnxruntime's wrapper prints its provider retries to stdout."""
    import onnxruntime as ort

    with contextlib.redirect_stdout(io.StringIO()):
        return ort.InferenceSession(data, options, providers=providers)


def create_session(model: ModelProto | bytes, preference: ProviderPreference = "auto",
                   opt_level: OptLevel = "all",
                   cuda_options: Mapping[str, object] | ProviderOptions | None = None) -> Session:
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
    cuda_options
        Options of the CUDA provider (e.g. :data:`EXACT_FP32`); ignored when
        the session runs on CPU.

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
    cuda_pairs = provider_options(cuda_options)
    requested: list[Any] = [(p, dict(cuda_pairs)) if p == CUDA and cuda_pairs else p
                            for p in providers]
    data = model if isinstance(model, bytes) else model.SerializeToString()
    options = ort.SessionOptions()
    options.graph_optimization_level = _graph_opt(opt_level)
    options.log_severity_level = 4  # errors surface as exceptions, not log lines
    try:
        session = _quiet_session(data, options, requested)
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
    """A small LRU cache of sessions keyed by (model hash, exposed set, provider, level,
    CUDA provider options).

    Parameters
    ----------
    capacity
        How many sessions to keep alive.
    cuda_options
        CUDA provider options applied to every :meth:`get` that gives none
        (see :meth:`with_cuda_options`).
    """

    def __init__(self, capacity: int = 6,
                 cuda_options: Mapping[str, object] | ProviderOptions | None = None) -> None:
        self._items: BoundedCache[tuple[object, ...], Session] = BoundedCache(capacity)
        self._cuda_options = provider_options(cuda_options)

    def with_cuda_options(self, options: Mapping[str, object] | ProviderOptions | None
                          ) -> SessionCache:
        """A view of this cache (same sessions, same capacity) whose ``get`` uses ``options``."""
        view = SessionCache.__new__(SessionCache)
        view.__dict__.update(self.__dict__)
        view._cuda_options = provider_options(options)
        return view

    def get(self, model_hash: str, exposed: tuple[str, ...], preference: ProviderPreference,
            opt_level: OptLevel, build: Any,
            cuda_options: Mapping[str, object] | ProviderOptions | None = None) -> Session:
        """Return the cached session or create it with ``build()`` (a ModelProto).

        ``cuda_options`` (default: the cache's own) are part of the key only
        where CUDA can be tried, so a CPU-only machine shares one session.
        """
        pairs = provider_options(cuda_options) if cuda_options is not None else \
            self._cuda_options
        if pairs and CUDA not in provider_list(preference)[0]:
            pairs = ()
        key = (model_hash, frozenset(exposed), preference, opt_level, pairs)
        return self._items.get_or_create(
            key, lambda: create_session(build(), preference, opt_level, pairs))

    def clear(self) -> None:
        """Drop every cached session."""
        self._items.clear()


#: The process-wide cache used by the engine's convenience functions.
SESSIONS = SessionCache()
