"""Fixtures for the engine's tests (``one_torch_thread`` is in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from reid_engine.registry import Registry


@pytest.fixture
def reg(tmp_path, tiny_embedder):
    """An empty registry in a temp folder, with the tiny model attached."""
    with Registry.open(tmp_path / "data", tiny_embedder) as r:
        yield r
