"""Test-time augmentation: the four 90-degree rotations against all eight symmetries of the square.

An experiment for issue 10 (not a default). Picking averages the detector's
outputs over the four rotations of the input (DeepEM; ``PickConfig.rotations``,
on by default). The square has eight symmetries: the four rotations of the
micrograph and the four of its transpose. Training already augments with all
eight, so the model is nearly invariant to them and the four transposed
passes average the noise of the model, as the rotations do. Each model picks
its set's test micrographs (the ``bench_accuracy.py`` split, every candidate,
default ``PickConfig``) with

* ``none``: one pass;
* ``rot4``: the default, four rotations;
* ``d8``: four rotations of the micrograph and four of its transpose, averaged
  (outputs of the transposed micrograph transposed back, offsets swapped);

and reports AP at IoU 0.5 and 0.6 (boxes of the data set's diameter) and the
picking time per micrograph.

Usage::

    .venv/bin/python benchmarks/exp_tta.py \\
        empiar10146_apoferritin=benchmarks/_work/s11/models/apo.pt ... \\
        --out benchmarks/results/exp_session12.jsonl

Models: ``benchmarks/exp_fewshot.py ... --save-model PATH``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import exp_fewshot as ef
from exp_localise import models_to_score, scored_test_picks
from napari_cryopick.core import detect


def transposed_back(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of the transposed micrograph in the micrograph's own frame."""
    out = {
        "heatmap": np.swapaxes(maps["heatmap"], -1, -2),
        # (dx, dy) of the transpose are (dy, dx) of the micrograph (same cell convention)
        "offset": np.swapaxes(maps["offset"][::-1], -1, -2),
    }
    if "diameter" in maps:
        out["diameter"] = maps["diameter"].T
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def dihedral_predict_maps(original):
    """``predict_maps`` averaged over the micrograph and its transpose (each with its rotations)."""

    def predict(model, prepared_image, **kwargs):
        direct = original(model, prepared_image, **kwargs)
        flipped = transposed_back(original(model, np.ascontiguousarray(prepared_image.T), **kwargs))
        return {k: (direct[k] + flipped[k]) / 2 for k in direct}

    return predict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=CHECKPOINT")
    parser.add_argument("--variants", default="none,rot4,d8")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    original = detect.predict_maps
    for name, path, split, model, config in models_to_score(args.models):
        for variant in args.variants.split(","):
            config_v = dataclasses.replace(config, rotations=variant != "none")
            detect.predict_maps = dihedral_predict_maps(original) if variant == "d8" else original
            try:
                scored = scored_test_picks(split, model, config_v)
            finally:
                detect.predict_maps = original
            ef.emit(
                {
                    "experiment": "tta",
                    "set": name,
                    "model": path,
                    "variant": variant,
                    **scored,
                },
                args.out,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
