"""The card every grid draws: thumbnail, score and band (for matches), name, tag, status, date.

Colours come from the widget's palette, so cards follow the system's light or dark theme. The band
pill uses saturated fills with white text, readable on both.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from .roles import BAND_SHORT, Roles

BAND_COLORS = {
    "likely": QColor(46, 125, 50),  # green
    "possible": QColor(191, 110, 0),  # amber
    "unlikely": QColor(110, 110, 110),  # grey
}

_PAD = 8
_RADIUS = 8.0


def band_color(band: str) -> QColor:
    return BAND_COLORS.get(band, BAND_COLORS["unlikely"])


class CardDelegate(QStyledItemDelegate):
    """Paints one grid card.

    Args:
        thumb_size: Edge of the square thumbnail area, in device-independent pixels.
        show_score: Draw the score line (results grids), or not (the library).
    """

    def __init__(self, thumb_size: int = 160, *, show_score: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.thumb_size = thumb_size
        self.show_score = show_score

    # -- geometry
    def _fonts(self, base: QFont) -> tuple[QFont, QFont, QFont, QFont]:
        title = QFont(base)
        title.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.9))
        score = QFont(base)
        score.setBold(True)
        score.setPointSizeF(base.pointSizeF() * 1.35)
        pill = QFont(small)
        pill.setBold(True)
        return title, small, score, pill

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        title, small, score, _pill = self._fonts(option.font)
        height = _PAD + self.thumb_size + 6
        if self.show_score:
            height += QFontMetrics(score).height() + 2
        height += QFontMetrics(title).height() + 2 * QFontMetrics(small).height() + _PAD
        return QSize(self.thumb_size + 2 * _PAD, height)

    # -- painting
    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal: QPalette = option.palette
        rect = QRect(option.rect).adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)

        card = QPainterPath()
        card.addRoundedRect(QRectF(rect), _RADIUS, _RADIUS)
        painter.fillPath(card, pal.color(QPalette.ColorRole.Base))
        border = pal.color(QPalette.ColorRole.Highlight) if selected else pal.color(QPalette.ColorRole.Mid)
        if hovered and not selected:
            border = pal.color(QPalette.ColorRole.Highlight).lighter(130)
        pen = painter.pen()
        pen.setColor(border)
        pen.setWidthF(3.0 if selected else 1.0)
        painter.setPen(pen)
        painter.drawPath(card)

        # Thumbnail, fitted into a square and centred.
        thumb_rect = QRect(rect.left() + _PAD - 3, rect.top() + _PAD - 3, self.thumb_size, self.thumb_size)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(thumb_rect), 6.0, 6.0)
        painter.fillPath(clip, pal.color(QPalette.ColorRole.AlternateBase))
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = QSize(pixmap.width(), pixmap.height()).scaled(
                thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(thumb_rect.center())
            painter.save()
            painter.setClipPath(clip)
            painter.drawPixmap(target, pixmap)
            painter.restore()
        else:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(thumb_rect, Qt.AlignmentFlag.AlignCenter, "…")

        title_font, small_font, score_font, pill_font = self._fonts(option.font)
        x = thumb_rect.left()
        width = self.thumb_size
        y = thumb_rect.bottom() + 7
        text_color = pal.color(QPalette.ColorRole.Text)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        if not muted.isValid() or muted == text_color:
            muted = pal.color(QPalette.ColorRole.Mid)

        if self.show_score and index.data(Roles.Score) is not None:
            band = index.data(Roles.Band) or "unlikely"
            color = band_color(band)
            fm = QFontMetrics(score_font)
            painter.setFont(score_font)
            painter.setPen(_readable(color, pal.color(QPalette.ColorRole.Base)))
            score_text = index.data(Roles.ScoreText) or ""
            painter.drawText(QRect(x, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             score_text)
            score_w = fm.horizontalAdvance(score_text) + 8
            band_text = index.data(Roles.BandText) or ""
            if QFontMetrics(pill_font).horizontalAdvance(band_text) + 12 > width - score_w:
                band_text = BAND_SHORT.get(band, band_text)  # the full wording is in the tooltip
            self._draw_pill(painter, pill_font, band_text, color,
                            QRect(x + score_w, y, width - score_w, fm.height()))
            y += fm.height() + 2

        fm = QFontMetrics(title_font)
        painter.setFont(title_font)
        painter.setPen(text_color)
        title = fm.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole) or ""), Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRect(x, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         title)
        y += fm.height()

        fm = QFontMetrics(small_font)
        painter.setFont(small_font)
        painter.setPen(muted)
        for role in (Roles.Subtitle, Roles.Detail):
            text = fm.elidedText(str(index.data(role) or ""), Qt.TextElideMode.ElideRight, width)
            painter.drawText(QRect(x, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             text)
            y += fm.height()
        painter.restore()

    @staticmethod
    def _draw_pill(painter: QPainter, font: QFont, text: str, color: QColor, area: QRect) -> None:
        if not text or area.width() < 20:
            return
        fm = QFontMetrics(font)
        text = fm.elidedText(text, Qt.TextElideMode.ElideRight, area.width() - 12)
        w = min(area.width(), fm.horizontalAdvance(text) + 12)
        h = fm.height() + 4
        pill = QRectF(area.left(), area.center().y() - h / 2 + 1, w, h)
        path = QPainterPath()
        path.addRoundedRect(pill, h / 2, h / 2)
        painter.fillPath(path, color)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)


def _readable(color: QColor, background: QColor) -> QColor:
    """``color`` lightened on dark backgrounds so the score stays legible in dark mode."""
    if background.lightnessF() < 0.4:
        return color.lighter(160)
    return color
