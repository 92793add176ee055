"""About box: versions, the model and weights in use, and the registry's counts."""

from __future__ import annotations

import html
import importlib.metadata
import platform

import shiboken6

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

import reid_engine

from ..state import AppState


def package_version(name: str) -> str:
    """A package's installed version, without importing it (torch stays unloaded)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def about_html(state: AppState) -> str:
    versions = [
        ("LostPet", reid_engine.__version__),
        ("Python", platform.python_version()),
        ("Qt / PySide6", f"{qVersion()} / {pyside_version}"),
        ("PyTorch", package_version("torch")),
        ("timm", package_version("timm")),
        ("FAISS", package_version("faiss-cpu")),
        ("Pillow", package_version("pillow")),
    ]
    info = state.model_info
    if info:
        model = [
            ("Model", info.get("model")),
            ("Weights", info.get("weights_path") or info.get("weights_source")),
            ("Weights source", info.get("weights_source")),
            ("Re-ID head", info.get("head") or "none"),
            ("Device", f"{info.get('device')} ({info.get('precision')})"),
            ("Embedding size", info.get("dim")),
        ]
    else:
        model = [("Model", {"loading": "loading…"}.get(state.model_state.value, state.model_error or "not loaded"))]
    counts = state.counts
    reg = state.registry_info
    registry = [
        ("Folder", reg.get("data_dir", "not open")),
        ("Dogs", counts.get("dogs", "—")),
        ("Photos", counts.get("photos", "—")),
        ("Search index", f"{counts.get('index_vectors', '—')} vectors"),
    ]

    def table(title: str, rows) -> str:
        body = "".join(
            f"<tr><td style='padding-right:12px'><b>{html.escape(str(k))}</b></td>"
            f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<h4 style='margin-bottom:2px'>{title}</h4><table>{body}</table>"

    return (
        "<h2 style='margin-bottom:0'>LostPet Re-ID</h2>"
        "<p>Find and register dogs by photo, on this computer only.</p>"
        + table("Versions", versions) + table("Model", model) + table("Registry", registry)
        + "<p style='font-size:small'>Dog photos used in development: DogFaceNet (CC BY 4.0).</p>"
    )


class AboutDialog(QDialog):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setWindowTitle("About LostPet")
        self.setMinimumWidth(560)
        icon = QLabel()
        pixmap = QPixmap(str(_icon_path()))
        if not pixmap.isNull():
            icon.setPixmap(pixmap.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(about_html(state))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(icon)
        row.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
        state.refresh_info(self._refreshed)

    def _refreshed(self, _info: dict) -> None:
        if shiboken6.isValid(self.text):  # the box may be closed before the engine answers
            self.text.setText(about_html(self.state))


def _icon_path():
    from reid_engine.paths import resources_dir

    return resources_dir() / "icons" / "lostpet-256.png"
