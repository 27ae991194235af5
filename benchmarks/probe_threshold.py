"""Fixed pick threshold vs one calibrated per model (best F2 against the clicks).

For each data set, the model of ``bench_accuracy.py --ablation --tag TAG``
(``benchmarks/_work/accuracy/<TAG>/<set>/ablation/model.pt``) picks every
candidate on the 3 training micrographs; the best-F2 threshold against the
clicks there is the calibrated one (DeepEM). The test micrographs are then
scored (``bench_accuracy.score``: AP@0.5, precision, recall, F1 of the kept
picks) at that threshold and at fixed ones.

    .venv/bin/python benchmarks/probe_threshold.py --tag s3abl empiar10028_ribosome ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_accuracy as ba
from napari_cryopick.core.detect import PickConfig
from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.model import load_checkpoint


def probe(name: str, tag: str, data: Path) -> dict:
    folder = data / name
    if not (folder / "dataset.json").exists():
        folder = ba.ROOT / "benchmarks" / "_work" / "accuracy" / "sims" / name
    split = ba.load_set(folder)
    model, metadata = load_checkpoint(
        ba.ROOT / "benchmarks" / "_work" / "accuracy" / tag / name / "ablation" / "model.pt"
    )
    config = PickConfig(device="cpu", threshold=0.0, head=ba._default_head_of(metadata, model))

    train, _ = ba.pick_in_process(split, model, config, split.train)
    clicks = pd.concat(
        [split.train_picks[n].assign(micrograph=n) for n in split.train], ignore_index=True
    )
    report = evaluate(
        train.assign(diameter=split.diameter_px),
        clicks,
        iou_thresholds=(0.5,),
        diameter_px=split.diameter_px,
    )
    calibrated = float(report.best_f2[0])
    test, _ = ba.pick_in_process(split, model, config, split.test)
    out: dict = {"set": name, "calibrated_threshold": calibrated}
    for label, threshold in [("fixed 0.15", 0.15), ("calibrated", calibrated)]:
        values = ba.score(split, test[test["score"] >= threshold])
        out[label] = {k: round(values[k], 3) for k in ("AP@0.5", "precision", "recall", "f1")}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+")
    parser.add_argument("--tag", default="s3abl")
    parser.add_argument("--data", type=Path, default=ba.DEFAULT_DATA)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.sets:
        print(json.dumps(probe(name, args.tag, args.data)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
