"""Micrograph preprocessing for display and detection.

Plain functions on ``numpy`` arrays of shape ``(rows, cols)``; nothing here
knows about files, napari or picks. The default pipeline (:func:`preprocess`)
is

1. :func:`resample` by ``scale`` (Fourier cropping, so downsampling is
   anti-aliased),
2. :func:`lowpass` to a resolution given in *original* pixels,
3. :func:`normalize` (median / MAD, clipped),
4. :func:`equalize` (histogram equalisation to ``[0, 1]``).

Pixel grids
-----------
:func:`resample` keeps pixel ``(0, 0)`` where it is: output pixel ``i`` sits at
input position ``i * in_size / out_size`` on each axis, i.e. ``x_in = x_out /
sx`` with ``(sy, sx) = output_scale(in_shape, out_shape)``. Block averaging
(:func:`bin_image`) instead puts binned pixel ``i`` at original ``i * b + (b -
1) / 2``; :func:`napari_cryopick.core.pick_table.binned_to_original` handles that shift.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import fft as sfft

#: Defaults of :func:`preprocess` (the display / detection pipeline).
#:
#: ``diameter_px``
#:     the particle diameter in original pixels, when known (the usual case).
#:     It sets the two defaults below that matter most on raw micrographs:
#:     ``scale`` shrinks the particle to about :data:`DISPLAY_DIAMETER_PX`
#:     pixels (never enlarges), and ``lowpass_px`` is half the diameter.
#: ``scale``
#:     resampling factor (``< 1`` shrinks); 1.0 keeps the pixel grid.
#: ``lowpass_px``
#:     low-pass resolution as a period in *original* pixels (``None``: no
#:     low-pass beyond the anti-aliasing of the resampling). A value of about a
#:     quarter to a half of the particle diameter makes particles stand out.
#: ``equalize``
#:     histogram-equalise the result to ``[0, 1]``. Off by default: on raw,
#:     unfiltered micrographs (EMPIAR-10146) it stretches the remaining noise as
#:     much as the particles; it helps on denoised or low-dynamic-range images.
#: ``clip``
#:     clip the robust z-scores at ``±clip`` (``None``: no clipping); tames hot
#:     pixels and ice contamination and leaves the contrast to the particles.
DEFAULTS: dict[str, object] = {
    "diameter_px": None,
    "scale": None,
    "lowpass_px": None,
    "equalize": False,
    "clip": 3.0,
}

#: Particle size (pixels) the diameter-aware default resamples to.
DISPLAY_DIAMETER_PX = 16.0

# Robust statistics on images larger than this use a regular sub-grid of
# pixels (deterministic), which is plenty for a median and MAD.
_MAX_STAT_PIXELS = 1 << 20


def _as_2d_float(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"expected a 2D image (rows, cols), got shape {array.shape}")
    if array.dtype == np.float64:
        return array
    return array.astype(np.float32, copy=False)


def output_scale(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[float, float]:
    """Exact per-axis scale of a resampling from ``in_shape`` to ``out_shape``.

    Parameters
    ----------
    in_shape, out_shape
        ``(rows, cols)`` of the input and output images.

    Returns
    -------
    (sy, sx) : tuple of float
        ``out / in`` per axis. A point at ``(x, y)`` in input pixels is at
        ``(x * sx, y * sy)`` in output pixels (pixel ``(0, 0)`` is fixed), and
        back with ``(x_out / sx, y_out / sy)``.
    """
    return (out_shape[-2] / in_shape[-2], out_shape[-1] / in_shape[-1])


def _resample_axis(image: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Fourier resampling of a real array along one axis (origin fixed)."""
    n_in = image.shape[axis]
    if n_out == n_in:
        return image
    spectrum = sfft.rfft(image, axis=axis)
    n_min = min(n_in, n_out)
    keep = n_min // 2 + 1
    shape = list(spectrum.shape)
    shape[axis] = n_out // 2 + 1
    out_spectrum = np.zeros(shape, dtype=spectrum.dtype)
    index = [slice(None)] * image.ndim
    index[axis] = slice(0, keep)
    out_spectrum[tuple(index)] = spectrum[tuple(index)]
    if n_min % 2 == 0:
        # The Nyquist bin of the smaller grid stands for both +N/2 and -N/2.
        index[axis] = slice(n_min // 2, n_min // 2 + 1)
        if n_out < n_in:
            out_spectrum[tuple(index)] *= 2.0
        else:
            out_spectrum[tuple(index)] *= 0.5
    resampled = sfft.irfft(out_spectrum, n=n_out, axis=axis)
    return resampled * (n_out / n_in)


def resample(image: np.ndarray, scale: float) -> np.ndarray:
    """Resample an image by ``scale`` in the Fourier domain.

    Parameters
    ----------
    image
        2D array ``(rows, cols)``.
    scale
        Output size / input size. ``scale < 1`` crops the spectrum (an ideal,
        anti-aliased low-pass at the new Nyquist frequency); ``scale > 1`` pads
        it with zeros (band-limited interpolation).

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``round(shape * scale)`` per axis (at least 1).
        Output pixel ``i`` samples input position ``i * in_size / out_size``,
        so pixel ``(0, 0)`` stays at ``(0, 0)``; use :func:`output_scale` for
        the exact per-axis factor. The image is treated as periodic, so a
        strong difference between opposite borders rings slightly near them.
    """
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number, got {scale}")
    data = _as_2d_float(image)
    out_shape = tuple(max(1, round(n * scale)) for n in data.shape)
    result = data
    for axis, n_out in enumerate(out_shape):
        result = _resample_axis(result, n_out, axis)
    return np.ascontiguousarray(result, dtype=np.float32)


def bin_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Average non-overlapping ``factor x factor`` blocks.

    Parameters
    ----------
    image
        2D array ``(rows, cols)``; rows and columns beyond a multiple of
        ``factor`` are dropped.
    factor
        Binning factor, a positive integer.

    Returns
    -------
    numpy.ndarray
        float32 array ``(rows // factor, cols // factor)``. Binned pixel ``i``
        covers original pixels ``i*factor .. i*factor + factor - 1`` (centre at
        ``i*factor + (factor - 1)/2``, see :func:`napari_cryopick.core.pick_table.binned_to_original`).
    """
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"binning factor must be a positive integer, got {factor}")
    data = _as_2d_float(image)
    rows, cols = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    if rows == 0 or cols == 0:
        raise ValueError(f"image of shape {data.shape} is smaller than the binning factor {factor}")
    blocks = data[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def downsample_to_diameter(
    image: np.ndarray,
    diameter_px: float,
    target_diameter_px: float,
    *,
    allow_upsample: bool = False,
) -> tuple[np.ndarray, float]:
    """Resample so that particles of ``diameter_px`` become ``target_diameter_px`` wide.

    Parameters
    ----------
    image
        2D array ``(rows, cols)``.
    diameter_px
        Particle diameter in the pixels of ``image``.
    target_diameter_px
        Wanted particle diameter after resampling.
    allow_upsample
        If False (default) the scale is capped at 1 (small particles are left
        as they are rather than interpolated).

    Returns
    -------
    image : numpy.ndarray
        The resampled float32 image (the input as float32 when the scale is 1).
    scale : float
        The requested scale ``target / diameter`` (capped). Rounding of the
        output shape makes the exact per-axis factor slightly different; use
        :func:`output_scale` with the two shapes to map coordinates exactly.
    """
    if not diameter_px > 0 or not target_diameter_px > 0:
        raise ValueError(f"diameters must be positive, got {diameter_px} and {target_diameter_px}")
    scale = float(target_diameter_px) / float(diameter_px)
    if not allow_upsample:
        scale = min(scale, 1.0)
    if scale == 1.0:
        return np.array(_as_2d_float(image), dtype=np.float32), 1.0
    return resample(image, scale), scale


def _reflect_pad_width(size: int, pad: int) -> int:
    return int(min(pad, size - 1)) if size > 1 else 0


def lowpass(image: np.ndarray, resolution_px: float) -> np.ndarray:
    """Gaussian low-pass filter, applied in Fourier space.

    Parameters
    ----------
    image
        2D array ``(rows, cols)``.
    resolution_px
        Resolution as a *period in pixels*: the filter's transmission is 1/2
        at spatial frequency ``1 / resolution_px`` (cycles per pixel), i.e.
        ``H(f) = exp(-ln 2 * (f * resolution_px)**2)``. Details smaller than
        about ``resolution_px`` are suppressed (``2`` halves the Nyquist
        frequency).

    Returns
    -------
    numpy.ndarray
        Filtered float32 image, same shape. The image is mirror-padded by about
        one ``resolution_px`` before filtering, so the borders do not wrap
        around.
    """
    if not resolution_px > 0:
        raise ValueError(f"resolution_px must be positive, got {resolution_px}")
    data = _as_2d_float(image)
    pad = math.ceil(resolution_px)
    pads = [(_reflect_pad_width(n, pad),) * 2 for n in data.shape]
    padded = np.pad(data, pads, mode="reflect")
    fy = sfft.fftfreq(padded.shape[0])[:, None]
    fx = sfft.rfftfreq(padded.shape[1])[None, :]
    transfer = np.exp(-math.log(2.0) * (fy**2 + fx**2) * resolution_px**2)
    filtered = sfft.irfft2(sfft.rfft2(padded) * transfer, s=padded.shape)
    (r0, _), (c0, _) = pads
    out = filtered[r0 : r0 + data.shape[0], c0 : c0 + data.shape[1]]
    return np.ascontiguousarray(out, dtype=np.float32)


def _stat_sample(data: np.ndarray) -> np.ndarray:
    stride = max(1, math.ceil(math.sqrt(data.size / _MAX_STAT_PIXELS)))
    sample = data[::stride, ::stride]
    return sample[np.isfinite(sample)]


def check_contrast(image: np.ndarray) -> None:
    """Raise :class:`ValueError` for an image with no contrast: every finite pixel the same value.

    :func:`normalize` gives such an image unit spread, so a detector would
    still score its flat field (a trial: confident picks on a blank PNG);
    there is nothing to pick in it.
    """
    image = np.asarray(image)
    if not image.size:
        return
    finite = image[np.isfinite(image)]
    if not finite.size:
        raise ValueError("the micrograph has no finite pixel value: nothing to pick")
    if float(finite.min()) == float(finite.max()):
        raise ValueError(
            f"the micrograph has no contrast (every pixel is {float(finite[0]):g}): nothing to pick"
        )


def robust_stats(sample: np.ndarray) -> tuple[float, float]:
    """Median and robust spread (``1.4826 * MAD``, else the std, else 1) of finite values.

    The statistics of :func:`normalize`, also used by the block-wise preparation of
    large micrographs (:func:`napari_cryopick.core.model.inputs.prepare_in_cache`).
    An empty sample gives ``(0.0, 1.0)``.
    """
    if sample.size == 0:
        return 0.0, 1.0
    median = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - median)))
    if not spread > 0:
        spread = float(np.std(sample))
    if not spread > 0:
        spread = 1.0
    return median, spread


#: Pixels further than this many robust standard deviations from the median are
#: hot or dead detector pixels, not specimen: :func:`clip_outliers` clips them. The
#: real micrographs of the shared data reach 12.5 at most (a few ribosome pixels).
OUTLIER_SIGMAS = 20.0


def outlier_limits(image: np.ndarray, sigmas: float = OUTLIER_SIGMAS) -> tuple[float, float]:
    """The values :func:`clip_outliers` clips ``image`` to: median ± ``sigmas`` robust SDs."""
    median, spread = robust_stats(_stat_sample(_as_2d_float(image)))
    return median - sigmas * spread, median + sigmas * spread


def clip_outliers(image: np.ndarray, sigmas: float = OUTLIER_SIGMAS) -> np.ndarray:
    """``image`` with values beyond median ± ``sigmas`` robust SDs clipped (a copy only
    when there are such values).

    Run before resampling: the Fourier resampling spreads one hot pixel's ringing over
    the whole micrograph (a trial: 50 pixels at 1e6 in a 1024 px micrograph left 17 %
    of the prepared pixels clipped, and no pick), which :func:`normalize`'s robust
    statistics cannot undo.
    """
    data = _as_2d_float(image)
    if not data.size:
        return data
    low, high = outlier_limits(data, sigmas)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN image: nothing to clip
        if not (float(np.nanmin(data)) < low or float(np.nanmax(data)) > high):
            return data
    return np.clip(data, low, high)


def _cell_sums(block: np.ndarray, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums and pixel counts of ``block`` over cells of ``cell`` x ``cell`` pixels (the
    last, partial cells of what there is)."""
    rows, cols = block.shape
    shape = (rows + (-rows % cell), cols + (-cols % cell))
    padded = np.zeros(shape)
    padded[:rows, :cols] = block
    ones = np.zeros(shape)
    ones[:rows, :cols] = 1.0
    cells = (shape[0] // cell, cell, shape[1] // cell, cell)
    return padded.reshape(cells).sum(axis=(1, 3)), ones.reshape(cells).sum(axis=(1, 3))


def background_grid(image: np.ndarray, sigma_px: float) -> tuple[np.ndarray, int]:
    """The smooth background of ``image`` on a coarse grid, and the grid's cell size.

    Means over cells of ``max(1, round(sigma_px / 4))`` pixels, smoothed by a
    Gaussian of ``sigma_px`` (``mode="nearest"``). :func:`background_rows` reads it
    at any rows of the image, so that an image prepared block by block (a
    memory-mapped cache) gets the background an image in memory gets. The image is
    read in blocks of rows: a memory map stays out of memory.
    """
    from scipy.ndimage import gaussian_filter

    rows = image.shape[0]
    cell = max(1, round(sigma_px / 4))
    step = cell * max(1, 512 // cell)
    parts = [_cell_sums(_as_2d_float(np.asarray(image[r0 : r0 + step])), cell)
             for r0 in range(0, rows, step)]  # fmt: skip
    sums = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    return gaussian_filter(sums / counts, sigma_px / cell, mode="nearest"), cell


def _linear(start: int, stop: int, n_cells: int, cell: int):
    """Indices and weights reading cells (centred at ``i * cell + (cell - 1) / 2``)
    linearly at pixels ``start`` to ``stop``, clamped at the edges."""
    position = np.clip((np.arange(start, stop) - (cell - 1) / 2) / cell, 0, n_cells - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n_cells - 1)
    return low, high, (position - low)


def background_rows(grid: np.ndarray, cell: int, start: int, stop: int, cols: int) -> np.ndarray:
    """Rows ``start`` to ``stop`` of the background of :func:`background_grid`, at every
    one of ``cols`` columns (float32; linear between cell centres)."""
    c0, c1, wc = _linear(0, cols, grid.shape[1], cell)
    across = grid[:, c0] * (1 - wc) + grid[:, c1] * wc
    r0, r1, wr = _linear(start, stop, grid.shape[0], cell)
    rows = across[r0] * (1 - wr)[:, None] + across[r1] * wr[:, None]
    return rows.astype(np.float32)


def subtract_background(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """``image`` minus its smooth background at the scale ``sigma_px`` (ice thickness
    gradients, uneven illumination): :func:`background_grid` read at every pixel."""
    data = _as_2d_float(image)
    grid, cell = background_grid(data, sigma_px)
    return data - background_rows(grid, cell, 0, data.shape[0], data.shape[1])


def normalize(image: np.ndarray, *, clip: float | None = 5.0) -> np.ndarray:
    """Robust z-scores: subtract the median, divide by ``1.4826 * MAD``.

    Parameters
    ----------
    image
        2D array ``(rows, cols)``.
    clip
        Clip the result to ``[-clip, clip]``; ``None`` keeps the full range.

    Returns
    -------
    numpy.ndarray
        float32 image whose background has median 0 and (for Gaussian noise)
        standard deviation 1. When the MAD is 0 the standard deviation is used,
        and when that is 0 too the image is only centred. On images larger
        than about a million pixels the statistics come from a regular
        sub-grid of pixels.
    """
    data = _as_2d_float(image)
    sample = _stat_sample(data)
    if sample.size == 0:
        return np.zeros(data.shape, dtype=np.float32)
    median, spread = robust_stats(sample)
    out = (data - median) / spread
    if clip is not None:
        out = np.clip(out, -float(clip), float(clip))
    return out.astype(np.float32, copy=False)


def equalize(image: np.ndarray, *, adaptive: bool = False) -> np.ndarray:
    """Histogram equalisation to ``[0, 1]``.

    Parameters
    ----------
    image
        2D array ``(rows, cols)``.
    adaptive
        Use contrast-limited adaptive equalisation (CLAHE,
        :func:`skimage.exposure.equalize_adapthist`) instead of the global
        :func:`skimage.exposure.equalize_hist`.

    Returns
    -------
    numpy.ndarray
        float32 image in ``[0, 1]``; the global variant is a monotonic
        (non-decreasing) mapping of the input values.
    """
    from skimage import exposure

    data = _as_2d_float(image)
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    if not high > low:
        return np.zeros(data.shape, dtype=np.float32)
    if adaptive:
        scaled = (data - low) / (high - low)
        out = exposure.equalize_adapthist(scaled.astype(np.float64))
    else:
        out = exposure.equalize_hist(data, nbins=1024)
        out = (out - out.min()) / max(float(out.max() - out.min()), 1e-12)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def to_uint8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Scale an image to ``uint8`` between two percentiles.

    Parameters
    ----------
    image
        2D array.
    low_pct, high_pct
        Percentiles mapped to 0 and 255; values outside are clipped.

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape (all zeros for a constant image).
    """
    data = _as_2d_float(image)
    sample = _stat_sample(data)
    if sample.size == 0:
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = np.percentile(sample, [low_pct, high_pct])
    if not high > low:
        return np.zeros(data.shape, dtype=np.uint8)
    scaled = (data - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


_equalize = equalize


def preprocess(
    image: np.ndarray,
    *,
    diameter_px: float | None = None,
    scale: float | None = None,
    lowpass_px: float | None = None,
    equalize: bool = False,
    clip: float | None = 3.0,
) -> np.ndarray:
    """The default display pipeline (see :data:`DEFAULTS`).

    ``preprocess(image, diameter_px=d)`` is the recommended call: it bins the
    micrograph so particles are about :data:`DISPLAY_DIAMETER_PX` pixels
    across and low-pass filters at half the particle diameter, which makes
    the particles of raw, very low-contrast micrographs visible
    (``docs/images/apoferritin_before_after.png``).

    Parameters
    ----------
    image
        2D micrograph ``(rows, cols)``, any numeric dtype.
    diameter_px
        Particle diameter in original pixels; sets the default ``scale``
        (``min(1, DISPLAY_DIAMETER_PX / diameter_px)``) and ``lowpass_px``
        (``diameter_px / 2``). Explicit ``scale``/``lowpass_px`` win.
    scale
        Resampling factor (:func:`resample`); coordinates map with
        :func:`output_scale` of the input and output shapes. ``None``: from
        ``diameter_px``, else 1.
    lowpass_px
        Low-pass resolution as a period in pixels of the *input* image
        (:func:`lowpass`, applied after resampling with ``lowpass_px * scale``);
        ``None``: from ``diameter_px``, else no low-pass.
    equalize
        Histogram-equalise to ``[0, 1]`` (:func:`equalize`) as the last step.
    clip
        Clip of the robust z-scores (:func:`normalize`).

    Returns
    -------
    numpy.ndarray
        float32 image: in ``[0, 1]`` when ``equalize``, otherwise robust
        z-scores.
    """
    if diameter_px is not None and not diameter_px > 0:
        raise ValueError(f"diameter_px must be > 0, got {diameter_px}")
    if scale is None:
        scale = min(1.0, DISPLAY_DIAMETER_PX / diameter_px) if diameter_px else 1.0
    if lowpass_px is None and diameter_px:
        lowpass_px = diameter_px / 2.0
    data = _as_2d_float(image)
    if scale != 1.0:
        data = resample(data, scale)
    if lowpass_px is not None:
        data = lowpass(data, float(lowpass_px) * scale)
    data = normalize(data, clip=clip)
    if equalize:
        data = _equalize(data)
    return data
