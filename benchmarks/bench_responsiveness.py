"""How long the napari viewer stops answering, through the whole picking loop.

The plugin promises a viewer that stays responsive while it trains and picks. This
drives napari as a user would, through the four widgets docked the way napari docks
them (``add_plugin_dock_widget``), on four real micrographs (two ribosome 1024 px PNGs
and two β-gal 4096 px JPGs of ``../shared/data/real``, copied to a temporary folder):
open them, dock Annotate and click particles on two, dock Train and train (the shortest
time limit; then a one-minute training left running, panned over, and cancelled), dock
Pick, pick one micrograph and then all four, drag the threshold slider, switch
micrographs, export, dock Evaluate and score against a truth file.

A 20 ms ``QTimer`` in the GUI thread records how late each tick comes; a tick more than
150 ms late is a stall a user feels (a click or a drag answered late). Garbage
collections over 20 ms are timed (``gc.callbacks``), with the thread they ran in, and
each stall notes the GUI thread's CPU time in it (the rest: waiting for the GIL another
thread held). Each action reports its worst lateness and its stalls.

Needs a display (``xvfb-run -a``); the models, annotations and napari settings it
writes go to a temporary folder.

    xvfb-run -a .venv/bin/python benchmarks/bench_responsiveness.py

Writes ``benchmarks/results/responsiveness.{md,json}`` (``--out`` another prefix).
Adapted from a responsiveness trial's script (session 66).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REAL = Path(os.environ.get("CRYOPICK_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
FILES = {
    "empiar10028_ribosome": ("061_10028.png", "062_10028.png"),
    "empiar10017_bgal": ("Falcon_2012_06_12-14_33_35_0.jpg", "Falcon_2012_06_12-15_14_01_0.jpg"),
}
DIAMETERS = {"empiar10028_ribosome": 56.0, "empiar10017_bgal": 108.0}
TICK_MS = 20
STALL_MS = 150.0


class Monitor:
    """The GUI thread's 20 ms timer: each tick's lateness, per action; timed collections."""

    def __init__(self) -> None:
        from qtpy.QtCore import Qt, QTimer

        self.start = time.perf_counter()
        self.main = threading.get_ident()
        self.action = "start"
        self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.late: dict[str, list[float]] = collections.defaultdict(list)
        self.stalls: list[dict] = []
        self.collections: list[dict] = []
        self._began: dict[int, float] = {}
        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        gc.callbacks.append(self._collected)

    def _collected(self, phase: str, info: dict) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._began[ident] = time.perf_counter()
            return
        began = self._began.pop(ident, None)
        if began is not None and (time.perf_counter() - began) * 1000 > 20:
            self.collections.append(
                {
                    "t": round(began - self.start, 3),
                    "ms": round((time.perf_counter() - began) * 1000, 1),
                    "generation": info.get("generation"),
                    "gui_thread": ident == self.main,
                    "action": self.action,
                }
            )

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        late = (now - self.last) * 1000 - TICK_MS
        self.late[self.action].append(late)
        if late > STALL_MS:
            self.stalls.append(
                {
                    "action": self.action,
                    "t": round(self.last - self.start, 3),
                    "ms": round(late, 1),
                    "gui_cpu_ms": round((cpu - self.last_cpu) * 1000, 1),
                }
            )
        self.last, self.last_cpu = now, cpu

    def stop(self) -> None:
        self.timer.stop()
        gc.callbacks.remove(self._collected)


def pump(seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(condition, timeout: float) -> bool:
    """Run the event loop until ``condition()`` holds (checked every 50 ms) or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        pump(0.05)
    return True


def run(work: Path) -> dict:
    """Drive the loop once; returns the rows, stalls and collections."""
    import napari
    import pandas as pd
    from qtpy.QtWidgets import QApplication

    data = work / "data"
    for dataset, names in FILES.items():
        (data / dataset).mkdir(parents=True)
        for name in names:
            shutil.copy(REAL / dataset / "micrographs" / name, data / dataset / name)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)

    def dismiss() -> None:  # a question the loop does not expect: answered No, counted
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            notes.append(f"dialog dismissed during {monitor.action!r}")
            dialog.reject()

    from qtpy.QtCore import QTimer

    modal = QTimer()
    modal.setInterval(300)
    modal.timeout.connect(dismiss)
    modal.start()
    monitor = Monitor()
    notes: list[str] = []
    seconds: dict[str, float] = {}
    pump(2.0)

    @contextlib.contextmanager
    def action(name: str, settle: float = 0.8):
        monitor.action = name
        began = time.perf_counter()
        yield
        pump(settle)  # the ticks after a synchronous call are this action's
        seconds[name] = round(time.perf_counter() - began, 2)
        monitor.action = "between actions"

    def layer(name: str):
        return viewer.layers[Path(name).stem]

    def select(name: str) -> None:
        viewer.layers.selection.active = layer(name)

    rib1, rib2 = FILES["empiar10028_ribosome"]
    bgal1, bgal2 = FILES["empiar10017_bgal"]
    for dataset, name in (
        ("empiar10028_ribosome", rib1),
        ("empiar10028_ribosome", rib2),
        ("empiar10017_bgal", bgal1),
        ("empiar10017_bgal", bgal2),
    ):
        with action(f"open {name}", settle=1.0):
            viewer.open(str(data / dataset / name), plugin="napari-cryopick")
    with action("dock Annotate", settle=1.5):
        _dock, annotate = viewer.window.add_plugin_dock_widget("napari-cryopick", "Annotate")
    for dataset, name in (("empiar10028_ribosome", rib1), ("empiar10028_ribosome", rib2)):
        with action(f"switch to {name}"):
            select(name)
        with action(f"14 clicks on {name}", settle=1.2):
            annotate.diameter_spin.setValue(DIAMETERS[dataset])
            truth = pd.read_csv(REAL / dataset / "picks" / f"{Path(name).stem}.csv").head(14)
            points = annotate.set_kind("particle")
            pump(0.3)
            for x, y in zip(truth["x"], truth["y"], strict=True):
                points.add([[float(y), float(x)]])  # what a click in adding mode does
                pump(0.35)  # a user's pace
    with action("dock Train", settle=1.5):
        _dock, train = viewer.window.add_plugin_dock_widget("napari-cryopick", "Train")
    with action("train (0.01 min), to the end", settle=2.0):
        train.time_spin.setValue(0.01)  # (0 is "auto")
        train.train_button.click()
        wait_until(lambda: train.worker is None, 400)
    trained = train.last_result is not None
    with action("train (1 min) running, 6 s", settle=0.0):
        train.time_spin.setValue(1.0)
        train.train_button.click()
        pump(6.0)
    with action("train running, view panned 6 s", settle=0.0):
        centre_y, centre_x = viewer.camera.center[-2:]
        for step in range(150):  # a drag: the camera moves every 40 ms, a redraw each
            viewer.camera.center = (centre_y + 30 * ((step // 10) % 2), centre_x + 3 * (step % 10))
            pump(0.04)
    with action("train: cancel, until stopped", settle=2.0):
        train.cancel_button.click()
        wait_until(lambda: train.worker is None, 200)
    with action("dock Pick", settle=2.0):
        _dock, pick = viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")
    with action(f"pick current ({rib1})", settle=1.5):
        select(rib1)
        pick.pick_current_button.click()
        wait_until(lambda: pick.worker is None, 400)
    with action("threshold slider dragged", settle=1.0):
        slider = pick.threshold_slider
        start = slider.value()
        slider.setSliderDown(True)
        for value in range(20, 500, 16):
            slider.setSliderPosition(value)
            pump(0.03)
        slider.setSliderPosition(start)
        slider.setSliderDown(False)
    with action("pick all open (4)", settle=2.0):
        pick.pick_all_button.click()
        wait_until(lambda: pick.worker is None, 550)
    with action(f"switch to {bgal2} (picked)", settle=1.5):
        select(bgal2)
    with action("export picks", settle=1.5):
        (work / "export").mkdir()
        pick.export_edit.setText(str(work / "export"))
        pick.export_button.click()
        wait_until(lambda: pick.worker is None, 200)
    with action(f"switch to {rib1}", settle=1.0):
        select(rib1)
    with action("dock Evaluate", settle=1.5):
        _dock, evaluate = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    with action("evaluate against a truth file", settle=1.0):
        evaluate.load_truth(REAL / "empiar10028_ribosome" / "picks" / f"{Path(rib1).stem}.csv")
        evaluate.evaluate_button.click()
    with action("idle 5 s", settle=5.0):
        pass
    monitor.stop()
    modal.stop()
    done = {
        "trained": trained,
        "picked": sorted(session_picked(viewer)),
        "exported": sorted(os.listdir(work / "export")),
        "evaluated": evaluate.report is not None,
    }
    viewer.close()
    rows = []
    for name, lates in monitor.late.items():
        if name in ("start", "between actions"):
            continue
        rows.append(
            {
                "action": name,
                "seconds": seconds.get(name, 0.0),
                "worst_ms": round(max(lates, default=0.0), 1),
                "stalls": sum(late > STALL_MS for late in lates),
            }
        )
    return {
        "rows": rows,
        "stalls": monitor.stalls,
        "collections": monitor.collections,
        "notes": notes,
        "done": done,
    }


def session_picked(viewer) -> list[str]:
    """The micrographs with picks in the session (the loop picked them)."""
    from napari_cryopick._widgets._common import session

    return list(session(viewer).pick_results)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def report(result: dict, meta: dict) -> str:
    """The Markdown section of ``docs/benchmarks.md``."""
    lines = [
        "# The viewer's responsiveness through the picking loop",
        "",
        f"{meta['date']}, commit {meta['commit']}, {meta['cpu']} ({meta['cores']} cores), "
        f"load {meta['load'][0]:.1f} before the run, napari {meta['napari']}, "
        f"{meta['display']}:",
        "",
        "    xvfb-run -a .venv/bin/python benchmarks/bench_responsiveness.py",
        "",
        "napari driven through the four widgets (`add_plugin_dock_widget`) on two ribosome "
        "1024 px PNGs and two β-gal 4096 px JPGs of the real data; a 20 ms timer in the GUI "
        f"thread; a stall is a tick more than {STALL_MS:.0f} ms late. Loop completed: "
        f"trained {result['done']['trained']}, picked {len(result['done']['picked'])} "
        f"micrographs, {len(result['done']['exported'])} files exported, evaluated "
        f"{result['done']['evaluated']}.",
        "",
        "| action | seconds | worst lateness (ms) | stalls > 150 ms |",
        "| --- | --- | --- | --- |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['action']} | {row['seconds']:.1f} | {row['worst_ms']:.0f} | {row['stalls']} |"
        )
    lines += ["", "Stalls (GUI-thread CPU in them; the rest waited for another thread):", ""]
    for stall in result["stalls"]:
        collected = [
            f"{c['ms']:.0f} ms collection{'' if c['gui_thread'] else ' in another thread'}"
            for c in result["collections"]
            if stall["t"] <= c["t"] <= stall["t"] + stall["ms"] / 1000 + TICK_MS / 1000
        ]
        lines.append(
            f"- {stall['action']}: {stall['ms']:.0f} ms, GUI-thread CPU {stall['gui_cpu_ms']:.0f} ms"
            + (f" ({', '.join(collected)})" if collected else "")
        )
    if result["notes"]:
        lines += ["", "Notes: " + "; ".join(result["notes"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "responsiveness")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cryopick-responsiveness-") as folder:
        work = Path(folder)
        # this run's models, annotations and napari settings, not the user's (before
        # napari reads its settings)
        os.environ["NAPARI_CONFIG"] = str(work / "napari_settings.yaml")
        os.environ["CRYOPICK_ANNOTATION_DIR"] = str(work / "annotations")
        os.environ["XDG_DATA_HOME"] = str(work / "xdg")
        import napari

        meta = {
            "date": dt.date.today().isoformat(),
            "commit": _commit(),
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "load": load,
            "napari": napari.__version__,
            "display": "Xvfb" if os.environ.get("DISPLAY") else "no display",
        }
        result = run(work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({**result, "meta": meta}, indent=1) + "\n")
    text = report(result, meta)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
