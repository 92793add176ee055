"""Batch import through the dialog: progress, cancel, and the summary with reasons."""

from __future__ import annotations

import shutil

from desktop_helpers import WAIT_MS

from photos import make_dog_photo


def make_folder(root, dogs: int, per_dog: int, size=(96, 72)):
    for seed in range(dogs):
        for v in range(per_dog):
            make_dog_photo(root / f"dog{seed:03d}" / f"{v}.jpg", seed, size, variant=v)
    return root


def test_import_summary_lists_imported_skipped_and_failed(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    folder = make_folder(tmp_path / "intake", dogs=2, per_dog=3)
    shutil.copy(folder / "dog000" / "0.jpg", folder / "dog001" / "copy_of_other.jpg")
    (folder / "dog001" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    dialog = window.open_import(folder)
    dialog.set_mode("per-folder")
    with qtbot.waitSignal(dialog.finished_import, timeout=WAIT_MS) as blocker:
        dialog.start_button.click()
    summary = blocker.args[0]
    assert (len(summary.imported), len(summary.skipped), len(summary.failed), summary.dogs_created) == (6, 1, 1, 2)
    assert dialog.pages.currentIndex() == 2
    assert dialog.summary_title.text() == "Import finished"
    assert dialog.summary_label.text().startswith("6 photos imported (2 new dogs), 1 skipped")
    failed_group = dialog.tree.topLevelItem(0)
    assert failed_group.text(0) == "Failed (1)"
    assert failed_group.child(0).text(0) == "broken.jpg"
    assert "damaged" in failed_group.child(0).text(1) or "not a photo" in failed_group.child(0).text(1)
    assert dialog.tree.topLevelItem(1).child(0).text(0) == "copy_of_other.jpg"
    qtbot.waitUntil(lambda: window.state.counts.get("dogs") == 2, timeout=WAIT_MS)
    dialog.accept()


def test_import_progress_then_cancel_keeps_what_was_done(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    folder = make_folder(tmp_path / "big", dogs=60, per_dog=4, size=(64, 48))
    dialog = window.open_import(folder)
    dialog.set_mode("per-photo")
    with qtbot.waitSignal(dialog.progressed, timeout=WAIT_MS) as first:
        dialog.start_button.click()
    assert dialog.pages.currentIndex() == 1
    assert first.args[0].total == 240
    assert dialog.count_label.text().endswith("of 240 photos")
    with qtbot.waitSignal(dialog.finished_import, timeout=WAIT_MS) as blocker:
        dialog.cancel_button.click()
        assert dialog.cancel_button.text() == "Cancelling…"
    summary = blocker.args[0]
    assert summary.cancelled
    assert summary.total < 240
    assert dialog.summary_title.text() == "Import cancelled"
    assert "kept" in dialog.summary_label.text()
    qtbot.waitUntil(lambda: window.state.counts.get("photos") == len(summary.imported), timeout=WAIT_MS)


def test_closing_the_window_during_an_import_cancels_it_cleanly(make_window, qtbot, tmp_path, registry_dir,
                                                                 tiny_embedder):
    window = make_window()
    folder = make_folder(tmp_path / "big", dogs=60, per_dog=4, size=(64, 48))
    dialog = window.open_import(folder)
    with qtbot.waitSignal(dialog.progressed, timeout=WAIT_MS):
        dialog.start_button.click()
    window.close()  # must not hang, and must release the registry
    from lostpet_desktop import workers

    assert not workers.active_jobs()
    from reid_engine.registry import Registry

    with Registry.open(registry_dir, tiny_embedder) as reg:  # the writer lock was released
        assert reg.counts()["photos"] < 240


def test_a_folder_dropped_on_the_search_area_opens_the_import(lostpet_window, tmp_path):
    from desktop_helpers import drop_files

    folder = make_folder(tmp_path / "drop", dogs=1, per_dog=1)
    drop_files(lostpet_window.search_view.drop_area, [folder])
    dialog = lostpet_window.import_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.folder_edit.text() == str(folder) and dialog.start_button.isEnabled()
    dialog.reject()
