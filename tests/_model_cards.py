"""Model files the tests build: a model with a head of its own per data set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from napari_cryopick.core.model import Detector, DetectorConfig, save_checkpoint
from napari_cryopick.core.model.card import DatasetCard, ModelCard


def save_data_set_heads_model(
    path: Path,
    sizes: Mapping[str, float],
    *,
    thresholds: Mapping[str, float] | None = None,
    config: DetectorConfig | None = None,
) -> Path:
    """A checkpoint of an (untrained) model with a head per data set of ``sizes``
    (``{name: diameter_px}``), trained in that order as continual learning leaves it: the
    first by a new model, each next one continual; the card's diameter is the last data
    set's. ``thresholds``: each training's calibrated pick threshold."""
    model = Detector(config or DetectorConfig())
    for name in sizes:
        model.add_head(name, init_from="generic")
    history = tuple(
        {
            "mode": "new" if index == 0 else "continual",
            "datasets": [name],
            **({"pick_threshold": thresholds[name]} if thresholds else {}),
        }
        for index, name in enumerate(sizes)
    )
    card = ModelCard(
        heads=model.head_names,
        datasets=tuple(DatasetCard(n, diameter_px=d, head=n) for n, d in sizes.items()),
        diameter_px=list(sizes.values())[-1],
        history=history,
    )
    return save_checkpoint(path, model, metadata=card.to_metadata())
