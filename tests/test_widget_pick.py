"""Pick widget through the manifest: pick in the worker, live threshold, edit, labels, export."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from napari_cryopick._progress import drive
from napari_cryopick._widgets._common import session
from napari_cryopick.annotations import load_annotations
from napari_cryopick.io.pickfiles import read_picks
from napari_cryopick.model import Detector, DetectorConfig
from napari_cryopick.pick import apply_threshold
from napari_cryopick.train import TrainConfig, build_examples, train_detector

DATASET = "empiar10028_ribosome"
NAME = "061_10028"


@pytest.fixture(scope="module")
def ribosome_model(real_data_dir):
    """A small detector trained for a few steps on one real micrograph (the core, no GUI)."""
    from napari_cryopick.io.micrographs import read_micrograph

    micrograph = read_micrograph(real_data_dir / DATASET / "micrographs" / f"{NAME}.png")
    truth = pd.read_csv(real_data_dir / DATASET / "picks" / f"{NAME}.csv")
    model = Detector(DetectorConfig())
    examples = build_examples([micrograph.data], [truth], 56.0, model.config, names=[NAME])
    torch.set_num_threads(1)
    config = TrainConfig(steps=25, batch_size=2, crop_size=64, device="cpu")
    return drive(train_detector(examples, model=model, train_config=config)).model


@pytest.fixture
def picker(make_napari_viewer, real_data_dir, tmp_path, monkeypatch, ribosome_model, qtbot):
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    path = tmp_path / "data" / f"{NAME}.png"
    path.parent.mkdir()
    shutil.copy(real_data_dir / DATASET / "micrographs" / f"{NAME}.png", path)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-cryopick")
    session(viewer).set_model(ribosome_model, None)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")
    widget.diameter_spin.setValue(56.0)
    widget.device_combo.setCurrentText("cpu")
    widget.set_threshold(0.05)
    assert widget.pick_current() is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    return viewer, widget, path


def test_pick_shows_heatmap_and_scored_points(picker):
    viewer, widget, _ = picker
    assert widget.model is session(viewer).model
    assert widget.head_combo.currentText() == "generic"
    heatmap = viewer.layers[f"{NAME} heatmap"]
    assert heatmap.colormap.name == "inferno"
    assert heatmap.blending == "additive"
    assert heatmap.scale[0] == pytest.approx(56.0 / 20.0 * 4, rel=0.05)
    points = viewer.layers[f"{NAME} picks"]
    candidates = session(viewer).pick_results[NAME].picks
    assert len(points.data) == len(apply_threshold(candidates, 0.05)) > 0
    assert "score" in points.features
    assert (points.features["score"] >= 0.05).all()


def test_threshold_filters_without_repicking(picker, monkeypatch):
    viewer, widget, _ = picker
    import napari_cryopick.pick as core

    monkeypatch.setattr(core, "pick_micrograph", lambda *a, **k: pytest.fail("network re-run"))
    candidates = session(viewer).pick_results[NAME].picks
    counts = []
    for threshold in (0.05, float(np.median(candidates["score"])) + 0.005, 0.99):
        widget.set_threshold(threshold)
        expected = len(apply_threshold(candidates, widget.threshold()))
        counts.append(len(viewer.layers[f"{NAME} picks"].data))
        assert counts[-1] == expected
    assert counts[0] > counts[1] > counts[2] or (counts[0] > counts[1] and counts[2] == 0)
    assert "picks at threshold 0.99" in widget.status.text()


def test_edit_use_as_labels_and_export(picker, tmp_path):
    viewer, widget, micrograph_path = picker
    widget.set_threshold(0.1)
    points = viewer.layers[f"{NAME} picks"]
    n = len(points.data)
    assert n > 2
    points.selected_data = {0}
    points.remove_selected()  # delete a false pick
    points.add([500.0, 500.0])  # add a missed one
    kept = points.data.copy()

    assert widget.use_as_labels() is not None
    labels = viewer.layers[f"{NAME} particle"]
    np.testing.assert_allclose(labels.data, kept)
    saved = load_annotations(micrograph_path)
    assert saved.counts()["particle"] == n
    assert np.isnan(saved.picks["score"]).all()

    for format in ("star", "box", "cbox", "topaz", "csv"):
        folder = tmp_path / f"export_{format}"
        written = widget.export(folder, format)
        assert len(written) == 1
        assert written[0].stem.startswith(NAME)
        table = read_picks(written[0])
        assert len(table) == n, format
        np.testing.assert_allclose(
            np.sort(table["x"].to_numpy()), np.sort(kept[:, 1]), atol=1.0, err_msg=format
        )
