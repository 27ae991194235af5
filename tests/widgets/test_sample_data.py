"""Tests of the napari sample data (synthetic micrographs with truth layers)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cryopick import _sample_data


@pytest.mark.parametrize(
    ("function", "kinds"),
    [
        (_sample_data.sample_particles, {"particle", "negative"}),
        (_sample_data.sample_vesicles, {"particle", "vesicle"}),
        (_sample_data.sample_fibers, {"particle", "fiber"}),
    ],
)
def test_sample_layer_tuples(function, kinds):
    layers = function()
    image, _image_kwargs, image_type = layers[0]
    assert image_type == "image"
    assert image.shape == (512, 512)
    assert image.dtype == np.float32
    points = [layer for layer in layers if layer[2] == "points"]
    circles = [
        layer for layer in layers if layer[2] == "shapes" and layer[1]["shape_type"] == "ellipse"
    ]
    found = {kwargs["metadata"]["kind"] for _, kwargs, _ in points + circles}
    assert found == kinds
    # vesicles as circles with their own sizes, as File > Open shows them (a trial: points)
    assert {kwargs["metadata"]["kind"] for _, kwargs, _ in circles} <= {"vesicle"}
    assert ("vesicle" in kinds) == bool(circles)
    for data, kwargs, _ in points:
        assert data.shape[1] == 2
        # (row, col) inside the image, sized by the truth diameter
        assert np.all((data >= 0) & (data <= 511))
        assert np.all(np.asarray(kwargs["size"]) > 0)
    # deterministic: the same sample every time
    np.testing.assert_array_equal(function()[0][0], image)


def test_particle_truth_points_sit_on_dark_particles():
    layers = _sample_data.sample_particles()
    image = layers[0][0]
    particle_points = next(
        d for d, k, t in layers if t == "points" and k["metadata"]["kind"] == "particle"
    )
    rows, cols = np.rint(particle_points).astype(int).T
    assert image[rows, cols].mean() < np.median(image)


def test_fiber_sample_has_centre_lines():
    layers = _sample_data.sample_fibers()
    shapes = [layer for layer in layers if layer[2] == "shapes"]
    assert len(shapes) == 1
    paths, kwargs, _ = shapes[0]
    assert kwargs["shape_type"] == "path"
    assert len(paths) == 3
    assert all(np.asarray(p).shape[1] == 2 for p in paths)


@pytest.mark.parametrize("key", ["synthetic-particles", "synthetic-vesicles", "synthetic-fibers"])
def test_open_sample_in_napari(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-cryopick", key)
    assert len(viewer.layers) >= 3
    assert viewer.layers[0]._type_string == "image"
    assert viewer.layers[0].data.shape == (512, 512)
    assert any(layer._type_string == "points" and len(layer.data) for layer in viewer.layers)
