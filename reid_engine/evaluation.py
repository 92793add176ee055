"""Re-identification metrics on labelled photo sets (Rank-1, Rank-5, mAP).

Two protocols, as used for every figure in the README:

* leave-one-out: a folder with one sub-folder per dog; every photo queries all the others, and dogs
  with a single photo are not queries;
* query/gallery: two folders; a photo's dog id is its sub-folder name, or else its file name up to
  the first ``_`` (Market-1501 style, as in MPDD).

Nothing here writes anywhere: evaluations never touch the user's registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import InvalidInputError
from .images import iter_image_files


@dataclass(frozen=True)
class LabelledPhotos:
    """Photo paths with the id of the dog in each."""

    paths: tuple[Path, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class EvalResult:
    """Figures of one evaluation run (keys match ``lostpet-cli eval --json``)."""

    rank1: float
    rank5: float
    mAP: float
    n_queries: int
    n_gallery: int
    images_per_s: float
    protocol: str = ""
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def label_from_path(path: Path, root: Path) -> str:
    """The dog id of a photo: its first sub-folder under ``root``, else its name up to ``_``."""
    rel = path.relative_to(root)
    if len(rel.parts) > 1:
        return rel.parts[0]
    return path.stem.split("_", 1)[0]


def scan_labelled(root: str | Path) -> LabelledPhotos:
    """All photos under ``root`` (recursive), labelled by :func:`label_from_path`."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder. Give a folder of photos.")
    paths = tuple(iter_image_files(root, recursive=True))
    if not paths:
        raise InvalidInputError(f"No photos found in {root}.")
    return LabelledPhotos(paths, tuple(label_from_path(p, root) for p in paths))


def find_query_gallery(root: str | Path) -> tuple[Path, Path] | None:
    """Auto-detect ``query/`` and ``gallery/`` folders in ``root`` or ``root/images``."""
    root = Path(root)
    for base in (root, root / "images"):
        if (base / "query").is_dir() and (base / "gallery").is_dir():
            return base / "query", base / "gallery"
    return None


def rank_metrics(
    query: np.ndarray,
    query_labels: Sequence[str],
    gallery: np.ndarray,
    gallery_labels: Sequence[str],
    *,
    leave_one_out: bool = False,
    chunk: int = 512,
) -> tuple[float, float, float, int]:
    """Rank-1, Rank-5 and mAP (as percentages) and the number of queries scored.

    Args:
        query: (nq, d) L2-normalised vectors.
        gallery: (ng, d) L2-normalised vectors. With ``leave_one_out`` it is the same set as
            ``query`` and each photo is excluded from its own ranking.
        leave_one_out: Exclude self-matches; queries whose dog has no other photo are skipped.

    Queries whose dog is absent from the gallery are skipped (they cannot be ranked).
    """
    q_lab = np.asarray(query_labels)
    g_lab = np.asarray(gallery_labels)
    _, g_codes = np.unique(g_lab, return_inverse=True)
    code_of = {lab: code for lab, code in zip(g_lab, g_codes)}
    q_codes = np.array([code_of.get(lab, -1) for lab in q_lab])
    r1 = r5 = ap_sum = 0.0
    n = 0
    for start in range(0, len(query), chunk):
        sim = query[start : start + chunk] @ gallery.T
        rows = np.arange(start, min(start + chunk, len(query)))
        if leave_one_out:
            sim[rows - start, rows] = -np.inf
        order = np.argsort(-sim, axis=1, kind="stable")
        matches = g_codes[order] == q_codes[rows, None]
        if leave_one_out:
            matches[order == rows[:, None]] = False
        n_pos = matches.sum(axis=1)
        valid = n_pos > 0
        if not valid.any():
            continue
        m = matches[valid]
        r1 += m[:, 0].sum()
        r5 += m[:, :5].any(axis=1).sum()
        hits = np.cumsum(m, axis=1)
        ranks = np.arange(1, m.shape[1] + 1)
        ap = (np.where(m, hits / ranks, 0.0)).sum(axis=1) / n_pos[valid]
        ap_sum += ap.sum()
        n += int(valid.sum())
    if n == 0:
        raise InvalidInputError(
            "No query has a matching dog in the gallery: check that each dog has at least two photos "
            "(leave-one-out) or that query and gallery share dog ids."
        )
    return 100.0 * r1 / n, 100.0 * r5 / n, 100.0 * ap_sum / n, n


def embed_labelled(
    embedder,
    photos: LabelledPhotos,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, tuple[str, ...], list[str], float]:
    """Embed a labelled set; returns (vectors, labels of the embedded photos, failures, seconds)."""
    vectors, labels, failed = [], [], []
    t0 = time.perf_counter()
    for done, item in enumerate(embedder.iter_embed_files(photos.paths), start=1):
        if item.error is not None:
            failed.append(str(item.error))
        else:
            vectors.append(item.vector)
            labels.append(photos.labels[item.index])
        if progress is not None:
            progress(done, len(photos))
    seconds = time.perf_counter() - t0
    dim = getattr(embedder, "dim", 0)
    arr = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    return arr, tuple(labels), failed, seconds


def evaluate(
    embedder,
    path: str | Path | None = None,
    *,
    query: str | Path | None = None,
    gallery: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Evaluate ``embedder`` on a labelled photo set (see module doc for the protocols).

    Args:
        embedder: An :class:`~reid_engine.embedder.Embedder` (or anything with ``iter_embed_files``).
        path: Root folder. Query/gallery folders under it are auto-detected; otherwise it is a
            leave-one-out set with one sub-folder per dog.
        query, gallery: Explicit folders (relative paths are taken under ``path`` when given).
        progress: ``progress(done, total)`` after each photo.
    """
    root = Path(path) if path is not None else None
    if (query is None) != (gallery is None):
        raise InvalidInputError("Give both --query and --gallery, or neither.")
    if query is None and root is not None:
        found = find_query_gallery(root)
        if found:
            query, gallery = found
    if query is not None:
        qdir = _under(root, query)
        gdir = _under(root, gallery)
        qset, gset = scan_labelled(qdir), scan_labelled(gdir)
        total = len(qset) + len(gset)

        def gprog(done: int, _total: int) -> None:
            if progress:
                progress(len(qset) + done, total)

        def qprog(done: int, _total: int) -> None:
            if progress:
                progress(done, total)

        qv, ql, qf, qs = embed_labelled(embedder, qset, progress=qprog)
        gv, gl, gf, gs = embed_labelled(embedder, gset, progress=gprog)
        r1, r5, mp, n = rank_metrics(qv, ql, gv, gl)
        ips = (len(qv) + len(gv)) / max(qs + gs, 1e-9)
        return EvalResult(r1, r5, mp, n, len(gv), ips, "query/gallery", qf + gf)
    if root is None:
        raise InvalidInputError("Give a folder to evaluate.")
    photos = scan_labelled(root)
    vecs, labels, failed, secs = embed_labelled(embedder, photos, progress=progress)
    r1, r5, mp, n = rank_metrics(vecs, labels, vecs, labels, leave_one_out=True)
    return EvalResult(r1, r5, mp, n, len(vecs), len(vecs) / max(secs, 1e-9), "leave-one-out", failed)


def _under(root: Path | None, sub: str | Path) -> Path:
    sub = Path(sub)
    if root is not None and not sub.is_absolute() and not sub.exists():
        return root / sub
    return sub


# ----------------------------------------------------------------------------- score bands


def dog_scores(
    q: np.ndarray, q_labels: Sequence[str], g: np.ndarray, g_labels: Sequence[str], *, same_set: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The per-dog scores a search shows (best photo per dog, as the registry ranks).

    Returns:
        ``(genuine, impostors)``: for each query with its own dog in the gallery, the score of its
        own dog, and (one row per query) the scores of every other dog. With ``same_set`` the
        gallery is the query set itself and each photo is left out of its own search.
    """
    sims = np.asarray(q, np.float32) @ np.asarray(g, np.float32).T
    if same_set:
        np.fill_diagonal(sims, -np.inf)
    dogs, codes = np.unique(np.asarray(g_labels), return_inverse=True)
    per_dog = np.full((len(q), len(dogs)), -np.inf, np.float32)
    for d in range(len(dogs)):
        per_dog[:, d] = sims[:, codes == d].max(axis=1)
    own_code = {lab: i for i, lab in enumerate(dogs)}
    genuine, impostors = [], []
    for i, lab in enumerate(q_labels):
        own = own_code.get(lab)
        if own is None or not np.isfinite(per_dog[i, own]):
            continue
        genuine.append(per_dog[i, own])
        impostors.append(np.delete(per_dog[i], own))
    if not genuine:
        return np.zeros(0, np.float32), np.zeros((0, max(0, len(dogs) - 1)), np.float32)
    return np.asarray(genuine), np.stack(impostors)


LIKELY_WRONG_RATE = 0.01
"""At the "likely" threshold, at most this share of searches shows a wrong dog as likely."""

POSSIBLE_WRONG_RATE = 0.20
"""At the "possible" threshold, at most this share of searches shows a wrong dog as possible."""


def calibrate_bands(
    impostors: np.ndarray, *, likely_rate: float = LIKELY_WRONG_RATE, possible_rate: float = POSSIBLE_WRONG_RATE
) -> tuple[float, float] | None:
    """The lowest thresholds (on a 0.01 grid) at which few enough searches show a wrong dog.

    Args:
        impostors: (queries, other dogs) per-dog scores of wrong dogs (:func:`dog_scores`).

    Returns:
        ``(likely, possible)`` thresholds in [0, 1], ``likely > possible``; ``None`` when there is
        nothing to calibrate on (no query has a wrong dog to compare with).
    """
    if impostors.size == 0:
        return None
    best = np.max(impostors, axis=1)
    grid = np.round(np.arange(0.0, 1.0001, 0.01), 2)
    rates = np.array([(best >= t).mean() for t in grid])
    likely = float(grid[np.argmax(rates <= likely_rate)])
    possible = float(grid[np.argmax(rates <= possible_rate)])
    return likely, min(possible, round(likely - 0.01, 2))
