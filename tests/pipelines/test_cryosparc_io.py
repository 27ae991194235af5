"""cryoSPARC .cs files (NumPy structured arrays) and the importable STAR file."""

from __future__ import annotations

import numpy as np
import pytest
import starfile

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.cryosparc import (
    CryosparcError,
    read_cs,
    read_exposures,
    read_particles,
    write_import_star,
)

UID = "012345678901234567890"


def _save(path, fields):
    n = len(next(iter(fields.values())))
    dtype = [(name, values.dtype, values.shape[1:]) for name, values in fields.items()]
    data = np.zeros(n, dtype=dtype)
    for name, values in fields.items():
        data[name] = values
    with open(path, "wb") as handle:  # cryoSPARC writes .cs files with np.save
        np.save(handle, data)
    return path


def test_exposures_give_paths_pixel_sizes_and_shapes(tmp_path):
    project = tmp_path / "P3"
    (project / "J5").mkdir(parents=True)
    cs = _save(
        project / "J5/J5_exposures_ctf_estimated.cs",
        {
            "uid": np.array([11, 12], np.uint64),
            "micrograph_blob/path": np.array(
                [f"J4/motioncorrected/{UID}_mic_a.mrc", f"J4/motioncorrected/{UID}_mic_b.mrc"],
                dtype="S80",
            ),
            "micrograph_blob/psize_A": np.array([0.83, 0.83], np.float32),
            "micrograph_blob/shape": np.array([[400, 600], [400, 600]], np.uint32),
        },
    )
    exposures = read_exposures(cs)
    assert [e.uid for e in exposures] == [11, 12]
    assert exposures[0].path == project / f"J4/motioncorrected/{UID}_mic_a.mrc"
    assert exposures[0].name == "mic_a"
    assert exposures[1].pixel_size == pytest.approx(0.83)
    assert exposures[1].shape == (400, 600)


def test_particles_become_picks_in_pixels(tmp_path):
    cs = _save(
        tmp_path / "particles.cs",
        {
            "location/micrograph_path": np.array([f"J4/m/{UID}_mic_a.mrc"] * 2, dtype="S64"),
            "location/center_x_frac": np.array([0.25, 0.5], np.float32),
            "location/center_y_frac": np.array([0.5, 0.75], np.float32),
            "location/micrograph_shape": np.array([[400, 600]] * 2, np.uint32),
        },
    )
    picks = read_particles(cs, diameter_px=30)
    assert picks["micrograph"].tolist() == ["mic_a", "mic_a"]
    # shape is [ny, nx]: x scales with 600, y with 400
    np.testing.assert_allclose(picks["x"], [150.0, 300.0])
    np.testing.assert_allclose(picks["y"], [200.0, 300.0])
    assert (picks["diameter"] == 30).all()
    flipped = read_particles(cs, flip_y=True)
    np.testing.assert_allclose(flipped["y"], [399 - 200.0, 399 - 300.0])


def test_particles_off_their_micrograph_are_said_and_kept(tmp_path, caplog):
    """A hostile-input trial's fractions 1.5 and -0.2 became x = 384 and -51.2 on a
    256 px micrograph, converted unsaid; the file holds each micrograph's shape."""
    import logging

    fields = {
        "location/micrograph_path": np.array([b"J4/m/mic_a.mrc"] * 3),
        "location/center_x_frac": np.array([0.25, 1.5, 0.5], np.float32),
        "location/center_y_frac": np.array([0.5, 0.5, 1.0], np.float32),
        "location/micrograph_shape": np.array([[256, 256]] * 3, np.uint32),
    }
    with caplog.at_level(logging.WARNING):
        picks = read_particles(_save(tmp_path / "off.cs", fields))
    np.testing.assert_allclose(picks["x"], [64.0, 384.0, 128.0])  # kept as they are
    assert "off.cs: 1 particle(s) lie off their micrograph" in caplog.text
    assert "x=384, y=128 on mic_a of 256 x 256 px" in caplog.text
    caplog.clear()
    fields["location/center_x_frac"][1] = 0.75  # on the micrograph, its edge included
    with caplog.at_level(logging.WARNING):
        read_particles(_save(tmp_path / "on.cs", fields))
    assert "off their micrograph" not in caplog.text


def test_compressed_cs_files_of_newer_cryosparc_read_as_numpy_ones(tmp_path):
    # a trial: a cryoSPARC v4.4+ (CSDAT, cryosparc-tools format 2) particles file was
    # refused as "holds Python objects", though cryosparc-tools reads it
    from cryosparc.dataset import Dataset

    dataset = Dataset.allocate(
        2,
        [
            ("location/micrograph_path", "O"),
            ("location/center_x_frac", "f4"),
            ("location/center_y_frac", "f4"),
            ("location/micrograph_shape", "u4", (2,)),
        ],
    )
    dataset["location/micrograph_path"][:] = [f"J4/m/{UID}_mic_a.mrc"] * 2
    dataset["location/center_x_frac"][:] = [0.25, 0.5]
    dataset["location/center_y_frac"][:] = [0.5, 0.75]
    dataset["location/micrograph_shape"][:] = [[400, 600]] * 2
    path = tmp_path / "J20_picked_particles.cs"
    dataset.save(path, format=2)
    assert path.read_bytes()[1:6] == b"CSDAT"
    picks = read_particles(path, diameter_px=30)
    assert picks["micrograph"].tolist() == ["mic_a", "mic_a"]
    np.testing.assert_allclose(picks["x"], [150.0, 300.0])
    np.testing.assert_allclose(picks["y"], [200.0, 300.0])
    broken = tmp_path / "cut.cs"
    broken.write_bytes(path.read_bytes()[:40])  # cut short: one line naming the file
    with pytest.raises(CryosparcError, match=r"cut\.cs: not a cryoSPARC \.cs file"):
        read_cs(broken)


def test_missing_fields_and_pickles_are_refused(tmp_path):
    cs = _save(tmp_path / "x.cs", {"uid": np.array([1], np.uint64)})
    with pytest.raises(CryosparcError, match=r"x\.cs: missing field\(s\) location/"):
        read_particles(cs)
    pickled = tmp_path / "p.cs"
    with open(pickled, "wb") as handle:
        np.save(handle, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CryosparcError, match="refusing to unpickle"):
        read_cs(pickled)
    text = tmp_path / "t.cs"
    text.write_text("not numpy")
    # a trial: any file np.load does not know was said to hold "Python objects"
    with pytest.raises(CryosparcError, match=r"t\.cs: not a cryoSPARC \.cs file \(not a NumPy"):
        read_cs(text)
    import pickle

    raw = tmp_path / "raw.cs"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CryosparcError, match="refusing to unpickle"):
        read_cs(raw)


def test_fields_of_the_wrong_type_are_named_with_the_file(tmp_path):
    # a trial's micrograph_shape stored as bytes: "invalid literal for int() with base
    # 10: b'\\x00\\x04...'" (exposures), "setting an array element with a sequence"
    # (particles), neither naming the file
    exposures = _save(tmp_path / "e.cs", {
        "uid": np.array([1], np.uint64),
        "micrograph_blob/path": np.array([b"J1/m.mrc"]),
        "micrograph_blob/shape": np.array([b"\x00\x04\x00\x00\x00\x00\x00\x00"], "V8"),
    })  # fmt: skip
    with pytest.raises(CryosparcError, match=r"e\.cs: field micrograph_blob/shape holds \|V8"):
        read_exposures(exposures)
    particles = _save(tmp_path / "p.cs", {
        "location/micrograph_path": np.array([b"J1/m.mrc"]),
        "location/center_x_frac": np.array([0.5]),
        "location/center_y_frac": np.array([b"half"]),
        "location/micrograph_shape": np.array([[64, 64]], np.uint32),
    })  # fmt: skip
    with pytest.raises(CryosparcError, match=r"p\.cs: field location/center_y_frac holds \|S4"):
        read_particles(particles)
    # a re-trial: micrograph paths stored as numbers named every particle's micrograph "0"
    numbered = _save(tmp_path / "n.cs", {
        "location/micrograph_path": np.array([0, 1]),
        "location/center_x_frac": np.array([0.5, 0.25]),
        "location/center_y_frac": np.array([0.5, 0.25]),
        "location/micrograph_shape": np.array([[64, 64]] * 2, np.uint32),
    })  # fmt: skip
    with pytest.raises(CryosparcError, match=r"n\.cs: field location/micrograph_path holds int64 "
                       "values, not file paths"):  # fmt: skip
        read_particles(numbered)
    numbered = _save(tmp_path / "ne.cs", {
        "uid": np.array([1], np.uint64),
        "micrograph_blob/path": np.array([3.0]),
    })  # fmt: skip
    with pytest.raises(CryosparcError, match=r"field micrograph_blob/path holds float64 values"):
        read_exposures(numbered)


def test_empty_and_malformed_tables_are_named_with_the_file(tmp_path):
    """A hostile-input review: an empty particles file (a job that kept none) failed with
    "cannot reshape array of size 0", a single saved record and a scalar shape field with
    TypeErrors out of the command, a NaN uid with "cannot convert float NaN to integer"."""
    empty = _save(tmp_path / "empty.cs", {
        "location/micrograph_path": np.zeros(0, "S16"),
        "location/center_x_frac": np.zeros(0),
        "location/center_y_frac": np.zeros(0),
        "location/micrograph_shape": np.zeros((0, 2), np.uint32),
    })  # fmt: skip
    assert len(read_particles(empty)) == 0
    record = np.zeros((), dtype=[("location/micrograph_path", "S8"), ("uid", "u8")])
    with open(tmp_path / "one.cs", "wb") as handle:
        np.save(handle, record)
    with pytest.raises(CryosparcError, match=r"one\.cs: not a cryoSPARC \.cs file \(a 0-d"):
        read_cs(tmp_path / "one.cs")
    scalar = _save(tmp_path / "scalar.cs", {
        "uid": np.array([1], np.uint64),
        "micrograph_blob/path": np.array([b"J1/m.mrc"]),
        "micrograph_blob/shape": np.array([400], np.uint32),
    })  # fmt: skip
    with pytest.raises(CryosparcError, match=r"scalar\.cs: micrograph_blob/shape must hold"):
        read_exposures(scalar)
    nan = _save(tmp_path / "nan.cs", {
        "uid": np.array([np.nan]),
        "micrograph_blob/path": np.array([b"J1/m.mrc"]),
    })  # fmt: skip
    with pytest.raises(CryosparcError, match=r"nan\.cs: uid must hold whole numbers"):
        read_exposures(nan)


def test_import_star_has_one_row_per_particle_across_micrographs(tmp_path):
    picks = make_picks(
        [10.0, 20.0, 30.0],
        [5.0, 6.0, 7.0],
        score=[0.9, 0.8, 0.7],
        micrograph=["a", "a", "b"],
    )
    path = write_import_star(
        picks, tmp_path / "picks.star", micrograph_files={"a": "a.mrc", "b": "b.tif"}
    )
    table = starfile.read(path, always_dict=True)["particles"]
    assert table["rlnMicrographName"].tolist() == ["a.mrc", "a.mrc", "b.tif"]
    np.testing.assert_allclose(table["rlnCoordinateY"], [5.0, 6.0, 7.0])
    np.testing.assert_allclose(table["rlnAutopickFigureOfMerit"], [0.9, 0.8, 0.7])
    flipped = write_import_star(
        picks, tmp_path / "flipped.star", heights={"a": 100, "b": 50}, flip_y=True
    )
    table = starfile.read(flipped, always_dict=True)["particles"]
    np.testing.assert_allclose(table["rlnCoordinateY"], [94.0, 93.0, 42.0])
    with pytest.raises(ValueError, match="height of micrograph"):
        write_import_star(picks, tmp_path / "x.star", flip_y=True)


def test_cs_round_trip_through_the_import_star(tmp_path):
    """Picks read from a .cs file and written for import keep their pixel positions."""
    cs = _save(
        tmp_path / "particles.cs",
        {
            "location/micrograph_path": np.array(["m/a.mrc", "m/b.mrc"], dtype="S16"),
            "location/center_x_frac": np.array([0.1, 0.9], np.float32),
            "location/center_y_frac": np.array([0.2, 0.3], np.float32),
            "location/micrograph_shape": np.array([[1000, 2000]] * 2, np.uint32),
        },
    )
    picks = read_particles(cs)
    table = starfile.read(write_import_star(picks, tmp_path / "o.star"), always_dict=True)[
        "particles"
    ]
    np.testing.assert_allclose(table["rlnCoordinateX"], [200.0, 1800.0], atol=0.01)
    np.testing.assert_allclose(table["rlnCoordinateY"], [200.0, 300.0], atol=0.01)


def test_an_empty_exposures_file_is_named_not_a_traceback(tmp_path, capsys):
    """A hostile-input trial: a 0-byte exposures .cs (a failed job, a cut copy) ended
    cryopick pick, train and cryosparc export with NumPy's "EOFError: No data left in
    file"; particles .cs files of 0 bytes were already named."""
    from napari_cryopick.cli import main

    empty = tmp_path / "exposures.cs"
    empty.write_bytes(b"")
    with pytest.raises(CryosparcError, match=r"exposures\.cs: file is empty \(0 bytes\)"):
        read_exposures(empty)
    assert main(["pick", str(empty), "--out", str(tmp_path / "out"), "--diameter", "32"]) == 2
    assert "exposures.cs: file is empty (0 bytes)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
