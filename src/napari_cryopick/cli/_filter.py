"""``cryopick filter``: re-threshold or size-filter pick files, without the network.

Pick files written with ``cryopick pick --keep-candidates`` hold every
candidate above a low score floor with its score (as crYOLO's CBOX files do).
Thresholding them again equals picking again at the higher threshold (the
suppression of neighbours keeps higher scores first), so a threshold can be
chosen after the fact in seconds.

Filtering only removes picks. A STAR, BOX or CBOX file written into its own
format is copied with the rows filtered out dropped and every other line as
written (:func:`~napari_cryopick.io.pickfiles.write_kept_rows`): RELION's optics
block, image names, angles and micrograph paths, and the box size of BOX and
CBOX files, which the pick table has no place for.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CLIError, box_size
from napari_cryopick.workflows.pick import FIBER_FORMATS
from napari_cryopick.workflows.pick import PICK_FORMATS as _FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from napari_cryopick.io.formats.star import CoordinateIndex


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``filter`` sub-command."""
    parser = subparsers.add_parser(
        "filter",
        help="re-threshold or size-filter pick files (no network)",
        description=(
            "Keep the picks of pick files (STAR, BOX, CBOX, Topaz, CSV; folders are searched "
            "for them; a cryoSPARC particles .cs given by name, written as STAR) that pass a score threshold and a diameter range, and write them to "
            "--out, keeping the files' folder layout. STAR, BOX and CBOX files in their own "
            "format lose only the rows filtered out (RELION's other blocks and columns, "
            "micrograph names and box sizes stay as written). A RELION coordinate-file index "
            "(autopick.star) stands for the files it lists: each is filtered, and a new "
            "index lists the results, as Particle extraction reads them."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="PICKFILE_OR_FOLDER")
    parser.add_argument("--out", metavar="FOLDER", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--recursive",
        action="store_true",
        help=(
            "take the pick files of the folders below the given ones too (a cryopick pick "
            "run over sub-folders writes its files below --out the same way); the "
            "filtered files keep that layout"
        ),
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "replace files in --out that no earlier cryopick filter into it wrote, or that "
            "changed since (your own pick files, a pick run's, your corrections): refused "
            "without it"
        ),
    )
    parser.add_argument(
        "--threshold",
        metavar="T",
        type=float,
        default=None,
        help="keep picks scoring at least this; picks without a score (NaN or empty: "
        "added by hand) among scored ones are kept, as the Pick widget keeps them. Default: "
        "a pick run's files of candidates (--keep-candidates) at the threshold that run "
        "picked at (as cryosparc export), other files whole",
    )
    parser.add_argument(
        "--min-diameter", type=float, default=None, metavar="PX", help="keep diameters >= PX"
    )
    parser.add_argument(
        "--max-diameter", type=float, default=None, metavar="PX", help="keep diameters <= PX"
    )
    parser.add_argument(
        "--kind",
        choices=("particle", "vesicle", "fiber"),
        default=None,
        help="keep only this object kind",
    )
    parser.add_argument(
        "--format",
        choices=_FORMATS,
        default=None,
        help="output format (default: each input file's own)",
    )
    parser.add_argument(
        "--box-size",
        type=box_size,
        default=None,
        metavar="PX",
        help=(
            "box edge for BOX/CBOX output in whole pixels (default: a BOX/CBOX input's own, else one "
            "whole-pixel box a file, the picks' median diameter)"
        ),
    )
    parser.add_argument(
        "--binning",
        type=float,
        default=None,
        metavar="B",
        help=(
            "write coordinates for the micrographs binned B times, e.g. Topaz training "
            "targets for 'topaz preprocess -s B' (Topaz files follow Topaz's rule x = B x_b, "
            "other formats the block-averaging rule x = B x_b + (B - 1)/2; "
            "docs/file-conventions.md)"
        ),
    )
    parser.add_argument(
        "--picks-binning",
        type=float,
        default=None,
        metavar="B",
        help=(
            "the input files' coordinates are those of micrographs binned B times (e.g. "
            "picked on 2x binned copies): written for the unbinned micrographs, read as "
            "cryopick train --picks-binning reads them (Topaz files by Topaz's rule)"
        ),
    )
    parser.set_defaults(func=run)


def _converts(args: argparse.Namespace) -> bool:
    """Whether the coordinates change (``--binning`` or ``--picks-binning`` other than 1)."""
    return any(
        getattr(args, name, None) not in (None, 1.0) for name in ("binning", "picks_binning")
    )


def _read(path: Path, name: str | None, listed_by: Path | None, args: argparse.Namespace):
    """The picks of ``path`` (of micrograph ``name`` of the index ``listed_by``), in the
    unbinned micrographs' pixels with ``--picks-binning`` (a trial picked 2x binned copies
    and found no way back to per-micrograph files of the originals), as ``read_picks``
    converts binned files (each format's rule)."""
    from napari_cryopick.core.pick_table import binned_to_original
    from napari_cryopick.io.formats.star import read_listed
    from napari_cryopick.io.pickfiles import read_picks

    binning = args.picks_binning or 1.0
    if listed_by is None:
        return read_picks(path, binning=binning)
    table = read_listed(path, name, listed_by)
    # (an index lists RELION coordinate files: STAR, block averaging)
    return binned_to_original(table, binning) if binning != 1.0 else table


def _check(args: argparse.Namespace) -> None:
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}")
    for name in ("min_diameter", "max_diameter"):  # (--box-size: its argument type)
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    for name in ("binning", "picks_binning"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value >= 1):
            raise CLIError(
                f"--{name.replace('_', '-')} must be a number of at least 1, got {value:g}"
            )
    if args.box_size is not None and args.binning is not None:
        binned = args.box_size / args.binning
        if binned != round(binned) or binned < 1.0:
            # (a review: --box-size 65 --binning 2 wrote boxes of 32 px, unsaid)
            raise CLIError(
                f"--box-size {args.box_size:g} at --binning {args.binning:g} gives boxes of "
                f"{binned:g} px in the binned micrographs, which BOX and CBOX files hold in "
                "whole pixels: give a multiple of the binning"
            )
    if (
        args.min_diameter is not None
        and args.max_diameter is not None
        and args.min_diameter > args.max_diameter
    ):
        raise CLIError("--min-diameter is larger than --max-diameter")
    if all(
        getattr(args, name) is None
        for name in (
            "threshold",
            "min_diameter",
            "max_diameter",
            "kind",
            "format",
            "binning",
            "picks_binning",
        )
    ):
        raise CLIError(
            "give --threshold, --min-diameter, --max-diameter or --kind (or --format, "
            "--binning or --picks-binning alone to convert every pick)"
        )


def keep_mask(table, path: Path, args: argparse.Namespace):
    """Which rows of ``table`` pass the filters of ``args`` (messages name ``path``).

    The filter is core ``pick_table.filter_mask``, the one the Pick widget shows with:
    picks without a score among scored ones (added by hand in napari, exported with the
    picker's) are kept, as the widget and ``cryosparc export`` keep them (a review: they
    were dropped here); a file without any score is still refused a threshold.
    """
    import numpy as np

    from napari_cryopick.core.pick_table import filter_mask

    scored = np.isfinite(table["score"].to_numpy(np.float64)) if len(table) else np.ones(0, bool)
    try:
        return filter_mask(
            table,
            threshold=args.threshold,
            min_diameter=args.min_diameter,
            max_diameter=args.max_diameter,
            kind=args.kind,
            keep_unscored=bool(scored.any()),
        )
    except ValueError as error:
        raise CLIError(f"{path}: {error}") from None


@dataclass
class _Said:
    """What one ``cryopick filter`` run says as it writes: ``folder`` is the output
    folder its messages name while a file is written into a staging folder, ``notes``
    the messages held until the files are in place, ``kind_lost`` whether the kinds a
    format cannot keep were warned of already (once a run)."""

    folder: Path | None = None
    notes: list[str] | None = None
    kind_lost: bool = False
    star_lost: bool = False

    def after_write(self, text: str) -> None:
        """Say ``text`` (on stderr) once the files it speaks of are in place."""
        if self.notes is None:
            print(text, file=sys.stderr)
        else:
            self.notes.append(text)


def _output_format(path: Path, chosen: str | None) -> str:
    """``--format``, else the input's own; read-only inputs (cryoSPARC ``.cs``) give STAR."""
    from napari_cryopick.io.pickfiles import FORMATS, detect_format

    format = chosen or detect_format(path)
    return format if format in FORMATS else "star"


def _write(table, keep, path: Path, target: Path, format: str, listed_by, args, said: _Said) -> int:
    """Write the picks of ``path`` (read as ``table``) that ``keep`` marks to ``target``;
    returns how many were written.

    Into its own format a STAR, BOX or CBOX file is copied with the other rows
    dropped and the rest as written (``write_kept_rows``): a RELION particles
    file keeps its optics block, its other columns and its micrograph names
    (a trial's came out as X, Y, stems and scores, which RELION could not match),
    a BOX or CBOX file its box size (a trial's 64 px CBOX boxes became the 53.4 px
    particle estimate, corners moved). Other formats, and ``--box-size``, write the
    pick table; BOX and CBOX then keep the input's box size, else one whole-pixel
    box a file as ``cryopick pick`` writes them.
    """
    import numpy as np

    from napari_cryopick.io.pickfiles import (
        BOXED_FORMATS,
        MULTI_MICROGRAPH_FORMATS,
        ROW_FORMATS,
        RowMismatch,
        box_size_of,
        detect_format,
        read_picks,
        write_kept_rows,
        write_picks,
        write_picks_per_micrograph,
    )
    from napari_cryopick.workflows.pick import one_box_size

    source_format = detect_format(path)
    same = format == source_format and format in ROW_FORMATS and not _converts(args)
    if same and not (format in BOXED_FORMATS and args.box_size is not None):
        try:
            write_kept_rows(path, target, keep, format)
            if format == "box" and keep.any() and not keep.all():
                # a filament's start and end are kept only together: count what was written
                return len(read_picks(target))
            return int(keep.sum())
        except RowMismatch as error:
            # (not said of fibers a rewrite in this format refuses below: a crYOLO
            # helicon file's "written as" came before "cannot hold fibers")
            if format in FIBER_FORMATS or not (table[keep]["kind"] == "fiber").any():
                print(
                    f"cryopick filter: warning: {error}; written as napari-cryopick's {format} "
                    "file: the file's other columns and blocks are not kept",
                    file=sys.stderr,
                )
    passed = table[keep].reset_index(drop=True)
    _warn_of_kind_lost(said, passed, format)
    if source_format == "star" and _converts(args):
        _warn_of_star_content_lost(said, path)
    options = {}
    if args.binning not in (None, 1.0):
        options["binning"] = args.binning
    if format in BOXED_FORMATS:
        box = args.box_size
        if box is None and source_format in BOXED_FORMATS:
            box = box_size_of(path)
            if box is not None and args.picks_binning not in (None, 1.0):
                # the input's box is in the binned copies' pixels (a review: 28 px boxes
                # stayed 28 around picks converted to the unbinned micrographs)
                box = box * args.picks_binning
        elif box is None:
            box = one_box_size(passed)
        options["box_size"] = box
    if format == "star":
        # per-micrograph coordinate files name no micrograph (read_picks used the stem)
        names = set(table["micrograph"].astype(str))
        options["micrograph_names"] = listed_by is None and names != {path.stem}
        # the input's FOM label kept when the filter passes no pick (a file of the same
        # labels as the others)
        options["scores"] = bool(np.isfinite(table["score"].to_numpy(float)).any())
    fibers = (passed["kind"] == "fiber").to_numpy()
    if fibers.any() and format not in FIBER_FORMATS:
        # a re-trial's fibers written to BOX read back as particles, unsaid; cryopick pick
        # refuses the same
        raise ValueError(
            f"holds {_fiber_count(passed)} fiber(s), and {format} files cannot hold fibers "
            f"(they read back as particles): give --format {', '.join(FIBER_FORMATS)}, or "
            "--kind particle to leave them out"
        )
    apart = 0  # fiber picks written to a file of their own (else in passed: counted there)
    if format in ("star", "cbox") and fibers.any():
        # RELION's start-end pairs or crYOLO's filament boxes, as cryopick pick writes
        # them (a trial's start-end STAR came out one row per vertex: RELION's Extract
        # paired rows across fibers); other picks beside them go to a file of their own
        # a crYOLO filament CBOX holds its boxes: rewritten as CBOX, the same boxes (an
        # interop trial's came back every half width from the start, the last box lost)
        as_boxes = format == "cbox" and source_format == "cbox"
        # (of the file, not of the picks the threshold passes: the names stay one run to the
        # next, a review's particles all below --threshold put the fibers in <name>.cbox)
        mixed = bool((table["kind"].astype(str) != "fiber").any())
        target = _write_fibers(
            passed[fibers], path, target, format, options, as_boxes, said, mixed=mixed
        )
        passed = passed[~fibers].reset_index(drop=True)
        apart = int(fibers.sum())
        if not len(passed):
            return apart
    micrographs = set(passed["micrograph"].astype(str)) - {""}
    if format not in MULTI_MICROGRAPH_FORMATS and len(micrographs) > 1:
        # a file of many micrographs into a format of one (BOX, CBOX): one file each, named
        # after its micrograph, as crYOLO and EMAN2 read them (a trial was refused, told
        # to call a Python function)
        files = write_picks_per_micrograph(passed, target.parent, format, **options)
        said.after_write(
            f"cryopick filter: {path.name}: {len(files)} {format} files, one per micrograph, "
            f"in {said.folder or target.parent}"
        )
        return len(passed)
    write_picks(passed, target, format, **options)
    # a filament CBOX written as CSV said "kept 22 of 11 picks" (an interop trial)
    return len(passed) + apart


def _fiber_count(table: Any) -> int:
    """Fibers of a pick table: one per (micrograph, tube id) of its fiber rows."""
    fibers = table[table["kind"].astype(str) == "fiber"]
    return len(fibers[["micrograph", "tube_id"]].drop_duplicates())


def _warn_of_kind_lost(said: _Said, passed: Any, format: str) -> None:
    """Vesicles written to a format without kinds: said once a command, as ``cryopick
    pick`` says it (a trial's filtered vesicle CBOX trained back as 153 px particles)."""
    from napari_cryopick.workflows.pick import kind_format_warning

    if said.kind_lost or not len(passed):
        return
    warning = kind_format_warning(sorted(set(passed["kind"].astype(str))), (format,))
    if warning is not None:
        said.kind_lost = True
        print(f"cryopick filter: warning: {warning}", file=sys.stderr)


def _warn_of_star_content_lost(said: _Said, path: Path) -> None:
    """A RELION STAR file whose coordinates are converted is written anew, coordinates,
    scores and diameters only: said once a command where it held more (a fuzzing trial's
    particles file lost its optics table and micrograph paths, unsaid)."""
    if said.star_lost:
        return
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    import re

    blocks = sum(1 for line in text.splitlines() if line.strip().startswith("data_"))
    paths = "_rlnMicrographName" in text and re.search(r"\S/\S+\.\w+", text) is not None
    if blocks > 1 or paths or "_rlnOpticsGroup" in text or "_rlnImageName" in text:
        said.star_lost = True
        print(
            f"cryopick filter: warning: {path}: converting the coordinates writes a new STAR "
            "file with coordinates, scores and diameters only: its other blocks and columns "
            "(the optics table, micrograph paths, angles) are not kept",
            file=sys.stderr,
        )


def _write_fibers(
    fibers,
    path: Path,
    target: Path,
    format: str,
    options: dict,
    as_boxes: bool,
    said: _Said,
    *,
    mixed: bool = False,
) -> Path:
    """Write the fiber picks of ``path`` to ``target`` (:func:`write_fiber_table`, one
    file per micrograph for CBOX; ``as_boxes``: the vertices are a CBOX file's boxes);
    returns where the file's other picks go. ``mixed`` (the file holds other picks too):
    the fibers go to ``<name>_fibers``, the others to ``target``, as ``cryopick pick``
    names them (a fiber trial: filter wrote the fibers to ``<name>.cbox``, which crYOLO
    takes as the micrograph's boxes, and the particles to ``<name>_particles.cbox``; and
    a file of several micrographs gave both kinds' CBOX files the same names)."""
    from napari_cryopick.io.filaments import write_fiber_table

    binning = float(options.get("binning", 1.0))
    names = sorted(set(fibers["micrograph"].astype(str)))
    tail = "_fibers" if mixed else ""
    if format == "star" or len(names) <= 1:
        write_fiber_table(
            fibers,
            target.with_name(f"{target.stem}{tail}{target.suffix}"),
            format,
            micrograph_names=options.get("micrograph_names"),
            binning=binning,
            box_size_px=options.get("box_size"),
            as_boxes=as_boxes,
        )
    else:
        for name in names:
            write_fiber_table(
                fibers[fibers["micrograph"].astype(str) == name],
                target.with_name(name + tail + target.suffix),
                format,
                binning=binning,
                box_size_px=options.get("box_size"),
                as_boxes=as_boxes,
            )
        said.after_write(
            f"cryopick filter: {path.name}: {len(names)} {format} filament files, one per "
            f"micrograph, in {said.folder or target.parent}"
        )
    return target


def _expand_indexes(
    files: list[Path],
) -> tuple[
    list[tuple[Path, str | None, Path | None]], list[tuple[Path, CoordinateIndex]], list[str]
]:
    """What to filter, the indexes met and the rows that could not be followed.

    ``(file, micrograph name, index)`` for each file to filter (name and index
    None: a file given directly); ``(path, index)`` of each RELION coordinate-file
    index (``autopick.star`` of a ``cryopick relion`` or RELION Auto-picking job,
    read by :func:`~napari_cryopick.io.formats.star.read_coordinate_index`), which
    stands for the files it lists: each is filtered into its own file, and a new
    index lists them, so the output is what RELION's Extract reads; and one
    message per listed file that is missing.
    """
    from napari_cryopick.io.formats import micrograph_stem
    from napari_cryopick.io.formats.star import read_coordinate_index

    expanded: list[tuple[Path, str | None, Path | None]] = []
    indexes: list[tuple[Path, CoordinateIndex]] = []
    problems: list[str] = []
    seen: set[Path] = set()

    def add(file: Path, name: str | None, index: Path | None) -> None:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            expanded.append((file, name, index))

    for path in files:
        index = None
        if path.suffix.lower() == ".star":
            try:
                index = read_coordinate_index(path)
            except ValueError:
                index = None  # read as an ordinary file below, which reports the problem
        if index is None:
            add(path, None, None)
            continue
        indexes.append((path, index))
        for name, file, problem in index.entries:
            if file is None:
                problems.append(f"{path}: {problem}")
            else:
                add(file, micrograph_stem(name), path)
    return expanded, indexes, problems


def _write_index(index: Path, read: CoordinateIndex, written: dict, folder: Path, args) -> str:
    """Write the new coordinate-file index of ``index`` (as ``read``) into ``folder``;
    the line to print."""
    from napari_cryopick.io.relion import write_coordinate_files_star

    entries = read.entries
    listed = [
        (name, written[file.resolve()])
        for name, file, _ in entries
        if file is not None and file.resolve() in written
    ]
    if args.format not in (None, "star"):
        return f"{index}: no new index written (RELION's Extract reads STAR coordinate files, not --format {args.format})"
    if not listed:
        return f"{index}: no new index written (none of its coordinate files was filtered)"
    # read for and written for one binning (--picks-binning B --binning B): the index
    # names the micrographs of the coordinates written
    converted = (args.picks_binning or 1.0) != (args.binning or 1.0)
    if converted and args.picks_binning not in (None, 1.0):
        # it names the binned copies the coordinates were picked on
        return (
            f"{index}: no new index written: it names the micrographs the coordinates were "
            f"picked on, binned {args.picks_binning:g} times, and --picks-binning writes "
            "coordinates for the unbinned ones (list those with the coordinate files to "
            "extract)"
        )
    if converted and args.binning not in (None, 1.0):
        # its micrographs are the unbinned ones: Extract would cut every particle at
        # coordinates 1/binning of its place (a trial's 2x: 217, 153 where 434, 306)
        return (
            f"{index}: no new index written: it names the micrographs the coordinates were "
            f"picked on, and --binning {args.binning:g} writes coordinates for micrographs "
            f"binned {args.binning:g} times (list those with the coordinate files to extract)"
        )
    # RELION resolves the paths from its project folder: relative to it when the
    # input index was and the output lies inside it, else absolute
    project = read.project_dir
    inside = project is not None and Path(os.path.abspath(folder)).is_relative_to(
        os.path.abspath(project)
    )
    folder.mkdir(parents=True, exist_ok=True)  # an index whose files lie in other folders
    new_index = write_coordinate_files_star(
        folder, listed, project_dir=project, name=index.name, absolute=not inside
    )
    return f"{index}: {len(listed)} of {len(entries)} coordinate files listed in {new_index}"


def _warn_relion_tiff(indexes: list, written: dict, args: argparse.Namespace) -> None:
    """Warn when coordinates of TIFF micrographs from a RELION index go to Topaz or CSV.

    RELION reads TIFF images flipped along the slow axis, so its coordinates
    of a TIFF micrograph count y from the file's last row, as crYOLO, EMAN2 and
    napari-boxmanager count them in BOX and CBOX files (scipion-em-sphire mirrors
    crYOLO's y of TIFF and JPEG micrographs, boxmanager shows TIFF images flipped):
    those formats keep it. Topaz, napari and cryopick count from the first row.
    ``filter`` reads no micrographs, so it cannot mirror them.
    """
    from napari_cryopick.io.formats.star import RELION_TIFF_Y

    names = sorted(
        {
            name
            for _index, read in indexes
            for name, file in read.tiff_micrographs()
            if file is not None
            and file.resolve() in written
            and _output_format(file, args.format) in ("topaz", "csv")
        }
    )
    if names:
        print(
            f"cryopick filter: warning: {len(names)} file(s) of TIFF micrographs from a "
            f"RELION index (e.g. {names[0]}): {RELION_TIFF_Y}; the --format {args.format} "
            "files keep RELION's y: mirror them (y -> height - 1 - y), or pick the "
            "micrographs again with 'cryopick pick' for those programs",
            file=sys.stderr,
        )


def _warn_flipped_tiff(
    flips: dict[Path, str], sources: dict, written: dict, args: argparse.Namespace
) -> None:
    """Warn when files whose picks count y from the image's last row (their manifest's
    :func:`~napari_cryopick.workflows.batch.y_flips`: ``cryopick pick --flip-tiff-y`` or a
    ticked TIFF export of TIFF micrographs, ``--flip-y`` of any; ``sources``: each file's
    micrograph) go to Topaz or CSV, which count y from the first row: ``filter`` reads no
    micrographs, so it cannot mirror them (as :func:`_warn_relion_tiff`)."""
    from napari_cryopick.workflows.batch import last_row_files

    names = sorted(
        path.name
        for path in last_row_files(flips, sources)
        if path in written and _output_format(path, args.format) in ("topaz", "csv")
    )
    if names:
        print(
            f"cryopick filter: warning: {len(names)} file(s) whose manifest says TIFF "
            f"micrographs' y was written from the last row (e.g. {names[0]}; --flip-y: "
            f"every micrograph's): the --format {args.format} files keep that y, which "
            "Topaz and napari count from the first row: mirror them (y -> height - 1 - y), "
            "or pick the micrographs again without --flip-tiff-y or --flip-y for those "
            "programs",
            file=sys.stderr,
        )


def _foreign_text(out: Path, found: list[Path]) -> str:
    from napari_cryopick.core.text import name_list

    names = name_list((os.path.relpath(path, out) for path in found), 3)
    return (
        f"{len(found)} file(s) would be replaced that no earlier cryopick filter into "
        f"{out} wrote, or that changed since ({names}): filter into another folder, "
        "move them away, or give --overwrite to replace them"
    )


def _refuse_to_replace(out: Path, targets: list[Path], recorded: dict) -> None:
    """Refuse (exit 2) when an output would replace a file of ``out`` that no earlier
    ``cryopick filter`` (or pick run) into it wrote as it is now: a trial's filter into a
    folder of hand picks replaced ``311_10028.csv`` without a word, which ``cryopick
    pick`` refuses."""
    from napari_cryopick.workflows.batch import foreign_files

    found = foreign_files(out, targets, recorded=recorded)
    if found:
        raise CLIError(_foreign_text(out, found))


def _write_unless_foreign(
    table,
    keep,
    path: Path,
    target: Path,
    format: str,
    listed_by,
    args,
    out: Path,
    recorded,
    said: _Said,
) -> tuple[int, list[Path]]:
    """:func:`_write` into a staging folder beside ``target``, then every file it wrote
    moved into place, unless one would replace a file no cryopick run wrote (a file per
    micrograph, a fibers' file: their names are known only once written); returns the
    picks written and the files."""
    import tempfile

    from napari_cryopick.io.paths import make_output_folder
    from napari_cryopick.workflows.batch import foreign_files

    make_output_folder(target.parent)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".cryopick-filter-") as staging:
        # the messages name the folder the files go to, and are said once they are there
        said.folder, said.notes = target.parent, []
        try:
            count = _write(
                table, keep, path, Path(staging) / target.name, format, listed_by, args, said
            )
            notes = said.notes
        except (ValueError, OSError) as error:
            # said with the folder the file was to go to, not the hidden staging one (a
            # re-trial's message named .cryopick-filter-xxxx)
            text = str(error).replace(str(Path(staging)), str(target.parent))
            raise ValueError(text) from None
        finally:
            said.folder, said.notes = None, None
        produced = sorted(p for p in Path(staging).iterdir() if p.is_file())
        files = [target.parent / p.name for p in produced]
        found = [] if args.overwrite else foreign_files(out, files, recorded=recorded)
        if found:
            raise ValueError(_foreign_text(out, found))
        for staged, final in zip(produced, files):
            os.replace(staged, final)
    for note in notes:
        print(note, file=sys.stderr)
    return count, files


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick filter``; returns the exit code.

    An ``--out`` folder the run made is removed again when nothing went into it (a
    trial's filter that failed on every file left an empty folder; as cryopick pick).
    """
    out = Path(os.path.abspath(args.out))
    made = [folder for folder in (out, *out.parents) if not folder.exists()]  # deepest first
    try:
        return _filter(args)
    finally:
        for folder in made:  # the folders made for --out, while empty (a re-trial's
            try:  # --out a/b left an empty a/)
                folder.rmdir()
            except OSError:
                break


def _filter(args: argparse.Namespace) -> int:
    """The work of :func:`run`."""
    import numpy as np

    from napari_cryopick.cli._errors import check_output_folder
    from napari_cryopick.core.text import name_list
    from napari_cryopick.io.formats import micrograph_stem
    from napari_cryopick.io.paths import pick_files
    from napari_cryopick.io.pickfiles import FORMATS
    from napari_cryopick.workflows.batch import (
        expand_run_folders,
        micrograph_files,
        record_filtered,
        recorded_outputs,
        y_flips,
    )

    _check(args)
    # a cryopick run's folder whose files lie in sub-folders is taken whole, as its manifest
    # records them (as cryosparc export and evaluate take it)
    inputs = args.inputs if args.recursive else expand_run_folders(args.inputs)
    found = pick_files(inputs, recursive=args.recursive, recursive_option="--recursive")
    # how far above its files a run's manifest may lie: the depth of the files below the
    # folders given (a run over an EPU tree: 5 folders; the manifest's records of their
    # micrographs and TIFF y were not found, a review)
    folders = [os.path.abspath(given) for given in args.inputs if Path(given).is_dir()]
    depth = max(
        [4]
        + [
            len(Path(os.path.abspath(path)).relative_to(folder).parts)
            for path, _ in found
            for folder in folders
            if Path(os.path.abspath(path)).is_relative_to(folder)
        ]
    )
    files, indexes, problems = _expand_indexes([path for path, _ in found])
    if not args.recursive:
        from napari_cryopick.io.paths import pick_folders_below

        # a folder with a RELION index (autopick.star) is read through it: the files it
        # lists below are taken (a re-trial read "not taken" of the two it then filtered)
        indexed = {os.path.abspath(index.parent) for index, _ in indexes}
        for folder, said in pick_folders_below(inputs):  # (a batch trial filtered 20
            # stale top-level files of a pick folder and not the 26 current ones below)
            if os.path.abspath(folder) in indexed:
                continue
            print(
                f"cryopick filter: note: {said}, not taken: folders are not searched "
                "below (give them, or --recursive)",
                file=sys.stderr,
            )
    parents = [os.path.abspath(path.parent) for path, _, _ in files]
    parents += [os.path.abspath(index.parent) for index, _ in indexes]
    if not parents:
        raise CLIError("; ".join(problems) or "no pick files to filter")
    common = Path(os.path.commonpath(parents))
    out = Path(os.path.abspath(args.out))
    if out in {Path(p) for p in parents}:
        raise CLIError(f"{args.out}: --out must not be a folder of the input files")

    def folder_of(path: Path) -> Path:
        return out / Path(os.path.abspath(path.parent)).relative_to(common)

    inputs = {path.resolve() for path, _, _ in files} | {index.resolve() for index, _ in indexes}
    targets: dict[Path, tuple[Path, str | None, Path | None]] = {}
    for path, name, listed_by in files:
        format = _output_format(path, args.format)
        # RELION's coordinate files are <micrograph>_autopick.star; other formats are
        # named like the micrograph (crYOLO, EMAN2, Topaz find them so)
        stem = micrograph_stem(name) if format != "star" and listed_by is not None else ""
        target = folder_of(path) / ((stem or path.stem) + FORMATS[format].SUFFIXES[0])
        if target in targets:
            raise CLIError(f"{targets[target][0]} and {path}: both would be written to {target}")
        targets[target] = (path, name, listed_by)
    new_indexes = [folder_of(index) / index.name for index, _ in indexes]
    for target in [*targets, *new_indexes]:
        if target.resolve() in inputs:
            raise CLIError(f"{args.out}: the output {target} would replace an input file")
    if len(set(new_indexes)) < len(new_indexes) or set(new_indexes) & set(targets):
        raise CLIError(f"{args.out}: two outputs would have the same name; filter them apart")
    recorded = recorded_outputs(out, include_filtered=True) if out.is_dir() else {}
    if not args.overwrite:  # all at once, before anything is written (files a micrograph
        # each, and fibers' files, are checked as they are written)
        _refuse_to_replace(out, [*targets, *new_indexes], recorded)
    # one line and exit 2 for an --out that cannot be written, not one error a file
    check_output_folder(args.out, "--out")
    made: list[Path] = []  # the files written
    said = _Said()
    for problem in problems:
        print(f"cryopick filter: failed {problem}", file=sys.stderr)
    kept = total = 0
    fibers_kept = fibers_total = 0  # fibers are counted as fibers too (a trial read rows)
    kinds: set[str] = set()  # the kinds the files hold: --kind of none of them says so
    lowest = np.inf  # the lowest score read: files written at a higher threshold say so
    errors = len(problems)
    written: dict[Path, Path] = {}  # input coordinate file -> its filtered file
    outputs: dict[Path, list[Path]] = {}  # input coordinate file -> every file it gave
    unscored: list[Path] = []  # files without scores (BOX): nothing to threshold
    at_run: dict[Path, tuple[float, float]] = {}  # a run's candidates: at its threshold
    if args.threshold is None:
        from ._batch import run_thresholds_of_candidates

        at_run = run_thresholds_of_candidates(
            [path for path, _name, _listed in targets.values()], [Path(i) for i in args.inputs]
        )
    below_run = 0  # candidates left out below their run's threshold (files written)
    held_run: dict[Path, tuple[float, float]] = {}  # those files
    for target, (path, name, listed_by) in targets.items():
        format = _output_format(path, args.format)
        try:
            table = _read(path, name, listed_by, args)
            file_args = args
            if path in at_run:
                file_args = argparse.Namespace(**{**vars(args), "threshold": at_run[path][1]})
            scores = table["score"].to_numpy(np.float64)
            if (
                args.threshold is not None
                and len(targets) > 1
                and len(scores)
                and not np.isfinite(scores).any()
            ):
                unscored.append(path)  # e.g. the BOX files beside a picker's STAR files
                continue
            keep = keep_mask(table, path, file_args)
            written_picks, files = _write_unless_foreign(
                table, keep, path, target, format, listed_by, args, out, recorded, said
            )
        except (ValueError, OSError) as error:
            text = str(error)  # the readers' messages start with the file already
            message = text if text.startswith(str(path)) else f"{path}: {text}"
            # a failure, said as one (it read "skipped", as if chosen; as cryopick pick)
            print(f"cryopick filter: failed {message}", file=sys.stderr)
            errors += 1
            continue
        if path in at_run:
            below = table[table["score"].to_numpy(np.float64) < at_run[path][1]]
            below_run += _fiber_count(below) + int((below["kind"].astype(str) != "fiber").sum())
            held_run[path] = at_run[path]
        written[path.resolve()] = target
        outputs[path.resolve()] = files
        made += files
        kept += written_picks
        total += len(table)
        fibers_total += _fiber_count(table)
        fibers_kept += _fiber_count(table[keep])
        kinds |= set(table["kind"].astype(str))
        if np.isfinite(scores).any():
            lowest = min(lowest, float(np.nanmin(scores)))
    _warn_relion_tiff(indexes, written, args)
    if unscored and not written and not errors:
        from napari_cryopick.core.pick_table import NO_SCORES

        raise CLIError(f"{name_list(unscored)}: {NO_SCORES}")
    count = len(targets) + len(problems) - len(unscored)
    done = count - errors
    failed = f" ({errors} failed)" if errors else ""
    fibers = f" ({fibers_kept} of {fibers_total} fibers)" if fibers_total else ""
    if done or not errors:
        print(
            f"kept {kept} of {total} picks{fibers} in {done} of {count} files{failed} -> {args.out}"
        )
    else:  # ("kept 0 of 0 picks in 0 of 1 files (1 failed) -> out", nothing written there)
        from napari_cryopick.core.text import counted

        print(f"filtered nothing: {counted(errors, 'files')} failed (said above)")
    if held_run:
        from ._batch import candidates_note

        print(candidates_note("cryopick filter", "kept", held_run, below_run), file=sys.stderr)
    if args.kind is not None and total and args.kind not in kinds:
        # a trial: "kept 0 of 4077 picks" and 5 empty files, the reason unsaid
        print(
            f"cryopick filter: note: the files hold no {args.kind} picks (kinds read: "
            f"{', '.join(sorted(kinds))}); BOX, CBOX and Topaz files store no kind: their "
            "picks read as particles",
            file=sys.stderr,
        )
    if args.threshold is not None and kept == total and total and lowest > args.threshold + 0.02:
        # a trial "lowered" a threshold the files were written above: nothing to add back
        print(
            f"cryopick filter: note: every pick scores {lowest:.3g} or more: the files were "
            f"written at a threshold above {args.threshold:g}, so a lower one adds nothing "
            "(pick with --keep-candidates FLOOR to threshold lower later)",
            file=sys.stderr,
        )
    if unscored:
        print(
            f"cryopick filter: not filtered, no scores to threshold: {len(unscored)} file(s) "
            f"({name_list(p.name for p in unscored)}; BOX files keep none)",
            file=sys.stderr,
        )
    for (index, entries), folder in zip(indexes, new_indexes):
        said = _write_index(index, entries, written, folder.parent, args)
        print(said)
        if "no new index written" not in said:
            made.append(folder)
    # a later filter into --out may replace them; nothing else is replaced unsaid
    # with each file's micrograph, as the inputs' manifests knew it (exports name it)
    # (every file of one: a fiber file beside the particles' is of the same micrograph)
    sources = micrograph_files(list(written), depth)
    # files whose TIFF y a pick run or an export wrote from the last row keep it, and
    # their record says so (a review: relion --coords mirrored a filtered copy again)
    flips = y_flips(list(written), depth)
    _warn_flipped_tiff(flips, sources, written, args)
    from ._batch import warn_mixed_settings

    warn_mixed_settings(list(written), "cryopick filter", per_format=True, depth=depth)
    of = {file: flips.get(path, "") for path, files in outputs.items() for file in files}
    micrographs = {
        file: sources[path] for path, files in outputs.items() if path in sources for file in files
    }
    for flip in ("", "tiff", "all"):
        record_filtered(
            out,
            [path for path in made if path.is_file() and of.get(path, "") == flip],
            micrographs,
            flip_tiff_y=flip == "tiff",
            flip_y=flip == "all",
        )
    if errors:
        return EXIT_BAD_INPUT if done == 0 else EXIT_FAILED
    return EXIT_OK
