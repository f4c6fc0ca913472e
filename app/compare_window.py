"""File > Compare with...: model B next to the current model A, in a window of its own.

The comparison (:func:`engine.compare.runner.compare_models`) runs on the current
input, off the GUI thread, in this window's own job runner; choosing a layer pair
computes A's and B's maps of that pair (:func:`engine.compare.pair_maps.pair_maps`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from app.jobs import JobContext, JobRunner
from app.views.compare_view import CompareView
from engine.compare.inputs import inputs_from_prepared
from engine.compare.pair_maps import pair_maps
from engine.compare.runner import compare_models
from engine.compare.types import ComparisonResult
from engine.errors import EngineError
from engine.model_io import LoadedModel, load_model
from engine.types import PreparedInput


class CompareWindow(QMainWindow):
    """A's current model and input against a model B chosen by the user."""

    def __init__(self, model_a: LoadedModel, prepared: PreparedInput, path_b: Path,
                 preference: str = "auto", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare {model_a.info.path.name} with {path_b.name}")
        self.model_a, self.prepared, self.path_b = model_a, prepared, path_b
        self.preference = preference
        self.model_b: LoadedModel | None = None
        self.result: ComparisonResult | None = None
        self.status = QLabel(f"Comparing with {path_b.name} on {Path(prepared.source).name}…")
        self.status.setWordWrap(True)
        self.view = CompareView()
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(body)
        self.resize(1200, 860)
        self.runner = JobRunner(parent=self)
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.view.pairSelected.connect(self._pair_selected)
        self.runner.submit("compare", self._compare, f"Comparing with {path_b.name}")

    def _compare(self, ctx: JobContext) -> ComparisonResult:
        model_b = load_model(self.path_b)
        self.model_b = model_b
        return compare_models(self.model_a, model_b,
                              inputs_from_prepared(model_b, [self.prepared]),
                              preference=self.preference,  # type: ignore[arg-type]
                              progress=ctx.progress, cancel=ctx.cancel)

    def _pair_selected(self, index: int) -> None:
        if self.result is None or self.model_b is None:
            return
        pair = self.result.pairs[index]
        model_b = self.model_b

        def work(ctx: JobContext) -> tuple[int, object, object]:
            inputs = inputs_from_prepared(model_b, [self.prepared])
            a, b = pair_maps(self.model_a, model_b, pair, inputs, 0,
                             self.preference, cancel=ctx.cancel)  # type: ignore[arg-type]
            return index, a, b

        self.runner.submit("compare-maps", work, "Computing the pair's maps",
                           supersede_running=True)

    def _finished(self, job_id: int, kind: str, payload: object) -> None:
        del job_id
        if kind == "compare" and isinstance(payload, ComparisonResult):
            self.result = payload
            self.view.set_result(payload)
            divergence = payload.first_divergence
            where = f"first divergence at {divergence.a}" if divergence is not None else \
                "no layer's local error exceeds the tolerance"
            self.status.setText(f"{len(payload.pairs)} layer pairs compared on "
                                f"{Path(self.prepared.source).name}: {where}.")
        elif kind == "compare-maps" and isinstance(payload, tuple):
            index, a, b = payload
            self.view.show_pair_maps(index, a, b)

    def _failed(self, job_id: int, kind: str, error: object) -> None:
        del job_id, kind
        message = error.message if isinstance(error, EngineError) else str(error)
        self.status.setText(f"The comparison failed: {message}")

    def closeEvent(self, event: object) -> None:
        """Stop the comparison's jobs with the window."""
        self.runner.cancel()
        self.runner.shutdown()
        super().closeEvent(event)  # type: ignore[arg-type]
