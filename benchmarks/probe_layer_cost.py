"""Where the first display of a result layer goes: napari/vispy, profiled.

Opens a shown napari viewer with a 1024² image, then adds a points layer of
2,000 points with a score feature (as the Pick widget does) under cProfile,
processes events (the first draw) and prints the wall / GUI-thread CPU time
of adding and drawing, then the functions with the largest cumulative time.
Needs a display (``xvfb-run -a``)::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/probe_layer_cost.py

Issue 12: the widget cannot make this cheaper; it only keeps each such piece
on an event-loop turn of its own (docs/user-guide.md).
"""

from __future__ import annotations

import cProfile
import pstats
import time

import napari
import numpy as np
from qtpy.QtWidgets import QApplication


def add_points(viewer, app, index: int) -> tuple[float, float, float, float]:
    """(wall, CPU) of adding the layer, then (wall, CPU) including its first draw."""
    rng = np.random.default_rng(index)
    start, cpu = time.perf_counter(), time.thread_time()
    viewer.add_points(
        rng.random((2000, 2)) * 1024,
        name=f"picks {index}",
        size=20,
        features={"score": rng.random(2000)},
    )
    added, added_cpu = time.perf_counter() - start, time.thread_time() - cpu
    app.processEvents()
    return added, added_cpu, time.perf_counter() - start, time.thread_time() - cpu


def main() -> int:
    viewer = napari.Viewer(show=True)
    viewer.add_image(np.random.default_rng(0).random((1024, 1024), dtype=np.float32))
    app = QApplication.instance()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    add_points(viewer, app, 0)  # the first points layer of the session (glyphs, imports)
    profile = cProfile.Profile()
    profile.enable()
    timings = add_points(viewer, app, 1)
    profile.disable()
    added, added_cpu, drawn, drawn_cpu = (1000 * t for t in timings)
    print(
        f"add: {added:.0f} ms wall, {added_cpu:.0f} ms CPU; "
        f"add + first draw: {drawn:.0f} ms wall, {drawn_cpu:.0f} ms CPU"
    )
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
