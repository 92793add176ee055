"""Thumbnails for the grids, decoded off the UI thread and kept in a small memory cache.

Item models ask :meth:`ThumbnailCache.get` while painting: a cached pixmap comes back at once; on a
miss the photo is decoded on a background thread (Qt's ``QImageReader`` scales JPEGs while decoding
and applies the EXIF orientation), and :attr:`ThumbnailCache.ready` tells the models which path to
repaint. Only the stored copies inside the registry are read, never the registry itself, so grids
fill in while the engine worker is busy with a search or an import.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QImageReader, QPixmap

from .workers import BackgroundPool, Job

_MAX_ENTRIES = 1500


def device_pixels(size: int) -> int:
    """``size`` device-independent pixels in physical pixels on the sharpest screen (high-DPI)."""
    app = QGuiApplication.instance()
    ratio = app.devicePixelRatio() if app is not None else 1.0
    return round(size * max(1.0, ratio))


def read_image(path: str | Path, size: int) -> QImage:
    """Decode ``path`` scaled to fit ``size`` x ``size`` (any thread). A null image if unreadable."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    original = reader.size()
    if original.isValid() and size > 0 and max(original.width(), original.height()) > size:
        scaled = original.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio)
        reader.setScaledSize(scaled)
    image = reader.read()
    if not image.isNull() and image.format() != QImage.Format.Format_RGB32:
        image = image.convertToFormat(QImage.Format.Format_RGB32)
    return image


class ThumbnailCache(QObject):
    """Decoded thumbnails by ``(path, size)``; ``ready(path)`` is emitted when one arrives."""

    ready = Signal(str)

    def __init__(self, parent: QObject | None = None, threads: int = 2):
        super().__init__(parent)
        self._pool = BackgroundPool(threads, self)
        self._cache: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()
        self._loading: set[tuple[str, int]] = set()
        self._failed: set[tuple[str, int]] = set()
        self._closed = False

    def get(self, path: str | Path | None, size: int) -> QPixmap | None:
        """The thumbnail if decoded; otherwise ``None`` and a decode is started (UI thread)."""
        if not path or self._closed:
            return None
        key = (str(path), int(size))
        pixmap = self._cache.get(key)
        if pixmap is not None:
            self._cache.move_to_end(key)
            return pixmap
        if key not in self._loading and key not in self._failed:
            self._loading.add(key)
            job = Job(read_image, key[0], key[1], name="Loading thumbnails")
            job.signals.result.connect(lambda image, key=key: self._decoded(key, image))
            job.signals.error.connect(lambda _exc, key=key: self._decoded(key, QImage()))
            self._pool.submit(job)
        return None

    def submit(self, job: Job) -> Job:
        """Run other file-decoding work (a large photo for a pane) on the same small pool."""
        if self._closed:
            return job  # closing: never started
        return self._pool.submit(job)

    def pending(self) -> int:
        """Thumbnails being decoded (tests wait for 0)."""
        return len(self._loading)

    def invalidate(self, path: str | Path) -> None:
        for key in [k for k in self._cache if k[0] == str(path)]:
            del self._cache[key]
        self._failed = {k for k in self._failed if k[0] != str(path)}

    def shutdown(self, timeout_s: float = 30.0) -> None:
        self._closed = True
        self._pool.shutdown(timeout_s)

    def _decoded(self, key: tuple[str, int], image: QImage) -> None:
        self._loading.discard(key)
        if image.isNull():
            self._failed.add(key)
        else:
            self._cache[key] = QPixmap.fromImage(image)
            while len(self._cache) > _MAX_ENTRIES:
                self._cache.popitem(last=False)
        self.ready.emit(key[0])
