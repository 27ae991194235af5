"""Pick widget with a fiber model: export as cryopick pick, path edits kept, counts followed."""

from __future__ import annotations

import re

import numpy as np
import pytest

from napari_cryopick._widgets._common import session
from napari_cryopick.core.model import Detector, DetectorConfig

PLUGIN = "napari-cryopick"
WIDTH = 20.0  # fiber width in pixels (the model's target diameter: prepared = original)
ROWS = (12, 36)  # heatmap rows of the two horizontal fibers
PEAKS = (0.9, 0.5)  # their scores


@pytest.fixture
def fiber_model(tmp_path, monkeypatch):
    """A saved fiber-only model whose network sees two horizontal fibers (scores 0.9, 0.5).

    Only the network's output maps are replaced by known ones (an untrained
    network's are noise): decoding, tracing, the worker and the layers are real.
    """
    import napari_cryopick.core.detect as core
    from napari_cryopick.core.model import save_checkpoint
    from napari_cryopick.core.model.card import ModelCard

    config = DetectorConfig(
        kinds=("fiber",), widths=(4, 8, 8, 8), feature_channels=8, head_width=8,
        target_diameter_px=WIDTH,
    )  # fmt: skip
    stride = config.stride

    def two_fibers(model, prepared_image, **_kwargs):
        rows, cols = (n // stride for n in prepared_image.shape)
        rr = np.arange(rows)[:, None]
        along = (np.arange(cols)[None, :] >= 5) & (np.arange(cols)[None, :] <= cols - 8)
        heat = np.zeros((rows, cols), np.float32)
        for row, peak in zip(ROWS, PEAKS, strict=True):
            heat = np.maximum(heat, np.where(along, peak * np.exp(-0.5 * (rr - row) ** 2), 0.0))
        return {
            "heatmap": heat[None].astype(np.float32),
            "offset": np.zeros((2, rows, cols), np.float32),
            "diameter": np.full((rows, cols), WIDTH, np.float32),
        }

    monkeypatch.setattr(core, "predict_maps", two_fibers)
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    card = ModelCard(kinds=("fiber",), heads=("generic",), diameter_px=WIDTH)
    return save_checkpoint(
        tmp_path / "fiber.pt", Detector(config).eval(), metadata=card.to_metadata()
    )


def _micrographs(folder, names=("a", "b")):
    from napari_cryopick.io.micrographs import write_mrc

    folder.mkdir(exist_ok=True)
    noise = np.random.default_rng(0)  # a blank micrograph is skipped: no contrast
    return [
        write_mrc(folder / f"{name}.mrc", noise.normal(0, 1, (200, 320)).astype(np.float32))
        for name in names
    ]


def _fiber_picker(make_napari_viewer, qtbot, model, paths, threshold=0.3):
    """The Pick widget (docked as napari docks it) with the fiber model, every file open."""
    viewer = make_napari_viewer()
    for path in paths:
        viewer.open(str(path), plugin=PLUGIN)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert widget.load_model(model), widget.status.text()
    widget.device_combo.setCurrentText("cpu")
    widget.rotations_check.setChecked(False)  # the fake maps are not rotated
    widget.set_threshold(threshold)
    return viewer, widget


def _pick_all(widget, qtbot):
    assert widget.pick_all_open() is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    qtbot.waitUntil(lambda: not len(widget._showing), timeout=10_000)


def _select(viewer, name):
    viewer.layers.selection.active = viewer.layers[name]


def test_pick_widget_writes_fibers_as_cryopick_pick_does(
    make_napari_viewer, qtbot, tmp_path, fiber_model
):
    # a trial: the widget wrote one STAR row per traced vertex, cryopick pick RELION's
    # start/end pairs; RELION's Extract ("start-end only") then lost half of each fiber
    from napari_cryopick.cli import main
    from napari_cryopick.io.filaments import read_relion_helical

    (path,) = _micrographs(tmp_path / "mics", names=("m0",))
    for format in ("star", "cbox"):
        args = ["pick", str(path), "--model", str(fiber_model), "--diameter", str(WIDTH)]
        args += ["--threshold", "0.3", "--no-rotations", "--device", "cpu", "--format", format]
        assert main([*args, "--out", str(tmp_path / "cli")]) == 0
    viewer, widget = _fiber_picker(make_napari_viewer, qtbot, fiber_model, [path])
    _pick_all(widget, qtbot)
    assert len(viewer.layers["m0 fibers"].data) == 2
    for format in ("star", "cbox"):
        written = widget.export(tmp_path / "gui", format)
        assert [p.name for p in written] == [f"m0.{format}"]
        cli = (tmp_path / "cli" / f"m0.{format}").read_text()
        assert written[0].read_text() == cli  # the same writer, the same file
    (tubes,) = read_relion_helical(tmp_path / "gui" / "m0.star").values()
    assert len(tubes) == 2  # start/end pairs, joined back into two tubes
    assert widget.export(tmp_path / "box", "box") == []  # refused, as cryopick pick refuses
    assert "fibers are written as star, cbox, csv, not box" in widget.status.text()


def test_fiber_path_edits_survive_a_switch_and_become_the_labels(
    make_napari_viewer, qtbot, tmp_path, fiber_model
):
    # a trial: a deleted path came back after showing another micrograph and back
    # (traced again from the stored points), and "Use as training labels" stored it
    from napari_cryopick._widgets.result_layers import has_corrections
    from napari_cryopick.io.annotations import load_annotations
    from napari_cryopick.io.filaments import read_relion_helical

    paths = _micrographs(tmp_path / "mics")
    viewer, widget = _fiber_picker(make_napari_viewer, qtbot, fiber_model, paths)
    _pick_all(widget, qtbot)
    _select(viewer, "a")
    layer = viewer.layers["a fibers"]
    assert len(layer.data) == 2
    assert not has_corrections(viewer, "a")
    weak = int(np.argmax([np.mean(p[:, 0]) for p in layer.data]))  # the fiber on row 36
    layer.selected_data = {weak}
    layer.remove_selected()  # a false fiber
    assert has_corrections(viewer, "a")  # a training preview must not replace it
    moved = [np.array(layer.data[0], dtype=float)]
    moved[0][-1] += [30.0, 0.0]  # its last vertex dragged 30 px down
    layer.data = moved
    kept = moved[0][:, ::-1].copy()  # (x, y)

    _select(viewer, "b")  # another micrograph shown, then this one again
    assert len(viewer.layers["b fibers"].data) == 2
    _select(viewer, "a")
    assert layer is viewer.layers["a fibers"]  # the same layer, shows "a" again
    assert len(layer.data) == 1
    np.testing.assert_allclose(layer.data[0][:, ::-1], kept, atol=0.01)
    # reshaped: the user's path now (no score, shown at every threshold), as a dragged pick
    # is, so a new Pick keeps it (since 2026-12-07: a GUI trial's resized circle went
    # back to the network's at the next Pick current)
    assert np.isnan(layer.features["score"].iloc[0])
    assert has_corrections(viewer, "a")  # from the store

    widget.set_threshold(0.2)  # kept at other thresholds too, not traced again
    assert len(layer.data) == 1
    qtbot.waitUntil(lambda: "stay as you edited them" in widget.status.text(), timeout=5_000)
    # 1 of "a", 2 of "b": the sum said as one, with the micrograph on screen's own (a
    # trial read "33 fibers" with 10 shown)
    assert widget.status.text().startswith(
        "3 fibers on 2 micrographs (a on screen: 1 fiber) at threshold 0.20"
    ), widget.status.text()
    widget.set_threshold(0.3)

    _select(viewer, "b")
    written = widget.export(tmp_path / "out", "star")  # "a" not shown: from the store
    assert sorted(p.name for p in written) == ["a.star", "b.star"]
    (tubes,) = read_relion_helical(tmp_path / "out" / "a.star").values()
    assert len(tubes) == 1

    _select(viewer, "a")
    assert widget.use_as_labels() is not None
    fibers = load_annotations(paths[0]).of_kind("fiber")
    assert set(fibers["tube_id"]) == {1}  # not the deleted one
    np.testing.assert_allclose(fibers[["x", "y"]], kept, atol=0.01)
    assert not has_corrections(viewer, "a")  # used as labels: a preview may redraw


def test_review_table_follows_the_threshold_and_deleted_paths(
    make_napari_viewer, qtbot, tmp_path, fiber_model, monkeypatch
):
    # a trial: the table's counts stayed as picked when the slider moved or a path went
    import napari_cryopick._widgets.review as review_module

    paths = _micrographs(tmp_path / "mics")
    viewer, widget = _fiber_picker(make_napari_viewer, qtbot, fiber_model, paths)
    _pick_all(widget, qtbot)
    _select(viewer, "a")

    def cell(row):
        return widget.review.review_table.item(row, 1).text()

    assert [cell(0), cell(1)] == ["2 (2 fibers)", "2 (2 fibers)"]
    widget.set_threshold(0.6)  # the weak fiber (0.5) goes on both micrographs
    qtbot.waitUntil(lambda: [cell(0), cell(1)] == ["1 (1 fiber)", "1 (1 fiber)"], timeout=5_000)
    widget.set_threshold(0.3)
    qtbot.waitUntil(lambda: cell(0) == "2 (2 fibers)", timeout=5_000)

    counted = []
    result_picks = review_module.result_picks
    monkeypatch.setattr(
        review_module, "result_picks", lambda v, name: counted.append(name) or result_picks(v, name)
    )
    layer = viewer.layers["a fibers"]
    layer.selected_data = {0}
    layer.remove_selected()
    qtbot.waitUntil(lambda: cell(0) == "1 (1 fiber)", timeout=5_000)
    assert cell(1) == "2 (2 fibers)"
    assert set(counted) == {"a"}  # only the row of the micrograph edited


def test_fiber_status_counts_fibers_and_only_what_was_added_by_hand(
    make_napari_viewer, qtbot, tmp_path, fiber_model
):
    # a trial: "sim_0002: 0 picks at threshold 0.15 (3/3)" with 4 fibers traced (the
    # micrograph picked last was not the one shown), and "Exported 569 picks (569 added
    # by hand, no score)" for the traced fibers' vertices
    paths = _micrographs(tmp_path / "mics")
    viewer, widget = _fiber_picker(make_napari_viewer, qtbot, fiber_model, paths)
    _select(viewer, "a")  # shown: "b", picked last, is not
    _pick_all(widget, qtbot)
    assert session(viewer).displayed == "a"
    # the micrograph shown, not "b", picked last (a re-trial), and in fibers
    assert re.match(
        r"2 micrographs picked; a \(on screen\): \d+ fibers at threshold 0\.30$",
        widget.status.text(),
    ), widget.status.text()

    widget.export(tmp_path / "out", "star")
    said = widget.status.text()
    assert said.startswith("Exported 4 fibers to 2 star file(s)"), said

    layer = viewer.layers["a fibers"]
    layer.selected_data = {0}  # napari would give a drawn path this one's score
    layer.add_paths(np.array([[150.0, 20.0], [160.0, 100.0], [170.0, 200.0]]))
    assert np.isnan(layer.features["score"].iloc[-1])
    widget.export(tmp_path / "again", "star")
    said = widget.status.text()
    assert said.startswith("Exported 5 fibers (1 added by hand, no score) to 2"), said
