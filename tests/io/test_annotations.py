"""Annotation sidecars: round trip, atomic writes, read-only folders, index, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.annotations import (
    SIDECAR_SUFFIX,
    AnnotationError,
    Annotations,
    dataset_summary,
    find_sidecar,
    list_annotated,
    load_annotations,
    read_sidecar,
    save_annotations,
    sidecar_path,
)


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))


def _micrograph(folder, name="mic_001.mrc"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\0" * 16)
    return path


def _table():
    particles = make_picks([10.5, 20.0], [30.0, 40.25], diameter=56.0, kind="particle")
    negatives = make_picks([5.0], [6.0], kind="negative")
    vesicles = make_picks([100.0], [120.0], diameter=80.0, kind="vesicle")
    fibers = make_picks([1, 2, 3, 50, 60], [1, 2, 3, 5, 6], kind="fiber", tube_id=[1, 1, 1, 2, 2])
    import pandas as pd

    return pd.concat([particles, negatives, vesicles, fibers], ignore_index=True)


def test_round_trip_beside_micrograph(tmp_path):
    path = _micrograph(tmp_path / "data")
    written = save_annotations(
        Annotations(micrograph_path=path, picks=_table(), dataset="ribo", diameter_px=56.0)
    )
    assert written == tmp_path / "data" / ("mic_001" + SIDECAR_SUFFIX)
    loaded = load_annotations(path)
    assert loaded.dataset == "ribo"
    assert loaded.diameter_px == 56.0
    assert loaded.counts() == {"particle": 2, "vesicle": 1, "fiber": 2, "negative": 1}
    np.testing.assert_allclose(
        loaded.of_kind("particle")[["x", "y"]], [[10.5, 30.0], [20.0, 40.25]]
    )
    assert np.isnan(loaded.of_kind("negative")["diameter"]).all()
    assert (loaded.picks["micrograph"] == "mic_001").all()
    assert list(loaded.of_kind("fiber")["tube_id"]) == [1, 1, 1, 2, 2]
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".tmp")]


def test_no_sidecar_gives_none(tmp_path):
    assert load_annotations(_micrograph(tmp_path)) is None


def test_read_only_folder_goes_to_user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    path = _micrograph(folder)
    real_access = os.access
    # a read-only folder (chmod is ignored when the tests run as root)
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == str(folder) else real_access(p, mode)
    )
    written = save_annotations(Annotations(micrograph_path=path, picks=_table()))
    assert written.parent == tmp_path / "user"
    assert not list(folder.glob("*" + SIDECAR_SUFFIX))
    assert find_sidecar(path) == written
    assert load_annotations(path).counts()["particle"] == 2


@pytest.mark.parametrize("length", [230, 246, 251])
def test_micrographs_of_the_longest_names_have_their_annotations_kept(tmp_path, length):
    # a re-trial: micrographs with stems of 242-250 bytes failed with "File name too long"
    # ('<name>.cryopick.json' is longer than a file name may be)
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / ("m" * length + ".mrc")
    path.write_bytes(b"")
    assert find_sidecar(path) is None
    written = save_annotations(Annotations(micrograph_path=path, picks=_table()))
    assert len(written.name.encode()) <= 255
    assert find_sidecar(path) == written
    assert load_annotations(path).counts()["particle"] == 2
    beside = length + len(".cryopick.json") <= 255
    assert (written.parent == folder) is beside  # beside it where the name fits
    # the per-user key keeps every stem that fitted before whole (a review: 201-233 bytes
    # were cut, and their saved annotations and corrections no longer found)
    from napari_cryopick.io.annotations import user_file_key

    key = user_file_key(path)
    assert len((key + ".json").encode()) <= 255
    assert key.startswith("m" * min(length, 233) + ("-" if length <= 233 else ""))


def test_folder_without_write_bits_goes_to_user_dir_even_for_root(tmp_path):
    folder = tmp_path / "shared"
    path = _micrograph(folder)
    folder.chmod(0o555)  # a shared raw-data folder; root may still write, but must not
    try:
        written = save_annotations(Annotations(micrograph_path=path, picks=_table()))
        assert written.parent == tmp_path / "user"
        assert not list(folder.glob("*" + SIDECAR_SUFFIX))
    finally:
        folder.chmod(0o755)


def test_saves_fallen_back_to_the_user_folder_are_read_and_kept(tmp_path, monkeypatch):
    """A review: a sidecar beside the micrograph, then the folder became read-only: the
    next save went to the per-user folder, the older file beside hid it on reading (15
    saved, 10 loaded) and the save after that overwrote the newer one."""
    folder = tmp_path / "d"
    path = _micrograph(folder)
    beside = save_annotations(Annotations(micrograph_path=path, picks=_table()[:1]))
    assert beside.parent == folder
    past = beside.stat().st_mtime_ns - 10**9
    os.utime(beside, ns=(past, past))
    real_replace = os.replace

    def read_only(src, dst, *args, **kwargs):  # the folder can no longer be written
        if Path(dst).parent == folder:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", read_only)
    fallback = save_annotations(Annotations(micrograph_path=path, picks=_table()[:3]))
    assert fallback.parent == tmp_path / "user"
    assert find_sidecar(path) == fallback
    assert len(load_annotations(path).picks) == 3
    again = save_annotations(Annotations(micrograph_path=path, picks=_table()[:2]))
    assert again == fallback
    assert len(load_annotations(path).picks) == 2


def test_existing_sidecar_is_reused(tmp_path):
    path = _micrograph(tmp_path / "d")
    assert sidecar_path(path).parent == tmp_path / "d"
    save_annotations(Annotations(micrograph_path=path, picks=_table()[:1]))
    save_annotations(Annotations(micrograph_path=path, picks=_table()[:3], dataset="b"))
    assert len(list((tmp_path / "d").glob("*" + SIDECAR_SUFFIX))) == 1
    assert len(load_annotations(path).picks) == 3


def test_index_lists_annotated_by_dataset(tmp_path):
    a = _micrograph(tmp_path / "a", "a.png")
    b = _micrograph(tmp_path / "b", "b.png")
    save_annotations(Annotations(micrograph_path=a, picks=_table(), dataset="one"))
    save_annotations(Annotations(micrograph_path=b, picks=_table(), dataset="two"))
    assert list_annotated() == [a.absolute(), b.absolute()]
    assert list_annotated("two") == [b.absolute()]
    b.unlink()
    assert list_annotated() == [a.absolute()]


@pytest.mark.parametrize("damage", ["cut short", "not utf-8"])
def test_a_damaged_index_keeps_what_can_be_read_and_is_set_aside(tmp_path, caplog, damage):
    """A robustness trial cut the index in half and clicked once: it was written again with
    that one micrograph, and Train's saved annotations went from 4 micrographs to 1 (a
    file that was not UTF-8 raised at every autosave)."""
    from napari_cryopick.io.annotations import user_annotation_dir

    paths = [_micrograph(tmp_path / name, f"{name}.png") for name in ("a", "b", "c", "d")]
    for path in paths[:3]:
        save_annotations(Annotations(micrograph_path=path, picks=_table(), dataset="one"))
    index = user_annotation_dir() / "index.json"
    text = index.read_bytes()
    damaged = (
        text[: text.index(b'"one"', text.index(b"b.png")) + 5]
        if damage == "cut short"
        else (b"\xff\xfe" + text)
    )
    index.write_bytes(damaged)
    assert list_annotated()[:2] == [paths[0].absolute(), paths[1].absolute()]  # still read
    with caplog.at_level("WARNING"):
        save_annotations(Annotations(micrograph_path=paths[3], picks=_table(), dataset="one"))
    kept = [paths[0], paths[1], paths[3]] if damage == "cut short" else paths
    assert list_annotated() == [p.absolute() for p in kept]
    [aside] = index.parent.glob("index.json.unreadable-*")
    assert aside.read_bytes() == damaged
    assert f"set aside as {aside}" in caplog.text


def test_dataset_summary_counts():
    items = [
        Annotations(micrograph_path="x.png", picks=_table(), dataset="one"),
        Annotations(micrograph_path="y.png", picks=_table(), dataset="one"),
        Annotations(micrograph_path="z.png", picks=_table()[:2], dataset="two"),
    ]
    summary = dataset_summary(items).set_index("dataset")
    assert summary.loc["one", "micrographs"] == 2
    assert summary.loc["one", "particle"] == 4
    assert summary.loc["one", "fiber"] == 4
    assert summary.loc["two", "negative"] == 0


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": "other"}),
        json.dumps(
            {
                "format": "napari-cryopick-annotations",
                "picks": {"x": [1], "y": [2], "kind": ["blob"]},
            }
        ),
        # edited by hand (a review: ValueError and AttributeError escaped the reader)
        json.dumps({"format": "napari-cryopick-annotations", "version": "1.0"}),
        json.dumps({"format": "napari-cryopick-annotations", "picks": [[1, 2]]}),
        json.dumps({"format": "napari-cryopick-annotations", "diameter_px": "wide"}),
        # an I/O trial: a TypeError and a RecursionError escaped (and stopped the reader)
        json.dumps(
            {
                "format": "napari-cryopick-annotations",
                "picks": {"x": [1, 2], "y": [2, 3], "kind": [[1], [2]]},
            }
        ),
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_bad_sidecar_raises_with_path(tmp_path, content):
    bad = tmp_path / ("m" + SIDECAR_SUFFIX)
    bad.write_text(content)
    with pytest.raises(AnnotationError, match=str(bad).replace("\\", "\\\\")):
        read_sidecar(bad)


def test_a_preview_and_its_micrograph_of_one_stem_keep_their_own_sidecars(tmp_path):
    """A trial annotated x.png (a binned preview) beside x.mrc: one <stem>.cryopick.json
    served both, so x.mrc opened with the preview's clicks, in another pixel grid."""
    preview = _micrograph(tmp_path / "data", "x.png")
    full = _micrograph(tmp_path / "data", "x.mrc")
    clicks = make_picks([10.0], [20.0], diameter=14.0, kind="particle")
    first = save_annotations(Annotations(preview, clicks, dataset="d", diameter_px=14.0))
    assert first.name == "x" + SIDECAR_SUFFIX
    assert load_annotations(full) is None
    assert sidecar_path(full).name == "x.mrc" + SIDECAR_SUFFIX
    more = make_picks([40.0, 80.0], [80.0, 160.0], diameter=56.0, kind="particle")
    second = save_annotations(Annotations(full, more, dataset="d", diameter_px=56.0))
    assert second.name == "x.mrc" + SIDECAR_SUFFIX
    assert len(load_annotations(preview).picks) == 1
    assert len(load_annotations(full).picks) == 2
    assert load_annotations(full).diameter_px == 56.0

    # the preview's sidecar gone: x.mrc still finds its own, and a new save goes there
    first.unlink()
    assert len(load_annotations(full).picks) == 2
    assert sidecar_path(full).name == "x.mrc" + SIDECAR_SUFFIX
    # a sidecar of a file converted since (x.tif -> x.mrc, the tif gone) stays the mrc's
    converted = _micrograph(tmp_path / "conv", "y.tif")
    save_annotations(Annotations(converted, clicks, dataset="d"))
    mrc = converted.with_suffix(".mrc")
    converted.rename(mrc)
    assert len(load_annotations(mrc).picks) == 1


def test_a_sidecars_unusable_positions_and_sizes_are_left_out_saying_so(tmp_path, caplog):
    """An I/O trial's hand-edited sidecar: a null x stopped training with "data must be
    finite" (no file named); diameters of -5 or NaN reached the layers."""
    sidecar = tmp_path / ("m" + SIDECAR_SUFFIX)
    # (and a robustness trial's x of 1e9 px overflowed napari's sliders: no micrograph's)
    picks = {
        "x": [None, 473.0, 10.0, 1e9],
        "y": [52.0, 86.0, 12.0, 5.0],
        "diameter": [56, -5, 40, 40],
    }
    picks.update(kind=["particle"] * 4, score=[None] * 4, tube_id=[0] * 4)
    document = {"format": "napari-cryopick-annotations", "diameter_px": -5, "picks": picks}
    sidecar.write_text(json.dumps(document))
    with caplog.at_level("WARNING"):
        read = read_sidecar(sidecar)
    assert read.picks["x"].tolist() == [473.0, 10.0]
    assert np.isnan(read.picks["diameter"].iloc[0])
    assert read.picks["diameter"].iloc[1] == 40
    assert read.diameter_px is None
    said = caplog.text
    assert said.count(str(sidecar)) == 3, said
    assert "2 pick(s) without a finite position on a micrograph" in said
    document.update(diameter_px=float("nan"))
    sidecar.write_text(json.dumps(document))  # (Python's json writes NaN)
    assert read_sidecar(sidecar).diameter_px is None
