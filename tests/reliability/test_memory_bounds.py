"""Bounded memory: the scale cap, the training cache and tiled picking give the same results."""

from __future__ import annotations

import errno
import os

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core.model import inputs
from napari_cryopick.core.model.config import DetectorConfig


def test_the_scale_factor_is_capped_with_a_clear_message():
    config = DetectorConfig(target_diameter_px=28.0)
    assert inputs.preparation_scale(7.0, config) == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"diameter 0.01 px is too small.*at least 7 px"):
        inputs.preparation_scale(0.01, config)


@pytest.mark.parametrize("lowpass", [0.0, 0.5])
def test_the_cache_gives_the_in_memory_image_and_leaves_no_file(tmp_path, monkeypatch, lowpass):
    monkeypatch.setenv("CRYOPICK_CACHE", str(tmp_path))
    monkeypatch.setattr(inputs, "CACHE_PIXELS", 1000)
    monkeypatch.setattr(inputs, "_BLOCK", 40)
    from napari_cryopick.core import preprocess

    # statistics from a sub-grid (every 8th row and column), as on large micrographs
    monkeypatch.setattr(preprocess, "_MAX_STAT_PIXELS", 2000)
    image = np.random.default_rng(0).normal(size=(150, 205)).astype(np.float32)
    image[[10, 100, 140], [5, 120, 200]] = [1e6, -1e6, 5e5]  # hot pixels: clipped alike
    config = DetectorConfig(lowpass=lowpass)
    in_memory = inputs.prepare_micrograph(image, 14.0, config)
    cached = inputs.prepare_micrograph(image, 14.0, config, cache=True)
    assert isinstance(cached.image, np.memmap)
    assert (cached.scale_y, cached.scale_x) == (in_memory.scale_y, in_memory.scale_x)
    np.testing.assert_allclose(cached.image, in_memory.image, atol=1e-5)
    assert list(tmp_path.iterdir()) == [], "the cache file is deleted once mapped"


def test_a_full_disk_for_the_cache_is_an_error_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPICK_CACHE", str(tmp_path))

    def full(descriptor, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="No space"):
        inputs._cache_array((64, 64))
    assert list(tmp_path.iterdir()) == []


def test_build_examples_reads_micrograph_files_one_at_a_time(tmp_path):
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.core.training import build_examples
    from napari_cryopick.io.micrographs import write_mrc

    image = np.random.default_rng(1).normal(size=(64, 64)).astype(np.float32)
    path = write_mrc(tmp_path / "m.mrc", image)
    picks = make_picks([20.0, 40.0], [20.0, 40.0], diameter=14.0)
    from_file = build_examples([path], [picks], 14.0, DetectorConfig(), names=["m"])
    from_array = build_examples([image], [picks], 14.0, DetectorConfig(), names=["m"])
    np.testing.assert_array_equal(from_file[0].prepared.image, from_array[0].prepared.image)


def test_tiled_picking_finds_what_one_pass_finds(monkeypatch):
    import torch

    from napari_cryopick.cli._demo import simulate_demo_micrograph
    from napari_cryopick.core import tiled_picking
    from napari_cryopick.core.detect import PickConfig, pick_micrograph
    from napari_cryopick.core.evaluate import match_picks
    from napari_cryopick.core.model import bundled_model_path, load_checkpoint

    torch.set_num_threads(1)
    model, _ = load_checkpoint(bundled_model_path())
    simulated = simulate_demo_micrograph(0)
    config = PickConfig(device="cpu")
    whole = pick_micrograph(model, simulated.image, diameter_px=48.0, config=config)
    monkeypatch.setattr(tiled_picking, "MAX_PREPARED_PIXELS", 10_000)
    monkeypatch.setattr(tiled_picking, "TILE_PREPARED_PX", 256)
    monkeypatch.setattr(tiled_picking, "OVERLAP_PREPARED_PX", 64)
    assert tiled_picking.needs_tiles(simulated.image.shape, 48.0, model.config)
    tiled = pick_micrograph(model, simulated.image, diameter_px=48.0, config=config)
    assert tiled.heatmap.shape == whole.heatmap.shape
    assert tiled.prepared_shape == whole.prepared_shape
    one, many = whole.selected, tiled.selected
    matched = match_picks(many, one, iou=0.5).n_matched
    assert len(one) > 20
    assert matched >= 0.9 * len(one)
    assert abs(len(many) - len(one)) <= 0.1 * len(one)
    # small test tiles, each normalised on its own: the heatmaps differ a little
    assert float(np.abs(tiled.heatmap - whole.heatmap).mean()) < 0.35 * float(
        np.abs(whole.heatmap).mean()
    )


def test_build_examples_keeps_the_training_set_beyond_the_budget_in_the_cache(
    tmp_path, monkeypatch
):
    from napari_cryopick.core import training
    from napari_cryopick.core.pick_table import make_picks

    monkeypatch.setenv("CRYOPICK_CACHE", str(tmp_path))
    rng = np.random.default_rng(3)
    images = [rng.normal(size=(96, 112)).astype(np.float32) for _ in range(4)]
    picks = [make_picks([30.0, 60.0], [30.0, 50.0], diameter=14.0) for _ in images]
    config = DetectorConfig()
    in_memory = training.build_examples(images, picks, 14.0, config)
    assert not any(isinstance(e.prepared.image, np.memmap) for e in in_memory)

    # a budget of just over one prepared image: the first stays in memory, the rest are cached
    monkeypatch.setattr(training, "IN_MEMORY_PREPARED_BYTES", in_memory[0].prepared.image.nbytes)
    budgeted = training.build_examples(images, picks, 14.0, config)
    cached = [isinstance(e.prepared.image, np.memmap) for e in budgeted]
    assert cached == [False, True, True, True]
    for plain, bounded in zip(in_memory, budgeted):
        np.testing.assert_allclose(bounded.prepared.image, plain.prepared.image, atol=1e-5)
        pd.testing.assert_frame_equal(bounded.picks, plain.picks)
