"""CLIP text heatmaps on a tiny random-init open_clip model: shapes, ranges, determinism, prompt
handling, the text-embedding cache, and plain errors where no CLIP weights exist."""

from __future__ import annotations

import numpy as np
import pytest

from reid_engine.errors import InvalidInputError, WeightsError
from reid_engine.settings import Settings

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def clip():
    from reid_engine.clip_heatmap import ClipHeatmapper

    return ClipHeatmapper.random_init("tiny", model_cfg=TINY_CFG, seed=0, resolution=128)


@pytest.fixture
def photo():
    import photos

    return photos.dog_image(5, (150, 100))[0]


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache: nothing downloaded, and the network stays off."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def test_heatmap_is_photo_sized_in_unit_range_and_deterministic(clip, photo):
    heat = clip.heatmap(photo, "red collar")
    assert heat.shape == (100, 150) and heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    assert np.array_equal(heat, clip.heatmap(photo, "red collar"))
    assert not np.allclose(heat, clip.heatmap(photo, "white patch on the chest"))


def test_grid_follows_the_resolution_with_resampled_position_embeddings(clip, photo):
    grid, layout = clip.grid_heatmap(photo, "torn left ear")
    assert grid.shape == (8, 8)  # 128 px / 16 px patches
    assert layout.side == 128 and layout.image_size == (150, 100)
    native = clip._pos_embed(4, 4)  # the model's own 64 px grid: untouched
    assert np.array_equal(native.numpy(), clip.model.visual.positional_embedding.detach().numpy())


def test_same_model_same_weights_same_map(photo):
    from reid_engine.clip_heatmap import ClipHeatmapper

    a = ClipHeatmapper.random_init("tiny", model_cfg=TINY_CFG, seed=3, resolution=64)
    b = ClipHeatmapper.random_init("tiny", model_cfg=TINY_CFG, seed=3, resolution=64)
    assert np.array_equal(a.heatmap(photo, "spots"), b.heatmap(photo, "spots"))


def test_relevance_is_a_softmax_against_the_contrast_prompts(clip, photo):
    feats, _ = clip.dense_features(photo)
    assert np.allclose(np.linalg.norm(feats, axis=-1), 1.0, atol=1e-4)
    alone = clip._relevance(feats, "red collar", contrast=())
    assert np.allclose(alone, 1.0)  # nothing to beat
    # The prompt itself is never its own contrast.
    assert np.allclose(clip._relevance(feats, "grass", ("grass",)), 1.0)
    two = clip._relevance(feats, "red collar", ("grass",))
    assert np.all((two > 0) & (two < 1))


def test_text_embeddings_are_cached_per_normalised_prompt(clip, monkeypatch):
    calls = []
    real = clip.model.encode_text

    def counting(tokens, **kw):
        calls.append(tokens.shape[0])
        return real(tokens, **kw)

    monkeypatch.setattr(clip.model, "encode_text", counting)
    first = clip.text_embedding("Blue  harness ")
    again = clip.text_embedding("blue harness")
    assert len(calls) == 1 and np.array_equal(first, again)
    assert first.shape == (32,) and np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    assert "blue harness" in clip.cached_prompts


def test_text_cache_is_bounded():
    from reid_engine.clip_heatmap import ClipHeatmapper

    small = ClipHeatmapper.random_init("tiny", model_cfg=TINY_CFG, seed=1)
    small._text_cache_size = 2
    for prompt in ("one", "two", "three"):
        small.text_embedding(prompt)
    assert small.cached_prompts == ("two", "three")


@pytest.mark.parametrize("prompt", ["", "   \n\t", "x" * 201])
def test_empty_or_overlong_prompts_are_refused_plainly(clip, photo, prompt):
    with pytest.raises(InvalidInputError, match="prompt"):
        clip.heatmap(photo, prompt)


def test_unicode_and_punctuation_prompts_work(clip, photo):
    heat = clip.heatmap(photo, "café-au-lait spot, left flank!")
    assert heat.shape == (100, 150)


def test_load_without_weights_says_so(empty_hf_cache):
    from reid_engine.clip_heatmap import ClipHeatmapper, ClipUnavailableError

    with pytest.raises(ClipUnavailableError) as info:
        ClipHeatmapper.load("ViT-B-16")
    err = info.value
    assert isinstance(err, WeightsError) and err.source == "clip"
    assert "ViT-B-16" in str(err) and "Settings" in str(err)


def test_named_file_missing_or_broken_is_a_clear_error(tmp_path, empty_hf_cache):
    from reid_engine.clip_heatmap import ClipHeatmapper, ClipUnavailableError

    with pytest.raises(ClipUnavailableError, match="does not exist"):
        ClipHeatmapper.load("ViT-B-32", tmp_path / "nope.pt")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ClipUnavailableError, match="cannot be loaded"):
        ClipHeatmapper.load("ViT-B-32", broken)


def test_status_reports_missing_weights_without_loading_anything(empty_hf_cache, tmp_path):
    from reid_engine.clip_heatmap import clip_status

    ok, reason = clip_status(Settings())
    assert not ok and reason.startswith("Text search is off") and "ViT-B-16" in reason
    ok, reason = clip_status(Settings(clip_weights=str(tmp_path / "missing.pt")))
    assert not ok and "missing.pt" in reason


def test_status_finds_weights_in_the_local_hf_cache(empty_hf_cache):
    from reid_engine.clip_heatmap import clip_status, find_clip_weights

    snapshot = empty_hf_cache / "models--timm--vit_base_patch16_clip_224.openai" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"weights")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    found = find_clip_weights("ViT-B-16")
    assert found.tag == "openai" and found.quick_gelu and found.path.name == "open_clip_model.safetensors"
    ok, reason = clip_status(Settings())
    assert ok and "ViT-B-16" in reason


def test_unsupported_architectures_are_refused():
    import torch

    from reid_engine.clip_heatmap import ClipHeatmapper

    with pytest.raises(InvalidInputError, match="not a plain open_clip ViT"):
        ClipHeatmapper(torch.nn.Linear(2, 2), None, model_name="odd", source="test")


def test_load_clip_or_none_never_raises_for_missing_weights(empty_hf_cache):
    from reid_engine.clip_heatmap import load_clip_or_none

    clip, reason = load_clip_or_none(Settings())
    assert clip is None and "no CLIP weights" in reason


def test_dense_path_follows_open_clips_own_forward_up_to_the_last_block(clip):
    import torch

    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        mine, grid = clip._before_last_block(x)
        layers = len(clip.model.visual.transformer.resblocks)
        ref = clip.model.visual.forward_intermediates(
            x, indices=[layers - 2], output_fmt="NLC", output_extra_tokens=True
        )
    assert grid == (4, 4)
    assert torch.allclose(mine[:, 1:], ref["image_intermediates"][0], atol=1e-5)
    assert torch.allclose(mine[:, :1], ref["image_intermediates_prefix"][0], atol=1e-5)
