"""Tiny synthetic data for the workflow tests: blobs on noise and a small detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SIZE = 96
DIAMETER = 20.0


def blobs(seed: int, size: int = SIZE, n: int = 8):
    """A micrograph of Gaussian blobs on noise and its picks (diameter 20 px)."""
    from napari_cryopick.core.pick_table import make_picks

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    x = rng.uniform(12, size - 12, n)
    y = rng.uniform(12, size - 12, n)
    image = rng.normal(0, 0.3, (size, size))
    for xi, yi in zip(x, y):
        image += np.exp(-((cols - xi) ** 2 + (rows - yi) ** 2) / (2 * 2.5**2))
    return image.astype(np.float32), make_picks(x, y, diameter=DIAMETER)


def tiny_config(kinds=("particle",)):
    from napari_cryopick.core.model import DetectorConfig

    return DetectorConfig(
        kinds=kinds, widths=(4, 8, 8, 8), feature_channels=8, head_width=8, target_diameter_px=20.0
    )


@pytest.fixture
def make_blobs():
    """:func:`blobs`: ``make_blobs(seed) -> (image, picks)``."""
    return blobs


@pytest.fixture
def make_config():
    """:func:`tiny_config`: ``make_config(kinds) -> DetectorConfig`` of a tiny detector."""
    return tiny_config


@pytest.fixture
def micrograph_files(tmp_path: Path) -> list[Path]:
    """Two folders ``a`` and ``b`` with ``m0.mrc`` and ``m1.mrc`` each (pixel size 2 A)."""
    from napari_cryopick.io.micrographs import write_mrc

    paths = []
    for seed, folder in enumerate(("a", "b")):
        (tmp_path / folder).mkdir()
        for index in range(2):
            image, _ = blobs(10 * seed + index)
            paths.append(write_mrc(tmp_path / folder / f"m{index}.mrc", image, pixel_size=2.0))
    return paths


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """An untrained tiny detector saved with a model card (diameter 20 px, head ``setA``)."""
    import torch

    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    torch.manual_seed(0)
    model = Detector(tiny_config())
    model.add_head("setA", init_from="generic")
    card = ModelCard(
        kinds=("particle",),
        heads=model.head_names,
        datasets=(DatasetCard("setA", diameter_px=30.0, head="setA"),),
        diameter_px=DIAMETER,
    )
    return save_checkpoint(tmp_path / "tiny.pt", model, metadata=card.to_metadata())
