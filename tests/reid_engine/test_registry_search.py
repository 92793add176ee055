"""Per-dog aggregation (reid_engine.search) on hand-made similarities."""

from __future__ import annotations

import numpy as np
import pytest

from reid_engine.search import AGGREGATIONS, COMBINES, clip_score, rank_dogs

# Dog 7: photos 1, 2 ; dog 3: photos 3, 4, 5 ; dog 9: photo 6. Two query photos (columns).
SIMS = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.7], [0.85, 0.6], [0.1, 0.65], [0.5, 0.95]], np.float32)
PHOTOS = np.array([1, 2, 3, 4, 5, 6])
DOGS = np.array([7, 7, 3, 3, 3, 9])


def test_max_aggregation_with_mean_combine():
    ranked = rank_dogs(SIMS, PHOTOS, DOGS, aggregation="max", combine="mean")
    got = {d.dog_id: d for d in ranked}
    assert got[3].score == pytest.approx((0.85 + 0.7) / 2)
    assert got[7].score == pytest.approx((0.9 + 0.3) / 2)
    assert got[9].score == pytest.approx((0.5 + 0.95) / 2)
    assert [d.dog_id for d in ranked] == [3, 9, 7]
    assert (got[3].best_photo, got[3].query_index) == (4, 0)  # 0.85 for query 0 is its best
    assert (got[9].best_photo, got[9].query_index) == (6, 1)


def test_max_combine_takes_the_best_query_photo():
    ranked = rank_dogs(SIMS, PHOTOS, DOGS, aggregation="max", combine="max")
    assert [(d.dog_id, round(d.score, 2)) for d in ranked] == [(9, 0.95), (7, 0.9), (3, 0.85)]


@pytest.mark.parametrize("aggregation", sorted(AGGREGATIONS))
@pytest.mark.parametrize("combine", COMBINES)
def test_every_aggregation_gives_one_score_per_dog_between_mean_and_max(aggregation, combine):
    ranked = rank_dogs(SIMS, PHOTOS, DOGS, aggregation=aggregation, combine=combine)
    assert sorted(d.dog_id for d in ranked) == [3, 7, 9]
    scores = [d.score for d in ranked]
    assert scores == sorted(scores, reverse=True)
    for d in ranked:
        rows = SIMS[DOGS == d.dog_id]
        assert rows.mean(0).min() - 1e-6 <= d.score <= rows.max() + 1e-6


def test_single_query_vector_and_empty_input():
    ranked = rank_dogs(SIMS[:, 0], PHOTOS, DOGS)
    assert ranked[0].dog_id == 7 and ranked[0].best_photo == 1
    assert rank_dogs(np.zeros((0, 1)), np.array([]), np.array([])) == []


def test_scores_shown_to_people_are_clipped():
    assert clip_score(-0.2) == 0.0 and clip_score(1.0000002) == 1.0 and clip_score(0.5) == 0.5
