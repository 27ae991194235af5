"""Shared helpers of the widgets: the session model, layer updates, micrograph layers.

The widgets of one viewer never reach into each other's controls. They share
two things: the viewer's layers (annotations, picks, micrographs with their
measured diameter in the metadata) and a small :class:`SessionState` per
viewer: the current model (with the head and threshold it suggests) and the
pick results, with signals the widgets listen to.

napari gives plugin widgets a ``PublicOnlyProxy`` of the viewer and of every
layer read through it; the helpers here work with proxies and real objects
alike (types are read through ``__class__``, the session is keyed by the
viewer behind the proxy).
"""

from __future__ import annotations

import contextlib
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from napari_cryopick.layers.points import DATASET_KEY, DIAMETER_KEY, OPENING_KEY
from napari_cryopick.layers.results import ROLE_KEY, SHOWS_KEY

_MICROGRAPH_SUFFIXES = (".mrcs", ".mrc", ".tiff", ".tif", ".png", ".jpeg", ".jpg")
BUNDLED_ORIGIN = "bundled general model"
TRAINED_ORIGIN = "trained in this session"
#: The diameter shown (and drawn) for a micrograph nobody gave one (pixels).
DEFAULT_DIAMETER = 100.0


class SessionState:
    """What the widgets of one viewer share (no widget references).

    Attributes
    ----------
    model
        The in-memory Detector the Pick widget uses (None: the bundled one).
    model_path
        Where it was saved (None: not saved).
    model_metadata
        Its checkpoint metadata (exemplar bank, data sets, diameters).
    model_origin
        How the model came (shown by the widgets).
    head
        Head the model's producer suggests picking with ("" : keep the choice).
    threshold
        Threshold suggested with the model (None: keep the slider).
    display_threshold
        The threshold picks are shown at now (the Pick slider's).
    display_diameter
        ``(min, max)`` diameter in pixels of the picks shown now (None: no bound).
    pick_results
        Micrograph name -> ``ShownResult`` of the last picking (every candidate; the
        user's corrections of the displayed micrograph are stored here when the
        result layers show another one).
    displayed
        The micrograph the shared result layers show (None: none).
    following
        Whether the result layers follow the micrograph the user works on yet.
    retained
        Micrographs the review closed whose picks (corrected) stay in ``pick_results``.
    retained_from
        The file each retained micrograph was opened from (None: not a file): another
        folder's micrograph of the same name is not shown its picks.
    reviewed
        Names of the micrographs the user marked as reviewed.
    bundled
        The bundled general model and its metadata, loaded once.
    typed_diameter
        The particle diameter the user typed or measured last (pixels; None:
        none yet): a micrograph shown without a diameter of its own, and with
        no open micrograph of its data set that has one, takes it, when it is
        of the data set it was typed for (``typed_diameter_dataset``).
    typed_dataset
        The data-set name the user typed last (None: none yet): a micrograph
        shown without a data-set name takes it.
    typed_on
        ``{"dataset": file, "diameter": file}``: the micrograph each was typed or
        measured on (None: not a file): a micrograph of another folder that takes
        them is warned about, even once that micrograph is closed.
    """

    #: ``(model, path)``: a new current model (after training or loading).
    model_changed = Signal(object, object)
    #: A threshold chosen elsewhere (Evaluate's best F1/F2): Pick applies it.
    threshold_requested = Signal(float)
    #: The micrograph whose pick results changed (picked again or closed).
    picks_changed = Signal(str)
    #: A micrograph closed with corrections was opened again and they came back (its name).
    corrections_restored = Signal(str)
    #: A micrograph was brought to the front (``show_only_micrograph``).
    micrograph_shown = Signal(str)
    #: The particle diameter or data-set name of a micrograph changed (its name).
    settings_changed = Signal(str)
    #: The annotations of a micrograph were edited (its name; after Annotate's quiet
    #: period): the Train widget's training set follows.
    annotations_changed = Signal(str)

    def __init__(self) -> None:
        self.model: Any = None
        self.model_path: Path | None = None
        self.model_metadata: dict = {}
        self.model_origin: str = ""
        self.head: str = ""
        self.threshold: float | None = None
        self.display_threshold: float | None = None
        #: With the Pick widget's head "each data set's own": each picked micrograph's
        #: threshold, its data set's head's (as cryopick pick picks it); the others show
        #: at ``display_threshold``. A trial's export applied the threshold of the
        #: micrograph on screen (apoferritin's) to every micrograph (185 picks became 113).
        self.micrograph_thresholds: dict[str, float] = {}
        self.display_diameter: tuple[float | None, float | None] = (None, None)
        self.pick_results: dict[str, Any] = {}
        #: Micrographs closed with corrections not used as training labels (their
        #: results left the session with them): the Pick widget says so once.
        self.discarded_corrections: set[str] = set()
        #: Micrographs closed with picks but no corrections (their picks left with them):
        #: the review says so once (a GUI trial's reviewed micrograph lost them unsaid).
        self.dropped_picks: set[str] = set()
        #: Of those, the ones whose picks held picks added by hand, all used as training
        #: labels: said apart (a GUI trial read "no corrections" and missed its own picks).
        self.labelled_picks: set[str] = set()
        #: Results of micrographs closed with corrections, by name: ``(path, result,
        #: model)``. Opening the same file again brings them back (a trial closed a
        #: micrograph by mistake and lost its deletions); the viewer closing ends them.
        self.closed_corrections: dict[str, tuple[Path | None, Any, Any]] = {}
        #: Micrographs whose corrections came back that the Pick widget has not said yet
        #: (opened before it was docked).
        self.restored_unsaid: set[str] = set()
        #: Micrographs whose corrections came back from disk (an earlier napari session):
        #: said as such, whichever widget was docked first.
        self.restored_from_disk: set[str] = set()
        #: Micrographs closed with a result (it left the session with them): Export says
        #: it does not write them (a trial's closed micrograph was left out unsaid).
        self.closed_picked: set[str] = set()
        #: Of those, the ones closed with a pick file's picks (Load picks…, Review
        #: folder…): their Reviewed tick stays, the flag being the file's, and the review
        #: table brings their picks back (a folder trial's closed one lost its tick).
        self.closed_file_picks: set[str] = set()
        #: Micrographs whose results a model made before the current one (the model
        #: changed since: training, loading): exporting them says so (a trial retrained,
        #: re-picked the micrograph on screen and exported three: two of the old model).
        self.earlier_model: set[str] = set()
        #: ``earlier_model`` as it was just before the last model change: whose picks were
        #: an earlier model's already (the Pick widget keeps their thresholds) and whose were
        #: the model replaced (shown at that model's thresholds until now).
        self.earlier_before: set[str] = set()
        #: Size (rows, columns, in world units) of the micrograph last shown alone.
        self.shown_extent: tuple[float, ...] | None = None
        self.displayed: str | None = None
        self.following = False
        #: True while :func:`show_only_micrograph` sets layers' visibility (not the user).
        self.showing_only = False
        #: Qt single-shot timer of the corrections' autosave (:mod:`.result_layers`).
        self.autosave_timer: Any = None
        #: Micrographs edited since the autosave last wrote their corrections: saved when
        #: the timer fires, when another micrograph is shown and when the window closes.
        self.unsaved: set[str] = set()
        #: The review table is closing one micrograph to open the next: the shared result
        #: layers stay while none is open (they are kept for the next one).
        self.replacing = False
        self.retained: set[str] = set()
        self.retained_from: dict[str, Path | None] = {}
        #: ``(shape, pixel size)`` of each retained micrograph, as its layer had them: an
        #: export writes its files as an open one's (TIFF y from the last row, helical STAR)
        self.retained_image: dict[str, tuple[tuple[int, ...], float | None]] = {}
        self.reviewed: set[str] = set()
        #: Micrographs whose Reviewed flag a new result of other picks took away
        #: (:func:`~.result_layers.showing_pick_result`), until the Pick widget says so.
        self.reviewed_dropped: set[str] = set()
        #: The same, for the review panel to take out of its folder's record (once).
        self.unmark_in_folder: set[str] = set()
        #: Micrographs *Use as training labels* saved labels of in this session, and the
        #: file saved: Train names those closed since that it does not train on.
        self.labelled_in_session: dict[str, Any] = {}
        #: Picks the user deleted, per micrograph, one table per deletion (newest last),
        #: for :func:`~.result_layers.undo_deletion`; a new result of it empties its list.
        self.deleted_picks: dict[str, list[Any]] = {}
        self.bundled: tuple[Any, dict] | None = None
        self.typed_diameter: float | None = None
        self.typed_diameter_dataset: str = ""  # the data set of the micrograph it was typed on
        self.typed_diameter_pixel_size: float | None = None  # that micrograph's (Å/px)
        self.typed_dataset: str | None = None
        self.typed_on: dict[str, Path | None] = {}
        #: Why micrographs opened again were closed (:func:`guard_one_layer_per_micrograph`).
        self.refused: list[str] = []

    def set_model(
        self,
        model: Any,
        path: Path | None = None,
        metadata: dict | None = None,
        origin: str = TRAINED_ORIGIN,
        *,
        head: str = "",
        threshold: float | None = None,
        its_own: str = "",
    ) -> None:
        """Make ``model`` the session's current model and tell the listeners.

        ``head`` and ``threshold`` are suggestions for picking with it (the
        head just trained, a threshold at which its picks show). ``its_own``: a
        micrograph whose result this model made (a training's final preview), not
        an earlier model's.
        """
        if model is not self.model:
            self.earlier_before = set(self.earlier_model)
            self.earlier_model = {
                name
                for name, result in self.pick_results.items()
                if result.picks["score"].notna().any()  # a network's (a file's has none)
                # (before the listeners: a GUI trial's Pick said its training's preview was
                # "picked by an earlier model" at 0.15 until the next refresh)
                and name != its_own
            }
        self.model = model
        self.model_path = None if path is None else Path(path)
        self.model_metadata = dict(metadata or {})
        self.model_origin = origin
        self.head = head
        self.threshold = threshold
        self.model_changed.emit(model, self.model_path)


def adopt_model_file(viewer: Any, model: Any, path: Path, metadata: dict, origin: str) -> None:
    """Make a model read from ``path`` the session's model (Pick picks with it, Train adapts
    it, its bank is shown there), with the head its last training trained and the
    threshold that training calibrated, as ``cryopick pick`` picks with a model file."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import model_threshold, trained_head

    card = ModelCard.of_model(model, metadata)
    session(viewer).set_model(
        model,
        path,
        metadata,
        origin=origin,
        head=trained_head(card, tuple(model.head_names)) or "",
        threshold=model_threshold(card),
    )


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: The Pick widget's Head box entry for HydraPicker's choice: each micrograph with its
#: data set's head (``PickRequest.head`` None); a session's head after a Joint training.
OWN_HEADS = "each data set's own"

#: The Pick widget's threshold slider counts thousandths.
SLIDER_STEPS = 1000


def on_slider_step(threshold: float) -> float:
    """``threshold`` on the Pick slider's step, as the slider shows it (the thousandth it
    is written with: 0.0645 is 0.065)."""
    return round(float(f"{float(threshold):.3f}") * SLIDER_STEPS) / SLIDER_STEPS


def threshold_text(threshold: float) -> str:
    """``0.15`` as "0.15", ``0.106`` (a calibrated threshold) as "0.106"."""
    short = f"{threshold:.2f}"
    return short if abs(float(short) - threshold) < 5e-4 else f"{threshold:.3f}"


def background(job: Callable[..., Any], *args: Any) -> Any:
    """A napari worker running ``job(*args)``, not started; the caller connects its
    signals, ``errored`` included, and starts it.

    Without ``_ignore_errors`` superqt also connects a handler that raises the
    worker's error again in the GUI thread: a trial's failed training (a model
    path it could not write) showed its status line and, besides it, a traceback
    notification with every local array; outside ``napari.run()`` PyQt aborted
    the process.
    """
    from napari.qt.threading import create_worker

    return create_worker(_no_runtime_errors(job), *args, _start_thread=False, _ignore_errors=True)


class JobFailed(Exception):
    """A background job's ``RuntimeError``, passed on as itself (same message)."""


def _no_runtime_errors(job: Callable[..., Any]) -> Callable[..., Any]:
    """``job`` whose ``RuntimeError`` (CUDA out of memory, most of torch's errors) is raised
    as :class:`JobFailed`: superqt takes a worker's RuntimeError for a deleted Qt object
    and emits neither ``errored`` nor ``finished``, so the widget waited forever, its
    buttons disabled (a failing training in a test hung at "Training…")."""
    import functools
    import inspect

    if inspect.isgeneratorfunction(job):

        @functools.wraps(job)
        def steps(*args: Any) -> Any:
            try:
                return (yield from job(*args))
            except RuntimeError as exc:
                raise JobFailed(str(exc)) from exc

        return steps

    @functools.wraps(job)
    def call(*args: Any) -> Any:
        try:
            return job(*args)
        except RuntimeError as exc:
            raise JobFailed(str(exc)) from exc

    return call


def call_on_window_close(viewer: Any, callback: Callable[[], None]) -> None:
    """Call ``callback`` when napari's main window is asked to close (its X, Ctrl+W,
    quitting), before anything closes: closing the window removes no layer, so savers
    that wait for a timer or a removal never run (a close the user then cancels has only
    saved early). Nothing without a Qt window (a headless viewer)."""
    from qtpy.QtCore import QEvent, QObject

    window = getattr(getattr(unproxy(viewer), "window", None), "_qt_window", None)
    if window is None:
        return

    class _CloseFilter(QObject):
        def eventFilter(self, watched: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Close:
                callback()
            return False

    close_filter = _CloseFilter(window)  # lives and dies with the window
    window.installEventFilter(close_filter)


#: Saves that failed, by what was saved: the message last shown (said once, not at each
#: autosave of the same failure; again once a save of it succeeded in between).
_FAILED_SAVES: dict[str, str] = {}


def say_save_failed(key: str, message: str) -> None:
    """Show ``message`` (a save of ``key`` failed) as a napari warning, once until it
    changes or a save of ``key`` succeeds (:func:`say_save_succeeded`).

    Failed autosaves were said only in a widget's status line, which the next
    message replaces, or not at all: a user works on for an hour believing their
    clicks and corrections are on disk.
    """
    if _FAILED_SAVES.get(key) == message:
        return
    _FAILED_SAVES[key] = message
    from napari.utils.notifications import show_warning

    show_warning(message)


def say_save_succeeded(key: str) -> None:
    """A save of ``key`` worked: its next failure is said again."""
    _FAILED_SAVES.pop(key, None)


def unproxy(obj: Any) -> Any:
    """The object behind napari's ``PublicOnlyProxy`` (``obj`` itself if not proxied)."""
    return getattr(obj, "__wrapped__", obj)


def session(viewer: Any) -> SessionState:
    """The shared state of the widgets docked in ``viewer`` (proxied or not)."""
    viewer = unproxy(viewer)
    state = _SESSIONS.get(viewer)
    if state is None:
        state = SessionState()
        _SESSIONS[viewer] = state
        guard_one_layer_per_micrograph(viewer)
    return state


def _same_micrograph_open(viewer: Any, layer: Any) -> Any | None:
    """The micrograph layer opened before ``layer`` under its micrograph name, if any:
    the one :func:`micrograph_layers` keeps for that name when it is not ``layer``."""
    name = micrograph_name(layer)
    kept = next((m for m in micrograph_layers(viewer) if micrograph_name(m) == name), None)
    return None if kept is None or unproxy(kept) is unproxy(layer) else kept


def _opening_mark(layer: Any) -> tuple[str, int] | None:
    """A layer's ``OPENING_KEY`` mark, ``(batch, layers still to come)``, if any."""
    return layer.metadata.get(OPENING_KEY) if hasattr(layer, "metadata") else None


def more_coming(viewer: Any, layer: Any) -> bool:
    """``layer`` is a micrograph of a folder napari is adding, and not its last.

    napari adds a folder's micrographs (:func:`napari_cryopick._reader.read_micrograph_folder`)
    one after another in one go, selecting each: the widgets follow the last one only.
    Following each in turn (an annotation layer each, every layer hidden and shown again,
    tables redone) froze napari for a minute on a trial's 50 micrographs. The marks are
    removed once the last one is in (:func:`guard_one_layer_per_micrograph`).
    """
    mark = _opening_mark(layer)
    if not mark or mark[1] == 0:
        return False
    return not any(_opening_mark(other) == (mark[0], 0) for other in unproxy(viewer).layers)


def _end_opening(viewer: Any, batch: str) -> None:
    """A folder's micrographs are all in: their marks go (:func:`more_coming`)."""
    for layer in list(viewer.layers):
        mark = _opening_mark(layer)
        if mark and mark[0] == batch:
            layer.metadata.pop(OPENING_KEY, None)


def guard_one_layer_per_micrograph(viewer: Any) -> None:
    """Once per viewer: a micrograph layer whose micrograph name is open already closes.

    Annotations, results and pick files go by micrograph name (the file stem).
    A trial opened ``a/061.png`` and ``b/061.png`` (and ``x.png`` beside
    ``x.mrc``): both shared one annotation layer and one sidecar, so clicks on
    one went to the other's file and trained on both. The same file opened
    twice took the settings typed on another micrograph and rewrote its
    saved clicks' diameters. So the layer opened second is closed on the next
    event-loop turn, the one open is selected, and a napari warning (also in
    ``SessionState.refused``) says why and what to do.
    """
    from qtpy.QtCore import QTimer

    real = unproxy(viewer)

    def refuse(layer: Any, before: Any = None) -> None:
        kept = _same_micrograph_open(real, layer)
        if kept is None or layer not in real.layers:
            return
        new, old = layer_path(layer), layer_path(kept)
        name = micrograph_name(layer)
        if same_file(new, old):
            message = f"{new} is open already (layer '{kept.name}'): not opened a second time."
        else:
            message = (
                f"A micrograph named '{name}' is open already ({old or kept.name}): "
                f"{new or layer.name} was closed. Annotations, results and pick files go by "
                "micrograph name: close the open one first, or rename one of the files."
            )
        real.layers.remove(layer)
        real.layers.selection.active = (
            before if before is not None and before in real.layers else kept
        )
        session(real).refused.append(message)
        from napari.utils.notifications import show_warning

        show_warning(message)

    def second(layer: Any) -> bool:
        # a file's layer: one made from another layer (napari's Duplicate Layer copies
        # the metadata, path included, and sets source.parent) or without a file is the
        # user's own image and stays (the widgets see the first only)
        derived = getattr(getattr(layer, "source", None), "parent", None) is not None
        return (
            is_micrograph_layer(layer)
            and not derived
            and layer_path(layer) is not None
            and _same_micrograph_open(real, layer) is not None
        )

    def on_inserted(event: Any) -> None:
        layer = event.value
        mark = _opening_mark(layer)
        if mark and mark[1] == 0:  # a folder's last: napari has added them all
            QTimer.singleShot(0, lambda: _end_opening(real, mark[0]))
        if second(layer):
            # napari selects the new layer after this event: the one selected before is
            # given back (an annotation layer in adding mode: the next click adds)
            before = real.layers.selection.active
            QTimer.singleShot(0, lambda: refuse(layer, before))  # after napari inserted it

    real.layers.events.inserted.connect(on_inserted)
    for layer in list(real.layers):  # opened before any widget docked
        if _opening_mark(layer):  # a folder's, all in by now
            layer.metadata.pop(OPENING_KEY, None)
        if second(layer):
            QTimer.singleShot(0, lambda layer=layer: refuse(layer))


def bundled_model(viewer: Any) -> tuple[Any, dict] | None:
    """The bundled general model and its metadata (loaded once per viewer; ~0.1 s).

    Returns ``None`` when the installation has no bundled weights.
    """
    state = session(viewer)
    if state.bundled is None:
        from napari_cryopick.core.model.bundled import load_bundled_model

        try:
            state.bundled = load_bundled_model()
        except (ValueError, OSError):
            return None
    return state.bundled


def base_model(viewer: Any) -> tuple[Any, dict, str]:
    """The model adaptation starts from: the session's model, else the bundled one.

    Returns
    -------
    model, metadata, origin
        ``(None, {}, "")`` when there is neither.
    """
    state = session(viewer)
    if state.model is not None:
        return state.model, state.model_metadata, state.model_origin or TRAINED_ORIGIN
    bundled = bundled_model(viewer)
    if bundled is None:
        return None, {}, ""
    return bundled[0], dict(bundled[1]), BUNDLED_ORIGIN


def update_or_add_layer(viewer: Any, layer_data: tuple) -> Any:
    """Add a ``LayerDataTuple`` to ``viewer``, or update the layer of the same name.

    Re-running a pick or a training preview then replaces the contents of its
    layers instead of stacking duplicates.

    Returns
    -------
    napari.layers.Layer
        The added or updated layer.
    """
    data, kwargs = layer_data[0], dict(layer_data[1]) if len(layer_data) > 1 else {}
    type_name = layer_data[2] if len(layer_data) > 2 else "image"
    kwargs = dict(kwargs)
    name = kwargs.get("name")
    existing = viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401 (LayerList has no .get)
    if existing is not None and layer_type(existing) == type_name:
        _update_layer(existing, data, kwargs)
        return existing
    if existing is not None:
        viewer.layers.remove(existing)
    return getattr(viewer, f"add_{type_name}")(data, **kwargs)


def layer_type(layer: Any) -> str:
    """``"image"``, ``"points"``, ``"shapes"``, ...

    Read through ``__class__``: ``type()`` of a layer napari hands a plugin is
    ``PublicOnlyProxy``, and napari's ``_type_string`` is private.
    """
    return layer.__class__.__name__.lower()


def _same(a: Any, b: Any) -> bool:
    """Whether setting ``b`` would change nothing (a per-point array equal to a scalar counts)."""
    try:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape == b.shape:
            return bool(np.array_equal(a, b))
        return bool(b.ndim == 0 and a.size and np.all(a == b))
    except (TypeError, ValueError):
        return False


def _update_layer(layer: Any, data: Any, kwargs: dict) -> None:
    """Replace a layer's data; touch other properties only where they change (each refreshes)."""
    kwargs.pop("name", None)
    kind = layer_type(layer)
    if kind == "shapes":
        shape_type = kwargs.pop("shape_type", "rectangle")
        features = kwargs.pop("features", None)
        edge_color = kwargs.pop("edge_color", None)
        layer.data = []
        if len(data):
            layer.add(data, shape_type=shape_type, edge_color=edge_color)
        if features is not None and (len(data) or len(layer.features)):
            # (emptied, napari kept the features of the shapes before: a trial's paths
            # layer of a micrograph not picked held another's 2 scores)
            layer.features = features
        if edge_color is not None and len(data) and not isinstance(edge_color, str):
            # per shape (by score), after the add's data events: their listener paints what
            # it reads as drawn by hand white (result_layers._mark_added_shapes)
            layer.edge_color = edge_color
    elif kind == "points":
        features = kwargs.pop("features", None)
        size = kwargs.pop("size", None)
        colours = {key: kwargs.pop(key, None) for key in ("face_color", "border_color")}
        shown = kwargs.pop("shown", None)
        with layer.events.blocker_all():
            layer.data = data
            if features is not None:
                layer.features = features
            if size is not None and len(data):
                layer.size = size
            for key, value in colours.items():
                if value is not None and len(data) and not isinstance(value, str):
                    setattr(layer, key, value)
            if shown is not None and len(shown) == len(data):
                layer.shown = shown  # in the one refresh below
        layer.refresh()
        layer.events.data(value=layer.data, action="changed", data_indices=(), vertex_indices=())
    else:
        layer.data = data
    for key, value in kwargs.items():
        if key in ("metadata", "feature_defaults", "symbol", "border_width_is_relative"):
            if key == "metadata":
                layer.metadata.update(value)
            continue
        if key == "colormap" and getattr(getattr(layer, key, None), "name", None) == value:
            continue  # the same colormap by name (setting it again redraws the layer)
        try:
            if not _same(getattr(layer, key), value):
                setattr(layer, key, value)
        except (AttributeError, TypeError, ValueError):
            pass  # construction-only keyword; the new data is what matters


def layer_path(layer: Any) -> Path | None:
    """The file a layer was read from (metadata ``path`` or napari's source)."""
    path = layer.metadata.get("path") if hasattr(layer, "metadata") else None
    if not path:
        path = getattr(getattr(layer, "source", None), "path", None)
    return Path(path) if path else None


def micrograph_name(layer: Any) -> str:
    """Name of the micrograph shown by an image layer (file stem, else layer name)."""
    name = layer.metadata.get("name") if hasattr(layer, "metadata") else None
    if name:
        return str(name)
    path = layer_path(layer)
    if path is not None:
        lower = path.name.lower()
        for suffix in _MICROGRAPH_SUFFIXES:
            if lower.endswith(suffix):
                return path.name[: -len(suffix)]
        return path.stem
    return str(layer.name)


def is_micrograph_layer(layer: Any) -> bool:
    """An image layer that is a micrograph (not a heatmap or other result)."""
    return (
        layer_type(layer) == "image"
        and layer.metadata.get(ROLE_KEY) != "heatmap"
        and getattr(layer, "ndim", 2) == 2
        and not getattr(layer, "rgb", False)
    )


def no_micrograph_reason(viewer: Any) -> str:
    """:func:`no_micrograph_text` when images are open but none is a micrograph (a 3D
    stack, colour), else "": what Annotate and Pick say as soon as such an image opens."""
    text = no_micrograph_text(viewer)
    return "" if text == OPEN_FIRST else text


#: What the widgets say with no image open at all.
OPEN_FIRST = "Open a micrograph first."


def no_micrograph_text(viewer: Any) -> str:
    """What to say when no micrograph layer is open: "Open a micrograph first.", and
    why the open images are not micrographs (a formats trial's RGB PNG, opened with
    napari's own reader, got "Open a micrograph first." beside it)."""
    images = [
        layer
        for layer in viewer.layers
        if layer_type(layer) == "image" and layer.metadata.get(ROLE_KEY) != "heatmap"
    ]
    if not images:
        return OPEN_FIRST
    return f"Open a micrograph first: {not_a_micrograph_text(images[0])}."


def not_a_micrograph_text(layer: Any) -> str:
    """Why an image layer is no micrograph (a 3D stack, colour), and how to open it as one."""
    why = "colour (RGB)" if getattr(layer, "rgb", False) else f"{getattr(layer, 'ndim', 2)}D"
    stacked = ""
    if getattr(layer, "ndim", 2) == 3 and not getattr(layer, "rgb", False):
        # a GUI trial's folder, opened with napari's own reader, became one 3D stack
        stacked = (
            "; a folder opened with napari's own reader is one stack: open it with "
            "File > Open Folder... and choose napari-cryopick, one layer per micrograph"
        )
    return (
        f"{layer.name!r} is a {why} image, not a 2D grey micrograph (open it with File > "
        "Open... and the napari-cryopick reader, which reads colour as grey; a movie needs "
        f"motion correction{stacked})"
    )


def micrograph_layers(viewer: Any) -> list[Any]:
    """Micrograph image layers of ``viewer``, bottom to top, one per micrograph name
    (the one opened first: a second one is closed, :func:`guard_one_layer_per_micrograph`)."""
    layers, names = [], set()
    for layer in viewer.layers:
        if is_micrograph_layer(layer):
            name = micrograph_name(layer)
            if name not in names:
                names.add(name)
                layers.append(layer)
    return layers


def session_micrographs(viewer: Any) -> set[str]:
    """Names of the micrographs whose results belong in the session: open or retained.

    A result arriving for any other micrograph (closed while it was being
    picked or trained on) is dropped, and closing one drops its results.
    """
    return {micrograph_name(layer) for layer in micrograph_layers(viewer)} | session(
        viewer
    ).retained


def same_file(first: Any, second: Any) -> bool:
    """Whether two paths (None: not a file) name one file: both given, equal once resolved."""
    return (
        first is not None and second is not None and Path(first).resolve() == Path(second).resolve()
    )


def micrograph_identity(layer: Any) -> tuple[Any, Path | None]:
    """What tells a micrograph layer apart from another file of its name: the layer
    itself (weakly) and its file. See :func:`still_the_micrograph`."""
    import weakref

    return weakref.ref(unproxy(layer)), layer_path(layer)


def still_the_micrograph(viewer: Any, name: str, identity: tuple[Any, Path | None]) -> bool:
    """Whether the micrograph of ``name`` in the session is still the one ``identity``
    (:func:`micrograph_identity`) was taken of: its layer, or its file (opened again, or
    kept by the review).

    Results are kept by micrograph name: a micrograph closed while a job worked on it
    and another file of that name opened got the first one's results.
    """
    ref, path = identity
    now = [m for m in micrograph_layers(viewer) if micrograph_name(m) == name]
    if now and unproxy(now[0]) is ref():
        return True
    here = layer_path(now[0]) if now else session(viewer).retained_from.get(name)
    return same_file(here, path)


def current_micrograph_layer(viewer: Any) -> Any | None:
    """The micrograph the user works on.

    The selected micrograph layer; else the micrograph of the selected layer
    (an annotation layer, a result layer: ``metadata["micrograph"]``); else the
    one the result layers show (``SessionState.displayed``); else the
    top-most visible micrograph layer, else the top-most one.
    """
    active = viewer.layers.selection.active
    layers = micrograph_layers(viewer)
    if active is not None and is_micrograph_layer(active):
        # a second layer of an open micrograph (closing on the next turn): the open one
        return next((m for m in layers if micrograph_name(m) == micrograph_name(active)), active)
    of = active.metadata.get("micrograph") if active is not None else None
    for name in (of, session(viewer).displayed):  # then the one the result layers show
        for layer in reversed(layers if name else ()):
            if micrograph_name(layer) == name:
                return layer
    visible = [layer for layer in layers if layer.visible]
    return (visible or layers)[-1] if layers else None


def micrograph_diameter(layer: Any) -> float | None:
    """The particle diameter recorded for a micrograph layer (pixels; None: none)."""
    value = layer.metadata.get(DIAMETER_KEY)
    return float(value) if value else None


def micrograph_dataset(layer: Any) -> str:
    """The data-set name recorded for a micrograph layer ("": none)."""
    return str(layer.metadata.get(DATASET_KEY) or "").strip()


def set_micrograph_settings(
    viewer: Any,
    micrograph_layer: Any,
    *,
    diameter_px: float | None = None,
    dataset: str | None = None,
    typed: bool = False,
) -> bool:
    """Record a micrograph's particle diameter and/or data-set name (None: leave it).

    The micrograph layer's metadata is the one owner of both; the widgets
    hear of a change through ``SessionState.settings_changed``. ``typed``:
    the user gave them, so micrographs shown later without their own take
    them (:func:`inherited_settings`). Returns whether anything changed.
    """
    state = session(viewer)
    changed = False
    dataset = dataset.strip() if dataset is not None else None
    for what, value in (("diameter", diameter_px), ("dataset", dataset)):
        if typed and value is not None:
            state.typed_on[what] = layer_path(micrograph_layer)
    if diameter_px is not None:
        diameter_px = float(diameter_px)
        if typed:
            state.typed_diameter = diameter_px
            state.typed_diameter_dataset = (
                dataset if dataset is not None else dataset_or_folder(micrograph_layer)
            )
            state.typed_diameter_pixel_size = micrograph_layer.metadata.get("pixel_size")
        if micrograph_diameter(micrograph_layer) != diameter_px:
            micrograph_layer.metadata[DIAMETER_KEY] = diameter_px
            changed = True
    if dataset is not None:
        if typed:
            state.typed_dataset = dataset
        if state.typed_on.get("diameter") == layer_path(micrograph_layer):
            # the diameter typed on this micrograph is its data set's, named now or renamed
            state.typed_diameter_dataset = dataset
        if micrograph_dataset(micrograph_layer) != dataset or DATASET_KEY not in (
            micrograph_layer.metadata
        ):
            micrograph_layer.metadata[DATASET_KEY] = dataset
            changed = True
    if changed:
        state.settings_changed.emit(micrograph_name(micrograph_layer))
    return changed


def inherited_settings(viewer: Any, micrograph_layer: Any) -> tuple[float | None, str | None]:
    """What a micrograph lacking a diameter or data-set name of its own takes: ``(diameter, dataset)``.

    A missing data-set name: that of the other open micrographs of its folder
    (one name among them: a folder is a data set, as ``cryopick train`` names
    them; a trial's held-out ribosome micrograph took 'bgal', typed last on
    β-gal micrographs of another folder, beside a ribosome micrograph of its
    own folder), else the one typed last in the session, else the one name
    every other open micrograph that has one shares (yesterday's annotated
    micrographs opened with new ones: a user trial). A missing
    diameter: that of the top-most other open micrograph of the same data set
    which has one, else the one typed last in the session. None where the
    micrograph has its own, or there is nothing to take.
    """
    state = session(viewer)
    others = [m for m in micrograph_layers(viewer) if unproxy(m) is not unproxy(micrograph_layer)]
    dataset = None
    if not micrograph_dataset(micrograph_layer):
        path = layer_path(micrograph_layer)
        folder_names = {
            micrograph_dataset(m)
            for m in others
            if path is not None
            and layer_path(m) is not None
            and Path(layer_path(m)).parent == Path(path).parent
        } - {""}
        if len(folder_names) == 1:
            dataset = folder_names.pop()
        elif state.typed_dataset:
            dataset = state.typed_dataset
        else:
            names = {micrograph_dataset(m) for m in others} - {""}
            dataset = names.pop() if len(names) == 1 else None
    diameter = None
    if micrograph_diameter(micrograph_layer) is None:
        own_set = dataset if dataset is not None else micrograph_dataset(micrograph_layer)
        # an unnamed micrograph's data set is its folder's, as training names it (a trial's
        # unnamed vesicle micrograph took the 24 px typed on an unnamed fiber micrograph
        # of another folder)
        own_or_folder = own_set or dataset_or_folder(micrograph_layer)
        diameter = data_set_diameter(viewer, micrograph_layer, own_or_folder)
        if diameter is None and state.typed_diameter_dataset == own_or_folder:
            # typed for micrographs of its data set only: a trial typed 56 px on a ribosome
            # micrograph, and β-gal and apoferritin micrographs named in Annotate took it
            # and were picked at 56 px by their own heads (β-gal AP 0.83 -> 0.00, unsaid)
            diameter = at_pixel_size(
                state.typed_diameter, state.typed_diameter_pixel_size, micrograph_layer
            )
    return diameter, dataset


def at_pixel_size(diameter: float, pixel_size: Any, micrograph_layer: Any) -> float:
    """``diameter`` (pixels of a micrograph of ``pixel_size`` Å/px) in the pixels of
    ``micrograph_layer``: the same particle where both pixel sizes are known (headers) and
    differ by more than 1 %; else as it is. (A trial: a 2x-binned copy took the 108 px
    typed on the other and was picked at it, recall 0.38 for 0.88.)"""
    there = micrograph_layer.metadata.get("pixel_size")
    if not (pixel_size and there) or not (np.isfinite(pixel_size) and np.isfinite(there)):
        return diameter
    if pixel_size <= 0 or there <= 0 or abs(pixel_size / there - 1) <= 0.01:
        return diameter
    return round(float(diameter) * float(pixel_size) / float(there), 2)


def dataset_or_folder(micrograph_layer: Any) -> str:
    """A micrograph's data-set name, else its folder's as ``cryopick train`` names it
    (one opened from no file: "")."""
    from napari_cryopick.workflows.inputs import folder_dataset_name

    name = micrograph_dataset(micrograph_layer)
    path = layer_path(micrograph_layer)
    return name or (folder_dataset_name(path) if path is not None else "")


def data_set_diameter(viewer: Any, micrograph_layer: Any, dataset: str) -> float | None:
    """The diameter of the top-most other open micrograph of ``dataset`` that has one
    (an unnamed one's data set is its folder's, :func:`dataset_or_folder`), in this
    micrograph's pixels (:func:`at_pixel_size`)."""
    for other in reversed(micrograph_layers(viewer)):
        if unproxy(other) is unproxy(micrograph_layer) or dataset_or_folder(other) != dataset:
            continue
        diameter = micrograph_diameter(other)
        if diameter is not None:
            return at_pixel_size(diameter, other.metadata.get("pixel_size"), micrograph_layer)
    return None


def distinct_micrographs(layers: list[Any]) -> tuple[list[Any], dict[str, list[str]]]:
    """The layers of distinct micrographs, and the names that different files share.

    A file open twice (two layers, one path) counts once: its first layer.
    Returns ``(layers, clashes)``; ``clashes`` maps a micrograph name to the
    files (or layer names) that share it: results and pick files are named
    after the micrograph, so those cannot be told apart.
    """
    kept: list[Any] = []
    seen: set[str] = set()
    by_name: dict[str, list[str]] = {}
    for layer in layers:
        path = layer_path(layer)
        key = str(path.absolute()) if path is not None else f"layer:{layer.name}"
        if key in seen:
            continue
        seen.add(key)
        kept.append(layer)
        by_name.setdefault(micrograph_name(layer), []).append(
            str(path) if path is not None else f"layer {layer.name!r}"
        )
    clashes = {name: sources for name, sources in by_name.items() if len(sources) > 1}
    return kept, clashes


def clash_message(clashes: dict[str, list[str]]) -> str:
    """One short line naming micrographs that different files share (for a status line)."""
    parts = [f"{name} ({' and '.join(sources)})" for name, sources in clashes.items()]
    return (
        f"Different files share a micrograph name: {'; '.join(parts)}. Results and pick "
        "files are named after the micrograph: close one of each, or rename it."
    )


def short_error(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line for a status label (never a multi-line array repr)."""
    import re

    text = re.sub(r"array\([^)]*\)", "array(…)", " ".join(str(exc).split()))
    text = text or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listen_to_model(viewer: Any, widget: Any, listener: Callable[[Any, Path | None], None]) -> None:
    """Call ``listener(model, path)`` when the session's model changes, while ``widget`` lives."""
    signal = session(viewer).model_changed
    signal.connect(listener)
    widget.destroyed.connect(lambda *_args: signal.disconnect(listener, missing_ok=True))


def connect_while_alive(signal: Any, widget: Any, slot: Callable) -> None:
    """Connect ``slot`` to a session ``signal`` until ``widget`` is destroyed."""
    signal.connect(slot)
    widget.destroyed.connect(lambda *_args: signal.disconnect(slot, missing_ok=True))


def populate_layer_combo(combo: Any, layers: list[Any], keep: str | None = None) -> None:
    """Fill a ``QComboBox`` with layer names, keeping the current choice if possible."""
    keep = combo.currentText() if keep is None else keep
    combo.blockSignals(True)
    combo.clear()
    combo.addItems([layer.name for layer in layers])
    index = combo.findText(keep)
    if index >= 0:
        combo.setCurrentIndex(index)
    combo.blockSignals(False)


def cancellable(generator: Any, cancel: Any):
    """Run a job generator until it ends or ``cancel`` (a ``threading.Event``) is set.

    The generator is closed either way: ``GeneratorExit`` inside the job at
    its current ``yield``, where the workflows leave nothing half-written
    (files are written atomically, a model only at a normal end). Returns the
    job's result, or None when cancelled. The napari worker runs this
    wrapper; napari's own ``quit()`` would stop without closing the job.
    """
    try:
        while not cancel.is_set():
            try:
                event = next(generator)
            except StopIteration as stop:
                return stop.value
            yield event
        return None
    finally:
        generator.close()


#: Height a docked widget asks for at most (four docks share a 1080-pixel screen).
DOCK_HEIGHT_HINT = 400
#: Height a docked widget can shrink to (its contents scroll).
DOCK_MIN_HEIGHT = 140


#: Milliseconds after a widget is made before the column of docks is shared out (napari
#: docks it, then lays the window out: at 0 ms the docks had no place yet).
DOCK_BALANCE_MS = 150


def scroll_layout(widget: Any) -> Any:
    """Put a vertical scroll area into ``widget`` and return the layout of its contents.

    Docked widgets then fit any window height: each dock asks for at most
    :data:`DOCK_HEIGHT_HINT` pixels, can shrink to :data:`DOCK_MIN_HEIGHT`,
    and its contents scroll, instead of the window refusing to be shorter.
    The width is the contents' own (no horizontal scrolling: the dock widens).
    """
    from qtpy.QtCore import QSize, Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    class _VerticalScrollArea(QScrollArea):
        def _width(self, hint: Any) -> int:
            bar = self.verticalScrollBar().sizeHint().width()
            return hint.width() + bar + 2 * self.frameWidth()

        def sizeHint(self) -> Any:
            hint = self.widget().sizeHint()
            return QSize(self._width(hint), min(hint.height(), DOCK_HEIGHT_HINT))

        def minimumSizeHint(self) -> Any:
            return QSize(self._width(self.widget().minimumSizeHint()), DOCK_MIN_HEIGHT)

    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    area = _VerticalScrollArea(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    contents = QWidget()
    area.setWidget(contents)
    outer.addWidget(area)
    widget.scroll_area = area
    from qtpy.QtCore import QTimer

    # once docked and laid out: the column of docks shares its height by
    # what each holds (a GUI trial: Annotate 666 px, mostly empty, Train and Pick 160)
    QTimer.singleShot(DOCK_BALANCE_MS, lambda: _balance_docks(widget))
    return QVBoxLayout(contents)


def _balance_docks(widget: Any) -> None:
    """Share the height of the column of docks ``widget`` joined among the docked widgets
    of this plugin there: each gets what its contents need, up to an equal share of what
    the others leave (water-filling); the user's later resizing stays."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QDockWidget

    try:
        dock = widget.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        window = dock.parentWidget() if dock is not None else None
        if window is None or dock.isFloating() or not hasattr(window, "resizeDocks"):
            return
        area = window.dockWidgetArea(dock)
        docks = [
            d
            for d in window.findChildren(QDockWidget)
            if d.isVisible()
            and not d.isFloating()
            and window.dockWidgetArea(d) == area
            and hasattr(d.widget(), "scroll_area")
            and not window.tabifiedDockWidgets(d)
            and d.x() == dock.x()  # one column
        ]
        if len(docks) < 2:
            return
        needs = []
        for d in docks:
            scroll = d.widget().scroll_area
            overhead = d.height() - scroll.viewport().height()
            needs.append(scroll.widget().sizeHint().height() + max(0, overhead))
        sizes = _water_fill(needs, sum(d.height() for d in docks))
        window.resizeDocks(docks, sizes, Qt.Vertical)
    except RuntimeError:  # (a widget or window deleted meanwhile)
        return


def _water_fill(needs: list[int], available: int) -> list[int]:
    """Heights for ``needs`` in ``available``: each its need up to an equal share of what
    the smaller ones leave."""
    sizes = [0] * len(needs)
    left = sorted(range(len(needs)), key=lambda i: needs[i])
    while left:
        share = available / len(left)
        if needs[left[0]] > share:
            for i in left:
                sizes[i] = int(share)
            break
        i = left.pop(0)
        sizes[i] = needs[i]
        available -= needs[i]
    return sizes


def end_unfinished_paths(viewer: Any, keep: Any = None, shown: str | None = None) -> None:
    """End every annotation path the user left unfinished (no double-click yet), as
    napari's Escape does: its clicked vertices kept, the one following the cursor dropped
    (one clicked vertex: no path). ``keep``: a layer whose drawing goes on; ``shown``: a
    micrograph whose layers' drawing goes on.

    A re-trial left a fiber unfinished and switched micrograph, or kind and back: the
    next clicks went on the same path (two fibers joined by a straight line), or it ended
    where the mouse left the canvas.
    """
    for layer in list(viewer.layers):
        if layer is keep or unproxy(layer) is unproxy(keep):
            continue
        if layer.metadata.get(ROLE_KEY) != "annotation":
            continue
        if shown is not None and layer.metadata.get("micrograph") == shown:
            continue
        if getattr(layer, "_is_creating", False):
            finish = getattr(layer, "_finish_drawing", None)  # (napari's; private)
            if finish is not None:
                finish()


#: Metadata of a shared result layer hidden because no micrograph is seen any more
#: (the eye icons, ``result_layers._follow_eye_icon``): shown again with the next
#: micrograph shown (:func:`show_only_micrograph`).
HIDDEN_WITH_KEY = "cryopick_hidden_with_micrograph"


def show_only_micrograph(viewer: Any, micrograph: str) -> None:
    """Show the micrograph named ``micrograph`` and its layers; hide other micrographs' layers.

    Several micrographs open at once lie on top of each other; the one being
    annotated or reviewed must be the one seen. Layers that belong to no
    micrograph are left alone; the shared result layers are told to show the
    micrograph's results (``SessionState.micrograph_shown``).
    """
    end_unfinished_paths(viewer, shown=micrograph)  # another micrograph's path ends
    state = session(viewer)
    state.showing_only = True  # not the user's eye icons (``follow_micrographs``)
    try:
        for layer in list(viewer.layers):
            if layer.metadata.get(SHOWS_KEY):
                if layer.metadata.pop(HIDDEN_WITH_KEY, None):  # hidden with the last one
                    layer.visible = True
                continue
            of = layer.metadata.get("micrograph") if hasattr(layer, "metadata") else None
            if not of and is_micrograph_layer(layer):
                of = micrograph_name(layer)
            if of:
                visible = of == micrograph
                if layer.visible != visible:
                    layer.visible = visible
    finally:
        state.showing_only = False
    _fit_other_size(viewer, micrograph)
    state.micrograph_shown.emit(micrograph)


def _fit_other_size(viewer: Any, micrograph: str) -> None:
    """A micrograph of another size than the one shown before: the view fits it (a GUI
    trial's 1024 px micrograph after a 2217 px one sat in a quarter of the canvas); one of
    the same size keeps the user's zoom."""
    layer = next((m for m in micrograph_layers(viewer) if micrograph_name(m) == micrograph), None)
    if layer is None:
        return
    extent = tuple(
        round(float(n) * float(s), 3)
        for n, s in zip(np.shape(layer.data)[-2:], tuple(layer.scale)[-2:], strict=True)
    )
    state = session(viewer)
    before, state.shown_extent = state.shown_extent, extent
    if before is not None and before != extent:
        with contextlib.suppress(Exception):  # (a viewer closing; napari before layers=)
            viewer.reset_view(layers=[layer])  # this one, not every layer's extent


class StepQueue:
    """Run generators in the GUI thread one step per event-loop turn, in the order queued.

    Showing a worker's result means creating napari layers and drawing them
    the first time, each a large share of an event-loop turn on a slow
    machine; a generator that yields between such pieces lets the viewer
    redraw and answer input in between. Whatever must happen after a
    result is shown (the end of the job) is queued after it. A step that
    processes events (napari's progress bar does) cannot re-enter the queue.
    """

    def __init__(self, parent: Any):
        from qtpy.QtCore import QTimer

        self._pending: deque[Iterator[Any]] = deque()
        self._busy = False
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._step)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, steps: Iterator[Any]) -> None:
        """Queue a generator; its first step runs on a coming turn."""
        self._pending.append(steps)
        if not self._busy and not self._timer.isActive():
            self._timer.start()

    def _step(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            while self._pending:
                try:
                    next(self._pending[0])
                    break
                except StopIteration:
                    self._pending.popleft()
        finally:
            self._busy = False
            if self._pending:
                self._timer.start()


class JobProgress:
    """napari's progress bar (the activity dock) of a widget's one background job.

    The bar is created and the worker started on event-loop turns of their
    own, after the click's (:meth:`starting`, for a :class:`StepQueue`):
    creating the bar builds and shows its widgets and processes events (85 ms
    on the 2-core box), and a starting job takes the GIL for a while.
    """

    def __init__(self) -> None:
        self._bar: Any = None

    def starting(self, worker: Any, total: int, description: str) -> Iterator[None]:
        """The bar, then the worker's start, one step each."""
        from napari.utils import progress

        self._bar = progress(total=total, desc=description)
        yield
        worker.start()
        yield

    def advance_to(self, step: int, total: int | None = None) -> None:
        """Move the bar to ``step`` (never back); ``total``: the job's total now, when it
        changed (a time-bounded training's steps: the bar read 87/1000 and a 3 min ETA
        for a training that ended at step 87)."""
        if self._bar is None:
            return
        if total is not None and int(total) > 0 and int(total) != self._bar.total:
            self._bar.total = int(total)
            self._bar.refresh()
        if step > self._bar.n:
            self._bar.update(int(step) - self._bar.n)

    def close(self) -> None:
        """Remove the bar (the job ended)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
