"""``cryopick train``: argparse -> :class:`~napari_cryopick.workflows.train.TrainRequest` -> progress bar."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_OK, CLIError
from napari_cryopick.cli._defaults import dataclass_defaults
from napari_cryopick.workflows.train import MODES

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command (imports no torch: ``--help`` stays fast)."""
    defaults = dataclass_defaults("napari_cryopick.core.train_config", "TrainConfig")
    continual = dataclass_defaults("napari_cryopick.core.continual", "ContinualConfig")
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
        help=(
            "micrograph files or folders, or a list: cryoSPARC exposures .cs, RELION .star "
            "(only those with picks are read and trained on: the whole data set's folder "
            "is fine)"
        ),
    )
    parser.add_argument(
        "--picks",
        nargs="+",
        default=[],
        metavar="PATH",
        help="pick files or folders (STAR, BOX, CBOX, Topaz, CSV, cryoSPARC particles .cs); "
        "needed unless --annotations",
    )
    parser.add_argument(
        "--annotations",
        action="store_true",
        help="also train on what napari's Annotate widget saved for these micrographs "
        "(<micrograph>.cryopick.json: particles, vesicles, fibers and negatives; their data "
        "set names unless --dataset)",
    )
    parser.add_argument(
        "--kind",
        choices=("particle", "vesicle", "fiber"),
        default=None,
        help="what the --picks files mark (default: as each file says; particles for files "
        "without a kind column, fibers for files of fiber paths); e.g. --kind vesicle for "
        "a CSV of vesicle centres and diameters",
    )
    parser.add_argument(
        "--negatives",
        nargs="+",
        default=[],
        metavar="PATH",
        help=(
            "pick files of things that are NOT particles (carbon, ice, junk); one within a "
            "quarter diameter of a labelled pick is left out, with a warning"
        ),
    )
    parser.add_argument(
        "--picks-binning",
        type=float,
        default=1.0,
        metavar="F",
        help="the pick (and negative) files' coordinates are of micrographs binned F times "
        "(e.g. Topaz run with -s F); they are scaled to the micrographs' pixels (default 1)",
    )
    parser.add_argument(
        "--flip-y",
        action="store_true",
        help="the pick (and negative) files count y from the bottom (origin bottom-left, as "
        "written by 'cryopick pick --flip-y'); they are mirrored on each micrograph's height",
    )
    parser.add_argument(
        "--allow-resize",
        action="store_true",
        help="train a data set --init holds at a particle size more than 25 %% from the one "
        "it was trained at (by default refused: another protein under its name?)",
    )
    parser.add_argument(
        "--allow-misplaced",
        "--allow-mirrored",
        dest="allow_mirrored",
        action="store_true",
        help="train even where the clicks look mirrored top to bottom (y counted from the "
        "other edge) or like coordinates of binned micrographs (the check compares the "
        "image at the clicks, mirrored and scaled); by default such a run stops before "
        "training, with exit status 2",
    )
    parser.add_argument(
        "--pixel-size",
        type=float,
        metavar="A",
        help="Å per pixel of the micrographs, for --diameter-A (beats the MRC header; PNG, "
        "JPEG and TIFF carry none)",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--diameter",
        type=float,
        metavar="PX",
        help=(
            "particle diameter in pixels of every micrograph (a warning when the pick "
            "files' diameters differ from it by > 25%%); default: each data set's, the "
            "median of its pick files' diameters, else the one the --init model recorded "
            "for a data set of that name, else estimated from the clicks"
        ),
    )
    size.add_argument(
        "--diameter-A",
        dest="diameter_A",
        type=float,
        metavar="A",
        help="particle diameter in Angstrom (needs the pixel size: the MRC header, a "
        "micrograph list, or --pixel-size)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="MODEL.pt",
        help="checkpoint to write (checked before training, written atomically at the end; "
        "a model file it replaces is kept as MODEL.previous.pt; any other existing file, "
        "or a micrograph's or pick file's name, is refused)",
    )
    parser.add_argument(
        "--steps",
        metavar="N",
        type=int,
        default=defaults["steps"],
        help=f"training steps (default {defaults['steps']})",
    )
    parser.add_argument(
        "--views-per-label",
        type=float,
        default=defaults["views_per_label"],
        metavar="N",
        help=(
            "stop once each pick has been the centre of N training crops on average, so a "
            "few clicks are not over-learned (at most N * picks / (batch-size / 2) steps; "
            "half of N for a new model whose general model already sees the particles; "
            "--mode fewshot: no limit (a frozen body does not over-learn); --mode "
            "continual: the exemplar bank's picks count too; "
            f"0: no such limit; default {defaults['views_per_label']:g})"
        ),
    )
    parser.add_argument(
        "--time-limit",
        default=defaults["time_limit_s"],
        metavar="SECONDS",
        help="wall-clock budget of the whole command (reading the micrographs, training, "
        "the pick threshold); 'auto' (120 s on a CPU, 20 s on a GPU) or 0 for none "
        f"(default {defaults['time_limit_s']}); reading, one training step, the threshold's "
        "pass and saving always run, so a budget of a few seconds is exceeded (by 5-20 s "
        "on a busy 2-core CPU): leave that margin under a cluster job's wall time; the "
        "learning rate follows the time too, so only 0 repeats a training exactly",
    )
    parser.add_argument(
        "--batch-size",
        metavar="N",
        type=int,
        default=defaults["batch_size"],
        help=f"crops per step (default {defaults['batch_size']})",
    )
    parser.add_argument(
        "--crop-size",
        metavar="PX",
        type=int,
        default=defaults["crop_size"],
        help=f"crop side in rescaled pixels (default {defaults['crop_size']})",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=defaults["lr"],
        help=(
            f"peak learning rate (default {defaults['lr']}); a new model started from the "
            "general model's weights (--mode new or joint without --init, the default) "
            "trains at a third of it (1e-3 by default: docs/general-model.md)"
        ),
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (default: a GPU when there is one), cpu, cuda, cuda:1, ...",
    )
    parser.add_argument(
        "--head",
        default="generic",
        help="head to train in fine-tune/continual/few-shot modes; a head is named after its "
        "data set, so this is --dataset by another name (a name the model already holds trains "
        "that head on and adds to its exemplars; a different --dataset is an error)",
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
            "data-set name stored in the model (default: each micrograph's folder as "
            "given, links not followed; folders that name no protein give the name of the "
            "folder above them: micrographs, mics, images, Movies, RELION's jobNNN and "
            "job-type folders, cryoSPARC's JNN, motioncorrected and imported, EPU's Data, "
            "GridSquare_N and Images-DiscN; so --mode "
            "joint over several folders trains one head per folder); the head trained has "
            "this name (--head is the same option)"
        ),
    )
    parser.add_argument(
        "--complete-labels",
        action="store_true",
        help="every particle is labelled: no sparse-label handling",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults["seed"], help="random seed (default %(default)s)"
    )
    group = parser.add_argument_group("training mode (several data sets)")
    group.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help=(
            "new: fresh model; joint: several data sets, one head each + generic; "
            "finetune: continue on new data (forgets); continual: new data + exemplars of "
            "the old data sets with distillation; fewshot: a new head only, body frozen. "
            "Default: new; with --init, continual when the model holds data sets this run "
            "does not train (they are kept), else finetune"
        ),
    )
    group.add_argument(
        "--exemplars",
        type=int,
        default=continual["max_exemplars"],
        metavar="N",
        help=f"labelled particles kept per data set in the model file "
        f"(default {continual['max_exemplars']})",
    )
    group.add_argument(
        "--distill-weight",
        metavar="W",
        type=float,
        default=continual["distill_weight"],
        help=f"continual: distillation weight (default {continual['distill_weight']})",
    )
    group.add_argument(
        "--reg-weight",
        metavar="W",
        type=float,
        default=continual["reg_weight"],
        help=f"continual: parameter-drift weight (default {continual['reg_weight']})",
    )
    group.add_argument(
        "--replay-fraction",
        metavar="F",
        type=float,
        default=continual["replay_fraction"],
        help=f"continual: share of batches from the exemplar bank "
        f"(default {continual['replay_fraction']})",
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=int,
        default=0,
        help="CPU threads for torch (default 0: torch's choice, or on a machine busy with "
        "other jobs the cores they leave, said in a note)",
    )
    parser.set_defaults(func=run)


def _time_limit(text: str) -> float | str | None:
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise CLIError(f"--time-limit must be seconds, 'auto' or 0, got {text!r}") from None
    if not 0 <= value < float("inf"):  # (inf was refused only after reading everything)
        raise CLIError(f"--time-limit must be >= 0 seconds (0: no limit), got {text}")
    return None if value == 0 else value


def _budget_text(limit: float | str | None, device: str) -> str:
    """`` or 120 s, whichever ends first`` for the summary line ("" without a limit)."""
    if limit is None:
        return ""
    if limit == "auto":
        from napari_cryopick.core.training import TrainConfig, resolve_time_limit

        limit = resolve_time_limit(TrainConfig(device=device))
        if limit is None:
            return ""
    return f" or {float(limit):g} s, whichever ends first"


def _steps_text(args: argparse.Namespace, mode: str, n_labels: int) -> str:
    """``1000 steps``, or the fewer steps ``--views-per-label`` allows for these picks."""
    if not args.views_per_label:
        return f"{args.steps} steps"
    if mode == "continual":
        # its exemplars' picks count too, known once the bank is read (a CLI trial read
        # "1000 steps" here and "of at most 915 steps" at the end)
        return (
            f"up to {args.steps} steps (fewer for few picks: {args.views_per_label:g} crops "
            "per pick, the earlier data sets' exemplars replayed counted)"
        )
    from napari_cryopick.core.continual import train_config_for_mode
    from napari_cryopick.core.training import TrainConfig, label_step_limit

    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, views_per_label=args.views_per_label
    )
    steps = label_step_limit(train_config_for_mode(mode, config), n_labels)
    if steps >= args.steps:
        return f"{args.steps} steps"
    # a new model from a general model that already sees the particles takes half the crops
    # (known after the starting model's pass over the clicks)
    return (
        f"up to {steps} steps ({args.views_per_label:g} crops per pick; half as many if the "
        "starting model already finds your clicks)"
    )


def _known_diameters(init: str | None) -> dict[str, float]:
    """``{data set: diameter px}`` of the starting model's data sets (``--init``)."""
    if init is None:
        return {}
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.core.model.card import ModelCard

    try:
        model, metadata = load_checkpoint(init)
    except (ValueError, OSError):
        return {}  # refused, with its reason, where it is used
    card = ModelCard.of_model(model, metadata)
    return {d.name: float(d.diameter_px) for d in card.datasets if d.diameter_px}


def _named(args: argparse.Namespace) -> str | None:
    """The data set the options name (``--dataset``, or a ``--head`` other than the
    generic one); None: the folder names choose it."""
    return args.dataset or (args.head if args.head and args.head != "generic" else None)


def _default_adapt_mode(args: argparse.Namespace, request: Any, metadata: Any) -> Any:
    """``--init`` without ``--mode``: ``continual`` when the model holds data sets this run
    does not train (a new protein: they are kept), else ``finetune`` (more clicks of the
    data sets it holds, or a general model's start), said. A continual trial's
    ``--init ribosome.pt`` on β-gal clicks fine-tuned by default: the ribosome went from
    AP 0.81 to 0.00; continual kept it at 0.81."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import recipe_heads

    names = {str(s.name) for s in request.datasets}
    # the user's data sets, not the general model's recipe ones (a review: a model adapted
    # from the general model counted as the general model, so its user's data sets were
    # fine-tuned away by default)
    card = ModelCard.from_metadata(metadata or {})
    recipe = set(recipe_heads(card))
    held = [d.name for d in card.datasets if d.name not in recipe]
    others = [name for name in held if name not in names]
    mode = "continual" if others else "finetune"
    _refuse_continual_options(args, mode)
    if others:
        print(
            f"--init without --mode: continual, which keeps the data sets of {args.init} "
            f"this run does not train ({', '.join(others)}); --mode finetune retrains the "
            "whole model on this one"
        )
    return dataclasses.replace(request, mode=mode)


def _refuse_resized_dataset(
    args: argparse.Namespace, request: Any, metadata: Any, mode: str
) -> None:
    """Refuse to train a data set of ``--init`` at a particle size more than 25 % from the
    one it was trained at: another protein under its name. Only the folder names chose
    it (a CLI trial's EPU ``Data`` folders: a ribosome fine-tuned the whole β-gal model,
    whose picks fell from F1 0.84 to 0.16, after a warning only), or the user named it
    (``--dataset``, ``--head``, napari's Data set: a continual trial's apoferritin given
    β-gal's name, 62 px for 108, replaced β-gal). ``--allow-resize`` trains as asked."""
    if args.allow_resize:
        return
    from napari_cryopick.workflows.train import resized_datasets

    named = bool(_named(args) or args.annotations)
    several = len(request.datasets) > 1
    for name, (old, new, unit) in resized_datasets(metadata, request.datasets).items():
        if named:
            # named (--dataset, --head, napari's Data set): a continual trial's apoferritin
            # given β-gal's name replaced β-gal's head (AP 0.80 to 0.00) after a warning
            raise CLIError(
                f"data set {name!r} is in {args.init}, trained at {old:.0f} {unit}; this "
                f"run's particles are {new:.0f} {unit} ({abs(new / old - 1):.0%} apart): "
                f"another protein under its name? Training would make {name!r} a "
                f"{new:.0f} {unit} data set and pick its micrographs poorly. Give another "
                f"--dataset name for another protein, or --allow-resize if the particles "
                f"of {name!r} really are {new:.0f} {unit} now (micrographs binned otherwise, a "
                "diameter corrected)"
            )
        # (unnamed in continual or few-shot: refused whatever the size, below)
        if mode in ("finetune", "joint"):
            how = f"--mode {mode}" if args.mode else "--init without --mode"
            # (--dataset names every micrograph of a run: with several data sets, the
            # advice of one merged them, a review)
            retrain = (
                "--allow-resize to retrain it at the new size (train each folder in a run of "
                "its own to name one)"
                if several
                else f"--dataset {name} --allow-resize to retrain it at the new size"
            )
            raise CLIError(
                f"data set {name!r} (from the folder names) is in {args.init}, trained at "
                f"{old:.0f} {unit}; these micrographs' particles are {new:.0f} {unit}: "
                f"another protein? {how} would train the whole model on them and lose "
                f"{name!r} as it is. Give --dataset NAME to add another protein (continual "
                f"keeps {name!r}), or {retrain}"
            )


def _refuse_unnamed_retraining(args: argparse.Namespace, mode: str, request: Any) -> None:
    """Refuse to retrain a data set of ``--init`` that only the folder names chose.

    ``--mode continual`` or ``fewshot`` on a data set the model holds retrains its head
    on this run's micrographs alone: right for more clicks of the same protein, and a
    wiped protein for another one whose folder has the same name (a trial's apoferritin
    and ribosome folders were both ``mics_train``: apoferritin's AP fell from 0.60 to
    0.01, after a warning the progress bar followed). Named with ``--dataset`` (or
    ``--head``), or from napari's annotations (``--annotations``: their Data set), it
    trains as asked. Without ``--init`` the bundled general model is the one retrained
    (a trial's folder ``empiar10028_ribosome`` retrained its head of that name, 865
    labels on 10 micrographs, on 59 clicks of 3, with a warning only).
    """
    if mode not in ("continual", "fewshot"):
        return
    if _named(args) or args.annotations:
        return  # named by the user (--annotations: Annotate's Data set names them)
    from napari_cryopick.core.model.bundled import bundled_model_path
    from napari_cryopick.core.model.checkpoint import metadata_datasets, read_checkpoint

    start = args.init if args.init is not None else bundled_model_path()
    try:  # (read once: its data sets here, their sizes below)
        metadata = read_checkpoint(start).get("metadata") or {}
    except (OSError, ValueError):
        metadata = {}
    held = set(metadata_datasets(metadata))
    clash = [str(s.name) for s in request.datasets if str(s.name) in held]
    if clash:
        name = clash[0]
        model = args.init if args.init is not None else "the bundled general model"
        sets = [str(s.name) for s in request.datasets]
        if len(sets) > 1:
            # --dataset names every micrograph of a run: a continual trial followed the
            # one-set advice with two sessions and trained apoferritin into the ribosome
            # head (its diameter changed to apoferritin's, apoferritin not in the model)
            raise CLIError(
                f"data set {name!r} (from the folder names) is already in {model}, and "
                f"these micrographs are of {len(sets)} data sets by their folders "
                f"({', '.join(sets)}): --mode {mode} would retrain {name!r}'s head on its "
                "micrographs alone, so another protein of that folder name would replace "
                f"it. Train each folder in a run of its own: --dataset {name} to retrain "
                f"{name!r} (more clicks of the same protein), --dataset NAME for another "
                "protein (--dataset names every micrograph of a run)"
            )
        from napari_cryopick.workflows.train import resized_datasets

        other = resized_datasets(metadata, request.datasets, keep_recipe=True).get(name)
        if other is not None:
            # (a trial followed "give --dataset bgal" with apoferritin's micrographs and
            # met the size refusal next: the sizes say which advice fits)
            old, new, unit = other
            raise CLIError(
                f"data set {name!r} (from the folder names) is already in {model}, trained "
                f"at {old:.0f} {unit}; these micrographs' particles are {new:.0f} {unit}: "
                f"another protein under its name? Give --dataset NAME to add it as a data "
                f"set of its own (--dataset {name} --allow-resize retrains {name!r} at the "
                "new size)"
            )
        raise CLIError(
            f"data set {name!r} (from the folder names) is already in {model}: --mode "
            f"{mode} would retrain its head on these micrographs alone, so another protein "
            f"would replace it; give --dataset {name} to retrain it (more clicks of the same "
            "protein), or --dataset NAME to add another protein"
        )


def _refuse_empty_names(args: argparse.Namespace) -> None:
    """Refuse an empty ``--dataset`` or ``--head``: it would silently fall back to the
    folder's name; and one with spaces around it or a path separator (a CLI trial's
    ``" bgal"`` and ``"a/b"`` made heads no folder name ever selects). Any other text
    names a head (``train``, ``eval``, ``a.b`` included: the model keys its heads apart
    from their names)."""
    for option, given in (("--dataset", args.dataset), ("--head", args.head)):
        if given is None:
            continue
        if not given.strip():
            raise CLIError(f"{option} must name the data set, got an empty name")
        if given != given.strip():
            raise CLIError(f"{option} {given!r}: a name with spaces around it (a typo?)")
        if "/" in given or "\\" in given:
            raise CLIError(
                f"{option} {given!r}: a data set's name is one word of a folder's name, "
                "without / or \\ (picking selects a head by the micrographs' folder)"
            )


def _refuse_to_lose_out_datasets(
    out: Any, mode: str, request: Any, *, given_mode: bool = True, init: Any = None
) -> None:
    """Refuse a run that would write over a model of data sets the new model would not
    know (:func:`napari_cryopick.workflows.train.datasets_lost_by_writing`: a
    continual-learning trial forgot ``--init`` with ``--out`` its ribosome and beta-gal
    model; a later trial did so with the default mode, a new model; an ``--init`` of
    another model than ``--out``'s too). ``given_mode``: ``--mode`` was given (said as
    such; else the default)."""
    from napari_cryopick.core.text import name_list
    from napari_cryopick.workflows.train import datasets_lost_by_writing

    held, lost = datasets_lost_by_writing(
        dataclasses.replace(request, out=out, mode=mode, base_model=init)
    )
    if not lost:
        return
    adapted = mode in ("continual", "fewshot", "finetune")
    if init is not None:
        how = f"the model trained from {init} does not hold them all"
        advice = f"continue {out} itself with --init {out}"
    else:
        how = (
            f"--mode {mode} without --init starts from the bundled general model"
            if given_mode and adapted
            else f"{f'--mode {mode}' if given_mode else 'this run'} without --init trains a "
            "new model"
        )
        advice = f"add to it with --init {out}"
    raise CLIError(
        f"{out} holds a model of {len(held)} data set(s) ({name_list(held, 5)}); {how}, "
        f"so the model written there would not know {name_list(lost, 5)}: {advice}, or "
        f"write elsewhere (--out), or move {out} away first to replace it"
    )


def _refuse_to_lose_previous(out: Any, request: Any, init: Any = None) -> None:
    """Refuse a run whose writing of ``out`` would replace the earlier version kept beside
    it when that holds the only copy of a data set among it, ``out`` and the new model
    (:func:`napari_cryopick.workflows.train.datasets_lost_with_previous`: a trial's
    apoferritin, left only in ``X.previous.pt`` by a New model, went with the next
    training into ``X.pt``)."""
    from napari_cryopick.core.text import name_list
    from napari_cryopick.workflows.train import datasets_lost_with_previous

    previous, lost = datasets_lost_with_previous(
        dataclasses.replace(request, out=out, base_model=init)
    )
    if not lost:
        return
    raise CLIError(
        f"{previous}, the earlier version kept of {out}, holds the only copy of "
        f"{name_list(lost, 5)} (neither {out} nor the model this run writes knows it), and "
        f"writing {out} replaces it: copy or rename {previous} first to keep it, or write "
        "elsewhere (--out)"
    )


def _warn_unlabelled_corrections(request: Any) -> None:
    """Name the training micrographs whose picks napari corrected (picks deleted, added or
    moved in the Pick widget) without making the corrections training labels: they are
    kept beside the micrograph for napari, not learned (a trial: the Train widget named
    them, cryopick train on the same micrographs said nothing)."""
    from napari_cryopick.core.text import name_list
    from napari_cryopick.io.recovery import corrections_kept

    names = []
    for training_set in request.datasets:
        for micrograph in training_set.micrographs:
            path = getattr(micrograph, "path", micrograph)
            if isinstance(path, (str, os.PathLike)) and corrections_kept(path):
                names.append(Path(path).stem)
    if names:
        print(
            f"cryopick train: warning: napari holds corrections of {name_list(names, 5)} "
            "(picks deleted or added in the Pick widget) that were never made training "
            "labels: they are not learned; open the micrograph(s) in napari and press Use as "
            "training labels, then train with --annotations",
            file=sys.stderr,
        )


def _warn_relion_tiff(items: list, flipped: bool) -> None:
    """Say when picks come from a RELION index of TIFF micrographs: their y counts from the
    image's last row (a convention review trained on them mirrored; only the general
    model's check caught it, for proteins it sees)."""
    from napari_cryopick.io.formats.star import RELION_TIFF_Y, relion_tiff_indexes

    if flipped:
        return
    for index, example in relion_tiff_indexes(items):
        print(
            f"cryopick train: warning: {index} is a RELION index of TIFF micrographs (e.g. "
            f"{example}): {RELION_TIFF_Y}; train on its TIFF micrographs' picks with "
            "--flip-y (in a run of their own: it mirrors every file)",
            file=sys.stderr,
        )


#: The largest --crop-size taken (rescaled pixels: particles span about 28 there, so a
#: 4096 px micrograph of 100 px particles is about 1150): a trial's 100000 asked for 37 GiB.
MAX_CROP_SIZE = 4096


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse out-of-range numbers by their options, before any micrograph is read (a CLI
    trial: ``--replay-fraction 2`` was refused after reading as ``replay_fraction``, and
    ``--distill-weight nan`` trained until "the loss became nan (learning rate too high?)")."""
    if args.steps < 1 or args.batch_size < 1 or not 16 <= args.crop_size <= MAX_CROP_SIZE:
        raise CLIError(
            f"--steps and --batch-size must be >= 1 and --crop-size 16 to {MAX_CROP_SIZE}, "
            f"got {args.steps}, {args.batch_size} and {args.crop_size}"
        )
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise CLIError(f"--lr must be a number > 0, got {args.lr:g}")
    if args.exemplars < 0:
        raise CLIError(f"--exemplars must be >= 0, got {args.exemplars}")
    for option, value in (
        ("--distill-weight", args.distill_weight),
        ("--reg-weight", args.reg_weight),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise CLIError(f"{option} must be a finite number >= 0, got {value:g}")
    if not 0.0 <= args.replay_fraction < 1.0:
        raise CLIError(f"--replay-fraction must lie in [0, 1), got {args.replay_fraction:g}")


def _refuse_continual_options(args: argparse.Namespace, mode: str) -> None:
    """Continual learning's own options given to another mode are refused, as ``--init``
    with ``--mode new`` is (a CLI trial's ``--mode fewshot --replay-fraction 0.3`` and
    ``--mode new --distill-weight 5`` trained without them, unsaid)."""
    if mode == "continual":
        return
    defaults = dataclass_defaults("napari_cryopick.core.continual", "ContinualConfig")
    given = [
        option
        for option, key in (
            ("--distill-weight", "distill_weight"),
            ("--reg-weight", "reg_weight"),
            ("--replay-fraction", "replay_fraction"),
        )
        if getattr(args, key) != defaults[key]
    ]
    if given:
        raise CLIError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} used by --mode "
            f"continual only (this training is {mode}): leave "
            f"{'it' if len(given) == 1 else 'them'} out, or give --mode continual"
        )


def request_from_args(args: argparse.Namespace):
    """The :class:`~napari_cryopick.workflows.train.TrainRequest` of the parsed options."""
    from napari_cryopick import __version__
    from napari_cryopick.workflows.inputs import training_sets_from_files
    from napari_cryopick.workflows.train import TrainRequest

    _check_numbers(args)
    if args.views_per_label < 0:
        raise CLIError(f"--views-per-label must be >= 0, got {args.views_per_label:g}")
    _refuse_empty_names(args)
    # A data set trains the head of its name (multi-head modes), so --head names the data
    # set as --dataset does; two different names would silently drop one (a trial's --head
    # foo --dataset bar trained a head bar)
    head = args.head if args.head != "generic" else None
    if head and args.dataset and head != args.dataset:
        raise CLIError(
            f"--head {head} and --dataset {args.dataset} disagree: a training trains the head "
            "of its data set, named after it; give one of them"
        )
    named = args.dataset or head
    _warn_relion_tiff([*args.picks, *(args.negatives or [])], args.flip_y)
    sets, picks = training_sets_from_files(
        args.micrographs,
        args.picks,
        negatives=args.negatives,
        diameter_px=args.diameter,
        diameter_A=args.diameter_A,
        pixel_size_A=args.pixel_size,
        dataset=named,
        picks_binning=args.picks_binning,
        kind=args.kind,
        flip_y=args.flip_y,
        annotations=args.annotations,
        known_diameters=_known_diameters(args.init),
    )
    # given, or measured at each micrograph's pixel size where they differ (one for all)
    return TrainRequest(
        datasets=sets,
        out=args.out,
        mode=args.mode,
        base_model=args.init,
        train_options={
            "steps": args.steps,
            "batch_size": args.batch_size,
            "crop_size": args.crop_size,
            "lr": args.lr,
            "sparse": not args.complete_labels,
            "seed": args.seed,
            "views_per_label": args.views_per_label or None,
        },
        continual_options={
            "max_exemplars": args.exemplars,
            "distill_weight": args.distill_weight,
            "reg_weight": args.reg_weight,
            "replay_fraction": args.replay_fraction,
        },
        time_limit_s=_time_limit(args.time_limit),
        device=args.device,
        refuse_mirrored=not args.allow_mirrored,
        run_info={
            "tool": f"napari-cryopick {__version__}",
            "micrographs": [n for s in sets for n in (s.names or [])],
            "picks": int((picks["kind"] != "negative").sum()) if len(picks) else 0,
            # a pixel size given (the headers wrong): picking does not trust the headers'
            **({"pixel_size_A": float(args.pixel_size)} if args.pixel_size else {}),
        },
    ), picks


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick train``; returns the exit code."""
    from napari_cryopick.cli import command_started

    started = command_started()  # the time budget counts the command's own start-up too
    import numpy as np

    from napari_cryopick.core.progress import drive
    from napari_cryopick.workflows.train import (
        MirroredClicksError,
        TrainOutputError,
        check_writable,
        resolve_mode,
        steps_cut_short,
        train,
        training_notes,
    )

    if args.threads < 0:
        raise CLIError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    _time_limit(args.time_limit)  # a bad budget is refused before reading any micrograph
    _check_numbers(args)
    _refuse_empty_names(args)
    try:
        check_writable(args.out)  # before reading any micrograph
    except OSError as error:
        raise CLIError(str(error.strerror or error)) from None
    if args.init is not None and args.mode == "new":  # it was ignored without a word
        raise CLIError(
            "--init is not used by --mode new (a fresh model, started from the general "
            "model's weights): leave out --mode to train from it (continual when it holds "
            "other data sets, else a fine-tune), or give --mode finetune, continual, fewshot "
            "or joint"
        )
    # (the request's resolved_mode, known before any micrograph is read; --init without
    # --mode is decided by the data sets, below)
    if args.mode is not None or args.init is None:
        _refuse_continual_options(args, resolve_mode(args.mode, args.init is not None))
    starting, starting_metadata = None, None
    if args.init is not None:  # a bad starting model is refused before reading micrographs
        from napari_cryopick.core.model import load_checkpoint

        starting, starting_metadata = load_checkpoint(args.init)
    request, picks = request_from_args(args)
    if args.init is not None and args.mode is None:
        request = _default_adapt_mode(args, request, starting_metadata)
    if args.init is not None:  # (the general model's recipe sets: resized_datasets skips)
        _refuse_resized_dataset(args, request, starting_metadata, request.resolved_mode)
    if starting is not None:  # picks of none of its kinds: refused before "training ..."
        from napari_cryopick.workflows.train import check_usable_labels

        kinds = tuple(getattr(starting.config, "kinds", ("particle",)))
        for training_set in request.datasets:
            try:
                check_usable_labels(training_set, kinds, f"the model {args.init}")
            except ValueError as error:
                raise CLIError(str(error)) from None
        del starting  # (the workflow loads it again: not held twice while training)
    if not args.threads and not str(args.device).startswith("cuda"):
        # a trial at load 6: 11 steps in 45 s with torch's threads, 143 with --threads 1;
        # said after the options and inputs are checked, never above an error
        from napari_cryopick.cli._pick import say_busy_machine

        threads = say_busy_machine(gpu_possible=args.device == "auto")
        if threads:  # (as the note says)
            import torch

            torch.set_num_threads(threads)
    request = dataclasses.replace(request, started_at=started)
    mode = request.resolved_mode
    _refuse_unnamed_retraining(args, mode, request)
    # (a new model too: a continual trial's forgotten --init replaced its three-protein
    # model, and a second forgotten one its .previous.pt, with a note only)
    _refuse_to_lose_out_datasets(
        args.out, mode, request, given_mode=args.mode is not None, init=args.init
    )
    _refuse_to_lose_previous(args.out, request, init=args.init)
    _warn_unlabelled_corrections(request)
    if args.init is None and mode in ("continual", "fewshot", "finetune"):
        print(f"--mode {mode} without --init: starting from the bundled general model")
    elif args.init is None and mode == "joint":
        print(
            "--mode joint without --init: a new model started from the general model's "
            "weights, a head for each data set"
        )
    diameters = [d for s in request.datasets for d in s.diameter_px]  # type: ignore[union-attr]
    n_labels = request.run_info["picks"]
    n_negatives = int((picks["kind"] == "negative").sum()) if len(picks) else 0
    n_micrographs = sum(len(s.micrographs) for s in request.datasets)
    low, high = float(min(diameters)), float(max(diameters))
    size = (
        f"diameter {float(np.median(diameters)):.1f} px"
        if high - low < 0.05
        else f"diameters {low:.1f}-{high:.1f} px (each micrograph's)"
    )
    # the data set the picks train (its head, and the folders picked with it later), said:
    # a CLI trial's "apo/mics" was data set "apo" unsaid (only cryopick info showed it)
    names = sorted({str(s.name) for s in request.datasets})  # type: ignore[union-attr]
    chosen = "" if _named(args) else " (from the folder names; --dataset NAME to choose)"
    print(
        f"training ({mode}) on {n_micrographs} micrograph(s) of data set"
        f"{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}{chosen}, "
        f"{n_labels} picks, {n_negatives} negatives, {size}, "
        f"{_steps_text(args, mode, n_labels)}{_budget_text(request.time_limit_s, request.device)}"
    )
    try:
        outcome = drive(train(request), progress_bar=True, description=f"training ({mode})")
    except MirroredClicksError as error:  # a refusal: exit 2 with -v too, no traceback
        raise CLIError(str(error)) from None
    except TrainOutputError as error:
        print(f"cryopick train: error: {error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (a job's wall time)
        kept = "left as it was" if Path(args.out).exists() else "not written"
        print(
            f"cryopick train: stopped before the end of training: {args.out} is {kept} "
            "(a model is written only when training finishes; --time-limit bounds it)",
            file=sys.stderr,
        )
        raise
    from napari_cryopick.core.continual import LOSS_TAIL_STEPS

    tail = [h["total"] for h in outcome.history[-LOSS_TAIL_STEPS:] if "total" in h]
    loss = float(np.mean(tail)) if tail else float("nan")
    cut = steps_cut_short(outcome)
    ended = (
        f", the time limit ended it after {cut[0]} of at most {cut[1]} steps"
        if cut is not None
        else ""
    )
    print(
        f"trained {len(outcome.history)} steps in {outcome.seconds:.1f} s{ended} "
        f"(loss {loss:.3f}{_loss_terms(outcome.history[-LOSS_TAIL_STEPS:])}, the mean of "
        f"the last {min(len(tail), LOSS_TAIL_STEPS)} steps, as cryopick info shows) -> "
        f"{outcome.path}"
    )
    for note in training_notes(outcome, n_labels):
        print(f"note: {note}")
    own = (outcome.metadata.get("history") or [{}])[-1].get("head_calibration") or {}
    if outcome.pick_threshold is not None:
        print(
            f"picks{' unseen data (generic head)' if own else ''} at threshold "
            f"{outcome.pick_threshold:.3g} by default (best F2 on the training clicks, never "
            "above the default, lower the sparser the clicks: F2 weighs recall, expect more "
            "picks than particles; 'cryopick pick --threshold' overrides, 'cryopick evaluate' "
            "on fully picked micrographs prints the best-F1 one)"
        )
    thresholds = {h: v["pick_threshold"] for h, v in own.items() if "pick_threshold" in v}
    if thresholds:  # a joint run: each data set's head calibrated on its own clicks
        each = ", ".join(f"{head} {value:.3g}" for head, value in thresholds.items())
        print(f"each data set's micrographs pick with its own head at its own threshold: {each}")
    default_border = dataclass_defaults("napari_cryopick.core.detect", "PickConfig")["border"]
    if outcome.pick_border is not None and outcome.pick_border < default_border:
        print(
            f"keeps picks from {outcome.pick_border:.2g} diameters of the micrograph's edge "
            f"on (you clicked particles that close to it; the default is {default_border:g}; "
            "'cryopick pick --border' overrides)"
        )
    trained = request.run_info.get("micrographs") or []
    print(f"next: {_next_command(args.micrographs, outcome.path, trained)}")
    relion = _relion_lists(args.micrographs)
    if relion:
        # a RELION trial was told the pick command above, whose flat files Extract does
        # not read as a picking job's
        print(
            f"  in RELION: an External job running '{_program()} relion' on {relion[0]} "
            f"with the Params label 'model', value {Path(outcome.path).resolve()} (it writes "
            "the picking job Extract reads: docs/pipelines.md, 'RELION: an External job')"
        )
    return EXIT_OK


#: The detection loss's own terms; the others are the mode's (continual's distillation...).
DETECTION_TERMS = ("heatmap", "offset", "size")


def _loss_terms(tail: list[dict]) -> str:
    """``": detection 2.29 + distill 5.10 + ..."`` when the mode adds terms to the
    detection loss (a trial read a continual run's "loss 9.919" against a new model's
    2.29, unexplained); "" otherwise."""
    import numpy as np

    if not tail:
        return ""
    extra = sorted(
        {k for h in tail for k, v in h.items() if isinstance(v, float)}
        - {"lr", "total", *DETECTION_TERMS}
    )
    if not extra:
        return ""

    def mean(keys: tuple[str, ...]) -> float:
        return float(np.mean([sum(h.get(k, 0.0) for k in keys) for h in tail]))

    parts = [f"detection {mean(DETECTION_TERMS):.3f}"]
    parts += [f"{key} {mean((key,)):.3f}" for key in extra]
    return ": " + " + ".join(parts)


def _next_command(micrographs: list[Path], model: Path, trained: Iterable[str] = ()) -> str:
    """The ``cryopick pick`` command for the rest of the data set (a micrograph's folder).

    Where every micrograph the inputs hold was trained on (``trained``: their names), the
    inputs are a placeholder, ``MICROGRAPHS``, said after the command: a CLI trial trained
    on a folder of its three clicked micrographs and was told to pick that folder, the
    training micrographs alone."""
    import shlex

    from napari_cryopick.core.text import name_list
    from napari_cryopick.io.paths import MICROGRAPH_LIST_SUFFIXES, micrograph_files

    inputs: list[str] = []
    for entry in map(Path, micrographs):
        # folders and micrograph lists (.cs, .star, a .txt of paths) as given; a micrograph
        # stands for its folder (a re-trial's list.txt was told "pick lists/")
        listed = (*MICROGRAPH_LIST_SUFFIXES, ".txt")
        source = entry.parent if entry.is_file() and entry.suffix.lower() not in listed else entry
        if str(source) not in inputs:
            inputs.append(str(source))
    # a folder of the model's own: a second model's command into "picks" wrote over the
    # first one's picks (said only as it did, a round-trip trial)
    out = f"picks_{Path(model).stem}"
    only_trained = False
    if trained:
        try:
            found = micrograph_files(inputs)
        except (OSError, ValueError):  # (a list gone meanwhile: the inputs as given)
            found = []
        only_trained = bool(found) and {p.stem for p in found} <= set(trained)
    if only_trained:
        command = shlex.join([_program(), "pick"])
        rest = shlex.join(["--model", str(model), "--out", out])
        return (
            f"{command} MICROGRAPHS {rest} (MICROGRAPHS: the rest of the data set, a folder "
            f"or a micrograph list; every micrograph of {name_list(inputs, 3)} was trained on)"
        )
    return shlex.join([_program(), "pick", *inputs, "--model", str(model), "--out", out])


def _relion_lists(micrographs: list[Path]) -> list[Path]:
    """The RELION micrograph lists among ``micrographs``: STAR files in a job folder
    (``CtfFind/job003/micrographs_ctf.star``)."""
    return [
        Path(m)
        for m in micrographs
        if Path(m).suffix.lower() == ".star"
        and any(re.fullmatch(r"job\d+", part) for part in Path(m).parent.parts)
    ]


def _program() -> str:
    """``cryopick`` as this run was started: the path typed when it is not the one on PATH
    (a trial's ``.venv/bin/cryopick train`` was told ``cryopick pick``, not found outside
    the activated environment)."""
    import shutil

    typed = sys.argv[0] if sys.argv else ""
    if Path(typed).name != "cryopick":
        return "cryopick"
    found = shutil.which("cryopick")
    if found and os.path.realpath(found) == os.path.realpath(typed):
        return "cryopick"
    return typed
