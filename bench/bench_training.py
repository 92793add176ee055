"""Figures of the training work: zero-shot vs SSL-refreshed backbone vs the re-ID head.

Evaluation sets (../shared/data/README.md):

* DogFaceNet held-out dogs: ids with ``id % 5 == 2`` (never trained on), leave-one-out;
* MPDD: ``val`` photos query the ``train`` photos; whole-body dogs, evaluation only.

Head settings are chosen on an *inner* split (training dogs with ``id % 5 == 4`` scored, the rest
trained on) and on MPDD, so the held-out dogs never pick the settings; the chosen head is then
trained on every non-held-out dog and scored once on the held-out dogs.

Backbone features are cached (``training.features``), so only the first run embeds photos.

    nice -n 10 .venv/bin/python bench/bench_training.py                 # zero-shot and the head
    nice -n 10 .venv/bin/python bench/bench_training.py --sweep         # how the head settings were chosen
    nice -n 10 .venv/bin/python bench/bench_training.py --ssl runs/ssl/backbone.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from _common import DEFAULT_DATA, require_data, table

from reid_engine.head import read_head
from reid_engine.paths import resources_dir
from training.common import holdout_mask, identity_bucket, load_backbone
from training.features import cached_features
from training.head import HeadConfig, Sets, evaluate_head, train_head, training_arrays

INNER_MOD, INNER_REM = 5, 4  # inner validation dogs, among the training dogs (held out: % 5 == 2)


def sweep_configs() -> list[tuple[str, HeadConfig]]:
    """The settings compared, one change at a time from the defaults (the shipped settings)."""
    margin_lr = 2e-3  # ArcFace-style losses train class centres too: a higher rate suited them
    return [
        ("default: residual, supcon", HeadConfig()),
        ("loss=arcface", HeadConfig(loss="arcface", lr=margin_lr)),
        ("loss=subcenter (k=3)", HeadConfig(loss="subcenter", lr=margin_lr)),
        ("loss=triplet (batch-hard)", HeadConfig(loss="triplet")),
        ("kind=linear 256", HeadConfig(kind="linear", dim=256)),
        ("kind=linear 256, subcenter", HeadConfig(kind="linear", dim=256, loss="subcenter", lr=margin_lr)),
        ("kind=linear 128", HeadConfig(kind="linear", dim=128)),
        ("kind=fused 256, alpha=2", HeadConfig(kind="fused", dim=256, alpha=2.0)),
        ("temperature=0.05", HeadConfig(temperature=0.05)),
        ("epochs=30", HeadConfig(epochs=30)),
        ("epochs=120", HeadConfig(epochs=120)),
        ("no mirror images", HeadConfig(flip=False)),
    ] + [(f"pooling={p}", HeadConfig(pooling=p)) for p in ("cls", "cls+mean", "mean") if p != HeadConfig().pooling]


def row(name: str, figures: dict, **extra) -> dict:
    r = {"model": name, "faces R1": figures["heldout"]["rank1"], "faces mAP": figures["heldout"]["mAP"]}
    if "check" in figures:
        r.update({"MPDD R1": figures["check"]["rank1"], "MPDD mAP": figures["check"]["mAP"]})
    r.update(extra)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache-dir", type=Path, help="feature cache (default: the user cache folder)")
    ap.add_argument("--sweep", action="store_true", help="compare head settings on the inner split")
    ap.add_argument("--ssl", type=Path, nargs="*", default=[], help="SSL exports to score zero-shot")
    ap.add_argument("--seeds", type=int, default=2, help="seeds per head setting (mean reported)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    threads = torch.get_num_threads()  # for feature extraction; heads train faster on one thread
    data = require_data(args.data)
    faces, mpdd_q, mpdd_g = data / "dogfacenet-dev", data / "mpdd-dev" / "images" / "val", data / "mpdd-dev" / "images" / "train"
    out: dict = {}

    base = load_backbone()
    pooling = HeadConfig().pooling  # the app's
    emb = base.embedder(pooling)
    t0 = time.perf_counter()
    feats = cached_features(emb, faces, cache_dir=args.cache_dir, flip=True)
    q = cached_features(emb, mpdd_q, cache_dir=args.cache_dir)
    g = cached_features(emb, mpdd_g, cache_dir=args.cache_dir)
    print(f"features ready in {time.perf_counter() - t0:.0f} s (first extraction: "
          f"{feats.meta.get('photos_per_s')} faces/s with mirror, {g.meta.get('photos_per_s')} MPDD photos/s)",
          flush=True)
    held = holdout_mask(feats.labels, 5, 2)
    sets = Sets(feats.subset(~held), feats.subset(held), q, g)
    print(f"DogFaceNet: {len(sets.train)} training photos of {len(set(sets.train.labels))} dogs; "
          f"{len(sets.heldout)} held-out photos of {len(set(sets.heldout.labels))} dogs; MPDD {len(q)} queries "
          f"vs {len(g)} gallery", flush=True)

    rows = [row(f"zero-shot ({p})", evaluate_head(None, sets, p)) for p in ("cls", "mean", "cls+mean")]
    print(table(rows, list(rows[0])), flush=True)
    out["zero_shot"] = rows

    if args.sweep:
        inner = np.array([identity_bucket(lab, INNER_MOD) == INNER_REM for lab in sets.train.labels])
        inner_sets = Sets(sets.train.subset(~inner), sets.train.subset(inner), q, g)
        sweep = [row(f"zero-shot {p}", evaluate_head(None, inner_sets, p), seconds=0.0) for p in ("cls", "cls+mean")]
        torch.set_num_threads(1)
        for name, cfg in sweep_configs():
            figs, secs = [], []
            for seed in range(args.seeds):
                c = HeadConfig(**{**asdict(cfg), "seed": seed})
                x, y, _ = training_arrays(inner_sets.train, c)
                t = time.perf_counter()
                head = train_head(x, y, c)
                secs.append(time.perf_counter() - t)
                figs.append(evaluate_head(head, inner_sets, c.pooling))
            mean = {k: {m: float(np.mean([f[k][m] for f in figs])) for m in ("rank1", "mAP")} for k in figs[0]}
            sweep.append(row(name, mean, seconds=float(np.mean(secs))))
            print(f"  {name}: inner R1 {sweep[-1]['faces R1']:.2f}, MPDD R1 {sweep[-1]['MPDD R1']:.2f}", flush=True)
        print("\nHead settings, inner split (training dogs with id % 5 == 4; mean of "
              f"{args.seeds} seeds; 'faces' = inner validation dogs here):")
        print(table(sweep, list(sweep[0])), flush=True)
        out["sweep"] = sweep

    cfg = HeadConfig()
    torch.set_num_threads(1)
    x, y, _ = training_arrays(sets.train, cfg)
    t = time.perf_counter()
    head = train_head(x, y, cfg)
    seconds = time.perf_counter() - t
    size = x.shape[1] if cfg.kind == "residual" else cfg.dim
    torch.set_num_threads(threads)
    zero = next(r for r in rows if r["model"] == f"zero-shot ({pooling})")
    final = [zero, row(f"head ({cfg.kind} {size}, {cfg.describe_loss()})", evaluate_head(head, sets, cfg.pooling))]
    shipped = resources_dir() / "reid_head.safetensors"
    if shipped.is_file():
        shipped_head, info, head_id = read_head(shipped)
        if info.backbone_sha256 == base.sha256:
            final.append(row(f"shipped {head_id}", evaluate_head(shipped_head, sets, info.pooling)))
    for export in args.ssl:
        ssl = load_backbone(export)
        ssl_emb = ssl.embedder(pooling)
        heldout_ids = set(sets.heldout.labels)
        hf = cached_features(ssl_emb, faces, cache_dir=args.cache_dir, keep=heldout_ids.__contains__)
        sq = cached_features(ssl_emb, mpdd_q, cache_dir=args.cache_dir)
        sg = cached_features(ssl_emb, mpdd_g, cache_dir=args.cache_dir)
        meta_file = export.with_suffix(".json")
        steps = json.loads(meta_file.read_text()).get("steps", "?") if meta_file.is_file() else "?"
        final.append(row(f"SSL-refreshed {export.parent.name} ({steps} steps)",
                         evaluate_head(None, Sets(sets.train, hf, sq, sg), pooling)))
    print(f"\nHeld-out DogFaceNet dogs (leave-one-out) and MPDD val->train; head trained in {seconds:.1f} s "
          f"on {len(x)} vectors ({len(sets.train)} photos + mirror images):")
    print(table(final, list(final[0])), flush=True)
    out["final"] = final
    out["head_config"] = asdict(cfg)
    out["head_train_seconds"] = seconds
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
