"""Experiment: a second training round on the user's unlabelled micrographs (issue 10).

DeepEM retrains as labels grow; EPicker turns confident detections into
labels. Here both on the micrographs a user has but did not click, with the
commands users run (``bench_accuracy.py``'s protocol and helpers):

1. ``cryopick train`` (defaults) on the 3 training micrographs' clicks;
2. ``cryopick pick`` the test micrographs with that model; picks scoring at least
   ``--threshold`` become labels of those micrographs (sparse: the loss treats
   what is left unlabelled as ``cryopick train`` treats sparse clicks);
3. ``cryopick train`` (defaults, a new model from the general model again) on the
   clicks plus those labels, the test micrographs included;
4. both models score every candidate of the test micrographs (``--threshold 0``).

The test micrographs are the unlabelled ones: a user has them (transductive, as
the issue allows: "a user always has the rest of the data set").

    .venv/bin/python benchmarks/exp_selftrain.py --sets empiar10146_apoferritin \
        --seeds 0,1 --thresholds 0.5 --out benchmarks/results/exp_session61.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_accuracy as bench

ROOT = Path(__file__).resolve().parents[1]


def run(set_name: str, seed: int, thresholds: list[float], args) -> list[dict]:
    split, work, train_args, first = bench.first_training(set_name, seed, args)
    base = first["base"]
    candidates, _ = bench.cryopick_pick(
        args.cryopick, split, first["model"], work / "r1", extra=("--threshold", "0")
    )
    rows = []
    for threshold in thresholds:
        pseudo = {
            name: candidates[
                (candidates["micrograph"] == name) & (candidates["score"] >= threshold)
            ]
            for name in split.test
        }
        labels = {**split.train_picks, **pseudo}
        round_two = bench.DataSplit(**{**split.__dict__, "train": split.train + split.test})
        began = time.perf_counter()
        second = bench.cryopick_train(
            args.cryopick, round_two, labels, work / f"r2_{threshold:g}", train_args
        )
        after = bench.score_all(args.cryopick, split, second["model"], work / f"r2_{threshold:g}")
        truth = pd.concat([split.truth[n] for n in split.test], ignore_index=True)
        kept = pd.concat(pseudo.values(), ignore_index=True)
        precision = bench.score(split, kept)["precision"] if len(kept) else float("nan")
        rows.append(
            {
                "experiment": "selftrain",
                "set": set_name,
                "seed": seed,
                "threshold": threshold,
                "AP@0.5_round1": base["AP@0.5"],
                "AP@0.5_round2": after["AP@0.5"],
                "AP@0.6_round1": base["AP@0.6"],
                "AP@0.6_round2": after["AP@0.6"],
                "pseudo_labels": len(kept),
                "pseudo_precision": precision,
                "test_particles": len(truth),
                "train1_s": first["train_wall_s"],
                "train2_s": second["train_wall_s"],
                "steps1": first["steps_done"],
                "steps2": second["steps_done"],
                "round2_wall_s": time.perf_counter() - began,
                "commit": bench._commit(),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench.DEFAULT_DATA)
    parser.add_argument("--sets", default=",".join(bench.REAL_SETS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--thresholds", default="0.5")
    parser.add_argument("--general-without", type=Path, default=ROOT / "benchmarks" / "models")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "selftrain")
    parser.add_argument("--cryopick", default=str(Path(sys.executable).with_name("cryopick")))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    for set_name in args.sets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for row in run(set_name, seed, thresholds, args):
                with args.out.open("a") as stream:
                    stream.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
