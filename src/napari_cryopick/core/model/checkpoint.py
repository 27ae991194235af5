"""Saving and loading detector checkpoints.

A checkpoint is one ``torch.save`` file holding only plain types and tensors,
so it loads with ``torch.load(..., weights_only=True)`` (no arbitrary code
runs on load)::

    {
        "format": "napari-cryopick-detector",
        "format_version": 1,
        "config": DetectorConfig.to_dict(),
        "state_dict": {name: tensor},   # CPU tensors
        "metadata": {...},              # the model card: ModelCard.to_metadata()
    }

The metadata is the model's :class:`napari_cryopick.core.model.card.ModelCard`
(data sets, heads, per-data-set diameters, kinds, history, exemplar bank),
assembled in one place, ``ModelCard.to_metadata()``; read it back with
``ModelCard.of_model(model, metadata)``, which also migrates older metadata.

Saving is atomic: the file is written to a temporary file in the same folder
and moved over the target with ``os.replace``, so a crash or a cancelled run
never leaves a broken checkpoint (an existing file stays intact).

Integrity: the checkpoint also stores ``"checksums"``, the SHA-256 of every
tensor it holds (weights and the tensors in the metadata, e.g. the exemplar
bank), with its dtype and shape. Loading recomputes them and refuses a file
whose tensors changed (a flipped bit, a truncated copy) and weights that are
not finite. Checkpoints written before the checksums existed (the bundled
model until it is rebuilt) load without that check; the finite-weights check
applies to them too.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from collections.abc import Iterator
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


CHECKSUM_ALGORITHM = "sha256"


def _tensors(value: Any, where: str) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside nested dicts, lists and tuples, with a path such as ``metadata/exemplars/0``."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}/{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{where}/{index}")


def tensor_checksum(tensor: torch.Tensor) -> str:
    """SHA-256 (hex) of a tensor's dtype, shape and bytes."""
    data = tensor.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.sha256(f"{data.dtype}|{tuple(tensor.shape)}|".encode())
    if data.numel():
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checkpoint_checksums(checkpoint: dict) -> dict[str, str]:
    """``{tensor path: sha256}`` of the weights and of every tensor in the metadata."""
    tensors = list(_tensors(checkpoint.get("state_dict", {}), "state_dict"))
    tensors += _tensors(checkpoint.get("metadata", {}), "metadata")
    return {where: tensor_checksum(tensor) for where, tensor in tensors}


def _verify(path: Path, checkpoint: dict) -> None:
    """Refuse non-finite weights and, where stored, tensors that do not match their checksums."""
    for where, tensor in _tensors(checkpoint["state_dict"], "state_dict"):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path}: weight {where.split('/', 1)[1]} holds NaN or infinite values; "
                "the model is broken (retrain it or use another checkpoint)"
            )
    stored = checkpoint.get("checksums")
    if stored is None:
        return  # written before checksums existed
    if not isinstance(stored, dict) or stored.get("algorithm") != CHECKSUM_ALGORITHM:
        raise CheckpointError(f"{path}: unknown checksum record in the checkpoint")
    expected = stored.get("tensors")
    actual = checkpoint_checksums(checkpoint)
    if not isinstance(expected, dict) or set(expected) != set(actual):
        raise CheckpointError(
            f"{path}: the checkpoint's tensors do not match its checksum list "
            "(tensors added or removed after saving); the file is damaged or was altered"
        )
    for where, digest in actual.items():
        if expected[where] != digest:
            raise CheckpointError(
                f"{path}: tensor {where} does not match its {CHECKSUM_ALGORITHM} checksum; "
                "the file is damaged or was altered (copy it again or retrain)"
            )


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _refusal_reason(error: BaseException) -> str:
    """Why torch's safe loader refused a file, without torch's advice to load it unsafely."""
    text = _ANSI.sub("", str(error))
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it asks to import {found.group(1)}, which is not a tensor or a plain type"
    return "it holds objects other than tensors and plain types"


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
    checkpoint["checksums"] = {
        "algorithm": CHECKSUM_ALGORITHM,
        "tensors": checkpoint_checksums(checkpoint),
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
    problem = not_a_model_file(path)
    if problem is not None:
        raise CheckpointError(problem)
    with open(path, "rb") as stream:
        head = stream.read(4)
    # torch.save writes a zip archive; files of torch < 1.6 are bare pickles
    if head != b"PK\x03\x04" and head[:1] != b"\x80":
        what = "an empty file" if not head else "not a PyTorch file"
        raise CheckpointError(
            f"{path}: not a napari-cryopick checkpoint ({what}; a model is the .pt file "
            "that cryopick train writes)"
        )
    try:
        with warnings.catch_warnings():
            # torch's "Detected pickle protocol ... please file an issue" on a bare
            # pickle (not ours): the refusal below says what the file is
            warnings.filterwarnings("ignore", message=".*pickle protocol.*", category=UserWarning)
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # never repeat torch's advice to retry with weights_only=False: that runs
        # code from the file
        raise CheckpointError(
            f"{path}: not a napari-cryopick checkpoint and not loaded: {_refusal_reason(error)}"
        ) from None
    except Exception as error:  # torch raises RuntimeError, EOFError, ... on non-torch files
        first = _ANSI.sub("", str(error)).strip().splitlines()
        if first:  # torch's own first sentence (its advice after it is for its users)
            first = [first[0].split(". ")[0]]
        raise CheckpointError(
            f"{path}: not a napari-cryopick checkpoint (cut short, or another kind of file; "
            "torch cannot read it: "
            f"{type(error).__name__}{': ' + first[0] if first else ''})"
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
    for key in ("config", "state_dict", "metadata"):
        if key in checkpoint and not isinstance(checkpoint[key], dict | type(None)):
            raise CheckpointError(
                f"{path}: checkpoint entry {key!r} is a {type(checkpoint[key]).__name__}, "
                "not a dictionary"
            )
    _verify(path, checkpoint)
    return checkpoint


def checkpoint_datasets(path: str | os.PathLike) -> tuple[str, ...]:
    """The data sets model file ``path``'s card lists (its metadata's ``datasets``), read
    and verified as :func:`read_checkpoint` reads it; () when it cannot be read."""
    try:
        metadata = read_checkpoint(path).get("metadata") or {}
    except (ValueError, OSError):
        return ()
    return metadata_datasets(metadata)


def metadata_datasets(metadata: Any) -> tuple[str, ...]:
    """The data sets a checkpoint's ``metadata`` lists (() when it lists none)."""
    names = metadata.get("datasets") if isinstance(metadata, dict) else None
    if not isinstance(names, (list, tuple)):  # (a fuzzed card's 5: a traceback in train)
        return ()
    return tuple(str(name) for name in names)


def not_a_model_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be a model file (a folder, missing), naming it; None: a file."""
    path = Path(path)
    if path.is_dir():
        return f"{path}: is a folder, not a model file"
    if not path.is_file():
        return f"{path}: no such model file"
    return None


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
        # the first line and its first detail (torch's "Error(s) in loading state_dict for
        # Detector:" said nothing alone: the size mismatch follows)
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        message = " ".join(lines[:2]) if lines else type(error).__name__
        raise CheckpointError(f"{path}: checkpoint does not build a detector: {message}") from None
    model.to(map_location)
    model.eval()
    metadata = checkpoint.get("metadata") or {}
    return model, dict(metadata)
