"""Picking speed and memory of the detector on this machine.

Measures (issue 3 targets: at most 1 s per 1024x1024 micrograph including
reading and preprocessing; at most 2 GB peak memory for a 4096x4096 one):

* seconds per 1024x1024 micrograph, averaged over several micrographs,
  timed from the file name to the pick table (``read_micrograph`` +
  ``pick_micrograph``: rescaling, normalisation, network on tiles, peak
  finding), for the real ribosome micrographs (diameter 56 px, rescaled to
  the detector's target diameter) and for particles of 20 px (upsampled to
  the target: the network runs on more than 1024x1024, the slowest case);
* peak resident memory (``ru_maxrss``) of a fresh process that imports the
  package, reads a 4096x4096 / 8192x8192 float32 MRC and picks it, for a
  large particle (108 px, beta-galactosidase) and for 20 px particles (the
  largest network input); also the baseline of a process that
  only imports and loads the model.

Run::

    .venv/bin/python benchmarks/bench_speed.py [--model MODEL.pt]

Without ``--model`` a detector is trained for a few steps on one ribosome
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
DATA = Path(os.environ.get("CRYOPICK_REAL_DATA", "/work/shared/data/real"))

# Run in a child process: read + pick one micrograph, print the peak RSS.
_CHILD = r"""
import resource, sys, time, json
import torch
torch.set_num_threads(int(sys.argv[4]))
from napari_cryopick.io.micrographs import read_micrograph
from napari_cryopick.core.model import load_checkpoint
from napari_cryopick.core.detect import PickConfig, pick_micrograph
model, _ = load_checkpoint(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
n = -1
if sys.argv[2] != "-":
    image = read_micrograph(sys.argv[2]).data
    result = pick_micrograph(model, image, diameter_px=float(sys.argv[3]), config=PickConfig(device="cpu"))
    n = len(result.selected)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": peak / 1024, "after_load_mb": base / 1024, "seconds": seconds, "picks": n}))
"""


def _quick_model(path: Path, threads: int) -> str:
    """Train briefly on one ribosome micrograph (realistic heatmap peaks) and save it."""
    from napari_cryopick.core.model import DetectorConfig, save_checkpoint
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.core.progress import drive
    from napari_cryopick.core.training import TrainConfig, build_examples, train_detector
    from napari_cryopick.io.micrographs import read_micrograph

    folder = DATA / "empiar10028_ribosome"
    name = sorted(p.stem for p in (folder / "micrographs").iterdir())[0]
    image = read_micrograph(next((folder / "micrographs").glob(name + ".*"))).data
    table = pd.read_csv(folder / "picks" / f"{name}.csv")
    picks = make_picks(table["x"], table["y"], diameter=table["diameter"], micrograph=name)
    config = DetectorConfig()
    examples = build_examples([image], [picks], 56.0, config, names=[name])
    train_config = TrainConfig(steps=60, batch_size=4, crop_size=128, device="cpu", seed=0)
    model = drive(train_detector(examples, config=config, train_config=train_config)).model
    save_checkpoint(path, model, metadata={"note": "bench_speed quick model"})
    return f"60 steps on {name} (ribosome)"


def time_1024(
    model, paths: list[Path], diameter: float, repeats: int = 1, rotations: bool = False
) -> dict:
    """Seconds per micrograph from file to pick table (after one warm-up)."""
    from napari_cryopick.core.detect import PickConfig, pick_micrograph
    from napari_cryopick.io.micrographs import read_micrograph

    config = PickConfig(device="cpu", rotations=rotations)
    read = read_micrograph(paths[0]).data
    pick_micrograph(model, read, diameter_px=diameter, config=config)  # warm-up
    seconds = []
    for _ in range(repeats):
        for path in paths:
            t0 = time.perf_counter()
            image = read_micrograph(path).data
            pick_micrograph(model, image, diameter_px=diameter, config=config)
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
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.io.micrographs import write_mrc

    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model is None:
            model_path = tmp / "quick.pt"
            model_note = _quick_model(model_path, args.threads)
        else:
            model_path, model_note = args.model, str(args.model)
        model, _ = load_checkpoint(model_path)
        ribosome = sorted((DATA / "empiar10028_ribosome" / "micrographs").iterdir())
        ribosome = ribosome[: args.micrographs]
        timing = [
            time_1024(model, ribosome, 56.0),
            time_1024(model, ribosome, 56.0, rotations=True),
            time_1024(model, ribosome, 20.0),
            time_1024(model, ribosome, 20.0, rotations=True),
        ]
        for entry in timing:
            print(
                f"1024x1024, diameter {entry['diameter_px']:.0f} px, rotations "
                f"{entry['rotations']}: {entry['mean_s']:.3f} s/mic"
            )

        memory = [
            {"size": 0, "diameter_px": None, **peak_memory(model_path, "-", 1.0, args.threads)}
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
        "Reading (`read_micrograph`), rescaling + normalisation, network on tiles, peak "
        "finding (`pick_micrograph`, default `PickConfig`, with and without DeepEM rotation "
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
        "A fresh process imports the package, loads the model, reads a float32 MRC of "
        "Gaussian noise and picks it; `ru_maxrss` of that process.",
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
