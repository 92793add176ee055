"""Photo sources for training and the two-view augmentation of the SSL refresh.

A source is a sequence of photos that decode to RGB PIL images: a local folder (recursive, labels
ignored unless a hold-out is asked for) or a Hugging Face dataset (``maurice-fp/stanford-dogs``,
needs internet the first time). Augmentations are seeded per (run seed, epoch, photo, view), so a
resumed run sees exactly the views the uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from reid_engine.errors import ImageLoadError
from reid_engine.evaluation import label_from_path
from reid_engine.images import iter_image_files, load_image, load_image_bytes

from .common import TrainingError, holdout_mask

log = logging.getLogger(__name__)

HF_STANFORD_DOGS = "maurice-fp/stanford-dogs"


class PhotoSource:
    """A sequence of photos; ``load(i)`` gives an RGB image or raises :class:`ImageLoadError`.

    Both sources decode through :mod:`reid_engine.images`, so palette, RGBA, CMYK and 16-bit photos
    all arrive as RGB (transparency on white), exactly as the app sees them.
    """

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def load(self, index: int, min_side: int | None = None) -> Image.Image:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover
        raise NotImplementedError


class FolderPhotos(PhotoSource):
    """Every photo under a folder, recursively, decoded by the engine (EXIF, RGB, size limits)."""

    def __init__(self, root: str | Path, *, holdout_mod: int = 0, holdout_rem: int = 0):
        self.root = Path(root)
        if not self.root.is_dir():
            raise TrainingError(f"{self.root} is not a folder: give a folder of photos with --images.")
        paths = list(iter_image_files(self.root, recursive=True))
        held_out = 0
        if holdout_mod > 0:
            mask = holdout_mask([label_from_path(p, self.root) for p in paths], holdout_mod, holdout_rem)
            held_out = int(mask.sum())
            paths = [p for p, out in zip(paths, mask) if not out]
        if not paths:
            raise TrainingError(f"No photos found under {self.root}.")
        self.paths = paths
        self.held_out = held_out

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int, min_side: int | None = None) -> Image.Image:
        return load_image(self.paths[index], min_side=min_side)

    def name(self, index: int) -> str:
        return str(self.paths[index])

    def describe(self) -> str:
        extra = f", {self.held_out} held-out photos left out" if self.held_out else ""
        return f"{len(self)} photos under {self.root}{extra}"


class HFPhotos(PhotoSource):
    """The photos of a Hugging Face dataset split (its first image column)."""

    def __init__(self, name: str, split: str = "train"):
        try:
            import datasets
        except ImportError as exc:
            raise TrainingError("The `datasets` package is not installed: `pip install datasets`, "
                                "or train on a local folder with --images DIR.") from exc
        try:
            ds = datasets.load_dataset(name, split=split)
        except Exception as exc:  # noqa: BLE001 - offline, missing split and auth errors alike
            raise TrainingError(
                f"Cannot load the Hugging Face dataset {name!r} (split {split!r}): "
                f"{type(exc).__name__}: {exc}. It is downloaded on first use, which needs internet; "
                "without internet, train on a local folder of photos with --images DIR."
            ) from exc
        columns = [k for k, v in ds.features.items() if isinstance(v, datasets.Image)]
        if not columns:
            raise TrainingError(f"The dataset {name!r} has no image column (columns: {', '.join(ds.features)}).")
        self.column = columns[0]
        # Undecoded bytes: every photo then goes through the engine's own decoder (EXIF, RGB, limits).
        self.dataset = ds.cast_column(self.column, datasets.Image(decode=False))
        self.title = f"{name} [{split}]"

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int, min_side: int | None = None) -> Image.Image:
        record = self.dataset[int(index)][self.column]
        data = record.get("bytes")
        if data is None and record.get("path"):
            return load_image(record["path"], min_side=min_side)
        if data is None:
            raise ImageLoadError(self.name(index), "the dataset record holds no image")
        return load_image_bytes(data, self.name(index), min_side=min_side)

    def name(self, index: int) -> str:
        return f"{self.title}#{index}"

    def describe(self) -> str:
        return f"{len(self)} photos from {self.title}"


def ssl_transform(
    image_size: int, mean: Sequence[float], std: Sequence[float], crop_scale: float = 0.25, jitter: float = 0.4
):
    """RandomResizedCrop, horizontal flip, colour jitter (``jitter``: brightness, contrast and
    saturation strength, hue ``jitter / 8``, applied to 80 % of views; 0 turns it off), then the
    model's normalisation. No grayscale: a dog's coat colour is part of who it is."""
    from torchvision import transforms as T

    steps = [
        T.RandomResizedCrop(image_size, scale=(crop_scale, 1.0),
                            interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.RandomHorizontalFlip(),
    ]
    if jitter > 0:
        steps.append(T.RandomApply([T.ColorJitter(jitter, jitter, jitter, min(0.5, jitter / 8))], p=0.8))
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


class TwoViews(torch.utils.data.Dataset):
    """Two augmented views of each photo; unreadable photos give ``None`` (skipped by :func:`collate_views`)."""

    def __init__(self, source: PhotoSource, transform, image_size: int, seed: int = 0):
        self.source = source
        self.transform = transform
        self.image_size = image_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        try:
            image = self.source.load(index, min_side=self.image_size)
        except ImageLoadError as exc:
            return None, str(exc)
        views = []
        for view in (0, 1):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(hash((self.seed, self.epoch, int(index), view)) & 0x7FFF_FFFF_FFFF)
                views.append(self.transform(image))
        return (views[0], views[1]), None


def collate_views(items):
    """Stack the readable pairs: ``(view1 (B,3,S,S), view2, [errors])``."""
    pairs = [pair for pair, _ in items if pair is not None]
    errors = [err for _, err in items if err is not None]
    if not pairs:
        return None, None, errors
    return torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs]), errors


class EpochBatches(torch.utils.data.Sampler):
    """Batches of a seeded per-epoch permutation, starting at batch ``start`` (mid-epoch resume)."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start: int = 0):
        self.n, self.batch_size, self.seed, self.epoch, self.start = n, batch_size, seed, epoch, start

    @staticmethod
    def count(n: int, batch_size: int) -> int:
        """Full batches per epoch (at least one: a tiny set is one smaller batch)."""
        return max(1, n // batch_size)

    def batches(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        size = min(self.batch_size, self.n)
        return [order[i * size:(i + 1) * size] for i in range(self.count(self.n, self.batch_size))]

    def __iter__(self):
        yield from self.batches()[self.start:]

    def __len__(self) -> int:
        return max(0, self.count(self.n, self.batch_size) - self.start)
