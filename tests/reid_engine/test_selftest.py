"""The self-test behind ``LostPet --self-test``: synthetic dogs, a throw-away registry, a verdict."""

from __future__ import annotations

import numpy as np
import pytest

from reid_engine import paths, selftest
from reid_engine.store import DB_FILENAME


def test_synthetic_dogs_are_deterministic_and_distinct():
    a = np.asarray(selftest.synthetic_dog(0, 0), dtype=np.float32)
    assert a.shape == (selftest.PHOTO_SIZE[1], selftest.PHOTO_SIZE[0], 3)
    assert np.array_equal(a, np.asarray(selftest.synthetic_dog(0, 0)))
    same_dog = np.abs(a - np.asarray(selftest.synthetic_dog(0, 1), dtype=np.float32)).mean()
    other_dog = np.abs(a - np.asarray(selftest.synthetic_dog(1, 0), dtype=np.float32)).mean()
    assert 0 < same_dog < other_dog  # a second photo changes a little, another dog a lot


def test_the_right_dog_ranks_first_with_a_tiny_model(tiny_embedder, tmp_path):
    lines = []
    result = selftest.run_self_test(tiny_embedder, dogs=4, data_dir=tmp_path / "st", say=lines.append)
    assert result.passed, lines
    assert [q.expected for q in result.queries] == list(selftest.DOG_NAMES[:4])
    assert all(q.ranked[0][0] == q.expected and len(q.ranked) == 4 for q in result.queries)
    assert (tmp_path / "st" / DB_FILENAME).is_file()  # it really went through a registry
    assert any("registered 4 dogs" in line for line in lines)
    assert not (paths.data_dir() / DB_FILENAME).exists()  # the user's registry is never touched


def test_a_wrong_first_match_fails(tiny_embedder, monkeypatch):
    real = selftest.synthetic_dog
    # Every search photo shows the next dog: the searched-for dog can no longer come first.
    monkeypatch.setattr(selftest, "synthetic_dog", lambda i, p, *a: real((i + p) % 3, 0, *a))
    result = selftest.run_self_test(tiny_embedder, dogs=3, say=lambda line: None)
    assert not result.passed
    assert not any(q.passed for q in result.queries)


def test_main_reports_and_sets_the_exit_code(tiny_embedder, monkeypatch, capsys):
    monkeypatch.setattr(selftest, "load_selftest_embedder", lambda weights=None: tiny_embedder)
    assert selftest.main(["--dogs", "3"]) == 0
    out = capsys.readouterr().out
    assert "PASS: the right dog ranked first for 3 of 3 searches" in out

    real = selftest.synthetic_dog
    monkeypatch.setattr(selftest, "synthetic_dog", lambda i, p, *a: real((i + p) % 3, 0, *a))
    assert selftest.main(["--dogs", "3"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_missing_weights_fail_with_the_reason(monkeypatch, capsys):
    from reid_engine.errors import WeightsError

    def no_weights(weights=None):
        raise WeightsError("none", "no DINOv2 ViT-S/14 weights on this computer")

    monkeypatch.setattr(selftest, "load_selftest_embedder", no_weights)
    assert selftest.main([]) == 1
    assert "FAIL: Model weights (none): no DINOv2" in capsys.readouterr().out


@pytest.mark.real_weights
@pytest.mark.slow
def test_the_right_dog_ranks_first_with_the_real_model(real_weights):
    from reid_engine.embedder import Embedder

    embedder = Embedder.load(real_weights.path, use_head=False)
    result = selftest.run_self_test(embedder, dogs=8, say=lambda line: None)
    assert result.passed, [(q.expected, q.ranked[:2]) for q in result.queries]
