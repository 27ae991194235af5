"""New models start from the general model's weights (core/model/pretrained.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_cryopick.core.continual import ContinualConfig, DatasetExamples, train_model
from napari_cryopick.core.model import Detector, DetectorConfig, load_bundled_model, save_checkpoint
from napari_cryopick.core.model.pretrained import compatible, initialise_from_general
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_compatible_new_model_gets_the_general_body_and_generic_head() -> None:
    general, _ = load_bundled_model()
    model = Detector(DetectorConfig())
    assert compatible(model.config, general.config)
    assert not _same(model.body, general.body)
    assert initialise_from_general(model) is not None
    assert _same(model.body, general.body)
    assert _same(model.heads["generic"], general.heads["generic"])


def test_an_incompatible_architecture_keeps_its_random_weights() -> None:
    model = Detector(DetectorConfig(target_diameter_px=20.0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert initialise_from_general(model) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_environment_selects_another_general_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(3)
    other = Detector(DetectorConfig())
    path = tmp_path / "general_without_x.pt"
    save_checkpoint(path, other, metadata={})
    monkeypatch.setenv("CRYOPICK_GENERAL_MODEL", str(path))
    model = Detector(DetectorConfig())
    assert initialise_from_general(model) == path
    assert _same(model.body, other.body)


def _dataset() -> DatasetExamples:
    rng = np.random.default_rng(0)
    image = rng.normal(0, 1, (128, 128)).astype(np.float32)
    picks = make_picks([40.0, 90.0], [50.0, 80.0], diameter=28.0)
    examples = build_examples([image], [picks], 28.0, DetectorConfig(), dataset="d")
    return DatasetExamples("d", examples, diameter_px=28.0)


def _train_new(mode: str = "new", **continual_options) -> dict:
    """The run record of one step of ``mode`` (no base model) with these ContinualConfig
    options."""
    settings = TrainConfig(steps=1, batch_size=1, crop_size=64, device="cpu", lr=0.003)
    continual_config = ContinualConfig(**continual_options)
    return drive(
        train_model(mode, [_dataset()], train_config=settings, continual_config=continual_config)
    ).run


@pytest.mark.parametrize("mode", ["new", "joint"])
def test_mode_new_is_pretrained_by_default_with_a_lower_learning_rate(mode: str) -> None:
    # joint without a base model too (it started from random weights: a joint run of
    # ribosome and β-gal picked 0.840 / 0.803 ranked, see docs/continual-learning.md)
    run = _train_new(mode)
    assert run["pretrained"].endswith("general.pt")
    assert run["train_config"]["lr"] == pytest.approx(0.001, rel=1e-3)
    # the general model's own detections were looked for, calibrated on the clicks
    assert run["protected"]["threshold"] >= 0.15
    assert run["protected"]["detections"] >= 0
    plain = _train_new(mode, pretrained=False)
    assert "pretrained" not in plain
    assert "protected" not in plain  # random weights: nothing to protect
    assert plain["train_config"]["lr"] == pytest.approx(0.003)
    assert "protected" not in _train_new(mode, protect_prior=False)


def test_a_pretrained_new_model_keeps_the_general_batchnorm_statistics() -> None:
    """The general model's running statistics normalise during training and stay saved."""
    general, _ = load_bundled_model()

    def statistics(model):
        return {
            k: v
            for k, v in model.state_dict().items()
            if k.endswith(("running_mean", "running_var"))
        }

    def train(**continual_options):
        settings = TrainConfig(steps=3, batch_size=2, crop_size=64, device="cpu", lr=0.003)
        config = ContinualConfig(**continual_options)
        models: list = []
        job = train_model(
            "new",
            [_dataset()],
            train_config=settings,
            continual_config=config,
            on_model=models.append,
        )
        modes = []
        while True:  # the modes while the steps run, not only what is saved
            try:
                next(job)
            except StopIteration as stop:
                result = stop.value
                break
            norms = [m for m in models[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
            modes.append({m.training for m in norms})
        return result, modes

    kept, modes = train()
    assert kept.run["train_config"]["frozen_batchnorm"] is True
    assert modes
    assert all(m == {False} for m in modes)  # the saved statistics normalise
    assert statistics(kept.model).keys() == statistics(general).keys() != set()
    for key, value in statistics(general).items():
        assert torch.equal(
            statistics(kept.model)[key], value.to(statistics(kept.model)[key].device)
        )
    assert not _same(kept.model.body, general.body)  # the weights did train
    moved, modes = train(pretrained_batchnorm=False)
    assert moved.run["train_config"]["frozen_batchnorm"] is False
    assert modes
    assert all(m == {True} for m in modes)  # batch statistics
    assert any(
        not torch.equal(statistics(moved.model)[k], v) for k, v in statistics(general).items()
    )
    random_start, _ = train(pretrained=False)  # random weights have no statistics worth keeping
    assert random_start.run["train_config"]["frozen_batchnorm"] is False


def test_a_starting_model_that_sees_the_clicks_trains_fewer_views_per_click() -> None:
    """ContinualConfig.seen_separation / seen_views_factor (docs/general-model.md, session 11)."""
    settings = TrainConfig(
        steps=100, batch_size=1, crop_size=64, device="cpu", warmup_steps=1, views_per_label=2
    )

    def run(**continual_options) -> dict:
        config = ContinualConfig(**continual_options)
        job = train_model("new", [_dataset()], train_config=settings, continual_config=config)
        return drive(job).run

    # the separation of the clicks from random places is recorded; a factor of 1 keeps the views
    plain = run(seen_separation=0.0, seen_views_factor=1.0)
    assert 0.0 <= plain["protected"]["separation"] <= 1.0
    assert plain["planned_steps"] == 8  # 2 views x 2 labels / (1 crop x 0.5 centred)
    unseen = run(seen_separation=1.01)  # no starting model separates better than 1
    assert "views_per_label" not in unseen["protected"]
    assert unseen["planned_steps"] == 8
    # a starting model counted as seeing them adapts with half the views per click
    seen = run(seen_separation=0.0)
    assert seen["protected"]["views_per_label"] == pytest.approx(1.0)
    assert seen["train_config"]["views_per_label"] == pytest.approx(1.0)
    assert seen["planned_steps"] == 4
    with pytest.raises(ValueError, match="seen_views_factor"):
        ContinualConfig(seen_views_factor=0.0)
