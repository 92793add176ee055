"""Small widgets shared by the views: the photo drop area, message banners, image panes, grids."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QDate, QMimeData, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..models.roles import DATE_FORMAT
from ..state import QuerySource

PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff *.gif *.heic *.heif *.avif);;All files (*)"


# ---------------------------------------------------------------------------------------- files
def split_dropped(paths: Iterable[Path]) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """Sort dropped paths into ``(photos, folders, rejected with a reason)`` by name and kind alone."""
    from reid_engine.images import is_image_file

    photos, folders, rejected = [], [], []
    for path in paths:
        if path.is_dir():
            folders.append(path)
        elif is_image_file(path):
            photos.append(path)
        else:
            rejected.append((path, "this is not a photo LostPet can read (use JPEG, PNG, WebP, ... files)"))
    return photos, folders, rejected


def rejected_message(rejected: list[tuple[Path, str]]) -> str:
    if len(rejected) == 1:
        path, reason = rejected[0]
        return f"{path.name} was not used: {reason}."
    names = ", ".join(p.name for p, _ in rejected[:4]) + (" …" if len(rejected) > 4 else "")
    return f"{len(rejected)} files were not used because they are not photos: {names}."


def sources_from_mime(mime: QMimeData) -> tuple[list[Path], QImage | None]:
    """Local files in a drop or paste, else an image carried by value (a browser or a screenshot)."""
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []
    if paths:
        return paths, None
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return [], image
        if isinstance(image, QPixmap) and not image.isNull():
            return [], image.toImage()
    return [], None


def pasted_source(image: QImage, counter: int) -> QuerySource:
    return QuerySource(name=f"pasted image {counter}", image=image.copy())


UNKNOWN_DATE = QDate(1900, 1, 1)


def make_date_edit(date: QDate | None = None, *, allow_unknown: bool = False) -> QDateEdit:
    """A date field with a calendar, showing "2 Mar 2026"; with ``allow_unknown`` its lowest value
    reads "Unknown" (see :func:`date_value`)."""
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat(DATE_FORMAT)
    if allow_unknown:
        edit.setMinimumDate(UNKNOWN_DATE)
        edit.setSpecialValueText("Unknown")
    edit.setDate(date if date is not None else QDate.currentDate())
    return edit


def date_value(edit: QDateEdit):
    """The field's date, or ``None`` when it reads "Unknown"."""
    date = edit.date()
    return None if date == UNKNOWN_DATE else date.toPython()


def set_date_value(edit: QDateEdit, value) -> None:
    edit.setDate(QDate(value.year, value.month, value.day) if value is not None else UNKNOWN_DATE)


class DogDetailsFields:
    """The dog-details form shared by Register (a new dog) and the Library editor (an existing one).

    Attributes: ``tag``, ``name``, ``status``, ``date``, ``location``, ``notes`` (the fields) and
    ``form`` (their :class:`QFormLayout`, to place in the view).
    """

    def __init__(self, *, notes_height: int):
        from reid_engine.models import DogStatus

        self.tag = QLineEdit()
        self.name = QLineEdit()
        self.status = QComboBox()
        for status in DogStatus:
            self.status.addItem(status.label, status)
        self.date = make_date_edit(allow_unknown=True)
        self.location = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setTabChangesFocus(True)
        self.notes.setMaximumHeight(notes_height)
        self.form = QFormLayout()
        for label, field in (("Tag:", self.tag), ("Name:", self.name), ("Status:", self.status),
                             ("Date:", self.date), ("Place:", self.location), ("Notes:", self.notes)):
            self.form.addRow(label, field)

    def details(self, *, empty_name_clears: bool):
        """The fields as :class:`DogDetails`. An empty tag means "generate one"; an empty name clears
        the name with ``empty_name_clears`` (editing), else means "no name" (a new dog)."""
        from reid_engine.models import DogDetails

        name = self.name.text().strip()
        return DogDetails(
            tag=self.tag.text().strip() or None,
            name=name if empty_name_clears else (name or None),
            status=self.status.currentData(),
            date=date_value(self.date),
            location=self.location.text().strip(),
            notes=self.notes.toPlainText().strip(),
        )

    def show_dog(self, dog) -> None:
        self.tag.setText(dog.tag)
        self.name.setText(dog.name or "")
        self.status.setCurrentIndex(max(0, self.status.findData(dog.status)))
        set_date_value(self.date, dog.date)
        self.location.setText(dog.location or "")
        self.notes.setPlainText(dog.notes or "")

    def clear(self) -> None:
        for field in (self.tag, self.name, self.location, self.notes):
            field.clear()
        self.status.setCurrentIndex(0)
        self.date.setDate(QDate.currentDate())


# ---------------------------------------------------------------------------------------- banner
class MessageBanner(QFrame):
    """A dismissible message strip: error, warning, success or info, with an optional action."""

    action_clicked = Signal()

    _TINTS = {"error": QColor(198, 40, 40), "warning": QColor(230, 150, 0), "success": QColor(46, 125, 50),
              "info": QColor(33, 113, 181)}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MessageBanner")
        self.kind = "info"
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._action = QPushButton()
        self._action.hide()
        self._action.clicked.connect(self.action_clicked)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(self._action)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def text(self) -> str:
        """The message shown, or "" when the banner is hidden."""
        return "" if self.isHidden() else self._label.text()

    def show_message(self, kind: str, text: str, action: str | None = None) -> None:
        self.kind = kind
        self._label.setText(text)
        self._action.setVisible(bool(action))
        if action:
            self._action.setText(action)
        self._apply_palette()
        self.show()

    def error(self, text: str, action: str | None = None) -> None:
        self.show_message("error", text, action)

    def warning(self, text: str, action: str | None = None) -> None:
        self.show_message("warning", text, action)

    def success(self, text: str, action: str | None = None) -> None:
        self.show_message("success", text, action)

    def info(self, text: str, action: str | None = None) -> None:
        self.show_message("info", text, action)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        # The system switched between light and dark: re-tint from the new window colour.
        if event.type() == event.Type.ApplicationPaletteChange and not self.isHidden():
            self._apply_palette()

    def _apply_palette(self) -> None:
        pal = self.palette()
        base = QGuiApplication.palette().color(QPalette.ColorRole.Window)
        tint = self._TINTS[self.kind]
        mixed = QColor(
            round(base.red() * 0.82 + tint.red() * 0.18),
            round(base.green() * 0.82 + tint.green() * 0.18),
            round(base.blue() * 0.82 + tint.blue() * 0.18),
        )
        pal.setColor(QPalette.ColorRole.Window, mixed)
        self.setPalette(pal)
        self.setAutoFillBackground(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"#MessageBanner {{ border-left: 4px solid {tint.name()}; border-radius: 4px; }}")



# ---------------------------------------------------------------------------------------- drop area
class PhotoDropArea(QFrame):
    """Where photos are dropped, pasted or picked.

    Signals:
        files_given(list[Path]): photo or other files dropped or picked (the view sorts them).
        image_pasted(QImage): an image dropped or pasted by value (no file behind it).
    """

    files_given = Signal(list)
    image_pasted = Signal(QImage)

    def __init__(self, title: str, hint: str, *, dialog_title: str = "Choose photos",
                 start_folder=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("PhotoDropArea")
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(120)
        self._dialog_title = dialog_title
        self._start_folder = start_folder  # callable -> str, remembered folder
        self._drag_active = False

        self._title = QLabel(title)
        font = self._title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self._title.setFont(font)
        self._title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint = QLabel(hint)
        self._hint.setWordWrap(True)
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.pick_button = QPushButton("Choose photos…")
        self.pick_button.clicked.connect(self.pick_files)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Paste a photo copied from another program (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.pick_button)
        buttons.addWidget(self.paste_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addStretch(1)
        layout.addWidget(self._title)
        layout.addWidget(self._hint)
        layout.addSpacing(4)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def set_hint(self, text: str) -> None:
        self._hint.setText(text)

    # -- picking and pasting
    def pick_files(self) -> None:
        start = self._start_folder() if self._start_folder else ""
        files, _ = QFileDialog.getOpenFileNames(self, self._dialog_title, start, PHOTO_FILTER)
        if files:
            self.files_given.emit([Path(f) for f in files])

    def paste(self) -> bool:
        """Take photos from the clipboard (copied files, or an image). False when it holds neither."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return False
        paths, image = sources_from_mime(mime)
        if paths:
            self.files_given.emit(paths)
            return True
        if image is not None:
            self.image_pasted.emit(image)
            return True
        return False

    # -- drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        mime = event.mimeData()
        if (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())) or mime.hasImage():
            event.acceptProposedAction()
            self._set_drag_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._set_drag_active(False)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        self._set_drag_active(False)
        paths, image = sources_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.files_given.emit(paths)
        elif image is not None:
            event.acceptProposedAction()
            self.image_pasted.emit(image)
        else:
            event.ignore()

    def _set_drag_active(self, active: bool) -> None:
        self._drag_active = active
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        rect = self.rect().adjusted(2, 2, -2, -2)
        highlight = pal.color(QPalette.ColorRole.Highlight)
        if self._drag_active:
            fill = QColor(highlight)
            fill.setAlpha(40)
            painter.setBrush(fill)
        else:
            painter.setBrush(pal.color(QPalette.ColorRole.Base))
        pen = painter.pen()
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setWidthF(2.0)
        pen.setColor(highlight if self._drag_active or self.hasFocus() else pal.color(QPalette.ColorRole.Mid))
        painter.setPen(pen)
        painter.drawRoundedRect(rect, 10, 10)
        painter.end()


# ---------------------------------------------------------------------------------------- image pane
class ImagePane(QWidget):
    """A photo fitted into the widget, optionally with a heatmap image painted over it at an opacity."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self._opacity = 0.5
        self._placeholder = placeholder
        self.setMinimumSize(160, 160)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 320)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        """Square panes: photos of dogs are about square, so no empty bands above and below."""
        return width

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        self._pixmap = pixmap if pixmap is not None and not pixmap.isNull() else None
        self._overlay = None
        self.update()

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_overlay(self, overlay: QPixmap | None) -> None:
        """A picture of the same aspect as the photo, drawn over it at :meth:`set_opacity`."""
        self._overlay = overlay
        self.update()

    def has_overlay(self) -> bool:
        return self._overlay is not None

    def set_opacity(self, value: float) -> None:
        self._opacity = max(0.0, min(1.0, value))
        self.update()

    def image_rect(self) -> QRect:
        """Where the photo is drawn (the overlay is drawn in exactly the same rectangle)."""
        if self._pixmap is None:
            return QRect()
        ratio = self._pixmap.devicePixelRatio() or 1.0
        size = QSize(round(self._pixmap.width() / ratio), round(self._pixmap.height() / ratio))
        size = size.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        rect = QRect(QPoint(0, 0), size)
        rect.moveCenter(self.rect().center())
        return rect

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal = self.palette()
        if self._pixmap is None:
            painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.AlternateBase))
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        target = self.image_rect()
        painter.drawPixmap(target, self._pixmap)
        if self._overlay is not None and self._opacity > 0:
            # overlay() blends linearly in alpha, so painting the full-strength overlay at an
            # opacity equals reid_engine.heatmap.overlay(image, heat, alpha=opacity).
            painter.setOpacity(self._opacity)
            painter.drawPixmap(target, self._overlay)
        painter.end()


# ---------------------------------------------------------------------------------------- grids
def make_grid(model, delegate, *, parent: QWidget | None = None, horizontal: bool = False) -> QListView:
    """A ``QListView`` laid out as a grid of cards (or one scrolling row with ``horizontal``)."""
    view = QListView(parent)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setMovement(QListView.Movement.Static)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)
    view.setSpacing(4)
    view.setWrapping(not horizontal)
    view.setFlow(QListView.Flow.LeftToRight)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setMouseTracking(True)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setModel(model)
    view.setItemDelegate(delegate)
    if horizontal:
        view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return view


def make_photo_strip(model, size: int = 88, parent: QWidget | None = None) -> QListView:
    """A single scrolling row of photo thumbnails."""
    view = QListView(parent)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setFlow(QListView.Flow.LeftToRight)
    view.setWrapping(False)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(size, size))
    view.setGridSize(QSize(size + 10, size + 10))
    view.setSpacing(2)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setFixedHeight(size + 10 + view.horizontalScrollBar().sizeHint().height() + 6)
    view.setFrameShape(QFrame.Shape.NoFrame)
    view.viewport().setAutoFillBackground(False)  # thumbnails sit on the window, not in a white box
    view.setModel(model)
    view.setItemDelegate(ThumbOnlyDelegate(size, view))
    return view


class ThumbOnlyDelegate(QStyledItemDelegate):
    """Draws just the photo, fitted into a square, with a selection frame."""

    def __init__(self, size: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.size = size

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return QSize(self.size + 8, self.size + 8)

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal = option.palette
        cell = QRect(option.rect.topLeft(), QSize(self.size + 8, self.size + 8))
        area = cell.adjusted(4, 4, -4, -4)
        painter.fillRect(area, pal.color(QPalette.ColorRole.AlternateBase))
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = QSize(pixmap.width(), pixmap.height()).scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(QPoint(0, 0), size)
            target.moveCenter(area.center())
            painter.drawPixmap(target, pixmap)
        if option.state & QStyle.StateFlag.State_Selected:
            pen = painter.pen()
            pen.setColor(pal.color(QPalette.ColorRole.Highlight))
            pen.setWidth(3)
            painter.setPen(pen)
            painter.drawRect(cell.adjusted(2, 2, -2, -2))
        painter.restore()
