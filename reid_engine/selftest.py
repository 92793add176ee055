"""``LostPet --self-test``: prove on this computer that the model loads and finds the right dog.

Without a display and without the network: load the model (the weights shipped with the app by
default), draw a few distinct synthetic dogs with two photos each, register the first photo of each
dog into a temporary data directory through the :class:`~reid_engine.registry.Registry` API, search
with the second photo, and pass only if every dog's own record ranks first. Prints a short report;
the exit code is 0 on a pass, 1 otherwise. The user's own registry is never opened.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from . import __version__, paths
from .errors import ReidError
from .models import DogDetails

if TYPE_CHECKING:
    from .embedder import Embedder

DOG_NAMES = ("Bella", "Rex", "Luna", "Max", "Daisy", "Rocky", "Coco", "Bruno")
COATS = (  # (coat, markings) as RGB in [0, 1]: common dog colours, one pair per name above
    ((0.85, 0.65, 0.30), (0.95, 0.93, 0.88)),  # golden, white
    ((0.12, 0.11, 0.10), (0.70, 0.45, 0.22)),  # black, tan
    ((0.93, 0.92, 0.88), (0.10, 0.10, 0.10)),  # white, black
    ((0.45, 0.28, 0.15), (0.90, 0.84, 0.70)),  # brown, cream
    ((0.55, 0.56, 0.58), (0.95, 0.95, 0.95)),  # grey, white
    ((0.70, 0.33, 0.15), (0.30, 0.18, 0.10)),  # red, dark brown
    ((0.90, 0.82, 0.62), (0.50, 0.33, 0.20)),  # cream, brown
    ((0.38, 0.27, 0.16), (0.08, 0.07, 0.06)),  # brown, black (brindle)
)
PHOTO_SIZE = (320, 240)


# ===================================================================== synthetic dogs
def synthetic_dog(identity: int, photo: int, size: tuple[int, int] = PHOTO_SIZE) -> Image.Image:
    """Draw dog ``identity`` as photographed in shot ``photo``.

    The identity fixes the coat colours, the marking pattern and the body shape; the photo moves
    and scales the dog a little, changes the light and adds sensor noise, on one shared background,
    so only the dog tells two identities apart.
    """
    width, height = size
    dog = np.random.default_rng([2718, identity])
    shot = np.random.default_rng([3141, identity, photo])

    base, second = (np.array(c) for c in COATS[identity % len(COATS)])
    pattern = identity % 3
    spots = dog.uniform([-0.25, -0.12, 0.035], [0.25, 0.12, 0.08], size=(int(dog.integers(4, 8)), 3))
    body_rx, body_ry = dog.uniform(0.24, 0.34), dog.uniform(0.12, 0.19)
    leg_len = dog.uniform(0.09, 0.22)
    head_r = dog.uniform(0.08, 0.105)
    long_ears = bool(identity % 2)

    scale = min(width, height * 4 / 3) * (1 + shot.uniform(-0.015, 0.015))
    cx = width * (0.5 + shot.uniform(-0.015, 0.015))
    cy = height * (0.46 + shot.uniform(-0.01, 0.01))
    light = 1 + shot.uniform(-0.06, 0.06)

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (x - cx) / scale
    v = (y - cy) / scale

    def ellipse(u0: float, v0: float, ru: float, rv: float) -> np.ndarray:
        return ((u - u0) / ru) ** 2 + ((v - v0) / rv) ** 2 <= 1.0

    head_u, head_v = body_rx * 0.95, -body_ry * 0.9
    body = ellipse(0, 0, body_rx, body_ry)
    head = ellipse(head_u, head_v, head_r, head_r * 0.9) | ellipse(
        head_u + head_r * 0.9, head_v + head_r * 0.3, head_r * 0.6, head_r * 0.4
    )
    ears = ellipse(head_u - head_r * 0.35, head_v + (head_r * 0.3 if long_ears else -head_r),
                   head_r * 0.3, head_r * (0.9 if long_ears else 0.5))
    legs = np.zeros_like(body)
    for leg_u in (-0.7, -0.45, 0.45, 0.7):
        legs |= (np.abs(u - leg_u * body_rx) <= 0.025) & (v >= 0) & (v <= body_ry + leg_len)
    tail_up = dog.uniform(0.2, 0.9)  # from a low to a raised tail
    tail = ellipse(-body_rx * 1.05, -body_ry * tail_up, 0.1, 0.025)
    mask = body | head | ears | legs | tail

    if pattern == 0:
        marking = np.zeros_like(body)
        for su, sv, sr in spots:
            marking |= ellipse(su, sv, sr, sr)
    elif pattern == 1:
        marking = ellipse(-0.02, -body_ry * 0.55, body_rx * 0.75, body_ry * 0.6) | ears
    else:
        marking = np.sin(u * 30 + v * 6) > 0.3
    marking &= mask

    sky, ground = np.array([0.62, 0.74, 0.86]), np.array([0.36, 0.52, 0.30])
    blend = np.clip((y / height - 0.35) * 3, 0, 1)[..., None]
    background = sky * (1 - blend) + ground * blend
    coat = np.where(marking[..., None], second, base) * (1 + 0.1 * np.sin(u * 90))[..., None]
    picture = np.where(mask[..., None], coat, background) * light
    picture = picture + shot.normal(0, 0.02, picture.shape)
    rgb = np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


# ===================================================================== the test
@dataclass
class QueryResult:
    """One search: which dog was asked for, and what came first."""

    expected: str
    ranked: list[tuple[str, float]]

    @property
    def passed(self) -> bool:
        return bool(self.ranked) and self.ranked[0][0] == self.expected


@dataclass
class SelfTestResult:
    """What :func:`run_self_test` found."""

    model: dict
    load_seconds: float
    register_seconds: float
    search_seconds: float
    queries: list[QueryResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.queries) and all(q.passed for q in self.queries)


def run_self_test(
    embedder: Embedder | None = None,
    *,
    dogs: int = 4,
    data_dir: str | os.PathLike[str] | None = None,
    weights_file: str | os.PathLike[str] | None = None,
    say: Callable[[str], None] = print,
) -> SelfTestResult:
    """Register ``dogs`` synthetic dogs into a fresh registry and search for each with another photo.

    Args:
        embedder: The model to use; ``None`` loads the real one (``weights_file``, else the weights
            shipped with the app, else the usual sources; never a download).
        dogs: How many distinct dogs (2 to 8).
        data_dir: An empty folder for the test registry; ``None`` uses a temporary folder, removed after.
        weights_file: Backbone weights to load when ``embedder`` is None.
        say: Where progress lines go.

    Raises:
        ReidError: The model or the registry could not be loaded (the message says why).
    """
    from .registry import Registry

    if not 2 <= dogs <= len(DOG_NAMES):
        raise ValueError(f"dogs must be between 2 and {len(DOG_NAMES)}")
    t0 = time.perf_counter()
    if embedder is None:
        embedder = load_selftest_embedder(weights_file)
    load_seconds = time.perf_counter() - t0
    model = embedder.describe()
    say(f"model: {model['model']} ({model['weights_source']}), device {model['device']}, "
        f"{model['precision']}, {model['dim']}-d vectors; loaded in {load_seconds:.1f} s")
    if model.get("weights_path"):
        say(f"weights: {model['weights_path']} (sha256 {str(model['weights_sha256'])[:12]}...)")

    names = DOG_NAMES[:dogs]
    with tempfile.TemporaryDirectory(prefix="lostpet-selftest-") as tmp:
        folder = Path(data_dir) if data_dir is not None else Path(tmp) / "data"
        with Registry.open(folder, embedder=embedder, program="lostpet --self-test") as reg:
            t1 = time.perf_counter()
            ids = {}
            for i, name in enumerate(names):
                dog = reg.register([synthetic_dog(i, 0)], DogDetails(name=name, notes="self-test"))
                ids[dog.id] = name
            register_seconds = time.perf_counter() - t1
            say(f"registered {dogs} dogs (one photo each) into {folder} in {register_seconds:.1f} s")

            queries = []
            t2 = time.perf_counter()
            for i, name in enumerate(names):
                matches = reg.search([synthetic_dog(i, 1)], k=dogs)
                ranked = [(ids.get(m.dog.id, m.dog.tag), float(m.score)) for m in matches]
                queries.append(QueryResult(expected=name, ranked=ranked))
            search_seconds = time.perf_counter() - t2

    for q in queries:
        shown = "  ".join(f"{n} {s:.3f}" for n, s in q.ranked[:3])
        say(f"  {q.expected:<6} second photo -> {shown}   {'ok' if q.passed else 'WRONG'}")
    return SelfTestResult(model, load_seconds, register_seconds, search_seconds / dogs, queries)


def load_selftest_embedder(weights_file: str | os.PathLike[str] | None = None) -> Embedder:
    """The real model: the named file, else the weights shipped with the app, else the usual sources."""
    from .embedder import Embedder

    chosen = weights_file if weights_file is not None else paths.bundled_weights_path()
    return Embedder.load(chosen, allow_download=False)


def main(argv: list[str] | None = None) -> int:
    """``LostPet --self-test [--weights FILE] [--dogs N] [--keep DIR]``; 0 when the right dog ranks first."""
    parser = argparse.ArgumentParser(
        prog="LostPet --self-test",
        description="Check, offline and without a display, that the model loads and finds the right dog.",
    )
    parser.add_argument("--weights", metavar="FILE", help="backbone weights (default: those shipped with the app)")
    parser.add_argument("--dogs", type=int, default=4, choices=range(2, len(DOG_NAMES) + 1), metavar="N",
                        help=f"distinct synthetic dogs (2-{len(DOG_NAMES)}, default 4)")
    parser.add_argument("--data-dir", metavar="DIR", help="an empty folder for the test registry (kept); "
                        "default: a temporary folder, removed after")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the network

    frozen = "yes" if getattr(sys, "frozen", False) else "no"
    print(f"LostPet self-test: version {__version__}, bundle {frozen}, Python {sys.version.split()[0]}")
    t0 = time.perf_counter()
    try:
        result = run_self_test(dogs=args.dogs, data_dir=args.data_dir, weights_file=args.weights)
    except ReidError as exc:
        print(f"FAIL: {exc}")
        return 1
    good = sum(q.passed for q in result.queries)
    verdict = "PASS" if result.passed else "FAIL"
    print(f"{verdict}: the right dog ranked first for {good} of {len(result.queries)} searches "
          f"({result.search_seconds * 1000:.0f} ms per search, {time.perf_counter() - t0:.1f} s in all)")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
