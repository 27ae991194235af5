"""Corrected picks kept on disk until used (``io.recovery``): napari closing loses nothing."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.io.recovery import (
    SavedCorrections,
    forget_corrections,
    load_corrections,
    recovery_path,
    save_corrections,
    stale_corrections,
)


@pytest.fixture
def micrograph(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    path = tmp_path / "data" / "m1.mrc"
    path.parent.mkdir()
    path.write_bytes(b"\0" * 1024)
    return path


def _saved(path):
    picks = pd.DataFrame(
        {
            "x": [10.0, 20.5, 30.0],
            "y": [5.0, 6.0, 7.0],
            "diameter": [40.0, 40.0, 80.0],
            "score": [0.9, np.nan, 0.4],
            "kind": ["particle", "particle", "vesicle"],
        }
    )
    arrays = {
        "original": np.array([[10.0, 5.0], [99.0, 9.0]], np.float32),
        "negatives": None,
        # the circles and paths last used as training labels: kind code, x, y, diameter,
        # tube, score
        "labelled_shapes": np.array(
            [[0.0, 30.0, 7.0, 80.0, 0.0, 0.4], [1.0, 5.0, 5.0, 9.0, 1.0, np.nan]]
        ),
    }
    settings = {"threshold": 0.2, "edited": ["vesicle"], "link_radius_px": None}
    return SavedCorrections(path, picks, arrays, settings)


def test_corrections_come_back_as_saved(micrograph, tmp_path):
    written = save_corrections(_saved(micrograph))
    assert written == recovery_path(micrograph)
    assert written.parent == tmp_path / "user" / "corrections"
    back = load_corrections(micrograph)
    assert back is not None
    assert back.picks[["x", "y", "diameter"]].to_numpy().tolist() == [
        [10.0, 5.0, 40.0],
        [20.5, 6.0, 40.0],
        [30.0, 7.0, 80.0],
    ]
    assert np.isnan(back.picks["score"][1])
    assert back.picks["score"][0] == 0.9
    assert back.picks["kind"].tolist() == ["particle", "particle", "vesicle"]
    assert back.arrays["original"].tolist() == [[10.0, 5.0], [99.0, 9.0]]
    assert back.arrays["negatives"] is None
    np.testing.assert_array_equal(
        back.arrays["labelled_shapes"],
        [[0.0, 30.0, 7.0, 80.0, 0.0, 0.4], [1.0, 5.0, 5.0, 9.0, 1.0, np.nan]],
    )
    assert back.settings == {"threshold": 0.2, "edited": ["vesicle"], "link_radius_px": None}
    forget_corrections(micrograph)
    assert load_corrections(micrograph) is None
    forget_corrections(micrograph)  # none: nothing to do


def test_corrections_of_another_or_a_changed_file_are_not_taken(micrograph, tmp_path):
    save_corrections(_saved(micrograph))
    other = tmp_path / "elsewhere" / "m1.mrc"  # the same name in another folder
    other.parent.mkdir()
    other.write_bytes(b"\0" * 1024)
    assert load_corrections(other) is None
    stat = micrograph.stat()  # rewritten since (a new motion correction): not its picks
    micrograph.write_bytes(b"\1" * 1024)
    os.utime(micrograph, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_corrections(micrograph) is None
    assert stale_corrections(micrograph) == recovery_path(micrograph)  # said, not lost
    assert stale_corrections(other) is None  # nothing kept for that one


def test_corrections_of_a_file_touched_since_are_taken(micrograph):
    # copied back or touched: a new time, the same bytes
    save_corrections(_saved(micrograph))
    stat = micrograph.stat()
    os.utime(micrograph, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_corrections(micrograph) is not None
    assert stale_corrections(micrograph) is None
    # one byte changed in a large file, where the digest's blocks read it: not taken
    big = micrograph.with_name("big.mrc")
    big.write_bytes(bytes(5_000_000))
    save_corrections(_saved(big))
    data = bytearray(big.read_bytes())
    data[-1] = 1  # the last block is always read
    stat = big.stat()
    big.write_bytes(bytes(data))
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_corrections(big) is None
    assert stale_corrections(big) is not None


def test_a_model_files_stamp_follows_its_bytes_not_its_time(tmp_path):
    """Picks back from disk keep the stamp of the model file that made them: a training
    into that file since makes them an earlier version's. A copy without its times (cp
    -r) or a touch is the same model (a review: the modification time called every
    model of a copied project changed)."""
    from napari_cryopick.io.recovery import file_stamp

    model = tmp_path / "m.pt"
    model.write_bytes(bytes(range(256)) * 4000)
    stamp = file_stamp(model)
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**10))
    assert file_stamp(model) == stamp
    model.write_bytes(bytes(range(255, -1, -1)) * 4000)  # trained into: same size, new bytes
    assert file_stamp(model) != stamp
    assert file_stamp(tmp_path / "gone.pt") is None
    assert file_stamp(None) is None


def _damaged(micrograph, arrays_changed=None, header_changed=None, data=None) -> Path:
    """The corrections of ``micrograph`` saved, then damaged: its bytes replaced by
    ``data``, or arrays and header entries changed."""
    import io
    import json

    path = save_corrections(_saved(micrograph))
    if data is not None:
        path.write_bytes(data(path.read_bytes()))
        return path
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    header = json.loads(str(arrays["header"]))
    header["settings"].update(header_changed or {})
    arrays.update(arrays_changed or {})
    arrays["header"] = np.array(json.dumps(header))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


DAMAGES = {
    "not numpy": {"data": lambda _b: b"not a numpy file"},
    "cut short": {"data": lambda b: b[: len(b) // 2]},
    "empty": {"data": lambda _b: b""},
    "columns of other lengths": {"arrays_changed": {"picks_tube_id": np.zeros(2)}},
    "NaN x": {"arrays_changed": {"picks_x": np.array([np.nan, 1.0, 2.0])}},
    "x of 1e9 px": {"arrays_changed": {"picks_y": np.array([1e9, 1.0, 2.0])}},
    "unknown kind": {"arrays_changed": {"picks_kind": np.array(["particle", "ribosome", "x"])}},
    "threshold text": {"header_changed": {"threshold": "abc"}},
    "threshold NaN": {"header_changed": {"threshold": float("nan")}},
    "original of odd shape": {"arrays_changed": {"original": np.zeros(3)}},
    "diameter text": {"header_changed": {"picked_diameter_px": "56"}},
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_corrections_file_is_said_and_set_aside(micrograph, damage):
    """A robustness trial: damaged corrections were passed over unsaid and written over
    at the next save, or raised out of napari's opening of the micrograph (a cut file's
    BadZipFile, a NaN threshold's ValueError, a 1e9 px pick overflowing napari's slider)."""
    from napari_cryopick.io.recovery import DamagedCorrections

    path = _damaged(micrograph, **DAMAGES[damage])
    before = path.read_bytes()
    with pytest.raises(DamagedCorrections, match="cannot be read") as raised:
        load_corrections(micrograph)
    said = str(raised.value)
    assert said.startswith(f"{path}: the corrections kept for {micrograph}")
    [aside] = path.parent.glob(f"{path.name}.unreadable-*")
    assert f"set aside as {aside}" in said
    assert aside.read_bytes() == before  # kept as it was
    assert not path.exists()  # the next save does not replace it
    save_corrections(_saved(micrograph))
    assert aside.read_bytes() == before
    assert load_corrections(micrograph) is not None


def test_a_record_of_labelled_shapes_of_an_older_layout_is_passed_over(micrograph):
    # (a review: files kept on 2026-12-06 held 5 columns; one row was called damaged and
    # the corrections set aside, six rows read as garbage)
    for rows in (1, 6):
        _damaged(micrograph, arrays_changed={"labelled_shapes": np.ones((rows, 5))})
        back = load_corrections(micrograph)
        assert back.arrays["labelled_shapes"] is None
        assert len(back.picks) == 3


def test_a_saved_file_passes_the_checks_with_its_nan_scores(micrograph):
    # (the user's own picks and labelled shapes hold NaN scores: not damage)
    save_corrections(_saved(micrograph))
    back = load_corrections(micrograph)
    assert np.isnan(back.arrays["labelled_shapes"][1, 5])
    assert np.isnan(back.picks["score"].iloc[1])
