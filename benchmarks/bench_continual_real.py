"""Continual-learning benchmark on the real data sets (GitHub issue 4, real part).

Run (about 10 minutes of one core on the shared 2-core CPU; the second call,
about 7 minutes, adds the ``continual2x`` rows, each on its own retrained
base; ``--markdown-only`` rewrites the Markdown from the JSON)::

    .venv/bin/python benchmarks/bench_continual_real.py --steps-per-set 500
    .venv/bin/python benchmarks/bench_continual_real.py --steps-per-set 500 \
        --modes continual2x --merge

Protocol
--------
Each real data set of ``shared/data/real`` is split as in
``benchmarks/bench_detector.py`` (:func:`bench_detector.load_split`, seed 0):
3 training micrographs with a random quarter of their picks (sparse clicks),
the other micrographs for testing against all their picks.

For each scenario ``old1 + old2, then new`` (S = ``--steps-per-set``):

1. base model: ``joint`` on old1 + old2 from scratch (2 S steps);
2. add ``new`` from the base three ways: ``finetune`` (S steps),
   ``continual`` (S steps, exemplar replay + distillation + drift penalty),
   and ``joint`` retraining from scratch on all three (3 S steps: every data
   set gets the same S steps of exposure);
3. after each model: AP@0.5, AP@0.6 and AR (COCO, IoU 0.5:0.95) on the test
   micrographs of all three data sets, with the data set's own head (the
   generic head where the model has none) and with the generic head;
   forgetting = own-head AP@0.5 of the base minus that of the model, on the
   old sets; training seconds (the training loop); checkpoint bytes with and
   without the exemplar bank. ``--modes continual2x`` (tried when continual
   missed the new-set target): ``continual`` with 2 S steps, so the new set
   gets as many batches as in joint retraining (half the continual batches
   are replayed exemplars). The base checkpoints are kept in
   ``benchmarks/_work/continual_real/``.

Scenarios: ``bgal + ribosome, then apoferritin`` (the default) and
``bgal + apoferritin, then ribosome`` (apoferritin is a weak set for this
detector, AP@0.5 ~0.4 when trained on it, so "continual ends within 3 AP of
joint on the new set" is also judged with ribosome as the new set).

Training goes through :func:`napari_cryopick.workflows.train.train`
(``TrainRequest`` with the protocol's steps, batch and crop size, fixed
seeds, ``pretrained=False``), picking through
:func:`napari_cryopick.workflows.pick.pick_one` (a ``PickRequest`` per
model and head). ``--smoke`` is a quick end-to-end check (2 steps per set,
first scenario, one test micrograph per set, results in ``benchmarks/_work/smoke/``).

Scoring: :func:`napari_cryopick.core.evaluate.evaluate` with boxes of the data
set's particle diameter for every prediction and label (the detection
quality, not the size regression); picking as in ``bench_detector.py``
(``rotations=True``, ``min_distance=0.4``, ``score_floor=0.001``). The
ribosome labels are sparse: its AP is a lower bound for every model alike.

Results go to ``benchmarks/results/continual_real.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from napari_cryopick.core import continual
from napari_cryopick.core.detect import PickConfig
from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.exemplars import bank_from_metadata, bank_nbytes, bank_summary
from napari_cryopick.core.model import save_checkpoint
from napari_cryopick.core.progress import drive
from napari_cryopick.io.micrographs import read_micrograph
from napari_cryopick.workflows.pick import PickRequest, pick_one, prepare
from napari_cryopick.workflows.train import TrainingSet, TrainRequest, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detector import DEFAULT_DATA, load_split, machine_info

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHORT = {
    "empiar10017_bgal": "bgal",
    "empiar10028_ribosome": "ribosome",
    "empiar10146_apoferritin": "apoferritin",
}
SCENARIOS = {
    "bgal+ribosome->apoferritin": (
        "empiar10017_bgal",
        "empiar10028_ribosome",
        "empiar10146_apoferritin",
    ),
    "bgal+apoferritin->ribosome": (
        "empiar10017_bgal",
        "empiar10146_apoferritin",
        "empiar10028_ribosome",
    ),
}
MODES = ("finetune", "continual", "joint")
#: Extra mode (``--modes continual2x``): continual with 2 S steps. With the
#: default replay fraction 0.5 only half of the continual batches are new
#: data, so S continual steps give the new set half the exposure joint
#: retraining gives it; 2 S steps give it the same S batches.
EXTRA_MODES = ("continual2x",)
LABELS = {
    "finetune": "+{new} finetune (S steps)",
    "continual": "+{new} continual (S steps)",
    "continual2x": "+{new} continual (2 S steps)",
    "joint": "joint on all three, scratch (3 S steps)",
}


class RealSet:
    """One real data set: split, its training set (sparse clicks) and cached micrographs.

    The micrographs are read once and handed to the workflows in memory
    (:class:`napari_cryopick.io.micrographs.Micrograph`); each training run
    prepares its examples from them as ``cryopick train`` does.
    """

    def __init__(self, folder: Path, *, seed: int, label_fraction: float, max_test: int | None):
        split = load_split(folder, seed=seed, n_train=3, label_fraction=label_fraction)
        self.name = SHORT.get(split.name, split.name)
        self.folder_name = split.name
        self.diameter = split.diameter_px
        self.completeness = split.completeness
        self.train = split.train
        self.test = split.test[:max_test] if max_test else split.test
        self.training_set = TrainingSet(
            name=self.name,
            micrographs=[read_micrograph(split.paths[n]) for n in split.train],
            picks=[split.train_picks[n] for n in split.train],
            diameter_px=self.diameter,
            names=split.train,
        )
        self.test_micrographs = [read_micrograph(split.paths[n]) for n in self.test]
        self.truth = pd.concat([split.truth[n] for n in self.test], ignore_index=True)
        self.n_clicks = int(sum(len(t) for t in split.train_picks.values()))
        self.n_train_all = int(sum(len(split.truth[n]) for n in split.train))


def score(outcome, data: RealSet, head: str, pick_options: dict) -> dict:
    """AP@0.5, AP@0.6 and AR (percent) of ``head`` on the test micrographs of ``data``.

    Picks through the pick workflow (request prepared once, ``pick_one`` per
    micrograph); every candidate down to the score floor is scored.
    """
    if head not in outcome.model.head_names:
        head = continual.GENERIC_HEAD
    prepared = prepare(
        PickRequest(
            data.test_micrographs,
            model=outcome.model,
            metadata=outcome.metadata,
            head=head,
            diameter_px=data.diameter,
            options=pick_options,
            device="cpu",
        )
    )
    tables = [pick_one(prepared, m).candidates for m in data.test_micrographs]
    pred = pd.concat(tables, ignore_index=True).assign(diameter=data.diameter)
    report = evaluate(pred, data.truth, iou_thresholds=(0.5, 0.6), diameter_px=data.diameter)
    return {
        "head": head,
        "AP50": round(100 * float(report.ap["AP@0.5"]), 1),
        "AP60": round(100 * float(report.ap["AP@0.6"]), 1),
        "AR": round(100 * float(report.ar), 1),
    }


def evaluate_all(outcome, sets: list[RealSet], pick_options: dict) -> dict:
    return {
        d.name: {
            "own": score(outcome, d, d.name, pick_options),
            "generic": score(outcome, d, continual.GENERIC_HEAD, pick_options),
        }
        for d in sets
    }


def checkpoint_bytes(model, metadata: dict) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.pt"
        save_checkpoint(path, model, metadata=metadata)
        with_bank = path.stat().st_size
        save_checkpoint(
            path, model, metadata={k: v for k, v in metadata.items() if k != "exemplars"}
        )
        return with_bank, path.stat().st_size


def run_scenario(sets: dict[str, RealSet], names, args, pick_options: dict) -> dict:
    """Base model, then the new set added in each mode, all through the training workflow."""
    old1, old2, new = (sets[n] for n in names)
    S = args.steps_per_set

    def request(mode, datasets, steps, seed, base=None) -> TrainRequest:
        # the protocol's settings, explicit: fixed steps (no time limit), fresh models
        # from scratch (joint never starts from the general model; the base is given)
        return TrainRequest(
            datasets=[d.training_set for d in datasets],
            mode=mode,
            base_model=None if base is None else base.model,
            base_metadata=None if base is None else base.metadata,
            train_options={
                "steps": steps,
                "batch_size": args.batch_size,
                "crop_size": args.crop_size,
                "seed": seed,
                "log_interval": max(1, steps // 5),
            },
            continual_options={"pretrained": False},
            time_limit_s="auto",  # TrainConfig's default, as the recorded runs had
            device="cpu",
        )

    def log(event):
        if not hasattr(event, "losses"):  # a note (TrainNote) or a preview
            print(f"    {getattr(event, 'text', event)}", flush=True)
            return
        print(f"    step {event.step}/{event.total} loss {event.losses['total']:.3f}", flush=True)

    everything = [old1, old2, new]
    print(f"  base: joint {old1.name} + {old2.name} ({2 * S} steps)", flush=True)
    base = drive(train(request("joint", [old1, old2], 2 * S, 0)), on_event=log)
    args.work.mkdir(parents=True, exist_ok=True)
    base_path = args.work / f"base_{old1.name}_{old2.name}_S{S}.pt"
    save_checkpoint(base_path, base.model, metadata=base.metadata)
    base_run = base.card.history[-1]
    out: dict = {
        "old": [old1.name, old2.name],
        "new": new.name,
        "base": {
            "seconds": round(float(base_run["seconds"]), 1),
            "steps": base_run["steps"],
            "eval": evaluate_all(base, everything, pick_options),
            "checkpoint": str(
                base_path.relative_to(ROOT) if base_path.is_relative_to(ROOT) else base_path
            ),
        },
        "add": {},
    }
    print("  base", json.dumps(out["base"]["eval"]), flush=True)
    for mode in args.modes:
        print(f"  add {new.name}: {mode}", flush=True)
        if mode == "joint":
            job = train(request("joint", everything, 3 * S, 1))
        else:
            steps = 2 * S if mode == "continual2x" else S
            job = train(
                request("continual" if mode == "continual2x" else mode, [new], steps, 1, base)
            )
        result = drive(job, on_event=log)
        run = result.card.history[-1]
        ev = evaluate_all(result, everything, pick_options)
        base_ev = out["base"]["eval"]
        forgetting = {
            d.name: round(base_ev[d.name]["own"]["AP50"] - ev[d.name]["own"]["AP50"], 1)
            for d in (old1, old2)
        }
        forgetting_generic = {
            d.name: round(base_ev[d.name]["generic"]["AP50"] - ev[d.name]["generic"]["AP50"], 1)
            for d in (old1, old2)
        }
        with_bank, without = checkpoint_bytes(result.model, result.metadata)
        bank = bank_from_metadata(result.metadata.get("exemplars"))
        out["add"][mode] = {
            "seconds": round(float(run["seconds"]), 1),  # the training loop, as before
            "steps": run["steps"],
            "eval": ev,
            "forgetting_AP50": forgetting,
            "max_forgetting_AP50": max(forgetting.values()),
            "mean_forgetting_AP50": round(float(np.mean(list(forgetting.values()))), 1),
            "forgetting_AP50_generic": forgetting_generic,
            "checkpoint_bytes": with_bank,
            "checkpoint_bytes_without_bank": without,
            "bank_bytes": bank_nbytes(bank),
            "bank_particles": bank_summary(bank),
        }
        print(f"  {mode}", json.dumps(out["add"][mode]), flush=True)
    return out


def targets(sc: dict) -> list[dict]:
    add = sc["add"]
    cont, fine, joint = add["continual"], add["finetune"], add["joint"]
    new = sc["new"]
    c_new, j_new = cont["eval"][new]["own"]["AP50"], joint["eval"][new]["own"]["AP50"]
    extra = []
    if "continual2x" in add:
        c2 = add["continual2x"]
        c2_new = c2["eval"][new]["own"]["AP50"]
        note = " (own retrained base)" if "own_base" in c2 else ""
        extra = [
            {
                "target": "(tried) continual with 2 S steps loses <= 3 AP points on the old sets"
                + note,
                "measured": ", ".join(f"{k} {v}" for k, v in c2["forgetting_AP50"].items()),
                "met": c2["max_forgetting_AP50"] <= 3.0,
            },
            {
                "target": f"(tried) continual with 2 S steps within 3 AP points of joint on {new}",
                "measured": f"{c2_new} vs {j_new}",
                "met": c2_new >= j_new - 3.0,
            },
        ]
    return [*_main_targets(cont, fine, joint, new, c_new, j_new), *extra]


def _main_targets(cont, fine, joint, new, c_new, j_new) -> list[dict]:
    return [
        {
            "target": "continual loses <= 3 AP points on the old sets",
            "measured": ", ".join(f"{k} {v}" for k, v in cont["forgetting_AP50"].items()),
            "met": cont["max_forgetting_AP50"] <= 3.0,
        },
        {
            "target": "finetune loses clearly more (mean >= continual's + 3)",
            "measured": ", ".join(f"{k} {v}" for k, v in fine["forgetting_AP50"].items())
            + f" (mean {fine['mean_forgetting_AP50']} vs {cont['mean_forgetting_AP50']})",
            "met": fine["mean_forgetting_AP50"] >= cont["mean_forgetting_AP50"] + 3.0,
        },
        {
            "target": f"continual within 3 AP points of joint on the new set ({new})",
            "measured": f"{c_new} vs {j_new}",
            "met": c_new >= j_new - 3.0,
        },
        {
            "target": "continual <= half the training time of joint retraining (3 sets, "
            "measured full runs)",
            "measured": f"{cont['seconds']} s vs {joint['seconds']} s "
            f"(ratio {cont['seconds'] / joint['seconds']:.2f})",
            "met": cont["seconds"] <= 0.5 * joint["seconds"],
        },
    ]


def to_markdown(r: dict) -> str:
    lines = [
        "# Continual learning benchmark (real data sets)",
        "",
        f"Command: `{r['command']}`  ",
        f"Machine: {r['machine']}  ",
        f"Date: {r['date']}; load average (1 min) at start {r['load_start']}, at end "
        f"{r['load_end']}; total wall time {r['total_wall_s']} s.",
        "",
        f"Steps per data set S = {r['steps_per_set']}, crop {r['crop_size']} px, batch "
        f"{r['batch_size']}, one torch thread. Split as `bench_detector.py` (seed {r['seed']}): "
        f"3 training micrographs per data set with a random {r['label_fraction']:.0%} of their "
        "picks, the other micrographs for testing against all their picks. AP@0.5 / AP@0.6 "
        "(boxes of the particle diameter) and AR (COCO, IoU 0.5:0.95) in percent on the test "
        "micrographs; *own* = the data set's head (the generic head where the model has none), "
        "*generic* = the generic head. Forgetting = base own-head AP@0.5 minus the model's.",
        "",
        "| data set | labels | diameter px | training micrographs (clicks / all picks) | test micrographs (picks) |",
        "|---|---|---|---|---|",
    ]
    for name, d in r["datasets"].items():
        lines.append(
            f"| {name} ({d['folder']}) | {d['completeness']} | {d['diameter']:g} | "
            f"{len(d['train'])} ({d['clicks']} / {d['train_picks']}) | "
            f"{len(d['test'])} ({d['test_picks']}) |"
        )
    for title, sc in r["scenarios"].items():
        sets = [*sc["old"], sc["new"]]
        lines += [
            "",
            f"## {title}: base = joint on {sc['old'][0]} + {sc['old'][1]}, then add {sc['new']}",
            "",
            "| model | "
            + " | ".join(f"{s} own AP50 / AP60 / AR" for s in sets)
            + " | "
            + " | ".join(f"{s} generic AP50 / AP60 / AR" for s in sets)
            + " | forgetting (own AP50 pts) | train s | steps |",
            "|---" * (2 * len(sets) + 4) + "|",
        ]

        def row(label, res, forgetting=None, sets=sets):
            ev = res["eval"]
            cells = [label]
            for s in sets:
                e = ev[s]["own"]
                head = "" if e["head"] == s else f" ({e['head']})"
                cells.append(f"{e['AP50']} / {e['AP60']} / {e['AR']}{head}")
            for s in sets:
                e = ev[s]["generic"]
                cells.append(f"{e['AP50']} / {e['AP60']} / {e['AR']}")
            cells.append(
                ", ".join(f"{k} {v}" for k, v in forgetting.items()) if forgetting else "-"
            )
            cells += [str(res["seconds"]), str(res["steps"])]
            return "| " + " | ".join(cells) + " |"

        lines.append(row(f"base (joint {' + '.join(sc['old'])})", sc["base"]))
        for mode, res in sc["add"].items():
            label = LABELS[mode].format(new=sc["new"])
            if "own_base" in res:
                lines.append(row(f"(retrained base for {mode})", res["own_base"]))
                label += " on that base"
            lines.append(row(label, res, res["forgetting_AP50"]))
        lines += [
            "",
            "Forgetting with the generic head (AP@0.5 pts): "
            + "; ".join(
                f"{mode} "
                + ", ".join(f"{k} {v}" for k, v in res["forgetting_AP50_generic"].items())
                for mode, res in sc["add"].items()
            )
            + ".",
            "",
            "| model | checkpoint bytes | without bank | bank bytes per data set | bank particles |",
            "|---|---|---|---|---|",
        ]
        for mode, res in sc["add"].items():
            lines.append(
                f"| {mode} | {res['checkpoint_bytes']:,} | {res['checkpoint_bytes_without_bank']:,} | "
                + ", ".join(f"{k}: {v:,}" for k, v in res["bank_bytes"].items())
                + " | "
                + ", ".join(f"{k}: {v}" for k, v in res["bank_particles"].items())
                + " |"
            )
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        for t in sc["targets"]:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    if r.get("notes"):
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in r["notes"]]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps-per-set", type=int, default=500)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="split and clicks (bench_detector)")
    parser.add_argument("--label-fraction", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--modes", nargs="+", choices=[*MODES, *EXTRA_MODES], default=list(MODES))
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add this run's modes to the scenarios of an existing continual_real.json "
        "(their base is retrained here and reported next to them as own_base)",
    )
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="recompute the targets and rewrite continual_real.md from continual_real.json",
    )
    parser.add_argument("--note", action="append", default=[], help="line for the notes")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="end-to-end check only: 2 steps per set, the first scenario, one test micrograph "
        "per data set, results in benchmarks/_work/smoke/ (unless --out)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--work", type=Path, default=ROOT / "benchmarks" / "_work" / "continual_real"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps_per_set, args.scenarios = 2, args.scenarios[:1]
        if args.out == parser.get_default("out"):
            args.out = ROOT / "benchmarks" / "_work" / "smoke" / "continual_real"
        if args.work == parser.get_default("work"):
            args.work = ROOT / "benchmarks" / "_work" / "smoke" / "continual_real"
    if args.markdown_only:
        report = json.loads((args.out / "continual_real.json").read_text())
        for scenario in report["scenarios"].values():
            if all(m in scenario["add"] for m in MODES):
                scenario["targets"] = targets(scenario)
        report["notes"] = [*report.get("notes", []), *args.note]
        (args.out / "continual_real.json").write_text(json.dumps(report, indent=1))
        (args.out / "continual_real.md").write_text(to_markdown(report))
        print(to_markdown(report))
        return 0
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    # the protocol's picking options (bench_detector's), passed through the pick request
    pick_options = {"rotations": True, "min_distance": 0.4, "score_floor": 0.001}
    machine = machine_info()
    report: dict = {
        "benchmark": "continual learning on real data (issue 4)",
        "command": ".venv/bin/python benchmarks/bench_continual_real.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{machine['cores']}-core CPU, no GPU ({machine['cpu']}, torch "
        f"{machine['torch']}, {args.threads} thread(s), CPU shared with other jobs)",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "load_start": round(os.getloadavg()[0], 2),
        "steps_per_set": args.steps_per_set,
        "crop_size": args.crop_size,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "label_fraction": args.label_fraction,
        "pick_config": dataclasses.asdict(PickConfig(**pick_options, device="cpu")),
        "datasets": {},
        "scenarios": {},
    }
    needed = sorted({n for s in args.scenarios for n in SCENARIOS[s]})
    sets = {}
    for folder_name in needed:
        data = RealSet(
            args.data / folder_name,
            seed=args.seed,
            label_fraction=args.label_fraction,
            max_test=1 if args.smoke else None,
        )
        sets[folder_name] = data
        report["datasets"][data.name] = {
            "folder": folder_name,
            "completeness": data.completeness,
            "diameter": data.diameter,
            "train": data.train,
            "test": data.test,
            "clicks": data.n_clicks,
            "train_picks": data.n_train_all,
            "test_picks": len(data.truth),
        }
        print(f"{data.name}: {report['datasets'][data.name]}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = None
    prior_wall = 0.0
    if args.merge:
        previous = json.loads((args.out / "continual_real.json").read_text())
        previous["command"] += "; then " + report["command"]
        previous["load_start_merge"] = report["load_start"]
        prior_wall = float(previous.get("total_wall_s", 0.0))
        report = previous
    for title in args.scenarios:
        print(title, flush=True)
        scenario = run_scenario(sets, SCENARIOS[title], args, pick_options)
        if previous is not None and title in previous["scenarios"]:
            old = previous["scenarios"][title]
            for mode, res in scenario["add"].items():
                old["add"][mode] = {**res, "own_base": scenario["base"]}
            scenario = old
        if all(m in scenario["add"] for m in MODES):
            scenario["targets"] = targets(scenario)
        report["scenarios"][title] = scenario
        report["load_end"] = round(os.getloadavg()[0], 2)
        report["total_wall_s"] = round(prior_wall + time.perf_counter() - wall, 1)
        (args.out / "continual_real.json").write_text(json.dumps(report, indent=1))
        (args.out / "continual_real.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
