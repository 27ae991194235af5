"""Peak memory of picking or training on one large micrograph (docs/reliability.md).

Usage (one torch thread, a noise micrograph of SIDE x SIDE pixels made once)::

    OMP_NUM_THREADS=1 /usr/bin/time -v python benchmarks/bench_memory.py pick 10
    OMP_NUM_THREADS=1 /usr/bin/time -v python benchmarks/bench_memory.py train 10 --steps 20

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
    parser.add_argument("mode", choices=("pick", "train"))
    parser.add_argument("diameter", type=float, help="particle diameter in pixels")
    parser.add_argument("--side", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--micrograph", type=Path, default=Path("benchmarks/_work/noise.mrc"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    path = args.micrograph.with_name(f"{args.micrograph.stem}_{args.side}.mrc")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = np.random.default_rng(0).normal(size=(args.side, args.side)).astype(np.float32)
        write_mrc(path, noise, 1.0)
        del noise

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
