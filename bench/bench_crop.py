"""Automatic dog cropping, measured: box accuracy and retrieval on dogs pasted into larger scenes.

Real intake photos show the dog as a fraction of the frame; the evaluation sets are tight crops.
This bench builds the realistic case from MPDD: every dog crop (val and train) is pasted, at its own
resolution, at a random position into a larger generated scene (indoor wall and floor, kennel bars,
lawn and bushes, furniture, a person-sized figure) so that the dog covers 4-25% of the frame, with
a feathered edge. The paste box is the ground truth. Then, for each dog-finding method:

* box IoU with the paste box (mean, and share of photos with IoU >= 0.5);
* MPDD Rank-1/mAP (val queries vs train gallery) embedding the whole frame, the auto-crop, and the
  original crops (the ceiling);
* the same auto-crop applied to the original crops, which must not hurt (the dog fills the frame,
  so auto-crop should leave most of them alone).

    nice .venv/bin/python bench/bench_crop.py [--data ../shared/data] [--methods saliency,pca]
        [--limit N] [--work /tmp/lostpet_pasted]
"""

from __future__ import annotations

import argparse
import colorsys
import json
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA, require_data, table
from PIL import Image, ImageDraw, ImageFilter

from bench_guided import metrics_from_sims
from reid_engine.crop import DEFAULT_MARGIN, DEFAULT_MIN_FILL, Box, DogFinder, choose_crop
from reid_engine.embedder import Embedder
from reid_engine.evaluation import rank_metrics
from reid_engine.images import load_image


# ------------------------------------------------------------------------------ generated scenes

MAX_SIDE = 3000


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    w, h = size
    small = rng.random((max(2, cells * h // max(w, h)), max(2, cells * w // max(w, h)))).astype(np.float32)
    return np.asarray(Image.fromarray(small, "F").resize((w, h), Image.Resampling.BICUBIC))


def _colour(rng: np.random.Generator, hue=None, sat=(0.05, 0.5), val=(0.3, 0.95)) -> tuple[int, int, int]:
    h = rng.random() if hue is None else rng.uniform(*hue)
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def make_scene(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A plausible, dog-free background: indoor, kennel or outdoor, with clutter."""
    w, h = size
    kind = rng.choice(["indoor", "kennel", "outdoor"])
    horizon = int(h * rng.uniform(0.35, 0.65))
    y = np.arange(h, dtype=np.float32)[:, None, None]
    if kind == "outdoor":
        top, bottom = np.array(_colour(rng, (0.5, 0.65), (0.1, 0.5), (0.6, 1.0))), np.array(
            _colour(rng, (0.2, 0.35), (0.3, 0.7), (0.25, 0.6)))
    else:
        top, bottom = np.array(_colour(rng)), np.array(_colour(rng, sat=(0.05, 0.4), val=(0.2, 0.8)))
    blend = np.clip((y - horizon) / max(1, h * 0.02), 0, 1)
    img = top * (1 - blend) + bottom * blend
    img = np.broadcast_to(img, (h, w, 3)).copy()
    img *= (0.8 + 0.4 * _smooth_noise(rng, size, 6))[..., None]
    texture = rng.normal(0, 1, (h, w, 1)).astype(np.float32)
    img += texture * (18 if kind == "outdoor" else 6)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(canvas)
    if kind != "outdoor":  # floor planks or tiles
        step = int(rng.uniform(0.03, 0.1) * h)
        for yy in range(horizon, h, max(4, step)):
            draw.line([(0, yy), (w, yy)], fill=_colour(rng, val=(0.1, 0.5)), width=1)
    for _ in range(int(rng.integers(2, 7))):  # furniture, doors, bushes, buckets
        x0, y0 = rng.uniform(-0.1, 0.9) * w, rng.uniform(0.0, 0.8) * h
        bw, bh = rng.uniform(0.08, 0.35) * w, rng.uniform(0.08, 0.5) * h
        fill = _colour(rng, (0.2, 0.4), (0.3, 0.8), (0.1, 0.5)) if kind == "outdoor" else _colour(rng)
        shape = draw.ellipse if (kind == "outdoor" or rng.random() < 0.3) else draw.rectangle
        shape([x0, y0, x0 + bw, y0 + bh], fill=fill)
    if rng.random() < 0.4:  # a person-sized figure: legs, coat and head
        px, pw = rng.uniform(0.05, 0.85) * w, rng.uniform(0.08, 0.14) * w
        top_y = rng.uniform(0.05, 0.3) * h
        coat = _colour(rng, sat=(0.2, 0.8))
        draw.rectangle([px, top_y + 0.12 * h, px + pw, h * 0.7], fill=coat)
        draw.rectangle([px + pw * 0.1, h * 0.7, px + pw * 0.9, h], fill=_colour(rng, val=(0.1, 0.4)))
        draw.ellipse([px + pw * 0.2, top_y, px + pw * 0.8, top_y + 0.12 * h], fill=(224, 180, 150))
    if kind == "kennel":  # fence bars behind the dog
        step = int(rng.uniform(0.03, 0.07) * w)
        bar = _colour(rng, sat=(0.0, 0.1), val=(0.5, 0.9))
        for xx in range(int(rng.integers(0, step)), w, max(4, step)):
            draw.line([(xx, 0), (xx, horizon + int(0.1 * h))], fill=bar, width=max(1, step // 8))
    return canvas.filter(ImageFilter.GaussianBlur(0.6))


def paste_dog(rng: np.random.Generator, dog: Image.Image, fill_range: tuple[float, float]) -> tuple[Image.Image, Box]:
    """The dog crop at its own resolution inside a larger scene; returns the photo and the paste box."""
    dw, dh = dog.size
    fill = rng.uniform(*fill_range)
    aspect = float(rng.choice([4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4]))
    area = dw * dh / fill
    w = max(dw + 2, int(round(np.sqrt(area * aspect))))
    h = max(dh + 2, int(round(area / w)))
    if max(w, h) > MAX_SIDE:  # a phone photo at most: shrink scene and dog together
        k = MAX_SIDE / max(w, h)
        w, h = max(2, int(w * k)), max(2, int(h * k))
        dog = dog.resize((max(1, int(dw * k)), max(1, int(dh * k))), Image.Resampling.LANCZOS)
        dw, dh = dog.size
    scene = make_scene(rng, (w, h))
    x, y = int(rng.integers(0, w - dw + 1)), int(rng.integers(0, h - dh + 1))
    # Feathered edge: the crop's own background blends into the scene over ~6% of its size.
    feather = max(1, int(0.06 * min(dw, dh)))
    alpha = Image.new("L", (dw, dh), 0)
    ImageDraw.Draw(alpha).rectangle([feather, feather, dw - 1 - feather, dh - 1 - feather], fill=255)
    alpha = alpha.filter(ImageFilter.GaussianBlur(feather / 2))
    scene.paste(dog, (x, y), alpha)
    return scene, Box(x, y, dw, dh)


def build_pasted_set(data: Path, work: Path, fill_range: tuple[float, float], seed: int, limit: int | None) -> dict:
    """Write the pasted photos under ``work`` (once) and return {relative path: paste box}."""
    manifest = work / "boxes.json"
    key = {"fill_range": list(fill_range), "seed": seed, "limit": limit, "version": 3, "max_side": MAX_SIDE}
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("key") == key:
            return {k: Box(**v) for k, v in saved["boxes"].items()}
    boxes = {}
    src_root = data / "mpdd-dev" / "images"
    for split in ("val", "train"):
        paths = sorted((src_root / split).glob("*.jpg"))
        if limit:
            paths = paths[:limit]
        for i, p in enumerate(paths):
            rng = np.random.default_rng([seed, i, 0 if split == "val" else 1])
            photo, box = paste_dog(rng, load_image(p), fill_range)
            out = work / "images" / split / p.name
            out.parent.mkdir(parents=True, exist_ok=True)
            photo.save(out, "JPEG", quality=92)
            boxes[f"{split}/{p.name}"] = box
    manifest.write_text(json.dumps({"key": key, "boxes": {k: b.to_dict() for k, b in boxes.items()}}))
    return boxes


# ------------------------------------------------------------------------------ measuring


def embed_paths(embedder: Embedder, paths: list[Path], transform, decode_min_side: int | None) -> np.ndarray:
    """Decode, transform and embed photos in batches (only one batch in memory)."""
    out = []
    for start in range(0, len(paths), 32):
        batch = [transform(load_image(p, min_side=decode_min_side), p) for p in paths[start : start + 32]]
        out.append(embedder.embed(batch))
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lostpet_pasted"))
    ap.add_argument("--methods", default="saliency,pca,attention")
    ap.add_argument("--fill", type=float, nargs=2, default=(0.04, 0.25), metavar=("MIN", "MAX"))
    ap.add_argument("--min-fill", type=float, default=DEFAULT_MIN_FILL)
    ap.add_argument("--decode-min-side", type=int, default=None,
                    help="decode photos this small (the registry decodes at 224 before embedding)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="photos per split (quick runs)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    data = require_data(args.data)

    t0 = time.perf_counter()
    boxes = build_pasted_set(data, args.work, tuple(args.fill), args.seed, args.limit)
    print(f"pasted set: {len(boxes)} photos in {args.work} ({time.perf_counter() - t0:.0f}s)", flush=True)
    embedder = Embedder.load()
    names = {s: sorted(k.split("/", 1)[1] for k in boxes if k.startswith(s + "/")) for s in ("val", "train")}
    labels = {s: [n.split("_", 1)[0] for n in names[s]] for s in names}
    pasted = {s: [args.work / "images" / s / n for n in names[s]] for s in names}
    originals = {s: [data / "mpdd-dev" / "images" / s / n for n in names[s]] for s in names}
    dms = args.decode_min_side

    last: dict[str, np.ndarray] = {}

    def score(paths: dict[str, list[Path]], transform) -> tuple[float, float]:
        vec = {s: embed_paths(embedder, paths[s], transform, dms) for s in ("val", "train")}
        last.update(vec)
        r1, _, m, _ = rank_metrics(vec["val"], labels["val"], vec["train"], labels["train"])
        return r1, m

    rows, box_rows = [], []
    r1, m = score(pasted, lambda im, p: im)
    rows.append(dict(input="whole pasted frame", method="-", rank1=r1, mAP=m, cropped="0%"))
    print(rows[-1], flush=True)

    for method in [m for m in args.methods.split(",") if m]:
        finder = DogFinder(embedder, method)
        stats = {"iou": [], "iou_any": [], "cropped": 0, "n": 0, "secs": 0.0, "candidates": {}}

        def crop_pasted(image, path, finder=finder, stats=stats):
            t1 = time.perf_counter()
            found = finder.find(image, max_dogs=4)
            stats["secs"] += time.perf_counter() - t1
            truth = boxes[f"{path.parent.name}/{path.name}"]
            if image.size != _pasted_size(path):  # decoded smaller: scale the truth
                k = image.size[0] / _pasted_size(path)[0]
                truth = Box(int(truth.x * k), int(truth.y * k), max(1, int(truth.w * k)), max(1, int(truth.h * k)))
            stats["iou"].append(found[0].iou(truth) if found else 0.0)
            stats["iou_any"].append(max((b.iou(truth) for b in found), default=0.0))
            if path.parent.name == "val":  # every candidate, for the multi-crop query below
                stats["candidates"][path] = [image.crop(b.expand(DEFAULT_MARGIN, image.size).xyxy) for b in found] or [image]
            crop, used = choose_crop(image, found, min_fill=args.min_fill)
            stats["cropped"] += used is not None
            stats["n"] += 1
            return crop

        r1, m = score(pasted, crop_pasted)
        n = stats["n"]
        rows.append(dict(input="pasted, auto-crop", method=method, rank1=r1, mAP=m,
                         cropped=f"{100 * stats['cropped'] / n:.0f}%"))
        # A query photo searched with every candidate crop (best similarity wins); gallery as above.
        sims = np.stack([
            (embedder.embed(stats["candidates"][p]) @ last["train"].T).max(axis=0) for p in pasted["val"]
        ])
        r1, m = metrics_from_sims(sims, labels["val"], labels["train"], leave_one_out=False)
        rows.append(dict(input="pasted, auto-crop, query = all candidate crops", method=method, rank1=r1, mAP=m,
                         cropped=f"{100 * stats['cropped'] / n:.0f}%"))
        ious, any_ious = np.asarray(stats["iou"]), np.asarray(stats["iou_any"])
        box_rows.append(dict(method=method, mean_iou=float(ious.mean()), iou_ge_05=f"{100 * (ious >= 0.5).mean():.1f}%",
                             iou_ge_07=f"{100 * (ious >= 0.7).mean():.1f}%",
                             any_candidate_ge_05=f"{100 * (any_ious >= 0.5).mean():.1f}%",
                             ms_per_photo=1000 * stats["secs"] / n))
        print(rows[-2], rows[-1], box_rows[-1], flush=True)
        # The default must not hurt photos that are already cropped.
        ostats = {"cropped": 0, "n": 0}

        def crop_original(image, path, finder=finder, ostats=ostats):
            crop, used = finder.auto_crop(image, min_fill=args.min_fill)
            ostats["cropped"] += used is not None
            ostats["n"] += 1
            return crop

        r1, m = score(originals, crop_original)
        rows.append(dict(input="original crops, auto-crop", method=method, rank1=r1, mAP=m,
                         cropped=f"{100 * ostats['cropped'] / ostats['n']:.0f}%"))
        print(rows[-1], flush=True)

    r1, m = score(originals, lambda im, p: im)
    rows.append(dict(input="original crops (ceiling)", method="-", rank1=r1, mAP=m, cropped="0%"))

    print(f"\nMPDD val->train, dogs pasted at {args.fill[0]:.0%}-{args.fill[1]:.0%} of the frame, "
          f"auto-crop min_fill={args.min_fill}, decode min_side={dms or 'full'}")
    print(table(rows, ["input", "method", "rank1", "mAP", "cropped"]))
    print("\nbox found vs paste box (best box per photo; any of up to 4 candidates; time = finding only)")
    print(table(box_rows, ["method", "mean_iou", "iou_ge_05", "iou_ge_07", "any_candidate_ge_05", "ms_per_photo"]))
    if args.json:
        args.json.write_text(json.dumps({"retrieval": rows, "boxes": box_rows}, indent=2))


def _pasted_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


if __name__ == "__main__":
    main()
