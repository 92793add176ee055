"""Register: photos and details of a dog new to the shelter, with a duplicate check before saving.

As soon as photos are given, they are searched against the registry; dogs that look like the same
animal are shown beside the form, and saving asks for confirmation when one is "likely the same dog",
so duplicates are caught at intake.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from reid_engine.models import Dog, DogDetails, Match

from ..models import CardDelegate, MatchListModel, PhotoListModel
from ..models.roles import BAND_TEXT, format_score
from ..state import AppState, QuerySource
from ..workers import Job, describe_error
from .search_view import SearchOutcome, search_photos
from .widgets import (
    DogDetailsFields,
    MessageBanner,
    PhotoDropArea,
    make_grid,
    make_photo_strip,
    pasted_source,
    rejected_message,
    split_dropped,
)

DUPLICATES_K = 6


def ask_register_anyway(parent: QWidget, match: Match, band_text: str) -> bool:
    """Confirm registering a new dog although ``match`` looks like the same dog."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Possible duplicate")
    box.setText(f"These photos look like {match.dog.display_name} ({format_score(match.score)}, "
                f"{band_text.lower()}).")
    box.setInformativeText("Register a new dog anyway? If it is the same dog, add the photos to its record instead.")
    register = box.addButton("Register new dog", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is register


class RegisterView(QWidget):
    """The registration screen.

    Signals:
        registered(object): a dog was registered (the new ``Dog``).
        open_record(int): show this dog in the library.
        folder_dropped(Path): a folder was dropped (the main window offers the batch import).
        duplicates_checked(list): the duplicate check finished (its matches; tests wait on it).
    """

    registered = Signal(object)
    open_record = Signal(int)
    folder_dropped = Signal(Path)
    duplicates_checked = Signal(list)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._photos: list[QuerySource] = []
        self._pixmaps: dict[int, QPixmap] = {}
        self._paste_count = 0
        self._check_job: Job | None = None
        self._checked = False
        self._last_dog: Dog | None = None
        # Replaced in tests (a modal box cannot be clicked offscreen).
        self.confirm_duplicate: Callable[[Match, str], bool] = lambda m, t: ask_register_anyway(self, m, t)

        # Photos.
        self.drop_area = PhotoDropArea(
            "Register a dog",
            "Drop photos of the dog here (several angles help), paste (Ctrl+V) or choose files.",
            dialog_title="Choose photos of the dog",
            start_folder=lambda: state.last_folder("register"),
        )
        self.drop_area.setMaximumHeight(170)
        self.drop_area.files_given.connect(self.add_files)
        self.drop_area.image_pasted.connect(self.add_image)
        self.photos_model = PhotoListModel(state.thumbnails, lambda s: getattr(s, "path", None), 88, self)
        self.photos_strip = make_photo_strip(self.photos_model, 88)
        self.photos_label = QLabel("No photos yet.")
        self.remove_photo_button = QPushButton("Remove photo")
        self.remove_photo_button.setToolTip("Leave the selected photo out (Delete)")
        self.remove_photo_button.clicked.connect(self.remove_selected_photo)
        photo_buttons = QHBoxLayout()
        photo_buttons.addWidget(self.photos_label, 1)
        photo_buttons.addWidget(self.remove_photo_button)

        # Details.
        self.fields = DogDetailsFields(notes_height=110)
        self.tag, self.name, self.status = self.fields.tag, self.fields.name, self.fields.status
        self.date, self.location, self.notes = self.fields.date, self.fields.location, self.fields.notes
        self.tag.setPlaceholderText("Leave empty for an automatic tag")
        self.name.setPlaceholderText("If known")
        self.date.setToolTip("When the dog was found, reported lost or taken in")
        self.location.setPlaceholderText("Where the dog was found or lost")
        self.notes.setPlaceholderText("Breed, colour, collar, microchip, temperament…")
        form = self.fields.form

        self.banner = MessageBanner()
        self.banner.action_clicked.connect(self._banner_action)
        self.save_button = QPushButton("Save new dog")
        self.save_button.setDefault(True)
        self.save_button.setToolTip("Register the dog with these photos and details (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.save_button)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.addWidget(self.drop_area)
        left_layout.addWidget(self.photos_strip)
        left_layout.addLayout(photo_buttons)
        details_box = QGroupBox("Details")
        details_box.setLayout(form)
        left_layout.addWidget(details_box)
        left_layout.addWidget(self.banner)
        left_layout.addLayout(buttons)
        left_layout.addStretch(1)

        # Duplicate check.
        self.dup_status = QLabel("Add photos to check whether this dog is already registered.")
        self.dup_status.setWordWrap(True)
        self.dup_banner = MessageBanner()
        self.dup_banner.action_clicked.connect(self._add_to_top_duplicate)
        self.duplicates = MatchListModel(state.thumbnails, state.band, state.photo_file, 128, self)
        self.dup_grid = make_grid(self.duplicates, CardDelegate(128, show_score=True))
        self.dup_grid.doubleClicked.connect(
            lambda idx: self.open_record.emit(self.duplicates.match(idx.row()).dog.id))
        self.add_to_selected = QPushButton("Add photos to the selected dog instead")
        self.add_to_selected.setToolTip("It is the same dog: add these photos to its record, no new dog")
        self.add_to_selected.clicked.connect(self._add_to_selected_duplicate)
        self.add_to_selected.setEnabled(False)
        self.dup_grid.selectionModel().currentChanged.connect(
            lambda cur, _prev: self.add_to_selected.setEnabled(cur.isValid() and bool(self._photos)))
        dup_box = QGroupBox("Already registered? Dogs that look like this one")
        dup_layout = QVBoxLayout(dup_box)
        dup_layout.addWidget(self.dup_status)
        dup_layout.addWidget(self.dup_banner)
        dup_layout.addWidget(self.dup_grid, 1)
        dup_row = QHBoxLayout()
        dup_row.addStretch(1)
        dup_row.addWidget(self.add_to_selected)
        dup_layout.addLayout(dup_row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(dup_box)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 5)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)
        self._update_buttons()

    # ------------------------------------------------------------------ photos
    def add_files(self, paths: list[Path]) -> None:
        photos, folders, rejected = split_dropped([Path(p) for p in paths])
        if folders and not photos:
            self.folder_dropped.emit(folders[0])
            return
        if photos:
            self.state.set_last_folder(photos[0], "register")
            known = {s.path for s in self._photos}
            self._set_photos(self._photos + [QuerySource(p.name, path=p) for p in photos if p not in known],
                             self._pixmaps)
        if rejected:
            self.banner.error(rejected_message(rejected))
        else:
            self.banner.hide()

    def add_image(self, image: QImage) -> None:
        self._paste_count += 1
        pixmaps = dict(self._pixmaps)
        pixmaps[len(self._photos)] = QPixmap.fromImage(image)
        self._set_photos(self._photos + [pasted_source(image, self._paste_count)], pixmaps)

    def set_photos(self, sources: list[QuerySource], pixmaps: dict[int, QPixmap] | None = None) -> None:
        """Start a registration with these photos ("register this query as a new dog")."""
        self.clear()
        self._set_photos(list(sources), dict(pixmaps or {}))

    def photos(self) -> list[QuerySource]:
        return list(self._photos)

    def paste(self) -> bool:
        return self.drop_area.paste()

    def remove_selected_photo(self) -> None:
        index = self.photos_strip.currentIndex()
        if not index.isValid():
            return
        row = index.row()
        photos = [s for i, s in enumerate(self._photos) if i != row]
        pixmaps = {(i if i < row else i - 1): p for i, p in self._pixmaps.items() if i != row}
        self._set_photos(photos, pixmaps)

    def _set_photos(self, photos: list[QuerySource], pixmaps: dict[int, QPixmap]) -> None:
        self._photos = photos
        self._pixmaps = pixmaps
        self.photos_model.set_items(photos, pixmaps)
        n = len(photos)
        self.photos_label.setText(f"{n} photo{'s' if n != 1 else ''} to register." if n else "No photos yet.")
        self.check_duplicates()

    # ------------------------------------------------------------------ duplicate check
    def check_duplicates(self) -> None:
        if self._check_job is not None:
            self._check_job.cancel()
            self._check_job = None
        self._checked = False
        self.duplicates.clear()
        self.dup_banner.hide()
        if not self._photos:
            self.dup_status.setText("Add photos to check whether this dog is already registered.")
            self._update_buttons()
            return
        loading = self.state.model_state.value == "loading"
        self.dup_status.setText("Waiting for the model to load before checking…" if loading
                                else "Checking the registry for the same dog…")
        job = self.state.run(search_photos, list(self._photos), DUPLICATES_K, None, name="Checking for duplicates",
                             needs_model=True,
                             on_result=lambda out: self._checked_ok(out, job),
                             on_error=lambda exc: self._check_failed(exc, job))
        self._check_job = job
        self._update_buttons()

    def _checked_ok(self, outcome: SearchOutcome, job: Job) -> None:
        if job is not self._check_job:
            return
        self._check_job = None
        self._checked = True
        matches = [m for m in outcome.matches if self.state.band(m.score) != "unlikely"]
        self.duplicates.set_matches(matches or outcome.matches[:3])
        if outcome.failed:
            names = "; ".join(f"{n}: {r}" for n, r in outcome.failed)
            self.banner.warning(f"Some photos cannot be read and will not be registered. {names}")
            bad = {n for n, _ in outcome.failed}
            self._photos = [s for s in self._photos if s.name not in bad]
            self.photos_model.set_items(self._photos, {})
        top = outcome.matches[0] if outcome.matches else None
        if top is not None and self.state.band(top.score) == "likely":
            self.dup_status.setText("This dog may already be registered. Check before saving.")
            self.dup_banner.warning(
                f"{top.dog.display_name} looks like the same dog ({format_score(top.score)}, "
                f"{BAND_TEXT['likely'].lower()}). If it is, add the photos to its record.",
                action=f"Add to {top.dog.tag}")
            self.dup_grid.setCurrentIndex(self.duplicates.index(0))
        elif matches:
            self.dup_status.setText(f"No dog is likely the same, but {len(matches)} look similar. "
                                    "A quick look is worth it.")
        elif outcome.matches:
            self.dup_status.setText("No registered dog looks like this one. The closest are shown below.")
        else:
            self.dup_status.setText("The registry has no dogs yet: nothing to compare with.")
        self._update_buttons()
        self.duplicates_checked.emit(outcome.matches)

    def _check_failed(self, exc: BaseException, job: Job) -> None:
        if job is not self._check_job:
            return
        self._check_job = None
        self._checked = False
        self.dup_status.setText("The duplicate check could not run.")
        self.banner.error(describe_error(exc))
        self._update_buttons()
        self.duplicates_checked.emit([])

    def top_duplicate(self) -> Match | None:
        matches = self.duplicates.matches()
        if matches and self.state.band(matches[0].score) == "likely":
            return matches[0]
        return None

    # ------------------------------------------------------------------ saving
    def details(self) -> DogDetails:
        return self.fields.details(empty_name_clears=False)

    def save(self) -> None:
        if not self._photos or not self._checked:
            return
        top = self.top_duplicate()
        if top is not None and not self.confirm_duplicate(top, BAND_TEXT["likely"]):
            return
        photos, details = list(self._photos), self.details()
        self.save_button.setEnabled(False)
        self.banner.info("Saving…")
        self.state.run(lambda reg: reg.register([s.engine_input() for s in photos], details),
                       name="Registering", needs_model=True, on_result=self._saved,
                       on_error=self._save_failed)

    def _saved(self, dog: Dog) -> None:
        self.clear()
        self._last_dog = dog
        n = len(dog.photos)
        self.banner.success(f"Registered {dog.display_name} with {n} photo{'s' if n != 1 else ''}.",
                            action="Open record")
        self.state.notify_changed()
        self.registered.emit(dog)

    def _save_failed(self, exc: BaseException) -> None:
        self.banner.error(describe_error(exc))
        self._update_buttons()

    def _banner_action(self) -> None:
        if self._last_dog is not None:
            self.open_record.emit(self._last_dog.id)

    def _add_to_top_duplicate(self) -> None:
        top = self.top_duplicate()
        if top is not None:
            self._add_to_dog(top.dog)

    def _add_to_selected_duplicate(self) -> None:
        index = self.dup_grid.currentIndex()
        if index.isValid():
            self._add_to_dog(self.duplicates.match(index.row()).dog)

    def _add_to_dog(self, dog: Dog) -> None:
        photos = list(self._photos)
        if not photos:
            return

        def added(updated: Dog) -> None:
            self.clear()
            self._last_dog = updated
            self.banner.success(f"Added the photos to {updated.display_name} (now {len(updated.photos)} photos).",
                                action="Open record")
            self.state.notify_changed()

        self.state.run(lambda reg: reg.add_photos(dog.id, [s.engine_input() for s in photos]),
                       name="Adding photos", needs_model=True, on_result=added, on_error=self._save_failed)

    def clear(self) -> None:
        self.fields.clear()
        self.banner.hide()
        self._last_dog = None
        self._set_photos([], {})

    def _update_buttons(self) -> None:
        has = bool(self._photos)
        self.save_button.setEnabled(has and self._checked)
        if has and not self._checked and self._check_job is not None:
            self.save_button.setToolTip("Wait for the duplicate check to finish")
        else:
            self.save_button.setToolTip("Register the dog with these photos and details (Ctrl+S)")
        self.remove_photo_button.setEnabled(has)
        self.add_to_selected.setEnabled(has and self.dup_grid.currentIndex().isValid())
