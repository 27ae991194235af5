"""The pipeline commands end to end: cryopick relion, cryopick filter, pick --skip/--shard/--monitor."""

from __future__ import annotations

import os
import shutil
import sys
import time

import numpy as np
import pandas as pd
import pytest
import starfile
from _pipeline_helpers import THRESHOLD, tree_bytes, write_micrographs

from napari_cryopick.cli import main
from napari_cryopick.io.pickfiles import read_picks
from napari_cryopick.workflows.batch import in_shard

#: The micrographs of MICROGRAPHS_CTF, as RELION names them (folders kept).
LISTED = [
    "MotionCorr/job002/Movies/GridA/mic_001.mrc",
    "MotionCorr/job002/Movies/GridB/mic_001.mrc",
    "MotionCorr/job002/Movies/GridB/mic_002.mrc",
]

MICROGRAPHS_CTF = """
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographOriginalPixelSize #3
_rlnVoltage #4
_rlnSphericalAberration #5
_rlnAmplitudeContrast #6
_rlnMicrographPixelSize #7
opticsGroup1 1 0.5 300.0 2.7 0.1 1.0

# version 30001

data_micrographs

loop_
_rlnMicrographName #1
_rlnOpticsGroup #2
_rlnCtfMaxResolution #3
MotionCorr/job002/Movies/GridA/mic_001.mrc 1 4.1
MotionCorr/job002/Movies/GridB/mic_001.mrc 1 3.9
MotionCorr/job002/Movies/GridB/mic_002.mrc 1 5.0
"""


@pytest.fixture
def relion_project(tmp_path, monkeypatch):
    """A small RELION project: motion-corrected MRCs and a CtfFind micrograph list."""
    # the MRC headers say 2 A/px; the optics table's 1 A/px must win
    write_micrographs(tmp_path, LISTED, pixel_size=2.0)
    (tmp_path / "CtfFind/job003").mkdir(parents=True)
    (tmp_path / "CtfFind/job003/micrographs_ctf.star").write_text(MICROGRAPHS_CTF)
    monkeypatch.chdir(tmp_path)  # RELION runs External jobs from the project folder
    return tmp_path


def _relion(model, *extra, size=("--diameter-A", "24"), job="External/job004/"):
    return main(
        [
            "relion",
            "--o",
            job,
            "--in_mics",
            "CtfFind/job003/micrographs_ctf.star",
            "--j",
            "1",
            "--pipeline_control",
            job,
            "--model",
            str(model),
            *size,
            "--threshold",
            str(THRESHOLD),
            *extra,
        ]
    )


def test_relion_external_job_writes_what_extract_reads(relion_project, tiny_model, capsys):
    assert _relion(tiny_model) == 0, capsys.readouterr().err
    job = relion_project / "External/job004"
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    assert not (job / "RELION_JOB_EXIT_FAILURE").exists()
    table = starfile.read(job / "autopick.star", always_dict=True)["coordinate_files"]
    assert table["rlnMicrographName"].tolist() == LISTED
    # same stem in two folders: two files, folders mirrored below the job
    assert table["rlnMicrographCoordinates"].tolist() == [
        "External/job004/Movies/GridA/mic_001_autopick.star",
        "External/job004/Movies/GridB/mic_001_autopick.star",
        "External/job004/Movies/GridB/mic_002_autopick.star",
    ]
    for name in table["rlnMicrographCoordinates"]:
        blocks = starfile.read(relion_project / name, always_dict=True)
        coordinates = next(iter(blocks.values()))
        assert {"rlnCoordinateX", "rlnCoordinateY"} <= set(coordinates.columns)
        # labels RELION knows only: it warns on standard error for every file it reads
        # with one it does not (Extract's run.err, once per micrograph; an interop trial)
        assert all(label.startswith("rln") for label in coordinates.columns)
        assert len(coordinates) > 0
        diameters = read_picks(relion_project / name)["diameter"]  # the comment's, one
        assert diameters.notna().all()
        assert diameters.nunique() == 1
    nodes = starfile.read(job / "RELION_OUTPUT_NODES.star", always_dict=True)["output_nodes"]
    assert nodes["rlnPipeLineNodeName"].tolist() == ["External/job004/autopick.star"]
    assert (job / "summary.csv").is_file()
    # RELION 3.1: continuing the job adds the coords_suffix file and the integer node type
    assert _relion(tiny_model, "--relion31") == 0
    suffix = job / "coords_suffix_autopick.star"
    assert suffix.read_text().strip() == "CtfFind/job003/micrographs_ctf.star"
    nodes = starfile.read(job / "RELION_OUTPUT_NODES.star", always_dict=True)["output_nodes"]
    assert nodes["rlnPipeLineNodeName"].tolist() == ["External/job004/coords_suffix_autopick.star"]
    assert nodes["rlnPipeLineNodeType"].tolist() == [2]


def test_relion_job_imports_the_pick_widgets_corrected_picks_for_extract(
    relion_project, tiny_model, capsys
):
    """A GUI trial found no way from the Pick widget's exported (corrected) picks to
    Extract's input: ``--coords FOLDER`` takes each listed micrograph's file into the job
    as a picking job writes its files, with autopick.star, and picks nothing."""
    import mrcfile
    import tifffile

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.batch import record_export

    exported = relion_project / "exported"
    exported.mkdir()
    picks = make_picks([30.0, 60.0, 90.0], [40.0, 50.0, 20.0], diameter=24.0, micrograph="mic_002")
    write_picks(picks.assign(score=[0.9, float("nan"), 0.5]), exported / "mic_002.star")
    # a file of a micrograph the list does not name: said (a RELION trial's was not); not
    # RELION 3's coords_suffix index
    write_picks(picks, exported / "mic_099_manualpick.star")
    (exported / "coords_suffix_autopick.star").write_text("CtfFind/job003/micrographs_ctf.star\n")
    args = ["relion", "--o", "External/job007/", "--in_mics",
            "CtfFind/job003/micrographs_ctf.star", "--coords", "exported"]  # fmt: skip
    assert main([*args, "--threshold", "0.9"]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "imported 3 picks of 1 of 3 micrographs from exported" in out
    assert "--coords picks nothing: --threshold not used" in err
    assert f"2 micrograph(s) of the list have no file in exported ({LISTED[0]}, {LISTED[1]})" in err
    assert "pixel size" not in err  # (no diameter is converted)
    assert "1 coordinate file(s) in exported are of no micrograph of " in err
    assert "(mic_099_manualpick.star): not imported" in err
    for name in ("mic_099_manualpick.star", "coords_suffix_autopick.star"):
        (exported / name).unlink()
    job = relion_project / "External/job007"
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    table = starfile.read(job / "autopick.star", always_dict=True)["coordinate_files"]
    assert table["rlnMicrographName"].tolist() == [LISTED[2]]
    written = relion_project / "External/job007/Movies/GridB/mic_002_autopick.star"
    assert table["rlnMicrographCoordinates"].tolist() == [str(written.relative_to(relion_project))]
    back = read_picks(written)
    np.testing.assert_allclose(back[["x", "y"]], picks[["x", "y"]])
    columns = next(iter(starfile.read(written, always_dict=True).values())).columns
    assert all(label.startswith("rln") for label in columns)
    nodes = starfile.read(job / "RELION_OUTPUT_NODES.star", always_dict=True)["output_nodes"]
    assert nodes["rlnPipeLineNodeName"].tolist() == ["External/job007/autopick.star"]
    assert not (job / "summary.csv").exists()  # nothing was picked
    # the job's files are its own now: a user's file of such a name is refused
    other = relion_project / "External/job011/Movies/GridB/mic_002_autopick.star"
    other.parent.mkdir(parents=True)
    other.write_text("mine")
    assert main([*args[:2], "External/job011/", *args[3:]]) == 2
    assert "External/job011 holds 1 file(s) of these names" in capsys.readouterr().err
    assert other.read_text() == "mine"
    # a file of a name two listed micrographs share: refused, unless the export's
    # manifest says whose it is
    write_picks(picks.assign(micrograph="mic_001"), exported / "mic_001_autopick.star")
    assert main([*args[:2], "External/job008/", *args[3:]]) == 2
    err = capsys.readouterr().err
    assert "mic_001_autopick.star could be the picks of" in err
    assert (relion_project / "External/job008/RELION_JOB_EXIT_FAILURE").is_file()
    record_export(exported, [exported / "mic_001_autopick.star"], {
        exported / "mic_001_autopick.star": relion_project / LISTED[1]})  # fmt: skip
    assert main([*args[:2], "External/job008/", *args[3:]]) == 0, capsys.readouterr().err
    table = starfile.read(relion_project / "External/job008/autopick.star", always_dict=True)
    assert table["coordinate_files"]["rlnMicrographName"].tolist() == LISTED[1:]
    # an import again without mic_001's file: its earlier file goes (RELION 3.1's Extract
    # finds files by name), and a picking run is refused there, as --coords is in a
    # picking job's folder (a trial's Continue listed nothing in autopick.star)
    kept = relion_project / "External/job008/Movies/GridB/mic_001_autopick.star"
    assert kept.is_file()
    (exported / "mic_001_autopick.star").unlink()
    # (a review: a file of the earlier import edited since was removed unsaid)
    edited = kept.read_text()
    kept.write_text(edited + "120\t100\n")  # a particle the user added
    assert main([*args[:2], "External/job008/", *args[3:]]) == 2
    err = capsys.readouterr().err
    assert "1 file(s) of an earlier import changed since it" in err
    assert "Movies/GridB/mic_001_autopick.star" in err
    assert "give --overwrite" in err
    assert kept.read_text() == edited + "120\t100\n"
    assert main([*args[:2], "External/job008/", *args[3:], "--device", "cpu", "--overwrite"]) == 0
    assert "--device not used" in capsys.readouterr().err
    assert not kept.exists()
    assert _relion(None, size=("--diameter", "20"), job="External/job008/") == 2
    assert "holds picks imported with --coords" in capsys.readouterr().err
    assert _relion(tiny_model) == 0  # a picking job's folder: no import into it
    assert main([*args[:2], "External/job004/", *args[3:]]) == 2
    assert "holds a picking run's picks: --coords needs a job folder" in capsys.readouterr().err
    # the job folder itself, or picks of micrographs of another size: refused
    assert main([*args[:2], "External/job013/", *args[3:6], "External/job013"]) == 2
    assert "the job folder itself (--o)" in capsys.readouterr().err
    small = relion_project / "small"
    small.mkdir()
    write_mrc(small / "mic_002.mrc", np.zeros((64, 64), np.float32))
    record_export(
        exported, [exported / "mic_002.star"], {exported / "mic_002.star": small / "mic_002.mrc"}
    )
    assert main([*args[:2], "External/job014/", *args[3:]]) == 2
    assert "holds picks of " in capsys.readouterr().err
    # two exports of one micrograph below the folder: refused, naming both; an export's
    # fibers file beside its particles is no second file (a review)
    (exported / "round2").mkdir()
    mic_002 = relion_project / LISTED[2]
    write_picks(picks, exported / "round2" / "mic_002.star")
    write_picks(picks.assign(kind="fiber", tube_id=1), exported / "mic_002_fibers.star")
    record_export(
        exported, [exported / "mic_002_fibers.star"], {exported / "mic_002_fibers.star": mic_002}
    )
    record_export(exported / "round2", [exported / "round2" / "mic_002.star"], {
        exported / "round2" / "mic_002.star": mic_002})  # fmt: skip
    record_export(exported, [exported / "mic_002.star"], {exported / "mic_002.star": mic_002})
    assert main([*args[:2], "External/job015/", *args[3:]]) == 2
    assert "all hold picks of" in capsys.readouterr().err
    import shutil

    shutil.rmtree(exported / "round2")  # (its manifest too)
    vesicle = make_picks([70.0], [70.0], diameter=40.0, micrograph="mic_002").assign(kind="vesicle")
    write_picks(pd.concat([picks, vesicle], ignore_index=True), exported / "mic_002.star")
    record_export(exported, [exported / "mic_002.star"], {exported / "mic_002.star": mic_002})
    assert main([*args[:2], "External/job015/", *args[3:]]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "1 vesicle(s) or fiber point(s) left out" in err
    assert (
        len(read_picks(relion_project / "External/job015/Movies/GridB/mic_002_autopick.star")) == 3
    )
    # a damaged file stops the job before anything is written: the job folder as it was,
    # and a run after the repair is not refused over half-written files (a review)
    job15 = relion_project / "External/job015"
    before = {p: p.read_bytes() for p in job15.rglob("*_autopick.star")}
    (exported / "GridA").mkdir()
    good = exported / "GridA" / "mic_001.star"  # listed first: written first before
    write_picks(picks.assign(micrograph="mic_001"), good)
    record_export(exported / "GridA", [good], {good: relion_project / LISTED[0]})
    kept_002 = (exported / "mic_002.star").read_bytes()
    (exported / "mic_002.star").write_text("data_\nloop_\n_rlnCoordinateX #1\nnot-a-number\n")
    assert main([*args[:2], "External/job015/", *args[3:]]) == 2
    assert "mic_002.star" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in job15.rglob("*_autopick.star")} == before
    (exported / "mic_002.star").write_bytes(kept_002)
    assert main([*args[:2], "External/job015/", *args[3:]]) == 0, capsys.readouterr().err
    assert (job15 / "Movies/GridA/mic_001_autopick.star").is_file()
    import shutil

    shutil.rmtree(exported / "GridA")
    # a folder holding none of the list's micrographs: refused
    for path in exported.iterdir():
        path.unlink()
    assert main([*args[:2], "External/job009/", *args[3:]]) == 2
    assert "no coordinate file for any of the 3 micrographs" in capsys.readouterr().err
    # a TIFF micrograph's picks are mirrored, as RELION reads TIFF images, unless the
    # export wrote them so ('TIFF y from the last row': a review found them mirrored twice)
    with mrcfile.open(relion_project / LISTED[2]) as opened:
        image = np.asarray(opened.data)
    tiff = (relion_project / LISTED[2]).with_suffix(".tif")
    tifffile.imwrite(tiff, image)
    listing = relion_project / "CtfFind/job003/micrographs_ctf.star"
    listing.with_name("tiff.star").write_text(
        listing.read_text().replace(LISTED[2], LISTED[2][: -len(".mrc")] + ".tif")
    )
    tiff_args = [*args[:2], "External/job010/", "--in_mics", "CtfFind/job003/tiff.star", *args[5:]]
    write_picks(picks, exported / "mic_002.star")
    assert main(tiff_args) == 0, capsys.readouterr().err
    assert "1 TIFF micrograph(s): y mirrored" in capsys.readouterr().out
    mirrored = read_picks(relion_project / "External/job010/Movies/GridB/mic_002_autopick.star")
    np.testing.assert_allclose(mirrored["y"], image.shape[0] - 1 - picks["y"])
    flipped = picks.assign(y=image.shape[0] - 1 - picks["y"])
    write_picks(flipped, exported / "mic_002.star")
    record_export(exported, [exported / "mic_002.star"], {exported / "mic_002.star": tiff},
                  flip_tiff_y=True)  # fmt: skip
    assert main([*tiff_args[:2], "External/job012/", *tiff_args[3:]]) == 0
    out = capsys.readouterr().out
    assert "y mirrored" not in out
    assert "1 TIFF micrograph(s): y as written, from the last row, as their manifest says" in out
    as_written = read_picks(relion_project / "External/job012/Movies/GridB/mic_002_autopick.star")
    np.testing.assert_allclose(as_written["y"], flipped["y"])
    # a --flip-y run's (or its filtered copy's) MRC picks count y from the last row too:
    # mirrored back, as RELION reads MRC as stored (a trial: imported upside down, unsaid)
    from napari_cryopick.workflows.batch import record_filtered

    record_filtered(exported, [exported / "mic_002.star"],
                    {exported / "mic_002.star": relion_project / LISTED[2]}, flip_y=True)  # fmt: skip
    assert main([*args[:2], "External/job014/", *args[3:]]) == 0, capsys.readouterr().err
    assert "1 micrograph(s) of a --flip-y run: y mirrored back" in capsys.readouterr().out
    back = read_picks(relion_project / "External/job014/Movies/GridB/mic_002_autopick.star")
    np.testing.assert_allclose(back["y"], picks["y"])


def test_relion_job_writes_tiff_micrographs_y_as_relion_reads_tiff_images(
    relion_project, tiny_model, capsys
):
    # RELION reads TIFF images flipped along the slow axis ("Conventions", relion-documents):
    # an interop trial's TIFF micrographs got the MRC job's coordinates, and Extract
    # would cut every particle at its mirror position
    import mrcfile
    import tifffile

    mrc = relion_project / LISTED[0]
    with mrcfile.open(mrc) as opened:
        image = np.asarray(opened.data)
    tiff = mrc.with_suffix(".tif")
    tifffile.imwrite(tiff, image)
    listing = relion_project / "CtfFind/job003/micrographs_ctf.star"
    tiff_list = listing.with_name("tiff.star")
    tiff_list.write_text(listing.read_text().replace(LISTED[0], LISTED[0][: -len(".mrc")] + ".tif"))
    assert _relion(tiny_model) == 0, capsys.readouterr().err
    assert main(["relion", "--o", "External/job005/", "--in_mics", str(tiff_list.relative_to(
        relion_project)), "--j", "1", "--pipeline_control", "External/job005/", "--model",
        str(tiny_model), "--diameter-A", "24", "--threshold", str(THRESHOLD)]) == 0  # fmt: skip
    name = "Movies/GridA/mic_001_autopick.star"
    from_mrc = read_picks(relion_project / "External/job004" / name)
    from_tiff = read_picks(relion_project / "External/job005" / name)
    assert len(from_mrc) > 0
    np.testing.assert_allclose(from_tiff["x"], from_mrc["x"])
    np.testing.assert_allclose(from_tiff["y"], image.shape[0] - 1 - from_mrc["y"])
    # the list's MRC micrographs keep their rows
    other = "Movies/GridB/mic_001_autopick.star"
    np.testing.assert_allclose(
        read_picks(relion_project / "External/job005" / other)["y"],
        read_picks(relion_project / "External/job004" / other)["y"],
    )
    # converted to Topaz's text, whose y counts from the first row: said; the MRC job's
    # conversion says nothing
    capsys.readouterr()
    assert main(["filter", "External/job005", "--format", "topaz", "--out", "topaz5"]) == 0
    err = capsys.readouterr().err
    assert "1 file(s) of TIFF micrographs from a RELION index" in err, err
    assert "mic_001.tif" in err
    assert main(["filter", "External/job004", "--format", "topaz", "--out", "topaz4"]) == 0
    assert "TIFF" not in capsys.readouterr().err
    # to crYOLO's CBOX, whose y of TIFF micrographs counts from the last row as RELION's
    # does (a convention review: the warning said the opposite), unsaid and kept
    assert main(["filter", "External/job005", "--format", "cbox", "--box-size", "32",
                 "--out", "cbox5"]) == 0  # fmt: skip
    assert "TIFF" not in capsys.readouterr().err
    (cbox,) = [p for p in (relion_project / "cbox5").rglob("*.cbox") if "GridA/mic_001" in str(p)]
    np.testing.assert_allclose(read_picks(cbox)["y"], from_tiff["y"], atol=1e-3)
    # evaluated against other picks: said too (a trial's AP 0.004 for a good job, unsaid)
    main(["evaluate", "--pred", "External/job005/autopick.star", "--truth",
          "External/job004/Movies/GridB/mic_002_autopick.star"])  # fmt: skip
    err = capsys.readouterr().err
    assert "External/job005/autopick.star (prediction) is a RELION index of TIFF" in err, err
    main(["evaluate", "--pred", "External/job004/autopick.star", "--truth",
          "External/job004/Movies/GridB/mic_002_autopick.star"])  # fmt: skip
    assert "TIFF" not in capsys.readouterr().err
    # exported for cryoSPARC or trained on: said too (a convention review: mirrored against
    # a cryopick pick folder's export, and trained on mirrored, unsaid)
    # (the job's two mic_001 are refused after the warning: names clash across folders)
    main(["cryosparc", "export", "External/job005", "--out", "cs5.star"])
    err = capsys.readouterr().err
    assert "External/job005/autopick.star is a RELION index of TIFF micrographs" in err, err
    main(["cryosparc", "export", "External/job004", "--out", "cs4.star"])
    assert "TIFF" not in capsys.readouterr().err

    train = ["train", "--micrographs", "MotionCorr/job002/Movies", "--picks", "External/job005",
             "--diameter", "12", "--steps", "2", "--batch-size", "1", "--crop-size", "32",
             "--out", "m5.pt"]  # fmt: skip
    main(train)
    err = capsys.readouterr().err
    assert "cryopick train: warning: External/job005/autopick.star is a RELION index" in err
    main([*train, "--flip-y"])
    assert "RELION index" not in capsys.readouterr().err
    # the index given as a quoted wildcard, as train expands it: said too (a review)
    main([*[("External/job00[5]" if a == "External/job005" else a) for a in train]])
    err = capsys.readouterr().err
    assert "cryopick train: warning: External/job005/autopick.star is a RELION index" in err


def test_pick_of_tiff_micrographs_to_star_says_how_relion_reads_them(tmp_path, tiny_model, capsys):
    import tifffile

    rng = np.random.default_rng(0)
    (tmp_path / "mics").mkdir()
    tifffile.imwrite(tmp_path / "mics" / "m.tif", rng.normal(size=(96, 128)).astype(np.float32))
    args = ["pick", str(tmp_path / "mics"), "--model", str(tiny_model), "--diameter", "20"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert (
        "RELION reads TIFF images bottom row first: for RELION, pick them with --flip-tiff-y"
        in (capsys.readouterr().err)
    )
    for other in (["--flip-y"], ["--flip-tiff-y"], ["--format", "csv"], ["--format", "topaz"]):
        assert main([*args, *other, "--out", str(tmp_path / "b")]) == 0  # no such file
        assert "TIFF" not in capsys.readouterr().err
    # crYOLO, EMAN2 and napari-boxmanager count BOX/CBOX y of TIFF micrographs from the
    # last row (a convention review: written from the first row, unsaid)
    assert main([*args, "--format", "cbox", "--out", str(tmp_path / "c")]) == 0
    err = capsys.readouterr().err
    assert "1 TIFF micrograph(s): the CBOX files count y from the file's first row" in err
    assert "crYOLO, EMAN2 and napari-boxmanager count y of TIFF micrographs" in err
    assert "RELION" not in err  # no STAR file
    assert "for them, pick with --flip-tiff-y" in err
    assert main([*args, "--format", "cbox", "--flip-y", "--out", str(tmp_path / "d")]) == 0
    assert "TIFF" not in capsys.readouterr().err
    # --flip-tiff-y leaves JPEG micrographs as they are, which crYOLO reads from the last
    # row too: said (a docs check found the note gone and the JPEGs' files unflipped)
    from PIL import Image

    jpegs = tmp_path / "jpegs"
    jpegs.mkdir()
    Image.fromarray(rng.integers(0, 255, (96, 128), dtype=np.uint8)).save(jpegs / "j.jpg")
    jpeg_args = ["pick", str(jpegs), "--model", str(tiny_model), "--diameter", "20"]
    for flip, said in ((["--flip-tiff-y"], True), (["--flip-y"], False)):
        out = tmp_path / f"j{flip[0]}"
        assert main([*jpeg_args, *flip, "--format", "box", "--out", str(out)]) == 0
        err = capsys.readouterr().err
        assert ("--flip-tiff-y mirrors TIFF micrographs only" in err) is said
        assert ("for crYOLO, pick them with --flip-y" in err) is said
    # --flip-tiff-y mirrors the TIFF micrographs' y only: an MRC of the same run as it is
    import mrcfile

    image = tifffile.imread(tmp_path / "mics" / "m.tif")
    with mrcfile.new(tmp_path / "mics" / "n.mrc") as mrc:
        mrc.set_data(image)
    assert main([*args, "--out", str(tmp_path / "e")]) == 0
    assert main([*args, "--flip-tiff-y", "--out", str(tmp_path / "f")]) == 0
    capsys.readouterr()
    # the run's records say so (relion --coords does not mirror its files again)
    from napari_cryopick.workflows.batch import y_flips

    runs = [tmp_path / "e" / "m.star", tmp_path / "f" / "m.star"]
    assert set(y_flips(runs)) == {runs[1]}
    # --flip-y beside --flip-tiff-y mirrors every micrograph: recorded so (a review: as
    # TIFF only, so relion --coords left the MRC picks upside down)
    assert main([*args, "--flip-y", "--flip-tiff-y", "--out", str(tmp_path / "both")]) == 0
    capsys.readouterr()
    both = [tmp_path / "both" / "n.star"]
    assert {p for p, how in y_flips([*runs, *both]).items() if how == "all"} == set(both)
    # a file below the folder whose manifest records it (a run mirrors sub-folders under
    # its one manifest): found there too
    from napari_cryopick.workflows.batch import record_export

    below = tmp_path / "g" / "sub" / "m.star"
    below.parent.mkdir(parents=True)
    below.write_bytes(runs[1].read_bytes())
    record_export(tmp_path / "g", [below], flip_tiff_y=True)
    assert set(y_flips([below])) == {below}
    # filtered copies keep the record (a review: relion --coords mirrored a filtered copy
    # of a --flip-tiff-y run once more), and a Topaz copy of them is warned of
    for run in ("e", "f"):
        assert (
            main(
                [
                    "filter",
                    str(tmp_path / run),
                    "--threshold",
                    "0",
                    "--out",
                    str(tmp_path / f"{run}2"),
                ]
            )
            == 0
        )
        assert "last row" not in capsys.readouterr().err
    filtered = [tmp_path / "e2" / "m.star", tmp_path / "f2" / "m.star", tmp_path / "f2" / "n.star"]
    assert set(y_flips(filtered)) == set(filtered[1:])
    assert (
        main(["filter", str(tmp_path / "f"), "--format", "topaz", "--out", str(tmp_path / "f3")])
        == 0
    )
    err = capsys.readouterr().err
    assert "1 file(s) whose manifest says TIFF micrographs' y was written from the last row" in err
    assert "(e.g. m.star;" in err
    for name, mirrored in (("m", True), ("n", False)):
        plain = read_picks(tmp_path / "e" / f"{name}.star")
        flipped = read_picks(tmp_path / "f" / f"{name}.star")
        assert len(plain) > 0
        expected = image.shape[0] - 1 - plain["y"] if mirrored else plain["y"]
        np.testing.assert_allclose(flipped["y"], expected, atol=1e-3)
        np.testing.assert_allclose(flipped["x"], plain["x"], atol=1e-3)
    # Topaz and CSV count from the first row: refused (a review: they were mirrored)
    assert main([*args, "--format", "csv", "--flip-tiff-y", "--out", str(tmp_path / "g")]) == 2
    assert "--format csv files count y from the first row" in capsys.readouterr().err


def test_relion_job_continues_and_uses_the_optics_pixel_size(
    relion_project, tiny_model, capsys, caplog
):
    assert _relion(tiny_model) == 0
    # the headers' 2 A/px against the table's 1 A/px: said (a trial's list gave the movies'
    # 1 A/px for 4 A/px micrographs: 1 pick in 10 micrographs, exit 0, unsaid)
    err = capsys.readouterr().err
    assert "a pixel size of 1 A, its MRC header 2 A: the list's is used" in err, err
    # cryopick pick of the list says so too
    assert main(["pick", "CtfFind/job003/micrographs_ctf.star", "--model", str(tiny_model),
                 "--diameter-A", "24", "--out", "listed"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "cryopick pick: warning: CtfFind/job003/micrographs_ctf.star gives" in err, err
    # a row listed twice is said as such (it read "X and X would both be picked into")
    twice = relion_project / "CtfFind/job003/twice.star"
    twice.write_text(MICROGRAPHS_CTF + "MotionCorr/job002/Movies/GridA/mic_001.mrc 1 4.1\n")
    assert main(["relion", "--o", "External/job009/", "--in_mics", str(twice), "--j", "1",
                 "--model", str(tiny_model), "--diameter-A", "24"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "MotionCorr/job002/Movies/GridA/mic_001.mrc is listed twice" in err, err
    job = relion_project / "External/job004"
    before = tree_bytes(job)
    capsys.readouterr()
    assert _relion(tiny_model) == 0
    assert "picked 0 particles in 0 micrographs (3 done before)" in capsys.readouterr().out
    assert tree_bytes(job) == before
    # a file corrected by hand, the job continued: kept and still listed for Extract (a
    # trial's corrected micrograph left autopick.star, the job ending in success)
    corrected = job / "Movies/GridA/mic_001_autopick.star"
    original = corrected.read_text()
    corrected.write_text(original.rstrip("\n").rsplit("\n", 1)[0] + "\n")  # a pick deleted
    assert _relion(tiny_model) == 0
    captured = capsys.readouterr()
    assert "(3 done before, 1 of them kept as edited since); 3 of 3 micrographs" in (
        captured.out
    ), captured.out
    assert "resuming, kept 1 file(s)" in caplog.text
    index = starfile.read(job / "autopick.star")
    assert "Movies/GridA/mic_001_autopick.star" in " ".join(index["rlnMicrographCoordinates"])
    assert corrected.read_text() != original
    corrected.write_text(original)
    # a Continue at another threshold picks the job again: said (a trial's was not)
    assert _relion(tiny_model, "--threshold", "0.5") == 0
    captured = capsys.readouterr()  # in run.out: a job that went well leaves run.err empty
    assert "3 micrograph(s) of the job had been picked with other settings" in captured.out
    assert "other settings" not in captured.err
    assert _relion(tiny_model) == 0  # (back to the job's settings)
    assert "other settings" not in capsys.readouterr().out
    # 24 A at the optics table's 1 A/px: picked at 24 px (the MRC header would give 12)
    assert _relion(tiny_model, size=("--diameter", "12"), job="External/job005/") == 0
    at_24 = read_picks(job / "Movies/GridA/mic_001_autopick.star")["diameter"].mean()
    at_12 = read_picks(relion_project / "External/job005/Movies/GridA/mic_001_autopick.star")[
        "diameter"
    ].mean()
    assert at_24 > 1.5 * at_12
    # a file of the job edited by hand is not replaced by a Continue with other settings
    # unless the job is told (a re-trial: the refusal named an option relion lacked)
    edited = job / "Movies/GridA/mic_001_autopick.star"
    edited.write_text(edited.read_text() + "# checked\n")
    assert _relion(tiny_model, "--diameter-factor", "0.9") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert edited.read_text().endswith("# checked\n")
    assert _relion(tiny_model, "--diameter-factor", "0.9", "--overwrite") == 0
    assert not edited.read_text().endswith("# checked\n")


def test_relion_job_picks_each_data_set_with_its_own_head(relion_project, tmp_path, capsys):
    """A trial's RELION job over a ribosome project picked with the model's last head
    (apoferritin, AP 0), unsaid; ``cryopick pick`` of the same list took the ribosome's."""
    import json

    import torch

    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.core.model.card import DatasetCard, ModelCard
    from napari_cryopick.core.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = Detector(DetectorConfig(target_diameter_px=20.0))
    for name in ("GridA", "GridB", "last"):  # the micrographs' folders name GridA and GridB
        model.add_head(name, init_from="generic")
    card = ModelCard(
        heads=model.head_names,
        datasets=tuple(
            DatasetCard(n, diameter_px=20.0, head=n) for n in ("GridA", "GridB", "last")
        ),
        diameter_px=20.0,
        history=({"mode": "fewshot", "datasets": ["last"]},),
    )
    path = save_checkpoint(tmp_path / "heads.pt", model, metadata=card.to_metadata())
    assert _relion(path) == 0, capsys.readouterr().err
    lines = (relion_project / "External/job004/cryopick_manifest.jsonl").read_text().splitlines()
    heads = {
        record["input"].split("/")[-2]: record["head"]
        for record in map(json.loads, lines)
        if record.get("status") == "done"
    }
    assert heads == {"GridA": "GridA", "GridB": "GridB"}


def test_relion_job_failure_leaves_the_failure_marker(relion_project, tmp_path, capsys):
    code = _relion(tmp_path / "missing.pt")
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.pt" in err
    assert len(err.strip().splitlines()) == 1
    job = relion_project / "External/job004"
    assert (job / "RELION_JOB_EXIT_FAILURE").is_file()
    assert not (job / "RELION_JOB_EXIT_SUCCESS").exists()


def test_relion_job_folder_that_is_a_file_is_named_as_pick_names_it(relion_project, capsys):
    # a CLI trial: --o naming the micrographs' STAR file read "mics_ctf.star: File exists"
    # (and a folder below it "Not a directory"); the file is untouched
    star = relion_project / "mics.star"
    star.write_text("data_\n")
    for given, said in (
        ("mics.star", "--o mics.star: mics.star is a file, not a folder: give the job's folder"),
        ("mics.star/sub", "--o mics.star/sub: mics.star is a file, not a folder"),
    ):
        assert main(["relion", "--o", given, "--in_mics", "x.star"]) == 2
        err = capsys.readouterr().err
        assert said in err, err
        assert len(err.strip().splitlines()) == 1
    assert star.read_text() == "data_\n"


def test_monitor_of_a_file_says_it_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = tmp_path / "out"
    assert main(["pick", "--monitor", str(afile), "--out", str(out), "--diameter", "50"]) == 2
    assert f"{afile}: a file, not a folder (--monitor watches a folder)" in capsys.readouterr().err
    assert main(["pick", "--monitor", str(tmp_path / "no" / "pe"), "--out", str(out)]) == 2
    assert "pe: no such folder, nor " in capsys.readouterr().err


def test_monitor_waits_for_a_folder_not_made_yet(tiny_model, tmp_path):
    """A facility trial started the monitor before the microscope made the session folder
    and was refused: it is waited for (its parent must be there)."""
    from napari_cryopick.core.progress import drive
    from napari_cryopick.workflows.batch import BatchOptions
    from napari_cryopick.workflows.monitor import monitor
    from napari_cryopick.workflows.pick import PickRequest

    session = tmp_path / "session42"
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds
        if clock["t"] == 2.0:  # the microscope makes the folder and writes a micrograph
            write_micrographs(session, ["m0.mrc"])
            old = time.time() - 100
            os.utime(session / "m0.mrc", (old, old))

    request = PickRequest(micrographs=(), model=tiny_model, device="cpu", diameter_px=12.0,
                          out_dir=tmp_path / "out", threshold=0.0)  # fmt: skip
    outcome = drive(monitor(request, session, BatchOptions(summary=False), idle_timeout=6.0,
                            poll_s=1.0, settle_s=0.0, clock=lambda: clock["t"], sleep=sleep))  # fmt: skip
    assert outcome.n_picked == 1


def test_relion_abort_requests_stop_the_job_and_go_with_its_marker(
    relion_project, tiny_model, monkeypatch, capsys
):
    """RELION's External-job rules: on RELION_JOB_ABORT_NOW write RELION_JOB_EXIT_ABORTED and
    remove the request. A pipeline trial's Abort pressed while the job waited in a queue was
    deleted as the job started, which picked everything and said success."""
    import napari_cryopick.io.relion as relion_io

    job = relion_project / "External/job004"
    job.mkdir(parents=True)
    (job / "RELION_JOB_ABORT_NOW").touch()  # pressed while queued
    assert _relion(tiny_model) == 1
    assert "aborted by RELION before it started" in capsys.readouterr().err
    assert (job / "RELION_JOB_EXIT_ABORTED").is_file()
    assert not (job / "RELION_JOB_ABORT_NOW").exists()
    assert not (job / "autopick.star").exists()
    # an abort while it picks: stopped, the request removed with the marker
    calls = []
    real = relion_io.abort_requested

    def pressed_after_the_first_look(control):
        calls.append(control)
        if len(calls) > 1:
            (relion_project / control / "RELION_JOB_ABORT_NOW").touch()
        return real(control)

    monkeypatch.setattr(relion_io, "abort_requested", pressed_after_the_first_look)
    assert _relion(tiny_model) == 1
    assert (job / "RELION_JOB_EXIT_ABORTED").is_file()
    assert not (job / "RELION_JOB_ABORT_NOW").exists()

    # pressed after the job's last look: it ends as it was going to, and the request it
    # did not act on does not stop the next run (a review)
    def pressed_too_late(control):  # each look comes before the press
        (relion_project / control / "RELION_JOB_ABORT_NOW").touch()
        return False

    monkeypatch.setattr(relion_io, "abort_requested", pressed_too_late)
    assert _relion(tiny_model) == 0, capsys.readouterr().err
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    assert not (job / "RELION_JOB_ABORT_NOW").exists()
    (job / "RELION_JOB_EXIT_SUCCESS").unlink()
    monkeypatch.setattr(relion_io, "abort_requested", real)
    assert _relion(tiny_model) == 0, capsys.readouterr().err  # continued: done
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    assert not (job / "RELION_JOB_EXIT_ABORTED").exists()


def test_relion_job_run_outside_the_project_says_where_to_run_it(
    relion_project, tiny_model, monkeypatch, capsys
):
    # left alone in session 24: run by hand from another folder, every micrograph failed
    elsewhere = relion_project / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    job = relion_project / "External/job004"
    code = main(
        ["relion", "--o", str(job), "--in_mics",
         str(relion_project / "CtfFind/job003/micrographs_ctf.star"), "--j", "1",
         "--model", str(tiny_model), "--diameter-A", "24"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"none of its {len(LISTED)} micrographs is there" in err
    assert f"run cryopick relion there ({relion_project}), not from {elsewhere}" in err
    assert (job / "RELION_JOB_EXIT_FAILURE").is_file()


def _threshold_between_scores(scores: np.ndarray) -> float:
    """A threshold in a clear gap of the written (4-decimal) scores, with picks on both sides."""
    values = np.unique(np.round(scores, 4))
    gaps = np.diff(values)
    middle = len(values) // 2
    order = sorted(np.flatnonzero(gaps >= 0.0002), key=lambda k: abs(k - middle))
    assert order, "the untrained detector gave no spread of scores"
    return float((values[order[0]] + values[order[0] + 1]) / 2)


def test_keep_candidates_then_filter_equals_picking_at_the_threshold(tmp_path, tiny_model, capsys):
    mics = write_micrographs(tmp_path / "mics", ["a/m0.mrc", "b/m0.mrc"])
    common = [*map(str, mics), "--model", str(tiny_model), "--diameter", "20"]
    candidates, direct, filtered = tmp_path / "cand", tmp_path / "direct", tmp_path / "filtered"
    assert main(["pick", *common, "--out", str(candidates), "--keep-candidates", "0.05"]) == 0
    # the count is of the picks above the threshold; the files hold more (a trial)
    assert "also hold the candidates scoring at least 0.05" in capsys.readouterr().out
    threshold = _threshold_between_scores(read_picks(candidates / "a/m0.star")["score"])
    assert main(["pick", *common, "--out", str(direct), "--threshold", str(threshold)]) == 0
    assert main(["filter", str(candidates / "a"), str(candidates / "b"), "--threshold",
                 str(threshold), "--out", str(filtered)]) == 0  # fmt: skip
    assert "kept" in capsys.readouterr().out
    got = read_picks(filtered / "a/m0.star")
    assert 0 < len(got) < len(read_picks(candidates / "a/m0.star"))
    for name in ("a/m0.star", "b/m0.star"):
        wanted = read_picks(direct / name)
        got = read_picks(filtered / name)
        np.testing.assert_allclose(got[["x", "y", "score"]], wanted[["x", "y", "score"]])
    # a pick run into the filtered folder does not replace what the filter wrote (a
    # re-trial's 'pick --skip' did, unsaid); a filter there again does
    before = (filtered / "a/m0.star").read_bytes()
    capsys.readouterr()
    assert main(["pick", *common, "--out", str(filtered), "--skip"]) == 2
    assert "would be replaced that no earlier cryopick pick run" in capsys.readouterr().err
    assert (filtered / "a/m0.star").read_bytes() == before
    assert main(["filter", str(candidates / "a"), str(candidates / "b"), "--threshold",
                 str(threshold), "--out", str(filtered)]) == 0  # fmt: skip
    # "lowering" the threshold of files written at a higher one adds nothing: said (a trial)
    capsys.readouterr()
    lower = tmp_path / "lower"
    assert main(["filter", str(direct / "a"), "--threshold", "0.01", "--out", str(lower)]) == 0
    assert "the files were written at a threshold above 0.01" in capsys.readouterr().err
    assert main(["filter", str(candidates / "a"), "--threshold", str(threshold),
                 "--out", str(tmp_path / "again")]) == 0  # fmt: skip
    assert "written at a threshold above" not in capsys.readouterr().err


def test_filter_without_a_threshold_keeps_a_candidates_run_at_its_threshold(
    tmp_path, tiny_model, capsys
):
    """A trial converted a folder of candidates (--keep-candidates 0.05) to STAR for RELION
    without --threshold: "kept 825 of 825 picks", the candidates below the run's threshold
    among them, unsaid (cryosparc export of the same folder kept the run's picks)."""
    mics = write_micrographs(tmp_path / "mics", ["a/m0.mrc", "b/m0.mrc"])
    common = [*map(str, mics), "--model", str(tiny_model), "--diameter", "20"]
    candidates, direct = tmp_path / "cand", tmp_path / "direct"
    assert (
        main(["pick", *common, "--out", str(tmp_path / "first"), "--keep-candidates", "0.05"]) == 0
    )
    threshold = str(_threshold_between_scores(read_picks(tmp_path / "first/a/m0.star")["score"]))
    common += ["--threshold", threshold]
    assert main(["pick", *common, "--out", str(candidates), "--keep-candidates", "0.05"]) == 0
    assert main(["pick", *common, "--out", str(direct)]) == 0
    capsys.readouterr()
    converted = tmp_path / "converted"
    assert main(["filter", str(candidates), "--format", "star", "--out", str(converted)]) == 0
    err = capsys.readouterr().err
    assert "2 file(s) hold every candidate down to score 0.05" in err
    assert "kept at the threshold their run picked at" in err
    for name in ("a/m0.star", "b/m0.star"):
        wanted = read_picks(direct / name)
        got = read_picks(converted / name)
        assert len(got) < len(read_picks(candidates / name))
        np.testing.assert_allclose(got[["x", "y", "score"]], wanted[["x", "y", "score"]])
    every = tmp_path / "every"  # --threshold 0: every candidate, unsaid
    assert main(["filter", str(candidates), "--threshold", "0", "--out", str(every)]) == 0
    assert "hold every candidate" not in capsys.readouterr().err
    assert len(read_picks(every / "a/m0.star")) == len(read_picks(candidates / "a/m0.star"))


def test_filter_refuses_bad_options_in_one_line(tmp_path, capsys):
    picks = tmp_path / "p.star"
    picks.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n")
    assert main(["filter", str(picks), "--out", str(tmp_path / "o")]) == 2
    assert main(["filter", str(picks), "--out", str(tmp_path / "o"), "--threshold", "2"]) == 2
    assert main(["filter", str(picks), "--out", str(tmp_path), "--threshold", "0.5"]) == 2
    # no scores in the file: nothing to threshold
    assert main(["filter", str(picks), "--out", str(tmp_path / "o"), "--threshold", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4
    assert "has no scores" in err[-1]
    # a filter failing on every file leaves no empty --out behind (a trial's did)
    broken = tmp_path / "broken.star"
    broken.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 x\n")
    nested = tmp_path / "new" / "a" / "b"
    assert main(["filter", str(broken), "--out", str(nested), "--format", "box"]) == 2
    assert "broken.star" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert not (tmp_path / "o").exists()


def test_a_micrograph_without_picks_gets_the_star_labels_of_the_others(
    tmp_path, tiny_model, capsys
):
    # a CLI trial: the empty file of a run held the coordinates' labels alone, the others
    # the figure of merit too (tables joined with starfile came out uneven)
    mics = write_micrographs(tmp_path / "mics", ["m0.mrc"])
    out = tmp_path / "out"
    argv = ["pick", *map(str, mics), "--model", str(tiny_model), "--diameter", "20"]
    assert main([*argv, "--threshold", "1", "--out", str(out)]) == 0
    text = (out / "m0.star").read_text()
    assert len(read_picks(out / "m0.star")) == 0
    assert "_rlnAutopickFigureOfMerit" in text


@pytest.mark.parametrize("command", ["filter", "pick"])
def test_a_box_size_of_part_of_a_pixel_is_refused(tmp_path, capsys, command):
    # a CLI trial's --box-size 64.5 wrote boxes of 64 px, unsaid: BOX and CBOX hold whole
    # pixels
    argv = [command, str(tmp_path / "p.star"), "--format", "box", "--out", str(tmp_path / "o")]
    for size, said in (("64.5", "boxes are whole pixels, got 64.5: give 64 or 65"),
                       ("0.5", "must be at least 1 px, got 0.5")):  # fmt: skip
        with pytest.raises(SystemExit) as refused:
            main([*argv, "--box-size", size])
        assert refused.value.code == 2
        assert f"--box-size: {said}" in capsys.readouterr().err
    if command == "filter":  # whole pixels in the binned micrographs too (a review)
        assert main([*argv, "--box-size", "65", "--binning", "2"]) == 2
        assert "gives boxes of 32.5 px in the binned micrographs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_pick_file_given_as_a_micrograph_is_refused_before_anything_is_made(
    tmp_path, tiny_model, capsys
):
    # a CLI trial: the zero-shot search ran, --out and a manifest were made, then the file
    # failed as a micrograph ("unsupported micrograph suffix '.csv'"), and the next run
    # said the folder "already holds the picks of 1 micrograph(s)"
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("x,y\n10,20\n")
    out = tmp_path / "out"
    argv = ["pick", str(clicks), "--model", str(tiny_model), "--diameter", "20"]
    assert main([*argv, "--out", str(out)]) == 2
    said = capsys.readouterr().err
    assert f"{clicks}: a pick file, not a micrograph (.mrc" in said
    assert "pick files are read by cryopick train --picks and cryopick evaluate" in said
    assert not out.exists()
    notes = tmp_path / "notes.docx"
    notes.write_bytes(b"PK")
    assert main(["train", "--micrographs", str(notes), "--picks", str(clicks), "--out",
                 str(tmp_path / "m.pt"), "--diameter", "20"]) == 2  # fmt: skip
    assert f"{notes}: a .docx file, not a micrograph" in capsys.readouterr().err


def test_pick_writes_nothing_into_a_read_only_folder_below_out(tmp_path, tiny_model, capsys):
    # a facility trial, run as root: a read-only sub-folder of --out got its micrograph's
    # picks (and another one a new folder made in it); only --out itself was checked
    mics = tmp_path / "mics"
    write_micrographs(mics, ["gridX/m0.mrc", "gridY/m1.mrc", "gridY/sq1/m2.mrc"])
    out = tmp_path / "out"
    (out / "gridY").mkdir(parents=True)
    (out / "gridY").chmod(0o555)
    try:
        args = ["pick", str(mics), "--recursive", "--model", str(tiny_model)]
        code = main([*args, "--diameter", "20", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1, err
        assert (out / "gridX" / "m0.star").is_file()
        assert list((out / "gridY").iterdir()) == []  # neither files nor folders made
        assert "m1" in err, err
        assert "m2" in err, err
    finally:
        (out / "gridY").chmod(0o755)


def test_pick_skip_shard_and_monitor_options(tmp_path, tiny_model, capsys):
    mics = tmp_path / "mics"
    names = ["m0", "m1", "m2", "m3", "m4"]
    write_micrographs(mics, [f"{name}.mrc" for name in names])
    out = tmp_path / "out"
    common = ["--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    assert main(["pick", str(mics), *common, "--shard", "2/2"]) == 0
    # the micrographs whose output name hashes to shard 2 (m4 of these five)
    mine = [name for name in names if in_shard(name, (2, 2))]
    assert 0 < len(mine) < len(names)
    assert sorted(p.stem for p in out.glob("*.star")) == mine
    assert main(["pick", str(mics), *common, "--skip"]) == 0
    left = len(names) - len(mine)
    assert (
        f"{left} of {len(names)} micrographs, {len(mine)} already done" in capsys.readouterr().out
    )
    monitored = tmp_path / "monitored"
    # (the monitor ends after --idle-timeout seconds with nothing new: 3 s, so that a loaded
    # machine's slow start and first scan do not end it before it picked anything)
    assert main(["pick", "--monitor", str(mics), "--idle-timeout", "3", "--poll", "0.1",
                 "--model", str(tiny_model), "--diameter", "20", "--out", str(monitored)]) == 0  # fmt: skip
    assert tree_bytes(monitored) == tree_bytes(out)
    capsys.readouterr()
    # started again: what it picked before is kept, said as the monitor's, not --skip's
    # (a pipeline trial read "(--skip)", never given)
    assert main(["pick", "--monitor", str(mics), "--idle-timeout", "3", "--poll", "0.1",
                 "--model", str(tiny_model), "--diameter", "20", "--out", str(monitored)]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert f"{len(names)} already done (earlier runs into this folder)" in said, said
    assert main(["pick", str(mics), *common, "--shard", "3/2"]) == 2
    assert main(["pick", *common]) == 2  # neither micrographs nor --monitor
    assert main(["pick", str(mics), *common, "--dask", "local:0"]) == 2


def test_filter_splits_a_file_of_many_micrographs_into_one_file_each(tmp_path, capsys):
    # a trial: a Topaz file of 10 micrographs into CBOX was refused ("use
    # write_picks_per_micrograph", a Python function); a conversion needed --kind particle
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    table = make_picks([10, 50, 90], [20, 60, 100], score=[0.9, 0.2, 0.8],
                       micrograph=["mic_a", "mic_a", "mic_b"], diameter=30.0)  # fmt: skip
    source = write_picks(table, tmp_path / "all.csv", "csv")
    out = tmp_path / "boxes"
    assert main(["filter", str(source), "--format", "cbox", "--box-size", "64",
                 "--out", str(out)]) == 0  # fmt: skip
    # (and the record of what it wrote: a later filter there may replace them)
    assert sorted(p.name for p in out.iterdir()) == [
        "cryopick_manifest.jsonl",
        "mic_a.cbox",
        "mic_b.cbox",
    ]
    assert len(read_picks(out / "mic_a.cbox")) == 2
    assert "one per micrograph" in capsys.readouterr().err
    kept = tmp_path / "kept"
    assert main(["filter", str(source), "--format", "box", "--threshold", "0.5",
                 "--out", str(kept)]) == 0  # fmt: skip
    assert [len(read_picks(kept / f"{m}.box")) for m in ("mic_a", "mic_b")] == [1, 1]


def test_filter_of_a_pick_folder_with_sub_folders_says_them_and_takes_them_recursively(
    tmp_path, capsys
):
    """A batch trial: 'filter out_dask' of a pick run over sub-folders said only "no pick
    files in this folder (only summary.csv)"; with stale files at the top it filtered
    those and not the current ones below, unsaid. Now both say the folders below, and
    --recursive takes them, keeping their layout."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    picks = tmp_path / "picks"
    (picks / "a").mkdir(parents=True)
    (picks / "b").mkdir()
    (picks / "summary.csv").write_text("micrograph,picks\n")
    for name, folder in (("m0", "a"), ("m1", "b")):
        table = make_picks([10, 50], [20, 60], score=[0.9, 0.2], micrograph=name, diameter=30.0)
        write_picks(table, picks / folder / f"{name}.star")
    out = tmp_path / "filtered"
    assert main(["filter", str(picks), "--threshold", "0.5", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "only summary.csv" in error
    assert "2 folders below hold 2 pick files (a/ 1, b/ 1)" in error
    assert "--recursive" in error
    assert main(["filter", str(picks), "--recursive", "--threshold", "0.5",
                 "--out", str(out)]) == 0  # fmt: skip
    assert [len(read_picks(out / f)) for f in ("a/m0.star", "b/m1.star")] == [1, 1]
    stale = make_picks([5], [5], score=[0.9], micrograph="old", diameter=30.0)
    write_picks(stale, picks / "old.star")
    assert main(["filter", str(picks), "--threshold", "0.5", "--out", str(tmp_path / "f2")]) == 0
    assert "2 folders below hold 2 pick files" in capsys.readouterr().err


def test_filter_replaces_only_the_files_an_earlier_filter_wrote(tmp_path, capsys):
    # a trial: 'cryopick filter ... --out hp' replaced the user's hand picks
    # hp/311_10028.csv without a word (cryopick pick refuses that)
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    table = make_picks([10, 50, 90], [20, 60, 100], score=[0.9, 0.2, 0.8],
                       micrograph=["mic_a", "mic_a", "mic_b"], diameter=30.0)  # fmt: skip
    (tmp_path / "in").mkdir()
    source = write_picks(table, tmp_path / "in" / "mic_a.csv", "csv")
    out = tmp_path / "hand"
    out.mkdir()
    hand = out / "mic_a.csv"
    hand.write_text("x,y,diameter\n10,10,56\n")
    filtering = ["filter", str(source), "--threshold", "0.5", "--out", str(out)]
    assert main(filtering) == 2
    error = capsys.readouterr().err
    assert "1 file(s) would be replaced that no earlier cryopick filter" in error
    assert "mic_a.csv" in error
    assert "--overwrite" in error
    assert hand.read_text() == "x,y,diameter\n10,10,56\n"
    # into a new folder, then again at another threshold: its own files are replaced
    fresh = tmp_path / "filtered"
    assert main(["filter", str(source), "--threshold", "0.5", "--out", str(fresh)]) == 0
    assert main(["filter", str(source), "--threshold", "0.1", "--out", str(fresh)]) == 0
    assert len(read_picks(fresh / "mic_a.csv")) == 3
    # ... unless the user changed them since
    (fresh / "mic_a.csv").write_text("x,y,diameter\n1,1,30\n")
    assert main(["filter", str(source), "--threshold", "0.5", "--out", str(fresh)]) == 2
    assert len(read_picks(fresh / "mic_a.csv")) == 1
    capsys.readouterr()
    assert main([*filtering, "--overwrite"]) == 0
    assert len(read_picks(hand)) == 2
    # files of one micrograph each, known only when written: a hand-made one stays
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "mic_b.box").write_text("1\t1\t30\t30\n")
    splitting = ["filter", str(source), "--format", "box", "--box-size", "30", "--out", str(boxes)]
    assert main(splitting) == 2
    error = capsys.readouterr().err
    assert "failed" in error
    assert "(mic_b.box)" in error
    assert "one per micrograph" not in error  # nothing was written
    assert sorted(p.name for p in boxes.iterdir()) == ["mic_b.box"]
    assert (boxes / "mic_b.box").read_text() == "1\t1\t30\t30\n"
    assert main([*splitting, "--overwrite"]) == 0
    assert len(read_picks(boxes / "mic_a.box")) == 2
    assert main(splitting) == 0  # its own now


def test_filter_writes_topaz_targets_for_binned_micrographs(tmp_path, capsys):
    # an interop trial: only reading had a binning option; Topaz training targets for
    # 'topaz preprocess -s 4' needed the Python API
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    table = make_picks(
        [400, 1000], [800, 2000], score=[0.9, 0.6], micrograph="mic_a", diameter=120.0
    )
    source = write_picks(table, tmp_path / "mic_a.star")
    out = tmp_path / "topaz"
    assert main(["filter", str(source), "--format", "topaz", "--binning", "4",
                 "--out", str(out)]) == 0  # fmt: skip
    frame = pd.read_csv(out / "mic_a.txt", sep="\t")
    assert frame["x_coord"].tolist() == [100, 250]  # Topaz's rule: x = 4 x_b
    assert frame["y_coord"].tolist() == [200, 500]
    back = read_picks(out / "mic_a.txt", binning=4)  # and back, as Topaz's picks are read
    np.testing.assert_allclose(back["x"], [400, 1000])
    # a STAR file into STAR with --binning is rewritten, not copied row by row
    star = tmp_path / "star"
    assert main(["filter", str(source), "--binning", "2", "--out", str(star)]) == 0
    np.testing.assert_allclose(sorted(read_picks(star / "mic_a.star")["x"]), [199.75, 499.75])
    assert main(["filter", str(source), "--binning", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "--binning must be a number of at least 1" in capsys.readouterr().err


def test_filter_writes_picks_of_binned_copies_for_the_unbinned_micrographs(tmp_path, capsys):
    """A trial picked 2x binned copies and found no way back to per-micrograph files of
    the originals (filter --binning 0.5 refused): --picks-binning B converts them, by the
    block-averaging rule (Topaz files by Topaz's), also in the file's own format."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    table = make_picks([100, 250], [200, 50], score=[0.9, 0.6], micrograph="m", diameter=28.0)
    for folder in ("binned", "binned_topaz"):
        (tmp_path / folder).mkdir()
    source = write_picks(table, tmp_path / "binned" / "m.star")
    topaz = write_picks(table, tmp_path / "binned_topaz" / "m.txt", format="topaz")
    out = tmp_path / "unbinned"
    assert main(["filter", str(source), "--picks-binning", "2", "--out", str(out)]) == 0
    back = read_picks(out / "m.star")
    np.testing.assert_allclose(back["x"], [200.5, 500.5])  # x = 2 x_b + 1/2
    np.testing.assert_allclose(back["y"], [400.5, 100.5])
    np.testing.assert_allclose(back["diameter"], [56.0, 56.0])
    out = tmp_path / "unbinned_topaz"
    assert main(["filter", str(topaz), "--picks-binning", "2", "--out", str(out)]) == 0
    np.testing.assert_allclose(read_picks(out / "m.txt")["x"], [200, 500])  # x = 2 x_b
    # both ways at once: binned 2x picks for 4x binned micrographs
    out = tmp_path / "rebinned"
    assert main(["filter", str(source), "--picks-binning", "2", "--binning", "4",
                 "--out", str(out)]) == 0  # fmt: skip
    np.testing.assert_allclose(read_picks(out / "m.star")["x"], [49.75, 124.75])
    assert (
        main(["filter", str(source), "--picks-binning", "0.5", "--out", str(tmp_path / "x")]) == 2
    )
    assert "--picks-binning must be a number of at least 1" in capsys.readouterr().err
    # a RELION particles file loses its optics table and paths when converted: said
    relion = tmp_path / "binned_relion"
    relion.mkdir()
    (relion / "particles.star").write_text(
        "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 2.0\n\n"
        "data_particles\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
        "_rlnMicrographName #3\n_rlnOpticsGroup #4\n100 200 mics/m.mrc 1\n"
    )
    out = tmp_path / "unbinned_relion"
    assert main(["filter", str(relion), "--picks-binning", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "other blocks and columns (the optics table" in err
    np.testing.assert_allclose(read_picks(out / "particles.star")["x"], [200.5])
    out = tmp_path / "unbinned_plain"  # a coordinate file of one block: nothing lost
    assert main(["filter", str(source), "--picks-binning", "2", "--out", str(out)]) == 0
    assert "are not kept" not in capsys.readouterr().err
    # a BOX file's box grows with its picks (it stayed at the binned copies' 28 px)
    (tmp_path / "binned_box").mkdir()
    box = write_picks(table, tmp_path / "binned_box" / "m.box", format="box", box_size=28)
    out = tmp_path / "unbinned_box"
    assert main(["filter", str(box), "--picks-binning", "2", "--out", str(out)]) == 0
    assert (out / "m.box").read_text().splitlines()[0].split("\t")[2:] == ["56", "56"]
    back = read_picks(out / "m.box")
    np.testing.assert_allclose(back["x"], [200.5, 500.5], atol=0.5)
    np.testing.assert_allclose(back["diameter"], [56.0, 56.0])


def test_pick_refuses_to_replace_the_users_own_picks_unless_told(
    tmp_path, tiny_model, capsys, caplog
):
    # a trial: cryopick pick mics --out picks replaced the hand picks picks/m1.star
    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc", "m1.mrc"])
    out = tmp_path / "picks"
    out.mkdir()
    (out / "m1.star").write_text("my hand picks\n")
    common = ["pick", str(mics), "--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    capsys.readouterr()
    assert main(common) == 2
    err = capsys.readouterr().err
    assert "m1.star" in err
    assert "--overwrite" in err
    assert "Traceback" not in err
    assert (out / "m1.star").read_text() == "my hand picks\n"
    assert not (out / "m0.star").exists()  # refused before anything was picked
    assert main([*common, "--overwrite"]) == 0
    assert len(read_picks(out / "m1.star")) > 0
    caplog.clear()
    assert main(common) == 0  # the run's own files: replaced, said (a batch trial: unsaid)
    said = "already holds the picks of 2 of these micrograph(s) made with these settings"
    assert said in caplog.text
    caplog.clear()
    assert main([*common, "--skip"]) == 0
    assert "made with these settings" not in caplog.text
    # other micrographs into the same folder: none of them picked again (a re-trial's
    # note counted the folder's 3 earlier micrographs for a run of 2 new ones)
    more = tmp_path / "more"
    write_micrographs(more, ["n0.mrc"])
    others = ["pick", str(more), "--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    assert main(others) == 0
    assert "made with these settings" not in caplog.text


def _fake_sbatch(folder, monkeypatch, test_only: str = "exit 0") -> None:
    """An ``sbatch`` (whose ``--test-only`` runs the shell line ``test_only``) and a
    ``scancel`` on PATH."""
    import os

    folder.mkdir(exist_ok=True)
    sbatch = folder / "sbatch"
    sbatch.write_text(f'#!/bin/sh\nif [ "$1" = "--test-only" ]; then {test_only}; fi\nexit 0\n')
    sbatch.chmod(0o755)
    scancel = folder / "scancel"
    scancel.write_text("#!/bin/sh\nexit 0\n")
    scancel.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_slurm_without_sbatch_or_refused_is_one_clear_error(
    tmp_path, monkeypatch, capsys, tiny_model
):
    # a trial on a machine without SLURM: three asyncio tracebacks ('sbatch' not found),
    # then a wait for workers for good; Ctrl-C ended it with exit status 0, unsaid
    pytest.importorskip("dask_jobqueue")
    import signal

    from napari_cryopick.workflows.batch import slurm_cluster

    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(ValueError, match="no sbatch on this machine"):
        slurm_cluster({})
    assert signal.getsignal(signal.SIGINT) is before  # dask_jobqueue's import left it
    _fake_sbatch(
        tmp_path / "bin",
        monkeypatch,
        'echo "sbatch: error: invalid partition specified: gpux" >&2; exit 1',
    )
    with pytest.raises(ValueError, match=r"SLURM refuses the worker job .*invalid partition"):
        slurm_cluster({"queue": "gpux"})
    (tmp_path / "bin" / "scancel").unlink()  # a trial: a traceback on Ctrl-C, jobs left
    with pytest.raises(ValueError, match="sbatch but no scancel"):
        slurm_cluster({})
    # the command: one line, exit 2, nothing picked
    from napari_cryopick.io.micrographs import write_mrc

    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    micrograph = write_mrc(tmp_path / "m.mrc", np.zeros((64, 64), np.float32) + np.eye(64))
    argv = ["pick", str(micrograph), "--model", str(tiny_model), "--dask", "slurm:2"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert "no sbatch on this machine" in capsys.readouterr().err
    # nothing at all: a re-trial's refused run left a new --out holding an empty manifest
    assert not (tmp_path / "out").exists()


def test_slurm_refused_before_the_zero_shot_search(tmp_path, monkeypatch, capsys):
    # a trial: the bundled model's scale search ran over the first micrographs, and only
    # then did the run say that this machine has no sbatch
    pytest.importorskip("dask_jobqueue")
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows import batch

    def searched(*args, **kwargs):
        raise AssertionError("the zero-shot search ran before the SLURM check")

    monkeypatch.setattr(batch, "with_scale", searched)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    micrograph = write_mrc(tmp_path / "m.mrc", np.zeros((64, 64), np.float32) + np.eye(64))
    argv = ["pick", str(micrograph), "--diameter", "20", "--dask", "slurm:2"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2  # bundled model: zero-shot
    err = capsys.readouterr().err
    assert "no sbatch on this machine" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_address_is_refused_before_the_zero_shot_search(
    tmp_path, monkeypatch, capsys
):
    """A batch trial: --dask tcp://127.0.0.1:9 ran the zero-shot search (70 s of CPU),
    then "Timed out trying to connect ... after 30 s", not naming --dask."""
    import socket

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows import batch

    def searched(*args, **kwargs):
        raise AssertionError("the zero-shot search ran before the address was checked")

    monkeypatch.setattr(batch, "with_scale", searched)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    micrograph = write_mrc(tmp_path / "m.mrc", np.zeros((64, 64), np.float32) + np.eye(64))
    argv = ["pick", str(micrograph), "--diameter", "20", "--dask", f"tcp://127.0.0.1:{port}"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"--dask tcp://127.0.0.1:{port}: no Dask scheduler answers there" in err
    assert "Traceback" not in err


def test_a_scheduler_address_where_something_else_listens_is_refused_in_seconds():
    """A re-trial: --dask at a web server's port read its answer as a 3 EiB frame ("out of
    memory"), and at a port that never answered waited for minutes."""
    import http.server
    import socket
    import threading

    from napari_cryopick.workflows.batch import _check_scheduler_address

    web = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        for port in (web.server_address[1], silent.getsockname()[1]):
            started = time.perf_counter()
            with pytest.raises(ValueError, match=rf"--dask tcp://127.0.0.1:{port}: no Dask"):
                _check_scheduler_address(f"tcp://127.0.0.1:{port}", timeout_s=2.0)
            assert time.perf_counter() - started < 20
    finally:
        web.shutdown()
        silent.close()


def test_slurm_options_reach_the_job_script(tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    import argparse

    _fake_sbatch(tmp_path / "bin", monkeypatch)

    from napari_cryopick.cli._batch import add_batch_arguments, batch_options
    from napari_cryopick.workflows.batch import slurm_cluster

    parser = argparse.ArgumentParser()
    add_batch_arguments(parser)
    args = parser.parse_args(
        ["--dask", "slurm:20", "--slurm-queue", "gpu", "--slurm-account", "lab42",
         "--slurm-walltime", "02:00:00", "--slurm-gpus", "1", "--slurm-extra=--constraint=h100"]
    )  # fmt: skip
    options = batch_options(args)
    assert options.dask == "slurm:20"
    cluster = slurm_cluster(options.dask_options)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for directive in ("-p gpu", "-A lab42", "-t 02:00:00", "--gres=gpu:1", "--constraint=h100"):
        assert f"#SBATCH {directive}" in script
    assert "--nthreads 1" in script
    # the workers leave before SLURM ends their jobs: the 2 h less 6 minutes, staggered
    assert "--lifetime 6840s --lifetime-stagger 90s" in script

    def script_of(**changes):
        cluster = slurm_cluster({**options.dask_options, **changes})
        try:
            return cluster.job_script()
        finally:
            cluster.close()

    # a lifetime the user set (jobqueue.yaml or here) is theirs; their stagger with ours
    script = script_of(worker_extra_args=["--lifetime", "1h"])
    assert script.count("--lifetime") == 1
    assert "--lifetime 1h" in script
    script = script_of(worker_extra_args=["--lifetime-stagger", "1m"])
    assert script.count("--lifetime-stagger") == 1
    assert "--lifetime-stagger 1m --lifetime 6840s" in script
    # a time limit among the extra directives is the job's (SLURM takes the last)
    extra = [*options.dask_options["job_extra_directives"], "--time=1-00:00:00"]
    assert "--lifetime 85800s" in script_of(job_extra_directives=extra)
    # no -t directive: the partition's time, unknown here: no lifetime
    assert "--lifetime" not in script_of(job_directives_skip=["-t"])


def test_slurm_jobs_default_to_four_hours_and_keep_the_users_config(tmp_path, monkeypatch):
    # a review: dask-jobqueue's own default (00:30:00) took the place of the 04:00:00 the
    # docs say, and a jobqueue.yaml's "extra" worker options were dropped
    pytest.importorskip("dask_jobqueue")
    import dask

    from napari_cryopick.workflows.batch import slurm_cluster

    _fake_sbatch(tmp_path / "bin", monkeypatch)

    def script_of(config):
        with dask.config.set(config):
            cluster = slurm_cluster({})
            try:
                return cluster.job_script()
            finally:
                cluster.close()

    script = script_of({})
    assert "#SBATCH -t 04:00:00" in script
    assert "--lifetime 13800s --lifetime-stagger 150s" in script
    script = script_of({"jobqueue.slurm.walltime": "08:00:00"})  # the user's jobqueue.yaml
    assert "#SBATCH -t 08:00:00" in script
    with pytest.warns(FutureWarning, match="extra has been renamed"):  # (dask-jobqueue's)
        script = script_of({"jobqueue.slurm.extra": ["--resources", "GPU=1"]})
    assert "--resources GPU=1 --lifetime 13800s" in script


def _pick_line(tmp_path, monkeypatch, capsys, **outcome):
    """What ``cryopick pick --skip`` prints when its run ends with a ``BatchOutcome`` of
    ``outcome`` (the run itself replaced)."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows import batch

    def finished(request, options, pixel_sizes=None):
        return batch.BatchOutcome(
            errors={}, stopped=False, manifest=None, scale_source="option", **outcome
        )
        yield

    monkeypatch.setattr(batch, "run_batch", finished)
    micrograph = write_mrc(tmp_path / "m.mrc", np.zeros((64, 64), np.float32) + np.eye(64))
    argv = ["pick", str(micrograph), "--diameter", "20", "--out", str(tmp_path / "out")]
    assert main([*argv, "--skip"]) == 0
    return capsys.readouterr().out


def test_the_time_slurm_jobs_waited_in_the_queue_is_said_apart(tmp_path, monkeypatch, capsys):
    # a review: "s per micrograph" held the hour the worker jobs waited in SLURM's queue
    said = _pick_line(
        tmp_path, monkeypatch, capsys, n_micrographs=10, n_picked=10, n_skipped=0,
        n_picks=500, seconds=3700.0, startup_seconds=2.0, waiting_seconds=3600.0,
    )  # fmt: skip
    assert "(start-up 2.0 s, 3600 s waiting for the first worker (SLURM's queue), " in said
    assert "then 9.80 s per micrograph)" in said


def test_skip_counts_micrographs_kept_for_edited_files_apart(tmp_path, monkeypatch, capsys):
    # a CLI trial: one hand-edited file was kept (warned), and the line said "0 of 10
    # micrographs, 10 already done (--skip)"
    said = _pick_line(
        tmp_path, monkeypatch, capsys, n_micrographs=10, n_picked=0, n_skipped=10,
        n_picks=0, seconds=1.0, n_kept=1,
    )  # fmt: skip
    assert "0 of 10 micrographs, 9 already done (--skip), 1 kept as edited since (--skip)" in said


def test_slurm_wall_times_are_read_in_every_slurm_form():
    from napari_cryopick.workflows.batch import lifetime_args, walltime_seconds

    forms = {"30": 1800, "30:15": 1815, "04:00:00": 14400, "1-00": 86400,
             "2-01:30": 178200, "1-00:00:30": 86430}  # fmt: skip
    assert {text: walltime_seconds(text) for text in forms} == forms
    for unread in ("UNLIMITED", "", None, "4h", "1-"):
        assert walltime_seconds(unread) is None
        assert lifetime_args(unread) == []
    assert lifetime_args("00:09:59") == []  # too short to leave early
    assert lifetime_args("00:10:00") == ["--lifetime", "480s", "--lifetime-stagger", "30s"]
    assert lifetime_args("1-00") == ["--lifetime", "85800s", "--lifetime-stagger", "150s"]


def test_pick_takes_a_relion_micrograph_list(relion_project, tiny_model, monkeypatch, capsys):
    """micrographs_ctf.star as the micrographs: files and the optics table's pixel size."""
    common = ["--model", str(tiny_model), "--threshold", str(THRESHOLD)]
    star = relion_project / "CtfFind/job003/micrographs_ctf.star"
    # the optics table says 1 A/px (the MRC headers 2): --diameter-A 24 is 24 px
    assert main(["pick", str(star), *common, "--diameter-A", "24", "--out", "listed"]) == 0
    files = sorted((relion_project / "MotionCorr").rglob("*.mrc"))
    assert main(["pick", *map(str, files), *common, "--diameter", "24", "--out", "direct"]) == 0
    listed = tree_bytes(relion_project / "listed")
    assert sorted(listed) == ["GridA/mic_001.star", "GridB/mic_001.star", "GridB/mic_002.star"]
    assert listed == tree_bytes(relion_project / "direct")
    # run from another folder: the project folder is found above the list
    elsewhere = relion_project / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = relion_project / "from_elsewhere"
    assert main(["pick", str(star), *common, "--diameter-A", "24", "--out", str(out)]) == 0
    assert tree_bytes(out) == listed


def test_relion_job_with_a_refused_option_leaves_the_failure_marker(relion_project, capsys):
    """A typo in the External job's Params tab must not leave the job 'running' in RELION."""
    with pytest.raises(SystemExit) as refused:
        main(["relion", "--o", "External/job006/", "--in_mics", "x.star", "--treshold", "0.2"])
    assert refused.value.code == 2
    assert "--treshold" in capsys.readouterr().err
    job = relion_project / "External/job006"
    assert sorted(p.name for p in job.glob("RELION_JOB_EXIT_*")) == ["RELION_JOB_EXIT_FAILURE"]
    # other commands' refusals, --help and an empty output field write nothing
    with pytest.raises(SystemExit):
        main(["pick", "--o", "External/job007/", "--treshold", "0.2"])
    with pytest.raises(SystemExit):
        main(["relion", "--o", "--in_mics", "x.star"])
    assert not (relion_project / "--in_mics").exists()
    with pytest.raises(SystemExit) as shown:
        main(["relion", "--o", "External/job008/", "--help"])
    assert shown.value.code == 0
    assert not (relion_project / "External/job007").exists()
    assert not (relion_project / "External/job008").exists()


def test_relion_job_takes_the_pick_commands_view_options(
    relion_project, tiny_model, capsys, monkeypatch
):
    """--diameter-factor, --no-rotations, --border: as cryopick pick, and the factor is said."""
    from napari_cryopick.workflows import batch

    requests = []
    original = batch.run_batch

    def recording(request, *args, **kwargs):
        requests.append(request)
        return original(request, *args, **kwargs)

    monkeypatch.setattr(batch, "run_batch", recording)
    assert _relion(tiny_model, job="External/job010/") == 0
    # the defaults leave the options as before they existed: a job continued after an
    # upgrade keeps its settings fingerprint (what it picked stays done)
    assert requests[-1].options == {}
    assert (requests[-1].diameter_factor, requests[-1].invert_contrast) == (None, None)
    assert _relion(tiny_model, "--no-rotations", "--diameter-factor", "0.8", "--border", "0",
                   "--invert-contrast") == 0  # fmt: skip
    assert requests[-1].options == {"rotations": False, "border": 0.0}
    assert (requests[-1].diameter_factor, requests[-1].invert_contrast) == (0.8, True)
    out = capsys.readouterr().out
    assert "0.8" in out
    assert "--diameter-factor" in out
    job = relion_project / "External/job004"
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    capsys.readouterr()
    code = _relion(tiny_model, "--scale-search", "--diameter-factor", "0.8", job="External/job009/")
    assert code == 2
    assert "exclude each other" in capsys.readouterr().err
    assert (relion_project / "External/job009/RELION_JOB_EXIT_FAILURE").is_file()


def test_ctrl_c_ends_a_monitor_session_with_its_summary(tmp_path, tiny_model, monkeypatch, capsys):
    """Ctrl-C is how a monitor session usually ends: what it picked is said and summarised."""
    import time

    from napari_cryopick.workflows import monitor as streaming

    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc", "m1.mrc", "m2.mrc"])
    (mics / "bad.mrc").write_bytes(b"not an MRC file" * 100)  # named again at the end
    out = tmp_path / "out"
    original = streaming.monitor

    def interrupted_when_all_are_picked(*args, **kwargs):
        def sleep(seconds):
            manifest = out / "cryopick_manifest.jsonl"
            failed = manifest.is_file() and '"status": "failed"' in manifest.read_text()
            if len(list(out.glob("*.star"))) == 3 and failed:
                raise KeyboardInterrupt
            time.sleep(seconds)

        return original(*args, **kwargs, sleep=sleep)

    monkeypatch.setattr(streaming, "monitor", interrupted_when_all_are_picked)
    code = main(["pick", "--monitor", str(mics), "--idle-timeout", "30", "--poll", "0.1",
                 "--model", str(tiny_model), "--diameter", "20", "--out", str(out)])  # fmt: skip
    assert code == 130
    err = capsys.readouterr().err
    assert "monitoring stopped; 3 micrographs picked" in err
    # the failure, said when it failed (a warning), is named again at the end (a pipeline
    # trial's Ctrl-C said nothing of it)
    assert f"cryopick pick: failed {mics / 'bad.mrc'}: not a valid MRC file" in err
    assert "1 failed (named above)" in err
    assert "--skip" not in err  # monitoring always continues where it stopped
    # header, 3 micrographs picked and the one that failed
    assert (out / "summary.csv").read_text().count("\n") == 5


def test_relion_params_labels_as_the_docs_give_them(relion_project, tiny_model, capsys):
    """RELION builds the command as ' --' + label + ' ' + value: labels carry no dashes."""
    import shlex

    command = "relion --o External/job011/ --in_mics CtfFind/job003/micrographs_ctf.star --j 1"
    params = [("model", str(tiny_model)), ("diameter-A", "24"), ("threshold", str(THRESHOLD)),
              ("no-rotations", ""), ("relion31", ""), ("diameter-factor", "0.9")]  # fmt: skip
    for label, value in params:  # RELION's pipeline_jobs.cpp, External job
        command += " --" + label + " " + value
    assert main(shlex.split(command)) == 0, capsys.readouterr().err
    job = relion_project / "External/job011"
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    assert (job / "coords_suffix_autopick.star").is_file()


def test_ctrl_c_before_anything_was_picked_says_so(tmp_path, tiny_model, monkeypatch, capsys):
    """Not 'every micrograph finished so far is recorded in OUT' for a folder never made."""
    from napari_cryopick.workflows import batch

    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc"])
    out = tmp_path / "out"
    common = [str(mics), "--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    original = batch.run_batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, as the batch runner

    monkeypatch.setattr(batch, "run_batch", interrupted)
    assert main(["pick", *common]) == 130
    err = capsys.readouterr().err
    assert "stopped before any micrograph was picked" in err
    assert "recorded in" not in err
    monkeypatch.setattr(batch, "run_batch", original)
    assert main(["pick", *common]) == 0
    monkeypatch.setattr(batch, "run_batch", interrupted)
    assert main(["pick", *common, "--skip"]) == 130
    assert "every micrograph finished so far is recorded in" in capsys.readouterr().err


def test_relion_threads_without_dask_pick_in_one_process(
    relion_project, tiny_model, monkeypatch, capsys
):
    import importlib.util

    from napari_cryopick.cli._relion import threads_cluster

    assert threads_cluster(1) is None
    real_find_spec = importlib.util.find_spec
    if real_find_spec("distributed") is not None:
        assert threads_cluster(3) == "local:3"
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "distributed" else real_find_spec(name, *a, **k),
    )
    # RELION's "Number of threads" 3 on an install without the cluster extra
    import torch

    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.append(n))
    threads = []
    assert _relion(tiny_model, "--j", "3") == 0
    assert threads == [3]  # its share of the node (a trial: --j 1 left torch at every core)
    err = capsys.readouterr().err
    assert "Number of threads (--j 3) needs dask.distributed" in err
    assert "picking in one process" in err
    job = relion_project / "External/job004"
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file()
    table = starfile.read(job / "autopick.star", always_dict=True)["coordinate_files"]
    assert len(table) == 3


def test_filter_of_a_relion_job_writes_what_extract_reads(relion_project, tiny_model, capsys):
    assert _relion(tiny_model, "--keep-candidates", "0.05") == 0
    job = relion_project / "External/job004"
    old = starfile.read(job / "autopick.star", always_dict=True)["coordinate_files"]
    old_files = [relion_project / name for name in old["rlnMicrographCoordinates"]]
    threshold = _threshold_between_scores(read_picks(old_files[0])["score"])
    for name in ("note.txt", "job.star", "job_pipeline.star"):  # RELION writes these too
        (job / name).write_text("data_job\n\n_rlnJobTypeLabel relion.external\n")
    capsys.readouterr()
    # run from the project folder, as a RELION user would
    assert main(["filter", "External/job004", "--threshold", str(threshold),
                 "--out", "External/job004_filtered"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "3 of 3 coordinate files listed" in out
    index = relion_project / "External/job004_filtered/autopick.star"
    table = starfile.read(index, always_dict=True)["coordinate_files"]
    assert table["rlnMicrographName"].tolist() == LISTED
    # one filtered file per micrograph, mirrored below the new folder, project-relative
    assert table["rlnMicrographCoordinates"].tolist() == [
        "External/job004_filtered/Movies/GridA/mic_001_autopick.star",
        "External/job004_filtered/Movies/GridB/mic_001_autopick.star",
        "External/job004_filtered/Movies/GridB/mic_002_autopick.star",
    ]
    kept = total = 0
    for old_file, name in zip(old_files, table["rlnMicrographCoordinates"]):
        before, after = read_picks(old_file), read_picks(relion_project / name)
        wanted = before[before["score"] >= threshold].reset_index(drop=True)
        np.testing.assert_allclose(after[["x", "y", "score"]], wanted[["x", "y", "score"]])
        kept, total = kept + len(after), total + len(before)
    assert 0 < kept < total
    # binned coordinates: no index pairing them with the unbinned micrographs (a trial's
    # 2x index listed 061's 1024 px micrograph beside coordinates halved)
    assert main(["filter", "External/job004", "--binning", "2",
                 "--out", "External/job004_bin2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "no new index written" in out, out
    assert "--binning 2" in out, out
    assert not (relion_project / "External/job004_bin2/autopick.star").exists()
    halved = read_picks(relion_project / "External/job004_bin2/Movies/GridA/mic_001_autopick.star")
    source = read_picks(old_files[0])[["x", "y"]]
    np.testing.assert_allclose(halved[["x", "y"]], (source + 0.5) / 2 - 0.5, atol=1e-3)
    # read for and written for one binning: the coordinates stay those of the micrographs
    # the index names, so it is written (a fuzzing: refused, "--picks-binning writes
    # coordinates for the unbinned ones", false for the pair)
    assert main(["filter", "External/job004", "--picks-binning", "2", "--binning", "2",
                 "--out", "External/job004_same"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "3 of 3 coordinate files listed" in out, out
    same = read_picks(relion_project / "External/job004_same/Movies/GridA/mic_001_autopick.star")
    np.testing.assert_allclose(same[["x", "y"]], source, atol=1e-3)
    # a RELION ManualPick job folder: its selection and RELION 3.1 list are no pick files
    manual = relion_project / "ManualPick/job005"
    shutil.copytree(job / "Movies", manual / "Movies")
    listed = starfile.read(job / "autopick.star", always_dict=True)["coordinate_files"]
    listed["rlnMicrographCoordinates"] = listed["rlnMicrographCoordinates"].str.replace(
        "External/job004", "ManualPick/job005"
    )
    starfile.write({"coordinate_files": listed}, manual / "manualpick.star")
    (manual / "micrographs_selected.star").write_text(MICROGRAPHS_CTF)
    (manual / "coords_suffix_manualpick.star").write_text("CtfFind/job003/micrographs_ctf.star\n")
    assert main(["filter", "ManualPick/job005", "--threshold", str(threshold),
                 "--out", "ManualPick/job005_filtered"]) == 0  # fmt: skip
    out = capsys.readouterr()
    assert "failed" not in out.out + out.err, out


def test_filter_of_a_relion_index_outside_the_project_and_with_a_missing_file(
    relion_project, tiny_model, tmp_path_factory, capsys
):
    assert _relion(tiny_model, "--keep-candidates", "0.05") == 0
    job = relion_project / "External/job004"
    index = job / "autopick.star"
    table = starfile.read(index, always_dict=True)["coordinate_files"]
    files = [relion_project / name for name in table["rlnMicrographCoordinates"]]
    before = files[0].read_bytes()
    # the inputs' common folder as the output folder would overwrite them
    assert main(["filter", str(files[0]), str(files[1]), "--threshold", "0.5",
                 "--out", str(job / "Movies")]) == 2  # fmt: skip
    assert "would replace an input file" in capsys.readouterr().err
    assert files[0].read_bytes() == before
    # outside the project: absolute paths, which RELION resolves from anywhere
    outside = tmp_path_factory.mktemp("elsewhere")  # not below the project folder
    files[2].unlink()  # one listed file missing: reported, the others filtered
    assert main(["filter", str(index), "--threshold", "0.05", "--out", str(outside)]) == 1
    captured = capsys.readouterr()
    assert "data row 3" in captured.err
    # said as missing, not as a project folder not found (the others were found in it)
    assert "mic_002_autopick.star' is missing (not in the project folder" in captured.err
    assert "2 of 3 coordinate files listed" in captured.out
    new = starfile.read(outside / "autopick.star", always_dict=True)["coordinate_files"]
    assert new["rlnMicrographName"].tolist() == table["rlnMicrographName"].tolist()[:2]
    for name in new["rlnMicrographCoordinates"]:
        assert name.startswith("/")
        assert read_picks(name)["score"].notna().all()
    # BOX files need a box size where a file has no diameters (RELION's own
    # autopicker writes none); no STAR index is written for them
    files[1].write_text(
        "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
        "_rlnAutopickFigureOfMerit #3\n40 50 0.9\n60 70 0.8\n"
    )
    boxes = outside / "boxes"
    assert main(["filter", str(index), "--threshold", "0.05", "--out", str(boxes),
                 "--format", "box"]) == 1  # fmt: skip
    captured = capsys.readouterr()
    assert f"failed {files[1]}: " in captured.err
    assert "--box-size" in captured.err
    assert main(["filter", str(index), "--threshold", "0.05", "--out", str(boxes),
                 "--format", "box", "--box-size", "24"]) == 1  # fmt: skip
    assert "no new index written" in capsys.readouterr().out
    # named like the micrograph, as crYOLO and EMAN2 look for them (a trial found
    # mic_001_autopick.box)
    assert (boxes / "Movies/GridA/mic_001.box").is_file()
    assert not (boxes / "Movies/GridA/mic_001_autopick.box").exists()
    assert not (boxes / "autopick.star").exists()


def test_filter_of_a_folder_with_box_files_filters_the_others(tmp_path, capsys):
    # a trial filtered a folder `cryopick pick` wrote in every format: the BOX files (no
    # scores) stopped the whole run and nothing was filtered
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    folder = tmp_path / "picks"
    folder.mkdir()
    table = make_picks([10.0, 20.0, 30.0], [10.0, 20.0, 30.0], diameter=8.0, score=[0.1, 0.5, 0.9])
    write_picks(table, folder / "m0.star")
    write_picks(table, folder / "m1.cbox")
    write_picks(table, folder / "m2.box", box_size=8)
    out = tmp_path / "out"
    assert main(["filter", str(folder), "--threshold", "0.4", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "kept 4 of 6 picks in 2 of 2 files" in captured.out
    assert "no scores to threshold: 1 file(s) (m2.box" in captured.err
    assert len(read_picks(out / "m0.star")) == 2
    assert len(read_picks(out / "m1.cbox")) == 2
    assert not (out / "m2.box").exists()
    # only score-less files: refused in one line (exit 2)
    assert main(["filter", str(folder / "m2.box"), "--threshold", "0.4", "--out", str(out)]) == 2
    assert "no scores" in capsys.readouterr().err


def test_box_size_without_a_boxed_format_is_refused(tmp_path, tiny_model, capsys):
    # a trial's `--box-size 100 --format star` was silently ignored
    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc"])
    common = ["--model", str(tiny_model), "--diameter", "20", "--out", str(tmp_path / "o")]
    assert main(["pick", str(mics), *common, "--box-size", "100"]) == 2
    assert "--box-size sets the boxes of box and cbox files" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["pick", str(mics), *common, "--box-size", "100", "--format", "box"]) == 0
    assert (tmp_path / "o" / "m0.box").read_text().split("\t")[2] == "100"


def test_a_run_into_its_own_input_folder_does_not_pick_its_overview(tmp_path, tiny_model, capsys):
    """A trial: ``--out`` = the micrographs' folder, run twice: summary.png became a micrograph."""
    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc", "m1.mrc"])
    common = ["--model", str(tiny_model), "--diameter", "20", "--out", str(mics), "--skip"]
    assert main(["pick", str(mics), *common]) == 0
    assert (mics / "summary.png").is_file()
    capsys.readouterr()
    assert main(["pick", str(mics), *common]) == 0
    assert "0 of 2 micrographs, 2 already done" in capsys.readouterr().out
    assert not (mics / "summary.star").exists()
    # a micrograph that is called summary.png, in a folder of no cryopick run, is one
    other = tmp_path / "other"
    write_micrographs(other, ["m0.mrc"])
    (other / "summary.png").write_bytes((mics / "summary.png").read_bytes())
    from napari_cryopick.io.paths import micrograph_files

    assert sorted(p.name for p in micrograph_files([other])) == ["m0.mrc", "summary.png"]


def test_a_run_below_its_input_folder_does_not_pick_its_pictures(tmp_path, tiny_model, capsys):
    """A review: ``--pictures`` into ``--out`` below the micrographs' folder, searched with
    ``--recursive`` (or ``--monitor``) again, picked its own pictures as micrographs (over
    and over: pictures of pictures)."""
    from napari_cryopick.io.paths import micrograph_files, written_by_cryopick

    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc", "m1.mrc"])
    out = mics / "picks"
    common = ["--model", str(tiny_model), "--diameter", "20", "--threshold", str(THRESHOLD)]
    args = ["pick", str(mics), "--recursive", *common, "--out", str(out), "--pictures", "2"]
    assert main(args) == 0
    pictures = sorted((out / "pictures").rglob("*.png"))
    assert len(pictures) == 2
    assert all(written_by_cryopick(p) for p in pictures)
    capsys.readouterr()
    assert main([*args, "--skip"]) == 0
    assert "0 of 2 micrographs, 2 already done" in capsys.readouterr().out
    assert sorted((out / "pictures").rglob("*.png")) == pictures  # no picture of a picture
    # a PNG micrograph in a folder named pictures of no cryopick run is one
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "m.png").write_bytes(pictures[0].read_bytes())
    assert [p.name for p in micrograph_files([tmp_path / "pictures"])] == ["m.png"]


RUN_DATA = """
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographOriginalPixelSize #3
_rlnImagePixelSize #4
_rlnImageSize #5
opticsGroup1            1     0.885000     1.770000          128


# version 30001

data_particles

loop_
_rlnCoordinateX #1
_rlnCoordinateY #2
_rlnAnglePsi #3
_rlnClassNumber #4
_rlnAutopickFigureOfMerit #5
_rlnImageName #6
_rlnMicrographName #7
_rlnOpticsGroup #8
_rlnOriginXAngst #9
 1126.000000   610.000000    12.50000     1     0.900000 000001@Extract/job007/Movies/061_10028.mrcs MotionCorr/job002/Movies/061_10028.mrc     1     0.000000
  854.000000   614.000000   -30.00000     2     0.300000 000002@Extract/job007/Movies/061_10028.mrcs MotionCorr/job002/Movies/061_10028.mrc     1     1.770000
  200.000000   300.000000    90.00000     1     0.700000 000001@Extract/job007/Movies/062_10029.mrcs MotionCorr/job002/Movies/062_10029.mrc     1    -3.540000
"""


def test_filter_of_a_relion_particles_file_only_drops_rows(tmp_path, capsys):
    # a trial's run_data.star came out as X, Y, rlnMicrographName 061_10028 and the FOM:
    # no optics block, no image names or angles, names RELION could not match
    source = tmp_path / "Select/job010/run_data.star"
    source.parent.mkdir(parents=True)
    source.write_text(RUN_DATA)
    out = tmp_path / "filtered"
    assert main(["filter", str(source), "--threshold", "0.5", "--out", str(out)]) == 0
    assert "kept 2 of 3 picks" in capsys.readouterr().out
    dropped = next(line for line in RUN_DATA.splitlines(True) if "000002@" in line)
    assert (out / "run_data.star").read_text() == RUN_DATA.replace(dropped, "")
    blocks = starfile.read(out / "run_data.star", always_dict=True)
    assert list(blocks) == ["optics", "particles"]
    assert blocks["particles"]["rlnMicrographName"].tolist() == [
        "MotionCorr/job002/Movies/061_10028.mrc",
        "MotionCorr/job002/Movies/062_10029.mrc",
    ]
    # into another format the pick table is written (no place there for RELION's columns)
    assert main(["filter", str(source), "--threshold", "0.5", "--out", str(tmp_path / "csv"),
                 "--format", "csv"]) == 0  # fmt: skip
    assert read_picks(tmp_path / "csv/run_data.csv")["micrograph"].tolist() == [
        "061_10028",
        "062_10029",
    ]


def test_filter_of_helical_start_end_pairs_says_it_rewrites_them(tmp_path, capsys):
    # start-end pairs are read as one fiber each: no pick is a row, so the file is
    # written from the picks, with a warning that its other columns are not kept
    source = tmp_path / "helix.star"
    source.write_text(
        "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnHelicalTubeID #3\n"
        "_rlnAutopickFigureOfMerit #4\n_rlnAnglePsi #5\n"
        "10 20 1 0.9 0\n110 20 1 0.9 0\n50 50 2 0.2 0\n50 150 2 0.2 0\n"
    )
    assert main(["filter", str(source), "--threshold", "0.5", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "start-end pairs are read as one fiber each" in err
    assert "other columns and blocks are not kept" in err
    got = read_picks(tmp_path / "o/helix.star")
    assert got["tube_id"].tolist() == [1, 1]
    np.testing.assert_allclose(got[["x", "y"]], [[10, 20], [110, 20]])


def test_filter_writes_fibers_as_start_end_pairs_relion_extracts(tmp_path, capsys):
    # a trial: cryopick pick's start-end STAR of bent fibers came out of cryopick filter one
    # row per vertex, one tube id per fiber: RELION's Extract ("start-end only? Yes") pairs
    # rows 1-2, 3-4, ..., so pairs crossed from one fiber into the next
    from napari_cryopick.io.filaments import FIBER_LABEL, write_relion_helical

    bent = np.array([[100.0, 100.0], [300.0, 100.0], [300.0, 300.0], [500.0, 300.0]])
    other = np.array([[100.0, 600.0], [250.0, 700.0], [400.0, 600.0]])
    source = tmp_path / "m_fibers.star"
    write_relion_helical({"m": [bent, other]}, source, micrograph_names=False,
                         width_px=20.0, scores={"m": [0.9, 0.3]})  # fmt: skip
    for options, kept in ((["--threshold", "0.1"], 2), (["--threshold", "0.5"], 1)):
        out = tmp_path / f"o{kept}"
        assert main(["filter", str(source), *options, "--out", str(out)]) == 0
        block = starfile.read(out / "m_fibers.star")
        tubes = block["rlnHelicalTubeID"].to_numpy()
        assert len(block) % 2 == 0
        assert (tubes[0::2] == tubes[1::2]).all()  # each start-end pair one straight piece
        assert block[FIBER_LABEL].nunique() == kept
        got = read_picks(out / "m_fibers.star")
        np.testing.assert_allclose(got[got["tube_id"] == 1][["x", "y"]], bent)
        assert got["diameter"].tolist() == [20.0] * len(got)
    # binned twice: every vertex at (x - 0.5) / 2, still pairs
    out = tmp_path / "binned"
    assert main(["filter", str(source), "--binning", "2", "--out", str(out)]) == 0
    block = starfile.read(out / "m_fibers.star")
    assert (block["rlnHelicalTubeID"].to_numpy()[0::2] == block["rlnHelicalTubeID"][1::2]).all()
    got = read_picks(out / "m_fibers.star")
    np.testing.assert_allclose(got[got["tube_id"] == 1][["x", "y"]], (bent - 0.5) / 2)
    # into crYOLO's filament CBOX: boxes along each fiber, every half width
    out = tmp_path / "cbox"
    assert main(["filter", str(source), "--format", "cbox", "--out", str(out)]) == 0
    boxes = read_picks(out / "m_fibers.cbox")
    assert sorted(set(boxes["tube_id"])) == [1, 2]
    assert len(boxes) > 2 * (len(bent) + len(other))  # segments, not the vertices alone
    # into BOX or Topaz: refused, said (a re-trial's read back as particles, unsaid), and
    # the next file still filtered (a failure's message replaced the run's message state)
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(source, mixed / "a_fibers.star")
    write_picks(make_picks([50.0], [60.0], diameter=20.0), mixed / "b.star")
    for format in ("box", "topaz"):
        out = tmp_path / f"as_{format}"
        capsys.readouterr()
        code = main(["filter", str(mixed), "--format", format, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1, err
        assert "a_fibers.star: holds 2 fiber(s)" in err
        assert "cannot hold fibers" in err
        assert ".cryopick-filter-" not in err
        assert not list(out.glob("a_fibers*"))
        assert len(list(out.glob("b*"))) == 1


def test_filter_of_a_filament_cbox_keeps_both_ends_and_counts_each_pick_once(tmp_path, capsys):
    # an interop trial: a crYOLO filament CBOX (box centres 132..632) rewritten as CBOX
    # stopped at 612, a 3-box filament (132..192) lost its end box; as CSV the command
    # said "kept 22 of 11 picks" and wrote 11
    from napari_cryopick.io.filaments import read_cryolo_filaments

    rows = [f" {x - 32:.1f} 168.0 <NA> 64 64 <NA> <NA> <NA> 0.9 <NA> 0.0 0" for x in
            range(132, 633, 50)] + [f" {x - 32:.1f} 468.0 <NA> 64 64 <NA> <NA> <NA> 0.9 <NA> 0.0 1"
            for x in (132, 162, 192)]  # fmt: skip
    source = tmp_path / "long.cbox"
    source.write_text(
        "data_global\n\n_cbox_format_version 1.0\n\ndata_cryolo\n\nloop_\n"
        + "".join(f"_{label} #{i}\n" for i, label in enumerate(
            ["CoordinateX", "CoordinateY", "CoordinateZ", "Width", "Height", "Depth",
             "EstWidth", "EstHeight", "Confidence", "NumBoxes", "Angle", "filamentid"], 1))
        + "\n".join(rows) + "\n"
    )  # fmt: skip
    assert main(["filter", str(source), "--format", "cbox", "--box-size", "64",
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    long, short = read_cryolo_filaments(tmp_path / "o" / "long.cbox")
    np.testing.assert_allclose(long[[0, -1]], [[132.0, 200.0], [632.0, 200.0]])
    np.testing.assert_allclose(short[[0, -1]], [[132.0, 500.0], [192.0, 500.0]])
    assert (len(long), len(short)) == (11, 3)  # the file's own boxes
    capsys.readouterr()
    assert main(["filter", str(source), "--format", "csv", "--out", str(tmp_path / "c")]) == 0
    assert "kept 14 of 14 picks (2 of 2 fibers)" in capsys.readouterr().out
    assert len(read_picks(tmp_path / "c" / "long.csv")) == 14


CBOX_64 = """
data_global

_cbox_format_version 1.0

data_cryolo

loop_
_CoordinateX #1
_CoordinateY #2
_CoordinateZ #3
_Width #4
_Height #5
_Depth #6
_EstWidth #7
_EstHeight #8
_Confidence #9
_NumBoxes #10
_Angle #11
574.416 755.199 <NA> 64 64 <NA> 53.387 53.387 0.8 <NA> <NA>
100.5 200.25 <NA> 64 64 <NA> 50 52 0.3 <NA> <NA>
"""


def test_filter_counts_the_filament_ends_it_wrote(tmp_path, capsys):
    # a re-trial read "kept 3 of 4 picks" where 2 lines were written: a filament's start
    # and end are kept together, so one end failing drops both
    fil = tmp_path / "fil2.box"
    fil.write_text(
        "100\t100\t60\t60\t-1\n400\t100\t80\t80\t-2\n100\t300\t60\t60\t-1\n400\t300\t60\t60\t-2\n"
    )
    out = tmp_path / "o"
    assert main(["filter", str(fil), "--max-diameter", "70", "--out", str(out)]) == 0
    assert len((out / "fil2.box").read_text().splitlines()) == 2
    assert "kept 2 of 4 picks" in capsys.readouterr().out


def test_filter_keeps_the_box_size_of_box_and_cbox_files(tmp_path, capsys):
    # a trial's 64 px CBOX boxes came out as the 53.387 px particle estimate, the corner
    # moved by 5.3 px: crYOLO and EMAN2 then extract other boxes
    (tmp_path / "a").mkdir()
    cbox, box = tmp_path / "a/m.cbox", tmp_path / "a/n.box"
    cbox.write_text(CBOX_64)
    box.write_text("1169\t2057\t100\t100\n334\t100\t100\t100\n")
    out = tmp_path / "b"
    assert main(["filter", str(cbox), "--threshold", "0.5", "--out", str(out)]) == 0
    assert (out / "m.cbox").read_text() == CBOX_64.replace(CBOX_64.splitlines(True)[-1], "")
    assert main(["filter", str(box), "--max-diameter", "150", "--out", str(out)]) == 0
    assert (out / "n.box").read_text() == box.read_text()
    # into BOX: the CBOX file's 64 px box at the same corner, not the estimate
    assert main(["filter", str(cbox), "--threshold", "0.5", "--out", str(tmp_path / "c"),
                 "--format", "box"]) == 0  # fmt: skip
    assert (tmp_path / "c/m.box").read_text().split() == ["574", "755", "64", "64"]
    # --box-size is the user's box
    assert main(["filter", str(cbox), "--threshold", "0.5", "--out", str(tmp_path / "d"),
                 "--box-size", "80"]) == 0  # fmt: skip
    assert read_picks(tmp_path / "d/m.cbox")["x"].tolist() == [606.416]
    assert (tmp_path / "d/m.cbox").read_text().splitlines()[-1].split()[3] == "80"
    # picks without a box (STAR) get one whole-pixel box a file, as cryopick pick writes
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    star = tmp_path / "a/p.star"
    write_picks(make_picks([100.0, 300.0], [100.0, 300.0], diameter=[53.4, 54.2],
                           score=[0.9, 0.8]), star)  # fmt: skip
    assert main(["filter", str(star), "--threshold", "0.5", "--out", str(tmp_path / "e"),
                 "--format", "box"]) == 0  # fmt: skip
    sizes = [line.split()[2] for line in (tmp_path / "e/p.box").read_text().splitlines()]
    assert sizes == ["54", "54"]


def test_pick_into_an_output_folder_it_cannot_create_says_it_is_the_output(
    tmp_path, tiny_model, monkeypatch, capsys
):
    # a formats trial: "--out /proc/nope" said "/proc/nope: no such file or folder",
    # read as an input missing, after the model had loaded
    import errno
    from pathlib import Path

    import imageio.v3 as iio

    iio.imwrite(tmp_path / "m.png", np.zeros((64, 64), np.uint8))
    real = Path.mkdir

    def refuse(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "nope")):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    out = tmp_path / "nope" / "out"
    args = ["pick", str(tmp_path / "m.png"), "--model", str(tiny_model), "--diameter", "20"]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cryopick pick: error: --out {out}: cannot create this output folder")


def test_filter_into_a_folder_it_cannot_write_fails_once(tmp_path, monkeypatch, capsys):
    # a trial: one error a file into a read-only folder, then "kept 0 of 0 picks"
    import errno
    import tempfile

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    for name in ("a/m0.star", "b/m1.star"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_picks(make_picks([10.0], [20.0], score=0.9), tmp_path / name)
    inputs = [str(tmp_path / "a"), str(tmp_path / "b"), "--threshold", "0.5"]
    (tmp_path / "file").write_text("")
    assert main(["filter", *inputs, "--out", str(tmp_path / "file/out")]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"cryopick filter: error: --out {tmp_path / 'file/out'}: {tmp_path / 'file'} is a "
        "file, not a folder"
    )
    assert captured.out == ""
    # a read-only folder (chmod does not stop root, who runs some test machines)
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(read_only)):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["filter", *inputs, "--out", str(read_only)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"cryopick filter: error: --out {read_only}: cannot write there: permission denied"
    )
    assert captured.out == ""


def test_filter_names_a_file_it_skips_once(tmp_path, capsys):
    # a trial: "skipped mixp/314_10028.star: mixp/314_10028.star: no block ..."
    bad = tmp_path / "picks" / "bad.star"
    bad.parent.mkdir()
    bad.write_text("data_\nloop_\n_rlnFoo #1\n1\n")
    assert (
        main(["filter", str(bad.parent), "--threshold", "0.3", "--out", str(tmp_path / "o")]) != 0
    )
    out, err = capsys.readouterr()
    assert f"cryopick filter: failed {bad}: no block with rlnCoordinateX" in err
    # nothing written: not "kept 0 of 0 picks in 0 of 1 files (1 failed) -> o"
    assert out == "filtered nothing: 1 file failed (said above)\n"
    assert not (tmp_path / "o").exists()


def test_pick_leaves_out_picks_at_the_negatives_marked_in_napari(tmp_path, tiny_model, caplog):
    """A spot the user marked as junk in napari stays junk when the micrograph is picked
    from the command line too (the Pick widget already left those picks out)."""
    from napari_cryopick.core.pick_table import make_picks, nearest_distances
    from napari_cryopick.io.annotations import Annotations, find_sidecar, save_annotations

    (mic,) = write_micrographs(tmp_path / "mics", ["m0.mrc"])
    common = [str(mic), "--model", str(tiny_model), "--diameter", "20"]
    assert main(["pick", *common, "--out", str(tmp_path / "before")]) == 0
    before = read_picks(tmp_path / "before/m0.star")
    assert len(before) > 5
    junk = before.nlargest(3, "score")
    negatives = make_picks(junk["x"], junk["y"], kind="negative")
    clicked = make_picks([5.0], [5.0], kind="particle")
    save_annotations(Annotations(mic, pd.concat([negatives, clicked], ignore_index=True)))
    assert find_sidecar(mic) is not None
    caplog.clear()
    assert main(["pick", *common, "--out", str(tmp_path / "after")]) == 0
    assert "m0: 3 picks at the negatives marked in napari left out" in caplog.text
    after = read_picks(tmp_path / "after/m0.star")
    assert (nearest_distances(after, junk) >= 10).all()
    kept = before[nearest_distances(before, junk) >= 10]
    np.testing.assert_allclose(after[["x", "y", "score"]], kept[["x", "y", "score"]])
    # an unreadable annotation file is said, and the picks are written as they are
    find_sidecar(mic).write_text("{not json")
    assert main(["pick", *common, "--out", str(tmp_path / "broken")]) == 0
    assert "the negatives marked there are not applied" in caplog.text
    assert len(read_picks(tmp_path / "broken/m0.star")) == len(before)


@pytest.mark.parametrize(
    "route", [[], ["--skip"], ["--shard", "1/1"], ["--dask", "local:1"]], ids=str
)
def test_a_failed_micrograph_is_reported_when_it_fails(tmp_path, tiny_model, caplog, capsys, route):
    # a trial: a monitor session's failures reached the terminal only when it ended,
    # hours later, too late to fix the cause while it ran; they were "skipped m2.mrc"
    # (the word --skip uses for micrographs already done) and the end line never said
    # how many failed
    import logging

    if "--dask" in route:
        pytest.importorskip("distributed")
    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc", "m1.mrc"])
    (mics / "m2.mrc").write_bytes((mics / "m0.mrc").read_bytes()[:900])  # truncated
    caplog.set_level(logging.WARNING)
    out = tmp_path / "out"
    # (a plain run: the same runner and report as --monitor, without its idle wait)
    assert main(["pick", str(mics), "--model", str(tiny_model), "--diameter", "20",
                 "--out", str(out), *route]) == 1  # fmt: skip
    (said,) = [r.getMessage() for r in caplog.records if "the run goes on" in r.getMessage()]
    assert said.startswith(f"failed {mics / 'm2.mrc'}: not a valid MRC file")
    captured = capsys.readouterr()
    assert f"cryopick pick: failed {mics / 'm2.mrc'}: not a valid MRC file" in captured.err
    assert "skipped" not in captured.err
    assert "2 of 3 micrographs, 1 failed (named above) -> " in captured.out
    if route:  # a batch run's summary says why, without the path its row already has
        rows = (out / "summary.csv").read_text().splitlines()
        assert rows[0] == "micrograph,input,status,picks,mean_score,seconds,reason"
        (failed,) = [row for row in rows if ",failed," in row]
        assert failed.startswith(f"m2,{mics / 'm2.mrc'},failed,,,")
        assert failed.split(",", 6)[6].startswith("not a valid MRC file (truncated or corrupt)")
        assert all(row.endswith(",") for row in rows[1:] if ",done," in row)


def test_a_relion_job_counts_and_names_its_failed_micrographs(relion_project, tiny_model, capsys):
    broken = relion_project / LISTED[1]
    broken.write_bytes(broken.read_bytes()[:900])  # truncated
    assert _relion(tiny_model) == 1
    captured = capsys.readouterr()
    assert f"cryopick relion: failed {broken}: not a valid MRC file" in captured.err
    assert "skipped" not in captured.err
    assert f"(0 done before, 1 failed (named above)); {len(LISTED) - 1} of {len(LISTED)}" in (
        captured.out
    )
    rows = (relion_project / "External/job004/summary.csv").read_text().splitlines()
    (failed,) = [row for row in rows if ",failed," in row]
    assert ",not a valid MRC file (truncated or corrupt)" in failed


def test_an_unreadable_micrograph_picked_alone_is_explained_once(tmp_path, caplog, capsys):
    # a trial: the reason came twice (the zero-shot search's warning, then "skipped")
    import logging

    bad = tmp_path / "bad.mrc"
    write_micrographs(tmp_path, ["good.mrc"])
    bad.write_bytes((tmp_path / "good.mrc").read_bytes()[:2000])
    caplog.set_level(logging.INFO)
    assert main(["pick", str(bad), "--diameter", "20", "--out", str(tmp_path / "out")]) == 2
    said = "\n".join(r.getMessage() for r in caplog.records) + capsys.readouterr().err
    assert said.count("not a valid MRC file") == 1, said


def test_filter_for_a_kind_the_files_do_not_hold_says_so(tmp_path, capsys):
    # a trial: --kind vesicle on particle files: "kept 0 of 4077 picks", the reason unsaid
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    source = write_picks(make_picks([10, 50], [20, 60], diameter=30.0, micrograph="m"),
                         tmp_path / "m.star", "star")  # fmt: skip
    assert main(["filter", str(source), "--kind", "vesicle", "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "kept 0 of 2 picks" in captured.out
    assert "the files hold no vesicle picks (kinds read: particle)" in captured.err
    assert main(["filter", str(source), "--kind", "particle", "--out", str(tmp_path / "p")]) == 0
    assert "hold no" not in capsys.readouterr().err


def test_filter_of_vesicles_into_a_format_without_kinds_says_so_once(tmp_path, capsys):
    # a trial: filter to CBOX lost the vesicle kind unsaid (pick and Export warn); the
    # file trained back as 153 px particles
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    (tmp_path / "in").mkdir()
    for name in ("m0", "m1"):
        write_picks(make_picks([100, 300], [120, 320], diameter=150.0, micrograph=name,
                               kind="vesicle"), tmp_path / "in" / f"{name}.star", "star")  # fmt: skip
    args = ["filter", str(tmp_path / "in"), "--format", "cbox", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("cbox files cannot store that picks are vesicles") == 1, err
    assert main([*args[:3], "star", "--out", str(tmp_path / "p")]) == 0
    assert "cannot store" not in capsys.readouterr().err


def test_relion_job_that_goes_well_writes_nothing_to_standard_error(relion_project, tiny_model):
    """A trial: RELION shows a job's standard error (run.err) as its errors, and every
    progress bar and information line of a job that went well was there."""
    import subprocess

    import mrcfile

    for name in LISTED:  # headers that agree with the optics table: nothing to warn of
        with mrcfile.open(relion_project / name, mode="r+") as opened:
            opened.voxel_size = 1.0
    command = [
        sys.executable,
        "-m",
        "napari_cryopick.cli",
        "relion",
        "--o",
        "External/job004/",
        "--in_mics",
        "CtfFind/job003/micrographs_ctf.star",
        "--j",
        "1",
        "--model",
        str(tiny_model),
        "--diameter-A",
        "24",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "picking: 100%" in done.stdout  # the progress bar, on standard output
    assert "picked " in done.stdout
    assert (relion_project / "External/job004/RELION_JOB_EXIT_SUCCESS").is_file()


def test_relion_job_information_goes_to_standard_output_and_warnings_stay(capsys):
    import logging

    from napari_cryopick.cli._relion import info_on_stdout

    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.handlers = [handler]
    level, root.level = root.level, logging.INFO
    try:
        with info_on_stdout():
            logging.getLogger("napari_cryopick.test").info("zero-shot: scale 1.0")
            logging.getLogger("napari_cryopick.test").warning("few picks")
        logging.getLogger("napari_cryopick.test").info("after the job")
    finally:
        root.handlers = saved
        root.level = level
    captured = capsys.readouterr()
    assert captured.out == "INFO: zero-shot: scale 1.0\n"
    assert captured.err == "WARNING: few picks\nINFO: after the job\n"


def test_pick_recursive_mirrors_the_folders_below_and_resumes_with_skip(
    tmp_path, tiny_model, capsys
):
    # a trial's prod/ held micrographs only in sub-folders, some two levels down: the
    # advice named apo/ and bgal/ and lost ribo/; --recursive takes them all in one run
    prod = tmp_path / "prod"
    write_micrographs(prod, ["ribo/GridA/m0.mrc", "ribo/GridC/Session2/m0.mrc"])
    out = tmp_path / "out"
    common = ["--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    assert main(["pick", str(prod), *common]) == 2
    assert "give them, or --recursive to take every folder below" in capsys.readouterr().err
    assert main(["pick", str(prod), "--recursive", "--skip", *common]) == 0
    # mirrored below prod/, as --monitor prod would (not below ribo/, their common folder)
    assert sorted(tree_bytes(out)) == ["ribo/GridA/m0.star", "ribo/GridC/Session2/m0.star"]
    assert "2 of 2 micrographs" in capsys.readouterr().out
    # a folder arriving later: the earlier files stay where they are, --skip picks it alone
    write_micrographs(prod, ["apo/m0.mrc"])
    assert main(["pick", str(prod), "--recursive", "--skip", *common]) == 0
    assert "1 of 3 micrographs, 2 already done (--skip)" in capsys.readouterr().out
    assert sorted(tree_bytes(out)) == [
        "apo/m0.star",
        "ribo/GridA/m0.star",
        "ribo/GridC/Session2/m0.star",
    ]
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert len(rows) == 3
    assert all(",done," in row for row in rows)
    names = ["apo/m0", "ribo/GridA/m0", "ribo/GridC/Session2/m0"]  # output paths, hashed
    index = 1 if any(in_shard(name, (1, 2)) for name in names) else 2
    mine = sum(in_shard(name, (index, 2)) for name in names)
    shard = ["--shard", f"{index}/2"]
    assert main(["pick", str(prod), "--recursive", *shard, "--skip", *common]) == 0
    assert f"0 of {mine} micrographs, {mine} already done (--skip)" in capsys.readouterr().out
    assert main(["pick", "--monitor", str(prod), "--recursive", *common]) == 2
    assert "--monitor searches the folders below" in capsys.readouterr().err


def test_a_full_disk_stops_the_run_naming_the_manifest_and_how_to_resume(
    tmp_path, tiny_model, monkeypatch, capsys
):
    """A batch trial on a full tmpfs: "cryopick pick: error: no space left on device",
    naming no file and saying nothing of resuming (the manifest's close, flushing again,
    replaced the error that named it)."""
    import errno

    from napari_cryopick.workflows import batch

    mics = tmp_path / "mics"
    write_micrographs(mics, ["m0.mrc", "m1.mrc", "m2.mrc"])
    out = tmp_path / "picks"
    real_add = batch._Manifest.add
    calls = {"n": 0}

    def add(self, record, sync=True):
        calls["n"] += 1
        if calls["n"] > 3:  # (started, done) of m0, then the disk is full
            self._handle.write("x" * 100_000)  # left in the buffer: close flushes again
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_add(self, record, sync)

    monkeypatch.setattr(batch._Manifest, "add", add)
    real_close = batch._Manifest.close

    def close(self):
        self._handle.flush = lambda: (_ for _ in ()).throw(
            OSError(errno.ENOSPC, "No space left on device")
        )
        real_close(self)

    monkeypatch.setattr(batch._Manifest, "close", close)
    # the executor is closed all the same (a facility trial's Dask cluster, left to the
    # interpreter's exit, logged 14 INFO lines of its teardown below the error)
    closed = []
    real_executor = batch._executor

    def executor(*args, **kwargs):
        made = real_executor(*args, **kwargs)
        real_close_executor = made.close
        made.close = lambda: (closed.append(True), real_close_executor())
        return made

    monkeypatch.setattr(batch, "_executor", executor)
    args = ["pick", str(mics), "--model", str(tiny_model), "--diameter", "20", "--out", str(out)]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cryopick_manifest.jsonl: no space left on device" in err
    assert "run again with --skip" in err
    assert "Traceback" not in err
    assert closed == [True]


def test_filter_of_a_relion_job_folder_says_nothing_of_the_files_its_index_lists(tmp_path, capsys):
    """A re-trial: 'filter AutoPick/job006' said "1 folder below holds 2 pick files ...,
    not taken", then filtered exactly those two through the job's autopick.star."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    job = tmp_path / "AutoPick" / "job006"
    movies = job / "MotionCorr" / "job002" / "Movies"
    movies.mkdir(parents=True)
    rows = []
    for name in ("b_0000", "b_0001"):
        table = make_picks([10.0, 30.0], [20.0, 40.0], score=[0.9, 0.2], micrograph="")
        write_picks(table, movies / f"{name}_autopick.star")
        rows.append(f"MotionCorr/job002/Movies/{name}.mrc {movies / f'{name}_autopick.star'}")
    (job / "autopick.star").write_text(
        "\ndata_coordinate_files\n\nloop_\n_rlnMicrographName #1\n"
        "_rlnMicrographCoordinates #2\n" + "\n".join(rows) + "\n"
    )
    capsys.readouterr()
    out = tmp_path / "filtered"
    assert main(["filter", str(job), "--threshold", "0.5", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2 of 2 coordinate files" in captured.out
    assert "not taken" not in captured.err


def test_outputs_are_refused_in_read_only_folders_even_as_root(tmp_path, capsys):
    """A scale trial run as root (containers, facility pipelines): cryopick pick, filter
    and train wrote into r-x folders (and made sub-folders in them), which the Pick
    widget refuses. chmod does not stop root: the folder's mode does, here."""
    import stat

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    write_picks(make_picks([10.0], [20.0], score=0.9), tmp_path / "m0.star")
    read_only = tmp_path / "raw"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        for out in (read_only, read_only / "sub"):
            code = main(
                ["filter", str(tmp_path / "m0.star"), "--threshold", "0.5", "--out", str(out)]
            )
            err = capsys.readouterr().err
            assert code == 2, err
            assert f"--out {out}: {read_only} is a read-only folder (dr-xr-xr-x)" in err
            assert list(read_only.iterdir()) == []
        from napari_cryopick.workflows.train import check_writable

        with pytest.raises(ValueError, match="is a read-only folder"):
            check_writable(read_only / "models" / "m.pt")
        # a RELION job folder (no exit marker either), a simulation, the demo (a re-trial)
        for words in (
            ["relion", "--o", str(read_only), "--in_mics", str(tmp_path / "x.star")],
            ["relion", "--o", str(read_only / "job001"), "--in_mics", str(tmp_path / "x.star")],
            ["simulate", str(read_only / "sim")],
            ["demo", "--no-viewer", "--out", str(read_only / "demo")],
        ):
            assert main(words) == 2, words
            assert "is a read-only folder" in capsys.readouterr().err, words
        assert list(read_only.iterdir()) == []
        # a file option names the file given, not only its folder (a docs audit's --json
        # raw/e.json was told "--json raw: ...")
        pick_file = str(tmp_path / "m0.star")
        report = read_only / "e.json"
        words = ["evaluate", "--pred", pick_file, "--truth", pick_file, "--json", str(report)]
        assert main(words) == 2
        assert f"--json {report}: {read_only} is a read-only folder" in capsys.readouterr().err
        # also when the file is there already (a review: refused only while it was not)
        read_only.chmod(stat.S_IRWXU)
        report.write_text("{}")
        read_only.chmod(0o555)
        assert main(words) == 2
        assert f"--json {report}: {read_only} is a read-only folder" in capsys.readouterr().err
        assert report.read_text() == "{}"
    finally:
        read_only.chmod(stat.S_IRWXU)


def test_filter_keeps_hand_added_picks_as_the_pick_widget_does(tmp_path, capsys):
    """A review: picks without a score among a picker's (added by hand in napari, then
    exported) passed the Pick widget's threshold and cryosparc export's, but cryopick
    filter --threshold dropped them: the user's corrections lost."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks

    table = make_picks([10.0, 50.0, 90.0], [20.0, 60.0, 100.0], diameter=20.0,
                       score=[0.9, 0.1, np.nan])  # fmt: skip
    write_picks(table, tmp_path / "m.star")
    assert main(["filter", str(tmp_path / "m.star"), "--threshold", "0.3",
                 "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    kept = read_picks(tmp_path / "out" / "m.star")
    assert kept["x"].tolist() == [10.0, 90.0]
    # a file of no scores at all (hand picks alone) is still refused a threshold
    write_picks(table.iloc[2:], tmp_path / "hand.star")
    assert main(["filter", str(tmp_path / "hand.star"), "--threshold", "0.3",
                 "--out", str(tmp_path / "out2")]) == 2  # fmt: skip
    assert "no scores to threshold" in capsys.readouterr().err
    # BOX files, a picker's too, keep no scores: said so (a new user's pick --format box
    # output was asked "was it written by a picker?")
    write_picks(table, tmp_path / "m.box")
    assert main(["filter", str(tmp_path / "m.box"), "--threshold", "0.3",
                 "--out", str(tmp_path / "out3")]) == 2  # fmt: skip
    assert "(BOX files and hand-made pick files hold none; a picker's STAR" in (
        capsys.readouterr().err
    )


def test_pick_draws_the_first_micrographs_with_their_picks(tmp_path, tiny_model, capsys, caplog):
    """A new-user trial had no look at a command-line run's picks without napari:
    ``--pictures N`` draws the first N micrographs picked, below ``--out/pictures`` as the
    pick files lie below ``--out`` (two micrographs of one name in two folders)."""
    from matplotlib.image import imread

    write_micrographs(tmp_path / "mics", ["a/x.mrc", "b/x.mrc", "b/y.mrc"], shape=(128, 160))
    out = tmp_path / "out"
    args = ["pick", str(tmp_path / "mics" / "a"), str(tmp_path / "mics" / "b")]
    args += ["--model", str(tiny_model), "--diameter", "20", "--threshold", str(THRESHOLD)]
    assert main([*args, "--out", str(out), "--pictures", "2"]) == 0
    pictures = sorted(p.relative_to(out / "pictures") for p in (out / "pictures").rglob("*.png"))
    assert len(pictures) == 2
    for picture in pictures:
        assert (out / picture.with_suffix(".star")).is_file()  # the pick file's place
        image = imread(out / "pictures" / picture)
        assert min(image.shape[:2]) > 100
        picks = read_picks(out / picture.with_suffix(".star"))
        assert len(picks) > 0
        green = (image[..., 1] > 0.7) & (image[..., 0] < 0.3) & (image[..., 2] < 0.6)
        assert green.sum() > 20 * len(picks)  # a circle a pick
    assert len({p.name for p in pictures}) == 1  # x.png twice, in a/ and b/
    assert main([*args, "--out", str(tmp_path / "none"), "--pictures", "-1"]) == 2
    assert "--pictures must be >= 0, got -1" in capsys.readouterr().err
    # a run again replaces its own pictures, never a user's file of that name (a
    # hostile-input trial's "mine" became a PNG, unsaid)
    from matplotlib.figure import Figure
    from PIL import Image

    from napari_cryopick.workflows.pictures import PICTURE_SOFTWARE

    drawn = out / "pictures" / pictures[0]
    own = out / "pictures" / pictures[1]
    Figure().savefig(drawn, format="png")  # as earlier versions drew it: matplotlib's chunk
    own.write_text("mine")
    assert main([*args, "--out", str(out), "--pictures", "2"]) == 0
    assert own.read_text() == "mine"
    with Image.open(drawn) as image:
        assert image.info["Software"] == PICTURE_SOFTWARE  # replaced
    assert f"{own} exists and is not a picture cryopick drew" in caplog.text
    # the name left to its user does not use up one of the two pictures: y is drawn
    assert len(list((out / "pictures").rglob("*.png"))) == 3


def test_zero_shot_names_the_micrographs_the_general_model_barely_sees(
    tmp_path, real_data_dir, capsys
):
    """A CLI trial picked a folder of ribosome and apoferritin micrographs with the bundled
    model: the search ran mostly on ribosome ones, and the apoferritin ones got 14-28
    picks of about 160, unsaid (picked alone, the run is said to be barely seen)."""
    mics = tmp_path / "mix"
    mics.mkdir()
    ribosome = sorted((real_data_dir / "empiar10028_ribosome" / "micrographs").iterdir())[:2]
    apoferritin = sorted((real_data_dir / "empiar10146_apoferritin" / "micrographs").iterdir())
    for path in [*ribosome, apoferritin[0]]:
        (mics / path.name).symlink_to(path)
    out = tmp_path / "out"
    assert main(["pick", str(mics), "--diameter", "60", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "the general model barely sees the particles of 1 of 3 picked micrograph(s)" in err
    assert (
        f"(confidence below 0.19, as on proteins it does not know): {apoferritin[0].stem}." in err
    )
    assert len(read_picks(out / f"{apoferritin[0].stem}.star")) > 0  # picked all the same


def test_fiber_options_are_checked_at_once_and_said_to_do_nothing_without_fibers(
    tmp_path, tiny_model, caplog, capsys
):
    """A fibers trial: --max-angle 200 failed on every micrograph after picking it, and
    fiber options on a model of no fibers (or a helical layout for CBOX files) went
    unsaid."""
    import logging

    write_micrographs(tmp_path / "mics", ["m0.mrc"])
    args = ["pick", str(tmp_path / "mics"), "--model", str(tiny_model), "--diameter", "20"]
    assert main([*args, "--max-angle", "200", "--out", str(tmp_path / "a")]) == 2
    assert "--max-angle must be in (0, 180], got 200" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert main([*args, "--max-angle", "45", "--out", str(tmp_path / "b")]) == 0
    assert "the fiber options given (angle limit) do nothing: the model picks no fibers" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert "fiber options" not in caplog.text


def test_relion_coords_of_a_folder_picked_at_two_settings_says_so(
    relion_project, tiny_model, capsys
):
    """A pipeline trial: a folder picked at two thresholds (a run stopped partway over
    another's files) went into a job as one set; now said, as export and filter say it."""
    common = ["--model", str(tiny_model), "--diameter", "20", "--out", "picked"]
    assert main(["pick", "MotionCorr/job002/Movies", "--recursive", *common]) == 0
    # the two mic_001 again (picked/GridA/, picked/GridB/), mic_002 not
    assert main(["pick", *LISTED[:2], *common, "--threshold", "0.6"]) == 0
    capsys.readouterr()
    args = ["relion", "--o", "External/job012/", "--in_mics",
            "CtfFind/job003/micrographs_ctf.star", "--coords", "picked"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "cryopick relion: warning: the files were picked with different settings" in err
    assert "threshold 0.6: 2 file(s)" in err


def test_training_on_a_relion_list_says_how_relion_picks_with_the_model(
    relion_project, tiny_model, capsys
):
    """A RELION trial trained from its ManualPick clicks and the CtfFind list, and was told
    only the cryopick pick command, whose flat files Extract does not read as a job's."""
    assert _relion(tiny_model) == 0
    capsys.readouterr()
    train = ["--picks", "External/job004/Movies/GridB", "--diameter", "12", "--steps", "2",
             "--batch-size", "1", "--crop-size", "32", "--out", "m.pt"]  # fmt: skip
    listed = relion_project / "CtfFind/job003/gridB.star"  # (two mic_001 in the whole list)
    listed.write_text(MICROGRAPHS_CTF.replace(f"{LISTED[0]} ", "# "))
    assert main(["train", "--micrographs", "CtfFind/job003/gridB.star", *train]) == 0
    out = capsys.readouterr().out
    assert "next: " in out
    model = (relion_project / "m.pt").resolve()
    assert (
        "in RELION: an External job running 'cryopick relion' on "
        f"CtfFind/job003/gridB.star with the Params label 'model', value {model}"
    ) in " ".join(out.split()), out
    assert main(["train", "--micrographs", "MotionCorr/job002/Movies/GridB", *train]) == 0
    assert "in RELION" not in capsys.readouterr().out  # a folder: no RELION list


def test_a_relion_job_interrupted_lists_what_it_finished_for_extract(
    relion_project, tiny_model, monkeypatch, capsys
):
    """A RELION trial: Ctrl-C left no autopick.star and said nothing of what was done,
    where RELION's Abort listed the micrographs finished."""
    from napari_cryopick.workflows import batch

    assert _relion(tiny_model) == 0
    job = relion_project / "External/job004"
    (job / "autopick.star").unlink()
    # a file corrected by hand stays listed too (a review: the interrupted path left it out)
    corrected = job / "Movies/GridA/mic_001_autopick.star"
    corrected.write_text(corrected.read_text().rstrip("\n").rsplit("\n", 1)[0] + "\n")
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, as the batch runner

    monkeypatch.setattr(batch, "run_batch", interrupted)
    assert _relion(tiny_model) == 130
    assert "interrupted: 3 of 3 micrographs in External/job004/autopick.star" in (
        capsys.readouterr().out
    )
    assert len(starfile.read(job / "autopick.star")) == 3
    assert (job / "RELION_JOB_EXIT_ABORTED").is_file()
    # SIGTERM (a cluster's cancel): the same, with the exit status of a terminated command
    from napari_cryopick.cli._errors import Terminated, run_main

    def terminated(*args, **kwargs):
        raise Terminated
        yield

    monkeypatch.setattr(batch, "run_batch", terminated)
    (job / "autopick.star").unlink()
    argv = ["relion", "--o", "External/job004/", "--in_mics", "CtfFind/job003/micrographs_ctf.star",
            "--j", "1", "--model", str(tiny_model), "--diameter-A", "24",
            "--threshold", str(THRESHOLD)]  # fmt: skip
    assert run_main(main, argv) == 143
    assert "cryopick: terminated" in capsys.readouterr().err
    assert len(starfile.read(job / "autopick.star")) == 3
    assert (job / "RELION_JOB_EXIT_ABORTED").is_file()
