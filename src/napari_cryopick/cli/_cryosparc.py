"""``cryopick cryosparc export``: picks as one STAR file that cryoSPARC imports.

cryoSPARC files as inputs need no command of their own: an exposures ``.cs``
is a micrograph list wherever micrographs are named (``cryopick pick``,
``cryopick train --micrographs``), and a particles ``.cs`` is a pick file
wherever pick files are read (``cryopick train --picks``, ``cryopick evaluate
--truth``). Going back to cryoSPARC needs one STAR file with the picks of
every micrograph (:func:`napari_cryopick.io.cryosparc.write_import_star`),
which this command writes from the per-micrograph files of ``cryopick pick``
(or any pick files).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from napari_cryopick.cli import EXIT_OK, CLIError
from napari_cryopick.core.text import name_list


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cryosparc`` sub-command and its ``export`` action."""
    parser = subparsers.add_parser(
        "cryosparc",
        help="write picks as one STAR file for cryoSPARC's Import Particle Stack",
        description=(
            "cryoSPARC .cs files are read where micrographs (exposures .cs) or pick files "
            "(particles .cs) are named; 'cryopick cryosparc export' writes picks back as one "
            "STAR file across micrographs (see docs/pipelines.md)."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="pick files or folders -> one STAR file (rlnMicrographName, rlnCoordinateX/Y)",
        description=(
            "Gather pick files (a 'cryopick pick' output folder: the files its manifest "
            "records, sub-folders included; or pick files and folders of them) into one STAR "
            "file with a row per particle, for cryoSPARC's Import Particle Stack (particle "
            "meta path; not tried against a running cryoSPARC), linked to the exposures. "
            "Coordinates keep RELION's convention "
            "(y = row of the micrograph file), which is what cryoSPARC imports from STAR files."
        ),
    )
    export.add_argument("inputs", nargs="+", metavar="PICKFILE_OR_FOLDER")
    export.add_argument(
        "--out", type=Path, required=True, metavar="FILE.star", help="STAR file to write"
    )
    export.add_argument(
        "--exposures",
        type=Path,
        default=None,
        metavar="EXPOSURES.cs",
        help="exposures the picks belong to: rlnMicrographName is then each exposure's file "
        "name as cryoSPARC knows it (UID prefix included), and picks of micrographs it lacks "
        "are an error (default: the micrograph file a cryopick pick or relion run's manifest "
        "records, else <micrograph name>.mrc)",
    )
    export.add_argument(
        "--threshold",
        metavar="T",
        type=float,
        default=None,
        help="keep picks scoring at least this (files written with --keep-candidates; "
        "default: the threshold their run picked at)",
    )
    export.add_argument(
        "--flip-y",
        action="store_true",
        help="write y' = H - 1 - y (H: each micrograph's height from --exposures) for "
        "micrographs whose rows cryoSPARC holds in the other order",
    )
    export.add_argument(
        "--picks-binning",
        type=float,
        default=None,
        metavar="B",
        help="the pick files' coordinates are those of copies of the exposures binned B "
        "times (e.g. 2): converted to the exposures' pixels as cryopick train "
        "--picks-binning reads them (Topaz files by Topaz's rule); given, even as 1, it also "
        "says the picks' spread is meant (no binned-copies check; picks off an exposure are "
        "still refused)",
    )
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out that no earlier cryopick cryosparc export wrote "
        "(refused without it)",
    )
    export.set_defaults(func=run_export)
    parser.set_defaults(func=_no_action(parser))


def _no_action(parser: argparse.ArgumentParser):
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        raise CLIError("choose an action: export")

    return run


def export_pick_files(items: list[Path]) -> tuple[list[Path], dict[str, str]]:
    """Pick files of ``items``: files as given; folders through their manifest, else searched.

    A folder written by ``cryopick pick`` (or ``cryopick relion``) lists its
    outputs in its manifest (sub-folders mirrored, summary files left out);
    other folders are searched one level deep for pick files. Also returns
    the micrographs the manifests name, ``{stem: file name}``: a RELION job's
    ``mic_autopick.star`` holds the picks of ``mic.jpg``, which cryoSPARC
    must be told (a trial: ``mic_autopick.mrc`` was written).
    """
    from napari_cryopick.io.paths import pick_file_suffixes, pick_files
    from napari_cryopick.workflows.batch import (
        input_gone,
        micrograph_files,
        read_manifests,
        run_folder_pick_files,
    )

    suffixes = pick_file_suffixes()
    files: list[Path] = []
    micrographs: dict[str, str] = {}
    for item in items:  # (quoted wildcards: expanded by run_export)
        item = Path(item)
        records = read_manifests(item) if item.is_dir() else {}
        gone: list[str] = []  # micrographs no longer where they were picked
        if records:
            for record in sorted(records.values(), key=lambda r: r["input"]):
                if record.get("status") != "done":
                    continue
                outputs = [
                    n for n in record.get("outputs", []) if Path(n).suffix.lower() in suffixes
                ]
                source = Path(str(record["input"]))
                written = [item / name for name in outputs]
                if input_gone(record):
                    # its pick files removed by the user (as the note below advises): done
                    written = [path for path in written if path.exists()]
                    gone.extend([source.name] if written else [])
                files.extend(written)
                if written:
                    micrographs[source.stem] = source.name
            _note_other_formats(item, files)
        else:
            # a filter's folder of sub-folders: the files it recorded (a CLI trial's export of
            # a filtered EPU tree read "folders are not searched below")
            below = run_folder_pick_files(item) if item.is_dir() else None
            found = below or [path for path, _ in pick_files([item])]
            files.extend(found)
            # files named one by one (or by a wildcard) of a pick run's folder: its
            # manifest knows their micrographs' files (a re-trial's "O4/*.star" of TIFF
            # micrographs was exported as t_0002.mrc, the folder itself as t_0002.tif)
            # (and a cryopick filter's folder, since 2026-12-05: a trial's filtered picks of
            # PNG micrographs were exported as <name>.mrc)
            micrographs.update(
                {source.stem: source.name for source in micrograph_files(found).values()}
            )
        for name, stem in _indexed_micrographs(item).items():
            micrographs.setdefault(stem, name)
        if gone:
            # a trial renamed a micrograph and picked it again: both names' picks were
            # exported, the same particles twice, without a word
            print(
                f"cryopick cryosparc export: note: {len(gone)} micrograph(s) picked into {item} "
                f"are no longer where they were picked ({name_list(gone)}): their picks are "
                "exported too; if they were renamed and picked again, remove their old pick "
                "files",
                file=sys.stderr,
            )
    return files, micrographs


def _note_other_formats(folder: Path, chosen: list[Path]) -> None:
    """Say which files of ``folder`` an export takes when earlier runs wrote the same
    micrographs' picks there in other formats too (a trial's folder of STAR, BOX, CBOX,
    Topaz and CSV runs was exported from its newest run's CSV files, unsaid)."""
    from napari_cryopick.io.paths import pick_file_suffixes
    from napari_cryopick.workflows.batch import written_suffixes

    taken = {
        path.suffix.lower() for path in chosen if path.parent == folder or folder in path.parents
    }
    others = (written_suffixes(folder) & set(pick_file_suffixes())) - taken
    if taken and others:
        print(
            f"cryopick cryosparc export: note: {folder} holds each micrograph's picks of its "
            f"newest run, the {', '.join(sorted(taken))} files, exported; earlier runs left "
            f"{', '.join(sorted(others))} files of them there too (to export those, name "
            f"them: {folder}/*{sorted(others)[0]})",
            file=sys.stderr,
        )


def _indexed_micrographs(item: Path) -> dict[str, str]:
    """``{micrograph file name: its stem}`` of the RELION coordinate index ``item`` (a
    STAR file, or a folder's ``autopick.star``) lists: a RELION job's index, or a filtered
    one, names each micrograph's file (a pipeline trial's filtered job of PNG micrographs
    was exported as ``<name>.mrc``, "no file known"). Empty for anything else."""
    from napari_cryopick.io.formats.star import coordinate_index_of

    _path, index = coordinate_index_of(item)
    if index is None:
        return {}
    return {PurePosixPath(n).name: PurePosixPath(n).stem for n, _file, _why in index.entries if n}


def _at_run_thresholds(read: list[tuple[Path, Any]], items: list[Path]) -> list[tuple[Path, Any]]:
    """Without ``--threshold``, the picks of files that hold a run's candidates
    (``--keep-candidates``: every pick down to a floor) at the threshold that run picked
    at, said: a trial exported 1,641 candidates down to 0.05 for 1,200 picks (a note only,
    until 2026-12-06). Picks without a score (added by hand) are kept; files an export
    or a filter replaced since are the user's, kept whole (``batch.candidate_thresholds``)."""
    from ._batch import candidates_note, run_thresholds_of_candidates

    held = run_thresholds_of_candidates([path for path, _table in read], items)
    if not held:
        return read
    out, left = [], 0
    for path, table in read:
        if path in held and len(table):
            below = table["score"].to_numpy(float) < held[path][1]  # NaN (by hand): kept
            left += int(below.sum())
            table = table[~below].reset_index(drop=True)
        out.append((path, table))
    print(candidates_note("cryopick cryosparc export", "exported", held, left), file=sys.stderr)
    return out


def _warn_relion_tiff(items: list[Path]) -> None:
    """Say when a RELION job's picks of TIFF micrographs are exported: they keep RELION's
    y (a convention review: a RELION job's and a ``cryopick pick`` folder's exports of one
    TIFF micrograph put its particles at mirror positions, unsaid)."""
    from napari_cryopick.io.formats.star import RELION_TIFF_Y, relion_tiff_indexes

    for index, example in relion_tiff_indexes(items):
        print(
            f"cryopick cryosparc export: warning: {index} is a RELION index of TIFF "
            f"micrographs (e.g. {example}): {RELION_TIFF_Y}; their picks are exported "
            "with RELION's y, mirrored against a cryopick pick folder's: export one of "
            "those for them, or give --exposures with --flip-y for a job of TIFF "
            "micrographs only",
            file=sys.stderr,
        )


def _warn_flipped_tiff(files: list[Path]) -> None:
    """Say when files of TIFF micrographs whose manifest says their y was written from
    the last row (``cryopick pick --flip-tiff-y``, an export with the TIFF box ticked)
    are exported: they keep that y, mirrored against a plain ``cryopick pick`` folder's
    (a review: exported so, unsaid, where a RELION index of TIFFs is warned of)."""
    from napari_cryopick.workflows.batch import last_row_files, micrograph_files, y_flips

    flips = y_flips(files)
    sources = micrograph_files(sorted(flips)) if flips else {}
    names = sorted(path.name for path in last_row_files(flips, sources))
    if names:
        print(
            f"cryopick cryosparc export: warning: {len(names)} file(s) (e.g. {names[0]}) "
            "were written with y from the image's last row (their manifest says so: "
            "--flip-tiff-y for TIFF micrographs, --flip-y for every one, or an export with "
            "the TIFF box ticked): their picks are exported with that y, mirrored against a "
            "cryopick pick folder's: export a folder picked without those options",
            file=sys.stderr,
        )


def _exposure_names(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """``{micrograph name: file name}`` and ``{micrograph name: (rows, columns)}`` of an
    exposures .cs.

    Names are the files' stems, and the stems without cryoSPARC's UID prefix
    where that is unambiguous (micrographs picked from copies without it).
    """
    from napari_cryopick.io.cryosparc import micrograph_name, read_exposures

    files: dict[str, str] = {}
    shapes: dict[str, tuple[int, int]] = {}
    stripped: dict[str, list[str]] = {}
    for exposure in read_exposures(path):
        stem = micrograph_name(str(exposure.path), strip_uid=False)
        files[stem] = exposure.path.name
        if exposure.shape is not None:  # cryoSPARC's shape is [ny, nx]
            shapes[stem] = (int(exposure.shape[0]), int(exposure.shape[1]))
        stripped.setdefault(micrograph_name(str(exposure.path)), []).append(stem)
    for short, stems in stripped.items():
        if short not in files and len(stems) == 1:
            files[short] = files[stems[0]]
            if stems[0] in shapes:
                shapes[short] = shapes[stems[0]]
    return files, shapes


def _check_on_exposures(
    picks: Any, shapes: dict[str, tuple[int, int]], source: Path, *, scaled: bool = False
) -> None:
    """Refuse picks that lie off their exposure (by more than half their diameter, at
    least a pixel): picked on micrographs of another binning or size, cryoSPARC would
    extract them in the wrong places (left alone in session 24: not checked). Picks that
    all lie in the exposures' top-left corner (binned copies) are refused too, unless
    ``scaled`` (``--picks-binning`` given: the user said what the coordinates are)."""
    import numpy as np

    off = {}
    for name, group in picks.groupby(picks["micrograph"].astype(str), sort=True):
        if name not in shapes:
            continue
        rows, columns = shapes[name]
        slack = np.maximum(np.nan_to_num(group["diameter"].to_numpy(float)) / 2, 1.0)
        x, y = group["x"].to_numpy(float), group["y"].to_numpy(float)
        outside = (x < -slack) | (y < -slack) | (x > columns - 1 + slack) | (y > rows - 1 + slack)
        if outside.any():
            off[name] = (
                int(outside.sum()),
                len(group),
                float(x.max()),
                float(y.max()),
                columns,
                rows,
            )
    from napari_cryopick.workflows.inputs import clicks_in_a_corner

    crowded = clicks_in_a_corner(picks.assign(micrograph=picks["micrograph"].astype(str)), shapes)
    if not off and not scaled and crowded is not None and crowded > 0:
        # the other direction (a re-trial): picks of 2x-binned copies lie in the exposures'
        # top-left quarter, inside their shape
        raise CLIError(
            f"{source}: all {len(picks)} picks lie in the top-left {100 * crowded:.0f} % of "
            "their exposures: picked on binned copies of them? (cryoSPARC would extract them "
            "in the wrong places.) Give --picks-binning B for copies binned B times (e.g. 2), "
            "or --picks-binning 1 if the picks are the exposures' own"
        )
    if off:
        name, (n, total, x_max, y_max, columns, rows) = next(iter(off.items()))
        said = " after --picks-binning" if scaled else ""
        raise CLIError(
            f"{source}: the picks of {len(off)} micrograph(s) lie off their exposures{said}, "
            f"e.g. {n} of {total} of {name} (x up to {x_max:.0f}, y up to {y_max:.0f} on "
            f"{columns} x {rows} px): picked on micrographs of another binning or size? "
            "(cryoSPARC would extract them in the wrong places)"
        )


def _refuse_to_replace(out: Path) -> None:
    """Refuse (exit 2) an existing ``out`` that no earlier export wrote (a trial's export
    replaced a STAR file of the user's without a word; ``cryopick train --out`` refuses
    the like), or that was edited since an export wrote it."""
    from napari_cryopick.io.cryosparc import export_unchanged

    if not out.is_file():
        return
    try:
        unchanged = export_unchanged(out)
    except OSError:
        return  # the write says what is wrong
    if unchanged is None:
        raise CLIError(
            f"{out}: exists and no earlier cryopick cryosparc export wrote it: give a new "
            "file, or --overwrite to replace it"
        )
    if not unchanged:
        raise CLIError(
            f"{out}: an earlier cryopick cryosparc export wrote it and it was edited since: "
            "give a new file, or --overwrite to replace it"
        )


def run_export(args: argparse.Namespace) -> int:
    """Run ``cryopick cryosparc export``; returns the exit code."""
    from napari_cryopick.cli._errors import check_not_among_inputs, check_output_file
    from napari_cryopick.io.cryosparc import write_import_star
    from napari_cryopick.io.pickfiles import joined_picks, match_files, match_name, read_picks

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}")
    binning = args.picks_binning
    if binning is not None and not (math.isfinite(binning) and binning >= 1):
        raise CLIError(f"--picks-binning must be at least 1, got {binning:g}")
    if args.flip_y and args.exposures is None:
        raise CLIError("--flip-y needs --exposures (the micrographs' heights)")
    if args.out.suffix.lower() != ".star":
        raise CLIError(f"{args.out}: --out must be a .star file")
    check_output_file(args.out, "--out")
    from napari_cryopick.io.paths import _expand_patterns

    # quoted wildcards, as pick, train and filter take them (a trial: "picks/*.star"
    # given quoted was "no such file")
    args.inputs = [str(item) for item in _expand_patterns(args.inputs)]
    for item in args.inputs:
        if not Path(item).exists():
            raise CLIError(f"{item}: no such pick file or folder")
    files, picked = export_pick_files([Path(item) for item in args.inputs])
    if not files:
        raise CLIError(f"no pick files in {', '.join(map(str, args.inputs))}")
    out = Path(args.out).resolve()
    if any(Path(f).resolve() == out for f in files):
        # a re-trial's --out named a pick file of the folder exported: it was replaced by
        # the gathered STAR file of every micrograph, and the next export refused the folder
        raise CLIError(f"{args.out}: --out names one of the pick files exported; give a new file")
    check_not_among_inputs(args.out, "--out", [Path(item) for item in args.inputs])
    if not args.overwrite:
        _refuse_to_replace(Path(args.out))
    _warn_relion_tiff([Path(item) for item in args.inputs])
    _warn_flipped_tiff([Path(f) for f in files])
    from ._batch import warn_mixed_settings

    warn_mixed_settings([Path(f) for f in files], "cryopick cryosparc export")
    names, shapes = (picked or None, {})
    # one micrograph name, one file: never merged; a per-micrograph file takes the
    # micrograph's name by cryopick train's rule (mic_autopick.star -> mic, the
    # micrograph a run's manifest names)
    read = [(Path(f), read_picks(f, binning=binning or 1.0)) for f in files]
    if args.threshold is None:
        read = _at_run_thresholds(read, [Path(item) for item in args.inputs])
    picks = joined_picks(match_files(read, set(picked) if picked else None))
    # RELION's own coordinate files (AutoPick/jobNNN/Movies/mic_autopick.star, a RELION 3.0
    # job without an index) name their micrograph with the suffix: mic, not mic_autopick
    # (a re-trial's export named mic_autopick.mrc, which no exposure is)
    from napari_cryopick.io.relion import COORDINATE_SUFFIXES

    suffixed = {
        name: name[: -len(suffix)]
        for name in set(picks["micrograph"].astype(str))
        for suffix in COORDINATE_SUFFIXES
        if name.endswith(suffix) and len(name) > len(suffix) and name not in (picked or {})
    }
    if suffixed:
        picks = picks.assign(micrograph=picks["micrograph"].astype(str).replace(suffixed))
    if args.exposures is not None:
        names, shapes = _exposure_names(args.exposures)
        # then to the exposures' names by the same rule (mic -> <uid>_mic_patch_aligned_
        # doseweighted): a RELION job's mic_autopick.star matched no Patch Motion exposure
        known = set(names)
        renamed = {
            name: match_name(name, known) or name
            for name in set(picks["micrograph"].astype(str))
            if name not in known
        }
        if renamed:
            picks = picks.assign(micrograph=picks["micrograph"].astype(str).replace(renamed))
    if args.threshold is not None and len(picks):
        boxes = [f.name for f in files if f.suffix.lower() == ".box"]
        if boxes:  # a format without scores cannot be thresholded
            raise CLIError(
                f"--threshold {args.threshold:g}: BOX files hold no scores "
                f"({name_list(boxes, 5)}): give scored files or leave out --threshold"
            )
        scored = picks["score"].notna().groupby(picks["micrograph"].astype(str)).any()
        if not scored.all():  # picks without a score (added by hand) are kept: said
            unscored = list(scored.index[~scored])
            print(
                f"cryopick cryosparc export: the picks of {len(unscored)} micrograph(s) have no "
                f"scores ({name_list(unscored, 5)}): kept whole by --threshold",
                file=sys.stderr,
            )
        scores = picks["score"].to_numpy(float)
        # picks added by hand (no score) are kept
        picks = picks[~(scores < args.threshold)].reset_index(drop=True)
    if args.exposures is not None:
        unknown = sorted(set(picks["micrograph"].astype(str)) - set(names))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise CLIError(
                f"{args.exposures}: lists no exposure for the picks of {len(unknown)} "
                f"micrograph(s): {shown}"
            )
        _check_on_exposures(picks, shapes, args.exposures, scaled=binning is not None)
    heights = {name: shape[0] for name, shape in shapes.items()} if shapes else None
    if args.flip_y:
        # an interop trial's exposures without shapes: "export.star: flip_y needs the
        # height of micrograph ...", naming the output, not the file that lacks them
        lacking = sorted(set(picks["micrograph"].astype(str)) - set(heights or {}))
        if lacking:
            raise CLIError(
                f"{args.exposures}: --flip-y needs each exposure's height "
                f"(micrograph_blob/shape), which it does not hold for {len(lacking)} "
                f"micrograph(s) with picks: {name_list(lacking, 5)}"
            )
    micrographs = sorted(set(picks["micrograph"].astype(str)))
    spaced = [m for m in micrographs if any(c.isspace() for c in (names or {}).get(m, m))]
    if spaced:
        # a pipeline trial: cryosparc-tools' reader split the quoted name in two and refused
        # the file this command wrote, after a warning and exit 0
        raise CLIError(
            f"the names of {len(spaced)} micrograph(s) hold spaces ({name_list(spaced, 3)}): "
            "cryoSPARC's STAR reader (cryosparc-tools) splits rows at every space, quoted or "
            "not, and would refuse the file; rename the micrographs (or link them under "
            "names without spaces), pick them again and export that folder"
        )
    write_import_star(picks, args.out, micrograph_files=names, heights=heights, flip_y=args.flip_y)
    guessed = sorted(set(picks["micrograph"].astype(str)) - set(names or ()))
    if guessed:  # (a trial: PNG micrographs written as .mrc without a word)
        print(
            f"cryopick cryosparc export: no file is known for {len(guessed)} micrograph(s) "
            f"({name_list(guessed, 3)}: no cryopick pick manifest beside their pick files, "
            "no --exposures), so rlnMicrographName is <name>.mrc; cryoSPARC links picks "
            "to exposures by that name: give --exposures J.cs if it is not the file's",
            file=sys.stderr,
        )
    n_micrographs = picks["micrograph"].nunique() if len(picks) else 0
    flip = ", y flipped" if args.flip_y else ""
    if binning not in (None, 1.0):
        flip += f", from {binning:g}x-binned coordinates"
    print(
        f"wrote {len(picks)} picks of {n_micrographs} micrograph{'' if n_micrographs == 1 else 's'} "
        f"from {len(files)} pick "
        f"file(s) -> {os.fspath(args.out)}{flip}"
    )
    return EXIT_OK
