"""``cryopick pick``: pick micrographs with a trained detector."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CLIError

FORMATS: tuple[str, ...] = ("star", "box", "cbox", "topaz", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pick`` sub-command."""
    from napari_cryopick.core.detect import PickConfig

    defaults = PickConfig()
    parser = subparsers.add_parser(
        "pick",
        help="pick particles in micrographs with a trained model",
        description=(
            "Pick micrographs (MRC, TIFF, PNG, JPG; folders are searched for them) "
            "and write one pick file per micrograph."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="MICROGRAPH_OR_FOLDER")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint (.pt) from 'cryopick train' (default: the bundled general model, "
        "where available)",
    )
    parser.add_argument("--head", default=None, help="detector head (default: the model's)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--diameter",
        type=float,
        default=None,
        metavar="PX",
        help="particle diameter in pixels (default: the one stored in the model)",
    )
    size.add_argument(
        "--diameter-A",
        dest="diameter_A",
        type=float,
        default=None,
        metavar="A",
        help="particle diameter in Angstrom (needs the pixel size in the MRC header)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=defaults.threshold,
        help=f"score threshold in [0, 1] (default {defaults.threshold})",
    )
    parser.add_argument(
        "--min-distance",
        type=float,
        default=defaults.min_distance,
        help=f"minimum distance between picks, fraction of the diameter "
        f"(default {defaults.min_distance})",
    )
    parser.add_argument(
        "--rotations",
        action="store_true",
        help="average predictions over the four 90-degree rotations (4x slower)",
    )
    parser.add_argument(
        "--reject-std",
        action="store_true",
        help="reject picks whose local standard deviation is an outlier (carbon, ice)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="star",
        help="pick file format (fibers: star = RELION helical, cbox = crYOLO filaments, csv)",
    )
    shapes = parser.add_argument_group(
        "vesicles and fibers",
        "--kind vesicle writes each vesicle's own diameter (STAR cryopickDiameter, CBOX "
        "_EstWidth, CSV diameter); --kind fiber traces detected points into paths (EPicker) "
        "and writes RELION helical STAR or crYOLO filament CBOX files.",
    )
    shapes.add_argument(
        "--kind",
        choices=("particle", "vesicle", "fiber"),
        default=None,
        help="object kind to pick (default: every kind of the model, as points)",
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
        "--box-size",
        type=float,
        default=None,
        metavar="PX",
        help="fibers, cbox: box size (default twice the fiber width)",
    )
    shapes.add_argument(
        "--helical-layout",
        choices=("start_end", "segments"),
        default="start_end",
        help="fibers, star: start and end of each straight piece (RELION manual picking, "
        "default) or segments every --box-distance with tube ids and angle priors",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("picks"), help="output folder (default ./picks)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--tile-size",
        type=int,
        default=defaults.tile_size,
        help=f"tile side in rescaled pixels (default {defaults.tile_size})",
    )
    parser.add_argument(
        "--flip-y", action="store_true", help="write y from the bottom (origin bottom-left)"
    )
    parser.set_defaults(func=run)


def _micrograph_paths(inputs: list[str]) -> list[Path]:
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MICROGRAPH_SUFFIXES
            )
            if not found:
                raise CLIError(f"{path}: no micrographs ({', '.join(MICROGRAPH_SUFFIXES)}) found")
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        else:
            raise CLIError(f"{path}: no such file or folder")
    return paths


def _model_path(argument: Path | None) -> Path:
    if argument is not None:
        if not argument.is_file():
            raise CLIError(f"{argument}: model file does not exist")
        return argument
    try:
        from napari_cryopick.core.model import bundled_model_path
    except ImportError:
        raise CLIError("--model is required (no bundled model in this version)") from None
    path = Path(bundled_model_path())
    if not path.is_file():
        raise CLIError(f"{path}: bundled model is missing; give --model")
    return path


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick pick``; returns the exit code."""
    from napari_cryopick.core.detect import PickConfig, pick_files
    from napari_cryopick.core.model.checkpoint import load_checkpoint
    from napari_cryopick.core.progress import drive

    if not 0.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}")
    for name in ("diameter", "diameter_A"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    model_path = _model_path(args.model)
    paths = _micrograph_paths(args.inputs)
    model, metadata = load_checkpoint(model_path)
    if args.head is not None and args.head not in model.head_names:
        raise CLIError(f"{model_path}: no head {args.head!r}; heads are {list(model.head_names)}")

    diameter_px, diameter_A = args.diameter, args.diameter_A
    if diameter_px is None and diameter_A is None:
        from napari_cryopick.core.continual import diameter_for_head

        # a data-set head picks at its own data set's diameter
        stored = diameter_for_head(metadata, args.head)
        if not stored:
            raise CLIError(
                f"{model_path}: no particle diameter stored in the model; give --diameter"
            )
        diameter_px = float(stored)

    if args.kind is not None and args.kind not in model.config.kinds:
        raise CLIError(
            f"{model_path}: the model has no {args.kind!r} kind "
            f"(its kinds: {', '.join(model.config.kinds)})"
        )
    for name in ("link_radius", "max_angle", "box_distance", "box_size"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if args.kind == "fiber" and args.format not in ("star", "cbox", "csv"):
        raise CLIError(f"fibers are written as star, cbox or csv, not {args.format}")

    config = PickConfig(
        threshold=args.threshold,
        min_distance=args.min_distance,
        rotations=args.rotations,
        reject_std=args.reject_std,
        tile_size=args.tile_size,
        head=args.head,
        device=args.device,
        kinds=None if args.kind is None else (args.kind,),
    )
    start = time.perf_counter()
    if args.kind == "fiber":
        from napari_cryopick.core.object_kinds import pick_fiber_files

        job = pick_fiber_files(
            model,
            paths,
            diameter_px=diameter_px,
            diameter_angstrom=diameter_A,
            config=config,
            out_dir=args.out,
            format=args.format,
            link_radius_px=args.link_radius,
            max_angle_deg=args.max_angle,
            box_distance_px=args.box_distance,
            box_size_px=args.box_size,
            helical_layout=args.helical_layout,
            flip_y=args.flip_y,
        )
    else:
        job = pick_files(
            model,
            paths,
            diameter_px=diameter_px,
            diameter_angstrom=diameter_A,
            config=config,
            out_dir=args.out,
            format=args.format,
            flip_y=args.flip_y,
        )
    result = drive(job, progress_bar=True, description="picking")
    elapsed = time.perf_counter() - start
    for message in result.errors.values():
        print(f"cryopick pick: skipped {message}", file=sys.stderr)
    n_done = len(paths) - len(result.errors)
    if args.kind == "fiber":
        n_fibers = (
            result.picks.groupby(["micrograph", "tube_id"]).ngroups if len(result.picks) else 0
        )
        print(
            f"traced {n_fibers} fibers in {n_done} of {len(paths)} micrographs "
            f"(threshold {config.threshold}) -> {args.out} ({args.format}), {elapsed:.1f} s"
        )
        return (
            EXIT_BAD_INPUT
            if result.errors and n_done == 0
            else (EXIT_FAILED if result.errors else EXIT_OK)
        )
    print(
        f"picked {len(result.picks)} objects in {n_done} of {len(paths)} micrographs "
        f"(threshold {config.threshold}) -> {args.out} ({args.format}), {elapsed:.1f} s"
    )
    if result.errors:
        return EXIT_BAD_INPUT if n_done == 0 else EXIT_FAILED
    return EXIT_OK
