"""Rank-1 / Rank-5 / mAP on hand-made vectors, and dataset discovery."""

from __future__ import annotations

import numpy as np
import pytest

from reid_engine.errors import InvalidInputError
from reid_engine.evaluation import find_query_gallery, label_from_path, rank_metrics


def _unit(rows):
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_perfect_separation_scores_100():
    g = _unit([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    labels = ["a", "a", "b", "b"]
    r1, r5, m, n = rank_metrics(g, labels, g, labels, leave_one_out=True)
    assert (r1, r5, m, n) == (100.0, 100.0, 100.0, 4)


def test_map_counts_position_of_every_positive():
    q = _unit([[1, 0]])
    # Gallery ranked by similarity to q: x (neg), a1 (pos), y (neg), a2 (pos).
    g = _unit([[1, 0.01], [1, 0.2], [1, 0.5], [1, 0.9]])
    r1, r5, m, n = rank_metrics(q, ["a"], g, ["x", "a", "y", "a"])
    assert r1 == 0.0 and r5 == 100.0 and n == 1
    assert m == pytest.approx(100 * (1 / 2 + 2 / 4) / 2)


def test_leave_one_out_skips_singletons_and_self():
    g = _unit([[1, 0], [0, 1], [0.1, 1]])
    r1, _, _, n = rank_metrics(g, ["solo", "b", "b"], g, ["solo", "b", "b"], leave_one_out=True)
    assert n == 2 and r1 == 100.0


def test_no_rankable_query_is_a_clear_error():
    g = _unit([[1, 0], [0, 1]])
    with pytest.raises(InvalidInputError, match="at least two photos"):
        rank_metrics(g, ["a", "b"], g, ["a", "b"], leave_one_out=True)


def test_labels_from_subfolder_or_file_name(tmp_path):
    assert label_from_path(tmp_path / "rex" / "1.jpg", tmp_path) == "rex"
    assert label_from_path(tmp_path / "0042_c1s1_3.jpg", tmp_path) == "0042"


def test_query_gallery_folders_are_found_under_images(tmp_path):
    (tmp_path / "images" / "query").mkdir(parents=True)
    (tmp_path / "images" / "gallery").mkdir()
    assert find_query_gallery(tmp_path) == (tmp_path / "images" / "query", tmp_path / "images" / "gallery")
    assert find_query_gallery(tmp_path / "images" / "query") is None
