"""Scale normalisation of micrographs and the matching coordinate conversions.

The detector always sees objects of about ``config.target_diameter_px``
pixels: a micrograph is resampled by ``scale = target_diameter_px /
diameter_px``, its smooth background (``config.background`` diameters)
subtracted and normalised (robust median/MAD) before training or
picking.
Coordinates in the *prepared* micrograph are the original ones times the
scale (``x_prepared = x * scale_x``), because :func:`preprocess.resample`
keeps pixel ``(0, 0)`` fixed and puts output pixel ``i`` at input position
``i * in_size / out_size``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick.core.model.config import DetectorConfig

#: Largest enlargement of a micrograph for the detector. Objects smaller than
#: ``target_diameter_px / MAX_UPSCALE`` pixels (7 px at the default 28 px)
#: carry too little signal to upsample, and a mistyped diameter (0.01 px,
#: a diameter in Å given as pixels of a binned image) would ask for terabytes.
MAX_UPSCALE = 4.0
#: Prepared images larger than this (pixels; 64 MB as float32) go to a
#: memory-mapped cache file when :func:`prepare_micrograph` is asked to cache.
CACHE_PIXELS = 4096 * 4096
#: Rows or columns processed at once by :func:`prepare_in_cache`.
_BLOCK = 512


def _background_sigma(config: DetectorConfig) -> float:
    """Sigma (prepared pixels) of the background :attr:`DetectorConfig.background` removes;
    0: none (duck-typed configs, and checkpoints saved before the field, lack it)."""
    return float(getattr(config, "background", 0.0)) * float(config.target_diameter_px)


@dataclass(frozen=True)
class PreparedMicrograph:
    """A micrograph rescaled and normalised for the detector.

    Attributes
    ----------
    image
        float32 ``(rows, cols)``, normalised (median 0, robust std 1).
    scale_y, scale_x
        prepared pixels per original pixel along rows and columns
        (``prepared = original * scale``).
    """

    image: np.ndarray
    scale_y: float
    scale_x: float

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the prepared image."""
        return self.image.shape  # type: ignore[return-value]


def diameter_from_angstrom(diameter_A: float, pixel_size: float | None) -> float:
    """Diameter in pixels from a diameter in Ångström and the pixel size (Å/px)."""
    if pixel_size is None or not math.isfinite(pixel_size) or pixel_size <= 0:
        raise ValueError(
            "a diameter in Å needs the pixel size, and none is known (PNG, JPEG and TIFF "
            "carry none; MRC headers may hold the placeholder 1.0): give the pixel size "
            "(--pixel-size) or the diameter in pixels"
        )
    if not diameter_A > 0:
        raise ValueError(f"diameter must be > 0 Å, got {diameter_A!r}")
    return float(diameter_A) / float(pixel_size)


def preparation_scale(diameter_px: float, config: DetectorConfig) -> float:
    """Resampling factor that makes ``diameter_px`` become ``config.target_diameter_px``.

    Raises
    ------
    ValueError
        A diameter that is not a positive number, or so small that the
        factor exceeds :data:`MAX_UPSCALE`.
    """
    if not (diameter_px > 0 and math.isfinite(diameter_px)):
        raise ValueError(f"diameter must be a positive number of pixels, got {diameter_px!r}")
    scale = float(config.target_diameter_px) / float(diameter_px)
    if scale > MAX_UPSCALE:
        smallest = float(config.target_diameter_px) / MAX_UPSCALE
        raise ValueError(
            f"diameter {diameter_px:g} px is too small: the detector would enlarge the "
            f"micrograph {scale:.3g} times (at most {MAX_UPSCALE:g}, i.e. a diameter of at "
            f"least {smallest:g} px); give the diameter in pixels of this micrograph"
        )
    return scale


def prepare_micrograph(
    image: np.ndarray, diameter_px: float, config: DetectorConfig, *, cache: bool = False
) -> PreparedMicrograph:
    """Resample ``image`` so objects of ``diameter_px`` become ``config.target_diameter_px`` and normalise it.

    Parameters
    ----------
    image
        Micrograph ``(rows, cols)`` in original pixels.
    diameter_px
        Object diameter in original pixels.
    config
        Detector configuration (target diameter).
    cache
        When the prepared image has more than :data:`CACHE_PIXELS` pixels,
        build it block by block in a memory-mapped cache file (see
        :func:`prepare_in_cache`) instead of in memory: for training sets
        whose prepared micrographs would not fit in memory together.

    Returns
    -------
    PreparedMicrograph
        The float32 normalised image and the exact per-axis scales
        (``out_size / in_size``).
    """
    from napari_cryopick.core import preprocess

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D micrograph, got shape {image.shape}")
    scale = preparation_scale(diameter_px, config)
    out_shape = tuple(max(1, round(n * scale)) for n in image.shape)
    if cache and out_shape[0] * out_shape[1] > CACHE_PIXELS:
        return prepare_in_cache(image, diameter_px, config)
    image = preprocess.clip_outliers(image)  # hot pixels, before resampling spreads them
    resampled = image if scale == 1.0 else preprocess.resample(image, scale)
    lowpass = float(getattr(config, "lowpass", 0.0))  # duck-typed configs may lack it
    if lowpass > 0:
        resampled = preprocess.lowpass(resampled, lowpass * config.target_diameter_px)
    if _background_sigma(config) > 0:  # ice gradients, uneven illumination
        resampled = preprocess.subtract_background(resampled, _background_sigma(config))
    prepared = np.ascontiguousarray(preprocess.normalize(resampled), dtype=np.float32)
    return PreparedMicrograph(
        image=prepared,
        scale_y=prepared.shape[0] / image.shape[0],
        scale_x=prepared.shape[1] / image.shape[1],
    )


def _scaled(table: pd.DataFrame, scale_y: float, scale_x: float) -> pd.DataFrame:
    out = table.copy()
    out["x"] = out["x"].astype(np.float64) * scale_x
    out["y"] = out["y"].astype(np.float64) * scale_y
    if "diameter" in out.columns:
        # Diameters are isotropic; the two scales differ only by rounding.
        out["diameter"] = out["diameter"].astype(np.float64) * math.sqrt(scale_x * scale_y)
    return out


def to_prepared(table: pd.DataFrame, prepared: PreparedMicrograph) -> pd.DataFrame:
    """Pick table in original pixels -> prepared pixels (positions and diameters)."""
    return _scaled(table, prepared.scale_y, prepared.scale_x)


def to_original(table: pd.DataFrame, prepared: PreparedMicrograph) -> pd.DataFrame:
    """Pick table in prepared pixels -> original pixels (positions and diameters)."""
    return _scaled(table, 1.0 / prepared.scale_y, 1.0 / prepared.scale_x)


def cache_folder() -> Path:
    """Folder of the memory-mapped cache files: ``$CRYOPICK_CACHE`` or the system's temporary folder."""
    return Path(os.environ.get("CRYOPICK_CACHE") or tempfile.gettempdir())


def _cache_array(shape: tuple[int, int]) -> np.ndarray:
    """A float32 array backed by a file that is already deleted (no file is ever left behind).

    The disk space is reserved first (``posix_fallocate``), so a full disk is
    an ``OSError`` here rather than a crash (``SIGBUS``) while writing.
    """
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=".cryopick-prepared.", suffix=".f32", dir=folder)
    try:
        size = int(shape[0]) * int(shape[1]) * 4
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(descriptor, 0, size)
        else:  # pragma: no cover - not POSIX
            os.ftruncate(descriptor, size)
        array = np.memmap(name, dtype=np.float32, mode="r+", shape=tuple(shape))
    finally:
        os.close(descriptor)
        os.unlink(name)
    return array


def _release(array: np.ndarray) -> None:
    """Drop the pages of a cache mapping from this process (the page cache keeps the data).

    For a shared file mapping, ``MADV_DONTNEED`` only unmaps: later reads
    come back from the page cache or the file, so the process's resident
    memory stays the blocks in use, not the whole prepared image.
    """
    import mmap

    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
        handle.madvise(mmap.MADV_DONTNEED)


def prepare_in_cache(
    image: np.ndarray, diameter_px: float, config: DetectorConfig
) -> PreparedMicrograph:
    """:func:`prepare_micrograph` block by block into a memory-mapped cache file.

    Outliers (hot pixels) are clipped first, as there. The Fourier resampling is
    separable: the rows are resampled in blocks of columns, then the columns in
    blocks of rows, which gives the same image as one pass; the optional low-pass
    runs on row blocks with a margin; the background comes from the same coarse
    grid (read in row blocks), and the normalisation uses the same sub-grid
    statistics. Memory in use is
    the original micrograph plus a few blocks; the prepared image lives in
    the page cache of a deleted file, which the system can evict.
    """
    from napari_cryopick.core import preprocess

    image = np.asarray(image, dtype=np.float32)
    rows, cols = image.shape
    scale = preparation_scale(diameter_px, config)
    out_rows, out_cols = (max(1, round(n * scale)) for n in image.shape)

    low, high = preprocess.outlier_limits(image)  # as preprocess.clip_outliers
    middle = _cache_array((out_rows, cols))
    for c0 in range(0, cols, _BLOCK):
        block = np.clip(image[:, c0 : c0 + _BLOCK], low, high)
        middle[:, c0 : c0 + _BLOCK] = preprocess._resample_axis(block, out_rows, 0)
        _release(middle)
    # the normalisation statistics come from the sub-grid preprocess.normalize uses,
    # gathered from the blocks while they are in memory (reading them back from the
    # mapping would make the whole file resident)
    stride = max(1, math.ceil(math.sqrt(out_rows * out_cols / preprocess._MAX_STAT_PIXELS)))

    def sub_grid(block: np.ndarray, r0: int) -> np.ndarray:
        return block[(-r0) % stride :: stride, ::stride]

    prepared = _cache_array((out_rows, out_cols))
    samples = []
    for r0 in range(0, out_rows, _BLOCK):
        block = preprocess._resample_axis(np.asarray(middle[r0 : r0 + _BLOCK]), out_cols, 1)
        prepared[r0 : r0 + _BLOCK] = block
        samples.append(sub_grid(block, r0).copy())
        _release(middle)
        _release(prepared)
    del middle

    lowpass = float(getattr(config, "lowpass", 0.0))
    if lowpass > 0:
        resolution = lowpass * config.target_diameter_px
        margin = math.ceil(4 * resolution)
        filtered = _cache_array((out_rows, out_cols))
        samples = []
        for r0 in range(0, out_rows, _BLOCK):
            top, bottom = max(0, r0 - margin), min(out_rows, r0 + _BLOCK + margin)
            block = preprocess.lowpass(np.asarray(prepared[top:bottom]), resolution)
            stop = min(out_rows, r0 + _BLOCK)
            filtered[r0:stop] = block[r0 - top : stop - top]
            samples.append(sub_grid(block[r0 - top : stop - top], r0).copy())
            _release(prepared)
            _release(filtered)
        prepared = filtered

    if _background_sigma(config) > 0:  # as the in-memory path: background, then statistics
        grid, cell = preprocess.background_grid(prepared, _background_sigma(config))
        samples = []
        for r0 in range(0, out_rows, _BLOCK):
            stop = min(out_rows, r0 + _BLOCK)
            block = np.asarray(prepared[r0:stop]) - preprocess.background_rows(
                grid, cell, r0, stop, out_cols
            )
            prepared[r0:stop] = block
            samples.append(sub_grid(block, r0).copy())
            _release(prepared)

    sample = np.concatenate(samples, axis=0)
    median, spread = preprocess.robust_stats(sample[np.isfinite(sample)])
    for r0 in range(0, out_rows, _BLOCK):
        block = (np.asarray(prepared[r0 : r0 + _BLOCK]) - median) / spread
        prepared[r0 : r0 + _BLOCK] = np.clip(block, -5.0, 5.0)
        _release(prepared)
    return PreparedMicrograph(image=prepared, scale_y=out_rows / rows, scale_x=out_cols / cols)
