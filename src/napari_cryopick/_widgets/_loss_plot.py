"""A live loss plot, drawn by Qt in the GUI thread: no matplotlib while training runs.

The plot used to be a matplotlib figure rendered with Agg in a background
thread every second. matplotlib is pure Python: each render held the GIL for
100-300 ms of work, and the GUI thread, which gives the GIL back and takes it
again for every Qt and OpenGL call of a repaint, starved meanwhile. At the
end of a training (a forced render while the training thread built the
exemplar bank) the viewer froze 0.75-0.9 s with 6-15 ms of GUI-thread work
(issue 12). Now :func:`paint_losses` draws the curves with ``QPainter``: a few
polylines and labels, about a millisecond, in the GUI thread's own paint
event, at most once per ``min_interval_s``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

#: Line colours, one per loss term (matplotlib's default cycle).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
#: Most points drawn per curve (longer histories are thinned evenly; the last point kept).
MAX_POINTS = 600


def _y_axis(values: Mapping[str, Sequence[float]]) -> tuple[bool, float, float]:
    """``(log scale?, low, high)`` of the y axis (log10 units on a log scale)."""
    finite = [np.asarray(v, float) for v in values.values()]
    finite = [v[np.isfinite(v)] for v in finite]
    data = np.concatenate(finite) if finite else np.zeros(0)
    positive = data[data > 0]
    if positive.size:  # log scale, whole decades
        low, high = math.floor(np.log10(positive.min())), math.ceil(np.log10(positive.max()))
        return True, float(low), float(max(high, low + 1))
    if data.size:
        low, high = float(data.min()), float(data.max())
        return False, low, high if high > low else low + 1.0
    return True, -2.0, 0.0


def _decade_label(exponent: int) -> str:
    return f"1e{exponent}" if not 0 <= exponent <= 3 else f"{10**exponent:g}"


def paint_losses(
    painter: QPainter,
    rect: QRectF,
    steps: Sequence[int],
    values: Mapping[str, Sequence[float]],
) -> None:
    """Draw loss curves against the step into ``rect``: log y axis when any loss is positive.

    A white plot with axes, decade ticks, labels ``step`` and ``loss`` and a
    legend; NaN breaks a curve.
    """
    painter.save()
    painter.setRenderHint(QPainter.Antialiasing, True)
    painter.fillRect(rect, QColor("white"))
    font = QFont(painter.font())
    font.setPointSizeF(7.0)
    painter.setFont(font)
    metrics = painter.fontMetrics()
    text_h = metrics.height()
    left = rect.left() + 2 * text_h + metrics.horizontalAdvance("1e-10") * 0.6 + 6
    bottom = rect.bottom() - 2 * text_h - 4
    plot = QRectF(QPointF(left, rect.top() + 6), QPointF(rect.right() - 8, bottom))
    if plot.width() < 20 or plot.height() < 20:
        painter.restore()
        return
    log, low, high = _y_axis(values)
    first, last = (min(steps), max(steps)) if len(steps) else (0, 1)
    last = last if last > first else first + 1

    def x_of(step: float) -> float:
        return plot.left() + (step - first) / (last - first) * plot.width()

    def y_of(value: float) -> float:
        return plot.bottom() - (value - low) / (high - low) * plot.height()

    grid = QPen(QColor(0, 0, 0, 60), 1, Qt.DotLine)
    axis = QPen(QColor("black"), 1)
    # y ticks: decades (log) or 5 even steps (linear)
    if log:
        exponents = range(int(low), int(high) + 1)
        every = max(1, math.ceil(len(exponents) / 6))
        ticks = [(float(e), _decade_label(e)) for e in exponents if (e - int(low)) % every == 0]
    else:
        ticks = [
            (low + i * (high - low) / 4, f"{low + i * (high - low) / 4:.3g}") for i in range(5)
        ]
    for value, label in ticks:
        y = y_of(value)
        painter.setPen(grid)
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(axis)
        width = metrics.horizontalAdvance(label)
        painter.drawText(QPointF(plot.left() - width - 4, y + metrics.ascent() / 2 - 1), label)
    # x ticks: about 5 round steps
    span = last - first
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    spacing = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = math.ceil(first / spacing) * spacing
    while step <= last:
        x = x_of(step)
        painter.setPen(grid)
        painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        painter.setPen(axis)
        label = f"{step:g}"
        width = metrics.horizontalAdvance(label)
        left_edge = min(x - width / 2, rect.right() - width - 1)  # the last label stays inside
        painter.drawText(QPointF(left_edge, plot.bottom() + metrics.ascent() + 3), label)
        step += spacing
    painter.setPen(axis)
    painter.drawRect(plot)
    painter.drawText(
        QPointF(plot.center().x() - metrics.horizontalAdvance("step") / 2, rect.bottom() - 3),
        "step",
    )
    painter.save()
    painter.translate(
        rect.left() + text_h, plot.center().y() + metrics.horizontalAdvance("loss") / 2
    )
    painter.rotate(-90)
    painter.drawText(QPointF(0, 0), "loss")
    painter.restore()
    # the curves, clipped to the plot, broken at NaN (and at non-positive values on a log axis)
    steps_array = np.asarray(steps, float)
    painter.setClipRect(plot)
    for index, series in enumerate(values.values()):
        series = np.asarray(series, float)
        if log:
            with np.errstate(divide="ignore", invalid="ignore"):
                series = np.where(series > 0, np.log10(np.where(series > 0, series, 1)), np.nan)
        keep = slice(None)
        most = max(2, min(MAX_POINTS, int(plot.width())))  # no more points than pixels
        if len(series) > most:  # evenly thinned, first and last point kept
            keep = np.unique(np.linspace(0, len(series) - 1, most).astype(int))
        xs, ys = steps_array[keep], series[keep]
        painter.setPen(QPen(QColor(COLOURS[index % len(COLOURS)]), 1.2))
        ok = np.isfinite(ys)
        breaks = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
        for segment in np.split(np.arange(len(ys)), breaks):
            if segment.size and ok[segment[0]]:
                points = [QPointF(x_of(x), y_of(y)) for x, y in zip(xs[segment], ys[segment])]
                if len(points) == 1:
                    painter.drawPoint(points[0])
                else:
                    painter.drawPolyline(QPolygonF(points))
    painter.setClipping(False)
    # legend, top right, on a white box over the curves
    if values:
        widest = max(metrics.horizontalAdvance(name) for name in values)
        box = QRectF(
            plot.right() - widest - 30, plot.top() + 2, widest + 28, len(values) * text_h + 4
        )
        painter.fillRect(box, QColor(255, 255, 255, 230))
        painter.setPen(QPen(QColor(0, 0, 0, 60), 1))
        painter.drawRect(box)
    y = plot.top() + 4
    for index, name in enumerate(values):
        width = metrics.horizontalAdvance(name)
        x = plot.right() - width - 26
        painter.setPen(QPen(QColor(COLOURS[index % len(COLOURS)]), 1.5))
        painter.drawLine(QPointF(x, y + text_h / 2), QPointF(x + 16, y + text_h / 2))
        painter.setPen(axis)
        painter.drawText(QPointF(x + 20, y + metrics.ascent()), name)
        y += text_h
    painter.restore()


def render_loss_image(
    steps: Sequence[int],
    values: Mapping[str, Sequence[float]],
    width_px: int = 360,
    height_px: int = 220,
) -> np.ndarray:
    """The plot as an RGBA array ``(height, width, 4)`` uint8 (needs a Qt application)."""
    image = QImage(int(width_px), int(height_px), QImage.Format_RGBA8888)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        paint_losses(painter, QRectF(0, 0, width_px, height_px), steps, values)
    finally:
        painter.end()
    pointer = image.constBits()
    pointer.setsize(image.sizeInBytes())
    rows = np.frombuffer(pointer, np.uint8).reshape(height_px, image.bytesPerLine())
    return rows[:, : 4 * width_px].reshape(height_px, width_px, 4).copy()


#: Height of the plot in pixels.
PLOT_HEIGHT = 200


class LossPlot(QWidget):
    """Training losses against the step, one line per loss term.

    Parameters
    ----------
    min_interval_s
        Minimum time between two redraws.
    """

    def __init__(self, parent: QWidget | None = None, min_interval_s: float = 1.0):
        super().__init__(parent)
        self.min_interval_s = float(min_interval_s)
        self.n_draws = 0
        self._points: dict[int, dict[str, float]] = {}
        self._shown: tuple[list[int], dict[str, list[float]]] = ([], {})
        self._last_request = 0.0
        # a fixed height: a squeezed plot would lose its axis labels first
        self.setMinimumWidth(240)
        self.setFixedHeight(PLOT_HEIGHT)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    @property
    def steps(self) -> list[int]:
        """Steps received so far, ascending (events may arrive out of order)."""
        return sorted(self._points)

    @property
    def values(self) -> dict[str, list[float]]:
        """Loss name -> values at :attr:`steps` (NaN where a step lacks that loss)."""
        steps = self.steps
        names = dict.fromkeys(name for point in self._points.values() for name in point)
        return {
            name: [self._points[step].get(name, float("nan")) for step in steps] for name in names
        }

    @property
    def shown_steps(self) -> list[int]:
        """Steps of the curves shown (painted when the plot is next on screen)."""
        return list(self._shown[0])

    @property
    def image(self) -> np.ndarray:
        """What the plot shows now, as an RGBA array (tests, screenshots)."""
        steps, values = self._shown
        return render_loss_image(steps, values, max(240, self.width()), PLOT_HEIGHT)

    def clear(self) -> None:
        """Forget all points."""
        self._points = {}
        self.redraw()

    def add(self, step: int, losses: Mapping[str, float], force: bool = False) -> bool:
        """Record one step's losses; request a redraw if enough time passed (or ``force``).

        Returns
        -------
        bool
            Whether a redraw was requested.
        """
        self._points[int(step)] = {name: float(value) for name, value in losses.items()}
        if force or time.monotonic() - self._last_request >= self.min_interval_s:
            self.redraw()
            return True
        return False

    def redraw(self) -> None:
        """Show the current points (painted on the next event-loop turn)."""
        self._last_request = time.monotonic()
        self._shown = (self.steps, self.values)
        self.update()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        try:
            steps, values = self._shown
            rect = QRectF(self.rect())
            # a dock narrower than its contents clips the right part: plot into what shows
            visible = self.visibleRegion().boundingRect()
            if not visible.isEmpty() and visible.right() + 1 < rect.right():
                rect.setRight(visible.right() + 1)
            paint_losses(painter, rect, steps, values)
        finally:
            painter.end()
        self.n_draws += 1
