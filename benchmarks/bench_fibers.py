"""Fiber benchmark: train on drawn paths, pick held-out synthetic micrographs, trace, score.

Training uses only the public API: synthetic micrographs
(:func:`napari_cryopick.core.simulate.simulate_micrograph`) whose true centre lines
play the part of drawn paths; :func:`napari_cryopick.core.object_kinds.fiber_training_picks`
turns them into points along the fibers; the training workflow
(:func:`napari_cryopick.workflows.train.train`, as ``cryopick train``) trains a
fiber-only detector. Held-out micrographs (straight, curved and crossing fibers
at several SNRs) are picked with the pick workflow's fiber strategy
(:func:`napari_cryopick.workflows.pick.pick`, which runs
:func:`napari_cryopick.core.object_kinds.pick_fibers`) and compared with the true centre
lines by :func:`napari_cryopick.core.fibers.fiber_metrics`.

By default it measures what users get: the training workflow's default
options and time budget (``cryopick train`` with no options), and picking at
the model's own threshold (the one training calibrated, as ``cryopick pick``
uses). ``--steps``, ``--crop-size`` and ``--threshold`` override them for
experiments.

Run (about 6-8 minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/bench_fibers.py --out benchmarks/results/fibers

Writes ``fibers.json`` and ``fibers.md`` (``--out`` without suffix).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from napari_cryopick.core.fibers import fiber_metrics
from napari_cryopick.core.model import load_checkpoint
from napari_cryopick.core.object_kinds import (
    fiber_training_picks,
    trace_fiber_candidates,
)
from napari_cryopick.core.progress import drive
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
from napari_cryopick.io.micrographs import Micrograph
from napari_cryopick.workflows.pick import FiberOptions, PickRequest, pick
from napari_cryopick.workflows.train import TrainingSet, TrainRequest, train

WIDTH_PX = 24.0
SHAPE = (512, 512)
#: training and held-out SNRs; 0.1 is `cryopick simulate`'s default
SNRS = (0.1, 0.3, 1.0, 3.0)


def _simulate(n_fibers: int, curvature: float, snr: float, seed: int, n_particles: int = 0):
    config = SimulationConfig(
        shape=SHAPE,
        n_particles=n_particles,
        diameter_px=40.0,
        n_fibers=n_fibers,
        fiber_width_px=WIDTH_PX,
        fiber_curvature=curvature,
        snr=snr,
    )
    return simulate_micrograph(config, seed=seed)


def _crossing(snr: float, seed: int):
    """Two straight fibers forced to cross near the centre (re-drawn until they do)."""
    for attempt in range(200):
        micrograph = _simulate(2, 0.0, snr, seed * 1000 + attempt)
        if len(micrograph.fibers) < 2:
            continue
        a, b = micrograph.fibers[:2]
        distance = np.min(np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1)))
        angle = _angle(a, b)
        inside = np.all(np.abs(a[len(a) // 2] - np.array(SHAPE[::-1]) / 2) < SHAPE[0] * 0.35)
        if distance < 1.0 and angle > 30.0 and inside:
            return micrograph
    raise RuntimeError("no crossing pair found")


def _pick_fibers(model, image, threshold: float, max_angle_deg: float):
    """Fibers of one micrograph through the pick workflow (its fiber strategy)."""
    request = PickRequest(
        micrographs=[Micrograph(np.asarray(image, np.float32), name="fibers")],
        model=model,
        kinds=("fiber",),
        diameter_px=WIDTH_PX,
        threshold=threshold,
        options={"tile_size": 512, "overlap": 64},
        fibers=FiberOptions(max_angle_deg=max_angle_deg),
    )
    (event,) = list(_events(pick(request)))
    if event.item is None:
        raise RuntimeError(event.error)
    return event.item.result  # FiberPickResult: paths, candidates, link radius


def _events(job):
    try:
        while True:
            yield next(job)
    except StopIteration:
        return


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    da, db = a[-1] - a[0], b[-1] - b[0]
    cosine = abs(da @ db) / (np.hypot(*da) * np.hypot(*db))
    return float(np.degrees(np.arccos(min(1.0, cosine))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fibers"))
    parser.add_argument(
        "--steps", type=int, default=None, help="fixed steps (default: the default time budget)"
    )
    parser.add_argument(
        "--crop-size", type=int, default=None, help="training crop (default: the default)"
    )
    parser.add_argument("--train-micrographs", type=int, default=8)
    parser.add_argument("--test-per-case", type=int, default=3)
    parser.add_argument(
        "--threshold", type=float, default=None, help="default: the model's own threshold"
    )
    parser.add_argument(
        "--max-angle", type=float, nargs="+", default=[30.0, 45.0], help="traced at each"
    )
    parser.add_argument("--save-model", type=Path, default=None, help="write the trained model")
    parser.add_argument("--load-model", type=Path, default=None, help="skip training")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.perf_counter()

    # --- training: paths drawn on micrographs of mixed curvature and SNR
    rng = np.random.default_rng(0)
    images, tables = [], []
    for index in range(args.train_micrographs):
        micrograph = _simulate(
            n_fibers=int(rng.integers(2, 5)),
            curvature=float(rng.choice([0.0, 0.5, 1.0])),
            snr=float(rng.choice(SNRS)),
            seed=100 + index,
            n_particles=20,  # distractors: particles are not fibers
        )
        images.append(micrograph.image)
        tables.append(fiber_training_picks(micrograph.fibers, WIDTH_PX / 2, diameter=WIDTH_PX))
    if args.load_model is not None:
        from napari_cryopick.core.model.card import ModelCard

        model, metadata = load_checkpoint(args.load_model)
        card = ModelCard.from_metadata(metadata)
    else:
        # the training workflow users run (cryopick train / the Train widget)
        options: dict = {"seed": 0, "log_interval": 50}
        if args.steps is not None:
            options["steps"] = args.steps
        if args.crop_size is not None:
            options["crop_size"] = args.crop_size
        request = TrainRequest(
            datasets=[TrainingSet("fibers", images, tables, WIDTH_PX)],
            mode="new",
            kinds=("fiber",),
            train_options=options,
            # the default time budget, or step-bounded when steps are given
            time_limit_s="auto" if args.steps is None else None,
            out=args.save_model,
        )
        result = drive(train(request))
        model, card = result.model, result.card
        loss = result.history[-1]["total"]
        print(f"trained {len(result.history)} logged steps in {time.perf_counter() - t0:.0f} s, "
              f"loss {loss:.3f}")  # fmt: skip
    t_train = time.perf_counter() - t0
    threshold = args.threshold
    if threshold is None:
        from napari_cryopick.core.detect import PickConfig
        from napari_cryopick.workflows.pick import model_threshold

        threshold = model_threshold(card)
        if threshold is None:
            threshold = PickConfig().threshold
    threshold_source = "given" if args.threshold is not None else "the model's own"
    print(f"threshold {threshold:.3f} ({threshold_source})")

    # --- held-out cases
    cases = []
    for snr in sorted(SNRS, reverse=True):
        cases.append(("straight", snr, lambda s, snr=snr: _simulate(3, 0.0, snr, s)))
        cases.append(("curved", snr, lambda s, snr=snr: _simulate(3, 1.0, snr, s)))
        cases.append(("crossing", snr, lambda s, snr=snr: _crossing(snr, s)))
    rows = []
    for name, snr, make in cases:
        per_angle = {
            angle: {"n_true": 0, "n_recovered": 0, "n_traced": 0, "n_false": 0, "d": []}
            for angle in args.max_angle
        }
        for k in range(args.test_per_case):
            micrograph = make(5000 + 17 * k + int(snr * 10))
            fibers = _pick_fibers(model, micrograph.image, threshold, args.max_angle[0])
            for angle, totals in per_angle.items():
                paths, _ = trace_fiber_candidates(
                    fibers.candidates,
                    threshold=threshold,
                    link_radius_px=fibers.link_radius_px,
                    max_angle_deg=angle,
                    diameter_px=WIDTH_PX,  # as the pick workflow traces them
                )
                metrics = fiber_metrics(paths, micrograph.fibers, tolerance_px=WIDTH_PX / 2)
                for key in ("n_true", "n_recovered", "n_traced", "n_false"):
                    totals[key] += metrics[key]
                if np.isfinite(metrics["mean_distance_px"]):
                    totals["d"].append((metrics["mean_distance_px"], metrics["n_traced"]))
        for angle, totals in per_angle.items():
            distances = totals.pop("d")
            weight = sum(n for _, n in distances)
            row = {
                "case": name,
                "snr": snr,
                "max_angle_deg": angle,
                "micrographs": args.test_per_case,
                **totals,
                "recovered_fraction": totals["n_recovered"] / max(totals["n_true"], 1),
                "mean_distance_px": (
                    float(sum(d * n for d, n in distances) / weight) if weight else float("nan")
                ),
                "false_paths_per_micrograph": totals["n_false"] / args.test_per_case,
            }
            rows.append(row)
            print(
                f"{name:9s} snr={snr:<4} angle={angle:g} recovered "
                f"{row['recovered_fraction']:.2f} ({totals['n_recovered']}/{totals['n_true']}), "
                f"distance {row['mean_distance_px']:.2f} px, "
                f"traced {totals['n_traced']}, false/mic {row['false_paths_per_micrograph']:.2f}"
            )
    elapsed = time.perf_counter() - t0
    command = "benchmarks/bench_fibers.py" + "".join(
        f" --{flag} {value}"
        for flag, value in (
            ("steps", args.steps),
            ("crop-size", args.crop_size),
            ("train-micrographs", args.train_micrographs),
            ("test-per-case", args.test_per_case),
            ("threshold", args.threshold),
            ("max-angle", " ".join(f"{a:g}" for a in args.max_angle)),
            ("load-model", args.load_model),
        )
        if value is not None
    )
    budget = "the default time budget and options" if args.steps is None else f"{args.steps} steps"
    trained = (
        f"{budget} ({t_train:.0f} s)"
        if args.load_model is None
        else f"model loaded from `{args.load_model}` (written by an earlier run of this script "
        "with the same settings and `--save-model`)"
    )
    report = {
        "command": command,
        "date": started,
        "machine": f"2-core CPU, no GPU ({platform.processor() or platform.machine()})",
        "torch": torch.__version__,
        "micrograph_shape": list(SHAPE),
        "fiber_width_px": WIDTH_PX,
        "tolerance_px": WIDTH_PX / 2,
        "link_radius_px": 100.0 * SHAPE[1] / 1024,
        "max_angle_deg": args.max_angle,
        "threshold": threshold,
        "threshold_source": threshold_source,
        "train_steps": args.steps,
        "train_seconds": round(t_train, 1),
        "total_seconds": round(elapsed, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Fiber benchmark (synthetic)",
        "",
        f"- Command: `.venv/bin/python {command}`",
        f"- Date: {started}; machine: 2-core CPU, no GPU; torch {torch.__version__}",
        f"- Training: {args.train_micrographs} synthetic {SHAPE[0]}x{SHAPE[1]} micrographs "
        f"(2-4 fibers of width {WIDTH_PX:g} px, curvature 0/0.5/1, SNR 0.1/0.3/1/3, 20 particles "
        f"as distractors); the true centre lines are the drawn paths, turned into points every "
        f"{WIDTH_PX / 2:g} px; {trained}.",
        f"- Picking: `pick_fibers` (points on the fiber heatmap's crest, 0.35 widths apart), "
        f"threshold {threshold:.3f} "
        f"({threshold_source}), link radius {100.0 * SHAPE[1] / 1024:g} px "
        f"(EPicker's 100 px at 1024 px), max angle "
        f"{' and '.join(f'{a:g}' for a in args.max_angle)} deg (EPicker's default: 30), "
        "5-point smoothing.",
        f"- Metrics (`fiber_metrics`, tolerance {WIDTH_PX / 2:g} px = half the width): a true "
        "fiber is recovered when one traced path covers >= 80% of it; distance = mean distance "
        "of traced points to the nearest true centre line; a false path has < 50% of its "
        "points within tolerance of any true line.",
        "",
        "| case | SNR | max angle | micrographs | true fibers | recovered as one path "
        "| recovered fraction | mean distance (px) | traced paths | false paths / micrograph |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['snr']:g} | {row['max_angle_deg']:g} "
            f"| {row['micrographs']} | {row['n_true']} "
            f"| {row['n_recovered']} | {row['recovered_fraction']:.2f} "
            f"| {row['mean_distance_px']:.2f} | {row['n_traced']} "
            f"| {row['false_paths_per_micrograph']:.2f} |"
        )
    lines += ["", f"Total run time {elapsed:.0f} s.", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
