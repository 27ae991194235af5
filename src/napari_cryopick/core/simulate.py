"""Synthetic cryo-EM micrographs with known truth.

A micrograph is built in three layers (see ``docs/simulation.md``):

1. **Specimen (phase) density**, projected along the beam: particles (sums of
   3D Gaussian blobs in one of :data:`PARTICLE_SHAPES`, randomly rotated in
   3D), vesicles (projected lipid bilayers: two close spherical shells),
   fibers (tubes along smooth random centre lines, with a helical texture),
   the carbon film beyond the edge of a hole, and ice contamination blobs.
2. **Microscope**: the phase density goes through a CTF (300 kV, spherical
   aberration, amplitude contrast, B-factor envelope), so particles look dark
   with fringes, like under-focused cryo-EM images.
3. **Detector**: amplitude terms that are not CTF-filtered (ice-thickness
   gradient, darker carbon, very dark contamination) and white Gaussian noise
   of variance 1 at the chosen SNR.

The truth is a pick table in the project convention
(:func:`napari_cryopick.core.pick_table.make_picks`): ``kind`` is ``"particle"``,
``"vesicle"``, ``"fiber"`` (points every half fiber width along each centre
line, ``tube_id`` 1..n) or ``"negative"`` (contamination blobs and points
along the carbon edge). Particles are never placed on carbon, on
contamination, on vesicles or on fibers, and never cut by the image border,
so every particle in the image is in the truth.

Everything is deterministic given the seed (``numpy.random.default_rng``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import fft as sfft

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.progress import Progress
from napari_cryopick.io.atomic import atomic_paths, atomic_write_text
from napari_cryopick.io.filaments import centre_lines_json

__all__ = [
    "PARTICLE_SHAPES",
    "SimulationConfig",
    "SyntheticMicrograph",
    "ctf_1d",
    "particle_density_blobs",
    "simulate_dataset",
    "simulate_micrograph",
]

#: Names of the particle shapes (3D densities made of Gaussian blobs).
PARTICLE_SHAPES: tuple[str, ...] = (
    "sphere",
    "ellipsoid",
    "dumbbell",
    "ring",
    "tetrahedron",
    "rod",
    "cube",
    "L",
    "shell",
    "lumpy",
)

# Electron wavelength needs the accelerating voltage; relativistic formula.
_H_C_FACTOR = 12.2643  # Å * sqrt(V)
_RELATIVISTIC = 0.978466e-6  # 1/V
# Mirror padding (pixels) around the canvas before the CTF's FFT.
_CTF_MARGIN = 64


@dataclass
class SimulationConfig:
    """Parameters of :func:`simulate_micrograph` (all lengths in pixels unless noted).

    Attributes
    ----------
    shape
        ``(rows, cols)`` of the micrograph.
    pixel_size
        Pixel size in Å (sets the CTF's frequency scale and the membrane
        thickness of vesicles).
    shapes
        Particle shape names from :data:`PARTICLE_SHAPES`; each particle picks
        one at random.
    diameter_px
        Particle diameter, one value for all shapes or one per shape.
    diameter_jitter
        Relative standard deviation of each particle's size.
    n_particles
        Number of particles to place (fewer when the free area runs out).
    min_separation
        Minimum centre distance between particles in units of their mean
        diameter (1.0: particles touch at most; 0: overlap allowed).
    snr
        Signal-to-noise ratio: mean square of the CTF-filtered signal of the
        picked objects (particles, vesicles, fibers) over the pixels they
        cover, divided by the noise variance (1). ``None`` or ``inf``: no noise.
    defocus_um
        Under-focus in µm (positive); ``None`` switches the CTF off (the image
        is then the negated projection).
    amplitude_contrast, voltage_kv, cs_mm, b_factor
        CTF: amplitude contrast fraction, accelerating voltage (kV), spherical
        aberration (mm) and the B-factor (Å²) of the envelope
        ``exp(-B f² / 4)``.
    ice_gradient
        Amplitude of the ice-thickness variation (a ramp plus a smooth bump),
        in units of the noise standard deviation; thicker ice is darker.
    carbon
        Probability (0..1, or a bool) that the micrograph shows a carbon edge:
        the rim of a circular hole, carbon outside it.
    carbon_darkness
        How much darker the carbon is, in noise standard deviations.
    n_contaminations
        Number of ice contamination blobs (irregular, very dark).
    contamination_radius_px
        Range of their radii.
    contamination_darkness
        Their darkness in noise standard deviations.
    n_vesicles
        Number of vesicles (projected bilayer shells).
    vesicle_radius_px
        Range of vesicle radii (outer leaflet).
    n_fibers
        Number of fibers (tubes along random smooth paths; they may cross).
    fiber_width_px
        Fiber diameter.
    fiber_curvature
        Typical change of a fiber's direction across the micrograph, in
        radians; 0 gives straight fibers.
    noise_exponent
        Coloured noise: the noise power spectrum falls as ``(f + f0)^-exponent``
        (``f0`` = 1/64 cycles per pixel), still of variance 1. Real
        micrographs (dose-fractionated, motion-corrected, binned) have more
        low-frequency noise than white; 0 gives white noise.
    blur_px
        Gaussian blur (sigma in pixels) of the final image, noise included:
        micrographs denoised or low-pass filtered upstream. 0: none.
    """

    shape: tuple[int, int] = (1024, 1024)
    pixel_size: float = 2.0
    shapes: tuple[str, ...] = ("ellipsoid",)
    diameter_px: float | tuple[float, ...] = 48.0
    diameter_jitter: float = 0.05
    n_particles: int = 100
    min_separation: float = 1.0
    snr: float | None = 0.1
    defocus_um: float | None = 1.5
    amplitude_contrast: float = 0.07
    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    b_factor: float = 100.0
    ice_gradient: float = 1.0
    carbon: float = 0.0
    carbon_darkness: float = 1.0
    n_contaminations: int = 0
    contamination_radius_px: tuple[float, float] = (20.0, 60.0)
    contamination_darkness: float = 3.0
    n_vesicles: int = 0
    vesicle_radius_px: tuple[float, float] = (60.0, 160.0)
    n_fibers: int = 0
    fiber_width_px: float = 24.0
    fiber_curvature: float = 0.5
    noise_exponent: float = 0.0
    blur_px: float = 0.0

    def __post_init__(self) -> None:
        self.shape = (int(self.shape[0]), int(self.shape[1]))
        if isinstance(self.shapes, str):
            self.shapes = (self.shapes,)
        self.shapes = tuple(self.shapes)
        if isinstance(self.diameter_px, (list, tuple)):
            self.diameter_px = tuple(float(d) for d in self.diameter_px)
        self.contamination_radius_px = tuple(self.contamination_radius_px)
        self.vesicle_radius_px = tuple(self.vesicle_radius_px)
        self.carbon = float(self.carbon)
        self._validate()

    def _validate(self) -> None:
        problems = []
        if min(self.shape) < 16:
            problems.append(f"shape must be at least 16 x 16, got {self.shape}")
        if not self.pixel_size > 0:
            problems.append(f"pixel_size must be positive, got {self.pixel_size}")
        unknown = [s for s in self.shapes if s not in PARTICLE_SHAPES]
        if unknown or not self.shapes:
            problems.append(f"unknown particle shape(s) {unknown}; choose from {PARTICLE_SHAPES}")
        diameters = self.diameters()
        if len(diameters) != len(self.shapes):
            problems.append(
                f"diameter_px has {len(diameters)} values for {len(self.shapes)} shapes"
            )
        if any(not d > 0 for d in diameters):
            problems.append(f"diameter_px must be positive, got {self.diameter_px}")
        for name in ("n_particles", "n_contaminations", "n_vesicles", "n_fibers"):
            if int(getattr(self, name)) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.snr is not None and not self.snr > 0:
            problems.append(f"snr must be positive (or None for no noise), got {self.snr}")
        if self.defocus_um is not None and not self.defocus_um >= 0:
            problems.append(f"defocus_um must be >= 0 (under-focus), got {self.defocus_um}")
        if not 0.0 <= self.carbon <= 1.0:
            problems.append(f"carbon must be a probability in [0, 1], got {self.carbon}")
        if not 0.0 <= self.amplitude_contrast <= 1.0:
            problems.append(f"amplitude_contrast must be in [0, 1], got {self.amplitude_contrast}")
        for name in ("contamination_radius_px", "vesicle_radius_px"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                problems.append(f"{name} must be a range 0 < low <= high, got {(low, high)}")
        if not self.fiber_width_px > 0:
            problems.append(f"fiber_width_px must be positive, got {self.fiber_width_px}")
        if self.min_separation < 0 or self.diameter_jitter < 0:
            problems.append("min_separation and diameter_jitter must be >= 0")
        if self.noise_exponent < 0 or self.blur_px < 0:
            problems.append("noise_exponent and blur_px must be >= 0")
        if problems:
            raise ValueError("invalid simulation config: " + "; ".join(problems))

    def diameters(self) -> tuple[float, ...]:
        """Particle diameter of each shape in :attr:`shapes`."""
        if isinstance(self.diameter_px, tuple):
            return self.diameter_px
        return tuple(float(self.diameter_px) for _ in self.shapes)

    def mean_diameter(self) -> float:
        """Mean nominal particle diameter in pixels."""
        return float(np.mean(self.diameters()))


@dataclass(frozen=True)
class SyntheticMicrograph:
    """A simulated micrograph and its truth.

    Attributes
    ----------
    image
        float32 ``(rows, cols)``; background near 0, noise standard deviation 1,
        particles dark.
    picks
        Truth in the project pick convention (kinds particle, vesicle, fiber,
        negative; ``score`` NaN, like hand-made labels).
    fibers
        One ``(N, 2)`` array of centre-line ``(x, y)`` points (about 1 px
        apart) per fiber, in ``tube_id`` order.
    carbon_mask
        bool ``(rows, cols)``, True on carbon.
    pixel_size
        Å per pixel.
    config
        The configuration used.
    seed
        The seed used.
    """

    image: np.ndarray
    picks: pd.DataFrame
    fibers: list[np.ndarray] = field(default_factory=list)
    carbon_mask: np.ndarray | None = None
    pixel_size: float = 1.0
    config: SimulationConfig | None = None
    seed: int = 0


# --------------------------------------------------------------------------
# particle densities: sums of 3D Gaussian blobs in a unit ball


def _grid_in(inside, spacing: float) -> np.ndarray:
    axis = np.arange(-1.0, 1.0 + 1e-9, spacing)
    axis = axis - axis.mean()
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[inside(grid)]


def _segment_points(start, stop, spacing: float) -> np.ndarray:
    start, stop = np.asarray(start, float), np.asarray(stop, float)
    n = max(2, math.ceil(np.linalg.norm(stop - start) / spacing) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return start + t * (stop - start)


def _shape_blobs(name: str) -> tuple[np.ndarray, float, float]:
    """Blob centres (K, 3), blob sigma and volume per blob of a raw shape."""
    if name == "sphere":
        h = 0.2
        return _grid_in(lambda p: np.linalg.norm(p, axis=1) <= 0.8, h), 0.15, h**3
    if name == "ellipsoid":
        h = 0.15
        axes = np.array([0.85, 0.55, 0.4])
        return _grid_in(lambda p: np.sum((p / axes) ** 2, axis=1) <= 1.0, h), 0.12, h**3
    if name == "dumbbell":
        h = 0.14

        def inside(p):
            left = np.linalg.norm(p - [-0.5, 0, 0], axis=1) <= 0.38
            right = np.linalg.norm(p - [0.5, 0, 0], axis=1) <= 0.38
            neck = (np.abs(p[:, 0]) <= 0.3) & (np.linalg.norm(p[:, 1:], axis=1) <= 0.15)
            return left | right | neck

        return _grid_in(inside, h), 0.11, h**3
    if name == "ring":
        n = 40
        angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
        major, minor = 0.65, 0.2
        centres = np.column_stack([major * np.cos(angles), major * np.sin(angles), np.zeros(n)])
        volume = 2 * np.pi**2 * major * minor**2
        return centres, minor * 0.8, volume / n
    if name == "tetrahedron":
        h = 0.13
        vertices = 0.6 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)

        def inside(p):
            d = np.linalg.norm(p[:, None, :] - vertices[None], axis=2)
            return np.any(d <= 0.3, axis=1)

        return _grid_in(inside, h), 0.1, h**3
    if name == "rod":
        h = 0.12
        points = _grid_in(
            lambda p: (np.abs(p[:, 0]) <= 0.8) & (np.linalg.norm(p[:, 1:], axis=1) <= 0.2), h
        )
        return points, 0.1, h**3
    if name == "cube":
        h = 0.18
        return _grid_in(lambda p: np.all(np.abs(p) <= 0.52, axis=1), h), 0.13, h**3
    if name == "L":
        h = 0.12
        radius = 0.18
        arm_x = _segment_points([-0.5, -0.5, 0], [0.75, -0.5, 0], h)
        arm_y = _segment_points([-0.5, -0.5 + h, 0], [-0.5, 0.75, 0], h)
        spine = np.vstack([arm_x, arm_y])
        # a thick tube: offset the spine over a disk of the tube radius
        offsets = np.array(
            [
                [0, dy, dz]
                for dy in (-0.1, 0, 0.1)
                for dz in (-0.1, 0, 0.1)
                if dy * dy + dz * dz <= 0.02
            ]
        )
        tube_x = (arm_x[:, None, :] + offsets[None]).reshape(-1, 3)
        offsets_y = offsets[:, [1, 0, 2]]
        tube_y = (arm_y[:, None, :] + offsets_y[None]).reshape(-1, 3)
        volume = (np.pi * radius**2) * (len(spine) * h)
        centres = np.vstack([tube_x, tube_y])
        return centres, 0.09, volume / len(centres)
    if name == "shell":
        # A hollow sphere (apoferritin, virus capsids, encapsulins): inner radius
        # about two thirds of the outer one.
        h = 0.15
        return _grid_in(lambda p: np.abs(np.linalg.norm(p, axis=1) - 0.72) <= 0.14, h), 0.1, h**3
    if name == "lumpy":
        # An asymmetric multi-domain complex: five overlapping domains of
        # different sizes at fixed positions (most proteins are neither round
        # nor symmetric).
        h = 0.13
        domains = np.array(
            [
                [-0.35, -0.2, 0.05, 0.38],
                [0.3, -0.3, -0.1, 0.3],
                [0.15, 0.35, 0.15, 0.33],
                [-0.2, 0.45, -0.2, 0.2],
                [0.55, 0.15, 0.25, 0.2],
            ]
        )

        def inside(p):
            d = np.linalg.norm(p[:, None, :] - domains[None, :, :3], axis=2)
            return np.any(d <= domains[None, :, 3], axis=1)

        return _grid_in(inside, h), 0.1, h**3
    raise ValueError(f"unknown particle shape {name!r}; choose from {PARTICLE_SHAPES}")


_BLOB_CACHE: dict[str, tuple[np.ndarray, float, np.ndarray]] = {}


def particle_density_blobs(name: str) -> tuple[np.ndarray, float, np.ndarray]:
    """The 3D density of a particle shape as Gaussian blobs.

    Parameters
    ----------
    name
        One of :data:`PARTICLE_SHAPES`.

    Returns
    -------
    centres : numpy.ndarray
        ``(K, 3)`` blob centres in units of the particle *radius*, centred on
        the centre of mass, all blobs within the unit ball (``|c| + 1.5
        sigma <= 1``).
    sigma : float
        Blob standard deviation in the same units.
    masses : numpy.ndarray
        ``(K,)`` blob masses (integral of each blob) for a density of 1 in
        units of radius³; multiply by ``radius_px**3`` for pixels.
    """
    if name not in _BLOB_CACHE:
        centres, sigma, volume = _shape_blobs(name)
        centres = centres - centres.mean(axis=0)
        extent = float(np.max(np.linalg.norm(centres, axis=1))) + 1.5 * sigma
        factor = 1.0 / extent
        masses = np.full(len(centres), volume * factor**3)
        _BLOB_CACHE[name] = (centres * factor, sigma * factor, masses)
    centres, sigma, masses = _BLOB_CACHE[name]
    return centres.copy(), sigma, masses.copy()


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random 3D rotation matrix (from a random unit quaternion)."""
    w, x, y, z = rng.normal(size=4)
    norm = math.sqrt(w * w + x * x + y * y + z * z) or 1.0
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _add_patch(image: np.ndarray, patch: np.ndarray, row0: int, col0: int) -> None:
    """Add ``patch`` with its top-left corner at (row0, col0), clipped to the image."""
    rows, cols = image.shape
    r_start, c_start = max(row0, 0), max(col0, 0)
    r_stop = min(row0 + patch.shape[0], rows)
    c_stop = min(col0 + patch.shape[1], cols)
    if r_stop <= r_start or c_stop <= c_start:
        return
    image[r_start:r_stop, c_start:c_stop] += patch[
        r_start - row0 : r_stop - row0, c_start - col0 : c_stop - col0
    ]


def _render_particle(
    image: np.ndarray,
    x: float,
    y: float,
    diameter: float,
    shape_name: str,
    rotation: np.ndarray,
) -> None:
    """Splat the projection of one rotated particle (projected thickness, px)."""
    radius = diameter / 2.0
    centres, sigma, masses = particle_density_blobs(shape_name)
    rotated = centres @ rotation.T * radius  # [K, 3] pixels
    sigma_px = sigma * radius
    # A 3D Gaussian of mass m projects to a 2D Gaussian of the same mass.
    amplitude = masses * radius**3 / (2 * np.pi * sigma_px**2)
    half = math.ceil(radius + sigma_px)
    col_c, row_c = round(x), round(y)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    bx = rotated[:, 0] + (x - col_c)
    by = rotated[:, 1] + (y - row_c)
    ex = np.exp(-((offsets[None, :] - bx[:, None]) ** 2) / (2 * sigma_px**2))  # [K, P]
    ey = np.exp(-((offsets[None, :] - by[:, None]) ** 2) / (2 * sigma_px**2))  # [K, P]
    patch = (ey * amplitude[:, None]).T @ ex  # [P, P] rows x cols
    _add_patch(image, patch, row_c - half, col_c - half)


# --------------------------------------------------------------------------
# vesicles, fibers, carbon, contamination


def _shell_thickness(rho2: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """Projected thickness of a spherical shell inner <= r <= outer at squared radius rho2."""
    return 2.0 * (
        np.sqrt(np.clip(outer * outer - rho2, 0.0, None))
        - np.sqrt(np.clip(inner * inner - rho2, 0.0, None))
    )


def _render_vesicle(image: np.ndarray, x: float, y: float, radius: float, pixel_size: float):
    """Projected lipid bilayer: two dense leaflets ~3.5 nm apart, ~0.9 nm thick each."""
    leaflet = max(1.5, 9.0 / pixel_size)
    separation = max(3.0, 35.0 / pixel_size)
    half = math.ceil(radius + leaflet) + 1
    col_c, row_c = round(x), round(y)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    dx = offsets[None, :] - (x - col_c)
    dy = offsets[:, None] - (y - row_c)
    rho2 = dx * dx + dy * dy
    outer_mid = radius - leaflet / 2
    inner_mid = max(radius - leaflet / 2 - separation, leaflet)
    patch = _shell_thickness(rho2, outer_mid - leaflet / 2, outer_mid + leaflet / 2)
    patch += _shell_thickness(rho2, inner_mid - leaflet / 2, inner_mid + leaflet / 2)
    _add_patch(image, patch, row_c - half, col_c - half)


def _fiber_path(
    rng: np.random.Generator, shape: tuple[int, int], curvature: float, width: float
) -> np.ndarray | None:
    """A smooth random centre line crossing the image, ``(N, 2)`` (x, y) every 0.5 px."""
    rows, cols = shape
    span = float(rows + cols)
    step = 0.5
    s = np.arange(-span, span + step, step)
    heading = np.full_like(s, rng.uniform(0.0, 2 * np.pi))
    for _ in range(3):
        wavelength = rng.uniform(0.5, 1.5) * max(rows, cols)
        heading += (
            curvature
            / 2.0
            * rng.normal()
            * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 6.3))
        )
    start = np.array([rng.uniform(0, cols - 1), rng.uniform(0, rows - 1)])
    steps = np.column_stack([np.cos(heading), np.sin(heading)]) * step
    path = np.cumsum(steps, axis=0)
    zero = len(s) // 2
    path = path - path[zero] + start
    inside = (
        (path[:, 0] >= 0) & (path[:, 0] <= cols - 1) & (path[:, 1] >= 0) & (path[:, 1] <= rows - 1)
    )
    # the contiguous run through the start point
    outside = np.flatnonzero(~inside)
    before = outside[outside < zero]
    after = outside[outside > zero]
    first = before[-1] + 1 if before.size else 0
    last = after[0] - 1 if after.size else len(s) - 1
    path = path[first : last + 1]
    if len(path) * step < 2 * width:
        return None
    return path


def _splat_bilinear(shape: tuple[int, int], xy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Deposit point weights on a grid with bilinear interpolation."""
    rows, cols = shape
    image = np.zeros(rows * cols, dtype=np.float64)
    x0 = np.floor(xy[:, 0]).astype(np.int64)
    y0 = np.floor(xy[:, 1]).astype(np.int64)
    fx = xy[:, 0] - x0
    fy = xy[:, 1] - y0
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        cx, cy = x0 + dx, y0 + dy
        ok = (cx >= 0) & (cx < cols) & (cy >= 0) & (cy < rows)
        image += np.bincount(
            cy[ok] * cols + cx[ok], weights=(weights * w)[ok], minlength=rows * cols
        )
    return image.reshape(rows, cols)


def _contamination_blob(
    rng: np.random.Generator, shape: tuple[int, int], radius: float
) -> tuple[float, float, float, np.ndarray, int, int]:
    """An irregular blob (union of soft discs); returns centre, diameter, patch and origin."""
    rows, cols = shape
    n_lobes = int(rng.integers(2, 6))
    lobe_offsets = rng.normal(scale=0.35 * radius, size=(n_lobes, 2))
    lobe_offsets[0] = 0.0
    lobe_radii = radius * rng.uniform(0.45, 0.8, size=n_lobes)
    lobe_radii[0] = 0.8 * radius
    centre = np.array([rng.uniform(0, cols - 1), rng.uniform(0, rows - 1)])
    extent = float(np.max(np.linalg.norm(lobe_offsets, axis=1) + lobe_radii))
    half = math.ceil(extent) + 2
    col_c, row_c = round(centre[0]), round(centre[1])
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    gx = offsets[None, :] + col_c
    gy = offsets[:, None] + row_c
    patch = np.zeros((offsets.size, offsets.size))
    for (ox, oy), lobe_radius in zip(lobe_offsets, lobe_radii):
        distance = np.hypot(gx - (centre[0] + ox), gy - (centre[1] + oy))
        patch = np.maximum(patch, np.clip(lobe_radius - distance + 0.5, 0.0, 1.0))
    return float(centre[0]), float(centre[1]), 2.0 * extent, patch, row_c - half, col_c - half


def ctf_1d(
    frequency: np.ndarray,
    *,
    defocus_um: float,
    pixel_size: float,
    voltage_kv: float = 300.0,
    cs_mm: float = 2.7,
    amplitude_contrast: float = 0.07,
    b_factor: float = 0.0,
) -> np.ndarray:
    """Phase-contrast transfer function with amplitude contrast and envelope.

    Parameters
    ----------
    frequency
        Spatial frequency in cycles per *pixel* (any shape).
    defocus_um
        Under-focus in µm (positive).
    pixel_size
        Å per pixel.
    voltage_kv, cs_mm, amplitude_contrast, b_factor
        Accelerating voltage, spherical aberration, amplitude contrast fraction
        and B-factor (Å²) of the envelope ``exp(-B f² / 4)``.

    Returns
    -------
    numpy.ndarray
        ``(sqrt(1 - A²) sin χ + A cos χ) * envelope`` with ``χ = π λ Δz f² -
        π/2 Cs λ³ f⁴``; positive at low frequency, so the image
        ``-CTF * projection`` shows dense objects dark.
    """
    volts = voltage_kv * 1e3
    wavelength = _H_C_FACTOR / math.sqrt(volts * (1 + _RELATIVISTIC * volts))  # Å
    f = np.asarray(frequency, dtype=np.float64) / pixel_size  # 1/Å
    f2 = f * f
    defocus = defocus_um * 1e4  # Å
    cs = cs_mm * 1e7  # Å
    chi = np.pi * wavelength * defocus * f2 - 0.5 * np.pi * cs * wavelength**3 * f2 * f2
    amp = amplitude_contrast
    ctf = math.sqrt(1 - amp * amp) * np.sin(chi) + amp * np.cos(chi)
    if b_factor:
        ctf = ctf * np.exp(-b_factor * f2 / 4.0)
    return ctf


# --------------------------------------------------------------------------
# placement


@dataclass
class _Obstacles:
    """Discs and fiber centre lines that particles must keep clear of."""

    discs: list[tuple[float, float, float]] = field(default_factory=list)
    fiber_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    fiber_radius: float = 0.0
    hole: tuple[float, float, float] | None = None  # centre x, y, radius (carbon outside)
    _tree: Any = None

    def clear(self, xy: np.ndarray, radius: float) -> np.ndarray:
        """Which candidate centres (M, 2) keep a disc of ``radius`` clear."""
        ok = np.ones(len(xy), dtype=bool)
        if self.hole is not None:
            hx, hy, hr = self.hole
            ok &= np.hypot(xy[:, 0] - hx, xy[:, 1] - hy) <= hr - radius
        if self.discs and ok.any():
            discs = np.asarray(self.discs)
            distance = np.hypot(
                xy[:, None, 0] - discs[None, :, 0], xy[:, None, 1] - discs[None, :, 1]
            )
            ok &= np.all(distance >= discs[None, :, 2] + radius, axis=1)
        if len(self.fiber_points) and ok.any():
            if self._tree is None:
                from scipy.spatial import cKDTree

                self._tree = cKDTree(self.fiber_points)
            reach = radius + self.fiber_radius
            distance, _ = self._tree.query(xy[ok], distance_upper_bound=reach)
            ok[np.flatnonzero(ok)] = distance >= reach
        return ok


def _place_discs(
    rng: np.random.Generator,
    shape: tuple[int, int],
    radii: np.ndarray,
    obstacles: _Obstacles,
    separation: float,
    *,
    batch: int = 64,
    tries_per_object: int = 256,
) -> np.ndarray:
    """Greedy random placement of discs; returns the indices placed and centres.

    A disc ``i`` goes inside the image (not cut by the border), clear of the
    obstacles, and at least ``separation * (r_i + r_j)`` from placed discs.
    Returns an ``(N, 3)`` array of ``(x, y, index)`` rows for the discs placed.
    """
    rows, cols = shape
    placed: list[tuple[float, float, int]] = []
    placed_xy = np.zeros((0, 2))
    placed_r = np.zeros(0)
    for index, radius in enumerate(radii):
        if cols - 1 < 2 * radius or rows - 1 < 2 * radius:
            continue
        for _ in range(max(1, tries_per_object * 4 // batch)):
            xy = np.column_stack(
                [
                    rng.uniform(radius, cols - 1 - radius, size=batch),
                    rng.uniform(radius, rows - 1 - radius, size=batch),
                ]
            )
            ok = obstacles.clear(xy, radius)
            if len(placed_xy):
                distance = np.hypot(
                    xy[:, None, 0] - placed_xy[None, :, 0], xy[:, None, 1] - placed_xy[None, :, 1]
                )
                ok &= np.all(distance >= separation * (radius + placed_r[None, :]), axis=1)
            hits = np.flatnonzero(ok)
            if hits.size:
                x, y = xy[hits[0]]
                placed.append((float(x), float(y), index))
                placed_xy = np.vstack([placed_xy, [[x, y]]])
                placed_r = np.append(placed_r, radius)
                break
    return np.asarray(placed, dtype=np.float64).reshape(-1, 3)


# --------------------------------------------------------------------------
# the micrograph


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A ramp plus a few long plane waves, scaled to [-1, 1]."""
    rows, cols = shape
    y = (np.arange(rows, dtype=np.float64) / max(rows - 1, 1) - 0.5)[:, None]
    x = (np.arange(cols, dtype=np.float64) / max(cols - 1, 1) - 0.5)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    field_ = 0.7 * (np.cos(angle) * x + np.sin(angle) * y) / 0.5
    for _ in range(3):
        kx, ky = rng.uniform(-1.5, 1.5, size=2) * np.pi
        phase = rng.uniform(0, 2 * np.pi)
        # cos(a + b) from 1D factors: cheap outer products instead of a 2D cos
        a, b = kx * x + phase, ky * y
        field_ = field_ + 0.1 * (np.cos(a) * np.cos(b) - np.sin(a) * np.sin(b))
    return (field_ / max(float(np.abs(field_).max()), 1e-9)).astype(np.float32)


def _coloured(noise: np.ndarray, exponent: float) -> np.ndarray:
    """White noise shaped to a power spectrum ``(f + 1/64)^-exponent``, variance 1."""
    fy = sfft.fftfreq(noise.shape[0])[:, None]
    fx = sfft.rfftfreq(noise.shape[1])[None, :]
    amplitude = (np.hypot(fy, fx) + 1.0 / 64.0) ** (-exponent / 2.0)
    shaped = sfft.irfft2(sfft.rfft2(noise) * amplitude, s=noise.shape)
    return (shaped / max(float(shaped.std()), 1e-12)).astype(np.float32)


def simulate_micrograph(
    config: SimulationConfig | None = None, *, seed: int = 0, name: str = ""
) -> SyntheticMicrograph:
    """Simulate one micrograph with its truth.

    Parameters
    ----------
    config
        Simulation parameters (:class:`SimulationConfig` defaults if None).
    seed
        Seed of ``numpy.random.default_rng``; the same seed and config give
        the same micrograph.
    name
        Written into the ``micrograph`` column of the truth picks.

    Returns
    -------
    SyntheticMicrograph
        The float32 image, truth picks, fiber centre lines and carbon mask.
    """
    config = SimulationConfig() if config is None else config
    rng = np.random.default_rng(seed)
    rows, cols = config.shape
    shape = (rows, cols)
    mean_diameter = config.mean_diameter()
    obstacles = _Obstacles()
    negatives_xy: list[tuple[float, float, float]] = []

    # --- carbon: the outside of a large circular hole whose rim crosses the image
    carbon_mask = np.zeros(shape, dtype=bool)
    amplitude = np.zeros(shape, dtype=np.float32)  # not CTF-filtered, noise-std units
    background_phase = np.zeros(shape, dtype=np.float32)
    if config.carbon > 0 and rng.random() < config.carbon:
        hole_radius = rng.uniform(1.0, 2.5) * max(shape)
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        edge_offset = rng.uniform(0.15, 0.6) * min(shape) / 2.0
        centre_img = np.array([(cols - 1) / 2.0, (rows - 1) / 2.0])
        hole_centre = centre_img - direction * (hole_radius - edge_offset)
        yy, xx = np.mgrid[0:rows, 0:cols]
        distance = np.hypot(xx - hole_centre[0], yy - hole_centre[1])
        carbon_soft = np.clip(distance - hole_radius + 0.5, 0.0, 1.0).astype(np.float32)
        carbon_mask = distance > hole_radius
        obstacles.hole = (float(hole_centre[0]), float(hole_centre[1]), float(hole_radius))
        amplitude += config.carbon_darkness * carbon_soft
        background_phase += carbon_soft * (0.5 * mean_diameter)
        # negatives along the edge, half a particle diameter into the carbon
        rim = hole_radius + mean_diameter / 2.0
        n_rim = math.ceil(2 * np.pi * rim / mean_diameter)
        theta = np.arange(n_rim) * (2 * np.pi / n_rim)
        rim_xy = hole_centre + rim * np.column_stack([np.cos(theta), np.sin(theta)])
        margin = mean_diameter / 2.0
        keep = (
            (rim_xy[:, 0] >= margin)
            & (rim_xy[:, 0] <= cols - 1 - margin)
            & (rim_xy[:, 1] >= margin)
            & (rim_xy[:, 1] <= rows - 1 - margin)
        )
        negatives_xy.extend((float(x), float(y), mean_diameter) for x, y in rim_xy[keep])

    # --- ice contamination
    for _ in range(int(config.n_contaminations)):
        radius = rng.uniform(*config.contamination_radius_px)
        x, y, diameter, patch, row0, col0 = _contamination_blob(rng, shape, radius)
        blob_amp = np.zeros(shape, dtype=np.float32)
        _add_patch(blob_amp, patch.astype(np.float32), row0, col0)
        amplitude += config.contamination_darkness * blob_amp
        background_phase += blob_amp * radius
        obstacles.discs.append((x, y, diameter / 2.0))
        negatives_xy.append((x, y, diameter))

    # --- vesicles (kept off carbon and contamination, not overlapping)
    vesicle_density = np.zeros(shape, dtype=np.float64)
    vesicle_radii = np.sort(rng.uniform(*config.vesicle_radius_px, size=int(config.n_vesicles)))
    vesicle_radii = vesicle_radii[::-1]
    vesicle_sites = _place_discs(rng, shape, vesicle_radii, obstacles, separation=1.05)
    vesicles = []
    for x, y, index in vesicle_sites:
        radius = float(vesicle_radii[int(index)])
        _render_vesicle(vesicle_density, x, y, radius, config.pixel_size)
        vesicles.append((x, y, 2 * radius))
    for x, y, diameter in vesicles:
        obstacles.discs.append((x, y, diameter / 2.0))

    # --- fibers: dense centre lines splatted, widened by a Gaussian in Fourier space
    fibers: list[np.ndarray] = []
    fiber_picks: list[tuple[float, float, int]] = []
    width = float(config.fiber_width_px)
    fiber_lines = None
    for _ in range(int(config.n_fibers)):
        path = None
        for _attempt in range(20):
            path = _fiber_path(rng, shape, config.fiber_curvature, width)
            if path is not None:
                break
        if path is None:
            continue
        tube_id = len(fibers) + 1
        arc = np.arange(len(path)) * 0.5
        # helical texture: the density is modulated along the tube
        repeat = 2.0 * width
        weights = (np.pi * width**2 / 4.0) * 0.5 * (1.0 + 0.3 * np.cos(2 * np.pi * arc / repeat))
        splat = _splat_bilinear(shape, path, weights)
        fiber_lines = splat if fiber_lines is None else fiber_lines + splat
        fibers.append(path[::2].copy())
        spacing = width / 2.0
        sample = np.arange(0.0, arc[-1] + 1e-9, spacing)
        sample_index = np.minimum(np.rint(sample / 0.5).astype(int), len(path) - 1)
        fiber_picks.extend((float(x), float(y), tube_id) for x, y in path[sample_index])
    if fibers:
        obstacles.fiber_points = np.vstack(fibers)
        obstacles.fiber_radius = width / 2.0

    # --- particles
    n_particles = int(config.n_particles)
    shape_index = rng.integers(0, len(config.shapes), size=n_particles)
    nominal = np.asarray(config.diameters())[shape_index]
    actual = nominal * np.clip(
        1.0 + config.diameter_jitter * rng.normal(size=n_particles), 0.5, 1.5
    )
    sites = _place_discs(
        rng, shape, actual / 2.0, obstacles, separation=float(config.min_separation)
    )
    particles = []
    particle_density = np.zeros(shape, dtype=np.float64)
    for x, y, index in sites:
        i = int(index)
        _render_particle(
            particle_density, x, y, actual[i], config.shapes[shape_index[i]], _random_rotation(rng)
        )
        particles.append((x, y, float(actual[i])))

    # --- microscope: CTF on the phase density (objects and background separately,
    # so that the SNR refers to the objects). The canvas is mirror-padded so the
    # periodic FFT does not wrap fringes of one border onto the other.
    margin = _CTF_MARGIN
    padded_shape = (sfft.next_fast_len(rows + 2 * margin), sfft.next_fast_len(cols + 2 * margin))

    def pad(array: np.ndarray) -> np.ndarray:
        return np.pad(
            array,
            ((margin, padded_shape[0] - rows - margin), (margin, padded_shape[1] - cols - margin)),
            mode="reflect",
        )

    def crop(array: np.ndarray) -> np.ndarray:
        return array[margin : margin + rows, margin : margin + cols]

    fy = sfft.fftfreq(padded_shape[0])[:, None]
    fx = sfft.rfftfreq(padded_shape[1])[None, :]
    frequency = np.sqrt(fy * fy + fx * fx)
    if config.defocus_um is None:
        transfer = np.ones_like(frequency)
    else:
        transfer = ctf_1d(
            frequency,
            defocus_um=config.defocus_um,
            pixel_size=config.pixel_size,
            voltage_kv=config.voltage_kv,
            cs_mm=config.cs_mm,
            amplitude_contrast=config.amplitude_contrast,
            b_factor=config.b_factor,
        )
    object_spectrum = sfft.rfft2(pad(particle_density + vesicle_density))
    if fiber_lines is not None:
        sigma = width / 4.0
        gaussian = np.exp(-2 * np.pi**2 * sigma**2 * frequency**2)
        object_spectrum = object_spectrum + sfft.rfft2(pad(fiber_lines)) * gaussian
    object_signal = -crop(sfft.irfft2(object_spectrum * transfer, s=padded_shape))
    if np.any(background_phase):
        background_signal = -crop(
            sfft.irfft2(sfft.rfft2(pad(background_phase)) * transfer, s=padded_shape)
        )
    else:
        background_signal = 0.0

    # SNR: signal power over the pixels the particles cover (or, without
    # particles, the vesicles and fibers)
    if particles:
        support_density = particle_density
    else:
        support_density = crop(sfft.irfft2(object_spectrum, s=padded_shape))
    support = support_density > 0.05 * max(float(support_density.max()), 1e-12)
    power = float(np.mean(object_signal[support] ** 2)) if support.any() else 0.0
    if not power > 0:
        # nothing to pick: scale the background as if it were the signal
        probe = np.asarray(background_signal)
        power = float(np.mean(probe**2)) if np.ndim(probe) and np.any(probe) else 1.0
    noise_free = config.snr is None or not math.isfinite(config.snr)
    signal_scale = (1.0 if noise_free else math.sqrt(config.snr)) / math.sqrt(power)

    image = (object_signal + background_signal) * signal_scale
    image = image.astype(np.float32)
    if config.ice_gradient:
        image -= np.float32(config.ice_gradient) * _smooth_field(rng, shape).astype(np.float32)
    image -= amplitude
    if not noise_free:
        noise = rng.standard_normal(size=shape, dtype=np.float32)
        if config.noise_exponent > 0:
            noise = _coloured(noise, config.noise_exponent)
        image += noise
    if config.blur_px > 0:
        from scipy import ndimage

        image = ndimage.gaussian_filter(image, config.blur_px).astype(np.float32)

    # --- truth
    xs: list[float] = []
    ys: list[float] = []
    diameters: list[float] = []
    kinds: list[str] = []
    tube_ids: list[int] = []
    for kind, items in (("particle", particles), ("vesicle", vesicles)):
        for x, y, diameter in items:
            xs.append(x)
            ys.append(y)
            diameters.append(diameter)
            kinds.append(kind)
            tube_ids.append(0)
    for x, y, tube_id in fiber_picks:
        xs.append(x)
        ys.append(y)
        diameters.append(width)
        kinds.append("fiber")
        tube_ids.append(tube_id)
    for x, y, diameter in negatives_xy:
        xs.append(x)
        ys.append(y)
        diameters.append(diameter)
        kinds.append("negative")
        tube_ids.append(0)
    picks = make_picks(
        np.asarray(xs, dtype=np.float64),
        np.asarray(ys, dtype=np.float64),
        diameter=np.asarray(diameters, dtype=np.float64),
        score=None,
        micrograph=name,
        kind=np.asarray(kinds, dtype=object),
        tube_id=np.asarray(tube_ids, dtype=np.int64),
    )
    return SyntheticMicrograph(
        image=np.ascontiguousarray(image, dtype=np.float32),
        picks=picks,
        fibers=fibers,
        carbon_mask=carbon_mask,
        pixel_size=float(config.pixel_size),
        config=config,
        seed=int(seed),
    )


# --------------------------------------------------------------------------
# data sets on disk


def _write_mrc(path: Path, data: np.ndarray, pixel_size: float) -> None:
    import mrcfile

    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
        mrc.voxel_size = pixel_size


def _picks_csv(picks: pd.DataFrame) -> str:
    columns = ["x", "y", "diameter", "score", "kind", "tube_id"]
    return picks[columns].to_csv(index=False, float_format="%.3f", lineterminator="\n")


def simulate_dataset(
    out_dir: str | os.PathLike,
    n_micrographs: int,
    config: SimulationConfig | None = None,
    *,
    seed: int = 0,
    name_prefix: str = "sim",
) -> Generator[Progress, None, list[Path]]:
    """Write a synthetic data set; a generator of :class:`Progress` events.

    Parameters
    ----------
    out_dir
        Output folder; gets ``micrographs/<name>.mrc`` (float32, pixel size in
        the header), ``picks/<name>.csv`` (columns ``x,y,diameter,score,kind,
        tube_id``), ``fibers/<name>.json`` (centre lines, when there are
        fibers) and ``dataset.json`` (written last).
    n_micrographs
        Number of micrographs.
    config
        Simulation parameters (defaults if None).
    seed
        Master seed; micrograph ``i`` uses a seed derived from it, so the data
        set is reproducible.
    name_prefix
        Micrograph names are ``<prefix>_0000``, ``<prefix>_0001``, ...

    Yields
    ------
    Progress
        One event per micrograph written (``step`` 1..n).

    Returns
    -------
    list of pathlib.Path
        The micrograph paths written. Every file is written atomically, so
        closing the generator early leaves only complete files.
    """
    config = SimulationConfig() if config is None else config
    n_micrographs = int(n_micrographs)
    if n_micrographs < 1:
        raise ValueError(f"n_micrographs must be >= 1, got {n_micrographs}")
    out = Path(out_dir)
    (out / "micrographs").mkdir(parents=True, exist_ok=True)
    (out / "picks").mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(int(seed)).generate_state(n_micrographs)
    written: list[Path] = []
    counts = dict.fromkeys(("particle", "vesicle", "fiber", "negative"), 0)
    for i in range(n_micrographs):
        name = f"{name_prefix}_{i:04d}"
        micrograph = simulate_micrograph(config, seed=int(seeds[i]), name=name)
        mrc_path = out / "micrographs" / f"{name}.mrc"
        # The micrograph and its truth appear together or not at all: the
        # truth files are published first, the micrograph last.
        texts = {out / "picks" / f"{name}.csv": _picks_csv(micrograph.picks)}
        if micrograph.fibers:
            (out / "fibers").mkdir(exist_ok=True)
            texts[out / "fibers" / f"{name}.json"] = centre_lines_json(
                name, config.fiber_width_px, micrograph.fibers
            )
        with atomic_paths(*texts, mrc_path) as temporaries:
            for temporary, text in zip(temporaries, texts.values()):
                temporary.write_text(text, encoding="utf-8")
            _write_mrc(temporaries[-1], micrograph.image, micrograph.pixel_size)
        for kind, count in micrograph.picks["kind"].value_counts().items():
            counts[kind] = counts.get(kind, 0) + int(count)
        written.append(mrc_path)
        yield Progress(step=i + 1, total=n_micrographs, message=name)
    rows, cols = config.shape
    contents = []
    if counts["particle"]:
        contents.append(f"particles ({', '.join(config.shapes)})")
    if counts["vesicle"]:
        contents.append("vesicles")
    if counts["fiber"]:
        contents.append(f"fibers ({config.fiber_width_px:g} px wide)")
    description = {
        "protein": f"synthetic {', '.join(contents) or 'micrographs without objects'}",
        "empiar": None,
        "image": f"{cols}x{rows} float32 MRC, simulated (napari-cryopick simulate)",
        "pixel_size_A": float(config.pixel_size),
        # no particle diameter for a set without particles (vesicles carry their own
        # diameters, fibers their width)
        "particle_diameter_px": config.mean_diameter() if counts["particle"] else None,
        "completeness": "complete",
        "labels": "simulation truth: kinds particle, vesicle, fiber, negative",
        "notes": "picks/*.csv: x = column, y = row, pixel centres, origin at the first pixel",
        "source": "napari-cryopick simulate",
        "micrographs": len(written),
        "picks": counts["particle"],
        "picks_by_kind": counts,
        **({"fiber_width_px": float(config.fiber_width_px)} if counts["fiber"] else {}),
        "seed": int(seed),
        "config": _jsonable(asdict(config)),
    }
    atomic_write_text(out / "dataset.json", json.dumps(description, indent=1))
    return written


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
