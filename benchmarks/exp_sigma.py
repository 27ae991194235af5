"""Experiment: the width of the training heatmap's Gaussian peaks (session 16).

Runs ``exp_fewshot.py`` with ``sigma = diameter / stride * SIGMA_FACTOR`` cells
(``targets.build_targets_from_arrays``; the default factor is 1/6, CenterNet's),
for what a wider (more tolerant of label-position noise) or narrower peak gives:

    SIGMA_FACTOR=0.25 .venv/bin/python benchmarks/exp_sigma.py --set SET --condition new ...

Every ``exp_fewshot.py`` argument is accepted; give each factor its own
``--out`` file (the rows do not record it).
"""

from __future__ import annotations

import functools
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def main(argv: list[str] | None = None) -> int:
    from napari_cryopick.core import training

    factor = os.environ.get("SIGMA_FACTOR")
    if factor:
        training.build_targets_from_arrays = functools.partial(
            training.build_targets_from_arrays, sigma_factor=float(factor)
        )
    import exp_fewshot

    return exp_fewshot.main(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
