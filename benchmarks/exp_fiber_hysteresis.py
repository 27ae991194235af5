"""Fiber tracing with hysteresis against tracing at the threshold, over thresholds.

A napari trial counted 12 fibers at threshold 0.15 and 18 at 0.6: above the
default threshold, the detections along a fiber fade below it in places and the
fiber breaks into pieces. ``trace_fiber_candidates`` now links candidates down to
the default threshold and keeps each path between its vertices at the threshold
(hysteresis). This script picks the held-out micrographs of ``bench_fibers.py``
once with a saved fiber model and traces their candidates both ways at each
threshold, scored by ``fiber_metrics``.

Run (a model from ``bench_fibers.py --save-model``)::

    .venv/bin/python benchmarks/exp_fiber_hysteresis.py --model /tmp/fib/model.pt \\
        --thresholds 0.15 0.3 0.45 0.6 --out benchmarks/results/exp_fiber_hysteresis.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fibers import SNRS, WIDTH_PX, _crossing, _pick_fibers, _simulate
from napari_cryopick.core.fibers import fiber_metrics
from napari_cryopick.core.model import load_checkpoint
from napari_cryopick.core.object_kinds import trace_fiber_candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.15, 0.3, 0.45, 0.6])
    parser.add_argument("--test-per-case", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, _ = load_checkpoint(args.model)
    floor = min(args.thresholds)
    totals: dict = {}
    for snr in sorted(SNRS, reverse=True):
        for _case, make in (
            ("straight", lambda s, snr=snr: _simulate(3, 0.0, snr, s)),
            ("curved", lambda s, snr=snr: _simulate(3, 1.0, snr, s)),
            ("crossing", lambda s, snr=snr: _crossing(snr, s)),
        ):
            for k in range(args.test_per_case):
                micrograph = make(5000 + 17 * k + int(snr * 10))
                fibers = _pick_fibers(model, micrograph.image, floor, 30.0)
                for threshold in args.thresholds:
                    for way, link in (("at threshold", threshold), ("hysteresis", None)):
                        paths, _ = trace_fiber_candidates(
                            fibers.candidates,
                            threshold=threshold,
                            link_radius_px=fibers.link_radius_px,
                            max_angle_deg=30.0,
                            diameter_px=WIDTH_PX,
                            link_threshold=link,
                        )
                        m = fiber_metrics(paths, micrograph.fibers, tolerance_px=WIDTH_PX / 2)
                        key = (threshold, way)
                        t = totals.setdefault(key, dict.fromkeys(
                            ("n_true", "n_recovered", "n_traced", "n_false"), 0))  # fmt: skip
                        for field in t:
                            t[field] += m[field]
    rows = []
    print(
        "| threshold | tracing | true fibers | recovered as one path | traced paths | false paths |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for (threshold, way), t in totals.items():
        rows.append({"threshold": threshold, "tracing": way, **t})
        print(f"| {threshold:g} | {way} | {t['n_true']} | {t['n_recovered']} | "
              f"{t['n_traced']} | {t['n_false']} |")  # fmt: skip
    if args.out is not None:
        document = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "model": str(args.model),
            "command": " ".join(sys.argv),
            "rows": rows,
        }
        args.out.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
