"""The application shell: light import, options, shortcuts, remembered geometry, settings, about."""

from __future__ import annotations

import subprocess
import sys

from desktop_helpers import WAIT_MS
from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QDialogButtonBox

from lostpet_desktop.app import parse_args


def test_importing_the_app_loads_no_heavy_modules():
    code = ("import sys, lostpet_desktop.app, lostpet_desktop.main_window; "
            "heavy = [m for m in ('torch', 'timm', 'faiss') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_options():
    args = parse_args(["--data-dir", "/tmp/x", "--weights", "w.safetensors"])
    assert (args.data_dir, args.weights) == ("/tmp/x", "w.safetensors")


def test_status_bar_shows_model_device_and_size(lostpet_window):
    window = lostpet_window
    assert window.model_label.text().startswith("Model: random-tiny-seed0")
    assert window.device_label.text() == "Device: CPU"
    assert window.registry_label.text() == "0 dogs · 0 photos"


def test_shortcuts_switch_views(lostpet_window, qtbot):
    window = lostpet_window
    keys = {a.text(): [k.toString() for k in a.shortcuts()] for a in window.findChildren(type(window.act_open))}
    assert "Ctrl+O" in keys["&Search by photo…"]
    assert "Ctrl+Q" in keys["&Quit"]
    assert "Ctrl+I" in keys["&Import folder…"]
    assert "Ctrl+," in keys["&Settings…"]
    assert "Del" in keys["&Delete dog…"]
    window.act_find.trigger()
    assert window.tabs.currentIndex() == 2
    window.act_tabs[1].trigger()
    assert window.tabs.currentIndex() == 1


def test_window_geometry_is_remembered(make_window, qtbot):
    window = make_window()
    window.resize(777, 650)  # the offscreen screen is 800 x 600: the width fits, the height is clamped
    window.close()
    saved = window.state.qsettings.value("window/geometry")
    assert isinstance(saved, QByteArray) and not saved.isEmpty()
    again = make_window()
    assert again.width() == 777


def test_settings_dialog_changes_thresholds_and_bands(lostpet_window, qtbot):
    window = lostpet_window
    dialog = window.open_settings()
    # The tiny test model has no head: the backbone's calibrated bands, read-only until unticked.
    assert dialog.calibrated.isChecked() and not dialog.likely.isEnabled()
    assert dialog.likely.value() == 97 and dialog.possible.value() == 95
    dialog.calibrated.setChecked(False)
    dialog.possible.setValue(98)  # not below "likely": refused
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Save).isEnabled()
    dialog.likely.setValue(95)
    dialog.possible.setValue(50)
    qtbot.waitUntil(lambda: "✔" in dialog.sources_label.text() or "✘" in dialog.sources_label.text(),
                    timeout=WAIT_MS)
    dialog.accept()
    settings = window.state.settings
    assert (settings.likely_threshold, settings.possible_threshold) == (0.95, 0.5)
    assert window.state.band(0.9) == "possible"
    from reid_engine.settings import Settings

    assert Settings.load().likely_threshold == 0.95  # saved for the CLI and the next start

    dialog = window.open_settings()
    assert not dialog.calibrated.isChecked() and dialog.likely.value() == 95
    dialog.calibrated.setChecked(True)
    assert dialog.likely.value() == 97 and dialog.possible.value() == 95
    dialog.accept()
    assert window.state.settings.likely_threshold is None and window.state.band(0.96) == "possible"


def test_about_box_shows_versions_model_and_counts(lostpet_window, qtbot):
    dialog = lostpet_window.open_about()
    qtbot.waitUntil(lambda: "random-tiny-seed0" in dialog.text.text(), timeout=WAIT_MS)
    text = dialog.text.text()
    for needle in ("PySide6", "PyTorch", "Dogs", "Photos", "random-init", "Search index"):
        assert needle in text
    dialog.close()


def test_a_registry_in_use_elsewhere_opens_read_only_with_a_warning(make_window, qtbot, registry_dir,
                                                                    tiny_embedder, tmp_path):
    from reid_engine.registry import Registry

    from photos import make_dog_photo

    photo = make_dog_photo(tmp_path / "bella.jpg", 3, (96, 72))
    with Registry.open(registry_dir, tiny_embedder) as other:  # "another LostPet window"
        other.register([photo])
        window = make_window()
        assert "is in use" in window.app_banner.text() and "read-only" in window.app_banner.text()
        assert window.app_banner.kind == "warning"
        view = window.search_view
        with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
            view.search_files([photo])  # searching still works
        assert view.results.rowCount() == 1
        window.register_view.set_photos(view.query())
        qtbot.waitUntil(lambda: window.register_view.save_button.isEnabled(), timeout=WAIT_MS)
        window.register_view.confirm_duplicate = lambda *a: True
        window.register_view.save()
        qtbot.waitUntil(lambda: window.register_view.banner.kind == "error", timeout=WAIT_MS)
        assert "read-only" in window.register_view.banner.text()
