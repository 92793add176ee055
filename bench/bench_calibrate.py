"""Calibrate the score bands ("likely same dog" / "possible" / "unlikely") on real dogs.

A search shows one score per dog: the best cosine similarity between the query and that dog's
photos. For every query photo this script collects the score of its own dog (genuine) and of every
other dog (impostor), on dogs the re-ID head never saw (dogfacenet-dev identities with
``id % 5 == 2``, and all of mpdd-dev val -> train), then prints, for candidate thresholds, how many
wrong dogs per search would reach that band and how often the right dog does.

The defaults in :class:`reid_engine.settings.Settings` come from this table: "likely" where about
1 search in 100 shows a wrong dog in that band, "possible" where about 1 in 5 does.

    .venv/bin/python bench/bench_calibrate.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import DEFAULT_DATA, require_data, table

from reid_engine.embedder import Embedder, EmbedderConfig
from reid_engine.evaluation import calibrate_bands, dog_scores
from training.common import holdout_mask, pool_features
from training.features import cached_features


def vectors(emb: Embedder, fs) -> np.ndarray:
    pooled = pool_features(fs.cls, fs.mean, emb.config.pooling)
    if emb.head is None:
        return pooled
    with torch.inference_mode():
        out = emb.head(torch.from_numpy(pooled))
    return torch.nn.functional.normalize(out, dim=-1).numpy()


def report(name: str, genuine: np.ndarray, impostors: np.ndarray) -> list[dict]:
    rows = []
    for t in np.round(np.arange(0.50, 0.995, 0.02), 2):
        rows.append(dict(
            set=name, threshold=float(t),
            right_dog_reaches=100.0 * float((genuine >= t).mean()),
            searches_with_a_wrong_dog=100.0 * float((impostors >= t).any(axis=1).mean()),
            wrong_dogs_per_search=float((impostors >= t).sum(axis=1).mean()),
        ))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--no-head", action="store_true")
    args = ap.parse_args()
    data = require_data(args.data)
    emb = Embedder.load(config=EmbedderConfig(device="cpu"), use_head=not args.no_head)
    print(f"pooling {emb.config.pooling}, head {emb.head_id or 'none'}")
    rows = []
    # dogfacenet photos are square, so every square-fitting mode gives the same input: reuse the
    # cache made with "pad" (by the head trainer and bench_pooling).
    fs = cached_features(emb.with_config(square="pad"), data / "dogfacenet-dev", flip=True)
    held = holdout_mask(fs.labels, 5, 2)
    held_fs = fs.subset(held)
    v = vectors(emb, held_fs)
    faces = dog_scores(v, held_fs.labels, v, held_fs.labels, same_set=True)
    rows += report("dogfacenet held-out", *faces)
    fq = cached_features(emb, data / "mpdd-dev" / "images" / "val")
    fg = cached_features(emb, data / "mpdd-dev" / "images" / "train")
    mpdd = dog_scores(vectors(emb, fq), fq.labels, vectors(emb, fg), fg.labels, same_set=False)
    rows += report("mpdd val->train", *mpdd)
    print(table(rows, ["set", "threshold", "right_dog_reaches", "searches_with_a_wrong_dog",
                       "wrong_dogs_per_search"]))
    print(f"\ncalibrated on the held-out faces (calibrate_bands): likely, possible = {calibrate_bands(faces[1])}; "
          f"on MPDD alone: {calibrate_bands(mpdd[1])}; the model's bands in use: {emb.bands}")


if __name__ == "__main__":
    main()
