"""Experiment (issue 10): batch-norm statistics of the user's micrographs (AdaBN) for zero-shot picking.

The general model's batch-norm layers normalise with statistics of its
training crops (mostly simulated). AdaBN (Li et al. 2016) recomputes them on
the target data, without labels: a user always has the micrographs. This
script scores the leave-one-out general models zero-shot on each set's test
micrographs (all after the first 3 by name), as they are and with their
batch-norm statistics recomputed on random crops of the set's first 3
micrographs (``--adapt train``, unlabelled) or of the test micrographs
themselves (``--adapt test``)::

    .venv/bin/python benchmarks/exp_adabn.py --set empiar10017_bgal --adapt train

One line of JSON per run (``--out`` appends it).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("exp_fewshot", HERE / "exp_fewshot.py")
exp_fewshot = importlib.util.module_from_spec(_spec)
sys.modules["exp_fewshot"] = exp_fewshot
_spec.loader.exec_module(exp_fewshot)  # type: ignore[union-attr]

from napari_cryopick.core.detect import PickConfig  # noqa: E402
from napari_cryopick.core.model import load_checkpoint  # noqa: E402
from napari_cryopick.core.model.inputs import prepare_micrograph  # noqa: E402


def adapt_batchnorm(model, images, diameter, *, crops=64, crop_size=256, batch=8, seed=0):
    """A copy of ``model`` whose batch-norm statistics are those of random crops of ``images``."""
    rng = np.random.default_rng(seed)
    adapted = copy.deepcopy(model)
    norms = [m for m in adapted.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over every batch
    prepared = [prepare_micrograph(image, diameter, adapted.config).image for image in images]
    adapted.train()
    with torch.no_grad():
        done = 0
        while done < crops:
            stack = []
            for _ in range(min(batch, crops - done)):
                image = prepared[int(rng.integers(len(prepared)))]
                size = min(crop_size, *image.shape) // 16 * 16
                top = int(rng.integers(0, image.shape[0] - size + 1))
                left = int(rng.integers(0, image.shape[1] - size + 1))
                crop = np.rot90(image[top : top + size, left : left + size], int(rng.integers(4)))
                stack.append(np.ascontiguousarray(crop))
            adapted(torch.from_numpy(np.stack(stack)[:, None]))
            done += len(stack)
    return adapted.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--set", required=True)
    parser.add_argument("--adapt", choices=("none", "train", "test"), default="train")
    parser.add_argument(
        "--general", default=None, help="default benchmarks/_work/general_without_SET.pt"
    )
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = Path(args.data) if args.data else exp_fewshot.recipe.default_real_data_dir()
    split = exp_fewshot.load_split(data / args.set)
    general = args.general or str(HERE / "_work" / f"general_without_{args.set}.pt")
    model, _ = load_checkpoint(general)
    start = time.perf_counter()
    if args.adapt != "none":
        chosen = (
            split["images"][: split["n_train"]]
            if args.adapt == "train"
            else split["images"][split["n_train"] :]
        )
        model = adapt_batchnorm(
            model, chosen, split["diameter"], crops=args.crops, crop_size=args.crop_size
        )
    adapt_s = time.perf_counter() - start
    report = exp_fewshot.score_test_micrographs(
        model, split, PickConfig(device="cpu", threshold=0.0), iou_thresholds=(0.5, 0.6)
    )
    row = {
        "set": args.set,
        "condition": "zeroshot",
        "adapt": args.adapt,
        "crops": args.crops,
        "crop_size": args.crop_size,
        "general": general,
        "AP@0.5": round(float(report.ap["AP@0.5"]), 4),
        "AP@0.6": round(float(report.ap["AP@0.6"]), 4),
        "adapt_s": round(adapt_s, 1),
    }
    print(json.dumps(row), flush=True)
    if args.out is not None:
        with open(args.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
