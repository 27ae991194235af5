"""Training the detector from (sparse) clicks: a generator of progress events.

:func:`train_detector` yields a :class:`TrainProgress` every
``log_interval`` steps and returns a :class:`TrainResult`; the napari widget
runs it in a worker, the command line with :func:`napari_cryopick.core.progress.drive`.
Closing the generator stops training at the next step; it never writes files.

Data flow: micrographs are *prepared* once (:func:`build_examples`, scale
normalisation to ``config.target_diameter_px``); every step samples random
crops (half of them centred near a labelled object, which matters for sparse
clicks), augments them (the 8 flips/rotations of the square, intensity
jitter, noise) and builds stride-4 targets (:mod:`napari_cryopick.core.model.targets`).

Continual learning hooks: every :class:`Batch` carries the name of the head it
trains, examples can name their own head (per-head batches), and
``extra_loss(model, batch, outputs) -> dict[str, Tensor]`` adds terms (e.g.
``0.1 * distill + 0.01 * drift``; weights are the hook's business) to the
detection loss ``total``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from napari_cryopick.core.model import Detector, DetectorConfig, resolve_device
from napari_cryopick.core.model.inputs import (
    PreparedMicrograph,
    prepare_in_cache,
    prepare_micrograph,
    to_prepared,
)
from napari_cryopick.core.model.losses import detection_losses
from napari_cryopick.core.model.targets import (
    NEGATIVE_KIND,
    UNKNOWN_KIND,
    build_targets_from_arrays,
)
from napari_cryopick.core.preprocess import check_contrast
from napari_cryopick.core.train_config import TrainConfig
from napari_cryopick.io.pickfiles import picks_on_micrograph

__all__ = [
    "Batch",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingExample",
    "build_examples",
    "count_labels",
    "label_step_limit",
    "loop_time_limit",
    "resolve_time_limit",
    "sample_batch",
    "train_detector",
    "views_step_count",
]

#: Pick kinds that are not labelled objects: user negatives and the "unknown"
#: places that may hold an unlabelled particle (see ``core.model.targets``).
NOT_LABELS = (NEGATIVE_KIND, UNKNOWN_KIND)


#: Default training budgets ("auto"): what users accept waiting for (issue 10).
AUTO_TIME_LIMIT_S = {"cpu": 120.0, "gpu": 20.0}

#: The training loop keeps at least this fraction of the budget, however long
#: the work before it took (see :func:`loop_time_limit`).
MIN_LOOP_FRACTION = 0.25


def resolve_time_limit(
    config: TrainConfig, device: torch.device | str | None = None
) -> float | None:
    """Seconds of training for ``config`` on ``device``: ``"auto"`` is 120 s on a CPU, 20 s on a GPU."""
    if config.time_limit_s != "auto":
        return None if config.time_limit_s is None else float(config.time_limit_s)
    if device is None:
        device = resolve_device(config.device)
    kind = torch.device(device).type
    return AUTO_TIME_LIMIT_S["cpu" if kind == "cpu" else "gpu"]


def loop_time_limit(
    limit: float | None, budget_start: float | None, repeat_start: float | None = None
) -> float | None:
    """Seconds the training loop may run when the budget ``limit`` counts from ``budget_start``.

    ``budget_start`` is a :func:`time.perf_counter` value: when the whole
    training job began (a ``cryopick train`` command's process, a press of
    Train), so that reading and preparing the micrographs and the starting
    model's pass over them count against the budget, not only the loop. The
    work after the loop (the pick threshold from a picking pass over the
    training micrographs, the checkpoint) repeats the work before it from
    ``repeat_start`` on (reading the micrographs, a pass of the network over
    them; default ``budget_start``), so the loop also leaves that much time
    after it. What comes before ``repeat_start`` (Python's imports, a GPU's
    start) does not come again: it counted twice, and a GPU training got 299
    of its 1000 steps in its 20 s (docs/benchmarks.md, session 36). The loop
    keeps at least :data:`MIN_LOOP_FRACTION` of the budget: with thousands of
    training micrographs, reading alone can take longer than the budget, and a
    model trained for no time would be worth nothing. None: ``limit`` as is.
    """
    if limit is None or budget_start is None:
        return limit
    now = time.perf_counter()
    spent = max(0.0, now - budget_start)
    repeated = spent if repeat_start is None else min(spent, max(0.0, now - repeat_start))
    return max(limit - spent - repeated, MIN_LOOP_FRACTION * limit)


@dataclass(frozen=True)
class TrainingExample:
    """One prepared micrograph with its labels.

    Attributes
    ----------
    prepared
        The rescaled, normalised micrograph and its scales.
    picks
        Labels in **prepared** pixels (project pick columns; ``kind`` may be
        ``"negative"``; NaN diameters mean ``target_diameter_px``).
    name
        Micrograph name.
    dataset
        Data-set name (for the history and, later, per-data-set heads).
    head
        Head this example trains; None: the ``head`` argument of :func:`train_detector`.

    An example's picks are not changed in place once it is made (the sampler
    keeps read-only numpy copies of them); make a new example, e.g. with
    ``dataclasses.replace(example, picks=new_table)``.
    """

    prepared: PreparedMicrograph
    picks: pd.DataFrame
    name: str = ""
    dataset: str = ""
    head: str | None = None
    # numpy copies of ``picks`` for the sampling loop, made on first use
    # (``dataclasses.replace`` with new picks starts without them)
    _arrays: _PickArrays | None = field(default=None, init=False, repr=False, compare=False)

    def pick_arrays(self) -> _PickArrays:
        """``picks`` as numpy arrays (cached: the picks of an example never change)."""
        if self._arrays is None:
            picks = self.picks
            kind = np.array(picks["kind"].astype(str).to_numpy(), copy=True)
            columns = {
                name: np.array(picks[name].to_numpy(np.float64), copy=True)
                for name in ("x", "y", "diameter")
            }
            arrays = _PickArrays(
                **columns, kind=kind, labels=np.flatnonzero(~np.isin(kind, NOT_LABELS))
            )
            for array in (*columns.values(), kind, arrays.labels):
                array.setflags(write=False)
            object.__setattr__(self, "_arrays", arrays)
        return self._arrays  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class _PickArrays:
    """Pick columns of a :class:`TrainingExample`; ``labels``: indices of the labelled objects."""

    x: np.ndarray
    y: np.ndarray
    diameter: np.ndarray
    kind: np.ndarray
    labels: np.ndarray


@dataclass
class Batch:
    """Tensors of one training step (all on the training device).

    ``image`` ``[B, 1, S, S]``; ``targets``: ``heatmap`` ``[B, K, S/4, S/4]``,
    ``offset`` ``[B, 2, ...]``, ``size``, ``reg_mask``, ``negative_mask``
    ``[B, 1, ...]``; ``head``: the head it trains; ``names``: micrograph names.
    """

    image: torch.Tensor
    targets: dict[str, torch.Tensor]
    head: str
    names: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrainProgress:
    """Progress event of :func:`train_detector`.

    Attributes
    ----------
    step, total
        Steps done and planned (with a time budget: the steps projected to fit
        in it at the speed so far, at most ``steps``).
    losses
        Loss values of the last step (``heatmap``, ``offset``, ``size``,
        ``total`` and any ``extra_loss`` terms).
    lr
        Learning rate of the last step.
    elapsed_s
        Seconds since training started.
    phase
        ``"train"`` or ``"done"``; ``"calibrating"`` (yielded by
        :func:`napari_cryopick.workflows.train.train` after the loop) while the
        trained model picks training micrographs to choose its threshold.
    preview
        Predicted heatmap (sigmoid, first crop, first kind) ``[S/4, S/4]`` or None.
    eta_s
        Estimated seconds left: the sooner of the time budget's end and the
        remaining steps at the mean step time so far (None: unknown).
    cap
        The most steps training takes (``TrainConfig.steps`` after its limits):
        ``total`` below it is an estimate of what fits in the time budget.
    """

    step: int
    total: int
    losses: dict[str, float]
    lr: float
    elapsed_s: float
    phase: str = "train"
    preview: np.ndarray | None = field(default=None, compare=False, repr=False)
    eta_s: float | None = None
    cap: int | None = None

    def postfix(self) -> str:
        """Short text for a tqdm progress bar."""
        if self.phase == "calibrating":  # workflows.train: the loop is over
            return "choosing the pick threshold on the training micrographs"
        parts = [f"loss={self.losses.get('total', float('nan')):.3f}"]
        parts += [f"{k}={v:.3f}" for k, v in self.losses.items() if k not in ("total",)]
        parts.append(f"lr={self.lr:.1e}")
        if self.eta_s is not None and self.phase != "done":
            parts.append(f"eta={self.eta_s:.0f}s")
        return " ".join(parts)


@dataclass
class TrainResult:
    """Result of :func:`train_detector`: the trained model (eval mode, CPU) and its history.

    ``planned_steps``: the steps training set out to do, after the few-label
    limit (``TrainConfig.views_per_label``); None where unknown.
    """

    model: Detector
    history: list[dict[str, Any]]
    completed: bool = True
    planned_steps: int | None = None


#: Prepared training images kept in memory by :func:`build_examples`, in bytes;
#: the images after the first that reach it go to the memory-mapped cache
#: (:func:`napari_cryopick.core.model.inputs.prepare_in_cache`), so a training set
#: of many micrographs costs this much plus crops, not one image per micrograph.
IN_MEMORY_PREPARED_BYTES = 1 << 30


def build_examples(
    micrographs: Sequence[np.ndarray],
    picks: Sequence[pd.DataFrame],
    diameter_px: float | Sequence[float],
    config: DetectorConfig,
    *,
    names: Sequence[str] | None = None,
    dataset: str = "",
    head: str | None = None,
) -> list[TrainingExample]:
    """Prepare micrographs and convert their picks to prepared pixels.

    Parameters
    ----------
    micrographs
        Images ``(rows, cols)`` in original pixels, or micrograph files read
        one at a time (memory then holds one original at a time).
    picks
        One pick table per micrograph, original pixels (negatives with
        ``kind="negative"``). NaN diameters become ``diameter_px``.
    diameter_px
        Particle diameter in original pixels (one for all, or per micrograph).
    config
        Detector configuration (target diameter).
    names
        Micrograph names; the ``micrograph`` column of the picks or
        ``micrograph_<i>`` if None.
    dataset, head
        Stored in every example.

    Returns
    -------
    list of TrainingExample
    """
    if len(micrographs) != len(picks):
        raise ValueError(f"{len(micrographs)} micrographs but {len(picks)} pick tables")
    diameters = (
        [float(diameter_px)] * len(micrographs)
        if np.isscalar(diameter_px)
        else [float(d) for d in diameter_px]  # type: ignore[union-attr]
    )
    if len(diameters) != len(micrographs):
        raise ValueError("diameter_px must be one value or one per micrograph")
    examples = []
    in_memory_bytes = 0
    for index, (image, table, diameter) in enumerate(zip(micrographs, picks, diameters)):
        source = str(names[index]) if names is not None else f"micrograph {index + 1}"
        if isinstance(image, str | os.PathLike):
            # streamed: one original micrograph in memory at a time (issue 14)
            from napari_cryopick.io.micrographs import read_micrograph

            source = str(image)  # (its file named, not only its stem: an I/O trial)
            image = read_micrograph(image).data
        try:  # as picking refuses it (a robustness trial trained on an all-zero micrograph)
            check_contrast(image)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}; leave it out of the training micrographs") from None
        if in_memory_bytes >= IN_MEMORY_PREPARED_BYTES:
            # the training set's prepared images already fill the budget: the rest
            # live in the memory-mapped cache, so memory does not grow with the set
            prepared = prepare_in_cache(image, diameter, config)
        else:
            # large prepared images go to a memory-mapped cache (inputs.CACHE_PIXELS)
            prepared = prepare_micrograph(image, diameter, config, cache=True)
        if not isinstance(prepared.image, np.memmap):
            in_memory_bytes += prepared.image.nbytes
        # picks off the micrograph: edge picks dropped with a count, all-outside an error
        table = picks_on_micrograph(table, image.shape, source=source, strict=False)
        table = table.copy()
        if "diameter" not in table.columns:
            table["diameter"] = np.nan
        if "kind" not in table.columns:
            table["kind"] = config.kinds[0]
        diameters_col = table["diameter"].to_numpy(np.float64)
        table["diameter"] = np.where(np.isfinite(diameters_col), diameters_col, diameter)
        if names is not None:
            name = str(names[index])
        elif "micrograph" in table.columns and len(table) and str(table["micrograph"].iloc[0]):
            name = str(table["micrograph"].iloc[0])
        else:
            name = f"micrograph_{index}"
        examples.append(
            TrainingExample(
                prepared=prepared,
                picks=to_prepared(table, prepared).reset_index(drop=True),
                name=name,
                dataset=dataset,
                head=head,
            )
        )
    return examples


# --- sampling and augmentation ---


def _crop(
    image: np.ndarray, top: int, left: int, size: int, rng: np.random.Generator, zero_pad: bool
) -> np.ndarray:
    """``size x size`` window at (top, left); outside the image: background noise or zeros."""
    rows, cols = image.shape
    r0, r1 = max(top, 0), min(top + size, rows)
    c0, c1 = max(left, 0), min(left + size, cols)
    inside = r0 < r1 and c0 < c1
    if inside and r0 == top and c0 == left and r1 == top + size and c1 == left + size:
        return image[r0:r1, c0:c1].copy()
    if zero_pad:
        crop = np.zeros((size, size), np.float32)
    else:
        stats = image[:: max(1, rows // 64), :: max(1, cols // 64)]
        crop = rng.normal(float(stats.mean()), float(stats.std()) or 1.0, (size, size))
        crop = crop.astype(np.float32)
    if inside:
        crop[r0 - top : r1 - top, c0 - left : c1 - left] = image[r0:r1, c0:c1]
    return crop


def _crop_origin(
    example: TrainingExample, size: int, config: TrainConfig, rng: np.random.Generator
) -> tuple[int, int]:
    rows, cols = example.prepared.image.shape
    arrays = example.pick_arrays()
    if len(arrays.labels) and rng.random() < config.positive_crop_fraction:
        index = int(arrays.labels[int(rng.integers(len(arrays.labels)))])
        jitter = rng.uniform(-0.4 * size, 0.4 * size, 2)
        centre_y = float(arrays.y[index]) + jitter[0]
        centre_x = float(arrays.x[index]) + jitter[1]
        return round(centre_y - size / 2), round(centre_x - size / 2)
    margin = int(config.edge_margin * size)
    top = int(rng.integers(min(0, rows - size) - margin, max(0, rows - size) + margin + 1))
    left = int(rng.integers(min(0, cols - size) - margin, max(0, cols - size) + margin + 1))
    return top, left


def _resize(crop: np.ndarray, size: int) -> np.ndarray:
    """``crop`` (square) bilinearly resampled to ``size x size`` (pixel centres aligned),
    with antialiasing: without it zoomed-in crops were blurred and zoomed-out ones aliased,
    so sharpness told the zoom, and vesicle sizes came out 4-12 % small (session 39)."""
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(crop, np.float32))[None, None]
    out = F.interpolate(
        tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return out[0, 0].numpy()


def _augment_intensity(
    crop: np.ndarray, config: TrainConfig, rng: np.random.Generator
) -> np.ndarray:
    gain = rng.uniform(*config.gain_range)
    offset = rng.uniform(*config.offset_range)
    gamma = rng.uniform(*config.gamma_range)
    out = gain * crop + offset
    out = np.sign(out) * np.abs(out) ** gamma
    noise = rng.uniform(*config.noise_range)
    if noise > 0:
        out = out + rng.normal(0.0, noise, out.shape)
    return out.astype(np.float32)


def _dihedral(
    crop: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random transpose / vertical / horizontal flip: the 8 symmetries of the square."""
    size = crop.shape[0]
    if rng.random() < 0.5:
        crop, x, y = crop.T, y, x
    if rng.random() < 0.5:
        crop, y = crop[::-1, :], (size - 1) - y
    if rng.random() < 0.5:
        crop, x = crop[:, ::-1], (size - 1) - x
    return np.ascontiguousarray(crop), x, y


def sample_batch(
    examples: Sequence[TrainingExample],
    model_config: DetectorConfig,
    config: TrainConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray], list[str], list[str]]:
    """Random augmented crops and their targets (numpy, not yet tensors).

    Returns
    -------
    image, targets, names, datasets
        ``image`` ``[B, 1, S, S]`` float32; targets as in
        :func:`~napari_cryopick.core.model.targets.build_targets` with a batch axis.
    """
    size = config.crop_size
    images, target_list, names, datasets = [], [], [], []
    for _ in range(config.batch_size):
        example = examples[int(rng.integers(len(examples)))]
        # scale augmentation (vesicles): a window of size / zoom resampled to size, so the
        # size head sees many sizes even from clicks of similar size
        zoom = 1.0
        if config.scale_range is not None and config.augment:
            low, high = config.scale_range
            zoom = math.exp(rng.uniform(math.log(low), math.log(high)))
        source = max(16, round(size / zoom))
        zoom = size / source
        top, left = _crop_origin(example, source, config, rng)
        zero_pad = rng.random() < config.zero_pad_probability
        crop = _crop(example.prepared.image, top, left, source, rng, zero_pad)
        if source != size:
            crop = _resize(crop, size)
        picks = example.pick_arrays()
        margin = 0.5 * size  # neighbours just outside still shape the visible heatmap
        x = (picks.x - left + 0.5) * zoom - 0.5
        y = (picks.y - top + 0.5) * zoom - 0.5
        keep = (x > -margin) & (x < size + margin) & (y > -margin) & (y < size + margin)
        x, y = x[keep], y[keep]
        if config.augment:
            crop, x, y = _dihedral(crop, x, y, rng)
            crop = _augment_intensity(crop, config, rng)
        target_list.append(
            build_targets_from_arrays(
                x,
                y,
                picks.diameter[keep] * zoom,
                picks.kind[keep],
                (size, size),
                model_config.kinds,
                stride=model_config.stride,
                target_diameter_px=model_config.target_diameter_px,
                offset_radius=config.offset_radius,
            )
        )
        images.append(crop)
        names.append(example.name)
        datasets.append(example.dataset)
    image = np.stack(images)[:, None].astype(np.float32)
    targets = {key: np.stack([t[key] for t in target_list]) for key in target_list[0]}
    return image, targets, names, datasets


def batch_losses(
    outputs: dict[str, torch.Tensor], batch: Batch, train_config: TrainConfig
) -> dict[str, torch.Tensor]:
    """The detection losses of one batch with the sparse-label settings of ``train_config``.

    Every training mode uses this one function, so the sparse-annotation
    handling (pseudo-labels, reduced penalty, full penalty on user negatives)
    applies everywhere.
    """
    return detection_losses(
        outputs,
        batch.targets,
        sparse=train_config.sparse,
        pseudo_label_threshold=train_config.pseudo_label_threshold,
        reduce_penalty_above=train_config.reduce_penalty_above,
        reduced_penalty=train_config.reduced_penalty,
        offset_weight=train_config.offset_weight,
        size_weight=train_config.size_weight,
    )


class _ModelAverage:
    """Exponential moving average of a model's floating-point state (weights and BN statistics).

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n``
    updates, so the average is not dominated by the random initialisation.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.updates = 0
        self.state = {
            key: value.detach().clone()
            for key, value in model.state_dict().items()
            if value.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        current = model.state_dict()
        for key, average in self.state.items():
            value = current.get(key)
            if value is None or value.shape != average.shape:
                # A head added or replaced after the average started.
                self.state[key] = value.detach().clone() if value is not None else average
                continue
            average.mul_(decay).add_(value.detach(), alpha=1.0 - decay)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        current = model.state_dict()
        for key, average in self.state.items():
            if key in current and current[key].shape == average.shape:
                current[key].copy_(average)


#: The most of the time budget the learning-rate warm-up may take
#: (:func:`_learning_rate`). A run that does its ``warmup_steps`` within this share
#: (the default 50 warm-up steps in a run of 200 or more) keeps the step schedule;
#: a slower one ends its warm-up by this share of the budget, so that the decay
#: still runs: on a loaded CPU a 47-step continual run never left the 50-step
#: warm-up and kept the weights of its peak learning rate.
WARMUP_TIME_FRACTION = 0.25


def _learning_rate(
    step: int,
    config: TrainConfig,
    time_fraction: float = 0.0,
    warmup_time_fraction: float | None = None,
) -> float:
    """Linear warm-up, then cosine decay to 5 % of ``lr``, by steps or by time.

    ``time_fraction`` (elapsed / time budget) moves the decay on when the
    time budget runs out before the steps do, so the decay ends by the
    deadline. The warm-up ends after ``warmup_steps`` or once
    ``warmup_time_fraction`` (default ``time_fraction``) reaches
    :data:`WARMUP_TIME_FRACTION`, whichever comes first; a run whose warm-up
    steps fit in that share of the budget gets the step schedule unchanged.
    """
    if warmup_time_fraction is None:
        warmup_time_fraction = time_fraction
    warm_by_time = warmup_time_fraction / WARMUP_TIME_FRACTION
    if step < config.warmup_steps and warm_by_time < 1.0:
        return max(config.lr * (step + 1) / config.warmup_steps, config.lr * warm_by_time)
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    progress = max(progress, time_fraction)
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def count_labels(examples: Sequence[TrainingExample]) -> int:
    """Labelled objects in the examples (negatives and "unknown" places excluded; replicas once)."""
    unique = {id(e): e for e in examples}.values()
    return sum(len(e.pick_arrays().labels) for e in unique)


def views_step_count(
    views_per_label: float, labels: int, batch_size: int, positive_crop_fraction: float
) -> int:
    """Steps that centre ``views_per_label`` crops on each of ``labels`` objects on average,
    before :func:`label_step_limit`'s bounds."""
    per_step = batch_size * max(positive_crop_fraction, 1e-6)
    return math.ceil(views_per_label * labels / per_step)


def label_step_limit(config: TrainConfig, labels: int) -> int:
    """The steps ``config`` allows for ``labels`` labelled objects (see ``views_per_label``)."""
    if config.views_per_label is None:
        return config.steps
    limit = views_step_count(
        config.views_per_label, labels, config.batch_size, config.positive_crop_fraction
    )
    return int(min(config.steps, max(limit, 2 * config.warmup_steps, 1)))


def _planned_steps(
    done: int, steps: int, elapsed: float, limit: float | None, out_of_time: bool
) -> int:
    """Steps training will reach: ``steps``, or fewer where the time budget ends first.

    Progress bars then end at the budget and their remaining time is right. Not
    before :data:`ESTIMATE_AFTER_STEPS` steps: the first ones carry the start-up (a
    CLI trial's bar said 62 steps after the first, then 1000).
    """
    if limit is None or done >= steps:
        return steps
    if out_of_time:
        return done
    if done < ESTIMATE_AFTER_STEPS:
        return steps
    return int(min(steps, max(done + 1, round(done * limit / max(elapsed, 1e-6)))))


#: Steps after which :func:`_planned_steps` estimates what fits in the time budget.
ESTIMATE_AFTER_STEPS = 10


def _eta(done: int, total: int, elapsed: float, limit: float | None) -> float:
    """Seconds left: remaining steps at the mean step time, capped by the time budget."""
    left = (total - done) * elapsed / max(done, 1)
    if limit is not None:
        left = min(left, max(limit - elapsed, 0.0))
    return float(left)


ExtraLoss = Callable[[Detector, Batch, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class TrainingDiverged(ValueError):
    """The training loss stopped being finite: the weights are lost, nothing to keep."""


class _Prefetcher:
    """``make()``'s results in order, made up to ``depth`` ahead in a background thread
    (``depth`` 0: made on demand, in the caller's thread).

    Crops are numpy work on the CPU; on a GPU they otherwise leave it idle for half of
    each step. One producer calls ``make`` in sequence, so what it draws from a random
    generator is drawn in the same order as without the thread.
    """

    def __init__(self, make: Callable[[], Any], depth: int) -> None:
        import queue
        import threading

        self._make = make
        self._depth = depth
        if depth <= 0:
            return
        self._queue: Any = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="cryopick-batches", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            while self._put((True, self._make())):
                pass
        except BaseException as error:  # said by next(), in the training's thread
            self._put((False, error))

    def next(self) -> Any:
        if self._depth <= 0:
            return self._make()
        made, item = self._queue.get()
        if not made:
            raise item
        return item

    def close(self) -> None:
        if self._depth <= 0:
            return
        self._stop.set()
        # it stops at its next batch; what it still touches (the generator, the
        # examples) nobody uses after training, so the end of training does not wait
        # long for it (a GPU profile spent 4 s here)
        self._thread.join(timeout=1.0)


# Trained weights stay within a few tens; a step at an absurd learning rate throws them
# far past this.
_MAX_WEIGHT = 1e6
#: A training whose loss ends this many times above its first step's (and above
#: :data:`_LOSS_FLOOR`) made the model worse than it started: diverged. On the tests' blobs
#: (40 steps) the detection loss ends at 0.1-0.6x its start for learning rates 1e-3 to 1,
#: 1.3x at 3, about 10x at 10 and 1900x at 100.
_LOSS_RISE = 10.0
_LOSS_FLOOR = 1.0


def _check_weights(model: Detector, history: list[dict[str, Any]], lr: float) -> None:
    """Raise TrainingDiverged when the training left a model no one can use.

    The loss is checked before each update, so a divergence on the last step (a trial's
    --lr 1e30 --steps 1: weights near 1e28 written over a good model, exit 0) shows only
    in the weights. A learning rate high enough to wreck the model but not to overflow
    (a trial's --lr 100: a model that picked nothing written over a good one, exit 0)
    shows in the loss: its last steps' median far above the first step's.
    """
    step = history[-1]["step"] if history else 0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            largest = float(parameter.detach().abs().max()) if parameter.numel() else 0.0
            if not math.isfinite(largest) or largest > _MAX_WEIGHT:
                raise TrainingDiverged(
                    f"training diverged at step {step}: weight {name} reached {largest:.3g} "
                    f"(learning rate {lr:.3g}: too high?); no model is written"
                )
    if len(history) < 2:
        return
    # the detection loss (heatmap, offset, size): continual learning's drift penalty grows
    # from 0 by design, so the total may rise in a sound training

    def detection(entry: dict[str, Any]) -> float:
        return sum(float(entry.get(key, 0.0)) for key in ("heatmap", "offset", "size"))

    first = detection(history[0])
    last = history[-max(1, len(history) // 10) :]
    late = float(np.median([detection(entry) for entry in last]))
    if late > max(_LOSS_RISE * first, _LOSS_FLOOR):
        raise TrainingDiverged(
            f"training diverged: the detection loss rose from {first:.3g} at step 1 to "
            f"{late:.3g} over the last {len(last)} step(s) (learning rate {lr:.3g}: too "
            "high?); no model is written"
        )


def _probe_input(examples: Sequence[TrainingExample], crop_size: int) -> np.ndarray:
    """A fixed crop of the first example (top left, ``crop_size`` px, zero-padded) that
    the model sees before and after training (:func:`_check_heatmap`)."""
    image = np.asarray(examples[0].prepared.image, np.float32)
    crop = image[:crop_size, :crop_size]
    padded = np.zeros((crop_size, crop_size), np.float32)
    padded[: crop.shape[0], : crop.shape[1]] = crop
    return padded[None, None]


def _probe_heatmap(model: Detector, probe: np.ndarray, head: str) -> np.ndarray:
    """The model's heatmap logits on ``probe`` (evaluation mode; the mode is restored)."""
    modes = {module: module.training for module in model.modules()}
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.from_numpy(probe).to(device), head=head)["heatmap"]
    finally:
        for module, training in modes.items():
            module.training = training
    return out.float().cpu().numpy()


def _check_heatmap(
    before: np.ndarray, after: np.ndarray, history: list[dict[str, Any]], lr: float
) -> None:
    """Raise TrainingDiverged when training left a heatmap no threshold can pick from.

    A trial's --lr 10 and --lr 100 with --init of a good model (AP 0.87) wrote, exit 0,
    a model whose heatmap was one value everywhere (logit -1.89: 1600 picks a
    micrograph, AP 0.05) and one above 0.5 everywhere (logits 1e5 to 3e7: picks of
    infinite diameter); neither the weights nor the loss of the last steps showed it.
    Checked on one fixed crop of the first micrograph, before and after: a heatmap that
    varied (by a logit of 0.5 or more) and became flat (1 % of that), or that became
    above 0.5 on more than half of the crop.
    """
    step = history[-1]["step"] if history else 0
    said = f"(learning rate {lr:.3g}: too high?); no model is written"
    if not np.isfinite(after).all():
        raise TrainingDiverged(
            f"training diverged at step {step}: the heatmap is not finite everywhere {said}"
        )
    spread_before = float(np.ptp(before)) if np.isfinite(before).all() else 0.0
    if spread_before >= 0.5 and float(np.ptp(after)) < 0.01 * spread_before:
        raise TrainingDiverged(
            f"training diverged by step {step}: the model's heatmap became one value "
            f"everywhere {said}"
        )
    high = float(np.mean(after > 0.0))  # logit 0: 0.5
    if high > 0.5 and float(np.mean(before > 0.0)) <= 0.5:
        raise TrainingDiverged(
            f"training diverged by step {step}: the model's heatmap is above 0.5 on "
            f"{100 * high:.0f}% of the micrograph {said}"
        )


def train_detector(
    examples: Sequence[TrainingExample],
    *,
    model: Detector | None = None,
    config: DetectorConfig | None = None,
    train_config: TrainConfig | None = None,
    head: str = "generic",
    extra_loss: ExtraLoss | None = None,
    parameters: Callable[[Detector], Any] | None = None,
    budget_start: float | None = None,
    repeat_start: float | None = None,
) -> Generator[TrainProgress, None, TrainResult]:
    """Train a detector on prepared examples, yielding progress events.

    Parameters
    ----------
    examples
        From :func:`build_examples`; at least one with a labelled object.
    model
        Detector to train **in place** (fine-tuning / ``--init``); a new one
        from ``config`` if None. Pass a copy to keep the original.
    config
        Architecture of a new model (ignored when ``model`` is given).
    train_config
        Settings; defaults if None.
    head
        Head trained by examples whose ``head`` is None; created (copied from
        the default head) if the model does not have it.
    extra_loss
        ``extra_loss(model, batch, outputs) -> dict`` of scalar tensors added
        to the total loss (continual learning: distillation, drift penalty).
    parameters
        ``parameters(model)`` -> parameters or parameter groups for the
        optimiser (e.g. only a head); all parameters if None.
    budget_start
        :func:`time.perf_counter` value at which the time budget began (the
        training job's start); the loop then ends in time for the whole job
        to fit the budget (:func:`loop_time_limit`). None: the budget is the
        loop's own.
    repeat_start
        :func:`time.perf_counter` value from which on the job's work before the
        loop repeats after it (:func:`loop_time_limit`); None: ``budget_start``.

    Yields
    ------
    TrainProgress
        Every ``log_interval`` steps.

    Returns
    -------
    TrainResult
        The trained model (eval mode, on CPU) and the per-step loss history.
        Closing the generator stops training (the model stays partly trained;
        no files are written here in any case).
    """
    train_config = train_config or TrainConfig()
    examples = list(examples)
    if not examples:
        raise ValueError("no training examples")
    labels = count_labels(examples)
    if not labels:
        raise ValueError("no labelled objects in the training examples")
    steps = label_step_limit(train_config, labels)
    if steps < train_config.steps:
        train_config = dataclasses.replace(train_config, steps=steps)
    device = resolve_device(train_config.device)
    torch.manual_seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    if model is None:
        model = Detector(config or DetectorConfig())
    heads = sorted({ex.head or head for ex in examples})
    for name in heads:
        if name not in model.heads:
            model.add_head(name, init_from=model.default_head)
    by_head = {name: [ex for ex in examples if (ex.head or head) == name] for name in heads}
    head_weights = np.array([len(by_head[name]) for name in heads], float)
    head_weights /= head_weights.sum()

    probe = _probe_input(examples, train_config.crop_size)
    before = _probe_heatmap(model, probe, heads[0])
    model.to(device)
    model.train()
    if train_config.frozen_batchnorm:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    params = parameters(model) if parameters is not None else model.parameters()
    optimizer = torch.optim.AdamW(
        params, lr=train_config.lr, weight_decay=train_config.weight_decay
    )
    history: list[dict[str, Any]] = []
    ema = _ModelAverage(model, train_config.ema_decay) if train_config.ema_decay > 0 else None
    start = time.perf_counter()
    completed = False

    def make_batch() -> tuple[str, tuple[Any, ...]]:
        # the one consumer of rng in the loop: batches come in the same order whether
        # made ahead in a thread or here
        head_name = heads[int(rng.choice(len(heads), p=head_weights))]
        return head_name, sample_batch(by_head[head_name], model.config, train_config, rng)

    ahead = train_config.prefetch_batches
    if ahead is None:
        ahead = 2 if device.type == "cuda" else 0
    batches = _Prefetcher(make_batch, ahead)
    try:
        limit = loop_time_limit(
            resolve_time_limit(train_config, device), budget_start, repeat_start
        )
        # the first step's one-off costs (a GPU loading its kernels) do not count towards
        # the warm-up's share of the budget
        first_step_s = 0.0
        for step in range(train_config.steps):
            elapsed = time.perf_counter() - start
            if step == 1:
                first_step_s = elapsed
            lr = _learning_rate(
                step,
                train_config,
                elapsed / limit if limit else 0.0,
                (elapsed - first_step_s) / limit if limit else 0.0,
            )
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            head_name, (image, targets, names, datasets) = batches.next()
            batch = Batch(
                image=torch.from_numpy(image).to(device),
                targets={k: torch.from_numpy(v).to(device) for k, v in targets.items()},
                head=head_name,
                names=names,
                datasets=datasets,
            )
            outputs = model(batch.image, head=batch.head)
            losses = batch_losses(outputs, batch, train_config)
            if extra_loss is not None:
                for key, value in extra_loss(model, batch, outputs).items():
                    losses[key] = value
                    losses["total"] = losses["total"] + value
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            optimizer.step()
            if ema is not None:
                ema.update(model)

            done = step + 1
            values = {key: float(value.detach()) for key, value in losses.items()}
            if not math.isfinite(values["total"]):
                # a trial's --lr inf: a model of NaN weights written, exit 0
                raise TrainingDiverged(
                    f"training diverged at step {done}: the loss became {values['total']} "
                    f"(learning rate {lr:.3g}: too high?); no model is written"
                )
            elapsed = time.perf_counter() - start
            history.append({"step": done, "lr": lr, "head": head_name, **values})
            out_of_time = limit is not None and elapsed >= limit
            if (
                done % max(1, train_config.log_interval) == 0
                or done == train_config.steps
                or out_of_time
            ):
                preview = None
                if train_config.preview_interval and done % train_config.preview_interval == 0:
                    preview = torch.sigmoid(outputs["heatmap"][0, 0].detach()).cpu().numpy()
                yield TrainProgress(
                    step=done,
                    total=_planned_steps(done, train_config.steps, elapsed, limit, out_of_time),
                    losses=values,
                    lr=lr,
                    elapsed_s=elapsed,
                    phase="done" if done == train_config.steps or out_of_time else "train",
                    preview=preview,
                    eta_s=_eta(done, train_config.steps, elapsed, limit),
                    cap=train_config.steps,
                )
            if out_of_time:
                break
        completed = True
    finally:
        # Runs on normal end and on close() (GeneratorExit) alike.
        batches.close()
        if ema is not None:
            ema.copy_to(model)
        model.eval()
        model.to("cpu")
    _check_weights(model, history, train_config.lr)
    _check_heatmap(before, _probe_heatmap(model, probe, heads[0]), history, train_config.lr)
    return TrainResult(
        model=model, history=history, completed=completed, planned_steps=train_config.steps
    )
