"""Explain a match: where two photos correspond, as heatmaps in [0, 1], and how to draw them.

The model sees a photo through :func:`reid_engine.images.fit_square` (``pad``: the longer side
fitted to the model's input and the rest padded), so every patch token covers a cell of that square,
not of the photo. :class:`SquareLayout` holds that mapping once; everything that moves maps between a
photo and the token grid (these heatmaps, region-guided search in :mod:`reid_engine.guided`, the dog
finder in :mod:`reid_engine.crop`, CLIP text heatmaps) goes through it.

Pipeline position: ... -> search -> rank -> **explain** (heatmap arrays) -> display.

    q_heat, m_heat = explain(embedder, query_photo, match_photo)   # HxW float32 in [0, 1] each
    overlay(query_photo, q_heat).save("why.png")

Only numpy and Pillow are used here (no torch at import time, no Qt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import InvalidInputError

if TYPE_CHECKING:
    from .embedder import Embedder

__all__ = [
    "COLORMAPS",
    "SquareLayout",
    "explain",
    "explain_tokens",
    "overlay",
    "uncrop_heat",
    "upsample_to_image",
]

# Token similarities (cosine) mapped to heat 0 and 1 by :func:`explain_tokens`. Measured with the
# DINOv2 ViT-S/14 backbone and the default squash input (bench/bench_guided.py --explain-stats, 40
# pairs per set): a patch's best match in a photo of another dog has median similarity 0.82-0.83
# (10th percentile 0.71-0.73), in a photo of the same dog 0.90-0.91 (10th percentile 0.80-0.84),
# on dogfacenet-dev and mpdd-dev alike. Mapping 0.75..1.0 keeps another dog cool (about 0.3) and
# the same dog warm (about 0.6) without saturating (checked by eye on MPDD pairs:
# bench/contact_sheet.py explain).
SIM_COLD = 0.75
SIM_HOT = 1.0

# A patch whose best partner has a better match elsewhere by this much gets no heat ("best buddies",
# softened): background that resembles everything (road, wall) then stays cool.
MUTUAL_TOLERANCE = 0.05

# A token cell counts as photo (not padding) when at least this fraction of it is photo.
MIN_CELL_COVERAGE = 0.5


@dataclass(frozen=True)
class SquareLayout:
    """Where a photo lands in the model's square input: ``square = image * scale + offset`` per axis.

    Build it with :meth:`of` (the same arithmetic as :func:`reid_engine.images.fit_square`). The
    square is ``side`` pixels wide; parts of the square outside the photo are padding, and with
    ``center-crop`` parts of the photo fall outside the square.

    Attributes:
        image_size: ``(width, height)`` of the photo in pixels.
        side: Side of the model's square input in pixels (224 for DINOv2 ViT-S/14 here).
        scale: ``(sx, sy)`` square pixels per photo pixel.
        offset: ``(ox, oy)`` square position of the photo's top-left corner.
    """

    image_size: tuple[int, int]
    side: int
    scale: tuple[float, float]
    offset: tuple[float, float]

    @classmethod
    def of(cls, image_size: tuple[int, int], side: int, mode: str = "pad") -> SquareLayout:
        """The layout :func:`~reid_engine.images.fit_square` gives a photo of ``image_size``.

        Args:
            image_size: ``(width, height)`` of the photo.
            side: Side of the square model input.
            mode: ``"pad"``, ``"center-crop"`` or ``"squash"`` (``EmbedderConfig.square``).
        """
        width, height = (int(v) for v in image_size)
        if width < 1 or height < 1 or side < 1:
            raise InvalidInputError(f"Cannot lay out a {width}x{height} photo in a {side}px square.")
        if mode == "pad":
            # Same rounding as images._fit_longest_side and the integer offsets of fit_square.
            if width >= height:
                inner = (side, max(1, round(height * side / width)))
            else:
                inner = (max(1, round(width * side / height)), side)
            scale = (inner[0] / width, inner[1] / height)
            offset = (float((side - inner[0]) // 2), float((side - inner[1]) // 2))
        elif mode == "center-crop":
            short = min(width, height)
            s = side / short
            scale = (s, s)
            offset = (-(width - short) / 2 * s, -(height - short) / 2 * s)
        elif mode == "squash":
            scale = (side / width, side / height)
            offset = (0.0, 0.0)
        else:
            raise InvalidInputError(f"Unknown square mode {mode!r}: use pad, center-crop or squash.")
        return cls((width, height), int(side), scale, offset)

    @classmethod
    def for_embedder(cls, embedder: Embedder, image_size: tuple[int, int]) -> SquareLayout:
        """The layout ``embedder`` uses for a photo of ``image_size``."""
        return cls.of(image_size, embedder.image_size, embedder.config.square)

    # ------------------------------------------------------------------ points and boxes
    def to_square(self, x: float, y: float) -> tuple[float, float]:
        """Photo pixel coordinates -> square pixel coordinates."""
        return x * self.scale[0] + self.offset[0], y * self.scale[1] + self.offset[1]

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        """Square pixel coordinates -> photo pixel coordinates."""
        return (u - self.offset[0]) / self.scale[0], (v - self.offset[1]) / self.scale[1]

    def square_box_to_image(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` in square pixels -> the same box in photo pixels, clipped to the photo."""
        x0, y0 = self.to_image(box[0], box[1])
        x1, y1 = self.to_image(box[2], box[3])
        w, h = self.image_size
        return max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)

    # ------------------------------------------------------------------ grids
    def grid_to_image_weights(self, n_cells: int, axis: int, out_len: int | None = None) -> np.ndarray:
        """Bilinear interpolation matrix (out_len, n_cells) from cell centres to photo pixel centres.

        Pixels that fall outside the square (``center-crop``) get an all-zero row.
        """
        length = self.image_size[axis] if out_len is None else out_len
        photo_px = self.image_size[axis] / length
        centres = (np.arange(length, dtype=np.float64) + 0.5) * photo_px
        square = centres * self.scale[axis] + self.offset[axis]
        cell = square / self.side * n_cells - 0.5  # cell-centre coordinates
        inside = (square >= 0) & (square < self.side)
        cell = np.clip(cell, 0.0, n_cells - 1.0)
        lo = np.floor(cell).astype(int)
        hi = np.minimum(lo + 1, n_cells - 1)
        frac = cell - lo
        weights = np.zeros((length, n_cells), np.float64)
        rows = np.arange(length)
        np.add.at(weights, (rows, lo), 1.0 - frac)
        np.add.at(weights, (rows, hi), frac)
        weights[~inside] = 0.0
        return weights

    def image_to_grid_weights(self, n_cells: int, axis: int) -> np.ndarray:
        """Area matrix (n_cells, photo length): the fraction of each cell that each photo pixel covers.

        A row sums to the fraction of that cell's extent which is photo (1 inside, less at padding).
        """
        length = self.image_size[axis]
        cell_len = self.side / n_cells
        starts = np.arange(length, dtype=np.float64) * self.scale[axis] + self.offset[axis]
        ends = starts + self.scale[axis]
        cell_lo = np.arange(n_cells, dtype=np.float64)[:, None] * cell_len
        overlap = np.minimum(ends[None, :], cell_lo + cell_len) - np.maximum(starts[None, :], cell_lo)
        return np.clip(overlap, 0.0, None) / cell_len

    def cell_coverage(self, grid: tuple[int, int]) -> np.ndarray:
        """(gh, gw) fraction of each token cell that shows the photo (0 on pure padding)."""
        gh, gw = grid
        ay = self.image_to_grid_weights(gh, 1).sum(axis=1)
        ax = self.image_to_grid_weights(gw, 0).sum(axis=1)
        return np.clip(np.outer(ay, ax), 0.0, 1.0).astype(np.float32)

    def image_to_grid(self, image_map: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        """Average a photo-sized map (H, W) over each token cell -> (gh, gw); padding counts as 0."""
        image_map = np.asarray(image_map, dtype=np.float64)
        w, h = self.image_size
        if image_map.shape != (h, w):
            raise InvalidInputError(
                f"The map is {image_map.shape[1]}x{image_map.shape[0]} but the photo is {w}x{h}."
            )
        gh, gw = grid
        ay = self.image_to_grid_weights(gh, 1)
        ax = self.image_to_grid_weights(gw, 0)
        return (ay @ image_map @ ax.T).astype(np.float32)

    def grid_to_image(self, grid_map: np.ndarray, out_size: tuple[int, int] | None = None) -> np.ndarray:
        """Bilinearly upsample a token-grid map (gh, gw) onto the photo -> (H, W) float32.

        Args:
            grid_map: Values per token cell.
            out_size: ``(width, height)`` to produce instead of the photo's own size (same aspect).
        """
        grid_map = np.asarray(grid_map, dtype=np.float64)
        if grid_map.ndim != 2:
            raise InvalidInputError(f"A grid map must be 2-D, got shape {grid_map.shape}.")
        gh, gw = grid_map.shape
        out_w, out_h = out_size if out_size is not None else self.image_size
        wy = self.grid_to_image_weights(gh, 1, out_h)
        wx = self.grid_to_image_weights(gw, 0, out_w)
        return (wy @ grid_map @ wx.T).astype(np.float32)


def uncrop_heat(heat: np.ndarray, box: tuple[int, int, int, int], image_size: tuple[int, int]) -> np.ndarray:
    """A heatmap computed on a crop ``box = (x, y, w, h)`` placed back on the whole photo (0 outside).

    For photos the registry embedded as an auto-crop: explain the crops, show the originals.
    """
    x, y, w, h = (int(v) for v in box)
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        raise InvalidInputError(f"The heatmap is {heat.shape[1]}x{heat.shape[0]} but the crop is {w}x{h}.")
    full = np.zeros((image_size[1], image_size[0]), np.float32)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(image_size[0], x + w), min(image_size[1], y + h)
    full[y0:y1, x0:x1] = heat[y0 - y : y1 - y, x0 - x : x1 - x]
    return full


def upsample_to_image(
    grid_heat: np.ndarray, image_size: tuple[int, int], square_mode: str = "pad", side: int = 224
) -> np.ndarray:
    """A token-grid heatmap -> an (H, W) float32 map over the photo, undoing the square fitting.

    Args:
        grid_heat: (gh, gw) values, one per patch token.
        image_size: ``(width, height)`` of the photo the tokens came from.
        square_mode: How that photo was fitted to the square (``EmbedderConfig.square``).
        side: The model's input side (only the proportions matter).
    """
    return SquareLayout.of(image_size, side, square_mode).grid_to_image(grid_heat)


def explain_tokens(
    q_tokens: np.ndarray,
    m_tokens: np.ndarray,
    q_valid: np.ndarray | None = None,
    m_valid: np.ndarray | None = None,
    *,
    cold: float = SIM_COLD,
    hot: float = SIM_HOT,
    tolerance: float = MUTUAL_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Which cells of two token grids correspond: best-buddy patch similarity, mapped to [0, 1].

    Each patch of one photo is scored by its best match among the other photo's patches, mapped
    linearly from ``cold`` (0) to ``hot`` (1) on a fixed scale (a poor match looks cold instead of
    being stretched to fill the colour range). The score fades to 0 as the partner's own best match
    elsewhere beats this one by ``tolerance``: mutual nearest neighbours ("best buddies", as in
    Amir et al.'s DINO-ViT correspondences) keep their full heat, while a patch that resembles
    everything (a plain road, a wall) does not light up.

    Args:
        q_tokens, m_tokens: (gh, gw, C) L2-normalised patch tokens (``Embedder.embed_with_tokens``).
        q_valid, m_valid: Optional (gh, gw) weights in [0, 1]; cells under 0.5 (padding) are ignored
            as matches and get heat 0.
        cold, hot: Cosine similarities mapped to 0 and 1.
        tolerance: How much better the partner's best match may be before the heat is gone.

    Returns:
        ``(q_heat, m_heat)``, each (gh, gw) float32 in [0, 1].
    """
    q = np.asarray(q_tokens, dtype=np.float32)
    m = np.asarray(m_tokens, dtype=np.float32)
    if q.ndim != 3 or m.ndim != 3 or q.shape[-1] != m.shape[-1]:
        raise InvalidInputError(f"Token grids must be (gh, gw, C) with one C; got {q.shape} and {m.shape}.")
    qg, mg = q.shape[:2], m.shape[:2]
    qv = _valid_mask(q_valid, qg)
    mv = _valid_mask(m_valid, mg)
    q_heat = np.zeros(qg[0] * qg[1], np.float32)
    m_heat = np.zeros(mg[0] * mg[1], np.float32)
    if qv.any() and mv.any():
        sim = q.reshape(-1, q.shape[-1])[qv] @ m.reshape(-1, m.shape[-1])[mv].T
        best_for_q = sim.max(axis=1)  # each query patch's best match in the other photo
        best_for_m = sim.max(axis=0)
        # How far each patch's partner prefers another patch (0 for best buddies).
        q_gap = best_for_m[sim.argmax(axis=1)] - best_for_q
        m_gap = best_for_q[sim.argmax(axis=0)] - best_for_m
        tol = max(tolerance, 1e-6)
        q_heat[qv] = _to_unit(best_for_q, cold, hot) * np.clip(1.0 - q_gap / tol, 0.0, 1.0)
        m_heat[mv] = _to_unit(best_for_m, cold, hot) * np.clip(1.0 - m_gap / tol, 0.0, 1.0)
    return q_heat.reshape(qg), m_heat.reshape(mg)


def explain(
    embedder: Embedder, query_image: Image.Image, match_image: Image.Image
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps of where ``query_image`` and ``match_image`` correspond, from DINOv2 patch tokens.

    Args:
        embedder: The embedder the registry searched with.
        query_image, match_image: The two photos (PIL, any size).

    Returns:
        ``(query_heat, match_heat)``: float32 arrays in [0, 1], each (H, W) at its photo's size.
    """
    _, tokens = embedder.embed_with_tokens([query_image, match_image])
    grid = tuple(tokens.shape[1:3])
    q_layout = SquareLayout.for_embedder(embedder, query_image.size)
    m_layout = SquareLayout.for_embedder(embedder, match_image.size)
    q_grid, m_grid = explain_tokens(
        tokens[0], tokens[1], q_layout.cell_coverage(grid), m_layout.cell_coverage(grid)
    )
    return _clip01(q_layout.grid_to_image(q_grid)), _clip01(m_layout.grid_to_image(m_grid))


# ---------------------------------------------------------------------------------------- drawing

# Anchor colours sampled from matplotlib's perceptually uniform maps (public domain / BSD data);
# interpolated linearly to 256 entries, which is indistinguishable at overlay strength.
_ANCHORS = {
    "turbo": [
        (48, 18, 59), (70, 107, 227), (41, 187, 236), (49, 242, 153), (163, 253, 61),
        (237, 208, 58), (251, 128, 34), (210, 49, 5), (122, 4, 3),
    ],
    "inferno": [
        (0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
        (245, 125, 21), (250, 193, 39), (252, 255, 164),
    ],
    "gray": [(0, 0, 0), (255, 255, 255)],
}
COLORMAPS = tuple(_ANCHORS)


def colormap_lut(name: str = "turbo") -> np.ndarray:
    """A (256, 3) uint8 lookup table for ``name`` (one of :data:`COLORMAPS`)."""
    if name not in _ANCHORS:
        raise InvalidInputError(f"Unknown colormap {name!r}: use one of {', '.join(COLORMAPS)}.")
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)
    pos = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, pos, anchors[:, c]) for c in range(3)], axis=1)
    return np.clip(lut + 0.5, 0, 255).astype(np.uint8)


def overlay(
    image: Image.Image, heat: np.ndarray, alpha: float = 0.5, colormap: str = "turbo"
) -> Image.Image:
    """Draw a heatmap over a photo: each pixel blends ``alpha * heat`` of the colour over the photo.

    Cold regions show the photo unchanged, hot ones are tinted up to ``alpha``; the photo stays
    readable wherever nothing corresponds.

    Args:
        image: The photo (any mode; converted to RGB).
        heat: (H, W) values in [0, 1]; a map of another size (a token grid, say) is resized to the
            photo with bilinear filtering, so pass photo-sized maps from :func:`explain`.
        alpha: Strength of the tint at heat 1, in [0, 1].
        colormap: One of :data:`COLORMAPS`.

    Returns:
        A new RGB image the size of ``image``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}.")
    rgb = image.convert("RGB")
    h = _clip01(np.asarray(heat, dtype=np.float32))
    if h.ndim != 2:
        raise InvalidInputError(f"A heatmap must be 2-D, got shape {h.shape}.")
    if h.shape != (rgb.height, rgb.width):
        h = np.asarray(Image.fromarray(h, "F").resize(rgb.size, Image.Resampling.BILINEAR), np.float32)
        h = _clip01(h)
    colours = colormap_lut(colormap)[np.round(h * 255).astype(np.uint8)].astype(np.float32)
    weight = (alpha * h)[..., None]
    out = np.asarray(rgb, dtype=np.float32) * (1.0 - weight) + colours * weight
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------- helpers


def _valid_mask(valid: np.ndarray | None, grid: tuple[int, int]) -> np.ndarray:
    if valid is None:
        return np.ones(grid[0] * grid[1], bool)
    valid = np.asarray(valid)
    if valid.shape != tuple(grid):
        raise InvalidInputError(f"Validity map {valid.shape} does not match the token grid {tuple(grid)}.")
    return valid.reshape(-1) >= MIN_CELL_COVERAGE


def _to_unit(values: np.ndarray, cold: float, hot: float) -> np.ndarray:
    return np.clip((values - cold) / max(hot - cold, 1e-6), 0.0, 1.0).astype(np.float32)


def _clip01(a: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0).astype(np.float32, copy=False)
