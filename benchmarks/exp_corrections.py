"""Experiment: retraining on the user's corrections (issue 10, the napari loop).

*Use as training labels* on a micrograph not marked Reviewed asks what becomes a
label (session 62): every shown pick (Yes), or only the corrections (the default:
picks added or moved, deletions as negatives). A GUI trial answered Yes on 950
unreviewed picks and retrained a model that picked more false ones. This measures
both answers against not retraining, with the commands users run
(``bench_accuracy.py``'s protocol and helpers):

1. ``cryopick train`` (defaults) on the 3 training micrographs' clicks;
2. ``cryopick pick`` those 3 micrographs at the model's own threshold: what the user
   sees; the user then deletes the ``--fix`` best-scored false picks of each (no
   true particle within a quarter diameter) and adds ``--fix`` particles no pick
   and no click found (drawn at random from the truth);
3. ``cryopick train`` (defaults, a new model from the general model, as the Train
   widget's default mode) on
   - ``corrections``: the clicks, the added particles, the deletions as negatives;
   - ``all_shown``: the same plus every shown pick not deleted (false ones too),
     except those within half a diameter of a click (as the widget merges them);
4. every model scores every candidate of the test micrographs (``--threshold 0``).

    .venv/bin/python benchmarks/exp_corrections.py --sets empiar10146_apoferritin \
        --seeds 0 --fix 10 --out benchmarks/results/exp_session62.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_accuracy as bench

ROOT = Path(__file__).resolve().parents[1]


def _nearest(points: pd.DataFrame, others: pd.DataFrame) -> np.ndarray:
    """Distance from each of ``points`` to the nearest of ``others`` (inf: none)."""
    from scipy.spatial import cKDTree

    if not len(points):
        return np.zeros(0)
    if not len(others):
        return np.full(len(points), np.inf)
    distance, _ = cKDTree(others[["x", "y"]].to_numpy(float)).query(
        points[["x", "y"]].to_numpy(float)
    )
    return distance


def corrections(
    shown: pd.DataFrame, truth: pd.DataFrame, clicks: pd.DataFrame, diameter: float, fix: int, rng
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(deleted, added, kept) of one micrograph: the ``fix`` best-scored false picks, ``fix``
    particles found by no pick and no click, and the shown picks not deleted."""
    false = _nearest(shown, truth) > 0.25 * diameter
    deleted = shown[false].sort_values("score", ascending=False).head(fix)
    missed = truth[
        (_nearest(truth, shown) > 0.25 * diameter) & (_nearest(truth, clicks) > 0.5 * diameter)
    ]
    order = rng.permutation(len(missed))[:fix]
    added = missed.iloc[order]
    kept = shown.drop(index=deleted.index)
    return deleted, added, kept


def run(set_name: str, seed: int, fix: int, args) -> dict:
    split, work, train_args, first = bench.first_training(set_name, seed, args)
    base = first["base"]
    shown, _ = bench.cryopick_pick(
        args.cryopick, split, first["model"], work / "r1", out_name="shown", names=split.train
    )
    rng = np.random.default_rng(seed)
    fixed: dict[str, dict[str, pd.DataFrame]] = {"corrections": {}, "all_shown": {}}
    counts = {"deleted": 0, "added": 0, "shown": 0, "shown_false": 0}
    for name in split.train:
        clicks = split.train_picks[name].assign(kind="particle")
        picks = shown[shown["micrograph"] == name] if len(shown) else shown
        truth = split.truth[name]
        deleted, added, kept = corrections(picks, truth, clicks, split.diameter_px, fix, rng)
        counts["deleted"] += len(deleted)
        counts["added"] += len(added)
        counts["shown"] += len(picks)
        counts["shown_false"] += int((_nearest(picks, truth) > 0.25 * split.diameter_px).sum())
        negatives = deleted[["x", "y"]].assign(kind="negative")
        own = pd.concat([clicks[["x", "y", "kind"]], added[["x", "y"]].assign(kind="particle")])
        fixed["corrections"][name] = pd.concat([own, negatives], ignore_index=True)
        beside = kept[_nearest(kept, clicks) > 0.5 * split.diameter_px]
        every = beside[["x", "y"]].assign(kind="particle")
        fixed["all_shown"][name] = pd.concat([own, every, negatives], ignore_index=True)
    row = {
        "experiment": "corrections",
        "set": set_name,
        "seed": seed,
        "fix": fix,
        "AP@0.5_clicks": base["AP@0.5"],
        "AP@0.6_clicks": base["AP@0.6"],
        **counts,
        "steps_clicks": first["steps_done"],
        "commit": bench._commit(),
    }
    return _trained_variants(row, fixed, split, work, train_args, args)


def _trained_variants(row: dict, variants: dict, split, work: Path, train_args, args) -> dict:
    """``row`` with each variant's labels trained (``cryopick train``) and scored: its
    AP@0.5, AP@0.6 and steps; printed, returned."""
    for variant, labels in variants.items():
        trained = bench.cryopick_train(args.cryopick, split, labels, work / variant, train_args)
        after = bench.score_all(args.cryopick, split, trained["model"], work / variant)
        row[f"AP@0.5_{variant}"] = after["AP@0.5"]
        row[f"AP@0.6_{variant}"] = after["AP@0.6"]
        row[f"steps_{variant}"] = trained["steps_done"]
    print(json.dumps(row), flush=True)
    return row


def run_unclicked(set_name: str, seed: int, fix: int, args) -> dict:
    """A napari trial's case: the user clicked two of the three training micrographs,
    trained, picked the third and corrected it there (``--fix`` deletions and additions),
    then answered *Corrections only* (or Yes) on it, a micrograph without clicks, whose
    other particles become unlabelled background. Against training on the two alone."""
    split = bench.load_set(args.data / set_name)
    bench.general_model(split, args.general_without)
    work = args.work / f"unclicked_{set_name}_s{seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    train_args = ["--time-limit", "0", "--seed", str(seed)]
    clicked, third = list(split.train[:2]), split.train[2]
    two = {name: split.train_picks[name] for name in clicked}
    first = bench.cryopick_train(args.cryopick, split, two, work / "r1", train_args)
    base = bench.score_all(args.cryopick, split, first["model"], work / "r1")
    shown, _ = bench.cryopick_pick(
        args.cryopick, split, first["model"], work / "r1", out_name="shown", names=[third]
    )
    rng = np.random.default_rng(seed)
    truth = split.truth[third]
    no_clicks = truth.iloc[:0]
    deleted, added, kept = corrections(shown, truth, no_clicks, split.diameter_px, fix, rng)
    negatives = deleted[["x", "y"]].assign(kind="negative")
    own = added[["x", "y"]].assign(kind="particle")
    every = kept[["x", "y"]].assign(kind="particle")
    row = {
        "experiment": "corrections_unclicked",
        "set": set_name,
        "seed": seed,
        "fix": fix,
        "AP@0.5_two_clicked": base["AP@0.5"],
        "AP@0.6_two_clicked": base["AP@0.6"],
        "deleted": len(deleted),
        "added": len(added),
        "shown": len(shown),
        "truth_third": len(truth),
        "shown_false": int((_nearest(shown, truth) > 0.25 * split.diameter_px).sum()),
        "commit": bench._commit(),
    }
    variants = {
        "corrections": {**two, third: pd.concat([own, negatives], ignore_index=True)},
        "all_shown": {**two, third: pd.concat([own, every, negatives], ignore_index=True)},
    }
    return _trained_variants(row, variants, split, work, train_args, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench.DEFAULT_DATA)
    parser.add_argument("--sets", default=",".join(bench.REAL_SETS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--fix", type=int, default=10, help="deletions and additions each")
    parser.add_argument("--general-without", type=Path, default=ROOT / "benchmarks" / "models")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "corrections")
    parser.add_argument("--cryopick", default=str(Path(sys.executable).with_name("cryopick")))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--unclicked",
        action="store_true",
        help="the corrections on a third training micrograph without clicks (run_unclicked)",
    )
    args = parser.parse_args(argv)
    experiment = run_unclicked if args.unclicked else run
    for set_name in args.sets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = experiment(set_name, seed, args.fix, args)
            with args.out.open("a") as stream:
                stream.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
