"""workflows.inputs: pick files matched to the micrographs given, and what is left out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.pickfiles import write_picks
from napari_cryopick.workflows.inputs import read_training_picks


def test_picks_of_micrographs_not_given_are_counted_and_named(tmp_path, caplog):
    """A STAR file of four micrographs and per-micrograph files of two more, training on two."""
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    picks = [make_picks([10.0 * (i + 1)] * (i + 1), [20.0] * (i + 1), micrograph=f"m{i}")
             for i in range(4)]  # fmt: skip
    star = write_picks(pd.concat(picks, ignore_index=True), tmp_path / "all.star")
    folder = tmp_path / "boxes"
    folder.mkdir()
    for name in ("other1", "other2"):
        write_picks(make_picks([30.0], [30.0], diameter=20.0), folder / f"{name}_autopick.star")
    write_picks(make_picks([5.0, 6.0], [5.0, 6.0]), folder / "m0_manualpick.star")
    paths = [(star, False), *((p, True) for p in sorted(folder.glob("*.star")))]
    table = read_training_picks(paths, {"m0", "m1"})
    # m0_manualpick.star is not taken for m0, whose picks all.star holds under that
    # very name (the rule of cryopick evaluate: mic_1_b next to mic_1 stays mic_1_b)
    assert table.groupby("micrograph").size().to_dict() == {"m0": 1, "m1": 2}
    lines = [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]
    # m0_manualpick (2) is a file of m0, whose picks all.star gives: said apart, as a
    # warning (a trial's read "not among the micrographs given", which m0 is)
    covered = next(r for r in caplog.records if "named after given micrographs" in r.getMessage())
    assert covered.levelno == logging.WARNING
    assert "2 pick(s) of file(s) named after given micrographs (m0_manualpick)" in lines[0]
    # m2 (3 picks), m3 (4), other1_autopick (1), other2_autopick (1)
    line = lines[1]
    assert "9 pick(s) of 4 micrograph(s)" in line
    assert "m2, m3" in line
    assert "m0_manualpick" not in line
    assert "other1_autopick" in line
    assert "other1_autopick.star" in line
    assert "2 file(s)" in line


def test_a_pick_file_named_a_character_from_a_micrograph_left_without_picks_is_warned(
    tmp_path, caplog
):
    """A trial's May08_03_15_02.star beside micrograph May08_03.15.02: 40 clicks lost to
    an INFO line. Named with the micrograph meant, as a warning; files of micrographs not
    given whose names are as close to a micrograph that has picks stay INFO."""
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    folder = tmp_path / "clicks"
    folder.mkdir()
    write_picks(make_picks([10.0, 20.0], [20.0, 30.0]), folder / "May08_03.05.02.star")
    write_picks(make_picks([10.0, 20.0, 30.0], [20.0] * 3), folder / "May08_03_15_02.star")
    # May08_03_05_02: May08_03.05.02's name misspelt, but that micrograph has its picks
    write_picks(make_picks([10.0], [20.0]), folder / "May08_03_05_02.star")
    # a STAR file of many other micrographs: the misspelt one is still shown, first
    others = [make_picks([5.0], [5.0], micrograph=f"A_{i:03d}") for i in range(300)]
    write_picks(pd.concat(others, ignore_index=True), folder / "all.star")
    paths = [(p, True) for p in sorted(folder.glob("*.star"))]
    read_training_picks(paths, {"May08_03.05.02", "May08_03.15.02"})
    (record,) = [r for r in caplog.records if "not used" in r.getMessage()]
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "304 pick(s) of 302 micrograph(s)" in text
    assert "given: May08_03_15_02 (did you mean May08_03.15.02?), A_000" in text
    assert "May08_03_05_02 (did you mean" not in text
    caplog.clear()
    (folder / "May08_03_15_02.star").unlink()
    (folder / "all.star").unlink()
    read_training_picks(
        [(p, True) for p in sorted(folder.glob("*.star"))], {"May08_03.05.02", "May08_03.15.02"}
    )
    (record,) = [r for r in caplog.records if "not used" in r.getMessage()]
    assert record.levelno == logging.INFO
    # separators are not dropped: mic_11_0 is not mic_1_10 misspelt
    caplog.clear()
    write_picks(make_picks([10.0], [20.0]), folder / "mic_11_0.star")
    read_training_picks([(folder / "mic_11_0.star", True), (folder / "May08_03.05.02.star", True)],
                        {"May08_03.05.02", "mic_1_10"})  # fmt: skip
    (record,) = [r for r in caplog.records if "not used" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert "did you mean" not in record.getMessage()


def test_training_refuses_one_micrograph_name_from_two_folders(tmp_path):
    """GridA/FoilHole_1 and GridB/FoilHole_1 were merged into one micrograph (a review)."""
    import pytest

    from napari_cryopick.io.formats import PickFileError

    files = []
    for folder in ("GridA", "GridB"):
        (tmp_path / folder).mkdir()
        files.append(write_picks(make_picks([10.0], [10.0]), tmp_path / folder / "FoilHole_1.star"))
    with pytest.raises(PickFileError, match="micrograph names must be unique"):
        read_training_picks([(f, True) for f in files], {"FoilHole_1"})
    # mic_1_b.star next to mic_1.star, training on mic_1: mic_1's own picks only
    write_picks(make_picks([1.0, 2.0], [1.0, 2.0]), tmp_path / "mic_1.star")
    write_picks(make_picks([3.0], [3.0]), tmp_path / "mic_1_b.star")
    both = [(tmp_path / "mic_1.star", True), (tmp_path / "mic_1_b.star", True)]
    table = read_training_picks(both, {"mic_1"})
    assert table.groupby("micrograph").size().to_dict() == {"mic_1": 2}


def test_default_data_set_name_is_the_folder_given_not_the_link_target(tmp_path):
    # micrographs linked into newprotein/micrographs from another data set's folder trained
    # (and replaced) that other data set's head: the name came from the link's target
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    raw = tmp_path / "empiar10028_ribosome" / "micrographs"
    raw.mkdir(parents=True)
    linked = tmp_path / "newprotein" / "micrographs"
    linked.mkdir(parents=True)
    picks = tmp_path / "newprotein" / "picks"
    picks.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        write_mrc(raw / f"m{index}.mrc", rng.normal(size=(64, 64)).astype(np.float32))
        (linked / f"m{index}.mrc").symlink_to(raw / f"m{index}.mrc")
        write_picks(make_picks([20.0, 40.0], [20.0, 40.0]), picks / f"m{index}.star")
    sets, _ = training_sets_from_files([str(linked)], [str(picks)], diameter_px=16.0)
    assert [s.name for s in sets] == ["newprotein"]


def test_train_reads_pick_files_that_count_y_from_the_bottom(tmp_path):
    # `cryopick pick --flip-y` wrote files `cryopick train` could not read back right
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics = tmp_path / "mics"
    mics.mkdir()
    write_mrc(mics / "m0.mrc", np.random.default_rng(0).normal(size=(100, 80)).astype(np.float32))
    write_picks(make_picks([30.0], [10.0]), tmp_path / "m0.star")
    plain, _ = training_sets_from_files([str(mics)], [str(tmp_path / "m0.star")], diameter_px=8.0)
    flipped, _ = training_sets_from_files(
        [str(mics)], [str(tmp_path / "m0.star")], diameter_px=8.0, flip_y=True
    )
    assert plain[0].picks[0]["y"].tolist() == [10.0]
    assert flipped[0].picks[0]["y"].tolist() == [89.0]  # 100 rows: row 10 from the bottom
    assert flipped[0].picks[0]["x"].tolist() == [30.0]
    # the command line has it
    from napari_cryopick.cli import build_parser

    args = build_parser().parse_args(
        ["train", "--micrographs", str(mics), "--picks", str(tmp_path), "--out", "m.pt", "--flip-y"]
    )
    assert args.flip_y


def test_training_matches_picks_to_dose_weighted_micrographs_and_names_them_when_not(tmp_path):
    import numpy as np
    import pytest

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics = tmp_path / "mics"
    mics.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        write_mrc(mics / f"sim_000{index}_DW.mrc", rng.normal(size=(64, 64)).astype(np.float32))
        write_picks(make_picks([20.0, 40.0], [20.0, 40.0]), tmp_path / f"sim_000{index}.star")
    picks = [str(tmp_path / f"sim_000{index}.star") for index in range(2)]
    sets, _ = training_sets_from_files([str(mics)], picks, diameter_px=16.0)
    assert sets[0].names == ["sim_0000_DW", "sim_0001_DW"]
    assert [len(t) for t in sets[0].picks] == [2, 2]
    # one STAR file of both micrographs, its rows naming them without _DW: matched as its
    # files would be (a CLI trial's EPU rows FoilHole_..._120000 for the micrographs
    # FoilHole_..._120000_fractions were refused, its CBOX files of those names matched)
    both = pd.concat(
        [make_picks([20.0, 40.0], [20.0, 40.0], micrograph=f"sim_000{i}") for i in range(2)]
    )
    write_picks(both, tmp_path / "particles.star")
    star = [str(tmp_path / "particles.star")]
    sets, _ = training_sets_from_files([str(mics)], star, diameter_px=16.0)
    assert sets[0].names == ["sim_0000_DW", "sim_0001_DW"]
    assert [len(t) for t in sets[0].picks] == [2, 2]
    # a folder of pick files of other micrographs: the error names the micrographs
    folder = tmp_path / "others"
    folder.mkdir()
    write_picks(make_picks([20.0], [20.0]), folder / "elsewhere.star")
    with pytest.raises(ValueError, match=r"given micrographs \(sim_0000_DW, sim_0001_DW\)"):
        training_sets_from_files([str(mics)], [str(folder)], diameter_px=16.0)


def test_pixel_size_option_gives_png_micrographs_a_diameter_in_angstrom(tmp_path):
    # a trial could not use --diameter-A on JPG/PNG micrographs: no header, no option
    import numpy as np
    import pytest
    from PIL import Image

    from napari_cryopick.cli import build_parser
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics = tmp_path / "mics"
    mics.mkdir()
    image = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    Image.fromarray(image).save(mics / "m0.png")
    write_picks(make_picks([20.0, 40.0], [20.0, 40.0]), tmp_path / "m0.star")
    picks = [str(tmp_path / "m0.star")]
    with pytest.raises(ValueError, match="pixel size"):
        training_sets_from_files([str(mics)], picks, diameter_A=150.0)
    sets, _ = training_sets_from_files([str(mics)], picks, diameter_A=150.0, pixel_size_A=1.5)
    assert sets[0].diameter_px == [100.0]
    with pytest.raises(ValueError, match="--pixel-size must be > 0"):
        training_sets_from_files([str(mics)], picks, diameter_A=150.0, pixel_size_A=0.0)
    args = build_parser().parse_args(
        ["train", "--micrographs", str(mics), "--picks", picks[0], "--out", "m.pt",
         "--diameter-A", "150", "--pixel-size", "1.5"]
    )  # fmt: skip
    assert args.pixel_size == 1.5


OPTICS_STAR = """
data_optics
loop_
_rlnOpticsGroup #1
_rlnOpticsGroupName #2
_rlnMicrographPixelSize #3
_rlnImagePixelSize #4
1 opticsGroup1 {size} 3.54

data_particles
loop_
_rlnMicrographName #1
_rlnCoordinateX #2
_rlnCoordinateY #3
_rlnOpticsGroup #4
MotionCorr/job002/Movies/m0.mrc 100.0 100.0 1
MotionCorr/job002/Movies/m0.mrc 250.0 300.0 1
"""


def test_a_particles_files_optics_pixel_size_serves_micrographs_without_one(tmp_path, caplog):
    """A CLI trial's MRC headers held the placeholder 1.0 beside its particles STAR's
    1.77 Å/px (data_optics): --diameter-A was refused, "none is known". Its
    rlnMicrographPixelSize is taken now (not rlnImagePixelSize, the extracted
    particles'); a header that gives another is kept, said."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics = tmp_path / "mics"
    mics.mkdir()
    image = np.random.default_rng(0).normal(size=(400, 400)).astype(np.float32)
    write_mrc(mics / "m0.mrc", image, pixel_size=1.0)  # the placeholder: none
    clicks = tmp_path / "particles.star"
    clicks.write_text(OPTICS_STAR.format(size=1.77))
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _ = training_sets_from_files([str(mics)], [str(clicks)], diameter_A=177.0)
    assert sets[0].diameter_px == [pytest.approx(100.0)]
    assert "pixel size 1.77 Å/px from the optics table of" in caplog.text
    caplog.clear()
    write_mrc(mics / "m0.mrc", image, pixel_size=0.885)  # a header of its own: kept, said
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _ = training_sets_from_files([str(mics)], [str(clicks)], diameter_A=177.0)
    assert sets[0].diameter_px == [pytest.approx(200.0)]
    assert "its header says 0.885 Å/px, the optics table of" in caplog.text, caplog.text
    # rows naming the micrograph as EPU's STAR files do, without its suffix (m0 for
    # m0_fractions): matched as the rows are (a review)
    write_mrc(mics / "m0.mrc", image, pixel_size=1.0)
    (mics / "m0.mrc").rename(mics / "m0_fractions.mrc")
    sets, _ = training_sets_from_files([str(mics)], [str(clicks)], diameter_A=177.0)
    assert sets[0].diameter_px == [pytest.approx(100.0)]


def test_picks_of_binned_micrographs_are_warned_about(tmp_path, caplog):
    """A trial trained on a Topaz file of 4 x binned micrographs (no --picks-binning): all
    clicks in the top-left quarter, exit 0, not a word."""
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics = tmp_path / "mics"
    mics.mkdir()
    write_mrc(mics / "m0.mrc", np.zeros((400, 400), np.float32))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(10, 390, 30), rng.uniform(10, 390, 30)
    write_picks(make_picks(x, y), tmp_path / "right.star")
    write_picks(make_picks(x / 4, y / 4), tmp_path / "binned.star")
    write_picks(make_picks(x / 8.8, y / 8.8), tmp_path / "binned8.star")  # 8x, off the edge
    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    for name in ("right", "binned8", "binned"):
        (tmp_path / "m0.star").unlink(missing_ok=True)
        (tmp_path / f"{name}.star").rename(tmp_path / "m0.star")
        training_sets_from_files([str(mics)], [str(tmp_path / "m0.star")], diameter_px=8.0)
        warned = [r.getMessage() for r in caplog.records if "binned" in r.getMessage()]
        if name == "right":
            assert warned == []
        if name == "binned8":  # up to 10 times: 8, not the 10 that 1 / extent rounds to
            assert "--picks-binning 8 scales them" in warned[0]
            caplog.clear()
    assert len(warned) == 1
    # (29: two of the random picks lie 0.7 px apart binned, a duplicate at 8 px)
    assert "all 29 picks lie in the top-left 24 %" in warned[0]  # 390 / 4 of 400 px
    assert "--picks-binning 4" in warned[0]


def test_training_reads_only_the_micrographs_with_picks(tmp_path, make_blobs, monkeypatch):
    """A folder of a whole data set, three clicked: the rest is neither read nor a reason to stop.

    One truncated micrograph without picks aborted ``cryopick train`` (it read every
    micrograph of the folder before knowing which had picks), and a folder of
    thousands was read whole before training three clicked ones.
    """
    from napari_cryopick.io import micrographs as micrograph_io
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    for seed in range(5):
        image, table = make_blobs(seed, size=96, n=6)
        write_mrc(tmp_path / "mics" / f"m{seed}.mrc", image, pixel_size=2.0)
        if seed < 2:
            table[["x", "y"]].to_csv(tmp_path / "picks" / f"m{seed}.csv", index=False)
    good = (tmp_path / "mics" / "m4.mrc").read_bytes()
    (tmp_path / "mics" / "m4.mrc").write_bytes(good[: len(good) // 2])  # truncated, no picks
    read = []
    real = micrograph_io.read_micrograph
    monkeypatch.setattr(
        micrograph_io, "read_micrograph", lambda path, **kw: read.append(path) or real(path, **kw)
    )
    sets, _ = training_sets_from_files([tmp_path / "mics"], [tmp_path / "picks"], diameter_px=12.0)
    assert [s.names for s in sets] == [["m0", "m1"]]
    assert {Path(p).name for p in read} == {"m0.mrc", "m1.mrc"}  # checks, diameter estimate
    # a clicked micrograph that cannot be read still stops it, naming the file
    (tmp_path / "mics" / "m1.mrc").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"m1\.mrc"):
        training_sets_from_files([tmp_path / "mics"], [tmp_path / "picks"], diameter_px=12.0)


def test_box_sizes_far_from_the_particles_are_not_taken_for_their_diameter(
    tmp_path, make_blobs, caplog
):
    """A trial: 200 px BOX boxes of a 108 px protein trained at 200 px, said at INFO only."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    for box in (48.0, 20.0, 10.0):
        folder = tmp_path / f"box{box:g}"
        folder.mkdir()
        for seed in range(3):
            image, table = make_blobs(seed, size=160, n=10)
            write_mrc(tmp_path / "mics" / f"m{seed}.mrc", image)
            write_picks(table.assign(diameter=box), folder / f"m{seed}.box")
    estimates = {}
    for box in (48.0, 20.0, 10.0):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="napari_cryopick"):
            sets, _ = training_sets_from_files([tmp_path / "mics"], [tmp_path / f"box{box:g}"])
        estimates[box] = (sets[0].diameter_px[0], caplog.text)
    seen, text = estimates[48.0]
    assert seen < 30  # the blobs' size (about 18 px), not the 48 px boxes
    assert "the box files' boxes (EMAN BOX, crYOLO CBOX without _EstWidth) are 48 px" in text
    assert "give --diameter to choose" in text
    # crYOLO CBOX files without its size estimates hold box sizes too (a trial's 62 px
    # apoferritin trained at its 93 px _Width); with them, their estimate is the size
    for estimated in (False, True):
        folder = tmp_path / f"cbox{estimated}"
        folder.mkdir()
        for seed in range(3):
            _image, table = make_blobs(seed, size=160, n=10)
            write_picks(table.assign(diameter=18.0 if estimated else np.nan),
                        folder / f"m{seed}.cbox", box_size=48)  # fmt: skip
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="napari_cryopick"):
            sets, _ = training_sets_from_files([tmp_path / "mics"], [folder])
        if estimated:
            assert sets[0].diameter_px[0] == 18.0
            assert "WARNING" not in caplog.text
        else:
            assert sets[0].diameter_px[0] < 30
            assert "are 48 px (median) but the micrographs show" in caplog.text
    kept, text = estimates[20.0]
    assert kept == 20.0  # close to what the micrographs show: the boxes' size
    # said as a warning all the same: the estimate fails on low-contrast micrographs (a
    # re-trial's 62 px apoferritin read as 93 px, its 93 px boxes kept)
    assert "give --diameter if the particles are smaller" in text
    # the image's estimate beside it is said as one (a CLI trial read its 96 px as
    # confirming the 100 px boxes of 62 px apoferritin)
    assert "an estimate that can read hollow or faint particles" in text
    tight, text = estimates[10.0]  # smaller than the estimate: a tight box is kept
    assert tight == 10.0
    assert "but the micrographs show" not in text
    # an empty BOX file (a micrograph without particles) beside CSV clicks with diameters
    # gives no box size (a CLI trial: "18 px, the median box size of the box files")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for seed in range(3):
        _image, table = make_blobs(seed, size=160, n=10)
        write_picks(table.assign(diameter=18.0), mixed / f"m{seed}.csv")
    (tmp_path / "mics" / "m3.mrc").write_bytes((tmp_path / "mics" / "m0.mrc").read_bytes())
    (mixed / "m3.box").write_text("")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _ = training_sets_from_files([tmp_path / "mics"], [mixed])
    assert sets[0].diameter_px[0] == 18.0
    assert "box files" not in caplog.text
    assert "the median of the 30 picks' diameters" in caplog.text


def test_notes_in_a_folder_of_pick_files_are_left_out_with_a_warning(tmp_path, make_blobs, caplog):
    """A CLI trial: a README.txt beside the click files stopped the training ("cannot
    tell the pick format of this .txt file"); named directly, it still does."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.io.pickfiles import PickFileError, write_picks
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    picks = tmp_path / "picks"
    picks.mkdir()
    for seed in range(2):
        image, table = make_blobs(seed, size=160, n=10)
        write_mrc(tmp_path / "mics" / f"m{seed}.mrc", image)
        write_picks(table.assign(diameter=18.0), picks / f"m{seed}.csv")
    notes = picks / "README.txt"
    notes.write_text("picked by hand on Monday\n")
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        sets, _ = training_sets_from_files([tmp_path / "mics"], [picks])
    assert sum(len(table) for table in sets[0].picks) == 20
    assert f"{notes} left out: not a pick file" in caplog.text
    with pytest.raises(PickFileError, match="cannot tell the pick format"):
        training_sets_from_files([tmp_path / "mics"], [picks / "m0.csv", notes])


def test_a_utf16_topaz_file_in_a_folder_of_clicks_is_refused_not_left_out_as_notes(
    tmp_path, make_blobs
):
    """Windows' "Unicode" save of a Topaz file was "cannot tell the pick format", so a
    folder of clicks left its picks out as notes, without a word on the encoding."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.io.pickfiles import PickFileError
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    picks = tmp_path / "picks"
    picks.mkdir()
    image, table = make_blobs(0, size=160, n=10)
    write_mrc(tmp_path / "mics" / "m0.mrc", image)
    rows = "".join(f"m0\t{x:.0f}\t{y:.0f}\n" for x, y in table[["x", "y"]].to_numpy())
    clicks = picks / "m0.txt"
    clicks.write_bytes(("image_name\tx_coord\ty_coord\n" + rows).encode("utf-16"))
    with pytest.raises(PickFileError) as raised:
        training_sets_from_files([tmp_path / "mics"], [picks], diameter_px=18.0)
    assert str(raised.value).startswith(f"{clicks}: a UTF-16 text file")
    # notes saved as UTF-16 (PowerShell's >) stay notes, left out (a review)
    clicks.write_text("image_name\tx_coord\ty_coord\n" + rows)
    (picks / "README.txt").write_bytes("picked by hand on Monday\n".encode("utf-16"))
    sets, _ = training_sets_from_files([tmp_path / "mics"], [picks], diameter_px=18.0)
    assert sum(len(table) for table in sets[0].picks) == len(table)


def test_the_model_learns_the_diameter_it_is_trained_at_not_box_sizes(tmp_path, make_blobs, caplog):
    """A trial: BOX files of 80 px boxes around 56 px ribosomes, --diameter 56: "the
    given diameter is used", but the model wrote 80-83 px particles (evaluate: AP 0.03)."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    (tmp_path / "box").mkdir()
    for seed in range(2):
        image, table = make_blobs(seed, size=160, n=10)
        write_mrc(tmp_path / "mics" / f"m{seed}.mrc", image)
        write_picks(table.assign(diameter=48.0), tmp_path / "box" / f"m{seed}.box")
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _ = training_sets_from_files(
            [tmp_path / "mics"], [tmp_path / "box"], diameter_px=18.0
        )
    # which diameter (a CLI trial read "the model learns the diameter")
    assert "the model learns 18 px, not the files' 48 px" in caplog.text
    assert sets[0].diameter_px == [18.0, 18.0]
    for picks in sets[0].picks:  # unknown: training fills in the 18 px trained at
        assert picks["diameter"].isna().all()
    # sizes that agree with the diameter (within 25 %) are the model's to learn
    for seed in range(2):
        image, table = make_blobs(seed, size=160, n=10)
        write_picks(table.assign(diameter=20.0), tmp_path / "box" / f"m{seed}.box")
    sets, _ = training_sets_from_files([tmp_path / "mics"], [tmp_path / "box"], diameter_px=18.0)
    assert (sets[0].picks[0]["diameter"] == 20.0).all()


def test_a_relion_project_names_its_data_set_not_movies():
    """A trial: every model trained in a RELION project was called "Movies"."""
    from napari_cryopick.workflows.inputs import _dataset_name

    assert _dataset_name(Path("/data/apoF_2024/MotionCorr/job002/Movies/GridA_1.mrc")) == (
        "apoF_2024"
    )
    assert _dataset_name(Path("/data/ribosome/micrographs/m.png")) == "ribosome"
    assert _dataset_name(Path("/data/newprotein/m.mrc")) == "newprotein"
    # cryoSPARC's Patch Motion folder named a docs trial's data set "motioncorrected"
    assert _dataset_name(Path("/cs/P12/J5/motioncorrected/0123_m.mrc")) == "P12"
    assert _dataset_name(Path("/cs/P12/J2/imported/0123_m.mrc")) == "P12"
    assert _dataset_name(Path("/Movies/m.mrc")) == "Movies"  # nothing above: kept
    # EPU: every grid square of every session was data set "Data" (a CLI trial's second
    # protein fine-tuned the first away under that name)
    epu = Path("/d/bgal_0412/Images-Disc1/GridSquare_1000/Data/FoilHole_1_Data_2_fractions.mrc")
    assert _dataset_name(epu) == "bgal_0412"
    assert _dataset_name(Path("/d/apo/images-disc2/gridsquare_7/data/f.mrc")) == "apo"


def test_candidate_files_given_as_training_picks_are_warned_about(tmp_path, caplog):
    """A trial trained on a --keep-candidates job: every candidate down to 0.05 a particle."""
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    write_mrc(tmp_path / "mics" / "m0.mrc", np.zeros((200, 200), np.float32))
    scores = np.linspace(0.05, 0.95, 20)
    xs = np.linspace(20, 180, 20)
    write_picks(make_picks(xs, xs, diameter=16.0, score=scores), tmp_path / "m0.star")
    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    training_sets_from_files([tmp_path / "mics"], [tmp_path / "m0.star"], diameter_px=16.0)
    warned = [r.getMessage() for r in caplog.records if "candidate files" in r.getMessage()]
    assert len(warned) == 1
    assert "15 % of the 20 picks score below 0.15 (the lowest 0.05)" in warned[0]
    caplog.clear()  # picks at a threshold (or unscored clicks): nothing said
    write_picks(make_picks(xs, xs, diameter=16.0, score=scores + 0.1), tmp_path / "m0.star")
    training_sets_from_files([tmp_path / "mics"], [tmp_path / "m0.star"], diameter_px=16.0)
    assert not [r for r in caplog.records if "candidate files" in r.getMessage()]


def test_micrographs_of_two_pixel_sizes_train_each_at_its_own_diameter(tmp_path, caplog):
    # a trial: 2 Å/px and 4 Å/px micrographs of one protein (56 and 28 px in the pick files)
    # trained both at 42 px without a word, and --diameter-A 112 was warned of as 56 against 42
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics, picks = tmp_path / "mics", tmp_path / "picks"
    mics.mkdir()
    picks.mkdir()
    rng = np.random.default_rng(0)
    for name, side, pixel, diameter in (("fine", 256, 2.0, 56.0), ("binned", 128, 4.0, 28.0)):
        write_mrc(mics / f"{name}.mrc", rng.normal(size=(side, side)).astype(np.float32), pixel)
        centres = [side / 4, side / 2, 3 * side / 4]
        write_picks(make_picks(centres, centres, diameter=diameter), picks / f"{name}.star")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    (own,), _ = training_sets_from_files([str(mics)], [str(picks)])
    sizes = dict(zip(own.names, own.diameter_px, strict=True))
    assert sizes == {"binned": pytest.approx(28.0), "fine": pytest.approx(56.0)}
    assert own.diameter_A == pytest.approx(112.0)  # recorded: picking converts it
    caplog.clear()
    (given,), _ = training_sets_from_files([str(mics)], [str(picks)], diameter_A=112.0)
    assert dict(zip(given.names, given.diameter_px, strict=True)) == sizes
    assert "differs by more than 25" not in caplog.text
    (pixels,), _ = training_sets_from_files([str(mics)], [str(picks)], diameter_px=56.0)
    assert pixels.diameter_A is None
    assert "different pixel sizes (2, 4 Å/px) but one diameter in pixels" in caplog.text


def test_micrographs_whose_pick_files_give_two_sizes_train_each_at_its_own(tmp_path, caplog):
    # a trial: ribosome PNGs and 2x binned copies (no pixel sizes), 56 and 28 px in the pick
    # files, trained both at 42 px (the median of all), and picked at 42 px: AP@0.6 0.000
    import numpy as np
    from skimage.io import imsave

    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics, picks = tmp_path / "mics", tmp_path / "picks"
    mics.mkdir()
    picks.mkdir()
    rng = np.random.default_rng(0)
    sizes = {"a1": 56.0, "a2": 56.0, "b1": 28.0, "b2": 28.0}
    for name, diameter in sizes.items():
        side = 256 if diameter == 56.0 else 128
        imsave(mics / f"{name}.png", rng.integers(0, 255, (side, side), dtype=np.uint8))
        centres = [side / 4, side / 2, 3 * side / 4]
        write_picks(make_picks(centres, centres, diameter=diameter), picks / f"{name}.csv")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    (own,), table = training_sets_from_files([str(mics)], [str(picks)])
    assert dict(zip(own.names, own.diameter_px, strict=True)) == sizes
    said = caplog.text
    assert "the pick files give the particles different sizes on different micrographs " in said
    assert "(28 px on b1, b2; 56 px on a1, a2)" in said
    assert "the model records 56 px" in said
    assert "differ from the diameter trained at" not in said  # each file's own: kept
    assert table["diameter"].notna().all()
    # a micrograph whose file gives no size: the size nearest what its image shows (a
    # re-trial's took the 42 px median of 56 and 28 px), said apart
    from skimage.draw import disk

    image = rng.normal(128, 10, (256, 256))
    for centre in (64, 128, 192):
        image[disk((centre, centre), 14, shape=image.shape)] -= 60
    imsave(mics / "c1.png", np.clip(image, 0, 255).astype(np.uint8))
    (picks / "c1.csv").write_text("x,y\n64,64\n128,128\n192,192\n")
    caplog.clear()
    (own,), _ = training_sets_from_files([str(mics)], [str(picks)])
    assert dict(zip(own.names, own.diameter_px, strict=True)) == {**sizes, "c1": 28.0}
    assert "; without sizes in their files: c1 at 28 px (nearest the " in caplog.text
    (picks / "c1.csv").unlink()
    (mics / "c1.png").unlink()
    # a micrograph of negatives only (no click to measure around): the size of the
    # micrographs of its shape, never the 42 px median the model would record (a review)
    imsave(mics / "b3.png", rng.integers(0, 255, (128, 128), dtype=np.uint8))
    write_picks(make_picks([40, 80], [40, 80], kind="negative"), picks / "b3.csv")
    caplog.clear()
    (own,), _ = training_sets_from_files([str(mics)], [str(picks)])
    assert dict(zip(own.names, own.diameter_px, strict=True)) == {**sizes, "b3": 28.0}
    assert "b3 at 28 px (no clicks to measure: that of the micrographs of its shape)" in (
        caplog.text
    )
    assert "the model records 42" not in caplog.text
    (picks / "b3.csv").unlink()
    (mics / "b3.png").unlink()
    # sizes that agree (within 25 %): one diameter, the median, as before
    write_picks(make_picks([32, 64, 96], [32, 64, 96], diameter=50.0), picks / "b1.csv")
    write_picks(make_picks([32, 64, 96], [32, 64, 96], diameter=50.0), picks / "b2.csv")
    caplog.clear()
    (one,), _ = training_sets_from_files([str(mics)], [str(picks)])
    assert set(one.diameter_px) == {53.0}
    assert "different sizes on different micrographs" not in caplog.text


def test_every_unreadable_micrograph_with_picks_is_named_at_once(tmp_path):
    # a trial needed three runs to learn of three broken micrographs: each stopped at one
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics, picks = tmp_path / "mics", tmp_path / "picks"
    mics.mkdir()
    picks.mkdir()
    write_mrc(mics / "good.mrc", np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32))
    (mics / "empty.mrc").write_bytes(b"")
    (mics / "cut.mrc").write_bytes((mics / "good.mrc").read_bytes()[:1500])
    (mics / "unpicked.mrc").write_bytes(b"")  # no picks: never read, not named
    for name in ("good", "empty", "cut"):
        write_picks(make_picks([20.0, 40.0], [20.0, 40.0]), picks / f"{name}.star")
    with pytest.raises(ValueError, match=r"^2 micrograph\(s\) with picks cannot be read") as err:
        training_sets_from_files([str(mics)], [str(picks)], diameter_px=16.0)
    assert "cut.mrc" in str(err.value)
    assert "empty.mrc" in str(err.value)
    assert "unpicked" not in str(err.value)
    # a micrograph known by its negatives only is named too
    (picks / "empty.star").unlink()
    (picks / "cut.star").unlink()
    negatives = tmp_path / "cut_negatives.star"
    write_picks(make_picks([10.0], [10.0]), negatives)
    with pytest.raises(ValueError, match=r"^1 micrograph\(s\) with picks cannot be read.*cut"):
        training_sets_from_files(
            [str(mics)], [str(picks)], negatives=[str(negatives)], diameter_px=16.0
        )


def test_each_data_set_of_one_command_trains_at_its_own_diameter(tmp_path, caplog):
    # a re-trial: ribosome (56 px) and β-gal (108 px) in one cryopick train trained both at
    # 108 px, the median of all the picks; picking then warned 56 px away
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    rng = np.random.default_rng(0)
    folders = []
    for name, diameter, count in (("small", 20.0, 3), ("large", 40.0, 6)):
        mics, picks = tmp_path / name / "mics", tmp_path / name / "picks"
        mics.mkdir(parents=True)
        picks.mkdir()
        write_mrc(mics / f"{name}.mrc", rng.normal(size=(256, 256)).astype(np.float32))
        centres = np.linspace(50.0, 200.0, count)
        write_picks(make_picks(centres, centres, diameter=diameter), picks / f"{name}.star")
        folders.append((mics, picks))
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    sets, _ = training_sets_from_files([str(m) for m, _ in folders], [str(p) for _, p in folders])
    assert {s.name: list(s.diameter_px) for s in sets} == {"small": [20.0], "large": [40.0]}
    assert "large: particle diameter 40 px, the median" in caplog.text  # each set named


def test_a_data_set_of_negatives_only_is_left_out_and_said(tmp_path, caplog):
    # a docs check: a second data set with negatives only stopped the whole cryopick train
    # ("only negatives, nothing to learn"), where the Train widget trains the rest
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    rng = np.random.default_rng(0)
    for name in ("real", "junk"):
        (tmp_path / name).mkdir()
        write_mrc(tmp_path / name / f"{name}.mrc", rng.normal(size=(128, 128)).astype(np.float32))
    write_picks(make_picks([40.0, 80.0], [40.0, 80.0], diameter=20.0), tmp_path / "real.star")
    write_picks(make_picks([30.0], [30.0]), tmp_path / "junk_negatives.star")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    sets, table = training_sets_from_files(
        [str(tmp_path / "real"), str(tmp_path / "junk")],
        [str(tmp_path / "real.star")],
        negatives=[str(tmp_path / "junk_negatives.star")],
    )
    assert [s.name for s in sets] == ["real"]
    assert set(table["micrograph"]) == {"real"}
    assert "data set(s) junk hold negatives only and are not trained on" in caplog.text
    assert "trained on for them" not in caplog.text


def test_negatives_on_labelled_particles_are_said_and_left_out(tmp_path, caplog):
    # a trial's negatives file, a copy of a picks file, was trained on without a word:
    # 7 negatives on 7 labelled particles
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    rng = np.random.default_rng(0)
    (tmp_path / "mics").mkdir()
    write_mrc(tmp_path / "mics" / "m0.mrc", rng.normal(size=(200, 200)).astype(np.float32))
    clicks = make_picks([40.0, 80.0, 120.0], [40.0, 80.0, 120.0], diameter=20.0)
    write_picks(clicks, tmp_path / "m0.star")
    # two on particles (one 4 px off: within a quarter of 20 px), one on carbon far away
    junk = make_picks([40.0, 84.0, 170.0], [40.0, 80.0, 30.0])
    (tmp_path / "neg").mkdir()
    write_picks(junk, tmp_path / "neg" / "m0.star")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    sets, table = training_sets_from_files(
        [str(tmp_path / "mics")], [str(tmp_path / "m0.star")], negatives=[str(tmp_path / "neg")]
    )
    negatives = table[table["kind"] == "negative"]
    assert negatives[["x", "y"]].to_numpy().tolist() == [[170.0, 30.0]]
    assert (table["kind"] == "particle").sum() == 3
    assert "2 negative(s) lie on labelled objects" in caplog.text
    assert "check the negatives of m0 (2)" in caplog.text
    assert len(sets[0].picks[0]) == 4


def test_fibers_train_at_their_width_never_at_an_image_estimate(tmp_path, make_blobs, caplog):
    """A re-trial: fibers given --diameter 30 were warned to differ from the "185 px that
    the micrographs show" (an estimate made for round particles); without a width they
    trained at such an estimate (42-122 px for 24 px fibers)."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    (tmp_path / "paths").mkdir()
    image, _table = make_blobs(0, size=160, n=10)
    write_mrc(tmp_path / "mics" / "m0.mrc", image)
    path = make_picks([20.0, 80.0, 140.0], [30.0, 60.0, 90.0], kind="fiber", tube_id=1)
    write_picks(path, tmp_path / "paths" / "m0.csv")
    with pytest.raises(ValueError, match="the fiber paths carry no width: give the fibers' width"):
        training_sets_from_files([tmp_path / "mics"], [tmp_path / "paths"])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _ = training_sets_from_files(
            [tmp_path / "mics"], [tmp_path / "paths"], diameter_px=12.0
        )
    assert sets[0].diameter_px == [12.0]
    assert "particle diameter" not in caplog.text
    write_picks(path.assign(diameter=14.0), tmp_path / "paths" / "m0.csv")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _ = training_sets_from_files([tmp_path / "mics"], [tmp_path / "paths"])
    assert sets[0].diameter_px == [14.0]
    assert "fiber width 14 px, the median of the paths' widths" in caplog.text


def test_points_read_as_fibers_without_paths_are_warned_of(tmp_path, caplog):
    # a trial: --kind fiber on a file of particle centres trained a fiber model unsaid
    from napari_cryopick.workflows.inputs import read_training_picks

    points = write_picks(make_picks([20.0, 80.0], [30.0, 60.0], micrograph="m0"),
                         tmp_path / "m0.csv")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        table = read_training_picks([(points, False)], {"m0"}, kind="fiber")
    assert (table["kind"] == "fiber").all()
    assert "m0.csv: no fiber paths (no tube ids), only points" in caplog.text
    paths = write_picks(make_picks([20.0, 80.0], [30.0, 60.0], micrograph="m0", tube_id=1,
                                   diameter=20.0), tmp_path / "m0_paths.csv")  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        read_training_picks([(paths, False)], {"m0"}, kind="fiber")
    assert "no fiber paths" not in caplog.text
    assert "one point" not in caplog.text
    # tube ids, one point each (a fibers trial's four tubes of one point trained unsaid)
    singles = write_picks(make_picks([20.0, 80.0], [30.0, 60.0], micrograph="m0", kind="fiber",
                                     tube_id=[1, 2], diameter=20.0), tmp_path / "m0_one.csv")  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        read_training_picks([(singles, False)], {"m0"})
    assert "m0_one.csv: every fiber path holds one point (one row per tube id)" in caplog.text


def test_relion_manual_picking_helices_train_as_one_fiber_per_pair(tmp_path, caplog):
    # a trial: RELION's own helical _manualpick.star (start and end of each helix, no
    # tube ids) trained as points, 34 joints left out as duplicates
    import shutil
    from pathlib import Path

    from napari_cryopick.workflows.inputs import read_training_picks

    golden = Path(__file__).parents[1] / "io" / "golden" / "relion_manualpick_helix.star"
    path = tmp_path / "m0_manualpick.star"
    shutil.copy(golden, path)
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        table = read_training_picks([(path, False)], {"m0"}, kind="fiber")
    assert sorted(set(table["tube_id"])) == [1, 2]
    assert (table["kind"] == "fiber").all()
    # points all along each helix, not its two ends only (a fibers trial: a straight
    # helix trained on 2 spots), on the segment between its ends
    import numpy as np

    ends = {1: ((512.0, 300.0), (900.0, 700.0)), 2: ((100.0, 800.0), (400.0, 820.0))}
    for tube, ((x0, y0), (x1, y1)) in ends.items():
        points = table[table["tube_id"] == tube][["x", "y"]].to_numpy(float)
        length = float(np.hypot(x1 - x0, y1 - y0))
        assert len(points) >= length / 20  # at least one point every 20 px
        t = ((points[:, 0] - x0) * (x1 - x0) + (points[:, 1] - y0) * (y1 - y0)) / length**2
        off = np.hypot(points[:, 0] - (x0 + t * (x1 - x0)), points[:, 1] - (y0 + t * (y1 - y0)))
        assert off.max() < 0.5
        assert t.min() < 0.01
        assert t.max() > 0.99
    assert "read as RELION's manual picking writes helices" in caplog.text
    assert "no fiber paths" not in caplog.text
    # as particles (the same file for RELION's particles): points, as before
    table = read_training_picks([(path, False)], {"m0"}, kind=None)
    assert (table["tube_id"] == 0).all()
    # an odd number of rows is no list of pairs: points, said
    odd = tmp_path / "m1_manualpick.star"
    odd.write_text(golden.read_text().rstrip().rsplit("\n", 1)[0] + "\n")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        table = read_training_picks([(odd, False)], {"m1"}, kind="fiber")
    assert (table["tube_id"] == 0).all()
    assert "no fiber paths (no tube ids)" in caplog.text


def test_a_stray_tiny_vesicle_is_left_out_of_training_and_named(tmp_path, make_blobs, caplog):
    """A re-trial: a pick file's 2.5 px circle beside 185-225 px vesicles was left out of
    the scale only, and still trained on as a vesicle."""
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    image, _table = make_blobs(0, size=160, n=10)
    write_mrc(tmp_path / "mics" / "m0.mrc", image)
    circles = make_picks([40.0, 100.0, 120.0, 60.0], [40.0, 60.0, 120.0, 130.0],
                         kind="vesicle", diameter=[30.0, 36.0, 33.0, 2.5])  # fmt: skip
    write_picks(circles, tmp_path / "picks" / "m0.csv")
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        sets, table = training_sets_from_files([tmp_path / "mics"], [tmp_path / "picks"])
    assert sorted(sets[0].picks[0]["diameter"]) == [30.0, 33.0, 36.0]
    assert "2.5" not in set(table["diameter"].astype(str))
    assert "1 vesicle(s) left out of training" in caplog.text
    assert "m0 at (60, 130), 2.5 px" in caplog.text
    assert sets[0].diameter_px == [pytest.approx((30.0 * 36.0) ** 0.5)]


def test_a_diameter_in_pixels_at_one_known_pixel_size_is_recorded_in_angstrom(
    tmp_path, caplog, capsys
):
    """A trial: a model trained on 1.5 Å/px MRCs (clicks, no --diameter-A) picked 2x-binned
    micrographs (3 Å/px) at the training's pixels: 43 picks for about 340, unsaid."""
    import numpy as np

    from napari_cryopick.cli import main
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics, picks = tmp_path / "mics", tmp_path / "picks"
    mics.mkdir()
    picks.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_mrc(mics / f"{name}.mrc", rng.normal(size=(128, 128)).astype(np.float32), 1.5)
        write_picks(make_picks([32.0, 64.0, 96.0], [32.0, 64.0, 96.0]), picks / f"{name}.star")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    (given,), _ = training_sets_from_files([str(mics)], [str(picks)], diameter_px=20.0)
    assert given.diameter_A == pytest.approx(30.0)
    assert "particle diameter 20 px at the micrographs' 1.5 Å/px: 30 Å" in caplog.text
    # fibers: their width (a docs trial's fiber training said "particle diameter 24 px")
    fibers = tmp_path / "fibers"
    fibers.mkdir()
    for name in ("a", "b"):
        path = make_picks([32.0, 96.0], [32.0, 96.0], kind="fiber", tube_id=[1, 1])
        write_picks(path, fibers / f"{name}.star")
    caplog.clear()
    training_sets_from_files([str(mics)], [str(fibers)], diameter_px=20.0)
    assert "fiber width 20 px at the micrographs' 1.5 Å/px: 30 Å" in caplog.text
    out = tmp_path / "m.pt"
    capsys.readouterr()
    assert main(["train", "--micrographs", str(mics), "--picks", str(picks), "--out", str(out),
                 "--diameter", "20", "--steps", "2", "--threads", "1"]) == 0  # fmt: skip
    # the data set the clicks train, named (a CLI trial's "apo" was said only by info)
    assert (
        f"micrograph(s) of data set '{tmp_path.name}' (from the folder names; --dataset NAME"
        in capsys.readouterr().out
    )
    _model, metadata = load_checkpoint(out)
    assert metadata["history"][-1]["diameter_A"] == pytest.approx(30.0)  # picking converts it
    # a header with the 1.0 Å placeholder, or none (PNG): nothing is recorded in Å
    write_mrc(mics / "b.mrc", rng.normal(size=(128, 128)).astype(np.float32), 1.0)
    (unknown,), _ = training_sets_from_files([str(mics)], [str(picks)], diameter_px=20.0)
    assert unknown.diameter_A is None


def test_duplicate_clicks_are_left_out_of_training_and_said(tmp_path, make_blobs, caplog):
    # a trial: two manual-pick passes of the same micrographs counted 9 of 28 clicks twice
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    image, table = make_blobs(0, size=160, n=10)
    write_mrc(tmp_path / "mics" / "m0.mrc", image)
    table = table.assign(diameter=18.0)
    twice = pd.concat([table, table.head(4).assign(x=table["x"].head(4) + 0.5)])
    write_picks(twice, tmp_path / "m0.star")
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        sets, _ = training_sets_from_files([tmp_path / "mics"], [tmp_path / "m0.star"])
    assert len(sets[0].picks[0]) == len(table)
    assert "4 duplicate pick(s) left out, within 0.1 diameter of another pick" in caplog.text


def test_two_micrograph_files_of_one_name_are_named_both(tmp_path):
    # a trial's Movies/061.mrc and Movies/GridB/061.mrc read "repeated: 061_10028"
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    rng = np.random.default_rng(0)
    files = []
    for folder in ("GridA", "GridB"):
        (tmp_path / folder).mkdir()
        files.append(tmp_path / folder / "m0.mrc")
        write_mrc(files[-1], rng.normal(size=(64, 64)).astype(np.float32))
    write_picks(make_picks([20.0], [20.0]), tmp_path / "m0.star")
    with pytest.raises(ValueError, match="micrograph names must be unique") as raised:
        training_sets_from_files(
            [str(f) for f in files], [str(tmp_path / "m0.star")], diameter_px=16.0
        )
    assert str(files[0]) in str(raised.value)
    assert str(files[1]) in str(raised.value)


def test_clean_labels_keeps_two_micrographs_of_one_name_apart():
    """A review: the Train widget's labels of gridA/0001 and gridB/0001 (one name) were
    matched by name, so each trained on both's clicks and duplicates ran across them."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.workflows.inputs import clean_labels

    first = make_picks([10.0, 50.0], [10.0, 50.0], diameter=20.0)
    second = make_picks([10.5], [10.0], diameter=20.0)  # where the first has a pick
    out, said = clean_labels([first, second], ["0001", "0001"], [20.0, 20.0])
    assert [len(t) for t in out] == [2, 1]
    assert said == []
    # a duplicate within one is said with its name, as the user knows it
    out, said = clean_labels(
        [first, make_picks([10.0, 10.5], [10.0, 10.0])], ["a", "b"], [20.0, 20.0]
    )
    assert [len(t) for t in out] == [2, 1]
    assert said[0].endswith(": b")


def test_kind_given_over_a_file_that_names_its_kinds_is_said_and_keeps_negatives(tmp_path, caplog):
    """A fibers trial: a CSV of a fiber and 3 particles trained as vesicles with --kind
    vesicle (and its particles as fiber spots with --kind fiber), unsaid; a negative in
    such a file became an object too."""
    import pandas as pd

    from napari_cryopick.workflows.inputs import read_training_picks

    rows = [
        (100.0, 100.0, 24.0, "fiber", 1),
        (200.0, 100.0, 24.0, "fiber", 1),
        (300.0, 300.0, 48.0, "particle", 0),
        (350.0, 300.0, 48.0, "particle", 0),
        (500.0, 500.0, 48.0, "negative", 0),
    ]
    path = tmp_path / "m0.csv"
    pd.DataFrame(rows, columns=["x", "y", "diameter", "kind", "tube_id"]).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        table = read_training_picks([(path, False)], {"m0"}, kind="vesicle")
    assert "names its picks' kinds: " in caplog.text
    assert "2 particle" in caplog.text
    assert "made vesicle by --kind vesicle" in caplog.text
    assert (table["kind"] == "negative").sum() == 1  # junk stays junk
    assert set(table["kind"]) == {"vesicle", "negative"}
    # a plain file of points (every kind "particle") given --kind: nothing to say
    plain = tmp_path / "m1.csv"
    pd.DataFrame({"x": [10.0, 20.0], "y": [10.0, 20.0]}).to_csv(plain, index=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        table = read_training_picks([(plain, False)], {"m1"}, kind="vesicle")
    assert "names its picks' kinds" not in caplog.text
    assert (table["kind"] == "vesicle").all()


def test_particles_beside_fibers_train_at_the_particles_diameter(tmp_path, make_blobs, caplog):
    """A fibers trial: 48 px particles and 24 px fibers in one file trained at 24 px, the
    median over the fibers' many points along their paths."""
    import pandas as pd

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    image, _table = make_blobs(0, size=400, n=4)
    write_mrc(tmp_path / "mics" / "m0.mrc", image)
    rows = [(x, 300.0, 24.0, "fiber", 1) for x in (20.0, 380.0)]
    rows += [(x, 80.0, 48.0, "particle", 0) for x in (60.0, 160.0, 260.0)]
    table = pd.DataFrame(rows, columns=["x", "y", "diameter", "kind", "tube_id"])
    table.to_csv(tmp_path / "picks" / "m0.csv", index=False)
    with caplog.at_level(logging.INFO, logger="napari_cryopick"):
        sets, _table = training_sets_from_files([tmp_path / "mics"], [tmp_path / "picks"])
    diameter = sets[0].diameter_px
    assert (diameter if not isinstance(diameter, list) else diameter[0]) == 48.0


#: Rows of the β-gal picks a CLI trial clicked (a random 7 of each micrograph's): y counted
#: from the bottom, the image estimate found no particle up to a quarter of the 4096 px
#: micrographs and trained at 1024 px, with no word of the mirror.
MIRRORED_TRIAL_ROWS = {
    "Falcon_2012_06_12-14_33_35_0": [553, 23, 41, 599, 371, 65, 407],
    "Falcon_2012_06_12-14_57_34_0": [600, 23, 214, 677, 47, 134, 307],
    "Falcon_2012_06_12-15_07_41_0": [93, 191, 328, 62, 102, 165, 238],
}


def test_clicks_around_which_no_particle_shows_are_refused_naming_the_mirror(
    real_data_dir, tmp_path
):
    from napari_cryopick.core.diameter import estimate_diameter
    from napari_cryopick.core.pick_table import flip_y
    from napari_cryopick.io.micrographs import read_micrograph
    from napari_cryopick.workflows.inputs import training_sets_from_files

    root = real_data_dir / "empiar10017_bgal"
    mics, picks, flipped = (tmp_path / n for n in ("mics", "picks", "flipped"))
    for folder in (mics, picks, flipped):
        folder.mkdir()
    images, tables = [], []
    for name, rows in MIRRORED_TRIAL_ROWS.items():
        (mics / f"{name}.jpg").symlink_to(root / "micrographs" / f"{name}.jpg")
        table = pd.read_csv(root / "picks" / f"{name}.csv").iloc[rows][["x", "y"]]
        image = read_micrograph(mics / f"{name}.jpg").data
        table.to_csv(picks / f"{name}.csv", index=False)
        flip_y(table, image.shape[0]).to_csv(flipped / f"{name}.csv", index=False)
        images.append(image)
        tables.append(flip_y(table, image.shape[0]))
    assert estimate_diameter(images, tables).at_limit  # the case: no particle at the clicks
    with pytest.raises(ValueError) as refused:
        training_sets_from_files([str(mics)], [str(flipped)])
    said = str(refused.value)
    assert "no particle diameter given, and around the 21 clicks the micrographs show no " in said
    assert "mirrored top to bottom they sit on particles of about" in said
    assert "--flip-y" in said
    # the same clicks as given: trained at the size the micrographs show
    sets, _ = training_sets_from_files([str(mics)], [str(picks)])
    assert 0.75 * 108 < sets[0].diameter_px[0] < 1.25 * 108
    # and with a diameter given, not refused (the check of the clicks says the mirror then)
    sets, _ = training_sets_from_files([str(mics)], [str(flipped)], diameter_px=108.0)
    assert sets[0].diameter_px == [108.0] * 3


def test_picks_a_coordinate_index_gives_a_micrograph_misnamed_in_the_list_are_warned_so(
    tmp_path, caplog
):
    """A RELION trial: micrographs_ctf.star misnamed 14_57_34_0.mrc as 14_57_34.mrc, and
    the ManualPick job's index gave its clicks to 14_57_34_0. They were "not used: ... whose
    picks another pick file already gives", where no other file gave any."""
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    job = tmp_path / "ManualPick/job004"
    (job / "Movies").mkdir(parents=True)
    for name in ("m_0", "n_0"):
        write_picks(make_picks([10.0, 20.0], [20.0, 30.0]), job / f"Movies/{name}_manualpick.star")
    (job / "manualpick.star").write_text(
        "data_coordinate_files\n\nloop_\n_rlnMicrographName #1\n_rlnMicrographCoordinates #2\n"
        + "".join(
            f"MotionCorr/job002/Movies/{n}.mrc ManualPick/job004/Movies/{n}_manualpick.star\n"
            for n in ("m_0", "n_0")
        )
    )
    table = read_training_picks([(job / "manualpick.star", False)], {"m", "n_0"})
    assert set(table["micrograph"]) == {"n_0"}
    (record,) = [r for r in caplog.records if "not used" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "m_0 (did you mean m?)" in record.getMessage()
    assert "another pick file" not in record.getMessage()


def test_fiber_paths_without_a_width_are_filled_every_half_of_the_diameter_given(tmp_path):
    """A fibers trial: paths of RELION helices and x,y,tube_id CSVs were filled every 10 px
    (half a default 20 px) whatever --diameter said; every half width, as documented."""
    folder = tmp_path / "paths"
    folder.mkdir()
    # one straight 200 px fiber, its two ends (tube id 1), no width in the file
    (folder / "m.csv").write_text("x,y,tube_id\n50,100,1\n250,100,1\n")
    counts = {
        diameter: len(
            read_training_picks([(folder / "m.csv", True)], {"m"}, "fiber", diameter_px=diameter)
        )
        for diameter in (8.0, 40.0)
    }
    assert 45 <= counts[8.0] <= 55  # every 4 px along 200 px
    assert 8 <= counts[40.0] <= 12  # every 20 px


def test_a_data_sets_size_in_angstrom_from_micrographs_of_several_pixel_sizes():
    """One size in Å within 5 % is recorded (their median): a review's Train widget
    measured 55.7 px at 1.5 Å/px beside 27.9 px at 3 Å/px (83.55 and 83.7 Å), and
    nothing was recorded."""
    from types import SimpleNamespace

    from napari_cryopick.workflows.inputs import set_diameter_angstrom

    loaded = [SimpleNamespace(pixel_size=1.5), SimpleNamespace(pixel_size=3.0)]
    assert set_diameter_angstrom([55.7, 27.9], loaded) == pytest.approx(83.62, abs=0.01)
    assert set_diameter_angstrom([56.0, 40.0], loaded) is None  # 84 and 120 Å: two sizes
    # one pixel size: one diameter in pixels at it
    same = [SimpleNamespace(pixel_size=1.5)] * 2
    assert set_diameter_angstrom([56.0, 56.0], same) == pytest.approx(84.0)
    assert set_diameter_angstrom([56.0, 60.0], same) is None
