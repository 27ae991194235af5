"""Batch options of ``cryopick pick`` (resume, shards, read-ahead, Dask, monitor).

Kept apart from ``_pick.py`` so that the pick command only adds a hook:
:func:`add_batch_arguments` in its parser and :func:`run_pick_batch` once it
has built its :class:`~napari_cryopick.workflows.pick.PickRequest`. Nothing
here imports torch or dask until a run starts (fast ``--help``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CLIError
from napari_cryopick.core.text import counted, name_list


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the batch, cluster and streaming options to ``parser``."""
    batch = parser.add_argument_group(
        "batches and pipelines",
        "Every run into a folder records what it wrote in <out>/cryopick_manifest.jsonl; "
        "with --summary (implied by --skip, --shard, --dask and --monitor) it also writes "
        "<out>/summary.csv and summary.png (picks, mean score and seconds per micrograph).",
    )
    batch.add_argument(
        "--skip",
        action="store_true",
        help="do not pick micrographs whose outputs are complete (recorded in the manifest "
        "with the same settings and still on disk): a killed run resumes",
    )
    batch.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files of the names this run writes that no earlier run into the "
        "folder wrote, or that changed since (e.g. your own picks): refused by default",
    )
    batch.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="pick only the micrographs whose path hashes to shard I of N (1-based), e.g. "
        "--shard $SLURM_ARRAY_TASK_ID/20 in a job array (the tasks agree on each "
        "micrograph whatever each finds in the folder); with --monitor, N monitors share "
        "one folder",
    )
    batch.add_argument(
        "--read-ahead",
        type=int,
        default=1,
        metavar="N",
        help="micrographs read ahead by a background thread while the model runs (default 1; "
        "0: off)",
    )
    batch.add_argument(
        "--summary",
        action="store_true",
        help="record the run and write summary.csv / summary.png (implied by --skip, "
        "--shard, --dask and --monitor)",
    )
    batch.add_argument(
        "--no-summary", action="store_true", help="do not write summary.csv / summary.png"
    )
    batch.add_argument(
        "--pictures",
        type=int,
        default=0,
        metavar="N",
        help="draw the first N micrographs picked with their picks (circles of their "
        "diameter) into <out>/pictures/<name>.png: a look at the picks without "
        "napari, e.g. on a cluster (default 0: none)",
    )
    cluster = parser.add_argument_group(
        "Dask cluster",
        "--dask local:N starts N single-threaded worker processes on this machine; "
        "--dask tcp://HOST:PORT uses a running scheduler (workers need napari-cryopick "
        "installed); --dask slurm:N submits N SLURM jobs of one worker each (dask-jobqueue; "
        "settings also from ~/.config/dask/jobqueue.yaml). Needs the 'cluster' extra.",
    )
    cluster.add_argument(
        "--dask", default=None, metavar="SPEC", help="local:N, tcp://HOST:PORT, slurm:N"
    )
    cluster.add_argument("--slurm-queue", default=None, help="SLURM partition (slurm:N)")
    cluster.add_argument("--slurm-account", default=None, help="SLURM account (slurm:N)")
    cluster.add_argument(
        "--slurm-walltime",
        default=None,
        metavar="HH:MM:SS",
        help="job time limit (default 04:00:00); workers leave shortly before it and "
        "new jobs replace them",
    )
    cluster.add_argument(
        "--slurm-memory", default=None, metavar="SIZE", help="memory per job (default 8GB)"
    )
    cluster.add_argument(
        "--slurm-gpus", type=int, default=0, metavar="N", help="GPUs per job (--gres=gpu:N)"
    )
    cluster.add_argument(
        "--slurm-extra",
        action="append",
        default=[],
        metavar="DIRECTIVE",
        help="extra #SBATCH directive, e.g. --slurm-extra=--constraint=a100 (repeatable)",
    )
    stream = parser.add_argument_group(
        "streaming",
        "--monitor FOLDER picks micrographs as they appear (sub-folders too) once a file has "
        "stopped growing, as crYOLO's monitor mode; Ctrl-C stops with every file whole.",
    )
    stream.add_argument("--monitor", type=Path, default=None, metavar="FOLDER")
    stream.add_argument(
        "--idle-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="monitor: stop when no micrograph arrived or changed for S seconds (default 600)",
    )
    stream.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="S",
        help="monitor: seconds between two looks at the folder (default 5)",
    )


def wants_batch(args: argparse.Namespace) -> bool:
    """Whether the options ask for the batch runner (else the plain pick workflow runs).

    Raises
    ------
    CLIError
        Neither micrographs nor ``--monitor``, or both.
    """
    inputs = getattr(args, "inputs", None)
    if args.monitor is not None and inputs:
        raise CLIError("give micrographs or --monitor FOLDER, not both")
    if args.monitor is None and not inputs:
        raise CLIError("give micrographs or folders to pick, or --monitor FOLDER")
    return bool(args.skip or args.shard or args.dask or args.monitor is not None or args.summary)


def batch_options(args: argparse.Namespace, **overrides: Any) -> Any:
    """:class:`~napari_cryopick.workflows.batch.BatchOptions` from parsed arguments."""
    from napari_cryopick.workflows.batch import BatchOptions, parse_dask, parse_shard

    try:
        shard = parse_shard(args.shard) if getattr(args, "shard", None) else None
        if args.dask:
            parse_dask(args.dask)
    except ValueError as error:
        raise CLIError(str(error)) from None
    if args.read_ahead < 0:
        raise CLIError(f"--read-ahead must be >= 0, got {args.read_ahead}")
    dask_options: dict[str, Any] = {}
    if args.dask and args.dask.startswith("slurm:"):
        for name in ("queue", "account", "walltime", "memory"):
            value = getattr(args, f"slurm_{name}", None)
            if value:
                dask_options[name] = value
        extra = list(args.slurm_extra or [])
        if args.slurm_gpus:
            extra.append(f"--gres=gpu:{args.slurm_gpus}")
        if extra:
            dask_options["job_extra_directives"] = extra
    values: dict[str, Any] = {
        "skip": args.skip,
        "shard": shard,
        "read_ahead": args.read_ahead,
        "dask": args.dask,
        "dask_options": dask_options,
        "summary": not args.no_summary,
        "overwrite": bool(getattr(args, "overwrite", False)),
    }
    values.update(overrides)
    return BatchOptions(**values)


def _exit_code(outcome: Any) -> int:
    if outcome.errors:
        return EXIT_BAD_INPUT if outcome.n_picked == 0 and outcome.n_skipped == 0 else EXIT_FAILED
    return EXIT_OK


def _anything_recorded(out: Path) -> bool:
    """Whether ``out`` holds a manifest record (True when it cannot be read: say the usual)."""
    from napari_cryopick.workflows.batch import read_manifests

    try:
        return out.is_dir() and bool(read_manifests(out))
    except (OSError, ValueError):
        return True


def _monitor_stopped(request: Any, options: Any, command: str) -> None:
    """What a stopped monitor session picked, and its summary files (as at its idle end)."""
    from napari_cryopick.workflows.batch import (
        read_manifests,
        settings_fingerprint,
        write_summary,
    )

    out = Path(request.out_dir)
    fingerprint = settings_fingerprint(request)
    records = read_manifests(out, fingerprint) if out.is_dir() else {}
    done = [r for r in records.values() if r.get("status") == "done"]
    picks = sum(int(r.get("picks") or 0) for r in done)
    # named again, as at an idle end (a pipeline trial's Ctrl-C said nothing of the
    # corrupt micrograph it met an hour before)
    failed = [str(r.get("error") or r.get("input")) for r in records.values()
              if r.get("status") == "failed"]  # fmt: skip
    for error in failed[:20]:
        print(f"cryopick {command}: failed {error}", file=sys.stderr)
    more = " (the first 20 named above)" if len(failed) > 20 else " (named above)"
    said = f", {len(failed)} failed{more}" if failed else ""
    summary = write_summary(out, fingerprint, options.shard) if options.summary and records else ()
    written = f"; summary: {summary[0]}" if summary else ""
    print(
        f"cryopick {command}: monitoring stopped; {counted(len(done), 'micrographs')} picked "
        f"into {out} so far ({picks} objects){said}{written}. The same command continues "
        "where it stopped.",
        file=sys.stderr,
    )


def _say_failure(always: bool):
    """An ``on_event`` that reports a micrograph that failed when it fails, above the
    progress bar: a monitor session runs for hours, and its list of failures at the end
    came too late to fix a cause (a full disk, a bad transfer) while it ran. A run of
    one micrograph says it once, at the end (``always``: a monitor, whose count grows).
    """
    import logging

    log = logging.getLogger("napari_cryopick.cli")

    def on_event(event: Any) -> None:
        error = getattr(event, "error", None)
        if error and (always or getattr(event, "total", 0) != 1):
            log.warning("failed %s (the run goes on)", error)

    return on_event


def _with_pictures(on_event: Any, out: Path, count: int, command: str) -> Any:
    """``on_event`` that also draws the first ``count`` micrographs picked, with their
    picks, as ``out/pictures/<the output's path below out>.png`` (a new-user trial had no
    look at a command-line run's picks but napari). The micrograph is read again; a
    picture that cannot be made is said and the run goes on."""
    if count <= 0:
        return on_event
    import logging

    log = logging.getLogger("napari_cryopick.cli")
    drawn = 0

    def draw(event: Any) -> None:
        nonlocal drawn
        on_event(event)
        item = getattr(event, "item", None)
        if drawn >= count or event.error or item is None or item.path is None:
            return
        from napari_cryopick.io.micrographs import read_micrograph
        from napari_cryopick.io.paths import PICTURES_FOLDER
        from napari_cryopick.workflows.pictures import is_own_picture, save_picks_figure

        written = [Path(p) for p in event.written]
        try:
            below = written[0].resolve().relative_to(out.resolve()) if written else None
        except ValueError:
            below = None
        path = out / PICTURES_FOLDER / (below or Path(item.name)).with_suffix(".png")
        if path.exists() and not is_own_picture(path):
            # a user's own file of that name (a hostile-input trial's was replaced unsaid)
            log.warning(
                "cryopick %s: no picture of %s: %s exists and is not a picture cryopick "
                "drew; it is left as it is",
                command,
                item.name,
                path,
            )
            return
        drawn += 1  # (a name left to its user's file does not count)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            image = read_micrograph(item.path).data
            from napari_cryopick.core.pick_table import objects_said

            save_picks_figure(
                image, item.picks, path, title=f"{item.name}: {objects_said(item.picks)}"
            )
        except Exception as error:  # a picture is never worth the run (memory, a backend)
            log.warning("cryopick %s: no picture of %s: %s", command, item.name, error)

    return draw


def run_pick_batch(args: argparse.Namespace, request: Any, *, command: str = "pick") -> int:
    """Run a built pick request through the batch runner; print one summary line.

    ``--monitor`` streams a folder; otherwise the request's micrographs are
    picked (``--skip``, ``--shard``, ``--dask`` as given).
    """
    from napari_cryopick.core.progress import drive
    from napari_cryopick.workflows import batch

    if request.out_dir is None:
        raise CLIError("--out is required")
    options = batch_options(args)
    if args.monitor is not None:
        if args.idle_timeout <= 0 or args.poll <= 0:
            raise CLIError("--idle-timeout and --poll must be > 0")
        if args.monitor.exists() and not args.monitor.is_dir():
            raise CLIError(f"{args.monitor}: a file, not a folder (--monitor watches a folder)")
        if not args.monitor.exists() and not args.monitor.parent.is_dir():
            # (a folder not made yet is waited for: its parent must be there)
            raise CLIError(
                f"{args.monitor}: no such folder, nor {args.monitor.parent} (--monitor "
                "watches a folder, or waits for one to appear in a folder that is there)"
            )
        from napari_cryopick.workflows.monitor import monitor

        job = monitor(
            request, args.monitor, options, idle_timeout=args.idle_timeout, poll_s=args.poll
        )
        description = f"monitoring {args.monitor}"
    else:
        from napari_cryopick.io.paths import micrograph_pixel_sizes

        # the pixel size of a cryoSPARC exposures list (psize_A) beats the MRC header
        inputs = getattr(args, "inputs", None) or []
        sizes = micrograph_pixel_sizes(inputs)
        if sizes and getattr(args, "pixel_size", None) is None:
            from napari_cryopick.io.micrographs import listed_pixel_size_warning
            from napari_cryopick.io.paths import MICROGRAPH_LIST_SUFFIXES

            lists = [str(i) for i in inputs if Path(i).suffix.lower() in MICROGRAPH_LIST_SUFFIXES]
            warning = listed_pixel_size_warning(", ".join(lists) or "the micrograph list", sizes)
            if warning:
                print(f"cryopick {command}: warning: {warning}", file=sys.stderr)
        job = batch.run_batch(request, options, pixel_sizes=sizes)
        description = "picking"
    try:
        outcome = drive(
            job,
            progress_bar=True,
            description=description,
            unit="micrograph",
            on_event=_with_pictures(
                _say_failure(args.monitor is not None),
                Path(request.out_dir),
                getattr(args, "pictures", 0) or 0,
                command,
            ),
        )
    except KeyboardInterrupt:
        job.close()  # the manifest is closed and Dask is shut down; files are whole
        if args.monitor is not None:
            # Ctrl-C is how a monitor session usually ends: say what it did
            try:
                _monitor_stopped(request, options, command)
            except Exception as error:  # the interrupt stays the outcome (exit code 130)
                print(f"cryopick {command}: no summary written: {error}", file=sys.stderr)
        elif not _anything_recorded(Path(request.out_dir)):
            print(f"cryopick {command}: stopped before any micrograph was picked", file=sys.stderr)
        else:
            print(
                f"cryopick {command}: every micrograph finished so far is recorded in "
                f"{request.out_dir} (run again with --skip to continue)",
                file=sys.stderr,
            )
        raise  # the command line's handler says "interrupted" / "terminated" (130 / 143)
    except ValueError as error:
        raise CLIError(str(error)) from None
    except OSError as error:
        import errno

        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        from napari_cryopick.cli._errors import os_error_message

        # a full disk stops the run: the records cannot be written either (a batch trial
        # got "no space left on device", naming nothing, and no word of resuming)
        resume = (
            "the micrographs recorded before are kept: free space and run again with --skip"
            if _anything_recorded(Path(request.out_dir))
            else "nothing was recorded: free space and run again"
        )
        raise CLIError(f"{os_error_message(error)}; the run stopped: {resume}") from None
    from napari_cryopick.cli._pick import print_scale

    # (monitor mode warned at its start why it runs no search: not "a trained model")
    asked = getattr(args, "scale_search", None) is True and not getattr(args, "monitor", None)
    print_scale(outcome, request, command, asked=asked)
    say_failed(outcome.errors, command)
    done = outcome.n_skipped - outcome.n_kept
    # a monitor resumes without --skip (a pipeline trial read "(--skip)" it never gave)
    why = "earlier runs into this folder" if getattr(args, "monitor", None) else "--skip"
    skipped = f", {done} already done ({why})" if done else ""
    if outcome.n_kept:  # (a CLI trial: an edited file's micrograph counted as done)
        skipped += f", {outcome.n_kept} kept as edited since ({why})"
    skipped += failed_count(outcome.errors)
    summary = f"; summary: {outcome.summary[0]}" if outcome.summary else ""
    per = outcome.seconds_per_micrograph
    timing = ""
    if per is not None:  # none picked: no time per micrograph
        searches = [
            what
            for what, ran in (
                ("contrast", bool(outcome.polarity_confidences)),
                ("scale", outcome.scale_source == "search" and bool(outcome.scale_confidences)),
            )
            if ran
        ]
        searched = f" with the {' and '.join(searches)} search" if searches else ""
        waited = (
            f", {outcome.waiting_seconds:.0f} s waiting for the first worker (SLURM's queue)"
            if outcome.waiting_seconds >= 1.0
            else ""
        )
        timing = (
            f" (start-up {outcome.startup_seconds:.1f} s{searched}{waited}, "
            f"then {per:.2f} s per micrograph)"
        )
    what = f"picked {outcome.n_picks} objects"
    fibers_only = bool(outcome.n_fibers) and outcome.n_fiber_points == outcome.n_picks
    if request.keep_candidates is not None and fibers_only:
        # fibers are traced above the threshold only (a trial read the claim below and
        # found the same 5 fibers in the file as without the option)
        what += (
            " above the threshold (--keep-candidates keeps no fiber below it: fibers are "
            "traced at the threshold only)"
        )
    elif request.keep_candidates is not None:  # the files hold more (a trial: 1200 vs 1641)
        what += (
            f" above the threshold (the files also hold the {'particle ' if outcome.n_fibers else ''}"
            f"candidates scoring at least {request.keep_candidates:g}, --keep-candidates)"
        )
    if fibers_only:
        # fibers only: the fibers are the objects (a trial read "picked 209 objects" for
        # 4 fibers), as a one-micrograph run says
        what = what.replace(
            f"picked {outcome.n_picks} objects",
            f"traced {outcome.n_fibers} fibers ({outcome.n_picks} points along them)",
        )
    elif outcome.n_fibers:  # fiber points, traced into paths (a trial: "661 objects"?)
        what += f" ({outcome.n_fibers} fibers traced, written as paths of those points)"
    print(
        f"{what} in {outcome.n_picked} of {outcome.n_micrographs} "
        f"micrographs{skipped} -> {request.out_dir} ({', '.join(request.formats)}), "
        f"{outcome.seconds:.1f} s{timing}{summary}"
    )
    say_empty(outcome, command)
    say_few(outcome, command)
    say_unseen(outcome, command)
    return _exit_code(outcome)


def say_failed(errors: dict[str, str], command: str) -> None:
    """Name every micrograph that failed, one line each: ``cryopick pick: failed m.mrc: ...``.

    They were "skipped m.mrc: ...", the word ``--skip`` uses for micrographs already
    done (a trial could not tell the two apart).
    """
    for message in errors.values():
        print(f"cryopick {command}: failed {message}", file=sys.stderr)


def failed_count(errors: dict[str, str]) -> str:
    """``", 3 failed (named above)"`` for the end-of-run line; empty when none failed.

    The end line said how many were picked and how many were already done, never how
    many failed (a trial's "71 of 202 micrographs, 128 already done": 3 unsaid).
    """
    return f", {len(errors)} failed (named above)" if errors else ""


def say_unseen(outcome: Any, command: str) -> None:
    """Name the micrographs the general model barely saw, zero-shot, in a run where it saw
    the rest (a CLI trial's folder of ribosome and apoferritin micrographs: the search ran
    on two ribosome ones, and the apoferritin ones got 14-28 picks of about 160, unsaid;
    picked alone they were warned of)."""
    from napari_cryopick.core.scale_search import LOW_CONFIDENCE, barely_sees

    unseen = list(getattr(outcome, "unseen", ()) or ())
    if not unseen or barely_sees(getattr(outcome, "scale_confidences", None) or {}):
        return  # (none, or the whole run was said to be barely seen)
    print(
        f"cryopick {command}: warning: the general model barely sees the particles of "
        f"{len(unseen)} of {outcome.n_picked} picked micrograph(s) (confidence below "
        f"{LOW_CONFIDENCE:g}, as on proteins it does not know): {name_list(unseen, 10)}. "
        "Their zero-shot picks are likely poor: another protein or particle size than the "
        "rest (pick them on their own, with their diameter), or micrographs with few or no "
        "particles (carbon, empty ice); to pick an unknown protein, click a few particles "
        "and train a model on them",
        file=sys.stderr,
    )


#: A micrograph with fewer picks than this share of the run's median is named.
FEW_PICKS_SHARE = 0.2


def say_few(outcome: Any, command: str) -> None:
    """Name the micrographs of a run picked with far fewer picks than its median (from
    ``summary.csv``, which holds every micrograph picked into the folder with these
    settings, earlier runs and other shards too): a CLI trial's ten inverted copies got
    5-23 picks each where the others got about 110, and only ``summary.png`` showed it.
    Runs of at least 5 picked micrographs whose median is at least 20 picks; those
    without a pick are :func:`say_empty`'s."""
    import pandas as pd

    table_path = next((p for p in getattr(outcome, "summary", ()) if p.suffix == ".csv"), None)
    if table_path is None:
        return
    try:
        table = pd.read_csv(table_path)
        done = table[table["status"].astype(str) == "done"]
        picks = done["picks"].astype(float)
    except (OSError, ValueError, KeyError):
        return
    median = float(picks.median()) if len(picks) else 0.0
    if len(picks) < 5 or median < 20:
        return
    few = done[(picks > 0) & (picks < FEW_PICKS_SHARE * median)]
    if not len(few):
        return
    names = [f"{m} ({int(n)})" for m, n in zip(few["micrograph"].astype(str), few["picks"])]
    print(
        f"cryopick {command}: warning: {len(few)} of the {len(done)} micrograph(s) picked "
        f"in {table_path} gave fewer than a fifth of their median of {median:g} picks: "
        f"{name_list(names, 10)}. "
        "Look at them: particles lighter than the background (a trained model picks "
        "micrographs as they are: --invert-contrast), another particle size, or few "
        "particles there (carbon, thick ice); summary.png plots every micrograph",
        file=sys.stderr,
    )


def say_empty(outcome: Any, command: str) -> None:
    """Name the micrographs picked without a single pick (a trial's inverted micrographs
    gave 1 pick in 3 with a trained model, and an intensity ramp none, unsaid)."""
    if not outcome.empty:
        return
    threshold = getattr(outcome, "threshold", None)
    at = f" at threshold {threshold:.3g}" if threshold is not None else ""
    thresholds = tuple(getattr(outcome, "empty_thresholds", ()) or ())
    if len(thresholds) == 1:
        # the one they were picked at: their head's (a CLI trial's apoferritin micrographs,
        # picked with their own head at 0.0949, were said to give none at 0.115)
        at = f" at threshold {thresholds[0]:.3g}"
    elif thresholds:
        at = f" at their heads' thresholds ({', '.join(f'{t:.3g}' for t in thresholds)})"
    print(
        f"cryopick {command}: warning: {len(outcome.empty)} of {outcome.n_picked} picked "
        f"micrograph(s) gave no pick{at}: {name_list(list(outcome.empty), 10)}. A model "
        "finds nothing where the threshold is too high for it (--threshold), and a trained "
        "model nothing on micrographs unlike its training ones: particles lighter than the "
        "background (--invert-contrast), another size (--diameter), or no particles there",
        file=sys.stderr,
    )


def warn_mixed_settings(
    files: list[Path], command: str, *, per_format: bool = False, depth: int = 4
) -> None:
    """Say when the files were picked with more than one set of settings (a run killed
    partway over another's: :func:`~napari_cryopick.workflows.batch.mixed_settings`;
    ``depth``: how far above a file its run's manifest may lie)."""
    from napari_cryopick.workflows.batch import mixed_settings

    mixed = mixed_settings(files, depth, per_format=per_format)
    if mixed:
        print(
            f"{command}: warning: the files were picked with different settings ({mixed}): "
            "a run stopped partway over an earlier one's files? pick the folder again with "
            "one setting (--skip picks only the others again)",
            file=sys.stderr,
        )


def run_thresholds_of_candidates(
    files: list[Path], items: list[Path]
) -> dict[Path, tuple[float, float]]:
    """``{file: (floor, threshold)}`` of ``files`` (read from the inputs ``items``) that
    hold a pick run's candidates as it wrote them (``--keep-candidates``: every pick down
    to a floor), with the threshold that run picked at (``batch.candidate_thresholds``;
    files an export or a filter replaced since are the user's: not among them). What
    ``cryosparc export`` and ``filter`` without ``--threshold`` keep of them: the picks
    at that threshold (a trial's filter into STAR kept every candidate down to 0.05,
    unsaid, where the export of the same folder kept the run's)."""
    from napari_cryopick.workflows.batch import candidate_thresholds

    # the files of a folder given: its manifest, however deep below it they lie (a pick
    # run over an EPU tree mirrors its sub-folders: a review); other files: the manifest
    # of their folder or of one above it
    held: dict[Path, tuple[float, float]] = {}
    for item in (Path(i) for i in items):
        if item.is_dir():
            below = [f for f in files if f not in held and _below(f, item)]
            held.update(candidate_thresholds(below, folder=item))
    held.update(candidate_thresholds([f for f in files if f not in held]))
    return {path: pair for path, pair in held.items() if math.isfinite(pair[1])}


def candidates_note(
    command: str, done: str, held: dict[Path, tuple[float, float]], left: int
) -> str:
    """The note of a command that kept ``held``'s candidate files at their runs'
    thresholds (:func:`run_thresholds_of_candidates`), ``left`` candidates below them."""
    floor = min(floor for floor, _t in held.values())
    values = sorted({threshold for _f, threshold in held.values()})
    shown = ", ".join(f"{v:g}" for v in values[:3]) + (" ..." if len(values) > 3 else "")
    return (
        f"{command}: note: {len(held)} file(s) hold every candidate down to score "
        f"{floor:g} (picked with --keep-candidates): {done} at the threshold their run "
        f"picked at ({shown}), {left} candidate(s) below it left out; give --threshold T "
        f"for another (--threshold 0: every candidate)"
    )


def _below(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` or a folder below it."""
    return os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep)
