"""The detector model: configuration, network, checkpoints, inputs, targets and losses.

Also :func:`resolve_device`, the one place that turns a user's device choice
(``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``) into a :class:`torch.device`.
"""

from __future__ import annotations

import torch

from napari_cryopick.core.model.bundled import bundled_model_path, load_bundled_model
from napari_cryopick.core.model.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from napari_cryopick.core.model.config import DetectorConfig
from napari_cryopick.core.model.inputs import (
    PreparedMicrograph,
    diameter_from_angstrom,
    prepare_micrograph,
    to_original,
    to_prepared,
)
from napari_cryopick.core.model.network import DetectionHead, Detector, pad_to_multiple


def cpu_cores() -> int:
    """The CPU cores this process may run on: its affinity mask where the platform has one
    (a SLURM job's cores, not the node's), else every core; at least 1."""
    import os

    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for a user's choice.

    Parameters
    ----------
    name
        ``"auto"`` or None (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or a :class:`torch.device`.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        An unknown name, or CUDA asked for but not available (or no such GPU).
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name is None or str(name).strip().lower() in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name).strip().lower())
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} asked for, but CUDA is not available "
                "(no GPU or a CPU-only torch build); use --device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) present"
            )
    elif device.type != "cpu":
        raise ValueError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "DetectionHead",
    "Detector",
    "DetectorConfig",
    "PreparedMicrograph",
    "bundled_model_path",
    "cpu_cores",
    "diameter_from_angstrom",
    "load_bundled_model",
    "load_checkpoint",
    "pad_to_multiple",
    "prepare_micrograph",
    "resolve_device",
    "save_checkpoint",
    "to_original",
    "to_prepared",
]
