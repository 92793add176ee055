"""Settings: defaults, round trip, tolerance of bad files, and the calibrated score bands."""

from __future__ import annotations

import json

import numpy as np

from reid_engine.evaluation import calibrate_bands, dog_scores
from reid_engine.settings import ZERO_SHOT_BANDS, Settings


def test_bands_follow_the_model_unless_the_user_set_them(tmp_path):
    s = Settings()
    assert s.thresholds() == ZERO_SHOT_BANDS and s.thresholds((0.8, 0.7)) == (0.8, 0.7)
    assert s.band(0.81, (0.8, 0.7)) == "likely" and s.band(0.81) == "unlikely"
    own = Settings(likely_threshold=0.9, possible_threshold=0.6)
    assert own.thresholds((0.8, 0.7)) == (0.9, 0.6) and own.band(0.85, (0.8, 0.7)) == "possible"
    own.save(tmp_path / "s.json")
    assert Settings.load(tmp_path / "s.json").thresholds((0.8, 0.7)) == (0.9, 0.6)


def test_bands_saved_by_the_first_format_as_plain_defaults_become_calibrated(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"likely_threshold": 0.97, "possible_threshold": 0.95, "device": "cpu"}))
    loaded = Settings.load(old)
    assert loaded.likely_threshold is None and loaded.device == "cpu"
    old.write_text(json.dumps({"likely_threshold": 0.9, "possible_threshold": 0.95}))  # chosen by the user
    assert Settings.load(old).likely_threshold == 0.9
    Settings().save(old)  # the current format keeps even the old default values as chosen
    raw = json.loads(old.read_text())
    raw.update(likely_threshold=0.97, possible_threshold=0.95)
    old.write_text(json.dumps(raw))
    assert Settings.load(old).likely_threshold == 0.97


def test_garbage_settings_files_give_defaults(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert Settings.load(bad) == Settings()
    bad.write_text(json.dumps({"likely_threshold": "high", "possible_threshold": 1.5, "auto_crop": "yes",
                               "device": "cpu", "unknown": 1, "format": "two"}))
    loaded = Settings.load(bad)  # each bad value falls back to its default; the good ones stay
    assert loaded == Settings(device="cpu")
    assert loaded.band(0.9) == "unlikely"  # and bands work (a string threshold would raise here)


def test_dog_scores_and_calibrated_bands():
    # Two dogs, two photos each; dog "a" photos are close, dog "b" photos less so.
    v = np.array([[1, 0], [0.96, 0.28], [0, 1], [0.6, 0.8]], np.float32)
    labels = ["a", "a", "b", "b"]
    genuine, impostors = dog_scores(v, labels, v, labels, same_set=True)
    assert genuine.shape == (4,) and impostors.shape == (4, 1)
    np.testing.assert_allclose(genuine, [0.96, 0.96, 0.8, 0.8], atol=1e-6)
    likely, possible = calibrate_bands(impostors, likely_rate=0.0, possible_rate=0.5)
    assert likely == round(float(impostors.max()) + 0.01, 2) and possible < likely
    rng = np.random.default_rng(0)
    likely, possible = calibrate_bands(rng.uniform(0.2, 0.9, (1000, 50)))
    assert 0.85 <= likely <= 0.91 and possible < likely
