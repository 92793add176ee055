"""The re-ID head: file round trip, the backbone/pooling guard, and the embedder applying it."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest
import torch
from photos import dog_image

from reid_engine.embedder import POOLINGS, Embedder, EmbedderConfig
from reid_engine.head import (
    HEAD_FILENAME,
    HeadInfo,
    build_head,
    head_out_dim,
    load_shipped_head,
    read_head,
    save_head,
)
from reid_engine.paths import resources_dir

SHA = "a" * 64


def info(kind="fused", in_dim=48, proj_dim=16, pooling="cls+mean", sha=SHA, alpha=0.5) -> HeadInfo:
    return HeadInfo(backbone_sha256=sha, pooling=pooling, in_dim=in_dim,
                    out_dim=head_out_dim(kind, in_dim, proj_dim), kind=kind, alpha=alpha, proj_dim=proj_dim,
                    loss="test", training_data="generated", created="2026-01-01")


def saved_head(path, kind="fused", **kw):
    proj_dim = kw.pop("proj_dim", 48 if kind == "residual" else 16)
    torch.manual_seed(0)
    head = build_head(48, proj_dim, kind, 0.5)
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.1)
    save_head(path, head, info(kind, proj_dim=proj_dim, **kw))
    return head


@pytest.mark.parametrize("kind", ["linear", "residual", "fused"])
def test_save_and_read_round_trip(tmp_path, kind):
    head = saved_head(tmp_path / "h.safetensors", kind)
    loaded, meta, head_id = read_head(tmp_path / "h.safetensors")
    x = torch.nn.functional.normalize(torch.randn(5, 48), dim=-1)
    torch.testing.assert_close(loaded(x), head.eval()(x))
    assert meta.kind == kind and meta.backbone_sha256 == SHA and meta.out_dim == loaded(x).shape[1]
    assert re.fullmatch(r"reidhead-[0-9a-f]{12}", head_id)
    sidecar = json.loads((tmp_path / "h.json").read_text())
    assert sidecar["backbone_sha256"] == SHA and sidecar["pooling"] == "cls+mean"


def test_residual_head_starts_as_the_identity():
    x = torch.randn(3, 48)
    torch.testing.assert_close(build_head(48, 48, "residual")(x), x)


def test_fused_head_keeps_the_backbone_similarity_and_adds_the_learned_one():
    head = build_head(48, 16, "fused", alpha=0.5)
    x = torch.nn.functional.normalize(torch.randn(4, 48), dim=-1)
    out = head(x)
    assert out.shape == (4, 64)
    torch.testing.assert_close(out[:, :48], x)
    torch.testing.assert_close(out[:, 48:].norm(dim=-1), torch.full((4,), 0.5))


def test_shipped_head_applies_only_to_its_backbone_pooling_and_size(tmp_path):
    path = tmp_path / HEAD_FILENAME
    saved_head(path, "fused")
    head, head_id = load_shipped_head(SHA, 48, "cls+mean", path=path)
    assert head is not None and head_id.startswith("reidhead-")
    assert load_shipped_head("b" * 64, 48, "cls+mean", path=path) == (None, "")
    assert load_shipped_head(SHA, 48, "cls", path=path) == (None, "")
    assert load_shipped_head(SHA, 384, "cls+mean", path=path) == (None, "")
    assert load_shipped_head(SHA, 48, "cls+mean", path=tmp_path / "absent.safetensors") == (None, "")


def test_a_damaged_head_file_means_no_head_not_a_crash(tmp_path, caplog):
    path = tmp_path / HEAD_FILENAME
    path.write_bytes(b"not a safetensors file")
    with caplog.at_level(logging.WARNING):
        assert load_shipped_head(SHA, 48, "cls+mean", path=path) == (None, "")
    assert "re-ID head" in caplog.text


def test_embedder_applies_the_head_and_names_its_space(tmp_path, tiny_embedder):
    saved_head(tmp_path / "h.safetensors", "fused", sha=tiny_embedder.weights_sha256)
    head, meta, head_id = read_head(tmp_path / "h.safetensors")
    with_head = Embedder(tiny_embedder.model, weights=None, config=EmbedderConfig(device="cpu"), head=head,
                         head_id=head_id, model_name=tiny_embedder.model_name)
    images = [dog_image(s)[0] for s in range(3)]
    vecs = with_head.embed(images)
    assert vecs.shape == (3, meta.out_dim) and with_head.dim == meta.out_dim
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert with_head.space_id != tiny_embedder.space_id
    assert with_head.without_head().space_id == tiny_embedder.space_id
    other = with_head.with_config(pooling="mean" if with_head.config.pooling != "mean" else "cls")
    assert other.head is None and other.describe()["head"] is None  # a head only fits its own pooling
    assert with_head.with_config(batch_size=4).head is head


def test_the_shipped_head_is_small_and_says_what_it_is():
    path = resources_dir() / HEAD_FILENAME
    if not path.is_file():
        pytest.skip("no head shipped in resources/")
    assert path.stat().st_size < 2 * 1024 * 1024
    _, meta, _ = read_head(path)
    assert re.fullmatch(r"[0-9a-f]{64}", meta.backbone_sha256)
    assert meta.pooling in POOLINGS and meta.in_dim == 384
    assert meta.loss and meta.created and "dogfacenet" in meta.training_data.lower()
    assert 0.5 < meta.possible_threshold < meta.likely_threshold < 0.97  # calibrated, and not the backbone's
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["backbone_sha256"] == meta.backbone_sha256


@pytest.mark.real_weights
def test_the_real_backbone_gets_the_shipped_head(real_weights, monkeypatch):
    path = resources_dir() / HEAD_FILENAME
    if not path.is_file():
        pytest.skip("no head shipped in resources/")
    _, meta, _ = read_head(path)
    if meta.backbone_sha256 != real_weights.sha256:
        pytest.skip("the shipped head was trained on other weights than the ones found here")
    monkeypatch.setenv("LOSTPET_WEIGHTS", str(real_weights.path))
    config = EmbedderConfig(device="cpu", pooling=meta.pooling)
    emb = Embedder.load(config=config)
    assert emb.head is not None and emb.dim == meta.out_dim
    assert Embedder.load(config=config, use_head=False).head is None
    other = next(p for p in POOLINGS if p != meta.pooling)
    assert Embedder.load(config=EmbedderConfig(device="cpu", pooling=other)).head is None


def test_bands_come_from_a_calibrated_head_else_the_backbone_defaults(tmp_path, tiny_embedder):
    from reid_engine.settings import ZERO_SHOT_BANDS

    assert tiny_embedder.bands == ZERO_SHOT_BANDS  # no head
    saved_head(tmp_path / "old.safetensors", "fused", sha=tiny_embedder.weights_sha256)  # not calibrated
    head, meta, head_id = read_head(tmp_path / "old.safetensors")
    assert meta.likely_threshold == 0.0
    emb = Embedder(tiny_embedder.model, weights=None, config=EmbedderConfig(device="cpu"), head=head, head_id=head_id)
    assert emb.bands == ZERO_SHOT_BANDS
    torch.manual_seed(0)
    calibrated = build_head(48, 16, "fused", 0.5)
    save_head(tmp_path / "new.safetensors", calibrated,
              HeadInfo(**{**info().__dict__, "likely_threshold": 0.8, "possible_threshold": 0.7}))
    head, meta, head_id = read_head(tmp_path / "new.safetensors")
    emb = Embedder(tiny_embedder.model, weights=None, config=EmbedderConfig(device="cpu"), head=head, head_id=head_id)
    assert emb.bands == (0.8, 0.7) and emb.describe()["bands"] == [0.8, 0.7]
