"""Fixtures of the pipeline tests: a tiny untrained detector checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained detector checkpoint with a stored diameter (deterministic)."""
    import torch

    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.core.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = Detector(DetectorConfig(target_diameter_px=20.0))
    with torch.no_grad():  # spread the scores (an untrained head gives ~0.10 everywhere)
        model.heads["generic"].heatmap[2].weight.mul_(300.0)
        model.heads["generic"].heatmap[2].bias.sub_(3.5)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, model, metadata={"diameter_px": 20.0})
    return path
