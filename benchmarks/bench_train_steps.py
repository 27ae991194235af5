"""Training steps per second of the default training, with and without batches made ahead.

The default ``TrainConfig`` (batch 8, crop 128) on the first 3 micrographs of a real
set with all their picks, from a random start, for ``--steps`` steps without a time
limit; once with ``prefetch_batches=0`` (crops made in the loop) and once with 2
(made ahead in a thread, the default on a GPU). Reports steps per second and the
seconds of the loop. Session 36 measured on a GPU that the crops took half of each
step, so the 20 s budget held 299 of the 1000 planned steps (docs/benchmarks.md).

Run (``CRYOPICK_REAL_DATA`` or ``../shared/data/real``)::

    .venv/bin/python benchmarks/bench_train_steps.py --device cuda --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from napari_cryopick.core.model import DetectorConfig
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples, train_detector
from napari_cryopick.io.micrographs import read_micrograph
from napari_cryopick.io.pickfiles import read_picks

DATA = Path(
    os.environ.get(
        "CRYOPICK_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    )
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="empiar10146_apoferritin")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="JSON lines to append to")
    args = parser.parse_args()
    folder = DATA / args.set
    info = json.loads((folder / "dataset.json").read_text())
    diameter = float(info["particle_diameter_px"])
    paths = sorted((folder / "micrographs").iterdir())[:3]
    images = [read_micrograph(p).data for p in paths]
    picks = []
    for path in paths:
        found = sorted((folder / "picks").glob(path.stem + ".*"))
        picks.append(read_picks(found[0]))
    examples = build_examples(images, picks, [diameter] * 3, DetectorConfig())
    rows = []
    for ahead in (0, 2):
        config = TrainConfig(
            steps=args.steps,
            device=args.device,
            time_limit_s=None,
            views_per_label=None,
            prefetch_batches=ahead,
            log_interval=args.steps,
        )
        start = time.perf_counter()
        result = drive(train_detector(examples, train_config=config))
        seconds = time.perf_counter() - start
        row = {
            "set": args.set,
            "device": args.device,
            "prefetch_batches": ahead,
            "steps": len(result.history),
            "seconds": round(seconds, 2),
            "steps_per_s": round(len(result.history) / seconds, 1),
            "final_loss": round(float(np.mean([h["total"] for h in result.history[-20:]])), 4),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out is not None:
        with args.out.open("a") as stream:
            for row in rows:
                stream.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
