"""``lostpet-train ssl``: self-supervised refresh of the DINOv2 backbone on dog photos.

Two augmented views of every photo go through the backbone (pooled as the app pools), a projection
head ``Linear(384->256) -> ReLU -> Linear(256->128)``, and a symmetric InfoNCE loss: the two views of
a photo are positives, every other view in the batch a negative. Only the last ``--train-blocks``
blocks learn (or all); the blocks before them run without autograd.

The run folder (``--out``) holds ``checkpoint.pt`` (written atomically every ``--save-every`` steps,
on Ctrl-C and at the end; ``--resume`` continues from it, mid-epoch included), ``metrics.json``, and
the export ``backbone.safetensors``: a timm-layout backbone state_dict in the engine's weights format
with a ``backbone.json`` manifest holding its sha256. Give it to the app as a weights file
(``lostpet-cli ... --weights run/backbone.safetensors``); its vectors form a new space, so the
registry is re-embedded.

Examples::

    lostpet-train ssl --images ../shared/data/dogfacenet-dev --holdout-mod 5 --out runs/ssl
    lostpet-train ssl --hf-dataset maurice-fp/stanford-dogs --out runs/ssl-stanford   # needs internet
    lostpet-train ssl --images photos/ --out runs/ssl --resume                          # continue
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from reid_engine.embedder import POOLINGS, EmbedderConfig
from reid_engine.errors import ReidError

from .common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Backbone,
    TrainingError,
    add_backbone_options,
    add_holdout_options,
    apply_threads,
    forward_tokens,
    load_backbone,
    load_checkpoint,
    loader_workers,
    pool_tokens,
    progress_bar,
    resolve_device,
    save_checkpoint,
    seed_everything,
    write_json,
)
from .data import HF_STANFORD_DOGS, EpochBatches, FolderPhotos, HFPhotos, TwoViews, collate_views, ssl_transform
from .losses import info_nce

CHECKPOINT = "checkpoint.pt"
EXPORT = "backbone.safetensors"
METRICS = "metrics.json"
# Settings that must not change when a run is resumed (the rest may: time limits, workers, ...).
RESUME_FIXED = ("batch_size", "accum_steps", "train_blocks", "pooling", "seed", "img_size", "temperature")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lostpet-train ssl",
        description="Self-supervised refresh of the backbone (two-view InfoNCE) on a folder of dog photos "
                    f"or the Hugging Face dataset {HF_STANFORD_DOGS}.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", metavar="DIR", help="folder of photos, searched recursively; labels ignored")
    src.add_argument("--hf-dataset", metavar="NAME",
                     help=f"a Hugging Face image dataset, e.g. {HF_STANFORD_DOGS} (downloaded on first use)")
    p.add_argument("--hf-split", default="train", help="dataset split (default train)")
    add_holdout_options(p, default_modulo=0)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder: checkpoint, metrics, export")
    add_backbone_options(p)
    p.add_argument("--img-size", type=int, default=224, help="input size (default 224)")
    p.add_argument("--pooling", choices=POOLINGS, default=EmbedderConfig().pooling,
                   help=f"pooled vector fed to the projection (default {EmbedderConfig().pooling}, as the app pools)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=1)
    g.add_argument("--max-steps", type=int, metavar="N", help="stop the schedule after N optimiser steps")
    g.add_argument("--batch-size", type=int, default=64, help="photos per step (two views each; default 64)")
    g.add_argument("--accum-steps", type=int, default=1, metavar="K",
                   help="gradient accumulation: one optimiser step every K batches (negatives stay per batch)")
    g.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (default 3e-4)")
    g.add_argument("--backbone-lr", type=float, metavar="LR", help="learning rate of the backbone (default --lr)")
    g.add_argument("--weight-decay", type=float, default=1e-4)
    g.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="after warm-up (default cosine to 0 over the planned steps)")
    g.add_argument("--warmup-steps", type=int, default=0)
    g.add_argument("--temperature", type=float, default=0.1, help="InfoNCE temperature (default 0.1)")
    g.add_argument("--train-blocks", default="2", metavar="N|all",
                   help="train the last N transformer blocks and the final norm, or all (default 2)")
    g.add_argument("--crop-scale", type=float, default=0.25,
                   help="smallest RandomResizedCrop area fraction (default 0.25)")
    g.add_argument("--jitter", type=float, default=0.4,
                   help="colour jitter strength (brightness/contrast/saturation; default 0.4, 0: off)")
    g.add_argument("--amp", action="store_true", help="mixed precision (bf16 autocast; fp16 + scaler on old GPUs)")
    r = p.add_argument_group("run control")
    r.add_argument("--workers", type=int, metavar="N", help="DataLoader workers (default: cores, at most 6)")
    r.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                   help="continue from CKPT (default: the run folder's checkpoint)")
    r.add_argument("--save-every", type=int, default=50, metavar="STEPS", help="checkpoint period (default 50)")
    r.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="stop cleanly (checkpoint + export) after this much training time; resumable")
    r.add_argument("--stop-after", type=int, metavar="STEPS",
                   help="stop cleanly after this many steps in this invocation; resumable")
    r.add_argument("--no-export", action="store_true", help="write checkpoints only")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


class Projector(torch.nn.Sequential):
    """The SSL projection head, discarded at export: Linear(d->256) -> ReLU -> Linear(256->128)."""

    def __init__(self, in_dim: int = 384, hidden: int = 256, out_dim: int = 128):
        super().__init__(torch.nn.Linear(in_dim, hidden), torch.nn.ReLU(inplace=True), torch.nn.Linear(hidden, out_dim))


def parse_train_blocks(value: str, depth: int) -> int:
    """Number of trainable blocks (``depth`` for ``all``)."""
    if str(value).lower() == "all":
        return depth
    try:
        n = int(value)
    except ValueError as exc:
        raise TrainingError(f"--train-blocks takes a number or 'all', not {value!r}.") from exc
    if not 0 <= n <= depth:
        raise TrainingError(f"--train-blocks must be between 0 and {depth} (the model's depth), or 'all'.")
    return n


def set_trainable(model: torch.nn.Module, n_blocks: int) -> list[torch.nn.Parameter]:
    """Freeze the backbone except its last ``n_blocks`` blocks (and the final norm); all for full depth."""
    depth = len(model.blocks)
    for param in model.parameters():
        param.requires_grad_(n_blocks >= depth)
    if 0 < n_blocks < depth:
        for module in (*model.blocks[depth - n_blocks:], model.norm):
            for param in module.parameters():
                param.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def learning_rate_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def autocast_for(device: str, enabled: bool):
    """(autocast context factory, GradScaler or None) for ``--amp`` on this device."""
    if not enabled:
        return contextlib.nullcontext, None
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")
    return (lambda: torch.autocast(device_type=device, dtype=torch.bfloat16)), None


def export_backbone(model: torch.nn.Module, backbone: Backbone, initial_pos_embed: torch.Tensor,
                    path: Path, info: dict) -> str:
    """Write the backbone as a timm-layout safetensors state_dict + JSON manifest; returns its sha256.

    The engine stores weights at DINOv2's native 37x37 position grid and resamples on load. The
    position embedding is written at the base file's grid: unchanged when it was frozen, else the
    base plus the learned change, resampled (so the 224 px grid round-trips to the trained values).
    """
    import hashlib

    from safetensors.torch import save
    from timm.layers import resample_abs_pos_embed

    from reid_engine import weights as weights_mod
    from reid_engine.fileio import atomic_write_bytes

    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    if backbone.resolved is not None:
        base = weights_mod.load_state_dict(backbone.resolved).get("pos_embed")
        if base is not None and base.shape[-1] == state["pos_embed"].shape[-1]:
            base = base.float()
            delta = state["pos_embed"] - initial_pos_embed.float().cpu()
            n_prefix = int(getattr(model, "num_prefix_tokens", 1))
            base_grid = int(math.isqrt(base.shape[1] - n_prefix))
            grid = tuple(int(v) for v in model.patch_embed.grid_size)
            if delta.abs().max() > 0:
                delta = resample_abs_pos_embed(delta, new_size=(base_grid, base_grid), old_size=grid,
                                               num_prefix_tokens=n_prefix)
                state["pos_embed"] = (base + delta).contiguous()
            else:
                state["pos_embed"] = base.contiguous()
    metadata = {"format": "pt", "timm_model": "vit_small_patch14_dinov2", "source": "lostpet-train ssl",
                "base_sha256": backbone.sha256, **{k: str(v) for k, v in info.items()}}
    data = save(state, metadata=metadata)
    sha = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(path, data)
    write_json(path.with_suffix(".json"), {
        "file": path.name, "sha256": sha, "size": len(data),
        "description": f"DINOv2 ViT-S/14 refreshed by lostpet-train ssl ({info.get('steps', '?')} steps)",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **metadata,
    })
    return sha


def main(argv: list[str] | None = None) -> int:
    """Run the SSL refresh; returns the exit code (0 done or paused, 1 error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ReidError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.batch_size < 2:
        raise TrainingError("--batch-size must be at least 2: InfoNCE needs other photos as negatives.")
    if args.accum_steps < 1:
        raise TrainingError("--accum-steps must be at least 1.")
    device = resolve_device(args.device)
    seed_everything(args.seed)
    apply_threads(args.threads)

    ckpt = None
    if args.resume:
        ckpt = load_checkpoint(out / CHECKPOINT if args.resume == "auto" else args.resume)
        changed = [k for k in RESUME_FIXED if ckpt["args"].get(k) != getattr(args, k)]
        if changed:
            was = ", ".join(f"{k}={ckpt['args'].get(k)}" for k in changed)
            raise TrainingError(f"Cannot resume with a different {', '.join(changed)} (the checkpoint has {was}).")

    source = (HFPhotos(args.hf_dataset, args.hf_split) if args.hf_dataset
              else FolderPhotos(args.images, holdout_mod=args.holdout_mod, holdout_rem=args.holdout_rem))
    backbone = load_backbone(args.weights, random_init=args.random_init, img_size=args.img_size, seed=args.seed)
    if ckpt is not None and ckpt["base_sha256"] != backbone.sha256:
        raise TrainingError("The checkpoint was trained from other backbone weights "
                            f"({ckpt['base_sha256'][:12]}..., these are {backbone.sha256[:12]}...).")
    model = backbone.model
    initial_pos_embed = model.pos_embed.detach().clone()
    depth = len(model.blocks)
    n_train = parse_train_blocks(args.train_blocks, depth)
    n_frozen = depth - n_train if n_train < depth else 0
    backbone_params = set_trainable(model, n_train)
    projector = Projector(backbone.embed_dim)
    model.to(device).train()
    projector.to(device).train()

    groups = [{"params": list(projector.parameters()), "lr": args.lr}]
    if backbone_params:
        groups.append({"params": backbone_params, "lr": args.backbone_lr or args.lr})
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"]
    autocast, scaler = autocast_for(device, args.amp)

    data_config = backbone.data_config()
    dataset = TwoViews(source, ssl_transform(backbone.image_size, data_config["mean"], data_config["std"],
                                             args.crop_scale, args.jitter), backbone.image_size, seed=args.seed)
    n_batches = EpochBatches.count(len(dataset), args.batch_size)
    steps_per_epoch = math.ceil(n_batches / args.accum_steps)
    total_steps = args.epochs * steps_per_epoch
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)

    step, epoch, next_batch, history, failed = 0, 0, 0, [], []
    train_seconds = 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        projector.load_state_dict(ckpt["projector"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        step, epoch, next_batch = ckpt["step"], ckpt["epoch"], ckpt["next_batch"]
        history, failed, train_seconds = ckpt["history"], ckpt["failed"], ckpt["train_seconds"]
        torch.set_rng_state(ckpt["torch_rng"])

    workers = loader_workers(args.workers)
    print(f"SSL refresh: {source.describe()}; backbone {backbone.model_name} ({backbone.sha256[:12]}), "
          f"{'all' if n_train == depth else n_train} of {depth} blocks trainable, batch {args.batch_size}"
          f"x{args.accum_steps}, {total_steps} steps planned, device {device}, {workers} loader workers"
          + (f"; resuming at step {step}" if ckpt is not None else ""), file=sys.stderr)

    def checkpoint() -> None:
        save_checkpoint(out / CHECKPOINT, {
            "args": vars(args), "base_sha256": backbone.sha256, "model": model.state_dict(),
            "projector": projector.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None, "step": step, "epoch": epoch,
            "next_batch": next_batch, "history": history, "failed": failed, "train_seconds": train_seconds,
            "torch_rng": torch.get_rng_state(),
        })
        write_json(out / METRICS, summary())

    def summary() -> dict:
        photos = sum(h["photos"] for h in history)
        return {
            "steps": step, "total_steps": total_steps, "epoch": epoch, "train_seconds": round(train_seconds, 2),
            "photos_per_s": round(photos / train_seconds, 3) if train_seconds else None,
            "views_per_s": round(2 * photos / train_seconds, 3) if train_seconds else None,
            "unreadable": failed, "history": history, "args": vars(args),
        }

    def finish(reason: str) -> None:
        checkpoint()
        if not args.no_export:
            sha = export_backbone(model, backbone, initial_pos_embed, out / EXPORT, {
                "steps": step, "train_blocks": args.train_blocks, "pooling": args.pooling, "data": source.describe(),
            })
            print(f"exported {out / EXPORT} (sha256 {sha[:12]}...) after {step} steps", file=sys.stderr)
        s = summary()
        print(f"{reason}: {step}/{total_steps} steps, {s['train_seconds']:.0f} s of training, "
              f"{s['photos_per_s'] or 0:.2f} photos/s ({s['views_per_s'] or 0:.2f} views/s)", file=sys.stderr)
        if failed:
            print(f"{len(failed)} unreadable photo(s) skipped, e.g. {failed[0]}", file=sys.stderr)

    started = time.perf_counter()
    steps_this_run = 0
    bar = progress_bar(total_steps, "ssl", initial=step, quiet=args.quiet)
    try:
        while step < total_steps:
            dataset.set_epoch(epoch)
            sampler = EpochBatches(len(dataset), args.batch_size, args.seed, epoch, start=next_batch)
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                                 collate_fn=collate_views, pin_memory=device == "cuda")
            batch_index = next_batch
            accumulated, step_loss, step_photos = 0, 0.0, 0
            t_step = time.perf_counter()
            for v1, v2, errors in loader:
                failed.extend(errors)
                batch_index += 1
                if v1 is not None and len(v1) >= 2:
                    v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
                    with autocast():
                        tokens = forward_tokens(model, torch.cat([v1, v2]), n_frozen)
                        z = F.normalize(projector(pool_tokens(tokens.float(), args.pooling,
                                                              model.num_prefix_tokens)).float(), dim=-1)
                    loss = info_nce(z[: len(v1)], z[len(v1):], args.temperature)
                    if not torch.isfinite(loss):
                        raise TrainingError(f"The loss became {loss.item()} at step {step}: lower --lr, "
                                            "or turn off --amp.")
                    (scaler.scale(loss / args.accum_steps) if scaler else loss / args.accum_steps).backward()
                    step_loss += loss.item() / args.accum_steps
                    step_photos += len(v1)
                accumulated += 1
                if accumulated < args.accum_steps and batch_index < n_batches:
                    continue
                factor = learning_rate_factor(step, total_steps, args.warmup_steps, args.schedule)
                for group in optimizer.param_groups:
                    group["lr"] = group["base_lr"] * factor
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                seconds = time.perf_counter() - t_step
                train_seconds += seconds
                step += 1
                steps_this_run += 1
                next_batch = batch_index
                history.append({"step": step, "epoch": epoch, "loss": round(step_loss, 5),
                                "lr": optimizer.param_groups[0]["lr"], "photos": step_photos,
                                "seconds": round(seconds, 3)})
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.4f}", photos_s=f"{step_photos / max(seconds, 1e-9):.1f}")
                accumulated, step_loss, step_photos = 0, 0.0, 0
                stop = None
                if args.stop_after and steps_this_run >= args.stop_after:
                    stop = f"stopped after {steps_this_run} steps (resume with --resume)"
                elif args.time_limit and time.perf_counter() - started >= args.time_limit:
                    stop = "time limit reached (resume with --resume)"
                if stop or step >= total_steps:
                    break
                if args.save_every and step % args.save_every == 0:
                    checkpoint()
                t_step = time.perf_counter()
            else:
                epoch, next_batch = epoch + 1, 0
                continue
            if batch_index >= n_batches:
                epoch, next_batch = epoch + 1, 0
            if stop:
                bar.close()
                finish(stop)
                return EXIT_OK
        bar.close()
        finish("done")
        return EXIT_OK
    except KeyboardInterrupt:
        bar.close()
        optimizer.zero_grad(set_to_none=True)
        checkpoint()  # the state of the last completed step; the partial step is redone on resume
        print(f"interrupted at step {step}; checkpoint saved, continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
