"""Micrographs whose particles are lighter than the background, trained from clicks.

An experiment for issue 10 (not a default). Zero-shot picking chooses the
contrast (``cryopick pick`` inverts micrographs the general model sees better
inverted), but ``cryopick train`` starts from the general model, which learned
dark particles, on the micrographs as given. Does a data set that comes with
light particles train worse, and would the clicks tell which way to turn it?

``--write DIR`` writes inverted copies of the real sets (float32 TIFF,
``max - value``; the same picks and ``dataset.json``) for
``bench_accuracy.py --data DIR``. ``--separation`` prints, per set, how well the
leave-one-out general model separates the benchmark's clicks from random places
of the training micrographs (the protection pass's area under the ROC curve,
:func:`napari_cryopick.core.unlabelled.protect_prior_detections`) on the
micrographs as given and inverted.

    .venv/bin/python benchmarks/exp_inverted.py --write benchmarks/_work/inverted
    .venv/bin/python benchmarks/bench_accuracy.py --data benchmarks/_work/inverted \
        --tag s49inv --sets SETS --conditions fresh --curve-sets none
    .venv/bin/python benchmarks/exp_inverted.py --separation
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).parent))

from bench_accuracy import load_set
from exp_snr import SETS, _data_dir
from napari_cryopick.core.model.bundled import load_bundled_model
from napari_cryopick.core.model.checkpoint import load_checkpoint
from napari_cryopick.core.training import build_examples
from napari_cryopick.core.unlabelled import protect_prior_detections
from napari_cryopick.io.micrographs import read_micrograph

MODELS = Path(__file__).parent / "models"


def write_inverted(source: Path, target: Path, sets: list[str]) -> None:
    """Inverted copies of ``sets`` (``max - value``, float32 TIFF) under ``target``."""
    for name in sets:
        (target / name / "micrographs").mkdir(parents=True, exist_ok=True)
        shutil.copytree(source / name / "picks", target / name / "picks", dirs_exist_ok=True)
        shutil.copy(source / name / "dataset.json", target / name / "dataset.json")
        for path in sorted((source / name / "micrographs").iterdir()):
            data = read_micrograph(path).data
            out = target / name / "micrographs" / f"{path.stem}.tif"
            tifffile.imwrite(out, (data.max() - data).astype(np.float32))
        print(f"{name}: written to {target / name}", flush=True)


def separations(source: Path, sets: list[str]) -> dict[str, dict[str, float]]:
    """Per set, the general model's separation of the clicks as given and inverted."""
    results = {}
    for name in sets:
        split = load_set(source / name)
        path = MODELS / f"general_without_{name}.pt"
        model = (load_checkpoint(path) if path.exists() else load_bundled_model())[0]
        row = {}
        for inverted in (False, True):
            images = []
            for micrograph in split.train:
                data = read_micrograph(split.paths[micrograph]).data
                images.append(data.max() - data if inverted else data)
            examples = build_examples(
                images,
                [split.train_picks[m] for m in split.train],
                split.diameter_px,
                model.config,
                names=split.train,
            )
            separation = protect_prior_detections(model, examples, head="generic")[2]
            row["inverted" if inverted else "as given"] = round(float(separation), 3)
        results[name] = row
        print(json.dumps({"set": name, **row}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--write", type=Path, help="write inverted copies of the sets here")
    parser.add_argument("--separation", action="store_true")
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    if args.write:
        write_inverted(_data_dir(), args.write, sets)
    if args.separation:
        separations(_data_dir(), sets)


if __name__ == "__main__":
    main()
