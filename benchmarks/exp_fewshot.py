"""Quick in-process experiment loop for issue 10 (model side): one data set, one condition.

Protocol (as ``bench_detector.py`` / ``bench_accuracy.py``): the first 3
micrographs sorted by name are the training micrographs; on each a random
quarter of its picks (``numpy.random.default_rng(0)``, ceil(n/4) per
micrograph in name order) are the clicks; every other micrograph is a test
micrograph scored against all its picks (AP at IoU 0.5, boxes of the
particle diameter, :func:`napari_cryopick.core.evaluate.evaluate`).

Conditions (``--condition``):

``fresh``      a new model (``DetectorConfig()`` defaults) trained on the clicks;
``finetune``   the whole network of ``--init`` (a general model) trained on the clicks;
``fewshot``    ``continual.train_model("fewshot")`` from ``--init`` (new head, frozen body);
``cfinetune``  ``continual.train_model("finetune")`` from ``--init`` (the CLI's
               ``--mode finetune``: new data-set head, whole network, generic head tied);
``new``        ``continual.train_model("new")`` with the defaults: what ``cryopick
               train`` does (pretrained from ``--general`` / the bundled model);
``new-random`` the same from random weights (``ContinualConfig(pretrained=False)``);
``zeroshot``   ``--init`` picks with its generic head, no training;
``+pseudo``    suffix of ``fresh``/``finetune``: one round of confident
               pseudo-labels on the test micrographs (unlabelled: the user has
               them) via :mod:`napari_cryopick.core.unlabelled`.

Example (about 2-3 minutes on the shared 2-core CPU)::

    .venv/bin/python benchmarks/exp_fewshot.py --set empiar10028_ribosome \
        --condition fresh --time-limit 120 --out benchmarks/_work/exp/ribo_fresh.json

``--data`` also accepts sets packed by ``scripts/train_general_model.py``'s
``pack_real`` (float16 ``.npy`` micrographs already at the target diameter).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from napari_cryopick.core.detect import PickConfig, pick_micrograph
from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.model import DetectorConfig, load_checkpoint
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples, train_detector
from napari_cryopick.core.unlabelled import UnlabelledConfig, train_with_unlabelled

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "train_general_model", ROOT / "scripts" / "train_general_model.py"
)
recipe = importlib.util.module_from_spec(_spec)
sys.modules["train_general_model"] = recipe
_spec.loader.exec_module(recipe)  # type: ignore[union-attr]


def load_split(
    folder: Path,
    n_train: int = 3,
    fraction: float = 0.25,
    seed: int = 0,
    n_clicks: int | None = None,
):
    """Images, all picks, clicks and the train/test names of one data set.

    ``n_clicks``: that many clicks spread evenly over the training micrographs
    instead of ``fraction`` of each (the clicks curve of ``bench_accuracy.py``).
    """
    images, tables, names, diameter, info = recipe.read_real_dataset(folder)
    order = np.argsort(names)
    names = [names[i] for i in order]
    images = [images[i] for i in order]
    tables = [tables[i].assign(micrograph=names[k]) for k, i in enumerate(order)]
    rng = np.random.default_rng(seed)
    clicks = []
    counts = None
    if n_clicks is not None:
        counts = [n_clicks // n_train] * n_train
        for i in range(n_clicks - sum(counts)):
            counts[i] += 1
    for index, table in enumerate(tables[:n_train]):
        if counts is None:
            n_keep = max(1, math.ceil(fraction * len(table)))
        else:
            n_keep = min(counts[index], len(table))
        keep = np.sort(rng.choice(len(table), n_keep, replace=False))
        clicks.append(table.iloc[keep].reset_index(drop=True))
    return {
        "names": names,
        "images": images,
        "truth": tables,
        "clicks": clicks,
        "diameter": diameter,
        "info": info,
        "n_train": n_train,
    }


def score_test_micrographs(model, split: dict, config: PickConfig, iou_thresholds=(0.5,)):
    """Evaluation of ``model`` on the split's test micrographs (all after the training ones)."""
    n_train = split["n_train"]
    preds = []
    for image, name in zip(split["images"][n_train:], split["names"][n_train:], strict=True):
        result = pick_micrograph(model, image, diameter_px=split["diameter"], config=config)
        preds.append(result.picks.assign(micrograph=name))
    truth = pd.concat(split["truth"][n_train:], ignore_index=True)
    return evaluate(
        pd.concat(preds, ignore_index=True),
        truth,
        iou_thresholds=iou_thresholds,
        diameter_px=split["diameter"],
    )


def vars_for_json(args: argparse.Namespace) -> dict:
    """The experiment's arguments as plain types (for a checkpoint's metadata)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    split = load_split(
        args.data / args.set,
        n_train=args.n_train,
        fraction=args.fraction,
        seed=args.click_seed,
        n_clicks=args.clicks,
    )
    n_train = split["n_train"]
    true_diameter = split["diameter"]
    if args.diameter_factor is not None:
        # the network's scale from a diameter off by this factor (clicks' diameters too);
        # scored with boxes of the true diameter
        split["diameter"] = true_diameter * args.diameter_factor
        split["clicks"] = [
            c.assign(diameter=c["diameter"] * args.diameter_factor) if "diameter" in c else c
            for c in split["clicks"]
        ]
        split["truth"] = [
            t.assign(diameter=t["diameter"] * args.diameter_factor) if "diameter" in t else t
            for t in split["truth"]
        ]
    condition = args.condition
    base, pseudo = condition.split("+")[0], condition.endswith("+pseudo")
    start = time.perf_counter()
    pretrained_from = None
    if args.general is not None:
        os.environ["CRYOPICK_GENERAL_MODEL"] = str(args.general)
    if base in ("fresh", "new", "new-random"):
        model = None
        config = DetectorConfig.from_dict({**DetectorConfig().to_dict(), **json.loads(args.model)})
    else:
        model, _ = load_checkpoint(args.init)
        config = model.config
    train_config = TrainConfig(
        steps=args.steps,
        time_limit_s=args.time_limit,
        crop_size=args.crop,
        lr=args.lr,
        device="cpu",
        log_interval=50,
        seed=args.seed,
        **{"views_per_label": None, **json.loads(args.train_config)},
    )
    clicks = split["clicks"]
    if args.oracle_unknown:
        # ceiling of protecting unclicked particles: every other true pick of the
        # training micrographs marked "unknown" (reduced penalty, not a label)
        clicks = []
        for click, table in zip(split["clicks"], split["truth"][:n_train], strict=True):
            key = set(zip(click["x"].round(3), click["y"].round(3)))
            rest = table[
                [(x, y) not in key for x, y in zip(table["x"].round(3), table["y"].round(3))]
            ]
            clicks.append(
                pd.concat(
                    [click.assign(kind="particle"), rest.assign(kind="unknown")],
                    ignore_index=True,
                )
            )
    examples = build_examples(
        split["images"][:n_train],
        clicks,
        split["diameter"],
        config,
        names=split["names"][:n_train],
        dataset=args.set,
    )
    steps_done = 0
    protected = None
    if base == "zeroshot":
        trained = model
    elif base in ("new", "new-random"):
        from napari_cryopick.core.continual import ContinualConfig, DatasetExamples, train_model

        result = drive(
            train_model(
                "new",
                [DatasetExamples(args.set, examples, diameter_px=split["diameter"])],
                config=config,
                train_config=train_config,
                continual_config=ContinualConfig(
                    pretrained=base == "new", **json.loads(args.continual_config)
                ),
            )
        )
        trained, steps_done = result.model, len(result.history)
        pretrained_from = result.run.get("pretrained")
        protected = result.run.get("protected")
    elif base in ("fewshot", "cfinetune"):
        from napari_cryopick.core.continual import ContinualConfig, DatasetExamples, train_model

        result = drive(
            train_model(
                "fewshot" if base == "fewshot" else "finetune",
                [DatasetExamples(args.set, examples, diameter_px=split["diameter"])],
                base_model=model,
                train_config=train_config,
                continual_config=ContinualConfig(**json.loads(args.continual_config)),
            )
        )
        trained, steps_done = result.model, len(result.history)
        protected = result.run.get("protected")
    elif pseudo:
        unlabelled = build_examples(
            split["images"][n_train:],
            [pd.DataFrame({"x": [], "y": []})] * (len(split["names"]) - n_train),
            split["diameter"],
            config,
            names=split["names"][n_train:],
            dataset=args.set,
        )
        result = drive(
            train_with_unlabelled(
                examples,
                unlabelled,
                model=model,
                config=config,
                train_config=train_config,
                unlabelled_config=UnlabelledConfig(threshold=args.pseudo_threshold),
            )
        )
        trained, steps_done = result.model, len(result.history)
    else:
        result = drive(
            train_detector(examples, model=model, config=config, train_config=train_config)
        )
        trained, steps_done = result.model, len(result.history)
    train_s = time.perf_counter() - start
    if args.save_model is not None:
        from napari_cryopick.core.model import save_checkpoint

        args.save_model.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.save_model, trained, metadata={"experiment": vars_for_json(args)})
    head = None
    if base in ("fewshot", "cfinetune"):
        head = args.set
    pick_config = PickConfig(device="cpu", head=head, rotations=args.rotations)
    preds, pick_times = [], []
    for image, name in zip(split["images"][n_train:], split["names"][n_train:]):
        t0 = time.perf_counter()
        result = pick_micrograph(trained, image, diameter_px=split["diameter"], config=pick_config)
        pick_times.append(time.perf_counter() - t0)
        preds.append(result.picks.assign(micrograph=name))
    pred = pd.concat(preds, ignore_index=True)
    truth = pd.concat(split["truth"][n_train:], ignore_index=True)
    if args.diameter_factor is not None:
        pred = pred.assign(diameter=true_diameter)
        truth = truth.assign(diameter=true_diameter)
        split["diameter"] = true_diameter
    report = evaluate(pred, truth, iou_thresholds=(0.5, 0.6), diameter_px=split["diameter"])
    # AP of the picks a user gets at a pick threshold (cryopick pick writes score >= threshold)
    at_threshold = {}
    for threshold in (0.1, 0.15, 0.2, 0.25, 0.3):
        kept = pred[pred["score"] >= threshold]
        cut = evaluate(kept, truth, iou_thresholds=(0.5,), diameter_px=split["diameter"])
        at_threshold[str(threshold)] = round(float(cut.ap["AP@0.5"]), 4)
    return {
        "set": args.set,
        "condition": condition,
        "init": str(args.init) if args.init else None,
        "AP@0.5": round(float(report.ap["AP@0.5"]), 4),
        "AP@0.6": round(float(report.ap["AP@0.6"]), 4),
        "train_s": round(train_s, 1),
        "steps": steps_done,
        "crop": args.crop,
        "lr": args.lr,
        "pick_s_per_mic": round(float(np.mean(pick_times)), 3),
        "n_clicks": int(sum(len(c) for c in split["clicks"])),
        "time_limit": args.time_limit,
        "max_steps": args.steps,
        "model": args.model,
        "AP@0.5_at_threshold": at_threshold,
        "best_f1": report.to_dict().get("best_f1"),
        "rotations": args.rotations,
        "seed": args.seed,
        "fraction": args.fraction,
        "train_config": args.train_config,
        "continual_config": args.continual_config,
        "clicks": args.clicks,
        "click_seed": args.click_seed,
        "protected": protected,
        "oracle_unknown": args.oracle_unknown,
        "diameter_factor": args.diameter_factor,
        "pretrained": pretrained_from,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=recipe.default_real_data_dir())
    parser.add_argument("--set", required=True)
    parser.add_argument("--condition", default="fresh")
    parser.add_argument("--init", type=Path, default=None)
    parser.add_argument(
        "--general",
        type=Path,
        default=None,
        help="general model for pretrained 'new' ($CRYOPICK_GENERAL_MODEL)",
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--model", default="{}", help="JSON DetectorConfig overrides (fresh)")
    parser.add_argument("--pseudo-threshold", type=float, default=0.5)
    parser.add_argument("--rotations", action="store_true")
    parser.add_argument("--n-train", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-config", default="{}", help="JSON TrainConfig overrides")
    parser.add_argument(
        "--fraction", type=float, default=0.25, help="fraction of the picks that are clicks"
    )
    parser.add_argument(
        "--clicks", type=int, default=None, help="this many clicks over the training micrographs"
    )
    parser.add_argument(
        "--click-seed", type=int, default=0, help="seed of the click draw (the protocol: 0)"
    )
    parser.add_argument(
        "--continual-config", default="{}", help="JSON ContinualConfig overrides (new, fewshot)"
    )
    parser.add_argument(
        "--oracle-unknown",
        action="store_true",
        help="mark every unclicked true pick of the training micrographs 'unknown' (a ceiling)",
    )
    parser.add_argument(
        "--diameter-factor",
        type=float,
        default=None,
        help="train and pick as if the diameter were this times the data set's",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--save-model", type=Path, default=None, help="checkpoint of the model")
    return parser


def emit(row: dict, out: Path | None) -> None:
    """Print one result as a JSON line and append it to ``out`` (if given)."""
    text = json.dumps(row)
    print(text, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as handle:
            handle.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.time_limit <= 0:
        args.time_limit = None
    emit(run(args), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
