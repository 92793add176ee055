"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..embedder import DEVICES, Embedder, EmbedderConfig
from ..settings import Settings


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--weights``, ``--device`` and ``--no-head``: which model embeds the photos."""
    g = parser.add_argument_group("model")
    g.add_argument("--weights", metavar="FILE", help="backbone weights file (.safetensors or .pth)")
    g.add_argument("--device", choices=DEVICES, help="compute device (default: settings, else auto)")
    g.add_argument("--no-head", action="store_true", help="do not apply the shipped re-ID head")
    g.add_argument("--no-crop", action="store_true",
                   help="embed whole photos (default: crop to the dog when it fills little of the frame)")


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="registry folder (default: the user data folder)")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def load_embedder(args: argparse.Namespace, settings: Settings | None = None, **config: Any) -> Embedder:
    """Build the embedder from the command line, falling back to the saved settings."""
    settings = settings or Settings.load()
    device = getattr(args, "device", None) or settings.device
    weights = getattr(args, "weights", None) or settings.weights_file
    use_head = settings.use_head and not getattr(args, "no_head", False)
    return Embedder.load(weights, config=EmbedderConfig(device=device, **config), use_head=use_head)


def attach_finder(registry: Any, args: argparse.Namespace, settings: Settings | None = None) -> None:
    """Give the registry the dog finder, unless ``--no-crop`` or the ``auto_crop`` setting is off."""
    from ..crop import default_finder

    settings = settings or Settings.load()
    enabled = settings.auto_crop and not getattr(args, "no_crop", False)
    if registry.embedder is not None:
        registry.set_dog_finder(default_finder(registry.embedder, enabled))


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def progress_bar(total: int, desc: str, *, quiet: bool = False):
    """A tqdm bar on stderr (silent with ``quiet`` or when stderr is not a terminal and JSON is on)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="photo", disable=quiet, file=sys.stderr, dynamic_ncols=True)
