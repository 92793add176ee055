"""``lostpet-cli eval``: measure re-identification on a labelled photo set."""

from __future__ import annotations

import argparse

from ..evaluation import evaluate
from .common import add_json_option, add_model_options, load_embedder, print_json, progress_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure Rank-1/Rank-5/mAP on labelled photos",
        description=(
            "Measure re-identification on labelled photos. PATH holds one sub-folder per dog "
            "(leave-one-out: each photo queries all the others), or query/ and gallery/ folders "
            "(also under images/). With --query/--gallery, a photo's dog id is its sub-folder, or "
            "its file name up to the first '_'. Never writes into the registry."
        ),
    )
    p.add_argument("path", nargs="?", help="labelled photo folder")
    p.add_argument("--query", metavar="DIR", help="query photos (relative to PATH if given)")
    p.add_argument("--gallery", metavar="DIR", help="gallery photos (relative to PATH if given)")
    p.add_argument("--pooling", choices=("cls", "mean", "cls+mean"), help="override the pooling")
    p.add_argument("--square", choices=("pad", "squash", "center-crop"), help="override square fitting")
    p.add_argument("--precision", choices=("fp32", "bf16"), help="override the precision")
    add_model_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = {k: v for k in ("pooling", "square", "precision") if (v := getattr(args, k))}
    embedder = load_embedder(args, **overrides)
    bar = progress_bar(0, "embedding")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        result = evaluate(embedder, args.path, query=args.query, gallery=args.gallery, progress=progress)
    finally:
        bar.close()
    out = result.to_dict()
    out["model"] = embedder.describe()
    if args.json:
        print_json(out)
        return 0
    print(f"protocol     {result.protocol}")
    print(f"queries      {result.n_queries}")
    print(f"gallery      {result.n_gallery}")
    print(f"Rank-1       {result.rank1:.2f}")
    print(f"Rank-5       {result.rank5:.2f}")
    print(f"mAP          {result.mAP:.2f}")
    print(f"images/s     {result.images_per_s:.1f}")
    print(f"weights      {embedder.describe()['weights_source']} ({embedder.weights_sha256[:12]})")
    if result.failed:
        print(f"unreadable   {len(result.failed)} photo(s), skipped:")
        for line in result.failed[:10]:
            print(f"  {line}")
    return 0
