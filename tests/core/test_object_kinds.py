"""Vesicle and fiber glue: training points along paths, picking and tracing, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core.fibers import fiber_metrics, path_length
from napari_cryopick.core.object_kinds import (
    densify_fiber_picks,
    fiber_training_picks,
    pick_fibers,
    pick_vesicles,
    trace_fiber_candidates,
    typical_vesicle_diameter,
)
from napari_cryopick.core.pick_table import make_picks

torch = pytest.importorskip("torch")


class _BrightnessDetector(torch.nn.Module):
    """A stand-in detector: the heatmap is the mean brightness of each 4x4 cell.

    Bright lines become ridges of the heatmap (with a crest), bright discs
    peaks; the size
    head predicts ``size_factor`` times the target diameter everywhere.
    """

    size_multiple = 16

    def __init__(self, kinds, size_factor=1.5):
        super().__init__()
        from napari_cryopick.core.model import DetectorConfig

        self.config = DetectorConfig(kinds=tuple(kinds))
        self.size_factor = size_factor

    def forward(self, x, head=None):
        pooled = torch.nn.functional.avg_pool2d(x, 4)  # [B, 1, H/4, W/4]
        # a [1, 2, 1] blur gives ridges a crest, as a trained heatmap has
        # on the input's device: picking moves the model to the GPU where there is one
        # (a GPU run of the suite failed here)
        kernel = torch.tensor([1.0, 2.0, 1.0], device=x.device)
        kernel = (kernel[:, None] * kernel[None, :] / 16.0)[None, None]
        pooled = torch.nn.functional.conv2d(pooled, kernel, padding=1)
        # logits from the brightness relative to the brightest cell: a crest
        # scores ~0.97, a cell at half of it ~0.08, whatever the normalisation
        heat = 12.0 * (pooled / pooled.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6) - 0.7)
        batch, _, rows, cols = pooled.shape
        return {
            "heatmap": heat.repeat(1, len(self.config.kinds), 1, 1),
            "offset": torch.full((batch, 2, rows, cols), 0.5, device=x.device),
            "size": torch.full(
                (batch, 1, rows, cols), float(np.log(self.size_factor)), device=x.device
            ),
        }

    def decode_size(self, size):
        return self.config.target_diameter_px * torch.exp(size)


def _draw_line(image, start, end, width):
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    start, end = np.asarray(start, float), np.asarray(end, float)
    direction = end - start
    t = ((cols - start[0]) * direction[0] + (rows - start[1]) * direction[1]) / (
        direction @ direction
    )
    t = np.clip(t, 0, 1)
    distance = np.hypot(cols - (start[0] + t * direction[0]), rows - (start[1] + t * direction[1]))
    image[distance <= width / 2] = 6.0


# ----------------------------------------------------------------- training points


def test_fiber_training_picks_cover_the_path_evenly():
    path = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 55.0]])
    picks = fiber_training_picks([path, [[5.0, 5.0]]], 10.0, diameter=24.0, micrograph="m")
    first = picks[picks["tube_id"] == 1][["x", "y"]].to_numpy()
    assert len(first) == 17  # 0..150 every 10 (16) plus the end point 5 px after the last
    np.testing.assert_allclose(first[-1], [100.0, 55.0])
    np.testing.assert_allclose(np.hypot(*np.diff(first[:-1], axis=0).T), 10.0, atol=1e-9)
    assert (picks["kind"] == "fiber").all()
    assert (picks["micrograph"] == "m").all()
    np.testing.assert_allclose(picks["diameter"], 24.0)
    assert picks["tube_id"].tolist().count(2) == 1
    with pytest.raises(ValueError, match="spacing_px"):
        fiber_training_picks([path], 0.0)


def test_densify_fiber_picks_keeps_other_kinds_and_tube_ids():
    vertices = make_picks(
        [0, 40, 200, 200], [0, 0, 0, 30], diameter=20.0, kind="fiber", tube_id=[3, 3, 7, 7]
    )
    vertices["micrograph"] = "a"
    particle = make_picks([5], [5], diameter=30.0, micrograph="a")
    dense = densify_fiber_picks(pd.concat([particle, vertices], ignore_index=True))
    assert dense["kind"].tolist()[0] == "particle"
    fibers = dense[dense["kind"] == "fiber"]
    # default spacing: half the fiber width (10 px)
    assert (fibers["tube_id"] == 3).sum() == 5
    assert (fibers["tube_id"] == 7).sum() == 4
    tube3 = fibers[fibers["tube_id"] == 3]["x"].to_numpy()
    np.testing.assert_allclose(tube3, [0, 10, 20, 30, 40])
    assert set(fibers["micrograph"]) == {"a"}


def test_typical_vesicle_diameter_is_the_geometric_mean_of_the_range():
    assert typical_vesicle_diameter([100, 400, np.nan, 200]) == pytest.approx(200.0)
    with pytest.raises(ValueError):
        typical_vesicle_diameter([np.nan])


# ----------------------------------------------------------------- tracing candidates


def test_trace_fiber_candidates_threshold_and_scores():
    x = np.arange(0, 300, 15.0)
    candidates = make_picks(
        np.r_[x, 150.0],
        np.r_[np.full(x.size, 100.0), 400.0],
        score=np.r_[np.full(x.size, 0.8), 0.9],
    )
    paths, picks = trace_fiber_candidates(
        candidates, threshold=0.5, link_radius_px=40.0, diameter_px=20.0, micrograph="m"
    )
    assert len(paths) == 1  # the isolated point makes no path
    assert path_length(paths[0]) == pytest.approx(285.0, abs=1.0)
    np.testing.assert_allclose(picks["score"], 0.8)
    assert (picks["tube_id"] == 1).all()
    assert (picks["kind"] == "fiber").all()
    none, empty = trace_fiber_candidates(candidates, threshold=0.95, link_radius_px=40.0)
    assert none == []
    assert len(empty) == 0


# ----------------------------------------------------------------- picking (stand-in detector)


def test_pick_fibers_traces_two_crossing_lines():
    image = np.zeros((256, 256), np.float32)
    truth = [((20.0, 40.0), (236.0, 220.0)), ((20.0, 210.0), (236.0, 50.0))]
    for start, end in truth:
        _draw_line(image, start, end, 4)
    model = _BrightnessDetector(["particle", "fiber"])
    result = pick_fibers(model, image, diameter_px=20.0, link_radius_px=40.0)
    true_paths = [np.array(line) for line in truth]
    metrics = fiber_metrics(result.paths, true_paths, tolerance_px=8.0)
    assert metrics["n_recovered"] == 2, metrics
    assert metrics["n_false"] == 0
    assert metrics["mean_distance_px"] < 3.0
    assert result.heatmap.ndim == 2
    assert result.link_radius_px == 40.0
    assert set(result.picks["tube_id"]) == {1, 2}
    assert (result.candidates["kind"] == "fiber").all()


def test_pick_fibers_needs_a_fiber_kind():
    model = _BrightnessDetector(["particle"])
    with pytest.raises(ValueError, match="no 'fiber' heatmap"):
        pick_fibers(model, np.zeros((64, 64), np.float32), diameter_px=20.0)


def test_pick_vesicles_returns_only_vesicles_with_their_diameters():
    # noisy background: the robust normalisation needs a spread
    image = np.random.default_rng(0).normal(0.0, 1.0, (256, 256)).astype(np.float32)
    rows, cols = np.mgrid[0:256, 0:256]
    centres = [(60.0, 70.0), (180.0, 150.0)]
    for x, y in centres:
        image[np.hypot(cols - x, rows - y) <= 6] = 10.0
    model = _BrightnessDetector(["particle", "vesicle"], size_factor=1.5)
    result = pick_vesicles(model, image, diameter_px=40.0)
    picks = result.selected
    assert (picks["kind"] == "vesicle").all()
    assert len(picks) == 2
    found = picks[["x", "y"]].to_numpy()
    for x, y in centres:
        # the stand-in's offsets are constant: positions within half a cell (8 px)
        assert np.min(np.hypot(found[:, 0] - x, found[:, 1] - y)) < 6.0
    # the size head's diameter, back in original pixels (1.5 x 40 px)
    np.testing.assert_allclose(picks["diameter"], 60.0, rtol=0.02)


# ----------------------------------------------------------------- command line


def test_cli_pick_fibers_writes_helical_star_and_filament_cbox(tmp_path, monkeypatch):
    import tifffile

    from napari_cryopick.cli import main
    from napari_cryopick.core.model.checkpoint import save_checkpoint
    from napari_cryopick.io.filaments import read_cryolo_filaments, read_relion_helical

    image = np.zeros((256, 256), np.float32)
    _draw_line(image, (30.0, 129.5), (226.0, 129.5), 4)
    tifffile.imwrite(tmp_path / "mic_1.tif", image)
    checkpoint = tmp_path / "model.pt"
    from napari_cryopick.core.model import Detector, DetectorConfig

    real = Detector(DetectorConfig(kinds=("fiber",)))
    save_checkpoint(checkpoint, real, metadata={"diameter_px": 20.0})

    # swap the loaded detector for the stand-in (the checkpoint path is real)
    import napari_cryopick.core.model.checkpoint as checkpoint_module

    original = checkpoint_module.load_checkpoint

    def fake_load(path, *args, **kwargs):
        model, metadata = original(path, *args, **kwargs)
        return _BrightnessDetector(model.config.kinds), metadata

    monkeypatch.setattr(checkpoint_module, "load_checkpoint", fake_load)
    common = [
        "pick", str(tmp_path / "mic_1.tif"), "--model", str(checkpoint), "--kind", "fiber",
        "--diameter", "20", "--link-radius", "40", "--box-distance", "20",
    ]  # fmt: skip
    assert main([*common, "--format", "star", "--out", str(tmp_path / "star")]) == 0
    assert main([*common, "--format", "cbox", "--out", str(tmp_path / "cbox")]) == 0
    assert main([*common, "--format", "box", "--out", str(tmp_path / "box")]) == 2
    vesicles = [*common[:4], "--kind", "vesicle", "--diameter", "20", "--out", str(tmp_path / "v")]
    assert main(vesicles) == 2  # the model has no vesicle kind
    tubes = read_relion_helical(tmp_path / "star" / "mic_1.star")[""]
    assert len(tubes) == 1
    assert abs(tubes[0][0, 0] - tubes[0][-1, 0]) > 150  # start and end far apart along x
    np.testing.assert_allclose(tubes[0][:, 1], 128.0, atol=3.0)
    boxes = read_cryolo_filaments(tmp_path / "cbox" / "mic_1.cbox")
    assert len(boxes) == 1
    np.testing.assert_allclose(np.hypot(*np.diff(boxes[0], axis=0).T), 20.0, atol=0.5)


def test_simplify_path_keeps_corners_within_tolerance():
    from napari_cryopick.core.fibers import _distance_to_polyline, simplify_path

    corner = np.array([[0.0, 0.0], [50.0, 0.5], [100.0, 0.0], [100.0, 50.0], [100.5, 100.0]])
    simple = simplify_path(corner, 1.0)
    np.testing.assert_allclose(simple, [[0, 0], [100, 0], [100.5, 100]])
    assert _distance_to_polyline(corner, simple).max() <= 1.0
    np.testing.assert_allclose(simplify_path(corner, 0.0), corner)
    with pytest.raises(ValueError):
        simplify_path(corner, -1.0)


def test_find_peaks_ridge_mode_spaces_points_along_a_flat_ridge():
    from napari_cryopick.core.detect import find_peaks

    heat = np.zeros((20, 60), np.float32)
    # a crest that varies slowly along the ridge: local maxima only at its two bumps
    heat[10, 5:55] = 0.85 + 0.05 * np.sin(2 * np.pi * np.arange(50) / 25)
    heat[9, 5:55] = heat[11, 5:55] = 0.4
    _, cols_max, _ = find_peaks(heat, min_distance_cells=3.0, threshold=0.3)
    rows, cols, _ = find_peaks(heat, min_distance_cells=3.0, threshold=0.3, ridge=True)
    assert len(cols_max) <= 3  # the two bumps and the ridge's end
    assert len(cols) >= 12
    assert set(rows.tolist()) == {10}  # crest cells win, flanks are suppressed
    gaps = np.diff(np.sort(cols))
    assert gaps.min() >= 3  # min_distance respected
    assert gaps.max() <= 5  # and no holes along the crest
