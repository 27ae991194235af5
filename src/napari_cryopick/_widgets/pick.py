"""Pick widget: model, head, diameter, threshold; pick, export, use as labels.

The widget only gathers settings and starts jobs: picking runs the workflow
(``workflows.pick``) in a napari worker, a micrograph at a time; results go to
the viewer through ``result_layers`` (one set of layers following the
micrograph the user works on), whose tables are ``shown``'s. Its review panel
(the table of picked micrographs, stepping through them, folders and their pick
files) is ``review``'s.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
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
    QWidget,
)

from napari_cryopick.core.pick_table import empty_picks
from napari_cryopick.core.progress import drive
from napari_cryopick.core.text import and_list, name_list
from napari_cryopick.io.pickfiles import FORMATS as PICK_FORMATS
from napari_cryopick.layers.results import ROLE_KEY

from ._common import (
    BUNDLED_ORIGIN,
    OWN_HEADS,
    SLIDER_STEPS,
    JobProgress,
    StepQueue,
    adopt_model_file,
    at_pixel_size,
    background,
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
    micrograph_identity,
    micrograph_layers,
    micrograph_name,
    more_coming,
    no_micrograph_reason,
    no_micrograph_text,
    not_a_micrograph_text,
    on_slider_step,
    scroll_layout,
    session,
    session_micrographs,
    set_micrograph_settings,
    short_error,
    still_the_micrograph,
    threshold_text,
    unproxy,
)
from .result_layers import (
    _counts_without_tracing,
    _current_picks,
    _store_shape_edits,
    _threshold_of,
    apply_display_threshold,
    autosave_corrections,
    deleted_picks,
    ensuring_result_layers,
    follow_micrographs,
    moved_picks,
    own_moved_picks,
    restored_threshold,
    result_layer,
    result_picks,
    showing_pick_result,
    shown_objects,
)
from .review import ReviewPanel
from .shown import (
    SHAPE_CODES,
    _fiber_width,
    _has_diameters,
    _object_counts,
    _object_scores,
    _objects_text,
    _record_table,
    counted,
    default_pick_config,
    labelled_now,
    labels_to_update,
    made_by_earlier_file,
    same_circles,
    shapes_record,
    spots_table,
    tracked_positions,
)


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
        if not kinds:
            # every pick deleted (or none found): an empty file replaces the earlier
            # export's, which stayed beside the others with every junk pick (a review)
            kinds = {"particle"}
        fibers = part[(part["kind"] == "fiber") & (part["tube_id"] > 0)]
        mlayer = open_layers.get(name)
        if mlayer is not None:
            shape = tuple(np.shape(mlayer.data)[-2:])
            pixel = mlayer.metadata.get("pixel_size")
            path = layer_path(mlayer)
        else:  # closed by the review, its picks kept: as its layer had them (a review's
            # closed TIFF micrographs were written with y from the first row, unflipped)
            shape, pixel = state.retained_image.get(name, ((0, 0), None))
            path = state.retained_from.get(name)
        item = MicrographPicks(
            name=name,
            path=path,  # (TIFF y)
            shape=shape,
            pixel_size=pixel,
            diameter_px=_fiber_width(fibers) or float(width_px),
            candidates=empty_picks(),
            picks=part,
            fiber_paths=picks_to_paths(fibers),
        )
        items.append((item, tuple(sorted(kinds))))
    return items


def _emptied_by_threshold(viewer: Any, items: Sequence, folder: Path, format: str) -> dict:
    """``{micrograph: its file}`` of the export ``items`` that write no pick over an
    existing file of theirs in ``folder`` holding picks their micrograph still has,
    hidden (by the threshold or the size range), not deleted: the picks exported before
    that the user deleted since are not asked about (a review: select-all selects the
    shown picks only, the candidates below the threshold stay)."""
    from napari_cryopick.io.pickfiles import read_picks
    from napari_cryopick.workflows.pick import output_paths

    state = session(viewer)
    found = {}
    for item, kinds in items:
        if len(item.picks) or not item.name:
            continue
        layer = result_layer(viewer, item.name)
        stored = state.pick_results.get(item.name)
        if layer is not None:
            left = np.asarray(layer.data, float).reshape(-1, 2)[:, ::-1]  # (x, y)
        elif stored is not None:
            left = stored.picks[["x", "y"]].to_numpy(float)
        else:
            continue
        if not len(left):
            continue  # every pick deleted: the empty file is what the user made
        for target in output_paths(folder / item.name, (format,), kinds):
            if not target.is_file():
                continue
            try:
                earlier = read_picks(target)[["x", "y"]].to_numpy(float)
            except (ValueError, OSError, KeyError):
                continue  # (not ours to judge: the write will replace or refuse it)
            if not len(earlier):
                continue
            height = item.shape[0] if item.shape else 0
            # (written as shown, or mirrored by an export with 'TIFF y from the last row')
            mirrored = np.column_stack([earlier[:, 0], height - 1 - earlier[:, 1]])
            if _any_within(earlier, left, 1.0) or (height and _any_within(mirrored, left, 1.0)):
                found[item.name] = target
    return found


def _any_within(points: np.ndarray, others: np.ndarray, distance: float) -> bool:
    """Whether any of ``points`` lies within ``distance`` of one of ``others`` (n×2)."""
    from scipy.spatial import cKDTree

    nearest, _ = cKDTree(others).query(points, k=1, distance_upper_bound=distance)
    return bool(np.isfinite(nearest).any())


def _same_micrograph(first: Path, second: Path) -> bool:
    """Whether two micrograph paths name one file (the same file through a link or a
    mount when both are there; the same path when one is gone: a moved micrograph's
    export is not replaced by another's of its name)."""
    if first.is_file() and second.is_file():
        return os.path.samefile(first, second)
    return os.path.normpath(os.path.abspath(first)) == os.path.normpath(os.path.abspath(second))


def _exporting(
    items: list,
    folder: Path,
    format: str,
    cancel: threading.Event,
    flip_tiff_y: bool = False,
    inputs: dict | None = None,
):
    """Write each micrograph's files (:func:`_export_items`), a micrograph at a time, for a worker.

    The writer of ``cryopick pick`` (``workflows.pick.write_micrograph_picks``
    with its defaults: RELION helical start/end pairs for fibers in STAR,
    crYOLO filaments in CBOX), each file atomically. Yields ``(done, total)``
    after each micrograph; stops between two when ``cancel`` is set (every
    file written is complete). Returns the files. ``flip_tiff_y``: TIFF micrographs'
    y from the last row (the Pick widget's *TIFF y from the last row*). ``inputs``:
    filled with ``{file written: its micrograph file}`` where known.
    """
    from napari_cryopick.workflows.batch import record_export
    from napari_cryopick.workflows.pick import PickRequest, write_micrograph_picks

    request = PickRequest(micrographs=(), formats=(format,), flip_tiff_y=flip_tiff_y)
    written: list[Path] = []
    inputs = {} if inputs is None else inputs
    try:
        for done, (item, kinds) in enumerate(items, start=1):
            if cancel.is_set():
                break
            files = write_micrograph_picks(item, folder / (item.name or "picks"), request, kinds)
            written += files
            if item.path:
                inputs.update(dict.fromkeys(map(Path, files), Path(item.path)))
            yield done, len(items)
    except BaseException:
        # the files written before a failure are complete and the user's: recorded as
        # exported, or the next export into the folder refused them as "not written by
        # cryopick" (a review: a BOX box size unknown on micrograph 5 of 10)
        with contextlib.suppress(OSError):
            record_export(folder, written, inputs, flip_tiff_y=flip_tiff_y)
        raise
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
    """Load what picking needs ahead, once: the modules without Qt classes in a background
    thread (:mod:`napari_cryopick._warmup`: imported here, in the GUI thread, they froze
    the viewer 1.1 s on docking), ``napari.qt.threading`` here.

    Imported by the worker instead, torch's, scipy's and pyarrow's extension modules
    held the GIL while they loaded: measured 1.7 s without a single event-loop tick on
    the first "Pick current".
    """
    import napari.qt.threading  # noqa: F401  (Qt classes: the GUI thread's)

    from napari_cryopick._warmup import start_warm_up

    start_warm_up()


def _earlier_words(path: Path) -> str:
    """``"the earlier version of joint.pt, ..."`` for a ``.previous.pt`` file Pick takes
    or names ("" for any other): the next training of that file replaces it."""
    from .train import earlier_version_of

    of = earlier_version_of(path)
    if of is None:
        return ""
    return (
        f"the earlier version of {of}, which the next training of {of} replaces: copy it to keep it"
    )


def _picking_dataset(layer: Any) -> str:
    """The data set a micrograph is picked as: Annotate's, else the one its folder names as
    ``cryopick pick`` names it (a re-trial's ribosome/mics/061 with no data set typed was
    picked with the β-gal head the command line did not choose)."""
    from napari_cryopick.workflows.inputs import folder_dataset_name

    named = micrograph_dataset(layer)
    if named:
        return named
    path = layer_path(layer)
    return folder_dataset_name(path) if path is not None else ""


def _annotated_dataset(path: Path) -> str:
    """The data set micrograph file ``path`` was annotated as (its sidecar), "" when none:
    the workflow's choice (:func:`~napari_cryopick.workflows.pick.annotated_dataset`)."""
    from napari_cryopick.workflows.pick import annotated_dataset

    return annotated_dataset(path)


def _trained_diameter_text(request: Any) -> str:
    """``"Warning: ... "`` when a trained model is asked to pick far from its diameter, else "".

    The check ``cryopick pick`` makes (``workflows.pick.trained_diameter_warning``):
    a model trained on clicks finds particles near the size it learned.
    """
    import logging
    import threading

    from napari_cryopick.workflows.pick import prepare

    # the picking job prepares (and logs) the request again: its warnings once on stderr,
    # not twice (a trial's "has a head of its own"); only this thread's records are held
    # back (a picking job's in another thread meanwhile are not)
    pick_log = logging.getLogger(prepare.__module__)
    thread = threading.get_ident()

    def other_threads(record: logging.LogRecord) -> bool:
        return record.thread != thread

    pick_log.addFilter(other_threads)
    try:
        return _warning_texts(prepare(request).warnings)
    except Exception:  # a hint only: the worker reports a bad request
        return ""
    finally:
        pick_log.removeFilter(other_threads)


def _earlier_labels_text(dropped: int, updated: int, shapes: str, how: str) -> str:
    """What *Use as training labels* did to the labels an earlier press made of circles
    (paths) deleted (``dropped``) or changed (``updated``) since, as ", ..." ("" for none)."""
    texts = []
    if dropped:
        texts.append(f"{counted(dropped, 'earlier labels')} of deleted {shapes} removed")
    if updated:
        texts.append(f"{counted(updated, 'earlier labels')} of {shapes} {how} since updated")
    return "".join(f", {text}" for text in texts)


def _apart_from_labels(shown: pd.DataFrame, labels: pd.DataFrame, kind: str, layer: str) -> list:
    """The status text (a list of none or one) of the circles (paths) ``shown`` that lie on
    labels of the user's own and differ from them: *Use as training labels* keeps those
    labels, so what training learns there is not what the export writes. A vesicle trial
    resized a network circle over a vesicle it had drawn itself: the export wrote the new
    size, the label kept the old drawing, unsaid (labels are not rewritten by a press: a
    review found that rewriting them lost labels the user had edited since)."""
    shown = shown[shown["kind"].astype(str) == kind]
    labels = labels[labels["kind"].astype(str) == kind]
    if not len(shown) or not len(labels):
        return []
    copied = labelled_now(shown, labels, kind)
    others = shown.drop(copied.index)
    # the user's own: not the copies of shown shapes (this press's among them: a review's
    # circle over another's fresh copy was said to differ from "your" label)
    own = labels.drop(labelled_now(labels, shown, kind).index)
    # only where a label is the same object, so that deleting it as advised loses none (a
    # review: a large circle over a small vesicle drawn in it, a short path along a long
    # fiber label, were said to differ, and the advice deleted those labels)
    apart = _same_objects(others, own, kind)
    if apart <= 0:
        return []
    what = {"vesicle": "circles", "fiber": "paths"}[kind]
    return [
        f"{counted(apart, what)} shown {'lie' if apart != 1 else 'lies'} on {kind} labels of "
        f"your own and differ{'s' if apart == 1 else ''} from them: your labels stay as they are and training learns them, while an export "
        f"writes the {what} as shown (to train on a {what[:-1]} as shown, delete your label "
        f"under it in the '{layer} {kind}' layer and press again)"
    ]


def _same_objects(shapes: pd.DataFrame, labels: pd.DataFrame, kind: str) -> int:
    """How many circles (paths) of ``shapes`` a label of ``labels`` is the same object as:
    centres each within the other's radius and diameters within a factor of 2 (the rule
    that tells a resized circle, ``shown._successors``); a path and a label each running
    along the other for half its length or more (within half the path's width)."""
    if not len(shapes) or not len(labels):
        return 0
    if kind == "vesicle":
        same, _near = same_circles(shapes, labels)
        return int(same.any(axis=1).sum())
    from napari_cryopick.core.fibers import SAME_FIBER_COVERAGE, path_coverage, picks_to_paths

    drawn = picks_to_paths(labels)
    count = 0
    for _tube, path in shapes.groupby("tube_id", sort=False):
        points = path[["x", "y"]].to_numpy(float)
        width = path["diameter"].to_numpy(float)
        tolerance = 0.5 * float(np.nanmedian(width)) if np.isfinite(width).any() else 1.0
        count += any(
            min(path_coverage(points, [d], tolerance), path_coverage(d, [points], tolerance))
            >= SAME_FIBER_COVERAGE
            for d in drawn
        )
    return count


def _warning_texts(warnings: Any) -> str:
    return "".join(f"Warning: {text} " for text in warnings)


def _scale_texts(factor: float, confidences: Any, diameter_px: float) -> tuple[str, str]:
    """``("Warning: ... ", line)`` of the zero-shot scale search for the status line."""
    from napari_cryopick.workflows.pick import scale_lines

    line, warnings = scale_lines(factor, confidences, diameter_px)
    return "".join(f"Warning: {w[0].upper()}{w[1:]}. " for w in warnings), line


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


#: Relative difference between the Pick diameter and the measured one that earns a warning.
DIAMETER_MISMATCH = 0.25
#: The answer of :meth:`PickWidget.confirm_labels` that makes only the user's corrections
#: labels (picks added or moved, circles and paths changed; deletions as negatives).
CORRECTIONS_ONLY = "corrections"


def ask_labels(parent: Any, question: str) -> bool | str:
    """Ask whether the shown picks become labels: True (Yes, all of them),
    :data:`CORRECTIONS_ONLY` (the default button: Enter) or False (No, or the dialog
    closed)."""
    from qtpy.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Question, "napari-cryopick", question, parent=parent)
    every = box.addButton(QMessageBox.Yes)
    corrections = box.addButton("Corrections only", QMessageBox.AcceptRole)
    box.addButton(QMessageBox.No)
    box.setDefaultButton(corrections)
    box.exec_()
    clicked = box.clickedButton()
    return True if clicked is every else CORRECTIONS_ONLY if clicked is corrections else False


#: Score floor of the files "Pick folder…" writes when candidates are kept (re-threshold later).
KEEP_CANDIDATES = 0.05
#: "Pick folder…" runs the pick workflow in a child process (``_child_picking``); False: in
#: a thread of napari's process (tests that replace the network in this process only).
FOLDER_PICKING_IN_CHILD = True


def _data_set_heads_of(model: Any, metadata: dict) -> list[str]:
    """``model``'s heads of data sets to choose among (not the generic head, nor a general
    model's copies of it)."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import recipe_heads

    card = ModelCard.of_model(model, metadata)
    recipe = recipe_heads(card)
    return [h for h in (getattr(model, "head_names", ()) or ()) if h not in ("generic", *recipe)]


def _closed_text(state: Any, closed: set[str]) -> str:
    """What brings closed micrographs' picks back: opening the file again where they were
    closed with corrections (kept aside), picking again where not."""
    aside = closed & set(state.closed_corrections)
    if not aside:
        return "their picks left with them: open and pick them again"
    if aside == closed:
        return "open them again: their picks come back with your corrections"
    return (
        f"open {name_list(aside, 3)} again (their picks come back with your corrections) "
        "and pick the others again"
    )


def _off_vesicle_labels(spots: pd.DataFrame, vesicles: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The ``spots`` (x, y) no vesicle label of the user's is centred on (within a
    quarter of its diameter, the rule by which a network circle is a drawn one's
    vesicle), and how many were. A label at a spot's very place (within 0.5 px) is an
    earlier press's copy of that circle, which the press removes (``merge_vesicle_labels``):
    no reason to keep the spot."""
    if not len(spots) or not len(vesicles):
        return spots, 0
    sizes = vesicles["diameter"].to_numpy(float)
    reach = np.where(np.isfinite(sizes), 0.25 * sizes, 0.0)
    dx = spots["x"].to_numpy(float)[:, None] - vesicles["x"].to_numpy(float)[None, :]
    dy = spots["y"].to_numpy(float)[:, None] - vesicles["y"].to_numpy(float)[None, :]
    distance = np.hypot(dx, dy)
    on = ((distance <= reach[None, :]) & (distance > 0.5)).any(axis=1)
    return spots[~on].reset_index(drop=True), int(on.sum())


class PickWidget(QWidget):
    """Model, head, diameter, threshold; pick current/all/folder; review; export; labels."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self._head_of_sets: dict[str, str] = {}  # (set_model)
        # with "each data set's own": the threshold the user set for each head's data set
        self._own_thresholds: dict[str | None, float] = {}
        #: Micrographs whose picks an earlier model made, at the threshold they were shown
        #: at when the model changed: another model's scores are on another scale (a GUI
        #: re-trial trained a vesicle model, and its ribosome picks left at 0.20 were
        #: shown and exported at the new model's 0.15). Gone when picked again.
        self._pinned: dict[str, float] = {}
        self._setting_threshold = False  # the slider shows a head's value, not the user's
        self.model_path: Path | None = None
        #: ``model_path``'s (size, sampled digest) when Pick took the model (read or written):
        #: kept with its picks, so a file trained into again later is another model's
        self.model_stamp: tuple[int, str] | None = None
        self.worker = None
        self.last_batch = None
        self.last_exported: list[Path] = []
        # zero-shot: (model, diameter, head) -> the diameter factor its first pick chose
        # zero-shot: (settings key, diameter factor, inverted) chosen on the first picks
        #: zero-shot scale choices: ``{(model, diameter, head): (factor, inverted)}``
        self._scale_choices: dict[tuple, tuple[float, bool]] = {}
        #: the keys of the running job's requests, by diameter (made when it started)
        self._request_scale_keys: dict[float, tuple] = {}
        #: the micrographs picked by the last run, in order: what their status said of the
        #: scale (zero-shot factor, inverted contrast)
        self._picked_names: dict[str, tuple[str, str]] = {}
        #: The micrograph layers the running job picks, by name (see :meth:`_still_open`).
        self._job_layers: dict[str, tuple[Any, Path | None]] = {}
        #: The candidates' score floor of the last Pick folder… run (None: picks only).
        self._folder_floor: float | None = None
        self._folder_files: set[Path] = set()  # the micrograph files Pick folder… picks
        self._folder_format = ""  # ... and the format it writes, the TIFF y box as it started
        self._folder_flip = self._folder_ticked = False
        self._pick_errors: list[str] = []  # the last run's micrographs that failed
        #: the last run's micrographs closed before their picks arrived
        self._closed_in_job: list[str] = []
        #: {micrograph: the head its shown picks came from} (its data set's with "each data
        #: set's own", else the one chosen): another head chosen later filters them at its
        #: threshold
        self._head_picked: dict[str, str] = {}
        self._saved_note = ""  # the running job's _saved_models_note
        self._taken_note = ""  # the saved model _take_saved_model took for the next job
        #: the zero-shot search's warning, by the key of its choice (said again on reuse)
        self._scale_warnings: dict[tuple, str] = {}
        self._job_what = ""  # the running or last job: "Picking", "Export"
        #: The model (and its file) the running or last pick job picks with.
        self._job_model: tuple[Any, str | None] = (None, None)
        self._job_stamp: tuple[int, str] | None = None  # its file's stamp (model_stamp)
        #: The threshold each micrograph of the job would show the job's model's picks at
        #: (taken when it starts, brought up to date at the first model change while it
        #: runs): picks it makes after that change are an earlier model's, kept at it.
        self._job_thresholds: dict[str, float] = {}
        #: The head each micrograph of the job is picked with ("each data set's own").
        self._job_heads: dict[str, str | None] = {}
        self._job_diameters: dict[str, float] = {}  # {micrograph: diameter the job picks at}
        self._job_own_diameters: dict[str, float | None] = {}  # {micrograph: its own, then}
        #: The micrographs of the job picked after a model change (an earlier model's), and
        #: those whose new model's picks (a training's preview) were kept instead.
        self._job_earlier: list[str] = []
        self._job_unreviewed: list[str] = []  # Reviewed ticks new picks took away
        self._job_kept: list[str] = []
        #: The result each micrograph of the job held when it started (a result shown
        #: since, not one of these, is the new model's: a training's preview).
        self._job_held: dict[str, Any] = {}
        #: Pick folder…'s temporary folder of the model handed to the picking child.
        self._handover: Any = None
        self._job_failed = False  # ... and whether it failed
        self._picked_all_shown = ""  # the status _finishing said after picking several
        self._pick_said: tuple[str, str, str] | None = None  # (status, micrograph, objects)
        #: the micrograph picked last, once another is on screen: (warnings before, name)
        self._picked_last: tuple[str, str] = ("", "")
        self._screen_said = ""  # the status _say_screen said last
        self._screen_name = ""  # ... and the micrograph on screen it named
        #: the totals status the slider said last ("N picks on M micrographs (X on screen:
        #: ...)") and the micrograph it named on screen
        self._totals_shown = ("", "")
        self._filter_shown = ""  # the status the threshold slider said last
        self._request_scale_key: tuple | None = None
        self._trained_warning = ""  # a trained model asked far from its diameter (last run)
        self._picked_all_left = ""  # its note of the micrographs it left out (below)
        self._left_out_text = ""  # Pick all open: micrographs of another kind's picks, left
        self._export_warning = ""  # what the last export's format cannot hold
        self._export_flip = False  # the TIFF box as the last export started
        self._export_ticked = False
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
            "Head of the model: 'generic', or a data set's own head (trained few-shot); "
            f"'{OWN_HEADS}': each micrograph with the head of its data set (Annotate's Data "
            "set), others with the head trained last"
        )
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(100.0)
        self.diameter_spin.setToolTip(
            "Particle diameter in pixels: follows the diameter measured or clicked in Annotate"
        )
        # the box at its first value, set by nobody (_sizes_unknown: the general model
        # picks at the diameter given, none given is refused as cryopick pick refuses it)
        self._box_untouched = True
        self._card_box_value: float | None = None  # the box as the model card set it
        self._box_pixel_size: float | None = None  # Å/px of the micrograph it was set on
        self.diameter_spin.valueChanged.connect(self._on_box_changed)
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
        # thousandths: a calibrated threshold (0.106) is picked at as cryopick pick does, not
        # rounded to 0.11 (a trial); the keys still step by 0.01 and 0.1
        self.threshold_slider.setRange(0, SLIDER_STEPS)
        self.threshold_slider.setSingleStep(SLIDER_STEPS // 100)
        self.threshold_slider.setPageStep(SLIDER_STEPS // 10)
        self.threshold_slider.setValue(round(defaults.threshold * SLIDER_STEPS))
        self.threshold_slider.setToolTip(
            "Show picks scoring at least this; instant, the network does not run again "
            f"(default {defaults.threshold:.2f}, as cryopick pick)"
        )
        self.threshold_label = QLabel(threshold_text(self.threshold()))
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
        # Pick folder's alone, and named so: Export picks writes the picks shown (a GUI
        # trial ticked it, exported, and got the same files, unsaid)
        self.tiff_y_check = QCheckBox("TIFF y from the last row (RELION, crYOLO, EMAN2)")
        self.tiff_y_check.setToolTip(
            "STAR, BOX and CBOX files of TIFF micrographs count y from the image's last row, "
            "as RELION (STAR) and crYOLO, EMAN2 and napari-boxmanager (BOX, CBOX) read "
            "them; off: from the first row, as napari shows the image and Topaz counts it. "
            "MRC micrographs are the same either way (cryopick pick --flip-tiff-y)"
        )
        self.keep_candidates_check = QCheckBox(
            f"Pick folder: keep candidates down to {KEEP_CANDIDATES}"
        )
        self.keep_candidates_check.setToolTip(
            "Pick folder… writes every candidate scoring at least this, with its score, so the "
            "threshold can still be changed after reloading (cryopick filter, or Load picks)"
        )
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(PICK_FORMATS))
        self.format_combo.setToolTip("Pick-file format for export and folder picking")
        self.export_edit = QLineEdit()
        self._default_export = ""  # the folder "Pick folder…" chose itself (it follows the folder)
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
        # the table of picked micrographs, stepping through them, folders and their pick files
        # before the review panel's: the message of picks back from disk names the model
        # picking now, which may be the one that made them, loaded here
        connect_while_alive(
            session(self.viewer).corrections_restored, self, self._take_restored_model
        )
        self.review = ReviewPanel(
            self.viewer,
            self._threshold_for,
            self.status.setText,
            self.model_file,
            tiff_y_from_last_row=lambda: self.tiff_y_check.isChecked(),
        )
        self.review.table_refreshed.connect(self._on_review_refreshed)
        self.review.rows_refreshed.connect(self._on_rows_refreshed)
        self._status_with_review = False  # the status of several micrographs comes with it
        # the model, the pick buttons, the threshold and what they say first; the settings
        # after them (in a dock of four the buttons were below the fold, a GUI trial)
        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("", self.model_label)
        form.addRow("Diameter", self.diameter_spin)
        threshold_form = QFormLayout()
        threshold_form.addRow("Threshold", threshold_row)
        settings = QFormLayout()
        settings.addRow("Head", self.head_combo)
        settings.addRow("Device", self.device_combo)
        settings.addRow("", self.rotations_check)
        settings.addRow("", self.reject_std_check)
        layout = scroll_layout(self)
        layout.addLayout(form)
        layout.addLayout(pick_row)
        layout.addLayout(progress_row)
        layout.addLayout(threshold_form)
        layout.addWidget(self.status)
        layout.addLayout(settings)
        layout.addLayout(size_row)
        layout.addWidget(self.review)
        export_form = QFormLayout()
        export_form.addRow("Format", self.format_combo)
        export_form.addRow("Folder", export_row)
        export_form.addRow("", self.tiff_y_check)
        export_form.addRow("", self.keep_candidates_check)
        layout.addLayout(export_form)
        layout.addWidget(self.export_button)
        layout.addWidget(self.labels_button)
        layout.addStretch(1)

        self.threshold_slider.valueChanged.connect(self._on_threshold_changed)
        # (the user's moves only: drag, keys, wheel, clicks beside the handle)
        self.threshold_slider.actionTriggered.connect(self._on_slider_moved_by_user)
        self.min_diameter_spin.valueChanged.connect(self._on_size_changed)
        self.max_diameter_spin.valueChanged.connect(self._on_size_changed)
        self._own_followed = ""  # the micrograph "each data set's own" last followed
        self.head_combo.currentTextChanged.connect(self._on_head_changed)
        self.pick_current_button.clicked.connect(self.pick_current)
        self.pick_all_button.clicked.connect(self.pick_all_open)
        self.pick_folder_button.clicked.connect(self._choose_folder)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self._choose_export)
        self.labels_button.clicked.connect(self.use_as_labels)
        self.viewer.layers.events.inserted.connect(self._on_layers_inserted)
        self.viewer.layers.selection.events.active.connect(self._on_layers_changed)

        _preload_picking_modules()
        QTimer.singleShot(0, lambda: prewarm_text_glyphs(self.viewer))

        state = session(self.viewer)
        state.display_threshold = self.threshold()
        state.display_diameter = self.diameter_range()
        listen_to_model(self.viewer, self, self._on_session_model)
        connect_while_alive(state.threshold_requested, self, self.set_threshold)
        connect_while_alive(state.micrograph_shown, self, self._on_micrograph_shown)
        # the diameter typed or measured in Annotate for the current micrograph
        connect_while_alive(state.settings_changed, self, self._on_settings_changed)
        if state.model is not None:
            self._on_session_model(state.model, state.model_path)
        else:
            self.load_bundled()
        self._on_layers_changed()
        follow_micrographs(self.viewer)  # one set of result layers, following the micrograph
        self._take_restored_model()  # opened before the widget was docked
        restored = restored_threshold(self.viewer)  # opened before the widget was docked
        if restored is not None:
            self.set_threshold(restored)
        self.review.say_restored()
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
        if not str(path).strip():  # an empty box read as "." ('.: is a folder', a trial)
            self.status.setText(
                "No model file given: type or browse to a .pt file (the bundled general "
                "model picks when none is loaded)."
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
        adopt_model_file(self.viewer, model, path, metadata, origin or "model file")
        text = self.status.text()
        if self._saved_note and self._saved_note in text:
            # "... saved models of the open data sets: Load one" goes with the Load (a GUI
            # trial read it after loading one)
            self.status.setText(
                f"{text.replace(self._saved_note, '')}\nLoaded {path.name}: Pick current or "
                "Pick all open picks with it."
            )
        return True

    def set_model(self, model: Any, path: Path | None = None, origin: str = "") -> None:
        """Pick with ``model`` from now on; fills the head list."""
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import data_set_heads

        self._forget_own_thresholds()  # its heads' own, anew
        from napari_cryopick.io.recovery import file_stamp

        self.model = model
        self.model_path = None if path is None else Path(path)
        self.model_stamp = file_stamp(self.model_path)
        heads = list(getattr(model, "head_names", ()) or ())
        metadata = self._model_metadata_of(model)
        own = _data_set_heads_of(model, metadata)
        # {data set: the head that picks it}, once per model (looked up per micrograph at
        # every threshold move)
        self._head_of_sets = data_set_heads(ModelCard.of_model(model, metadata), heads, own)
        current = self.head_combo.currentText()
        self.head_combo.blockSignals(True)
        self.head_combo.clear()
        if own:
            heads = [*heads, OWN_HEADS]  # HydraPicker: each data set with its own head
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
        self._restate_made_with()

    def _restate_made_with(self) -> None:
        """The status of picks back from disk names the model Pick picks with: said again
        for the model now (a GUI trial trained a model and still read "... picked with
        the bundled general model, which Pick picks with")."""
        said = self.status.text()
        at = said.find(". They were picked with ")
        if at < 0 or "Pick picks with" not in said[at:]:
            return
        end = len(said) - 1 if said.endswith(".") else len(said)  # (it ends the status)
        from .review import _made_with

        state = session(self.viewer)
        review = getattr(self, "review", None)  # (None while the widget is being built)
        said_of = review.restored_said if review is not None else []
        names = [n for n in said_of if n in state.pick_results]
        self.status.setText(said[:at] + _made_with(state, names, self.model_file()) + said[end:])

    def _saved_models_note(self) -> str:
        """With the bundled model (none trained or loaded this session): the model files
        saved for the open micrographs' data sets, which Load picks with (a trial restarted
        napari and got zero-shot picks beside ribosome.pt and bgal.pt, unsaid)."""
        if not self._has_bundled_only():
            return ""
        from napari_cryopick.core.model.checkpoint import checkpoint_datasets

        saved = self._saved_models()
        if not saved:
            return ""

        by_file: dict[Path, list[str]] = {}  # one file of several data sets named once
        for name, path in sorted(saved.items()):
            by_file.setdefault(path, []).append(name)

        def described(path: Path, names: list[str]) -> str:
            # the other open data sets it knows (a GUI trial's continual apoferritin.pt held
            # the ribosome too, listed beside ribosome.pt as if of the apoferritin alone)
            others = sorted((set(checkpoint_datasets(path)) & set(saved)) - set(names))
            known = "; knows " + ", ".join(others) + " too" if others else ""
            earlier = _earlier_words(path)
            return f"{path.name} ({', '.join(names)}{known}{f'; {earlier}' if earlier else ''})"

        files = ", ".join(described(path, names) for path, names in by_file.items())
        return (
            f"Note: picked with the bundled general model (zero-shot); saved models of the "
            f"open data sets: {files}: Load one to pick with it.\n"
        )

    def _has_bundled_only(self) -> bool:
        """Whether Pick has the bundled model, none trained or loaded in this session."""
        state = session(self.viewer)
        return (
            state.model is None and state.bundled is not None and (self.model is state.bundled[0])
        )

    def _saved_models(self) -> dict[str, Path]:
        """``{data set: model file}`` of the open micrographs' data sets that have a model
        file saved by the Train widget (the file it last wrote for the data set, else the
        newest that knows it)."""
        from .train import (
            default_model_path,
            model_knows,
            newest_model_knowing,
            previous_model_knowing,
            remembered_model_path,
        )

        saved: dict[str, Path] = {}
        for layer in micrograph_layers(self.viewer):
            # an unnamed micrograph's its folder's, as Train named its model (a GUI trial's
            # restart beside trial57.pt: zero-shot picks, unsaid)
            dataset = _picking_dataset(layer)
            if not dataset or dataset in saved:
                continue
            path = remembered_model_path(dataset) or default_model_path(dataset)
            if not model_knows(path, dataset):
                # else the newest that knows it: a joint model's file is named after all its
                # data sets (a GUI trial's restart: zero-shot, no word of joint_a_b.pt); a
                # file of the data set's name that does not know it is none of its (a
                # trial's k3.pt of data set k3train was taken for data set k3's)
                path = newest_model_knowing(dataset, path, newer=False)
            if path is None:  # else an earlier version that knows it: its only copy
                path = previous_model_knowing(dataset)
            if path is not None:  # (one that knows it: newest_model_knowing's too)
                saved[dataset] = Path(path)
        return saved

    def _take_saved_model(self) -> None:
        """Pick current or Pick all open after a restart (Pick has the bundled model, none
        trained or loaded in this session, no picks back from disk), the open micrographs'
        data sets all saved in one model file: pick with it, said with the picks (a GUI
        trial restarted napari, pressed Pick all open and got zero-shot picks beside its
        bgal.pt; the note naming it came after). Decided at the press, on the micrographs
        open then (a review: on opening, the first micrograph's model took the rest)."""
        state = session(self.viewer)
        if self.worker is not None or not self._has_bundled_only() or state.restored_from_disk:
            return
        names = {_picking_dataset(layer) for layer in micrograph_layers(self.viewer)}
        saved = self._saved_models()
        files = set(saved.values())
        if len(files) != 1 or "" in names or names - set(saved):
            return  # several, or a data set without one: the note after picking names them
        file = files.pop()
        from napari_cryopick.core.model.bundled import bundled_model_path

        if self.load_model(file, origin=f"model saved for {', '.join(sorted(names))}"):
            earlier = _earlier_words(file)  # "the earlier version of ..."
            self._taken_note = (
                f"Picked with {file.name}, the model saved for data set "
                f"{', '.join(sorted(names))} ({f'{earlier}; ' if earlier else ''}to pick "
                f"with another, Load it; the bundled general model: {bundled_model_path()}).\n"
            )

    def _take_restored_model(self, _name: str = "") -> None:
        """Picks back from an earlier napari session, all made with one model file that
        is still there, while Pick has the bundled model (none trained or loaded in this
        session): pick with that model again, as the session was left (a GUI trial's Pick
        current re-picked a trained model's corrected picks zero-shot, said only after)."""
        state = session(self.viewer)
        if self.worker is not None:
            return
        pinned = self._pin_restored_earlier()
        if state.model is not None:
            # picked with that model already (the first micrograph back loaded it): each
            # head back at the threshold its micrographs were left at
            if self._seed_own_thresholds() or pinned:
                self._refilter()
            return  # a model of this session: the user's choice (the message names both)
        files = {
            state.pick_results[name].model_file
            for name in state.restored_from_disk
            if name in state.pick_results
        }
        if len(files) != 1:
            return
        file = files.pop()
        if file is None or not Path(file).is_file():
            return
        threshold = restored_threshold(self.viewer)
        # the model Pick has (the bundled one) made them: this model's picks, not an earlier
        # one's (a GUI trial's Export warned of bundled-model picks "made by an earlier
        # version of the model")
        if file != self.model_file() and not self.load_model(
            file, origin="the model of the picks back from disk"
        ):
            return
        names = set(state.restored_from_disk) & set(state.pick_results)
        # (not those the file made before it was written again: an earlier version's,
        # kept at the threshold they were left at, as in the session that picked them)
        mine = {
            n
            for n in names
            if state.pick_results[n].model_file == file
            and not made_by_earlier_file(state.pick_results[n])
        }
        state.earlier_model -= mine  # this model's picks now
        for name in mine:
            self._pinned.pop(name, None)
        if not mine:
            threshold = None  # the model's own calibrated threshold, for its own picks
        seeded = self._seed_own_thresholds()
        if seeded:
            own = self._own_thresholds.get(self._own_head_of_current())
            threshold = own if own is not None else threshold
        if threshold is not None:  # where the user left it, not the model's calibrated one
            self.set_threshold(threshold)
        if seeded or threshold is not None:
            self._refilter()  # each micrograph at its head's, the slider moved or not

    def _pin_restored_earlier(self) -> bool:
        """Micrographs back from disk that another model than Pick's picked keep the
        threshold they were left at, as an earlier model's picks do (a re-trial: the
        bundled model's picks of apoferritin, corrected at 0.15, came back beside a trained
        model's and were shown and exported at its 0.10, 195 picks never seen). Whether
        any was pinned (the caller filters the picks again)."""
        state = session(self.viewer)
        names = set(state.restored_from_disk) & state.earlier_model & set(state.pick_results)
        new = sorted(name for name in names if name not in self._pinned)
        for name in new:
            self._pinned[name] = on_slider_step(float(state.pick_results[name].threshold))
        return bool(new)

    def _seed_own_thresholds(self) -> bool:
        """With "each data set's own": each head at the threshold its micrographs back from
        disk (picked with the model Pick has) were left at, unless set in this session
        (a GUI trial's two data sets were left at two thresholds, so none came back and
        each head fell to its calibrated one: 0.111 for the 0.141 left). Whether it ran
        (the caller filters the picks again)."""
        if self.head_combo.currentText() != OWN_HEADS:
            return False
        state = session(self.viewer)
        model_file = self.model_file()
        for name in sorted(set(state.restored_from_disk) & set(state.pick_results)):
            result = state.pick_results[name]
            if result.model_file == model_file and not made_by_earlier_file(result):
                head = self._own_head_of(name)
                self._own_thresholds.setdefault(head, float(result.threshold))
        return True

    def model_file(self) -> str | None:
        """The file of the model picked with (the bundled model's too); None: a model in
        memory only (trained and not saved)."""
        if self.model_path is not None:
            return str(self.model_path.resolve())
        state = session(self.viewer)
        if self.model is not None and state.bundled is not None and self.model is state.bundled[0]:
            from napari_cryopick.core.model.bundled import bundled_model_path

            return str(Path(bundled_model_path()).resolve())
        return None

    def head(self) -> str | None:
        """The head picked with; None: the model's choice (each data set's own head)."""
        text = self.head_combo.currentText()
        return None if text in ("", OWN_HEADS) else text

    def _model_metadata_of(self, model: Any) -> dict:
        state = session(self.viewer)
        if state.model is not None and state.model is model:
            return dict(state.model_metadata or {})
        if state.bundled is not None and state.bundled[0] is model:
            return dict(state.bundled[1] or {})
        return {}

    def _model_metadata(self) -> dict:
        """Metadata of the model picked with (session model or bundled model)."""
        return self._model_metadata_of(self.model)

    def _on_head_changed(self, head: str) -> None:
        """A data-set head picks at its own data set's diameter, as ``cryopick pick`` does,
        and at the threshold calibrated for it: the session model's calibrated threshold
        belongs to the head its last training trained; another head picks at the default,
        as ``cryopick pick --head`` does (a trial: 136 picks in the widget, 125 in the CLI).
        "Each data set's own" follows the micrograph on screen (:meth:`_follow_own_head`).
        """
        if head == OWN_HEADS:
            self._follow_own_head()
            self._refilter()  # each picked micrograph at its own data set's threshold
            other = self._other_heads_text(OWN_HEADS)
            if other:  # (said for a head chosen by name; not for this one: a GUI re-trial)
                self.status.setText(other)
            return
        if session(self.viewer).micrograph_thresholds:
            self._forget_own_thresholds()  # one slider for all again
            self._refilter()
        self._take_head_settings(head)
        other = self._other_heads_text(head)
        if other:
            self.status.setText(other)

    def _other_heads_text(self, head: str | None, names: Any = None) -> str:
        """A warning naming the open micrographs (of ``names``) whose shown picks came
        from another head than the one that filters them now: ``head``, or with "each data
        set's own" (``OWN_HEADS``) each one's data set's head (a trial's β-gal picks were
        exported at the ribosome head's 0.15 instead of 0.059, 642 picks for 947, unsaid;
        a re-trial's apoferritin-head picks of a β-gal micrograph at β-gal's 0.05)."""
        if not head:
            return ""
        stored = session(self.viewer).pick_results

        def filtering(name: str) -> str | None:
            return self._own_head_of(name) if head == OWN_HEADS else head

        others = sorted(
            name
            for name, picked in self._head_picked.items()
            if name in stored
            and (names is None or name in names)
            and filtering(name) not in (None, picked)
        )
        if not others:
            return ""
        heads = sorted({self._head_picked[name] for name in others})
        now = (
            f"\"{OWN_HEADS}\" now filters them at their data sets' heads' thresholds"
            if head == OWN_HEADS
            else f"head '{head}' now filters them at its threshold"
        )
        return (
            f"Warning: the picks of {len(others)} micrograph(s) ({name_list(others, 3)}) came "
            f"from head {', '.join(repr(h) for h in heads)}; {now}: pick them again, or "
            "choose the head they came from to show (and export) them at its threshold"
        )

    def _head_threshold(self, head: str | None) -> float | None:
        """The threshold ``head`` picks at (None: the model's default head), as ``cryopick
        pick --head`` does; None when the session's model has no calibration."""
        state = session(self.viewer)
        if state.model is None or state.model is not self.model:
            return None
        if not head or head == state.head:  # the trained head picks what has no other
            return None if not state.head or state.threshold is None else float(state.threshold)
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import head_threshold

        # another data set's head: its own training's, as cryopick pick --head; a joint
        # model's heads each their own, the model loaded from its file too (a review: a
        # joint model's file picked every head at the slider's, the CLI at each head's)
        card = ModelCard.of_model(self.model, state.model_metadata or {})
        own = head_threshold(card, head)
        if own is not None:
            return float(own)
        return (
            None if not state.head or state.threshold is None else default_pick_config().threshold
        )

    def _own_head_of(self, micrograph: str) -> str | None:
        """The model's head of the data set of ``micrograph`` (Annotate's), if any."""
        from .annotate import find_micrograph_layer

        return self._own_head_of_layer(find_micrograph_layer(self.viewer, micrograph))

    def _own_head_of_layer(self, mlayer: Any) -> str | None:
        """The model's head of the data set of micrograph layer ``mlayer``, if any."""
        dataset = _picking_dataset(mlayer) if mlayer is not None else ""
        # its own head, or the generic head for a data set it learned (as cryopick pick)
        return self._head_of_sets.get(dataset) if dataset else None

    def _own_diameter_of_layer(self, mlayer: Any) -> float | None:
        """With "each data set's own", the diameter micrograph layer ``mlayer`` is picked
        at: its data set's own training's, also where the generic head picks it (as
        ``cryopick pick`` resolves it: a GUI trial's ribosome micrograph, learned by the
        generic head, was picked at the 108 px of the β-gal head shown before); None when
        the model knows none for it."""
        head = self._own_head_of_layer(mlayer)
        if head is None:
            return None
        return self._head_diameter(_picking_dataset(mlayer), mlayer) or self._head_diameter(
            head, mlayer
        )

    def _threshold_for(self, micrograph: str) -> float:
        """The threshold ``micrograph`` shows (and exports) at: with "each data set's own",
        what the slider set for its data set's head, else that head's calibrated one (as
        ``cryopick pick`` picks it); else the slider's. Recorded in the session
        (``micrograph_thresholds``) for the export and Evaluate. A micrograph whose picks an
        earlier model made keeps the threshold it was shown at (:attr:`_pinned`)."""
        state = session(self.viewer)
        pinned = self._kept_threshold(micrograph)
        if pinned is not None:
            state.micrograph_thresholds[micrograph] = pinned
            return pinned
        self._pinned.pop(micrograph, None)  # picked again since
        threshold = self._model_threshold(micrograph)
        if self.head_combo.currentText() != OWN_HEADS:
            # the slider's, and no threshold of its own left from the earlier model's picks
            # (a GUI trial's re-picked micrograph was shown on switching, and exported, at
            # the 0.30 its earlier picks kept while the slider read 0.15)
            state.micrograph_thresholds.pop(micrograph, None)
        else:
            state.micrograph_thresholds[micrograph] = threshold
        return threshold

    def _model_threshold(self, micrograph: str) -> float:
        """The threshold the model loaded shows ``micrograph``'s picks at (no pin, nothing
        recorded): with "each data set's own", its data set's head's; else the slider's."""
        if self.head_combo.currentText() != OWN_HEADS:
            return self.threshold()
        head = self._own_head_of(micrograph)
        threshold = self._own_thresholds.get(head)
        if threshold is None:
            threshold = self._head_threshold(head)
        if threshold is None:
            threshold = self.threshold()
        # on the slider's step, as the slider and the status show it (a GUI trial's head
        # calibrated at 0.0834 showed 100 picks at "0.083", the head chosen by name 111)
        return on_slider_step(threshold)

    def _kept_threshold(self, micrograph: str) -> float | None:
        """The threshold ``micrograph``'s picks keep while an earlier model's (:attr:`_pinned`);
        None once picked again (or never pinned)."""
        if micrograph not in session(self.viewer).earlier_model:
            return None
        return self._pinned.get(micrograph)

    def _forget_own_thresholds(self) -> None:
        self._own_thresholds.clear()
        session(self.viewer).micrograph_thresholds.clear()

    def _trained_head_diameter(self, mlayer: Any = None) -> float | None:
        """With "each data set's own", the diameter a micrograph of no data set of the model
        is picked at: the head trained last's, as ``cryopick pick`` picks it (a review: a
        few-shot model's micrograph of a folder naming neither data set was picked at the
        Diameter box's 100 px, the command line at the head's 40); None: not known."""
        head = session(self.viewer).head
        return self._head_diameter(head, mlayer) if head and head != OWN_HEADS else None

    def _head_diameter(self, head: str | None, mlayer: Any = None) -> float | None:
        """The diameter a data-set ``head`` picks at (its data set's), or None
        (:meth:`_card_diameter`)."""
        metadata = self._model_metadata()
        if not head or head not in (metadata.get("dataset_info") or {}):
            return None
        return self._card_diameter(metadata, head, mlayer)

    def _card_diameter(
        self, metadata: dict | None, head: str | None, mlayer: Any = None
    ) -> float | None:
        """The diameter the model card stores for ``head`` in the pixels of micrograph
        layer ``mlayer`` (default: the one on screen): a head trained with a diameter in
        Å at that micrograph's pixel size, as ``cryopick pick`` resolves it (a review: a
        2x-binned micrograph was picked at the training's pixels); else the card's
        pixels; None when it stores none."""
        from napari_cryopick.core.continual import diameter_for_head

        diameter = diameter_for_head(metadata, head)
        trained_A = self._trained_angstrom(metadata, head)
        if trained_A is not None:
            shown = mlayer if mlayer is not None else current_micrograph_layer(self.viewer)
            pixel = shown.metadata.get("pixel_size") if shown is not None else None
            if pixel and np.isfinite(pixel) and pixel > 0:
                return float(trained_A) / float(pixel)
        return float(diameter) if diameter and np.isfinite(diameter) else None

    def _trained_angstrom(self, metadata: dict | None, head: str | None) -> float | None:
        """The diameter in Å ``head``'s training recorded (``cryopick pick``'s
        :func:`~napari_cryopick.workflows.pick.trained_diameter_angstrom`, no pixel size
        or Å given), None without a model or when it was given in pixels."""
        if self.model is None:
            return None
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import PickRequest, trained_diameter_angstrom

        card = ModelCard.of_model(self.model, metadata or {})
        return trained_diameter_angstrom(card, head, PickRequest(micrographs=[]))

    def _take_head_settings(self, head: str | None) -> None:
        """The threshold and diameter ``head`` picks at (None: the model's default head)."""
        threshold = self._head_threshold(head)
        if threshold is not None:
            self._move_slider(threshold)
        diameter = self._head_diameter(head)
        if diameter:
            self._set_box_from_card(diameter)

    def _set_box_from_card(self, diameter: float) -> None:
        """The Diameter box at the model card's diameter for the micrograph on screen,
        remembered as the card's (:meth:`_box_follows_angstrom`)."""
        self.diameter_spin.setValue(float(diameter))
        self._card_box_value = self.diameter_spin.value()

    def _data_set_heads(self) -> list[str]:
        """The model's heads of data sets (:func:`_data_set_heads_of`)."""
        if self.model is None:
            return []
        return _data_set_heads_of(self.model, self._model_metadata())

    def _learned_sizes(self, head: str | None) -> dict[str, float]:
        """``{data set: diameter}`` a head learned, when they are more than 25 % apart
        (:func:`~napari_cryopick.workflows.pick.several_sizes`); {} otherwise."""
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import several_sizes

        if self.model is None:
            return {}
        card = ModelCard.of_model(self.model, self._model_metadata())
        return several_sizes(card, head or getattr(self.model, "default_head", None))

    def _on_box_changed(self, _value: float = 0.0) -> None:
        self._box_untouched = False
        # the pixels it is in: the micrograph's on screen now (a review: a value typed on a
        # K3 micrograph, then its super-resolution copy shown, was read in the copy's)
        screen = current_micrograph_layer(self.viewer)
        self._box_pixel_size = screen.metadata.get("pixel_size") if screen is not None else None

    def _nobody_gave_a_diameter(self, card: Any, head: str | None) -> bool:
        """Whether picking with ``head`` would run at the box's first value, which nobody
        gave: the box untouched, and the model card (the general model's) storing no
        diameter for the head. (A micrograph's own diameter from Annotate is the
        caller's to check.)"""
        return self._box_untouched and not card.diameter_for_head(head)

    def _sizes_unknown(self, layers: Sequence[Any]) -> str | None:
        """A refusal when a micrograph would be picked with a head that learned particles
        of several sizes and Annotate holds no diameter of its own (the command line
        refuses the same without --diameter); None otherwise."""
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import trained_head

        if self.model is None:
            return None
        chosen = self.head()
        heads = tuple(getattr(self.model, "head_names", ()) or ())
        card = ModelCard.of_model(self.model, self._model_metadata())
        default = trained_head(card, heads) or getattr(self.model, "default_head", None)
        own = self._data_set_heads()
        unknown, sizes, used, none_given = [], {}, None, []
        for layer in layers:
            head = chosen
            if head is None:
                dataset = _picking_dataset(layer)
                head = dataset if dataset in own else default
            learned = self._learned_sizes(head)
            if learned and micrograph_diameter(layer) is None:
                unknown.append(micrograph_name(layer))
                sizes, used = learned, head
            elif micrograph_diameter(layer) is None and self._nobody_gave_a_diameter(card, head):
                none_given.append(micrograph_name(layer))
        if none_given and not unknown:
            # a model that stores no diameter (the bundled general model) at the box's
            # first 100 px, which nobody gave (a check of the GUI against the CLI: 89 of
            # about 340 ribosomes, at a diameter cryopick pick refuses to guess)
            return (
                f"No particle diameter for {name_list(none_given, 3)}: the general model picks "
                "any protein at the diameter you give. Measure one particle in Annotate (or "
                "type its diameter there, or in the Diameter box here), then pick."
            )
        if not unknown:
            return None
        listed = ", ".join(f"{name} {size:g} px" for name, size in sizes.items())
        names = name_list(unknown, 3)
        return (
            f"Head '{used}' learned particles of different sizes ({listed}): set the particle "
            f"diameter of {names} in Annotate (its Diameter box) first."
        )

    def _own_head_of_current(self) -> str | None:
        """The model's head of the data set of the micrograph on screen (Annotate's), if any."""
        return self._own_head_of_layer(current_micrograph_layer(self.viewer))

    def _follow_own_head(self) -> None:
        """With "each data set's own", the Diameter box and the slider are those of the
        micrograph on screen: its data set's head's diameter and threshold, else its own
        diameter (Annotate's) at the default head's threshold.

        A trial chose it on a ribosome micrograph after loading a model whose last
        training was β-gal's: "Pick current" picked the ribosome at β-gal's 108 px.
        """
        shown = current_micrograph_layer(self.viewer)
        self._own_followed = micrograph_name(shown) if shown is not None else ""
        own = self._own_head_of_current()
        self._take_head_settings(own)
        stored = self._own_thresholds.get(own)
        if stored is not None:  # as the slider last set it for this data set
            self._move_slider(stored)
        diameter = (
            self._own_diameter_of_layer(shown)
            or self.measured_diameter()
            or self._trained_head_diameter(shown)
        )
        if diameter:
            self.diameter_spin.setValue(float(diameter))

    def _on_session_model(self, model: Any, path: Path | None) -> None:
        """A new session model: pick with it, with the head and threshold it comes with."""

        state = session(self.viewer)
        if (
            self.worker is not None
            and self._job_what == "Picking"
            and self.model is self._job_model[0]
            and model is not self.model
        ):
            # the job's picks still to come are the replaced model's: at the thresholds it
            # shows them at now (the slider may have moved since the job started); with each
            # data set's own head, a head's threshold the slider set, else the one taken at
            # the start (the session already holds the new model: its heads' calibrations
            # are not this model's). Once only: a second change leaves them (a re-trial's
            # second training pinned them at the first trained model's threshold).
            own = self.head_combo.currentText() == OWN_HEADS
            for name in self._job_thresholds:
                head = self._job_heads.get(name)
                if not own:
                    self._job_thresholds[name] = self.threshold()
                elif self._own_thresholds.get(head) is not None:
                    self._job_thresholds[name] = on_slider_step(self._own_thresholds[head])
        if self.model is not None and model is not self.model:
            own = self.head_combo.currentText() == OWN_HEADS
            for name in state.earlier_model & set(state.pick_results):
                if name in state.earlier_before and name in self._pinned:
                    continue  # an earlier model's picks already: at the threshold kept
                # the replaced model's picks: the threshold each was shown at; with each
                # data set's own head its own (recorded when shown): _threshold_for would
                # read the new model's calibration against the old model and fall back to
                # the slider (a GUI re-trial: β-gal micrographs shown at 0.05 were held at
                # the 0.083 of the apoferritin micrograph on screen, 108 picks dropped from
                # the export); a pin left from before (a training's preview, re-picked
                # since) is no longer theirs (a review)
                self._pinned.pop(name, None)
                shown = state.micrograph_thresholds.get(name) if own else None
                self._pinned[name] = shown if shown is not None else self._threshold_for(name)
        self.set_model(model, path, state.model_origin)
        suggested = state.head and self.head_combo.findText(state.head) >= 0
        chosen = state.head if suggested else self.head_combo.currentText()
        own = self._own_head_of_current()
        # data sets picked by more than one head: the generic head's too, for the data
        # sets trained into it (a GUI trial's few-shot apoferritin head, left chosen,
        # picked the ribosome micrographs, learned by the generic head: AP 0, unsaid)
        several = len(set(self._head_of_sets.values())) > 1
        if self.head_combo.findText(OWN_HEADS) >= 0 and (
            chosen == OWN_HEADS
            or (own and own != (None if chosen in ("", OWN_HEADS) else chosen))
            or several  # as cryopick pick without --head, which warns of unknown folders
        ):
            # the micrograph on screen has a head of its own (a trial loaded a model whose
            # last training was β-gal's on a ribosome micrograph): each data set its own,
            # chosen at once (a GUI re-trial's status said the head just trained "now
            # filters" the ribosome micrographs, from its passing choice)
            self.head_combo.blockSignals(True)
            self.head_combo.setCurrentText(OWN_HEADS)
            self.head_combo.blockSignals(False)
            self._follow_own_head()
            self._refilter()  # each picked micrograph at its own data set's threshold
            other = self._other_heads_text(OWN_HEADS)
            if other:
                self.status.setText(other)
            return
        if suggested:
            self.head_combo.setCurrentText(state.head)
        # the model card owns the diameter its head was trained at (a vesicle model: the
        # vesicles' median size, not the particle diameter measured in Annotate); a head
        # that learned several sizes has none of its own: the micrograph's (a re-trial's
        # ribosome was picked at the 108 px of β-gal, the last data set)
        diameter = self._card_diameter(state.model_metadata, self.head())
        learned = self._learned_sizes(self.head())
        if learned:
            diameter = self.measured_diameter()
        if diameter and np.isfinite(diameter):
            if learned:
                self.diameter_spin.setValue(float(diameter))
            else:
                self._set_box_from_card(diameter)
        if state.threshold is not None:
            self.set_threshold(state.threshold)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Model (*.pt)")
        if path:
            self.load_model(path)

    # --- parameters ---

    def threshold(self) -> float:
        """The threshold of the slider, in [0, 1]."""
        return self.threshold_slider.value() / SLIDER_STEPS

    def set_threshold(self, value: float) -> None:
        """Move the slider (and filter the shown picks) to ``value``, as the user does: with
        "each data set's own", the threshold of the data set on screen."""
        # the thousandth the value is written with (threshold_text, the status): 0.0645
        # showed 0.064 on the slider, round(64.5) being 64, where the status said 0.065
        self.threshold_slider.setValue(round(float(f"{float(value):.3f}") * SLIDER_STEPS))

    def _move_slider(self, value: float) -> None:
        """Show ``value`` on the slider (a head's settings), not as the user's choice."""
        self._setting_threshold = True
        try:
            self.set_threshold(value)
        finally:
            self._setting_threshold = False

    def pick_config(self) -> Any:
        """The core ``PickConfig`` of the current settings."""
        from napari_cryopick.core.detect import PickConfig

        return PickConfig(
            threshold=self.threshold(),
            rotations=self.rotations_check.isChecked(),
            reject_std=self.reject_std_check.isChecked(),
            head=self.head(),
            device=self.device_combo.currentText(),
        )

    def measured_diameter(self, layer: Any = None) -> float | None:
        """The particle diameter the user measured or clicked on micrograph ``layer``
        (None: the current micrograph).

        None when the model picks no particles (a vesicle or fiber model works
        at its own objects' scale, from its model card).
        """
        if "particle" not in self._model_kinds():
            return None
        mlayer = layer if layer is not None else current_micrograph_layer(self.viewer)
        if mlayer is None:
            return None
        return micrograph_diameter(mlayer)

    def _on_settings_changed(self, _name: Any = None) -> None:
        """Annotate changed a micrograph's data set or diameter: with "each data set's
        own", the micrograph on screen's settings again (its data set may have a head)."""
        with self._following_picked_all():
            if self.head_combo.currentText() == OWN_HEADS:
                self._follow_own_head()
                self._refilter()  # a micrograph of another data set: that one's threshold
                return
            self._follow_diameter()

    def _on_layers_changed(self, _event: Any = None) -> None:
        with self._following_picked_all():
            if self.head_combo.currentText() == OWN_HEADS:
                shown = current_micrograph_layer(self.viewer)
                name = micrograph_name(shown) if shown is not None else ""
                if name != self._own_followed:  # another micrograph: its settings (not the
                    self._follow_own_head()  # user's slider moved back at every selection)
                return
            self._follow_diameter()

    def _follow_diameter(self) -> None:
        diameter = self.measured_diameter()
        if diameter and abs(self.diameter_spin.value() - diameter) > 0.05:
            self.diameter_spin.setValue(diameter)
        elif not diameter and self._box_follows_angstrom():
            # a micrograph of its own pixel size: the model's Å diameter at it (a review:
            # the box kept the one before's, and every micrograph was picked at it)
            here = self._card_diameter(self._model_metadata(), self.head())
            if here:
                self._set_box_from_card(here)
        elif not diameter and not self._box_untouched:
            # a value typed on another micrograph: the same particle in this one's pixels,
            # shown, so Pick current picks as Pick all open does (a GUI trial: 108 typed at
            # 1.77 Å/px, its 3.54 Å/px copy on screen, Pick current at 108, all open at 54)
            screen = current_micrograph_layer(self.viewer)
            if screen is not None:
                typed = self.diameter_spin.value()
                value = at_pixel_size(typed, self._box_pixel_size, screen)
                if abs(value - typed) > 0.05:
                    self.diameter_spin.setValue(value)  # (and its pixel size recorded)

    def _on_layers_inserted(self, event: Any) -> None:
        """A micrograph opened: the result layers are made now if the viewer has none.

        (``ensuring_result_layers``: one layer per turn, so picking later only
        updates them.) A closed micrograph's results leave the session with it
        (``follow_micrographs``), and the review table follows
        (``picks_changed``).
        """
        if more_coming(self.viewer, event.value):  # a folder's: once, for its last
            return
        reason = "" if micrograph_layers(self.viewer) else no_micrograph_reason(self.viewer)
        if reason:
            # an image that is no micrograph (a folder stacked in 3D, colour): said at
            # once, as Annotate says it (a GUI trial's Pick was silent until Pick)
            self.status.setText(reason)
        self._on_layers_changed()
        if is_micrograph_layer(event.value):
            self._showing.add(ensuring_result_layers(self.viewer, self._model_kinds()))

    def _model_kinds(self) -> tuple[str, ...]:
        return tuple(getattr(getattr(self.model, "config", None), "kinds", ("particle",)))

    def _job_diameter_warning(self) -> str:
        """:meth:`_diameter_warning` of the micrograph on screen at the diameter this job
        picks it at ("" when the job does not pick it): *Pick all open* picks each at its
        own, not the Diameter box's (a GUI trial read "diameter 108 px, but this
        micrograph's diameter in Annotate is 56 px" of a ribosome micrograph picked at
        56 px)."""
        layer = current_micrograph_layer(self.viewer)
        name = micrograph_name(layer) if layer is not None else ""
        used = self._job_diameters.get(name)
        if used is None:
            return ""
        # against its own diameter as the job found it, not one typed since (a review: a
        # micrograph given 100 px after it was picked at 70 was warned of on every switch)
        if name not in self._job_own_diameters:
            return self._diameter_warning(name, used)
        own = self._job_own_diameters[name]
        return self._diameter_warning(name, used, own) if own else ""

    def _diameter_warning(
        self, name: str | None = None, used: float | None = None, measured: float | None = None
    ) -> str:
        """The Diameter box against the micrograph on screen's Annotate diameter; with
        ``name`` and ``used``: the diameter micrograph ``name`` was picked at against its
        own (a GUI re-trial read the ribosome model's 56 px against the vesicle
        micrograph on screen, which that run had not picked); ``measured``: its own as it
        was then (default: as it is now)."""
        if name is None or used is None:
            measured = self.measured_diameter()
            value = self.diameter_spin.value()
        else:
            if measured is None:
                from .annotate import find_micrograph_layer

                layer = find_micrograph_layer(self.viewer, name)
                measured = self.measured_diameter(layer) if layer is not None else None
            value = float(used)
        if measured and abs(value - measured) > DIAMETER_MISMATCH * measured:
            whose = "this micrograph's" if name is None else f"{name}'s"
            return (
                f"Warning: diameter {value:.0f} px, but {whose} diameter in Annotate "
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
        threshold = value / SLIDER_STEPS
        self.threshold_label.setText(threshold_text(threshold))
        state = session(self.viewer)
        state.display_threshold = threshold
        if self.head_combo.currentText() == OWN_HEADS and not self._setting_threshold:
            # the user moved it: the threshold of the data set on screen, all its micrographs
            self._own_thresholds[self._own_head_of_current()] = threshold
        self._refilter()

    def _on_slider_moved_by_user(self, _action: int = 0) -> None:
        """The user moves the slider: the micrograph on screen follows it, also when an
        earlier model's picks there kept the threshold they were shown at (a GUI trial moved
        the slider and nothing on screen changed; the status said why, unread). Others keep
        theirs. (Emitted before the value changes: its change, if any, refilters.)"""
        layer = current_micrograph_layer(self.viewer)
        name = micrograph_name(layer) if layer is not None else ""
        if not name or self._pinned.pop(name, None) is None:
            return
        slider = self.threshold_slider
        if slider.sliderPosition() == slider.value():  # at an end: no change to refilter
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
        slider rests (:meth:`ReviewPanel.schedule_review`). With several micrographs
        whose fibers are traced at the new threshold, the status comes with
        the table (tracing costs 0.1-0.7 s a micrograph).
        """
        state = session(self.viewer)
        names = list(state.pick_results)
        state.micrograph_thresholds.clear()  # (refilled for the picked micrographs)
        thresholds = {name: self._threshold_for(name) for name in names}
        shown = {
            name: apply_display_threshold(self.viewer, name, thresholds[name]) for name in names
        }
        if not names:
            return
        self.review.schedule_review(None)
        if len(names) == 1:  # with its vesicles and fibers
            self._status_with_review = False
            if self.worker is None:
                self.status.setText(self._one_text(names[0]))
                self._filter_shown = self.status.text()
            return
        totals = {"picks": 0, "vesicles": 0, "fibers": 0}
        for name, particles in shown.items():
            counts = _counts_without_tracing(self.viewer, name, thresholds[name], particles or 0)
            if counts is None:  # its fibers are traced first: the table's refresh says
                self._status_with_review = True
                return
            for kind, n in counts.items():
                totals[kind] += n
        self._status_with_review = False
        if self.worker is None:
            self.status.setText(self._filter_text(self._totals_text(totals, names)))
            layer = current_micrograph_layer(self.viewer)
            on_screen = micrograph_name(layer) if layer is not None else ""
            self._totals_shown = (self.status.text(), on_screen)
            self._filter_shown = self.status.text()

    def _one_text(self, name: str) -> str:
        """The slider's status of the one micrograph picked, ``name``, named, and the one on
        screen when it is another (a re-trial read "110 picks" beside a micrograph with none,
        not yet picked)."""
        text = self._filter_text(f"{name}: {shown_objects(self.viewer, name)}", name)
        layer = current_micrograph_layer(self.viewer)
        screen = micrograph_name(layer) if layer is not None else ""
        if screen and screen != name:
            text += f"; {screen}, on screen, is not picked yet (Pick current)"
        return text

    def _on_micrograph_shown(self, screen: str = "") -> None:
        """Another micrograph on screen: the slider's status of one micrograph follows, and
        the status of the one just picked says which is on screen (a GUI trial read
        "062_10028: 101 picks" beside 063, chosen in the review table)."""
        if self.worker is not None:
            return
        if self._pick_said and self.status.text() == self._pick_said[0]:
            said, name, objects = self._pick_said
            if screen and screen != name:
                start = said.rfind(f"{name}: {objects} ")  # its warnings before it stay
                self._picked_last = (said[:start] if start >= 0 else "", name)
                self._say_screen(screen)
                self._pick_said = None
            return
        if self._screen_said and self.status.text() == self._screen_said:
            self._say_screen(screen)  # (switched again: a GUI trial read the one before)
            return
        if not self._filter_shown:
            return
        if self.status.text() != self._filter_shown:
            return
        names = list(session(self.viewer).pick_results)
        if len(names) == 1:
            self.status.setText(self._one_text(names[0]))
            self._filter_shown = self.status.text()

    def _say_screen(self, screen: str) -> None:
        """The status of the micrograph just picked (:attr:`_picked_last`) once another is
        on screen: the one on screen first, with its count, then the one picked last;
        said again as picks are edited and micrographs switched (:attr:`_screen_said`)."""
        prefix, name = self._picked_last
        results = session(self.viewer).pick_results
        if screen in results:
            now = (
                f"{screen} (on screen): {shown_objects(self.viewer, screen)} at "
                f"threshold {threshold_text(self._threshold_for(screen))}"
            )
        else:
            now = f"{screen}, on screen, is not picked yet (Pick current)"
        if screen != name:
            last = shown_objects(self.viewer, name) if name in results else "closed"
            now += f"; picked last: {name} ({last})"
        self.status.setText(f"{prefix}{now}")
        self._screen_said, self._screen_name = self.status.text(), screen

    def _totals_text(self, totals: dict[str, int], names: list[str]) -> str:
        """``"64 vesicles on 2 micrographs (ves_a on screen: 54 vesicles)"``: the sum said
        as one (a trial read 64 beside the 54 circles on screen)."""
        text = f"{_objects_text(totals, self._model_kinds())} on {len(names)} micrographs"
        layer = current_micrograph_layer(self.viewer)
        name = micrograph_name(layer) if layer is not None else ""
        if name in names:
            text += f" ({name} on screen: {shown_objects(self.viewer, name)})"
        return text

    def _on_rows_refreshed(self) -> None:
        """Picks deleted, moved or added: the counts the status says, if it is still the
        slider's or the one after picking, are said again (a trial deleted picks and read
        the count from before; a re-trial, right after picking)."""
        if self.worker is not None:
            return
        text = self.status.text()
        if self._picked_all_shown and text == self._picked_all_shown:
            self._picked_all_shown = self._picked_all_text()
            self.status.setText(self._picked_all_shown)
            return
        if self._screen_said and text == self._screen_said:
            # the one on screen and the one picked last, their counts as they are now
            self._say_screen(self._screen_name)
            return
        if self._pick_said and text == self._pick_said[0]:
            _said, name, objects = self._pick_said
            now = shown_objects(self.viewer, name)
            if name in session(self.viewer).pick_results and now != objects:
                new = text.replace(f"{name}: {objects} ", f"{name}: {now} ", 1)
                self.status.setText(new)
                self._pick_said = (new, name, now)
            return
        passing, name, objects = self.review.said_in_passing
        if passing and text == passing and shown_objects(self.viewer, name) != objects:
            self.review.said_in_passing = ("", "", "")  # the picks changed since: counts
        elif not self._filter_shown or text != self._filter_shown:
            return
        names = list(session(self.viewer).pick_results)
        if len(names) == 1:
            text = self._one_text(names[0])
        elif names:
            text = self._review_totals_text(names)
        else:
            return
        self.status.setText(text)
        self._filter_shown = text
        if len(names) > 1:
            self._totals_shown = (text, self._totals_shown[1])

    def _on_review_refreshed(self) -> None:
        """The review table counted every micrograph: the status of several micrographs whose
        fibers :meth:`_refilter` left to the table's count says their totals now."""
        if not self._status_with_review:  # picks edited meanwhile: the slider's counts
            self._on_rows_refreshed()
            return
        if self.worker is not None:
            return
        self._status_with_review = False
        self.status.setText(self._review_totals_text(list(session(self.viewer).pick_results)))

    def _review_totals_text(self, names: list[str]) -> str:
        """The slider's status of several micrographs, ``names``, from the review table's
        counts of each (as the user sees them)."""
        totals = {"picks": 0, "vesicles": 0, "fibers": 0}
        for name, counts in self.review.counts.items():
            if name in names:
                for kind, n in counts.items():
                    totals[kind] += n
        return self._filter_text(self._totals_text(totals, names))

    def _filter_text(self, objects: str, name: str = "") -> str:
        """``"<objects> at threshold 0.15"``, with the size filter and what it does not change;
        ``objects`` of the one micrograph ``name``: at the threshold it is shown at."""
        state = session(self.viewer)
        names = list(state.pick_results)
        threshold = self.threshold()
        if name and self.head_combo.currentText() == OWN_HEADS:
            # its data set's head's, not the slider's of another on screen (a GUI trial
            # read "061_10028: 115 picks at threshold 0.104", apoferritin's, beside its
            # ribosome picks shown at 0.118)
            threshold = state.micrograph_thresholds.get(name, threshold)
        text = f"{objects} at threshold {threshold_text(threshold)}"
        pinned = {n: t for n in names if (t := self._kept_threshold(n)) is not None}
        # the data sets' own thresholds, not an earlier model's pinned ones (said below:
        # a re-trial read the pin among them)
        own = {round(t, 3) for n, t in state.micrograph_thresholds.items() if n not in pinned}
        if self.head_combo.currentText() == OWN_HEADS and len(own) > 1:
            text = (
                f"{objects} at each data set's own threshold "
                f"({', '.join(threshold_text(t) for t in sorted(own))}; "
                f"{threshold_text(self.threshold())} on screen)"
            )
        # an earlier model's picks keep the threshold they were shown at (a GUI re-trial
        # read "at threshold 0.40" beside picks still shown at 0.102)
        if pinned:
            kept = ", ".join(sorted({threshold_text(t) for t in pinned.values()}))
            if set(pinned) == set(names):
                text = f"{objects} at threshold {kept}"
            else:
                text += f"; {name_list(sorted(pinned))} at {kept}"
            text += (
                " (picked by an earlier model, they keep the threshold they were shown at: "
                "Pick current or Pick all open re-picks them with this one)"
            )
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

        ``diameter_px`` (a field) overrides the Diameter box; None: the workflow's choice
        for each micrograph (its data set's head's own diameter, as ``cryopick pick``).
        """
        from napari_cryopick.workflows.pick import PickRequest

        given = fields.pop("diameter_px", self.diameter_spin.value())
        diameter = None if given is None else float(given)
        key = self._scale_key(diameter)
        if "diameter_factor" not in fields and key in self._scale_choices:
            # zero-shot: the scale and contrast chosen on the first micrographs picked
            # with this model, diameter and head, so every micrograph of the session gets them
            factor, inverted = self._scale_choices[key]
            fields["diameter_factor"] = factor
            fields.setdefault("invert_contrast", inverted)
        from .annotate import find_micrograph_layer

        datasets = {}  # Annotate's data set of each micrograph: warned of a head not its own
        for micrograph in micrographs:
            if isinstance(micrograph, (str, Path)):
                # a file of a folder: the data set it was annotated as, else its folder's
                # (a GUI trial's apoferritin folder, annotated 'apoferritin', was told its
                # folder named no data set of the model)
                dataset = _annotated_dataset(Path(micrograph))
                if dataset:
                    datasets[Path(micrograph).stem] = dataset
                continue
            mlayer = find_micrograph_layer(self.viewer, getattr(micrograph, "name", "") or "")
            if mlayer is not None and _picking_dataset(mlayer):
                datasets[micrograph.name] = _picking_dataset(mlayer)
        return PickRequest(
            micrographs=micrographs,
            model=self.model,
            datasets=datasets,
            in_napari=True,
            metadata=self._model_metadata() or None,
            head=self.head(),
            diameter_px=diameter,
            threshold=fields.pop("threshold", self.threshold()),
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

    def _run(
        self,
        micrographs: list[Any],
        diameters: list[float] | None = None,
        layers: Sequence[Any] = (),
    ) -> Any:
        if self.model is None:
            self.status.setText("No model: train one or load a model file first.")
            return None
        if self.worker is not None:
            return self.worker
        if not micrographs:
            self.status.setText(no_micrograph_text(self.viewer))
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
        self._job_diameters = {
            getattr(m, "name", str(m)): float(d) for m, d in zip(micrographs, diameters)
        }
        self._job_own_diameters = {
            micrograph_name(layer): self.measured_diameter(layer) for layer in layers
        }
        self._request_scale_keys = {round(d, 3): self._scale_key(d) for d in groups}
        self._cancel = threading.Event()
        self._picked_names = {}
        self._job_layers = {micrograph_name(layer): micrograph_identity(layer) for layer in layers}
        # the model the job picks with, whatever the session's model becomes meanwhile (a
        # training ending during Pick all open: a GUI trial's bundled-model picks were
        # recorded, shown and exported as the new model's)
        self._job_model = (self.model, self.model_file())
        self._job_stamp = self.model_stamp if self.model_path is not None else None
        own = self.head_combo.currentText() == OWN_HEADS
        names = list(self._job_layers) or [getattr(m, "name", str(m)) for m in micrographs]
        self._job_heads = {name: self._own_head_of(name) for name in names} if own else {}
        self._job_thresholds = {name: self._model_threshold(name) for name in names}
        self._job_earlier, self._job_kept, self._job_unreviewed = [], [], []
        results = session(self.viewer).pick_results
        self._job_held = {name: results.get(name) for name in names}
        self._pick_errors = []
        self._closed_in_job = []
        # (files on disk: once a job); or the saved model taken at this press
        self._saved_note, self._taken_note = self._saved_models_note() or self._taken_note, ""
        job = requests[0] if len(requests) == 1 else requests
        worker = background(_picking_job, job, self._cancel)
        self._trained_warning = "".join(  # shown with each result too
            dict.fromkeys(_trained_diameter_text(request) for request in requests)
        )
        warning = self._job_diameter_warning() + self._trained_warning
        worker = self._start(worker, len(micrographs), self._on_picked, self._on_pick_returned)
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
        worker.errored.connect(lambda exc: self._on_errored(what, exc))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._job_what = what
        self._job_failed = False
        self._set_busy(True)
        self.status.setText(f"{what}…")
        self._showing.add(self._progress.starting(worker, total, f"cryopick {what.lower()}"))
        return worker

    def _on_errored(self, what: str, exc: BaseException) -> None:
        self._job_failed = True  # its end says so, not a summary of what was picked
        self.status.setText(f"{what} failed: {short_error(exc)}")

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

    def _advance(self, step: int, total: int | None = None) -> None:
        # QProgressBar.setValue repaints at once; each repaint composes the whole window (a
        # software-GL pass on a machine without a GPU). Posted instead: it is painted with
        # the status line in one pass (napari's progress bar below processes events).
        self.progress_bar.setUpdatesEnabled(False)
        if total is not None and total != self.progress_bar.maximum():
            self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        self.progress_bar.setUpdatesEnabled(True)
        self._progress.advance_to(step, total)

    def _on_picked(self, event: Any) -> None:
        if event.item is None:
            self._pick_errors.append(str(event.error))  # said again with the summary
            self.status.setText(f"{event.step}/{event.total} {event.error}")
            self._advance(event.step)
        else:
            self._showing.add(self._showing_picked(event))

    def _showing_picked(self, event: Any) -> Iterator[None]:
        """Show one picked micrograph step by step (layers, count, progress)."""
        name = event.item.name
        if name not in session_micrographs(self.viewer) or not self._still_open(name):
            # closed while it was being picked: its results left the session with it
            self._closed_in_job.append(name)
            kept = (
                "; your corrected picks of it are kept aside (open it again)"
                if name in session(self.viewer).closed_corrections
                else ""
            )  # (a GUI trial read "its picks are dropped" of a micrograph whose were kept)
            self.status.setText(
                f"{name}: closed while picking, this run's picks of it are dropped{kept} "
                f"({event.step}/{event.total})"
            )
            self._advance(event.step)
            return
        factor = float(getattr(event.item, "diameter_factor", 1.0))
        inverted = bool(getattr(event.item, "inverted", False))
        key = self._request_scale_keys.get(round(float(event.item.diameter_px), 3))
        warning = self._scale_warning(event.item)
        from napari_cryopick.workflows.pick import SEARCH_MIN_DIAMETERS

        # a choice made on a micrograph a few particles across is none for the larger ones
        # open (a GUI trial's 12 x 10 px image set "barely sees" and 1 x for a ribosome
        # micrograph seen best at 0.8 x); the workflow's search passes such ones over as
        # well, unless all are that small
        least = SEARCH_MIN_DIAMETERS * float(event.item.diameter_px)
        small = min(event.item.shape) < least and any(
            min(getattr(layer.data, "shape", (0,))[-2:]) >= least
            for layer in micrograph_layers(self.viewer)
        )
        if key is not None and not (small and getattr(event.item, "scale_confidences", None)):
            # (the model, diameter and head the job was started with)
            self._scale_choices[key] = (factor, inverted)
            if getattr(event.item, "scale_confidences", None):
                self._scale_warnings[key] = warning
            else:  # the scale chosen before, reused: its warning holds as well (a re-trial)
                warning = warning or self._scale_warnings.get(key, "")
        state = session(self.viewer)
        job_model, job_file = self._job_model
        earlier = ""
        if job_model is not self.model:
            # picked by the model the job started with, replaced since (a training ended):
            # an earlier model's picks, at the threshold that model showed them at
            held = state.pick_results.get(name)
            if (
                held is not None
                and held is not self._job_held.get(name)  # (shown since the job started)
                and name not in state.earlier_model
                and not held.file_picks
            ):
                # the new model's picks of it (a training's preview) stay: newer than these
                self._job_kept.append(name)
                self.status.setText(
                    f"{name}: kept the picks of the model loaded since; this job's (the "
                    f"earlier model's) left out ({event.step}/{event.total})"
                )
                self._advance(event.step)
                return
            state.earlier_model.add(name)
            self._pinned[name] = self._job_thresholds.get(name, self.threshold())
            self._head_picked.pop(name, None)
            self._job_earlier.append(name)
            earlier = (
                " (picked with the model this job started with, replaced since: 'Pick all "
                "open' re-picks it with the one loaded)"
            )
        else:
            # picked now by the model loaded: no longer an earlier model's picks, which keep
            # the threshold they were shown at (a GUI trial's new picks were shown and
            # exported at the first model's 0.15 while the slider read the second's 0.102)
            state.earlier_model.discard(name)
            own = self._own_head_of(name) if self.head_combo.currentText() == OWN_HEADS else None
            picked = own or self.head()
            if picked:
                self._head_picked[name] = picked
            else:
                self._head_picked.pop(name, None)
        threshold = self._threshold_for(name)
        yield from showing_pick_result(
            self.viewer,
            name,
            event.item,
            threshold,
            model_file=job_file,
            model_stamp=self._job_stamp,
            earlier=bool(earlier),
        )
        apply_display_threshold(self.viewer, name, threshold)
        shown = shown_objects(self.viewer, name)
        unreviewed = ""
        if name in state.reviewed_dropped:  # (its Reviewed tick was about other picks)
            state.reviewed_dropped.discard(name)
            self._job_unreviewed.append(name)
            unreviewed = "; no longer marked Reviewed: these picks are new"
        scale = ""
        if factor != 1.0:
            scale = (
                f", at {factor:g} x the diameter (zero-shot scale: as if "
                f"{event.item.diameter_px * factor:.0f} px)"
            )
        if inverted:
            scale += ", on the inverted micrograph (particles lighter than the background)"
        self._picked_names[name] = (warning, scale + earlier)
        self.status.setText(
            f"{self._diameter_warning(name, float(event.item.diameter_px))}"
            f"{self._trained_warning}{self._saved_note}"
            f"{warning}{name}: {shown} "
            f"at threshold {threshold_text(threshold)}{scale}{earlier}{unreviewed} "
            f"({event.step}/{event.total})"
        )
        self._pick_said = (self.status.text(), name, shown)
        yield
        self._advance(event.step)  # last: napari's progress bar may process events

    def _still_open(self, name: str) -> bool:
        """Whether the micrograph the job picked as ``name`` is still that one."""
        picked = self._job_layers.get(name)
        return picked is None or still_the_micrograph(self.viewer, name, picked)

    def _on_pick_returned(self, outcome: Any) -> None:
        """The run's warnings found while picking (a micrograph of another size picked at
        the same diameter, say), said with the end of the job as the ones found before
        it are: a GUI trial's ribosome micrograph, picked at β-gal's 108 px, gave 0 picks
        and the warning reached only the terminal."""
        said = self._trained_warning
        found = [w for w in getattr(outcome, "warnings", ()) or () if w and w not in said]
        if found:
            text = _warning_texts(found).strip()
            self._left_out_text = f"{self._left_out_text}\n{text}".strip()

    def _on_finished(self) -> None:
        self._showing.add(self._finishing())

    def _finishing(self) -> Iterator[None]:
        """After the worker: wait for its results to be shown, then free the buttons."""
        self.worker = None
        self._release_handover()  # (a Pick folder… job's model file)
        self._progress.close()
        self._set_busy(False)
        if self._cancel.is_set():
            # open micrographs write no files: their picks so far stay shown (a trial read
            # "files written so far are complete" after Pick all open)
            kept = (
                "the micrographs picked so far keep their picks."
                if self._job_what == "Picking"
                else "files written so far are complete."
            )
            if self._job_what == "Picking" and self._job_earlier:  # (a re-trial: unsaid)
                kept += (
                    f" {name_list(self._job_earlier, 3)}: picked with the model this job "
                    "started with, replaced since."
                )
            elif self._job_what == "Picking folder":
                kept += " Pick folder… again with the same settings goes on where it stopped."
            self.status.setText(
                f"Cancelled after {self.progress_bar.value()} of {self.progress_bar.maximum()} "
                f"micrograph(s); {kept}"
            )
        elif (
            not self._job_failed
            and self._job_what == "Picking"
            and len(self._picked_names)
            + len(self._pick_errors)
            + len(self._closed_in_job)
            + len(self._job_kept)
            > 1
        ):
            # (open micrographs picked; an export or a folder picked says its own end, a
            # trial: "Exported 239 picks" was replaced by the last pick's summary)
            # the micrographs left out stay said under the counts as these follow edits and
            # the micrograph on screen (a GUI trial: appended, the note froze the status)
            self._picked_all_left = "" if self._cancel.is_set() else self._left_out_text
            self._picked_all_shown = self._picked_all_text()
            self.status.setText(self._picked_all_shown)
        elif self._left_out_text and not self._cancel.is_set():
            said = self.status.text()
            self.status.setText(f"{said}\n{self._left_out_text}")
            if self._pick_said and self._pick_said[0] == said:  # its count still follows
                self._pick_said = (self.status.text(), *self._pick_said[1:])
        self._left_out_text = ""
        yield

    @contextmanager
    def _following_picked_all(self) -> Iterator[None]:
        """The status of several micrographs picked describes the micrograph on screen as
        the user steps through them (a trial: it kept naming the one on screen at the end,
        and apoferritin's zero-shot warning never showed with apoferritin on screen).

        Said again after the widget followed the new micrograph (its diameter, its data
        set's head and threshold), so that its warnings are the new micrograph's; only
        while that status is still the one shown (nothing else said since).
        """
        shown = (
            self.worker is None
            and bool(self._picked_all_shown)
            and self.status.text() == self._picked_all_shown
        )
        totals = self.worker is None and self.status.text() == self._totals_shown[0] != ""
        try:
            yield
        finally:
            if shown:
                self._picked_all_shown = self._picked_all_text()
                self.status.setText(self._picked_all_shown)
            elif totals and self.status.text() == self._totals_shown[0]:
                # the slider's totals name the micrograph on screen: said again for the
                # new one (a trial read "062_10028 on screen: 112 picks" with 063 shown)
                layer = current_micrograph_layer(self.viewer)
                if layer is not None and micrograph_name(layer) != self._totals_shown[1]:
                    self._refilter()

    def _picked_all_text(self) -> str:
        """The status after picking several micrographs: how many, and the one on screen
        (a re-trial: the last micrograph picked was described, not the one shown)."""
        # those closed since (or before their picks came) are not counted but named (a GUI
        # trial read "2 micrographs picked" with one left open, three closed unsaid)
        open_now = session_micrographs(self.viewer)
        picked = [name for name in self._picked_names if name in open_now]
        closed = [name for name in self._picked_names if name not in open_now]
        closed += [name for name in self._closed_in_job if name not in open_now]
        n = len(picked)
        text = f"{n} micrograph{'' if n == 1 else 's'} picked"
        if closed:
            names = set(closed)
            text += (
                f"; {len(names)} closed since ({name_list(sorted(names), 3)}): "
                f"{self._closed_how(names)}"
            )
        layer = current_micrograph_layer(self.viewer)
        name = micrograph_name(layer) if layer is not None else ""
        warning = ""
        if name in self._picked_names:
            warning, scale = self._picked_names[name]
            threshold = threshold_text(self._threshold_for(name))
            text += (
                f"; {name} (on screen): {shown_objects(self.viewer, name)} at threshold "
                f"{threshold}{scale}"
            )
        if n > 1 and "fiber" not in self._model_kinds():  # (fibers: traced to be counted)
            # the sum, as the slider's status says it (a GUI trial read it only after a move)
            # the review table's counts when it has counted them all (cheap: this runs on
            # every edit), else counted here (right after the job, before the table's turn)
            counted_by_table = self.review.counts
            totals: dict[str, int] = {}
            for each in picked:
                counts = counted_by_table.get(each) or _object_counts(
                    result_picks(self.viewer, each)
                )
                for kind, count in counts.items():
                    totals[kind] = totals.get(kind, 0) + count
            text += f"; {_objects_text(totals, self._model_kinds())} on the {n} in all"
        if self._pick_errors:  # (a re-trial: a micrograph that failed went unsaid)
            text += f"; {len(self._pick_errors)} not picked: {self._pick_errors[0]}"
        # a model change while the job ran, said at its end too (a re-trial read only "2
        # micrographs picked": which were the earlier model's, which kept a preview)
        unreviewed = [n for n in self._job_unreviewed if n in picked]
        if unreviewed:
            text += (
                f"; {name_list(unreviewed, 3)} no longer marked Reviewed: "
                f"{'its picks are' if len(unreviewed) == 1 else 'their picks are'} new"
            )
        earlier = [n for n in self._job_earlier if n in picked]
        if earlier:
            text += (
                f"; {len(earlier)} of them ({name_list(earlier, 3)}) picked with the model "
                "this job started with, replaced since: 'Pick all open' re-picks them with "
                "the one loaded"
            )
        if self._job_kept:
            text += (
                f"; {name_list(self._job_kept, 3)} kept the picks of the model loaded since "
                "(its training's preview), this job's left out"
            )
        left = f"\n{self._picked_all_left}" if self._picked_all_left else ""
        # the saved models of the open data sets, as after Pick current (a continual trial's
        # restart picked all open micrographs with the bundled model, unsaid)
        return (
            f"{self._job_diameter_warning()}{self._trained_warning}{self._saved_note}"
            f"{warning}{text}{left}"
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
        self._take_saved_model()
        active = self.viewer.layers.selection.active
        if (
            self.worker is None
            and active is not None
            and layer_type(active) == "image"
            and active.metadata.get(ROLE_KEY) != "heatmap"
            and not is_micrograph_layer(active)
            and micrograph_layers(self.viewer)  # (none: "Open a micrograph first: ...")
        ):
            # the image selected is the one meant: not the micrograph shown before it (a GUI
            # trial's colour image, added by hand, re-picked the micrograph before, unsaid)
            self.status.setText(f"Not picked: {not_a_micrograph_text(active)}.")
            return None
        mlayer = current_micrograph_layer(self.viewer)
        refusal = self._sizes_unknown([mlayer]) if mlayer is not None else None
        if refusal is not None and self.worker is None:
            self.status.setText(refusal)
            return None
        return self._run(
            [] if mlayer is None else [self._micrograph(mlayer)],
            layers=[] if mlayer is None else [mlayer],
        )

    def pick_all_open(self) -> Any:
        """Pick every open micrograph in the background; returns the worker.

        A file open twice is picked once; different files of the same name are
        refused (their results and pick files would be one), with their paths.
        """
        layers, clashes = distinct_micrographs(micrograph_layers(self.viewer))
        if clashes:
            self.status.setText(clash_message(clashes))
            return None
        self._take_saved_model()
        if self.worker is None:
            if not layers:  # (the status was emptied, a GUI trial; Pick current says this)
                self.status.setText(no_micrograph_text(self.viewer))
                return None
            layers, self._left_out_text = self._without_other_kinds(layers)
            if not layers:
                self.status.setText(self._left_out_text)
                return None
        refusal = self._sizes_unknown(layers)
        if refusal is not None and self.worker is None:
            self.status.setText(refusal)
            return None
        return self._run(
            [self._micrograph(layer) for layer in layers],
            [self._diameter_of(layer) for layer in layers],
            layers=layers,
        )

    def _without_other_kinds(self, layers: list[Any]) -> tuple[list[Any], str]:
        """The micrographs Pick all open re-picks, and what it leaves and why: one of kinds
        this model does not detect, by the user's own work: annotated with them (a re-trial:
        a vesicle model put vesicles on ribosome micrographs), or holding corrections of a
        network's picks of them (a GUI trial, told by Export to re-pick with a vesicle
        model, lost four micrographs' corrected ribosome picks to it). A network's picks
        of another kind, uncorrected, are picked again. Pick current re-picks one on
        purpose."""
        from .annotate import annotations_from_layers
        from .result_layers import has_corrections

        kinds = set(self._model_kinds())
        stored = session(self.viewer).pick_results
        keep, left, theirs = [], [], set()
        replaced: dict[str, set[str]] = {}  # uncorrected picks of other kinds, picked again
        for layer in layers:
            name = micrograph_name(layer)
            counts = annotations_from_layers(self.viewer, layer).counts()
            own = {k for k, n in counts.items() if n} - {"negative"}
            result = stored.get(name)
            made = set()
            if result is not None and has_corrections(self.viewer, name):
                picks = result.picks
                made = set(picks.loc[picks["score"].notna(), "kind"].astype(str)) - {"negative"}
            annotated_other = bool(own) and not own & kinds
            corrected_other = bool(made) and not made & kinds
            if annotated_other or corrected_other:
                left.append(name)
                theirs |= own if annotated_other else made  # the kinds that left it
            else:
                keep.append(layer)
                if result is not None and not made:
                    picks = result.picks
                    shown = set(picks.loc[picks["score"].notna(), "kind"].astype(str))
                    if (shown - {"negative"}) and not (shown & kinds):
                        replaced[name] = shown - {"negative"}
        notes = []
        if left:
            notes.append(
                f"Left as they are: {len(left)} micrograph(s) ({name_list(left, 3)}) annotated "
                f"or corrected for {', '.join(sorted(theirs))}s, which this model "
                f"({', '.join(sorted(kinds))}) does not detect; Pick current picks the one on "
                "screen if you mean it."
            )
        if replaced:
            # said (a mixed-session trial's 102 ribosome picks became 40 "vesicles", unsaid)
            was = sorted(set().union(*replaced.values()))
            notes.append(
                f"Picked again: {len(replaced)} micrograph(s) ({name_list(replaced, 3)}) whose "
                f"{', '.join(k + 's' for k in was)} another model picked (uncorrected) now "
                f"hold this model's {', '.join(k + 's' for k in sorted(kinds))}; correct a "
                "micrograph's picks (or annotate it) to keep them from Pick all open."
            )
        return keep, "\n".join(notes)

    def _diameter_of(self, layer: Any) -> float:
        """The diameter ``layer`` is picked at: with "each data set's own", its data set's
        head's; else its own (Annotate's, clicked or measured) for a model of particles;
        else the Diameter box (a vesicle or fiber model's card).

        A trial picked a ribosome micrograph (56 px) at the 27 px of the β-gal
        micrograph shown, with "Pick all open".
        """
        if self.head_combo.currentText() == OWN_HEADS:
            # its data set's head's diameter, as cryopick pick picks it and as the
            # Diameter box shows it for Pick (a re-trial: an apoferritin micrograph was
            # picked at the 56 px of the ribosome on screen; a trial: a β-gal micrograph
            # at the 62 px Annotate had carried over, 2281 picks, where Pick gave 943)
            diameter = self._own_diameter_of_layer(layer)
            if diameter:
                return diameter
        own = micrograph_diameter(layer) if "particle" in self._model_kinds() else None
        if own:
            return float(own)
        if self.head_combo.currentText() == OWN_HEADS:
            trained = self._trained_head_diameter(layer)
            if trained:
                return trained
        if self._box_follows_angstrom():
            # the model's diameter in Å at this micrograph's pixel size, as cryopick pick
            # (a review: Pick all open picked a 1.3 Å/px micrograph at the 2 Å/px one's)
            return self._card_diameter(self._model_metadata(), self.head(), layer) or (
                self.diameter_spin.value()
            )
        return self._typed_at(layer)

    def _typed_at(self, layer: Any) -> float:
        """The Diameter box's value at micrograph ``layer``'s pixels: the box is in the pixels
        of the micrograph on screen when it was set; where both files state their pixel
        sizes and they differ, the same particle at ``layer``'s (a facility trial: 229 px typed on
        a K3 micrograph, 0.83 Å/px, picked its super-resolution copy, 0.415 Å/px, at 229 px
        with Pick all open: AP 0, said after picking in the command line's words)."""
        typed = float(self.diameter_spin.value())
        return typed if layer is None else at_pixel_size(typed, self._box_pixel_size, layer)

    def _box_follows_angstrom(self) -> bool:
        """Whether the Diameter box holds the model's diameter in Å at the pixel size of
        the micrograph on screen (:meth:`_card_diameter`), not one the user typed: other
        micrographs are then picked at it over their own pixel sizes."""
        if self._trained_angstrom(self._model_metadata(), self.head()) is None:
            return False
        # the value the card set, not one typed since (compared with the card's diameter
        # at the micrograph on screen, a switch to another pixel size read as typed)
        set_by_card = self._card_box_value
        return set_by_card is not None and abs(set_by_card - self.diameter_spin.value()) < 0.01

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of micrographs")
        if folder:
            self.pick_folder(folder)

    def pick_folder(self, folder: str | Path) -> Any:
        """Pick every micrograph file in ``folder`` and write pick files (export folder/format)."""
        from napari_cryopick.io.paths import micrograph_files, writable_folder

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
        if self.head_combo.currentText() != OWN_HEADS:
            from napari_cryopick.core.model.card import ModelCard

            card = ModelCard.of_model(self.model, self._model_metadata())
            if self._nobody_gave_a_diameter(card, self.head()):
                # (as Pick current: the box's first 100 px is nobody's diameter)
                self.status.setText(
                    f"No particle diameter for the micrographs of {folder}: the general model "
                    "picks any protein at the diameter you give. Type it in the Diameter box "
                    "(or Measure one particle in Annotate), then Pick folder…."
                )
                return None
        out_dir = self.export_edit.text().strip()
        if not out_dir or out_dir == self._default_export:
            # the default follows the folder: a trial's second folder went into the first
            # folder's cryopick_picks, which the first run had left in the box
            if not writable_folder(folder):
                self.status.setText(
                    f"{folder} is read-only (raw data?): choose an export folder for the "
                    "pick files first"
                )
                return None
            out_dir = self._default_export = str(Path(folder) / "cryopick_picks")
        self.export_edit.setText(out_dir)
        from napari_cryopick.workflows.batch import refuse_to_replace
        from napari_cryopick.workflows.pick import prepare

        floor = KEEP_CANDIDATES if self.keep_candidates_check.isChecked() else None
        self._folder_floor = floor
        # (abspath: resolve can raise on a link loop, a review)
        self._folder_files = {Path(os.path.abspath(p)) for p in paths}
        self._folder_format = self.format_combo.currentText()
        self._folder_flip = self._flip_tiff(self._folder_format)  # (as the run writes them)
        self._folder_ticked = self.tiff_y_check.isChecked()
        try:
            # each data set's own head at its own diameter too (a review: every data set
            # of a folder was picked at the diameter of the head of the micrograph on screen)
            own = (
                {"threshold": None, "diameter_px": None}
                if self.head_combo.currentText() == OWN_HEADS
                # the model's Å diameter at each file's pixel size, as cryopick pick (a
                # review: one folder's 1.3 Å/px files at the 2 Å/px shown one's pixels)
                else {"diameter_px": None}
                if self._box_follows_angstrom()
                else {}
            )
            request = self.pick_request(
                paths,
                out_dir=Path(out_dir),
                formats=(self.format_combo.currentText(),),
                keep_candidates=floor,
                flip_tiff_y=self._flip_tiff(self.format_combo.currentText()),
                # a folder picked before with these settings goes on where it stopped (a
                # folder of thousands, cancelled or closed half-way, was picked anew)
                resume=True,
                # each data set's own head at its own calibrated threshold, as cryopick pick
                # writes them (the slider shows the data set on screen's: a β-gal folder
                # was written at the ribosome's 0.15, not its head's 0.059)
                **own,
            )
            # a bad format/kind combination, or files of the user's that picking would
            # replace, are reported now, not in the worker (warnings say "the model")
            prepared = prepare(request)
            if FOLDER_PICKING_IN_CHILD:
                # the model as the child gets it (a model in memory saved as a checkpoint
                # file): the folder's records of these settings are the child's (its
                # settings fingerprint names that file), so the check below keeps what the
                # resumed run keeps (a re-trial's edited file was refused)
                request = self._handed_over(request)
            refuse_to_replace(prepared, resume=True, request=request)
            # a folder that cannot be written is said now, not after picking everything
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            if not writable_folder(out_dir):
                raise ValueError(f"{out_dir}: cannot write pick files there")
            self._trained_warning = _warning_texts(prepared.warnings)
        except (ValueError, OSError, RuntimeError) as exc:  # (torch's writer: RuntimeError)
            self._release_handover()
            self.status.setText(str(exc))
            return None
        from ._child_picking import pick_in_child

        self._request_scale_key = self._scale_key()
        self._cancel = threading.Event()
        self._picked_names = {}  # (none open: the folder's end says what was written)
        self._pick_errors = []
        self._closed_in_job = []
        # a child process: its numpy/torch work never holds this process's GIL or its cores
        job = pick_in_child if FOLDER_PICKING_IN_CHILD else _picking_job
        worker = background(job, request, self._cancel)
        return self._start(
            worker,
            len(paths),
            self._on_folder_progress,
            self._on_folder_done,
            what="Picking folder",
        )

    def _handed_over(self, request: Any) -> Any:
        """``request`` with an in-memory model saved in a temporary folder as the picking
        child reads it (kept until the job ends: :meth:`_release_handover`)."""
        import tempfile

        from ._child_picking import child_request

        self._release_handover()
        self._handover = tempfile.TemporaryDirectory(prefix="cryopick-model-")
        return child_request(request, Path(self._handover.name))

    def _release_handover(self) -> None:
        if self._handover is not None:
            self._handover.cleanup()
            self._handover = None

    def _on_folder_progress(self, event: Any) -> None:
        # the status first: napari's progress bar may process events (the end, re-entering)
        self.status.setText(f"{self._trained_warning}{event.step}/{event.total} {event.postfix()}")
        self._advance(int(event.step), int(event.total))  # (fewer: those picked before kept)

    def _on_folder_done(self, batch: Any) -> None:
        if batch is None:
            return  # cancelled: _on_finished says so
        self.last_batch = batch
        counts = _objects_text(_object_counts(batch.picks), self._model_kinds())
        # the run's own warnings too, those the files' sizes gave (a folder trial's 4096 px
        # micrograph among 1024 px ones, picked at their diameter, was warned of in the
        # terminal only)
        said = self._trained_warning
        said += _warning_texts(
            w for w in dict.fromkeys(getattr(batch, "warnings", ())) if w and w not in said
        )
        text = f"{said}{counts} in {len(batch.written)} files -> "
        text += self.export_edit.text()
        if batch.n_kept:
            # a folder picked before with these settings goes on where it stopped
            kept = (
                f"{batch.n_kept} micrograph(s) picked into {self.export_edit.text()} before "
                "with these settings kept as they were (another model, threshold or format "
                "picks them anew)"
            )
            edited = getattr(batch, "n_edited", 0)
            if edited:  # (a re-trial's one edited file stopped the whole resume)
                kept += (
                    f", {edited} of them for files edited since (no run wrote them as they "
                    "are now: move them away to pick those micrographs again)"
                )
            # (those that fail again are said below: a folder trial's resumed run read "0
            # picks in 0 files" for a folder whose one broken file failed again)
            if batch.n_micrographs == batch.n_kept + len(batch.errors):
                text = f"{said}Nothing left to pick: {kept}"
            else:
                text += f"; {kept}"
        damaged = getattr(batch, "n_damaged", 0)
        if damaged:  # (logged in the picking process's terminal only, a re-trial)
            text += (
                f"; {damaged} file(s) an earlier run wrote there were damaged since (cut "
                "short or emptied): their micrographs were picked again"
            )
        other = getattr(batch, "n_other_settings", 0)
        beside = getattr(batch, "n_other_formats", 0)
        if other - beside:
            # (said by cryopick pick; the widget replaced them unsaid, a re-trial)
            text += (
                f"; the folder held the picks of {other - beside} micrograph(s) made with "
                "other settings (another model, head or threshold, or a command-line run) "
                "in this format: written over where the names are the same"
            )
        if beside:  # (a review: "written over" was said of other formats' files too)
            text += (
                f"; the folder also held the picks of {beside} micrograph(s) made with other "
                "settings in other formats only: this run's files are beside theirs"
            )
        floor = self._folder_floor
        if floor is not None:
            # the count is of the picks at the threshold; the files hold more rows (a review
            # read "N picks" and imported files of every candidate into RELION)
            text += (
                f" (the files hold every candidate scoring {floor:g} or more, not only these: "
                "review them with Load picks… and export, or run cryopick filter --threshold, "
                "before importing them)"
            )
        if batch.inverted:
            text += "; picked on the inverted micrographs (particles lighter than the background)"
        if batch.at_negatives:  # said in the terminal only, a re-trial
            text += f"; {batch.at_negatives} pick(s) at the negatives marked in napari left out"
        if batch.scale_confidences:  # zero-shot: the scale chosen on the folder's first files
            self._scale_choices[self._request_scale_key] = (
                float(batch.diameter_factor),
                bool(batch.inverted),
            )
            warned, line = _scale_texts(
                batch.diameter_factor, batch.scale_confidences, self._request_scale_key[1]
            )
            text = f"{warned}{text}; {line}"
        if batch.written:  # which programs count y of these files from the last row
            failed = set(map(str, batch.errors))  # (by name or by file)
            picked = sorted(
                p for p in map(str, self._folder_files) if not {p, Path(p).stem} & failed
            )
            text += self._rows_note_of(
                picked, self._folder_format, self._folder_flip, self._folder_ticked,
                "pick the folder again",
            )  # fmt: skip
        # the files this run wrote (not those an earlier run left, kept as they were)
        stems = {Path(p).stem for p in batch.written}
        corrected = [n for n in self._corrected_in_folder() if stems & {n, f"{n}_fibers"}]
        if corrected:
            # an eval trial's 5 deleted picks were back in the folder's file, its hand pick
            # missing, while the screen showed them corrected, unsaid
            text += (
                f"; {name_list(corrected, 3)}, open with your corrections, {'was' if len(corrected) == 1 else 'were'} "
                "picked anew: these files do not hold the corrections (Export picks writes "
                "the micrographs as you corrected them, into this folder too)"
            )
        if batch.errors:
            # one line per failed file; each message starts with the file's path
            text += f"\n{len(batch.errors)} failed:\n" + "\n".join(batch.errors.values())
        self.status.setText(text)

    def _corrected_in_folder(self) -> list[str]:
        """The open micrographs of the files Pick folder… picked whose shown picks hold the
        user's corrections (deleted, moved or added picks, edited circles and paths)."""
        from .result_layers import has_corrections

        state = session(self.viewer)
        names = []
        for mlayer in micrograph_layers(self.viewer):
            path, name = layer_path(mlayer), micrograph_name(mlayer)
            stored = state.pick_results.get(name)
            if path is None or stored is None:
                continue
            if Path(os.path.abspath(path)) not in self._folder_files:
                continue
            if stored.file_picks:
                continue  # a pick file's picks: the file's, not corrections
            added = stored.picks["score"].isna().any()
            if added or has_corrections(self.viewer, name):
                names.append(name)
        return sorted(names)

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
        table = self._shown_picks()
        if table is None:
            return None
        if self.worker is not None:
            return self.worker
        folder = Path(self.export_edit.text().strip())
        format = self.format_combo.currentText()
        items = self._checked_export_items(table, format, folder)
        if items is None:
            return None
        self._cancel = threading.Event()
        inputs: dict[Path, Path] = {}
        worker = background(
            _exporting, items, folder, format, self._cancel, self._flip_tiff(format), inputs
        )
        self._start(
            worker,
            len(items),
            lambda done: self._advance(int(done[0])),
            lambda written: self._exported(table, written, folder, format, inputs),
            what="Export",
        )
        self.status.setText(
            f"Writing {_objects_text(_object_counts(table), self._model_kinds())} to {folder}…"
        )
        return worker

    def _checked_export_items(self, table: pd.DataFrame, format: str, folder: Path) -> list | None:
        """:func:`_export_items`; None (and the status says why) when fibers cannot be written
        in ``format`` (``cryopick pick`` refuses the same), when ``folder`` holds files of
        their names that neither a pick run nor an export wrote (a re-trial's hand picks
        were replaced by Export, "Exported 123 picks"), or when its manifests or files
        cannot be read (a review: raised out of the check)."""
        try:
            return self._check_export(table, format, folder)
        except OSError as exc:
            where = exc.filename if exc.filename is not None else folder
            self.status.setText(
                f"Export: cannot read {where}: {exc.strerror or exc} (choose another export "
                "folder, or make it readable)"
            )
            return None

    def _check_export(self, table: pd.DataFrame, format: str, folder: Path) -> list | None:
        """:meth:`_checked_export_items` without its handling of unreadable files."""
        from napari_cryopick.io.paths import writable_folder
        from napari_cryopick.workflows.batch import (
            candidate_files,
            foreign_files,
            micrograph_files,
            pick_run_files,
        )
        from napari_cryopick.workflows.pick import (
            check_fiber_formats,
            kind_format_warning,
            output_paths,
        )

        self._export_warning = ""
        names = list(session(self.viewer).pick_results)
        items = _export_items(self.viewer, table, self.diameter_spin.value(), names)
        try:
            for _item, kinds in items:
                check_fiber_formats(kinds, (format,))
        except ValueError as exc:
            self.status.setText(f"Export: {exc} (choose another format)")
            return None
        targets = [
            path
            for item, kinds in items
            for path in output_paths(folder / (item.name or "picks"), (format,), kinds)
        ]
        existing = next((f for f in (folder, *folder.parents) if f.exists()), None)
        if existing is not None and not writable_folder(existing):
            # as Pick folder and the annotations do (a trial exported into a raw-data
            # folder of mode r-x as root: a STAR file and a manifest were left there)
            self.status.setText(
                f"Export: {existing} is read-only (raw data?): choose another export folder"
            )
            return None
        # a file of the same name exported from another micrograph file (one name in two
        # folders, exported one after the other: a trial's first one was replaced unsaid)
        own = {
            path: (Path(item.path), item.name)
            for item, kinds in items
            if item.path
            for path in output_paths(folder / (item.name or "picks"), (format,), kinds)
        }
        recorded = micrograph_files([t for t in own if t.exists()], depth=1)
        clash = [
            (path, source)
            for path, source in recorded.items()
            if not _same_micrograph(source, own[path][0])
        ]
        if clash:
            path, source = clash[0]
            self.status.setText(
                f"Export: {path.name} in {folder} holds the picks of {source}, another "
                f"micrograph of the name {own[path][1]} ({len(clash)} such file(s)): choose "
                "another export folder to keep both"
            )
            return None
        found = foreign_files(folder, targets, include_exports=True)
        if found:
            listed = ", ".join(p.name for p in found[:3]) + (", …" if len(found) > 3 else "")
            self.status.setText(
                f"Export: {folder} holds {len(found)} file(s) of these names that cryopick did "
                f"not write, or that changed since ({listed}): choose another export folder "
                "or move them away"
            )
            return None
        # files of Pick folder… that keep every candidate down to a floor, for thresholding
        # later: the export writes the picks shown (a review: replaced by default, unsaid)
        held = candidate_files(folder, targets)
        if held and not self.review.confirm(
            f"{name_list([p.name for p in held], 3)} in {folder} "
            f"{'holds' if len(held) == 1 else 'hold'} every candidate down to "
            f"{min(held.values()):g} (Pick folder…'s, to threshold later). Replace "
            f"{'it' if len(held) == 1 else 'them'} with the picks shown?"
        ):
            self.status.setText(
                f"Export: nothing written; {folder} keeps its candidate files: choose another "
                "export folder to write the picks shown beside them"
            )
            return None
        # an earlier export's picks replaced by an empty file because the threshold hides
        # every pick of its micrograph, not because they were deleted (a GUI trial's
        # slider at its top: "Exported 0 picks", each earlier file emptied, unasked)
        emptied = _emptied_by_threshold(self.viewer, items, folder, format)
        if emptied and not self.review.confirm(
            f"The threshold {threshold_text(self.threshold())} hides every pick of "
            f"{name_list(sorted(emptied), 3)}: exporting replaces "
            f"{name_list([p.name for p in emptied.values()], 3)} in {folder}, which "
            f"{'holds' if len(emptied) == 1 else 'hold'} picks, with "
            f"{'an empty file' if len(emptied) == 1 else 'empty files'}. Replace?"
        ):
            self.status.setText(
                f"Export: nothing written; {folder} keeps its files: lower the threshold to "
                "show the picks to write"
            )
            return None
        # the kinds written, not those picked (a trial: "cbox files cannot store that picks
        # are vesicles" with no vesicle in the export)
        kinds = set(table["kind"].astype(str)) if len(table) else set()
        warning = kind_format_warning(sorted(kinds), (format,))
        self._export_warning = "" if warning is None else f"\nWarning: {warning}"
        self._export_flip = self._flip_tiff(format)  # (the box as the export starts)
        self._export_ticked = self.tiff_y_check.isChecked()
        # a pick run's files the export replaces with the picks shown (a GUI trial's
        # review of a cryopick pick folder, exported into it: replaced, unsaid)
        runs = pick_run_files(folder) if any(t.exists() for t in targets) else set()
        replaced = [
            t.name for t in targets if t.exists() and os.path.normpath(os.path.abspath(t)) in runs
        ]
        if replaced:
            self._export_warning += (
                f"\nReplaced {len(replaced)} file(s) a pick run (Pick folder…, cryopick pick) wrote "
                f"({name_list(replaced, 3)}): they hold the picks shown now, your corrections "
                "included (to keep a run's files, export into another folder)"
            )
        return items

    def _shown_picks(self) -> pd.DataFrame | None:
        """The shown picks of every picked micrograph (None: none picked yet).

        A picked micrograph whose picks were all deleted adds no rows but is
        exported still (an empty file, :func:`_export_items`).
        """
        state = session(self.viewer)
        names = list(state.pick_results)
        if not names:
            closed = state.closed_picked
            if closed:  # a re-trial closed every picked micrograph: "pick first"
                self.status.setText(
                    f"Nothing to export: the {len(closed)} micrograph(s) picked "
                    f"({name_list(closed, 3)}) were closed; {self._closed_how(closed)}."
                )
                return None
            opened = self._opened_files()
            self.status.setText(
                "Nothing to export: pick first."
                + (
                    f" Files opened with File > Open ({name_list(opened, 2)}) are shown, not "
                    "Pick's picks: File > Save Selected Layers writes a selected one as a "
                    "pick file (your edits in it included), which Load picks… then reads "
                    "to review and export here."
                    if opened
                    else ""
                )
            )
            return None
        tables = [t for t in (result_picks(self.viewer, name) for name in names) if len(t)]
        return pd.concat(tables, ignore_index=True) if tables else empty_picks()

    def _exported(
        self,
        table: pd.DataFrame,
        written: list,
        folder: Path,
        format: str,
        inputs: dict | None = None,
    ) -> None:
        from napari_cryopick.workflows.batch import record_export

        self.last_exported = list(written)
        unrecorded = ""
        try:  # a later export may replace them; a pick run into the folder may not
            # (with their micrographs' files: a round-trip trial's cryosparc export of the
            # corrected picks named 064_10028.mrc for PNG micrographs)
            record_export(
                folder,
                [Path(p) for p in written],
                inputs,
                flip_tiff_y=self._export_flip,
            )
        except OSError as exc:
            unrecorded = f"\nWarning: not recorded in the folder's manifest: {exc}"
        if self._cancel.is_set():
            return  # the end of the job says how far it came
        earlier = sorted(set(table["micrograph"].astype(str)) & session(self.viewer).earlier_model)
        note = self._earlier_model_note(table, earlier) if earlier else ""
        state = session(self.viewer)
        closed = state.closed_picked - set(state.pick_results)
        if closed:
            note += (
                f"\nNot exported: {len(closed)} micrograph(s) closed after picking "
                f"({name_list(closed, 3)}); {self._closed_how(closed)} to export them"
            )
        unopened = self._unopened_with_corrections()
        if unopened:
            note += (
                f"\nNot exported: {len(unopened)} micrograph(s) of the folder reviewed, not "
                f"opened in this napari session, hold corrections kept from an earlier one "
                f"({name_list(unopened, 3)}): show them in the review table to export them"
            )
        never = self._never_opened(set(unopened))
        if never:
            # (a folder trial exported 3 of the 8 micrographs reviewed, the 5 never opened
            # left out unsaid)
            where = self.review._picks_folder
            also = (
                f"; their picks are in {where} as picked (cryopick filter "
                f"{shlex.quote(str(where))} --out DIR writes every file)"
                if where is not None
                else ""
            )
            note += (
                f"\nNot exported: {len(never)} micrograph(s) of the folder reviewed, never "
                f"opened ({name_list(never, 3)}): show them in the review table to export "
                f"them{also}"
            )
        note += self._tiff_rows_note(set(table["micrograph"].astype(str)), format)
        self.status.setText(
            f"Exported {_objects_text(_object_counts(table), self._model_kinds())}{self._unscored_text(table)} to "
            f"{len(written)} {format} file(s) in {folder}{note}"
            f"{self._export_warning}{unrecorded}"
        )
        current = OWN_HEADS if self.head_combo.currentText() == OWN_HEADS else self.head()
        # the micrographs written, those whose shown picks are none too (their files)
        exported = set(table["micrograph"].astype(str)) | {Path(w).stem for w in written}
        other = self._other_heads_text(current, exported)
        if other:
            self.status.setText(f"{self.status.text()}\n{other}")
        if self.keep_candidates_check.isChecked():
            self.status.setText(
                f"{self.status.text()}\nNote: 'keep candidates' is Pick folder's; Export "
                "picks writes the picks shown (lower the threshold to write more)"
            )

    def _folder_left_out(self) -> list[Path]:
        """The files of the folder under review (Review folder…) whose micrographs an
        export does not write: not in this session (not picked or loaded, not kept by the
        review, not said as closed)."""
        state = session(self.viewer)
        return [
            path
            for path in self.review._folder_files
            if path.stem not in state.pick_results
            and path.stem not in state.retained
            and path.stem not in state.closed_picked  # (opened, and said as closed)
        ]

    def _unopened_with_corrections(self) -> list[str]:
        """Of :meth:`_folder_left_out`, those whose corrections an earlier session kept on
        disk (a review trial's two reviewed micrographs went unwritten, unsaid)."""
        from napari_cryopick.io.recovery import corrections_kept

        # (not of the file as it was before it changed)
        return [path.stem for path in self._folder_left_out() if corrections_kept(path)]

    def _closed_how(self, closed: set[str]) -> str:
        """What brings the picks of the ``closed`` micrographs back (:func:`_closed_text`);
        those of the folder under review come back from the review table, from their pick
        files (a folder trial was told to pick such a one again)."""
        state = session(self.viewer)
        # (those closed with the folder's pick file's picks: not a network's picks of a
        # file of that name, which the table would replace with the old pick file's)
        folder = (
            set(closed) & {path.stem for path in self.review._folder_files}
        ) & state.closed_file_picks
        rest = set(closed) - folder
        return " and ".join(
            [f"show {name_list(folder, 3)} in the review table"] * bool(folder)
            + [_closed_text(state, rest)] * bool(rest)
        )

    def _never_opened(self, said: set[str]) -> list[str]:
        """Of :meth:`_folder_left_out`, those not open now (open without a pick file
        too) nor named in ``said``: never opened in this session."""
        open_now = set(session_micrographs(self.viewer))
        return [
            path.stem
            for path in self._folder_left_out()
            if path.stem not in said and path.stem not in open_now
        ]

    def _flip_tiff(self, format: str) -> bool:
        """Whether files of ``format`` count TIFF micrographs' y from the last row: the box
        ticked, for the formats of the programs that read them so (STAR, BOX, CBOX)."""
        from napari_cryopick.io.pickfiles import TIFF_Y_FROM_LAST_ROW_FORMATS

        return self.tiff_y_check.isChecked() and format in TIFF_Y_FROM_LAST_ROW_FORMATS

    def _tiff_rows_note(self, names: set[str], format: str) -> str:
        """Which programs count y of the exported TIFF (JPEG) micrographs from the last row,
        as ``cryopick pick`` says (a convention review: unsaid in napari's export, whose
        files count y from the first row, as napari shows the image), and how the files
        were written."""
        open_paths = {
            micrograph_name(layer): layer_path(layer) for layer in micrograph_layers(self.viewer)
        }
        retained = session(self.viewer).retained_from  # (closed by the review, exported too)
        paths = [str(open_paths.get(name) or retained.get(name) or "") for name in names]
        # (the box as the export started: a review, it stays clickable meanwhile)
        return self._rows_note_of(paths, format, self._export_flip, self._export_ticked)

    def _rows_note_of(
        self, paths: list[str], format: str, flip: bool, ticked: bool, again: str = "export again"
    ) -> str:
        """:meth:`_tiff_rows_note` of the micrograph files ``paths`` written in ``format``,
        with TIFF y from the last row (``flip``) or not, the box ``ticked`` as the writing
        started; ``again``: how to write them otherwise (Pick folder…'s too: an
        evaluation trial's folder of JPEG micrographs went to CBOX unsaid, where Export
        said it)."""
        from napari_cryopick.io.micrographs import is_jpeg, is_tiff

        tiffs = [p for p in paths if is_tiff(p)]
        jpegs = [p for p in paths if is_jpeg(p)]
        box = "'TIFF y from the last row'"
        notes = []
        if flip and tiffs:
            notes.append(
                f"\nNote: {len(tiffs)} TIFF micrograph(s): y written from the image's last "
                f"row ({box}), as {'RELION' if format == 'star' else 'crYOLO and EMAN2'} "
                "read TIFF images; napari and Topaz count it from the first row"
            )
        elif ticked and tiffs:
            notes.append(
                f"\nNote: {len(tiffs)} TIFF micrograph(s): {format.upper()} files count y from "
                f"the first row, as napari and Topaz do ({box} applies to STAR, BOX and CBOX)"
            )
        elif format == "star" and tiffs:
            notes.append(
                f"\nNote: {len(tiffs)} TIFF micrograph(s): the STAR files count y from the "
                "image's first row, as napari shows it; RELION reads TIFF images bottom row "
                f"first: for RELION, tick {box} and {again}"
            )
        elif format in ("box", "cbox") and tiffs:
            notes.append(
                f"\nNote: {len(tiffs)} TIFF micrograph(s): the {format.upper()} files count y "
                "from the image's first row, as napari shows it; crYOLO, EMAN2 and "
                f"napari-boxmanager count it from the last row: for them, tick {box} and "
                f"{again}"
            )
        if format in ("box", "cbox") and jpegs:
            # said apart: the box is TIFF's only (a review: "tick it" read with it ticked)
            notes.append(
                f"\nNote: {len(jpegs)} JPEG micrograph(s): the {format.upper()} files count y "
                f"from the image's first row; crYOLO counts it from the last row ({box} is "
                "for TIFF images only): for crYOLO, pick them with 'cryopick pick --flip-y'"
            )
        return "".join(notes)

    def _earlier_model_note(self, table: pd.DataFrame, earlier: list[str]) -> str:
        """Export's warning of picks another model made than the one Pick picks with: it
        names that model where known, and sends to 'Pick all open' only when this model
        detects their kinds (a GUI trial, told to re-pick ribosome picks with a vesicle
        model, lost them to it)."""
        stored = session(self.viewer).pick_results
        listed = ", ".join(earlier[:3]) + (", …" if len(earlier) > 3 else "")
        files = {stored[n].model_file for n in earlier if n in stored}
        made = " and ".join(sorted(Path(f).name for f in files if f))
        if files == {self.model_file()}:  # that file, trained again since
            by = "an earlier version of the model"
        elif made and None not in files:
            by = f"another model ({made})"
        else:
            by = "another model"
        rows = table[table["micrograph"].astype(str).isin(earlier) & table["score"].notna()]
        kinds = set(rows["kind"].astype(str)) - {"negative"}
        if kinds <= set(self._model_kinds()):
            advice = "'Pick all open' re-picks them with the one loaded"
        else:
            advice = (
                f"the one loaded detects no {', '.join(sorted(kinds))}s: load theirs to "
                "re-pick them"
            )
        return (
            f"\nWarning: the picks of {len(earlier)} of these micrograph(s) ({listed}) were "
            f"made by {by} than the one Pick picks with now: {advice}"
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
        items = self._checked_export_items(table, format, folder)
        if items is None:
            return []
        inputs: dict[Path, Path] = {}
        try:
            written = drive(
                _exporting(items, folder, format, self._cancel, self._flip_tiff(format), inputs)
            )
        except (ValueError, OSError) as exc:
            self.status.setText(f"Export failed: {exc}")
            return []
        self._exported(table, written, folder, format, inputs)
        return self.last_exported

    def _opened_files(self, micrograph: str | None = None) -> list[str]:
        """The layers of pick files opened with File > Open (of ``micrograph``, or of any)."""
        from napari_cryopick.layers.results import SOURCE_KEY

        return [
            layer.name
            for layer in self.viewer.layers
            if layer.metadata.get(SOURCE_KEY)
            and micrograph in (None, layer.metadata.get("micrograph"))
        ]

    def _no_picks_to_label(self, name: str) -> str:
        """Why Use as training labels adds nothing to ``name``: no picks of Pick's."""
        opened = self._opened_files(name)
        text = f"No picks on {name} to use as training labels: pick it first"
        if opened:
            text += (
                f". Files opened with File > Open ({name_list(opened, 2)}) are shown, not "
                "Pick's picks: read them with Load picks… (a folder of pick files) to "
                "review and use them"
            )
        return text + "."

    def _labels_diameter(self, mlayer: Any, particles: pd.DataFrame) -> float | None:
        """The diameter picks become labels at: the micrograph's (Annotate's), else the one
        it was picked at, else the picks' own (a loaded file's: a trial's 56 px CBOX picks
        became 100 px labels, the widget's diameter, and the micrograph's); None: none
        known (a RELION file's picks: a re-trial's became labels at the widget's 100 px,
        unsaid)."""
        known = micrograph_diameter(mlayer)
        if known is not None:
            return known
        stored = session(self.viewer).pick_results.get(micrograph_name(mlayer))
        if stored is not None and stored.picked_diameter_px:  # picked here: at that one
            return float(stored.picked_diameter_px)
        diameters = pd.to_numeric(particles["diameter"], errors="coerce").to_numpy(float)
        diameters = diameters[np.isfinite(diameters) & (diameters > 0)]
        return float(np.median(diameters)) if len(diameters) else None

    def _new_labels(
        self,
        mlayer: Any,
        particles: pd.DataFrame,
        vesicles: pd.DataFrame,
        fibers: pd.DataFrame,
        diameter: float,
    ) -> tuple[int, int, int]:
        """How many shown picks, circles and paths the press would add as labels: those
        not labels already, by the merges' own rules (a review: a second press after
        deleting 3 false picks, every other pick a label already, was asked about all)."""
        from .annotate import merge_fiber_labels, merge_particle_labels, merge_vesicle_labels

        known = fibers["diameter"].notna() if "diameter" in fibers else pd.Series(dtype=bool)
        width = float(fibers.loc[known, "diameter"].median()) if known.any() else diameter
        return (
            merge_particle_labels(self.viewer, mlayer, particles, diameter)[1]
            if len(particles)
            else 0,
            merge_vesicle_labels(self.viewer, mlayer, vesicles)[1] if len(vesicles) else 0,
            merge_fiber_labels(self.viewer, mlayer, fibers, width)[1] if len(fibers) else 0,
        )

    def _labels_confirmed(
        self,
        name: str,
        new: tuple[int, int, int],
        shown: int,
        partial: tuple[int, float, float] | None,
    ) -> bool | str:
        """Whether the user goes on to make the ``new`` (picks, circles, paths) of ``name``
        labels (True), only the corrections (:data:`CORRECTIONS_ONLY`), or none (False):
        asked when it is not marked Reviewed (a GUI trial deleted 3 false picks of
        the 960 shown at the model's threshold, a third of them false, pressed the button
        as the loop says, and retrained a worse model: AP 0.821 -> 0.789 on a micrograph it
        never clicked on; the note saying so came after the press), and when the ``shown``
        picks are a part of the model's (``partial``, :meth:`_partial_labels`; a re-trial
        then raised the threshold to 0.40, labelled the 82 right picks shown, and
        retrained: 0.828 -> 0.731). Nothing new to label: not asked."""
        reviewed = name in session(self.viewer).reviewed
        parts = [
            counted(n, noun)
            for n, noun in zip(new, ("picks", "circles", "paths"), strict=True)
            if n
        ]
        if not parts or (reviewed and partial is None):
            return True
        what = and_list(parts)
        said = []
        if not reviewed:
            said.append(
                f"{name} is not marked Reviewed: with Yes, the {what} shown that are not "
                "labels yet all become training labels, the false ones too, and a model "
                "retrained on false labels picks worse."
            )
        lower = ""
        if partial is not None:
            picked, at, own = partial
            said.append(
                f"The {counted(shown, 'picks')} shown at threshold {threshold_text(at)} "
                f"are a part of the {picked} the model picks at its threshold "
                f"{threshold_text(own)}: the particles among the others stay unlabelled beside "
                "labelled ones, and a model retrained on these labels learns to score them low "
                "and picks fewer."
            )
            lower = f"lower the threshold to {threshold_text(own)}, "
        return self.confirm_labels(
            " ".join(said) + "\n\nUse them all as labels now (Yes)? Or only your corrections "
            "(Corrections only: the picks you added or moved become labels, the ones you "
            "deleted negatives, the others stay unlabelled)? (No: nothing changes; to label "
            f"them all, {lower}delete the false ones, select and Delete, and tick Reviewed "
            "when every shown one is right.)"
        )

    def confirm_labels(self, question: str) -> bool | str:
        """Ask whether the shown picks become labels (:func:`ask_labels`). Tests replace it."""
        return ask_labels(self, question)

    def _partial_labels(
        self, name: str, candidates: Any, shown: int
    ) -> tuple[int, float, float] | None:
        """``(picked, at, own)`` when the ``shown`` picks are shown at threshold ``at`` well
        above the model's own, ``own``, and are far fewer than the ``picked`` there: the
        particles not shown would stay unlabelled beside labelled ones, and a model trained
        on them learns to score them low (a GUI trial labelled the 51 picks shown at 0.50 of
        the 733 at the model's 0.06: the retrained model picked far fewer particles at its
        threshold)."""
        if not shown or candidates is None or not len(candidates) or "score" not in candidates:
            return None
        state = session(self.viewer)
        stored = state.pick_results.get(name)
        if name in state.earlier_model and stored is not None:
            own = float(stored.threshold)  # an earlier model's picks: the one it picked at
        else:
            own = self._head_threshold(self._own_head_of(name) or self.head())
        if own is None:
            own = default_pick_config().threshold
        at = float(self._threshold_for(name))
        scores = candidates["score"].to_numpy(float)
        picked = int(np.sum(scores >= own))
        if at < own + 0.05 or picked < 1.5 * max(shown, 1):
            return None
        return picked, at, own

    @staticmethod
    def _partial_labels_note(shown: int, partial: tuple[int, float, float] | None) -> str:
        """The status line's note, after the press, of the ``shown`` picks made labels and
        :meth:`_partial_labels`'s ``partial`` of them (None: nothing to say)."""
        if partial is None:
            return ""
        picked, at, own = partial
        return (
            f" Note: the {shown} picks shown at threshold {threshold_text(at)} are a part of "
            f"the {picked} the model picks at its threshold {threshold_text(own)}: the "
            "particles among the others stay unlabelled beside labelled ones, and a model "
            "trained on these labels learns to score them low (and picks fewer); to label "
            f"every particle, lower the threshold to {threshold_text(own)}, delete the false "
            "picks and use them as labels again."
        )

    def _labelled_shapes(
        self, mlayer: Any, stored: Any, vesicles: pd.DataFrame, fibers: pd.DataFrame
    ) -> Any:
        """The circles and paths whose copies are ``mlayer``'s labels after a press: those
        shown that became (or were) labels, and those of the press before that still are
        (hidden now by the threshold, say: their labels follow them when shown again)."""
        from .annotate import current_labels

        earlier = {k: _record_table(stored.labelled_shapes, k) for k in SHAPE_CODES}
        tables = []
        for kind, shown in (("vesicle", vesicles), ("fiber", fibers)):
            labels = current_labels(self.viewer, mlayer, kind)
            tables += [labelled_now(shown, labels, kind), labelled_now(earlier[kind], labels, kind)]
        return shapes_record(*tables)

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
            self.status.setText(no_micrograph_text(self.viewer))
            return None
        name = micrograph_name(mlayer)
        picks = result_picks(self.viewer, name)
        if name not in session(self.viewer).pick_results and not len(picks):
            # nothing Pick picked or loaded: say so, write no empty sidecar (a trial opened
            # a STAR with File > Open and read "0 particle labels (0 added ...)")
            self.status.setText(self._no_picks_to_label(name))
            return None
        vesicles = picks[picks["kind"] == "vesicle"]
        fibers = picks[picks["kind"] == "fiber"]
        particle_picks = picks[picks["kind"] == "particle"]
        diameter = self._labels_diameter(mlayer, particle_picks)
        if diameter is None and len(particle_picks):
            self.status.setText(
                f"The picks of {name} hold no diameter (a RELION file, say): set the particle "
                "diameter of the micrograph in Annotate first, then use them as training "
                "labels."
            )
            return None
        if diameter is None:  # vesicles or fibers only: their own sizes (the widget's unused)
            diameter = float(self.diameter_spin.value())
        state = session(self.viewer)
        current = _current_picks(self.viewer, name)
        new = self._new_labels(mlayer, particle_picks, vesicles, fibers, diameter)
        partial = self._partial_labels(name, current, len(particle_picks))
        asked = partial if new[0] else None  # (no new pick labels: nothing partial to ask)
        answer = self._labels_confirmed(name, new, len(particle_picks), asked)
        shapes_shown = bool(len(vesicles) or len(fibers))  # (a shapes result, filtered or not)
        if answer == CORRECTIONS_ONLY:
            # the picks the user added or moved, the circles and paths drawn or changed (no
            # score once stored), and the deletions: a GUI trial could not review 950 picks,
            # made them all labels, and retrained on a third of them false (more false picks)
            _store_shape_edits(self.viewer, name)
            stored = state.pick_results.get(name)
            if stored is not None and stored.file_picks:
                # a pick file's picks hold no score: the user's are those off its positions
                # (a review: every loaded pick became a label)
                own = moved_picks(self.viewer, name, picks, scored=False)
            else:
                own = picks["score"].isna().to_numpy() | moved_picks(self.viewer, name, picks)
            particle_picks = particle_picks[own[(picks["kind"] == "particle").to_numpy()]]
            shapes = stored.picks if stored is not None else picks.iloc[:0]
            # (a pick file's circles and paths hold no score either, and which of them the
            # user changed is not kept: none is taken, rather than every one)
            file_shapes = stored is not None and stored.file_picks
            shapes = shapes.iloc[:0] if file_shapes else shapes[shapes["score"].isna()]
            vesicles = shapes[shapes["kind"] == "vesicle"]
            fibers = shapes[shapes["kind"] == "fiber"]
            picks = pd.concat([particle_picks, vesicles, fibers], ignore_index=True)
            partial = None
        if not answer:
            lower = f"lower the threshold to {threshold_text(asked[2])}, " if asked else ""
            self.status.setText(
                f"Nothing changed on {name}: its shown picks were not made labels. To label "
                f"them, {lower}delete the false ones (select, Delete) and tick Reviewed when "
                "every shown one is right, then press Use as training labels again."
            )
            return None
        texts, saved, unreviewed = [], None, ""
        became: list[tuple[str, str]] = []  # (what was shown, the kind of label it became)
        # a vesicle or fiber model's result without particle picks adds no particle labels
        if (current is not None and len(current)) or not shapes_shown:
            particles = picks[picks["kind"] == "particle"]
            if micrograph_diameter(mlayer) is None:  # the labels' diameter: Annotate shows it
                set_micrograph_settings(self.viewer, mlayer, diameter_px=diameter)
            gone = deleted_picks(self.viewer, name, diameter)
            table, added, dropped = merge_particle_labels(
                self.viewer, mlayer, particles, diameter, deleted=gone
            )
            negatives, junk = merge_negative_labels(self.viewer, mlayer, gone, table, diameter)
            # a pick the user added or moved (no score) onto a negative: the newer word
            # wins, the negative goes (a napari trial's label and negative 0.35 px apart,
            # one spot trained both ways, unsaid); within a quarter diameter, the rule
            # training holds for a label beside a negative. Not the network's picks (a
            # review: "Yes" on every shown pick removed a negative clicked beside one)
            from napari_cryopick.core.pick_table import far_from
            from napari_cryopick.workflows.inputs import NEGATIVE_ON_PICK

            own = particles[particles["score"].isna()]
            undone = 0
            if len(own) and len(negatives):
                kept = far_from(negatives, own, NEGATIVE_ON_PICK * float(diameter))
                undone = len(negatives) - len(kept)
                negatives = kept.reset_index(drop=True)
            if junk or undone:  # the picks the user deleted are junk: negatives to train on
                replace_annotations(self.viewer, mlayer, negatives, "negative")
            saved = replace_annotations(self.viewer, mlayer, table, "particle")
            deleted = f", {counted(junk, 'deleted picks')} as negatives" if junk else ""
            if undone:
                deleted += f", {counted(undone, 'earlier negatives')} under them removed"
            if dropped:  # (an earlier press made labels of them)
                deleted += f", {counted(dropped, 'earlier labels')} of deleted picks removed"
            source = "your corrections" if answer == CORRECTIONS_ONLY else "the picks"
            texts.append(
                f"{counted(len(table), 'particle labels')} ({added} added from {source}"
                f"{deleted}, your clicks unchanged)"
            )
            if added:
                became.append(("pick", "particle"))
        _store_shape_edits(self.viewer, name)  # circles and paths deleted since
        stored = state.pick_results.get(name)
        gone = stored.deleted_shapes if stored is not None else ()
        # (with nothing of a kind shown, its labels change only where deletions drop some;
        # labels copying circles and paths edited since an earlier press follow them)
        shown_at = _threshold_of(self.viewer, stored, None, name)
        follow = {k: labels_to_update(stored, k, shown_at) if stored else None for k in SHAPE_CODES}
        # the vesicle labels this press leaves (read once: the negatives below need them)
        table, added, dropped, updated = merge_vesicle_labels(
            self.viewer, mlayer, vesicles, deleted=gone, updates=follow["vesicle"]
        )
        if gone:  # the network's circles and paths the user deleted are junk too
            spots = spots_table(gone)
            # ... except where a vesicle label the press keeps lies (centred within a
            # quarter of its diameter: that vesicle; an earlier press's copy of a deleted
            # circle goes): a negative there was dropped by training and hid the vesicle
            # from picking, unsaid (a vesicle trial)
            spots, on_labels = _off_vesicle_labels(spots, table[table["kind"] == "vesicle"])
            if on_labels:
                texts.append(
                    f"{counted(on_labels, 'deleted circles')} on vesicle labels made no "
                    "negatives (delete the label in the vesicle layer if it is no vesicle)"
                )
            negatives, junk = merge_negative_labels(
                self.viewer,
                mlayer,
                spots,
                current_labels(self.viewer, mlayer, "particle"),
                diameter,
            )
            if junk:
                saved = replace_annotations(self.viewer, mlayer, negatives, "negative")
                # ("1 deleted circles or paths", a trial)
                texts.append(
                    f"{junk} deleted {'circles or paths' if junk != 1 else 'circle or path'} "
                    "as negatives"
                )
        if len(vesicles) or dropped or updated:
            saved = replace_annotations(self.viewer, mlayer, table, "vesicle")
            texts.append(
                f"{counted(len(table), 'vesicle labels')} ({added} added from the circles"
                f"{_earlier_labels_text(dropped, updated, 'circles', 'resized or moved')})"
            )
            texts += _apart_from_labels(vesicles, table, "vesicle", mlayer.name)
            if added:
                became.append(("circle", "vesicle"))
        known = fibers["diameter"].notna()
        width = float(fibers.loc[known, "diameter"].median()) if known.any() else diameter
        table, added, dropped, updated = merge_fiber_labels(
            self.viewer, mlayer, fibers, width, deleted=gone, updates=follow["fiber"]
        )
        if len(fibers) or dropped or updated:
            if len(fibers) and micrograph_diameter(mlayer) is None:
                # the width training densifies paths at
                set_micrograph_settings(self.viewer, mlayer, diameter_px=width)
            saved = replace_annotations(self.viewer, mlayer, table, "fiber")
            count = int(table["tube_id"].nunique()) if len(table) else 0
            texts.append(
                f"{counted(count, 'fiber labels')} ({added} added from the traced fibers"
                f"{_earlier_labels_text(dropped, updated, 'paths', 'reshaped')})"
            )
            texts += _apart_from_labels(fibers, table, "fiber", mlayer.name)
            if added:
                became.append(("path", "fiber"))
        if became and name not in state.reviewed and answer != CORRECTIONS_ONLY:
            # a trial pressed it on 723 shown picks, 340 of them false: all labels now (and a
            # vesicle trial's 23 false circles of 64, said nothing of: only picks were)
            shown = and_list(what for what, _kind in became)
            layers = ", ".join(f"'{mlayer.name} {kind}'" for _what, kind in became)
            unreviewed = (
                f" Note: {name} is not marked Reviewed: every shown {shown} became a label; delete "
                f"the false ones in the {layers} layer{'s' if len(became) > 1 else ''} (they "
                "are not picks any more)."
            )
        if ("pick", "particle") in became:  # (picks added as labels: were they all?)
            unreviewed += self._partial_labels_note(len(particle_picks), partial)
        if name in state.pick_results:
            # saved as labels: the corrections are safe, a training preview may redraw
            # the micrograph, and later deletions and circle edits count from here; a
            # moved pick is the user's now, as one added by hand (kept by a re-pick)
            labels = current_labels(self.viewer, mlayer, "particle")
            if own_moved_picks(self.viewer, name, labels):
                current = _current_picks(self.viewer, name)
            _store_shape_edits(self.viewer, name)
            stored = state.pick_results[name]
            original = (
                tracked_positions(stored, current) if current is not None else stored.original
            )
            state.pick_results[name] = replace(
                stored,
                original=original,
                edited=frozenset(),
                deleted_shapes=(),
                labelled_shapes=self._labelled_shapes(mlayer, stored, vesicles, fibers),
            )
            # the deleted picks are negatives now: Undo delete would make them labels too
            state.deleted_picks.pop(name, None)
            if name == state.displayed:  # the corrections kept on disk follow at once
                autosave_corrections(self.viewer)
        if saved is not None:  # (a closed micrograph's labels: Train says when it leaves them)
            state.labelled_in_session[name] = saved
        self.status.setText(f"Training labels on {name}: {'; '.join(texts)}.{unreviewed}")
        return saved
