"""Backbone features of a photo set, computed once and cached on disk.

Training a head on a frozen backbone needs the backbone only once per photo: the class token and
the mean patch token of every photo (and, with ``flip``, of its mirror image) are stored in a
``.npz`` under the cache folder, keyed by the backbone's weights sha256, the preprocessing and the
list of files (with their sizes and times). Every pooling is rebuilt from those two vectors
(:func:`training.common.pool_features`), so choosing a pooling costs nothing.

Photos are prepared by the engine's own :class:`~reid_engine.embedder.Embedder` (decode, square
fit, normalisation), so the features are exactly what the app would compute.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reid_engine.embedder import Embedder
from reid_engine.errors import ImageLoadError
from reid_engine.evaluation import LabelledPhotos, scan_labelled
from reid_engine.fileio import atomic_writer

from .common import progress_bar

CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    """``$LOSTPET_TRAIN_CACHE``, else the platform's user cache folder (never the repository)."""
    env = os.environ.get("LOSTPET_TRAIN_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("LostPet", "LostPet")) / "features"


@dataclass
class FeatureSet:
    """Cached features of labelled photos; rows follow ``paths``.

    Attributes:
        paths: Photo paths relative to ``root``.
        labels: Dog id of each photo.
        cls: (n, d) class tokens; ``cls_flip`` the same for mirrored photos (or ``None``).
        mean: (n, d) mean patch tokens; ``mean_flip`` likewise.
        ok: False for photos that could not be read (their rows are zeros).
        seconds: Time it took to compute (0 when read from the cache).
    """

    root: Path
    paths: list[str]
    labels: np.ndarray
    cls: np.ndarray
    mean: np.ndarray
    ok: np.ndarray
    cls_flip: np.ndarray | None = None
    mean_flip: np.ndarray | None = None
    seconds: float = 0.0
    meta: dict | None = None

    def subset(self, mask: np.ndarray) -> FeatureSet:
        mask = np.asarray(mask, dtype=bool) & self.ok
        pick = np.flatnonzero(mask)
        return FeatureSet(
            self.root, [self.paths[i] for i in pick], self.labels[pick], self.cls[pick], self.mean[pick],
            self.ok[pick], None if self.cls_flip is None else self.cls_flip[pick],
            None if self.mean_flip is None else self.mean_flip[pick], self.seconds, self.meta,
        )

    def __len__(self) -> int:
        return len(self.paths)


def extract(
    embedder: Embedder, paths: Sequence[str | Path], *, flip: bool = False, batch_size: int = 32,
    quiet: bool = False, desc: str = "features",
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class and mean-patch tokens of each photo: ``({"cls", "mean"[, "cls_flip", "mean_flip"]}, ok)``."""
    n = len(paths)
    dim = embedder.token_dim
    keys = ("cls", "mean", "cls_flip", "mean_flip") if flip else ("cls", "mean")
    out = {k: np.zeros((n, dim), np.float32) for k in keys}
    ok = np.zeros(n, dtype=bool)
    mean_t = torch.tensor(embedder.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(embedder.std).view(1, 3, 1, 1)
    model = embedder.model
    prefix = embedder.num_prefix_tokens

    def decode(i: int):
        try:
            return i, embedder.preprocess(embedder.load_photo(paths[i]))
        except ImageLoadError:
            return i, None

    bar = progress_bar(n, desc, unit="photo", quiet=quiet)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool, torch.inference_mode():
        for start in range(0, n, batch_size):
            done = [r for r in pool.map(decode, range(start, min(n, start + batch_size))) if r[1] is not None]
            bar.update(min(n, start + batch_size) - start)
            if not done:
                continue
            idx = np.array([i for i, _ in done])
            x = (torch.from_numpy(np.stack([a for _, a in done])) - mean_t) / std_t
            views = [("", x)] + ([("_flip", torch.flip(x, dims=[3]))] if flip else [])
            for suffix, batch in views:
                tokens = model.forward_features(batch.to(embedder.device)).float().cpu()
                out["cls" + suffix][idx] = tokens[:, 0].numpy()
                out["mean" + suffix][idx] = tokens[:, prefix:].mean(1).numpy()
            ok[idx] = True
    bar.close()
    return out, ok


def cache_file(
    embedder: Embedder, root: Path, paths: Sequence[Path], *, flip: bool, cache_dir: str | Path | None = None
) -> Path:
    """Where the features of ``paths`` (under ``root``) are cached for this embedder's preprocessing."""
    key = hashlib.sha256()
    for part in (CACHE_VERSION, embedder.weights_sha256, embedder.model_name, str(embedder.image_size),
                 embedder.config.square, str(flip)):
        key.update(part.encode() + b"\0")
    for p in paths:
        st = p.stat()
        key.update(f"{p.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / embedder.weights_sha256[:16] / f"{root.name}-{key.hexdigest()[:16]}.npz"


def cached_features(
    embedder: Embedder, root: str | Path, *, cache_dir: str | Path | None = None, flip: bool = False,
    quiet: bool = False, keep: Callable[[str], bool] | None = None,
) -> FeatureSet:
    """Features of every photo under ``root`` (labelled as :func:`reid_engine.evaluation.scan_labelled`).

    Computed once per (weights, preprocessing, file list) and then read from the cache.

    Args:
        keep: Only photos of the dogs for which ``keep(label)`` is true (e.g. the held-out dogs).
    """
    root = Path(root)
    photos = scan_labelled(root)
    if keep is not None:
        chosen = [i for i, lab in enumerate(photos.labels) if keep(lab)]
        photos = LabelledPhotos(tuple(photos.paths[i] for i in chosen), tuple(photos.labels[i] for i in chosen))
    rel = [p.relative_to(root).as_posix() for p in photos.paths]
    file = cache_file(embedder, root, photos.paths, flip=flip, cache_dir=cache_dir)
    labels = np.array(photos.labels)
    if file.is_file():
        with np.load(file, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return FeatureSet(root, rel, labels, z["cls"], z["mean"], z["ok"], z["cls_flip"] if flip else None,
                              z["mean_flip"] if flip else None, 0.0, meta)
    t0 = time.perf_counter()
    feats, ok = extract(embedder, photos.paths, flip=flip, quiet=quiet, desc=f"features {root.name}")
    seconds = time.perf_counter() - t0
    meta = {"root": str(root), "weights_sha256": embedder.weights_sha256, "model": embedder.model_name,
            "square": embedder.config.square, "image_size": embedder.image_size, "flip": flip,
            "n": len(rel), "seconds": round(seconds, 2), "photos_per_s": round(len(rel) / max(seconds, 1e-9), 3)}
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(file) as f:
        np.savez(f, meta=np.array(json.dumps(meta)), ok=ok, **feats)
    return FeatureSet(root, rel, labels, feats["cls"], feats["mean"], ok, feats.get("cls_flip"),
                      feats.get("mean_flip"), seconds, meta)
