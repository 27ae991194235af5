"""Classical zero-shot pickers: could one stand in where the general model sees nothing?

An experiment for issue 10 (not a default). Zero-shot, the bundled general model
scores AP@0.5 0.004 on apoferritin (tag s12/s13 of ``bench_accuracy.py``): it
barely sees those low-contrast particles. This measures two classical pickers
that need only the diameter, as RELION's Laplacian-of-Gaussian picker does,
on the issue-10 test micrographs of each real set (all but the first 3 sorted
by name), scored by the same evaluator (boxes of the set's diameter):

* ``log``: the micrograph rescaled so particles are 20 px (as the network sees
  them), its smooth background (a Gaussian of 4 diameters) subtracted,
  normalised; the response of a Laplacian of Gaussian of sigma = f r / sqrt(2)
  (dark blobs), peaks 0.8 diameter apart;
* ``disc``: the same image, the mean over a disc of f diameters subtracted
  from the mean over twice that (a dark disc on its surround).

Scores are the filter's response, scaled to [0, 1] per micrograph.

    .venv/bin/python benchmarks/exp_classical_zero_shot.py \\
        --sets empiar10146_apoferritin,empiar10017_bgal,empiar10028_ribosome \\
        --factors 0.5,0.75,1.0,1.25,1.5 --out benchmarks/results/exp_session29.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.feature import peak_local_max

from napari_cryopick.core.evaluate import average_precision
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.preprocess import downsample_to_diameter, normalize
from napari_cryopick.io.micrographs import read_micrograph

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("CRYOPICK_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
TARGET = 20.0  # the particle diameter in pixels the micrographs are rescaled to


def prepared(path: Path, diameter: float) -> tuple[np.ndarray, float]:
    image = read_micrograph(path, quiet=True).data.astype(np.float32)
    small, scale = downsample_to_diameter(image, diameter, TARGET)
    small = small - ndimage.gaussian_filter(small, 4 * TARGET)
    return normalize(small), scale


def response(image: np.ndarray, mode: str, factor: float) -> np.ndarray:
    radius = TARGET / 2
    if mode == "log":
        sigma = factor * radius / np.sqrt(2)
        return ndimage.gaussian_laplace(image, sigma) * sigma**2  # dark blobs: positive
    inner = ndimage.uniform_filter(image, int(2 * radius * factor) | 1)
    outer = ndimage.uniform_filter(image, int(4 * radius * factor) | 1)
    return outer - inner


def picks_of(name: str, image: np.ndarray, scale: float, mode: str, factor: float, d: float):
    values = response(image, mode, factor)
    peaks = peak_local_max(values, min_distance=int(0.8 * TARGET), exclude_border=int(TARGET / 2))
    scores = values[peaks[:, 0], peaks[:, 1]]
    scores = (scores - scores.min()) / (np.ptp(scores) + 1e-9)
    x = (peaks[:, 1] + 0.5) / scale - 0.5
    y = (peaks[:, 0] + 0.5) / scale - 0.5
    return make_picks(x, y, score=scores, diameter=d, micrograph=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default="empiar10146_apoferritin,empiar10017_bgal")
    parser.add_argument("--modes", default="log,disc")
    parser.add_argument("--factors", default="1.0")
    parser.add_argument("--out", type=Path, default=None, help="append JSON rows here")
    args = parser.parse_args()
    for name in args.sets.split(","):
        folder = args.data / name
        info = json.loads((folder / "dataset.json").read_text())
        d = float(info["particle_diameter_px"])
        micrographs = sorted((folder / "micrographs").iterdir())[3:]
        images = [(m.stem, *prepared(m, d)) for m in micrographs]
        truth = pd.concat(
            make_picks(t["x"], t["y"], diameter=d, micrograph=stem)
            for stem, t in ((s, pd.read_csv(folder / "picks" / f"{s}.csv")) for s, *_ in images)
        )
        for mode in args.modes.split(","):
            for factor in map(float, args.factors.split(",")):
                pred = pd.concat(picks_of(s, im, sc, mode, factor, d) for s, im, sc in images)
                row = {
                    "experiment": "classical_zero_shot",
                    "set": name,
                    "mode": mode,
                    "factor": factor,
                    "ap50": round(average_precision(pred, truth, iou=0.5), 4),
                    "ap60": round(average_precision(pred, truth, iou=0.6), 4),
                }
                print(json.dumps(row), flush=True)
                if args.out is not None:
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
