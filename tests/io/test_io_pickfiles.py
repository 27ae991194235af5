"""Pick files: golden files written by hand from each format's documentation,
round trips, binning, the y flip and malformed files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core import pick_table as picks
from napari_cryopick.io import pickfiles
from napari_cryopick.io.pickfiles import (
    FORMATS,
    PickFileError,
    detect_format,
    read_picks,
    write_picks,
    write_picks_per_micrograph,
)

GOLDEN = Path(__file__).parent / "golden"
SUFFIX = {"star": ".star", "box": ".box", "cbox": ".cbox", "topaz": ".txt", "csv": ".csv"}


def golden_table() -> pd.DataFrame:
    """The table behind the hand-written ``golden/written*`` files."""
    return picks.make_picks(
        [120.0, 800.0, 1500.75],
        [340.0, 64.0, 1020.25],
        diameter=[100.0, 100.0, 110.0],
        score=[0.95, 0.5, 0.125],
        micrograph="mic_001",
    )


def sample_table(n: int = 7, micrograph: str = "mic_001", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return picks.make_picks(
        rng.uniform(60, 900, n).round(2),
        rng.uniform(60, 700, n).round(2),
        diameter=rng.uniform(40, 90, n).round(1),
        score=rng.uniform(0.05, 0.95, n).round(3),
        micrograph=micrograph,
    )


# --- golden files: reading -------------------------------------------------------


def test_golden_relion30_multi_micrograph_star():
    table = read_picks(GOLDEN / "relion30_multi.star")
    assert list(table.columns[:7]) == list(picks.PICK_COLUMNS)
    assert table["micrograph"].tolist() == ["mic_001", "mic_001", "mic_002"]
    np.testing.assert_allclose(table["x"], [1024.0, 512.5, 30.0])
    np.testing.assert_allclose(table["y"], [2048.0, 100.0, 40.0])
    np.testing.assert_allclose(table["score"], [1.234, 0.875, -0.25])
    assert table["diameter"].isna().all()
    assert (table["kind"] == "particle").all()


def test_golden_relion31_particles_with_optics_and_tubes():
    table = read_picks(GOLDEN / "relion31_particles.star")
    assert len(table) == 3
    assert set(table["micrograph"]) == {"fil_01"}
    np.testing.assert_allclose(table["x"], [1500.0, 1520.0, 300.5])
    np.testing.assert_allclose(table["y"], [2000.0, 2010.0, 410.25])
    assert table["tube_id"].tolist() == [1, 1, 2]
    assert (table["kind"] == "fiber").all()


def test_golden_relion_autopick_coordinate_file_named_after_file_or_argument():
    table = read_picks(GOLDEN / "relion_autopick.star")
    assert table["micrograph"].tolist() == ["relion_autopick"] * 2
    np.testing.assert_allclose(table[["x", "y"]].to_numpy(), [[1219, 2107], [384, 150]])
    np.testing.assert_allclose(table["score"], [1.822016, 0.512203])
    named = read_picks(GOLDEN / "relion_autopick.star", micrograph="Movies/mic_009.mrc")
    assert set(named["micrograph"]) == {"mic_009"}


def test_micrograph_argument_selects_from_multi_micrograph_file():
    table = read_picks(GOLDEN / "relion30_multi.star", micrograph="mic_002")
    assert len(table) == 1
    assert table["x"].iloc[0] == 30.0


def test_golden_eman_box_corner_to_centre():
    table = read_picks(GOLDEN / "eman.box")
    # corner + box/2 = centre; the box edge is read as the diameter
    np.testing.assert_allclose(table["x"], [1219.0, 384.0])
    np.testing.assert_allclose(table["y"], [2107.0, 150.0])
    np.testing.assert_allclose(table["diameter"], [100.0, 100.0])
    assert table["micrograph"].tolist() == ["eman", "eman"]


def test_a_box_that_is_not_square_is_read_at_its_width_and_said(tmp_path, caplog):
    """A review's 24 x 48 box was read at 24 px without a word: EMAN boxes are square."""
    path = tmp_path / "m.box"
    path.write_text("10\t20\t24\t24\n119\t200\t24\t48\n")
    with caplog.at_level("WARNING", logger="napari_cryopick"):
        table = read_picks(path)
    np.testing.assert_allclose(table[["x", "y", "diameter"]].iloc[1], [131.0, 224.0, 24.0])
    assert "m.box: 1 box(es) not square (line 2: width 24, height 48)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="napari_cryopick"):
        read_picks(GOLDEN / "eman.box")
    assert "not square" not in caplog.text


@pytest.mark.parametrize("name", ["cryolo18.cbox", "cryolo_legacy.cbox"])
def test_golden_cryolo_cbox(name):
    table = read_picks(GOLDEN / name)
    np.testing.assert_allclose(table["x"], [1279.0, 444.0])
    np.testing.assert_allclose(table["y"], [2167.0, 210.0])
    np.testing.assert_allclose(table["diameter"], [182.0, 170.0])  # mean of EstWidth/EstHeight
    np.testing.assert_allclose(table["score"], [0.87, 0.31])


def test_golden_topaz_extract_scores_are_logits():
    table = read_picks(GOLDEN / "topaz_extract.txt")
    assert table["micrograph"].tolist() == ["mic_001", "mic_001", "mic_002"]
    np.testing.assert_allclose(table["x"], [1279, 444, 64])
    np.testing.assert_allclose(table["y"], [2167, 210, 96])
    expected = [1 / (1 + math.exp(-s)) for s in (2.5, -1.0, 0.0)]
    np.testing.assert_allclose(table["score"], expected, atol=5e-7)  # 6 decimals
    assert table["diameter"].isna().all()


def test_golden_csv_plain_and_full():
    plain = read_picks(GOLDEN / "plain.csv")
    np.testing.assert_allclose(
        plain[["x", "y", "diameter"]], [[406.0, 32.2, 62.0], [133.3, 36.9, 62.0]]
    )
    assert plain["score"].isna().all()
    full = read_picks(GOLDEN / "full.csv")
    assert full["micrograph"].tolist() == ["mic_a", "mic_b"]
    assert full["kind"].tolist() == ["vesicle", "fiber"]
    assert full["tube_id"].tolist() == [0, 3]
    assert math.isnan(full["diameter"].iloc[1])
    assert math.isnan(full["score"].iloc[1])


# --- golden files: writing is deterministic ------------------------------------------


@pytest.mark.parametrize(
    ("format", "golden"),
    [
        ("star", "written.star"),
        ("box", "written.box"),
        ("cbox", "written.cbox"),
        ("topaz", "written_topaz.txt"),
        ("csv", "written.csv"),
    ],
)
def test_write_matches_golden_text(tmp_path, format, golden):
    path = write_picks(golden_table(), tmp_path / f"out{SUFFIX[format]}", format)
    assert path.read_text() == (GOLDEN / golden).read_text()


def test_write_fibers_star_matches_golden(tmp_path):
    table = picks.make_picks(
        [100, 110, 400],
        [200, 205, 50.5],
        diameter=24,
        micrograph="fil_007",
        kind="fiber",
        tube_id=[1, 1, 2],
    )
    path = write_picks(table, tmp_path / "fibers.star")
    assert path.read_text() == (GOLDEN / "written_fibers.star").read_text()
    back = read_picks(path)
    assert back["tube_id"].tolist() == [1, 1, 2]
    assert (back["kind"] == "fiber").all()
    np.testing.assert_allclose(back["diameter"], 24)


# --- round trips --------------------------------------------------------------------


@pytest.mark.parametrize("format", list(FORMATS))
def test_round_trip(tmp_path, format):
    table = sample_table()
    options = {"integer": False} if format == "topaz" else {}
    if format == "box":
        options = {"decimals": 3}
    path = write_picks(table, tmp_path / f"mic_001{SUFFIX[format]}", format, **options)
    back = read_picks(path, format)
    assert list(back.columns[:7]) == list(picks.PICK_COLUMNS)
    assert len(back) == len(table)
    assert (back["micrograph"] == "mic_001").all()
    np.testing.assert_allclose(back["x"], table["x"], atol=1e-3)
    np.testing.assert_allclose(back["y"], table["y"], atol=1e-3)
    if format != "topaz":  # Topaz has no diameter
        np.testing.assert_allclose(back["diameter"], table["diameter"], atol=1e-3)
    if format in ("star", "cbox", "topaz", "csv"):
        np.testing.assert_allclose(back["score"], table["score"], atol=1e-4)


@pytest.mark.parametrize("format", list(FORMATS))
def test_empty_table_round_trip(tmp_path, format):
    path = write_picks(picks.empty_picks(), tmp_path / f"none{SUFFIX[format]}", format)
    back = read_picks(path, format)
    assert len(back) == 0
    assert list(back.columns) == list(picks.PICK_COLUMNS)


def test_box_writes_whole_pixels_by_default(tmp_path):
    table = picks.make_picks([100.3], [50.8], diameter=40)
    path = write_picks(table, tmp_path / "a.box")
    assert path.read_text() == "80\t31\t40\t40\n"
    back = read_picks(path)
    assert abs(back["x"].iloc[0] - 100.3) <= 0.5
    assert abs(back["y"].iloc[0] - 50.8) <= 0.5
    # sizes that are not whole pixels (a size head's): the centre still within half a
    # pixel (a trial measured 0.66 px: the corner came from the unrounded size)
    rng = np.random.default_rng(0)
    many = picks.make_picks(
        rng.uniform(50, 900, 200), rng.uniform(50, 900, 200), diameter=rng.uniform(54, 57, 200)
    )
    back = read_picks(write_picks(many, tmp_path / "b.box"))
    assert np.abs(back["x"].to_numpy() - many["x"].to_numpy()).max() <= 0.5
    assert np.abs(back["y"].to_numpy() - many["y"].to_numpy()).max() <= 0.5


def test_box_size_option_and_unknown_diameter(tmp_path):
    table = picks.make_picks([100.0], [200.0])  # no diameter
    with pytest.raises(PickFileError, match="box size unknown") as info:
        write_picks(table, tmp_path / "a.box")
    assert str(info.value).startswith(str(tmp_path / "a.box"))
    assert not (tmp_path / "a.box").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary left behind
    path = write_picks(table, tmp_path / "a.box", box_size=64)
    assert path.read_text() == "68\t168\t64\t64\n"


def test_star_micrograph_suffix_and_per_micrograph_files(tmp_path):
    table = pd.concat([sample_table(3, "mic_a", 1), sample_table(2, "mic_b", 2)], ignore_index=True)
    path = write_picks(table, tmp_path / "all.star", micrograph_suffix=".mrc")
    assert "mic_a.mrc" in path.read_text()
    assert read_picks(path)["micrograph"].tolist() == ["mic_a"] * 3 + ["mic_b"] * 2
    written = write_picks_per_micrograph(
        table, tmp_path / "coords", "star", suffix="_autopick.star"
    )
    assert [p.name for p in written] == ["mic_a_autopick.star", "mic_b_autopick.star"]
    assert "rlnMicrographName" not in written[0].read_text()
    back = read_picks(written[1], micrograph="mic_b")
    np.testing.assert_allclose(back["x"], table["x"].iloc[3:])


def test_per_micrograph_box_files(tmp_path):
    table = pd.concat([sample_table(3, "mic_a", 1), sample_table(2, "mic_b", 2)], ignore_index=True)
    with pytest.raises(PickFileError, match="write_picks_per_micrograph"):
        write_picks(table, tmp_path / "all.box")
    written = write_picks_per_micrograph(table, tmp_path / "boxes", "box", box_size=80)
    assert [p.name for p in written] == ["mic_a.box", "mic_b.box"]
    assert len(read_picks(written[0])) == 3
    assert set(read_picks(written[1])["micrograph"]) == {"mic_b"}


def test_multi_micrograph_topaz_round_trip(tmp_path):
    table = pd.concat([sample_table(3, "mic_a", 1), sample_table(2, "mic_b", 2)], ignore_index=True)
    path = write_picks(table, tmp_path / "picks.txt")
    back = read_picks(path)
    assert back["micrograph"].tolist() == table["micrograph"].tolist()
    np.testing.assert_allclose(back["x"], table["x"].round(), atol=1e-9)


# --- binning and flip -------------------------------------------------------------


@pytest.mark.parametrize("format", ["star", "csv", "cbox"])
def test_binning_writes_binned_pixels_and_reads_back_original(tmp_path, format):
    table = picks.make_picks([401.5, 81.5], [201.5, 1.5], diameter=[80.0, 40.0], score=0.5)
    path = write_picks(table, tmp_path / f"b{SUFFIX[format]}", format, binning=4)
    raw = read_picks(path, format)  # the file itself holds binned pixels
    np.testing.assert_allclose(raw["x"], [100.0, 20.0])
    np.testing.assert_allclose(raw["y"], [50.0, 0.0])
    np.testing.assert_allclose(raw["diameter"], [20.0, 10.0])
    back = read_picks(path, format, binning=4)
    np.testing.assert_allclose(back[["x", "y", "diameter"]], table[["x", "y", "diameter"]])


def test_binning_box_size_is_in_original_pixels(tmp_path):
    table = picks.make_picks([401.5], [201.5])
    path = write_picks(table, tmp_path / "b.box", binning=4, box_size=80)
    assert path.read_text() == "90\t40\t20\t20\n"


def test_flip_is_explicit_and_reversible(tmp_path):
    table = picks.make_picks([10.0, 20.0], [0.0, 99.0], diameter=10)
    plain = read_picks(write_picks(table, tmp_path / "plain.csv"))
    np.testing.assert_allclose(plain["y"], [0.0, 99.0])  # never flipped silently
    path = write_picks(table, tmp_path / "flipped.csv", flip_y_height=100)
    np.testing.assert_allclose(read_picks(path)["y"], [99.0, 0.0])
    np.testing.assert_allclose(read_picks(path, flip_y_height=100)["y"], [0.0, 99.0])
    np.testing.assert_allclose(read_picks(path)["x"], [10.0, 20.0])


def test_flip_and_binning_commute_for_whole_binned_heights(tmp_path):
    table = picks.make_picks([401.5], [21.5], diameter=8)
    path = write_picks(table, tmp_path / "b.star", binning=4, flip_y_height=400)
    raw = read_picks(path)
    np.testing.assert_allclose(raw["y"], [(100 - 1) - 5.0])  # flipped on the 100-row binned grid
    back = read_picks(path, binning=4, flip_y_height=400)
    np.testing.assert_allclose(back[["x", "y"]], table[["x", "y"]])


# --- detection and malformed files -------------------------------------------------


def test_detect_format(tmp_path):
    assert detect_format("a.star") == "star"
    assert detect_format("a.BOX") == "box"
    assert detect_format("a.cbox") == "cbox"
    assert detect_format("a.csv") == "csv"
    assert detect_format(GOLDEN / "topaz_extract.txt") == "topaz"
    csv_txt = tmp_path / "p.txt"
    csv_txt.write_text("x,y\n1,2\n")
    assert detect_format(csv_txt) == "csv"
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    with pytest.raises(PickFileError, match="cannot tell"):
        detect_format(other)
    with pytest.raises(PickFileError, match="unknown pick file suffix"):
        detect_format(tmp_path / "a.xyz")


MALFORMED = {
    "missing_column.star": (
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnAnglePsi\n1 2\n",
        "rlnCoordinateY",
    ),
    "non_numeric.star": (
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\nabc 3\n",
        "non-numeric",
    ),
    "not_star.star": ("hello world\n", "no STAR data block"),
    "non_numeric.box": ("10\t20\t30\tforty\n", "not numeric"),
    "short_line.box": ("10\t20\t30\n", "expected x y width height"),
    "wrong_block.cbox": ("data_global\n\n_cbox_format_version 1.0\n", "no data_cryolo"),
    "missing_width.cbox": (
        "data_cryolo\n\nloop_\n_CoordinateX\n_CoordinateY\n1\t2\n",
        "Width",
    ),
    "bad_header.txt": ("image_name\tx\ty\nm\t1\t2\n", "cannot tell"),
    "non_numeric_topaz.txt": ("image_name\tx_coord\ty_coord\nm\t1\toops\n", "non-numeric"),
    "missing_y.csv": ("x,diameter\n1,2\n", "missing column 'y'"),
    "semicolons.csv": ("x;y;diameter\n1;2;3\n", "separates its columns with ';'"),
    # decimal commas too: a re-trial read only "line 2 has 3 fields, the header names 1"
    "decimal_commas.csv": ("x;y;diameter\n1,5;2,5;3\n", "separates its columns with ';'"),
    "decimal_commas_tabs.csv": ("x\ty\n1,5\t2,5\n", "separates its columns with tabs"),
    "non_numeric.csv": ("x,y\n1,2\n3,four\n", "non-numeric value 'four' in data row 2"),
    "nan_x.star": (
        "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10\t20\nnan\t30\n",
        r"column 'rlnCoordinateX' has no value \(empty or NaN\) in data row 2",
    ),
    "empty_y.csv": ("x,y\n1,2\n3,\n", r"column 'y' has no value \(empty or NaN\) in data row 2"),
}


def test_single_quoted_column_names_are_read_as_the_header_check_reads_them(tmp_path):
    # a re-trial: 'x','y' was taken as a CSV of picks, then "missing column 'x' (columns
    # found: 'x', 'y')"
    path = tmp_path / "quoted.csv"
    path.write_text("'x','y','diameter'\n10,20,30\n")
    picks = read_picks(path)
    assert picks[["x", "y", "diameter"]].to_numpy().tolist() == [[10.0, 20.0, 30.0]]


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_raise_pickfileerror_naming_the_file(tmp_path, name):
    text, message = MALFORMED[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PickFileError, match=message) as info:
        read_picks(path)
    assert str(info.value).startswith(str(path))


def test_wrong_star_block_lists_blocks():
    with pytest.raises(PickFileError, match="data_optics"):
        read_picks(GOLDEN / "relion_optics_only.star")


@pytest.mark.parametrize("suffix", [".star", ".csv", ".txt"])
def test_zero_byte_files_with_headers_are_errors(tmp_path, suffix):
    path = tmp_path / f"zero{suffix}"
    path.write_bytes(b"")
    with pytest.raises(PickFileError, match=r"empty \(0 bytes\)"):
        read_picks(path)


@pytest.mark.parametrize("suffix", [".box", ".cbox"])
def test_zero_byte_box_and_cbox_are_valid_empty_files(tmp_path, suffix):
    path = tmp_path / f"none{suffix}"
    path.write_bytes(b"")
    assert len(read_picks(path)) == 0


def test_missing_file(tmp_path):
    with pytest.raises(PickFileError, match="does not exist"):
        read_picks(tmp_path / "nope.star")


def test_pickfileerror_is_a_valueerror():
    assert issubclass(PickFileError, ValueError)
    assert pickfiles.PickFileError is PickFileError


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_picks(golden_table(), tmp_path / "keep.box")
    before = path.read_text()
    with pytest.raises(PickFileError):
        write_picks(picks.make_picks([1.0], [2.0]), path)  # no box size
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.box"]


def test_real_data_csv(real_data_dir):
    files = sorted((real_data_dir / "empiar10146_apoferritin" / "picks").glob("*.csv"))
    assert files
    table = read_picks(files[0])
    assert len(table) > 10
    assert (table["micrograph"] == files[0].stem).all()
    np.testing.assert_allclose(table["diameter"], 62.0)
    assert table["x"].between(0, 1240).all()
    assert table["y"].between(0, 1200).all()


def test_star_writes_relion_s_no_score_value_for_hand_added_picks(tmp_path):
    # a trial exported a hand-added pick to STAR: its FOM was "<NA>", which RELION
    # cannot read as a number; RELION's manual picker writes -999
    table = sample_table(3, "mic_a", 1)
    table.loc[1, "score"] = np.nan
    path = write_picks(table, tmp_path / "picks.star")
    text = path.read_text()
    assert "<NA>" not in text
    import starfile

    written = starfile.read(path)  # as another STAR reader sees it
    assert written["rlnAutopickFigureOfMerit"].iloc[1] == -999
    back = read_picks(path)
    assert math.isnan(back["score"].iloc[1])  # read back as no score
    np.testing.assert_allclose(back["score"].iloc[[0, 2]], table["score"].iloc[[0, 2]], atol=1e-4)


@pytest.mark.parametrize("value", ["abc", "-3", "nan"])
def test_a_diameter_comment_that_is_no_size_is_said(tmp_path, caplog, value):
    """An I/O trial's "# cryopickDiameter abc" was left out without a word."""
    path = tmp_path / "m.star"
    path.write_text(
        f"# cryopickDiameter {value}\ndata_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n"
    )
    with caplog.at_level("WARNING"):
        table = read_picks(path)
    assert table["diameter"].isna().all()
    assert f"m.star: '# cryopickDiameter {value}' is not a positive number" in caplog.text


def test_star_coordinate_files_give_the_diameter_in_a_comment_relion_skips(tmp_path):
    # an interop trial: RELION prints "+ WARNING: will ignore (but maintain) values for the
    # unknown label: cryopickDiameter" on standard error for every file it reads
    import starfile

    table = sample_table(4, "mic_a", 1).assign(diameter=[55.0, 56.0, 57.0, 56.0])
    path = write_picks(
        table, tmp_path / "mic_a.star", micrograph_names=False, diameter_comment=True
    )
    text = path.read_text()
    assert "# cryopickDiameter 56\n" in text  # the median
    assert "_cryopickDiameter" not in text
    assert list(starfile.read(path).columns) == [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnAutopickFigureOfMerit",
    ]
    assert (read_picks(path)["diameter"] == 56.0).all()
    # a filtered copy keeps the comment, so the diameter too
    from napari_cryopick.io.pickfiles import write_kept_rows

    kept = tmp_path / "kept.star"
    write_kept_rows(path, kept, np.array([True, False, True, True]), "star")
    assert (read_picks(kept)["diameter"] == 56.0).all()
    # vesicles keep each one's own diameter; so do particles of several sizes unless asked
    circles = table.assign(diameter=[150.0, 180.0, 200.0, 150.0], kind="vesicle")
    varied = write_picks(circles, tmp_path / "v.star", diameter_comment=True)
    assert read_picks(varied)["diameter"].tolist() == [150.0, 180.0, 200.0, 150.0]
    named = write_picks(table, tmp_path / "all.star")
    assert read_picks(named)["diameter"].tolist() == [55.0, 56.0, 57.0, 56.0]
    # one diameter for all: the comment by default (nothing lost)
    one = write_picks(table.assign(diameter=56.0), tmp_path / "one.star")
    assert "_cryopickDiameter" not in one.read_text()
    assert (read_picks(one)["diameter"] == 56.0).all()


def test_topaz_writes_a_number_for_hand_added_picks(tmp_path):
    # an interop trial: "<NA>" for a hand-added pick; RELION reads a Topaz file's scores
    # with textToFloat (readTopazCoordinates), and Topaz files have no "no score"
    table = sample_table(3, "mic_a", 1)
    table.loc[1, "score"] = np.nan
    path = write_picks(table, tmp_path / "picks.txt", "topaz")
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    scores = [float(row[3]) for row in rows]  # every field a number
    assert scores[1] == pytest.approx(16.118096, abs=1e-6)  # the most certain pick
    assert scores[1] > max(scores[0], scores[2])
    back = read_picks(path)
    assert back["score"].iloc[1] == pytest.approx(1.0, abs=1e-6)
    # a file of hand picks only keeps the score column too (files are joined under one
    # header; a 3-column header over 4-field rows shifts every field in pandas)
    hand = write_picks(table.assign(score=np.nan), tmp_path / "hand.txt", "topaz")
    assert hand.read_text().splitlines()[0].split("\t") == [
        "image_name",
        "x_coord",
        "y_coord",
        "score",
    ]


# --- micrograph names: spaces, one name per micrograph, RELION's index -------------------


def _spaced_writers(tmp_path: Path, table: pd.DataFrame) -> dict[str, Path]:
    from napari_cryopick.io.cryosparc import write_import_star
    from napari_cryopick.io.relion import write_coordinate_files_star

    star = write_picks(table, tmp_path / "picks.star", micrograph_suffix=".mrc")
    cryosparc = tmp_path / "import.star"
    write_import_star(table, cryosparc)
    index = write_coordinate_files_star(
        tmp_path,
        [("Movies/sim 0000 v1.2.mrc", tmp_path / "Movies" / "sim 0000 v1.2_autopick.star")],
        project_dir=tmp_path,
    )
    return {"star": star, "cryosparc": cryosparc, "index": index}


def test_star_writers_quote_names_with_spaces_so_starfile_reads_them_back(tmp_path):
    import starfile

    table = sample_table(3, micrograph="sim 0000 v1.2")
    for kind, path in _spaced_writers(tmp_path, table).items():
        block = starfile.read(path, always_dict=True)
        name = next(iter(block.values()))["rlnMicrographName"].tolist()[0]
        assert name == ("Movies/sim 0000 v1.2.mrc" if kind == "index" else "sim 0000 v1.2.mrc")
        assert '"' in path.read_text()
    back = read_picks(tmp_path / "picks.star")
    assert set(back["micrograph"]) == {"sim 0000 v1.2"}
    np.testing.assert_allclose(back["x"], table["x"])


def test_star_value_refuses_what_no_reader_takes_back(tmp_path):
    from napari_cryopick.io.formats import star_value

    assert star_value("mic_001.mrc") == "mic_001.mrc"
    assert star_value("a b.mrc") == '"a b.mrc"'
    assert star_value("") == '""'
    with pytest.raises(PickFileError, match=r"b\.star: .*double quote"):
        write_picks(sample_table(1, micrograph='a "b c'), tmp_path / "b.star")
    assert not (tmp_path / "b.star").exists()


@pytest.mark.parametrize("name", ["#1", "_x", "data_a", "loop_b"])
def test_star_names_that_look_like_star_syntax_read_back(tmp_path, name):
    # a micrograph called "#1" was written bare: a comment to every STAR reader
    import starfile

    path = write_picks(sample_table(2, micrograph=name), tmp_path / "m.star")
    assert set(read_picks(path)["micrograph"]) == {name}
    assert set(starfile.read(path)["rlnMicrographName"]) == {name}


def test_one_file_naming_two_micrographs_of_one_name_is_refused(tmp_path):
    path = tmp_path / "picks.star"
    path.write_text(
        "data_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
        "_rlnMicrographName #3\n"
        "10\t20\tMotionCorr/job003/GridA/FoilHole_1.mrc\n"
        "30\t40\tMotionCorr/job003/GridB/FoilHole_1.mrc\n"
    )
    with pytest.raises(
        PickFileError, match=r"picks\.star: micrograph names must be unique"
    ) as error:
        read_picks(path)
    assert "GridA/FoilHole_1.mrc" in str(error.value)
    assert "GridB" in str(error.value)
    assert "\n" not in str(error.value)


def test_read_pick_files_refuses_one_micrograph_from_two_files(tmp_path):
    for folder in ("GridA", "GridB"):
        (tmp_path / folder).mkdir()
        write_picks(sample_table(2, micrograph=""), tmp_path / folder / "FoilHole_1.csv")
    files = [tmp_path / "GridA" / "FoilHole_1.csv", tmp_path / "GridB" / "FoilHole_1.csv"]
    with pytest.raises(PickFileError, match="micrograph names must be unique") as error:
        pickfiles.read_pick_files(files)
    assert str(files[0]) in str(error.value)
    assert str(files[1]) in str(error.value)


def test_read_pick_files_of_one_folder_in_two_formats_says_how_to_give_one(tmp_path):
    # a CLI trial gave cryopick train a folder picked in five formats: the advice named
    # cryopick evaluate's options, which train has not
    write_picks(sample_table(2, micrograph=""), tmp_path / "m.star")
    write_picks(sample_table(2, micrograph=""), tmp_path / "m.csv")
    with pytest.raises(PickFileError, match="micrograph names must be unique") as error:
        pickfiles.read_pick_files([tmp_path / "m.csv", tmp_path / "m.star"])
    assert f"the files of one format, '{tmp_path / '*.csv'}' (quoted" in str(error.value)


def test_read_pick_files_names_a_link_to_a_file_also_given(tmp_path):
    # a multi-micrograph file and a link of another name to it: the same picks twice, said
    # as such (it was "two files of one micrograph", naming no link)
    table = pd.concat([sample_table(2, micrograph="a"), sample_table(2, micrograph="b")])
    write_picks(table, tmp_path / "picks.star")
    (tmp_path / "other.star").symlink_to(tmp_path / "picks.star")
    files = [tmp_path / "other.star", tmp_path / "picks.star"]
    with pytest.raises(PickFileError, match="the same file as") as error:
        pickfiles.read_pick_files(files)
    assert str(files[0]) in str(error.value)
    assert str(files[1]) in str(error.value)
    assert "link" in str(error.value)


def test_read_pick_files_takes_the_fibers_file_of_a_mixed_model_with_its_micrograph(tmp_path):
    # `cryopick pick` with a model of fibers and particles writes mic.star and
    # mic_fibers.star: one micrograph, other kinds, so no name clash
    particles = sample_table(3, micrograph="")
    fibers = sample_table(4, micrograph="").assign(kind="fiber", tube_id=1)
    write_picks(particles, tmp_path / "mic.csv")
    write_picks(fibers, tmp_path / "mic_fibers.csv")
    table = pickfiles.read_pick_files(sorted(tmp_path.glob("*.csv")), names={"mic"})
    assert table.groupby("kind").size().to_dict() == {"fiber": 4, "particle": 3}
    assert set(table["micrograph"]) == {"mic"}
    # particles in both: mic_fibers is then a micrograph of its own, as mic_1_b
    # next to mic_1 (a review found evaluate refusing those)
    write_picks(sample_table(2, micrograph=""), tmp_path / "mic_fibers.csv")
    table = pickfiles.read_pick_files(sorted(tmp_path.glob("*.csv")), names={"mic"})
    assert table.groupby("micrograph").size().to_dict() == {"mic": 3, "mic_fibers": 2}


def test_a_name_that_extends_another_is_not_taken_for_it(tmp_path):
    for name, n in (("mic_1", 2), ("mic_1_b", 3)):
        write_picks(sample_table(n, micrograph=""), tmp_path / f"{name}.star")
    files = sorted(tmp_path.glob("*.star"))
    table = pickfiles.read_pick_files(files, names={"mic_1"})
    assert table.groupby("micrograph").size().to_dict() == {"mic_1": 2, "mic_1_b": 3}
    # alone, mic_1_b.star is taken for mic_1 (as mic_1_autopick.star would be)
    alone = pickfiles.read_pick_files(files[1:], names={"mic_1"})
    assert set(alone["micrograph"]) == {"mic_1"}


def test_read_pick_files_matches_per_micrograph_files_as_training_does(tmp_path):
    write_picks(sample_table(2, micrograph=""), tmp_path / "mic_001_autopick.star")
    write_picks(sample_table(3, micrograph=""), tmp_path / "mic_002_manualpick.star")
    files = sorted(tmp_path.glob("*.star"))
    table = pickfiles.read_pick_files(files, names={"mic_001", "mic_002", "mic"})
    assert table.groupby("micrograph").size().to_dict() == {"mic_001": 2, "mic_002": 3}
    unmatched = pickfiles.read_pick_files(files)
    assert set(unmatched["micrograph"]) == {"mic_001_autopick", "mic_002_manualpick"}
    assert pickfiles.match_name("mic_001.mrc", {"mic_001"}) == "mic_001"
    assert pickfiles.match_name("mic_0011", {"mic_001"}) is None


def test_a_pick_file_without_picks_still_names_its_micrograph(tmp_path):
    # cryopick pick writes a header-only file where it found nothing: cryopick evaluate
    # read no row of it and called the micrograph unpicked
    write_picks(sample_table(2, micrograph=""), tmp_path / "mic_001_autopick.star")
    write_picks(sample_table(0, micrograph=""), tmp_path / "mic_002_autopick.star")
    write_picks(sample_table(0, micrograph=""), tmp_path / "picks.star")  # names none
    files = sorted(tmp_path.glob("*.star"))
    names = {"mic_001", "mic_002", "mic_003"}
    table, micrographs = pickfiles.read_pick_files_and_names(files, names=names)
    assert set(table["micrograph"]) == {"mic_001"}
    assert micrographs == {"mic_001", "mic_002"}
    assert pickfiles.read_pick_files(files, names=names).equals(table)
    _table, unmatched = pickfiles.read_pick_files_and_names(files)
    assert unmatched == {"mic_001_autopick"}  # no names: an empty file names none


def test_pick_files_named_without_the_micrographs_dw_suffix_match_them():
    # a trial trained on MotionCor2's sim_000N_DW.mrc with picks sim_000N.star: "no
    # labelled particles", naming neither side
    names = {"sim_0000_DW", "sim_0001_DW", "mic_001_DW", "mic_001_noDW"}
    assert pickfiles.match_name("sim_0000", names) == "sim_0000_DW"
    assert pickfiles.match_name("sim_0000_autopick", names) is None  # not a prefix either way
    assert pickfiles.match_name("mic_001", names) is None  # two micrographs extend it
    assert pickfiles.match_name("sim_000", names) is None  # no separator after it
    assert pickfiles.match_name("sim_0001_DW", names) == "sim_0001_DW"


def test_relion_coordinate_file_index_reads_the_files_it_lists(tmp_path, monkeypatch):
    from napari_cryopick.io.relion import write_coordinate_files_star

    project = tmp_path / "project"
    job = project / "External" / "job010"
    (job / "Movies").mkdir(parents=True)
    entries = []
    for index, name in enumerate(("mic_001", "mic_002")):
        coordinates = job / "Movies" / f"{name}_autopick.star"
        write_picks(sample_table(2 + index, micrograph=name), coordinates, micrograph_names=False)
        entries.append((f"MotionCorr/job003/Movies/{name}.mrc", coordinates))
    index = write_coordinate_files_star(job, entries, project_dir=project)
    monkeypatch.chdir(tmp_path)  # not the project folder: found above the index
    table = read_picks(index)
    assert table.groupby("micrograph").size().to_dict() == {"mic_001": 2, "mic_002": 3}
    assert len(read_picks(index, micrograph="mic_002")) == 3
    (job / "Movies" / "mic_002_autopick.star").unlink()
    with pytest.raises(PickFileError, match=r"autopick\.star: data row 2: coordinate file"):
        read_picks(index)


def test_coordinate_file_indices_listing_each_other_are_refused_by_name(tmp_path):
    """A lists B lists A: a clear error naming the file, not a RecursionError."""
    header = "data_coordinate_files\n\nloop_\n_rlnMicrographName #1\n_rlnMicrographCoordinates #2\n"
    (tmp_path / "a.star").write_text(header + "mic1.mrc b.star\n")
    (tmp_path / "b.star").write_text(header + "mic1.mrc a.star\n")
    with pytest.raises(PickFileError, match=r"a\.star: lists .*b\.star, itself a coordinate-file"):
        read_picks(tmp_path / "a.star")


@pytest.mark.parametrize(
    "column",
    ["micrograph_name", "Micrograph_Path", "image_name", "rlnMicrographName", "filename"],
)
def test_csv_reads_the_micrograph_under_other_tools_column_names(tmp_path, column):
    """A CSV naming its micrographs 'micrograph_name' was read as one micrograph named
    after the file (user trial helper-29)."""
    path = tmp_path / "exported.csv"
    path.write_text(f"{column},x,y\nJ5/mic_1.mrc,10,20\nJ5/mic_2.mrc,30,40\n")
    table = read_picks(path)
    assert list(table["micrograph"]) == ["mic_1", "mic_2"]


def test_a_csv_column_of_micrograph_files_under_another_name_is_refused_naming_it(tmp_path):
    """A CLI trial's CSV named its micrographs 'mic_path' (any name not read as the
    micrograph): the picks of 3 micrographs were read as one micrograph's, named after the
    file, and training said only "no labelled particles". Now refused, naming the column;
    a text column of other values (notes) is no such column."""
    path = tmp_path / "exported.csv"
    path.write_text("mic_path,x,y\nJ5/mic_1.mrc,10,20\nJ5/mic_2.MRC,30,40\n")
    with pytest.raises(
        PickFileError, match=r"exported\.csv: its column 'mic_path' holds micrograph file names"
    ):
        read_picks(path)
    path.write_text("x,y,note\n10,20,edge\n30,40,good.\n")
    assert list(read_picks(path)["micrograph"]) == ["exported", "exported"]
    # a review: an empty micrograph column beside the names read the same; the names of
    # an alias column that holds them are read (particle stacks are no micrographs)
    path.write_text("micrograph,mic_path,x,y\n,J5/mic_1.mrc,10,20\n,J5/mic_2.mrc,30,40\n")
    with pytest.raises(PickFileError, match=r"its column 'mic_path' holds micrograph file"):
        read_picks(path)
    path.write_text("micrograph,filename,x,y\n,J5/mic_1.mrc,10,20\n,J5/mic_2.mrc,30,40\n")
    assert list(read_picks(path)["micrograph"]) == ["mic_1", "mic_2"]
    path.write_text("rlnImageName,x,y\n000001@J5/stack_1.mrcs,10,20\n000002@J5/s.mrcs,3,4\n")
    assert list(read_picks(path)["micrograph"]) == ["exported", "exported"]


def test_a_blank_line_between_loop_and_its_labels_is_said_not_pandas_internals(tmp_path):
    """A fuzz test (CI, session 58): ``loop_``, a blank line, then the labels read as
    "not a valid STAR file: Length mismatch: Expected axis has 1 elements" (starfile
    reads no loop then, with rows or without)."""
    from napari_cryopick.io.filaments import read_relion_helical

    path = tmp_path / "gap.star"
    for rows in ("", "1 2\n3 4\n"):
        path.write_text(f"data_\nloop_\n\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n{rows}")
        for read in (read_picks, read_relion_helical):
            with pytest.raises(PickFileError, match=r"gap\.star: not a valid STAR file: line 3: a "
                               r"blank line between loop_ \(line 2\) and its labels"):  # fmt: skip
                read(path)


def test_topaz_binning_follows_topaz_s_own_rule(tmp_path):
    """topaz preprocess -s 4 crops in Fourier space: original = 4 x downsampled, no half-block
    shift (the block-averaging rule put every pick 1.5 px off; user trial helper-32)."""
    path = tmp_path / "picks.txt"
    path.write_text("image_name\tx_coord\ty_coord\tscore\nmic_1\t37\t13\t2.0\n")
    table = read_picks(path, binning=4)
    np.testing.assert_allclose(table[["x", "y"]].to_numpy(), [[148.0, 52.0]])
    written = write_picks(table, tmp_path / "back.txt", binning=4)
    back = read_picks(written)
    np.testing.assert_allclose(back[["x", "y"]].to_numpy(), [[37.0, 13.0]])


# --- malformed files (a fuzzing review) -------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        # one field more than the header: pandas took the first as an index and
        # shifted every value a column over (x=20 for x=10), silently
        ("extra.csv", "x,y,diameter\n10,20,30,0.9\n40,50,60,0.8\n", "line 2 has 4 fields"),
        ("twice.csv", "x,y,x\n1,2,3\n", "column 'x' more than once"),
        (
            "extra.txt",
            "image_name\tx_coord\ty_coord\n10\t20\t30\t1.5\n",
            "line 2 has 4 fields",
        ),
        (
            "labels.star",
            "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnCoordinateX #3\n1 2 3\n",
            "'rlnCoordinateX' .*more than once",
        ),
        (
            "labels.cbox",
            "data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n_Width\n_Width\n_Height\n1 2 3 3 3\n",
            "'Width' .*more than once",
        ),
        (
            "tube.star",
            "data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n1 2 1.7\n",
            r"column 'rlnHelicalTubeID' has 1\.7 in data row 1: a tube id is a whole number",
        ),
        (  # an I/O fuzz: read as a 2 px particle 220 px off, unsaid
            "negative.cbox",
            "data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n_Width\n_Height\n_EstWidth\n"
            "_EstHeight\n300 300 -220 220 -180 184\n",
            "data row 1 has _Width -220, which is not > 0",
        ),
        (  # an I/O fuzz: one Latin-1 byte in a row was "cannot tell the pick format"
            "latin1.txt",
            "image_name\tx_coord\ty_coord\tscore\nmic_\udce9\t120\t340\t2.9\n",
            r"not a UTF-8 text file \(byte 37",
        ),
        ("tube.csv", "x,y,tube_id\n1,2,-1\n", "tube id is a whole number"),
        ("huge.csv", "x,y,tube_id\n1,2,1e30\n", "tube id is a whole number"),
        ("kind.csv", "x,y,kind\n1,2,banana\n", "the kind 'banana'"),
    ],
)
def test_malformed_pick_files_are_refused_naming_file_and_row(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(PickFileError, match=match) as info:
        read_picks(path)
    assert str(info.value).startswith(str(path))


def test_a_trailing_separator_is_no_extra_field_and_short_rows_are_empty_fields(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("x,y,diameter,\n10,20,30,\n")
    table = read_picks(path)
    assert table[["x", "y", "diameter"]].to_numpy().tolist() == [[10.0, 20.0, 30.0]]
    short = tmp_path / "short.txt"
    short.write_text("image_name x_coord y_coord score\nm 1 2\n")  # no score: none known
    assert np.isnan(read_picks(short)["score"]).all()
    quoted = tmp_path / "quoted.csv"  # a quoted name with a comma stays one field
    quoted.write_text('x,y,micrograph\n1,2,"a,b"\n')
    assert read_picks(quoted)["micrograph"].tolist() == ["a,b"]


def test_a_csv_cut_short_in_its_last_row_is_refused(tmp_path):
    # a trial's head -c of a pick CSV: its last half row read as a pick of a micrograph
    # named after the file, where STAR and CBOX files cut so are refused
    whole = write_picks(sample_table(5), tmp_path / "whole.csv", "csv")
    text = whole.read_bytes()
    last_row = text.rstrip(b"\n").rsplit(b"\n", 1)[1]
    cut = tmp_path / "cut.csv"
    cut.write_bytes(text.rstrip(b"\n")[: -(len(last_row) // 2)])
    with pytest.raises(PickFileError, match=r"cut\.csv: its last line .* no line end: the"):
        read_picks(cut)
    # a whole last row without a line end, or a short row that ends its line, reads
    ended = tmp_path / "ended.csv"
    ended.write_bytes(text.rstrip(b"\n"))
    assert len(read_picks(ended)) == 5
    short = tmp_path / "short.csv"
    short.write_text("x,y,diameter,score\n10,20\n")
    assert read_picks(short)[["x", "y"]].to_numpy().tolist() == [[10.0, 20.0]]


@pytest.mark.parametrize("format", ["box", "topaz", "csv", "star", "cbox"])
def test_a_byte_order_mark_is_read_past(tmp_path, format):
    """BOX and Topaz files written by Windows tools with a BOM were refused."""
    plain = write_picks(sample_table(3), tmp_path / f"plain{SUFFIX[format]}", format)
    marked = tmp_path / f"marked{SUFFIX[format]}"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    pd.testing.assert_frame_equal(
        read_picks(marked, micrograph="mic_001"), read_picks(plain, micrograph="mic_001")
    )
    from napari_cryopick._reader import get_picks_reader

    assert get_picks_reader(str(marked)) is not None  # napari opens it too


def test_a_star_file_not_in_utf8_says_so(tmp_path):
    path = tmp_path / "latin.star"
    path.write_bytes("data_\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n"
                     "caf\xe9.mrc 1 2\n".encode("latin-1"))  # fmt: skip
    with pytest.raises(PickFileError, match="not a UTF-8 text file"):
        read_picks(path)


@pytest.mark.parametrize("format", ["star", "box", "cbox", "topaz", "csv"])
def test_nothing_is_written_that_cannot_be_read_back(tmp_path, format):
    """The napari writers wrote NaN positions and names with line breaks."""
    nan = picks.make_picks([10.0, np.nan], [5.0, 6.0], diameter=20.0, micrograph="m")
    with pytest.raises(PickFileError, match="data row 2 has a NaN or infinite coordinate"):
        write_picks(nan, tmp_path / f"nan{SUFFIX[format]}", format)
    broken = picks.make_picks([10.0], [5.0], diameter=20.0, micrograph="m\nx")
    with pytest.raises(PickFileError, match="line break"):
        write_picks(broken, tmp_path / f"name{SUFFIX[format]}", format)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("row", ["1e300,1e300,50", "-2e7,5,50", "5,5,3e7"])
def test_coordinates_and_sizes_beyond_any_micrograph_are_refused_naming_the_file(tmp_path, row):
    """An I/O trial's 1e300 overflowed scipy's KD-tree in cryopick evaluate, naming no file."""
    path = tmp_path / "huge.csv"
    path.write_text(f"x,y,diameter\n300,300,50\n{row}\n")
    with pytest.raises(PickFileError, match=r"huge\.csv: data row 2 has a \w+ beyond any"):
        read_picks(path)
    path.write_text("x,y,diameter\n300,300,50\n9e6,9e6,9e6\n")  # large, but possible
    assert len(read_picks(path)) == 2


def test_a_topaz_file_refuses_a_micrograph_name_with_a_tab(tmp_path):
    """An I/O trial's micrograph "tab<TAB>x.mrc" was written to Topaz, which could not be
    read back ("line 2 has 5 fields")."""
    tabbed = picks.make_picks([10.0], [5.0], diameter=20.0, micrograph="tab\tx")
    with pytest.raises(PickFileError, match="names with tabs"):
        write_picks(tabbed, tmp_path / "t.txt", "topaz")
    assert not list(tmp_path.iterdir())
    write_picks(tabbed, tmp_path / "t.star", "star")  # other formats take it back
    assert read_picks(tmp_path / "t.star")["micrograph"].tolist() == ["tab\tx"]


def test_a_cbox_file_of_tomogram_picks_is_refused(tmp_path):
    """crYOLO's tomogram CBOX (picks at several _CoordinateZ) was read as 2-D, every
    slice's picks piled onto one image (an I/O trial)."""
    header = "data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n_CoordinateZ\n_Width\n_Height\n"
    tomogram = tmp_path / "tomo.cbox"
    tomogram.write_text(header + "10 10 12 20 20\n30 30 40 20 20\n")
    with pytest.raises(PickFileError, match=r"tomo\.cbox: picks at 2 depths.*tomogram"):
        read_picks(tomogram)
    for z in ("<NA> ", "0 "):  # crYOLO's 2-D files: no depth, or one
        flat = tmp_path / "flat.cbox"
        flat.write_text(header + f"10 10 {z}20 20\n30 30 {z}20 20\n")
        assert read_picks(flat)["x"].tolist() == [20.0, 40.0]


def test_scores_outside_0_1_are_warned_about_once(tmp_path, caplog, monkeypatch):
    monkeypatch.setitem(pickfiles._SAID, "scores", False)
    path = tmp_path / "logits.csv"
    path.write_text("x,y,score\n1,2,5\n3,4,-3\n")
    with caplog.at_level("WARNING"):
        read_picks(path)
        read_picks(path)  # a folder of such files: said once
    assert caplog.text.count("scores from -3 to 5, outside 0-1") == 1


def test_refined_shifts_a_star_file_carries_are_said_not_applied(tmp_path, caplog, monkeypatch):
    # an interop trial: particles after Refine3D (rlnOriginXAngst 15, rlnOriginYAngst -30
    # at 1.5 A/px, 10 and 20 px off) were trained on and evaluated against unsaid
    monkeypatch.setitem(pickfiles._SAID, "origins", False)
    header = "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n"
    refined = tmp_path / "refined.star"
    refined.write_text(
        header + "_rlnOriginXAngst\n_rlnOriginYAngst\n100 200 m.mrc 15 -30\n50 60 m.mrc 0 0\n"
    )
    plain = tmp_path / "plain.star"
    plain.write_text(header + "_rlnOriginXAngst\n_rlnOriginYAngst\n100 200 m.mrc 0 0\n")
    with caplog.at_level("WARNING"):
        table = read_picks(plain)
        assert "refined shifts" not in caplog.text  # all zero: nothing to say
        table = read_picks(refined)
        read_picks(refined)
    assert table["x"].tolist() == [100.0, 50.0]  # as they are
    assert (
        caplog.text.count(
            "refined.star: its particles carry refined shifts (rlnOriginXAngst/rlnOriginYAngst, "
            "up to 30 Å) that are not applied"
        )
        == 1
    )
    relion30 = tmp_path / "relion30.star"
    relion30.write_text(header + "_rlnOriginX\n_rlnOriginY\n100 200 m.mrc 2.5 0\n")
    monkeypatch.setitem(pickfiles._SAID, "origins", False)
    with caplog.at_level("WARNING"):
        read_picks(relion30)
    assert "(rlnOriginX/rlnOriginY, up to 2.5 px)" in caplog.text


def test_topaz_scores_survive_the_round_trip_at_a_threshold(tmp_path):
    """A trial: 0.3 written as the logit -0.8473 read back as 0.29999955, below 0.3."""
    scores = np.round(np.linspace(0.01, 0.99, 99), 2)
    table = picks.make_picks(np.arange(99.0), np.arange(99.0), score=scores, micrograph="m")
    back = read_picks(write_picks(table, tmp_path / "m.txt", "topaz"))
    np.testing.assert_array_equal(back["score"].to_numpy(), scores)
    # beyond |logit| 13 nothing is rounded: the most confident picks keep their order
    path = tmp_path / "sure.txt"
    path.write_text("image_name\tx_coord\ty_coord\tscore\nm\t1\t1\t14.5\nm\t2\t2\t16\n")
    sure = read_picks(path)["score"].to_numpy()
    assert sure[0] < sure[1] < 1.0


# --- files other programs read and write (an interoperability trial, 2026-12-02) ----------


def test_an_empty_topaz_file_keeps_the_score_column_for_joining(tmp_path):
    """Topaz files of one run are joined under the first file's header (docs/file-
    conventions.md); an empty micrograph's 3-column header over 4-field rows made pandas
    shift every field by one without an error (Topaz reads its targets with pandas)."""
    empty = write_picks(picks.empty_picks(), tmp_path / "a.txt", "topaz")
    full = write_picks(sample_table(3, micrograph="b"), tmp_path / "b.txt", "topaz")
    assert empty.read_text().split() == ["image_name", "x_coord", "y_coord", "score"]
    joined = tmp_path / "all.txt"
    joined.write_text(empty.read_text() + "".join(full.read_text().splitlines(True)[1:]))
    frame = pd.read_csv(joined, sep="\t")
    assert frame["image_name"].tolist() == ["b"] * 3
    np.testing.assert_allclose(frame["x_coord"], sample_table(3)["x"].round())


def test_an_empty_star_file_has_the_labels_of_a_full_one(tmp_path):
    """A CLI trial: a micrograph without picks got a STAR file of coordinates alone, the
    run's others a figure-of-merit column too (tables joined with starfile came out
    uneven)."""
    import starfile

    options = {"micrograph_names": False, "diameter_comment": True, "scores": True}  # a run's
    empty = write_picks(picks.empty_picks(), tmp_path / "a.star", "star", **options)
    run = sample_table(3).assign(diameter=56.0)
    full = write_picks(run, tmp_path / "b.star", "star", **options)
    assert list(starfile.read(empty).columns) == list(starfile.read(full).columns)
    assert len(read_picks(empty)) == 0
    # by default only where a pick has a score (files of hand picks hold no FOM: a review)
    unscored = write_picks(picks.empty_picks(), tmp_path / "c.star", "star")
    assert "rlnAutopickFigureOfMerit" not in unscored.read_text()


def test_a_star_file_with_two_coordinate_blocks_is_refused_with_their_names(tmp_path):
    two = tmp_path / "two.star"
    two.write_text(
        "data_a\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n3 4\n\n"
        "data_b\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n5 6\n7 8\n9 10\n"
    )
    with pytest.raises(PickFileError, match=r"two\.star: has 2 blocks .*data_a \(2 rows\), data_b"):
        read_picks(two)
    same = tmp_path / "same.star"  # two files joined with cat: starfile kept only the last
    same.write_text(
        "data_particles\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n3 4\n\n"
        "data_particles\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n5 6\n"
    )
    with pytest.raises(PickFileError, match=r"same\.star: .*data_particles \(2 times\)"):
        read_picks(same)
    # RELION 3.1 files (optics and particles) still read
    assert len(read_picks(GOLDEN / "relion31_particles.star")) == 3


def test_fibers_as_relion_start_end_pairs_read_back_as_paths_with_width_and_score(tmp_path):
    """A trial reread each exported fiber with its joints twice (6 of 13 steps of length
    0), no width and no score (the threshold slider could not act on it)."""
    from napari_cryopick.io.filaments import write_relion_helical

    bent = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])
    straight = np.array([[0.0, 300.0], [200.0, 300.0]])
    target = write_relion_helical(
        {"m": [bent, straight]},
        tmp_path / "m.star",
        micrograph_names=False,
        width_px=24.0,
        scores={"m": [0.8, 0.3]},
    )
    back = read_picks(target)
    assert (back["kind"] == "fiber").all()
    assert back["tube_id"].tolist() == [1, 1, 1, 1, 2, 2]
    np.testing.assert_allclose(back[["x", "y"]].to_numpy()[:4], bent)
    np.testing.assert_allclose(back["diameter"], 24.0)
    np.testing.assert_allclose(back["score"], [0.8] * 4 + [0.3] * 2)
    # RELION's manual picking with tube ids: one pair a tube
    relion = tmp_path / "manual.star"
    relion.write_text(
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n"
        "0 0 1\n50 0 1\n10 10 2\n10 60 2\n"
    )
    manual = read_picks(relion)
    assert manual["tube_id"].tolist() == [1, 1, 2, 2]
    assert manual["score"].isna().all()


def test_a_cryolo_filament_start_end_box_file_reads_as_fibers(tmp_path):
    """crYOLO's EMAN1 filament start-end files mark starts -1 and ends -2 in a fifth
    column; they were read as particles (fiber ends trained as particles)."""
    path = tmp_path / "fil.box"
    path.write_text("100\t200\t40\t40\t-1\n300\t200\t40\t40\t-2\n50 60 40 40 -1\n50 260 40 40 -2\n")
    table = read_picks(path)
    assert (table["kind"] == "fiber").all()
    assert table["tube_id"].tolist() == [1, 1, 2, 2]
    np.testing.assert_allclose(table[["x", "y"]], [[120, 220], [320, 220], [70, 80], [70, 280]])
    bad = tmp_path / "bad.box"
    bad.write_text("100 200 40 40 -1\n300 200 40 40 -1\n")
    with pytest.raises(PickFileError, match=r"bad\.box: line 2: .*-2 belongs"):
        read_picks(bad)
    plain = tmp_path / "plain.box"  # other extra columns stay ignored
    plain.write_text("100 200 40 40 0.9\n")
    assert read_picks(plain)["kind"].tolist() == ["particle"]


def test_segments_with_tube_ids_alone_are_not_read_as_start_end_pairs(tmp_path):
    """napari-boxmanager writes resampled filaments as X, Y and tube id only, with any
    number of rows per tube: a pair across two tubes is no start-end pair."""
    from napari_cryopick.io.filaments import read_relion_helical

    path = tmp_path / "boxmanager.star"
    path.write_text(
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n"
        "100 100 1\n120 100 1\n140 100 1\n500 500 2\n500 520 2\n500 540 2\n"
    )
    table = read_picks(path)
    assert table["tube_id"].tolist() == [1, 1, 1, 2, 2, 2]
    paths = read_relion_helical(path)[""]
    assert [len(p) for p in paths] == [3, 3]


def test_a_star_row_with_too_few_or_too_many_values_is_refused_with_its_line(tmp_path):
    # a row cut short read as a pick on a micrograph named after the file (starfile fills
    # the missing name with nothing); one too long said "Expected 2 fields in line 2"
    header = "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n"
    short = tmp_path / "short.star"
    short.write_text(header + "10 20 a.mrc\n30 40\n50 60 a.mrc\n")
    with pytest.raises(PickFileError, match=r"short\.star: .*line 8: 2 values, .* has 3 labels"):
        read_picks(short)
    long = tmp_path / "long.star"
    long.write_text(header + "10 20 a.mrc\n30 40 a.mrc 7\n")
    with pytest.raises(PickFileError, match=r"long\.star: .*line 8: 4 values, .* has 3 labels"):
        read_picks(long)
    # quoted names with spaces, comments, and pairs after a loop still read
    fine = tmp_path / "fine.star"
    fine.write_text(
        "# written by hand\ndata_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n"
        "_rlnMicrographName\n10 20 \"my mic.mrc\"\n30 40 'my mic.mrc'\n\n"
        "data_info\n\n_rlnVersion 30001\n"
    )
    table = read_picks(fine)
    assert len(table) == 2
    assert set(table["micrograph"]) == {"my mic"}
    # a quote opens a value only at its start (a re-trial's "Mike's_mic" was refused)
    apostrophe = tmp_path / "apostrophe.star"
    apostrophe.write_text(header + "10 20 Mike's_mic.mrc\n30 40 b.mrc\n")
    assert len(read_picks(apostrophe)) == 2  # (starfile reads the name as Mike"s_mic)


# --- copies with some rows dropped (cryopick filter) -------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "relion31_particles.star",
        "relion30_multi.star",
        "relion_autopick.star",
        "cryolo18.cbox",
        "cryolo_legacy.cbox",
        "cryolo_filaments.cbox",
        "eman.box",
    ],
)
def test_write_kept_rows_drops_rows_and_keeps_every_other_line(tmp_path, name):
    # a filtered RELION particles file lost its optics block, its other columns and the
    # folders of its micrograph names; a filtered CBOX file its box size
    source = GOLDEN / name
    table = read_picks(source)
    assert len(table) >= 2
    keep = np.arange(len(table)) % 2 == 0  # the first row kept, the second dropped
    target = tmp_path / name
    assert pickfiles.write_kept_rows(source, target, keep) == target
    lines, kept_lines = source.read_text().splitlines(), target.read_text().splitlines()
    assert len(lines) - len(kept_lines) == int((~keep).sum())
    assert [line for line in lines if line in kept_lines] == kept_lines  # in order, unchanged
    wanted = read_picks(source)[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_picks(target), wanted)


def test_write_kept_rows_keeps_line_ends_and_filament_ends_together(tmp_path):
    source = tmp_path / "crlf.star"
    source.write_bytes(
        b"data_\r\n\r\nloop_\r\n_rlnCoordinateX #1\r\n_rlnCoordinateY #2\r\n"
        b'_rlnMicrographName #3\r\n1 2 "my mic.mrc"\r\n3 4 "my mic.mrc"\r\n5 6 x.mrc'
    )
    pickfiles.write_kept_rows(source, tmp_path / "out.star", [True, False, True])
    assert (tmp_path / "out.star").read_bytes() == source.read_bytes().replace(
        b'3 4 "my mic.mrc"\r\n', b""
    )
    # EMAN1 helix boxes: one end of a filament alone is no file; both ends go together
    helix = tmp_path / "helix.box"
    helix.write_text(
        "10\t10\t20\t20\t-1\n90\t10\t20\t20\t-2\n10\t50\t20\t20\t-1\n90\t50\t20\t20\t-2\n"
    )
    pickfiles.write_kept_rows(helix, tmp_path / "out.box", [True, True, True, False])
    assert (tmp_path / "out.box").read_text() == "".join(helix.read_text().splitlines(True)[:2])


def test_write_kept_rows_refuses_files_whose_picks_are_not_their_rows(tmp_path):
    # start-end pairs read as one fiber's path each: no pick is one row of the file
    source = GOLDEN / "relion_helical_start_end.star"
    keep = np.ones(len(read_picks(source)), bool)
    with pytest.raises(pickfiles.RowMismatch, match="start-end pairs"):
        pickfiles.write_kept_rows(source, tmp_path / "out.star", keep)
    with pytest.raises(pickfiles.RowMismatch, match=r"eman\.box: 2 data lines, 3 picks"):
        pickfiles.write_kept_rows(GOLDEN / "eman.box", tmp_path / "out.box", [True] * 3)
    assert not list(tmp_path.iterdir())


def test_box_size_of_is_the_box_not_the_estimated_size(tmp_path):
    assert pickfiles.box_size_of(GOLDEN / "eman.box") == 100
    assert pickfiles.box_size_of(GOLDEN / "cryolo_legacy.cbox") == 220  # est. 180 and 170
    assert pickfiles.box_size_of(GOLDEN / "relion31_particles.star") is None
    mixed = tmp_path / "vesicles.box"
    mixed.write_text("0\t0\t40\t40\n100\t100\t80\t80\n")  # each vesicle boxed at its size
    assert pickfiles.box_size_of(mixed) is None


def test_a_folders_links_to_missing_files_are_named(tmp_path, caplog):
    # a trial's dangling link in a micrograph folder was left out of the run unsaid
    import logging

    from napari_cryopick.io.paths import expand_inputs

    (tmp_path / "m0.mrc").write_bytes(b"x")
    (tmp_path / "gone.mrc").symlink_to(tmp_path / "elsewhere.mrc")
    with caplog.at_level(logging.WARNING):
        found = expand_inputs([tmp_path], (".mrc",), "micrographs")
    assert [p.name for p, _ in found] == ["m0.mrc"]
    assert "1 link(s) to missing files left out: gone.mrc" in caplog.text


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("data_\n\n10 20 0.5\n", "line 3: values outside a loop: data_ has no loop_"),
        ("data_\nloop_\n10 20\n", "line 3: values after loop_ without labels in data_"),
        ("data_\n", "line 1: data_ is empty"),
        ("data_\n_rlnCoordinateX\n", "_rlnCoordinateX without a value outside a loop"),
        # two tables in one block: starfile read the second as rows of the first ("column
        # 'rlnCoordinateX' has a non-numeric value '#1'")
        (
            "data_\n_rlnImageSize 128\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\n",
            "line 3: data_ holds a second table (a loop_ after the _label value pairs from line 2)",
        ),
        (
            "data_p\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\nloop_\n_rlnFoo #1\n5\n",
            "line 6: data_p holds a second table (a loop_ after the loop_ of line 2)",
        ),
        (
            "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\n_rlnImageSize 128\n",
            "line 6: data_ holds a second table (_rlnImageSize after the rows of the loop_ "
            "of line 2)",
        ),
    ],
)
def test_a_star_file_without_loop_or_labels_says_what_is_missing(tmp_path, text, said):
    # starfile's internals reached the user ("cannot unpack non-iterable NoneType object")
    path = tmp_path / "m.star"
    path.write_text(text)
    with pytest.raises(PickFileError) as raised:
        read_picks(path)
    assert str(raised.value).startswith(f"{path}: not a valid STAR file: ")
    assert said in str(raised.value)
    assert "NoneType" not in str(raised.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".csv", "micrograph,x,y\nm,10,20\nm,30,40\n"),
        (".star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\n"),
        (".box", "5\t15\t10\t10\n"),
        (".txt", "image_name\tx_coord\ty_coord\tscore\nm\t10\t20\t1.5\n"),
        (".txt", "x,y\n10,20\n30,40\n"),
    ],
)
def test_a_utf16_or_utf32_pick_file_is_said_to_be_one(tmp_path, encoding, suffix, text):
    # a review: a CSV saved by Excel as "Unicode Text" (UTF-16) was "cut short"
    path = tmp_path / f"m{suffix}"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(PickFileError) as raised:
        read_picks(path)
    said = str(raised.value)
    assert said.startswith(f"{path}: a UTF-")
    assert "pick files are read as UTF-8; save it as UTF-8" in said
    assert "cut short" not in said
    # the same text as UTF-8 (with a byte-order mark, as Excel writes it) is read
    path.write_bytes(text.encode("utf-8-sig"))
    assert len(read_picks(path)) in (1, 2)


def test_a_pick_file_reached_twice_is_taken_once(tmp_path, capsys):
    # a CLI trial: evaluate --pred a.csv a.csv counted every pick twice (precision 0.5)
    from napari_cryopick.cli import main
    from napari_cryopick.io.paths import pick_files

    folder = tmp_path / "picks"
    folder.mkdir()
    path = folder / "a.csv"
    path.write_text("x,y,diameter,score\n50,60,20,0.9\n150,60,20,0.8\n")
    (folder / "b.csv").symlink_to(path)  # another name: another micrograph's file
    (tmp_path / "linked").symlink_to(folder)
    found = pick_files([path, path, folder, tmp_path / "linked"])
    assert found == [(path, False), (folder / "b.csv", True)]
    # named after its folder: named all the same (the first place kept)
    assert pick_files([folder, path]) == [(path, False), (folder / "b.csv", True)]
    (folder / "b.csv").unlink()
    truth = tmp_path / "truth" / "a.csv"
    truth.parent.mkdir()
    truth.write_text("x,y,diameter\n50,60,20\n150,60,20\n")
    assert main(["evaluate", "--pred", str(path), str(path), "--truth", str(truth)]) == 0
    out = capsys.readouterr().out
    assert "predictions 2, ground truth 2" in out, out


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_text_without_a_byte_order_mark_is_said_to_be_so(tmp_path, encoding):
    # (a review: the zero-file check first lost UTF-32 without a mark)
    path = tmp_path / "m.csv"
    path.write_bytes("x,y\n10,20\n30,40\n".encode(encoding))
    with pytest.raises(PickFileError, match="UTF-16 or UTF-32"):
        read_picks(path)


def test_a_header_of_many_columns_is_refused_whatever_separates_its_lines(tmp_path):
    # a review: str.splitlines() split the header at a form feed, and 5001 columns went
    # to pandas past the guard (the hostile-input review's 200,000 took 20 minutes)
    path = tmp_path / "m.csv"
    path.write_text("x\x0c," + ",".join(f"c{i}" for i in range(5000)) + "\n1,2\n")
    with pytest.raises(PickFileError, match="columns: not a pick table"):
        read_picks(path)


@pytest.mark.parametrize("suffix", [".star", ".csv", ".box"])
def test_random_bytes_are_not_said_to_be_utf16(tmp_path, suffix):
    # a CLI trial: random bytes named .star were "a UTF-16 or UTF-32 text file", with iconv
    path = tmp_path / f"m{suffix}"
    for data in (
        np.random.default_rng(2).bytes(3000).replace(b"\n", b"\x00"),
        bytes(4096),  # zeros left by a crash (a review)
    ):
        path.write_bytes(data)
        with pytest.raises(PickFileError) as raised:
            read_picks(path)
        said = str(raised.value)
        assert said.startswith(f"{path}: ")
        assert "UTF-16" not in said, said
        assert "iconv" not in said, said
        assert len(said) < 300, said
    assert "holds only zero bytes" in said


def test_a_star_file_with_cr_line_ends_says_so(tmp_path):
    # a CLI trial: "no STAR data block found (is it a STAR file?)"
    text = "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\n30 40\n"
    path = tmp_path / "m.star"
    path.write_bytes(text.replace("\n", "\r").encode())
    with pytest.raises(PickFileError) as raised:
        read_picks(path)
    assert str(raised.value).startswith(f"{path}: its lines end in CR alone")
    path.write_bytes(text.replace("\n", "\r\n").encode())  # Windows' line ends are read
    assert read_picks(path)[["x", "y"]].to_numpy().tolist() == [[10.0, 20.0], [30.0, 40.0]]
    # a CSV of CR line ends is read (pandas takes them): its header is its first line (a
    # re-trial's was "a header line of 1255 columns")
    csv = tmp_path / "m.csv"
    csv.write_bytes(("x,y\r" + "".join(f"{i},{i + 1}\r" for i in range(1200))).encode())
    assert len(read_picks(csv)) == 1200


def test_a_star_file_corrected_after_a_failed_read_is_read_as_it_is_now(tmp_path):
    # starfile kept the failed file's lines (linecache): the corrected file, read again
    # in the same napari session, still failed
    path = tmp_path / "m.star"
    path.write_text("data_\n\n10 20\n")
    with pytest.raises(PickFileError):
        read_picks(path)
    path.write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\n")
    assert read_picks(path)[["x", "y"]].to_numpy().tolist() == [[10.0, 20.0]]


def test_a_quoted_wildcard_is_expanded_as_a_shell_would(tmp_path):
    """A robustness trial's quoted --micrographs "mics/*.mrc" was told only "no such file
    or folder"."""
    from napari_cryopick.io.paths import expand_inputs, pick_files

    for name in ("b.mrc", "a.mrc", "c.star"):
        (tmp_path / name).write_bytes(b"x")
    found = expand_inputs([str(tmp_path / "*.mrc")], (".mrc",), "micrographs")
    assert [path.name for path, _ in found] == ["a.mrc", "b.mrc"]
    pd.DataFrame({"x": [1.0], "y": [2.0]}).to_csv(tmp_path / "a.csv", index=False)
    assert [p.name for p, _ in pick_files([str(tmp_path / "?.csv")])] == ["a.csv"]
    with pytest.raises(FileNotFoundError, match=r"\*\.tif: no file or folder matches"):
        expand_inputs([str(tmp_path / "*.tif")], (".tif",), "micrographs")
    # a file whose name holds a bracket is taken as it is
    odd = tmp_path / "mic[1].mrc"
    odd.write_bytes(b"x")
    assert [p.name for p, _ in expand_inputs([str(odd)], (".mrc",), "micrographs")] == [
        "mic[1].mrc"
    ]


def test_cbox_gives_hand_picks_among_scored_ones_the_highest_confidence(tmp_path):
    """A convention review: napari-boxmanager drops the confidence column of a CBOX file
    holding one <NA> confidence (a hand pick's), so its confidence filter stopped working."""
    import starfile

    table = picks.make_picks([10.0, 50.0, 90.0], [20.0, 60.0, 100.0], diameter=30.0,
                             score=[0.4, np.nan, 0.7], micrograph="m")  # fmt: skip
    path = pickfiles.write_picks(table, tmp_path / "m.cbox")
    written = starfile.read(path)["cryolo"]
    assert written["Confidence"].tolist() == pytest.approx([0.4, 1.0, 0.7])
    assert pickfiles.read_picks(path)["score"].tolist() == pytest.approx([0.4, 1.0, 0.7])
    # hand picks only: no score to give, <NA> as crYOLO writes missing values
    alone = pickfiles.write_picks(table.assign(score=np.nan), tmp_path / "h.cbox")
    assert "<NA>" in alone.read_text()
    assert pickfiles.read_picks(alone)["score"].isna().all()


def test_a_folder_gives_a_micrograph_the_fibers_written_beside_its_points(tmp_path):
    """A review: cryopick pick writes a model's fibers beside its particles
    (``m0_fibers.star`` next to ``m0.star``); Load picks… read the points alone."""
    from napari_cryopick.io.filaments import write_fiber_table
    from napari_cryopick.io.pickfiles import micrograph_picks_in_folder

    points = picks.make_picks([10.0, 50.0], [10.0, 50.0], diameter=20.0, micrograph="m0")
    write_picks(points, tmp_path / "m0.star", micrograph_names=False)
    fibers = picks.make_picks(
        [5.0, 30.0, 60.0], [5.0, 30.0, 60.0], diameter=10.0, micrograph="m0", kind="fiber",
        score=0.9, tube_id=1,
    )  # fmt: skip
    write_fiber_table(fibers, tmp_path / "m0_fibers.star", "star", micrograph_names=False)
    write_picks(points.assign(micrograph="m1"), tmp_path / "m1.star", micrograph_names=False)
    found, problems = micrograph_picks_in_folder(tmp_path, ["m0", "m1"])
    assert problems == []
    path, rows = found["m0"]
    assert path.name == "m0.star"
    assert rows["kind"].value_counts().to_dict() == {"particle": 2, "fiber": 2}
    assert (rows["micrograph"] == "m0").all()
    assert found["m1"][1]["kind"].value_counts().to_dict() == {"particle": 2}
    # a broken fibers file: its problem said, the points still loaded (a review)
    (tmp_path / "m0_fibers.star").write_text("data_\nloop_\n_rlnCoordinateX #1\nnot-a-number\n")
    found, problems = micrograph_picks_in_folder(tmp_path, ["m0"])
    assert found["m0"][1]["kind"].value_counts().to_dict() == {"particle": 2}
    assert len(problems) == 1
    assert "m0_fibers.star" in problems[0]


def test_a_folder_gives_each_micrograph_its_file_its_relion_file_or_its_rows(tmp_path):
    """A napari I/O trial: Load picks… read only ``<micrograph>.<ext>``; RELION's
    ``<micrograph>_autopick.star`` was skipped unsaid and a ``particles.star`` of
    several micrographs could not be loaded."""
    from napari_cryopick.io.pickfiles import micrograph_picks_in_folder

    def table(n, name):
        return picks.make_picks(np.arange(n) * 10.0 + 5, np.arange(n) * 7.0 + 5, micrograph=name)

    write_picks(table(3, "a"), tmp_path / "a.star")
    write_picks(table(4, "a"), tmp_path / "a.csv")  # .star first
    write_picks(table(5, ""), tmp_path / "b_autopick.star")
    write_picks(
        pd.concat([table(6, "c"), table(2, "x"), table(7, "012345678901234567890_d_doseweighted")]),
        tmp_path / "particles.star",
    )
    (tmp_path / "notes.txt").write_text("not a pick file\n")
    found, problems = micrograph_picks_in_folder(tmp_path, ["a", "b", "c", "d", "e"])
    assert {name: (path.name, len(rows)) for name, (path, rows) in found.items()} == {
        "a": ("a.star", 3),
        "b": ("b_autopick.star", 5),
        "c": ("particles.star", 6),
        "d": ("particles.star", 7),
    }
    assert all((rows["micrograph"] == name).all() for name, (_p, rows) in found.items())
    assert problems == []
    (tmp_path / "e.star").write_text("data_\nloop_\n_rlnCoordinateX #1\nnot-a-number\n")
    found, problems = micrograph_picks_in_folder(tmp_path, ["e"])
    assert "e" not in found
    assert len(problems) == 1
    assert "e.star" in problems[0]
    # a file of one micrograph asked for is not another's too (a review: b_2.star, with
    # b and b_2 open, loaded onto both); alone, b_2.star is taken for b (match_name)
    write_picks(table(2, ""), tmp_path / "b_2.star")
    (tmp_path / "b_autopick.star").unlink()
    found, _problems = micrograph_picks_in_folder(tmp_path, ["b", "b_2"])
    assert {name: path.name for name, (path, _rows) in found.items()} == {"b_2": "b_2.star"}
    found, _problems = micrograph_picks_in_folder(tmp_path, ["b"])
    assert {name: path.name for name, (path, _rows) in found.items()} == {"b": "b_2.star"}


def test_a_relion_job_folder_gives_the_files_its_index_lists(tmp_path):
    """A re-trial: Load picks of a RELION AutoPick job folder (autopick.star listing
    MotionCorr/job002/Movies/<mic>_autopick.star below it) found nothing."""
    from napari_cryopick.io.pickfiles import micrograph_picks_in_folder

    job = tmp_path / "AutoPick" / "job006"
    movies = job / "MotionCorr" / "job002" / "Movies"
    movies.mkdir(parents=True)
    rows = []
    for name, n in (("b_0000", 3), ("b_0001", 4)):
        table = picks.make_picks(np.arange(n) * 10.0 + 5, np.arange(n) * 7.0 + 5, micrograph="")
        write_picks(table, movies / f"{name}_autopick.star")
        rows.append(f"MotionCorr/job002/Movies/{name}.mrc {movies / f'{name}_autopick.star'}")
    (job / "autopick.star").write_text(
        "\ndata_coordinate_files\n\nloop_\n_rlnMicrographName #1\n"
        "_rlnMicrographCoordinates #2\n" + "\n".join(rows) + "\n"
    )
    found, problems = micrograph_picks_in_folder(job, ["b_0000", "b_0001", "c"])
    assert problems == []
    assert {name: len(rows) for name, (_path, rows) in found.items()} == {"b_0000": 3, "b_0001": 4}
    assert all((rows["micrograph"] == name).all() for name, (_p, rows) in found.items())


def test_an_empty_csv_has_the_header_of_a_full_one(tmp_path):
    """A batch trial: the CSV of a micrograph with no picks lacked the micrograph column
    the others had, so a folder's CSVs joined under the first header shifted fields."""
    empty = write_picks(picks.empty_picks(), tmp_path / "a.csv", "csv")
    full = write_picks(sample_table(3, micrograph="b"), tmp_path / "b.csv", "csv")
    assert empty.read_text().splitlines() == full.read_text().splitlines()[:1]
    joined = tmp_path / "all.csv"
    joined.write_text(empty.read_text() + "".join(full.read_text().splitlines(True)[1:]))
    frame = pd.read_csv(joined)
    assert frame["micrograph"].tolist() == ["b"] * 3
    assert len(read_picks(empty)) == 0


def test_an_index_row_naming_a_folder_or_another_file_is_that_rows_problem(tmp_path):
    """A hostile-input review: an index listing /etc/passwd (or a job's Movies folder)
    stopped the whole run with "/etc/passwd: unknown pick file suffix ''", where a missing
    listed file is said as the index's row and the other rows go on."""
    import starfile

    from napari_cryopick.io.formats.star import read_coordinate_index

    (tmp_path / "Movies").mkdir()
    (tmp_path / "notes.json").write_text("{}")
    good = tmp_path / "mic_a_autopick.star"
    write_picks(picks.make_picks([10.0], [20.0], micrograph="mic_a"), good, "star")
    listed = pd.DataFrame(
        {
            "rlnMicrographName": ["mic_a.mrc", "mic_b.mrc", "mic_c.mrc"],
            "rlnMicrographCoordinates": [str(good), str(tmp_path / "Movies"),
                                         str(tmp_path / "notes.json")],
        }
    )  # fmt: skip
    starfile.write({"coordinate_files": listed}, tmp_path / "autopick.star")
    index = read_coordinate_index(tmp_path / "autopick.star")
    assert [entry[1] for entry in index.entries] == [good, None, None]
    assert (
        index.entries[1][2]
        == f"data row 2: coordinate file {str(tmp_path / 'Movies')!r} is a folder"
    )
    assert "data row 3:" in index.entries[2][2]
    assert "is not a pick file" in index.entries[2][2]


def test_a_table_of_thousands_of_columns_is_refused_before_parsing(tmp_path):
    """A hostile-input review: a CSV of x, y and 200,000 more columns (1.4 MB) did not
    finish reading in 20 s (about 20 minutes by extrapolation)."""
    from napari_cryopick.io.formats import MAX_COLUMNS

    wide = tmp_path / "wide.csv"
    n = 200_000
    wide.write_text("x,y," + ",".join(f"c{i}" for i in range(n)) + "\n1,2," + "3," * n + "\n")
    with pytest.raises(PickFileError, match=r"wide\.csv: its header line names more than \d+ "):
        read_picks(wide)
    fine = tmp_path / "fine.csv"
    n = MAX_COLUMNS - 2
    fine.write_text(
        "x,y," + ",".join(f"c{i}" for i in range(n)) + "\n1,2," + ",".join("3" * n) + "\n"
    )
    assert len(read_picks(fine)) == 1


def test_micrograph_names_of_digits_stay_text_in_star_files(tmp_path):
    """An interop trial: picks of micrograph ``0001`` written to STAR (the package's
    writers name it by its stem) read back as micrograph ``1``: no micrograph of that name,
    so training on ``0001.mrc`` found no labels."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import read_picks, write_picks

    table = make_picks([10.0, 20.0, 30.0], [5.0, 6.0, 7.0], diameter=20.0, score=0.5)
    table["micrograph"] = ["0001", "0001", "1e3"]
    write_picks(table, tmp_path / "w.star")
    assert read_picks(tmp_path / "w.star")["micrograph"].tolist() == ["0001", "0001", "1e3"]
    # a RELION index naming them, and its coordinate files
    write_picks(table.iloc[:2], tmp_path / "0001_autopick.star")
    (tmp_path / "autopick.star").write_text(
        "data_coordinate_files\n\nloop_\n_rlnMicrographName #1\n_rlnMicrographCoordinates #2\n"
        f"0001 {tmp_path / '0001_autopick.star'}\n"
    )
    assert set(read_picks(tmp_path / "autopick.star")["micrograph"]) == {"0001"}


def test_topaz_tab_files_read_as_topaz_coordinates(tmp_path):
    """Topaz names its coordinate files ``.txt`` or ``.tab`` (``topaz/utils/files.py``);
    an interop trial's ``.tab`` file was refused as an unknown suffix."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.paths import pick_files
    from napari_cryopick.io.pickfiles import detect_format, read_picks, write_picks

    table = make_picks([10.0, 20.0], [5.0, 6.0], score=[0.5, -1.0], micrograph=["m0", "m1"])
    write_picks(table, tmp_path / "picks.txt", "topaz", binning=4)
    expected = read_picks(tmp_path / "picks.txt", binning=4)
    (tmp_path / "picks.txt").rename(tmp_path / "picks.tab")
    assert detect_format(tmp_path / "picks.tab") == "topaz"
    got = read_picks(tmp_path / "picks.tab", binning=4)
    assert got["micrograph"].tolist() == ["m0", "m1"]
    pd.testing.assert_frame_equal(got, expected)
    assert [p.name for p, _ in pick_files([tmp_path])] == ["picks.tab"]


def test_csv_comment_lines_are_skipped_and_later_lines_keep_their_numbers(tmp_path):
    """A CLI trial's ``# comment`` above a CSV's header read as "line 2 has 2 fields, the
    header names 1", and one at its end as "a non-numeric value"; BOX files skip them."""
    above = tmp_path / "comment.csv"
    above.write_text("# comment\n  # indented\nx,y\n10,20\n")
    assert read_picks(above)[["x", "y"]].values.tolist() == [[10.0, 20.0]]
    below = tmp_path / "comment_end.csv"
    below.write_text("x,y,micrograph\n10,20,mic#1\n# comment at end")  # (no line end)
    table = read_picks(below)
    assert table[["x", "y"]].values.tolist() == [[10.0, 20.0]]
    assert table["micrograph"].tolist() == ["mic#1"]  # a '#' in a value is no comment
    bad = tmp_path / "bad.csv"
    bad.write_text("# a\nx,y\n# b\n1,2\n3,4,5\n")
    with pytest.raises(PickFileError, match=r"bad\.csv: line 5 has 3 fields, the header names 2"):
        read_picks(bad)
    txt = tmp_path / "picks.txt"  # a .txt CSV: its header below the comments
    txt.write_text("# exported\nx,y\n1,2\n")
    assert detect_format(txt) == "csv"
    # lines ended by CR alone (an old Mac OS file): comments skipped, the header's column
    # count still checked (a review: 5002 columns read instead of refused)
    mac = tmp_path / "mac.csv"
    mac.write_bytes(b"# exported\rx,y\r1,2\r")
    assert read_picks(mac)[["x", "y"]].values.tolist() == [[1.0, 2.0]]
    wide = tmp_path / "wide.csv"
    wide.write_bytes(b"# c\r" + ",".join(f"c{i}" for i in range(1002)).encode() + b"\r")
    with pytest.raises(PickFileError, match="header line names 1002 columns"):
        read_picks(wide)
    from napari_cryopick._reader import get_picks_reader

    # napari opens them too (a review: "no reader" for what the command line read)
    assert get_picks_reader(str(above)) is not None
    assert get_picks_reader(str(txt)) is not None


def test_csv_box_columns_are_said_not_read(tmp_path, caplog, monkeypatch):
    """A CLI trial's ``X,Y,Width,Height`` CSV read its x,y as centres and dropped the
    box size unsaid (a bounding-box table usually gives the top-left corner)."""
    monkeypatch.setitem(pickfiles._SAID, "box columns", False)
    path = tmp_path / "wh.csv"
    path.write_text("X,Y,Width,Height\n1,2,30,30\n")
    plain = tmp_path / "plain.csv"
    plain.write_text("x,y,diameter\n1,2,30\n")
    with caplog.at_level("WARNING"):
        read_picks(plain)
        assert "not read" not in caplog.text
        table = read_picks(path)
        read_picks(path)
    assert table[["x", "y"]].values.tolist() == [[1.0, 2.0]]  # as they are, not guessed
    assert (
        caplog.text.count(
            "wh.csv: its column(s) Width, Height are not read, and its x,y are read as the "
            "centres of the picks"
        )
        == 1
    )


def test_relion_type_suffix_is_not_part_of_the_micrograph_name(tmp_path):
    """RELION's ``file:type`` suffix (a CLI trial's ``mics/May08_04.32.27.mrc:mrc``)
    stayed in the micrograph name, which matched no micrograph."""
    path = tmp_path / "dots.star"
    path.write_text(
        "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n"
        "10 20 May08_03.05.02\n30 40 mics/May08_03.15.02.tiff:tiff\n"
        "50 60 mics/May08_04.32.27.mrc:mrc\n70 80 mics/May08_04.32.27.mrc\n"
        "90 10 stack_1:mrcs\n"
    )
    assert read_picks(path)["micrograph"].tolist() == [
        "May08_03.05.02",
        "May08_03.15.02",
        "May08_04.32.27",
        "May08_04.32.27",
        "stack_1",
    ]


def _particles_cs(path, paths, uids=None):
    fields = [
        ("location/micrograph_path", "S64"),
        ("location/micrograph_shape", "<u4", (2,)),
        ("location/center_x_frac", "<f4"),
        ("location/center_y_frac", "<f4"),
    ]
    if uids is not None:
        fields.append(("location/micrograph_uid", "<u8"))
    data = np.zeros(len(paths), dtype=fields)
    data["location/micrograph_path"] = paths
    data["location/micrograph_shape"] = [1000, 1000]
    data["location/center_x_frac"] = np.linspace(0.1, 0.3, len(paths))
    data["location/center_y_frac"] = np.linspace(0.1, 0.3, len(paths))
    if uids is not None:
        data["location/micrograph_uid"] = uids
    with open(path, "wb") as handle:  # (np.save would add .npy)
        np.save(handle, data)
    return path


def test_cryosparc_particles_without_paths_are_told_apart_by_micrograph_uid(tmp_path, caplog):
    """A CLI trial's particles .cs with empty micrograph paths and two micrograph uids was
    read as one micrograph's, named after the file."""
    nopath = _particles_cs(tmp_path / "nopath.cs", [b""] * 3, [11, 11, 12])
    with caplog.at_level("WARNING"):
        table = read_picks(nopath)
    assert table["micrograph"].tolist() == ["11", "11", "12"]
    assert "nopath.cs: 3 particle(s) have no location/micrograph_path" in caplog.text
    assert "named by its uid (11, 12)" in caplog.text
    # a uid whose other particles have a path takes that path's name
    # ... and one of another uid beside particles with paths is that uid's, said (a review:
    # named after the file, unsaid)
    some = _particles_cs(tmp_path / "some.cs", [b"J1/a.mrc", b"", b""], [11, 11, 12])
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert read_picks(some)["micrograph"].tolist() == ["a", "a", "12"]
    assert "some.cs: 1 particle(s) have no location/micrograph_path" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):  # one uid, or none: one micrograph, as before
        one = read_picks(_particles_cs(tmp_path / "one.cs", [b""] * 2, [11, 11]))
        none = read_picks(_particles_cs(tmp_path / "none.cs", [b""] * 2))
    assert one["micrograph"].tolist() == ["one", "one"]
    assert none["micrograph"].tolist() == ["none", "none"]
    assert "micrograph_uid" not in caplog.text
