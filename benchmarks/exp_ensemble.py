"""Experiment: the general model's heatmap averaged with a model trained on the clicks (session 16).

An experiment for issue 10 (not a default). A new model trained on a few
clicks can end below the general model it started from (β-gal from 25 clicks:
0.703 against 0.751 zero-shot in ``bench_accuracy.py`` tag s11b). Averaging
the two models' outputs keeps what the general model knows while the clicks
teach the new protein. Each ``SET=TRAINED=GENERAL`` picks its set's test
micrographs (the ``bench_accuracy.py`` split, every candidate, default
``PickConfig`` with the trained model's head, border and threshold 0) with

    heatmap = (1 - w) * trained + w * general (generic head, same prepared image)

and the trained model's offsets and sizes, for each weight ``w``; reports AP at
IoU 0.5 and 0.6 (boxes of the data set's diameter) and the picking time.

    .venv/bin/python benchmarks/exp_ensemble.py \\
        empiar10017_bgal=bgal.pt=benchmarks/models/general_without_empiar10017_bgal.pt \\
        --weights 0,0.25,0.5 --out benchmarks/results/exp_session16.jsonl

Trained models: ``benchmarks/exp_fewshot.py ... --save-model PATH``; the
general model of a simulated set is the bundled one (``bundled``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import exp_fewshot as ef
from exp_localise import models_to_score, scored_test_picks
from napari_cryopick.core import detect
from napari_cryopick.core.model import bundled_model_path, load_checkpoint


def averaged_predict_maps(original, general, weight: float):
    """``predict_maps`` of the trained model with its heatmap averaged with ``general``'s."""

    def predict(model, prepared_image, **kwargs):
        maps = original(model, prepared_image, **kwargs)
        if weight == 0:
            return maps
        other = original(general, prepared_image, **{**kwargs, "head": "generic"})
        return {**maps, "heatmap": (1 - weight) * maps["heatmap"] + weight * other["heatmap"]}

    return predict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="SET=TRAINED=GENERAL (GENERAL: bundled)")
    parser.add_argument("--weights", default="0,0.25,0.5")
    parser.add_argument("--tag", default="", help="recorded in each row")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    original = detect.predict_maps
    items, generals = [], []
    for item in args.models:
        name, trained, general = item.split("=")
        items.append(f"{name}={trained}")
        generals.append(bundled_model_path() if general == "bundled" else Path(general))
    for (name, path, split, model, config), general_path in zip(models_to_score(items), generals):
        general, _ = load_checkpoint(general_path)
        for weight in (float(w) for w in args.weights.split(",")):
            detect.predict_maps = averaged_predict_maps(original, general, weight)
            try:
                scored = scored_test_picks(split, model, config)
            finally:
                detect.predict_maps = original
            ef.emit(
                {
                    "experiment": "ensemble",
                    "tag": args.tag,
                    "set": name,
                    "model": path,
                    "general": str(general_path),
                    "weight": weight,
                    **scored,
                },
                args.out,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
