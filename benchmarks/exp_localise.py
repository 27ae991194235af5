"""Sub-cell localisation of picks: the offset head against the heatmap's own shape.

An experiment for issue 10 (not a default): each model picks its set's test
micrographs (the ``bench_accuracy.py`` split, every candidate, default
``PickConfig``) four times, with the sub-cell position of each peak taken
from

* ``head``: the offset head (what ``cryopick pick`` does);
* ``centre``: the centre of the heatmap cell (no sub-cell position);
* ``parabola``: the vertex of a parabola through the log heatmap at the peak
  and its two neighbours, per axis (exact for a Gaussian peak);
* ``mean``: the mean of ``head`` and ``parabola``;

and reports AP at IoU 0.5 and 0.6 (boxes of the data set's diameter), plus
the median distance from each true particle to the nearest pick of
``head`` at the default threshold within a third of a diameter.

Usage::

    .venv/bin/python benchmarks/exp_localise.py \\
        empiar10146_apoferritin=benchmarks/_work/s5/models/apo.pt ...

Models: ``benchmarks/exp_fewshot.py ... --save-model PATH``. Sets are read from
the real data (``CRYOPICK_REAL_DATA`` or ``../shared/data/real``) or, for the
simulated shapes, ``benchmarks/_work/accuracy/sims``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
from napari_cryopick.core import detect
from napari_cryopick.core.detect import PickConfig
from napari_cryopick.core.model import load_checkpoint

MODES = ("head", "centre", "parabola", "mean")


def parabola_offsets(heat: np.ndarray) -> np.ndarray:
    """``[2, h, w]`` sub-cell positions (x, y; 0.5 = cell centre) from the log heatmap."""
    log = np.log(np.clip(heat, 1e-6, None))
    padded = np.pad(log, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    h, w = log.shape
    out = []
    for low, high in (((1, 0), (1, 2)), ((0, 1), (2, 1))):  # x: left, right; y: up, down
        lo = padded[low[0] : low[0] + h, low[1] : low[1] + w]
        hi = padded[high[0] : high[0] + h, high[1] : high[1] + w]
        curvature = 2 * (2 * centre - lo - hi)
        shift = np.divide(hi - lo, curvature, out=np.zeros_like(log), where=curvature > 1e-9)
        out.append(0.5 + np.clip(shift, -0.5, 0.5))
    return np.stack(out).astype(np.float32)


def patched_decode(mode: str):
    original = detect.decode_picks

    def decode(maps, kind_index, **kwargs):
        heat = maps["heatmap"]
        heat = heat[kind_index] if heat.ndim == 3 else heat
        maps = dict(maps)
        if mode == "centre":
            maps["offset"] = np.full_like(maps["offset"], 0.5)
        elif mode == "parabola":
            maps["offset"] = parabola_offsets(heat)
        elif mode == "mean":
            maps["offset"] = 0.5 * (parabola_offsets(heat) + maps["offset"])
        return original(maps, kind_index, **kwargs)

    return original, decode


def median_distance(split: ba.DataSplit, picks: pd.DataFrame, threshold: float) -> float:
    distances = []
    for name in split.test:
        truth = split.truth[name][["x", "y"]].to_numpy()
        mine = picks[(picks["micrograph"] == name) & (picks["score"] >= threshold)]
        if not len(mine):
            continue
        d, _ = cKDTree(mine[["x", "y"]].to_numpy()).query(
            truth, distance_upper_bound=split.diameter_px / 3
        )
        distances.append(d[np.isfinite(d)])
    return float(np.median(np.concatenate(distances))) if distances else float("nan")


def folder_of(name: str) -> Path:
    for base in (ba.DEFAULT_DATA, Path(__file__).parent / "_work" / "accuracy" / "sims"):
        if (base / name / "dataset.json").is_file():
            return base / name
    raise SystemExit(f"exp_localise: no data set {name!r}")


def models_to_score(items: list[str]):
    """``(name, path, split, model, config)`` of each ``SET=CHECKPOINT``: every candidate, one thread."""
    torch.set_num_threads(1)
    for item in items:
        name, _, path = item.partition("=")
        split = ba.load_set(folder_of(name))
        model, metadata = load_checkpoint(path)
        config = PickConfig(device="cpu", threshold=0.0, head=ba._default_head_of(metadata, model))
        yield name, path, split, model, config


def scored_test_picks(split: ba.DataSplit, model, config: PickConfig) -> dict[str, float]:
    """AP@0.5 / AP@0.6 of ``model``'s candidates on the test micrographs, and the mean
    seconds per micrograph (reading included): the row fields of the picking experiments."""
    picks, seconds = ba.pick_in_process(split, model, config, split.test)
    values = ba.score(split, picks)
    return {
        "AP@0.5": round(values["AP@0.5"], 4),
        "AP@0.6": round(values["AP@0.6"], 4),
        "s_per_mic": round(float(np.mean(seconds)) if seconds else 0.0, 3),
    }


def pick_test_with(decode, split: ba.DataSplit, model, config: PickConfig) -> pd.DataFrame:
    """The test micrographs' candidates with ``detect.decode_picks`` replaced by ``decode``."""
    original = detect.decode_picks
    detect.decode_picks = decode
    try:
        picks, _ = ba.pick_in_process(split, model, config, split.test)
    finally:
        detect.decode_picks = original
    return picks


def models_arguments(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """``models`` (``SET=CHECKPOINT`` ...) and ``--out`` of the experiments that score saved models."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=CHECKPOINT")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = models_arguments(__doc__, argv)
    for name, path, split, model, config in models_to_score(args.models):
        for mode in MODES:
            picks = pick_test_with(patched_decode(mode)[1], split, model, config)
            values = ba.score(split, picks)
            row = {
                "experiment": "localise",
                "set": name,
                "model": path,
                "mode": mode,
                "AP@0.5": round(values["AP@0.5"], 4),
                "AP@0.6": round(values["AP@0.6"], 4),
                "median_distance_px": round(median_distance(split, picks, 0.15), 2),
            }
            ef.emit(row, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
