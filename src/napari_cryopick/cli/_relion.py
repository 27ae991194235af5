"""``cryopick relion``: pick as a RELION 4/5 External job.

RELION starts the job from the project folder as::

    cryopick relion --o External/job012/ --in_mics CtfFind/job003/micrographs_ctf.star \\
        --j 4 --pipeline_control External/job012/ --model my.pt --diameter-A 150

and this command writes, in the job folder, one ``<stem>_autopick.star`` per
micrograph below the micrographs' folders (mirrored as RELION's AutoPick does),
``autopick.star`` (``data_coordinate_files``: what Extract takes),
``RELION_OUTPUT_NODES.star``, ``summary.csv``/``summary.png`` and, last,
``RELION_JOB_EXIT_SUCCESS`` (or ``_FAILURE``, or ``_ABORTED`` after the GUI's
abort button). Running the job again ("Continue") picks only what is not
complete yet. See docs/pipelines.md for the GUI set-up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``relion`` sub-command."""
    parser = subparsers.add_parser(
        "relion",
        help="pick as a RELION External job (--o, --in_mics, --j, --pipeline_control)",
        description=(
            "Pick the micrographs of a RELION micrograph list (micrographs_ctf.star, RELION "
            "3.0 or 3.1+) into a RELION job folder: <JOBDIR>/<folders>/<stem>_autopick.star "
            "and <JOBDIR>/autopick.star for Extract. The pixel size comes from the optics "
            "table. Run from the RELION project folder; running again continues."
        ),
    )
    relion = parser.add_argument_group("arguments RELION passes")
    relion.add_argument("--o", required=True, type=Path, metavar="JOBDIR", help="job folder")
    relion.add_argument(
        "--in_mics", required=True, type=Path, metavar="STAR", help="micrograph list"
    )
    relion.add_argument(
        "--j",
        type=int,
        default=1,
        metavar="N",
        help="RELION's Number of threads: N > 1 picks with a local Dask cluster of N "
        "single-threaded workers; in one process (N = 1, or no dask.distributed), torch "
        "uses N threads",
    )
    relion.add_argument(
        "--pipeline_control",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder RELION watches (RELION_JOB_ABORT_NOW); default the job folder",
    )
    own = parser.add_argument_group("picking (Params tab of the External job)")
    own.add_argument("--model", type=Path, default=None, help="checkpoint (default: bundled)")
    own.add_argument("--head", default=None, help="detector head (default: the model's)")
    size = own.add_mutually_exclusive_group()
    size.add_argument("--diameter", type=float, default=None, metavar="PX", help="in pixels")
    size.add_argument(
        "--diameter-A",
        "--diameter_A",
        dest="diameter_A",
        type=float,
        default=None,
        metavar="A",
        help="in Angstrom, converted with each micrograph's optics-group pixel size",
    )
    own.add_argument(
        "--threshold",
        metavar="T",
        type=float,
        default=None,
        help="score threshold in [0, 1] (default: as cryopick pick: the model's calibrated "
        "one, else 0.15)",
    )
    own.add_argument(
        "--min-distance",
        "--min_distance",
        metavar="F",
        dest="min_distance",
        type=float,
        default=None,
        help="minimum distance between picks, fraction of the diameter",
    )
    own.add_argument(
        "--keep-candidates",
        "--keep_candidates",
        dest="keep_candidates",
        type=float,
        default=None,
        metavar="FLOOR",
        help="write every candidate scoring at least FLOOR (re-threshold with cryopick filter)",
    )
    from napari_cryopick.cli._pick import add_scale_and_view_options

    add_scale_and_view_options(own)  # --scale-search, --invert-contrast, --rotations, ...
    own.add_argument(
        "--device",
        default="auto",
        help="auto (default: a GPU when there is one), cpu, cuda, cuda:1, ...",
    )
    own.add_argument(
        "--dask",
        default=None,
        metavar="SPEC",
        help="local:N, tcp://HOST:PORT or slurm:N (overrides --j)",
    )
    own.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files in the job folder that no run of the job wrote, or that changed "
        "since (Param 'overwrite', no value); refused by default",
    )
    own.add_argument(
        "--coords",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="no picking: take each micrograph's picks from the Pick widget's STAR export "
        "in FOLDER (the file its manifest records for the micrograph, else "
        "<micrograph stem>.star, _autopick.star, _manualpick.star or _pick.star below FOLDER) into the job "
        "folder and "
        "autopick.star, as a picking job writes them",
    )
    own.add_argument(
        "--relion31",
        action="store_true",
        help="RELION 3.1: also write coords_suffix_autopick.star and declare it (integer node "
        "type 2) in RELION_OUTPUT_NODES.star",
    )
    parser.set_defaults(func=run)


def mark_refused_options(words: list[str]) -> None:
    """Leave ``RELION_JOB_EXIT_FAILURE`` when RELION's command line was refused.

    argparse exits before :func:`run` on an unknown or malformed option (a
    typo in the External job's Params tab); without the marker the RELION GUI
    would show the job as running for ever. ``words``: the command line after
    ``cryopick``; nothing is written unless it is a ``relion`` command with
    ``--o``.
    """
    from napari_cryopick.io.relion import write_exit_marker

    commands = [word for word in words if not word.startswith("-")]
    if not commands or commands[0] != "relion":
        return
    job_dir = None
    for index, word in enumerate(words):
        if word == "--o" and index + 1 < len(words):
            job_dir = words[index + 1]
        elif word.startswith("--o="):
            job_dir = word[len("--o=") :]
    if not job_dir or job_dir.startswith("-"):  # an empty output field: no job folder known
        return
    from napari_cryopick.io.paths import read_only_text

    if read_only_text(job_dir) is not None:
        return  # nothing written into a read-only folder, not even the marker
    try:
        Path(job_dir).mkdir(parents=True, exist_ok=True)
        write_exit_marker(job_dir, "failure")
    except OSError:
        pass  # the command line's own message is what the user sees


def _items(job_dir: Path, star: Path, check_pixel_sizes: bool = True) -> tuple[list, list]:
    from napari_cryopick.io.relion import coordinate_file_path, read_micrographs_star
    from napari_cryopick.workflows.batch import WorkItem

    micrographs = read_micrographs_star(star)
    if not micrographs:
        raise CLIError(f"{star}: lists no micrographs")
    if not any(Path(m.path).exists() for m in micrographs):
        # left alone in session 24: run by hand from elsewhere, every micrograph failed
        first = micrographs[0]
        where = ""
        if not Path(first.name).is_absolute():
            # <project>/CtfFind/job003/micrographs_ctf.star: two folders up, if its files
            # are found from there
            above = Path(os.path.normpath(Path(star).absolute())).parents
            project = next(
                (folder for folder in above[1:3] if (folder / first.name).exists()), None
            )
            where = (
                f"; RELION runs an External job from the project folder (the list's paths are "
                f"relative to it): run cryopick relion there"
                f"{f' ({project})' if project else ''}, not from {Path.cwd()}"
            )
        raise CLIError(
            f"{star}: none of its {len(micrographs)} micrographs is there (e.g. {first.path})"
            f"{where}"
        )
    items, owners = [], {}
    for micrograph in micrographs:
        coordinates = coordinate_file_path(job_dir, micrograph.name)
        if coordinates in owners:
            if owners[coordinates] == micrograph.name:  # read "X and X would both be ..."
                raise CLIError(f"{star}: {micrograph.name} is listed twice")
            raise CLIError(
                f"{star}: {owners[coordinates]} and {micrograph.name} would both be picked "
                f"into {coordinates}"
            )
        owners[coordinates] = micrograph.name
        stem = coordinates.with_name(coordinates.name[: -len(".star")])
        items.append(WorkItem(micrograph.path, stem, micrograph.pixel_size))
    if check_pixel_sizes:
        _check_pixel_sizes(star, micrographs)
    return micrographs, items


def _check_pixel_sizes(star: Path, micrographs: list) -> None:
    """Warn when the list's pixel size is not the MRC header's (the first few files).

    The list's is used, as RELION does; but a list without
    ``rlnMicrographPixelSize`` gives the movies' (``rlnMicrographOriginalPixelSize``),
    which binning in motion correction multiplies: a trial's list said 1 Å/px for
    micrographs of 4 Å/px, and the job picked 1 particle in 10 micrographs, exit 0.
    """
    from napari_cryopick.io.micrographs import listed_pixel_size_warning

    warning = listed_pixel_size_warning(
        star, {m.path: m.pixel_size for m in micrographs if m.pixel_size}, "as RELION does"
    )
    if warning:
        print(f"cryopick relion: warning: {warning}", file=sys.stderr)


@contextlib.contextmanager
def info_on_stdout() -> Iterator[None]:
    """Information lines on standard output while the job runs, warnings and errors on
    standard error, as RELION's own programs do.

    RELION writes an External job's standard error to ``run.err`` and its GUI
    shows that file as the job's errors: a trial found every progress bar and
    "INFO: zero-shot ..." line of a job that went well there. The progress bar
    goes to standard output too (``drive(file=sys.stdout)``).
    """
    import logging

    root = logging.getLogger()
    on_stderr = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr
    ]
    if not on_stderr:  # (logging set up by a caller of main(): left as it is)
        yield
        return
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(on_stderr[0].formatter)
    for condition in on_stderr[0].filters:  # (the CLI's: this package's information only)
        out.addFilter(condition)
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    levels = [handler.level for handler in on_stderr]
    for handler in on_stderr:
        handler.setLevel(max(handler.level, logging.WARNING))
    root.addHandler(out)
    try:
        yield
    finally:
        root.removeHandler(out)
        for handler, level in zip(on_stderr, levels, strict=True):
            handler.setLevel(level)


def _not_a_folder(job_dir: Path, error: OSError) -> str:
    """Why the job folder ``job_dir`` could not be made: a file in its place or above it,
    named, else the system's reason."""
    for part in (job_dir, *job_dir.parents):
        if part.exists() and not part.is_dir():
            return f"{part} is a file, not a folder" + (
                ": give the job's folder (RELION's --o)" if part == job_dir else ""
            )
    return str(error.strerror or error)


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick relion``; returns the exit code (and leaves RELION's exit marker)."""
    from napari_cryopick.io.paths import read_only_text
    from napari_cryopick.io.relion import (
        abort_requested,
        clear_abort_request,
        clear_exit_markers,
        write_exit_marker,
    )

    job_dir = args.o
    refused = read_only_text(job_dir)
    if refused is not None:  # (root could write there; no exit marker either: a re-trial)
        print(f"cryopick relion: error: --o {job_dir}: {refused}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # named as pick names them (a CLI trial's --o of a STAR file read "File exists")
        print(f"cryopick relion: error: --o {job_dir}: {_not_a_folder(job_dir, error)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    clear_exit_markers(job_dir)
    control = args.pipeline_control or job_dir
    if abort_requested(control):  # aborted while it waited in a queue: stopped at once
        write_exit_marker(job_dir, "aborted")
        clear_abort_request(control)
        print(
            "cryopick relion: aborted by RELION before it started (RELION_JOB_ABORT_NOW was "
            f"in {control}, now removed: run the job again if no abort was meant)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        with info_on_stdout():
            code = _run(args, job_dir)
    except KeyboardInterrupt as stop:
        write_exit_marker(job_dir, "aborted")
        from napari_cryopick.cli._errors import Terminated

        if isinstance(stop, Terminated):  # SIGTERM (a cluster's): "terminated", 143
            raise
        print("cryopick relion: interrupted (RELION_JOB_EXIT_ABORTED)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, ValueError, OSError) as error:
        write_exit_marker(job_dir, "failure")
        if args.verbose:
            raise
        print(f"cryopick relion: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BaseException:
        write_exit_marker(job_dir, "failure")
        raise
    finally:
        # however it ended, a request it did not act on (pressed after its last look, or
        # as it failed) does not stop the next run of the command (a review)
        clear_abort_request(control)
    return code


def _run(args: argparse.Namespace, job_dir: Path) -> int:
    from napari_cryopick.cli._defaults import dataclass_defaults
    from napari_cryopick.cli._pick import print_scale, view_request_fields
    from napari_cryopick.core.progress import drive
    from napari_cryopick.io.micrographs import is_tiff
    from napari_cryopick.io.relion import (
        abort_requested,
        write_exit_marker,
    )
    from napari_cryopick.workflows.batch import (
        BatchOptions,
        complete_items,
        foreign_files,
        read_manifests,
        run_batch,
        settings_fingerprint,
    )
    from napari_cryopick.workflows.pick import PickRequest

    if args.coords is not None:  # no picking: no model, no pixel sizes
        micrographs, items = _items(job_dir, args.in_mics, check_pixel_sizes=False)
        return _import_coordinates(args, job_dir, micrographs, items)
    from napari_cryopick.workflows.batch import imported_files

    if imported_files(job_dir):  # (a trial's Continue listed nothing in autopick.star)
        raise CLIError(
            f"{job_dir} holds picks imported with --coords: a picking job needs a job "
            "folder of its own (a new External job)"
        )
    if args.j < 1:
        raise CLIError(f"--j must be >= 1, got {args.j}")
    if args.model is not None and not args.model.is_file():
        from napari_cryopick.core.model.checkpoint import not_a_model_file

        raise CLIError(not_a_model_file(args.model) or f"{args.model}: not a model file")
    view = view_request_fields(args)
    micrographs, items = _items(job_dir, args.in_mics)
    options = dict(view["options"])
    if (
        options["rotations"]
        == dataclass_defaults("napari_cryopick.core.detect", "PickConfig")["rotations"]
    ):
        # as before the option existed: a job continued after an upgrade keeps its
        # settings fingerprint, so what it picked counts as done
        del options["rotations"]
    if args.min_distance is not None:
        options["min_distance"] = args.min_distance
    request = PickRequest(
        micrographs=(),
        model=args.model,
        head=args.head,
        diameter_px=args.diameter,
        diameter_A=args.diameter_A,
        threshold=args.threshold,
        options=options,
        device=args.device,
        out_dir=job_dir,
        formats=("star",),
        keep_candidates=args.keep_candidates,
        diameter_factor=view["diameter_factor"],
        scale_search=view["scale_search"],
        invert_contrast=view["invert_contrast"],
        # RELION reads TIFF images bottom row first (its Conventions page): an interop
        # trial's TIFF micrographs got the MRC job's coordinates, mirrored in Extract
        flip_tiff_y=any(is_tiff(item.source) for item in items),
    )
    control = args.pipeline_control or job_dir
    dask = args.dask or threads_cluster(args.j)
    if dask is None:
        # one process: RELION's "Number of threads" is its share of the node (a trial:
        # --j 1 left torch at its default of every core)
        import torch

        torch.set_num_threads(args.j)
    batch = BatchOptions(
        skip=True,
        dask=dask,
        should_stop=lambda: abort_requested(control),
        overwrite=args.overwrite,
    )
    from napari_cryopick.cli._batch import _say_failure

    def index(fingerprint: str, kept: tuple[str, ...] | None = None) -> tuple[Path, list]:
        """autopick.star: every complete micrograph of the list, in its order, with
        the settings the run picked with, and those ``kept`` as the user edited them
        (None: found here, a run interrupted before it said which: a review)."""
        todo, complete = complete_items(items, job_dir, fingerprint)
        if kept is None:
            targets = {item.stem.with_name(item.stem.name + ".star"): item.key for item in todo}
            edited = foreign_files(job_dir, list(targets), damaged=[])
            kept = tuple(targets[path] for path in edited)
        done = {item.key for item in complete} | set(kept)
        entries = [
            (micrograph.name, item.stem.with_name(item.stem.name + ".star"))
            for micrograph, item in zip(micrographs, items)
            if item.key in done
        ]
        return _write_index(args, job_dir, entries), entries

    try:
        outcome = drive(
            run_batch(request, batch, items),
            progress_bar=True,
            description="picking",
            unit="micrograph",
            file=sys.stdout,
            on_event=_say_failure(False),  # as cryopick pick: named when it fails
        )
    except KeyboardInterrupt:
        # the micrographs finished are listed for Extract, as after RELION's Abort (a
        # trial's Ctrl-C left no autopick.star, and said nothing of what was done)
        with contextlib.suppress(Exception):
            # the settings of the newest file written (a zero-shot run's chosen scale is
            # in its fingerprint, not the request's)
            records = [r for r in read_manifests(job_dir).values() if r.get("status") == "done"]
            newest = max(records, key=lambda r: r.get("finished", 0), default={})
            autopick, entries = index(newest.get("fingerprint") or settings_fingerprint(request))
            print(f"interrupted: {len(entries)} of {len(items)} micrographs in {autopick}")
        raise
    # with the settings the run picked with (a zero-shot run chooses its scale and
    # contrast: the request's own fingerprint listed nothing then), and the files the
    # user edited since, kept as they are (a trial's hand-corrected micrograph left the
    # index, so Extract lost it, on a job ending in success)
    autopick, entries = index(outcome.fingerprint or settings_fingerprint(request), outcome.kept)
    print_scale(outcome, request, "relion", asked=args.scale_search is True)
    from napari_cryopick.cli._batch import failed_count, say_empty, say_failed, say_unseen

    say_failed(outcome.errors, "relion")
    kept = f", {outcome.n_kept} of them kept as edited since" if outcome.n_kept else ""
    print(
        f"picked {outcome.n_picks} particles in {outcome.n_picked} micrographs "
        f"({outcome.n_skipped} done before{kept}{failed_count(outcome.errors)}); "
        f"{len(entries)} of {len(items)} micrographs in "
        f"{autopick}, {outcome.seconds:.1f} s"
    )
    if outcome.n_other_settings:
        # a Continue with a new threshold (model, diameter...) picks the job again: said (a
        # RELION trial's went unsaid); on standard output, run.out: a job that went well
        # leaves run.err empty (a facility trial saw it among the job's errors)
        print(
            f"cryopick relion: note: {outcome.n_other_settings} micrograph(s) of the job had "
            "been picked with other settings (model, diameter, threshold, ...): picked again "
            "with these, their files written over"
        )
    say_empty(outcome, "relion")  # (a trial's 3 Å/px optics group: 12 picks where 106)
    say_unseen(outcome, "relion")
    if outcome.stopped:
        write_exit_marker(job_dir, "aborted")  # (run() removes the request, RELION's rule)
        print("cryopick relion: aborted by RELION (RELION_JOB_ABORT_NOW)", file=sys.stderr)
        return EXIT_FAILED
    if outcome.errors:
        write_exit_marker(job_dir, "failure")
        return EXIT_FAILED
    write_exit_marker(job_dir, "success")
    return EXIT_OK


#: Options of a picking job that ``--coords`` (no picking) does not use: said when given.
_PICKING_OPTIONS = ("model", "head", "diameter", "diameter_A", "threshold", "min_distance",
                    "keep_candidates", "dask")  # fmt: skip


def _import_coordinates(args: argparse.Namespace, job_dir: Path, micrographs, items) -> int:
    """``--coords FOLDER``: each listed micrograph's picks from ``FOLDER`` (the Pick
    widget's STAR export, its manifest naming each file's micrograph; else the file named
    after the micrograph) into the job folder as a picking job writes them (TIFF
    micrographs' y mirrored, as RELION reads them, unless the export wrote them so), with
    ``autopick.star`` and the output nodes (a GUI trial found no way from its corrected
    picks to Extract's input: the widget knows no RELION project)."""
    from napari_cryopick.core.text import name_list
    from napari_cryopick.io.micrographs import is_tiff, read_micrograph
    from napari_cryopick.io.pickfiles import read_picks, write_picks
    from napari_cryopick.io.relion import COORDINATE_SUFFIXES, write_exit_marker
    from napari_cryopick.workflows.batch import (
        foreign_files,
        imported_files,
        micrograph_files,
        picked_here,
        record_export,
        y_flips,
    )

    # a micrograph's file: <stem>.star (the Pick widget's export), else with a picking
    # program's suffix (mic_autopick.star; the rule cryosparc export names them by)
    suffixes = (".star", *(suffix + ".star" for suffix in COORDINATE_SUFFIXES))
    folder = args.coords
    if not folder.is_dir():
        raise CLIError(f"--coords {folder}: not a folder (the Pick widget's STAR export)")
    inside = Path(os.path.abspath(job_dir))
    if Path(os.path.abspath(folder)) == inside or inside in Path(os.path.abspath(folder)).parents:
        raise CLIError(
            f"--coords {folder}: the job folder itself (--o); give the folder the Pick "
            "widget exported to"
        )
    if picked_here(job_dir):  # a Continue of that picking job would list nothing
        raise CLIError(
            f"{job_dir} holds a picking run's picks: --coords needs a job folder of its own "
            "(a new External job)"
        )
    unused = [
        f"--{n.replace('_', '-')}" for n in _PICKING_OPTIONS if getattr(args, n, None) is not None
    ]
    unused += [
        f"--{n}" for n, default in (("device", "auto"), ("j", 1)) if getattr(args, n) != default
    ]
    if unused:
        print(
            f"cryopick relion: note: --coords picks nothing: {', '.join(unused)} not used",
            file=sys.stderr,
        )
    files = [
        path
        for path in sorted(folder.rglob("*.star"))
        if inside not in Path(os.path.abspath(path)).parents  # (not the job's own outputs)
    ]
    sources = micrograph_files(files)  # the micrograph each file is of, where recorded
    several: dict[str, list[Path]] = {}
    for path, m in sources.items():
        if any(path.name == Path(m).stem + suffix for suffix in suffixes):
            # (not an export's <mic>_fibers.star, a review: helical pairs as particles)
            several.setdefault(os.path.realpath(m), []).append(path)
    for m, paths in several.items():
        if len(paths) > 1 and m in {os.path.realpath(x.path) for x in micrographs}:
            raise CLIError(
                f"--coords {folder}: {name_list([str(p) for p in paths], 3)} all hold picks "
                f"of {m}: give the folder of one export"
            )
    recorded = {m: paths[0] for m, paths in several.items()}
    by_name: dict[str, list[Path]] = {}
    for path in files:
        for suffix in suffixes:
            if path.name.endswith(suffix):
                by_name.setdefault(path.name[: -len(suffix)], []).append(path)
    stems = [Path(micrograph.name).stem for micrograph in micrographs]
    listed = {os.path.realpath(m.path) for m in micrographs}
    claimed = {path for micrograph, path in recorded.items() if micrograph in listed}
    chosen = []
    for micrograph, item in zip(micrographs, items, strict=True):
        source = recorded.get(os.path.realpath(micrograph.path))
        stem = Path(micrograph.name).stem
        named = [f for f in by_name.get(stem, []) if f not in claimed]
        if source is None and named:
            if len(named) > 1 or stems.count(stem) > 1:
                twins = [m.name for m in micrographs if Path(m.name).stem == stem]
                raise CLIError(
                    f"--coords {folder}: {name_list([str(f) for f in named], 3)} could be "
                    f"the picks of {name_list(twins, 3)} (one name, several files or "
                    "folders) and no manifest says which: keep one file per micrograph"
                )
            source = named[0]
            _same_size(source, sources.get(source), micrograph.path)
        target = item.stem.with_name(item.stem.name + ".star")
        chosen.append((micrograph, source, target))
    missing = [m.name for m, source, _t in chosen if source is None]
    found = [(m, source, t) for m, source, t in chosen if source is not None]
    if not found:
        raise CLIError(
            f"--coords {folder}: no coordinate file for any of the {len(micrographs)} "
            f"micrographs of {args.in_mics} (e.g. {stems[0]}.star or {stems[0]}_autopick.star)"
        )
    targets = [target for _m, _s, target in found]
    # an earlier import's file of a micrograph this one has none for is removed: gone, or
    # RELION 3.1's Extract (files found by name) would take it (a trial)
    stale = sorted(imported_files(job_dir) - set(targets))
    # (the manifests read once for both: the files of this import, and the earlier's)
    changed = set(foreign_files(job_dir, [*targets, *stale], include_exports=True))
    foreign = [path for path in targets if path in changed]
    if foreign and not args.overwrite:
        raise CLIError(
            f"{job_dir} holds {len(foreign)} file(s) of these names that no run of the job "
            f"wrote, or that changed since ({name_list([f.name for f in foreign], 3)}): "
            "give another job folder, or --overwrite"
        )
    edited = [path for path in stale if path in changed]
    if edited and not args.overwrite:
        # (a review: an edited file of the earlier import was removed unsaid)
        raise CLIError(
            f"{job_dir}: {len(edited)} file(s) of an earlier import changed since it "
            f"({name_list([str(f.relative_to(job_dir)) for f in edited], 3)}) and "
            f"{folder} has no picks for their micrographs: this import would remove them; "
            "move them away, or give --overwrite"
        )
    flips = y_flips([source for _m, source, _t in found])
    from ._batch import warn_mixed_settings

    warn_mixed_settings([source for _m, source, _t in found], "cryopick relion")
    # everything read before anything is written: a bad file or micrograph stops the job
    # with the job folder as it was (a review: a re-run refused the half written)
    planned, mirrored, kept, back, others = [], 0, 0, 0, 0
    for micrograph, source, target in found:
        table = read_picks(source, micrograph=Path(micrograph.name).stem)
        particles = table[table["kind"].astype(str) == "particle"]
        others += len(table) - len(particles)  # (fibers, vesicles: Extract takes points)
        height = None
        tiff = is_tiff(micrograph.path)
        if tiff and source not in flips:
            # RELION reads TIFF images bottom row first; an export that ticked 'TIFF y
            # from the last row' wrote them so already (a review: mirrored twice)
            height = read_micrograph(micrograph.path).data.shape[0]
            mirrored += 1
        elif not tiff and flips.get(source) == "all":
            # a --flip-y run's MRC picks count y from the last row, RELION reads MRC as
            # stored: mirrored back (a trial: imported upside down, unsaid)
            height = read_micrograph(micrograph.path).data.shape[0]
            back += 1
        elif tiff:
            kept += 1
        planned.append((micrograph, target, particles, height))
    for path in stale:
        path.unlink(missing_ok=True)
    entries, picks = [], 0
    for micrograph, target, particles, height in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_picks(particles, target, "star", flip_y_height=height, micrograph_names=False)
        entries.append((micrograph.name, target))
        picks += len(particles)
    record_export(
        job_dir,
        targets,
        {t: Path(m.path) for m, _s, t in found},
        imported_from=os.path.abspath(folder),
    )
    autopick = _write_index(args, job_dir, entries)
    said = [
        f"{mirrored} TIFF micrograph(s): y mirrored, as RELION reads them (no manifest beside "
        "their files says they were written so)"
        if mirrored
        else "",
        f"{kept} TIFF micrograph(s): y as written, from the last row, as their manifest says "
        "and RELION reads them"
        if kept
        else "",
        f"{back} micrograph(s) of a --flip-y run: y mirrored back, as RELION reads MRC files"
        if back
        else "",
    ]
    print(
        f"imported {picks} picks of {len(entries)} of {len(items)} micrographs from {folder} "
        f"into {autopick}" + "".join(f" ({text})" for text in said if text)
    )
    if others:
        print(
            f"cryopick relion: note: {others} vesicle(s) or fiber point(s) left out: the job "
            "imports particles (pick fibers with a picking job, which writes RELION's "
            "start-end pairs)",
            file=sys.stderr,
        )
    if missing:
        print(
            f"cryopick relion: note: {len(missing)} micrograph(s) of the list have no file in "
            f"{folder} ({name_list(missing, 3)}): Extract leaves them out",
            file=sys.stderr,
        )
    # coordinate files of micrographs the list does not name: said (a RELION trial's
    # stray _manualpick.star was left out unsaid)
    used = {source for _m, source, _t in found}
    stray = []
    for path in files:
        if path in used or path.name.startswith("coords_suffix_"):  # (RELION 3's index)
            continue
        if path in sources:  # an export's file: of its manifest's micrograph
            if os.path.realpath(sources[path]) not in listed:
                stray.append(path)
            continue
        # a RELION-named file of a listed micrograph is its (a second copy, say), not stray
        named = [path.name[: -len(f"{s}.star")] for s in COORDINATE_SUFFIXES
                 if path.name.endswith(f"{s}.star")]  # fmt: skip
        if named and named[0] not in stems:
            stray.append(path)
    if stray:
        print(
            f"cryopick relion: note: {len(stray)} coordinate file(s) in {folder} are of no "
            f"micrograph of {args.in_mics} ({name_list([p.name for p in stray], 3)}): not "
            "imported",
            file=sys.stderr,
        )
    write_exit_marker(job_dir, "success")
    return EXIT_OK


def _write_index(args: argparse.Namespace, job_dir: Path, entries: list) -> Path:
    """Write what Extract reads of the job, picking or importing: ``autopick.star`` (the
    ``(micrograph, coordinate file)`` ``entries``), with ``--relion31`` RELION 3.1's
    ``coords_suffix`` file naming the micrograph list, and the output node of either;
    returns ``autopick.star``."""
    from napari_cryopick.io.relion import write_coordinate_files_star, write_output_nodes

    autopick = write_coordinate_files_star(job_dir, entries)
    node = autopick
    if args.relion31:
        # RELION 3.1's Extract takes a coords_suffix file naming the micrograph list
        from napari_cryopick.io.atomic import atomic_write_text

        node = atomic_write_text(job_dir / "coords_suffix_autopick.star", f"{args.in_mics}\n")
    write_output_nodes(job_dir, node, relion31=args.relion31)
    return autopick


def _same_size(source: Path, recorded: Path | None, micrograph: str) -> None:
    """Refuse a coordinate file whose manifest names a micrograph of another size than the
    listed one of its name (a trial's picks of 512 px copies landed in the top-left
    quarter of the 1024 px micrographs, unsaid)."""
    if recorded is None or not (Path(recorded).is_file() and Path(micrograph).is_file()):
        return
    from napari_cryopick.io.micrographs import read_micrograph

    if os.path.samefile(recorded, micrograph):
        return
    picked, listed = (read_micrograph(p).data.shape for p in (recorded, micrograph))
    if picked != listed:
        raise CLIError(
            f"--coords: {source} holds picks of {recorded} ({picked[1]} x {picked[0]} px), "
            f"not of {micrograph} ({listed[1]} x {listed[0]} px): pick or export the "
            "micrographs of the list"
        )


def threads_cluster(threads: int) -> str | None:
    """The ``--dask`` spec of RELION's *Number of threads* (``--j``): ``local:J`` for J > 1.

    Without dask.distributed (the ``cluster`` extra) the job picks in one
    process and says so, rather than failing on a field the user set out of
    habit.
    """
    import importlib.util

    if threads <= 1:
        return None
    if importlib.util.find_spec("distributed") is None:
        print(
            f"cryopick relion: warning: Number of threads (--j {threads}) needs dask.distributed "
            "(pip install 'napari-cryopick[cluster]'); picking in one process",
            file=sys.stderr,
        )
        return None
    return f"local:{threads}"
