"""User settings shared by the CLI and the desktop app, stored as JSON in the config folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .fileio import atomic_write_text
from .paths import config_dir

SETTINGS_FILE = "settings.json"


@dataclass
class Settings:
    """What a user can change. Unknown keys in the file are ignored; missing ones take defaults.

    Attributes:
        data_dir: The registry folder (``None``: the platform's user data folder).
        weights_file: A user-named backbone weights file (``None``: the usual sources).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        likely_threshold: Score (0-1) from which a match reads "likely the same dog".
        possible_threshold: Score from which a match reads "possible"; below, "unlikely".
        auto_crop: Crop to the dog before embedding when it fills little of the frame.
        use_head: Apply the shipped re-ID head when it matches the backbone.
        clip_model: open_clip model name for text guidance.
        clip_weights: A user-named CLIP checkpoint file, or ``None`` (open_clip's download).
    """

    data_dir: str | None = None
    weights_file: str | None = None
    device: str = "auto"
    # Calibrated by bench/bench_calibrate.py on dogs the model never trained on (README): at 0.97
    # about 1 search in 100 shows a wrong dog as "likely"; at 0.95 about 1 in 5 shows one as
    # "possible". DINOv2 class-token similarities are high for any two dogs, hence the high values.
    likely_threshold: float = 0.97
    possible_threshold: float = 0.95
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
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}
        try:
            return cls(**values)
        except TypeError:
            return cls()

    def save(self, path: str | Path | None = None) -> None:
        """Write settings atomically."""
        path = Path(path) if path else config_dir() / SETTINGS_FILE
        atomic_write_text(path, json.dumps(asdict(self), indent=2, sort_keys=True))

    def band(self, score: float) -> str:
        """``"likely"``, ``"possible"`` or ``"unlikely"`` for a match score in [0, 1]."""
        if score >= self.likely_threshold:
            return "likely"
        if score >= self.possible_threshold:
            return "possible"
        return "unlikely"
