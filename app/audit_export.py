"""File > Export audit report: the audit of the current model on the current input.

The engine computes the audit (:func:`engine.audit.report.run_audit`: predictions,
maps with deletion/insertion curves, the sanity check, provenance) off the GUI
thread and writes ``audit.json`` and ``report.html`` into the chosen folder
(atomically); the PDF is then rendered on the GUI thread by Qt's PDF writer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from app.jobs import JobContext, JobRunner
from app.notify import Notifier
from app.report_pdf import html_to_pdf
from engine.atomic_files import atomic_directory
from engine.audit.report import AuditSettings, run_audit, write_report
from engine.errors import EngineError
from engine.model_io import LoadedModel


class AuditExport(QObject):
    """Runs one audit export at a time and says where the report went."""

    def __init__(self, notifier: Notifier, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.notifier = notifier
        self.runner = JobRunner(notifier, self)
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.done: Callable[[Path], None] | None = None

    def start(self, model: LoadedModel, image: Path, folder: Path,
              settings: AuditSettings | None = None) -> int:
        """Audit ``model`` on ``image`` into ``folder`` (replaced atomically)."""
        chosen = settings or AuditSettings()

        def work(ctx: JobContext) -> Path:
            audit, assets = run_audit(model, [str(image)], chosen, progress=ctx.progress,
                                      cancel=ctx.cancel)
            with atomic_directory(folder) as target:
                write_report(audit, assets, target)
            return folder

        self.notifier.notify("info", f"Writing the audit report into {folder}…", topic="audit")
        return self.runner.submit("audit", work, "Auditing the model on the input")

    def _finished(self, job_id: int, kind: str, folder: object) -> None:
        del job_id, kind
        assert isinstance(folder, Path)
        html_to_pdf(folder / "report.html", folder / "report.pdf")
        self.notifier.resolve("audit")
        self.notifier.notify("info", f"Audit report written to {folder} (HTML, PDF and "
                             "audit.json).", topic="audit")
        if self.done is not None:
            self.done(folder)

    def _failed(self, job_id: int, kind: str, error: object) -> None:
        del job_id, kind
        self.notifier.resolve("audit")
        message = error.message if isinstance(error, EngineError) else str(error)
        self.notifier.notify("error", f"The audit report could not be written: {message}",
                             topic="audit")

    def shutdown(self) -> None:
        """Stop a running audit."""
        self.runner.cancel()
        self.runner.shutdown()
