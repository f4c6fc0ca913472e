"""Typed engine errors with one human sentence each.

Every error raised by the engine on bad input derives from :class:`EngineError`.
``message`` is one sentence written for an analyst (shown by the GUI and printed
by the CLI); ``detail`` carries the technical reason (exception text, offsets,
paths) for logs and bug reports.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of all user-facing engine errors.

    Parameters
    ----------
    message
        One sentence for the user, ending with a full stop.
    detail
        Technical detail for logs; may be empty.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """Return the message and, if present, the detail on one line."""
        if self.detail:
            detail = " ".join(self.detail.split())
            if len(detail) > 300:
                detail = detail[:297] + "..."
            return f"{self.message} ({detail})"
        return self.message


class ModelLoadError(EngineError):
    """The file cannot be read as an ONNX model (missing, corrupt, truncated)."""


class UnsupportedModelError(EngineError):
    """The model is valid ONNX but cannot run here (opset, custom ops, ...)."""


class ExternalDataError(ModelLoadError):
    """External weights are missing or point outside the model's folder."""


class RewriteError(EngineError):
    """Exposing intermediate tensors failed or changed the model's outputs."""


class ProviderError(EngineError):
    """No execution provider could run the model."""


class InputError(EngineError):
    """The input image, tensor or audio file cannot be used with this model."""


class ResourceError(EngineError):
    """The work would need more memory than is allowed or available."""


class OutputError(EngineError):
    """A result could not be written to disk."""


class OperationTimeout(EngineError):
    """An engine call exceeded its time budget and was stopped by the watchdog."""


class Cancelled(EngineError):
    """The user cancelled a long-running operation."""

    def __init__(self, message: str = "The operation was cancelled.", detail: str = "") -> None:
        super().__init__(message, detail)
