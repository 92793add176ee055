"""Search: drop, paste or pick photos of a dog and see the registered dogs that look like it.

Left: the drop area, the query photos, the filters and the ranked results grid. Right: the
:class:`~lostpet_desktop.views.compare_view.CompareView` of the selected match.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QDate, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from reid_engine.errors import ImageLoadError, ReidError
from reid_engine.models import DogStatus, Match, SearchFilters

from ..models import CardDelegate, MatchListModel, PhotoListModel
from ..state import AppState, QuerySource
from ..workers import Job, describe_error
from ..thumbnails import read_image
from .compare_view import CompareView, _pil_to_qimage
from .region_pane import Fractions, RegionPane, fraction_to_pixels, from_crop, to_crop
from .widgets import (
    MessageBanner,
    PhotoDropArea,
    make_date_edit,
    make_grid,
    make_photo_strip,
    pasted_source,
    rejected_message,
    split_dropped,
)

RESULTS_K = 24
_FOCUS_SIDE = 512  # the region map (and CLIP's view of the photo) is made at most this large
_PREVIEW_SIZE = 420
_ONE_PHOTO_ONLY = ("Focusing on a region works with one query photo. "
                   "Search with a single photo to mark a collar, a patch or another marking.")
_PROMPT_HINT = "e.g. red collar, white patch on chest"


@dataclass(frozen=True)
class Focus:
    """What the user asked the search to look at: a box (photo fractions) and/or a text prompt."""

    box: Fractions | None = None
    prompt: str = ""


@dataclass
class SearchOutcome:
    """What a search job hands back to the UI thread."""

    matches: list[Match]
    used: list[QuerySource]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (photo name, reason)
    seconds: float = 0.0
    guided: bool = False  # a region was used
    heat_preview: QImage | None = None  # the query photo with the CLIP heatmap, when a prompt was used
    note: str = ""  # what of the focus could not be used, and why
    crops: list = field(default_factory=list)  # per photo in ``used``: the Crop embedded, or None (whole)


def focus_region(source: QuerySource, focus: Focus, clip_provider=None):
    """Engine thread: ``(region map or None, note, heat preview or None)`` for one query photo.

    The map is made on a copy of the photo at most ``_FOCUS_SIDE`` pixels across (the registry
    resizes it to the photo). ``clip_provider() -> (ClipHeatmapper | None, reason)`` is called
    only when there is a prompt (it loads CLIP once).
    """
    from reid_engine import heatmap
    from reid_engine.guided import query_region
    from reid_engine.images import make_thumbnail

    try:
        image = source.load()
    except ImageLoadError:
        return None, "", None  # the search itself reports the unreadable photo
    small = make_thumbnail(image, min(_FOCUS_SIDE, max(image.size)))
    box = fraction_to_pixels(focus.box, small.size) if focus.box else None
    clip, reason = (None, "")
    if focus.prompt:
        clip, reason = clip_provider() if clip_provider is not None else (None, "no text model is set up")
    region, note = query_region(small, box=box, prompt=focus.prompt or None, clip=clip,
                                clip_unavailable=reason or "no CLIP weights are loaded")
    preview = None
    if region is not None and focus.prompt and clip is not None:
        preview = _pil_to_qimage(heatmap.overlay(small, region, alpha=1.0))
    return region, note, preview


def query_crops(reg, inputs: list, crop) -> list:
    """Engine thread: the part of each query photo to embed.

    ``crop``: ``"auto"`` (the registry's dog finder decides, per photo), ``None`` (whole photos), or
    a box the user drew, ``(x, y, w, h)`` fractions (one photo only).
    """
    if crop is None:
        return [None] * len(inputs)
    if isinstance(crop, tuple):
        return [to_crop(crop, by="user")] + [None] * (len(inputs) - 1)
    return [reg.find_crop(i) for i in inputs]


def search_photos(reg, sources: list[QuerySource], k: int, filters: SearchFilters | None, *,
                  prompt: str = "", guide=None, focus: Focus | None = None,
                  clip_provider=None, crop="auto") -> SearchOutcome:
    """Engine thread: search with every readable query photo; unreadable ones are reported, not fatal.

    With a ``prompt`` and a ``guide`` (the app's text-guidance hook), the matches are re-ranked by
    ``guide(reg, sources, matches, prompt)``. With a ``focus`` and exactly one photo, the search is
    region-guided (see :func:`focus_region`). ``crop`` says which part of the photos is searched
    (see :func:`query_crops`); the outcome says which crops were used.
    """
    start = time.perf_counter()
    remaining = list(sources)
    failed: list[tuple[str, str]] = []
    while remaining:
        inputs, keep = [], []
        for source in remaining:
            try:
                inputs.append(source.engine_input())
                keep.append(source)
            except ImageLoadError as exc:  # a pasted image that does not decode
                failed.append((source.name, exc.reason))
        remaining = keep
        if not remaining:
            break
        region, note, preview = None, "", None
        if focus is not None and len(remaining) == 1:
            region, note, preview = focus_region(remaining[0], focus, clip_provider)
        try:
            crops = query_crops(reg, inputs, crop)
            matches = reg.search(inputs, k=k, filters=filters, region=region, crop=crops)
        except ImageLoadError as exc:
            bad = next((s for s in remaining if s.path is not None and Path(s.path) == Path(exc.path)), None)
            if bad is None:
                bad = next((s for s in remaining if s.name == Path(exc.path).name), None)
            if bad is None:
                raise
            failed.append((bad.name, exc.reason))
            remaining = [s for s in remaining if s is not bad]
            continue
        if prompt and guide is not None:
            matches = guide(reg, remaining, matches, prompt)
        return SearchOutcome(matches, remaining, failed, time.perf_counter() - start,
                             guided=region is not None, heat_preview=preview, note=note, crops=crops)
    if len(failed) == 1:
        name, reason = failed[0]
        raise ReidError(f"Cannot read photo {name}: {reason}")
    raise ReidError("None of the photos could be read: " + "; ".join(f"{n}: {r}" for n, r in failed))


def _default_option(view):
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    option.initFrom(view)
    return option


class SearchView(QWidget):
    """The search screen.

    Signals:
        register_requested(list): "register this query as a new dog" (the ``QuerySource`` list).
        open_record(int): show this dog in the library.
        folder_dropped(Path): a folder was dropped (the main window offers the batch import).
        results_shown(float): results are on screen; seconds from the drop (benchmarks, tests).
    """

    register_requested = Signal(list)
    open_record = Signal(int)
    folder_dropped = Signal(Path)
    results_shown = Signal(float)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._query: list[QuerySource] = []
        self._query_pixmaps: dict[int, QPixmap] = {}
        self._paste_count = 0
        self._job: Job | None = None
        self._asked_at = 0.0
        self.last_seconds: float | None = None  # drop (or filter change) to results on screen

        self.drop_area = PhotoDropArea(
            "Search by photo",
            "Drop photos of the dog here, paste one (Ctrl+V) or choose files. "
            "Several photos of the same dog give better results.",
            dialog_title="Choose photos to search with",
            start_folder=lambda: state.last_folder("search"),
        )
        self.drop_area.setMaximumHeight(170)
        self.drop_area.files_given.connect(self.search_files)
        self.drop_area.image_pasted.connect(self.search_image)

        self.query_model = PhotoListModel(state.thumbnails, lambda s: getattr(s, "path", None), 56, self)
        self.query_strip = make_photo_strip(self.query_model, 56)
        self.query_label = QLabel()
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget these photos and start a new search")
        self.clear_button.clicked.connect(self.clear)
        self.register_button = QPushButton("Register as new dog…")
        self.register_button.setToolTip("None of these is the dog: register these photos as a new dog")
        self.register_button.clicked.connect(lambda: self.register_requested.emit(list(self._query)))
        query_text = QVBoxLayout()
        query_text.addWidget(self.query_label)
        query_buttons = QHBoxLayout()
        query_buttons.addWidget(self.register_button)
        query_buttons.addWidget(self.clear_button)
        query_buttons.addStretch(1)
        query_text.addLayout(query_buttons)
        self.query_row = QWidget()
        query_row = QHBoxLayout(self.query_row)
        query_row.setContentsMargins(0, 0, 0, 0)
        query_row.addWidget(self.query_strip, 1)
        query_row.addLayout(query_text)
        self.query_row.hide()

        # Focus on: a region dragged on the query photo and/or a text prompt (CLIP).
        self._searched_prompt = ""
        self.focus_pane = RegionPane("Loading…")
        self.focus_pane.setFixedSize(190, 190)
        self.focus_pane.set_opacity(0.55)
        self.focus_pane.region_changed.connect(self._region_drawn)
        self.focus_title = QLabel("<b>Focus on</b>")
        self.focus_prompt = QLineEdit()
        self.focus_prompt.setClearButtonEnabled(True)
        self.focus_prompt.setMaxLength(200)
        self.focus_prompt.editingFinished.connect(self._prompt_changed)
        self.focus_note = QLabel()
        self.focus_note.setWordWrap(True)
        self.focus_note.setStyleSheet("color: gray; font-size: small;")
        self.focus_hint = QLabel()
        self.focus_hint.setWordWrap(True)
        self._dog_box: Fractions | None = None  # a dog box the user drew on the query photo
        self.crop_check = QCheckBox("Search the dog only")
        self.crop_check.setChecked(state.settings.auto_crop)
        self.crop_check.setToolTip("Crop the photo to the dog (green box) when it fills little of the frame, "
                                   "so the kennel or the street around it does not count")
        self.crop_check.toggled.connect(self._crop_toggled)
        self.dog_box_button = QPushButton("Draw dog box")
        self.dog_box_button.setCheckable(True)
        self.dog_box_button.setToolTip("Drag a box around the dog on the photo: only that part is searched")
        self.dog_box_button.toggled.connect(self._dog_box_mode)
        self.focus_pane.dog_box_drawn.connect(self._dog_box_drawn)
        self.crop_note = QLabel()
        self.crop_note.setWordWrap(True)
        self.crop_note.setStyleSheet("color: gray; font-size: small;")
        self.clear_region_button = QPushButton("Clear region")
        self.clear_region_button.setToolTip("Forget the marked region and search the whole photo again")
        self.clear_region_button.clicked.connect(self.clear_region)
        focus_text = QVBoxLayout()
        focus_text.addWidget(self.focus_title)
        focus_text.addWidget(self.focus_prompt)
        focus_text.addWidget(self.focus_note)
        focus_text.addWidget(self.focus_hint)
        clear_row = QHBoxLayout()
        clear_row.addWidget(self.clear_region_button)
        clear_row.addStretch(1)
        focus_text.addLayout(clear_row)
        crop_row = QHBoxLayout()
        crop_row.addWidget(self.crop_check)
        crop_row.addWidget(self.dog_box_button)
        crop_row.addStretch(1)
        focus_text.addLayout(crop_row)
        focus_text.addWidget(self.crop_note)
        focus_text.addStretch(1)
        self.focus_row = QWidget()
        focus_row = QHBoxLayout(self.focus_row)
        focus_row.setContentsMargins(0, 0, 0, 0)
        focus_row.addWidget(self.focus_pane, 0, Qt.AlignmentFlag.AlignTop)
        focus_row.addLayout(focus_text, 1)
        self.focus_row.hide()
        self._clip_ok, self._clip_text = state.clip_status()
        self._update_focus_controls()

        # Filters.
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", None)
        self.status_filter.addItem("Open cases", (DogStatus.IN_SHELTER, DogStatus.LOST, DogStatus.FOUND))
        self.status_filter.setItemData(1, "In shelter, lost or found: not reunited or adopted",
                                       Qt.ItemDataRole.ToolTipRole)
        for status in DogStatus:
            self.status_filter.addItem(status.label, (status,))
        self.status_filter.setToolTip("Only show dogs with this status")
        self.status_filter.currentIndexChanged.connect(self._filters_changed)
        self.date_check = QCheckBox("Only dated from")
        self.date_check.setToolTip("Only show dogs whose date (found, lost or intake) is in this range")
        self.date_from = make_date_edit(QDate.currentDate().addMonths(-3))
        self.date_to = make_date_edit()
        for edit in (self.date_from, self.date_to):
            edit.setEnabled(False)
            edit.dateChanged.connect(self._filters_changed)
        self.date_check.toggled.connect(self._date_toggled)
        filters = QGridLayout()
        filters.setColumnStretch(5, 1)
        filters.addWidget(QLabel("Status:"), 0, 0)
        filters.addWidget(self.status_filter, 0, 1, 1, 4)
        filters.addWidget(self.date_check, 1, 0, 1, 2)
        filters.addWidget(self.date_from, 1, 2)
        filters.addWidget(QLabel("to"), 1, 3)
        filters.addWidget(self.date_to, 1, 4)

        # Text guidance hook (CLIP): hidden until the engine offers it.
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("Describe the dog (e.g. “black dog with a white chest”)")
        self.prompt.setClearButtonEnabled(True)
        self.prompt.returnPressed.connect(self._filters_changed)
        self.prompt.setToolTip("Press Enter to re-rank the results by this description")
        self.prompt.setVisible(state.text_guidance is not None)

        self.banner = MessageBanner()
        self.status_label = QLabel("Results appear here.")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(12)
        self.busy.setTextVisible(False)
        self.busy.hide()
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_label, 1)
        status_row.addWidget(self.busy)

        self.results = MatchListModel(state.thumbnails, state.band, state.photo_file, 150, self)
        self.delegate = CardDelegate(150, show_score=True)
        self.grid = make_grid(self.results, self.delegate)
        self.grid.setMinimumWidth(2 * (150 + 16) + 40)
        self.grid.selectionModel().currentChanged.connect(self._match_selected)
        self.grid.doubleClicked.connect(lambda idx: self.open_record.emit(self.results.match(idx.row()).dog.id))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(self.drop_area)
        left_layout.addWidget(self.query_row)
        left_layout.addWidget(self.focus_row)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.prompt)
        left_layout.addWidget(self.banner)
        left_layout.addLayout(status_row)
        left_layout.addWidget(self.grid, 1)

        self.compare = CompareView(state)
        self.compare.open_record.connect(self.open_record)
        self.compare.add_query_to_dog.connect(self.add_query_to_dog)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.compare)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 6)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.splitter)

        state.settings_changed.connect(self._settings_changed)
        state.registry_changed.connect(self._registry_changed)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not getattr(self, "_sized", False):
            self._sized = True
            QTimer.singleShot(0, self._size_columns)  # once the layout has given the splitter its width

    def _size_columns(self) -> None:
        """Give the results exactly as many whole columns as fit in about half the width."""
        cell = self.delegate.sizeHint(_default_option(self.grid), self.results.index(0)).width()
        cell += 2 * self.grid.spacing()
        chrome = self.grid.verticalScrollBar().sizeHint().width() + 2 * self.grid.frameWidth() + 12
        total = self.splitter.width()
        columns = max(2, min(4, (total // 2 - chrome) // cell))
        left = columns * cell + chrome
        self.splitter.setSizes([left, max(300, total - left)])

    # ------------------------------------------------------------------ giving photos
    def search_files(self, paths: list[Path]) -> None:
        """Search with dropped or picked files (non-photos are reported, folders offered for import)."""
        photos, folders, rejected = split_dropped([Path(p) for p in paths])
        if folders and not photos:
            self.folder_dropped.emit(folders[0])
            return
        if photos:
            self.state.set_last_folder(photos[0], "search")
            self.set_query([QuerySource(name=p.name, path=p) for p in photos])
        if rejected:
            self.banner.error(rejected_message(rejected))
        elif folders:
            self.banner.info("Folders were left out; use File > Import folder to register a whole folder.")

    def search_image(self, image: QImage) -> None:
        """Search with an image pasted (or dropped) by value."""
        self._paste_count += 1
        source = pasted_source(image, self._paste_count)
        self.set_query([source], {0: QPixmap.fromImage(image)})

    def paste(self) -> bool:
        return self.drop_area.paste()

    def set_query(self, sources: list[QuerySource], pixmaps: dict[int, QPixmap] | None = None) -> None:
        """Make ``sources`` the query and search."""
        self._query = list(sources)
        self._query_pixmaps = dict(pixmaps or {})
        self.query_model.set_items(self._query, self._query_pixmaps)
        n = len(self._query)
        self.query_label.setText(f"Searching with {n} photo{'s' if n != 1 else ''}")
        self.query_row.setVisible(bool(self._query))
        self.focus_pane.set_region(None)  # a region belongs to one photo
        self._dog_box = None  # so does a dog box
        self.focus_pane.set_dog_box(None)
        self.dog_box_button.setChecked(False)
        self._show_preview()
        self._update_focus_controls()
        self.banner.hide()
        self.compare.clear()
        self.run_search()

    def query(self) -> list[QuerySource]:
        return list(self._query)

    def clear(self) -> None:
        self._query = []
        self._query_pixmaps = {}
        self.query_model.set_items([])
        self.query_row.hide()
        self.focus_pane.set_region(None)
        self.focus_pane.set_dog_box(None)
        self._dog_box = None
        self.focus_pane.set_pixmap(None)
        self.focus_row.hide()
        self.results.clear()
        self.compare.clear()
        self.banner.hide()
        self.status_label.setText("Results appear here.")

    # ------------------------------------------------------------------ searching
    def filters(self) -> SearchFilters | None:
        statuses = self.status_filter.currentData()
        date_from = date_to = None
        if self.date_check.isChecked():
            date_from = self.date_from.date().toPython()
            date_to = self.date_to.date().toPython()
            if date_from > date_to:
                date_from, date_to = date_to, date_from
        if statuses is None and date_from is None:
            return None
        return SearchFilters(statuses=tuple(statuses) if statuses else None, date_from=date_from, date_to=date_to)

    def run_search(self) -> None:
        if not self._query:
            return
        if self._job is not None:
            self._job.cancel()  # its result will be ignored
        self._asked_at = time.perf_counter()
        self.busy.show()
        waiting = self.state.model_state.value == "loading"
        self.status_label.setText("Waiting for the model to finish loading…" if waiting else "Searching…")
        sources, filters = list(self._query), self.filters()
        prompt, guide = self.prompt.text().strip(), self.state.text_guidance
        focus = self.focus()
        crop = self.crop_choice()
        self._searched_prompt = focus.prompt if focus else ""
        job = self.state.run(lambda reg: search_photos(reg, sources, RESULTS_K, filters, prompt=prompt, guide=guide,
                                                       focus=focus, clip_provider=self.state.clip_heatmapper,
                                                       crop=crop),
                             name="Searching", needs_model=True,
                             on_result=lambda out: self._results(out, job),
                             on_error=lambda exc: self._failed(exc, job),
                             on_finished=lambda: self._finished(job))
        job.signals.started.connect(lambda: self.status_label.setText("Searching…"))
        self._job = job

    def _results(self, outcome: SearchOutcome, job: Job) -> None:
        if job is not self._job:
            return
        self.results.set_matches(outcome.matches)
        self.focus_pane.set_overlay(QPixmap.fromImage(outcome.heat_preview) if outcome.heat_preview else None)
        self._show_crops(outcome)
        if outcome.note:
            self.banner.info(outcome.note)
        if outcome.failed:
            names = "; ".join(f"{n}: {r}" for n, r in outcome.failed)
            self.banner.warning(f"Some photos could not be read and were left out. {names}")
        n = len(outcome.matches)
        if n == 0:
            self.status_label.setText("No registered dog matches these filters." if self.filters()
                                      else "The registry has no dogs yet. Register some first.")
        else:
            likely = sum(1 for m in outcome.matches if self.state.band(m.score) == "likely")
            what = f"{likely} likely the same dog" if likely else "none likely the same dog"
            focused = " Focused on the marked region." if outcome.guided else ""
            self.status_label.setText(f"{n} dogs, best first ({what}).{focused} Click one to compare.")
            self.grid.setCurrentIndex(self.results.index(0))
        self.grid.scrollToTop()
        self.grid.viewport().repaint()  # the figure below is "results on screen"
        self.last_seconds = time.perf_counter() - self._asked_at
        self.results_shown.emit(self.last_seconds)

    def _failed(self, exc: BaseException, job: Job) -> None:
        if job is not self._job:
            return
        self.results.clear()
        self.status_label.setText("No results.")
        self.banner.error(describe_error(exc))

    def _finished(self, job: Job) -> None:
        if job is self._job:
            self.busy.hide()
            self._job = None

    def _match_selected(self, current, _previous) -> None:
        if not current.isValid():
            return
        match = self.results.match(current.row())
        used = self._query
        index = match.query_index if 0 <= match.query_index < len(used) else 0
        query = used[index] if used else None
        self.compare.show_match(match, query, self._query_pixmaps.get(index))

    # ------------------------------------------------------------------ the dog's box
    def crop_choice(self):
        """What part of the query photos to search: a drawn box, ``"auto"`` or ``None`` (whole)."""
        if not self.crop_check.isChecked():
            return None
        if self._dog_box is not None and len(self._query) == 1:
            return self._dog_box
        return "auto"

    def set_dog_box(self, box: Fractions | None) -> None:
        """Search only ``box`` of the (single) query photo, as if drawn; ``None``: automatic again."""
        self._dog_box = box
        self.focus_pane.set_dog_box(box)
        if box is not None:
            self.crop_check.setChecked(True)
        self._filters_changed()

    def _dog_box_mode(self, on: bool) -> None:
        self.focus_pane.draw_mode = "dog" if on else "region"
        self.focus_pane.setCursor(Qt.CursorShape.CrossCursor)
        if on:
            self.focus_hint.setText("Drag a box around the dog on the photo.")
        else:
            self._update_focus_controls()

    def _dog_box_drawn(self, box: tuple) -> None:
        self.dog_box_button.setChecked(False)
        self.set_dog_box(tuple(box))

    def _crop_toggled(self, on: bool) -> None:
        if not on:
            self._dog_box = None
        self._filters_changed()

    def _show_crops(self, outcome: SearchOutcome) -> None:
        crops = list(outcome.crops)
        first = crops[0] if crops else None
        self.focus_pane.set_dog_box(from_crop(first) if first is not None else None)
        if not self.crop_check.isChecked():
            text = "Searching the whole photo."
        elif len(crops) == 1:
            text = (f"Searching the dog only ({first.describe()})." if first is not None
                    else "The dog fills the photo (or none was found): searching the whole photo.")
        else:
            n = sum(c is not None for c in crops)
            text = f"{n} of {len(crops)} photos cropped to the dog."
        self.crop_note.setText(text)

    # ------------------------------------------------------------------ focus (region / prompt)
    def focus(self) -> Focus | None:
        """The region and prompt to search with, or ``None`` (unguided: several photos, or nothing set)."""
        if len(self._query) != 1:
            return None
        prompt = self.focus_prompt.text().strip() if self.focus_prompt.isEnabled() else ""
        box = self.focus_pane.region()
        if box is None and not prompt:
            return None
        return Focus(box=box, prompt=prompt)

    def set_region(self, region: Fractions | None) -> None:
        """Mark ``region`` (photo fractions) as if drawn, and search again."""
        self.focus_pane.set_region(region)
        self._region_drawn()

    def clear_region(self) -> None:
        had = self.focus_pane.region() is not None
        self.focus_pane.set_region(None)
        self._update_focus_controls()
        if had:
            self.focus_pane.set_overlay(None)
            self._filters_changed()

    def _region_drawn(self) -> None:
        self._update_focus_controls()
        self._filters_changed()

    def _prompt_changed(self) -> None:
        if self.focus_prompt.text().strip() != self._searched_prompt:
            self._filters_changed()

    def _update_focus_controls(self) -> None:
        single = len(self._query) == 1
        self.focus_row.setVisible(bool(self._query))
        self.focus_pane.setEnabled(single)
        self.focus_pane.setToolTip("Drag a box over a marking to rank dogs by it" if single else _ONE_PHOTO_ONLY)
        self.clear_region_button.setEnabled(single and self.focus_pane.region() is not None)
        self.dog_box_button.setEnabled(single)
        if not self._clip_ok:
            self.focus_prompt.setEnabled(False)
            self.focus_prompt.setPlaceholderText(self._clip_text.split(":")[0])
            self.focus_prompt.setToolTip(self._clip_text)
            self.focus_note.setText(self._clip_text)
        else:
            self.focus_prompt.setEnabled(single)
            self.focus_prompt.setPlaceholderText(_PROMPT_HINT)
            self.focus_prompt.setToolTip("Describe a marking and press Enter: dogs are ranked by that part "
                                         "of the photo. " + self._clip_text if single else _ONE_PHOTO_ONLY)
            self.focus_note.setText("")
        self.focus_note.setVisible(bool(self.focus_note.text()))
        if single:
            self.focus_hint.setText("Drag a box on the photo over a collar, a patch or another marking "
                                    "to rank dogs by it.")
        else:
            self.focus_hint.setText(_ONE_PHOTO_ONLY)

    def _show_preview(self) -> None:
        """Show the first query photo in the focus pane (decoded off the UI thread)."""
        if not self._query:
            return
        source = self._query[0]
        pixmap = self._query_pixmaps.get(0)
        if pixmap is not None or source.path is None:
            self.focus_pane.set_pixmap(pixmap)
            self.focus_pane.set_placeholder("No preview")
            return
        self.focus_pane.set_pixmap(None)
        self.focus_pane.set_placeholder("Loading…")
        size = round(_PREVIEW_SIZE * max(1.0, self.devicePixelRatioF()))
        job = Job(read_image, str(source.path), size, name="Loading photo")

        def done(image: QImage) -> None:
            if not self._query or self._query[0] is not source:
                return
            if image.isNull():
                self.focus_pane.set_placeholder("This photo cannot be shown.")
                return
            region = self.focus_pane.region()
            self.focus_pane.set_pixmap(QPixmap.fromImage(image))
            self.focus_pane.set_region(region)

        job.signals.result.connect(done)
        self.state.thumbnails.submit(job)

    # ------------------------------------------------------------------ actions from the compare view
    def add_query_to_dog(self, match: Match) -> None:
        """Register the query photos as new photos of ``match``'s dog."""
        sources = list(self._query)
        if not sources:
            return
        dog = match.dog

        def add(reg):
            return reg.add_photos(dog.id, [s.engine_input() for s in sources])

        def done(updated) -> None:
            added = len(updated.photos) - len(dog.photos)
            if added > 0:
                self.banner.success(f"Added {added} photo{'s' if added != 1 else ''} to {updated.display_name}.")
            else:
                self.banner.info(f"{updated.display_name} already has {'this photo' if len(sources) == 1 else 'these photos'}.")
            self.state.notify_changed()

        self.state.run(add, name="Adding photos", needs_model=True, on_result=done,
                       on_error=lambda exc: self.banner.error(describe_error(exc)))

    # ------------------------------------------------------------------ reacting
    def _filters_changed(self, *_args) -> None:
        if self._query:
            self.run_search()

    def _date_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self._filters_changed()

    def _settings_changed(self) -> None:
        clip = self.state.clip_status()
        if clip != (self._clip_ok, self._clip_text):
            self._clip_ok, self._clip_text = clip
            self._update_focus_controls()
        if self.crop_check.isChecked() != self.state.settings.auto_crop:
            with QSignalBlocker(self.crop_check):
                self.crop_check.setChecked(self.state.settings.auto_crop)
        self.results.thresholds_changed()
        current = self.compare.current_match()
        if current is not None:
            with QSignalBlocker(self.grid):
                self._match_selected(self.grid.currentIndex(), None)

    def _registry_changed(self) -> None:
        if self._query and self.isVisible():
            self.run_search()

    def set_filter_date_range(self, start: dt.date, end: dt.date) -> None:
        self.date_from.setDate(QDate(start.year, start.month, start.day))
        self.date_to.setDate(QDate(end.year, end.month, end.day))
        self.date_check.setChecked(True)
