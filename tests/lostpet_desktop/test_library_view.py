"""Library: listing, text and status filters, editing, photos, status change, deletion."""

from __future__ import annotations

from desktop_helpers import WAIT_MS, register_dogs

from lostpet_desktop.models import Roles
from photos import make_dog_photo


def _library_with_dogs(window, qtbot, tmp_path, n=3):
    files = {f"K-{i:03d}": [make_dog_photo(tmp_path / f"k{i}_{v}.jpg", 40 + i, (120, 90), variant=v)
                            for v in range(2)] for i in range(n)}
    register_dogs(window, qtbot, files)
    library = window.library_view
    with qtbot.waitSignal(library.loaded, timeout=WAIT_MS):
        window.show_tab(2)
    return library


def test_library_lists_filters_and_edits(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    library = _library_with_dogs(window, qtbot, tmp_path)
    assert library.model.rowCount() == 3
    assert library.count_label.text() == "3 dogs"
    assert library.model.data(library.model.index(0), Roles.Detail).endswith("2 photos")

    with qtbot.waitSignal(library.loaded, timeout=WAIT_MS):
        library.search.setText("K-001")
    assert [d.tag for d in library.model.dogs()] == ["K-001"]
    assert library.count_label.text() == "1 of 3 dogs match"

    library.grid.setCurrentIndex(library.model.index(0))
    editor = library.editor
    assert editor.title.text() == "K-001 (K-001)"
    editor.name.setText("Bella")
    editor.location.setText("Market square")
    with qtbot.waitSignal(editor.changed, timeout=WAIT_MS) as blocker:
        editor.save_button.click()
    assert (blocker.args[0].name, blocker.args[0].location) == ("Bella", "Market square")
    assert library.model.data(library.model.index(0), 0) == "Bella"
    assert editor.banner.text() == "Changes saved."

    with qtbot.waitSignal(editor.changed, timeout=WAIT_MS) as blocker:
        editor.reunited_button.click()
    assert blocker.args[0].status.label == "Reunited"
    assert not editor.reunited_button.isEnabled()

    # Status filter.
    library.search.clear()
    with qtbot.waitSignal(library.loaded, timeout=WAIT_MS):
        library.status_filter.setCurrentIndex(library.status_filter.findText("Reunited"))
    assert [d.name for d in library.model.dogs()] == ["Bella"]


def test_remove_photo_and_delete_dog_after_confirmation(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    library = _library_with_dogs(window, qtbot, tmp_path, n=2)
    library.grid.setCurrentIndex(library.model.index(0))
    editor = library.editor
    dog = editor.dog
    answers = []
    editor.confirm = lambda title, *rest: answers.append(title) or True

    with qtbot.waitSignal(editor.changed, timeout=WAIT_MS) as blocker:
        editor.remove_photo_button.click()
    assert len(blocker.args[0].photos) == 1
    editor.remove_photo_button.click()  # the last photo: refused with advice, nothing asked
    assert "only photo" in editor.banner.text()
    assert answers == ["Remove photo"]

    editor.confirm = lambda *a: False
    library.delete_selected()
    assert library.model.rowCount() == 2  # declined

    editor.confirm = lambda *a: True
    with qtbot.waitSignal(editor.deleted, timeout=WAIT_MS):
        library.grid.setFocus()
        library.delete_selected()
    assert dog.id not in [d.id for d in library.model.dogs()]
    qtbot.waitUntil(lambda: window.state.counts.get("dogs") == 1, timeout=WAIT_MS)


def test_open_record_from_compare_selects_the_dog(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    library = _library_with_dogs(window, qtbot, tmp_path)
    target = next(d for d in library.model.dogs() if d.tag == "K-000")
    with qtbot.waitSignal(library.loaded, timeout=WAIT_MS):
        library.search.setText("K-001")  # the dog to open is filtered out
    window.show_tab(0)
    with qtbot.waitSignal(library.loaded, timeout=WAIT_MS):
        window.open_record(target.id)  # clears the filter, reloads and selects
    assert window.tabs.currentIndex() == 2
    assert library.editor.dog.id == target.id
    assert library.search.text() == ""
