"""Generic behaviour of the ``cryopick`` command line (sub-commands have their own tests)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import napari_cryopick
from napari_cryopick import cli

SUBCOMMANDS = (
    "demo",
    "simulate",
    "train",
    "pick",
    "evaluate",
    "info",
    "relion",
    "filter",
    "cryosparc",
)


def _console_script() -> Path:
    """The ``cryopick`` script installed beside this interpreter."""
    script = Path(sys.executable).with_name("cryopick")
    assert script.is_file(), f"console script not installed: {script} (run `make install`)"
    return script


def test_simulate_usage_shows_out_dir_required(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse's usage showed "[OUT_DIR]" (optional for the parser only) beside
    # "output folder (required)" (a docs audit)
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--help"])
    usage = capsys.readouterr().out.splitlines()[0]
    assert usage == "usage: cryopick simulate OUT_DIR [options]"


def test_help_exits_zero_and_shows_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cryopick")
    assert "--version" in out


def test_help_lists_every_existing_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(cli._SUBCOMMANDS) == set(SUBCOMMANDS)
    present = [
        name for name in SUBCOMMANDS if importlib.util.find_spec(f"napari_cryopick.cli._{name}")
    ]
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in present:
        assert f"    {name}" in out, f"sub-command {name!r} exists but is not in --help"


def test_train_help_says_what_the_defaults_do_to_lr_and_dataset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A docs trial: --lr given was divided by 3 (a pretrained new model's scale) and the
    --dataset help named 3 of the folders the naming skips, unsaid."""
    from napari_cryopick.core.continual import ContinualConfig

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ContinualConfig().pretrained_lr_scale == pytest.approx(1 / 3, abs=1e-3)
    assert "trains at a third of it" in out
    assert "cryoSPARC's JNN, motioncorrected and imported" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.strip() == f"cryopick {napari_cryopick.__version__}"


def test_unknown_subcommand_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["no-such-command"])
    assert raised.value.code == cli.EXIT_BAD_INPUT == 2
    err = capsys.readouterr().err
    assert "no-such-command" in err
    assert err.startswith("cryopick: error: ")
    assert len(err.strip().splitlines()) == 1  # no usage above it


def test_inputs_may_follow_options_and_a_typo_is_one_line_of_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a trial: `cryopick pick a --diameter 56 --out X b` was refused ("unrecognized
    # arguments: b") under the top level's usage; a typo got the top level's usage too
    from napari_cryopick.cli import _parse, build_parser

    parser = build_parser()
    args = _parse(parser, ["pick", "a", "--diameter", "56", "--out", "X", "b", "c"])
    assert args.inputs == ["a", "b", "c"]
    filtered = _parse(parser, ["filter", "p1", "--threshold", "0.5", "--out", "o", "p2"])
    assert filtered.inputs == ["p1", "p2"]
    with pytest.raises(SystemExit) as raised:
        cli.main(["pick", "a", "--treshold", "0.3"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    # one line, as every error of the tool (the usage above it made 23 lines of a typo)
    assert err == (
        "cryopick pick: error: unrecognized arguments: --treshold 0.3 (see cryopick pick --help)\n"
    )
    with pytest.raises(SystemExit):
        cli.main(["info", "model.pt", "extra.pt"])  # no list of inputs: refused
    assert "cryopick info: error: unrecognized arguments: extra.pt" in capsys.readouterr().err
    # a sub-command's action: its own usage (it was "cryopick cryosparc [-h] ACTION ...")
    with pytest.raises(SystemExit):
        cli.main(["cryosparc", "export", "p1", "--out", "x.star", "--treshold", "0.3"])
    err = capsys.readouterr().err
    assert err.startswith("cryopick cryosparc export: error: unrecognized arguments: --treshold")
    # no abbreviations: `cryopick simulate --n 1` took --n for --no-ctf, without a word
    with pytest.raises(SystemExit) as raised:
        cli.main(["simulate", "out", "--n", "1"])
    assert raised.value.code == 2
    assert "unrecognized arguments: --n 1" in capsys.readouterr().err


def test_no_subcommand_prints_help_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_BAD_INPUT
    assert "usage: cryopick" in capsys.readouterr().out


def test_console_script_help_and_version() -> None:
    script = _console_script()
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: cryopick")
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"cryopick {napari_cryopick.__version__}"


def test_python_m_runs_the_cli_with_its_exit_codes() -> None:
    # a trial: "napari_cryopick.cli is a package and cannot be directly executed"
    command = [sys.executable, "-m", "napari_cryopick.cli"]
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"cryopick {napari_cryopick.__version__}"
    bad = subprocess.run([*command, "no-such-command"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2


def test_console_script_unknown_subcommand_exits_2() -> None:
    completed = subprocess.run(
        [_console_script(), "no-such-command"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2
    assert "invalid choice" in completed.stderr
    assert "Traceback" not in completed.stderr


LOGGING_SCRIPT = """
import logging, sys
from napari_cryopick.cli import _simulate, main

def run(args):
    logging.getLogger("distributed.scheduler").info("State start")
    logging.getLogger("distributed.comm").warning("comm lost")
    logging.getLogger("napari_cryopick.workflows").info("own info")
    return 0

_simulate.run = run
sys.exit(main(sys.argv[1:] + ["simulate", "out"]))
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_other_libraries_info_lines_are_not_shown(verbose):
    """--dask printed ~30 INFO lines of the scheduler's start and stop; -v still shows them."""
    completed = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT, *(["-v"] if verbose else [])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "INFO: own info" in completed.stderr
    assert "WARNING: comm lost" in completed.stderr
    assert ("State start" in completed.stderr) is verbose


def test_evaluate_warns_when_one_side_looks_binned(tmp_path, capsys):
    """A trial read AP 0.000 for the picks of 4 x binned micrographs, with no hint."""
    import numpy as np

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    rng = np.random.default_rng(0)
    x, y = rng.uniform(30, 1000, 40), rng.uniform(30, 1000, 40)
    truth = write_picks(make_picks(x, y, diameter=40.0, micrograph="m"), tmp_path / "t.star")
    scores = {"score": rng.uniform(0.2, 1, 40), "diameter": 40.0, "micrograph": "m"}
    same = write_picks(make_picks(x, y, **scores), tmp_path / "same.star")
    binned = write_picks(make_picks(x / 4, y / 4, **scores), tmp_path / "binned.star")
    for pred, warned in ((same, False), (binned, True)):
        assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(truth)]) == 0
        err = capsys.readouterr().err
        assert ("try --pred-binning 4" in err) is warned, err
    assert cli.main(["evaluate", "--pred", str(truth), "--truth", str(binned)]) == 0
    assert "try --truth-binning 4" in capsys.readouterr().err


def test_evaluate_takes_the_folders_below_with_recursive(tmp_path, capsys):
    """A CLI trial: cryopick pick of a RELION list wrote picks/GridA/ and picks/GridB/;
    cryopick evaluate --pred picks was refused ("folders are not searched below") and had
    no --recursive, as pick and filter have."""
    import numpy as np

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    rng = np.random.default_rng(0)
    truth, picks = tmp_path / "truth", tmp_path / "picks"
    truth.mkdir()
    for grid, name in (("GridA", "a"), ("GridB", "b")):
        (picks / grid).mkdir(parents=True)
        x, y = rng.uniform(30, 1000, 20), rng.uniform(30, 1000, 20)
        write_picks(make_picks(x, y, diameter=40.0, micrograph=name), truth / f"{name}.star")
        write_picks(make_picks(x, y, diameter=40.0, score=0.9, micrograph=name),
                    picks / grid / f"{name}.star")  # fmt: skip
    assert cli.main(["evaluate", "--pred", str(picks), "--truth", str(truth)]) == 2
    err = capsys.readouterr().err
    assert "folders are not searched below" in err
    assert "or --recursive to take every folder below" in err
    out = tmp_path / "r.json"
    args = ["evaluate", "--pred", str(picks), "--truth", str(truth), "--recursive"]
    assert cli.main([*args, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["n_truth"] == 40
    assert report["ap"]["AP@0.5"] == pytest.approx(1.0)
    # one micrograph name in two folders below: refused, both named
    write_picks(make_picks([50.0], [50.0], diameter=40.0, score=0.9, micrograph="a"),
                picks / "GridB" / "a.star")  # fmt: skip
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "GridA/a.star" in err, err
    assert "GridB/a.star" in err, err


def test_outputs_that_are_devices_or_pipes_are_refused_before_the_work(tmp_path, capsys):
    """A CLI trial: ``evaluate --json`` to a pipe (or /dev/stdout) printed the whole report,
    then failed as "already exists"; ``train --out /dev/null`` trained to the end first."""
    import numpy as np

    from napari_cryopick.cli._errors import os_error_message
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.atomic import atomic_write_text
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.train import check_writable

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    picks = write_picks(make_picks(np.array([50.0]), np.array([60.0]), diameter=40.0,
                                   micrograph="a"), tmp_path / "a.star")  # fmt: skip
    for option in ("--json", "--pr-curve"):
        args = ["evaluate", "--pred", str(picks), "--truth", str(picks), option, str(pipe)]
        assert cli.main(args) == 2
        said = capsys.readouterr()
        assert f"{option} {pipe}: is not a regular file (a device or a pipe)" in said.err
        assert "AP@0.5" not in said.out  # refused before the evaluation
    with pytest.raises(ValueError, match="is not a regular file"):
        check_writable(pipe)
    # and where a writer meets one all the same, its own reason, not "already exists"
    with pytest.raises(OSError) as caught:
        atomic_write_text(pipe, "x")
    assert "not a regular file" in os_error_message(caught.value)
    assert "already exists" not in os_error_message(caught.value)


def _scored_picks(tmp_path, n, extent):
    """``n`` scored 40 px picks of micrograph ``m`` at random places up to ``extent`` px,
    written to ``p.star``; returns that file and their x and y (to make truth files of)."""
    import numpy as np

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    rng = np.random.default_rng(0)
    x, y = rng.uniform(30, extent, n), rng.uniform(30, extent, n)
    scores = {"score": rng.uniform(0.2, 1, n), "diameter": 40.0, "micrograph": "m"}
    return write_picks(make_picks(x, y, **scores), tmp_path / "p.star"), x, y


def test_evaluate_warns_of_picks_off_the_micrograph(tmp_path, capsys):
    """A robustness trial's ground truth held picks at x = -50 (off every micrograph):
    counted as particles every picker misses, unsaid."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    pred, x, y = _scored_picks(tmp_path, 40, 1000)
    inside = write_picks(make_picks(x, y, diameter=40.0, micrograph="m"), tmp_path / "t.star")
    off = write_picks(
        make_picks([*x, -50.0], [*y, 500.0], diameter=40.0, micrograph="m"), tmp_path / "o.star"
    )
    assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(inside)]) == 0
    assert "negative coordinates" not in capsys.readouterr().err
    assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(off)]) == 0
    err = capsys.readouterr().err
    assert "1 ground-truth pick(s) lie at negative coordinates" in err, err
    assert "x=-50, y=500 on m" in err


def test_evaluate_says_when_the_truth_looks_like_a_few_clicks(tmp_path, capsys):
    """A new-user trial scored 923 picks against its 90 clicks, unsaid."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    pred, x, y = _scored_picks(tmp_path, 200, 2000)
    every = write_picks(make_picks(x, y, diameter=40.0, micrograph="m"), tmp_path / "t.star")
    clicks = write_picks(
        make_picks(x[:25], y[:25], diameter=40.0, micrograph="m"), tmp_path / "c.star"
    )
    assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(every)]) == 0
    assert "only some of the particles" not in capsys.readouterr().err
    assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(clicks)]) == 0
    err = capsys.readouterr().err
    assert "note: 200 predictions against 25 ground-truth picks" in err, err
    assert "if the ground truth holds only some of the particles (clicks)" in err


def test_evaluate_says_fibers_are_scored_as_points(tmp_path, capsys):
    """A trial scored start-end STAR fiber files against fiber points: recall 0.095, no
    word that fibers are points here."""
    import pandas as pd

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    xs = [10.0, 18.0, 26.0, 34.0]  # points along a fiber, 8 px apart
    points = make_picks(xs, [50.0] * 4, diameter=20.0, micrograph="m", kind="fiber", tube_id=1)
    truth = write_picks(points, tmp_path / "t.csv")
    pred = write_picks(points.assign(score=0.9), tmp_path / "p.csv")
    # by default matched within half the fiber width, as the Evaluate widget does (a
    # design review: the CLI matched fiber points by box overlap, the widget by distance)
    document = tmp_path / "r.json"
    args = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--json", str(document)]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "fibers are scored as the points along them, not as paths" in err, err
    assert "matched within 10 px of a true point (half the fiber width; --tolerance PX" in err
    assert "AP@10px" in json.loads(document.read_text())["ap"]
    assert (
        cli.main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--tolerance", "12"]) == 0
    )
    err = capsys.readouterr().err
    assert "matched within 12 px of a true point (as asked)" in err, err
    assert "--tolerance PX" not in err  # given
    # no width in the files: half --diameter; neither: boxes, and how to compare otherwise
    unsized = write_picks(points.assign(diameter=float("nan")), tmp_path / "u.csv")
    args = ["evaluate", "--pred", str(pred.with_name("pu.csv")), "--truth", str(unsized)]
    write_picks(points.assign(score=0.9, diameter=float("nan")), tmp_path / "pu.csv")
    assert cli.main([*args, "--diameter", "30"]) == 0
    assert "within 15 px of a true point (half the diameter: no fiber width" in (
        capsys.readouterr().err
    )
    assert cli.main(args) != 0
    err = capsys.readouterr().err
    assert "no fiber width nor diameter is known to match them by" in err, err
    # a file of particles and fibers: the distance scores both, said (a review)
    mixed = pd.concat([points, points.assign(kind="particle", tube_id=0, y=90.0)])
    both = write_picks(mixed, tmp_path / "mixed.csv")
    assert cli.main(["evaluate", "--pred", str(both), "--truth", str(both)]) == 0
    err = capsys.readouterr().err
    assert "the other kinds' picks are matched within it too (--kind fiber scores" in err, err
    particles = write_picks(points.assign(kind="particle", tube_id=0), tmp_path / "q.csv")
    assert cli.main(["evaluate", "--pred", str(particles), "--truth", str(particles)]) == 0
    assert "fibers" not in capsys.readouterr().err


def test_evaluate_fills_in_points_along_start_end_fibers(tmp_path, capsys):
    """A fiber trial scored its exact truth, written as start-end STAR, against itself as
    dense points: recall 0.156, only the pieces' ends matched. With --tolerance, both
    sides are points every tolerance along their paths when one side's are sparser."""
    import numpy as np
    import pandas as pd

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    xs = np.arange(20.0, 421.0, 4.0)  # a straight fiber, a point every 4 px
    dense = make_picks(xs, [100.0] * len(xs), diameter=20.0, micrograph="m", kind="fiber",
                       tube_id=1)  # fmt: skip
    truth = write_picks(dense, tmp_path / "truth.csv")
    ends = write_picks(dense.iloc[[0, -1]].assign(score=0.8), tmp_path / "ends.star")
    from napari_cryopick.io.pickfiles import read_picks

    assert len(read_picks(ends)) == 2  # a start-end pair
    report = tmp_path / "report.json"
    args = ["evaluate", "--pred", str(ends), "--truth", str(truth), "--tolerance", "5",
            "--json", str(report)]  # fmt: skip
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert "fibers are scored as points every 5 px along their paths" in captured.err
    assert "(precision 1.000, recall 1.000)" in captured.out, captured.out
    # the JSON says its counts are of filled-in points (the pick file holds 2 rows)
    import json

    document = json.loads(report.read_text())
    assert document["fibers_as_points_every_px"] == 5.0
    assert document["n_pred"] > 2
    # the other kinds as they are, a tube id on them or not (a review: negatives with a
    # tube id became fiber points)
    from napari_cryopick.core.evaluate import fibers_as_points

    junk = make_picks([5.0], [5.0], micrograph="m", kind="negative", tube_id=4)
    sparse = pd.concat([read_picks(ends), junk], ignore_index=True)
    scoring = fibers_as_points(read_picks(ends), sparse, 5.0)
    assert scoring.filled
    assert scoring.source == "given"
    assert scoring.truth["kind"].tolist().count("negative") == 1
    assert (scoring.truth["kind"] == "fiber").sum() > 50
    # dense on both sides: as given
    assert cli.main(["evaluate", "--pred", str(truth), "--truth", str(truth),
                     "--tolerance", "5"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "every 5 px" not in captured.err
    assert f"predictions {len(xs)}, ground truth {len(xs)}" in captured.out
    assert cli.main(["evaluate", "--pred", str(truth), "--truth", str(truth),
                     "--tolerance", "5", "--json", str(report), "--overwrite"]) == 0  # fmt: skip
    assert "fibers_as_points_every_px" not in json.loads(report.read_text())


def test_evaluate_says_kinds_the_predictions_lack_and_scores_one_kind(tmp_path, capsys):
    """A fibers trial's simulated truth held particles beside the fibers a fiber model
    picked: they counted as missed fibers (recall 0.836 for 0.881), unsaid."""
    import pandas as pd

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    xs = [10.0, 40.0, 70.0, 100.0]
    fibers = make_picks(xs, [50.0] * 4, diameter=20.0, micrograph="m", kind="fiber", tube_id=1)
    particles = make_picks([300.0, 400.0], [300.0] * 2, diameter=40.0, micrograph="m")
    truth = write_picks(pd.concat([fibers, particles], ignore_index=True), tmp_path / "t.csv")
    pred = write_picks(fibers.assign(score=0.9), tmp_path / "p.csv")
    common = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--tolerance", "10"]
    assert cli.main(common) == 0
    captured = capsys.readouterr()
    assert (
        "note: the ground truth holds picks of kinds the predictions have none of (2 "
        "particle): kinds are not compared, so they count as missed where no prediction "
        "lies on them; --kind fiber scores the fiber picks alone"
    ) in captured.err
    # (the fiber's points 30 px apart, filled in every 10 px on both sides: 10 points)
    assert "predictions 10, ground truth 12 (dist<=10px)" in captured.out
    assert cli.main([*common, "--kind", "fiber"]) == 0
    captured = capsys.readouterr()
    assert "kinds the predictions have none of" not in captured.err
    assert "predictions 10, ground truth 10 (dist<=10px)" in captured.out
    assert "(precision 1.000, recall 1.000)" in captured.out
    assert cli.main([*common, "--kind", "vesicle"]) == 2
    assert "--kind vesicle: the predictions hold no vesicle picks" in capsys.readouterr().err
    # a truth without kinds (read as particles) beside vesicles predicted: matched anyway,
    # and no --kind advised that would refuse it (a vesicle trial)
    circles = write_picks(particles.assign(kind="vesicle", score=0.9), tmp_path / "v.csv")
    plain = tmp_path / "plain.csv"
    plain.write_text("x,y,diameter,micrograph\n300,300,40,m\n400,300,40,m\n")
    assert cli.main(["evaluate", "--pred", str(circles), "--truth", str(plain)]) == 0
    captured = capsys.readouterr()
    assert "(2 particle): kinds are not compared" in captured.err
    assert "--kind" not in captured.err
    assert "a file without a kind column (an x,y CSV, BOX, Topaz) reads as particles" in (
        captured.err
    )
    assert "(precision 1.000, recall 1.000)" in captured.out
    # fibers in the truth beside vesicles predicted: no kind shared and no particles, so
    # neither --kind nor the no-kind-column advice (it would not explain a fiber)
    assert cli.main(["evaluate", "--pred", str(circles), "--truth", str(truth)]) == 0
    err = capsys.readouterr().err
    assert "have none of (4 fiber, 2 particle)" in err
    fibers_only = write_picks(fibers, tmp_path / "fibers_only.csv")
    assert cli.main(["evaluate", "--pred", str(circles), "--truth", str(fibers_only)]) == 0
    err = capsys.readouterr().err
    assert "have none of (4 fiber): kinds are not compared" in err
    assert "--kind" not in err
    assert "reads as particles" not in err
    # a micrograph whose truth holds none of the kind: its predictions are false positives,
    # not picks of a micrograph the truth lacks (a review: ignored, precision inflated)
    other = make_picks([300.0], [300.0], diameter=40.0, micrograph="n")
    both = pd.concat([fibers, particles, other], ignore_index=True)
    truth = write_picks(both, tmp_path / "t2.csv")
    stray = make_picks([50.0, 150.0], [50.0] * 2, diameter=20.0, micrograph="n", kind="fiber",
                       tube_id=1, score=0.9)  # fmt: skip
    pred = write_picks(pd.concat([fibers.assign(score=0.9), stray]), tmp_path / "p2.csv")
    args = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--tolerance", "10"]
    assert cli.main([*args, "--kind", "fiber"]) == 0
    captured = capsys.readouterr()
    assert "absent from the ground truth" not in captured.err
    # (fibers filled in every 10 px: m's 10 points, n's stray fiber 11)
    assert "predictions 21, ground truth 10 (dist<=10px)" in captured.out


@pytest.mark.parametrize("command", ["pick", "info"])
def test_a_folder_given_as_model_is_called_a_folder(tmp_path, capsys, command):
    """A fuzzing review: "model file does not exist" (pick), "no such checkpoint" (info)."""
    folder = tmp_path / "model.pt"
    folder.mkdir()
    args = ["pick", str(tmp_path), "--model", str(folder), "--out", str(tmp_path / "o")]
    assert cli.main(args if command == "pick" else ["info", str(folder)]) == 2
    assert f"{folder}: is a folder, not a model file" in capsys.readouterr().err


PIPE_SCRIPT = """
import sys
from napari_cryopick.cli import _simulate, main

def run(args):
    for _ in range(20000):
        print("x" * 50)
    return 0

_simulate.run = run
sys.exit(main(["simulate", "out"]))
"""


def test_a_closed_pipe_is_no_error(tmp_path):
    """A trial: ``cryopick info m.pt | head -2`` said "error: Broken pipe", exit 2."""
    process = subprocess.Popen(
        [sys.executable, "-c", PIPE_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout.read(1) == b"x"
    process.stdout.close()  # the reader goes away, as head does
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, err
    assert "Broken pipe" not in err
    assert "Traceback" not in err


def test_diameter_in_angstrom_on_images_without_pixel_size_is_refused_at_once(tmp_path, capsys):
    """A trial: every JPEG skipped with one line each, then "0 of 5", exit 2."""
    import imageio.v3 as iio
    import numpy as np

    for name in ("a", "b", "c"):
        iio.imwrite(tmp_path / f"{name}.png", np.full((32, 32), 100, np.uint8))
    out = tmp_path / "out"
    assert cli.main(["pick", str(tmp_path), "--diameter-A", "150", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "give --pixel-size (Å per pixel) too" in err
    assert not out.exists()
    # one MRC of a known pixel size beside them: still refused at once, naming the others
    # (a CLI trial: the search ran on the MRC, then each PNG failed, said twice, exit 1)
    from napari_cryopick.io.micrographs import write_mrc

    write_mrc(tmp_path / "m.mrc", np.zeros((32, 32), np.float32), pixel_size=2.0)
    assert cli.main(["pick", str(tmp_path), "--diameter-A", "150", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "3 of these micrographs are PNG, JPEG or TIFF files, which carry no pixel size" in err
    assert str(tmp_path / "a.png") in err
    assert not out.exists()


def test_diameter_in_angstrom_on_mrc_files_with_a_placeholder_pixel_size_is_refused_at_once(
    tmp_path, capsys
):
    """A CLI trial: an MRC whose header says 1.0 Å (a placeholder) with --diameter-A was
    first told the zero-shot search could use no micrograph, then failed, exit 2. Refused
    before anything runs; an MRC of a real pixel size beside it is picked."""
    import numpy as np

    from napari_cryopick.io.micrographs import header_pixel_size, write_mrc

    for name, size in (("a", 1.0), ("b", None)):
        write_mrc(tmp_path / f"{name}.mrc", np.zeros((32, 32), np.float32), pixel_size=size)
    assert header_pixel_size(tmp_path / "a.mrc") is None
    out = tmp_path / "out"
    assert cli.main(["pick", str(tmp_path), "--diameter-A", "150", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "the MRC headers of these micrographs hold no pixel size" in err, err
    assert f"{tmp_path / 'a.mrc'} and 1 more); give --pixel-size (Å per pixel) too" in err, err
    assert not out.exists()
    write_mrc(tmp_path / "c.mrc", np.zeros((32, 32), np.float32), pixel_size=2.5)
    assert header_pixel_size(tmp_path / "c.mrc") == 2.5
    from napari_cryopick.cli import build_parser
    from napari_cryopick.cli._pick import _check_pixel_size_known

    args = build_parser().parse_args(["pick", str(tmp_path), "--diameter-A", "150"])
    _check_pixel_size_known(args, sorted(tmp_path.glob("*.mrc")))  # one states it: allowed


@pytest.mark.parametrize("command", ["evaluate", "pick", "train", "filter"])
def test_a_named_pipe_given_as_a_file_is_said_to_be_no_regular_file(tmp_path, capsys, command):
    """An I/O trial: a pipe (or /dev/null) was "no such file or folder", and evaluate ended
    in a StopIteration traceback looking for the missing one."""
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc

    mrc = write_mrc(tmp_path / "m.mrc", np.zeros((32, 32), np.float32), pixel_size=2.0)
    truth = tmp_path / "m.csv"
    truth.write_text("x,y\n5,5\n")
    pipe = tmp_path / "m.star"
    os.mkfifo(pipe)
    argv = {
        "evaluate": ["evaluate", "--pred", str(pipe), "--truth", str(truth), "--diameter", "9"],
        "pick": ["pick", str(pipe), "--diameter", "9", "--out", str(tmp_path / "o")],
        "train": [
            "train",
            "--micrographs",
            str(mrc),
            "--picks",
            str(pipe),
            "--diameter",
            "9",
            "--out",
            str(tmp_path / "t.pt"),
        ],
        "filter": ["filter", str(pipe), "--threshold", "0.3", "--out", str(tmp_path / "o")],
    }[command]
    assert cli.main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert f"{pipe}: not a regular file or folder" in err
    assert "Traceback" not in err


def test_a_second_format_read_as_an_input_is_said_as_such(tmp_path, capsys, monkeypatch):
    """A CLI trial: --format star box was told "box: no such file or folder"."""
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc

    write_mrc(tmp_path / "m.mrc", np.zeros((32, 32), np.float32), pixel_size=2.0)
    monkeypatch.chdir(tmp_path)
    argv = ["pick", "m.mrc", "--diameter", "20", "--format", "star", "box", "--out", "o"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "box: no such file or folder; if it is a second --format, --format takes one" in err
    assert "cryopick filter FOLDER --format box --out DIR" in err
    assert not (tmp_path / "o").exists()


def test_pick_says_when_the_machine_is_busy_and_no_threads_were_given(
    tmp_path, capsys, monkeypatch
):
    """A batch trial on a loaded 2-core machine: 0.56 s per micrograph with torch's default
    threads against 0.14 s with --threads 1, and the tool never said so."""
    import os

    import numpy as np

    from napari_cryopick.cli._pick import say_busy_machine
    from napari_cryopick.io.micrographs import write_mrc

    assert not say_busy_machine(load=9.0, cores=2)  # off in the suite (conftest)
    monkeypatch.setenv("CRYOPICK_LOAD_NOTE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the advice taken already (a docs trial)
    assert not say_busy_machine(load=2.4, cores=2, running=2.0)
    monkeypatch.delenv("OMP_NUM_THREADS")
    # the threads other jobs leave, at least 1, and the command runs them (a README trial's
    # training did 3 steps in 25 s with torch's 2 threads, 35 a second with 1)
    assert say_busy_machine(load=2.4, cores=2, running=2.0) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert "note: the machine is busy (load 2.4 on 2 cores): torch runs 1 thread" in said, said
    assert not say_busy_machine(load=1.2, cores=2)
    assert capsys.readouterr().err == ""
    # other jobs on more than half the cores: torch's threads wait on each other already
    # (a CLI trial below load 2 on 2 cores trained a quarter as fast, unsaid)
    assert say_busy_machine(load=1.6, cores=2, running=1.0)
    assert not say_busy_machine(load=8.0, cores=16, running=10.0)
    assert say_busy_machine(load=9.0, cores=16, running=8.0) == 8
    # unless the load is the command run just before (a script's train, then pick: a
    # review): nothing else runs now
    assert not say_busy_machine(load=1.7, cores=2, running=0.0)
    assert not say_busy_machine(load=13.8, cores=16, running=1.0)
    # a load of all the cores with nothing else running now: the load average lags (jobs
    # just ended); no note, and no thread taken away (a review)
    assert not say_busy_machine(load=2.0, cores=2, running=0.0)
    assert say_busy_machine(load=2.0, cores=2, running=1.0) == 1
    from napari_cryopick.cli._pick import _others_running

    if sys.platform.startswith("linux"):  # (the CI's and this machine's)
        now = _others_running(samples=2, gap_s=0.0)
        assert now is not None
        assert now >= 0.0
    capsys.readouterr()
    write_mrc(tmp_path / "m.mrc", np.zeros((128, 128), np.float32) + np.eye(128, dtype=np.float32))
    monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    import napari_cryopick.cli._pick as pick_module

    monkeypatch.setattr(pick_module, "_others_running", lambda: 64.0)
    args = ["pick", str(tmp_path / "m.mrc"), "--diameter", "20", "--device", "cpu"]
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # (torch's own choice on a 2-core machine)
        cli.main([*args, "--out", str(tmp_path / "o")])
        assert "note: the machine is busy (load 64.0" in capsys.readouterr().err
        assert torch.get_num_threads() == 1  # as said
    finally:
        torch.set_num_threads(before)
    cli.main([*args, "--out", str(tmp_path / "p"), "--threads", "1"])
    assert "machine is busy" not in capsys.readouterr().err
    # never above an error (a trial saw the note printed over an option error)
    nothing = ["pick", str(tmp_path / "nothing.mrc"), "--diameter", "20", "--device", "cpu"]
    assert cli.main([*nothing, "--out", str(tmp_path / "q")]) != 0
    err = capsys.readouterr().err
    assert "nothing.mrc" in err
    assert "machine is busy" not in err
    bad = tmp_path / "bad.pt"  # nor above a model file that is none (a CLI trial)
    bad.write_bytes(b"not a checkpoint" * 100)
    assert cli.main([*args, "--out", str(tmp_path / "r"), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.pt: not a napari-cryopick checkpoint" in err
    assert "machine is busy" not in err
    # cryopick train too (a trial at load 6: 11 steps in 45 s, 143 with --threads 1),
    # once its inputs are checked
    missing = ["train", "--micrographs", str(tmp_path / "missing"), "--picks", str(tmp_path)]
    assert cli.main([*missing, "--out", str(tmp_path / "t.pt"), "--device", "cpu"]) != 0
    err = capsys.readouterr().err
    assert "missing" in err
    assert "machine is busy" not in err
    (tmp_path / "m.csv").write_text("x,y\n40,40\n80,80\n")
    train = ["train", "--micrographs", str(tmp_path / "m.mrc"), "--picks", str(tmp_path / "m.csv")]
    train += ["--diameter", "20", "--steps", "1", "--batch-size", "1", "--crop-size", "64"]
    cli.main([*train, "--out", str(tmp_path / "t.pt"), "--device", "cpu"])
    assert "note: the machine is busy (load 64.0" in capsys.readouterr().err
    cli.main([*train, "--out", str(tmp_path / "u.pt"), "--device", "cpu", "--threads", "1"])
    assert "machine is busy" not in capsys.readouterr().err


def test_pick_takes_the_torch_threads_as_train_does(tmp_path, capsys, monkeypatch):
    """A trial on a loaded 2-core machine: torch's default threads made picking 7x slower,
    and only train had --threads."""
    import numpy as np
    import torch

    from napari_cryopick.io.micrographs import write_mrc

    rng = np.random.default_rng(0)
    write_mrc(tmp_path / "m.mrc", rng.normal(size=(128, 128)).astype(np.float32))
    asked = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    args = ["pick", str(tmp_path / "m.mrc"), "--diameter", "20", "--out", str(tmp_path / "o")]
    assert cli.main([*args, "--threads", "1"]) == 0
    assert asked == [1]
    assert cli.main([*args, "--threads", "-1"]) == 2
    assert "--threads must be >= 0, got -1" in capsys.readouterr().err
    assert asked == [1]  # refused before torch was asked


def test_evaluate_refuses_a_bad_iou_before_reading_the_files(tmp_path, capsys):
    """A CLI trial's --iou 2 printed notes on the files, then the --iou error."""
    pred, truth = tmp_path / "pred.csv", tmp_path / "truth.csv"
    pred.write_text("x,y\n10,10\n")
    truth.write_text("x,y\n")  # no picks: a note (or refusal) if the files were read first
    argv = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--iou", "2"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == ["cryopick evaluate: error: --iou values must be in (0, 1], got 2.0"]


def test_evaluate_says_when_the_predictions_hold_no_picks(tmp_path, capsys):
    """A CLI trial: a header-only prediction file scored AP 0 without a word."""
    pred, truth = tmp_path / "header_only.csv", tmp_path / "311_10028.csv"
    pred.write_text("x,y\n")
    truth.write_text("x,y\n10,10\n30,30\n")
    argv = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--diameter", "20"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "note: the predictions hold no picks of the ground truth's micrographs" in err
    same = tmp_path / "p" / "311_10028.csv"  # picks of the micrograph: nothing to say
    same.parent.mkdir()
    same.write_text("x,y\n10,10\n")
    argv = ["evaluate", "--pred", str(same), "--truth", str(truth), "--diameter", "20"]
    assert cli.main(argv) == 0
    assert "hold no picks" not in capsys.readouterr().err


def test_evaluate_scores_empty_predictions_without_asking_for_a_diameter(tmp_path, capsys):
    """A fuzzing: an empty prediction file against a truth without diameters was asked for
    --diameter (after a note of "several diameters (nan-nan px)"), though nothing can
    match and the answer is AP 0 whatever the diameter."""
    pred, truth = tmp_path / "p" / "m.star", tmp_path / "t" / "m.star"
    for path, rows in ((pred, ""), (truth, "100 100\n300 300\n")):
        path.parent.mkdir()
        path.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n" + rows)
    argv = ["evaluate", "--pred", str(pred.parent), "--truth", str(truth.parent)]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "AP@0.5         0.000" in out
    assert "ground truth 2" in out
    assert "nan" not in err
    assert "--diameter" not in err


def test_evaluate_names_a_ground_truth_without_picks(tmp_path, capsys):
    """A hostile-input review: an empty truth file gave "the ground truth holds no picks"
    without naming the file."""
    pred, truth = tmp_path / "m.csv", tmp_path / "truth" / "m.box"
    truth.parent.mkdir()
    pred.write_text("x,y\n10,10\n")
    truth.write_text("")
    argv = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--diameter", "20"]
    assert cli.main(argv) == 2
    assert f"the ground truth ({truth}) holds no picks" in capsys.readouterr().err


def test_info_without_a_model_shows_the_bundled_general_model(capsys):
    """A CLI trial could not look at the bundled model: info wanted a file path."""
    from napari_cryopick.core.model import bundled_model_path
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"model: {bundled_model_path()}\n")
    for name in checkpoint_datasets(bundled_model_path()):
        assert f"  {name}: " in out


def test_simulate_says_a_pixel_size_of_one_angstrom_reads_as_unknown(tmp_path, capsys):
    """A fiber trial simulated at --pixel-size 1: every reader takes a 1.0 Å/px header as
    MRC's placeholder, and picking then said no pixel size was known, with no word from
    simulate."""
    args = ["simulate", "-n", "1", "--size", "96", "96", "--particles", "3"]
    assert cli.main([*args, str(tmp_path / "one"), "--pixel-size", "1"]) == 0
    assert "--pixel-size 1: readers take an MRC header of 1.0" in capsys.readouterr().err
    assert cli.main([*args, str(tmp_path / "two"), "--pixel-size", "2"]) == 0
    assert "placeholder" not in capsys.readouterr().err


def test_pick_warns_when_the_pixel_size_given_differs_from_the_header(tmp_path, caplog):
    """A CLI trial's --pixel-size 0.885 on micrographs whose headers said 1.77 picked 399
    of 3,241 particles with an INFO line only (which told it to give --pixel-size)."""
    import logging

    args = ["simulate", "-n", "1", "--size", "160", "160", "--particles", "4"]
    assert cli.main([*args, str(tmp_path / "sim"), "--pixel-size", "2"]) == 0
    [micrograph] = sorted((tmp_path / "sim").rglob("*.mrc"))
    pick = ["pick", str(micrograph), "--diameter-A", "60", "--out"]
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert cli.main([*pick, str(tmp_path / "p1"), "--pixel-size", "4"]) == 0
    assert "--pixel-size 4 Å/px replaces the 2 Å/px of its header" in caplog.text, caplog.text
    assert "leave out --pixel-size if the header is right" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert cli.main([*pick, str(tmp_path / "p2"), "--pixel-size", "2.05"]) == 0  # 5 %
    assert "replaces the" not in caplog.text
    # cryopick train alike
    train = ["train", "--micrographs", str(micrograph), "--picks", str(tmp_path / "sim/picks")]
    train += ["--diameter-A", "60", "--steps", "1", "--crop-size", "32", "--device", "cpu"]
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert cli.main([*train, "--pixel-size", "4", "--out", str(tmp_path / "m.pt")]) == 0
    assert "--pixel-size 4 Å/px replaces the 2 Å/px of its header" in caplog.text, caplog.text


def test_evaluate_takes_the_predictions_diameter_for_a_truth_without_one(tmp_path, capsys):
    """A CLI trial's RELION ManualPick truth (no diameter) was refused beside predictions
    that all said 56 px: their diameter is taken, said; several sizes still need one given."""
    import numpy as np

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    rng = np.random.default_rng(1)
    x, y = np.arange(30) * 33.0 + 20, rng.uniform(30, 1000, 30)
    truth = tmp_path / "t.csv"
    truth.write_text("x,y,micrograph\n" + "".join(f"{a},{b},m\n" for a, b in zip(x, y)))
    scores = {"score": rng.uniform(0.2, 1, 30), "micrograph": "m"}
    pred = write_picks(make_picks(x + 10, y, diameter=56.0, **scores), tmp_path / "p.star")
    assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(truth)]) == 0
    out, err = capsys.readouterr()
    assert "ground-truth picks have no diameter: boxes of the predictions' diameter, 56 px" in err
    # shifted 10 px: IoU 46/66 = 0.70 at 56 px boxes, a match at 0.5 and 0.6
    assert re.search(r"AP@0\.6\s+1\.000", out), out
    mixed = make_picks(x, y, diameter=np.where(np.arange(30) % 2, 40.0, 80.0), **scores)
    pred = write_picks(mixed, tmp_path / "mixed.star")
    assert cli.main(["evaluate", "--pred", str(pred), "--truth", str(truth)]) == 2
    err = capsys.readouterr().err
    assert "IoU matching needs a diameter" in err
    assert "the predictions' picks have several diameters (40-80 px)" in err
