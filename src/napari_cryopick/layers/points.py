"""Pure functions between core results and napari ``LayerDataTuple``s.

Nothing here imports napari: a ``LayerDataTuple`` is just ``(data, kwargs,
layer_type)``, which the reader, the widgets and scripts can hand to
``viewer._add_layer_from_data`` / magicgui return annotations. Every change
between pick tables ``(x, y)`` and napari points ``(row, col)`` goes through
:mod:`napari_cryopick.core.pick_table`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core import pick_table as _picks
from napari_cryopick.io.micrographs import Micrograph

__all__ = [
    "FALLBACK_DIAMETER",
    "KIND_COLOURS",
    "micrograph_layer",
    "picks_layer",
    "points_to_picks",
    "score_colours",
]

LayerDataTuple = tuple[Any, dict[str, Any], str]

# Display size of picks whose diameter is unknown, when nothing better is known.
FALLBACK_DIAMETER = 32.0
# Unscored picks (truth files, hand-made pick files) by kind: particles light blue,
# apart from the orange annotations and the score-coloured (viridis) picks.
KIND_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "particle": (0.35, 0.7, 1.0, 1.0),
    "vesicle": (0.0, 0.9, 1.0, 1.0),
    "fiber": (1.0, 0.2, 1.0, 1.0),
    "negative": (1.0, 0.2, 0.2, 1.0),
}
_UNSCORED_COLOUR = (1.0, 1.0, 1.0, 1.0)
# Three stops of viridis: low scores purple, middle teal, high yellow.
_SCORE_STOPS = np.array([[0.267, 0.005, 0.329], [0.128, 0.567, 0.551], [0.993, 0.906, 0.144]])
_FEATURE_COLUMNS = ("score", "diameter", "kind", "tube_id", "micrograph")


#: Metadata of each micrograph layer a folder opens: ``(batch, left)``, the opening's
#: token and how many of its layers come after this one. napari adds a folder's layers
#: one after another in one go and selects each; the widgets follow the last one only
#: (``napari_cryopick._widgets._common.more_coming``): a trial's 50 micrographs, each
#: followed in turn, froze napari for a minute.
OPENING_KEY = "cryopick_opening"


def micrograph_layer(micrograph: Micrograph, name: str | None = None) -> LayerDataTuple:
    """An image layer for a micrograph.

    Parameters
    ----------
    micrograph
        The micrograph.
    name
        Layer name; default the micrograph name.

    Returns
    -------
    tuple
        ``(data, kwargs, "image")``; contrast limits are the 0.5 and 99.5
        percentiles (robust to hot pixels and carbon edges), ``metadata``
        keeps ``pixel_size``, ``path``, ``name`` and ``notes``.
    """
    data = micrograph.data
    sample = data[:: max(1, data.shape[0] // 512), :: max(1, data.shape[1] // 512)]
    low, high = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if not high > low:
        low, high = float(data.min()), float(data.max())
        if not high > low:
            high = low + 1.0
    kwargs = {
        "name": name or micrograph.name or "micrograph",
        "colormap": "gray",
        "contrast_limits": (low, high),
        "metadata": {
            "pixel_size": micrograph.pixel_size,
            "path": None if micrograph.path is None else str(micrograph.path),
            "name": micrograph.name,
            "notes": list(micrograph.notes),
        },
    }
    return data, kwargs, "image"


#: Micrograph-layer metadata key of the particle diameter the user measured or set (pixels).
DIAMETER_KEY = "cryopick_diameter"
#: Micrograph-layer metadata key of the data-set name the user gave.
DATASET_KEY = "cryopick_dataset"


def score_colours(scores: np.ndarray) -> np.ndarray:
    """RGBA colours for scores in [0, 1] (viridis-like); white where the score is NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    colours = np.tile(np.asarray(_UNSCORED_COLOUR), (scores.size, 1))
    known = np.isfinite(scores)
    position = np.clip(scores[known], 0.0, 1.0) * (len(_SCORE_STOPS) - 1)
    lower = np.minimum(position.astype(int), len(_SCORE_STOPS) - 2)
    fraction = (position - lower)[:, None]
    colours[known, :3] = (1 - fraction) * _SCORE_STOPS[lower] + fraction * _SCORE_STOPS[lower + 1]
    return colours


def _display_sizes(diameter: np.ndarray, default_diameter: float | None) -> np.ndarray:
    known = np.isfinite(diameter) & (diameter > 0)
    if default_diameter is not None:
        fallback = float(default_diameter)
    elif known.any():
        fallback = float(np.median(diameter[known]))
    else:
        fallback = FALLBACK_DIAMETER
    return np.where(known, diameter, fallback)


def picks_layer(
    table: pd.DataFrame,
    name: str = "picks",
    *,
    kind: str = "particle",
    default_diameter: float | None = None,
) -> LayerDataTuple:
    """A points layer for a pick table.

    Parameters
    ----------
    table
        Picks in the project convention.
    name
        Layer name.
    kind
        Kind given to points the user adds to the layer (``feature_defaults``)
        and recorded in ``metadata["kind"]``.
    default_diameter
        Diameter of added points, and display size of picks whose diameter is
        NaN (default: the median known diameter, else
        :data:`FALLBACK_DIAMETER`).

    Returns
    -------
    tuple
        ``(data, kwargs, "points")`` with ``data`` in napari (row, col),
        ``size`` = diameter, ``features`` holding score, diameter, kind,
        tube_id and micrograph, and hollow circles (transparent face) whose
        border is coloured by score when some pick has one, else by kind.
        ``metadata["micrograph"]`` is the micrograph name when the table
        holds exactly one.
    """
    table = _picks.normalize_picks(table)
    data = _picks.picks_to_napari(table)
    diameter = table["diameter"].to_numpy(np.float64)
    features = table[list(_FEATURE_COLUMNS)].reset_index(drop=True)
    scores = table["score"].to_numpy(np.float64)
    if np.isfinite(scores).any():
        border = score_colours(scores)
    else:
        border = np.array(
            [KIND_COLOURS.get(k, _UNSCORED_COLOUR) for k in table["kind"]], dtype=float
        ).reshape(-1, 4)
    names = sorted(set(table["micrograph"].astype(str)) - {""})
    micrograph = names[0] if len(names) == 1 else ""
    kwargs = {
        "name": name,
        "size": _display_sizes(diameter, default_diameter),
        "features": features,
        "feature_defaults": {
            "score": np.nan,
            "diameter": np.nan if default_diameter is None else float(default_diameter),
            "kind": kind,
            "tube_id": 0,
            "micrograph": micrograph,
        },
        "face_color": "transparent",
        # an array, never a tuple: napari reads a tuple of numbers as property names
        "border_color": border
        if len(border)
        else np.asarray(KIND_COLOURS.get(kind, _UNSCORED_COLOUR), dtype=float),
        "border_width": 0.08,
        "border_width_is_relative": True,
        "symbol": "o",
        "metadata": {
            "kind": kind,
            "micrograph": micrograph,
            "default_diameter": default_diameter,
        },
    }
    return data, kwargs, "points"


def points_to_picks(
    data: np.ndarray,
    features: pd.DataFrame | dict | None = None,
    *,
    micrograph: str = "",
    default_diameter: float | None = None,
) -> pd.DataFrame:
    """Points layer data (and features) back to a pick table.

    Parameters
    ----------
    data
        napari point coordinates, shape ``(N, 2)`` (row, col) or ``(N, D)``;
        only the last two axes are used.
    features
        Per-point ``score``, ``diameter``, ``kind``, ``tube_id``,
        ``micrograph`` where present (other columns are ignored).
    micrograph
        Name for points whose feature does not name a micrograph.
    default_diameter
        Diameter for points whose diameter is missing or NaN.

    Returns
    -------
    pandas.DataFrame
        Picks in the project convention.
    """
    x, y = _picks.napari_to_xy(data)
    n = x.size
    frame = pd.DataFrame(features) if features is not None else pd.DataFrame(index=range(n))
    if len(frame) != n:
        raise ValueError(f"{len(frame)} feature rows for {n} points")
    frame = frame.reset_index(drop=True)

    def column(name: str, default, dtype):
        if name not in frame.columns:
            return np.full(n, default, dtype=dtype)
        return frame[name].to_numpy()

    diameter = pd.to_numeric(pd.Series(column("diameter", np.nan, float)), errors="coerce")
    diameter = diameter.to_numpy(np.float64)
    if default_diameter is not None:
        diameter = np.where(np.isfinite(diameter), diameter, float(default_diameter))
    score = pd.to_numeric(pd.Series(column("score", np.nan, float)), errors="coerce")
    tube = pd.to_numeric(pd.Series(column("tube_id", 0, np.int64)), errors="coerce")
    kinds = [
        str(k) if isinstance(k, str) and k else "particle"
        for k in column("kind", "particle", object)
    ]
    names = [
        str(m) if isinstance(m, str) and m else micrograph for m in column("micrograph", "", object)
    ]
    return _picks.make_picks(
        x,
        y,
        diameter=diameter,
        score=score.to_numpy(np.float64),
        micrograph=names,
        kind=kinds,
        tube_id=tube.fillna(0).to_numpy(np.int64),
    )
