"""Deleted picks as negatives: does retraining learn them? (DeepEM's correct-and-retrain loop)

A napari trial (session 19) deleted 10 junk picks, pressed "Use as training
labels" and retrained: the junk kept its scores. This measures that loop on
real data with the commands a user runs:

1. ``cryopick train`` from 30 clicks (``bench_accuracy.curve_clicks``) on the
   3 training micrographs, defaults, the leave-one-out general model as the
   start (``MODEL0``, made by ``exp_threshold.py --clicks 30``).
2. The user reviews the first training micrograph: of ``MODEL0``'s picks there
   (at the threshold it chose), the ``--negatives`` highest-scored ones farther
   than half a diameter from every true particle are deleted (negatives); the
   other shown picks become particle labels with the clicks, as "Use as
   training labels" does. The other two micrographs keep their clicks.
3. ``cryopick train`` again on those labels and ``--negatives`` (defaults but
   ``--time-limit 0``: the steps the clicks allow, whatever the machine's load).

Reported: the retrained model's score at the deleted spots (the highest
candidate within a quarter diameter; 0 if none) and how many are still picked
at its threshold, AP@0.5 on the test micrographs, and the steps trained.

    .venv/bin/python benchmarks/exp_negatives.py --sets empiar10017_bgal,empiar10146_apoferritin \\
        --label before --source HEAD --out benchmarks/results/exp_session21.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))

import bench_accuracy as bench
import exp_fewshot as ef
from napari_cryopick.core.model import load_checkpoint


def nearest(points: np.ndarray, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest row of ``table`` for each point (inf, -1: none)."""
    if not len(table):
        return np.full(len(points), np.inf), np.full(len(points), -1)
    d, i = cKDTree(table[["x", "y"]].to_numpy()).query(points)
    return d, i


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="empiar10017_bgal,empiar10146_apoferritin")
    parser.add_argument("--negatives", type=int, default=15)
    parser.add_argument(
        "--clicks-only",
        action="store_true",
        help="the first micrograph keeps its clicks, not the shown picks (the negatives "
        "marked while clicking, not after a review)",
    )
    parser.add_argument("--start", type=Path, default=Path("benchmarks/_work/threshold_loo"))
    parser.add_argument("--work", type=Path, default=Path("benchmarks/_work/negatives"))
    parser.add_argument("--label", required=True, help="names this run (e.g. before/after)")
    parser.add_argument(
        "--source",
        default=None,
        help="run the commands of this commit's src/ (or 'worktree', or an earlier snapshot "
        "folder) instead of the editable install (bench_accuracy.snapshot_source)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    cryopick = str(Path(sys.executable).parent / "cryopick")
    source = bench.snapshot_source(args.source, args.work / "src") if args.source else "installed"
    for name in args.sets.split(","):
        split = bench.load_set(bench.DEFAULT_DATA / name)
        general, _ = bench.general_model(split, Path(__file__).parent / "models")
        model0 = args.start / name / "30" / "model.pt"
        _, metadata = load_checkpoint(model0)
        threshold0 = float(metadata["history"][-1]["pick_threshold"])
        first = split.train[0]
        work = args.work / args.label / name
        work.mkdir(parents=True, exist_ok=True)
        (work / "pick0").mkdir(exist_ok=True)
        shown, _ = bench.cryopick_pick(
            cryopick, split, model0, work / "pick0", ("--threshold", "0"), names=[first]
        )
        shown = shown[(shown["micrograph"] == first) & (shown["score"] >= threshold0)]
        truth = split.truth[first]
        d, _ = nearest(shown[["x", "y"]].to_numpy(), truth)
        false = shown[d > 0.5 * split.diameter_px].sort_values("score", ascending=False)
        negatives = false.head(args.negatives)
        clicks = bench.curve_clicks(split, 30)
        kept = shown.drop(index=negatives.index)
        dc, _ = nearest(kept[["x", "y"]].to_numpy(), clicks[first])
        labels = dict(clicks)
        if not args.clicks_only:
            labels[first] = pd.concat(
                [clicks[first][["x", "y"]], kept[dc > 0.5 * split.diameter_px][["x", "y"]]],
                ignore_index=True,
            )
        (work / "negatives").mkdir(exist_ok=True)
        negatives[["x", "y"]].to_csv(work / "negatives" / f"{first}.csv", index=False)
        trained = bench.cryopick_train(  # fixed steps (the views per label), not the load
            cryopick,
            split,
            labels,
            work,
            ["--negatives", str(work / "negatives"), "--time-limit", "0"],
        )
        _, metadata = load_checkpoint(trained["model"])
        threshold = float(metadata["history"][-1]["pick_threshold"])
        names = [first, *split.test]
        picked, _ = bench.cryopick_pick(
            cryopick, split, trained["model"], work, ("--threshold", "0"), names=names
        )
        on_first = picked[picked["micrograph"] == first]
        dn, index = nearest(negatives[["x", "y"]].to_numpy(), on_first)
        near = dn <= 0.25 * split.diameter_px
        after = np.where(near, on_first["score"].to_numpy()[np.maximum(index, 0)], 0.0)
        values = bench.score(split, picked[picked["micrograph"] != first])
        row = {
            "experiment": "negatives",
            "label": args.label,
            "source": source,
            "set": name,
            "general": str(general),
            "negatives": len(negatives),
            "clicks_only": args.clicks_only,
            "labels_first": len(labels[first]),
            "scores_before": round(float(negatives["score"].mean()), 4),
            "scores_after": round(float(after.mean()), 4),
            "still_picked": int((after >= threshold).sum()),
            "threshold": threshold,
            "steps": trained["steps_done"],
            "AP@0.5": round(values["AP@0.5"], 4),
        }
        ef.emit(row, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
