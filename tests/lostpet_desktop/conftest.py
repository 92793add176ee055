"""Fixtures for the desktop app's tests: real windows, offscreen, with the tiny random-init model.

``lostpet_window`` builds the real :class:`MainWindow` through ``create_window`` with an injected
embedder factory and a temp registry; every test is failed if it leaves a worker job running
(napari's ``qthreads`` check, adapted to our job registry).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from lostpet_desktop import workers
from lostpet_desktop.state import ModelState

from desktop_helpers import WAIT_MS


@pytest.fixture(autouse=True)
def no_leftover_jobs(qapp):
    """Fail a test that leaves a worker job queued or running (it would outlive its window)."""
    yield
    deadline_jobs = workers.active_jobs()
    if deadline_jobs:
        # Give jobs cancelled by a window closing a moment to finish their current step.
        for job in deadline_jobs:
            job.cancel()
            job.wait(5.0)
        QApplication.processEvents()
    left = [job.name for job in workers.active_jobs()]
    assert not left, f"test left worker jobs running: {left}"


@pytest.fixture
def registry_dir(tmp_path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def embedder_factory(tiny_embedder):
    return lambda settings, weights_file: tiny_embedder


@pytest.fixture
def make_window(qtbot, registry_dir, embedder_factory):
    """``make_window(factory=None, wait_ready=True)`` -> a shown MainWindow; closed after the test."""
    from lostpet_desktop.app import create_window

    windows = []

    def make(factory=None, *, wait_ready: bool = True, argv=None):
        window = create_window(argv or ["--data-dir", str(registry_dir)],
                               embedder_factory=factory or embedder_factory)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        if wait_ready:
            qtbot.waitUntil(lambda: window.state.model_state is ModelState.READY
                            and bool(window.state.registry_info), timeout=WAIT_MS)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def lostpet_window(make_window):
    return make_window()
