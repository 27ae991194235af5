"""The model card: what a checkpoint knows about its model, in one frozen dataclass.

A :class:`ModelCard` owns the data sets a model was trained on (with each one's
particle diameter, micrograph and label counts and head), the model's heads
and kinds, the particle diameter to pick with, the training history and the
exemplar bank. It is stored in the checkpoint's ``metadata`` as plain types
(and the bank's tensors), so checkpoints keep loading with
``torch.load(..., weights_only=True)``:

.. code-block:: python

    {
        "card_version": 1,
        "datasets": ["ribosome", ...],             # oldest first
        "dataset_info": {"ribosome": {"diameter_px": 56.0, "micrographs": 10,
                                      "labels": 865, "head": "ribosome"}, ...},
        "diameter_px": 56.0,                       # default: the last data set trained
        "kinds": ["particle"],
        "heads": ["generic", "ribosome"],
        "history": [{"mode": ..., "datasets": [...], "steps": ..., ...}, ...],
        "exemplars": {...},                        # core.exemplars.bank_to_metadata
        ...                                        # other keys are kept as they are
    }

The flat layout is the one checkpoints had before the card existed, so older
readers keep working; :meth:`ModelCard.from_metadata` migrates older metadata
(card version 0: the Train widget's ``mode``/``steps``/``final_losses``
records, ``cryopick train``'s ``time``/``elapsed_s`` records, the bundled
model's ``general_model`` recipe). :meth:`ModelCard.to_metadata` is the one
place checkpoint metadata is assembled.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["CARD_VERSION", "GENERIC_HEAD", "DatasetCard", "ModelCard"]

#: Version of the card layout written by :meth:`ModelCard.to_metadata`.
CARD_VERSION = 1

#: The head trained on every data set (HydraPicker's general head).
GENERIC_HEAD = "generic"

_CARD_KEYS = (
    "card_version",
    "datasets",
    "dataset_info",
    "diameter_px",
    "kinds",
    "heads",
    "history",
    "exemplars",
)


def _listed(value: Any) -> list:
    """``value`` as a list when it is a list or tuple, else empty (a damaged card)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _count(value: Any) -> int:
    """A whole count ``>= 0`` from a card, 0 when it is none (a damaged card)."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        return 0
    return max(number, 0)


def _outcome(run: Mapping[str, Any]) -> dict[str, Any]:
    """A history record's ``planned_steps``, ``completed``, ``heads`` and
    ``adopted_heads``, those it holds (older records hold none)."""
    outcome: dict[str, Any] = {}
    planned = run.get("planned_steps")
    if (
        isinstance(planned, numbers.Real)
        and not isinstance(planned, bool)
        and math.isfinite(planned)
    ):
        outcome["planned_steps"] = int(planned)
    if isinstance(run.get("completed"), bool):
        outcome["completed"] = run["completed"]
    if isinstance(run.get("heads"), (list, tuple)):
        outcome["heads"] = [str(h) for h in run["heads"]]
    # continual.train_model records adopted heads only when there are any
    if isinstance(run.get("adopted_heads"), (list, tuple)) or "heads" in outcome:
        outcome["adopted_heads"] = [str(h) for h in _listed(run.get("adopted_heads"))]
    return outcome


def positive_or_none(value: Any) -> float | None:
    """``value`` as a finite number > 0, else None (a card's sizes and run records)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


@dataclass(frozen=True)
class DatasetCard:
    """One data set a model was trained on.

    Attributes
    ----------
    name
        Data-set name (also the name of its head, where the model has one).
    diameter_px
        Particle diameter in the data set's original pixels (None: unknown).
    micrographs
        Number of training micrographs.
    labels
        Number of labelled objects (negatives not counted).
    head
        Head that picks this data set (its own, or the generic head).
    """

    name: str
    diameter_px: float | None = None
    micrographs: int = 0
    labels: int = 0
    head: str = GENERIC_HEAD

    def to_dict(self) -> dict[str, Any]:
        """Plain types, as stored under ``dataset_info``."""
        return {
            "diameter_px": self.diameter_px,
            "micrographs": int(self.micrographs),
            "labels": int(self.labels),
            "head": self.head,
        }


@dataclass(frozen=True)
class ModelCard:
    """What a model is, stored in its checkpoint.

    Attributes
    ----------
    kinds
        Heatmap kinds of the model (``"particle"``, ``"vesicle"``, ``"fiber"``, ...).
    heads
        Head names of the model (``"generic"`` first where present).
    datasets
        Data sets trained on, oldest first.
    diameter_px
        Particle diameter to pick with when no head-specific one applies (the
        last data set trained).
    history
        One plain-type record per training run, oldest first (see
        :meth:`runs` for a normalised view).
    exemplars
        The exemplar bank as stored (:func:`napari_cryopick.core.exemplars.bank_to_metadata`),
        or None.
    extra
        Any other metadata keys, kept as they are (e.g. ``general_model``).
    version
        Card layout version.
    """

    kinds: tuple[str, ...] = ("particle",)
    heads: tuple[str, ...] = (GENERIC_HEAD,)
    datasets: tuple[DatasetCard, ...] = ()
    diameter_px: float | None = None
    history: tuple[Mapping[str, Any], ...] = ()
    exemplars: Mapping[str, Any] | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    version: int = CARD_VERSION

    # --- reading ---

    @property
    def dataset_names(self) -> list[str]:
        """Names of the data sets, oldest first."""
        return [d.name for d in self.datasets]

    def moved_by_finetune(self) -> tuple[str, ...]:
        """Data sets whose heads a later ``finetune`` run moved from under them.

        A fine-tune trains the shared body (and the generic head) on its own data set
        only: heads of earlier data sets it did not train keep weights made for the body
        as it was (a continual-learning trial's ribosome and beta-gal heads picked nothing
        after an apoferritin fine-tune, AP 0.000, while ``info`` listed them as own heads
        with their thresholds). A later run that trains a data set again clears it.
        """
        seen: set[str] = set()
        moved: list[str] = []
        for run in self.history:
            trained = {str(name) for name in run.get("datasets") or ()}
            if run.get("mode") == "finetune":
                moved += [n for n in self.dataset_names if n in seen and n not in trained]
            moved = [n for n in dict.fromkeys(moved) if n not in trained]
            seen |= trained
        return tuple(moved)

    def lost_by_continual(self, banked: Collection[str] | None = None) -> tuple[str, ...]:
        """Data sets a later ``continual`` run moved the generic head away from: those with
        no head of their own and no exemplars (``banked``: the data sets the exemplar bank
        holds; default: the card's own bank's, read from its names alone, not its crops),
        which only the generic head knew (a CLI trial's apoferritin, trained with
        ``--exemplars 0``, then a continual β-gal run: 0 picks, while ``info`` listed it
        as any other data set). A later run that trains a data set again clears it."""
        if banked is None:
            banked = set((self.exemplars or {}).get("datasets") or {})
        seen: set[str] = set()
        lost: list[str] = []
        for run in self.history:
            trained = {str(name) for name in run.get("datasets") or ()}
            if run.get("mode") == "continual":
                lost += [
                    d.name
                    for d in self.datasets
                    if d.name in seen
                    and d.name not in trained
                    and d.name not in banked
                    and d.head == GENERIC_HEAD
                ]
            lost = [n for n in dict.fromkeys(lost) if n not in trained]
            seen |= trained
        return tuple(lost)

    def recipe_datasets(self) -> tuple[str, ...]:
        """The data sets of a general model's own recipe (their heads are copies of its
        generic head, which picks unseen data with the zero-shot scale search): for a card
        that carries ``general_model``, those its recipe's runs trained
        (``scripts/train_general_model.py``: the history's first runs, those without the
        ``train_config`` every ``cryopick train`` or Train widget run records; all its data
        sets when it records no history), less any a later training trained (a user's
        folder named ``vesicles`` fine-tuned from the general model is the user's); () for
        other models. A model adapted from the general model keeps them beside the heads
        it was trained with."""
        if "general_model" not in (self.extra or {}):
            return ()

        def names(run: Mapping[str, Any]) -> list[str]:
            # a list, or (the recipe's runs before --finalise: its record's per-set details
            # written over the list) a mapping of name to details (a review: the
            # leave-one-out general models counted no recipe set)
            value = run.get("datasets")
            return [str(n) for n in (list(value) if isinstance(value, Mapping) else _listed(value))]

        runs = [run for run in _listed(self.history) if isinstance(run, Mapping)]
        if not runs:
            return tuple(d.name for d in self.datasets)
        recipe: list[str] = []
        later: set[str] = set()
        for index, run in enumerate(runs):
            if "train_config" in run:  # the user's trainings from here on
                later = {n for after in runs[index:] for n in names(after)}
                break
            recipe += names(run)
        return tuple(n for n in dict.fromkeys(recipe) if n not in later)

    def dataset(self, name: str) -> DatasetCard | None:
        """The data set called ``name``, or None."""
        return next((d for d in self.datasets if d.name == name), None)

    def diameter_for_head(self, head: str | None) -> float | None:
        """Particle diameter (original pixels) to pick with ``head``.

        A data-set head picks at its own data set's diameter; any other head
        (the generic head, None) at :attr:`diameter_px`. None when unknown.
        """
        dataset = self.dataset(head) if head else None
        if dataset is not None and dataset.diameter_px:
            return float(dataset.diameter_px)
        return self.diameter_px

    def runs(self) -> list[dict[str, Any]]:
        """Training runs normalised to ``mode, datasets, steps, date, seconds, losses``.

        ``seconds`` is the training loop's; ``job_seconds``, where recorded, the
        whole job's from the user's start. Where the run recorded them (runs
        of :func:`napari_cryopick.core.continual.train_model`), also
        ``planned_steps`` and ``completed`` (``steps`` below ``planned_steps``:
        the time budget ended training), ``heads`` (the model's heads after the
        run) and ``adopted_heads`` (the earlier data sets given a head of their
        own by this run, ``[]`` for none): without them ``cryopick info``
        could not show a run cut short or a head adopted without being asked
        for. The ``train_config`` and ``continual_config`` records are left
        out: dozens of keys a run, read from the checkpoint's metadata.
        """
        runs = []
        for run in self.history:
            steps = run.get("steps")
            if steps is None and isinstance(run.get("train_config"), Mapping):
                steps = run["train_config"].get("steps")
            names = run.get("datasets") or ([run["dataset"]] if run.get("dataset") else [])
            runs.append(
                {
                    "mode": run.get("mode", "finetune" if run.get("init") else "new"),
                    "datasets": [str(n) for n in names],
                    "steps": steps,
                    "date": run.get("date", run.get("time", "")),
                    "seconds": float(run.get("seconds", run.get("elapsed_s", 0.0)) or 0.0),
                    "losses": dict(run.get("losses", run.get("final_losses", {})) or {}),
                    **({"job_seconds": float(run["job_seconds"])} if "job_seconds" in run else {}),
                    **_outcome(run),
                }
            )
        return runs

    # --- changing (returns new cards) ---

    def with_run(
        self,
        run: Mapping[str, Any],
        datasets: Sequence[DatasetCard],
        *,
        heads: Sequence[str],
        kinds: Sequence[str],
        exemplars: Mapping[str, Any] | None,
        diameter_px: float | None = None,
        keep_diameter: bool = False,
    ) -> ModelCard:
        """The card after a training run on ``datasets``.

        Data sets already on the card are updated, new ones appended; the
        default diameter becomes ``diameter_px`` or that of the last data set, or stays
        the card's (none too) with ``keep_diameter``.
        """
        merged = list(self.datasets)
        for dataset in datasets:
            index = next((i for i, d in enumerate(merged) if d.name == dataset.name), None)
            if index is None:
                merged.append(dataset)
            else:
                merged[index] = dataset
        default = positive_or_none(diameter_px)
        if default is None and datasets:
            default = datasets[-1].diameter_px
        if keep_diameter:
            default = self.diameter_px
        return replace(
            self,
            kinds=tuple(kinds),
            heads=tuple(heads),
            datasets=tuple(merged),
            diameter_px=default if default is not None else self.diameter_px,
            history=(*self.history, dict(run)),
            exemplars=exemplars,
            version=CARD_VERSION,
        )

    # --- storage ---

    def to_metadata(self) -> dict[str, Any]:
        """Checkpoint metadata: plain types (and the bank's tensors) only."""
        metadata = dict(self.extra)
        metadata.update(
            {
                "card_version": int(self.version),
                "datasets": self.dataset_names,
                "dataset_info": {d.name: d.to_dict() for d in self.datasets},
                "diameter_px": self.diameter_px,
                "kinds": list(self.kinds),
                "heads": list(self.heads),
                "history": [dict(run) for run in self.history],
            }
        )
        if self.exemplars is not None:
            metadata["exemplars"] = dict(self.exemplars)
        return metadata

    @classmethod
    def from_metadata(
        cls,
        metadata: Mapping[str, Any] | None,
        *,
        kinds: Sequence[str] | None = None,
        heads: Sequence[str] | None = None,
    ) -> ModelCard:
        """Read (and migrate) a checkpoint's metadata.

        Parameters
        ----------
        metadata
            The checkpoint's ``metadata`` (any card version, or none).
        kinds, heads
            The model's kinds and heads (from its configuration); they win
            over what older metadata says.
        """
        metadata = dict(metadata or {})
        version = metadata.get("card_version", 0)
        version = version if isinstance(version, int) and version >= 0 else 0
        info = metadata.get("dataset_info")
        info = info if isinstance(info, Mapping) else {}
        names = [str(n) for n in _listed(metadata.get("datasets")) if str(n)]
        for run in _listed(metadata.get("history")):
            if not isinstance(run, Mapping):
                continue
            listed = _listed(run.get("datasets"))
            for name in listed or ([run["dataset"]] if run.get("dataset") else []):
                if str(name) and str(name) not in names:
                    names.append(str(name))
        for name in info:
            if str(name) not in names:
                names.append(str(name))
        datasets = []
        for name in names:
            item = info.get(name)
            item = item if isinstance(item, Mapping) else {}
            datasets.append(
                DatasetCard(
                    name=name,
                    diameter_px=positive_or_none(item.get("diameter_px")),
                    micrographs=_count(item.get("micrographs")),
                    labels=_count(item.get("labels")),
                    head=str(item.get("head", name if heads and name in heads else GENERIC_HEAD)),
                )
            )
        history = [dict(r) for r in _listed(metadata.get("history")) if isinstance(r, Mapping)]
        if version == 0 and not history and ("mode" in metadata or "steps" in metadata):
            # The Train widget's "new" mode wrote one run's fields at the top level.
            history.append(
                {
                    "mode": metadata.get("mode", "new"),
                    "datasets": list(names),
                    "steps": metadata.get("steps"),
                    "losses": dict(metadata.get("final_losses") or {}),
                }
            )
        legacy = ("mode", "steps", "final_losses") if version == 0 else ()
        extra = {k: v for k, v in metadata.items() if k not in _CARD_KEYS and k not in legacy}
        # (a hand-edited or damaged card: a number where names belong is no names)
        stored_kinds = [str(k) for k in _listed(metadata.get("kinds"))]
        stored_heads = [str(h) for h in _listed(metadata.get("heads"))]
        return cls(
            kinds=tuple(kinds or stored_kinds or ("particle",)),
            heads=tuple(heads or stored_heads or (GENERIC_HEAD,)),
            datasets=tuple(datasets),
            diameter_px=positive_or_none(metadata.get("diameter_px")),
            history=tuple(history),
            exemplars=metadata.get("exemplars") if metadata.get("exemplars") else None,
            extra=extra,
            version=CARD_VERSION,
        )

    @classmethod
    def of_model(cls, model: Any, metadata: Mapping[str, Any] | None) -> ModelCard:
        """The card of a loaded model: its metadata, with kinds and heads from the model."""
        config = getattr(model, "config", None)
        kinds = tuple(getattr(config, "kinds", ()) or ()) or None
        heads = tuple(getattr(model, "head_names", ()) or ()) or None
        return cls.from_metadata(metadata, kinds=kinds, heads=heads)
