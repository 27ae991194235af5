"""Pure functions: results and annotations -> napari ``LayerDataTuple`` and back.

No napari import: every function returns ``(data, kwargs, layer_type)`` tuples
that napari turns into layers, or reads the plain arrays napari layers hold.
The (x, y) <-> (row, col) swap goes through :mod:`napari_cryopick.core.pick_table`.

Complements :mod:`napari_cryopick.layers.points` (micrograph and scored-pick layers)
with heatmaps, vesicle circles, fiber paths and the styled annotation layers
the Annotate widget edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core.fibers import median_width, path_score, picks_to_paths
from napari_cryopick.core.pick_table import (
    empty_picks,
    make_picks,
    napari_to_xy,
    normalize_picks,
    picks_to_napari,
)

LayerDataTuple = tuple[Any, dict[str, Any], str]

#: napari metadata key telling which cryopick role a layer plays.
ROLE_KEY = "cryopick_role"
#: Metadata key of the pick file a layer was read from (:func:`pick_file_layers`).
SOURCE_KEY = "cryopick_source"
#: napari metadata key of the Pick widget's shared result layers: what the layer shows
#: ("heatmap", "picks", "vesicles", "fibers"); ``"micrograph"`` says whose results.
SHOWS_KEY = "cryopick_shows"

#: Colours of the annotation layers per kind (border colour for particles). The
#: user's particle clicks are orange: picks are coloured by score (viridis, whose
#: top is yellow) and truth files light blue, so the three never look alike.
KIND_COLORS = {
    "particle": "#ff7f0e",
    "vesicle": "cyan",
    "fiber": "lime",
    "negative": "red",
}


def annotation_layer_name(micrograph: str, kind: str) -> str:
    """Name of the annotation layer of ``kind`` on ``micrograph``."""
    return f"{micrograph} {kind}"


def heatmap_layer(
    heatmap: np.ndarray,
    scale: float | Sequence[float],
    name: str = "heatmap",
    translate: Sequence[float] | None = None,
    *,
    micrograph: str = "",
) -> LayerDataTuple:
    """A detector heatmap as an image layer over its micrograph.

    Parameters
    ----------
    heatmap
        Array ``(rows, cols)`` of scores in [0, 1], one cell per ``scale``
        original pixels; ``(K, rows, cols)`` (one channel per object kind) is
        shown as the maximum over kinds.
    scale
        Original pixels per heatmap cell, one number or ``(sy, sx)``.
    name
        Layer name.
    translate
        Original-pixel position of the centre of cell ``(0, 0)``; default
        ``(scale - 1) / 2``, the centre of the block of pixels it covers.
    micrograph
        Name of the micrograph it belongs to (``metadata["micrograph"]``).

    Returns
    -------
    LayerDataTuple
        Image layer, colormap ``inferno``, additive blending, opacity 0.5.
    """
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim == 3:
        heatmap = heatmap.max(axis=0)
    sy, sx = (float(scale), float(scale)) if np.isscalar(scale) else map(float, scale)
    if translate is None:
        translate = ((sy - 1.0) / 2.0, (sx - 1.0) / 2.0)
    kwargs = {
        "name": name,
        "scale": (sy, sx),
        "translate": tuple(float(t) for t in translate),
        "colormap": "inferno",
        "blending": "additive",
        "opacity": 0.5,
        "contrast_limits": (0.0, 1.0),
        "metadata": {ROLE_KEY: "heatmap", "micrograph": micrograph},
    }
    return heatmap, kwargs, "image"


def _features(table: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "score": table["score"].to_numpy(float),
        "diameter": table["diameter"].to_numpy(float),
        "kind": table["kind"].astype(str).to_numpy(),
        "tube_id": table["tube_id"].to_numpy(int),
        "micrograph": table["micrograph"].astype(str).to_numpy(),
    }


def annotation_points_layer(
    table: pd.DataFrame,
    name: str,
    *,
    kind: str = "particle",
    diameter_px: float | None = None,
    micrograph: str = "",
) -> LayerDataTuple:
    """Points layer for hand annotations of particles or negatives.

    Particles are open circles the size of the particle diameter; negatives
    (carbon, ice, junk) are red crosses, so the two never look alike.

    Parameters
    ----------
    table
        Pick table of the annotated objects.
    name
        Layer name.
    kind
        ``"particle"`` or ``"negative"``.
    diameter_px
        Marker size for points without their own diameter (default 20).
    micrograph
        Micrograph name, stored in the layer metadata.
    """
    size = float(diameter_px) if diameter_px and np.isfinite(diameter_px) else 20.0
    table = table if len(table) else empty_picks()
    sizes = table["diameter"].to_numpy(float)
    sizes = np.where(np.isfinite(sizes), sizes, size) if len(sizes) else size
    if kind == "negative" and len(table):
        # the particle diameter the cross marks an area of (File > Save Selected Layers
        # wrote the cross's half size as the diameter); new clicks take it too
        table = table.assign(diameter=sizes)
    kwargs: dict[str, Any] = {
        "name": name,
        "size": sizes,
        "features": _features(table),
        "feature_defaults": {
            "score": np.nan,
            "diameter": size,
            "kind": kind,
            "tube_id": 0,
            "micrograph": micrograph,
        },
        "metadata": {ROLE_KEY: "annotation", "kind": kind, "micrograph": micrograph},
    }
    if kind == "negative":
        kwargs.update(symbol="cross", face_color="red", border_color="red", border_width=0.0)
        kwargs["size"] = np.asarray(sizes) * 0.5 if np.ndim(sizes) else size * 0.5
    else:
        kwargs.update(
            symbol="o",
            face_color="transparent",
            border_color=KIND_COLORS.get(kind, "yellow"),
            border_width=0.08,
        )
    return picks_to_napari(table), kwargs, "points"


def vesicles_layer(
    table: pd.DataFrame, name: str = "vesicles", *, micrograph: str = "", role: str = "result"
) -> LayerDataTuple:
    """Circles (shapes ellipses with their own radius) for vesicles.

    Parameters
    ----------
    table
        Pick table; ``diameter`` gives each circle its size (NaN -> 20 px).
    name
        Layer name.
    micrograph
        Micrograph name, stored in the layer metadata.
    role
        ``"result"`` (picked) or ``"annotation"`` (hand-made, editable).
    """
    centres = picks_to_napari(table)  # (N, 2) row, col
    diameters = table["diameter"].to_numpy(float) if len(table) else np.zeros(0)
    radii = np.where(np.isfinite(diameters), diameters, 20.0) / 2.0
    shapes = [
        np.array(
            [
                [row - r, col - r],
                [row - r, col + r],
                [row + r, col + r],
                [row + r, col - r],
            ]
        )
        for (row, col), r in zip(centres, radii)
    ]
    scores = table["score"].to_numpy(float) if len(table) else np.zeros(0)
    if role == "result" and len(scores):
        # the network's circles coloured by score as its picks are (viridis; white: drawn
        # by hand), apart from the user's cyan ones (a GUI trial saw double cyan rings)
        from napari_cryopick.layers.points import score_colours

        edge_color: Any = score_colours(scores)
    else:
        edge_color = KIND_COLORS["vesicle"]
    kwargs = {
        "name": name,
        "shape_type": "ellipse",
        "edge_color": edge_color,
        "face_color": "transparent",
        # wide enough to be seen on a whole large micrograph (2 px vanished on 2217 px)
        "edge_width": _circle_edge_width(2.0 * radii),
        "features": {"score": table["score"].to_numpy(float) if len(table) else np.zeros(0)},
        "metadata": {ROLE_KEY: role, "kind": "vesicle", "micrograph": micrograph},
    }
    return shapes, kwargs, "shapes"


def _circle_edge_width(diameters: np.ndarray) -> Any:
    """Edge width of circles: a thirtieth of the mean diameter, 2 to 12 px."""
    if not len(diameters):
        return 2
    return float(np.clip(np.mean(diameters) / 30.0, 2.0, 12.0))


def shapes_to_vesicles(
    data: Sequence[np.ndarray], micrograph: str = "", scores: Sequence[float] | None = None
) -> pd.DataFrame:
    """Ellipses of a shapes layer (corner vertices, row/col) -> vesicle pick table.

    An ellipse is its four box corners, in order around the box: the centre is
    their mean, the diameter the mean of the box's two sides, so an ellipse
    rotated with napari's rotation handle keeps its size (its bounding box,
    used before, made a circle turned by 45 degrees 1.41 times larger). Other
    vertex lists: the middle and mean side of their bounding box. ``scores``:
    one per shape (the layer's ``score`` feature; NaN for circles drawn by
    hand), else no scores.
    """
    xs, ys, diameters, kept = [], [], [], []
    for i, vertices in enumerate(data):
        x, y = napari_to_xy(np.asarray(vertices))
        if x.size == 0:
            continue
        if x.size == 4:
            corners = np.column_stack([x, y])
            sides = np.linalg.norm(np.diff(corners[:3], axis=0), axis=1)
            xs.append(float(x.mean()))
            ys.append(float(y.mean()))
            diameters.append(float(sides.mean()))
        else:
            xs.append((x.min() + x.max()) / 2.0)
            ys.append((y.min() + y.max()) / 2.0)
            diameters.append(((x.max() - x.min()) + (y.max() - y.min())) / 2.0)
        kept.append(i)
    score = None
    if scores is not None and len(scores) == len(data):
        score = np.asarray(scores, dtype=float)[kept]
    return make_picks(
        xs, ys, diameter=diameters, score=score, micrograph=micrograph, kind="vesicle"
    )


def fibers_layer(
    paths: Sequence[np.ndarray],
    name: str = "fibers",
    *,
    micrograph: str = "",
    role: str = "result",
    scores: Sequence[float] | None = None,
    width_px: float | None = None,
) -> LayerDataTuple:
    """Traced fibers as shapes paths.

    Parameters
    ----------
    paths
        One ``(N, 2)`` array of ``(x, y)`` points per fiber.
    name
        Layer name.
    micrograph
        Micrograph name, stored in the layer metadata.
    role
        ``"result"`` or ``"annotation"``.
    scores
        One score per fiber (the ``score`` feature; NaN: none), or None.
    width_px
        Fiber width, kept in the metadata (``"diameter"``) for the layer's writers
        (File > Save Selected Layers), or None.
    """
    shapes = []
    for path in paths:
        path = np.asarray(path, dtype=float).reshape(-1, 2)
        shapes.append(picks_to_napari(make_picks(path[:, 0], path[:, 1])))
    kwargs = {
        "name": name,
        "shape_type": "path",
        "edge_color": KIND_COLORS["fiber"],
        "edge_width": 3,
        "metadata": {ROLE_KEY: role, "kind": "fiber", "micrograph": micrograph},
    }
    if width_px is not None and np.isfinite(width_px) and width_px > 0:
        kwargs["metadata"]["diameter"] = float(width_px)
    if scores is not None:
        if len(scores) != len(shapes):
            raise ValueError(f"{len(shapes)} fibers but {len(scores)} scores")
        kwargs["features"] = {"score": np.asarray(scores, dtype=float).reshape(-1)}
        if role == "result" and len(shapes):
            # the network's paths coloured by score, as its picks and circles are (white:
            # drawn by hand), apart from the user's lime ones (a GUI trial could not tell
            # a deleted traced path from a drawn one)
            from napari_cryopick.layers.points import score_colours

            kwargs["edge_color"] = score_colours(kwargs["features"]["score"])
    return shapes, kwargs, "shapes"


def shapes_to_paths(data: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Paths of a shapes layer (row/col vertices) -> list of ``(N, 2)`` (x, y) arrays."""
    out = []
    for vertices in data:
        x, y = napari_to_xy(np.asarray(vertices))
        out.append(np.column_stack([x, y]).reshape(-1, 2))
    return out


def pick_file_layers(
    table: pd.DataFrame,
    micrograph: str,
    source: str | None = None,
    *,
    default_diameter: float | None = None,
) -> list[LayerDataTuple]:
    """The layers a pick table of one micrograph is shown as, one per look.

    ``source``: the file the table was read from; the layers are then named
    ``"<micrograph> picks from <source>"`` (and so on), never the names of the
    Pick widget's result layers: a trial's opened truth file took
    ``"<micrograph> picks"`` and the results became ``"... picks [1]"``;
    their metadata ``SOURCE_KEY`` holds it.

    Vesicles become circles (:func:`vesicles_layer`, ``"<micrograph>
    vesicles"``) and fibers with a ``tube_id`` paths (:func:`fibers_layer`,
    ``"<micrograph> fibers"``), as the Pick widget shows its vesicle and
    fiber results (same names, colours and metadata); every other pick
    (particles, negatives, fiber points without a tube) stays a points layer
    (:func:`napari_cryopick.layers.points.picks_layer`, ``"<micrograph>
    picks"``), which is also what an empty table gives; ``default_diameter``
    (the micrograph's, when known) is that layer's size and diameter of picks
    without one.
    """
    from napari_cryopick.layers.points import picks_layer

    tail = f" from {source}" if source else ""
    kinds = table["kind"].astype(str)
    vesicles = kinds == "vesicle"
    traced = (kinds == "fiber") & (table["tube_id"] > 0)
    rest = table[~(vesicles | traced)]
    layers = []
    if len(rest) or not (vesicles.any() or traced.any()):
        layers.append(
            picks_layer(rest, f"{micrograph} picks{tail}", default_diameter=default_diameter)
        )
    if vesicles.any():
        circles = table[vesicles].reset_index(drop=True)
        layers.append(
            vesicles_layer(circles, f"{micrograph} vesicles{tail}", micrograph=micrograph)
        )
    if traced.any():
        paths = picks_to_paths(table[traced])
        width = median_width(table[traced])
        # each path's score as the Pick widget gives it (its vertices' best; NaN: none),
        # so the colours are the Pick widget's too
        scores = [
            path_score(group["score"])
            for _, group in normalize_picks(table[traced]).groupby(
                ["micrograph", "tube_id"], sort=True
            )
        ]
        layers.append(
            fibers_layer(
                paths,
                f"{micrograph} fibers{tail}",
                micrograph=micrograph,
                width_px=width,
                scores=scores,
            )
        )
    if source:
        for _data, kwargs, _type in layers:  # the Evaluate widget's likelier truth
            kwargs.setdefault("metadata", {})[SOURCE_KEY] = source
    return layers
