"""The results grid: one row per matching dog (``reid_engine.models.Match``), best first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from reid_engine.models import Match

from ..thumbnails import ThumbnailCache, device_pixels as _pixels
from .roles import BAND_TEXT, Roles, format_date, format_score


class MatchListModel(QAbstractListModel):
    """Adapts a ranked ``list[Match]``.

    Args:
        thumbnails: Decodes the thumbnails off the UI thread.
        band: ``band(score) -> "likely" | "possible" | "unlikely"`` (the user's thresholds).
        photo_file: Where a stored photo's file is.
        thumb_size: Thumbnail size in device-independent pixels.
    """

    def __init__(
        self,
        thumbnails: ThumbnailCache,
        band: Callable[[float], str],
        photo_file: Callable[[object], Path],
        thumb_size: int = 160,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._matches: list[Match] = []
        self._thumbs = thumbnails
        self._band = band
        self._photo_file = photo_file
        self.thumb_size = thumb_size
        thumbnails.ready.connect(self._thumbnail_ready)

    # -- contents
    def set_matches(self, matches: Sequence[Match]) -> None:
        self.beginResetModel()
        self._matches = list(matches)
        self.endResetModel()

    def matches(self) -> list[Match]:
        return list(self._matches)

    def match(self, row: int) -> Match:  # type: ignore[override]
        return self._matches[row]

    def clear(self) -> None:
        self.set_matches([])

    def thresholds_changed(self) -> None:
        """The bands depend on the settings: repaint them."""
        if self._matches:
            self.dataChanged.emit(self.index(0), self.index(len(self._matches) - 1))

    # -- Qt API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._matches)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._matches):
            return None
        m = self._matches[index.row()]
        dog = m.dog
        if role == Qt.ItemDataRole.DisplayRole:
            return dog.name or dog.tag
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(self._photo_file(m.photo), _pixels(self.thumb_size))
        if role == Roles.ThumbPath:
            return str(self._photo_file(m.photo))
        if role == Roles.Object:
            return m
        if role == Roles.Score:
            return m.score
        if role == Roles.ScoreText:
            return format_score(m.score)
        if role == Roles.Band:
            return self._band(m.score)
        if role == Roles.BandText:
            return BAND_TEXT[self._band(m.score)]
        if role == Roles.Subtitle:
            return f"{dog.tag} · {dog.status.label}" if dog.name else dog.status.label
        if role == Roles.Detail:
            return format_date(dog.date)
        if role == Roles.Status:
            return dog.status
        if role == Qt.ItemDataRole.ToolTipRole:
            when = format_date(dog.date)
            return (
                f"<b>{dog.display_name}</b><br>{format_score(m.score)} similar — "
                f"{BAND_TEXT[self._band(m.score)].lower()}<br>{dog.status.label}"
                + (f", {when}" if when else "")
                + (f"<br>{dog.location}" if dog.location else "")
            )
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{dog.display_name}, {format_score(m.score)}, {BAND_TEXT[self._band(m.score)]}"
        return None

    def _thumbnail_ready(self, path: str) -> None:
        for row, m in enumerate(self._matches):
            if str(self._photo_file(m.photo)) == path:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
