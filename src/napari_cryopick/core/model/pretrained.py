"""Start a new model from the general model's weights (pretrained initialisation).

A model trained from a user's few clicks learns faster and better when its
body starts from the bundled general model (pretrained on simulated and real
micrographs) instead of random weights: on the leave-one-data-set-out
experiments (``docs/general-model.md``) AP@0.5 rose from 0.34 to 0.48 on
apoferritin with the same 120 s CPU budget and stayed level on the other sets.

:func:`initialise_from_general` copies the body and the ``generic`` head when
the architecture matches (widths, feature and head channels, kinds, size head,
target diameter, low-pass); otherwise the model keeps its random weights.
``$CRYOPICK_GENERAL_MODEL`` (see :func:`~napari_cryopick.core.model.bundled.bundled_model_path`)
selects another general model, e.g. one trained without the data set a
benchmark leaves out.
"""

from __future__ import annotations

from pathlib import Path

import torch

from napari_cryopick.core.model.checkpoint import CheckpointError
from napari_cryopick.core.model.config import DetectorConfig
from napari_cryopick.core.model.network import Detector

__all__ = ["compatible", "initialise_from_general"]

_ARCHITECTURE = (
    "kinds",
    "size_head",
    "stride",
    "target_diameter_px",
    "widths",
    "feature_channels",
    "head_width",
    "lowpass",
)


def compatible(a: DetectorConfig, b: DetectorConfig) -> bool:
    """Whether the weights of one architecture fit the other (and mean the same)."""
    return all(getattr(a, key) == getattr(b, key) for key in _ARCHITECTURE)


def initialise_from_general(model: Detector, path: str | Path | None = None) -> Path | None:
    """Copy the general model's body and generic head into ``model`` (in place).

    Parameters
    ----------
    model
        A new detector; its default head receives the general ``generic`` head.
    path
        General-model checkpoint; the bundled one (or ``$CRYOPICK_GENERAL_MODEL``) if None.

    Returns
    -------
    pathlib.Path or None
        The checkpoint used, or None when there is none or its architecture
        differs (the model is then unchanged).
    """
    from napari_cryopick.core.model.bundled import bundled_model_path
    from napari_cryopick.core.model.checkpoint import load_checkpoint

    try:
        source = Path(path) if path is not None else bundled_model_path()
        general, _ = load_checkpoint(source)
    except CheckpointError:
        return None
    if not compatible(general.config, model.config) or "generic" not in general.heads:
        return None
    with torch.no_grad():
        model.body.load_state_dict(general.body.state_dict())
        model.heads[model.default_head].load_state_dict(general.heads["generic"].state_dict())
    return source
