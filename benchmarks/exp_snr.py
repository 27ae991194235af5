"""The particles' signal-to-noise ratio as the network sees them, real sets and simulated ones.

An experiment for issue 10 (not a default). The general model's simulated
micrographs draw their SNR after rescaling to the network's diameter from
``scripts/train_general_model.py``'s ``PREPARED_SNR_RANGE``. Is that the range
of real data? Each micrograph is prepared as picking prepares it
(``prepare_micrograph``: rescaled so particles span the target diameter,
background subtracted, normalised); the crops centred on the labels are
averaged into a template; the SNR estimate is the template's mean square over
a disc of one diameter (minus the mean of a ring just outside it) over the
residual variance of the crops there. Label jitter and the particles'
orientations blur the template, so the estimate is low; the same estimator on
simulated micrographs of a known SNR (spheres, the simulator's definition)
says by how much.

    .venv/bin/python benchmarks/exp_snr.py --out benchmarks/results/exp_session42_snr.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick.core.model import DetectorConfig
from napari_cryopick.core.model.inputs import prepare_micrograph
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
from napari_cryopick.io.micrographs import read_micrograph

SETS = ("empiar10146_apoferritin", "empiar10028_ribosome", "empiar10017_bgal")
HALF = 24  # crop half-side in prepared pixels (the target diameter is 28)


def _data_dir() -> Path:
    configured = os.environ.get("CRYOPICK_REAL_DATA")
    return (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    )


def snr_estimate(pairs: list[tuple[np.ndarray, pd.DataFrame]], diameter: float) -> dict:
    """The template SNR of ``(image, picks)`` pairs at ``diameter`` (see the docstring)."""
    config = DetectorConfig()
    target = float(config.target_diameter_px)
    crops = []
    for image, picks in pairs:
        prepared = prepare_micrograph(image, diameter, config)
        prep = np.asarray(prepared.image, dtype=np.float64)
        for x, y in zip(picks["x"] * prepared.scale_x, picks["y"] * prepared.scale_y, strict=True):
            col, row = round(x), round(y)
            if HALF <= col < prep.shape[1] - HALF and HALF <= row < prep.shape[0] - HALF:
                crops.append(prep[row - HALF : row + HALF + 1, col - HALF : col + HALF + 1])
    stack = np.asarray(crops)
    template = stack.mean(axis=0)
    yy, xx = np.indices(template.shape) - HALF
    radius = np.hypot(yy, xx)
    disc = radius <= target / 2
    ring = (radius > 0.7 * target) & (radius < 0.85 * target)
    signal = template - template[ring].mean()
    power = float(np.mean(signal[disc] ** 2))
    noise = float((stack - template)[:, disc].var())
    return {"crops": len(crops), "snr": power / noise, "signal_power": power, "noise_var": noise}


def real_sets(data: Path, micrographs: int) -> list[dict]:
    rows = []
    for name in SETS:
        folder = data / name
        diameter = float(json.loads((folder / "dataset.json").read_text())["particle_diameter_px"])
        pairs = []
        for path in sorted((folder / "micrographs").iterdir())[:micrographs]:
            picks = pd.read_csv(folder / "picks" / f"{path.stem}.csv")
            pairs.append((read_micrograph(path).data, picks))
        rows.append({"set": name, "kind": "real", **snr_estimate(pairs, diameter)})
    return rows


def simulated(snrs: list[float], diameter: float = 62.0) -> list[dict]:
    rows = []
    target = float(DetectorConfig().target_diameter_px)
    for prepared_snr in snrs:
        # the simulator's SNR is at the original pixels: rescaling by diameter / target
        # averages that many pixels' noise squared (scripts/train_general_model.py)
        snr = prepared_snr / max(diameter / target, 1.0) ** 2
        config = SimulationConfig(
            shape=(1024, 1024), shapes=("sphere",), diameter_px=diameter, n_particles=150, snr=snr
        )
        pairs = []
        for seed in range(3):
            sim = simulate_micrograph(config, seed=seed)
            pairs.append((sim.image, sim.picks))
        row = {"set": f"sim_sphere_prepared_snr_{prepared_snr:g}", "kind": "simulated"}
        rows.append({**row, "true_prepared_snr": prepared_snr, **snr_estimate(pairs, diameter)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--micrographs", type=int, default=4)
    parser.add_argument("--sim-snr", default="0.003,0.01,0.03,0.1,0.3")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = real_sets(args.data or _data_dir(), args.micrographs)
    rows += simulated([float(v) for v in args.sim_snr.split(",")])
    for row in rows:
        print(json.dumps(row))
    if args.out is not None:
        with args.out.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
