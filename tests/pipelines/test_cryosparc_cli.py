"""cryoSPARC files on the command line: exposures as micrographs, particles as picks, export."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import starfile
from _pipeline_helpers import THRESHOLD, tree_bytes, write_micrographs

from napari_cryopick.cli import main

UID = "012345678901234567890"
SHAPE = (96, 128)  # rows, cols


def _save(path, fields):
    n = len(next(iter(fields.values())))
    dtype = [(name, values.dtype, values.shape[1:]) for name, values in fields.items()]
    data = np.zeros(n, dtype=dtype)
    for name, values in fields.items():
        data[name] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # cryoSPARC writes .cs files with np.save
        np.save(handle, data)
    return path


@pytest.fixture
def project(tmp_path):
    """P3/: two motion-corrected micrographs (header 2 A/px), exposures (1 A/px), particles."""
    root = tmp_path / "P3"
    names = [f"J4/motioncorrected/{UID}_mic_{m}.mrc" for m in ("a", "b")]
    write_micrographs(root, names, shape=SHAPE, pixel_size=2.0)
    exposures = _save(
        root / "J5/J5_exposures_ctf_estimated.cs",
        {
            "uid": np.array([11, 12], np.uint64),
            "micrograph_blob/path": np.array(names, dtype="S80"),
            "micrograph_blob/psize_A": np.array([1.0, 1.0], np.float32),
            "micrograph_blob/shape": np.array([SHAPE, SHAPE], np.uint32),
        },
    )
    x = np.array([0.25, 0.5, 0.75, 0.5])
    y = np.array([0.25, 0.5, 0.5, 0.75])
    particles = _save(
        root / "J6/J6_particles.cs",
        {
            "location/micrograph_path": np.array([names[0]] * 3 + [names[1]], dtype="S80"),
            "location/center_x_frac": x.astype(np.float32),
            "location/center_y_frac": y.astype(np.float32),
            "location/micrograph_shape": np.array([SHAPE] * 4, np.uint32),
            "pick_stats/ncc_score": np.array([0.9, 0.8, 0.7, 0.6], np.float32),
        },
    )
    return root, exposures, particles, [root / n for n in names]


def test_pick_takes_exposures_with_their_pixel_size(project, tmp_path, tiny_model, capsys):
    _, exposures, _, files = project
    common = ["--model", str(tiny_model), "--threshold", str(THRESHOLD)]
    # 20 A at the list's 1 A/px is 20 px (the MRC header's 2 A/px would give 10 px)
    assert (
        main(
            [
                "pick",
                str(exposures),
                *common,
                "--diameter-A",
                "20",
                "--out",
                str(tmp_path / "listed"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "pick",
                *map(str, files),
                *common,
                "--diameter",
                "20",
                "--out",
                str(tmp_path / "direct"),
            ]
        )
        == 0
    )
    listed = tree_bytes(tmp_path / "listed")
    assert sorted(listed) == [f"{UID}_mic_a.star", f"{UID}_mic_b.star"]
    assert listed == tree_bytes(tmp_path / "direct")
    assert (
        main(
            [
                "pick",
                *map(str, files),
                *common,
                "--diameter-A",
                "20",
                "--out",
                str(tmp_path / "header"),
            ]
        )
        == 0
    )
    assert tree_bytes(tmp_path / "header") != listed  # the header's pixel size differs


def test_export_writes_one_star_cryosparc_imports(project, tmp_path, tiny_model, capsys):
    _, exposures, _, files = project
    picks = tmp_path / "picks"
    assert (
        main(
            [
                "pick",
                str(exposures),
                "--model",
                str(tiny_model),
                "--threshold",
                str(THRESHOLD),
                "--diameter",
                "20",
                "--out",
                str(picks),
                "--summary",
            ]
        )
        == 0
    )
    out = tmp_path / "for_cryosparc.star"
    assert (
        main(["cryosparc", "export", str(picks), "--exposures", str(exposures), "--out", str(out)])
        == 0
    )
    table = starfile.read(out, always_dict=True)["particles"]
    per_file = {
        name: starfile.read(picks / f"{name}.star", always_dict=True)[""]
        for name in (f"{UID}_mic_a", f"{UID}_mic_b")
    }
    assert len(table) == sum(len(t) for t in per_file.values()) > 0
    # rlnMicrographName: the exposure's file name as cryoSPARC knows it, UID included
    assert set(table["rlnMicrographName"]) == {f.name for f in files}
    rows_a = table[table["rlnMicrographName"] == files[0].name]
    np.testing.assert_allclose(
        rows_a["rlnCoordinateY"], per_file[f"{UID}_mic_a"]["rlnCoordinateY"], atol=0.01
    )
    flipped = tmp_path / "flipped.star"
    assert (
        main(
            [
                "cryosparc",
                "export",
                str(picks),
                "--exposures",
                str(exposures),
                "--out",
                str(flipped),
                "--flip-y",
            ]
        )
        == 0
    )
    table_flipped = starfile.read(flipped, always_dict=True)["particles"]
    np.testing.assert_allclose(
        table_flipped["rlnCoordinateY"], (SHAPE[0] - 1) - table["rlnCoordinateY"], atol=0.01
    )


def test_export_of_candidates_is_at_the_runs_threshold(project, tmp_path, tiny_model, capsys):
    # a trial exported 1,641 candidates down to 0.05 for 1,200 picks: said only, then
    _, exposures, _, _files = project
    candidates = tmp_path / "candidates"
    common = ["--model", str(tiny_model), "--diameter", "20", "--threshold", "0.4"]
    assert main(["pick", str(exposures), *common, "--out", str(candidates),
                 "--keep-candidates", "0.05"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "all.star"
    assert main(["cryosparc", "export", str(candidates), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "cryopick cryosparc export: note: " in err
    assert "every candidate down to score 0.05" in err
    assert "at the threshold their run picked at (0.4)" in err
    assert "no file is known" not in err  # the run's manifest names the files
    picked = tmp_path / "picked.star"
    assert main(["cryosparc", "export", str(candidates), "--out", str(picked),
                 "--threshold", "0.4"]) == 0  # fmt: skip
    assert "every candidate" not in capsys.readouterr().err
    every = tmp_path / "every.star"
    assert main(["cryosparc", "export", str(candidates), "--out", str(every),
                 "--threshold", "0"]) == 0  # fmt: skip
    default = starfile.read(out, always_dict=True)["particles"]
    at_run = starfile.read(picked, always_dict=True)["particles"]
    whole = starfile.read(every, always_dict=True)["particles"]
    assert len(whole) > len(default) > 0  # the candidates below 0.4 are left out
    pd.testing.assert_frame_equal(default, at_run)
    assert (default["rlnAutopickFigureOfMerit"] >= 0.4).all()
    # the files named, not their folder: the same (a review: every candidate, unsaid)
    named = tmp_path / "named.star"
    files = sorted(candidates.glob("*.star"))
    assert main(["cryosparc", "export", *map(str, files), "--out", str(named)]) == 0
    assert "at the threshold their run picked at (0.4)" in capsys.readouterr().err
    pd.testing.assert_frame_equal(starfile.read(named, always_dict=True)["particles"], default)
    # a file the Pick widget exported there since (reviewed at 0.2) is the user's: whole
    from napari_cryopick.io.pickfiles import read_picks, write_picks
    from napari_cryopick.workflows.batch import record_export

    first = files[0]
    reviewed = read_picks(first)
    reviewed = reviewed[reviewed["score"] >= 0.2].reset_index(drop=True)
    assert (reviewed["score"] < 0.4).any()
    write_picks(reviewed, first)
    record_export(candidates, [first])
    again = tmp_path / "again.star"
    assert main(["cryosparc", "export", str(candidates), "--out", str(again)]) == 0
    table = starfile.read(again, always_dict=True)["particles"]
    mine = table[table["rlnMicrographName"].str.startswith(first.stem)]
    assert len(mine) == len(reviewed)


def test_candidates_deep_below_the_folder_exported_are_at_the_runs_threshold(
    tmp_path, tiny_model, capsys
):
    # a review: a pick run over an EPU tree mirrors its sub-folders under one manifest; a
    # file four folders below it was exported whole, unsaid
    root = tmp_path / "Sessions"
    write_micrographs(root, ["S1/Images-Disc1/GridSquare_1/Data/mic_a.mrc"], shape=SHAPE)
    candidates = tmp_path / "candidates"
    assert main(["pick", str(root), "--recursive", "--model", str(tiny_model), "--diameter",
                 "20", "--threshold", "0.4", "--keep-candidates", "0.05", "--out",
                 str(candidates)]) == 0  # fmt: skip
    [written] = candidates.rglob("mic_a.star")
    assert len(written.relative_to(candidates).parts) == 5
    capsys.readouterr()
    out = tmp_path / "deep.star"
    assert main(["cryosparc", "export", str(candidates), "--out", str(out)]) == 0
    assert "at the threshold their run picked at (0.4)" in capsys.readouterr().err
    table = starfile.read(out, always_dict=True)["particles"]
    assert len(table)
    assert (table["rlnAutopickFigureOfMerit"] >= 0.4).all()


def test_filter_export_and_evaluate_take_a_nested_pick_folder_whole(tmp_path, tiny_model, capsys):
    """A CLI trial's EPU tree: cryopick filter of the pick folder found "no pick files in
    this folder" (it needed --recursive), and cryosparc export of the filtered folder
    "folders are not searched below", while the export of the pick folder recursed by its
    manifest. A cryopick run's folder is taken whole by all three now."""
    import tifffile

    from napari_cryopick.io.pickfiles import read_picks

    root = tmp_path / "Sessions"
    for g in (1, 2):  # TIFF: a file named by the default suffix (.mrc) would be wrong
        path = root / f"S1/Images-Disc1/GridSquare_{g}/Data/mic_{g}.tif"
        path.parent.mkdir(parents=True)
        tifffile.imwrite(path, np.random.default_rng(g).normal(size=SHAPE).astype(np.float32))
    picks = tmp_path / "picks"
    common = ["--recursive", "--model", str(tiny_model), "--diameter", "20", "--threshold"]
    assert main(["pick", str(root), *common, "0.05", "--out", str(picks)]) == 0
    # a later run in another format beside them (a review: each micrograph's newest run
    # alone was taken, the scored STAR files left out for BOX files without scores)
    assert main(["pick", str(root), *common, "0.3", "--format", "box", "--out", str(picks)]) == 0
    written = sorted(picks.rglob("mic_*.star"))
    assert len(written) == 2
    scores = np.concatenate([read_picks(path)["score"].to_numpy() for path in written])
    threshold = float(np.median(scores))
    filtered = tmp_path / "filtered"
    capsys.readouterr()
    assert main(["filter", str(picks), "--threshold", str(threshold), "--out",
                 str(filtered)]) == 0  # fmt: skip
    kept = sorted(filtered.rglob("mic_*.star"))
    assert [path.name for path in kept] == ["mic_1.star", "mic_2.star"]
    # the run's manifest, 5 folders above the files, still says each file's micrograph
    records = [json.loads(line) for line in (filtered / "cryopick_manifest.jsonl").open()]
    assert {name.rsplit("/", 1)[-1] for r in records for name in r.get("inputs") or []} == {
        "mic_1.tif",
        "mic_2.tif",
    }
    after = np.concatenate([read_picks(path)["score"].to_numpy() for path in kept])
    assert 0 < len(after) < len(scores)
    assert (after >= threshold).all()
    out = tmp_path / "filtered.star"
    assert main(["cryosparc", "export", str(filtered), "--out", str(out)]) == 0
    table = starfile.read(out, always_dict=True)["particles"]
    assert len(table) == len(after)
    assert set(table["rlnMicrographName"]) == {"mic_1.tif", "mic_2.tif"}
    # evaluate: the pick folder against itself, every file taken (not "not searched below")
    assert main(["evaluate", "--pred", str(picks), "--truth", str(filtered), "--diameter",
                 "20", "--pred-format", "star"]) == 0  # fmt: skip
    assert f"predictions {len(scores)}, ground truth {len(after)}" in capsys.readouterr().out


def test_particles_are_truth_for_evaluate_and_labels_for_train(project, tmp_path, capsys):
    from napari_cryopick.cli import build_parser
    from napari_cryopick.cli._train import request_from_args

    _, exposures, particles, _ = project
    exported = tmp_path / "particles.star"
    assert (
        main(
            [
                "cryosparc",
                "export",
                str(particles),
                "--exposures",
                str(exposures),
                "--out",
                str(exported),
            ]
        )
        == 0
    )
    report = tmp_path / "report.json"
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(exported),
                "--truth",
                str(particles),
                "--diameter",
                "20",
                "--json",
                str(report),
            ]
        )
        == 0
    )
    result = json.loads(report.read_text())
    assert result["n_truth"] == 4
    assert result["n_pred"] == 4
    assert next(iter(result["ap"].values())) == pytest.approx(1.0)  # AP at IoU 0.5

    args = build_parser().parse_args(
        [
            "train",
            "--micrographs",
            str(exposures),
            "--picks",
            str(particles),
            "--diameter-A",
            "20",
            "--out",
            str(tmp_path / "m.pt"),
        ]
    )
    request, _picks = request_from_args(args)
    (dataset,) = request.datasets
    assert dataset.names == [f"{UID}_mic_a", f"{UID}_mic_b"]
    assert [len(t) for t in dataset.picks] == [3, 1]
    assert dataset.diameter_px == [20.0, 20.0]  # the list's 1 A/px, not the header's 2
    np.testing.assert_allclose(dataset.picks[0]["x"], [32.0, 64.0, 96.0])
    np.testing.assert_allclose(dataset.picks[0]["y"], [24.0, 48.0, 48.0])


def test_particles_named_by_cryosparc_meet_plainly_named_micrographs(project, tmp_path, capsys):
    # a trial: evaluate --pred J20_picked_particles.cs against plainly named truth files
    # "shared no micrograph name"; train with plainly named micrographs found no picks
    from napari_cryopick.cli import build_parser
    from napari_cryopick.cli._train import request_from_args
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    _, _, particles, files = project
    truth = tmp_path / "truth"
    truth.mkdir()
    for name, group in read_picks(particles).groupby("micrograph"):
        bare = name[len(UID) + 1 :]
        write_picks(group.assign(micrograph=bare), truth / f"{bare}.csv", "csv")
    assert sorted(p.name for p in truth.iterdir()) == ["mic_a.csv", "mic_b.csv"]
    report = tmp_path / "report.json"
    assert main(["evaluate", "--pred", str(particles), "--truth", str(truth),
                 "--diameter", "20", "--json", str(report)]) == 0  # fmt: skip
    result = json.loads(report.read_text())
    assert (result["n_pred"], result["n_truth"]) == (4, 4)
    plain = tmp_path / "plain"
    plain.mkdir()
    for path in files:  # copies without the UID prefix
        (plain / path.name[len(UID) + 1 :]).write_bytes(path.read_bytes())
    args = build_parser().parse_args(["train", "--micrographs", str(plain), "--picks",
                                      str(particles), "--diameter", "20", "--out",
                                      str(tmp_path / "m.pt")])  # fmt: skip
    request, _picks = request_from_args(args)
    (dataset,) = request.datasets
    assert dataset.names == ["mic_a", "mic_b"]
    assert [len(t) for t in dataset.picks] == [3, 1]


def test_cryosparc_inputs_refused_in_one_line(project, tmp_path, capsys):
    _root, exposures, particles, _ = project
    assert main(["evaluate", "--pred", str(particles), "--truth", str(exposures)]) == 2
    assert "lists exposures" in capsys.readouterr().err
    assert (
        main(["cryosparc", "export", str(particles), "--out", str(tmp_path / "x.star"), "--flip-y"])
        == 2
    )
    assert "--flip-y needs --exposures" in capsys.readouterr().err
    moved = tmp_path / "elsewhere.cs"
    moved.write_bytes(exposures.read_bytes())  # outside its project folder
    assert main(["pick", str(moved), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "elsewhere.cs" in err
    assert "project folder" in err
    assert len(err.strip().splitlines()) == 1


def test_filter_thresholds_particles_into_a_star_file(project, tmp_path, capsys):
    _, _, particles, _ = project
    out = tmp_path / "kept"
    assert main(["filter", str(particles), "--threshold", "0.75", "--out", str(out)]) == 0
    table = starfile.read(out / "J6_particles.star", always_dict=True)[""]
    np.testing.assert_allclose(table["rlnAutopickFigureOfMerit"], [0.9, 0.8], atol=1e-4)
    assert set(table["rlnMicrographName"]) == {f"{UID}_mic_a"}


def test_export_refuses_two_micrographs_of_one_name(tmp_path, capsys):
    """GridA/FoilHole_1 and GridB/FoilHole_1 are two micrographs: never merged into one name."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    for folder in ("GridA", "GridB"):
        (tmp_path / folder).mkdir()
        write_picks(
            make_picks([10.0], [20.0], diameter=20.0), tmp_path / folder / "FoilHole_1.star"
        )
    out = tmp_path / "export.star"
    code = main(
        ["cryosparc", "export", str(tmp_path / "GridA"), str(tmp_path / "GridB"), "--out", str(out)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "micrograph names must be unique" in err
    assert "GridA/FoilHole_1.star" in err
    assert "GridB/FoilHole_1.star" in err
    assert not out.exists()


def test_export_refuses_picks_off_their_exposures(project, tmp_path, capsys):
    # left alone last session: picks of 2x-binned micrographs exported against the
    # full-size exposures went to cryoSPARC unchecked (wrong places on extraction)
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    _, exposures, _, _ = project
    picks = tmp_path / "picks"
    picks.mkdir()
    rows, cols = SHAPE
    inside = make_picks([5.0, cols - 2.0], [5.0, rows - 1.0 + 8.0], diameter=20.0)  # edge
    write_picks(inside, picks / f"{UID}_mic_a.star")
    out = tmp_path / "export.star"
    args = ["cryosparc", "export", str(picks), "--exposures", str(exposures), "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    binned = make_picks([10.0, 2 * cols - 20.0], [10.0, 40.0], diameter=20.0)
    write_picks(binned, picks / f"{UID}_mic_b.star")
    assert main([*args[:-1], str(tmp_path / "again.star")]) == 2
    err = capsys.readouterr().err
    assert f"1 of 2 of {UID}_mic_b (x up to {2 * cols - 20}" in err
    assert f"on {cols} x {rows} px" in err
    assert not (tmp_path / "again.star").exists()
    # the other direction: picks of 2x-binned copies all lie in the top-left quarter
    (picks / f"{UID}_mic_b.star").unlink()
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(2, cols / 2 - 4, 24), rng.uniform(2, rows / 2 - 4, 24)
    write_picks(make_picks(xs, ys, diameter=10.0), picks / f"{UID}_mic_a.star")
    assert main([*args[:-1], str(tmp_path / "binned.star")]) == 2
    err = capsys.readouterr().err
    assert "all 24 picks lie in the top-left" in err
    assert "Give --picks-binning B for copies binned B times" in err


def test_export_flip_y_names_the_exposures_that_lack_heights(project, tmp_path, capsys):
    # an interop trial: "exp.star: flip_y needs the height of micrograph ...", naming the
    # output file, not the exposures file, nor the field it lacks
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    root = project[0]
    names = [f"J4/motioncorrected/{UID}_mic_{m}.mrc" for m in ("a", "b")]
    shapeless = _save(
        root / "J9/J9_exposures.cs",
        {"uid": np.array([11, 12], np.uint64), "micrograph_blob/path": np.array(names, "S80")},
    )
    picks = tmp_path / "picks"
    picks.mkdir()
    write_picks(make_picks([5.0], [5.0], diameter=20.0), picks / f"{UID}_mic_a.star")
    out = tmp_path / "export.star"
    args = ["cryosparc", "export", str(picks), "--exposures", str(shapeless), "--out", str(out)]
    assert main([*args, "--flip-y"]) == 2
    err = capsys.readouterr().err
    assert f"{shapeless}: --flip-y needs each exposure's height (micrograph_blob/shape)" in err
    assert f"{UID}_mic_a" in err
    assert not out.exists()
    assert main(args) == 0  # no flip: no height needed


def test_export_takes_picks_of_binned_copies_onto_the_exposures(project, tmp_path, capsys):
    # left alone since session 26: the binned-copies check had no way forward;
    # --picks-binning B moves picks of B-times binned copies onto the exposures' pixels,
    # as cryopick train --picks-binning reads them
    import starfile

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    _, exposures, _, _ = project
    picks = tmp_path / "picks"
    picks.mkdir()
    rows, cols = SHAPE
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(2, cols / 2 - 4, 24), rng.uniform(2, rows / 2 - 4, 24)
    write_picks(make_picks(xs, ys, diameter=10.0), picks / f"{UID}_mic_a.star")
    base = ["cryosparc", "export", str(picks), "--exposures", str(exposures), "--out"]
    out = tmp_path / "scaled.star"
    assert main([*base, str(out), "--picks-binning", "2"]) == 0
    assert "from 2x-binned coordinates" in capsys.readouterr().out
    table = starfile.read(out)
    table = table["particles"] if isinstance(table, dict) else table
    order = np.argsort(table["rlnCoordinateX"].to_numpy())
    np.testing.assert_allclose(
        table["rlnCoordinateX"].to_numpy()[order], np.sort((xs + 0.5) * 2 - 0.5), atol=0.01
    )
    np.testing.assert_allclose(
        np.sort(table["rlnCoordinateY"].to_numpy()), np.sort((ys + 0.5) * 2 - 0.5), atol=0.01
    )
    # --picks-binning 1: the picks are the exposures' own (no binned-copies check)
    same = tmp_path / "same.star"
    assert main([*base, str(same), "--picks-binning", "1"]) == 0
    capsys.readouterr()
    # scaled too far: off the exposures, still refused
    assert main([*base, str(tmp_path / "far.star"), "--picks-binning", "4"]) == 2
    assert "lie off their exposures after --picks-binning" in capsys.readouterr().err
    assert not (tmp_path / "far.star").exists()
    assert main([*base, str(tmp_path / "bad.star"), "--picks-binning", "0"]) == 2
    assert "--picks-binning must be at least 1" in capsys.readouterr().err
    # a Topaz file of 2x-binned copies: Topaz's own rule (x = 2 x_b), as cryopick train reads it
    (picks / f"{UID}_mic_a.star").unlink()
    topaz = make_picks(xs, ys, micrograph=f"{UID}_mic_a", score=0.9)
    write_picks(topaz, picks / f"{UID}_mic_a.txt", "topaz", integer=False)
    assert main([*base, str(tmp_path / "topaz.star"), "--picks-binning", "2"]) == 0
    table = starfile.read(tmp_path / "topaz.star")
    table = table["particles"] if isinstance(table, dict) else table
    np.testing.assert_allclose(
        np.sort(table["rlnCoordinateX"].to_numpy()), np.sort(xs * 2), atol=0.02
    )


def test_export_threshold_refuses_files_without_scores(tmp_path, capsys):
    """A trial: ``cryosparc export BOX/ --threshold 0.3`` wrote every pick, exit 0."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "box").mkdir()
    write_picks(make_picks([10.0, 30.0], [20.0, 20.0], diameter=20.0), tmp_path / "box/m1.box")
    out = tmp_path / "export.star"
    code = main(["cryosparc", "export", str(tmp_path / "box"), "--threshold", "0.3",
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    # the error names the action too (a re-trial: "cryopick cryosparc: error: ...")
    assert "cryopick cryosparc export: error: " in (err := capsys.readouterr().err)
    assert "BOX files hold no scores (m1.box)" in err
    assert not out.exists()
    # --out naming one of the files exported is refused, the file kept (a re-trial's was
    # replaced by the gathered STAR file)
    before = (tmp_path / "box/m1.box").read_bytes()
    star_in = write_picks(make_picks([10.0], [20.0], diameter=20.0), tmp_path / "box/m2.star")
    star_text = star_in.read_text()
    assert main(["cryosparc", "export", str(tmp_path / "box"), "--out", str(star_in)]) == 2
    assert "--out names one of the pick files exported" in capsys.readouterr().err
    assert star_in.read_text() == star_text
    assert (tmp_path / "box/m1.box").read_bytes() == before
    star_in.unlink()
    # nor a new file in the folder exported: the next export read it as picks
    inside = tmp_path / "box" / "export.star"
    assert main(["cryosparc", "export", str(tmp_path / "box"), "--out", str(inside)]) == 2
    assert "lies in the input folder" in capsys.readouterr().err
    assert not inside.exists()
    # a scored file: the low ones go, a pick added by hand (no score) stays
    scored = make_picks([10.0, 30.0, 50.0], [20.0] * 3, diameter=20.0, score=[0.9, 0.1, np.nan])
    write_picks(scored, tmp_path / "m2.star")
    assert main(["cryosparc", "export", str(tmp_path / "m2.star"), "--threshold", "0.3",
                 "--out", str(out)]) == 0  # fmt: skip
    table = starfile.read(out, always_dict=True)["particles"]
    np.testing.assert_allclose(table["rlnCoordinateX"], [10.0, 50.0])


MARK = "# written by cryopick cryosparc export"


def test_export_replaces_only_a_file_an_earlier_export_wrote(tmp_path, capsys):
    # a trial: 'cryosparc export ... --out mine.star' replaced the user's own STAR file
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    picks = write_picks(make_picks([10.0, 30.0], [20.0, 20.0], score=0.9), tmp_path / "m1.star")
    mine = tmp_path / "mine.star"
    mine.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n")
    exporting = ["cryosparc", "export", str(picks), "--out", str(mine)]
    assert main(exporting) == 2
    assert "no earlier cryopick cryosparc export wrote it" in capsys.readouterr().err
    assert mine.read_text().endswith("1 2\n")
    assert main([*exporting, "--overwrite"]) == 0
    assert len(starfile.read(mine, always_dict=True)["particles"]) == 2
    assert main(exporting) == 0  # its own now: replaced again


def test_export_refuses_an_earlier_export_edited_since(tmp_path, capsys):
    # session 34 left open: an export the user had edited was replaced without a word
    from cryosparc import star as cs_star

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    picks = write_picks(make_picks([10.0, 30.0], [20.0, 20.0], score=0.9), tmp_path / "m1.star")
    out = tmp_path / "export.star"
    exporting = ["cryosparc", "export", str(picks), "--out", str(out)]
    assert main(exporting) == 0
    assert len(cs_star.read(out)["particles"]) == 2  # the mark line reads in cryosparc-tools
    edited = out.read_text().replace("\t30\t", "\t31\t")
    assert edited != out.read_text()
    out.write_text(edited)
    assert main(exporting) == 2
    assert "edited since" in capsys.readouterr().err
    assert out.read_text() == edited
    assert main([*exporting, "--overwrite"]) == 0
    assert starfile.read(out, always_dict=True)["particles"]["rlnCoordinateX"].tolist() == [
        10.0,
        30.0,
    ]
    # an export written before the mark carried a digest is still its own
    out.write_text(out.read_text().replace(out.read_text().split("\n")[2], MARK))
    assert main(exporting) == 0


def _two_pngs(folder):
    """``folder`` with two noise micrographs, m0.png and m1.png (96 x 128)."""
    import imageio.v3 as iio

    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("m0", "m1"):
        iio.imwrite(folder / f"{name}.png", rng.integers(0, 255, (96, 128), dtype=np.uint8))
    return folder


def test_export_says_when_a_micrograph_picked_is_gone_and_leaves_out_its_removed_files(
    tmp_path, tiny_model, capsys
):
    # a trial renamed a micrograph and picked the folder again with --skip: the export
    # took the old name's picks and the new name's, the same particles twice, unsaid
    mics = _two_pngs(tmp_path / "pngs")
    picks = tmp_path / "picked"
    run = ["pick", str(mics), "--model", str(tiny_model), "--diameter", "20", "--threshold",
           "0", "--out", str(picks), "--summary", "--skip"]  # fmt: skip
    assert main(run) == 0
    (mics / "m1.png").rename(mics / "m1_renamed.png")
    assert main(run) == 0
    capsys.readouterr()
    summary = pd.read_csv(picks / "summary.csv", keep_default_na=False).set_index("micrograph")
    assert summary.loc["m1", "reason"].startswith("picked; the micrograph is no longer at this")
    assert summary.loc["m1_renamed", "reason"] == summary.loc["m0", "reason"] == ""
    out = tmp_path / "export.star"
    assert main(["cryosparc", "export", str(picks), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 micrograph(s) picked into" in err
    assert "no longer where they were picked (m1.png)" in err
    names = set(starfile.read(out, always_dict=True)["particles"]["rlnMicrographName"])
    assert names == {"m0.png", "m1.png", "m1_renamed.png"}
    # the old pick file removed, as the note says: left out, nothing said
    (picks / "m1.star").unlink()
    assert main(["cryosparc", "export", str(picks), "--out", str(out)]) == 0
    assert "no longer where" not in capsys.readouterr().err
    names = set(starfile.read(out, always_dict=True)["particles"]["rlnMicrographName"])
    assert names == {"m0.png", "m1_renamed.png"}


def test_export_of_filtered_picks_names_the_micrographs_the_run_picked(tmp_path, tiny_model):
    """A trial: ``cryopick filter``'s folder of picks of PNG micrographs was exported as
    ``<name>.mrc`` ("no cryopick pick manifest"), the unfiltered folder as ``<name>.png``."""
    mics = _two_pngs(tmp_path / "pngs")
    picks = tmp_path / "picked"
    assert main(["pick", str(mics), "--model", str(tiny_model), "--diameter", "20",
                 "--threshold", "0", "--out", str(picks)]) == 0  # fmt: skip
    filtered, again = tmp_path / "filtered", tmp_path / "again"
    assert main(["filter", str(picks), "--threshold", "0", "--out", str(filtered)]) == 0
    assert main(["filter", str(filtered), "--threshold", "0", "--out", str(again)]) == 0
    for folder in (filtered, again):  # a filter of a filter's folder too
        out = tmp_path / f"{folder.name}.star"
        assert main(["cryosparc", "export", str(folder), "--out", str(out)]) == 0
        table = starfile.read(out, always_dict=True)["particles"]
        assert set(table["rlnMicrographName"]) == {"m0.png", "m1.png"}, folder


def test_export_of_a_relion_jobs_index_or_filtered_job_names_its_micrographs_files(
    tmp_path, tiny_model, monkeypatch, capsys
):
    """A pipeline trial: the RELION job folder of PNG micrographs was exported with their
    names, its ``autopick.star`` and a filtered copy of the job as ``<name>.mrc`` ("no
    file is known"), though the index names every micrograph's file."""
    (tmp_path / "MotionCorr" / "job002").mkdir(parents=True)
    _two_pngs(tmp_path / "MotionCorr" / "job002" / "Movies")
    (tmp_path / "mics.star").write_text(
        "data_micrographs\nloop_\n_rlnMicrographName #1\n"
        "MotionCorr/job002/Movies/m0.png\nMotionCorr/job002/Movies/m1.png\n"
    )
    monkeypatch.chdir(tmp_path)  # RELION runs External jobs from the project folder
    job = "External/job004/"
    assert main(["relion", "--o", job, "--in_mics", "mics.star", "--j", "1",
                 "--model", str(tiny_model), "--diameter", "20", "--threshold", "0"]) == 0  # fmt: skip
    assert main(["filter", job, "--threshold", "0", "--out", "External/job004_f"]) == 0
    capsys.readouterr()
    for given in (job, f"{job}autopick.star", "External/job004_f",
                  "External/job004_f/autopick.star"):  # fmt: skip
        out = tmp_path / "export.star"
        assert main(["cryosparc", "export", given, "--out", str(out), "--overwrite"]) == 0
        assert "no file is known" not in capsys.readouterr().err, given
        table = starfile.read(out, always_dict=True)["particles"]
        assert set(table["rlnMicrographName"]) == {"m0.png", "m1.png"}, given


def test_export_of_relions_own_coordinate_files_names_the_micrograph_without_the_suffix(
    tmp_path, capsys
):
    """A re-trial exported a RELION 3.0 AutoPick job's Movies folder (no index):
    ``mic_autopick.star`` went out as micrograph ``mic_autopick.mrc``, no exposure's name."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    movies = tmp_path / "AutoPick" / "job005" / "Movies"
    movies.mkdir(parents=True)
    for stem in ("m0_autopick", "m1_manualpick", "m2_pick"):  # (a review: m2_pick.mrc)
        write_picks(make_picks([10.0, 30.0], [20.0, 40.0], diameter=20.0), movies / f"{stem}.star")
    out = tmp_path / "export.star"
    assert main(["cryosparc", "export", str(movies), "--out", str(out)]) == 0
    names = set(starfile.read(out, always_dict=True)["particles"]["rlnMicrographName"])
    assert names == {"m0.mrc", "m1.mrc", "m2.mrc"}
    assert "no file is known for 3 micrograph(s) (m0, m1, m2" in capsys.readouterr().err


def test_filter_records_the_micrograph_of_every_file_it_writes_from_one(tmp_path):
    """A review: a file of fibers and particles filtered to STAR gives two files (the
    fibers', and the particles' beside it); only the first was recorded with its
    micrograph, so an export of the second named ``<stem>.mrc``, not the micrograph."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import read_picks, write_picks
    from napari_cryopick.workflows.batch import _record_files, micrograph_files

    picked = tmp_path / "picked"
    picked.mkdir()
    mixed = pd.concat(
        [
            make_picks([10.0, 40.0], [20.0, 50.0], diameter=20.0, score=0.9),
            make_picks(
                [100.0, 200.0], [100.0, 100.0], diameter=20.0, score=0.9, kind="fiber", tube_id=1
            ),
        ],
        ignore_index=True,
    ).assign(micrograph="m")
    write_picks(mixed, picked / "m.csv", "csv")
    micrograph = tmp_path / "mics" / "m.png"
    _record_files(picked, [picked / "m.csv"], "done", extra={"input": str(micrograph)})
    out = tmp_path / "filtered"
    assert main(["filter", str(picked), "--format", "star", "--out", str(out)]) == 0
    files = sorted(out.glob("*.star"))
    # as cryopick pick names them: the particles <name>, the fibers <name>_fibers
    assert [f.name for f in files] == ["m.star", "m_fibers.star"]
    assert set(read_picks(out / "m_fibers.star")["kind"]) == {"fiber"}
    assert set(read_picks(out / "m.star")["kind"]) == {"particle"}
    assert micrograph_files(files) == dict.fromkeys(files, micrograph)
    # a file of two micrographs into CBOX (one file a micrograph): the fibers' files apart
    # from the particles' (a fiber trial: the same names for both)
    two = pd.concat([mixed, mixed.assign(micrograph="n")], ignore_index=True)
    write_picks(two, tmp_path / "two.csv", "csv")
    boxes = tmp_path / "boxes"
    args = ["filter", str(tmp_path / "two.csv"), "--format", "cbox", "--box-size", "20"]
    assert main([*args, "--out", str(boxes)]) == 0
    names = sorted(f.name for f in boxes.glob("*.cbox"))
    assert names == ["m.cbox", "m_fibers.cbox", "n.cbox", "n_fibers.cbox"]
    assert set(read_picks(boxes / "n_fibers.cbox")["kind"]) == {"fiber"}
    assert len(read_picks(boxes / "n.cbox")) == 2
    # the names are the file's, not the threshold's: particles all below it, the fibers
    # still in <name>_fibers (a review: <name>.cbox, crYOLO's name for the boxes)
    low = mixed.assign(score=np.where(mixed["kind"] == "fiber", 0.9, 0.2))
    write_picks(low, tmp_path / "low.csv", "csv")
    kept = tmp_path / "kept"
    args = ["filter", str(tmp_path / "low.csv"), "--format", "cbox", "--box-size", "20"]
    assert main([*args, "--threshold", "0.5", "--out", str(kept)]) == 0
    assert sorted(f.name for f in kept.glob("*.cbox")) == ["low_fibers.cbox"]


def test_export_names_the_micrographs_the_run_picked(tmp_path, tiny_model, project):
    """A trial: a RELION job's picks were exported as ``mic_autopick.mrc``; PNG inputs as
    ``.mrc``; picks of ``mic`` matched no exposure ``<uid>_mic_patch_aligned_doseweighted``."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    mics = _two_pngs(tmp_path / "pngs")
    picks = tmp_path / "picked"
    assert main(["pick", str(mics), "--model", str(tiny_model), "--diameter", "20",
                 "--threshold", "0", "--out", str(picks), "--summary"]) == 0  # fmt: skip
    for index, path in enumerate(sorted(picks.glob("*.star"))):  # as RELION's job names them
        path.rename(picks / f"m{index}_autopick.star")
    manifest = picks / "cryopick_manifest.jsonl"
    manifest.write_text(manifest.read_text().replace('.star"', '_autopick.star"'))
    out = tmp_path / "export.star"
    assert main(["cryosparc", "export", str(picks), "--out", str(out)]) == 0
    table = starfile.read(out, always_dict=True)["particles"]
    assert set(table["rlnMicrographName"]) == {"m0.png", "m1.png"}
    # its files named by a (quoted) wildcard or one by one: the same names, from the
    # manifest beside them (a re-trial's "O4/*.star" of TIFF micrographs gave t_0002.mrc)
    for given in ([str(picks / "*.star")], [str(p) for p in sorted(picks.glob("*.star"))]):
        assert main(["cryosparc", "export", *given, "--out", str(out)]) == 0
        table = starfile.read(out, always_dict=True)["particles"]
        assert set(table["rlnMicrographName"]) == {"m0.png", "m1.png"}, given
    # picks of the micrographs before cryoSPARC's motion correction named them
    root = project[0]
    plain = tmp_path / "plain"
    plain.mkdir()
    write_picks(make_picks([10.0], [20.0], diameter=20.0), plain / "mic_a.star")
    aligned = _save(
        root / "J7/J7_exposures.cs",
        {
            "uid": np.array([11], np.uint64),
            "micrograph_blob/path": np.array(
                [f"J4/motioncorrected/{UID}_mic_a_patch_aligned_doseweighted.mrc"], dtype="S80"
            ),
            "micrograph_blob/shape": np.array([SHAPE], np.uint32),
        },
    )
    assert main(["cryosparc", "export", str(plain), "--exposures", str(aligned),
                 "--out", str(tmp_path / "aligned.star")]) == 0  # fmt: skip
    table = starfile.read(tmp_path / "aligned.star", always_dict=True)["particles"]
    assert list(table["rlnMicrographName"]) == [f"{UID}_mic_a_patch_aligned_doseweighted.mrc"]
    # a RELION job's files (mic_autopick.star, named in its manifest) against Patch Motion
    # exposures: both steps of the rule (a trial: "lists no exposure for ... m0_autopick")
    patched = _save(
        root / "J8/J8_exposures.cs",
        {
            "uid": np.array([1, 2], np.uint64),
            "micrograph_blob/path": np.array(
                [f"J4/motioncorrected/{UID}_m{i}_patch_aligned_doseweighted.mrc" for i in (0, 1)],
                dtype="S80",
            ),
            "micrograph_blob/shape": np.array([(96, 128)] * 2, np.uint32),
        },
    )
    assert main(["cryosparc", "export", str(picks), "--exposures", str(patched),
                 "--out", str(tmp_path / "patched.star")]) == 0  # fmt: skip
    table = starfile.read(tmp_path / "patched.star", always_dict=True)["particles"]
    assert set(table["rlnMicrographName"]) == {
        f"{UID}_m{i}_patch_aligned_doseweighted.mrc" for i in (0, 1)
    }


def test_export_of_picks_with_no_known_file_says_the_name_it_writes(tmp_path, capsys):
    # a trial's PNG micrographs were written as <name>.mrc without a word
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "picks").mkdir()
    write_picks(make_picks([10.0, 30.0], [20.0, 40.0], diameter=20.0), tmp_path / "picks" / "a.csv")
    out = tmp_path / "export.star"
    capsys.readouterr()
    assert main(["cryosparc", "export", str(tmp_path / "picks"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no file is known for 1 micrograph(s) (a: " in err
    assert "rlnMicrographName is <name>.mrc" in err
    assert "--exposures J.cs" in err
    assert set(starfile.read(out, always_dict=True)["particles"]["rlnMicrographName"]) == {"a.mrc"}


def test_export_refuses_micrograph_names_with_spaces(tmp_path, capsys):
    # a pipeline trial: the quoted name written for "May08 v1.2" made cryosparc-tools' STAR
    # reader (rows split at every space) refuse the file, after a warning and exit 0
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "picks").mkdir()
    for name in ("plain", "May08 v1.2"):
        table = make_picks([10.0, 30.0], [20.0, 40.0], diameter=20.0)
        write_picks(table, tmp_path / "picks" / f"{name}.csv")
    out = tmp_path / "export.star"
    capsys.readouterr()
    assert main(["cryosparc", "export", str(tmp_path / "picks"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the names of 1 micrograph(s) hold spaces (May08 v1.2): cryoSPARC's STAR" in err
    assert "rename the micrographs" in err
    assert not out.exists()
    (tmp_path / "picks" / "May08 v1.2.csv").unlink()
    assert main(["cryosparc", "export", str(tmp_path / "picks"), "--out", str(out)]) == 0
    names = set(starfile.read(out, always_dict=True)["particles"]["rlnMicrographName"])
    assert names == {"plain.mrc"}


def test_export_takes_a_quoted_wildcard(tmp_path, capsys):
    """A trial: 'cryopick cryosparc export "picks/*.star"' (quoted) was "no such file",
    while pick, train and filter expand such patterns."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    folder = tmp_path / "picks"
    folder.mkdir()
    for name in ("m1", "m2"):
        write_picks(make_picks([10.0, 30.0], [20.0, 20.0], score=0.9, micrograph=name),
                    folder / f"{name}.star")  # fmt: skip
    out = tmp_path / "import.star"
    assert main(["cryosparc", "export", str(folder / "*.star"), "--out", str(out)]) == 0
    particles = starfile.read(out, always_dict=True)["particles"]
    assert len(particles) == 4


def test_export_of_picks_written_with_tiff_y_from_the_last_row_says_so(tmp_path, capsys):
    """A review: a --flip-tiff-y folder's (or a ticked TIFF export's) picks went to
    cryoSPARC mirrored against a plain folder's, unsaid, where a RELION index of TIFF
    micrographs is warned of."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.batch import record_export

    for flip in (False, True):
        folder = tmp_path / f"flip{flip}"
        folder.mkdir()
        written = {}
        for name, suffix in (("t", ".tif"), ("m", ".mrc")):
            path = write_picks(
                make_picks([10.0, 30.0], [20.0, 40.0], diameter=20.0, micrograph=name),
                folder / f"{name}.star",
            )
            written[path] = tmp_path / f"{name}{suffix}"
        record_export(folder, list(written), written, flip_tiff_y=flip)
        out = tmp_path / f"export{flip}.star"
        assert main(["cryosparc", "export", str(folder), "--out", str(out)]) == 0
        err = capsys.readouterr().err
        said = "1 file(s) (e.g. t.star) were written with y from the image's last row"
        assert (said in err) is flip, err
    # a --flip-y run's: every micrograph's (a TIFF pipeline trial: its MRC unsaid)
    from napari_cryopick.workflows.batch import record_filtered

    folder = tmp_path / "flipTrue"
    record_filtered(folder, sorted(folder.glob("*.star")), flip_y=True)
    assert main(["cryosparc", "export", str(folder), "--out", str(tmp_path / "every.star")]) == 0
    assert "2 file(s) (e.g. m.star) were written with y" in capsys.readouterr().err


def test_a_folder_picked_at_two_settings_is_said_by_export_and_filter(
    project, tmp_path, tiny_model, capsys
):
    """A pipeline trial: a run at --threshold 0.6 killed partway over a folder picked at
    0.15 left files of both; cryosparc export and filter passed them on as one particle
    set, unsaid. Each file's manifest record says which run wrote it: now said."""
    _root, _exposures, _particles, mics = project
    out = tmp_path / "picks"
    common = ["--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    assert main(["pick", *map(str, mics), *common]) == 0
    exported = tmp_path / "one.star"
    capsys.readouterr()
    assert main(["cryosparc", "export", str(out), "--out", str(exported)]) == 0
    assert "different settings" not in capsys.readouterr().err  # one run: nothing said
    assert main(["pick", str(mics[0]), *common, "--threshold", "0.6"]) == 0
    capsys.readouterr()
    both = tmp_path / "both.star"
    assert main(["cryosparc", "export", str(out), "--out", str(both)]) == 0
    err = capsys.readouterr().err
    assert "cryopick cryosparc export: warning: the files were picked with different " in err
    assert "threshold 0.6: 1 file(s)" in err
    assert "threshold 0.15: 1 file(s)" in err
    assert main(["filter", str(out), "--threshold", "0.3", "--out", str(tmp_path / "f")]) == 0
    assert "cryopick filter: warning: the files were picked with different settings" in (
        capsys.readouterr().err
    )
    # the other micrograph at 0.6 too, with another diameter: two runs share the threshold,
    # which then tells no group apart; each is said by its settings' fingerprint instead
    assert main(["pick", str(mics[1]), *common[:2], "--diameter", "24", *common[4:],
                 "--threshold", "0.6"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["cryosparc", "export", str(out), "--out", str(tmp_path / "three.star")]) == 0
    err = capsys.readouterr().err
    assert "different settings (settings " in err
    assert "threshold 0.6" not in err
    # one folder picked once per format: each format's files are one run's, no mix (a
    # trial's five runs, one a format, were told of a run stopped partway)
    formats = tmp_path / "formats"
    for fmt in ("star", "cbox", "csv"):
        assert main(["pick", *map(str, mics), *common[:4], "--out", str(formats),
                     "--format", fmt, "--threshold", "0.2"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["filter", str(formats), "--threshold", "0.3", "--out", str(tmp_path / "g")]) == 0
    assert "different settings" not in capsys.readouterr().err
    # exported: the newest run's files, said, with the others' (exported unsaid before)
    assert main(["cryosparc", "export", str(formats), "--out", str(tmp_path / "f.star")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "the .csv files, exported; earlier runs left .cbox, .star files" in err, err
    assert "different settings" not in err  # one run's files
    # one micrograph's newest file of another threshold, in another format: an export
    # mixes the two runs (a review: no longer said once files were compared per format)
    assert main(["pick", str(mics[0]), *common[:4], "--out", str(formats), "--format", "box",
                 "--threshold", "0.6"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["cryosparc", "export", str(formats), "--out", str(tmp_path / "m.star")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "the files were picked with different settings (threshold" in err, err
