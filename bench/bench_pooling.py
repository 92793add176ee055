"""Pooling and square-fitting choices, measured on real dogs (the table in the README).

For each evaluation set, every photo goes through the backbone once per square-fitting mode; the
CLS token, the mean patch token and their normalised sum are scored from that same pass.

    .venv/bin/python bench/bench_pooling.py [--data ../shared/data] [--random-floor]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time

import numpy as np
import torch
import torch.nn.functional as F
from _common import DEFAULT_DATA, require_data, table

from reid_engine.embedder import Embedder, EmbedderConfig
from reid_engine.evaluation import rank_metrics, scan_labelled


def pooled_features(embedder: Embedder, paths) -> dict[str, np.ndarray]:
    """{pooling: (n, d)} from one backbone pass per photo."""
    out = {"cls": [], "mean": [], "cls+mean": []}
    for start in range(0, len(paths), 32):
        batch = np.stack([embedder.preprocess(embedder.load_photo(p)) for p in paths[start : start + 32]])
        x = (torch.from_numpy(batch) - embedder._mean_t) / embedder._std_t
        with torch.inference_mode():
            feats = embedder.model.forward_features(x)
        cls_tok = F.normalize(feats[:, 0], dim=-1)
        mean_tok = F.normalize(feats[:, embedder.num_prefix_tokens :].mean(1), dim=-1)
        out["cls"].append(cls_tok)
        out["mean"].append(mean_tok)
        out["cls+mean"].append(F.normalize(cls_tok + mean_tok, dim=-1))
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def run(embedder: Embedder, data, label: str, squares) -> list[dict]:
    rows = []
    dfn = scan_labelled(data / "dogfacenet-dev")
    mq = scan_labelled(data / "mpdd-dev" / "images" / "val")
    mg = scan_labelled(data / "mpdd-dev" / "images" / "train")
    t0 = time.perf_counter()
    for square in squares:
        emb = embedder.with_config(square=square)
        fq, fg = pooled_features(emb, mq.paths), pooled_features(emb, mg.paths)
        for pooling in fq:
            r1, r5, m, n = rank_metrics(fq[pooling], mq.labels, fg[pooling], mg.labels)
            rows.append(dict(weights=label, set="mpdd val->train", square=square, pooling=pooling,
                             rank1=r1, rank5=r5, mAP=m, queries=n))
            print(rows[-1], flush=True)
    feats = pooled_features(embedder.with_config(square="pad"), dfn.paths)
    for pooling, f in feats.items():
        r1, r5, m, n = rank_metrics(f, dfn.labels, f, dfn.labels, leave_one_out=True)
        rows.append(dict(weights=label, set="dogfacenet LOO", square="(square photos)", pooling=pooling,
                         rank1=r1, rank5=r5, mAP=m, queries=n))
        print(rows[-1], flush=True)
    print(f"[{label}] {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--random-floor", action="store_true", help="also score a random-init ViT-S/14")
    args = ap.parse_args()
    data = require_data(args.data)
    cols = ["weights", "set", "square", "pooling", "rank1", "rank5", "mAP", "queries"]
    rows = run(Embedder.load(use_head=False, config=EmbedderConfig(device="cpu")), data, "DINOv2",
               ("pad", "squash", "center-crop"))
    print(table(rows, cols), flush=True)
    if args.random_floor:
        floor = Embedder.random_init(tiny=False, seed=0)
        rows = run(floor, data, "random-init", ("pad",))
        print(table(rows, cols), flush=True)


if __name__ == "__main__":

    main()
