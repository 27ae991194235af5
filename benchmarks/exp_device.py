"""One prepared run on a GPU machine (16 cores): general models + many CPU experiments.

Phase 1 (GPU): simulate the training micrographs once (a process pool), then
train the general-model variants in parallel, one process each (the GPU is
shared; each process has ``--workers`` crop-making workers):
``default`` architecture and ``wide`` (widths 24/48/96/192, 48 features),
each ``full`` (all real sets) and without each real set (leave one out);
``--long-s S`` trains every variant a second time for S seconds, at once;
``--seed`` sets the training seed. Each model is written twice: its last
weights (``<name>.pt``) and the average of its weights from
``--average-from`` of the run on (``<name>_swa.pt``; default 0.5, -1: none).
Each group of one duration is packed into ``models_<S>s.tar`` as soon as it
is done, so a time-out keeps what finished.

Phase 2: GPU timings (picking a 1024 px and a 4096 px micrograph; training
steps in 20 s).

Phase 3 (CPU, one thread per job, all cores): ``exp_fewshot.py`` conditions
per left-out real set, with the step counts that 120 s of training give on
the developers' 2-core CPU (measured there: crop 256 about 240 steps, crop 128
about 520, the wide body at crop 128 about 360).

Everything is written under ``--out`` (``$OUT`` on the device machine).
Test it locally with tiny settings::

    .venv/bin/python benchmarks/exp_device.py --out /tmp/dev --tiny
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.util
import json
import multiprocessing
import os
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "train_general_model", ROOT / "scripts" / "train_general_model.py"
)
recipe = importlib.util.module_from_spec(_spec)
sys.modules["train_general_model"] = recipe
_spec.loader.exec_module(recipe)  # type: ignore[union-attr]

from napari_cryopick.core.model import DetectorConfig, save_checkpoint  # noqa: E402

REAL = ("empiar10146_apoferritin", "empiar10017_bgal", "empiar10028_ribosome")
ARCHS = {
    "default": {},
    "wide": {"widths": (24, 48, 96, 192), "feature_channels": 48},
}
T0 = time.perf_counter()


def log(text: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {text}", flush=True)


def model_config(arch: str) -> DetectorConfig:
    config = DetectorConfig()
    for key, value in ARCHS[arch].items():
        setattr(config, key, value)
    return config


def variant_name(arch, excluded, train_s, args) -> str:
    name = f"general_{arch}_" + (f"without_{excluded}" if excluded else "full")
    if train_s != args.train_s:
        name += f"_{int(train_s)}s"
    if args.seed:
        name += f"_seed{args.seed}"
    return name


def _train_variant(arch, excluded, sim, real, args, out_dir, train_s):
    torch.set_num_threads(1)
    name = variant_name(arch, excluded, train_s, args)
    try:
        datasets = list(sim[arch]) + [d for d in real[arch] if d.name != excluded]

        def save(model, record, path):
            metadata = recipe.general_metadata(
                model,
                datasets,
                record,
                [f"exp_device {name}"],
                [excluded] if excluded else [],
                max_exemplars=0,
            )
            save_checkpoint(path, model, metadata=metadata)

        model, record = recipe.pretrain(
            datasets,
            model_config(arch),
            time_limit_s=train_s,
            batch_size=args.batch,
            crop_size=args.crop,
            device=args.device,
            workers=args.workers,
            seed=args.seed,
            log=lambda text: log(f"{name}: {text}"),
            log_every=500,
            average_from=args.average_from if args.average_from >= 0 else None,
            on_raw=lambda raw, record: save(raw, record, out_dir / f"{name}.pt"),
        )
        # averaged weights (the record counts them) go beside the last ones
        averaged = record.get("average", {}).get("models", 0) > 0
        path = out_dir / (f"{name}_swa.pt" if averaged else f"{name}.pt")
        save(model, record, path)
        log(f"{name}: wrote {path.name} after {record['steps']} steps ({record['final_loss']})")
        return name, record
    except Exception:
        log(f"{name}: FAILED\n{traceback.format_exc()}")
        return name, None


def phase_pretrain(args, models_dir: Path) -> dict:
    """Train every variant at once; each group of one duration is packed (tar) when done."""
    sim, real = {}, {}
    for arch in args.archs:
        config = model_config(arch)
        if arch == args.archs[0]:
            shared = recipe.synthetic_datasets(
                config, micrographs_per_shape=args.per_shape, processes=args.sim_processes
            )
        sim[arch] = shared  # same prepared images: the target diameter is the same
        real[arch] = recipe.real_datasets(args.data, config)
    first = real[args.archs[0]]
    log(
        f"data ready: {sum(len(d.examples) for d in sim[args.archs[0]])} simulated micrographs, "
        f"real sets {[d.name for d in first]}"
    )
    durations = [args.train_s] + ([args.long_s] if args.long_s else [])
    variants = [
        (arch, ex, seconds) for seconds in durations for arch in args.archs for ex in (None, *REAL)
    ]
    context = multiprocessing.get_context("fork")
    records = {}
    with cf.ProcessPoolExecutor(len(variants), mp_context=context) as pool:
        futures = {
            pool.submit(_train_variant, a, e, sim, real, args, models_dir, t): t
            for a, e, t in variants
        }
        groups = {
            t: {variant_name(a, e, t, args) for a, e, u in variants if u == t} for t in durations
        }
        left = {t: set(names) for t, names in groups.items()}
        for future in cf.as_completed(futures):
            name, record = future.result()
            records[name] = record
            seconds = futures[future]
            left[seconds].discard(name)
            if not left[seconds]:  # this group is done: pack it now (a timeout keeps it)
                target = args.out / f"models_{int(seconds)}s.tar"
                with tarfile.open(target, "w") as tar:
                    for path in sorted(models_dir.glob("general_*.pt")):
                        if path.stem.removesuffix("_swa") in groups[seconds]:
                            tar.add(path, arcname=path.name)
                log(f"packed {target.name}")
                (args.out / "summary.json").write_text(json.dumps({"pretrain": records}, indent=1))
    return records


def phase_timing(args, models_dir: Path) -> dict:
    """GPU picking time and training steps in a 20 s budget."""
    from napari_cryopick.core.detect import PickConfig, pick_micrograph
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.core.training import TrainConfig, build_examples, train_detector

    torch.set_num_threads(4)
    results = {"device": args.device}
    if torch.cuda.is_available():
        results["gpu"] = torch.cuda.get_device_name(0)
    rng = np.random.default_rng(0)
    for arch in args.archs:
        path = models_dir / f"general_{arch}_full.pt"
        if not path.is_file():
            continue
        model, _ = load_checkpoint(path)
        for side, diameter in ((1024, 56.0), (4096, 108.0)):
            image = rng.normal(0, 1, (side, side)).astype(np.float32)
            config = PickConfig(device=args.device)
            pick_micrograph(model, image, diameter_px=diameter, config=config)  # warm-up
            times = []
            for _ in range(5):
                start = time.perf_counter()
                pick_micrograph(model, image, diameter_px=diameter, config=config)
                times.append(time.perf_counter() - start)
            results[f"pick_{arch}_{side}px_d{int(diameter)}_s"] = round(float(np.median(times)), 4)
        log(f"timing {arch}: {results}")
    image = rng.normal(0, 1, (1200, 1200)).astype(np.float32)
    xy = rng.uniform(0, 1200, (200, 2))
    for arch in args.archs:
        config = model_config(arch)
        examples = build_examples(
            [image], [make_picks(xy[:, 0], xy[:, 1], diameter=62.0)], 62.0, config
        )
        train_config = TrainConfig(
            steps=100_000, time_limit_s=20.0, device=args.device, log_interval=1000
        )
        start = time.perf_counter()
        steps = 0
        job = train_detector(examples, config=config, train_config=train_config)
        for event in job:
            steps = event.step
        results[f"train20s_{arch}_steps"] = steps
        results[f"train20s_{arch}_wall_s"] = round(time.perf_counter() - start, 1)
        log(f"timing train {arch}: {steps} steps in 20 s")
    return results


def experiment_jobs(args, models_dir: Path) -> tuple[list[list[str]], list[list[str]]]:
    """(jobs needing no general model, jobs needing one), most important first."""
    script = str(ROOT / "benchmarks" / "exp_fewshot.py")
    common = ["--data", str(args.data), "--time-limit", "0", "--out", str(args.results)]
    s256, s128, swide = args.steps256, args.steps128, args.steps_wide
    fresh, general = [], []
    for priority in range(8):
        for real in REAL:
            d = str(models_dir / f"general_default_without_{real}.pt")
            w = str(models_dir / f"general_wide_without_{real}.pt")
            base = [sys.executable, script, "--set", real, *common]
            fresh += {
                0: [[*base, "--condition", "fresh", "--crop", "256", "--steps", s256]],
                1: [[*base, "--condition", "fresh", "--crop", "128", "--steps", s128]],
                2: [[*base, "--condition", "fresh+pseudo", "--crop", "128", "--steps", s128]],
            }.get(priority, [])
            general += {
                0: [
                    [*base, "--condition", "zeroshot", "--init", d],
                    [*base, "--condition", "zeroshot", "--init", w],
                ],
                1: [
                    [
                        *base,
                        "--condition",
                        "finetune",
                        "--init",
                        d,
                        "--crop",
                        "128",
                        "--steps",
                        s128,
                    ],
                    [
                        *base,
                        "--condition",
                        "cfinetune",
                        "--init",
                        d,
                        "--crop",
                        "128",
                        "--steps",
                        s128,
                    ],
                ],
                2: [
                    [
                        *base,
                        "--condition",
                        "finetune+pseudo",
                        "--init",
                        d,
                        "--crop",
                        "128",
                        "--steps",
                        s128,
                    ]
                ],
                3: [
                    [
                        *base,
                        "--condition",
                        "finetune",
                        "--init",
                        w,
                        "--crop",
                        "128",
                        "--steps",
                        swide,
                    ]
                ],
                4: [
                    [*base, "--condition", "fewshot", "--init", d, "--crop", "128", "--steps", s128]
                ],
                5: [
                    [
                        *base,
                        "--condition",
                        "finetune",
                        "--init",
                        d,
                        "--crop",
                        "256",
                        "--steps",
                        s256,
                    ]
                ],
                6: [
                    [
                        *base,
                        "--condition",
                        "finetune",
                        "--init",
                        d,
                        "--crop",
                        "128",
                        "--steps",
                        s128,
                        "--lr",
                        "1e-3",
                    ]
                ],
                7: [
                    [
                        *base,
                        "--condition",
                        "finetune+pseudo",
                        "--init",
                        w,
                        "--crop",
                        "128",
                        "--steps",
                        swide,
                    ]
                ],
            }.get(priority, [])
    return [[str(x) for x in j] for j in fresh], [[str(x) for x in j] for j in general]


def run_jobs(
    jobs: list[list[str]], parallel: int, deadline: float, grace: float, errors: Path
) -> None:
    """Run commands, at most ``parallel`` at a time; none starts after ``deadline`` (epoch s)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    running: list[tuple[subprocess.Popen, list[str]]] = []
    pending = list(jobs)
    with open(errors, "a") as stderr:
        while pending or running:
            now = time.time()
            while pending and len(running) < parallel and now < deadline:
                job = pending.pop(0)
                running.append(
                    (subprocess.Popen(job, env=env, stdout=subprocess.DEVNULL, stderr=stderr), job)
                )
            if pending and now >= deadline:
                log(f"deadline: {len(pending)} jobs not started")
                pending = []
            for proc, job in list(running):
                if proc.poll() is not None:
                    running.remove((proc, job))
                    log(f"done rc={proc.returncode}: {' '.join(job[2:4])} {' '.join(job[9:])}")
                elif now > deadline + grace:
                    proc.kill()
                    running.remove((proc, job))
                    log(f"killed: {' '.join(job[2:4])} {' '.join(job[9:])}")
            time.sleep(1.0)


def start_jobs(args, jobs: list[list[str]], parallel: int, name: str) -> subprocess.Popen:
    """:func:`run_jobs` in a child process (no threads in this one: it forks trainers)."""
    path = Path(f"/tmp/exp_jobs_{name}.json")
    path.write_text(json.dumps(jobs))
    deadline = time.time() - (time.perf_counter() - T0) + args.total_s
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--run-jobs",
            str(path),
            "--parallel",
            str(parallel),
            "--deadline-epoch",
            str(deadline),
            "--grace",
            str(args.grace),
            "--out",
            str(args.out),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/dev")))
    parser.add_argument("--data", type=Path, default=ROOT / ".devdata" / "real")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--train-s", type=float, default=210.0)
    parser.add_argument(
        "--long-s", type=float, default=None, help="also train every variant this long"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed of the variants")
    parser.add_argument(
        "--average-from",
        type=float,
        default=0.5,
        help="also write each variant's weight average from this fraction of the run on "
        "(the recipe: 0.5; -1: none)",
    )
    parser.add_argument("--per-shape", type=int, default=24)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sim-processes", type=int, default=16)
    parser.add_argument("--steps256", default="240")
    parser.add_argument("--steps128", default="520")
    parser.add_argument("--steps-wide", default="360")
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--early-parallel", type=int, default=5, help="jobs during pretraining")
    parser.add_argument("--total-s", type=float, default=450.0, help="start no job after this")
    parser.add_argument("--grace", type=float, default=120.0)
    parser.add_argument("--skip", nargs="*", default=[], help="phases to skip: pretrain timing exp")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--run-jobs", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--deadline-epoch", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_jobs is not None:
        run_jobs(
            json.loads(args.run_jobs.read_text()),
            args.parallel,
            args.deadline_epoch,
            args.grace,
            args.out / "errors.txt",
        )
        return 0
    if args.tiny:
        args.train_s, args.per_shape, args.batch, args.crop = 8.0, 1, 4, 96
        args.steps256 = args.steps128 = args.steps_wide = "5"
        args.sim_processes, args.parallel, args.early_parallel = 2, 2, 1
    args.out.mkdir(parents=True, exist_ok=True)
    models_dir = Path("/tmp/exp_models")
    models_dir.mkdir(parents=True, exist_ok=True)
    args.results = args.out / "results.jsonl"
    args.errors = args.out / "errors.txt"
    summary = {"argv": sys.argv[1:], "torch": torch.__version__, "cpus": os.cpu_count()}
    log(f"start {summary}")
    fresh_jobs, general_jobs = experiment_jobs(args, models_dir)
    if args.tiny:
        fresh_jobs, general_jobs = fresh_jobs[:1], general_jobs[:: max(1, len(general_jobs) // 3)]
    early = (
        start_jobs(args, fresh_jobs, args.early_parallel, "fresh")
        if "exp" not in args.skip
        else None
    )
    if "pretrain" not in args.skip:
        summary["pretrain"] = phase_pretrain(args, models_dir)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    if "timing" not in args.skip:
        try:
            summary["timing"] = phase_timing(args, models_dir)
        except Exception:
            log(f"timing FAILED\n{traceback.format_exc()}")
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    if "exp" not in args.skip:
        late = start_jobs(args, general_jobs, args.parallel, "general")
        late.wait()
        early.wait()
    summary["wall_s"] = round(time.perf_counter() - T0, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    log("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
