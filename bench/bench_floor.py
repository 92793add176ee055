"""The floor: a random-init ViT-S/14 (same architecture, no training) on the evaluation sets.

On dogfacenet-dev it scores the held-out fifth of the dogs (``id % 5 == 2``, leave-one-out among
them) to keep the run short on a CPU; mpdd-dev is scored whole (val -> train).

    .venv/bin/python bench/bench_floor.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA, require_data, table

from reid_engine.embedder import Embedder
from reid_engine.evaluation import LabelledPhotos, embed_labelled, rank_metrics, scan_labelled
from training.common import holdout_mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    data = require_data(args.data)
    rows = []
    for pooling in ("cls",):
        emb = Embedder.random_init(tiny=False, seed=0).with_config(pooling=pooling)
        q, g = scan_labelled(data / "mpdd-dev/images/val"), scan_labelled(data / "mpdd-dev/images/train")
        qv, ql, _, _ = embed_labelled(emb, q)
        gv, gl, _, _ = embed_labelled(emb, g)
        r1, r5, m, n = rank_metrics(qv, ql, gv, gl)
        rows.append(dict(set="mpdd val->train", pooling=pooling, rank1=r1, rank5=r5, mAP=m, queries=n))
        print(rows[-1], flush=True)
        all_dfn = scan_labelled(data / "dogfacenet-dev")
        keep = np.flatnonzero(holdout_mask(all_dfn.labels, 5, 2))
        held = LabelledPhotos(tuple(all_dfn.paths[i] for i in keep), tuple(all_dfn.labels[i] for i in keep))
        v, lab, _, _ = embed_labelled(emb, held)
        r1, r5, m, n = rank_metrics(v, lab, v, lab, leave_one_out=True)
        rows.append(dict(set="dogfacenet held-out LOO", pooling=pooling, rank1=r1, rank5=r5, mAP=m, queries=n))
        print(rows[-1], flush=True)
    print(table(rows, ["set", "pooling", "rank1", "rank5", "mAP", "queries"]))


if __name__ == "__main__":
    main()
