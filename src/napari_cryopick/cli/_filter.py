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
from pathlib import Path

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
            "--out, keeping the files' folder layout."
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


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick filter``; returns the exit code."""
    from napari_cryopick.io.paths import pick_files
    from napari_cryopick.io.pickfiles import FORMATS, read_picks, write_picks

    _check(args)
    files = [path for path, _ in pick_files(args.inputs)]
    parents = [os.path.abspath(path.parent) for path in files]
    common = Path(os.path.commonpath(parents))
    out = Path(os.path.abspath(args.out))
    if out in {Path(p) for p in parents}:
        raise CLIError(f"{args.out}: --out must not be a folder of the input files")
    targets: dict[Path, Path] = {}
    for path in files:
        format = _output_format(path, args.format)
        relative = Path(os.path.abspath(path.parent)).relative_to(common)
        target = out / relative / (path.stem + FORMATS[format].SUFFIXES[0])
        if target in targets:
            raise CLIError(f"{targets[target]} and {path}: both would be written to {target}")
        targets[target] = path
    kept = total = 0
    errors = 0
    for target, path in targets.items():
        try:
            table = read_picks(path)
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
            options["micrograph_names"] = names != {path.stem}
        target.parent.mkdir(parents=True, exist_ok=True)
        write_picks(passed, target, format, **options)
        kept += len(passed)
        total += len(table)
    done = len(targets) - errors
    print(f"kept {kept} of {total} picks in {done} of {len(targets)} files -> {args.out}")
    if errors:
        return EXIT_BAD_INPUT if done == 0 else EXIT_FAILED
    return EXIT_OK
