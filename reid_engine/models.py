"""The plain dataclasses the engine speaks: dogs, photos, matches, progress, summaries.

The CLI prints them, the desktop app's Qt models adapt them; neither reaches into the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .errors import InvalidInputError


class DogStatus(str, Enum):
    """Where a dog's case stands."""

    IN_SHELTER = "in_shelter"
    LOST = "lost"
    FOUND = "found"
    REUNITED = "reunited"
    ADOPTED = "adopted"

    @property
    def label(self) -> str:
        """Text for people: ``"Lost report"``."""
        return _STATUS_LABELS[self]

    @classmethod
    def parse(cls, text: str | DogStatus) -> DogStatus:
        """Accept ``"lost"``, ``"Lost report"``, ``"in-shelter"``, ... ; raise a clear error otherwise."""
        if isinstance(text, DogStatus):
            return text
        key = str(text).strip().lower().replace("-", "_").replace(" ", "_")
        for status in cls:
            if key in (status.value, status.label.lower().replace(" ", "_")):
                return status
        aliases = {"lost_report": cls.LOST, "shelter": cls.IN_SHELTER, "intake": cls.IN_SHELTER}
        if key in aliases:
            return aliases[key]
        choices = ", ".join(s.value for s in cls)
        raise InvalidInputError(f"Unknown status {text!r}: use one of {choices}.")


_STATUS_LABELS = {
    DogStatus.IN_SHELTER: "In shelter",
    DogStatus.LOST: "Lost report",
    DogStatus.FOUND: "Found",
    DogStatus.REUNITED: "Reunited",
    DogStatus.ADOPTED: "Adopted",
}


def parse_date(text: str | dt.date | None) -> dt.date | None:
    """``YYYY-MM-DD`` (or a date) -> date; empty -> None; anything else -> a clear error."""
    if text is None or isinstance(text, dt.date):
        return text
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"Cannot read the date {text!r}: write it as YYYY-MM-DD, e.g. 2026-03-31.") from None


@dataclass(frozen=True)
class Photo:
    """A stored photo of a dog.

    Attributes:
        id: Photo id (also its key in the search index).
        dog_id: The dog it shows.
        sha256: Hash of the file's bytes; the stored copy is named after it.
        path: The stored copy inside the data directory (the user's file is never touched).
        original_name: The file name it was registered from.
        width, height: Pixel size after EXIF orientation.
        added_at: When it was registered (UTC).
    """

    id: int
    dog_id: int
    sha256: str
    path: Path
    original_name: str
    width: int
    height: int
    added_at: dt.datetime


@dataclass(frozen=True)
class Dog:
    """A dog in the registry, with its photos (oldest first)."""

    id: int
    tag: str
    name: str | None
    status: DogStatus
    date: dt.date | None
    location: str
    notes: str
    created_at: dt.datetime
    updated_at: dt.datetime
    photos: tuple[Photo, ...] = ()

    @property
    def display_name(self) -> str:
        """``"Bella (A-1042)"`` or just the tag."""
        return f"{self.name} ({self.tag})" if self.name else self.tag

    @property
    def cover(self) -> Photo | None:
        """The photo that stands for the dog in lists (the first registered)."""
        return self.photos[0] if self.photos else None


@dataclass(frozen=True)
class DogDetails:
    """What a person fills in when registering or editing a dog. ``None`` means "leave as is"
    when editing; when registering, a missing tag gets a generated one (``LP-000042``)."""

    tag: str | None = None
    name: str | None = None
    status: DogStatus | None = None
    date: dt.date | None = None
    location: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Match:
    """One ranked search result: a dog (not a photo), with the photo that matched best.

    Attributes:
        dog: The matching dog and its details.
        score: Similarity in [0, 1] (cosine similarity clipped at 0); higher is more alike.
        photo: The dog's photo that matched best.
        query_index: Which query photo matched it best (several query photos may be combined).
        rank: 1 for the best match.
    """

    dog: Dog
    score: float
    photo: Photo
    query_index: int = 0
    rank: int = 0


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to some statuses and/or a date range (inclusive)."""

    statuses: tuple[DogStatus, ...] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass(frozen=True)
class Progress:
    """A step of long work: ``done`` of ``total`` items, the current one, and a note."""

    done: int
    total: int
    item: str = ""
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass
class ImportSummary:
    """The outcome of a batch import.

    Attributes:
        imported: Photos newly stored.
        skipped: Photos already present (same bytes), with the dog they belong to.
        failed: ``(path, reason)`` for each photo that could not be read.
        dogs_created: New dogs made by this import.
        cancelled: True if the user stopped it; what was done so far is kept.
        seconds: Wall time.
    """

    imported: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    dogs_created: int = 0
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.imported) + len(self.skipped) + len(self.failed)
