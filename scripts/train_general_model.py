"""Rebuild the bundled general model (``src/napari_cryopick/core/model/weights/general.pt``).

The exact recipe (documented in ``docs/general-model.md``)::

    .venv/bin/python scripts/train_general_model.py --device cuda --time-limit 240

Data
    * one simulated data set per training particle shape (``sim_<shape>``,
      ``--train-shapes``, default :data:`TRAIN_SHAPES`: six of the shapes of
      :data:`napari_cryopick.core.simulate.PARTICLE_SHAPES`, not the held-out
      :data:`HELD_OUT_SHAPES`, kept for the zero-shot benchmark, nor the later
      ``shell`` and ``lumpy``), each of
      ``--micrographs-per-shape`` micrographs whose settings are drawn at
      random (seeded, :func:`random_simulation`): particle diameter 24-120 px,
      SNR after rescaling to the network's diameter 0.03-3, defocus 0.5-4 µm,
      white or coloured noise (power spectrum ``(f + f0)^-a``, ``a`` 0-1.5),
      sometimes blurred as by upstream denoising, particle density, ice
      gradient, carbon edges and ice contamination; carbon-edge and
      contamination points are **negatives**;
    * every real data set in ``--real-data`` (default ``../shared/data/real``
      or ``$CRYOPICK_REAL_DATA``), ``<set>/{dataset.json, micrographs/,
      picks/*.csv}``, with the diameter of its ``dataset.json`` (the median
      pick diameter where it is null). Micrographs may also be ``.npy``
      arrays (a set packed by :func:`pack_real` is already rescaled: its
      ``particle_diameter_px`` is the network's target diameter).

Training (:func:`pretrain`)
    One batch = crops of one data set, drawn with weight 1/2 for the
    simulated sets together and 1/2 for the real sets together; the
    sparse-label loss for sets whose ``completeness`` is ``sparse``, complete
    labels otherwise; AdamW with warm-up and cosine decay by time or steps;
    ``--workers`` processes make the crops (the bottleneck on a GPU). The
    generic head learns everything (HydraPicker's general head); the
    checkpoint stores an exemplar bank per data set for continual training.

Leave-one-out variants for the zero-shot and few-shot benchmarks:
``--exclude-real NAME`` (same recipe without that real data set).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from napari_cryopick import __version__
from napari_cryopick.core.model import Detector, DetectorConfig, resolve_device, save_checkpoint
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.simulate import PARTICLE_SHAPES, SimulationConfig, simulate_micrograph
from napari_cryopick.core.training import (
    TrainConfig,
    TrainingExample,
    _dihedral,
    batch_losses,
    build_examples,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "napari_cryopick" / "core" / "model" / "weights" / "general.pt"
#: Particle shapes the general model never sees (zero-shot benchmark on them).
HELD_OUT_SHAPES: tuple[str, ...] = ("ring", "L")
#: Shapes the general model trains on (the recipe of the shipped file). The
#: simulator's later shapes (``shell``, ``lumpy``) are left out: adding them was
#: measured in session 17 (``--train-shapes``) and not kept.
TRAIN_SHAPES: tuple[str, ...] = ("sphere", "ellipsoid", "dumbbell", "tetrahedron", "rod", "cube")
MICROGRAPH_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mrc", ".npy")

#: Range of the SNR of simulated micrographs after rescaling to the network's diameter.
PREPARED_SNR_RANGE: tuple[float, float] = (0.03, 3.0)


def default_real_data_dir() -> Path:
    """``$CRYOPICK_REAL_DATA`` or ``<repo>/../shared/data/real``."""
    configured = os.environ.get("CRYOPICK_REAL_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "real"


def random_simulation(
    rng: np.random.Generator,
    shapes: tuple[str, ...],
    snr_range: tuple[float, float] = PREPARED_SNR_RANGE,
    target_diameter_px: float = 28.0,
) -> tuple[SimulationConfig, float]:
    """Draw one micrograph's simulation settings; returns the config and its diameter."""
    diameter = float(np.exp(rng.uniform(np.log(24.0), np.log(120.0))))
    bin_factor = diameter / target_diameter_px
    # SNR after rescaling: downsampling by d/target averages (d/target)^2 noise pixels.
    prepared_snr = float(np.exp(rng.uniform(np.log(snr_range[0]), np.log(snr_range[1]))))
    snr = prepared_snr / max(bin_factor, 1.0) ** 2
    prepared_side = rng.uniform(288, 448)
    side = int(round(prepared_side * bin_factor / 16) * 16)
    density = rng.uniform(0.05, 0.4)
    n_particles = int(density * side * side / (math.pi * (diameter / 2) ** 2))
    blurred = rng.random() < 0.3
    config = SimulationConfig(
        shape=(side, side),
        pixel_size=float(rng.uniform(0.8, 2.5)),
        shapes=shapes,
        diameter_px=diameter,
        diameter_jitter=float(rng.uniform(0.02, 0.12)),
        n_particles=max(4, n_particles),
        min_separation=float(rng.uniform(0.85, 1.4)),
        snr=snr,
        defocus_um=float(rng.uniform(0.5, 4.0)),
        amplitude_contrast=float(rng.uniform(0.05, 0.15)),
        b_factor=float(rng.uniform(50.0, 250.0)),
        ice_gradient=float(rng.uniform(0.0, 2.0)),
        carbon=0.35,
        carbon_darkness=float(rng.uniform(0.3, 3.0)),
        n_contaminations=int(rng.integers(0, 5)),
        contamination_radius_px=(0.4 * diameter, 2.0 * diameter),
        contamination_darkness=float(rng.uniform(1.5, 6.0)),
        noise_exponent=float(rng.choice([0.0, rng.uniform(0.3, 1.5)])),
        blur_px=float(rng.uniform(0.1, 0.25) * diameter) if blurred else 0.0,
    )
    return config, diameter


@dataclass
class DataSet:
    """Prepared examples of one data set and how to train on them."""

    name: str
    examples: list[TrainingExample]
    diameter_px: float
    sparse: bool = False
    simulated: bool = False


def _simulate_one(job: tuple[str, int, int, tuple[float, float], dict]) -> TrainingExample:
    shape, k, seed, snr_range, config_dict = job
    model_config = DetectorConfig.from_dict(config_dict)
    rng = np.random.default_rng([seed, PARTICLE_SHAPES.index(shape), k])
    sim_config, diameter = random_simulation(
        rng, (shape,), snr_range, model_config.target_diameter_px
    )
    name = f"sim_{shape}_{k:02d}"
    sim = simulate_micrograph(sim_config, seed=int(rng.integers(2**31)), name=name)
    picks = sim.picks[sim.picks["kind"].isin(["particle", "negative"])]
    (example,) = build_examples(
        [sim.image], [picks], diameter, model_config, names=[name], dataset=f"sim_{shape}"
    )
    return example


def synthetic_datasets(
    model_config: DetectorConfig,
    *,
    shapes: tuple[str, ...] = TRAIN_SHAPES,
    micrographs_per_shape: int = 24,
    seed: int = 0,
    snr_range: tuple[float, float] = PREPARED_SNR_RANGE,
    processes: int = 1,
) -> list[DataSet]:
    """One simulated data set per shape, ``sim_<shape>``; labels complete, negatives included."""
    jobs = [
        (shape, k, seed, tuple(snr_range), model_config.to_dict())
        for shape in shapes
        for k in range(micrographs_per_shape)
    ]
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            examples = pool.map(_simulate_one, jobs, chunksize=1)
    else:
        examples = [_simulate_one(job) for job in jobs]
    return [
        DataSet(
            f"sim_{shape}",
            [e for e in examples if e.dataset == f"sim_{shape}"],
            model_config.target_diameter_px,
            sparse=False,
            simulated=True,
        )
        for shape in shapes
    ]


def _read_image(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.load(path).astype(np.float32)
    from napari_cryopick.io.micrographs import read_micrograph

    return read_micrograph(path).data


def read_real_dataset(
    folder: Path,
) -> tuple[list[np.ndarray], list[pd.DataFrame], list[str], float, dict]:
    """Micrographs, picks (kind particle), names, diameter and ``dataset.json`` of one set."""
    info = json.loads((folder / "dataset.json").read_text())
    images, tables, names = [], [], []
    for path in sorted((folder / "micrographs").iterdir()):
        if path.suffix.lower() not in MICROGRAPH_SUFFIXES:
            continue
        picks_path = folder / "picks" / f"{path.stem}.csv"
        if not picks_path.is_file():
            continue
        raw = pd.read_csv(picks_path)
        images.append(_read_image(path))
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
    return images, tables, names, float(diameter), info


def real_datasets(
    root: Path, model_config: DetectorConfig, exclude: tuple[str, ...] = ()
) -> list[DataSet]:
    """Every real data set under ``root`` except ``exclude``."""
    datasets: list[DataSet] = []
    if not root.is_dir():
        return datasets
    for folder in sorted(p for p in root.iterdir() if (p / "dataset.json").is_file()):
        if folder.name in exclude:
            continue
        images, tables, names, diameter, info = read_real_dataset(folder)
        if not images:
            continue
        examples = build_examples(
            images, tables, diameter, model_config, names=names, dataset=folder.name
        )
        sparse = str(info.get("completeness", "")).lower() == "sparse"
        datasets.append(DataSet(folder.name, examples, diameter, sparse=sparse))
    return datasets


def pack_real(root: Path, out: Path, model_config: DetectorConfig) -> None:
    """Write every real set under ``root`` rescaled and normalised (float16 ``.npy``) to ``out``.

    The packed sets have the layout of the real data with
    ``particle_diameter_px`` = the network's target diameter, so they are
    prepared already (scale 1) and travel small (a GPU machine).
    """
    for folder in sorted(p for p in root.iterdir() if (p / "dataset.json").is_file()):
        images, tables, names, diameter, info = read_real_dataset(folder)
        examples = build_examples(images, tables, diameter, model_config, names=names)
        target = out / folder.name
        (target / "micrographs").mkdir(parents=True, exist_ok=True)
        (target / "picks").mkdir(parents=True, exist_ok=True)
        for example in examples:
            np.save(
                target / "micrographs" / f"{example.name}.npy",
                example.prepared.image.astype(np.float16),
            )
            example.picks[["x", "y", "diameter"]].to_csv(
                target / "picks" / f"{example.name}.csv", index=False
            )
        info = {
            **info,
            "particle_diameter_px": model_config.target_diameter_px,
            "original_diameter_px": diameter,
        }
        (target / "dataset.json").write_text(json.dumps(info, indent=1))


# --------------------------------------------------------------------------
# training


class FastSampler:
    """:func:`~napari_cryopick.core.training.sample_batch` without pandas, targets vectorised.

    Same crops, augmentation and targets as ``sample_batch`` (one kind per
    heatmap channel, negatives as discs), about 5x faster: the crop makers
    are the bottleneck of training on a GPU.
    """

    def __init__(self, examples, model_config: DetectorConfig, train_config: TrainConfig):
        self.model_config = model_config
        self.config = train_config
        kinds = list(model_config.kinds)
        self.items = []
        for example in examples:
            picks = example.picks
            kind = picks["kind"].astype(str).to_numpy()
            code = np.array(
                [kinds.index(k) if k in kinds else (-1 if k == "negative" else -2) for k in kind],
                np.int64,
            )
            keep = code > -2
            diameter = picks["diameter"].to_numpy(np.float64)
            diameter = np.where(
                np.isfinite(diameter) & (diameter > 0), diameter, model_config.target_diameter_px
            )
            image = example.prepared.image
            stats = image[:: max(1, image.shape[0] // 64), :: max(1, image.shape[1] // 64)]
            self.items.append(
                (
                    image,
                    picks["x"].to_numpy(np.float64)[keep],
                    picks["y"].to_numpy(np.float64)[keep],
                    diameter[keep],
                    code[keep],
                    float(stats.mean()),
                    float(stats.std()) or 1.0,
                )
            )

    def _targets(self, x, y, diameter, code, size):
        stride = self.model_config.stride
        out = math.ceil(size / stride)
        n_kinds = len(self.model_config.kinds)
        heatmap = np.zeros((n_kinds, out, out), np.float32)
        offset = np.zeros((2, out, out), np.float32)
        size_map = np.zeros((1, out, out), np.float32)
        reg_mask = np.zeros((1, out, out), np.float32)
        negative = np.zeros((1, out, out), np.float32)
        grid = np.arange(out, dtype=np.float64)
        neg = code == -1
        if neg.any():
            centre_r = (y[neg] + 0.5) / stride - 0.5
            centre_c = (x[neg] + 0.5) / stride - 0.5
            radius = np.maximum(diameter[neg] / stride / 2.0, 0.5)
            disc = (grid[None, :, None] - centre_r[:, None, None]) ** 2 + (
                grid[None, None, :] - centre_c[:, None, None]
            ) ** 2 <= radius[:, None, None] ** 2
            negative[0] = disc.any(axis=0)
        u_x, u_y = (x + 0.5) / stride, (y + 0.5) / stride
        cols, rows = np.floor(u_x), np.floor(u_y)
        dx, dy = (u_x - cols).astype(np.float32), (u_y - rows).astype(np.float32)
        cols, rows = cols.astype(np.int64), rows.astype(np.int64)
        for channel in range(n_kinds):
            sel = np.flatnonzero(code == channel)
            if not len(sel):
                continue
            sigma = np.maximum(diameter[sel] / stride / 6.0, 0.5)
            radius = np.ceil(3 * sigma)
            rr = grid[None, :] - rows[sel][:, None]  # [N, out]
            cc = grid[None, :] - cols[sel][:, None]
            gr = np.where(
                np.abs(rr) <= radius[:, None], np.exp(-(rr**2) / (2 * sigma[:, None] ** 2)), 0.0
            )
            gc = np.where(
                np.abs(cc) <= radius[:, None], np.exp(-(cc**2) / (2 * sigma[:, None] ** 2)), 0.0
            )
            peaks = np.einsum("nr,nc->nrc", gr, gc) if len(sel) else None
            heatmap[channel] = peaks.max(axis=0)
            inside = (rows[sel] >= 0) & (rows[sel] < out) & (cols[sel] >= 0) & (cols[sel] < out)
            idx = sel[inside]
            r, c = rows[idx], cols[idx]
            offset[0, r, c] = dx[idx]
            offset[1, r, c] = dy[idx]
            size_map[0, r, c] = np.log(diameter[idx] / self.model_config.target_diameter_px)
            reg_mask[0, r, c] = 1.0
        negative[0][heatmap.max(axis=0) >= 1.0] = 0.0
        return {
            "heatmap": heatmap,
            "offset": offset,
            "size": size_map,
            "reg_mask": reg_mask,
            "negative_mask": negative,
        }

    def sample(self, rng: np.random.Generator):
        config = self.config
        size = config.crop_size
        images, targets = [], []
        for _ in range(config.batch_size):
            image, x_all, y_all, d_all, code, mean, std = self.items[
                int(rng.integers(len(self.items)))
            ]
            rows, cols = image.shape
            positive = np.flatnonzero(code >= 0)
            if len(positive) and rng.random() < config.positive_crop_fraction:
                index = positive[int(rng.integers(len(positive)))]
                jitter = rng.uniform(-0.4 * size, 0.4 * size, 2)
                top = round(y_all[index] + jitter[0] - size / 2)
                left = round(x_all[index] + jitter[1] - size / 2)
            else:
                margin = int(config.edge_margin * size)
                top = int(
                    rng.integers(min(0, rows - size) - margin, max(0, rows - size) + margin + 1)
                )
                left = int(
                    rng.integers(min(0, cols - size) - margin, max(0, cols - size) + margin + 1)
                )
            r0, r1 = max(top, 0), min(top + size, rows)
            c0, c1 = max(left, 0), min(left + size, cols)
            if r0 == top and c0 == left and r1 == top + size and c1 == left + size:
                crop = image[r0:r1, c0:c1].astype(np.float32)
            else:
                if rng.random() < config.zero_pad_probability:
                    crop = np.zeros((size, size), np.float32)
                else:
                    crop = rng.normal(mean, std, (size, size)).astype(np.float32)
                if r0 < r1 and c0 < c1:
                    crop[r0 - top : r1 - top, c0 - left : c1 - left] = image[r0:r1, c0:c1]
            x, y = x_all - left, y_all - top
            m = 0.5 * size
            keep = (x > -m) & (x < size + m) & (y > -m) & (y < size + m)
            x, y, d, k = x[keep], y[keep], d_all[keep], code[keep]
            if config.augment:
                crop, x, y = _dihedral(crop, x, y, rng)
                gain = rng.uniform(*config.gain_range)
                offset_ = rng.uniform(*config.offset_range)
                gamma = rng.uniform(*config.gamma_range)
                out = np.float32(gain) * crop + np.float32(offset_)
                out = np.copysign(np.power(np.abs(out), np.float32(gamma)), out)
                noise = rng.uniform(*config.noise_range)
                if noise > 0:
                    out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(noise)
                crop = out.astype(np.float32)
            images.append(crop)
            targets.append(self._targets(x, y, d, k, size))
        image = np.stack(images)[:, None]
        return image, {key: np.stack([t[key] for t in targets]) for key in targets[0]}


class _BatchStream(torch.utils.data.IterableDataset):
    """Endless batches, each from one data set drawn by weight (numpy, in worker processes)."""

    def __init__(self, datasets, weights, model_config, train_config, seed):
        super().__init__()
        self.datasets = datasets
        self.weights = np.asarray(weights, float) / np.sum(weights)
        self.model_config = model_config
        self.train_config = train_config
        self.seed = seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        rng = np.random.default_rng([self.seed, worker])
        samplers = [
            FastSampler(d.examples, self.model_config, self.train_config) for d in self.datasets
        ]
        while True:
            index = int(rng.choice(len(self.datasets), p=self.weights))
            image, targets = samplers[index].sample(rng)
            yield (
                index,
                torch.from_numpy(image),
                {k: torch.from_numpy(v) for k, v in targets.items()},
            )


def dataset_weights(datasets: list[DataSet], real_share: float = 0.5) -> list[float]:
    """Simulated sets share ``1 - real_share`` equally, real sets ``real_share``."""
    n_sim = sum(d.simulated for d in datasets)
    n_real = len(datasets) - n_sim
    if n_sim == 0 or n_real == 0:
        return [1.0] * len(datasets)
    return [(1 - real_share) / n_sim if d.simulated else real_share / n_real for d in datasets]


def pretrain(
    datasets: list[DataSet],
    model_config: DetectorConfig,
    *,
    steps: int = 100_000,
    time_limit_s: float | None = 240.0,
    batch_size: int = 32,
    crop_size: int = 192,
    lr: float = 3e-3,
    device: str = "auto",
    workers: int = 2,
    seed: int = 0,
    model: Detector | None = None,
    log=print,
    log_every: int = 100,
    checkpoint_every_s: float | None = None,
    on_checkpoint=None,
    average_from: float | None = None,
    average_every: int = 10,
    bn_batches: int = 50,
    on_raw=None,
) -> tuple[Detector, dict]:
    """Train the generic head and body on all data sets; returns the model (CPU, eval) and a record.

    ``on_checkpoint(model, record)`` is called every ``checkpoint_every_s``
    seconds of training with a CPU copy of the model (a long CPU run writes
    its checkpoint as it goes, so a killed run resumes with ``--init``).

    ``average_from`` (a fraction of the run, by time or steps): the returned
    model is the uniform average of the weights every ``average_every`` steps
    from there on (stochastic weight averaging,
    :class:`torch.optim.swa_utils.AveragedModel`), its batch-norm statistics
    recomputed on ``bn_batches`` batches; ``on_raw(model, record)`` then
    receives the last weights as trained. ``record["average"]["models"]``
    counts the averaged weights; a run too short to average any returns its
    last weights (count 0) and does not call ``on_raw``.
    """
    torch.manual_seed(seed)
    train_config = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        crop_size=crop_size,
        lr=lr,
        seed=seed,
        warmup_steps=min(200, max(1, steps // 10)),
        time_limit_s=time_limit_s,
        device="cpu",
    )
    sparse_config = dataclasses.replace(train_config, sparse=True)
    complete_config = dataclasses.replace(train_config, sparse=False)
    target_device = resolve_device(device)
    if target_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size
    model = model or Detector(model_config)
    model.to(target_device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    stream = _BatchStream(datasets, dataset_weights(datasets), model.config, complete_config, seed)
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        multiprocessing_context="fork" if workers > 0 else None,
    )
    averaged = torch.optim.swa_utils.AveragedModel(model) if average_from is not None else None
    start = time.perf_counter()
    losses_tail: list[float] = []
    done = 0
    last_checkpoint = start
    from napari_cryopick.core.training import Batch, _learning_rate

    def record_of(done: int, seconds: float) -> dict:
        return {
            "steps": done,
            "seconds": round(seconds, 1),
            "batch_size": batch_size,
            "crop_size": crop_size,
            "lr": lr,
            "device": str(target_device),
            "workers": workers,
            "final_loss": float(np.mean(losses_tail)) if losses_tail else None,
            **(
                {"average": {"from": average_from, "every": average_every, "models": n_averaged}}
                if averaged is not None
                else {}
            ),
            "datasets": {
                d.name: {"micrographs": len(d.examples), "sparse": d.sparse} for d in datasets
            },
        }

    n_averaged = 0
    batches = iter(loader)
    for done, (index, image, targets) in enumerate(batches, start=1):
        elapsed = time.perf_counter() - start
        fraction = elapsed / time_limit_s if time_limit_s else 0.0
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(done - 1, train_config, fraction)
        batch = Batch(
            image=image.to(target_device, non_blocking=True),
            targets={k: v.to(target_device, non_blocking=True) for k, v in targets.items()},
            head=model.default_head,
        )
        outputs = model(batch.image)
        dataset = datasets[int(index)]
        losses = batch_losses(outputs, batch, sparse_config if dataset.sparse else complete_config)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        if (
            averaged is not None
            and max(fraction, done / steps) >= average_from
            and done % average_every == 0
        ):
            averaged.update_parameters(model)
            n_averaged += 1
        losses_tail = (
            ([*losses_tail, float(losses["total"].detach())])[-200:]
            if done % 10 == 0
            else losses_tail
        )
        if done % log_every == 0:
            log(
                f"step {done} {elapsed:.0f}s loss {np.mean(losses_tail):.3f} lr {optimizer.param_groups[0]['lr']:.1e}"
            )
        if done >= steps or (time_limit_s and elapsed >= time_limit_s):
            break
        now = time.perf_counter()
        if (
            on_checkpoint is not None
            and checkpoint_every_s
            and now - last_checkpoint >= checkpoint_every_s
        ):
            snapshot = copy.deepcopy(model).eval().to("cpu")
            on_checkpoint(snapshot, record_of(done, now - start))
            last_checkpoint = now
    seconds = time.perf_counter() - start
    if averaged is not None and n_averaged > 0:
        if on_raw is not None:
            on_raw(copy.deepcopy(model).eval().to("cpu"), record_of(done, seconds))
        model = averaged.module
        with torch.no_grad():
            images = (
                image.to(target_device) for _, (_, image, _) in zip(range(bn_batches), batches)
            )
            torch.optim.swa_utils.update_bn(images, model)
    model.eval().to("cpu")
    return model, record_of(done, seconds)


def general_metadata(
    model: Detector,
    datasets: list[DataSet],
    record: dict,
    argv: list[str],
    excluded: list[str],
    *,
    max_exemplars: int = 100,
    exemplar_crop_size: int = 64,
    previous_history: tuple[dict, ...] = (),
) -> dict:
    """Checkpoint metadata (a model card): data sets, history, exemplar bank, recipe.

    No ``diameter_px``: a general model has no single particle diameter.
    """
    from napari_cryopick.core.exemplars import bank_to_metadata, build_bank, empty_bank
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    bank = empty_bank(exemplar_crop_size)
    if max_exemplars > 0:
        for dataset in datasets:
            bank = build_bank(
                dataset.examples,
                dataset.name,
                max_particles=max_exemplars,
                crop_size=exemplar_crop_size,
                bank=bank,
            )
    cards = tuple(
        DatasetCard(
            d.name,
            diameter_px=d.diameter_px,
            micrographs=len(d.examples),
            labels=int(sum(int((e.picks["kind"] != "negative").sum()) for e in d.examples)),
            head=d.name if d.name in model.heads else model.default_head,
        )
        for d in datasets
    )
    run = {
        "mode": "joint",
        "datasets": [d.name for d in datasets],
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **record,
    }
    trained_shapes = [d.name.removeprefix("sim_") for d in datasets if d.simulated]
    recipe = {
        "recipe": "scripts/train_general_model.py",
        "argv": list(argv),
        "train_shapes": trained_shapes,
        # a held-out shape trained on is no longer held out for the zero-shot benchmark
        "held_out_shapes": [s for s in HELD_OUT_SHAPES if s not in trained_shapes],
        "real_datasets": [d.name for d in datasets if not d.simulated],
        "excluded_real": list(excluded),
        "napari_cryopick_version": __version__,
        "torch_version": str(torch.__version__),
        "machine": record.get(
            "machine", f"{platform.machine()} {os.cpu_count()} CPU cores, {record.get('device')}"
        ),
        "seconds": record.get("seconds"),
    }
    card = ModelCard(
        kinds=tuple(model.config.kinds),
        heads=tuple(model.head_names),
        datasets=cards,
        history=(*previous_history, run),
        exemplars=bank_to_metadata(bank),
        extra={"general_model": recipe},
    )
    metadata = card.to_metadata()
    metadata.pop("diameter_px", None)
    return metadata


def _shape_list(text: str) -> tuple[str, ...]:
    shapes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in shapes if s not in PARTICLE_SHAPES]
    if unknown or not shapes:
        raise argparse.ArgumentTypeError(
            f"{'unknown shape(s) ' + ', '.join(unknown) if unknown else 'no shape'}; "
            f"choose from {', '.join(PARTICLE_SHAPES)}"
        )
    return shapes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--real-data", type=Path, default=None)
    parser.add_argument("--exclude-real", action="append", default=[], metavar="NAME")
    parser.add_argument("--no-real", action="store_true", help="simulated data only")
    parser.add_argument("--micrographs-per-shape", type=int, default=24)
    parser.add_argument(
        "--train-shapes",
        type=_shape_list,
        default=None,
        metavar="A,B,...",
        help=f"simulated particle shapes to train on (default: {','.join(TRAIN_SHAPES)}; "
        "--finalise: the model card's)",
    )
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--time-limit", type=float, default=240.0, help="seconds of training")
    parser.add_argument(
        "--snr-range", type=float, nargs=2, default=PREPARED_SNR_RANGE, metavar=("LOW", "HIGH")
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop-size", type=int, default=192)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--widths", type=int, nargs=4, default=None)
    parser.add_argument("--feature-channels", type=int, default=None)
    parser.add_argument("--max-exemplars", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2, help="processes making crops")
    parser.add_argument("--sim-processes", type=int, default=1)
    parser.add_argument("--init", type=Path, default=None, help="resume from this checkpoint")
    parser.add_argument(
        "--finalise",
        type=Path,
        default=None,
        metavar="CKPT",
        help="no training: give the trained CKPT (e.g. from a GPU run) the data sets' "
        "exemplar bank and the recipe metadata, write --out",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--checkpoint-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also write --out every SECONDS of training (a long CPU run; resume with --init)",
    )
    parser.add_argument(
        "--average-from",
        type=float,
        default=0.5,
        metavar="FRACTION",
        help="write the average of the weights from this fraction of the run on "
        "(stochastic weight averaging; the recipe: 0.5) instead of the last weights; "
        "'--average-from -1' keeps the last weights",
    )
    return parser


def model_config_from_args(args: argparse.Namespace) -> DetectorConfig:
    config = DetectorConfig()
    if args.widths:
        config.widths = tuple(args.widths)
    if args.feature_channels:
        config.feature_channels = args.feature_channels
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = None
    previous_history: tuple[dict, ...] = ()
    if args.finalise is not None:
        return finalise(args, argv)
    if args.init is not None:
        from napari_cryopick.core.model import load_checkpoint

        model, init_metadata = load_checkpoint(args.init)
        model_config = model.config
        previous_history = tuple(init_metadata.get("history") or ())
    else:
        model_config = model_config_from_args(args)
    datasets = synthetic_datasets(
        model_config,
        shapes=args.train_shapes or TRAIN_SHAPES,
        micrographs_per_shape=args.micrographs_per_shape,
        seed=args.seed,
        snr_range=tuple(args.snr_range),
        processes=args.sim_processes,
    )
    if not args.no_real:
        real_root = args.real_data or default_real_data_dir()
        datasets += real_datasets(real_root, model_config, tuple(args.exclude_real))
    for dataset in datasets:
        n_labels = sum(int((e.picks["kind"] == "particle").sum()) for e in dataset.examples)
        print(f"{dataset.name}: {len(dataset.examples)} micrographs, {n_labels} particles")
    print(f"data ready in {time.perf_counter() - started:.0f} s", flush=True)
    model, record = pretrain(
        datasets,
        model_config,
        steps=args.steps,
        time_limit_s=args.time_limit,
        batch_size=args.batch_size,
        crop_size=args.crop_size,
        lr=args.lr,
        device=args.device,
        workers=args.workers,
        seed=args.seed,
        model=model,
        log=lambda text: print(text, flush=True),
        checkpoint_every_s=args.checkpoint_every,
        on_checkpoint=lambda snapshot, record: _write_checkpoint(
            args, argv, snapshot, datasets, record, previous_history
        ),
        average_from=args.average_from if args.average_from >= 0 else None,
    )
    _write_trained(args, argv, model, datasets, record, previous_history, args.max_exemplars)
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB) in {time.perf_counter() - started:.0f} s")
    return 0


def _write_trained(args, argv, model, datasets, record, previous_history, max_exemplars) -> None:
    """Write ``--out``: the trained model, its existing per-set heads refreshed, and its card."""
    copy_generic_to_dataset_heads(model, datasets, add=False)
    metadata = general_metadata(
        model,
        datasets,
        record,
        list(sys.argv[1:] if argv is None else argv),
        list(args.exclude_real),
        max_exemplars=max_exemplars,
        previous_history=previous_history,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, model, metadata=metadata)


def _write_checkpoint(args, argv, model, datasets, record, previous_history) -> None:
    """An interim checkpoint of a long run (no exemplar bank: ``--finalise`` adds it)."""
    _write_trained(args, argv, model, datasets, record, previous_history, max_exemplars=0)
    print(
        f"checkpoint {args.out} at step {record['steps']} ({record['seconds']:.0f} s)", flush=True
    )


def copy_generic_to_dataset_heads(
    model: Detector, datasets: list[DataSet], *, add: bool = True
) -> None:
    """One head per data set, each a copy of the generic head (HydraPicker layout).

    ``--head NAME`` then picks at that set's diameter. The generic head learnt
    from every set; a head that exists already (a run resumed with ``--init``
    from a finalised model) is overwritten, so no head is left from before.
    ``add=False``: only the heads that exist are overwritten.
    """
    generic = model.heads["generic"].state_dict()
    for dataset in datasets:
        if dataset.name in model.heads:
            model.heads[dataset.name].load_state_dict(generic)
        elif add:
            model.add_head(dataset.name, init_from="generic")


def finalise(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Metadata and exemplar bank for a model trained elsewhere (``--finalise``)."""
    from napari_cryopick.core.model import load_checkpoint

    model, metadata = load_checkpoint(args.finalise)
    history = tuple(metadata.get("history") or ({},))
    trained = dict(history[-1])
    record = {k: v for k, v in trained.items() if k not in ("mode", "datasets", "date")}
    record["machine"] = (metadata.get("general_model") or {}).get("machine")
    # the exemplars come from the first micrographs of each set (same seeds as training)
    # --train-shapes, else the shapes the model was trained on (its card)
    card_shapes = (metadata.get("general_model") or {}).get("train_shapes")
    shapes = args.train_shapes or card_shapes or TRAIN_SHAPES
    datasets = synthetic_datasets(
        model.config,
        shapes=tuple(shapes),
        micrographs_per_shape=2,
        seed=args.seed,
        snr_range=tuple(args.snr_range),
    )
    datasets += real_datasets(
        args.real_data or default_real_data_dir(), model.config, tuple(args.exclude_real)
    )
    copy_generic_to_dataset_heads(model, datasets)
    original = (metadata.get("general_model") or {}).get("argv", [])
    out = general_metadata(
        model,
        datasets,
        record,
        [*original, "--finalise", str(args.finalise.name)],
        list(args.exclude_real),
        max_exemplars=args.max_exemplars,
        previous_history=history[:-1],
    )
    out["dataset_info"].update(
        {
            k: {**out["dataset_info"][k], "micrographs": v["micrographs"], "labels": v["labels"]}
            for k, v in (metadata.get("dataset_info") or {}).items()
            if k in out["dataset_info"]
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, model, metadata=out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
