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
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import exp_fewshot as ef
from napari_cryopick.core.detect import PickConfig
from napari_cryopick.core.model import load_checkpoint


def main(argv: list[str]) -> int:
    data, name, finetuned_path, general_path, alphas = argv[:5]
    out = Path(argv[5]) if len(argv) > 5 else None
    torch.set_num_threads(1)
    split = ef.load_split(Path(data) / name)
    finetuned, _ = load_checkpoint(finetuned_path)
    general, _ = load_checkpoint(general_path)
    tuned, start = finetuned.state_dict(), general.state_dict()
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
        report = ef.score_test_micrographs(
            model, split, PickConfig(device="cpu", rotations=True), iou_thresholds=(0.5, 0.6)
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
