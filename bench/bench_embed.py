"""Embedding throughput (images/s) at batch 1 and 32, fp32 vs bf16 autocast, in one run.

Also checks the accuracy cost of bf16 on dogfacenet-dev (leave-one-out Rank-1), since reduced
precision is only kept as a default where it stays within 0.5 points of fp32.

    .venv/bin/python bench/bench_embed.py [--runs 5] [--accuracy]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from _common import DEFAULT_DATA, median_time, table

from reid_engine.embedder import Embedder, EmbedderConfig
from reid_engine.evaluation import evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--accuracy", action="store_true", help="also run the dogfacenet eval per precision")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cores {os.cpu_count()}")
    base = Embedder.load(use_head=False, config=EmbedderConfig(device="cpu", precision="fp32"))
    rng = np.random.default_rng(0)
    rows = []
    for precision in ("fp32", "bf16"):
        emb = base.with_config(precision=precision)
        for bs in (1, 32):
            batch = rng.random((bs, 3, emb.image_size, emb.image_size), dtype=np.float32)
            t = median_time(lambda: emb.embed_batch(batch), runs=args.runs, warmup=1)
            rows.append(dict(precision=precision, batch=bs, ms_per_batch=1000 * t, images_per_s=bs / t))
    print(table(rows, ["precision", "batch", "ms_per_batch", "images_per_s"]))
    fp32_32 = next(r for r in rows if r["precision"] == "fp32" and r["batch"] == 32)["images_per_s"]
    bf16_32 = next(r for r in rows if r["precision"] == "bf16" and r["batch"] == 32)["images_per_s"]
    print(f"bf16 / fp32 throughput at batch 32: {bf16_32 / fp32_32:.2f}x")
    if args.accuracy:
        for precision in ("fp32", "bf16"):
            res = evaluate(base.with_config(precision=precision), args.data / "dogfacenet-dev")
            print(f"{precision}: dogfacenet LOO Rank-1 {res.rank1:.2f} mAP {res.mAP:.2f}")


if __name__ == "__main__":
    main()
