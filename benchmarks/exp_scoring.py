"""How a candidate is scored: the heatmap's peak value against a smoothed heatmap.

An experiment for issue 10 (not a default). AP ranks the candidates, and on
apoferritin most of what is lost is ranking, not position
(``docs/general-model.md``, session 9). A peak of one noisy heatmap cell
ranks as high as a broad, well-supported blob; smoothing the heatmap before
finding and scoring the peaks (a Gaussian of ``sigma`` heatmap cells) scores
each candidate by the evidence around it instead. Each model picks its set's
test micrographs (the ``bench_accuracy.py`` split, every candidate, default
``PickConfig``, rotation averaging) once per ``--sigmas`` value (0: the
default, the raw heatmap); positions still come from the offset head at the
peak cell. Reports AP at IoU 0.5 and 0.6 (boxes of the data set's diameter).

Usage::

    .venv/bin/python benchmarks/exp_scoring.py \\
        empiar10146_apoferritin=benchmarks/_work/s11/models/apo.pt ... \\
        --sigmas 0,0.5,1 --out benchmarks/results/exp_session11.jsonl

Models: ``benchmarks/exp_fewshot.py ... --save-model PATH``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
from exp_localise import models_to_score, pick_test_with
from napari_cryopick.core import detect


def patched_decode(sigma: float):
    """``decode_picks`` on the heatmap smoothed by a Gaussian of ``sigma`` cells."""
    original = detect.decode_picks

    def decode(maps, kind_index, **kwargs):
        maps = dict(maps)
        heat = np.asarray(maps["heatmap"], dtype=np.float32)
        if heat.ndim == 3:
            heat = heat.copy()
            heat[kind_index] = gaussian_filter(heat[kind_index], sigma, mode="nearest")
        else:
            heat = gaussian_filter(heat, sigma, mode="nearest")
        maps["heatmap"] = heat
        return original(maps, kind_index, **kwargs)

    return original, decode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=CHECKPOINT")
    parser.add_argument("--sigmas", default="0,0.5,1", help="comma-separated, heatmap cells")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    for name, path, split, model, config in models_to_score(args.models):
        for sigma in sigmas:
            original, decode = patched_decode(sigma)
            picks = pick_test_with(decode if sigma > 0 else original, split, model, config)
            values = ba.score(split, picks)
            ef.emit(
                {
                    "experiment": "scoring",
                    "set": name,
                    "model": path,
                    "sigma_cells": sigma,
                    "AP@0.5": round(values["AP@0.5"], 4),
                    "AP@0.6": round(values["AP@0.6"], 4),
                },
                args.out,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
