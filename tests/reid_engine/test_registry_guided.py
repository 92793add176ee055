"""Region-guided search and explain heatmaps through the Registry API (tiny random-init model)."""

from __future__ import annotations

import numpy as np
import pytest
from photos import make_dog_photo

from reid_engine.errors import InvalidInputError
from reid_engine.guided import region_from_box
from reid_engine.models import DogDetails
from reid_engine.registry import Registry


@pytest.fixture
def registry(tmp_path, tiny_embedder):
    reg = Registry.open(tmp_path / "reg", embedder=tiny_embedder)
    for seed in range(6):
        reg.register([make_dog_photo(tmp_path / "in" / f"dog{seed}.jpg", seed=seed)],
                     DogDetails(tag=f"D{seed}"))
    yield reg
    reg.close()


def test_unguided_and_empty_region_give_the_same_ranking(registry, tmp_path):
    query = make_dog_photo(tmp_path / "q.jpg", seed=3, variant=1)
    plain = registry.search([query], k=6)
    empty = registry.search([query], k=6, region=np.zeros((10, 10), np.float32))
    assert [m.dog.tag for m in plain] == [m.dog.tag for m in empty]
    np.testing.assert_allclose([m.score for m in plain], [m.score for m in empty], atol=1e-6)


def test_a_region_re_scores_the_candidates(registry, tmp_path):
    query = make_dog_photo(tmp_path / "q.jpg", seed=3, variant=1)
    plain = {m.dog.tag: m.score for m in registry.search([query], k=6)}
    region = region_from_box((320, 240), (100, 60, 120, 120))  # any resolution; resized to the photo
    guided = registry.search([query], k=6, region=region, alpha=1.0)
    assert len(guided) == 6 and len({m.dog.tag for m in guided}) == 6
    assert [m.rank for m in guided] == list(range(1, 7))
    assert any(abs(plain[m.dog.tag] - m.score) > 1e-4 for m in guided)
    scores = [m.score for m in guided]
    assert scores == sorted(scores, reverse=True)


def test_a_region_needs_exactly_one_query_photo(registry, tmp_path):
    a = make_dog_photo(tmp_path / "a.jpg", seed=1, variant=1)
    b = make_dog_photo(tmp_path / "b.jpg", seed=1, variant=2)
    with pytest.raises(InvalidInputError, match="one query photo"):
        registry.search([a, b], region=np.ones((4, 4), np.float32))


def test_explain_gives_two_unit_range_maps_at_photo_size(registry, tmp_path):
    query = make_dog_photo(tmp_path / "q.jpg", seed=2, variant=1, size=(300, 200))
    match = registry.search([query], k=1)[0]
    heat_q, heat_m = registry.explain(query, match.photo)
    assert heat_q.ndim == 2 and heat_m.ndim == 2
    assert heat_q.shape[1] / heat_q.shape[0] == pytest.approx(300 / 200, rel=0.05)
    for heat in (heat_q, heat_m):
        assert heat.dtype == np.float32 and heat.min() >= 0.0 and heat.max() <= 1.0
        assert heat.max() > heat.min()
    again = registry.explain(query, match.photo.id)
    np.testing.assert_allclose(again[0], heat_q, atol=1e-6)
