"""Probe: vesicle size error with and without the training crops' zoom (session 39).

Simulated 512x512 micrographs with 8 vesicles of 60-160 px (the GUI story test's
setting, seeds 2-4), a vesicle model trained on each through the training workflow
(``bench_vesicles._train``: step-bounded, batch 6, crop 96) for 100 and 300 steps with
``workflows.train.VESICLE_SCALE_RANGE`` set to each range given (``1,1``: no zoom), then
picked at threshold 0.3. Prints, per range and step count, the share of the vesicles
found (centre within a quarter diameter) within 15 % of their size, the median relative size error and the slope
of log predicted on log true diameter, one value per seed.

Run (about 2 minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/exp_vesicle_zoom.py 1,1 0.67,1.5
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_vesicles
import napari_cryopick.workflows.train as train_workflow
from napari_cryopick.core.object_kinds import typical_vesicle_diameter
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph

SEEDS = (2, 3, 4)
STEPS = (100, 300)


def probe(zoom: tuple[float, float], steps: int, seed: int) -> tuple[float, float, float]:
    """(share within 15 %, median relative error, log-log slope) of one trained model."""
    train_workflow.VESICLE_SCALE_RANGE = zoom
    config = SimulationConfig(
        shape=(512, 512),
        pixel_size=5.0,
        diameter_px=32.0,
        n_particles=0,
        n_vesicles=8,
        vesicle_radius_px=(30.0, 80.0),
        snr=0.5,
    )
    simulated = simulate_micrograph(config, seed=seed, name="v")
    truth = simulated.picks[simulated.picks["kind"] == "vesicle"].reset_index(drop=True)
    diameter = typical_vesicle_diameter(truth["diameter"])
    model, _loss = bench_vesicles._train([simulated.image], [truth], diameter, steps, 96)
    picks = bench_vesicles._pick_vesicles(model, simulated.image, diameter, 0.3)
    if not len(picks):
        return 0.0, float("nan"), float("nan")
    distance, index = cKDTree(picks[["x", "y"]].to_numpy()).query(truth[["x", "y"]].to_numpy())
    true = truth["diameter"].to_numpy(float)
    found = distance < 0.25 * true
    predicted = picks["diameter"].to_numpy(float)[index[found]]
    error = predicted / true[found] - 1
    slope = (
        float(np.polyfit(np.log(true[found]), np.log(predicted), 1)[0])
        if found.sum() > 2
        else float("nan")
    )
    within = float((np.abs(error) <= 0.15).mean())  # of the vesicles found
    return within, float(np.median(error)), slope


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    ranges = [tuple(float(v) for v in text.split(",")) for text in (argv or ["1,1", "0.67,1.5"])]
    for zoom in ranges:
        for steps in STEPS:
            rows = [probe(zoom, steps, seed) for seed in SEEDS]
            within, median, slope = (np.round([r[i] for r in rows], 3) for i in range(3))
            print(
                f"zoom {zoom} {steps} steps: within 15% {within.tolist()}, median error "
                f"{median.tolist()}, slope {slope.tolist()}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
