"""How far the human picks sit from where two independently trained models agree.

An experiment for issue 10 (not a default). AP@0.5 counts a pick only when its
box overlaps the labelled particle's box by IoU >= 0.5; boxes of one diameter D
must then lie within about 0.18 D of each other (diagonally; D/3 along one
axis). A label that is itself off by more than that cannot be matched by any
picker, however good. This script asks how often that happens, by comparing
the labels with two models trained from the same clicks with different seeds:

* for each labelled particle of the test micrographs (the ``bench_accuracy.py``
  split), the nearest pick of model A and of model B (candidates scoring at
  least ``--threshold``) within half a diameter;
* where both found it: the distances label-A, label-B and A-B (in diameters),
  and whether the two models' mean position would match the label at IoU 0.5
  (``consensus_match``), and whether A matches B at IoU 0.5;
* the same for a simulated set, whose labels are the exact centres (the control).

If A and B agree far more closely with each other than with the labels, the
labels' own error is what keeps AP@0.5 down (the models' errors are not
independent, both starting from one general model: their agreement is a
lower bound of their error, so this bounds the labels' error from above).

Usage::

    .venv/bin/python benchmarks/exp_label_noise.py \\
        empiar10146_apoferritin=A.pt,B.pt empiar10017_bgal=A.pt,B.pt ... \\
        --out benchmarks/results/exp_session38.jsonl

Models: ``benchmarks/exp_fewshot.py ... --seed 0|1 --save-model PATH``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
from exp_localise import folder_of
from napari_cryopick.core.detect import PickConfig
from napari_cryopick.core.model import load_checkpoint


def box_iou(offsets: np.ndarray, diameter: float) -> np.ndarray:
    """IoU of two squares of side ``diameter`` whose centres differ by ``offsets`` (n, 2)."""
    overlap = np.prod(np.clip(diameter - np.abs(offsets), 0.0, None), axis=1)
    return overlap / (2.0 * diameter**2 - overlap)


def nearest(points: np.ndarray, truth: np.ndarray, radius: float) -> np.ndarray:
    """For each row of ``truth`` the nearest of ``points`` within ``radius`` (NaN: none)."""
    out = np.full(truth.shape, np.nan)
    if not len(points):
        return out
    distance, index = cKDTree(points).query(truth, distance_upper_bound=radius)
    found = np.isfinite(distance)
    out[found] = points[index[found]]
    return out


def agreement(split: ba.DataSplit, picks: list, threshold: float) -> dict:
    """The row's figures for one set: ``picks`` are the two models' candidate tables."""
    d = split.diameter_px
    to_a, to_b, a_b, consensus, pair, found_both, labels = [], [], [], [], [], 0, 0
    for name in split.test:
        truth = split.truth[name][["x", "y"]].to_numpy(float)
        labels += len(truth)
        near = []
        for table in picks:
            mine = table[(table["micrograph"] == name) & (table["score"] >= threshold)]
            near.append(nearest(mine[["x", "y"]].to_numpy(float), truth, d / 2))
        both = np.isfinite(near[0][:, 0]) & np.isfinite(near[1][:, 0])
        found_both += int(both.sum())
        a, b, t = near[0][both], near[1][both], truth[both]
        to_a.append(np.hypot(*(a - t).T) / d)
        to_b.append(np.hypot(*(b - t).T) / d)
        a_b.append(np.hypot(*(a - b).T) / d)
        consensus.append(box_iou((a + b) / 2 - t, d) >= 0.5)
        pair.append(box_iou(a - b, d) >= 0.5)
    to_a, to_b, a_b = map(np.concatenate, (to_a, to_b, a_b))
    consensus, pair = np.concatenate(consensus), np.concatenate(pair)
    return {
        "labels": labels,
        "found_by_both": found_both,
        "median_label_to_A": round(float(np.median(to_a)), 4),
        "median_label_to_B": round(float(np.median(to_b)), 4),
        "median_A_to_B": round(float(np.median(a_b)), 4),
        "p90_label_to_A": round(float(np.quantile(to_a, 0.9)), 4),
        "p90_A_to_B": round(float(np.quantile(a_b, 0.9)), 4),
        "A_matches_B_iou0.5": round(float(pair.mean()), 4),
        "consensus_matches_label_iou0.5": round(float(consensus.mean()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=A.pt,B.pt")
    parser.add_argument("--threshold", type=float, default=0.15, help="candidates kept")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for item in args.models:
        name, _, paths = item.partition("=")
        files = paths.split(",")
        if len(files) != 2:
            parser.error(f"{item}: give two models, SET=A.pt,B.pt")
        split = ba.load_set(folder_of(name))
        picks = []
        for path in files:
            model, metadata = load_checkpoint(path)
            config = PickConfig(
                device="cpu", threshold=0.0, head=ba._default_head_of(metadata, model)
            )
            table, _ = ba.pick_in_process(split, model, config, split.test)
            picks.append(table)
        row = {"experiment": "label-noise", "set": name, "models": files}
        row.update(agreement(split, picks, args.threshold))
        for path, table in zip(files, picks, strict=True):
            row[f"AP@0.5 {Path(path).name}"] = round(ba.score(split, table)["AP@0.5"], 4)
        ef.emit(row, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
