"""Property tests of every pick-file reader and writer, and of the micrograph readers.

* round trips: any valid pick table written in a format reads back the same
  (to the format's precision);
* arbitrary bytes: a reader returns a table or raises the documented error
  (:class:`PickFileError`, :class:`MicrographError`), never anything else;
* impossible values (infinite coordinates, zero or negative diameters) are
  refused with the file and the data row.

Example counts stay small (``max_examples``) so the reliability suite runs in
well under a minute on two cores.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.micrographs import MicrographError, read_micrograph
from napari_cryopick.io.pickfiles import (
    FORMATS,
    PickFileError,
    picks_on_micrograph,
    read_picks,
    write_picks,
)

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SUFFIX = {"star": ".star", "box": ".box", "cbox": ".cbox", "topaz": ".txt", "csv": ".csv"}

coordinate = st.floats(min_value=0, max_value=8192, allow_nan=False, allow_infinity=False)
diameter = st.floats(min_value=1, max_value=1000, allow_nan=False, allow_infinity=False)
score = st.floats(min_value=0, max_value=1, allow_nan=False, allow_infinity=False)
name = st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,15}", fullmatch=True)


def _attempt(read, path, expected):
    """``(result, None)`` or ``(None, error)`` for the documented error type; others propagate."""
    try:
        return read(path), None
    except expected as error:
        return None, error


@st.composite
def pick_tables(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=12))
    return make_picks(
        draw(st.lists(coordinate, min_size=n, max_size=n)),
        draw(st.lists(coordinate, min_size=n, max_size=n)),
        diameter=draw(st.lists(diameter, min_size=n, max_size=n)),
        score=draw(st.lists(score, min_size=n, max_size=n)),
        micrograph=draw(name),
    )


@pytest.mark.parametrize("format", sorted(FORMATS))
@SETTINGS
@given(table=pick_tables())
def test_round_trip_every_format(tmp_path, format, table):
    path = tmp_path / f"{table['micrograph'].iloc[0] if len(table) else 'empty'}{SUFFIX[format]}"
    options = {"integer": False} if format == "topaz" else {}
    if format == "box":
        options["decimals"] = 3
    write_picks(table, path, format, **options)
    back = read_picks(path, format)
    assert len(back) == len(table)
    # 3 decimals (topaz: 2); box and cbox store corner and size, each rounded
    tolerance = {"topaz": 0.006, "box": 0.0011, "cbox": 0.0011}.get(format, 0.0006)
    np.testing.assert_allclose(back["x"], table["x"], atol=tolerance)
    np.testing.assert_allclose(back["y"], table["y"], atol=tolerance)
    if format in ("star", "csv", "box", "cbox"):
        np.testing.assert_allclose(back["diameter"], table["diameter"], atol=tolerance)
    if format in ("star", "csv", "cbox"):
        # 6 decimals: candidates read back keep the picker's order (4 decimals tied them)
        np.testing.assert_allclose(back["score"], table["score"], atol=6e-7)
    if format == "topaz":
        # Topaz stores logits: p = 0 or 1 come back clipped by the logit's epsilon
        np.testing.assert_allclose(back["score"], table["score"], atol=1e-4)
    if len(table) and format in ("star", "csv", "topaz"):
        assert set(back["micrograph"]) == set(table["micrograph"])
    assert not list(tmp_path.glob(".*.tmp")), "the atomic writer left a temporary file"


@pytest.mark.parametrize("suffix", sorted(set(SUFFIX.values())))
@SETTINGS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_but_pick_file_error(tmp_path, suffix, data):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    table, error = _attempt(read_picks, path, PickFileError)
    if error is not None:
        assert str(error).startswith(str(path))
    else:
        assert {"x", "y", "diameter"} <= set(table.columns)
        assert np.isfinite(table["x"]).all()
        assert np.isfinite(table["y"]).all()
        finite = table["diameter"].dropna()
        assert (finite > 0).all()
        assert np.isfinite(finite).all()


text_line = st.lists(
    st.one_of(
        st.sampled_from(["inf", "-inf", "nan", "NaN", "<NA>", "0", "-3", "1e309", "", "x"]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize(
    ("suffix", "header", "separator"),
    [
        (".csv", "x,y,diameter,score", ","),
        (".txt", "image_name\tx_coord\ty_coord\tscore", "\t"),
        (".box", "", "\t"),
    ],
)
@SETTINGS
@given(rows=st.lists(text_line, min_size=1, max_size=5))
def test_structured_garbage_gives_pick_file_error_or_valid_picks(
    tmp_path, suffix, header, separator, rows
):
    lines = [header] if header else []
    lines += [separator.join(fields) for fields in rows]
    path = tmp_path / f"m{suffix}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table, error = _attempt(read_picks, path, PickFileError)
    if error is not None:
        assert str(error).startswith(str(path))
    else:
        assert np.isfinite(table[["x", "y"]].to_numpy()).all()
        finite = table["diameter"].dropna()
        assert (finite > 0).all()
        assert np.isfinite(finite).all()
        assert np.isfinite(table["score"].dropna()).all()


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ("x,y,diameter\n1,2,10\n3,inf,10\n", 2),
        ("x,y,diameter\n1,2,10\n3,4,0\n", 2),
        ("x,y,diameter\n1,2,-5\n", 1),
        ("x,y,diameter\n1,2,inf\n", 1),
        ("x,y,score\n1,2,inf\n", 1),
    ],
)
def test_impossible_values_name_the_file_and_row(tmp_path, text, row):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(PickFileError, match=rf"data row {row}") as raised:
        read_picks(path)
    assert str(raised.value).startswith(str(path))


def test_box_with_zero_width_or_infinite_corner_is_refused(tmp_path):
    path = tmp_path / "m.box"
    path.write_text("10\t10\t20\t20\n5\t5\t0\t0\n")
    with pytest.raises(PickFileError, match="data row 2"):
        read_picks(path)
    path.write_text("10\t10\t20\t20\ninf\t5\t20\t20\n")
    with pytest.raises(PickFileError, match="data row 2"):
        read_picks(path)


def test_picks_far_off_the_micrograph_are_refused_edge_picks_dropped(caplog):
    table = make_picks([10.0, 50.0, -4.0], [10.0, 50.0, 10.0], diameter=20.0)
    kept = picks_on_micrograph(table, (100, 100), source="m.csv")
    assert len(kept) == 2  # the one 3.5 px beyond the border (half a diameter is 10) is dropped
    assert "dropped 1 of 3 picks whose centre lies outside" in caplog.text
    # fiber rows are points along paths (a trial read "1 of 294 picks" for a 53-row file)
    caplog.clear()
    picks_on_micrograph(table.assign(kind="fiber", tube_id=1), (100, 100), source="f.csv")
    assert "dropped 1 of 3 points along the fiber paths outside" in caplog.text
    far = make_picks([10.0, 5000.0], [10.0, 10.0], diameter=20.0)
    with pytest.raises(PickFileError, match=r"m.csv: data row 2: pick at \(x=5000"):
        picks_on_micrograph(far, (100, 100), source="m.csv")
    # not strict (training): far picks are dropped too, but all-outside stays an error
    assert len(picks_on_micrograph(far, (100, 100), source="m.csv", strict=False)) == 1
    all_out = make_picks([500.0] * 30, [500.0] * 30, diameter=20.0)
    with pytest.raises(PickFileError, match="30 of 30 picks"):
        picks_on_micrograph(all_out, (100, 100), source="m.csv", strict=False)
    # a fiber path drawn past the edge (a fibers trial: 40 px beyond, a 24 px fiber,
    # stopped the training): its points beyond are dropped; a path wholly outside is far
    path = make_picks([-40.0, 0.0, 40.0, 80.0], [50.0] * 4, diameter=24.0, kind="fiber")
    path = path.assign(tube_id=1)
    caplog.clear()
    kept = picks_on_micrograph(path, (100, 100), source="f.csv")
    assert kept["x"].tolist() == [0.0, 40.0, 80.0]
    assert "dropped 1 of 4 points along the fiber paths outside" in caplog.text
    outside = path.assign(x=path["x"] + 300.0, tube_id=2)
    with pytest.raises(PickFileError, match=r"f\.csv: data row 5"):
        picks_on_micrograph(
            pd.concat([path, outside], ignore_index=True), (100, 100), source="f.csv"
        )


def test_a_pick_larger_than_its_micrograph_is_refused_naming_it():
    # a trial: 5000 px vesicles on a 2217 px micrograph trained a model at 5000 px, with
    # only "3 duplicate picks left out"; in napari a 3000 px circle on a 768 px one
    table = make_picks([50.0, 60.0], [50.0, 40.0], diameter=[170.0, 190.0], kind="vesicle")
    with pytest.raises(
        PickFileError,
        match=r"m.csv: data row 2: a vesicle of 190 px at \(x=60, y=40\) is larger than the "
        r"120 x 100 px micrograph \(1 of 2 picks are\)",
    ):
        picks_on_micrograph(table, (100, 120), source="m.csv", strict=False)
    assert len(picks_on_micrograph(table.iloc[:1], (100, 120), source="m.csv")) == 1


def test_edge_picks_without_a_diameter_get_the_given_one_or_a_share_of_the_side(caplog):
    """RELION's STAR, Topaz and CSV files carry no diameter: a trial's pick 3 px off the
    edge of a 1024 px micrograph stopped the training (the slack was 1 px)."""
    table = make_picks([-3.0, 500.0], [50.0, 50.0])  # no diameter
    assert len(picks_on_micrograph(table, (1024, 1024), source="m.star")) == 1
    assert "dropped 1 of 2" in caplog.text
    off = make_picks([-25.0, 500.0], [50.0, 50.0])
    assert len(picks_on_micrograph(off, (1024, 1024), source="m.star", diameter_px=56.0)) == 1
    with pytest.raises(PickFileError, match="data row 1"):  # 25 px: beyond 2 % of 1024 px
        picks_on_micrograph(off, (1024, 1024), source="m.star")
    with pytest.raises(PickFileError, match="data row 1"):  # and beyond half of 40 px
        picks_on_micrograph(off, (1024, 1024), source="m.star", diameter_px=40.0)


# --- micrograph readers ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mrc", ".tif", ".png", ".jpg"])
@SETTINGS
@given(data=st.binary(max_size=600))
def test_micrograph_readers_raise_only_micrograph_error(tmp_path, suffix, data):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    micrograph, error = _attempt(read_micrograph, path, MicrographError)
    if error is not None:
        message = str(error)
        assert message.startswith(str(path))
        assert "\n" not in message, "errors are one line"
        assert "pip install" not in message
    else:
        assert micrograph.data.ndim == 2
        assert np.isfinite(micrograph.data).all()


def _mrc_header(tmp_path_factory_dir) -> bytes:
    from napari_cryopick.io.micrographs import write_mrc

    path = write_mrc(tmp_path_factory_dir / "header.mrc", np.zeros((8, 8), np.float32), 1.0)
    return path.read_bytes()[:1024]  # says 8 x 8 float32: 256 bytes of data follow


@pytest.fixture(scope="module")
def mrc_header(tmp_path_factory) -> bytes:
    return _mrc_header(tmp_path_factory.mktemp("header"))


@SETTINGS
@given(tail=st.binary(max_size=300))
def test_truncated_or_padded_mrc_gives_micrograph_error(tmp_path, mrc_header, tail):
    path = tmp_path / "cut.mrc"
    path.write_bytes(mrc_header + tail)
    micrograph, error = _attempt(read_micrograph, path, MicrographError)
    if error is not None:
        assert str(error).startswith(str(path))
        assert "\n" not in str(error)
    else:
        assert np.isfinite(micrograph.data).all()


@SETTINGS
@given(
    image=st.integers(2, 24).flatmap(
        lambda n: st.lists(
            st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=n * n, max_size=n * n
        ).map(lambda values: np.asarray(values, np.float32).reshape(n, n))
    )
)
def test_mrc_round_trip(tmp_path, image):
    from napari_cryopick.io.micrographs import write_mrc

    path = write_mrc(tmp_path / "m.mrc", image, pixel_size=1.5)
    back = read_micrograph(path)
    np.testing.assert_array_equal(back.data, image)
    assert math.isclose(back.pixel_size, 1.5, rel_tol=1e-6)


# --- helical / filament files ---------------------------------------------------------------


point = st.tuples(coordinate, coordinate)


@SETTINGS
@given(
    pieces=st.lists(st.tuples(point, point).filter(lambda p: math.dist(p[0], p[1]) > 1), max_size=5)
)
def test_helical_star_round_trip(tmp_path, pieces):
    from napari_cryopick.io.filaments import read_relion_helical, write_relion_helical

    paths = [np.array(piece, dtype=np.float64) for piece in pieces]
    target = tmp_path / "m.star"
    write_relion_helical({"m": paths}, target, layout="start_end")
    back = read_relion_helical(target)
    got = [p for name in back for p in back[name]]
    assert len(got) == len(paths)
    for written, read in zip(paths, got):
        np.testing.assert_allclose(read, written, atol=0.0006)


@pytest.mark.parametrize("suffix", [".star", ".cbox"])
@SETTINGS
@given(data=st.binary(max_size=400))
def test_filament_readers_raise_only_pick_file_error(tmp_path, suffix, data):
    from napari_cryopick.io.filaments import read_cryolo_filaments, read_relion_helical

    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    read = read_relion_helical if suffix == ".star" else read_cryolo_filaments
    paths, error = _attempt(read, path, PickFileError)
    if error is not None:
        assert str(error).startswith(str(path))
    else:
        flat = list(paths.values()) if isinstance(paths, dict) else [paths]
        for group in flat:
            for line in group:
                assert np.isfinite(line).all()


#: Lines STAR files are made of, valid and not: shuffled into files that starfile
#: reads, refuses, or (before its layout was checked) failed on with its internals.
star_line = st.sampled_from(
    [
        "data_",
        "data_micrographs",
        "data_optics",
        "loop_",
        "_rlnMicrographName #1",
        "_rlnOpticsGroup #2",
        "_rlnCoordinateX #1",
        "_rlnCoordinateY #2",
        "_rlnMicrographPixelSize 1.5",
        "mics/a.mrc 1",
        "mics/a.mrc 1 4.5",
        "10 20",
        "7",
        "",
        "# version 30001",
    ]
)
#: Python's and pandas' words that reached users through starfile ("cannot unpack
#: non-iterable NoneType object" for a trial's data_micrographs without loop_).
_INTERNALS = ("NoneType", "unpack", "Length mismatch", "axis", "has no attribute", "index")


@pytest.mark.parametrize("reader", ["picks", "helical", "micrographs"])
@SETTINGS
@given(lines=st.lists(star_line, min_size=1, max_size=10))
def test_star_readers_say_what_is_wrong_in_the_file_not_starfile_internals(tmp_path, reader, lines):
    from napari_cryopick.io.filaments import read_relion_helical
    from napari_cryopick.io.relion import RelionStarError, read_micrographs_star

    path = tmp_path / "fuzz.star"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read, expected = {
        "picks": (read_picks, PickFileError),
        "helical": (read_relion_helical, PickFileError),
        "micrographs": (lambda p: read_micrographs_star(p, tmp_path), RelionStarError),
    }[reader]
    _result, error = _attempt(read, path, expected)
    if error is not None:
        message = str(error)
        assert message.startswith(str(path))
        assert not any(word in message for word in _INTERNALS), message
