"""Evaluate widget through the manifest: its numbers are evaluate()'s; thresholds reach Pick."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.pickfiles import read_picks
from napari_cryopick.layers.points import picks_layer
from napari_cryopick.layers.results import ROLE_KEY

DATASET = "empiar10028_ribosome"
NAME = "061_10028"


@pytest.fixture
def evaluation(make_napari_viewer, real_data_dir):
    """Truth = the real labels (from file); prediction = jittered labels + junk with scores."""
    truth_file = real_data_dir / DATASET / "picks" / f"{NAME}.csv"
    truth = read_picks(truth_file)
    rng = np.random.default_rng(0)
    found = truth.sample(frac=0.7, random_state=0)
    junk = make_picks(rng.uniform(0, 1023, 30), rng.uniform(0, 1023, 30))
    pred = make_picks(
        np.concatenate([found["x"] + rng.normal(0, 3, len(found)), junk["x"]]),
        np.concatenate([found["y"] + rng.normal(0, 3, len(found)), junk["y"]]),
        diameter=56.0,
        score=np.concatenate([rng.uniform(0.4, 1.0, len(found)), rng.uniform(0.0, 0.6, 30)]),
        micrograph=NAME,
    )
    viewer = make_napari_viewer()
    viewer.open(
        str(real_data_dir / DATASET / "micrographs" / f"{NAME}.png"), plugin="napari-cryopick"
    )
    data, kwargs, _ = picks_layer(pred, f"{NAME} picks")
    viewer.add_points(data, **kwargs)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    widget.diameter_spin.setValue(56.0)
    widget.pred_combo.setCurrentText(f"{NAME} picks")
    assert widget.load_truth(truth_file) is not None
    return viewer, widget, pred, truth


def test_a_results_layer_alone_is_the_prediction(make_napari_viewer, real_data_dir):
    """A GUI re-trial: with the picks the only layer to evaluate (no truth opened yet, or
    its layer deleted), Evaluate showed Predicted empty and Ground truth = the picks."""
    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET
    viewer.open(str(folder / "micrographs" / f"{NAME}.png"), plugin="napari-cryopick")
    table = read_picks(folder / "picks" / f"{NAME}.csv")
    data, kwargs, _ = picks_layer(table.assign(micrograph=NAME, score=0.5), f"{NAME} results")
    kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "result"}
    viewer.add_points(data, **kwargs)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    assert widget.pred_combo.currentText() == f"{NAME} results"
    assert widget.truth_combo.currentText() == ""
    data, kwargs, _ = picks_layer(table.assign(micrograph=NAME), f"{NAME} truth")
    truth = viewer.add_points(data, **kwargs)
    assert widget.truth_combo.currentText() == f"{NAME} truth"
    viewer.layers.remove(truth)  # deleted: the picks stay the prediction
    assert widget.pred_combo.currentText() == f"{NAME} results"
    assert widget.truth_combo.currentText() == ""


def test_an_empty_truth_gives_way_to_a_truth_opened_later(make_napari_viewer, real_data_dir):
    # a trial picked, then opened the truth file: the empty particle annotation layer
    # stayed chosen and Evaluate said "the ground-truth layer has no points"
    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET
    viewer.open(str(folder / "micrographs" / f"{NAME}.png"), plugin="napari-cryopick")
    _dock, annotate = viewer.window.add_plugin_dock_widget("napari-cryopick", "Annotate")
    empty = annotate.set_kind("particle")
    assert len(empty.data) == 0
    table = read_picks(folder / "picks" / f"{NAME}.csv")
    data, kwargs, _ = picks_layer(table.assign(micrograph=NAME, score=0.5), f"{NAME} results")
    kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "result"}  # picked first
    viewer.add_points(data, **kwargs)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    assert widget.pred_combo.currentText() == f"{NAME} results"
    assert widget.truth_combo.currentText() == empty.name  # the only candidate
    # evaluated so, it says which layer is empty and what to do (a fiber trial's empty
    # picks layer stood as the truth beside its fibers: "nothing to compare")
    assert widget.run() is None
    assert widget.results_label.text() == (
        f"The ground-truth layer '{empty.name}' has no points: nothing to compare (choose "
        "another, or Load truth file…)."
    )
    data, kwargs, _ = picks_layer(table.assign(micrograph=NAME), f"{NAME} truth")
    viewer.add_points(data, **kwargs)
    assert widget.truth_combo.currentText() == f"{NAME} truth"


@pytest.mark.parametrize("iou", ["0.5", "0.6"])
def test_numbers_equal_core_evaluate(evaluation, iou):
    _viewer, widget, pred, truth = evaluation
    widget.iou_combo.setCurrentText(iou)
    report = widget.run()
    assert report is not None, widget.results_label.text()
    direct = evaluate(
        pred, truth.assign(micrograph=NAME), iou_thresholds=(float(iou),), diameter_px=56.0
    )
    name = f"AP@{float(iou):g}"
    assert list(report.ap) == [name]
    assert report.ap[name] == pytest.approx(direct.ap[name])
    assert report.ar == pytest.approx(direct.ar, nan_ok=True)
    assert report.best_f1 == pytest.approx(direct.best_f1)
    assert report.best_f2 == pytest.approx(direct.best_f2)
    assert report.n_truth == len(truth)
    assert report.n_pred == len(pred)
    assert 0.3 < report.ap[name] < 0.95  # 70 % found, some junk
    assert f"{report.ap[name]:.3f}" in widget.results_label.text()
    curve = report.pr_curves[name]
    line = widget.axes.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), curve.recall)


def test_threshold_goes_to_pick_slider(evaluation):
    viewer, widget, _pred, _truth = evaluation
    _dock, pick = viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")
    report = widget.run()
    # down to the slider's thousandths: the pick scored at the best threshold stays shown
    # (a GUI trial's best-F1 0.06553 went to 0.066 and hid it)
    down = math.floor(report.best_f2[0] * 1000 + 1e-9) / 1000
    assert widget.apply_threshold(beta=2) == pytest.approx(down)
    assert pick.threshold() == pytest.approx(down)
    assert pick.threshold() <= report.best_f2[0]
    widget.apply_threshold(beta=1)
    assert pick.threshold() == pytest.approx(math.floor(report.best_f1[0] * 1000 + 1e-9) / 1000)
    assert pick.threshold() <= report.best_f1[0]
    # said as the Pick widget says it (a GUI trial read 0.24 here, 0.237 there)
    from napari_cryopick._widgets._common import threshold_text

    shown = threshold_text(pick.threshold())
    assert f"best F1 {report.best_f1[1]:.3f} at threshold {shown} " in widget.results_label.text()


def test_a_chosen_layer_renamed_stays_chosen_under_its_new_name(evaluation):
    """The shared result layers take the name of the micrograph they show (user trial
    helper-28: the lists kept the old name, and the picks could not be chosen)."""
    viewer, widget, _pred, _truth = evaluation
    viewer.layers[f"{NAME} picks"].name = "other picks"  # as when the layers switch
    items = [widget.pred_combo.itemText(i) for i in range(widget.pred_combo.count())]
    assert "other picks" in items
    assert f"{NAME} picks" not in items
    assert widget.pred_combo.currentText() == "other picks"
    assert widget.run() is not None, widget.results_label.text()


def test_layers_of_the_micrograph_on_screen_are_preselected_and_a_mismatch_is_said(
    make_napari_viewer, real_data_dir
):
    """Predicted: the results of the micrograph shown; truth: that micrograph's; else a warning."""
    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET
    for name in ("062_10028", NAME):  # NAME opened last: on screen
        viewer.open(str(folder / "micrographs" / f"{name}.png"), plugin="napari-cryopick")
    tables = {name: read_picks(folder / "picks" / f"{name}.csv") for name in ("062_10028", NAME)}
    for name, table in tables.items():
        data, kwargs, _ = picks_layer(table.assign(micrograph=name, score=0.5), f"{name} results")
        kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "result"}
        viewer.add_points(data, **kwargs)
    for name, table in tables.items():  # truth layers, as a script or another plugin adds
        data, kwargs, _ = picks_layer(table.assign(micrograph=name), f"{name} truth")
        viewer.add_points(data, **kwargs)
    viewer.layers.selection.active = viewer.layers[NAME]
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    widget.diameter_spin.setValue(56.0)
    assert widget.pred_combo.currentText() == f"{NAME} results"
    assert widget.truth_combo.currentText() == f"{NAME} truth"
    assert widget.run() is not None
    assert "Warning: the predicted picks are" not in widget.results_label.text()
    assert widget.apply_f1_button.isEnabled()
    widget.truth_combo.setCurrentText("062_10028 truth")
    assert widget.run() is None  # one micrograph's picks against another's truth: refused
    assert (
        f"The predicted picks are {NAME}'s, the ground truth is 062_10028's"
        in widget.results_label.text()
    )
    assert not widget.apply_f1_button.isEnabled()
    # the picks layer comes to show the other micrograph (renamed, its micrograph changed):
    # the truth follows to that micrograph's (user trial helper-32)
    widget.truth_combo.setCurrentText(f"{NAME} truth")
    results = viewer.layers[f"{NAME} results"]
    results.metadata["micrograph"] = "062_10028"
    results.name = "062_10028 picks"
    assert widget.pred_combo.currentText() == "062_10028 picks"
    assert widget.truth_combo.currentText() == "062_10028 truth"


def test_picks_of_another_size_than_the_truth_are_warned_about_under_the_figures(evaluation):
    viewer, widget, pred, _truth = evaluation
    data, kwargs, _ = picks_layer(pred.assign(diameter=100.0), "big picks")
    viewer.add_points(data, **kwargs)
    widget._refresh_layers()
    widget.pred_combo.setCurrentText("big picks")
    assert widget.run() is not None, widget.results_label.text()
    text = widget.results_label.text()
    assert "AP@0.5" in text
    assert "Warning: The predictions' diameters (median 100 px) differ" in text
    # the right size: no warning
    widget.pred_combo.setCurrentText(f"{NAME} picks")
    assert widget.run() is not None
    assert "Warning" not in widget.results_label.text()


def test_a_best_f1_of_zero_offers_no_threshold(evaluation):
    # a user trial: "Use best-F1 threshold" moved the slider although no pick matched
    viewer, widget, pred, _truth = evaluation
    _dock, pick = viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")
    assert widget.run() is not None  # a report with a best F1: the buttons are on
    assert widget.apply_f1_button.isEnabled()
    far = pred.assign(x=pred["x"] + 2000.0)  # nothing within reach of a true particle
    data, kwargs, _ = picks_layer(far, "far picks")
    viewer.add_points(data, **kwargs)
    widget._refresh_layers()
    widget.pred_combo.setCurrentText("far picks")
    widget.run()
    assert not widget.apply_f1_button.isEnabled()
    assert not widget.apply_f2_button.isEnabled()
    before = pick.threshold()
    assert widget.apply_threshold(beta=1) is None
    assert pick.threshold() == before
    assert "no threshold to use" in widget.results_label.text()


def test_size_warning_speaks_of_the_widgets_tolerance_box_which_matches_by_distance(evaluation):
    # the warning named `--tolerance PX`, an option of the command, not of the widget
    viewer, widget, pred, truth = evaluation
    big = pred.assign(diameter=100.0)
    data, kwargs, _ = picks_layer(big, "big picks")
    viewer.add_points(data, **kwargs)
    widget._refresh_layers()
    widget.pred_combo.setCurrentText("big picks")
    assert widget.run() is not None
    text = widget.results_label.text()
    assert "--tolerance" not in text
    assert "the Tolerance box" in text
    widget.tolerance_spin.setValue(14.0)
    report = widget.run()
    with pytest.warns(UserWarning, match="centre distance"):
        direct = evaluate(
            big, truth.assign(micrograph=NAME), iou_thresholds=(0.5,), tolerance_px=14.0
        )
    assert widget.ap_name(report) == "AP@14px"
    assert report.ap["AP@14px"] == pytest.approx(direct.ap["AP@14px"])
    assert report.ap["AP@14px"] > 0.3  # the well-placed picks match by distance
    assert (
        f"AP@14px ({report.criterion}): {report.ap['AP@14px']:.3f}" in widget.results_label.text()
    )


def test_the_diameter_box_follows_the_micrograph_until_the_user_types_one(
    make_napari_viewer, real_data_dir
):
    # a trial's Evaluate box stayed at 100 px while every other widget said 56
    from napari_cryopick._widgets._common import micrograph_layers, set_micrograph_settings

    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET / "micrographs"
    for name in ("062_10028", NAME):  # NAME opened last: on screen
        viewer.open(str(folder / f"{name}.png"), plugin="napari-cryopick")
    layers = {layer.name: layer for layer in micrograph_layers(viewer)}
    set_micrograph_settings(viewer, layers["062_10028"], diameter_px=80.0)
    set_micrograph_settings(viewer, layers[NAME], diameter_px=56.0)
    viewer.layers.selection.active = layers[NAME]
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    assert widget.diameter_spin.value() == 56.0
    set_micrograph_settings(viewer, layers[NAME], diameter_px=60.0)
    assert widget.diameter_spin.value() == 60.0
    # the other micrograph worked on: its diameter
    viewer.layers.selection.active = layers["062_10028"]
    set_micrograph_settings(viewer, layers["062_10028"], diameter_px=82.0)
    assert widget.diameter_spin.value() == 82.0
    widget.diameter_spin.setValue(70.0)
    widget.diameter_spin.editingFinished.emit()  # the user typed it
    set_micrograph_settings(viewer, layers["062_10028"], diameter_px=64.0)
    assert widget.diameter_spin.value() == 70.0


def test_choices_made_before_picking_give_way_to_the_results_and_follow_the_screen(
    make_napari_viewer, real_data_dir
):
    """A trial docked Evaluate before picking: the clicks became "predicted", the results
    "ground truth", and the predicted box stayed on that micrograph after switching."""
    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET
    names = ("062_10028", NAME)
    for name in names:
        viewer.open(str(folder / "micrographs" / f"{name}.png"), plugin="napari-cryopick")
    tables = {name: read_picks(folder / "picks" / f"{name}.csv") for name in names}
    for name, table in tables.items():  # the user's clicks
        data, kwargs, _ = picks_layer(table.head(10).assign(micrograph=name), f"{name} particle")
        kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "annotation"}
        viewer.add_points(data, **kwargs)
    viewer.layers.selection.active = viewer.layers[NAME]
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    assert widget.pred_combo.currentText() == f"{NAME} particle"  # nothing better yet
    for name, table in tables.items():  # then the results of picking
        data, kwargs, _ = picks_layer(table.assign(micrograph=name, score=0.5), f"{name} picks")
        kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "result"}
        viewer.add_points(data, **kwargs)
    viewer.layers.selection.active = viewer.layers[NAME]
    assert widget.pred_combo.currentText() == f"{NAME} picks"
    assert widget.truth_combo.currentText() == f"{NAME} particle"
    viewer.layers.selection.active = viewer.layers["062_10028"]  # another micrograph shown
    assert widget.pred_combo.currentText() == "062_10028 picks"
    assert widget.truth_combo.currentText() == "062_10028 particle"
    # a layer the user chooses stays chosen when the screen changes
    widget.pred_combo.setCurrentText(f"{NAME} picks")
    viewer.layers.selection.active = viewer.layers["062_10028"]
    assert widget.pred_combo.currentText() == f"{NAME} picks"
    # a truth file loaded is the user's choice too
    loaded = widget.load_truth(folder / "picks" / f"{NAME}.csv")
    assert widget.truth_combo.currentText() == loaded.name
    viewer.layers.selection.active = viewer.layers[NAME]
    viewer.layers.selection.active = viewer.layers["062_10028"]
    assert widget.truth_combo.currentText() == loaded.name
    assert widget.pred_combo.currentText() == f"{NAME} picks"


def test_clicks_as_ground_truth_are_said_to_be_incomplete(evaluation):
    """A trial evaluated against the truth box's automatic choice on another micrograph:
    its 10 clicks. AP 0.027 with no word that the truth was sparse clicks."""
    viewer, widget, _pred, truth = evaluation
    complete = widget.truth_combo.currentText()  # the truth file the fixture loaded
    data, kwargs, _ = picks_layer(truth.head(10).assign(micrograph=NAME), f"{NAME} particle")
    kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "annotation"}
    viewer.add_points(data, **kwargs)
    widget._refresh_layers()
    widget.truth_combo.setCurrentText(f"{NAME} particle")
    assert widget.run() is not None, widget.results_label.text()
    text = widget.results_label.text()
    assert f"The ground truth is the 10 objects clicked in '{NAME} particle'" in text
    # the complete truth file: no such warning
    widget.truth_combo.setCurrentText(complete)
    assert widget.run() is not None
    assert "objects clicked" not in widget.results_label.text()
    # clicks in one corner spread less than the picks: no "binned" warning (a review)
    rng = np.random.default_rng(1)
    corner = make_picks(rng.uniform(0, 400, 25), rng.uniform(0, 400, 25), diameter=56.0)
    data, kwargs, _ = picks_layer(corner.assign(micrograph=NAME), f"{NAME} corner")
    kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "annotation"}
    viewer.add_points(data, **kwargs)
    widget._refresh_layers()
    widget.truth_combo.setCurrentText(f"{NAME} corner")
    assert widget.run() is not None, widget.results_label.text()
    assert "binned" not in widget.results_label.text()


def test_a_pick_file_opened_is_the_truth_before_annotations_that_hold_the_result(
    make_napari_viewer, real_data_dir
):
    # left alone last session: after "Use as training labels" the particle annotations
    # hold the result itself, and Evaluate preselected them over the truth file the user
    # had opened: the result compared with itself
    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET
    viewer.open(str(folder / "micrographs" / f"{NAME}.png"), plugin="napari-cryopick")
    table = read_picks(folder / "picks" / f"{NAME}.csv")
    result = table.head(40).assign(micrograph=NAME, score=0.5)
    data, kwargs, _ = picks_layer(result, f"{NAME} results")
    kwargs["metadata"] = {**kwargs["metadata"], ROLE_KEY: "result"}
    viewer.add_points(data, **kwargs)
    _dock, annotate = viewer.window.add_plugin_dock_widget("napari-cryopick", "Annotate")
    labels = annotate.set_kind("particle")
    labels.data = data  # the result, as its labels
    (opened,) = viewer.open(str(folder / "picks" / f"{NAME}.csv"), plugin="napari-cryopick")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    assert widget.pred_combo.currentText() == f"{NAME} results"
    assert widget.truth_combo.currentText() == opened.name
    assert len(opened.data) == len(table)


def test_predicted_says_it_counts_every_candidate_not_only_those_shown(evaluation, real_data_dir):
    """A GUI trial read "808 predicted, 391 true" beside 717 picks shown at 0.14."""
    from napari_cryopick._widgets._common import session

    viewer, widget, pred, _truth = evaluation
    # another micrograph open, at another threshold of its own: the evaluated one's counts
    viewer.open(
        str(real_data_dir / DATASET / "micrographs" / "062_10028.png"), plugin="napari-cryopick"
    )
    session(viewer).micrograph_thresholds["062_10028"] = 0.9
    session(viewer).display_threshold = 0.5
    widget.pred_combo.setCurrentText(f"{NAME} picks")
    widget.run()
    shown = int((pred["score"] >= 0.5).sum())
    assert 0 < shown < len(pred)
    assert (
        f"{len(pred)} predicted (every candidate scored, for the curve; {shown} at or above "
        "the threshold 0.50)"
    ) in widget.results_label.text()


def test_hand_picks_rank_first_among_log_odds_scores():
    """A review: with a Topaz file's scores (log-odds above 1), hand picks filled with 1.0
    ranked below misses scored 2.0, where cryopick evaluate ranks them first."""
    import pandas as pd

    from napari_cryopick._widgets.evaluate import _sure_scores

    table = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0], "score": [None, 3.0, 2.0]})
    assert _sure_scores(table)["score"].tolist() == [3.0, 3.0, 2.0]
    probabilities = table.assign(score=[None, 0.4, 0.2])
    assert _sure_scores(probabilities)["score"].tolist() == [1.0, 0.4, 0.2]


def test_a_mirrored_or_doubled_truth_file_is_said_and_the_mirror_can_be_undone(
    make_napari_viewer, real_data_dir, tmp_path
):
    """``cryopick evaluate`` warns of a truth mirrored top to bottom, binned or holding
    duplicates; the widget scored such files unsaid (AP near 0). A file counting y from
    the bottom row is mirrored onto its micrograph (named by the file, not the one on
    screen) with *y from the last row*."""
    folder = real_data_dir / DATASET
    viewer = make_napari_viewer()
    for name in ("062_10028", NAME):  # NAME on screen; the file names it
        viewer.open(str(folder / "micrographs" / f"{name}.png"), plugin="napari-cryopick")
    height = int(viewer.layers[NAME].data.shape[-2])
    truth = read_picks(folder / "picks" / f"{NAME}.csv")
    pred = make_picks(
        truth["x"],
        truth["y"],
        diameter=56.0,
        score=np.linspace(1, 0.5, len(truth)),
        micrograph=NAME,
    )
    data, kwargs, _ = picks_layer(pred, f"{NAME} picks")
    viewer.add_points(data, **kwargs)
    mirrored = tmp_path / f"{NAME}.csv"
    truth.assign(y=height - 1 - truth["y"]).to_csv(mirrored, index=False)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    widget.diameter_spin.setValue(56.0)
    widget.pred_combo.setCurrentText(f"{NAME} picks")
    viewer.layers.selection.active = viewer.layers["062_10028"]  # another one on screen

    assert widget.load_truth(mirrored) is not None
    report = widget.run()
    assert report.ap["AP@0.5"] < 0.2
    text = widget.results_label.text()
    assert "far better mirrored top to bottom" in text
    assert f"tick 'y from the last row' and load {NAME}.csv again" in text

    widget.truth_flip_check.setChecked(True)
    layer = widget.load_truth(mirrored)
    np.testing.assert_allclose(layer.data[:, 0], truth["y"].to_numpy(float))  # NAME's height
    report = widget.run()
    assert report.ap["AP@0.5"] > 0.95
    assert "Warning" not in widget.results_label.text()

    doubled = tmp_path / "doubled" / f"{NAME}.csv"
    doubled.parent.mkdir()
    pd.concat([truth, truth]).to_csv(doubled, index=False)
    widget.truth_flip_check.setChecked(False)
    widget.load_truth(doubled)
    assert widget.run() is not None
    assert f"ground truth holds {len(truth)} duplicate pick(s)" in widget.results_label.text()

    binned = tmp_path / "binned" / f"{NAME}.csv"
    binned.parent.mkdir()
    truth.assign(x=truth["x"] / 4, y=truth["y"] / 4, diameter=14.0).to_csv(binned, index=False)
    widget.load_truth(binned)
    assert widget.run() is not None
    assert "look like those of a binned micrograph" in widget.results_label.text()


def test_a_whole_data_sets_truth_file_is_mirrored_micrograph_by_micrograph(
    make_napari_viewer, real_data_dir, tmp_path
):
    """A re-trial's truth file of two open micrographs, counting y from the bottom: told
    to tick the box, then refused ("load one micrograph's file")."""
    folder = real_data_dir / DATASET
    viewer = make_napari_viewer()
    names = ("062_10028", NAME)
    for name in names:
        viewer.open(str(folder / "micrographs" / f"{name}.png"), plugin="napari-cryopick")
    tables = []
    for name in (*names, "063_10028"):  # 063 is not open: its rows as read
        table = read_picks(folder / "picks" / f"{name}.csv").assign(micrograph=name)
        tables.append(table.assign(y=1023 - table["y"]) if name != "063_10028" else table)
    mirrored = tmp_path / "truth_all.csv"
    pd.concat(tables).to_csv(mirrored, index=False)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    layer = widget.load_truth(mirrored, flip_y=True)
    assert layer is not None, widget.results_label.text()
    loaded = layer.features.assign(y=layer.data[:, 0], x=layer.data[:, 1])
    for name in (*names, "063_10028"):
        expected = read_picks(folder / "picks" / f"{name}.csv")
        got = loaded[loaded["micrograph"] == name]
        np.testing.assert_allclose(np.sort(got["y"]), np.sort(expected["y"]))


def test_binning_advice_names_no_command_line_option():
    from napari_cryopick._widgets.evaluate import _for_the_widget

    said = _for_the_widget(
        "the sizes differ 2 times: picks of micrographs binned 2 times? (--truth-binning 2 "
        "scales their coordinates and sizes); else read the figures"
    )
    assert "--" not in said
    assert "scale the file's coordinates and sizes 2 times" in said


def test_mirroring_a_truth_file_needs_its_micrograph(make_napari_viewer, real_data_dir):
    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-cryopick", "Evaluate")
    assert widget.load_truth(real_data_dir / DATASET / "picks" / f"{NAME}.csv", flip_y=True) is None
    assert "open its micrograph first" in widget.results_label.text()
