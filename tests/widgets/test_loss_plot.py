"""The Train widget's loss plot: painted by Qt, no garbage for Python's cyclic collector."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from napari_cryopick._widgets._loss_plot import COLOURS, LossPlot, render_loss_image

pytestmark = pytest.mark.gui


def _colour_pixels(image: np.ndarray, colour: str) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image[..., :3].astype(int) - rgb).sum(axis=-1) < 40).sum())


def test_each_loss_is_a_curve_of_its_own_colour(qapp):
    steps = list(range(1, 301))
    values = {
        "heatmap": list(np.exp(-np.arange(300) / 100.0)),
        "offset": [float("nan")] * 20 + list(np.linspace(0.5, 0.05, 280)),  # NaN: a gap
    }
    image = render_loss_image(steps, values, 360, 200)
    assert image.shape == (200, 360, 4)
    assert image.dtype == np.uint8
    for index in range(2):
        assert _colour_pixels(image, COLOURS[index]) > 100  # a curve across the plot
    assert _colour_pixels(image, COLOURS[2]) == 0  # no third loss, no third colour
    empty = render_loss_image([], {}, 360, 200)  # before the first step: axes only
    assert _colour_pixels(empty, COLOURS[0]) == 0
    assert (empty[..., :3] < 100).any()  # the axes and labels are drawn


def test_painting_leaves_no_garbage_for_the_cyclic_collector(qtbot):
    """matplotlib's figure per redraw left thousands of objects for the collector each
    second; a full collection of napari's heap it provoked froze the viewer ~0.9 s."""
    plot = LossPlot(min_interval_s=0.0)
    qtbot.addWidget(plot)
    plot.resize(360, 200)
    plot.show()
    qtbot.waitExposed(plot)
    for step in range(1, 401):
        plot.add(step, {"heatmap": 1.0 / step, "offset": 0.5 / step, "size": 0.1})
    plot.grab()
    gc.collect()
    gc.disable()
    try:
        before, draws = gc.get_count()[0], plot.n_draws
        for step in range(401, 411):
            plot.add(step, {"heatmap": 1.0 / step, "offset": 0.5 / step, "size": 0.1})
            plot.grab()  # paints now (into a pixmap)
        left = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert plot.n_draws - draws == 10
    assert plot.shown_steps == list(range(1, 411))
    # what stays allocated: the 10 new points; a matplotlib figure left ~10,000 per draw
    print(f"\nobjects left for the collector by 10 paints: {left}")
    assert left < 300, left
