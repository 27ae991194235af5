"""Picking speed and memory of the detector on this machine.

Measures (issue 3 targets: at most 1 s per 1024x1024 micrograph including
reading and preprocessing; at most 2 GB peak memory for a 4096x4096 one):

* seconds per 1024x1024 micrograph, averaged over several micrographs,
  timed from the file name to the pick table through the pick workflow
  (``workflows.pick.pick_one``: reading, rescaling, normalisation, network
  on tiles, peak finding, thresholding; the request prepared once), for the real ribosome micrographs (diameter 56 px, rescaled to
  the detector's target diameter) and for particles of 20 px (upsampled to
  the target: the network runs on more than 1024x1024, the slowest case);
* peak resident memory (``ru_maxrss``) of a fresh process that imports the
  package, reads a 4096x4096 / 8192x8192 float32 MRC and picks it, for a
  large particle (108 px, beta-galactosidase) and for 20 px particles (the
  largest network input); also the baseline of a process that
  only imports and loads the model.

Run::

    .venv/bin/python benchmarks/bench_speed.py [--model MODEL.pt]

``--smoke`` is a quick end-to-end check (results in ``benchmarks/_work/smoke/``).
Without ``--model`` a detector is trained (training workflow, from scratch)
for a few steps on one ribosome
micrograph so that the heatmap has realistic peaks (an untrained heatmap
yields thousands of candidates and times the peak finder, not the picker).
Results: ``benchmarks/results/speed.md`` and ``speed.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from napari_cryopick.core.model.config import DetectorConfig

# the default model's scale normalisation (the benchmark trains a default model)
TARGET_DIAMETER_PX = DetectorConfig().target_diameter_px

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(
    os.environ.get(
        "CRYOPICK_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    )
)

# Run in a child process: read + pick one micrograph, print the peak RSS.
_CHILD = r"""
import resource, sys, time, json
import torch
torch.set_num_threads(int(sys.argv[4]))
from napari_cryopick.workflows.pick import PickRequest, pick_one, prepare
micrographs = [sys.argv[2]] if sys.argv[2] != "-" else []
prepared = prepare(PickRequest(micrographs, model=sys.argv[1], diameter_px=float(sys.argv[3]), device="cpu"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
n = -1
if micrographs:
    n = len(pick_one(prepared, micrographs[0]).picks)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": peak / 1024, "after_load_mb": base / 1024, "seconds": seconds, "picks": n}))
"""


def _quick_model(path: Path, steps: int = 60) -> str:
    """Train briefly on one ribosome micrograph (realistic heatmap peaks) and save it.

    Through the training workflow, a fresh model from scratch (``mode="new"``,
    ``pretrained=False``), ``steps`` steps (60), batch 4, crops of 128 px.
    """
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.core.progress import drive
    from napari_cryopick.workflows.train import TrainingSet, TrainRequest, train

    folder = DATA / "empiar10028_ribosome"
    name = sorted(p.stem for p in (folder / "micrographs").iterdir())[0]
    table = pd.read_csv(folder / "picks" / f"{name}.csv")
    picks = make_picks(table["x"], table["y"], diameter=table["diameter"], micrograph=name)
    request = TrainRequest(
        datasets=[
            TrainingSet(
                name="ribosome",
                micrographs=[next((folder / "micrographs").glob(name + ".*"))],
                picks=[picks],
                diameter_px=56.0,
            )
        ],
        out=path,
        mode="new",
        train_options={"steps": steps, "batch_size": 4, "crop_size": 128, "seed": 0},
        continual_options={"pretrained": False},
        device="cpu",
        run_info={"note": "bench_speed quick model"},
    )
    drive(train(request))
    return f"{steps} steps on {name} (ribosome)"


def time_1024(
    model_path: Path, paths: list[Path], diameter: float, repeats: int = 1, rotations: bool = False
) -> dict:
    """Seconds per micrograph from file to pick table (after one warm-up).

    Through the pick workflow: the request is prepared once (model loaded),
    then :func:`~napari_cryopick.workflows.pick.pick_one` reads and picks
    each file (what ``pick()`` does per micrograph, without writing files).
    """
    from napari_cryopick.workflows.pick import PickRequest, pick_one, prepare

    request = PickRequest(
        paths,
        model=model_path,
        diameter_px=diameter,
        options={"rotations": rotations},
        device="cpu",
    )
    prepared = prepare(request)
    pick_one(prepared, paths[0])  # warm-up
    seconds = []
    for _ in range(repeats):
        for path in paths:
            t0 = time.perf_counter()
            pick_one(prepared, path)
            seconds.append(time.perf_counter() - t0)
    return {
        "diameter_px": diameter,
        "rotations": rotations,
        "micrographs": len(paths),
        "mean_s": float(np.mean(seconds)),
        "median_s": float(np.median(seconds)),
        "max_s": float(np.max(seconds)),
    }


def peak_memory(model_path: Path, image_path: str, diameter: float, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_path), image_path, str(diameter), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint (default: quick model)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--micrographs", type=int, default=6, help="1024x1024 micrographs timed")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed")
    parser.add_argument(
        "--quick-steps", type=int, default=60, help="training steps of the quick model"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="end-to-end check only: 2-step quick model, one micrograph, one 1024x1024 memory "
        "run, results in benchmarks/_work/smoke/ (unless --out)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.quick_steps, args.micrographs, args.sizes = 2, 1, [1024]
        if args.out == parser.get_default("out"):
            args.out = ROOT / "benchmarks" / "_work" / "smoke" / "speed"
    torch.set_num_threads(args.threads)

    from napari_cryopick.io.micrographs import write_mrc

    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model is None:
            model_path = tmp / "quick.pt"
            model_note = _quick_model(model_path, args.quick_steps)
        else:
            model_path, model_note = args.model, str(args.model)
        ribosome = sorted((DATA / "empiar10028_ribosome" / "micrographs").iterdir())
        ribosome = ribosome[: args.micrographs]
        timing = [
            time_1024(model_path, ribosome, 56.0),
            time_1024(model_path, ribosome, 56.0, rotations=True),
            time_1024(model_path, ribosome, 20.0),
            time_1024(model_path, ribosome, 20.0, rotations=True),
        ]
        for entry in timing:
            print(
                f"1024x1024, diameter {entry['diameter_px']:.0f} px, rotations "
                f"{entry['rotations']}: {entry['mean_s']:.3f} s/mic"
            )

        memory = [
            {
                "size": 0,
                "diameter_px": None,
                **peak_memory(model_path, "-", TARGET_DIAMETER_PX, args.threads),
            }
        ]
        rng = np.random.default_rng(0)
        for size in args.sizes:
            path = tmp / f"noise_{size}.mrc"
            image = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
            write_mrc(path, image)
            del image
            for diameter in (108.0, 20.0):
                entry = {"size": size, "diameter_px": diameter}
                entry.update(peak_memory(model_path, str(path), diameter, args.threads))
                memory.append(entry)
                print(
                    f"{size}x{size}, diameter {diameter:.0f} px: peak {entry['peak_mb']:.0f} MB, "
                    f"{entry['seconds']:.1f} s"
                )
            path.unlink()

    from bench_detector import machine_info  # same folder

    results = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/bench_speed.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "threads": args.threads,
        "load_start": load_start,
        "load_end": round(os.getloadavg()[0], 2),
        "model": model_note,
        "pick_1024": timing,
        "peak_memory": memory,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    write_markdown(results, args.out.with_suffix(".md"))
    return 0


def write_markdown(results: dict, path: Path) -> None:
    m = results["machine"]
    lines = [
        "# Picking speed and memory",
        "",
        f"Date: {results['date']}. Machine: {m['cpu']}, {m['cores']} cores, no GPU; torch "
        f"{m['torch']} with {results['threads']} threads. Load average (1 min): "
        f"{results['load_start']} at start, {results['load_end']} at end (the 2 cores are "
        "shared with other engineers' jobs, so times are upper bounds).",
        "",
        f"Command: `{results['command']}`. Model: {results['model']} (default DetectorConfig; "
        "speed does not depend on the weights beyond the number of candidates).",
        "",
        "## 1024x1024 micrograph, file to pick table (target <= 1 s)",
        "",
        "The pick workflow per micrograph (`workflows.pick.pick_one`: reading, rescaling + "
        "normalisation, network on tiles, peak finding; default `PickConfig`, with and "
        "without DeepEM rotation "
        "averaging (4 network passes; used by the detector benchmark)); mean over the first "
        "real ribosome micrographs after one warm-up.",
        "",
        "| particle diameter | prepared size | rotations | micrographs | mean s | median s "
        "| max s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in results["pick_1024"]:
        prepared = round(1024 * TARGET_DIAMETER_PX / t["diameter_px"])
        lines.append(
            f"| {t['diameter_px']:.0f} px | {prepared}x{prepared} | {t['rotations']} | "
            f"{t['micrographs']} | "
            f"{t['mean_s']:.3f} | {t['median_s']:.3f} | {t['max_s']:.3f} |"
        )
    lines += [
        "",
        "## Peak memory of a picking process (target <= 2 GB for 4096x4096)",
        "",
        "A fresh process imports the package, prepares a pick request (loads the model), "
        "reads a float32 MRC of Gaussian noise and picks it (`workflows.pick.pick_one`); "
        "`ru_maxrss` of that process.",
        "",
        "| micrograph | particle diameter | prepared size | peak RSS MB | seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in results["peak_memory"]:
        if e["size"] == 0:
            lines.append(f"| none (import + model) | - | - | {e['peak_mb']:.0f} | - |")
            continue
        prepared = round(e["size"] * TARGET_DIAMETER_PX / e["diameter_px"])
        lines.append(
            f"| {e['size']}x{e['size']} | {e['diameter_px']:.0f} px | {prepared}x{prepared} | "
            f"{e['peak_mb']:.0f} | {e['seconds']:.1f} |"
        )
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
