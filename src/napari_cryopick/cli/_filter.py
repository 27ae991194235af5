"""``cryopick filter``: re-threshold or size-filter pick files, without the network.

Pick files written with ``cryopick pick --keep-candidates`` hold every
candidate above a low score floor with its score (as crYOLO's CBOX files do).
Thresholding them again equals picking again at the higher threshold (the
suppression of neighbours keeps higher scores first), so a threshold can be
chosen after the fact in seconds.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path, PurePosixPath

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CLIError
from napari_cryopick.workflows.pick import PICK_FORMATS as _FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``filter`` sub-command."""
    parser = subparsers.add_parser(
        "filter",
        help="re-threshold or size-filter pick files (no network)",
        description=(
            "Keep the picks of pick files (STAR, BOX, CBOX, Topaz, CSV, cryoSPARC particles "
            ".cs, written as STAR; folders are searched for them) that pass a score threshold and a diameter range, and write them to "
            "--out, keeping the files' folder layout. A RELION coordinate-file index "
            "(autopick.star) stands for the files it lists: each is filtered, and a new "
            "index lists the results, as Particle extraction reads them."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="PICKFILE_OR_FOLDER")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--threshold", type=float, default=None, help="keep picks scoring at least this"
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
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}")
    for name in ("min_diameter", "max_diameter"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if (
        args.min_diameter is not None
        and args.max_diameter is not None
        and args.min_diameter > args.max_diameter
    ):
        raise CLIError("--min-diameter is larger than --max-diameter")
    if all(
        getattr(args, name) is None
        for name in ("threshold", "min_diameter", "max_diameter", "kind")
    ):
        raise CLIError("give --threshold, --min-diameter, --max-diameter or --kind")


def filter_picks(table, path: Path, args: argparse.Namespace):
    """Rows of ``table`` passing the filters of ``args`` (messages name ``path``).

    The filter is core ``pick_table.filter_mask``, the one the Pick widget shows with.
    """
    from napari_cryopick.core.pick_table import filter_mask

    try:
        keep = filter_mask(
            table,
            threshold=args.threshold,
            min_diameter=args.min_diameter,
            max_diameter=args.max_diameter,
            kind=args.kind,
        )
    except ValueError as error:
        raise CLIError(f"{path}: {error}") from None
    return table[keep].reset_index(drop=True)


def _output_format(path: Path, chosen: str | None) -> str:
    """``--format``, else the input's own; read-only inputs (cryoSPARC ``.cs``) give STAR."""
    from napari_cryopick.io.pickfiles import FORMATS, detect_format

    format = chosen or detect_format(path)
    return format if format in FORMATS else "star"


def _expand_indexes(
    files: list[Path],
) -> tuple[list[tuple[Path, str | None, Path | None]], list[tuple[Path, list]]]:
    """``(file, micrograph name, index)`` to filter (name and index None: a file given
    directly), and the indexes met with their ``(name, file)`` entries.

    A RELION coordinate-file index (``autopick.star`` of a ``cryopick relion``
    or RELION Auto-picking job) stands for the coordinate files it lists: each
    is filtered into its own file, and a new index lists them, so the output
    is what RELION's Extract reads.
    """
    from napari_cryopick.io.formats.star import coordinate_index_entries

    expanded: list[tuple[Path, str | None, Path | None]] = []
    indexes: list[tuple[Path, list]] = []
    seen: set[Path] = set()
    for path in files:
        entries = None
        if path.suffix.lower() == ".star":
            try:
                entries = coordinate_index_entries(path)
            except ValueError:
                entries = None  # read as an ordinary file below, which reports the problem
        listed = (
            [(file, PurePosixPath(name).stem, path) for name, file in entries]
            if entries is not None
            else [(path, None, None)]
        )
        if entries is not None:
            indexes.append((path, entries))
        for file, name, index in listed:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                expanded.append((file, name, index))
    return expanded, indexes


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick filter``; returns the exit code."""
    from napari_cryopick.io.formats.star import index_project_dir, read_listed
    from napari_cryopick.io.paths import pick_files
    from napari_cryopick.io.pickfiles import FORMATS, read_picks, write_picks
    from napari_cryopick.io.relion import write_coordinate_files_star

    _check(args)
    files, indexes = _expand_indexes([path for path, _ in pick_files(args.inputs)])
    parents = [os.path.abspath(path.parent) for path, _, _ in files]
    parents += [os.path.abspath(index.parent) for index, _ in indexes]
    common = Path(os.path.commonpath(parents))
    out = Path(os.path.abspath(args.out))
    if out in {Path(p) for p in parents}:
        raise CLIError(f"{args.out}: --out must not be a folder of the input files")

    def target_of(path: Path, format: str) -> Path:
        relative = Path(os.path.abspath(path.parent)).relative_to(common)
        return out / relative / (path.stem + FORMATS[format].SUFFIXES[0])

    targets: dict[Path, tuple[Path, str | None, Path | None]] = {}
    written: dict[Path, Path] = {}  # input coordinate file -> its filtered file
    for path, name, listed_by in files:
        target = target_of(path, _output_format(path, args.format))
        if target in targets:
            raise CLIError(f"{targets[target][0]} and {path}: both would be written to {target}")
        targets[target] = (path, name, listed_by)
    for index, _ in indexes:
        target = out / Path(os.path.abspath(index.parent)).relative_to(common) / index.name
        if target in targets:
            raise CLIError(f"{index} and {targets[target][0]}: both would be written to {target}")
    kept = total = 0
    errors = 0
    for target, (path, name, listed_by) in targets.items():
        try:
            table = read_picks(path) if listed_by is None else read_listed(path, name, listed_by)
            passed = filter_picks(table, path, args)
        except (ValueError, OSError) as error:
            print(f"cryopick filter: skipped {error}", file=sys.stderr)
            errors += 1
            continue
        format = _output_format(path, args.format)
        options = {}
        if format == "star":
            # per-micrograph coordinate files name no micrograph (read_picks used the stem)
            names = set(table["micrograph"].astype(str))
            options["micrograph_names"] = listed_by is None and names != {path.stem}
        target.parent.mkdir(parents=True, exist_ok=True)
        write_picks(passed, target, format, **options)
        written[path.resolve()] = target
        kept += len(passed)
        total += len(table)
    done = len(targets) - errors
    print(f"kept {kept} of {total} picks in {done} of {len(targets)} files -> {args.out}")
    for index, entries in indexes:
        # the new index lists the filtered files, relative to the input's RELION project
        listed = [(n, written[f.resolve()]) for n, f in entries if f.resolve() in written]
        new_index = write_coordinate_files_star(
            out / Path(os.path.abspath(index.parent)).relative_to(common),
            listed,
            project_dir=index_project_dir(index) or Path.cwd(),
            name=index.name,
        )
        print(f"{index}: {len(listed)} of {len(entries)} coordinate files listed in {new_index}")
    if errors:
        return EXIT_BAD_INPUT if done == 0 else EXIT_FAILED
    return EXIT_OK
