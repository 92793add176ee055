"""A photo with boxes the user drags out on it: a region ("look at this marking") or the dog's box.

Boxes are kept as fractions of the photo (x, y, w, h in [0, 1]), so they do not depend on how large
the preview is drawn, nor on how far the preview was scaled down from the photo: the engine turns
them into photo pixels once the photo is decoded (:func:`fraction_to_pixels`, :func:`to_crop`).

Two kinds of box are drawn: the *region* (yellow, the photo dimmed outside it) and the *dog box*
(green: the part of the photo that is embedded, see :class:`reid_engine.models.Crop`). Which one a
drag sets is :attr:`RegionPane.draw_mode`. Candidate dogs found by the engine can be shown as
numbered orange boxes; clicking inside one emits ``candidate_chosen``.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from reid_engine.models import Crop

from .widgets import ImagePane

Fractions = tuple[float, float, float, float]

DOG_COLOUR = QColor(46, 204, 113)
CANDIDATE_COLOUR = QColor(255, 140, 0)


def to_crop(fractions: Fractions, by: str = "user") -> Crop:
    """``(x, y, w, h)`` fractions -> the engine's :class:`Crop` (left, top, right, bottom)."""
    x, y, w, h = fractions
    return Crop(max(0.0, x), max(0.0, y), min(1.0, x + w), min(1.0, y + h), by=by)


def from_crop(crop: Crop) -> Fractions:
    """The engine's :class:`Crop` -> ``(x, y, w, h)`` fractions."""
    return crop.left, crop.top, crop.right - crop.left, crop.bottom - crop.top

_MIN_DRAG_PX = 6  # a shorter drag is a click, not a region


def fraction_to_pixels(fractions: Fractions, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` fractions of a photo -> whole pixels of a photo of ``size = (W, H)`` (at least 1x1)."""
    fx, fy, fw, fh = fractions
    width, height = size
    x0, y0 = min(width - 1, int(fx * width)), min(height - 1, int(fy * height))
    x1, y1 = max(x0 + 1, round((fx + fw) * width)), max(y0 + 1, round((fy + fh) * height))
    return x0, y0, min(width, x1) - x0, min(height, y1) - y0


class RegionPane(ImagePane):
    """An :class:`ImagePane` on which a rectangle can be dragged out; it stays drawn until cleared.

    Signals:
        region_changed(): the user finished drawing a region (read it with :meth:`region`).
        dog_box_drawn(tuple): the user drew a dog box (``draw_mode == "dog"``), as fractions.
        candidate_chosen(int): the user clicked inside candidate box ``i``.
    """

    region_changed = Signal()
    dog_box_drawn = Signal(tuple)
    candidate_chosen = Signal(int)

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(placeholder, parent)
        self._region: Fractions | None = None
        self._anchor: QPointF | None = None  # photo fractions where the drag started
        self._dragging: Fractions | None = None
        self._dog_box: Fractions | None = None
        self._candidates: list[Fractions] = []
        self.draw_mode = "region"  # what a drag sets: "region", "dog", or "none" (clicks only)
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(190, 190)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return False

    # ------------------------------------------------------------------ the region
    def region(self) -> Fractions | None:
        """The drawn region as ``(x, y, w, h)`` fractions of the photo, or ``None``."""
        return self._region

    def set_region(self, region: Fractions | None) -> None:
        """Show ``region`` (no signal: only the user's drawing emits ``region_changed``)."""
        self._region = region
        self._dragging = None
        self._anchor = None
        self.update()

    def dog_box(self) -> Fractions | None:
        """The dog box shown (the part of the photo embedded), or ``None``."""
        return self._dog_box

    def set_dog_box(self, box: Fractions | None) -> None:
        self._dog_box = box
        self.update()

    def set_candidates(self, boxes: list[Fractions]) -> None:
        """Show candidate dogs as numbered boxes (empty list: none)."""
        self._candidates = list(boxes)
        self.update()

    def candidates(self) -> list[Fractions]:
        return list(self._candidates)

    def widget_to_fraction(self, pos: QPointF) -> QPointF:
        """A point on the widget -> the photo fractions under it (clamped to the photo)."""
        rect = self.image_rect()
        if rect.isEmpty():
            return QPointF(0, 0)
        fx = (pos.x() - rect.x()) / rect.width()
        fy = (pos.y() - rect.y()) / rect.height()
        return QPointF(min(1.0, max(0.0, fx)), min(1.0, max(0.0, fy)))

    def fraction_rect(self, region: Fractions) -> QRectF:
        """Where a region in photo fractions is drawn on the widget."""
        rect = QRectF(self.image_rect())
        fx, fy, fw, fh = region
        return QRectF(rect.x() + fx * rect.width(), rect.y() + fy * rect.height(),
                      fw * rect.width(), fh * rect.height())

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() != Qt.MouseButton.LeftButton or self.pixmap() is None or not self.isEnabled():
            return super().mousePressEvent(event)
        if not QRectF(self.image_rect()).contains(event.position()):
            return super().mousePressEvent(event)
        self._anchor = self.widget_to_fraction(event.position())
        self._dragging = None
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._anchor is None:
            return super().mouseMoveEvent(event)
        if self.draw_mode != "none":
            self._dragging = self._span(self._anchor, self.widget_to_fraction(event.position()))
            self.update()
        event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._anchor is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mouseReleaseEvent(event)
        region = self._span(self._anchor, self.widget_to_fraction(event.position()))
        self._anchor = self._dragging = None
        shown = self.fraction_rect(region)
        if shown.width() >= _MIN_DRAG_PX and shown.height() >= _MIN_DRAG_PX and self.draw_mode != "none":
            if self.draw_mode == "dog":
                self._dog_box = region
                self._candidates = []
                self.dog_box_drawn.emit(region)
            else:
                self._region = region
                self.region_changed.emit()
        else:  # a click: inside a candidate dog chooses it
            hit = self._candidate_at(event.position())
            if hit is not None:
                self.candidate_chosen.emit(hit)
        self.update()
        event.accept()

    def _candidate_at(self, pos: QPointF) -> int | None:
        hits = [i for i, box in enumerate(self._candidates) if self.fraction_rect(box).contains(pos)]
        if not hits:
            return None
        return min(hits, key=lambda i: self._candidates[i][2] * self._candidates[i][3])  # the smallest

    @staticmethod
    def _span(a: QPointF, b: QPointF) -> Fractions:
        x0, x1 = sorted((a.x(), b.x()))
        y0, y1 = sorted((a.y(), b.y()))
        return x0, y0, x1 - x0, y1 - y0

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self.pixmap() is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        drawing_dog = self._dragging is not None and self.draw_mode == "dog"
        for i, cand in enumerate(self._candidates):
            self._draw_box(painter, cand, CANDIDATE_COLOUR, str(i + 1))
        dog = self._dragging if drawing_dog else self._dog_box
        if dog is not None:
            self._draw_box(painter, dog, DOG_COLOUR, "dog", dashed=drawing_dog)
        region = None if drawing_dog else (self._dragging or self._region)
        if region is not None:
            self._draw_region(painter, region)
        painter.end()

    def _draw_box(self, painter: QPainter, box_fr: Fractions, colour: QColor, label: str, *,
                  dashed: bool = False) -> None:
        box = self.fraction_rect(box_fr)
        painter.setPen(QPen(QColor(0, 0, 0, 180), 3))
        painter.drawRect(box)
        painter.setPen(QPen(colour, 2, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine))
        painter.drawRect(box)
        metrics = painter.fontMetrics()
        tag = QRectF(box.x(), box.y(), metrics.horizontalAdvance(label) + 8, metrics.height() + 2)
        painter.fillRect(tag, colour)
        painter.setPen(QColor(0, 0, 0))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)

    def _draw_region(self, painter: QPainter, region: Fractions) -> None:
        box = self.fraction_rect(region)
        # Dim the photo outside the region so the marking stands out; keep the box itself clear.
        outside = QPainterPath()
        outside.addRect(QRectF(self.image_rect()))
        inside = QPainterPath()
        inside.addRect(box)
        painter.fillPath(outside.subtracted(inside), QColor(0, 0, 0, 90))
        painter.setPen(QPen(QColor(0, 0, 0, 200), 3))
        painter.drawRect(box)
        painter.setPen(QPen(QColor(255, 214, 0), 1.5, Qt.PenStyle.DashLine if self._dragging else Qt.PenStyle.SolidLine))
        painter.drawRect(box)

    def region_widget_rect(self) -> QRect:
        """The drawn region's rectangle on the widget (tests, screenshots); empty when none."""
        return self.fraction_rect(self._region).toRect() if self._region else QRect()
