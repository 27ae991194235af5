"""Recentre picks on the micrograph: align each pick to the average of the best picks.

An experiment for issue 10 (not a default). Session 17 found that 21 % of
apoferritin's top-ranked picks lie 0.18-0.5 diameter from a particle (AP@0.1
0.83 against AP@0.5 0.54). This asks whether moving each pick to where the
micrograph best matches the average of the micrograph's own best picks (a
reference-free 2D average, as RELION's 2D classification centres particles)
localises better than the offset head.

Per set: the saved model picks the test micrographs with every candidate
(default ``PickConfig``). Per micrograph, on the image lowpassed to the
particle's scale, a template is the average of the top ``--top`` picks' crops
(``round`` rounds: re-average after each recentring), rotationally averaged
(``radial``) or not (``plain``). Each pick then moves to the maximum of the
normalised cross-correlation within ``--search`` diameters. Reports AP@0.5 /
AP@0.6 (boxes of the set's diameter) before and after, and the median
distance of true particles to the nearest pick.

    .venv/bin/python benchmarks/exp_recentre.py \\
        empiar10146_apoferritin=benchmarks/_work/threshold/empiar10146_apoferritin/quarter/model.pt ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.feature import match_template

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
import exp_localise as el
from napari_cryopick.core.preprocess import normalize, resample
from napari_cryopick.io.micrographs import read_micrograph

TARGET_D = 24.0  # the particle's diameter in the image the alignment works on


def radial_average(template: np.ndarray) -> np.ndarray:
    size = template.shape[0]
    c = (size - 1) / 2
    yy, xx = np.indices(template.shape)
    r = np.hypot(yy - c, xx - c)
    rb = np.round(r).astype(int)
    profile = ndimage.mean(template, labels=rb, index=np.arange(rb.max() + 1))
    return np.interp(r, np.arange(rb.max() + 1), profile)


def crops(image: np.ndarray, xy: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(image, half, mode="reflect")
    out = []
    for x, y in np.round(xy).astype(int):
        out.append(padded[y : y + 2 * half + 1, x : x + 2 * half + 1])
    return np.stack(out)


def recentre(image: np.ndarray, picks: pd.DataFrame, diameter: float, args) -> pd.DataFrame:
    scale = TARGET_D / diameter
    small = normalize(resample(image.astype(np.float32), scale))
    small = ndimage.gaussian_filter(small, TARGET_D * args.sigma)
    xy = picks[["x", "y"]].to_numpy() * scale
    xy = np.clip(xy, 0, np.array(small.shape[::-1]) - 1)
    half = round(TARGET_D * args.box / 2)
    order = np.argsort(-picks["score"].to_numpy())
    top = order[: args.top]
    search = TARGET_D * args.search
    for _ in range(args.rounds):
        template = crops(small, xy[top], half).mean(axis=0)
        if args.template == "radial":
            template = radial_average(template)
        ncc = match_template(small, template, pad_input=True, mode="reflect")
        new = xy.copy()
        r = int(np.ceil(search))
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        inside = np.hypot(yy, xx) <= search
        padded = np.pad(ncc, r, mode="constant", constant_values=-np.inf)
        for i, (x, y) in enumerate(xy):
            xi, yi = round(float(x)), round(float(y))
            window = padded[yi : yi + 2 * r + 1, xi : xi + 2 * r + 1]
            window = np.where(inside, window, -np.inf)
            k = np.unravel_index(np.argmax(window), window.shape)
            dy, dx = k[0] - r, k[1] - r
            new[i] = (xi + dx, yi + dy)
        xy = np.clip(new, 0, np.array(small.shape[::-1]) - 1)
    out = picks.copy()
    out["x"], out["y"] = xy[:, 0] / scale, xy[:, 1] / scale
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=CHECKPOINT")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--search", type=float, default=0.25)
    parser.add_argument("--box", type=float, default=1.5)
    parser.add_argument("--sigma", type=float, default=0.05)
    parser.add_argument("--template", default="radial,plain")
    args = parser.parse_args(argv)
    for name, path, split, model, config in el.models_to_score(args.models):
        picks, _ = ba.pick_in_process(split, model, config, split.test)
        base = ba.score(split, picks)
        row = {"experiment": "recentre", "set": name, "model": path, "mode": "head"}
        row.update({k: round(base[k], 4) for k in ("AP@0.5", "AP@0.6")})
        row["median_distance_px"] = round(el.median_distance(split, picks, 0.15), 2)
        ef.emit(row, args.out)
        for kind in args.template.split(","):
            args.template = kind
            moved = []
            for mic in split.test:
                image = read_micrograph(split.paths[mic]).data
                mine = picks[picks["micrograph"] == mic]
                moved.append(recentre(image, mine, split.diameter_px, args) if len(mine) else mine)
            moved = pd.concat(moved, ignore_index=True)
            values = ba.score(split, moved)
            row = {
                "experiment": "recentre",
                "set": name,
                "model": path,
                "mode": kind,
                **{k: getattr(args, k) for k in ("top", "rounds", "search", "box", "sigma")},
                "AP@0.5": round(values["AP@0.5"], 4),
                "AP@0.6": round(values["AP@0.6"], 4),
                "median_distance_px": round(el.median_distance(split, moved, 0.15), 2),
            }
            ef.emit(row, args.out)
        args.template = "radial,plain"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
