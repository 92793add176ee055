"""User settings shared by the CLI and the desktop app, stored as JSON in the config folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .fileio import atomic_write_text
from .paths import config_dir

SETTINGS_FILE = "settings.json"
SETTINGS_FORMAT = 2

ZERO_SHOT_BANDS = (0.97, 0.95)
"""``(likely, possible)`` for the DINOv2 backbone without a head, calibrated by
``bench/bench_calibrate.py --no-head`` on dogs never trained on: at 0.97 about 1 search in 100
shows a wrong dog as "likely"; at 0.95 about 1 in 5 shows one as "possible". Class-token
similarities are high for any two dogs, hence the high values. With the shipped head the bands
are the head's own (:attr:`reid_engine.embedder.Embedder.bands`)."""


@dataclass
class Settings:
    """What a user can change. Unknown keys in the file are ignored; missing ones take defaults.

    Attributes:
        data_dir: The registry folder (``None``: the platform's user data folder).
        weights_file: A user-named backbone weights file (``None``: the usual sources).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        likely_threshold: Score (0-1) from which a match reads "likely the same dog"; ``None``
            (the default): the value calibrated for the model in use (:attr:`Embedder.bands`).
        possible_threshold: Score from which a match reads "possible"; below, "unlikely";
            ``None``: calibrated, as above.
        auto_crop: Crop to the dog before embedding when it fills little of the frame.
        use_head: Apply the shipped re-ID head when it matches the backbone.
        clip_model: open_clip model name for text guidance.
        clip_weights: A user-named CLIP checkpoint file, or ``None`` (open_clip's download).
    """

    data_dir: str | None = None
    weights_file: str | None = None
    device: str = "auto"
    likely_threshold: float | None = None
    possible_threshold: float | None = None
    auto_crop: bool = True
    use_head: bool = True
    clip_model: str = "ViT-B-16"
    clip_weights: str | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Settings:
        """Read settings; a missing or unreadable file gives the defaults (never an error)."""
        path = Path(path) if path else config_dir() / SETTINGS_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(raw, dict):
            return cls()
        defaults = cls()
        values = {f.name: raw[f.name] for f in fields(cls) if f.name in raw and _valid(defaults, f.name, raw[f.name])}
        if raw.get("format", 1) == 1:
            # Format 1 saved the then-fixed bands even when the user never changed them; they were
            # the zero-shot backbone's, and would be wrong with the head: use the calibrated ones.
            if (values.get("likely_threshold"), values.get("possible_threshold")) == ZERO_SHOT_BANDS:
                values.pop("likely_threshold")
                values.pop("possible_threshold")
        return cls(**values)

    def save(self, path: str | Path | None = None) -> None:
        """Write settings atomically."""
        path = Path(path) if path else config_dir() / SETTINGS_FILE
        atomic_write_text(path, json.dumps({**asdict(self), "format": SETTINGS_FORMAT}, indent=2, sort_keys=True))

    def thresholds(self, calibrated: tuple[float, float] | None = None) -> tuple[float, float]:
        """``(likely, possible)`` in use: the user's own values, else the model's ``calibrated`` ones
        (else :data:`ZERO_SHOT_BANDS`)."""
        likely, possible = calibrated or ZERO_SHOT_BANDS
        return (likely if self.likely_threshold is None else self.likely_threshold,
                possible if self.possible_threshold is None else self.possible_threshold)

    def band(self, score: float, calibrated: tuple[float, float] | None = None) -> str:
        """``"likely"``, ``"possible"`` or ``"unlikely"`` for a match score in [0, 1]."""
        likely, possible = self.thresholds(calibrated)
        if score >= likely:
            return "likely"
        if score >= possible:
            return "possible"
        return "unlikely"


def _valid(defaults: Settings, name: str, value: object) -> bool:
    """Whether a value read from the settings file fits the field (a bad one falls back to its default)."""
    if name in ("likely_threshold", "possible_threshold"):
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1)
    default = getattr(defaults, name)
    if default is None:
        return value is None or isinstance(value, str)
    return type(value) is type(default)
