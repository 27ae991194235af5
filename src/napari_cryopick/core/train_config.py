"""The training settings (:class:`TrainConfig`), importable without torch.

:mod:`napari_cryopick.core.training` re-exports it; the Train widget reads its
defaults when it docks, which no longer loads torch (2-4 s on a busy machine).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Optimisation, sampling, augmentation and sparse-label settings.

    Parameters
    ----------
    steps
        Optimiser steps.
    batch_size
        Crops per step.
    crop_size
        Crop side in prepared pixels (a multiple of 16 keeps padding out of
        the network). 128 (about 4.5 diameters of the 28 px target): within
        the time-bounded default training, a step costs a quarter of a 256 px
        crop's, so four times as many steps and random crop positions fit in
        the budget (``benchmarks/bench_accuracy.py``).
    lr, weight_decay
        AdamW learning rate (peak of a warm-up + cosine schedule) and weight decay.
    warmup_steps
        Linear learning-rate warm-up; under a time budget it ends by a quarter
        of the budget at the latest (:data:`~napari_cryopick.core.training.WARMUP_TIME_FRACTION`).
    sparse
        Labels are incomplete (EPicker): pseudo-labels and reduced penalties,
        see :mod:`napari_cryopick.core.model.losses`. False for complete labels.
    pseudo_label_threshold
        Unlabelled local maxima predicted above this are treated as positives.
    reduce_penalty_above
        Where the prediction is above this, unlabelled cells are penalised by
        ``reduced_penalty`` only.
    reduced_penalty
        Factor of the negative penalty there (user negatives: always 1).
    offset_weight, size_weight
        Weights of the L1 offset and log-size losses.
    offset_radius
        The offset is learned in the cells up to this many cells from each
        labelled centre cell too, pointing to the centre (0: the centre cell
        only, CenterNet), so a heatmap peak a cell off the centre still gives it.
    positive_crop_fraction
        Fraction of crops centred (with jitter) on a labelled object.
    edge_margin
        Fraction of ``crop_size`` a uniform crop may run past the micrograph
        edge; the outside is filled with noise of the micrograph's mean/std
        (or zeros, as in inference padding, with probability ``zero_pad_probability``).
    augment
        Dihedral flips/rotations and intensity jitter.
    gain_range, offset_range, gamma_range, noise_range
        Intensity jitter of normalised crops: ``sign(v)|gain*v + offset|^gamma``
        plus Gaussian noise with std drawn from ``noise_range``.
    seed
        Random seed (crops, augmentation, initialisation of a new model).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    log_interval
        Yield a :class:`TrainProgress` every this many steps (and at the last).
    preview_interval
        Attach the predicted heatmap of the first crop to the event every this
        many steps (0: never).
    time_limit_s
        Wall-clock budget in seconds; ``"auto"`` (default): 120 s on a CPU,
        20 s on a GPU (:func:`resolve_time_limit`); None: none (``steps``
        only). Training ends after the step that reaches it, and the
        learning-rate schedule follows whichever of steps and time is further
        along (the warm-up ends by :data:`~napari_cryopick.core.training.WARMUP_TIME_FRACTION` of the
        budget), so a slow (shared) CPU still gets the warm-up and the whole
        cosine decay within the budget.
    frozen_batchnorm
        Batch-norm layers normalise with their saved statistics during
        training (eval mode; their scale and shift still train) instead of
        each batch's, and the saved statistics stay.
    ema_decay
        Decay of an exponential moving average of the weights that replaces
        the trained weights at the end (0: none, the last weights are kept).
    views_per_label
        Training ends once each labelled object has been, on average, the
        centre of this many crops: at most ``views_per_label * labels /
        (batch_size * positive_crop_fraction)`` steps (and at least
        ``2 * warmup_steps``); None: no such limit. A few clicks seen
        hundreds of times teach the model that everything *unclicked* is
        background: from 10 clicks, 1000 steps gave AP 0.18 (β-gal), 0.09
        (apoferritin) and 0.42 (simulated L) where 150 gave 0.74, 0.30 and
        0.66 (``docs/general-model.md``). With the defaults: 15 steps per
        label, so from 67 labels on the ``steps`` / time budget decides.
    prefetch_batches
        Batches made ahead in a background thread while the network trains on
        the current one; None (default): 2 on a GPU, 0 (none) on a CPU. The
        batches are the same, in the same order, either way. On a GPU the
        crops (made on the CPU) took half of each step: 299 of the 1000 planned
        steps fitted the 20 s budget (docs/benchmarks.md, session 36). On a
        CPU the network's own threads use the cores.
    """

    steps: int = 1000
    batch_size: int = 8
    crop_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    sparse: bool = True
    pseudo_label_threshold: float = 0.7
    reduce_penalty_above: float = 0.5
    reduced_penalty: float = 0.1
    offset_weight: float = 1.0
    size_weight: float = 1.0
    offset_radius: int = 1
    positive_crop_fraction: float = 0.5
    edge_margin: float = 0.125
    zero_pad_probability: float = 0.3
    augment: bool = True
    gain_range: tuple[float, float] = (0.8, 1.25)
    offset_range: tuple[float, float] = (-0.2, 0.2)
    gamma_range: tuple[float, float] = (0.8, 1.25)
    noise_range: tuple[float, float] = (0.0, 0.3)
    seed: int = 0
    device: str = "auto"
    log_interval: int = 1
    preview_interval: int = 0
    time_limit_s: float | str | None = "auto"
    ema_decay: float = 0.0
    frozen_batchnorm: bool = False
    views_per_label: float | None = 60.0
    prefetch_batches: int | None = None
    #: Zoom range of the training crops, ``(low, high)``, drawn log-uniformly: a window of
    #: ``crop_size / zoom`` resampled to ``crop_size``, positions and sizes with it (the
    #: size head sees sizes beyond the clicked ones; vesicle models). None: no zoom.
    scale_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.crop_size < 16:
            raise ValueError(f"crop_size must be >= 16, got {self.crop_size}")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            # 0 is allowed here (a frozen run); the CLI's --lr asks for > 0
            raise ValueError(f"the learning rate must be a number >= 0, got {self.lr:g}")
        if not 0.0 <= self.reduce_penalty_above <= self.pseudo_label_threshold <= 1.0:
            raise ValueError("need 0 <= reduce_penalty_above <= pseudo_label_threshold <= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.scale_range is not None:
            low, high = self.scale_range
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"scale_range must be 0 < low <= high, got {self.scale_range}")
        if (
            not isinstance(self.offset_radius, int)
            or isinstance(self.offset_radius, bool)
            or not 0 <= self.offset_radius <= 8
        ):
            raise ValueError(
                f"offset_radius must be a whole number of cells in [0, 8], got {self.offset_radius}"
            )
        if self.prefetch_batches is not None and self.prefetch_batches < 0:
            raise ValueError(f"prefetch_batches must be >= 0, got {self.prefetch_batches}")
        if self.views_per_label is not None and not self.views_per_label > 0:
            raise ValueError(f"views_per_label must be > 0 or None, got {self.views_per_label}")
        if isinstance(self.time_limit_s, str):
            if self.time_limit_s != "auto":
                raise ValueError(
                    f"time_limit_s must be > 0, 'auto' or None, got {self.time_limit_s!r}"
                )
        elif self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be > 0, 'auto' or None, got {self.time_limit_s}")

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for checkpoint metadata."""
        values = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
