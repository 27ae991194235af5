"""``cryopick pick``: argparse -> :class:`~napari_cryopick.workflows.pick.PickRequest` -> progress bar."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from napari_cryopick.cli import CLIError, box_size
from napari_cryopick.cli._defaults import dataclass_defaults
from napari_cryopick.workflows.pick import PICK_FORMATS, SCALE_SEARCH_MICROGRAPHS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pick`` sub-command (imports no torch: ``--help`` stays fast)."""
    defaults = dataclass_defaults("napari_cryopick.core.detect", "PickConfig")
    parser = subparsers.add_parser(
        "pick",
        help="pick particles in micrographs with a trained model",
        description=(
            "Pick micrographs (MRC, TIFF, PNG, JPG; folders are searched for them; a "
            "cryoSPARC exposures .cs or a RELION micrographs .star stands for the "
            "micrographs it lists) "
            "and write one pick file per micrograph. Micrographs from several folders "
            "are written into the same folders below --out (a/m1.mrc -> OUT/a/m1.star); "
            "two inputs that would write the same file are refused."
        ),
    )
    parser.add_argument("inputs", nargs="*", metavar="MICROGRAPH_OR_FOLDER")
    parser.add_argument(
        "--recursive",
        action="store_true",
        help="search the given folders' sub-folders too, at any depth (hidden ones left "
        "out); the outputs mirror them below --out (FOLDER/a/b/m.mrc -> OUT/a/b/m.star), as "
        "--monitor does, so --skip, --shard and the summary work as for one folder",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint (.pt) from 'cryopick train' (default: the bundled general model)",
    )
    parser.add_argument("--head", default=None, help="detector head (default: the model's)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--diameter",
        type=float,
        default=None,
        metavar="PX",
        help="particle diameter in pixels (default: the one stored in the model for the head)",
    )
    size.add_argument(
        "--diameter-A",
        dest="diameter_A",
        type=float,
        default=None,
        metavar="A",
        help="particle diameter in Angstrom (needs the pixel size: the MRC header, a "
        "micrograph list, or --pixel-size)",
    )
    parser.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        metavar="A",
        help="Å per pixel of every micrograph, for --diameter-A (beats the MRC header and "
        "micrograph lists; PNG, JPEG and TIFF carry none)",
    )
    parser.add_argument(
        "--threshold",
        metavar="T",
        type=float,
        default=None,
        help="score threshold in [0, 1] (default: the one 'cryopick train' calibrated on "
        f"the model's clicks, never above {defaults['threshold']}; else {defaults['threshold']})",
    )
    add_scale_and_view_options(parser)
    parser.add_argument(
        "--min-distance",
        metavar="F",
        type=float,
        default=defaults["min_distance"],
        help=f"minimum distance between picks, fraction of the diameter "
        f"(default {defaults['min_distance']})",
    )
    parser.add_argument(
        "--max-picks",
        type=int,
        default=None,
        metavar="N",
        help="at most N picks (candidates) per kind and micrograph (default: 2 x area / "
        "diameter², about 1.7 times the particles that fit on the micrograph, at least 2000)",
    )
    parser.add_argument(
        "--reject-std",
        action="store_true",
        help="reject picks whose local standard deviation is an outlier (carbon, ice)",
    )
    parser.add_argument(
        "--format",
        choices=PICK_FORMATS,
        default="star",
        help="pick file format (default: star; fibers: star = RELION helical, cbox = crYOLO "
        "filaments, csv)",
    )
    parser.add_argument(
        "--box-size",
        type=box_size,
        default=None,
        metavar="PX",
        help="box edge of box and cbox files in whole pixels, particles and fibers alike (centres stay; "
        "default: one whole-pixel box per file for particles, the median of their "
        "diameters rounded (CBOX keeps each one's own in _EstWidth); each vesicle's own "
        "size; twice the width of a fiber)",
    )
    parser.add_argument(
        "--keep-candidates",
        type=float,
        default=None,
        metavar="FLOOR",
        help="write every candidate scoring at least FLOOR (with its score), not only those "
        "above --threshold, so files can be re-thresholded later without the network",
    )
    shapes = parser.add_argument_group(
        "vesicles and fibers",
        "--kind vesicle writes each vesicle's own diameter (STAR cryopickDiameter, CBOX "
        "_EstWidth, CSV diameter); --kind fiber traces detected points into paths (EPicker) "
        "and writes RELION helical STAR or crYOLO filament CBOX files. A model with fibers "
        "and other kinds writes the fibers to <name>_fibers.<ext>.",
    )
    shapes.add_argument(
        "--kind",
        choices=("particle", "vesicle", "fiber"),
        default=None,
        help="object kind to pick (default: every kind of the model)",
    )
    shapes.add_argument(
        "--link-radius",
        type=float,
        default=None,
        metavar="PX",
        help="fibers: neighbourhood radius of linking (default 100 px per 1024 px of width)",
    )
    shapes.add_argument(
        "--max-angle",
        type=float,
        default=30.0,
        metavar="DEG",
        help="fibers: largest bend between consecutive links (default 30)",
    )
    shapes.add_argument(
        "--box-distance",
        type=float,
        default=None,
        metavar="PX",
        help="fibers: inter-box distance of written segments (default half the fiber width)",
    )
    shapes.add_argument(
        "--helical-layout",
        choices=("start_end", "segments"),
        default="start_end",
        help="fibers, star: start and end of each straight piece (RELION manual picking, "
        "default) or segments every --box-distance with tube ids and angle priors",
    )
    parser.add_argument(
        "--out",
        metavar="FOLDER",
        type=Path,
        default=Path("picks"),
        help="output folder (default ./picks)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (default: a GPU when there is one), cpu, cuda, cuda:1, ...",
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=int,
        default=0,
        help="CPU threads for torch in this process (default 0: torch's choice, or on a "
        "machine busy with other jobs the cores they leave, said in a note; as cryopick "
        "train --threads); not the --dask workers' (local:N workers are single-threaded)",
    )
    parser.add_argument(
        "--tile-size",
        metavar="PX",
        type=int,
        default=defaults["tile_size"],
        help=f"tile side in rescaled pixels (default {defaults['tile_size']}; at least "
        f"{2 * defaults['overlap']}, twice the pixels neighbouring tiles share)",
    )
    parser.add_argument(
        "--flip-y", action="store_true", help="write y from the bottom (origin bottom-left)"
    )
    parser.add_argument(
        "--flip-tiff-y",
        action="store_true",
        help="write y of TIFF micrographs from the bottom, as RELION (STAR) and crYOLO, "
        "EMAN2 and napari-boxmanager (BOX, CBOX) read TIFF images; MRC micrographs of the "
        "run as they are (--format star, box or cbox only)",
    )
    from napari_cryopick.cli._batch import add_batch_arguments

    add_batch_arguments(parser)  # --skip, --shard, --dask, --monitor
    parser.set_defaults(func=run)


def add_scale_and_view_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The options of how micrographs are seen, shared by ``pick`` and ``relion``.

    ``--scale-search``, ``--invert-contrast``, ``--diameter-factor``,
    ``--rotations`` and ``--border``; :func:`view_request_fields` reads them.
    """
    defaults = dataclass_defaults("napari_cryopick.core.detect", "PickConfig")
    parser.add_argument(
        "--scale-search",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="zero-shot (the bundled or a general model, its generic head): pick "
        f"{SCALE_SEARCH_MICROGRAPHS} micrographs spread over the run at 0.8-1.25 times the diameter and use the "
        "factor the model is most confident at; warns when the diameter looks off (default: "
        "on, but for cryopick pick --monitor; a trained model never searches)",
    )
    parser.add_argument(
        "--invert-contrast",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pick on the inverted micrographs (particles lighter than the background, e.g. "
        "negative stain). Default: zero-shot picking (the bundled or a general model) inverts "
        f"when the model is clearly more confident so, on {SCALE_SEARCH_MICROGRAPHS} "
        "micrographs spread over the run; a trained model picks them as they are",
    )
    parser.add_argument(
        "--diameter-factor",
        type=float,
        default=None,
        metavar="F",
        help="rescale micrographs as if the diameter were F times the given one (the "
        "diameters written stay the given ones); instead of the zero-shot scale search",
    )
    parser.add_argument(
        "--rotations",
        action=argparse.BooleanOptionalAction,
        default=defaults["rotations"],
        help="average predictions over the four 90-degree rotations: about 2.5x the "
        "picking time on a CPU, higher AP (default: on; --no-rotations for large CPU jobs)",
    )
    parser.add_argument(
        "--border",
        type=float,
        default=None,
        metavar="FRACTION",
        help="reject picks closer than this fraction of the diameter to the micrograph's "
        f"edge; 0 keeps all (default: the margin 'cryopick train' learned from the model's "
        f"clicks, {defaults['border']} unless you clicked particles closer to the edge)",
    )


def view_request_fields(args: argparse.Namespace) -> dict:
    """The :class:`PickRequest` fields of :func:`add_scale_and_view_options`' options.

    Returns ``{"options": {...}, "diameter_factor": ..., "scale_search": ...,
    "invert_contrast": ...}``; refuses contradicting or out-of-range values.
    """
    if args.scale_search is True and args.diameter_factor is not None:
        raise CLIError(
            "--scale-search and --diameter-factor exclude each other: the search chooses "
            "the factor, --diameter-factor gives it"
        )
    if args.border is not None and not args.border >= 0:
        raise CLIError(f"--border must be >= 0 (a fraction of the diameter), got {args.border:g}")
    options = {"rotations": args.rotations}
    if args.border is not None:
        options["border"] = args.border
    return {
        "options": options,
        "diameter_factor": args.diameter_factor,
        "scale_search": args.scale_search is not False,
        "invert_contrast": args.invert_contrast,
    }


#: Micrograph files that carry no pixel size.
_NO_PIXEL_SIZE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _check_pixel_size_known(args: argparse.Namespace, micrographs: list[Path]) -> None:
    """--diameter-A on micrographs none of which can say their pixel size: refused at once.

    Each was skipped with the same line before (a trial: five lines, then "0 of
    5"; a folder of thousands of JPEGs would print thousands). MRC files whose
    headers hold no pixel size (0, or the placeholder 1.0) too: a trial's was told
    the zero-shot search could use none, then failed.
    """
    if args.diameter_A is None or args.diameter is not None or args.pixel_size is not None:
        return
    if not micrographs:
        return
    from napari_cryopick.core.text import name_list
    from napari_cryopick.io.micrographs import header_pixel_size
    from napari_cryopick.io.paths import micrograph_pixel_sizes

    if micrograph_pixel_sizes(args.inputs or []):  # a micrograph list states one
        return
    mrc = [p for p in micrographs if p.suffix.lower() not in _NO_PIXEL_SIZE_SUFFIXES]
    if len(mrc) < len(micrographs) and mrc:
        # some never can (a CLI trial's folder of PNGs and one MRC: the search ran on the
        # MRC, then every other micrograph failed on its own, each said twice)
        other = [p for p in micrographs if p.suffix.lower() in _NO_PIXEL_SIZE_SUFFIXES]
        named = name_list([str(p) for p in other], 3)
        raise CLIError(
            f"--diameter-A {args.diameter_A:g}: {len(other)} of these micrographs "
            f"{'is a' if len(other) == 1 else 'are'} PNG, JPEG or TIFF "
            f"file{'' if len(other) == 1 else 's'}, which carry no pixel size ({named}); "
            "give --pixel-size (Å per pixel) too, or the diameter in pixels (--diameter), or "
            "pick the MRC files on their own"
        )
    if any(header_pixel_size(p) is not None for p in mrc):  # (stops at the first known)
        return
    if mrc:
        more = f" and {len(mrc) - 1} more" if len(mrc) > 1 else ""
        raise CLIError(
            f"--diameter-A {args.diameter_A:g}: the MRC headers of these micrographs hold no "
            f"pixel size (0, or the placeholder 1.0 Å: {mrc[0]}{more}); give --pixel-size "
            "(Å per pixel) too, or the diameter in pixels (--diameter)"
        )
    raise CLIError(
        f"--diameter-A {args.diameter_A:g}: PNG, JPEG and TIFF micrographs carry no pixel "
        "size; give --pixel-size (Å per pixel) too, or the diameter in pixels (--diameter)"
    )


def _check_format_not_input(args: argparse.Namespace) -> None:
    """A format name among the inputs, not a file there: ``--format`` takes one (a trial's
    ``--format star box`` was told "box: no such file or folder")."""
    for entry in args.inputs or []:
        name = str(entry)
        if name in PICK_FORMATS and not Path(name).exists():
            raise CLIError(
                f"{name}: no such file or folder; if it is a second --format, --format takes "
                f"one format a run: pick again with --format {name}, or convert the picks "
                f"written with cryopick filter FOLDER --format {name} --out DIR"
            )


def request_from_args(args: argparse.Namespace, micrographs: list[Path] | None = None):
    """The :class:`~napari_cryopick.workflows.pick.PickRequest` of the parsed options.

    ``micrographs`` replaces the expanded inputs (a batch runner that skips
    or shards them).
    """
    from napari_cryopick.io.paths import micrograph_files
    from napari_cryopick.workflows.pick import FiberOptions, PickRequest

    if args.model is not None and not args.model.is_file():
        from napari_cryopick.core.model.checkpoint import not_a_model_file

        raise CLIError(not_a_model_file(args.model) or f"{args.model}: not a model file")
    view = view_request_fields(args)
    _check_pick_options(args)
    _check_format_not_input(args)
    recursive = bool(getattr(args, "recursive", False))
    if micrographs is None:
        micrographs = micrograph_files(
            args.inputs, recursive=recursive, recursive_option="--recursive"
        )
    _check_pixel_size_known(args, micrographs)
    try:
        fibers = FiberOptions(
            link_radius_px=args.link_radius,
            max_angle_deg=args.max_angle,
            box_distance_px=args.box_distance,
            helical_layout=args.helical_layout,
        )
    except ValueError as error:
        # FiberOptions names its fields; the user knows the options
        message = str(error)
        for field, option in (
            ("link_radius_px", "--link-radius"),
            ("max_angle_deg", "--max-angle"),
            ("box_distance_px", "--box-distance"),
        ):
            message = message.replace(field, option)
        raise CLIError(message) from None
    return PickRequest(
        micrographs=micrographs,
        model=args.model,
        head=args.head,
        kinds=None if args.kind is None else (args.kind,),
        diameter_px=args.diameter,
        diameter_A=args.diameter_A,
        pixel_size_A=args.pixel_size,
        threshold=args.threshold,
        options={
            "min_distance": args.min_distance,
            **({"top_k": args.max_picks} if args.max_picks is not None else {}),
            "reject_std": args.reject_std,
            "tile_size": args.tile_size,
            **view["options"],
        },
        device=args.device,
        out_dir=args.out,
        formats=(args.format,),
        flip_y=args.flip_y,
        flip_tiff_y=args.flip_tiff_y,
        keep_candidates=args.keep_candidates,
        box_size_px=args.box_size,
        fibers=fibers,
        diameter_factor=view["diameter_factor"],
        scale_search=view["scale_search"],
        invert_contrast=view["invert_contrast"],
        # the layout mirrors the folders below the given ones, whichever hold micrographs
        input_folders=tuple(Path(i) for i in args.inputs if recursive and Path(i).is_dir()),
    )


def _check_pick_options(args: argparse.Namespace) -> None:
    """Refuse picking options out of range, naming the option (before any model is loaded)."""
    from napari_cryopick.io.pickfiles import BOXED_FORMATS, TIFF_Y_FROM_LAST_ROW_FORMATS

    defaults = dataclass_defaults("napari_cryopick.core.detect", "PickConfig")
    overlap = int(defaults["overlap"])
    if getattr(args, "pictures", 0) < 0:
        raise CLIError(f"--pictures must be >= 0, got {args.pictures}")
    if args.tile_size < 2 * overlap:
        raise CLIError(
            f"--tile-size must be at least {2 * overlap} (twice the {overlap} px neighbouring "
            f"tiles share; smaller tiles repeat most of their work), got {args.tile_size}"
        )
    if getattr(args, "box_size", None) is not None and args.format not in BOXED_FORMATS:
        # a trial's --box-size 100 with --format star was silently ignored
        raise CLIError(
            f"--box-size sets the boxes of box and cbox files; --format {args.format} "
            "writes none (STAR and Topaz files hold centres: RELION and Topaz take the box "
            "size as their own option)"
        )
    if getattr(args, "flip_tiff_y", False) and args.format not in TIFF_Y_FROM_LAST_ROW_FORMATS:
        # (a review: it mirrored Topaz and CSV files, whose readers count from the first row)
        raise CLIError(
            f"--flip-tiff-y writes STAR, BOX and CBOX files as RELION, crYOLO and EMAN2 read "
            f"TIFF images; --format {args.format} files count y from the first row (Topaz, "
            "napari): leave it out, or --flip-y to mirror every micrograph anyway"
        )
    if getattr(args, "max_picks", None) is not None and args.max_picks < 1:
        raise CLIError(f"--max-picks must be at least 1, got {args.max_picks}")
    if not 0 <= args.min_distance <= 10:
        raise CLIError(
            f"--min-distance must lie in [0, 10] (a fraction of the diameter), "
            f"got {args.min_distance:g}"
        )


def print_scale(outcome, request, command: str = "pick", asked: bool = False) -> None:
    """Say at which factor of the diameter the run picked, and warn where it looks wrong.

    ``asked``: the user gave ``--scale-search`` (a note when none could run).
    """
    from napari_cryopick.workflows.pick import polarity_line, scale_lines

    confidences = getattr(outcome, "scale_confidences", None) or {}
    earlier = getattr(outcome, "scale_source", None) == "earlier run"  # a resumed batch
    polarity_source = "search" if request.invert_contrast is None else "option"
    source = "search" if request.diameter_factor is None else "option"
    if earlier:
        polarity_source = "earlier run" if request.invert_contrast is None else polarity_source
        source = "earlier run" if request.diameter_factor is None else source
    contrast = polarity_line(
        bool(outcome.inverted), outcome.polarity_confidences or {}, polarity_source
    )
    if contrast:
        hint = "--no-invert-contrast to pick them as given"
        print(f"{contrast} ({'--invert-contrast' if polarity_source == 'option' else hint})")
    line, warnings = scale_lines(
        float(outcome.diameter_factor),
        confidences,
        request.diameter_px,
        source,
        contrast_forced=request.invert_contrast is not None,
    )
    if line:
        if source == "search":
            line += "; --no-scale-search or --diameter-factor F to choose"
        elif source == "option":
            line += " (--diameter-factor)"
        print(line)
    for warning in warnings:
        print(f"cryopick {command}: warning: {warning}", file=sys.stderr)
    if asked and source == "search" and not confidences:
        print(
            f"cryopick {command}: note: no scale search ran (--scale-search): only a general "
            "model picking with its generic head searches; a model trained on your clicks "
            "learned the diameter from them",
            file=sys.stderr,
        )


def _note_earlier_runs(request) -> None:
    """Say so when the output folder holds picks of a run with other settings (those of
    these settings, without --skip: ``workflows.batch``, which knows the run's micrographs)."""
    from napari_cryopick.workflows.batch import picked_with_other_settings

    out = Path(request.out_dir)
    other = picked_with_other_settings(request)
    if other:
        if isinstance(request.model, (str, Path)):
            # a bad model is the one line said, not after this note (docs/reliability.md;
            # a trial got the note first, then the error); loaded twice only when noting
            from napari_cryopick.core.model import load_checkpoint

            load_checkpoint(request.model)
        same = picked_with_other_settings(request, same_formats=True)
        if same:
            # (the folder's count: "of those of them it picks", a CLI trial's run of 4
            # micrographs read "writes over their files" of 8)
            what = (
                f"already holds the picks of {len(same)} micrograph(s) made with other "
                "settings (model, diameter, threshold, ...) in the format(s) this run "
                "writes; this run writes over the files of those of them it picks, where "
                "it writes the same names (--skip does not skip them: their settings "
                "differ)"
            )
        else:  # (a trial's runs of one folder in five formats: each told of overwriting)
            what = (
                f"also holds the picks of {len(other)} micrograph(s) made with other "
                "settings, in other formats only: this run writes its files beside theirs"
            )
        print(
            f"cryopick pick: note: {out} {what}; every run is recorded in "
            f"{out}/cryopick_manifest.jsonl. To try other thresholds without picking "
            "again, pick once with --keep-candidates and use cryopick filter",
            file=sys.stderr,
        )


def _note_tiff_rows(request) -> None:
    """Say which programs count y of TIFF (and JPEG) micrographs from the last row when
    files they read are written as the file's rows: RELION reads TIFF images bottom row
    first (an interop trial: Extract would cut every particle at its mirror position;
    ``cryopick relion`` writes them as RELION reads), and crYOLO, EMAN2 and
    napari-boxmanager count BOX and CBOX y of TIFF micrographs (crYOLO: and JPEG) from
    the last row (scipion-em-sphire mirrors crYOLO's y of .tif/.tiff/.jpg micrographs;
    napari-boxmanager shows TIFF images flipped; a convention review)."""
    from napari_cryopick.io.micrographs import is_jpeg, is_tiff

    if request.flip_y:
        return
    sources = [m for m in request.micrographs if isinstance(m, (str, Path))]
    tiffs = [m for m in sources if is_tiff(m)]
    jpegs = [m for m in sources if is_jpeg(m)]
    boxed = [f for f in ("box", "cbox") if f in request.formats]
    if request.flip_tiff_y:
        if boxed and jpegs:  # mirrored TIFFs, JPEGs as they are (a docs check: unsaid)
            print(
                f"cryopick pick: note: {len(jpegs)} JPEG micrograph(s): --flip-tiff-y "
                f"mirrors TIFF micrographs only, and the {'/'.join(boxed).upper()} files "
                "of the JPEG ones count y from the file's first row; crYOLO counts y of "
                "JPEG micrographs from the last row: for crYOLO, pick them with --flip-y, "
                "in a run of their own",
                file=sys.stderr,
            )
        return
    if tiffs and "star" in request.formats:
        print(
            f"cryopick pick: note: {len(tiffs)} TIFF micrograph(s): the STAR files count y "
            "from the file's first row, as napari and Topaz read TIFF images; RELION "
            "reads TIFF images bottom row first: for RELION, pick them with --flip-tiff-y "
            "(cryopick relion does so itself)",
            file=sys.stderr,
        )
    if boxed and (tiffs or jpegs):
        count = f"{len(tiffs)} TIFF" if not jpegs else f"{len(tiffs) + len(jpegs)} TIFF or JPEG"
        print(
            f"cryopick pick: note: {count} micrograph(s): the {'/'.join(boxed).upper()} "
            "files count y from the file's first row, as napari shows it; crYOLO, EMAN2 "
            "and napari-boxmanager count y of TIFF micrographs (crYOLO: and JPEG) from the "
            "last row: for them, pick with --flip-tiff-y (JPEG micrographs: --flip-y, in a "
            "run of their own)",
            file=sys.stderr,
        )


def _others_running(samples: int = 3, gap_s: float = 0.05) -> float | None:
    """How many threads of other processes are runnable now (Linux: ``/proc/loadavg``'s
    running count, less this one, the mean of a few samples); None elsewhere. Unlike the
    load average, the command that ran just before (a ``cryopick train`` of this script)
    is not in it."""
    counts = []
    for index in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as handle:
                running = int(handle.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(running - 1, 0))
        if index + 1 < samples:
            time.sleep(gap_s)
    return sum(counts) / len(counts)


def say_busy_machine(
    load: float | None = None,
    cores: int | None = None,
    *,
    gpu_possible: bool = False,
    running: float | None = None,
) -> int:
    """Print a note when other jobs keep the CPU busy and ``--threads`` was not given:
    torch's threads then wait on each other (1.57 s per micrograph with torch's default
    against 0.54 s with ``--threads 1`` at load 2 on 2 cores, docs/picking.md; a README
    trial's training did 3 steps in 25 s, where 1 thread does 35 a second). Returns the
    threads the command should run (the cores the load leaves, at least 1), 0 when
    nothing was said. ``CRYOPICK_LOAD_NOTE=0`` turns it off (the test suite does: its
    own load would add the line to commands whose output the tests read)."""
    if os.environ.get("CRYOPICK_LOAD_NOTE", "1") == "0":
        return 0
    try:
        load = os.getloadavg()[0] if load is None else load
    except OSError:  # not on this platform
        return 0
    if cores is None:
        from napari_cryopick.core.model import cpu_cores

        cores = cpu_cores()
    # torch runs a thread on every core: with other jobs on more than half of them its
    # threads wait on each other (a CLI trial at a load below 2 on 2 cores: 111 training
    # steps in 120 s with torch's threads, 158 in 32 s with --threads 1, unsaid). The load
    # average also holds the command run just before (a script's train, then pick: a
    # review), so other jobs must be running now too
    if not cores or load < max(1.0, cores / 2 + 0.5):
        return 0
    if load < cores:
        running = _others_running() if running is None else running
        if running is None or running < cores / 2:
            return 0
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads.isdigit() and int(threads) <= max(1, cores // 2):
        # torch runs that many threads already: the advice is taken (a docs trial under
        # OMP_NUM_THREADS=1 was told it on every command)
        return 0
    if gpu_possible:
        import torch

        if torch.cuda.is_available():  # picked on the GPU (--device auto)
            return 0
    # the cores other jobs leave now (the load average lags: one of jobs just ended, or of
    # the command run before, would leave an idle many-core machine one thread, a review)
    running = _others_running() if running is None else running
    free = max(1, cores - math.ceil(running)) if running is not None else max(1, int(cores - load))
    if free >= cores:
        return 0  # nothing else runs now
    print(
        f"note: the machine is busy (load {load:.1f} on {cores} core"
        f"{'' if cores == 1 else 's'}): torch runs {free} thread{'' if free == 1 else 's'} "
        "(with other jobs on the cores its threads wait on each other: several times "
        "slower); --threads N sets another number",
        file=sys.stderr,
    )
    return free


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick pick``; returns the exit code."""
    from napari_cryopick.cli._batch import wants_batch

    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if args.recursive and args.monitor is not None:
        raise CLIError(
            "--monitor searches the folders below the watched one already: no --recursive"
        )
    if args.threads:
        # a trial on a loaded 2-core machine: torch's default threads took 2.1 s per
        # micrograph against 0.28 s with one, and train had the option, pick not
        import torch

        torch.set_num_threads(args.threads)
    batch = wants_batch(args)
    request = request_from_args(args)
    cuda = str(args.device).startswith("cuda")
    if not args.threads and getattr(args, "dask", None) is None and not cuda:
        # after the options and the model are checked: a trial saw the note above an
        # option error, another above "bad.pt: not a napari-cryopick checkpoint"
        if args.model is not None:
            from napari_cryopick.core.model import load_checkpoint

            load_checkpoint(args.model)  # (a fraction of a second; picking loads it again)
        threads = say_busy_machine(gpu_possible=args.device == "auto")
        if threads:  # (as the note says)
            import torch

            torch.set_num_threads(threads)
    if request.out_dir is not None:
        from napari_cryopick.cli._errors import check_output_folder

        created = not Path(request.out_dir).exists()
        check_output_folder(request.out_dir, "--out")  # before the model loads and reads
        if created:
            # a run refused before it wrote anything leaves no empty folder behind (a
            # docs trial's --kind fiber --format box did)
            try:
                return _run(args, request, batch)
            finally:
                with contextlib.suppress(OSError):
                    Path(request.out_dir).rmdir()  # only when empty
    return _run(args, request, batch)


def _run(args: argparse.Namespace, request: Any, batch: bool) -> int:
    """The rest of :func:`run`, once ``--out`` is known to be writable: every run into a
    folder (``--out`` has a default) goes through the batch workflow and is recorded in
    its manifest (issue 14: two runs into one folder never mix without notice)."""
    from napari_cryopick.cli._batch import run_pick_batch

    _note_tiff_rows(request)
    _note_earlier_runs(request)
    if not batch:
        args.no_summary = True  # a plain run: the manifest only, no summary files
    return run_pick_batch(args, request)
