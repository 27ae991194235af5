"""Experiment: where the top-ranked false picks lie, and a template from the clicks (session 17).

An experiment for issue 10 (not a default). For each ``SET=CHECKPOINT`` (a
model trained by ``benchmarks/exp_fewshot.py ... --save-model``) it picks the
set's test micrographs (the ``bench_accuracy.py`` split, every candidate,
default ``PickConfig``) and reports:

* ``errors``: AP@0.5 at several IoU thresholds, and where the N highest
  scored picks lie (N = the number of true particles): within 0.18 diameter of
  a true centre (a match at IoU 0.5 for boxes of the data set's diameter),
  0.18-0.5 diameter (a localisation error), 0.5-1 diameter (between
  particles), farther; for the 0.5-1 class, how much farther the second
  nearest true centre is (near 0: in the gap between two or three particles);
  and the spacing of the true particles (nearest-neighbour distance);
* ``suppression``: AP@0.5 after a further greedy suppression of candidates
  closer than ``r`` diameters to a higher-scored one (the default suppresses
  at 0.4);
* ``template``: a classical picker from the same clicks, for scale: the
  clicked particles of the training micrographs, prepared as for the
  detector (28 px diameter, robust normalisation, a Gaussian of 1 px), are
  averaged (``mean``) or averaged and rotationally symmetrised (``radial``);
  the normalised cross-correlation (``skimage.feature.match_template``) of
  the test micrographs with it, local maxima 0.4 diameter apart
  (``peak_local_max``), score = correlation;
* ``rescore``: the model's candidates with ``score + w * 0.1 * z``, where
  ``z`` is the radial template's correlation near the candidate (max within
  2 prepared px) as a z-score of the micrograph's correlation map.

Usage::

    .venv/bin/python benchmarks/exp_errors.py empiar10146_apoferritin=apo.pt ... \\
        --out benchmarks/results/exp_session17.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.spatial import cKDTree
from skimage.feature import match_template, peak_local_max

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
from exp_localise import models_arguments, models_to_score
from napari_cryopick.core import preprocess
from napari_cryopick.core.evaluate import average_precision
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.micrographs import read_micrograph

TARGET_PX = 28.0
SMOOTH_PX = 1.0
IOUS = (0.1, 0.3, 0.5, 0.6)
RADII = (0.4, 0.5, 0.6, 0.8)
WEIGHTS = (0.25, 0.5, 1.0, 2.0)


def prepared(path: Path, scale: float) -> np.ndarray:
    image = np.asarray(read_micrograph(path).data, dtype=np.float32)
    image = gaussian_filter(preprocess.resample(image, scale), SMOOTH_PX)
    return preprocess.normalize(image, clip=3.0)


def click_template(split: ba.DataSplit, scale: float, radial: bool) -> np.ndarray:
    """The mean prepared crop (1.5 diameters) around the clicks of the training micrographs."""
    half = round(0.75 * TARGET_PX)
    crops = []
    for name in split.train:
        image = prepared(split.paths[name], scale)
        for x, y in zip(split.train_picks[name]["x"] * scale, split.train_picks[name]["y"] * scale):
            col, row = round(float(x)), round(float(y))
            if half <= col < image.shape[1] - half and half <= row < image.shape[0] - half:
                crops.append(image[row - half : row + half + 1, col - half : col + half + 1])
    mean = np.mean(crops, axis=0)
    if not radial:
        return mean
    yy, xx = np.indices(mean.shape)
    ring = np.hypot(yy - half, xx - half).astype(int)
    profile = np.bincount(ring.ravel(), mean.ravel()) / np.bincount(ring.ravel())
    return profile[ring]


def greedy_suppression(picks: pd.DataFrame, radius: float) -> pd.DataFrame:
    picks = picks.sort_values("score", ascending=False)
    xy = picks[["x", "y"]].to_numpy()
    keep = np.ones(len(picks), dtype=bool)
    tree = cKDTree(xy)
    for i in range(len(picks)):
        if keep[i]:
            for j in tree.query_ball_point(xy[i], radius):
                if j > i:
                    keep[j] = False
    return picks[keep]


def error_classes(split: ba.DataSplit, picks: pd.DataFrame) -> dict:
    truth = pd.concat([split.truth[n] for n in split.test], ignore_index=True)
    diameter = split.diameter_px
    row: dict = {}
    for iou in IOUS:
        ap = average_precision(
            picks.assign(diameter=diameter), truth, diameter_px=diameter, iou=iou
        )
        row[f"AP@{iou}"] = round(float(ap), 4)
    parts = []
    for name in split.test:
        centres = split.truth[name][["x", "y"]].to_numpy()
        mine = picks[picks["micrograph"] == name]
        distance, _ = cKDTree(centres).query(mine[["x", "y"]].to_numpy(), k=2)
        parts.append(mine.assign(d1=distance[:, 0] / diameter, d2=distance[:, 1] / diameter))
    top = pd.concat(parts).sort_values("score", ascending=False).head(len(truth))
    classes = {"<0.18": top.d1 < 0.18, "0.18-0.5": (top.d1 >= 0.18) & (top.d1 < 0.5)}
    classes["0.5-1"] = (top.d1 >= 0.5) & (top.d1 < 1.0)
    classes[">=1"] = top.d1 >= 1.0
    row["top_n_fraction"] = {k: round(float(v.mean()), 3) for k, v in classes.items()}
    between = top[classes["0.5-1"]]
    row["between_d1_median"] = round(float(between.d1.median()), 3)
    row["between_d2_minus_d1_median"] = round(float((between.d2 - between.d1).median()), 3)
    spacing = np.concatenate(
        [
            cKDTree(t[["x", "y"]]).query(t[["x", "y"]], k=2)[0][:, 1]
            for t in split.truth.values()
            if len(t) > 1
        ]
    )
    row["truth_nn_quantiles_01_05_50"] = np.round(
        np.quantile(spacing / diameter, [0.01, 0.05, 0.5]), 3
    ).tolist()
    return row


def template_picks(split: ba.DataSplit, template: np.ndarray, scale: float) -> pd.DataFrame:
    tables = []
    for name in split.test:
        correlation = match_template(prepared(split.paths[name], scale), template, pad_input=True)
        peaks = peak_local_max(
            correlation, min_distance=int(0.4 * TARGET_PX), threshold_abs=-1, exclude_border=False
        )
        tables.append(
            make_picks(
                peaks[:, 1] / scale,
                peaks[:, 0] / scale,
                score=correlation[peaks[:, 0], peaks[:, 1]],
                diameter=split.diameter_px,
                micrograph=name,
            )
        )
    return pd.concat(tables, ignore_index=True)


def template_z(split: ba.DataSplit, picks: pd.DataFrame, template: np.ndarray, scale: float):
    z = np.zeros(len(picks))
    for name in split.test:
        rows = (picks["micrograph"] == name).to_numpy()
        correlation = match_template(prepared(split.paths[name], scale), template, pad_input=True)
        near = maximum_filter(correlation, size=5)
        col = np.clip(np.round(picks["x"][rows] * scale).astype(int), 0, near.shape[1] - 1)
        row = np.clip(np.round(picks["y"][rows] * scale).astype(int), 0, near.shape[0] - 1)
        z[rows] = (near[row, col] - np.median(correlation)) / (correlation.std() + 1e-9)
    return z


def main(argv: list[str] | None = None) -> int:
    args = models_arguments(__doc__, argv)
    for name, path, split, model, config in models_to_score(args.models):
        picks, _ = ba.pick_in_process(split, model, config, split.test)
        base = {"experiment": "errors", "set": name, "model": path}
        ef.emit({**base, "what": "errors", **error_classes(split, picks)}, args.out)
        suppressed = {}
        for radius in RADII:
            kept = pd.concat(
                greedy_suppression(picks[picks["micrograph"] == n], radius * split.diameter_px)
                for n in split.test
            )
            suppressed[str(radius)] = round(ba.score(split, kept)["AP@0.5"], 4)
        ef.emit({**base, "what": "suppression", "AP@0.5": suppressed}, args.out)
        scale = TARGET_PX / split.diameter_px
        for radial in (False, True):
            template = click_template(split, scale, radial)
            values = ba.score(split, template_picks(split, template, scale))
            ef.emit(
                {
                    **base,
                    "what": "template",
                    "template": "radial" if radial else "mean",
                    "AP@0.5": round(values["AP@0.5"], 4),
                    "AP@0.6": round(values["AP@0.6"], 4),
                },
                args.out,
            )
        z = template_z(split, picks, template, scale)
        rescored = {"0": round(ba.score(split, picks)["AP@0.5"], 4)}
        for weight in WEIGHTS:
            new = picks.assign(score=picks["score"].to_numpy() + weight * 0.1 * z)
            rescored[str(weight)] = round(ba.score(split, new)["AP@0.5"], 4)
        ef.emit({**base, "what": "rescore", "AP@0.5": rescored}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
