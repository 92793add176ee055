"""Photo strips: a dog's stored photos, or the photos a person is about to register."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QPixmap

from ..thumbnails import ThumbnailCache, device_pixels as _pixels
from .roles import Roles


class PhotoListModel(QAbstractListModel):
    """Adapts a list of items that each have a file: stored ``Photo`` objects (``photo_file`` maps
    them to their file) or :class:`~lostpet_desktop.state.QuerySource` (pasted ones carry a pixmap).
    """

    def __init__(
        self,
        thumbnails: ThumbnailCache,
        photo_file: Callable[[object], Path | None],
        thumb_size: int = 96,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._items: list[object] = []
        self._pixmaps: dict[int, QPixmap] = {}
        self._thumbs = thumbnails
        self._photo_file = photo_file
        self.thumb_size = thumb_size
        thumbnails.ready.connect(self._thumbnail_ready)

    def set_items(self, items: Sequence[object], pixmaps: dict[int, QPixmap] | None = None) -> None:
        """Show ``items``; ``pixmaps`` gives ready pictures by row (pasted images have no file)."""
        self.beginResetModel()
        self._items = list(items)
        self._pixmaps = dict(pixmaps or {})
        self.endResetModel()

    def items(self) -> list[object]:
        return list(self._items)

    def item(self, row: int) -> object:
        return self._items[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            if index.row() in self._pixmaps:
                return self._pixmaps[index.row()]
            path = self._photo_file(item)
            return self._thumbs.get(path, _pixels(self.thumb_size)) if path else None
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.DisplayRole):
            return getattr(item, "original_name", None) or getattr(item, "name", "") or ""
        if role == Roles.Object:
            return item
        return None

    def _thumbnail_ready(self, path: str) -> None:
        for row, item in enumerate(self._items):
            p = self._photo_file(item)
            if p is not None and str(p) == path:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
