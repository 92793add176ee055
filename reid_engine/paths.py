"""Where LostPet keeps its files.

All locations come from here: the user data directory (platformdirs), the model cache inside it,
and the bundled resources (through ``importlib.resources``, which also works inside a PyInstaller
bundle). Every API that touches disk also accepts an explicit folder, so tests and scripts never
depend on the user's real data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "LostPet"
APP_AUTHOR = "LostPet"
DATA_DIR_ENV = "LOSTPET_DATA_DIR"


def data_dir(explicit: str | Path | None = None) -> Path:
    """Return (and create) the data directory: explicit > ``$LOSTPET_DATA_DIR`` > platformdirs."""
    if explicit is not None:
        path = Path(explicit)
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV])
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path = path.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Folder for settings shared by the CLI and the app (``$LOSTPET_CONFIG_DIR`` overrides)."""
    env = os.environ.get("LOSTPET_CONFIG_DIR")
    path = Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Folder for converted and downloaded model weights.

    Weights are shared by every registry, so this is the default data directory's ``models/``
    (``$LOSTPET_MODELS_DIR`` overrides), whatever ``--data-dir`` a registry uses.
    """
    env = os.environ.get("LOSTPET_MODELS_DIR")
    path = Path(env) if env else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """The bundled ``resources/`` folder (icons, the re-ID head), in a checkout or a bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


BUNDLED_WEIGHTS = Path("models") / "dinov2_vits14.safetensors"


def bundled_weights_path() -> Path | None:
    """The DINOv2 weights shipped inside the installed app (``resources/models/``), if any.

    Present only in a bundle built where the weights were available (see ``build.spec``); a
    checkout returns ``None`` unless someone put the file there by hand.
    """
    path = resources_dir() / BUNDLED_WEIGHTS
    return path if path.is_file() else None
