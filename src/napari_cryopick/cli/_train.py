"""``cryopick train``: train a detector from micrographs and (sparse) pick files."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick.cli import EXIT_OK, CLIError

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    from napari_cryopick.core.continual import add_mode_arguments
    from napari_cryopick.core.training import TrainConfig

    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "train",
        help="train a detector from micrographs and pick files",
        description=(
            "Train a particle detector. Pick files are matched to micrographs by "
            "name (the micrograph named in the file, or the file name, possibly "
            "with a suffix such as _autopick). Labels may be sparse: unlabelled "
            "particles are not punished as hard negatives."
        ),
    )
    parser.add_argument(
        "--micrographs",
        nargs="+",
        required=True,
        metavar="PATH",
        help="micrograph files or folders",
    )
    parser.add_argument(
        "--picks",
        nargs="+",
        required=True,
        metavar="PATH",
        help="pick files or folders (STAR, BOX, CBOX, Topaz, CSV)",
    )
    parser.add_argument(
        "--negatives",
        nargs="+",
        default=[],
        metavar="PATH",
        help="pick files of things that are NOT particles (carbon, ice, junk)",
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument(
        "--diameter",
        type=float,
        metavar="PX",
        help="particle diameter in pixels (used where picks have none)",
    )
    size.add_argument(
        "--diameter-A",
        dest="diameter_A",
        type=float,
        metavar="A",
        help="particle diameter in Angstrom (needs the pixel size in the MRC header)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="MODEL.pt",
        help="checkpoint to write (atomically, at the end)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=defaults.steps,
        help=f"training steps (default {defaults.steps})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help=f"crops per step (default {defaults.batch_size})",
    )
    parser.add_argument(
        "--crop-size",
        type=int,
        default=defaults.crop_size,
        help=f"crop side in rescaled pixels (default {defaults.crop_size})",
    )
    parser.add_argument(
        "--lr", type=float, default=defaults.lr, help=f"peak learning rate (default {defaults.lr})"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--head",
        default="generic",
        help="head (data-set name) to train in fine-tune/continual/few-shot modes",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="MODEL.pt",
        help=(
            "start from this checkpoint (fine-tune, continual, few-shot); continual and "
            "few-shot start from the bundled general model when omitted"
        ),
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help=(
            "data-set name stored in the model (default: each micrograph's folder, so "
            "--mode joint over several folders trains one head per folder)"
        ),
    )
    parser.add_argument(
        "--complete-labels",
        action="store_true",
        help="every particle is labelled: no sparse-label handling",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    add_mode_arguments(parser)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch (default: torch's choice); 1 is fastest on a busy machine",
    )
    parser.set_defaults(func=run)


def _expand(paths: list[str], suffixes: tuple[str, ...], what: str) -> list[tuple[Path, bool]]:
    """Files named directly, and files found in folders: ``(path, from_folder)``."""
    found: list[tuple[Path, bool]] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            inside = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes
            )
            if not inside:
                raise CLIError(f"{path}: no {what} ({', '.join(suffixes)}) found")
            found.extend((p, True) for p in inside)
        elif path.is_file():
            found.append((path, False))
        else:
            raise CLIError(f"{path}: no such file or folder")
    return found


def _match_name(file_stem: str, names: set[str]) -> str | None:
    """Micrograph name for a pick file: exact, else the longest ``name + _/-/.`` prefix."""
    if file_stem in names:
        return file_stem
    candidates = [n for n in names if file_stem.startswith(n) and file_stem[len(n)] in "_-."]
    return max(candidates, key=len) if candidates else None


def _read_pick_files(
    paths: list[tuple[Path, bool]], names: set[str], kind: str | None
) -> pd.DataFrame:
    """Read pick files and keep the picks of the given micrographs.

    A file named on the command line must match a micrograph; files found in a
    folder that match none are skipped (a folder of picks for a whole data set
    used to train on a few of its micrographs).
    """
    from napari_cryopick.core.object_kinds import densify_fiber_picks
    from napari_cryopick.io.formats import micrograph_stem
    from napari_cryopick.io.pickfiles import read_picks

    tables = []
    skipped = []
    for path, from_folder in paths:
        table = read_picks(path)
        table["micrograph"] = [micrograph_stem(str(n)) or str(n) for n in table["micrograph"]]
        if (table["tube_id"] > 0).any():
            # fiber paths (helical STAR, filament CBOX, CSV with tube_id): points along them
            table = densify_fiber_picks(table)
        in_file = set(table["micrograph"])
        if not in_file & names and len(in_file) <= 1:
            # per-micrograph file (.box, .cbox, ...) named after the micrograph plus a suffix
            match = _match_name(path.stem, names)
            if match is not None:
                table["micrograph"] = match
        matched = table[table["micrograph"].isin(names)]
        if len(table) and matched.empty and from_folder:
            skipped.append(path.name)
            continue
        if len(table) and matched.empty:
            shown = ", ".join(sorted(in_file)[:5]) + (" ..." if len(in_file) > 5 else "")
            raise CLIError(
                f"{path}: its picks belong to no given micrograph (file names: {shown}; "
                f"micrographs: {', '.join(sorted(names)[:5])}{' ...' if len(names) > 5 else ''})"
            )
        if kind is not None:
            matched = matched.assign(kind=kind)
        tables.append(matched)
    if skipped:
        logger.info("skipped %d pick file(s) of other micrographs", len(skipped))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _dataset_name(path: Path) -> str:
    folder = path.resolve().parent
    if folder.name.lower() in ("micrographs", "mics", "images") and folder.parent.name:
        return folder.parent.name
    return folder.name


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick train``; returns the exit code."""
    from napari_cryopick import __version__
    from napari_cryopick.core.continual import run_training_from_args
    from napari_cryopick.core.model import (
        DetectorConfig,
        diameter_from_angstrom,
        load_checkpoint,
        resolve_device,
        save_checkpoint,
    )
    from napari_cryopick.core.pick_table import KINDS
    from napari_cryopick.core.training import TrainConfig, build_examples
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES, read_micrograph
    from napari_cryopick.io.pickfiles import FORMATS

    for name in ("diameter", "diameter_A"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if args.steps < 1 or args.batch_size < 1 or args.crop_size < 16:
        raise CLIError("--steps and --batch-size must be >= 1 and --crop-size >= 16")
    resolve_device(args.device)  # fail early on a bad device
    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.out.is_dir():
        raise CLIError(f"{args.out}: is a folder; give the checkpoint file name")
    pick_suffixes = tuple(sorted({s for m in FORMATS.values() for s in m.SUFFIXES}))

    micrograph_paths = [
        path for path, _ in _expand(args.micrographs, MICROGRAPH_SUFFIXES, "micrographs")
    ]
    micrographs = [read_micrograph(path) for path in micrograph_paths]
    names = [m.name for m in micrographs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CLIError(f"micrograph names must be unique; repeated: {', '.join(duplicates)}")
    name_set = set(names)
    picks = _read_pick_files(_expand(args.picks, pick_suffixes, "pick files"), name_set, None)
    if args.negatives:
        negatives = _read_pick_files(
            _expand(args.negatives, pick_suffixes, "pick files"), name_set, "negative"
        )
        picks = pd.concat([picks, negatives], ignore_index=True)
    positive = picks[picks["kind"] != "negative"] if len(picks) else picks
    unlabelled = [n for n in names if n not in set(positive.get("micrograph", []))]
    if len(unlabelled) == len(names):
        raise CLIError("no labelled particles in the pick files for the given micrographs")
    if unlabelled:
        raise CLIError(
            f"no picks for micrograph(s): {', '.join(unlabelled)} "
            f"(pick files are matched by micrograph name)"
        )

    if args.diameter_A is not None:
        diameters = []
        for micrograph in micrographs:
            try:
                diameters.append(diameter_from_angstrom(args.diameter_A, micrograph.pixel_size))
            except ValueError as error:
                raise CLIError(f"{micrograph.path}: {error}") from None
    else:
        diameters = [float(args.diameter)] * len(micrographs)

    model = None
    metadata_in: dict = {}
    init = args.init
    if init is None and args.mode in ("continual", "fewshot"):
        from napari_cryopick.core.model.bundled import bundled_model_path

        init = bundled_model_path()
        print(f"--mode {args.mode} without --init: starting from the bundled model {init}")
    if init is not None:
        model, metadata_in = load_checkpoint(init)
        config = model.config
    else:
        present = set(positive["kind"])
        kinds = tuple(k for k in KINDS if k in present and k != "negative") or ("particle",)
        config = DetectorConfig(kinds=kinds)
    ignored = sorted(set(positive["kind"]) - set(config.kinds))
    if ignored:
        logger.warning("picks of kind %s are ignored (model kinds: %s)", ignored, config.kinds)

    # A data set trains the head of its name (continual/joint modes); --head names it too.
    named = args.dataset or (args.head if args.head != "generic" else None)
    datasets_of_micrographs = [named or _dataset_name(p) for p in micrograph_paths]
    examples = []
    for dataset in dict.fromkeys(datasets_of_micrographs):
        members = [i for i, d in enumerate(datasets_of_micrographs) if d == dataset]
        examples.extend(
            build_examples(
                [micrographs[i].data for i in members],
                [picks[picks["micrograph"] == names[i]].reset_index(drop=True) for i in members],
                [diameters[i] for i in members],
                config,
                names=[names[i] for i in members],
                dataset=dataset,
            )
        )
    train_config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        crop_size=args.crop_size,
        lr=args.lr,
        sparse=not args.complete_labels,
        seed=args.seed,
        device=args.device,
    )
    n_positive = int((positive["kind"].isin(config.kinds)).sum())
    print(
        f"training on {len(examples)} micrograph(s), {n_positive} picks, "
        f"{int((picks['kind'] == 'negative').sum())} negatives, diameter "
        f"{float(np.median(diameters)):.1f} px, {train_config.steps} steps"
    )
    start = time.perf_counter()
    result = run_training_from_args(
        args,
        examples,
        base_model=model,
        base_metadata=metadata_in,
        config=config,
        train_config=train_config,
    )
    elapsed = time.perf_counter() - start
    losses = result.history[-1] if result.history else {}
    metadata = result.metadata
    metadata["history"][-1].update(
        tool=f"napari-cryopick {__version__}",
        micrographs=names,
        picks=n_positive,
        init=str(init) if init is not None else None,
    )
    metadata["diameter_px"] = float(np.median(diameters))
    metadata["kinds"] = list(result.model.config.kinds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, result.model, metadata=metadata)
    print(
        f"trained {train_config.steps} steps in {elapsed:.1f} s "
        f"(final loss {losses.get('total', float('nan')):.3f}) -> {args.out}"
    )
    return EXIT_OK
