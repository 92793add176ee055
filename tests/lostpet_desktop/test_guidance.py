"""The search view's "Focus on" row: a region dragged on the query photo, and the CLIP prompt box."""

from __future__ import annotations

import numpy as np
import pytest
from desktop_helpers import WAIT_MS, drop_files, register_dogs
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from photos import make_dog_photo
from reid_engine import clip_heatmap
from reid_engine.registry import Registry

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture
def dogs(tmp_path):
    files = {f"dog{seed}": [make_dog_photo(tmp_path / "intake" / f"dog{seed}_{v}.jpg", seed, (160, 120), variant=v)
                            for v in range(2)] for seed in (1, 2, 3)}
    query = tmp_path / "query" / "found.png"
    query.parent.mkdir()
    Image.open(files["dog2"][1]).save(query)  # 160 x 120
    return files, query


@pytest.fixture
def regions(monkeypatch):
    """The ``region=`` each ``Registry.search`` call got (``None``: unguided)."""
    seen: list = []
    original = Registry.search

    def search(self, photos, *args, region=None, **kwargs):
        seen.append(region)
        return original(self, photos, *args, region=region, **kwargs)

    monkeypatch.setattr(Registry, "search", search)
    return seen


def _search_with(window, qtbot, dogs):
    files, query = dogs
    register_dogs(window, qtbot, files)
    view = window.search_view
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        drop_files(view.drop_area, [query])
    qtbot.waitUntil(lambda: view.focus_pane.pixmap() is not None, timeout=WAIT_MS)
    return view


def _drag(pane, start, end) -> None:
    rect = pane.image_rect()

    def at(fx, fy):
        return QPoint(round(rect.x() + fx * rect.width()), round(rect.y() + fy * rect.height()))

    QTest.mousePress(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*start))
    QTest.mouseMove(pane, at((start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    QTest.mouseMove(pane, at(*end))
    QTest.mouseRelease(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*end))


def test_drawing_a_region_reruns_a_guided_search_and_clear_restores_it(lostpet_window, qtbot, dogs, regions):
    view = _search_with(lostpet_window, qtbot, dogs)
    pane = view.focus_pane
    assert view.focus_row.isVisible() and pane.isEnabled()
    assert regions == [None] and not view.clear_region_button.isEnabled()

    view.results.clear()
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        _drag(pane, (0.25, 0.25), (0.75, 0.75))

    x, y, w, h = pane.region()
    assert (x, y, w, h) == pytest.approx((0.25, 0.25, 0.5, 0.5), abs=0.02)
    region = regions[-1]
    assert region is not None and region.shape == (120, 160)  # over the photo, in its pixels
    ys, xs = np.nonzero(region)
    assert (xs.min(), xs.max() + 1) == pytest.approx((40, 120), abs=3)
    assert (ys.min(), ys.max() + 1) == pytest.approx((30, 90), abs=3)
    assert view.results.rowCount() == 3
    assert "Focused on the marked region" in view.status_label.text()
    assert not pane.region_widget_rect().isEmpty()  # the box stays drawn
    assert view.clear_region_button.isEnabled()

    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        view.clear_region_button.click()
    assert regions[-1] is None and pane.region() is None
    assert view.results.rowCount() == 3 and "Focused" not in view.status_label.text()
    assert not view.clear_region_button.isEnabled()


def test_a_click_is_not_a_region(lostpet_window, qtbot, dogs, regions):
    view = _search_with(lostpet_window, qtbot, dogs)
    _drag(view.focus_pane, (0.5, 0.5), (0.505, 0.505))
    assert view.focus_pane.region() is None and regions == [None]


def test_region_tool_is_off_with_several_photos(lostpet_window, qtbot, dogs, regions):
    files, query = dogs
    register_dogs(lostpet_window, qtbot, files)
    view = lostpet_window.search_view
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        drop_files(view.drop_area, [query, files["dog1"][0]])
    assert not view.focus_pane.isEnabled()
    assert "one query photo" in view.focus_pane.toolTip()
    assert view.focus() is None and regions == [None]


def test_prompt_box_is_off_with_the_reason_without_clip(lostpet_window, qtbot, dogs):
    view = _search_with(lostpet_window, qtbot, dogs)
    available, sentence = clip_heatmap.clip_status(lostpet_window.state.settings)
    assert not available  # no CLIP weights on test machines
    assert not view.focus_prompt.isEnabled()
    assert view.focus_prompt.toolTip() == sentence
    assert view.focus_note.isVisible() and view.focus_note.text() == sentence
    assert view.focus_prompt.placeholderText() == "Text search is off"


def test_prompt_guides_the_search_with_a_clip_heatmap(monkeypatch, make_window, qtbot, dogs, regions):
    from reid_engine.clip_heatmap import ClipHeatmapper

    loads = []

    def load(settings=None, **kwargs):
        loads.append(settings)
        return ClipHeatmapper.random_init("tiny", model_cfg=TINY_CLIP, seed=0, resolution=64), ""

    monkeypatch.setattr(clip_heatmap, "clip_status", lambda settings=None: (True, "Text search uses CLIP tiny."))
    monkeypatch.setattr(clip_heatmap, "load_clip_or_none", load)
    view = _search_with(make_window(), qtbot, dogs)
    prompt = view.focus_prompt
    assert prompt.isEnabled() and prompt.placeholderText().startswith("e.g. red collar")
    assert not view.focus_note.isVisible()

    for text in ("red collar", "white patch on chest"):
        prompt.clear()
        QTest.keyClicks(prompt, text)
        with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
            QTest.keyClick(prompt, Qt.Key.Key_Return)
        region = regions[-1]
        assert region is not None and region.shape == (120, 160)
        assert 0.0 <= region.min() and region.max() <= 1.0
        assert view.focus_pane.has_overlay()  # the heatmap is shown on the query photo
    assert len(loads) == 1  # CLIP is loaded once, on the worker, and kept
