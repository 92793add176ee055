"""Item data roles shared by the models and the card delegate."""

from __future__ import annotations

import datetime as dt
import enum

from PySide6.QtCore import QDate, QLocale, Qt

BAND_TEXT = {
    "likely": "Likely same dog",
    "possible": "Possible match",
    "unlikely": "Unlikely",
}
BAND_SHORT = {"likely": "Likely", "possible": "Possible", "unlikely": "Unlikely"}  # narrow cards
DATE_FORMAT = "d MMM yyyy"  # "2 Mar 2026": unambiguous whatever the locale's numeric order


class Roles(enum.IntEnum):
    """Custom roles; ``Qt.DisplayRole`` is the title and ``Qt.DecorationRole`` the thumbnail."""

    Object = Qt.ItemDataRole.UserRole + 1  # the engine dataclass (Match, Dog or Photo)
    Score = Qt.ItemDataRole.UserRole + 2  # float in [0, 1], or None
    ScoreText = Qt.ItemDataRole.UserRole + 3  # "87%"
    Band = Qt.ItemDataRole.UserRole + 4  # "likely" / "possible" / "unlikely"
    BandText = Qt.ItemDataRole.UserRole + 5  # "Likely same dog"
    Subtitle = Qt.ItemDataRole.UserRole + 6  # "A-1042 · Lost report"
    Detail = Qt.ItemDataRole.UserRole + 7  # "31 Mar 2026 · 3 photos"
    Status = Qt.ItemDataRole.UserRole + 8  # DogStatus
    ThumbPath = Qt.ItemDataRole.UserRole + 9  # the file the thumbnail is decoded from


def format_date(value: dt.date | None) -> str:
    """A date as people read it here (the system locale's short format); "" when unknown."""
    if value is None:
        return ""
    return QLocale().toString(QDate(value.year, value.month, value.day), DATE_FORMAT)


def format_score(score: float) -> str:
    """A match score (cosine similarity clipped to [0, 1]) as a whole percentage."""
    return f"{round(max(0.0, min(1.0, score)) * 100)}%"
