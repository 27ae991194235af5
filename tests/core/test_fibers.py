"""Fiber tracing, resampling, pick-table round trip and fiber metrics."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cryopick.core.fibers import (
    default_link_radius,
    fiber_metrics,
    path_coverage,
    path_length,
    paths_to_picks,
    picks_to_paths,
    resample_path,
    smooth_path,
    trace_fibers,
)


def _line_points(start, end, spacing, rng=None, noise=0.0):
    start, end = np.asarray(start, float), np.asarray(end, float)
    n = round(float(np.hypot(*(end - start))) / spacing) + 1
    t = np.linspace(0.0, 1.0, n)[:, None]
    points = start + t * (end - start)
    if rng is not None and noise:
        points = points + rng.normal(0.0, noise, points.shape)
    return points


def _distance_to_line(points, start, end):
    """Perpendicular distance of points to the infinite line through start and end."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    direction = (end - start) / np.hypot(*(end - start))
    rel = points - start
    return np.abs(rel[:, 0] * direction[1] - rel[:, 1] * direction[0])


def test_default_link_radius_scales_with_width():
    assert default_link_radius(1024) == pytest.approx(100.0)
    assert default_link_radius(4096) == pytest.approx(400.0)


def test_noisy_straight_line_is_one_ordered_path():
    rng = np.random.default_rng(1)
    points = _line_points((0, 100), (400, 300), 20.0, rng, noise=2.0)
    shuffled = rng.permutation(len(points))
    scores = rng.uniform(0.5, 1.0, len(points))
    paths = trace_fibers(
        points[shuffled, 0], points[shuffled, 1], scores, link_radius_px=50.0, smooth=False
    )
    assert len(paths) == 1
    path = paths[0]
    assert len(path) == len(points)
    # Ordered along the fiber: the projection on the line direction is monotone.
    direction = np.array([400.0, 200.0]) / np.hypot(400.0, 200.0)
    projection = path @ direction
    steps = np.diff(projection)
    assert np.all(steps > 0) or np.all(steps < 0)


def test_two_crossing_lines_are_two_paths():
    rng = np.random.default_rng(2)
    # Points at ±10, ±30, ... so that no point sits on the crossing: the nearest
    # neighbours of the central points belong to the other fiber (14 px away).
    horizontal = np.column_stack([np.arange(-190, 200, 20.0), np.zeros(20)])
    vertical = np.column_stack([np.zeros(20), np.arange(-190, 200, 20.0)])
    points = np.vstack([horizontal, vertical]) + rng.normal(0.0, 1.5, (40, 2))
    paths = trace_fibers(points[:, 0], points[:, 1], link_radius_px=50.0, smooth=False)
    assert len(paths) == 2
    assert sorted(len(p) for p in paths) == [20, 20]
    for path in paths:
        off_h = _distance_to_line(path, (0, 0), (1, 0)).max()
        off_v = _distance_to_line(path, (0, 0), (0, 1)).max()
        # Every point of a path lies close to one and the same line.
        assert min(off_h, off_v) < 8.0
        assert max(off_h, off_v) > 150.0


def test_u_turn_beyond_max_angle_is_split():
    # Hairpin: right along y=0, then back along y=30 (both 10 points, 20 px apart).
    out = np.column_stack([np.arange(10) * 20.0, np.zeros(10)])
    back = np.column_stack([np.arange(9, -1, -1) * 20.0, np.full(10, 30.0)])
    points = np.vstack([out, back])
    paths = trace_fibers(points[:, 0], points[:, 1], link_radius_px=45.0, smooth=False)
    assert len(paths) == 2
    for path in paths:
        assert np.ptp(path[:, 1]) == pytest.approx(0.0)  # each path stays on its own row
    # With no angle limit the hairpin is one path.
    joined = trace_fibers(
        points[:, 0], points[:, 1], link_radius_px=45.0, max_angle_deg=180, smooth=False
    )
    assert len(joined) == 1
    assert len(joined[0]) == 20


def test_gentle_curve_is_followed():
    # Quarter circle of radius 300 sampled every ~20 px: 3.8° bend per step.
    angles = np.linspace(0, np.pi / 2, 25)
    points = 300.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    paths = trace_fibers(points[:, 0], points[:, 1], link_radius_px=50.0, smooth=False)
    assert len(paths) == 1
    assert len(paths[0]) == 25


def test_smoothing_reduces_zig_zag_and_keeps_ends():
    # Detections alternately 3 px left and right of the axis, 20 px apart (17° zig-zag).
    x = np.arange(30) * 20.0
    y = np.where(np.arange(30) % 2 == 0, 3.0, -3.0)
    raw = trace_fibers(x, y, link_radius_px=45.0, smooth=False)
    smoothed = trace_fibers(x, y, link_radius_px=45.0, smooth=True)
    # One path through every point: the jitter neither splits it nor makes it skip points.
    assert len(raw) == len(smoothed) == 1
    assert len(raw[0]) == 30
    raw_path, smooth_path_ = raw[0], smoothed[0]
    interior = slice(2, -2)
    assert np.abs(smooth_path_[interior, 1]).max() < 0.5 * np.abs(raw_path[interior, 1]).max()
    np.testing.assert_allclose(smooth_path_[[0, -1]], raw_path[[0, -1]])
    # A straight evenly spaced path is unchanged by smoothing.
    line = np.column_stack([np.arange(10.0), 2 * np.arange(10.0)])
    np.testing.assert_allclose(smooth_path(line), line)


def test_short_paths_are_dropped():
    paths = trace_fibers([0.0, 10.0, 500.0], [0.0, 0.0, 500.0], link_radius_px=30.0)
    assert paths == []
    paths = trace_fibers([0.0, 10.0], [0.0, 0.0], link_radius_px=30.0, min_points=2)
    assert len(paths) == 1


def test_resample_spacing_and_length():
    path = np.array([[0.0, 0.0], [30.0, 0.0], [30.0, 40.0]])  # L-shape, length 70
    assert path_length(path) == pytest.approx(70.0)
    resampled = resample_path(path, 10.0)
    assert len(resampled) == 8  # arc 0, 10, ..., 70
    np.testing.assert_allclose(resampled[0], [0.0, 0.0])
    np.testing.assert_allclose(resampled[-1], [30.0, 40.0])
    np.testing.assert_allclose(resampled[3], [30.0, 0.0])
    np.testing.assert_allclose(resampled[5], [30.0, 20.0])
    # Consecutive points are 10 px apart along the path (straight within each leg).
    steps = np.hypot(*np.diff(resampled[:4], axis=0).T)
    np.testing.assert_allclose(steps, 10.0)
    assert len(resample_path(path, 25.0)) == 3  # 0, 25, 50
    with pytest.raises(ValueError):
        resample_path(path, 0.0)


def test_paths_picks_round_trip():
    paths = [
        np.array([[0.0, 0.0], [10.0, 1.0], [20.0, 3.0]]),
        np.array([[100.0, 50.0], [100.0, 70.0]]),
    ]
    table = paths_to_picks(paths, micrograph="mic_001", diameter=80.0)
    assert list(table["kind"].unique()) == ["fiber"]
    assert table["tube_id"].tolist() == [1, 1, 1, 2, 2]
    assert (table["micrograph"] == "mic_001").all()
    assert (table["diameter"] == 80.0).all()
    back = picks_to_paths(table)
    assert len(back) == 2
    for original, restored in zip(paths, back):
        np.testing.assert_allclose(restored, original)
    assert picks_to_paths(table.assign(tube_id=0)) == []
    assert len(paths_to_picks([])) == 0


def test_fiber_metrics_on_hand_made_case():
    true_paths = [
        np.array([[0.0, 0.0], [100.0, 0.0]]),
        np.array([[0.0, 100.0], [100.0, 100.0]]),
    ]
    traced = [
        # On fiber 1, 2 px off, covering x 0..100 → recovered; distance 2 px.
        np.array([[0.0, 2.0], [50.0, 2.0], [100.0, 2.0]]),
        # On fiber 2 but only x 0..50 → half of it, not recovered; distance 0.
        np.array([[0.0, 100.0], [25.0, 100.0], [50.0, 100.0]]),
        # Far from both (y = 50, 50 px away) → a false path.
        np.array([[0.0, 50.0], [100.0, 50.0]]),
    ]
    metrics = fiber_metrics(traced, true_paths, tolerance_px=5.0)
    assert metrics["n_true"] == 2
    assert metrics["n_traced"] == 3
    assert metrics["n_recovered"] == 1
    assert metrics["recovered_fraction"] == pytest.approx(0.5)
    assert metrics["n_false"] == 1
    # Mean over 8 traced points: 3 x 2 px, 3 x 0 px, 2 x 50 px = 106 / 8.
    assert metrics["mean_distance_px"] == pytest.approx(106 / 8)


def test_traced_fibers_recover_simulated_crossing():
    rng = np.random.default_rng(3)
    lines = [((0, 50), (500, 450)), ((0, 450), (500, 50))]  # cross at 90° in the middle
    points = np.vstack([_line_points(a, b, 15.0, rng, noise=1.5) for a, b in lines])
    paths = trace_fibers(points[:, 0], points[:, 1], link_radius_px=40.0)
    metrics = fiber_metrics(paths, [np.array(line, float) for line in lines], tolerance_px=6.0)
    assert metrics["recovered_fraction"] == pytest.approx(1.0)
    assert metrics["n_false"] == 0
    assert metrics["mean_distance_px"] < 2.0


def test_path_coverage_is_the_share_along_one_other_path():
    """A dense traced path along a sparse drawn one (two clicks) is covered; half of
    it along one path and half along another is covered half, not whole."""
    traced = _line_points((0.0, 100.0), (200.0, 100.0), 5.0) + np.array([0.0, 3.0])  # off
    drawn = np.array([[0.0, 100.0], [200.0, 100.0]])
    assert path_coverage(traced, [drawn], tolerance_px=12.0) == 1.0
    halves = [np.array([[0.0, 100.0], [100.0, 100.0]]), np.array([[100.0, 100.0], [200.0, 100.0]])]
    assert 0.45 < path_coverage(traced, halves, tolerance_px=12.0) < 0.6
    assert path_coverage(traced, [drawn + np.array([0.0, 40.0])], tolerance_px=12.0) == 0
    assert path_coverage(traced, [], tolerance_px=12.0) == 0.0
    with pytest.raises(ValueError, match="tolerance_px"):
        path_coverage(traced, [drawn], tolerance_px=0.0)


def test_a_second_trace_along_a_fiber_is_dropped_a_crossing_fiber_kept():
    # a trial: 6 paths for 4 fibers, two running beside traced ones their whole length
    # (the detector's two rows of peaks along a wide fiber), written to STAR and CBOX
    import pandas as pd

    from napari_cryopick.core.object_kinds import trace_fiber_candidates

    width = 24.0
    row = np.column_stack([np.arange(0, 400, 6.0), np.full(67, 100.0)])
    beside = row[5:-5] + np.array([3.0, 0.4 * width])  # a second row of peaks inside the same fiber
    crossing = np.column_stack([np.full(40, 200.0), np.arange(-20.0, 220, 6.0)])
    points = np.vstack([row, beside, crossing])
    candidates = pd.DataFrame(
        {"x": points[:, 0], "y": points[:, 1], "score": np.linspace(0.9, 0.6, len(points))}
    )
    traced = trace_fibers(points[:, 0], points[:, 1], link_radius_px=20.0, smooth=False)
    assert len(traced) == 3  # the tracer alone: the fiber twice, the crossing one
    paths, picks = trace_fiber_candidates(
        candidates, threshold=0.5, link_radius_px=20.0, smooth=False, diameter_px=width
    )
    assert len(paths) == 2
    assert sorted(picks["tube_id"].unique()) == [1, 2]
    assert sorted(round(path_length(p)) for p in paths) == [234, 396]


def test_chains_of_scattered_detections_are_dropped_fibers_with_a_gap_kept():
    # a model trained 30 s in napari traced 34 paths on 3 micrographs of 4 fibers each:
    # 20 of them chains of 3-6 scattered detections a link radius apart
    import pandas as pd

    from napari_cryopick.core.fibers import drop_sparse_paths
    from napari_cryopick.core.object_kinds import trace_fiber_candidates

    width, link = 24.0, 50.0
    fiber = _line_points((0.0, 100.0), (400.0, 100.0), 8.4)
    fiber = fiber[(fiber[:, 0] < 150) | (fiber[:, 0] > 190)]  # the detection fades for 40 px
    noise = np.array([[60.0, 300.0], [105.0, 310.0], [150.0, 318.0], [196.0, 330.0]])
    points = np.vstack([fiber, noise])
    candidates = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "score": 0.5})
    traced = trace_fibers(points[:, 0], points[:, 1], link_radius_px=link, smooth=False)
    assert len(traced) == 2  # the tracer alone links the scattered detections too
    paths, picks = trace_fiber_candidates(
        candidates, threshold=0.3, link_radius_px=link, smooth=False, diameter_px=width
    )
    (path,) = paths
    assert path_length(path) == pytest.approx(400.0, abs=1.0)  # the gap bridged, one fiber
    assert picks["tube_id"].nunique() == 1
    # without a width there is no scale to judge gaps by: both stay
    paths, _ = trace_fiber_candidates(candidates, threshold=0.3, link_radius_px=link, smooth=False)
    assert len(paths) == 2
    assert drop_sparse_paths([noise], width, max_mean_gap=2.0, max_mean_gap_any=3.0) != []
    # a barely trained model's paths along real fibers are sparse too, but long: kept up to
    # 1.5 widths (a re-trial lost 2 of 12 fibers with one width for every path)
    sparse_fiber = _line_points((0.0, 0.0), (12 * 1.2 * width, 0.0), 1.2 * width)
    assert len(sparse_fiber) == 13
    assert len(drop_sparse_paths([sparse_fiber], width)) == 1
    assert drop_sparse_paths([sparse_fiber[:5]], width) == []  # short and sparse: a chain
    assert drop_sparse_paths([sparse_fiber[::2]], width) == []  # 2.4 widths apart: no fiber
    with pytest.raises(ValueError, match="width_px"):
        drop_sparse_paths([noise], 0.0)


def test_a_fiber_fading_along_it_stays_one_path_at_a_higher_threshold():
    """A napari trial: 12 fibers at threshold 0.15, 18 at 0.6, the detections along each
    fiber fading below the higher threshold in places. Traced with hysteresis (linked
    down to the default threshold, kept between strong vertices), a fiber is one path
    at any threshold, its weak ends trimmed; a chain of weak candidates alone goes."""
    import pandas as pd

    from napari_cryopick.core.object_kinds import trace_fiber_candidates

    width = 24.0
    fiber = _line_points((0.0, 100.0), (400.0, 100.0), 8.4)
    score = np.full(len(fiber), 0.9)
    score[(fiber[:, 0] > 140) & (fiber[:, 0] < 220)] = 0.3  # fading in the middle, 80 px
    score[fiber[:, 0] > 360] = 0.2  # and at one end
    weak = _line_points((0.0, 300.0), (300.0, 300.0), 8.4)  # a faint fiber only
    points = np.vstack([fiber, weak])
    candidates = pd.DataFrame(
        {"x": points[:, 0], "y": points[:, 1], "score": np.r_[score, np.full(len(weak), 0.2)]}
    )
    common = {"link_radius_px": 50.0, "smooth": False, "diameter_px": width}
    paths, picks = trace_fiber_candidates(candidates, threshold=0.15, **common)
    assert len(paths) == 2  # both fibers, whole
    for threshold in (0.5, 0.6, 0.85):
        (path,) = trace_fiber_candidates(candidates, threshold=threshold, **common)[0]
        assert path[:, 1] == pytest.approx(100.0)  # the strong fiber, one path
        assert path_length(path) == pytest.approx(360.0, abs=9.0)  # its weak end trimmed
    paths, picks = trace_fiber_candidates(candidates, threshold=0.6, **common)
    assert picks["score"].unique() == pytest.approx([0.9])  # scored by its strong part
    # linked at the threshold itself, as before: the fading stretch breaks it
    paths, _ = trace_fiber_candidates(candidates, threshold=0.6, link_threshold=0.6, **common)
    assert len(paths) == 2
    assert all(p[:, 1] == pytest.approx(100.0) for p in paths)
