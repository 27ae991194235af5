"""Train widget through the manifest: a real (tiny) training in the worker, cancel, responsiveness."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
from qtpy.QtCore import QTimer

from napari_cryopick._widgets._common import session
from napari_cryopick.picks import picks_to_napari

DATASET = "empiar10028_ribosome"
NAME = "061_10028"


@pytest.fixture
def annotated(make_napari_viewer, real_data_dir, tmp_path, monkeypatch):
    """Viewer with a real micrograph and 30 clicked ribosomes (from the real labels)."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    path = tmp_path / "data" / f"{NAME}.png"
    path.parent.mkdir()
    shutil.copy(real_data_dir / DATASET / "micrographs" / f"{NAME}.png", path)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-cryopick")
    _dock, annotate = viewer.window.add_plugin_dock_widget("napari-cryopick", "Annotate")
    annotate.diameter_spin.setValue(56.0)
    annotate.dataset_edit.setText("ribosome")
    annotate.dataset_edit.editingFinished.emit()
    clicks = pd.read_csv(real_data_dir / DATASET / "picks" / f"{NAME}.csv").head(30)
    layer = annotate.set_kind("particle")
    layer.add(picks_to_napari(clicks))
    _dock, train = viewer.window.add_plugin_dock_widget("napari-cryopick", "Train")
    train.steps_spin.setValue(20)
    train.batch_spin.setValue(2)
    train.crop_spin.setValue(64)
    train.device_combo.setCurrentText("cpu")
    train.diameter_spin.setValue(56.0)
    train.preview_spin.setValue(10)
    train.output_edit.setText(str(tmp_path / "models" / "ribosome.pt"))
    return viewer, train, tmp_path


def test_training_set_lists_datasets(annotated):
    _viewer, train, _ = annotated
    summary = train.refresh_datasets()
    assert list(summary["dataset"]) == ["ribosome"]
    assert int(summary["particle"].iloc[0]) == 30
    assert train.datasets_table.item(0, 2).text() == "30"


def test_train_to_the_end_stays_responsive(annotated, qtbot):
    viewer, train, tmp_path = annotated
    train.preview_spin.setValue(0)  # previews: only the final one (after the timed window)
    train.steps_spin.setValue(50)
    ticks: list[tuple[float, int]] = []

    def tick():
        ticks.append((time.perf_counter(), len(train.loss_plot.steps)))

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    worker = train.start()
    assert worker is not None, train.last_error
    timer.start()
    tick()
    qtbot.waitUntil(lambda: train.worker is None, timeout=90_000)
    timer.stop()

    assert train.last_error == ""
    assert train.last_result is not None
    saved = tmp_path / "models" / "ribosome.pt"
    assert train.last_saved == saved
    assert saved.is_file()
    assert session(viewer).model is train.last_result.model
    assert train.loss_plot.steps == list(range(1, 51)), train.loss_plot.steps
    assert train.progress_bar.value() == 50
    assert f"{NAME} heatmap" in viewer.layers
    assert f"{NAME} picks" in viewer.layers
    assert viewer.layers[f"{NAME} heatmap"].scale[0] > 1
    # while the worker trained (until the last step arrived), the GUI thread's
    # 20 ms timer kept firing. The machine is shared (2 cores, other jobs), so
    # the OS alone can delay a tick now and then: allow at most 1 % of the
    # gaps above 100 ms, none above 250 ms (a GIL-holding import or a matplotlib
    # draw in the GUI thread took 150-2000 ms before they were moved away).
    training = [t for t, steps in ticks if steps < 50]
    gaps = np.diff(training)
    assert len(gaps) > 10
    slow = int((gaps > 0.1).sum())
    print(
        f"\ntimer ticks while training: {len(training)}, max gap {gaps.max() * 1000:.0f} ms, "
        f"median {np.median(gaps) * 1000:.0f} ms, gaps > 100 ms: {slow}"
    )
    assert slow <= max(1, len(gaps) // 100), f"{slow} gaps > 100 ms"
    assert gaps.max() < 0.25, f"GUI blocked for {gaps.max() * 1000:.0f} ms"


def test_cancel_keeps_previous_model(annotated, qtbot):
    from napari_cryopick.model import Detector, DetectorConfig

    viewer, train, tmp_path = annotated
    previous = Detector(DetectorConfig()).eval()
    before = {k: v.clone() for k, v in previous.state_dict().items()}
    session(viewer).set_model(previous, None)
    train.mode_combo.setCurrentIndex(train.mode_combo.findData("finetune"))
    train.steps_spin.setValue(10_000)
    assert train.start() is not None, train.last_error
    qtbot.waitUntil(lambda: train.progress_bar.value() >= 3, timeout=60_000)
    train.cancel()
    qtbot.waitUntil(lambda: train.worker is None, timeout=30_000)

    assert train.last_result is None
    assert "cancelled" in train.status.text()
    assert session(viewer).model is previous
    for key, value in previous.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not (tmp_path / "models" / "ribosome.pt").exists()
    assert train.progress_bar.value() < 10_000


def test_previews_arrive_while_training(annotated, qtbot):
    viewer, train, _ = annotated
    train.steps_spin.setValue(12)
    train.preview_spin.setValue(4)
    steps_at_preview = []
    viewer.layers.events.inserted.connect(
        lambda event: (
            steps_at_preview.append(train.progress_bar.value())
            if event.value.name == f"{NAME} heatmap"
            else None
        )
    )
    assert train.start() is not None, train.last_error
    qtbot.waitUntil(lambda: train.worker is None, timeout=60_000)
    assert train.last_error == ""
    # the heatmap layer appeared with the first preview (step 4), before the end
    assert steps_at_preview
    assert steps_at_preview[0] < 12
    assert len(viewer.layers[f"{NAME} heatmap"].data.shape) == 2
