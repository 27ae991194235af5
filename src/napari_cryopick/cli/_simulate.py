"""``cryopick simulate OUT_DIR``: write a synthetic data set with known truth.

Writes ``OUT_DIR/micrographs/*.mrc``, ``OUT_DIR/picks/*.csv``,
``OUT_DIR/fibers/*.json`` (when there are fibers) and ``OUT_DIR/dataset.json``
(see ``docs/simulation.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_cryopick.cli import EXIT_OK, CLIError

#: Largest micrograph simulated (pixels).
_MAX_PIXELS = 16384 * 16384


def register(subparsers: argparse._SubParsersAction) -> None:
    from types import SimpleNamespace

    from napari_cryopick.cli._defaults import dataclass_defaults, module_constant

    # read from the source, not imported: simulate imports torch, --help must stay fast
    PARTICLE_SHAPES = module_constant("napari_cryopick.core.simulate", "PARTICLE_SHAPES")
    defaults = SimpleNamespace(
        **dataclass_defaults("napari_cryopick.core.simulate", "SimulationConfig")
    )
    parser = subparsers.add_parser(
        "simulate",
        help="write synthetic micrographs (MRC) with their truth picks (CSV)",
        # OUT_DIR is required; argparse's own usage showed it optional ([OUT_DIR], a docs audit)
        usage="%(prog)s OUT_DIR [options]",
        description=(
            "Simulate cryo-EM micrographs with known truth: particles of several "
            "shapes, vesicles, fibers, carbon edges and ice contamination, under a "
            "CTF and Gaussian noise. Deterministic given --seed."
        ),
    )
    # optional for argparse only: "--shape sphere OUT_DIR" gives --shape both (_split_shapes)
    parser.add_argument(
        "out_dir",
        type=Path,
        nargs="?",
        default=None,
        metavar="OUT_DIR",
        help="output folder (required)",
    )
    parser.add_argument(
        "-n",
        "--micrographs",
        metavar="N",
        type=int,
        default=1,
        help="number of micrographs (default 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=(
            "replace files of OUT_DIR that an earlier cryopick simulate did not write (a "
            "dataset.json, micrographs or picks of the names it writes): refused without it"
        ),
    )
    parser.add_argument(
        "--shape",
        nargs="+",
        default=list(defaults.shapes),
        metavar="NAME",
        help=f"particle shape(s), one or more of {', '.join(PARTICLE_SHAPES)} "
        f"(default {' '.join(defaults.shapes)})",
    )
    parser.add_argument(
        "--diameter",
        metavar="PX",
        type=float,
        default=defaults.diameter_px,
        help="particle diameter in pixels (default %(default)s)",
    )
    parser.add_argument(
        "--particles",
        metavar="N",
        type=int,
        default=defaults.n_particles,
        help="particles per micrograph (default %(default)s)",
    )
    parser.add_argument(
        "--snr",
        type=float,
        default=defaults.snr,
        help="signal-to-noise ratio of the particles; 'inf' for no noise (default %(default)s)",
    )
    parser.add_argument(
        "--defocus",
        metavar="UM",
        type=float,
        default=defaults.defocus_um,
        help="under-focus in µm; 0 for in focus (default %(default)s)",
    )
    parser.add_argument("--no-ctf", action="store_true", help="switch the CTF off")
    parser.add_argument(
        "--pixel-size",
        metavar="A",
        type=float,
        default=defaults.pixel_size,
        help="Å per pixel (default %(default)s)",
    )
    parser.add_argument(
        "--vesicles", metavar="N", type=int, default=0, help="vesicles per micrograph (default 0)"
    )
    parser.add_argument(
        "--fibers", metavar="N", type=int, default=0, help="fibers per micrograph (default 0)"
    )
    parser.add_argument(
        "--fiber-width",
        metavar="PX",
        type=float,
        default=defaults.fiber_width_px,
        help="fiber width in pixels (default %(default)s)",
    )
    parser.add_argument(
        "--carbon", action="store_true", help="show a carbon edge on every micrograph"
    )
    parser.add_argument(
        "--carbon-probability",
        type=float,
        default=None,
        metavar="P",
        help="show a carbon edge with probability P (0..1) per micrograph",
    )
    parser.add_argument(
        "--contamination",
        type=int,
        default=0,
        metavar="N",
        help="ice contamination blobs per micrograph (default 0)",
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=list(defaults.shape),
        metavar=("ROWS", "COLS"),
        help=f"micrograph size in pixels (default {defaults.shape[0]} {defaults.shape[1]})",
    )
    parser.add_argument(
        "--prefix", default="sim", help="micrograph name prefix (default %(default)s)"
    )
    parser.set_defaults(func=run)


def _split_shapes(args: argparse.Namespace) -> None:
    """Check ``--shape``; a last value that is no shape is OUT_DIR when none came before.

    ``--shape`` takes one or more names, so in ``cryopick simulate -n 1 --shape
    sphere OUT`` argparse hands it ``OUT`` too.
    """
    from napari_cryopick.cli._defaults import module_constant

    known = module_constant("napari_cryopick.core.simulate", "PARTICLE_SHAPES")
    shapes = list(args.shape)
    if args.out_dir is None and len(shapes) > 1 and shapes[-1] not in known:
        args.out_dir = Path(shapes.pop())
    if args.out_dir is None:
        raise CLIError("give the output folder OUT_DIR (cryopick simulate OUT_DIR [options])")
    unknown = [shape for shape in shapes if shape not in known]
    if unknown:
        raise CLIError(
            f"--shape: unknown particle shape {unknown[0]!r} (choose from {', '.join(known)})"
        )
    args.shape = shapes


def run(args: argparse.Namespace) -> int:
    from napari_cryopick.core.progress import drive
    from napari_cryopick.core.simulate import SimulationConfig, simulate_dataset

    _split_shapes(args)
    if args.micrographs < 1:
        raise CLIError(f"-n must be at least 1, got {args.micrographs}")
    rows, cols = args.size
    if rows * cols > _MAX_PIXELS:  # the simulation holds several float64 copies
        raise CLIError(
            f"--size {rows} {cols}: {rows * cols:,} pixels is too large "
            f"(at most {_MAX_PIXELS:,}, e.g. 16384 x 16384)"
        )
    import numpy as np

    from napari_cryopick.io.micrographs import PLACEHOLDER_PIXEL_SIZE

    if np.float32(args.pixel_size) == PLACEHOLDER_PIXEL_SIZE:  # (as the header stores it)
        # a fiber trial's 1.0 Å/px micrographs were then "of no pixel size known" to pick
        print(
            f"cryopick simulate: warning: --pixel-size {args.pixel_size:g}: readers take an "
            "MRC header of 1.0 Å/px as the placeholder of a pixel size not known (MRC's "
            "default), so picking these micrographs says no pixel size is known; give "
            "another value (e.g. 1.01) to have it read",
            file=sys.stderr,
        )
    carbon = 1.0 if args.carbon else 0.0
    if args.carbon_probability is not None:
        carbon = args.carbon_probability
    config = SimulationConfig(
        shape=tuple(args.size),
        pixel_size=args.pixel_size,
        shapes=tuple(args.shape),
        diameter_px=args.diameter,
        n_particles=args.particles,
        snr=args.snr,
        defocus_um=None if args.no_ctf else args.defocus,
        carbon=carbon,
        n_contaminations=args.contamination,
        n_vesicles=args.vesicles,
        n_fibers=args.fibers,
        fiber_width_px=args.fiber_width,
    )  # raises ValueError (exit code 2) on bad values
    from napari_cryopick.cli._errors import check_output_folder

    check_output_folder(Path(args.out_dir), "output folder")  # read-only too, even as root
    if not args.overwrite:
        _refuse_to_replace(Path(args.out_dir), args.micrographs, args.prefix)
    job = simulate_dataset(
        args.out_dir, args.micrographs, config, seed=args.seed, name_prefix=args.prefix
    )
    paths = drive(job, progress_bar=True, description="simulate", unit="micrograph")
    print(f"wrote {len(paths)} micrograph(s) and their truth to {args.out_dir}", file=sys.stderr)
    asked = {"particle": args.particles, "vesicle": args.vesicles, "fiber": args.fibers}
    for line in _fewer_than_asked(Path(args.out_dir), paths, asked):
        print(f"cryopick simulate: note: {line}", file=sys.stderr)
    written = {Path(path).name for path in paths}
    left = sorted(
        path.stem
        for path in (Path(args.out_dir) / "micrographs").glob("*.mrc")
        if path.name not in written
    )
    if left:  # a re-trial's n=1 after n=3: sim_0001-2 stayed, dataset.json said 1
        from napari_cryopick.core.text import name_list

        print(
            f"cryopick simulate: note: {len(left)} micrograph(s) of an earlier simulation "
            f"stay in {Path(args.out_dir) / 'micrographs'} ({name_list(left, 3)}) with their "
            "truth; dataset.json describes this run's only: remove them, or simulate into a "
            "new folder",
            file=sys.stderr,
        )
    return EXIT_OK


def _refuse_to_replace(out_dir: Path, count: int, prefix: str) -> None:
    """Refuse (exit 2) to write into a folder that holds files of the names simulate
    writes, unless an earlier ``cryopick simulate`` made it (its ``dataset.json`` says so):
    a trial's simulate into a folder holding a real data set's ``dataset.json`` and picks
    replaced both without a word."""
    import json

    dataset = out_dir / "dataset.json"
    try:
        source = json.loads(dataset.read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):
        source = None
    if source == "napari-cryopick simulate":
        return  # an earlier simulation's: a new one replaces it, as before
    names = [f"{prefix}_{index:04d}" for index in range(count)]
    planned = [dataset]
    for name in names:
        planned += [out_dir / "micrographs" / f"{name}.mrc", out_dir / "picks" / f"{name}.csv"]
        planned.append(out_dir / "fibers" / f"{name}.json")
    found = [path for path in planned if path.exists()]
    if found:
        from napari_cryopick.core.text import name_list

        shown = name_list((path.relative_to(out_dir) for path in found), 3)
        raise CLIError(
            f"{out_dir}: {len(found)} file(s) would be replaced that no earlier cryopick "
            f"simulate wrote ({shown}): simulate into another folder, or give "
            "--overwrite to replace them"
        )


def _fewer_than_asked(out_dir: Path, paths: list[Path], asked: dict[str, int]) -> list[str]:
    """Say which kinds got fewer objects than asked (no room left without overlap).

    A trial asked for 8 vesicles per micrograph of 512 px and got 3-4, with
    ``dataset.json`` still saying 8; the truth files hold what was placed.
    """
    import pandas as pd

    placed = dict.fromkeys(asked, 0)
    for path in paths:
        table = pd.read_csv(out_dir / "picks" / f"{Path(path).stem}.csv")
        for kind in asked:
            rows = table[table["kind"] == kind]
            placed[kind] += rows["tube_id"].nunique() if kind == "fiber" else len(rows)
    lines = []
    for kind, per_micrograph in asked.items():
        wanted = per_micrograph * len(paths)
        if placed[kind] < wanted:
            lines.append(
                f"placed {placed[kind]} of the {wanted} {kind}s asked for "
                f"({per_micrograph} per micrograph): no more fit without overlapping "
                "(larger micrographs or fewer objects); the truth files hold what was placed"
            )
    return lines
