"""Training, one path for every caller: a :class:`TrainRequest` served by :func:`train`.

``cryopick train``, the napari Train widget, the benchmarks and the tests
all run :func:`train`. It

1. checks the request and that the output file can be written, *before*
   anything is trained;
2. prepares the data sets (micrographs + picks at their particle diameter);
3. dispatches the training mode (``new``, ``joint``, ``finetune``,
   ``continual``, ``fewshot``) to :func:`napari_cryopick.core.continual.train_model`,
   which maintains the exemplar bank and the model card;
4. yields :class:`napari_cryopick.core.training.TrainProgress` events and, every
   ``preview_every`` steps and at the end, a :class:`TrainPreview` of a
   micrograph picked with the model being trained (every mode);
5. writes the checkpoint atomically (metadata = the model card) and returns
   a :class:`TrainOutcome`.

Closing the generator cancels training: nothing is written, an existing
output file stays as it was. If the output cannot be written at the end (a
full disk), the trained model is saved in the temporary folder and the
error says where (:class:`TrainOutputError`).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import logging
import math
import numbers
import os
import shutil
import tempfile
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "MODES",
    "MirroredClicksError",
    "TrainOutcome",
    "TrainOutputError",
    "TrainPreview",
    "TrainRequest",
    "TrainingSet",
    "check_usable_labels",
    "check_writable",
    "dataset_holding",
    "diameter_warnings",
    "train",
    "training_notes",
]

logger = logging.getLogger(__name__)

#: Training modes (see :mod:`napari_cryopick.core.continual`, whose ``MODES`` a test keeps
#: equal), here so that a command line or a form needs no torch import.
MODES: tuple[str, ...] = ("new", "joint", "finetune", "continual", "fewshot")
#: Modes that adapt an existing model (the bundled one when none is given).
ADAPT_MODES: tuple[str, ...] = ("finetune", "continual", "fewshot")


class MirroredClicksError(ValueError):
    """Clicks that look mirrored top to bottom, refused before training
    (:attr:`TrainRequest.refuse_mirrored`)."""


class TrainOutputError(OSError):
    """The checkpoint could not be written; the message says where the model went instead."""


@dataclass(frozen=True)
class TrainingSet:
    """One data set: micrographs, their picks and the particle diameter.

    Attributes
    ----------
    name
        Data-set name (the name of its head in multi-head modes).
    micrographs
        Micrograph files, :class:`napari_cryopick.io.micrographs.Micrograph`
        objects or ``[H, W]`` arrays.
    picks
        One pick table per micrograph (original pixels; negatives with
        ``kind="negative"``).
    diameter_px
        Particle diameter in pixels: one for the set or one per micrograph.
        None: the median of the picks' own diameters (e.g. BOX widths).
    names
        Micrograph names (default: the file stems / ``Micrograph.name``).
    diameter_A
        The particle diameter in Å where known (given in Å, or measured at each
        micrograph's pixel size where they differ); None otherwise.
    """

    name: str
    micrographs: Sequence[Any]
    picks: Sequence[Any]
    diameter_px: float | Sequence[float] | None = None
    names: Sequence[str] | None = None
    diameter_A: float | None = None

    def __post_init__(self) -> None:
        if len(self.micrographs) != len(self.picks):
            raise ValueError(
                f"data set {self.name!r}: {len(self.micrographs)} micrographs but "
                f"{len(self.picks)} pick tables"
            )


@dataclass(frozen=True)
class TrainRequest:
    """What to train, from what, and where to write it.

    Attributes
    ----------
    datasets
        The data to train on (exactly one for ``fewshot``).
    out
        Checkpoint to write (None: write nothing; the outcome holds the model).
    mode
        One of :data:`MODES`; None: ``new``, or ``finetune`` with a base model.
    base_model
        Checkpoint path or loaded detector to start from; None: the bundled
        general model where the mode needs one (``finetune``, ``continual``,
        ``fewshot``).
    base_metadata
        Metadata (model card) of a loaded ``base_model``.
    kinds
        Kinds of a fresh model (None: the kinds present in the picks).
    model_options
        :class:`napari_cryopick.core.model.DetectorConfig` fields of a fresh
        model (``widths``, ``target_diameter_px``, ...).
    train_options
        :class:`napari_cryopick.core.training.TrainConfig` fields (``steps``,
        ``batch_size``, ``crop_size``, ``lr``, ``sparse``, ``seed``, ...).
    continual_options
        :class:`napari_cryopick.core.continual.ContinualConfig` fields
        (``max_exemplars``, ``distill_weight``, ...).
    time_limit_s
        Wall-clock budget in seconds of the whole job, from ``started_at``
        (reading the micrographs, the starting model's pass over them, the
        training loop, the pick threshold and the checkpoint; see
        :func:`napari_cryopick.core.training.loop_time_limit`); ``"auto"``:
        TrainConfig's automatic budget (120 s on a CPU, 20 s on a GPU); None:
        no limit (``steps`` only).
    started_at
        :func:`time.perf_counter` value at which the user started the job
        (the command's start, the press of Train), from which the budget
        counts; None: when :func:`train` starts.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    unlabelled
        Micrographs without labels of the same data. Not used by :func:`train`
        yet (pseudo-label rounds, :mod:`napari_cryopick.core.unlabelled`, are
        not wired into the modes); a warning says so when some are given.
    preview
        Micrograph to preview while training (file, Micrograph or array), or None.
    preview_every
        Preview every this many steps (0: only at the end).
    preview_dataset, preview_diameter_px
        The preview micrograph's data set and diameter when it is none of the
        training micrographs (the napari user's settings for it): previewed with
        that data set's head at that diameter, not the last data set's (a trial's
        unannotated β-gal micrograph was previewed at the ribosome's 56 px, and the
        export wrote those picks). None: the last data set's.
    run_info
        Extra plain-type fields for this run's history record (tool version,
        micrograph names, ...).
    refuse_mirrored
        Stop before training (:class:`MirroredClicksError`, no model written) where the
        clicks of the whole set or of one micrograph look mirrored top to bottom
        (:mod:`napari_cryopick.core.click_check`); False: a warning, as napari shows.
        ``cryopick train`` stops unless ``--allow-misplaced``: a trial's script got a
        model of the mirrored positions (AP 0.008 instead of 0.85) with exit status 0.
        Clicks that sit on particles only scaled up by a power of two (coordinates of
        binned micrographs) are refused alike.
    """

    datasets: Sequence[TrainingSet]
    out: Path | None = None
    mode: str | None = None
    base_model: Any = None
    base_metadata: Mapping[str, Any] | None = None
    kinds: tuple[str, ...] | None = None
    model_options: Mapping[str, Any] = field(default_factory=dict)
    train_options: Mapping[str, Any] = field(default_factory=dict)
    continual_options: Mapping[str, Any] = field(default_factory=dict)
    time_limit_s: float | str | None = "auto"
    started_at: float | None = None
    device: str = "auto"
    unlabelled: Sequence[Path] = ()
    preview: Any = None
    preview_every: int = 0
    preview_dataset: str | None = None
    preview_diameter_px: float | None = None
    run_info: Mapping[str, Any] = field(default_factory=dict)
    refuse_mirrored: bool = False

    def __post_init__(self) -> None:
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))
        if self.mode == "new" and self.base_model is not None:
            raise ValueError(
                "mode 'new' trains a fresh model and uses no base model: give mode "
                "'finetune', 'continual', 'fewshot' or 'joint' to start from it"
            )
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(
                f"unknown training mode {self.mode!r}; choose one of {', '.join(MODES)}"
            )
        limit = self.time_limit_s
        if isinstance(limit, str):
            if limit != "auto":
                raise ValueError(f"time limit must be seconds, 'auto' or None, got {limit!r}")
        elif limit is not None and not (math.isfinite(limit) and limit > 0):
            raise ValueError(f"time limit must be > 0 seconds, got {limit}")
        if self.preview_every < 0:
            raise ValueError(f"preview interval must be >= 0, got {self.preview_every}")
        if not self.datasets:
            raise ValueError("no data sets to train on")

    @property
    def resolved_mode(self) -> str:
        """The mode to run (:func:`resolve_mode`)."""
        return resolve_mode(self.mode, self.base_model is not None)


def resolve_mode(mode: str | None, has_base_model: bool) -> str:
    """The mode a training runs: ``mode``, else ``finetune`` with a base model, else
    ``new`` (:attr:`TrainRequest.resolved_mode`; ``cryopick train`` checks its options
    by it before reading any micrograph)."""
    if mode is not None:
        return mode
    return "finetune" if has_base_model else "new"


@dataclass(frozen=True)
class TrainPreview:
    """A micrograph picked with the model being trained.

    ``result`` is a :class:`napari_cryopick.workflows.pick.MicrographPicks`, as
    Pick makes it (fibers traced); ``final`` marks the preview of the finished
    model.
    """

    step: int
    total: int
    micrograph: str
    result: Any = field(repr=False)
    final: bool = False


@dataclass(frozen=True)
class TrainOutcome:
    """Result of :func:`train`.

    Attributes
    ----------
    model
        The trained detector (eval mode, CPU).
    card
        Its :class:`napari_cryopick.core.model.card.ModelCard`.
    metadata
        The checkpoint metadata (``card.to_metadata()``).
    path
        The checkpoint written, or None.
    history
        Per-step loss records of this run.
    completed
        True when training ran to its end: its planned steps, or the step that
        reached the time limit (``steps`` below the planned ones then says the
        budget ended it); False when it was stopped (cancelled) before.
    seconds
        Wall-clock time of the whole job (from ``TrainRequest.started_at``
        when given).
    mode
        The mode that ran.
    pick_threshold
        The threshold the model picks at by default
        (:func:`calibrate_threshold`, stored in the run's history record);
        None: ``PickConfig``'s.
    pick_border
        The border margin the model picks with by default
        (:func:`napari_cryopick.core.detect.border_from_clicks` on the
        trained data set's clicks, stored in the run's history record);
        None: ``PickConfig``'s.
    previous
        Where the file that ``path`` replaced was kept
        (:func:`previous_model_path`), or None when nothing was replaced.
    """

    model: Any
    card: Any
    metadata: dict[str, Any]
    path: Path | None
    history: list[dict[str, Any]]
    completed: bool
    seconds: float
    mode: str
    pick_threshold: float | None = None
    pick_border: float | None = None
    previous: Path | None = None


#: Below this many clicks, a model trained from a general model that already sees
#: the particles can pick worse than the general model itself: the leave-one-out
#: beta-galactosidase clicks curve (``bench_accuracy.py``, tags s11b / s12) scores
#: 0.735 / 0.703 / 0.744 / 0.808 at 10 / 25 / 50 / 100 clicks against 0.751 zero-shot.
FEW_CLICKS = 100


def steps_cut_short(outcome: TrainOutcome) -> tuple[int, int] | None:
    """``(steps done, steps planned)`` when the time budget ended training early, else None."""
    history = outcome.metadata.get("history") if isinstance(outcome.metadata, dict) else None
    run = history[-1] if history else {}
    planned = run.get("planned_steps") if isinstance(run, dict) else None
    done = len(outcome.history)
    if not isinstance(planned, numbers.Number) or done >= int(planned) or not outcome.completed:
        return None
    return done, int(planned)


#: A time limit that ended training before this share of its planned steps is said.
TOO_FEW_STEPS_FRACTION = 0.25


def training_notes(outcome: TrainOutcome, n_clicks: int, *, gui: bool = False) -> list[str]:
    """What the user should know about a finished training, beyond its numbers.

    When the starting (general) model already saw the particles, training took
    half the crops per click (``ContinualConfig.seen_views_factor``), which the
    step count announced before training could not know; with fewer than
    :data:`FEW_CLICKS` clicks it can also end below the general model's own
    zero-shot picks, which is worth comparing. ``gui``: the Train widget's
    wording (no command-line options).
    """
    notes = []
    if outcome.previous is not None:
        notes.append(
            f"{outcome.path} already existed: the model it held is kept as {outcome.previous} "
            "(one earlier version is kept; the next training into the same file replaces it)"
        )
    cut = steps_cut_short(outcome)
    if cut is not None and cut[0] < TOO_FEW_STEPS_FRACTION * cut[1]:
        # a trial on a busy machine: 1 of 1000 steps in a 20 s budget, saved as a model
        more = "a longer time limit" if gui else "a longer --time-limit"
        notes.append(
            f"the time limit ended training after only {cut[0]} of {cut[1]} steps: the "
            f"model may have learned little; train again with {more} (reading and "
            "preparing large micrographs, and a busy machine, take from the same budget)"
        )
    history = outcome.metadata.get("history") if isinstance(outcome.metadata, dict) else None
    run = history[-1] if history else {}
    protected = run.get("protected") if isinstance(run, dict) else None
    if gui:  # (also where the starting model sees the particles: a GUI trial's 5000 Steps
        # trained 100, said only as "30 crops per click, half the default")
        notes += _click_limit_note(run, n_clicks)
    if not isinstance(protected, dict) or protected.get("views_per_label") is None:
        return notes
    notes.append(
        f"the starting model already sees these particles (it ranks your clicks above "
        f"random places with probability {protected['separation']:.2f}), so training was "
        f"planned at {protected['views_per_label']:g} crops per click, half the default"
    )
    if n_clicks < FEW_CLICKS:
        zero_shot = (
            "the Pick widget's bundled general model" if gui else "the bundled model, no --model"
        )
        notes.append(
            f"with few clicks ({n_clicks}), a model trained from one that already sees the "
            "particles can pick worse than that model itself; compare on a few micrographs "
            f"with zero-shot picking ({zero_shot}) before picking them all"
        )
    return notes


def _click_limit_note(run: Any, n_clicks: int) -> list[str]:
    """The Train widget's note where the clicks, not Steps, set the steps trained
    (``TrainConfig.views_per_label``): a vesicle trial set 100000 steps and a minute,
    got 135 steps in 7 s, and nothing said why. (``cryopick train`` says it before.)"""
    if not isinstance(run, dict):
        return []
    config = run.get("train_config") if isinstance(run.get("train_config"), dict) else {}
    asked, planned = config.get("steps"), run.get("planned_steps")
    views = config.get("views_per_label")
    numbers_given = all(isinstance(v, numbers.Number) for v in (asked, planned, views))
    if not numbers_given or int(planned) >= int(asked) or n_clicks <= 0:
        return []
    batch = config.get("batch_size")
    fraction = config.get("positive_crop_fraction")
    warmup = config.get("warmup_steps")
    from napari_cryopick.core.training import views_step_count

    expected = (
        views_step_count(views, n_clicks, batch, fraction)
        if all(isinstance(v, numbers.Number) for v in (batch, fraction))
        else int(planned)
    )
    fewest = 2 * int(warmup) if isinstance(warmup, numbers.Number) else 0
    extra = ""
    if int(planned) > max(expected, fewest) and run.get("mode") == "continual":
        extra = " and the earlier data sets' exemplars replayed"  # (they count as clicks)
    elif int(planned) == fewest and expected < fewest:
        extra = f", and {fewest} steps at the fewest"
    return [
        f"training planned {int(planned)} steps, not the {int(asked)} of Steps: "
        f"{views:g} crops per click for your {n_clicks} clicks{extra}, so that a few "
        "clicks are not learned by heart (more clicks train longer; Steps and Time limit "
        "are upper bounds)"
    ]


#: Fewer particle clicks than this are not measured against the diameter given.
MIN_CLICKS_TO_MEASURE = 10


def diameter_warnings(datasets: Sequence[TrainingSet]) -> list[str]:
    """Data sets whose given particle diameter the micrographs contradict (> 25 %).

    The size the micrographs show around each set's particle clicks
    (:func:`napari_cryopick.core.diameter.estimate_diameter`, the picks' own
    diameters ignored: in the Train widget they are the diameter typed) is
    compared with the set's diameter (:func:`~napari_cryopick.core.diameter.check_diameter`).
    ``cryopick train`` checks its pick files as it reads them
    (:mod:`napari_cryopick.workflows.inputs`); the Train widget calls this in its
    training job, so a diameter typed wrong in Annotate is said before the
    minutes of training it spoils (a trial typed 20 px for 108 px particles
    and nothing said so).
    """
    import numpy as np

    from napari_cryopick.core.diameter import check_diameter, estimate_diameter
    from napari_cryopick.io.micrographs import Micrograph

    notes = []
    for training_set in datasets:
        if training_set.diameter_px is None:
            continue  # the picks' own diameters: nothing was given
        n = len(training_set.micrographs)
        sizes = np.broadcast_to(np.asarray(training_set.diameter_px, float).reshape(-1), n)
        images, tables, given = [], [], []
        for i, (micrograph, table) in enumerate(
            zip(training_set.micrographs, training_set.picks, strict=True)
        ):
            if "kind" in getattr(table, "columns", ()):
                table = table[table["kind"] == "particle"]
            if len(table):  # the diameter of the micrographs with particle clicks only
                images.append(micrograph.data if isinstance(micrograph, Micrograph) else micrograph)
                tables.append(table[["x", "y"]])
                given.append(float(sizes[i]))
        if sum(len(t) for t in tables) < MIN_CLICKS_TO_MEASURE:
            continue
        try:
            message = check_diameter(float(np.median(given)), estimate_diameter(images, tables))
        except (ValueError, OSError):  # nothing measurable, an unreadable file
            continue
        if message is not None:
            notes.append(f"data set '{training_set.name}': {message}")
    return notes


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------


def _micrograph_sizes(datasets: Sequence[Any]) -> dict[str, list[int]]:
    """``{data set: [rows, columns]}``, the median size of its training micrographs in
    original pixels (their prepared images over their preparation scales)."""
    import numpy as np

    sizes: dict[str, list[int]] = {}
    for dataset in datasets:
        shapes = [
            (
                example.prepared.shape[0] / example.prepared.scale_y,
                example.prepared.shape[1] / example.prepared.scale_x,
            )
            for example in dataset.examples
        ]
        if shapes:
            rows, cols = np.median(np.asarray(shapes, float), axis=0)
            sizes[str(dataset.name)] = [int(np.rint(rows)), int(np.rint(cols))]
    return sizes


def misplaced_clicks(examples: Sequence[Any], diameter_px: float) -> list[str]:
    """Micrographs whose particle clicks sit on nothing the other clicks sit on.

    :mod:`napari_cryopick.core.click_check` on the prepared micrographs (particles at
    ``diameter_px``): clicks saved against another micrograph, or with y counted from the
    other edge, are said before the training they spoil (a trial's clicks of one
    micrograph trained on another: AP@0.5 0.07 instead of 0.57, nothing said).
    """
    import numpy as np

    from napari_cryopick.core.click_check import check_clicks

    clicks = []
    for example in examples:
        picks = example.pick_arrays()
        particle = picks.kind == "particle"
        clicks.append(np.column_stack([picks.x[particle], picks.y[particle]]))
    return check_clicks(
        [example.prepared.image for example in examples],
        clicks,
        [example.name for example in examples],
        diameter_px,
    )


def check_writable(path: Path) -> None:
    """Fail now, not after training, if ``path`` cannot be written.

    Creates the parent folder if needed and writes (then removes) a probe
    file next to ``path``.

    Raises
    ------
    ValueError
        ``path`` is a folder, or its parent is a file.
    OSError
        The folder cannot be created or written (the message names it).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give the checkpoint file name")
    if path.exists() and not path.is_file():
        # (a trial's --out /dev/null trained to the end, then could not write there)
        raise ValueError(
            f"{path}: is not a regular file (a device or a pipe); give the checkpoint file name"
        )
    _refuse_replacing_data(path)
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{path}: {parent} is not a folder")
    from napari_cryopick.io.paths import read_only_text

    reason = read_only_text(parent)  # (root may write there: not said by the probe)
    if reason is not None:
        raise ValueError(f"{path}: {reason}")
    try:
        if not parent.exists():  # said: a typo in --out made folders unsaid (a trial)
            parent.mkdir(parents=True)
            logger.info("created the folder %s for the model", parent)
        descriptor, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OSError(error.errno, f"{path}: cannot write the model there ({reason})") from None


def _refuse_replacing_data(path: Path) -> None:
    """Refuse a model file name that is a data file's: one with the suffix of a file a
    training reads (micrograph, pick file, micrograph list, annotation file), or an
    existing file that is not a model checkpoint (a trial's ``--out`` of an input
    micrograph wrote the model over it and moved the micrograph aside)."""
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES
    from napari_cryopick.io.paths import (
        MICROGRAPH_LIST_SUFFIXES,
        SIDECAR_SUFFIX,
        pick_file_suffixes,
    )

    data = {*MICROGRAPH_SUFFIXES, *pick_file_suffixes(), *MICROGRAPH_LIST_SUFFIXES}
    if path.suffix.lower() in data | {Path(SIDECAR_SUFFIX).suffix}:
        raise ValueError(
            f"{path}: a {path.suffix} file is a micrograph or pick file, not a model: give "
            "the model file name, e.g. model.pt"
        )
    if path.is_file() and not _is_checkpoint(path):
        raise ValueError(
            f"{path}: exists and is not a model file, so training would replace it: give "
            "another file name for the model"
        )


def _is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a napari-cryopick model file: a torch archive whose dictionary
    says ``format`` napari-cryopick, damaged weights or not (retraining into it is how a
    user mends one); another tool's torch file is not (a continual trial's was replaced by
    a training's ``--out``, kept only as the ``.previous.pt`` the next training replaces)."""
    import zipfile

    import torch

    from napari_cryopick.core.model.checkpoint import FORMAT_NAME

    try:
        with zipfile.ZipFile(path) as archive:
            if not any(name.rsplit("/", 1)[-1] == "data.pkl" for name in archive.namelist()):
                return False
        # (mapped, not read: another tool's file may be gigabytes)
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # torch raises many types on files it cannot read
        return False
    return isinstance(checkpoint, dict) and checkpoint.get("format") == FORMAT_NAME


def check_usable_labels(
    training_set: TrainingSet, kinds: Sequence[str], model: str | None = None
) -> None:
    """Refuse a data set without a pick of a kind the model detects, before training.

    A model's kinds are fixed when it is made, and an adapted model keeps
    them: vesicle picks for a particle model, or negatives alone, train it on
    nothing (a trial's few-shot run from a vesicle model on apoferritin clicks
    said only that the particles were ignored, trained, and wrote a head that
    had learnt nothing). ``model``: the starting model as the message names it
    (``"the model vesicles.pt"``); None for a new model.

    Raises
    ------
    ValueError
        One line naming the data set, the kinds its picks are of, the
        model's kinds and what to do.
    """
    found = {
        str(k) for t in training_set.picks if "kind" in t.columns and len(t) for k in t["kind"]
    }
    if any(len(t) and "kind" not in t.columns for t in training_set.picks):
        found.add("particle")  # a table without kinds holds particles (normalize_picks)
    objects = sorted(found - {"negative"})
    if set(objects) & set(kinds):
        return
    wanted = ", ".join(kinds)
    name = f"data set {training_set.name!r}"
    if not objects:
        held = "only negatives" if found else "no picks"
        raise ValueError(
            f"{name}: {held}, nothing to learn what to pick from; add picks of the objects "
            f"to pick ({wanted})"
        )
    given = ", ".join(objects)
    if model is None:
        raise ValueError(
            f"{name}: its picks are of kind {given} and the new model is made for {wanted} "
            f"only; make it for {given}"
        )
    raise ValueError(
        f"{name}: its picks are of kind {given} and {model} detects only {wanted} (a "
        f"model's kinds are fixed when it is made), so there is nothing to train on; train a "
        f"new model for {given} (--mode new), start from a model that detects {given} "
        f"(another --init), or, if the picks mark {kinds[0]}s, say so (--kind {kinds[0]})"
    )


def _set_of(request: TrainRequest, micrograph: str) -> int:
    """Index of the training set holding the micrograph named ``micrograph``; else the
    one named ``request.preview_dataset``; else the last one."""
    index = dataset_holding(request, micrograph)
    if index is not None:
        return index
    for index, training_set in enumerate(request.datasets):
        if request.preview_dataset and training_set.name == request.preview_dataset:
            return index
    return len(request.datasets) - 1


def dataset_holding(request: TrainRequest, micrograph: str) -> int | None:
    """Index of the training set holding the micrograph named ``micrograph`` (None: none)."""
    for index, training_set in enumerate(request.datasets):
        names = training_set.names
        if names is None:
            names = [
                Path(m).stem if isinstance(m, (str, os.PathLike)) else getattr(m, "name", "")
                for m in training_set.micrographs
            ]
        if micrograph and micrograph in names:
            return index
    return None


def _own_or(head: str | None, fallback: str | None, model: Any) -> str | None:
    """``head`` when ``model`` has it, else ``fallback``."""
    return head if head in (getattr(model, "head_names", ()) or ()) else fallback


def _median_diameter(training_set: TrainingSet, tables: Sequence[Any]) -> float:
    import numpy as np

    values = []
    for table in tables:
        if "diameter" in table.columns and len(table):
            kept = table[table["kind"] != "negative"] if "kind" in table.columns else table
            values.extend(kept["diameter"].to_numpy(np.float64).tolist())
    finite = [v for v in values if math.isfinite(v) and v > 0]
    if not finite:
        raise ValueError(
            f"data set {training_set.name!r}: no particle diameter given and none in its picks; "
            "give --diameter or --diameter-A"
        )
    return float(np.median(finite))


def _diameters(training_set: TrainingSet) -> list[float]:
    count = len(training_set.micrographs)
    value = training_set.diameter_px
    if value is None:
        diameters = [_median_diameter(training_set, training_set.picks)] * count
    elif isinstance(value, numbers.Real):  # numpy scalars too
        diameters = [float(value)] * count
    else:
        diameters = [float(v) for v in value]
        if len(diameters) != count:
            raise ValueError(
                f"data set {training_set.name!r}: {len(diameters)} diameters for {count} micrographs"
            )
    for diameter in diameters:
        if not (math.isfinite(diameter) and diameter > 0):
            raise ValueError(
                f"data set {training_set.name!r}: particle diameter must be > 0, got {diameter}"
            )
    return diameters


def _preview_picks(
    model: Any,
    image: Any,
    name: str,
    diameter: float,
    request: TrainRequest,
    head: str | None,
    *,
    metadata: Any = None,
) -> Any:
    """The preview micrograph picked by ``model`` as Pick picks it: one
    :func:`napari_cryopick.workflows.pick.pick_one` (fibers traced as Pick traces
    them; a trial's previews showed fibers as fragments from points a width apart,
    and Pick on the same model gave whole paths). With the finished model's
    ``metadata`` its card gives the threshold and border, as for Pick. A
    ``MicrographPicks``."""
    from napari_cryopick.io.micrographs import Micrograph
    from napari_cryopick.workflows.pick import PickRequest, pick_one, prepare

    micrograph = Micrograph(image, name=name)
    pick_request = PickRequest(
        micrographs=[micrograph],
        model=model,
        metadata=metadata,
        head=head,
        diameter_px=diameter,
        device=request.device,
    )
    return pick_one(prepare(pick_request), micrograph)


def _image(source: Any, lazy: bool = False) -> tuple[Any, str]:
    import numpy as np

    from napari_cryopick.io.micrographs import Micrograph, read_micrograph

    if lazy and isinstance(source, (str, os.PathLike)):
        return source, Path(source).stem  # read_micrograph's name
    if isinstance(source, (str, os.PathLike)):
        micrograph = read_micrograph(source)
        return micrograph.data, micrograph.name
    if isinstance(source, Micrograph):
        return source.data, source.name
    return np.asarray(source, dtype=np.float32), ""


class _ReadOnUse(Sequence):
    """Micrograph sources (files or arrays) read when an item is asked for."""

    def __init__(self, sources: list) -> None:
        self._sources = sources

    def __len__(self) -> int:
        return len(self._sources)

    def __getitem__(self, index):
        return _image(self._sources[index])[0]


#: Zoom range of the training crops of vesicle models (``TrainConfig.scale_range``).
VESICLE_SCALE_RANGE = (0.67, 1.5)

#: Training micrographs the pick threshold is calibrated on (at most).
CALIBRATION_MICROGRAPHS = 3
#: ``TrainProgress.phase`` of the event yielded once the loop is over, while the
#: trained model picks training micrographs to choose its threshold.
CALIBRATING = "calibrating"


def _heads_of_sets(mode: str, request: TrainRequest, model: Any) -> list[int]:
    """Indices of ``request``'s data sets that the run trained heads of their own for,
    when it trained more than one (joint); [] otherwise (one data set's run calibrates
    that head as the model's)."""
    if mode == "new" or len(request.datasets) < 2:
        return []
    heads = set(getattr(model, "head_names", ()) or ())
    return [i for i, s in enumerate(request.datasets) if s.name in heads]


def _border(examples: Any, diameters: Sequence[float]) -> float | None:
    """The border margin a data set's clicks give (``DatasetExamples`` and each of its
    micrographs' diameters; :func:`~napari_cryopick.core.detect.border_from_clicks`), in
    original pixels, where ``pick_micrograph`` applies it."""
    from napari_cryopick.core.detect import border_from_clicks
    from napari_cryopick.core.model.inputs import to_original

    return border_from_clicks(
        [
            (
                to_original(e.picks, e.prepared),
                (
                    e.prepared.shape[0] / e.prepared.scale_y,
                    e.prepared.shape[1] / e.prepared.scale_x,
                ),
                diameter,
            )
            for e, diameter in zip(examples.examples, diameters, strict=True)
        ]
    )


def _calibration_names(truths: Sequence[Any]) -> list[str] | None:
    """The micrographs' names for the calibration's messages (a re-trial's said "1: the
    cap of ..."); None (numbers) unless every one is named and unique (they join tables)."""
    names = [str(t["micrograph"].iloc[0]) if "micrograph" in t else "" for t in truths]
    return names if all(names) and len(set(names)) == len(names) else None


def calibrate_threshold(
    model: Any,
    training_set: TrainingSet,
    diameter_px: float | Sequence[float],
    *,
    head: str | None = None,
    device: str = "auto",
    deadline: float | None = None,
    border: float | None = None,
) -> float | None:
    """The pick threshold of a freshly trained model, from its own training clicks.

    DeepEM's best-F2 threshold of the model's candidates on (the
    :data:`CALIBRATION_MICROGRAPHS` most labelled) training micrographs against
    the picks there, capped at ``PickConfig``'s default: clicks are a part
    of the particles, so F2 (recall weighs more) and only ever lower. A
    model that scores particles low (a few-shot head, a short training)
    then still writes its picks, while the best-F2 threshold above the
    default lost AP on every real set (docs/general-model.md) and is not
    used. Particles, vesicles and fibers (the points along the clicked paths
    against the fiber candidates: a fiber model had none and picked nothing at
    the default, a trial; 0.098 calibrated there); None when fewer than 3 of
    them are labelled, the model has none of their kinds, or no threshold
    finds any. ``deadline`` (a :func:`time.perf_counter` value: the end of the
    training's time budget) stops the picking after the first micrograph
    once the next would end past it (:func:`~napari_cryopick.core.detect.choose_threshold`).
    ``border``: the margin the model will pick with (learned from the clicks, :func:`_border`;
    None: ``PickConfig``'s), so that the candidates and clicks weighed are those picking keeps.
    """
    import numpy as np

    from napari_cryopick.core.detect import PickConfig, choose_threshold
    from napari_cryopick.core.pick_table import normalize_picks

    model_kinds = tuple(getattr(model.config, "kinds", ("particle",)))
    wanted = [k for k in ("particle", "vesicle", "fiber") if k in model_kinds]
    # each micrograph at its own diameter, as training prepared it (a review: a data set
    # of two pixel sizes had its binned micrographs picked at the median, twice theirs)
    diameters = _diameters(replace(training_set, diameter_px=diameter_px))
    labelled_ones = []
    for source, table, diameter in zip(
        training_set.micrographs, training_set.picks, diameters, strict=False
    ):
        table = normalize_picks(table)
        labelled = table[table["kind"].isin(wanted)]
        if len(labelled):
            labelled_ones.append((source, labelled.fillna({"diameter": diameter}), diameter))
    # the most labelled ones (in their order): the share of the picks that are clicks
    # is read there, and a trial's first three micrographs of a few clicks each, before
    # others labelled in full, set the sparse-clicks floor and doubled the picks
    most = sorted(range(len(labelled_ones)), key=lambda i: -len(labelled_ones[i][1]))
    chosen = sorted(most[:CALIBRATION_MICROGRAPHS])
    images = [labelled_ones[i][0] for i in chosen]
    truths = [labelled_ones[i][1] for i in chosen]
    chosen_diameters = [labelled_ones[i][2] for i in chosen]
    if sum(len(t) for t in truths) < 3:
        return None
    clicked = tuple(sorted({str(k) for t in truths for k in t["kind"]}))
    config = PickConfig(device=device, head=head, threshold=0.0, kinds=clicked)
    if border is not None:
        # (a review: clicks of the edge band the learned margin keeps counted as misses)
        config = replace(config, border=border)
    default = PickConfig().threshold
    try:
        choice = choose_threshold(
            model,
            _ReadOnUse(images),  # a micrograph the deadline skips is not read
            truths,
            names=_calibration_names(truths),
            diameter_px=chosen_diameters,
            config=config,
            deadline=deadline,
            share_at=default,
        )
    except (ValueError, OSError) as error:  # the trained model is not lost over this
        logger.warning("pick threshold not calibrated (the default stays): %s", error)
        return None
    threshold, score = float(choice.threshold), float(choice.f_beta)
    if not (np.isfinite(threshold) and np.isfinite(score) and score > 0):
        return None
    cap = default
    if clicked == ("particle",):  # measured on particles: vesicles and fibers keep the default
        cap = sparse_clicks_cap(choice.click_share, default)
    from napari_cryopick.workflows.pick import thousandth_below

    # (in thousandths: what the Pick widget's slider holds, so both pick alike)
    return thousandth_below(float(np.clip(min(threshold, cap), 0.01, 0.99)))


#: Share of a trained model's picks (at the default threshold, on the clicked
#: micrographs) that are clicks, from which on the clicks count as complete
#: enough for the default threshold (:func:`sparse_clicks_cap`).
CLICK_SHARE_FULL = 0.15
#: The lowest threshold :func:`sparse_clicks_cap` gives.
SPARSE_THRESHOLD_FLOOR = 0.05


def sparse_clicks_cap(click_share: float, default: float) -> float:
    """The highest pick threshold a model trained on clicks of this sparsity should use.

    ``click_share``: the share of the model's picks at ``default`` on the
    clicked micrographs that the user clicked. The fewer of the particles were
    clicked, the more of them training saw as background (at a reduced
    penalty), so the model scores unseen particles lower, and the best-F2
    threshold on other micrographs drops: from the default at a quarter of the
    particles clicked to 0.05 at 10 clicks per micrograph (β-gal, share 0.015;
    ``benchmarks/exp_threshold.py``, docs/picking.md). The best-F2 threshold on
    the training clicks cannot see this (the unclicked particles count as
    false picks there, the clicked ones were trained on). ``default *
    sqrt(share / CLICK_SHARE_FULL)``, between :data:`SPARSE_THRESHOLD_FLOOR`
    and ``default``; unknown share: ``default``.
    """
    if not math.isfinite(click_share) or click_share >= CLICK_SHARE_FULL:
        return default
    cap = default * math.sqrt(max(click_share, 0.0) / CLICK_SHARE_FULL)
    return min(max(cap, SPARSE_THRESHOLD_FLOOR), default)


# --------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------


def _base(request: TrainRequest, mode: str) -> tuple[Any, dict[str, Any], str | None]:
    """Base model, its metadata and where it came from (for the history)."""
    from napari_cryopick.core.model import load_checkpoint

    base = request.base_model
    if mode == "new":
        return None, {}, None
    if base is None and mode in ADAPT_MODES:
        from napari_cryopick.core.model.bundled import bundled_model_path

        base = bundled_model_path()
    if base is None:
        return None, {}, None
    if isinstance(base, (str, os.PathLike)):
        from napari_cryopick.core.exemplars import bank_from_metadata

        model, metadata = load_checkpoint(base)
        try:  # (the metadata is not covered by the checksums: a damaged bank names its file)
            bank_from_metadata(metadata.get("exemplars"))
        except ValueError as error:
            raise ValueError(f"{base}: {error}") from None
        return model, metadata, str(base)
    return base, dict(request.base_metadata or {}), "model in memory"


@dataclass(frozen=True)
class Wording:
    """How :func:`base_model_warnings` names the controls its advice points to.

    The command line names options (``--mode continual``); the Train widget
    names its boxes (``WIDGET_WORDING``).
    """

    mode: str = "--mode {mode}"
    dataset: str = "another --dataset name"
    head: str = "--head {name}"
    modes: dict[str, str] | None = None
    earlier: str = "give their pick files too (--picks, or --annotations for napari's labels)"

    def mode_name(self, mode: str) -> str:
        return self.mode.format(mode=(self.modes or {}).get(mode, mode))


#: The Train and Pick widgets' names for the same advice.
WIDGET_WORDING = Wording(
    mode="the {mode} mode",
    dataset="another name in the Data set box",
    head="the head {name} in Pick's Head box",
    earlier=(
        "make them labels too (annotated micrographs train whether open or not; a pick "
        "file's picks become labels with Review's Load picks… then Pick's Use as training "
        "labels), or train on the command line with --picks and --annotations"
    ),
    modes={
        "new": "New model",
        "finetune": "Fine-tune",
        "continual": "Continual",
        "fewshot": "Few-shot",
        "joint": "Joint",
    },
)


def resized_datasets(
    base_metadata: Mapping[str, Any] | None,
    training_sets: Sequence[TrainingSet],
    *,
    keep_recipe: bool = False,
) -> dict[str, tuple[float, float, str]]:
    """``{name: (old, new, unit)}``: the data sets of the model (``base_metadata``) this run
    trains at a particle size :func:`resized` from the one it was trained at, in Å where
    both that training and this run know it (the same protein on 2x-binned micrographs is
    not another size), else in pixels (the median of the run's micrographs). Vesicle and
    fiber sets are left out: their sizes vary from micrograph to micrograph, and so are the
    general model's recipe sets (:func:`~napari_cryopick.workflows.pick.recipe_heads`)
    unless ``keep_recipe`` (to word a refusal to retrain one). ``cryopick train`` refuses
    such a run, the Train widget asks first (both by this: a review found
    the widget comparing pixels only)."""
    import numpy as np

    from napari_cryopick.core.model.card import ModelCard

    from .pick import _run_diameter_A, _training_run, recipe_heads

    card = ModelCard.from_metadata(base_metadata or {})
    # the general model's own recipe sets are copies of its generic head, no protein of the
    # user's: left out (a review: cryopick train skipped every model adapted from the general
    # model instead, the user's data sets trained at another size with them)
    recipe = set() if keep_recipe else set(recipe_heads(card))
    held = {d.name: d.diameter_px for d in card.datasets if d.name not in recipe}
    found = {}
    for training_set in training_sets:
        name = str(training_set.name)
        old = held.get(name)
        kinds = {
            str(kind)
            for table in training_set.picks
            if "kind" in getattr(table, "columns", ())
            for kind in table["kind"].unique()
        }
        if not old or kinds & {"vesicle", "fiber"}:
            continue
        sizes = np.asarray(
            training_set.diameter_px if training_set.diameter_px is not None else [], float
        ).reshape(-1)
        sizes = sizes[np.isfinite(sizes)]
        if not sizes.size:
            continue
        new, unit = float(np.median(sizes)), "px"
        old_A = _run_diameter_A(_training_run(card, name) or {}, name)
        new_A = getattr(training_set, "diameter_A", None)
        if old_A and new_A:
            old, new, unit = float(old_A), float(new_A), "Å"
        if resized(old, new):
            found[name] = (float(old), new, unit)
    return found


def micrographs_of_other_datasets(
    base_metadata: Mapping[str, Any] | None, names: Mapping[str, Sequence[str]]
) -> list[str]:
    """Notes naming this run's micrographs (``names``: ``{data set: micrograph names}``)
    that the starting model holds exemplars of under another data set: the same
    micrographs trained as another protein (a trial gave apoferritin's micrographs the
    ribosome's name, 62 px against 56, within the size check: the ribosome fell from AP
    0.85 to 0.68, said only as "already in the model")."""
    from napari_cryopick.core.exemplars import bank_from_metadata
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.core.text import name_list

    from .pick import recipe_heads

    if not isinstance(base_metadata, Mapping):
        return []
    # (a general model's recipe sets are what it was pretrained on: not the user's, also
    # in a model adapted from it)
    recipe = set(recipe_heads(ModelCard.from_metadata(base_metadata)))
    try:
        bank = bank_from_metadata(base_metadata.get("exemplars"))
    except ValueError:
        return []  # (the training says what it is)
    notes = []
    for dataset, micrographs in names.items():
        for other, held in sorted(bank.datasets.items()):
            both = sorted(set(micrographs) & set(held.micrographs))
            if other != dataset and both and other not in recipe:
                notes.append(
                    f"data set {dataset!r}: {name_list(both, 3)} are micrographs of data set "
                    f"{other!r} in the starting model (its exemplars): if they show "
                    f"{other!r}'s protein, train them under that name"
                )
    return notes


def datasets_lost_by_writing(request: TrainRequest) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(held, lost)``: the data sets of the model file ``request.out`` already holds, and
    those of them the model this run writes there would not know (neither trained now nor
    held by the model it starts from, whose card the new one carries on); the bundled
    general model's own data sets are left out of both. ``((), ())`` when ``out`` is no
    readable model file. A continual trial forgot ``--init`` with ``--out`` its ribosome
    and β-gal model: replaced by the bundled model plus apoferritin, kept only as the
    ``.previous.pt`` the next training replaces; ``cryopick train`` refuses such a run,
    the Train widget asks first."""
    out = request.out
    if out is None or not Path(out).is_file():
        return (), ()
    held = _users_datasets(out)
    if held is None:
        return (), ()  # no readable model: the output check says what it is
    kept = _known_after(request)
    return held, tuple(name for name in held if name not in kept)


def _users_datasets(path: str | os.PathLike) -> tuple[str, ...] | None:
    """The data sets model file ``path``'s card lists but the general model's own recipe
    sets (:func:`~napari_cryopick.workflows.pick.recipe_heads`); None when it cannot be
    read. The general model's own data sets, which a model adapted from it carries, are
    nothing a user keeps (a review's New model over a fine-tuned ribosome.pt was asked
    about losing sim_sphere and ten more); only where its card says they are the general
    model's: a user's own data set "vesicles" is the user's (a second review)."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.core.model.checkpoint import metadata_datasets, read_checkpoint

    from .pick import recipe_heads

    try:
        metadata = read_checkpoint(path).get("metadata") or {}
    except (OSError, ValueError):
        return None
    pretrained = set(recipe_heads(ModelCard.from_metadata(metadata)))
    return tuple(n for n in metadata_datasets(metadata) if n not in pretrained)


def _known_after(request: TrainRequest) -> set[str]:
    """The data sets the model this run writes knows: those it trains and those of the
    model it starts from (whose card it carries on)."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    kept = {str(s.name) for s in request.datasets}
    # (no base: a new model, or the bundled model's start, whose data sets are left out)
    base = request.base_model
    if isinstance(base, (str, os.PathLike)):
        with contextlib.suppress(OSError, ValueError):  # (the training says what it is)
            kept |= set(checkpoint_datasets(base))
    elif base is not None:  # (what a fine-tune or joint run forgets is base_model_warnings')
        kept |= set(ModelCard.of_model(base, request.base_metadata or {}).dataset_names)
    return kept


def datasets_lost_with_previous(request: TrainRequest) -> tuple[Path | None, tuple[str, ...]]:
    """``(previous, lost)``: the earlier version of ``request.out`` this run's writing would
    replace (:func:`previous_model_path`; a model file), and the data sets it alone knows
    of these three: it, the model file ``out`` (kept as the new earlier version) and the
    model this run writes; the general model's own data sets left out. ``(None, ())``
    when nothing would be lost. A napari trial wrote a New ribosome model over a joint
    ribosome and apoferritin file (answered Yes: kept as ``.previous.pt``), then a training
    into the same file replaced that ``.previous.pt``, the apoferritin's only copy, unasked;
    ``cryopick train`` refuses such a run, the Train widget asks first."""
    out = request.out
    if out is None or not Path(out).is_file():
        return None, ()
    keep = request.base_model if isinstance(request.base_model, (str, os.PathLike)) else None
    previous = previous_model_path(Path(out), keep)
    if not previous.is_file():
        return None, ()
    known = _known_after(request) | set(_users_datasets(out) or ())
    lost = tuple(name for name in _users_datasets(previous) or () if name not in known)
    return (previous, lost) if lost else (None, ())


#: A data set trained again at a particle size this share or more away from its own is
#: taken for another protein under its name (warned of here; ``cryopick train`` refuses it).
RESIZED_SHARE = 0.25


class ModelNote(str):
    """A note of :func:`base_model_warnings`; ``kind`` says what it warns of.

    ``"forgets"``: the run retrains what the model's other data sets rely on;
    ``"resized"``: a data set of the model trained again at another particle size
    (another protein under its name?); ``""``: advice. The Train widget asks
    before the first two (by kind, not by the words, which may change).
    """

    kind: str

    def __new__(cls, text: str, kind: str = "") -> ModelNote:
        note = super().__new__(cls, text)
        note.kind = kind
        return note


def resized(old: float | None, new: float | None) -> bool:
    """Whether ``new`` lies more than :data:`RESIZED_SHARE` from ``old`` (both known)."""
    return bool(old and new and abs(new / old - 1) > RESIZED_SHARE)


def base_model_warnings(
    mode: str,
    base_model: Any,
    base_metadata: dict[str, Any],
    trained: dict[str, float],
    wording: Wording = Wording(),
    resized_sets: Mapping[str, tuple[float, float, str]] | None = None,
    labels: Mapping[str, int] | None = None,
) -> list[ModelNote]:
    """What a training from ``base_model`` would lose of the data sets it already holds.

    ``trained``: the data sets of this run and their diameters (pixels).
    ``wording``: how the advice names the controls (options or widget boxes).
    ``resized_sets``: :func:`resized_datasets` of the run's training sets (in Å where
    known, vesicles and fibers left out); None: compared in the pixels of ``trained``.
    ``labels``: the labels of each data set of this run (particles, vesicles, fibers): a
    fine-tune or joint run of a data set the model learned from more labels says so.
    Three ways a user can wipe an earlier protein without a word (a trial):
    retraining a data-set name the model already holds (its head trains on
    this run's micrographs alone, and their exemplars join its earlier ones:
    right for more clicks of the same protein, a mix for another one),
    ``finetune`` of a model with data-set heads
    (they drift with the body), and ``continual`` from a model whose earlier
    data sets have no own head nor exemplars (only the generic head, which
    continual moves to the new data set, knew them). A ``--mode new`` model's
    data set has exemplars: continual training gives it its own head
    (:func:`napari_cryopick.core.continual.train_model`), which is said too.
    """
    from napari_cryopick.core.model.card import GENERIC_HEAD, ModelCard

    from .pick import recipe_heads

    if base_model is None or mode == "new":
        return []
    card = ModelCard.from_metadata(base_metadata)
    held = {d.name: d for d in card.datasets}
    heads = [h for h in base_model.head_names if h != GENERIC_HEAD]
    # a general model's recipe sets (copies of its generic head, in a model adapted from it
    # too) are nothing a user keeps: neither forgotten nor a name to train under (a review:
    # a fine-tune of the bundled model listed its ten recipe heads as forgotten)
    recipe = set(recipe_heads(card))
    notes = []
    for name, diameter in trained.items():
        old = held.get(name)
        if old is None:
            continue
        fewer_labels = labels is not None and 0 < labels.get(name, old.labels) < old.labels
        if resized_sets is None:
            other_size = resized(old.diameter_px, diameter)
            then, now, unit = old.diameter_px, diameter, "px"
        else:
            other_size = name in resized_sets
            then, now, unit = resized_sets.get(name, (old.diameter_px, diameter, "px"))
        if mode not in ("continual", "fewshot"):
            # finetune and joint retrain it too, whatever the protein: a size far from its
            # own says another protein under its name (a CLI trial's apoferritin folder
            # named bgal took β-gal's head and bank to 62 px, unsaid)
            if other_size:
                notes.append(
                    ModelNote(
                        f"data set {name!r} is already in the model, trained at "
                        f"{then:.0f} {unit}; this run's micrographs are at {now:.0f} "
                        f"{unit}, which becomes its diameter: if they are another protein, give "
                        f"{wording.dataset} with {wording.mode_name('continual')} (a head of its "
                        f"own; {wording.mode_name(mode)} moves the whole model), which keeps "
                        f"{name!r} as it is",
                        "resized",
                    )
                )
            elif fewer_labels:
                # (a trial: a napari fine-tune on 7 corrections after a cryopick train on
                # 59 clicks learnt the 7 alone, AP 0.871 -> 0.836, unsaid)
                notes.append(
                    ModelNote(
                        f"data set {name!r} is already in the model, learnt from "
                        f"{old.labels} labels on {old.micrographs} micrograph(s); "
                        f"{wording.mode_name(mode)} retrains the model on this run's "
                        f"{labels[name]} labels alone, so what it learnt from the others may "
                        "be lost: "
                        f"{wording.earlier}"
                    )
                )
            continue
        size = ""
        if other_size:
            size = (
                f"; it was trained at {then:.0f} {unit}, this run at {now:.0f} {unit}, "
                "which becomes its diameter"
            )
        # what train_model does: the head trains on from its weights, on this run's data
        # only (continual replays the other data sets' exemplars, not this one's), and
        # the bank keeps this set's exemplars of other micrographs next to the new ones
        # (a trial's continual run of 18 clicks on the micrographs of 59 was told its
        # exemplars were added: those of these micrographs are made anew, 59 became 18)
        fewer = (
            f" ({labels[name]} labels, its last training's {old.labels})" if fewer_labels else ""
        )
        notes.append(
            ModelNote(
                f"data set {name!r} is already in the model ({old.labels} labels{size}): "
                f"{wording.mode_name(mode)} retrains its head on these micrographs alone"
                f"{fewer} and adds their exemplars to those of its other micrographs (which "
                "keep up to half of its bank; exemplars of these micrographs are made anew); "
                "that suits more clicks of the same "
                f"protein; for another protein give {wording.dataset}, which keeps {name!r} "
                "as it is",
                "resized" if other_size else "",
            )
        )
    for name in trained:
        if name in held:
            continue
        # a typo makes a new head (a trial's --head ribosme: a fifth head and a second
        # exemplar bank of the same micrographs, without a word)
        close = difflib.get_close_matches(
            name, [n for n in held if n not in trained and n not in recipe], 1, 0.8
        )
        if close:
            notes.append(
                f"data set {name!r} is new to the model, which holds {close[0]!r}: if these "
                f"micrographs are of data set {close[0]!r}, train them under that name (a new name "
                "makes a new head and a second exemplar bank)"
            )
    if mode in ("finetune", "joint"):
        # joint from a model trains body and heads on this run's data sets alone, as
        # finetune does (a trial's --mode joint --init was not warned; finetune was)
        others = [h for h in heads if h not in trained and h not in recipe]
        if others:
            together = (
                " (or give every data set's micrographs and picks to this joint run)"
                if mode == "joint"
                else ""
            )
            notes.append(
                ModelNote(
                    f"{wording.mode_name(mode)} retrains the whole model on "
                    f"{', '.join(trained)}: the heads of {', '.join(others)} will forget "
                    f"their data sets; {wording.mode_name('continual')} keeps them{together}",
                    "forgets",
                )
            )
        # and the data sets only the generic head knew (a --mode new model's): the run
        # retrains that head too (a continual trial's ribosome went from AP 0.81 to 0.00
        # under a fine-tune on β-gal, unsaid before and after)
        # (not a general model's: its data sets are what it was pretrained on, the
        # simulated shapes among them, nothing a user keeps)
        # (nor a model's adapted from it: its user's data sets are the user's, a review)
        headless = [n for n in held if n not in trained and n not in heads and n not in recipe]
        if headless and GENERIC_HEAD in base_model.head_names:
            from napari_cryopick.core.exemplars import bank_from_metadata

            banked = bank_from_metadata(base_metadata.get("exemplars")).datasets
            keeps = (
                f"{wording.mode_name('continual')} keeps it (a head of its own, from its exemplars)"
                if all(n in banked for n in headless)
                else "nothing can keep a data set without exemplars: train it again with "
                f"{wording.mode_name('joint')}"
            )
            notes.append(
                ModelNote(
                    f"{wording.mode_name(mode)} retrains the whole model, its generic head "
                    f"included, on {', '.join(trained)}: {', '.join(headless)} had no head "
                    f"of its own (only the generic head knew it) and will be forgotten; {keeps}",
                    "forgets",
                )
            )
    if mode == "continual":
        from napari_cryopick.core.continual import heads_to_adopt
        from napari_cryopick.core.exemplars import bank_from_metadata

        bank = bank_from_metadata(base_metadata.get("exemplars"))
        adopted = heads_to_adopt(base_model, bank, list(trained))
        # (the general model's recipe sets: nothing a user keeps, a review)
        headless = [n for n in held if n not in trained and n not in heads and n not in recipe]
        lost = [n for n in headless if n not in bank.datasets]
        if lost:
            notes.append(
                f"{', '.join(lost)}: no own head and no exemplars in this model: only the "
                "generic head knew it, and continual training moves it to the new data; "
                f"train with {wording.mode_name('joint')} first to keep it"
            )
        unbanked = [
            n
            for n in held
            if n not in trained and n in heads and n not in bank.datasets and n not in recipe
        ]
        if unbanked:
            # (a CLI trial's β-gal, trained with --exemplars 0: AP 0.80 -> 0.73 after a
            # continual ribosome run, unsaid)
            notes.append(
                f"{', '.join(unbanked)}: own head but no exemplars in this model: continual "
                "training keeps the head but cannot replay its particles while the shared "
                "body moves to the new data, so it may pick less well; train it with "
                "exemplars (the default) to keep it"
            )
        for name in adopted:
            notes.append(
                f"{name} had no own head (trained with {wording.mode_name('new')}): it gets "
                "one, copied from the generic head and kept by replaying its exemplars; "
                f"pick it with {wording.head.format(name=name)}"
            )
    return [note if isinstance(note, ModelNote) else ModelNote(note) for note in notes]


def _kinds(request: TrainRequest, tables: Sequence[Any]) -> tuple[str, ...]:
    from napari_cryopick.core.pick_table import KINDS

    if request.kinds:
        return tuple(request.kinds)
    present = {str(k) for table in tables if "kind" in table.columns for k in table["kind"]}
    return tuple(k for k in KINDS if k in present and k != "negative") or ("particle",)


@dataclass(frozen=True)
class TrainNote:
    """A warning of the training job before it trains (the Train widget's status line).

    It has no ``step``: progress bars pass it by (the command line logs the warning).
    """

    text: str


def train(request: TrainRequest) -> Generator[Any, None, TrainOutcome]:
    """Train as ``request`` says, yielding progress (and previews); returns the outcome.

    Yields
    ------
    TrainNote
        Before training: clicks that sit on nothing the other clicks sit on
        (:func:`misplaced_clicks`; logged as warnings too).
    napari_cryopick.core.training.TrainProgress
        After training steps (``losses`` include the mode's extra terms).
    TrainPreview
        Every ``request.preview_every`` steps and at the end, when
        ``request.preview`` is set.

    Returns
    -------
    TrainOutcome

    Raises
    ------
    ValueError
        A bad request (mode without a base model, no labels, ...), before
        training.
    OSError
        The output cannot be written (checked before training).
    TrainOutputError
        Writing failed at the end; the model was saved elsewhere (the
        message says where).
    """
    from napari_cryopick.core.click_check import BINNED_WORDS, MIRRORED_NOTE, MIRRORED_WORDS
    from napari_cryopick.core.continual import (
        ContinualConfig,
        DatasetExamples,
        train_model,
    )
    from napari_cryopick.core.model import DetectorConfig, resolve_device
    from napari_cryopick.core.training import TrainConfig, build_examples, resolve_time_limit

    # the budget, and the outcome's seconds, count from the user's start of the job; what
    # the job does from here on (reading, preparing, a pass of the network) repeats after
    # the loop, the process's imports before it do not
    repeat_start = time.perf_counter()
    start = repeat_start if request.started_at is None else request.started_at
    mode = request.resolved_mode
    resolve_device(request.device)  # a bad device fails now
    if request.out is not None:
        check_writable(request.out)
    # the output file as this job found it: another job that writes it meanwhile is not
    # replaced unseen (a trial's two trainings into one file lost the first one's model)
    found = _file_signature(request.out) if request.out is not None else None
    options = dict(request.train_options)
    options["device"] = request.device
    options["time_limit_s"] = request.time_limit_s
    train_config = TrainConfig(**options)
    continual_config = ContinualConfig(**dict(request.continual_options))
    base_model, base_metadata, base_origin = _base(request, mode)
    all_tables = [t for s in request.datasets for t in s.picks]
    config = (
        base_model.config
        if base_model is not None
        else DetectorConfig(**{**request.model_options, "kinds": _kinds(request, all_tables)})
    )
    if set(config.kinds) == {"vesicle"} and "scale_range" not in options:
        # vesicles differ in size: random zoom of the crops shows the size head many
        # sizes, not only the clicked ones (a GUI trial's 12 clicks of 159-230 px gave
        # circles of 189-201 px); particles keep their one size (scale jitter cost them
        # up to 0.02 AP, session 9)
        train_config = replace(train_config, scale_range=VESICLE_SCALE_RANGE)

    if request.unlabelled:
        logger.warning(
            "%d unlabelled micrograph(s) given but not used: the training modes do not "
            "take unlabelled micrographs yet",
            len(request.unlabelled),
        )
    present = {str(k) for t in all_tables if "kind" in t.columns and len(t) for k in t["kind"]}
    ignored = sorted(present - set(config.kinds) - {"negative"})
    if base_model is None:
        described = None
    elif request.base_model is None:
        described = "the bundled general model"
    elif isinstance(request.base_model, (str, os.PathLike)):
        described = f"the model {base_origin}"
    else:
        described = "the starting model"
    for training_set in request.datasets:
        check_usable_labels(training_set, config.kinds, described)
    if ignored:
        logger.warning("picks of kind %s are ignored (model kinds: %s)", ignored, config.kinds)

    datasets = []
    set_diameters: list[list[float]] = []  # each data set's micrographs' diameters
    set_names: dict[str, list[str]] = {}  # each data set's micrographs' names
    mirrored: list[str] = []  # refused notes: every one said at once (a review)
    for training_set in request.datasets:
        diameters = _diameters(training_set)
        images, names = [], []
        for index, source in enumerate(training_set.micrographs):
            # files stay files: build_examples reads them one at a time (issue 14)
            image, name = _image(source, lazy=True)
            images.append(image)
            given = training_set.names[index] if training_set.names is not None else ""
            names.append(given or name or f"{training_set.name}_{index}")
        set_names[str(training_set.name)] = names
        examples = build_examples(
            images,
            list(training_set.picks),
            diameters,
            config,
            names=names,
            dataset=training_set.name,
        )
        datasets.append(
            DatasetExamples(
                training_set.name,
                examples,
                diameter_px=float(sorted(diameters)[len(diameters) // 2]),
            )
        )
        set_diameters.append(diameters)
        del images
        for note in misplaced_clicks(examples, config.target_diameter_px):
            if request.refuse_mirrored and (MIRRORED_WORDS in note or BINNED_WORDS in note):
                mirrored.append(f"data set '{training_set.name}': {note}")
                continue
            logger.warning("data set '%s': %s", training_set.name, note)
            yield TrainNote(f"data set '{training_set.name}': {note}")
            if note.startswith(MIRRORED_NOTE):  # said once, not again by the protection pass
                continual_config = replace(continual_config, warn_mirrored=False)

    if mirrored:
        raise MirroredClicksError(
            "; ".join(mirrored) + "; nothing was trained (cryopick train --allow-misplaced "
            "trains on them as they are)"
        )
    trained_sizes = {d.name: d.diameter_px for d in datasets}
    # (each micrograph's diameter as training resolved it: a set may give none)
    resized_sets = resized_datasets(
        base_metadata,
        [
            replace(training_set, diameter_px=list(sizes))
            for training_set, sizes in zip(request.datasets, set_diameters, strict=True)
        ],
    )
    labels = {d.name: d.labels for d in datasets}
    for note in base_model_warnings(
        mode, base_model, base_metadata, trained_sizes, resized_sets=resized_sets, labels=labels
    ):
        logger.warning("%s", note)
    for note in micrographs_of_other_datasets(base_metadata, set_names):
        logger.warning("%s", note)
        yield TrainNote(note)

    preview_image, preview_name = (None, "")
    if request.preview is not None:
        preview_image, preview_name = _image(request.preview)
        preview_name = preview_name or "preview"
    # the threshold is calibrated for the data set trained last (its head); previews show
    # the preview micrograph at its own data set's diameter and head (a trial: a ribosome
    # micrograph previewed at the β-gal set's 108 px, and with its head in Joint mode)
    head = None if mode == "new" else request.datasets[-1].name
    shown_set = _set_of(request, preview_name)
    preview_diameter = datasets[shown_set].diameter_px
    if dataset_holding(request, preview_name) is None and request.preview_diameter_px:
        preview_diameter = float(request.preview_diameter_px)  # the micrograph's own
    preview_head = None if mode == "new" else request.datasets[shown_set].name
    trained: list[Any] = []
    job = train_model(
        mode,
        datasets,
        base_model=base_model,
        base_metadata=base_metadata,
        config=config,
        train_config=train_config,
        continual_config=continual_config,
        on_model=trained.append,
        budget_start=start,
        repeat_start=repeat_start,
    )
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                result = stop.value
                break
            yield event
            every = request.preview_every
            if (
                preview_image is not None
                and every > 0
                and trained
                and event.step % every == 0
                and event.step < event.total
            ):
                snapshot = copy.deepcopy(trained[0]).eval()
                yield TrainPreview(
                    event.step,
                    event.total,
                    preview_name,
                    _preview_picks(
                        snapshot,
                        preview_image,
                        preview_name,
                        preview_diameter,
                        request,
                        _own_or(preview_head, head, snapshot),
                    ),
                )
    finally:
        job.close()

    card = result.card
    if result.history:  # a picking pass over training micrographs: say what runs
        from napari_cryopick.core.training import TrainProgress

        last = result.history[-1]
        steps = len(result.history)
        calibrating = TrainProgress(
            steps,
            steps,
            {k: v for k, v in last.items() if k != "lr" and isinstance(v, float)},
            float(last.get("lr", 0.0)),
            time.perf_counter() - start,
            phase=CALIBRATING,
        )
        yield calibrating
    limit = resolve_time_limit(train_config, resolve_device(request.device))
    deadline = None if limit is None else start + limit
    own_heads = _heads_of_sets(mode, request, result.model)
    if own_heads:
        # several data sets, each with a head of its own (joint): each head is calibrated
        # on its own data set's clicks, and the run's threshold and border are the model's
        # default head's (a trial's joint ribosome head picked at the default 0.15 and kept
        # 98 picks, AP 0.274, where ranking every candidate gave 0.832)
        head = None
    # the threshold is chosen on the candidates picking keeps: at the border margin the
    # clicks teach, which picking applies with it
    pick_border = _border(datasets[-1], set_diameters[-1])
    pick_threshold = calibrate_threshold(
        result.model,
        request.datasets[-1],
        set_diameters[-1],
        head=head,
        device=request.device,
        deadline=deadline,
        border=pick_border,
    )
    head_calibration: dict[str, dict[str, float]] = {}
    for index in own_heads:
        name = request.datasets[index].name
        border = _border(datasets[index], set_diameters[index])
        values = {
            "pick_threshold": calibrate_threshold(
                result.model,
                request.datasets[index],
                set_diameters[index],
                head=name,
                device=request.device,
                deadline=deadline,
                border=border,
            ),
            "pick_border": border,
        }
        head_calibration[name] = {
            key: round(value, 4) if key == "pick_threshold" else value
            for key, value in values.items()
            if value is not None
        }
    if card.history:
        history = list(card.history)
        run = dict(history[-1])
        in_angstrom = {d.diameter_A for d in request.datasets}
        if len(in_angstrom) == 1 and (diameter_A := in_angstrom.pop()):
            # picking in Å compares with it, not with pixels of another pixel size (a
            # trial's 2x-binned optics group was told to pick at the training's pixels)
            run["diameter_A"] = float(diameter_A)
        each_A = {d.name: float(d.diameter_A) for d in request.datasets if d.diameter_A}
        if len(request.datasets) > 1 and each_A:
            # each data set's own, for its head (a CLI trial's joint run of two data sets
            # said both were "recorded with the model" in Å; neither was)
            run["diameters_A"] = each_A
        run.update(dict(request.run_info))
        # each data set's micrographs' size (rows, columns; median): picking compares a
        # micrograph of another size with it where no pixel sizes tie the two (a scale
        # trial's model picked 2x upsampled copies at the training's 56 px, AP 0, unsaid)
        sizes = _micrograph_sizes(datasets)
        if sizes:
            run["micrograph_px"] = sizes
        # the whole job from the user's start (reading, the starting model's pass, the
        # threshold's picking pass); "seconds" is the training loop's
        run["job_seconds"] = round(time.perf_counter() - start, 2)
        if base_origin is not None:
            run.setdefault("init", base_origin)
        if pick_threshold is not None:
            run["pick_threshold"] = round(pick_threshold, 4)
        if pick_border is not None:
            run["pick_border"] = pick_border
        if head_calibration:
            run["head_calibration"] = head_calibration
        history[-1] = run
        card = replace(card, history=tuple(history))
    metadata = card.to_metadata()
    if preview_image is not None:
        final = _preview_picks(  # the final picks as Pick will pick with the model saved
            result.model,
            preview_image,
            preview_name,
            preview_diameter,
            request,
            _own_or(preview_head, head, result.model),
            metadata=metadata,
        )
        steps = len(result.history)
        yield TrainPreview(steps, steps, preview_name, final, final=True)
    elif result.history and request.out is not None:
        # a last turn before the file is written (a stop there leaves none): with no
        # preview, Cancel pressed while the threshold was chosen was ignored, and the
        # model saved and made the session's
        yield calibrating
    path = previous = None
    if request.out is not None:
        start_from = (
            request.base_model if isinstance(request.base_model, (str, os.PathLike)) else None
        )
        out = Path(request.out)
        if _file_signature(out) != found:
            # written by another job while this one trained: both models are kept
            conflict = _free_name(out.with_name(f"{out.stem}.{os.getpid()}{out.suffix or '.pt'}"))
            logger.warning(
                "%s was written by another job while this training ran: it is left as that "
                "job wrote it, and this training's model is saved as %s",
                out,
                conflict,
            )
            out = conflict
        path, previous = _save(out, result.model, metadata, keep=start_from)
    return TrainOutcome(
        model=result.model,
        card=card,
        metadata=metadata,
        path=path,
        history=list(result.history),
        completed=bool(result.completed),
        seconds=time.perf_counter() - start,
        mode=mode,
        pick_threshold=pick_threshold,
        pick_border=pick_border,
        previous=previous,
    )


def _file_signature(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """``(inode, size, mtime in ns)`` of a file, None when there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _free_name(path: Path) -> Path:
    """``path``, else ``<stem>-2<suffix>``, ``-3``, ... the first name no file has."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def previous_model_path(path: Path, keep: str | os.PathLike | None = None) -> Path:
    """Where a model file that a training replaces is kept: ``model.pt`` -> ``model.previous.pt``.

    ``keep``: a file that must not be replaced there (the training's starting
    model, e.g. ``--init model.previous.pt``): then ``model.previous-2.pt``,
    ``-3``, ... the first that is not it. Nor is a folder or a file that is no model
    file (:func:`_is_checkpoint`) replaced there: an I/O trial's own
    ``model.previous.pt`` text was. Nor a model file this version cannot read (a newer
    napari-cryopick's, one whose weights fail their checks): what data sets it alone
    knows cannot be checked, so it is kept, however damaged.
    """
    path = Path(path)
    suffix = path.suffix or ".pt"
    candidate = path.with_name(f"{path.stem}.previous{suffix}")
    number = 1
    while candidate.exists() and (
        (keep is not None and _same_file(candidate, keep))
        or not (candidate.is_file() and _is_checkpoint(candidate))
        or _users_datasets(candidate) is None
    ):
        number += 1
        candidate = path.with_name(f"{path.stem}.previous-{number}{suffix}")
    return candidate


def _same_file(first: Path, second: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _save(
    path: Path, model: Any, metadata: dict[str, Any], keep: str | os.PathLike | None = None
) -> tuple[Path, Path | None]:
    """Write the checkpoint atomically; keep a file it replaces (:func:`previous_model_path`).

    The replaced file is linked (else copied) to a temporary name first and
    moved over the previous copy only once it is whole, so a failure loses
    neither. On failure the model is kept in the temporary folder. Returns
    the path written and where the replaced file was kept (None: none was).
    """
    from napari_cryopick.core.model import save_checkpoint

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = None
        if path.is_file():
            # a hard link keeps the old model under its new name without copying it; the
            # atomic save then replaces only the original name
            previous = previous_model_path(path, keep)
            staged = previous.with_name(f".{previous.name}.{os.getpid()}.part")
            staged.unlink(missing_ok=True)
            try:
                try:
                    os.link(path, staged)
                except OSError:  # a file system without hard links
                    shutil.copy2(path, staged)
                os.replace(staged, previous)
            finally:
                staged.unlink(missing_ok=True)  # (moved: gone already)
        return save_checkpoint(path, model, metadata=metadata), previous
    except OSError as error:
        reason = error.strerror or str(error)
        fallback = Path(tempfile.gettempdir()) / f"cryopick-{path.stem}-{os.getpid()}.pt"
        try:
            save_checkpoint(fallback, model, metadata=metadata)
        except OSError:
            raise TrainOutputError(
                error.errno, f"{path}: could not write the trained model ({reason}); it is lost"
            ) from None
        raise TrainOutputError(
            error.errno,
            f"{path}: could not write the trained model ({reason}); it was saved to {fallback}",
        ) from None
