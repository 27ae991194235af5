"""What the check against replacing files no run wrote costs a batch run.

Before picking, a run into a folder reads every manifest record there and, for
each output name it will write that already exists, compares its size and a
short SHA-256 digest with the record (``workflows.batch.unrecorded_outputs``);
after writing, each micrograph's record keeps the digests of its files.

This probe builds a folder as a finished run of N micrographs leaves it (one
STAR file of ``--picks`` picks each, every one recorded in the manifest with
its size and digest), then times:

* the check a run into that folder makes before picking (every file exists);
* the digest of one pick file (the per-micrograph cost added to a record).

Run::

    .venv/bin/python benchmarks/probe_output_check.py --n 10000 --picks 300

Prints one line per measurement (the median of ``--repeats`` runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def build(folder: Path, n: int, picks: int) -> list[Path]:
    """A folder as a finished run of ``n`` micrographs leaves it (STAR files + manifest)."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.batch import _output_digest

    rng = np.random.default_rng(0)
    table = make_picks(rng.uniform(0, 4096, picks), rng.uniform(0, 4096, picks),
                       score=rng.uniform(0, 1, picks), diameter=150.0)  # fmt: skip
    lines = []
    paths = []
    for index in range(n):
        path = write_picks(table, folder / f"mic_{index:06d}.star", "star",
                           micrograph_names=False)  # fmt: skip
        paths.append(path)
        lines.append(json.dumps({
            "input": f"/data/mic_{index:06d}.mrc", "status": "done",
            "outputs": [path.name], "sizes": [path.stat().st_size],
            "digests": [_output_digest(path)], "finished": time.time(), "fingerprint": "x",
        }))  # fmt: skip
    (folder / "cryopick_manifest.jsonl").write_text("\n".join(lines) + "\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="micrographs of the earlier run")
    parser.add_argument("--picks", type=int, default=300, help="picks per micrograph")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from napari_cryopick.workflows.batch import _output_digest, foreign_files

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = build(folder, args.n, args.picks)
        size = paths[0].stat().st_size
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            found = foreign_files(folder, paths)
            times.append(time.perf_counter() - start)
            assert found == []
        check = statistics.median(times)
        digests = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for path in paths[:1000]:
                _output_digest(path)
            digests.append((time.perf_counter() - start) / min(1000, len(paths)))
        digest = statistics.median(digests)
    print(f"check before picking, {args.n} earlier outputs of {size} bytes: {check:.2f} s "
          f"({1e3 * check / args.n:.3f} ms per file)")  # fmt: skip
    print(f"digest of one pick file ({size} bytes): {1e3 * digest:.3f} ms")


if __name__ == "__main__":
    main()
