"""Geometry of pick tables that the napari corrections and the annotations share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import far_from, make_picks, nearest_distances


def _table(xy) -> pd.DataFrame:
    xy = np.asarray(xy, float).reshape(-1, 2)
    return make_picks(xy[:, 0], xy[:, 1], micrograph="m")


def test_nearest_distances_measure_to_the_closest_other_row() -> None:
    table = _table([[0, 0], [10, 0], [0, 7]])
    others = _table([[3, 4], [10, 1]])
    np.testing.assert_allclose(nearest_distances(table, others), [5.0, 1.0, 3 * np.sqrt(2)])
    assert np.isinf(nearest_distances(table, _table([]))).all()
    assert nearest_distances(_table([]), others).shape == (0,)


def test_far_from_keeps_rows_beyond_their_own_radius() -> None:
    table = _table([[0, 0], [10, 0], [20, 0]])
    others = _table([[0, 4], [10, 4]])
    assert far_from(table, others, 5.0)["x"].tolist() == [20.0]
    # one radius per row (a vesicle's own): the small one at 10 px is clear of its neighbour
    assert far_from(table, others, np.array([5.0, 3.0, 5.0]))["x"].tolist() == [10.0, 20.0]
    assert far_from(table, _table([]), 5.0) is table


def test_beside_hand_picks_marks_the_candidates_a_hand_pick_sits_on():
    """A GUI trial's hand picks on candidates hidden by the threshold made pairs 3.6 px
    apart once the threshold was lowered."""
    from napari_cryopick.core.pick_table import beside_hand_picks

    x = np.array([100.0, 103.0, 200.0, 240.0, 300.0])
    y = np.array([100.0, 102.0, 200.0, 200.0, 300.0])
    score = np.array([0.3, np.nan, 0.9, np.nan, 0.5])
    diameter = np.array([50.0, np.nan, 50.0, 50.0, np.nan])
    near = beside_hand_picks(x, y, score, diameter, 0.4)
    # the first candidate is 3.6 px from a hand pick; the third 40 px (0.8 d) from one
    assert near.tolist() == [True, False, False, False, False]
    # no hand pick, or nothing but hand picks: nothing to mark
    assert not beside_hand_picks(x, y, np.full(5, 0.5), diameter, 0.4).any()
    assert not beside_hand_picks(x, y, np.full(5, np.nan), diameter, 0.4).any()
    # a candidate without a diameter takes the hand pick's
    near = beside_hand_picks(x[:2], y[:2], score[:2], np.array([np.nan, 8.0]), 0.4)
    assert near.tolist() == [False, False]  # 3.6 px > 0.4 x 8 px
