"""The dog's box in the app: search shows the crop it used and can be told to search the whole photo
or a box drawn by hand; the library shows each photo's box and lets staff redraw it, use the whole
photo, or pick one of several dogs. A stub finder makes the boxes predictable."""

from __future__ import annotations

import pytest
from desktop_helpers import WAIT_MS, drop_files
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from photos import dog_image
from reid_engine.crop import Box
from reid_engine.models import DogDetails

SCENE = (320, 240)
DOGS = [(180, 110, 80, 80), (20, 30, 70, 70)]  # x, y, w, h of the dogs pasted into the scene


class StubFinder:
    method = "stub"

    def __init__(self, n: int = 1):
        self.n = n

    def find(self, image, *, max_dogs: int = 4):
        kx, ky = image.width / SCENE[0], image.height / SCENE[1]
        return [Box(int(x * kx), int(y * ky), int(w * kx), int(h * ky), 0.9 - i * 0.1)
                for i, (x, y, w, h) in enumerate(DOGS[: self.n])][:max_dogs]


def scene(path, seed: int = 1):
    canvas = Image.new("RGB", SCENE, (110, 130, 90))
    for i, (x, y, w, h) in enumerate(DOGS):
        canvas.paste(dog_image(seed + i, (w, h))[0], (x, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def run_engine(window, qtbot, fn):
    out = []
    with qtbot.waitSignal(window.state.registry_changed, timeout=WAIT_MS):
        window.state.run(fn, name="test setup", needs_model=True,
                         on_result=lambda r: (out.append(r), window.state.notify_changed()))
    return out[0]


def drag(widget, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def photo_point(pane, fx: float, fy: float) -> QPoint:
    rect = pane.image_rect()
    return QPoint(int(rect.x() + fx * rect.width()), int(rect.y() + fy * rect.height()))


@pytest.fixture
def window(lostpet_window, qtbot):
    run_engine(lostpet_window, qtbot, lambda reg: reg.set_dog_finder(StubFinder()))
    return lostpet_window


def test_search_shows_the_dog_box_and_can_search_the_whole_photo_or_a_drawn_box(window, qtbot, tmp_path):
    run_engine(window, qtbot, lambda reg: reg.register([scene(tmp_path / "a.png", 1)], DogDetails(tag="a")))
    view = window.search_view
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        drop_files(view.drop_area, [scene(tmp_path / "q" / "query.png", 1)])
    box = view.focus_pane.dog_box()
    assert box is not None and box[0] == pytest.approx(0.5, abs=0.05)  # the dog at x = 180 of 320, minus margin
    assert "cropped automatically" in view.crop_note.text()
    assert view.results.match(0).score > 0.99  # same photo, same crop

    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        view.crop_check.setChecked(False)
    assert view.focus_pane.dog_box() is None and view.crop_note.text() == "Searching the whole photo."
    assert view.results.match(0).score < 0.99

    # Drawing a box: the button switches the pane to dog-box mode; one drag searches that box.
    view.crop_check.setChecked(True)
    qtbot.waitUntil(lambda: view._job is None, timeout=WAIT_MS)
    view.dog_box_button.setChecked(True)
    assert view.focus_pane.draw_mode == "dog"
    pane = view.focus_pane
    qtbot.waitUntil(lambda: pane.pixmap() is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(view.results_shown, timeout=WAIT_MS):
        drag(pane, photo_point(pane, 0.05, 0.1), photo_point(pane, 0.35, 0.45))
    assert not view.dog_box_button.isChecked() and pane.draw_mode == "region"
    assert pane.region() is None  # a dog box is not a focus region
    x, y, w, h = pane.dog_box()
    assert (x, y) == (pytest.approx(0.05, abs=0.02), pytest.approx(0.1, abs=0.02))
    assert "cropped by hand" in view.crop_note.text()


def test_library_shows_redraws_resets_and_picks_among_several_dogs(window, qtbot, tmp_path):
    dog = run_engine(window, qtbot, lambda reg: reg.register([scene(tmp_path / "b.png", 3)], DogDetails(tag="b")))
    library = window.library_view
    with qtbot.waitSignal(library.loaded, timeout=WAIT_MS):
        window.show_tab(2)
    library.open_dog(dog.id)
    editor = library.editor
    qtbot.waitUntil(lambda: editor.dog is not None and editor.photo.pixmap() is not None, timeout=WAIT_MS)
    assert editor.photo.dog_box() is not None
    assert "cropped automatically" in editor.crop_label.text()

    with qtbot.waitSignal(editor.changed, timeout=WAIT_MS) as blocker:
        editor.whole_photo_button.click()
    assert blocker.args[0].photos[0].crop is None
    assert editor.photo.dog_box() is None and not editor.whole_photo_button.isEnabled()

    # Redraw by hand: only while "Adjust dog box" is on; a drag without it draws nothing.
    qtbot.waitUntil(lambda: editor.photo.pixmap() is not None, timeout=WAIT_MS)
    pane = editor.photo
    drag(pane, photo_point(pane, 0.1, 0.1), photo_point(pane, 0.4, 0.4))
    assert pane.dog_box() is None
    editor.adjust_box_button.setChecked(True)
    with qtbot.waitSignal(editor.changed, timeout=WAIT_MS) as blocker:
        drag(pane, photo_point(pane, 0.1, 0.1), photo_point(pane, 0.4, 0.5))
    crop = blocker.args[0].photos[0].crop
    assert crop.by == "user" and crop.left == pytest.approx(0.1, abs=0.02) and crop.bottom == pytest.approx(0.5, abs=0.02)
    assert "cropped by hand" in editor.crop_label.text()

    # Two dogs in the photo: both are offered; a click inside the second one chooses it.
    run_engine(window, qtbot, lambda reg: reg.set_dog_finder(StubFinder(n=2)))
    qtbot.waitUntil(lambda: editor.photo.pixmap() is not None, timeout=WAIT_MS)
    editor.find_dogs_button.click()
    qtbot.waitUntil(lambda: len(pane.candidates()) == 2, timeout=WAIT_MS)
    assert "2 animals found" in editor.crop_label.text()
    x, y, w, h = pane.candidates()[1]
    with qtbot.waitSignal(editor.changed, timeout=WAIT_MS) as blocker:
        QTest.mouseClick(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         photo_point(pane, x + w / 2, y + h / 2))
    chosen = blocker.args[0].photos[0].crop
    assert chosen.by == "auto" and chosen.left < 0.1 and chosen.right < 0.4  # the dog on the left
    assert pane.candidates() == []
