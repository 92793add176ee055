"""Generated dog photos laid out as a labelled folder (one sub-folder per dog)."""

from __future__ import annotations

from pathlib import Path

import pytest
from photos import make_dog_photo


def make_dog_folder(root: Path, dogs: int = 6, photos: int = 3, size=(96, 72)) -> Path:
    """``root/<id>/<id>.<n>.jpg`` like DogFaceNet, plus a palette PNG with transparency and an RGBA PNG."""
    for dog in range(dogs):
        for n in range(photos):
            make_dog_photo(root / str(dog) / f"{dog}.{n}.jpg", seed=dog, size=size, variant=n)
    make_dog_photo(root / "0" / "0.p.png", seed=0, size=size, fmt="PNG", mode="P", variant=7,
                   transparent_background=True)
    make_dog_photo(root / "1" / "1.a.png", seed=1, size=size, fmt="PNG", mode="RGBA", variant=7)
    return root


@pytest.fixture
def dog_folder(tmp_path) -> Path:
    return make_dog_folder(tmp_path / "dogs")


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every training test runs the tiny models on one torch thread (``tests/conftest.py``)."""
