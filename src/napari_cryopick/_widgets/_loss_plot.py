"""A live loss plot: matplotlib renders off the GUI thread, Qt only shows the picture.

Drawing even a small matplotlib figure costs 40-150 ms on a busy machine; done
in the GUI thread (``FigureCanvasQTAgg``) every second it would make the viewer
stutter while training runs. So :func:`render_loss_image` draws with the Agg
canvas in a background thread and :class:`LossPlot` only swaps a pixmap (about
a millisecond). Redraws are throttled: at most one in flight, at most one per
``min_interval_s``; points arriving meanwhile are drawn with the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def render_loss_image(
    steps: Sequence[int],
    values: Mapping[str, Sequence[float]],
    width_px: int = 360,
    height_px: int = 220,
    dpi: int = 100,
) -> np.ndarray:
    """Draw loss curves (log scale) into an RGBA array ``(height, width, 4)`` uint8.

    Pure matplotlib (Agg): safe to call from a worker thread.
    """
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.17, right=0.97, top=0.95, bottom=0.2)
    axes = figure.add_subplot(111)
    axes.set_xlabel("step", fontsize="small")
    axes.set_ylabel("loss", fontsize="small")
    axes.tick_params(labelsize="x-small")
    axes.grid(True, alpha=0.3)
    positive = False
    for name, series in values.items():
        series = np.asarray(series, dtype=float)
        axes.plot(steps, series, label=name, linewidth=1)
        positive |= bool(np.any(series > 0))
    if positive:
        axes.set_yscale("log")
    if values:
        axes.legend(fontsize="xx-small", loc="upper right")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


#: Height of the plot in pixels.
PLOT_HEIGHT = 200


class LossPlot(QWidget):
    """Training losses against the step, one line per loss term.

    Parameters
    ----------
    min_interval_s
        Minimum time between two redraws.
    """

    rendered = Signal(object)

    def __init__(self, parent: QWidget | None = None, min_interval_s: float = 1.0):
        super().__init__(parent)
        self.min_interval_s = float(min_interval_s)
        self.n_draws = 0
        self.image: np.ndarray | None = None
        self._points: dict[int, dict[str, float]] = {}
        self._last_request = 0.0
        self._busy = False
        self._dirty = False
        self._lock = threading.Lock()
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignCenter)
        # a fixed height: a squeezed label would crop the picture (the axis labels first)
        self.label.setMinimumWidth(240)
        self.label.setFixedHeight(PLOT_HEIGHT)
        self.label.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        self.rendered.connect(self._show)
        self._show(render_loss_image([], {}))  # fonts load now, not mid-training

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
        """Render the current points in a background thread, then show them."""
        self._last_request = time.monotonic()
        with self._lock:
            if self._busy:
                self._dirty = True
                return
            self._busy = True
        steps, values = self.steps, self.values
        size = (max(240, self.label.width()), PLOT_HEIGHT)
        threading.Thread(target=self._render, args=(steps, values, size), daemon=True).start()

    def _render(self, steps: list[int], values: dict, size: tuple[int, int]) -> None:
        try:
            image = render_loss_image(steps, values, *size)
        finally:
            with self._lock:
                self._busy = False
                again, self._dirty = self._dirty, False
        try:
            self.rendered.emit((image, again))
        except RuntimeError:  # the widget was closed while this thread drew
            return

    def _show(self, payload: object) -> None:
        image, again = payload if isinstance(payload, tuple) else (payload, False)
        self.image = image
        height, width = image.shape[:2]
        qimage = QImage(image.data, width, height, 4 * width, QImage.Format_RGBA8888)
        pixmap = QPixmap.fromImage(qimage.copy())
        if pixmap.width() > self.label.width() > 0:  # the dock got narrower: shrink, never crop
            pixmap = pixmap.scaled(
                self.label.width(), PLOT_HEIGHT, Qt.KeepAspectRatio, Qt.SmoothTransformation
            )
        self.label.setPixmap(pixmap)
        self.n_draws += 1
        if again:
            self.redraw()

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Block until no render is in flight (tests, screenshots)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._lock:
                if not self._busy and not self._dirty:
                    return True
            time.sleep(0.01)
        return False
