"""Screenshots of the napari-cryopick widgets on a real micrograph, for docs/user-guide.md.

Run under a (virtual) display from the repository root::

    xvfb-run -a .venv/bin/python docs/scripts/screenshots.py [REAL_DATA_DIR]

It copies one micrograph of ``empiar10028_ribosome`` to a temporary folder (so
annotation sidecars never land in the shared data), clicks 40 of its labelled
ribosomes, trains a small model in the Train widget's worker, picks, and
evaluates against the labels, saving ``docs/images/gui_*.png``. The Train
screenshot shows the new model's exemplar bank (thumbnails of the clicked
ribosomes). The last one, ``gui_all_1920x1080.png``, docks all four widgets in
a 1920 x 1080 window (each widget scrolls inside its dock).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
DATASET = "empiar10028_ribosome"
NAME = "061_10028"


def _wait(app, condition, timeout_s: float = 600.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() > end:
            raise TimeoutError("gave up waiting")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)


def _save(viewer, app, name: str) -> Path:
    """Screenshot of the whole window, palette-quantised to stay small."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification
    from PIL import Image

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # e.g. a backend warning raised before settings applied
    for _ in range(10):
        app.processEvents()
    path = IMAGES / name
    viewer.screenshot(str(path), canvas_only=False)
    picture = Image.open(path).convert("RGB")
    for colors in (64, 48, 32):  # the noisy micrograph dominates the size: < 300 KB
        picture.quantize(colors=colors, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size < 290_000:
            break
    print(f"{path}: {path.stat().st_size // 1024} KB")
    return path


def _only(docks: dict, keep: str) -> None:
    for name, dock in docks.items():
        dock.setVisible(name == keep)


def main(real_data: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="cryopick-shots-"))
    # napari saves its settings: point it at a throw-away file before importing it
    os.environ["NAPARI_CONFIG"] = str(work / "napari_settings.yaml")
    import napari
    from napari.qt import get_qapp
    from napari.settings import get_settings

    get_settings().application.gui_notification_level = "none"  # no toasts in the pictures

    os.environ["CRYOPICK_ANNOTATION_DIR"] = str(work / "user")
    micrograph = work / f"{NAME}.png"
    shutil.copy(real_data / DATASET / "micrographs" / f"{NAME}.png", micrograph)
    truth_file = real_data / DATASET / "picks" / f"{NAME}.csv"
    IMAGES.mkdir(parents=True, exist_ok=True)

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1200, 780)
    app = get_qapp()
    viewer.open(str(micrograph), plugin="napari-cryopick")
    docks = {}

    # --- Annotate: 40 clicked ribosomes, diameter 56 px ---
    docks["annotate"], annotate = viewer.window.add_plugin_dock_widget(
        "napari-cryopick", "Annotate"
    )
    annotate.diameter_spin.setValue(56.0)
    annotate.dataset_edit.setText("ribosome")
    annotate.dataset_edit.editingFinished.emit()
    from napari_cryopick.core.pick_table import picks_to_napari

    clicks = pd.read_csv(truth_file).head(40)
    layer = annotate.set_kind("particle")
    layer.add(picks_to_napari(clicks))
    negatives = annotate.set_kind("negative")
    negatives.add(np.array([[40.0, 980.0], [990.0, 30.0]]))
    annotate.set_kind("particle").selected_data = set()
    _wait(app, lambda: annotate.last_saved is not None, 10)
    _save(viewer, app, "gui_annotate.png")

    # --- Train: a new model, in the background ---
    docks["train"], train = viewer.window.add_plugin_dock_widget("napari-cryopick", "Train")
    _only(docks, "train")
    viewer.window._qt_window.resize(1200, 940)  # room for the exemplar-bank panel
    train.refresh_datasets()
    # the widget's defaults (a new model started from the general model), short time limit
    train.time_spin.setValue(float(os.environ.get("CRYOPICK_SHOT_MINUTES", "0.5")))
    train.output_edit.setText(str(work / "ribosome.pt"))
    train.start()
    _wait(app, lambda: train.worker is None)
    # the new model's exemplar bank holds the clicked ribosomes: show their thumbnails
    train.bank_panel.select_dataset("ribosome")
    _wait(app, lambda: True)
    _save(viewer, app, "gui_train.png")

    # --- Pick: threshold slider on the stored candidates ---
    docks["pick"], pick = viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")
    _only(docks, "pick")
    viewer.layers[f"{NAME} particle"].visible = False
    viewer.layers[f"{NAME} negative"].visible = False
    pick.diameter_spin.setValue(56.0)
    pick.pick_current()
    _wait(app, lambda: pick.worker is None)
    _save(viewer, app, "gui_pick.png")

    # --- Evaluate against the labels ---
    docks["evaluate"], evaluate = viewer.window.add_plugin_dock_widget(
        "napari-cryopick", "Evaluate"
    )
    _only(docks, "evaluate")
    pick.set_threshold(0.05)  # evaluate the whole score range, not only the shown picks
    evaluate.diameter_spin.setValue(56.0)
    evaluate.pred_combo.setCurrentText(f"{NAME} picks")
    evaluate.load_truth(truth_file)
    viewer.layers[f"{NAME} truth"].visible = False
    evaluate.run()
    _save(viewer, app, "gui_evaluate.png")

    # --- all four widgets docked in a full-HD window ---
    for dock in docks.values():
        dock.setVisible(True)
    viewer.window._qt_window.resize(1920, 1080)
    viewer.layers[f"{NAME} particle"].visible = True
    _wait(app, lambda: True)
    from napari_cryopick._widgets._common import _balance_docks

    _balance_docks(pick)  # as when the four are docked one after another
    _wait(app, lambda: True)
    size = viewer.window._qt_window.size()
    print(f"window {size.width()} x {size.height()}")
    _save(viewer, app, "gui_all_1920x1080.png")
    viewer.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data/real"))
