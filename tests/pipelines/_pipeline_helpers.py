"""Helpers of the pipeline tests: noise micrographs and pick-file trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Low enough that an untrained detector picks a few dozen candidates per micrograph.
THRESHOLD = 0.06


def write_micrographs(
    folder: Path, names: list[str], shape=(96, 128), pixel_size=2.0
) -> list[Path]:
    """Noise MRC files at ``folder/name`` (names may hold sub-folders)."""
    from napari_cryopick.io.micrographs import write_mrc

    paths = []
    for index, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image = np.random.default_rng(index).normal(size=shape).astype(np.float32)
        paths.append(write_mrc(path, image, pixel_size))
    return paths


def tree_bytes(folder: Path, suffix: str = ".star") -> dict[str, bytes]:
    """``{relative path: content}`` of the pick files below ``folder``."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob(f"*{suffix}"))
    }
