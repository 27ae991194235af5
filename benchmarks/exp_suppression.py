"""A wider suppression of neighbouring picks, measured on a benchmark's picks.

An experiment for issue 10 (not a default). Picking keeps a candidate only
where no higher-scoring one lies within ``PickConfig.min_distance`` (0.4
particle diameters). Apoferritin's particles lie close-packed (neighbours 1.03
diameters apart and more), and many of its false picks lie in the gaps
between three particles, 0.73 diameters from each (docs/general-model.md,
session 17): a wider suppression would drop them where a neighbour scores
higher, and the clicks could tell how close a data set's particles lie.

This reads the picks a ``bench_accuracy.py`` run wrote for its default
condition (``benchmarks/_work/accuracy/<tag>/<set>/fresh/picks``), suppresses
again at radii of 0.4-0.9 diameters (greedy, highest score first, per
micrograph) and scores each with the benchmark's evaluator. It also prints
the clicks' nearest-clicked-neighbour distances (minimum and 5th percentile,
in diameters), what a radius set from the clicks would see.

Usage::

    .venv/bin/python benchmarks/exp_suppression.py s60 s60_s1 s60_s2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba

SETS = ("empiar10146_apoferritin", "empiar10017_bgal", "empiar10028_ribosome", "sim_L", "sim_ring")
RADII = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def suppress(table: pd.DataFrame, radius: float) -> pd.DataFrame:
    """Greedy suppression: a pick within ``radius`` of a higher-scoring kept one is dropped."""
    kept = []
    for _name, group in table.groupby("micrograph"):
        group = group.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
        xy = group[["x", "y"]].to_numpy(np.float64)
        tree = cKDTree(xy)
        keep = np.ones(len(group), bool)
        for i in range(len(group)):
            if keep[i]:
                near = np.asarray(tree.query_ball_point(xy[i], radius), dtype=np.int64)
                keep[near[near > i]] = False
        kept.append(group[keep])
    return pd.concat(kept, ignore_index=True)


def click_spacing(split: ba.DataSplit) -> tuple[float, float]:
    """Minimum and 5th percentile of the clicks' nearest clicked neighbour, in diameters."""
    distances = []
    for table in split.train_picks.values():
        xy = table[["x", "y"]].to_numpy(np.float64)
        if len(xy) > 1:
            distances += list(cKDTree(xy).query(xy, 2)[0][:, 1] / split.diameter_px)
    return float(np.min(distances)), float(np.percentile(distances, 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tags", nargs="+", help="bench_accuracy.py run tags")
    args = parser.parse_args()
    work = Path(__file__).parent / "_work" / "accuracy"
    print("| tag | set | " + " | ".join(f"{r:g}" for r in RADII) + " | clicks' spacing |")
    for tag in args.tags:
        for name in SETS:
            folder = ba.DEFAULT_DATA / name
            split = ba.load_set(folder if folder.exists() else work / "sims" / name)
            files = sorted((work / tag / name / "fresh" / "picks").glob("*.csv"))
            pred = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
            pred["micrograph"] = pred["micrograph"].astype(str)
            cells = [
                f"{ba.score(split, suppress(pred, r * split.diameter_px))['AP@0.5']:.3f}"
                for r in RADII
            ]
            low, p5 = click_spacing(split)
            print(f"| {tag} | {name} | " + " | ".join(cells) + f" | {low:.2f} / {p5:.2f} |")


if __name__ == "__main__":
    main()
