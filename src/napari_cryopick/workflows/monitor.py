"""Streaming: pick micrographs as they appear in a folder (``cryopick pick --monitor``).

crYOLO's monitor mode for this project: the folder is scanned every few
seconds; a micrograph is picked once its size and modification time stopped
changing (a file still being copied is never read half-written). Picking,
writing and recording go through the batch driver of
:mod:`napari_cryopick.workflows.batch` (sequential or Dask, the same
manifest), so a restarted monitor continues and never picks an unchanged
micrograph twice.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

from napari_cryopick.core.text import name_list
from napari_cryopick.io.micrographs import mrc_shorter_than_header
from napari_cryopick.workflows.batch import (
    BatchOptions,
    BatchOutcome,
    WorkItem,
    _drive,
    _executor,
    _Manifest,
    _manifest_path,
    _refuse,
    _run_state,
    complete_items,
    foreign_summary,
    settings_fingerprint,
    shard_items,
    unrecorded_outputs,
    write_summary,
)
from napari_cryopick.workflows.pick import (
    PickProgress,
    PickRequest,
    PreparedPick,
    output_paths,
    prepare,
    zero_shot,
)

logger = logging.getLogger(__name__)

__all__ = ["monitor"]


#: Watched folders whose search stopped at :data:`MOST_FOLDERS_SEARCHED` (said once).
_CAPPED: set[str] = set()


def _scan(folder: Path, suffixes: tuple[str, ...]) -> dict[Path, tuple[int, int]]:
    """``(size, mtime_ns)`` of the micrographs in ``folder`` and below, found as ``cryopick
    pick --recursive`` finds them: hidden folders and files left out, linked folders
    followed, each folder once (a facility trial's monitor picked the copies in
    ``.snapshot/`` and passed over a linked session folder, where --recursive did the
    opposite). ``os.walk`` reads the entries' types from the listing: no file is looked
    at twice on a network file system polled every few seconds."""
    from napari_cryopick.io.paths import MOST_FOLDERS_SEARCHED, written_by_cryopick

    found: dict[Path, tuple[int, int]] = {}
    visited: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:  # a link back up, or a second link to one folder
            dirs[:] = []
            continue
        if len(visited) >= MOST_FOLDERS_SEARCHED:  # as --recursive stops, said once
            if str(folder) not in _CAPPED:
                _CAPPED.add(str(folder))
                logger.warning(
                    "%s: only the first %d folders are watched: name the folder you mean",
                    folder,
                    MOST_FOLDERS_SEARCHED,
                )
            break
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or Path(name).suffix.lower() not in suffixes:
                continue
            path = Path(root) / name
            if written_by_cryopick(path):
                continue  # the overview of a run into the watched folder
            try:
                status = path.stat()
            except OSError:
                continue  # vanished between listing and stat (or a broken link)
            if stat.S_ISREG(status.st_mode):  # (not a pipe or socket of that name)
                found[path] = (status.st_size, status.st_mtime_ns)
    return found


def _stats(paths: Iterable[Path]) -> dict[Path, tuple[int, float] | None]:
    """Size and time of each of ``paths`` (None: not there)."""
    found: dict[Path, tuple[int, float] | None] = {}
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            found[path] = None
        else:
            found[path] = (status.st_size, status.st_mtime)
    return found


def _not_replacing(
    prepared: PreparedPick,
    items: list[WorkItem],
    out_dir: Path,
    state: dict,
    refused: dict[Path, tuple[WorkItem, dict]],
) -> list[WorkItem]:
    """``items`` but those whose output names hold files no run wrote (recorded as
    failed: a stream of arrivals is not refused as a whole, as a batch run is). Each
    refused item goes into ``refused`` with its files' sizes and times: it is tried
    again once they change (moved away by the user, a trial)."""
    foreign = set(unrecorded_outputs(prepared, items, out_dir))  # the manifests read once
    if not foreign:
        return items
    kept = []
    for item in items:
        own = output_paths(item.stem, prepared.request.formats, prepared.kinds)
        found = [path for path in own if path in foreign]
        if found:
            state["errors"][str(item.source)] = (
                f"{item.source}: {', '.join(map(str, found))} not written by an earlier run "
                "into the folder (or changed since); not replaced (--overwrite replaces it; "
                "moved away, the micrograph is picked)"
            )
            refused[item.source] = (item, _stats(found))
        else:
            kept.append(item)
    return kept


def _freed(refused: dict[Path, tuple[WorkItem, dict]], state: dict) -> list[WorkItem]:
    """The refused items whose files in the way were moved or changed since: to be tried
    again (and checked again) now."""
    freed = []
    for source, (item, stats) in list(refused.items()):
        if _stats(stats) != stats:
            del refused[source]
            state["errors"].pop(str(source), None)
            freed.append(item)
    return freed


def _say_unsettled(
    now_scan: dict[Path, tuple[int, int]],
    previous: dict[Path, tuple[int, int]],
    handled: dict[Path, tuple[int, int]],
    failed: dict[Path, tuple[int, int]],
) -> None:
    """Name the micrographs that changed between the last two looks and are not picked as
    they are now: still being written when the monitor stopped (a re-trial's ended
    without a word while a picked one was being rewritten)."""
    changing = sorted(
        path
        for path, taken in now_scan.items()
        if path in previous and previous[path] != taken and path not in handled
        and path not in failed
    )  # fmt: skip
    if changing:
        logger.warning(
            "%d micrograph(s) were still being written or changed when the monitor stopped, "
            "and are not picked as they are now: %s (start it again to pick them)",
            len(changing),
            name_list([str(p) for p in changing], 5),
        )


def _forget_earlier_counts(state: dict, items: Iterable[WorkItem]) -> None:
    """Take back what an earlier pick of ``items`` this session added to the counts: a
    micrograph picked again (changed since) counts once, with its new picks (a review:
    "picked 39 objects in 2 of 1 micrographs", and a preallocated file picked as zeros
    still said to have no picks)."""
    for item in items:
        earlier = state["by_source"].pop(item.key, None)
        if earlier is None:
            continue
        picks, fibers, fiber_points, listed, name = earlier
        state["picked"] -= 1
        state["picks"] -= picks
        state["fibers"] -= fibers
        state["fiber_points"] -= fiber_points
        if listed and name in state[listed]:
            state[listed].remove(name)


def _say_other_data_set(prepared: Any, path: Path, told: set[str]) -> None:
    """Warn (once a run) of micrographs whose folder names no data set of a model of
    several, picked with a data-set head as a list run warns
    (:func:`~napari_cryopick.workflows.pick.last_head_warning`; a trial's monitor of such a
    folder said nothing)."""
    from napari_cryopick.workflows.inputs import _dataset_name
    from napari_cryopick.workflows.pick import guessed_head, trained_head

    head_of = prepared.folder_heads
    if not head_of or "unknown" in told or _dataset_name(path) in head_of:
        return
    guess = guessed_head(prepared, head_of)
    if guess is None:
        return
    told.add("unknown")
    head, heads = guess
    last = trained_head(prepared.card, tuple(getattr(prepared.model, "head_names", ())))
    # (a review: a head the monitored folder's name chose was called the last training's)
    why = "the last training's" if head == last else "the monitored folder's data set's"
    logger.warning(
        "%s: its folder names no data set of the model: picked with head '%s' (%s), as is "
        "every micrograph of such folders; if they are another data set's, monitor with "
        "--head NAME (heads: %s)",
        path,
        head,
        why,
        heads,
    )


def monitor(
    request: PickRequest,
    folder: str | os.PathLike,
    options: BatchOptions | None = None,
    *,
    idle_timeout: float = 600.0,
    poll_s: float = 2.0,
    settle_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[PickProgress, None, BatchOutcome]:
    """Pick micrographs as they appear in ``folder`` (crYOLO's monitor mode).

    A file is picked once its size and modification time did not change
    between two scans and it is at least ``settle_s`` seconds old (default
    ``poll_s``): a micrograph still being copied is not read half-written.
    Files already complete (manifest) are never picked again, so a
    restarted monitor continues. A file that failed (caught empty or cut
    short), or that changed after it was picked (a writer that paused longer
    than ``settle_s``, a micrograph replaced), is picked again once its size
    and modification time settle again; micrographs still changing when it
    stops are named. Folders are searched as ``cryopick pick --recursive``
    searches them (hidden ones left out, links followed once); sub-folders are
    mirrored below ``request.out_dir``. Stops when no micrograph arrived or
    changed for ``idle_timeout`` seconds; closing the generator (Ctrl-C) stops
    between micrographs with every file written whole.
    """
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

    options = dataclasses.replace(options or BatchOptions(), skip=True)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: a file, not a folder")
    if not folder.exists():
        # a session folder the microscope has not made yet (a facility trial started the
        # monitor before EPU did and was refused); its parent must be there (a typo)
        if not folder.parent.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder, nor {folder.parent}")
        logger.warning("%s: no such folder yet: waiting for it to appear", folder)
    if request.out_dir is None:
        raise ValueError("monitor mode needs an output folder")
    out_dir = Path(request.out_dir)
    settle = poll_s if settle_s is None else settle_s
    start = time.perf_counter()
    # the folder names its micrographs' data set (their head and size), as a list run's
    prepared = prepare(
        dataclasses.replace(
            request, micrographs=(), input_folders=request.input_folders or (folder,)
        )
    )
    chooses = request.invert_contrast is None or (
        request.diameter_factor is None and request.scale_search
    )
    if chooses and zero_shot(prepared):
        # micrographs arrive one by one: no first micrographs to choose the scale on
        missing = []
        if request.diameter_factor is None and request.scale_search:
            missing.append("the factor it prints with --diameter-factor")
        if request.invert_contrast is None:
            missing.append("--invert-contrast or --no-invert-contrast as it chose")
        logger.warning(
            "monitor mode picks zero-shot at the diameter and contrast as given, without "
            "the scale search; pick a few micrographs with 'cryopick pick' first and give "
            "%s",
            " and ".join(missing),
        )
    fingerprint = settings_fingerprint(request)
    if options.summary and not options.overwrite:
        _refuse(out_dir, foreign_summary(out_dir))  # a user's own summary.csv
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _Manifest(_manifest_path(out_dir, options.shard), fingerprint)
    state = _run_state()
    seen: dict[Path, tuple[int, int]] = {}
    told: set[str] = set()  # what _say_other_data_set said (once a run)
    handled: dict[Path, tuple[int, int]] = {}  # size and time (ns) when taken
    failed: dict[Path, tuple[int, int]] = {}  # size and time of a file when it failed
    waiting: dict[Path, tuple[int, int]] = {}  # MRC files shorter than their headers say
    refused: dict[Path, tuple[WorkItem, dict]] = {}  # files of the user's in the way
    attempted: set[Path] = set()  # each micrograph counted once, retries too (a trial)
    stems: dict[Path, Path] = {}
    state["by_source"] = {}  # each micrograph's counts: taken back when picked again
    skipped: set[Path] = set()  # complete already (a manifest's): not picked again
    busy = 0.0  # seconds spent picking (not waiting for micrographs to arrive)
    executor = None
    last_new = clock()
    now_scan: dict[Path, tuple[int, int]] = {}
    previous: dict[Path, tuple[int, int]] = {}  # the scan before the last
    try:
        executor = _executor(prepared, options, fingerprint)
        while True:
            now_scan = _scan(folder, MICROGRAPH_SUFFIXES)
            wall = time.time()
            ready: list[WorkItem] = []
            if any(seen.get(path) != taken for path, taken in now_scan.items()):
                # a micrograph arrived, grows or changed: the folder is alive (a re-trial's
                # monitor stopped while a picked micrograph was still being rewritten)
                last_new = clock()
            for path in sorted(now_scan):
                if path in failed and now_scan[path] != failed[path]:
                    # it changed since it failed (a copy that stalled, a file created empty
                    # and written later): a trial's stayed failed for the whole session
                    handled.pop(path, None)
                    del failed[path]
                    state["errors"].pop(str(path), None)
                elif path in handled and now_scan[path] != handled[path]:
                    # changed since it was picked (a writer that paused longer than the
                    # poll, a micrograph replaced under its name): picked again once it
                    # settles, as --skip picks a replaced micrograph (a facility trial's
                    # monitor kept the picks of a preallocated file's zeros)
                    del handled[path]
                if path in handled:
                    continue
                size, mtime_ns = now_scan[path]
                if seen.get(path) != (size, mtime_ns) or wall - mtime_ns / 1e9 < settle:
                    continue  # new, still growing, or too fresh
                relative = path.relative_to(folder)
                stem = out_dir / relative.parent / relative.stem
                if not shard_items([WorkItem(path, stem)], options.shard, out_dir):
                    handled[path] = (size, mtime_ns)
                    continue  # another shard's, whenever it arrives (as a list run's)
                if waiting.get(path) == (size, mtime_ns):
                    continue  # still as short as at the last look (its header read then)
                if mrc_shorter_than_header(path, size):
                    # a copy that paused longer than the poll: picked once whole (a trial's
                    # was said to have failed as corrupt twice, then picked); this shard's
                    # only (a review: every shard counted it)
                    waiting[path] = (size, mtime_ns)
                    continue
                waiting.pop(path, None)
                handled[path] = (size, mtime_ns)
                if stems.get(stem, path) != path:
                    state["errors"][str(path)] = (
                        f"{path}: would overwrite the picks of {stems[stem]}; not picked"
                    )
                    continue
                stems[stem] = path
                # recorded with the state it was taken in (changed while read: seen so)
                ready.append(WorkItem(path, stem, stat=(size, mtime_ns)))
                _say_other_data_set(prepared, path, told)
            previous, seen = seen, now_scan
            taken = {item.source for item in ready}
            ready += [item for item in _freed(refused, state) if item.source not in taken]
            if ready:
                todo, done = complete_items(ready, out_dir, fingerprint)
                skipped.update(item.source for item in done)
                if not options.overwrite:
                    todo = _not_replacing(prepared, todo, out_dir, state, refused)
                if todo:
                    _forget_earlier_counts(state, todo)
                    attempted.update(item.source for item in todo)
                    last_new = clock()
                    began = time.perf_counter()
                    yield from _drive(
                        prepared,
                        executor,
                        todo,
                        manifest,
                        out_dir,
                        state["step"] + len(todo),
                        options.should_stop,
                        start,
                        state,
                    )
                    busy += time.perf_counter() - began
                    for item in todo:
                        if str(item.source) in state["errors"] and item.source in now_scan:
                            failed[item.source] = now_scan[item.source]
                    last_new = clock()
                    if state["stopped"]:
                        break
            if options.should_stop is not None and options.should_stop():
                state["stopped"] = True
                break
            if clock() - last_new >= idle_timeout:
                break
            manifest.beat()
            sleep(poll_s)
    finally:
        manifest.close()
        if executor is not None:
            executor.close()
        # (here too at Ctrl-C: the command line's monitor ends so)
        _say_unsettled(now_scan, previous, handled, failed)
    cut_short = {p for p, taken in waiting.items() if now_scan.get(p) == taken == previous.get(p)}
    for path in sorted(cut_short):  # (those still changing: said above)
        taken = waiting[path]
        state["errors"][str(path)] = (
            f"{path}: shorter than its MRC header says ({taken[0]} bytes): still being "
            "copied when the monitor stopped, or cut short; not picked (start the monitor "
            "again once it is whole)"
        )
    summary = write_summary(out_dir, fingerprint, options.shard) if options.summary else ()
    return BatchOutcome(
        # each micrograph once: refused ones counted (and named); one skipped as complete,
        # then changed and picked, is picked (a review: "2 of 1")
        n_micrographs=len(attempted | set(refused) | skipped | cut_short),
        n_picked=state["picked"],
        n_skipped=len(skipped - attempted),
        n_picks=state["picks"],
        n_fibers=state["fibers"],
        empty=tuple(state["empty"]),
        empty_thresholds=tuple(sorted(state["empty_thresholds"])),
        unseen=tuple(state["unseen"]),
        errors=dict(state["errors"]),
        stopped=state["stopped"],
        seconds=time.perf_counter() - start,
        manifest=manifest.path,
        summary=summary,
        busy_seconds=busy,
    )
