"""How close the diameter estimated from clicks comes to the labelled one.

``cryopick train`` and the Train widget estimate the particle diameter from
the clicks when the user gives none (``napari_cryopick.core.diameter``), and
warn when a given diameter disagrees with that estimate by more than 25 %.
This measures the estimate the way a user meets it: the first 3 micrographs
of a set by name, 10 / 25 / 50 / 100 clicks drawn at random from all their
labels (``numpy.random.default_rng(draw)``, five draws), and reports the ratio
estimate / labelled diameter (median and range over the draws) and the share
of estimates within 25 %.

Sets: the real sets with a diameter in their ``dataset.json``
(``CRYOPICK_REAL_DATA`` or ``../shared/data/real``), the benchmark's held-out
simulated shapes (``benchmarks/_work/accuracy/sims``, written by
``bench_accuracy.py``) when present, and simulated sets of every other
simulator shape written here (3 micrographs of 1024 px, SNR 0.05, seed 7).

Usage::

    .venv/bin/python benchmarks/bench_diameter.py [--draws 5] [--out benchmarks/results/diameter]

Results: ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
ROOT = HERE.parent
REAL = Path(os.environ.get("CRYOPICK_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
HELD_OUT = HERE / "_work" / "accuracy" / "sims"
WORK = HERE / "_work" / "diameter"
CLICKS = (10, 25, 50, 100)

#: simulated shape -> diameter (px): sizes spread over what users bring to 1024 px micrographs
SHAPES = {
    "sphere": 40.0,
    "cube": 80.0,
    "ellipsoid": 60.0,
    "dumbbell": 50.0,
    "lumpy": 70.0,
    "rod": 48.0,
    "tetrahedron": 36.0,
    "shell": 64.0,
    "large_sphere": 100.0,
}


def simulated_sets() -> dict[str, Path]:
    """Write (once) a 3-micrograph set of every simulator shape; their folders."""
    from napari_cryopick.core.simulate import SimulationConfig, simulate_dataset

    folders = {}
    for name, diameter in SHAPES.items():
        shape = "sphere" if name == "large_sphere" else name
        folder = WORK / f"{name}_{diameter:.0f}"
        if not (folder / "dataset.json").exists():
            config = SimulationConfig(shapes=(shape,), diameter_px=diameter, snr=0.05)
            for _ in simulate_dataset(folder, 3, config, seed=7):
                pass
        folders[folder.name] = folder
    return folders


def load(folder: Path) -> tuple[float, list[np.ndarray], list[pd.DataFrame]] | None:
    """(labelled diameter, the first 3 micrographs, their particle labels), or None."""
    from napari_cryopick.io.micrographs import read_micrograph
    from napari_cryopick.io.pickfiles import read_picks

    meta = json.loads((folder / "dataset.json").read_text())
    truth = meta.get("particle_diameter_px")
    if not truth:
        return None
    micrographs = sorted(p for p in (folder / "micrographs").iterdir() if p.is_file())[:3]
    images, tables = [], []
    for path in micrographs:
        images.append(read_micrograph(path, quiet=True).data)
        [pick_file] = sorted((folder / "picks").glob(path.stem + ".*"))
        table = read_picks(pick_file)
        if "kind" in table.columns:
            table = table[table["kind"] == "particle"]
        tables.append(table[["x", "y"]].reset_index(drop=True))
    return float(truth), images, tables


def measure(truth: float, images, tables, draws: int) -> dict[int, list[float]]:
    """Estimate / truth for every click count and draw."""
    from napari_cryopick.core.diameter import estimate_diameter

    owner = np.concatenate([np.full(len(t), i) for i, t in enumerate(tables)])
    flat = pd.concat(tables, ignore_index=True)
    ratios: dict[int, list[float]] = {}
    for count in CLICKS:
        ratios[count] = []
        for draw in range(draws):
            rng = np.random.default_rng(draw)
            chosen = rng.choice(len(flat), min(count, len(flat)), replace=False)
            clicks = [flat.iloc[chosen[owner[chosen] == i]] for i in range(len(tables))]
            estimate = estimate_diameter(images, clicks)
            ratios[count].append(round(estimate.diameter_px / truth, 3))
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "diameter")
    args = parser.parse_args(argv)

    folders = {p.name: p for p in sorted(REAL.iterdir()) if (p / "dataset.json").exists()}
    if HELD_OUT.exists():
        folders.update({p.name: p for p in sorted(HELD_OUT.iterdir()) if p.is_dir()})
    folders.update(simulated_sets())
    rows = []
    for name, folder in folders.items():
        loaded = load(folder)
        if loaded is None:
            continue
        truth, images, tables = loaded
        ratios = measure(truth, images, tables, args.draws)
        rows.append({"set": name, "diameter_px": truth, "ratios": ratios})
        print(name, {k: float(np.median(v)) for k, v in ratios.items()}, flush=True)

    every = np.array([r for row in rows for v in row["ratios"].values() for r in v])
    within = float(np.mean(np.abs(np.log(every)) <= np.log(1.25)))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({"date": stamp, "machine": machine, "within_25": within, "rows": rows}, indent=1)
    )
    lines = [
        f"Diameter estimated from clicks / labelled diameter ({stamp}, {machine}; "
        f"`.venv/bin/python benchmarks/bench_diameter.py --draws {args.draws}`). "
        "Median [min, max] over the draws.",
        "",
        "| set | labelled px | " + " | ".join(f"{c} clicks" for c in CLICKS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in CLICKS) + " |",
    ]
    for row in rows:
        cells = [f"{np.median(v):.2f} [{min(v):.2f}, {max(v):.2f}]" for v in row["ratios"].values()]
        lines.append(f"| {row['set']} | {row['diameter_px']:.0f} | " + " | ".join(cells) + " |")
    lines += ["", f"Within 25 % of the labelled diameter: {within:.0%} of all estimates."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
