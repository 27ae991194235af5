"""Fiber (filament, helical tube) tracing: link detected points into ordered paths.

Follows EPicker's filament picking: the detector finds points along fibers,
and points are linked to their nearest neighbour within a neighbourhood radius
(100 px on a 1024 px wide micrograph) as long as the path does not bend more
than a maximum angle. See ``docs/fibers.md`` for the algorithm.

Paths are ``(N, 2)`` float arrays of (x, y) in original micrograph pixels,
ordered along the fiber. In pick tables fibers are picks of kind ``"fiber"``
whose ``tube_id`` (1-based) groups the points of one path, in path order.

Core module: numpy, scipy and pandas only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import make_picks, normalize_picks

__all__ = [
    "default_link_radius",
    "fiber_metrics",
    "path_coverage",
    "path_length",
    "paths_to_picks",
    "picks_to_paths",
    "resample_path",
    "simplify_path",
    "smooth_path",
    "trace_fibers",
]

#: EPicker's neighbourhood radius (px) for a micrograph 1024 px wide.
EPICKER_LINK_RADIUS_AT_1024 = 100.0
#: Number of points (including the end point) used to estimate the direction of a path end.
_DIRECTION_POINTS = 3
#: Weight of the bending angle in the step cost ``d / r * (1 + w * angle / max_angle)``.
_ANGLE_WEIGHT = 2.0


def default_link_radius(image_width: float) -> float:
    """EPicker's default neighbourhood radius: 100 px at 1024 px width, scaled linearly.

    Parameters
    ----------
    image_width
        Micrograph width in the pixels the picks are given in.
    """
    return EPICKER_LINK_RADIUS_AT_1024 * float(image_width) / 1024.0


def path_length(path: np.ndarray) -> float:
    """Length of a polyline ``(N, 2)`` (sum of its segment lengths)."""
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if len(path) < 2:
        return 0.0
    return float(np.hypot(*np.diff(path, axis=0).T).sum())


def resample_path(path: np.ndarray, spacing_px: float) -> np.ndarray:
    """Points at equal arc length along a path.

    Points are placed at arc length ``0, s, 2s, ...`` up to the path length
    (the start point is kept; the end point only when the length is a
    multiple of ``s``), e.g. crYOLO filament boxes or RELION helical segments
    at a chosen inter-box distance.

    Parameters
    ----------
    path
        ``(N, 2)`` polyline in (x, y).
    spacing_px
        Distance between consecutive points along the path, > 0.

    Returns
    -------
    numpy.ndarray
        ``(M, 2)`` points; ``M = floor(length / spacing) + 1`` (0 for an empty path).
    """
    if not spacing_px > 0:
        raise ValueError(f"spacing_px must be > 0, got {spacing_px}")
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if len(path) < 2:
        return path.copy()
    arc = np.r_[0.0, np.cumsum(np.hypot(*np.diff(path, axis=0).T))]
    # A tiny tolerance keeps the end point when the length is a multiple of the spacing.
    targets = np.arange(0.0, arc[-1] + 1e-9 * max(arc[-1], 1.0), spacing_px)
    return np.column_stack(
        [np.interp(targets, arc, path[:, 0]), np.interp(targets, arc, path[:, 1])]
    )


def simplify_path(path: np.ndarray, max_deviation_px: float) -> np.ndarray:
    """Fewest vertices of a path that stay within ``max_deviation_px`` of it (Douglas-Peucker).

    Used to write a curved fiber as straight start-end pieces (RELION's
    manual helical picking keeps only start and end of each straight piece).

    Parameters
    ----------
    path
        ``(N, 2)`` polyline in (x, y).
    max_deviation_px
        Largest distance of a dropped vertex from the simplified polyline, >= 0.

    Returns
    -------
    numpy.ndarray
        ``(M, 2)`` vertices of ``path`` (first and last always kept), ``M <= N``.
    """
    if not max_deviation_px >= 0:
        raise ValueError(f"max_deviation_px must be >= 0, got {max_deviation_px}")
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if len(path) < 3:
        return path.copy()
    keep = np.zeros(len(path), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(path) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        inner = path[first + 1 : last]
        distance = _distance_to_polyline(inner, path[[first, last]])
        worst = int(np.argmax(distance))
        if distance[worst] > max_deviation_px:
            split = first + 1 + worst
            keep[split] = True
            stack.append((first, split))
            stack.append((split, last))
    return path[keep].copy()


def smooth_path(path: np.ndarray, window: int = 5) -> np.ndarray:
    """Moving average along a path that keeps its end points.

    Point ``i`` becomes the mean of the points ``i-h .. i+h`` with
    ``h = min(window // 2, i, N - 1 - i)``: the window shrinks symmetrically
    near the ends, so the ends do not move and no bias is introduced.

    Parameters
    ----------
    path
        ``(N, 2)`` points ordered along the fiber.
    window
        Odd window length (points); 1 leaves the path unchanged.
    """
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    n = len(path)
    half = max(int(window) // 2, 0)
    if n < 3 or half == 0:
        return path.copy()
    cumulative = np.vstack([np.zeros((1, 2)), np.cumsum(path, axis=0)])
    index = np.arange(n)
    h = np.minimum(half, np.minimum(index, n - 1 - index))
    return (cumulative[index + h + 1] - cumulative[index - h]) / (2 * h + 1)[:, None]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = math.hypot(vector[0], vector[1])
    return vector / norm if norm > 0 else vector


def _end_direction(points: np.ndarray, chain: list[int]) -> np.ndarray:
    """Direction of travel at the end of ``chain`` from its last few points."""
    back = chain[-min(len(chain), _DIRECTION_POINTS)]
    return _unit(points[chain[-1]] - points[back])


class _Linker:
    """Greedy path growth over a fixed neighbourhood graph (each point used once)."""

    def __init__(self, points: np.ndarray, radius: float, max_angle_deg: float) -> None:
        self.points = points
        self.radius = float(radius)
        self.max_angle = math.radians(max_angle_deg)
        self.cos_max = math.cos(self.max_angle) - 1e-12
        from scipy.spatial import cKDTree  # (here: opening a micrograph imports this module)

        self.neighbours = cKDTree(points).query_ball_point(points, r=self.radius)
        self.used = np.zeros(len(points), dtype=bool)

    def _steps(
        self, end: int, direction: np.ndarray, skip: int = -1
    ) -> list[tuple[float, float, int]]:
        """Admissible next points from ``end``: (cost, bending angle, index), cheapest first."""
        steps = []
        origin = self.points[end]
        for j in self.neighbours[end]:
            if self.used[j] or j == skip:
                continue
            dx, dy = self.points[j] - origin
            distance = math.hypot(dx, dy)
            if distance == 0:
                continue
            cosine = (dx * direction[0] + dy * direction[1]) / distance
            if cosine < self.cos_max:
                continue
            angle = math.acos(min(1.0, cosine))
            # Nearest first, but a step bending by the maximum angle counts as
            # three times longer.
            cost = (distance / self.radius) * (1.0 + _ANGLE_WEIGHT * angle / self.max_angle)
            steps.append((cost, angle, j))
        steps.sort()
        return steps

    def _skipped(self, end: int, steps: list[tuple[float, float, int]]) -> int:
        """The cheapest step, or an admissible point it would jump over.

        A candidate lying between the chain end and the cheapest point (its
        projection falls inside the segment) and within
        ``|segment| * sin(max_angle) / 3`` of it is taken first, so lateral
        jitter does not make the path skip points (and leave them to a second,
        parallel path); a point of a crossing fiber lies farther from the
        segment and is not taken.
        """
        best = steps[0][2]
        origin = self.points[end]
        segment = self.points[best] - origin
        length2 = float(segment @ segment)
        limit = math.sqrt(length2) * math.sin(min(self.max_angle, math.pi / 2)) / 3
        first, first_t = best, 1.0
        for _, _, k in steps[1:]:
            rel = self.points[k] - origin
            t = float(rel @ segment) / length2
            if 0.0 < t < first_t:
                off = abs(rel[0] * segment[1] - rel[1] * segment[0]) / math.sqrt(length2)
                if off <= limit:
                    first, first_t = k, t
        return first

    def grow(self, chain: list[int], direction: np.ndarray) -> None:
        """Extend ``chain`` at its end, in place, while a continuation exists."""
        while True:
            steps = self._steps(chain[-1], direction)
            if not steps:
                return
            best = self._skipped(chain[-1], steps)
            self.used[best] = True
            chain.append(best)
            if len(chain) >= _DIRECTION_POINTS:
                # Until then keep the seed's axis: one jittered segment is a poor direction.
                direction = _end_direction(self.points, chain)


def _local_axes(points: np.ndarray, neighbours: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Principal axis and linearity of each point's neighbourhood.

    Linearity ``(l1 - l2) / (l1 + l2)`` of the eigenvalues of the covariance
    of the neighbours (the point included) is 1 on a straight line and near 0
    at a crossing or in a blob; points with no neighbour get 0.
    """
    axes = np.zeros_like(points)
    axes[:, 0] = 1.0
    linearity = np.zeros(len(points))
    for i, group in enumerate(neighbours):
        if len(group) < 2:
            continue
        local = points[group]
        local = local - local.mean(axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(local.T @ local)  # ascending
        total = eigenvalues.sum()
        if total <= 0:
            continue
        linearity[i] = (eigenvalues[1] - eigenvalues[0]) / total
        axes[i] = eigenvectors[:, 1]
    return axes, linearity


def trace_fibers(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    scores: Sequence[float] | np.ndarray | None = None,
    *,
    link_radius_px: float,
    max_angle_deg: float = 30.0,
    min_points: int = 3,
    smooth: bool | int = True,
) -> list[np.ndarray]:
    """Link detected points into fiber paths.

    Seeds are taken on clean straight stretches first (the neighbourhood's
    linearity times the score rank), never at a crossing. From a seed the
    path grows along the seed's local axis in both directions; each step goes
    to the unused point within ``link_radius_px`` with the lowest cost
    ``d / r * (1 + 2 * angle / max_angle)`` among those bending at most
    ``max_angle_deg`` from the current direction (the direction from the
    third-last to the last point), except that a point it would jump over,
    lying close to that step, is taken first. Each point belongs to at most
    one path. At a crossing the other fiber bends too much, so two crossing
    straight fibers are traced as two paths. See ``docs/fibers.md``.

    Parameters
    ----------
    x, y
        Point coordinates (x = column, y = row).
    scores
        Detector scores; the best points seed first. ``None``: input order.
    link_radius_px
        Neighbourhood radius, see :func:`default_link_radius`.
    max_angle_deg
        Largest bend between the path direction and the next segment.
    min_points
        Paths with fewer points are dropped.
    smooth
        ``True`` smooths each path with a 5-point moving average
        (:func:`smooth_path`, end points kept); an int sets the window;
        ``False`` keeps the detected positions.

    Returns
    -------
    list of numpy.ndarray
        One ``(N, 2)`` array of (x, y) per fiber, ordered along the fiber,
        longest paths first.
    """
    points = np.column_stack(
        [np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()]
    )
    n = len(points)
    if not link_radius_px > 0:
        raise ValueError(f"link_radius_px must be > 0, got {link_radius_px}")
    if not 0 < max_angle_deg <= 180:
        raise ValueError(f"max_angle_deg must be in (0, 180], got {max_angle_deg}")
    if n == 0:
        return []
    linker = _Linker(points, link_radius_px, max_angle_deg)
    axes, linearity = _local_axes(points, linker.neighbours)
    if scores is None:
        score_rank = np.ones(n)
    else:
        score_arr = np.nan_to_num(np.asarray(scores, dtype=np.float64).ravel(), nan=-np.inf)
        if score_arr.shape != (n,):
            raise ValueError(f"expected {n} scores, got {score_arr.size}")
        # Rank-based so that any score scale (probabilities, logits) works: best = 1.
        score_rank = np.empty(n)
        score_rank[np.argsort(score_arr, kind="stable")] = np.arange(1, n + 1) / n
    # Seeds on clean straight stretches first (never at a crossing), then by score.
    priority = score_rank * (0.25 + 0.75 * linearity)
    seed_order = np.argsort(-priority, kind="stable")

    used = linker.used
    paths: list[np.ndarray] = []
    for seed in seed_order:
        if used[seed]:
            continue
        used[seed] = True
        chain = [int(seed)]
        direction = axes[seed]
        linker.grow(chain, direction)
        backward = chain[::-1]
        if len(backward) >= _DIRECTION_POINTS:
            back_direction = _end_direction(points, backward)
        else:
            back_direction = -direction
        linker.grow(backward, back_direction)
        chain = backward[::-1]
        if len(chain) < max(min_points, 1):
            continue
        path = points[chain]
        if smooth:
            window = 5 if smooth is True else int(smooth)
            path = smooth_path(path, window)
        paths.append(path)
    paths.sort(key=len, reverse=True)
    return paths


# --------------------------------------------------------------------------- pick tables


def paths_to_picks(
    paths: Iterable[np.ndarray],
    *,
    micrograph: str = "",
    diameter: float | None = None,
) -> pd.DataFrame:
    """Fiber paths as a pick table (kind ``"fiber"``, ``tube_id`` 1..n, points in path order).

    Parameters
    ----------
    paths
        ``(N, 2)`` arrays of (x, y).
    micrograph
        Micrograph name for every pick.
    diameter
        Fiber width in pixels (NaN when ``None``).
    """
    xs, ys, tubes = [], [], []
    for tube, path in enumerate(paths, start=1):
        path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        xs.append(path[:, 0])
        ys.append(path[:, 1])
        tubes.append(np.full(len(path), tube, dtype=np.int64))
    if not xs:
        return make_picks()
    return make_picks(
        np.concatenate(xs),
        np.concatenate(ys),
        diameter=diameter,
        micrograph=micrograph,
        kind="fiber",
        tube_id=np.concatenate(tubes),
    )


def path_score(vertex_scores: np.ndarray | pd.Series) -> float:
    """A traced fiber's score: the best of its vertices' scores (NaN: none has one)."""
    scores = np.asarray(vertex_scores, np.float64)
    return float(np.nanmax(scores)) if np.isfinite(scores).any() else float("nan")


def median_width(table: pd.DataFrame) -> float | None:
    """The median of the finite ``diameter`` values of ``table`` (fiber picks: their
    width), or None where none is known."""
    widths = table["diameter"].to_numpy(np.float64)
    known = widths[np.isfinite(widths)]
    return float(np.median(known)) if known.size else None


def point_fibers(table: pd.DataFrame) -> pd.DataFrame:
    """``(micrograph, tube_id)`` of the fibers of a pick table with fewer than two
    distinct vertices: no path (napari cannot draw one, training has no direction)."""
    table = normalize_picks(table)
    fibers = table[(table["kind"] == "fiber") & (table["tube_id"] > 0)]
    distinct = fibers.groupby(["micrograph", "tube_id"], sort=True)[["x", "y"]].apply(
        lambda group: len(group.drop_duplicates())
    )
    return distinct[distinct < 2].index.to_frame(index=False)


def picks_to_paths(table: pd.DataFrame) -> list[np.ndarray]:
    """Group fiber picks into paths by ``tube_id`` (row order kept within a path).

    Rows with ``tube_id`` 0 (not part of a fiber) are ignored. With several
    micrographs in the table, paths come per micrograph (sorted by name), then
    by ``tube_id``.

    Returns
    -------
    list of numpy.ndarray
        One ``(N, 2)`` array of (x, y) per (micrograph, tube).
    """
    table = normalize_picks(table)
    table = table[table["tube_id"] > 0]
    paths = []
    for _, group in table.groupby(["micrograph", "tube_id"], sort=True):
        paths.append(group[["x", "y"]].to_numpy(np.float64))
    return paths


# --------------------------------------------------------------------------- metrics


def _distance_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point to a polyline (exact point-to-segment)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    polyline = np.asarray(polyline, dtype=np.float64).reshape(-1, 2)
    if len(polyline) == 0:
        return np.full(len(points), np.inf)
    if len(polyline) == 1:
        return np.hypot(*(points - polyline[0]).T)
    start, end = polyline[:-1], polyline[1:]
    segment = end - start
    length2 = np.maximum((segment**2).sum(axis=1), 1e-12)
    best = np.full(len(points), np.inf)
    chunk = max(1, 2_000_000 // max(len(segment), 1))
    for lo in range(0, len(points), chunk):
        p = points[lo : lo + chunk, None, :]  # [P, 1, 2]
        t = np.clip(((p - start) * segment).sum(axis=2) / length2, 0.0, 1.0)  # [P, S]
        nearest = start + t[..., None] * segment  # [P, S, 2]
        best[lo : lo + chunk] = np.sqrt(((p - nearest) ** 2).sum(axis=2)).min(axis=1)
    return best


#: Share of a fiber's length along one other path that makes it that fiber (drawn over,
#: reshaped): annotations and corrections judge fibers by it.
SAME_FIBER_COVERAGE = 0.5


def path_coverage(path: np.ndarray, others: Sequence[np.ndarray], tolerance_px: float) -> float:
    """How much of ``path`` one of ``others`` runs along, as a fraction in [0, 1].

    ``path`` is sampled every ``tolerance_px / 2`` along its length (plus its
    end point); the result is the largest fraction of those samples lying
    within ``tolerance_px`` of a single path of ``others`` (0 without others).
    :func:`fiber_metrics` counts a true fiber recovered by it; "Use as
    training labels" (napari) counts a traced fiber already annotated by it.
    """
    if not tolerance_px > 0:
        raise ValueError(f"tolerance_px must be > 0, got {tolerance_px}")
    line = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if not len(line):
        return 0.0
    samples = line
    if len(line) > 1:
        samples = np.vstack([resample_path(line, tolerance_px / 2), line[-1]])
    best = 0.0
    for other in others:
        other = np.asarray(other, dtype=np.float64).reshape(-1, 2)
        if len(other):
            covered = float(np.mean(_distance_to_polyline(samples, other) <= tolerance_px))
            best = max(best, covered)
    return best


def drop_duplicate_paths(paths: Sequence[np.ndarray], width_px: float) -> list[np.ndarray]:
    """``paths`` (in their order) without those running along a longer one kept: at least
    :data:`SAME_FIBER_COVERAGE` of a path within half a fiber width of it.

    Two fibers cannot lie closer than their width, so such a path is a second
    trace of the same fiber: a trial's picked micrograph gave 6 paths for 4
    fibers, two running beside traced ones along their whole length, written to
    the STAR and CBOX files (RELION would extract those segments twice).
    """
    kept: list[np.ndarray] = []
    keep = set()
    for index in sorted(range(len(paths)), key=lambda i: -path_length(paths[i])):
        if path_coverage(paths[index], kept, width_px / 2.0) < SAME_FIBER_COVERAGE:
            kept.append(paths[index])
            keep.add(index)
    return [path for index, path in enumerate(paths) if index in keep]  # in their order


#: Largest mean distance between a short traced path's consecutive points, in fiber widths,
#: for a continuous fiber: points are taken every 0.35 widths along the fiber heatmap's crest.
MAX_MEAN_GAP_WIDTHS = 1.0
#: A path of this many points or more is judged by :data:`MAX_MEAN_GAP_ANY_WIDTHS` only.
SHORT_PATH_POINTS = 8
#: Largest mean gap of any path, in fiber widths: a barely trained model's paths along real
#: fibers had mean gaps of up to 1.25 widths (a re-trial, 19 training steps).
MAX_MEAN_GAP_ANY_WIDTHS = 1.5


def drop_sparse_paths(
    paths: Sequence[np.ndarray],
    width_px: float,
    max_mean_gap: float = MAX_MEAN_GAP_WIDTHS,
    short_points: int = SHORT_PATH_POINTS,
    max_mean_gap_any: float = MAX_MEAN_GAP_ANY_WIDTHS,
) -> list[np.ndarray]:
    """``paths`` (in their order) without chains of scattered detections: a path of fewer
    than ``short_points`` points lying on average more than ``max_mean_gap`` fiber widths
    apart, or any path more than ``max_mean_gap_any`` widths apart.

    Points along a detected fiber lie a fraction of its width apart (the crest
    of the heatmap is sampled every 0.35 widths); linking bridges a gap of up to
    the link radius where the detection fades. A few isolated detections, each a
    link radius from the next, are noise that happened to line up: a model
    trained for 30 s in napari traced 38 paths on 3 micrographs of 4 fibers each,
    17 of them false, most chains of 3-6 points with mean gaps of 1.1-2.7 widths
    (18 paths, 1 false, after). Long paths are spared up to 1.5 widths: a model
    trained 19 steps traced real fibers with mean gaps of 1.0-1.25 widths (one
    width for every path lost 2 of 12 fibers; 89 paths, 72 false, became 30, 14
    false, with every fiber kept).
    """
    if not width_px > 0:
        raise ValueError(f"width_px must be > 0, got {width_px}")
    kept = []
    for path in paths:
        path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        gap = path_length(path) / max(len(path) - 1, 1) / width_px
        if (gap > max_mean_gap and len(path) < short_points) or gap > max_mean_gap_any:
            continue
        kept.append(path)
    return kept


def fiber_metrics(
    traced_paths: Sequence[np.ndarray],
    true_paths: Sequence[np.ndarray],
    *,
    tolerance_px: float,
    coverage: float = 0.8,
) -> dict[str, float]:
    """Compare traced fiber paths with true centre lines.

    Parameters
    ----------
    traced_paths, true_paths
        ``(N, 2)`` polylines in (x, y).
    tolerance_px
        Distance within which a traced path counts as lying on a true line.
    coverage
        Fraction of a true line (sampled every ``tolerance_px / 2``) that one
        traced path must come within ``tolerance_px`` of for the fiber to be
        recovered.

    Returns
    -------
    dict
        ``n_true``, ``n_traced``; ``n_recovered`` and ``recovered_fraction``
        (true fibers covered >= ``coverage`` by a *single* traced path);
        ``mean_distance_px`` (mean distance of all traced points to the
        nearest true centre line, NaN without traced points); ``n_false``
        and ``false_fraction`` (traced paths with fewer than half of their
        points within ``tolerance_px`` of any true line).
    """
    if not tolerance_px > 0:
        raise ValueError(f"tolerance_px must be > 0, got {tolerance_px}")
    traced = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in traced_paths]
    traced = [p for p in traced if len(p)]
    truths = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in true_paths]
    truths = [p for p in truths if len(p)]

    n_recovered = sum(path_coverage(line, traced, tolerance_px) >= coverage for line in truths)

    distances = []
    n_false = 0
    for path in traced:
        if truths:
            d = np.min(np.vstack([_distance_to_polyline(path, line) for line in truths]), axis=0)
        else:
            d = np.full(len(path), np.inf)
        distances.append(d)
        n_false += float(np.mean(d <= tolerance_px)) < 0.5
    all_d = np.concatenate(distances) if distances else np.zeros(0)
    finite = all_d[np.isfinite(all_d)]
    return {
        "n_true": len(truths),
        "n_traced": len(traced),
        "n_recovered": int(n_recovered),
        "recovered_fraction": n_recovered / len(truths) if truths else float("nan"),
        "mean_distance_px": float(finite.mean()) if finite.size else float("nan"),
        "n_false": int(n_false),
        "false_fraction": n_false / len(traced) if traced else float("nan"),
    }


def paths_near(paths: list, points: np.ndarray, radius: float) -> np.ndarray:
    """Which of ``paths`` ((N, 2) x, y) pass closer than ``radius`` to one of ``points``
    (their vertices and the segments between them, sampled every pixel): a traced fiber
    the user marked as junk somewhere along it goes as a whole."""
    from scipy.spatial import cKDTree

    near = np.zeros(len(paths), bool)
    if radius <= 0 or not len(points):
        return near
    tree = cKDTree(np.asarray(points, float).reshape(-1, 2))
    for i, path in enumerate(paths):
        path = np.asarray(path, float).reshape(-1, 2)
        dense = np.vstack([resample_path(path, 1.0), path]) if len(path) > 1 else path
        near[i] = bool((tree.query(dense)[0] < radius).any())
    return near
