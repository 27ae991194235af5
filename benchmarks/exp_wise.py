"""Weight-space interpolation of a fine-tuned model toward its starting general model.

Issue-10 experiment (WiSE-FT, Wortsman et al. 2022): ``alpha * fine-tuned +
(1 - alpha) * general`` (parameters and batch-norm statistics), picked on the
issue-10 test micrographs of one data set (all after the first 3 by name)
with rotation averaging, AP@0.5 / AP@0.6 with the data set's diameter.

Usage::

    .venv/bin/python benchmarks/exp_wise.py DATA_DIR SET FINETUNED.pt GENERAL.pt 1,0.75,0.5 [OUT.jsonl]

Both checkpoints must have the same architecture (a default new model and the
general model it started from). Results in ``docs/general-model.md``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from napari_cryopick.core.detect import PickConfig, pick_micrograph
from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.model import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "exp_fewshot", ROOT / "benchmarks" / "exp_fewshot.py"
)
exp_fewshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(exp_fewshot)  # type: ignore[union-attr]


def main(argv: list[str]) -> int:
    data, name, finetuned_path, general_path, alphas = argv[:5]
    out = Path(argv[5]) if len(argv) > 5 else None
    torch.set_num_threads(1)
    split = exp_fewshot.load_split(Path(data) / name)
    finetuned, _ = load_checkpoint(finetuned_path)
    general, _ = load_checkpoint(general_path)
    tuned, start = finetuned.state_dict(), general.state_dict()
    truth = pd.concat(split["truth"][3:], ignore_index=True)
    for alpha in (float(a) for a in alphas.split(",")):
        model = copy.deepcopy(finetuned)
        model.load_state_dict(
            {
                key: alpha * value + (1 - alpha) * start[key]
                if value.is_floating_point()
                else value
                for key, value in tuned.items()
            }
        )
        model.eval()
        preds = []
        for image, micrograph in zip(split["images"][3:], split["names"][3:]):
            result = pick_micrograph(
                model,
                image,
                diameter_px=split["diameter"],
                config=PickConfig(device="cpu", rotations=True),
            )
            preds.append(result.picks.assign(micrograph=micrograph))
        report = evaluate(
            pd.concat(preds, ignore_index=True),
            truth,
            iou_thresholds=(0.5, 0.6),
            diameter_px=split["diameter"],
        )
        row = {
            "set": name,
            "ft": finetuned_path,
            "general": general_path,
            "alpha": alpha,
            "AP@0.5": round(float(report.ap["AP@0.5"]), 4),
            "AP@0.6": round(float(report.ap["AP@0.6"]), 4),
        }
        print(json.dumps(row), flush=True)
        if out is not None:
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
