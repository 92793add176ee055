"""The embedder on a tiny random-init model: shapes, normalisation, determinism, files."""

from __future__ import annotations

import numpy as np
import pytest
from photos import dog_image, make_dog_photo

from reid_engine.embedder import Embedder, EmbedderConfig
from reid_engine.errors import InvalidInputError


def test_vectors_are_unit_float32_and_deterministic(tiny_embedder):
    images = [dog_image(s)[0] for s in range(3)]
    a = tiny_embedder.embed(images)
    b = tiny_embedder.embed(list(reversed(images)))[::-1]
    assert a.dtype == np.float32 and a.shape == (3, tiny_embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)  # batch order and size do not matter
    assert not np.allclose(a[0], a[1])


def test_batch_size_does_not_change_vectors(tiny_embedder):
    images = [dog_image(s)[0] for s in range(5)]
    np.testing.assert_allclose(
        tiny_embedder.embed(images, batch_size=1), tiny_embedder.embed(images, batch_size=4), atol=1e-5
    )


def test_patch_tokens_are_on_the_model_grid(tiny_embedder):
    vecs, tokens = tiny_embedder.embed_with_tokens([dog_image(1)[0]])
    gh, gw = tiny_embedder.grid
    assert tokens.shape == (1, gh, gw, tiny_embedder.token_dim)
    np.testing.assert_allclose(np.linalg.norm(tokens, axis=-1), 1.0, atol=1e-4)


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean"])
def test_each_pooling_gives_its_own_space(tiny_embedder, pooling):
    other = tiny_embedder.with_config(pooling=pooling)
    assert other.config.pooling == pooling
    v = other.embed([dog_image(2)[0]])
    assert v.shape == (1, other.dim)
    ids = {tiny_embedder.with_config(pooling=p).space_id for p in ("cls", "mean", "cls+mean")}
    assert len(ids) == 3


def test_space_id_depends_on_weights():
    a = Embedder.random_init(seed=0)
    b = Embedder.random_init(seed=1)
    assert a.space_id != b.space_id
    assert a.space_id == Embedder.random_init(seed=0).space_id


def test_bad_config_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="pooling"):
        EmbedderConfig(pooling="max")


def test_iter_embed_files_keeps_order_and_reports_bad_files(tiny_embedder, tmp_path):
    good = [make_dog_photo(tmp_path / f"d{i}.jpg", seed=i) for i in range(5)]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a photo")
    paths = good[:2] + [bad] + good[2:]
    results = list(tiny_embedder.iter_embed_files(paths, batch_size=2))
    assert [r.index for r in results] == list(range(6))
    assert results[2].error is not None and "broken.jpg" in str(results[2].error)
    direct = tiny_embedder.embed([tiny_embedder.load_photo(p) for p in good])
    got = np.stack([r.vector for r in results if r.error is None])
    np.testing.assert_allclose(got, direct, atol=1e-5)


def test_iter_embed_files_stops_when_cancelled(tiny_embedder, tmp_path):
    paths = [make_dog_photo(tmp_path / f"d{i}.jpg", seed=i) for i in range(8)]
    seen = []
    for item in tiny_embedder.iter_embed_files(paths, batch_size=2, cancel=lambda: len(seen) >= 4):
        seen.append(item)
    assert len(seen) == 4


def test_describe_names_the_weights_and_device(tiny_embedder):
    info = tiny_embedder.describe()
    assert info["weights_source"] == "random-init"
    assert info["device"] == "cpu" and info["dim"] == tiny_embedder.dim
