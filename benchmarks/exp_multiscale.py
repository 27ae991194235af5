"""Multi-scale test-time augmentation: does averaging the heatmap over scales rank better?

Issue 10, session 25. A saved model (``exp_fewshot.py --save-model``) picks the
test micrographs of its set (the protocol of ``exp_fewshot.py``: all after the
first 3 sorted by name) with the picking defaults (rotation averaging), and
again with its heatmap averaged over the prepared micrograph rescaled by each
factor of ``--scales`` (each heatmap resampled back to the base grid; the
offsets and sizes are the base scale's). AP@0.5 / AP@0.6 of both, one JSON row
per scale set::

    .venv/bin/python benchmarks/exp_multiscale.py --set empiar10146_apoferritin \\
        --model M.pt --scales 0.9,1.0,1.1 --out benchmarks/results/exp_session25.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exp_fewshot
from napari_cryopick.core import detect
from napari_cryopick.core.detect import PickConfig
from napari_cryopick.core.model import load_checkpoint


def multiscale(original, scales: tuple[float, ...]):
    """``predict_maps`` whose heatmap is the mean over the prepared image rescaled by ``scales``."""
    from skimage.transform import resize

    def predict(model, prepared_image, **kwargs):
        base = original(model, prepared_image, **kwargs)
        heatmaps = [base["heatmap"]] if 1.0 in scales else []
        for factor in scales:
            if factor == 1.0:
                continue
            shape = tuple(max(16, round(n * factor)) for n in prepared_image.shape)
            scaled = resize(prepared_image, shape, order=1, anti_aliasing=factor < 1).astype(
                np.float32
            )
            maps = original(model, scaled, **kwargs)
            heatmaps.append(
                np.stack(
                    [
                        resize(channel, base["heatmap"].shape[1:], order=1)
                        for channel in maps["heatmap"]
                    ]
                ).astype(np.float32)
            )
        return {**base, "heatmap": np.mean(heatmaps, axis=0).astype(np.float32)}

    return predict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--scales", default="0.9,1.0,1.1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    root = args.data or Path(os.environ.get("CRYOPICK_REAL_DATA", "../shared/data/real"))
    split = exp_fewshot.load_split(root / args.set)
    model, _ = load_checkpoint(args.model)
    config = PickConfig(device="cpu", rotations=True)
    scales = tuple(float(s) for s in args.scales.split(","))
    original = detect.predict_maps
    rows = []
    for label, chosen in (("base", (1.0,)), ("multiscale", scales)):
        detect.predict_maps = multiscale(original, chosen) if label != "base" else original
        start = time.perf_counter()
        report = exp_fewshot.score_test_micrographs(model, split, config, (0.5, 0.6))
        seconds = time.perf_counter() - start
        rows.append(
            {
                "experiment": "multiscale",
                "set": args.set,
                "model": str(args.model),
                "scales": list(chosen),
                "AP@0.5": round(float(report.ap["AP@0.5"]), 4),
                "AP@0.6": round(float(report.ap["AP@0.6"]), 4),
                "pick_seconds": round(seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    detect.predict_maps = original
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
