"""Tests of napari_cryopick.core.preprocess on small synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cryopick.core import preprocess as pp


def _gaussian_dot(shape, row, col, sigma=3.0):
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((rr - row) ** 2 + (cc - col) ** 2) / (2 * sigma**2)).astype(np.float32)


def _centroid(image):
    weights = np.clip(image, 0, None)
    rr, cc = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return (weights * rr).sum() / weights.sum(), (weights * cc).sum() / weights.sum()


@pytest.mark.parametrize(
    ("shape", "scale", "expected"),
    [((100, 80), 0.5, (50, 40)), ((100, 80), 0.3, (30, 24)), ((33, 20), 2.0, (66, 40))],
)
def test_resample_shape_and_dtype(shape, scale, expected):
    out = pp.resample(np.random.default_rng(0).normal(size=shape), scale)
    assert out.shape == expected
    assert out.dtype == np.float32


def test_output_scale_is_per_axis_ratio():
    assert pp.output_scale((128, 100), (47, 37)) == (47 / 128, 37 / 100)


@pytest.mark.parametrize("scale", [0.5, 0.37, 2.0])
def test_resample_keeps_pixel_origin(scale):
    shape = (128, 120)
    row, col = 40.0, 30.0
    image = _gaussian_dot(shape, row, col)
    out = pp.resample(image, scale)
    sy, sx = pp.output_scale(shape, out.shape)
    got_row, got_col = _centroid(out)
    assert got_row == pytest.approx(row * sy, abs=0.05)
    assert got_col == pytest.approx(col * sx, abs=0.05)


def test_resample_preserves_constant():
    out = pp.resample(np.full((64, 50), 3.0), 0.41)
    np.testing.assert_allclose(out, 3.0, atol=1e-4)


def test_resample_anti_aliases_fine_detail():
    cols = np.arange(128)
    # 0.375 cycles/pixel (48 whole periods): above the Nyquist frequency (0.25)
    # of the half-size grid
    stripes = np.tile(np.cos(2 * np.pi * 48 / 128 * cols), (64, 1)).astype(np.float32)
    naive = stripes[::2, ::2]
    out = pp.resample(stripes, 0.5)
    assert naive.std() > 0.5  # plain subsampling aliases the stripes
    assert out.std() < 1e-3


def test_bin_image_block_means_and_crop():
    image = np.arange(35, dtype=np.float32).reshape(5, 7)
    out = pp.bin_image(image, 2)
    assert out.shape == (2, 3)
    assert out[0, 0] == pytest.approx(np.mean([0, 1, 7, 8]))
    assert out[1, 2] == pytest.approx(np.mean([18, 19, 25, 26]))
    with pytest.raises(ValueError):
        pp.bin_image(image, 0)


def test_downsample_to_diameter():
    image = np.zeros((200, 160), np.float32)
    out, scale = pp.downsample_to_diameter(image, 64, 16)
    assert scale == pytest.approx(0.25)
    assert out.shape == (50, 40)
    same, scale_one = pp.downsample_to_diameter(image, 16, 64)
    assert scale_one == 1.0
    assert same.shape == image.shape
    bigger, up = pp.downsample_to_diameter(image, 16, 32, allow_upsample=True)
    assert up == 2.0
    assert bigger.shape == (400, 320)


def _amplitude(image, period, axis=1):
    """Amplitude of a cosine of ``period`` along columns, measured in the interior."""
    profile = image[image.shape[0] // 2, 32:-32]
    n = profile.size - profile.size % period
    t = np.arange(n)
    return 2 * abs(np.mean(profile[:n] * np.exp(-2j * np.pi * t / period)))


@pytest.mark.parametrize(
    ("period", "low", "high"), [(128, 0.97, 1.01), (16, 0.47, 0.53), (4, 0.0, 0.01)]
)
def test_lowpass_transfer_matches_documented_half_point(period, low, high):
    cols = np.arange(256)
    image = np.tile(np.cos(2 * np.pi * cols / period), (64, 1)).astype(np.float32)
    out = pp.lowpass(image, 16.0)
    assert out.shape == image.shape
    assert low <= _amplitude(out, period) <= high


def test_lowpass_keeps_mean_and_reduces_noise():
    noise = np.random.default_rng(1).normal(5.0, 1.0, size=(96, 80))
    out = pp.lowpass(noise, 8.0)
    assert out.mean() == pytest.approx(noise.mean(), abs=0.05)
    assert out.std() < 0.3 * noise.std()


def test_normalize_robust_statistics():
    rng = np.random.default_rng(2)
    image = rng.normal(10.0, 3.0, size=(200, 200))
    image.flat[rng.choice(image.size, 400, replace=False)] = 1e6  # hot pixels
    out = pp.normalize(image, clip=None)
    assert out.dtype == np.float32
    assert np.median(out) == pytest.approx(0.0, abs=0.02)
    core = out[np.abs(out) < 100]
    assert core.std() == pytest.approx(1.0, abs=0.05)
    clipped = pp.normalize(image, clip=5.0)
    assert clipped.max() == pytest.approx(5.0)
    assert clipped.min() >= -5.0


def test_normalize_degenerate_inputs():
    assert np.all(pp.normalize(np.full((8, 8), 7.0)) == 0)
    # MAD of 0 but non-zero spread: falls back to the standard deviation
    image = np.zeros((10, 10))
    image[0, :3] = 10.0
    out = pp.normalize(image, clip=None)
    assert np.isfinite(out).all()
    assert out.max() == pytest.approx(10.0 / image.std(), rel=1e-5)


@pytest.mark.parametrize("adaptive", [False, True])
def test_equalize_range_and_monotonic(adaptive):
    image = np.random.default_rng(3).gamma(2.0, size=(64, 64))
    out = pp.equalize(image, adaptive=adaptive)
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    if not adaptive:
        order = np.argsort(image, axis=None)
        assert np.all(np.diff(out.ravel()[order]) >= 0)
        assert out.max() == pytest.approx(1.0)
        # equalised values are close to uniformly distributed
        assert np.mean(out) == pytest.approx(0.5, abs=0.05)


def test_to_uint8_range():
    image = np.random.default_rng(4).normal(size=(50, 60))
    out = pp.to_uint8(image)
    assert out.dtype == np.uint8
    assert out.min() == 0
    assert out.max() == 255
    assert np.all(pp.to_uint8(np.ones((4, 4))) == 0)
    # order is kept (up to clipping)
    assert pp.to_uint8(image)[image > np.percentile(image, 60)].mean() > out.mean()


def test_preprocess_pipeline():
    image = np.random.default_rng(5).normal(100.0, 10.0, size=(120, 100)).astype(np.uint16)
    out = pp.preprocess(image, scale=0.5, lowpass_px=8, equalize=True)
    assert out.shape == (60, 50)
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    raw = pp.preprocess(image, equalize=False, clip=3.0)
    assert raw.shape == image.shape
    assert np.median(raw) == pytest.approx(0.0, abs=0.05)
    assert np.abs(raw).max() <= 3.0
    assert set(pp.DEFAULTS) == {"diameter_px", "scale", "lowpass_px", "equalize", "clip"}


def test_preprocess_diameter_sets_scale_and_lowpass():
    image = np.random.default_rng(6).normal(0.0, 1.0, size=(256, 192)).astype(np.float32)
    # 64 px particles -> binned to 16 px: a quarter of the size
    out = pp.preprocess(image, diameter_px=64)
    assert out.shape == (64, 48)
    assert np.array_equal(out, pp.preprocess(image, scale=0.25, lowpass_px=32))
    # small particles are never enlarged, but still low-passed
    small = pp.preprocess(image, diameter_px=8)
    assert small.shape == image.shape
    assert small.std() < pp.preprocess(image).std()
    with pytest.raises(ValueError, match="diameter_px"):
        pp.preprocess(image, diameter_px=-3)


def test_rejects_non_2d():
    with pytest.raises(ValueError):
        pp.resample(np.zeros((2, 3, 4)), 0.5)
    with pytest.raises(ValueError):
        pp.resample(np.zeros((8, 8)), 0.0)


def _centre_minus_ring(image, rows, cols):
    """Per position: mean of a disc (r < 3) minus mean of a ring (4 <= r <= 7.5)."""
    half = 9
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    radius = np.hypot(yy, xx)
    centre, ring = radius < 3, (radius >= 4) & (radius <= 7.5)
    values = []
    for row, col in zip(rows, cols):
        if half <= row < image.shape[0] - half and half <= col < image.shape[1] - half:
            patch = image[row - half : row + half + 1, col - half : col + half + 1]
            values.append(patch[centre].mean() - patch[ring].mean())
    return np.asarray(values)


@pytest.mark.realdata
def test_apoferritin_particles_visible_after_preprocessing(real_data_dir):
    """Binning + a low-pass at half the diameter reveal apoferritin's dark shell."""
    import imageio.v3 as iio
    import pandas as pd

    folder = real_data_dir / "empiar10146_apoferritin"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    path = sorted((folder / "micrographs").glob("*.png"))[0]
    picks = pd.read_csv(folder / "picks" / f"{path.stem}.csv")
    raw = iio.imread(path)
    # the default pipeline given the data set's particle diameter
    out = pp.preprocess(raw, diameter_px=62)
    sy, sx = pp.output_scale(raw.shape, out.shape)
    rows = np.rint(picks["y"].to_numpy() * sy).astype(int)
    cols = np.rint(picks["x"].to_numpy() * sx).astype(int)
    on_particles = _centre_minus_ring(out, rows, cols)
    rng = np.random.default_rng(0)
    background = _centre_minus_ring(
        out, rng.integers(0, out.shape[0], 400), rng.integers(0, out.shape[1], 400)
    )
    # a bright centre inside a dark shell at the picks, nothing special elsewhere
    assert on_particles.mean() - background.mean() > 0.15
    assert abs(background.mean()) < 0.1


def test_check_contrast_refuses_flat_images_also_with_nan_pixels():
    flat = np.full((64, 64), 7.0)
    with pytest.raises(ValueError, match="every pixel is 7"):
        pp.check_contrast(flat)
    flat[3, 4] = np.nan  # NaN-padded crops: a review saw min/max NaN let it through
    with pytest.raises(ValueError, match="every pixel is 7"):
        pp.check_contrast(flat)
    with pytest.raises(ValueError, match="no finite pixel"):
        pp.check_contrast(np.full((4, 4), np.nan))
    noisy = np.random.default_rng(0).normal(size=(64, 64))
    noisy[0, 0] = np.nan
    pp.check_contrast(noisy)  # contrast: nothing raised


def test_hot_pixels_are_clipped_before_resampling_spreads_them():
    """A trial: 50 pixels at 1e6 in a 1024 px micrograph left 17 % of the prepared pixels
    clipped (the Fourier resampling's ringing), and no pick."""
    from napari_cryopick.core.model import DetectorConfig
    from napari_cryopick.core.model.inputs import prepare_micrograph

    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 7.5, size=(512, 512)).astype(np.float32)
    clean = prepare_micrograph(image, 56.0, DetectorConfig()).image
    hot = image.copy()
    hot[rng.integers(0, 512, 50), rng.integers(0, 512, 50)] = 1e6
    prepared = prepare_micrograph(hot, 56.0, DetectorConfig()).image
    assert np.mean(np.abs(prepared) >= 5.0) < 0.005  # was 0.07
    assert np.mean(np.abs(prepared - clean)) < 0.05
    # normal pixels are left as they are, and the image is not copied
    assert pp.clip_outliers(image) is image
    np.testing.assert_array_equal(pp.clip_outliers(hot)[hot < 1e6], image[hot < 1e6])
    _low, high = pp.outlier_limits(hot)
    assert pp.clip_outliers(hot).max() == pytest.approx(high)
    assert (high - 100.0) / 7.5 == pytest.approx(pp.OUTLIER_SIGMAS, rel=0.05)


def test_a_gradient_across_the_micrograph_is_removed_before_normalising():
    """A trial: a ramp of 40 grey levels across a ribosome micrograph (noise 7.5) left 32
    of 344 picks, 80 levels none (a model trained with the background removed: 344, 339)."""
    from napari_cryopick.core.model import DetectorConfig, inputs

    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 7.5, size=(1024, 1024)).astype(np.float32)
    ramp = image + np.linspace(0.0, 80.0, 1024, dtype=np.float32)[None, :]

    def change(config: DetectorConfig) -> float:  # how far the ramp moves it, inside
        flat = inputs.prepare_micrograph(image, 56.0, config).image
        prepared = inputs.prepare_micrograph(ramp, 56.0, config).image
        return float(np.mean(np.abs(prepared - flat)[:, 64:-64]))

    assert DetectorConfig().background == 4.0  # new models remove it
    assert change(DetectorConfig()) < 0.4 * change(DetectorConfig(background=0.0))  # 0.27, 0.78
    # the background grid read block by block is the one of the whole image
    grid, cell = pp.background_grid(ramp, 112.0)
    whole = pp.background_rows(grid, cell, 0, 1024, 1024)
    np.testing.assert_allclose(pp.background_rows(grid, cell, 100, 300, 1024), whole[100:300])
    # a flat image keeps its noise (only its mean goes)
    flat = pp.subtract_background(image, 112.0)
    assert np.abs(flat - (image - image.mean())).max() < 1.0


def test_models_saved_before_the_background_keep_their_preparation():
    """The bundled general model (and a user's older models) were trained without it."""
    from napari_cryopick.core.model import DetectorConfig

    saved = DetectorConfig().to_dict()
    assert DetectorConfig.from_dict(saved).background == 4.0
    del saved["background"]
    assert DetectorConfig.from_dict(saved).background == 0.0
    with pytest.raises(ValueError, match="background must be >= 0"):
        DetectorConfig(background=-1.0)
    from napari_cryopick.core.model.bundled import load_bundled_model

    bundled, _ = load_bundled_model()
    assert bundled.config.background == 0.0
