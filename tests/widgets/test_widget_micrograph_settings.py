"""Several micrographs open: the diameter and data set each uses, which one shows, duplicates.

Issues of a user trial driving napari with ``add_plugin_dock_widget``: the
Annotate boxes showed values the micrograph did not use, Pick's diameter did
not follow Annotate's, the Pick widget alone left every micrograph visible, a
file open twice was trained on twice and broke "Pick all open", and the
results of a micrograph closed while picking stayed in the session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_cryopick._widgets._common import (
    clash_message,
    is_micrograph_layer,
    micrograph_dataset,
    micrograph_diameter,
    session,
    set_micrograph_settings,
    short_error,
)
from napari_cryopick.io.annotations import load_annotations
from napari_cryopick.io.micrographs import write_mrc

pytestmark = pytest.mark.gui

PLUGIN = "napari-cryopick"


def _micrograph_file(folder, name, shape=(256, 256), seed=0):
    rng = np.random.default_rng(seed)
    path = folder / f"{name}.mrc"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mrc(path, rng.normal(size=shape).astype(np.float32), pixel_size=2.0)
    return path


def _close_all_and_open(viewer, annotate, qtbot, path):
    """Close every layer, open the micrograph file ``path`` and wait for Annotate to show it."""
    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    viewer.open(str(path), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == path.stem, timeout=5000)


@pytest.fixture
def three_open(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    """Annotate, Train and Pick docked; three micrographs opened one after the other."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    _dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.diameter_spin.setValue(40.0)  # (the general model picks at a diameter given)
    paths = [_micrograph_file(tmp_path / "data", f"mic_{i}", seed=i) for i in range(3)]
    for path in paths:
        viewer.open(str(path), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "mic_2", timeout=5000)
    return viewer, annotate, train, pick, paths


def _click(annotate, count=3, offset=0.0):
    layer = annotate.set_kind("particle")
    # on the 256 px micrographs (a click off the micrograph is not kept)
    layer.add(np.array([[40.0 + 35 * i + offset, 60.0] for i in range(count)]))
    return layer


def test_the_diameter_and_data_set_shown_are_those_each_micrograph_uses(three_open, qtbot):
    viewer, annotate, train, pick, paths = three_open
    annotate.diameter_spin.setValue(56.0)  # typed once, on mic_2
    annotate.dataset_edit.setText("ribo")
    annotate.dataset_edit.editingFinished.emit()
    for name in ("mic_0", "mic_1", "mic_2"):
        annotate.micrograph_combo.setCurrentText(name)
        layer = _click(annotate)
        mlayer = viewer.layers[name]
        # what the boxes show is what this micrograph uses and records
        assert annotate.diameter_spin.value() == pytest.approx(56.0)
        assert micrograph_diameter(mlayer) == pytest.approx(56.0)
        assert annotate.dataset_edit.text() == micrograph_dataset(mlayer) == "ribo"
        assert np.allclose(layer.size, 56.0)
        assert pick.diameter_spin.value() == pytest.approx(56.0)
    annotate.save_all()
    for path in paths:
        saved = load_annotations(path)
        assert saved.diameter_px == pytest.approx(56.0)
        assert saved.dataset == "ribo"
        assert np.allclose(saved.picks["diameter"], 56.0)
    summary = train.refresh_datasets()
    assert list(summary["dataset"]) == ["ribo"]  # not "(unnamed)" beside "ribo"

    # a micrograph's own diameter stays its own, and the box shows it when it comes back
    annotate.micrograph_combo.setCurrentText("mic_0")
    annotate.diameter_spin.setValue(80.0)
    annotate.micrograph_combo.setCurrentText("mic_1")
    assert annotate.diameter_spin.value() == pytest.approx(56.0)
    annotate.micrograph_combo.setCurrentText("mic_0")
    assert annotate.diameter_spin.value() == pytest.approx(80.0)
    assert np.allclose(viewer.layers["mic_0 particle"].size, 80.0)


def test_an_unnamed_micrographs_data_set_box_shows_the_folder_training_names_it_after(
    three_open,
):
    """A parity trial: Annotate's Data set box stayed empty while training named the data
    set (and its head) after the micrographs' folder; its grey text now says which."""
    from napari_cryopick.workflows.inputs import folder_dataset_name

    viewer, annotate, train, _pick, paths = three_open
    folder = folder_dataset_name(paths[0])  # (tmp_path's: "data" names no data set)
    _click(annotate)
    assert annotate.dataset_edit.text() == ""
    assert annotate.dataset_edit.placeholderText().startswith(f"{folder} (its folder's name")
    train.refresh_datasets()  # what training names it, as the box says
    assert train.datasets_table.item(0, 0).text() == f"(unnamed: {folder})"
    viewer.add_image(np.zeros((64, 64), np.float32), name="unsaved")  # from no file
    assert annotate.micrograph_combo.currentText() == "unsaved"
    assert "folder" not in annotate.dataset_edit.placeholderText()


def test_typing_the_value_shown_records_it(three_open):
    viewer, annotate, _train, _pick, _paths = three_open
    mlayer = viewer.layers["mic_2"]
    assert micrograph_diameter(mlayer) is None  # nobody gave one: the box shows the default
    shown = annotate.diameter_spin.value()
    annotate.diameter_spin.editingFinished.emit()  # the user typed the value already shown
    assert micrograph_diameter(mlayer) == pytest.approx(shown)
    assert session(viewer).typed_diameter == pytest.approx(shown)


def test_pick_and_train_diameters_follow_annotate_at_once(three_open):
    _viewer, annotate, train, pick, _paths = three_open
    assert pick.diameter_spin.value() == pytest.approx(40.0)  # (the fixture's)
    annotate.diameter_spin.setValue(56.0)  # no switch of micrograph
    assert pick.diameter_spin.value() == pytest.approx(56.0)
    assert train.diameter_spin.value() == pytest.approx(56.0)
    annotate.dataset_edit.setText("ribo")
    _click(annotate)
    annotate.dataset_edit.editingFinished.emit()
    table = train.datasets_table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["ribo"]


def test_docked_after_opening_annotate_takes_the_micrograph_opened_last(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    for i in range(2):
        viewer.open(str(_micrograph_file(tmp_path, f"mic_{i}", seed=i)), plugin=PLUGIN)
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    assert annotate.micrograph_combo.currentText() == "mic_1"
    assert viewer.layers["mic_1"].visible
    assert not viewer.layers["mic_0"].visible


def test_pick_alone_shows_the_selected_micrograph_only(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, _pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")  # no Annotate
    for i in range(2):
        viewer.open(str(_micrograph_file(tmp_path, f"mic_{i}", seed=i)), plugin=PLUGIN)
    for name, other in (("mic_0", "mic_1"), ("mic_1", "mic_0"), ("mic_0", "mic_1")):
        viewer.layers.selection.active = viewer.layers[name]
        assert viewer.layers[name].visible
        assert not viewer.layers[other].visible
    # closing the micrograph shown brings the other one back into view
    viewer.layers.remove(viewer.layers["mic_0"])
    assert viewer.layers["mic_1"].visible


def test_a_file_open_twice_is_one_micrograph(three_open, qtbot):
    viewer, annotate, train, pick, paths = three_open
    _click(annotate, count=6)
    viewer.open(str(paths[2]), plugin=PLUGIN)  # the same file again: not opened twice
    qtbot.waitUntil(lambda: len(session(viewer).refused) == 1, timeout=5000)
    assert "open already" in session(viewer).refused[0]
    assert [layer.name for layer in viewer.layers if is_micrograph_layer(layer)] == [
        "mic_0",
        "mic_1",
        "mic_2",
    ]
    # its first click adds a particle, as after any open (user trial helper-28)
    annotate.activate()
    assert viewer.layers.selection.active.name == "mic_2 particle"
    assert viewer.layers.selection.active.mode == "add"
    summary = train.refresh_datasets()
    assert int(summary["micrographs"].sum()) == 1
    request = train.build_request()
    assert [list(s.names) for s in request.datasets] == [["mic_2"]]
    assert [len(t) for t in request.datasets[0].picks] == [6]
    for name in ("mic_0", "mic_1"):
        viewer.layers.remove(viewer.layers[name])
    worker = pick.pick_all_open()
    assert worker is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    assert "failed" not in pick.status.text()
    assert list(session(viewer).pick_results) == ["mic_2"]


def test_pick_all_open_picks_each_micrograph_at_its_own_diameter(three_open, qtbot):
    """A trial picked a 56 px ribosome micrograph at the 27 px of the β-gal one shown."""
    viewer, _annotate, _train, pick, _paths = three_open
    for name, diameter in (("mic_0", 24.0), ("mic_1", 40.0)):  # mic_2: none of its own
        set_micrograph_settings(viewer, viewer.layers[name], diameter_px=diameter)
    viewer.layers.selection.active = viewer.layers["mic_0"]
    qtbot.waitUntil(lambda: pick.diameter_spin.value() == pytest.approx(24.0), timeout=5000)
    steps = []
    worker = pick.pick_all_open()
    assert worker is not None, pick.status.text()
    worker.yielded.connect(lambda event: steps.append((event.step, event.total)))
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    assert "failed" not in pick.status.text()
    results = session(viewer).pick_results
    picked_at = {name: results[name].picks["diameter"].median() for name in results}
    # mic_2 has no diameter of its own: the box's, as shown
    assert picked_at == pytest.approx({"mic_0": 24.0, "mic_1": 40.0, "mic_2": 24.0}, rel=0.05)
    assert steps == [(1, 3), (2, 3), (3, 3)]  # one job of three, in two requests
    assert pick.progress_bar.value() == 3


def test_docked_after_opening_annotated_files_annotate_shows_the_last(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    """A trial reopened A, B, C (each with a sidecar), then docked: B was shown, C hidden."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.annotations import Annotations, save_annotations

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    paths = [_micrograph_file(tmp_path / "data", f"mic_{i}", seed=i) for i in range(3)]
    for path in paths:
        clicks = make_picks([40.0, 90.0], [60.0, 60.0], diameter=30.0, micrograph=path.stem)
        save_annotations(Annotations(path, clicks, dataset="d", diameter_px=30.0))
    viewer = make_napari_viewer()
    for path in paths:
        viewer.open(str(path), plugin=PLUGIN)
    qtbot.wait(50)
    assert viewer.layers.selection.active.name == "mic_2"
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    qtbot.wait(50)
    assert annotate.micrograph_combo.currentText() == "mic_2"
    assert viewer.layers["mic_2"].visible
    assert not viewer.layers["mic_1"].visible
    layer = annotate.set_kind("particle")  # and its clicks go to mic_2
    assert layer.metadata["micrograph"] == "mic_2"
    assert len(layer.data) == 2


@pytest.mark.parametrize("suffixes", [("mrc", "mrc"), ("png", "mrc")])
def test_a_second_file_of_an_open_micrographs_name_is_closed_with_a_warning(
    make_napari_viewer, tmp_path, monkeypatch, qtbot, suffixes
):
    """A trial opened a/061.png and b/061.png (and x.png beside x.mrc): one annotation
    layer and one sidecar served both, so the clicks on one were saved and trained as
    the other's. Annotations, results and pick files go by micrograph name."""
    from skimage.io import imsave

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    pick.diameter_spin.setValue(40.0)  # (the general model picks at a diameter given)
    first = _micrograph_file(tmp_path / "a", "mic", seed=1)
    if suffixes[0] == "png":
        first = tmp_path / "b" / "mic.png"
        first.parent.mkdir()
        imsave(first, (np.random.default_rng(1).random((256, 256)) * 255).astype(np.uint8))
    second = _micrograph_file(tmp_path / "b", "mic", seed=2)
    viewer.open(str(first), plugin=PLUGIN)
    _click(annotate, count=2)
    viewer.open(str(second), plugin=PLUGIN)
    qtbot.waitUntil(lambda: len(session(viewer).refused) == 1, timeout=5000)
    text = session(viewer).refused[0]
    assert str(first) in text
    assert str(second) in text
    assert "rename" in text
    assert len(text) < 400
    images = [layer.name for layer in viewer.layers if is_micrograph_layer(layer)]
    assert images == ["mic"]
    # the layer clicked on before stays selected, in adding mode: the next click adds
    assert viewer.layers.selection.active.name == "mic particle"
    assert viewer.layers.selection.active.mode == "add"
    _click(annotate, count=1, offset=7.0)  # goes to the one open, saved beside it
    annotate.save_all()
    assert len(load_annotations(first).picks) == 3
    assert load_annotations(second) is None
    assert pick.pick_all_open() is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    assert list(session(viewer).pick_results) == ["mic"]


def test_opening_an_annotated_file_again_keeps_its_data_set_and_diameter(three_open, qtbot):
    """A trial opened A (apoferritin, 62 px, 3 clicks), then B (ribosome, 110 px), then A
    again: A's clicks were rewritten to 110 px at once and A later saved as ribosome."""
    viewer, annotate, _train, _pick, paths = three_open
    annotate.micrograph_combo.setCurrentText("mic_0")
    annotate.diameter_spin.setValue(62.0)
    annotate.dataset_edit.setText("apo")
    annotate.dataset_edit.editingFinished.emit()
    _click(annotate, count=3)
    annotate.micrograph_combo.setCurrentText("mic_1")
    annotate.diameter_spin.setValue(110.0)
    annotate.dataset_edit.setText("ribo")
    annotate.dataset_edit.editingFinished.emit()
    _click(annotate, count=1)
    annotate.save_all()
    viewer.open(str(paths[0]), plugin=PLUGIN)
    qtbot.waitUntil(lambda: len(session(viewer).refused) == 1, timeout=5000)
    qtbot.wait(1000)  # past the quiet period of a save
    annotate.save_all()
    saved = load_annotations(paths[0])
    assert saved.dataset == "apo"
    assert saved.diameter_px == pytest.approx(62.0)
    np.testing.assert_allclose(saved.picks["diameter"], 62.0)
    assert len(saved.picks) == 3


def test_error_messages_never_hold_an_array_repr():
    exc = ValueError(f"Micrograph(data={np.zeros((50, 50))!r}, name='a') and another: both mic.*")
    text = short_error(exc)
    assert "0., 0." not in text
    assert "\n" not in text
    assert text.endswith("both mic.*")
    assert "mic (a.mrc and b.mrc)" in clash_message({"mic": ["a.mrc", "b.mrc"]})


def test_results_of_a_micrograph_closed_while_picking_leave_the_session(
    three_open, qtbot, tmp_path
):
    viewer, _annotate, _train, pick, paths = three_open
    worker = pick.pick_all_open()
    assert worker is not None, pick.status.text()
    viewer.layers.remove(viewer.layers["mic_1"])  # before its result arrives
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    qtbot.wait(200)
    results = session(viewer).pick_results
    assert sorted(results) == ["mic_0", "mic_2"]
    rows = [
        pick.review.review_table.item(r, 0).text()
        for r in range(pick.review.review_table.rowCount())
    ]
    assert "mic_1" not in rows
    # the end counts the micrographs still open and names the one closed (a GUI trial read
    # "2 micrographs picked" with one open, three closed unsaid)
    said = pick.status.text()
    assert "2 micrographs picked; 1 closed since (mic_1): their picks left with them" in said
    # one closed after it was picked and reviewed, uncorrected: said, and its reviewed
    # flag goes with its picks (it stayed ticked for the micrograph opened again)
    viewer.layers.selection.active = viewer.layers["mic_2"]
    qtbot.wait(50)
    pick.review.reviewed_check.click()
    assert "mic_2" in session(viewer).reviewed
    viewer.layers.remove(viewer.layers["mic_2"])
    qtbot.wait(200)
    said = pick.status.text()
    assert "mic_2 closed: its picks left with it (no corrections to keep aside)" in said, said
    assert "mic_2" not in session(viewer).reviewed
    # opened again, not picked: no row of the table is it (another stayed highlighted,
    # and Next stepped from that one)
    viewer.open(str(paths[2]), plugin=PLUGIN)
    viewer.layers.selection.active = viewer.layers["mic_2"]
    qtbot.wait(200)
    assert not pick.review.review_table.selectionModel().selectedRows()
    assert not pick.review.reviewed_check.isChecked()
    written = pick.export(tmp_path / "export", "star")
    assert "mic_1.star" not in {p.name for p in written}


def test_a_corrected_micrograph_closed_while_picking_is_said_to_keep_its_corrections(
    three_open, qtbot
):
    """A GUI trial closed a corrected micrograph during Pick all open: "its picks are
    dropped", though its corrected picks were kept aside and came back when opened."""
    viewer, _annotate, _train, pick, _paths = three_open
    assert pick.pick_all_open() is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    viewer.layers.selection.active = viewer.layers["mic_0"]
    qtbot.wait(50)
    points = viewer.layers["mic_0 picks"]
    points.selected_data = {0}
    points.remove_selected()
    assert pick.pick_all_open() is not None, pick.status.text()
    viewer.layers.remove(viewer.layers["mic_0"])  # before its new result arrives
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    qtbot.wait(200)
    said = pick.status.text()
    assert "2 micrographs picked; 1 closed since (mic_0): open them again" in said, said
    assert "their picks come back with your corrections" in said
    assert "mic_0" in session(viewer).closed_corrections


def test_picks_of_a_micrograph_closed_while_picking_skip_another_file_of_its_name(
    three_open, qtbot, tmp_path
):
    """Results were matched by name only: mic_1 closed while Pick all open picked it and
    another folder's mic_1 opened took the first one's picks as its own."""
    viewer, _annotate, _train, pick, _paths = three_open
    worker = pick.pick_all_open()
    assert worker is not None, pick.status.text()
    viewer.layers.remove(viewer.layers["mic_1"])  # before its result arrives
    other = _micrograph_file(tmp_path / "other", "mic_1", seed=9)
    viewer.open(str(other), plugin=PLUGIN)
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    qtbot.wait(200)
    assert sorted(session(viewer).pick_results) == ["mic_0", "mic_2"]
    shown = [len(layer.data) for layer in viewer.layers if layer.name == "mic_1 picks"]
    assert shown in ([], [0]), shown  # (the shared layers may follow it, empty)


def test_new_micrographs_opened_with_annotated_ones_take_their_shared_settings(
    make_napari_viewer, tmp_path, monkeypatch, qtbot
):
    """Yesterday's micrographs (56 px, 'ribo' in their sidecars) opened with two new ones:
    the new ones showed and saved 100 px while Pick picked them at 56 (user trial helper-28)."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    paths = [_micrograph_file(tmp_path / "data", f"mic_{i}", seed=i) for i in range(4)]
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    for path in paths[:2]:
        viewer.open(str(path), plugin=PLUGIN)
    annotate.diameter_spin.setValue(56.0)
    annotate.dataset_edit.setText("ribo")
    annotate.dataset_edit.editingFinished.emit()
    for name in ("mic_0", "mic_1"):
        annotate.micrograph_combo.setCurrentText(name)
        _click(annotate)
    annotate.save_all()
    viewer.close()

    viewer = make_napari_viewer()  # the next day
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    for path in paths:
        viewer.open(str(path), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "mic_3", timeout=5000)
    assert annotate.diameter_spin.value() == pytest.approx(56.0)
    assert annotate.dataset_edit.text() == "ribo"
    _click(annotate)
    annotate.save_all()
    saved = load_annotations(paths[3])
    assert saved.diameter_px == pytest.approx(56.0)
    assert saved.dataset == "ribo"


@pytest.mark.parametrize("dock_first", [False, True])
def test_reopened_micrographs_with_negatives_take_a_particle_at_the_first_click(
    make_napari_viewer, tmp_path, monkeypatch, qtbot, dock_first
):
    """A day-2 trial reopened two micrographs annotated with particles and negatives, then
    docked Annotate: the kind box had followed the last sidecar layer loaded, and the first
    click was saved as a negative."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.annotations import Annotations, save_annotations

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    paths = [_micrograph_file(tmp_path / "data", f"mic_{i}", seed=i) for i in range(2)]
    for path in paths:
        picks = pd.concat(
            [
                make_picks([40.0, 90.0], [50.0, 60.0], diameter=20.0, micrograph=path.stem),
                make_picks([200.0], [200.0], kind="negative", micrograph=path.stem),
            ],
            ignore_index=True,
        )
        save_annotations(
            Annotations(micrograph_path=str(path), picks=picks, dataset="d", diameter_px=20.0)
        )
    viewer = make_napari_viewer()
    if dock_first:
        _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    for path in paths:
        viewer.open(str(path), plugin=PLUGIN)
    if not dock_first:
        _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "mic_1", timeout=5000)
    qtbot.wait(50)
    assert annotate.kind_combo.currentText() == "particle"
    active = viewer.layers.selection.active
    assert active.name == "mic_1 particle"
    assert active.mode == "add"
    active.add(np.array([[120.0, 120.0]]))  # the first click
    annotate.save_all()
    counts = load_annotations(paths[1]).counts()
    assert counts["particle"] == 3
    assert counts["negative"] == 1


def test_save_now_writes_the_annotated_micrographs_only(three_open, qtbot, monkeypatch):
    """A trial's "Save now" said "no annotations" and wrote an empty sidecar for the
    unannotated micrograph shown; the annotated ones are what it must save."""
    import napari_cryopick._widgets.annotate as annotate_module
    from napari_cryopick.io.annotations import find_sidecar

    viewer, annotate, _train, _pick, paths = three_open
    annotate.micrograph_combo.setCurrentText("mic_0")
    annotate.diameter_spin.setValue(56.0)  # typed: mic_2 takes it (and the name) too
    annotate.dataset_edit.setText("ribo")
    annotate.dataset_edit.editingFinished.emit()
    for name in ("mic_0", "mic_1"):
        annotate.micrograph_combo.setCurrentText(name)
        _click(annotate)
    annotate.micrograph_combo.setCurrentText("mic_2")  # shown: nothing clicked
    assert micrograph_dataset(viewer.layers["mic_2"]) == "ribo"
    saved = annotate.save_all()
    assert len(saved) == 2
    assert find_sidecar(paths[2]) is None
    assert [load_annotations(p).counts()["particle"] for p in paths[:2]] == [3, 3]
    assert "Saved the annotations of 2 micrograph(s)" in annotate.status.text()
    # all clicks deleted on a saved micrograph: its sidecar is rewritten, empty
    annotate.micrograph_combo.setCurrentText("mic_0")
    layer = annotate.set_kind("particle")
    layer.data = np.empty((0, 2))
    assert len(annotate.save_all()) == 2
    assert load_annotations(paths[0]).counts()["particle"] == 0

    # a save that fails is said, not "nothing to save" (a review)
    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(annotate_module, "save_sidecar", full_disk)
    warned = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", warned.append)
    assert annotate.save_all() == []
    text = annotate.status.text()
    assert "2 could not be saved: Could not save annotations:" in text
    assert "No space left" in text
    assert "Nothing to save" not in text
    # and as a warning, beyond the status line the next message replaces: once each
    assert len(warned) == 2
    assert warned[0].startswith("mic_0: the annotations could not be saved")
    assert "No space left" in warned[0]
    assert annotate.save_all() == []
    assert len(warned) == 2  # (not again at each autosave of the same failure)


def test_a_micrograph_of_another_folder_says_what_it_took(make_napari_viewer, tmp_path, qtbot):
    """A trial opened an apoferritin micrograph beside β-gal ones: it took "bgal" and
    108 px without a word, and its clicks would have trained the β-gal head."""
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    bgal = [_micrograph_file(tmp_path / "bgal" / "micrographs", f"b_{i}", seed=i) for i in (0, 1)]
    viewer.open(str(bgal[0]), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "b_0", timeout=5000)
    annotate.diameter_spin.setValue(108.0)
    annotate.dataset_edit.setText("bgal")
    annotate.dataset_edit.editingFinished.emit()
    viewer.open(str(bgal[1]), plugin=PLUGIN)  # the same folder: takes both, no warning
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "b_1", timeout=5000)
    assert annotate.dataset_edit.text() == "bgal"
    assert "Warning" not in annotate.status.text()
    apo = _micrograph_file(tmp_path / "apoferritin" / "micrographs", "a_0", seed=5)
    viewer.open(str(apo), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "a_0", timeout=5000)
    text = annotate.status.text()
    assert "Warning: a_0 (folder apoferritin) took data set 'bgal' and 108 px" in text
    assert "as the micrographs of data set 'bgal' in bgal: if it is another protein" in text
    annotate.dataset_edit.setText("apo")  # named by the user: the warning goes
    annotate.dataset_edit.editingFinished.emit()
    assert "Warning" not in annotate.status.text()
    assert micrograph_dataset(viewer.layers["a_0"]) == "apo"
    # its diameter is still β-gal's: said until one is typed (a GUI trial's vesicle
    # micrograph, named 'vesicles', kept the ribosome's 56 px unsaid)
    text = annotate.status.text()
    assert "Note: the diameter 108 px came from the micrographs opened before, not from " in text
    assert "data set 'apo': type its diameter, or Measure a particle." in text
    annotate.diameter_spin.setValue(62.0)
    assert "Note: the diameter" not in annotate.status.text()


def test_a_micrograph_that_took_another_folders_data_set_follows_its_own_folders(
    make_napari_viewer, tmp_path, qtbot, monkeypatch
):
    """A GUI trial: an apoferritin micrograph opened after a ribosome one took 'ribosome'
    and 56 px (warned), and kept them after a micrograph of its own folder, annotated
    'apoferritin' the day before, opened."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.annotations import Annotations, save_annotations

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    ribo = _micrograph_file(tmp_path / "ribosome" / "micrographs", "r_0", seed=1)
    apo = [_micrograph_file(tmp_path / "apof" / "micrographs", f"a_{i}", seed=i) for i in (2, 3)]
    save_annotations(Annotations(apo[1], make_picks([40.0], [50.0]), "apoferritin", 62.0))
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    viewer.open(str(ribo), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "r_0", timeout=5000)
    annotate.diameter_spin.setValue(56.0)
    annotate.dataset_edit.setText("ribosome")
    annotate.dataset_edit.editingFinished.emit()
    viewer.open(str(apo[0]), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "a_2", timeout=5000)
    assert micrograph_dataset(viewer.layers["a_2"]) == "ribosome"  # taken, and warned
    assert "Warning: a_2 (folder apof) took data set 'ribosome'" in annotate.status.text()
    viewer.open(str(apo[1]), plugin=PLUGIN)  # its folder's own, annotated before
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "a_3", timeout=5000)
    assert micrograph_dataset(viewer.layers["a_3"]) == "apoferritin"
    assert micrograph_dataset(viewer.layers["a_2"]) == "apoferritin"
    from napari_cryopick._widgets._common import micrograph_diameter

    assert micrograph_diameter(viewer.layers["a_2"]) == 62.0
    assert micrograph_dataset(viewer.layers["r_0"]) == "ribosome"  # its own: kept


def test_micrographs_of_another_folder_opened_together_each_say_what_they_took(
    make_napari_viewer, tmp_path, qtbot
):
    """A trial: two β-gal micrographs opened together beside named ribosome ones: the
    second took 'ribosome' and 56 px from the first, unsaid, kept them after the first was
    named 'bgal' at 108 px, and was picked with the ribosome head at 56 px."""
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    ribosome = _micrograph_file(tmp_path / "ribosome", "r_0", seed=0)
    viewer.open(str(ribosome), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "r_0", timeout=5000)
    annotate.diameter_spin.setValue(56.0)
    annotate.diameter_spin.editingFinished.emit()
    annotate.dataset_edit.setText("ribosome")
    annotate.dataset_edit.editingFinished.emit()
    bgal = [_micrograph_file(tmp_path / "bgal", f"b_{i}", seed=i + 1) for i in (0, 1)]
    viewer.open([str(path) for path in bgal], plugin=PLUGIN)
    for name in ("b_0", "b_1"):
        annotate.micrograph_combo.setCurrentText(name)
        assert micrograph_dataset(viewer.layers[name]) == "ribosome"
        assert f"Warning: {name} (folder bgal) took data set 'ribosome'" in (
            annotate.status.text()
        ), name
    # naming one of the folder names the other, which took its settings only
    annotate.micrograph_combo.setCurrentText("b_0")
    annotate.dataset_edit.setText("bgal")
    annotate.dataset_edit.editingFinished.emit()
    annotate.diameter_spin.setValue(108.0)
    annotate.diameter_spin.editingFinished.emit()
    assert micrograph_dataset(viewer.layers["b_1"]) == "bgal"
    assert micrograph_diameter(viewer.layers["b_1"]) == 108.0
    annotate.micrograph_combo.setCurrentText("b_1")
    assert "Warning" not in annotate.status.text()
    assert annotate.diameter_spin.value() == 108.0
    # a micrograph with settings of its own keeps them
    assert micrograph_dataset(viewer.layers["r_0"]) == "ribosome"
    assert micrograph_diameter(viewer.layers["r_0"]) == 56.0
    # closed and opened again, a micrograph's saved settings are its own, as after a
    # restart: naming another of its folder leaves them
    b2 = _micrograph_file(tmp_path / "bgal", "b_2", seed=7)
    viewer.open(str(b2), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "b_2", timeout=5000)
    assert micrograph_dataset(viewer.layers["b_2"]) == "bgal"  # taken from its folder
    annotate.set_kind("particle").add([[20.0, 20.0]])
    annotate.save_all()
    viewer.layers.remove(viewer.layers["b_2"])
    viewer.open(str(b2), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "b_2", timeout=5000)
    annotate.micrograph_combo.setCurrentText("b_0")
    annotate.dataset_edit.setText("bgal2")
    annotate.dataset_edit.editingFinished.emit()
    assert micrograph_dataset(viewer.layers["b_2"]) == "bgal"  # read from its sidecar


def test_a_diameter_typed_for_one_data_set_is_not_given_to_another(
    make_napari_viewer, tmp_path, qtbot, monkeypatch
):
    """A trial named three micrographs of one folder ribosome, bgal and apoferritin, typed
    56 px on the ribosome one, and the other two took it when shown: their own heads then
    picked them at 56 px (β-gal AP 0.83 -> 0.00, unsaid)."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    names = {"r_0": "ribosome", "b_0": "bgal", "a_0": "apoferritin"}
    for seed, (name, dataset) in enumerate(names.items()):
        viewer.open(str(_micrograph_file(tmp_path / "mixed", name, seed=seed)), plugin=PLUGIN)
        qtbot.waitUntil(lambda n=name: annotate.micrograph_combo.currentText() == n, timeout=5000)
        annotate.dataset_edit.setText(dataset)
        annotate.dataset_edit.editingFinished.emit()
    annotate.micrograph_combo.setCurrentText("r_0")
    annotate.diameter_spin.setValue(56.0)
    annotate.diameter_spin.editingFinished.emit()
    for name in ("b_0", "a_0"):
        annotate.micrograph_combo.setCurrentText(name)
        assert micrograph_diameter(viewer.layers[name]) is None, name
    # a micrograph of the ribosome's data set still takes it, and an unnamed one takes the
    # name typed last with its diameter (typed first, named after: the usual order)
    viewer.open(str(_micrograph_file(tmp_path / "mixed", "r_1", seed=9)), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "r_1", timeout=5000)
    annotate.dataset_edit.setText("ribosome")
    annotate.dataset_edit.editingFinished.emit()
    assert micrograph_diameter(viewer.layers["r_1"]) in (None, 56.0)
    annotate.micrograph_combo.setCurrentText("r_0")
    annotate.micrograph_combo.setCurrentText("r_1")
    assert micrograph_diameter(viewer.layers["r_1"]) == 56.0


def test_a_micrograph_takes_the_data_set_of_its_folder_not_the_one_typed_last(
    make_napari_viewer, tmp_path, qtbot, monkeypatch
):
    """A trial: ribosome/061 (data set ribosome, 56 px) open, then β-gal micrographs of
    another folder named bgal at 108 px; the held-out ribosome/064 came up as bgal at
    108 px, and "each data set's own" picked it with the β-gal head (AP 0.000; the CLI,
    naming data sets by folder, 0.878)."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")

    def open_and_type(folder, name, seed, dataset=None, diameter=None):
        viewer.open(str(_micrograph_file(tmp_path / folder, name, seed=seed)), plugin=PLUGIN)
        qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == name, timeout=5000)
        if dataset is not None:
            annotate.dataset_edit.setText(dataset)
            annotate.dataset_edit.editingFinished.emit()
        if diameter is not None:
            annotate.diameter_spin.setValue(diameter)
            annotate.diameter_spin.editingFinished.emit()

    open_and_type("ribosome", "r_0", 1, "ribosome", 56.0)
    open_and_type("bgal", "b_0", 2, "bgal", 108.0)
    open_and_type("ribosome", "r_1", 3)
    assert micrograph_dataset(viewer.layers["r_1"]) == "ribosome"
    assert micrograph_diameter(viewer.layers["r_1"]) == 56.0
    # a folder of none open still takes what was typed last (typed first, named after)
    open_and_type("bgal2", "b_1", 4)
    assert micrograph_dataset(viewer.layers["b_1"]) == "bgal"
    assert micrograph_diameter(viewer.layers["b_1"]) == 108.0
    # named another data set, it takes that data set's diameter with it (the trial's 064,
    # typed 'ribosome', kept the 62 px it had taken, saved it, and was picked at it)
    open_and_type("bgal2", "b_1", 4, "ribosome")
    assert micrograph_diameter(viewer.layers["b_1"]) == 56.0
    assert annotate.diameter_spin.value() == 56.0
    # a diameter typed for it stays whatever it is named
    open_and_type("bgal2", "b_1", 4, None, 60.0)
    open_and_type("bgal2", "b_1", 4, "bgal")
    assert micrograph_diameter(viewer.layers["b_1"]) == 60.0


def test_an_unnamed_micrograph_takes_no_diameter_typed_in_another_folder(
    make_napari_viewer, tmp_path, qtbot, monkeypatch
):
    """A trial: 24 px typed on an unnamed fiber micrograph, then an unnamed vesicle
    micrograph of another folder opened took 24 px and saved it in its sidecar. Unnamed
    micrographs belong to their folder's data set, as training names them."""
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")

    def show(folder, name, seed):
        viewer.open(str(_micrograph_file(tmp_path / folder, name, seed=seed)), plugin=PLUGIN)
        qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == name, timeout=5000)

    show("fibmics", "f_0", 1)
    annotate.diameter_spin.setValue(24.0)
    annotate.diameter_spin.editingFinished.emit()
    show("vesicles", "v_0", 2)
    assert micrograph_diameter(viewer.layers["v_0"]) is None
    show("fibmics", "f_1", 3)  # its own folder's: taken
    assert micrograph_diameter(viewer.layers["f_1"]) == 24.0


def test_a_diameter_typed_before_the_data_set_goes_with_it(make_napari_viewer, tmp_path, qtbot):
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    viewer.open(str(_micrograph_file(tmp_path / "g", "m_0", seed=1)), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "m_0", timeout=5000)
    annotate.diameter_spin.setValue(80.0)
    annotate.diameter_spin.editingFinished.emit()
    annotate.dataset_edit.setText("tfiid")
    annotate.dataset_edit.editingFinished.emit()
    viewer.open(str(_micrograph_file(tmp_path / "g", "m_1", seed=2)), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "m_1", timeout=5000)
    assert micrograph_dataset(viewer.layers["m_1"]) == "tfiid"
    assert micrograph_diameter(viewer.layers["m_1"]) == 80.0


def test_a_micrograph_of_another_folder_says_what_it_took_from_a_closed_one(
    make_napari_viewer, tmp_path, qtbot
):
    """A trial typed 'apoferritin' and 62 px on an apoferritin micrograph, closed it and
    opened a vesicle micrograph of another folder: it took both without a word."""
    viewer = make_napari_viewer()
    _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    apo = _micrograph_file(tmp_path / "apoferritin", "a_0", seed=5)
    viewer.open(str(apo), plugin=PLUGIN)
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "a_0", timeout=5000)
    annotate.dataset_edit.setText("apoferritin")
    annotate.dataset_edit.editingFinished.emit()
    annotate.diameter_spin.setValue(62.0)
    annotate.diameter_spin.editingFinished.emit()
    # the same folder: takes both, no warning
    _close_all_and_open(
        viewer, annotate, qtbot, _micrograph_file(tmp_path / "apoferritin", "a_1", seed=6)
    )
    assert annotate.dataset_edit.text() == "apoferritin"
    assert "Warning" not in annotate.status.text()
    _close_all_and_open(
        viewer, annotate, qtbot, _micrograph_file(tmp_path / "vesicles", "v_0", seed=7)
    )
    # (the status follows once a_1's pending save, made as it closed, has said its piece)
    qtbot.waitUntil(lambda: "Warning: v_0" in annotate.status.text(), timeout=5000)
    text = annotate.status.text()
    assert "Warning: v_0 (folder vesicles) took data set 'apoferritin' and 62 px" in text
    assert "as typed last on a_0 (folder apoferritin): if it is another protein" in text
    # typing its diameter alone leaves the data set it took said (a re-trial)
    annotate.diameter_spin.setValue(180.0)
    annotate.diameter_spin.editingFinished.emit()
    text = annotate.status.text()
    assert "Warning: v_0 (folder vesicles) took data set 'apoferritin' as typed last" in text
    assert "62 px" not in text
    # the diameter typed here leaves the data set typed on a_0: the next vesicle micrograph
    # is still told where its data set came from (a review)
    _close_all_and_open(
        viewer, annotate, qtbot, _micrograph_file(tmp_path / "vesicles", "v_1", seed=8)
    )
    qtbot.waitUntil(lambda: "Warning: v_1" in annotate.status.text(), timeout=5000)
    text = annotate.status.text()
    # (the 180 px typed in this folder is not said)
    assert "took data set 'apoferritin' as typed last on a_0 (folder apoferritin)" in text


@pytest.mark.parametrize("how", ["remove", "remove_selected"])
def test_closing_the_micrograph_on_screen_lets_the_next_click_annotate_the_one_shown(
    three_open, qtbot, how
):
    """A trial closed the micrograph on screen with the layer list's delete button: the
    other micrograph's image layer stayed active in pan-zoom, and a click added nothing."""
    viewer, annotate, _train, _pick, _paths = three_open
    if how == "remove":
        viewer.layers.remove(viewer.layers["mic_2"])
    else:
        viewer.layers.selection.active = viewer.layers["mic_2"]
        viewer.layers.remove_selected()
    shown = annotate.micrograph_combo.currentText()
    assert shown in ("mic_0", "mic_1")
    qtbot.waitUntil(
        lambda: getattr(viewer.layers.selection.active, "name", "") == f"{shown} particle",
        timeout=5000,
    )
    assert viewer.layers.selection.active.mode == "add"
    assert viewer.layers[shown].visible


@pytest.mark.parametrize("deleted", ["heatmap", "picks"])
def test_choosing_a_micrograph_after_deleting_a_result_layer_sticks(three_open, qtbot, deleted):
    """A trial deleted the shared heatmap (or picks) layer, then chose another micrograph
    in Annotate's box: the box snapped back and the click was saved on the old one."""
    viewer, annotate, _train, pick, _paths = three_open
    assert pick.pick_all_open() is not None, pick.status.text()
    qtbot.waitUntil(lambda: pick.worker is None, timeout=120_000)
    qtbot.wait(200)
    shown = [layer for layer in viewer.layers if layer.name.endswith(f" {deleted}")]
    assert len(shown) == 1
    viewer.layers.remove(shown[0])
    before = annotate.micrograph_combo.currentText()
    target = "mic_0" if before != "mic_0" else "mic_1"
    annotate.micrograph_combo.setCurrentText(target)
    qtbot.wait(200)
    assert annotate.micrograph_combo.currentText() == target
    assert viewer.layers[target].visible
    assert not viewer.layers[before].visible
    layer = _click(annotate, count=1)
    assert layer.metadata["micrograph"] == target


@pytest.mark.parametrize("dock_first", [True, False])
def test_a_reopened_vesicle_micrograph_takes_a_vesicle_at_the_first_click(
    make_napari_viewer, tmp_path, monkeypatch, qtbot, dock_first
):
    """A vesicle trial reopened its micrograph (vesicles and negatives saved): Annotate
    chose "particle", and the first click added a 100 px particle."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.annotations import Annotations, save_annotations

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    path = _micrograph_file(tmp_path / "data", "ves", shape=(400, 400))
    picks = pd.concat(
        [
            make_picks([100.0], [120.0], diameter=80.0, kind="vesicle", micrograph="ves"),
            make_picks([300.0], [300.0], kind="negative", micrograph="ves"),
        ],
        ignore_index=True,
    )
    save_annotations(Annotations(micrograph_path=str(path), picks=picks, dataset="v"))
    viewer = make_napari_viewer()
    if dock_first:
        _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    viewer.open(str(path), plugin=PLUGIN)
    if not dock_first:  # a re-trial: docked after opening, it chose "particle"
        _dock, annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    qtbot.waitUntil(lambda: annotate.micrograph_combo.currentText() == "ves", timeout=5000)
    qtbot.wait(50)
    assert annotate.kind_combo.currentText() == "vesicle"
    assert viewer.layers.selection.active.name == "ves vesicle"
    # a particle micrograph chosen next takes a particle (not a circle) at the first click
    other = _micrograph_file(tmp_path / "data", "ribo", seed=3)
    save_annotations(
        Annotations(micrograph_path=str(other), picks=make_picks([50.0], [50.0]), dataset="r")
    )
    viewer.open(str(other), plugin=PLUGIN)
    qtbot.wait(50)
    annotate.micrograph_combo.setCurrentText("ves")
    assert annotate.kind_combo.currentText() == "vesicle"
    annotate.micrograph_combo.setCurrentText("ribo")
    assert annotate.kind_combo.currentText() == "particle"
    assert viewer.layers.selection.active.name == "ribo particle"


def test_a_duplicated_micrograph_layer_stays(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    """A re-trial: napari's Duplicate Layer on a micrograph (it copies the metadata, the
    file's path included) was closed as a second file of that name."""
    from napari.layers._layer_actions import _duplicate_layer

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    viewer = make_napari_viewer()
    _dock, _annotate = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotate")
    viewer.open(str(_micrograph_file(tmp_path / "data", "mic")), plugin=PLUGIN)
    viewer.layers.selection.active = viewer.layers["mic"]
    _duplicate_layer(viewer.layers)
    qtbot.wait(100)
    assert "mic copy" in viewer.layers
    assert not session(viewer).refused
