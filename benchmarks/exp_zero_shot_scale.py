"""Zero-shot AP of a general model against the factor of the diameter it rescales with.

An experiment for issue 10 (session 12), behind the zero-shot scale search
(``napari_cryopick.core.scale_search``). Each ``SET=MODEL`` picks its set's
test micrographs (the ``bench_accuracy.py`` split, every candidate, default
``PickConfig``) as if the diameter were ``f`` times the data set's, for each
``f`` of ``--factors``, and reports AP at IoU 0.5 (boxes of the data set's
diameter) and the confidence the search ranks the factors by
(``pick_confidence``: the mean of the K best candidate scores, K the particles
that would cover ``cov`` of the micrograph) for ``cov`` 0.05 / 0.1 / 0.2.

Usage::

    .venv/bin/python benchmarks/exp_zero_shot_scale.py \\
        empiar10017_bgal=benchmarks/models/general_without_empiar10017_bgal.pt \\
        sim_ring=src/napari_cryopick/core/model/weights/general.pt \\
        --out benchmarks/results/exp_session12.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
from exp_localise import models_to_score
from napari_cryopick.core.scale_search import pick_confidence
from napari_cryopick.io.micrographs import read_micrograph

COVERAGES = (0.05, 0.1, 0.2)


def mean_confidence(picks, shapes: dict, diameter_for_k: float, coverage: float) -> float:
    """``pick_confidence`` of each micrograph of ``shapes`` (name -> shape), averaged."""
    values = [
        pick_confidence(
            picks.loc[picks["micrograph"] == name, "score"], shape, diameter_for_k, coverage
        )
        for name, shape in shapes.items()
    ]
    return round(float(np.mean(values)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=CHECKPOINT")
    parser.add_argument("--factors", default="0.7,0.8,0.9,1,1.1,1.25,1.4")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    factors = [float(f) for f in args.factors.split(",")]
    for name, path, split, model, config in models_to_score(args.models):
        diameter = split.diameter_px
        shapes = {m: read_micrograph(split.paths[m]).data.shape for m in split.test}
        for factor in factors:
            scaled = dataclasses.replace(split, diameter_px=diameter * factor)
            picks, _ = ba.pick_in_process(scaled, model, config, split.test)
            picks = picks.assign(diameter=diameter)
            values = ba.score(split, picks)
            confidence = {
                f"confidence_{c}": mean_confidence(picks, shapes, diameter, c) for c in COVERAGES
            }
            # K from the diameter the factor assumes (d * f) instead of the given one
            confidence["confidence_0.1_own_k"] = mean_confidence(
                picks, shapes, diameter * factor, 0.1
            )
            ef.emit(
                {
                    "experiment": "zero_shot_scale",
                    "set": name,
                    "model": path,
                    "factor": factor,
                    "AP@0.5": round(values["AP@0.5"], 4),
                    "AP@0.6": round(values["AP@0.6"], 4),
                    **confidence,
                },
                args.out,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
