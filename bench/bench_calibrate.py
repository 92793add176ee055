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
from training.common import holdout_mask, pool_features
from training.features import cached_features


def vectors(emb: Embedder, fs) -> np.ndarray:
    pooled = pool_features(fs.cls, fs.mean, emb.config.pooling)
    if emb.head is None:
        return pooled
    with torch.inference_mode():
        out = emb.head(torch.from_numpy(pooled))
    return torch.nn.functional.normalize(out, dim=-1).numpy()


def dog_scores(q, q_lab, g, g_lab, *, same_set: bool):
    """(genuine scores, impostor scores per query) with per-dog max aggregation."""
    sims = q @ g.T
    if same_set:
        np.fill_diagonal(sims, -np.inf)
    dogs, g_codes = np.unique(np.asarray(g_lab), return_inverse=True)
    per_dog = np.full((len(q), len(dogs)), -np.inf, np.float32)
    for d in range(len(dogs)):
        per_dog[:, d] = sims[:, g_codes == d].max(axis=1)
    code = {lab: i for i, lab in enumerate(dogs)}
    genuine, impostors = [], []
    for i, lab in enumerate(q_lab):
        own = code.get(lab)
        if own is None or not np.isfinite(per_dog[i, own]):
            continue
        genuine.append(per_dog[i, own])
        impostors.append(np.delete(per_dog[i], own))
    return np.asarray(genuine), np.stack(impostors)


def report(name: str, genuine: np.ndarray, impostors: np.ndarray) -> list[dict]:
    rows = []
    for t in np.concatenate([np.arange(0.50, 0.90, 0.10), np.arange(0.90, 0.995, 0.01)]):
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
    rows += report("dogfacenet held-out", *dog_scores(v, held_fs.labels, v, held_fs.labels, same_set=True))
    fq = cached_features(emb, data / "mpdd-dev" / "images" / "val")
    fg = cached_features(emb, data / "mpdd-dev" / "images" / "train")
    rows += report("mpdd val->train", *dog_scores(vectors(emb, fq), fq.labels, vectors(emb, fg), fg.labels,
                                                   same_set=False))
    print(table(rows, ["set", "threshold", "right_dog_reaches", "searches_with_a_wrong_dog",
                       "wrong_dogs_per_search"]))


if __name__ == "__main__":
    main()
