"""Train widget: train or adapt the detector in the background from the annotations.

The training set is every annotated micrograph open in the viewer (particle,
vesicle, fiber and negative annotations), optionally plus the saved
annotations of micrographs that are not open, grouped by data-set name. The
widget turns them into a :class:`napari_cryopick.workflows.train.TrainRequest`
and runs :func:`napari_cryopick.workflows.train.train` (the one training path,
shared with ``cryopick train``) in a napari worker: progress with an ETA
(training is time-bounded by default), a live loss plot and, every few
steps and at the end, the heatmap and picks of the current micrograph,
picked with the head being trained. Cancel closes the generator: the
previous model (in memory and on disk) stays as it was.

After training, the new model becomes the session's model with its new head
and the threshold the training calibrated on the user's clicks (best F2,
never above the default, lower the sparser the clicks; the one ``cryopick
pick`` uses), so the Pick widget
uses them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Collection, Generator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
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
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

# The core is imported here, in the GUI thread, on purpose: importing torch and
# scipy inside the worker would hold the GIL for hundreds of milliseconds while
# their shared libraries load, freezing the viewer at the start of training.
from napari_cryopick.core import preprocess  # noqa: F401  (scipy.fft loaded before the worker)
from napari_cryopick.core.text import name_list
from napari_cryopick.core.train_config import TrainConfig
from napari_cryopick.io.annotations import (
    AnnotationError,
    Annotations,
    dataset_summary,
    group_by_dataset,
    list_annotated,
    load_annotations,
    user_annotation_dir,
)
from napari_cryopick.io.micrographs import Micrograph
from napari_cryopick.layers.results import ROLE_KEY
from napari_cryopick.workflows.train import (
    ADAPT_MODES,
    CALIBRATING,
    TrainingSet,
    TrainNote,
    TrainPreview,
    TrainRequest,
    train,
)

from ._bank import ExemplarBankPanel
from ._common import (
    BUNDLED_ORIGIN,
    OWN_HEADS,
    TRAINED_ORIGIN,
    JobProgress,
    StepQueue,
    adopt_model_file,
    background,
    base_model,
    call_on_window_close,
    cancellable,
    connect_while_alive,
    current_micrograph_layer,
    dataset_or_folder,
    distinct_micrographs,
    inherited_settings,
    is_micrograph_layer,
    layer_path,
    micrograph_dataset,
    micrograph_diameter,
    micrograph_identity,
    micrograph_layers,
    micrograph_name,
    more_coming,
    on_slider_step,
    scroll_layout,
    session,
    session_micrographs,
    set_micrograph_settings,
    still_the_micrograph,
    threshold_text,
)
from ._loss_plot import LossPlot
from .annotate import annotations_from_layers
from .result_layers import ensuring_result_layers

MODES = {
    "new": "New model",
    "finetune": "Fine-tune current model",
    "continual": "Continual (keep old data sets)",
    "fewshot": "Few-shot head (per data set)",
    "joint": "Joint (all data sets, one head each)",
}
#: Annotation kinds training learns from (negatives teach what is not an object).
TRAIN_KINDS = ("particle", "vesicle", "fiber", "negative")
#: Kinds that are objects to pick.
OBJECT_KINDS = ("particle", "vesicle", "fiber")
# ADAPT_MODES (workflows.train) adapt an existing model: the session's model, else the
# data set's model file (the one the training writes, after a restart), else the bundled
# general model.
#: Where an adapting training started when napari was restarted: the file it writes.
SAVED_ORIGIN = "data set's last model"
#: Origin of a newer model file that knows the data set (:func:`newest_model_knowing`).
NEWER_ORIGIN = "newest model that knows the data set"


def default_mode() -> str:
    """The mode ``cryopick train`` runs by default (no ``--mode``, no ``--init``).

    Read from :attr:`TrainRequest.resolved_mode` (no mode, no base model), so
    the CLI and the widget share one default: ``new``, a new model started
    from the general model (``ContinualConfig.pretrained``), the best measured
    start (docs/general-model.md: AP@0.5 0.45 / 0.82 / 0.83 against 0.14 /
    0.69 / 0.84 for a few-shot head on apoferritin / beta-gal / ribosome).
    """
    return TrainRequest.resolved_mode.fget(SimpleNamespace(mode=None, base_model=None))


#: Default mode: the CLI's (:func:`default_mode`).
DEFAULT_MODE = default_mode()


def default_time_limit_minutes() -> float:
    """TrainConfig's default budget in the Time limit field (0 shows "auto")."""
    limit = TrainConfig().time_limit_s
    if limit is None or isinstance(limit, str):  # "auto": the budget of the device
        return 0.0
    return float(limit) / 60.0


def training_set(viewer: Any, include_saved: bool = False) -> list[Annotations]:
    """Annotated micrographs (objects and negatives) for training.

    Parameters
    ----------
    viewer
        Micrographs open in it are taken from their annotation layers, and
        a kind without an open layer from the micrograph's sidecar
        (:func:`~napari_cryopick._widgets.annotate.annotations_from_layers`).
    include_saved
        Also read the saved annotations of micrographs that are not open
        (the per-user index of :mod:`napari_cryopick.io.annotations`), of the data
        sets of the annotated micrographs open (every data set when none is): a trial's
        fiber model took a ribosome data set annotated days before, unsaid.
    """
    items: list[Annotations] = []
    # the same file open twice is one micrograph (the rule of Pick all open)
    layers, _clashes = distinct_micrographs(micrograph_layers(viewer))
    paths = (layer_path(mlayer) for mlayer in layers)
    seen = {str(Path(path).absolute()) for path in paths if path is not None}
    for mlayer in layers:
        annotations = annotations_from_layers(viewer, mlayer)
        annotations.picks = annotations.picks[annotations.picks["kind"].isin(TRAIN_KINDS)]
        if len(annotations.picks):  # negatives only too: junk its data set learns from
            items.append(annotations)
    if include_saved:
        open_sets = {item.dataset for item in items}
        for path in list_annotated():
            if str(path) in seen:
                continue
            try:
                annotations = load_annotations(path)
            except AnnotationError as error:
                # said once a file (a robustness trial's damaged sidecar of a micrograph not
                # open left the training with 3 of 4 micrographs, unsaid)
                _say_left_out(path, str(error))
                continue
            if annotations is None or (open_sets and annotations.dataset not in open_sets):
                continue
            annotations.picks = annotations.picks[annotations.picks["kind"].isin(TRAIN_KINDS)]
            if len(annotations.picks):
                items.append(annotations)
    return items


#: The damaged sidecars said left out of training: (micrograph, what was wrong).
_LEFT_OUT_SAID: set[tuple[str, str]] = set()


def _say_left_out(path: Path, error: str) -> None:
    """Warn, once a file and problem, that the saved annotations of micrograph ``path``
    (not open) cannot be read and are left out of the training."""
    from napari.utils.notifications import show_warning

    key = (str(path), error)
    if key in _LEFT_OUT_SAID:
        return
    _LEFT_OUT_SAID.add(key)
    show_warning(
        f"{error}: the saved annotations of {path.name} are left out of the training "
        "(open the micrograph to see them; a new click sets the damaged file aside)"
    )


def _label_keys(items: list[Annotations]) -> dict[str, frozenset]:
    """``{micrograph name: its labels}`` (kind and position to a tenth of a pixel) of
    :func:`training_set`'s annotations, to tell labels changed since."""
    keys = {}
    for item in items:
        table = item.picks
        name = Path(str(item.micrograph_path)).stem
        keys[name] = frozenset(
            zip(
                table["kind"].astype(str),
                np.round(table["x"].to_numpy(float), 1),
                np.round(table["y"].to_numpy(float), 1),
            )
        )
    return keys


#: Micrographs of one data set whose diameters differ more than this many times (at one
#: pixel size) are said to hold two proteins (:func:`_mixed_sizes_note`).
MIXED_SIZES_RATIO = 1.5


def _mixed_sizes_note(
    name: str, names: list[str], diameters: list[float], micrographs: list[Any]
) -> str:
    """A warning when one data set's micrographs are of particles of very different sizes
    in Å (or in pixels, without pixel sizes): two proteins under one name train one head,
    and the first is lost (a continual trial's β-gal micrographs named 'ribosome': the
    ribosome head's picks collapsed)."""
    sizes = [float(d) for d in diameters]
    if len(sizes) < 2 or min(sizes) <= 0:
        return ""
    pixel = [getattr(m, "pixel_size", None) for m in micrographs]
    unit = "Å" if all(pixel) else "px"
    if unit == "Å":
        sizes = [d * float(p) for d, p in zip(sizes, pixel, strict=True)]
    if max(sizes) <= MIXED_SIZES_RATIO * min(sizes):
        return ""
    small = names[sizes.index(min(sizes))]
    large = names[sizes.index(max(sizes))]
    return (
        f"data set {name!r} holds particles of {min(sizes):.0f} {unit} ({small}) and "
        f"{max(sizes):.0f} {unit} ({large}): two proteins under one name train one head, "
        "and the one trained first is lost; give each protein its own Data set in Annotate"
    )


def _by_pixel_size(indices: list[int], layers: list[Any]) -> list[list[int]]:
    """``indices`` grouped by their micrographs' pixel sizes (``layers[i].metadata``),
    within 5 % of each other as ``cryopick train`` compares them; micrographs of no known
    size (or the 1.0 Å placeholder) go with the first group."""
    from napari_cryopick.workflows.inputs import known_pixel_size

    groups: list[tuple[float, list[int]]] = []
    unknown: list[int] = []
    for i in indices:
        layer = layers[i]
        size = layer.metadata.get("pixel_size") if layer is not None else None
        if not known_pixel_size(size):
            unknown.append(i)
            continue
        for known, members in groups:
            if abs(size - known) <= 0.05 * min(size, known):
                members.append(i)
                break
        else:
            groups.append((float(size), [i]))
    if not groups:
        return [unknown]
    groups[0][1].extend(unknown)
    return [sorted(members) for _size, members in groups]


def _with_objects(items: list[Annotations], fallback: str) -> tuple[list[Annotations], list[str]]:
    """``items`` of the data sets that hold objects (particles, vesicles, fibers), and the
    names of those that hold negatives only (nothing to learn a head from): a micrograph of
    junk only is trained on with the other micrographs of its data set. ``fallback``: the
    data set of unnamed micrographs."""
    with_objects = {
        item.dataset or fallback for item in items if item.picks["kind"].isin(OBJECT_KINDS).any()
    }
    kept = [item for item in items if (item.dataset or fallback) in with_objects]
    dropped = sorted({item.dataset or fallback for item in items} - with_objects)
    return kept, dropped


def _folder_name(item: Annotations) -> str:
    """The data set a micrograph's folder names (``cryopick train``'s default), or
    "default" for a micrograph without a file."""
    from napari_cryopick.workflows.inputs import folder_dataset_name

    path = getattr(item, "micrograph_path", None)
    return (folder_dataset_name(path) if path else "") or "default"


def annotated_kinds(items: list[Annotations]) -> tuple[str, ...]:
    """Object kinds present in the annotations, in the project's order."""
    present = {str(k) for item in items for k in item.picks["kind"]}
    return tuple(kind for kind in OBJECT_KINDS if kind in present)


def _training_job(request: TrainRequest, cancel: threading.Event) -> Generator[Any, None, Any]:
    """Run :func:`napari_cryopick.workflows.train.train` until done or cancelled.

    Yields its events; returns the ``TrainOutcome`` (its ``pick_threshold`` is
    the threshold ``cryopick pick`` would use, calibrated on the clicks), or
    None when cancelled (nothing written).
    """
    from napari_cryopick._warmup import wait_for_warm_up

    # (the optimiser's start-up it runs: once, not twice at a time; Cancel heard meanwhile)
    while not wait_for_warm_up(0.2):
        if cancel.is_set():
            return None
    from napari_cryopick.workflows.train import diameter_warnings

    previous = _leave_a_core_to_the_viewer(request.device)
    try:
        for note in diameter_warnings(request.datasets):  # before the minutes it would spoil
            yield TrainNote(note)
        return (yield from cancellable(train(request), cancel))
    finally:
        if previous is not None:  # (torch's count is the whole process's)
            import torch

            torch.set_num_threads(previous)


def _leave_a_core_to_the_viewer(device: str) -> int | None:
    """Train on the CPU with a thread fewer than the cores this process may use (at
    least 1), as *Pick*'s picking process does: napari keeps a core, and on a machine
    busy with other jobs torch's threads do not wait on each other (a README trial's
    ``cryopick train`` did 3 steps in 25 s with torch's 2 threads on 2 cores, about 35 a
    second with 1). Returns the count before, to be set back when the training ends
    (torch's count is the process's); None when nothing was changed: an
    ``OMP_NUM_THREADS`` the user set, or a GPU that trains."""
    import os

    if str(device).startswith("cuda") or os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    import torch

    if str(device) == "auto" and torch.cuda.is_available():
        return None
    from napari_cryopick.core.model import cpu_cores

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, cpu_cores() - 1))
    return previous


#: The start of the refusals of a training set without objects: the status says them
#: until a refresh of the table finds objects.
_NOTHING_ANNOTATED = ("No annotated micrographs", "Only negatives are annotated")


def _dataset_columns(kinds: tuple[str, ...]) -> list[str]:
    """Columns of the training-set table: one per object kind counted (``particle`` -> particles)."""
    return [
        "data set",
        "micrographs",
        *(f"{kind}s" for kind in kinds or ("particle",)),
        "negatives",
    ]


def default_model_path(dataset: str) -> Path:
    """Default file of a trained model: the per-user data folder, named after the data set."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset) or "model"
    return user_annotation_dir().parent / "models" / f"{name}.pt"


#: Per data set, the model file the Train widget last wrote, when not the default one:
#: after a restart, adapting starts from it and writes it again (a trial's custom file was
#: forgotten: Fine-tune started from the bundled model and wrote the default file).
LAST_MODELS_FILE = "last_models.json"


def _last_models_path() -> Path:
    return default_model_path("model").parent / LAST_MODELS_FILE


def _last_models() -> dict:
    """``{data set: model file}`` as recorded ({} when none; a damaged file: the entries
    that can still be read, a robustness trial's cut file had Train forget the user's
    model file and train into the default one, unsaid)."""
    from napari_cryopick.io.annotations import read_string_map

    return read_string_map(_last_models_path())[0]


def remembered_model_path(dataset: str) -> Path | None:
    """The model file last written for ``dataset`` through 'Save model to', or None."""
    value = _last_models().get(dataset)
    return Path(value) if isinstance(value, str) and value else None


def remember_model_path(dataset: str, path: Path) -> None:
    """Record ``path`` as ``dataset``'s model file (the default file: forgotten)."""
    import json

    from napari_cryopick.io.annotations import read_string_map, set_aside_damaged
    from napari_cryopick.io.atomic import atomic_write_text

    target = _last_models_path()
    paths, damaged = read_string_map(target)
    salvaged = len(paths)
    path = Path(path).absolute()
    if path == default_model_path(dataset).absolute():
        if paths.pop(dataset, None) is None and not damaged:
            return
    else:
        paths[dataset] = str(path)
    if (
        damaged
        and set_aside_damaged(target, "the record of each data set's model file", salvaged) is None
    ):
        return  # (not written over)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(paths, indent=1, sort_keys=True) + "\n")
    except OSError:
        logging.getLogger(__name__).warning(
            "could not record the model file of data set %r in %s", dataset, target
        )


def saved_model_files() -> list[Path]:
    """The models folder's model files, sorted (not the earlier versions, ``.previous.pt``
    and ``.previous-N.pt``: a review found a ``-2`` taken before a newer ``.previous.pt``)."""
    folder = default_model_path("model").parent
    return sorted(p for p in folder.glob("*.pt") if earlier_version_of(p) is None)


def model_knows(path: Any, dataset: str) -> bool:
    """Whether model file ``path`` exists and its card lists ``dataset`` (the data set's
    model, for Pick and Train alike)."""
    return Path(path).is_file() and dataset in _card_datasets(path)


def newest_model_knowing(dataset: str, than: Path, *, newer: bool = True) -> Path | None:
    """A model file newer than ``than`` (the data set's own file) whose card lists
    ``dataset``: among the models folder's ``*.pt`` (not the ``.previous.pt`` versions)
    and the files remembered for data sets (:func:`remembered_model_path`). The newest;
    None when there is none (or ``than`` is the newest). ``newer`` False: any file but
    ``than`` (which is none of the data set's: a review found an older joint model that
    knew it passed over)."""
    files = {p.absolute() for p in saved_model_files()}
    files |= {Path(v).absolute() for v in _last_models().values() if isinstance(v, str) and v}
    files.discard(Path(than).absolute())
    try:
        since = Path(than).stat().st_mtime if newer else float("-inf")
    except OSError:
        since = float("-inf")
    return _newest_knowing(files, dataset, since)


def _newest_knowing(files: Collection[Path], dataset: str, since: float) -> Path | None:
    """The newest of ``files`` changed after ``since`` (a time stamp) whose card lists
    ``dataset`` (one that cannot be read: none); None when there is none."""
    found = []
    for file in files:
        try:
            mtime = file.stat().st_mtime
        except OSError:
            continue
        if mtime > since:
            found.append((mtime, file))
    for _mtime, file in sorted(found, reverse=True):
        if dataset in _card_datasets(file):
            return file
    return None


def previous_model_knowing(dataset: str) -> Path | None:
    """The newest earlier version (``*.previous.pt``, ``*.previous-N.pt``) of the models
    folder's files and the files remembered for data sets whose card lists ``dataset``;
    None when there is none. The only copy of a data set that a model written over its
    file left out (a New model over a file of two data sets, answered Yes): a napari trial
    found nothing named it after a restart. Sought only where no model file knows the data
    set (:func:`newest_model_knowing`)."""
    import glob

    files = set(default_model_path("model").parent.glob("*.previous*.pt"))
    for value in _last_models().values():
        if isinstance(value, str) and value:
            kept = Path(value)
            pattern = f"{glob.escape(kept.stem)}.previous*{glob.escape(kept.suffix or '.pt')}"
            files |= set(kept.parent.glob(pattern))
    files = {file.absolute() for file in files if earlier_version_of(file) is not None}
    return _newest_knowing(files, dataset, float("-inf"))


def _card_datasets(path: Path) -> tuple[str, ...]:
    """:func:`~napari_cryopick.core.model.checkpoint.checkpoint_datasets` of ``path``,
    read once for a version of the file (its size and time): Pick asks of every earlier
    version at each press, in the GUI thread (a review)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return ()
    return _card_datasets_of(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _card_datasets_of(path: str, _size: int, _mtime_ns: int) -> tuple[str, ...]:
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    return checkpoint_datasets(path)


def earlier_version_of(path: Path) -> str | None:
    """``"joint.pt"`` for ``joint.previous.pt`` or ``joint.previous-2.pt``: the file whose
    earlier version ``path`` is (:func:`napari_cryopick.workflows.train.previous_model_path`);
    None for any other file."""
    import re

    found = re.fullmatch(r"(.+)\.previous(?:-\d+)?", Path(path).stem)
    return f"{found.group(1)}{Path(path).suffix}" if found else None


def _labels_of(training_set: Any) -> int:
    """The labels of a training set (every pick but negatives)."""
    return int(
        sum(
            int((table["kind"].astype(str) != "negative").sum()) if "kind" in table else len(table)
            for table in training_set.picks
        )
    )


def head_words(head: str) -> str:
    """``", head 'ribosome'"`` for the training's status line ("" without a head); Pick's
    "each data set's own" is a choice of its Head box, not a head (a GUI trial read
    "head 'each data set's own'")."""
    if head == OWN_HEADS:
        return ", each data set picked with its own head"
    return f", head '{head}'" if head else ""


def saved_models_without(dataset: str, known: Collection[str]) -> dict[Path, tuple[str, ...]]:
    """The models folder's model files (:func:`saved_model_files`) and the data sets each
    knows that neither ``known`` (the starting model's) nor ``dataset`` is: what an
    adapting training from that model leaves out. Files that cannot be read are skipped."""
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    found = {}
    for file in saved_model_files():
        names = tuple(n for n in checkpoint_datasets(file) if n not in known and n != dataset)
        if names:
            found[file] = names
    return found


def fiber_training_table(table: pd.DataFrame, width_px: float | None) -> pd.DataFrame:
    """An annotation table with its drawn fiber paths as points all along them.

    A fiber path drawn in napari holds only the vertices the user clicked
    (bends, ends), maybe widths apart; the detector learns fibers from points
    every half width along them, as ``cryopick train`` reads fiber files
    (``workflows.inputs`` -> core ``densify_fiber_picks``). The fiber width is
    the diameter set in Annotate (``width_px``) where a path has none.
    """
    table = table.reset_index(drop=True)
    fibers = (table["kind"] == "fiber").to_numpy()
    if not fibers.any():
        return table
    from napari_cryopick.core.object_kinds import densify_fiber_picks

    if width_px and np.isfinite(width_px):
        unknown = fibers & ~np.isfinite(table["diameter"].to_numpy(float))
        table.loc[unknown, "diameter"] = float(width_px)
    return densify_fiber_picks(table).reset_index(drop=True)


def _then(text: str, progress: str) -> str:
    """``text`` followed by the training's ``progress``: after a colon, or as a sentence of
    its own where ``text`` ends one (a trial read "... its model.: step 2 of about 87")."""
    text = text.rstrip()
    if text.endswith("."):
        return f"{text} {progress[:1].upper()}{progress[1:]}"
    return f"{text}: {progress}"


def _starting_from(origin: str) -> str:
    """``", starting from the <origin>"`` of the training status ("" without an origin);
    no second article ("the model of the picks back from disk" read "from the the model",
    a trial)."""
    if not origin:
        return ""
    return f", starting from {'' if origin.startswith('the ') else 'the '}{origin}"


class TrainWidget(QWidget):
    """Mode, data set, steps, time limit, device; Train / Cancel; live loss and previews."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.last_result = None  # the last TrainOutcome
        self.last_saved: Path | None = None
        self.last_error: str = ""
        self.last_request: TrainRequest | None = None
        self.base_origin: str = ""  # where the last adapting run started from
        self.mode_note: str = ""  # why the mode run differs from the chosen one
        self._model_warnings: list[Any] = []  # the base model's ModelNotes in it
        self._run_notes: list[Any] = []  # those of the running training, said at its end
        self.size_note: str = ""  # kinds too different in size for one model
        self.junk_note: str = ""  # data sets of negatives only, not trained on
        self.merge_note: str = ""  # unnamed micrographs of several folders under one name
        self.kind_note: str = ""  # data sets of other kinds left out of a new model
        self.diameter_note: str = ""  # the typed diameter against the clicks (the job's)
        self._cancel = threading.Event()
        self._showing = StepQueue(self)  # previews and the end of training, in order
        self._progress = JobProgress()
        self._preview_name = ""
        self._preview_identity: Any = None  # (the previewed micrograph's layer and file)
        self._final_drawn = False
        self._request_items: list[Annotations] | None = None  # the last request's annotations
        self._trained_name = ""  # the one data set of the last request, typed or not
        self._run_name = ""  # the data set a running training's file is remembered for
        self._model_at_start: Any = None  # the session's model when Train was pressed
        self._preview_note = ""  # why previews were not drawn (the user's corrections)
        self._previewed = ""  # the micrograph a preview of the running job was drawn on

        defaults = TrainConfig()
        self.mode_combo = QComboBox()
        for key, label in MODES.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(DEFAULT_MODE))
        self.mode_combo.setToolTip(
            "New (default, as cryopick train): a new model started from the general model "
            "(vesicles or fibers: from scratch). Few-shot: only a new head for your data "
            "set on the current model (fastest, less accurate). Fine-tune / continual / "
            "joint: adapt the current model."
        )
        self.dataset_combo = QComboBox()
        self.dataset_combo.setEditable(True)
        self.dataset_combo.setToolTip("Data set to train (few-shot head name); empty: all")
        # the name the box was last filled with by the widget, not the user: while it
        # shows that, it follows the micrograph on screen (a trial's Continual run had
        # "ribosome", the first listed, with a β-gal micrograph on screen)
        self._filled_name: str | None = None
        self.dataset_combo.currentTextChanged.connect(self._on_dataset_text)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(defaults.steps)
        self.steps_spin.setToolTip("Most optimiser steps; the time limit may end training sooner")
        self.time_spin = QDoubleSpinBox()
        self.time_spin.setRange(0.0, 24 * 60.0)
        # two decimals: 0.75 min is 45 s (one decimal made it 0.8, 48 s; a trial)
        self.time_spin.setDecimals(2)
        self.time_spin.setSingleStep(0.25)
        self.time_spin.setSuffix(" min")
        self.time_spin.setSpecialValueText("auto")
        self.time_spin.setValue(default_time_limit_minutes())
        self.time_spin.setToolTip(
            "Wall-clock budget: training stops at the end of it with the best model so far "
            "(auto: the budget TrainConfig chooses for the device)"
        )
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(defaults.batch_size)
        self.batch_spin.setToolTip("Crops per step")
        self.crop_spin = QSpinBox()
        self.crop_spin.setRange(32, 1024)
        self.crop_spin.setSingleStep(32)
        self.crop_spin.setValue(defaults.crop_size)
        self.crop_spin.setToolTip("Crop side in prepared pixels (about 10 particle diameters)")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.device_combo.setToolTip("Where training runs (auto: CUDA when available)")
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(100.0)
        # typed by the user: micrographs without a diameter of their own train at it, else
        # at the size their micrographs show around the clicks (_estimated_where_none_given)
        self._diameter_typed = False
        self._estimate_notes: list[str] = []
        # (micrograph layer, diameter) estimated by the request being built: kept on them
        # only once it is built (_keep_estimates)
        self._estimates: list[tuple[Any, float]] = []
        self._following_box = False  # the widget sets the box (not the user)
        self.diameter_spin.valueChanged.connect(self._on_diameter_typed)
        self.diameter_spin.setToolTip(
            "Particle diameter of micrographs without a measured one (Annotate sets it)"
        )
        self.preview_spin = QSpinBox()
        self.preview_spin.setRange(0, 100_000)
        self.preview_spin.setValue(100)
        self.preview_spin.setToolTip("Refresh heatmap and picks every N steps (0: only at the end)")
        self.include_saved = QCheckBox("Include saved annotations of closed micrographs")
        self.include_saved.setToolTip(
            "Also train on micrographs annotated earlier, of the data sets of the "
            "annotated micrographs open (all data sets when none is open)"
        )
        self.output_edit = QLineEdit()
        # the default file, named after the data set (not a file name made of "<data set>")
        self.output_edit.setPlaceholderText(
            str(default_model_path("model").with_name("<data set>.pt"))
        )
        self.output_edit.setToolTip("Model file written at the end (atomically)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit)
        output_row.addWidget(browse)

        self.datasets_table = QTableWidget(0, 4)
        self.datasets_table.setHorizontalHeaderLabels(_dataset_columns(()))
        self.datasets_table.verticalHeader().setVisible(False)
        self.datasets_table.setMinimumHeight(70)
        self.datasets_table.setMaximumHeight(120)
        self.refresh_button = QPushButton("Refresh training set")
        self.bank_panel = ExemplarBankPanel(self.viewer, self)

        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train in the background; the viewer stays usable")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop now; the previous model stays as it was")
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.loss_plot = LossPlot(self)

        # what a training needs first, then Train, its progress and status, then the
        # settings: in a dock of four the Train button was 500 px down (a GUI trial)
        top = QFormLayout()
        top.addRow("Mode", self.mode_combo)
        top.addRow("Data set", self.dataset_combo)
        top.addRow("Time limit", self.time_spin)
        form = QFormLayout()
        form.addRow("Steps", self.steps_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Crop size", self.crop_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("Diameter", self.diameter_spin)
        form.addRow("Preview every", self.preview_spin)
        form.addRow("Save model to", output_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        layout = scroll_layout(self)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.loss_plot)
        layout.addLayout(form)
        layout.addWidget(self.include_saved)
        layout.addWidget(self.datasets_table)
        layout.addWidget(self.refresh_button)
        layout.addWidget(self.bank_panel)

        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.refresh_button.clicked.connect(self.refresh_datasets)
        self.include_saved.toggled.connect(lambda _checked: self.refresh_datasets())
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        active = self.viewer.layers.selection.events.active
        active.connect(self._follow_screen)
        self.destroyed.connect(lambda *_args: active.disconnect(self._follow_screen))
        # a diameter or data-set name typed in Annotate: the form and the table follow
        connect_while_alive(
            session(self.viewer).settings_changed, self, lambda _name: self._on_layers_changed()
        )
        # clicks made while Train is docked: the table and the Data set box follow
        connect_while_alive(
            session(self.viewer).annotations_changed, self, lambda _name: self.refresh_datasets()
        )
        # torch's optimiser start-up in a background thread, not here: 2.0-2.2 s of frozen
        # viewer on docking (a responsiveness trial); the reader started it if a micrograph
        # was opened first
        from napari_cryopick._warmup import start_warm_up

        start_warm_up()
        self.refresh_datasets()
        self.bank_panel.refresh()
        call_on_window_close(self.viewer, self._on_window_close)
        # where previews show: made ahead, with circles/paths for vesicle/fiber annotations
        self._showing.add(ensuring_result_layers(self.viewer, self._annotated_kinds()))

    def _annotated_kinds(self) -> tuple[str, ...]:
        return tuple(
            str(layer.metadata.get("kind"))
            for layer in self.viewer.layers
            if layer.metadata.get(ROLE_KEY) == "annotation"
        )

    def _on_layer_inserted(self, event: Any) -> None:
        """A micrograph or annotation layer came: make the missing result layers now.

        (Once per viewer: a vesicle or fiber annotation layer brings the
        circles or paths layer its model's previews will fill.)
        """
        if more_coming(self.viewer, event.value):  # a folder's: once, for its last
            return
        self._on_layers_changed()
        if is_micrograph_layer(event.value) or event.value.metadata.get(ROLE_KEY) == "annotation":
            self._showing.add(ensuring_result_layers(self.viewer, self._annotated_kinds()))

    # --- training set display ---

    @property
    def suggested_threshold(self) -> float | None:
        """The threshold the last training calibrated (None: none, or PickConfig's)."""
        return None if self.last_result is None else self.last_result.pick_threshold

    def _on_diameter_typed(self, _value: float = 0.0) -> None:
        # a value changed, not by the widget following a micrograph (a review: tabbing
        # through the box, editingFinished without a change, switched the estimate off)
        if not self._following_box:
            self._diameter_typed = True

    def _on_layers_changed(self, _event: Any = None) -> None:
        mlayer = current_micrograph_layer(self.viewer)
        diameter = micrograph_diameter(mlayer) if mlayer is not None else None
        if diameter is not None:
            self._following_box = True
            try:
                self.diameter_spin.setValue(diameter)
            finally:
                self._following_box = False
        self.refresh_datasets()

    def refresh_datasets(self) -> pd.DataFrame:
        """Show the training set: micrographs, objects of each kind and negatives per data set.

        One column per kind of object annotated (particles, vesicles, fibers;
        fibers count paths, not their points); particles when none is.
        """
        items = training_set(self.viewer, self.include_saved.isChecked())
        summary = dataset_summary(items)
        # what unnamed micrographs train as: the name typed, else their folders'
        typed = self.dataset_combo.currentText().strip()
        unnamed = typed or ", ".join(sorted({_folder_name(i) for i in items if not i.dataset}))
        kinds = tuple(kind for kind in OBJECT_KINDS if len(summary) and summary[kind].sum() > 0)
        kinds = kinds or ("particle",)
        columns = _dataset_columns(kinds)
        self.datasets_table.setColumnCount(len(columns))
        self.datasets_table.setHorizontalHeaderLabels(columns)
        self.datasets_table.setRowCount(len(summary))
        for row, record in enumerate(summary.itertuples(index=False)):
            counts = [int(getattr(record, kind, 0) or 0) for kind in kinds]
            name = record.dataset or f"(unnamed: {unnamed})"
            values = [name, record.micrographs, *counts, record.negative]
            for column, value in enumerate(values):
                self.datasets_table.setItem(row, column, QTableWidgetItem(str(value)))
        current = self.dataset_combo.currentText()
        listed = [self.dataset_combo.itemText(i) for i in range(self.dataset_combo.count())]
        names = [name for name in summary["dataset"] if name]
        filled = None  # a name the widget puts in the box (the user's stays)
        if current in listed and current not in names:
            # a listed name that is gone (renamed in Annotate, its micrograph closed): a
            # trial's fiber model overwrote the vesicle model of a closed micrograph's name
            filled = self._screen_dataset(names) or (names[0] if names else "")
        elif (not current and not listed) or current == self._filled_name:
            # nothing was listed yet, or the box shows what it was filled with: the data
            # set of the micrograph on screen, else the first
            filled = self._screen_dataset(names) or (names[0] if names else "")
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        self.dataset_combo.addItems(names)
        self.dataset_combo.setCurrentText(current if filled is None else filled)
        self.dataset_combo.blockSignals(False)
        edit = self.dataset_combo.lineEdit()
        if edit is not None:
            # an empty box: the name unnamed micrographs train as, in grey, as Annotate shows
            # it (a napari trial's EPU micrographs: Train's box empty, no hint, while the
            # table said "(unnamed: ribo_0412)")
            folders = ", ".join(sorted({_folder_name(i) for i in items if not i.dataset}))
            edit.setPlaceholderText(
                f"{folders} (the folder's name of unnamed micrographs; type another)"
                if folders
                else ""
            )
        if filled is not None:
            self._filled_name = filled
        if self.last_error.startswith(_NOTHING_ANNOTATED) and self.status.text() == self.last_error:
            objects = [k for k in OBJECT_KINDS if k in summary and summary[k].sum() > 0]
            if objects:
                # a GUI trial's status still said "No annotated micrographs" beside a table
                # of clicks made since
                self.status.setText(
                    f"{int(summary['micrographs'].sum())} micrograph(s) annotated: press Train."
                )
                self.last_error = ""
        return summary

    def _screen_dataset(self, names: list[str]) -> str:
        """The data set of the micrograph on screen when it is one of ``names``, else ""."""
        layer = current_micrograph_layer(self.viewer)
        name = micrograph_dataset(layer) if layer is not None else ""
        return name if name in names else ""

    def _on_dataset_text(self, text: str) -> None:
        """A name typed or chosen in the box (not the widget's filling): it stays."""
        if text != self._filled_name:
            self._filled_name = None

    def _follow_screen(self, _event: Any = None) -> None:
        """Another micrograph selected: a box the widget filled shows its data set."""
        current = self.dataset_combo.currentText()
        if self._filled_name is None or current != self._filled_name:
            return
        listed = [self.dataset_combo.itemText(i) for i in range(self.dataset_combo.count())]
        screen = self._screen_dataset(listed)
        if screen and screen != current:
            self.dataset_combo.blockSignals(True)
            self.dataset_combo.setCurrentText(screen)
            self.dataset_combo.blockSignals(False)
            self._filled_name = screen

    def _resume_saved_model(self, keeps_old: bool = False) -> None:
        """With no model in the session (napari restarted), adapting starts from the file
        this training writes, the data set's last model, made the session's (Pick picks
        with it too), not from the bundled model: a trial's "Fine-tune current model"
        after a restart fine-tuned the bundled model and wrote it over yesterday's.

        A training that keeps the old data sets (``keeps_old``: continual, few-shot) starts
        from a newer model file that knows the data set, when there is one
        (:func:`newest_model_knowing`): a GUI trial's continual apoferritin model held the
        ribosome too, and continual on the ribosome after a restart started from the
        older ribosome.pt and left the apoferritin out.

        Raises ValueError when that file cannot be read (it would be replaced)."""
        from napari_cryopick.core.model import load_checkpoint

        path = self.output_path()
        if session(self.viewer).model is not None:
            return
        start, origin = path, SAVED_ORIGIN
        dataset = self._model_dataset()
        if keeps_old:
            newer = newest_model_knowing(dataset, path)
            if newer is not None:
                start, origin = newer, NEWER_ORIGIN
        if (
            start == path
            and not self.output_edit.text().strip()
            and path.is_file()
            and not model_knows(path, dataset)
        ):
            # a file named after the data set that does not know it is none of its, as
            # Pick takes models (a GUI trial: Train started from bgalb.pt of data set ribo
            # while Pick took the older model that knew bgalb)
            other = newest_model_knowing(dataset, path, newer=False)
            if other is None:
                return
            start, origin = other, NEWER_ORIGIN
        if not start.is_file():
            return
        try:
            model, metadata = load_checkpoint(start)
        except (ValueError, OSError) as exc:
            if start != path:  # (another file: the data set's own is what training writes)
                return
            raise ValueError(
                f"{exc}. Training would replace it: give another file in 'Save model to' "
                "(or move that file away)."
            ) from None
        adopt_model_file(self.viewer, model, start, metadata, origin)

    def output_path(self, items: list[Annotations] | None = None) -> Path:
        """The model file: 'Save model to', else the file last written for the data set
        (:func:`remembered_model_path`), else the default file of the data set.
        ``items``: the annotations a training uses (None: every one open)."""
        text = self.output_edit.text().strip()
        if text:
            return Path(text)
        dataset = self._model_dataset(items)
        return remembered_model_path(dataset) or default_model_path(dataset)

    def _model_dataset(self, items: list[Annotations] | None = None) -> str:
        """The data set a model file is named and remembered after: the one typed, else the
        one data set of the last request, else the one data set of the annotations (an
        unnamed micrograph's is its folder's), else "model". ``items``: the annotations
        the training uses (None: every one open); data sets it leaves out (another kind, no
        objects) do not name the file: a trial's fiber model went to fib_ves.pt, and the
        vesicle model the status then invited went over it."""
        typed = self.dataset_combo.currentText().strip()
        if items is None:
            items = training_set(self.viewer, self.include_saved.isChecked())
        mode = self.mode_combo.currentData()
        if mode in ("joint", "new", "finetune"):
            # these train every data set annotated: the file is named after all of them,
            # not the one in the box, which follows the micrograph on screen (a trial's
            # joint model of ribosome and bgal went over yesterday's ribosome.pt; a GUI
            # trial's New model of both was ribosome.pt or bgal.pt by the screen)
            names = sorted({item.dataset or typed or _folder_name(item) for item in items})
            if len(names) > 1:
                return ("joint_" if mode == "joint" else "") + "_".join(names)
        if typed or self._trained_name:
            return typed or self._trained_name
        # before a request (a re-trial: output_path() named model.pt for folder "myfolder")
        names = {item.dataset or _folder_name(item) for item in items}
        # several (a Continual run with the box empty trains them all): named after them all,
        # as New does (a GUI trial's ribosome and β-gal model was models/model.pt)
        return "_".join(sorted(names)) if names else "model"

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", "", "Model (*.pt)")
        if path:
            self.output_edit.setText(path)

    # --- run ---

    def _one_kind_per_model(
        self, mode: str, dataset: str, annotations: list[Annotations]
    ) -> list[Annotations]:
        """A new model of the data set in the box leaves out open data sets of other kinds.

        A trial had fiber micrographs (24 px) and a vesicle micrograph open and
        trained New: one model of both kinds at the vesicles' scale traced none
        of the fibers; the warning came once training ran, and no choice of the
        box changed what was trained. Data sets whose kinds are those of the one
        in the box stay (a new model of several data sets of one kind).
        """
        self.kind_note = ""
        if mode != "new" or not dataset:
            return annotations
        by_set: dict[str, list[Annotations]] = {}
        for item in annotations:
            by_set.setdefault(item.dataset, []).append(item)
        chosen = annotated_kinds(by_set.get(dataset, []))
        if not chosen:
            return annotations
        other = sorted(n for n, items in by_set.items() if annotated_kinds(items) != chosen)
        if not other:
            return annotations
        kinds = sorted({k for n in other for k in annotated_kinds(by_set[n])})
        self.kind_note = (
            f" Left out: {name_list(other, 3)} ({', '.join(kinds)}), another kind than "
            f"data set {dataset} ({', '.join(chosen)}): a model per kind; choose that data "
            "set in 'Data set' to train its model."
        )
        return [item for item in annotations if item.dataset not in other]

    def build_request(self) -> TrainRequest:
        """The :class:`TrainRequest` of the form and the annotations (GUI thread).

        Raises
        ------
        ValueError
            Nothing to train on, or a mode the annotations cannot use.
        """
        mode = self.mode_combo.currentData()
        dataset = self.dataset_combo.currentText().strip()
        annotations = training_set(self.viewer, self.include_saved.isChecked())
        named = sorted({item.dataset for item in annotations if item.dataset})
        if (
            dataset
            and annotations
            and dataset not in named
            and all(item.dataset for item in annotations)
        ):
            # every micrograph has a data set of its own and none is the one typed (a GUI
            # trial's "nothing_here" started a training of every data set, saved under
            # that name): an unnamed micrograph would take the name, none does
            raise ValueError(
                f"No micrograph is annotated as data set '{dataset}' (annotated: "
                f"{name_list(named, 5)}): choose one of those in Data set, name a "
                "micrograph so in Annotate, or leave Data set empty to train them all."
            )
        if dataset and mode in ("fewshot", "continual"):
            # the data set chosen is the one trained: the model's others are kept by their
            # heads and exemplars (a trial's continual run on "bgal" retrained "ribosome",
            # whose micrograph was still open, replacing its head and exemplars); an
            # unnamed micrograph is of its folder's data set, as training names it (a GUI
            # trial's unnamed micrographs of folder bgal/ were refused: "No annotated
            # micrographs", with "bgal" typed as Annotate's grey text suggested)
            annotations = [
                item
                for item in annotations
                if item.dataset == dataset or (not item.dataset and _folder_name(item) == dataset)
            ]
        # an unnamed micrograph belongs to the data set typed, else to its folder's, as
        # `cryopick train --annotations` names it (it trained as "default" here)
        # the unnamed micrographs' folders, for the note below (once those trained are known)
        unnamed = {
            str(item.micrograph_path): _folder_name(item)
            for item in annotations
            if not item.dataset and dataset
        }
        annotations = [
            dataclasses.replace(item, dataset=item.dataset or dataset or _folder_name(item))
            for item in annotations
        ]
        # the model file of one data set is named after it, typed or not (a re-trial's
        # unnamed micrographs of folder "myfolder" trained into models/model.pt)
        trained = {item.dataset for item in annotations}
        self._trained_name = trained.pop() if len(trained) == 1 else ""
        marked = annotations
        annotations, junk_only = _with_objects(annotations, "default")
        if not annotations and marked:
            # a trial's negatives-only data set was told "No annotated micrographs"
            n = sum(len(item.picks) for item in marked)
            raise ValueError(
                f"Only negatives are annotated ({n} on {len(marked)} micrograph(s)): click "
                "some particles, vesicles or fibers too (negatives say what is not one)."
            )
        if not annotations:
            raise ValueError(
                "No annotated micrographs: click some particles, vesicles or fibers with the "
                "Annotate widget first."
            )
        self.junk_note = (
            f" Data set(s) {', '.join(junk_only)}: negatives only, not trained on (a data "
            "set's negatives need particles of it)."
            if junk_only
            else ""
        )
        if mode == "fewshot" and not dataset:
            raise ValueError("Few-shot training needs a data-set name (the new head's name).")
        annotations = self._one_kind_per_model(mode, dataset, annotations)
        folders = sorted(
            {unnamed[key] for item in annotations if (key := str(item.micrograph_path)) in unnamed}
        )
        self.merge_note = ""
        if len(folders) > 1:
            # (a GUI trial's unnamed ribosome and apoferritin micrographs, of two folders,
            # trained as one data set under the name typed; the click check then warned)
            self.merge_note = (
                f" (Note: the unnamed micrographs of folders {name_list(folders, 4)} all "
                f"train as data set '{dataset}', the name typed; to keep them apart, name "
                "them in Annotate, or leave Data set empty to train each as its folder's.)"
            )
        self._request_items = annotations
        kinds = annotated_kinds(annotations)
        model, metadata = None, {}
        self.base_origin = ""
        self.mode_note = ""
        self._model_warnings = []  # the base model's warnings in mode_note, as written
        self.size_note = ""
        if mode in ADAPT_MODES or mode == "joint":
            if mode != "joint":  # (Joint with no session model starts anew, as the CLI's)
                self._resume_saved_model(keeps_old=mode in ("continual", "fewshot"))
            model, metadata, origin = base_model(self.viewer)
            if mode in ADAPT_MODES and model is None:
                raise ValueError(f"{MODES[mode]} needs a model: train a new one first.")
            if mode == "joint" and origin == BUNDLED_ORIGIN:
                # with no model of this session, a fresh one started from the general
                # model's weights, a head per data set, as cryopick train --mode joint
                # without --init (not the general model's recipe heads beside them)
                model, metadata, origin = None, {}, ""
                self.mode_note = " (a new model started from the general model, one head each)"
            if mode != "joint" and origin == BUNDLED_ORIGIN:
                # no model of this session, none saved for this data set: the bundled
                # model's data sets are kept, not those of the user's saved models (a GUI
                # trial's continual apoferritin after a restart left ribosome.pt's out,
                # unsaid)
                saved = saved_models_without(
                    self._model_dataset(), set(metadata.get("datasets") or ())
                )
                if saved:
                    listed = ", ".join(
                        f"{path.name} ({', '.join(names)})"
                        for path, names in list(saved.items())[:4]
                    )
                    self.mode_note = (
                        " (no model loaded in this session: it starts from the bundled "
                        f"general model, without the data sets of your saved models {listed}; "
                        "to keep them, Cancel and Load that model in Pick first)"
                    )
            missing = [k for k in kinds if model is not None and k not in model.config.kinds]
            if missing:
                # an adapted model keeps its kinds: vesicles or fibers need a model of their own
                self.mode_note = (
                    f" (the current model has no {', '.join(missing)} kind, so a new model "
                    f"for {', '.join(kinds)} is trained)"
                )
                mode, model, metadata = "new", None, {}
            else:
                self.base_origin = origin
        if mode == "new" and not self.mode_note:
            plural = {"particle": "particles", "vesicle": "vesicles", "fiber": "fibers"}
            said = ", ".join(plural.get(kind, kind) for kind in kinds)
            # where it starts, and what it does not start from (a GUI trial retrained after
            # "Use as training labels" in the New mode left selected, unsaid that the model
            # just trained was not its start)
            earlier = (
                "; not from the model of this session: Fine-tune starts from that"
                if session(self.viewer).model is not None
                else ""
            )
            # (a model of vesicles or fibers starts from random weights: another kind)
            start = "the general model's weights" if kinds == ("particle",) else "random weights"
            self.mode_note = f" (a new model for {said}, starting from {start}{earlier})"
        images = {}
        for mlayer in micrograph_layers(self.viewer):
            path = layer_path(mlayer)
            key = str(Path(path if path is not None else micrograph_name(mlayer)).absolute())
            images[key] = mlayer
        from napari_cryopick.workflows.inputs import clean_labels, set_diameter_angstrom, size_of

        sets = []
        labels_said: list[str] = []
        self._estimate_notes = []
        self._estimates = []
        # unnamed micrographs belong to the form's data set (or "default"): grouped under
        # that name, not as a second set of the same name (which training refused)
        fallback = dataset or "default"
        named = [
            dataclasses.replace(item, dataset=item.dataset or fallback) for item in annotations
        ]
        for name, items in group_by_dataset(named).items():
            micrographs, tables, names = [], [], []
            # a data set the starting model learned: its diameter, as cryopick train takes
            # it without --diameter (a review: the image estimate retrained its head at
            # another scale)
            known = ((metadata or {}).get("dataset_info") or {}).get(name) or {}
            diameters = self._diameters_of(items, known.get("diameter_px"))
            for item, scale in zip(items, diameters, strict=True):
                key = str(Path(item.micrograph_path).absolute())
                mlayer = images.get(key)
                micrographs.append(
                    Micrograph(
                        np.asarray(mlayer.data, dtype=np.float32),
                        name=item.micrograph,
                        path=Path(item.micrograph_path),
                        pixel_size=mlayer.metadata.get("pixel_size"),
                    )
                    if mlayer is not None
                    else Path(item.micrograph_path)
                )
                # paths without a width of their own: the micrograph's Diameter, else (fibers
                # only) the width it trains at, borrowed from the data set's other fibers (a
                # review: densified at a 20 px default)
                particles = bool((item.picks["kind"] == "particle").any())
                width = item.diameter_px or (None if particles else scale)
                tables.append(fiber_training_table(item.picks, width))
                names.append(item.micrograph)
            # the passes cryopick train --annotations makes on the same labels (a review:
            # duplicates, sizes far from the trained one, negatives on picks were trained)
            tables, said = clean_labels(tables, names, diameters)
            labels_said += said
            mixed = _mixed_sizes_note(name, names, diameters, micrographs)
            if mixed:
                labels_said.append(mixed)
            # in Å where the headers give it, as cryopick train records it: picking converts
            # it at other pixel sizes
            in_angstrom = set_diameter_angstrom(
                diameters,
                micrographs,
                name,
                size_of({kind for item in items for kind in item.picks["kind"]}),
            )
            sets.append(
                TrainingSet(
                    name=name,
                    micrographs=micrographs,
                    picks=tables,
                    diameter_px=diameters,
                    names=names,
                    diameter_A=in_angstrom,
                )
            )
        if model is not None:  # what this run would lose of the model's data sets, said here
            from napari_cryopick.workflows.train import (
                WIDGET_WORDING,
                ModelNote,
                base_model_warnings,
                resized_datasets,
            )

            sizes = {t.name: float(np.median(t.diameter_px)) for t in sets}
            known = {*sizes, *(str(n) for n in (metadata or {}).get("datasets") or ())}
            # (in Å where known, vesicles and fibers left out, as cryopick train refuses:
            # a review found the same protein on 2x-binned micrographs asked about here)
            notes = base_model_warnings(
                mode,
                model,
                metadata,
                sizes,
                WIDGET_WORDING,
                resized_sets=resized_datasets(metadata, sets),
                labels={t.name: _labels_of(t) for t in sets},
            )
            for note in notes:
                # a note that starts with a data set's name keeps it as written ("ribo had
                # no own head", not "Ribo": a re-trial)
                if note.split(" ", 1)[0].rstrip(":,;") not in known:
                    note = ModelNote(note[0].upper() + note[1:], note.kind)
                self._model_warnings.append(note)
                self.mode_note += f" (Warning: {note}.)"
        from napari_cryopick.workflows.inputs import kind_size_warning

        # each data set's own, as cryopick train says them: each trains at its own scale (a
        # review: particles of one set beside fibers of another were said written alike)
        warnings = []
        for one in sets:
            labelled = [t[t["kind"] != "negative"] for t in one.picks if len(t)]
            warning = (
                kind_size_warning(pd.concat(labelled, ignore_index=True)) if labelled else None
            )
            if warning and warning not in warnings:
                warnings.append(warning)
        self.size_note = "".join(f" (Warning: {w[0].upper()}{w[1:]}.)" for w in warnings)
        for said in [*self._estimate_notes, *labels_said]:
            # the widget's words for the command line's advice (a review)
            said = said.replace("(cryopick filter --threshold)", "(Pick's threshold slider)")
            self.size_note += f" (Warning: {said[0].upper()}{said[1:]}.)"
        current = current_micrograph_layer(self.viewer)
        preview = None
        self._preview_name = ""
        self._preview_identity = None
        self._preview_note = ""
        self._previewed = ""  # the micrograph a preview of this run was drawn on
        self._final_drawn = False  # whether the last preview was drawn (not skipped)
        preview_dataset, preview_diameter = None, None
        if current is not None:
            self._preview_name = micrograph_name(current)
            self._preview_identity = micrograph_identity(current)
            preview = Micrograph(
                np.asarray(current.data, dtype=np.float32), name=self._preview_name
            )
            # its own settings, as Annotate shows them (inherited where it has none): a
            # trial's unannotated β-gal micrograph was previewed at the ribosome's 56 px
            inherited_diameter, inherited_dataset = inherited_settings(self.viewer, current)
            preview_dataset = (
                micrograph_dataset(current) or inherited_dataset or dataset_or_folder(current)
            )
            preview_diameter = micrograph_diameter(current) or inherited_diameter
        minutes = self.time_spin.value()
        request = TrainRequest(
            datasets=sets,
            out=self.output_path(annotations),
            mode=mode,
            base_model=model,
            base_metadata=dict(metadata) if metadata else None,
            kinds=kinds if mode in ("new",) else None,
            train_options={
                "steps": self.steps_spin.value(),
                "batch_size": self.batch_spin.value(),
                "crop_size": self.crop_spin.value(),
                "log_interval": 1,
            },
            time_limit_s="auto" if minutes <= 0 else minutes * 60.0,
            device=self.device_combo.currentText(),
            preview=preview,
            preview_every=self.preview_spin.value(),
            preview_dataset=preview_dataset,
            preview_diameter_px=preview_diameter,
            run_info={"source": "napari Train widget"},
        )
        self._keep_estimates()
        return request

    def _diameters_of(self, items: list[Annotations], known: float | None = None) -> list[float]:
        """Scale of each micrograph of one data set: its particle diameter, or its
        objects' typical size.

        A data set of vesicles only: the geometric mean of the smallest and largest of
        all its micrographs' vesicles (``typical_vesicle_diameter``, as ``cryopick
        train``: a trial's two micrographs were scaled at 169 and 199 px here, 178 px
        by the CLI), so every vesicle stays in the detector's range; other objects:
        each micrograph's median size.
        """
        from napari_cryopick.workflows.inputs import _vesicle_diameters

        picks = pd.concat([item.picks for item in items], ignore_index=True)
        typical = _vesicle_diameters(picks[picks["kind"] != "negative"])
        if typical is not None:
            return [typical] * len(items)
        own = [self._diameter_of(item) for item in items]
        own = self._estimated_where_none_given(items, own, known)
        if all(d is not None for d in own):
            return own
        # the width of the data set's other fiber micrographs, not a particle's diameter (a
        # re-trial's paths took the 60 px of particles clicked on another micrograph)
        known = [
            d
            for item, d in zip(items, own, strict=True)
            if d is not None and (item.picks["kind"] == "fiber").any()
        ]
        if not known:
            # as cryopick train refuses paths without a width (a GUI trial's fibers trained
            # at the box's 100 px, unsaid, traced a third of 24 px fibers)
            from napari_cryopick.core.text import name_list

            bare = [item.micrograph for item, d in zip(items, own, strict=True) if d is None]
            raise ValueError(
                f"The fiber paths of {name_list(bare, 3)} carry no width: set Annotate's "
                "Diameter to the fibers' width in pixels on the micrograph, then Train "
                "(fibers have no default width)"
            )
        width = float(np.median(known))  # the data set's other micrographs' width
        return [width if d is None else d for d in own]

    def _estimated_where_none_given(
        self, items: list[Annotations], own: list[float | None], known: float | None = None
    ) -> list[float | None]:
        """``own`` with the particle micrographs nobody gave a diameter (none in Annotate,
        none typed in this widget's box) at the size their micrographs show around the
        clicks, as ``cryopick train`` estimates it without ``--diameter``; the micrographs
        keep it once the request is built (:meth:`_keep_estimates`) and the status says so.
        A GUI trial's clicks of one data set, never given a diameter, trained at the
        box's 100 px, where the command line estimated 55 px for its 56 px ribosomes.

        Micrographs of different pixel sizes are estimated apart, each pixel size its own
        number of pixels (a review: one value in pixels was given to 1 and 2 Å/px alike)."""
        bare = [
            i
            for i, item in enumerate(items)
            if not item.diameter_px and (item.picks["kind"] == "particle").any()
        ]
        if not bare or self._diameter_typed:
            return own
        images = {micrograph_name(m): m for m in micrograph_layers(self.viewer)}
        from napari_cryopick.core.text import name_list

        groups = _by_pixel_size(bare, [images.get(item.micrograph) for item in items])
        if known and np.isfinite(known) and known > 0 and len(groups) == 1:
            # the starting model's diameter of this data set, as cryopick train takes it
            # (a review: the image estimate retrained its head at another scale); in
            # pixels of one pixel size: micrographs of several are estimated each
            # (cryopick train asks for --diameter-A there)
            diameter = round(float(known), 1)
            names = [items[i].micrograph for i in bare]
            self._estimate_notes.append(
                f"no particle diameter given for {name_list(names, 3)}: {diameter:g} px, the "
                "diameter the model trained from learned their data set at, as cryopick "
                "train takes it (Annotate shows it now): type another in Annotate if the "
                "particles differ"
            )
            return self._estimated(items, own, images, bare, diameter)
        for group in groups:
            diameter = self._estimate_from_clicks(items, images, group, len(groups) > 1)
            if diameter is not None:
                own = self._estimated(items, own, images, group, diameter)
        return own

    def _estimate_from_clicks(
        self, items: list[Annotations], images: dict[str, Any], group: list[int], apart: bool
    ) -> float | None:
        """The diameter the micrographs ``items[group]`` (of one pixel size) show around
        their clicks, said in the status (with their pixel size if ``apart`` from others);
        None where none can be measured (said too)."""
        from napari_cryopick.core.diameter import estimate_diameter
        from napari_cryopick.core.text import name_list

        names = [items[i].micrograph for i in group]
        # (from any number of clicks, as cryopick train: fewer are noisier, and the status
        # asks to measure one particle)
        tables = [items[i].picks[items[i].picks["kind"] == "particle"][["x", "y"]] for i in group]
        sources = [
            np.asarray(images[items[i].micrograph].data, np.float32)
            if items[i].micrograph in images
            else items[i].micrograph_path
            for i in group
        ]
        try:
            found = estimate_diameter(sources, tables)
        except (ValueError, OSError):
            return None
        if found.at_limit:  # (x, y only: always an estimate from the image)
            # (cryopick train refuses it; here the box's value, said)
            self._estimate_notes.append(
                f"no particle diameter given for {name_list(names, 3)}, and around the "
                f"{found.n_picks} clicks the micrographs show no particle up to "
                f"{found.diameter_px:.0f} px: trained at the Train box's "
                f"{self.diameter_spin.value():g} px; press Measure in Annotate and drag "
                "across one particle to set it"
            )
            return None
        diameter = round(float(found.diameter_px), 1)
        sizes = [
            images[n].metadata.get("pixel_size") for n in names if n in images
        ]  # (of one group: the first known one)
        from napari_cryopick.workflows.inputs import known_pixel_size

        size = next((float(v) for v in sizes if known_pixel_size(v)), None)
        at = f" at {size:g} Å/px" if size and apart else ""
        self._estimate_notes.append(
            f"no particle diameter given for {name_list(names, 3)}: {diameter:g} px{at}, "
            f"estimated from the micrographs around {found.n_picks} clicks, as cryopick "
            "train does (Annotate shows it now); an estimate from the image alone can be "
            "off (1.5x on a hollow particle such as apoferritin): press Measure in "
            "Annotate and drag across one particle to set it"
        )
        return diameter

    def _estimated(
        self,
        items: list[Annotations],
        own: list[float | None],
        images: dict[str, Any],
        group: list[int],
        diameter: float,
    ) -> list[float | None]:
        """``own`` with ``diameter`` for the micrographs ``items[group]``, kept on their
        layers once the request is built (:meth:`_keep_estimates`)."""
        own = list(own)
        for i in group:
            own[i] = diameter
            layer = images.get(items[i].micrograph)
            if layer is not None:
                self._estimates.append((layer, diameter))
        return own

    def _keep_estimates(self) -> None:
        """Give the micrographs the diameters estimated for them by the request just built
        (Annotate shows them, the circles are drawn at them) and save them in their
        sidecars, as a diameter typed in Annotate (a GUI trial's reopened session showed
        100 px again). Only a request the widget accepted: a refused one (e.g. fiber paths
        of the data set without a width) leaves no estimate behind (a review)."""
        from .annotate import save_sidecar

        for layer, diameter in self._estimates:
            if set_micrograph_settings(self.viewer, layer, diameter_px=diameter):
                with contextlib.suppress(OSError):  # (Annotate's next save says why)
                    save_sidecar(self.viewer, layer)
        self._estimates = []

    def _diameter_of(self, item: Annotations) -> float | None:
        """Scale of one micrograph that is not of a vesicles-only data set: its particle
        diameter, or its objects' median size; None for fiber paths nobody gave a width."""
        picks = item.picks
        if not (picks["kind"] == "particle").any():
            objects = picks[picks["kind"] != "negative"]
            sizes = objects["diameter"].to_numpy(float)
            keep = np.isfinite(sizes) & (sizes > 0)
            if keep.any():
                return float(np.median(sizes[keep]))
            if not item.diameter_px and (objects["kind"] == "fiber").any():
                return None
        return float(item.diameter_px or self.diameter_spin.value())

    def confirm_forgetting(self, question: str) -> bool:
        """Ask whether to train a mode that makes the model forget data sets (No is the
        default). Tests replace it."""
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self, "napari-cryopick", question, QMessageBox.Yes | QMessageBox.No, QMessageBox.No
        )
        return answer == QMessageBox.Yes

    def start(self) -> Any:
        """Start training in a napari worker; returns the worker (None on bad input)."""
        if self.worker is not None:
            return self.worker
        # the time budget is the whole job's, from the press of Train (as the CLI's
        # from its start): reading the micrographs and the starting model's pass count
        pressed = time.perf_counter()
        self.refresh_datasets()  # every click so far, the data-set names as they are now
        try:
            request = dataclasses.replace(self.build_request(), started_at=pressed)
        except ValueError as exc:
            self.status.setText(str(exc))
            self.last_error = str(exc)
            return None
        # (the asked ones are answered; the others are said again when it ends)
        self._run_notes = [n for n in self._model_warnings if not n.kind]
        forgets = [n for n in self._model_warnings if n.kind == "forgets"]
        if request.resolved_mode not in ("finetune", "joint"):
            forgets = []
        # a data set of the model trained at another size: another protein under its name?
        # (as cryopick train refuses it: a continual trial's apoferritin given β-gal's name
        # replaced β-gal; the widget said so on its status line and trained)
        resized = [n for n in self._model_warnings if n.kind == "resized"]
        # the model file written over: one of data sets the new model would not know (as
        # cryopick train refuses it; a review: 'Save model to' replaced such a file, kept
        # only as the .previous.pt the next training replaces)
        from napari_cryopick.core.text import name_list
        from napari_cryopick.workflows.train import (
            datasets_lost_by_writing,
            datasets_lost_with_previous,
        )

        held, lost = datasets_lost_by_writing(request)
        replaces = []
        if lost:
            replaces = [
                f"{request.out} holds a model of {len(held)} data set(s) "
                f"({name_list(held, 5)}); the model this training writes there would not "
                f"know {name_list(lost, 5)} (the file's earlier version is kept as its "
                ".previous.pt only until the next training)"
            ]
        # ... nor the earlier version it replaces, where that alone knows a data set (a
        # napari trial's apoferritin, left in X.previous.pt by a New model, went unasked)
        previous, only = datasets_lost_with_previous(request)
        if only:
            replaces.append(
                f"{previous.name}, the earlier version kept of {Path(request.out).name}, "
                f"holds the only copy of {name_list(only, 5)}; this training replaces it "
                f"(copy or rename {previous} first to keep it)"
            )
        if forgets or resized or replaces:
            # asked before the minutes of training, not said after the press (a GUI trial's
            # fine-tune on β-gal made the model forget the ribosome; the warning came with
            # the training running)
            parts = dict.fromkeys(forgets + resized + replaces)
            question = " ".join(f"{part}." for part in parts)
            if not self.confirm_forgetting(f"{question}\n\nTrain anyway?"):
                self.status.setText(
                    "Not trained: choose Continual to keep the model's other data sets."
                    if forgets
                    else "Not trained: for another protein, give its micrographs another "
                    "data-set name (Annotate's Data set, or this Data set box)."
                    if resized
                    else "Not trained: give another file in 'Save model to', or add to that "
                    "model: load it in Pick and train with Continual."
                    if lost
                    # (only the earlier version at stake: a review found the advice above
                    # leading to the same question again)
                    else f"Not trained: copy or rename {previous} to keep it (or load it in "
                    "Pick and train with Continual), or give another file in 'Save model to'."
                )
                return None
        self.last_error = ""
        self.last_result = None
        self.last_request = request
        # a model the user loads in Pick while this trains is replaced at its end: said
        self._model_at_start = session(self.viewer).model
        # clicks made while it trains are not in it: said at its end (a GUI trial's clicks
        # on another micrograph during the training were saved, and unsaid not learnt)
        self._labels_at_start = _label_keys(training_set(self.viewer))
        # (the file was named by it just now, from the data sets it trains)
        self._run_name = self._model_dataset(self._request_items)
        self.diameter_note = ""
        self._cancel = threading.Event()
        self.loss_plot.clear()
        # busy until the first step says how many the time limit plans (the Steps box is
        # only their cap: a trial's Cancel at once read "cancelled at step 0 of 1000")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p%")  # (the default; a cancelled run's words gone)
        origin = self.base_origin
        if origin == TRAINED_ORIGIN:  # "the trained in this session" read garbled
            origin = f"model {origin}"
        elif origin and origin != BUNDLED_ORIGIN and session(self.viewer).model_path:
            origin = f"{origin} {session(self.viewer).model_path}"  # which file
        start = _starting_from(origin)
        count = sum(len(s.micrographs) for s in request.datasets)
        of = ""
        if len(request.datasets) > 1:  # which ones: saved annotations may add some
            of = " of " + ", ".join(f"{s.name} ({len(s.micrographs)})" for s in request.datasets)
        self._mode_text = (
            f"Training ({MODES[request.resolved_mode]}) on {count} micrograph(s){of}{start}"
            f"{self.mode_note}{self.size_note}{self.junk_note}{self.kind_note}{self.merge_note}"
            f"{self._corrections_note()}{self._closed_labels_note(request)}"
        )
        self.status.setText(self._mode_text + "…")
        worker = background(_training_job, request, self._cancel)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.train_button.setEnabled(False)
        # the bank's edits and "Save model" would be undone by the result, or write the
        # very file this training writes (it then saved to an odd <stem>.<pid>.pt)
        self.bank_panel.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._showing.add(self._progress.starting(worker, 0, "cryopick training"))
        return worker

    def _corrections_note(self) -> str:
        """Name the micrographs whose corrected picks this training does not learn from.

        Deleted or moved picks are training labels only once Pick's "Use as training
        labels" saves them (a GUI trial's retraining after correcting a micrograph left the
        corrections out, unsaid until the previews skipped it).
        """
        pending = self._pending_corrections()
        if not pending:
            return ""
        return (
            f" (not trained on: your corrections of {name_list(pending, 3)}; Pick's 'Use as "
            "training labels' makes them labels for the next training)"
        )

    def _pending_corrections(self) -> list[str]:
        """The open micrographs holding corrections no training learns yet: deleted or
        moved picks, and picks added by hand that are not particle labels (a napari trial's
        added pick was left out of a retraining, unsaid: ``has_corrections`` counts no
        added pick, a re-pick keeping them)."""
        from .annotate import find_micrograph_layer
        from .result_layers import unlabelled_corrections

        state = session(self.viewer)
        open_now = session_micrographs(self.viewer)
        return sorted(
            name
            for name in state.pick_results
            if name in open_now
            and unlabelled_corrections(self.viewer, name, find_micrograph_layer(self.viewer, name))
        )

    def _closed_labels_note(self, request: Any) -> str:
        """Name the micrographs labelled in this session (Pick's "Use as training labels")
        that are closed now and not among those this training reads: a review trial's
        folder review closed a micrograph it had just labelled (124 labels, 3 negatives),
        and the next training left them out, unsaid."""
        state = session(self.viewer)
        if not state.labelled_in_session:
            return ""
        from napari_cryopick.workflows.train import dataset_holding

        open_now = session_micrographs(self.viewer)
        left = sorted(
            name
            for name in state.labelled_in_session
            if name not in open_now and dataset_holding(request, name) is None
        )
        if not left:
            return ""
        return (
            f" (not trained on: the labels you made on {name_list(left, 3)}, closed since; "
            "tick 'Include saved annotations of closed micrographs' to train on them)"
        )

    def cancel(self) -> None:
        """Stop training at the next step; nothing is saved, the old model stays."""
        if self.worker is None:
            return
        self._cancel.set()
        self.status.setText("Cancelling…")

    def _on_yielded(self, event: Any) -> None:
        if isinstance(event, TrainNote):
            stop = "" if event.text.endswith(("?", ".", "!")) else "."  # (not "right?.")
            sentence = f"{event.text[0].upper()}{event.text[1:]}{stop}"
            note = f" (Warning: {sentence})"
            self.diameter_note += note
            # after the progress, not before it (a parity trial's 250-character diameter
            # warning pushed every "step n/1000, about s left" to the end of the line)
            self.status.setText(self._mode_text + "…" + self.diameter_note)
            # and as napari's warning: in the status line, among the mode's words and the
            # notes of the end, a GUI trial found it easy to miss
            from napari.utils.notifications import show_warning

            show_warning(f"Training: {sentence}")
            return
        if isinstance(event, TrainPreview):
            from .result_layers import has_corrections, showing_pick_result

            if event.micrograph not in session_micrographs(self.viewer) or (
                event.micrograph == self._preview_name and self._preview_gone()
            ):
                # closed while training: its results left the session with it (and another
                # file of its name opened since is not it)
                return
            if has_corrections(self.viewer, event.micrograph):
                self._final_drawn = False
                # a preview would replace the user's deleted, moved and added picks
                self._preview_note = (
                    f" (previews not drawn on {event.micrograph}: it holds corrections not "
                    "yet used as training labels; 'Use as training labels' keeps them, Pick "
                    "re-picks it)"
                )
                return
            # one step per event-loop turn (layers built, then drawn): the viewer answers
            self._showing.add(showing_pick_result(self.viewer, event.micrograph, event.result))
            self._previewed = event.micrograph
            self._final_drawn = True
            self._preview_note = ""  # (drawn again: the corrections became labels meanwhile)
            return
        if getattr(event, "phase", None) == CALIBRATING:  # the loop is over
            if not self._cancel.is_set():
                self.status.setText(
                    _then(
                        self._mode_text,
                        "choosing the pick threshold on the training micrographs…"
                        + self.diameter_note,
                    )
                )
            return
        # the plot first: napari's progress bar may process events (re-entering here)
        self.loss_plot.add(event.step, event.losses, force=event.step >= event.total)
        if self.progress_bar.maximum() != event.total:
            self.progress_bar.setMaximum(int(event.total))
        self.progress_bar.setValue(max(self.progress_bar.value(), int(event.step)))
        eta = getattr(event, "eta_s", None)
        if eta is not None and not self._cancel.is_set():
            cap = getattr(event, "cap", None)
            steps = (
                f"step {event.step} of about {event.total} in the time limit (at most {cap})"
                if cap and event.total < cap
                else f"step {event.step}/{event.total}"
            )
            self.status.setText(
                _then(self._mode_text, f"{steps}, about {_duration(eta)} left")
                + self.diameter_note
                + self._preview_note
            )
        # last: napari's progress bar may process events, and the later steps handled in
        # it must not be overwritten by this one's status (a parity trial read "step 4", 3,
        # 2, 1, then 7, 6, 5)
        self._progress.advance_to(event.step, event.total)

    def _preview_gone(self) -> bool:
        """Whether the micrograph this training previews on was closed meanwhile (also
        when another file of its name was opened since: not the one previewed)."""
        if not self._preview_name or self._preview_identity is None:
            return False  # (both are set together, for the micrograph on screen at Train)
        return not still_the_micrograph(self.viewer, self._preview_name, self._preview_identity)

    def _own_head_threshold(self, outcome: Any, threshold: float) -> float:
        """The threshold the micrograph previewed shows at with each data set's own head:
        its data set's head's calibrated one (the default for a head without one), on the
        slider's step, as the Pick widget shows it; ``threshold`` for a micrograph of no
        data set with a head (``cryopick pick``'s rule, ``workflows.pick``)."""
        from napari_cryopick.core.detect import PickConfig
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import data_set_heads, head_threshold

        from .annotate import find_micrograph_layer
        from .pick import _data_set_heads_of, _picking_dataset

        layer = find_micrograph_layer(self.viewer, self._preview_name)
        card = ModelCard.of_model(outcome.model, outcome.metadata)
        heads = tuple(getattr(outcome.model, "head_names", ()) or ())
        own = _data_set_heads_of(outcome.model, outcome.metadata)  # as Pick's Head box lists
        head = data_set_heads(card, heads, own).get(_picking_dataset(layer)) if layer else None
        if head:
            value = head_threshold(card, head)
            threshold = PickConfig().threshold if value is None else float(value)
        return on_slider_step(threshold)

    def _on_returned(self, value: Any) -> None:
        self._showing.add(self._returned(value))  # after the previews still being shown

    def _returned(self, value: Any) -> Iterator[None]:
        yield from ()
        if value is None:
            # (no model before it: nothing "unchanged" to speak of, a GUI trial)
            text = (
                "Training cancelled: the previous model is unchanged."
                if self._model_at_start is not None
                else "Training cancelled: no model was written."
            )
            # the bar says where it stopped, not a training still under way (a trial read
            # 64/357 after Cancel)
            self.progress_bar.setFormat(
                "cancelled at step %v of %m"
                if self.progress_bar.maximum() > 0
                else "cancelled before the first step"
            )
            shown = self._previewed
            if shown and shown in session_micrographs(self.viewer):
                # its picks are the cancelled model's (a trial exported them unmarked)
                session(self.viewer).earlier_model.add(shown)
                text += (
                    f" The picks shown on {shown} are the cancelled training's last preview: "
                    "Pick re-picks it with the current model."
                )
            self.status.setText(text)
            return
        outcome = value
        threshold = outcome.pick_threshold
        self.last_result = outcome
        self.last_saved = outcome.path
        if outcome.path is not None and self.last_request is not None:
            # the name the file was chosen by when Train was pressed: the box follows the
            # micrograph on screen (a trial switched micrographs while training, and the
            # bgal file was remembered as the ribosome's)
            remember_model_path(self._run_name or self._model_dataset(), Path(outcome.path))
        self.loss_plot.redraw()
        request = self.last_request
        heads = tuple(getattr(outcome.model, "head_names", ()) or ())
        # the head just trained: the data set's own (few-shot, joint, ...), else the
        # model's default head (a new model trains its generic head)
        head = request.datasets[-1].name if request is not None else ""
        if head not in heads:
            head = str(getattr(outcome.model, "default_head", "") or "")
        own = [d.name for d in (request.datasets if request is not None else ()) if d.name in heads]
        if len(own) > 1:
            # several data sets with heads of their own (Joint): Pick picks each micrograph
            # with its own (a trial's ribosome micrograph got the β-gal head: 0 picks)
            head = OWN_HEADS
        state = session(self.viewer)
        replaced = ""
        if state.model is not None and state.model is not self._model_at_start:
            # loaded in Pick during the training (a review: replaced unsaid)
            loaded = state.model_path.name if state.model_path else "the model"
            replaced = (
                f"\nIt replaced {loaded}, loaded in Pick during the training: load that again "
                "in Pick to pick with it."
            )
        self._model_at_start = None
        if threshold is not None:
            # the new model's picks are shown at it, on the slider's step as Pick shows it
            # (a review: 0.0834 filtered where the slider and status said 0.083)
            threshold = on_slider_step(threshold)
            state.display_threshold = threshold
        closed = self._preview_gone()
        # the last preview drawn, on the micrograph previewed (not one whose corrected picks
        # the previews left alone: the old model's, scored on another scale; not another
        # file of its name opened meanwhile)
        fresh = bool(self._preview_name) and self._final_drawn and not closed
        state.set_model(
            outcome.model,
            outcome.path,
            outcome.metadata,
            origin=TRAINED_ORIGIN,
            head=head if head in (*heads, OWN_HEADS) else "",
            threshold=threshold,
            its_own=self._preview_name if fresh else "",
        )
        if fresh:
            state.earlier_model.discard(self._preview_name)  # its final preview: this model's
            previewed = state.pick_results.get(self._preview_name)
            if previewed is not None and outcome.path is not None:  # kept with corrections
                from napari_cryopick.io.recovery import file_stamp

                # with the file's stamp, as Pick's picks: a later training into the file
                # makes them an earlier version's after a restart too (a review)
                state.pick_results[self._preview_name] = dataclasses.replace(
                    previewed,
                    model_file=str(Path(outcome.path).resolve()),
                    model_stamp=file_stamp(outcome.path),
                )
            if threshold is not None:
                # shown at the new model's threshold (a GUI trial: "picks shown at threshold
                # 0.15", and 0.5's shown, exported); with each data set's own head, at its
                # head's, as Pick set it for the micrograph (a GUI trial: 548 picks of 0.05
                # and more shown while the slider and status said apoferritin's 0.083)
                from .result_layers import apply_display_threshold

                if head == OWN_HEADS:
                    threshold = self._own_head_threshold(outcome, threshold)
                    state.micrograph_thresholds[self._preview_name] = threshold
                apply_display_threshold(self.viewer, self._preview_name, threshold)
                state.picks_changed.emit(self._preview_name)
        from napari_cryopick.workflows.train import steps_cut_short

        cut = steps_cut_short(outcome)
        ended = (
            f" (the time limit ended it after {cut[0]} of at most {cut[1]} steps)" if cut else ""
        )
        picked = ""
        shown = current_micrograph_layer(self.viewer)
        elsewhere = shown is not None and micrograph_name(shown) != self._preview_name
        if threshold is not None and self._preview_name and (not self._final_drawn or closed):
            picked = f"; its threshold {threshold_text(threshold)}"
        elif threshold is not None and self._preview_name and elsewhere:
            # a trial switched micrographs while training: "picks shown", none on screen
            picked = (
                f"; picks shown on {self._preview_name} at threshold {threshold_text(threshold)} "
                f"(not on {micrograph_name(shown)}: press Pick there)"
            )
        elif threshold is not None and self._preview_name and shown is not None:
            picked = f"; picks shown at threshold {threshold_text(threshold)}"
        elif threshold is not None:  # nothing on screen to show picks on
            picked = f"; its threshold {threshold_text(threshold)} (press Pick to see its picks)"
        note = self._preview_note
        if closed:  # its previews and final picks left the session with it
            picked += f" ({self._preview_name} was closed during training: no picks shown)"
            note = ""  # why previews were not drawn on it no longer matters
        using = head_words(head)
        from napari_cryopick.workflows.train import training_notes

        clicks = sum(
            int((table["kind"] != "negative").sum())
            for training_set in (request.datasets if request is not None else ())
            for table in training_set.picks
            if "kind" in getattr(table, "columns", ())
        )
        said = training_notes(outcome, clicks, gui=True)
        # the starting model's advice of this run (fewer labels than it learnt the data set
        # from, a head given to an earlier data set, ...): said at the end too (a napari
        # trial read it while training, and the final status dropped it)
        said += [str(n) for n in self._run_notes]
        pending = self._pending_corrections()
        if pending:
            # said at the end too: a user who looks after a 2-minute training did not
            # see it in the running status (a napari trial)
            said.append(
                f"not trained on: your corrections of {name_list(pending, 3)} (Pick's 'Use "
                "as training labels' makes them labels for the next training)"
            )
        changed = self._labels_changed_since_start()
        if changed:
            said.append(
                f"the labels of {name_list(changed, 3)} changed during the training (clicks "
                "added, moved or deleted, or picks used as labels): this model did not learn "
                "those changes; press Train again to use them"
            )
        notes = "".join(f"\nNote: {n[0].upper()}{n[1:]}." for n in said)
        self.status.setText(
            f"Training done in {_duration(outcome.seconds)}{ended}; model saved to "
            f"{outcome.path}{using}{picked}{note}.{self.diameter_note}{replaced}{notes}"
        )

    def _labels_changed_since_start(self) -> list[str]:
        """The open micrographs whose training labels differ from those at Train's press."""
        before = getattr(self, "_labels_at_start", None)
        if before is None:
            return []
        now = _label_keys(training_set(self.viewer))
        # (a micrograph closed meanwhile is not changed: a re-trial's was named)
        return sorted(name for name in now if before.get(name) != now[name])

    def _on_errored(self, exc: Exception) -> None:
        self.last_error = str(exc)
        # after the previews still being shown: one drawn later took its micrograph out of
        # the earlier model's again (the mark was lost, now and then, in CI)
        self._showing.add(self._failed(exc))

    def _failed(self, exc: Exception) -> Iterator[None]:
        yield from ()
        text = f"Training failed: {exc}"
        shown = self._previewed
        if shown and not self._preview_gone():
            # its previews are the failed training's (a dead model's): marked so, and said,
            # as after Cancel (Export said nothing of them)
            session(self.viewer).earlier_model.add(shown)
            text += (
                f" The picks shown on {shown} are the failed training's last preview: "
                "Pick re-picks it with the current model."
            )
        self.status.setText(text)

    def _on_finished(self) -> None:
        self._showing.add(self._finishing())

    def _finishing(self) -> Iterator[None]:
        yield from ()
        self.worker = None
        self._progress.close()
        if self.progress_bar.maximum() == 0:  # no step done: no longer busy
            self.progress_bar.setRange(0, 1)
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.bank_panel.setEnabled(True)

    def _on_window_close(self) -> None:
        """napari's window is closing: a running training stops (nothing written), not
        finishes unseen and writes a model file nobody asked for any more."""
        if self.worker is not None:
            self._cancel.set()


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
