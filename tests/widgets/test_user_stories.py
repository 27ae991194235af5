"""User stories of issue 12, driven as napari runs the plugin.

Every widget comes from ``viewer.window.add_plugin_dock_widget`` (so it holds
napari's ``PublicOnlyProxy`` of the viewer), micrographs are opened from files
with the plugin's reader, and clicks and key presses go through Qt where napari
allows it. The assertions are what the user sees: the same layer object after
a slider move, their clicks where they put them, the active micrograph
receiving the annotation, an event loop that keeps running.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import threading
import time

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt, QTimer

from napari_cryopick._widgets._common import session
from napari_cryopick._widgets.result_layers import shared_layer, show_pick_result
from napari_cryopick._widgets.shown import ShownResult
from napari_cryopick.core.pick_table import empty_picks, make_picks, picks_to_napari
from napari_cryopick.io.annotations import load_annotations
from napari_cryopick.io.micrographs import write_mrc

pytestmark = pytest.mark.gui

PLUGIN = "napari-cryopick"


def _micrograph_file(folder, name, shape=(256, 256), seed=0):
    rng = np.random.default_rng(seed)
    path = folder / f"{name}.mrc"
    write_mrc(path, rng.normal(size=shape).astype(np.float32), pixel_size=2.0)
    return path


def load_factor() -> float:
    """How overloaded the machine is (load average per core, at least 1).

    Wall-clock bounds are scaled by it: on a runner shared with other jobs
    the GUI thread gets only part of a core, whatever the code does. The
    GUI thread's own CPU time is bounded without scaling.
    """
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def _run_queue_waits() -> dict[str, float] | None:
    """Seconds each thread of this process has waited for a CPU so far (Linux; else None).

    The second field of ``/proc/self/task/<tid>/schedstat``: time runnable but
    not running, i.e. time other processes (or the machine's overload) took.
    """
    waits = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as stream:
                waits[task] = int(stream.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return waits or None


class GapMeter:
    """A 10 ms QTimer; the largest gap between its ticks is how long the event loop stalled.

    Each tick also reads the GUI thread's CPU time: the most it used between
    two ticks (``max_cpu_gap``) is the work of the longest turn, which another
    process on the machine cannot inflate. With ``waits=True`` it also reads
    how long this process's threads waited for a CPU (Linux), for
    ``max_own_gap``.
    """

    def __init__(self, interval_ms: int = 10, *, waits: bool = False):
        self.ticks: list[float] = []
        self.cpu: list[float] = []
        self.waits: list[dict[str, float] | None] = []
        self._read_waits = waits
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        self.ticks.append(time.perf_counter())
        self.cpu.append(time.thread_time())
        if self._read_waits:
            self.waits.append(_run_queue_waits())

    def __enter__(self):
        # A full cyclic garbage collection of the napari process (0.2-0.65 s of CPU,
        # growing with the viewers the test session made) comes whenever Python decides
        # and is not the widget's: collected before the window, none inside it.
        gc.collect()
        gc.disable()
        self._tick()
        self.timer.start()
        return self

    def __exit__(self, *_exc):
        self.timer.stop()
        gc.enable()

    @property
    def max_gap(self) -> float:
        return float(np.diff(self.ticks).max()) if len(self.ticks) > 1 else float("inf")

    @property
    def max_cpu_gap(self) -> float:
        return float(np.diff(self.cpu).max()) if len(self.cpu) > 1 else float("inf")

    @property
    def max_own_gap(self) -> float:
        """The longest gap less the time this process's threads waited for a CPU in it.

        What the process itself took: its GUI thread's work, waiting for the
        GIL or for its own helper threads' work (Mesa's software-GL threads
        compose the window in a test without a GPU). Subtracted: the GUI
        thread's wait for a CPU plus the longest wait of any other thread of
        the process (they wait in parallel, so not their sum). Without
        ``/proc`` (not Linux) the plain gap.
        """
        if len(self.ticks) < 2 or None in self.waits or len(self.waits) != len(self.ticks):
            return self.max_gap
        gui = str(threading.get_native_id())
        own = []
        for index, gap in enumerate(np.diff(self.ticks)):
            before, after = self.waits[index], self.waits[index + 1]
            waited = {t: after[t] - before[t] for t in after if t in before}
            gui_wait = waited.pop(gui, 0.0)
            own.append(gap - gui_wait - max(waited.values(), default=0.0))
        return float(max(own))


def _click(viewer, qtbot, offset=(0, 0)):
    """A real mouse click on the canvas, ``offset`` screen pixels from its centre."""
    canvas = viewer.window._qt_viewer.canvas.native
    centre = QPoint(canvas.width() // 2 + offset[0], canvas.height() // 2 + offset[1])
    qtbot.mouseMove(canvas, centre)
    qtbot.mousePress(canvas, Qt.LeftButton, pos=centre)
    qtbot.mouseRelease(canvas, Qt.LeftButton, pos=centre)


# --- 1. two micrographs, each annotated: every click goes to the active one ---


def test_annotations_follow_the_active_micrograph(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    first = _micrograph_file(tmp_path, "mic_a", seed=1)
    second = _micrograph_file(tmp_path, "mic_b", seed=2)
    viewer = make_napari_viewer(show=True)
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")

    viewer.open(str(first), plugin=PLUGIN)
    # the annotation layer exists and is ready as soon as the micrograph is open
    qtbot.waitUntil(
        lambda: (
            viewer.layers.selection.active is not None
            and viewer.layers.selection.active.name == "mic_a particle"
        ),
        timeout=5000,
    )
    assert viewer.layers["mic_a particle"].mode == "add"
    _click(viewer, qtbot)  # the first click adds a particle
    assert len(viewer.layers["mic_a particle"].data) == 1

    viewer.open(str(second), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "mic_b", timeout=5000)
    qtbot.waitUntil(lambda: viewer.layers.selection.active.name == "mic_b particle", timeout=5000)
    assert not viewer.layers["mic_a"].visible  # the other micrograph is out of the way
    assert not viewer.layers["mic_a particle"].visible
    _click(viewer, qtbot, (0, 0))
    _click(viewer, qtbot, (40, 0))
    assert len(viewer.layers["mic_b particle"].data) == 2
    assert len(viewer.layers["mic_a particle"].data) == 1

    # back to the first micrograph by selecting it in the layer list: Annotate follows,
    # and the next click adds a particle (a re-trial's click panned: no Alt+1 needed)
    viewer.layers.selection.active = viewer.layers["mic_a"]
    assert annotate.micrograph_combo.currentText() == "mic_a"
    qtbot.waitUntil(lambda: viewer.layers.selection.active.name == "mic_a particle", timeout=5000)
    assert viewer.layers["mic_a particle"].mode == "add"
    _click(viewer, qtbot, (0, 40))
    assert len(viewer.layers["mic_a particle"].data) == 2
    assert len(viewer.layers["mic_b particle"].data) == 2

    def saved(path, count):
        record = load_annotations(path)
        return record is not None and record.counts()["particle"] == count

    qtbot.waitUntil(lambda: saved(first, 2) and saved(second, 2), timeout=5000)
    a, b = load_annotations(first), load_annotations(second)
    assert set(a.picks["micrograph"]) == {"mic_a"}
    assert set(b.picks["micrograph"]) == {"mic_b"}
    # the clicks are where the user put them (the canvas centre and 40 screen px away)
    spread = np.ptp(b.picks["x"].to_numpy())
    assert spread > 5


# --- 3. the threshold slider: same layer, fast, corrections kept ---


def _candidates(n=2000, shape=(2048, 2048), seed=0):
    rng = np.random.default_rng(seed)
    return make_picks(
        rng.uniform(0, shape[1], n),
        rng.uniform(0, shape[0], n),
        score=np.sort(rng.uniform(0.05, 1.0, n))[::-1],
        diameter=40.0,
        micrograph="mic",
    )


def _shown(candidates, shape=(2048, 2048)):
    return ShownResult(
        candidates, np.zeros((shape[0] // 16, shape[1] // 16), np.float32), (16.0, 16.0), (7.5, 7.5)
    )


def test_threshold_slider_keeps_layer_and_corrections(make_napari_viewer, qtbot, cpu_slowness):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((2048, 2048), np.float32), name="mic", metadata={"name": "mic"})
    viewer.add_image(np.zeros((2048, 2048), np.float32), name="other", metadata={"name": "other"})
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.2)
    candidates = _candidates()
    other_candidates = _candidates(seed=1)
    show_pick_result(viewer, "other", _shown(other_candidates))  # as the picking worker does
    show_pick_result(viewer, "mic", _shown(candidates))
    # one set of result layers shows the micrograph the user works on: "mic" once selected
    viewer.layers.selection.active = viewer.layers["mic"]
    layer = viewer.layers["mic picks"]
    layer_id = id(layer)
    heatmap = viewer.layers["mic heatmap"]
    assert len(layer.data) == len(candidates)
    assert "other picks" not in viewer.layers

    # the user deletes two confident picks, adds two, hides the heatmap
    deleted = np.asarray(layer.data[[0, 1]])
    layer.selected_data = {0, 1}
    layer.remove_selected()
    layer.selected_data = {2}  # napari would copy this point's score to added points
    added = np.array([[10.0, 10.0], [2000.0, 30.0]])
    layer.add(added)
    heatmap.visible = False

    from napari_cryopick.core.pick_table import beside_hand_picks

    def check_corrections(now):
        shown = now.data[now.shown]
        for point in added:  # the user's picks stay, at every threshold
            assert np.any(np.all(np.isclose(shown, point), axis=1))
        for point in deleted:  # and what they deleted stays deleted
            assert not np.any(np.all(np.isclose(now.data, point), axis=1))
        # a candidate under a hand pick is that particle: hidden at every threshold
        rest = candidates.iloc[2:]
        under = beside_hand_picks(
            np.r_[rest["x"], added[:, 1]], np.r_[rest["y"], added[:, 0]],
            np.r_[rest["score"], np.full(2, np.nan)],
            np.r_[rest["diameter"], np.full(2, np.nan)], 0.4,
        )[: len(rest)]  # fmt: skip
        expected = int(((rest["score"].to_numpy() >= pick.threshold()) & ~under).sum()) + 2
        assert int(now.shown.sum()) == expected

    data_events = []  # moving the threshold changes only what is shown, never the data
    layer.events.data.connect(lambda event: data_events.append(event))
    durations, cpu_times, values = [], [], []
    pick.threshold_slider.setFocus()
    gc.collect()  # a full collection (0.2-0.65 s, when Python decides) is not the slider's
    gc.disable()
    try:
        for step in range(20):
            key = Qt.Key_Right if step < 10 else Qt.Key_PageDown  # drag up, then back down
            start, start_cpu = time.perf_counter(), time.thread_time()
            qtbot.keyClick(pick.threshold_slider, key)
            durations.append(time.perf_counter() - start)
            cpu_times.append(time.thread_time() - start_cpu)
            values.append(pick.threshold())
            now = viewer.layers["mic picks"]
            assert id(now) == layer_id
            check_corrections(now)
    finally:
        gc.enable()
    assert len(set(values)) > 10  # the slider really moved
    assert not heatmap.visible
    assert np.isnan(layer.features["score"].iloc[-2:]).all()  # no borrowed score
    print(
        f"\nslider steps (2,000 candidates): wall max {max(durations) * 1000:.1f} ms, "
        f"median {np.median(durations) * 1000:.1f} ms; GUI-thread CPU max "
        f"{max(cpu_times) * 1000:.1f} ms; load factor {load_factor():.1f}"
    )
    # What a slider step costs is the benchmark's (docs/benchmarks.md, issue 12: this test
    # with -s prints it); the test holds what keeps it cheap: no data set, no new layer.
    assert data_events == []
    assert max(cpu_times) <= 0.5 * cpu_slowness, [round(t * 1000) for t in cpu_times]

    # the other micrograph: the same layer objects show its results (no new layer), and
    # mic's corrections come back with mic
    start = time.perf_counter()
    viewer.layers.selection.active = viewer.layers["other"]
    switch = time.perf_counter() - start
    assert viewer.layers["other picks"] is layer
    assert viewer.layers["other heatmap"] is heatmap
    assert "mic picks" not in viewer.layers
    assert len(layer.data) == len(other_candidates)
    expected = int((other_candidates["score"] >= pick.threshold()).sum())
    assert int(layer.shown.sum()) == expected
    assert np.isfinite(layer.features["score"]).all()  # mic's hand-added picks stay with mic
    layer.add(np.array([[500.0, 600.0]]))  # one of the user's own, on "other"
    viewer.layers.selection.active = viewer.layers["mic"]
    assert viewer.layers["mic picks"] is layer
    check_corrections(layer)
    assert np.isnan(layer.features["score"].iloc[-2:]).all()
    from napari_cryopick._widgets.result_layers import result_picks

    other = result_picks(viewer, "other")  # not displayed: from the session's store
    own = other[other["score"].isna()]
    assert own[["x", "y", "micrograph"]].values.tolist() == [[600.0, 500.0, "other"]]
    assert not result_picks(viewer, "mic")["x"].eq(600.0).any()
    print(f"switching micrographs: {switch * 1000:.0f} ms")

    # closing a micrograph removes its results: nothing of it comes back
    viewer.layers.remove(viewer.layers["other"])
    pick.set_threshold(0.5)
    assert "other" not in session(viewer).pick_results
    assert not [name for name in viewer.layers if str(name).startswith("other")]
    viewer.layers.remove(viewer.layers["mic"])  # the last one: the result layers show nothing
    assert len(layer.data) == 0
    assert not session(viewer).pick_results


# --- 5. all four widgets docked on a 1920 x 1080 screen ---


def test_four_widgets_fit_a_full_hd_window(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((512, 512), np.float32), name="mic", metadata={"name": "mic"})
    widgets = {}
    for name in ("Annotate", "Train", "Pick", "Evaluate"):
        _dock, widgets[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    window = viewer.window._qt_window
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: window.height() <= 1080, timeout=5000)
    assert window.minimumSizeHint().height() <= 1080
    assert window.minimumSize().height() <= 1080
    # each widget's main controls show without scrolling (a GUI trial: Annotate took
    # 666 px, mostly empty, and Train's and Pick's buttons were below the fold)
    from qtpy.QtCore import QPoint

    main = {
        "Annotate": ["micrograph_combo", "dataset_edit"],
        "Train": ["train_button", "cancel_button", "progress_bar"],
        "Pick": ["pick_current_button", "pick_all_button", "threshold_slider"],
        "Evaluate": ["evaluate_button"],
    }

    def seen(name: str, control: str) -> bool:
        widget = widgets[name]
        viewport = widget.scroll_area.viewport()
        item = getattr(widget, control)
        bottom = item.mapTo(viewport, QPoint(0, item.height())).y()
        return widget.scroll_area.verticalScrollBar().value() == 0 and bottom <= viewport.height()

    from napari_cryopick._widgets._common import DOCK_BALANCE_MS

    # laid out (before, every control sits at 0), then shared out
    qtbot.waitUntil(lambda: widgets["Annotate"].dataset_edit.y() > 0, timeout=5000)
    qtbot.wait(2 * DOCK_BALANCE_MS + 300)
    for name, controls in main.items():
        for control in controls:
            assert seen(name, control), (name, control)
    for name, widget in widgets.items():
        area = widget.scroll_area
        contents = area.widget()
        # everything is reachable: what does not fit scrolls
        hidden = contents.height() - area.viewport().height()
        assert hidden <= area.verticalScrollBar().maximum() + 1, name
        # no two visible controls overlap (the widget's own and its panels', e.g. the
        # exemplar bank's thumbnails and buttons, the loss plot)
        from qtpy.QtWidgets import QWidget

        parents = [contents] + [
            child
            for child in contents.findChildren(QWidget)
            if type(child).__module__.startswith("napari_cryopick")
        ]
        for parent in parents:
            children = [
                child
                for child in parent.findChildren(QWidget)
                if child.parent() is parent and child.isVisible()
            ]
            boxes = [child.geometry() for child in children]
            for i, box in enumerate(boxes):
                for other in boxes[i + 1 :]:
                    assert not box.intersects(other), (name, type(parent).__name__, box, other)


# --- 6. Evaluate with its default layer choices ---


def test_evaluate_defaults_give_a_number_without_warnings(make_napari_viewer, qtbot, recwarn):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2048, 2048), np.float32), name="mic", metadata={"name": "mic"})
    candidates = _candidates(300)
    truth = candidates.iloc[::3]
    from napari_cryopick.layers.results import annotation_points_layer

    data, kwargs, _ = annotation_points_layer(
        truth.iloc[:0], "mic negative", kind="negative", micrograph="mic"
    )
    viewer.add_points(data, **kwargs)
    data, kwargs, _ = annotation_points_layer(
        truth, "mic particle", kind="particle", diameter_px=40.0, micrograph="mic"
    )
    viewer.add_points(data, **kwargs)
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    show_pick_result(viewer, "mic", _shown(candidates))
    _dock, evaluate = viewer.window.add_plugin_dock_widget(PLUGIN, "Evaluate")
    assert evaluate.pred_combo.currentText() == "mic picks"
    assert evaluate.truth_combo.currentText() == "mic particle"
    report = evaluate.run()
    assert report is not None, evaluate.results_label.text()
    assert "nan" not in evaluate.results_label.text().lower()
    assert evaluate.results_label.text().startswith("AP")
    evaluate.apply_threshold(beta=2)
    # (thousandths, rounded down: the pick scored at the best threshold stays shown)
    assert pick.threshold() == pytest.approx(math.floor(report.best_f2[0] * 1000 + 1e-9) / 1000)
    shown = [w for w in recwarn if not issubclass(w.category, DeprecationWarning)]
    assert not shown, [str(w.message) for w in shown]

    # nothing to compare: one clear line, no number, no warning
    viewer.layers["mic particle"].data = np.zeros((0, 2))
    assert evaluate.run() is None
    assert "no points" in evaluate.results_label.text()


# --- 7. pick a folder of 20 micrographs, cancel halfway ---


def test_cancel_folder_picking_halfway(
    make_napari_viewer, qtbot, tmp_path, thread_calls, cpu_slowness
):
    """ "Pick folder…" runs in a child process: the viewer's loop never waits for the picking.

    The GUI thread only shows progress (one posted repaint per micrograph);
    napari's progress bar and the job's start take turns of their own after
    the click.
    """
    import torch

    from napari_cryopick.core import detect
    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.io.pickfiles import read_picks

    network_calls = thread_calls(detect, "_forward_maps")
    torch.manual_seed(0)
    folder = tmp_path / "micrographs"
    folder.mkdir()
    total = 60  # far more than the 3 before the click: a loaded machine's slow cancel
    for index in range(total):  # still stops the folder well before its end
        _micrograph_file(folder, f"m{index:02d}", shape=(512, 512), seed=index)
    out = tmp_path / "picks"
    viewer = make_napari_viewer(show=True)
    session(viewer).set_model(Detector(DetectorConfig()).eval(), None)  # in memory, unsaved
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.diameter_spin.setValue(24.0)
    pick.device_combo.setCurrentText("cpu")
    pick.format_combo.setCurrentText("star")
    pick.export_edit.setText(str(out))
    qtbot.wait(100)  # docked: the widget's one-time font-glyph turn is done (as for a user)
    with GapMeter(waits=True) as meter:  # (no garbage collection inside)
        worker = pick.pick_folder(folder)
        assert worker is not None, pick.status.text()
        assert pick.cancel_button.isEnabled()
        # the child runs at nice +5: against other jobs on a loaded machine it may get a
        # fifth of a core (30-50 s to 10 micrographs); 3 show a cancel mid-folder
        qtbot.waitUntil(lambda: pick.progress_bar.value() >= 3, timeout=240_000)
        qtbot.mouseClick(pick.cancel_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: pick.worker is None, timeout=30_000)
    done = pick.progress_bar.value()
    assert 3 <= done < total
    assert "Cancelled" in pick.status.text()
    files = sorted(out.rglob("*"))
    names = sorted(p.name for p in files if p.is_file() and p.suffix == ".star")
    assert names == [f"m{index:02d}.star" for index in range(done)]
    # nothing else (no temporary file, no lock left): the manifest records the done ones
    assert sorted(p.name for p in files if p.suffix != ".star") == ["cryopick_manifest.jsonl"]
    for path in files:
        if path.suffix == ".star":
            read_picks(path)  # each one complete
    print(
        f"\nfolder picking: {done}/{total} before cancel, event loop max gap "
        f"{meter.max_gap * 1000:.0f} ms over {len(meter.ticks)} ticks (GUI-thread CPU "
        f"{meter.max_cpu_gap * 1000:.0f} ms; without this process's waits for a CPU "
        f"{meter.max_own_gap * 1000:.0f} ms), load {os.getloadavg()[0]:.1f}"
    )
    # What the viewer waits is the benchmark's (docs/benchmarks.md, issue 12: the issue's
    # 100 ms; this test with -s prints it; wall-clock gaps depend on what else the machine
    # runs). The test holds what keeps it short: the network never runs in this process,
    # and no turn of the event loop does work anywhere near a network run (the GUI
    # thread's CPU time in its longest turn: 43-49 ms on a quiet machine, 2026-11-30; a
    # repaint composed in software GL takes 50-100 ms of wall clock).
    assert network_calls == []
    assert meter.max_cpu_gap <= 0.3 * cpu_slowness


# --- 8. picking one micrograph does not freeze the viewer ---


def test_picking_one_micrograph_keeps_the_event_loop_running(
    make_napari_viewer, qtbot, tmp_path, cpu_slowness, thread_calls
):
    """The network runs in the worker; its result fills layers made before, in place.

    Adding a napari layer and drawing it the first time take 0.15-0.3 s each
    on this 2-core box in software GL (napari/vispy, not the widget's). The
    one set of result layers is made once, on the turns after the first
    micrograph opens, one layer per turn; picking any micrograph, the first
    time or again, only updates them.
    """
    from napari_cryopick.core import detect

    network_calls = thread_calls(detect, "_forward_maps")
    paths = [_micrograph_file(tmp_path, name, (1024, 1024), seed) for seed, name in
             enumerate(("big", "next"), start=4)]  # fmt: skip
    viewer = make_napari_viewer(show=True)
    viewer.open(str(paths[0]), plugin=PLUGIN)
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")  # the bundled model
    pick.device_combo.setCurrentText("cpu")
    pick.diameter_spin.setValue(30.0)

    def layers_ready():
        layers = [shared_layer(viewer, what) for what in ("heatmap", "picks")]
        return all(layer is not None and layer.visible for layer in layers)

    qtbot.waitUntil(layers_ready, timeout=10_000)  # made once, as the micrograph opened
    qtbot.wait(300)  # and drawn
    picks_layer, heatmap_layer = shared_layer(viewer, "picks"), shared_layer(viewer, "heatmap")
    assert viewer.layers["big picks"] is picks_layer
    assert len(picks_layer.data) == 0
    assert viewer.layers.selection.active is viewer.layers["big"]  # not taken by them

    def pick_and_measure(name):
        arrived = []
        with GapMeter(waits=True) as meter:
            worker = pick.pick_current()
            assert worker is not None, pick.status.text()
            worker.yielded.connect(lambda _event: arrived.append(time.perf_counter()))
            qtbot.waitUntil(lambda: pick.worker is None, timeout=60_000)
            qtbot.wait(200)  # the picks are drawn
        assert viewer.layers[f"{name} picks"] is picks_layer  # the same layers, filled
        assert viewer.layers[f"{name} heatmap"] is heatmap_layer
        assert heatmap_layer.data.shape[0] > 1
        assert int(picks_layer.shown.sum()) > 0
        ticks = np.asarray(meter.ticks)
        return meter, float(np.diff(ticks[ticks <= arrived[0]]).max())

    first, network_gap = pick_and_measure("big")
    again, _ = pick_and_measure("big")
    viewer.open(str(paths[1]), plugin=PLUGIN)  # a second micrograph, picked the first time
    qtbot.wait(300)
    assert len(picks_layer.data) == 0  # shows "next", which has no picks yet
    second, _ = pick_and_measure("next")
    print(
        f"\npick a 1024x1024 micrograph: loop max gap while the network ran "
        f"{network_gap * 1000:.0f} ms; first pick overall {first.max_gap * 1000:.0f} ms "
        f"(GUI-thread CPU {first.max_cpu_gap * 1000:.0f} ms in the longest turn); picking "
        f"again {again.max_gap * 1000:.0f} ms (CPU {again.max_cpu_gap * 1000:.0f} ms); "
        f"a second micrograph {second.max_gap * 1000:.0f} ms "
        f"(CPU {second.max_cpu_gap * 1000:.0f} ms); without this process's waits for a "
        f"CPU {first.max_own_gap * 1000:.0f} / {again.max_own_gap * 1000:.0f} / "
        f"{second.max_own_gap * 1000:.0f} ms; load factor {load_factor():.1f}; "
        f"CPU slowness {cpu_slowness:.2f}"
    )
    # The issue's 100 ms is the benchmark's figure (docs/benchmarks.md, issue 12: this
    # test with -s prints it): the GUI thread's CPU time in its longest turn was 37-63 ms
    # on the faster developers' machine (2026-11-30) and 44-101 ms on the slower one
    # (2026-12-01); wall-clock gaps depend on what else the machine runs. The test holds
    # what keeps them short: the network runs only in the worker thread, and no turn of
    # the event loop does work near a network run (0.3-0.4 s of CPU on the faster
    # machine, about twice that on the slower), scaled by how much slower this CPU is.
    assert network_calls
    assert not any(network_calls)
    for meter in (first, again, second):
        assert meter.max_cpu_gap <= 0.3 * cpu_slowness


# --- 2. few-shot training with the widget's defaults: new head used, picks shown ---


def _simulated_file(folder, name, config, seed):
    from napari_cryopick.core.simulate import simulate_micrograph

    simulated = simulate_micrograph(config, seed=seed, name=name)
    path = folder / f"{name}.mrc"
    write_mrc(path, simulated.image, pixel_size=simulated.pixel_size)
    return path, simulated.picks


def _annotated_for_training(make_napari_viewer, tmp_path, monkeypatch):
    """A simulated micrograph with 15 particles clicked; the Annotate, Train and Pick widgets."""
    from napari_cryopick.core.simulate import SimulationConfig

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    config = SimulationConfig(shape=(512, 512), diameter_px=40.0, n_particles=40, snr=0.5)
    path, truth = _simulated_file(tmp_path, "trained", config, seed=3)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    _dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    annotate.diameter_spin.setValue(40.0)
    annotate.dataset_edit.setText("synthetic")
    annotate.dataset_edit.editingFinished.emit()
    particles = truth[truth["kind"] == "particle"].head(15)
    annotate.set_kind("particle").add(picks_to_napari(particles))
    train.refresh_datasets()
    return viewer, train, pick


def _train_in_15_s(train, qtbot, tmp_path):
    """Train with the form as it is, except a 15-second budget (the CPU default is 2 min)."""
    train.time_spin.setValue(0.25)
    train.device_combo.setCurrentText("cpu")
    train.output_edit.setText(str(tmp_path / "synthetic.pt"))
    statuses = []
    train.status.setText = lambda text, _set=train.status.setText: (
        statuses.append(text),
        _set(text),
    )[-1]
    assert train.start() is not None, train.last_error
    qtbot.waitUntil(lambda: train.worker is None, timeout=180_000)
    assert train.last_error == ""
    outcome = train.last_result
    assert outcome is not None
    assert any("left" in text for text in statuses), statuses[:5]  # an ETA was shown
    assert outcome.seconds <= 15 * load_factor() + 45, outcome.seconds
    # the time budget (or, on a fast CPU, the few-label step limit) ended it, not the steps
    assert len(outcome.history) < train.steps_spin.value()
    return outcome


def test_default_training_is_the_clis_and_its_picks_show(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from napari_cryopick.core.continual import ContinualConfig
    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.training import TrainConfig
    from napari_cryopick.workflows.train import TrainingSet, TrainRequest

    viewer, train, pick = _annotated_for_training(make_napari_viewer, tmp_path, monkeypatch)
    # the widgets' defaults are the CLI's: mode of a TrainRequest without mode/base model
    # (cryopick train without --mode/--init), TrainConfig's budget, PickConfig's threshold
    cli_request = TrainRequest(
        [TrainingSet("s", [np.zeros((64, 64), np.float32)], [empty_picks()], 10.0)]
    )
    assert train.mode_combo.currentData() == cli_request.resolved_mode == "new"
    assert ContinualConfig().pretrained  # "new" starts from the general model
    assert TrainConfig().time_limit_s == "auto"
    assert train.time_spin.text() == "auto"
    assert pick.threshold() == pytest.approx(PickConfig().threshold)
    assert pick.pick_config() == dataclasses.replace(
        PickConfig(), head=pick.head_combo.currentText() or None
    )

    outcome = _train_in_15_s(train, qtbot, tmp_path)
    assert outcome.mode == "new"
    run = outcome.card.history[-1]
    assert run.get("pretrained")  # started from the general model, as cryopick train does
    assert pick.model is outcome.model
    assert pick.head_combo.currentText() == outcome.model.default_head
    assert pick.model_edit.text() == str(tmp_path / "synthetic.pt")
    threshold = train.suggested_threshold
    assert threshold is not None
    assert pick.threshold() == pytest.approx(round(threshold, 3))
    layer = viewer.layers["trained picks"]
    assert int(layer.shown.sum()) > 0  # the new model's picks show at that threshold
    print(
        f"\ndefault (new, pretrained): {outcome.seconds:.1f} s, {len(outcome.history)} steps, "
        f"threshold {threshold:.2f}, {int(layer.shown.sum())} picks shown"
    )


def test_fewshot_training_selects_the_new_head_and_shows_picks(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    viewer, train, pick = _annotated_for_training(make_napari_viewer, tmp_path, monkeypatch)
    train.mode_combo.setCurrentIndex(train.mode_combo.findData("fewshot"))
    # a few-shot head has no few-label step limit, and a fast CPU fits the default
    # 1000 steps into 15 s: the most steps the form takes leave the budget to end it
    train.steps_spin.setValue(train.steps_spin.maximum())
    outcome = _train_in_15_s(train, qtbot, tmp_path)

    assert outcome.mode == "fewshot"
    assert "synthetic" in outcome.model.head_names
    assert pick.head_combo.currentText() == "synthetic"
    assert pick.model is outcome.model
    assert pick.model_edit.text() == str(tmp_path / "synthetic.pt")
    threshold = train.suggested_threshold
    assert threshold is not None
    assert pick.threshold() == pytest.approx(round(threshold, 3))
    layer = viewer.layers["trained picks"]
    assert int(layer.shown.sum()) > 0  # the new head's picks show at that threshold
    print(
        f"\nfew-shot: {outcome.seconds:.1f} s, {len(outcome.history)} steps, threshold "
        f"{threshold:.2f}, {int(layer.shown.sum())} picks shown"
    )


def _train_new_model_for_steps_and_pick(train, pick, qtbot, tmp_path, kind: str, *, steps: int):
    """Train a new ``kind`` model for ``steps`` steps (no preview) and pick the current micrograph at 0.3."""
    train.steps_spin.setValue(steps)
    train.preview_spin.setValue(0)
    train.time_spin.setValue(10.0)
    train.device_combo.setCurrentText("cpu")
    train.output_edit.setText(str(tmp_path / f"{kind}s.pt"))
    assert train.start() is not None, train.last_error
    assert f"new model for {kind}" in train.status.text()
    qtbot.waitUntil(lambda: train.worker is None, timeout=240_000)
    assert train.last_error == ""
    assert train.last_result.model.config.kinds == (kind,)
    assert len(train.last_result.history) == steps  # the steps, not the time limit, ended it

    pick.device_combo.setCurrentText("cpu")
    pick.set_threshold(0.3)
    assert pick.pick_current() is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=60_000)


def test_training_to_its_end_keeps_the_event_loop_running(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, thread_calls, cpu_slowness
):
    """Training, its end (final preview, exemplar bank, model saved): the viewer answers.

    The loss plot was a matplotlib figure rendered in a Python thread every
    second: together with the training thread's own Python work (batches,
    exemplar bank at the end) the GUI thread starved for the GIL, 0.75-1.15 s
    without a tick while it worked only 6-15 ms. Now Qt paints the plot in
    the GUI thread. The micrograph is picked first (as a user does), so the
    previews update its layers: creating them is the first-result stall,
    measured in the picking story.
    """
    from napari_cryopick.core import detect, training

    viewer, train, pick = _annotated_for_training(make_napari_viewer, tmp_path, monkeypatch)
    viewer.window._qt_window.show()
    network_calls = thread_calls(detect, "_forward_maps")
    training_steps = thread_calls(training, "batch_losses")
    pick.device_combo.setCurrentText("cpu")
    assert pick.pick_current() is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=60_000)
    train.mode_combo.setCurrentIndex(train.mode_combo.findData("fewshot"))
    train.preview_spin.setValue(20)
    train.time_spin.setValue(0.1)  # 6 s: the time limit ends it
    train.device_combo.setCurrentText("cpu")
    train.output_edit.setText(str(tmp_path / "synthetic.pt"))
    qtbot.wait(100)
    with GapMeter(waits=True) as meter:
        assert train.start() is not None, train.last_error
        qtbot.waitUntil(lambda: train.worker is None, timeout=120_000)
        qtbot.wait(300)
    assert train.last_error == ""
    steps = len(train.last_result.history)
    assert train.loss_plot.shown_steps == list(range(1, steps + 1))  # the last step is drawn
    print(
        f"\ntraining {steps} steps and its end: loop max gap {meter.max_gap * 1000:.0f} ms "
        f"(GUI-thread CPU {meter.max_cpu_gap * 1000:.0f} ms, without this process's waits "
        f"for a CPU {meter.max_own_gap * 1000:.0f} ms), load {os.getloadavg()[0]:.1f}"
    )
    # Wall-clock gaps are the benchmark's (docs/benchmarks.md; this test with -s prints
    # them). The test holds what keeps them short: training and its previews run in the
    # worker thread; the longest turns left update the heatmap and picks layers with a
    # preview (70-100 ms of GUI-thread CPU on the 2-core box under load, software GL);
    # and the GUI thread is not starved of the GIL (0.73-0.83 s gaps, less this process's
    # waits for a CPU, when matplotlib drew the loss in a thread of its own).
    assert training_steps
    assert not any(training_steps)
    assert network_calls
    assert not any(network_calls)
    assert meter.max_cpu_gap <= 0.3 * cpu_slowness
    assert meter.max_own_gap <= 0.5 * cpu_slowness


# --- 4. vesicles: annotate circles, train, pick circles of their own size ---


@pytest.mark.slow
def test_vesicles_trained_from_the_gui_have_their_own_radius(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from scipy.spatial import cKDTree

    from napari_cryopick.core.simulate import SimulationConfig
    from napari_cryopick.layers.results import vesicles_layer

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    config = SimulationConfig(
        shape=(512, 512),
        pixel_size=5.0,
        diameter_px=32.0,
        n_particles=0,
        n_vesicles=8,
        vesicle_radius_px=(30.0, 80.0),
        snr=0.5,
    )
    path, truth = _simulated_file(tmp_path, "vesicles", config, seed=2)
    truth = truth[truth["kind"] == "vesicle"].reset_index(drop=True)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    _dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    annotate.dataset_edit.setText("vesicles")
    annotate.dataset_edit.editingFinished.emit()
    circles = annotate.set_kind("vesicle")
    assert circles.mode == "add_ellipse"
    circles.add(vesicles_layer(truth)[0], shape_type="ellipse")
    train.refresh_datasets()
    assert train.datasets_table.item(0, 2).text() == str(len(truth))  # vesicles count
    from napari_cryopick._widgets.result_layers import shared_layer

    # the vesicle annotations made the circles result layer ahead (empty), on later turns
    qtbot.waitUntil(lambda: shared_layer(viewer, "vesicles") is not None, timeout=10_000)
    ahead = shared_layer(viewer, "vesicles")
    assert len(ahead.data) == 0

    # a step budget, not a time budget: the same training on a busy or an idle machine;
    # 100 steps of 8 crops, no preview until the end (60 steps of 4 crops: flaky radii)
    _train_new_model_for_steps_and_pick(train, pick, qtbot, tmp_path, "vesicle", steps=100)
    layer = viewer.layers["vesicles vesicles"]
    assert layer is ahead  # filled in place
    assert list(set(layer.shape_type)) == ["ellipse"]
    centres = np.array([v.mean(axis=0)[::-1] for v in layer.data])  # (x, y)
    widths = np.array([np.ptp(v[:, 1]) for v in layer.data])
    assert len(centres) >= 0.75 * len(truth)
    distance, index = cKDTree(centres).query(truth[["x", "y"]].to_numpy())
    found = distance < 0.25 * truth["diameter"].to_numpy()
    assert found.mean() >= 0.75
    error = widths[index[found]] / truth["diameter"].to_numpy()[found] - 1
    print(
        f"\nvesicles: trained {train.last_result.seconds:.1f} s; circle size errors: "
        f"{np.round(error, 2).tolist()}"
    )
    assert np.std(widths) > 5  # each circle has its own radius
    assert (np.abs(error) <= 0.15).mean() >= 0.85


def test_evaluate_never_preselects_one_layer_for_both(make_napari_viewer):
    from napari_cryopick.layers.results import annotation_points_layer

    viewer = make_napari_viewer()
    data, kwargs, _ = annotation_points_layer(
        _candidates(5), "mic particle", kind="particle", micrograph="mic"
    )
    viewer.add_points(data, **kwargs)
    _dock, evaluate = viewer.window.add_plugin_dock_widget(PLUGIN, "Evaluate")
    assert evaluate.truth_combo.currentText() == "mic particle"
    assert evaluate.pred_combo.currentText() == ""
    assert evaluate.run() is None
    assert "Choose" in evaluate.results_label.text()


# --- 9. reviewing picks written earlier: reload candidates, re-threshold, export ---


def test_reload_candidates_review_and_export(make_napari_viewer, qtbot, tmp_path):
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    viewer = make_napari_viewer()
    for name in ("mic_a", "mic_b"):
        viewer.open(str(_micrograph_file(tmp_path, name, shape=(2048, 2048))), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    candidates = _candidates(300)
    write_picks(candidates.assign(micrograph="mic_a"), folder / "mic_a.star", "star")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.5)
    assert pick.review.load_picks(folder) == ["mic_a"]
    assert "mic_a picks" not in viewer.layers  # the result layers show mic_b, the current one
    rows = pick.review.refresh_review_table()  # mic_a is counted from the session's store
    assert rows[0][:2] == ("mic_a", int((candidates["score"] >= 0.5).sum()))
    viewer.layers.selection.active = viewer.layers["mic_a"]
    layer = viewer.layers["mic_a picks"]
    assert len(layer.data) == 300  # every candidate, shown above the threshold
    assert int(layer.shown.sum()) == int((candidates["score"] >= 0.5).sum())
    pick.set_threshold(0.8)
    assert int(layer.shown.sum()) == int((candidates["score"] >= 0.8).sum())
    rows = pick.review.refresh_review_table()
    assert rows[0][0] == "mic_a"
    assert rows[0][1] == int((candidates["score"] >= 0.8).sum())
    assert pick.review.show_micrograph(0) == "mic_a"
    assert viewer.layers["mic_a"].visible
    assert not viewer.layers["mic_b"].visible
    pick.review.reviewed_check.setChecked(True)
    assert pick.review.refresh_review_table()[0][3] is True

    pick.export_edit.setText(str(tmp_path / "out"))
    assert pick.export_in_background() is not None  # the files are written in a worker
    qtbot.waitUntil(lambda: bool(pick.last_exported), timeout=10_000)
    (written,) = pick.last_exported
    assert len(read_picks(written)) == int((candidates["score"] >= 0.8).sum())


def test_the_review_table_and_next_leave_the_next_click_to_annotate(
    make_napari_viewer, qtbot, tmp_path
):
    """A GUI trial: after Next or a row of the review table the micrograph's image layer
    was selected in pan-zoom mode, and the next click added nothing; the layer list and
    Annotate's Micrograph box selected its annotation layer, in add mode."""
    from napari_cryopick.io.pickfiles import write_picks

    viewer = make_napari_viewer()
    for name in ("mic_a", "mic_b", "mic_c"):
        viewer.open(str(_micrograph_file(tmp_path, name, shape=(512, 512))), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    for name in ("mic_a", "mic_b", "mic_c"):
        write_picks(
            _candidates(20, shape=(512, 512)).assign(micrograph=name), folder / f"{name}.star"
        )
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b", "mic_c"]

    def click_ready(name: str) -> bool:
        active = viewer.layers.selection.active
        return (
            active is not None
            and active.name == f"{name} particle"
            and str(active.mode) in ("add", "Mode.ADD")
            and annotate.micrograph_combo.currentText() == name
        )

    assert pick.review.show_micrograph(0) == "mic_a"
    qtbot.waitUntil(lambda: click_ready("mic_a"), timeout=5000)
    assert pick.review.step_micrograph(+1) == "mic_b"
    qtbot.waitUntil(lambda: click_ready("mic_b"), timeout=5000)
    assert viewer.layers["mic_b"].visible
    assert not viewer.layers["mic_a"].visible
    assert pick.review.step_micrograph(-1) == "mic_a"
    qtbot.waitUntil(lambda: click_ready("mic_a"), timeout=5000)
    # reviewing the picks (the picks layer selected): it stays selected, in its mode, so
    # a click meant to select a false pick adds no label (a review)
    picks = viewer.layers["mic_a picks"]
    viewer.layers.selection.active = picks
    picks.mode = "select"
    assert pick.review.step_micrograph(+1) == "mic_b"
    qtbot.wait(100)
    assert viewer.layers.selection.active is picks
    assert str(picks.mode) in ("select", "Mode.SELECT")
    assert picks.metadata["micrograph"] == "mic_b"


def test_loaded_picks_become_labels_at_their_own_diameter(make_napari_viewer, tmp_path):
    """A napari I/O trial: loaded crYOLO/CSV picks of 56 px became 100 px labels (the
    Pick widget's diameter), and the micrograph's diameter became 100 too."""
    from napari_cryopick._widgets._common import micrograph_diameter
    from napari_cryopick._widgets.annotate import current_labels
    from napari_cryopick.io.pickfiles import write_picks

    viewer = make_napari_viewer()
    for name in ("mic_a", "mic_b", "mic_c"):
        viewer.open(str(_micrograph_file(tmp_path, name, shape=(512, 512))), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    write_picks(
        _candidates(20, shape=(512, 512)).assign(micrograph="mic_a", diameter=56.0),
        folder / "mic_a.csv",
    )
    # RELION's per-micrograph file, named after its micrograph (skipped unsaid before)
    write_picks(
        _candidates(5, shape=(512, 512)).assign(micrograph=""), folder / "mic_b_autopick.star"
    )
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.diameter_spin.value() != 56
    # a file opened with File > Open is shown, not Pick's: said, no empty sidecar
    viewer.open(str(folder / "mic_a.csv"), plugin=PLUGIN)
    viewer.layers.selection.active = viewer.layers["mic_a"]
    assert pick.use_as_labels() is None
    assert "File > Open (mic_a picks from mic_a.csv)" in pick.status.text()
    assert "Load picks" in pick.status.text()
    assert not current_labels(viewer, viewer.layers["mic_a"], "particle").shape[0]
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    assert "none for mic_c" in pick.status.text()
    pick.set_threshold(0.0)
    assert pick.review.show_micrograph(0) == "mic_a"
    mlayer = viewer.layers["mic_a"]
    pick.use_as_labels()
    labels = current_labels(viewer, mlayer, "particle")
    assert len(labels) == 20
    np.testing.assert_allclose(labels["diameter"], 56.0)
    assert micrograph_diameter(mlayer) == 56.0
    assert micrograph_diameter(viewer.layers["mic_b"]) is None
    # picks with no diameter (RELION's) become no labels at a made-up size (a re-trial's
    # became 100 px labels, the widget's diameter, unsaid): Annotate's diameter first
    write_picks(
        _candidates(5, shape=(512, 512)).assign(micrograph="", diameter=np.nan),
        folder / "mic_c_autopick.star",
    )
    assert pick.review.load_picks(folder, only="mic_c") == ["mic_c"]
    assert pick.review.show_micrograph(pick.review.names().index("mic_c")) == "mic_c"
    assert pick.use_as_labels() is None
    assert "hold no diameter" in pick.status.text()
    assert micrograph_diameter(viewer.layers["mic_c"]) is None


def _with_pick_files(make_napari_viewer, tmp_path, names=("mic_a",), n=50, shape=(1024, 1024)):
    """Micrograph files ``names`` open, a STAR file of ``n`` scored candidates of each in
    ``tmp_path/picks`` (not loaded yet), the Pick widget docked at threshold 0: the
    viewer, the widget and the folder of pick files."""
    from napari_cryopick.io.pickfiles import write_picks

    viewer = make_napari_viewer()
    folder = tmp_path / "picks"
    folder.mkdir()
    for name in names:
        viewer.open(str(_micrograph_file(tmp_path, name, shape=shape)), plugin=PLUGIN)
        table = _candidates(n, shape=shape).assign(micrograph=name)
        write_picks(table, folder / f"{name}.star", "star")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.0)
    return viewer, pick, folder


def test_load_picks_keeps_the_ticks_of_corrections_back_from_an_earlier_session(
    make_napari_viewer, tmp_path
):
    """A review trial ticked corrected micrographs (the ticks saved in the pick folder),
    closed napari, opened them again (the corrections back from disk) and pressed Load
    picks…, answering No: the ticks, given to these corrections, went unsaid."""
    from napari_cryopick.io.review import write_reviewed

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path, ("mic_a", "mic_b"))
    pick.review.confirm = lambda _question: True
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    viewer.layers.selection.active = viewer.layers["mic_a"]
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {0}
    layer.remove_selected()  # corrected, not ticked
    viewer.layers.selection.active = viewer.layers["mic_b"]
    layer = viewer.layers["mic_b picks"]
    layer.selected_data = {0, 1}
    layer.remove_selected()  # corrected and ticked: saved into the folder's record
    pick.review.reviewed_check.setChecked(True)
    viewer.close()  # the corrections kept on disk beside the micrograph
    write_reviewed(folder, "mic_a", True)  # the folder's file of mic_a reviewed elsewhere

    again = make_napari_viewer()
    for name in ("mic_a", "mic_b"):
        again.open(str(tmp_path / f"{name}.mrc"), plugin=PLUGIN)
    _dock, pick = again.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert len(session(again).pick_results["mic_b"].picks) == 48  # back from disk
    assert session(again).reviewed == {"mic_b"}  # ticked when kept: back with them
    pick.review.confirm = lambda _question: False  # "No": keep the corrections
    assert pick.review.load_picks(folder) == []
    # mic_b's tick, given to its corrections; not the folder's tick of mic_a's file
    assert session(again).reviewed == {"mic_b"}
    # "Yes": the files' picks replace the corrections, and their ticks are the folder's
    write_reviewed(folder, "mic_b", False)
    pick.review.confirm = lambda _question: True
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    assert session(again).reviewed == {"mic_a"}


def test_load_picks_asks_before_replacing_corrections(make_napari_viewer, tmp_path):
    """Load picks… replaced a micrograph's corrections (deleted and hand-added picks) with
    the file's picks, unasked."""
    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path, ("mic_a", "mic_b"))
    asked = []

    def answer(reply):
        def confirm(question):
            asked.append(question)
            return reply

        return confirm

    pick.review.confirm = answer(True)
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    assert not asked  # nothing of the user's to lose
    viewer.layers.selection.active = viewer.layers["mic_b"]
    layer = viewer.layers["mic_b picks"]
    assert len(layer.data) == 50
    layer.selected_data = {0, 1}
    layer.remove_selected()

    pick.review.confirm = answer(False)  # "No": the corrections stay
    # the folder says both files' picks were reviewed: not mic_b's corrections, kept
    from napari_cryopick.io.review import write_reviewed

    for name in ("mic_a", "mic_b"):
        write_reviewed(folder, name, True)
    assert pick.review.load_picks(folder) == ["mic_a"]
    assert len(asked) == 1
    assert asked[0].startswith("mic_b holds your corrections")
    assert "mic_b kept its corrected picks" in pick.status.text()
    assert len(viewer.layers["mic_b picks"].data) == 48
    assert session(viewer).reviewed == {"mic_a"}

    layer = viewer.layers["mic_b picks"]
    layer.add(np.array([[500.0, 500.0]]))  # and one added by hand (no score)
    pick.review.confirm = answer(True)  # "Yes": the files' picks replace them
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    assert len(asked) == 2
    assert len(viewer.layers["mic_b picks"].data) == 50


def test_load_picks_asks_before_dropping_picks_added_by_hand(make_napari_viewer, tmp_path):

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    asked = []
    pick.review.confirm = lambda question: asked.append(question) or False
    assert pick.review.load_picks(folder) == ["mic_a"]
    viewer.layers["mic_a picks"].add(np.array([[500.0, 500.0]]))
    assert pick.review.load_picks(folder) == []
    assert len(asked) == 1
    assert len(viewer.layers["mic_a picks"].data) == 51


def test_corrections_that_cannot_be_kept_on_disk_are_said(
    make_napari_viewer, tmp_path, monkeypatch
):
    """The corrections' autosave swallowed every error: with the disk full, a review's
    deletions were kept nowhere but in memory, and nothing said so."""
    import napari_cryopick.io.recovery as recovery
    from napari_cryopick._widgets.result_layers import autosave_corrections

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    assert pick.review.load_picks(folder) == ["mic_a"]
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {0}
    layer.remove_selected()

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    warned = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", warned.append)
    monkeypatch.setattr(recovery, "save_corrections", full_disk)
    assert autosave_corrections(viewer, "mic_a") is None
    assert len(warned) == 1
    assert warned[0].startswith("mic_a: your corrections could not be kept on disk")
    assert "No space left" in warned[0]
    assert autosave_corrections(viewer, "mic_a") is None
    assert len(warned) == 1  # once, not at every autosave
    monkeypatch.undo()
    assert autosave_corrections(viewer, "mic_a") is not None  # the disk is back


def test_undo_delete_brings_back_the_picks_deleted_last(make_napari_viewer, tmp_path):
    """Deleted picks were gone for good (picking again keeps them deleted): a box-select
    and Delete too many could not be taken back."""
    from napari_cryopick._widgets.result_layers import has_corrections

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    assert pick.review.load_picks(folder) == ["mic_a"]
    layer = viewer.layers["mic_a picks"]
    scores = sorted(layer.features["score"])
    layer.selected_data = {0, 1, 2}
    layer.remove_selected()
    layer.selected_data = {10}
    layer.remove_selected()
    assert len(layer.data) == 46
    assert has_corrections(viewer, "mic_a")

    assert pick.review.undo_deletion() == 1  # the last deletion first
    assert "mic_a: 1 pick deleted last brought back" in pick.status.text()
    assert len(viewer.layers["mic_a picks"].data) == 47
    pick.review.undo_button.click()
    layer = viewer.layers["mic_a picks"]
    assert len(layer.data) == 50
    assert sorted(layer.features["score"]) == pytest.approx(scores)  # network picks again
    assert int(layer.shown.sum()) == 50
    assert not has_corrections(viewer, "mic_a")  # nothing deleted any more
    assert len(session(viewer).pick_results["mic_a"].picks) == 50
    assert pick.review.undo_deletion() == 0
    assert "nothing deleted to bring back" in pick.status.text()

    # deletions used as training labels are negatives: not brought back as picks
    from napari_cryopick._widgets._common import set_micrograph_settings

    set_micrograph_settings(viewer, viewer.layers["mic_a"], diameter_px=40.0)
    layer.selected_data = {0, 1}
    layer.remove_selected()
    assert pick.use_as_labels() is not None, pick.status.text()
    assert pick.review.undo_deletion() == 0

    # deletions of a closed micrograph are not undone on another file of its name
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {0}
    layer.remove_selected()
    viewer.layers.remove(viewer.layers["mic_a"])
    (tmp_path / "other").mkdir()
    other = _micrograph_file(tmp_path / "other", "mic_a", shape=(1024, 1024), seed=4)
    viewer.open(str(other), plugin=PLUGIN)
    assert pick.review.load_picks(folder) == ["mic_a"]
    assert pick.review.undo_deletion() == 0
    assert len(session(viewer).pick_results["mic_a"].picks) == 50


def test_the_status_follows_the_picks_again_after_an_undo(make_napari_viewer, tmp_path, qtbot):
    """A GUI trial read "3 picks deleted last brought back" through two more deletions."""
    from napari_cryopick._widgets.review import REVIEW_DELAY_MS

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    assert pick.review.load_picks(folder) == ["mic_a"]
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {0, 1, 2}
    layer.remove_selected()
    qtbot.wait(REVIEW_DELAY_MS + 200)
    assert pick.review.undo_deletion() == 3
    qtbot.wait(REVIEW_DELAY_MS + 200)  # the undo's own refresh: its note stays
    assert "mic_a: 3 picks deleted last brought back" in pick.status.text()
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {0, 1}
    layer.remove_selected()
    qtbot.wait(REVIEW_DELAY_MS + 200)
    said = pick.status.text()
    assert "brought back" not in said, said
    assert "48 picks" in said, said


def test_a_box_files_picks_deleted_are_corrections(make_napari_viewer, tmp_path, qtbot):
    """A GUI trial: picks deleted from a BOX file's (no scores) were no corrections: the
    next Load picks… replaced them unasked, closing the micrograph dropped them, and Use as
    training labels made no negatives of them."""
    from napari_cryopick._widgets._common import set_micrograph_settings
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    box = tmp_path / "box"
    box.mkdir()
    write_picks(read_picks(folder / "mic_a.star"), box / "mic_a.box", "box")
    asked = []
    pick.review.confirm = lambda question: asked.append(question) or False
    assert pick.review.load_picks(box) == ["mic_a"]
    assert not asked
    layer = viewer.layers["mic_a picks"]
    assert len(layer.data) == 50
    # drawn as a file's picks (light blue), not white as picks added by hand (a review)
    assert not np.all(np.asarray(layer.border_color)[:, :3] == 1.0, axis=1).any()
    layer.selected_data = {0, 1}
    layer.remove_selected()
    assert pick.review.load_picks(box) == []  # asked: No
    assert asked[-1].startswith("mic_a holds your corrections")
    assert len(layer.data) == 48
    layer.add(np.array([[500.0, 500.0]]))  # one added by hand beside the file's
    assert pick.review.load_picks(box) == []
    assert len(asked) == 2
    # closed and opened again: the corrections come back
    path = tmp_path / "mic_a.mrc"
    viewer.layers.remove(viewer.layers["mic_a"])
    viewer.open(str(path), plugin=PLUGIN)
    qtbot.waitUntil(lambda: "mic_a" in session(viewer).pick_results, timeout=10_000)
    qtbot.waitUntil(lambda: len(viewer.layers["mic_a picks"].data) == 49, timeout=10_000)
    assert "mic_a" not in session(viewer).earlier_model  # no model's picks (a review)
    # the deletions become negatives
    set_micrograph_settings(viewer, viewer.layers["mic_a"], diameter_px=40.0)
    assert pick.use_as_labels() is not None, pick.status.text()
    assert "2 deleted picks as negatives" in pick.status.text()


def test_a_pick_files_corrections_back_next_session_are_no_models(make_napari_viewer, tmp_path):
    """A review: a BOX file's corrected picks, back from disk in the next session, were
    called another model's (Export: "made by another model ... re-picks them")."""
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    box = tmp_path / "box"
    box.mkdir()
    write_picks(read_picks(folder / "mic_a.star"), box / "mic_a.box", "box")
    assert pick.review.load_picks(box) == ["mic_a"]
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {0, 1}
    layer.remove_selected()
    viewer.close()  # before any export: kept on disk
    again = make_napari_viewer()
    again.open(str(tmp_path / "mic_a.mrc"), plugin=PLUGIN)
    _dock, pick = again.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert "picks are back with your corrections" in pick.status.text()
    state = session(again)
    assert len(state.pick_results["mic_a"].picks) == 48
    assert state.pick_results["mic_a"].file_picks
    assert "mic_a" not in state.earlier_model


def test_an_untouched_file_of_scored_and_unscored_picks_is_not_kept_as_corrected(
    make_napari_viewer, tmp_path, qtbot
):
    """A review: an export's picks loaded back (the network's scored, the user's added
    ones unscored) and closed untouched were kept aside as "your corrections"."""
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    table = read_picks(folder / "mic_a.star")
    table.loc[table.index[:5], "score"] = np.nan  # five added by hand before the export
    write_picks(table, mixed / "mic_a.star", "star")
    assert pick.review.load_picks(mixed) == ["mic_a"]
    viewer.layers.remove(viewer.layers["mic_a"])
    viewer.open(str(tmp_path / "mic_a.mrc"), plugin=PLUGIN)
    qtbot.wait(500)
    assert "mic_a" not in session(viewer).pick_results  # nothing of the user's kept


def test_picks_deleted_from_a_file_without_diameters_are_asked_about(make_napari_viewer, tmp_path):
    """A review: deletions of a RELION or Topaz file's picks (no diameters) were replaced by
    the next Load picks… unasked."""
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path)
    bare = tmp_path / "bare"
    bare.mkdir()
    table = read_picks(folder / "mic_a.star")[["micrograph", "x", "y"]]
    write_picks(table, bare / "mic_a.csv", "csv")
    assert read_picks(bare / "mic_a.csv")["diameter"].isna().all()
    asked = []
    pick.review.confirm = lambda question: asked.append(question) or False
    assert pick.review.load_picks(bare) == ["mic_a"]
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = {3}
    layer.remove_selected()
    assert pick.review.load_picks(bare) == []
    assert len(asked) == 1
    assert len(layer.data) == 49


def test_review_closes_what_it_opened_when_stepping_onto_an_open_micrograph(
    make_napari_viewer, tmp_path
):
    """A GUI trial: with m1 open before the review, Next opened m0, then Next onto m1 left
    m0 open (the review keeps one micrograph of its own open at a time)."""
    from napari_cryopick.io.pickfiles import write_picks

    folder = tmp_path / "micrographs"
    folder.mkdir()
    picks = tmp_path / "picks"
    picks.mkdir()
    for index, name in enumerate(("m0", "m1")):
        _micrograph_file(folder, name, shape=(512, 512), seed=index)
        write_picks(_candidates(40, shape=(512, 512), seed=index).assign(micrograph=name),
                    picks / f"{name}.star", "star")  # fmt: skip
    viewer = make_napari_viewer()
    viewer.open(str(folder / "m1.mrc"), plugin=PLUGIN)  # the user's, open before
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.05)
    assert pick.review.review_folder(folder, picks) == 2
    assert pick.review.step_micrograph(+1) == "m0"
    layer = viewer.layers["m0 picks"]
    layer.selected_data = {0}
    layer.remove_selected()
    assert pick.review.step_micrograph(+1) == "m1"
    assert "m0" not in viewer.layers  # closed, as when stepping onto a micrograph not open
    assert "m1" in viewer.layers  # the user's stays
    assert len(session(viewer).pick_results["m0"].picks) == 39  # kept, with its correction
    assert pick.review.step_micrograph(-1) == "m0"
    assert len(viewer.layers["m0 picks"].data) == 39
    # Next on the last row shows it again: still the review's, closed by the next step (a
    # review: it was left open, and one more with each repeat)
    viewer.layers.remove(viewer.layers["m1"])  # (the user's closed)
    assert pick.review.step_micrograph(+1) == "m1"  # opened by the review now
    assert pick.review.step_micrograph(+1) == "m1"
    assert pick.review.step_micrograph(-1) == "m0"
    assert "m1" not in viewer.layers


def test_reviewed_marks_the_micrograph_on_screen(make_napari_viewer, tmp_path):
    """A trial: with row 0 (mic_a) selected in the review table, mic_b shown through the
    layer list, ticking Reviewed marked mic_a (the box showed mic_a's state too)."""
    from napari_cryopick.io.pickfiles import write_picks

    viewer = make_napari_viewer()
    for name in ("mic_a", "mic_b"):
        viewer.open(str(_micrograph_file(tmp_path, name, shape=(512, 512))), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    for name in ("mic_a", "mic_b"):
        write_picks(_candidates(20).assign(micrograph=name), folder / f"{name}.star", "star")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    assert pick.review.show_micrograph(0) == "mic_a"
    pick.review.reviewed_check.setChecked(True)
    viewer.layers.selection.active = viewer.layers["mic_b"]  # another way to switch
    assert not pick.review.reviewed_check.isChecked()  # mic_b's state, not mic_a's
    pick.review.reviewed_check.setChecked(True)
    assert session(viewer).reviewed == {"mic_a", "mic_b"}
    viewer.layers.selection.active = viewer.layers["mic_a"]
    pick.review.reviewed_check.setChecked(False)
    assert session(viewer).reviewed == {"mic_b"}
    rows = pick.review.refresh_review_table()
    assert [(row[0], row[3]) for row in rows] == [("mic_a", False), ("mic_b", True)]


def test_review_a_folder_one_micrograph_at_a_time(make_napari_viewer, tmp_path):
    from napari_cryopick.io.pickfiles import write_picks

    folder = tmp_path / "micrographs"
    folder.mkdir()
    picks = tmp_path / "picks"
    picks.mkdir()
    for index, name in enumerate(("m0", "m1", "m2")):
        _micrograph_file(folder, name, shape=(2048, 2048), seed=index)
        if name != "m2":  # m2 has no pick file
            table = _candidates(100 + 50 * index, seed=index).assign(micrograph=name)
            write_picks(table, picks / f"{name}.star", "star")
    viewer = make_napari_viewer()
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.05)
    assert pick.review.review_folder(folder, picks) == 3
    assert [row[0] for row in pick.review.refresh_review_table()] == ["m0", "m1", "m2"]
    assert pick.review.step_micrograph(+1) == "m0"
    assert [layer.name for layer in viewer.layers if layer.name.startswith("m0")] == [
        "m0",
        "m0 heatmap",  # the shared result layers show m0 (pick files have no heatmap)
        "m0 picks",
    ]
    layer = viewer.layers["m0 picks"]
    assert len(viewer.layers["m0 picks"].data) == 100
    pick.review.reviewed_check.setChecked(True)
    assert pick.review.step_micrograph(+1) == "m1"
    assert "m0" not in viewer.layers  # one micrograph open at a time
    assert "m0 picks" not in viewer.layers
    assert viewer.layers["m1 picks"] is layer  # the same layer, now m1's
    assert len(layer.data) == 150
    layer.selected_data = {0, 1}  # two corrections on m1, then on and back again
    layer.remove_selected()
    assert pick.review.step_micrograph(+1) == "m2"
    assert pick.review.step_micrograph(-1) == "m1"
    assert viewer.layers["m1 picks"] is layer
    assert len(layer.data) == 148  # as the user left it, not reloaded from the file
    assert pick.review.step_micrograph(+1) == "m2"
    assert "m2" in viewer.layers
    # m2 has no pick file: said so (a GUI trial read "Loaded picks of 0 micrograph(s)")
    assert pick.status.text().startswith(f"No picks of m2 in {picks} (looked for")
    rows = pick.review.refresh_review_table()
    assert rows[1][1] == int((_candidates(150, seed=1)["score"] >= 0.05).sum()) - 2  # m1, closed
    assert [row[3] for row in rows] == [True, False, False]
    # napari closed before an export: m1's corrections come back in the next session
    viewer.close()
    again = make_napari_viewer()
    again.open(str(folder / "m1.mrc"), plugin=PLUGIN)
    _dock, pick = again.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert "picks are back with your corrections" in pick.status.text()
    from napari_cryopick._widgets._common import session

    kept = session(again).pick_results["m1"].picks
    assert len(kept) == 148


def test_reviewing_a_second_folder_of_the_same_names_shows_its_own_picks(
    make_napari_viewer, tmp_path, monkeypatch
):
    """A review: folder a's m0 corrected (2 picks deleted) and closed by the review, then
    folder b, of the same file names, reviewed: b's m0 row and micrograph showed a's 98
    picks instead of b's own 30 (results are kept by name), and a's reviewed flag."""
    from napari_cryopick.io.pickfiles import write_picks

    counts = {"a": 100, "b": 30}
    for day, n in counts.items():
        (tmp_path / day / "picks").mkdir(parents=True)
        for index, name in enumerate(("m0", "m1")):
            _micrograph_file(tmp_path / day, name, shape=(512, 512), seed=index + n)
            table = _candidates(n, seed=index + n).assign(micrograph=name)
            write_picks(table, tmp_path / day / "picks" / f"{name}.star", "star")
    viewer = make_napari_viewer()
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.0)
    assert pick.review.review_folder(tmp_path / "a", tmp_path / "a" / "picks") == 2
    assert pick.review.step_micrograph(+1) == "m0"
    layer = viewer.layers["m0 picks"]
    assert len(layer.data) == 100
    layer.selected_data = {0, 1}
    layer.remove_selected()
    pick.review.reviewed_check.setChecked(True)
    assert pick.review.step_micrograph(+1) == "m1"  # a's m0 closed, its picks kept
    viewer.layers.remove(viewer.layers["m1"])  # (the review closes it when b's m1 opens)

    assert pick.review.review_folder(tmp_path / "b", tmp_path / "b" / "picks") == 2
    assert "picks and corrections are kept aside" in pick.status.text()
    rows = pick.review.refresh_review_table()
    assert [(row[0], row[3]) for row in rows] == [("m0", False), ("m1", False)]
    assert rows[0][1] == 0  # b's picks load when it is shown; not a's 98
    assert pick.review.step_micrograph(+1) == "m0"
    assert len(viewer.layers["m0 picks"].data) == 30
    assert len(session(viewer).pick_results["m0"].picks) == 30
    assert not pick.review.reviewed_check.isChecked()
    layer = viewer.layers["m0 picks"]
    layer.selected_data = {0}
    layer.remove_selected()  # b's m0 corrected too
    assert pick.review.step_micrograph(+1) == "m1"  # b's m0 closed by the review, kept

    # a's m0 opened by hand: its own corrections come back (from beside it), not b's picks
    told = []
    monkeypatch.setattr("napari.utils.notifications.show_info", told.append)
    viewer.open(str(tmp_path / "a" / "m0.mrc"), plugin=PLUGIN)
    assert len(told) == 1
    assert told[0].startswith(f"m0: the corrected picks of {tmp_path / 'b' / 'm0.mrc'}")
    assert len(session(viewer).pick_results["m0"].picks) == 98
    assert len(viewer.layers["m0 picks"].data) == 98


def test_export_of_a_reviewed_tiff_folder_flips_the_closed_micrographs_too(
    make_napari_viewer, tmp_path
):
    """A review: TIFF micrographs stepped through with RELION STAR files and 'TIFF y from
    the last row' ticked, then exported: the micrographs the review had closed were
    written with y from the first row (their file and height unknown), the open one right."""
    import tifffile

    from napari_cryopick.io.pickfiles import read_picks, write_picks

    folder, picks = tmp_path / "mics", tmp_path / "picks"
    folder.mkdir()
    picks.mkdir()
    rows = 300
    written = {}
    for index, name in enumerate(("t0", "t1")):
        image = np.random.default_rng(index).normal(size=(rows, 400)).astype(np.float32)
        tifffile.imwrite(folder / f"{name}.tif", image)
        table = _candidates(20, shape=(rows, 400), seed=index).assign(micrograph=name)
        write_picks(table, picks / f"{name}.star", "star")  # as RELION counts y: last row
        written[name] = read_picks(picks / f"{name}.star")
    viewer = make_napari_viewer()
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.0)
    pick.tiff_y_check.setChecked(True)
    assert pick.review.review_folder(folder, picks) == 2
    assert pick.review.step_micrograph(+1) == "t0"
    assert pick.review.step_micrograph(+1) == "t1"  # t0 closed by the review, kept
    assert "t0" not in viewer.layers
    out = pick.export(tmp_path / "out", "star")
    assert sorted(p.name for p in out) == ["t0.star", "t1.star"]
    assert "2 TIFF micrograph(s): y written from the image's last row" in pick.status.text()
    for name in ("t0", "t1"):  # read in, mirrored, mirrored back out: as the files were
        back = read_picks(tmp_path / "out" / f"{name}.star")
        assert sorted(np.round(back["y"], 1)) == sorted(np.round(written[name]["y"], 1)), name


def test_export_after_deleting_every_pick_replaces_the_earlier_file(make_napari_viewer, tmp_path):
    """A review: every (junk) pick of a micrograph deleted, exported again into the same
    folder: no file was written for it, and the earlier export's, with every junk pick,
    stayed for RELION to import."""
    from napari_cryopick.io.pickfiles import read_picks

    viewer, pick, folder = _with_pick_files(make_napari_viewer, tmp_path, n=20, shape=(512, 512))
    assert pick.review.load_picks(folder) == ["mic_a"]
    out = tmp_path / "out"
    assert [p.name for p in pick.export(out, "star")] == ["mic_a.star"]
    assert len(read_picks(out / "mic_a.star")) == 20
    layer = viewer.layers["mic_a picks"]
    layer.selected_data = set(range(len(layer.data)))
    layer.remove_selected()
    # on to the next micrograph (mic_a's edits stored: its result holds no pick now)
    viewer.open(str(_micrograph_file(tmp_path, "mic_b", shape=(512, 512))), plugin=PLUGIN)
    viewer.layers.selection.active = viewer.layers["mic_b"]
    assert not len(session(viewer).pick_results["mic_a"].picks)
    assert [p.name for p in pick.export(out, "star")] == ["mic_a.star"]
    assert len(read_picks(out / "mic_a.star")) == 0


def test_an_export_that_failed_part_way_can_be_run_again_into_its_folder(
    make_napari_viewer, tmp_path, monkeypatch
):
    """The files written before an export failed (micrograph 2 of 2) were complete but not
    recorded: exporting again into the folder refused them as not written by cryopick."""
    import napari_cryopick.workflows.pick as pick_workflow

    _viewer, pick, folder = _with_pick_files(
        make_napari_viewer, tmp_path, ("mic_a", "mic_b"), n=20, shape=(512, 512)
    )
    assert pick.review.load_picks(folder) == ["mic_a", "mic_b"]
    real = pick_workflow.write_micrograph_picks

    def full_disk_at_mic_b(item, *args, **kwargs):
        if item.name == "mic_b":
            raise OSError(28, "No space left on device")
        return real(item, *args, **kwargs)

    monkeypatch.setattr(pick_workflow, "write_micrograph_picks", full_disk_at_mic_b)
    out = tmp_path / "out"
    assert pick.export(out, "star") == []
    assert "Export failed" in pick.status.text()
    assert (out / "mic_a.star").exists()
    monkeypatch.undo()  # the disk has room again
    assert sorted(p.name for p in pick.export(out, "star")) == ["mic_a.star", "mic_b.star"]


def test_export_of_jpeg_micrographs_says_the_tiff_box_is_not_theirs(make_napari_viewer, tmp_path):
    """A review: with 'TIFF y from the last row' ticked and JPEG micrographs exported as
    CBOX, the note said to tick it and export again."""
    from PIL import Image

    from napari_cryopick.io.pickfiles import write_picks

    image = (np.random.default_rng(0).uniform(size=(256, 320)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "jmic.jpg")
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "jmic.jpg"), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    write_picks(_candidates(10, shape=(256, 320)).assign(micrograph="jmic"), folder / "jmic.csv",
                "csv")  # fmt: skip
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.0)
    assert pick.review.load_picks(folder) == ["jmic"]
    pick.tiff_y_check.setChecked(True)
    assert [p.name for p in pick.export(tmp_path / "out", "cbox")] == ["jmic.cbox"]
    said = pick.status.text()
    assert "1 JPEG micrograph(s): the CBOX files count y from the image's first row" in said
    assert "is for TIFF images only" in said
    assert "tick 'TIFF y from the last row' and export again" not in said


def test_reviewing_a_folder_names_a_micrograph_of_that_name_open_from_elsewhere(
    make_napari_viewer, tmp_path
):
    """A re-trial: with a/061 open, reviewing folder b's 061 opened nothing and said
    nothing (one micrograph name is one layer)."""
    folder = tmp_path / "b"
    folder.mkdir()
    _micrograph_file(folder, "m0", shape=(256, 256))
    (tmp_path / "a").mkdir()
    other = _micrograph_file(tmp_path / "a", "m0", shape=(256, 256), seed=5)
    viewer = make_napari_viewer()
    viewer.open(str(other), plugin=PLUGIN)
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.review_folder(folder) == 1
    pick.review.step_micrograph(+1)
    assert f"m0 is open from {other}" in pick.status.text()
    assert str(folder / "m0.mrc") in pick.status.text()


def test_reviewing_a_folder_says_a_micrograph_that_cannot_be_opened(make_napari_viewer, tmp_path):
    """A re-trial: stepping to an unreadable micrograph raised out of the step, unsaid,
    and left the result layers with no micrograph open."""
    from napari_cryopick.io.pickfiles import write_picks

    folder = tmp_path / "mics"
    folder.mkdir()
    _micrograph_file(folder, "m0", shape=(256, 256))
    _micrograph_file(folder, "m1", shape=(256, 256), seed=1)
    (tmp_path / "picks").mkdir()
    write_picks(_candidates(20).assign(micrograph="m0"), tmp_path / "picks" / "m0.star", "star")
    viewer = make_napari_viewer()
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.review_folder(folder, tmp_path / "picks") == 2
    assert pick.review.step_micrograph(+1) == "m0"
    assert "m0 picks" in viewer.layers
    (folder / "m1.mrc").write_bytes(b"not an MRC file")
    assert pick.review.step_micrograph(+1) == "m1"  # the row, to step on from
    assert f"{folder / 'm1.mrc'} could not be opened" in pick.status.text()
    assert "m1.mrc: not a valid MRC file" in pick.status.text()
    assert not [layer.name for layer in viewer.layers if layer.metadata.get("cryopick_shows")]
    # its row says so (a folder trial's broken PNG stayed "not loaded")
    assert pick.review.review_table.item(1, 1).text() == "cannot be opened"
    assert pick.review.step_micrograph(-1) == "m0"  # back: it opens with its picks
    assert "m0 picks" in viewer.layers


def _review_folder_files(tmp_path, names) -> tuple:
    """Micrograph files ``names`` in ``tmp_path/micrographs`` and a STAR file of 20 scored
    candidates of each in ``tmp_path/picks``: the two folders of a folder review."""
    from napari_cryopick.io.pickfiles import write_picks

    folder = tmp_path / "micrographs"
    folder.mkdir()
    picks = tmp_path / "picks"
    picks.mkdir()
    for index, name in enumerate(names):
        _micrograph_file(folder, name, shape=(256, 256), seed=index)
        write_picks(
            _candidates(20, seed=index).assign(micrograph=name), picks / f"{name}.star", "star"
        )
    return folder, picks


def _reviewing(make_napari_viewer, folder, picks) -> tuple:
    """``(viewer, Pick widget)`` of a new napari reviewing ``folder`` with its ``picks``
    folder (Review folder…)."""
    viewer = make_napari_viewer()
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.review.review_folder(folder, picks)
    return viewer, pick


def test_the_review_table_tells_micrographs_not_loaded_from_those_not_picked(
    make_napari_viewer, tmp_path
):
    """A review trial read "0 | –" for micrographs whose files hold 110 picks each: their
    picks were not read yet. One open without a pick file is "not picked"."""
    folder, picks = _review_folder_files(tmp_path, ("m0", "m1"))
    (picks / "m1.star").unlink()
    _viewer, pick = _reviewing(make_napari_viewer, folder, picks)

    def cell(row: int) -> str:
        return pick.review.review_table.item(row, 1).text()

    assert [cell(0), cell(1)] == ["not loaded", "not loaded"]
    assert pick.review.step_micrograph(+1) == "m0"
    assert int(cell(0)) > 0
    assert pick.review.step_micrograph(+1) == "m1"  # open, no pick file to read
    pick.review.refresh_review_table()
    assert cell(1) == "not picked"


def test_export_of_a_folder_review_names_corrections_not_opened_this_session(
    make_napari_viewer, tmp_path, monkeypatch
):
    """A review trial exported a folder review in a new napari session: two micrographs
    corrected in the earlier one, not opened since, were not written, unsaid."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    folder, picks = _review_folder_files(tmp_path, ("m0", "m1"))
    viewer, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    layer = viewer.layers["m0 picks"]
    layer.selected_data = {0, 1}
    layer.remove_selected()  # corrected, kept on disk when napari closes
    viewer.close()

    _again, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    assert pick.review.step_micrograph(+1) == "m1"  # m0 closed by the review: exported
    assert pick.export(tmp_path / "out", "star")
    assert "Not exported" not in pick.status.text(), pick.status.text()
    third = make_napari_viewer()  # a session that opens m1 only
    _dock, pick = third.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.review.review_folder(folder, picks)
    assert pick.review.show_micrograph(1) == "m1"
    assert pick.export(tmp_path / "out2", "star")
    said = pick.status.text()
    assert "Not exported: 1 micrograph(s) of the folder reviewed, not opened in this" in said
    assert "(m0): show them in the review table to export them" in said, said


def test_export_of_a_folder_review_names_the_micrographs_never_opened(
    make_napari_viewer, tmp_path, monkeypatch
):
    """A folder trial reviewed 8 micrographs, opened 3 and exported: "to 3 star file(s)",
    the 5 never opened left out unsaid."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    folder, picks = _review_folder_files(tmp_path, ("m0", "m1", "m2"))
    _viewer, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    assert pick.export(tmp_path / "out", "star")
    said = pick.status.text()
    assert "Not exported: 2 micrograph(s) of the folder reviewed, never opened (m1, m2)" in said
    assert f"their picks are in {picks} as picked" in said, said
    assert pick.review.step_micrograph(+1) == "m1"
    assert pick.review.step_micrograph(+1) == "m2"
    assert pick.export(tmp_path / "out", "star")
    assert "never opened" not in pick.status.text()


def test_a_reviewed_folder_micrograph_closed_by_hand_keeps_its_tick(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    """A folder trial ticked Reviewed on a micrograph and closed its layer: the table lost
    the tick (the review file kept it), and Export said to pick it again, where showing it
    in the table brings its picks back from the pick file."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    folder, picks = _review_folder_files(tmp_path, ("m0", "m1"))
    viewer, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    pick.review.reviewed_check.setChecked(True)
    viewer.layers.remove("m0")  # closed by hand
    rows = pick.review.refresh_review_table()
    assert [(row[0], row[3]) for row in rows] == [("m0", True), ("m1", False)]
    assert pick.review.review_table.item(0, 1).text() == "not loaded"
    pick.export(tmp_path / "out", "star")
    said = pick.status.text()
    assert "(m0) were closed; show m0 in the review table." in said, said
    assert pick.review.show_micrograph(0) == "m0"  # back from its pick file, still ticked
    assert pick.review.reviewed_check.isChecked()
    # closed again, then opened by hand and picked by the network: its picks are not
    # reviewed, and the folder's file keeps its flag (a review: it was written off)
    import json

    from napari_cryopick.io.review import REVIEW_FILE

    viewer.layers.remove("m0")
    viewer.open(str(folder / "m0.mrc"), plugin=PLUGIN)
    pick.diameter_spin.setValue(40.0)
    pick.device_combo.setCurrentText("cpu")
    assert pick.pick_current() is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    assert "m0" not in session(viewer).reviewed
    assert json.loads((picks / REVIEW_FILE).read_text())["reviewed"] == ["m0"]


def test_a_folder_reviews_corrections_come_back_at_their_threshold(
    make_napari_viewer, tmp_path, monkeypatch
):
    """A folder trial reviewed a micrograph at 0.40, deleted two picks and ticked Reviewed;
    after a restart its picks came back, still ticked, at 0.15: 4 more shown and
    exported."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    folder, picks = _review_folder_files(tmp_path, ("m0", "m1"))
    viewer, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    pick.set_threshold(0.4)
    layer = viewer.layers["m0 picks"]
    layer.selected_data = {0, 1}
    layer.remove_selected()
    pick.review.reviewed_check.setChecked(True)
    shown = int(layer.shown.sum())
    viewer.close()

    again, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    assert "picks are back with your corrections" in pick.status.text()
    assert pick.threshold() == pytest.approx(0.4)
    assert int(again.layers["m0 picks"].shown.sum()) == shown
    assert pick.review.reviewed_check.isChecked()


def test_reviewed_flags_survive_closing_napari(make_napari_viewer, tmp_path):
    """The reviewed flag is kept with the pick files and comes back in a new session."""
    import json

    from napari_cryopick.io.review import REVIEW_FILE

    folder, picks = _review_folder_files(tmp_path, ("m0", "m1", "m2"))

    viewer, pick = _reviewing(make_napari_viewer, folder, picks)
    assert pick.review.step_micrograph(+1) == "m0"
    pick.review.reviewed_check.setChecked(True)
    assert pick.review.step_micrograph(+1) == "m1"
    assert pick.review.step_micrograph(+1) == "m2"
    pick.review.reviewed_check.setChecked(True)
    pick.review.reviewed_check.setChecked(False)  # changed their mind: m2 not reviewed
    assert pick.review.step_micrograph(-1) == "m1"
    pick.review.reviewed_check.setChecked(True)
    record = json.loads((picks / REVIEW_FILE).read_text())
    assert record["reviewed"] == ["m0", "m1"]
    assert not [p.name for p in picks.iterdir() if p.name.endswith(".tmp")]
    viewer.close()

    # napari closed and opened again: Review folder… shows the flags saved
    again = make_napari_viewer()
    _dock, pick = again.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert not session(again).reviewed
    pick.review.review_folder(folder, picks)
    assert [row[3] for row in pick.review.refresh_review_table()] == [True, True, False]
    # their picks not read yet: not "0" picks (a review trial read "0 | –" for files of
    # 110 picks each)
    assert pick.review.review_table.item(2, 1).text() == "not loaded"
    assert pick.review.step_micrograph(+1) == "m0"
    assert pick.review.reviewed_check.isChecked()
    assert int(pick.review.review_table.item(0, 1).text()) > 0  # read now
    again.close()

    # and with Load picks… on micrographs opened by hand
    third = make_napari_viewer()
    third.open(str(folder / "m1.mrc"), plugin=PLUGIN)
    third.open(str(folder / "m2.mrc"), plugin=PLUGIN)
    _dock, pick = third.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.load_picks(picks) == ["m1", "m2"]
    assert [(row[0], row[3]) for row in pick.review.refresh_review_table()] == [
        ("m1", True),
        ("m2", False),
    ]

    # a broken review file is reported in one line, and the picks still load
    (picks / REVIEW_FILE).write_text("{not json")
    assert pick.review.load_picks(picks) == ["m1", "m2"]
    assert f"{picks / REVIEW_FILE}: not a cryopick review file" in pick.status.text()


def test_size_filter_on_reloaded_candidates_matches_cryopick_filter(make_napari_viewer, tmp_path):
    """Score threshold and diameter range on reloaded CBOX candidates, all micrographs at once.

    What the widget shows is what ``cryopick filter`` writes for the same
    values, and the user's corrections stay as the slider keeps them.
    """
    from napari_cryopick.cli import main
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    rng = np.random.default_rng(5)
    picks = tmp_path / "picks"
    picks.mkdir()
    viewer = make_napari_viewer()
    for index, name in enumerate(("mic_a", "mic_b")):
        viewer.open(str(_micrograph_file(tmp_path, name, shape=(2048, 2048))), plugin=PLUGIN)
        table = _candidates(200, seed=index).assign(
            micrograph=name, diameter=rng.uniform(20.0, 80.0, 200).round(1)
        )
        write_picks(table, picks / f"{name}.cbox", "cbox")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.3)
    assert pick.review.load_picks(picks) == ["mic_a", "mic_b"]
    viewer.layers.selection.active = viewer.layers["mic_a"]  # the result layers show mic_a
    layer = viewer.layers["mic_a picks"]
    assert len(layer.data) == 200  # every candidate is in the layer
    # the user deletes a shown pick and adds one of their own on mic_a
    deleted = np.asarray(layer.data[layer.shown][0])
    layer.selected_data = {int(np.flatnonzero(layer.shown)[0])}
    layer.remove_selected()
    added = np.array([[1000.0, 1000.0]])
    layer.add(added)

    pick.set_threshold(0.4)
    pick.set_diameter_range(35.0, 60.0)
    assert pick.diameter_range() == (35.0, 60.0)
    out = tmp_path / "filtered"
    assert main([
        "filter", str(picks), "--threshold", "0.4", "--min-diameter", "35",
        "--max-diameter", "60", "--out", str(out),
    ]) == 0  # fmt: skip
    counts = {row[0]: row[1] for row in pick.review.refresh_review_table()}
    assert counts["mic_b"] == len(read_picks(out / "mic_b.cbox"))  # not displayed: the store
    for name in ("mic_a", "mic_b"):
        viewer.layers.selection.active = viewer.layers[name]  # mic_a's corrections are kept
        now = viewer.layers[f"{name} picks"]
        scored = np.isfinite(now.features["score"].to_numpy(float))
        shown = now.data[now.shown & scored][:, ::-1]  # (x, y) of the shown network picks
        expected = read_picks(out / f"{name}.cbox")[["x", "y"]].to_numpy()
        if name == "mic_a":  # the pick the user deleted stays deleted
            assert not np.any(np.all(np.isclose(now.data, deleted), axis=1))
            expected = expected[~np.all(np.isclose(expected, deleted[::-1], atol=0.01), axis=1)]
        assert len(shown) == len(expected) > 0, name
        assert np.allclose(np.sort(shown, axis=0), np.sort(expected, axis=0), atol=0.01)
        diameters = now.features["diameter"].to_numpy(float)[now.shown & scored]
        assert diameters.min() >= 35.0
        assert diameters.max() <= 60.0
    viewer.layers.selection.active = viewer.layers["mic_a"]
    layer = viewer.layers["mic_a picks"]
    assert np.any(np.all(np.isclose(layer.data[layer.shown], added), axis=1))  # theirs stays
    assert "diameter 35–60 px" in pick.status.text()
    counts = {row[0]: row[1] for row in pick.review.refresh_review_table()}
    assert counts["mic_b"] == len(read_picks(out / "mic_b.cbox"))

    # "any" again: the whole range is back
    pick.set_diameter_range(None, None)
    viewer.layers.selection.active = viewer.layers["mic_b"]
    layer = viewer.layers["mic_b picks"]
    assert int(layer.shown.sum()) == int((layer.features["score"] >= 0.4).sum())


# --- fibers: draw paths, train, pick traced paths ---


def _click_at(viewer, qtbot, yx, double=False):
    """A real mouse click on the canvas at world position ``yx`` (row, column)."""
    canvas = viewer.window._qt_viewer.canvas
    x, y, _z, w = canvas.view.scene.transform.map([yx[1], yx[0], 0, 1])
    point = QPoint(round(x / w), round(y / w))
    qtbot.mouseMove(canvas.native, point)
    qtbot.wait(10)  # (the move handled before the press: a CI run under load lost a click)
    qtbot.mouseClick(canvas.native, Qt.LeftButton, pos=point)
    if double:
        qtbot.mouseDClick(canvas.native, Qt.LeftButton, pos=point)
    qtbot.wait(60)


def test_a_fiber_clicked_point_by_point_is_one_path(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    # a trial: in napari's "add_path" mode (freehand since napari 0.5) clicks along 3
    # fibers made 14 two-point paths, every other gap left unlabelled; the user guide
    # says: click along each fiber, double-click to end it
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer(show=True)
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    viewer.open(str(_micrograph_file(tmp_path, "fibers")), plugin=PLUGIN)
    annotate.diameter_spin.setValue(16)
    paths = annotate.set_kind("fiber")
    viewer.reset_view()
    qtbot.wait(50)
    fibers = [
        [(40.0, 30.0), (60.0, 70.0), (80.0, 110.0), (100.0, 150.0), (120.0, 190.0)],
        [(200.0, 40.0), (190.0, 100.0), (180.0, 160.0)],
    ]
    for fiber in fibers:
        for index, yx in enumerate(fiber):
            _click_at(viewer, qtbot, yx, double=index == len(fiber) - 1)
    assert list(paths.shape_type) == ["path", "path"]
    for drawn, clicked in zip(paths.data, fibers):
        distinct = np.unique(np.round(drawn), axis=0)
        assert len(distinct) == len(clicked)
        # every clicked point is a vertex (within a screen pixel or two)
        gaps = np.linalg.norm(np.asarray(clicked)[:, None] - drawn[None], axis=2).min(axis=1)
        assert gaps.max() < 3.0

    # a re-trial left a fiber unfinished (no double-click): it was saved with a vertex
    # where the mouse left the canvas, and after Alt-1, Alt-3 the next fiber's clicks
    # joined it into one path
    unfinished = [(230.0, 30.0), (235.0, 80.0), (240.0, 130.0)]
    for yx in unfinished:
        _click_at(viewer, qtbot, yx)
    canvas = viewer.window._qt_viewer.canvas
    qtbot.mouseMove(canvas.native, QPoint(5, 5))  # towards the layer list
    qtbot.wait(20)

    def saved_paths():
        annotate.save_all()
        saved = load_annotations(viewer.layers["fibers"].source.path)
        fibers_saved = saved.of_kind("fiber")
        return [t[["x", "y"]].to_numpy() for _, t in fibers_saved.groupby("tube_id", sort=True)]

    last = saved_paths()[-1]  # Save now ends the path as it was clicked
    np.testing.assert_allclose(last[:, ::-1], unfinished, atol=3.0)
    assert len(paths.data) == 3
    _click_at(viewer, qtbot, (20.0, 200.0))  # a new path, not the unfinished one's
    _click_at(viewer, qtbot, (60.0, 220.0))
    annotate.set_kind("particle")  # Alt-1, then Alt-3: the path ends where it was
    annotate.set_kind("fiber")
    again = [(150.0, 200.0), (170.0, 230.0)]
    for index, yx in enumerate(again):
        _click_at(viewer, qtbot, yx, double=index == len(again) - 1)
    ends = saved_paths()
    assert len(ends) == 5
    np.testing.assert_allclose(ends[3][:, ::-1], [(20.0, 200.0), (60.0, 220.0)], atol=3.0)
    np.testing.assert_allclose(np.unique(np.round(ends[4][:, ::-1]), axis=0), again, atol=3.0)
    # another micrograph opened mid-fiber, then back: the path ended there, the next
    # clicks make a path of their own
    _click_at(viewer, qtbot, (100.0, 230.0))
    _click_at(viewer, qtbot, (120.0, 240.0))
    viewer.open(str(_micrograph_file(tmp_path, "other", seed=3)), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "other", timeout=5000)
    annotate.micrograph_combo.setCurrentText("fibers")
    paths = annotate.set_kind("fiber")
    for index, yx in enumerate(again):
        _click_at(viewer, qtbot, yx, double=index == len(again) - 1)
    ends = saved_paths()
    assert len(ends) == 7
    np.testing.assert_allclose(ends[5][:, ::-1], [(100.0, 230.0), (120.0, 240.0)], atol=3.0)


@pytest.mark.slow
def test_fibers_traced_from_the_gui_follow_the_fibers(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Paths drawn with Annotate's fiber tool train a fiber model; Pick traces the fibers."""
    from scipy.spatial import cKDTree

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    width = 24.0
    config = SimulationConfig(
        shape=(512, 512),
        n_particles=0,
        n_fibers=3,
        fiber_width_px=width,
        fiber_curvature=0.3,
        snr=2.0,
    )
    simulated = simulate_micrograph(config, seed=7, name="fibers")
    path = tmp_path / "fibers.mrc"
    write_mrc(path, simulated.image, pixel_size=simulated.pixel_size)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    _dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    annotate.dataset_edit.setText("fibers")
    annotate.dataset_edit.editingFinished.emit()
    annotate.diameter_spin.setValue(width)  # for fibers: their width
    paths = annotate.set_kind("fiber")
    assert paths.mode == "add_polyline"
    # the user clicks along each fiber every ~2 widths (napari rows/cols)
    drawn = [picks_to_napari(make_picks(line[::4, 0], line[::4, 1])) for line in simulated.fibers]
    paths.add(drawn, shape_type="path")
    train.refresh_datasets()

    # step-bounded (the same training on a busy or an idle machine), small
    train.batch_spin.setValue(4)
    _train_new_model_for_steps_and_pick(train, pick, qtbot, tmp_path, "fiber", steps=60)
    layer = viewer.layers["fibers fibers"]
    assert set(layer.shape_type) == {"path"}
    traced = [v[:, ::-1] for v in layer.data]  # (x, y) vertices of each traced path
    truth = np.concatenate([np.asarray(line, float) for line in simulated.fibers])
    tree = cKDTree(truth)
    distances = [tree.query(v)[0] for v in traced]
    mean = float(np.mean(np.concatenate(distances)))
    # each true fiber is followed by a traced path over most of its length
    covered = [
        float(
            np.mean(cKDTree(np.concatenate(traced)).query(np.asarray(line, float))[0] < width / 2)
        )
        for line in simulated.fibers
    ]
    print(
        f"\nfibers: trained {train.last_result.seconds:.1f} s, {len(traced)} paths, "
        f"mean distance {mean:.1f} px, coverage {np.round(covered, 2).tolist()}"
    )
    assert mean < width / 2
    assert min(covered) >= 0.6


# --- a folder opened with every widget docked: the last micrograph is followed, once ---


def test_a_folder_opened_with_the_widgets_docked_follows_its_last_micrograph_once(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    # a GUI trial: napari froze for a minute opening a folder of 50 micrographs with the
    # widgets docked (each micrograph, selected in turn as napari added it, was followed:
    # an annotation layer each, every layer hidden and shown again, tables redone), and
    # opening the folder again took four minutes and said "open already" 50 times
    from napari_cryopick.io.annotations import Annotations, save_annotations
    from napari_cryopick.layers.points import OPENING_KEY

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    folder = tmp_path / "mics"
    folder.mkdir()
    names = [f"m{i}" for i in range(6)]
    paths = [_micrograph_file(folder, name, shape=(64, 64), seed=i) for i, name in enumerate(names)]
    clicks = make_picks([10.0, 30.0], [12.0, 40.0], micrograph="m1")
    save_annotations(Annotations(paths[1], clicks, diameter_px=12.0))  # clicked before
    viewer = make_napari_viewer(show=True)
    widgets = {}
    for name in ("Annotate", "Train", "Pick", "Evaluate"):
        _dock, widgets[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    annotate = widgets["Annotate"]
    viewer.open(str(folder), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "m5", timeout=5000)
    qtbot.wait(50)
    annotation = [
        layer.name for layer in viewer.layers if layer.metadata.get("cryopick_role") == "annotation"
    ]
    # the saved clicks are loaded; of the rest, only the one shown has a layer to click on
    assert sorted(annotation) == ["m1 particle", "m5 particle"]
    assert len(viewer.layers["m1 particle"].data) == 2
    assert [layer.name for layer in viewer.layers if layer.visible and layer.name in names] == [
        "m5"
    ]
    assert viewer.layers.selection.active.name == "m5 particle"
    assert not any(OPENING_KEY in layer.metadata for layer in viewer.layers)
    # any of them is followed when chosen later
    viewer.layers.selection.active = viewer.layers["m2"]
    assert annotate.micrograph_combo.currentText() == "m2"
    assert viewer.layers["m2"].visible
    assert not viewer.layers["m5"].visible
    assert "m2 particle" in viewer.layers
    # the folder opened again: nothing opened twice, said once
    before = len(viewer.layers)
    with pytest.warns(UserWarning, match=r"6 micrograph\(s\) of it are open already") as said:
        viewer.open(str(folder), plugin=PLUGIN)
    assert len(said) == 1
    assert len(viewer.layers) == before
    # another folder's files of the same names: said as such (a re-trial read "open already")
    other = tmp_path / "other"
    other.mkdir()
    _micrograph_file(other, "m0", shape=(64, 64), seed=9)
    with pytest.warns(
        UserWarning,
        match=r"a micrograph of the same name from another file is open \(m0.mrc: .*mics/m0.mrc",
    ):
        viewer.open(str(other), plugin=PLUGIN)
    assert len(viewer.layers) == before


def test_docks_share_a_column_by_what_they_hold():
    from napari_cryopick._widgets._common import _water_fill

    # everything fits: each its need
    assert _water_fill([100, 200], 400) == [100, 200]
    # the small one whole, the rest share what it leaves
    assert _water_fill([300, 1150, 730], 980) == [300, 340, 340]
    # none fits an equal share: equal shares
    assert _water_fill([316, 1182, 763, 571], 978) == [244, 244, 244, 244]


def test_load_picks_says_how_many_picks_a_command_line_run_wrote_are_hidden(
    make_napari_viewer, tmp_path
):
    """A round-trip trial: ``cryopick pick`` wrote picks down to the model's 0.101, Load
    picks… showed them at the slider's 0.15, and Export wrote fewer, unsaid."""
    import torch

    from napari_cryopick.cli import main
    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.core.model.checkpoint import save_checkpoint
    from napari_cryopick.io.pickfiles import read_picks

    torch.manual_seed(0)
    model = Detector(DetectorConfig(target_diameter_px=20.0))
    with torch.no_grad():  # spread the scores (an untrained head gives ~0.10 everywhere)
        model.heads["generic"].heatmap[2].weight.mul_(300.0)
        model.heads["generic"].heatmap[2].bias.sub_(3.5)
    model_file = save_checkpoint(tmp_path / "tiny.pt", model)
    paths = [_micrograph_file(tmp_path, name, seed=i) for i, name in enumerate(("m1", "m2"))]
    out = tmp_path / "picks"
    assert main([
        "pick", *map(str, paths), "--model", str(model_file), "--diameter", "20",
        "--threshold", "0.05", "--format", "star", "--out", str(out),
    ]) == 0  # fmt: skip
    written = {p.stem: read_picks(p) for p in sorted(out.glob("*.star"))}
    hidden = sum(int(((t["score"] >= 0.05) & (t["score"] < 0.3)).sum()) for t in written.values())
    assert hidden > 0  # (the test's premise: picks between the two thresholds)

    viewer = make_napari_viewer()
    for path in paths:
        viewer.open(str(path), plugin=PLUGIN)
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.set_threshold(0.3)
    assert pick.review.load_picks(out) == ["m1", "m2"]
    said = pick.status.text()
    assert (
        f"{hidden} of the files' picks score below the threshold they are shown at (0.30) "
        "and are hidden: Export writes only the picks shown (the files were picked at 0.05"
    ) in said, said
    pick.set_threshold(0.05)  # shown as written: nothing to say
    assert pick.review.load_picks(out) == ["m1", "m2"]
    assert "hidden" not in pick.status.text(), pick.status.text()


def test_corrections_only_of_a_pick_files_picks_labels_the_users_edits_alone(
    make_napari_viewer, tmp_path, monkeypatch
):
    """A review: a pick file's picks hold no score, so 'Corrections only' took every one
    of them for the user's own and made them all labels."""
    from napari_cryopick._widgets.annotate import current_labels
    from napari_cryopick._widgets.pick import CORRECTIONS_ONLY, PickWidget
    from napari_cryopick.io.pickfiles import write_picks

    monkeypatch.setattr(PickWidget, "confirm_labels", lambda _w, _q: CORRECTIONS_ONLY)
    viewer = make_napari_viewer()
    viewer.open(str(_micrograph_file(tmp_path, "mic_a", shape=(512, 512))), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    boxes = _candidates(12, shape=(512, 512)).assign(micrograph="mic_a")
    write_picks(boxes, folder / "mic_a.box", "box")  # (a BOX file holds no score)
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.load_picks(folder) == ["mic_a"]
    layer = viewer.layers["mic_a picks"]
    assert len(layer.data) == 12
    layer.selected_data = {0}
    layer.remove_selected()  # a deletion
    layer.selected_data = set()
    layer.add(np.array([5.0, 5.0]))  # a particle added (no box lay there)
    assert pick.use_as_labels() is not None, pick.status.text()
    labels = current_labels(viewer, viewer.layers["mic_a"], "particle")
    assert len(labels) == 1, labels  # the one added, not the file's 11 picks
    assert len(current_labels(viewer, viewer.layers["mic_a"], "negative")) == 1
    # a file's circles hold no score either: none of them taken (not every one)
    viewer.open(str(_micrograph_file(tmp_path, "mic_v", shape=(512, 512))), plugin=PLUGIN)
    circles = make_picks([100.0, 300.0], [100.0, 300.0], diameter=80.0, kind="vesicle")
    write_picks(circles.assign(micrograph="mic_v"), folder / "mic_v.csv", "csv")
    assert pick.review.load_picks(folder, only="mic_v") == ["mic_v"]
    viewer.layers.selection.active = viewer.layers["mic_v"]
    pick.use_as_labels()
    assert len(current_labels(viewer, viewer.layers["mic_v"], "vesicle")) == 0
