"""Atomic writes into one folder as it fills: does a write cost more as the folder grows?

``io.atomic`` removes leftovers of killed processes from the destination
folder; it lists the folder only when the folder changed since the process
last looked. This writes N small pick files into one new folder with
:func:`napari_cryopick.io.atomic.atomic_write_bytes` and reports the mean
milliseconds per write in each quarter. ``fsync`` is left out (``--no-fsync``,
the default) so that the disk's flush latency does not hide the listing.

    .venv/bin/python benchmarks/bench_atomic_writes.py --n 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import napari_cryopick.io.atomic as atomic

HERE = Path(__file__).resolve().parent


def run(n: int, fsync: bool) -> list[float]:
    if not fsync:
        atomic._fsync = lambda path: None  # the listing, not the disk
    quarter = n // 4
    per_write = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as folder:
        last = time.perf_counter()
        for i in range(n):
            atomic.atomic_write_bytes(Path(folder) / f"mic_{i:06d}.star", b"data_particles\n")
            if (i + 1) % quarter == 0:
                now = time.perf_counter()
                per_write.append(1e3 * (now - last) / quarter)
                last = now
    return per_write


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    quarters = run(args.n, args.fsync)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "n": args.n,
        "fsync": args.fsync,
        "ms_per_write_by_quarter": [round(q, 3) for q in quarters],
        "load": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    (args.results / "atomic_writes.json").write_text(json.dumps(record, indent=1))
    lines = [
        "# Atomic writes into one growing folder",
        "",
        f"Date: {record['date']}. Machine: {record['machine']}; load average "
        f"{record['load'][0]} at start, {record['load'][1]} at end.",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_atomic_writes.py --n {args.n}"
        + (" --fsync" if args.fsync else "")
        + "`",
        "",
        f"{args.n} pick files written one after another into one new folder with "
        "`io.atomic.atomic_write_bytes` (fsync "
        + ("on" if args.fsync else "left out, so the listing is what is measured")
        + "); mean milliseconds per write in each quarter of the run:",
        "",
        "| quarter | 1 | 2 | 3 | 4 |",
        "| --- | --- | --- | --- | --- |",
        "| ms per write | " + " | ".join(f"{q:.2f}" for q in quarters) + " |",
        "",
    ]
    (args.results / "atomic_writes.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
