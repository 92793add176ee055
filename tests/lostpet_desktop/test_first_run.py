"""First run with no usable weights: a clear screen, never a traceback."""

from __future__ import annotations

from desktop_helpers import WAIT_MS

from lostpet_desktop.state import ModelState
from reid_engine.errors import WeightsError


def missing_weights(settings, weights_file):
    if weights_file:
        raise WeightsError("file", f"{weights_file} is not a DINOv2 ViT-S/14 checkpoint (no patch_embed.proj.weight).")
    raise WeightsError("none", "no DINOv2 ViT-S/14 weights on this computer.")


def test_first_run_screen_says_what_is_missing(make_window, qtbot):
    window = make_window(missing_weights, wait_ready=False)
    qtbot.waitUntil(lambda: window.state.model_state is ModelState.MISSING, timeout=WAIT_MS)
    first = window.first_run
    assert window.pages.currentWidget() is first
    assert "no DINOv2 ViT-S/14 weights on this computer" in first.problem.text()
    assert "Traceback" not in first.problem.text()
    qtbot.waitUntil(lambda: "Where" not in first.sources_label.text() and "✔" in first.sources_label.text()
                    or "✘" in first.sources_label.text(), timeout=WAIT_MS)
    assert "Download from the internet" in first.sources_label.text()
    assert first.choose_button.isEnabled() and first.retry_button.isEnabled()
    assert window.model_label.text() == "Model: missing"


def test_choosing_a_bad_file_explains_and_a_good_one_loads(make_window, qtbot, tmp_path, tiny_embedder):
    def factory(settings, weights_file):
        if weights_file and weights_file.endswith("good.safetensors"):
            return tiny_embedder
        return missing_weights(settings, weights_file)

    window = make_window(factory, wait_ready=False)
    qtbot.waitUntil(lambda: window.state.model_state is ModelState.MISSING, timeout=WAIT_MS)
    bad = tmp_path / "photo.pth"
    bad.write_bytes(b"nope")
    window.first_run.use_file(bad)
    qtbot.waitUntil(lambda: window.state.model_state is ModelState.MISSING
                    and "photo.pth" in window.first_run.problem.text(), timeout=WAIT_MS)
    good = tmp_path / "good.safetensors"
    good.write_bytes(b"x")
    window.first_run.use_file(good)
    qtbot.waitUntil(lambda: window.state.model_state is ModelState.READY, timeout=WAIT_MS)
    assert window.pages.currentIndex() == 0  # the main screens replace the first-run screen
    assert window.state.settings.weights_file == str(good)  # remembered for next time


def test_continue_without_model_browses_and_explains_search(make_window, qtbot, tmp_path):
    from photos import make_dog_photo

    window = make_window(missing_weights, wait_ready=False)
    qtbot.waitUntil(lambda: window.state.model_state is ModelState.MISSING, timeout=WAIT_MS)
    window.first_run.skip_button.click()
    assert window.pages.currentIndex() == 0 and window.tabs.currentIndex() == 2
    view = window.search_view
    window.show_tab(0)
    view.search_files([make_dog_photo(tmp_path / "q.jpg", 1, (96, 72))])
    qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=WAIT_MS)
    assert "model weights are missing" in view.banner.text()
