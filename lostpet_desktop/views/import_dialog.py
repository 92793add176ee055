"""Batch import: a folder of photos into the registry, with progress, cancel and a summary.

Three pages in one dialog: choose (folder, one dog per photo or per sub-folder, status of new dogs),
progress (count, rate, time left, current file, Cancel) and summary (imported, skipped as already
present, failed with the reason for each). The work is the engine's ``import_folder`` generator on the
engine worker; cancelling keeps what was imported so far.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from reid_engine.models import DogDetails, DogStatus, ImportSummary, Progress

from ..state import AppState
from ..workers import Job, describe_error

_PHASES = {  # the engine's progress messages, as the dialog words them
    "Looking for photos already in the registry": "Step 1 of 2: checking which photos are already registered",
    "Importing": "Step 2 of 2: reading and registering the photos",
}


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class RateMeter:
    """Photos per second and time left over the last ``window_s`` seconds of one phase.

    The engine embeds photos in batches, so progress arrives in bursts; a window of many seconds
    (not the last two reports) gives a rate that does not jump. A new phase starts afresh.
    """

    def __init__(self, window_s: float = 20.0):
        self.window_s = window_s
        self.samples: list[tuple[float, int]] = []
        self.phase = ""

    def add(self, done: int, phase: str = "", now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if phase != self.phase:
            self.phase = phase
            self.samples = []
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window_s:
            self.samples.pop(0)

    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 - t0 < 1.0 or d1 <= d0:
            return None  # too early to say
        return (d1 - d0) / (t1 - t0)

    def eta(self, done: int, total: int) -> float | None:
        rate = self.rate()
        return (total - done) / rate if rate else None


class ImportDialog(QDialog):
    """The batch import dialog. ``finished_import(summary)`` is emitted when the summary shows."""

    finished_import = Signal(object)
    progressed = Signal(object)  # each Progress shown (tests wait on it)

    def __init__(self, state: AppState, folder: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setWindowTitle("Import a folder of photos")
        self.setMinimumWidth(620)
        self._job: Job | None = None
        self._meter = RateMeter()
        self._started = 0.0
        self.summary: ImportSummary | None = None
        self.setAcceptDrops(True)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._choose_page(folder))
        self.pages.addWidget(self._progress_page())
        self.pages.addWidget(self._summary_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self.show_page(0)

    def show_page(self, index: int) -> None:
        """Show one page and size the dialog for it (hidden pages must not set the size)."""
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.pages.widget(i).setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(index)
        self.adjustSize()
        if index == 2:
            self.resize(max(self.width(), 720), max(self.height(), 520))

    # ------------------------------------------------------------------ page 1: choose
    def _choose_page(self, folder: Path | None) -> QWidget:
        page = QWidget()
        intro = QLabel("Register every photo in a folder (and its sub-folders). Photos already in the "
                       "registry are skipped, and unreadable files are listed at the end.")
        intro.setWordWrap(True)
        self.folder_edit = QLineEdit(str(folder) if folder else self.state.last_folder("import"))
        self.folder_edit.setPlaceholderText("Choose or drop a folder")
        self.folder_edit.textChanged.connect(self._validate)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.per_photo = QRadioButton("One new dog per photo")
        self.per_photo.setToolTip("Each photo is a different dog (for example, intake photos named by tag)")
        self.per_folder = QRadioButton("One dog per sub-folder (all photos in a sub-folder are the same dog)")
        self.per_folder.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.per_photo)
        self._mode_group.addButton(self.per_folder)
        self.status = QComboBox()
        for status in DogStatus:
            self.status.addItem(status.label, status)
        self.choose_error = QLabel()
        self.choose_error.setWordWrap(True)
        self.choose_error.setStyleSheet("color: #c62828;")
        self.choose_error.hide()

        form = QFormLayout()
        form.addRow("Folder:", folder_row)
        modes = QVBoxLayout()
        modes.addWidget(self.per_folder)
        modes.addWidget(self.per_photo)
        form.addRow("Dogs:", modes)
        form.addRow("Status of new dogs:", self.status)
        self.crop_check = QCheckBox("Crop each photo to the dog when it fills little of the frame")
        self.crop_check.setChecked(self.state.settings.auto_crop)
        self.crop_check.setToolTip("Matching then looks at the dog, not the kennel around it (slower: the dog "
                                   "finder runs on every photo). The photos are stored whole.")
        form.addRow("", self.crop_check)

        self.start_buttons = QDialogButtonBox()
        self.start_button = self.start_buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_buttons.accepted.connect(self.start)
        self.start_buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(page)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.choose_error)
        layout.addStretch(1)
        layout.addWidget(self.start_buttons)
        self._validate()
        return page

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the folder to import", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _validate(self) -> None:
        text = self.folder_edit.text().strip()
        self.start_button.setEnabled(bool(text) and Path(text).is_dir())

    def set_folder(self, folder: Path) -> None:
        self.folder_edit.setText(str(folder))

    def set_mode(self, mode: str) -> None:
        (self.per_photo if mode == "per-photo" else self.per_folder).setChecked(True)

    def mode(self) -> str:
        return "per-photo" if self.per_photo.isChecked() else "per-folder"

    # ------------------------------------------------------------------ page 2: progress
    def _progress_page(self) -> QWidget:
        page = QWidget()
        self.progress_title = QLabel("Importing…")
        font = self.progress_title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.progress_title.setFont(font)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.phase_label = QLabel("Looking for photos…")
        self.count_label = QLabel("")
        self.rate_label = QLabel("")
        self.current_label = QLabel("")
        self.current_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.current_label.setMinimumWidth(200)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current photo; what was imported so far is kept")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.progress_title)
        layout.addWidget(self.phase_label)
        layout.addWidget(self.bar)
        layout.addWidget(self.count_label)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.current_label)
        layout.addStretch(1)
        layout.addLayout(row)
        return page

    def start(self) -> None:
        folder = Path(self.folder_edit.text().strip())
        if not folder.is_dir():
            self.choose_error.setText(f"{folder} is not a folder.")
            self.choose_error.show()
            return
        self.state.qsettings.setValue("folders/import", str(folder))
        mode = self.mode()
        details = DogDetails(status=self.status.currentData())
        crop = self.crop_check.isChecked()
        self.show_page(1)
        self.progress_title.setText(f"Importing {folder.name}…")
        self._meter = RateMeter()
        self._started = time.monotonic()
        self._job = self.state.run(
            lambda reg, cancel: reg.import_folder(folder, mode, cancel=cancel, details=details, crop=crop),
            name="Importing photos", needs_model=True, pass_cancel=True,
            on_progress=self._progress, on_result=self._done, on_error=self._failed)

    def _progress(self, p: Progress) -> None:
        if not isinstance(p, Progress):
            return
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
        self._meter.add(p.done, p.message)
        if p.message:
            self.phase_label.setText(_PHASES.get(p.message, p.message))
        self.count_label.setText(f"{p.done} of {p.total} photos" if p.total else "Looking for photos…")
        rate = self._meter.rate()
        eta = self._meter.eta(p.done, p.total)
        if rate:
            self.rate_label.setText(f"{rate:.1f} photos per second · about {format_duration(eta or 0)} left")
        else:
            self.rate_label.setText("Measuring speed…")
        if p.item:
            metrics = self.current_label.fontMetrics()
            text = metrics.elidedText(f"Now: {p.item}", Qt.TextElideMode.ElideMiddle,
                                      max(200, self.current_label.width()))
            self.current_label.setText(text)
            self.current_label.setToolTip(p.item)
        self.progressed.emit(p)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.progress_title.setText("Cancelling after the current photo…")

    def is_running(self) -> bool:
        return self._job is not None and not self._job.is_done()

    # ------------------------------------------------------------------ page 3: summary
    def _summary_page(self) -> QWidget:
        page = QWidget()
        self.summary_title = QLabel()
        font = self.summary_title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.summary_title.setFont(font)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["File", "Details"])
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setMinimumHeight(240)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.accept)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(page)
        layout.addWidget(self.summary_title)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        return page

    def _done(self, summary: ImportSummary) -> None:
        self.summary = summary
        self._show_summary(summary)
        self.state.notify_changed()

    def _failed(self, exc: BaseException) -> None:
        summary = ImportSummary()
        self.summary = summary
        self._show_summary(summary, error=describe_error(exc))

    def _show_summary(self, s: ImportSummary, error: str | None = None) -> None:
        self._job = None
        if error:
            self.summary_title.setText("The import could not run")
            self.summary_label.setText(error)
        else:
            self.summary_title.setText("Import cancelled" if s.cancelled else "Import finished")
            parts = [f"{len(s.imported)} photo{'s' if len(s.imported) != 1 else ''} imported"
                     f" ({s.dogs_created} new dog{'s' if s.dogs_created != 1 else ''})",
                     f"{len(s.skipped)} skipped (already in the registry)",
                     f"{len(s.failed)} failed"]
            took = f" in {format_duration(s.seconds)}" if s.seconds else ""
            kept = " Everything imported before you cancelled is kept." if s.cancelled else ""
            self.summary_label.setText(", ".join(parts) + took + "." + kept)
        self.tree.clear()
        groups = (
            (f"Failed ({len(s.failed)})", [(p, reason) for p, reason in s.failed], True),
            (f"Skipped, already present ({len(s.skipped)})", [(p, why) for p, why in s.skipped], False),
            (f"Imported ({len(s.imported)})", [(p, "") for p in s.imported], False),
        )
        for title, rows, expand in groups:
            group = QTreeWidgetItem([title, ""])
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            for path, detail in rows:
                item = QTreeWidgetItem([Path(path).name, str(detail)])
                item.setToolTip(0, str(path))
                item.setToolTip(1, str(detail))
                group.addChild(item)
            self.tree.addTopLevelItem(group)
            group.setExpanded(expand or (bool(rows) and len(rows) <= 20))
        self.tree.resizeColumnToContents(0)
        self.show_page(2)
        self.finished_import.emit(s)

    # ------------------------------------------------------------------ closing and dropping
    def reject(self) -> None:
        if self.is_running():
            self.cancel()  # the summary page follows; the dialog stays until then
            return
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.is_running():
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.pages.currentIndex() == 0 and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.is_dir():
                self.set_folder(path)
                event.acceptProposedAction()
                return

