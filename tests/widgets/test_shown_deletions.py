"""Deleted picks through re-picking, on the tables alone (``_widgets.shown``: no Qt)."""

from __future__ import annotations

import numpy as np

from napari_cryopick._widgets.shown import ShownResult, _without_deleted
from napari_cryopick.core.pick_table import make_picks


def _result(xy, scores, original=None):
    xy = np.asarray(xy, float)
    picks = make_picks(xy[:, 0], xy[:, 1], score=scores, diameter=56.0, micrograph="m")
    return ShownResult(picks, None, original=None if original is None else np.asarray(original))


def test_a_deleted_pick_beside_a_hidden_candidate_stays_deleted():
    """A round-trip trial: a pick deleted 20 px from a candidate the threshold hid came
    back on Pick current (the candidate left in place was taken for the pick moved)."""
    earlier = [[100.0, 100.0], [120.0, 100.0], [300.0, 300.0]]  # 120: hidden (0.05)
    old = _result(earlier, [0.9, 0.05, 0.8], original=earlier)
    corrected = ShownResult(old.picks.drop(index=0).reset_index(drop=True), None,
                            original=old.original)  # fmt: skip
    new = _result([[100.5, 100.0], [119.5, 100.0], [300.0, 300.0]], [0.9, 0.06, 0.8])
    kept, gone = _without_deleted(new, corrected)
    np.testing.assert_allclose(gone, [[100.0, 100.0]])
    xy = kept.picks[["x", "y"]].to_numpy()
    assert not np.any(np.hypot(*(xy - [100.0, 100.0]).T) < 1.0)  # not back
    assert np.any(np.hypot(*(xy - [120.0, 100.0]).T) < 1.0)  # the hidden one's particle stays
    assert len(kept.picks) == 2


def test_a_deleted_double_leaves_its_twin_and_a_moved_pick_is_no_deletion():
    """Two picks 7 px apart (one particle picked twice), one deleted: the other's particle
    keeps its pick when picked again; a pick moved by 10 px deletes nothing."""
    earlier = [[100.0, 100.0], [107.0, 100.0], [300.0, 300.0]]
    old = _result(earlier, [0.9, 0.7, 0.8], original=earlier)
    twin = ShownResult(old.picks.drop(index=1).reset_index(drop=True), None,
                       original=old.original)  # fmt: skip
    new = _result([[101.0, 100.0], [300.0, 300.0]], [0.9, 0.8])
    kept, gone = _without_deleted(new, twin)
    np.testing.assert_allclose(gone, [[107.0, 100.0]])
    assert len(kept.picks) == 2  # 101 lies nearer the twin left at 100 than the deleted 107
    # the better centred one deleted, its twin 7 px off kept (a GUI re-trial lost the
    # particle): the new candidate at the centre is the twin's
    other = ShownResult(old.picks.drop(index=0).reset_index(drop=True), None,
                        original=old.original)  # fmt: skip
    kept, gone = _without_deleted(_result([[100.5, 100.0], [300.0, 300.0]], [0.9, 0.8]), other)
    np.testing.assert_allclose(gone, [[100.0, 100.0]])
    assert len(kept.picks) == 2

    moved = old.picks.copy()
    moved.loc[2, "x"] = 310.0  # the user moved the pick at 300 by 10 px (its score kept)
    kept, gone = _without_deleted(new, ShownResult(moved, None, original=old.original))
    assert len(gone) == 0
    assert len(kept.picks) == 2


def test_deleted_places_go_by_position_not_by_a_repeated_index():
    """A review: ``drop(index=...)`` by label took a moved pick sharing a label for a
    candidate left in place, and its earlier place for a deletion."""
    from napari_cryopick._widgets.shown import deleted_places

    original = np.array([[100.0, 100.0], [300.0, 300.0]])
    current = make_picks(np.array([100.0, 310.0]), np.array([100.0, 300.0]), score=[0.9, 0.8])
    current.index = [0, 0]
    assert len(deleted_places(original, current, 28.0)) == 0


def test_a_hidden_candidate_is_no_twin_and_a_twin_keeps_only_its_own_particle():
    """A review: a candidate the threshold hid 10 px from a deleted pick kept the new pick
    at the deleted place as its "twin"; and a twin kept the candidate of another deletion."""
    earlier = [[100.0, 100.0], [110.0, 100.0], [300.0, 300.0]]
    old = _result(earlier, [0.9, 0.05, 0.8], original=earlier)  # 110: hidden at 0.15
    deleted = ShownResult(old.picks.drop(index=0).reset_index(drop=True), None,
                          original=old.original)  # fmt: skip
    new = _result([[100.5, 100.0], [300.0, 300.0]], [0.9, 0.8])
    kept, _gone = _without_deleted(new, deleted, shown_at=0.15)
    assert kept.picks[["x", "y"]].to_numpy().tolist() == [[300.0, 300.0]]

    earlier = [[100.0, 100.0], [110.0, 100.0], [75.0, 100.0], [300.0, 300.0]]
    old = _result(earlier, [0.9, 0.8, 0.7, 0.8], original=earlier)
    # X at 100 kept; its twin at 110 and a false pick at 75 deleted
    corrected = ShownResult(old.picks.iloc[[0, 3]].reset_index(drop=True), None,
                            original=old.original)  # fmt: skip
    new = _result([[75.5, 100.0], [300.0, 300.0]], [0.9, 0.8])
    kept, gone = _without_deleted(new, corrected, shown_at=0.15)
    assert len(gone) == 2
    assert kept.picks[["x", "y"]].to_numpy().tolist() == [[300.0, 300.0]]
