"""Few-shot benchmark: a new head on a pretrained body vs a model from scratch.

GitHub issue 4: "A few-shot head trained on 5 micrographs beats a model trained
from scratch on the same 5 micrographs; the generic head's zero-shot AP on a
held-out data set is reported."

Run (about 11 minutes on the shared 2-core CPU, 1 torch thread)::

    .venv/bin/python benchmarks/bench_fewshot.py --steps 400 --seeds 0 1 2

The realistic few-shot situation: a user clicks a *few* particles (sparse
labels) on 5 micrographs of a *new* protein, and the body comes from a model
trained on many other data sets. For each scenario and seed, on the SAME 5
training micrographs with the SAME sparse clicks and the SAME step budget:

``zero_shot``
    the base model's generic head, untrained on the scenario (reference);
``fewshot``
    :func:`napari_cryopick.workflows.train.train` mode ``fewshot`` from the
    base model: a new head initialised from the generic head, body frozen
    (batch-norm statistics too), learning rate ``--fewshot-lr``;
``fewshot_lr_default``
    the same with the default learning rate (``TrainConfig.lr``), to show
    the effect of the head's learning rate;
``new``
    a fresh model trained from scratch (mode ``new``), default learning rate.
``finetune`` (reference, not a few-shot head)
    mode ``finetune`` from the same base: the whole model (body included)
    trained on the 5 micrographs, default learning rate.

Scenarios
---------
``sim_ring``, ``sim_L``
    Simulated micrographs of particle shapes the bundled general model never
    saw (``ring``, ``L``), low SNR (``--sim-prepared-snr``, the SNR after
    rescaling to the network's 20 px; the general model was trained on
    0.15-3), 40 px particles, 512x512 px. 5 training micrographs with a random
    ``--label-fraction`` (20 %) of the particles clicked, 5 test micrographs
    with every particle. Base: the bundled general model.
``empiar10028_ribosome``
    The real ribosome set (1024x1024 8-bit, diameter 56 px): micrographs
    sorted by name, 5 for training with a random quarter of the picks, the
    other 5 for testing with all their picks (the labels are themselves
    incomplete: AP is a lower bound for every method alike). Base: the
    leave-one-out general model that never saw the ribosome set
    (``benchmarks/_work/zero_shot/loo_empiar10028_ribosome.pt``, from
    ``benchmarks/bench_zero_shot.py``); skipped if it is absent.

Evaluation: :func:`napari_cryopick.core.evaluate.evaluate`, AP@0.5 and AP@0.6 with
boxes of the given diameter, on the test micrographs. Results go to
``benchmarks/results/fewshot.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.model import load_bundled_model, load_checkpoint
from napari_cryopick.core.progress import drive
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
from napari_cryopick.core.training import TrainConfig
from napari_cryopick.io.micrographs import Micrograph
from napari_cryopick.workflows.pick import PickRequest, pick
from napari_cryopick.workflows.train import TrainingSet, TrainRequest, train

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"
LOO_DIR = REPO_ROOT / "benchmarks" / "_work" / "zero_shot"
REAL_DATA = Path(os.environ.get("CRYOPICK_REAL_DATA", REPO_ROOT.parent / "shared/data/real"))
METHODS = ("zero_shot", "fewshot", "fewshot_lr_default", "new", "finetune")
TRAINED = METHODS[1:]


def simulated_scenario(shape: str, prepared_snr: float, label_fraction: float, seed: int):
    """5 train (sparse clicks) + 5 test (all particles) simulated micrographs of one shape."""
    diameter = 40.0
    size = 512
    config = SimulationConfig(
        shape=(size, size),
        shapes=(shape,),
        diameter_px=diameter,
        diameter_jitter=0.05,
        n_particles=int(0.2 * size * size / (np.pi * (diameter / 2) ** 2)),
        snr=prepared_snr / (diameter / 20.0) ** 2,
        defocus_um=2.0,
        ice_gradient=0.5,
    )
    base_seed = {"ring": 100, "L": 200}.get(shape, 300)
    items = []
    for i in range(10):
        name = f"{shape}_{i:02d}"
        sim = simulate_micrograph(config, seed=base_seed + i, name=name)
        picks = sim.picks[sim.picks["kind"] == "particle"].reset_index(drop=True)
        items.append((name, sim.image, picks))
    return _split(f"sim_{shape}", items, diameter, label_fraction, seed)


def real_scenario(folder: Path, label_fraction: float, seed: int):
    """First 5 micrographs (by name) for training with sparse picks, the other 5 for testing."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.micrographs import read_micrograph

    info = json.loads((folder / "dataset.json").read_text())
    items = []
    for path in sorted((folder / "micrographs").iterdir()):
        picks_path = folder / "picks" / f"{path.stem}.csv"
        if not picks_path.is_file():
            continue
        raw = pd.read_csv(picks_path)
        picks = make_picks(
            raw["x"].to_numpy(float),
            raw["y"].to_numpy(float),
            diameter=float(info["particle_diameter_px"]),
            micrograph=path.stem,
        )
        items.append((path.stem, read_micrograph(path).data, picks))
    return _split(
        folder.name, items[:10], float(info["particle_diameter_px"]), label_fraction, seed
    )


def _split(name, items, diameter, label_fraction, seed):
    rng = np.random.default_rng([seed, 7])
    train = []
    for mic, image, picks in items[:5]:
        keep = rng.random(len(picks)) < label_fraction
        if not keep.any():
            keep[rng.integers(len(picks))] = True
        train.append((mic, image, picks[keep].reset_index(drop=True)))
    return {
        "name": name,
        "diameter": diameter,
        "train": train,
        "test": items[5:10],
        "clicks": int(sum(len(p) for _, _, p in train)),
        "train_particles": int(sum(len(p) for _, _, p in items[:5])),
        "test_particles": int(sum(len(p) for _, _, p in items[5:10])),
    }


def score(model, data, head: str) -> dict:
    """AP@0.5 / AP@0.6 (boxes of the given diameter) and best F1 on the test micrographs."""
    # the pick workflow users run; every candidate down to 0.02 for the AP curve
    request = PickRequest(
        micrographs=[Micrograph(image, name=name) for name, image, _ in data["test"]],
        model=model,
        head=head,
        diameter_px=data["diameter"],
        options={"score_floor": 0.02, "top_k": 5000},
        device="cpu",
    )
    preds = []
    for event in pick(request):
        if event.item is None:
            raise RuntimeError(event.error)
        preds.append(event.item.candidates)
    truths = [truth for _, _, truth in data["test"]]
    pred = pd.concat(preds, ignore_index=True).assign(diameter=data["diameter"])
    truth = pd.concat(truths, ignore_index=True)
    report = evaluate(pred, truth, iou_thresholds=(0.5, 0.6))
    return {
        "AP@0.5": round(float(report.ap["AP@0.5"]), 3),
        "AP@0.6": round(float(report.ap["AP@0.6"]), 3),
        "best_f1": round(float(report.best_f1[1]), 3),
    }


def run_scenario(data, base_model, base_metadata, args, seed: int) -> dict:
    dataset = TrainingSet(
        data["name"],
        [image for _, image, _ in data["train"]],
        [picks for _, _, picks in data["train"]],
        data["diameter"],
        names=[name for name, _, _ in data["train"]],
    )

    def tc(lr: float) -> dict:
        return {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "crop_size": args.crop_size,
            "lr": lr,
            "sparse": True,
            "seed": seed,
            "log_interval": max(1, args.steps // 5),
        }

    default_lr = TrainConfig().lr
    row: dict = {"seed": seed, "clicks": data["clicks"]}
    row["zero_shot"] = score(base_model, data, "generic")
    print(data["name"], seed, "zero_shot", row["zero_shot"], flush=True)
    runs = {
        "fewshot": ("fewshot", args.fewshot_lr),
        "fewshot_lr_default": ("fewshot", default_lr),
        "new": ("new", default_lr),
        "finetune": ("finetune", default_lr),
    }
    for method, (mode, lr) in runs.items():
        if method not in args.methods:
            continue
        if method == "fewshot_lr_default" and args.fewshot_lr == default_lr:
            continue
        pretrained = mode in ("fewshot", "finetune")
        start = time.perf_counter()
        # the training workflow users run (cryopick train / the Train widget)
        result = drive(
            train(
                TrainRequest(
                    datasets=[dataset],
                    mode=mode,
                    base_model=base_model if pretrained else None,
                    base_metadata=base_metadata if pretrained else None,
                    train_options=tc(lr),
                    # "new" is the from-scratch reference, not the pretrained start
                    continual_options={"max_exemplars": 0, "pretrained": False},
                    time_limit_s=None,  # step-bounded, as the recorded results
                    device="cpu",
                )
            )
        )
        seconds = time.perf_counter() - start
        head = data["name"] if pretrained else "generic"
        row[method] = {**score(result.model, data, head), "lr": lr, "train_s": round(seconds, 1)}
        print(data["name"], seed, method, row[method], flush=True)
    return row


def summarise(rows: list[dict]) -> dict:
    out = {}
    for method in METHODS:
        values = [r[method] for r in rows if method in r]
        if values:
            out[method] = {
                key: {
                    "mean": round(float(np.mean([v[key] for v in values])), 3),
                    "min": round(float(np.min([v[key] for v in values])), 3),
                    "max": round(float(np.max([v[key] for v in values])), 3),
                }
                for key in ("AP@0.5", "AP@0.6")
            }
    for method in ("fewshot", "fewshot_lr_default", "finetune"):
        pairs = [(r[method], r["new"]) for r in rows if method in r and "new" in r]
        if pairs:
            wins = {key: sum(a[key] > b[key] for a, b in pairs) for key in ("AP@0.5", "AP@0.6")}
            out[f"{method}_beats_new"] = (
                f"{wins['AP@0.5']}/{len(pairs)} seeds at AP@0.5, "
                f"{wins['AP@0.6']}/{len(pairs)} at AP@0.6"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--fewshot-lr", type=float, default=1e-2)
    parser.add_argument("--label-fraction", type=float, default=0.2, help="simulated sets")
    parser.add_argument("--real-label-fraction", type=float, default=0.25)
    parser.add_argument("--sim-prepared-snr", type=float, default=0.2)
    parser.add_argument(
        "--scenarios", nargs="+", default=["sim_ring", "sim_L", "empiar10028_ribosome"]
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="rewrite fewshot.md (summaries included) from an existing fewshot.json",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=TRAINED,
        default=list(TRAINED),
        help="trained methods to run (zero_shot always runs); finetune: the whole "
        "pretrained model trained on the 5 micrographs (reference, not few-shot)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add this run's methods to the rows of an existing fewshot.json (same seeds)",
    )
    args = parser.parse_args(argv)
    if args.markdown_only:
        report = json.loads((args.out / "fewshot.json").read_text())
        for scenario in report["scenarios"].values():
            scenario["summary"] = summarise(scenario["rows"])
        (args.out / "fewshot.json").write_text(json.dumps(report, indent=1))
        (args.out / "fewshot.md").write_text(markdown(report))
        print(markdown(report))
        return 0
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    bundled, bundled_meta = load_bundled_model()
    report: dict = {
        "benchmark": "few-shot head vs training from scratch (issue 4)",
        "command": "python benchmarks/bench_fewshot.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "date": dt.date.today().isoformat(),
        "machine": f"shared {os.cpu_count()}-core CPU, no GPU ({platform.machine()}, "
        f"torch {torch.__version__}, {args.threads} thread(s))",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "scenarios": {},
    }
    for scenario in args.scenarios:
        if scenario.startswith("sim_"):
            shape = scenario[4:]
            base, base_meta, base_name = bundled, bundled_meta, "bundled general model"
            seen = bundled_meta.get("general_model", {}).get("train_shapes", [])
            assert shape not in seen, f"{shape} is a training shape of the bundled model"
        else:
            loo = LOO_DIR / f"loo_{scenario}.pt"
            folder = REAL_DATA / scenario
            if not loo.is_file() or not folder.is_dir():
                print(f"skipping {scenario}: {loo} or {folder} missing", flush=True)
                continue
            base, base_meta = load_checkpoint(loo)
            assert scenario not in base_meta["general_model"]["real_datasets"]
            base_name = f"leave-one-out general model ({loo.name}, never saw {scenario})"
        rows = []
        for seed in args.seeds:
            if scenario.startswith("sim_"):
                data = simulated_scenario(
                    scenario[4:], args.sim_prepared_snr, args.label_fraction, seed
                )
            else:
                data = real_scenario(REAL_DATA / scenario, args.real_label_fraction, seed)
            rows.append(run_scenario(data, base, base_meta, args, seed))
        report["scenarios"][scenario] = {
            "base": base_name,
            "diameter_px": data["diameter"],
            "train_particles": data["train_particles"],
            "test_particles": data["test_particles"],
            "rows": rows,
            "summary": summarise(rows),
        }
        print(scenario, json.dumps(report["scenarios"][scenario]["summary"]), flush=True)
    report["wall_s"] = round(time.perf_counter() - wall, 1)
    if args.merge and (args.out / "fewshot.json").is_file():
        report = _merged(json.loads((args.out / "fewshot.json").read_text()), report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fewshot.json").write_text(json.dumps(report, indent=1))
    (args.out / "fewshot.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def _merged(old: dict, new: dict) -> dict:
    """``old`` with the methods of ``new`` added to the rows of the same scenario and seed."""
    for name, scenario in new["scenarios"].items():
        if name not in old["scenarios"]:
            old["scenarios"][name] = scenario
            continue
        rows = {r["seed"]: r for r in old["scenarios"][name]["rows"]}
        for row in scenario["rows"]:
            target = rows.setdefault(row["seed"], {"seed": row["seed"], "clicks": row["clicks"]})
            assert target["clicks"] == row["clicks"], "merged runs must use the same clicks"
            target.update({k: v for k, v in row.items() if k in TRAINED})
        old["scenarios"][name]["rows"] = [rows[k] for k in sorted(rows)]
        old["scenarios"][name]["summary"] = summarise(old["scenarios"][name]["rows"])
    old["command"] = f"{old['command']}; then {new['command']}"
    old["wall_s"] = round(old["wall_s"] + new["wall_s"], 1)
    return old


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Few-shot head vs training from scratch",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}; machine: {report['machine']}; wall {report['wall_s']} s.",
        "",
        f"Same 5 training micrographs, same sparse clicks, same {s['steps']} steps "
        f"(batch {s['batch_size']}, crop {s['crop_size']}), sparse-label loss; AP on 5 "
        "held-out micrographs with `evaluate.evaluate` (boxes of the given diameter). "
        f"`fewshot`: new head (init from generic, body frozen), lr {s['fewshot_lr']}; "
        "`fewshot_lr_default` and `new` (from scratch): lr "
        f"{TrainConfig().lr}; `zero_shot`: the base's generic head; *fine-tune whole "
        "model* (reference, not a few-shot head): mode `finetune` from the same base "
        "(body and heads all trained, default lr).",
        "",
    ]
    for name, sc in report["scenarios"].items():
        lines += [
            f"## {name}",
            "",
            f"Base: {sc['base']}. Diameter {sc['diameter_px']} px; "
            f"{sc['train_particles']} particles in the 5 training micrographs, "
            f"{sc['test_particles']} in the 5 test micrographs.",
            "",
            "| seed | clicks | zero-shot AP@0.5 / 0.6 | few-shot | few-shot, default lr "
            "| new (scratch) | *fine-tune whole model* |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sc["rows"]:
            cells = []
            for method in METHODS:
                v = r.get(method)
                cells.append(f"{v['AP@0.5']:.3f} / {v['AP@0.6']:.3f}" if v else "-")
            lines.append(f"| {r['seed']} | {r['clicks']} | " + " | ".join(cells) + " |")
        summary = sc["summary"]
        means = []
        for method in METHODS:
            v = summary.get(method)
            means.append(f"**{v['AP@0.5']['mean']:.3f}** / {v['AP@0.6']['mean']:.3f}" if v else "-")
        lines += [
            "| mean | | " + " | ".join(means) + " |",
            "",
            f"Few-shot (lr {s['fewshot_lr']}) beats scratch: "
            f"{summary.get('fewshot_beats_new', '-')}; few-shot with the default lr: "
            f"{summary.get('fewshot_lr_default_beats_new', '-')}; whole-model fine-tune "
            f"(reference): {summary.get('finetune_beats_new', '-')}.",
            "",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
