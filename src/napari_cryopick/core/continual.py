"""Training modes over several data sets: joint, fine-tune, continual, few-shot, new.

:func:`train_model` is the algorithm behind the training workflow
(:func:`napari_cryopick.workflows.train.train`, which the command line, the
napari Train widget and the benchmarks call). It is a generator of
:class:`napari_cryopick.core.training.TrainProgress` events returning a
:class:`ContinualResult` whose ``card`` (:class:`napari_cryopick.core.model.card.ModelCard`:
data sets, per-data-set diameters, exemplar bank, training history) becomes
the checkpoint's metadata. This module knows nothing of files or the command
line.

Heads (HydraPicker)
    One shared body; one named head per data set the model was trained on and
    a ``"generic"`` head for unseen data. A batch of data set ``d`` trains
    head ``d`` *and* the generic head (the generic head sees the union of all
    data sets, as HydraPicker's general head), and an L2 tie
    ``L_tie = sum_d ||theta_d - theta_generic||^2`` keeps the data-set heads
    close to the generic one (so a data-set head with little data cannot
    drift far, and the generic head stays a consensus of the data-set heads).
    Data-set heads start as copies of the generic head, so ``L_tie`` starts
    at 0.

Modes (:data:`MODES`)
    ``new``
        A fresh model trained on the given data (all data sets merged) through
        the generic head only: the single-data-set training of
        :func:`napari_cryopick.core.training.train_detector`.
    ``joint``
        A fresh model (or a copy of ``base_model``) trained on several data
        sets at once: one head per data set + generic, ``L = L_det(head_d) +
        generic_weight * L_det(generic) + tie_weight * L_tie``. Batches come
        from one data set each, drawn in proportion to its micrographs.
    ``finetune``
        Continue training ``base_model`` on the new data only, with the same
        head structure as ``joint`` but nothing against forgetting (the
        baseline).
    ``continual`` (EPicker)
        A frozen copy of ``base_model`` is kept. The new model trains on the
        new data *plus* the exemplar bank of the old data sets (a
        ``replay_fraction`` of the batches), with
        ``L = L_det + distill_weight * L_distill + reg_weight * L_reg``
        (+ the generic and tie terms), where ``L_distill`` is the mean squared
        difference of the two models' shared features and heatmaps
        (sigmoid; the exemplar's own head and the generic head) on exemplar
        crops, and ``L_reg = sum ||theta - theta_old||^2`` over every
        parameter the old model had.
    ``fewshot``
        A new head for one new data set; body and all other heads frozen (the
        body's batch-norm statistics too). The tie term pulls the new head
        toward the (frozen) generic head, a useful prior with 5 micrographs.

The detector loss, :func:`napari_cryopick.core.model.losses.detection_losses`
with the sparse-label handling of ``TrainConfig``, is used for every head and
every mode (data-set heads through ``train_detector`` itself, the generic head
through the same function in the extra-loss hook).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import logging
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from napari_cryopick.core.exemplars import (
    DEFAULT_MAX_PARTICLES,
    ExemplarBank,
    bank_from_metadata,
    bank_to_metadata,
    build_bank,
    empty_bank,
)
from napari_cryopick.core.model import Detector, DetectorConfig
from napari_cryopick.core.model.card import DatasetCard, ModelCard
from napari_cryopick.core.model.inputs import PreparedMicrograph
from napari_cryopick.core.model.network import pad_to_multiple
from napari_cryopick.core.model.targets import UNKNOWN_KIND
from napari_cryopick.core.training import (
    Batch,
    TrainConfig,
    TrainingExample,
    TrainProgress,
    TrainResult,
    batch_losses,
    train_detector,
)

__all__ = [
    "GENERIC_HEAD",
    "MODES",
    "ContinualConfig",
    "ContinualResult",
    "DatasetExamples",
    "diameter_for_head",
    "group_by_dataset",
    "train_config_for_mode",
    "train_model",
]

logger = logging.getLogger(__name__)

GENERIC_HEAD = "generic"
MODES: tuple[str, ...] = ("new", "joint", "finetune", "continual", "fewshot")
_EXEMPLAR_PREFIX = "exemplar:"


#: A run's recorded losses (``cryopick info``, the train command's line) are their
#: mean over this many last steps: one step's loss jumps with its batch.
LOSS_TAIL_STEPS = 20


@dataclass
class ContinualConfig:
    """Weights and settings of the multi-data-set modes.

    Parameters
    ----------
    distill_weight
        Weight of the distillation loss (``continual``), EPicker: 0.1.
    reg_weight
        Weight of the parameter-drift penalty (``continual``), EPicker: 0.01.
    tie_weight
        Weight of the HydraPicker L2 tie between data-set heads and the
        generic head (``joint``, ``finetune``, ``continual``, ``fewshot``).
    generic_weight
        Weight of the generic head's detection loss on every batch of a
        data-set head (0: the generic head learns only through the tie).
    replay_fraction
        Share of the ``continual`` batches drawn from the exemplar bank.
    max_exemplars
        Labelled particles kept per data set in the exemplar bank.
    exemplar_crop_size
        Side of the exemplar crops (prepared pixels); the training crop size if None.
    exemplar_micrographs
        Exemplars come preferably from this many most-labelled micrographs.
    distill_features, distill_heatmaps
        Which outputs the distillation compares.
    pretrained
        Mode ``new`` starts from the general model's body and generic head
        (:func:`napari_cryopick.core.model.pretrained.initialise_from_general`)
        when the architecture matches; False: random weights.
    pretrained_lr_scale
        Learning rate of a pretrained ``new`` model relative to ``TrainConfig.lr``.
    protect_prior
        Before training from a starting model (pretrained ``new``, or
        ``joint`` / ``finetune`` / ``continual`` from a base model with a
        generic head; not ``fewshot``, where it did not help), its own
        detections on the training micrographs that score like the user's clicks get a reduced negative
        penalty (:func:`napari_cryopick.core.unlabelled.protect_prior_detections`),
        so training on a few clicks does not unlearn the unclicked particles.
    pretrained_batchnorm
        A pretrained ``new`` model normalises with the general model's
        batch-norm statistics while it trains (``TrainConfig.frozen_batchnorm``)
        instead of each batch of the user's crops: the statistics of many
        data sets, not of eight crops of one (docs/general-model.md,
        session 9). A ``continual`` run keeps its base model's statistics
        the same way: its old heads were trained on them (session 18: after
        100 continual steps on β-gal the ribosome kept AP 0.86 instead of
        falling to 0.67; docs/continual-learning.md).
    seen_separation, seen_views_factor
        A pretrained ``new`` model whose starting model already sees the
        protein trains for ``seen_views_factor`` times
        ``TrainConfig.views_per_label`` crops per click. "Sees": the
        protection pass's separation (the probability that the starting
        model scores a click above a random place of the same micrographs,
        0.5 by chance) is at least ``seen_separation``. Adapting a model that
        already finds the particles needs fewer views of each click than
        learning a protein it cannot see, and more views teach it that the
        unclicked particles are background. On the developers' sets the
        leave-one-out general models separate the clicks at 0.56
        (apoferritin: unseen, and half the views cost it up to 0.06 from 10
        clicks), 0.69 (simulated L), 0.90-0.94 (β-gal, ribosome, simulated
        ring: half the views gained 0.001-0.016; docs/general-model.md,
        session 11).
    warn_mirrored
        The protection pass warns when the starting model sees the clicks far better
        mirrored top to bottom (:func:`looks_mirrored`). ``cryopick train`` turns it off
        where its click check said so already (a trial read the warning twice, in two
        wordings).
    """

    distill_weight: float = 0.1
    reg_weight: float = 0.01
    tie_weight: float = 0.01
    generic_weight: float = 1.0
    replay_fraction: float = 0.5
    max_exemplars: int = DEFAULT_MAX_PARTICLES
    exemplar_crop_size: int | None = None
    exemplar_micrographs: int = 2
    distill_features: bool = True
    distill_heatmaps: bool = True
    pretrained: bool = True
    pretrained_lr_scale: float = 0.3333
    protect_prior: bool = True
    pretrained_batchnorm: bool = True
    seen_separation: float = 0.75
    seen_views_factor: float = 0.5
    warn_mirrored: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.seen_views_factor <= 1.0:
            raise ValueError(f"seen_views_factor must be in (0, 1], got {self.seen_views_factor}")
        if not 0.0 <= self.replay_fraction < 1.0:  # (NaN too)
            raise ValueError(f"replay_fraction must be in [0, 1), got {self.replay_fraction}")
        for name in ("distill_weight", "reg_weight", "tie_weight", "generic_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):  # a NaN passed "< 0" (a CLI trial)
                raise ValueError(f"{name} must be a number >= 0, got {value}")
        if self.max_exemplars < 0:
            raise ValueError("max_exemplars must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for checkpoint metadata."""
        return dict(vars(self))


@dataclass(frozen=True)
class DatasetExamples:
    """The training examples of one data set.

    Attributes
    ----------
    name
        Data-set name; also the name of its head (not ``"generic"``).
    examples
        From :func:`napari_cryopick.core.training.build_examples`.
    diameter_px
        Particle diameter in original pixels; derived from the examples'
        preparation scale if None.
    """

    name: str
    examples: Sequence[TrainingExample]
    diameter_px: float | None = None

    @property
    def labels(self) -> int:
        """Its labelled objects (every pick but negatives), as its model card counts them."""
        return int(sum(int((e.picks["kind"] != "negative").sum()) for e in self.examples))


@dataclass
class ContinualResult(TrainResult):
    """Result of :func:`train_model`.

    Attributes
    ----------
    model
        The trained detector (eval mode, CPU).
    history
        Per-step loss records of this run.
    completed
        False when the run was stopped early.
    metadata
        Checkpoint metadata: ``datasets``, ``dataset_info``, ``diameter_px``,
        ``exemplars`` (the bank), ``history`` (all runs, this one last).
    bank
        The exemplar bank stored in ``metadata``.
    run
        This run's history record.
    card
        The model card; ``metadata`` is ``card.to_metadata()``.
    """

    metadata: dict[str, Any] = field(default_factory=dict)
    bank: ExemplarBank = field(default_factory=empty_bank)
    run: dict[str, Any] = field(default_factory=dict)
    card: ModelCard = field(default_factory=ModelCard)


# --- metadata helpers (the model card owns them; kept for the GUI) ---


def diameter_for_head(metadata: dict[str, Any] | None, head: str | None) -> float | None:
    """Particle diameter (original pixels) to pick with ``head`` (shorthand for the model card's).

    The data set's own diameter for a data-set head, else the model's
    ``diameter_px`` (the last data set trained), else None
    (:meth:`napari_cryopick.core.model.card.ModelCard.diameter_for_head`).
    """
    return ModelCard.from_metadata(metadata).diameter_for_head(head)


def _dataset_diameter(dataset: DatasetExamples, config: DetectorConfig) -> float:
    if dataset.diameter_px is not None:
        return float(dataset.diameter_px)
    scales = [
        np.sqrt(ex.prepared.scale_x * ex.prepared.scale_y) for ex in dataset.examples if ex.prepared
    ]
    return float(config.target_diameter_px / np.median(scales)) if scales else float("nan")


def group_by_dataset(
    examples: Sequence[TrainingExample], default: str = "dataset"
) -> list[DatasetExamples]:
    """Group examples by their ``dataset`` attribute (empty names become ``default``)."""
    groups: dict[str, list[TrainingExample]] = {}
    for example in examples:
        groups.setdefault(example.dataset or default, []).append(example)
    return [DatasetExamples(name, items) for name, items in groups.items()]


# --- loss terms ---


def head_tie_loss(model: Detector, heads: Sequence[str], generic: str = GENERIC_HEAD) -> Tensor:
    """HydraPicker tie ``sum_h ||theta_h - theta_generic||^2`` over the named heads."""
    reference = dict(model.heads[generic].named_parameters())
    total = next(model.parameters()).new_zeros(())
    for name in heads:
        if name == generic or name not in model.heads:
            continue
        for key, parameter in model.heads[name].named_parameters():
            total = total + (parameter - reference[key]).pow(2).sum()
    return total


def drift_loss(model: nn.Module, old_parameters: dict[str, Tensor]) -> Tensor:
    """EPicker drift penalty ``sum ||theta - theta_old||^2`` over the old model's parameters."""
    total = next(model.parameters()).new_zeros(())
    for name, parameter in model.named_parameters():
        old = old_parameters.get(name)
        if old is not None:
            total = total + (parameter - old).pow(2).sum()
    return total


def _frozen_copy(model: Detector) -> Detector:
    """A copy that never changes: no gradients, batch norm on batch statistics without updates.

    Its running statistics stay as saved. The student of a continual run keeps
    its own running statistics (``TrainConfig.frozen_batchnorm``), so the two
    normalise differently and ``distill`` is not 0 at the first step. A teacher
    on the saved running statistics (identical outputs at step 0) was measured
    on 2026-12-03 and not kept: the same forgetting, and apoferritin, the new
    data set, learnt far less (AP@0.5 8.3 / 7.3 against 19.2 / 19.0 in two
    seeds; docs/continual-learning.md).
    """
    frozen = copy.deepcopy(model)
    frozen.train()
    for module in frozen.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.track_running_stats = False
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen


def _body_features(model: Detector, image: Tensor) -> Tensor:
    padded, (height, width) = pad_to_multiple(image, model.size_multiple)
    features = model.body(padded)  # [B, C, Hp/4, Wp/4]
    out_h = -(-height // model.stride)
    out_w = -(-width // model.stride)
    return features[..., :out_h, :out_w]


def _detection(outputs: dict[str, Tensor], batch: Batch, train_config: TrainConfig) -> Tensor:
    return batch_losses(outputs, batch, train_config)["total"]


class _ExtraLoss:
    """The ``extra_loss`` hook of :func:`train_detector` for every mode.

    Returns the *weighted* terms ``generic``, ``tie``, ``distill`` and
    ``drift`` (those the mode has); ``train_detector`` adds them to ``total``
    and records each in the loss history.
    """

    def __init__(
        self,
        *,
        train_config: TrainConfig,
        continual_config: ContinualConfig,
        tie_heads: Sequence[str],
        train_generic: bool,
        frozen: Detector | None = None,
        adopted: Sequence[str] = (),
    ):
        self.train_config = train_config
        self.config = continual_config
        self.tie_heads = list(tie_heads)
        self.train_generic = train_generic
        self.frozen = frozen
        # earlier data sets given their own head by this run: the frozen model picked
        # them with its generic head, which their heads are distilled towards
        self.adopted = frozenset(adopted)
        self.old_parameters: dict[str, Tensor] = {}
        if frozen is not None:
            self.old_parameters = {n: p.detach() for n, p in frozen.named_parameters()}

    def __call__(
        self, model: Detector, batch: Batch, outputs: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        cfg = self.config
        terms: dict[str, Tensor] = {}
        has_generic = GENERIC_HEAD in model.heads
        generic_outputs = None
        if self.train_generic and has_generic and batch.head != GENERIC_HEAD:
            generic_outputs = model.heads[GENERIC_HEAD](outputs["features"])
            terms["generic"] = cfg.generic_weight * _detection(
                generic_outputs, batch, self.train_config
            )
        if has_generic and cfg.tie_weight > 0 and self.tie_heads:
            terms["tie"] = cfg.tie_weight * head_tie_loss(model, self.tie_heads)
        if self.frozen is not None:
            if self.frozen.body.stem[0].weight.device != batch.image.device:
                self.frozen.to(batch.image.device)
                self.old_parameters = {n: p.detach() for n, p in self.frozen.named_parameters()}
            drift = drift_loss(model, self.old_parameters)
            distill = self._distill(model, batch, outputs, generic_outputs)
            terms["distill"] = cfg.distill_weight * distill
            terms["drift"] = cfg.reg_weight * drift
        return terms

    def _distill(
        self,
        model: Detector,
        batch: Batch,
        outputs: dict[str, Tensor],
        generic_outputs: dict[str, Tensor] | None,
    ) -> Tensor:
        """Squared difference student vs frozen teacher on the exemplar crops of the batch.

        Normalised like the focal loss (sum over cells / number of labelled
        objects) so ``distill_weight`` weighs it against the detection loss in
        the same units; features are averaged over channels first.
        """
        zero = outputs["heatmap"].new_zeros(())
        mask = torch.tensor(
            [name.startswith(_EXEMPLAR_PREFIX) for name in batch.names], device=batch.image.device
        )
        if not bool(mask.any()):
            return zero
        frozen = self.frozen
        assert frozen is not None
        with torch.no_grad():
            teacher_features = _body_features(frozen, batch.image)
        total = zero
        n_objects = batch.targets["reg_mask"][mask].sum().clamp(min=1.0)
        if self.config.distill_features:
            difference = (outputs["features"][mask] - teacher_features[mask]).pow(2)
            total = total + difference.mean(dim=1).sum() / n_objects
        if self.config.distill_heatmaps:
            pairs = []
            if batch.head in frozen.heads:
                pairs.append((batch.head, outputs))
            elif batch.head in self.adopted and GENERIC_HEAD in frozen.heads:
                # an adopted head keeps what the old generic head picked of its data set
                pairs.append((GENERIC_HEAD, outputs))
            if batch.head != GENERIC_HEAD and GENERIC_HEAD in frozen.heads:
                student = generic_outputs
                if student is None:
                    student = model.heads[GENERIC_HEAD](outputs["features"])
                pairs.append((GENERIC_HEAD, student))
            for head, student in pairs:
                with torch.no_grad():
                    teacher = frozen.heads[head](teacher_features)["heatmap"]
                difference = torch.sigmoid(student["heatmap"][mask]) - torch.sigmoid(teacher[mask])
                total = total + difference.pow(2).sum() / n_objects
        return total


# --- the one training API ---


def heads_to_adopt(model: Detector, bank: ExemplarBank, names: Sequence[str]) -> list[str]:
    """Earlier data sets a ``continual`` run gives their own head (a copy of the generic).

    A data set with exemplars but no own head (a ``--mode new`` model's: only
    the generic head knew it, and continual training moves the generic head
    to the new data) is kept by its own head and the replay of its exemplars.
    """
    if GENERIC_HEAD not in model.heads:
        return []
    return [n for n in bank.datasets if n not in model.heads and n not in names]


def _exemplar_examples(bank: ExemplarBank, model: Detector) -> dict[str, list[TrainingExample]]:
    """Bank crops as training examples, grouped by data set (head: the data set's or generic)."""
    out: dict[str, list[TrainingExample]] = {}
    for name, entry in bank.datasets.items():
        head = name if name in model.heads else model.default_head
        items = []
        for index in range(entry.n_crops):
            picks = entry.crop_picks(index)
            items.append(
                TrainingExample(
                    prepared=PreparedMicrograph(
                        image=entry.crops[index].astype(np.float32), scale_y=1.0, scale_x=1.0
                    ),
                    picks=picks,
                    name=f"{_EXEMPLAR_PREFIX}{entry.micrographs[index]}",
                    dataset=name,
                    head=head,
                )
            )
        if items:
            out[name] = items
    return out


def _with_head(examples: Sequence[TrainingExample], head: str | None) -> list[TrainingExample]:
    return [
        TrainingExample(
            prepared=e.prepared, picks=e.picks, name=e.name, dataset=e.dataset, head=head
        )
        for e in examples
    ]


def _replicate(items: list[TrainingExample], times: int) -> list[TrainingExample]:
    return [item for _ in range(max(1, times)) for item in items]


def _validate(mode: str, datasets: Sequence[DatasetExamples], base_model: Detector | None) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown training mode {mode!r}; choose one of {', '.join(MODES)}")
    if not datasets:
        raise ValueError("no data sets to train on")
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"data-set names must be unique, got {names}")
    for dataset in datasets:
        if not dataset.examples:
            raise ValueError(f"data set {dataset.name!r} has no examples")
        if mode != "new" and dataset.name in ("", GENERIC_HEAD):
            raise ValueError(f"data-set name {dataset.name!r} is reserved; name the data set")
    if mode in ("finetune", "continual", "fewshot") and base_model is None:
        raise ValueError(f"mode {mode!r} needs a base model")
    if mode == "fewshot" and len(datasets) != 1:
        raise ValueError("mode 'fewshot' trains one new head: give exactly one data set")
    if mode == "fewshot" and base_model is not None and GENERIC_HEAD not in base_model.heads:
        raise ValueError("mode 'fewshot' needs a base model with a generic head")


def train_model(
    mode: str,
    datasets: Sequence[DatasetExamples],
    *,
    base_model: Detector | str | Path | None = None,
    base_metadata: dict[str, Any] | None = None,
    config: DetectorConfig | None = None,
    train_config: TrainConfig | None = None,
    continual_config: ContinualConfig | None = None,
    on_model: Callable[[Detector], None] | None = None,
    budget_start: float | None = None,
    repeat_start: float | None = None,
) -> Generator[TrainProgress, None, ContinualResult]:
    """Train in one of the :data:`MODES`, yielding progress events.

    Parameters
    ----------
    mode
        ``"new"``, ``"joint"``, ``"finetune"``, ``"continual"`` or ``"fewshot"``
        (module docstring).
    datasets
        The data to train on, one entry per data set (the *new* data sets for
        ``finetune``/``continual``/``fewshot``; exactly one for ``fewshot``).
    base_model
        Model to start from (required by ``finetune``, ``continual`` and
        ``fewshot``; optional for ``joint``; ignored by ``new``) or the path of
        its checkpoint. It is never modified: training works on a copy.
    base_metadata
        Metadata of ``base_model`` (exemplar bank, history, data sets); read
        from the checkpoint when ``base_model`` is a path.
    config
        Architecture of a fresh model (``new``, ``joint`` without base).
    train_config
        Steps, crop size, learning rate, sparse-label settings, ...
    continual_config
        Loss weights and exemplar settings.
    on_model
        Called once with the model being trained, before the first step (a
        caller previews it between steps; it must not change it).
    budget_start
        :func:`time.perf_counter` value at which the time budget began (the
        job's start: reading the micrographs, the starting model's pass over
        them); None: the budget is the training loop's own (see
        :func:`napari_cryopick.core.training.loop_time_limit`).
    repeat_start
        When the job's work that repeats after the loop began (its reading of the
        micrographs, after the imports); None: ``budget_start``.

    Yields
    ------
    TrainProgress
        As :func:`napari_cryopick.core.training.train_detector`; ``losses`` also holds
        the weighted ``generic``, ``tie``, ``distill`` and ``drift`` terms
        where the mode has them.

    Returns
    -------
    ContinualResult
        Model, per-step history and checkpoint ``metadata`` (with the updated
        exemplar bank and this run appended to the training history).
    """
    if isinstance(base_model, str | Path):
        from napari_cryopick.core.model import load_checkpoint

        base_model, loaded = load_checkpoint(base_model)
        base_metadata = loaded if base_metadata is None else base_metadata
    train_config = train_config or TrainConfig()
    continual_config = continual_config or ContinualConfig()
    datasets = list(datasets)
    _validate(mode, datasets, base_model)
    base_metadata = dict(base_metadata or {})
    old_bank = bank_from_metadata(base_metadata.get("exemplars"))

    pretrained = None
    if mode == "new" or (mode == "joint" and base_model is None):
        # TrainConfig.seed also makes the new model's first weights (they were drawn
        # from whatever the process had drawn before: two runs of one command differed)
        torch.manual_seed(train_config.seed)
        model = Detector(config or DetectorConfig())
        # joint without a base model starts from the general model's weights as a new
        # model does (a trial's joint run from random weights: see docs/continual-learning.md)
        if continual_config.pretrained:
            from napari_cryopick.core.model.pretrained import initialise_from_general

            pretrained = initialise_from_general(model)
            if pretrained is not None:
                scale = continual_config.pretrained_lr_scale
                train_config = dataclasses.replace(train_config, lr=train_config.lr * scale)
                if continual_config.pretrained_batchnorm:
                    train_config = dataclasses.replace(train_config, frozen_batchnorm=True)
    else:
        assert base_model is not None
        model = copy.deepcopy(base_model)
        if mode in ("continual", "joint") and continual_config.pretrained_batchnorm:
            # the old heads were trained on the base model's statistics: batches of one
            # data set's crops (or running statistics drifting to the new data) would
            # move every old head's input at once (docs/continual-learning.md). Joint
            # from a base model too: a trial's `--mode joint --init` of a ribosome model
            # with β-gal picked no ribosome at all (AP 0.000 in two seeds; 0.860 / 0.854
            # with the statistics kept, β-gal 0.833 / 0.830 -> 0.817 / 0.826)
            train_config = dataclasses.replace(train_config, frozen_batchnorm=True)
    names = [d.name for d in datasets]

    frozen = None
    parameters = None
    tie_heads: list[str] = []
    adopted: list[str] = []  # earlier data sets given their own head by this run
    train_generic = mode != "fewshot"
    if mode == "new":
        examples = _with_head([e for d in datasets for e in d.examples], GENERIC_HEAD)
        train_generic = False
    elif mode in ("joint", "finetune", "continual"):
        examples = [e for d in datasets for e in _with_head(d.examples, d.name)]
        for name in names:
            if name not in model.heads:
                model.add_head(
                    name, init_from=GENERIC_HEAD if GENERIC_HEAD in model.heads else None
                )
        if mode == "continual":
            assert base_model is not None
            frozen = _frozen_copy(base_model)
            adopted = heads_to_adopt(model, old_bank, names)
            for name in adopted:
                model.add_head(name, init_from=GENERIC_HEAD)
            replay = _exemplar_examples(old_bank, model)
            replay = {k: v for k, v in replay.items() if k not in names}
            replay_items = [e for items in replay.values() for e in items]
            if replay_items and continual_config.replay_fraction > 0:
                # train_detector draws a head in proportion to its examples:
                # replicate so the exemplars get `replay_fraction` of the batches.
                share = continual_config.replay_fraction
                n_new, n_old = len(examples), len(replay_items)
                times_new = max(1, round((1 - share) * n_old * 10))
                times_old = max(1, round(share * n_new * 10))
                common = math.gcd(times_new, times_old)
                times_new, times_old = times_new // common, times_old // common
                examples = _replicate(examples, times_new) + _replicate(replay_items, times_old)
        tie_heads = [h for h in model.head_names if h != GENERIC_HEAD]
    else:  # fewshot
        (dataset,) = datasets
        if dataset.name not in model.heads:
            model.add_head(dataset.name, init_from=GENERIC_HEAD)
        examples = _with_head(dataset.examples, dataset.name)
        tie_heads = [dataset.name]
        parameters = _fewshot_parameters(dataset.name)

    train_config = train_config_for_mode(mode, train_config)
    protected = None
    # A few-shot head is not protected either (see train_config_for_mode).
    starts_trained = pretrained is not None or (
        mode in ("joint", "finetune", "continual") and base_model is not None
    )
    if continual_config.protect_prior and starts_trained and GENERIC_HEAD in model.heads:
        examples, protected = _protect(
            model, examples, train_config, continual_config.warn_mirrored
        )
        if (
            pretrained is not None
            and protected is not None
            and train_config.views_per_label is not None
            and protected["separation"] >= continual_config.seen_separation
        ):
            # the starting model sees the protein: adapt it with fewer views per click
            views = train_config.views_per_label * continual_config.seen_views_factor
            train_config = dataclasses.replace(train_config, views_per_label=views)
            protected["views_per_label"] = views

    extra = _ExtraLoss(
        train_config=train_config,
        continual_config=continual_config,
        tie_heads=tie_heads,
        train_generic=train_generic,
        frozen=frozen,
        adopted=adopted,
    )
    needs_extra = train_generic or tie_heads or frozen is not None
    if on_model is not None:
        on_model(model)
    start = time.perf_counter()
    inner = train_detector(
        examples,
        model=model,
        train_config=train_config,
        head=GENERIC_HEAD,
        extra_loss=extra if needs_extra else None,
        parameters=parameters,
        budget_start=budget_start,
        repeat_start=repeat_start,
    )
    result: TrainResult = yield from inner
    seconds = time.perf_counter() - start
    if mode == "fewshot":
        for parameter in result.model.parameters():
            parameter.requires_grad_(True)

    # exemplar bank: rebuilt for the data sets trained in this run
    crop_size = continual_config.exemplar_crop_size or train_config.crop_size
    bank = old_bank if old_bank.datasets and mode != "new" else empty_bank(crop_size)
    for dataset in datasets:
        pool = list(dataset.examples)
        # the data set's earlier exemplars, except those of micrographs trained again now
        # (their crops come anew from the pool: a trial's bank grew 15 -> 31 -> 47
        # particles over three continual runs on the same 15 clicks)
        again = {e.name for e in pool}
        previous = [  # under their micrographs' names: a prefix kept would grow by one a run
            dataclasses.replace(e, name=e.name.removeprefix(_EXEMPLAR_PREFIX))
            for e in _exemplar_examples(bank, result.model).get(dataset.name, [])
            if e.name.removeprefix(_EXEMPLAR_PREFIX) not in again
        ]
        if continual_config.max_exemplars > 0:
            bank = build_bank(
                pool,
                dataset.name,
                earlier=previous,
                max_particles=continual_config.max_exemplars,
                crop_size=bank.crop_size,
                max_micrographs=continual_config.exemplar_micrographs,
                bank=bank,
            )

    run = _run_record(mode, names, train_config, continual_config, result, seconds)
    if pretrained is not None:
        run["pretrained"] = str(pretrained)
    if protected is not None:
        run["protected"] = protected
    if adopted:
        run["adopted_heads"] = list(adopted)
    card = _run_card(base_metadata if mode != "new" else {}, datasets, run, bank, model)
    if adopted:
        card = dataclasses.replace(
            card,
            datasets=tuple(
                dataclasses.replace(d, head=d.name) if d.name in adopted else d
                for d in card.datasets
            ),
        )
    return ContinualResult(
        model=result.model,
        history=result.history,
        completed=result.completed,
        metadata=card.to_metadata(),
        card=card,
        bank=bank,
        run=run,
    )


def train_config_for_mode(mode: str, train_config: TrainConfig) -> TrainConfig:
    """``train_config`` as :func:`train_model` trains ``mode`` with it.

    A few-shot head on a frozen body does not over-learn a few clicks the way
    a whole network does: neither the few-label step limit
    (``TrainConfig.views_per_label``) nor the protection of the starting
    model's detections helped it (held-out shapes, 1000 steps: ring 0.899
    without protection, 0.878 with; L 0.569 / 0.566, and 0.539 at the limit's
    495 steps), so it trains without the limit.
    """
    if mode == "fewshot":
        return dataclasses.replace(train_config, views_per_label=None)
    return train_config


def _protect(
    model: Detector,
    examples: list[TrainingExample],
    train_config: TrainConfig,
    warn_mirrored: bool = True,
) -> tuple[list[TrainingExample], dict[str, Any] | None]:
    """The starting model's detections as "unknown" picks (see ``ContinualConfig.protect_prior``).

    Only the micrographs trained now, not exemplar replays; replicated
    examples are detected once.
    """
    from napari_cryopick.core.model import resolve_device
    from napari_cryopick.core.unlabelled import protect_prior_detections

    unique: dict[int, TrainingExample] = {
        id(e): e for e in examples if not e.name.startswith(_EXEMPLAR_PREFIX)
    }
    marked, threshold, separation, mirrored = protect_prior_detections(
        model,
        list(unique.values()),
        head=GENERIC_HEAD,
        device=str(resolve_device(train_config.device)),
    )
    if threshold is None:
        return examples, None
    if warn_mirrored and looks_mirrored(separation, mirrored):
        from napari_cryopick.core.click_check import MIRRORED_NOTE

        logger.warning(
            "%s: the starting model ranks them above "
            "random places with probability %.2f, and %.2f mirrored. The pick files may "
            "count y the other way: cryopick train --flip-y reads files that count y from "
            "the bottom (origin bottom-left); leave it out for files that count from the "
            "top. Check them on a micrograph in napari",
            MIRRORED_NOTE,
            separation,
            mirrored,
        )
    by_id = dict(zip(unique, marked, strict=True))
    count = sum(int((e.picks["kind"] == UNKNOWN_KIND).sum()) for e in marked)
    protected = [by_id.get(id(e), e) for e in examples]
    return protected, {
        "threshold": round(threshold, 4),
        "detections": count,
        "separation": round(separation, 4),
        "separation_mirrored": round(mirrored, 4),
    }


def looks_mirrored(separation: float, mirrored: float) -> bool:
    """Whether clicks the starting model barely sees at their positions are seen clearly
    mirrored top to bottom (a trial's y-flipped pick files trained without a word: AP
    0.35 against 0.85). Sets the model does not see stay near 0.5 both ways."""
    return separation < 0.65 and mirrored >= 0.8 and mirrored - separation >= 0.2


def _fewshot_parameters(head: str):
    """Optimiser parameters of few-shot training: the new head only, body frozen in eval mode."""

    def select(model: Detector):
        # train_detector has just called model.train(); freeze everything but
        # the head, batch-norm statistics of the body included.
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        model.body.eval()
        for name, module in model.heads.items():
            if name != head:
                module.eval()
        for parameter in model.heads[head].parameters():
            parameter.requires_grad_(True)
        return list(model.heads[head].parameters())

    return select


def _run_record(
    mode: str,
    names: list[str],
    train_config: TrainConfig,
    continual_config: ContinualConfig,
    result: TrainResult,
    seconds: float,
) -> dict[str, Any]:
    tail = result.history[-LOSS_TAIL_STEPS:]
    keys = sorted({k for h in tail for k, v in h.items() if isinstance(v, float)} - {"lr"})
    losses = {k: float(np.mean([h[k] for h in tail if k in h])) for k in keys}
    return {
        "mode": mode,
        "datasets": list(names),
        "steps": len(result.history),
        "planned_steps": int(result.planned_steps or train_config.steps),
        "completed": bool(result.completed),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(float(seconds), 2),
        "losses": losses,
        "heads": list(result.model.head_names),
        "train_config": train_config.to_dict(),
        "continual_config": continual_config.to_dict(),
    }


def _run_card(
    base: dict[str, Any],
    datasets: Sequence[DatasetExamples],
    run: dict[str, Any],
    bank: ExemplarBank,
    model: Detector,
) -> ModelCard:
    """The model card after this run: the base model's card plus the run's data sets."""
    card = ModelCard.from_metadata(base)
    trained = [
        DatasetCard(
            name=dataset.name,
            diameter_px=_dataset_diameter(dataset, model.config),
            micrographs=len(dataset.examples),
            labels=dataset.labels,
            head=dataset.name if dataset.name in model.heads else model.default_head,
        )
        for dataset in datasets
    ]
    return card.with_run(
        run,
        trained,
        heads=model.head_names,
        kinds=model.config.kinds,
        exemplars=bank_to_metadata(bank),
        # a few-shot run trains its own head only: the generic head keeps the size it
        # picks at (a re-trial's ribosome, 56 px, was picked at the new head's 62 px), none
        # included (a docs trial's few-shot head on the bundled model, which has none, gave
        # the generic head its 62 px: beta-gal of 108 px picked at 62 px, AP 0.000, unasked)
        keep_diameter=run.get("mode") == "fewshot",
    )
