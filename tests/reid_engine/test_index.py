"""The FAISS index cache: search, selectors, removal, atomic save and every way a saved copy is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reid_engine.index import INDEX_FILENAME, MANIFEST_FILENAME, IndexManifest, VectorIndex, load_index


def _unit(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _manifest(**kw) -> IndexManifest:
    base = dict(space_id="s", weights_sha256="w", model="m", dim=8, count=20, schema_version=1, db_generation=7)
    return IndexManifest(**{**base, **kw})


@pytest.fixture
def index():
    return VectorIndex.build(np.arange(100, 120), _unit(20), 8)


def test_search_finds_each_vector_first_with_its_photo_id(index):
    scores, ids = index.search(_unit(20), 3)
    assert ids[:, 0].tolist() == list(range(100, 120))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=2e-3)  # float16 storage


def test_allowed_ids_restrict_the_search(index):
    _, ids = index.search(_unit(20)[:1], 5, allowed=np.array([105, 111]))
    assert set(ids[0].tolist()) == {105, 111}  # k is capped to what is allowed


def test_add_replaces_and_remove_deletes(index):
    index.add([100], -_unit(20)[:1])
    assert len(index) == 20
    np.testing.assert_allclose(index.reconstruct([100])[0], -_unit(20)[0], atol=1e-3)
    assert index.remove([100, 101, 999]) == 2
    assert len(index) == 18 and 100 not in index.ids().tolist()


def test_empty_index_and_empty_selection_give_empty_results():
    empty = VectorIndex(8)
    scores, ids = empty.search(_unit(2), 5)
    assert scores.shape == (2, 0) and ids.shape == (2, 0)
    full = VectorIndex.build(np.arange(3), _unit(3), 8)
    assert full.search(_unit(1), 5, allowed=np.array([], np.int64))[1].shape == (1, 0)


def test_save_and_load_round_trip(index, tmp_path):
    saved = index.save(tmp_path, _manifest(count=0))
    assert saved.count == 20 and len(saved.index_sha256) == 64
    loaded, why = load_index(tmp_path, _manifest())
    assert why == "" and loaded.ids().tolist() == index.ids().tolist()
    np.testing.assert_array_equal(loaded.reconstruct([107]), index.reconstruct([107]))


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(db_generation=8), "out of date"),
        (dict(space_id="other"), "out of date"),
        (dict(weights_sha256="new"), "out of date"),
        (dict(count=21), "out of date"),
        (dict(schema_version=2), "out of date"),
    ],
)
def test_a_mismatched_manifest_is_refused(index, tmp_path, change, reason):
    index.save(tmp_path, _manifest())
    loaded, why = load_index(tmp_path, _manifest(**change))
    assert loaded is None and reason in why


def test_missing_corrupt_or_half_replaced_files_are_refused(index, tmp_path):
    assert load_index(tmp_path, _manifest()) == (None, "no saved index")
    index.save(tmp_path, _manifest())
    good = (tmp_path / INDEX_FILENAME).read_bytes()

    (tmp_path / INDEX_FILENAME).write_bytes(good[: len(good) // 2])
    assert "does not match" in load_index(tmp_path, _manifest())[1]

    # A damaged file whose manifest was rewritten to match: FAISS itself refuses it.
    bad = good[:40] + b"\xff" * 64 + good[104:]
    (tmp_path / INDEX_FILENAME).write_bytes(bad)
    raw = json.loads((tmp_path / MANIFEST_FILENAME).read_text())
    import hashlib

    raw["index_sha256"] = hashlib.sha256(bad).hexdigest()
    (tmp_path / MANIFEST_FILENAME).write_text(json.dumps(raw))
    loaded, why = load_index(tmp_path, _manifest())
    assert loaded is None and why

    (tmp_path / MANIFEST_FILENAME).write_text("{not json")
    assert load_index(tmp_path, _manifest()) == (None, "the index manifest is unreadable")
