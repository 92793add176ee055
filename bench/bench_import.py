"""End-to-end import throughput (images/s) against the naive path, measured in the same run.

Two photo sets: ``dogfacenet-dev`` (224x224 faces, one sub-folder per dog, imported with one dog per
sub-folder) and 12-megapixel JPEGs made from the real photos in ``pets-mixed`` (upscaled to
4000x3000, mirrored or shifted so that every file is different, saved at quality 90 in a temp
folder, never in the repository).

* import: ``Registry.import_folder`` into a fresh data folder: scan, hash and de-duplicate, decode
  in threads (JPEG DCT scaling) while the model embeds batches of 32, copy into the photo store,
  commit per batch, save the index. The figure is photos stored / wall time of the whole import.
* naive: ``Image.open(p).convert("RGB")`` (full decode), square and resize, one photo at a time,
  fp32 forward.
* model: the model alone on a ready batch of 32 (the ceiling for any import).

Runs alternate import and naive and the medians are reported, so a change in machine load hits
both sides alike. ``idle_estimate_per_s`` divides the photos by the import's CPU time spread over
every core: what the import would reach with the machine to itself, if it kept every core busy (an
upper estimate, for a machine shared with other work; the measured figure is ``import_per_s``).

    .venv/bin/python bench/bench_import.py [--runs 3] [--dfn-photos 640] [--big 48]
    LOSTPET_PRECISION=bf16 .venv/bin/python bench/bench_import.py   # the import in bf16 (naive stays fp32)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA, require_data, table
from PIL import Image, ImageOps

from reid_engine.errors import WeightsError
from reid_engine.images import iter_image_files
from reid_engine.registry import Registry

BIG_SIZE = (4000, 3000)


def subset_folder(src: Path, dst: Path, limit: int) -> list[Path]:
    """Links to the first ``limit`` photos of ``src`` (whole dogs), keeping the sub-folders."""
    files = []
    for path in iter_image_files(src):
        rel = path.relative_to(src)
        if limit and len(files) >= limit and rel.parts[0] != files[-1].relative_to(dst).parts[0]:
            break
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(path.resolve(), target)
        files.append(target)
    return files


def make_big_jpegs(src: Path, dst: Path, count: int) -> list[Path]:
    """``count`` distinct 12-megapixel JPEGs (quality 90) from the real photos in ``src``."""
    sources = sorted(iter_image_files(src))
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
        variant = i // len(sources)
        if variant % 2:
            im = ImageOps.mirror(im)
        if variant >= 2:  # a small shift keeps later rounds distinct
            w, h = im.size
            im = im.crop((variant, variant, w - variant, h - variant))
        big = im.resize(BIG_SIZE, Image.Resampling.BICUBIC)
        path = dst / f"big_{i:03d}.jpg"
        big.save(path, format="JPEG", quality=90)
        out.append(path)
    return out


def import_rate(emb, folder: Path, mode: str) -> tuple[float, int, float]:
    """(photos/s of wall time, photos, photos/s of this process's CPU time spread on every core)."""
    data = Path(tempfile.mkdtemp(prefix="lostpet-bench-import-"))
    cpu0 = time.process_time()
    try:
        with Registry.open(data, emb) as reg:
            gen = reg.import_folder(folder, mode)
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    summary = stop.value
                    break
        assert not summary.failed, summary.failed[:3]
        cpu = time.process_time() - cpu0
        n = len(summary.imported)
        return n / summary.seconds, n, n * (os.cpu_count() or 1) / cpu
    finally:
        shutil.rmtree(data, ignore_errors=True)


def naive_rate(emb, files: list[Path]) -> float:
    emb = emb if emb.precision == "fp32" else emb.with_config(precision="fp32")  # the naive path is fp32
    t0 = time.perf_counter()
    for path in files:
        image = Image.open(path).convert("RGB")
        emb.embed_batch(emb.preprocess(image)[None])
    return len(files) / (time.perf_counter() - t0)


def model_rate(emb, runs: int = 3) -> float:
    batch = np.random.default_rng(0).random((32, 3, emb.image_size, emb.image_size), dtype=np.float32)
    emb.embed_batch(batch[:2])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        emb.embed_batch(batch)
        times.append(time.perf_counter() - t0)
    return 32 / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dfn-photos", type=int, default=640, help="dogfacenet photos per import run (0: all)")
    ap.add_argument("--naive-photos", type=int, default=160, help="photos timed on the naive path per run")
    ap.add_argument("--big", type=int, default=48, help="12-megapixel JPEGs to generate")
    args = ap.parse_args()
    dfn = require_data(args.data / "dogfacenet-dev")
    pets = require_data(args.data / "pets-mixed")
    from reid_engine.embedder import Embedder

    try:
        emb = Embedder.load()
    except WeightsError as exc:
        sys.exit(f"real weights are needed for this bench, and none were found: {exc}")
    import torch

    d = emb.describe()
    print(f"model {d['model']} {d['precision']} on {d['device']}, torch threads {torch.get_num_threads()}, "
          f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    work = Path(tempfile.mkdtemp(prefix="lostpet-bench-photos-"))
    try:
        dfn_files = subset_folder(dfn, work / "dfn", args.dfn_photos)
        t0 = time.perf_counter()
        big_files = make_big_jpegs(pets, work / "big", args.big)
        mb = sum(p.stat().st_size for p in big_files) / len(big_files) / 1e6
        print(f"{len(dfn_files)} dogfacenet photos; {len(big_files)} 12-MP JPEGs ({mb:.1f} MB each, "
              f"made in {time.perf_counter() - t0:.0f} s)")
        sets = [("dogfacenet-dev 224px", work / "dfn", "per-folder", dfn_files),
                ("12-MP JPEG q90", work / "big", "per-photo", big_files)]
        results = {name: {"import": [], "naive": [], "idle": []} for name, *_ in sets}
        model = []
        for run in range(args.runs):
            model.append(model_rate(emb))
            for name, folder, mode, files in sets:
                rate, n, idle = import_rate(emb, folder, mode)
                results[name]["import"].append(rate)
                results[name]["idle"].append(idle)
                results[name]["naive"].append(naive_rate(emb, files[: args.naive_photos]))
                print(f"run {run + 1}: {name}: import {rate:.1f}/s ({n} photos), naive "
                      f"{results[name]['naive'][-1]:.1f}/s, load {os.getloadavg()[0]:.1f}", flush=True)
        model_speed = statistics.median(model)
        rows = []
        for name, *_ in sets:
            imp, naive = statistics.median(results[name]["import"]), statistics.median(results[name]["naive"])
            ratios = [a / b for a, b in zip(results[name]["import"], results[name]["naive"])]
            rows.append(dict(photos=name, import_per_s=imp, naive_per_s=naive, ratio=statistics.median(ratios),
                             of_model_speed=imp / model_speed,
                             idle_estimate_per_s=statistics.median(results[name]["idle"])))
        print()
        print(f"model alone (batch 32): {model_speed:.1f} images/s (median of {len(model)})")
        print(table(rows, ["photos", "import_per_s", "naive_per_s", "ratio", "of_model_speed", "idle_estimate_per_s"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
