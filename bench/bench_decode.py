"""Time decoding a 12-megapixel phone photo for a 224 x 224 model input.

Compares the engine's path, ``load_image(path, min_side=224)`` (JPEG DCT scaling) followed by
``fit_square(image, 224)``, with the naive ``Image.open(path).convert("RGB").resize((224, 224))``.

The test photo is a real dog photo (the first of ``../shared/data/dogfacenet-dev`` unless ``--photo``
names one; a generated dog when neither exists) cropped to 4:3 and upscaled to 4000 x 3000, saved as
a quality-90 JPEG. An upscaled photo is smoother than a real 12 MP photo and so compresses to a
smaller file, which makes entropy decoding (paid by both paths) cheaper than in real life;
``--grain`` adds sensor-like noise to get a file size closer to a real phone photo.

Usage::

    .venv/bin/python bench/bench_decode.py [--photo PATH] [--runs 9] [--grain 0] [--keep DIR]

Prints the median time of each path over ``--runs`` runs (after one warm-up) and the speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO_DIR = REPO_ROOT.parent / "shared" / "data" / "dogfacenet-dev"
SIZE = (4000, 3000)
MODEL_SIDE = 224


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, help="a real dog photo to upscale (default: first of dogfacenet-dev)")
    parser.add_argument("--runs", type=int, default=9, help="timed runs per path (median reported; >= 7)")
    parser.add_argument("--grain", type=float, default=0.0, help="std of added noise, in 8-bit levels")
    parser.add_argument("--keep", type=Path, help="write the 12 MP JPEG into this folder and keep it")
    args = parser.parse_args(argv)
    if args.runs < 7:
        parser.error("--runs must be at least 7")
    if args.photo is not None and not args.photo.is_file():
        parser.error(f"--photo {args.photo} is not a file")

    sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing
    from reid_engine.images import fit_square, load_image

    source, source_name = _source_photo(args.photo)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench_12mp.jpg"
        _make_12mp_jpeg(source, path, args.grain)

        def engine() -> Image.Image:
            return fit_square(load_image(path, min_side=MODEL_SIDE), MODEL_SIDE)

        def naive() -> Image.Image:
            return Image.open(path).convert("RGB").resize((MODEL_SIDE, MODEL_SIDE))

        engine_ms = _median_ms(engine, args.runs)
        naive_ms = _median_ms(naive, args.runs)
        decoded = load_image(path, min_side=MODEL_SIDE).size
        file_mb = path.stat().st_size / 1e6

    print(f"photo: {source_name} -> {SIZE[0]}x{SIZE[1]} JPEG q90, {file_mb:.2f} MB, grain {args.grain:g}")
    print(f"median of {args.runs} runs after 1 warm-up:")
    print(f"  load_image(min_side={MODEL_SIDE}) + fit_square: {engine_ms:8.1f} ms  (decoded at {decoded[0]}x{decoded[1]})")
    print(f"  naive open+convert+resize:              {naive_ms:8.1f} ms")
    print(f"  speed-up: {naive_ms / engine_ms:.1f}x")
    return 0


def _source_photo(photo: Path | None) -> tuple[Image.Image, str]:
    if photo is not None:
        return Image.open(photo).convert("RGB"), str(photo)
    candidates = sorted(DEFAULT_PHOTO_DIR.glob("*/*.jpg")) if DEFAULT_PHOTO_DIR.is_dir() else []
    if candidates:
        return Image.open(candidates[0]).convert("RGB"), str(candidates[0])
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from photos import dog_image

    return dog_image(0, (640, 480))[0], "generated dog (no real photo found)"


def _make_12mp_jpeg(source: Image.Image, path: Path, grain: float) -> None:
    width, height = source.size
    target_ratio = SIZE[0] / SIZE[1]
    if width / height > target_ratio:  # crop to 4:3 first so the dog is not stretched
        crop_w = round(height * target_ratio)
        box = ((width - crop_w) / 2, 0, (width + crop_w) / 2, height)
    else:
        crop_h = round(width / target_ratio)
        box = (0, (height - crop_h) / 2, width, (height + crop_h) / 2)
    big = source.resize(SIZE, Image.Resampling.BICUBIC, box=box)
    if grain > 0:
        noise = np.random.default_rng(0).normal(0, grain, (SIZE[1], SIZE[0], 3))
        big = Image.fromarray(np.clip(np.asarray(big) + noise, 0, 255).astype(np.uint8))
    big.save(path, "JPEG", quality=90)


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: file cache, plugin import
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())
