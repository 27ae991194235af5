"""Default ``cryopick train`` / ``cryopick pick`` on simulated data sets of unusual geometry.

The accuracy benchmark (``bench_accuracy.py``) covers particles of 40-108 px
on micrographs of 0.3-17 MP. Users bring others: particles of 14 px on
binned micrographs, 240 px on 4k super-resolution micrographs, rectangular
K3-shaped micrographs, carbon and ice. This runs the same protocol as
``bench_accuracy.py`` on simulated sets of each (MRC micrographs, the first
3 by name for training with a random quarter of their picks from
``default_rng(0)``, the rest scored against all their picks; the CLI's
defaults, every candidate ranked) and reports AP, the training steps within
the default time budget and the picking time per micrograph.

Simulated particle shapes here are ones the general model was trained on
(unlike ``sim_ring`` / ``sim_L`` of ``bench_accuracy.py``): this measures
that the defaults work across geometries, not accuracy on unseen proteins.

Usage::

    .venv/bin/python benchmarks/bench_sizes.py [--sets small14,large240,...] [--work DIR]

Results: ``benchmarks/results/sizes.json`` and ``sizes.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as accuracy
from napari_cryopick.core.simulate import SimulationConfig

HERE = Path(__file__).parent
N_MICROGRAPHS = 8

#: name -> (description, SimulationConfig keywords)
SETS: dict[str, tuple[str, dict]] = {
    "small14": (
        "14 px ellipsoids on 1024x1024 (the detector enlarges the micrograph 2x)",
        {"shape": (1024, 1024), "shapes": ("ellipsoid",), "diameter_px": 14.0},
    ),
    "large240": (
        "240 px spheres on 4096x4096 (reduced 8.6x)",
        {"shape": (4096, 4096), "shapes": ("sphere",), "diameter_px": 240.0},
    ),
    "rect60": (
        "60 px tetrahedra on 2048x2880 (rectangular, K3-like aspect)",
        {"shape": (2048, 2880), "shapes": ("tetrahedron",), "diameter_px": 60.0},
    ),
    "carbon48": (
        "48 px dumbbells on 1024x1024, carbon edge on 60 % of the micrographs, 3 ice blobs each",
        {
            "shape": (1024, 1024),
            "shapes": ("dumbbell",),
            "diameter_px": 48.0,
            "carbon": 0.6,
            "n_contaminations": 3,
        },
    ),
}


PIXEL_SIZE_A = 1.5


def simulation_config(name: str) -> SimulationConfig:
    """The simulation of set ``name`` (the SNR of ``bench_accuracy.py``'s sims)."""
    _, options = SETS[name]
    diameter = float(options["diameter_px"])
    rows, cols = options["shape"]
    return SimulationConfig(
        **options,
        pixel_size=PIXEL_SIZE_A,
        diameter_jitter=0.05,
        # a fifth of the area covered by particles, but at most 150 per micrograph
        n_particles=min(150, int(0.2 * rows * cols / (np.pi * (diameter / 2) ** 2))),
        snr=accuracy.SIM_PREPARED_SNR / (diameter / 20.0) ** 2,
        defocus_um=2.0,
        ice_gradient=0.5,
    )


def write_set(name: str, folder: Path) -> Path:
    """Simulate ``name`` once (again when its settings changed): MRC micrographs, CSV picks."""
    config = simulation_config(name)
    recipe = {"config": repr(config), "micrographs": N_MICROGRAPHS, "seeds": "500+"}
    info_path = folder / "dataset.json"
    if info_path.exists() and json.loads(info_path.read_text()).get("recipe") == recipe:
        return folder

    def save_mrc(path: Path, image: np.ndarray) -> None:
        with mrcfile.new(path.with_suffix(".mrc")) as mrc:
            mrc.set_data(image.astype(np.float32))
            mrc.voxel_size = PIXEL_SIZE_A

    diameter = float(SETS[name][1]["diameter_px"])
    return accuracy.write_simulated_files(
        folder, config, name, 500, N_MICROGRAPHS, diameter, {"recipe": recipe}, save_mrc
    )


def run_set(name: str, work: Path, cryopick: str) -> dict:
    split = accuracy.load_set(write_set(name, work / "data" / name))
    out = work / "runs" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    trained = accuracy.cryopick_train(cryopick, split, split.train_picks, out, [])
    pred, timing = accuracy.cryopick_pick(
        cryopick, split, trained["model"], out, extra=("--threshold", "0")
    )
    scores = accuracy.score(split, pred)
    return {
        "set": name,
        "description": SETS[name][0],
        "diameter_px": split.diameter_px,
        "clicks": int(sum(len(t) for t in split.train_picks.values())),
        "test_picks": int(sum(len(split.truth[n]) for n in split.test)),
        "train_s": trained["train_s"] or round(trained["train_wall_s"], 1),
        "steps": trained["steps_done"],
        "pick_s_per_micrograph": round(timing["pick_s_per_micrograph"], 2),
        "AP@0.5": round(scores["AP@0.5"], 3),
        "AP@0.6": round(scores["AP@0.6"], 3),
    }


def write_markdown(rows: list[dict], meta: dict, path: Path) -> None:
    lines = [
        "# Default training and picking across particle sizes and micrograph shapes",
        "",
        f"Date: {meta['date']}. Machine: {meta['machine']}. Commit {meta['commit']}.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "Protocol of `bench_accuracy.py` (first 3 micrographs, a random quarter of their "
        "picks, `cryopick train` and `cryopick pick` with their defaults, `--diameter` "
        "given, every candidate ranked, boxes of the diameter) on simulated MRC sets of "
        f"{N_MICROGRAPHS} micrographs. Shapes the general model has seen: this checks "
        "geometry, not unseen proteins. `pick s/mic`: `cryopick pick`'s time per "
        "micrograph after its start-up, reading included.",
        "",
        "| set | what | clicks | test picks | train s | steps | pick s/mic | AP@0.5 | AP@0.6 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['set']} | {row['description']} | {row['clicks']} | {row['test_picks']} | "
            f"{row['train_s']} | {row['steps']} | {row['pick_s_per_micrograph']} | "
            f"{row['AP@0.5']:.3f} | {row['AP@0.6']:.3f} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "sizes")
    parser.add_argument("--cryopick", default=str(Path(sys.executable).parent / "cryopick"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--snapshot",
        default="HEAD",
        metavar="COMMIT",
        help="run the commands from src/ of this commit (default HEAD; as bench_accuracy.py)",
    )
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    names = [n for n in args.sets.split(",") if n]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {unknown}; known: {sorted(SETS)}")
    source = accuracy.snapshot_source(args.snapshot, args.work / "source")
    print(f"commands run from src/ of commit {source}", flush=True)
    rows = []
    for name in names:
        row = run_set(name, args.work, args.cryopick)
        print(json.dumps(row), flush=True)
        rows.append(row)
    meta = accuracy.run_meta("benchmarks/bench_sizes.py", argv, source)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sizes.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    write_markdown(rows, meta, args.out / "sizes.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
