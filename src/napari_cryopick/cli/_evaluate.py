"""``cryopick evaluate``: compare predicted picks with ground truth.

Reads pick files or folders of pick files (any format
:func:`napari_cryopick.io.pickfiles.read_picks` detects; the micrograph name
is the file stem when the format has none, matched to the other side's names
as ``cryopick train`` matches them: ``mic_autopick.star`` -> ``mic``), prints AP at each IoU (and at a
distance tolerance), AR, AUROC, the best F1 / F2 thresholds and per-micrograph
counts, and optionally writes the report as JSON and the PR curves as CSV.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_cryopick.cli import EXIT_OK, CLIError
from napari_cryopick.core.text import name_list

if TYPE_CHECKING:  # pandas is imported when the command runs: --help stays fast
    import pandas as pd


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="precision, recall, AP, AR, AUROC and best F1/F2 threshold of picks against ground truth",
        description=(
            "Evaluate predicted picks against ground-truth picks, matched per micrograph "
            "(see docs/evaluation.md). Paths are pick files or folders of them."
        ),
    )
    parser.add_argument(
        "--pred", nargs="+", type=Path, required=True, metavar="PATH", help="predicted picks"
    )
    parser.add_argument(
        "--truth",
        nargs="+",
        type=Path,
        required=True,
        metavar="PATH",
        help="ground-truth picks (pick files, folders, a cryoSPARC particles .cs)",
    )
    parser.add_argument(
        "--iou",
        nargs="+",
        type=float,
        default=[0.5, 0.6],
        metavar="T",
        help="IoU thresholds for AP (default: 0.5 0.6)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="PX",
        help="also match by centre distance <= PX; it then sets the F1/F2 thresholds "
        "(fibers: default half the fiber width, else half --diameter)",
    )
    parser.add_argument(
        "--diameter",
        type=float,
        default=None,
        metavar="PX",
        help="particle diameter for picks whose file has none (needed for IoU)",
    )
    parser.add_argument(
        "--kind",
        choices=("particle", "vesicle", "fiber"),
        default=None,
        help="score only the objects of this kind on both sides (default: every kind)",
    )
    from napari_cryopick.workflows.pick import PICK_FORMATS

    # a fixed list, as pick, filter and export offer it (a docs trial: free text here)
    for side, what in (("pred", "prediction"), ("truth", "ground-truth")):
        parser.add_argument(
            f"--{side}-format",
            default=None,
            choices=PICK_FORMATS,
            help=f"format of the {what} files (default: from each file's suffix and content)",
        )
    for side, what in (("pred", "prediction"), ("truth", "ground-truth")):
        parser.add_argument(
            f"--{side}-binning",
            type=float,
            default=1.0,
            metavar="F",
            help=f"the {what} files' coordinates are of micrographs binned F times (e.g. "
            "Topaz run with -s F); they are scaled to the original pixels (default 1)",
        )
    for side, what in (("pred", "prediction"), ("truth", "ground-truth")):
        parser.add_argument(
            f"--{side}-flip-y",
            type=float,
            default=None,
            metavar="HEIGHT",
            help=f"mirror the {what} files' y on micrographs HEIGHT pixels high (original "
            "pixels): files written with the origin at the bottom (EMAN .box, a flipped "
            "export; evaluate reads no micrographs, so it needs the height)",
        )
    parser.add_argument(
        "--extra-micrographs",
        choices=("ignore", "false-positive", "error"),
        default="ignore",
        help="predictions on micrographs absent from the ground truth (default: ignore, with a warning)",
    )
    parser.add_argument(
        "--recursive",
        action="store_true",
        help="search the folders below the named ones too, at any depth (cryopick pick "
        "of a RELION or cryoSPARC list writes one folder per micrograph folder); "
        "micrograph names must then be unique across them",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT", help="write the report as JSON"
    )
    parser.add_argument(
        "--pr-curve", type=Path, default=None, metavar="OUT", help="write the PR curves as CSV"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --json / --pr-curve file that no earlier cryopick "
        "evaluate wrote (an input pick file is never replaced)",
    )
    parser.set_defaults(func=run)


def _pick_files(
    paths: list[Path], what: str, format: str | None = None, recursive: bool = False
) -> list[Path]:
    """The pick files of ``paths``; with ``format``, a folder gives only files of that format.

    (A folder a picker wrote in several formats holds each micrograph's picks
    once per format: ``--pred-format star`` chooses the STAR files.) ``recursive``:
    the folders below the named ones too (``--recursive``).
    """
    from napari_cryopick.io.paths import pick_files
    from napari_cryopick.io.pickfiles import FORMATS
    from napari_cryopick.workflows.batch import expand_run_folders

    # a cryopick run's folder whose files lie in sub-folders: taken whole, as its manifest
    # records them (as filter and cryosparc export take it)
    expanded = list(paths) if recursive else expand_run_folders(paths)
    from_runs = {Path(p) for p in expanded} - {Path(p) for p in paths}
    try:
        found = pick_files(expanded, recursive=recursive, recursive_option="--recursive")
        found = [(path, in_folder or path in from_runs) for path, in_folder in found]
    except FileNotFoundError:
        missing = next(p for p in paths if not Path(p).exists())
        raise CLIError(f"{missing}: {what} file or folder does not exist") from None
    _warn_relion_tiff([path for path, _ in found], what)
    if format is None or format not in FORMATS:
        return [path for path, _ in found]
    suffixes = {suffix.lower() for suffix in FORMATS[format].SUFFIXES}
    chosen = [path for path, in_folder in found if not in_folder or path.suffix.lower() in suffixes]
    if not chosen:
        raise CLIError(
            f"{', '.join(map(str, paths))}: no {format} files ({', '.join(sorted(suffixes))}) "
            f"among the {what} files"
        )
    return chosen


def _warn_relion_tiff(files: list[Path], what: str) -> None:
    """Warn when a RELION coordinate index lists TIFF micrographs: RELION counts their y
    from the image's last row (it reads TIFF flipped), napari and Topaz (and cryopick pick) from its
    first, so its picks compared with other files' come out far apart (a trial: AP 0.004
    for a good job, unsaid)."""
    from napari_cryopick.io.formats.star import RELION_TIFF_Y, relion_tiff_indexes

    for path, example in relion_tiff_indexes(files)[:1]:
        print(
            f"cryopick evaluate: warning: {path} ({what}) is a RELION index of TIFF "
            f"micrographs (e.g. {example}): {RELION_TIFF_Y}; compare it only with "
            "files of RELION's convention",
            file=sys.stderr,
        )


def read_pick_files(
    paths: list[Path],
    what: str,
    format: str | None = None,
    names: set[str] | None = None,
    binning: float = 1.0,
    recursive: bool = False,
) -> pd.DataFrame:
    """Read pick files (folders expand to their pick files) into one table.

    ``names``: micrograph names per-micrograph files are matched to, as
    ``cryopick train`` matches them (``mic_autopick.star`` -> ``mic``;
    :func:`napari_cryopick.io.pickfiles.match_micrograph`). Two files with
    picks of one micrograph name are refused, naming both.
    """
    return read_pick_files_and_names(paths, what, format, names, binning, recursive)[0]


def read_pick_files_and_names(
    paths: list[Path],
    what: str,
    format: str | None = None,
    names: set[str] | None = None,
    binning: float = 1.0,
    recursive: bool = False,
) -> tuple[pd.DataFrame, set[str]]:
    """:func:`read_pick_files`, and the micrographs the files are of, those of files
    without picks too (:func:`napari_cryopick.io.pickfiles.read_pick_files_and_names`)."""
    from napari_cryopick.io import pickfiles

    files = _pick_files(paths, what, format, recursive)
    return pickfiles.read_pick_files_and_names(files, format, names=names, binning=binning)


def _read_both(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Predictions, ground truth (each side's per-micrograph files matched to the other's
    names) and the micrographs predicted on: those of the prediction rows and those of
    prediction files without picks (``cryopick pick`` found nothing there)."""
    for option, value in (
        ("--pred-binning", args.pred_binning),
        ("--truth-binning", args.truth_binning),
        ("--pred-flip-y", args.pred_flip_y),
        ("--truth-flip-y", args.truth_flip_y),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise CLIError(f"{option} must be > 0, got {value:g}")
    below = args.recursive
    truth = read_pick_files(
        args.truth, "ground-truth", args.truth_format, binning=args.truth_binning, recursive=below
    )
    truth_names = set(truth["micrograph"].astype(str))
    pred, picked = read_pick_files_and_names(
        args.pred, "prediction", args.pred_format, truth_names, args.pred_binning, below
    )
    pred_names = set(pred["micrograph"].astype(str))
    if truth_names - pred_names and pred_names:
        # e.g. the truth as RELION *_manualpick.star files, the predictions in one STAR file
        truth = read_pick_files(
            args.truth, "ground-truth", args.truth_format, pred_names, args.truth_binning, below
        )
    from napari_cryopick.core.pick_table import flip_y

    if args.pred_flip_y is not None:
        pred = flip_y(pred, args.pred_flip_y)
    if args.truth_flip_y is not None:
        truth = flip_y(truth, args.truth_flip_y)
    for table, side in ((pred, "prediction"), (truth, "ground-truth")):
        _warn_off_image(table, side)
    return pred, truth, picked


def _warn_off_image(table: pd.DataFrame, what: str) -> None:
    """Warn of picks at negative coordinates, off any micrograph: ``evaluate`` reads no
    micrographs, so it cannot drop them (a robustness trial's truth picks at x = -50
    counted as 5 particles every picker misses, unsaid). Picks within a pixel of the edge
    are left alone."""
    if not len(table):
        return
    x = table["x"].to_numpy(float)
    y = table["y"].to_numpy(float)
    off = (x < -1.0) | (y < -1.0)
    if off.any():
        names = table.loc[off, "micrograph"].astype(str)
        print(
            f"cryopick evaluate: warning: {int(off.sum())} {what} pick(s) lie at negative "
            f"coordinates, off the micrograph (e.g. x={x[off][0]:g}, y={y[off][0]:g} on "
            f"{names.iloc[0]}): they count as they are; check the file's convention "
            "(binning, y flip, box corner or centre)",
            file=sys.stderr,
        )


def _empty_in_truth(args: argparse.Namespace, pred: pd.DataFrame, truth: pd.DataFrame) -> set[str]:
    """The micrographs predicted on whose ground-truth file holds no picks.

    Such a file says the micrograph has no particle: predictions there are false
    positives, not predictions on a micrograph absent from the ground truth
    (ignored by default), which would raise precision and AP (a review).
    """
    candidates = set(pred["micrograph"].astype(str)) - set(truth["micrograph"].astype(str))
    if not candidates:
        return set()
    table, listed = read_pick_files_and_names(
        args.truth,
        "ground-truth",
        args.truth_format,
        candidates,
        args.truth_binning,
        args.recursive,
    )
    return (listed - set(table["micrograph"].astype(str))) & candidates


def _check_names(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    picked: set[str] | None = None,
    empty: set[str] | None = None,
) -> None:
    """Refuse sides that share no micrograph name; note the ground-truth micrographs
    nothing was predicted on, whose picks count as missed.

    ``picked``: the micrographs predicted on, with those whose prediction file
    holds no picks (default: those of ``pred``'s rows). Such a micrograph was
    picked and its truth rightly counts as missed: the note leaves it out, or
    following its advice would drop exactly the picker's failures from the score.
    ``empty``: micrographs whose ground-truth file holds no picks; the two sides
    share a micrograph held only by files without picks too (a re-trial was
    refused for an empty prediction file of one and an empty truth file of the other).
    """
    pred_names = set(pred["micrograph"].astype(str))
    picked = pred_names if picked is None else pred_names | picked
    truth_names = set(truth["micrograph"].astype(str))
    listed = truth_names | (empty or set())
    if pred_names and truth_names and not picked & listed:
        # one line (the error handler joined these lines and cut the advice off)
        raise CLIError(
            f"predictions and ground truth share no micrograph name (predictions: "
            f"{name_list(pred_names)}; ground truth: {name_list(truth_names)}); names come "
            "from the files' micrograph column, or the file stem where the format has none: "
            "rename the files so the names agree"
        )
    missing = truth_names - picked
    if missing and picked:
        print(
            f"cryopick evaluate: note: no predictions for {len(missing)} ground-truth "
            f"micrograph(s), their picks count as missed: {name_list(missing)}; to score only "
            "the micrographs you picked, give --truth only their files",
            file=sys.stderr,
        )


def _say_mirror(pred: pd.DataFrame, truth: pd.DataFrame, args: argparse.Namespace) -> None:
    """Warn when the ground truth matches the predictions far better mirrored top to
    bottom (:func:`napari_cryopick.core.evaluate.mirrored_truth`; a CLI trial's y-flipped
    truth files scored AP 0.01 unsaid), within a quarter of the particles' diameter (the
    truth's, else ``--diameter``, else the predictions'), else half ``--tolerance`` (half a
    diameter found half of apoferritin's mirrored truth by chance among a picker's
    candidates: no contrast left)."""
    from napari_cryopick.core.evaluate import mirror_radius, mirrored_truth

    radius = mirror_radius(pred, truth, args.diameter, args.tolerance)
    mirror = mirrored_truth(pred, truth, radius) if radius else None
    if mirror is None:
        return
    given = [
        f"{option} {value:g}"
        for option, value in (
            ("--pred-flip-y", args.pred_flip_y),
            ("--truth-flip-y", args.truth_flip_y),
        )
        if value is not None
    ]
    if given:
        # a flip given already: the advice is to take it back (a CLI trial given
        # --pred-flip-y was told to give --truth-flip-y or --pred-flip-y)
        advice = f"If so, leave out {' and '.join(given)}"
        if len(given) == 2:
            advice = f"If so, leave out one of {' and '.join(given)}"
    elif mirror.heights:  # one HEIGHT an option: the files of each height on their own
        heights = ", ".join(f"about {h} px for {n}" for h, n in mirror.heights)
        advice = (
            f"the micrographs' heights differ ({heights} micrograph(s)): evaluate the files "
            "of each height on their own with --truth-flip-y HEIGHT (or --pred-flip-y HEIGHT)"
        )
    else:
        advice = (
            "If so, give --truth-flip-y HEIGHT (or --pred-flip-y HEIGHT), the micrographs' "
            f"height in pixels: about {mirror.height} by these picks"
        )
    print(
        f"cryopick evaluate: warning: the ground truth matches the predictions far better "
        f"mirrored top to bottom ({mirror.mirrored_recall:.0%} of its picks beside a "
        f"prediction, against {mirror.recall:.0%} as given): one side's y runs the other way "
        f"(origin at the bottom). {advice}",
        file=sys.stderr,
    )


def _common_diameter(table: pd.DataFrame) -> float | None:
    """The one diameter of ``table``'s picks that have one (within 2 %), else None."""
    import numpy as np
    import pandas as pd

    if "diameter" not in table or not len(table):
        return None
    values = pd.to_numeric(table["diameter"], errors="coerce").to_numpy(np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return None
    middle = float(np.median(values))
    return middle if values.max() - values.min() <= 0.02 * middle else None


def _other_sides_diameter(pred: pd.DataFrame, truth: pd.DataFrame) -> float | None:
    """Without ``--diameter`` and ``--tolerance``: for picks of one side without a diameter
    (RELION ManualPick files, Topaz), the diameter all picks of the other side share, said
    (a CLI trial's ManualPick truth was refused beside predictions that all said 56 px)."""
    import numpy as np
    import pandas as pd

    def lacking(table: pd.DataFrame) -> int:
        if not len(table):
            return 0
        if "diameter" not in table:
            return len(table)
        values = pd.to_numeric(table["diameter"], errors="coerce").to_numpy(np.float64)
        return int((~np.isfinite(values) | (values <= 0)).sum())

    for side, table, other, other_table in (
        ("ground-truth", truth, "predictions'", pred),
        ("predicted", pred, "ground truth's", truth),
    ):
        missing = lacking(table)
        # (an empty other side has no diameter to lend: "several diameters (nan-nan px)")
        if missing and len(other_table) and not lacking(other_table):
            diameter = _common_diameter(other_table)
            if diameter is None:  # (several sizes: the error below asks for --diameter)
                sizes = pd.to_numeric(other_table["diameter"], errors="coerce")
                print(
                    f"cryopick evaluate: note: the {other} picks have several diameters "
                    f"({sizes.min():.4g}-{sizes.max():.4g} px): none is taken for the "
                    f"{side} picks without one",
                    file=sys.stderr,
                )
                return None
            which = "the" if missing == len(table) else f"{missing} of the {len(table)}"
            print(
                f"cryopick evaluate: note: {which} {side} picks have no diameter: boxes of "
                f"the {other} diameter, {diameter:.4g} px, for IoU (--diameter PX to choose)",
                file=sys.stderr,
            )
            return diameter
    return None


def _say_duplicates(pred: pd.DataFrame, truth: pd.DataFrame, diameter: float | None) -> None:
    """Warn of picks repeated in either side (a trial: a truth file holding every pick
    twice halved the recall and AP, 0.848 to 0.441, without a word)."""
    from napari_cryopick.core.evaluate import duplicate_warnings

    for warning in duplicate_warnings(pred, truth, diameter):
        print(f"cryopick evaluate: warning: {warning}", file=sys.stderr)


def _say_sparse_truth(report: Any) -> None:
    """Say when the truth looks like a few clicks: most predictions match nothing while
    nearly every truth pick is found (a new-user trial scored 923 picks against its 90
    clicks, unsaid; the Evaluate widget says so for its annotation layers)."""
    import numpy as np

    curves = list(report.pr_curves.values())
    if not curves or not len(curves[0].recall):
        return
    every = int(np.argmax(curves[0].recall))  # all predictions: the curve's lowest threshold
    recall, precision = float(curves[0].recall[every]), float(curves[0].precision[every])
    if report.n_pred >= 3 * report.n_truth and recall >= 0.8 and precision <= 0.3:
        print(
            f"cryopick evaluate: note: {report.n_pred} predictions against {report.n_truth} "
            f"ground-truth picks, most of which are found (recall {recall:.2f}) while most "
            f"predictions match none (precision {precision:.2f}): if the ground truth holds "
            "only some of the particles (clicks), the others count as false picks; score "
            "against every particle's picks",
            file=sys.stderr,
        )


def _of_kind(pred: Any, truth: Any, kind: str) -> tuple[Any, Any]:
    """The picks of ``kind`` on both sides (``--kind``), the truth's negatives kept (picks
    on junk are counted apart); refused when either side has none."""
    kinds = (pred["kind"].astype(str), truth["kind"].astype(str))
    given = len(pred)
    pred = pred[kinds[0] == kind].reset_index(drop=True)
    truth = truth[kinds[1].isin((kind, "negative"))].reset_index(drop=True)
    for table, side, held in ((pred, "predictions", given), (truth, "ground truth", 1)):
        if held and not (table["kind"].astype(str) == kind).any():
            # (predictions of no pick at all are scored, AP 0, as without --kind)
            raise CLIError(f"--kind {kind}: the {side} hold no {kind} picks")
    return pred, truth


def _say_other_kinds(pred: Any, truth: Any) -> None:
    """Say when the ground truth holds kinds the predictions have none of: they count as
    missed (a fibers trial's simulated truth held particles beside the fibers a fiber
    model picked: 45 'missed fibers', recall 0.836 for 0.881, unsaid)."""
    predicted = set(pred["kind"].astype(str)) - {"negative"}
    counts = truth["kind"].astype(str).value_counts()
    other = {k: int(n) for k, n in counts.items() if k not in predicted | {"negative"}}
    if not predicted or not other:
        return
    listed = ", ".join(f"{n} {k}" for k, n in sorted(other.items()))
    shared = sorted(predicted & set(counts.index))
    # --kind K needs K picks on both sides: advised only then (a vesicle trial's x,y CSV
    # truth, read as particles, was told to use --kind vesicle, which refused it)
    advice = (
        f"; --kind {shared[0]} scores the {shared[0]} picks alone"
        if shared
        else "; a file without a kind column (an x,y CSV, BOX, Topaz) reads as particles"
        if "particle" in other
        else ""
    )
    # kinds are not compared: a vesicle trial's 50 "particle" truth picks were said to
    # count as missed where 44 matched the vesicles predicted
    print(
        f"cryopick evaluate: note: the ground truth holds picks of kinds the predictions "
        f"have none of ({listed}): kinds are not compared, so they count as missed where "
        f"no prediction lies on them{advice}",
        file=sys.stderr,
    )


#: The first line of the CSV ``--pr-curve`` writes.
_PR_HEADER = "criterion,threshold,precision,recall"


def _earlier_output(path: Path, option: str) -> bool:
    """Whether ``path`` holds what an earlier ``cryopick evaluate`` wrote for ``option``
    (a JSON report, or PR curves): the only existing files it replaces unasked."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            if option == "--pr-curve":
                return handle.readline().strip() == _PR_HEADER
            report = json.loads(handle.read(50_000_000))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"criterion", "ap", "n_pred", "n_truth"} <= set(report)


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse outputs that would replace an input pick file (a trial's ``--json`` named a
    prediction file: it became JSON), each other, or another existing file no earlier
    evaluate wrote (a micrograph, a model) unless ``--overwrite``."""
    from napari_cryopick.cli._errors import check_not_among_inputs

    outputs = [(o, p) for o, p in (("--json", args.json), ("--pr-curve", args.pr_curve)) if p]
    if len(outputs) == 2 and os.path.abspath(args.json) == os.path.abspath(args.pr_curve):
        raise CLIError(f"--json and --pr-curve name the same file ({args.json}): give two")
    existing = [(option, path) for option, path in outputs if Path(path).is_file()]
    if existing:
        _check_existing(args, existing)
    for option, path in outputs:
        check_not_among_inputs(path, option, [*args.pred, *args.truth])


def _never_replaced(path: Path) -> str:
    """What ``path`` is when it holds work no report may replace ("" otherwise): a batch's
    manifest (what ``cryopick pick --skip`` goes by) or a napari annotation sidecar."""
    from napari_cryopick.io.paths import is_annotation_file

    if path.name.startswith("cryopick_manifest") and path.name.endswith(".jsonl"):
        return (
            "the manifest of cryopick runs into this folder (what pick --skip and later runs go by)"
        )
    if is_annotation_file(path):
        return "a napari annotation file (the clicks of a micrograph)"
    return ""


def _check_existing(args: argparse.Namespace, existing: list[tuple[str, Path]]) -> None:
    inputs = {
        Path(path).resolve()
        for paths, what in ((args.pred, "prediction"), (args.truth, "ground-truth"))
        for path in _pick_files(paths, what, recursive=args.recursive)
    }
    for option, path in existing:
        if Path(path).resolve() in inputs:
            raise CLIError(f"{option} {path}: is one of the pick files evaluated; give a new file")
        kept = _never_replaced(Path(path))
        if kept:  # not even with --overwrite (a trial's --json replaced a batch's manifest)
            raise CLIError(f"{option} {path}: is {kept}, never replaced; give a new file")
        if not args.overwrite and not _earlier_output(Path(path), option):
            raise CLIError(
                f"{option} {path}: exists and no earlier cryopick evaluate wrote it: give a "
                "new file, or --overwrite to replace it"
            )


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from napari_cryopick.cli._errors import check_output_file
    from napari_cryopick.core.evaluate import evaluate, fibers_as_points, scale_mismatch
    from napari_cryopick.io.atomic import atomic_write_text

    # before the (possibly long) evaluation: a bad output path fails at once
    check_output_file(args.json, "--json")
    check_output_file(args.pr_curve, "--pr-curve")
    _check_outputs(args)
    for option, value in (("--diameter", args.diameter), ("--tolerance", args.tolerance)):
        # a trial's --diameter -48 (or 0, nan) gave AP 0.000 and exit 0
        if value is not None and not (math.isfinite(value) and value > 0):
            raise CLIError(f"{option} must be a number > 0, got {value:g}")
    for value in args.iou:  # before reading: a trial's --iou 2 came after notes on the files
        if not 0 < value <= 1:
            raise CLIError(f"--iou values must be in (0, 1], got {value}")
    pred, truth, picked = _read_both(args)
    if len(truth) == 0:
        given = name_list([str(path) for path in args.truth], 3)
        raise CLIError(f"the ground truth ({given}) holds no picks")
    empty = _empty_in_truth(args, pred, truth)
    if empty:  # a review: a tool may leave empty files of micrographs only visited
        print(
            f"cryopick evaluate: note: the ground-truth files of {len(empty)} micrograph(s) "
            f"hold no picks, so their predictions count as false positives: "
            f"{name_list(empty)}",
            file=sys.stderr,
        )
    _check_names(pred, truth, picked, empty)
    if len(pred) == 0:  # (a trial's header-only prediction file scored AP 0 unsaid)
        print(
            "cryopick evaluate: note: the predictions hold no picks of the ground truth's "
            "micrographs: every ground-truth pick counts as missed (AP 0)",
            file=sys.stderr,
        )
    if args.kind is not None:
        before = set(truth["micrograph"].astype(str))
        pred, truth = _of_kind(pred, truth, args.kind)
        # a micrograph whose truth holds none of the kind has none of it: its predictions
        # are false positives, not picks of a micrograph the truth lacks (a review)
        empty = empty | (before - set(truth["micrograph"].astype(str)))
    else:
        _say_other_kinds(pred, truth)
    if args.diameter is None and args.tolerance is None:
        args.diameter = _other_sides_diameter(pred, truth)
    _say_duplicates(pred, truth, args.diameter)
    tolerance = args.tolerance
    fibers = fibers_as_points(pred, truth, tolerance, args.diameter)
    if fibers is not None:  # the Evaluate widget's rule (a design review: they differed)
        pred, truth, tolerance = fibers.pred, fibers.truth, fibers.tolerance_px
        print(f"cryopick evaluate: note: {fibers.note()}", file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        report = evaluate(
            pred,
            truth,
            iou_thresholds=tuple(args.iou),
            tolerance_px=tolerance,
            diameter_px=args.diameter,
            pred_only=args.extra_micrographs.replace("-", "_"),
            truth_micrographs=empty,
            pred_micrographs=picked,
        )
    for warning in caught:
        print(f"cryopick evaluate: warning: {warning.message}", file=sys.stderr)
    ratio = scale_mismatch(pred, truth)
    if ratio is not None:  # a trial read AP 0.000 for Topaz picks of 4 x binned micrographs
        side, factor = ("--pred-binning", ratio) if ratio > 1 else ("--truth-binning", 1 / ratio)
        print(
            f"cryopick evaluate: warning: the ground truth spreads {ratio:.2g} times as far "
            f"as the predictions: one side's coordinates look like those of binned "
            f"micrographs (try {side} {round(factor)})",
            file=sys.stderr,
        )
    _say_mirror(pred, truth, args)
    _say_sparse_truth(report)
    print(report.summary())
    if args.json is not None:
        document = report.to_dict()
        if fibers is not None and fibers.filled:  # counts of the points filled in, not rows
            document["fibers_as_points_every_px"] = float(tolerance)
        atomic_write_text(args.json, json.dumps(document, indent=2) + "\n")
        print(f"report written to {args.json}")
    if args.pr_curve is not None:
        frames = [
            curve.to_frame().assign(criterion=name)[_PR_HEADER.split(",")]
            for name, curve in report.pr_curves.items()
        ]
        curves = pd.concat(frames, ignore_index=True).to_csv(index=False, lineterminator="\n")
        atomic_write_text(args.pr_curve, curves)
        print(f"PR curves written to {args.pr_curve}")
    return EXIT_OK
