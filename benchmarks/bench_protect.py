"""Cost of protecting the starting model's detections (``ContinualConfig.protect_prior``).

Times :func:`napari_cryopick.core.unlabelled.protect_prior_detections` (the
one detection pass before training) per training micrograph, on the first 3
micrographs of β-gal (4096², prepared 1062²) and the ribosome (1024²,
prepared 512²) with 10 clicks, using the leave-one-out general models when
``benchmarks/_work/general_without_<set>.pt`` exists, else the bundled one.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_protect.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    import exp_fewshot as helpers
    from napari_cryopick.core.model import load_bundled_model, load_checkpoint
    from napari_cryopick.core.training import build_examples
    from napari_cryopick.core.unlabelled import protect_prior_detections

    torch.set_num_threads(1)
    for name in ("empiar10017_bgal", "empiar10028_ribosome"):
        split = helpers.load_split(helpers.recipe.default_real_data_dir() / name, n_clicks=10)
        general = ROOT / "benchmarks" / "_work" / f"general_without_{name}.pt"
        model, _ = load_checkpoint(general) if general.exists() else load_bundled_model()
        examples = build_examples(
            split["images"][:3], split["clicks"], split["diameter"], model.config
        )
        protect_prior_detections(model, examples[:1], head="generic")  # warm-up
        start = time.perf_counter()
        _, threshold, _, _ = protect_prior_detections(model, examples, head="generic")
        seconds = (time.perf_counter() - start) / len(examples)
        shape = examples[0].prepared.image.shape
        print(
            f"{name}: prepared {shape}, {seconds:.3f} s per micrograph, threshold {threshold:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
