"""A small live loss plot (matplotlib in Qt), redrawn at most a few times a second."""

from __future__ import annotations

import time
from collections.abc import Mapping

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget


class LossPlot(QWidget):
    """Training losses against the step, one line per loss term.

    Parameters
    ----------
    min_interval_s
        Minimum time between two redraws; points arriving in between are kept
        and drawn with the next redraw, so a fast training loop never floods
        the GUI thread with drawing.
    """

    def __init__(self, parent: QWidget | None = None, min_interval_s: float = 0.5):
        super().__init__(parent)
        self.figure = Figure(figsize=(3.2, 2.0), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.canvas.setMinimumHeight(160)
        self.axes = self.figure.add_subplot(111)
        self.min_interval_s = float(min_interval_s)
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}
        self.n_draws = 0
        self._last_draw = 0.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._style_axes()

    def _style_axes(self) -> None:
        self.axes.set_xlabel("step")
        self.axes.set_ylabel("loss")
        self.axes.grid(True, alpha=0.3)

    def clear(self) -> None:
        """Forget all points and blank the plot."""
        self.steps = []
        self.values = {}
        self.axes.clear()
        self._style_axes()
        self.canvas.draw_idle()

    def add(self, step: int, losses: Mapping[str, float], force: bool = False) -> bool:
        """Append one step's losses; redraw if enough time passed (or ``force``).

        Returns
        -------
        bool
            Whether the plot was redrawn.
        """
        self.steps.append(int(step))
        for name, value in losses.items():
            series = self.values.setdefault(name, [float("nan")] * (len(self.steps) - 1))
            series.append(float(value))
        for series in self.values.values():
            while len(series) < len(self.steps):
                series.append(float("nan"))
        now = time.monotonic()
        if force or now - self._last_draw >= self.min_interval_s:
            self.redraw()
            return True
        return False

    def redraw(self) -> None:
        """Draw all points now."""
        self._last_draw = time.monotonic()
        self.axes.clear()
        self._style_axes()
        for name, series in self.values.items():
            self.axes.plot(self.steps, series, label=name, linewidth=1)
        if self.values:
            self.axes.set_yscale("log")
            self.axes.legend(fontsize="x-small", loc="upper right")
        self.canvas.draw_idle()
        self.n_draws += 1
