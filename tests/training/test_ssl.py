"""The SSL refresh: one short epoch on generated photos, an export the engine loads, a loss that
learns, and a run that resumes after an interruption exactly where it stopped."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from photos import make_dog_photo

from training import ssl
from training.common import forward_tokens, load_backbone, loader_workers, pool_tokens
from training.losses import info_nce

TINY = ["--random-init", "tiny", "--workers", "0", "--quiet"]


def history(run) -> list[dict]:
    return json.loads((run / "metrics.json").read_text())["history"]


def test_one_epoch_writes_checkpoint_and_an_export_the_engine_loads(tmp_path, dog_folder):
    """A real-shaped ViT-S/14 at 56 px from a weights file; the export goes back through the engine."""
    from safetensors.torch import load_file, save_file

    from reid_engine.embedder import Embedder, EmbedderConfig
    from reid_engine.weights import build_backbone

    base_file = tmp_path / "base.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        base_model = build_backbone(None, img_size=518)  # the native 37x37 grid, as the engine stores it
    base = {k: v.contiguous() for k, v in base_model.state_dict().items()}
    save_file(base, str(base_file))
    (dog_folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")

    run = tmp_path / "run"
    code = ssl.main(["--images", str(dog_folder), "--out", str(run), "--weights", str(base_file),
                     "--img-size", "56", "--batch-size", "8", "--train-blocks", "1", "--workers", "0",
                     "--quiet"])
    assert code == 0
    assert {"checkpoint.pt", "backbone.safetensors", "backbone.json", "metrics.json"} <= set(os.listdir(run))
    steps = history(run)
    assert len(steps) == 21 // 8  # one epoch of full batches (20 photos + 1 broken)
    assert all(np.isfinite(h["loss"]) for h in steps)
    assert any("broken.jpg" in f for f in json.loads((run / "metrics.json").read_text())["unreadable"])

    exported = load_file(str(run / "backbone.safetensors"))
    assert torch.equal(exported["pos_embed"], base["pos_embed"])  # frozen: written at the base grid
    assert torch.equal(exported["blocks.10.mlp.fc1.weight"], base["blocks.10.mlp.fc1.weight"])
    assert not torch.equal(exported["blocks.11.mlp.fc1.weight"], base["blocks.11.mlp.fc1.weight"])

    embedder = Embedder.load(run / "backbone.safetensors", config=EmbedderConfig(device="cpu"), use_head=False)
    manifest = json.loads((run / "backbone.json").read_text())
    assert embedder.weights.sha256 == manifest["sha256"]
    vec = embedder.embed([embedder.load_photo(dog_folder / "0" / "0.0.jpg")])
    assert vec.shape == (1, 384) and np.isclose(np.linalg.norm(vec), 1.0, atol=1e-4)


def test_training_all_blocks_round_trips_the_position_embedding(tmp_path, dog_folder):
    from safetensors.torch import load_file, save_file

    from reid_engine.weights import ResolvedWeights, build_backbone

    base_file = tmp_path / "base.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        save_file({k: v.contiguous() for k, v in build_backbone(None, img_size=518).state_dict().items()},
                  str(base_file))
    run = tmp_path / "run"
    assert ssl.main(["--images", str(dog_folder), "--out", str(run), "--weights", str(base_file), "--img-size",
                     "56", "--batch-size", "8", "--max-steps", "1", "--train-blocks", "all", "--lr", "1e-2",
                     "--workers", "0", "--quiet"]) == 0
    trained = torch.load(run / "checkpoint.pt", weights_only=False)["model"]["pos_embed"]
    assert load_file(str(run / "backbone.safetensors"))["pos_embed"].shape == (1, 1 + 37 * 37, 384)
    reloaded = build_backbone(ResolvedWeights("file", run / "backbone.safetensors", _sha(run), ""), img_size=56)
    initial = build_backbone(ResolvedWeights("file", base_file, _sha_file(base_file), ""), img_size=56).pos_embed
    change = (trained - initial).abs().mean()
    assert change > 1e-4
    assert (reloaded.pos_embed - trained).abs().mean() < 0.1 * change  # the learned change survives


def _sha(run):
    return json.loads((run / "backbone.json").read_text())["sha256"]


def _sha_file(path):
    from reid_engine.fileio import sha256_file

    return sha256_file(path)


def test_loss_is_finite_and_decreases_on_a_tiny_learnable_problem(tmp_path):
    photos = tmp_path / "photos"
    for dog in range(8):
        make_dog_photo(photos / f"{dog}.jpg", seed=dog, size=(64, 64), variant=dog)
    run = tmp_path / "run"
    # Crops and flips only: a random 2-block model cannot learn colour-jitter invariance in 30 steps.
    assert ssl.main(["--images", str(photos), "--out", str(run), *TINY, "--batch-size", "8", "--epochs", "30",
                     "--train-blocks", "all", "--lr", "1e-3", "--crop-scale", "0.5", "--jitter", "0",
                     "--schedule", "constant", "--no-export"]) == 0
    losses = [h["loss"] for h in history(run)]
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-6:]) < 0.7 * np.mean(losses[:6])  # chance is log(15) = 2.7


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, dog_folder, monkeypatch):
    args = ["--images", str(dog_folder), *TINY, "--batch-size", "4", "--epochs", "2", "--train-blocks", "all",
            "--save-every", "2", "--no-export"]
    assert ssl.main([*args, "--out", str(tmp_path / "straight")]) == 0

    calls = {"n": 0}
    real_loss = ssl.info_nce

    def interrupting_loss(*a, **k):
        calls["n"] += 1
        if calls["n"] == 8:  # Ctrl-C in the middle of the second epoch (5 batches per epoch)
            raise KeyboardInterrupt
        return real_loss(*a, **k)

    monkeypatch.setattr(ssl, "info_nce", interrupting_loss)
    assert ssl.main([*args, "--out", str(tmp_path / "resumed")]) == 130
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["step"] == 7
    monkeypatch.setattr(ssl, "info_nce", real_loss)
    assert ssl.main([*args, "--out", str(tmp_path / "resumed"), "--resume"]) == 0

    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 10
    assert [h["loss"] for h in history(tmp_path / "straight")] == pytest.approx(
        [h["loss"] for h in history(tmp_path / "resumed")], abs=1e-4)
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, atol=1e-5, rtol=1e-4)


def test_stop_after_pauses_and_resume_refuses_changed_settings(tmp_path, dog_folder, capsys):
    args = ["--images", str(dog_folder), "--out", str(tmp_path / "run"), *TINY, "--batch-size", "4", "--no-export"]
    assert ssl.main([*args, "--stop-after", "2"]) == 0
    assert len(history(tmp_path / "run")) == 2
    assert ssl.main([*args, "--resume", "--batch-size", "8"]) == 1
    assert "batch_size" in capsys.readouterr().err
    assert ssl.main([*args, "--resume"]) == 0
    assert len(history(tmp_path / "run")) == 5


def test_hugging_face_dataset_offline_gives_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    code = ssl.main(["--hf-dataset", "maurice-fp/stanford-dogs", "--out", str(tmp_path / "run"), *TINY])
    err = capsys.readouterr().err
    assert code == 1
    assert "maurice-fp/stanford-dogs" in err and "--images" in err


def test_info_nce_rewards_matching_views_and_uses_the_other_views_as_negatives():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(16, 32), dim=-1)
    matched = info_nce(z, z, 0.1)
    shuffled = info_nce(z, z[torch.randperm(16)], 0.1)
    assert torch.isfinite(matched) and matched < shuffled
    assert torch.isclose(info_nce(z, z.roll(1, 0), 0.1), info_nce(z.roll(1, 0), z, 0.1))  # symmetric
    # Two photos whose views all coincide cannot be told apart: the loss sees the other photo's views.
    same = torch.nn.functional.normalize(torch.ones(2, 4), dim=-1)
    assert info_nce(same, same, 0.1) == pytest.approx(np.log(3), abs=1e-4)


def test_frozen_prefix_forward_equals_forward_features():
    model = load_backbone(random_init="tiny").model.eval()
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(forward_tokens(model, x, 1), model.forward_features(x))


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean"])
def test_pooling_matches_the_engine(tiny_embedder, pooling):
    from photos import dog_image

    emb = tiny_embedder.with_config(pooling=pooling)
    image = dog_image(3)[0]
    x = torch.from_numpy(emb.preprocess(image))[None]
    x = (x - torch.tensor(emb.mean).view(1, 3, 1, 1)) / torch.tensor(emb.std).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(pool_tokens(emb.model.forward_features(x), pooling), dim=-1)
    np.testing.assert_allclose(ours.numpy(), emb.embed([image]), atol=1e-5)


def test_loader_workers_are_capped_at_six_and_the_cores():
    assert 1 <= loader_workers() <= min(6, os.cpu_count() or 1)
    assert loader_workers(100) == min(6, os.cpu_count() or 1)
    assert loader_workers(0) == 0
