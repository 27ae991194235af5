"""Evaluation metrics on small cases worked out by hand."""

from __future__ import annotations

import json
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_cryopick.core.evaluate import (
    MicrographMismatchError,
    auroc,
    average_precision,
    average_recall,
    best_threshold,
    box_iou,
    evaluate,
    keeping_text,
    match_picks,
    precision_recall_curve,
)
from napari_cryopick.core.pick_table import make_picks


def _truth_row(n: int, micrograph: str = "m1", spacing: float = 100.0) -> pd.DataFrame:
    """``n`` truth picks on a row, 100 px apart, diameter 20."""
    return make_picks(np.arange(n) * spacing, np.zeros(n), diameter=20.0, micrograph=micrograph)


def _pred_from_labels(labels: list[bool], scores: list[float], n_truth: int) -> pd.DataFrame:
    """Predictions that hit the next unused truth pick (TP) or empty space (FP)."""
    xs, next_truth = [], 0
    for is_tp in labels:
        if is_tp:
            xs.append(next_truth * 100.0 + 1.0)
            next_truth += 1
        else:
            xs.append(10_000.0 + 100.0 * len(xs))  # far from every truth pick
    assert next_truth <= n_truth
    return make_picks(xs, np.zeros(len(xs)), diameter=20.0, score=scores, micrograph="m1")


def test_perfect_predictions_give_ap_one():
    truth = _truth_row(5)
    pred = truth.assign(score=np.linspace(0.9, 0.5, 5))
    assert average_precision(pred, truth) == pytest.approx(1.0)
    report = evaluate(pred, truth)
    assert report.ap["AP@0.5"] == pytest.approx(1.0)
    assert report.ap["AP@0.6"] == pytest.approx(1.0)
    assert report.ar == pytest.approx(1.0)  # IoU 1 passes every threshold up to 0.95
    assert report.best_f1[1:] == pytest.approx((1.0, 1.0, 1.0))


def test_one_false_positive_ranked_first():
    # 2 truth picks; predictions FP(0.9), TP(0.8), TP(0.7).
    # precision 0, 1/2, 2/3; recall 0, 1/2, 1 → envelope 2/3, 2/3, 2/3
    # AP = 0.5 * 2/3 + 0.5 * 2/3 = 2/3.
    truth = _truth_row(2)
    pred = _pred_from_labels([False, True, True], [0.9, 0.8, 0.7], 2)
    curve = precision_recall_curve(pred, truth)
    np.testing.assert_allclose(curve.precision, [0.0, 0.5, 2 / 3])
    np.testing.assert_allclose(curve.recall, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.7])
    assert average_precision(pred, truth) == pytest.approx(2 / 3)
    # AUROC: positives 0.8, 0.7 vs the FP 0.9 → both lose → 0.
    assert auroc(pred, truth) == pytest.approx(0.0)


def test_duplicates_are_matched_once():
    truth = _truth_row(1)
    pred = make_picks([0.0, 2.0, -1.0], [0.0, 0.0, 1.0], diameter=20.0, score=[0.9, 0.8, 0.7])
    pred["micrograph"] = "m1"
    match = match_picks(pred, truth, iou=0.5)
    # Highest score takes the truth pick; the two duplicates are false positives.
    np.testing.assert_array_equal(match.matched, [True, False, False])
    assert match.n_truth == 1
    # precision 1, 1/2, 1/3 at recall 1 → AP = 1.
    assert average_precision(match) == pytest.approx(1.0)
    # The duplicates lower the precision at the lowest threshold: 1/3.
    assert precision_recall_curve(match).precision[-1] == pytest.approx(1 / 3)


def test_iou_of_half_diameter_offset_is_one_third():
    # Boxes of side d offset by d/2: intersection d*d/2, union 2d² - d²/2 = 1.5d² → 1/3.
    d = 30.0
    assert box_iou(0.0, 0.0, d, d / 2, 0.0, d) == pytest.approx(1 / 3)
    truth = make_picks([100.0], [100.0], diameter=d, micrograph="m")
    pred = make_picks([100.0 + d / 2], [100.0], diameter=d, score=[1.0], micrograph="m")
    assert not match_picks(pred, truth, iou=0.5).matched[0]
    assert match_picks(pred, truth, iou=0.3).matched[0]
    # Same pair by distance: d/2 = 15 px.
    assert match_picks(pred, truth, tolerance_px=15.0).matched[0]
    assert not match_picks(pred, truth, tolerance_px=14.9).matched[0]


def test_iou_uses_own_diameter_then_fallback():
    truth = make_picks([0.0], [0.0], diameter=np.nan, micrograph="m")
    pred = make_picks([5.0], [0.0], diameter=np.nan, score=[1.0], micrograph="m")
    with pytest.raises(ValueError, match="diameter"):
        match_picks(pred, truth, iou=0.5)
    # d = 20: overlap 15 x 20 = 300, union 800 - 300 = 500 → IoU 0.6.
    assert box_iou(0.0, 0.0, 20.0, 5.0, 0.0, 20.0) == pytest.approx(0.6)
    assert match_picks(pred, truth, iou=0.6, diameter_px=20.0).matched[0]
    assert not match_picks(pred, truth, iou=0.61, diameter_px=20.0).matched[0]


def test_average_precision_of_five_predictions_by_hand():
    # 4 truth picks; scores 0.9 TP, 0.8 FP, 0.7 TP, 0.6 FP, 0.5 TP.
    # precision: 1, 1/2, 2/3, 1/2, 3/5; recall: 1/4, 1/4, 1/2, 1/2, 3/4.
    # envelope at r=1/4: 1; r=1/2: 2/3; r=3/4: 3/5.
    # AP = 1/4 * 1 + 1/4 * 2/3 + 1/4 * 3/5 = 0.25 + 0.16667 + 0.15 = 0.56667.
    truth = _truth_row(4)
    pred = _pred_from_labels([True, False, True, False, True], [0.9, 0.8, 0.7, 0.6, 0.5], 4)
    assert average_precision(pred, truth) == pytest.approx(0.25 + 1 / 6 + 0.15)
    # AUROC: positives 0.9, 0.7, 0.5 + one missed (-inf); FPs 0.8, 0.6.
    # wins: 0.9 beats 2, 0.7 beats 1, 0.5 beats 0, missed 0 → 3 / (4 * 2) = 0.375.
    assert auroc(pred, truth) == pytest.approx(0.375)
    # Best F1: t=0.9: P1 R.25 F.4; t=.7: P2/3 R.5 F.5714; t=.5: P.6 R.75 F.6667.
    threshold, f1, precision, recall = best_threshold(pred, truth, beta=1)
    assert threshold == pytest.approx(0.5)
    assert f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert (precision, recall) == pytest.approx((0.6, 0.75))


def test_best_f2_and_f1_thresholds_differ():
    # 4 truth; 0.9 TP, 0.8 TP, 0.7 TP, 0.6 FP, 0.5 FP, 0.4 FP, 0.3 TP.
    # t=0.7: P=1, R=3/4 → F1 = 0.857, F2 = 5*.75/(4+.75) = 0.789
    # t=0.3: P=4/7, R=1 → F1 = 0.727, F2 = 5*(4/7)/(4*(4/7)+1) = 0.870
    truth = _truth_row(4)
    pred = _pred_from_labels(
        [True, True, True, False, False, False, True], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], 4
    )
    t1, f1, _, _ = best_threshold(pred, truth, beta=1)
    t2, f2, p2, r2 = best_threshold(pred, truth, beta=2)
    assert t1 == pytest.approx(0.7)
    assert f1 == pytest.approx(6 / 7)
    assert t2 == pytest.approx(0.3)
    assert f2 == pytest.approx(5 * (4 / 7) / (4 * (4 / 7) + 1))
    assert (p2, r2) == pytest.approx((4 / 7, 1.0))
    report = evaluate(pred, truth)
    assert report.best_f1[0] == pytest.approx(0.7)
    assert report.best_f2[0] == pytest.approx(0.3)
    assert report.precision == pytest.approx(1.0)
    assert report.recall == pytest.approx(0.75)


def test_picks_on_another_micrograph_never_match():
    truth = pd.concat(
        [_truth_row(2, micrograph="a"), _truth_row(1, micrograph="b")], ignore_index=True
    )
    # Prediction on "b" at the position of a truth pick of "a" only.
    pred = make_picks([0.0, 100.0, 100.0], [0.0, 0.0, 0.0], diameter=20.0, score=0.9).assign(
        micrograph=["a", "a", "b"]
    )
    match = match_picks(pred, truth, tolerance_px=5.0)
    np.testing.assert_array_equal(match.matched, [True, True, False])
    assert match.n_truth == 3
    report = evaluate(pred, truth, tolerance_px=5.0)  # one score: all predictions kept
    per = report.per_micrograph.set_index("micrograph")
    assert per.loc["a", "tp"] == 2
    assert per.loc["b", "tp"] == 0
    assert per.loc["b", "fn"] == 1
    assert per.loc["b", "fp"] == 1


def test_prediction_micrographs_absent_from_truth():
    truth = _truth_row(2, micrograph="a")
    pred = make_picks([0.0, 0.0], [0.0, 0.0], diameter=20.0, score=[0.9, 0.8]).assign(
        micrograph=["a", "typo"]
    )
    with pytest.warns(UserWarning, match="typo"):
        ignored = match_picks(pred, truth)
    assert ignored.n_pred == 1
    counted = match_picks(pred, truth, pred_only="false_positive")
    assert counted.n_pred == 2
    assert counted.n_matched == 1
    with pytest.raises(MicrographMismatchError, match="typo"):
        match_picks(pred, truth, pred_only="error")
    with pytest.raises(MicrographMismatchError, match="share no micrograph"):
        match_picks(pred.assign(micrograph="x"), truth)


def test_negative_truth_is_never_a_positive():
    truth = make_picks(
        [0.0, 100.0], [0.0, 0.0], diameter=20.0, kind=["particle", "negative"], micrograph="m"
    )
    pred = make_picks([0.0, 100.0], [0.0, 0.0], diameter=20.0, score=[0.9, 0.8], micrograph="m")
    match = match_picks(pred, truth)
    assert match.n_truth == 1
    np.testing.assert_array_equal(match.matched, [True, False])
    np.testing.assert_array_equal(match.on_negative, [False, True])
    report = evaluate(pred, truth)
    # Best F1 keeps only the 0.9 pick (P 1, R 1), so no junk pick is kept at that threshold.
    assert report.n_on_negatives == 0
    assert evaluate(pred.assign(score=0.5), truth).n_on_negatives == 1


def test_empty_predictions_and_empty_truth():
    truth = _truth_row(3)
    empty = make_picks()
    assert average_precision(empty, truth) == 0.0
    curve = precision_recall_curve(empty, truth)
    assert curve.thresholds.size == 0
    threshold, f1, _, _ = best_threshold(empty, truth)
    assert np.isnan(threshold)
    assert f1 == 0.0
    report = evaluate(empty, truth)
    assert report.n_pred == 0
    assert report.n_truth == 3
    assert report.ap["AP@0.5"] == 0.0
    assert report.ar == 0.0
    pred = truth.assign(score=0.5)
    # No ground truth at all: every prediction is on a micrograph absent from it.
    with pytest.warns(UserWarning, match="absent from the ground truth"):
        assert np.isnan(average_precision(pred, empty))
    with pytest.warns(UserWarning, match="absent from the ground truth"):
        report = evaluate(pred, empty)
    assert report.n_truth == 0
    assert np.isnan(report.ap["AP@0.5"])
    json.dumps(report.to_dict())  # NaN → None, still valid JSON


@pytest.mark.slow
def test_average_recall_over_iou_thresholds():
    # Offset of 2 px along x, d = 20: IoU = 18*20 / (800 - 360) = 360/440 = 0.818.
    # Passes thresholds 0.50..0.80 (7 of 10) → AR = 0.7.
    truth = make_picks([0.0], [0.0], diameter=20.0, micrograph="m")
    pred = make_picks([2.0], [0.0], diameter=20.0, score=[1.0], micrograph="m")
    assert box_iou(0.0, 0.0, 20.0, 2.0, 0.0, 20.0) == pytest.approx(360 / 440)
    assert average_recall(pred, truth) == pytest.approx(0.7)
    assert average_recall(pred, truth, score_threshold=1.5) == pytest.approx(0.0)


def test_ties_enter_together_and_nan_scores():
    truth = _truth_row(2)
    pred = _pred_from_labels([True, False, True], [0.5, 0.5, 0.5], 2)
    curve = precision_recall_curve(pred, truth)
    assert curve.thresholds.tolist() == [0.5]
    assert curve.precision[0] == pytest.approx(2 / 3)
    # Hand-made picks (NaN scores) are evaluated as one group.
    hand = pred.assign(score=np.nan)
    assert average_precision(hand, truth) == pytest.approx(2 / 3)


@pytest.mark.slow
def test_report_json_and_summary():
    truth = _truth_row(4)
    pred = _pred_from_labels([True, False, True, False, True], [0.9, 0.8, 0.7, 0.6, 0.5], 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = evaluate(pred, truth, tolerance_px=5.0)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["criterion"] == "dist<=5px"
    assert data["ap"]["AP@5px"] == pytest.approx(0.25 + 1 / 6 + 0.15)
    assert data["n_pred"] == 5
    assert data["n_truth"] == 4
    assert len(data["pr_curves"]["AP@5px"]["precision"]) == 5
    text = report.summary()
    assert "AP@0.5" in text
    assert "AP@5px" in text
    assert "best F2" in text
    # the per-micrograph table says at which threshold its counts are
    threshold = report.best_f1[0]
    assert f"per micrograph, picks with score >= {threshold:.4f} (the best-F1 threshold" in text
    assert report.per_micrograph["n_pred"].sum() == (pred["score"] >= threshold).sum()
    # nothing matched: no threshold offered (a trial read "best F1 0.000 at score >= 0.5461")
    far = pred.assign(x=pred["x"] + 500.0)
    text = evaluate(far, truth, tolerance_px=5.0).summary()
    assert "best F1        0.000 (no prediction matches: no threshold)" in text
    assert "at score >=" not in text
    assert "per micrograph" not in text


def test_summary_threshold_keeps_the_picks_it_was_measured_on():
    # a docs audit: best F1 at 0.271088 printed as 0.2711; cryopick filter --threshold
    # 0.2711 then dropped that pick from the set evaluate had scored
    truth = _truth_row(3)
    scores = [0.9, 0.271088, 0.27105, 0.1]
    pred = _pred_from_labels([True, True, False, False], scores, 3)
    report = evaluate(pred, truth, tolerance_px=5.0)
    assert report.best_f1[0] == pytest.approx(0.271088)
    printed = re.search(r"best F1 +[0-9.]+ at score >= ([0-9.]+)", report.summary()).group(1)
    assert printed == "0.27108"  # 4 digits keep 0.27105 too: one more
    kept = np.asarray(scores) >= float(printed)
    assert kept.tolist() == [True, True, False, False]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=30, unique=True),
    st.integers(0, 29),
)
def test_keeping_text_keeps_exactly_the_scores_at_or_above(scores, index):
    scores = np.asarray(scores)
    threshold = float(scores[index % len(scores)])
    text = keeping_text(threshold, scores)
    assert ((scores >= float(text)) == (scores >= threshold)).all()


@pytest.mark.slow
def test_large_matching_is_fast():
    rng = np.random.default_rng(0)
    n = 10_000
    truth = make_picks(rng.uniform(0, 4000, n), rng.uniform(0, 4000, n), diameter=40.0)
    pred = make_picks(
        truth["x"] + rng.normal(0, 2, n),
        truth["y"] + rng.normal(0, 2, n),
        diameter=40.0,
        score=rng.uniform(size=n),
    )
    start = time.perf_counter()
    match = match_picks(pred, truth, iou=0.5)
    assert time.perf_counter() - start < 5.0
    # With 2 px jitter on 40 px boxes nearly all predictions find their own pick.
    assert match.n_matched > 0.95 * n


@pytest.mark.slow
def test_real_data_truth_against_itself(real_data_dir):
    picks_dir = real_data_dir / "empiar10028_ribosome" / "picks"
    tables = [
        pd.read_csv(path).assign(micrograph=path.stem) for path in sorted(picks_dir.glob("*.csv"))
    ]
    truth = pd.concat(tables, ignore_index=True)
    pred = truth.assign(score=1.0, x=truth["x"] + 3.0)
    report = evaluate(pred, truth)
    assert report.n_truth == len(truth)
    assert report.ap["AP@0.5"] == pytest.approx(1.0)
    # 3 px shift on 56 px boxes: IoU = 53/59 = 0.898 → passes 0.50..0.85 (8 of 10).
    assert report.ar == pytest.approx(0.8)


# --------------------------------------------------------------------------- CLI


def _write_csv(path, xs, ys, scores=None):
    frame = pd.DataFrame({"x": xs, "y": ys, "diameter": 20.0})
    if scores is not None:
        frame["score"] = scores
    frame.to_csv(path, index=False)


@pytest.mark.slow
def test_cli_evaluate_folders_json_and_pr_curve(tmp_path, capsys):
    from napari_cryopick.cli import main

    truth_dir, pred_dir = tmp_path / "truth", tmp_path / "pred"
    truth_dir.mkdir()
    pred_dir.mkdir()
    _write_csv(truth_dir / "mic1.csv", [0.0, 100.0], [0.0, 0.0])
    _write_csv(truth_dir / "mic2.csv", [50.0], [50.0])
    # mic1: one hit (0.9) and one miss far away (0.8); mic2: a hit (0.7).
    _write_csv(pred_dir / "mic1.csv", [1.0, 900.0], [0.0, 900.0], [0.9, 0.8])
    _write_csv(pred_dir / "mic2.csv", [50.0], [51.0], [0.7])
    out_json, out_csv = tmp_path / "report.json", tmp_path / "pr.csv"
    code = main(
        [
            "evaluate",
            "--pred",
            str(pred_dir),
            "--truth",
            str(truth_dir),
            "--tolerance",
            "5",
            "--json",
            str(out_json),
            "--pr-curve",
            str(out_csv),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "AP@0.5" in printed
    assert "mic2" in printed
    report = json.loads(out_json.read_text())
    # 3 truth; TP(0.9), FP(0.8), TP(0.7): precision 1, 1/2, 2/3; recall 1/3, 1/3, 2/3.
    # AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
    assert report["ap"]["AP@5px"] == pytest.approx(5 / 9)
    assert report["n_truth"] == 3
    curves = pd.read_csv(out_csv)
    assert set(curves["criterion"]) == {"AP@0.5", "AP@0.6", "AP@5px"}
    assert len(curves[curves["criterion"] == "AP@5px"]) == 3


def test_cli_evaluate_replaces_only_its_own_outputs(tmp_path, capsys):
    # a trial: --json named a prediction file (it became JSON: the next evaluate failed),
    # --pr-curve a model; --diameter -48 gave AP 0.000 and exit 0
    from napari_cryopick.cli import main

    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    _write_csv(truth / "mic1.csv", [0.0, 100.0], [0.0, 0.0])
    _write_csv(pred / "mic1.csv", [1.0, 100.0], [0.0, 1.0], [0.9, 0.8])
    base = ["evaluate", "--pred", str(pred), "--truth", str(truth)]
    before = (pred / "mic1.csv").read_text()
    for option in ("--json", "--pr-curve"):
        assert main([*base, option, str(pred / "mic1.csv"), "--overwrite"]) == 2
        assert "is one of the pick files evaluated" in capsys.readouterr().err
    assert (pred / "mic1.csv").read_text() == before
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    assert main([*base, "--pr-curve", str(model)]) == 2
    assert "no earlier cryopick evaluate wrote it" in capsys.readouterr().err
    assert model.read_bytes() == b"weights"
    report = tmp_path / "report.json"
    assert main([*base, "--json", str(report), "--pr-curve", str(report)]) == 2
    assert "name the same file" in capsys.readouterr().err
    assert not report.exists()
    curves = tmp_path / "pr.csv"
    assert main([*base, "--json", str(report), "--pr-curve", str(curves)]) == 0
    assert main([*base, "--json", str(report), "--pr-curve", str(curves)]) == 0  # its own
    assert main([*base, "--pr-curve", str(model), "--overwrite"]) == 0
    assert model.read_text().startswith("criterion,threshold,precision,recall")
    for value in ("-48", "0", "nan", "inf"):
        capsys.readouterr()
        assert main([*base, "--diameter", value]) == 2
        assert "--diameter must be a number > 0" in capsys.readouterr().err
    assert main([*base, "--tolerance", "0"]) == 2
    assert "--tolerance must be a number > 0" in capsys.readouterr().err
    # a re-trial's --pr-curve in the predictions' folder: every later evaluate of the
    # folder failed reading it as picks
    for option in ("--pr-curve", "--json"):
        inside = pred / ("pr.csv" if option == "--pr-curve" else "report.star")
        assert main([*base, option, str(inside)]) == 2
        assert "lies in the input folder" in capsys.readouterr().err
        assert not inside.exists()
    assert main([*base, "--json", str(pred / "report.json")]) == 0  # no pick suffix
    # a trial's --json (with --overwrite) replaced a batch's manifest, what --skip goes by
    manifest = tmp_path / "cryopick_manifest.jsonl"
    manifest.write_text('{"micrograph": "mic1.mrc", "status": "done"}\n')
    sidecar = tmp_path / "mic1.cryopick.json"
    sidecar.write_text('{"picks": []}\n')
    for kept, what in ((manifest, "the manifest of cryopick runs"), (sidecar, "annotation")):
        before = kept.read_text()
        assert main([*base, "--json", str(kept), "--overwrite"]) == 2
        assert what in capsys.readouterr().err
        assert kept.read_text() == before


def test_cli_evaluate_bad_input_exit_2(tmp_path, capsys):
    from napari_cryopick.cli import main

    _write_csv(tmp_path / "truth_a.csv", [0.0], [0.0])
    _write_csv(tmp_path / "pred_b.csv", [0.0], [0.0], [0.9])
    code = main(
        [
            "evaluate",
            "--pred",
            str(tmp_path / "pred_b.csv"),
            "--truth",
            str(tmp_path / "truth_a.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "share no micrograph name" in err
    # one line that keeps its advice (a trial: "predictions:  good ground truth: other ...")
    assert "(predictions: pred_b; ground truth: truth_a)" in err
    assert err.strip().endswith("rename the files so the names agree")
    code = main(["evaluate", "--pred", str(tmp_path / "missing.csv"), "--truth", str(tmp_path)])
    assert code == 2
    assert "missing.csv" in capsys.readouterr().err


def test_picks_of_another_size_than_the_truth_are_warned_about():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(100, 900, 30), rng.uniform(100, 900, 30)
    truth = make_picks(x, y, diameter=56.0)
    placed_well = make_picks(x + 2, y - 2, diameter=100.0, score=rng.uniform(size=30))
    with pytest.warns(UserWarning, match=r"median 100 px\) differ from the ground truth's \(56"):
        report = evaluate(placed_well, truth, tolerance_px=14.0)
    # what the warning says: IoU fails, the centre distance does not
    assert report.ap["AP@0.5"] == 0.0
    assert report.ap["AP@14px"] > 0.9
    # it points to --tolerance only when none was given (a trial: it did with one given)
    with pytest.warns(UserWarning, match="figures at 14 px") as given:
        evaluate(placed_well, truth, tolerance_px=14.0)
    assert "--tolerance" not in str(given[0].message)
    with pytest.warns(UserWarning, match=r"--tolerance PX, e.g. 14 px"):
        evaluate(placed_well, truth)
    # half the size: picks of 2x binned micrographs, most likely (a trial matched them by
    # distance as told and hid the coordinates' scale)
    binned = make_picks(x / 2, y / 2, diameter=28.0, score=rng.uniform(size=30))
    with pytest.warns(UserWarning, match=r"binned 2 times\? \(--pred-binning 2 scales"):
        evaluate(binned, truth)
    # twice the size where the coordinates spread alike: box sizes, not binning (a CLI
    # trial's 100 px BOX boxes against 54 px diameters were asked "--truth-binning 2")
    boxes = make_picks(x + 2, y - 2, diameter=112.0, score=rng.uniform(size=30))
    with pytest.warns(UserWarning, match="the coordinates spread alike, so not binning") as said:
        evaluate(boxes, truth)
    assert "are the predictions' sizes box sizes" in str(said[0].message)
    # or picked (or trained) at a wrong diameter (a CLI trial's STAR picks at 2x)
    assert "or was the diameter given when picking (or training) off?" in str(said[0].message)
    assert "--pred-binning" not in str(said[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(placed_well.assign(diameter=60.0), truth)  # within 20 %: silent
    # 24 % smaller: centred boxes already below IoU 0.6 (an evaluation review: silent)
    centred = make_picks(x, y, diameter=56.0 * 0.76, score=rng.uniform(size=30))
    with pytest.warns(UserWarning, match="by more than 20% of the larger"):
        report = evaluate(centred, truth)
    assert report.ap["AP@0.6"] == 0.0
    # a truth of x, y only takes the diameter given: a trial gave 100 px against 56 px
    # picks and read AP 0.000 without a word
    sizeless = truth.assign(diameter=np.nan)
    picks = placed_well.assign(diameter=56.0)
    with pytest.warns(UserWarning, match=r"ground truth has no sizes of its own and took"):
        report = evaluate(picks, sizeless, diameter_px=100.0)
    assert report.ap["AP@0.5"] == 0.0
    with pytest.warns(UserWarning, match=r"--diameter 56\)"):
        evaluate(picks, sizeless, diameter_px=100.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate(picks, sizeless, diameter_px=56.0).ap["AP@0.5"] > 0.9


def test_cli_evaluate_says_how_to_score_only_the_picked_micrographs(tmp_path, capsys):
    # a trial picked 2 of 7 micrographs, evaluated against the whole truth folder and
    # read the recall of the other 5 as its own: the note now says what to give
    from napari_cryopick.cli import main

    (tmp_path / "truth").mkdir()
    (tmp_path / "pred").mkdir()
    for name in ("mic1", "mic2"):
        _write_csv(tmp_path / "truth" / f"{name}.csv", [100.0, 300.0], [100.0, 300.0])
    _write_csv(tmp_path / "pred" / "mic1.csv", [100.0, 300.0], [100.0, 300.0], [0.9, 0.8])
    code = main(
        [
            "evaluate",
            "--pred",
            str(tmp_path / "pred"),
            "--truth",
            str(tmp_path / "truth"),
            "--tolerance",
            "5",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "no predictions for 1 ground-truth micrograph(s)" in err
    assert "mic2" in err
    assert "give --truth only their files" in err
    code = main(
        [
            "evaluate",
            "--pred",
            str(tmp_path / "pred"),
            "--truth",
            str(tmp_path / "truth" / "mic1.csv"),
            "--tolerance",
            "5",
        ]
    )
    assert code == 0
    assert "no predictions" not in capsys.readouterr().err


def test_cli_evaluate_counts_a_micrograph_picked_with_no_picks_as_picked(tmp_path, capsys):
    # cryopick pick writes a header-only file where it finds nothing; evaluate took it
    # for an unpicked micrograph and advised leaving its truth out: the picker's misses
    from napari_cryopick.cli import main
    from napari_cryopick.core.pick_table import empty_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "truth").mkdir()
    (tmp_path / "pred").mkdir()
    for name in ("mic1", "mic2", "mic3"):
        _write_csv(tmp_path / "truth" / f"{name}.csv", [100.0, 300.0], [100.0, 300.0])
    _write_csv(tmp_path / "pred" / "mic1.csv", [100.0, 300.0], [100.0, 300.0], [0.9, 0.8])
    # as cryopick pick writes it (RELION autopick style, no micrograph column)
    write_picks(empty_picks(), tmp_path / "pred" / "mic2.star", micrograph_names=False)
    report = tmp_path / "report.json"
    argv = ["evaluate", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth")]
    assert main([*argv, "--tolerance", "5", "--json", str(report)]) == 0
    err = capsys.readouterr().err
    assert "no predictions for 1 ground-truth micrograph(s)" in err, err
    assert "missed: mic3;" in err  # mic3 has no prediction file: the note names it alone
    # mic2's truth counts as missed, as mic3's does: recall 2 of 6
    result = json.loads(report.read_text())
    rows = {row["micrograph"]: row for row in result["per_micrograph"]}
    assert (rows["mic2"]["n_pred"], rows["mic2"]["fn"]) == (0, 2)
    assert result["best_f1"]["recall"] == pytest.approx(2 / 6)


def test_cli_evaluate_counts_picks_on_a_micrograph_the_truth_lists_empty_as_false(tmp_path, capsys):
    # an empty ground-truth file says the micrograph has no particle; its predictions were
    # ignored as "absent from the ground truth", and AP read 1.000
    from napari_cryopick.cli import main
    from napari_cryopick.core.pick_table import empty_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "truth").mkdir()
    (tmp_path / "pred").mkdir()
    _write_csv(tmp_path / "truth" / "mic1.csv", [100.0, 300.0], [100.0, 300.0])
    write_picks(empty_picks(), tmp_path / "truth" / "mic4.star", micrograph_names=False)
    _write_csv(tmp_path / "pred" / "mic1.csv", [100.0, 300.0], [100.0, 300.0], [0.5, 0.4])
    _write_csv(tmp_path / "pred" / "mic4.csv", [200.0, 400.0], [200.0, 400.0], [0.9, 0.8])
    _write_csv(tmp_path / "pred" / "mic9.csv", [200.0], [200.0], [0.95])  # not in the truth
    report = tmp_path / "report.json"
    argv = ["evaluate", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth")]
    assert main([*argv, "--tolerance", "5", "--json", str(report)]) == 0
    err = capsys.readouterr().err
    assert "ignoring predictions on 1 micrograph(s) absent from the ground truth" in err, err
    assert "hold no picks, so their predictions count as false positives: mic4" in err
    result = json.loads(report.read_text())
    rows = {row["micrograph"]: row for row in result["per_micrograph"]}
    assert rows["mic4"]["fp"] == 2
    assert "mic9" not in rows
    assert result["ap"]["AP@5px"] < 0.6  # the two false picks rank first


def test_cli_evaluate_takes_micrographs_held_by_empty_files_as_shared(tmp_path, capsys):
    # a re-trial: truth picks on mic2 and an empty truth file of mic4, predictions on mic4
    # and an empty prediction file of mic2: "share no micrograph name", exit 2
    from napari_cryopick.cli import main
    from napari_cryopick.core.pick_table import empty_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "truth").mkdir()
    (tmp_path / "pred").mkdir()
    _write_csv(tmp_path / "truth" / "mic2.csv", [100.0, 300.0], [100.0, 300.0])
    write_picks(empty_picks(), tmp_path / "truth" / "mic4.star", micrograph_names=False)
    write_picks(empty_picks(), tmp_path / "pred" / "mic2.star", micrograph_names=False)
    _write_csv(tmp_path / "pred" / "mic4.csv", [200.0], [200.0], [0.9])
    report = tmp_path / "report.json"
    argv = ["evaluate", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth")]
    assert main([*argv, "--tolerance", "5", "--json", str(report)]) == 0, capsys.readouterr()
    rows = {row["micrograph"]: row for row in json.loads(report.read_text())["per_micrograph"]}
    assert (rows["mic2"]["fn"], rows["mic4"]["fp"]) == (2, 1)
    # a review: an empty prediction file of mic2 beside predictions on mic9 alone (not in
    # the truth): mic2 is shared, mic9 ignored with a warning
    (tmp_path / "pred" / "mic4.csv").unlink()
    (tmp_path / "truth" / "mic4.star").unlink()
    _write_csv(tmp_path / "pred" / "mic9.csv", [200.0], [200.0], [0.9])
    assert main([*argv, "--tolerance", "5", "--json", str(report)]) == 0, capsys.readouterr()
    assert "ignoring predictions on 1 micrograph(s) absent from the ground truth" in (
        capsys.readouterr().err
    )
    rows = {row["micrograph"]: row for row in json.loads(report.read_text())["per_micrograph"]}
    assert rows["mic2"]["fn"] == 2
    assert "mic9" not in rows


def test_predictions_without_scores_are_warned_about():
    # a trial evaluated BOX files (no scores) and read AUROC 0.497 and a "best F1 at
    # score >= 1.0" as results
    rng = np.random.default_rng(1)
    x, y = rng.uniform(100, 900, 20), rng.uniform(100, 900, 20)
    truth = make_picks(x, y, diameter=56.0)
    unscored = make_picks(x + 1, y, diameter=56.0)
    with pytest.warns(UserWarning, match="carry no scores") as said:
        result = evaluate(unscored, truth)
    # (a trial: "AP is the precision at full recall" beside AP 0.024 at recall 0.024)
    assert "AP is their precision times their recall" in str(said[0].message)
    half = make_picks(x[:10] + 1, y[:10], diameter=56.0)  # precision 1, recall 0.5
    with pytest.warns(UserWarning, match="carry no scores"):
        assert evaluate(half, truth).ap["AP@0.5"] == pytest.approx(0.5, abs=0.02)
    assert result.ap["AP@0.5"] == pytest.approx(1.0, abs=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(unscored.assign(score=rng.uniform(size=20)), truth)  # scored: silent


def test_cli_evaluate_refuses_one_file_name_in_two_folders(tmp_path, capsys):
    """Two micrographs FoilHole_1 in GridA/ and GridB/: swapped picks never score as perfect."""
    from napari_cryopick.cli import main

    for folder, x in (("GridA", 10.0), ("GridB", 300.0)):
        (tmp_path / folder).mkdir()
        _write_csv(tmp_path / folder / "FoilHole_1.csv", [x], [x], [0.9])
    truth = tmp_path / "truth.csv"
    pd.DataFrame(
        {"micrograph": ["GridA/FoilHole_1.mrc", "GridB/FoilHole_1.mrc"], "x": [300.0, 10.0]}
    ).assign(y=lambda t: t["x"], diameter=20.0).to_csv(truth, index=False)
    code = main(
        ["evaluate", "--pred", str(tmp_path / "GridA"), str(tmp_path / "GridB"),
         "--truth", str(tmp_path / "GridA" / "FoilHole_1.csv"), "--tolerance", "8"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "micrograph names must be unique" in err
    assert "GridA/FoilHole_1.csv" in err
    assert "GridB/FoilHole_1.csv" in err
    assert len(err.splitlines()) == 1
    code = main(["evaluate", "--pred", str(tmp_path / "GridA"), "--truth", str(truth)])
    err = capsys.readouterr().err
    assert code == 2
    assert "truth.csv: micrograph names must be unique" in err


def test_cli_evaluate_keeps_a_micrograph_whose_name_extends_another(tmp_path, capsys):
    """Truth on mic_1 and mic_1_b, predictions on mic_1: scored, not refused (a review)."""
    from napari_cryopick.cli import main

    for side in ("truth", "pred"):
        (tmp_path / side).mkdir()
    _write_csv(tmp_path / "truth" / "mic_1.csv", [50.0, 150.0], [50.0, 150.0], [1.0, 1.0])
    _write_csv(tmp_path / "truth" / "mic_1_b.csv", [80.0], [80.0], [1.0])
    _write_csv(tmp_path / "pred" / "mic_1.csv", [50.0, 150.0], [50.0, 150.0], [0.9, 0.8])
    code = main(
        ["evaluate", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth"),
         "--diameter", "20"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "mic_1_b" in out + err  # a ground-truth micrograph without predictions


def test_cli_evaluate_and_filter_leave_out_the_bookkeeping_of_an_output_folder(tmp_path, capsys):
    """summary.csv and RELION_OUTPUT_NODES.star were read as pick files (a trial)."""
    from napari_cryopick.cli import main

    for side in ("truth", "pred"):
        (tmp_path / side).mkdir()
    _write_csv(tmp_path / "truth" / "mic_1.csv", [50.0, 150.0], [50.0, 150.0], [1.0, 1.0])
    _write_csv(tmp_path / "pred" / "mic_1.csv", [50.0, 150.0], [50.0, 150.0], [0.9, 0.3])
    (tmp_path / "pred" / "summary.csv").write_text(
        "micrograph,input,status,picks\nmic_1,x,done,2\n"
    )
    (tmp_path / "pred" / "RELION_OUTPUT_NODES.star").write_text(
        "data_output_nodes\nloop_\n_rlnPipeLineNodeName #1\n_rlnPipeLineNodeType #2\nx 2\n"
    )
    code = main(["evaluate", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth"),
                 "--diameter", "20"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(["filter", str(tmp_path / "pred"), "--threshold", "0.5", "--out",
                 str(tmp_path / "kept")])  # fmt: skip
    _out, err = capsys.readouterr()
    assert code == 0, err
    assert "summary" not in err
    assert [p.name for p in (tmp_path / "kept").iterdir() if p.suffix == ".csv"] == ["mic_1.csv"]


def test_cli_evaluate_reads_relion_autopick_files_and_their_index(tmp_path, capsys):
    from napari_cryopick.cli import main
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.io.relion import write_coordinate_files_star

    truth = tmp_path / "truth"
    job = tmp_path / "External" / "job010"
    (job / "Movies").mkdir(parents=True)
    truth.mkdir()
    entries = []
    for name, x in (("mic1", 40.0), ("mic2", 90.0)):
        _write_csv(truth / f"{name}.csv", [x], [x])
        coordinates = job / "Movies" / f"{name}_autopick.star"
        write_picks(make_picks([x + 1], [x], diameter=20.0, score=0.9), coordinates)
        entries.append((f"MotionCorr/job003/Movies/{name}.mrc", coordinates))
    index = write_coordinate_files_star(job, entries, project_dir=tmp_path)
    for pred in (job / "Movies", index):
        code = main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--tolerance", "5"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "AP@5px         1.000" in captured.out
        assert "no predictions" not in captured.err
    # the other way round: ground truth as RELION manual-picking files
    manual = tmp_path / "manual"
    manual.mkdir()
    for name, x in (("mic1", 40.0), ("mic2", 90.0)):
        write_picks(make_picks([x], [x], diameter=20.0), manual / f"{name}_manualpick.star")
    code = main(["evaluate", "--pred", str(index), "--truth", str(manual), "--tolerance", "5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "AP@5px         1.000" in captured.out


def test_cli_evaluate_scales_binned_coordinates(tmp_path, capsys):
    """Topaz run on micrographs binned 4x writes binned coordinates (user trial: AP 0.002)."""
    from napari_cryopick.cli import main
    from napari_cryopick.io.pickfiles import write_picks

    truth = tmp_path / "truth"
    truth.mkdir()
    _write_csv(truth / "mic1.csv", [400.0, 800.0], [400.0, 120.0])
    topaz = tmp_path / "topaz.txt"
    write_picks(make_picks([100.0, 200.0], [100.0, 30.0], score=0.9, micrograph="mic1"), topaz)
    common = ["evaluate", "--pred", str(topaz), "--truth", str(truth), "--tolerance", "8"]
    assert main(common) == 0
    assert "AP@8px         0.000" in capsys.readouterr().out
    assert main([*common, "--pred-binning", "4"]) == 0
    assert "AP@8px         1.000" in capsys.readouterr().out
    assert main([*common, "--pred-binning", "0"]) == 2
    assert "--pred-binning must be > 0" in capsys.readouterr().err


def test_cli_evaluate_format_option_chooses_the_files_of_a_folder(tmp_path, capsys):
    # a picker's folder held each micrograph in STAR, BOX and CSV: --pred-format star
    # forced STAR parsing on the BOX file instead of choosing the STAR files
    from napari_cryopick.cli import main
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "pred").mkdir()
    (tmp_path / "truth").mkdir()
    table = make_picks([50.0, 150.0], [50.0, 150.0], diameter=20.0, score=[0.9, 0.8])
    for suffix in ("star", "box", "csv"):
        options = {"box_size": 20} if suffix == "box" else {}
        write_picks(table, tmp_path / "pred" / f"mic_1.{suffix}", **options)
    _write_csv(tmp_path / "truth" / "mic_1.csv", [50.0, 150.0], [50.0, 150.0], [1.0, 1.0])
    common = ["--truth", str(tmp_path / "truth"), "--json", str(tmp_path / "r.json")]
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), *common]) == 2
    assert "--pred-format" in capsys.readouterr().err
    code = main(["evaluate", "--pred", str(tmp_path / "pred"), "--pred-format", "star", *common])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["n_pred"] == 2
    code = main(["evaluate", "--pred", str(tmp_path / "pred"), "--pred-format", "topaz", *common])
    assert code == 2
    assert "no topaz files" in capsys.readouterr().err


def test_picks_without_a_diameter_name_the_options_that_score_them():
    # a trial evaluated Topaz files (no diameter) and read "pass diameter_px"
    pred = make_picks([10.0], [10.0], score=[0.9], micrograph="m")
    truth = make_picks([10.0], [10.0], micrograph="m")
    with pytest.raises(ValueError, match=r"--diameter PX.*--tolerance PX"):
        evaluate(pred, truth)
    assert evaluate(pred, truth, diameter_px=20.0).ap["AP@0.5"] == pytest.approx(1.0)


def test_cli_evaluate_warns_of_duplicate_picks(tmp_path, capsys):
    """A trial: a truth file holding every pick twice halved the AP (0.848 to 0.441), unsaid."""
    from napari_cryopick.cli import main
    from napari_cryopick.core.pick_table import duplicate_picks
    from napari_cryopick.io.pickfiles import write_picks

    xs, ys = [100.0, 300.0, 500.0], [100.0, 300.0, 120.0]
    truth = write_picks(make_picks(xs * 2, ys * 2, diameter=40.0, micrograph="mic1"),
                        tmp_path / "truth.star")  # fmt: skip
    pred = write_picks(make_picks([*xs, 101.0], [*ys, 101.5], diameter=40.0, score=0.9,
                                  micrograph="mic1"), tmp_path / "pred.star")  # fmt: skip
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth)]) == 0
    err = capsys.readouterr().err
    assert "the ground truth holds 3 duplicate pick(s), within 0.1 diameter" in err
    assert "the predictions hold 1 duplicate pick(s)" in err
    # close neighbours are not duplicates, nor another micrograph's pick or a fiber's points
    table = make_picks([0.0, 5.0, 0.0], [0.0, 0.0, 0.0], diameter=40.0,
                       micrograph=["a", "a", "b"])  # fmt: skip
    assert duplicate_picks(table).tolist() == [False, False, False]
    path = make_picks([0.0, 1.0], [0.0, 0.0], diameter=40.0, tube_id=1)
    assert duplicate_picks(path).tolist() == [False, False]
    assert duplicate_picks(make_picks([0.0, 1.0], [0.0, 0.0], diameter=40.0)).tolist() == [
        False,
        True,
    ]


def _crowded_picks(seed: int, height: int = 1200, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Truth of ``n`` micrographs of 60 px particles, and a picker's predictions: each
    particle found a few pixels off, with as many false picks again anywhere."""
    rng = np.random.default_rng(seed)
    preds, truths = [], []
    for index in range(n):
        x, y = rng.uniform(40, 1160, 120), rng.uniform(40, height - 40, 120)
        truths.append(make_picks(x, y, diameter=60.0, micrograph=f"m{index}"))
        px = np.concatenate([x + rng.normal(0, 4, 120), rng.uniform(0, 1200, 120)])
        py = np.concatenate([y + rng.normal(0, 4, 120), rng.uniform(0, height, 120)])
        preds.append(make_picks(px, py, diameter=60.0, score=rng.uniform(0, 1, 240),
                                micrograph=f"m{index}"))  # fmt: skip
    return pd.concat(preds, ignore_index=True), pd.concat(truths, ignore_index=True)


def test_truth_mirrored_top_to_bottom_is_found_with_the_micrographs_height():
    """A CLI trial: y-flipped truth files scored AP 0.01, unsaid (evaluate reads no
    micrographs, so the height comes from the pairs of picks)."""
    from napari_cryopick.core.evaluate import mirrored_truth
    from napari_cryopick.core.pick_table import flip_y

    for seed, height in ((0, 1200), (1, 4096)):
        pred, truth = _crowded_picks(seed, height)
        assert mirrored_truth(pred, truth, 15.0) is None  # as given: no mirror
        mirror = mirrored_truth(pred, flip_y(truth, height), 15.0)
        assert mirror is not None
        assert abs(mirror.height - height) <= 2
        assert mirror.mirrored_recall > 0.9
        assert mirror.recall < 0.3
    few = mirrored_truth(pred.iloc[:10], flip_y(truth, height).iloc[:10], 15.0)
    assert few is None  # too few picks to say
    # micrographs of two heights (a re-trial: ribosome 1024 px, apoferritin 1200 px, one
    # height said): found on each, both heights said
    low_pred, low_truth = _crowded_picks(3, 1024, n=3)
    high_pred, high_truth = _crowded_picks(4, 1200, n=2)
    high_pred = high_pred.assign(micrograph=high_pred["micrograph"] + "h")
    high_truth = high_truth.assign(micrograph=high_truth["micrograph"] + "h")
    mixed = mirrored_truth(
        pd.concat([low_pred, high_pred], ignore_index=True),
        pd.concat([flip_y(low_truth, 1024), flip_y(high_truth, 1200)], ignore_index=True),
        15.0,
    )
    assert mixed is not None
    assert mixed.mirrored_recall > 0.9
    assert [n for _, n in mixed.heights] == [3, 2]
    assert [abs(h - e) <= 2 for (h, _), e in zip(mixed.heights, (1024, 1200), strict=True)] == [
        True,
        True,
    ]


def test_cli_evaluate_says_mirrored_truth_and_flips_either_side(tmp_path, capsys):
    from napari_cryopick.cli import main
    from napari_cryopick.core.pick_table import flip_y
    from napari_cryopick.io.pickfiles import write_picks

    pred, truth = _crowded_picks(2)
    write_picks(pred, tmp_path / "pred.star")
    write_picks(flip_y(truth, 1200), tmp_path / "truth.star")
    common = [
        "evaluate",
        "--pred",
        str(tmp_path / "pred.star"),
        "--truth",
        str(tmp_path / "truth.star"),
    ]
    assert main(common) == 0
    captured = capsys.readouterr()
    assert "far better mirrored top to bottom" in captured.err
    assert "--truth-flip-y HEIGHT" in captured.err
    height = re.search(r"about (\d+) by these picks", captured.err)
    assert height is not None
    assert abs(int(height.group(1)) - 1200) <= 2
    low = float(captured.out.split("AP@0.5")[1].split()[0])
    for option in ("--truth-flip-y", "--pred-flip-y"):
        assert main([*common, option, "1200"]) == 0
        captured = capsys.readouterr()
        assert "mirrored" not in captured.err
        assert float(captured.out.split("AP@0.5")[1].split()[0]) > low + 0.3
    assert main([*common, "--truth-flip-y", "0"]) == 2
    assert "--truth-flip-y must be > 0" in capsys.readouterr().err
    # a flip given the wrong way: the advice is to take it back (a CLI trial given
    # --pred-flip-y on files that agreed was told to give one of the flips)
    write_picks(truth, tmp_path / "truth.star")
    assert main([*common, "--pred-flip-y", "1200"]) == 0
    err = capsys.readouterr().err
    assert "far better mirrored top to bottom" in err
    assert "If so, leave out --pred-flip-y 1200" in err
    assert "HEIGHT" not in err


def test_picks_without_a_score_rank_first_as_in_the_evaluate_widget():
    """A review: cryopick evaluate gave hand-added picks (no score) the highest score of
    the others, tied with it, where the Evaluate widget ranks them first (1, or higher)."""
    from napari_cryopick.core.evaluate import fill_scores

    np.testing.assert_allclose(fill_scores(np.array([0.2, np.nan, 0.4])), [0.2, 1.0, 0.4])
    np.testing.assert_allclose(fill_scores(np.array([2.5, np.nan])), [2.5, 2.5])  # log-odds
    np.testing.assert_allclose(fill_scores(np.array([np.nan, np.nan])), [1.0, 1.0])
    # ranked first: a hand pick on a particle before a picker's pick beside nothing
    truth = make_picks([100.0], [100.0], diameter=40.0, micrograph="m")
    for order in ([0, 1], [1, 0]):
        pred = make_picks([600.0, 100.0], [600.0, 100.0], diameter=40.0,
                          score=[0.9, np.nan], micrograph="m").iloc[order]  # fmt: skip
        assert evaluate(pred, truth).ap["AP@0.5"] == pytest.approx(1.0), order


def test_fibers_are_matched_within_half_the_width_either_side_knows():
    """A review: a truth without widths (RELION's helical STAR) took half the Diameter
    box (50 px) over the predictions' 40 px width."""
    from napari_cryopick.core.evaluate import fibers_as_points

    truth = make_picks([1.0, 2.0], [1.0, 1.0], kind="fiber", tube_id=1)  # no width
    pred = make_picks([1.0, 2.0], [1.0, 1.0], kind="fiber", tube_id=1, diameter=40.0)

    def rule(pred, truth, tolerance=None, diameter=100.0):
        scoring = fibers_as_points(pred, truth, tolerance, diameter)
        return scoring and (scoring.tolerance_px, scoring.source)

    assert rule(pred, truth) == (20.0, "width")
    assert rule(truth, truth) == (50.0, "diameter")
    assert rule(truth, truth, diameter=None) == (None, None)
    assert rule(pred, truth, tolerance=7.0) == (7.0, "given")
    # to 0.1 px (a GUI trial's widget said "AP@11.9982px" where the CLI said 12 px)
    assert rule(pred.assign(diameter=23.9964), truth) == (12.0, "width")
    particles = make_picks([1.0], [1.0], diameter=40.0)
    assert rule(particles, particles) is None
