"""What the SSL refresh and the re-ID head trainer share: the backbone, pooling, checkpoints, splits.

The trainer imports the engine (never the reverse): the backbone comes from
:mod:`reid_engine.weights`, photos are decoded by :mod:`reid_engine.images`, and the preprocessing
of cached features is the :class:`~reid_engine.embedder.Embedder`'s own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from reid_engine.embedder import POOLINGS, Embedder, EmbedderConfig, pick_device
from reid_engine.errors import ReidError
from reid_engine.fileio import atomic_write_bytes, atomic_write_text

MAX_LOADER_WORKERS = 6
RANDOM_INITS = ("tiny", "vits14")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class TrainingError(ReidError):
    """A training run cannot start or go on; the message says what to do."""


# --------------------------------------------------------------------------- backbone


@dataclass
class Backbone:
    """A timm ViT backbone and where its weights came from.

    Attributes:
        model: The timm model (train/eval mode is the caller's business).
        sha256: sha256 of the weights file, or the random-init stand-in the engine uses.
        model_name: The engine's model name (``dinov2_vits14`` or ``random-...``).
        resolved: The engine's :class:`~reid_engine.weights.ResolvedWeights`, ``None`` for random init.
    """

    model: torch.nn.Module
    sha256: str
    model_name: str
    resolved: Any = None

    @property
    def image_size(self) -> int:
        return int(self.model.patch_embed.img_size[0])

    @property
    def embed_dim(self) -> int:
        return int(self.model.embed_dim)

    def data_config(self) -> dict:
        import timm.data

        return timm.data.resolve_model_data_config(self.model)

    def embedder(self, pooling: str | None = None, device: str = "cpu") -> Embedder:
        """An engine :class:`Embedder` around this backbone (no head), with the app's preprocessing."""
        config = EmbedderConfig(pooling=pooling or EmbedderConfig().pooling, device=device)
        return Embedder(self.model, weights=self.resolved, config=config, model_name=self.model_name)


def load_backbone(
    weights: str | Path | None = None, *, random_init: str | None = None, img_size: int = 224, seed: int = 0
) -> Backbone:
    """The DINOv2 ViT-S/14 backbone from the engine's weights module, or a random one for tests.

    Args:
        weights: A weights file; ``None`` resolves the engine's usual sources (never downloads).
        random_init: ``"tiny"`` (the engine's 56 px, 2-block test model) or ``"vits14"`` (full
            size, random, at ``img_size``) instead of real weights.
        img_size: Input size of the real or ``vits14`` backbone.
        seed: Seed of a random init.
    """
    from reid_engine import weights as weights_mod

    if random_init == "tiny":
        emb = Embedder.random_init(tiny=True, seed=seed)
        return Backbone(emb.model.cpu(), emb.weights_sha256, emb.model_name)
    if random_init == "vits14":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = weights_mod.build_backbone(None, img_size=img_size)
        name = f"random-vits14-{img_size}-seed{seed}"
        return Backbone(model, name, name)
    if random_init is not None:
        raise TrainingError(f"Unknown random init {random_init!r}: choose one of {', '.join(RANDOM_INITS)}.")
    resolved = weights_mod.resolve_weights(weights)
    model = weights_mod.build_backbone(resolved, img_size=img_size)
    return Backbone(model, resolved.sha256, "dinov2_vits14", resolved)


def add_backbone_options(parser: argparse.ArgumentParser) -> None:
    """``--weights``, ``--random-init``, ``--device``, ``--seed``: shared by both trainers."""
    g = parser.add_argument_group("backbone")
    g.add_argument("--weights", metavar="FILE",
                   help="backbone weights file (default: the engine's usual sources, as the app finds them)")
    g.add_argument("--random-init", choices=RANDOM_INITS,
                   help="random backbone instead of real weights (tests, smoke runs)")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")


def apply_threads(threads: int | None) -> None:
    """``--threads``: small matrices on a busy CPU run faster on one thread than on several."""
    if threads:
        torch.set_num_threads(max(1, threads))


def pool_tokens(tokens: torch.Tensor, pooling: str, num_prefix_tokens: int = 1) -> torch.Tensor:
    """The pooled vector of ``forward_features`` output, as the engine pools it (not normalised).

    ``cls+mean`` is the normalised class token plus the normalised mean patch token.
    """
    cls_tok = tokens[:, 0]
    patch = tokens[:, num_prefix_tokens:]
    if pooling == "cls":
        return cls_tok
    if pooling == "mean":
        return patch.mean(dim=1)
    if pooling == "cls+mean":
        return F.normalize(cls_tok, dim=-1) + F.normalize(patch.mean(dim=1), dim=-1)
    raise TrainingError(f"Unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}.")


def pool_features(cls_feat: np.ndarray, mean_feat: np.ndarray, pooling: str) -> np.ndarray:
    """:func:`pool_tokens` on cached class and mean-patch features, L2-normalised (numpy)."""

    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    if pooling == "cls":
        v = cls_feat
    elif pooling == "mean":
        v = mean_feat
    elif pooling == "cls+mean":
        v = unit(cls_feat) + unit(mean_feat)
    else:
        raise TrainingError(f"Unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}.")
    return unit(v.astype(np.float32))


def forward_tokens(model: torch.nn.Module, x: torch.Tensor, n_frozen_blocks: int = 0) -> torch.Tensor:
    """``model.forward_features(x)``, running the first ``n_frozen_blocks`` blocks without autograd.

    With only the last blocks trainable, nothing before them needs a graph: this is what makes a
    partial refresh affordable on a CPU.
    """
    if n_frozen_blocks <= 0:
        return model.forward_features(x)
    with torch.no_grad():
        h = model.patch_embed(x)
        h = model._pos_embed(h)
        h = model.patch_drop(h)
        h = model.norm_pre(h)
        for block in model.blocks[:n_frozen_blocks]:
            h = block(h)
    h = h.detach()
    for block in model.blocks[n_frozen_blocks:]:
        h = block(h)
    return model.norm(h)


# --------------------------------------------------------------------------- runtime


def resolve_device(name: str) -> str:
    try:
        return pick_device(name)
    except ReidError as exc:
        raise TrainingError(str(exc)) from exc


def loader_workers(requested: int | None = None) -> int:
    """DataLoader workers: at most 6, and at most this machine's cores (or ``requested``)."""
    cap = min(MAX_LOADER_WORKERS, os.cpu_count() or 1)
    return cap if requested is None else max(0, min(requested, cap))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def progress_bar(total: int | None, desc: str, unit: str = "step", *, quiet: bool = False, initial: int = 0):
    """A tqdm bar on stderr."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=quiet, file=sys.stderr,
                dynamic_ncols=True)


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, state: dict) -> None:
    """``torch.save`` to a temp file beside ``path``, then ``os.replace``: never a half checkpoint."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except FileNotFoundError as exc:
        raise TrainingError(f"No checkpoint at {path}: start without --resume, or give the run's folder.") from exc
    except Exception as exc:  # noqa: BLE001 - zip, pickle and EOF errors have no common base
        raise TrainingError(f"The checkpoint {path} is damaged ({type(exc).__name__}: {exc}).") from exc


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- identities


def identity_bucket(label: str, modulo: int) -> int:
    """``int(label) % modulo`` for numeric dog ids (DogFaceNet), else a stable hash bucket."""
    try:
        return int(label) % modulo
    except ValueError:
        return zlib.crc32(label.encode("utf-8")) % modulo


def holdout_mask(labels: Sequence[str], modulo: int, remainder: int) -> np.ndarray:
    """True for photos of held-out dogs (``identity_bucket == remainder``); none when ``modulo`` is 0."""
    if modulo <= 0:
        return np.zeros(len(labels), dtype=bool)
    return np.array([identity_bucket(lab, modulo) == remainder for lab in labels], dtype=bool)


def add_holdout_options(parser: argparse.ArgumentParser, *, default_modulo: int = 5) -> None:
    parser.add_argument("--holdout-mod", type=int, default=default_modulo, metavar="M",
                        help=f"hold out dogs whose id %% M == R (default M={default_modulo}; 0: none)")
    parser.add_argument("--holdout-rem", type=int, default=2, metavar="R", help="see --holdout-mod (default 2)")
