"""The library grid: one row per dog (``reid_engine.models.Dog``), loaded page by page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from reid_engine.models import Dog

from ..thumbnails import ThumbnailCache, device_pixels as _pixels
from .roles import Roles, format_date


class DogListModel(QAbstractListModel):
    """Adapts ``list[Dog]``. When the last page was full, :meth:`canFetchMore` asks the view's owner
    for the next one through :attr:`more_wanted` (the registry is only read on the engine worker).
    """

    more_wanted = Signal(int)  # offset of the next page

    def __init__(
        self,
        thumbnails: ThumbnailCache,
        photo_file: Callable[[object], Path],
        thumb_size: int = 144,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._dogs: list[Dog] = []
        self._thumbs = thumbnails
        self._photo_file = photo_file
        self.thumb_size = thumb_size
        self.has_more = False
        self._fetching = False
        thumbnails.ready.connect(self._thumbnail_ready)

    # -- contents
    def set_dogs(self, dogs: Sequence[Dog], *, has_more: bool = False) -> None:
        self.beginResetModel()
        self._dogs = list(dogs)
        self.has_more = has_more
        self._fetching = False
        self.endResetModel()

    def append_dogs(self, dogs: Sequence[Dog], *, has_more: bool) -> None:
        known = {d.id for d in self._dogs}
        new = [d for d in dogs if d.id not in known]
        self._fetching = False
        self.has_more = has_more
        if new:
            first = len(self._dogs)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._dogs.extend(new)
            self.endInsertRows()

    def replace_dog(self, dog: Dog) -> None:
        for row, d in enumerate(self._dogs):
            if d.id == dog.id:
                self._dogs[row] = dog
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)
                return

    def remove_dog(self, dog_id: int) -> None:
        for row, d in enumerate(self._dogs):
            if d.id == dog_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._dogs[row]
                self.endRemoveRows()
                return

    def dogs(self) -> list[Dog]:
        return list(self._dogs)

    def dog(self, row: int) -> Dog:
        return self._dogs[row]

    def row_of(self, dog_id: int) -> int:
        for row, d in enumerate(self._dogs):
            if d.id == dog_id:
                return row
        return -1

    # -- Qt API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._dogs)

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        return not parent.isValid() and self.has_more and not self._fetching

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if self.canFetchMore(parent):
            self._fetching = True
            self.more_wanted.emit(len(self._dogs))

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._dogs):
            return None
        dog = self._dogs[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return dog.name or dog.tag
        if role == Qt.ItemDataRole.DecorationRole:
            cover = dog.cover
            if cover is None:
                return None
            return self._thumbs.get(self._photo_file(cover), _pixels(self.thumb_size))
        if role == Roles.ThumbPath:
            return str(self._photo_file(dog.cover)) if dog.cover else None
        if role == Roles.Object:
            return dog
        if role == Roles.Subtitle:
            return f"{dog.tag} · {dog.status.label}" if dog.name else dog.status.label
        if role == Roles.Detail:
            photos = f"{len(dog.photos)} photo" + ("s" if len(dog.photos) != 1 else "")
            when = format_date(dog.date)
            return f"{when} · {photos}" if when else photos
        if role == Roles.Status:
            return dog.status
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"<b>{dog.display_name}</b><br>{dog.status.label}"
                    + (f"<br>{dog.location}" if dog.location else "")
                    + (f"<br>{dog.notes}" if dog.notes else ""))
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{dog.display_name}, {dog.status.label}"
        return None

    def _thumbnail_ready(self, path: str) -> None:
        for row, dog in enumerate(self._dogs):
            if dog.cover is not None and str(self._photo_file(dog.cover)) == path:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
