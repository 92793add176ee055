"""Helpers for the desktop app's tests: real drop events and quick registry setup.

(Kept out of ``conftest.py``: several test folders have a conftest, so ``from conftest import``
would pick whichever was imported first.)
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

WAIT_MS = 20_000


def drop_files(widget, paths) -> QDropEvent:
    """Deliver a real drop event carrying file URLs (as a file manager does) to ``widget``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.rect().center())
    from PySide6.QtGui import QDragEnterEvent

    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target refused the drag"
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop


def register_dogs(window, qtbot, photos_by_dog: dict[str, list[Path]]):
    """Register dogs straight through the engine worker (setup for search tests)."""
    from reid_engine.models import DogDetails, DogStatus

    dogs = []

    def work(reg):
        return [reg.register(paths, DogDetails(tag=tag, name=tag.title(), status=DogStatus.FOUND))
                for tag, paths in photos_by_dog.items()]

    with qtbot.waitSignal(window.state.registry_changed, timeout=WAIT_MS):
        window.state.run(work, name="test setup", needs_model=True,
                         on_result=lambda out: (dogs.extend(out), window.state.notify_changed()))
    return dogs
