"""Pick widget: run the detector, filter by threshold live, export, correct and retrain.

The network runs once per micrograph in a napari worker and keeps every
candidate down to the score floor. One set of result layers serves every
micrograph (napari needs 0.15-0.3 s to create and first draw a layer on a slow
machine; filling one takes tens of milliseconds): ``"<micrograph> heatmap"``,
``"<micrograph> picks"``, ``"<micrograph> vesicles"`` (circles) and
``"<micrograph> fibers"`` (paths), renamed after the micrograph they show,
which follows the one the user works on (:func:`follow_micrographs`). The
session keeps each micrograph's candidates with the user's corrections
(``SessionState.pick_results``; the displayed one's are stored from its layer
before the layers switch). The points layer holds every candidate and the
threshold slider only changes which are shown (``layer.shown``): the same
layer object, instant, and the picks the user added, deleted or moved stay as
they are; a result layer the user deleted is not brought back by the slider,
and the results of a closed micrograph leave the session.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from napari_cryopick.core.pick_table import empty_picks
from napari_cryopick.core.progress import drive
from napari_cryopick.io.pickfiles import FORMATS as PICK_FORMATS
from napari_cryopick.layers.results import (
    ROLE_KEY,
    SHOWS_KEY,
    fibers_layer,
    heatmap_layer,
    shapes_to_vesicles,
    vesicles_layer,
)

from ._common import (
    BUNDLED_ORIGIN,
    JobProgress,
    StepQueue,
    _update_layer,
    bundled_model,
    cancellable,
    clash_message,
    connect_while_alive,
    current_micrograph_layer,
    distinct_micrographs,
    is_micrograph_layer,
    layer_path,
    layer_type,
    listen_to_model,
    micrograph_dataset,
    micrograph_diameter,
    micrograph_layers,
    micrograph_name,
    scroll_layout,
    session,
    session_micrographs,
    set_micrograph_settings,
    short_error,
    show_only_micrograph,
    unproxy,
)

_MANUAL_COLOUR = np.array([1.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class ShownResult:
    """What the layers of one picked micrograph are made from.

    ``picks`` holds every candidate down to the score floor (all kinds; fiber
    candidates untraced), so any threshold can be shown without the network.
    """

    picks: pd.DataFrame
    heatmap: np.ndarray | None
    heatmap_scale: tuple[float, float] = (1.0, 1.0)
    heatmap_translate: tuple[float, float] = (0.0, 0.0)
    link_radius_px: float | None = None
    threshold: float = field(default_factory=lambda: default_pick_config().threshold)
    #: Positions (x, y; float32, 8 bytes a candidate, so a folder of thousands stays
    #: small) of the particle candidates as the picking (or the loaded file) gave them,
    #: before the user's corrections: a candidate missing from the corrected picks
    #: was deleted by the user (:func:`deleted_picks`). None: not known.
    original: np.ndarray | None = None
    #: Fiber width in pixels the micrograph was picked at (``MicrographPicks.diameter_px``,
    #: the width ``cryopick pick`` writes fibers with); None: the fibers' median diameter.
    fiber_width_px: float | None = None
    #: Kinds whose shapes the user edited (``"vesicle"`` circles deleted, moved,
    #: resized or drawn; ``"fiber"`` paths deleted, reshaped or drawn) and not yet
    #: used as training labels: a new result would lose them (:func:`has_corrections`).
    edited: frozenset[str] = frozenset()
    #: Negatives (x, y) the user marked on the micrograph when the result was shown
    #: (:func:`_without_negatives`): a traced fiber path passing within half its width
    #: of one is not shown. None: none (or a file loaded, shown as it is).
    negatives: np.ndarray | None = None
    #: Centres (x, y) of the network's circles, and middle vertices of its paths, that
    #: the user deleted since the last "Use as training labels" (which makes them
    #: negatives, as it does deleted particle picks).
    deleted_shapes: tuple[tuple[float, float], ...] = ()
    #: Fibers as shown at a threshold, ``{threshold: (paths, scores, rows)}``
    #: (:func:`_shown_fibers`): tracing again only at a threshold not seen yet.
    #: A new result (``dataclasses.replace``) starts with an empty one.
    traced: dict = field(default_factory=dict, init=False, repr=False, compare=False)


def default_pick_config() -> Any:
    """Core ``PickConfig()``: the defaults of ``cryopick pick``, also the widget's."""
    from napari_cryopick.core.detect import PickConfig

    return PickConfig()


def as_shown(result: Any) -> ShownResult:
    """A ``ShownResult`` of a workflow ``MicrographPicks`` or a core ``PickResult``."""
    from napari_cryopick.core.fibers import default_link_radius

    if isinstance(result, ShownResult):
        return result
    if hasattr(result, "candidates") and hasattr(result, "result"):  # MicrographPicks
        inner = result.result
        link = getattr(inner, "link_radius_px", None) or default_link_radius(result.shape[1])
        return ShownResult(
            result.candidates,
            inner.heatmap,
            tuple(inner.heatmap_scale),
            tuple(inner.heatmap_translate),
            float(link),
            float(result.threshold),
            fiber_width_px=float(result.diameter_px),
        )
    width = float(result.prepared_shape[1]) / float(result.prepared_scale[1])
    return ShownResult(
        result.picks,
        result.heatmap,
        tuple(result.heatmap_scale),
        tuple(result.heatmap_translate),
        float(default_link_radius(width)),
        float(result.threshold),
    )


def shared_layer(viewer: Any, what: str = "picks") -> Any | None:
    """The viewer's one result layer showing ``what`` (heatmap, picks, vesicles, fibers)."""
    for layer in viewer.layers:
        if layer.metadata.get(SHOWS_KEY) == what:
            return layer
    return None


def result_layer(viewer: Any, micrograph: str, what: str = "picks") -> Any | None:
    """The result layer showing ``what`` when it shows ``micrograph`` now (else None).

    One set of result layers serves every micrograph (:func:`displaying`):
    the layer exists for ``micrograph`` only while that micrograph is the
    one displayed and the user has not deleted the layer.
    """
    layer = shared_layer(viewer, what)
    if layer is None or layer.metadata.get("micrograph") != micrograph:
        return None
    return layer


def _hand_added_rows(event: Any) -> np.ndarray | None:
    """Rows a data event of a points or shapes layer says the user added by hand, or None.

    napari reports an addition with negative indices (from the end); the data
    setter reports every index, which is not an addition by hand.
    """
    if str(getattr(event, "action", "")) != "added":
        return None
    indices = np.asarray(getattr(event, "data_indices", ()) or (), dtype=np.int64)
    if not indices.size or (indices >= 0).any():
        return None
    return np.unique(indices % len(event.source.data))


def _mark_added_picks(event: Any) -> None:
    """Points the user adds by hand have no network score: NaN, drawn white.

    napari gives an added point the features of the last selected point (its
    score too); without this a hand-added pick would be written to STAR files
    with a score it never had, or, selected on another micrograph shown
    before, with that micrograph's name.
    """
    rows = _hand_added_rows(event)
    if rows is None:
        return
    layer = event.source
    n = len(layer.data)
    features = layer.features
    if "score" in features.columns:
        features.loc[rows, "score"] = np.nan
    if "micrograph" in features.columns:  # not the selected point's: the one displayed
        features.loc[rows, "micrograph"] = layer.metadata.get("micrograph") or ""
    # the size of the micrograph's picks, not napari's 10 px default nor a copy of
    # the selected pick's predicted size (a trial exported 56.091 for a 56 px click)
    diameter, size = _added_pick_diameter(layer, rows)
    if "diameter" in features.columns:  # unknown when the others' are (a Topaz file)
        features.loc[rows, "diameter"] = np.nan if diameter is None else diameter
    sizes = np.array(layer.size, dtype=float).reshape(-1)
    if size is not None and len(sizes) == n:
        sizes[rows] = size
        layer.size = sizes
    colours = np.array(layer.border_color, dtype=float)
    if len(colours) == n:
        colours[rows] = _MANUAL_COLOUR
        layer.border_color = colours


def _added_pick_diameter(layer: Any, rows: np.ndarray) -> tuple[float | None, float | None]:
    """``(diameter, size)`` of a pick added by hand: the median of the other picks'
    known diameters (a tenth of a pixel; None when none is known, as in a Topaz
    file), and the size it is drawn at: that diameter, else the other picks'
    median drawn size (None: no other pick)."""
    others = np.ones(len(layer.data), dtype=bool)
    others[rows] = False
    features = layer.features
    known = np.zeros(0)
    if "diameter" in features.columns and len(features) == len(others):
        known = features["diameter"].to_numpy(np.float64)[others]
        known = known[np.isfinite(known) & (known > 0)]
    diameter = round(float(np.median(known)), 1) if known.size else None
    if diameter is not None:
        return diameter, diameter
    sizes = np.array(layer.size, dtype=float).reshape(-1)
    drawn = sizes[others] if len(sizes) == len(others) else np.zeros(0)
    drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
    return None, (float(np.median(drawn)) if drawn.size else None)


def _shown_mask(
    table: pd.DataFrame,
    threshold: float,
    diameters: tuple[float | None, float | None] = (None, None),
) -> np.ndarray:
    """Points shown: scoring ``threshold`` or more, diameter in range, and every hand-added one.

    The filter of ``cryopick filter`` (core ``pick_table.filter_mask``); picks
    without a score (added by hand) always show. A size range on picks that
    have no diameters is not applied (the Pick widget says so).
    """
    from napari_cryopick.core.pick_table import filter_mask

    low, high = diameters
    try:
        return filter_mask(
            table, threshold=threshold, min_diameter=low, max_diameter=high, keep_unscored=True
        )
    except ValueError:  # no diameters to filter: the threshold alone
        return filter_mask(table, threshold=threshold, keep_unscored=True)


def _has_diameters(table: pd.DataFrame) -> bool:
    scored = np.isfinite(table["score"].to_numpy(float))
    return bool(np.isfinite(table["diameter"].to_numpy(float)[scored]).any())


def _particle_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    return candidates[~candidates["kind"].isin(["vesicle", "fiber"])].reset_index(drop=True)


def _put(viewer: Any, what: str, micrograph: str, layer_data: tuple, create: bool) -> tuple:
    """Fill the shared layer showing ``what`` with ``layer_data`` for ``micrograph``.

    The layer is updated in place (renamed ``"<micrograph> <what>"``); a
    missing one is added, hidden, when ``create`` (its first draw is a later
    turn's work, :func:`_reveal`), without taking the layer selection from
    the user (clicks keep going to the annotation layer they chose). Returns
    ``(layer or None, new)``.
    """
    data, kwargs, type_name = layer_data
    name = f"{micrograph} {what}" if micrograph else f"cryopick {what}"
    kwargs = {
        **kwargs,
        "name": name,
        "metadata": {**kwargs.get("metadata", {}), SHOWS_KEY: what, "micrograph": micrograph},
    }
    layer = shared_layer(viewer, what)
    if layer is not None and layer_type(layer) == type_name:
        _update_layer(layer, data, dict(kwargs))
        if layer.name != name:
            layer.name = name
        return layer, False
    if layer is not None:
        viewer.layers.remove(layer)
    if not create:
        return None, False
    active = viewer.layers.selection.active
    layer = getattr(viewer, f"add_{type_name}")(data, **{**kwargs, "visible": False})
    of = _micrograph_of(active) if active is not None else None
    if of and micrograph and of != micrograph:
        from .annotate import find_micrograph_layer

        mine, theirs = find_micrograph_layer(viewer, micrograph), find_micrograph_layer(viewer, of)
        if mine is not None and mine.visible and (theirs is None or not theirs.visible):
            # the selection is still on the micrograph being left, already hidden (a
            # widget brings this one to the front, then selects its layer): given back
            # to it, it took the display back with it (a trial's choice in Annotate's
            # box snapped back)
            active = mine
    if active is not None and active in viewer.layers:
        viewer.layers.selection.active = active
    return layer, True


def _reveal(viewer: Any, layer: Any) -> None:
    """Show a result layer added hidden (unless the user removed it meanwhile)."""
    if layer.name in viewer.layers and unproxy(viewer.layers[layer.name]) is unproxy(layer):
        layer.visible = True


def _empty_heatmap(layer: Any = None) -> tuple:
    """An all-zero heatmap; of ``layer``'s shape and scale when given (cheaper to update)."""
    if layer is None or layer_type(layer) != "image" or np.ndim(layer.data) != 2:
        return heatmap_layer(np.zeros((1, 1), np.float32), 1.0, translate=(0.0, 0.0))
    zeros = np.zeros(np.shape(layer.data), np.float32)
    return heatmap_layer(zeros, tuple(layer.scale), translate=tuple(layer.translate))


def _shown_vesicles(viewer: Any, candidates: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The vesicle candidates shown: at ``threshold`` or more (or drawn by hand, no
    score), in the session's size range; the index is their rows in ``candidates``."""
    from napari_cryopick.core.pick_table import filter_mask

    vesicles = candidates[candidates["kind"] == "vesicle"]
    if not len(vesicles):
        return vesicles
    keep = filter_mask(vesicles, threshold=threshold, keep_unscored=True)
    low, high = session(viewer).display_diameter
    if (low is not None or high is not None) and _has_diameters(vesicles):
        keep &= filter_mask(vesicles, min_diameter=low, max_diameter=high)
    return vesicles[keep]


#: The shapes layers the user edits: what a layer shows -> the kind of its objects.
_SHAPE_KINDS = {"vesicles": "vesicle", "fibers": "fiber"}


def _mark_added_shapes(event: Any) -> None:
    """Circles and paths the user draws have no network score (napari copies the selected one's)."""
    rows = _hand_added_rows(event)
    features = event.source.features
    if rows is not None and "score" in features.columns and len(features) == len(event.source.data):
        features.loc[rows, "score"] = np.nan


def _fiber_width(fibers: pd.DataFrame, result: ShownResult | None = None) -> float | None:
    """The fiber width: the one ``result`` was picked at, else the median diameter of
    ``fibers`` (picks); None where unknown."""
    if result is not None and result.fiber_width_px:
        return float(result.fiber_width_px)
    diameters = fibers["diameter"].to_numpy(float)
    return float(np.nanmedian(diameters)) if np.isfinite(diameters).any() else None


def _fiber_table(paths: list, scores: Any, micrograph: str, width: float | None) -> pd.DataFrame:
    """Fiber paths as a pick table: their vertices, one ``tube_id`` per path (1, 2, ...),
    the path's score on each of its vertices (NaN: none)."""
    from napari_cryopick.core.fibers import paths_to_picks

    table = paths_to_picks(paths, micrograph=micrograph, diameter=width)
    if len(table) and scores is not None and len(scores) == len(paths):
        table["score"] = np.asarray(scores, dtype=float)[table["tube_id"].to_numpy() - 1]
    return table


@dataclass(frozen=True)
class _Fill:
    """What a circles or paths result layer was last filled with (not in its metadata:
    napari and File > Save see that; a table there is neither small nor comparable)."""

    table: pd.DataFrame | None = None  # the shapes as a pick table (:func:`_shapes_table`)
    width: float | None = None  # the fiber width of the paths


#: Result layer (unproxied) -> its :class:`_Fill`; a layer deleted leaves.
_FILLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _filled(layer: Any) -> _Fill:
    return _FILLS.get(unproxy(layer)) or _Fill()


def _shapes_table(layer: Any, micrograph: str) -> pd.DataFrame:
    """The circles or paths of a vesicles or fibers result layer as a pick table.

    A circle is a vesicle (centre, diameter); a path is a fiber (its vertices,
    one ``tube_id`` per path, the layer's fiber width as diameter). Scores
    come from the layer's ``score`` feature (NaN: drawn by hand).
    """
    from napari_cryopick.layers.results import shapes_to_paths

    features = layer.features
    scores = None
    if "score" in features.columns and len(features) == len(layer.data):
        scores = features["score"].to_numpy(float)
    if layer.metadata.get(SHOWS_KEY) == "vesicles":
        return shapes_to_vesicles(layer.data, micrograph=micrograph, scores=scores)
    paths = shapes_to_paths(layer.data)
    return _fiber_table(paths, scores, micrograph, _filled(layer).width)


def _shapes_differ(filled: pd.DataFrame | None, now: pd.DataFrame) -> bool:
    """Whether a layer's circles or paths differ from those it was filled with (by 0.5 px).

    Deleted, drawn, moved, resized or reshaped. Not known (None): no.
    """
    if filled is None:
        return False
    if len(filled) != len(now):
        return True
    if not np.array_equal(filled["tube_id"].to_numpy(), now["tube_id"].to_numpy()):
        return True
    before = filled[["x", "y", "diameter"]].to_numpy(float)
    after = now[["x", "y", "diameter"]].to_numpy(float)
    return not np.allclose(before, after, atol=0.5, equal_nan=True)


def _shapes_edited(layer: Any, micrograph: str) -> bool:
    """Whether the user changed a circles or paths layer since it was filled."""
    if layer is None or "rows" not in layer.metadata:
        return False
    return _shapes_differ(_filled(layer).table, _shapes_table(layer, micrograph))


def _appended(table: pd.DataFrame, added: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """``table`` with ``added`` after it; returns the new table and the rows of ``added``.

    The rows of ``table`` keep their index labels (a result layer's
    ``metadata["rows"]`` names stored rows by them); ``added`` is numbered on.
    """
    start = int(table.index.max()) + 1 if len(table) else 0
    rows = list(range(start, start + len(added)))
    added = added.set_axis(pd.RangeIndex(start, start + len(added)), axis=0)
    parts = [t for t in (table, added) if len(t)]
    return (pd.concat(parts) if parts else empty_picks()), rows


def _store_shape_edits(viewer: Any, micrograph: str) -> None:
    """Keep the user's edits of ``micrograph``'s circles and paths in the session's store.

    A circles (paths) layer shows the stored rows ``metadata["rows"]`` as it
    was filled (:func:`_filled`). When the user changed it (deleted,
    moved, resized, reshaped or drew a shape), those rows become the shapes as
    the user left them, with their scores (NaN: drawn by hand), and the kind
    counts as edited (:func:`has_corrections`). A paths layer's rows are the
    traced tubes it shows and every untraced fiber candidate: once edited, the
    micrograph's fibers are its paths as edited, hidden by the threshold when
    they score below it, never traced again (picking again traces anew).
    Re-thresholding, switching micrograph, the review table, exporting and
    "Use as training labels" then start from the corrected store, as they do
    for points.
    """
    state = session(viewer)
    for what, kind in _SHAPE_KINDS.items():
        stored = state.pick_results.get(micrograph)
        layer = result_layer(viewer, micrograph, what)
        if stored is None or layer is None or "rows" not in layer.metadata:
            continue
        now = _shapes_table(layer, micrograph)
        if not _shapes_differ(_filled(layer).table, now):
            continue
        picks = stored.picks
        kept = picks[~picks.index.isin(layer.metadata["rows"])]
        added = now
        if kind == "fiber" and len(now):  # numbered after the tubes kept (hidden ones)
            tubes = kept.loc[kept["kind"] == "fiber", "tube_id"]
            added = now.assign(
                tube_id=now["tube_id"] + (max(int(tubes.max()), 0) if len(tubes) else 0)
            )
        table, rows = _appended(kept, added)
        gone = _deleted_shapes(kind, _filled(layer).table, now)
        state.pick_results[micrograph] = replace(
            stored,
            picks=table,
            edited=stored.edited | {kind},
            deleted_shapes=stored.deleted_shapes + gone,
        )
        layer.metadata["rows"] = rows
        _FILLS[unproxy(layer)] = replace(_filled(layer), table=now)


def _deleted_shapes(
    kind: str, before: pd.DataFrame | None, now: pd.DataFrame
) -> tuple[tuple[float, float], ...]:
    """Where the network's circles (paths) of ``before`` that ``now`` lacks were.

    A circle is the same one moved or resized when a circle of ``now`` of a
    similar size (within 25 %) is centred within a quarter of its diameter;
    a path is the same one reshaped when it runs along a path of ``now`` for
    half its length or more (within half its width, core ``path_coverage``).
    Otherwise it was deleted: its centre, or the point of the path farthest
    from the paths left (a trial deleted one of two crossing fibers: its middle
    vertex was the crossing, and the deletion was not seen). Shapes drawn by
    hand (no score) are not the network's: not counted.
    """
    if before is None or not len(before):
        return ()
    scored = before[before["score"].notna()]
    gone: list[tuple[float, float]] = []
    if kind == "vesicle":
        sizes = now["diameter"].to_numpy(float)
        for row in scored.itertuples():
            size = float(row.diameter) if np.isfinite(row.diameter) else 0.0
            near = np.hypot(now["x"].to_numpy(float) - row.x, now["y"].to_numpy(float) - row.y)
            similar = np.abs(sizes - size) <= 0.25 * size if size > 0 else np.ones(len(now), bool)
            if not ((near <= max(0.25 * size, 1.0)) & similar).any():
                gone.append((float(row.x), float(row.y)))
        return tuple(gone)
    from scipy.spatial import cKDTree

    from napari_cryopick.core.fibers import path_coverage, resample_path

    from .annotate import SAME_FIBER_COVERAGE

    paths = [t[["x", "y"]].to_numpy(float) for _, t in now.groupby("tube_id", sort=False)]
    for _tube, path in scored.groupby("tube_id", sort=False):
        points = path[["x", "y"]].to_numpy(float)
        width = float(path["diameter"].median()) if path["diameter"].notna().any() else 0.0
        tolerance = max(0.5 * width, 1.0)
        if paths and path_coverage(points, paths, tolerance) >= SAME_FIBER_COVERAGE:
            continue  # reshaped, not deleted
        spot = points[len(points) // 2]
        if paths and len(points) > 1:
            # the point nearest its middle that is clear of the paths left (a negative
            # there must not hide them), else the farthest from them
            dense = resample_path(points, 1.0)
            left = cKDTree(np.vstack(paths)).query(dense)[0]
            clear = np.flatnonzero(left > 3.0 * tolerance)
            middle = len(dense) // 2
            best = clear[np.argmin(np.abs(clear - middle))] if len(clear) else np.argmax(left)
            spot = dense[int(best)]
        gone.append((float(spot[0]), float(spot[1])))
    return tuple(gone)


def _traced_key(threshold: float) -> float:
    return round(float(threshold), 6)


def _counts_without_tracing(
    viewer: Any, micrograph: str, threshold: float, particles: int
) -> dict[str, int] | None:
    """The objects of ``micrograph`` shown at ``threshold``, when counting them traces nothing.

    ``particles`` are the picks shown (:func:`apply_display_threshold`).
    Fibers are counted from the paths layer when it shows the micrograph, or
    from the store when its fibers are tubes only (loaded, edited) or were
    traced at this threshold before; None when they would be traced (0.1-0.7 s
    a micrograph: the review table counts them, :meth:`PickWidget._schedule_review`).
    """
    result = session(viewer).pick_results.get(micrograph)
    if result is None:
        return None
    vesicles = len(_shown_vesicles(viewer, result.picks, threshold))
    layer = result_layer(viewer, micrograph, "fibers")
    if layer is not None:
        fibers = len(layer.data)
    else:
        rows = result.picks[result.picks["kind"] == "fiber"]
        untraced = bool((rows["tube_id"] <= 0).any())
        if untraced and _traced_key(threshold) not in result.traced:
            return None
        fibers = len(_shown_fibers(result, threshold)[0]) if len(rows) else 0
    return {"picks": int(particles), "vesicles": vesicles, "fibers": fibers}


def _shown_fibers(result: ShownResult, threshold: float) -> tuple[list, list, list]:
    """The fiber paths of ``result`` shown at ``threshold``, their scores and stored rows.

    Rows with a ``tube_id`` (a loaded RELION helical STAR or crYOLO filament
    file, or paths the user edited) are paths as they are, shown when
    unscored or any vertex scores ``threshold`` or more, each with its best
    vertex score; candidates without one (a picking's result) are traced at
    ``threshold``, each path with the mean score of its candidates (as
    ``cryopick pick`` traces them). The rows are those of the tubes shown and
    every candidate's. Kept in ``result.traced``: a threshold seen before (the
    review table, the status, an export) is not traced again.
    """
    key = _traced_key(threshold)
    cached = result.traced.get(key)
    if cached is not None:
        return cached
    from napari_cryopick.core.pick_table import filter_mask

    picks = result.picks
    fibers = picks[picks["kind"] == "fiber"]
    paths: list = []
    scores: list[float] = []
    rows: list[int] = []
    traced = fibers[fibers["tube_id"] > 0]
    for _tube, tube in traced.groupby("tube_id", sort=True):
        if filter_mask(tube, threshold=threshold, keep_unscored=True).any():
            paths.append(tube[["x", "y"]].to_numpy(np.float64))
            vertex = tube["score"].to_numpy(float)
            scores.append(float(np.nanmax(vertex)) if np.isfinite(vertex).any() else np.nan)
            rows += [int(i) for i in tube.index]
    candidates = fibers[fibers["tube_id"] <= 0]
    if len(candidates):
        from napari_cryopick.core.fibers import default_link_radius
        from napari_cryopick.core.object_kinds import trace_fiber_candidates

        found, found_picks = trace_fiber_candidates(
            candidates,
            threshold=threshold,
            link_radius_px=result.link_radius_px or default_link_radius(1024),
        )
        path_scores = np.full(len(found), np.nan)
        for tube, group in found_picks.groupby("tube_id"):
            path_scores[int(tube) - 1] = float(group["score"].iloc[0])
        if result.negatives is not None and len(result.negatives) and found:
            # a path the user marked as junk somewhere along it stays away as a whole
            width = result.fiber_width_px or _fiber_width(candidates) or 0.0
            keep = ~_paths_near(found, result.negatives, 0.5 * width)
            found = [path for path, kept in zip(found, keep, strict=True) if kept]
            path_scores = path_scores[keep]
        paths += list(found)
        scores += path_scores.tolist()
        rows += [int(i) for i in candidates.index]
    if len(result.traced) >= 8:  # a slider dragged over many values: keep a few
        result.traced.clear()
    result.traced[key] = (paths, scores, rows)
    return paths, scores, rows


def _put_shapes(
    viewer: Any,
    what: str,
    micrograph: str,
    layer_data: tuple,
    create: bool,
    width: float | None = None,
) -> None:
    """:func:`_put` for circles and paths; records what the layer was filled with
    (:func:`_filled`; ``width``: the fiber width of paths)."""
    layer, new = _put(viewer, what, micrograph, layer_data, create)
    if new:
        layer.events.data.connect(_mark_added_shapes)
    if layer is not None:
        _FILLS[unproxy(layer)] = _Fill(width=width)  # the paths' width first: read below
        _FILLS[unproxy(layer)] = _Fill(_shapes_table(layer, micrograph), width)


def _show_shapes(
    viewer: Any, micrograph: str, result: ShownResult | None, threshold: float, add: bool
) -> None:
    """Vesicle circles and traced fibers above ``threshold`` in their shared layers.

    A micrograph without vesicles (fibers) empties the circles (paths) layer,
    which then shows none of another micrograph's; the layer is created only
    when ``add`` and there is something to show.
    """
    picks = result.picks if result is not None else empty_picks()
    vesicles = _shown_vesicles(viewer, picks, threshold)
    if len(vesicles) or shared_layer(viewer, "vesicles") is not None:
        data, kwargs, type_name = vesicles_layer(vesicles, "vesicles", micrograph=micrograph)
        kwargs["metadata"] = {**kwargs["metadata"], "rows": [int(i) for i in vesicles.index]}
        _put_shapes(viewer, "vesicles", micrograph, (data, kwargs, type_name),
                    add and len(vesicles) > 0)  # fmt: skip
    fibers = picks[picks["kind"] == "fiber"]
    if len(fibers) or shared_layer(viewer, "fibers") is not None:
        paths, scores, rows = _shown_fibers(result, threshold) if len(fibers) else ([], [], [])
        data, kwargs, type_name = fibers_layer(
            paths, "fibers", micrograph=micrograph, scores=scores
        )
        width = _fiber_width(fibers, result)
        kwargs["metadata"] = {**kwargs["metadata"], "rows": rows}
        _put_shapes(viewer, "fibers", micrograph, (data, kwargs, type_name),
                    add and len(fibers) > 0, width)  # fmt: skip


def _threshold_of(viewer: Any, shown: ShownResult | None, threshold: float | None) -> float:
    if threshold is None:
        threshold = session(viewer).display_threshold
    if threshold is None:
        threshold = shown.threshold if shown is not None else default_pick_config().threshold
    return float(threshold)


def _filling(
    viewer: Any, micrograph: str, threshold: float | None = None, create: bool = False
) -> Iterator[None]:
    """Fill the shared result layers with ``micrograph``'s stored result, one layer per turn.

    Heatmap, then the points (every particle candidate; ``layer.shown`` those
    at ``threshold`` and in the size range), then circles and paths. A
    micrograph without a result empties them. Missing layers are created
    only when ``create`` (a new result arrives), each added hidden on one
    turn and shown on the next.
    """
    from napari_cryopick.layers.points import picks_layer

    state = session(viewer)
    shown = state.pick_results.get(micrograph)
    threshold = _threshold_of(viewer, shown, threshold)
    if shown is not None and shown.heatmap is not None:
        data = heatmap_layer(
            shown.heatmap,
            shown.heatmap_scale,
            translate=shown.heatmap_translate,
            micrograph=micrograph,
        )
    else:
        data = _empty_heatmap(shared_layer(viewer, "heatmap"))
    layer, new = _put(viewer, "heatmap", micrograph, data, create)
    yield
    if new:
        _reveal(viewer, layer)
        yield
    if (state.displayed or "") != micrograph:
        return  # another micrograph was displayed meanwhile: its fill wins
    particles = _particle_candidates(shown.picks) if shown is not None else empty_picks()
    data, kwargs, type_name = picks_layer(particles, "picks")
    kwargs["metadata"] = {**kwargs.get("metadata", {}), ROLE_KEY: "result"}
    kwargs["shown"] = _shown_mask(particles, threshold, state.display_diameter)
    yield  # prepared on a turn of its own: the update and its redraw fill the next
    if (state.displayed or "") != micrograph:
        return
    layer, new = _put(viewer, "picks", micrograph, (data, kwargs, type_name), create)
    if new:
        layer.events.data.connect(_mark_added_picks)
    yield
    if new:
        _reveal(viewer, layer)
        yield
    if (state.displayed or "") != micrograph:
        return
    _show_shapes(viewer, micrograph, shown, threshold, create and shown is not None)
    yield


def _release(viewer: Any) -> None:
    """Mark the points layer as nobody's until :func:`_filling` fills it again."""
    layer = shared_layer(viewer, "picks")
    if layer is not None:
        layer.metadata["micrograph"] = ""


def _store_edits(viewer: Any, layer: Any = None) -> None:
    """Keep the user's corrections of the displayed micrograph in the session's store.

    The points layer holds every particle candidate of the displayed
    micrograph as the user left them (deleted, moved, added by hand); before
    the layers show another micrograph, that table replaces the stored one.
    """
    from napari_cryopick.layers.points import points_to_picks

    state = session(viewer)
    name = state.displayed
    if name is not None:
        _store_shape_edits(viewer, name)
    stored = state.pick_results.get(name) if name is not None else None
    if layer is None:
        layer = result_layer(viewer, name) if name is not None else None
    if stored is None or layer is None or layer.metadata.get("micrograph") != name:
        return
    table = points_to_picks(layer.data, layer.features, micrograph=name)
    others = stored.picks[stored.picks["kind"].isin(["vesicle", "fiber"])]
    picks, _rows = _appended(others, table)  # the circles' and paths' rows keep their labels
    state.pick_results[name] = replace(stored, picks=picks)


def displaying(viewer: Any, micrograph: str | None, create: bool = False) -> Iterator[None]:
    """Make the shared result layers show ``micrograph`` (None: nothing), in steps.

    The corrections of the micrograph shown before are kept in the session
    first (:func:`_store_edits`). Updating layers in place costs a few tens
    of milliseconds; creating a napari layer costs 0.15-0.3 s on a slow
    machine without a GPU, which is why there is one set for all micrographs.
    """
    state = session(viewer)
    if (state.displayed or "") != micrograph:
        _store_edits(viewer)
    state.displayed = micrograph
    yield from _filling(viewer, micrograph or "", create=create)


def display(viewer: Any, micrograph: str | None) -> None:
    """:func:`displaying` at once; missing layers are made only for a micrograph with results."""
    create = micrograph is not None and micrograph in session(viewer).pick_results
    for _ in displaying(viewer, micrograph, create=create):
        pass


def _with_manual(shown: ShownResult, old: ShownResult | None) -> ShownResult:
    """``shown`` plus the picks without a score of an earlier result (the user's own).

    A network candidate within half a diameter of one of them is the same
    particle: it is dropped, so a re-pick never doubles a particle the user
    picked (by hand, or in a loaded file without scores).
    """
    if old is None or not len(old.picks):
        return shown
    manual = _particle_candidates(old.picks)
    manual = manual[manual["score"].isna()]
    if not len(manual):
        return shown
    picks = shown.picks
    particle = ~picks["kind"].isin(["vesicle", "fiber"]).to_numpy()
    diameter = pd.concat([manual["diameter"], picks["diameter"]]).astype(float)
    radius = 0.5 * float(np.nanmedian(diameter)) if diameter.notna().any() else 0.0
    if radius > 0:
        picks = picks[~_near(picks, particle, manual, radius)]
    return replace(shown, picks=pd.concat([picks, manual], ignore_index=True))


def _without_deleted(shown: ShownResult, old: ShownResult | None) -> tuple[ShownResult, np.ndarray]:
    """``shown`` without the network's particle candidates where the user deleted one of
    an earlier result of the micrograph, and those places ((N, 2) x, y).

    A trial deleted 3 picks and pressed Pick (or Pick all open) again: all 3 came
    back unsaid. Deletions not yet used as training labels now go with the
    micrograph through re-picking, as hand-added picks do (:func:`_with_manual`).
    """
    none = np.zeros((0, 2), np.float32)
    if old is None or old.original is None or not len(old.original):
        return shown, none
    from .annotate import far_from

    current = _particle_candidates(old.picks)
    # particle sizes only: a vesicle's would widen the radius around each deletion
    sizes = pd.concat([current["diameter"], _particle_candidates(shown.picks)["diameter"]])
    sizes = sizes.astype(float)
    if not sizes.notna().any():
        return shown, none
    radius = 0.5 * float(np.nanmedian(sizes))
    positions = pd.DataFrame(np.asarray(old.original, float), columns=["x", "y"])
    gone = far_from(positions, current, radius)
    if not len(gone):
        return shown, none
    picks = shown.picks
    particle = (picks["kind"] == "particle").to_numpy() & picks["score"].notna().to_numpy()
    keep = ~_near(picks, particle, gone, radius)
    shown = replace(shown, picks=picks[keep].reset_index(drop=True)) if not keep.all() else shown
    return shown, gone[["x", "y"]].to_numpy(np.float32)


def _near(
    picks: pd.DataFrame, rows: np.ndarray, points: pd.DataFrame, radius: float | np.ndarray
) -> np.ndarray:
    """Which of ``picks`` (among ``rows``, a mask) lie closer than ``radius`` to a row of
    ``points`` (x, y): the candidates a user's own pick or negative there replaces.
    ``radius``: one for all, or one per row of ``rows`` (a vesicle's own)."""
    near = np.zeros(len(picks), bool)
    if not (rows.any() and len(points)):
        return near
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(points[["x", "y"]].to_numpy(float)).query(
        picks.loc[rows, ["x", "y"]].to_numpy(float)
    )
    near[np.flatnonzero(rows)] = distance < radius
    return near


def _paths_near(paths: list, points: np.ndarray, radius: float) -> np.ndarray:
    """Which of ``paths`` ((N, 2) x, y) pass closer than ``radius`` to one of ``points``
    (their vertices and the segments between them, sampled every pixel)."""
    from scipy.spatial import cKDTree

    from napari_cryopick.core.fibers import resample_path

    near = np.zeros(len(paths), bool)
    if radius <= 0 or not len(points):
        return near
    tree = cKDTree(np.asarray(points, float))
    for i, path in enumerate(paths):
        path = np.asarray(path, float).reshape(-1, 2)
        dense = np.vstack([resample_path(path, 1.0), path]) if len(path) > 1 else path
        near[i] = bool((tree.query(dense)[0] < radius).any())
    return near


def _without_negatives(
    viewer: Any, micrograph: str, shown: ShownResult, deleted_shapes: tuple = ()
) -> ShownResult:
    """``shown`` without the network's objects at a negative the user marked on
    ``micrograph`` (Annotate's negatives, or picks deleted and then used as training
    labels) or where the user deleted a circle or path of an earlier result
    (``deleted_shapes``, not yet labels): particle candidates within half a diameter
    of one, vesicle candidates with one within a quarter of their diameter of their
    centre (a negative on ice inside a real vesicle leaves it), fiber paths passing
    within half their width of one (kept as ``negatives`` for :func:`_shown_fibers`,
    which traces them).

    A trial deleted 3 junk picks, used the rest as labels and retrained: the new
    model scored the junk 0.81-0.89 again, and the export wrote it for RELION. A
    spot the user called junk stays junk on that micrograph whatever a model says
    (a vesicle trial's deleted circle and negative cross did not).
    """
    from .annotate import current_labels, find_micrograph_layer

    mlayer = find_micrograph_layer(viewer, micrograph)
    picks = shown.picks
    if mlayer is None or not len(picks):
        return shown
    negatives = current_labels(viewer, mlayer, "negative")
    if len(deleted_shapes):
        spots = pd.DataFrame(np.asarray(deleted_shapes, float).reshape(-1, 2), columns=["x", "y"])
        negatives = pd.concat([negatives[["x", "y"]], spots], ignore_index=True)
    if not len(negatives):
        return shown
    scored = picks["score"].notna().to_numpy()
    kind = picks["kind"].to_numpy()
    junk = np.zeros(len(picks), bool)
    particle = (kind == "particle") & scored
    diameter = micrograph_diameter(mlayer) or float(picks["diameter"].median())
    if particle.any() and np.isfinite(diameter) and diameter > 0:
        junk |= _near(picks, particle, negatives, 0.5 * diameter)
    vesicle = (kind == "vesicle") & scored
    if vesicle.any():
        radius = 0.25 * picks["diameter"].to_numpy(float)[vesicle]
        if np.isfinite(diameter) and diameter > 0:
            radius = np.where(np.isfinite(radius), radius, 0.25 * diameter)
        junk |= _near(picks, vesicle, negatives, radius)
    points = negatives[["x", "y"]].to_numpy(float)
    kept = picks[~junk].reset_index(drop=True) if junk.any() else picks
    if (kind == "fiber").any():
        return replace(shown, picks=kept, negatives=points)
    return replace(shown, picks=kept) if junk.any() else shown


def _to_display(viewer: Any, micrograph: str) -> bool:
    """Whether a new result of ``micrograph`` goes into the layers now.

    Yes when it is the micrograph displayed or the current one (selected,
    or top-most), or when nothing open is displayed.
    """
    state = session(viewer)
    if micrograph == state.displayed:
        return True
    current = current_micrograph_layer(viewer)
    if current is not None and micrograph_name(current) == micrograph:
        return True
    open_names = {micrograph_name(m) for m in micrograph_layers(viewer)}
    return state.displayed is None or state.displayed not in open_names


def showing_candidates(
    viewer: Any,
    micrograph: str,
    candidates: pd.DataFrame,
    threshold: float | None = None,
    link_radius_px: float | None = None,
) -> Iterator[None]:
    """Store ``candidates`` as ``micrograph``'s result (no heatmap) and show them, in steps."""
    yield from showing_pick_result(
        viewer,
        micrograph,
        ShownResult(candidates, None, link_radius_px=link_radius_px),
        threshold,
    )


def show_candidates(
    viewer: Any,
    micrograph: str,
    candidates: pd.DataFrame,
    threshold: float,
    *,
    link_radius_px: float | None = None,
) -> Any:
    """Put every particle candidate of one micrograph in the points layer; show those above.

    The points layer holds all candidates down to the score floor and shows
    (``layer.shown``) those scoring ``threshold`` or more, so moving the
    threshold (:func:`apply_display_threshold`) changes no data and keeps the
    user's corrections. Picks the user added by hand to an earlier result of
    the micrograph are kept. Vesicles become circles (each its own diameter)
    and fiber candidates are traced into paths. Returns the particle points
    layer when the micrograph is displayed (see :func:`showing_pick_result`).
    """
    for _ in showing_candidates(viewer, micrograph, candidates, threshold, link_radius_px):
        pass
    return result_layer(viewer, micrograph)


def apply_display_threshold(viewer: Any, micrograph: str, threshold: float) -> int | None:
    """Show the picks of ``micrograph`` scoring ``threshold`` or more; returns how many.

    Picks outside the session's diameter range (``display_diameter``, the
    Pick widget's size filter) are hidden too; hand-added picks always show.
    Only ``layer.shown`` changes on the points layer (no data, no new layer):
    the same layer object, the user's added, deleted and moved picks as they
    left them. A micrograph not displayed is counted from the session's
    store; a layer the user deleted is not brought back. None: no result.
    """
    state = session(viewer)
    result = state.pick_results.get(micrograph)
    layer = result_layer(viewer, micrograph)
    if layer is not None:
        shown = _shown_mask(layer.features, threshold, state.display_diameter)
        if len(shown) == len(layer.data) and not np.array_equal(shown, layer.shown):
            layer.shown = shown
        count: int | None = int(shown.sum())
    elif result is not None:
        particles = _particle_candidates(result.picks)
        count = int(_shown_mask(particles, threshold, state.display_diameter).sum())
    else:
        count = None
    if result is not None and state.displayed == micrograph:
        _store_shape_edits(viewer, micrograph)  # circles and paths are redrawn from the store
        result = state.pick_results[micrograph]
        _show_shapes(viewer, micrograph, result, threshold, add=False)
    return count


def shown_objects(viewer: Any, micrograph: str) -> str:
    """What the user sees of ``micrograph``, e.g. ``"1 picks, 2 vesicles, 4 fibers"``.

    Counted as the review table counts (:func:`result_picks`,
    :func:`_object_counts`): the displayed micrograph from its layers,
    another one from the session's store. A vesicle model's status read
    "0 picks" with circles on screen, and a fiber model's "0 picks" for a
    micrograph of "Pick all open" not displayed (trials).
    """
    model = session(viewer).model
    kinds = tuple(getattr(getattr(model, "config", None), "kinds", ("particle",)))
    return _objects_text(_object_counts(result_picks(viewer, micrograph)), kinds)


def _objects_text(counts: dict[str, int], kinds: tuple[str, ...] = ("particle",)) -> str:
    """``"1 picks, 2 vesicles, 4 fibers"`` (the kinds there are); for none, ``"0 picks"``,
    or ``"0 vesicles"`` / ``"0 fibers"`` for a model of vesicles or fibers only (a trial's
    vesicle model said "0 picks")."""
    parts = [f"{n} {what}" for what, n in counts.items() if n]
    if parts:
        return ", ".join(parts)
    picked = set(kinds) - {"negative"}
    return {frozenset({"vesicle"}): "0 vesicles", frozenset({"fiber"}): "0 fibers"}.get(
        frozenset(picked), "0 picks"
    )


def showing_pick_result(
    viewer: Any,
    micrograph: str,
    result: Any,
    threshold: float | None = None,
    *,
    keep_manual: bool = True,
    honour_negatives: bool = True,
) -> Iterator[None]:
    """:func:`show_pick_result` in steps: each ``yield`` ends one event-loop turn's work.

    The result is stored in the session (with the picks the user added by
    hand to an earlier result of the micrograph). When the micrograph is the
    one displayed or the current one, the shared result layers show it:
    updated in place, a layer at a time; a missing layer is added hidden on
    one turn and shown on the next. Then the listeners are told.
    """
    state = session(viewer)
    follow_micrographs(viewer)
    if state.displayed == micrograph:
        _store_edits(viewer)
    old = state.pick_results.get(micrograph) if keep_manual else None
    state.earlier_model.discard(micrograph)  # picked now (or read from a file)
    shown = _with_manual(as_shown(result), old)
    gone = old.deleted_shapes if old is not None else ()  # circles and paths deleted
    if honour_negatives:  # a network's result (a file loaded is shown as it is)
        shown = _without_negatives(viewer, micrograph, shown, gone)
    shown, deleted = _without_deleted(shown, old)
    original = _scored_positions(shown.picks)
    if len(deleted):  # still deletions (not yet labels): "Use as training labels" takes them
        original = np.vstack([original, deleted.astype(np.float32)])
    state.pick_results[micrograph] = replace(shown, original=original, deleted_shapes=gone)
    if _to_display(viewer, micrograph):
        if (state.displayed or "") != micrograph:
            _store_edits(viewer)
        state.displayed = micrograph
        _release(viewer)  # stale until filled: a switch meanwhile must not store it
        yield  # stored on a turn of its own; each layer update and its redraw on the next
        if state.displayed == micrograph:  # not switched meanwhile
            yield from _filling(viewer, micrograph, threshold, create=True)
    state.picks_changed.emit(micrograph)


def show_pick_result(
    viewer: Any,
    micrograph: str,
    result: Any,
    threshold: float | None = None,
    *,
    keep_manual: bool = True,
    honour_negatives: bool = True,
) -> None:
    """Store a picking result in the session and show heatmap and picks.

    ``result`` is a workflow ``MicrographPicks`` or a core ``PickResult`` (a
    training preview). The threshold is the session's display threshold (the
    Pick slider) when not given, else the result's own. All at once; the Pick
    widget spreads it over event-loop turns (:func:`showing_pick_result`).
    """
    steps = showing_pick_result(
        viewer,
        micrograph,
        result,
        threshold,
        keep_manual=keep_manual,
        honour_negatives=honour_negatives,
    )
    for _ in steps:
        pass


def ensuring_result_layers(viewer: Any, kinds: tuple[str, ...] = ()) -> Iterator[None]:
    """Create the shared heatmap and points layers (and circles/paths for ``kinds``) ahead.

    Run on the turns after a micrograph opens (or a widget docks): adding a
    napari layer and drawing it the first time takes 0.15-0.3 s each on a
    slow machine without a GPU, so a result arriving later only updates
    layers in place (tens of milliseconds) and the picking never stalls the
    viewer. One layer per turn; nothing without an open micrograph.
    """
    follow_micrographs(viewer)
    state = session(viewer)
    wanted = ["heatmap", "picks"]
    wanted += [w for w, kind in (("vesicles", "vesicle"), ("fibers", "fiber")) if kind in kinds]
    made = False
    for what in wanted:
        if shared_layer(viewer, what) is not None or not micrograph_layers(viewer):
            continue
        if state.displayed is None:
            current = current_micrograph_layer(viewer)
            state.displayed = micrograph_name(current) if current is not None else None
        name = state.displayed or ""
        if what == "heatmap":
            data = _empty_heatmap()
        elif what == "picks":
            from napari_cryopick.layers.points import picks_layer

            data, kwargs, type_name = picks_layer(empty_picks(), "picks")
            kwargs["metadata"] = {**kwargs.get("metadata", {}), ROLE_KEY: "result"}
            data = (data, kwargs, type_name)
        elif what == "vesicles":
            data = vesicles_layer(empty_picks(), "vesicles", micrograph=name)
        else:
            data = fibers_layer([], "fibers", micrograph=name)
        # nobody's until filled below: a switch in between must not store it as name's picks
        layer, new = _put(viewer, what, "", data, create=True)
        if new and what == "picks":
            layer.events.data.connect(_mark_added_picks)
        if new and what in _SHAPE_KINDS:
            layer.events.data.connect(_mark_added_shapes)
        yield
        if new:
            _reveal(viewer, layer)
            made = True
            yield
    if made:  # once, after the last new layer: all of them show the displayed micrograph
        _store_edits(viewer)  # the older layers' state (the user's edits) before the refill
        for _ in _filling(viewer, state.displayed or ""):
            pass


def _micrograph_of(layer: Any) -> str | None:
    """The micrograph a layer belongs to: a micrograph layer's own, an annotation's."""
    if layer is None or layer.metadata.get(SHOWS_KEY):
        return None
    if is_micrograph_layer(layer):
        return micrograph_name(layer)
    return layer.metadata.get("micrograph") or None


def follow_micrographs(viewer: Any) -> None:
    """Once per viewer: the result layers follow the micrograph the user works on.

    Selecting a micrograph (or one of its annotation layers), opening one,
    showing one (``show_only_micrograph``: Annotate, the review table) makes
    the shared result layers show its results; closing the displayed one
    shows the current one's. Results of closed micrographs leave the session.
    """
    state = session(viewer)
    if state.following:
        return
    state.following = True
    real = unproxy(viewer)

    def _follow(name: str | None) -> None:
        if name and name != state.displayed:
            display(real, name)

    def _on_active(event: Any) -> None:
        name = _micrograph_of(event.value)
        names = [micrograph_name(layer) for layer in micrograph_layers(real)]
        if name not in names:
            # a layer of a micrograph that is not open (a pick file opened on its own):
            # the result layers stay with the micrograph on screen
            return
        if len(names) > 1:
            # the micrograph worked on is the one seen (the result layers follow it)
            show_only_micrograph(real, name)
        _follow(name)

    def _on_removed(event: Any) -> None:
        if event.value.metadata.get(SHOWS_KEY) == "picks":
            _store_edits(real, event.value)  # deleting the layer does not undo corrections
        else:
            _store_edits(real)  # a micrograph the review closes keeps its corrections
        kept = session_micrographs(real)
        closed = [name for name in state.pick_results if name not in kept]
        for name in closed:
            scores = state.pick_results[name].picks["score"]
            by_hand = bool(scores.isna().any() and scores.notna().any())
            if by_hand or has_corrections(real, name):  # lost with it: Pick says so
                state.discarded_corrections.add(name)
            del state.pick_results[name]
        open_names = {micrograph_name(m) for m in micrograph_layers(real)}
        if state.displayed is not None and state.displayed not in open_names:
            current = current_micrograph_layer(real)
            state.displayed = None
            if current is not None:  # the one now worked on shows (it may have been hidden)
                show_only_micrograph(real, micrograph_name(current))
            if state.displayed is None:
                display(real, micrograph_name(current) if current is not None else None)
        for name in closed:
            state.picks_changed.emit(name)

    def _on_inserted(event: Any) -> None:
        if not is_micrograph_layer(event.value):
            return
        # a micrograph opened on top: the result layers go above it again
        shared = [index for index, layer in enumerate(real.layers) if layer.metadata.get(SHOWS_KEY)]
        if shared and max(shared) < real.layers.index(event.value):
            real.layers.move_multiple(shared, len(real.layers))

    real.layers.selection.events.active.connect(_on_active)
    real.layers.events.removed.connect(_on_removed)
    real.layers.events.inserted.connect(_on_inserted)
    state.micrograph_shown.connect(_follow)


def result_picks(viewer: Any, micrograph: str) -> pd.DataFrame:
    """The picks the user sees for ``micrograph`` (shown points, circles, paths; edited).

    The displayed micrograph is read from its layers; another one from the
    session's store (its corrections were stored when it was last
    displayed), filtered at the display threshold and size range.
    """
    from napari_cryopick.layers.points import points_to_picks

    state = session(viewer)
    stored = state.pick_results.get(micrograph)
    tables = []
    layer = result_layer(viewer, micrograph)
    if layer is not None and len(layer.data):
        table = points_to_picks(layer.data, layer.features, micrograph=micrograph)
        shown = np.asarray(layer.shown, dtype=bool)
        tables.append(table[shown].reset_index(drop=True) if len(shown) == len(table) else table)
    elif layer is None and stored is not None:
        particles = _particle_candidates(stored.picks)
        threshold = _threshold_of(viewer, stored, None)
        mask = _shown_mask(particles, threshold, state.display_diameter)
        tables.append(particles[mask].reset_index(drop=True))
    vesicles = result_layer(viewer, micrograph, "vesicles")
    if vesicles is not None:
        tables.append(_shapes_table(vesicles, micrograph))
    elif stored is not None:
        shown = _shown_vesicles(viewer, stored.picks, _threshold_of(viewer, stored, None))
        tables.append(shown.reset_index(drop=True))
    tables.append(_result_fibers(viewer, micrograph))
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else empty_picks()


def _result_fibers(viewer: Any, micrograph: str) -> pd.DataFrame:
    """The fibers of ``micrograph`` as the user sees them: one tube per path, with its score.

    The displayed micrograph's paths layer as edited; another micrograph's
    fibers from the session's store as they would be shown at the display
    threshold (:func:`_shown_fibers`: its edited paths, or its candidates
    traced).
    """
    layer = result_layer(viewer, micrograph, "fibers")
    if layer is not None:
        return _shapes_table(layer, micrograph)
    stored = session(viewer).pick_results.get(micrograph)
    if stored is None:
        return empty_picks()
    fibers = stored.picks[stored.picks["kind"] == "fiber"]
    if not len(fibers):
        return empty_picks()
    paths, scores, _rows = _shown_fibers(stored, _threshold_of(viewer, stored, None))
    return _fiber_table(paths, scores, micrograph, _fiber_width(fibers, stored))


def _object_counts(table: pd.DataFrame) -> dict[str, int]:
    """Objects of a pick table as the user sees them: picks, vesicles and fibers.

    One per particle pick and vesicle circle; one per fiber (a tube of a
    micrograph), not one per vertex of its path.
    """
    kinds = table["kind"].astype(str)
    fibers = table[kinds == "fiber"]
    return {
        "picks": int((~kinds.isin(["vesicle", "fiber"])).sum()),
        "vesicles": int((kinds == "vesicle").sum()),
        "fibers": len(fibers[["micrograph", "tube_id"]].drop_duplicates()),
    }


def _object_scores(table: pd.DataFrame) -> np.ndarray:
    """One score per object of a pick table (per pick, circle and fiber; NaN: none)."""
    fiber = (table["kind"].astype(str) == "fiber").to_numpy()
    tubes = table[fiber].drop_duplicates(["micrograph", "tube_id"])["score"].to_numpy(float)
    return np.concatenate([table.loc[~fiber, "score"].to_numpy(float), tubes])


def deleted_picks(viewer: Any, micrograph: str, diameter_px: float) -> pd.DataFrame:
    """The particle picks of ``micrograph`` the user deleted (false picks: junk, carbon).

    A candidate of the picking's result with no pick of the corrected ones
    (shown or hidden by the threshold) within half a diameter: a moved pick
    or one replaced by a hand-added pick is the same particle, not a deletion.
    """
    from .annotate import far_from

    stored = session(viewer).pick_results.get(micrograph)
    original = getattr(stored, "original", None)
    if original is None or not len(original):
        return empty_picks()
    current = _current_picks(viewer, micrograph)
    positions = pd.DataFrame(np.asarray(original, dtype=float), columns=["x", "y"])
    return far_from(positions, current, 0.5 * float(diameter_px)).reset_index(drop=True)


def _scored_positions(picks: pd.DataFrame) -> np.ndarray:
    """``(x, y)`` float32 of the scored particle picks (the network's, not the user's)."""
    particles = _particle_candidates(picks)
    return particles.loc[particles["score"].notna(), ["x", "y"]].to_numpy(np.float32)


def _current_picks(viewer: Any, micrograph: str) -> pd.DataFrame | None:
    """Every particle candidate of ``micrograph`` as the user left them (None: no result)."""
    from napari_cryopick.layers.points import points_to_picks

    stored = session(viewer).pick_results.get(micrograph)
    if stored is None:
        return None
    layer = result_layer(viewer, micrograph)
    if layer is not None:  # displayed: the layer holds every candidate as corrected
        return points_to_picks(layer.data, layer.features, micrograph=micrograph)
    return _particle_candidates(stored.picks)


def has_corrections(viewer: Any, micrograph: str) -> bool:
    """Whether ``micrograph`` holds corrections a new result would lose.

    Deleted or moved picks of the network, not yet used as training labels:
    the scored candidates are not those of ``ShownResult.original`` (the
    result as picked, or as "Use as training labels" last saved it). Picks
    added by hand are not counted: a new result keeps them
    (:func:`_with_manual`). Vesicle circles and fiber paths deleted, moved,
    resized, reshaped or drawn count too (stored, ``ShownResult.edited``, or
    on screen now).
    """
    stored = session(viewer).pick_results.get(micrograph)
    if stored is not None and stored.edited:
        return True
    if stored is not None and any(
        _shapes_edited(result_layer(viewer, micrograph, what), micrograph) for what in _SHAPE_KINDS
    ):
        return True
    original = getattr(stored, "original", None)
    current = _current_picks(viewer, micrograph)
    if original is None or current is None:
        return False
    positions = _scored_positions(current)
    if len(positions) != len(original):
        return True
    order = np.lexsort(positions.T[::-1])
    before = np.asarray(original, np.float32)
    return not np.allclose(positions[order], before[np.lexsort(before.T[::-1])], atol=0.01)


def _export_items(
    viewer: Any, table: pd.DataFrame, width_px: float, names: Sequence[str] | None = None
) -> list[tuple[Any, tuple]]:
    """What ``cryopick pick``'s writer takes, per micrograph of ``table`` (the shown picks).

    ``names``: the micrographs to write, those without rows in ``table`` too
    (an empty file, as ``cryopick pick`` writes for a micrograph without
    picks: one whose picks the user deleted replaces its earlier export);
    default: the micrographs of ``table``.

    A workflow ``MicrographPicks`` (the points; the fibers' vertices with
    their ``tube_id`` and score, and their paths; the fiber width, else
    ``width_px``; the micrograph's shape and pixel size where it is open) and
    the kinds of its result: fibers alone write ``<micrograph>.<ext>``, fibers
    beside particles or vesicles ``<micrograph>_fibers.<ext>``, as a model of
    several kinds writes them (``workflows.pick.write_micrograph_picks``).
    """
    from napari_cryopick.core.fibers import picks_to_paths
    from napari_cryopick.workflows.pick import MicrographPicks

    state = session(viewer)
    open_layers = {micrograph_name(layer): layer for layer in micrograph_layers(viewer)}
    items = []
    micrographs = table["micrograph"].astype(str)
    for name in sorted(set(micrographs) if names is None else set(names)):
        part = table[micrographs == name].reset_index(drop=True)
        kinds = set(part["kind"].astype(str))
        stored = state.pick_results.get(name)
        if stored is not None:  # the kinds picked, shown now or not
            kinds |= set(stored.picks["kind"].astype(str))
        fibers = part[(part["kind"] == "fiber") & (part["tube_id"] > 0)]
        mlayer = open_layers.get(name)
        shape = tuple(np.shape(mlayer.data)[-2:]) if mlayer is not None else (0, 0)
        pixel = mlayer.metadata.get("pixel_size") if mlayer is not None else None
        item = MicrographPicks(
            name=name,
            path=None,
            shape=shape,
            pixel_size=pixel,
            diameter_px=_fiber_width(fibers) or float(width_px),
            candidates=empty_picks(),
            picks=part,
            fiber_paths=picks_to_paths(fibers),
        )
        items.append((item, tuple(sorted(kinds))))
    return items


def _exporting(items: list, folder: Path, format: str, cancel: threading.Event):
    """Write each micrograph's files (:func:`_export_items`), a micrograph at a time, for a worker.

    The writer of ``cryopick pick`` (``workflows.pick.write_micrograph_picks``
    with its defaults: RELION helical start/end pairs for fibers in STAR,
    crYOLO filaments in CBOX), each file atomically. Yields ``(done, total)``
    after each micrograph; stops between two when ``cancel`` is set (every
    file written is complete). Returns the files.
    """
    from napari_cryopick.workflows.pick import PickRequest, write_micrograph_picks

    request = PickRequest(micrographs=(), formats=(format,))
    written: list[Path] = []
    for done, (item, kinds) in enumerate(items, start=1):
        if cancel.is_set():
            break
        written += write_micrograph_picks(item, folder / (item.name or "picks"), request, kinds)
        yield done, len(items)
    return written


def _picking_job(request: Any, cancel: threading.Event):
    """The workflow's pick generator, cancellable; yields ``PickProgress``, returns ``PickOutcome``.

    ``request`` may be a list of requests (micrographs of different
    diameters): they run one after the other, their events counted as one
    job's (``step`` and ``total`` over all); the last one's outcome is returned.
    """
    from napari_cryopick.workflows.pick import pick

    requests = list(request) if isinstance(request, (list, tuple)) else [request]
    total = sum(len(one.micrographs) for one in requests)
    done, outcome = 0, None
    for one in requests:
        if cancel.is_set():
            return None
        job = cancellable(pick(one), cancel)
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                outcome = stop.value
                break
            yield replace(event, step=event.step + done, total=total)
        done += len(one.micrographs)
    return outcome


def _preload_picking_modules() -> None:
    """Import what picking needs here, in the GUI thread, once (the widget opens).

    Imported by the worker instead, torch's, scipy's and pyarrow's extension
    modules hold the GIL while they load: measured 1.7 s without a single
    event-loop tick on the first "Pick current".
    """
    import contextlib
    import importlib

    for name in (
        "scipy.fft",
        "scipy.linalg",
        "scipy.ndimage",
        "scipy.constants",
        "pyarrow.pandas_compat",
        "napari.qt.threading",
        "napari_cryopick.core.detect",
        "napari_cryopick.core.fibers",
        "napari_cryopick.core.model.card",
        "napari_cryopick.core.object_kinds",
        "napari_cryopick.core.preprocess",
        "napari_cryopick.core.tiled_picking",
        "napari_cryopick.workflows.pick",
    ):
        with contextlib.suppress(ImportError):  # optional (pyarrow): nothing to preload
            importlib.import_module(name)


def _trained_diameter_text(request: Any) -> str:
    """``"Warning: ... "`` when a trained model is asked to pick far from its diameter, else "".

    The check ``cryopick pick`` makes (``workflows.pick.trained_diameter_warning``):
    a model trained on clicks finds particles near the size it learned.
    """
    from napari_cryopick.workflows.pick import prepare

    try:
        return _warning_texts(prepare(request).warnings)
    except Exception:  # a hint only: the worker reports a bad request
        return ""


def _warning_texts(warnings: Any) -> str:
    return "".join(f"Warning: {text} " for text in warnings)


def _scale_texts(factor: float, confidences: Any, diameter_px: float) -> tuple[str, str]:
    """``("Warning: ... ", line)`` of the zero-shot scale search for the status line."""
    from napari_cryopick.workflows.pick import scale_lines

    line, warnings = scale_lines(factor, confidences, diameter_px)
    return "".join(f"Warning: {w[0].upper()}{w[1:]}. " for w in warnings), line


#: File in a folder of pick files that records which micrographs the user reviewed.
REVIEW_FILE = "cryopick_review.json"


def read_reviewed(folder: str | Path) -> set[str]:
    """Names of the micrographs marked reviewed in ``folder``'s :data:`REVIEW_FILE`.

    An empty set when there is none. Raises ``ValueError`` naming the file when
    it is not a review file (broken JSON, wrong layout).
    """
    import json

    path = Path(folder) / REVIEW_FILE
    if not path.is_file():
        return set()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        names = record["reviewed"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("'reviewed' is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a cryopick review file ({exc})") from None
    return set(names)


def write_reviewed(folder: str | Path, name: str, reviewed: bool) -> Path:
    """Mark (or unmark) micrograph ``name`` as reviewed in ``folder``'s :data:`REVIEW_FILE`.

    Other micrographs' flags in the file are kept; the file is replaced
    atomically (``io.atomic``), so a crash never leaves half a file.
    """
    import json

    from napari_cryopick.io.atomic import atomic_write_text

    try:
        names = read_reviewed(folder)
    except ValueError:
        names = set()  # a broken file is replaced by a good one
    if reviewed:
        names.add(name)
    else:
        names.discard(name)
    record = {"format": "cryopick review", "version": 1, "reviewed": sorted(names)}
    return atomic_write_text(Path(folder) / REVIEW_FILE, json.dumps(record, indent=1) + "\n")


#: Characters every napari text visual loads on its first draw (vispy's ``_text_to_vbo``
#: measures ascender and descender with them; a points layer has a text visual).
_GLYPHS = "ÅÉÑŐjgpqy "


def prewarm_text_glyphs(viewer: Any) -> bool:
    """Render the font glyphs napari's text visuals need, once per viewer, now.

    The first points layer drawn in a viewer (picks, annotations) renders these
    glyphs into the canvas's font atlas: measured 100-190 ms of one event-loop
    turn on a 2-core box. Done when the Pick widget opens, on its own turn, the
    first picks draw without it. Returns False where the canvas is not reachable
    (napari internals changed; nothing is lost but the head start).
    """
    try:
        font_info = unproxy(viewer).window._qt_viewer.canvas.font_info
        font_info = font_info() if callable(font_info) else font_info
        font = font_info.font_manager.get_font(font_info.face)
        for char in _GLYPHS:
            font[char]  # renders and caches the glyph
    except (AttributeError, TypeError, KeyError, RuntimeError):
        return False
    return True


#: Milliseconds the review table waits after the last slider move or edit before it follows.
REVIEW_DELAY_MS = 150
#: Relative difference between the Pick diameter and the measured one that earns a warning.
DIAMETER_MISMATCH = 0.25
#: Score floor of the files "Pick folder…" writes when candidates are kept (re-threshold later).
KEEP_CANDIDATES = 0.05
#: "Pick folder…" runs the pick workflow in a child process (``_child_picking``); False: in
#: a thread of napari's process (tests that replace the network in this process only).
FOLDER_PICKING_IN_CHILD = True


class PickWidget(QWidget):
    """Model, head, diameter, threshold; pick current/all/folder; review; export; labels."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self.model_path: Path | None = None
        self.worker = None
        self.last_batch = None
        self.last_exported: list[Path] = []
        # zero-shot: (model, diameter, head) -> the diameter factor its first pick chose
        # zero-shot: (settings key, diameter factor, inverted) chosen on the first picks
        #: zero-shot scale choices: ``{(model, diameter, head): (factor, inverted)}``
        self._scale_choices: dict[tuple, tuple[float, bool]] = {}
        #: the keys of the running job's requests, by diameter (made when it started)
        self._request_scale_keys: dict[float, tuple] = {}
        self._request_scale_key: tuple | None = None
        self._trained_warning = ""  # a trained model asked far from its diameter (last run)
        self._export_warning = ""  # what the last export's format cannot hold
        self._folder_files: list[Path] = []  # "Review folder…": micrograph files, in order
        self._picks_folder: Path | None = None
        self._review_open: str | None = None  # the micrograph the review opened last
        self._cancel = threading.Event()
        self._progress = JobProgress()
        # results being shown, one step per event-loop turn (see showing_pick_result)
        self._showing = StepQueue(self)

        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("model file (.pt)")
        self.model_edit.setToolTip("The model picked with; Train puts the model it trains here")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.setToolTip("Choose a model file")
        browse.clicked.connect(self._browse_model)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the model file typed on the left")
        self.load_button.clicked.connect(lambda: self.load_model(self.model_edit.text()))
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit)
        model_row.addWidget(browse)
        model_row.addWidget(self.load_button)
        self.model_label = QLabel("No model")
        self.model_label.setWordWrap(True)
        self.head_combo = QComboBox()
        self.head_combo.setToolTip(
            "Head of the model: 'generic', or a data set's own head (trained few-shot)"
        )
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(100.0)
        self.diameter_spin.setToolTip(
            "Particle diameter in pixels: follows the diameter measured or clicked in Annotate"
        )
        defaults = default_pick_config()  # the widget's defaults are cryopick pick's
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        if self.device_combo.findText(defaults.device) >= 0:
            self.device_combo.setCurrentText(defaults.device)
        self.device_combo.setToolTip("Where the network runs (auto: CUDA when available)")
        self.rotations_check = QCheckBox("Average 4 rotations")
        self.rotations_check.setChecked(defaults.rotations)
        self.rotations_check.setToolTip("Slower (4x), slightly more robust heatmaps")
        self.reject_std_check = QCheckBox("Reject carbon/ice (local std)")
        self.reject_std_check.setChecked(defaults.reject_std)
        self.reject_std_check.setToolTip("Drop picks on flat carbon or thick ice")
        self.threshold_slider = QSlider(Qt.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setValue(round(defaults.threshold * 100))
        self.threshold_slider.setToolTip(
            "Show picks scoring at least this; instant, the network does not run again "
            f"(default {defaults.threshold:.2f}, as cryopick pick)"
        )
        self.threshold_label = QLabel(f"{self.threshold():.2f}")
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_slider)
        threshold_row.addWidget(self.threshold_label)

        self.pick_current_button = QPushButton("Pick current")
        self.pick_current_button.setToolTip("Pick the selected micrograph (in the background)")
        self.pick_all_button = QPushButton("Pick all open")
        self.pick_all_button.setToolTip("Pick every open micrograph")
        self.pick_folder_button = QPushButton("Pick folder…")
        self.pick_folder_button.setToolTip(
            "Pick every micrograph file of a folder and write one pick file each "
            "(export format and folder below)"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current micrograph; nothing half-written")
        self.cancel_button.setEnabled(False)
        pick_row = QHBoxLayout()
        for button in (self.pick_current_button, self.pick_all_button, self.pick_folder_button):
            pick_row.addWidget(button)
        self.progress_bar = QProgressBar()
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar)
        progress_row.addWidget(self.cancel_button)

        self.review_table = QTableWidget(0, 4)
        self.review_table.setHorizontalHeaderLabels(
            ["micrograph", "picks", "mean score", "reviewed"]
        )
        self.review_table.verticalHeader().setVisible(False)
        self.review_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.review_table.setSelectionBehavior(QTableWidget.SelectRows)
        self.review_table.setSelectionMode(QTableWidget.SingleSelection)
        self.review_table.setMinimumHeight(90)
        self.review_table.setMaximumHeight(160)
        self.review_table.setToolTip("Picked micrographs; click one to show it alone")
        self.load_picks_button = QPushButton("Load picks…")
        self.load_picks_button.setToolTip(
            "Read the pick files of the open micrographs from a folder (e.g. written by "
            "Pick folder… with candidates kept) and review them at any threshold"
        )
        self.previous_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.reviewed_check = QCheckBox("Reviewed")
        self.reviewed_check.setToolTip("Mark the shown micrograph as reviewed")
        self.review_folder_button = QPushButton("Review folder…")
        self.review_folder_button.setToolTip(
            "Step through the micrographs of a folder, one open at a time, with their pick files"
        )
        review_files_row = QHBoxLayout()
        review_files_row.addWidget(self.review_folder_button)
        review_files_row.addWidget(self.load_picks_button)
        self.min_diameter_spin, self.max_diameter_spin = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, which in (
            (self.min_diameter_spin, "smaller"),
            (self.max_diameter_spin, "larger"),
        ):
            spin.setRange(0.0, 5000.0)
            spin.setDecimals(0)
            spin.setSuffix(" px")
            spin.setSpecialValueText("any")  # 0: no bound
            spin.setToolTip(
                f"Hide picks {which} than this, on every micrograph in the table; instant, "
                "no network (as cryopick filter --min/--max-diameter). Your own picks stay."
            )
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Size filter"))
        size_row.addWidget(self.min_diameter_spin)
        size_row.addWidget(QLabel("to"))
        size_row.addWidget(self.max_diameter_spin)
        review_row = QHBoxLayout()
        review_row.addWidget(self.previous_button)
        review_row.addWidget(self.reviewed_check)
        review_row.addWidget(self.next_button)

        self.keep_candidates_check = QCheckBox(f"Keep candidates down to {KEEP_CANDIDATES}")
        self.keep_candidates_check.setToolTip(
            "Pick folder… writes every candidate scoring at least this, with its score, so the "
            "threshold can still be changed after reloading (cryopick filter, or Load picks)"
        )
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(PICK_FORMATS))
        self.format_combo.setToolTip("Pick-file format for export and folder picking")
        self.export_edit = QLineEdit()
        self.export_edit.setPlaceholderText("output folder")
        export_browse = QPushButton("…")
        export_browse.setMaximumWidth(30)
        export_browse.clicked.connect(self._browse_export)
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_edit)
        export_row.addWidget(export_browse)
        self.export_button = QPushButton("Export picks")
        self.export_button.setToolTip(
            "Write the shown (edited) picks, one file per micrograph; hand-added picks "
            "have no score"
        )
        self.labels_button = QPushButton("Use as training labels")
        self.labels_button.setToolTip(
            "Add the shown picks, vesicle circles and fiber paths of the current micrograph "
            "to its annotations; your own clicks and drawings stay as they are"
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        # the review table follows edits and the threshold once the user rests
        self._review_order: dict[str, int] = {}  # micrograph -> its row
        self._review_counts: dict[str, dict[str, int]] = {}  # objects shown per micrograph
        self._review_pending: set[str] = set()
        self._review_all = False
        self._status_with_review = False  # the status of several micrographs comes with it
        self._review_timer = QTimer(self)
        self._review_timer.setSingleShot(True)
        self._review_timer.setInterval(REVIEW_DELAY_MS)
        self._review_timer.timeout.connect(self._refresh_scheduled_review)

        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("", self.model_label)
        form.addRow("Head", self.head_combo)
        form.addRow("Diameter", self.diameter_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.rotations_check)
        form.addRow("", self.reject_std_check)
        form.addRow("Threshold", threshold_row)
        layout = scroll_layout(self)
        layout.addLayout(form)
        layout.addLayout(pick_row)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)
        layout.addWidget(self.review_table)
        layout.addLayout(review_files_row)
        layout.addLayout(size_row)
        layout.addLayout(review_row)
        export_form = QFormLayout()
        export_form.addRow("Format", self.format_combo)
        export_form.addRow("Folder", export_row)
        export_form.addRow("", self.keep_candidates_check)
        layout.addLayout(export_form)
        layout.addWidget(self.export_button)
        layout.addWidget(self.labels_button)
        layout.addStretch(1)

        self.threshold_slider.valueChanged.connect(self._on_threshold_changed)
        self.min_diameter_spin.valueChanged.connect(self._on_size_changed)
        self.max_diameter_spin.valueChanged.connect(self._on_size_changed)
        self.head_combo.currentTextChanged.connect(self._on_head_changed)
        self.pick_current_button.clicked.connect(self.pick_current)
        self.pick_all_button.clicked.connect(self.pick_all_open)
        self.pick_folder_button.clicked.connect(self._choose_folder)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self._choose_export)
        self.labels_button.clicked.connect(self.use_as_labels)
        self.review_table.cellClicked.connect(lambda row, _col: self.show_micrograph(row))
        self.load_picks_button.clicked.connect(self._choose_picks_folder)
        self.review_folder_button.clicked.connect(self._choose_review_folder)
        self.previous_button.clicked.connect(lambda: self.step_micrograph(-1))
        self.next_button.clicked.connect(lambda: self.step_micrograph(+1))
        self.reviewed_check.toggled.connect(self._on_reviewed_toggled)
        self.viewer.layers.events.inserted.connect(self._on_layers_inserted)
        self.viewer.layers.events.removed.connect(lambda _event: self.refresh_review_table())
        self.viewer.layers.selection.events.active.connect(self._on_layers_changed)
        self.viewer.layers.selection.events.active.connect(self._sync_review_controls)

        _preload_picking_modules()
        QTimer.singleShot(0, lambda: prewarm_text_glyphs(self.viewer))

        state = session(self.viewer)
        state.display_threshold = self.threshold()
        state.display_diameter = self.diameter_range()
        listen_to_model(self.viewer, self, self._on_session_model)
        connect_while_alive(state.threshold_requested, self, self.set_threshold)
        connect_while_alive(state.picks_changed, self, self._on_picks_changed)
        connect_while_alive(state.micrograph_shown, self, self._sync_review_controls)
        # the diameter typed or measured in Annotate for the current micrograph
        connect_while_alive(state.settings_changed, self, lambda _name: self._on_layers_changed())
        if state.model is not None:
            self._on_session_model(state.model, state.model_path)
        else:
            self.load_bundled()
        self._on_layers_changed()
        self.refresh_review_table()
        for layer in self.viewer.layers:  # result layers another widget made already
            self._listen_to_edits(layer)
        follow_micrographs(self.viewer)  # one set of result layers, following the micrograph
        self._showing.add(ensuring_result_layers(self.viewer, self._model_kinds()))

    # --- model ---

    def load_bundled(self) -> bool:
        """Pick with the bundled general model (the default until a model is trained/loaded)."""
        from napari_cryopick.core.model.bundled import bundled_model_path

        bundled = bundled_model(self.viewer)
        if bundled is None:
            self.model_label.setText("No model: train one (Train widget) or load a file.")
            return False
        self.model_edit.setText(str(bundled_model_path()))
        self.set_model(bundled[0], None, BUNDLED_ORIGIN)
        return True

    def load_model(self, path: str | Path, origin: str = "") -> bool:
        """Load a checkpoint file as the session's model (picked with, adapted by Train)."""
        from napari_cryopick.core.model import load_checkpoint

        if self.worker is not None:
            # the running job picks with the model it started with: its results would be
            # shown under the new model's name (a trial)
            self.status.setText(
                "Picking or exporting runs: load the model when it is done (or Cancel)."
            )
            return False
        path = Path(path)
        try:
            model, metadata = load_checkpoint(path)
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            return False
        self.model_edit.setText(str(path))
        diameter = metadata.get("diameter_px") if isinstance(metadata, dict) else None
        if diameter:
            self.diameter_spin.setValue(float(diameter))
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import model_threshold, trained_head

        # the loaded model becomes the session's: Train adapts it, its bank is shown there;
        # picked with the head its last training trained and at the threshold that
        # training calibrated, as cryopick pick does
        card = ModelCard.of_model(model, metadata)
        session(self.viewer).set_model(
            model,
            path,
            metadata,
            origin=origin or "model file",
            head=trained_head(card, tuple(model.head_names)) or "",
            threshold=model_threshold(card),
        )
        return True

    def set_model(self, model: Any, path: Path | None = None, origin: str = "") -> None:
        """Pick with ``model`` from now on; fills the head list."""
        self.model = model
        self.model_path = None if path is None else Path(path)
        heads = list(getattr(model, "head_names", ()) or ())
        current = self.head_combo.currentText()
        self.head_combo.blockSignals(True)
        self.head_combo.clear()
        self.head_combo.addItems(heads)
        if current in heads:
            self.head_combo.setCurrentText(current)
        self.head_combo.blockSignals(False)
        if self.model_path is not None:
            self.model_edit.setText(str(self.model_path))
        elif origin != BUNDLED_ORIGIN:
            self.model_edit.clear()
            self.model_edit.setPlaceholderText("(in memory, not saved)")
        where = f" ({self.model_path.name})" if self.model_path is not None else ""
        self.model_label.setText(f"Model: {origin}{where}")
        if set(self._model_kinds()) - {"particle"}:  # circles/paths layers made ahead too
            self._showing.add(ensuring_result_layers(self.viewer, self._model_kinds()))

    def _model_metadata(self) -> dict:
        """Metadata of the model picked with (session model or bundled model)."""
        state = session(self.viewer)
        if state.model is not None and state.model is self.model:
            return dict(state.model_metadata or {})
        if state.bundled is not None and state.bundled[0] is self.model:
            return dict(state.bundled[1] or {})
        return {}

    def _on_head_changed(self, head: str) -> None:
        """A data-set head picks at its own data set's diameter, as ``cryopick pick`` does,
        and at the threshold calibrated for it: the session model's calibrated threshold
        belongs to the head its last training trained; another head picks at the default,
        as ``cryopick pick --head`` does (a trial: 136 picks in the widget, 125 in the CLI).
        """
        state = session(self.viewer)
        calibrated = state.model is not None and state.model is self.model and state.head
        if calibrated and head and state.threshold is not None:
            self.set_threshold(
                state.threshold if head == state.head else default_pick_config().threshold
            )
        metadata = self._model_metadata()
        if head and head in (metadata.get("dataset_info") or {}):
            from napari_cryopick.core.continual import diameter_for_head

            diameter = diameter_for_head(metadata, head)
            if diameter:
                self.diameter_spin.setValue(float(diameter))

    def _on_session_model(self, model: Any, path: Path | None) -> None:
        """A new session model: pick with it, with the head and threshold it comes with."""
        from napari_cryopick.core.continual import diameter_for_head

        state = session(self.viewer)
        self.set_model(model, path, state.model_origin)
        if state.head and self.head_combo.findText(state.head) >= 0:
            self.head_combo.setCurrentText(state.head)
        # the model card owns the diameter its head was trained at (a vesicle model: the
        # vesicles' median size, not the particle diameter measured in Annotate)
        diameter = diameter_for_head(state.model_metadata, self.head_combo.currentText() or None)
        if diameter and np.isfinite(diameter):
            self.diameter_spin.setValue(float(diameter))
        if state.threshold is not None:
            self.set_threshold(state.threshold)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Model (*.pt)")
        if path:
            self.load_model(path)

    # --- parameters ---

    def threshold(self) -> float:
        """The threshold of the slider, in [0, 1]."""
        return self.threshold_slider.value() / 100.0

    def set_threshold(self, value: float) -> None:
        """Move the slider (and filter the shown picks) to ``value``."""
        self.threshold_slider.setValue(round(float(value) * 100))

    def pick_config(self) -> Any:
        """The core ``PickConfig`` of the current settings."""
        from napari_cryopick.core.detect import PickConfig

        return PickConfig(
            threshold=self.threshold(),
            rotations=self.rotations_check.isChecked(),
            reject_std=self.reject_std_check.isChecked(),
            head=self.head_combo.currentText() or None,
            device=self.device_combo.currentText(),
        )

    def measured_diameter(self) -> float | None:
        """The particle diameter the user measured or clicked on the current micrograph.

        None when the model picks no particles (a vesicle or fiber model works
        at its own objects' scale, from its model card).
        """
        kinds = tuple(getattr(getattr(self.model, "config", None), "kinds", ("particle",)))
        if "particle" not in kinds:
            return None
        mlayer = current_micrograph_layer(self.viewer)
        if mlayer is None:
            return None
        return micrograph_diameter(mlayer)

    def _on_layers_changed(self, _event: Any = None) -> None:
        diameter = self.measured_diameter()
        if diameter and abs(self.diameter_spin.value() - diameter) > 0.05:
            self.diameter_spin.setValue(diameter)

    def _on_layers_inserted(self, event: Any) -> None:
        """A micrograph opened: the result layers are made now if the viewer has none.

        (``ensuring_result_layers``: one layer per turn, so picking later only
        updates them.) A closed micrograph's results leave the session with it
        (``follow_micrographs``), and the review table follows
        (``picks_changed``).
        """
        self._on_layers_changed()
        self._listen_to_edits(event.value)
        if is_micrograph_layer(event.value):
            self._showing.add(ensuring_result_layers(self.viewer, self._model_kinds()))

    def _model_kinds(self) -> tuple[str, ...]:
        return tuple(getattr(getattr(self.model, "config", None), "kinds", ("particle",)))

    def _diameter_warning(self) -> str:
        measured = self.measured_diameter()
        value = self.diameter_spin.value()
        if measured and abs(value - measured) > DIAMETER_MISMATCH * measured:
            return (
                f"Warning: diameter {value:.0f} px, but this micrograph's diameter in Annotate "
                f"is {measured:.0f} px (typed, measured, or taken from another micrograph of "
                "its data set). "
            )
        return ""

    @staticmethod
    def _scale_warning(item: Any) -> str:
        """The zero-shot scale search's warning for a picked micrograph ("" if none)."""
        confidences = getattr(item, "scale_confidences", None)
        if not confidences:
            return ""
        return _scale_texts(item.diameter_factor, confidences, item.diameter_px)[0]

    def _on_threshold_changed(self, value: int) -> None:
        threshold = value / 100.0
        self.threshold_label.setText(f"{threshold:.2f}")
        session(self.viewer).display_threshold = threshold
        self._refilter()

    def diameter_range(self) -> tuple[float | None, float | None]:
        """The size filter ``(min, max)`` in pixels; None where the box says "any"."""
        low, high = self.min_diameter_spin.value(), self.max_diameter_spin.value()
        return (low if low > 0 else None, high if high > 0 else None)

    def set_diameter_range(self, low: float | None = None, high: float | None = None) -> None:
        """Show only picks of diameter ``low`` to ``high`` pixels (None: no bound)."""
        self.min_diameter_spin.setValue(low or 0.0)
        self.max_diameter_spin.setValue(high or 0.0)

    def _on_size_changed(self, _value: float = 0.0) -> None:
        session(self.viewer).display_diameter = self.diameter_range()
        self._refilter()

    def _refilter(self) -> None:
        """Apply the threshold and size filter to every picked micrograph (no network).

        The displayed micrograph's layers and the status line at once; the
        review table's counts (every row changes) a moment later, once the
        slider rests (:meth:`_schedule_review`). With several micrographs
        whose fibers are traced at the new threshold, the status comes with
        the table (tracing costs 0.1-0.7 s a micrograph).
        """
        threshold = self.threshold()
        state = session(self.viewer)
        names = list(state.pick_results)
        shown = {name: apply_display_threshold(self.viewer, name, threshold) for name in names}
        if not names:
            return
        self._schedule_review(None)
        if len(names) == 1:  # with its vesicles and fibers
            self._status_with_review = False
            if self.worker is None:
                self.status.setText(self._filter_text(shown_objects(self.viewer, names[0])))
            return
        totals = {"picks": 0, "vesicles": 0, "fibers": 0}
        for name, particles in shown.items():
            counts = _counts_without_tracing(self.viewer, name, threshold, particles or 0)
            if counts is None:  # its fibers are traced first: the table's refresh says
                self._status_with_review = True
                return
            for kind, n in counts.items():
                totals[kind] += n
        self._status_with_review = False
        if self.worker is None:
            self.status.setText(self._filter_text(_objects_text(totals, self._model_kinds())))

    def _filter_text(self, objects: str) -> str:
        """``"<objects> at threshold 0.15"``, with the size filter and what it does not change."""
        from napari_cryopick.core.text import name_list

        state = session(self.viewer)
        names = list(state.pick_results)
        text = f"{objects} at threshold {self.threshold():.2f}"
        low, high = state.display_diameter
        if low is not None or high is not None:
            text += f", diameter {low or 0:.0f}–{high or float('inf'):.0f} px"
            sizeless = [n for n in names if not _has_diameters(state.pick_results[n].picks)]
            if sizeless:
                text += f" (no diameters in the picks of {', '.join(sizeless)}: not size-filtered)"
        edited = [n for n in names if "fiber" in state.pick_results[n].edited]
        if edited:
            text += (
                f"; the fiber paths of {name_list(edited)} stay as you edited them (those scoring "
                "below the threshold hidden, none traced again: Pick traces anew)"
            )
        return text

    # --- picking ---

    def pick_request(self, micrographs: list[Any], **fields: Any) -> Any:
        """The workflow ``PickRequest`` of the form for ``micrographs``.

        ``diameter_px`` (a field) overrides the Diameter box.
        """
        from napari_cryopick.workflows.pick import PickRequest

        diameter = float(fields.pop("diameter_px", self.diameter_spin.value()))
        key = self._scale_key(diameter)
        if "diameter_factor" not in fields and key in self._scale_choices:
            # zero-shot: the scale and contrast chosen on the first micrographs picked
            # with this model, diameter and head, so every micrograph of the session gets them
            factor, inverted = self._scale_choices[key]
            fields["diameter_factor"] = factor
            fields.setdefault("invert_contrast", inverted)
        return PickRequest(
            micrographs=micrographs,
            model=self.model,
            metadata=self._model_metadata() or None,
            head=self.head_combo.currentText() or None,
            diameter_px=diameter,
            threshold=self.threshold(),
            options={
                "rotations": self.rotations_check.isChecked(),
                "reject_std": self.reject_std_check.isChecked(),
            },
            device=self.device_combo.currentText(),
            **fields,
        )

    def _scale_key(self, diameter: float | None = None) -> tuple:
        """What a zero-shot scale choice holds for: the model, the diameter and the head."""
        diameter = self.diameter_spin.value() if diameter is None else diameter
        return (id(self.model), round(float(diameter), 3), self.head_combo.currentText())

    def _run(self, micrographs: list[Any], diameters: list[float] | None = None) -> Any:
        from napari.qt.threading import create_worker

        if self.model is None:
            self.status.setText("No model: train one or load a model file first.")
            return None
        if self.worker is not None:
            return self.worker
        if not micrographs:
            self.status.setText("Open a micrograph first.")
            return None
        groups: dict[float, list[Any]] = {}  # one request per diameter, in their order
        if diameters is None:
            diameters = [self.diameter_spin.value()] * len(micrographs)
        for micrograph, diameter in zip(micrographs, diameters, strict=True):
            groups.setdefault(float(diameter), []).append(micrograph)
        try:
            requests = [self.pick_request(mics, diameter_px=d) for d, mics in groups.items()]
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        self._request_scale_keys = {round(d, 3): self._scale_key(d) for d in groups}
        self._cancel = threading.Event()
        job = requests[0] if len(requests) == 1 else requests
        worker = create_worker(_picking_job, job, self._cancel, _start_thread=False)
        self._trained_warning = "".join(  # shown with each result too
            dict.fromkeys(_trained_diameter_text(request) for request in requests)
        ) + self._head_warning([m.name for m in micrographs])
        warning = self._diameter_warning() + self._trained_warning
        worker = self._start(worker, len(micrographs), self._on_picked)
        if warning:
            self.status.setText(warning + "Picking…")
        return worker

    def _start(
        self,
        worker: Any,
        total: int,
        on_yielded: Any,
        on_returned: Any = None,
        what: str = "Picking",
    ) -> Any:
        """Wire a worker (picking, export) to the progress bars, Cancel and status; start it."""
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        worker.yielded.connect(on_yielded)
        if on_returned is not None:
            worker.returned.connect(on_returned)
        worker.errored.connect(
            lambda exc: self.status.setText(f"{what} failed: {short_error(exc)}")
        )
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._set_busy(True)
        self.status.setText(f"{what}…")
        self._showing.add(self._progress.starting(worker, total, f"cryopick {what.lower()}"))
        return worker

    def cancel(self) -> None:
        """Stop picking after the current micrograph (files written so far are complete)."""
        if self.worker is None:
            return
        self._cancel.set()
        self.status.setText("Cancelling after the current micrograph…")

    def _set_busy(self, busy: bool) -> None:
        buttons = (
            self.pick_current_button,
            self.pick_all_button,
            self.pick_folder_button,
            self.export_button,
            self.load_button,
        )
        for button in buttons:
            button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _advance(self, step: int) -> None:
        # QProgressBar.setValue repaints at once; each repaint composes the whole window (a
        # software-GL pass on a machine without a GPU). Posted instead: it is painted with
        # the status line in one pass (napari's progress bar below processes events).
        self.progress_bar.setUpdatesEnabled(False)
        self.progress_bar.setValue(step)
        self.progress_bar.setUpdatesEnabled(True)
        self._progress.advance_to(step)

    def _on_picked(self, event: Any) -> None:
        if event.item is None:
            self.status.setText(f"{event.step}/{event.total} {event.error}")
            self._advance(event.step)
        else:
            self._showing.add(self._showing_picked(event))

    def _showing_picked(self, event: Any) -> Iterator[None]:
        """Show one picked micrograph step by step (layers, count, progress)."""
        name = event.item.name
        if name not in session_micrographs(self.viewer):
            # closed while it was being picked: its results left the session with it
            self.status.setText(
                f"{name}: closed while picking, its picks are dropped ({event.step}/{event.total})"
            )
            self._advance(event.step)
            return
        factor = float(getattr(event.item, "diameter_factor", 1.0))
        inverted = bool(getattr(event.item, "inverted", False))
        key = self._request_scale_keys.get(round(float(event.item.diameter_px), 3))
        if key is not None:  # (the model, diameter and head the job was started with)
            self._scale_choices[key] = (factor, inverted)
        yield from showing_pick_result(self.viewer, name, event.item, self.threshold())
        apply_display_threshold(self.viewer, name, self.threshold())
        shown = shown_objects(self.viewer, name)
        scale = ""
        if factor != 1.0:
            scale = (
                f", at {factor:g} x the diameter (zero-shot scale: as if "
                f"{event.item.diameter_px * factor:.0f} px)"
            )
        if inverted:
            scale += ", on the inverted micrograph (particles lighter than the background)"
        self.status.setText(
            f"{self._diameter_warning()}{self._trained_warning}"
            f"{self._scale_warning(event.item)}{name}: {shown} "
            f"at threshold {self.threshold():.2f}{scale} ({event.step}/{event.total})"
        )
        yield
        self._advance(event.step)  # last: napari's progress bar may process events

    def _on_finished(self) -> None:
        self._showing.add(self._finishing())

    def _finishing(self) -> Iterator[None]:
        """After the worker: wait for its results to be shown, then free the buttons."""
        self.worker = None
        self._progress.close()
        self._set_busy(False)
        if self._cancel.is_set():
            self.status.setText(
                f"Cancelled after {self.progress_bar.value()} of {self.progress_bar.maximum()} "
                "micrograph(s); files written so far are complete."
            )
        yield

    def _head_warning(self, names: list[str]) -> str:
        """A warning naming the micrographs whose data set has a head of its own in the
        model, picked with another head (the Head box's).

        A trial picked ribosome and β-gal micrographs with "Pick all open" while the
        Head box showed the apoferritin head of the model it had loaded: every one
        was picked with it (AP 0.61 and 0.45 against 0.67 and 0.64) without a word.
        """
        from .annotate import find_micrograph_layer

        head = self.head_combo.currentText()
        heads = set(getattr(self.model, "head_names", ()) or ())
        others: dict[str, list[str]] = {}
        for name in names:
            mlayer = find_micrograph_layer(self.viewer, name)
            dataset = micrograph_dataset(mlayer) if mlayer is not None else ""
            if dataset and dataset in heads and dataset != head:
                others.setdefault(dataset, []).append(name)
        if not head or not others:
            return ""
        parts = [
            f"{', '.join(mics[:3])}{', …' if len(mics) > 3 else ''} (data set '{dataset}')"
            for dataset, mics in others.items()
        ]
        one = sum(map(len, others.values())) == 1
        return (
            f"Warning: picked with head '{head}', but {'; '.join(parts)} "
            f"{'has a head of its own' if one else 'have heads of their own'} in the model: "
            "choose it in the Head box and pick again. "
        )

    def _micrograph(self, layer: Any) -> Any:
        from napari_cryopick.io.micrographs import Micrograph

        return Micrograph(
            np.asarray(layer.data, np.float32),
            pixel_size=layer.metadata.get("pixel_size"),
            name=micrograph_name(layer),
        )

    def pick_current(self) -> Any:
        """Pick the current micrograph in the background; returns the worker."""
        mlayer = current_micrograph_layer(self.viewer)
        return self._run([] if mlayer is None else [self._micrograph(mlayer)])

    def pick_all_open(self) -> Any:
        """Pick every open micrograph in the background; returns the worker.

        A file open twice is picked once; different files of the same name are
        refused (their results and pick files would be one), with their paths.
        """
        layers, clashes = distinct_micrographs(micrograph_layers(self.viewer))
        if clashes:
            self.status.setText(clash_message(clashes))
            return None
        return self._run(
            [self._micrograph(layer) for layer in layers],
            [self._diameter_of(layer) for layer in layers],
        )

    def _diameter_of(self, layer: Any) -> float:
        """The diameter ``layer`` is picked at: its own (Annotate's, clicked or measured)
        for a model of particles; else the Diameter box (a vesicle or fiber model's card).

        A trial picked a ribosome micrograph (56 px) at the 27 px of the β-gal
        micrograph shown, with "Pick all open".
        """
        own = micrograph_diameter(layer) if "particle" in self._model_kinds() else None
        return float(own) if own else self.diameter_spin.value()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of micrographs")
        if folder:
            self.pick_folder(folder)

    def pick_folder(self, folder: str | Path) -> Any:
        """Pick every micrograph file in ``folder`` and write pick files (export folder/format)."""
        from napari.qt.threading import create_worker

        from napari_cryopick.io.paths import micrograph_files

        if self.model is None:
            self.status.setText("No model: train one or load a model file first.")
            return None
        if self.worker is not None:
            return self.worker
        try:  # the one folder expansion (io.paths), as cryopick pick does
            paths = micrograph_files([folder])
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            return None
        out_dir = self.export_edit.text().strip() or str(Path(folder) / "cryopick_picks")
        self.export_edit.setText(out_dir)
        from napari_cryopick.workflows.pick import prepare

        floor = KEEP_CANDIDATES if self.keep_candidates_check.isChecked() else None
        try:
            request = self.pick_request(
                paths,
                out_dir=Path(out_dir),
                formats=(self.format_combo.currentText(),),
                keep_candidates=floor,
            )
            # a bad format/kind combination is reported now, not in the worker
            self._trained_warning = _warning_texts(prepare(request).warnings)
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        from ._child_picking import pick_in_child

        self._request_scale_key = self._scale_key()
        self._cancel = threading.Event()
        # a child process: its numpy/torch work never holds this process's GIL or its cores
        job = pick_in_child if FOLDER_PICKING_IN_CHILD else _picking_job
        worker = create_worker(job, request, self._cancel, _start_thread=False)
        return self._start(worker, len(paths), self._on_folder_progress, self._on_folder_done)

    def _on_folder_progress(self, event: Any) -> None:
        # the status first: napari's progress bar may process events (the end, re-entering)
        self.status.setText(f"{self._trained_warning}{event.step}/{event.total} {event.postfix()}")
        self._advance(int(event.step))

    def _on_folder_done(self, batch: Any) -> None:
        if batch is None:
            return  # cancelled: _on_finished says so
        self.last_batch = batch
        text = (
            f"{self._trained_warning}{_objects_text(_object_counts(batch.picks), self._model_kinds())} in "
            f"{len(batch.written)} files -> "
            f"{self.export_edit.text()}"
        )
        if batch.inverted:
            text += "; picked on the inverted micrographs (particles lighter than the background)"
        if batch.scale_confidences:  # zero-shot: the scale chosen on the folder's first files
            self._scale_choices[self._request_scale_key] = (
                float(batch.diameter_factor),
                bool(batch.inverted),
            )
            warned, line = _scale_texts(
                batch.diameter_factor, batch.scale_confidences, self._request_scale_key[1]
            )
            text = f"{warned}{text}; {line}"
        if batch.errors:
            # one line per skipped file; each message starts with the file's path
            text += f"\n{len(batch.errors)} skipped:\n" + "\n".join(batch.errors.values())
        self.status.setText(text)

    # --- reviewing many micrographs ---

    def _review_names(self) -> list[str]:
        if self._folder_files:  # reviewing a folder: one row per micrograph file
            return [path.stem for path in self._folder_files]
        return sorted(session(self.viewer).pick_results)

    def _choose_review_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of micrographs to review")
        if folder:
            picks = QFileDialog.getExistingDirectory(self, "Folder of their pick files")
            self.review_folder(folder, picks or None)

    def review_folder(self, folder: str | Path, picks_folder: str | Path | None = None) -> int:
        """Step through the micrograph files of ``folder``, one open at a time.

        Showing a row (click, Previous, Next) opens that micrograph, closes
        the one opened before by the review, and loads its pick file from
        ``picks_folder`` (every candidate, see :meth:`load_picks`). Returns
        the number of micrographs.
        """
        from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

        self._folder_files = sorted(
            p
            for p in Path(folder).iterdir()
            if p.is_file() and p.suffix.lower() in MICROGRAPH_SUFFIXES
        )
        self._picks_folder = None if picks_folder is None else Path(picks_folder)
        problem = "" if self._picks_folder is None else self._load_reviewed(self._picks_folder)
        self.refresh_review_table()
        self.status.setText(
            "\n".join(
                t
                for t in (f"Reviewing {len(self._folder_files)} micrograph(s) of {folder}", problem)
                if t
            )
        )
        return len(self._folder_files)

    def _open_for_review(self, name: str) -> None:
        """Open the folder micrograph ``name`` (closing the previous one) with its picks."""
        path = next((p for p in self._folder_files if p.stem == name), None)
        if path is None:
            return
        open_now = [m for m in micrograph_layers(self.viewer) if micrograph_name(m) == name]
        if open_now:
            other = layer_path(open_now[0])
            if other is not None and other.resolve() != path.resolve():
                # a re-trial: nothing opened and nothing said; the review row could be
                # ticked Reviewed for a micrograph never shown
                self.status.setText(
                    f"{name} is open from {other}: close it to review {path} (one "
                    "micrograph name is one layer)."
                )
            return
        previous, self._review_open = self._review_open, name
        state = session(self.viewer)
        for mlayer in micrograph_layers(self.viewer):
            if previous is not None and micrograph_name(mlayer) == previous:
                state.retained.add(previous)  # its picks, corrected, stay for export and return
                self.viewer.layers.remove(mlayer)
        self.viewer.open(str(path), plugin="napari-cryopick")
        if name in state.pick_results:
            display(self.viewer, name)  # back to a reviewed one: as the user left it
        elif self._picks_folder is not None:
            self.load_picks(self._picks_folder, only=name)

    def _on_picks_changed(self, name: str) -> None:
        self.refresh_review_rows([name])
        state = session(self.viewer)
        if name in state.pick_results:  # picked (or opened) again: nothing to say any more
            state.discarded_corrections.discard(name)
        elif name in state.discarded_corrections:
            # closed with corrections not yet kept (a trial lost them without a word)
            state.discarded_corrections.discard(name)
            self.status.setText(
                f"{name} closed: its picks and your corrections of them (picks deleted, "
                "moved or added) left the session; files exported and training labels "
                "keep what they saved."
            )

    def _listen_to_edits(self, layer: Any) -> None:
        """Edits of a shared result layer (picks, circles, paths) refresh its micrograph's row."""
        if layer.metadata.get(SHOWS_KEY) not in ("picks", *_SHAPE_KINDS):
            return
        layer.events.data.connect(self._on_result_edited)
        self.destroyed.connect(lambda *_args: layer.events.data.disconnect(self._on_result_edited))

    def _on_result_edited(self, _event: Any = None) -> None:
        displayed = session(self.viewer).displayed
        if displayed:
            self._schedule_review(displayed)

    def _schedule_review(self, name: str | None) -> None:
        """Refresh ``name``'s row of the review table (None: every row) when the user rests.

        A slider drag or a path being reshaped changes the counts many times a
        second; the table follows once, :data:`REVIEW_DELAY_MS` after the last.
        """
        if name is None:
            self._review_all = True
        else:
            self._review_pending.add(name)
        self._review_timer.start()

    def _refresh_scheduled_review(self) -> None:
        names, self._review_pending = self._review_pending, set()
        everything, self._review_all = self._review_all, False
        if everything:
            self.refresh_review_table()
        else:
            self.refresh_review_rows(names)
        if everything and self._status_with_review and self.worker is None:
            self._status_with_review = False
            state = session(self.viewer)
            totals = {"picks": 0, "vesicles": 0, "fibers": 0}
            for name, counts in self._review_counts.items():
                if name in state.pick_results:
                    for kind, n in counts.items():
                        totals[kind] += n
            self.status.setText(self._filter_text(_objects_text(totals, self._model_kinds())))

    def _review_row(self, name: str) -> tuple[tuple[str, int, float, bool], str]:
        """``(name, objects, mean score, reviewed)`` of a micrograph and its count's text.

        Objects are counted as the user sees them (:func:`result_picks`): one
        per particle pick, vesicle circle and fiber (not one per vertex of its
        path); the text names the vesicles and fibers among them, e.g.
        ``"4 (2 vesicles, 1 fibers)"``. The mean score is one score per object.
        """
        # the displayed micrograph from its layers, the others from the session's store
        table = result_picks(self.viewer, name)
        counts = _object_counts(table)
        self._review_counts[name] = counts
        scores = _object_scores(table)
        mean = float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")
        total = sum(counts.values())
        others = [f"{n} {kind}" for kind, n in counts.items() if kind != "picks" and n]
        text = f"{total} ({', '.join(others)})" if others else str(total)
        return (name, total, mean, name in session(self.viewer).reviewed), text

    def _set_review_row(self, row: int, values: tuple[str, int, float, bool], text: str) -> None:
        name, _count, mean, reviewed = values
        cells = (
            name,
            text,
            "–" if not np.isfinite(mean) else f"{mean:.2f}",
            "yes" if reviewed else "",
        )
        for column, value in enumerate(cells):
            self.review_table.setItem(row, column, QTableWidgetItem(value))

    def refresh_review_table(self) -> list[tuple[str, int, float, bool]]:
        """Fill the table: micrograph, shown objects, their mean score, reviewed flag.

        Every row (:meth:`_review_row`); :meth:`refresh_review_rows` refreshes
        some.
        """
        names = self._review_names()
        rows = [self._review_row(name) for name in names]
        self._review_counts = {name: self._review_counts[name] for name in names}
        self.review_table.setRowCount(len(rows))
        for row, (values, text) in enumerate(rows):
            self._set_review_row(row, values, text)
        self._review_order = {name: row for row, name in enumerate(names)}
        return [values for values, _text in rows]

    def refresh_review_rows(self, names: Any) -> None:
        """Refresh the rows of ``names`` only (and insert those of micrographs new to it).

        Counting a micrograph traces its fibers: a table of thousands of
        micrographs is refreshed whole only when micrographs left it.
        """
        order = self._review_names()
        before = self._review_order
        if [name for name in order if name in before] != list(before):
            self.refresh_review_table()  # micrographs went (closed): renumber every row
            return
        names = list(names)
        for row, name in enumerate(order):  # a new micrograph picked: its row is inserted
            if name not in before:
                self.review_table.insertRow(row)
                names.append(name)
        self._review_order = {name: row for row, name in enumerate(order)}
        for name in dict.fromkeys(names):
            row = self._review_order.get(name)
            if row is not None:
                self._set_review_row(row, *self._review_row(name))

    def show_micrograph(self, row: int) -> str | None:
        """Show the micrograph of table row ``row`` and its layers alone; select it."""
        names = self._review_names()
        if not 0 <= row < len(names):
            return None
        name = names[row]
        if self._folder_files:
            self._open_for_review(name)
            self.refresh_review_table()
        show_only_micrograph(self.viewer, name)
        for mlayer in micrograph_layers(self.viewer):
            if micrograph_name(mlayer) == name:
                self.viewer.layers.selection.active = mlayer
        self.review_table.selectRow(row)
        self._show_reviewed(name in session(self.viewer).reviewed)
        return name

    def step_micrograph(self, step: int) -> str | None:
        """Show the next (``+1``) or previous (``-1``) picked micrograph."""
        names = self._review_names()
        if not names:
            return None
        rows = self.review_table.selectionModel().selectedRows()
        current = rows[0].row() if rows else -1
        return self.show_micrograph(min(max(current + step, 0), len(names) - 1))

    def _choose_picks_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of pick files")
        if folder:
            self.load_picks(folder)

    def load_picks(self, folder: str | Path, only: str | None = None) -> list[str]:
        """Load ``<micrograph>.<format>`` of each open micrograph from ``folder`` for review.

        Every row of a file becomes a candidate (with its score, where the
        file has one), shown at the slider's threshold like freshly picked
        ones. The reviewed flags saved in the folder (:data:`REVIEW_FILE`)
        come back, and marking a micrograph reviewed saves there from now on.
        Returns the micrographs loaded.
        """
        from napari_cryopick.io.pickfiles import read_picks

        folder = Path(folder)
        self._picks_folder = folder  # the reviewed flags are saved here
        loaded, problems = [], []
        problem = self._load_reviewed(folder)
        if problem:
            problems.append(problem)
        for mlayer in micrograph_layers(self.viewer):
            name = micrograph_name(mlayer)
            if only is not None and name != only:
                continue
            files = [folder / f"{name}.{ext}" for ext in ("star", "cbox", "box", "txt", "csv")]
            path = next((f for f in files if f.is_file()), None)
            if path is None:
                continue
            try:
                table = read_picks(path, micrograph=name)
            except (ValueError, OSError) as exc:
                problems.append(str(exc))
                continue
            # best first; a fiber's vertices stay in the file's order (its path)
            traced = table["tube_id"] > 0
            ranked = table[~traced].sort_values("score", ascending=False, na_position="first")
            table = pd.concat([ranked, table[traced]]) if traced.any() else ranked
            # the file replaces what the session had (its picks without score included)
            result = ShownResult(table.reset_index(drop=True), None)
            show_pick_result(self.viewer, name, result, keep_manual=False, honour_negatives=False)
            apply_display_threshold(self.viewer, name, self.threshold())
            loaded.append(name)
        text = f"Loaded picks of {len(loaded)} micrograph(s) from {folder}"
        self.status.setText("\n".join([text, *problems]))
        return loaded

    def _shown_micrograph(self) -> str | None:
        """The micrograph on screen (worked on), else the review table's selected row's."""
        current = current_micrograph_layer(self.viewer)
        if current is not None:
            return micrograph_name(current)
        rows = self.review_table.selectionModel().selectedRows()
        names = self._review_names()
        return names[rows[0].row()] if rows and rows[0].row() < len(names) else None

    def _show_reviewed(self, checked: bool) -> None:
        """Set the Reviewed box without it marking anything (``_on_reviewed_toggled``)."""
        self.reviewed_check.blockSignals(True)
        self.reviewed_check.setChecked(checked)
        self.reviewed_check.blockSignals(False)

    def _sync_review_controls(self, shown: Any = None) -> None:
        """The Reviewed box and the table's selection follow the micrograph on screen.

        Shown through Annotate's Micrograph box (``shown``: its name, sent
        before its layer is activated) or the layer list, the box kept the
        table row's micrograph, and ticking it marked that one (a trial).
        """
        name = shown if isinstance(shown, str) and shown else self._shown_micrograph()
        if name is None:
            return
        self._show_reviewed(name in session(self.viewer).reviewed)
        row = self._review_order.get(name)
        if row is not None and row < self.review_table.rowCount():
            self.review_table.selectRow(row)

    def _on_reviewed_toggled(self, checked: bool) -> None:
        name = self._shown_micrograph()
        names = self._review_names()
        if name is None or name not in names:
            # nothing to mark: the box says so instead of staying ticked for nothing
            self._show_reviewed(False)
            self.status.setText(
                f"{name or 'This micrograph'} has no picks to review yet: pick it first."
            )
            return
        reviewed = session(self.viewer).reviewed
        if checked:
            reviewed.add(name)
        else:
            reviewed.discard(name)
        if self._picks_folder is not None:  # kept with the pick files, for the next session
            try:
                write_reviewed(self._picks_folder, name, checked)
            except OSError as exc:
                self.status.setText(f"Could not save the reviewed flag: {exc}")
        self.refresh_review_table()
        row = self._review_order.get(name)
        if row is not None:
            self.review_table.selectRow(row)

    def _load_reviewed(self, folder: Path) -> str:
        """Add the reviewed flags saved in ``folder`` to the session; a problem as one line."""
        try:
            session(self.viewer).reviewed.update(read_reviewed(folder))
        except ValueError as exc:
            return str(exc)
        return ""

    # --- export and labels ---

    def _browse_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder")
        if folder:
            self.export_edit.setText(folder)

    def _choose_export(self) -> None:
        if not self.export_edit.text().strip():
            self._browse_export()
        if self.export_edit.text().strip():
            self.export_in_background()

    def export_in_background(self) -> Any:
        """:meth:`export` with the files written in a worker; returns the worker."""
        from napari.qt.threading import create_worker

        table = self._shown_picks()
        if table is None:
            return None
        if self.worker is not None:
            return self.worker
        folder = Path(self.export_edit.text().strip())
        format = self.format_combo.currentText()
        items = self._checked_export_items(table, format)
        if items is None:
            return None
        self._cancel = threading.Event()
        worker = create_worker(_exporting, items, folder, format, self._cancel, _start_thread=False)
        self._start(
            worker,
            len(items),
            lambda done: self._advance(int(done[0])),
            lambda written: self._exported(table, written, folder, format),
            what="Export",
        )
        self.status.setText(
            f"Writing {_objects_text(_object_counts(table), self._model_kinds())} to {folder}…"
        )
        return worker

    def _checked_export_items(self, table: pd.DataFrame, format: str) -> list | None:
        """:func:`_export_items`; None (and the status says why) when fibers cannot be written
        in ``format`` (``cryopick pick`` refuses the same)."""
        from napari_cryopick.workflows.pick import check_fiber_formats, kind_format_warning

        self._export_warning = ""
        names = list(session(self.viewer).pick_results)
        items = _export_items(self.viewer, table, self.diameter_spin.value(), names)
        try:
            for _item, kinds in items:
                check_fiber_formats(kinds, (format,))
        except ValueError as exc:
            self.status.setText(f"Export: {exc} (choose another format)")
            return None
        kinds = {kind for _item, item_kinds in items for kind in item_kinds}
        warning = kind_format_warning(sorted(kinds), (format,))
        self._export_warning = "" if warning is None else f"\nWarning: {warning}"
        return items

    def _shown_picks(self) -> pd.DataFrame | None:
        """The shown picks of every picked micrograph (None: none picked yet).

        A picked micrograph whose picks were all deleted adds no rows but is
        exported still (an empty file, :func:`_export_items`).
        """
        names = list(session(self.viewer).pick_results)
        if not names:
            self.status.setText("Nothing to export: pick first.")
            return None
        tables = [t for t in (result_picks(self.viewer, name) for name in names) if len(t)]
        return pd.concat(tables, ignore_index=True) if tables else empty_picks()

    def _exported(self, table: pd.DataFrame, written: list, folder: Path, format: str) -> None:
        self.last_exported = list(written)
        if self._cancel.is_set():
            return  # the end of the job says how far it came
        earlier = sorted(set(table["micrograph"].astype(str)) & session(self.viewer).earlier_model)
        note = ""
        if earlier:
            listed = ", ".join(earlier[:3]) + (", …" if len(earlier) > 3 else "")
            note = (
                f"\nWarning: the picks of {len(earlier)} of these micrograph(s) ({listed}) "
                "were made by an earlier model than the current one: 'Pick all open' "
                "re-picks them with it"
            )
        self.status.setText(
            f"Exported {_objects_text(_object_counts(table), self._model_kinds())}{self._unscored_text(table)} to "
            f"{len(written)} {format} file(s) in {folder}{note}"
            f"{self._export_warning}"
        )

    def _unscored_text(self, table: pd.DataFrame) -> str:
        """``" (2 added by hand, no score)"``: the objects (picks, circles, paths) without a score.

        Those of a micrograph whose result has scores were added by hand; a
        micrograph read from a file without scores says so instead.
        """
        stored = session(self.viewer).pick_results
        by_hand = unscored = 0
        for name, part in table.groupby(table["micrograph"].astype(str)):
            count = int(np.isnan(_object_scores(part)).sum())
            result = stored.get(name)
            if result is not None and not result.picks["score"].notna().any():
                unscored += count
            else:
                by_hand += count
        parts = [f"{by_hand} added by hand, no score"] if by_hand else []
        if unscored:
            parts.append(f"{unscored} read from files without scores")
        return f" ({'; '.join(parts)})" if parts else ""

    def export(self, folder: str | Path | None = None, format: str | None = None) -> list[Path]:
        """Write the shown (edited) picks, one file per micrograph, as ``cryopick pick`` does.

        Hand-added picks are written without a score (NaN / no score column
        value), never with one borrowed from another pick. Fibers are written
        as the command line writes them (RELION helical start/end pairs,
        crYOLO filaments, CSV with ``tube_id``; beside particles or vesicles in
        ``<micrograph>_fibers.<ext>``).
        """
        folder = Path(folder or self.export_edit.text().strip())
        format = format or self.format_combo.currentText()
        table = self._shown_picks()
        if table is None:
            return []
        self._cancel = threading.Event()  # nothing to cancel here (a job's flag is done with)
        items = self._checked_export_items(table, format)
        if items is None:
            return []
        try:
            written = drive(_exporting(items, folder, format, self._cancel))
        except (ValueError, OSError) as exc:
            self.status.setText(f"Export failed: {exc}")
            return []
        self._exported(table, written, folder, format)
        return self.last_exported

    def use_as_labels(self) -> Path | None:
        """Add the shown picks, circles and fibers of the current micrograph to its annotations.

        Particles: the user's own clicks stay exactly where they are; a pick
        within half a diameter of a click is the same particle and is not
        added again. The picks the user deleted (:func:`deleted_picks`)
        become negatives (junk the next training learns to score low), unless
        a particle label or a negative lies within half a diameter. Vesicles:
        the shown circles (centre and diameter, as corrected) join the vesicle
        annotations, unless an annotated circle's centre lies within their
        radius. Fibers: the shown paths join the fiber annotations (their
        vertices, one tube each, as drawn fibers are kept), unless one runs
        along a drawn path. The annotations are saved to the micrograph's
        sidecar at once.
        """
        from .annotate import (
            current_labels,
            merge_fiber_labels,
            merge_negative_labels,
            merge_particle_labels,
            merge_vesicle_labels,
            replace_annotations,
        )

        mlayer = current_micrograph_layer(self.viewer)
        if mlayer is None:
            self.status.setText("Open a micrograph first.")
            return None
        name = micrograph_name(mlayer)
        picks = result_picks(self.viewer, name)
        vesicles = picks[picks["kind"] == "vesicle"]
        fibers = picks[picks["kind"] == "fiber"]
        diameter = self.diameter_spin.value()
        state = session(self.viewer)
        current = _current_picks(self.viewer, name)
        texts, saved, unreviewed = [], None, ""
        # a vesicle or fiber model's result without particle picks adds no particle labels
        if (current is not None and len(current)) or not (len(vesicles) or len(fibers)):
            particles = picks[picks["kind"] == "particle"]
            if micrograph_diameter(mlayer) is None:  # the labels' diameter: Annotate shows it
                set_micrograph_settings(self.viewer, mlayer, diameter_px=diameter)
            table, added = merge_particle_labels(self.viewer, mlayer, particles, diameter)
            negatives, junk = merge_negative_labels(
                self.viewer, mlayer, deleted_picks(self.viewer, name, diameter), table, diameter
            )
            if junk:  # the picks the user deleted are junk: negatives to train on
                replace_annotations(self.viewer, mlayer, negatives, "negative")
            saved = replace_annotations(self.viewer, mlayer, table, "particle")
            deleted = f", {junk} deleted picks as negatives" if junk else ""
            texts.append(
                f"{len(table)} particle labels ({added} added from the picks{deleted}, "
                "your clicks unchanged)"
            )
            if added and name not in state.reviewed:
                # a trial pressed it on 723 shown picks, 340 of them false: all labels now
                unreviewed = (
                    f" Note: {name} is not marked Reviewed: every shown pick became a "
                    f"particle label; delete the false ones in the '{mlayer.name} particle' "
                    "layer (they are not picks any more)."
                )
        _store_shape_edits(self.viewer, name)  # circles and paths deleted since
        stored = state.pick_results.get(name)
        gone = stored.deleted_shapes if stored is not None else ()
        if gone:  # the network's circles and paths the user deleted are junk too
            spots = pd.DataFrame(np.asarray(gone, float).reshape(-1, 2), columns=["x", "y"])
            negatives, junk = merge_negative_labels(
                self.viewer,
                mlayer,
                spots,
                current_labels(self.viewer, mlayer, "particle"),
                diameter,
            )
            if junk:
                saved = replace_annotations(self.viewer, mlayer, negatives, "negative")
                texts.append(f"{junk} deleted circles or paths as negatives")
        if len(vesicles):
            table, added = merge_vesicle_labels(self.viewer, mlayer, vesicles)
            saved = replace_annotations(self.viewer, mlayer, table, "vesicle")
            texts.append(f"{len(table)} vesicle labels ({added} added from the circles)")
        if len(fibers):
            known = fibers["diameter"].notna()
            width = float(fibers.loc[known, "diameter"].median()) if known.any() else diameter
            if micrograph_diameter(mlayer) is None:  # the width training densifies paths at
                set_micrograph_settings(self.viewer, mlayer, diameter_px=width)
            table, added = merge_fiber_labels(self.viewer, mlayer, fibers, width)
            saved = replace_annotations(self.viewer, mlayer, table, "fiber")
            count = int(table["tube_id"].nunique())
            texts.append(f"{count} fiber labels ({added} added from the traced fibers)")
        if name in state.pick_results:
            # saved as labels: the corrections are safe, a training preview may redraw
            # the micrograph, and later deletions and circle edits count from here
            _store_shape_edits(self.viewer, name)
            stored = state.pick_results[name]
            original = _scored_positions(current) if current is not None else stored.original
            state.pick_results[name] = replace(
                stored, original=original, edited=frozenset(), deleted_shapes=()
            )
        self.status.setText(f"Training labels on {name}: {'; '.join(texts)}.{unreviewed}")
        return saved
