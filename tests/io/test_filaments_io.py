"""RELION helical STAR and crYOLO filament CBOX files: golden files and round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_cryopick.io.filaments import (
    looks_like_centre_lines,
    read_centre_lines,
    read_cryolo_filaments,
    read_relion_helical,
    segment_directions,
    write_cryolo_filaments,
    write_relion_helical,
)
from napari_cryopick.io.formats import PickFileError
from napari_cryopick.io.pickfiles import read_picks

GOLDEN = Path(__file__).parent / "golden"


def _golden_start_end_paths():
    straight = np.array([[10.0, 20.0], [60.0, 20.0], [110.0, 20.0]])  # middle vertex is redundant
    vertical = np.array([[50.0, 50.0], [50.0, 150.0]])
    corner = np.array([[0.0, 0.0], [50.0, 0.0], [100.0, 0.0], [100.0, 50.0], [100.0, 100.0]])
    return {"mic_001": [straight, vertical], "mic_002": [corner]}


def test_start_end_matches_golden_and_reads_back(tmp_path):
    target = write_relion_helical(
        _golden_start_end_paths(), tmp_path / "helix.star", micrograph_suffix=".mrc"
    )
    assert target.read_text() == (GOLDEN / "relion_helical_start_end.star").read_text()
    back = read_relion_helical(target)
    assert sorted(back) == ["mic_001", "mic_002"]
    np.testing.assert_allclose(back["mic_001"][0], [[10, 20], [110, 20]])
    np.testing.assert_allclose(back["mic_001"][1], [[50, 50], [50, 150]])
    # the curved fiber's two straight pieces join back into one path
    np.testing.assert_allclose(back["mic_002"][0], [[0, 0], [100, 0], [100, 100]])


def test_start_end_one_pair_per_tube_without_simplification(tmp_path):
    curve = np.column_stack([np.linspace(0, 100, 11), 0.02 * np.linspace(0, 100, 11) ** 2])
    target = write_relion_helical({"": [curve]}, tmp_path / "helix.star", max_deviation_px=None)
    back = read_relion_helical(target)
    np.testing.assert_allclose(back[""][0], curve[[0, -1]])
    # with simplification every original vertex stays within the tolerance
    target = write_relion_helical({"": [curve]}, tmp_path / "helix2.star", max_deviation_px=2.0)
    pieces = read_relion_helical(target)[""][0]
    assert 2 < len(pieces) < len(curve)


def test_segments_match_golden_and_read_back(tmp_path):
    paths = {"mic": [np.array([[0.0, 0.0], [30.0, 0.0]]), np.array([[5.0, 5.0], [5.0, 25.0]])]}
    target = write_relion_helical(
        paths,
        tmp_path / "segments.star",
        layout="segments",
        box_distance_px=10.0,
        pixel_size_A=2.0,
        micrograph_names=False,
    )
    assert target.read_text() == (GOLDEN / "relion_helical_segments.star").read_text()
    back = read_relion_helical(target)
    np.testing.assert_allclose(back[""][0], [[0, 0], [10, 0], [20, 0], [30, 0]])
    np.testing.assert_allclose(back[""][1], [[5, 5], [5, 15], [5, 25]])
    # the generic pick reader sees the same segments as fiber picks with tube ids
    picks = read_picks(target)
    assert picks["tube_id"].tolist() == [1, 1, 1, 1, 2, 2, 2]
    assert (picks["kind"] == "fiber").all()


@pytest.mark.parametrize("pixel_size", [None, 0.0, float("nan")])
def test_segments_without_a_pixel_size_are_refused(tmp_path, pixel_size):
    """RELION's Extract needs rlnHelicalTrackLengthAngst (helix.cpp: "Prior information of
    helical segments is missing"); a trial's PNG run wrote a pixel track length."""
    with pytest.raises(ValueError, match="--pixel-size"):
        write_relion_helical(
            {"m": [np.array([[0.0, 0.0], [0.0, 20.0]])]},
            tmp_path / "s.star",
            layout="segments",
            box_distance_px=10.0,
            pixel_size_A=pixel_size,
        )
    assert not (tmp_path / "s.star").exists()


def test_older_segment_files_with_a_pixel_track_length_still_read(tmp_path):
    old = tmp_path / "old.star"
    old.write_text(
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n"
        "_rlnHelicalTrackLength\n0 20 1 20\n0 0 1 0\n0 10 1 10\n"
    )
    np.testing.assert_allclose(read_relion_helical(old)[""][0], [[0, 0], [0, 10], [0, 20]])


def test_start_end_pieces_are_tubes_of_their_own(tmp_path):
    """RELION's Extract counts a pair's track length from that pair's start under the
    pair's tube id: pieces of one bent fiber sharing an id would give that tube track
    lengths restarting at each bend. Each piece is its own tube; the file still reads
    back as one path per fiber, and older files (pieces sharing an id) too."""
    bent = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])
    straight = np.array([[0.0, 300.0], [200.0, 300.0]])
    target = write_relion_helical({"m": [bent, straight]}, tmp_path / "h.star")
    rows = [line.split() for line in target.read_text().splitlines() if line[:1].isdigit()]
    assert [row[-2] for row in rows] == ["1", "1", "2", "2", "3", "3", "4", "4"]
    assert [row[-1] for row in rows] == ["1", "1", "1", "1", "1", "1", "2", "2"]
    back = read_relion_helical(target)["m"]
    assert len(back) == 2
    np.testing.assert_allclose(back[0], bent)
    np.testing.assert_allclose(back[1], straight)
    older = tmp_path / "older.star"
    older.write_text(
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n"
        "0 0 1\n100 0 1\n100 0 1\n100 100 1\n5 5 2\n9 9 2\n"
    )
    joined = read_relion_helical(older)[""]
    assert len(joined) == 2
    np.testing.assert_allclose(joined[0], [[0, 0], [100, 0], [100, 100]])


def test_pieces_of_one_tube_id_that_do_not_touch_are_fibers_of_their_own(tmp_path):
    """A fiber trial: two pairs of tube id 1, 300 px apart, were joined into one path by a
    made-up straight stretch, which training labelled and a CBOX export boxed."""
    reused = tmp_path / "reused.star"
    reused.write_text(
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n"
        "10 10 1\n110 10 1\n10 100 2\n110 100 2\n300 300 1\n400 300 1\n"
    )
    paths = read_relion_helical(reused)[""]
    assert len(paths) == 3
    np.testing.assert_allclose(paths[0], [[10, 10], [110, 10]])
    np.testing.assert_allclose(paths[1], [[300, 300], [400, 300]])
    picks = read_picks(reused)
    assert picks["tube_id"].nunique() == 3
    assert len(picks) == 6  # the pairs' ends, nothing between them
    # each with its own first row's score (a review: the second took the first's)
    scored = tmp_path / "scored.star"
    scored.write_text(
        "data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnHelicalTubeID\n"
        "_rlnAutopickFigureOfMerit\n"
        "10 10 1 0.9\n110 10 1 0.9\n300 300 1 0.2\n400 300 1 0.2\n"
    )
    picks = read_picks(scored)
    far = picks["x"] >= 300
    assert picks.loc[far, "score"].tolist() == [0.2, 0.2]
    assert picks.loc[~far, "score"].tolist() == [0.9, 0.9]


def test_reads_relion_manual_pick_start_end_without_tube_ids():
    back = read_relion_helical(GOLDEN / "relion_manualpick_helix.star")
    assert list(back) == [""]
    tubes = back[""]
    assert len(tubes) == 2
    np.testing.assert_allclose(tubes[0], [[512, 300], [900, 700]])
    np.testing.assert_allclose(tubes[1], [[100, 800], [400, 820]])


def test_odd_start_end_rows_is_a_file_error(tmp_path):
    bad = tmp_path / "bad.star"
    bad.write_text("data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n3 4\n5 6\n")
    with pytest.raises(PickFileError, match=r"^.*bad\.star: start-end coordinates come in pairs"):
        read_relion_helical(bad)


def test_bad_layout_and_missing_box_distance(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        write_relion_helical({"": []}, tmp_path / "x.star", layout="wiggly")
    with pytest.raises(ValueError, match="box_distance_px"):
        write_relion_helical({"": []}, tmp_path / "x.star", layout="segments")


def test_cryolo_filaments_match_golden_and_read_back(tmp_path):
    paths = [np.array([[100.0, 100.0], [100.0, 140.0]]), np.array([[10.0, 10.0], [30.0, 10.0]])]
    target = write_cryolo_filaments(
        paths,
        tmp_path / "fil.cbox",
        box_distance_px=20.0,
        box_size_px=40.0,
        diameter_px=24.0,
        scores=[0.9, 0.5],
    )
    assert target.read_text() == (GOLDEN / "cryolo_filaments.cbox").read_text()
    back = read_cryolo_filaments(target)
    np.testing.assert_allclose(back[0], [[100, 100], [100, 120], [100, 140]])
    np.testing.assert_allclose(back[1], [[10, 10], [30, 10]])
    picks = read_picks(target)
    assert picks["tube_id"].tolist() == [1, 1, 1, 2, 2]
    np.testing.assert_allclose(picks["diameter"], 24.0)


def test_cryolo_resampling_follows_a_curved_filament(tmp_path):
    theta = np.linspace(0, np.pi / 2, 200)
    arc = np.column_stack([200 + 100 * np.cos(theta), 200 + 100 * np.sin(theta)])
    target = write_cryolo_filaments(
        [arc], tmp_path / "arc.cbox", box_distance_px=15.0, box_size_px=30.0
    )
    boxes = read_cryolo_filaments(target)[0]
    spacing = np.hypot(*np.diff(boxes, axis=0).T)
    assert len(boxes) == int(np.pi / 2 * 100 // 15) + 1
    np.testing.assert_allclose(spacing, 15.0, atol=0.2)  # chords of 15 px arcs
    radius = np.hypot(boxes[:, 0] - 200, boxes[:, 1] - 200)
    np.testing.assert_allclose(radius, 100.0, atol=0.1)


def test_segment_directions():
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    directions = np.degrees(segment_directions(square))
    np.testing.assert_allclose(directions, [0.0, 45.0, 90.0])


def test_centre_lines_golden_reads_as_fiber_picks():
    """``cryopick simulate``'s fibers/<micrograph>.json: one tube per centre line."""
    path = GOLDEN / "simulate_fibers.json"
    assert looks_like_centre_lines(path.read_text())
    table = read_centre_lines(path)
    assert table["tube_id"].tolist() == [1, 1, 1, 2, 2]
    assert (table["kind"] == "fiber").all()
    assert (table["micrograph"] == "sim_0000").all()
    np.testing.assert_allclose(table["diameter"], 24.0)  # the fiber width
    assert table["score"].isna().all()
    np.testing.assert_allclose(table[["x", "y"]].to_numpy()[:3], [[10, 20], [11, 20.5], [12, 21]])


def test_centre_lines_read_back_what_the_simulator_wrote(tmp_path):
    """The simulator's centre lines, read back, carry its fiber picks (picks/*.csv, one
    every half width along each tube) within a pixel of the line of the same tube."""
    from napari_cryopick.core import simulate as sim
    from napari_cryopick.core.fibers import path_coverage
    from napari_cryopick.core.progress import drive

    config = sim.SimulationConfig(shape=(128, 128), n_particles=0, n_fibers=2)
    drive(sim.simulate_dataset(tmp_path, 1, config, seed=3))
    (path,) = sorted((tmp_path / "fibers").glob("*.json"))
    table = read_centre_lines(path)
    assert (table["micrograph"] == path.stem).all()
    np.testing.assert_allclose(table["diameter"], config.fiber_width_px)
    truth = read_picks(tmp_path / "picks" / f"{path.stem}.csv")
    truth = truth[truth["kind"] == "fiber"]
    assert len(truth) > 0
    assert set(table["tube_id"]) == set(truth["tube_id"])
    for tube, points in truth.groupby("tube_id"):
        line = table.loc[table["tube_id"] == tube, ["x", "y"]].to_numpy()
        assert path_coverage(points[["x", "y"]].to_numpy(), [line], tolerance_px=1.0) == 1.0


def test_centre_lines_bad_files_are_file_errors(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"fibers": [{"points_xy": [1, 2, 3]}]}')
    with pytest.raises(PickFileError, match="points_xy"):
        read_centre_lines(broken)
    other = tmp_path / "other.json"
    other.write_text('{"reviewed": ["a"]}')
    assert not looks_like_centre_lines(other.read_text())
    with pytest.raises(PickFileError, match="fibers"):
        read_centre_lines(other)
    (tmp_path / "not.json").write_text("not json")
    with pytest.raises(PickFileError, match="JSON"):
        read_centre_lines(tmp_path / "not.json")


HELICON = """#micrograph: mic1.mrc
#segment length: 40
#segment width: 40
#helix: (100.0, 100.0),(300.5, 100.0),40
150.0 100.0
200.0 100.0
250.0 100.0
#helix: (50, 400),(50.0, 600.0),40
50.0 500.0
#helix: (700, 700),(800, 800),40
"""


def test_cryolo_helicon_box_files_read_as_fibers(tmp_path):
    """crYOLO's filament "helicon" box files (``CoordsIO.write_eman1_helicon``: each
    filament a ``#helix: (x1, y1),(x2, y2),box`` line, then the centres between) were
    refused as a malformed BOX file (an interop trial)."""
    from napari_cryopick.io.formats import PickFileError
    from napari_cryopick.io.pickfiles import read_picks

    (tmp_path / "mic1.box").write_text(HELICON)
    table = read_picks(tmp_path / "mic1.box")
    assert set(table["kind"]) == {"fiber"}
    assert set(table["micrograph"]) == {"mic1"}
    assert table["tube_id"].tolist() == [1] * 5 + [2] * 3 + [3] * 2
    first = table[table["tube_id"] == 1][["x", "y"]].to_numpy()
    np.testing.assert_allclose(
        first, [[100, 100], [150, 100], [200, 100], [250, 100], [300.5, 100]]
    )
    np.testing.assert_allclose(table[table["tube_id"] == 3][["x", "y"]], [[700, 700], [800, 800]])
    assert (table["diameter"] == 40.0).all()
    # crYOLO's own writer (some versions) puts the ends' boxes among the centres too, and
    # its csv writer ends lines with CRLF: each end read once (a review: doubled)
    full = HELICON.replace("(300.5, 100.0),40\n", "(300.5, 100.0),40\n100.0 100.0\n")
    full = full.replace("250.0 100.0\n", "250.0 100.0\n300.5 100.0\n")
    (tmp_path / "mic2.box").write_bytes(full.replace("\n", "\r\n").encode())
    again = read_picks(tmp_path / "mic2.box")
    np.testing.assert_allclose(again[["x", "y"]], table[["x", "y"]])
    assert again["tube_id"].tolist() == table["tube_id"].tolist()
    # damaged: a helix line without its ends, a box of four fields, named with the line
    for bad, line in (("#helix: (100.0, 100.0),40", 4), ("150 100 40 40", 5)):
        lines = HELICON.splitlines()
        lines[line - 1] = bad
        (tmp_path / "bad.box").write_text("\n".join(lines) + "\n")
        with pytest.raises(PickFileError, match=rf"bad.box.*line {line}"):
            read_picks(tmp_path / "bad.box")


def test_cryolo_helicon_box_files_filter_into_a_fiber_format(tmp_path, capsys):
    from napari_cryopick.cli import main

    (tmp_path / "mic1.box").write_text(HELICON)
    assert main(["filter", str(tmp_path / "mic1.box"), "--format", "star",
                 "--out", str(tmp_path / "star")]) == 0  # fmt: skip
    table = read_picks(tmp_path / "star" / "mic1.star")
    assert sorted(set(table["tube_id"])) == [1, 2, 3]
    capsys.readouterr()
    # kept as BOX: refused (BOX cannot hold these fibers), said once, not "written as"
    assert (
        main(
            [
                "filter",
                str(tmp_path / "mic1.box"),
                "--kind",
                "fiber",
                "--out",
                str(tmp_path / "box"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "box files cannot hold fibers" in err
    assert "written as" not in err
