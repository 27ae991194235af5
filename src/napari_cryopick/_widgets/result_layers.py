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

import contextlib
import functools
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import at_negatives, empty_picks, far_from
from napari_cryopick.layers.results import (
    ROLE_KEY,
    SHOWS_KEY,
    fibers_layer,
    heatmap_layer,
    shapes_to_vesicles,
    vesicles_layer,
)

from ._common import (
    DEFAULT_DIAMETER,
    HIDDEN_WITH_KEY,
    _update_layer,
    current_micrograph_layer,
    is_micrograph_layer,
    layer_path,
    layer_type,
    micrograph_diameter,
    micrograph_layers,
    micrograph_name,
    more_coming,
    on_slider_step,
    same_file,
    say_save_failed,
    say_save_succeeded,
    session,
    session_micrographs,
    set_micrograph_settings,
    short_error,
    show_only_micrograph,
    unproxy,
)
from .shown import (
    ShownResult,
    _appended,
    _deleted_shapes,
    _fiber_table,
    _fiber_width,
    _has_diameters,
    _object_counts,
    _objects_text,
    _particle_candidates,
    _shapes_differ,
    _shown_fibers,
    _shown_mask,
    _traced_key,
    _with_manual,
    _without_deleted,
    as_shown,
    default_pick_config,
    same_candidates,
    spots_table,
    tracked_positions,
)

logger = logging.getLogger(__name__)

_MANUAL_COLOUR = np.array([1.0, 1.0, 1.0, 1.0])


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
    if not indices.size or (indices >= 0).any() or not len(event.source.data):
        return None  # (empty: napari says "added" of a path of one click it discarded)
    return np.unique(indices % len(event.source.data))


#: Result layers (unproxied) being filled with a stored result now.
_BEING_FILLED: weakref.WeakSet = weakref.WeakSet()

#: What a result layer shows -> the kind of training label the user's drawing there is.
_LABEL_KINDS = {"picks": "particle", "vesicles": "vesicle", "fibers": "fiber"}


def _moved_to_labels(viewer: Any, layer: Any, rows: np.ndarray) -> bool:
    """Move what the user drew on the result layer of a micrograph not picked yet to the
    micrograph's training labels (the Annotate layer of that kind, saved at once).

    Such a layer shows nothing of the micrograph: a result to correct does not exist,
    and what was drawn there was dropped when the layers showed another micrograph
    (a GUI trial's path, without a word). Points become particle clicks, circles
    vesicles, paths fibers; the labels' layer is selected so that the next clicks go
    there. Returns whether the rows were moved (they leave the result layer on the
    next turn of the event loop: napari is still adding them).
    """
    if unproxy(layer) in _BEING_FILLED:
        return False
    micrograph = layer.metadata.get("micrograph") or ""
    kind = _LABEL_KINDS.get(layer.metadata.get(SHOWS_KEY, ""))
    if not micrograph or kind is None:
        return False
    if micrograph in session(viewer).pick_results:
        return False
    from qtpy.QtCore import QTimer

    from .annotate import (
        _ADD_MODES,
        find_annotation_layer,
        find_micrograph_layer,
        merge_fiber_labels,
        merge_particle_labels,
        merge_vesicle_labels,
        replace_annotations,
    )

    mlayer = find_micrograph_layer(viewer, micrograph)
    if mlayer is None:
        return False
    diameter = micrograph_diameter(mlayer)
    if kind == "particle":
        from napari_cryopick.layers.points import points_to_picks

        drawn = points_to_picks(
            np.asarray(layer.data)[rows], layer.features.iloc[rows], micrograph=micrograph
        )
        known = drawn["diameter"].to_numpy(float)
        size = diameter or (float(np.nanmedian(known)) if np.isfinite(known).any() else None)
        labels, _, _ = merge_particle_labels(viewer, mlayer, drawn, size or DEFAULT_DIAMETER)
    else:
        drawn = _shapes_table(layer, micrograph)  # (the layer shows no result: all drawn)
        if kind == "vesicle":
            labels, *_counts = merge_vesicle_labels(viewer, mlayer, drawn)
        else:
            width = diameter or _filled(layer).width or DEFAULT_DIAMETER
            labels, *_counts = merge_fiber_labels(viewer, mlayer, drawn, width)
    active = viewer.layers.selection.active
    replace_annotations(viewer, mlayer, labels, kind)
    if active is not None and active in viewer.layers:
        # clicks queued meanwhile go where the user clicked, and are moved too (a new
        # labels layer, selected by napari in pan/zoom mode, dropped them)
        viewer.layers.selection.active = active
    target = find_annotation_layer(viewer, micrograph, kind)
    what = {"particle": "picks you added", "vesicle": "circles you drew"}.get(
        kind, "paths you drew"
    )
    labels_layer = getattr(target, "name", f"{micrograph} {kind}")
    logger.info(
        "%s is not picked yet: the %s on its result layer went to its training labels, layer '%s'",
        micrograph,
        what,
        labels_layer,
    )
    from napari.utils.notifications import show_info

    show_info(
        f"{micrograph} is not picked yet, so there is no result to correct: the {what} "
        f"went to its training labels, layer '{labels_layer}' (selected now; Annotate)"
    )
    mode = str(getattr(layer, "mode", ""))

    def _drop() -> None:
        if layer.metadata.get("micrograph") != micrograph:
            return  # filled for another micrograph meanwhile: those rows are gone
        if micrograph in session(viewer).pick_results:
            return  # picked meanwhile: the fill replaced them
        # every row is the user's and moved (each addition moved its own at once): all
        # go, not the rows saved here, which an earlier drop shifted (a review: of three
        # quick clicks one stayed, shown twice)
        if len(layer.data):
            layer.selected_data = set(range(len(layer.data)))
            layer.remove_selected()
        if target is not None and target in viewer.layers:
            target.visible = True
            viewer.layers.selection.active = target
            with contextlib.suppress(ValueError, TypeError):
                target.mode = mode if mode.startswith("add") else _ADD_MODES[kind]

    QTimer.singleShot(0, _drop)
    return True


def _mark_added_picks(viewer: Any, event: Any) -> None:
    """Points the user adds by hand have no network score: NaN, drawn white.

    napari gives an added point the features of the last selected point (its
    score too); without this a hand-added pick would be written to STAR files
    with a score it never had, or, selected on another micrograph shown
    before, with that micrograph's name.
    """
    rows = _hand_added_rows(event)
    if rows is None:
        if str(getattr(event, "action", "")) in ("removed", "changed"):
            _reshow_beside_hand_picks(event.source)
        return
    layer = event.source
    if _moved_to_labels(viewer, layer, rows):
        return
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
    # a click on a pick shown is that particle: the click replaces it (hidden, as a
    # threshold hides a candidate), not a second pick of it
    _reshow_beside_hand_picks(layer)


#: Deletions of one micrograph that Undo can bring back (the oldest are forgotten).
UNDO_DEPTH = 20


def _keep_for_undo(viewer: Any, event: Any) -> None:
    """Keep the picks a deletion is about to remove from a result's points layer (with
    their scores and sizes) for :func:`undo_deletion`: a box-select and Delete removed
    dozens of picks for good, since picking again keeps deleted picks deleted."""
    from napari_cryopick.layers.points import points_to_picks

    if str(getattr(event, "action", "")) != "removing":
        return
    layer = event.source
    name = layer.metadata.get("micrograph") or ""
    indices = [int(i) for i in (getattr(event, "data_indices", ()) or ())]
    if not name or not indices or layer.metadata.get(SHOWS_KEY) != "picks":
        return
    shared = shared_layer(viewer, "picks")
    if shared is None or unproxy(shared) is not unproxy(layer):
        return  # a copy of it (napari's Duplicate keeps the metadata): not the result's
    state = session(viewer)
    if state.displayed != name:
        return
    table = points_to_picks(
        np.asarray(layer.data)[indices], layer.features.iloc[indices], micrograph=name
    )
    stack = state.deleted_picks.setdefault(name, [])
    stack.append(table.reset_index(drop=True))
    del stack[:-UNDO_DEPTH]


@dataclass(frozen=True)
class _ShapesDeleted:
    """Circles or paths a deletion removed, for :func:`undo_deletion`."""

    result: ShownResult  # the micrograph's result just before the deletion
    what: str  # "vesicles" or "fibers": the layer's, and the plural said
    removed: pd.DataFrame  # the shapes deleted (:func:`_shapes_table` rows)
    left: pd.DataFrame  # the layer's shapes just after it
    spots: tuple  # the deleted-shape spots it made (:func:`_deleted_shapes`)

    @property
    def count(self) -> int:
        if self.what == "vesicles":
            return len(self.removed)
        return int(self.removed["tube_id"].nunique()) if len(self.removed) else 0


def _keep_shapes_for_undo(viewer: Any, event: Any) -> None:
    """Keep the circles or paths a deletion is about to remove, for :func:`undo_deletion`
    (a GUI trial's Undo delete said "no deleted picks to bring back" after a circle was
    deleted, and picking again keeps it deleted)."""
    if str(getattr(event, "action", "")) != "removing":
        return
    layer = event.source
    name = layer.metadata.get("micrograph") or ""
    what = layer.metadata.get(SHOWS_KEY)
    indices = [int(i) for i in (getattr(event, "data_indices", ()) or ())]
    if not name or not indices or what not in _SHAPE_KINDS or unproxy(layer) in _BEING_FILLED:
        return  # (filling the layer removes its old shapes: not the user's deletion)
    shared = shared_layer(viewer, what)
    if shared is None or unproxy(shared) is not unproxy(layer):
        return  # a copy of it: not the result's
    state = session(viewer)
    if state.displayed != name or name not in state.pick_results:
        return
    _store_shape_edits(viewer, name)  # the shapes as they are before it (moves, drawings)
    stored = state.pick_results[name]
    gone = np.zeros(len(layer.data), bool)
    gone[[i for i in indices if 0 <= i < len(gone)]] = True
    removed = _shapes_table(layer, name, gone)
    left = _shapes_table(layer, name, ~gone)
    kind = _SHAPE_KINDS[what]
    spots = _deleted_shapes(kind, _shapes_table(layer, name), left, every=stored.file_picks)
    stack = state.deleted_picks.setdefault(name, [])
    stack.append(_ShapesDeleted(stored, what, removed, left, spots))
    del stack[:-UNDO_DEPTH]


def _same_rows(first: pd.DataFrame, second: pd.DataFrame, kind: str) -> bool:
    """Whether two pick tables hold the same ``kind`` rows (positions and sizes)."""
    columns = ["x", "y", "diameter"]
    a = first.loc[first["kind"] == kind, columns].to_numpy(float)
    b = second.loc[second["kind"] == kind, columns].to_numpy(float)
    return a.shape == b.shape and bool(np.allclose(a, b, equal_nan=True))


def _undo_shapes(viewer: Any, name: str, entry: _ShapesDeleted) -> None:
    """Put the circles or paths of ``entry`` back into ``name``'s stored result (the
    layers' edits stored first). Nothing changed in their layer since the deletion: the
    result's circles (paths) as they were before it, not edited if they were not; else
    the deleted ones beside what the user made since (a re-trial's circle drawn after a
    deletion went when the deletion was undone)."""
    state = session(viewer)
    kind = _SHAPE_KINDS[entry.what]
    layer = result_layer(viewer, name, entry.what)
    now = _shapes_table(layer, name) if layer is not None else None
    unchanged = now is not None and not _shapes_differ(entry.left, now)
    _store_edits(viewer)
    stored = state.pick_results[name]
    picks = stored.picks
    if layer is None and _same_rows(picks, entry.result.picks, kind):
        return  # its layer went before the deletion reached the store: nothing is gone
    if unchanged:
        before = entry.result.picks
        restored, _rows = _appended(picks[picks["kind"] != kind], before[before["kind"] == kind])
        edited = (stored.edited - {kind}) | (entry.result.edited & {kind})
    else:
        removed = entry.removed
        if kind == "fiber" and len(removed):  # numbered after the paths there are
            tubes = picks.loc[picks["kind"] == "fiber", "tube_id"]
            start = max(int(tubes.max()), 0) if len(tubes) else 0
            order = {t: start + i + 1 for i, t in enumerate(dict.fromkeys(removed["tube_id"]))}
            removed = removed.assign(tube_id=removed["tube_id"].map(order))
        restored, _rows = _appended(picks, removed)
        edited = stored.edited | {kind}
    spots = set(entry.spots)
    state.pick_results[name] = replace(
        stored,
        picks=restored,
        edited=edited,
        deleted_shapes=tuple(s for s in stored.deleted_shapes if s not in spots),
    )


def next_undo(viewer: Any) -> str:
    """What :func:`undo_deletion` would bring back on the micrograph shown: ``"picks"``,
    ``"vesicles"`` or ``"fibers"`` ("" for nothing)."""
    state = session(viewer)
    stack = state.deleted_picks.get(state.displayed or "")
    if not stack:
        return ""
    return stack[-1].what if isinstance(stack[-1], _ShapesDeleted) else "picks"


def undo_deletion(viewer: Any) -> int:
    """Bring back the picks, circles or paths the user deleted last on the micrograph the
    result layers show, as they were (scores, sizes: network picks again, hand picks
    again). Returns how many came back (0: nothing to undo)."""
    state = session(viewer)
    name = state.displayed
    stack = state.deleted_picks.get(name or "")
    if not name or not stack or name not in state.pick_results:
        return 0
    entry = stack.pop()
    if isinstance(entry, _ShapesDeleted):
        _undo_shapes(viewer, name, entry)
        count = entry.count
    else:
        _store_edits(viewer)  # what the layer holds now (later edits) first
        stored = state.pick_results[name]
        picks, _rows = _appended(stored.picks, entry)
        state.pick_results[name] = replace(stored, picks=picks)
        count = len(entry)
    for _ in _filling(viewer, name):
        pass
    state.unsaved.add(name)  # saved as any edit is
    if state.autosave_timer is not None:
        with contextlib.suppress(RuntimeError):  # the timer's Qt object gone
            state.autosave_timer.start()
    state.picks_changed.emit(name)
    return count


#: Layer metadata key of the (threshold, size range) a result layer's picks are shown at.
SHOWN_AT_KEY = "cryopick_shown_at"


def _reshow_beside_hand_picks(layer: Any) -> None:
    """Show a result layer's picks again at the threshold and size range they are shown at
    once picks are deleted or moved: a candidate a deleted (or moved) hand pick hid comes
    back, one a moved hand pick now sits on goes (a review: the export lost one particle,
    or held one twice, until the slider moved). Not while :func:`_put` fills the layer
    with another micrograph: its metadata still held the one before's threshold (a GUI
    trial's micrograph kept at an earlier model's 0.30 was shown at the slider's 0.15)."""
    if unproxy(layer) in _BEING_FILLED:
        return  # (the fill shows the picks at their own threshold)
    shown_at = layer.metadata.get(SHOWN_AT_KEY)
    if shown_at is None or len(layer.features) != len(layer.data):
        return
    threshold, low, high = shown_at
    shown = _shown_mask(layer.features, threshold, (low, high), layer.data)
    if len(shown) == len(layer.data) and not np.array_equal(shown, layer.shown):
        layer.shown = shown


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
        _BEING_FILLED.add(unproxy(layer))
        try:  # (a shapes layer is filled by napari's add: no drawing of the user's)
            _update_layer(layer, data, dict(kwargs))
        finally:
            _BEING_FILLED.discard(unproxy(layer))
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


def _mark_added_shapes(viewer: Any, event: Any) -> None:
    """Circles and paths the user draws have no network score (napari copies the selected
    one's) and are drawn white, as hand-added picks are, apart from the network's, coloured
    by score (a GUI trial could not tell its drawn path from the traced one it deleted)."""
    rows = _hand_added_rows(event)
    layer = event.source
    if rows is not None and len(rows) and _moved_to_labels(viewer, layer, rows):
        return
    features = layer.features
    if rows is not None and "score" in features.columns and len(features) == len(layer.data):
        features.loc[rows, "score"] = np.nan
    if rows is not None and len(rows):
        colours = np.array(layer.edge_color, dtype=float, copy=True)
        if colours.ndim == 2 and len(colours) == len(layer.data):
            from napari_cryopick.layers.points import score_colours

            colours[rows] = score_colours(np.full(len(rows), np.nan))
            layer.edge_color = colours


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


def _shapes_table(layer: Any, micrograph: str, keep: np.ndarray | None = None) -> pd.DataFrame:
    """The circles or paths of a vesicles or fibers result layer as a pick table.

    A circle is a vesicle (centre, diameter); a path is a fiber (its vertices,
    one ``tube_id`` per path, the layer's fiber width as diameter). Scores
    come from the layer's ``score`` feature (NaN: drawn by hand). ``keep``: a
    mask over ``layer.data``, the shapes to take (default: all).
    """
    from napari_cryopick.layers.results import shapes_to_paths

    data = layer.data
    features = layer.features
    scores = None
    if "score" in features.columns and len(features) == len(data):
        scores = features["score"].to_numpy(float)
    if keep is not None:
        data = [shape for shape, kept in zip(data, keep, strict=True) if kept]
        scores = scores[keep] if scores is not None else None
    if layer.metadata.get(SHOWS_KEY) == "vesicles":
        return shapes_to_vesicles(data, micrograph=micrograph, scores=scores)
    return _fiber_table(shapes_to_paths(data), scores, micrograph, _filled(layer).width)


def _shapes_edited(layer: Any, micrograph: str) -> bool:
    """Whether the user changed a circles or paths layer since it was filled."""
    if layer is None or "rows" not in layer.metadata:
        return False
    return _shapes_differ(_filled(layer).table, _shapes_table(layer, micrograph))


def _store_shape_edits(viewer: Any, micrograph: str, removed: Any = None) -> None:
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
    for points. ``removed``: a circles or paths layer being removed, no longer among
    the viewer's layers (napari closing removed it before the micrograph: a GUI trial's
    circle deleted just before closing napari came back).
    """
    state = session(viewer)
    for what, kind in _SHAPE_KINDS.items():
        stored = state.pick_results.get(micrograph)
        layer = result_layer(viewer, micrograph, what)
        if (
            removed is not None
            and removed.metadata.get(SHOWS_KEY) == what
            and removed.metadata.get("micrograph") == micrograph
        ):
            layer = removed
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
        if len(now):
            # a network circle the user moved or resized, a path reshaped, is theirs now,
            # as a dragged pick is (_with_manual): a re-pick keeps it (a GUI trial's
            # resized circle went back to the network's size at the next Pick current,
            # while deleted ones stayed deleted); one made theirs by an earlier edit stays
            # so (the layer still shows its score: a review found it the network's again
            # after a second edit)
            differs = _changed_circles if kind == "vesicle" else _changed_paths
            shown = picks[picks.index.isin(layer.metadata["rows"])]
            theirs = shown[shown["score"].isna() & (shown["kind"] == kind)]
            scored = now["score"].notna().to_numpy()
            own = differs(now, _filled(layer).table) | (scored & ~differs(now, theirs))
            added = added.assign(score=added["score"].where(~own))
        table, rows = _appended(kept, added)
        gone = _deleted_shapes(kind, _filled(layer).table, now, every=stored.file_picks)
        state.pick_results[micrograph] = replace(
            stored,
            picks=table,
            edited=stored.edited | {kind},
            deleted_shapes=stored.deleted_shapes + gone,
        )
        layer.metadata["rows"] = rows
        _FILLS[unproxy(layer)] = replace(_filled(layer), table=now)


def _changed_circles(now: pd.DataFrame, before: pd.DataFrame) -> np.ndarray:
    """Mask over ``now``'s rows: network circles (scored) with no circle of ``before`` at
    the same centre and size (within 0.01 px), i.e. moved or resized by the user."""
    scored = now["score"].notna().to_numpy()
    if not scored.any() or not len(before):
        return scored
    from scipy.spatial import cKDTree

    columns = ["x", "y", "diameter"]
    tree = cKDTree(np.nan_to_num(before[columns].to_numpy(float), nan=-1.0))
    distance, _ = tree.query(np.nan_to_num(now[columns].to_numpy(float), nan=-1.0))
    return scored & (distance > 0.01)


def _changed_paths(now: pd.DataFrame, before: pd.DataFrame) -> np.ndarray:
    """Mask over ``now``'s rows: the vertices of network paths (scored) that match no path
    of ``before`` vertex for vertex (to 0.01 px), i.e. reshaped by the user."""
    changed = np.zeros(len(now), bool)

    def key(group: pd.DataFrame) -> bytes:
        return np.round(group[["x", "y"]].to_numpy(float), 2).tobytes()

    known = {key(group) for _tube, group in before.groupby("tube_id", sort=False)}
    tubes = now["tube_id"].to_numpy()
    for tube, group in now.groupby("tube_id", sort=False):
        if group["score"].isna().all():
            continue  # drawn by hand: the user's already
        if key(group) not in known:
            changed[tubes == tube] = True
    return changed


def _counts_without_tracing(
    viewer: Any, micrograph: str, threshold: float, particles: int
) -> dict[str, int] | None:
    """The objects of ``micrograph`` shown at ``threshold``, when counting them traces nothing.

    ``particles`` are the picks shown (:func:`apply_display_threshold`).
    Fibers are counted from the paths layer when it shows the micrograph, or
    from the store when its fibers are tubes only (loaded, edited) or were
    traced at this threshold before; None when they would be traced (0.1-0.7 s
    a micrograph: the review table counts them, :meth:`ReviewPanel.schedule_review`).
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


def _put_shapes(
    viewer: Any,
    what: str,
    micrograph: str,
    layer_data: tuple,
    create: bool,
    width: float | None = None,
) -> Any:
    """:func:`_put` for circles and paths; records what the layer was filled with
    (:func:`_filled`; ``width``: the fiber width of paths). Returns the layer when it was
    added now (hidden: its caller reveals it on a later turn), else None."""
    layer, new = _put(viewer, what, micrograph, layer_data, create)
    if new:
        layer.events.data.connect(functools.partial(_mark_added_shapes, viewer))
    if layer is not None:
        _FILLS[unproxy(layer)] = _Fill(width=width)  # the paths' width first: read below
        _FILLS[unproxy(layer)] = _Fill(_shapes_table(layer, micrograph), width)
    return layer if new else None


def _show_shapes(
    viewer: Any, micrograph: str, result: ShownResult | None, threshold: float, add: bool
) -> list[Any]:
    """Vesicle circles and traced fibers above ``threshold`` in their shared layers.

    A micrograph without vesicles (fibers) empties the circles (paths) layer,
    which then shows none of another micrograph's; the layer is created only
    when ``add`` and there is something to show. Returns the layers added now
    (hidden: the caller reveals them on a later turn, :func:`_reveal`).
    """
    added = []
    picks = result.picks if result is not None else empty_picks()
    vesicles = _shown_vesicles(viewer, picks, threshold)
    if len(vesicles) or shared_layer(viewer, "vesicles") is not None:
        data, kwargs, type_name = vesicles_layer(vesicles, "vesicles", micrograph=micrograph)
        kwargs["metadata"] = {**kwargs["metadata"], "rows": [int(i) for i in vesicles.index]}
        added.append(_put_shapes(viewer, "vesicles", micrograph, (data, kwargs, type_name),
                                 add and len(vesicles) > 0))  # fmt: skip
    fibers = picks[picks["kind"] == "fiber"]
    if len(fibers) or shared_layer(viewer, "fibers") is not None:
        paths, scores, rows = _shown_fibers(result, threshold) if len(fibers) else ([], [], [])
        data, kwargs, type_name = fibers_layer(
            paths, "fibers", micrograph=micrograph, scores=scores
        )
        width = _fiber_width(fibers, result)
        kwargs["metadata"] = {**kwargs["metadata"], "rows": rows}
        if width:  # the width File > Save Selected Layers writes
            kwargs["metadata"]["diameter"] = float(width)
        added.append(_put_shapes(viewer, "fibers", micrograph, (data, kwargs, type_name),
                                 add and len(fibers) > 0, width))  # fmt: skip
    return [layer for layer in added if layer is not None]


def _threshold_of(
    viewer: Any, shown: ShownResult | None, threshold: float | None, micrograph: str = ""
) -> float:
    """``threshold``, else the micrograph's own (``micrograph_thresholds``), else the
    display threshold, else the result's."""
    if threshold is None:
        state = session(viewer)
        threshold = state.micrograph_thresholds.get(micrograph, state.display_threshold)
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
    threshold = _threshold_of(viewer, shown, threshold, micrograph)
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
    if (
        len(particles)
        and not particles["score"].notna().any()
        and shown.original is not None
        and len(shown.original)
        and not shown.file_picks  # (a pick file's are the light blue of a file's)
    ):
        # a network's result of hand-added picks only (the network's all deleted or
        # re-picked away): white as added, not the light blue of a truth file (a trial)
        kwargs["border_color"] = np.tile(_MANUAL_COLOUR, (len(particles), 1))
    kwargs["metadata"] = {**kwargs.get("metadata", {}), ROLE_KEY: "result"}
    kwargs["shown"] = _shown_mask(particles, threshold, state.display_diameter)
    kwargs["metadata"][SHOWN_AT_KEY] = (float(threshold), *state.display_diameter)
    yield  # prepared on a turn of its own: the update and its redraw fill the next
    if (state.displayed or "") != micrograph:
        return
    layer, new = _put(viewer, "picks", micrograph, (data, kwargs, type_name), create)
    if new:
        layer.events.data.connect(functools.partial(_mark_added_picks, viewer))
    yield
    if new:
        _reveal(viewer, layer)
        yield
    if (state.displayed or "") != micrograph:
        return
    added = _show_shapes(viewer, micrograph, shown, threshold, create and shown is not None)
    yield
    if added:  # (a GUI trial's fibers loaded from files were counted and never drawn)
        for layer in added:
            _reveal(viewer, layer)
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
    ``layer``: a result layer being removed (no longer among the viewer's layers): its
    edits are stored (a points layer's, or a circles or paths layer's alone).
    """
    from napari_cryopick.layers.points import points_to_picks

    state = session(viewer)
    name = state.displayed
    shapes = layer if layer is not None and layer.metadata.get(SHOWS_KEY) in _SHAPE_KINDS else None
    if name is not None:
        _store_shape_edits(viewer, name, shapes)
    if shapes is not None:
        return
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
        if state.displayed in state.unsaved:
            # edited moments ago: its corrections reach the disk before it is left (a
            # GUI trial switched within the autosave's delay, closed the window, and
            # lost them)
            save_pending_corrections(viewer)
    state.displayed = micrograph
    yield from _filling(viewer, micrograph or "", create=create)


def display(viewer: Any, micrograph: str | None) -> None:
    """:func:`displaying` at once; missing layers are made only for a micrograph with results."""
    create = micrograph is not None and micrograph in session(viewer).pick_results
    for _ in displaying(viewer, micrograph, create=create):
        pass


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
        spots = spots_table(deleted_shapes)
        negatives = pd.concat([negatives[["x", "y"]], spots], ignore_index=True)
    if not len(negatives):
        return shown
    kind = picks["kind"].to_numpy()
    diameter = micrograph_diameter(mlayer) or float(picks["diameter"].median())
    junk = at_negatives(picks, negatives, diameter)
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
        shown = _shown_mask(layer.features, threshold, state.display_diameter, layer.data)
        layer.metadata[SHOWN_AT_KEY] = (float(threshold), *state.display_diameter)
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


def showing_pick_result(
    viewer: Any,
    micrograph: str,
    result: Any,
    threshold: float | None = None,
    *,
    keep_manual: bool = True,
    honour_negatives: bool = True,
    model_file: str | None = None,
    model_stamp: tuple[int, str] | None = None,
    earlier: bool = False,
) -> Iterator[None]:
    """:func:`show_pick_result` in steps: each ``yield`` ends one event-loop turn's work.

    ``earlier``: the picks of a model the session's model replaced meanwhile (a pick job
    a training's end overtook): kept among the earlier model's picks throughout.

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
    if earlier:
        state.earlier_model.add(micrograph)
    else:
        state.earlier_model.discard(micrograph)  # picked now (or read from a file)
    state.deleted_picks.pop(micrograph, None)  # (an undo would bring back another result's)
    shown = _with_manual(as_shown(result), old)
    gone = old.deleted_shapes if old is not None else ()  # circles and paths deleted
    if honour_negatives:  # a network's result (a file loaded is shown as it is)
        shown = _without_negatives(viewer, micrograph, shown, gone)
    shown_at = _threshold_of(viewer, old, None, micrograph) if old is not None else None
    shown, deleted = _without_deleted(shown, old, shown_at)
    original = tracked_positions(shown, shown.picks)
    if len(deleted):  # still deletions (not yet labels): "Use as training labels" takes them
        original = np.vstack([original, deleted.astype(np.float32)])
    if honour_negatives:  # a network's picks now, not those back from an earlier session
        state.restored_from_disk.discard(micrograph)
    state.reviewed_dropped.discard(micrograph)  # (said of this result only)
    reviewed = honour_negatives and micrograph in state.reviewed
    if reviewed and micrograph in state.closed_file_picks:
        # the tick a closed pick file's picks kept is the file's, which stays as it is:
        # the network's picks here are not reviewed, and the file's flag is not unmarked
        # (a review: a micrograph opened again by hand and picked wrote it off the folder)
        state.reviewed.discard(micrograph)
    elif reviewed and not same_candidates(old, original, model_file):
        # the flag was about the picks reviewed, not these: "Use as training labels" asks
        # again before they become labels (a review found the question skipped for a new
        # model's picks nobody had looked at)
        state.reviewed.discard(micrograph)
        state.reviewed_dropped.add(micrograph)
        state.unmark_in_folder.add(micrograph)
    state.closed_file_picks.discard(micrograph)  # (in the session again)
    state.pick_results[micrograph] = replace(
        shown,
        original=original,
        deleted_shapes=gone,
        model_file=model_file,
        model_stamp=model_stamp if model_file is not None else None,
    )
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
            layer.events.data.connect(functools.partial(_mark_added_picks, viewer))
        if new and what in _SHAPE_KINDS:
            layer.events.data.connect(functools.partial(_mark_added_shapes, viewer))
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


def close_result_layers(viewer: Any) -> None:
    """With no micrograph open, close the shared result layers: there is nothing to show
    them on (a trial: an empty 'cryopick picks' and the last micrograph's heatmap stayed
    in the layer list)."""
    if micrograph_layers(viewer):
        return
    # one batch: napari's canvas collects garbage once at its end, not after each layer
    # (a folder trial: closing the last micrograph froze the viewer 1.3-1.6 s, three full
    # collections of about 0.45 s each)
    batched = getattr(viewer.layers, "batched_update", None)
    with batched() if callable(batched) else contextlib.nullcontext():
        for layer in [layer for layer in viewer.layers if layer.metadata.get(SHOWS_KEY)]:
            if layer in viewer.layers:
                viewer.layers.remove(layer)


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
        if more_coming(real, event.value):  # a folder's micrographs: the last is followed
            return
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
        if event.value.metadata.get(SHOWS_KEY) in ("picks", *_SHAPE_KINDS):
            _store_edits(real, event.value)  # deleting the layer does not undo corrections
        else:
            _store_edits(real)  # a micrograph the review closes keeps its corrections
        kept = session_micrographs(real)
        closed = [name for name in state.pick_results if name not in kept]
        removed = event.value if is_micrograph_layer(event.value) else None
        if removed is not None and micrograph_name(removed) in state.retained:
            # the review table closed it, its picks stay in the session: on disk too,
            # should napari close before they are exported
            name = micrograph_name(removed)
            path = layer_path(removed)
            if path is not None and name in state.pick_results and _kept_worth(real, name, removed):
                _save_corrections(real, name, path)
        for name in closed:
            # its own layer's path only: another micrograph's would file its corrections
            # under the wrong file
            closing = removed if removed is not None and micrograph_name(removed) == name else None
            path = layer_path(closing) if closing is not None else None
            if _kept_worth(real, name, closing):  # kept aside until opened again
                state.discarded_corrections.add(name)
                state.closed_corrections[name] = (path, state.pick_results[name], state.model)
                if path is not None:  # and on disk: napari closing closes every micrograph
                    _save_corrections(real, name, path)
            else:
                state.dropped_picks.add(name)
                hand = state.pick_results[name].picks["score"].isna()
                state.labelled_picks.discard(name)  # (a close before: this one's own)
                if hand.any() and not state.pick_results[name].file_picks:
                    state.labelled_picks.add(name)  # (kept worth otherwise)
                # the reviewed flag went with the picks it was about (it stayed ticked for
                # the micrograph opened again, and its new picks showed as reviewed); not a
                # pick file's picks, which stay in their file, the flag with them (kept in
                # its folder's review file too: a folder trial's closed micrograph lost its
                # tick in the review table, while the file kept it)
                if state.pick_results[name].file_picks:
                    state.closed_file_picks.add(name)
                else:
                    state.reviewed.discard(name)
                    state.closed_file_picks.discard(name)
                state.reviewed_dropped.discard(name)
                state.unmark_in_folder.discard(name)
                if path is not None:  # none left (used as labels, or picked anew)
                    _forget_corrections(path)
            del state.pick_results[name]
            state.deleted_picks.pop(name, None)  # (another file of its name may open next)
            state.closed_picked.add(name)
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
        if removed is not None and not state.replacing:
            # the review table, opening the next at once, keeps them
            close_result_layers(real)

    def _on_visible(event: Any) -> None:
        if not state.showing_only:
            _follow_eye_icon(real, event.source)

    def _on_inserted(event: Any) -> None:
        if not is_micrograph_layer(event.value):
            return
        event.value.events.visible.connect(_on_visible)
        from ._common import _same_micrograph_open

        if _same_micrograph_open(real, event.value) is None:
            # a second file of an open micrograph's name is closed by the guard: its saved
            # corrections must not land on the open one first (a review)
            name = micrograph_name(event.value)
            aside = set_aside_retained(real, name, layer_path(event.value))
            if aside is not None:
                from napari.utils.notifications import show_info

                show_info(
                    f"{name}: the corrected picks of {aside} (closed by the review) are kept "
                    "aside for that file (open it again and they come back); Export leaves "
                    f"them out. {layer_path(event.value)} shows its own."
                )
            _restore_corrections(real, event.value)
        # a micrograph opened on top: the result layers go above it again
        shared = [index for index, layer in enumerate(real.layers) if layer.metadata.get(SHOWS_KEY)]
        if shared and max(shared) < real.layers.index(event.value):
            real.layers.move_multiple(shared, len(real.layers))

    real.layers.selection.events.active.connect(_on_active)
    real.layers.events.removed.connect(_on_removed)
    real.layers.events.inserted.connect(_on_inserted)
    state.micrograph_shown.connect(_follow)
    _start_autosave(real)
    for layer in micrograph_layers(real):  # opened before any widget of ours
        layer.events.visible.connect(_on_visible)
        _restore_corrections(real, layer)


def _follow_eye_icon(viewer: Any, layer: Any) -> None:
    """A micrograph shown or hidden with its eye icon in the layer list becomes (or
    stops being) the one worked on, as selecting it does.

    A trial flipped between two micrographs with the eye icons: the other one's
    annotation layer stayed on top, selected, and the click made on the micrograph
    seen was saved to the hidden one's annotations. Now the micrograph seen is
    shown alone (with its annotation and result layers), and a selected annotation
    layer of another micrograph gives the selection to this one's of the same kind,
    in the same mode, so the next click lands on the micrograph seen.
    """
    if layer not in viewer.layers:
        return
    if layer.visible:
        shown = layer  # (the result layers hidden with the last one come back with it)
    else:  # hidden: the top-most micrograph still visible is the one seen
        visible = [m for m in micrograph_layers(viewer) if m.visible]
        if not visible:
            # none seen: its annotation layers go too (napari leaves a hidden layer in
            # pan-zoom mode), so a click on the empty canvas adds nothing to it (a
            # re-trial), also when it is the only micrograph open (a later re-trial's
            # click added a particle, saved); its picks and heatmap go with it
            hidden = micrograph_name(layer)
            for other in list(viewer.layers):
                meta = other.metadata
                if meta.get(ROLE_KEY) == "annotation" and meta.get("micrograph") == hidden:
                    other.visible = False
                elif meta.get(SHOWS_KEY) and other.visible:
                    meta[HIDDEN_WITH_KEY] = True
                    other.visible = False
            return
        shown = visible[-1]
    name = micrograph_name(shown)
    active = viewer.layers.selection.active
    of = _micrograph_of(active) if active is not None else None
    show_only_micrograph(viewer, name)
    if of is None or of == name:
        return
    kind = active.metadata.get("kind") if active.metadata.get(ROLE_KEY) == "annotation" else None
    mode = str(getattr(active, "mode", ""))
    from .annotate import _ADD_MODES, find_annotation_layer

    if kind and mode in ("", "pan_zoom", "Mode.PAN_ZOOM"):  # napari's mode of a hidden layer
        mode = _ADD_MODES.get(kind, "")

    # Annotate, docked, follows (it made the micrograph's annotation layer when shown)
    viewer.layers.selection.active = shown
    target = None
    # Annotate starts another micrograph with the kind of objects clicked last, not
    # negatives (a re-trial: after negatives, the eye switch left no layer to click on)
    for wanted in (kind, "particle", "vesicle", "fiber") if kind else ():
        target = find_annotation_layer(viewer, name, wanted)
        if target is not None:
            if wanted != kind:
                mode = _ADD_MODES.get(wanted, "")
            break
    if target is not None:
        target.visible = True
        viewer.layers.selection.active = target
        if mode:
            with contextlib.suppress(ValueError, TypeError):
                target.mode = mode


#: Seconds after the last edit of a result layer before the corrections are saved.
AUTOSAVE_DELAY_S = 2.0


def _start_autosave(viewer: Any) -> None:
    """Save the displayed micrograph's corrections a moment after each edit.

    Closing a micrograph (or napari) saves them too (``_on_removed``); this
    keeps them when napari itself ends without closing anything (a crash, a
    killed process, a session's wall time). Each edit of a shared result
    layer (points, circles, paths) restarts a single-shot timer of
    :data:`AUTOSAVE_DELAY_S`; when it fires, :func:`autosave_corrections` runs
    on the GUI thread (a file of a few kB, written atomically).
    """
    from qtpy.QtCore import QTimer

    state = session(viewer)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setInterval(int(AUTOSAVE_DELAY_S * 1000))

    timer.timeout.connect(lambda: save_pending_corrections(viewer))
    state.autosave_timer = timer

    def _edited(_event: Any = None) -> None:
        if state.displayed:
            state.unsaved.add(state.displayed)
        with contextlib.suppress(RuntimeError):  # the timer's Qt object gone
            timer.start()

    def _watch(layer: Any) -> None:
        shows = layer.metadata.get(SHOWS_KEY)
        if shows in ("picks", *_SHAPE_KINDS):
            layer.events.data.connect(_edited)
            keep = _keep_for_undo if shows == "picks" else _keep_shapes_for_undo
            layer.events.data.connect(functools.partial(keep, viewer))
            with contextlib.suppress(Exception):  # (a napari without layer key bindings)
                layer.bind_key("Control-Z", lambda _layer: undo_deletion(viewer), overwrite=True)

    def _on_inserted(event: Any) -> None:
        _watch(event.value)

    viewer.layers.events.inserted.connect(_on_inserted)
    for layer in list(viewer.layers):
        _watch(layer)
    _save_on_window_close(viewer)


def _save_on_window_close(viewer: Any) -> None:
    """Write the pending corrections when napari's window closes.

    Closing the window (its X, Ctrl+W) does not remove the layers, so nothing of
    ``_on_removed`` runs: a GUI trial closed it within the autosave's delay of an edit
    and lost the edit.
    """
    from ._common import call_on_window_close

    call_on_window_close(viewer, lambda: save_pending_corrections(viewer))


def save_pending_corrections(viewer: Any) -> None:
    """Save the corrections of every micrograph edited since they were last saved
    (:attr:`SessionState.unsaved`).

    The viewer may be closing or closed: a safety net never raises into Qt; what failed
    is logged, the edits themselves stay in the session.
    """
    state = session(viewer)
    for name in sorted(state.unsaved):
        state.unsaved.discard(name)
        try:
            autosave_corrections(viewer, name)
        except Exception:
            logger.debug("saving the corrections of %s failed", name, exc_info=True)


def autosave_corrections(viewer: Any, name: str | None = None) -> Path | None:
    """Save micrograph ``name``'s result (None: the displayed one's) if it holds
    corrections (see :func:`_kept_worth`); remove a saved file when it holds none any
    more (used as training labels). Returns the file written (None: nothing written)."""
    state = session(viewer)
    name = name or state.displayed
    if not name or name not in state.pick_results:
        return None
    from .annotate import find_micrograph_layer

    layer = find_micrograph_layer(viewer, name)
    path = layer_path(layer) if layer is not None else None
    if path is None:
        return None
    if name == state.displayed:
        _store_edits(viewer)
    if not _kept_worth(viewer, name, layer):
        # none left (used as training labels): a file kept before, by this session or
        # another, would bring back what is used already
        _forget_corrections(path)
        return None
    return _save_corrections(viewer, name, path)


def set_aside_retained(viewer: Any, name: str, path: Path | None) -> Path | None:
    """The picks the review kept of a closed micrograph ``name`` from another file than
    ``path`` leave the session, kept aside for their own file as a closed micrograph's
    are (opening that file again brings them back; the review saved them beside it when
    it closed it), with their reviewed flag. Returns that file (None: nothing set aside).

    Results are kept by micrograph name: another folder's micrograph of that name showed
    them as its own (a review of a second folder of the same file names).
    """
    state = session(viewer)
    kept = state.retained_from.get(name)
    if name not in state.retained or kept is None:
        return None
    if same_file(kept, path):
        return None
    worth = name in state.pick_results and _kept_worth(viewer, name)
    if worth:  # on disk for its file (the review saved it when it closed it: again, surely)
        _save_corrections(viewer, name, kept)
    state.retained.discard(name)
    del state.retained_from[name]
    state.retained_image.pop(name, None)
    state.reviewed.discard(name)
    state.reviewed_dropped.discard(name)
    state.unmark_in_folder.discard(name)
    state.deleted_picks.pop(name, None)
    result = state.pick_results.pop(name, None)
    if worth:
        state.closed_corrections[name] = (kept, result, state.model)
        state.closed_picked.add(name)
        state.discarded_corrections.discard(name)
    state.picks_changed.emit(name)
    return kept if worth else None


def _restore_corrections(viewer: Any, layer: Any) -> None:
    """A micrograph closed with corrections, opened again from the same file: its
    results come back as the user left them (``SessionState.closed_corrections``, or
    the file an earlier napari session kept: :mod:`napari_cryopick.io.recovery`)."""
    state = session(viewer)
    name = micrograph_name(layer)
    if name in state.pick_results:
        return
    now = layer_path(layer)
    closed = state.closed_corrections.get(name)
    if closed is not None and not (
        (closed[0] is None and now is None) or same_file(closed[0], now)
    ):
        # another file of that name (kept aside for it): not its corrections, which may
        # be on disk beside this file (they were passed over)
        closed = None
    if closed is None:
        result = _saved_result(now, name) if now is not None else None
        if result is None:
            if now is not None:
                _say_stale_corrections(now, name)
            return
        model = None  # a model of an earlier napari session
    else:
        _path, result, model = closed
        del state.closed_corrections[name]
    state.pick_results[name] = result
    state.deleted_picks.pop(name, None)  # (deletions made on another file of its name)
    if micrograph_diameter(layer) is None:
        # the size it was picked at comes back with its picks (a re-trial: picks of 56 px
        # restored beside the 100 px shown for a micrograph never annotated, then re-picked
        # and exported at 100 px)
        # (the diameter it was picked at, kept with it; files kept before that: the
        # picks' median size, 55.9 for a micrograph picked at 56, a trial)
        picked_at = result.picked_diameter_px
        picks = result.picks
        sizes = picks.loc[picks["kind"].astype(str) == "particle", "diameter"].dropna()
        if not picked_at and len(sizes):
            picked_at = round(float(sizes.median()), 1)
        if picked_at:
            set_micrograph_settings(viewer, layer, diameter_px=float(picked_at))
    if state.displayed == name:
        # shown already (napari made the new layer active before it told of its insertion):
        # the result layers showed it without picks, and would store that empty layer over
        # the picks just restored (a GUI trial: "its picks are back", and none were)
        for _ in _filling(viewer, name):
            pass
    state.closed_picked.discard(name)
    state.discarded_corrections.discard(name)
    earlier = not result.file_picks and (closed is None or model is not state.model)
    if earlier:
        # picked by a model before the current one (an earlier napari session's: never the
        # current); a pick file's corrected picks are no model's (a review: Export called
        # them "made by another model")
        state.earlier_model.add(name)
    if earlier or (closed is None and result.file_picks):
        # at the threshold it was left at, with or without the Pick widget to pin it (a
        # trial: a training with Train docked alone set the new model's 0.15 as the display
        # threshold, and the corrections were saved again at it: 10 hidden picks back); a
        # pick file's corrected picks too (a folder trial reviewed one at 0.40 and after a
        # restart it came back, still ticked, at 0.15 with 4 more picks, exported)
        state.micrograph_thresholds.setdefault(name, on_slider_step(float(result.threshold)))
    if closed is None:
        state.restored_from_disk.add(name)
    else:
        state.restored_from_disk.discard(name)
    threshold = restored_threshold(viewer)
    if threshold is not None:  # the Pick widget's slider, where the user left it (before
        state.threshold_requested.emit(threshold)  # the message: its status stays)
    state.restored_unsaid.add(name)
    if closed is None and result.kept_reviewed:
        # reviewed when kept: ticked again (a review trial's Load picks… answered No kept
        # three reviewed micrographs' corrections and dropped their ticks, unsaid)
        state.reviewed.add(name)
    state.corrections_restored.emit(name)
    state.picks_changed.emit(name)


def restored_threshold(viewer: Any) -> float | None:
    """The threshold the results came back with from an earlier session, when every
    result shown is such a one and all were left at one threshold (else ``None``: the
    slider stays where the user put it in this session)."""
    state = session(viewer)
    names = list(state.pick_results)
    # (an earlier model's, or back from an earlier session: a pick file's corrections too)
    if not names or not set(names) <= state.earlier_model | state.restored_from_disk:
        return None
    thresholds = {round(float(state.pick_results[name].threshold), 3) for name in names}
    return thresholds.pop() if len(thresholds) == 1 else None


def _say_stale_corrections(path: Any, name: str) -> None:
    """Corrections an earlier napari session kept for the file ``path`` as it was before
    it changed (re-processed since): not taken back, and said (they were passed over
    without a word), with where they are; they are replaced once this micrograph is
    corrected again."""
    import datetime

    from napari.utils.notifications import show_warning

    from napari_cryopick.io.recovery import stale_corrections

    kept = stale_corrections(path)
    if kept is None:
        return
    try:
        when = datetime.datetime.fromtimestamp(kept.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return
    show_warning(
        f"{name}: corrections an earlier napari session kept (saved {when}) were not "
        f"brought back: {path} changed since they were made. They stay in {kept} until "
        "you correct this micrograph again, which replaces them."
    )


def _save_corrections(viewer: Any, name: str, path: Any) -> Path | None:
    """Keep micrograph ``name``'s result (with corrections) on disk for its file ``path``
    (:mod:`napari_cryopick.io.recovery`), with the threshold it is shown at (a GUI
    trial's 0.4 came back as the 0.15 it was picked at: more picks than left); a disk
    that refuses is not the user's edit's problem: nothing is raised (None returned;
    else the file written)."""
    from napari_cryopick.io.recovery import SavedCorrections, save_corrections

    result = session(viewer).pick_results[name]
    settings = {
        "threshold": _threshold_of(viewer, result, None, name),
        "heatmap_scale": list(result.heatmap_scale),
        "heatmap_translate": list(result.heatmap_translate),
        "link_radius_px": result.link_radius_px,
        "picked_diameter_px": result.picked_diameter_px,
        "edited": sorted(result.edited),
        "model_file": result.model_file,
        "model_stamp": list(result.model_stamp) if result.model_stamp else None,
        "file_picks": result.file_picks,
        "reviewed": name in session(viewer).reviewed,  # (the tick comes back with them)
    }
    arrays = {
        "original": result.original,
        "negatives": result.negatives,
        "deleted_shapes": np.asarray(result.deleted_shapes, float).reshape(-1, 2)
        if result.deleted_shapes
        else None,
        "labelled_shapes": result.labelled_shapes,
    }
    key = f"corrections:{path}"
    try:
        written = save_corrections(SavedCorrections(path, result.picks, arrays, settings))
    except (OSError, ValueError) as exc:
        is_open = any(micrograph_name(m) == name for m in micrograph_layers(viewer))
        where = (
            "export the picks (Export picks) before closing napari"
            if is_open
            else "open the micrograph again and export its picks (Export picks) before "
            "closing napari"
        )
        say_save_failed(
            key,
            f"{name}: your corrections could not be kept on disk ({short_error(exc)}). "
            f"They stay in this napari session only: {where}.",
        )
        return None
    say_save_succeeded(key)
    return written


def unlabelled_corrections(viewer: Any, name: str, micrograph_layer: Any = None) -> bool:
    """Whether ``name``'s result holds what the user did that no training learns yet:
    corrections not used as training labels, or picks added by hand beside the network's
    that are not among its particle labels (Train names such micrographs: a napari
    trial's retraining learned junk where it had just added a pick, unsaid). The picks
    as on screen now (the session's result holds them once the micrograph is left)."""
    if has_corrections(viewer, name):
        return True
    stored = session(viewer).pick_results.get(name)
    current = _current_picks(viewer, name)
    if stored is None or stored.file_picks or current is None or not len(current):
        return False
    hand = current.loc[current["score"].isna(), ["x", "y", "diameter"]]
    if not len(hand) or micrograph_layer is None:
        # (a micrograph the review closed and keeps: none of its layers to compare with, a
        # review found it named after its picks were labels)
        return False
    from .annotate import current_labels

    labels = current_labels(viewer, micrograph_layer, "particle")
    # a label within half a diameter is that pick's, as *Use as training labels* merges
    # them (a review: a pick beside a label was named forever, never added)
    sizes = pd.to_numeric(hand["diameter"], errors="coerce").to_numpy(float)
    size = micrograph_diameter(micrograph_layer) or (
        float(np.nanmedian(sizes)) if np.isfinite(sizes).any() else 2.0
    )
    return bool(len(far_from(hand[["x", "y"]], labels, 0.5 * float(size))))


def _kept_worth(viewer: Any, name: str, micrograph_layer: Any = None) -> bool:
    """Whether ``name``'s result holds what the user did and did not keep yet: corrections
    not yet used as training labels (:func:`has_corrections`), circles and paths deleted
    since (``ShownResult.deleted_shapes``), or picks, circles and paths of the user's (no
    score: added by hand, or made theirs by moving, resizing or reshaping) that are not
    among the micrograph's labels of their kind (a re-trial: a hand pick used as a label
    brought every pick back in each later session). A re-pick keeps the user's circles and
    deletions but starts a result not yet edited: a GUI trial's resized and deleted
    circles, kept by it, were dropped from disk and gone after a restart."""
    if has_corrections(viewer, name):
        return True
    stored = session(viewer).pick_results[name]
    if stored.file_picks:
        return False  # a pick file's unscored rows are the file's (has_corrections said)
    if stored.deleted_shapes:
        return True  # (not yet negatives: "Use as training labels" makes them so)
    picks = stored.picks
    scores = picks["score"]
    if not scores.isna().any():
        # (every pick by hand, the network having found none there, is worth it too: a
        # review found them dropped unsaid)
        return False
    kinds = picks["kind"].astype(str)
    for kind in ("particle", *_SHAPE_KINDS.values()):
        hand = picks[scores.isna() & (kinds == kind)]
        if not len(hand):
            continue
        if micrograph_layer is None or _not_labels(viewer, micrograph_layer, hand, kind):
            return True
    return False


def _not_labels(viewer: Any, micrograph_layer: Any, hand: pd.DataFrame, kind: str) -> bool:
    """Whether any of the user's own ``kind`` picks ``hand`` is not among the micrograph's
    labels, by the rules *Use as training labels* merges them with: a pick more than a
    pixel from every particle label; a circle whose centre lies beyond its radius from
    every circle label's; a path that runs along no labelled path for at least
    ``SAME_FIBER_COVERAGE`` of its length, within half its width (a review: a circle
    skipped as that label's would have counted as kept forever)."""
    from napari_cryopick.core.fibers import picks_to_paths

    from .annotate import current_labels, fiber_paths_not_labelled, vesicles_not_labelled

    labels = current_labels(viewer, micrograph_layer, kind)
    if kind == "particle":
        return bool(len(far_from(hand[["x", "y"]], labels, 1.0)))
    if kind == "vesicle":
        return bool(len(vesicles_not_labelled(hand, labels)))
    widths = hand["diameter"].to_numpy(float)
    width = float(np.nanmedian(widths)) if np.isfinite(widths).any() else 2.0
    return bool(fiber_paths_not_labelled(picks_to_paths(hand), picks_to_paths(labels), width))


def _forget_corrections(path: Any) -> None:
    from napari_cryopick.io.recovery import forget_corrections

    with contextlib.suppress(OSError):
        forget_corrections(path)


def _saved_result(path: Any, name: str) -> ShownResult | None:
    """The result with corrections an earlier napari session kept for ``path`` (None: none)."""
    from napari_cryopick.io.recovery import DamagedCorrections, load_corrections

    try:
        saved = load_corrections(path)
    except DamagedCorrections as error:  # (set aside: said, napari goes on)
        from napari.utils.notifications import show_warning

        show_warning(f"{name}: {error}")
        return None
    if saved is None:
        return None
    settings, arrays = saved.settings, saved.arrays
    deleted = arrays.get("deleted_shapes")
    original = arrays.get("original")
    return ShownResult(
        picks=saved.picks.assign(micrograph=name),
        heatmap=None,
        heatmap_scale=tuple(settings.get("heatmap_scale") or (1.0, 1.0)),
        heatmap_translate=tuple(settings.get("heatmap_translate") or (0.0, 0.0)),
        link_radius_px=settings.get("link_radius_px"),
        threshold=float(settings.get("threshold", default_pick_config().threshold)),
        original=None if original is None else original.astype(np.float32),
        # "fiber_width_px": the same number, in files kept before 2026-12-04
        picked_diameter_px=settings.get("picked_diameter_px", settings.get("fiber_width_px")),
        edited=frozenset(settings.get("edited") or ()),
        negatives=arrays.get("negatives"),
        deleted_shapes=tuple(map(tuple, deleted)) if deleted is not None else (),
        labelled_shapes=_record_array(arrays.get("labelled_shapes")),
        model_file=_model_file_setting(settings.get("model_file")),
        model_stamp=_stamp_setting(settings.get("model_stamp")),
        file_picks=bool(settings.get("file_picks", False)),
        kept_reviewed=settings.get("reviewed") is True,
    )


def _record_array(value: Any) -> np.ndarray | None:
    """The saved ``labelled_shapes`` (rows of ``shown.RECORD_COLUMNS``; files kept before
    it have none, one of another shape is not used)."""
    from .shown import RECORD_COLUMNS

    if value is None:
        return None
    value = np.asarray(value, float)
    wide = value.ndim == 2 and value.shape[1] == len(RECORD_COLUMNS)
    return value if wide and len(value) else None


def _stamp_setting(value: Any) -> tuple[int, str] | None:
    """The saved ``model_stamp`` setting (files kept before it existed have none)."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    return None


def _model_file_setting(value: Any) -> str | None:
    """The saved ``model_file`` setting (files kept before it existed have none)."""
    return value if isinstance(value, str) and value else None


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
        threshold = _threshold_of(viewer, stored, None, micrograph)
        mask = _shown_mask(particles, threshold, state.display_diameter)
        tables.append(particles[mask].reset_index(drop=True))
    vesicles = result_layer(viewer, micrograph, "vesicles")
    if vesicles is not None:
        tables.append(_shapes_table(vesicles, micrograph))
    elif stored is not None:
        shown = _shown_vesicles(
            viewer, stored.picks, _threshold_of(viewer, stored, None, micrograph)
        )
        tables.append(shown.reset_index(drop=True))
    tables.append(_result_fibers(viewer, micrograph))
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else empty_picks()


def every_candidate(viewer: Any, micrograph: str, kind: str) -> pd.DataFrame | None:
    """Every vesicle circle (``kind`` "vesicle") or fiber point ("fiber") of
    ``micrograph``'s result down to the score floor, with the user's edits (shapes drawn
    by hand have no score); None: no result stored.

    What Evaluate scores, as the picks layer holds every particle candidate: a
    trial's vesicle evaluation saw only the circles above the slider, so its best
    threshold could never come out below it.
    """
    state = session(viewer)
    if state.displayed == micrograph:
        _store_shape_edits(viewer, micrograph)
    stored = state.pick_results.get(micrograph)
    if stored is None:
        return None
    return stored.picks[stored.picks["kind"] == kind].reset_index(drop=True)


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
    paths, scores, _rows = _shown_fibers(stored, _threshold_of(viewer, stored, None, micrograph))
    return _fiber_table(paths, scores, micrograph, _fiber_width(fibers, stored))


def deleted_picks(viewer: Any, micrograph: str, diameter_px: float) -> pd.DataFrame:
    """The particle picks of ``micrograph`` the user deleted (false picks: junk, carbon).

    A candidate of the picking's result no corrected pick (shown or hidden by the
    threshold) is left at, and with no pick moved or added by hand within half a
    diameter: a moved pick or one replaced by a hand-added pick is the same particle,
    not a deletion (:func:`~.shown.deleted_places`, as picking again keeps them away).
    """
    from .shown import deleted_places

    stored = session(viewer).pick_results.get(micrograph)
    original = getattr(stored, "original", None)
    if original is None or not len(original):
        return empty_picks()
    current = _current_picks(viewer, micrograph)
    return deleted_places(original, current, 0.5 * float(diameter_px))


def moved_picks(
    viewer: Any, micrograph: str, table: pd.DataFrame, scored: bool = True
) -> np.ndarray:
    """Which rows of ``table`` (picks of ``micrograph``) are the network's particle picks
    the user moved: scored, and more than 0.5 px from every position picked
    (``ShownResult.original``). ``scored`` False: any particle pick off those positions
    (a pick file's hold no score: moved or added by the user alike)."""
    from napari_cryopick.core.pick_table import nearest_distances

    stored = session(viewer).pick_results.get(micrograph)
    if stored is None or stored.original is None or not len(stored.original) or not len(table):
        return np.zeros(len(table), dtype=bool)
    original = pd.DataFrame(np.asarray(stored.original, float).reshape(-1, 2), columns=["x", "y"])
    kept = np.array(table["kind"] == "particle", dtype=bool)
    if scored:
        kept &= table["score"].notna().to_numpy()
    return kept & (nearest_distances(table, original) > 0.5)


def own_moved_picks(viewer: Any, micrograph: str, labels: pd.DataFrame) -> int:
    """Make the network's picks the user moved on ``micrograph`` that are particle
    ``labels`` now (within 0.5 px of one) the user's own: no score, drawn as picks added
    by hand; how many. A moved pick the threshold hides (no label made of it) stays the
    network's (a review: it came back white, shown and exported).

    *Use as training labels* calls it before the result's positions are taken as the
    ones picked (``ShownResult.original``): a moved pick left scored there lay at one of
    them, no correction any more, so picking again or a training's preview put the
    network's pick back at its old place, and the export wrote that place, not the
    label's (a GUI trial). A pick of the user's own stays through a re-pick
    (:func:`_with_manual`), as one added by hand does.
    """
    from napari_cryopick.core.pick_table import nearest_distances
    from napari_cryopick.layers.points import points_to_picks

    state = session(viewer)
    stored = state.pick_results.get(micrograph)
    if stored is None or stored.original is None or not len(stored.original):
        return 0
    layer = result_layer(viewer, micrograph)
    if layer is not None:  # displayed: the layer holds the candidates as corrected
        table = points_to_picks(layer.data, layer.features, micrograph=micrograph)
    else:
        table = stored.picks
    moved = moved_picks(viewer, micrograph, table)
    moved &= nearest_distances(table, labels) <= 0.5
    rows = np.flatnonzero(moved)
    if not rows.size:
        return 0
    if layer is not None:
        layer.features.loc[layer.features.index[rows], "score"] = np.nan
        colours = np.array(layer.border_color, dtype=float)
        if len(colours) == len(table):
            colours[rows] = _MANUAL_COLOUR
            layer.border_color = colours
        if state.displayed == micrograph:
            _store_edits(viewer, layer)
    else:
        picks = stored.picks.copy()
        picks.loc[picks.index[rows], "score"] = np.nan
        state.pick_results[micrograph] = replace(stored, picks=picks)
    return int(rows.size)


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
    (:func:`_with_manual`, as it keeps circles and paths drawn by hand). Vesicle
    circles and fiber paths deleted, moved, resized, reshaped or drawn count
    too (stored, ``ShownResult.edited``, or on screen now).
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
    positions = tracked_positions(stored, current)
    if len(positions) != len(original):
        return True
    order = np.lexsort(positions.T[::-1])
    before = np.asarray(original, np.float32)
    return not np.allclose(positions[order], before[np.lexsort(before.T[::-1])], atol=0.01)
