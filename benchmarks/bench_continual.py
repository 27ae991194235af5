"""Benchmark of the training modes on synthetic data sets (continual learning).

Run (about 10-15 minutes on a 2-core CPU)::

    .venv/bin/python benchmarks/bench_continual.py --steps-per-set 400

Phases
------
1. Simulate data sets of distinct particle shapes, sizes, SNR and defocus
   (512x512 micrographs, 6 train + 4 test each): A, B, C, a held-out set D
   (few-shot and zero-shot) and, for the time scaling, more sets.
2. Base model: ``joint`` on A + B (2 S steps, S = ``--steps-per-set``).
3. Add C three ways from the base: ``finetune`` (S steps), ``continual``
   (S steps) and ``joint`` retraining from scratch on A + B + C (3 S steps:
   joint retraining gives every data set the same S steps of exposure).
   AP@0.5 and AR on the test micrographs of A, B, C after each; forgetting =
   drop of AP on A and B.
4. Few-shot: a new head for D trained on 5 micrographs (``fewshot`` from the
   base, S steps) vs a fresh model on the same 5 micrographs (``new``, S
   steps); the base's generic head on D before (zero-shot).
5. Time scaling: sets added one at a time by ``continual`` up to 10 sets,
   with ``--scaling-steps`` steps per run to measure seconds per step; joint
   retraining on N sets is timed the same way. Projected training time =
   seconds/step x the step budget (continual: S, joint: N x S).

Results go to ``benchmarks/results/continual.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from napari_cryopick.core import continual
from napari_cryopick.core.detect import PickConfig, pick_micrograph
from napari_cryopick.core.evaluate import average_precision, average_recall
from napari_cryopick.core.exemplars import bank_from_metadata, bank_nbytes, bank_summary
from napari_cryopick.core.model import DetectorConfig, save_checkpoint
from napari_cryopick.core.progress import drive
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
from napari_cryopick.core.training import TrainConfig
from napari_cryopick.workflows.train import TrainingSet, TrainRequest
from napari_cryopick.workflows.train import train as train_workflow

SETS = {
    "A": {"shape": "ellipsoid", "diameter": 32.0, "snr": 0.1, "defocus": 1.5},
    "B": {"shape": "ring", "diameter": 44.0, "snr": 0.1, "defocus": 2.0},
    "C": {"shape": "dumbbell", "diameter": 36.0, "snr": 0.08, "defocus": 1.0},
    "D": {"shape": "tetrahedron", "diameter": 40.0, "snr": 0.1, "defocus": 1.8},
}


def simulate_set(name, spec, seed, n_train=6, n_test=4, size=512, label_fraction=0.3):
    """Simulated micrographs; training picks are sparse clicks (``label_fraction`` of the
    particles, as a user would click), test truth is every particle."""
    config = SimulationConfig(
        shape=(size, size),
        shapes=(spec["shape"],),
        diameter_px=spec["diameter"],
        n_particles=int(0.22 * size * size / (np.pi * (spec["diameter"] / 2) ** 2)),
        snr=spec["snr"],
        defocus_um=spec["defocus"],
        ice_gradient=0.5,
    )
    sims = [simulate_micrograph(config, seed=seed * 1000 + i) for i in range(n_train + n_test)]
    rng = np.random.default_rng(seed)
    items = []
    for i, sim in enumerate(sims):
        picks = sim.picks[sim.picks["kind"] == "particle"].copy()
        picks["micrograph"] = f"{name}_{i:02d}"
        picks = picks.reset_index(drop=True)
        if i < n_train and label_fraction < 1.0:
            keep = rng.random(len(picks)) < label_fraction
            picks = picks[keep].reset_index(drop=True)
        items.append((f"{name}_{i:02d}", sim.image, picks))
    return {
        "name": name,
        "diameter": spec["diameter"],
        "train": items[:n_train],
        "test": items[n_train:],
    }


def dataset_examples(data, config, n=None):
    """The training set of a data set (``config`` unused: the workflow prepares it)."""
    train = data["train"][:n] if n else data["train"]
    return TrainingSet(
        data["name"],
        [image for _, image, _ in train],
        [picks for _, _, picks in train],
        data["diameter"],
        names=[name for name, _, _ in train],
    )


def evaluate_on(model, data, head):
    if head not in model.head_names:
        head = "generic"
    config = PickConfig(head=head, device="cpu", score_floor=0.05)
    preds, truths = [], []
    for name, image, truth in data["test"]:
        result = pick_micrograph(
            model, image, diameter_px=data["diameter"], config=config, micrograph_name=name
        )
        preds.append(result.picks)
        truths.append(truth)
    pred = pd.concat(preds, ignore_index=True)
    truth = pd.concat(truths, ignore_index=True)
    return {
        "head": head,
        "AP50": round(100 * average_precision(pred, truth, iou=0.5), 1),
        "AR": round(100 * average_recall(pred, truth), 1),
    }


def evaluate_all(model, sets):
    return {
        data["name"]: {
            "own": evaluate_on(model, data, data["name"]),
            "generic": evaluate_on(model, data, "generic"),
        }
        for data in sets
    }


def train(mode, datasets, train_config, *, config=None, continual_config=None, **base):
    """Run a mode through the training workflow users run; returns the result and the
    seconds of the training loop itself (the run record's ``seconds``).

    (Preparing the micrographs and the exemplar selection after training are left
    out so the per-step timing is not distorted at small step counts.)
    """
    options = dataclasses.asdict(train_config)
    architecture = {} if config is None else dataclasses.asdict(config)
    architecture.pop("kinds", None)
    request = TrainRequest(
        datasets=datasets,
        mode=mode,
        base_model=base.get("base_model"),
        base_metadata=base.get("base_metadata"),
        model_options=architecture,
        train_options={k: v for k, v in options.items() if k not in ("device", "time_limit_s")},
        continual_options={
            **dataclasses.asdict(continual_config or continual.ContinualConfig()),
            # "new" is the from-scratch reference here, not the pretrained start
            "pretrained": False,
        },
        time_limit_s=train_config.time_limit_s,
        device=train_config.device,
    )
    outcome = drive(train_workflow(request))
    run = outcome.card.history[-1]
    result = SimpleNamespace(
        model=outcome.model,
        metadata=outcome.metadata,
        run=run,
        bank=bank_from_metadata(outcome.metadata.get("exemplars")),
    )
    return result, float(run["seconds"])


def checkpoint_bytes(model, metadata):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.pt"
        save_checkpoint(path, model, metadata=metadata)
        with_bank = path.stat().st_size
        save_checkpoint(
            path, model, metadata={k: v for k, v in metadata.items() if k != "exemplars"}
        )
        without = path.stat().st_size
    return with_bank, without


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-per-set", type=int, default=400)
    parser.add_argument("--scaling-steps", type=int, default=15)
    parser.add_argument("--crop-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--snr-scale", type=float, default=1.0, help="multiply every SNR")
    parser.add_argument(
        "--label-fraction", type=float, default=0.3, help="share of particles clicked for training"
    )
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    S = args.steps_per_set
    wall_start = time.perf_counter()
    config = DetectorConfig()

    def tc(steps, seed=0):
        return TrainConfig(
            steps=steps,
            batch_size=args.batch_size,
            crop_size=args.crop_size,
            device="cpu",
            seed=seed,
            log_interval=max(1, steps // 10),
        )

    cc = continual.ContinualConfig()
    print("simulating ...", flush=True)
    for spec in SETS.values():
        spec["snr"] = round(spec["snr"] * args.snr_scale, 4)
    data = {
        name: simulate_set(name, spec, seed=i + 1, label_fraction=args.label_fraction)
        for i, (name, spec) in enumerate(SETS.items())
    }
    examples = {name: dataset_examples(d, config) for name, d in data.items()}
    A, B, C, D = (data[k] for k in "ABCD")
    report: dict = {
        "steps_per_set": S,
        "crop_size": args.crop_size,
        "batch_size": args.batch_size,
        "label_fraction": args.label_fraction,
    }

    print("base: joint A+B", flush=True)
    base, t_base = train("joint", [examples["A"], examples["B"]], tc(2 * S), config=config)
    report["base"] = {"seconds": round(t_base, 1), "eval": evaluate_all(base.model, [A, B, C])}
    report["generic_zero_shot_D"] = evaluate_on(base.model, D, "generic")
    print(json.dumps(report["base"]), flush=True)

    runs = {}
    for mode in ("finetune", "continual"):
        print(f"add C: {mode}", flush=True)
        result, seconds = train(
            mode,
            [examples["C"]],
            tc(S, seed=1),
            base_model=base.model,
            base_metadata=base.metadata,
            continual_config=cc,
        )
        runs[mode] = (result, seconds)
    print("add C: joint retraining from scratch", flush=True)
    runs["joint"] = train(
        "joint", [examples["A"], examples["B"], examples["C"]], tc(3 * S, seed=1), config=config
    )
    report["add_C"] = {}
    for mode, (result, seconds) in runs.items():
        ev = evaluate_all(result.model, [A, B, C])
        forgetting = {
            name: round(report["base"]["eval"][name]["own"]["AP50"] - ev[name]["own"]["AP50"], 1)
            for name in ("A", "B")
        }
        with_bank, without = checkpoint_bytes(result.model, result.metadata)
        report["add_C"][mode] = {
            "seconds": round(seconds, 1),
            "steps": result.run["steps"],
            "eval": ev,
            "forgetting_AP": forgetting,
            "mean_forgetting_AP": round(float(np.mean(list(forgetting.values()))), 1),
            "checkpoint_bytes": with_bank,
            "checkpoint_bytes_without_bank": without,
            "bank_bytes": bank_nbytes(result.bank),
            "bank_particles": bank_summary(result.bank),
        }
        print(mode, json.dumps(report["add_C"][mode]), flush=True)

    print("few-shot D (5 micrographs) vs scratch", flush=True)
    five = dataset_examples(D, config, n=5)
    fewshot, t_few = train(
        "fewshot", [five], tc(S, seed=2), base_model=base.model, base_metadata=base.metadata
    )
    cont_result = runs["continual"][0]
    fewshot_abc, t_few_abc = train(
        "fewshot",
        [five],
        tc(S, seed=2),
        base_model=cont_result.model,
        base_metadata=cont_result.metadata,
    )
    scratch, t_scratch = train("new", [five], tc(S, seed=2), config=config)
    report["fewshot_D"] = {
        "fewshot_head": {**evaluate_on(fewshot.model, D, "D"), "seconds": round(t_few, 1)},
        "fewshot_head_on_ABC": {
            **evaluate_on(fewshot_abc.model, D, "D"),
            "seconds": round(t_few_abc, 1),
        },
        "scratch_5_micrographs": {
            **evaluate_on(scratch.model, D, "generic"),
            "seconds": round(t_scratch, 1),
        },
        "generic_zero_shot": report["generic_zero_shot_D"],
        "generic_zero_shot_ABC": evaluate_on(cont_result.model, D, "generic"),
    }
    print(json.dumps(report["fewshot_D"]), flush=True)

    report["scaling"] = []
    if not args.skip_scaling:
        report["scaling"] = time_scaling(args, config, tc, S)
    report["total_wall_s"] = round(time.perf_counter() - wall_start, 1)
    report["command"] = "python benchmarks/bench_continual.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    report["machine"] = (
        f"2-core CPU, no GPU ({platform.processor() or platform.machine()}, torch "
        f"{torch.__version__}, {args.threads} thread(s), CPU shared with other jobs)"
    )
    report["date"] = dt.datetime.now().isoformat(timespec="seconds")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "continual.json").write_text(json.dumps(report, indent=2))
    (args.out / "continual.md").write_text(to_markdown(report))
    print(f"wrote {args.out / 'continual.md'} in {report['total_wall_s']} s")
    return 0


def time_scaling(args, config, tc, S):
    print("time scaling", flush=True)
    # the shapes of the first runs (the simulator's later shell and lumpy left out,
    # so the timings stay comparable)
    shapes = ["ellipsoid", "dumbbell", "ring", "tetrahedron", "rod", "cube", "L"]
    extra = []
    for i in range(10):
        spec = {
            "shape": shapes[i % len(shapes)],
            "diameter": 28.0 + 2.0 * i,
            "snr": 0.1,
            "defocus": 1.2 + 0.1 * i,
        }
        extra.append(simulate_set(f"S{i}", spec, seed=100 + i, n_test=0))
    scaling_examples = [dataset_examples(d, config) for d in extra]
    n = args.scaling_steps
    model, metadata = None, None
    scaling = []
    for k, dataset in enumerate(scaling_examples, start=1):
        if model is None:
            result, seconds = train("new", [dataset], tc(n), config=config)
        else:
            result, seconds = train(
                "continual", [dataset], tc(n), base_model=model, base_metadata=metadata
            )
        model, metadata = result.model, result.metadata
        row = {
            "datasets": k,
            "continual_s_per_step": round(seconds / n, 4) if k > 1 else None,
            "bank_bytes_total": int(
                sum(bank_nbytes(bank_from_metadata(metadata["exemplars"])).values())
            ),
            "checkpoint_bytes": checkpoint_bytes(model, metadata)[0],
        }
        if k in (3, 5, 10):
            _, joint_seconds = train("joint", scaling_examples[:k], tc(n), config=config)
            row["joint_s_per_step"] = round(joint_seconds / n, 4)
            row["projected_joint_s"] = round(joint_seconds / n * k * S, 1)
            row["projected_continual_s"] = round(seconds / n * S, 1)
            row["ratio"] = round(row["projected_continual_s"] / row["projected_joint_s"], 3)
        scaling.append(row)
        print(json.dumps(row), flush=True)
    return scaling


def to_markdown(r):
    lines = [
        "# Continual learning benchmark (synthetic data sets)",
        "",
        f"Command: `{r['command']}`  ",
        f"Machine: {r['machine']}  ",
        f"Date: {r['date']}, total wall time {r['total_wall_s']} s",
        "",
        f"Steps per data set S = {r['steps_per_set']}, crop {r['crop_size']} px, batch {r['batch_size']}. "
        "Data sets: 512x512 simulated micrographs, 6 train + 4 test each; "
        + "; ".join(
            f"{k}: {v['shape']} {v['diameter']:g} px, SNR {v['snr']}" for k, v in SETS.items()
        )
        + ". AP@0.5 and AR (COCO, IoU 0.5:0.95) in percent on the test micrographs; "
        "'own' = the data set's head, 'generic' = the generic head.",
        "",
        "## Adding data set C to a model trained jointly on A + B",
        "",
        "| model | A own AP/AR | B own AP/AR | C own AP/AR | A gen AP | B gen AP | C gen AP | forgetting A / B (AP pts) | train s | steps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(label, ev, forgetting=None, seconds=None, steps=None):
        cells = [label]
        for k in "ABC":
            cells.append(f"{ev[k]['own']['AP50']} / {ev[k]['own']['AR']} ({ev[k]['own']['head']})")
        for k in "ABC":
            cells.append(f"{ev[k]['generic']['AP50']}")
        cells.append(f"{forgetting['A']} / {forgetting['B']}" if forgetting else "-")
        cells.append(f"{seconds}" if seconds is not None else "-")
        cells.append(f"{steps}" if steps is not None else "-")
        return "| " + " | ".join(cells) + " |"

    lines.append(
        row(
            "base (joint A+B)",
            r["base"]["eval"],
            seconds=r["base"]["seconds"],
            steps=2 * r["steps_per_set"],
        )
    )
    for mode, res in r["add_C"].items():
        label = {
            "finetune": "+C finetune",
            "continual": "+C continual",
            "joint": "joint A+B+C (scratch)",
        }[mode]
        lines.append(row(label, res["eval"], res["forgetting_AP"], res["seconds"], res["steps"]))
    lines += ["", "Stored bytes after adding C:", ""]
    lines.append(
        "| model | checkpoint bytes | without bank | bank bytes per data set | bank particles |"
    )
    lines.append("|---|---|---|---|---|")
    for mode, res in r["add_C"].items():
        lines.append(
            f"| {mode} | {res['checkpoint_bytes']:,} | {res['checkpoint_bytes_without_bank']:,} | "
            f"{', '.join(f'{k}: {v:,}' for k, v in res['bank_bytes'].items())} | "
            f"{', '.join(f'{k}: {v}' for k, v in res['bank_particles'].items())} |"
        )
    f = r["fewshot_D"]
    lines += [
        "",
        "## Few-shot head vs training from scratch (data set D, 5 micrographs)",
        "",
        "| model | D AP@0.5 | D AR | train s |",
        "|---|---|---|---|",
        f"| few-shot head on the A+B base | {f['fewshot_head']['AP50']} | {f['fewshot_head']['AR']} | {f['fewshot_head']['seconds']} |",
        f"| few-shot head on the A+B+C (continual) model | {f['fewshot_head_on_ABC']['AP50']} | {f['fewshot_head_on_ABC']['AR']} | {f['fewshot_head_on_ABC']['seconds']} |",
        f"| new model from scratch | {f['scratch_5_micrographs']['AP50']} | {f['scratch_5_micrographs']['AR']} | {f['scratch_5_micrographs']['seconds']} |",
        f"| generic head of the base, zero-shot | {f['generic_zero_shot']['AP50']} | {f['generic_zero_shot']['AR']} | 0 |",
        f"| generic head of the A+B+C (continual) model, zero-shot | {f['generic_zero_shot_ABC']['AP50']} | {f['generic_zero_shot_ABC']['AR']} | 0 |",
        "",
        "## Time scaling as data sets accumulate",
        "",
        "Seconds per step measured with a reduced step count; projected time = s/step x budget "
        f"(continual: S = {r['steps_per_set']} steps for the new set; joint retraining on N sets: N x S).",
        "",
        "| data sets | continual s/step | joint s/step | projected continual s | projected joint s | ratio | bank bytes (all sets) | checkpoint bytes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in r["scaling"]:
        lines.append(
            f"| {s['datasets']} | {s.get('continual_s_per_step') or '-'} | {s.get('joint_s_per_step', '-')} | "
            f"{s.get('projected_continual_s', '-')} | {s.get('projected_joint_s', '-')} | {s.get('ratio', '-')} | "
            f"{s['bank_bytes_total']:,} | {s['checkpoint_bytes']:,} |"
        )
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in targets(r):
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    lines.append("")
    return "\n".join(lines)


def targets(r):
    add = r["add_C"]
    cont, fine, joint = add["continual"], add["finetune"], add["joint"]
    worst_cont = max(cont["forgetting_AP"].values())
    rows = [
        (
            "continual loses <= 3 AP points on the old sets",
            f"A {cont['forgetting_AP']['A']}, B {cont['forgetting_AP']['B']}",
            worst_cont <= 3.0,
        ),
        (
            "finetune loses clearly more",
            f"A {fine['forgetting_AP']['A']}, B {fine['forgetting_AP']['B']} "
            f"(mean {fine['mean_forgetting_AP']} vs {cont['mean_forgetting_AP']})",
            fine["mean_forgetting_AP"] >= cont["mean_forgetting_AP"] + 3.0,
        ),
        (
            "continual within 3 AP points of joint on the new set",
            f"{cont['eval']['C']['own']['AP50']} vs {joint['eval']['C']['own']['AP50']}",
            cont["eval"]["C"]["own"]["AP50"] >= joint["eval"]["C"]["own"]["AP50"] - 3.0,
        ),
        (
            "continual <= half the time of joint retraining (3 sets, full runs)",
            f"{cont['seconds']} s vs {joint['seconds']} s "
            f"(ratio {cont['seconds'] / joint['seconds']:.2f})",
            cont["seconds"] <= 0.5 * joint["seconds"],
        ),
    ]
    for s in r["scaling"]:
        if "ratio" in s:
            rows.append(
                (
                    f"continual <= half the time of joint retraining ({s['datasets']} sets, projected)",
                    f"ratio {s['ratio']}",
                    s["ratio"] <= 0.5,
                )
            )
    f = r["fewshot_D"]
    best = max(f["fewshot_head"]["AP50"], f["fewshot_head_on_ABC"]["AP50"])
    rows.append(
        (
            "few-shot head (5 micrographs) beats a model from scratch on them "
            "(easy sets, body from 2 sets; new-protein case: fewshot.md)",
            f"{f['fewshot_head']['AP50']} (A+B base) / {f['fewshot_head_on_ABC']['AP50']} "
            f"(A+B+C base) vs {f['scratch_5_micrographs']['AP50']}",
            best > f["scratch_5_micrographs"]["AP50"],
        )
    )
    return rows


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
