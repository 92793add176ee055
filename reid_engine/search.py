"""From photo similarities to ranked dogs.

A dog with five photos must appear once in the results, with one score. :func:`rank_dogs` takes the
cosine similarities between the query photo(s) and the candidate dogs' photos and returns one score
per dog:

1. per query photo, the dog's photos are aggregated by :data:`DEFAULT_AGGREGATION`;
2. several query photos (of the same dog) are combined by :data:`DEFAULT_COMBINE`.

Both defaults were measured by ``bench/bench_aggregation.py`` on ``../shared/data/dogfacenet-dev``
(leave-one-out, photo embeddings from the real weights): the best photo beats the mean of the top
two, a soft maximum and the mean (Rank-1 41.0 vs 37.9, 29.4, 22.0), and the best of two query
photos beats their mean and the averaged vector (40.9 vs 36.5, 40.2); the table is in
:mod:`reid_engine.registry`. The alternatives stay here so that the bench can compare them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SOFTMAX_TEMPERATURE = 0.05


def _max(scores: np.ndarray) -> float:
    return float(scores.max())


def _mean_top2(scores: np.ndarray) -> float:
    top = np.sort(scores)[::-1][:2]
    return float(top.mean())


def _mean(scores: np.ndarray) -> float:
    return float(scores.mean())


def _softmax_pool(scores: np.ndarray) -> float:
    # A soft maximum: log-sum-exp at a low temperature, minus log(n) so that many photos alone do not
    # raise the score (it lies between the mean and the maximum).
    t = SOFTMAX_TEMPERATURE
    m = scores.max()
    return float(m + t * np.log(np.mean(np.exp((scores - m) / t))))


AGGREGATIONS: dict[str, Callable[[np.ndarray], float]] = {
    "max": _max,
    "mean-top2": _mean_top2,
    "softmax": _softmax_pool,
    "mean": _mean,
}
"""How one query photo's similarities to a dog's photos become the dog's score."""

COMBINES = ("max", "mean")
"""How several query photos' dog scores become one: the best query photo, or their mean."""

DEFAULT_AGGREGATION = "max"
DEFAULT_COMBINE = "max"


@dataclass(frozen=True)
class DogScore:
    """One dog's score against the query, with the photo and query photo that matched best."""

    dog_id: int
    score: float
    best_photo: int
    query_index: int


def rank_dogs(
    sims: np.ndarray,
    photo_ids: np.ndarray,
    photo_dogs: np.ndarray,
    *,
    aggregation: str = DEFAULT_AGGREGATION,
    combine: str = DEFAULT_COMBINE,
) -> list[DogScore]:
    """Score each dog from its photos' similarities to the query photos, best first.

    Args:
        sims: Cosine similarities, (n photos, m query photos).
        photo_ids: (n,) the photo id of each row.
        photo_dogs: (n,) the dog id of each row.
        aggregation: A key of :data:`AGGREGATIONS`.
        combine: One of :data:`COMBINES`.

    Returns:
        One :class:`DogScore` per dog, sorted by score (ties: lower dog id first). Scores are raw
        cosine values (the caller clips them to [0, 1]).
    """
    agg = AGGREGATIONS[aggregation]
    if combine not in COMBINES:
        raise ValueError(f"unknown combine {combine!r}")
    out: list[DogScore] = []
    if not len(photo_ids):
        return out
    sims = np.asarray(sims, dtype=np.float32).reshape(len(photo_ids), -1)
    photo_ids = np.asarray(photo_ids)
    photo_dogs = np.asarray(photo_dogs)
    order = np.argsort(photo_dogs, kind="stable")
    dogs_sorted = photo_dogs[order]
    block = sims[order]  # rows grouped by dog
    starts = np.flatnonzero(np.r_[True, dogs_sorted[1:] != dogs_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    if aggregation == "max":
        per_query = np.maximum.reduceat(block, starts, axis=0)  # (dogs, m)
    else:
        per_query = np.array([[agg(block[s:e, q]) for q in range(block.shape[1])] for s, e in zip(starts, ends)])
    combined = per_query.max(axis=1) if combine == "max" else per_query.mean(axis=1)
    q_best = per_query.argmax(axis=1)
    for d, (s, e) in enumerate(zip(starts, ends)):
        best_row = order[s + int(block[s:e, q_best[d]].argmax())]
        out.append(DogScore(int(dogs_sorted[s]), float(combined[d]), int(photo_ids[best_row]), int(q_best[d])))
    out.sort(key=lambda d: (-d.score, d.dog_id))
    return out


def clip_score(score: float) -> float:
    """Cosine similarity -> the [0, 1] score shown to people (negative similarity reads as 0)."""
    return float(min(1.0, max(0.0, score)))


__all__ = ["AGGREGATIONS", "COMBINES", "DEFAULT_AGGREGATION", "DEFAULT_COMBINE", "DogScore", "rank_dogs", "clip_score"]
