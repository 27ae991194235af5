"""Balanced tiles: time to pick one large prepared micrograph with and without them.

A 4096² β-gal micrograph at 108 px becomes a 1062² prepared image; tiles of
1024 px need two per axis. Balanced tiles (``core.detect._balanced_tile``)
make those two tiles just large enough (640 px) instead of 1024 px. This
times ``pick_micrograph`` (defaults: rotation averaging on) with balanced
tiles and with the previous fixed-size tiles, and checks the picks agree.

Usage (one torch thread, as the other benchmarks)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tiles.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    import exp_fewshot as helpers
    import napari_cryopick.core.detect as detect
    from napari_cryopick.core.detect import PickConfig, pick_micrograph
    from napari_cryopick.core.model import load_bundled_model

    torch.set_num_threads(1)
    split = helpers.load_split(helpers.recipe.default_real_data_dir() / "empiar10017_bgal")
    model, _ = load_bundled_model()
    image = split["images"][4]
    balanced = detect._balanced_tile
    results = {}
    for label in ("balanced", "fixed 1024"):
        if label != "balanced":
            detect._balanced_tile = lambda length, tile, margin, multiple: min(tile, length)
        config = PickConfig(device="cpu")
        pick_micrograph(model, image, diameter_px=split["diameter"], config=config)  # warm-up
        start = time.perf_counter()
        result = pick_micrograph(model, image, diameter_px=split["diameter"], config=config)
        results[label] = (time.perf_counter() - start, result.picks)
    detect._balanced_tile = balanced
    for label, (seconds, picks) in results.items():
        print(f"{label}: {seconds:.2f} s, {len(picks)} candidates")
    a, b = (results[k][1] for k in results)
    same = len(a) == len(b) and np.allclose(
        a[["x", "y", "score"]], b[["x", "y", "score"]], atol=1e-3
    )
    print(f"same candidates: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
