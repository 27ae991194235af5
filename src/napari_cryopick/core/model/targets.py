"""Training targets at stride 4 (CenterNet style) from a pick table.

For every labelled object of kind ``k`` (a heatmap channel):

* ``heatmap[k]`` gets a Gaussian peak centred on the object's cell, value 1
  exactly at that cell; ``sigma`` (in cells) is ``diameter / stride *
  sigma_factor`` (at least ``min_sigma``) so larger objects get wider peaks;
  overlapping peaks take the maximum.
* ``offset`` (dx, dy) and ``size`` (``log(diameter / target_diameter_px)``)
  are set at the centre cell, where ``reg_mask`` is 1. With ``offset_radius``
  r > 0 the offset is also set in the cells up to r cells from the centre cell
  (pointing from each to the object's centre; a cell between two objects points
  to the nearer), where ``offset_mask`` is 1: a heatmap peak one cell off the
  centre still gives the centre.

Cell ``(i, j)`` covers input pixels ``stride*j .. stride*j + stride - 1``
(pixel centres), so ``u = (x + 0.5) / stride``, ``j = floor(u)``,
``dx = u - j`` in ``[0, 1)`` at the centre cell (see
:mod:`napari_cryopick.core.model.network`).

Objects of kind ``"negative"`` (carbon, ice, junk clicked by the user) paint
a disc of their diameter into ``negative_mask``: there the heatmap is pushed to
0 with full penalty by the loss whatever the sparse-label handling does.

Objects of kind ``"unknown"`` are not labels: they mark places that may hold
an unlabelled particle (the general model's own detections on the training
micrographs, :func:`napari_cryopick.core.unlabelled.protect_prior_detections`).
They paint a disc of their diameter into ``unknown_mask``, where the loss
reduces the negative penalty (a user negative still wins).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NEGATIVE_KIND = "negative"
UNKNOWN_KIND = "unknown"


def _cell_index(coordinate: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    u = (coordinate + 0.5) / stride
    cell = np.floor(u)
    return cell.astype(np.int64), (u - cell).astype(np.float32)


def build_targets(
    picks: pd.DataFrame,
    shape: tuple[int, int],
    kinds: tuple[str, ...],
    *,
    stride: int = 4,
    target_diameter_px: float = 20.0,
    default_diameter_px: float | None = None,
    sigma_factor: float = 1.0 / 6.0,
    min_sigma: float = 0.5,
    offset_radius: int = 0,
) -> dict[str, np.ndarray]:
    """Heatmap, offset, size and mask targets for one image.

    Parameters
    ----------
    picks
        Picks in the pixels of the image (prepared pixels, relative to the
        crop): columns ``x``, ``y``, ``diameter`` and ``kind``. Picks outside
        the image still contribute the visible part of their peak / disc.
        Kinds neither in ``kinds`` nor ``"negative"`` / ``"unknown"`` are ignored.
    shape
        ``(rows, cols)`` of the image.
    kinds
        Heatmap channel names.
    stride
        Output stride.
    target_diameter_px
        Reference diameter of the log-size encoding.
    default_diameter_px
        Diameter for picks without one (NaN); ``target_diameter_px`` if None.
    sigma_factor, min_sigma
        Gaussian ``sigma = max(diameter / stride * sigma_factor, min_sigma)`` in cells.
    offset_radius
        Cells (Chebyshev distance from the centre cell) whose offset points to
        the object's centre too (0: the centre cell only).

    Returns
    -------
    dict of numpy.ndarray
        ``heatmap`` ``[K, h, w]``, ``offset`` ``[2, h, w]`` (dx, dy), ``size``
        ``[1, h, w]``, ``reg_mask`` ``[1, h, w]``, ``offset_mask``,
        ``negative_mask`` and ``unknown_mask`` ``[1, h, w]``, float32, ``h, w = ceil(rows/stride), ceil(cols/stride)``.
    """
    n = len(picks)
    columns = picks.columns
    return build_targets_from_arrays(
        picks["x"].to_numpy(np.float64) if n else np.zeros(0),
        picks["y"].to_numpy(np.float64) if n else np.zeros(0),
        picks["diameter"].to_numpy(np.float64) if "diameter" in columns else np.full(n, np.nan),
        picks["kind"].astype(str).to_numpy() if "kind" in columns else np.full(n, kinds[0]),
        shape,
        kinds,
        stride=stride,
        target_diameter_px=target_diameter_px,
        default_diameter_px=default_diameter_px,
        sigma_factor=sigma_factor,
        min_sigma=min_sigma,
        offset_radius=offset_radius,
    )


def build_targets_from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    diameter: np.ndarray,
    kind: np.ndarray,
    shape: tuple[int, int],
    kinds: tuple[str, ...],
    *,
    stride: int = 4,
    target_diameter_px: float = 20.0,
    default_diameter_px: float | None = None,
    sigma_factor: float = 1.0 / 6.0,
    min_sigma: float = 0.5,
    offset_radius: int = 0,
) -> dict[str, np.ndarray]:
    """:func:`build_targets` on plain arrays (the training loop's fast path).

    ``x``, ``y`` and ``diameter`` in the image's pixels (NaN or non-positive
    diameters become ``default_diameter_px``, else ``target_diameter_px``);
    ``kind`` the kind names. Same targets as :func:`build_targets`.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    kind = np.asarray(kind).astype(str)
    diameter = np.asarray(diameter, np.float64)
    default = target_diameter_px if default_diameter_px is None else default_diameter_px
    diameter = np.where(np.isfinite(diameter) & (diameter > 0), diameter, default)
    out_h = math.ceil(shape[0] / stride)
    out_w = math.ceil(shape[1] / stride)
    heatmap = np.zeros((len(kinds), out_h, out_w), np.float32)
    offset = np.zeros((2, out_h, out_w), np.float32)
    size = np.zeros((1, out_h, out_w), np.float32)
    reg_mask = np.zeros((1, out_h, out_w), np.float32)
    offset_mask = np.zeros((1, out_h, out_w), np.float32)
    negative_mask = np.zeros((1, out_h, out_w), np.float32)
    unknown_mask = np.zeros((1, out_h, out_w), np.float32)
    if len(x) == 0:
        return _pack(heatmap, offset, size, reg_mask, offset_mask, negative_mask, unknown_mask)
    cols, dx = _cell_index(x, stride)
    rows, dy = _cell_index(y, stride)
    grid_rows = np.arange(out_h)[:, None]
    grid_cols = np.arange(out_w)[None, :]
    # distance (cells) from each cell's centre to the object its offset points to
    nearest = np.full((out_h, out_w), np.inf)

    for mask, mask_kind in ((negative_mask, NEGATIVE_KIND), (unknown_mask, UNKNOWN_KIND)):
        for index in np.flatnonzero(kind == mask_kind):
            # Disc of the object's diameter, in continuous cell coordinates; at
            # least the centre cell.
            centre_r = (y[index] + 0.5) / stride - 0.5
            centre_c = (x[index] + 0.5) / stride - 0.5
            radius = max(diameter[index] / stride / 2.0, 0.5)
            disc = (grid_rows - centre_r) ** 2 + (grid_cols - centre_c) ** 2 <= radius**2
            mask[0][disc] = 1.0

    for channel, name in enumerate(kinds):
        for index in np.flatnonzero(kind == name):
            sigma = max(diameter[index] / stride * sigma_factor, min_sigma)
            radius = math.ceil(3 * sigma)
            row, col = int(rows[index]), int(cols[index])
            r0, r1 = max(row - radius, 0), min(row + radius + 1, out_h)
            c0, c1 = max(col - radius, 0), min(col + radius + 1, out_w)
            if r0 >= r1 or c0 >= c1:
                continue
            rr = np.arange(r0, r1)[:, None] - row
            cc = np.arange(c0, c1)[None, :] - col
            peak = np.exp(-(rr**2 + cc**2) / (2 * sigma**2)).astype(np.float32)
            window = heatmap[channel, r0:r1, c0:c1]
            np.maximum(window, peak, out=window)
            o0, o1 = max(row - offset_radius, 0), min(row + offset_radius + 1, out_h)
            p0, p1 = max(col - offset_radius, 0), min(col + offset_radius + 1, out_w)
            if o0 >= o1 or p0 >= p1:
                continue
            # the object's centre relative to each cell of the window, in cells
            ox = (dx[index] + col - np.arange(p0, p1))[None, :].repeat(o1 - o0, axis=0)
            oy = (dy[index] + row - np.arange(o0, o1))[:, None].repeat(p1 - p0, axis=1)
            distance = np.hypot(ox - 0.5, oy - 0.5)
            closer = distance < nearest[o0:o1, p0:p1]
            nearest[o0:o1, p0:p1][closer] = distance[closer]
            offset[0, o0:o1, p0:p1][closer] = ox[closer]
            offset[1, o0:o1, p0:p1][closer] = oy[closer]
            offset_mask[0, o0:o1, p0:p1][closer] = 1.0
            if 0 <= row < out_h and 0 <= col < out_w:
                # the centre cell is its object's, size and offset alike, whatever lies
                # nearer its middle (two objects a cell apart); of two in one cell, the last
                size[0, row, col] = math.log(diameter[index] / target_diameter_px)
                reg_mask[0, row, col] = 1.0
                offset[0, row, col] = dx[index]
                offset[1, row, col] = dy[index]
                offset_mask[0, row, col] = 1.0
                nearest[row, col] = -1.0
    # A labelled centre is never a negative, even if a negative disc touches it.
    negative_mask[0][heatmap.max(axis=0) >= 1.0] = 0.0
    return _pack(heatmap, offset, size, reg_mask, offset_mask, negative_mask, unknown_mask)


def _pack(
    heatmap, offset, size, reg_mask, offset_mask, negative_mask, unknown_mask
) -> dict[str, np.ndarray]:
    return {
        "heatmap": heatmap,
        "offset": offset,
        "size": size,
        "reg_mask": reg_mask,
        "offset_mask": offset_mask,
        "negative_mask": negative_mask,
        "unknown_mask": unknown_mask,
    }
