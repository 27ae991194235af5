"""The pick threshold a trained model writes its picks at, against the best on held-out data.

A CLI trial (session 20): 10 clicks on each of 3 β-gal micrographs (about 650
particles each), ``cryopick train`` defaults: training chose 0.15 ("best F2 on
the training clicks", capped at the default), while the best F2 on the other
micrographs lay at 0.05 (recall 0.74 at 0.15, 0.90 at 0.05). The unclicked
particles of the training micrographs count as false picks there.

Per set and clicks (the protocol's quarter of the picks, and ``N`` clicks over
the 3 training micrographs as ``bench_accuracy.curve_clicks``), this trains
with ``cryopick train`` defaults (the leave-one-out general model as the
start, as ``bench_accuracy.py``), picks the test micrographs with every
candidate, and reports F2 / precision / recall on the test micrographs at the
threshold training chose, at the default, and at the best threshold there.
Also the rules in ``RULES`` applied to the training micrographs' candidates.

    .venv/bin/python benchmarks/exp_threshold.py --sets empiar10017_bgal,... \
        --clicks quarter,30 --out benchmarks/results/exp_session20.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

import bench_accuracy as bench
from napari_cryopick.core.evaluate import precision_recall_curve
from napari_cryopick.core.model import load_checkpoint


def f_beta_curve(pred: pd.DataFrame, truth: pd.DataFrame, diameter: float, beta: float = 2.0):
    """Thresholds (descending) with precision, recall and F-beta (IoU 0.5, boxes of ``diameter``)."""
    curve = precision_recall_curve(
        pred.assign(diameter=diameter), truth.assign(diameter=diameter), iou=0.5
    )
    b2 = beta**2
    p, r = curve.precision, np.nan_to_num(curve.recall)
    f = (1 + b2) * p * r / np.maximum(b2 * p + r, 1e-12)
    return curve.thresholds, p, r, f


def at(threshold: float, scores, precision, recall, f) -> dict:
    keep = np.flatnonzero(scores >= threshold)
    if not keep.size:
        return {"threshold": threshold, "precision": 0.0, "recall": 0.0, "f2": 0.0}
    i = keep[-1]
    return {
        "threshold": float(threshold),
        "precision": float(precision[i]),
        "recall": float(recall[i]),
        "f2": float(f[i]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="empiar10146_apoferritin,empiar10017_bgal")
    parser.add_argument("--clicks", default="quarter,30")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/_work/threshold"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--note", default="")
    parser.add_argument(
        "--data", type=Path, default=None, help="folder of the sets (default: real)"
    )
    args = parser.parse_args(argv)
    cryopick = str(Path(sys.executable).parent / "cryopick")
    data = args.data or bench.DEFAULT_DATA
    models = Path(__file__).parent / "models"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for name in args.sets.split(","):
        split = bench.load_set(data / name)
        general, _ = bench.general_model(split, models)
        truth = pd.concat([split.truth[n] for n in split.test], ignore_index=True)
        for clicks_name in args.clicks.split(","):
            clicks = (
                split.train_picks
                if clicks_name == "quarter"
                else bench.curve_clicks(split, int(clicks_name))
            )
            work = args.work / name / clicks_name
            work.mkdir(parents=True, exist_ok=True)
            trained = bench.cryopick_train(cryopick, split, clicks, work, [])
            _, metadata = load_checkpoint(trained["model"])
            chosen = metadata["history"][-1].get("pick_threshold")
            start = metadata["history"][-1].get("pretrained")
            if general is not None and Path(start or "").resolve() != Path(general).resolve():
                raise SystemExit(f"{name}: trained from {start}, not the leave-one-out {general}")
            pred, _ = bench.cryopick_pick(
                cryopick, split, trained["model"], work, ("--threshold", "0")
            )
            curve = f_beta_curve(pred, truth, split.diameter_px)
            best = int(np.argmax(curve[3]))
            row = {
                "experiment": "threshold",
                "set": name,
                "clicks": int(sum(len(t) for t in clicks.values())),
                "clicks_name": clicks_name,
                "particles_train": int(sum(len(split.truth[n]) for n in split.train)),
                "general": str(general),
                "pretrained": start,
                "chosen": at(chosen if chosen is not None else 0.15, *curve),
                "default": at(0.15, *curve),
                "best": at(float(curve[0][best]), *curve),
                "note": args.note,
            }
            for t in (0.03, 0.05, 0.08, 0.1):
                row[f"at_{t:g}"] = at(t, *curve)
            print(json.dumps(row), flush=True)
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
