"""Vesicles (centre + diameter) and fibers (traced paths): training glue and picking.

EPicker showed that one CenterNet-style detector picks proteins, vesicles and
fibers alike; only what happens around the detector differs:

* **Vesicles** are ordinary picks of kind ``"vesicle"`` whose size head
  predicts each vesicle's own diameter (:func:`pick_vesicles`). The
  ``diameter_px`` given to picking is only the *typical* diameter that sets
  the rescaling; choose the geometric mean of the smallest and largest
  vesicle so every vesicle stays within the detector's size range.
* **Fibers** are taught as points along drawn paths
  (:func:`fiber_training_picks`, :func:`densify_fiber_picks`); picking finds
  points along fibers on the ``"fiber"`` heatmap and links them into paths
  (:func:`pick_fibers`, tracing by :func:`napari_cryopick.core.fibers.trace_fibers`).
  Picking many micrographs and writing RELION helical STAR or crYOLO filament
  CBOX files is the pick workflow's (:mod:`napari_cryopick.workflows.pick`).

Core module: no napari or Qt import; torch only through the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_cryopick.core.detect import (
    PickConfig,
    PickResult,
    apply_threshold,
    model_kinds,
    pick_micrograph,
)
from napari_cryopick.core.fibers import (
    default_link_radius,
    drop_duplicate_paths,
    drop_sparse_paths,
    paths_to_picks,
    resample_path,
    trace_fibers,
)
from napari_cryopick.core.pick_table import empty_picks, normalize_picks

__all__ = [
    "FiberPickResult",
    "densify_fiber_picks",
    "fiber_training_picks",
    "pick_fibers",
    "pick_vesicles",
    "trace_fiber_candidates",
    "typical_vesicle_diameter",
]

#: Default spacing of training points along a fiber, in fiber widths: dense
#: enough that the targets form a continuous ridge (sigma of a target peak is
#: a sixth of the width, the peaks overlap at half a width).
_TRAINING_SPACING_IN_WIDTHS = 0.5


# --------------------------------------------------------------------------
# training examples
# --------------------------------------------------------------------------


def fiber_training_picks(
    paths: Iterable[np.ndarray],
    spacing_px: float,
    *,
    diameter: float | None = None,
    micrograph: str = "",
) -> pd.DataFrame:
    """Turn drawn fiber paths into point targets along their length.

    Parameters
    ----------
    paths
        One ``(N, 2)`` array of (x, y) vertices per fiber (original pixels),
        e.g. from :func:`napari_cryopick.layers.results.shapes_to_paths`.
    spacing_px
        Distance between consecutive points along each path, > 0 (half the
        fiber width is a good choice).
    diameter
        Fiber width in pixels, written in the ``diameter`` column.
    micrograph
        Micrograph name of every pick.

    Returns
    -------
    pandas.DataFrame
        Picks of kind ``"fiber"`` (``tube_id`` 1, 2, ... in path order),
        points every ``spacing_px`` from each path's start, plus its end point
        when the last regular point falls short of it by more than a quarter
        of the spacing. Paths of a single vertex give one point.
    """
    if not spacing_px > 0:
        raise ValueError(f"spacing_px must be > 0, got {spacing_px}")
    points = []
    for path in paths:
        path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        if len(path) == 0:
            continue
        samples = resample_path(path, spacing_px)
        if len(path) > 1 and np.hypot(*(path[-1] - samples[-1])) > 0.25 * spacing_px:
            samples = np.vstack([samples, path[-1]])
        points.append(samples)
    return paths_to_picks(points, micrograph=micrograph, diameter=diameter)


def densify_fiber_picks(table: pd.DataFrame, spacing_px: float | None = None) -> pd.DataFrame:
    """Replace the fiber picks of a table by points every ``spacing_px`` along each tube.

    Fiber files hold sparse vertices (RELION start-end pairs, a crYOLO
    filament's boxes, the vertices of a napari path); a detector learns
    fibers from points all along them.

    Parameters
    ----------
    table
        Picks; rows with ``tube_id > 0`` are fiber vertices in path order
        per (micrograph, tube). Other rows are kept unchanged.
    spacing_px
        Distance between training points; ``None``: half the tube's median
        ``diameter`` (half of 20 px where it is unknown).

    Returns
    -------
    pandas.DataFrame
        Non-fiber rows, then the points of every tube (kind ``"fiber"``, the
        tube's ``tube_id`` and diameter, score NaN).
    """
    table = normalize_picks(table)
    fibers = table[table["tube_id"] > 0]
    others = table[table["tube_id"] <= 0]
    parts = [others]
    for (micrograph, tube), group in fibers.groupby(["micrograph", "tube_id"], sort=True):
        diameters = group["diameter"].to_numpy(np.float64)
        finite = diameters[np.isfinite(diameters)]
        diameter = float(np.median(finite)) if finite.size else None
        spacing = spacing_px
        if spacing is None:
            spacing = _TRAINING_SPACING_IN_WIDTHS * (diameter if diameter else 20.0)
        points = fiber_training_picks(
            [group[["x", "y"]].to_numpy(np.float64)],
            spacing,
            diameter=diameter,
            micrograph=str(micrograph),
        )
        points["tube_id"] = int(tube)
        parts.append(points)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else others.reset_index(drop=True)


# --------------------------------------------------------------------------
# vesicles
# --------------------------------------------------------------------------


def _require_kind(model: Any, kind: str) -> None:
    kinds = model_kinds(model)
    if kind not in kinds:
        raise ValueError(f"the model has no {kind!r} heatmap (its kinds: {', '.join(kinds)})")


def _kind_config(config: PickConfig | None, kind: str, **overrides: Any) -> PickConfig:
    values = dict(vars(config or PickConfig()))
    values["kinds"] = (kind,)
    values.update(overrides)
    return PickConfig(**values)


def pick_vesicles(
    model: Any,
    image: np.ndarray,
    *,
    diameter_px: float,
    config: PickConfig | None = None,
    micrograph_name: str = "",
) -> PickResult:
    """Pick vesicles: centres and each vesicle's own diameter from the size head.

    Parameters
    ----------
    model
        Detector with a ``"vesicle"`` kind (and, for diameters, a size head).
    image
        ``[H, W]`` original micrograph.
    diameter_px
        Typical vesicle diameter in original pixels; it only sets the
        rescaling (use the geometric mean of the smallest and largest).
    config
        Picking options; only the vesicle heatmap is decoded.
    micrograph_name
        Written in the ``micrograph`` column.

    Returns
    -------
    PickResult
        As :func:`napari_cryopick.core.detect.pick_micrograph`, with vesicle picks
        only; ``picks["diameter"]`` is each vesicle's predicted diameter in
        original pixels (show them with
        :func:`napari_cryopick.layers.results.vesicles_layer`).
    """
    _require_kind(model, "vesicle")
    return pick_micrograph(
        model,
        image,
        diameter_px=diameter_px,
        config=_kind_config(config, "vesicle"),
        micrograph_name=micrograph_name,
    )


# --------------------------------------------------------------------------
# fibers
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FiberPickResult:
    """Fibers picked on one micrograph.

    Attributes
    ----------
    paths
        One ``(N, 2)`` array of (x, y) per traced fiber (original pixels),
        ordered along the fiber, longest first (napari:
        :func:`napari_cryopick.layers.results.fibers_layer`).
    picks
        The path vertices as picks (kind ``"fiber"``, ``tube_id`` = path
        number, ``score`` = the mean score of the candidates linked into the
        path, ``diameter`` = the fiber width).
    candidates
        All fiber-heatmap candidates down to the score floor (re-trace at
        another threshold with :func:`trace_fiber_candidates`, no network).
    heatmap, heatmap_scale, heatmap_translate
        Fiber heatmap and its placement over the micrograph (as
        :class:`napari_cryopick.core.detect.PickResult`).
    threshold, link_radius_px, max_angle_deg
        Tracing settings used.
    """

    paths: list[np.ndarray]
    picks: pd.DataFrame
    candidates: pd.DataFrame
    heatmap: np.ndarray
    heatmap_scale: tuple[float, float]
    heatmap_translate: tuple[float, float]
    threshold: float
    link_radius_px: float
    max_angle_deg: float


def _path_scores(
    paths: Sequence[np.ndarray], tree: cKDTree, scores: np.ndarray, threshold: float
) -> list[float]:
    """Mean score of the candidates (``tree`` of their positions) nearest to each path's
    vertices, of those scoring ``threshold`` or more (the weaker ones a path bridges a
    fading stretch with do not bring its score below the threshold it is shown at)."""
    out = []
    for path in paths:
        _, index = tree.query(np.asarray(path, dtype=np.float64).reshape(-1, 2))
        near = scores[np.unique(index)]
        strong = near[near >= threshold]
        out.append(float(np.mean(strong if len(strong) else near)))
    return out


#: The score down to which fiber candidates are linked into paths when the threshold is
#: higher (the default pick threshold, :class:`napari_cryopick.core.detect.PickConfig`).
FIBER_LINK_THRESHOLD = PickConfig().threshold


def _strong_stretches(
    paths: Sequence[np.ndarray],
    tree: cKDTree,
    scores: np.ndarray,
    threshold: float,
    min_points: int,
) -> list[np.ndarray]:
    """Each path from its first to its last vertex whose nearest candidate (``tree`` of
    their positions) scores ``threshold`` or more; paths with fewer than ``min_points``
    such vertices dropped."""
    kept = []
    for path in paths:
        path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        _, index = tree.query(path)
        strong = np.flatnonzero(scores[index] >= threshold)
        if len(strong) < max(min_points, 1):
            continue
        kept.append(path[strong[0] : strong[-1] + 1])
    return kept


def trace_fiber_candidates(
    candidates: pd.DataFrame,
    *,
    threshold: float,
    link_radius_px: float,
    max_angle_deg: float = 30.0,
    min_points: int = 3,
    smooth: bool | int = True,
    diameter_px: float | None = None,
    micrograph: str = "",
    link_threshold: float | None = None,
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Trace fiber candidates above a threshold into paths (no network).

    Paths are traced with hysteresis, as edges are (Canny): candidates down to
    ``link_threshold`` are linked, then each path keeps the stretch from its first to
    its last vertex scoring ``threshold`` or more, and a path without ``min_points``
    such vertices is dropped. A fiber whose detection fades somewhere along it
    stays one path at a higher threshold instead of breaking into pieces (a napari
    trial: 12 fibers at 0.15, 18 at 0.6).

    Parameters
    ----------
    candidates
        Fiber candidates (``FiberPickResult.candidates``, or any picks with
        ``x``, ``y``, ``score``).
    threshold
        Paths keep their stretch between vertices with ``score >= threshold``.
    link_threshold
        Candidates with ``score >= link_threshold`` are linked; None: the
        lower of ``threshold`` and the default pick threshold
        (:data:`FIBER_LINK_THRESHOLD`), so the paths' shape does not change
        above it, and below it every candidate shown is linked.
    link_radius_px, max_angle_deg, min_points, smooth
        See :func:`napari_cryopick.core.fibers.trace_fibers`.
    diameter_px
        Fiber width written in the picks (NaN when ``None``). With it, chains of
        scattered detections are dropped
        (:func:`napari_cryopick.core.fibers.drop_sparse_paths`), and so is a path
        along a longer one within half of it
        (:func:`napari_cryopick.core.fibers.drop_duplicate_paths`).
    micrograph
        Micrograph name of the picks.

    Returns
    -------
    paths, picks
        The traced paths and their vertices as a pick table (see
        :class:`FiberPickResult`).
    """
    if link_threshold is None:
        link_threshold = min(threshold, FIBER_LINK_THRESHOLD)
    link_threshold = min(link_threshold, threshold)
    selected = apply_threshold(candidates, link_threshold) if len(candidates) else candidates
    if len(selected) == 0:
        return [], empty_picks()
    x = selected["x"].to_numpy(np.float64)
    y = selected["y"].to_numpy(np.float64)
    scores = selected["score"].to_numpy(np.float64)
    paths = trace_fibers(
        x,
        y,
        scores,
        link_radius_px=link_radius_px,
        max_angle_deg=max_angle_deg,
        min_points=min_points,
        smooth=smooth,
    )
    tree = cKDTree(np.column_stack([x, y]))  # (selected holds at least one candidate)
    if paths and threshold > link_threshold:
        paths = _strong_stretches(paths, tree, scores, threshold, min_points)
    if diameter_px is not None and diameter_px > 0:
        paths = drop_duplicate_paths(drop_sparse_paths(paths, diameter_px), diameter_px)
    picks = paths_to_picks(paths, micrograph=micrograph, diameter=diameter_px)
    if len(picks):
        path_score = _path_scores(paths, tree, scores, threshold)
        picks["score"] = np.asarray(path_score, dtype=np.float64)[picks["tube_id"].to_numpy() - 1]
    return paths, picks


def pick_fibers(
    model: Any,
    image: np.ndarray,
    *,
    diameter_px: float,
    config: PickConfig | None = None,
    micrograph_name: str = "",
    link_radius_px: float | None = None,
    max_angle_deg: float = 30.0,
    min_points: int = 3,
    smooth: bool | int = True,
    min_distance: float = 0.35,
    ridge: bool = True,
) -> FiberPickResult:
    """Pick fibers: detect points along fibers, then trace them into paths (EPicker).

    Parameters
    ----------
    model
        Detector with a ``"fiber"`` kind.
    image
        ``[H, W]`` original micrograph.
    diameter_px
        Fiber width in original pixels (sets the rescaling).
    config
        Picking options (``threshold``: the score above which candidates are
        linked; ``min_distance`` is replaced by the argument below).
    micrograph_name
        Written in the ``micrograph`` column.
    link_radius_px
        Neighbourhood radius of linking; ``None``: EPicker's 100 px at 1024 px
        width, scaled to the micrograph width
        (:func:`napari_cryopick.core.fibers.default_link_radius`).
    max_angle_deg
        Largest bend between the path direction and the next link.
    min_points
        Paths with fewer points are dropped.
    smooth
        Smooth away zig-zags (5-point moving average, ends kept); an int sets
        the window; ``False`` keeps the detected positions.
    min_distance
        Minimum distance between detected points, in fiber widths (smaller
        than for particles: points lie along a continuous ridge).
    ridge
        Take points anywhere on the fiber heatmap's crest, spaced
        ``min_distance`` apart (:func:`napari_cryopick.core.detect.find_peaks` with
        ``ridge=True``), instead of local maxima only: a fiber's heatmap is a
        flat ridge whose local maxima are few and far apart, which breaks
        paths.

    Returns
    -------
    FiberPickResult
    """
    _require_kind(model, "fiber")
    config = _kind_config(config, "fiber", min_distance=min_distance, ridge=ridge)
    image = np.asarray(image)
    result = pick_micrograph(
        model, image, diameter_px=diameter_px, config=config, micrograph_name=micrograph_name
    )
    if link_radius_px is None:
        link_radius_px = default_link_radius(image.shape[-1])
    paths, picks = trace_fiber_candidates(
        result.picks,
        threshold=config.threshold,
        link_radius_px=link_radius_px,
        max_angle_deg=max_angle_deg,
        min_points=min_points,
        smooth=smooth,
        diameter_px=diameter_px,
        micrograph=micrograph_name,
    )
    heatmap = result.heatmap
    if heatmap.ndim == 3:
        heatmap = heatmap[list(result.kinds).index("fiber")]
    return FiberPickResult(
        paths=paths,
        picks=picks,
        candidates=result.picks,
        heatmap=heatmap,
        heatmap_scale=result.heatmap_scale,
        heatmap_translate=result.heatmap_translate,
        threshold=config.threshold,
        link_radius_px=float(link_radius_px),
        max_angle_deg=float(max_angle_deg),
    )


#: A vesicle diameter more than this many times from the median of the others is a slip
#: (a click without a drag in napari draws a circle of a few pixels), not a vesicle size.
VESICLE_SIZE_OUTLIER = 4.0


def vesicle_size_outliers(diameters: Sequence[float]) -> np.ndarray:
    """Which of ``diameters`` lie more than :data:`VESICLE_SIZE_OUTLIER` times from
    their median (non-positive and non-finite ones too): a boolean mask."""
    values = np.asarray(diameters, dtype=np.float64).reshape(-1)
    usable = np.isfinite(values) & (values > 0)
    if not usable.any():
        return ~usable
    median = float(np.median(values[usable]))
    with np.errstate(divide="ignore", invalid="ignore"):
        far = np.abs(np.log(values / median)) > math.log(VESICLE_SIZE_OUTLIER)
    return ~usable | far


def typical_vesicle_diameter(diameters: Sequence[float]) -> float:
    """Typical diameter for rescaling: geometric mean of the smallest and largest,
    leaving out sizes more than :data:`VESICLE_SIZE_OUTLIER` times from the median
    (:func:`vesicle_size_outliers`).

    One stray 2.5 px circle beside eight 185-225 px vesicles made the scale
    23.7 px: the vesicles were shrunk 8 times too little and none was picked
    (a trial).

    Parameters
    ----------
    diameters
        Vesicle diameters in pixels (e.g. of the training picks).
    """
    values = np.asarray(diameters, dtype=np.float64).reshape(-1)
    values = values[~vesicle_size_outliers(values)]
    if values.size == 0:
        raise ValueError("no positive diameters given")
    return float(math.sqrt(values.min() * values.max()))
