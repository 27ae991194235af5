"""Rebuild the bundled general model (``src/napari_cryopick/core/model/weights/general.pt``).

The exact recipe (documented in ``docs/general-model.md``)::

    .venv/bin/python scripts/train_general_model.py

Data
    * one simulated data set per training particle shape (``sim_<shape>``,
      :data:`TRAIN_SHAPES` = every shape of
      :data:`napari_cryopick.core.simulate.PARTICLE_SHAPES` except the held-out
      :data:`HELD_OUT_SHAPES`, kept for the zero-shot benchmark), each of
      ``--micrographs-per-shape`` micrographs whose settings are drawn at
      random (seeded): particle diameter 24-100 px, SNR chosen so the SNR
      after rescaling to the network's 20 px diameter lies in 0.15-3
      (``--snr-range``),
      defocus 0.8-3.5 µm, pixel size 1-2.5 Å, particle density, ice
      gradient, carbon edges (35 % of micrographs) and 0-3 ice contamination
      blobs; carbon-edge and contamination points are **negatives**;
    * every real data set in ``--real-data`` (default ``../shared/data/real``
      or ``$CRYOPICK_REAL_DATA``), ``<set>/{dataset.json, micrographs/,
      picks/*.csv}``, with the diameter of its ``dataset.json`` (the median
      pick diameter where it is null), all labels as ``particle``.

Training
    :func:`napari_cryopick.core.continual.train_model` in mode ``joint``: one head
    per data set plus the ``generic`` head, trained on every batch
    (HydraPicker's general head); the exemplar bank of every data set is
    stored in the checkpoint, so continual training from this model replays
    them (``--max-exemplars 100`` particles per data set). Settings:
    :class:`~napari_cryopick.core.training.TrainConfig` defaults except ``steps=2500``,
    ``crop_size=160``, ``batch_size=8``, ``sparse=False`` (most labels here
    are complete), seed 0, CPU, one torch thread: about 21 minutes on the
    shared 2-core CPU. No ``diameter_px`` is stored: the user gives it.

Leave-one-out variants for the zero-shot benchmark: ``--exclude-real NAME``
(same recipe without that real data set).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from napari_cryopick import __version__
from napari_cryopick.core.continual import ContinualConfig, DatasetExamples, train_model
from napari_cryopick.io.micrographs import read_micrograph
from napari_cryopick.core.model import DetectorConfig, save_checkpoint
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.simulate import PARTICLE_SHAPES, SimulationConfig, simulate_micrograph
from napari_cryopick.core.training import TrainConfig, build_examples

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "napari_cryopick" / "model" / "weights" / "general.pt"
#: Particle shapes the general model never sees (zero-shot benchmark on them).
HELD_OUT_SHAPES: tuple[str, ...] = ("ring", "L")
TRAIN_SHAPES: tuple[str, ...] = tuple(s for s in PARTICLE_SHAPES if s not in HELD_OUT_SHAPES)
MICROGRAPH_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mrc")


def default_real_data_dir() -> Path:
    """``$CRYOPICK_REAL_DATA`` or ``<repo>/../shared/data/real``."""
    configured = os.environ.get("CRYOPICK_REAL_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "real"


#: Range of the SNR of simulated micrographs after rescaling to the network's 20 px diameter.
PREPARED_SNR_RANGE: tuple[float, float] = (0.15, 3.0)


def random_simulation(
    rng: np.random.Generator,
    shapes: tuple[str, ...],
    snr_range: tuple[float, float] = PREPARED_SNR_RANGE,
) -> tuple[SimulationConfig, float]:
    """Draw one micrograph's simulation settings; returns the config and its diameter."""
    diameter = float(np.exp(rng.uniform(np.log(24.0), np.log(100.0))))
    # SNR after rescaling to 20 px: downsampling by d/20 averages (d/20)^2 noise pixels.
    prepared_snr = float(np.exp(rng.uniform(np.log(snr_range[0]), np.log(snr_range[1]))))
    snr = prepared_snr / (diameter / 20.0) ** 2
    prepared_side = rng.uniform(256, 384)
    side = int(round(prepared_side * diameter / 20.0 / 16) * 16)
    density = rng.uniform(0.08, 0.35)
    n_particles = int(density * side * side / (math.pi * (diameter / 2) ** 2))
    config = SimulationConfig(
        shape=(side, side),
        pixel_size=float(rng.uniform(1.0, 2.5)),
        shapes=shapes,
        diameter_px=diameter,
        diameter_jitter=float(rng.uniform(0.02, 0.1)),
        n_particles=max(4, n_particles),
        min_separation=float(rng.uniform(0.9, 1.3)),
        snr=snr,
        defocus_um=float(rng.uniform(0.8, 3.5)),
        ice_gradient=float(rng.uniform(0.0, 1.5)),
        carbon=0.35,
        carbon_darkness=float(rng.uniform(0.5, 2.0)),
        n_contaminations=int(rng.integers(0, 4)),
        contamination_radius_px=(0.5 * diameter, 1.5 * diameter),
        contamination_darkness=float(rng.uniform(2.0, 5.0)),
    )
    return config, diameter


def synthetic_datasets(
    model_config: DetectorConfig,
    *,
    shapes: tuple[str, ...] = TRAIN_SHAPES,
    micrographs_per_shape: int = 8,
    seed: int = 0,
    snr_range: tuple[float, float] = PREPARED_SNR_RANGE,
) -> list[DatasetExamples]:
    """One simulated data set per shape, ``sim_<shape>``; labels complete, negatives included."""
    datasets = []
    for index, shape in enumerate(shapes):
        rng = np.random.default_rng([seed, index])
        examples = []
        for k in range(micrographs_per_shape):
            config, diameter = random_simulation(rng, (shape,), snr_range)
            name = f"sim_{shape}_{k:02d}"
            sim = simulate_micrograph(config, seed=int(rng.integers(2**31)), name=name)
            picks = sim.picks[sim.picks["kind"].isin(["particle", "negative"])]
            examples += build_examples(
                [sim.image], [picks], diameter, model_config, names=[name], dataset=f"sim_{shape}"
            )
        datasets.append(DatasetExamples(f"sim_{shape}", examples))
    return datasets


def read_real_dataset(
    folder: Path,
) -> tuple[list[np.ndarray], list[pd.DataFrame], list[str], float]:
    """Micrographs, picks (kind particle), names and the diameter of one real data set."""
    info = json.loads((folder / "dataset.json").read_text())
    images, tables, names = [], [], []
    for path in sorted((folder / "micrographs").iterdir()):
        if path.suffix.lower() not in MICROGRAPH_SUFFIXES:
            continue
        picks_path = folder / "picks" / f"{path.stem}.csv"
        if not picks_path.is_file():
            continue
        raw = pd.read_csv(picks_path)
        micrograph = read_micrograph(path)
        images.append(micrograph.data)
        tables.append(
            make_picks(
                raw["x"].to_numpy(float),
                raw["y"].to_numpy(float),
                diameter=raw["diameter"].to_numpy(float) if "diameter" in raw else None,
                micrograph=path.stem,
            )
        )
        names.append(path.stem)
    diameter = info.get("particle_diameter_px")
    if not diameter:
        diameter = float(np.nanmedian(pd.concat(tables)["diameter"].to_numpy(float)))
    return images, tables, names, float(diameter)


def real_datasets(
    root: Path, model_config: DetectorConfig, exclude: tuple[str, ...] = ()
) -> list[DatasetExamples]:
    """Every real data set under ``root`` except ``exclude``."""
    datasets = []
    if not root.is_dir():
        return datasets
    for folder in sorted(p for p in root.iterdir() if (p / "dataset.json").is_file()):
        if folder.name in exclude:
            continue
        images, tables, names, diameter = read_real_dataset(folder)
        if not images:
            continue
        examples = build_examples(
            images, tables, diameter, model_config, names=names, dataset=folder.name
        )
        datasets.append(DatasetExamples(folder.name, examples, diameter_px=diameter))
    return datasets


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--real-data", type=Path, default=None)
    parser.add_argument("--exclude-real", action="append", default=[], metavar="NAME")
    parser.add_argument("--no-real", action="store_true", help="simulated data only")
    parser.add_argument("--micrographs-per-shape", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument(
        "--snr-range",
        type=float,
        nargs=2,
        default=PREPARED_SNR_RANGE,
        metavar=("LOW", "HIGH"),
        help="SNR of simulated micrographs after rescaling to 20 px (log-uniform)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=160)
    parser.add_argument("--max-exemplars", type=int, default=100)
    parser.add_argument(
        "--sparse",
        action="store_true",
        help="sparse-label loss (EPicker); off: most data here are completely labelled",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model_config = DetectorConfig()
    datasets = synthetic_datasets(
        model_config,
        micrographs_per_shape=args.micrographs_per_shape,
        seed=args.seed,
        snr_range=tuple(args.snr_range),
    )
    real_root = args.real_data or default_real_data_dir()
    if not args.no_real:
        datasets += real_datasets(real_root, model_config, tuple(args.exclude_real))
    for dataset in datasets:
        n_labels = sum(int((e.picks["kind"] == "particle").sum()) for e in dataset.examples)
        print(f"{dataset.name}: {len(dataset.examples)} micrographs, {n_labels} particles")
    print(f"data ready in {time.perf_counter() - started:.0f} s", flush=True)

    train_config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        crop_size=args.crop_size,
        sparse=args.sparse,
        seed=args.seed,
        device="cpu",
        log_interval=50,
    )
    job = train_model(
        "joint",
        datasets,
        config=model_config,
        train_config=train_config,
        continual_config=ContinualConfig(max_exemplars=args.max_exemplars),
    )
    step_start = time.perf_counter()
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            result = stop.value
            break
        rate = (time.perf_counter() - step_start) / event.step
        print(f"step {event.step}/{event.total} {event.postfix()} {rate:.2f} s/step", flush=True)
    metadata = dict(result.metadata)
    # A general model has no single particle diameter: the user gives it.
    metadata.pop("diameter_px", None)
    metadata["general_model"] = {
        "recipe": "scripts/train_general_model.py",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "train_shapes": list(TRAIN_SHAPES),
        "held_out_shapes": list(HELD_OUT_SHAPES),
        "real_datasets": [d.name for d in datasets if not d.name.startswith("sim_")],
        "excluded_real": list(args.exclude_real),
        "napari_cryopick_version": __version__,
        "torch_version": str(torch.__version__),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, torch threads {args.threads}",
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, result.model, metadata=metadata)
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
