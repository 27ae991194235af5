"""Tests of picking: peaks, tiling, rotation averaging, std rejection, batch, CLI."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from napari_cryopick.core.detect import (
    PickConfig,
    PickResult,
    apply_threshold,
    auto_top_k,
    border_from_clicks,
    choose_threshold,
    decode_picks,
    find_peaks,
    local_std_filter,
    pick_micrograph,
    predict_maps,
)
from napari_cryopick.core.model.config import DetectorConfig
from napari_cryopick.core.model.network import Detector
from napari_cryopick.core.pick_table import PICK_COLUMNS

torch.set_num_threads(1)


# ---------------------------------------------------------------- toy models


class _ToyConfig:
    def __init__(self, size_head: bool = True):
        self.kinds = ("particle",)
        self.size_head = size_head
        self.stride = 4
        self.target_diameter_px = 20.0


class CentroidToy(nn.Module):
    """Rotation-equivariant toy: heatmap = mean of each 4x4 cell, offset = its centroid.

    The offset is the intensity-weighted centroid of the cell in the project's
    convention (``x = (j + dx) * 4 - 0.5``), a purely geometric quantity, so the
    four rotations must agree once un-rotated.
    """

    size_multiple = 4

    def __init__(self, heat_scale: float = 3.0, window: int = 4):
        super().__init__()
        self.config = _ToyConfig()
        self.default_head = "generic"
        self.head_names = ("generic",)
        self.heat_scale = heat_scale
        self.window = window  # heatmap = mean over a window centred on the cell

    def forward(self, x, head=None):
        weight = torch.relu(x) + 0.1  # [B, 1, H, W]
        rows = torch.arange(x.shape[-2], dtype=x.dtype)[:, None].expand(x.shape[-2:])
        cols = torch.arange(x.shape[-1], dtype=x.dtype)[None, :].expand(x.shape[-2:])
        pool = nn.functional.avg_pool2d
        mass = pool(weight, 4)  # [B, 1, H/4, W/4]
        cx = pool(weight * cols, 4) / mass
        cy = pool(weight * rows, 4) / mass
        j = torch.arange(mass.shape[-1], dtype=x.dtype)[None, None, None, :]
        i = torch.arange(mass.shape[-2], dtype=x.dtype)[None, None, :, None]
        offset = torch.cat([(cx + 0.5) / 4 - j, (cy + 0.5) / 4 - i], dim=1)
        return {
            "heatmap": pool(x, self.window, 4, (self.window - 4) // 2) * self.heat_scale,
            "offset": offset,
            "size": pool(x * x, 4) * 0.1,
            "features": mass,
        }

    def decode_size(self, size):
        return 20.0 * torch.exp(size)


class AsymmetricToy(nn.Module):
    """A toy that is *not* rotation-equivariant (random asymmetric kernels)."""

    size_multiple = 4

    def __init__(self):
        super().__init__()
        self.config = _ToyConfig()
        self.default_head = "generic"
        self.head_names = ("generic",)
        generator = torch.Generator().manual_seed(3)
        self.conv = nn.Conv2d(1, 4, 5, padding=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.copy_(torch.randn(4, generator=generator))

    def forward(self, x, head=None):
        out = nn.functional.avg_pool2d(self.conv(x), 4)  # [B, 4, H/4, W/4]
        return {
            "heatmap": out[:, :1],
            "offset": torch.sigmoid(out[:, 1:3]),
            "size": 0.1 * out[:, 3:4],
            "features": out,
        }

    def decode_size(self, size):
        return 20.0 * torch.exp(size)


def _positions(maps: dict) -> tuple[np.ndarray, np.ndarray]:
    """Absolute centre maps (x, y) in pixels from the offset map, by the convention."""
    _, rows, cols = maps["offset"].shape
    ii, jj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return (jj + maps["offset"][0]) * 4 - 0.5, (ii + maps["offset"][1]) * 4 - 0.5


def _image(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, cols)).astype(np.float32)


def _untrained_detector(seed: int = 0) -> Detector:
    torch.manual_seed(seed)
    # the hand-computed geometry below assumes a 20 px target diameter
    model = Detector(DetectorConfig(target_diameter_px=20.0))
    # Non-trivial batch-norm statistics so eval mode is really exercised.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return model


# ---------------------------------------------------------------- peaks


def _bump(shape, centre, amplitude, sigma=1.0):
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return amplitude * np.exp(-((ii - centre[0]) ** 2 + (jj - centre[1]) ** 2) / (2 * sigma**2))


def test_find_peaks_local_maxima_threshold_and_top_k():
    heat = np.zeros((40, 50), np.float32)
    for centre, amplitude in [((5, 5), 0.9), ((20, 30), 0.7), ((35, 10), 0.5), ((10, 40), 0.2)]:
        heat = np.maximum(heat, _bump(heat.shape, centre, amplitude))
    rows, cols, scores = find_peaks(heat, min_distance_cells=3, threshold=0.3)
    assert list(zip(rows, cols)) == [(5, 5), (20, 30), (35, 10)]  # 0.2 is below threshold
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.5], rtol=1e-6)
    rows, cols, _ = find_peaks(heat, min_distance_cells=3, threshold=0.3, top_k=2)
    assert list(zip(rows, cols)) == [(5, 5), (20, 30)]


def test_find_peaks_min_distance_suppresses_weaker_neighbour():
    heat = np.maximum(_bump((30, 30), (10, 10), 0.9), _bump((30, 30), (10, 14), 0.8))
    rows, cols, _ = find_peaks(heat, min_distance_cells=2, threshold=0.1)
    assert {(10, 10), (10, 14)} <= set(zip(rows.tolist(), cols.tolist()))
    rows, cols, _ = find_peaks(heat, min_distance_cells=5, threshold=0.1)
    assert list(zip(rows, cols)) == [(10, 10)]
    # a plateau (two equal neighbouring cells) gives one peak, not two
    plateau = np.zeros((20, 20), np.float32)
    plateau[8, 8] = plateau[8, 9] = 0.6
    rows, cols, _ = find_peaks(plateau, min_distance_cells=2, threshold=0.1)
    assert len(rows) == 1


def test_thresholding_candidates_equals_picking_at_threshold():
    rng = np.random.default_rng(1)
    heat = ndimage_smooth(rng.random((60, 60)).astype(np.float32))
    low = find_peaks(heat, min_distance_cells=3, threshold=0.0)
    high = find_peaks(heat, min_distance_cells=3, threshold=0.5)
    keep = low[2] >= 0.5
    np.testing.assert_array_equal(low[0][keep], high[0])
    np.testing.assert_array_equal(low[1][keep], high[1])


def ndimage_smooth(array):
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(array, 2)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def test_decode_picks_applies_offsets_and_diameter():
    heat = np.zeros((1, 20, 30), np.float32)
    heat[0, 4, 7] = 0.8
    heat[0, 15, 22] = 0.6
    offset = np.zeros((2, 20, 30), np.float32)
    offset[:, 4, 7] = (0.25, 0.75)  # dx, dy
    offset[:, 15, 22] = (0.5, 0.0)
    diameter = np.full((20, 30), 18.0, np.float32)
    diameter[15, 22] = 24.0
    maps = {"heatmap": heat, "offset": offset, "diameter": diameter}
    table = decode_picks(maps, 0, min_distance_cells=2, threshold=0.3, stride=4, kind="vesicle")
    assert list(table.columns) == list(PICK_COLUMNS)
    np.testing.assert_allclose(table["x"], [(7 + 0.25) * 4 - 0.5, (22 + 0.5) * 4 - 0.5])
    np.testing.assert_allclose(table["y"], [(4 + 0.75) * 4 - 0.5, 15 * 4 - 0.5])
    np.testing.assert_allclose(table["diameter"], [18.0, 24.0])
    np.testing.assert_allclose(table["score"], [0.8, 0.6], rtol=1e-6)
    assert set(table["kind"]) == {"vesicle"}
    # without a size map, the given diameter
    no_size = decode_picks(
        {"heatmap": heat, "offset": offset},
        0,
        min_distance_cells=2,
        threshold=0.3,
        diameter_px=11.0,
    )
    np.testing.assert_allclose(no_size["diameter"], [11.0, 11.0])


def test_apply_threshold():
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.0, 0.0, 0.0], "score": [0.9, 0.2, 0.5]})
    assert apply_threshold(table, 0.5)["x"].tolist() == [1.0, 3.0]


# ---------------------------------------------------------------- tiling


def test_tiled_prediction_equals_single_pass():
    model = _untrained_detector()
    image = _image(512, 512)
    whole = predict_maps(model, image, tile_size=1024, device="cpu")
    tiled = predict_maps(model, image, tile_size=256, overlap=192, device="cpu")
    assert whole["heatmap"].shape == (1, 128, 128)
    for key in ("heatmap", "offset", "diameter"):
        assert np.abs(whole[key] - tiled[key]).max() < 1e-4, key
    # the outputs are not trivially constant, so the comparison means something
    assert whole["heatmap"].std() > 1e-4
    assert model.training  # predict_maps restored the mode


def test_tiled_prediction_odd_shape_and_batches():
    model = _untrained_detector(1)
    image = _image(300, 410, seed=2)
    whole = predict_maps(model, image, tile_size=1024, device="cpu")
    tiled = predict_maps(model, image, tile_size=240, overlap=192, batch_size=3, device="cpu")
    assert whole["heatmap"].shape == (1, 75, 103)
    assert np.abs(whole["heatmap"] - tiled["heatmap"]).max() < 1e-4


def test_tiles_just_larger_than_the_image_are_balanced(monkeypatch):
    import napari_cryopick.core.detect as detect

    model = _untrained_detector(1)
    image = _image(300, 300, seed=3)  # two tiles per axis of at most 256 with overlap 96
    whole = predict_maps(model, image, tile_size=1024, device="cpu")
    seen = []
    forward = detect._forward_maps
    monkeypatch.setattr(
        detect, "_forward_maps", lambda m, x, h: (seen.append(x.shape[-1]), forward(m, x, h))[1]
    )
    tiled = predict_maps(model, image, tile_size=256, overlap=96, device="cpu")
    assert np.abs(whole["heatmap"] - tiled["heatmap"]).max() < 1e-4
    # 4 tiles of 208 (not 256): the network sees 1.9x the image's pixels, not 2.9x
    assert seen == [208] * 4
    assert detect._balanced_tile(1072, 1024, 192, 16) == 640
    assert detect._balanced_tile(900, 1024, 192, 16) == 900


# ---------------------------------------------------------------- rotations


def test_rotation_averaging_of_equivariant_model_changes_nothing():
    model = CentroidToy()
    image = _image(64, 48, seed=4)
    plain = predict_maps(model, image, device="cpu")
    averaged = predict_maps(model, image, rotations=True, device="cpu")
    for key in ("heatmap", "offset", "diameter"):
        np.testing.assert_allclose(averaged[key], plain[key], atol=1e-5, err_msg=key)
    # the centroid offsets are real sub-cell positions, not a constant
    assert plain["offset"].std() > 0.01


def test_rotation_averaging_makes_any_model_equivariant():
    """Averaged maps of a rotated micrograph are the rotated maps (wrong un-rotation fails)."""
    model = AsymmetricToy()
    image = _image(64, 48, seed=5)
    rotated = np.ascontiguousarray(np.rot90(image))  # point (y, x) -> (W-1-x, y)
    width = image.shape[1]

    def check(rotations: bool) -> bool:
        maps = predict_maps(model, image, rotations=rotations, device="cpu")
        maps_r = predict_maps(model, rotated, rotations=rotations, device="cpu")
        px, py = _positions(maps)
        px_r, py_r = _positions(maps_r)
        return (
            np.allclose(maps_r["heatmap"][0], np.rot90(maps["heatmap"][0]), atol=1e-5)
            and np.allclose(maps_r["diameter"], np.rot90(maps["diameter"]), atol=1e-4)
            and np.allclose(px_r, np.rot90(py), atol=1e-4)
            and np.allclose(py_r, np.rot90(width - 1 - px), atol=1e-4)
        )

    assert not check(False), "toy model should not be equivariant on its own"
    assert check(True)


# ---------------------------------------------------------------- std rejection


def test_local_std_filter_rejects_carbon_keeps_background():
    rng = np.random.default_rng(6)
    image = rng.normal(0, 1, size=(200, 300)).astype(np.float32)
    image[:, 220:] = rng.normal(0, 6, size=(200, 80))  # carbon-like textured region
    image[150:, :100] = 0.01 * rng.normal(size=(50, 100))  # flat (empty hole) region
    background = [(x, y) for x in range(20, 200, 30) for y in range(20, 140, 30)]
    carbon = [(250, 40), (260, 100), (280, 160)]
    flat = [(40, 175), (70, 180)]
    points = background + carbon + flat
    table = pd.DataFrame({"x": [p[0] for p in points], "y": [p[1] for p in points]}, dtype=float)
    n_bg, n_c = len(background), len(carbon)
    keep = local_std_filter(image, table, window_px=20, z_cut=3.5)
    assert keep[:n_bg].all()
    assert not keep[n_bg : n_bg + n_c].any()
    assert keep[n_bg + n_c :].all()  # "high" keeps flat candidates
    keep_both = local_std_filter(image, table, window_px=20, z_cut=3.5, tails="both")
    assert keep_both[:n_bg].all()
    assert not keep_both[n_bg:].any()


# ---------------------------------------------------------------- one micrograph


def test_pick_micrograph_end_to_end_untrained():
    model = _untrained_detector()
    image = _image(700, 900, seed=7) * 10 + 100
    config = PickConfig(device="cpu", score_floor=0.0, reject_std=True, tile_size=256)
    result = pick_micrograph(model, image, diameter_px=40.0, config=config, micrograph_name="mic1")
    assert isinstance(result, PickResult)
    picks = result.picks
    assert list(picks.columns) == list(PICK_COLUMNS)
    assert len(picks) > 0
    assert (picks["micrograph"] == "mic1").all()
    assert (picks["kind"] == "particle").all()
    assert picks["x"].between(0, 899).all()
    assert picks["y"].between(0, 699).all()
    assert (np.diff(picks["score"].to_numpy()) <= 0).all()
    assert np.isfinite(picks["diameter"]).all()
    assert (picks["diameter"] > 0).all()
    # 40 px -> 20 px target: half size; heatmap cell = 4 prepared = 8 original px
    assert result.prepared_shape == (350, 450)
    np.testing.assert_allclose(result.heatmap_scale, (8.0, 8.0))
    assert result.heatmap.shape == (88, 113)
    assert (result.selected["score"] >= config.threshold).all()


def test_the_default_cap_of_candidates_grows_with_the_micrograph():
    # a trial's K3 micrograph of 2,800 packed particles kept 1,972 under a fixed 2000
    assert auto_top_k((1024, 1024), 56.0) == 2000
    assert auto_top_k((4092, 5760), 56.0) == 15032  # 2 x area / diameter^2, rounded up
    model = _untrained_detector()
    image = _image(300, 400, seed=3)
    every = PickConfig(device="cpu", score_floor=0.0, min_distance=0.0, rotations=False, border=0.0)
    found = pick_micrograph(model, image, diameter_px=8.0, config=every).picks
    assert len(found) > 2000  # the cap is 2 x 120000 / 64 = 3750
    capped = pick_micrograph(model, image, diameter_px=8.0, config=replace(every, top_k=500))
    assert len(capped.picks) == 500


# (x, y) at heatmap-cell centres: prepared = original / 2, cell j centre = 4j + 1.5
_BLOBS = [(99.0, 83.0), (299.0, 203.0), (203.0, 331.0)]


def _blob_image(seed: int = 8) -> np.ndarray:
    image = np.zeros((400, 480), np.float32)
    yy, xx = np.mgrid[:400, :480]
    for x, y in _BLOBS:
        image += 4 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 6.0**2))
    return image + np.random.default_rng(seed).normal(0, 1, image.shape).astype(np.float32)


def _blob_toy() -> CentroidToy:
    # the prepared image is clipped at 5 robust stds: a 12 px window finds the plateau's centre
    return CentroidToy(heat_scale=1.0, window=12)


def test_pick_micrograph_finds_planted_blobs_with_centroid_toy():
    """Coordinates go back to original pixels: bright blobs are found where planted."""
    config = PickConfig(device="cpu", threshold=0.8, min_distance=1.0)
    result = pick_micrograph(_blob_toy(), _blob_image(), diameter_px=40.0, config=config)
    found = result.selected
    assert len(found) == 3
    for x, y in _BLOBS:
        distance = np.hypot(found["x"] - x, found["y"] - y).min()
        assert distance < 1.0, (x, y, distance)
    assert len(result.picks) > 3  # weaker candidates kept below the threshold


def test_the_border_is_a_fraction_of_the_particles_diameter_at_any_picking_scale(
    monkeypatch,
):
    """A review: zero-shot picking at 1.25 x the given diameter dropped whole particles
    near the edge (the margin grew with the factor) and at 0.8 x kept ones the edge cuts.
    ``border_diameter_px`` keeps the margin at the particles' diameter, tiled or not."""
    from napari_cryopick.core import detect, tiled_picking

    margins = []
    inside = detect._inside_border

    def spy(table, shape, margin):
        margins.append(margin)
        return inside(table, shape, margin)

    monkeypatch.setattr(detect, "_inside_border", spy)
    config = PickConfig(device="cpu", threshold=0.8, min_distance=1.0, border=0.5)
    for factor in (0.8, 1.25):
        pick_micrograph(_blob_toy(), _blob_image(), diameter_px=40.0 * factor, config=config)
        assert margins.pop() == pytest.approx(20.0 * factor)  # the scale's: as before
        pick_micrograph(
            _blob_toy(),
            _blob_image(),
            diameter_px=40.0 * factor,
            config=config,
            border_diameter_px=40.0,
        )
        assert margins.pop() == pytest.approx(20.0)
    tiled_picking.pick_in_tiles(  # a large micrograph's tiles (here: one)
        pick_micrograph,
        _blob_toy(),
        _blob_image(),
        diameter_px=50.0,
        config=config,
        border_diameter_px=40.0,
    )
    assert margins
    assert margins == pytest.approx([20.0] * len(margins))


def test_picks_of_an_enlarged_micrograph_lie_on_it():
    """A review: candidates were clipped to the enlarged prepared grid, whose last pixel
    maps past the micrograph's (99.75 of 100 px at scale 4); training refused them."""
    image = np.random.default_rng(1).normal(0, 1, (100, 90)).astype(np.float32)
    config = PickConfig(device="cpu", score_floor=0.0, min_distance=0.0, border=0.0)
    picks = pick_micrograph(CentroidToy(), image, diameter_px=5.0, config=config).picks
    assert len(picks) > 100
    assert picks["x"].between(0.0, 89.0).all(), picks["x"].max()
    assert picks["y"].between(0.0, 99.0).all(), picks["y"].max()
    assert picks["x"].max() > 88.5  # candidates reach the last pixel


def test_border_margin_follows_the_clicks_closest_to_the_edge():
    """Half a diameter unless a clicked particle (or vesicle) sits closer; rounded down; other
    kinds ignored."""
    shape = (200, 300)
    far = pd.DataFrame({"x": [100.0, 150.0], "y": [100.0, 60.0]})  # >= 2 diameters inside
    assert border_from_clicks([(far, shape)], 20.0) == PickConfig().border
    near = pd.DataFrame({"x": [100.0, 6.5], "y": [100.0, 50.0]})  # 6.5 px = 0.325 diameters
    assert border_from_clicks([(far, shape), (near, shape)], 20.0) == pytest.approx(0.3)
    right = pd.DataFrame({"x": [299.0 - 3.0], "y": [100.0]})  # the far edge counts too
    assert border_from_clicks([(right, shape)], 20.0) == pytest.approx(0.15)
    exact = pd.DataFrame({"x": [6.0], "y": [100.0]})  # exactly 0.3: not rounded to 0.25
    assert border_from_clicks([(exact, shape)], 20.0) == pytest.approx(0.3)
    junk = pd.DataFrame(
        {"x": [1.0, 2.0, 100.0], "y": [100.0] * 3, "kind": ["negative", None, "particle"]}
    )  # negatives and rows of no kind (training ignores them too) do not count
    assert border_from_clicks([(junk, shape)], 20.0) == PickConfig().border
    # a vesicle clicked near the edge counts as a particle does (a vesicle trial's circle at
    # 0.38 diameters from it: every vesicle the edge cuts was lost), less the 0.1 diameter
    # a predicted circle's centre lies off (a trial's clicked vesicles by the edge were
    # lost at 0.35: their circles 11-18 px of 192 nearer the edge)
    vesicles = pd.DataFrame({"x": [7.6, 100.0], "y": [100.0] * 2, "kind": ["vesicle"] * 2})
    assert border_from_clicks([(vesicles, shape)], 20.0) == pytest.approx(0.25)
    inside = pd.DataFrame({"x": [12.0], "y": [100.0], "kind": ["vesicle"]})  # 0.6: default
    assert border_from_clicks([(inside, shape)], 20.0) == PickConfig().border
    # half a diameter inside or more changes nothing, vesicles too (a review: 0.55 gave 0.45)
    half = pd.DataFrame({"x": [11.0], "y": [100.0], "kind": ["vesicle"]})
    assert border_from_clicks([(half, shape)], 20.0) == PickConfig().border
    # beside clicked particles, the particles' margin (a vesicle mostly off the edge must
    # not move a particle model's: a review)
    joint = pd.DataFrame({"x": [2.0, 100.0], "y": [100.0] * 2, "kind": ["vesicle", "particle"]})
    assert border_from_clicks([(joint, shape)], 20.0) == PickConfig().border
    # each micrograph's own diameter: 6.5 px is 0.65 of 10 px but 0.1625 of 40 px
    assert border_from_clicks([(near, shape, 10.0)], 20.0) == PickConfig().border
    assert border_from_clicks([(near, shape, 40.0), (far, shape)], 20.0) == pytest.approx(0.15)
    outside = pd.DataFrame({"x": [-4.0], "y": [100.0]})  # a click off the image: keep all
    assert border_from_clicks([(outside, shape)], 20.0) == 0.0
    assert border_from_clicks([(near, shape)], 20.0, default=0.2) == pytest.approx(0.2)
    assert border_from_clicks([(far.iloc[:0], shape)], 20.0) is None
    with pytest.raises(ValueError, match="diameter"):
        border_from_clicks([(far, shape)], 0.0)
    with pytest.raises(ValueError, match="diameter"):
        border_from_clicks([(far, shape)])  # no diameter at all


def test_choose_threshold_separates_blobs_from_background():
    from napari_cryopick.core.pick_table import make_picks

    images = [_blob_image(seed) for seed in (1, 2)]
    truth = make_picks([b[0] for b in _BLOBS], [b[1] for b in _BLOBS], diameter=40.0)
    config = PickConfig(device="cpu", min_distance=1.0)
    threshold, f_beta, precision, recall, click_share = choose_threshold(
        _blob_toy(), images, [truth, truth], diameter_px=40.0, config=config, tolerance_px=4.0
    )
    assert f_beta == pytest.approx(1.0)
    assert precision == pytest.approx(1.0)
    assert recall == pytest.approx(1.0)
    background = pick_micrograph(_blob_toy(), images[0], diameter_px=40.0, config=config).picks
    assert (background["score"] >= threshold).sum() == 3
    # of the candidates at 0.15 or more (both micrographs), the blobs' share
    found = sum(
        int((pick_micrograph(_blob_toy(), image, diameter_px=40.0, config=config).picks["score"]
             >= 0.15).sum())
        for image in images
    )  # fmt: skip
    assert found > 2 * len(truth)
    assert click_share == pytest.approx(2 * len(truth) / found)


def test_choose_threshold_stops_at_the_deadline(monkeypatch):
    """Past a training's time budget, only the first micrograph is picked (and read)."""
    import time

    from napari_cryopick.core import detect
    from napari_cryopick.core.pick_table import make_picks

    truth = make_picks([b[0] for b in _BLOBS], [b[1] for b in _BLOBS], diameter=40.0)
    read = []

    class Lazy:
        def __len__(self):
            return 3

        def __getitem__(self, index):
            read.append(index)
            return _blob_image(index + 1)

    config = PickConfig(device="cpu", min_distance=1.0)
    options = {"diameter_px": 40.0, "config": config, "tolerance_px": 4.0}
    picked = []
    original = detect.pick_micrograph
    monkeypatch.setattr(
        detect,
        "pick_micrograph",
        lambda *a, **k: (picked.append(k["micrograph_name"]), original(*a, **k))[1],
    )
    _threshold, f_beta, _, recall, _share = choose_threshold(
        _blob_toy(), Lazy(), [truth] * 3, deadline=time.perf_counter() - 1.0, **options
    )
    assert read == [0]
    assert picked == ["0"]
    assert recall == pytest.approx(1.0)  # scored against the picked micrograph's truth only
    assert f_beta == pytest.approx(1.0)
    read.clear()
    picked.clear()
    choose_threshold(
        _blob_toy(), Lazy(), [truth] * 3, deadline=time.perf_counter() + 600, **options
    )
    assert read == [0, 1, 2]
    assert picked == ["0", "1", "2"]


def _write_png(path, image):
    import imageio.v3 as iio

    scaled = (image - image.min()) / (image.max() - image.min()) * 255
    iio.imwrite(path, scaled.astype(np.uint8))


# ---------------------------------------------------------------- command line


def test_cli_pick_writes_star(tmp_path, capsys):
    from napari_cryopick.cli import main
    from napari_cryopick.core.model.checkpoint import save_checkpoint
    from napari_cryopick.io.pickfiles import read_picks

    model_path = tmp_path / "model.pt"
    save_checkpoint(model_path, _untrained_detector(), metadata={"diameter_px": 24.0})
    mics = tmp_path / "mics"
    mics.mkdir()
    for index in range(2):
        _write_png(mics / f"mic{index}.png", _image(200, 240, seed=index))
    out = tmp_path / "picks"
    code = main(
        [
            "pick",
            str(mics),
            "--model",
            str(model_path),
            "--out",
            str(out),
            "--threshold",
            "0.05",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    # one pick file per micrograph (beside the batch runner's run manifest)
    picked = sorted(p.name for p in out.iterdir() if p.name != "cryopick_manifest.jsonl")
    assert picked == ["mic0.star", "mic1.star"]
    table = read_picks(out / "mic0.star")
    assert table["x"].between(0, 239).all()
    assert table["y"].between(0, 199).all()
    assert "2 of 2 micrographs" in capsys.readouterr().out


def test_cli_pick_missing_model_is_bad_input(tmp_path, capsys):
    from napari_cryopick.cli import main

    _write_png(tmp_path / "a.png", _image(64, 64))
    code = main(["pick", str(tmp_path / "a.png"), "--model", str(tmp_path / "nope.pt")])
    assert code == 2
    assert "nope.pt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argument", [["--threshold", "1.5"], ["--diameter", "-3"], ["--max-picks", "0"]]
)
def test_cli_pick_bad_options(tmp_path, argument):
    from napari_cryopick.cli import main

    _write_png(tmp_path / "a.png", _image(64, 64))
    (tmp_path / "m.pt").write_bytes(b"x")
    assert (
        main(["pick", str(tmp_path / "a.png"), "--model", str(tmp_path / "m.pt"), *argument]) == 2
    )
