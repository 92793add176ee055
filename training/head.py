"""``lostpet-train head``: an identity-supervised re-ID head on top of the frozen backbone.

Where photos come with identities (one sub-folder per dog), a small map of the pooled backbone
vector is trained with a metric-learning loss. The backbone runs once per photo: its class and
mean-patch tokens are cached (:mod:`training.features`), so a head trains in seconds on a CPU.

Dogs whose id satisfies ``id % M == R`` (``--holdout-mod/--holdout-rem``, default ``% 5 == 2``)
are never trained on; figures are reported on them (leave-one-out) and, with ``--check-query`` and
``--check-gallery``, on a second, evaluation-only set (MPDD whole-body photos), always beside the
zero-shot backbone. ``--out`` writes the head (safetensors + JSON), tagged with the backbone's sha256
and pooling, so the engine applies it only to the backbone and pooling it was trained on.

Example (the shipped head; see ``bench/bench_training.py`` for how the settings were chosen)::

    lostpet-train head --data ../shared/data/dogfacenet-dev \\
        --check-query ../shared/data/mpdd-dev/images/val --check-gallery ../shared/data/mpdd-dev/images/train \\
        --out resources/reid_head.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reid_engine.embedder import POOLINGS, EmbedderConfig
from reid_engine.errors import ReidError
from reid_engine.evaluation import calibrate_bands, dog_scores, rank_metrics
from reid_engine.head import HEAD_KINDS, HeadInfo, build_head, head_out_dim, save_head

from .common import (
    EXIT_ERROR,
    EXIT_OK,
    TrainingError,
    add_backbone_options,
    add_holdout_options,
    apply_threads,
    holdout_mask,
    load_backbone,
    pool_features,
    resolve_device,
    write_json,
)
from .features import FeatureSet, cached_features
from .losses import HEAD_LOSSES, ArcFace, supcon, triplet_hard


@dataclass(frozen=True)
class HeadConfig:
    """Everything that decides a trained head (defaults: the shipped head's settings).

    The defaults were chosen by ``bench/bench_training.py --sweep`` on an inner split of the
    training dogs (never the held-out ones): a residual head (``x + W x``, starting at the identity)
    trained with supervised contrastive loss led on the inner faces and on MPDD mAP, within noise
    of its temperature-0.05 variant (the sweep table is in the README).
    ``dim`` applies to ``linear`` and ``fused`` heads only (a residual head keeps the input size).
    """

    pooling: str = EmbedderConfig().pooling  # the app's pooling: a head only applies to its own
    kind: str = "residual"
    dim: int = 256
    alpha: float = 1.0
    loss: str = "supcon"
    subcenters: int = 3
    scale: float = 30.0
    margin: float = 0.3
    temperature: float = 0.1
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    flip: bool = True
    seed: int = 0

    def describe_loss(self) -> str:
        if self.loss in ("arcface", "subcenter"):
            k = self.subcenters if self.loss == "subcenter" else 1
            return f"{self.loss} (k={k}, s={self.scale}, m={self.margin})"
        if self.loss == "supcon":
            return f"supcon (t={self.temperature})"
        return f"triplet batch-hard (margin={self.margin})"


# --------------------------------------------------------------------------- training


def training_arrays(feats: FeatureSet, cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pooled vectors (mirror images added with ``flip``) and integer labels of a training set."""
    x = pool_features(feats.cls, feats.mean, cfg.pooling)
    labels = feats.labels
    if cfg.flip and feats.cls_flip is not None:
        x = np.concatenate([x, pool_features(feats.cls_flip, feats.mean_flip, cfg.pooling)])
        labels = np.concatenate([labels, labels])
    classes, y = np.unique(labels, return_inverse=True)
    return x, y, list(classes)


def _pk_batches(y: np.ndarray, batch_size: int, rng: np.random.Generator, k: int = 4) -> list[np.ndarray]:
    """P dogs x K photos per batch (sampled with replacement for dogs with fewer than K)."""
    by_class = [np.flatnonzero(y == c) for c in range(int(y.max()) + 1)]
    order = rng.permutation(len(by_class))
    p = max(2, batch_size // k)
    batches = []
    for start in range(0, len(order), p):
        idx = [rng.choice(by_class[c], size=k, replace=len(by_class[c]) < k) for c in order[start:start + p]]
        batches.append(np.concatenate(idx))
    return batches


def train_head(x: np.ndarray, y: np.ndarray, cfg: HeadConfig, *, device: str = "cpu") -> torch.nn.Module:
    """Train a head on pooled, normalised vectors ``x`` with integer dog labels ``y``.

    ``fused`` heads train their projection alone (the backbone part is fixed); the others train the
    whole output.
    """
    if cfg.loss not in HEAD_LOSSES:
        raise TrainingError(f"Unknown loss {cfg.loss!r}: choose one of {', '.join(HEAD_LOSSES)}.")
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    in_dim = x.shape[1]
    head = build_head(in_dim, in_dim if cfg.kind == "residual" else cfg.dim, cfg.kind, cfg.alpha).to(device)
    out_dim = cfg.dim if cfg.kind != "residual" else in_dim
    params = list(head.parameters())
    criterion = None
    if cfg.loss in ("arcface", "subcenter"):
        k = cfg.subcenters if cfg.loss == "subcenter" else 1
        criterion = ArcFace(out_dim, int(y.max()) + 1, k=k, scale=cfg.scale, margin=cfg.margin).to(device)
        params += list(criterion.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)
    rng = np.random.default_rng(cfg.seed)
    total = cfg.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=max(1, total * _batches_per_epoch(y, cfg)), pct_start=0.1)
    head.train()

    def embed(batch: torch.Tensor) -> torch.Tensor:
        out = head.projection(batch) if cfg.kind == "fused" else head(batch)
        return F.normalize(out, dim=-1)

    for _ in range(total):
        if criterion is not None:
            perm = torch.randperm(len(xt), generator=gen).to(device)
            batches = [perm[i:i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)]
        else:
            batches = [torch.from_numpy(b).to(device) for b in _pk_batches(y, cfg.batch_size, rng)]
        for idx in batches[: _batches_per_epoch(y, cfg)]:
            z = embed(xt[idx])
            if criterion is not None:
                loss = criterion(z, yt[idx])
            elif cfg.loss == "supcon":
                loss = supcon(z, yt[idx], cfg.temperature)
            else:
                loss = triplet_hard(z, yt[idx], cfg.margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return head.eval().cpu()


def _batches_per_epoch(y: np.ndarray, cfg: HeadConfig) -> int:
    if cfg.loss in ("arcface", "subcenter"):
        return max(1, -(-len(y) // cfg.batch_size))
    n_classes = int(y.max()) + 1
    return max(1, -(-n_classes // max(2, cfg.batch_size // 4)))


def apply_head(head: torch.nn.Module | None, x: np.ndarray) -> np.ndarray:
    """What the engine does: normalised pooled vector -> head -> normalised (numpy)."""
    if head is None:
        return x
    with torch.inference_mode():
        return F.normalize(head(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))), dim=-1).numpy()


# --------------------------------------------------------------------------- evaluation


def figures_loo(x: np.ndarray, labels) -> dict:
    r1, r5, m, n = rank_metrics(x, list(labels), x, list(labels), leave_one_out=True)
    return {"rank1": round(r1, 2), "rank5": round(r5, 2), "mAP": round(m, 2), "queries": n}


def figures_qg(q: np.ndarray, ql, g: np.ndarray, gl) -> dict:
    r1, r5, m, n = rank_metrics(q, list(ql), g, list(gl))
    return {"rank1": round(r1, 2), "rank5": round(r5, 2), "mAP": round(m, 2), "queries": n}


@dataclass
class Sets:
    """Cached features of the training, held-out and check photos."""

    train: FeatureSet
    heldout: FeatureSet
    check_query: FeatureSet | None = None
    check_gallery: FeatureSet | None = None


def evaluate_head(head: torch.nn.Module | None, sets: Sets, pooling: str) -> dict:
    """Rank-1/Rank-5/mAP with ``head`` (or the zero-shot backbone for ``None``) on the held-out set
    (leave-one-out) and the check set (query vs gallery)."""
    out = {"heldout": figures_loo(apply_head(head, pool_features(sets.heldout.cls, sets.heldout.mean, pooling)),
                                  sets.heldout.labels)}
    if sets.check_query is not None:
        q = apply_head(head, pool_features(sets.check_query.cls, sets.check_query.mean, pooling))
        g = apply_head(head, pool_features(sets.check_gallery.cls, sets.check_gallery.mean, pooling))
        out["check"] = figures_qg(q, sets.check_query.labels, g, sets.check_gallery.labels)
    return out


def load_sets(args: argparse.Namespace, embedder, *, flip: bool) -> Sets:
    """Features of ``--data`` split by the hold-out rule, and of the check set if given."""
    feats = cached_features(embedder, args.data, cache_dir=args.cache_dir, flip=flip, quiet=args.quiet)
    held = holdout_mask(feats.labels, args.holdout_mod, args.holdout_rem)
    if not held.any():
        raise TrainingError("No dog is held out: with --holdout-mod 0 the figures would be measured on the "
                            "training dogs. Keep a hold-out (e.g. --holdout-mod 5 --holdout-rem 2).")
    sets = Sets(feats.subset(~held), feats.subset(held))
    if args.check_query or args.check_gallery:
        if not (args.check_query and args.check_gallery):
            raise TrainingError("Give both --check-query and --check-gallery, or neither.")
        sets.check_query = cached_features(embedder, args.check_query, cache_dir=args.cache_dir, quiet=args.quiet)
        sets.check_gallery = cached_features(embedder, args.check_gallery, cache_dir=args.cache_dir, quiet=args.quiet)
    return sets


# --------------------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    d = HeadConfig()
    p = argparse.ArgumentParser(
        prog="lostpet-train head",
        description="Train the re-ID head on photos with identities (one sub-folder per dog), on top of "
                    "the frozen backbone; report it against the zero-shot backbone on held-out dogs.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="labelled photos: one sub-folder per dog")
    add_holdout_options(p)
    p.add_argument("--check-query", metavar="DIR", help="evaluation-only query photos (e.g. MPDD val)")
    p.add_argument("--check-gallery", metavar="DIR", help="evaluation-only gallery photos (e.g. MPDD train)")
    add_backbone_options(p)
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache (default: the user cache folder)")
    m = p.add_argument_group("head")
    m.add_argument("--pooling", choices=POOLINGS, default=d.pooling,
                   help=f"default {d.pooling}, the app's: the engine applies a head only with its own pooling")
    m.add_argument("--kind", choices=HEAD_KINDS, default=d.kind, help=f"default {d.kind}")
    m.add_argument("--dim", type=int, default=d.dim, help=f"projection size (default {d.dim})")
    m.add_argument("--alpha", type=float, default=d.alpha,
                   help=f"weight of the learned part in residual/fused heads (default {d.alpha})")
    m.add_argument("--loss", choices=HEAD_LOSSES, default=d.loss, help=f"default {d.loss}")
    m.add_argument("--subcenters", type=int, default=d.subcenters)
    m.add_argument("--scale", type=float, default=d.scale)
    m.add_argument("--margin", type=float, default=d.margin)
    m.add_argument("--temperature", type=float, default=d.temperature)
    m.add_argument("--epochs", type=int, default=d.epochs)
    m.add_argument("--batch-size", type=int, default=d.batch_size)
    m.add_argument("--lr", type=float, default=d.lr)
    m.add_argument("--weight-decay", type=float, default=d.weight_decay)
    m.add_argument("--no-flip", action="store_true", help="do not add mirrored photos to the training set")
    p.add_argument("--out", metavar="FILE", help="write the head here (e.g. resources/reid_head.safetensors)")
    p.add_argument("--report", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> HeadConfig:
    return HeadConfig(
        pooling=args.pooling, kind=args.kind, dim=args.dim, alpha=args.alpha, loss=args.loss,
        subcenters=args.subcenters, scale=args.scale, margin=args.margin, temperature=args.temperature,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        flip=not args.no_flip, seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and (with ``--out``) write the head; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ReidError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    device = resolve_device(args.device)
    apply_threads(args.threads)
    backbone = load_backbone(args.weights, random_init=args.random_init, seed=args.seed)
    embedder = backbone.embedder(cfg.pooling, device=device)
    sets = load_sets(args, embedder, flip=cfg.flip)
    x, y, classes = training_arrays(sets.train, cfg)
    t0 = time.perf_counter()
    head = train_head(x, y, cfg)
    seconds = time.perf_counter() - t0
    zero = evaluate_head(None, sets, cfg.pooling)
    trained = evaluate_head(head, sets, cfg.pooling)
    held = apply_head(head, pool_features(sets.heldout.cls, sets.heldout.mean, cfg.pooling))
    _, impostors = dog_scores(held, sets.heldout.labels, held, sets.heldout.labels, same_set=True)
    bands = calibrate_bands(impostors)  # None with a single held-out dog: nothing to calibrate on
    likely, possible = bands or (0.0, 0.0)
    report = {
        "backbone_sha256": backbone.sha256, "config": asdict(cfg), "train_seconds": round(seconds, 2),
        "train_dogs": len(classes), "train_photos": len(sets.train), "heldout_dogs": len(set(sets.heldout.labels)),
        "heldout_photos": len(sets.heldout), "zero_shot": zero, "head": trained,
        "bands": {"likely": likely, "possible": possible} if bands else None,
    }
    if args.out:
        data_name = Path(args.data).name
        training_data = (f"{data_name}: {len(classes)} dogs, {len(sets.train)} photos"
                         f"{' (+ mirrored)' if cfg.flip else ''}; dogs with id % {args.holdout_mod} == "
                         f"{args.holdout_rem} held out ({report['heldout_dogs']} dogs)")
        info = HeadInfo(
            backbone_sha256=backbone.sha256, pooling=cfg.pooling, in_dim=x.shape[1],
            out_dim=head_out_dim(cfg.kind, x.shape[1], cfg.dim if cfg.kind != "residual" else x.shape[1]),
            kind=cfg.kind, alpha=cfg.alpha, proj_dim=cfg.dim if cfg.kind != "residual" else x.shape[1],
            loss=cfg.describe_loss(), training_data=training_data,
            created=datetime.now(timezone.utc).date().isoformat(),
            extra=json.dumps({"config": asdict(cfg), "zero_shot": zero, "head": trained,
                              "train_seconds": report["train_seconds"]}),
            likely_threshold=likely, possible_threshold=possible,
        )
        report["sha256"] = save_head(args.out, head, info)
        report["out"] = str(args.out)
    if args.report:
        write_json(args.report, report)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_report(report)
    return EXIT_OK


def _print_report(report: dict) -> None:
    print(f"trained on {report['train_dogs']} dogs / {report['train_photos']} photos in "
          f"{report['train_seconds']:.1f} s; held out {report['heldout_dogs']} dogs / {report['heldout_photos']} photos")
    print(f"{'':12}{'held-out R1':>12}{'mAP':>8}{'check R1':>10}{'mAP':>8}")
    for name in ("zero_shot", "head"):
        f = report[name]
        check = f.get("check", {})
        print(f"{name:12}{f['heldout']['rank1']:12.2f}{f['heldout']['mAP']:8.2f}"
              f"{check.get('rank1', float('nan')):10.2f}{check.get('mAP', float('nan')):8.2f}")
    bands = report["bands"]
    if bands:
        print(f"score bands (held-out dogs: 1 search in 100 / 1 in 5 shows a wrong dog above): "
              f"likely from {bands['likely']:.2f}, possible from {bands['possible']:.2f}")
    else:
        print("score bands: not calibrated (hold out at least two dogs); the app keeps the backbone's")
    if "out" in report:
        print(f"wrote {report['out']} (sha256 {report['sha256'][:12]}...)")


def sweep_config(base: HeadConfig = HeadConfig(), **changes) -> HeadConfig:
    """``base`` with some fields changed (used by bench/bench_training.py)."""
    return replace(base, **changes)


if __name__ == "__main__":
    sys.exit(main())
