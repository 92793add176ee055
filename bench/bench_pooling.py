"""Pooling and square-fitting choices, measured on real dogs (the table in the README).

Backbone features (class token and mean patch token of every photo) come from the training
feature cache (:func:`training.features.cached_features`, keyed by weights, preprocessing and
files), so every pooling is scored from one backbone pass per photo and square-fitting mode, and a
second run costs seconds.

    .venv/bin/python bench/bench_pooling.py [--data ../shared/data] [--random-floor]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import DEFAULT_DATA, require_data, table

from reid_engine.embedder import Embedder, EmbedderConfig
from reid_engine.evaluation import rank_metrics
from training.common import pool_features
from training.features import cached_features

POOLINGS = ("cls", "mean", "cls+mean")


def score(embedder: Embedder, data: Path, label: str, squares) -> list[dict]:
    rows = []
    for square in squares:
        emb = embedder.with_config(square=square)
        fq = cached_features(emb, data / "mpdd-dev" / "images" / "val")
        fg = cached_features(emb, data / "mpdd-dev" / "images" / "train")
        for pooling in POOLINGS:
            r1, r5, m, n = rank_metrics(
                pool_features(fq.cls, fq.mean, pooling), fq.labels,
                pool_features(fg.cls, fg.mean, pooling), fg.labels,
            )
            rows.append(dict(weights=label, set="mpdd val->train", square=square, pooling=pooling,
                             rank1=r1, rank5=r5, mAP=m, queries=n))
            print(rows[-1], flush=True)
    # dogfacenet photos are square already: the square-fitting mode makes no difference there.
    fs = cached_features(embedder.with_config(square="pad"), data / "dogfacenet-dev", flip=True)
    for pooling in POOLINGS:
        f = pool_features(fs.cls, fs.mean, pooling)
        r1, r5, m, n = rank_metrics(f, fs.labels, f, fs.labels, leave_one_out=True)
        rows.append(dict(weights=label, set="dogfacenet LOO", square="-", pooling=pooling,
                         rank1=r1, rank5=r5, mAP=m, queries=n))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--random-floor", action="store_true", help="also score a random-init ViT-S/14")
    ap.add_argument("--squares", default="pad,squash,center-crop")
    args = ap.parse_args()
    data = require_data(args.data)
    cols = ["weights", "set", "square", "pooling", "rank1", "rank5", "mAP", "queries"]
    real = Embedder.load(use_head=False, config=EmbedderConfig(device="cpu"))
    rows = score(real, data, "DINOv2", args.squares.split(","))
    if args.random_floor:
        rows += score(Embedder.random_init(tiny=False, seed=0), data, "random-init", ("pad",))
    print(table(rows, cols), flush=True)


if __name__ == "__main__":
    main()
