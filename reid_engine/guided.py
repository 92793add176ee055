"""Region-guided search: make "this marking" count more when ranking candidates.

A query can carry a region weight map over its photo: drawn by the user (a box or a brush), or a
CLIP text heatmap ("white patch on the chest"). The global embedding ranks the gallery as usual;
then the top candidates are re-scored with the query's DINOv2 patch tokens under the region:

* each query cell ``i`` with region weight ``w_i`` (its share of the cell, padding excluded) looks
  for its best-matching patch anywhere in the candidate photo (max cosine similarity, so the marking
  may sit elsewhere in the candidate's frame and pose);
* the region score is the ``w``-weighted mean of those best matches;
* the new score is ``(1 - alpha) * base + alpha * (region - shift)``, where ``shift`` puts the
  region scores on the base scores' level (their means over the re-scored candidates agree), so
  guided scores stay comparable with the "likely / possible" thresholds.

Without a region (``None`` or all zero) or with ``alpha == 0`` the base scores come back unchanged:
unguided search is untouched by this machinery (checked by ``bench/bench_guided.py``).

    region = region_from_box(photo.size, (x, y, w, h))         # or ClipHeatmapper.heatmap(photo, "red collar")
    scores = guided_scores(embedder, photo, region, candidate_photos, base_scores, keys=shas)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import InvalidInputError
from .heatmap import MIN_CELL_COVERAGE, SquareLayout

if TYPE_CHECKING:
    from .clip_heatmap import ClipHeatmapper
    from .embedder import Embedder

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_DEPTH",
    "TokenCache",
    "guided_scores",
    "parse_region",
    "query_region",
    "region_from_box",
    "region_scores",
    "region_to_grid",
    "rerank",
]

DEFAULT_ALPHA = 0.5
"""Weight of the region score against the global score (0: unguided, 1: region only)."""

DEFAULT_DEPTH = 50
"""How many top candidates of the unguided ranking the registry should re-score."""


# ------------------------------------------------------------------------------------ regions


def parse_region(text: str, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` -> a pixel box inside the photo.

    Four numbers, in pixels, or all between 0 and 1 as fractions of the photo's width and height
    (``"0.3,0.5,0.2,0.2"``). The box is clipped to the photo.

    Raises:
        InvalidInputError: Not four numbers, a non-positive size, or a box outside the photo.
    """
    parts = [p.strip() for p in str(text).replace(";", ",").split(",")]
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise InvalidInputError(
            f"Cannot read the region {text!r}: give x,y,w,h in pixels (e.g. 120,80,60,40) or as "
            "fractions of the photo (e.g. 0.3,0.5,0.2,0.2)."
        ) from None
    if w <= 0 or h <= 0:
        raise InvalidInputError(f"The region {text!r} has no area: width and height must be positive.")
    if all(0.0 <= v <= 1.0 for v in (x, y, w, h)):
        x, w = x * image_size[0], w * image_size[0]
        y, h = y * image_size[1], h * image_size[1]
    return _clip_box((x, y, w, h), image_size, text)


def region_from_box(image_size: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """An (H, W) float32 region map: 1 inside ``box = (x, y, w, h)`` (pixels), 0 elsewhere.

    Raises:
        InvalidInputError: The box does not overlap the photo.
    """
    x, y, w, h = _clip_box(box, image_size, box)
    region = np.zeros((image_size[1], image_size[0]), np.float32)
    region[y : y + h, x : x + w] = 1.0
    return region


def region_to_grid(
    region: np.ndarray, grid: tuple[int, int], *, square_mode: str = "pad", side: int = 224
) -> np.ndarray:
    """A photo-sized region map (H, W) -> (gh, gw) weights in [0, 1] over the model's token grid.

    A cell's weight is the region's mean over that cell; padding counts as outside the region.
    Use ``SquareLayout.for_embedder(embedder, size)`` values for ``square_mode`` and ``side``.
    """
    region = _check_region(region)
    layout = SquareLayout.of((region.shape[1], region.shape[0]), side, square_mode)
    return np.clip(layout.image_to_grid(region, grid), 0.0, 1.0)


def query_region(
    image: Image.Image,
    *,
    box: str | tuple[float, float, float, float] | None = None,
    prompt: str | None = None,
    clip: ClipHeatmapper | None = None,
    clip_unavailable: str = "no CLIP weights are loaded",
) -> tuple[np.ndarray | None, str]:
    """The region map for a search, from a box and/or a text prompt, and a note for the user.

    A box alone gives a box region; a prompt alone gives CLIP's heatmap; both give the heatmap
    inside the box. Without CLIP the prompt is dropped (never an error) and the note says so, so
    the caller searches on with whatever guidance is left.

    Args:
        image: The query photo (as it will be embedded).
        box: ``(x, y, w, h)`` in pixels, or the CLI's ``"x,y,w,h"`` text (pixels or fractions).
        prompt: Text such as ``"red collar"``.
        clip: A loaded heatmapper, or ``None`` when CLIP is unavailable.
        clip_unavailable: Why CLIP is unavailable (``clip_status``'s reason), for the note.

    Returns:
        ``(region or None, note)``; the note is ``""`` when everything asked for was used.

    Raises:
        InvalidInputError: A malformed box, or an empty prompt.
    """
    size = image.size
    region = None
    if box is not None:
        pixels = parse_region(box, size) if isinstance(box, str) else _clip_box(box, size, box)
        region = region_from_box(size, pixels)
    note = ""
    if prompt is not None:
        if clip is None:
            note = f"Text guidance is off ({clip_unavailable}); searching without the prompt."
        else:
            heat = clip.heatmap(image, prompt)
            region = heat if region is None else heat * region
    return region, note


def crop_region(region: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part of a region map under a crop box ``(x, y, w, h)`` (when the query was auto-cropped)."""
    x, y, w, h = box
    return np.asarray(region)[y : y + h, x : x + w]


# ------------------------------------------------------------------------------------ scoring


def region_scores(
    query_tokens: np.ndarray,
    region_grid: np.ndarray,
    candidate_tokens: Sequence[np.ndarray],
    candidate_valid: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """How well each candidate matches the query's region: weighted mean of best patch matches.

    Args:
        query_tokens: (gh, gw, C) L2-normalised query patch tokens.
        region_grid: (gh, gw) weights in [0, 1] (from :func:`region_to_grid`).
        candidate_tokens: One (gh', gw', C) L2-normalised token grid per candidate.
        candidate_valid: Optional (gh', gw') coverage per candidate; padding cells are not matched.

    Returns:
        (n,) float32 scores in [-1, 1]; 0 for every candidate if the region is empty.
    """
    q = np.asarray(query_tokens, np.float32)
    w = np.asarray(region_grid, np.float32)
    if q.ndim != 3 or w.shape != q.shape[:2]:
        raise InvalidInputError(f"Region grid {w.shape} does not match the query tokens {q.shape[:2]}.")
    keep = w.reshape(-1) > 1e-6
    out = np.zeros(len(candidate_tokens), np.float32)
    if not keep.any():
        return out
    q_region = q.reshape(-1, q.shape[-1])[keep]
    weights = w.reshape(-1)[keep].astype(np.float64)
    for n, tokens in enumerate(candidate_tokens):
        c = np.asarray(tokens, np.float32).reshape(-1, q.shape[-1])
        valid = None if candidate_valid is None else candidate_valid[n]
        if valid is not None:
            mask = np.asarray(valid).reshape(-1) >= MIN_CELL_COVERAGE
            if mask.any():
                c = c[mask]
        best = (q_region @ c.T).max(axis=1)
        out[n] = float((best * weights).sum() / weights.sum())
    return out


def rerank(
    query_tokens: np.ndarray,
    region_grid: np.ndarray | None,
    candidate_tokens: Sequence[np.ndarray],
    base_scores: Sequence[float],
    alpha: float = DEFAULT_ALPHA,
    candidate_valid: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """Blend the region score into the base scores of the candidates (see module doc).

    Returns:
        (n,) float64 new scores; exactly ``base_scores`` when there is no region or ``alpha == 0``.
    """
    base = np.array(base_scores, dtype=np.float64)
    if len(candidate_tokens) != len(base):
        raise InvalidInputError(f"{len(candidate_tokens)} candidate token grids for {len(base)} scores.")
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}.")
    if region_grid is None or alpha == 0.0 or len(base) == 0 or not np.any(np.asarray(region_grid) > 1e-6):
        return base
    region = region_scores(query_tokens, region_grid, candidate_tokens, candidate_valid).astype(np.float64)
    shift = region.mean() - base.mean()
    return (1.0 - alpha) * base + alpha * (region - shift)


class TokenCache:
    """A small LRU of candidate patch tokens (stored as float16), keyed by photo sha256.

    Re-ranking the same top candidates again (another region, another alpha) then costs no forward
    pass. 256 entries of a 16x16x384 grid take about 50 MB. Thread-safe.
    """

    def __init__(self, maxsize: int = 256):
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                return item[0].astype(np.float32), item[1]
            return None

    def put(self, key: Hashable, tokens: np.ndarray, valid: np.ndarray) -> None:
        with self._lock:
            self._items[key] = (np.asarray(tokens, np.float16), np.asarray(valid, np.float32))
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def photo_tokens(
    embedder: Embedder,
    images: Sequence[Image.Image | str | Path],
    *,
    keys: Sequence[Hashable] | None = None,
    cache: TokenCache | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Patch tokens (gh, gw, C) and cell coverage (gh, gw) of photos, through ``cache`` when given.

    ``images`` may be PIL images or file paths (decoded with ``embedder.load_photo``).
    """
    if keys is not None and len(keys) != len(images):
        raise InvalidInputError(f"{len(keys)} cache keys for {len(images)} photos.")
    tokens: list[np.ndarray | None] = [None] * len(images)
    valid: list[np.ndarray | None] = [None] * len(images)
    missing = []
    for n in range(len(images)):
        hit = cache.get(keys[n]) if (cache is not None and keys is not None) else None
        if hit is None:
            missing.append(n)
        else:
            tokens[n], valid[n] = hit
    if missing:
        decoded = [_as_image(embedder, images[n]) for n in missing]
        _, toks = embedder.embed_with_tokens(decoded)
        for j, n in enumerate(missing):
            tokens[n] = toks[j]
            valid[n] = SquareLayout.for_embedder(embedder, decoded[j].size).cell_coverage(embedder.grid)
            if cache is not None and keys is not None:
                cache.put(keys[n], toks[j], valid[n])
    return tokens, valid  # type: ignore[return-value]


def guided_scores(
    embedder: Embedder,
    query_image: Image.Image,
    region: np.ndarray | None,
    candidate_images: Sequence[Image.Image | str | Path],
    base_scores: Sequence[float],
    alpha: float = DEFAULT_ALPHA,
    *,
    keys: Sequence[Hashable] | None = None,
    cache: TokenCache | None = None,
) -> np.ndarray:
    """Re-score candidates for a query with a region (the whole of region-guided search).

    Args:
        embedder: The embedder the gallery was searched with.
        query_image: The query photo, exactly as embedded (after any auto-crop; see :func:`crop_region`).
        region: (H, W) weights in [0, 1] at the query photo's size, or ``None`` for unguided.
        candidate_images: The top candidates' photos (PIL or paths), as they were embedded.
        base_scores: Their unguided scores.
        alpha: Region weight, 0..1.
        keys: Cache keys (photo sha256) of the candidates, to reuse their tokens.
        cache: A :class:`TokenCache` kept by the caller between searches.

    Returns:
        (n,) float64 scores; the base scores unchanged when ``region`` is ``None`` or empty.
    """
    base = np.array(base_scores, dtype=np.float64)
    if region is None or alpha == 0.0 or len(base) == 0:
        return base
    region = _check_region(region)
    if region.shape != (query_image.height, query_image.width):
        raise InvalidInputError(
            f"The region map is {region.shape[1]}x{region.shape[0]} but the query photo is "
            f"{query_image.width}x{query_image.height}."
        )
    if not np.any(region > 1e-6):
        return base
    layout = SquareLayout.for_embedder(embedder, query_image.size)
    grid = layout.image_to_grid(region, embedder.grid)
    _, q_tokens = embedder.embed_with_tokens([query_image])
    c_tokens, c_valid = photo_tokens(embedder, candidate_images, keys=keys, cache=cache)
    return rerank(q_tokens[0], grid, c_tokens, base, alpha, c_valid)


# ------------------------------------------------------------------------------------ helpers


def _as_image(embedder: Embedder, item: Image.Image | str | Path) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    return embedder.load_photo(item)


def _check_region(region: np.ndarray) -> np.ndarray:
    region = np.asarray(region, dtype=np.float32)
    if region.ndim != 2:
        raise InvalidInputError(f"A region map must be 2-D (height, width), got shape {region.shape}.")
    return np.clip(np.nan_to_num(region, nan=0.0), 0.0, 1.0)


def _clip_box(box, image_size: tuple[int, int], shown) -> tuple[int, int, int, int]:
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(image_size[0], int(round(x + w))), min(image_size[1], int(round(y + h)))
    if x1 <= x0 or y1 <= y0:
        raise InvalidInputError(
            f"The region {shown} lies outside the {image_size[0]}x{image_size[1]} photo."
        )
    return x0, y0, x1 - x0, y1 - y0
