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


CROP_BY = ("auto", "user")


@dataclass(frozen=True)
class Crop:
    """The part of a photo that was embedded: a box in fractions of the photo's width and height.

    Fractions, not pixels, so that one box fits the photo at any decoded size (the registry decodes
    big JPEGs at reduced size). The stored photo itself is never cropped.

    Attributes:
        left, top, right, bottom: Box edges in [0, 1], ``left < right``, ``top < bottom``.
        by: ``"auto"`` (the dog finder chose it) or ``"user"`` (drawn or adjusted by a person).
    """

    left: float
    top: float
    right: float
    bottom: float
    by: str = "auto"

    def __post_init__(self) -> None:
        edges = (self.left, self.top, self.right, self.bottom)
        if not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in edges):
            raise InvalidInputError(f"A crop box needs edges between 0 and 1 (fractions of the photo), got {edges}.")
        if self.right - self.left < 0.01 or self.bottom - self.top < 0.01:
            raise InvalidInputError("The crop box is too small: draw a box around the dog.")
        if self.by not in CROP_BY:
            raise InvalidInputError(f"Unknown crop origin {self.by!r}: use one of {', '.join(CROP_BY)}.")

    @classmethod
    def from_pixels(cls, box: tuple[float, float, float, float], size: tuple[int, int], by: str = "auto") -> Crop:
        """From ``(left, top, right, bottom)`` pixels of a photo of ``size`` (clipped to it)."""
        w, h = max(1, size[0]), max(1, size[1])
        l, t, r, b = box
        return cls(
            min(max(l / w, 0.0), 1.0), min(max(t / h, 0.0), 1.0),
            min(max(r / w, 0.0), 1.0), min(max(b / h, 0.0), 1.0), by,
        )

    def pixels(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` in pixels of a photo of ``size``, at least 1 pixel wide."""
        w, h = size
        l, t = int(round(self.left * w)), int(round(self.top * h))
        r, b = max(l + 1, int(round(self.right * w))), max(t + 1, int(round(self.bottom * h)))
        return l, t, min(r, w), min(b, h)

    def apply(self, image):  # PIL.Image.Image -> PIL.Image.Image (Pillow is not imported here)
        """The cropped photo."""
        return image.crop(self.pixels(image.size))

    @property
    def area(self) -> float:
        """Fraction of the photo inside the box."""
        return (self.right - self.left) * (self.bottom - self.top)

    def describe(self) -> str:
        """Short text for people: ``"cropped automatically to 31% of the photo"``."""
        how = "automatically" if self.by == "auto" else "by hand"
        return f"cropped {how} to {self.area:.0%} of the photo"


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
        crop: The part embedded (the dog), or ``None`` for the whole photo.
    """

    id: int
    dog_id: int
    sha256: str
    path: Path
    original_name: str
    width: int
    height: int
    added_at: dt.datetime
    crop: Crop | None = None


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
