"""The particle diameter from the user's clicks, when the user gives none.

A user who clicks particles has shown their size: every click sits on a
particle's centre. :func:`estimate_diameter` averages the micrograph around
all clicks (a rough "class average"), takes its rotational average (the radial
contrast profile ``c(r)`` against the background far out) and finds the
particle's edge:

* the particle's contrast is the sign of the profile's strongest extremum
  (at the centre for a solid particle, on the rim for a hollow one such as
  apoferritin, a capsid or a ring), not of the centre alone, which for a
  hollow particle or a few noisy clicks can have either sign;
* phase contrast (the CTF) puts a fringe of opposite contrast just outside
  every particle, so beyond that extremum ``c(r)`` falls through zero at the
  edge and is most negative just outside it; the diameter is twice the radius
  of that minimum (without a fringe: where the contrast has fallen to a tenth).

The micrographs are high-passed first (a Gaussian of a sixteenth of the
smallest micrograph side subtracted), so that ice gradients or a few clicks in
a bright region do not shift the background the profile is measured against.
Averaging over the clicks (dozens of them) keeps the noise of single
low-contrast particles out. Pick files that carry a diameter (STAR
``cryopickDiameter``, CBOX box sizes, CSV ``diameter``) win over the image.

Measured (``benchmarks/bench_diameter.py``, 10 / 25 / 50 / 100 clicks over three
micrographs, five draws each; see ``docs/benchmarks.md``): within 25 % on
the real beta-galactosidase and ribosome sets and on simulated spheres,
cubes, dumbbells, lumpy complexes, tetrahedra, hollow shells and rings;
elongated shapes (rods, L shapes, ellipsoids) come out at 0.5-0.8 of their
length, and apoferritin's at about 1.5 times its labelled 62 px (its labels
are hand-painted discs smaller than the particle's shell and fringe).

:func:`check_diameter` compares a diameter the user gave with the estimate and
returns a warning when they disagree by more than 25 %.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = ["DiameterEstimate", "check_diameter", "diameters_disagree", "estimate_diameter"]

#: An image ``(rows, cols)`` or a micrograph file (read when needed).
MicrographSource = np.ndarray | str | os.PathLike

#: Relative disagreement between a given and an estimated diameter that warns.
DISAGREEMENT = 0.25

#: Width of the Gaussian subtracted before averaging, as a fraction of the search
#: radius (a quarter of the smallest micrograph side): a sixteenth of that side.
HIGH_PASS = 0.25

#: An image estimate at this fraction of its search range's top or above reached it
#: (:attr:`DiameterEstimate.at_limit`).
AT_LIMIT = 0.95


@dataclass(frozen=True)
class DiameterEstimate:
    """An estimated particle diameter.

    Attributes
    ----------
    diameter_px
        Diameter in pixels of the micrographs.
    source
        ``"picks"`` (the pick files' own diameters) or ``"image"`` (scale space at the clicks).
    n_picks
        Clicks used (``"picks"``: those whose file gives a size).
    at_limit
        ``"image"``: the estimate reached the top of its search range (a quarter of
        the smallest micrograph side): the micrographs show no particle around the
        clicks (clicks mirrored, or off the particles), not a particle that large.
    """

    diameter_px: float
    source: str
    n_picks: int
    at_limit: bool = False


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    if factor <= 1:
        return image
    rows, cols = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    view = image[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return view.mean(axis=(1, 3))


def _binned_index(position: float, factor: int, size: int) -> int:
    """The pixel of a micrograph block-averaged ``factor`` times (``size`` pixels) that
    holds original pixel position ``position``: binned pixel ``i`` averages original
    ``i*f .. i*f + f - 1``, centred at ``i*f + (f - 1)/2`` (as
    :func:`~napari_cryopick.core.pick_table.original_to_binned`). ``round(x / f)`` put
    half of the clicks one binned pixel off their particle's centre."""
    index = round((float(position) - (factor - 1) / 2.0) / factor)
    return min(max(index, 0), size - 1)


def _load(source: MicrographSource) -> np.ndarray:
    """The image of an array, or of a micrograph file (read now)."""
    if isinstance(source, str | os.PathLike):
        from napari_cryopick.io.micrographs import read_micrograph

        return read_micrograph(source, quiet=True).data  # reported when first read
    return np.asarray(source)


def _radial_profile(
    micrographs: Sequence[MicrographSource], points: Sequence[np.ndarray], max_radius_px: float
) -> tuple[np.ndarray, int]:
    """Rotationally averaged mean patch around the clicks, in bins of ``factor`` pixels.

    Micrograph files are read one at a time: only the windows around the
    clicks are kept, so memory holds one micrograph at a time.
    """
    factor = max(1, int(max_radius_px // 128))
    half = math.ceil(max_radius_px / factor)
    total = np.zeros((2 * half + 1, 2 * half + 1))
    weight = np.zeros_like(total)
    for source, xy in zip(micrographs, points, strict=True):
        if not len(xy):
            continue
        image = np.asarray(_load(source), dtype=np.float32)
        image = (image - float(image.mean())) / (float(image.std()) or 1.0)
        binned = _block_mean(image, factor)
        # ice gradients out (far wider than any particle the search allows), then one
        # binned pixel of smoothing: noise out, the edge stays
        binned = binned - ndimage.gaussian_filter(binned, HIGH_PASS * half)
        binned = ndimage.gaussian_filter(binned, 1.0)
        padded = np.pad(binned, half)
        inside = np.pad(np.ones_like(binned), half)
        for x, y in xy:
            col = _binned_index(x, factor, binned.shape[1]) + half
            row = _binned_index(y, factor, binned.shape[0]) + half
            window = (slice(row - half, row + half + 1), slice(col - half, col + half + 1))
            total += padded[window]
            weight += inside[window]
        del image, binned, padded, inside  # the next micrograph replaces this one
    mean = total / np.maximum(weight, 1.0)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    rings = np.rint(np.hypot(yy, xx)).astype(int)
    profile = np.asarray(ndimage.mean(mean, rings, np.arange(half + 1)), dtype=float)
    return profile, factor


def _edge_radius(profile: np.ndarray) -> float:
    """Radius (profile bins) of the particle edge: the fringe's minimum, else a tenth of the contrast."""
    background = float(np.median(profile[int(0.75 * len(profile)) :]))
    contrast = profile - background
    # the particle's contrast: the strongest extremum within the inner half (the
    # centre of a solid particle, the rim of a hollow one)
    strongest = int(np.argmax(np.abs(contrast[: max(4, len(contrast) // 2)])))
    if contrast[strongest] < 0:
        contrast = -contrast
    peak = float(contrast[strongest])
    below = strongest + np.flatnonzero(contrast[strongest:] <= 0)
    if len(below) and below[0] > 0:
        zero = int(below[0])
        stop = min(len(contrast) - 1, 2 * zero + 1)
        best = zero + int(np.argmin(contrast[zero : stop + 1]))
        if 0 < best < len(contrast) - 1:
            # parabola through the minimum and its neighbours
            y0, y1, y2 = contrast[best - 1 : best + 2]
            curvature = y0 - 2 * y1 + y2
            if curvature > 0:
                return best + 0.5 * (y0 - y2) / curvature
        return float(best)
    faded = strongest + np.flatnonzero(contrast[strongest:] <= 0.1 * peak)
    return float(faded[0]) if len(faded) else float(len(contrast) - 1)


def estimate_diameter(
    micrographs: Sequence[MicrographSource],
    picks: Sequence[pd.DataFrame],
    *,
    shapes: Sequence[tuple[int, int]] | None = None,
    min_diameter_px: float = 8.0,
    max_diameter_px: float | None = None,
    max_picks: int = 300,
    seed: int = 0,
) -> DiameterEstimate:
    """Estimate the particle diameter from clicked centres.

    Parameters
    ----------
    micrographs
        Images ``(rows, cols)``, or micrograph files: those are read one at a
        time and dropped once the windows around their clicks are taken, so
        memory holds one micrograph, not all of them.
    picks
        One pick table per micrograph (``x``, ``y`` in pixels; an optional
        ``diameter`` column; rows of ``kind == "negative"`` are ignored).
    shapes
        ``(rows, cols)`` of every micrograph; needed with files only (default:
        read from the files, one at a time).
    min_diameter_px, max_diameter_px
        Search range (default maximum: a quarter of the smallest micrograph side).
    max_picks
        At most this many clicks (a seeded random subset) are measured.
    seed
        Seed of that subset.

    Returns
    -------
    DiameterEstimate

    Raises
    ------
    ValueError
        Without any click, or when the micrographs and pick tables do not pair up.
    """
    if len(micrographs) != len(picks):
        raise ValueError(f"{len(micrographs)} micrographs but {len(picks)} pick tables")
    tables = []
    for table in picks:
        if "kind" in table.columns:
            table = table[table["kind"] != "negative"]
        tables.append(table)
    n_picks = int(sum(len(t) for t in tables))
    if n_picks == 0:
        raise ValueError("no clicks to estimate the particle diameter from")
    given = pd.concat([t.get("diameter", pd.Series(dtype=float)) for t in tables])
    given = pd.to_numeric(given, errors="coerce").to_numpy(float)
    given = given[np.isfinite(given) & (given > 0)]
    if len(given) >= max(1, n_picks // 2):
        # the picks that carry a size, not every pick (a CLI trial: "the 80 px that the
        # pick files give their 76 picks", 40 of them from a BOX file, 36 of no size)
        return DiameterEstimate(float(np.median(given)), "picks", len(given))

    rng = np.random.default_rng(seed)
    points = [t[["x", "y"]].to_numpy(float) for t in tables]
    if n_picks > max_picks:
        owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(points)])
        chosen = np.sort(rng.choice(n_picks, max_picks, replace=False))
        flat = np.concatenate(points)
        points = [flat[chosen[owner[chosen] == i]] for i in range(len(points))]
    if shapes is None:
        shapes = [
            np.shape(m)[:2] if not isinstance(m, str | os.PathLike) else _load(m).shape
            for m in micrographs
        ]
    if len(shapes) != len(micrographs):
        raise ValueError(f"{len(micrographs)} micrographs but {len(shapes)} shapes")
    smallest = min(min(shape[:2]) for shape in shapes)
    top = max_diameter_px or smallest / 4.0
    if top <= min_diameter_px:
        raise ValueError(f"micrographs too small ({smallest} px) to estimate a diameter")
    profile, factor = _radial_profile(micrographs, points, top)
    diameter = 2.0 * factor * _edge_radius(profile)
    return DiameterEstimate(
        float(np.clip(diameter, min_diameter_px, top)),
        "image",
        n_picks,
        at_limit=bool(diameter >= AT_LIMIT * top),
    )


def diameters_disagree(first_px: Any, second_px: Any) -> Any:
    """True when two diameters differ by more than :data:`DISAGREEMENT` (25 %) either way.

    Two numbers give a bool; arrays (positive values) a boolean array, element by element.
    """
    if np.ndim(first_px) == 0 and np.ndim(second_px) == 0:
        ratio = first_px / second_px
        return abs(ratio - 1.0) > DISAGREEMENT or abs(1.0 / ratio - 1.0) > DISAGREEMENT
    ratio = np.asarray(first_px, float) / np.asarray(second_px, float)
    return (np.abs(ratio - 1.0) > DISAGREEMENT) | (np.abs(1.0 / ratio - 1.0) > DISAGREEMENT)


def check_diameter(given_px: float, estimate: DiameterEstimate) -> str | None:
    """A warning when ``given_px`` and the estimate disagree by more than 25 %, else None."""
    if not diameters_disagree(given_px, estimate.diameter_px):
        return None
    if estimate.source == "picks":
        # BOX and CBOX files hold box sizes, which extraction wants larger than the
        # particle: the pick files' size is then no particle diameter
        return (
            f"the given particle diameter {given_px:.0f} px differs by more than "
            f"{DISAGREEMENT:.0%} from the {estimate.diameter_px:.0f} px that the pick files "
            f"give their {estimate.n_picks} picks; the given diameter is used (right if "
            "those are box sizes, as in BOX files); check it (and the pixel size)"
        )
    # an estimate from the image alone is off on some data sets (apoferritin's 62 px
    # particles read as 92 px): a trial took it for a firm recommendation
    return (
        f"the given particle diameter {given_px:.0f} px differs by more than "
        f"{DISAGREEMENT:.0%} from the {estimate.diameter_px:.0f} px that the micrographs "
        f"show around the {estimate.n_picks} clicks; the given diameter is used. The "
        "estimate comes from the image alone and can be off: measure a particle to check "
        "(and the pixel size)"
    )
