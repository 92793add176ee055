"""Search and compare, driven through the real window: drops, paste, filters, errors, heatmaps."""

from __future__ import annotations

import pytest
from desktop_helpers import WAIT_MS, drop_files, register_dogs
from PIL import Image
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from lostpet_desktop.models import Roles
from photos import make_dog_photo


@pytest.fixture
def three_dogs(tmp_path):
    """Files of three dogs (two photos each) and a fresh copy of dog 2's first photo as PNG."""
    files = {f"dog{seed}": [make_dog_photo(tmp_path / "intake" / f"dog{seed}_{v}.jpg", seed, (160, 120), variant=v)
                            for v in range(2)] for seed in (1, 2, 3)}
    # Same pixels as dog2_0.jpg, other bytes: the search finds dog 2 with (almost) the top score.
    query = tmp_path / "query" / "found_on_street.png"
    query.parent.mkdir()
    Image.open(files["dog2"][0]).save(query)
    return files, query


def test_drop_photo_on_search_area_shows_ranked_matches(lostpet_window, qtbot, three_dogs):
    window = lostpet_window
    files, query = three_dogs
    register_dogs(window, qtbot, files)
    view = window.search_view

    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        drop = drop_files(view.drop_area, [query])
    assert drop.isAccepted()

    model = view.results
    assert model.rowCount() == 3
    scores = [model.data(model.index(r), Roles.Score) for r in range(3)]
    assert scores == sorted(scores, reverse=True)
    top = model.index(0)
    assert model.data(top, Roles.Object).dog.tag == "dog2"
    assert model.data(top, Roles.ScoreText) in ("99%", "100%")
    assert model.data(top, Roles.BandText) == "Likely same dog"
    assert model.data(top, Roles.Subtitle) == "dog2 · Found"
    # What is on screen: the query strip, the status line, and the compare view of the best match.
    assert view.query_row.isVisible() and view.query_model.rowCount() == 1
    assert view.status_label.text().startswith("3 dogs, best first")
    assert view.grid.currentIndex().row() == 0
    assert view.compare.title.text() == "Dog2 (dog2)"
    assert view.compare.score_label.text().endswith("Likely same dog")
    assert view.compare.photos_model.rowCount() == 2
    # The thumbnails are decoded in the background and then drawn by the delegate.
    qtbot.waitUntil(lambda: model.data(top, 1) is not None, timeout=WAIT_MS)  # DecorationRole
    assert not view.grid.grab().isNull()
    assert view.last_seconds is not None and view.last_seconds < 10
    assert window.state.last_folder("search") == str(query.parent)  # remembered for the file dialog


def test_status_filter_narrows_results(lostpet_window, qtbot, three_dogs):
    from reid_engine.models import DogStatus

    window = lostpet_window
    files, query = three_dogs
    register_dogs(window, qtbot, files)
    view = window.search_view
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        view.search_files([query])
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        view.status_filter.setCurrentIndex(view.status_filter.findText(DogStatus.LOST.label))
    assert view.results.rowCount() == 0
    assert "No registered dog matches these filters" in view.status_label.text()


def test_dropping_a_non_photo_shows_why(lostpet_window, qtbot, tmp_path):
    view = lostpet_window.search_view
    notes = tmp_path / "notes.txt"
    notes.write_text("owner called at 10:30")
    drop_files(view.drop_area, [notes])
    assert view.banner.isVisible()
    assert "notes.txt" in view.banner.text() and "not a photo" in view.banner.text()
    assert view.results.rowCount() == 0


def test_a_damaged_photo_reports_the_engine_reason(lostpet_window, qtbot, tmp_path):
    view = lostpet_window.search_view
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    drop_files(view.drop_area, [broken])
    qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=WAIT_MS)
    assert view.banner.text().startswith("Cannot read photo broken.jpg")
    assert "Traceback" not in view.banner.text()


def test_paste_from_clipboard_searches(lostpet_window, qtbot, three_dogs):
    window = lostpet_window
    files, _query = three_dogs
    register_dogs(window, qtbot, files)
    QGuiApplication.clipboard().setImage(QImage(str(files["dog3"][0])))
    with qtbot.waitSignal(window.search_view.results_shown, timeout=WAIT_MS):
        window.act_paste.trigger()
    results = window.search_view.results
    assert results.rowCount() == 3
    assert results.match(0).dog.tag == "dog3"
    assert window.search_view.query()[0].path is None  # pasted by value


def test_compare_adds_the_query_as_a_new_photo_of_the_dog(lostpet_window, qtbot, three_dogs):
    window = lostpet_window
    files, query = three_dogs
    register_dogs(window, qtbot, files)
    view = window.search_view
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        view.search_files([query])
    with qtbot.waitSignal(window.state.registry_changed, timeout=WAIT_MS):
        view.compare.add_button.click()
    assert "Added 1 photo to Dog2 (dog2)" in view.banner.text()
    qtbot.waitUntil(lambda: window.state.counts["photos"] == 7, timeout=WAIT_MS)
    assert window.registry_label.text() == "3 dogs · 7 photos"


def test_compare_heatmap_toggle_and_opacity(lostpet_window, qtbot, three_dogs):
    window = lostpet_window
    files, query = three_dogs
    register_dogs(window, qtbot, files)
    compare = window.search_view.compare
    if not window.state.heatmap_available():
        pytest.skip("reid_engine.heatmap is not in this checkout yet")
    with qtbot.waitSignal(window.search_view.results_shown, timeout=WAIT_MS):
        window.search_view.search_files([query])
    qtbot.waitUntil(lambda: compare.match_pane.pixmap() is not None, timeout=WAIT_MS)
    assert compare.heat_toggle.isVisible() and not compare.opacity.isEnabled()
    compare.heat_toggle.setChecked(True)
    qtbot.waitUntil(lambda: compare.query_pane.has_overlay() and compare.match_pane.has_overlay(), timeout=WAIT_MS)
    compare.opacity.setValue(80)
    assert compare.match_pane._opacity == pytest.approx(0.8)
    # The overlay is drawn exactly over the photo.
    assert compare.match_pane.image_rect().isValid()
    compare.heat_toggle.setChecked(False)
    assert not compare.match_pane.has_overlay()


def test_heatmap_toggle_hidden_with_a_reason_without_the_module(make_window, monkeypatch):
    from lostpet_desktop.state import AppState

    monkeypatch.setattr(AppState, "heatmap_available", staticmethod(lambda: False))
    window = make_window()
    compare = window.search_view.compare
    assert compare.heat_toggle.isHidden() and compare.opacity.isHidden()
    assert "not available" in compare.heat_note.text()


def test_search_waits_for_the_model_then_runs(make_window, qtbot, tiny_embedder, three_dogs):
    import threading

    gate = threading.Event()

    def slow_factory(settings, weights_file):
        gate.wait(10)
        return tiny_embedder

    window = make_window(slow_factory, wait_ready=False)
    _files, query = three_dogs
    view = window.search_view
    qtbot.waitUntil(lambda: bool(window.state.registry_info), timeout=WAIT_MS)
    view.search_files([query])
    assert "Waiting for the model" in view.status_label.text()
    assert window.model_label.text() == "Loading the model…"
    QApplication.processEvents()
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        gate.set()
    assert view.results.rowCount() == 0  # an empty registry: the search ran and said so
    assert "no dogs yet" in view.status_label.text()


def test_text_guidance_hook_reranks_with_the_prompt(lostpet_window, qtbot, three_dogs):
    """The prompt field appears when the app is given a guidance hook, whose ranking is then shown."""
    from lostpet_desktop.views.search_view import SearchView

    window = lostpet_window
    files, query = three_dogs
    register_dogs(window, qtbot, files)
    calls = []

    def guide(reg, sources, matches, prompt):
        calls.append(prompt)
        return list(reversed(matches))

    window.state.text_guidance = guide
    view = SearchView(window.state)
    qtbot.addWidget(view)
    assert not view.prompt.isHidden()
    view.prompt.setText("white patch on the chest")
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        view.search_files([query])
    assert calls == ["white patch on the chest"]
    assert view.results.match(2).dog.tag == "dog2"  # the hook's order, not the engine's
