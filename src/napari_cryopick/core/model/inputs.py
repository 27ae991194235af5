"""Scale normalisation of micrographs and the matching coordinate conversions.

The detector always sees objects of about ``config.target_diameter_px``
pixels: a micrograph is resampled by ``scale = target_diameter_px /
diameter_px`` and normalised (robust median/MAD) before training or picking.
Coordinates in the *prepared* micrograph are the original ones times the
scale (``x_prepared = x * scale_x``), because :func:`preprocess.resample`
keeps pixel ``(0, 0)`` fixed and puts output pixel ``i`` at input position
``i * in_size / out_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_cryopick.core.model.config import DetectorConfig

#: Largest enlargement of a micrograph for the detector. Objects smaller than
#: ``target_diameter_px / MAX_UPSCALE`` pixels (7 px at the default 28 px)
#: carry too little signal to upsample, and a mistyped diameter (0.01 px,
#: a diameter in Å given as pixels of a binned image) would ask for terabytes.
MAX_UPSCALE = 4.0


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
            f"a diameter in Å needs a positive pixel size, got {pixel_size!r}; give the diameter in pixels instead"
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
    image: np.ndarray, diameter_px: float, config: DetectorConfig
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
    resampled = image if scale == 1.0 else preprocess.resample(image, scale)
    lowpass = float(getattr(config, "lowpass", 0.0))  # duck-typed configs may lack it
    if lowpass > 0:
        resampled = preprocess.lowpass(resampled, lowpass * config.target_diameter_px)
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
