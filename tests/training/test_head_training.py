"""The identity head trainer: cached features, losses that learn, a head file the engine applies."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reid_engine.embedder import Embedder, EmbedderConfig
from reid_engine.head import load_shipped_head, read_head
from training import cli
from training.common import holdout_mask, load_backbone
from training.features import cached_features
from training.head import HeadConfig, apply_head, figures_loo, train_head
from training.losses import HEAD_LOSSES


def test_head_command_trains_and_writes_a_head_the_engine_applies(tmp_path, dog_folder, capsys):
    out = tmp_path / "head.safetensors"
    code = cli.main(["head", "--data", str(dog_folder), "--random-init", "tiny", "--cache-dir", str(tmp_path / "c"),
                     "--epochs", "3", "--dim", "16", "--out", str(out), "--json", "--quiet"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["heldout_dogs"] == 1 and report["train_dogs"] == 5  # dog 2 is held out (2 % 5 == 2)
    assert set(report["head"]["heldout"]) >= {"rank1", "mAP"} and set(report["zero_shot"]["heldout"]) >= {"rank1"}
    assert out.stat().st_size < 100_000

    head, meta, head_id = read_head(out)
    pooling = EmbedderConfig().pooling  # heads follow the app's pooling by default
    assert meta.backbone_sha256 == "random-tiny-seed0" and meta.pooling == pooling and meta.in_dim == 48
    assert "held out" in meta.training_data and meta.loss.startswith("supcon")
    # One held-out dog: no wrong dog to calibrate the score bands on, so none are claimed.
    assert report["bands"] is None and meta.likely_threshold == meta.possible_threshold == 0.0
    assert load_shipped_head("random-tiny-seed0", 48, pooling, path=out)[0] is not None
    assert load_shipped_head("another-backbone", 48, pooling, path=out) == (None, "")

    tiny = load_backbone(random_init="tiny")
    emb = Embedder(tiny.model, weights=None, config=EmbedderConfig(device="cpu"), head=head, head_id=head_id,
                   model_name=tiny.model_name)
    vec = emb.embed([emb.load_photo(dog_folder / "0" / "0.0.jpg")])
    assert vec.shape == (1, meta.out_dim) and np.isclose(np.linalg.norm(vec), 1.0, atol=1e-5)
    from reid_engine.settings import ZERO_SHOT_BANDS

    assert emb.bands == ZERO_SHOT_BANDS  # an uncalibrated head keeps the backbone's bands


def test_features_are_cached_and_match_the_engine(tmp_path, dog_folder, tiny_embedder):
    first = cached_features(tiny_embedder, dog_folder, cache_dir=tmp_path, flip=True, quiet=True)
    again = cached_features(tiny_embedder, dog_folder, cache_dir=tmp_path, flip=True, quiet=True)
    assert first.seconds > 0 and again.seconds == 0
    np.testing.assert_array_equal(first.cls, again.cls)
    assert first.ok.all() and len(first) == 20 and first.cls_flip.shape == first.cls.shape
    from training.common import pool_features

    engine = tiny_embedder.embed([tiny_embedder.load_photo(dog_folder / p) for p in first.paths[:3]])
    np.testing.assert_allclose(pool_features(first.cls[:3], first.mean[:3], tiny_embedder.config.pooling), engine, atol=1e-5)
    (dog_folder / "9").mkdir()
    (dog_folder / "9" / "9.0.jpg").write_bytes(b"broken")
    changed = cached_features(tiny_embedder, dog_folder, cache_dir=tmp_path, quiet=True)
    assert changed.seconds > 0 and len(changed) == 21 and changed.ok.sum() == 20  # new file list, new cache


def clusters(n_dogs=30, photos=6, dim=16, seed=0):
    """Dogs that differ in 4 directions, hidden under larger nuisance variation in the other 12."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((n_dogs, dim))
    centres[:, :4] = rng.normal(size=(n_dogs, 4))
    x = centres.repeat(photos, 0) + np.concatenate(
        [0.15 * rng.normal(size=(n_dogs * photos, 4)), 0.6 * rng.normal(size=(n_dogs * photos, dim - 4))], 1)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.arange(n_dogs).repeat(photos)


@pytest.mark.parametrize("loss", HEAD_LOSSES)
@pytest.mark.parametrize("kind", ["linear", "fused"])
def test_each_loss_learns_to_ignore_nuisance_directions(loss, kind):
    x, y = clusters()
    xv, yv = clusters(seed=1)  # other dogs, same structure
    cfg = HeadConfig(kind=kind, loss=loss, dim=8, alpha=2.0, epochs=40, batch_size=64, lr=3e-2, flip=False)
    head = train_head(x, y, cfg)
    before = figures_loo(xv, yv)["rank1"]
    after = figures_loo(apply_head(head, xv), yv)["rank1"]
    assert after > before + 15, (before, after)


def test_holdout_uses_numeric_ids_and_a_stable_hash_otherwise():
    mask = holdout_mask(["2", "7", "12", "3", "1005"], 5, 2)
    assert mask.tolist() == [True, True, True, False, False]
    assert holdout_mask(["rex", "rex"], 5, 2)[0] == holdout_mask(["rex"], 5, 2)[0]
    assert not holdout_mask(["2"], 0, 2).any()


def test_head_without_any_holdout_is_refused(tmp_path, dog_folder, capsys):
    code = cli.main(["head", "--data", str(dog_folder), "--random-init", "tiny", "--cache-dir", str(tmp_path),
                     "--holdout-mod", "0", "--quiet"])
    assert code == 1 and "held out" in capsys.readouterr().err


def test_cli_lists_commands_and_rejects_unknown_ones(capsys):
    assert cli.main(["--help"]) == 0
    assert "ssl" in capsys.readouterr().out
    assert cli.main(["nope"]) == 2
    assert cli.main(["ssl", "--help"]) == 0
    assert "--train-blocks" in capsys.readouterr().out


def test_arcface_margin_makes_the_true_class_harder():
    from training.losses import ArcFace

    torch.manual_seed(0)
    arc = ArcFace(8, 5, margin=0.0)
    z = torch.nn.functional.normalize(arc.centres.detach()[:3].clone(), dim=-1)
    labels = torch.arange(3)
    easy = arc(z, labels)
    arc.margin = 0.5
    assert arc(z, labels) > easy


def test_head_bands_are_calibrated_on_the_held_out_dogs_and_reach_the_embedder(tmp_path, dog_folder, capsys):
    out = tmp_path / "head.safetensors"
    code = cli.main(["head", "--data", str(dog_folder), "--random-init", "tiny", "--cache-dir", str(tmp_path / "c"),
                     "--epochs", "3", "--holdout-mod", "3", "--holdout-rem", "1", "--out", str(out), "--json",
                     "--quiet"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["heldout_dogs"] == 2
    head, meta, head_id = read_head(out)
    assert 0 < meta.possible_threshold < meta.likely_threshold <= 1
    assert (report["bands"]["likely"], report["bands"]["possible"]) == (meta.likely_threshold, meta.possible_threshold)
    tiny = load_backbone(random_init="tiny")
    emb = Embedder(tiny.model, weights=None, config=EmbedderConfig(device="cpu"), head=head, head_id=head_id)
    assert emb.bands == (meta.likely_threshold, meta.possible_threshold)
