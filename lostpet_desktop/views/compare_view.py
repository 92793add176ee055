"""Compare: the query photo beside the matched dog's best photo, with the explanation heatmaps.

Heatmaps come from :mod:`reid_engine.heatmap` when the engine ships it: ``explain`` runs on the
engine worker (it uses the model), the overlays are drawn once at full strength and the opacity
slider only repaints (the engine's ``overlay`` blends linearly, so this is the same picture). Where
the module is missing, the toggle is hidden and a line says why.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from reid_engine.models import Match, Photo

from ..models import PhotoListModel
from ..models.delegates import band_color
from ..models.roles import BAND_TEXT, format_date, format_score
from ..state import AppState, QuerySource
from ..thumbnails import read_image
from ..workers import Job, describe_error
from .widgets import ImagePane, MessageBanner, make_photo_strip

_VIEW_SIZE = 720  # pixels decoded for the side-by-side panes (and the heatmaps)


@dataclass
class _Overlays:
    query: QImage
    match: QImage


def _pil_to_qimage(image) -> QImage:
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def explain_pair(state: AppState, query: QuerySource, photo_file: str) -> _Overlays:
    """Engine thread: heatmaps of one query photo and one stored photo, as full-strength overlays."""
    from reid_engine import heatmap
    from reid_engine.images import load_image, make_thumbnail

    embedder = state.attached_embedder()
    q_image = query.load()
    m_image = load_image(photo_file)
    # Heatmaps come back at the photo's size; the panes never show more than _VIEW_SIZE pixels.
    q_image = make_thumbnail(q_image, min(_VIEW_SIZE, max(q_image.size)))
    m_image = make_thumbnail(m_image, min(_VIEW_SIZE, max(m_image.size)))
    q_heat, m_heat = heatmap.explain(embedder, q_image, m_image)
    return _Overlays(
        _pil_to_qimage(heatmap.overlay(q_image, q_heat, alpha=1.0)),
        _pil_to_qimage(heatmap.overlay(m_image, m_heat, alpha=1.0)),
    )


class CompareView(QWidget):
    """Side-by-side comparison of a query and one match.

    Signals:
        open_record(int): the person wants the dog's record (its id).
        add_query_to_dog(object): "this query is a new photo of this dog" (the ``Match``).
    """

    open_record = Signal(int)
    add_query_to_dog = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._match: Match | None = None
        self._query: QuerySource | None = None
        self._query_pixmap: QPixmap | None = None
        self._shown_photo: Photo | None = None
        self._overlays: dict[tuple[str, int], _Overlays] = {}
        self._heat_job: Job | None = None
        self._loads: list[Job] = []

        self._empty = QLabel("Select a match on the left to compare it with your photo.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setForegroundRole(self._empty.foregroundRole())

        body = QWidget()
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self._empty)
        self._stack.addWidget(body)

        # Header: who, and how alike.
        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.score_label = QLabel()
        self.score_label.setObjectName("ScorePill")
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.score_label)

        # The two photos.
        self.query_pane = ImagePane("Your photo")
        self.match_pane = ImagePane("Loading…")
        self.query_caption = QLabel("Your photo")
        self.match_caption = QLabel()
        for caption in (self.query_caption, self.match_caption):
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        panes = QHBoxLayout()
        for pane, caption in ((self.query_pane, self.query_caption), (self.match_pane, self.match_caption)):
            column = QVBoxLayout()
            column.addWidget(pane, 1)
            column.addWidget(caption)
            panes.addLayout(column, 1)

        # Heatmap controls (or why there are none).
        self.heat_toggle = QCheckBox("Show matching regions")
        self.heat_toggle.setToolTip("Colour the parts of both photos that the model found alike (warm = alike)")
        self.heat_toggle.toggled.connect(self._heat_toggled)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setMaximumWidth(180)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(self._opacity_changed)
        self.opacity_label = QLabel("Opacity")
        self.heat_note = QLabel()
        self.heat_note.setWordWrap(True)
        self.heat_note.setForegroundRole(self.heat_note.foregroundRole())
        heat_row = QHBoxLayout()
        heat_row.addWidget(self.heat_toggle)
        heat_row.addSpacing(12)
        heat_row.addWidget(self.opacity_label)
        heat_row.addWidget(self.opacity)
        heat_row.addWidget(self.heat_note, 1)
        heat_row.addStretch(0)

        # The dog's details and other photos.
        self.details = QFormLayout()
        self.details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._fields: dict[str, QLabel] = {}
        for key, label in (("tag", "Tag"), ("status", "Status"), ("date", "Date"), ("location", "Place"),
                           ("notes", "Notes")):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._fields[key] = value
            self.details.addRow(label + ":", value)
        self.photos_model = PhotoListModel(state.thumbnails, state.photo_file, thumb_size=72, parent=self)
        self.photos_strip = make_photo_strip(self.photos_model, 72)
        self.photos_strip.clicked.connect(self._photo_clicked)
        self.photos_label = QLabel("All photos of this dog (click one to compare with it):")

        self.open_button = QPushButton("Open record")
        self.open_button.setToolTip("Show this dog in the library to edit it")
        self.open_button.clicked.connect(lambda: self._match and self.open_record.emit(self._match.dog.id))
        self.add_button = QPushButton("Add my photo to this dog")
        self.add_button.setToolTip("Register the photo you searched with as a new photo of this dog")
        self.add_button.clicked.connect(lambda: self._match and self.add_query_to_dog.emit(self._match))
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)

        self.banner = MessageBanner()

        details_box = QFrame()
        details_box.setLayout(self.details)
        details_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addLayout(header)
        layout.addLayout(panes)
        layout.addLayout(heat_row)
        layout.addWidget(self.banner)
        layout.addWidget(details_box)
        layout.addWidget(self.photos_label)
        layout.addWidget(self.photos_strip)
        layout.addLayout(buttons)
        layout.addStretch(1)  # what the square photo panes leave goes below, not around the photos

        self._setup_heatmap_controls()

    # ------------------------------------------------------------------ public
    def clear(self) -> None:
        self._match = None
        self._query = None
        self._overlays.clear()
        self._stack.setCurrentIndex(0)

    def current_match(self) -> Match | None:
        return self._match

    def show_match(self, match: Match, query: QuerySource | None, query_pixmap: QPixmap | None) -> None:
        """Compare ``query`` (the query photo that matched best) with ``match``'s best photo."""
        if query is not self._query:
            self._overlays.clear()
        self._match = match
        self._query = query
        self.banner.hide()
        dog = match.dog
        self.title.setText(dog.display_name)
        band = self.state.band(match.score)
        color = band_color(band)
        self.score_label.setText(f"{format_score(match.score)} · {BAND_TEXT[band]}")
        self.score_label.setStyleSheet(
            f"#ScorePill {{ background: {color.name()}; color: white; border-radius: 10px; padding: 3px 10px;"
            " font-weight: bold; }")
        self._fields["tag"].setText(dog.tag)
        self._fields["status"].setText(dog.status.label)
        self._fields["date"].setText(format_date(dog.date) or "—")
        self._fields["location"].setText(dog.location or "—")
        self._fields["notes"].setText(dog.notes or "—")
        self.photos_model.set_items(dog.photos)
        self.photos_label.setText(
            f"All {len(dog.photos)} photos of this dog (click one to compare with it):"
            if len(dog.photos) > 1 else "This dog has one photo.")
        self.add_button.setEnabled(query is not None)
        self._set_query_pixmap(query, query_pixmap)
        self._show_photo(match.photo)
        self._stack.setCurrentIndex(1)

    def shown_photo(self) -> Photo | None:
        return self._shown_photo

    # ------------------------------------------------------------------ photos
    def _set_query_pixmap(self, query: QuerySource | None, pixmap: QPixmap | None) -> None:
        if pixmap is not None:
            self._query_pixmap = pixmap
            self.query_pane.set_pixmap(pixmap)
        elif query is not None and query.path is not None:
            self.query_pane.set_pixmap(None)
            self.query_pane.set_placeholder("Loading…")
            self._load_into(self.query_pane, str(query.path), lambda: self._query is query,
                            then=self._refresh_heatmap)
        else:
            self.query_pane.set_pixmap(None)
            self.query_pane.set_placeholder("No query photo")
        self.query_caption.setText(f"Your photo: {query.name}" if query is not None else "")

    def _show_photo(self, photo: Photo) -> None:
        self._shown_photo = photo
        row = next((i for i, p in enumerate(self.photos_model.items()) if p.id == photo.id), -1)
        if row >= 0:
            self.photos_strip.setCurrentIndex(self.photos_model.index(row))
        best = self._match is not None and photo.id == self._match.photo.id
        self.match_caption.setText(
            ("Best matching photo: " if best else "Photo: ") + photo.original_name)
        self.match_pane.set_pixmap(None)
        self.match_pane.set_placeholder("Loading…")
        self._load_into(self.match_pane, str(self.state.photo_file(photo)),
                        lambda: self._shown_photo is photo, then=self._refresh_heatmap)

    def _load_into(self, pane: ImagePane, path: str, still_wanted, then=None) -> None:
        """Decode ``path`` for ``pane`` on a background thread (large photos take a moment)."""
        size = round(_VIEW_SIZE * max(1.0, self.devicePixelRatioF()))
        job = Job(read_image, path, size, name="Loading photo")

        def done(image: QImage) -> None:
            if not still_wanted():
                return
            if image.isNull():
                pane.set_placeholder("This photo cannot be shown (the file is missing or damaged).")
                return
            pane.set_pixmap(QPixmap.fromImage(image))
            if then is not None:
                then()

        job.signals.result.connect(done)
        self.state.thumbnails.submit(job)  # the thumbnails' pool: files only, never the registry

    def _photo_clicked(self, index) -> None:
        photo = self.photos_model.item(index.row())
        if isinstance(photo, Photo):
            self._show_photo(photo)

    # ------------------------------------------------------------------ heatmaps
    def _setup_heatmap_controls(self) -> None:
        available = self.state.heatmap_available()
        for widget in (self.heat_toggle, self.opacity, self.opacity_label):
            widget.setVisible(available)
        self.opacity.setEnabled(False)
        self.heat_note.setVisible(not available)
        if not available:
            self.heat_note.setText(
                "Matching-region heatmaps are not available: this installation has no explanation "
                "module (reid_engine.heatmap).")

    def _heat_toggled(self, on: bool) -> None:
        self.opacity.setEnabled(on)
        if on:
            self._refresh_heatmap()
        else:
            self.query_pane.set_overlay(None)
            self.match_pane.set_overlay(None)

    def _opacity_changed(self, value: int) -> None:
        for pane in (self.query_pane, self.match_pane):
            pane.set_opacity(value / 100)

    def _refresh_heatmap(self) -> None:
        if not self.heat_toggle.isChecked() or self._query is None or self._shown_photo is None:
            return
        key = (self._query.name + str(self._query.path), self._shown_photo.id)
        if key in self._overlays:
            self._apply_overlays(self._overlays[key])
            return
        self.heat_note.setText("Working out the matching regions…")
        self.heat_note.show()
        query, photo = self._query, self._shown_photo

        def done(overlays: _Overlays) -> None:
            self._overlays[key] = overlays
            self.heat_note.hide()
            if self._query is query and self._shown_photo is photo and self.heat_toggle.isChecked():
                self._apply_overlays(overlays)

        def failed(exc: BaseException) -> None:
            self.heat_note.hide()
            self.banner.error(f"The heatmap could not be made. {describe_error(exc)}")

        if self._heat_job is not None:
            self._heat_job.cancel()
        self._heat_job = self.state.run(
            lambda _reg: explain_pair(self.state, query, str(self.state.photo_file(photo))),
            name="Explaining the match", needs_model=True, on_result=done, on_error=failed)

    def _apply_overlays(self, overlays: _Overlays) -> None:
        opacity = self.opacity.value() / 100
        for pane, image in ((self.query_pane, overlays.query), (self.match_pane, overlays.match)):
            pane.set_opacity(opacity)
            pane.set_overlay(QPixmap.fromImage(image))
