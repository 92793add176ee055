"""Photo -> embedding: the DINOv2 backbone, batched, on the best local device.

An :class:`Embedder` turns RGB photos into L2-normalised float32 vectors (and, on request, the
patch tokens the heatmaps are built from). Everything that decides the vector space (backbone
weights, pooling, square-fitting, the optional re-ID head) is summed up in :attr:`Embedder.space_id`,
which the registry stores beside every vector so that two spaces are never mixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ImageLoadError, InvalidInputError, ReidError
from .images import fit_square, load_image

if TYPE_CHECKING:  # torch stays out of import time: the GUI shows its window first.
    import torch
    from PIL import Image

    from .weights import ResolvedWeights

POOLINGS = ("cls", "cls+mean", "mean")
SQUARE_MODES = ("pad", "squash", "center-crop")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class EmbedderConfig:
    """How photos become vectors.

    Attributes:
        pooling: ``"cls"`` (the class token), ``"mean"`` (mean of patch tokens) or ``"cls+mean"``
            (the normalised sum of both). The class token is the default: best Rank-1 and mAP on
            dogfacenet-dev and best mAP on mpdd-dev (``bench/bench_pooling.py``; table in README).
        square: How a non-square photo becomes the model's square input (see
            :func:`reid_engine.images.fit_square`). ``"squash"`` is the default: whole-body dog
            photos keep the whole dog (unlike a centre crop) at the full 16x16 token grid (unlike
            padding), and it scored best on mpdd-dev.
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"auto"`` (the measured default per device).
        device: ``"auto"`` (CUDA, then Apple MPS, then CPU) or one of them by name.
        batch_size: Photos per forward pass.
    """

    pooling: str = "cls"
    square: str = "squash"
    precision: str = "auto"
    device: str = "auto"
    batch_size: int = 32

    def __post_init__(self) -> None:
        for name, allowed in (
            ("pooling", POOLINGS),
            ("square", SQUARE_MODES),
            ("precision", PRECISIONS),
            ("device", DEVICES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise InvalidInputError(f"Unknown {name} {value!r}: choose one of {', '.join(allowed)}.")
        if self.batch_size < 1:
            raise InvalidInputError("batch_size must be at least 1.")


@dataclass
class EmbeddedFile:
    """One result of :meth:`Embedder.iter_embed_files`: a vector, or the reason it failed."""

    index: int
    path: Path
    vector: np.ndarray | None = None
    tokens: np.ndarray | None = None
    error: ImageLoadError | None = None


def pick_device(name: str = "auto") -> str:
    """Return the torch device to use: CUDA, then Apple MPS, then CPU (``name`` overrides)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ReidError("A GPU (CUDA) was asked for, but none is available here. Choose 'auto' or 'cpu'.")
    return name


class Embedder:
    """Embeds photos with a ViT backbone (DINOv2 ViT-S/14 at 224x224 in production).

    Build one with :meth:`load` (real weights) or :meth:`random_init` (tests). The object is
    thread-safe for calls from one worker thread at a time; it holds no registry state.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        weights: ResolvedWeights | None,
        config: EmbedderConfig = EmbedderConfig(),
        head: torch.nn.Module | None = None,
        head_id: str = "",
        model_name: str = "dinov2_vits14",
    ):
        import timm.data
        import torch

        self.config = config
        self.weights = weights
        self.device = pick_device(config.device)
        self.model_name = model_name
        self.model = model.eval().to(self.device)
        self.head = head.eval().to(self.device) if head is not None else None
        self.head_id = head_id if head is not None else ""
        data_config = timm.data.resolve_model_data_config(model)
        self.image_size = int(model.patch_embed.img_size[0])
        self.mean = tuple(float(v) for v in data_config["mean"])
        self.std = tuple(float(v) for v in data_config["std"])
        self.grid = tuple(int(v) for v in model.patch_embed.grid_size)
        self.num_prefix_tokens = int(getattr(model, "num_prefix_tokens", 1))
        self.token_dim = int(model.embed_dim)
        self._mean_t = torch.tensor(self.mean).view(1, 3, 1, 1)
        self._std_t = torch.tensor(self.std).view(1, 3, 1, 1)
        self.precision = self._resolve_precision(config.precision)
        self._lock = threading.Lock()
        with torch.inference_mode():
            probe = torch.zeros(1, 3, self.image_size, self.image_size)
            self.dim = int(self._forward(probe)[0].shape[1])

    # ----------------------------------------------------------------- construction
    @classmethod
    def load(
        cls,
        weights_file: str | Path | None = None,
        *,
        config: EmbedderConfig = EmbedderConfig(),
        use_head: bool = True,
        allow_download: bool = False,
    ) -> Embedder:
        """Resolve the backbone weights (see :mod:`reid_engine.weights`) and build the embedder.

        Args:
            weights_file: A user-named timm-layout state_dict; ``None`` resolves the usual sources.
            config: Pooling, device, precision.
            use_head: Apply the shipped re-ID head when it was trained on these exact weights.
            allow_download: Let resolution download from the hub if nothing is on disk.

        Raises:
            WeightsError: No usable weights; the message says how to get them.
        """
        from . import weights as weights_mod

        resolved = weights_mod.resolve_weights(weights_file, allow_download=allow_download)
        model = weights_mod.build_backbone(resolved)
        head, head_id = (None, "")
        if use_head:
            head, head_id = _load_matching_head(resolved.sha256, int(model.embed_dim), config.pooling)
        return cls(model, weights=resolved, config=config, head=head, head_id=head_id)

    @classmethod
    def random_init(
        cls, *, tiny: bool = True, seed: int = 0, config: EmbedderConfig = EmbedderConfig(device="cpu")
    ) -> Embedder:
        """A randomly initialised embedder for tests: tiny (56x56, 2 blocks, 48-d) by default."""
        import timm
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if tiny:
                model = timm.create_model(
                    "vit_small_patch14_dinov2", pretrained=False, img_size=56, embed_dim=48, depth=2,
                    num_heads=3, init_values=1.0,
                )
            else:
                model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=224)
        name = f"random-{'tiny' if tiny else 'vits14'}-seed{seed}"
        return cls(model, weights=None, config=config, model_name=name)

    # ----------------------------------------------------------------- identity
    @property
    def weights_sha256(self) -> str:
        """sha256 of the backbone weights file, or a stand-in naming the random init."""
        return self.weights.sha256 if self.weights is not None else self.model_name

    @property
    def space_id(self) -> str:
        """A short id of the vector space: vectors with different ids must never be compared."""
        parts = [
            self.model_name,
            str(self.image_size),
            self.weights_sha256,
            self.config.pooling,
            self.config.square,
            self.head_id or "nohead",
        ]
        digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
        return f"{self.model_name}-{self.config.pooling}-{digest}"

    @property
    def bands(self) -> tuple[float, float]:
        """``(likely, possible)`` score thresholds calibrated for this model's vectors.

        The head's own (calibrated on its held-out dogs) when a calibrated head is applied; else
        :data:`reid_engine.settings.ZERO_SHOT_BANDS`, calibrated for the backbone alone.
        """
        from .settings import ZERO_SHOT_BANDS

        info = getattr(self.head, "info", None)
        if info is not None and info.likely_threshold > info.possible_threshold > 0:
            return float(info.likely_threshold), float(info.possible_threshold)
        return ZERO_SHOT_BANDS

    def describe(self) -> dict[str, Any]:
        """Plain facts for ``info`` screens: model, weights source, device, precision, dims."""
        return {
            "model": self.model_name,
            "image_size": self.image_size,
            "weights_source": self.weights.source if self.weights else "random-init",
            "weights_path": str(self.weights.path) if self.weights else None,
            "weights_sha256": self.weights_sha256,
            "pooling": self.config.pooling,
            "square": self.config.square,
            "head": self.head_id or None,
            "device": self.device,
            "precision": self.precision,
            "dim": self.dim,
            "space_id": self.space_id,
            "bands": list(self.bands),
        }

    def with_config(self, **changes: Any) -> Embedder:
        """The same backbone and head with some config fields changed (shares the weights).

        The head is dropped when the pooling changes: it only fits the pooling it was trained on.
        """
        config = replace(self.config, **changes)
        keep_head = config.pooling == self.config.pooling
        return Embedder(
            self.model, weights=self.weights, config=config, head=self.head if keep_head else None,
            head_id=self.head_id if keep_head else "", model_name=self.model_name,
        )

    def without_head(self) -> Embedder:
        """The same backbone without the re-ID head (for evaluations that switch it off)."""
        return Embedder(
            self.model, weights=self.weights, config=self.config, head=None, model_name=self.model_name
        )

    # ----------------------------------------------------------------- preprocessing
    def load_photo(self, path: str | Path) -> Image.Image:
        """Decode a photo just large enough for this model (fast path for big JPEGs)."""
        return load_image(path, min_side=self.image_size)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB PIL image -> float32 (3, S, S) array in [0, 1], squared per the config."""
        square = fit_square(image.convert("RGB"), self.image_size, mode=self.config.square)
        arr = np.asarray(square, dtype=np.float32) / 255.0
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    # ----------------------------------------------------------------- embedding
    def embed(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> np.ndarray:
        """Embed photos: float32 (n, dim), each row L2-normalised, deterministic for the same input."""
        return self.embed_with_tokens(images, batch_size=batch_size, tokens=False)[0]

    def embed_with_tokens(
        self, images: Sequence[Image.Image], *, batch_size: int | None = None, tokens: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Embed photos and return ``(vectors (n, dim), patch_tokens (n, gh, gw, C) or None)``.

        Patch tokens are L2-normalised per token, float32, in the model's grid (16x16 for 224/14).
        """
        bs = batch_size or self.config.batch_size
        vecs: list[np.ndarray] = []
        toks: list[np.ndarray] = []
        for start in range(0, len(images), bs):
            batch = np.stack([self.preprocess(im) for im in images[start : start + bs]])
            v, t = self.embed_batch(batch, tokens=tokens)
            vecs.append(v)
            if t is not None:
                toks.append(t)
        if not vecs:
            empty_t = np.zeros((0, *self.grid, self.token_dim), np.float32) if tokens else None
            return np.zeros((0, self.dim), np.float32), empty_t
        return np.concatenate(vecs), (np.concatenate(toks) if tokens else None)

    def embed_batch(self, batch: np.ndarray, *, tokens: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Embed a preprocessed float32 batch (n, 3, S, S) in [0, 1]."""
        import torch

        with self._lock, torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            x = (x - self._mean_t) / self._std_t
            vec, patch = self._forward(x)
            vec_np = vec.float().cpu().numpy().astype(np.float32, copy=False)
            if not tokens:
                return vec_np, None
            patch = torch.nn.functional.normalize(patch.float(), dim=-1)
            gh, gw = self.grid
            return vec_np, patch.reshape(len(x), gh, gw, -1).cpu().numpy()

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        import torch
        import torch.nn.functional as F

        x = x.to(self.device)
        autocast = (
            torch.autocast(device_type=self.device, dtype=torch.bfloat16)
            if self.precision == "bf16"
            else contextlib.nullcontext()
        )
        with autocast:
            feats = self.model.forward_features(x)
        feats = feats.float()
        cls_tok = feats[:, 0]
        patch = feats[:, self.num_prefix_tokens :]
        pooling = self.config.pooling
        if pooling == "cls":
            vec = cls_tok
        elif pooling == "mean":
            vec = patch.mean(dim=1)
        else:
            vec = F.normalize(cls_tok, dim=-1) + F.normalize(patch.mean(dim=1), dim=-1)
        if self.head is not None:
            vec = self.head(F.normalize(vec, dim=-1))
        return F.normalize(vec, dim=-1), patch

    def _resolve_precision(self, precision: str) -> str:
        if precision != "auto":
            return precision
        # Measured by bench/bench_embed.py: see README. fp32 stays the default where bf16 is not a win.
        return os.environ.get("LOSTPET_PRECISION", "bf16" if self.device == "cuda" else "fp32")

    # ----------------------------------------------------------------- files
    def iter_embed_files(
        self,
        paths: Sequence[str | Path],
        *,
        batch_size: int | None = None,
        tokens: bool = False,
        decode_workers: int | None = None,
        cancel: Callable[[], bool] | None = None,
        transform: Callable[[Image.Image, int], Image.Image] | None = None,
    ) -> Iterator[EmbeddedFile]:
        """Decode and embed files, decoding in threads while the model runs.

        Yields one :class:`EmbeddedFile` per path, in input order; unreadable files carry their
        :class:`ImageLoadError` instead of a vector, and the rest carry on. Stops early (without
        raising) when ``cancel()`` becomes true.

        Args:
            paths: Photo files.
            batch_size: Photos per forward pass.
            tokens: Also return the patch tokens of each photo.
            decode_workers: Decoder threads (default: cores, at most 4).
            cancel: Polled between batches.
            transform: ``transform(photo, index)`` is applied to each decoded photo before
                preprocessing (e.g. its dog crop); it runs in the decoder threads.
        """
        bs = batch_size or self.config.batch_size
        workers = decode_workers or max(1, min(4, os.cpu_count() or 1))
        paths = [Path(p) for p in paths]

        def decode(i: int) -> tuple[int, np.ndarray | None, ImageLoadError | None]:
            try:
                image = self.load_photo(paths[i])
                if transform is not None:
                    image = transform(image, i)
                return i, self.preprocess(image), None
            except ImageLoadError as exc:
                return i, None, exc
            except Exception as exc:  # noqa: BLE001 - a bad file must never stop the batch
                return i, None, ImageLoadError(paths[i], f"unexpected problem while reading ({exc})")

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lostpet-decode") as pool:
            # Bounded look-ahead: at most two batches decoded ahead of the model.
            pending = _bounded_map(pool, decode, range(len(paths)), ahead=2 * bs)
            while True:
                if cancel is not None and cancel():
                    pending.close()
                    return
                chunk = list(_take(pending, bs))
                if not chunk:
                    return
                good = [(i, arr) for i, arr, err in chunk if err is None]
                vecs, toks = (None, None)
                if good:
                    vecs, toks = self.embed_batch(np.stack([a for _, a in good]), tokens=tokens)
                row = {i: r for r, (i, _) in enumerate(good)}
                for i, _, err in chunk:
                    if err is not None:
                        yield EmbeddedFile(i, paths[i], error=err)
                    else:
                        r = row[i]
                        yield EmbeddedFile(
                            i, paths[i], vector=vecs[r], tokens=None if toks is None else toks[r]
                        )


def _take(it: Iterator, n: int) -> Iterator:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable, items: Iterable, ahead: int) -> Iterator:
    """Like ``pool.map`` but submits at most ``ahead`` items beyond the one being consumed."""
    items = iter(items)
    futures: queue.SimpleQueue = queue.SimpleQueue()
    submitted = 0
    for item in items:
        futures.put(pool.submit(fn, item))
        submitted += 1
        if submitted >= ahead:
            break
    try:
        while not futures.empty():
            fut = futures.get()
            result = fut.result()
            for item in items:
                futures.put(pool.submit(fn, item))
                break
            yield result
    finally:
        while not futures.empty():
            futures.get().cancel()


def _load_matching_head(weights_sha256: str, in_dim: int, pooling: str) -> tuple[Any, str]:
    """The shipped re-ID head, if one was trained on exactly these backbone weights and pooling."""
    try:
        from .head import load_shipped_head
    except ImportError:
        return None, ""
    return load_shipped_head(weights_sha256, in_dim, pooling)


__all__ = ["Embedder", "EmbedderConfig", "EmbeddedFile", "pick_device", "POOLINGS", "SQUARE_MODES"]
