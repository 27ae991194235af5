"""Opening a folder of micrographs in napari with the four widgets docked.

A GUI trial opened a folder of 50 micrographs with Annotate, Train, Pick and
Evaluate docked: napari froze for a minute, and opening the folder again took
four. This writes N noise micrographs of SIZE px (MRC, float32) into a temporary
folder, docks the four widgets through ``add_plugin_dock_widget`` (as napari
does), opens the folder with the napari-cryopick reader, lets the event loop
run the queued work, and reports the seconds, then the same for opening the
folder a second time. Needs a display (``xvfb-run -a``).

    xvfb-run -a .venv/bin/python benchmarks/bench_open_folder.py --n 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _settle(app, seconds: float = 0.5) -> None:
    """Run the event loop until it has been idle a moment (queued steps done)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def run(n: int, size: int) -> dict[str, float]:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_cryopick.io.micrographs import write_mrc

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(n):
            write_mrc(
                folder / f"mic_{i:03d}.mrc", rng.normal(size=(size, size)).astype(np.float32), 1.0
            )
        viewer = napari.Viewer(show=True)
        for name in ("Annotate", "Train", "Pick", "Evaluate"):
            viewer.window.add_plugin_dock_widget("napari-cryopick", name)
        app = QApplication.instance()
        _settle(app)
        times = {}
        for label in ("open", "open again"):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                viewer.open(str(folder), plugin="napari-cryopick")
            app.processEvents()
            times[label] = time.perf_counter() - start
            _settle(app)
        times["layers"] = len(viewer.layers)
        viewer.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="micrographs (default 50)")
    parser.add_argument("--size", type=int, default=1024, help="their size in px (default 1024)")
    parser.add_argument("--out", default=str(HERE / "results" / "open_folder"), help="results stem")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    times = run(args.n, args.size)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "commit": commit,
        "n": args.n,
        "size": args.size,
        **{key: round(value, 2) for key, value in times.items()},
    }
    print(json.dumps(record))
    Path(f"{args.out}.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
