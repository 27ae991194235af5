"""Annotate widget: mark particles, vesicles, fibers and negatives on a micrograph.

One annotation layer per micrograph and kind, named ``"<micrograph> <kind>"``:
points sized by the particle diameter (particles), red crosses (negatives),
circles (vesicles, each with its own radius) and paths (fibers). Every edit is
saved, debounced, to the micrograph's sidecar (:mod:`napari_cryopick.io.annotations`)
and reloaded when the micrograph is opened again.

The widget follows the active micrograph: opening a micrograph, choosing it
in the layer list or in the widget makes it the one annotated, shows it (and
its annotation layers) alone, and puts its annotation layer of the current
kind in adding mode, so the first click adds an object. Annotation layers
added by anyone (the Pick widget's "Use as training labels", a reader) are
saved automatically too.

Keyboard shortcuts (on the viewer): ``Alt+1`` particle, ``Alt+2`` vesicle,
``Alt+3`` fiber, ``Alt+4`` negative.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from napari_cryopick.core.fibers import SAME_FIBER_COVERAGE, paths_to_picks, picks_to_paths
from napari_cryopick.core.pick_table import KINDS, empty_picks, far_from, make_picks, napari_to_xy
from napari_cryopick.core.text import name_list
from napari_cryopick.io.annotations import (
    AnnotationError,
    Annotations,
    find_sidecar,
    load_annotations,
    read_sidecar,
    save_annotations,
)
from napari_cryopick.layers.results import (
    ROLE_KEY,
    annotation_layer_name,
    annotation_points_layer,
    fibers_layer,
    shapes_to_paths,
    shapes_to_vesicles,
    vesicles_layer,
)

from ._common import (
    DATASET_KEY,
    DEFAULT_DIAMETER,
    DIAMETER_KEY,
    call_on_window_close,
    connect_while_alive,
    current_micrograph_layer,
    data_set_diameter,
    dataset_or_folder,
    end_unfinished_paths,
    inherited_settings,
    is_micrograph_layer,
    layer_path,
    layer_type,
    micrograph_dataset,
    micrograph_diameter,
    micrograph_layers,
    micrograph_name,
    more_coming,
    no_micrograph_reason,
    no_micrograph_text,
    populate_layer_combo,
    say_save_failed,
    say_save_succeeded,
    scroll_layout,
    session,
    set_micrograph_settings,
    short_error,
    show_only_micrograph,
    unproxy,
    update_or_add_layer,
)
from .shown import spots_table

logger = logging.getLogger(__name__)

SHORTCUTS = {"Alt-1": "particle", "Alt-2": "vesicle", "Alt-3": "fiber", "Alt-4": "negative"}
SAVE_DELAY_MS = 400
#: The Data set box's grey text for a micrograph opened from no file.
DATASET_PLACEHOLDER = "data-set name (e.g. ribosome)"

#: A drawn vesicle smaller than this, or one napari added (at the end of its drag) as
#: exactly the circle a press draws at the zoom of that moment (within
#: :data:`CLICK_CIRCLE_TOLERANCE`), is a click without a drag, not a vesicle: a trial's
#: one such 2.5 px circle beside eight 200 px vesicles made training's scale 24 px, and
#: no vesicle was picked. (Until 2026-12-03 every circle below 1.5 times the click's was
#: dropped: zoomed out on a 2217 px micrograph that was 79 px, and a trial's real 74 px
#: vesicle went.)
MIN_DRAWN_VESICLE_PX = 8.0
#: Relative difference of a circle's width and height from a click's that still makes it
#: a click (napari's press draws a square box of half the vertex radius).
CLICK_CIRCLE_TOLERANCE = 0.05


def _click_circle(layer: Any) -> float:
    """The edge of the square box napari's ``add_ellipse`` draws on a press, at the zoom of
    the moment (half the layer's vertex radius in data pixels; 0 when unknown)."""
    import warnings

    with warnings.catch_warnings():
        # napari 0.9 warns at each read of its private attributes: one line per circle drawn
        # (a trial); there is no public one, and 0 (unknown) is a safe answer if it goes
        warnings.simplefilter("ignore", FutureWarning)
        return float(getattr(layer, "_normalized_vertex_radius", 0.0) or 0.0) / 2


def _click_path_mode() -> str:
    """napari's click-by-click path mode: "add_polyline", or "add_path" in a napari from
    before the polyline mode (where "add_path" was click-by-click)."""
    from napari.layers import Shapes

    modes = getattr(Shapes, "_modeclass", None)  # (napari's mode enum; private)
    names = {str(mode) for mode in modes} if modes is not None else {"add_polyline"}
    return "add_polyline" if "add_polyline" in names else "add_path"


#: The layer mode each kind is clicked in. Fibers: napari's polyline mode, a vertex per
#: click and a double-click to end the path, as the user guide says (napari's "add_path"
#: is freehand since napari 0.5: a trial's clicks along 3 fibers gave 14 two-point paths,
#: every other gap unlabelled, and a straight "fiber" across the ice).
_ADD_MODES = {
    "particle": "add",
    "negative": "add",
    "vesicle": "add_ellipse",
    "fiber": _click_path_mode(),
}


# --- layer <-> annotation conversion (no widget state; Train and Pick use these too) ---


def find_annotation_layer(viewer: Any, micrograph: str, kind: str) -> Any | None:
    """The annotation layer of ``kind`` on the micrograph named ``micrograph``."""
    for layer in viewer.layers:
        meta = layer.metadata
        if (
            meta.get(ROLE_KEY) == "annotation"
            and meta.get("micrograph") == micrograph
            and meta.get("kind") == kind
        ):
            return layer
    return None


def annotation_layer_data(
    table: pd.DataFrame, micrograph: str, kind: str, diameter_px: float | None
) -> tuple:
    """The ``LayerDataTuple`` of an annotation layer holding ``table``'s objects of ``kind``."""
    name = annotation_layer_name(micrograph, kind)
    table = table[table["kind"] == kind].reset_index(drop=True) if len(table) else empty_picks()
    if kind in ("particle", "negative"):
        if kind == "particle" and diameter_px:
            table = table.assign(diameter=float(diameter_px))
        return annotation_points_layer(
            table, name, kind=kind, diameter_px=diameter_px, micrograph=micrograph
        )
    if kind == "vesicle":
        return vesicles_layer(table, name, micrograph=micrograph, role="annotation")
    return fibers_layer(
        picks_to_paths(table), name, micrograph=micrograph, role="annotation", width_px=diameter_px
    )


def layer_to_picks(layer: Any, micrograph: str = "") -> pd.DataFrame:
    """The objects an annotation (or pick) layer holds, as a pick table."""
    kind = layer.metadata.get("kind", "particle")
    if layer_type(layer) == "points":
        x, y = napari_to_xy(layer.data)
        size = np.asarray(layer.size, dtype=float)
        diameter = np.broadcast_to(size, x.shape).copy() if x.size else None
        if kind == "negative":
            diameter = None
        score = None
        if "score" in layer.features and len(layer.features) == x.size:
            score = layer.features["score"].to_numpy(float)
        return make_picks(x, y, diameter=diameter, score=score, micrograph=micrograph, kind=kind)
    if kind == "fiber":
        return paths_to_picks(shapes_to_paths(drawn_shapes(layer)), micrograph=micrograph)
    return shapes_to_vesicles(layer.data, micrograph=micrograph)


def drawn_shapes(layer: Any) -> list:
    """A shapes layer's shapes as the user clicked them: a path still being drawn
    (napari's polyline mode, no double-click yet) without its last vertex, which follows
    the cursor (a re-trial's path, left unfinished, was saved with a vertex where the mouse
    left the canvas: a straight "fiber" across the ice); of one clicked vertex, none."""
    data = list(layer.data)
    if getattr(layer, "_is_creating", False) and str(layer.mode) in ("add_path", "add_polyline"):
        index = (getattr(layer, "_moving_value", None) or (None,))[0]
        if isinstance(index, int | np.integer) and 0 <= index < len(data):
            if len(data[index]) <= 2:
                del data[index]
            else:
                data[index] = data[index][:-1]
    return data


#: The last sidecar read per file: ``{path: (stat key, annotations)}``; the key holds
#: the inode (an atomic save makes a new file), times and size. Saving drops it.
_SAVED: dict[Path, tuple[tuple[int, ...], Annotations]] = {}
_SAVED_MAX = 256


def saved_annotations(micrograph_layer: Any) -> Annotations | None:
    """The micrograph's annotations as its sidecar holds them (None: no file, none, unreadable).

    Read again only when the file changed (size or time), as the Train
    table asks for every open micrograph at each change.
    """
    path = layer_path(micrograph_layer)
    sidecar = find_sidecar(path) if path is not None else None
    if sidecar is None:
        return None
    try:
        stat = sidecar.stat()
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        cached = _SAVED.get(sidecar)
        if cached is None or cached[0] != key:
            cached = (key, read_sidecar(sidecar, micrograph_path=Path(path).absolute()))
            if len(_SAVED) >= _SAVED_MAX:
                _SAVED.clear()
            _SAVED[sidecar] = cached
    except (OSError, AnnotationError):
        return None
    return cached[1]


def annotations_from_layers(viewer: Any, micrograph_layer: Any) -> Annotations:
    """Collect the annotation layers of ``micrograph_layer`` into one record.

    A kind whose layer is not open (never shown, or closed by the user) keeps
    what the micrograph's sidecar holds: closing an annotation layer hides its
    annotations, it does not delete them (an empty layer does). A trial lost
    16 of 17 saved clicks: Alt-1 after closing the layer made an empty one,
    and its first click saved the sidecar with that click alone.
    """
    name = micrograph_name(micrograph_layer)
    tables = [current_labels(viewer, micrograph_layer, kind) for kind in KINDS]
    tables = [table for table in tables if len(table)]
    picks = pd.concat(tables, ignore_index=True) if tables else empty_picks()
    diameter = micrograph_layer.metadata.get(DIAMETER_KEY)
    return Annotations(
        micrograph_path=layer_path(micrograph_layer) or Path(name),
        picks=picks,
        dataset=str(micrograph_layer.metadata.get(DATASET_KEY, "")),
        diameter_px=None if diameter is None else float(diameter),
    )


def current_labels(viewer: Any, micrograph_layer: Any, kind: str) -> pd.DataFrame:
    """The ``kind`` annotations of a micrograph: its open layer's, else its sidecar's.

    What merging new labels into the annotations must start from: a kind
    whose layer is closed (or not made yet, Annotate not docked) still has
    the user's saved objects.
    """
    name = micrograph_name(micrograph_layer)
    layer = find_annotation_layer(viewer, name, kind)
    if layer is not None:
        return layer_to_picks(layer, micrograph=name)
    saved = saved_annotations(micrograph_layer)
    table = saved.of_kind(kind) if saved is not None else empty_picks()
    return table.assign(micrograph=name) if len(table) else empty_picks()


def find_micrograph_layer(viewer: Any, micrograph: str) -> Any | None:
    """The open micrograph layer named ``micrograph`` (file stem), if any."""
    for layer in micrograph_layers(viewer):
        if micrograph_name(layer) == micrograph:
            return layer
    return None


def save_sidecar(viewer: Any, micrograph_layer: Any) -> Path | None:
    """Write the annotation layers of ``micrograph_layer`` to its sidecar (None: no file).

    Kinds without an open layer keep the sidecar's objects
    (:func:`annotations_from_layers`).
    """
    path = layer_path(micrograph_layer)
    if path is None:
        return None
    annotations = annotations_from_layers(viewer, micrograph_layer)
    sidecar = find_sidecar(path)
    if sidecar is not None:
        if saved_annotations(micrograph_layer) is None and sidecar.is_file():
            # unreadable (edited by hand, another program's): kept beside, not overwritten
            from napari_cryopick.io.atomic import set_aside

            backup = set_aside(sidecar)
            logger.warning("%s could not be read; kept as %s", sidecar, backup)
        _SAVED.pop(sidecar, None)
    return save_annotations(annotations)


def replace_annotations(
    viewer: Any, micrograph_layer: Any, table: pd.DataFrame, kind: str = "particle"
) -> Path | None:
    """Make ``table`` the ``kind`` annotations of the micrograph and save its sidecar now.

    The annotation layer is updated in place when it exists (an open
    Annotate widget keeps saving it), else added.
    """
    name = micrograph_name(micrograph_layer)
    table = table.assign(kind=kind, micrograph=name)
    diameter = micrograph_layer.metadata.get(DIAMETER_KEY)
    layer_data = annotation_layer_data(table, name, kind, diameter)
    existing = find_annotation_layer(viewer, name, kind)
    active = viewer.layers.selection.active
    if existing is not None and existing.name != layer_data[1]["name"]:
        viewer.layers.remove(existing)
    update_or_add_layer(viewer, layer_data)
    if active is not None and active in viewer.layers and viewer.layers.selection.active != active:
        # a layer added (the first negatives of *Use as training labels*) is not made the
        # active one: a trial's next click went to the new negative layer in pan/zoom
        # mode, lost, while Annotate's Kind still said particle
        viewer.layers.selection.active = active
    return save_sidecar(viewer, micrograph_layer)


#: A particle label this close (px) to a pick's position is that pick's label, made by an
#: earlier *Use as training labels* (an exact copy of its position).
SAME_AS_PICK_PX = 0.5


def _drop_stale_selection(layer: Any) -> None:
    """Unselect the points a selection names beyond the layer's data: napari sizes the
    selected points when ``current_size`` is set, and a selection left over from data
    replaced by a script or another plugin raised IndexError there (a trial's process
    aborted)."""
    selected = set(layer.selected_data)
    kept = {i for i in selected if i < len(layer.data)}
    if kept != selected:
        layer.selected_data = kept


def _labels_not_at(labels: pd.DataFrame, spots: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """``labels`` without those at one of ``spots`` (x, y; within :data:`SAME_AS_PICK_PX`):
    the copies an earlier *Use as training labels* made of picks or circles deleted since.
    Returns the labels kept and how many went."""
    if spots is None or not len(spots) or not len(labels):
        return labels, 0
    kept = far_from(labels, spots, SAME_AS_PICK_PX)
    return kept.reset_index(drop=True), len(labels) - len(kept)


def merge_particle_labels(
    viewer: Any,
    micrograph_layer: Any,
    picks: pd.DataFrame,
    diameter_px: float,
    deleted: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, int, int]:
    """The user's particle clicks plus the picks that are not already clicked.

    A pick within half a diameter of a click is the same particle: the click
    is kept where the user put it. A label at a ``deleted`` pick's position
    (within :data:`SAME_AS_PICK_PX`) is that pick's, made by an earlier *Use as
    training labels*: the user deleted it since, so it goes (a GUI trial's five
    deleted false picks stayed particle labels, unsaid). Returns the merged
    table, how many picks were added and how many labels went.
    """
    name = micrograph_name(micrograph_layer)
    clicks = current_labels(viewer, micrograph_layer, "particle")
    clicks, dropped = _labels_not_at(clicks, deleted)
    picks = picks.assign(score=np.nan, diameter=float(diameter_px), micrograph=name)
    picks = far_from(picks, clicks, 0.5 * float(diameter_px))
    merged = pd.concat([t for t in (clicks, picks) if len(t)] or [empty_picks()], ignore_index=True)
    return merged, len(picks), dropped


def _copies_dropped(
    labels: pd.DataFrame, updates: Any, kind: str, name: str
) -> tuple[pd.DataFrame, int, int]:
    """``labels`` (circles, or path vertices) with the copies of the shapes ``updates``
    (``shown.LabelUpdates``) says changed since they were used as labels replaced by
    them as they are now, and those of shapes deleted since dropped. A shape without a
    copy among the labels (one the user edited in the label layer, or covered by a
    label of their own) changes nothing. Returns the labels and how many copies were
    dropped and replaced."""
    from .shown import _unchanged

    if updates is None or not len(labels):
        return labels, 0, 0
    fiber = kind == "fiber"
    if fiber:  # numbered 1..n
        labels = paths_to_picks(picks_to_paths(labels), micrograph=name)
    dropped = updated = 0
    for shape, now in updates.pairs:
        copy = np.asarray(_unchanged(kind, labels, shape), bool)  # a label (path) each
        if not copy.any():
            continue
        if fiber:
            tubes = list(dict.fromkeys(labels["tube_id"]))
            labels = labels[~labels["tube_id"].isin(np.asarray(tubes)[copy])]
        else:
            labels = labels[~copy]
        if now is None:
            dropped += 1
            continue
        new = now.assign(score=np.nan, micrograph=name, kind=kind)
        if any(_unchanged(kind, new, labels)):
            dropped += 1  # what it became is labelled already (two became one): it went
            continue
        updated += 1
        if fiber:  # numbered after the paths there are
            start = int(labels["tube_id"].max()) if len(labels) else 0
            new = new.assign(tube_id=pd.factorize(new["tube_id"])[0] + start + 1)
        labels = pd.concat([t for t in (labels, new) if len(t)], ignore_index=True)
    if fiber:  # renumbered 1..n, as the Annotate widget keeps drawn fibers
        labels = paths_to_picks(picks_to_paths(labels), micrograph=name)
    return labels.reset_index(drop=True), dropped, updated


def merge_vesicle_labels(
    viewer: Any,
    micrograph_layer: Any,
    vesicles: pd.DataFrame,
    deleted: Any = (),
    updates: Any = None,
) -> tuple[pd.DataFrame, int, int, int]:
    """The user's vesicle circles plus the vesicles that are not already among them.

    A vesicle whose centre lies within its own radius of an annotated
    circle's centre is the same vesicle: the annotated circle is kept as it
    is. A circle label centred on a ``deleted`` circle's centre (x, y spots of
    ``ShownResult.deleted_shapes``, within :data:`SAME_AS_PICK_PX`) is that
    circle's, made by an earlier *Use as training labels*: it goes, as for
    particles (a GUI trial's deleted circle stayed a vesicle label, and the
    negative made of it was dropped at training as lying on a label). A circle label
    that copies a circle ``updates`` (``shown.LabelUpdates``) says was resized, moved
    or deleted since that press follows it (a GUI trial's resized circle kept its old
    size as a label). Returns the merged table (centre and diameter of each circle),
    how many vesicles were added, how many labels went and how many were updated.
    """
    name = micrograph_name(micrograph_layer)
    drawn, dropped = _labels_not_at(
        current_labels(viewer, micrograph_layer, "vesicle"), spots_table(deleted)
    )
    drawn, went, updated = _copies_dropped(drawn, updates, "vesicle", name)
    dropped += went
    vesicles = vesicles.assign(score=np.nan, micrograph=name, kind="vesicle")
    vesicles = vesicles_not_labelled(vesicles, drawn)
    merged = pd.concat(
        [t for t in (drawn, vesicles) if len(t)] or [empty_picks()], ignore_index=True
    )
    return merged, len(vesicles), dropped, updated


def merge_fiber_labels(
    viewer: Any,
    micrograph_layer: Any,
    fibers: pd.DataFrame,
    width_px: float,
    deleted: Any = (),
    updates: Any = None,
) -> tuple[pd.DataFrame, int, int, int]:
    """The user's fiber paths plus the fibers (one ``tube_id`` each) not already drawn.

    A fiber that runs along one drawn path for at least half its length
    (within half a width: core ``fibers.path_coverage``) is that fiber: the
    drawn path is kept as it is. A path label through a ``deleted`` path's spot
    (``ShownResult.deleted_shapes``, a point on that path; within
    :data:`SAME_AS_PICK_PX`) is that path's, made by an earlier *Use as training
    labels*: it goes, as for particles; a path label that copies a path ``updates``
    says was reshaped or deleted since follows it, as circles do. The merged table
    holds the vertices of every path, kind ``"fiber"``, one ``tube_id`` per path, as the
    Annotate widget stores drawn fibers. Returns it, how many fibers were added, how
    many labels went and how many were updated.
    """
    from napari_cryopick.core.fibers import paths_near

    name = micrograph_name(micrograph_layer)
    labels, went, updated = _copies_dropped(
        current_labels(viewer, micrograph_layer, "fiber"), updates, "fiber", name
    )
    drawn = picks_to_paths(labels)
    spots = spots_table(deleted)
    dropped = 0
    if len(spots) and drawn:
        gone = paths_near(drawn, spots[["x", "y"]].to_numpy(), SAME_AS_PICK_PX)
        drawn = [path for path, away in zip(drawn, ~gone, strict=True) if away]
        dropped = int(gone.sum())
    dropped += went
    new = fiber_paths_not_labelled(picks_to_paths(fibers), drawn, width_px)
    return paths_to_picks([*drawn, *new], micrograph=name), len(new), dropped, updated


def vesicles_not_labelled(vesicles: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The circles of ``vesicles`` that are none of the circle ``labels``: a circle whose
    centre lies within its own radius of a label's centre is that label's vesicle. The one
    rule of merging circles into the labels and of telling the user's circles kept."""
    diameter = vesicles["diameter"].to_numpy(float)
    radius = np.where(np.isfinite(diameter), 0.5 * diameter, 0.0)
    return far_from(vesicles, labels, radius)


def fiber_paths_not_labelled(
    paths: list[np.ndarray], drawn: list[np.ndarray], width_px: float
) -> list[np.ndarray]:
    """The ``paths`` that are none of the labelled paths ``drawn``: one running along a
    drawn path for at least ``SAME_FIBER_COVERAGE`` of its length, within half the fiber
    width ``width_px`` (core ``fibers.path_coverage``), is that fiber. The one rule of
    merging paths into the labels and of telling the user's paths kept."""
    from napari_cryopick.core.fibers import path_coverage

    tolerance = 0.5 * float(width_px)
    return [path for path in paths if path_coverage(path, drawn, tolerance) < SAME_FIBER_COVERAGE]


def merge_negative_labels(
    viewer: Any,
    micrograph_layer: Any,
    deleted: pd.DataFrame,
    particles: pd.DataFrame,
    diameter_px: float,
) -> tuple[pd.DataFrame, int]:
    """The user's negatives plus the deleted picks that are neither negatives nor particles.

    A deleted pick within half a diameter of a negative is already marked,
    and one within half a diameter of a particle label (a click, a kept pick)
    is not junk. Returns the merged negatives and how many were added.
    """
    name = micrograph_name(micrograph_layer)
    marked = current_labels(viewer, micrograph_layer, "negative")
    new = make_picks(
        deleted["x"].to_numpy(float), deleted["y"].to_numpy(float), micrograph=name
    ).assign(kind="negative")
    for others in (marked, particles):
        new = far_from(new, others, 0.5 * float(diameter_px))
    merged = pd.concat([t for t in (marked, new) if len(t)] or [empty_picks()], ignore_index=True)
    return merged, len(new)


def _on_micrograph(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which positions (row, column: napari's data order) lie on a micrograph of ``shape``
    (pixel centres 0 .. n-1, up to half a pixel beyond): a click or a circle's centre."""
    height, width = shape
    return (rows >= -0.5) & (rows <= height - 0.5) & (cols >= -0.5) & (cols <= width - 0.5)


class AnnotateWidget(QWidget):
    """Choose micrograph and object kind, click objects; saved automatically."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        from napari_cryopick._warmup import start_warm_up

        start_warm_up()  # torch and picking's modules, loaded while the user clicks
        self.viewer = napari_viewer
        self._pending: set[str] = set()
        self._loaded: set[str] = set()
        self._hooked: weakref.WeakSet = weakref.WeakSet()  # annotation layers saved on edit
        self._object_kind = "particle"  # the kind of objects clicked last (not negatives)
        self._negatives_on: str | None = None  # the micrograph "negative" was chosen on
        self._measure_layer = None
        self.last_saved: Path | None = None
        #: {micrograph: warning}: the micrograph that last took its settings, when it took
        #: them from micrographs of other folders only (until the user types them)
        self._inherited_notes: dict[str, str] = {}
        self._taken_dataset: dict[str, str] = {}  # ... and the data set it took so
        # micrographs whose diameter was taken from others and not typed since: naming
        # their data set gives them that data set's (a trial's 064, typed 'ribosome', kept
        # the 62 px it had taken from an apoferritin micrograph, and saved it)
        self._taken_diameter: set[str] = set()
        # micrographs whose data-set name was taken from others and not typed since: they
        # are no source of a name "of their folder", and naming another micrograph of
        # their folder names them too (a trial opened two β-gal micrographs beside
        # ribosome ones: the second took 'ribosome' from the first, unsaid, and kept it
        # after the first was named 'bgal': picked with the ribosome head at 56 px)
        self._taken_name: set[str] = set()
        # micrographs whose diameter was taken from micrographs of other folders: a diameter
        # typed on a micrograph of their folder and data set is theirs too
        self._foreign_diameter: set[str] = set()
        # circles not kept as vesicles, said once with the counts of their micrograph
        self._slip_notes: dict[str, str] = {}
        # {micrograph: boxes of circles added as a press without a drag, not checked yet}
        self._press_boxes: dict[str, list[np.ndarray]] = {}
        self._adding_from: dict[str, int] = {}  # (shapes before napari's "adding" event)
        self._removing_slips = False  # (their removal's data event is no edit of the user's)

        self.micrograph_combo = QComboBox()
        self.micrograph_combo.setToolTip(
            "The micrograph annotated: follows the micrograph you open or select"
        )
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(list(KINDS))
        self.kind_combo.setToolTip(
            "What your clicks mark: particle (circle), vesicle (drag a circle), "
            "fiber (click along it, double-click to end), negative (carbon, ice, junk)"
        )
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setDecimals(1)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(DEFAULT_DIAMETER)
        self.diameter_spin.setToolTip(
            "Particle diameter on this micrograph (pixels); Train and Pick use it. A "
            "micrograph without one takes its data set's, else the one typed last"
        )
        self.measure_button = QPushButton("Measure")
        self.measure_button.setCheckable(True)
        self.measure_button.setToolTip(
            "Drag a line across a particle: its length becomes the diameter"
        )
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText(DATASET_PLACEHOLDER)
        self.dataset_edit.setToolTip(
            "Micrographs of one data set train one few-shot head of this name"
        )
        self.save_button = QPushButton("Save now")
        self.save_button.setToolTip("Edits are saved automatically; this saves at once")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        shortcuts = QLabel(
            "Shortcuts: Alt+1 particle, Alt+2 vesicle, Alt+3 fiber, Alt+4 negative. "
            "Edits are saved automatically (beside the micrograph, or in your annotation "
            "folder where that is read-only; the status line says where)."
        )
        shortcuts.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Micrograph", self.micrograph_combo)
        form.addRow("Object kind", self.kind_combo)
        form.addRow("Diameter", self.diameter_spin)
        form.addRow("", self.measure_button)
        form.addRow("Data set", self.dataset_edit)
        layout = scroll_layout(self)
        layout.addLayout(form)
        layout.addWidget(self.save_button)
        layout.addWidget(shortcuts)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_pending)
        # closing napari's window removes no layer and the timer never fires: a review
        # found the last clicks (and a path being drawn) lost on closing within its delay
        call_on_window_close(self.viewer, self._save_on_close)

        self.micrograph_combo.currentTextChanged.connect(self._on_micrograph_chosen)
        self.kind_combo.currentTextChanged.connect(self._on_kind_chosen)
        # choosing the kind already shown selects its layer again (a trial had selected
        # the micrograph, chose "particle" again: nothing happened, clicks went nowhere)
        self.kind_combo.activated.connect(lambda _index: self.activate())
        self.diameter_spin.valueChanged.connect(self._on_diameter_changed)
        # typing the value already shown still records it for this micrograph
        self.diameter_spin.editingFinished.connect(
            lambda: self._on_diameter_changed(self.diameter_spin.value())
        )
        self.dataset_edit.editingFinished.connect(self._on_dataset_changed)
        self.measure_button.toggled.connect(self._on_measure_toggled)
        self.save_button.clicked.connect(self.save_all)
        self._named: weakref.WeakSet = weakref.WeakSet()  # renaming these refreshes the box
        self._loading = False  # _on_layers_changed is loading sidecars
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removing.connect(self._on_layer_removing)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self.viewer.layers.selection.events.active.connect(self._on_active_layer)
        connect_while_alive(session(self.viewer).settings_changed, self, self._on_settings_changed)
        connect_while_alive(session(self.viewer).micrograph_shown, self, self._on_shown)
        for key, kind in SHORTCUTS.items():
            self.viewer.bind_key(key, self._kind_shortcut(kind), overwrite=True)
        current = current_micrograph_layer(self.viewer)  # docked later: the one opened last
        if current is not None:
            populate_layer_combo(
                self.micrograph_combo, micrograph_layers(self.viewer), keep=current.name
            )
        self._on_layers_changed(show=current)
        if self.micrograph_layer() is not None:
            self.activate()
        from .result_layers import follow_micrographs

        # the micrograph shown with the layer list's eye icons is the one clicks go to
        follow_micrographs(self.viewer)

    # --- helpers ---

    def _kind_shortcut(self, kind: str):
        def _switch(_viewer):
            self.set_kind(kind)

        _switch.__name__ = f"cryopick_annotate_{kind}"
        return _switch

    def micrograph_layer(self) -> Any | None:
        """The micrograph layer chosen in the combo box."""
        name = self.micrograph_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 (LayerList has no .get)

    def set_kind(self, kind: str) -> Any | None:
        """Switch the object kind (and select its layer)."""
        if self.kind_combo.currentText() != kind:
            self.kind_combo.setCurrentText(kind)  # triggers activate()
            return self.annotation_layer(kind, create=False)
        return self.activate()

    def set_micrograph(self, micrograph_layer: Any) -> Any | None:
        """Annotate ``micrograph_layer`` from now on: show it alone, select its annotation layer."""
        if self.micrograph_combo.findText(micrograph_layer.name) < 0:
            populate_layer_combo(self.micrograph_combo, micrograph_layers(self.viewer))
        self.micrograph_combo.blockSignals(True)
        self.micrograph_combo.setCurrentText(micrograph_layer.name)
        self.micrograph_combo.blockSignals(False)
        self._on_micrograph_changed()
        return self.activate()

    def annotation_layer(self, kind: str | None = None, *, create: bool = True) -> Any | None:
        """The annotation layer of ``kind`` (default: current) on the chosen micrograph."""
        mlayer = self.micrograph_layer()
        if mlayer is None:
            return None
        kind = kind or self.kind_combo.currentText()
        name = micrograph_name(mlayer)
        layer = find_annotation_layer(self.viewer, name, kind)
        if layer is None and create:  # a closed layer comes back with its saved objects
            table = current_labels(self.viewer, mlayer, kind)  # (the sidecar's: no layer)
            layer = self._add_annotation_layer(mlayer, kind, table)
        return layer

    def _add_annotation_layer(self, mlayer: Any, kind: str, table: pd.DataFrame) -> Any:
        name = micrograph_name(mlayer)
        known = micrograph_diameter(mlayer)
        diameter = known or DEFAULT_DIAMETER  # what the box shows for it
        # a fiber layer keeps the width typed (its writers write it), never the box's default
        data, kwargs, type_name = annotation_layer_data(
            table, name, kind, known if kind == "fiber" else diameter
        )
        active = self.viewer.layers.selection.active
        layer = getattr(self.viewer, f"add_{type_name}")(data, **kwargs)
        if type_name == "points":
            layer.current_size = diameter * (0.5 if kind == "negative" else 1.0)
        self._hook(layer)
        if active is not None:
            # the layer the user had selected stays the active one (not a selection of
            # two with no active layer, where a click went nowhere: a user trial)
            self.viewer.layers.selection.active = active
        return layer

    def _hook(self, layer: Any) -> None:
        """Save the micrograph of an annotation layer whenever the layer is edited."""
        real = unproxy(layer)
        if real in self._hooked:
            return
        self._hooked.add(real)
        micrograph = layer.metadata.get("micrograph", "")
        layer.events.data.connect(
            lambda event, name=micrograph: self._edited(layer, name, getattr(event, "action", ""))
        )

    def _edited(self, layer: Any, micrograph: str, action: Any = "") -> None:
        """An annotation layer changed: drop clicks off the micrograph (said), then save.

        A trial's click at (2000, -50) on a 1024 px micrograph was saved, counted,
        trained around with a log line only, and made ``cryopick train`` refuse the
        exported STAR file as a whole.
        """
        if not self._removing_slips:
            self._slip_notes.pop(micrograph, None)  # said until the user's next edit
        if layer_type(layer) == "shapes" and str(action) == "adding":
            self._adding_from[micrograph] = len(layer.data)
        elif layer_type(layer) == "shapes" and str(action) == "added":
            # napari says a drawn circle is added when the drag ends: one still exactly
            # the box a press draws at this zoom was a click without a drag. Remembered
            # (its box) until the next save, which drops it: the user may zoom before that,
            # and circles drawn earlier, at other zooms, are never measured against this
            # zoom's click (a re-trial lost a real 100 px vesicle so)
            start = self._adding_from.pop(micrograph, len(layer.data) - 1)
            click = _click_circle(layer)
            for box in list(layer.data)[max(start, 0) :]:
                box = np.asarray(box, float)
                sides = np.ptp(box, axis=0)[-2:]
                if click > 0 and np.all(np.abs(sides - click) <= CLICK_CIRCLE_TOLERANCE * click):
                    self._press_boxes.setdefault(micrograph, []).append(box)
        mlayer = find_micrograph_layer(self.viewer, micrograph)
        if (
            mlayer is not None
            and layer_type(layer) == "points"
            and len(layer.data)
            and not getattr(self, "_dropping", False)
        ):
            rows, cols = mlayer.data.shape[-2:]
            data = np.asarray(layer.data, float)
            inside = _on_micrograph(data[:, -2], data[:, -1], (rows, cols))
            if not inside.all():
                self._dropping = True
                try:
                    layer.selected_data = set(np.flatnonzero(~inside).tolist())
                    layer.remove_selected()
                finally:
                    self._dropping = False
                note = (
                    f"{micrograph}: {int((~inside).sum())} click(s) outside the micrograph "
                    f"({int(cols)} x {int(rows)} px) not kept"
                )
                self.status.setText(note)
                # kept under the save's counts until the next edit (a GUI trial's note
                # was replaced by "Saved to ..." 0.4 s later, unread)
                self._slip_notes[micrograph] = note
        self.schedule_save(micrograph)

    def activate(self) -> Any | None:
        """Select (creating if needed) the current kind's layer in its adding mode."""
        if self.measure_button.isChecked():
            self.measure_button.setChecked(False)
        layer = self.annotation_layer()
        if layer is None:
            self.status.setText(no_micrograph_text(self.viewer))
            return None
        if not layer.visible:
            layer.visible = True
        end_unfinished_paths(self.viewer, keep=layer)  # another kind: that path ends
        self.viewer.layers.selection.active = layer
        layer.mode = _ADD_MODES[layer.metadata.get("kind", "particle")]
        return layer

    # --- events ---

    def _on_micrograph_renamed(self, event: Any) -> None:
        """A micrograph layer renamed in the layer list stays listed (and chosen).

        The micrograph itself keeps its name (its file's), so its annotations,
        sidecar and results are unchanged; only the box lists layer names.
        """
        chosen = self.micrograph_combo.currentText()
        renamed = getattr(event, "source", None)
        if chosen not in self.viewer.layers and renamed is not None:  # the chosen one
            chosen = renamed.name
        populate_layer_combo(self.micrograph_combo, micrograph_layers(self.viewer), keep=chosen)

    def _on_layers_changed(self, event: Any = None, *, show: Any = None) -> None:
        """The micrograph layers changed (``event``), or the widget was docked (``show``:
        the micrograph to annotate then)."""
        if self._loading:  # a sidecar's layers being added: the call loading it goes on
            return
        if getattr(event, "type", "") == "inserted" and more_coming(self.viewer, event.value):
            return  # a folder's micrographs: all are loaded with its last
        layers = micrograph_layers(self.viewer)
        populate_layer_combo(self.micrograph_combo, layers)
        reason = "" if layers else no_micrograph_reason(self.viewer)
        if reason:
            # an image that is no micrograph (a folder stacked in 3D, colour): said at
            # once, not at the first click (a GUI trial's Annotate stayed silent)
            self.status.setText(reason)
        elif not layers and getattr(event, "type", "") == "removed":
            # the last micrograph closed: not its counts any more (a GUI trial read
            # "109 particle, 3 negative" with nothing open)
            self.status.setText(no_micrograph_text(self.viewer))
        for mlayer in layers:
            real = unproxy(mlayer)
            if real not in self._named:  # a weak set: a closed layer's id may come back
                self._named.add(real)
                mlayer.events.name.connect(self._on_micrograph_renamed)
        keys = {str(layer_path(mlayer) or mlayer.name) for mlayer in layers}
        self._loaded &= keys  # a micrograph closed and opened again is reloaded
        opened = []
        self._loading = True  # (each layer a sidecar adds calls this again: ignored)
        try:
            for mlayer in layers:
                key = str(layer_path(mlayer) or mlayer.name)
                if key not in self._loaded:
                    self._loaded.add(key)
                    self.load(mlayer)
                    opened.append(mlayer)
        finally:
            self._loading = False
        inserted = (
            getattr(event, "value", None) if getattr(event, "type", "") == "inserted" else None
        )
        if (
            not opened
            and inserted is not None
            and any(unproxy(m) is unproxy(inserted) for m in layers)
        ):
            opened.append(inserted)  # a file opened again: its first click must add a particle
        for layer in self.viewer.layers:
            if layer.metadata.get(ROLE_KEY) == "annotation":
                self._hook(layer)
        if self._measure_layer is not None and self._measure_layer not in self.viewer.layers:
            self._measure_layer = None
            self.measure_button.setChecked(False)
        if opened and event is not None and not more_coming(self.viewer, inserted):
            # after napari has finished inserting (and selecting) the new layer
            newest = opened[-1]
            QTimer.singleShot(0, lambda: self._follow(newest))
        elif show is not None and show in self.viewer.layers:
            # docked after the files were opened: the micrograph the user worked on then
            # (the one opened last, unless they selected another), as when docked first;
            # loading the sidecars above selected each new annotation layer in turn (a
            # trial opened A, B, C and docked: B was shown, C active)
            target = show
            self.micrograph_combo.blockSignals(True)
            self.micrograph_combo.setCurrentText(target.name)
            self.micrograph_combo.blockSignals(False)
            self._on_micrograph_changed()
            self._kind_of_saved(target)
        else:
            self._on_micrograph_changed()

    def _micrograph_of(self, layer: Any) -> Any | None:
        """The micrograph layer ``layer`` is, or annotates; None for any other layer."""
        if layer is None:
            return None
        if is_micrograph_layer(layer):
            return layer
        if layer.metadata.get(ROLE_KEY) == "annotation":
            return find_micrograph_layer(self.viewer, layer.metadata.get("micrograph", ""))
        return None

    def _on_layer_removing(self, event: Any) -> None:
        """Save a micrograph's unsaved edits before it or one of its annotation layers goes.

        A click made just before closing was lost (the quiet-period save ran when
        the micrograph was gone). Saving here, while every layer of the
        micrograph is still open, keeps the sidecar whole whatever the order in
        which layers are removed (``layers.clear()`` removes them one by one).
        """
        try:
            layer = self.viewer.layers[event.index]
        except (AttributeError, IndexError, KeyError, TypeError):
            return
        if is_micrograph_layer(layer):
            if not any(unproxy(m) is unproxy(layer) for m in micrograph_layers(self.viewer)):
                return  # a second layer of an open micrograph, closed: the annotations
                # are the open one's (saving them beside this file gave it a sidecar)
            name, mlayer = micrograph_name(layer), layer
        elif layer.metadata.get(ROLE_KEY) == "annotation":
            name = layer.metadata.get("micrograph", "")
            mlayer = find_micrograph_layer(self.viewer, name)
        else:
            return
        if name in self._pending and mlayer is not None and layer_path(mlayer) is not None:
            self._pending.discard(name)
            self.save(mlayer)

    def _on_layer_removed(self, event: Any) -> None:
        """A micrograph closed: close its annotation layers too.

        Edits on the annotation layers of a closed micrograph were never saved
        (and "Save now" named another micrograph). Its annotations come back
        from the sidecar when it is opened again. A micrograph with no file
        keeps its layers (there is nowhere to save them).
        """
        mlayer = getattr(event, "value", None)
        if mlayer is None or not is_micrograph_layer(mlayer) or layer_path(mlayer) is None:
            return
        name = micrograph_name(mlayer)
        if find_micrograph_layer(self.viewer, name) is not None:
            return  # another open layer shows the same micrograph: its layers stay
        for taken in (self._taken_name, self._foreign_diameter, self._taken_diameter):
            taken.discard(name)  # opened again, it reads its own settings from its sidecar
        self._taken_dataset.pop(name, None)
        self._inherited_notes.pop(name, None)
        own = [
            layer
            for layer in self.viewer.layers
            if layer.metadata.get(ROLE_KEY) == "annotation"
            and layer.metadata.get("micrograph") == name
        ]

        def close_own() -> None:  # after napari has finished removing the micrograph
            for layer in own:
                with contextlib.suppress(KeyError, ValueError, RuntimeError):
                    if layer in self.viewer.layers:
                        self.viewer.layers.remove(layer)
            # the micrograph shown now takes the next click (a trial closed the one on
            # screen: napari left the other's image layer active, and a click added nothing)
            with contextlib.suppress(RuntimeError):  # the widget closed meanwhile
                shown = self.micrograph_layer()
                active = self.viewer.layers.selection.active
                if shown is not None and (active is None or is_micrograph_layer(active)):
                    self.activate()

        QTimer.singleShot(0, close_own)

    def _follow(self, micrograph_layer: Any) -> None:
        """Annotate a micrograph just opened (in the kind of its saved objects)."""
        if micrograph_layer not in self.viewer.layers:
            return
        self._kind_of_saved(micrograph_layer)
        self.set_micrograph(micrograph_layer)

    def _on_kind_chosen(self, kind: str) -> None:
        mlayer = self.micrograph_layer()
        if kind != "negative":
            self._object_kind = kind
        elif mlayer is not None:  # negatives of this micrograph (the next starts anew)
            self._negatives_on = micrograph_name(mlayer)
        self.activate()

    def _kind_of_saved(self, micrograph_layer: Any) -> None:
        """The kind box shows the one kind of particle, vesicle or fiber that the
        micrograph's objects have, when they have one (a vesicle trial's first click on
        a reopened vesicle micrograph added a 100 px particle; a click on a ribosome
        micrograph chosen after a vesicle one drew a circle). Otherwise it stays, except
        "negative": a new micrograph starts with the kind of objects clicked last (a
        trial marked junk on one micrograph; its first clicks on the next, on
        particles, were saved as negatives)."""
        current = self.kind_combo.currentText()
        if current != "negative":
            self._object_kind = current
        counts = annotations_from_layers(self.viewer, micrograph_layer).counts()
        kinds = [k for k in ("particle", "vesicle", "fiber") if counts.get(k)]
        wanted = kinds[0] if len(kinds) == 1 else current
        if wanted == "negative" and micrograph_name(micrograph_layer) != self._negatives_on:
            wanted = self._object_kind
        if wanted != current:
            self.kind_combo.blockSignals(True)
            self.kind_combo.setCurrentText(wanted)
            self.kind_combo.blockSignals(False)
        self._negatives_on = micrograph_name(micrograph_layer) if wanted == "negative" else None

    def _on_shown(self, name: str) -> None:
        """The micrograph shown alone (eye icon, review table, Pick) is the one the boxes
        say, whatever layer is selected: a trial switched with the eye icon while the picks
        layer was selected; the box stayed on the micrograph before (its status, Alt+1
        back to it)."""
        if self._loading or self.micrograph_layer() is None:
            return
        if micrograph_name(self.micrograph_layer()) == name:
            return
        mlayer = find_micrograph_layer(self.viewer, name)
        if mlayer is None or more_coming(self.viewer, mlayer):
            return
        self.micrograph_combo.blockSignals(True)
        self.micrograph_combo.setCurrentText(mlayer.name)
        self.micrograph_combo.blockSignals(False)
        self._on_micrograph_changed()
        self._kind_of_saved(mlayer)
        # its annotation layer exists once shown, the selection kept (the eye icon's switch
        # then selects it: a GUI trial's micrograph never annotated stayed without one, its
        # image selected, and the next click on it added nothing)
        self.annotation_layer()

    def _on_active_layer(self, event: Any = None) -> None:
        """Follow the layer the user selects: a micrograph, or an annotation layer of one."""
        if self._loading:
            # napari selects each layer a sidecar adds: not the user's choice (a trial
            # reopened micrographs with negatives, docked Annotate, and the kind box had
            # followed the last layer loaded: the first click was saved as a negative)
            return
        active = self.viewer.layers.selection.active
        if more_coming(self.viewer, active):  # a folder's micrographs: the last is followed
            return
        mlayer = self._micrograph_of(active)
        if mlayer is None or mlayer.name == self.micrograph_combo.currentText():
            return
        self.micrograph_combo.blockSignals(True)
        self.micrograph_combo.setCurrentText(mlayer.name)
        self.micrograph_combo.blockSignals(False)
        self._on_micrograph_changed()
        if active.metadata.get(ROLE_KEY) == "annotation":
            kind = active.metadata.get("kind", "particle")
            if kind != self.kind_combo.currentText():
                self.kind_combo.blockSignals(True)
                self.kind_combo.setCurrentText(kind)
                self.kind_combo.blockSignals(False)
        else:
            self._kind_of_saved(mlayer)
            self.annotation_layer()  # exists before the first click
            # another micrograph chosen in the layer list: its annotation layer is the
            # one clicked on, as when chosen in the Micrograph box or with its eye icon
            # (a re-trial's clicks on it panned the view and added nothing); after napari
            # has finished selecting. Selecting the image again keeps it (contrast).
            chosen = mlayer

            def _click_ready() -> None:
                with contextlib.suppress(RuntimeError):  # the widget closed meanwhile
                    active = self.viewer.layers.selection.active
                    shown = self.micrograph_layer()
                    if (
                        active is not None
                        and shown is not None
                        and unproxy(active) is unproxy(chosen)
                        and unproxy(shown) is unproxy(chosen)
                    ):
                        self.activate()

            QTimer.singleShot(0, _click_ready)

    def _on_micrograph_chosen(self, _name: str) -> None:
        """The user chose a micrograph in the combo box: annotate it now."""
        self._on_micrograph_changed()
        if self.micrograph_layer() is not None:
            self._kind_of_saved(self.micrograph_layer())
            self.activate()

    def _on_micrograph_changed(self, _name: str = "") -> None:
        mlayer = self.micrograph_layer()
        if mlayer is None:
            return
        if len(micrograph_layers(self.viewer)) > 1:
            show_only_micrograph(self.viewer, micrograph_name(mlayer))
        self._inherit_settings(mlayer)
        own = micrograph_dataset(mlayer)
        if own and micrograph_name(mlayer) not in self._taken_name:
            # a micrograph with a data set of its own (annotated before): the micrographs
            # of its folder that only took theirs from others take it (a GUI trial's
            # apoferritin micrograph kept the 'ribosome' taken from another folder after
            # one of its folder, annotated 'apoferritin', opened)
            self._follow_in_folder(mlayer, dataset=own)
        # the boxes show what this micrograph uses, never the previous one's values
        self.dataset_edit.setText(micrograph_dataset(mlayer))
        # empty, training names the data set after the micrograph's folder: the box says
        # which (a parity trial's box stayed empty while its model's head was named
        # 'empiar10146_apoferritin')
        folder = dataset_or_folder(mlayer)
        self.dataset_edit.setPlaceholderText(
            f"{folder} (its folder's name; type another)" if folder else DATASET_PLACEHOLDER
        )
        self.diameter_spin.blockSignals(True)
        self.diameter_spin.setValue(micrograph_diameter(mlayer) or DEFAULT_DIAMETER)
        self.diameter_spin.blockSignals(False)
        self._show_counts(mlayer)

    def _inherit_settings(self, mlayer: Any) -> None:
        """A micrograph without a diameter or data-set name takes the session's, and keeps them."""
        diameter, dataset = inherited_settings(self.viewer, mlayer)
        if not set_micrograph_settings(self.viewer, mlayer, diameter_px=diameter, dataset=dataset):
            return
        name = micrograph_name(mlayer)
        if diameter is not None:
            self._resize_particles(mlayer, diameter)
            self._taken_diameter.add(name)
        if dataset is not None:
            self._taken_name.add(name)
        self._save_if_annotated(mlayer)
        note = self._from_another_folder(mlayer, diameter, dataset)
        # each micrograph's own, until the user types its settings (a second micrograph
        # opened with it replaced the first's)
        if note:
            self._inherited_notes[name] = note
        else:
            self._inherited_notes.pop(name, None)
        if note and dataset is not None:
            self._taken_dataset[name] = dataset
        else:
            self._taken_dataset.pop(name, None)
        if note and diameter is not None:
            self._foreign_diameter.add(name)

    def _from_another_folder(self, mlayer: Any, diameter: float | None, dataset: str | None) -> str:
        """A warning when ``mlayer`` took its settings from micrographs of other folders only.

        A trial opened an apoferritin micrograph beside β-gal ones: it took the data
        set "bgal" and 108 px without a word, and its clicks would have trained the
        β-gal head. Micrographs of one protein in two folders (two grids) still take
        them; the warning says what was taken and where from.
        """
        from napari_cryopick.workflows.inputs import _dataset_name

        path = layer_path(mlayer)
        own = dataset if dataset is not None else micrograph_dataset(mlayer)
        if path is None or not own:
            return ""
        sources = [
            other
            for other in micrograph_layers(self.viewer)
            if unproxy(other) is not unproxy(mlayer)
            and micrograph_dataset(other) == own
            and layer_path(other) is not None
            and micrograph_name(other) not in self._taken_name  # a name of its own
        ]
        folder = _dataset_name(Path(path))
        folders = {_dataset_name(Path(layer_path(other))) for other in sources}
        took = {"dataset": f"data set '{own}'"} if dataset is not None else {}
        if diameter is not None:
            took["diameter"] = f"{diameter:g} px"
        what = "data set and diameter" if dataset is not None else "diameter"
        if not took:
            return ""
        if sources:
            if folder in folders:
                return ""
            where = f"as the micrographs of data set '{own}' in {', '.join(sorted(folders))}"
        else:
            # taken from what was typed last, on micrographs closed since (a trial: a
            # vesicle micrograph took 'apoferritin' and 62 px without a word)
            typed_on = session(self.viewer).typed_on
            elsewhere = {
                key: typed_on[key]
                for key, value in (("dataset", dataset), ("diameter", diameter))
                if value is not None
                and typed_on.get(key) is not None
                and _dataset_name(typed_on[key]) != folder
            }
            if not elsewhere:
                return ""
            took = {key: text for key, text in took.items() if key in elsewhere}
            where = "as typed last on " + ", ".join(
                f"{path.stem} (folder {_dataset_name(path)})"
                for path in sorted(set(elsewhere.values()))
            )
        return (
            f"Warning: {micrograph_name(mlayer)} (folder {folder}) took "
            f"{' and '.join(took.values())} "
            f"{where}: if it is another protein, type its {what}."
        )

    def _resize_particles(self, mlayer: Any, diameter: float) -> None:
        """The micrograph's particle clicks take its diameter: drawn size and recorded value
        (negatives' crosses are redrawn at half of it, as they were clicked).

        The recorded value (``features["diameter"]``, and ``feature_defaults`` for
        the next clicks) is what Evaluate, File > Save and the pick writers
        read; the drawn size alone left clicks at the layer's first diameter.
        """
        fibers = find_annotation_layer(self.viewer, micrograph_name(mlayer), "fiber")
        if fibers is not None:  # the width File > Save Selected Layers writes
            fibers.metadata = {**fibers.metadata, "diameter": float(diameter)}
        negatives = find_annotation_layer(self.viewer, micrograph_name(mlayer), "negative")
        if negatives is not None:  # drawn at half the diameter; no size is recorded
            _drop_stale_selection(negatives)
            negatives.current_size = 0.5 * diameter
            if len(negatives.data):
                negatives.size = np.full(len(negatives.data), 0.5 * diameter)
        layer = find_annotation_layer(self.viewer, micrograph_name(mlayer), "particle")
        if layer is None:
            return
        _drop_stale_selection(layer)
        layer.current_size = diameter
        defaults = layer.feature_defaults
        if "diameter" in defaults.columns:
            defaults.loc[:, "diameter"] = float(diameter)
            layer.feature_defaults = defaults
        if len(layer.data):
            layer.size = np.full(len(layer.data), diameter)
            if "diameter" in layer.features.columns:
                features = layer.features.copy()
                features["diameter"] = float(diameter)
                layer.features = features

    def _on_settings_changed(self, name: str) -> None:
        """Another widget set a micrograph's diameter: its particle clicks follow."""
        mlayer = next(
            (m for m in micrograph_layers(self.viewer) if micrograph_name(m) == name), None
        )
        diameter = micrograph_diameter(mlayer) if mlayer is not None else None
        if diameter is not None:
            self._resize_particles(mlayer, diameter)
            shown = self.micrograph_combo.currentText() == mlayer.name  # (not `is`: proxies)
            if shown and self.diameter_spin.value() != diameter:
                # the box shows it (a GUI trial: Train's estimate drawn, the box at 100 px
                # until another micrograph was shown and this one again)
                self.diameter_spin.blockSignals(True)
                self.diameter_spin.setValue(float(diameter))
                self.diameter_spin.blockSignals(False)

    def _on_diameter_changed(self, value: float) -> None:
        mlayer = self.micrograph_layer()
        if mlayer is None:
            return
        if set_micrograph_settings(self.viewer, mlayer, diameter_px=value, typed=True):
            self._resize_particles(mlayer, float(value))
            name = micrograph_name(mlayer)
            self._taken_diameter.discard(name)
            self._foreign_diameter.discard(name)
            self._follow_in_folder(mlayer, diameter=float(value))
            if self._inherited_notes.pop(name, None):
                # the user gave the diameter; a data set taken from another folder is still
                # said (a re-trial typed 62 px only, and the warning about the ribosome data
                # set went with it)
                taken = self._taken_dataset.get(name)
                note = self._from_another_folder(mlayer, None, taken) if taken else ""
                if note:
                    self._inherited_notes[name] = note
                self._show_counts(mlayer)
            self.schedule_save(name)

    def _on_dataset_changed(self) -> None:
        mlayer = self.micrograph_layer()
        if mlayer is None:
            return
        text = self.dataset_edit.text().strip()
        if set_micrograph_settings(self.viewer, mlayer, dataset=text, typed=True):
            name = micrograph_name(mlayer)
            self._inherited_notes.pop(name, None)  # named by the user
            self._taken_dataset.pop(name, None)
            self._taken_name.discard(name)
            if name in self._taken_diameter and self._take_data_set_diameter(mlayer, text):
                self.diameter_spin.blockSignals(True)
                self.diameter_spin.setValue(micrograph_diameter(mlayer))
                self.diameter_spin.blockSignals(False)
            elif name in self._foreign_diameter and micrograph_diameter(mlayer) is not None:
                # a data set of its own, the diameter still another folder's (a GUI trial
                # named a vesicle micrograph 'vesicles': the ribosome's 56 px stayed, unsaid)
                self._inherited_notes[name] = (
                    f"Note: the diameter {micrograph_diameter(mlayer):g} px came from the "
                    f"micrographs opened before, not from data set '{text}': type its "
                    "diameter, or Measure a particle."
                )
            self._follow_in_folder(mlayer, dataset=text)
            self.schedule_save(name)
            self._show_counts(mlayer)

    def _follow_in_folder(
        self, mlayer: Any, *, dataset: str | None = None, diameter: float | None = None
    ) -> None:
        """The user named ``mlayer``'s data set or typed its diameter: the other open
        micrographs of its folder that only took theirs from others take it too (a folder
        is a data set, as cryopick train names them); micrographs with their own keep it.
        """
        path = layer_path(mlayer)
        if path is None:
            return
        for other in micrograph_layers(self.viewer):
            other_path = layer_path(other)
            name = micrograph_name(other)
            if (
                unproxy(other) is unproxy(mlayer)
                or other_path is None
                or Path(other_path).parent != Path(path).parent
            ):
                continue
            if dataset is not None and name in self._taken_name:
                set_micrograph_settings(self.viewer, other, dataset=dataset)
                self._taken_name.discard(name)
                self._taken_dataset.pop(name, None)
                self._inherited_notes.pop(name, None)
                if name in self._taken_diameter and self._take_data_set_diameter(other, dataset):
                    self._foreign_diameter.discard(name)
                self._save_if_annotated(other)
            elif (
                diameter is not None
                and name in self._foreign_diameter  # taken from another folder's
                and micrograph_dataset(other) == micrograph_dataset(mlayer)
            ):
                set_micrograph_settings(self.viewer, other, diameter_px=diameter)
                self._resize_particles(other, diameter)
                self._foreign_diameter.discard(name)
                self._save_if_annotated(other)

    def _save_if_annotated(self, mlayer: Any) -> None:
        """Save ``mlayer``'s settings with its annotations (none is made for them alone)."""
        if any(annotations_from_layers(self.viewer, mlayer).counts().values()):
            self.schedule_save(micrograph_name(mlayer))

    def _take_data_set_diameter(self, mlayer: Any, dataset: str) -> bool:
        """A micrograph whose diameter was taken from another, now named ``dataset``: the
        diameter of the open micrographs of that data set (the top-most with one), when
        they have one and it differs. Returns whether it changed."""
        diameter = data_set_diameter(self.viewer, mlayer, dataset)
        if diameter is None or diameter == micrograph_diameter(mlayer):
            return False
        set_micrograph_settings(self.viewer, mlayer, diameter_px=diameter)
        self._resize_particles(mlayer, float(diameter))
        return True

    def _on_measure_toggled(self, checked: bool) -> None:
        if checked:
            layer = self.viewer.add_shapes(
                name="measure diameter", edge_color="orange", edge_width=2, ndim=2
            )
            layer.mode = "add_line"
            layer.events.data.connect(self._on_measure_drawn)
            self._measure_layer = layer
            self.status.setText("Drag across a particle; its length becomes the diameter.")
            return
        layer, self._measure_layer = self._measure_layer, None
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)
        annotation = self.annotation_layer(create=False)
        if annotation is not None:
            self.viewer.layers.selection.active = annotation

    def _on_measure_drawn(self, _event: Any = None) -> None:
        layer = self._measure_layer
        if layer is None or not len(layer.data):
            return
        line = np.asarray(layer.data[-1], dtype=float)
        length = float(np.linalg.norm(line[-1, -2:] - line[0, -2:]))
        if length >= 1.0:
            self.diameter_spin.setValue(length)
            self.status.setText(f"Diameter measured: {length:.1f} px")

    # --- load / save ---

    def load(self, mlayer: Any) -> Annotations | None:
        """Load the sidecar of ``mlayer`` (if any) into annotation layers."""
        path = layer_path(mlayer)
        if path is None:
            return None
        try:
            annotations = load_annotations(path)
        except AnnotationError as exc:
            # said when it opens, in napari's notifications too (a GUI trial heard of it
            # only at its first click, the status line having moved on)
            from napari.utils.notifications import show_warning

            message = (
                f"{exc}. Its clicks are not shown; your first click on this micrograph "
                "keeps that file aside (renamed *.unreadable-<date>) and starts a new one."
            )
            self.status.setText(message)
            show_warning(message)
            return None
        if annotations is None:
            return None
        set_micrograph_settings(
            self.viewer,
            mlayer,
            diameter_px=annotations.diameter_px or None,
            dataset=annotations.dataset,
        )
        name = micrograph_name(mlayer)
        kept = []
        for kind in KINDS:
            table = annotations.of_kind(kind)
            if find_annotation_layer(self.viewer, name, kind) is not None:
                # the layer is the session's (the Pick widget's "Use as training labels"
                # made it before Annotate was docked, and the user may have edited it
                # since): it stays and is saved, never replaced by the older file (a
                # review: docking Annotate wiped those edits)
                kept.append(kind)
                continue
            if len(table):
                self._add_annotation_layer(mlayer, kind, table)
        if kept:
            self.schedule_save(name)
        self.status.setText(f"Loaded {sum(annotations.counts().values())} annotations.")
        return annotations

    def set_annotations(self, mlayer: Any, table: pd.DataFrame, kind: str = "particle") -> Path:
        """Replace the ``kind`` annotations of ``mlayer`` with ``table`` and save now."""
        saved = replace_annotations(self.viewer, mlayer, table, kind)
        self._on_layers_changed()
        return saved

    def schedule_save(self, micrograph: str) -> None:
        """Save the annotations of the micrograph named ``micrograph`` after a quiet period."""
        self._pending.add(micrograph)
        self._save_timer.start()

    def _save_on_close(self) -> None:
        """napari's window closes: save the edits the timer would have (a path being
        drawn ends as it is, as Save now ends it)."""
        try:
            self._save_timer.stop()
        except RuntimeError:  # this dock widget was closed before the window
            return
        if self._pending:
            end_unfinished_paths(self.viewer)
            self.save_pending()

    def save_pending(self) -> None:
        """Save every micrograph with unsaved edits (to its own sidecar)."""
        pending, self._pending = self._pending, set()
        for name in pending:
            mlayer = find_micrograph_layer(self.viewer, name)
            if mlayer is not None:
                if not (self._drop_slipped_vesicles(name) and self._drop_point_paths(name)):
                    self.schedule_save(name)  # a circle is being drawn: once it is done
                    continue
                self.save(mlayer)
            # the Train widget's table follows (a trial's clicks never reached it, and the
            # model was saved as model.pt, over another data set's)
            session(self.viewer).annotations_changed.emit(name)

    def _drop_slipped_vesicles(self, micrograph: str) -> bool:
        """Remove the micrograph's drawn vesicles smaller than :data:`MIN_DRAWN_VESICLE_PX`
        (or the vertex handles on screen), saying so; False while a circle is being drawn.
        """
        layer = find_annotation_layer(self.viewer, micrograph, "vesicle")
        if layer is None or not len(layer.data):
            return True
        if getattr(layer, "_is_creating", False):
            return False
        presses = self._press_boxes.pop(micrograph, [])  # added as clicks since the last check
        sizes = layer_to_picks(layer)["diameter"].to_numpy(float)
        if len(sizes) != len(layer.data):
            return True
        tiny = ~(sizes >= MIN_DRAWN_VESICLE_PX)
        for index, box in enumerate(layer.data):
            box = np.asarray(box, float)
            if any(p.shape == box.shape and np.allclose(p, box, atol=1e-6) for p in presses):
                tiny[index] = True  # still exactly the box its press drew
        # a circle centred off the micrograph, as a click there (a GUI trial's vesicle at
        # x = -22.75 was kept unsaid, then dropped by every training with a log line)
        outside = np.zeros(len(sizes), bool)
        mlayer = find_micrograph_layer(self.viewer, micrograph)
        if mlayer is not None:
            rows, cols = mlayer.data.shape[-2:]
            centres = layer_to_picks(layer)[["x", "y"]].to_numpy(float)
            outside = ~_on_micrograph(centres[:, 1], centres[:, 0], (rows, cols)) & ~tiny
        if not (tiny.any() or outside.any()):
            return True
        self._remove_slips(layer, np.flatnonzero(tiny | outside).tolist())
        notes = []
        if tiny.any():
            notes.append(
                f"{int(tiny.sum())} circle(s) of a click (or smaller than "
                f"{MIN_DRAWN_VESICLE_PX:.0f} px) not kept as vesicles (a click draws none: "
                "drag across the vesicle)"
            )
        if outside.any():
            notes.append(
                f"{int(outside.sum())} circle(s) centred outside the micrograph "
                f"({int(cols)} x {int(rows)} px) not kept as vesicles"
            )
        self._slip_notes[micrograph] = "; ".join(notes)
        return True

    def _remove_slips(self, layer: Any, indexes: list[int]) -> None:
        """Remove the shapes ``indexes`` of ``layer`` (slips, said by the caller); its data
        event is no edit of the user's."""
        layer.selected_data = set(indexes)
        self._removing_slips = True
        try:
            layer.remove_selected()
        finally:
            self._removing_slips = False

    def _drop_point_paths(self, micrograph: str) -> bool:
        """Remove the micrograph's drawn fiber paths of fewer than two distinct points,
        saying so (a trial's double-click on one spot was saved and trained as a fiber
        with no direction); False while a path is being drawn."""
        layer = find_annotation_layer(self.viewer, micrograph, "fiber")
        if layer is None or not len(layer.data):
            return True
        if getattr(layer, "_is_creating", False):
            return False
        points = [
            index
            for index, path in enumerate(layer.data)
            if len(np.unique(np.round(np.asarray(path, float)[:, -2:], 3), axis=0)) < 2
        ]
        if not points:
            return True
        self._remove_slips(layer, points)
        note = (
            f"{len(points)} fiber path(s) of one point not kept (a fiber needs two points: "
            "click along it, double-click to end)"
        )
        earlier = self._slip_notes.get(micrograph)
        self._slip_notes[micrograph] = f"{earlier}; {note}" if earlier else note
        return True

    def save_all(self) -> list[Path]:
        """Save the annotations of every open micrograph that has some, or had some.

        A micrograph with no annotations and no sidecar gets no file, whatever
        diameter or data set it shows (a trial's "Save now" wrote an empty sidecar
        for an unannotated micrograph and said "no annotations"; a typed value is
        saved when typed). The status keeps the counts of the micrograph shown
        and says how many were saved where, or which could not be.
        """
        saved, failed, fileless = [], [], []
        end_unfinished_paths(self.viewer)  # Save now: a path being drawn ends as it is
        for mlayer in micrograph_layers(self.viewer):
            path = layer_path(mlayer)
            self._drop_slipped_vesicles(micrograph_name(mlayer))  # (Save now: none saved)
            self._drop_point_paths(micrograph_name(mlayer))
            annotations = annotations_from_layers(self.viewer, mlayer)
            if path is None:
                # a sample or an array: no file to keep a sidecar beside (a trial's clicks
                # on a sample read "Nothing to save: no micrograph has annotations")
                if len(annotations.picks):
                    fileless.append(mlayer.name)
                continue
            if not len(annotations.picks) and find_sidecar(path) is None:
                continue
            written = self.save(mlayer)
            if written is not None:
                saved.append(written)
            elif path is not None:  # save() said why in the status line
                failed.append(self.status.text())
        shown = self.micrograph_layer()
        if shown is not None:
            self._show_counts(shown)
        folders = sorted({str(path.parent) for path in saved})
        where = f" in {folders[0]}" if len(folders) == 1 else ""
        notes = [f"Saved the annotations of {len(saved)} micrograph(s){where}."] if saved else []
        if failed:
            notes.append(f"{len(failed)} could not be saved: {failed[0]}")
        if fileless:
            notes.append(
                f"Not saved: {name_list(fileless, 3)} (no file to keep the annotations beside: "
                "a sample or an image made in napari; save its layers with File > Save "
                "Selected Layers, or write the image to a file and open that)."
            )
        if not notes:
            notes = ["Nothing to save: no micrograph has annotations."]
        text = self.status.text()
        self.status.setText("\n".join([text, *notes] if text else notes))
        return saved

    def save(self, mlayer: Any) -> Path | None:
        """Write the annotations of ``mlayer`` to its sidecar now."""
        if layer_path(mlayer) is None:
            self.status.setText(f"{mlayer.name}: no file, annotations are not saved")
            return None
        key = f"annotations:{layer_path(mlayer)}"
        try:
            self.last_saved = save_sidecar(self.viewer, mlayer)
        except OSError as exc:
            self.status.setText(f"Could not save annotations: {exc}")
            say_save_failed(
                key,
                f"{mlayer.name}: the annotations could not be saved ({short_error(exc)}). "
                "They stay in this napari session; free the disk or folder and press "
                "Save now, or save the layers with File > Save Selected Layers.",
            )
            return None
        say_save_succeeded(key)
        # the counts of the micrograph on screen (a quiet-period save of the one before
        # replaced them, and a warning about the one shown, in a test)
        shown = self.micrograph_layer()
        self._show_counts(shown if shown is not None else mlayer, saved=self.last_saved)
        return self.last_saved

    def _show_counts(self, mlayer: Any, saved: Path | None = None) -> None:
        counts = annotations_from_layers(self.viewer, mlayer).counts()
        text = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no annotations"
        if saved is not None:
            text += f"\nSaved to {saved}"
        note = self._inherited_notes.get(micrograph_name(mlayer))
        if note:
            text += f"\n{note}"
        slip = self._slip_notes.get(micrograph_name(mlayer))  # until the next edit
        if slip:
            text += f"\n{slip}"
        self.status.setText(text)
