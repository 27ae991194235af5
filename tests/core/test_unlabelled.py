"""Pseudo-label rounds over unlabelled micrographs (core/unlabelled.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from napari_cryopick.core.model import Detector, DetectorConfig
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples
from napari_cryopick.core.unlabelled import (
    UnlabelledConfig,
    protect_prior_detections,
    pseudo_label,
    train_with_unlabelled,
)


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


def _blob_maps(blobs: list[tuple[float, float, float]], shape=(32, 32)):
    """Heatmap maps with one Gaussian peak per (x, y, score) in prepared pixels (stride 4)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    heatmap = np.zeros(shape, np.float32)
    for x, y, score in blobs:
        peak = score * np.exp(-((cols - x / 4) ** 2 + (rows - y / 4) ** 2) / 2.0)
        heatmap = np.maximum(heatmap, peak.astype(np.float32))
    offset = np.full((2, *shape), 0.5, np.float32)
    return {"heatmap": heatmap[None], "offset": offset}


def test_prior_detections_that_score_like_the_clicks_are_protected(monkeypatch) -> None:
    import napari_cryopick.core.detect as detect

    config = DetectorConfig()
    # noise: the maps are the patched detector's (a blank image is refused for training)
    image = np.random.default_rng(0).normal(size=(128, 128)).astype(np.float32)
    clicks = pd.DataFrame({"x": [16.0, 56.0, 96.0], "y": [16.0, 16.0, 16.0]})
    (example,) = build_examples([image], [clicks], 28.0, config, names=["m"])
    # the starting model scores the clicks 0.6 / 0.7 / 0.8 (25 % quantile: 0.65)
    # and finds three more: 0.75 and 0.66 (protected) and 0.3 (not)
    blobs = [(16, 16, 0.6), (56, 16, 0.7), (96, 16, 0.8)]
    blobs += [(16, 88, 0.75), (56, 88, 0.66), (96, 88, 0.3)]
    monkeypatch.setattr(detect, "predict_maps", lambda *a, **k: _blob_maps(blobs))
    (marked,), threshold, seen, _ = protect_prior_detections(_constant_model(0.0), [example])
    assert threshold == pytest.approx(0.65, abs=0.005)
    assert seen > 0.9  # the clicks outscore random places
    unknown = marked.picks[marked.picks["kind"] == "unknown"].sort_values("x")
    assert np.allclose(unknown["x"], [16.0, 56.0], atol=2.0)
    assert np.allclose(unknown["y"], 88.0, atol=2.0)
    assert (marked.picks["kind"] == "particle").sum() == 3  # the clicks are kept as they were
    # a starting model that does not see the protein protects nothing
    monkeypatch.setattr(
        detect, "predict_maps", lambda *a, **k: _blob_maps([(16, 88, 0.1), (96, 88, 0.12)])
    )
    (unchanged,), floor, unseen, _ = protect_prior_detections(_constant_model(0.0), [example])
    assert floor == pytest.approx(0.15)
    assert unseen < 0.75
    assert (unchanged.picks["kind"] == "unknown").sum() == 0
    # without clicks there is nothing to calibrate against
    (empty,) = build_examples([image], [clicks.iloc[:0]], 28.0, config, names=["e"])
    assert protect_prior_detections(_constant_model(0.0), [empty])[1] is None
