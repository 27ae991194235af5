"""The bundled general model: a detector shipped inside the package.

The general model (``model/weights/general.pt``) is trained jointly on many
simulated data sets of varied particle shapes, sizes, SNR and defocus (with
carbon and ice contamination as negatives) and on the real data sets of the
project, through the ``"generic"`` head (HydraPicker's general head) plus one
head per data set. It is the default model of ``cryopick pick``, of the Pick
widget and the starting point of continual and few-shot training.

How it is rebuilt: ``scripts/train_general_model.py`` (recipe and settings in
``docs/general-model.md``). The file is an ordinary checkpoint
(:func:`napari_cryopick.core.model.checkpoint.save_checkpoint`): it loads with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from napari_cryopick.core.model.checkpoint import CheckpointError, load_checkpoint
from napari_cryopick.core.model.network import Detector

__all__ = ["BUNDLED_MODEL_NAME", "bundled_model_path", "load_bundled_model"]

#: File name of the general model inside ``napari_cryopick/core/model/weights/``.
BUNDLED_MODEL_NAME = "general.pt"

_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def bundled_model_path() -> Path:
    """Path of the bundled general model's checkpoint.

    Returns
    -------
    pathlib.Path
        ``<package>/core/model/weights/general.pt``, or ``$CRYOPICK_GENERAL_MODEL``
        when set.

    Raises
    ------
    CheckpointError
        The weights file is missing (a broken installation, or a source tree
        in which ``scripts/train_general_model.py`` has not been run).
    """
    override = os.environ.get("CRYOPICK_GENERAL_MODEL")
    # $CRYOPICK_GENERAL_MODEL: another general model (benchmarks: one trained
    # without the data set they leave out)
    path = Path(override) if override else _WEIGHTS_DIR / BUNDLED_MODEL_NAME
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the bundled general model is missing from this installation; "
            "reinstall napari-cryopick, rebuild it with scripts/train_general_model.py "
            "or give a model file explicitly"
        )
    return path


def load_bundled_model(map_location: str = "cpu") -> tuple[Detector, dict[str, Any]]:
    """Load the bundled general model.

    Parameters
    ----------
    map_location
        Device for the weights (``"cpu"``, ``"cuda"``, ...).

    Returns
    -------
    model, metadata
        The detector in eval mode (default head ``"generic"``) and its
        checkpoint metadata (data sets, training history, exemplar bank).

    Raises
    ------
    CheckpointError
        The weights file is missing or unreadable.
    """
    return load_checkpoint(bundled_model_path(), map_location=map_location)
