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
