"""Peak memory of picking or training on one large micrograph (docs/reliability.md).

Usage (one torch thread, a noise micrograph of SIDE x SIDE pixels made once)::

    OMP_NUM_THREADS=1 /usr/bin/time -v python benchmarks/bench_memory.py pick 10
    OMP_NUM_THREADS=1 /usr/bin/time -v python benchmarks/bench_memory.py train 10 --steps 20
    OMP_NUM_THREADS=1 /usr/bin/time -v python benchmarks/bench_memory.py train-files 56 \
        --count 3 --steps 5

``train-files DIAMETER`` runs ``cryopick train`` (the whole command: reading,
the diameter check from the clicks, preparation, training) on ``--count``
noise micrographs of SIDE x SIDE pixels with 30 CSV clicks each (no diameter
column, so the clicks' estimate reads the images).

``pick DIAMETER`` picks with the bundled model (target diameter 20 px);
``train DIAMETER`` prepares the micrograph for a new detector (target 28 px)
and trains a few steps. The script prints the Python-level peak (tracemalloc,
which numpy reports to) and the process's resident memory split into
anonymous memory and file-backed pages (shared libraries, memory-mapped
caches: the system can reclaim those); ``/usr/bin/time -v`` gives the
maximum resident set size.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS", "RssAnon", "RssFile")):
                key, value = line.split(":")
                values[key] = int(value.split()[0]) // 1024
    return values


def main(argv: list[str] | None = None) -> int:
    import torch

    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("pick", "train", "train-files"))
    parser.add_argument("diameter", type=float, help="particle diameter in pixels")
    parser.add_argument("--side", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--count", type=int, default=3, help="micrographs (train-files)")
    parser.add_argument("--micrograph", type=Path, default=Path("benchmarks/_work/noise.mrc"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    paths = []
    for index in range(args.count if args.mode == "train-files" else 1):
        suffix = f"_{index}" if index else ""
        path = args.micrograph.with_name(f"{args.micrograph.stem}_{args.side}{suffix}.mrc")
        paths.append(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(index)
            noise = rng.normal(size=(args.side, args.side)).astype(np.float32)
            write_mrc(path, noise, 1.0)
            del noise
    path = paths[0]

    peak = {"MiB": 0, "phase": ""}
    phase = ["start"]

    def sample() -> None:
        while True:
            rss = _status().get("VmRSS", 0)
            if rss > peak["MiB"]:
                peak.update(MiB=rss, phase=phase[0])
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    tracemalloc.start()
    start = time.perf_counter()
    if args.mode == "pick":
        from napari_cryopick.core.detect import PickConfig, pick_micrograph
        from napari_cryopick.core.model import bundled_model_path, load_checkpoint

        model, _ = load_checkpoint(bundled_model_path())
        phase[0] = "read"
        micrograph = read_micrograph(path)
        phase[0] = "pick"
        result = pick_micrograph(
            model, micrograph.data, diameter_px=args.diameter, config=PickConfig(device="cpu")
        )
        print(
            f"picked {len(result.selected)} (prepared {result.prepared_shape}) "
            f"in {time.perf_counter() - start:.1f} s"
        )
    elif args.mode == "train-files":
        from napari_cryopick.cli import main as cryopick

        rng = np.random.default_rng(0)
        pick_paths = []
        for mic in paths:
            xy = rng.uniform(20, args.side - 20, (30, 2))
            pick_path = mic.with_name(f"{mic.stem}_clicks.csv")
            pick_path.write_text("x,y\n" + "".join(f"{x:.1f},{y:.1f}\n" for x, y in xy))
            pick_paths.append(pick_path)
        phase[0] = "train"
        out = path.with_name("bench_memory_model.pt")
        code = cryopick(
            ["train", "--micrographs", *map(str, paths), "--picks", *map(str, pick_paths),
             "--diameter", str(args.diameter), "--steps", str(args.steps), "--batch-size", "4",
             "--time-limit", "0", "--device", "cpu", "--out", str(out)]
        )  # fmt: skip
        print(f"cryopick train exit {code} in {time.perf_counter() - start:.1f} s")
    else:
        from napari_cryopick.core.model.config import DetectorConfig
        from napari_cryopick.core.pick_table import make_picks
        from napari_cryopick.core.progress import drive
        from napari_cryopick.core.training import TrainConfig, build_examples, train_detector

        rng = np.random.default_rng(0)
        side = args.side
        picks = make_picks(
            rng.uniform(20, side - 20, 30), rng.uniform(20, side - 20, 30), diameter=args.diameter
        )
        phase[0] = "prepare"
        examples = build_examples([path], [picks], args.diameter, DetectorConfig(), names=["m"])
        print(
            f"prepared {examples[0].prepared.image.shape} "
            f"({type(examples[0].prepared.image).__name__}) in {time.perf_counter() - start:.1f} s;"
            f" now {_status()} MiB"
        )
        phase[0] = "train"
        config = TrainConfig(steps=args.steps, batch_size=4, device="cpu")
        drive(train_detector(examples, config=DetectorConfig(), train_config=config))
        print(f"trained {args.steps} steps in {time.perf_counter() - start:.1f} s")
    print(f"tracemalloc peak {tracemalloc.get_traced_memory()[1] / 2**20:.0f} MiB")
    print(f"resident now {_status()} MiB; sampled peak {peak['MiB']} MiB during {peak['phase']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
