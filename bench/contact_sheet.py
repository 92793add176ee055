"""Contact sheets to look at: the dog crops found in a folder, and explain heatmaps of real pairs.

    nice .venv/bin/python bench/contact_sheet.py crops [--folder ../shared/data/pets-mixed]
        [--methods saliency,pca] [--out /tmp/lostpet_crops.png]
    nice .venv/bin/python bench/contact_sheet.py explain [--data ../shared/data] [--out /tmp/lostpet_explain.png]

``crops``: one tile per photo and method: the photo with every candidate box (best in magenta,
others in cyan, numbered), the auto-crop decision (``crop`` / ``keep``: the dog already fills the
frame) with the best box's fill, and the crop itself beside it.
``explain``: MPDD val photos with their best gallery match (same dog) and a photo of another dog,
each pair overlaid with :func:`reid_engine.heatmap.explain`.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from _common import DEFAULT_DATA
from PIL import Image, ImageDraw

from reid_engine.crop import DEFAULT_MIN_FILL, DogFinder, choose_crop
from reid_engine.embedder import Embedder
from reid_engine.evaluation import scan_labelled
from reid_engine.heatmap import explain, overlay
from reid_engine.images import iter_image_files, load_image

TILE = 220


def _fit(image: Image.Image, side: int = TILE) -> Image.Image:
    image = image.copy()
    image.thumbnail((side, side))
    return image


def crop_tile(finder: DogFinder, path: Path, min_fill: float) -> Image.Image:
    image = load_image(path)
    boxes = finder.find(image)
    crop, used = choose_crop(image, boxes, min_fill=min_fill)
    shown = _fit(image)
    k = shown.width / image.width
    draw = ImageDraw.Draw(shown)
    for n, box in reversed(list(enumerate(boxes))):
        colour = (255, 0, 255) if n == 0 else (0, 220, 255)
        x0, y0, x1, y1 = (v * k for v in box.xyxy)
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=3 if n == 0 else 2)
        draw.text((x0 + 4, y0 + 2), str(n + 1), fill=colour)
    tile = Image.new("RGB", (2 * TILE + 10, TILE + 30), "white")
    tile.paste(shown, (0, 0))
    tile.paste(_fit(crop if used is not None else image, TILE), (TILE + 10, 0))
    fill = f"{boxes[0].fill(image.size):.0%}" if boxes else "-"
    decision = "crop" if used is not None else "keep"
    text = f"{path.stem[:22]}  {finder.method}: {len(boxes)} box(es), fill {fill}, {decision}"
    ImageDraw.Draw(tile).text((2, TILE + 8), text, fill=(0, 0, 0))
    return tile


def sheet(tiles: list[Image.Image], columns: int) -> Image.Image:
    w, h = tiles[0].size
    rows = (len(tiles) + columns - 1) // columns
    out = Image.new("RGB", (columns * (w + 8), rows * (h + 8)), (235, 235, 235))
    for i, tile in enumerate(tiles):
        out.paste(tile, ((i % columns) * (w + 8), (i // columns) * (h + 8)))
    return out


def run_crops(args: argparse.Namespace) -> None:
    embedder = Embedder.load()
    paths = list(iter_image_files(args.folder))
    tiles = []
    for method in args.methods.split(","):
        finder = DogFinder(embedder, method)
        tiles += [crop_tile(finder, p, args.min_fill) for p in paths]
    sheet(tiles, args.columns).save(args.out)
    print(f"{len(tiles)} tiles -> {args.out}")


def run_explain(args: argparse.Namespace) -> None:
    embedder = Embedder.load()
    query = scan_labelled(args.data / "mpdd-dev/images/val")
    gallery = scan_labelled(args.data / "mpdd-dev/images/train")
    by_dog: dict[str, list[Path]] = {}
    for p, lab in zip(gallery.paths, gallery.labels):
        by_dog.setdefault(lab, []).append(p)
    rng = random.Random(args.seed)
    picks = rng.sample(range(len(query)), args.pairs)
    tiles = []
    for i in picks:
        q_path, dog = query.paths[i], query.labels[i]
        same = rng.choice(by_dog[dog])
        other = rng.choice(by_dog[rng.choice([d for d in by_dog if d != dog])])
        row = Image.new("RGB", (4 * (TILE + 6), TILE + 24), "white")
        for j, (m_path, label) in enumerate(((same, "same dog"), (other, "other dog"))):
            q_img, m_img = load_image(q_path), load_image(m_path)
            q_heat, m_heat = explain(embedder, q_img, m_img)
            row.paste(_fit(overlay(q_img, q_heat)), (2 * j * (TILE + 6), 0))
            row.paste(_fit(overlay(m_img, m_heat)), ((2 * j + 1) * (TILE + 6), 0))
            ImageDraw.Draw(row).text(
                (2 * j * (TILE + 6) + 4, TILE + 6),
                f"{label}: mean heat {q_heat.mean():.2f} / {m_heat.mean():.2f}", fill=(0, 0, 0),
            )
        tiles.append(row)
    sheet(tiles, 1).save(args.out)
    print(f"{len(tiles)} rows -> {args.out}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("crops")
    c.add_argument("--folder", type=Path, default=DEFAULT_DATA / "pets-mixed")
    c.add_argument("--methods", default="saliency")
    c.add_argument("--min-fill", type=float, default=DEFAULT_MIN_FILL)
    c.add_argument("--columns", type=int, default=4)
    c.add_argument("--out", type=Path, default=Path("/tmp/lostpet_crops.png"))
    e = sub.add_parser("explain")
    e.add_argument("--data", type=Path, default=DEFAULT_DATA)
    e.add_argument("--pairs", type=int, default=6)
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--out", type=Path, default=Path("/tmp/lostpet_explain.png"))
    args = ap.parse_args(argv)
    run_crops(args) if args.what == "crops" else run_explain(args)


if __name__ == "__main__":
    main()
