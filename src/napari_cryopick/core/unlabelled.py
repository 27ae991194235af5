"""Learning from the user's unlabelled micrographs: rounds of confident pseudo-labels.

A user clicks particles on a few micrographs but always has the rest of the
data set. :func:`train_with_unlabelled` trains in rounds (DeepEM's iterative
retraining, EPicker's sparse loss extended to whole micrographs):

1. train on the clicked micrographs for a share of the budget;
2. pick the unlabelled micrographs with the current model and keep the
   confident picks (score >= ``threshold``) as labels;
3. continue training on the clicked micrographs plus the pseudo-labelled
   ones with the sparse-label loss (an unlabelled cell the model scores high
   is only lightly penalised), for the rest of the budget.

Everything works in prepared pixels (:class:`~napari_cryopick.core.training.TrainingExample`):
unlabelled micrographs are examples without picks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_cryopick.core.model import Detector, DetectorConfig
from napari_cryopick.core.training import (
    TrainConfig,
    TrainingExample,
    TrainProgress,
    TrainResult,
    resolve_time_limit,
    train_detector,
)

__all__ = [
    "UnlabelledConfig",
    "protect_prior_detections",
    "pseudo_label",
    "train_with_unlabelled",
]


@dataclass
class UnlabelledConfig:
    """Settings of pseudo-label rounds.

    Parameters
    ----------
    rounds
        Pseudo-label rounds after the first training on the clicks (0: off).
    first_share
        Share of the step / time budget spent before the first round.
    threshold
        Picks of the unlabelled micrographs scoring at least this become labels.
    max_micrographs
        At most this many unlabelled micrographs are picked per round (the
        first ones given), which bounds the picking time.
    lr_scale
        Learning rate of the later rounds relative to ``TrainConfig.lr``.
    """

    rounds: int = 1
    first_share: float = 0.6
    threshold: float = 0.5
    max_micrographs: int = 8
    lr_scale: float = 0.5

    def __post_init__(self) -> None:
        if self.rounds < 0 or not 0.0 < self.first_share <= 1.0:
            raise ValueError("rounds must be >= 0 and first_share in (0, 1]")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")


def pseudo_label(
    model: Detector,
    examples: Sequence[TrainingExample],
    *,
    threshold: float = 0.5,
    device: str = "cpu",
) -> list[TrainingExample]:
    """The examples with the model's confident picks (prepared pixels) as labels."""
    from napari_cryopick.core.detect import PickConfig, pick_micrograph

    config = PickConfig(threshold=threshold, device=device, score_floor=threshold)
    diameter = float(model.config.target_diameter_px)
    kind = model.config.kinds[0]
    labelled = []
    for example in examples:
        result = pick_micrograph(model, example.prepared.image, diameter_px=diameter, config=config)
        picks = result.selected
        table = pd.DataFrame(
            {
                "x": picks["x"].to_numpy(np.float64),
                "y": picks["y"].to_numpy(np.float64),
                "diameter": np.full(len(picks), diameter),
                "kind": np.full(len(picks), kind, dtype=object),
            }
        )
        labelled.append(dataclasses.replace(example, picks=table))
    return labelled


#: Random places per micrograph that the clicks' scores are compared with
#: (the separation of :func:`protect_prior_detections`).
RANDOM_PLACES = 200


def _peak_scores(maps: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, stride: int):
    """The heatmap's maximum over the 3x3 cells around each point (prepared pixels)."""
    from scipy.ndimage import maximum_filter

    heatmap = maximum_filter(maps["heatmap"][0], size=3, mode="constant")
    rows = np.clip(((y + 0.5) / stride).astype(int), 0, heatmap.shape[0] - 1)
    cols = np.clip(((x + 0.5) / stride).astype(int), 0, heatmap.shape[1] - 1)
    return heatmap[rows, cols]


def protect_prior_detections(
    model: Detector,
    examples: Sequence[TrainingExample],
    *,
    head: str | None = None,
    floor: float = 0.15,
    quantile: float = 0.25,
    min_distance: float = 0.4,
    device: str = "cpu",
) -> tuple[list[TrainingExample], float | None, float | None, float | None]:
    """Mark the starting model's own detections on the training micrographs as "unknown".

    A user clicks a few particles; the hundreds of unlabelled particles around
    them are background to the detection loss, so training on a few clicks
    suppresses what the general model it started from could already find
    (β-gal, 10 clicks, 1000 steps: AP 0.10 without this, 0.18 with it; the
    untrained general model 0.66; see also ``TrainConfig.views_per_label``).
    As EPicker keeps a frozen copy of the old model, this keeps the
    starting model's view: its detections on the training micrographs that
    score like the user's clicks become ``kind="unknown"`` picks, where the
    loss reduces the negative penalty (:mod:`napari_cryopick.core.model.losses`).
    They are not labels: nothing pushes them up.

    "Score like the clicks": the threshold is the ``quantile`` of the starting
    model's scores at the clicked positions, and at least ``floor`` (the
    default pick threshold). Where the starting model does not see the
    protein (its scores at the clicks are about 0), few or no detections pass
    and training is unchanged.

    Parameters
    ----------
    model
        The starting model (not changed).
    examples
        Training examples with the user's picks (prepared pixels).
    head
        Head to detect with (the model's default if None).
    floor, quantile
        Threshold = ``max(floor, quantile of the click scores)``.
    min_distance
        Minimum distance between detections in diameters (as picking).
    device
        Torch device of the detection pass.

    Returns
    -------
    examples, threshold, separation, mirrored
        The examples with the protected detections appended (detections
        within half a diameter of a pick or a negative are not added), the
        threshold used, and how well the model already sees the protein: the
        probability that it scores a click above a random place of the same
        micrographs (the area under the ROC curve of click scores against the
        scores of :data:`RANDOM_PLACES` seeded random places per micrograph;
        0.5: chance); ``mirrored``: the same for the clicks mirrored top to
        bottom (far above ``separation``: pick files that count y from the
        bottom, read as counting from the top).
        Threshold and separations are None when no example has a click.
    """
    from scipy.spatial import cKDTree
    from scipy.stats import mannwhitneyu

    from napari_cryopick.core.detect import decode_picks, predict_maps
    from napari_cryopick.core.model.targets import UNKNOWN_KIND

    diameter = float(model.config.target_diameter_px)
    stride = int(model.config.stride)
    kind = model.config.kinds[0]
    rng = np.random.default_rng(0)
    maps_of, scores, places, mirrored = [], [], [], []
    for example in examples:
        maps = predict_maps(model, example.prepared.image, head=head, device=device)
        maps_of.append(maps)
        clicks = example.picks[example.picks["kind"] == kind]
        if len(clicks):
            x = clicks["x"].to_numpy(np.float64)
            y = clicks["y"].to_numpy(np.float64)
            scores.append(_peak_scores(maps, x, y, stride))
            rows, cols = example.prepared.image.shape[:2]
            mirrored.append(_peak_scores(maps, x, rows - 1.0 - y, stride))
            at_x, at_y = rng.uniform(0, cols, RANDOM_PLACES), rng.uniform(0, rows, RANDOM_PLACES)
            places.append(_peak_scores(maps, at_x, at_y, stride))
    if not scores:
        return list(examples), None, None, None
    click_scores = np.concatenate(scores)
    threshold = max(floor, float(np.quantile(click_scores, quantile)))
    background = np.concatenate(places)

    def above_background(values: np.ndarray) -> float:
        return mannwhitneyu(values, background).statistic / (values.size * background.size)

    separation = above_background(click_scores)
    separation_mirrored = above_background(np.concatenate(mirrored))
    protected = []
    for example, maps in zip(examples, maps_of, strict=True):
        found = decode_picks(
            maps,
            0,
            min_distance_cells=min_distance * diameter / stride,
            threshold=threshold,
            stride=stride,
            kind=UNKNOWN_KIND,
            diameter_px=diameter,
        )
        picks = example.picks
        if len(found) and len(picks):
            known = picks[["x", "y"]].to_numpy(np.float64)
            distance, _ = cKDTree(known).query(found[["x", "y"]].to_numpy(np.float64))
            found = found[distance > diameter / 2]
        if not len(found):
            protected.append(example)
            continue
        extra = pd.DataFrame(
            {
                "x": found["x"].to_numpy(np.float64),
                "y": found["y"].to_numpy(np.float64),
                "diameter": np.full(len(found), diameter),
                "kind": np.full(len(found), UNKNOWN_KIND, dtype=object),
            }
        )
        table = pd.concat([picks, extra], ignore_index=True)
        protected.append(dataclasses.replace(example, picks=table))
    return protected, threshold, float(separation), float(separation_mirrored)


def train_with_unlabelled(
    examples: Sequence[TrainingExample],
    unlabelled: Sequence[TrainingExample],
    *,
    model: Detector | None = None,
    config: DetectorConfig | None = None,
    train_config: TrainConfig | None = None,
    unlabelled_config: UnlabelledConfig | None = None,
    head: str = "generic",
) -> Generator[TrainProgress, None, TrainResult]:
    """:func:`~napari_cryopick.core.training.train_detector` plus pseudo-label rounds.

    The step and time budgets of ``train_config`` cover all rounds together
    (picking the unlabelled micrographs included). Without unlabelled
    micrographs or with ``rounds=0`` this is plain ``train_detector``.
    """
    train_config = train_config or TrainConfig()
    options = unlabelled_config or UnlabelledConfig()
    pool = list(unlabelled)[: options.max_micrographs]
    if not pool or options.rounds == 0:
        return (
            yield from train_detector(
                examples, model=model, config=config, train_config=train_config, head=head
            )
        )
    start = time.perf_counter()
    limit = resolve_time_limit(train_config)
    share = options.first_share
    first = dataclasses.replace(
        train_config,
        steps=max(1, round(train_config.steps * share)),
        time_limit_s=None if limit is None else limit * share,
    )
    result = yield from train_detector(
        examples, model=model, config=config, train_config=first, head=head
    )
    history = list(result.history)
    model = result.model
    done = len(history)
    for round_index in range(options.rounds):
        pseudo = pseudo_label(model, pool, threshold=options.threshold, device="cpu")
        pseudo = [e for e in pseudo if len(e.picks)]
        elapsed = time.perf_counter() - start
        steps_left = max(1, round((train_config.steps - done) / (options.rounds - round_index)))
        rounds_left = options.rounds - round_index
        time_left = None if limit is None else max(1.0, (limit - elapsed) / rounds_left)
        later = dataclasses.replace(
            train_config,
            steps=steps_left,
            time_limit_s=time_left,
            lr=train_config.lr * options.lr_scale,
            warmup_steps=min(train_config.warmup_steps, max(1, steps_left // 10)),
            sparse=True,
            seed=train_config.seed + round_index + 1,
        )
        result = yield from train_detector(
            list(examples) + pseudo, model=model, train_config=later, head=head
        )
        history += result.history
        model = result.model
        done = len(history)
    return TrainResult(model=model, history=history, completed=result.completed)
