"""RELION files: micrograph lists (3.0 and 3.1+), mirrored coordinate paths, job files."""

from __future__ import annotations

from pathlib import Path

import pytest
import starfile

from napari_cryopick.io.relion import (
    COORDINATES_NODE_TYPE,
    RelionStarError,
    abort_requested,
    clear_abort_request,
    clear_exit_markers,
    coordinate_file_path,
    read_micrographs_star,
    write_coordinate_files_star,
    write_exit_marker,
    write_output_nodes,
)

RELION31 = """
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographOriginalPixelSize #3
_rlnVoltage #4
_rlnMicrographPixelSize #5
opticsGroup1 1 0.885 300.0 1.77
opticsGroup2 2 0.885 300.0 1.5

# version 30001

data_micrographs

loop_
_rlnMicrographName #1
_rlnOpticsGroup #2
_rlnDefocusU #3
MotionCorr/job002/Movies/a.mrc 1 10000
MotionCorr/job002/Movies/sub/a.mrc 2 12000
"""

RELION30 = """
data_

loop_
_rlnMicrographName #1
_rlnDetectorPixelSize #2
_rlnMagnification #3
MotionCorr/job002/Movies/x.mrc 5.0 50000
"""


def test_relion31_list_gives_optics_pixel_size_per_group(tmp_path):
    star = tmp_path / "micrographs_ctf.star"
    star.write_text(RELION31)
    micrographs = read_micrographs_star(star, project_dir=tmp_path)
    assert [m.name for m in micrographs] == [
        "MotionCorr/job002/Movies/a.mrc",
        "MotionCorr/job002/Movies/sub/a.mrc",
    ]
    assert [m.pixel_size for m in micrographs] == [1.77, 1.5]
    assert micrographs[1].path == tmp_path / "MotionCorr/job002/Movies/sub/a.mrc"


def test_a_relion_type_suffix_is_no_part_of_the_micrograph_file(tmp_path):
    # a review: "x.mrc:mrc" (RELION's file-type suffix) pointed at a file of that name
    star = tmp_path / "micrographs_ctf.star"
    star.write_text(RELION30.replace("x.mrc ", "x.mrc:mrc "))
    (micrograph,) = read_micrographs_star(star, project_dir=tmp_path)
    assert micrograph.name == "MotionCorr/job002/Movies/x.mrc:mrc"  # as RELION names it
    assert micrograph.path == tmp_path / "MotionCorr/job002/Movies/x.mrc"
    # read from outside the project: the project folder is found by the file itself
    from napari_cryopick.io.paths import find_project_dir

    listing = tmp_path / "CtfFind" / "job003" / "micrographs_ctf.star"
    listing.parent.mkdir(parents=True)
    (tmp_path / "MotionCorr/job002/Movies").mkdir(parents=True)
    (tmp_path / "MotionCorr/job002/Movies/x.mrc").write_bytes(b"")
    assert find_project_dir(listing, micrograph.name) == tmp_path


def test_an_optics_group_given_twice_with_two_pixel_sizes_is_refused(tmp_path):
    # the last row's pixel size was taken, unsaid (RELION takes the first)
    star = tmp_path / "micrographs_ctf.star"
    twice = "opticsGroup2 2 0.885 300.0 1.5\nopticsGroup2b 2 0.885 300.0 1.2\n"
    star.write_text(RELION31.replace("opticsGroup2 2 0.885 300.0 1.5\n", twice))
    with pytest.raises(
        RelionStarError, match=r"optics group 2 twice, with pixel sizes 1.5 and 1.2"
    ):
        read_micrographs_star(star, project_dir=tmp_path)
    # the same row twice (files joined) says nothing: one pixel size
    star.write_text(
        RELION31.replace("opticsGroup2 2 0.885 300.0 1.5\n", twice.replace("1.2", "1.5"))
    )
    assert [m.pixel_size for m in read_micrographs_star(star, project_dir=tmp_path)] == [1.77, 1.5]


@pytest.mark.parametrize("size", ["abc", "-4", "nan", "0"])
def test_a_pixel_size_that_is_not_a_positive_number_is_refused(tmp_path, size):
    """An I/O trial's abc, -4 and nan fell back to the headers' sizes without a word."""
    star = tmp_path / "micrographs_ctf.star"
    star.write_text(
        RELION31.replace("opticsGroup2 2 0.885 300.0 1.5\n", f"opticsGroup2 2 0.885 300.0 {size}\n")
    )
    with pytest.raises(
        RelionStarError,
        match=r"micrographs_ctf\.star: data_optics, optics group 2: rlnMicrographPixelSize",
    ) as info:
        read_micrographs_star(star, project_dir=tmp_path)
    assert "np." not in str(info.value)  # the file's value, not numpy's np.float64(-4.0)


def test_a_whole_negative_pixel_size_is_said_as_written(tmp_path):
    """An I/O fuzz read "rlnMicrographPixelSize np.int64(-1) is not a positive number"."""
    star = tmp_path / "neg.star"
    star.write_text(
        "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnMicrographPixelSize #2\n1 -1\n\n"
        "data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\nMotionCorr/a.mrc 1\n"
    )
    with pytest.raises(RelionStarError, match=r"rlnMicrographPixelSize -1 is not a positive"):
        read_micrographs_star(star, project_dir=tmp_path)


def test_relion30_list_gives_detector_pixel_size(tmp_path):
    star = tmp_path / "micrographs_ctf.star"
    star.write_text(RELION30)
    (micrograph,) = read_micrographs_star(star, project_dir=tmp_path)
    # 5 um detector pixels at 50,000x: 1 Angstrom per pixel
    assert micrograph.pixel_size == pytest.approx(1.0)
    assert micrograph.optics_group == 0


def test_unknown_optics_group_is_one_line_naming_the_file(tmp_path):
    star = tmp_path / "bad.star"
    star.write_text(RELION31.replace("Movies/sub/a.mrc 2", "Movies/sub/a.mrc 7"))
    with pytest.raises(RelionStarError, match=r"bad\.star: row 2: optics group 7"):
        read_micrographs_star(star, project_dir=tmp_path)


def test_a_list_row_cut_short_is_refused_with_its_line(tmp_path):
    # starfile read the row with an empty optics group: a micrograph of group 0
    star = tmp_path / "cut.star"
    star.write_text(RELION31.replace("Movies/sub/a.mrc 2 12000", "Movies/sub/a.mrc 2"))
    with pytest.raises(
        RelionStarError, match=r"cut\.star: .*line 24: 2 values, .*data_micrographs"
    ):
        read_micrographs_star(star, project_dir=tmp_path)


def test_list_without_micrograph_names_is_refused(tmp_path):
    star = tmp_path / "particles.star"
    star.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n")
    with pytest.raises(RelionStarError, match="no block with rlnMicrographName"):
        read_micrographs_star(star)


def test_a_list_without_loop_and_labels_says_what_is_missing(tmp_path):
    # a trial's data_micrographs of bare rows: "not a valid STAR file (cannot unpack
    # non-iterable NoneType object)", starfile's internals
    star = tmp_path / "malformed_mini.star"
    optics = RELION31.split("data_micrographs")[0]
    star.write_text(optics + "data_micrographs\n\nMovies/a.mrc 1 4.5\nMovies/b.mrc 1 4.5\n")
    with pytest.raises(RelionStarError) as raised:
        read_micrographs_star(star, project_dir=tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{star}: ")
    assert "values outside a loop: data_micrographs has no loop_" in message
    assert "needs a loop_ with _rlnMicrographName" in message
    assert "NoneType" not in message
    assert "unpack" not in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MotionCorr/job002/Movies/a.mrc", "J/Movies/a_autopick.star"),
        ("MotionCorr/job002/Movies/sub/a.mrc", "J/Movies/sub/a_autopick.star"),
        ("Movies/May08_03.05.02.mrc", "J/Movies/May08_03.05.02_autopick.star"),
        ("/data/../scope/m.tif", "J/data/scope/m_autopick.star"),
        # an absolute name inside a project: mirrored as the relative one (a trial:
        # J/tmp/trial_pipe/proj/MotionCorr/job009/Movies/GridB/...)
        ("/data/proj/MotionCorr/job009/Movies/GridB/a.mrc", "J/Movies/GridB/a_autopick.star"),
        # folders before the job folder: after the first /jobNNN/, as RELION 3.1's Extract
        # looks (decomposePipelineFileName; a pipeline trial's went below proj/MotionCorr)
        ("../proj/MotionCorr/job002/Movies/GridA/061.mrc", "J/Movies/GridA/061_autopick.star"),
        ("a/b/MotionCorr/job1002/m.mrc", "J/m_autopick.star"),
    ],
)
def test_coordinate_paths_mirror_folders_below_the_job(name, expected):
    assert coordinate_file_path("J", name) == Path(expected)


def test_coordinate_files_star_is_read_back_by_starfile(tmp_path):
    job = tmp_path / "External/job012"
    job.mkdir(parents=True)
    entries = [
        ("MotionCorr/job002/Movies/a.mrc", job / "Movies/a_autopick.star"),
        ("MotionCorr/job002/Movies/sub/a.mrc", job / "Movies/sub/a_autopick.star"),
    ]
    path = write_coordinate_files_star(job, entries, project_dir=tmp_path)
    table = starfile.read(path, always_dict=True)["coordinate_files"]
    assert table["rlnMicrographName"].tolist() == [e[0] for e in entries]
    assert table["rlnMicrographCoordinates"].tolist() == [
        "External/job012/Movies/a_autopick.star",
        "External/job012/Movies/sub/a_autopick.star",
    ]


def test_output_nodes_and_exit_markers(tmp_path):
    job = tmp_path / "External/job012"
    job.mkdir(parents=True)
    nodes = write_output_nodes(job, job / "autopick.star", project_dir=tmp_path)
    table = starfile.read(nodes, always_dict=True)["output_nodes"]
    assert table["rlnPipeLineNodeName"].tolist() == ["External/job012/autopick.star"]
    assert table["rlnPipeLineNodeTypeLabel"].tolist() == [COORDINATES_NODE_TYPE]

    write_exit_marker(job, "failure")
    write_exit_marker(job, "success")
    assert sorted(p.name for p in job.glob("RELION_JOB_EXIT_*")) == ["RELION_JOB_EXIT_SUCCESS"]
    (job / "RELION_JOB_ABORT_NOW").touch()
    assert abort_requested(job)
    clear_exit_markers(job)  # an earlier run's markers, not an abort request (RELION's too)
    assert [p.name for p in job.glob("RELION_JOB_*")] == ["RELION_JOB_ABORT_NOW"]
    assert abort_requested(job)
    clear_abort_request(job)
    assert not list(job.glob("RELION_JOB_*"))
    assert not abort_requested(job)
