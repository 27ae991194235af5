"""How well the click check tells clicks on particles from misplaced ones (real data).

For each real set (``$CRYOPICK_REAL_DATA`` or ``../shared/data/real``; ``sim_ring`` and
``sim_L``: ``benchmarks/_work/accuracy/sims``, written by ``bench_accuracy.py``), its first
``--micrographs`` micrographs by name are prepared as for training (particles at
the network's diameter), and for ``--draws`` random draws of clicks (a share of
each micrograph's labels, ``--shares``) :func:`napari_cryopick.core.click_check`
scores three cases:

* ``right``: every micrograph's own clicks;
* ``one swapped``: the first micrograph given the second one's clicks;
* ``all flipped``: every micrograph's clicks with y counted from the other edge;
* ``one flipped``: the first micrograph's clicks so, the others' right.

It prints, per set and share, the z-scores and how often the check warns (the
right clicks should never be named; the swapped micrograph, or all flipped
clicks, always), and writes JSON lines with ``--out``::

    .venv/bin/python benchmarks/exp_click_check.py --out benchmarks/results/exp_click_check.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from napari_cryopick.core.click_check import check_clicks, click_scores
from napari_cryopick.core.model import DetectorConfig
from napari_cryopick.core.model.inputs import prepare_micrograph
from napari_cryopick.io.micrographs import read_micrograph
from napari_cryopick.io.pickfiles import read_picks

SETS = ("empiar10146_apoferritin", "empiar10017_bgal", "empiar10028_ribosome")


def real_data() -> Path:
    found = os.environ.get("CRYOPICK_REAL_DATA")
    return Path(found) if found else Path(__file__).resolve().parents[2] / "shared/data/real"


def load(folder: Path, count: int) -> tuple[list, list, list, float]:
    info = json.loads((folder / "dataset.json").read_text())
    diameter = float(info["particle_diameter_px"])
    config = DetectorConfig()
    images, labels, names = [], [], []
    for path in sorted((folder / "micrographs").iterdir())[:count]:
        pick_file = next((folder / "picks").glob(f"{path.stem}.*"))
        table = read_picks(pick_file)
        prepared = prepare_micrograph(read_micrograph(path, quiet=True).data, diameter, config)
        xy = table[["x", "y"]].to_numpy(float) * [prepared.scale_x, prepared.scale_y]
        images.append(np.asarray(prepared.image))
        labels.append(xy)
        names.append(path.stem)
    return images, labels, names, config.target_diameter_px


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--micrographs", type=int, default=3)
    parser.add_argument("--shares", default="0.05,0.1,0.25")
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for name in args.sets.split(","):
        folder = real_data() / name
        if not folder.exists():  # the benchmark's simulated sets (bench_accuracy.py writes them)
            folder = Path(__file__).resolve().parent / "_work/accuracy/sims" / name
        images, labels, names, diameter = load(folder, args.micrographs)
        for share in map(float, args.shares.split(",")):
            for draw in range(args.draws):
                rng = np.random.default_rng(draw)
                clicks = [xy[rng.random(len(xy)) < share] for xy in labels]
                swapped = [clicks[1], *clicks[1:]]
                flipped = [
                    np.column_stack([xy[:, 0], image.shape[0] - 1 - xy[:, 1]])
                    for xy, image in zip(clicks, images, strict=True)
                ]
                for case, given in (
                    ("right", clicks),
                    ("one swapped", swapped),
                    ("all flipped", flipped),
                    ("one flipped", [flipped[0], *clicks[1:]]),
                ):
                    scores = click_scores(images, given, names, diameter, seed=draw)
                    notes = check_clicks(images, given, names, diameter, seed=draw)
                    rows.append(
                        {
                            "set": name,
                            "share": share,
                            "draw": draw,
                            "case": case,
                            "clicks": [len(c) for c in given],
                            "z": {s.name: round(s.z, 2) for s in scores},
                            "warned": bool(notes),
                            "named_first": any(f" {names[0]} " in n for n in notes),
                            "all": any("nothing in common" in n for n in notes),
                            "mirrored": any("look mirrored" in n for n in notes),
                            "first_mirrored": any(
                                n.startswith(f"the clicks on {names[0]} look mirrored")
                                for n in notes
                            ),
                        }
                    )
            for case in ("right", "one swapped", "all flipped", "one flipped"):
                mine = [
                    r
                    for r in rows
                    if r["set"] == name and r["share"] == share and r["case"] == case
                ]
                zs = [z for r in mine for z in r["z"].values()]
                print(
                    f"{name} share {share:g} ({np.mean([sum(r['clicks']) for r in mine]):.0f} clicks) "
                    f"{case}: z {min(zs, default=np.nan):.1f}..{max(zs, default=np.nan):.1f}, "
                    f"warned {sum(r['warned'] for r in mine)}/{len(mine)}, first named "
                    f"{sum(r['named_first'] for r in mine)}, all named {sum(r['all'] for r in mine)}, "
                    f"mirrored {sum(r['mirrored'] for r in mine)}, first said mirrored "
                    f"{sum(r['first_mirrored'] for r in mine)}"
                )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
