"""Zero-shot confidence and AP over a wide range of scales, at the right and at wrong diameters.

An experiment for issue 10 (session 13), behind the warnings of the zero-shot
scale search (``napari_cryopick.core.scale_search.beyond_range`` and
``barely_sees``). For each ``SET=MODEL`` and each given diameter ``g`` times
the data set's (1, 0.6, 1.7: a user who gave the right one, one 40 % too small,
one 70 % too large), the set's test micrographs (the ``bench_accuracy.py``
split, every candidate) are picked as if the diameter were ``f`` times the
given one for every ``f`` of ``FACTORS``. Each line reports AP@0.5 (boxes of
the data set's diameter: where the picks are, not the size written) and the
search's confidence (``pick_confidence``, K from the given diameter) on the
first three test micrographs (``conf3``, what the search sees) and on all.

Usage::

    .venv/bin/python benchmarks/exp_scale_edge.py \\
        empiar10028_ribosome=benchmarks/models/general_without_empiar10028_ribosome.pt \\
        sim_ring=src/napari_cryopick/core/model/weights/general.pt \\
        --out benchmarks/results/exp_session13.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef
from exp_localise import models_to_score
from exp_zero_shot_scale import mean_confidence
from napari_cryopick.io.micrographs import read_micrograph

FACTORS = (0.5, 0.64, 0.8, 0.9, 1.0, 1.1, 1.25, 1.56, 2.0)
GIVEN = (1.0, 0.6, 1.7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=CHECKPOINT")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    for name, path, split, model, config in models_to_score(args.models):
        diameter = split.diameter_px
        shapes = {m: read_micrograph(split.paths[m]).data.shape for m in split.test}
        first3 = {m: shapes[m] for m in list(shapes)[:3]}
        for given_ratio in GIVEN:
            given = diameter * given_ratio
            for factor in FACTORS:
                scaled = dataclasses.replace(split, diameter_px=given * factor)
                picks, _ = ba.pick_in_process(scaled, model, config, split.test)
                picks = picks.assign(diameter=diameter)
                ef.emit(
                    {
                        "experiment": "scale_edge",
                        "set": name,
                        "model": path,
                        "given": given_ratio,
                        "factor": factor,
                        "true_factor": round(given_ratio * factor, 4),
                        "AP@0.5": round(ba.score(split, picks)["AP@0.5"], 4),
                        "conf3": mean_confidence(picks, first3, given, 0.1),
                        "conf": mean_confidence(picks, shapes, given, 0.1),
                    },
                    args.out,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
