"""Pseudo-label rounds over unlabelled micrographs (core/unlabelled.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from napari_cryopick.core.model import Detector, DetectorConfig
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples
from napari_cryopick.core.unlabelled import UnlabelledConfig, pseudo_label, train_with_unlabelled


def _examples(n: int, with_picks: bool, config: DetectorConfig):
    rng = np.random.default_rng(0)
    images = [rng.normal(0, 1, (96, 96)).astype(np.float32) for _ in range(n)]
    tables = [
        pd.DataFrame({"x": [30.0, 60.0], "y": [40.0, 50.0]})
        if with_picks
        else pd.DataFrame({"x": [], "y": []})
        for _ in range(n)
    ]
    return build_examples(images, tables, 28.0, config, names=[f"m{i}" for i in range(n)])


def _constant_model(logit: float) -> Detector:
    model = Detector(DetectorConfig()).eval()
    last = model.heads["generic"].heatmap[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(logit)
    return model


def test_pseudo_labels_are_the_confident_picks_in_prepared_pixels() -> None:
    config = DetectorConfig()
    unlabelled = _examples(2, False, config)
    confident = pseudo_label(_constant_model(5.0), unlabelled, threshold=0.5)
    assert [e.name for e in confident] == ["m0", "m1"]
    for example in confident:
        picks = example.picks
        assert len(picks) > 3
        assert set(picks["kind"]) == {"particle"}
        assert np.allclose(picks["diameter"], config.target_diameter_px)
        assert picks["x"].between(0, 96).all()
        assert picks["y"].between(0, 96).all()
    unsure = pseudo_label(_constant_model(-5.0), unlabelled, threshold=0.5)
    assert all(len(e.picks) == 0 for e in unsure)


def test_rounds_share_the_step_budget_and_plain_training_without_unlabelled() -> None:
    config = DetectorConfig()
    labelled = _examples(1, True, config)
    unlabelled = _examples(2, False, config)
    train_config = TrainConfig(steps=6, batch_size=2, crop_size=64, device="cpu", warmup_steps=1)
    result = drive(
        train_with_unlabelled(
            labelled,
            unlabelled,
            config=config,
            train_config=train_config,
            unlabelled_config=UnlabelledConfig(rounds=1, first_share=0.5, threshold=0.05),
        )
    )
    assert len(result.history) == 6
    assert isinstance(result.model, Detector)
    assert not result.model.training
    plain = drive(train_with_unlabelled(labelled, [], config=config, train_config=train_config))
    assert len(plain.history) == 6


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="first_share"):
        UnlabelledConfig(first_share=0.0)
    with pytest.raises(ValueError, match="threshold"):
        UnlabelledConfig(threshold=0.0)
