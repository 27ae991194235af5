"""Batch picking that survives real life: resume, shards, read-ahead, Dask, streaming.

Built on the one pick path (:mod:`napari_cryopick.workflows.pick`): a run is
:func:`~napari_cryopick.workflows.pick.prepare` once, then
:func:`~napari_cryopick.workflows.pick.pick_one` per micrograph (here, in a
read-ahead loop, or on Dask workers) and
:func:`~napari_cryopick.workflows.pick.write_outputs` per micrograph, always
by this process (the *driver*), so a file is written by one writer only.

Resume (``skip``)
    Every micrograph done is recorded, after its files were written
    atomically, as one JSON line in the run manifest
    ``<out>/cryopick_manifest.jsonl`` (``cryopick_manifest.shard-I-of-N.jsonl``
    for a shard). A micrograph is **complete** when a manifest of the folder
    records it as done with the same *settings fingerprint* (model file
    digest, head, kinds, diameter, threshold, picking options, formats, y
    flip, candidate floor) and every output file it lists exists with the
    recorded size. With ``skip`` complete micrographs are not picked again; a
    run killed at any moment resumes where it stopped (at worst the one
    micrograph between its write and its record is picked again, and its
    files are replaced by identical ones).
Files it did not write
    Before picking, a run refuses to start when a file of a name it would
    write is in the folder but no manifest there records it, or records it
    with other contents (size and digest: a user's own picks, or a file
    corrected by hand since), nor a ``summary.csv``/``summary.png`` no run
    wrote: ``overwrite`` replaces them. Each micrograph's output names are
    recorded (status ``started``, flushed) before its files are written, so a
    run killed between the write and its record still owns them (the files
    written within :data:`STARTED_WINDOW_S` of that record; a file put there
    later is the user's).
Shards (``shard=(i, N)``)
    A micrograph belongs to the shard its output path hashes to
    (:func:`shard_items`), whatever the order and number of files each array
    task found: ``--shard $SLURM_ARRAY_TASK_ID/N`` in a 1-based job array.
Read-ahead
    A thread reads the next micrographs while the model runs.
Dask (``dask="local:N" | "tcp://host:port" | "slurm:N"``)
    One task per few micrographs (up to 4, :class:`BatchOptions` ``task_size``);
    the model travels to each worker once inside a worker plugin (the
    checkpoint's bytes), workers run torch with one thread. A task reads its
    micrographs (absolute paths), picks them and *renders* their output files
    with the same :func:`~napari_cryopick.workflows.pick.write_outputs` into a
    private folder, returning the bytes and the pick tables (no heatmap, no
    candidates); the driver only publishes the bytes atomically and records
    them, so a task retried after a lost worker cannot write anything twice
    and the driver's work per micrograph stays small. Results are the same as
    sequential picking (same code, same single-threaded torch).
Summary
    ``summary.csv`` (micrograph, picks, mean score, seconds) and
    ``summary.png`` (histograms of picks and of mean scores per micrograph),
    from the manifests of the folder, so shards of one folder share them.
Streaming
    :func:`napari_cryopick.workflows.monitor.monitor` picks micrographs as
    they appear in a folder, through the same driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from napari_cryopick.core.scale_search import LOW_CONFIDENCE, pick_confidence
from napari_cryopick.workflows.pick import (
    MicrographPicks,
    PickProgress,
    PickRequest,
    PreparedPick,
    output_paths,
    pick_one,
    prepare,
    with_scale,
    write_outputs,
    zero_shot,
)

__all__ = [
    "MANIFEST_NAME",
    "BatchOptions",
    "BatchOutcome",
    "OutputBusyError",
    "Recorded",
    "WorkItem",
    "complete_items",
    "foreign_files",
    "foreign_summary",
    "parse_dask",
    "parse_shard",
    "picked_thresholds",
    "plan_items",
    "read_manifests",
    "record_export",
    "recorded_outputs",
    "refuse_to_replace",
    "run_batch",
    "settings_fingerprint",
    "shard_items",
    "slurm_cluster",
    "unrecorded_outputs",
    "write_summary",
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "cryopick_manifest"
#: Manifest status of a micrograph whose files are about to be written: a run killed
#: between its write and its "done" record still owns the files (never read as a result).
STARTED = "started"
#: Manifest status of files the Pick widget exported (no ``input``: not a picked
#: micrograph's record; pick runs do not take them for their own).
EXPORTED = "exported"
#: Manifest status of the summary files a run wrote (no ``input``): a later run replaces
#: them, a user's own ``summary.csv`` there is never replaced unsaid.
SUMMARIZED = "summary"
#: Manifest status of the files ``cryopick filter`` wrote (no ``input``): a later filter
#: into the folder replaces them; a user's own files there are never replaced unsaid.
FILTERED = "filtered"
SUMMARY_CSV = "summary.csv"
SUMMARY_PNG = "summary.png"


# --------------------------------------------------------------------------
# options, work items, outcome
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs (what is picked is the :class:`PickRequest`).

    Attributes
    ----------
    skip
        Do not pick micrographs whose outputs are complete (module notes).
    shard
        ``(i, N)`` (1-based): only the micrographs whose output path hashes to shard i
        (:func:`shard_items`), in ``--monitor`` mode too.
    read_ahead
        Micrographs read ahead by a background thread (0: none).
    dask
        ``None`` (this process), ``"local:N"``, ``"tcp://host:port"`` or
        ``"slurm:N"``.
    dask_options
        Keyword arguments of ``dask_jobqueue.SLURMCluster`` for ``slurm:N``
        (``queue``, ``account``, ``walltime``, ``memory``,
        ``job_extra_directives``, ...).
    max_in_flight
        Tasks submitted to Dask at once (default: 2 per worker + 2); bounds
        the driver's memory on long lists.
    task_size
        Micrographs per Dask task (default: up to 4, at least 4 tasks per
        worker): fewer round trips through the scheduler and the driver.
    summary
        Write ``summary.csv`` and ``summary.png`` at the end.
    should_stop
        Called between micrographs; True stops the run (e.g. RELION's abort
        file). The micrographs done so far stay recorded.
    overwrite
        Replace files of the output names that no run into the folder wrote,
        or that changed since (:func:`unrecorded_outputs`); by default the
        run refuses to start (monitor mode: records such a micrograph failed).
    """

    skip: bool = False
    shard: tuple[int, int] | None = None
    read_ahead: int = 1
    dask: str | None = None
    dask_options: Mapping[str, Any] = field(default_factory=dict)
    max_in_flight: int | None = None
    task_size: int | None = None
    summary: bool = True
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.shard is not None:
            index, count = self.shard
            if not (count >= 1 and 1 <= index <= count):
                raise ValueError(f"--shard must be i/N with 1 <= i <= N, got {index}/{count}")
        if self.read_ahead < 0:
            raise ValueError(f"read_ahead must be >= 0, got {self.read_ahead}")
        if self.task_size is not None and self.task_size < 1:
            raise ValueError(f"task_size must be >= 1, got {self.task_size}")
        if self.dask is not None:
            parse_dask(self.dask)


@dataclass(frozen=True)
class WorkItem:
    """One micrograph of a batch and where its files go.

    Attributes
    ----------
    source
        Micrograph file.
    stem
        Output path without suffix (``write_outputs`` adds ``.star``, ...).
    pixel_size
        Angstrom per pixel overriding the file header (RELION optics tables).
    stat
        ``(size, mtime_ns)`` of ``source`` when it was taken to be picked (a monitor's
        scan), recorded in the manifest instead of its state once picked: a file that
        changed while it was read is then seen as changed (a review: a slow writer's
        half-written micrograph was recorded with the finished file's size, and never
        picked again). None: its state when its record is written.
    """

    source: Path
    stem: Path
    pixel_size: float | None = None
    stat: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """Manifest key: the absolute input path."""
        return os.path.abspath(self.source)


@dataclass(frozen=True)
class BatchOutcome:
    """Result of :func:`run_batch` (counts only: a 100,000-micrograph run stays small).

    Attributes
    ----------
    n_micrographs
        Micrographs of the run (after sharding).
    n_picked
        Micrographs picked by this run.
    n_skipped
        Micrographs already complete (``skip``), ``n_kept`` of them kept because
        their files were edited since (not picked again, said in a warning).
    n_picks
        Picks above the threshold written by this run.
    n_fibers
        Fibers traced among them (each a path of ``n_picks``' fiber points).
    n_fiber_points
        The fiber points among ``n_picks``.
    errors
        ``{micrograph: message}`` of micrographs that failed.
    stopped
        The run was stopped by ``should_stop`` before the end.
    seconds
        Wall-clock time.
    manifest
        This run's manifest file.
    fingerprint
        The settings fingerprint this run recorded its micrographs under (after
        the zero-shot scale and contrast choice): what ``--skip`` and the RELION
        job's ``autopick.star`` look for.
    summary
        ``(summary.csv, summary.png)`` if written.
    startup_seconds
        Part of ``seconds`` before the first micrograph: loading the model
        (and torch) and starting the workers. What remains, less
        ``waiting_seconds``, divided by ``n_picked``, is the time per
        micrograph of a long run.
    waiting_seconds
        Part of ``seconds`` spent waiting for the first Dask worker to join
        (``--dask slurm:N``: the jobs' time in SLURM's queue).
    diameter_factor, scale_confidences
        As in :class:`~napari_cryopick.workflows.pick.PickOutcome` (the
        zero-shot scale search, :func:`~napari_cryopick.workflows.pick.with_scale`).
    scale_source
        Where ``diameter_factor`` and ``inverted`` came from: ``"search"``
        (the zero-shot choice, or nothing to choose), ``"option"`` (the
        request) or ``"earlier run"`` (``skip``: what an earlier run into the
        folder recorded, so a resumed run picks as it started and searches no
        more).
    inverted, polarity_confidences
        As in :class:`~napari_cryopick.workflows.pick.PickOutcome`.
    busy_seconds
        Monitor mode: the seconds spent picking, without the waits for
        micrographs to arrive (None: the whole run after start-up picked).
    threshold, warnings
        As in :class:`~napari_cryopick.workflows.pick.PickOutcome`.
    empty
        Names of the micrographs picked without a single pick (in order).
    unseen
        Zero-shot picking: names of the micrographs picked (with picks) on which the
        general model's confidence is below
        :data:`~napari_cryopick.core.scale_search.LOW_CONFIDENCE`, the level at which
        it barely sees particles (another protein or diameter than the rest, or an
        empty or carbon-covered micrograph), in order.
    n_other_settings
        Micrographs the output folder held picks of made with other settings (and never
        with these) before the run (:func:`picked_with_other_settings`): written over
        where the run writes the same names.
    n_other_formats
        Those of them whose files are all of other formats than the run writes: beside
        the run's, none written over.
    n_damaged
        ``skip``: output files an earlier run of these settings wrote that were damaged
        since (cut short, emptied: :func:`damaged_output`); their micrographs are among
        those picked again (also logged).
    """

    n_micrographs: int
    n_picked: int
    n_skipped: int
    n_picks: int
    errors: dict[str, str]
    stopped: bool
    seconds: float
    manifest: Path | None
    summary: tuple[Path, ...] = ()
    startup_seconds: float = 0.0
    waiting_seconds: float = 0.0
    n_kept: int = 0
    #: the keys of those kept micrographs (``cryopick relion`` lists their files in
    #: ``autopick.star``: a trial's hand-corrected file was left out of Extract's index)
    kept: tuple[str, ...] = ()
    diameter_factor: float = 1.0
    scale_confidences: dict[float, float] = field(default_factory=dict)
    scale_source: str = "search"
    n_fibers: int = 0
    n_fiber_points: int = 0
    inverted: bool = False
    polarity_confidences: dict[bool, float] = field(default_factory=dict)
    fingerprint: str = ""
    busy_seconds: float | None = None
    threshold: float | None = None
    warnings: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()
    #: The thresholds the micrographs of ``empty`` were picked at (their heads').
    empty_thresholds: tuple[float, ...] = ()
    unseen: tuple[str, ...] = ()
    n_other_settings: int = 0
    n_other_formats: int = 0
    n_damaged: int = 0

    @property
    def seconds_per_micrograph(self) -> float | None:
        """Wall-clock seconds per picked micrograph after start-up (None: none picked).

        In monitor mode the seconds spent picking only, not the waits between
        arrivals (a trial read 18.5 s per micrograph of a 0.5 s job).
        """
        if self.n_picked == 0:
            return None
        if self.busy_seconds is not None:
            return self.busy_seconds / self.n_picked
        busy = self.seconds - self.startup_seconds - self.waiting_seconds
        return max(busy, 0.0) / self.n_picked


# --------------------------------------------------------------------------
# parsing and planning
# --------------------------------------------------------------------------


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; 1-based, one line of error otherwise."""
    index, slash, count = str(text).partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        raise ValueError(f"--shard must be i/N (e.g. 1/4), got {text!r}") from None
    if not slash or not (shard[1] >= 1 and 1 <= shard[0] <= shard[1]):
        raise ValueError(f"--shard must be i/N with 1 <= i <= N, got {text!r}")
    return shard


def parse_dask(text: str) -> tuple[str, Any]:
    """``"local:2"`` -> ``("local", 2)``, ``"slurm:20"``, ``"tcp://h:8786"`` -> ``("address", ...)``."""
    text = str(text).strip()
    if "://" in text:
        return "address", text
    kind, colon, number = text.partition(":")
    if kind in ("local", "slurm") and colon:
        try:
            count = int(number)
        except ValueError:
            count = 0
        if count >= 1:
            return kind, count
    raise ValueError(
        f"--dask must be local:N, slurm:N (N >= 1) or a scheduler address tcp://HOST:PORT, "
        f"got {text!r}"
    )


def shard_items(
    items: Sequence[WorkItem], shard: tuple[int, int] | None, out_dir: Path | None = None
) -> list[WorkItem]:
    """The items of shard ``(i, N)`` (1-based): those whose output path below ``out_dir``
    (the stem, without a suffix) hashes to shard i (:func:`in_shard`).

    By name, not by position: the array tasks of a job list the folder each at its own
    start, and a micrograph written meanwhile (motion correction still running) moved
    every later one to the next shard's position, so some were picked by no shard and
    others by two (every N-th of the list did, before 2026-12-05).
    """
    if shard is None:
        return list(items)
    return [item for item in items if in_shard(_shard_name(item, out_dir), shard)]


def _shard_name(item: WorkItem, out_dir: Path | None) -> str:
    """What a micrograph's shard is drawn from: its output stem below the output folder,
    which two micrographs of one run never share (:func:`~napari_cryopick.workflows.pick.
    output_stems` refuses that) and every array task of the run computes alike."""
    stem = Path(os.path.abspath(item.stem))
    if out_dir is not None:
        with contextlib.suppress(ValueError):
            stem = stem.relative_to(os.path.abspath(out_dir))
    return stem.as_posix()


def in_shard(name: str, shard: tuple[int, int] | None) -> bool:
    """Whether the micrograph ``name`` (its output path below the output folder,
    :func:`shard_items`) belongs to shard ``(i, N)``: by a hash of the name, so the shards
    agree whatever order and batches the files arrive in (in ``--monitor`` mode every N-th
    of each poll's new files lost those that two shards saw in different polls, a trial)."""
    if shard is None:
        return True
    index, count = shard
    # a cryptographic digest: CRC-32's low bits are linear in the input's (every name
    # m0.mrc ... m7.mrc had the same CRC parity, so one shard got them all)
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count == index - 1


def plan_items(
    prepared: PreparedPick, pixel_sizes: Mapping[str, float] | None = None
) -> list[WorkItem]:
    """Work items of a prepared request: its micrograph files and output stems.

    ``pixel_sizes`` (by absolute path, e.g. from a cryoSPARC exposures list,
    :func:`napari_cryopick.io.paths.micrograph_pixel_sizes`) beat the headers.
    """
    sizes = pixel_sizes or {}
    items = []
    for index, source in enumerate(prepared.request.micrographs):
        if not isinstance(source, (str, os.PathLike)):
            raise ValueError(
                "an output folder takes micrograph files, not in-memory micrographs "
                "(write their picks with workflows.pick.write_micrograph_picks)"
            )
        size = sizes.get(os.path.abspath(source))
        items.append(WorkItem(Path(source), prepared.stems[index], size))
    return items


# --------------------------------------------------------------------------
# the manifest: what is complete
# --------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings_fingerprint(request: PickRequest) -> str:
    """Digest of everything that changes what a run writes (not where, not the device)."""
    model = request.model
    if model is None:
        from napari_cryopick.core.model import bundled_model_path

        model = bundled_model_path()
    if isinstance(model, (str, os.PathLike)):
        model_id = _file_digest(Path(model))
    else:  # a loaded model: its weights
        digest = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        model_id = digest.hexdigest()
    settings = {
        "model": model_id,
        "head": request.head,
        "kinds": list(request.kinds) if request.kinds else None,
        "diameter_px": request.diameter_px,
        "diameter_A": request.diameter_A,
        "threshold": request.threshold,
        # top_k None is the automatic cap (the default since 2026-12-02): absent, so the
        # manifests of earlier runs still match (a review: every --skip re-picked)
        "options": {
            k: request.options[k]
            for k in sorted(request.options)
            if not (k == "top_k" and request.options[k] is None)
        },
        "formats": list(request.formats),
        "flip_y": request.flip_y,
        "keep_candidates": request.keep_candidates,
        # the box size sat in the fiber options before it applied to particles too: kept
        # there so that the manifests of earlier runs still match
        "fibers": {**dataclasses.asdict(request.fibers), "box_size_px": request.box_size_px},
    }
    if request.flip_tiff_y:  # absent when off: older manifests still match
        settings["flip_tiff_y"] = True
    if request.diameter_factor not in (None, 1.0):  # absent at 1: older manifests still match
        settings["diameter_factor"] = request.diameter_factor
    if request.invert_contrast:  # likewise absent when not inverted
        settings["invert_contrast"] = True
    if request.pixel_size_A is not None:  # likewise absent when the files' own are used
        settings["pixel_size_A"] = request.pixel_size_A
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _manifest_path(out_dir: Path, shard: tuple[int, int] | None) -> Path:
    if shard is None:
        return out_dir / f"{MANIFEST_NAME}.jsonl"
    return out_dir / f"{MANIFEST_NAME}.shard-{shard[0]}-of-{shard[1]}.jsonl"


def read_manifests(out_dir: Path, fingerprint: str | None = None) -> dict[str, dict[str, Any]]:
    """Latest record per input of every manifest in ``out_dir`` (of ``fingerprint`` only).

    A line cut short by a kill is ignored.
    """
    records: dict[str, dict[str, Any]] = {}
    for record in _manifest_records(out_dir):
        if "input" not in record:
            continue
        if fingerprint is not None and record.get("fingerprint") != fingerprint:
            continue
        if record.get("status") == STARTED:
            continue  # files about to be written (:func:`recorded_outputs`)
        records[record["input"]] = record
    return records


def done_inputs(out_dir: Path, fingerprints: Collection[str]) -> set[str]:
    """The micrographs (record ``input``) a run of any of ``fingerprints`` picked into
    ``out_dir`` (the manifests read once, however many fingerprints)."""
    return {
        str(record["input"])
        for record in _manifest_records(out_dir)
        if "input" in record
        and record.get("fingerprint") in fingerprints
        and record.get("status") == "done"
    }


def written_suffixes(out_dir: Path) -> set[str]:
    """The suffixes (``".star"``, ``".box"``...) of the files any finished run recorded
    in ``out_dir``'s manifests and that are still there: every run's, not only each
    micrograph's newest (a folder picked in several formats holds them side by side)."""
    suffixes: set[str] = set()
    for record in _manifest_records(out_dir):
        if record.get("status") != "done":
            continue
        for name in record.get("outputs") or ():
            suffix = Path(name).suffix.lower()
            if suffix and suffix not in suffixes and (Path(out_dir) / name).is_file():
                suffixes.add(suffix)
    return suffixes


def _manifest_records(out_dir: Path) -> list[dict[str, Any]]:
    """Every record of every manifest in ``out_dir``, oldest first (a line cut short by a
    kill is left out).

    By the time each was written, each file's lines in their order: a shard's
    manifest sorts after the folder's own by name, and a re-trial's whole-folder
    run after a sharded one was taken for older than the shard's (its files
    then "changed since").
    """
    paths = sorted(Path(out_dir).glob(f"{MANIFEST_NAME}*.jsonl"))
    try:
        stats = [path.stat() for path in paths]
        key = tuple((str(p), s.st_size, s.st_mtime_ns, s.st_ino) for p, s in zip(paths, stats))
    except OSError:
        key = None
    folder = os.path.abspath(out_dir)
    cached = _RECORDS_READ.get(folder)
    fresh = cached is not None and time.monotonic() - cached[2] < RECORDS_KEPT_S
    if key is not None and cached is not None and fresh and cached[0] == key:
        # the same manifests as read a moment ago: a run's start read a 100,000-record
        # folder's manifests three to five times over (copies: a caller may change its own)
        return [dict(record) for record in cached[1]]
    records = []
    for path in paths:
        # (bytes that are not text: a damaged line, left out as a cut one is; a review's
        # damaged manifest raised out of the Pick widget's export check)
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of a killed run
                if _well_formed(record):
                    records.append(record)
    records.sort(key=_record_time)  # stable: a file's order within a time
    if key:  # (folders without a manifest are not kept: nothing to save)
        if len(_RECORDS_READ) >= 8:
            _RECORDS_READ.clear()
        _RECORDS_READ[folder] = (key, records, time.monotonic())
        return [dict(record) for record in records]
    return records


#: The records :func:`_manifest_records` read last, by folder: ``{folder: (the manifests'
#: paths, sizes, times and inodes, records, when read)}``; read again when any of those
#: changed, or after :data:`RECORDS_KEPT_S` (a network file system's cached attributes
#: can lag another host's appends: kept for a run's start only, a review).
_RECORDS_READ: dict[str, tuple[tuple, list[dict[str, Any]], float]] = {}
#: Seconds the records read stay served from :data:`_RECORDS_READ`.
RECORDS_KEPT_S = 10.0


#: The types of a manifest record's fields where present (None allowed in digests).
_RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "input": str,
    "status": str,
    "fingerprint": str,
    "micrograph": str,
    "outputs": list,
    "sizes": list,
    "digests": list,
    "picks": int,
    "seconds": (int, float),
    "finished": (int, float),
    "started_at": (int, float),
    "mean_score": (int, float, type(None)),
    "keep_candidates": (int, float, type(None)),
    "list_pixel_size_A": (int, float, type(None)),
}


def _well_formed(record: Any) -> bool:
    """Whether a manifest line is a record a run could have written: a damaged one (an
    I/O trial's ``"input": [1]``, ``"sizes": 5``, ``"outputs": [null]``) is left out as a
    line cut short is, not a TypeError in the next run."""
    if not isinstance(record, dict):
        return False
    for key, kind in _RECORD_FIELDS.items():
        if key in record and not isinstance(record[key], kind):
            return False
    return (
        all(isinstance(name, str) for name in record.get("outputs", []))
        and all(isinstance(n, int) and not isinstance(n, bool) for n in record.get("sizes", []))
        and all(d is None or isinstance(d, str) for d in record.get("digests", []))
    )


def _record_time(record: Mapping[str, Any]) -> float:
    value = record.get("finished", record.get("started_at"))
    return float(value) if isinstance(value, (int, float)) else 0.0


def _outputs_intact(out_dir: Path, record: Mapping[str, Any]) -> bool:
    """Whether a ``done`` record's files are as it wrote them (:func:`_changed_outputs`)."""
    outputs = record.get("outputs") or []
    sizes = record.get("sizes") or []
    if record.get("status") != "done" or len(outputs) != len(sizes) or not outputs:
        return False
    return not _changed_outputs(out_dir, record)


def _changed_outputs(out_dir: Path, record: Mapping[str, Any]) -> list[str]:
    """The outputs of ``record`` not as it wrote them: gone, another size, or other
    contents where a digest was recorded (a file of the same size changed since, an edit
    or blocks of zeros after a crash, was taken as done; 0.03 ms a file, session 24's
    probe). A line with fewer digests than outputs is checked by size for the rest."""
    outputs = [str(name) for name in record.get("outputs") or []]
    sizes = record.get("sizes") or []
    digests = list(record.get("digests") or [])
    digests += [None] * (len(outputs) - len(digests))
    return [
        name
        for name, size, digest in zip(outputs, sizes, digests)
        if not _as_recorded(out_dir / name, size, digest)
    ]


def _as_recorded(path: Path, size: int, digest: str | None) -> bool:
    """Whether ``path`` exists with the recorded size and, where recorded, digest."""
    try:
        return path.stat().st_size == size and (digest is None or _output_digest(path) == digest)
    except OSError:
        return False


class Recorded(NamedTuple):
    """What a folder's manifests say of one output file (:func:`recorded_outputs`)."""

    #: its size when recorded done; None: only announced (a ``started`` record)
    size: int | None
    #: a short SHA-256 of its contents; None: a record of a version before 2026-12-02
    digest: str | None = None
    #: when a run announced it (``started``): the run wrote it about then, or not at all
    started_at: float | None = None


#: A ``started`` record owns a file written this long (seconds) before or after it at
#: most: its run writes at once; a file that came later (the run was killed before its
#: write) is somebody else's. Generous for the clocks of network file systems.
STARTED_WINDOW_S = 600.0


def recorded_outputs(
    out_dir: Path, include_exports: bool = False, include_filtered: bool = False
) -> dict[str, Recorded]:
    """``{file relative to out_dir: Recorded}`` of every output a run into ``out_dir``
    recorded in its manifests (all records, every fingerprint; the latest).

    A ``started`` record: a run was about to write the file and did not record it done
    (killed, a full disk); the file is that run's if written about then.
    ``include_exports``: the files the Pick widget exported there too
    (:func:`record_export`): a later export replaces them, a pick run does not (they
    hold the user's corrections). ``include_filtered``: the files ``cryopick filter``
    wrote there too: a later filter replaces them, a pick run does not (the user chose
    them; a re-trial's ``pick --skip`` replaced them unsaid).
    """
    known: dict[str, Recorded] = {}
    for record in _manifest_records(out_dir):
        if record.get("status") == FILTERED and not include_filtered:
            for name in record.get("outputs") or []:
                known.pop(str(name), None)
            continue
        if record.get("status") == EXPORTED and not include_exports:
            # the user's corrections since: no run's any more (a docs check: a killed
            # run's "started" record then let a pick run replace an export unsaid)
            for name in record.get("outputs") or []:
                known.pop(str(name), None)
            continue
        outputs, sizes = record.get("outputs") or [], record.get("sizes") or []
        if not isinstance(outputs, list) or not isinstance(sizes, list):
            continue
        if record.get("status") == STARTED:
            announced = Recorded(None, None, _record_time(record))
            known.update(dict.fromkeys(map(str, outputs), announced))
            continue
        digests = record.get("digests") or [None] * len(sizes)
        known.update(
            (str(name), Recorded(size, digest))
            for name, size, digest in zip(outputs, sizes, digests)
        )
    return known


def run_folder_pick_files(folder: Path) -> list[Path] | None:
    """The pick files cryopick runs recorded in ``folder``'s manifests, whatever their
    depth, when some lie in its sub-folders (a pick run over an EPU or RELION tree mirrors
    them): every one still there, of every run (pick runs in several formats, a filter's,
    an export's), as a search of the folder would find them beside each other (a review:
    each micrograph's newest run alone left a folder's STAR files out beside a later
    BOX run's). None: no such file below it, or a folder with a RELION coordinate index
    (read through it). ``cryopick filter``, ``cryosparc export`` and ``evaluate`` take a
    run's folder whole this way (a CLI trial's filter of a nested pick folder found "no
    pick files", and the export of the filtered folder "folders are not searched below")."""
    from napari_cryopick.io.formats.star import coordinate_index_of
    from napari_cryopick.io.paths import pick_file_suffixes

    suffixes = set(pick_file_suffixes())
    names = list(recorded_outputs(folder, include_exports=True, include_filtered=True))
    files = sorted(
        {
            folder / name
            for name in names
            if Path(name).suffix.lower() in suffixes and (folder / name).is_file()
        }
    )
    if not any(path.parent != folder for path in files):
        return None
    if coordinate_index_of(folder)[1] is not None:
        return None
    return files


def expand_run_folders(items: Sequence[Any]) -> list[Any]:
    """``items`` with each folder :func:`run_folder_pick_files` knows replaced by its files."""
    expanded: list[Any] = []
    for item in items:
        files = run_folder_pick_files(Path(item)) if Path(item).is_dir() else None
        expanded.extend(files if files else [item])
    return expanded


def picked_thresholds(folder: Path, depth: int = 4) -> dict[str, float | None]:
    """``{absolute file path: threshold}`` of the pick files the manifests of ``folder``
    and of up to ``depth - 1`` folders above it record (a pick run mirrors sub-folders
    under its one manifest): the threshold the pick run that last wrote each file picked
    at; None when the file's last record is no pick run's (an export, a filter) or
    holds none. Read once for a whole folder (a review: once per micrograph)."""
    found: dict[str, float | None] = {}
    for here in _folders_up(folder, depth):
        for name, record in _newest_writers(Path(here)).items():
            found.setdefault(name, _run_threshold(record))  # (the nearest manifest first)
    return found


def pick_run_files(folder: Path, depth: int = 4) -> set[str]:
    """Absolute paths of the files whose newest record (the manifests of ``folder`` and of
    up to ``depth - 1`` folders above it) is a pick run's (status ``done``), not an export
    or a filter: what an export into the folder replaces of a run's."""
    found: dict[str, bool] = {}
    for here in _folders_up(folder, depth):
        for name, record in _newest_writers(Path(here)).items():
            found.setdefault(name, record.get("status") == "done")  # (the nearest first)
    return {name for name, by_run in found.items() if by_run}


def _newest_writers(
    here: Path, statuses: Collection[str] | None = None
) -> dict[str, Mapping[str, Any]]:
    """``{absolute file path: record}``: the newest record of ``here``'s manifests that
    lists each file among its outputs (of ``statuses`` only; None: any); none when the
    manifests cannot be read."""
    try:
        records = _manifest_records(here)
    except OSError:
        records = []
    newest: dict[str, Mapping[str, Any]] = {}
    for record in records:  # oldest first: the newest writer wins
        if statuses is None or record.get("status") in statuses:
            for name in record.get("outputs") or []:
                newest[os.path.normpath(os.path.join(here, str(name)))] = record
    return newest


def _run_threshold(record: Mapping[str, Any]) -> float | None:
    """The threshold a pick run's ``done`` record picked at (None: another record, or
    none it can give)."""
    value = record.get("threshold") if record.get("status") == "done" else None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def _folders_up(folder: Path, depth: int) -> Iterator[Path]:
    """``folder`` (absolute) and the folders above it, ``depth`` in all at most: where the
    manifest recording a pick file lies (a pick run mirrors sub-folders under its one)."""
    here = Path(os.path.abspath(folder))
    for _level in range(depth):
        yield here
        if here.parent == here:
            return
        here = here.parent


def _output_digest(path: Path) -> str:
    """A short SHA-256 of a pick file (they are small): an edit that keeps the size shows."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def unrecorded_outputs(
    prepared: PreparedPick,
    items: Sequence[WorkItem],
    out_dir: Path,
    resume: bool = False,
) -> list[Path]:
    """Files a run would replace that it did not write: an output name of ``items``
    that exists in ``out_dir`` but no manifest there records, or recorded with
    other contents (changed since: a user's corrections); ``resume`` (``--skip``):
    not those damaged since (:func:`damaged_output`), which a resume replaces.

    A trial's ``cryopick pick mics --out picks --format csv`` replaced the
    user's own hand picks ``picks/<micrograph>.csv`` without a word.
    """
    paths = [
        path
        for item in items
        for path in output_paths(item.stem, prepared.request.formats, prepared.kinds)
    ]
    return foreign_files(out_dir, paths, damaged=[] if resume else None)


def foreign_files(
    out_dir: Path,
    paths: Sequence[Path],
    include_exports: bool = False,
    recorded: Mapping[str, Recorded] | None = None,
    damaged: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Those of ``paths`` (files below ``out_dir``) that exist and that no record of the
    folder's manifests wrote as they are now (:func:`recorded_outputs`; ``recorded``:
    read before, by a caller that checks many times). ``damaged`` given (a ``--skip``
    resume): a recorded file changed since into a damaged one (:func:`damaged_output`)
    is not one, but appended there with the reason; otherwise it is one (refused)."""
    if recorded is None:
        recorded = recorded_outputs(out_dir, include_exports) if Path(out_dir).is_dir() else {}
    found = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue  # not there (or not readable: the write will say)
        known = recorded.get(os.path.relpath(path, out_dir))
        if known is None:
            found.append(path)
        elif known.size is None:
            # announced by a run killed about its write: that run's file if written then
            # (a file put there after a kill before the write is the user's)
            if abs(stat.st_mtime - (known.started_at or 0.0)) > STARTED_WINDOW_S:
                found.append(path)
        elif not _as_recorded(path, known.size, known.digest):
            # a run's file damaged since (cut short) holds nothing of the user's: a resume
            # replaces it, not kept as an edit (a trial's cut copy was kept as "edited")
            reason = damaged_output(path) if damaged is not None else None
            if reason is None:
                found.append(path)
            else:
                damaged.append((path, reason))
    return found


def damaged_output(path: Path) -> str | None:
    """Why an output file a run recorded is damaged, not the user's edit of it: it no
    longer reads as a pick file *and* shows how a copy or a write was cut short (empty,
    a run of zero bytes, no newline at its end: every file a run writes ends in one);
    None otherwise. A file that does not read but shows none of those (a CSV saved with
    ';' by a spreadsheet, UTF-16 from an editor, a typo) is the user's: kept, said (a
    review: those were replaced as damaged)."""
    from napari_cryopick.io.pickfiles import read_picks

    try:
        content = path.read_bytes()
        read_picks(path)
    except OSError:
        return None  # not readable at all: the write will say
    except ValueError as error:  # PickFileError: the file named, the line
        cut = not content or b"\0" * 8 in content or not content.endswith(b"\n")
        return str(error).replace(f"{path}: ", "", 1) if cut else None
    return None


def candidate_files(out_dir: Path, paths: Sequence[Path]) -> dict[Path, float]:
    """Those of ``paths`` (files below ``out_dir``) that hold a pick run's candidates as it
    wrote them (``keep_candidates``: every pick down to a score floor, for thresholding
    later), with that floor; files an export or another run replaced since are not."""
    if not Path(out_dir).is_dir():
        return {}
    held = candidate_thresholds(paths, folder=Path(out_dir))
    return {path: floor for path, (floor, _threshold) in held.items()}


def candidate_thresholds(
    paths: Sequence[Path], *, folder: Path | None = None, depth: int = 4
) -> dict[Path, tuple[float, float]]:
    """``{file: (floor, threshold)}`` of those of ``paths`` that hold a pick run's
    candidates as it wrote them (``keep_candidates``: every pick down to the floor), with
    the threshold that run picked at. The newest writer of a file wins (an export or a
    filter into the folder since: not candidates), and its size must be the one the run
    recorded. The manifest is the one of ``folder``, else the nearest of the file's folder
    and up to ``depth - 1`` folders above it (a pick run mirrors sub-folders under its
    one manifest; files named one by one, not their folder: a review)."""
    found: dict[Path, tuple[float, float]] = {}
    nearest = _nearest_records(paths, depth, ("done", EXPORTED, FILTERED), folder)
    for path, (record, here) in nearest.items():
        floor = record.get("keep_candidates")
        if record.get("status") != "done" or floor is None:
            continue
        key = os.path.normpath(os.path.abspath(path))
        sizes = dict(zip(record.get("outputs") or [], record.get("sizes") or []))
        try:
            intact = os.stat(key).st_size == sizes.get(os.path.relpath(key, here))
        except OSError:
            intact = False
        if intact:
            threshold = _run_threshold(record)
            found[path] = (float(floor), math.nan if threshold is None else threshold)
    return found


def _nearest_records(
    paths: Sequence[Path],
    depth: int = 4,
    statuses: Collection[str] | None = None,
    folder: Path | None = None,
) -> dict[Path, tuple[Mapping[str, Any], Path]]:
    """``{path: (record, its folder)}``: the newest record (of ``statuses``; None: any)
    listing each of ``paths`` among its outputs, in the nearest manifest that lists it:
    ``folder``'s only when given, else the file's folder and up to ``depth - 1`` folders
    above it (a pick run mirrors sub-folders under its one manifest). Each folder's
    manifests are read once; paths no manifest lists are left out."""
    writers: dict[Path, dict[str, Mapping[str, Any]]] = {}
    given = [Path(os.path.abspath(folder))] if folder is not None else None
    found: dict[Path, tuple[Mapping[str, Any], Path]] = {}
    for path in paths:
        key = os.path.normpath(os.path.abspath(path))
        for here in given or _folders_up(Path(key).parent, depth):
            if here not in writers:
                writers[here] = _newest_writers(here, statuses)
            record = writers[here].get(key)
            if record is not None:
                found[Path(path)] = (record, here)
                break
    return found


def record_export(
    out_dir: Path,
    written: Sequence[Path],
    micrographs: Mapping[Path, Path] | None = None,
    *,
    flip_tiff_y: bool = False,
    imported_from: str | None = None,
) -> None:
    """Record files the Pick widget exported into ``out_dir`` (a line of its manifest,
    status ``exported``): a later export there may replace them, a pick run may not.
    ``micrographs``: the micrograph file of each (``inputs``, as :func:`record_filtered`
    records them), so ``cryopick cryosparc export`` names the exposures right.
    ``flip_tiff_y``: TIFF micrographs' y written from the last row (the widget's box), so
    that ``cryopick relion --coords`` does not mirror them again (:func:`y_flips`)."""
    micrographs = micrographs or {}
    inputs = [micrographs.get(Path(path)) for path in written]
    extra: dict[str, Any] = (
        {"inputs": [os.path.abspath(i) if i else None for i in inputs]} if any(inputs) else {}
    )
    if flip_tiff_y:
        extra["flip_tiff_y"] = True
    if imported_from is not None:  # cryopick relion --coords: its folder (imported_files)
        extra["imported_from"] = imported_from
    _record_files(out_dir, written, EXPORTED, extra=extra)


def imported_files(out_dir: Path) -> set[Path]:
    """The files ``cryopick relion --coords`` imported into the job folder ``out_dir``
    (records with ``imported_from``), as paths below it; empty when none."""
    found: set[Path] = set()
    for record in _manifest_records(Path(out_dir)) if Path(out_dir).is_dir() else []:
        if record.get("imported_from") is not None:
            found.update(Path(out_dir) / str(name) for name in record.get("outputs") or [])
    return found


def picked_here(out_dir: Path) -> bool:
    """Whether a pick run recorded a micrograph in ``out_dir``'s manifests (a ``done`` or
    failed record of an input)."""
    records = _manifest_records(Path(out_dir)) if Path(out_dir).is_dir() else []
    return any(isinstance(record.get("input"), str) for record in records)


def y_flips(files: Sequence[Path], depth: int = 4) -> dict[Path, str]:
    """``{file: how}`` of those of ``files`` whose newest record (the nearest manifest
    listing them, up to ``depth - 1`` folders above) says their y was written from the
    image's last row: ``"all"``, every micrograph's (a pick run's ``--flip-y``, a filtered
    copy of such files: MRC ones too, which RELION reads as stored, so mirrored back by
    ``relion --coords``; a trial's were imported upside down), or ``"tiff"``, TIFF
    micrographs' only (:func:`record_export`'s ``flip_tiff_y``, a pick run's
    ``--flip-tiff-y``); files of neither are left out."""
    found: dict[Path, str] = {}
    for path, (record, _here) in _nearest_records(files, depth).items():
        if record.get("flip_y"):
            found[path] = "all"
        elif record.get("flip_tiff_y"):
            found[path] = "tiff"
    return found


def mixed_settings(files: Sequence[Path], depth: int = 4, *, per_format: bool = False) -> str:
    """How the pick runs that wrote ``files`` last differ, when more than one set of
    settings (fingerprint) did: ``"threshold 0.6: 10 files (e.g. mic_000.star);
    threshold 0.15: 20 files (e.g. mic_010.star)"``; "" for one (or none recorded).

    A run into a folder of another run's files, killed or stopped partway, leaves picks of
    two settings side by side (each file's record says which); exported or filtered as
    one, they made a particle set of two thresholds, unsaid (a pipeline trial). Files
    whose newest record is no pick run's (filtered, exported) are left out.

    ``per_format``: files of each format are compared among themselves, for a command
    that reads every file given (``cryopick filter``): runs of one folder in several
    formats write each format's files beside the others', none a mix (a trial's five
    runs, one a format, were told of a run stopped partway). An export takes one file a
    micrograph, so its files are compared all together: one micrograph's newest file in
    one format beside another's in another is a mix (a review).
    """
    if not per_format:
        return _mixed_settings_of(files, depth)
    by_format: dict[str, list[Path]] = {}
    for path in files:
        by_format.setdefault(Path(path).suffix.lower(), []).append(Path(path))
    mixed = [_mixed_settings_of(group, depth) for group in by_format.values()]
    return "; ".join(text for text in mixed if text)


def _mixed_settings_of(files: Sequence[Path], depth: int) -> str:
    """:func:`mixed_settings` of files of one format."""
    groups: dict[str, list[tuple[Path, Mapping[str, Any]]]] = {}
    for path, (record, _here) in _nearest_records(files, depth).items():
        fingerprint = record.get("fingerprint")
        if record.get("status") == "done" and isinstance(fingerprint, str):
            groups.setdefault(fingerprint, []).append((path, record))
    if len(groups) < 2:
        return ""
    firsts = [members[0][1] for members in groups.values()]

    def differs(key: str) -> bool:
        # every group's own value (older records keep no threshold: a review)
        values = [record.get(key) for record in firsts]
        return None not in values and len({repr(v) for v in values}) == len(values)

    key = next((k for k in ("threshold", "head") if differs(k)), None)
    parts = []
    for members in sorted(groups.values(), key=len, reverse=True):
        record = members[0][1]
        what = f"{key} {record.get(key)}" if key else f"settings {record.get('fingerprint')}"
        example = sorted(path.name for path, _r in members)[0]
        parts.append(f"{what}: {len(members)} file(s) (e.g. {example})")
    return "; ".join(parts)


def last_row_files(flips: Mapping[Path, str], micrographs: Mapping[Path, Path]) -> set[Path]:
    """Those of :func:`y_flips`' files whose picks count y from the image's last row: every
    ``"all"`` one, and the ``"tiff"`` ones of a TIFF micrograph (``micrographs``: each
    file's, :func:`micrograph_files`): what a program counting y from the first row
    (Topaz, cryoSPARC, napari) reads mirrored."""
    from napari_cryopick.io.micrographs import is_tiff

    return {path for path, how in flips.items() if how == "all" or is_tiff(micrographs.get(path))}


def record_filtered(
    out_dir: Path,
    written: Sequence[Path],
    micrographs: Mapping[Path, Path] | None = None,
    *,
    flip_tiff_y: bool = False,
    flip_y: bool = False,
) -> None:
    """Record files ``cryopick filter`` wrote into ``out_dir`` (status ``filtered``), with
    the micrograph file of each that the manifests of its input knew (``inputs``: a
    path, or null), so exports of the filtered files name the micrographs as exports of
    the picks do (a trial's PNG micrographs were exported as ``<name>.mrc``).
    ``flip_tiff_y``: their inputs' TIFF y was written from the last row
    (:func:`y_flips`), and so is theirs (a review: ``relion --coords`` mirrored a
    filtered copy of such files once more); ``flip_y``: every micrograph's."""
    micrographs = micrographs or {}
    inputs = [micrographs.get(Path(path)) for path in written]
    extra: dict[str, Any] = (
        {"inputs": [str(i) if i else None for i in inputs]} if any(inputs) else {}
    )
    if flip_y:
        extra["flip_y"] = True
    elif flip_tiff_y:
        extra["flip_tiff_y"] = True
    _record_files(out_dir, written, FILTERED, extra=extra)


def micrograph_files(files: Sequence[Path], depth: int = 4) -> dict[Path, Path]:
    """The micrograph file of each pick file that a manifest records, ``{pick file: micrograph}``.

    The manifest of the pick file's folder, or of a folder above it (up to ``depth``
    levels: a pick run mirrors sub-folders), written by ``cryopick pick`` or
    ``cryopick relion`` (``done`` records: their ``input``), by ``cryopick filter``
    (``filtered`` records: their ``inputs``) or by the Pick widget's export
    (``exported`` records: their ``inputs``). Pick files no manifest knows are left out.
    """
    cache: dict[Path, dict[str, Path]] = {}
    found: dict[Path, Path] = {}
    for file in files:
        for folder in _folders_up(Path(file).parent, depth):
            if folder not in cache:
                cache[folder] = _recorded_micrographs(folder)
            source = cache[folder].get(os.path.relpath(os.path.abspath(file), folder))
            if source is not None:
                found[Path(file)] = source
                break
    return found


def _recorded_micrographs(folder: Path) -> dict[str, Path]:
    """``{output file (relative to folder): micrograph file}`` of the manifests in ``folder``."""
    outputs: dict[str, Path] = {}
    if not any(folder.glob(f"{MANIFEST_NAME}*.jsonl")):
        return outputs
    for record in _manifest_records(folder):  # oldest first: the newest writer wins
        names = record.get("outputs")
        if not isinstance(names, list):
            continue
        if record.get("status") == "done" and isinstance(record.get("input"), str):
            sources = [record["input"]] * len(names)
        elif record.get("status") in (FILTERED, EXPORTED) and isinstance(
            record.get("inputs"), list
        ):
            sources = record["inputs"]
        else:
            continue
        for name, source in zip(names, sources, strict=False):
            if isinstance(source, str) and source:
                outputs[str(name)] = Path(source)
    return outputs


def _record_files(
    out_dir: Path,
    written: Sequence[Path],
    status: str,
    shard: tuple[int, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """A manifest line of status ``status`` recording ``written`` (files in ``out_dir``), in
    the manifest of ``shard`` (default: the folder's unsharded one), with ``extra`` fields."""
    if not written:
        return
    record = {
        "status": status,
        "outputs": [os.path.relpath(path, out_dir) for path in written],
        "sizes": [path.stat().st_size for path in written],
        "digests": [_output_digest(path) for path in written],
        "finished": round(time.time(), 3),
        **(extra or {}),
    }
    with open(_manifest_path(Path(out_dir), shard), "a", encoding="utf-8") as handle:
        if not _ends_a_line(handle.name):
            handle.write("\n")
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def refuse_to_replace(
    prepared: PreparedPick,
    items: Sequence[WorkItem] | None = None,
    summary: bool = False,
    resume: bool = False,
    request: PickRequest | None = None,
) -> None:
    """Raise ValueError naming the files of :func:`unrecorded_outputs` (``items``: those
    of the prepared request's micrographs by default), if any; ``summary``: the
    ``summary.csv`` and ``summary.png`` the run will write too; ``resume``: a ``--skip``
    run, which replaces damaged files (:func:`damaged_output`) and, with the default
    items, leaves out those :func:`run_batch` would keep (:func:`resumed_todo`; the
    settings are ``request``'s, default the prepared one's)."""
    out_dir = Path(prepared.request.out_dir)
    if not out_dir.is_dir():
        return
    if items is None:
        items = plan_items(prepared)
        if resume:
            # the Pick widget's check before Pick folder…: a file edited since an earlier
            # run of these settings is kept by the run, not refused (a re-trial's one
            # edited file stopped the whole resume, as --skip's once did)
            items = resumed_todo(prepared, items, out_dir, request or prepared.request)
    found = unrecorded_outputs(prepared, items, out_dir, resume)
    if summary:
        found += foreign_summary(out_dir)
    _refuse(out_dir, found)
    _refuse_other_micrographs(out_dir, other_micrographs_outputs(prepared, items, out_dir))


def other_micrographs_outputs(
    prepared: PreparedPick, items: Sequence[WorkItem], out_dir: Path
) -> list[tuple[Path, str, WorkItem]]:
    """``(file, the micrograph it holds the picks of, the item that would replace it)``
    for the output files of ``items`` that an earlier run wrote for another micrograph
    file still there: one of the same name in another folder, or a copy beside it (a
    trial picked ``other/`` into the folder ``mics/`` was picked into, names alike, and
    every file of ``mics/`` was replaced, unsaid). A micrograph moved or deleted since, a
    link to the same file, or one replaced under its own path is not another."""
    records = read_manifests(out_dir) if Path(out_dir).is_dir() else {}
    # by output name without its format: a file of another format beside them is the
    # same name of two micrographs too (a GUI trial's BOX files of other micrographs were
    # written beside the first ones' STAR files, said as "other settings")
    owners: dict[str, tuple[str, list[Path]]] = {}
    # the latest run's micrograph owns a name (one --overwrite gave to another since)
    done = [r for r in records.values() if r.get("status") == "done"]
    for record in sorted(done, key=_record_time):
        if not isinstance(record.get("input"), str):
            continue
        files: dict[str, list[Path]] = {}
        for name in map(str, record.get("outputs") or []):
            files.setdefault(_output_stem(name), []).append(out_dir / name)
        owners.update((stem, (record["input"], paths)) for stem, paths in files.items())
    if not owners:
        return []
    found = []
    for item in items:
        owner = owners.get(os.path.relpath(item.stem, out_dir))
        if owner is None or owner[0] == item.key:
            continue
        other, files = owner
        present = [path for path in files if path.exists()]
        if not present or not os.path.exists(other):
            continue
        if os.path.realpath(other) == os.path.realpath(item.source):
            continue
        found.append((present[0], other, item))
    return found


def _output_stem(name: str) -> str:
    """An output file's name without its format's suffix (and ``_fibers``)."""
    stem = os.path.splitext(name)[0]
    return stem[: -len("_fibers")] if stem.endswith("_fibers") else stem


def _refuse_other_micrographs(out_dir: Path, found: Sequence[tuple[Path, str, WorkItem]]) -> None:
    if not found:
        return
    path, other, item = found[0]
    count = len({str(p) for p, _, _ in found})
    raise ValueError(
        f"{out_dir}: {count} file(s) hold the picks of other micrographs of the names this "
        f"run would write (e.g. {os.path.relpath(path, out_dir)}, picks of {other}, not "
        f"of {item.source}): micrographs of the same names in other folders; pick into "
        "another folder (cryopick pick and cryopick relion: --overwrite replaces them)"
    )


def refuse_summary_collision(
    prepared: PreparedPick, items: Sequence[WorkItem], out_dir: Path
) -> None:
    """Raise ValueError when the run's ``summary.csv`` or ``summary.png`` would be one of
    its micrographs or one of their pick files.

    A trial's micrograph ``summary.mrc`` picked to CSV lost its picks to the summary
    table (a later evaluate left it out, unsaid), and ``--overwrite`` replaced an input
    micrograph ``summary.png`` in the output folder with the summary chart.
    """
    summary = {
        os.path.abspath(Path(out_dir) / name).casefold(): name
        for name in (SUMMARY_CSV, SUMMARY_PNG)
    }
    for item in items:
        outputs = output_paths(item.stem, prepared.request.formats, prepared.kinds)
        for path in (item.source, *outputs):
            name = summary.get(os.path.abspath(path).casefold())
            if name is None:
                continue
            what = "is" if path == item.source else "would write its picks to"
            raise ValueError(
                f"{item.source}: this micrograph {what} {path}, where the run writes its "
                f"{name}: rename the micrograph, pick into another folder, or --no-summary"
            )


def foreign_summary(out_dir: Path) -> list[Path]:
    """``summary.csv`` / ``summary.png`` in ``out_dir`` that no run wrote (a user's own).

    A run's summary is the next run's to replace, even while another shard is writing
    it (its contents change then): only one no run wrote is the user's. Runs before
    2026-12-02 did not record their summaries: a folder of such runs' records and none
    of a summary is taken for theirs.
    """
    out_dir = Path(out_dir)
    present = [out_dir / name for name in (SUMMARY_CSV, SUMMARY_PNG) if (out_dir / name).exists()]
    if not present:
        return []
    recorded = recorded_outputs(out_dir)
    statuses = {record.get("status") for record in _manifest_records(out_dir)}
    if SUMMARIZED not in statuses and "done" in statuses:
        return []
    return [path for path in present if path.name not in recorded]


def _refuse(out_dir: Path, found: Sequence[Path]) -> None:
    if not found:
        return
    summary = any(path.name in (SUMMARY_CSV, SUMMARY_PNG) for path in found)
    names = ", ".join(os.path.relpath(p, out_dir) for p in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    raise ValueError(
        # (a round-trip trial read "no cryopick run wrote" of napari's exported files)
        f"{out_dir}: {len(found)} file(s) would be replaced that no earlier cryopick pick "
        "run into this folder wrote (yours, napari's exports of your corrections, cryopick "
        f"filter's), or that changed since ({names}{more}): pick into another "
        "folder or move them away (cryopick pick and cryopick relion: --overwrite replaces "
        "them" + ("; --no-summary writes no summary" if summary else "") + ")"
    )


def picked_with_other_settings(request: PickRequest, *, same_formats: bool = False) -> list[str]:
    """The micrographs (manifest keys) ``request.out_dir`` holds picks of made with other
    settings than ``request``'s and never with these (the run writes over their files
    where it writes the same names): said by ``cryopick pick`` and the Pick widget's
    *Pick folder…* (another model, threshold or format; a command-line run's picks,
    whose settings the widget records differently, among them).

    ``same_formats``: only those whose recorded files include one of a format this run
    writes (a trial's runs of one folder in five formats, each beside the others, were
    each told that their files would be written over).
    """
    out = Path(request.out_dir)
    if not out.is_dir():
        return []
    records = read_manifests(out)
    if not records:
        return []
    fingerprints = set(_view_fingerprints(request))
    # micrographs picked (not failed) with other settings and never with these (a scale
    # trial's STAR, BOX, STAR runs into one folder: the third was told its files would be
    # written over, then skipped them all; failures counted as picks)
    these = done_inputs(out, fingerprints)
    other = [
        key
        for key, r in records.items()
        if r.get("fingerprint") not in fingerprints
        and r.get("status") == "done"
        and key not in these
    ]
    if not same_formats:
        return other
    from napari_cryopick.io.pickfiles import FORMATS

    suffixes = tuple(FORMATS[f].SUFFIXES[0] for f in request.formats if f in FORMATS)
    written: dict[str, list[str]] = {}  # every run's files of each (not the latest run's)
    for record in _manifest_records(out):
        if record.get("status") == "done" and record.get("fingerprint") not in fingerprints:
            written.setdefault(str(record.get("input")), []).extend(record.get("outputs") or ())
    return [
        key
        for key in other
        if any(str(name).lower().endswith(suffixes) for name in written.get(str(key), ()))
    ]


def _view_fingerprints(request: PickRequest) -> dict[str, tuple[float, bool]]:
    """``{settings fingerprint: (diameter factor, inverted)}`` of every view a run of
    ``request`` may record: a zero-shot run chooses its factor and contrast as it starts,
    so any of them is these settings (one of each when the request gives them)."""
    from napari_cryopick.core.scale_search import SCALE_FACTORS

    search = request.diameter_factor is None and request.scale_search
    factors = SCALE_FACTORS if search else (request.diameter_factor or 1.0,)
    polarities = (False, True) if request.invert_contrast is None else (request.invert_contrast,)
    return {
        settings_fingerprint(
            dataclasses.replace(request, diameter_factor=f, invert_contrast=inverted)
        ): (f, inverted)
        for f in factors
        for inverted in polarities
    }


def resumed_todo(
    prepared: PreparedPick, items: Sequence[WorkItem], out_dir: Path, request: PickRequest
) -> list[WorkItem]:
    """The ``items`` a resumed run (``--skip``) of ``request`` into ``out_dir`` picks, as
    :func:`run_batch` chooses them: those no earlier run of the same settings finished
    (files intact), less those whose files were edited since (kept, not picked)."""
    earlier = earlier_view(prepared, out_dir)
    if earlier is not None:  # the zero-shot scale the earlier run chose: its settings
        factor, inverted = earlier
        request = dataclasses.replace(request, diameter_factor=factor, invert_contrast=inverted)
    records = read_manifests(out_dir, settings_fingerprint(request))
    if not records:
        return list(items)
    todo, _done, _moved = _split_items(
        items, out_dir, records, request.pixel_size_A is None, _planned_heads(prepared)
    )
    todo, _kept, _damaged = _keep_foreign(prepared, todo, out_dir, say=False)
    return todo


def _planned_heads(prepared: PreparedPick) -> Callable[[str], str | None] | None:
    """The head each micrograph (by key) is picked with, as its manifest record says it
    (``record["head"]``), when that follows the micrograph (no head given: each data set
    its own); None when one head picks all (the settings' fingerprint holds it)."""
    if prepared.request.head is not None:
        return None
    default = getattr(prepared.model, "default_head", None)
    return lambda key: prepared.config_for(key).head or default


def _run_state() -> dict[str, Any]:
    """The counters a batch or monitor run keeps while it goes (see :class:`BatchOutcome`)."""
    return {
        "step": 0,
        "picked": 0,
        "picks": 0,
        "fibers": 0,
        "fiber_points": 0,
        "errors": {},
        "stopped": False,
        "empty": [],
        "empty_thresholds": set(),
        "unseen": [],
    }


def earlier_view(prepared: PreparedPick, out_dir: Path) -> tuple[float, bool] | None:
    """``(factor, inverted)`` an earlier zero-shot run into ``out_dir`` picked with.

    None unless the request leaves something for zero-shot picking to choose
    (:func:`~napari_cryopick.workflows.pick.with_scale`) and the manifests
    hold records of the same settings at one of the choices (the most
    frequent one when several).
    """
    from collections import Counter

    request = prepared.request
    search = request.diameter_factor is None and request.scale_search
    if not (search or request.invert_contrast is None):
        return None
    if not zero_shot(prepared) or not Path(out_dir).is_dir():
        return None
    by_fingerprint = _view_fingerprints(request)
    found = Counter(
        by_fingerprint[record["fingerprint"]]
        for record in read_manifests(out_dir).values()
        if record.get("fingerprint") in by_fingerprint
    )
    return found.most_common(1)[0][0] if found else None


def complete_items(
    items: Iterable[WorkItem], out_dir: Path, fingerprint: str
) -> tuple[list[WorkItem], list[WorkItem]]:
    """Split ``items`` into (to do, complete) by the manifests of ``out_dir``."""
    todo, done, _moved = _split_items(items, out_dir, read_manifests(out_dir, fingerprint))
    return todo, done


def _split_items(
    items: Iterable[WorkItem],
    out_dir: Path,
    records: Mapping[str, Mapping[str, Any]],
    listed: bool = True,
    heads: Callable[[str], str | None] | None = None,
) -> tuple[list[WorkItem], list[WorkItem], list[tuple[WorkItem, Mapping[str, Any]]]]:
    """(to do, complete, moved) of ``items`` by ``records`` (:func:`read_manifests` of one
    fingerprint): moved are those to do whose files a run wrote, intact, under other
    names (another layout of the outputs), with that record. ``heads``: the head each
    item (by key) is picked with now; a record of another head is not complete (each
    data set's own head, with the data set a micrograph belongs to changed since)."""
    # the same file through another path (a symlinked or moved folder: RELION projects
    # link everything) is the same micrograph: a trial's --skip picked all of it again
    # several links to one file (a.png and b.png -> real.png) each have a record: the one
    # whose outputs are this item's (a facility trial's --skip through a linked folder
    # picked 20 of 150 again, all links sharing a file)
    by_file: dict[str, list[Mapping[str, Any]]] = {}
    by_name: dict[tuple[str, Any, Any], list[Mapping[str, Any]]] = {}
    for r in records.values():
        if isinstance(r.get("real"), str):
            by_file.setdefault(r["real"], []).append(r)
        if isinstance(r.get("input"), str) and "input_size" in r:
            name = (os.path.basename(r["input"]), r["input_size"], r.get("input_mtime_ns"))
            by_name.setdefault(name, []).append(r)
    items = list(items)
    given = {os.path.abspath(item.source) for item in items}
    todo, done, moved = [], [], []
    for item in items:
        record = records.get(item.key)
        if record is None:
            same_file = by_file.get(os.path.realpath(item.source), []) or _moved_here(item, by_name)
            record = next(
                (r for r in same_file if _outputs_at(out_dir, r, item)),
                same_file[0] if same_file else None,
            )
        if (
            record is None
            or not _outputs_intact(out_dir, record)
            or not _input_unchanged(item, record, listed)
            # picked with another head than now (the settings' head "each data set's own",
            # the micrograph annotated as another data set since: a review, the Pick
            # widget's resume kept the files of the head it had been picked with)
            or (heads is not None and "head" in record and record["head"] != heads(item.key))
        ):
            todo.append(item)
        elif _outputs_at(out_dir, record, item):
            done.append(item)
        else:
            todo.append(item)
            picked = os.path.abspath(str(record.get("input", "")))
            if picked == os.path.abspath(item.source) or picked not in given:
                # (another name of a file given too, a symlink beside it, is no other
                # layout: a trial's b.png -> a.png was told to give the same folders)
                moved.append((item, record))
    return todo, done, moved


def _moved_here(
    item: WorkItem, by_name: Mapping[tuple[str, Any, Any], list[Mapping[str, Any]]]
) -> list[Mapping[str, Any]]:
    """The records of a micrograph file moved to ``item.source`` since it was picked: of
    its name, size and modification time, at a path that no longer exists (a facility
    trial moved its folder from scratch to the archive, and ``--skip`` picked every
    micrograph again: a move changes the real path, which links are known by)."""
    if not by_name:
        return []
    stat = _input_stat(item.source)
    if not stat:
        return []
    name = (os.path.basename(item.source), stat["input_size"], stat["input_mtime_ns"])
    return [r for r in by_name.get(name, []) if not os.path.lexists(str(r["input"]))]


def _keep_foreign(
    prepared: PreparedPick, todo: Sequence[WorkItem], out_dir: Path, say: bool = True
) -> tuple[list[WorkItem], list[WorkItem], int]:
    """Split ``todo`` into (to pick, kept, damaged files): a micrograph whose output file
    exists and no run wrote as it is now (edited or written by the user) is kept, with a
    warning (``say``: logged; the run's own check says it, not a check before it); one
    whose earlier file is damaged (:func:`damaged_output`) is picked again, counted."""
    if not out_dir.is_dir():
        return list(todo), [], 0
    recorded = recorded_outputs(out_dir)
    pick, kept, files, damaged = [], [], [], []
    for item in todo:
        paths = output_paths(item.stem, prepared.request.formats, prepared.kinds)
        own: list[tuple[Path, str]] = []
        found = foreign_files(out_dir, paths, recorded=recorded, damaged=own)
        (kept if found else pick).append(item)
        files += found
        if not found:  # (a micrograph kept for an edited file keeps its damaged one too)
            damaged += own
    if damaged and say:
        path, reason = damaged[0]
        logger.warning(
            "%s: %d output file(s) an earlier run wrote are damaged now (e.g. %s: %s): "
            "their micrographs are picked again",
            out_dir,
            len(damaged),
            os.path.relpath(path, out_dir),
            reason,
        )
    if kept and say:
        names = ", ".join(os.path.relpath(p, out_dir) for p in files[:3])
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        logger.warning(
            "%s: resuming, kept %d file(s) that no cryopick run wrote as they are now "
            "(edited since, or yours: %s%s): their %d micrograph(s) are not picked; move "
            "the files away, or give --overwrite, to pick them again",
            out_dir,
            len(files),
            names,
            more,
            len(kept),
        )
    return pick, kept, len(damaged)


def _note_changed(
    todo: Sequence[WorkItem],
    records: Mapping[str, Mapping[str, Any]],
    out_dir: Path,
    listed: bool,
) -> None:
    """Say which micrographs ``--skip`` picks again because their file changed since they
    were picked (a fuzzing trial's touched micrograph was picked again, unsaid)."""
    changed = [
        item
        for item in todo
        if (record := records.get(item.key)) is not None
        and record.get("status") == "done"
        and not _input_unchanged(item, record, listed)  # (a stat; the files' check after)
        and _outputs_intact(out_dir, record)
    ]
    if changed:
        logger.info(
            "%d micrograph(s) changed since they were picked (another size or modification "
            "time, or another pixel size in their list; e.g. %s): picked again",
            len(changed),
            changed[0].source,
        )


def _note_other_layout(moved: Sequence[tuple[WorkItem, Mapping[str, Any]]], out_dir: Path) -> None:
    """Warn when micrographs to pick were picked into this folder before under other
    names (:func:`_split_items`): the outputs mirror the folders given, so another set of
    folders is another layout (a trial's --skip picked 20 micrographs again into gridB/,
    the old files left at the top, unsaid)."""
    if moved:
        item, record = moved[0]
        logger.warning(
            "%s: %d micrograph(s) were picked into this folder before under other names "
            "(e.g. %s, now %s): the output files mirror the folders given, and these "
            "folders lay them out otherwise; they are picked again and the earlier files "
            "stay. Give the same folders as before to skip them",
            out_dir,
            len(moved),
            (record.get("outputs") or ["?"])[0],
            os.path.relpath(item.stem, out_dir),
        )


def _outputs_at(out_dir: Path, record: Mapping[str, Any], item: WorkItem) -> bool:
    """Whether the files ``record`` lists are ``item``'s (``<stem>.<ext>``,
    ``<stem>_fibers.<ext>``): a trial's two names of one file (symlinks) were taken as
    done by the other name's record, and their picks never written; likewise a folder
    picked again in another layout (another common parent of the inputs)."""
    stem = os.path.relpath(item.stem, out_dir)
    for name in record.get("outputs") or []:
        name = str(name)
        rest = name[len(stem) :]
        if not name.startswith(stem) or "/" in rest or os.sep in rest:
            return False
        if rest.startswith("_fibers."):
            rest = rest[len("_fibers") :]
        # exactly a format's suffix: "m.v2.star" is not "m"'s (a re-trial's symlink)
        if not (rest.startswith(".") and rest.count(".") == 1):
            return False
    return True


def _input_stat(path: Path, taken: tuple[int, int] | None = None) -> dict[str, Any]:
    """What a manifest record keeps of the micrograph file, to notice it replaced: its
    size and time now, or ``taken`` (``WorkItem.stat``, when it was taken to be picked)."""
    if taken is None:
        try:
            stat = os.stat(path)
        except OSError:
            return {}
        taken = (stat.st_size, stat.st_mtime_ns)
    return {
        "real": os.path.realpath(path),
        "input_size": int(taken[0]),
        "input_mtime_ns": int(taken[1]),
    }


def _input_unchanged(item: WorkItem, record: Mapping[str, Any], listed: bool = True) -> bool:
    """False when the micrograph file is not the one the record picked (replaced in place),
    or (``listed``: no ``--pixel-size`` overrides the lists) a micrograph list now gives it
    another pixel size than the list it was picked from (a corrected optics table).

    A list's pixel size against none (the header's: a ``--monitor`` of the folder a list
    run filled, a review) is not compared: the header may well agree. Records of older
    versions keep no size, time or list pixel size: taken as unchanged.
    """
    then, now = record.get("list_pixel_size_A"), item.pixel_size
    if (
        listed
        and then is not None
        and now is not None
        and not math.isclose(float(then), float(now), rel_tol=1e-6)
    ):
        return False
    if "input_size" not in record:
        return True
    now = _input_stat(item.source)
    return bool(now) and all(
        now[key] == record.get(key) for key in ("input_size", "input_mtime_ns")
    )


#: A lock of another host whose run has recorded nothing (nor beaten) for this long is
#: taken as left behind by a killed job (a SLURM task past its wall time).
LOCK_STALE_S = 600.0
#: How often a run touches its lock file while it holds it.
LOCK_BEAT_S = 30.0


class WorkerSetupError(ValueError):
    """A Dask worker could not set up the run's model (its tasks fail with this)."""


class OutputBusyError(ValueError):
    """Another run is writing the same manifest (same output folder and shard)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class _OutputLock:
    """``<manifest>.lock``: one run at a time per output folder and shard.

    Two ``cryopick pick`` runs into one folder (or one shard of it) used to
    write the same files and manifest at once without a word. The lock file
    names its run (host, process, start, a token, the command); it is created
    exclusively, kept fresh by a background beat (its file's time, every
    :data:`LOCK_BEAT_S`, also through a long start-up) and removed when the
    run ends, by that run only. A lock whose process is gone (same host), or
    whose file has not been touched for :data:`LOCK_STALE_S` (another host, or
    a lock that names no run), was left by a killed run and is taken over: it
    is renamed away first, so of two runs taking over one lock only one gets
    it. Any other lock refuses the new run.
    """

    def __init__(self, manifest: Path) -> None:
        import socket
        import sys
        import uuid

        self.path = manifest.with_name(manifest.name + ".lock")
        self._host = socket.gethostname()
        self._token = uuid.uuid4().hex
        owner = {
            "host": self._host,
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "token": self._token,
            "command": " ".join(sys.argv),
        }
        text = json.dumps(owner) + "\n"
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._check_holder()  # raises, or moves a stale lock away
                continue
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except BaseException:
                self.path.unlink(missing_ok=True)  # never leave a lock that names no run
                raise
            break
        else:
            raise OutputBusyError(f"{self.path}: could not take the output folder's lock")
        self._stop = threading.Event()
        self._beater = threading.Thread(target=self._beat_until_released, daemon=True)
        self._beater.start()

    def _holder(self) -> tuple[dict[str, Any], float] | None:
        """The lock's owner record (empty if unreadable) and age in seconds; None if gone."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            holder = {}
        return (holder if isinstance(holder, dict) else {}), age

    def _check_holder(self) -> None:
        found = self._holder()
        if found is None:
            return  # released meanwhile
        holder, age = found
        host, pid = holder.get("host"), holder.get("pid")
        if host == self._host and isinstance(pid, int):
            stale = not _pid_alive(pid)
        else:
            stale = age > LOCK_STALE_S
        if stale:
            # renamed away, not deleted: of two runs taking over, only one moves it, and
            # neither deletes the lock the other has just made
            moved = self.path.with_name(f"{self.path.name}.stale-{self._token}")
            try:
                os.rename(self.path, moved)
            except FileNotFoundError:
                return
            logger.warning(
                "%s: taking over the lock of a run that ended without releasing it (started "
                "%s, last active %.0f s ago, process %s on %s)",  # (a trial took the start
                self.path,  # time for when it ended)
                holder.get("started", "?"),
                age,
                pid,
                host,
            )
            moved.unlink(missing_ok=True)
            return
        raise OutputBusyError(
            f"{self.path.parent}: another cryopick run is writing here (process {pid} on "
            f"{host}, started {holder.get('started', '?')}, last active {age:.0f} s ago: "
            f"{holder.get('command', '?')}); two runs into one folder would mix their picks. "
            "Wait for it, give another --out, or split the work with --shard I/N (every run "
            f"with its own shard of the same N). If no such run is going on, delete {self.path}"
        )

    def _mine(self) -> bool:
        found = self._holder()
        return found is not None and found[0].get("token") == self._token

    def _beat_until_released(self) -> None:
        while not self._stop.wait(LOCK_BEAT_S):
            self.beat()

    def beat(self) -> None:
        """Say the run is alive (the lock file's time), if the lock is still this run's."""
        if self._mine():
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        """Remove the lock, if it is still this run's (idempotent)."""
        self._stop.set()
        if self._mine():
            self.path.unlink(missing_ok=True)


def _ends_a_line(path: Path) -> bool:
    """Whether ``path`` is empty or ends with a newline."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


class _Manifest:
    """Append-only JSON-lines record of one run; every line is flushed and fsynced.

    Holds the output folder's :class:`_OutputLock` (per shard) while open, or
    beats the one its caller took (and releases).
    """

    def __init__(self, path: Path, fingerprint: str, lock: _OutputLock | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fingerprint = fingerprint
        self._owns_lock = lock is None  # else the caller releases it
        self._lock = lock or _OutputLock(path)
        try:
            self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
            if not _ends_a_line(path):
                # a record cut short (a kill, a full disk) stays alone on its line: a trial's
                # next run appended its first record to it, and that micrograph was picked
                # again by every later --skip run
                self._handle.write("\n")
        except BaseException:
            if self._owns_lock:
                self._lock.release()
            raise

    def add(self, record: dict[str, Any], sync: bool = True) -> None:
        """Append ``record``; ``sync``: fsynced (else flushed: it survives a kill, not a
        power cut)."""
        record = {**record, "fingerprint": self.fingerprint}
        try:
            self._handle.write(json.dumps(record, sort_keys=True) + "\n")
            self._handle.flush()
            if sync:
                os.fsync(self._handle.fileno())
        except OSError as exc:  # a full disk said "no space left on device", naming nothing
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
            raise
        self._lock.beat()

    def beat(self) -> None:
        """Say the run is alive while it waits (``--monitor``)."""
        self._lock.beat()

    def close(self) -> None:
        try:
            self._handle.close()  # flushes: a full disk fails here again, naming nothing
        except OSError as exc:
            if exc.filename is None:
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
            raise
        finally:
            if self._owns_lock:
                self._lock.release()


# --------------------------------------------------------------------------
# executors: where pick_one runs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    item: WorkItem
    picks: MicrographPicks | None
    error: str
    seconds: float
    cpu_seconds: float = 0.0
    #: ``(file name, content)`` of the outputs rendered by a Dask worker; the driver
    #: publishes them beside ``item.stem`` (None: the driver writes them itself)
    files: tuple[tuple[str, bytes], ...] | None = None
    #: the warnings a Dask worker logged for this micrograph, said again by the driver
    #: (a worker's own stderr is a SLURM log file, or unformatted)
    warnings: tuple[str, ...] = ()
    #: zero-shot picking: the general model's confidence on this micrograph (the scale
    #: search's measure, :func:`~napari_cryopick.core.scale_search.pick_confidence`);
    #: None otherwise
    confidence: float | None = None


def _load(item: WorkItem) -> Any:
    from napari_cryopick.io.micrographs import read_micrograph

    micrograph = read_micrograph(item.source)
    if item.pixel_size is not None:
        micrograph = dataclasses.replace(micrograph, pixel_size=float(item.pixel_size))
    return micrograph


def _compute(prepared: PreparedPick, item: WorkItem, micrograph: Any) -> _Result:
    start, cpu = time.perf_counter(), time.thread_time()
    try:
        picks = pick_one(prepared, micrograph)
    except Exception as error:  # (one micrograph's failure is its own)
        # not only ValueError/OSError: CUDA's out-of-memory (a RuntimeError) or a bug on
        # micrograph 2,341 of 5,000 ended the whole run unrecorded, and --skip met it again
        return _Result(item, None, _message(item, error), time.perf_counter() - start)
    seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu
    confidence = None
    if zero_shot(prepared) and len(picks.shape) >= 2 and picks.diameter_px > 0:
        confidence = pick_confidence(picks.candidates["score"], picks.shape, picks.diameter_px)
    # the heatmap stays behind: only the tables travel and are written
    return _Result(
        item, dataclasses.replace(picks, result=None), "", seconds, cpu, confidence=confidence
    )


def _message(item: WorkItem, error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if not isinstance(error, (ValueError, OSError)):  # (not one of ours: its kind helps)
        text = f"{type(error).__name__}: {text}"
    return text if str(item.source) in text else f"{item.source}: {text}"


class _Sequential:
    """This process, with a thread reading ``read_ahead`` micrographs ahead."""

    def __init__(self, prepared: PreparedPick, read_ahead: int) -> None:
        self.prepared = prepared
        self.read_ahead = read_ahead

    def run(self, items: Iterable[WorkItem]) -> Iterator[_Result]:
        items = iter(items)
        if self.read_ahead <= 0:
            for item in items:
                try:
                    micrograph = _load(item)
                except Exception as error:  # (the file's failure is its own)
                    yield _Result(item, None, _message(item, error), 0.0)
                    continue
                yield _compute(self.prepared, item, micrograph)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cryopick-read") as pool:
            pending: deque = deque()
            for item in items:
                pending.append((item, pool.submit(_load, item)))
                if len(pending) > self.read_ahead:
                    yield self._finish(*pending.popleft())
            while pending:
                yield self._finish(*pending.popleft())

    def _finish(self, item: WorkItem, future: Any) -> _Result:
        try:
            micrograph = future.result()
        except Exception as error:  # (the file's failure is its own)
            return _Result(item, None, _message(item, error), 0.0)
        return _compute(self.prepared, item, micrograph)

    def close(self) -> None:
        pass


# Dask: the worker side. Module-level so workers import it by name.


def _tune_malloc() -> None:
    """Give a Dask worker the malloc behaviour of a plain process (glibc only).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting
    it switches off glibc's adaptive mmap threshold, so every array above
    128 KiB is mapped and unmapped afresh and its pages zeroed again: picking
    ran 3-4x slower in a worker than in a plain process here (measured
    1.48 s against 0.38 s per 1024x1024 micrograph). Large blocks from the
    heap again, trimmed above 128 MiB.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: glibc's largest
        libc.mallopt(-1, 128 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _plugin_class() -> type:
    from distributed.diagnostics.plugin import WorkerPlugin

    class ModelPlugin(WorkerPlugin):
        """Carries the request and the checkpoint's bytes to each worker, once."""

        def __init__(
            self,
            name: str,
            request: PickRequest,
            checkpoint: bytes | None,
            heads: tuple[Any, dict[str, str], dict[str, Any]] | None = None,
        ) -> None:
            self.name = name
            self.request = request
            self.checkpoint = checkpoint
            # the driver's choice of the run's head and of a head per micrograph (the
            # worker sees no list: a trial's worker picked a ribosome folder with the
            # model's last head, apoferritin, and the manifest said ribosome)
            self.heads = heads
            self.prepared: PreparedPick | None = None
            self.folder: Path | None = None
            self.error: str | None = None

        def setup(self, worker: Any) -> None:
            # kept for the tasks: a worker joining later (a SLURM job that started late)
            # whose setup failed only logged it there, and each of its tasks then failed
            # on "'NoneType' object has no attribute ..."
            try:
                self._setup(worker)
            except Exception as error:
                self.error = f"{type(error).__name__}: {error}"
                raise

        def _setup(self, worker: Any) -> None:
            import tempfile

            import torch

            torch.set_num_threads(1)
            _tune_malloc()
            request = self.request
            if self.checkpoint is not None:
                # in the worker's own scratch folder, which dask removes when the worker
                # dies (a killed worker's copy stayed in /tmp); elsewhere the temporary folder
                scratch = getattr(worker, "local_directory", None)
                folder = self.folder = Path(tempfile.mkdtemp(prefix="cryopick-model-", dir=scratch))
                path = folder / "model.pt"
                path.write_bytes(self.checkpoint)
                request = dataclasses.replace(request, model=path)
            prepared = prepare(
                dataclasses.replace(request, micrographs=(), out_dir=None), worker=True
            )
            if self.heads is not None:
                config, heads, configs, sets, folder_heads, folder_sizes = self.heads
                prepared = dataclasses.replace(
                    prepared,
                    config=config,
                    own_heads=heads,
                    head_configs=configs,
                    generic_sets=sets,
                    folder_heads=folder_heads,
                    folder_sizes=folder_sizes,
                )
            self.prepared = prepared

        def teardown(self, worker: Any) -> None:
            import shutil

            # the worker's copy of the model file (each run left one in the temporary folder)
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None

    return ModelPlugin


def _render(prepared: PreparedPick, result: _Result) -> _Result:
    """The result with its output files rendered (written to a private folder, read back).

    The same :func:`~napari_cryopick.workflows.pick.write_outputs` as a
    sequential run makes the bytes, so the files are identical; the driver
    only publishes them. The candidates stay behind (the files hold what was
    asked for); the picks travel for the progress events and the manifest.
    """
    import tempfile

    if result.picks is None:
        return result
    start, cpu = time.perf_counter(), time.thread_time()
    try:
        # in memory where there is a tmpfs: the files are read back at once, and the
        # writer's fsync costs nothing there
        shm = Path("/dev/shm")
        memory = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        with tempfile.TemporaryDirectory(prefix="cryopick-render-", dir=memory) as folder:
            written = write_outputs(prepared, result.picks, Path(folder) / result.item.stem.name)
            files = tuple((path.name, path.read_bytes()) for path in written)
    except (ValueError, OSError) as error:
        return dataclasses.replace(result, picks=None, error=_message(result.item, error))
    picks = dataclasses.replace(result.picks, candidates=result.picks.candidates.iloc[0:0])
    return dataclasses.replace(
        result,
        picks=picks,
        files=files,
        seconds=result.seconds + time.perf_counter() - start,
        cpu_seconds=result.cpu_seconds + time.thread_time() - cpu,
    )


def _dask_task(plugin_name: str, items: tuple[WorkItem, ...]) -> list[_Result]:
    """Pick a few micrographs on a worker: read, pick, render the files (nothing published)."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    prepared = getattr(plugin, "prepared", None)
    if prepared is None:
        why = getattr(plugin, "error", None) or "the run's plugin is not on this worker"
        raise WorkerSetupError(f"Dask worker {worker.address} could not load the model: {why}")
    results = []
    for item in items:
        with _warnings_kept() as said:
            try:
                micrograph = _load(item)
            except Exception as error:  # (the file's failure is its own)
                # (one micrograph's failure raised out of the task: its three neighbours
                # were retried with it and all four blamed)
                result = _Result(item, None, _message(item, error), 0.0)
            else:
                result = _render(prepared, _compute(prepared, item, micrograph))
                del micrograph
        results.append(dataclasses.replace(result, warnings=tuple(said)))
    return results


#: Tasks keeping the package's warnings in this process now, and the lock over it: the
#: package's logger stops propagating while any does (a worker of several threads runs
#: tasks at once; each restoring the flag it found would leave it off for good).
_KEEPING = {"tasks": 0, "propagate": True}
_KEEPING_LOCK = threading.Lock()


@contextlib.contextmanager
def _warnings_kept() -> Iterator[list[str]]:
    """The package's warnings logged by this thread, kept (not printed) for the driver:
    a trial's Dask worker printed them without the ``WARNING:`` the command's own have,
    and a SLURM worker's would go to its job's log file, unseen."""
    from napari_cryopick.core.progress import ThreadWarnings

    keep = ThreadWarnings()
    package = logging.getLogger("napari_cryopick")
    with _KEEPING_LOCK:
        if not _KEEPING["tasks"]:
            _KEEPING["propagate"] = package.propagate
        _KEEPING["tasks"] += 1
        package.propagate = False
        package.addHandler(keep)
    try:
        yield keep.said
    finally:
        with _KEEPING_LOCK:
            package.removeHandler(keep)
            _KEEPING["tasks"] -= 1
            if not _KEEPING["tasks"]:
                package.propagate = _KEEPING["propagate"]


def slurm_cluster(options: Mapping[str, Any]) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` of single-threaded workers (no job submitted yet).

    ``options`` are SLURMCluster keyword arguments (``queue``, ``account``,
    ``walltime``, ``memory``, ``job_extra_directives``, ...); ``cores``,
    ``processes``, ``memory`` and ``walltime`` default to 1, 1, 8GB and
    04:00:00 unless ``~/.config/dask/jobqueue.yaml`` sets them.
    """
    import signal

    main_thread = threading.current_thread() is threading.main_thread()
    interrupt = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ValueError("--dask slurm:N needs dask-jobqueue: pip install dask-jobqueue") from None
    finally:
        # dask_jobqueue.runner, imported with it, makes SIGINT exit with status 0: a
        # trial's Ctrl-C of a waiting run ended silently, "successful"
        if interrupt is not None:
            signal.signal(signal.SIGINT, interrupt)
    import dask

    settings: dict[str, Any] = {}
    shipped = _jobqueue_defaults()
    for name, default in (
        ("cores", 1),
        ("processes", 1),
        ("memory", "8GB"),
        ("walltime", "04:00:00"),
    ):
        # unset, or dask-jobqueue's own default (its 00:30:00 wall time took the place of
        # the 04:00:00 said here: a review)
        value = dask.config.get(f"jobqueue.slurm.{name}", None)
        if value is None or value == shipped.get(name):
            settings[name] = default
    settings.update(options)
    # workers leave (gracefully, their tasks handed on) before SLURM ends their job at its
    # wall time, and new jobs replace them (adapt, in _make_client): the recipe of
    # dask-jobqueue's "walltime killing workers"; a job that ended was not replaced and a
    # run longer than the wall time waited for ever
    extra = list(
        settings.get("worker_extra_args")
        or dask.config.get("jobqueue.slurm.worker-extra-args", None)
        or settings.get("extra")  # (the deprecated name, still read by dask-jobqueue)
        or dask.config.get("jobqueue.slurm.extra", None)
        or []
    )

    def given(option: str) -> bool:
        return any(str(arg) == option or str(arg).startswith(f"{option}=") for arg in extra)

    if not given("--lifetime"):
        lifetime = lifetime_args(_job_walltime(settings))
        if given("--lifetime-stagger"):  # (the user's stagger, with our lifetime)
            lifetime = lifetime[:2]
        settings["worker_extra_args"] = extra + lifetime
        settings.pop("extra", None)
    cluster = SLURMCluster(**settings)
    try:
        _check_submission(cluster.job_script())
    except BaseException:
        cluster.close()
        raise
    return cluster


def _jobqueue_defaults() -> dict[str, Any]:
    """dask-jobqueue's own defaults for SLURM (its ``jobqueue.yaml``), to tell them from a
    user's ``~/.config/dask/jobqueue.yaml``."""
    import dask_jobqueue
    import yaml

    try:
        shipped = Path(dask_jobqueue.__file__).with_name("jobqueue.yaml").read_text()
        return dict(yaml.safe_load(shipped)["jobqueue"]["slurm"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {}


def _job_walltime(settings: Mapping[str, Any]) -> str | None:
    """The time limit a SLURM worker job will have: the last ``--time``/``-t`` among the
    extra directives (``--slurm-extra=--time=2-00:00:00``: SLURM takes the last), else the
    ``walltime`` setting, unless its ``-t`` directive is skipped (the partition's then)."""
    import re

    import dask

    def setting(name: str) -> Any:
        value = settings.get(name.replace("-", "_"))
        return value if value is not None else dask.config.get(f"jobqueue.slurm.{name}", None)

    found = None
    for directive in setting("job-extra-directives") or setting("job-extra") or []:
        text = str(directive).strip().removeprefix("#SBATCH").strip()
        match = re.fullmatch(r"(?:--time(?:=|\s+)|-t\s*)(\S+)", text)
        if match:
            found = match.group(1)
    if found is not None:
        return found
    if "-t" in (setting("job-directives-skip") or []):
        return None
    return setting("walltime")


def walltime_seconds(text: Any) -> float | None:
    """Seconds of a SLURM time limit (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``,
    ``D-HH:MM``, ``D-HH:MM:SS``), or None for anything else (``UNLIMITED``)."""
    value = str(text or "").strip()
    days, dash, rest = value.partition("-")
    if not dash:
        days, rest = "0", value
    parts = rest.split(":")
    if not (days.isdigit() and 1 <= len(parts) <= 3 and all(p.isdigit() for p in parts)):
        return None
    numbers = [int(p) for p in parts]
    if dash:  # D-HH[:MM[:SS]]
        numbers += [0] * (3 - len(numbers))
        hours, minutes, seconds = numbers
    elif len(numbers) == 3:
        hours, minutes, seconds = numbers
    else:  # MM[:SS]
        hours, (minutes, seconds) = 0, [*numbers, 0][:2]
    return float(((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds)


def lifetime_args(walltime: Any) -> list[str]:
    """``dask worker`` options that end a worker before its SLURM job's ``walltime``:
    ``--lifetime`` the wall time less a margin (5 % of it, 2 to 10 minutes), staggered by
    a quarter of the margin so that the workers do not all leave at once (at least 90 s
    before the job's end, counted from the worker's start, which comes after the job's);
    none for a wall time under 10 minutes or one not read."""
    total = walltime_seconds(walltime)
    if total is None or total < 600:
        return []
    margin = min(600.0, max(120.0, 0.05 * total))
    return ["--lifetime", f"{int(total - margin)}s", "--lifetime-stagger", f"{int(margin / 4)}s"]


def _check_submission(script: str) -> None:
    """Ask SLURM whether it would take the worker job (``sbatch --test-only``), so that a
    machine without SLURM, or a queue or account it refuses, is one clear error: a
    trial's run without ``sbatch`` printed tracebacks and waited for workers for good.
    A SLURM that does not answer within a minute is not waited for."""
    import shutil
    import subprocess
    import tempfile

    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ValueError(
            "--dask slurm:N: no sbatch on this machine, so no SLURM job can be submitted: "
            "run on a machine that submits SLURM jobs (a login node), or use --dask local:N "
            "or --dask tcp://SCHEDULER:PORT"
        )
    if shutil.which("scancel") is None:
        # the jobs could not be cancelled at the end or on Ctrl-C (a trial's sbatch without
        # scancel ended in a distributed traceback, its jobs left to run)
        raise ValueError(
            "--dask slurm:N: sbatch but no scancel on this machine, so the worker jobs "
            "could not be cancelled when picking ends: run where both SLURM commands are"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="cryopick-worker-") as file:
        file.write(script)
        file.flush()
        try:
            done = subprocess.run(
                [sbatch, "--test-only", file.name], capture_output=True, text=True, timeout=60
            )
        except (subprocess.TimeoutExpired, OSError):
            return
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise ValueError(
            f"--dask slurm:N: SLURM refuses the worker job (sbatch --test-only: "
            f"{said[-1] if said else f'exit status {done.returncode}'}): check --slurm-queue, "
            "--slurm-account and ~/.config/dask/jobqueue.yaml"
        )


@contextlib.contextmanager
def _workers_ignore_interrupts() -> Iterator[None]:
    """Worker processes started within ignore SIGINT (they inherit the ignored signal).

    Ctrl-C in a terminal reaches every process of its group: each local Dask worker
    printed a KeyboardInterrupt traceback (a trial) while this process stopped the run
    and closed the cluster, which ends them anyway.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # (signals are the main thread's; a GUI worker thread has no terminal)
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _check_cluster_first(options: BatchOptions) -> None:
    """``--dask slurm:N``: ask SLURM whether it takes the worker job (:func:`slurm_cluster`
    raises ``ValueError`` when it does not) before any other work; nothing is submitted."""
    if options.dask is None:
        return
    kind, value = parse_dask(options.dask)
    if kind == "address":
        _check_scheduler_address(str(value))
    if kind != "slurm":
        return
    slurm_cluster(options.dask_options).close()


def _check_scheduler_address(address: str, timeout_s: float = 10.0) -> None:
    """Raise ValueError when nothing listens at a ``tcp://HOST:PORT`` scheduler address,
    before the zero-shot search's minutes (a batch trial: the search ran, then "Timed out
    trying to connect to tcp://127.0.0.1:9 after 30 s", not naming --dask)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        return  # another transport (ucx, inproc): Dask says what it finds
    try:
        port = parts.port or 8786
    except ValueError as exc:
        raise ValueError(f"--dask {address}: {exc}") from None
    advice = "start one ('dask scheduler', then 'dask worker ADDRESS') or give its address"
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"--dask {address}: no Dask scheduler answers there ({reason}); {advice}"
        ) from None
    # something listens: a Dask scheduler, or (the dashboard's port given by mistake, a web
    # server) something that is not one, which Dask's client read as a frame of 3 EiB or
    # waited on for minutes (a re-trial; its own timeout does not bound the handshake):
    # Dask's handshake and an "identity" request, each bounded
    import asyncio

    async def identity() -> Any:
        from distributed.comm import connect

        comm = await asyncio.wait_for(connect(address, timeout=timeout_s), timeout_s)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), timeout_s)
            return await asyncio.wait_for(comm.read(), timeout_s)
        finally:
            comm.abort()

    try:
        reply = asyncio.run(identity())
    except (Exception, MemoryError) as exc:
        reply = exc
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        what = (
            f"no answer within {timeout_s:g} s"
            if isinstance(reply, TimeoutError)
            else "what listens there is not one"
        )
        raise ValueError(f"--dask {address}: no Dask scheduler answers there ({what}); {advice}")


def _make_client(spec: str, options: Mapping[str, Any]) -> tuple[Any, Any, int]:
    """(client, cluster or None, expected workers) for ``--dask``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "--dask needs dask.distributed: pip install 'napari-cryopick[cluster]'"
        ) from None
    kind, value = parse_dask(spec)
    if kind == "address":
        client = Client(value, timeout="30s")
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        return client, None, workers
    if kind == "local":
        with _workers_ignore_interrupts():
            cluster = LocalCluster(
                n_workers=value,
                threads_per_worker=1,
                processes=True,
                # any free port: None still takes 8787, and warned with a library path when
                # another user's dashboard held it (a trial on a shared machine)
                dashboard_address=":0",
                silence_logs=40,  # logging.ERROR
            )
        return Client(cluster), cluster, value
    cluster = slurm_cluster(options)
    # value jobs at all times: one that ends (its wall time, a node lost) is replaced
    # (with scale(jobs=value) it was not)
    cluster.adapt(minimum_jobs=value, maximum_jobs=value)
    # nothing moves until SLURM runs them: said, so a queued run does not look hung
    logger.info(
        "--dask slurm:%d: %d worker job(s) submitted; picking starts as SLURM runs them "
        "(squeue --me lists them)",
        value,
        value,
    )
    return Client(cluster), cluster, value


class _Dask:
    """One task per micrograph on a Dask cluster; the model goes to each worker once."""

    def __init__(
        self,
        prepared: PreparedPick,
        spec: str,
        options: Mapping[str, Any],
        max_in_flight: int | None,
        fingerprint: str,
        task_size: int | None = None,
    ) -> None:
        request = prepared.request
        model = request.model
        if model is None:
            from napari_cryopick.core.model import bundled_model_path

            model = bundled_model_path()
        checkpoint = Path(model).read_bytes() if isinstance(model, (str, os.PathLike)) else None
        shipped = dataclasses.replace(
            request, model=None if checkpoint is not None else model, micrographs=()
        )
        self.client, self.cluster, workers = _make_client(spec, options)
        # one name per run: two runs of these settings on one shared scheduler replaced each
        # other's plugin (its heads for other micrographs) under one name; removed at the end
        # (each run's model stayed in the shared workers' memory)
        self.plugin_name = f"cryopick-model-{fingerprint}-{uuid.uuid4().hex[:12]}"
        # (set before: the scheduler keeps a plugin whose setup failed on a worker, and the
        # workers that did load it keep the model; a review)
        self.registered = True
        try:
            self.client.register_plugin(
                _plugin_class()(
                    self.plugin_name,
                    shipped,
                    checkpoint,
                    (
                        prepared.config,
                        dict(prepared.own_heads),
                        dict(prepared.head_configs),
                        # (a review: without it a worker picked them at the model's size)
                        dict(prepared.generic_sets),
                        dict(prepared.folder_heads),
                        prepared.folder_sizes,
                    ),
                ),
                name=self.plugin_name,
            )
        except Exception as error:
            self.close()
            if isinstance(error, ValueError):
                raise
            raise WorkerSetupError(
                f"--dask {spec}: the run's model could not be set up on the Dask workers: "
                f"{type(error).__name__}: {error}"
            ) from error
        self.workers = workers
        self.waited_s = 0.0  # for the first worker to join
        self.task_size = task_size
        self.max_in_flight = max_in_flight or 2 * workers + 2

    def _chunks(self, items: list[WorkItem]) -> Iterator[tuple[WorkItem, ...]]:
        size = self.task_size or _auto_task_size(len(items), self.workers)
        for start in range(0, len(items), size):
            yield tuple(items[start : start + size])

    def run(self, items: Iterable[WorkItem]) -> Iterator[_Result]:
        from distributed import as_completed

        chunks = self._chunks(list(items))
        if self.cluster is not None and not self.cluster.scheduler_info.get("workers"):
            # SLURM's queue: counted apart, not as picking time (a review: "s per
            # micrograph" held the hour the jobs waited)
            began = time.perf_counter()
            self.client.wait_for_workers(1)
            self.waited_s = time.perf_counter() - began
        futures = as_completed(with_results=False)
        submitted: dict[Any, tuple[WorkItem, ...]] = {}

        def submit_next() -> bool:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            # workers resolve paths in their own working folder: send absolute ones
            shipped = tuple(dataclasses.replace(i, source=Path(i.key)) for i in chunk)
            future = self.client.submit(
                _dask_task,
                self.plugin_name,
                shipped,
                pure=False,
                retries=2,
                key=_task_key(chunk[0]),
            )
            submitted[future] = chunk
            futures.add(future)
            return True

        for _ in range(self.max_in_flight):
            if not submit_next():
                break
        said: set[str] = set()  # once each: every worker says a run's notes again
        for future in futures:
            chunk = submitted.pop(future)
            try:
                results = future.result()
            except Exception as error:  # a task lost with its workers too often (KilledWorker)
                results = [_Result(item, None, _message(item, error), 0.0) for item in chunk]
            future.release()
            submit_next()
            for item, result in zip(chunk, results):
                for message in result.warnings:
                    if message not in said:
                        said.add(message)
                        logger.warning("%s", message)
                yield dataclasses.replace(result, item=item)

    def close(self) -> None:
        try:
            if self.registered and self.cluster is None:  # a shared scheduler's workers
                self.registered = False
                with contextlib.suppress(Exception):  # (a scheduler gone meanwhile)
                    self.client.unregister_worker_plugin(self.plugin_name)
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _auto_task_size(n_items: int, workers: int) -> int:
    """Micrographs per Dask task: up to 4 (fewer round trips), at least 4 tasks per worker."""
    return max(1, min(4, math.ceil(n_items / (4 * max(1, workers)))))


def _task_key(item: WorkItem) -> str:
    digest = hashlib.sha1(item.key.encode()).hexdigest()[:12]
    return f"cryopick-{item.source.stem[:40]}-{digest}-{time.monotonic_ns()}"


def _executor(
    prepared: PreparedPick, options: BatchOptions, fingerprint: str
) -> _Sequential | _Dask:
    if options.dask is None:
        return _Sequential(prepared, options.read_ahead)
    return _Dask(
        prepared,
        options.dask,
        options.dask_options,
        options.max_in_flight,
        fingerprint,
        options.task_size,
    )


# --------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------


def _record(result: _Result, written: list[Path], out_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] = {
        "input": result.item.key,
        **_input_stat(result.item.source, result.item.stat),
        "micrograph": result.item.source.stem,
        # the pixel size a RELION or cryoSPARC list gave it (None: its header's), which
        # the settings' fingerprint cannot hold: --skip picks it again when it changes
        "list_pixel_size_A": result.item.pixel_size,
        "seconds": round(result.seconds, 4),
        "cpu_seconds": round(result.cpu_seconds, 4),  # of the picking thread
        "finished": round(time.time(), 3),
    }
    if result.picks is None:
        record.update(status="failed", error=result.error)
        return record
    scores = result.picks.picks["score"].to_numpy(float)
    finite = scores[scores == scores]
    record.update(
        status="done",
        picks=len(result.picks.picks),
        mean_score=round(float(finite.mean()), 6) if len(finite) else None,
        outputs=[os.path.relpath(path, out_dir) for path in written],
        sizes=[path.stat().st_size for path in written],
        digests=[_output_digest(path) for path in written],
    )
    return record


def _publish(stem: Path, files: Sequence[tuple[str, bytes]]) -> list[Path]:
    """Write files rendered by a worker beside ``stem``, each atomically."""
    from napari_cryopick.io.atomic import atomic_write_bytes
    from napari_cryopick.io.paths import make_output_folder

    make_output_folder(stem.parent)
    return [atomic_write_bytes(stem.parent / name, data) for name, data in files]


def _drive(
    prepared: PreparedPick,
    executor: _Sequential | _Dask,
    items: Iterable[WorkItem],
    manifest: _Manifest,
    out_dir: Path,
    total: int,
    should_stop: Callable[[], bool] | None,
    start: float,
    state: dict[str, Any],
) -> Generator[PickProgress, None, None]:
    """Write and record each result as it comes; one event per micrograph."""
    if should_stop is not None and should_stop():  # stopped already (during the search)
        state["stopped"] = True
        return
    for result in executor.run(items):
        state["step"] += 1
        written: list[Path] = []
        error = result.error
        if result.picks is not None:
            planned = output_paths(result.item.stem, prepared.request.formats, prepared.kinds)
            manifest.add(
                {
                    "input": result.item.key,
                    "status": STARTED,
                    "outputs": [os.path.relpath(path, out_dir) for path in planned],
                    "started_at": round(time.time(), 3),
                },
                sync=False,
            )
            try:
                if result.files is not None:
                    written = _publish(result.item.stem, result.files)
                else:
                    written = write_outputs(prepared, result.picks, result.item.stem)
            except (ValueError, OSError) as write_error:
                error = _message(result.item, write_error)
                result = dataclasses.replace(result, picks=None, error=error)
        record = _record(result, written, out_dir)
        if record["status"] == "done":
            # what the files hold: picks above this (the micrograph's own head's, with
            # its data set's head), or candidates down to a floor; the head picked with
            config = prepared.config_for(result.item.key)
            record["threshold"] = round(float(config.threshold), 6)
            record["head"] = config.head or getattr(prepared.model, "default_head", None)
            if prepared.request.keep_candidates is not None:
                record["keep_candidates"] = float(prepared.request.keep_candidates)
            if prepared.request.flip_tiff_y or prepared.request.flip_y:
                # y from the last row (TIFF only, or every micrograph): said to readers of
                # the files, relion --coords among them (y_flips; a review)
                # (--flip-y with --flip-tiff-y mirrors every one: a review found it recorded
                # as TIFF only, and relion --coords left MRC picks upside down)
                record["flip_y" if prepared.request.flip_y else "flip_tiff_y"] = True
        manifest.add(record)
        if result.picks is None:
            state["errors"][str(result.item.source)] = error
            event = PickProgress(
                state["step"],
                total,
                result.item.source.stem,
                -1,
                time.perf_counter() - start,
                error=error,
            )
        else:
            state["picked"] += 1
            table = result.picks.picks
            state["picks"] += len(table)
            listed = ""  # the list its name went to
            if not len(table):
                state["empty"].append(result.picks.name)
                if "threshold" in record:  # its head's (a run of several: the one it had)
                    state["empty_thresholds"].add(record["threshold"])
                listed = "empty"
            elif result.confidence is not None and result.confidence < LOW_CONFIDENCE:
                state["unseen"].append(result.picks.name)
                listed = "unseen"
            fibers = fiber_points = 0
            if len(table) and "tube_id" in table:
                traced = table[(table["kind"] == "fiber") & (table["tube_id"] > 0)]
                fibers, fiber_points = int(traced["tube_id"].nunique()), len(traced)
                state["fibers"] += fibers
                state["fiber_points"] += fiber_points
            if "by_source" in state:  # (a monitor's: a micrograph may be picked again)
                state["by_source"][result.item.key] = (
                    len(table),
                    fibers,
                    fiber_points,
                    listed,
                    result.picks.name,
                )
            event = PickProgress(
                state["step"],
                total,
                result.picks.name,
                len(result.picks.picks),
                time.perf_counter() - start,
                item=result.picks,
                written=tuple(written),
            )
        yield event
        if should_stop is not None and should_stop():
            state["stopped"] = True
            return


def run_batch(
    request: PickRequest,
    options: BatchOptions | None = None,
    items: Sequence[WorkItem] | None = None,
    pixel_sizes: Mapping[str, float] | None = None,
) -> Generator[PickProgress, None, BatchOutcome]:
    """Pick a list of micrograph files with resume, shards, read-ahead or Dask.

    Parameters
    ----------
    request
        What to pick; ``request.out_dir`` is required (the manifest lives there).
    options
        How to run (:class:`BatchOptions`).
    items
        Work items with their own output stems and pixel sizes (RELION jobs);
        default: ``request.micrographs`` laid out by the pick workflow.
    pixel_sizes
        ``{absolute path: Angstrom per pixel}`` beating the micrographs'
        headers (a cryoSPARC exposures list), for the default items.

    Yields
    ------
    PickProgress
        One per micrograph picked (or failed) by this run; the picks travel in
        ``item`` without the heatmap (and, from Dask workers, without the
        candidate list: the files hold what was asked for).

    Returns
    -------
    BatchOutcome
    """
    options = options or BatchOptions()
    if request.out_dir is None:
        raise ValueError("batch picking needs an output folder")
    start = time.perf_counter()
    out_dir = Path(request.out_dir)
    manifest_path = _manifest_path(out_dir, options.shard)
    # one run per folder (and shard), refused before the start-up's work
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = _OutputLock(manifest_path)
    try:
        return (yield from _run_locked(request, options, items, pixel_sizes, lock, start))
    finally:
        lock.release()
        if created:  # a request refused before anything was written leaves no folder behind
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only when empty


def _run_locked(
    request: PickRequest,
    options: BatchOptions,
    items: Sequence[WorkItem] | None,
    pixel_sizes: Mapping[str, float] | None,
    lock: _OutputLock,
    start: float,
) -> Generator[PickProgress, None, BatchOutcome]:
    out_dir = Path(request.out_dir)
    if items is None:
        prepared = prepare(request)
        items = plan_items(prepared, pixel_sizes)
    else:
        # the items' files choose the heads as a list of micrographs does (a trial's RELION
        # job over a ribosome project picked with the model's last head, apoferritin)
        prepared = prepare(
            dataclasses.replace(request, micrographs=tuple(item.source for item in items))
        )
    if options.summary:
        refuse_summary_collision(prepared, items, out_dir)
    # a SLURM that will not take the worker jobs is said before the zero-shot search's
    # minutes, not after them (a trial's run searched, then said "no sbatch")
    _check_cluster_first(options)
    # zero-shot: the scale on micrographs spread over the whole run, so every
    # shard (and a resumed run) picks at the same one
    scale_source = "search" if request.diameter_factor is None else "option"
    earlier = earlier_view(prepared, out_dir) if options.skip else None
    if earlier is not None:
        factor, inverted = earlier
        prepared = dataclasses.replace(
            prepared,
            request=dataclasses.replace(
                prepared.request, diameter_factor=factor, invert_contrast=inverted
            ),
        )
        scale_source = "earlier run"
    # read as they are picked: with the pixel size of a RELION or cryoSPARC list
    prepared, confidences = with_scale(prepared, items, read=_load, should_stop=options.should_stop)
    request = dataclasses.replace(
        request,
        diameter_factor=prepared.request.diameter_factor,
        invert_contrast=prepared.request.invert_contrast,
    )
    fingerprint = settings_fingerprint(request)
    items = shard_items(items, options.shard, out_dir)
    records = read_manifests(out_dir, fingerprint)  # (the folder's runs of these settings)
    n_other = len(picked_with_other_settings(request))
    # of which in the formats this run writes (their files written over where named alike)
    n_same_formats = len(picked_with_other_settings(request, same_formats=True)) if n_other else 0
    # (--pixel-size beats every list's: then their sizes changing changes nothing)
    todo, done, moved = _split_items(
        items, out_dir, records, request.pixel_size_A is None, _planned_heads(prepared)
    )
    picked_again: list[WorkItem] = []
    kept: list[WorkItem] = []  # of the skipped: files the user edited since (not picked)
    n_damaged = 0  # files an earlier run wrote, damaged since: their micrographs picked again
    if options.skip:
        _note_other_layout(moved, out_dir)
        _note_changed(todo, records, out_dir, request.pixel_size_A is None)
        if not options.overwrite and records:
            # resuming a run over thousands: a file the user edited (or wrote) since is
            # kept and its micrograph skipped, said, instead of the whole resume refused (a
            # trial's one hand-edited file stopped every micrograph, the deleted one too); a
            # folder where no run of these settings finished anything (a wrong --out) is
            # refused below as without --skip
            todo, kept, n_damaged = _keep_foreign(prepared, todo, out_dir)
            done = done + kept
    else:
        todo, done, picked_again = list(items), [], done
    if not options.overwrite:
        refuse_to_replace(prepared, todo, summary=options.summary, resume=options.skip)
    if picked_again:
        # a batch trial reran an interrupted run without --skip: 220 finished micrographs
        # picked again and their files rewritten, unsaid
        logger.warning(
            "%s already holds the picks of %d of these micrograph(s) made with these "
            "settings: they are picked again and their files rewritten (--skip keeps them "
            "and picks only the rest)",
            out_dir,
            len(picked_again),
        )
    state = _run_state()
    executor = None
    manifest = None
    startup = time.perf_counter() - start
    try:
        if todo:
            # before the manifest: a Dask cluster refused (sbatch says no) leaves no empty
            # manifest in a new --out (a re-trial's did)
            executor = _executor(prepared, options, fingerprint)
            startup = time.perf_counter() - start
        manifest = _Manifest(_manifest_path(out_dir, options.shard), fingerprint, lock)
        if todo:
            yield from _drive(
                prepared,
                executor,
                todo,
                manifest,
                out_dir,
                len(todo),
                options.should_stop,
                start,
                state,
            )
    finally:
        try:
            if manifest is not None:
                manifest.close()
        finally:
            # also when closing the manifest fails (a full disk fails its flush again): a
            # Dask cluster left to the interpreter's exit logged its teardown after the
            # error (a facility trial: 14 INFO lines below the one error line)
            if executor is not None:
                if sys.exc_info()[0] is None:
                    executor.close()
                else:  # (the error that stopped the run is the one said, not the close's)
                    with contextlib.suppress(Exception):
                        executor.close()
    summary = write_summary(out_dir, fingerprint, options.shard) if options.summary else ()
    return BatchOutcome(
        n_micrographs=len(items),
        n_picked=state["picked"],
        n_skipped=len(done),
        n_kept=len(kept),
        kept=tuple(item.key for item in kept),
        n_picks=state["picks"],
        n_fibers=state["fibers"],
        n_fiber_points=state["fiber_points"],
        empty=tuple(state["empty"]),
        empty_thresholds=tuple(sorted(state["empty_thresholds"])),
        unseen=tuple(state["unseen"]),
        errors=dict(state["errors"]),
        stopped=state["stopped"],
        seconds=time.perf_counter() - start,
        manifest=manifest.path,
        summary=summary,
        startup_seconds=startup,
        waiting_seconds=float(getattr(executor, "waited_s", 0.0)),
        diameter_factor=float(request.diameter_factor or 1.0),
        scale_confidences=confidences,
        scale_source=scale_source,
        fingerprint=fingerprint,
        inverted=bool(request.invert_contrast),
        polarity_confidences=dict(prepared.polarity_confidences),
        threshold=float(prepared.config.threshold),
        warnings=prepared.warnings + tuple(m for m in prepared.resolved_warnings.values() if m),
        n_other_settings=n_other,
        n_other_formats=n_other - n_same_formats,
        n_damaged=n_damaged,
    )


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------


def write_summary(
    out_dir: Path, fingerprint: str | None = None, shard: tuple[int, int] | None = None
) -> tuple[Path, ...]:
    """``summary.csv`` and ``summary.png`` of the micrographs recorded in ``out_dir``,
    recorded in the manifest of ``shard`` (the one its run holds the lock of: the shards
    of a job array ending together appended to one manifest, which NFS does not keep
    whole, and a summary whose record was lost stopped the next run as another's).

    Returns the files written (none if nothing is recorded).
    """
    import io

    from napari_cryopick.io.atomic import atomic_write_bytes, atomic_write_text

    records = list(read_manifests(out_dir, fingerprint).values())
    if not records:
        return ()
    records.sort(key=lambda r: r["input"])
    # reason last: readers of the six columns before it read the file as they did
    lines = ["micrograph,input,status,picks,mean_score,seconds,reason"]
    for record in records:
        mean = record.get("mean_score")
        lines.append(
            ",".join(
                [
                    _csv_field(record.get("micrograph", "")),
                    _csv_field(record["input"]),
                    record.get("status", ""),
                    str(record.get("picks", "")),
                    "" if mean is None else f"{mean:.4f}",
                    f"{record.get('seconds', float('nan')):.3f}",
                    _csv_field(
                        _failure_reason(record) or _gone(record) or _changed(out_dir, record)
                    ),
                ]
            )
        )
    csv_path = atomic_write_text(out_dir / SUMMARY_CSV, "\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    done = [r for r in records if r.get("status") == "done"]
    picks = [r.get("picks", 0) for r in done]
    scores = [r["mean_score"] for r in done if r.get("mean_score") is not None]
    figure = Figure(figsize=(8, 3.2), dpi=100)
    left, right = figure.subplots(1, 2)
    left.hist(picks, bins=min(30, max(5, int(math.sqrt(len(picks) or 1)) * 2)), color="#3572a5")
    left.set_xlabel("picks per micrograph")
    left.set_ylabel("micrographs")
    right.hist(scores, bins=20, range=(0.0, 1.0), color="#d9822b")
    right.set_xlabel("mean score per micrograph")
    failed = len(records) - len(done)
    figure.suptitle(
        f"{len(done)} micrographs, {sum(picks)} picks" + (f", {failed} failed" if failed else "")
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png_path = atomic_write_bytes(out_dir / SUMMARY_PNG, buffer.getvalue())
    _record_files(out_dir, [csv_path, png_path], SUMMARIZED, shard)  # a later run's to replace
    return csv_path, png_path


def input_gone(record: Mapping[str, Any]) -> bool:
    """Whether a manifest record's micrograph is no longer at its (absolute) input path:
    renamed, moved or deleted since it was picked."""
    source = Path(str(record.get("input", "")))
    return source.is_absolute() and not source.exists()


def _gone(record: Mapping[str, Any]) -> str:
    """For a picked micrograph no longer at its input path: said in the row's reason (a
    trial renamed one and picked it again: two rows, one of a file that was not there)."""
    if record.get("status") == "done" and input_gone(record):
        return "picked; the micrograph is no longer at this path (renamed, moved or deleted)"
    return ""


def _changed(out_dir: Path, record: Mapping[str, Any]) -> str:
    """For a picked micrograph whose output file changed since the run wrote it (an edit
    ``--skip`` kept): said in the row's reason with the picks it holds now (a scale
    trial's summary counted 114 picks of a file holding 30)."""
    from napari_cryopick.io.pickfiles import read_picks

    if record.get("status") != "done":
        return ""
    changed = _changed_outputs(out_dir, record)
    if not changed:
        return ""
    name = changed[0]
    path = out_dir / name
    if not path.is_file():
        return f"picked; {name} is gone since"
    try:
        table = read_picks(path)
    except (OSError, ValueError):
        return f"picked; {name} changed since and cannot be read"
    fibers = table[table["kind"].astype(str) == "fiber"]
    if len(fibers):  # fibers as fibers: their points read back fewer than were picked
        count = len(fibers[["micrograph", "tube_id"]].drop_duplicates())
        return f"picked; {name} changed since (edited?): it holds {count} fibers now"
    return f"picked; {name} changed since (edited?): it holds {len(table)} picks now"


def _failure_reason(record: Mapping[str, Any]) -> str:
    """Why a micrograph failed (empty for the others), without its path: the row names it.

    A failed row said only "failed" (a trial had to search the terminal's scroll-back).
    """
    if record.get("status") != "failed":
        return ""
    reason = str(record.get("error") or "")
    path, colon, rest = reason.partition(": ")
    if colon and os.path.abspath(path) == record.get("input"):
        return rest
    return reason


def _csv_field(text: str) -> str:
    text = str(text)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
