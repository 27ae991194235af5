"""Saving and loading detector checkpoints.

A checkpoint is one ``torch.save`` file holding only plain types and tensors,
so it loads with ``torch.load(..., weights_only=True)`` (no arbitrary code
runs on load)::

    {
        "format": "napari-cryopick-detector",
        "format_version": 1,
        "config": DetectorConfig.to_dict(),
        "state_dict": {name: tensor},   # CPU tensors
        "metadata": {...},              # history, data sets, diameter_px, ...
    }

Saving is atomic: the file is written to a temporary file in the same folder
and moved over the target with ``os.replace``, so a crash or a cancelled run
never leaves a broken checkpoint (an existing file stays intact).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from napari_cryopick.core.model.config import DetectorConfig
from napari_cryopick.core.model.network import Detector
from napari_cryopick.io.atomic import atomic_path

FORMAT_NAME = "napari-cryopick-detector"
FORMAT_VERSION = 1
_REQUIRED_KEYS = ("format", "format_version", "config", "state_dict")


class CheckpointError(ValueError):
    """A file that is not a readable napari-cryopick checkpoint (message starts with the path)."""


def save_checkpoint(
    path: str | os.PathLike, model: Detector, *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (config + weights) and ``metadata`` to ``path`` atomically.

    Parameters
    ----------
    path
        Target file (conventionally ``.pt``); its folder must exist.
    model
        The detector.
    metadata
        Plain Python types (dict, list, str, int, float, bool, None) and tensors
        only: training history, data-set names, ``diameter_px``, ...

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    state_dict = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    checkpoint = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": state_dict,
        "metadata": dict(metadata or {}),
    }
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        torch.save(checkpoint, stream)
        stream.flush()
        os.fsync(stream.fileno())
    return path


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate the raw checkpoint dictionary (no model built).

    Raises
    ------
    CheckpointError
        Missing file, not a torch file, a torch file of another kind, missing
        keys, or a ``format_version`` newer than :data:`FORMAT_VERSION`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: not a napari-cryopick checkpoint (it holds objects that cannot be "
            f"loaded safely with weights_only=True: {str(error).splitlines()[0]})"
        ) from None
    except Exception as error:  # torch raises RuntimeError, EOFError, ... on non-torch files
        raise CheckpointError(
            f"{path}: not a napari-cryopick checkpoint (torch cannot read it: "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT_NAME:
        kind = type(checkpoint).__name__
        raise CheckpointError(
            f"{path}: not a napari-cryopick checkpoint (a torch file holding a {kind} "
            f"without format={FORMAT_NAME!r}; plain state_dicts are not accepted)"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing keys {missing}")
    version = checkpoint["format_version"]
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format_version {version} is newer than this napari-cryopick "
            f"supports ({FORMAT_VERSION}); update napari-cryopick"
        )
    return checkpoint


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[Detector, dict[str, Any]]:
    """Load a detector saved by :func:`save_checkpoint`.

    Parameters
    ----------
    path
        Checkpoint file.
    map_location
        Device for the tensors (and the returned model).

    Returns
    -------
    model, metadata
        The detector in eval mode and the metadata dictionary.

    Raises
    ------
    CheckpointError
        Any problem with the file (see :func:`read_checkpoint`), a config or
        weights that do not build a detector.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path, map_location)
    try:
        config = DetectorConfig.from_dict(dict(checkpoint["config"]))
        model = Detector(config)
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: checkpoint does not build a detector: {message}") from None
    model.to(map_location)
    model.eval()
    metadata = checkpoint.get("metadata") or {}
    return model, dict(metadata)
