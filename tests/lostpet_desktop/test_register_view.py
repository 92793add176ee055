"""Register: a real drop on the register area, the duplicate check, saving."""

from __future__ import annotations

from desktop_helpers import WAIT_MS, drop_files, register_dogs
from PIL import Image

from photos import make_dog_photo


def test_drop_on_register_area_warns_of_a_duplicate_before_saving(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    bella = make_dog_photo(tmp_path / "old" / "bella.jpg", 7, (160, 120))
    other = make_dog_photo(tmp_path / "old" / "rex.jpg", 8, (160, 120))
    register_dogs(window, qtbot, {"A-1042": [bella], "A-2000": [other]})
    again = tmp_path / "new" / "intake_0001.png"  # the same dog photographed again (same pixels)
    again.parent.mkdir()
    Image.open(bella).save(again)

    view = window.register_view
    window.show_tab(1)
    with qtbot.waitSignal(view.duplicates_checked, timeout=WAIT_MS):
        drop_files(view.drop_area, [again])
    assert view.photos_model.rowCount() == 1
    assert view.top_duplicate() is not None and view.top_duplicate().dog.tag == "A-1042"
    assert view.dup_banner.isVisible() and "looks like the same dog" in view.dup_banner.text()
    assert "A-1042" in view.dup_banner.text()
    assert view.save_button.isEnabled()

    # Saving asks first; declining registers nothing.
    asked = []
    view.confirm_duplicate = lambda match, band: asked.append(match.dog.tag) or False
    view.save()
    assert asked == ["A-1042"]
    assert window.state.counts["dogs"] == 2

    # "Add to A-1042" from the warning puts the photo on the existing record instead.
    with qtbot.waitSignal(window.state.registry_changed, timeout=WAIT_MS):
        view.dup_banner._action.click()
    assert "Added the photos to A-1042" in view.banner.text()
    qtbot.waitUntil(lambda: window.state.counts.get("photos") == 3, timeout=WAIT_MS)
    assert window.state.counts["dogs"] == 2


def test_register_a_new_dog_with_details(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    view = window.register_view
    photos = [make_dog_photo(tmp_path / f"max_{v}.jpg", 21, (160, 120), variant=v) for v in range(2)]
    with qtbot.waitSignal(view.duplicates_checked, timeout=WAIT_MS):
        drop_files(view.drop_area, photos)
    assert "no dogs yet" in view.dup_status.text()
    view.tag.setText("A-3001")
    view.name.setText("Max")
    view.status.setCurrentIndex(view.status.findText("Found"))
    view.location.setText("Harbour Road")
    view.notes.setPlainText("Red collar, no chip")
    with qtbot.waitSignal(view.registered, timeout=WAIT_MS) as blocker:
        view.save_button.click()
    dog = blocker.args[0]
    assert (dog.tag, dog.name, dog.status.label, dog.location, len(dog.photos)) == (
        "A-3001", "Max", "Found", "Harbour Road", 2)
    assert view.banner.text() == "Registered Max (A-3001) with 2 photos."
    assert view.photos_model.rowCount() == 0 and view.tag.text() == ""  # ready for the next dog
    # The library shows it.
    with qtbot.waitSignal(window.library_view.loaded, timeout=WAIT_MS):
        window.show_tab(2)
    assert [d.tag for d in window.library_view.model.dogs()] == ["A-3001"]


def test_register_query_from_search_prefills_the_photos(lostpet_window, qtbot, tmp_path):
    window = lostpet_window
    query = make_dog_photo(tmp_path / "q.jpg", 30, (160, 120))
    with qtbot.waitSignal(window.search_view.results_shown, timeout=WAIT_MS):
        window.search_view.search_files([query])
    with qtbot.waitSignal(window.register_view.duplicates_checked, timeout=WAIT_MS):
        window.search_view.register_button.click()
    assert window.tabs.currentIndex() == 1
    assert [s.path for s in window.register_view.photos()] == [query]


def test_non_photo_on_register_area_is_refused_with_a_message(lostpet_window, tmp_path):
    view = lostpet_window.register_view
    pdf = tmp_path / "vet_record.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    drop_files(view.drop_area, [pdf])
    assert "vet_record.pdf" in view.banner.text() and "not a photo" in view.banner.text()
    assert view.photos_model.rowCount() == 0 and not view.save_button.isEnabled()
