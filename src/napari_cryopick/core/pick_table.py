"""The project's one pick convention and the conversions to and from it.

Inside napari-cryopick every set of picks is a :class:`pandas.DataFrame` with
these columns (see ``docs/file-conventions.md``):

``micrograph``
    micrograph name (file stem, no folder and no extension), str.
``x``, ``y``
    **centre** of the object in **pixels of the original micrograph**;
    ``x`` is the column, ``y`` the row, origin at the centre of the top-left
    pixel (``x = 0, y = 0``), float.
``diameter``
    object diameter in original pixels, float (NaN when unknown).
``score``
    detector confidence in [0, 1] (NaN for hand-made picks), float.
``kind``
    ``"particle"``, ``"vesicle"``, ``"fiber"`` or ``"negative"``, str.
``tube_id``
    fiber (helical tube) number, 1-based; 0 for non-fiber objects, int.

napari speaks (row, col) = (y, x); every conversion between the two lives
here, and so does every change of pixel grid (binning) and the y flip some
tools need.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

PICK_COLUMNS: tuple[str, ...] = ("micrograph", "x", "y", "diameter", "score", "kind", "tube_id")
KINDS: tuple[str, ...] = ("particle", "vesicle", "fiber", "negative")
#: Coordinates beyond this many pixels from the origin are no micrograph's: every file the
#: tool reads refuses them (pick files; its sidecars and kept corrections too: napari's
#: sliders overflow at 2**31, and a damaged file's 1e9 left napari unable to close).
MAX_COORDINATE_PX = 1e7

_DTYPES = {
    "micrograph": object,
    "x": np.float64,
    "y": np.float64,
    "diameter": np.float64,
    "score": np.float64,
    "kind": object,
    "tube_id": np.int64,
}


def make_picks(
    x: Iterable[float] = (),
    y: Iterable[float] = (),
    *,
    diameter: float | Iterable[float] | None = None,
    score: float | Iterable[float] | None = None,
    micrograph: str | Iterable[str] = "",
    kind: str | Iterable[str] = "particle",
    tube_id: int | Iterable[int] = 0,
) -> pd.DataFrame:
    """Build a pick table in the project convention.

    Parameters
    ----------
    x, y
        Centre coordinates (x = column, y = row) in original micrograph pixels.
    diameter, score
        Scalars or per-pick values; ``None`` gives NaN.
    micrograph, kind, tube_id
        Scalars or per-pick values.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PICK_COLUMNS`, one row per pick.
    """
    x_arr = np.asarray(list(x) if not isinstance(x, np.ndarray) else x, dtype=np.float64).ravel()
    y_arr = np.asarray(list(y) if not isinstance(y, np.ndarray) else y, dtype=np.float64).ravel()
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y differ in length: {x_arr.size} != {y_arr.size}")
    n = x_arr.size

    def _column(value, fill, dtype):
        if value is None:
            return np.full(n, fill, dtype=dtype)
        if np.isscalar(value):
            return np.full(n, value, dtype=dtype)
        arr = np.asarray(list(value) if not isinstance(value, np.ndarray) else value, dtype=dtype)
        if arr.shape != (n,):
            raise ValueError(f"expected {n} values, got {arr.shape}")
        return arr

    table = pd.DataFrame(
        {
            "micrograph": _column(micrograph, "", object),
            "x": x_arr,
            "y": y_arr,
            "diameter": _column(diameter, np.nan, np.float64),
            "score": _column(score, np.nan, np.float64),
            "kind": _column(kind, "particle", object),
            "tube_id": _column(tube_id, 0, np.int64),
        }
    )
    return table


def empty_picks() -> pd.DataFrame:
    """A pick table with no rows and the project's columns."""
    return make_picks()


def normalize_picks(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with every project column present and typed.

    Missing columns get their defaults (NaN diameter and score, kind
    ``"particle"``, tube 0, empty micrograph name); extra columns are kept
    after the project's own.
    """
    table = table.copy()
    defaults = {
        "micrograph": "",
        "diameter": np.nan,
        "score": np.nan,
        "kind": "particle",
        "tube_id": 0,
    }
    for column in ("x", "y"):
        if column not in table.columns:
            raise ValueError(f"pick table has no '{column}' column")
    for column, default in defaults.items():
        if column not in table.columns:
            table[column] = default
    for column, dtype in _DTYPES.items():
        table[column] = table[column].astype(dtype)
    table["micrograph"] = table["micrograph"].fillna("").astype(str)
    extra = [c for c in table.columns if c not in PICK_COLUMNS]
    return table[list(PICK_COLUMNS) + extra].reset_index(drop=True)


# --- napari (row, col) <-> project (x, y): the one place this swap happens ---


def picks_to_napari(table: pd.DataFrame) -> np.ndarray:
    """Pick centres as napari point coordinates, shape ``(N, 2)`` in (row, col)."""
    return np.column_stack([table["y"].to_numpy(float), table["x"].to_numpy(float)]).reshape(-1, 2)


def napari_to_xy(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """napari (row, col) coordinates, shape ``(N, 2)`` or ``(N, D)``, to ``(x, y)``.

    Only the last two axes are used, so points of a stacked (3D) layer work.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.size == 0:
        return np.zeros(0), np.zeros(0)
    points = points.reshape(-1, points.shape[-1])
    return points[:, -1].copy(), points[:, -2].copy()


# --- pixel grids ---


def scale_picks(table: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Multiply positions and diameters by ``factor``.

    Picks made on a micrograph binned by ``b`` (one binned pixel covers ``b``
    original pixels) go back to original pixels with ``factor = b``; the pixel
    *centre* convention keeps the origin fixed for area-averaged binning
    aligned on the first pixel, which is how :mod:`napari_cryopick.core.preprocess`
    bins. Use :func:`binned_to_original` / :func:`original_to_binned` where the
    half-pixel shift of block averaging matters.
    """
    out = table.copy()
    out["x"] = out["x"] * factor
    out["y"] = out["y"] * factor
    out["diameter"] = out["diameter"] * factor
    return out


def binned_to_original(table: pd.DataFrame, binning: float, *, block: bool = True) -> pd.DataFrame:
    """Picks in the pixels of a micrograph binned by ``binning`` → original pixels.

    ``block``: binned by block averaging, where binned pixel ``i`` averages
    original pixels ``i*b .. i*b + b - 1``, so its centre is at original
    ``i*b + (b - 1)/2``. Otherwise by Fourier cropping (``topaz preprocess
    -s``), which keeps pixel 0 at pixel 0: original ``i*b``.
    """
    out = scale_picks(table, binning)
    shift = (binning - 1.0) / 2.0 if block else 0.0
    out["x"] = out["x"] + shift
    out["y"] = out["y"] + shift
    return out


def original_to_binned(table: pd.DataFrame, binning: float, *, block: bool = True) -> pd.DataFrame:
    """Inverse of :func:`binned_to_original`."""
    out = table.copy()
    shift = (binning - 1.0) / 2.0 if block else 0.0
    out["x"] = (out["x"] - shift) / binning
    out["y"] = (out["y"] - shift) / binning
    out["diameter"] = out["diameter"] / binning
    return out


def flip_y(table: pd.DataFrame, height: int) -> pd.DataFrame:
    """Mirror picks top-bottom on a micrograph of ``height`` rows.

    Some tools put the origin at the bottom-left (EMAN ``.box`` read on an MRC
    displayed bottom-up, images flipped by a JPG/PNG export). The flip is an
    explicit option of every writer and reader, never applied silently.
    """
    out = table.copy()
    out["y"] = (height - 1) - out["y"]
    return out


def beside_hand_picks(
    x: np.ndarray,
    y: np.ndarray,
    score: np.ndarray,
    diameter: np.ndarray,
    fraction: float,
) -> np.ndarray:
    """Scored rows within ``fraction`` of a diameter of a row without a score.

    A pick added by hand (no score) on a particle the detector scored below the
    threshold is that particle: shown at a lower threshold, both would be, one
    particle picked twice (a GUI trial exported three such pairs 3.6 px apart). The
    diameter is the candidate's, else the hand pick's, else the rows' median.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    score, diameter = np.asarray(score, float), np.asarray(diameter, float)
    near = np.zeros(len(x), dtype=bool)
    hand = ~np.isfinite(score)
    if not hand.any() or hand.all():
        return near
    from scipy.spatial import cKDTree

    finite = diameter[np.isfinite(diameter) & (diameter > 0)]
    fallback = float(np.median(finite)) if finite.size else 0.0
    tree = cKDTree(np.column_stack([x[hand], y[hand]]))
    hand_diameter = np.where(np.isfinite(diameter[hand]), diameter[hand], fallback)
    scored = np.flatnonzero(~hand)
    distance, nearest = tree.query(np.column_stack([x[scored], y[scored]]))
    own = diameter[scored]
    size = np.where(np.isfinite(own) & (own > 0), own, hand_diameter[nearest])
    near[scored] = distance < fraction * size
    return near


#: Why a pick file has nothing to threshold (``filter_mask``'s error; ``cryopick filter``'s
#: when every file given is so).
NO_SCORES = (
    "no scores to threshold (BOX files and hand-made pick files hold none; a picker's "
    "STAR, CBOX, CSV or Topaz file keeps them)"
)


def filter_mask(
    table: pd.DataFrame,
    *,
    threshold: float | None = None,
    min_diameter: float | None = None,
    max_diameter: float | None = None,
    kind: str | None = None,
    keep_unscored: bool = False,
) -> np.ndarray:
    """Rows of ``table`` with a score of at least ``threshold`` and a diameter in range.

    The one filter of picks kept with all their candidates: ``cryopick filter``
    writes the rows it passes, the Pick widget shows them (threshold slider,
    size range), so a file re-filtered later equals one picked at those values.

    Parameters
    ----------
    table
        Picks (needs ``score``, ``diameter``, ``kind`` for the filters given).
    threshold, min_diameter, max_diameter
        Bounds, inclusive; None: no bound.
    kind
        Keep only this object kind; None: all.
    keep_unscored
        Rows without a score (picks the user added by hand) pass the score
        and size filters: they are the user's, not the detector's.

    Raises
    ------
    ValueError
        A threshold on picks without any score, or a diameter range on picks
        without any diameter (the message says which; callers prefix the file).
    """
    keep = np.ones(len(table), dtype=bool)
    if not len(table):
        return keep
    scores = table["score"].to_numpy(np.float64)
    unscored = ~np.isfinite(scores) if keep_unscored else np.zeros(len(table), dtype=bool)
    if threshold is not None:
        if not keep_unscored and not np.isfinite(scores).any():
            # (a new user's BOX files, written by cryopick pick, were asked "was it written
            # by a picker?")
            raise ValueError(f"has {NO_SCORES}")
        keep &= unscored | (scores >= threshold)
    if min_diameter is not None or max_diameter is not None:
        diameters = table["diameter"].to_numpy(np.float64)
        if not np.isfinite(diameters[~unscored]).any() and (~unscored).any():
            raise ValueError("has no diameters to filter")
        in_range = np.isfinite(diameters)
        if min_diameter is not None:
            in_range &= diameters >= min_diameter
        if max_diameter is not None:
            in_range &= diameters <= max_diameter
        keep &= unscored | in_range
    if kind is not None:
        keep &= table["kind"].astype(str).to_numpy() == kind
    return keep


def nearest_distances(table: pd.DataFrame, others: pd.DataFrame) -> np.ndarray:
    """Distance from each row of ``table`` to the nearest row of ``others`` (x, y columns).

    ``inf`` for every row when ``others`` is empty.
    """
    if not len(others):
        return np.full(len(table), np.inf)
    if not len(table):
        return np.zeros(0)
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(others[["x", "y"]].to_numpy(float)).query(
        table[["x", "y"]].to_numpy(float)
    )
    return distance


#: Two picks of one micrograph and kind closer than this share of their diameter
#: are one particle picked twice (two manual-pick passes concatenated, a file
#: given twice): :func:`duplicate_picks`.
DUPLICATE_FRACTION = 0.1


def duplicate_picks(table: pd.DataFrame, diameter_px: float | None = None) -> np.ndarray:
    """Which rows repeat an earlier row of the same micrograph and kind: a boolean mask.

    A row within :data:`DUPLICATE_FRACTION` of the diameter of an earlier one
    repeats it. The diameter: the median of the group's ``diameter`` column,
    else ``diameter_px``, else 5 px (picks half a pixel apart). Fiber paths (rows
    with a ``tube_id``) are never duplicates: their points are close by design.
    """
    from scipy.spatial import cKDTree

    mask = np.zeros(len(table), dtype=bool)
    if len(table) < 2 or not {"x", "y"} <= set(table.columns):
        return mask
    keys = [c for c in ("micrograph", "kind") if c in table.columns]
    groups = table.groupby(keys, sort=False).indices if keys else {"": np.arange(len(table))}
    tube = table["tube_id"].to_numpy() if "tube_id" in table else np.zeros(len(table))
    for rows in groups.values():
        rows = rows[np.nan_to_num(tube[rows].astype(float)) <= 0]
        if len(rows) < 2:
            continue
        group = table.iloc[rows]
        sizes = group["diameter"].to_numpy(float) if "diameter" in group else np.empty(0)
        sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
        diameter = float(np.median(sizes)) if sizes.size else (diameter_px or 5.0)
        pairs = cKDTree(group[["x", "y"]].to_numpy(float)).query_pairs(
            DUPLICATE_FRACTION * diameter, output_type="ndarray"
        )
        if len(pairs):
            mask[rows[pairs.max(axis=1)]] = True
    return mask


def far_from(table: pd.DataFrame, others: pd.DataFrame, radius: float | np.ndarray) -> pd.DataFrame:
    """The rows of ``table`` farther than ``radius`` from every row of ``others`` (x, y).

    ``radius``: one for every row, or one per row of ``table`` (a vesicle's own).
    """
    if not (len(table) and len(others)):
        return table
    return table[nearest_distances(table, others) > radius]


def at_negatives(picks: pd.DataFrame, negatives: pd.DataFrame, diameter_px: float) -> np.ndarray:
    """Which scored particle and vesicle picks lie at a negative the user marked (x, y).

    A particle candidate within half a diameter (``diameter_px``) of one; a vesicle
    candidate with one within a quarter of its own diameter of its centre (a negative
    on ice inside a real vesicle leaves the vesicle). Picks without a score (the
    user's own) and fibers (:func:`napari_cryopick.core.fibers.paths_near`) are never
    marked. A spot the user called junk stays junk on that micrograph whatever a model
    says: the napari Pick widget and ``cryopick pick`` (the micrograph's napari
    annotations) both leave these picks out.
    """
    junk = np.zeros(len(picks), bool)
    if not (len(picks) and len(negatives)):
        return junk
    scored = picks["score"].notna().to_numpy()
    kind = picks["kind"].astype(str).to_numpy()
    usable = np.isfinite(diameter_px) and diameter_px > 0
    particle = (kind == "particle") & scored
    if particle.any() and usable:
        junk |= near_points(picks, particle, negatives, 0.5 * diameter_px)
    vesicle = (kind == "vesicle") & scored
    if vesicle.any():
        radius = 0.25 * picks["diameter"].to_numpy(float)[vesicle]
        if usable:
            radius = np.where(np.isfinite(radius), radius, 0.25 * diameter_px)
        junk |= near_points(picks, vesicle, negatives, radius)
    return junk


def near_points(
    picks: pd.DataFrame, rows: np.ndarray, points: pd.DataFrame, radius: float | np.ndarray
) -> np.ndarray:
    """Which of ``picks`` (among ``rows``, a mask) lie closer than ``radius`` to a row of
    ``points`` (x, y): the candidates a user's own pick or negative there replaces.
    ``radius``: one for all, or one per row of ``rows`` (a vesicle's own)."""
    near = np.zeros(len(picks), bool)
    if rows.any() and len(points):
        near[np.flatnonzero(rows)] = nearest_distances(picks.loc[rows], points) < radius
    return near


def object_counts(table: pd.DataFrame) -> dict[str, int]:
    """Objects of a pick table as a user sees them: ``{"picks", "vesicles", "fibers"}``.

    One per particle pick and vesicle circle; one per fiber (a tube of a micrograph),
    not one per point of its path (a fiber trial's progress bar and pictures said
    "186 picks" for 4 traced fibers).
    """
    kinds = table["kind"].astype(str) if "kind" in table else pd.Series("particle", table.index)
    fibers = table[(kinds == "fiber").to_numpy()]
    keys = [c for c in ("micrograph", "tube_id") if c in fibers]
    return {
        "picks": int((~kinds.isin(["vesicle", "fiber", "negative"])).sum()),
        "vesicles": int((kinds == "vesicle").sum()),
        "fibers": len(fibers[keys].drop_duplicates()) if keys else len(fibers),
    }


def objects_said(table: pd.DataFrame) -> str:
    """``"120 picks"``, ``"4 fibers"``, ``"3 picks, 2 vesicles"``: :func:`object_counts`
    in words (``"0 picks"`` for none)."""
    from napari_cryopick.core.text import counted

    parts = [counted(n, what) for what, n in object_counts(table).items() if n]
    return ", ".join(parts) or "0 picks"
