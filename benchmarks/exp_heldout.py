"""Do held-out clicks see over-training? An experiment for issue 10 (no default).

With few clicks, training too long teaches the network that every unclicked
particle is background (docs/general-model.md, "Few clicks"). Clicks held
out of training are such unclicked particles. This trains the default new
model (leave-one-out general start, protection on) on all clicks but a
fifth, for ``--steps`` fixed steps, and at each of ``--at`` steps records

* ``heldout_score``: the mean score of the model's best candidate within a
  third of a diameter of each held-out click (0 where there is none), on
  the training micrographs;
* ``AP@0.5``: the test micrographs scored against all their picks (boxes
  of predicted size, as ``exp_fewshot.py``).

If the held-out score peaks where the test AP does, it can end training at
the right length for each data set.

Usage::

    .venv/bin/python benchmarks/exp_heldout.py --set empiar10017_bgal --clicks 25 \\
        --general benchmarks/_work/general_without_empiar10017_bgal.pt \\
        --steps 750 --at 100,188,375,750 --out results.jsonl
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
import exp_fewshot as ef
from napari_cryopick.core.continual import ContinualConfig, DatasetExamples, train_model
from napari_cryopick.core.detect import PickConfig, pick_micrograph
from napari_cryopick.core.model import DetectorConfig
from napari_cryopick.core.training import TrainConfig, build_examples


def held_out_score(model, images, held, diameter, config) -> float:
    """Mean best candidate score within diameter / 3 of each held-out click."""
    scores = []
    for image, table in zip(images, held, strict=True):
        if not len(table):
            continue
        picks = pick_micrograph(model, image, diameter_px=diameter, config=config).picks
        if not len(picks):
            scores.extend([0.0] * len(table))
            continue
        tree = cKDTree(picks[["x", "y"]].to_numpy())
        for point in table[["x", "y"]].to_numpy():
            near = tree.query_ball_point(point, diameter / 3)
            scores.append(float(picks["score"].to_numpy()[near].max()) if near else 0.0)
    return float(np.mean(scores)) if scores else float("nan")


def test_ap(model, split, config) -> float:
    return float(ef.score_test_micrographs(model, split, config).ap["AP@0.5"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ef.recipe.default_real_data_dir())
    parser.add_argument("--set", required=True)
    parser.add_argument("--general", type=Path, required=True)
    parser.add_argument(
        "--clicks", type=int, default=25, help="0: a quarter of each training micrograph's picks"
    )
    parser.add_argument("--held-out", type=float, default=0.2, help="fraction of the clicks")
    parser.add_argument("--steps", type=int, default=750)
    parser.add_argument("--at", default="100,188,375,750", help="steps to evaluate at")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ["CRYOPICK_GENERAL_MODEL"] = str(args.general)
    split = ef.load_split(args.data / args.set, n_clicks=args.clicks or None)
    n_train = split["n_train"]
    rng = np.random.default_rng(0)
    train_clicks, held = [], []
    for table in split["clicks"]:
        out = rng.random(len(table)) < args.held_out
        train_clicks.append(table[~out].reset_index(drop=True))
        held.append(table[out].reset_index(drop=True))
    config = DetectorConfig()
    examples = build_examples(
        split["images"][:n_train],
        train_clicks,
        split["diameter"],
        config,
        names=split["names"][:n_train],
        dataset=args.set,
    )
    train_config = TrainConfig(
        steps=args.steps,
        time_limit_s=None,
        crop_size=128,
        device="cpu",
        views_per_label=None,
        log_interval=50,
    )
    at = sorted(int(s) for s in args.at.split(","))
    pick_config = PickConfig(device="cpu", threshold=0.0)
    trained: list = []
    job = train_model(
        "new",
        [DatasetExamples(args.set, examples, diameter_px=split["diameter"])],
        config=config,
        train_config=train_config,
        continual_config=ContinualConfig(pretrained=True),
        on_model=trained.append,
    )
    start = time.perf_counter()
    for event in job:
        step = getattr(event, "step", None)
        # progress events come every few steps: evaluate at the first one past each target
        if step is not None and at and step >= at[0] and trained:
            while at and step >= at[0]:
                at.pop(0)
            snapshot = copy.deepcopy(trained[0]).eval()
            row = {
                "experiment": "heldout",
                "set": args.set,
                "clicks": args.clicks,
                "train_clicks": int(sum(len(t) for t in train_clicks)),
                "held_out": int(sum(len(t) for t in held)),
                "step": int(event.step),
                "heldout_score": round(
                    held_out_score(
                        snapshot, split["images"][:n_train], held, split["diameter"], pick_config
                    ),
                    4,
                ),
                "AP@0.5": round(test_ap(snapshot, split, pick_config), 4),
                "seconds": round(time.perf_counter() - start, 1),
            }
            ef.emit(row, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
