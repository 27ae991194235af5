"""Picking, one path for every caller: a :class:`PickRequest` served by :func:`pick`.

The current micrograph, all open micrographs, a folder and ``cryopick pick``
all run :func:`pick`. It yields one :class:`PickProgress` per micrograph (with
that micrograph's :class:`MicrographPicks`, so a viewer can show it at once)
and returns a :class:`PickOutcome`.

Per micrograph (:func:`pick_one`), each object kind has one strategy:

* points (``particle`` and any other point kind) and ``vesicle`` (points with
  each vesicle's own diameter from the size head):
  :func:`napari_cryopick.core.detect.pick_micrograph`, one network pass;
* ``fiber``: points along the fiber heatmap's ridge traced into paths,
  :func:`napari_cryopick.core.object_kinds.pick_fibers`.

Writing (:func:`write_micrograph_picks`, behind :func:`write_outputs` and the
Pick widget's export) is the one writer of pick files: point kinds
go to the pick-file formats (:data:`napari_cryopick.io.pickfiles.FORMATS`),
traced fibers to RELION helical STAR, crYOLO filament CBOX or CSV. When a
model picks fibers *and* other kinds, the fibers go to ``<stem>_fibers.<ext>``.

Output layout (:func:`output_stems`): the input folders are mirrored below
their common parent (micrographs of one folder: files directly in
``out_dir``; ``a/m1.mrc`` and ``b/m1.mrc``: ``out/a/m1.star`` and
``out/b/m1.star``). Two inputs that would write the same file (``a/m1.mrc``
and ``a/m1.png``) are refused before anything is picked: an output is never
overwritten by another input of the same run.

The particle diameter has one owner per request: ``diameter_px``, else
``diameter_A`` with each micrograph's pixel size, else the model card's
diameter for the head (:meth:`napari_cryopick.core.model.card.ModelCard.diameter_for_head`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FIBER_FORMATS",
    "PICK_FORMATS",
    "SCALE_SEARCH_MICROGRAPHS",
    "FiberOptions",
    "MicrographPicks",
    "PickOutcome",
    "PickProgress",
    "PickRequest",
    "PreparedPick",
    "check_fiber_formats",
    "output_stems",
    "pick",
    "pick_one",
    "polarity_line",
    "prepare",
    "resolve_diameter",
    "scale_lines",
    "trained_diameter_warning",
    "with_scale",
    "write_micrograph_picks",
    "write_outputs",
    "zero_shot",
]

logger = logging.getLogger(__name__)

#: Pick-file formats of point picks: the keys of ``io.pickfiles.FORMATS`` (a test keeps
#: them equal), here so that building a command line or a form needs no file-format import.
PICK_FORMATS: tuple[str, ...] = ("star", "box", "cbox", "topaz", "csv")
#: Formats of traced fibers.
FIBER_FORMATS: tuple[str, ...] = ("star", "cbox", "csv")
#: Kinds that never become picks.
_NON_PICK_KINDS = ("negative",)


@dataclass(frozen=True)
class FiberOptions:
    """Tracing and writing of fibers.

    Attributes
    ----------
    link_radius_px
        Neighbourhood radius of linking; None: EPicker's 100 px per 1024 px
        of micrograph width.
    max_angle_deg
        Largest bend between consecutive links.
    box_distance_px
        Inter-box distance of written segments; None: half the fiber width.
    helical_layout
        STAR: ``"start_end"`` (RELION manual picking) or ``"segments"``.
    """

    link_radius_px: float | None = None
    max_angle_deg: float = 30.0
    box_distance_px: float | None = None
    helical_layout: str = "start_end"

    def __post_init__(self) -> None:
        for name in ("link_radius_px", "max_angle_deg", "box_distance_px"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.max_angle_deg > 180:
            # as core.fibers checks it, but before any micrograph is picked (a fibers
            # trial's 200 failed on every micrograph, one after the other)
            raise ValueError(f"max_angle_deg must be in (0, 180], got {self.max_angle_deg:g}")
        if self.helical_layout not in ("start_end", "segments"):
            raise ValueError(
                f"helical_layout must be 'start_end' or 'segments', got {self.helical_layout!r}"
            )


@dataclass(frozen=True)
class PickRequest:
    """What to pick, with which model, and where to write it.

    Attributes
    ----------
    micrographs
        Micrograph files, or in-memory micrographs
        (:class:`napari_cryopick.io.micrographs.Micrograph`, with a name).
    model
        Checkpoint path, a loaded detector, or None for the bundled model.
    metadata
        Checkpoint metadata of a loaded ``model`` (its model card); read from
        the file when ``model`` is a path.
    head
        Head to pick with (None: the model's default head).
    kinds
        Object kinds to pick (None: every kind of the model).
    diameter_px, diameter_A
        Particle diameter in pixels, or in Angstrom (each micrograph's pixel
        size converts it); at most one. Neither: the model card's diameter.
    pixel_size_A
        Angstrom per pixel of every micrograph, beating the files' headers and
        micrograph lists (PNG, JPEG and TIFF carry none); None: theirs.
    threshold
        Score threshold of the picks returned and written (None: the one the
        model's last training calibrated, :func:`model_threshold`, when the
        default head picks; else PickConfig's).
    options
        Other :class:`napari_cryopick.core.detect.PickConfig` fields
        (``min_distance``, ``rotations``, ``reject_std``, ``tile_size``, ...).
        Without ``border``: the margin the model's last training learned from
        its clicks (:func:`model_border`) when the head it trained picks (the
        default head, or that head named), else PickConfig's.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    out_dir
        Folder of the pick files (None: write nothing).
    formats
        Formats to write, one file each per micrograph.
    flip_y
        Write y from the bottom (origin bottom-left).
    flip_tiff_y
        Write the y of TIFF micrographs' picks from the bottom, as RELION reads TIFF
        images (flipped along the slow axis, whatever their orientation tag; RELION's
        "Conventions" page): ``cryopick relion`` sets it.
    keep_candidates
        Score floor of the written files: every candidate above it is written
        (with its score) so it can be re-thresholded later without the
        network. None: only picks above ``threshold`` are written.
    box_size_px
        Box edge in pixels of BOX and CBOX files, for particles and fibers
        alike (centres stay; a BOX corner is the centre minus half the box).
        None: each pick's diameter, and twice the width for fiber CBOX files.
    fibers
        Fiber tracing and writing options.
    diameter_factor
        The network rescales each micrograph as if the diameter were this
        times the given one; the diameters written stay the given ones.
        None: 1, except for zero-shot picking (:func:`zero_shot`), where
        :func:`with_scale` chooses it on micrographs spread over the run
        (:func:`napari_cryopick.core.scale_search.choose_scale`).
    scale_search
        Let zero-shot picking choose ``diameter_factor`` (False: 1; CLI
        ``--no-scale-search``).
    invert_contrast
        Pick on the inverted micrographs (particles lighter than the
        background). None: zero-shot picking chooses
        (:func:`napari_cryopick.core.scale_search.choose_polarity`); anything
        else picks the micrographs as they are.
    datasets
        The data set of each micrograph, by name (the napari session's, from
        Annotate); micrograph files without one belong to the data set their
        folder names, as ``cryopick train`` names it. Only used to warn when a
        micrograph's data set has a head of its own in the model and another
        head picks it (:func:`head_warning`).
    input_folders
        Folders the micrographs were found in at any depth (``cryopick pick
        --recursive``): the outputs mirror the folders below them, whichever
        hold micrographs (:func:`output_stems`), so a run resumed after new
        sub-folders arrived writes where the first did.
    in_napari
        The Pick widget's request: its warnings name the widgets' controls (the Head
        box, Annotate's Data set), not command-line options, also for the files of a
        folder it picks.
    resume
        With ``out_dir``: the micrographs an earlier run into it picked with the same
        settings, their files intact, are kept and not picked again (``cryopick pick
        --skip``; the Pick widget's *Pick folder…*, so that a folder of thousands
        stopped half-way goes on where it stopped).
    """

    micrographs: Sequence[Any]
    model: Any = None
    metadata: Mapping[str, Any] | None = None
    head: str | None = None
    kinds: tuple[str, ...] | None = None
    diameter_px: float | None = None
    diameter_A: float | None = None
    pixel_size_A: float | None = None
    threshold: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"
    out_dir: Path | None = None
    formats: tuple[str, ...] = ("star",)
    flip_y: bool = False
    flip_tiff_y: bool = False
    keep_candidates: float | None = None
    box_size_px: float | None = None
    fibers: FiberOptions = field(default_factory=FiberOptions)
    diameter_factor: float | None = None
    scale_search: bool = True
    invert_contrast: bool | None = None
    datasets: Mapping[str, str] = field(default_factory=dict)
    input_folders: tuple[Path, ...] = ()
    in_napari: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.formats, str):
            object.__setattr__(self, "formats", (self.formats,))
        if isinstance(self.kinds, str):
            object.__setattr__(self, "kinds", (self.kinds,))
        if self.out_dir is not None:
            object.__setattr__(self, "out_dir", Path(self.out_dir))
        for name in ("diameter_px", "diameter_A", "box_size_px"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                option = name.replace("_px", "").replace("_", "-")
                raise ValueError(f"--{option} must be > 0, got {value}")
        if self.box_size_px is not None and self.box_size_px < 1.0:
            # BOX files hold whole pixels: 0.5 wrote boxes of 0 px (a trial)
            raise ValueError(f"--box-size must be at least 1 px, got {self.box_size_px:g}")
        if self.pixel_size_A is not None and not (
            math.isfinite(self.pixel_size_A) and self.pixel_size_A > 0
        ):
            raise ValueError(f"--pixel-size must be > 0, got {self.pixel_size_A}")
        if self.diameter_factor is not None and not (
            math.isfinite(self.diameter_factor) and self.diameter_factor > 0
        ):
            raise ValueError(f"--diameter-factor must be > 0, got {self.diameter_factor}")
        if self.diameter_px is not None and self.diameter_A is not None:
            raise ValueError("give the diameter in pixels or in Angstrom, not both")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--threshold must lie in [0, 1], got {self.threshold}")
        if self.keep_candidates is not None and not 0.0 <= self.keep_candidates <= 1.0:
            raise ValueError(f"--keep-candidates must lie in [0, 1], got {self.keep_candidates}")
        for format in self.formats:
            if format not in PICK_FORMATS:
                raise ValueError(
                    f"unknown pick format {format!r}; choose one of {', '.join(PICK_FORMATS)}"
                )
        if self.keep_candidates is not None and "box" in self.formats:
            # a trial: 174 boxes for "picked 122", the 52 below the threshold looking
            # exactly like picks to RELION and EMAN, with no score to filter them by later
            raise ValueError(
                "--keep-candidates needs a format that stores scores (star, cbox, topaz, "
                "csv): BOX files have no score column, so candidates below the threshold "
                "could not be told from picks"
            )
        if self.out_dir is not None:
            # duplicate outputs: refused now
            output_stems(self.micrographs, self.out_dir, self.input_folders)


@dataclass(frozen=True)
class MicrographPicks:
    """Everything picked on one micrograph.

    Attributes
    ----------
    name
        Micrograph name (file stem).
    path
        File it was read from (None: in memory).
    shape
        ``(rows, cols)``.
    pixel_size
        Angstrom per pixel, where known.
    diameter_px
        Diameter it was picked at.
    candidates
        Every candidate down to the score floor (all kinds; fiber candidates
        untraced), sorted by score: re-threshold without the network.
    picks
        Picks above the threshold: points and vesicles, plus the vertices of
        the traced fibers (``tube_id`` > 0).
    fiber_paths
        Traced fibers, ``(N, 2)`` arrays of (x, y).
    result
        The point kinds' :class:`napari_cryopick.core.detect.PickResult`
        (heatmap and its placement), or the fiber result for a fiber-only model.
    threshold
        Threshold used.
    diameter_factor
        Factor of ``diameter_px`` the network rescaled with
        (``PickRequest.diameter_factor``; the zero-shot scale search).
    scale_confidences
        ``{factor: confidence}`` of the zero-shot scale search of the run
        (empty: none ran); :func:`scale_lines` says what they mean.
    inverted
        Picked on the inverted micrograph (``PickRequest.invert_contrast``).
    polarity_confidences
        ``{inverted: confidence}`` of the zero-shot polarity choice (empty: none ran).
    at_negatives
        Picks above the threshold (fibers: traced paths) left out at the negatives the
        user marked in napari (:func:`user_negatives`).
    """

    name: str
    path: Path | None
    shape: tuple[int, int]
    pixel_size: float | None
    diameter_px: float
    candidates: Any
    picks: Any
    fiber_paths: list = field(default_factory=list, repr=False)
    result: Any = field(default=None, repr=False)
    threshold: float = 0.3
    diameter_factor: float = 1.0
    scale_confidences: dict[float, float] = field(default_factory=dict, repr=False)
    inverted: bool = False
    polarity_confidences: dict[bool, float] = field(default_factory=dict, repr=False)
    at_negatives: int = 0


@dataclass(frozen=True)
class PickProgress:
    """Event of :func:`pick`: one micrograph done (or failed).

    ``n_picks`` counts picks above the threshold (fibers for fiber-only
    models), -1 if it failed (``error`` says why). ``item`` is the
    micrograph's result (None if it failed), ``written`` its files.
    """

    step: int
    total: int
    micrograph: str
    n_picks: int
    elapsed_s: float
    error: str = ""
    item: MicrographPicks | None = field(default=None, repr=False, compare=False)
    written: tuple[Path, ...] = ()

    def postfix(self) -> str:
        """One-line summary for a progress bar."""
        if self.error:
            return f"{self.micrograph}: FAILED"
        if self.item is not None:  # fibers as fibers, not their points (a fiber trial)
            from napari_cryopick.core.pick_table import objects_said

            return f"{self.micrograph}: {objects_said(self.item.picks)}"
        return f"{self.micrograph}: {self.n_picks} picks"


@dataclass(frozen=True)
class PickOutcome:
    """Result of :func:`pick`.

    Attributes
    ----------
    picks
        Picks above the threshold of every micrograph (one table).
    written
        Files written.
    errors
        ``{micrograph: message}`` of the micrographs that failed.
    n_micrographs
        Micrographs asked for.
    seconds
        Wall-clock time.
    threshold
        The score threshold the picks were taken at (None: not known).
    diameter_factor
        Factor of the diameter the network rescaled with (see
        ``PickRequest.diameter_factor``).
    scale_confidences
        ``{factor: confidence}`` of the zero-shot scale search (empty: none ran).
    inverted, polarity_confidences
        Picked on inverted micrographs, and the zero-shot polarity choice's
        ``{inverted: confidence}`` (empty: none ran).
    warnings
        What the run found doubtful before picking (also logged), e.g. a
        trained model asked to pick far from its diameter
        (:func:`trained_diameter_warning`).
    n_kept
        Micrographs an earlier run into the output folder had picked with the same
        settings, kept and not picked again (``PickRequest.resume``).
    n_edited
        Of those, the micrographs kept because their files were edited since (no run
        wrote them as they are now).
    n_other_settings
        Micrographs the output folder held picks of made with other settings, written
        over where the run wrote the same names (``BatchOutcome.n_other_settings``);
    n_other_formats
        those of them of other formats only (``BatchOutcome.n_other_formats``).
    n_damaged
        Output files of such an earlier run damaged since (cut short, emptied), whose
        micrographs were picked again (``BatchOutcome.n_damaged``).
    """

    picks: Any
    written: tuple[Path, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    n_micrographs: int = 0
    seconds: float = 0.0
    threshold: float | None = None
    diameter_factor: float = 1.0
    scale_confidences: dict[float, float] = field(default_factory=dict)
    inverted: bool = False
    polarity_confidences: dict[bool, float] = field(default_factory=dict)
    #: Picks left out at the negatives marked in napari, over all micrographs.
    at_negatives: int = 0
    warnings: tuple[str, ...] = ()
    n_kept: int = 0
    n_edited: int = 0
    n_other_settings: int = 0
    n_other_formats: int = 0
    n_damaged: int = 0

    @property
    def n_done(self) -> int:
        """Micrographs picked without error."""
        return self.n_micrographs - len(self.errors)


@dataclass(frozen=True)
class PreparedPick:
    """A request resolved once for a run: model, card, configuration, output stems.

    Built by :func:`prepare`; :func:`pick_one` and :func:`write_outputs` take
    it, so a batch runner (shards, a Dask worker) prepares once and then picks
    micrograph by micrograph.
    """

    request: PickRequest
    model: Any
    card: Any
    config: Any
    kinds: tuple[str, ...]
    model_name: str
    stems: dict[int, Path] = field(default_factory=dict)
    scale_confidences: dict[float, float] = field(default_factory=dict)
    polarity_confidences: dict[bool, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: Warnings of this run about diameters its micrographs resolved (``--diameter-A``
    #: over each one's pixel size), each said once: ``{rounded diameter: message}``.
    #: A worker process (``--dask``) fills its own copy (its log shows them).
    resolved_warnings: dict[Any, str | None] = field(default_factory=dict, compare=False)
    #: ``{(diameter px, head): (name, (rows, cols))}`` of the run's first micrograph picked
    #: at each diameter with each head, which the others' sizes are compared with
    #: (:func:`_warn_of_other_size`).
    first_size: dict[tuple[float, str | None], tuple[str, tuple[int, int]]] = field(
        default_factory=dict, compare=False
    )
    #: ``{micrograph key: head}`` of the micrographs picked with another head than
    #: ``config``'s: their data set's own (a run of several data sets without ``--head``);
    #: the key is the file's absolute path, else the name (:func:`_micrograph_key`).
    own_heads: dict[str, str] = field(default_factory=dict)
    #: ``{head: PickConfig}`` of those heads (each at its own threshold and border).
    head_configs: dict[str, Any] = field(default_factory=dict)
    #: ``{micrograph key: data set}`` of the micrographs picked with the generic head
    #: whose data set it learned (no head of its own) beside data sets of other sizes:
    #: picked at that data set's diameter (:func:`resolve_diameter`), not refused.
    generic_sets: dict[str, str] = field(default_factory=dict)
    #: A monitored folder's run (prepared before its micrographs arrive): ``{data set:
    #: head}`` of the model's data sets (:func:`data_set_heads`), each arriving micrograph
    #: picked with its data set's, named by its folder as a list run names it
    #: (:func:`micrograph_datasets` without sidecars); ``{}``: not a monitor's run.
    folder_heads: dict[str, str] = field(default_factory=dict)
    #: ...and the data sets the generic head learned at sizes of their own, picked at them
    #: (as :attr:`generic_sets`; empty with a diameter given).
    folder_sizes: frozenset[str] = frozenset()

    def _folder_dataset(self, key: str) -> str:
        from .inputs import _dataset_name

        return _dataset_name(Path(key)) if os.path.isabs(key) else ""

    def generic_set(self, key: str) -> str | None:
        """The data set the generic head picks micrograph ``key`` as (None: none)."""
        if key in self.generic_sets or not self.folder_sizes:
            return self.generic_sets.get(key)
        from napari_cryopick.core.model.card import GENERIC_HEAD

        dataset = self._folder_dataset(key)
        head = self.config_for(key).head or GENERIC_HEAD
        return dataset if dataset in self.folder_sizes and head == GENERIC_HEAD else None

    def config_for(self, key: str) -> Any:
        """The picking configuration of a micrograph (its own head's, or ``config``)."""
        head = self.own_heads.get(key)
        if head is None and self.folder_heads:
            head = self.folder_heads.get(self._folder_dataset(key))
            head = None if head == self.config.head else head
        return self.config if head is None else self.head_configs[head]


# --------------------------------------------------------------------------
# resolving a request
# --------------------------------------------------------------------------


def _source_name(source: Any) -> str:
    return str(getattr(source, "name", "") or "")


def _is_path(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike))


def _micrograph_key(source: Any, micrograph: Any = None) -> str:
    """A micrograph of a run, as :attr:`PreparedPick.own_heads` knows it: its file's
    absolute path (a batch work item's, or the path a read micrograph keeps), else its
    name (two folders may hold files of one name)."""
    origin = getattr(source, "source", source)
    if _is_path(origin):
        return os.path.abspath(origin)
    path = getattr(micrograph if micrograph is not None else source, "path", None)
    if path:
        return os.path.abspath(path)
    return _source_name(micrograph if micrograph is not None else source)


def output_stems(
    micrographs: Sequence[Any],
    out_dir: Path | None,
    input_folders: Sequence[str | os.PathLike] = (),
) -> dict[int, Path]:
    """Output path without suffix of each micrograph (by index): the layout of written files.

    File inputs mirror their folders below the folders' common parent (of
    ``input_folders`` too: folders searched at any depth, whose sub-folders are
    then mirrored whichever hold micrographs, as ``--monitor`` mirrors the
    watched folder's); in-memory micrographs go directly into ``out_dir`` under
    their name.

    Raises
    ------
    ValueError
        Two inputs would write the same files (same name in the same folder,
        also when the names differ only in case), naming both.
    """
    base = Path(out_dir) if out_dir is not None else Path(".")
    parents = [Path(os.path.abspath(Path(m).parent)) for m in micrographs if _is_path(m)]
    if parents:
        parents += [Path(os.path.abspath(folder)) for folder in input_folders]
    common = Path(os.path.commonpath([str(p) for p in parents])) if parents else None
    stems: dict[int, Path] = {}
    owner: dict[str, Any] = {}
    for index, source in enumerate(micrographs):
        if _is_path(source):
            path = Path(source)
            relative = Path(os.path.abspath(path.parent)).relative_to(common)  # type: ignore[arg-type]
            stem = base / relative / path.stem
        else:
            name = _source_name(source)
            if not name:
                raise ValueError(f"in-memory micrograph #{index + 1} has no name")
            stem = base / name
        key = str(stem).casefold()  # m1 and M1 are one file on macOS and Windows
        label = str(source) if _is_path(source) else f"micrograph {_source_name(source)!r}"
        if key in owner:
            raise ValueError(
                f"{owner[key]} and {label}: both would be written as {stem}.*; "
                "rename one of them or pick them in separate runs (outputs are never "
                "overwritten by another micrograph of the same run)"
            )
        owner[key] = label
        stems[index] = stem
    return stems


def resolve_diameter(
    request: PickRequest,
    card: Any,
    pixel_size: float | None,
    *,
    micrograph: str,
    model_name: str,
    head: str | None = None,
    dataset: str | None = None,
) -> float:
    """The particle diameter in pixels for one micrograph (the request's one owner of it).

    ``request.diameter_px``; else ``request.diameter_A`` over the micrograph's
    pixel size; else the model card's diameter for the head picked with
    (``head``, default the request's), or for ``dataset``, a data set of the model
    the generic head picks (:attr:`PreparedPick.generic_sets`).

    Raises
    ------
    ValueError
        Naming the micrograph (no pixel size) or the model (no stored diameter).
    """
    if request.diameter_px is not None:
        return float(request.diameter_px)
    if request.diameter_A is not None:
        if not pixel_size or not math.isfinite(pixel_size) or pixel_size <= 0:
            raise ValueError(
                f"{micrograph}: no pixel size known (none in the file, or the placeholder "
                "1.0 Å): give the pixel size (--pixel-size) or the diameter in pixels"
            )
        return float(request.diameter_A) / float(pixel_size)
    head = request.head if head is None else head
    if dataset:  # its own training's size (a data set is the head name the card knows)
        head = dataset
    trained_A = trained_diameter_angstrom(card, head, request) if card is not None else None
    if trained_A is not None and pixel_size and math.isfinite(pixel_size) and pixel_size > 0:
        # trained with --diameter-A: the same particle at this micrograph's pixel size (a
        # re-trial's 2x-binned micrographs were picked at the training's 56 px: 2 picks)
        return trained_A / float(pixel_size)
    stored = card.diameter_for_head(head) if card is not None else None
    if not stored or not math.isfinite(stored) or stored <= 0:
        what = "none" if stored is None else repr(stored)
        give = (
            # the widget's words (a re-trial was told to give --diameter in napari)
            "give it in the Pick widget's Diameter box with a head chosen by name (\"each "
            "data set's own\" picks each data set at its head's stored diameter)"
            if request.in_napari
            else "give --diameter or --diameter-A"
        )
        raise ValueError(
            f"{model_name}: no usable particle diameter stored in the model ({what}); "
            f"{give} (the general model picks any protein at the diameter you give)"
        )
    return float(stored)


def _load_model(request: PickRequest) -> tuple[Any, dict[str, Any], str]:
    from napari_cryopick.core.model.bundled import bundled_model_path
    from napari_cryopick.core.model.checkpoint import load_checkpoint

    model = request.model
    if model is None:
        model = bundled_model_path()
    if _is_path(model):
        path = Path(model)
        loaded, metadata = load_checkpoint(path)
        return loaded, metadata, str(path)
    return model, dict(request.metadata or {}), "the model"


def _default_head(head: str | None, card: Any, heads: tuple[str, ...]) -> str | None:
    """``head``, else the data-set head the model's last training run trained (few-shot,
    continual, fine-tune on one data set): ``cryopick train --mode fewshot`` then
    ``cryopick pick`` picks with the head just trained, not the untrained generic one."""
    if head is not None or card is None or not card.history:
        return head
    names = list(card.history[-1].get("datasets", ()) or ())
    trained = [card.dataset(name) for name in names]
    own = {d.head for d in trained if d is not None and d.head in heads}
    return own.pop() if len(names) == 1 and len(own) == 1 else None


def annotated_dataset(path: str | os.PathLike) -> str:
    """The data set micrograph file ``path`` was annotated as in napari (Annotate's *Data
    set*, in its sidecar); "" when none, or the sidecar cannot be read (Annotate says why)."""
    from napari_cryopick.io.annotations import AnnotationError, load_annotations

    try:
        saved = load_annotations(path)
    except (AnnotationError, OSError, ValueError):
        return ""
    return str(saved.dataset or "") if saved is not None else ""


def micrograph_datasets(request: PickRequest, sidecars: bool = True) -> list[tuple[str, str]]:
    """``(name, data set)`` of each micrograph of ``request`` in order: the data set of
    ``request.datasets``, else the one it was annotated as in napari
    (:func:`annotated_dataset`, as ``cryopick train --annotations`` and the Pick widget
    take it; a review: ``cryopick pick`` of a folder annotated 'apoferritin' used its
    folder's name), else the one its folder names (as ``cryopick train`` names data
    sets); "" when none says (a list: files of one name in two folders are two).
    ``sidecars`` False: not looked for (a model without data-set heads chooses nothing
    by them: up to three file lookups a micrograph saved)."""
    from .inputs import _dataset_name

    found = []
    for micrograph in request.micrographs:
        name = Path(micrograph).stem if _is_path(micrograph) else _source_name(micrograph)
        dataset = request.datasets.get(name)
        if dataset is None and _is_path(micrograph):
            annotated = annotated_dataset(micrograph) if sidecars else ""
            dataset = annotated or _dataset_name(Path(micrograph))
        found.append((name, dataset or ""))
    return found


def folder_datasets(folders: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """``("", data set)`` of each folder: what its micrographs' data set would be (their
    folder's name, as :func:`micrograph_datasets` names them; generic names looked above)."""
    from .inputs import _dataset_name

    return [("", _dataset_name(Path(folder) / "micrograph")) for folder in folders]


def _data_set_head(datasets: Sequence[tuple[str, str]], head_of: Mapping[str, str]) -> str | None:
    """The head of the one data set every micrograph belongs to (``datasets``: theirs, as
    :func:`micrograph_datasets` gives them), when the model has one for it (``head_of``,
    :func:`data_set_heads`); None otherwise (no, several or unnamed data sets)."""
    names = {dataset for _name, dataset in datasets}
    if len(names) != 1:
        return None
    (dataset,) = names
    return head_of.get(dataset) if dataset else None


def data_set_heads(card: Any, heads: Sequence[str], own_heads: Sequence[str]) -> dict[str, str]:
    """``{data set: the head that picks it}``: a data set's own head, and the generic head
    for the data sets of the model trained into it (no head of their own: a new model's,
    or a joint or continual training's without one) when the model has data-set heads
    beside it. A trial's few-shot model of the ribosome (generic head) and β-gal (own
    head) picked a ribosome folder with the β-gal head at 108 px: AP 0, unsaid."""
    from napari_cryopick.core.model.card import GENERIC_HEAD

    head_of = {head: head for head in own_heads}
    if own_heads and GENERIC_HEAD in heads and card is not None:
        for name in card.dataset_names:
            if name not in heads:
                head_of[name] = GENERIC_HEAD
    return head_of


def trained_head(card: Any, heads: tuple[str, ...]) -> str | None:
    """The head ``cryopick pick`` uses without ``--head``: the one the last run trained.

    None: the model's default head (a new or jointly trained model). The Pick
    widget selects the same head when it loads a model file.
    """
    return _default_head(None, card, heads)


def _bounded(value: Any, upper: float) -> float | None:
    """``value`` as a number in ``[0, upper]``, else None."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= upper else None


def _last_run_value(card: Any, key: str, upper: float) -> float | None:
    """A number in ``[0, upper]`` the model's last training stored under ``key``, or None."""
    if card is None or not card.history:
        return None
    return _bounded(card.history[-1].get(key), upper)


def thousandth_below(threshold: float) -> float:
    """``threshold`` rounded down to a thousandth: a calibrated threshold as ``cryopick
    pick`` and the Pick widget's slider (thousandths) both apply it. A trial's calibrated
    0.1038 was 0.104 on the slider, and the widget wrote 2 picks fewer than the command
    line; down, a pick at the calibrated threshold stays."""
    # (1e-9: a float64 thousandth, 0.103 * 1000 = 102.99999999999999, stays itself; a
    # float32 score just below one, 0.09899999946, is not lifted above it: a review)
    return math.floor(float(threshold) * 1000.0 + 1e-9) / 1000.0


def _threshold_value(value: float | None) -> float | None:
    return None if value is None else thousandth_below(value)


def model_threshold(card: Any) -> float | None:
    """The threshold the model's last training calibrated for its default head, or None.

    ``cryopick train`` (and the Train widget) store it in the run's history
    record (:func:`napari_cryopick.workflows.train.calibrate_threshold`: the
    best-F2 threshold on the training clicks, never above ``PickConfig``'s), in
    thousandths (:func:`thousandth_below`; a model stored before with more digits is
    read so).
    """
    return _threshold_value(_last_run_value(card, "pick_threshold", 1.0))


def model_border(card: Any) -> float | None:
    """The border margin the model's last training learned from its clicks, or None.

    ``cryopick train`` (and the Train widget) store it in the run's history
    record (:func:`napari_cryopick.core.detect.border_from_clicks`: half a
    diameter unless the user clicked particles closer to the edge).
    """
    return _last_run_value(card, "pick_border", 10.0)


def _head_run_value(card: Any, head: str, key: str, upper: float) -> float | None:
    """A number in ``[0, upper]`` stored under ``key`` by the last training that trained
    ``head`` alone (its data set's run), or that calibrated it among the heads of several
    data sets (a joint run's ``head_calibration``), or None."""
    for run in reversed(card.history if card is not None else ()):
        per_head = run.get("head_calibration")
        if isinstance(per_head, Mapping) and isinstance(per_head.get(head), Mapping):
            return _bounded(per_head[head].get(key), upper)
        names = list(run.get("datasets", ()) or ())
        trained = {getattr(card.dataset(n), "head", None) for n in names}
        if trained == {head}:
            return _bounded(run.get(key), upper)
    return None


def _calibration(card: Any, head: str | None, trained_head: str | None) -> dict[str, float]:
    """The pick ``threshold`` and ``border`` a training calibrated for ``head`` (those
    found): the last training's for the head it trained (or ``head`` None), else those
    of the last training of ``head``'s data set alone."""
    if head in (None, trained_head):
        found = {"threshold": model_threshold(card), "border": model_border(card)}
    else:
        found = {
            "threshold": head_threshold(card, head),
            "border": head_border(card, head),
        }
    return {key: value for key, value in found.items() if value is not None}


def head_threshold(card: Any, head: str) -> float | None:
    """The threshold the training of ``head``'s data set calibrated (its last run that
    trained that head alone), or None: what ``cryopick pick --head`` and the Pick
    widget's Head box pick another head than the one trained last at (in thousandths, as
    :func:`model_threshold`)."""
    return _threshold_value(_head_run_value(card, head, "pick_threshold", 1.0))


def head_border(card: Any, head: str) -> float | None:
    """The border margin the training of ``head``'s data set learned from its clicks (as
    :func:`head_threshold`), or None."""
    return _head_run_value(card, head, "pick_border", 10.0)


def recipe_heads(card: Any) -> tuple[str, ...]:
    """The general model's own recipe sets among ``card``'s data sets
    (:meth:`~napari_cryopick.core.model.card.ModelCard.recipe_datasets`); () for no card."""
    return card.recipe_datasets() if card is not None else ()


def _own_head_configs(
    request: PickRequest,
    card: Any,
    main: Any,
    own_heads: Mapping[str, str],
    trained_head: str | None,
) -> dict[str, Any]:
    """A picking configuration per own head of :func:`prepare`: ``main`` with that head,
    the threshold and border its data set's training calibrated (unless given)."""
    defaults = type(main)()
    configs = {}
    for head in sorted(set(own_heads.values())):
        calibrated = _calibration(card, head, trained_head)
        values = {**vars(main), "head": head}
        if request.threshold is None:
            values["threshold"] = calibrated.get("threshold", defaults.threshold)
        if "border" not in request.options:
            values["border"] = calibrated.get("border", defaults.border)
        configs[head] = type(main)(**values)
    return configs


def _check_stored_sizes(
    datasets: Collection[str], learned: Mapping[str, float], model: Any, model_name: str
) -> None:
    """Refuse, before picking, a data set whose stored size the detector cannot use."""
    from napari_cryopick.core.model.inputs import preparation_scale

    for dataset in sorted(datasets):
        try:
            preparation_scale(learned[dataset], model.config)
        except ValueError as error:
            raise ValueError(
                f"{model_name}: data set {dataset!r}'s stored {error}; give --diameter"
            ) from None


def prepare(request: PickRequest, *, worker: bool = False) -> PreparedPick:
    """Resolve a request once: load the model, check kinds and head, lay out outputs.

    ``worker``: a Dask worker's preparation of a run the driver prepared (its micrographs
    are not given; the driver's heads and sizes replace what it resolves): the refusal of a
    head that learned several sizes is the driver's (a review: a worker refused a list run
    the driver had taken).

    Raises
    ------
    ValueError
        A bad model, head, kind or format combination, duplicate outputs, or a
        device that is not there.
    """
    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.model import resolve_device
    from napari_cryopick.core.model.card import GENERIC_HEAD, ModelCard

    resolve_device(request.device)  # CUDA asked for but absent: the request's fault, said once
    model, metadata, model_name = _load_model(request)
    card = ModelCard.of_model(model, metadata)
    heads = tuple(getattr(model, "head_names", ()) or ())
    if request.head is not None and heads and request.head not in heads:
        import difflib

        # (a trial's typo, --head ribosom, was told the heads but not which it meant)
        if request.head in {d.name for d in card.datasets}:
            # a data set of the model without a head of its own (a new model's: the generic
            # head learned it; a continual trial read "no head" beside cryopick info's list)
            raise ValueError(
                f"{model_name}: data set {request.head!r} has no head of its own: the "
                f"{GENERIC_HEAD} head learned it and picks it (leave out --head, or give "
                f"--head {GENERIC_HEAD}); heads are {list(heads)}"
            )
        close = difflib.get_close_matches(request.head, heads, n=1)
        meant = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{model_name}: no head {request.head!r}{meant}; heads are {list(heads)}")
    # without --head, micrographs of one data set that has a head of its own are picked
    # with it (HydraPicker's heads): a trial picked a ribosome folder with the apoferritin
    # head its model's last training trained
    # (not a general model's: its data-set heads are copies of the generic head, which
    # picks unseen data with the zero-shot scale search)
    # heads of the general model's own recipe are not chosen (nor advised): a model
    # adapted from it keeps them beside the heads it was trained with since
    own_heads_of_model = tuple(h for h in heads if h not in recipe_heads(card))
    head = request.head
    head_of = data_set_heads(card, heads, own_heads_of_model)
    # sizes the generic head learned more than 25 % apart: each data set's micrographs at
    # its own (so Annotate's data set is looked for too, as with data-set heads)
    learned = several_sizes(card, GENERIC_HEAD)
    datasets = micrograph_datasets(request, sidecars=bool(head_of) or bool(learned))
    # a monitored folder, prepared before its micrographs arrive: theirs, as its name says
    # (a review: a monitor of folder a/ picked with the head the model trained last, b)
    folder_sets = [] if request.micrographs else folder_datasets(request.input_folders)
    if head is None:
        head = _data_set_head(datasets or folder_sets, head_of)
    model_kinds = tuple(getattr(model.config, "kinds", ("particle",))) or ("particle",)
    kinds = request.kinds or tuple(k for k in model_kinds if k not in _NON_PICK_KINDS)
    for kind in kinds:
        if kind not in model_kinds:
            raise ValueError(
                f"{model_name}: the model has no {kind!r} kind "
                f"(its kinds: {', '.join(model_kinds)})"
            )
    if request.out_dir is not None:
        check_fiber_formats(kinds, request.formats)
        _check_segment_pixel_size(request, kinds)
    from napari_cryopick.core.model.inputs import preparation_scale

    if request.diameter_px is not None:
        factor = request.diameter_factor or 1.0
        try:  # a diameter the detector cannot use is the request's fault, not a micrograph's
            preparation_scale(request.diameter_px * factor, model.config)
        except ValueError as error:
            given = (
                " (--diameter)"
                if factor == 1.0
                else f" (--diameter x --diameter-factor {factor:g})"
            )
            raise ValueError(f"requested {error}{given}") from None
    elif request.diameter_A is None:
        # fail before picking anything when the model cannot say the diameter
        stored = resolve_diameter(
            request,
            card,
            None,
            micrograph="",
            model_name=model_name,
            head=_default_head(head, card, heads),
        )
        try:
            preparation_scale(stored, model.config)
        except ValueError as error:
            raise ValueError(f"{model_name}: stored {error}; give --diameter") from None
    if request.out_dir is not None:
        out_dir = Path(request.out_dir)
        for folder in (out_dir, *out_dir.parents):
            if folder.exists() and not folder.is_dir():
                raise ValueError(f"{out_dir}: cannot write picks there, {folder} is a file")
    values = dict(request.options)
    values.update(head=_default_head(head, card, heads), device=request.device)
    trained_head = _default_head(None, card, heads) or getattr(model, "default_head", None)
    # calibrated (threshold) and learned from the clicks (border) by the training of the
    # head picked with: the last training for the head it trained, named or not; another
    # data set's head, its own training's
    calibrated = _calibration(card, head, trained_head)
    threshold = request.threshold if request.threshold is not None else calibrated.get("threshold")
    if threshold is not None:
        values["threshold"] = threshold
    if "border" not in values and "border" in calibrated:
        values["border"] = calibrated["border"]
    config = PickConfig(**values)
    if request.keep_candidates is not None and request.keep_candidates > config.threshold:
        # the candidates are a superset of the picks: a trial's --keep-candidates 0.5 with
        # --threshold 0.3 wrote 112 of its 119 picks (and said 119)
        logger.warning(
            "candidates kept from %.3g, the threshold, not from %.3g (--keep-candidates): "
            "the file holds every pick and the candidates above the floor",
            config.threshold,
            request.keep_candidates,
        )
        request = dataclasses.replace(request, keep_candidates=float(config.threshold))
    if request.keep_candidates is not None and request.keep_candidates < config.score_floor:
        config = PickConfig(**{**vars(config), "score_floor": request.keep_candidates})
    stems = output_stems(request.micrographs, request.out_dir, request.input_folders)
    main_head = config.head or getattr(model, "default_head", None)
    own_heads: dict[str, str] = {}
    if request.head is None:
        # micrographs of several data sets, each with a head of its own: each picked with
        # its own (HydraPicker's heads; a run of one data set already takes its head)
        keys = [_micrograph_key(m) for m in request.micrographs]
        own_heads = {
            key: head_of[dataset]
            for key, (_name, dataset) in zip(keys, datasets, strict=True)
            if dataset and dataset in head_of and head_of[dataset] != main_head
        }
    by_generic: dict[str, str] = {}  # {micrograph key: data set} picked with the generic head
    for key, (_name, dataset) in zip(
        [_micrograph_key(m) for m in request.micrographs], datasets, strict=True
    ):
        if dataset and (own_heads.get(key, main_head) or GENERIC_HEAD) == GENERIC_HEAD:
            by_generic[key] = dataset
    generic_sets: dict[str, str] = {}
    if request.diameter_px is None and request.diameter_A is None:
        # a data set the generic head learned beside others of other sizes: picked at its
        # own size (a CLI trial's apoferritin folder, 62 px, of a model continued on β-gal,
        # 108 px, was refused: "give the diameter"); sizes within 25 %: the stored one
        generic_sets = {key: d for key, d in by_generic.items() if d in learned}
        _check_stored_sizes(set(generic_sets.values()), learned, model, model_name)
    # a monitored folder: each arriving micrograph its own data set's head and size, as a
    # list run of it would (a trial's monitor of a folder of two sessions picked the
    # ribosome's with the β-gal head: AP 0, unsaid)
    folder_heads: dict[str, str] = {}
    folder_sizes: frozenset[str] = frozenset()
    if folder_sets:
        folder_heads = dict(head_of) if request.head is None else {}
        if request.diameter_px is None and request.diameter_A is None:
            folder_sizes = frozenset(learned)
            _check_stored_sizes(folder_sizes, learned, model, model_name)
    in_angstrom = None
    if request.diameter_px is None and request.diameter_A is None:
        covered = len(set(own_heads) | set(generic_sets))
        others = (covered < len(request.micrographs) or not request.micrographs) and not (
            folder_sizes
        )
        if others and not worker and trained_diameter_angstrom(card, main_head, request) is None:
            _refuse_one_of_several_diameters(card, main_head, model_name)
            in_angstrom = several_sizes_warning(card, main_head, model_name)
    prepared = PreparedPick(
        request=request,
        model=model,
        card=card,
        config=config,
        kinds=tuple(kinds),
        model_name=model_name,
        stems=stems,
        own_heads=own_heads,
        head_configs=_own_head_configs(
            request, card, config, {**own_heads, **folder_heads}, trained_head
        ),
        generic_sets=generic_sets,
        folder_heads=folder_heads,
        folder_sizes=folder_sizes,
    )
    if own_heads:
        by_set = {
            dataset: head_of[dataset]
            for _name, dataset in datasets
            if dataset in head_of and head_of[dataset] != main_head
        }
        # the data sets of the main head are named too (a trial read "(the others with
        # head 'bgal')" as if its bgal folder were picked with a fallback)
        main_sets = sorted(
            {d for _name, d in datasets if d and d not in by_set and head_of.get(d) == main_head}
        )
        others = any(not d or head_of.get(d) is None for _name, d in datasets)
        logger.info(
            "each data set with a head of its own is picked with it: %s%s",
            ", ".join(
                name if head == name else f"{name} with head '{head}'"
                for name, head in sorted({**by_set, **dict.fromkeys(main_sets, main_head)}.items())
            ),
            f" (micrographs of no data set of the model with head '{main_head}')" if others else "",
        )
    elif request.head is None and main_head != trained_head:
        # one data set with a head of its own, not the model's default: said as for several
        # (a trial's ribosome folder was picked with its head, said only in the manifest)
        sets = sorted(
            {d for _name, d in datasets or folder_sets if d and head_of.get(d) == main_head}
        )
        if sets:
            # (its own head when named after it; else the head it maps to, e.g. the generic
            # head that learned it: a review read "its own head 'generic'")
            own = sets == [main_head]
            logger.info(
                "data set %s is picked with %s (the model's default head is '%s'; --head "
                "chooses another)",
                ", ".join(sets),
                "its own head" if own else f"head '{main_head}'",
                trained_head,
            )
    messages = [
        trained_diameter_warning(prepared),
        in_angstrom,
        moved_head_warning(card, {main_head, *own_heads.values()}),
        lost_data_set_warning(card, set(by_generic.values())),
        # a general model's data-set heads are copies of its generic head: nothing to advise
        # (a trial's zero-shot folder was told to pick with its data set's head)
        head_warning(
            main_head,
            own_heads_of_model,
            [
                (name, dataset)
                for micrograph, (name, dataset) in zip(request.micrographs, datasets, strict=True)
                if _micrograph_key(micrograph) not in own_heads
            ],
        ),
    ]
    if request.head is None:
        messages.append(
            last_head_warning(
                prepared,
                head_of,
                [
                    name
                    for micrograph, (name, dataset) in zip(
                        request.micrographs, datasets, strict=True
                    )
                    if _micrograph_key(micrograph) not in own_heads and dataset != main_head
                ],
            )
        )
    if request.out_dir is not None:
        messages.append(kind_format_warning(kinds, request.formats))
    messages.append(fiber_options_warning(kinds, request.fibers, request.formats))
    messages = [m for m in messages if m is not None]
    for message in messages:
        logger.warning(message)
    if messages:
        prepared = dataclasses.replace(prepared, warnings=tuple(messages))
    return prepared


def moved_head_warning(card: Any, heads: Collection[str | None]) -> str | None:
    """A warning naming the heads picked with that a later fine-tune moved the shared body
    from under (:meth:`~napari_cryopick.core.model.card.ModelCard.moved_by_finetune`): a
    continual-learning trial's ribosome and beta-gal heads picked nothing after an
    apoferritin fine-tune (AP 0.000), and only "picked 98 objects" was said."""
    from napari_cryopick.core.model.card import GENERIC_HEAD

    if card is None:
        return None
    moved = {
        (card.dataset(name).head or name) if card.dataset(name) is not None else name: name
        for name in card.moved_by_finetune()
    }
    # (the generic head is the fine-tune's own: trained by it)
    hit = sorted(head for head in heads if head in moved and head != GENERIC_HEAD)
    if not hit:
        return None
    return (
        f"head(s) {', '.join(hit)} were trained before a later fine-tune (on "
        f"{_finetuned_sets(card)}) moved the shared body: they pick poorly; "
        "pick with the model of before the fine-tune, or train their data sets again into "
        "this model (--mode continual --init MODEL)"
    )


def _finetuned_sets(card: Any) -> str:
    """The data sets the card's fine-tune runs trained, in order, once each."""
    names = [
        str(n) for run in card.history if run.get("mode") == "finetune"
        for n in run.get("datasets") or ()
    ]  # fmt: skip
    return ", ".join(dict.fromkeys(names))


def lost_data_set_warning(card: Any, datasets: Collection[str]) -> str | None:
    """A warning naming the data sets picked with the generic head that a later continual
    run moved away from them (:meth:`~napari_cryopick.core.model.card.ModelCard.lost_by_continual`:
    no head of their own, no exemplars; a CLI trial's apoferritin gave 0 picks, unsaid)."""
    if card is None or not datasets:
        return None
    lost = sorted(set(datasets) & set(card.lost_by_continual()))
    # a later fine-tune retrained the generic head on other data (a continual trial's
    # ribosome, a --mode new model's, picked 0 after a fine-tune on β-gal, unsaid)
    moved = sorted((set(datasets) & set(card.moved_by_finetune())) - set(lost))
    if moved:
        return (
            f"{', '.join(moved)}: only the generic head knew "
            f"{'it' if len(moved) == 1 else 'them'}, and a later fine-tune (on "
            f"{_finetuned_sets(card)}) retrained that head: it picks poorly; "
            "pick with the model of before the fine-tune, or train the data set again into "
            "this model (--mode continual --init MODEL)"
        )
    if not lost:
        return None
    return (
        f"{', '.join(lost)}: only the generic head knew {'it' if len(lost) == 1 else 'them'} "
        "(no head of its own, no exemplars), and a later continual run moved that head to "
        "other data: it picks poorly; pick with the model of before that run, or train "
        "the data set again into this model (--mode continual --init MODEL)"
    )


def guessed_head(prepared: PreparedPick, head_of: Mapping[str, str]) -> tuple[str, str] | None:
    """``(head, the heads to choose from, listed)`` when micrographs of no data set of the
    model are picked with a data-set head of its own in a model of several data sets
    (``head_of``: :func:`data_set_heads`): which protein they show is a guess. None
    otherwise (the generic head, one data set)."""
    from napari_cryopick.core.model.card import GENERIC_HEAD

    head = prepared.config.head
    sets = [name for name in head_of if name != GENERIC_HEAD]
    if head is None or head == GENERIC_HEAD or len(sets) < 2:
        return None
    if head_of.get(head) != head:  # (not a data-set head of its own)
        return None
    by_generic = sorted(name for name in sets if head_of[name] == GENERIC_HEAD)
    heads = ", ".join(sorted({head_of[name] for name in sets} - {GENERIC_HEAD}))
    if by_generic:
        heads += f", {GENERIC_HEAD} (for {', '.join(by_generic)})"
    return head, heads


def last_head_warning(
    prepared: PreparedPick, head_of: Mapping[str, str], unknown: Sequence[str]
) -> str | None:
    """A warning when micrographs of no data set of the model (by their folder's name, or
    Annotate's) are picked with the data-set head the last training trained, in a model
    of several data sets (``head_of``: :func:`data_set_heads`): which protein they show
    is a guess.

    A trial picked ``ribosome_test/`` with a continual model of ribosome then β-gal:
    the β-gal head at 108 px, AP 0, and only "picked 250 objects" was said. Another
    picked a ribosome folder with a few-shot head of apoferritin added to a ribosome
    model, whose ribosome the generic head picks (AP 0.71 against 0.86), unsaid: the
    model's data sets count, not only its heads.
    """
    guess = guessed_head(prepared, head_of)
    if not unknown or guess is None:
        return None
    head, heads = guess
    diameter = prepared.card.diameter_for_head(head) if prepared.card is not None else None
    size = f", {diameter:g} px" if diameter and prepared.request.diameter_px is None else ""
    shown = ", ".join(unknown[:3]) + (", …" if len(unknown) > 3 else "")
    said = (
        f"{_named(prepared)}{shown} picked with head '{head}' (the last training's"
        f"{size}, threshold {prepared.config.threshold:.3g}), but "
    )
    request = prepared.request
    if request.in_napari or not any(_is_path(m) for m in request.micrographs):  # napari's
        # (a GUI re-trial's Pick folder… was told to "pick with --head NAME")
        return (
            f"{said}they belong to no data set of the model (Annotate's Data set): if they are "
            f"another data set's, name it in Annotate or choose its head (heads: {heads})"
        )
    return (
        f"{said}their folder names no data set of the model: if they are another data "
        f"set's, pick with --head NAME (heads: {heads}), or from a folder of that name"
    )


def head_warning(
    head: str | None, heads: Sequence[str], datasets: Sequence[tuple[str, str]]
) -> str | None:
    """A warning naming the micrographs whose data set has a head of its own in the model,
    picked with another head.

    HydraPicker's design: a data set's own head picks it best. A trial picked
    ribosome and β-gal micrographs with "Pick all open" while the Head box showed
    the apoferritin head (AP 0.61 and 0.45 against 0.67 and 0.64), and another
    ran ``cryopick pick ribosome/micrographs`` on a model whose last training was
    an apoferritin few-shot head: both without a word. ``datasets``: each
    micrograph's name and data set (:func:`micrograph_datasets`).
    """
    if not head or not heads:
        return None
    others: dict[str, list[str]] = {}
    for name, dataset in datasets:
        if dataset and dataset in heads and dataset != head:
            others.setdefault(dataset, []).append(name)
    if not others:
        return None
    parts = [
        f"{', '.join(names[:3])}{', …' if len(names) > 3 else ''} (data set '{dataset}')"
        for dataset, names in others.items()
    ]
    one = sum(map(len, others.values())) == 1
    return (
        f"picked with head '{head}', but {'; '.join(parts)} "
        f"{'has a head of its own' if one else 'have heads of their own'} in the model: "
        "pick with that head (leave out --head: each data set with its own; the Pick "
        "widget's Head box: \"each data set's own\")"
    )


def trained_diameter_warning(
    prepared: PreparedPick,
    diameter_px: float | None = None,
    head: str | None = None,
    pixel_size: float | None = None,
) -> str | None:
    """A warning when a trained model picks at a diameter far from the one it learned, else None.

    ``diameter_px``: the diameter one micrograph resolved (``--diameter-A`` over
    its pixel size); default: the request's ``diameter_px``. ``head``: the head
    it is picked with (default: ``config``'s).

    A model trained on clicks finds particles near the size it learned
    (stored in its model card for the head): a ``diameter_px`` (times
    ``diameter_factor``) more than 25 % away from it
    (:func:`napari_cryopick.core.diameter.diameters_disagree`) loses most
    picks without an error. A general model picking zero-shot
    (:func:`zero_shot`) picks at any diameter given and is not checked.
    """
    from napari_cryopick.core.diameter import DISAGREEMENT, diameters_disagree
    from napari_cryopick.workflows.inputs import size_of

    # a fiber model's warning spoke of particles (a trial): its width, its fibers
    size = size_of(prepared.kinds)
    objects = {"fiber width": "fibers", "vesicle diameter": "vesicles"}.get(size, "particles")
    request = prepared.request
    diameter = request.diameter_px if diameter_px is None else diameter_px
    if diameter is None or zero_shot(prepared) or prepared.card is None:
        return None
    factor = request.diameter_factor or 1.0
    head = prepared.config.head if head is None else head
    trained_A = trained_diameter_angstrom(prepared.card, head, request)
    if trained_A is not None:
        # compared in Å: micrographs of another pixel size (a binned optics group) are
        # right at other pixels; a diameter in pixels only where the pixel size is known
        # (each micrograph's: pick_one), without one as the pixels it was trained at
        known = bool(pixel_size and math.isfinite(pixel_size) and pixel_size > 0)
        given_A = (
            request.diameter_A
            if request.diameter_A is not None
            else (diameter * pixel_size if known else None)
        )
        if given_A is None and request.diameter_A is None and pixel_size is None:
            return None  # a diameter in pixels: checked at each micrograph's pixel size
        if given_A is not None:
            if not diameters_disagree(given_A * factor, trained_A):
                return None
            return (
                f"{_named(prepared)}picking at a {size} of "
                f"{given_A * factor:g} Å, but the model was trained at {trained_A:g} Å (more "
                f"than {DISAGREEMENT:.0%} apart): a trained model finds {objects} near the "
                f"size it learned: pick with --diameter-A {trained_A:g}"
            )
    stored = prepared.card.diameter_for_head(head)
    if not stored or not math.isfinite(stored) or stored <= 0:
        return None
    if not diameters_disagree(diameter * factor, stored):
        return None
    learned = head_diameters(prepared.card, head or getattr(prepared.model, "default_head", None))
    if any(not diameters_disagree(diameter * factor, size) for size in learned.values()):
        return None  # one of the sizes the head learned (a trial: ribosome 56 px and β-gal
        # 108 px in one New model; the ribosome was told to pick at 108 px)
    if len(learned) > 1:
        stored_text = ", ".join(f"{size:g} px ({name})" for name, size in learned.items())
        return (
            f"{_named(prepared)}picking at a {size} of {diameter * factor:.4g} "
            f"px, but the model was trained at {stored_text} (the given one is more than "
            f"{DISAGREEMENT:.0%} from each): a trained model finds {objects} near the sizes "
            "it learned: pick at the diameter of these micrographs' data set"
        )
    given = f"{diameter:.4g} px" + ("" if factor == 1.0 else f" x {factor:g}")
    if request.diameter_A is not None:
        given += f" ({request.diameter_A:g} Å over the pixel size)"
    option = "--diameter-A" if request.diameter_A is not None else "--diameter"
    other_pixels = (
        " if these micrographs have the pixel size of its training micrographs (right as "
        "it is if they are binned otherwise)"
        if request.diameter_A is not None
        else ""
    )
    return (
        f"{_named(prepared)}picking at a {size} of {given}, but the model "
        f"was trained at {stored:g} px (more than {DISAGREEMENT:.0%} apart): a trained model "
        f"finds {objects} near the size it learned: pick at {stored:g} px (the command line: "
        f"leave out {option}){other_pixels}"
    )


def _search_problems(problems: Sequence[str]) -> str:
    """Why the zero-shot search could use no micrograph: the reason of the first one
    without a diameter ("" marks an unreadable one, said when it is picked)."""
    if not problems:
        return "none given"
    unreadable = sum(1 for p in problems if not p)
    sized = [p for p in problems if p]
    parts = [f"{unreadable} unreadable"] if unreadable else []
    if sized:
        parts.append(
            sized[0]
            if len(sized) == 1
            else f"{len(sized)} without a diameter, the first: {sized[0]}"
        )
    return "; ".join(parts)


def _trains_generic_head(run: Mapping[str, Any]) -> bool:
    """Whether a training run trained the generic head: not a few-shot run, which trains
    its own head with the body and the generic head frozen."""
    return run.get("mode") != "fewshot"


def _training_run(card: Any, head: str | None) -> Mapping[str, Any] | None:
    """The history record of the last training of ``head``'s data set (any head: the
    last training), or None. A head of no data set (the generic head) skips few-shot
    runs, which train their own head only (a re-trial's generic head picked at the
    few-shot data set's size)."""
    for run in reversed(card.history or ()):
        names = list(run.get("datasets", ()) or ())
        if head is not None and head in names:
            return run
        if head is None or not card.dataset(head):
            if head is not None and not _trains_generic_head(run):
                continue
            return run
    return None


def _named(prepared: PreparedPick) -> str:
    """``"<model file>: "`` to start a warning with, "" for an in-memory model (the Pick
    widget's: "the model: picking at ..." read oddly)."""
    return "" if prepared.model_name == "the model" else f"{prepared.model_name}: "


def head_diameters(card: Any, head: str | None) -> dict[str, float]:
    """``{data set: diameter in pixels}`` of the data sets ``head`` was trained to pick:
    a data-set head's own; the generic head's every data set (HydraPicker ties it to the
    data-set heads: a trial's continual model of ribosome, 56 px, and β-gal, 108 px,
    advised ``--head generic`` to pick the ribosome at 108 px: AP 0). The general
    model's recipe is left out, and so, for the generic head, are data sets only few-shot
    runs trained: those train their own head with the body and the generic head frozen (a
    trial's few-shot model refused ``--head generic`` for "ribosome 56 px, bgal 108 px")."""
    from napari_cryopick.core.model.card import GENERIC_HEAD

    if card is None:
        return {}
    recipe = set(recipe_heads(card))
    target = head or GENERIC_HEAD
    fewshot_only: set[str] = set()
    if target == GENERIC_HEAD:
        trained = [list(run.get("datasets", ()) or ()) for run in card.history or ()]
        in_generic = {
            name
            for run, names in zip(card.history or (), trained, strict=True)
            if _trains_generic_head(run)
            for name in names
        }
        fewshot_only = {name for names in trained for name in names} - in_generic
    return {
        d.name: float(d.diameter_px)
        for d in card.datasets
        if d.name not in recipe
        and d.name not in fewshot_only
        and d.diameter_px
        and target in (d.head, GENERIC_HEAD)
    }


def several_sizes(card: Any, head: str | None) -> dict[str, float]:
    """:func:`head_diameters` when they are more than 25 % apart (a head that learned
    particles of different sizes has no one size to pick at); {} otherwise."""
    from napari_cryopick.core.diameter import diameters_disagree

    sizes = head_diameters(card, head)
    if len(sizes) < 2 or not diameters_disagree(min(sizes.values()), max(sizes.values())):
        return {}
    return sizes


def several_sizes_warning(card: Any, head: str | None, model_name: str) -> str | None:
    """A warning when ``head`` learned data sets of one size in pixels but different sizes
    in Å (:func:`_several_sizes_A`) and no diameter is given: picked at the pixels, right
    only at those data sets' own pixel sizes. None otherwise."""
    sizes = _several_sizes_A(card, head) if card is not None else {}
    if not sizes:
        return None
    listed = ", ".join(f"{name} {size:g} Å" for name, size in sizes.items())
    stored = card.diameter_for_head(head)
    at = f"{stored:g} px" if stored else "the pixels it learned"
    return (
        f"{model_name}: head '{head or 'generic'}' learned particles of one size in pixels "
        f"but not in Å ({listed}): these micrographs are picked at {at}, right only at the "
        "pixel sizes it was trained at; for micrographs of another pixel size (binned, "
        "another optics group) give --diameter-A"
    )


def _several_sizes_A(card: Any, head: str | None) -> dict[str, float]:
    """``{data set: diameter in Å}`` of the data sets ``head`` learned, from the runs that
    recorded them (:func:`_run_diameter_A`), when more than 25 % apart; {} otherwise. One
    size in pixels can be two in Å (a CLI trial's training of apoferritin at 2 Å/px and
    the ribosome at 5.4 Å/px, both near 54 px)."""
    from napari_cryopick.core.diameter import diameters_disagree

    sizes: dict[str, float] = {}
    for name in head_diameters(card, head):
        run = _training_run(card, name)  # (the last run that trained the data set)
        value = _run_diameter_A(run, name) if run is not None else None
        if value is not None:
            sizes[name] = value
    if len(sizes) < 2 or not diameters_disagree(min(sizes.values()), max(sizes.values())):
        return {}
    return sizes


def _refuse_an_unknown_size(prepared: PreparedPick, key: str) -> None:
    """A monitored folder's micrograph picked with a head that learned several sizes, of no
    data set it learned (by its folder) and without a diameter given: refused as a list run
    of it is (:func:`_refuse_one_of_several_diameters`), for that micrograph (a review: a
    monitor picked it at the last size learned, unsaid)."""
    from napari_cryopick.core.model.card import GENERIC_HEAD

    if not prepared.folder_sizes or prepared.generic_set(key) is not None:
        return
    head = prepared.config_for(key).head or GENERIC_HEAD
    request = prepared.request
    if head == GENERIC_HEAD and trained_diameter_angstrom(prepared.card, head, request) is None:
        _refuse_one_of_several_diameters(prepared.card, head, prepared.model_name)


def _refuse_one_of_several_diameters(card: Any, head: str | None, model_name: str) -> None:
    """No diameter given, and ``head`` learned data sets of particles of different sizes:
    which one these micrographs show is unknown (a trial's New model of ribosome, 56 px,
    and β-gal, 108 px, picked a ribosome micrograph at 108 px without a word)."""
    sizes = several_sizes(card, head)
    if not sizes:
        return
    listed = ", ".join(f"{name} {size:g} px" for name, size in sizes.items())
    raise ValueError(
        f"{model_name}: trained on particles of different sizes with one head ({listed}): "
        "give the diameter of these micrographs' particles (--diameter or --diameter-A)"
    )


def trained_diameter_angstrom(
    card: Any, head: str | None, request: PickRequest | None = None
) -> float | None:
    """The diameter in Å (``cryopick train --diameter-A``) of the last training of
    ``head``'s data set (any head: the last training), or None (given in pixels).

    With ``request``: None also when that training gave the pixel size itself
    (``--pixel-size``: the headers were wrong, or there were none) and the request
    trusts no header either (neither ``--diameter-A`` nor ``--pixel-size``), so that
    the headers' pixel sizes are not taken for the particle's
    (:func:`overridden_pixel_size` says so where they differ).
    """
    run = _training_run(card, head) if card is not None else None
    if run is None:
        return None
    if request is not None and overridden_pixel_size(card, head, request) is not None:
        return None
    return _run_diameter_A(run, head)


def _run_diameter_A(run: Mapping[str, Any], head: str | None) -> float | None:
    """The Å diameter a training run recorded for ``head``: the run's one (every data
    set's the same), else, in a run of several data sets, ``head``'s data set's own."""
    from napari_cryopick.core.model.card import positive_or_none

    one = positive_or_none(run.get("diameter_A"))
    if one is not None or head is None:
        return one
    return positive_or_none(dict(run.get("diameters_A") or {}).get(head))


def overridden_pixel_size(card: Any, head: str | None, request: PickRequest) -> float | None:
    """The pixel size the training of ``head``'s data set gave itself (``--pixel-size``)
    with ``--diameter-A``, when the request gives neither a diameter in Å nor a pixel
    size (so headers are not trusted); else None."""
    from napari_cryopick.core.model.card import positive_or_none

    run = _training_run(card, head) if card is not None else None
    if run is None or request.diameter_A is not None or request.pixel_size_A is not None:
        return None
    if _run_diameter_A(run, head) is None:
        return None
    return positive_or_none(run.get("pixel_size_A"))


# --------------------------------------------------------------------------
# one micrograph
# --------------------------------------------------------------------------


def _read(source: Any) -> Any:
    from napari_cryopick.io.micrographs import Micrograph, read_micrograph

    if _is_path(source):
        return read_micrograph(source)
    if isinstance(source, Micrograph):
        return source
    raise TypeError(f"not a micrograph file or Micrograph: {type(source).__name__}")


def _read_with_diameter(
    prepared: PreparedPick, source: Any, read: Callable[[Any], Any] | None = None
) -> tuple[Any, str, float]:
    """One micrograph, its name and its particle diameter in pixels (errors name it).

    A micrograph without contrast is refused
    (:func:`napari_cryopick.core.preprocess.check_contrast`). ``read``: how
    ``source`` becomes a ``Micrograph`` (default: a file or a ``Micrograph``).
    """
    from napari_cryopick.core.preprocess import check_contrast

    micrograph = (read or _read)(source)
    if prepared.request.pixel_size_A is not None:  # the user's beats the header and lists
        _warn_of_given_pixel_size(prepared, micrograph)
        micrograph = dataclasses.replace(micrograph, pixel_size=prepared.request.pixel_size_A)
    check_contrast(micrograph.data)
    origin = getattr(source, "source", source)  # the file of a batch work item
    name = micrograph.name or (Path(origin).stem if _is_path(origin) else "")
    _warn_of_pixel_size(prepared, micrograph, str(origin) if _is_path(origin) else name)
    _refuse_an_unknown_size(prepared, _micrograph_key(source, micrograph))
    diameter = resolve_diameter(
        prepared.request,
        prepared.card,
        micrograph.pixel_size,
        micrograph=str(origin) if _is_path(origin) else name,
        model_name=prepared.model_name,
        head=prepared.config_for(_micrograph_key(source, micrograph)).head,
        dataset=prepared.generic_set(_micrograph_key(source, micrograph)),
    )
    return micrograph, name, diameter


#: Pixel sizes (Å) outside this range are taken for a header's mistake (nm for Å) and said.
PLAUSIBLE_PIXEL_SIZE_A = (0.3, 20.0)


def _warn_of_given_pixel_size(prepared: PreparedPick, micrograph: Any) -> None:
    """Warn (once a run per header value) when ``--pixel-size`` differs by more than 5 %
    from the pixel size of a micrograph's header (or list), which it replaces: a CLI
    trial's --pixel-size 0.885 on micrographs whose headers said 1.77 picked 399 of 3,241
    particles (AP 0) with an INFO line only, which told it to give --pixel-size."""
    from napari_cryopick.workflows.inputs import given_pixel_size_note

    header = micrograph.pixel_size
    label = micrograph.name or micrograph.path
    message = given_pixel_size_note(label, prepared.request.pixel_size_A, header)
    if message is None:
        return
    key = ("given pixel", round(float(header), 4))
    if key in prepared.resolved_warnings:
        return
    prepared.resolved_warnings[key] = message
    logger.warning(message)


def _warn_of_pixel_size(prepared: PreparedPick, micrograph: Any, label: str) -> None:
    """Warn (once a run per pixel size) when a diameter in Å meets a pixel size no
    microscope gives. Before the diameter is resolved: a diameter too small to pick at
    fails there, and the warning says why (a re-trial's 25 Å header).

    A trial's MRC header said 0.15 Å (nm read as Å): ``--diameter-A 84`` became
    560 px on a 1024 px micrograph and picked 0-1 particles, and nothing said where
    the pixel size came from.
    """
    pixel = micrograph.pixel_size
    low, high = PLAUSIBLE_PIXEL_SIZE_A
    request = prepared.request
    if (
        request.diameter_A is not None
        and request.pixel_size_A is None
        and pixel is not None
        and not low <= pixel <= high
        and ("pixel", pixel) not in prepared.resolved_warnings
    ):
        message = (
            f"{label}: pixel size {pixel:g} Å from the micrograph's header is outside "
            f"{low:g}-{high:g} Å (nm read as Å?): --diameter-A {request.diameter_A:g} is "
            f"{request.diameter_A / pixel:.1f} px with it; give --pixel-size if the header "
            "is wrong"
        )
        prepared.resolved_warnings[("pixel", pixel)] = message
        logger.warning(message)


def _warn_of_overridden_pixel_size(
    prepared: PreparedPick, micrograph: Any, head: str | None, diameter: float
) -> None:
    """Say so (once a run per pixel size) when the model was trained in Å at a pixel
    size of its own (``--pixel-size``) and this micrograph's header gives another: the
    run picks at the training's pixels, which is right only if the header is wrong
    (a docs check: PNGs trained at 5 Å/px, a 2x-binned MRC at 10 Å/px picked at 56 px
    instead of 28, without a word)."""
    request = prepared.request
    if request.diameter_px is not None:
        return
    trained = overridden_pixel_size(prepared.card, head, request)
    pixel = micrograph.pixel_size
    if trained is None or not pixel or abs(pixel / trained - 1.0) <= 0.05:
        return
    key = ("overridden", round(float(pixel), 4))
    if key in prepared.resolved_warnings:
        return
    run = _training_run(prepared.card, head) or {}
    diameter_A = float(_run_diameter_A(run, head) or 0.0)  # (not None: overridden says so)
    message = (
        f"{micrograph.name or micrograph.path}: the model was trained at {diameter_A:g} Å "
        f"with --pixel-size {trained:g}; this micrograph's header says {pixel:g} Å/px, so it "
        f"is picked at the training's {diameter:.1f} px, right only if the header is wrong: "
        f"if it is right, pick with --diameter-A {diameter_A:g} ({diameter_A / pixel:.1f} px)"
    )
    prepared.resolved_warnings[key] = message
    logger.warning(message)


def _note_diameter_from_angstrom(
    prepared: PreparedPick, micrograph: Any, head: str | None, diameter: float
) -> None:
    """Say (once a run per pixel size) at which diameter in pixels a micrograph is picked
    when it comes from the model's diameter in Å over its pixel size and differs from the
    pixels the model was trained at (a robustness trial's micrograph, its header at 2.0 Å/px
    for a model trained at 1.1, was picked at 30.7 px instead of 56 px, unsaid: right for a
    binned micrograph, wrong for a wrong header)."""
    request = prepared.request
    if request.diameter_px is not None or request.diameter_A is not None:
        return
    card = prepared.card
    trained_A = trained_diameter_angstrom(card, head, request) if card is not None else None
    stored = card.diameter_for_head(head) if card is not None else None
    pixel = micrograph.pixel_size
    if trained_A is None or not stored or not pixel or abs(diameter / stored - 1.0) <= 0.05:
        return
    key = ("from Å", round(float(pixel), 4))
    if key in prepared.resolved_warnings:
        return
    prepared.resolved_warnings[key] = None  # a note, not a warning of the outcome
    # (a CLI trial that gave --pixel-size was told to give --pixel-size)
    advice = (
        "if that pixel size is wrong, give --pixel-size"
        if request.pixel_size_A is None
        else "the pixel size given with --pixel-size"
    )
    logger.info(
        "%s: picked at a diameter of %.1f px, the model's %g Å over its pixel size %g Å/px "
        "(the model was trained at %g px); %s",
        micrograph.name or micrograph.path,
        diameter,
        trained_A,
        pixel,
        stored,
        advice,
    )


def _warn_of_unknown_pixel_size(
    prepared: PreparedPick, micrograph: Any, head: str | None, diameter: float
) -> None:
    """Say so (once a run) when the model was trained in Å and this micrograph has no
    pixel size (a PNG, an MRC with the placeholder 1.0 Å): it is picked at the pixels the
    model was trained at, right only if it has the training's pixel size (a trial's PNGs,
    perhaps binned exports, were picked at the training's 48 px without a word)."""
    request = prepared.request
    if request.diameter_px is not None or request.diameter_A is not None:
        return
    pixel = micrograph.pixel_size
    if pixel and math.isfinite(pixel) and pixel > 0:
        return
    trained_A = trained_diameter_angstrom(prepared.card, head, request)
    if trained_A is None or "unknown pixel size" in prepared.resolved_warnings:
        return
    message = (
        f"{micrograph.name or micrograph.path}: no pixel size known (none in the file, or "
        f"the placeholder 1.0 Å), and the model was trained at {trained_A:g} Å: picked at "
        f"the {diameter:.1f} px it was trained at ({trained_A / diameter:.3g} Å/px), right "
        "only if the micrograph has that pixel size (not if it was binned or exported at "
        "another); give --pixel-size or --diameter (said once a run)"
    )
    prepared.resolved_warnings["unknown pixel size"] = message
    logger.warning(message)


#: A micrograph this many times larger (or smaller) than the model's training micrographs,
#: picked at the training's pixels with no pixel sizes to tie them, is said.
OTHER_SCALE_RATIO = 1.5


def _warn_of_other_scale(
    prepared: PreparedPick,
    micrograph: Any,
    head: str | None,
    diameter: float,
    dataset: str | None = None,
) -> None:
    """Warn (once a run per ratio) when a micrograph is picked at the particle size in
    pixels the model was trained at and is at least :data:`OTHER_SCALE_RATIO` times larger
    or smaller than the micrographs it was trained on, with no pixel sizes to tie the two:
    binned or super-resolution copies have particles of another size (a scale trial's
    model of 1024 px micrographs picked 2x upsampled copies at its 56 px: AP 0, unsaid).
    The micrographs of the data set it is picked as (``head``'s, or ``dataset``, the one
    the generic head picks it as: :attr:`PreparedPick.generic_sets`); with neither known,
    those of every data set of the run, when the micrograph is that far from all of them
    (a review: a joint model of 256 and 512 px micrographs told its own 256 px ones to
    halve the diameter). No word when a diameter is given, or when the model's diameter
    in Å meets the micrograph's pixel size (the conversion follows the scale)."""
    request = prepared.request
    card = prepared.card
    if request.diameter_px is not None or request.diameter_A is not None or card is None:
        return
    own = dataset or head
    if micrograph.pixel_size and (
        trained_diameter_angstrom(card, own, request) is not None
        # trained with a pixel size of its own: _warn_of_overridden_pixel_size says it
        or overridden_pixel_size(card, own, request) is not None
    ):
        return
    run = _training_run(card, own) or {}
    sizes = run.get("micrograph_px")
    if not isinstance(sizes, dict) or not sizes:
        return
    try:
        recorded = {str(name): (int(rows), int(cols)) for name, (rows, cols) in sizes.items()}
    except (TypeError, ValueError):
        return  # (a record of another shape: nothing to compare with)
    chosen = {own: recorded[own]} if own in recorded else recorded
    ratios = {
        name: max(micrograph.shape) / max(shape) for name, shape in chosen.items() if max(shape) > 0
    }
    if not ratios or any(1 / OTHER_SCALE_RATIO < r < OTHER_SCALE_RATIO for r in ratios.values()):
        return
    name, ratio = min(ratios.items(), key=lambda item: abs(math.log(item[1])))
    key = ("other scale", round(ratio, 1))
    if key in prepared.resolved_warnings:
        return
    rows, cols = recorded[name]
    size = f"{diameter * ratio:.0f}"
    advice = (
        f"set the particle diameter to {size} px (Annotate, or Pick's box)"
        if request.in_napari
        else f"give --diameter {size}"
    )
    message = (
        f"{micrograph.name or micrograph.path}: {micrograph.shape[1]}x{micrograph.shape[0]} "
        f"px, {ratio:.2g} times the {cols}x{rows} px micrographs the model was trained on "
        f"({name}), picked at the {diameter:.1f} px it was trained at (no pixel sizes tie the "
        f"two): if these are binned or super-resolution copies of such micrographs, {advice}"
    )
    prepared.resolved_warnings[key] = message
    logger.warning(message)


def _warn_of_size(micrograph: Any, label: str, diameter: float) -> None:
    """Warn when a micrograph is smaller than one particle: a trial's 40 px micrograph
    gave an empty file without a word."""
    rows, cols = micrograph.data.shape[-2:]
    if min(rows, cols) < diameter:
        logger.warning(
            "%s: the micrograph (%d x %d px) is smaller than one particle (%.0f px): "
            "nothing can be picked on it; check the diameter (and the pixel size)",
            label,
            cols,
            rows,
            diameter,
        )


#: Micrographs of one run picked at one diameter whose sides differ this many times or
#: more (both sides) are of another binning (:func:`_warn_of_other_size`).
OTHER_SIZE_FACTOR = 1.5


def _warn_of_other_size(
    prepared: PreparedPick, micrograph: Any, label: str, diameter: float, head: str | None = None
) -> None:
    """Say so (once a run) when a micrograph's sides are 1.5 times those of the run's first
    micrograph picked at the same diameter in pixels or more (or at most two thirds): a
    binned copy picked at the others' diameter (a CLI trial's folder of a 4096 px JPG and a
    2x binned 2048 px MRC: 80 picks of 621 particles on the binned one, nothing said).
    Micrographs picked at diameters of their own (pixel sizes known, each data set's head's:
    a trial's 1024 px ribosome and 4096 px β-gal micrographs at 56 and 108 px), or with
    another data set's head (two data sets trained at one diameter: a review), are
    compared with those picked so."""
    shape = tuple(int(n) for n in micrograph.data.shape[-2:])
    key = (round(float(diameter), 2), head)
    first = prepared.first_size.setdefault(key, (label, shape))
    if "other size" in prepared.resolved_warnings:
        return
    first_label, first_shape = first
    sides = [a / b for a, b in zip(shape, first_shape, strict=True)]
    if not all(s >= OTHER_SIZE_FACTOR for s in sides) and not all(
        s <= 1 / OTHER_SIZE_FACTOR for s in sides
    ):
        return
    ratio = math.sqrt(sides[0] * sides[1])
    advice = (
        # the widget's words (a GUI trial was told of --diameter in napari)
        "if one is binned, give it its own diameter in Annotate (micrographs whose files "
        "state their pixel sizes are picked at one particle size)"
        if prepared.request.in_napari
        else "if one is binned, pick it apart with its own --diameter (or give the "
        "micrographs' pixel sizes and --diameter-A)"
    )
    message = (
        f"{label} ({shape[1]} x {shape[0]} px) is {ratio:.2g} times the size of {first_label} "
        f"({first_shape[1]} x {first_shape[0]} px) and both are picked at {diameter:.0f} px: "
        f"{advice} (said once a run)"
    )
    prepared.resolved_warnings["other size"] = message
    logger.warning(message)


def pick_one(prepared: PreparedPick, source: Any) -> MicrographPicks:
    """Pick one micrograph (a file or an in-memory micrograph): the unit of work.

    Runs one strategy per object kind (module docstring) and combines them.
    Writes nothing (see :func:`write_outputs`).

    Raises
    ------
    ValueError, OSError
        The micrograph cannot be read or picked (the message names it).
    """
    from dataclasses import replace

    import pandas as pd

    from napari_cryopick.core.detect import apply_threshold, pick_micrograph
    from napari_cryopick.core.pick_table import at_negatives, empty_picks

    micrograph, name, diameter = _read_with_diameter(prepared, source)
    request = prepared.request
    # its data set's own head, in a run of several
    config = prepared.config_for(_micrograph_key(source, micrograph))
    _warn_of_size(micrograph, str(source) if _is_path(source) else name, diameter)
    _warn_of_other_size(prepared, micrograph, name or str(source), diameter, config.head)
    key = (round(float(diameter), 1), config.head)
    _warn_of_overridden_pixel_size(prepared, micrograph, config.head, diameter)
    _warn_of_unknown_pixel_size(prepared, micrograph, config.head, diameter)
    _note_diameter_from_angstrom(prepared, micrograph, config.head, diameter)
    _warn_of_other_scale(
        prepared,
        micrograph,
        config.head,
        diameter,
        prepared.generic_set(_micrograph_key(source, micrograph)),
    )
    in_angstrom = request.diameter_A is not None or (
        request.diameter_px is not None
        and trained_diameter_angstrom(prepared.card, config.head, request) is not None
    )
    if in_angstrom and key not in prepared.resolved_warnings:
        # the preparation could not check it: the pixel size is each micrograph's (a trial:
        # --diameter 75 warned, --diameter-A 150 at 2 Å/px said nothing); once a run
        message = trained_diameter_warning(
            prepared, diameter, config.head, micrograph.pixel_size or 0.0
        )
        prepared.resolved_warnings[key] = message
        if message is not None:
            logger.warning(message)
    point_kinds = tuple(k for k in prepared.kinds if k != "fiber")
    factor = request.diameter_factor or 1.0
    data = micrograph.data
    if request.invert_contrast:
        from napari_cryopick.core.scale_search import invert

        data = invert(data)
    tables, candidates, fiber_paths, result = [], [], [], None
    negatives, sidecar = user_negatives(source if _is_path(source) else micrograph.path)
    left_out = 0
    if point_kinds:
        result = pick_micrograph(
            prepared.model,
            data,
            diameter_px=diameter * factor,
            config=replace(config, kinds=point_kinds),
            micrograph_name=name,
            border_diameter_px=diameter,  # the factor rescales; the particles are as given
        )
        found = result.picks
        if factor != 1.0 and len(found):
            # picked at another scale; sizes written in the user's notion of the diameter
            found = found.assign(diameter=found["diameter"] / factor)
        junk = at_negatives(found, negatives, diameter)
        if junk.any():
            left_out += int((junk & (found["score"].to_numpy(float) >= config.threshold)).sum())
            found = found[~junk].reset_index(drop=True)
        candidates.append(found)
        tables.append(apply_threshold(found, config.threshold))
    if "fiber" in prepared.kinds:
        from napari_cryopick.core.object_kinds import pick_fibers

        fibers = pick_fibers(
            prepared.model,
            data,
            diameter_px=diameter,
            config=config,
            micrograph_name=name,
            link_radius_px=request.fibers.link_radius_px,
            max_angle_deg=request.fibers.max_angle_deg,
        )
        fibers, gone = _fibers_without(fibers, negatives, diameter)
        left_out += gone
        fiber_paths = list(fibers.paths)
        candidates.append(fibers.candidates)
        tables.append(fibers.picks)
        if result is None:
            result = fibers
    if left_out:
        # said (not only in --verbose): picks the user expects may be missing
        logger.warning(
            "%s: %d %s at the negatives marked in napari left out (%s)",
            name,
            left_out,
            "pick" if left_out == 1 else "picks",
            sidecar,
        )
    frames = [t for t in candidates if len(t)]
    all_candidates = pd.concat(frames, ignore_index=True) if frames else empty_picks()
    all_candidates = all_candidates.sort_values("score", ascending=False, kind="stable")
    frames = [t for t in tables if len(t)]
    picks = pd.concat(frames, ignore_index=True) if frames else empty_picks()
    return MicrographPicks(
        name=name,
        path=Path(source) if _is_path(source) else micrograph.path,
        shape=tuple(micrograph.data.shape),
        pixel_size=micrograph.pixel_size,
        diameter_px=diameter,
        candidates=all_candidates.reset_index(drop=True),
        picks=picks,
        fiber_paths=fiber_paths,
        result=result,
        threshold=float(config.threshold),
        diameter_factor=float(factor),
        scale_confidences=dict(prepared.scale_confidences),
        inverted=bool(request.invert_contrast),
        polarity_confidences=dict(prepared.polarity_confidences),
        at_negatives=left_out,
    )


def user_negatives(path: Any) -> tuple[Any, Path | None]:
    """The negatives (x, y) the user marked in napari on the micrograph file ``path``
    (its annotation sidecar, :func:`napari_cryopick.io.annotations.find_sidecar`), and the
    sidecar; none for ``None`` (a micrograph in memory: the Pick widget applies its
    layers' negatives itself).

    An unreadable sidecar is warned of and its negatives are not applied: the picks are
    still written.
    """
    import pandas as pd

    from napari_cryopick.io.annotations import AnnotationError, find_sidecar, read_sidecar

    none = pd.DataFrame({"x": [], "y": []})
    sidecar = None if path is None else find_sidecar(path)
    if sidecar is None:
        return none, None
    try:
        table = read_sidecar(sidecar, micrograph_path=path).picks
    except AnnotationError as exc:
        logger.warning("%s: the negatives marked there are not applied", exc)
        return none, None
    negatives = table[table["kind"].astype(str) == "negative"]
    return negatives[["x", "y"]].reset_index(drop=True), sidecar


def _fibers_without(fibers: Any, negatives: Any, width: float) -> tuple[Any, int]:
    """``fibers`` (a :class:`~napari_cryopick.core.object_kinds.FiberPickResult`) without
    the traced paths passing within half the fiber ``width`` of a negative the user
    marked (the whole path: as the Pick widget does), and how many paths went."""
    from dataclasses import replace

    from napari_cryopick.core.fibers import paths_near

    if not (len(negatives) and len(fibers.paths)):
        return fibers, 0
    near = paths_near(fibers.paths, negatives[["x", "y"]].to_numpy(float), 0.5 * width)
    if not near.any():
        return fibers, 0
    kept = [i + 1 for i in range(len(fibers.paths)) if not near[i]]
    renumber = {old: new for new, old in enumerate(kept, start=1)}
    picks = fibers.picks[fibers.picks["tube_id"].isin(kept)].copy()
    picks["tube_id"] = picks["tube_id"].map(renumber).astype(picks["tube_id"].dtype)
    paths = [path for path, gone in zip(fibers.paths, near, strict=True) if not gone]
    return replace(fibers, paths=paths, picks=picks.reset_index(drop=True)), int(near.sum())


def write_outputs(prepared: PreparedPick, item: MicrographPicks, stem: Path) -> list[Path]:
    """Write one micrograph's pick files (every requested format) below ``stem``.

    :func:`write_micrograph_picks` with the request and the kinds of a run.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    return write_micrograph_picks(item, stem, prepared.request, prepared.kinds)


#: Pick-file formats that store no kind: vesicles written there reopen as particles.
KINDLESS_FORMATS = ("box", "cbox", "topaz")


def fiber_options_warning(
    kinds: Sequence[str], fibers: FiberOptions, formats: Sequence[str]
) -> str | None:
    """A warning when fiber options given can do nothing: the model picks no fibers, or the
    helical layout (``segments``) for files that are not STAR (a fibers trial's options on
    a vesicle model, and ``--helical-layout segments --format cbox``, went unsaid)."""
    default = FiberOptions()
    given = [
        label
        for label, field_name in (
            ("link radius", "link_radius_px"),
            ("angle limit", "max_angle_deg"),
            ("box distance", "box_distance_px"),
            ("helical layout", "helical_layout"),
        )
        if getattr(fibers, field_name) != getattr(default, field_name)
    ]
    if not given:
        return None
    if "fiber" not in kinds:
        return (
            f"the fiber options given ({', '.join(given)}) do nothing: the model picks no "
            f"fibers (it picks {', '.join(kinds) or 'nothing'})"
        )
    if fibers.helical_layout != default.helical_layout and "star" not in formats:
        return (
            f"the helical layout '{fibers.helical_layout}' applies to STAR files only: "
            f"{', '.join(f.upper() for f in formats)} files of fibers keep their own layout"
        )
    return None


def kind_format_warning(kinds: Sequence[str], formats: Sequence[str]) -> str | None:
    """A warning when vesicles go to a format that cannot say they are vesicles.

    BOX, CBOX and Topaz files have no kind column: a trial's vesicle CBOX reopened
    as particles, trained as particles, and ``cryopick filter --kind vesicle`` kept
    none of it. STAR and CSV keep the kind (``cryopickKind``, ``kind``).
    """
    kindless = [f for f in formats if f in KINDLESS_FORMATS]
    if "vesicle" not in kinds or not kindless:
        return None
    sizes = " (Topaz their sizes too)" if "topaz" in kindless else ""
    return (
        f"{', '.join(kindless)} files cannot store that picks are vesicles: they keep the "
        f"centres but lose the kind{sizes}, so they reopen as particles (cryopick train "
        "needs --kind vesicle for them); write star or csv to keep it"
    )


def _check_segment_pixel_size(request: PickRequest, kinds: Sequence[str]) -> None:
    """Fail before picking when RELION helical segments (track length in Å) are asked
    for micrograph files that carry no pixel size (PNG, JPEG, TIFF) and none is given.

    A review: the run picked every micrograph and then failed each one's file.
    """
    if (
        "fiber" not in kinds
        or "star" not in request.formats
        or request.fibers.helical_layout != "segments"
        or request.pixel_size_A is not None
    ):
        return
    images = [s for s in request.micrographs if _is_path(s) and Path(s).suffix.lower() in (
        ".png", ".jpg", ".jpeg", ".tif", ".tiff"
    )]  # fmt: skip
    if images:
        raise ValueError(
            f"{images[0]}: RELION helical segments need the pixel size (their track length "
            "is in Å) and PNG, JPEG and TIFF files carry none: give --pixel-size, or write "
            "start-end pairs (--helical-layout start_end)"
        )


def check_fiber_formats(kinds: Sequence[str], formats: Sequence[str]) -> None:
    """Raise ``ValueError`` when fibers (a ``kinds`` with ``fiber``) cannot go to ``formats``."""
    wrong = [f for f in formats if f not in FIBER_FORMATS]
    if "fiber" in kinds and wrong:
        raise ValueError(
            f"fibers are written as {', '.join(FIBER_FORMATS)}, not {', '.join(wrong)}"
        )


def write_micrograph_picks(
    item: MicrographPicks, stem: Path, request: PickRequest, kinds: Sequence[str]
) -> list[Path]:
    """Write one micrograph's picks as ``request`` asks, below ``stem``: the one writer.

    ``cryopick pick`` (through :func:`write_outputs`) and the Pick widget's
    export both write with it. Each file is written atomically (a temporary
    file renamed into place). The point kinds among ``kinds`` (every kind but
    ``fiber``) go to ``<stem>.<ext>`` in the pick-file formats; the traced
    fibers (``item.fiber_paths``) to ``<stem>.<ext>`` when ``kinds`` holds
    ``fiber`` alone, else to ``<stem>_fibers.<ext>``: RELION helical STAR in
    ``request.fibers.helical_layout`` (start/end pairs by default), crYOLO
    filament CBOX (one box every ``box_distance_px``, a confidence per
    filament from its vertices' ``score`` in ``item.picks``) or CSV of the
    vertices with their ``tube_id``.

    Parameters
    ----------
    item
        The micrograph's picks: ``picks`` (points; fiber vertices with a
        ``tube_id``), ``candidates`` (with ``request.keep_candidates``),
        ``fiber_paths``, ``shape`` (for ``request.flip_y``), ``diameter_px``
        (the fiber width), ``pixel_size``, ``name``.
    stem
        Output path without suffix; its folder is created.
    request
        ``formats``, ``flip_y``, ``keep_candidates``, ``box_size_px`` and
        ``fibers`` (:class:`FiberOptions`) are used.
    kinds
        The kinds picked (``PreparedPick.kinds``).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ValueError
        Fibers in a format that cannot hold them (:func:`check_fiber_formats`).
    """
    import numpy as np

    from napari_cryopick.io.micrographs import is_tiff
    from napari_cryopick.io.paths import make_output_folder
    from napari_cryopick.io.pickfiles import BOXED_FORMATS, write_picks

    check_fiber_formats(kinds, request.formats)
    make_output_folder(stem.parent)
    height = float(item.shape[0])
    flip = request.flip_y or (request.flip_tiff_y and is_tiff(item.path))
    point_kinds = tuple(k for k in kinds if k != "fiber")
    points = item.picks[item.picks["kind"].isin(point_kinds)] if len(item.picks) else item.picks
    if request.keep_candidates is not None and len(item.candidates):
        keep = item.candidates["kind"].isin(point_kinds) & (
            item.candidates["score"].to_numpy(float) >= request.keep_candidates
        )
        points = item.candidates[keep]
    written: list[Path] = []
    targets = iter(output_paths(stem, request.formats, kinds))
    for format in request.formats:
        if point_kinds:
            target = next(targets)
            options: dict[str, Any] = {}
            if format == "star":
                options["micrograph_names"] = False  # RELION autopick style
                # one diameter in a comment RELION skips: its reader warns on standard
                # error of every file with a label it does not know (an interop trial)
                options["diameter_comment"] = True
                # the FOM label in a file without picks too: every file of the run has
                # the same labels (a CLI trial's tables joined unevenly)
                options["scores"] = True
            if format in BOXED_FORMATS and request.box_size_px is not None:
                options["box_size"] = request.box_size_px
            elif format in BOXED_FORMATS and (box := one_box_size(points)) is not None:
                # one whole-pixel box per file, as crYOLO and EMAN2 write them (a trial's
                # BOX file mixed 61 and 62 px boxes, its CBOX widths 61.38, 61.458, ...);
                # CBOX keeps each pick's own size in _EstWidth
                options["box_size"] = box
            write_picks(
                points.reset_index(drop=True),
                target,
                format,
                flip_y_height=height if flip else None,
                **options,
            )
            written.append(target)
        if "fiber" in kinds:
            target = next(targets)
            paths = item.fiber_paths
            if flip:
                paths = [np.column_stack([p[:, 0], (height - 1) - p[:, 1]]) for p in paths]
            _write_fibers(request, item, paths, target, format, flip=flip)
            written.append(target)
    return written


def output_paths(stem: Path, formats: Sequence[str], kinds: Sequence[str]) -> list[Path]:
    """The files :func:`write_micrograph_picks` writes below ``stem``, in its order:
    per format, ``<stem>.<ext>`` of the point kinds, then the fibers'
    (``<stem>_fibers.<ext>`` beside points, ``<stem>.<ext>`` alone)."""
    from napari_cryopick.io.pickfiles import FORMATS

    point_kinds = [k for k in kinds if k != "fiber"]
    paths = []
    for format in formats:
        suffix = FORMATS[format].SUFFIXES[0]
        if point_kinds:
            paths.append(stem.with_name(stem.name + suffix))
        if "fiber" in kinds:
            paths.append(stem.with_name(stem.name + ("_fibers" if point_kinds else "") + suffix))
    return paths


def one_box_size(points: Any) -> float | None:
    """The one box of a file of particle picks: their median diameter in whole pixels.
    None: vesicles among them (each circle keeps its own size), or no diameters."""
    import numpy as np

    if not len(points) or set(points["kind"].astype(str)) - {"particle"}:
        return None
    sizes = points["diameter"].to_numpy(float)
    if not np.isfinite(sizes).any():
        return None
    box = float(round(float(np.nanmedian(sizes))))
    return box if box >= 1 else None


def _write_fibers(
    request: PickRequest,
    item: MicrographPicks,
    paths: list,
    target: Path,
    format: str,
    *,
    flip: bool = False,
) -> None:
    from napari_cryopick.io import filaments
    from napari_cryopick.io.pickfiles import write_picks

    options = request.fibers
    width = item.diameter_px
    distance = options.box_distance_px or width / 2.0
    fibers = item.picks[item.picks["tube_id"] > 0] if len(item.picks) else item.picks
    scores = [float("nan")] * len(paths)
    for tube, group in fibers.groupby("tube_id"):
        if 1 <= int(tube) <= len(paths):
            scores[int(tube) - 1] = float(group["score"].iloc[0])
    if format == "star":
        pixel = item.pixel_size
        known = bool(pixel and math.isfinite(pixel) and pixel > 0)
        filaments.write_relion_helical(
            {item.name: paths},
            target,
            layout=options.helical_layout,
            box_distance_px=distance,
            pixel_size_A=pixel if known else None,
            micrograph_names=False,
            width_px=width,
            scores={item.name: scores},
        )
    elif format == "cbox":
        filaments.write_cryolo_filaments(
            paths,
            target,
            box_distance_px=distance,
            box_size_px=request.box_size_px or 2.0 * width,
            diameter_px=width,
            scores=scores,
        )
    else:
        height = float(item.shape[0])
        write_picks(
            fibers.reset_index(drop=True),
            target,
            "csv",
            flip_y_height=height if flip else None,
        )


# --------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------


#: Micrographs the zero-shot scale search picks (spread over the run: :func:`search_order`).
SCALE_SEARCH_MICROGRAPHS = 3


def search_order(count: int, first: int = SCALE_SEARCH_MICROGRAPHS) -> list[int]:
    """The order the zero-shot search tries a run's ``count`` micrographs in: ``first`` of
    them spread evenly over the run (its first, its last, between), then the rest in
    order. A scale trial's run began with three empty test exposures, which chose the
    scale of every micrograph after them (0.8 where 1.0 was right)."""
    import numpy as np

    spread = [int(i) for i in np.linspace(0, count - 1, min(first, count)).round()]
    chosen = set(spread)
    return [*dict.fromkeys(spread), *(i for i in range(count) if i not in chosen)]


def zero_shot(prepared: PreparedPick) -> bool:
    """True when a general model picks particles with its generic head (no training on the data).

    A general model (the bundled one, or one of ``scripts/train_general_model.py``)
    carries its recipe as ``general_model`` in its metadata; a model trained
    by ``cryopick train --mode new`` does not, and few-shot / continual models
    pick with their data-set head by default.
    """
    from napari_cryopick.core.model.card import GENERIC_HEAD

    card = prepared.card
    extra = getattr(card, "extra", None) or {}
    is_general = "general_model" in extra
    head = prepared.config.head or getattr(prepared.model, "default_head", None)
    return bool(is_general and head == GENERIC_HEAD and prepared.kinds == ("particle",))


#: The zero-shot search skips micrographs whose shorter side holds fewer particle
#: diameters than this (unless all are that small).
SEARCH_MIN_DIAMETERS = 4.0
#: ... and reads at most this many micrographs looking for the ones to search on.
SEARCH_MAX_READS = 12


def with_scale(
    prepared: PreparedPick,
    sources: Sequence[Any],
    read: Callable[[Any], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[PreparedPick, dict[float, float]]:
    """``prepared`` with its request's polarity and ``diameter_factor`` resolved.

    Zero-shot picking (:func:`zero_shot`) chooses, on the first
    :data:`SCALE_SEARCH_MICROGRAPHS` readable micrographs of ``sources``
    at least :data:`SEARCH_MIN_DIAMETERS` diameters on a side,
    whether to pick them inverted when ``invert_contrast`` is None
    (:func:`napari_cryopick.core.scale_search.choose_polarity`), then the
    factor when ``scale_search`` is on and none is given
    (:func:`napari_cryopick.core.scale_search.choose_scale`); anything else
    keeps the request's settings (``invert_contrast`` None counts as False).
    Returns the confidences of the scale search (empty when none ran); the
    polarity's are in ``prepared.polarity_confidences``. ``read``: how a
    source becomes a ``Micrograph`` (the batch runner's gives it the pixel size
    of a RELION or cryoSPARC micrograph list). ``should_stop`` (a RELION job's Abort,
    ``BatchOptions.should_stop``) is asked between the search's micrographs: True ends
    the search with the request's own settings, for the caller to stop before picking.
    """
    request = prepared.request
    choose_factor = request.diameter_factor is None and request.scale_search
    choose_invert = request.invert_contrast is None
    if not (choose_factor or choose_invert) or not zero_shot(prepared) or not len(sources):
        return _resolved(prepared, {}, {}), {}
    from napari_cryopick.core.scale_search import (
        SearchStopped,
        choose_polarity,
        choose_scale,
        invert,
    )

    # said before it runs: it picks these micrographs several times over before the
    # first micrograph is picked (a trial's 8k micrograph: 96 s without a line)
    from napari_cryopick.core.text import name_list

    order = [sources[i] for i in search_order(len(sources))]
    planned = [_search_name(s) for s in order[:SCALE_SEARCH_MICROGRAPHS]]
    used: list[str] = []
    logger.info(
        "zero-shot: choosing the %s the general model sees the particles at, on %s "
        "(--no-scale-search and --no-invert-contrast skip it)...",
        " and ".join(
            what for what, on in (("contrast", choose_invert), ("scale", choose_factor)) if on
        ),
        "the micrograph"
        if len(sources) == 1
        else f"{min(SCALE_SEARCH_MICROGRAPHS, len(sources))} micrographs spread over the run "
        f"({name_list(planned)})",
    )
    images, diameters, problems, small = [], [], [], []
    every = True  # every micrograph of the run was tried
    for tried, source in enumerate(order):
        if tried == SEARCH_MAX_READS:
            every = False
            break  # micrographs too small to search on: do not read the whole run for it
        if should_stop is not None and should_stop():
            return _resolved(prepared, {}, {}), {}
        try:
            micrograph, _name, diameter = _read_with_diameter(prepared, source, read)
        except (ValueError, OSError, TypeError) as error:
            # an unreadable file is reported once, when it is picked; a readable one
            # without a diameter (no pixel size for --diameter-A) is said here too (a
            # trial read "1 unreadable" for it)
            from napari_cryopick.io.micrographs import MicrographError

            unreadable = isinstance(error, (MicrographError, OSError))
            problems.append("" if unreadable else str(error))
            continue
        if min(micrograph.data.shape) < SEARCH_MIN_DIAMETERS * diameter:
            # a thumbnail or gain reference in the folder holds a few particles at most:
            # its confidence would decide the scale of every micrograph (a user trial)
            if len(small) < SCALE_SEARCH_MICROGRAPHS:
                small.append((micrograph.data, diameter))
            continue
        images.append(micrograph.data)
        diameters.append(diameter)
        used.append(_search_name(source))
        if len(images) == SCALE_SEARCH_MICROGRAPHS:
            every = False
            break
    if not images and small:  # micrographs that small are all there is (at most 3 kept)
        images = [image for image, _ in small]
        diameters = [diameter for _, diameter in small]
    elif images and used != planned:  # (a re-trial: the first line named those planned)
        logger.info(
            "zero-shot: searched on %s instead (the others unreadable or under %g diameters "
            "on a side)",
            name_list(used),
            SEARCH_MIN_DIAMETERS,
        )
    if not images and every and not any(problems):
        # no micrograph of the run can be read: each fails, said once (a formats trial
        # read this warning, "picked at the diameter as given", before the one failure)
        return _resolved(prepared, {}, {}), {}
    if not images:
        logger.warning(
            "zero-shot: the scale and contrast search could use none of the micrographs "
            "(%s); they are picked at the diameter and contrast as given",
            # why each failed is said once, when it fails to be picked (a trial read
            # "1 unreadable" for a readable MRC without a pixel size for --diameter-A)
            _search_problems(problems),
        )
        return _resolved(prepared, {}, {}), {}
    polarity: dict[bool, float] = {}
    inverted = bool(request.invert_contrast)
    try:
        if choose_invert:
            inverted, polarity = choose_polarity(
                prepared.model, images, diameters, prepared.config, should_stop
            )
        if inverted:
            images = [invert(image) for image in images]
        if not choose_factor:
            return _resolved(prepared, {}, polarity, inverted=inverted), {}
        factor, confidences = choose_scale(
            prepared.model,
            images,
            diameters,
            prepared.config,
            known={1.0: polarity[inverted]} if polarity else None,
            should_stop=should_stop,
        )
    except SearchStopped:  # the caller stops before picking
        return _resolved(prepared, {}, {}), {}
    except ValueError:  # no usable factor: picking reports the diameter per micrograph
        return _resolved(prepared, {}, polarity, inverted=inverted), {}
    return _resolved(prepared, confidences, polarity, factor, inverted), confidences


def _search_name(source: Any) -> str:
    """A micrograph of the search, as the user knows it: its file's name, else its name."""
    origin = getattr(source, "source", source)
    return Path(origin).name if _is_path(origin) else _source_name(source) or "?"


def _resolved(
    prepared: PreparedPick,
    confidences: dict[float, float],
    polarity: dict[bool, float],
    factor: float | None = None,
    inverted: bool | None = None,
) -> PreparedPick:
    """``prepared`` with the factor and polarity chosen (None: the request's) filled in."""
    request = prepared.request
    request = dataclasses.replace(
        request,
        diameter_factor=request.diameter_factor if factor is None else factor,
        invert_contrast=bool(request.invert_contrast if inverted is None else inverted),
    )
    return dataclasses.replace(
        prepared,
        request=request,
        scale_confidences=confidences,
        polarity_confidences=polarity,
    )


def polarity_line(inverted: bool, polarity: Mapping[bool, float], source: str = "search") -> str:
    """What to tell the user about the contrast a run picked at ("" when nothing to say).

    ``polarity``: :func:`~napari_cryopick.core.scale_search.choose_polarity`'s
    confidences (empty: no choice ran); ``source`` as in :func:`scale_lines`.
    Only an inversion is worth a line: the micrographs as given are the rule.
    """
    if not inverted:
        return ""
    if source == "option":
        return "picked on the inverted micrographs (particles lighter than the background)"
    if source == "earlier run":
        return "picked on the inverted micrographs, as the earlier run in this folder did"
    seen = ""
    if polarity:
        seen = f" (confidence {polarity[True]:.3f} inverted, {polarity[False]:.3f} as given)"
    return (
        "zero-shot: the particles look lighter than the background: picked on the inverted "
        f"micrographs{seen}"
    )


def scale_lines(
    factor: float,
    confidences: Mapping[float, float],
    diameter_px: float | None = None,
    source: str = "search",
    contrast_forced: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """What to tell the user about the scale a run picked at: a line, and warnings.

    Parameters
    ----------
    factor
        Factor of the diameter the network rescaled with.
    confidences
        The zero-shot scale search's ``{factor: confidence}`` (empty: none ran).
    diameter_px
        The diameter given, where one holds for the whole run.
    source
        ``"search"`` (the zero-shot scale search, or nothing), ``"option"``
        (the user set the factor) or ``"earlier run"`` (a resumed run reuses
        the factor its manifest records).
    contrast_forced
        The user chose the contrast (inverted or not) instead of the search:
        a model that barely sees the particles or prefers another scale may
        be looking at them with the wrong contrast, so the warnings say so.

    Returns
    -------
    line, warnings
        ``line`` is empty when there is nothing to say (no search ran and the
        factor is 1). Warnings: the general model barely sees the particles
        (:func:`~napari_cryopick.core.scale_search.barely_sees`), or it is more
        confident still beyond the range searched, so the diameter may be off
        (:func:`~napari_cryopick.core.scale_search.beyond_range`), or most confident at
        the smallest factor with a diameter too small to try a smaller one.
    """
    from napari_cryopick.core.model.inputs import MAX_UPSCALE
    from napari_cryopick.core.scale_search import (
        LOW_CONFIDENCE,
        SCALE_FACTORS,
        barely_sees,
        beyond_range,
    )

    if not confidences and source == "search":  # nothing searched, nothing chosen
        return "", ()
    if diameter_px:
        at = (
            f"as if the diameter were {diameter_px * factor:.0f} px ({factor:g} x the "
            f"{diameter_px:g} px given; the picks' sizes in the files stay near "
            f"{diameter_px:g} px)"
        )
    else:
        at = f"at {factor:g} x the diameter (the picks' sizes stay near the diameter given)"
    if source == "option":
        return f"picked {at}, the factor given", ()
    if source == "earlier run":
        return f"zero-shot: picked {at}, the factor the earlier run in this folder chose", ()
    lo, hi = min(SCALE_FACTORS), max(SCALE_FACTORS)
    inside = {f: c for f, c in confidences.items() if lo <= f <= hi}
    probes = {f: c for f, c in confidences.items() if not lo <= f <= hi}
    tried = ", ".join(f"{f:g}: {c:.3f}" for f, c in sorted(inside.items()))
    if probes:  # the factor tried beyond an edge (never chosen): apart from the range
        tried += "; beyond the range " + ", ".join(
            f"{f:g}: {c:.3f}" for f, c in sorted(probes.items())
        )
    searched = f"{lo:g}-{hi:g} x"
    line = (
        f"zero-shot: picked {at}, where the general model is most confident of the "
        f"{searched} searched (confidence by factor {tried})"
    )
    contrast = (
        "; or the contrast given (--invert-contrast / --no-invert-contrast) is the wrong one"
        if contrast_forced
        else ""
    )
    warnings: list[str] = []
    beyond = beyond_range(factor, confidences)
    if barely_sees(confidences):
        # not the diameter too where the probe beyond the range was a little more
        # confident: apoferritin at its own diameter ends so (0.105 at 0.64 x against 0.096
        # at 0.8 x), and both "the diameter may be off" (a user trial) and "a little more
        # confident at 0.64 x ... measure a few particles" (tried, a GUI trial: 40 px
        # against Train's image estimate of 90, for 62 px particles) misled
        warnings.append(
            f"the general model barely sees these particles (best confidence "
            f"{max(confidences.values()):.2f}, below {LOW_CONFIDENCE:g}; or the micrographs "
            f"hold few{contrast}): zero-shot picks are likely poor; click a few particles "
            "and train a model on them"
        )
    elif beyond is not None:
        # no size in pixels, and no direction: a CLI trial's 54 px for 108 px beta-gal was
        # told "more confident still at 0.64 x (35 px)", half the particles' parts looking
        # like particles to it, and read it as a diameter to try
        warnings.append(
            f"the model is more confident still at {beyond:g} x the diameter, beyond the "
            f"{searched} searched: the diameter given may be off, either way (at half the "
            "particles' size their parts can look like particles to it); measure a few "
            f"particles and give their diameter{contrast}"
        )
    elif len(inside) > 1 and factor == min(inside) and not any(f < lo for f in probes):
        # the probe below could not run: the detector cannot enlarge the micrographs that
        # much (a trial's 10 px for 56 px ribosomes: 9,019 picks of noise, unwarned)
        size = f" ({diameter_px:g} px)" if diameter_px else ""
        warnings.append(
            f"the model is most confident at the smallest factor searched ({factor:g} x), "
            f"and the diameter given{size} is too small to try a smaller one (the detector "
            f"enlarges a micrograph at most {MAX_UPSCALE:g} times): the diameter given may "
            f"be off; measure a few particles and give their diameter{contrast}"
        )
    return line, tuple(warnings)


def pick(request: PickRequest) -> Generator[PickProgress, None, PickOutcome]:
    """Pick every micrograph of ``request``, yielding one event per micrograph.

    A micrograph that cannot be read or picked is recorded in
    ``PickOutcome.errors`` and the run goes on. Closing the generator stops
    between micrographs; every file is written atomically, so nothing is left
    half-written.

    Raises
    ------
    ValueError
        Before picking anything: bad model, head, kind, format, or two inputs
        that would write the same file.
    """
    import pandas as pd

    from napari_cryopick.core.pick_table import empty_picks

    if request.out_dir is not None:
        return (yield from _pick_into_folder(request))
    start = time.perf_counter()
    prepared = prepare(request)
    prepared, confidences = with_scale(prepared, request.micrographs)
    request = prepared.request
    total = len(request.micrographs)
    tables = []
    errors: dict[str, str] = {}
    at_negatives = 0
    for index, source in enumerate(request.micrographs):
        label = str(source) if _is_path(source) else _source_name(source)
        name = Path(source).stem if _is_path(source) else label
        try:
            item = pick_one(prepared, source)
            tables.append(item.picks)
            at_negatives += item.at_negatives
            only_fibers = prepared.kinds == ("fiber",)
            count = len(item.fiber_paths) if only_fibers else len(item.picks)
            event = PickProgress(
                index + 1,
                total,
                item.name,
                count,
                time.perf_counter() - start,
                item=item,
            )
        except (ValueError, OSError) as error:
            message = str(error)
            if label not in message:
                message = f"{label}: {message}"
            errors[label] = message
            event = PickProgress(
                index + 1, total, name, -1, time.perf_counter() - start, error=message
            )
        yield event
    frames = [t for t in tables if len(t)]
    picks = pd.concat(frames, ignore_index=True) if frames else empty_picks()
    return PickOutcome(
        picks=picks,
        errors=errors,
        n_micrographs=total,
        seconds=time.perf_counter() - start,
        threshold=float(prepared.config.threshold),
        diameter_factor=float(request.diameter_factor or 1.0),
        scale_confidences=confidences,
        inverted=bool(request.invert_contrast),
        polarity_confidences=dict(prepared.polarity_confidences),
        warnings=prepared.warnings + tuple(m for m in prepared.resolved_warnings.values() if m),
        at_negatives=at_negatives,
    )


def _pick_into_folder(request: PickRequest) -> Generator[PickProgress, None, PickOutcome]:
    """:func:`pick` with an output folder: the batch runner's one folder writer.

    Every run into a folder goes through
    :func:`napari_cryopick.workflows.batch.run_batch` (the Pick widget's "Pick
    folder…" as ``cryopick pick``): one run per folder at a time, each
    micrograph recorded in the folder's manifest, and files the folder holds
    that no run wrote (a user's own picks) never replaced. The picks come back
    as one table, as without a folder.
    """
    import pandas as pd

    from napari_cryopick.core.pick_table import empty_picks

    from .batch import BatchOptions, run_batch

    job = run_batch(request, BatchOptions(summary=False, skip=request.resume))
    tables, written = [], []
    at_negatives = 0
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as end:
                batch = end.value
                break
            if event.item is not None:
                tables.append(event.item.picks)
                at_negatives += event.item.at_negatives
            written.extend(event.written)
            yield event
    finally:
        job.close()  # stopped between micrographs: the lock released, the manifest closed
    frames = [t for t in tables if len(t)]
    return PickOutcome(
        picks=pd.concat(frames, ignore_index=True) if frames else empty_picks(),
        written=tuple(written),
        errors=dict(batch.errors),
        n_micrographs=batch.n_micrographs,
        seconds=batch.seconds,
        threshold=batch.threshold,
        diameter_factor=batch.diameter_factor,
        scale_confidences=dict(batch.scale_confidences),
        inverted=batch.inverted,
        polarity_confidences=dict(batch.polarity_confidences),
        warnings=batch.warnings,
        at_negatives=at_negatives,
        n_kept=batch.n_skipped,
        n_edited=batch.n_kept,
        n_other_settings=batch.n_other_settings,
        n_other_formats=batch.n_other_formats,
        n_damaged=batch.n_damaged,
    )
