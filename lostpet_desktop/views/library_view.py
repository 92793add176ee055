"""Library: every registered dog, searchable by tag and name, with an editor for the selected one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from reid_engine.models import Crop, Dog, DogDetails, DogStatus, Photo

from ..models import CardDelegate, DogListModel, PhotoListModel
from ..state import AppState
from ..thumbnails import read_image
from ..workers import Job, describe_error
from .region_pane import RegionPane, from_crop, to_crop
from .widgets import (
    PHOTO_FILTER,
    DogDetailsFields,
    MessageBanner,
    make_grid,
    make_photo_strip,
    split_dropped,
)

PAGE_SIZE = 200


def ask(parent: QWidget, title: str, text: str, informative: str, yes: str) -> bool:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(informative)
    ok = box.addButton(yes, QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is ok


class DogEditor(QWidget):
    """The selected dog: its photos and details, with save, status change, photo add/remove, delete."""

    changed = Signal(object)  # the updated Dog
    deleted = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.dog: Dog | None = None
        self._shown_photo: Photo | None = None
        self._candidates: list[Crop] = []  # dogs found in the shown photo, offered to click
        # Replaced in tests (modal boxes cannot be clicked offscreen).
        self.confirm: Callable[[str, str, str, str], bool] = lambda *a: ask(self, *a)
        self.setAcceptDrops(True)

        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.photo = RegionPane("No photo")
        self.photo.draw_mode = "none"  # drawing a dog box is switched on by "Adjust dog box"
        self.photo.setMinimumHeight(140)
        self.photo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.photo.setCursor(Qt.CursorShape.ArrowCursor)
        self.photo.dog_box_drawn.connect(self._dog_box_drawn)
        self.photo.candidate_chosen.connect(self._candidate_chosen)
        self.crop_label = QLabel()
        self.crop_label.setWordWrap(True)
        self.crop_label.setStyleSheet("color: gray; font-size: small;")
        self.photos_model = PhotoListModel(state.thumbnails, state.photo_file, 72, self)
        self.photos_strip = make_photo_strip(self.photos_model, 72)
        self.photos_strip.clicked.connect(lambda idx: self._show_photo(self.photos_model.item(idx.row())))
        self.add_photos_button = QPushButton("Add photos…")
        self.add_photos_button.setToolTip("Add more photos of this dog (you can also drop them here)")
        self.add_photos_button.clicked.connect(self.pick_photos)
        self.remove_photo_button = QPushButton("Remove photo")
        self.remove_photo_button.setToolTip("Remove the photo shown above from this dog")
        self.remove_photo_button.clicked.connect(self.remove_shown_photo)
        self.adjust_box_button = QPushButton("Adjust dog box")
        self.adjust_box_button.setCheckable(True)
        self.adjust_box_button.setToolTip("Drag a new box around the dog on the photo above: only that part "
                                          "is used for matching (the photo itself is kept whole)")
        self.adjust_box_button.toggled.connect(self._adjust_mode)
        self.find_dogs_button = QPushButton("Find dogs")
        self.find_dogs_button.setToolTip("Look for the dog(s) in this photo again; with several, click the one "
                                         "this record is about")
        self.find_dogs_button.clicked.connect(self.find_dogs)
        self.whole_photo_button = QPushButton("Use whole photo")
        self.whole_photo_button.setToolTip("Match on the whole photo, not a box around the dog")
        self.whole_photo_button.clicked.connect(lambda: self.set_crop(None, "Matching on the whole photo now."))
        photo_buttons = QHBoxLayout()
        photo_buttons.addWidget(self.add_photos_button)
        photo_buttons.addWidget(self.remove_photo_button)
        photo_buttons.addStretch(1)
        crop_buttons = QHBoxLayout()
        crop_buttons.addWidget(self.adjust_box_button)
        crop_buttons.addWidget(self.find_dogs_button)
        crop_buttons.addWidget(self.whole_photo_button)
        crop_buttons.addStretch(1)

        self.fields = DogDetailsFields(notes_height=90)
        self.tag, self.name, self.status = self.fields.tag, self.fields.name, self.fields.status
        self.date, self.location, self.notes = self.fields.date, self.fields.location, self.fields.notes

        self.banner = MessageBanner()
        self.save_button = QPushButton("Save changes")
        self.save_button.clicked.connect(self.save)
        self.reunited_button = QPushButton("Mark as reunited")
        self.reunited_button.setToolTip("The dog went home: set its status to Reunited and save")
        self.reunited_button.clicked.connect(self.mark_reunited)
        self.delete_button = QPushButton("Delete dog…")
        self.delete_button.setToolTip("Remove this dog and all its photos from the registry (Delete)")
        self.delete_button.clicked.connect(self.delete)
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.reunited_button)
        buttons.addWidget(self.save_button)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.photo, 1)
        layout.addWidget(self.crop_label)
        layout.addLayout(crop_buttons)
        layout.addWidget(self.photos_strip)
        layout.addLayout(photo_buttons)
        layout.addLayout(self.fields.form)
        layout.addWidget(self.banner)
        layout.addLayout(buttons)
        self._empty = QLabel("Select a dog to see and edit its record.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self._empty)
        self._stack.addWidget(body)

    # -- showing
    def show_dog(self, dog: Dog | None) -> None:
        keep_banner = self.dog is not None and dog is not None and dog.id == self.dog.id
        self.dog = dog
        if not keep_banner:
            self.banner.hide()
        if dog is None:
            self._stack.setCurrentIndex(0)
            return
        self._stack.setCurrentIndex(1)
        self.title.setText(dog.display_name)
        self.fields.show_dog(dog)
        self.photos_model.set_items(dog.photos)
        self.remove_photo_button.setEnabled(bool(dog.photos))
        self.reunited_button.setEnabled(dog.status is not DogStatus.REUNITED)
        self._show_photo(dog.cover)

    def _show_photo(self, photo: Photo | None) -> None:
        self._shown_photo = photo if isinstance(photo, Photo) else None
        self.adjust_box_button.setChecked(False)
        self.photo.set_candidates([])
        for button in (self.adjust_box_button, self.find_dogs_button, self.whole_photo_button):
            button.setEnabled(self._shown_photo is not None)
        if self._shown_photo is None:
            self.photo.set_pixmap(None)
            self.photo.set_dog_box(None)
            self.crop_label.setText("")
            return
        self._show_crop(self._shown_photo)
        row = next((i for i, p in enumerate(self.photos_model.items()) if p.id == photo.id), -1)
        if row >= 0:
            self.photos_strip.setCurrentIndex(self.photos_model.index(row))
        self.photo.set_pixmap(None)
        self.photo.set_placeholder("Loading…")
        job = Job(read_image, str(self.state.photo_file(photo)), round(640 * self.devicePixelRatioF()),
                  name="Loading photo")
        wanted = photo

        def done(image) -> None:
            if self._shown_photo is wanted and not image.isNull():
                self.photo.set_pixmap(QPixmap.fromImage(image))

        job.signals.result.connect(done)
        self.state.thumbnails.submit(job)

    # -- the dog's box in the shown photo
    def _show_crop(self, photo: Photo) -> None:
        self.photo.set_dog_box(from_crop(photo.crop) if photo.crop else None)
        self.whole_photo_button.setEnabled(photo.crop is not None)
        self.crop_label.setText(
            f"Matched on the green box ({photo.crop.describe()})." if photo.crop
            else "Matched on the whole photo. Use “Adjust dog box” if the dog is small in the frame."
        )

    def _adjust_mode(self, on: bool) -> None:
        self.photo.draw_mode = "dog" if on else "none"
        self.photo.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        if on:
            self.crop_label.setText("Drag a box around the dog on the photo.")
        elif self._shown_photo is not None:
            self._show_crop(self._shown_photo)

    def _dog_box_drawn(self, box: tuple) -> None:
        self.adjust_box_button.setChecked(False)
        self.set_crop(to_crop(tuple(box), by="user"), "Dog box saved: this photo is matched on it now.")

    def set_crop(self, crop: Crop | str | None, message: str) -> None:
        """Embed the shown photo's ``crop`` (a box, ``"auto"`` or ``None``: whole) from now on."""
        if self.dog is None or self._shown_photo is None:
            return
        dog_id, photo_id = self.dog.id, self._shown_photo.id

        def work(reg):
            reg.set_photo_crop(photo_id, crop)
            return reg.get_dog(dog_id)

        self.state.run(work, name="Re-embedding the photo", needs_model=True,
                       on_result=lambda dog: self._crop_saved(dog, photo_id, message), on_error=self._failed)

    def _crop_saved(self, dog: Dog, photo_id: int, message: str) -> None:
        self._updated(dog, message)
        photo = next((p for p in dog.photos if p.id == photo_id), None)
        if photo is not None:
            self._show_photo(photo)

    def find_dogs(self) -> None:
        """Look for dogs in the shown photo; one is used at once, several are offered to click."""
        if self._shown_photo is None:
            return
        path = self.state.photo_file(self._shown_photo)
        wanted = self._shown_photo

        def found(candidates: list[Crop]) -> None:
            if self._shown_photo is None or self._shown_photo.id != wanted.id:
                return  # another photo is shown now
            if not candidates:
                self.banner.info("No dog stands out from the background in this photo. Use “Adjust dog box” "
                                 "to draw one, or keep the whole photo.")
            elif len(candidates) == 1:
                self.set_crop(candidates[0], "Found the dog: this photo is matched on the green box now.")
            else:
                self._candidates = candidates
                self.photo.set_candidates([from_crop(c) for c in candidates])
                self.crop_label.setText(f"{len(candidates)} animals found: click the one this record is about.")

        self.state.run(lambda reg: reg.dog_candidates(path), name="Looking for dogs", needs_model=True,
                       on_result=found, on_error=self._failed)

    def _candidate_chosen(self, index: int) -> None:
        candidates = self._candidates
        if 0 <= index < len(candidates):
            self.photo.set_candidates([])
            self.set_crop(candidates[index], f"Dog {index + 1} chosen: this photo is matched on it now.")

    # -- editing
    def details(self) -> DogDetails:
        return self.fields.details(empty_name_clears=True)

    def save(self, *, message: str = "Changes saved.") -> None:
        if self.dog is None:
            return
        dog_id, details = self.dog.id, self.details()
        self.state.run(lambda reg: reg.edit(dog_id, details), name="Saving changes",
                       on_result=lambda dog: self._updated(dog, message), on_error=self._failed)

    def mark_reunited(self) -> None:
        self.status.setCurrentIndex(self.status.findData(DogStatus.REUNITED))
        self.save(message="Marked as reunited. Good news!")

    def pick_photos(self) -> None:
        if self.dog is None:
            return
        files, _ = QFileDialog.getOpenFileNames(self, f"Add photos of {self.dog.display_name}",
                                                self.state.last_folder("register"), PHOTO_FILTER)
        if files:
            self.add_photos([Path(f) for f in files])

    def add_photos(self, paths: list[Path]) -> None:
        if self.dog is None:
            return
        photos, _folders, rejected = split_dropped(paths)
        if rejected and not photos:
            self.banner.error(f"{rejected[0][0].name} is not a photo LostPet can read.")
            return
        self.state.set_last_folder(photos[0], "register")
        dog_id, before = self.dog.id, len(self.dog.photos)
        self.state.run(lambda reg: reg.add_photos(dog_id, photos), name="Adding photos", needs_model=True,
                       on_result=lambda dog: self._updated(
                           dog, f"Added {len(dog.photos) - before} photo(s)." if len(dog.photos) > before
                           else "These photos were already stored for this dog."),
                       on_error=self._failed)

    def remove_shown_photo(self) -> None:
        if self.dog is None or self._shown_photo is None:
            return
        if len(self.dog.photos) <= 1:
            self.banner.warning("This is the dog's only photo. Add another photo first, or delete the dog.")
            return
        if not self.confirm("Remove photo", f"Remove this photo from {self.dog.display_name}?",
                            "The stored copy is deleted; your original file is not touched.", "Remove photo"):
            return
        photo_id = self._shown_photo.id
        self.state.run(lambda reg: reg.remove_photo(photo_id), name="Removing a photo",
                       on_result=lambda dog: self._updated(dog, "Photo removed."), on_error=self._failed)

    def delete(self) -> None:
        if self.dog is None:
            return
        dog = self.dog
        if not self.confirm("Delete dog", f"Delete {dog.display_name} and its {len(dog.photos)} photo(s)?",
                            "This cannot be undone. Your original photo files are not touched.", "Delete dog"):
            return
        self.state.run(lambda reg: reg.remove_dog(dog.id), name="Deleting a dog",
                       on_result=lambda _none: self._deleted(dog.id), on_error=self._failed)

    def _updated(self, dog: Dog, message: str) -> None:
        self.show_dog(dog)
        self.banner.success(message)
        self.changed.emit(dog)
        self.state.notify_changed()

    def _deleted(self, dog_id: int) -> None:
        self.show_dog(None)
        self.deleted.emit(dog_id)
        self.state.notify_changed()

    def _failed(self, exc: BaseException) -> None:
        self.banner.error(describe_error(exc))

    # -- dropping photos onto the record adds them
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.dog is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_photos(paths)


class LibraryView(QWidget):
    """All dogs, newest first, in pages; text and status filters; the editor on the right.

    Signals:
        loaded(int): a (re)load finished with this many dogs shown (tests wait on it).
        import_requested(): the "Import folder…" button.
    """

    loaded = Signal(int)
    import_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._load_token = 0
        self._select_after_load: int | None = None
        self._dirty = True

        self.search = QLineEdit()
        self.search.setPlaceholderText("Find by tag, name, place or notes…")
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", None)
        for status in DogStatus:
            self.status_filter.addItem(status.label, status)
        self.status_filter.currentIndexChanged.connect(self.reload)
        self.count_label = QLabel()
        import_button = QPushButton("Import folder…")
        import_button.setToolTip("Register many photos at once from a folder (Ctrl+I)")
        import_button.clicked.connect(self.import_requested)
        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(self.status_filter)
        top.addWidget(self.count_label, 1)
        top.addWidget(import_button)

        self.banner = MessageBanner()
        self.model = DogListModel(state.thumbnails, state.photo_file, 140, self)
        self.model.more_wanted.connect(self._load_more)
        self.grid = make_grid(self.model, CardDelegate(140, show_score=False))
        self.grid.setMinimumWidth(2 * (140 + 16) + 40)
        self.grid.selectionModel().currentChanged.connect(self._dog_selected)
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()

        self.editor = DogEditor(state)
        self.editor.changed.connect(self.model.replace_dog)
        self.editor.deleted.connect(self._dog_deleted)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addLayout(top)
        left_layout.addWidget(self.banner)
        left_layout.addWidget(self.empty_label)
        left_layout.addWidget(self.grid, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(0, 6)
        splitter.setStretchFactor(1, 4)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)

        state.registry_opened.connect(self.reload)
        state.registry_changed.connect(self._registry_changed)

    # -- loading
    def _query(self) -> tuple[str | None, list[DogStatus] | None]:
        text = self.search.text().strip() or None
        status = self.status_filter.currentData()
        return text, ([status] if status is not None else None)

    def reload(self) -> None:
        """Load the first page for the current filters (engine worker)."""
        self._debounce.stop()
        self._load_token += 1
        token = self._load_token
        text, statuses = self._query()
        self.state.run(lambda reg: (reg.list_dogs(text=text, statuses=statuses, limit=PAGE_SIZE),
                                    reg.counts()),
                       name="Listing dogs",
                       on_result=lambda out: self._loaded(out, token, append=False),
                       on_error=lambda exc: self._load_failed(exc, token))

    def _load_more(self, offset: int) -> None:
        token = self._load_token
        text, statuses = self._query()
        self.state.run(lambda reg: (reg.list_dogs(text=text, statuses=statuses, limit=PAGE_SIZE, offset=offset),
                                    None),
                       name="Listing dogs",
                       on_result=lambda out: self._loaded(out, token, append=True),
                       on_error=lambda exc: self._load_failed(exc, token))

    def _loaded(self, out, token: int, *, append: bool) -> None:
        if token != self._load_token:
            return
        dogs, counts = out
        has_more = len(dogs) == PAGE_SIZE
        if append:
            self.model.append_dogs(dogs, has_more=has_more)
        else:
            current = self.editor.dog.id if self.editor.dog else None
            self.model.set_dogs(dogs, has_more=has_more)
            wanted = self._select_after_load or current
            self._select_after_load = None
            row = self.model.row_of(wanted) if wanted is not None else -1
            if row >= 0:
                self.grid.setCurrentIndex(self.model.index(row))
            elif wanted is not None and wanted != current:
                self._fetch_and_show(wanted)
        if counts is not None:
            self._counts = counts
        total = getattr(self, "_counts", {}).get("dogs")
        shown = self.model.rowCount()
        filtered = self._query() != (None, None)
        if total is None:
            self.count_label.setText(f"{shown} dogs")
        elif filtered:
            self.count_label.setText(f"{shown}{'+' if self.model.has_more else ''} of {total} dogs match")
        else:
            self.count_label.setText(f"{total} dog{'s' if total != 1 else ''}")
        self.empty_label.setVisible(shown == 0)
        self.grid.setVisible(shown > 0)
        if shown == 0:
            self.empty_label.setText("No dog matches this search." if filtered else
                                     "No dogs registered yet. Register one, or import a folder of photos.")
        self._dirty = False
        self.loaded.emit(shown)

    def _load_failed(self, exc: BaseException, token: int) -> None:
        if token == self._load_token:
            self.banner.error(describe_error(exc))
            self.loaded.emit(self.model.rowCount())

    # -- selection and records
    def _dog_selected(self, current, _previous) -> None:
        self.editor.show_dog(self.model.dog(current.row()) if current.isValid() else None)

    def open_dog(self, dog_id: int) -> None:
        """Show one dog's record (from the compare view or a registration)."""
        row = self.model.row_of(dog_id)
        if row >= 0:
            self.grid.setCurrentIndex(self.model.index(row))
            self.grid.scrollTo(self.model.index(row))
            return
        self._select_after_load = dog_id
        if self.search.text() or self.status_filter.currentIndex():
            self.search.blockSignals(True)
            self.search.clear()
            self.search.blockSignals(False)
            self.status_filter.blockSignals(True)
            self.status_filter.setCurrentIndex(0)
            self.status_filter.blockSignals(False)
        self.reload()

    def _fetch_and_show(self, dog_id: int) -> None:
        self.state.run(lambda reg: reg.get_dog(dog_id), name="Opening a record",
                       on_result=self.editor.show_dog,
                       on_error=lambda exc: self.banner.error(describe_error(exc)))

    def delete_selected(self) -> None:
        self.editor.delete()

    def _dog_deleted(self, dog_id: int) -> None:
        self.model.remove_dog(dog_id)

    def _registry_changed(self) -> None:
        if self.isVisible():
            self.reload()
        else:
            self._dirty = True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._dirty:
            self.reload()
