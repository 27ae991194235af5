"""napari contributions: readers and writers through a real viewer, plus the
pure layer functions they are built on."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_cryopick import _reader, _writer
from napari_cryopick.core import pick_table as picks
from napari_cryopick.io.micrographs import Micrograph, write_mrc
from napari_cryopick.io.pickfiles import read_picks, write_picks
from napari_cryopick.layers.points import (
    OPENING_KEY,
    micrograph_layer,
    picks_layer,
    points_to_picks,
)

PLUGIN = "napari-cryopick"


@pytest.fixture
def notified(monkeypatch):
    """The messages shown as napari warnings (notifications) while the test runs."""
    import napari.utils.notifications

    messages: list[str] = []
    monkeypatch.setattr(
        napari.utils.notifications, "show_warning", lambda message: messages.append(str(message))
    )
    return messages


SUFFIX = {"star": ".star", "box": ".box", "cbox": ".cbox", "topaz": ".txt", "csv": ".csv"}
WRITERS = {
    "star": _writer.write_star,
    "box": _writer.write_box,
    "cbox": _writer.write_cbox,
    "topaz": _writer.write_topaz,
    "csv": _writer.write_csv,
}


def sample_picks(micrograph: str = "mic_001") -> pd.DataFrame:
    return picks.make_picks(
        [30.0, 75.0, 120.0],
        [40.0, 20.0, 90.0],
        diameter=[20.0, 24.0, 30.0],
        score=[0.9, 0.4, 0.7],
        micrograph=micrograph,
    )


# --- pure layer functions ----------------------------------------------------


def test_micrograph_layer_metadata_and_contrast():
    data = np.zeros((50, 60), dtype=np.float32)
    data[10, 10] = 1e6  # a hot pixel must not set the contrast
    data[20:, :] = 1.0
    micrograph = Micrograph(data=data, pixel_size=1.5, name="m", path=Path("/x/m.mrc"))
    layer_data, kwargs, layer_type = micrograph_layer(micrograph)
    assert layer_type == "image"
    assert layer_data is data
    assert kwargs["name"] == "m"
    assert kwargs["metadata"]["pixel_size"] == 1.5
    assert kwargs["metadata"]["path"] == str(Path("/x/m.mrc"))
    low, high = kwargs["contrast_limits"]
    assert low == 0.0
    assert high <= 1.0


def test_picks_layer_is_row_col_with_features_and_sizes():
    table = sample_picks()
    data, kwargs, layer_type = picks_layer(table, "p", kind="vesicle")
    assert layer_type == "points"
    np.testing.assert_array_equal(data, table[["y", "x"]].to_numpy())
    np.testing.assert_array_equal(kwargs["size"], table["diameter"])
    assert list(kwargs["features"]["score"]) == [0.9, 0.4, 0.7]
    assert kwargs["face_color"] == "transparent"
    border = np.asarray(kwargs["border_color"])
    assert border.shape == (3, 4)
    assert not np.allclose(border[0], border[1])  # coloured by score
    assert kwargs["feature_defaults"]["kind"] == "vesicle"
    assert kwargs["metadata"]["micrograph"] == "mic_001"


def test_picks_layer_unknown_diameter_uses_default():
    table = picks.make_picks([1.0, 2.0], [3.0, 4.0])
    _, kwargs, _ = picks_layer(table, default_diameter=55)
    np.testing.assert_array_equal(kwargs["size"], [55, 55])


def test_points_to_picks_inverts_picks_layer_and_uses_last_two_axes():
    table = sample_picks()
    data, kwargs, _ = picks_layer(table)
    back = points_to_picks(data, kwargs["features"])
    np.testing.assert_allclose(
        back[["x", "y", "diameter", "score"]], table[["x", "y", "diameter", "score"]]
    )
    assert back["micrograph"].tolist() == table["micrograph"].tolist()
    stacked = np.column_stack([np.full(3, 2.0), data])  # (plane, row, col)
    back3d = points_to_picks(stacked, micrograph="m", default_diameter=12)
    np.testing.assert_allclose(back3d[["x", "y"]], table[["x", "y"]])
    assert (back3d["micrograph"] == "m").all()
    assert (back3d["diameter"] == 12).all()


# --- reader hooks ---------------------------------------------------------------


def test_readers_claim_only_their_files(tmp_path):
    mrc = write_mrc(tmp_path / "m.mrc", np.zeros((8, 8)))
    assert _reader.get_micrograph_reader(str(mrc)) is not None
    assert _reader.get_micrograph_reader(str(tmp_path / "m.star")) is None
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    table_csv = tmp_path / "other.csv"
    table_csv.write_text("a,b\n1,2\n")
    model_star = tmp_path / "model.star"
    model_star.write_text("data_model\n\nloop_\n_rlnClassDistribution\n1\n")
    for path in (notes, table_csv, model_star, mrc):
        assert _reader.get_picks_reader(str(path)) is None
    picks_csv = write_picks(sample_picks(), tmp_path / "p.csv")
    picks_txt = write_picks(sample_picks(), tmp_path / "p.txt")
    picks_star = write_picks(sample_picks(), tmp_path / "p.star")
    for path in (picks_csv, picks_txt, picks_star):
        assert _reader.get_picks_reader(str(path)) is not None
    # an empty file is claimed, and refused with its reason: napari said only that the
    # reader "refused the file", or asked which reader to use (a trial)
    for name in ("empty.star", "empty.csv", "empty.txt"):  # (an empty BOX file is valid)
        (tmp_path / name).write_bytes(b"")
        reader = _reader.get_picks_reader(str(tmp_path / name))
        assert reader is not None, name
        with pytest.raises(ValueError, match=rf"{name}: file is empty \(0 bytes\)"):
            reader(str(tmp_path / name))
    # so is one of only white space (napari said it "refused the file"; a trial)
    for name in ("blank.star", "blank.csv", "blank.txt"):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf  \n\n\t\r\n")
        reader = _reader.get_picks_reader(str(tmp_path / name))
        assert reader is not None, name
        with pytest.raises(ValueError, match=rf"{name}: file holds only white space \(10 bytes\)"):
            reader(str(tmp_path / name))


def test_picks_reader_claims_a_utf16_pick_file_and_says_its_encoding(tmp_path):
    # a review: napari said only "no reader" for a Topaz file saved as "Unicode" (UTF-16);
    # an I/O fuzz: a STAR file too, where the command line said why
    for name, text in (
        ("p.txt", "image_name\tx_coord\ty_coord\nm\t10\t20\n"),
        ("p.star", "data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n"),
    ):
        path = tmp_path / name
        path.write_bytes(text.encode("utf-16"))
        reader = _reader.get_picks_reader(str(path))
        assert reader is not None, name
        with pytest.raises(ValueError, match=rf"{name}: a UTF-16 text file: pick files are read"):
            reader(str(path))
    notes = tmp_path / "notes.txt"
    notes.write_bytes("shopping list\n".encode("utf-16"))
    assert _reader.get_picks_reader(str(notes)) is None


def test_picks_reader_opens_cryosparc_particles_and_relion_s_coordinate_index(tmp_path):
    # an interop trial: the command line read both, napari's reader claimed neither
    from napari_cryopick.io.relion import write_coordinate_files_star

    fields = {
        "location/micrograph_path": np.array(
            ["J4/m/012345678901234567890_mic_a.mrc"] * 2, dtype="S64"
        ),
        "location/center_x_frac": np.array([0.25, 0.5], np.float32),
        "location/center_y_frac": np.array([0.5, 0.75], np.float32),
        "location/micrograph_shape": np.array([[400, 600]] * 2, np.uint32),
    }
    data = np.zeros(2, dtype=[(name, v.dtype, v.shape[1:]) for name, v in fields.items()])
    for name, values in fields.items():
        data[name] = values
    cs = tmp_path / "J5_particles.cs"
    with open(cs, "wb") as handle:  # as cryoSPARC writes them
        np.save(handle, data)
    reader = _reader.get_picks_reader(str(cs))
    assert reader is not None
    (layer,) = reader(str(cs))
    # the exposure file's own name (the micrograph opened from cryoSPARC's folder)
    assert layer[1]["metadata"]["micrograph"] == "012345678901234567890_mic_a"
    np.testing.assert_allclose(layer[0], [[200.0, 150.0], [300.0, 300.0]])  # (row, col)

    job = tmp_path / "External" / "job004"
    (job / "Movies").mkdir(parents=True)
    for name in ("mic_b", "mic_c"):
        write_picks(sample_picks(name), job / "Movies" / f"{name}_autopick.star")
    index = write_coordinate_files_star(
        job,
        [
            (f"MotionCorr/job002/Movies/{n}.mrc", job / "Movies" / f"{n}_autopick.star")
            for n in ("mic_b", "mic_c")
        ],
        project_dir=tmp_path,
    )
    reader = _reader.get_picks_reader(str(index))
    assert reader is not None
    layers = reader(str(index))
    assert [kwargs["metadata"]["micrograph"] for _, kwargs, _ in layers] == ["mic_b", "mic_c"]
    assert all(len(data) == len(sample_picks()) for data, _, _ in layers)


def test_picks_reader_one_layer_per_micrograph(tmp_path):
    table = pd.concat([sample_picks("a"), sample_picks("b")], ignore_index=True)
    path = write_picks(table, tmp_path / "both.star")
    layers = _reader.get_picks_reader(str(path))(str(path))
    # named after the file, never as the Pick widget's result layers ("a picks")
    assert [kwargs["name"] for _, kwargs, _ in layers] == [
        "a picks from both.star",
        "b picks from both.star",
    ]
    assert [kwargs["metadata"]["micrograph"] for _, kwargs, _ in layers] == ["a", "b"]


def mixed_picks(micrograph: str = "mic_001") -> pd.DataFrame:
    """One particle, two vesicles (48 and 60 px) and two traced fibers, without scores."""
    return pd.concat(
        [
            picks.make_picks([30.0], [40.0], diameter=20.0, micrograph=micrograph),
            picks.make_picks([100.0, 200.0], [100.0, 150.0], diameter=[48.0, 60.0],
                             micrograph=micrograph, kind="vesicle"),
            picks.make_picks([20.0, 60.0, 100.0], [200.0, 205.0, 210.0], diameter=24.0,
                             micrograph=micrograph, kind="fiber", tube_id=1),
            picks.make_picks([250.0, 250.0], [20.0, 120.0], diameter=24.0,
                             micrograph=micrograph, kind="fiber", tube_id=2),
        ],
        ignore_index=True,
    )  # fmt: skip


def test_picks_reader_gives_circles_for_vesicles_and_paths_for_fibers(tmp_path):
    from napari_cryopick.layers.results import shapes_to_paths, shapes_to_vesicles

    path = write_picks(mixed_picks(), tmp_path / "mic_001.csv", "csv")
    layers = _reader.get_picks_reader(str(path))(str(path))
    assert [(kwargs["name"], kind) for _, kwargs, kind in layers] == [
        ("mic_001 picks from mic_001.csv", "points"),
        ("mic_001 vesicles from mic_001.csv", "shapes"),
        ("mic_001 fibers from mic_001.csv", "shapes"),
    ]
    (points, _, _), (circles, circle_kwargs, _), (paths, path_kwargs, _) = layers
    np.testing.assert_allclose(points, [[40.0, 30.0]])  # particles stay points
    assert circle_kwargs["shape_type"] == "ellipse"
    back = shapes_to_vesicles(circles)
    np.testing.assert_allclose(back[["x", "y", "diameter"]], [[100, 100, 48], [200, 150, 60]])
    # turned with napari's rotation handle (a trial: 200 px became 283 px at 45 degrees)
    turn = np.deg2rad(45.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = np.array([100.0, 100.0])
    rotated = [(np.asarray(c, float) - centre) @ rotation.T + centre for c in circles[:1]]
    np.testing.assert_allclose(
        shapes_to_vesicles(rotated)[["x", "y", "diameter"]], [[100, 100, 48]]
    )
    assert circle_kwargs["metadata"]["kind"] == "vesicle"
    assert path_kwargs["shape_type"] == "path"
    assert path_kwargs["metadata"]["kind"] == "fiber"
    np.testing.assert_allclose(shapes_to_paths(paths)[1], [[250, 20], [250, 120]])
    # a file of vesicles only opens as circles only
    only = write_picks(mixed_picks().iloc[1:3], tmp_path / "v.star", "star")
    assert [kind for *_, kind in _reader.read_picks_layers(str(only))] == ["shapes"]


def test_picks_reader_opens_simulated_fiber_centre_lines_as_paths(tmp_path):
    golden = Path(__file__).parent / "golden" / "simulate_fibers.json"
    reader = _reader.get_picks_reader(str(golden))
    assert reader is not None
    ((paths, kwargs, kind),) = reader(str(golden))
    assert (kwargs["name"], kind, kwargs["shape_type"]) == (
        "sim_0000 fibers from simulate_fibers.json",
        "shapes",
        "path",
    )
    assert [len(path) for path in paths] == [3, 2]
    np.testing.assert_allclose(paths[1], [[50.0, 50.0], [51.0, 50.0]])  # (row, col)
    # other JSON files (an annotation sidecar, a review file) are not claimed
    sidecar = tmp_path / "m.cryopick.json"
    sidecar.write_text('{"micrograph": "m.mrc", "picks": {"x": [1.0], "y": [2.0]}}')
    review = tmp_path / "cryopick_review.json"
    review.write_text('{"format": "cryopick review", "reviewed": ["fibers"]}')
    for path in (sidecar, review):
        assert _reader.get_picks_reader(str(path)) is None


# --- through a viewer ---------------------------------------------------------------


@pytest.mark.gui
def test_opened_vesicles_and_fibers_look_like_the_pick_widget_results(make_napari_viewer, tmp_path):
    """File > Open of a vesicle and fiber file gives the circles and paths the Pick
    widget shows for the same picks: same names, colours, widths and metadata."""
    from napari_cryopick.layers.results import SHOWS_KEY, SOURCE_KEY

    viewer = make_napari_viewer()
    viewer.open(str(write_mrc(tmp_path / "mic_001.mrc", np.zeros((300, 300)))), plugin=PLUGIN)
    folder = tmp_path / "picks"
    folder.mkdir()
    path = write_picks(mixed_picks(), folder / "mic_001.csv", "csv")
    _dock, pick = viewer.window.add_plugin_dock_widget(PLUGIN, "Pick")
    assert pick.review.load_picks(folder) == ["mic_001"]
    shown = {what: viewer.layers[f"mic_001 {what}"] for what in ("picks", "vesicles", "fibers")}
    opened = viewer.open(str(path), plugin=PLUGIN)
    assert len(opened) == 3
    for layer, what in zip(opened, ("picks", "vesicles", "fibers"), strict=True):
        result = shown[what]
        assert layer.name == f"mic_001 {what} from mic_001.csv"  # not the results' name
        assert type(layer) is type(result), what
        if what == "picks":
            continue
        assert list(layer.shape_type) == list(result.shape_type)
        for a, b in zip(layer.data, result.data, strict=True):
            np.testing.assert_allclose(a, b)
        np.testing.assert_allclose(layer.edge_color, result.edge_color)
        np.testing.assert_allclose(layer.face_color, result.face_color)
        np.testing.assert_allclose(layer.edge_width, result.edge_width)
        own = {k: v for k, v in result.metadata.items() if k not in (SHOWS_KEY, "rows")}
        assert dict(layer.metadata) == {**own, SOURCE_KEY: "mic_001.csv"}  # opened from
    # the simulator's centre lines open as paths too (napari.yaml claims *.json)
    golden = Path(__file__).parent / "golden" / "simulate_fibers.json"
    (lines,) = viewer.open(str(golden), plugin=PLUGIN)
    assert (lines.name, list(lines.shape_type)) == (
        "sim_0000 fibers from simulate_fibers.json",
        ["path", "path"],
    )


@pytest.mark.gui
def test_a_fiber_of_one_point_is_left_out_with_its_file_and_tube_named(
    make_napari_viewer, tmp_path, caplog
):
    # a trial: napari raised "Shape needs at least two unique vertices" (16 frames, no file
    # named) for a CSV with a one-point tube beside a good one, and lost both; the command
    # line read it, and cryopick train trained it, unsaid
    import logging

    csv = tmp_path / "onept.csv"
    csv.write_text("x,y,diameter,kind,tube_id\n100,100,24,fiber,1\n"
                   "200,200,24,fiber,2\n220,260,24,fiber,2\n300,300,24,fiber,3\n"
                   "300,300,24,fiber,3\n")  # fmt: skip
    from napari_cryopick.io.pickfiles import drop_point_fibers

    table = read_picks(csv)  # kept: an extracted segment is a point on a fiber
    assert sorted(set(table["tube_id"])) == [1, 2, 3]
    with caplog.at_level(logging.WARNING):
        table = drop_point_fibers(table, csv)
    assert sorted(set(table["tube_id"])) == [2]
    assert f"{csv}: 2 fibers of one point (no path" in caplog.text
    assert "left out: tube 1, tube 3" in caplog.text
    # an unpaired start of start-end pairs: a tube of one row
    star = tmp_path / "odd.star"
    star.write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
                    "_rlnHelicalTubeID #3\n10 20 1\n110 20 1\n50 50 2\n")  # fmt: skip
    assert sorted(set(drop_point_fibers(read_picks(star), star)["tube_id"])) == [1]
    # napari opens the good fiber and shows the warning (not a traceback)
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match=r"onept.csv: 2 fibers of one point"):
        viewer.open(str(csv), plugin=PLUGIN)
    (layer,) = [layer for layer in viewer.layers if "onept.csv" in layer.name]
    assert len(layer.data) == 1


def test_a_csv_with_a_misspelt_column_is_read_and_its_problem_said(tmp_path):
    # a trial: File > Open of a CSV with "yy" for "y" said only that the reader "refused
    # the file"; the command line said what was wrong
    bad = tmp_path / "bad.csv"
    bad.write_text("x,yy,diameter\n1,2,3\n")
    reader = _reader.get_picks_reader(str(bad))
    assert reader is not None
    with pytest.raises(ValueError, match=r"bad.csv.*missing column 'y'"):
        reader(str(bad))


def test_a_csv_with_quoted_names_or_tabs_is_claimed(tmp_path):
    # a trial: "x","y" (R, Excel, QUOTE_ALL) read in the command line but napari's reader
    # did not claim it; a tab-separated one was not claimed either, where the command
    # line says which separator it found
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"x","y","diameter"\n10,20,30\n')
    reader = _reader.get_picks_reader(str(quoted))
    assert reader is not None
    assert len(reader(str(quoted))[0][0]) == 1
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("x\ty\n10\t20\n")
    reader = _reader.get_picks_reader(str(tabs))
    assert reader is not None
    with pytest.raises(ValueError, match=r"tabs.csv.*separates its columns"):
        reader(str(tabs))


def test_a_star_or_topaz_file_with_misspelt_columns_is_read_and_its_problem_said(tmp_path):
    # napari said only that the reader "refused the file" for a STAR file whose coordinate
    # columns are misspelt (the command line said which blocks it found)
    cases = {
        "coords.star": (
            "data_\nloop_\n_rlnCoordX #1\n_rlnCoordY #2\n10 20\n",
            r"coords.star: no block with rlnCoordinateX and rlnCoordinateY columns \(blocks "
            r"found: data_ \(rlnCoordX, rlnCoordY\)\)",
        ),
        "micrographs.star": (
            "data_micrographs\nloop_\n_rlnMicrographName #1\nm.mrc\n",
            r"micrographs.star: no block with rlnCoordinateX",
        ),
        "topaz.txt": (
            "image_name\tx\ty\nm\t1\t2\n",
            r"topaz.txt: cannot tell the pick format .*Topaz header",
        ),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        reader = _reader.get_picks_reader(str(tmp_path / name))
        assert reader is not None, name
        with pytest.raises(ValueError, match=message):
            reader(str(tmp_path / name))
    # a valid file without rows opens as an empty layer, said (a re-trial: unsaid)
    header_only = tmp_path / "m1.star"
    header_only.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n")
    with pytest.warns(UserWarning, match=r"m1.star: holds no picks"):
        layers = _reader.get_picks_reader(str(header_only))(str(header_only))
    assert [len(data) for data, _kwargs, _kind in layers] == [0]
    # a RELION job.star names "coords_suffix" in its values: not a pick file (a re-trial)
    job = tmp_path / "job.star"
    job.write_text(
        "data_job\n\n_rlnJobTypeLabel relion.extract\n\ndata_joboptions_values\n\nloop_\n"
        "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\n"
        "coords_suffix Select/job005/coords_suffix_autopick.star\n"
    )
    assert _reader.get_picks_reader(str(job)) is None


def test_a_folder_of_micrographs_opens_one_layer_each_beside_its_sidecars(
    make_napari_viewer, tmp_path, monkeypatch
):
    # a GUI trial: napari's File > Open Folder stacked the micrographs into one 3D layer
    # (Annotate was silent about it), or failed on the annotations' .cryopick.json files
    from napari_cryopick.io.annotations import Annotations, save_annotations

    rng = np.random.default_rng(0)
    for name in ("b", "a", "c"):
        write_mrc(tmp_path / f"{name}.mrc", rng.normal(size=(40, 48)).astype(np.float32), 2.0)
    save_annotations(Annotations(tmp_path / "a.mrc", sample_picks(), diameter_px=12.0))
    assert list(tmp_path.glob("*.json"))  # the sidecar lies beside them
    (tmp_path / "broken.mrc").write_bytes(b"not an MRC file")
    (tmp_path / "zero.png").write_bytes(b"")  # each named (a review read one of two)
    assert _reader.get_micrograph_reader(str(tmp_path / "empty")) is None
    (tmp_path / "empty").mkdir()
    assert _reader.get_micrograph_reader(str(tmp_path / "empty")) is None
    assert _reader.get_picks_reader(str(tmp_path)) is None
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match=r": 2 micrograph\(s\) not opened: .*broken.mrc.*zero.png"):
        viewer.open(str(tmp_path), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["a", "b", "c"]
    assert viewer.layers["a"].data.shape == (40, 48)
    assert viewer.layers["a"].metadata["cryopick_diameter"] == 12.0
    # a folder of thousands: the first ones, said
    viewer.layers.clear()  # (open ones are not read again)
    monkeypatch.setattr(_reader, "FOLDER_LAYERS_MAX", 2)
    (tmp_path / "broken.mrc").unlink()
    (tmp_path / "zero.png").unlink()
    with pytest.warns(UserWarning, match="opened the first 2 of its 3 micrographs"):
        layers = _reader.read_micrograph_folder(str(tmp_path))
    assert [kwargs["name"] for _data, kwargs, _kind in layers] == ["a", "b"]
    # large micrographs: as many as fit in the memory allowed (a facility trial's folder of
    # super-resolution micrographs, 0.77 GB a layer, blocked napari and filled memory)
    monkeypatch.setattr(_reader, "FOLDER_LAYERS_MAX", 50)
    monkeypatch.setattr(_reader, "FOLDER_BYTES_MAX", 40 * 48 * 4 + 1)  # a's, and a little
    with pytest.warns(UserWarning, match=r"opened the first 2 of its 3 micrographs \(by name, "):
        layers = _reader.read_micrograph_folder(str(tmp_path))
    assert [kwargs["name"] for _data, kwargs, _kind in layers] == ["a", "b"]
    # both caps at once: one message, of the whole folder (a review read "the first 50 of its
    # 120" and "the first 5 of its 50")
    monkeypatch.setattr(_reader, "FOLDER_LAYERS_MAX", 2)
    monkeypatch.setattr(_reader, "FOLDER_BYTES_MAX", 1)
    with pytest.warns(UserWarning, match="opened the first") as said:
        layers = _reader.read_micrograph_folder(str(tmp_path))
    messages = [str(w.message) for w in said if "opened the first" in str(w.message)]
    assert len(messages) == 1, messages
    assert "opened the first 1 of its 3 micrographs (by name, " in messages[0]


def test_a_folder_opens_one_micrograph_of_each_name(tmp_path):
    # a GUI trial: a.png beside a.mrc opened both; the one opened second closed again
    # (annotations and picks go by name) after a warning each
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    write_mrc(tmp_path / "a.mrc", rng.normal(size=(40, 48)).astype(np.float32), 2.0)
    imsave(tmp_path / "a.png", rng.integers(0, 255, size=(30, 30), dtype=np.uint8))
    imsave(tmp_path / "b.png", rng.integers(0, 255, size=(30, 30), dtype=np.uint8))
    with pytest.warns(UserWarning, match=r": opened a.mrc, not a.png of the same name"):
        layers = _reader.read_micrograph_folder(str(tmp_path))
    assert [(kwargs["name"], data.shape) for data, kwargs, _kind in layers] == [
        ("a", (40, 48)),
        ("b", (30, 30)),
    ]
    # a folder whose micrographs lie below it: where they are is said (a trial: napari
    # said only that no reader took it)
    (tmp_path / "run" / "Movies").mkdir(parents=True)
    (tmp_path / "a.mrc").rename(tmp_path / "run" / "Movies" / "a.mrc")
    reader = _reader.get_micrograph_reader(str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"run: no micrographs in this folder itself; .*Movies/"):
        reader(str(tmp_path / "run"))
    # each is marked as one of the folder's, the last with none left to come
    marks = [kwargs["metadata"][OPENING_KEY] for _data, kwargs, _kind in layers]
    assert marks[0][0] == marks[1][0]
    assert [left for _batch, left in marks] == [1, 0]


def test_viewer_opens_mrc_and_pick_file(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = np.random.default_rng(0).normal(size=(64, 80)).astype(np.float32)
    mrc = write_mrc(tmp_path / "mic_001.mrc", data, pixel_size=2.5)
    star = write_picks(sample_picks(), tmp_path / "mic_001.star")
    viewer.open(str(mrc), plugin=PLUGIN)
    viewer.open(str(star), plugin=PLUGIN)
    image, points = viewer.layers["mic_001"], viewer.layers["mic_001 picks from mic_001.star"]
    np.testing.assert_array_equal(image.data, data)
    assert image.metadata["pixel_size"] == 2.5
    np.testing.assert_allclose(points.data, sample_picks()[["y", "x"]].to_numpy())
    np.testing.assert_allclose(points.features["score"], [0.9, 0.4, 0.7])


def test_picks_of_a_micrograph_not_open_are_opened_hidden_and_said(make_napari_viewer, tmp_path):
    """A GUI trial: File > Open of 062's STAR with only 063 open drew 062's picks over
    063's image, unsaid. The layers of a micrograph not open (named by the file's rows,
    or a micrograph of that name beside an open one) open hidden, said; a file that
    names no other micrograph (a BOX file of another name) stays over the one seen."""
    from napari_cryopick.core.pick_table import make_picks

    viewer = make_napari_viewer()
    for name in ("mic_001", "mic_002"):
        write_mrc(tmp_path / f"{name}.mrc", np.zeros((128, 160), np.float32))
        viewer.open(str(tmp_path / f"{name}.mrc"), plugin=PLUGIN)
    write_mrc(tmp_path / "mic_004.mrc", np.zeros((128, 160), np.float32))  # not opened
    tables = [sample_picks(name) for name in ("mic_001", "mic_002", "mic_003")]
    path = write_picks(pd.concat(tables, ignore_index=True), tmp_path / "all.star")
    with pytest.warns(UserWarning, match="hidden") as said:
        viewer.open(str(path), plugin=PLUGIN)
    text = " ".join(str(w.message) for w in said)
    assert "all.star: mic_003 is not open: its layer is hidden, not drawn over mic_002" in text
    assert "tick the layer's eye icon" in text
    visible = {
        n: viewer.layers[f"{n} picks from all.star"].visible
        for n in ("mic_001", "mic_002", "mic_003")
    }
    assert not visible["mic_003"]
    # an open micrograph's picks show, as before (with a widget docked, napari selects
    # the new layer and its micrograph becomes the one seen)
    assert visible["mic_002"]
    assert visible["mic_001"]
    # a per-micrograph file (no names in its rows) of a micrograph beside the open ones
    (tmp_path / "picks").mkdir()
    per = write_picks(sample_picks("").assign(micrograph=""), tmp_path / "picks" / "mic_004.star")
    with pytest.warns(UserWarning, match="mic_004 is not open: its layer is hidden"):
        [other] = viewer.open(str(per), plugin=PLUGIN)
    assert not other.visible
    relion = write_picks(
        sample_picks("").assign(micrograph=""), tmp_path / "picks" / "mic_004_autopick.star"
    )
    with pytest.warns(UserWarning, match="is not open: its layer is hidden"):
        [named] = viewer.open(str(relion), plugin=PLUGIN)
    assert not named.visible
    # any name of the rule of cryopick train (a review: RELION's _manualpick and a
    # "-picks" file were drawn over the micrograph seen)
    for other_name in ("mic_004_manualpick.star", "mic_004-picks.star"):
        other_file = write_picks(
            sample_picks("").assign(micrograph=""), tmp_path / "picks" / other_name
        )
        with pytest.warns(UserWarning, match="is not open: its layer is hidden"):
            [named] = viewer.open(str(other_file), plugin=PLUGIN)
        assert not named.visible
    # rows naming a micrograph whose name extends the file's (mic.star of mic_005): the
    # rows name it (a review: drawn over the one seen)
    prefix = write_picks(sample_picks("mic_005"), tmp_path / "picks" / "mic.star")
    with pytest.warns(UserWarning, match="mic_005 is not open: its layer is hidden"):
        [longer] = viewer.open(str(prefix), plugin=PLUGIN)
    assert not longer.visible
    # a BOX file named after no micrograph (a user's own "my_picks.box"): over the one seen
    box = write_picks(make_picks([40.0], [50.0], diameter=20.0), tmp_path / "my_picks.box")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*hidden")
        [mine] = viewer.open(str(box), plugin=PLUGIN)
    assert mine.visible


def test_a_star_or_cbox_file_over_an_open_tiff_says_who_counts_y_from_the_last_row(
    make_napari_viewer, tmp_path, notified
):
    """A trial: File > Open of a crYOLO CBOX over a TIFF micrograph showed the picks
    mirrored (crYOLO counts TIFF y from the last row), unsaid. Now it is said for STAR,
    BOX and CBOX files of open TIFF micrographs, not for Topaz files, nor MRC ones."""
    import tifffile

    viewer = make_napari_viewer()
    data = np.random.default_rng(0).normal(size=(64, 80)).astype(np.float32)
    tifffile.imwrite(tmp_path / "mic_001.tif", data)
    write_mrc(tmp_path / "mic_002.mrc", data)
    viewer.open(str(tmp_path / "mic_001.tif"), plugin=PLUGIN)
    viewer.open(str(tmp_path / "mic_002.mrc"), plugin=PLUGIN)
    for format in ("star", "cbox"):
        path = write_picks(sample_picks(), tmp_path / f"mic_001{SUFFIX[format]}")
        with pytest.warns(UserWarning, match="TIFF.*mic_001.*from the last row"):
            viewer.open(str(path), plugin=PLUGIN)
    topaz = write_picks(sample_picks(), tmp_path / "mic_001.txt", format="topaz")
    mrc_star = write_picks(sample_picks("mic_002"), tmp_path / "mic_002.star")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*last row")
        viewer.open(str(topaz), plugin=PLUGIN)
        viewer.open(str(mrc_star), plugin=PLUGIN)
    assert len(viewer.layers["mic_002 picks from mic_002.star"].data) == 3
    # saving a TIFF micrograph's points as STAR or CBOX says the same (Topaz, MRC: not),
    # as a napari notification (napari's Save dialog swallows a writer's warnings)
    data_tuple = viewer.layers["mic_001 picks from mic_001.star"].as_layer_data_tuple()
    for format in ("star", "cbox"):
        notified.clear()
        WRITERS[format](str(tmp_path / f"saved{SUFFIX[format]}"), *data_tuple[:2])
        assert any(re.search("mic_001 is a TIFF.*Pick widget", m) for m in notified)
    mrc_tuple = viewer.layers["mic_002 picks from mic_002.star"].as_layer_data_tuple()
    notified.clear()
    WRITERS["topaz"](str(tmp_path / "saved.txt"), *data_tuple[:2])
    WRITERS["star"](str(tmp_path / "saved2.star"), *mrc_tuple[:2])
    assert not [m for m in notified if "TIFF" in m]


def test_opened_picks_go_to_the_open_micrograph_and_keep_its_diameter(
    make_napari_viewer, tmp_path, notified
):
    """A napari I/O trial: RELION's per-micrograph ``<mic>_autopick.star`` and
    cryoSPARC's UID-prefixed names were tied to no open micrograph (hidden beside it);
    picks without a diameter were saved back with the 32 px display fallback; a
    hand-made ``"<mic> my picks"`` layer was saved as micrograph ``"<mic> my picks"``
    at napari's point size; a BOX file named after the layer read back as another
    micrograph, unsaid."""
    from napari_cryopick.layers.points import DIAMETER_KEY

    viewer = make_napari_viewer()
    mrc = write_mrc(tmp_path / "mic_001.mrc", np.zeros((128, 160), np.float32))
    [image] = viewer.open(str(mrc), plugin=PLUGIN)
    image.metadata[DIAMETER_KEY] = 56.0
    no_diameter = sample_picks().assign(diameter=np.nan)
    # RELION's per-micrograph file names no micrograph: its file name does
    star = write_picks(no_diameter.assign(micrograph=""), tmp_path / "mic_001_autopick.star")
    assert "MicrographName" not in star.read_text()
    [opened] = viewer.open(str(star), plugin=PLUGIN)
    assert opened.metadata["micrograph"] == "mic_001"
    assert opened.name == "mic_001 picks from mic_001_autopick.star"
    np.testing.assert_allclose(opened.size, 56.0)
    saved = WRITERS["star"](str(tmp_path / "saved.star"), *opened.as_layer_data_tuple()[:2])
    back = read_picks(saved[0])
    assert (back["micrograph"] == "mic_001").all()
    np.testing.assert_allclose(back["diameter"], 56.0)
    # a point added by hand among the file's picks (of their own size) is of that size (a
    # round-trip trial's were saved without one, and cryopick evaluate refused the file)
    # (with no diameter set for the micrograph: with one, that one)
    set_diameter = image.metadata.pop(DIAMETER_KEY)
    sized = write_picks(sample_picks("mic_001").assign(diameter=61.0), tmp_path / "sized.star")
    [with_size] = viewer.open(str(sized), plugin=PLUGIN)
    with_size.add([[20.0, 30.0]])
    back = read_picks(
        WRITERS["star"](str(tmp_path / "added.star"), *with_size.as_layer_data_tuple()[:2])[0]
    )
    assert len(back) == len(sample_picks()) + 1
    np.testing.assert_allclose(back["diameter"], 61.0)
    image.metadata[DIAMETER_KEY] = set_diameter
    # cryoSPARC's names (a UID before, the job's suffix after) go to the open micrograph
    uid = sample_picks("012345678901234567890_mic_001_patch_aligned_doseweighted")
    [from_cs] = viewer.open(str(write_picks(uid, tmp_path / "particles.csv")), plugin=PLUGIN)
    assert from_cs.metadata["micrograph"] == "mic_001"
    # with no diameter known anywhere, none is made up: STAR keeps none, BOX says why
    image.metadata.pop(DIAMETER_KEY)
    write_picks(no_diameter, tmp_path / "mic_001.star")
    [unknown] = viewer.open(str(tmp_path / "mic_001.star"), plugin=PLUGIN)
    data, meta = unknown.as_layer_data_tuple()[:2]
    assert (
        read_picks(WRITERS["star"](str(tmp_path / "s.star"), data, meta)[0])["diameter"]
        .isna()
        .all()
    )
    with pytest.raises(ValueError, match=r"box size unknown.*Annotate's Diameter for mic_001"):
        WRITERS["box"](str(tmp_path / "mic_001.box"), data, meta)
    # a hand-made layer named after the micrograph is its picks, at its diameter
    image.metadata[DIAMETER_KEY] = 40.0
    hand = viewer.add_points([[50.0, 60.0]], name="mic_001 my picks", size=10)
    back = read_picks(WRITERS["star"](str(tmp_path / "h.star"), *hand.as_layer_data_tuple()[:2])[0])
    assert back["micrograph"].tolist() == ["mic_001"]
    assert back["diameter"].tolist() == [40.0]
    other = viewer.add_points([[50.0, 60.0]], name="Points", size=10)
    notified.clear()
    back = read_picks(
        WRITERS["star"](str(tmp_path / "p.star"), *other.as_layer_data_tuple()[:2])[0]
    )
    assert back["diameter"].tolist() == [10.0]
    text = " ".join(notified)
    assert "'Points' names no open micrograph" in text
    assert "displayed size (10 px)" in text
    notified.clear()
    WRITERS["box"](str(tmp_path / "mic_001 my picks.box"), *opened.as_layer_data_tuple()[:2])
    assert any("reads back as micrograph 'mic_001 my picks'" in m for m in notified)
    notified.clear()
    WRITERS["box"](str(tmp_path / "mic_001_autopick.box"), *opened.as_layer_data_tuple()[:2])
    assert not [m for m in notified if "reads back" in m]
    # the micrograph's diameter now, not the one the layer was opened with (a re-trial)
    image.metadata[DIAMETER_KEY] = 44.0
    saved = WRITERS["star"](str(tmp_path / "now.star"), *opened.as_layer_data_tuple()[:2])
    np.testing.assert_allclose(read_picks(saved[0])["diameter"], 44.0)


@pytest.mark.gui
@pytest.mark.parametrize("format", list(WRITERS))
def test_viewer_saves_points_with_each_writer(make_napari_viewer, tmp_path, format):
    viewer = make_napari_viewer()
    table = sample_picks()
    layer = viewer.add_points(table[["y", "x"]].to_numpy(), name="mic_001", size=table["diameter"])
    layer.features = table[["score"]].reset_index(drop=True)
    path = tmp_path / f"saved{SUFFIX[format]}"
    data, meta, _ = layer.as_layer_data_tuple()
    written = WRITERS[format](str(path), data, meta)
    assert written == [str(path)]
    back = read_picks(path)
    # box and cbox files hold one micrograph, named by the file
    expected_name = "saved" if format in ("box", "cbox") else "mic_001"
    assert (back["micrograph"] == expected_name).all()
    atol = 0.5 if format in ("box", "topaz") else 1e-6
    np.testing.assert_allclose(back["x"], table["x"], atol=atol)
    np.testing.assert_allclose(back["y"], table["y"], atol=atol)
    if format == "box":  # one whole-pixel box a file (EMAN2's, crYOLO's): the median size
        np.testing.assert_allclose(back["diameter"], round(table["diameter"].median()))
    elif format != "topaz":
        np.testing.assert_allclose(back["diameter"], table["diameter"], atol=atol)  # from size
    if format in ("star", "cbox", "csv", "topaz"):
        np.testing.assert_allclose(back["score"], table["score"], atol=1e-4)


@pytest.mark.gui
def test_viewer_layers_save_uses_plugin_writer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    table = sample_picks()
    viewer.add_points(table[["y", "x"]].to_numpy(), name="mic_009", size=table["diameter"])
    path = tmp_path / "saved.star"
    viewer.layers.save(str(path), plugin=PLUGIN)
    back = read_picks(path)
    assert (back["micrograph"] == "mic_009").all()
    np.testing.assert_allclose(back[["x", "y", "diameter"]], table[["x", "y", "diameter"]])


@pytest.mark.gui
@pytest.mark.parametrize("suffix", [".star", ".csv"])
def test_drawn_vesicles_and_fibers_save_as_pick_files_that_reopen(
    make_napari_viewer, tmp_path, suffix
):
    """A vesicle trial: File > Save of drawn circles (or paths) with the plugin was "not a
    valid writer", and without it napari wrote its shapes CSV, which no picker reads."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.layers.results import fibers_layer, vesicles_layer

    viewer = make_napari_viewer()
    vesicles = make_picks([100.0, 220.0], [80.0, 150.0], diameter=[60.0, 90.0], kind="vesicle")
    data, kwargs, _ = vesicles_layer(vesicles, "mic vesicle", micrograph="mic", role="annotation")
    circles = viewer.add_shapes(data, **kwargs)
    path = tmp_path / f"mic_vesicles{suffix}"
    viewer.layers.selection = {circles}
    assert viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    back = read_picks(path)
    assert (back["kind"] == "vesicle").all()
    np.testing.assert_allclose(back[["x", "y", "diameter"]], vesicles[["x", "y", "diameter"]])
    (reopened,) = viewer.open(str(path), plugin=PLUGIN)
    assert list(reopened.shape_type) == ["ellipse", "ellipse"]
    fibers = make_picks([10.0, 60.0, 120.0, 40.0, 40.0], [20.0, 60.0, 20.0, 200.0, 260.0],
                        kind="fiber", tube_id=[1, 1, 1, 2, 2])  # fmt: skip
    tubes = [t[["x", "y"]].to_numpy() for _, t in fibers.groupby("tube_id")]
    data, kwargs, _ = fibers_layer(tubes, "mic fiber", micrograph="mic")
    paths = viewer.add_shapes(data, **kwargs)
    target = tmp_path / f"mic_fibers{suffix}"
    viewer.layers.selection = {paths}
    assert viewer.layers.save(str(target), selected=True, plugin=PLUGIN)
    back = read_picks(target)
    assert back["tube_id"].tolist() == [1, 1, 1, 2, 2]
    np.testing.assert_allclose(back[["x", "y"]], fibers[["x", "y"]])
    assert (back["micrograph"] == "mic").all()  # it reopens on its micrograph


def test_saving_a_picks_layer_as_box_gives_one_whole_pixel_box(tmp_path):
    """A re-trial: File > Save Selected Layers wrote 57 and 58 px boxes in one BOX file
    (and fractional CBOX widths) where the export writes one 57 px box."""
    from napari_cryopick import _writer

    table = sample_picks().assign(diameter=[57.3, 57.6, 56.8])
    data, kwargs, _ = picks_layer(table, "mic_001 picks")
    meta = {**kwargs, "name": "mic_001 picks"}
    (box,) = _writer.write_box(str(tmp_path / "mic_001.box"), data, meta)
    rows = np.loadtxt(box, ndmin=2)
    assert (rows[:, 2] == 57).all()
    (cbox,) = _writer.write_cbox(str(tmp_path / "mic_001.cbox"), data, meta)
    back = read_picks(cbox)
    np.testing.assert_allclose(back["diameter"], table["diameter"], atol=1e-3)


def test_a_micrograph_opens_with_the_diameter_and_data_set_its_sidecar_saved(tmp_path):
    """A re-trial docked only Train: it trained at the 100 px shown for a micrograph whose
    sidecar said 56 px (only Annotate read it). The reader gives every widget both."""
    from napari_cryopick.io.annotations import Annotations, save_annotations
    from napari_cryopick.layers.points import DATASET_KEY, DIAMETER_KEY

    path = write_mrc(
        tmp_path / "m.mrc", np.zeros((64, 64), np.float32) + np.eye(64, dtype=np.float32)
    )
    ((_data, kwargs, _kind),) = _reader.read_micrograph_layers(str(path))
    assert DIAMETER_KEY not in kwargs["metadata"]
    assert DATASET_KEY not in kwargs["metadata"]
    clicks = picks.make_picks([10.0], [20.0], diameter=56.0, micrograph="m")
    save_annotations(Annotations(path, clicks, dataset="ribosome", diameter_px=56.0))
    ((_data, kwargs, _kind),) = _reader.read_micrograph_layers(str(path))
    assert kwargs["metadata"][DIAMETER_KEY] == 56.0
    assert kwargs["metadata"][DATASET_KEY] == "ribosome"
    # an unreadable sidecar gives nothing here (Annotate says why when it loads it)
    sidecar = next(tmp_path.glob("*.cryopick.json"))
    sidecar.write_text("{not json")
    ((_data, kwargs, _kind),) = _reader.read_micrograph_layers(str(path))
    assert DIAMETER_KEY not in kwargs["metadata"]


def test_result_circles_are_coloured_by_score_apart_from_the_users():
    """A GUI trial saw its own cyan circles and the network's cyan circles as double rings,
    2 px wide: invisible on a whole 2217 px micrograph."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.layers.points import score_colours
    from napari_cryopick.layers.results import vesicles_layer

    vesicles = make_picks(
        [100.0, 220.0, 300.0], [80.0, 150.0, 60.0], diameter=180.0, kind="vesicle",
        score=[0.9, 0.2, np.nan],
    )  # fmt: skip
    _data, result, _ = vesicles_layer(vesicles, "vesicles", micrograph="mic")
    np.testing.assert_allclose(result["edge_color"], score_colours([0.9, 0.2, np.nan]))
    assert result["edge_color"][2].tolist() == [1.0, 1.0, 1.0, 1.0]  # drawn by hand: white
    assert result["edge_width"] == pytest.approx(6.0)  # 180 px / 30
    _data, own, _ = vesicles_layer(vesicles, "mic vesicle", micrograph="mic", role="annotation")
    assert own["edge_color"] == "cyan"
    small = make_picks([10.0], [10.0], diameter=20.0, kind="vesicle")
    assert vesicles_layer(small, role="annotation")[1]["edge_width"] == 2.0


def test_the_writers_warnings_reach_the_user_through_naparis_save_dialog(
    make_napari_viewer, tmp_path, monkeypatch, notified
):
    """A re-trial: napari's File > Save Selected Layers records a writer's warnings and
    shows them only when nothing was saved, so "'Points' names no open micrograph" and
    the diameter warning never reached the user. They are napari notifications now."""
    from qtpy.QtWidgets import QFileDialog

    viewer = make_napari_viewer()
    write_mrc(tmp_path / "mic_001.mrc", np.zeros((64, 80), np.float32))
    viewer.open(str(tmp_path / "mic_001.mrc"), plugin=PLUGIN)
    layer = viewer.add_points([[10.0, 20.0]], name="Points", size=10)
    viewer.layers.selection.active = layer
    target = tmp_path / "points_dlg.star"

    def save_file_name(*args, filter="", **kwargs):
        chosen = next(f for f in filter.split(";;") if "RELION STAR (*.star)" in f)
        return str(target), chosen

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_file_name)
    viewer.window._qt_viewer._save_layers_dialog(selected=True)
    assert target.is_file()
    text = " ".join(notified)
    assert "'Points' names no open micrograph" in text
    assert "displayed size (10 px)" in text
