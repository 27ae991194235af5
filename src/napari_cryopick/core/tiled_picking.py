"""Picking large micrographs in tiles, so memory stays bounded.

The detector sees a micrograph rescaled so that particles are
``target_diameter_px`` wide. A small diameter enlarges the image: an 8192²
micrograph at a 10 px diameter becomes 22938² prepared pixels (2.1 GB as
float32, several times that during Fourier resampling). When the prepared
image would exceed :data:`MAX_PREPARED_PIXELS`, :func:`pick_in_tiles` cuts the
*original* micrograph into overlapping tiles, prepares and picks each one with
:func:`napari_cryopick.core.detect.pick_micrograph`, keeps each tile's picks
in its own core region, suppresses duplicates across the seams and stitches
the heatmap onto the grid the untiled micrograph would have had. Memory is
then the original micrograph, one prepared tile and the heatmap.

Differences from one untiled pass are confined to the seams: each tile is
normalised with its own median/MAD, and Fourier resampling treats each tile
as periodic (the overlap of 256 prepared pixels keeps that away from the
core regions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core.model.inputs import preparation_scale

#: Prepared (rescaled) pixels above which a micrograph is picked in tiles
#: (64 M pixels: 256 MB as float32).
MAX_PREPARED_PIXELS = 8192 * 8192
#: Side of a prepared tile (core region plus overlap), in prepared pixels.
TILE_PREPARED_PX = 4096
#: Overlap on each side of a tile, in prepared pixels.
OVERLAP_PREPARED_PX = 256


def needs_tiles(shape: tuple[int, int], diameter_px: float, config: Any) -> bool:
    """Whether a micrograph of ``shape`` picked at ``diameter_px`` is prepared in tiles."""
    scale = preparation_scale(diameter_px, config)
    rows, cols = (max(1, round(n * scale)) for n in shape)
    if rows <= TILE_PREPARED_PX and cols <= TILE_PREPARED_PX:
        return False  # one tile already (tiles themselves are never tiled again)
    return rows * cols > MAX_PREPARED_PIXELS


def tile_plan(length: int, scale: float) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis of ``length`` original pixels: ``(start, stop, core_start, core_stop)``.

    Core regions partition ``[0, length)``; each tile adds an overlap of
    :data:`OVERLAP_PREPARED_PX` prepared pixels on both sides (clipped).
    """
    margin = math.ceil(OVERLAP_PREPARED_PX / scale)
    core = max(1, math.floor(TILE_PREPARED_PX / scale) - 2 * margin)
    plan = []
    for core_start in range(0, length, core):
        core_stop = min(length, core_start + core)
        plan.append(
            (max(0, core_start - margin), min(length, core_stop + margin), core_start, core_stop)
        )
    return plan


def _suppress_across_seams(table: pd.DataFrame, min_distance: float) -> pd.DataFrame:
    """Greedy suppression per kind (picks sorted by decreasing score)."""
    from napari_cryopick.core.detect import _greedy_suppression

    if len(table) < 2 or min_distance <= 0:
        return table
    kept = []
    for _, group in table.groupby("kind", sort=False):
        group = group.sort_values("score", ascending=False, kind="stable")
        keep = _greedy_suppression(
            group["y"].to_numpy(np.float64), group["x"].to_numpy(np.float64), min_distance
        )
        kept.append(group.iloc[keep])
    return pd.concat(kept)


def pick_in_tiles(
    pick_micrograph: Callable[..., Any],
    model: Any,
    image: np.ndarray,
    *,
    diameter_px: float,
    config: Any,
    micrograph_name: str = "",
    border_diameter_px: float | None = None,
) -> Any:
    """Pick a large micrograph tile by tile (see the module docstring).

    Parameters
    ----------
    pick_micrograph
        :func:`napari_cryopick.core.detect.pick_micrograph` (passed in to keep
        the import one-way).
    model, image, diameter_px, config, micrograph_name, border_diameter_px
        As for ``pick_micrograph``.

    Returns
    -------
    napari_cryopick.core.detect.PickResult
        Picks in original pixels over the whole micrograph, and the heatmap
        on the grid of an untiled pass.
    """
    from napari_cryopick.core.detect import PickResult, _model_stride
    from napari_cryopick.core.pick_table import PICK_COLUMNS, empty_picks

    rows, cols = image.shape
    scale = preparation_scale(diameter_px, model.config)
    prepared_shape = (max(1, round(rows * scale)), max(1, round(cols * scale)))
    scale_y, scale_x = prepared_shape[0] / rows, prepared_shape[1] / cols
    stride = _model_stride(model)
    heatmap_scale = (stride / scale_y, stride / scale_x)
    heatmap_translate = (((stride - 1) / 2) / scale_y, ((stride - 1) / 2) / scale_x)
    cells = (-(-prepared_shape[0] // stride), -(-prepared_shape[1] // stride))
    # original-pixel centres of the global heatmap cells
    cell_y = heatmap_translate[0] + np.arange(cells[0]) * heatmap_scale[0]
    cell_x = heatmap_translate[1] + np.arange(cells[1]) * heatmap_scale[1]

    heatmap: np.ndarray | None = None
    kinds: tuple[str, ...] = ()
    tables = []
    for r0, r1, core_r0, core_r1 in tile_plan(rows, scale):
        for c0, c1, core_c0, core_c1 in tile_plan(cols, scale):
            result = pick_micrograph(
                model,
                image[r0:r1, c0:c1],
                diameter_px=diameter_px,
                config=config,
                micrograph_name=micrograph_name,
                border_diameter_px=border_diameter_px,
            )
            kinds = result.kinds
            picks = result.picks.copy()
            picks["x"] += c0
            picks["y"] += r0
            low_y = -np.inf if core_r0 == 0 else core_r0 - 0.5
            high_y = np.inf if core_r1 == rows else core_r1 - 0.5
            low_x = -np.inf if core_c0 == 0 else core_c0 - 0.5
            high_x = np.inf if core_c1 == cols else core_c1 - 0.5
            inside = (
                (picks["y"] >= low_y)
                & (picks["y"] < high_y)
                & (picks["x"] >= low_x)
                & (picks["x"] < high_x)
            )
            tables.append(picks[inside])

            tile_heat = result.heatmap if result.heatmap.ndim == 3 else result.heatmap[None]
            if heatmap is None:
                heatmap = np.zeros((tile_heat.shape[0], *cells), np.float32)
            owned_r = np.flatnonzero((cell_y >= core_r0 - 0.5) & (cell_y < core_r1 - 0.5))
            owned_c = np.flatnonzero((cell_x >= core_c0 - 0.5) & (cell_x < core_c1 - 0.5))
            if owned_r.size and owned_c.size:
                (ty, tx), (oy, ox) = result.heatmap_translate, result.heatmap_scale
                source_r = np.clip(
                    np.rint((cell_y[owned_r] - r0 - ty) / oy).astype(int), 0, tile_heat.shape[1] - 1
                )
                source_c = np.clip(
                    np.rint((cell_x[owned_c] - c0 - tx) / ox).astype(int), 0, tile_heat.shape[2] - 1
                )
                heatmap[:, owned_r[:, None], owned_c[None, :]] = tile_heat[
                    :, source_r[:, None], source_c[None, :]
                ]
            del result, tile_heat

    table = pd.concat(tables, ignore_index=True) if tables else empty_picks()
    table = _suppress_across_seams(table, config.min_distance * diameter_px)
    table = table.sort_values("score", ascending=False, kind="stable")
    table = table.groupby("kind", sort=False).head(config.top_k)
    table = table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    table = table[list(PICK_COLUMNS)]
    assert heatmap is not None  # at least one tile
    return PickResult(
        picks=table,
        heatmap=heatmap[0] if heatmap.shape[0] == 1 else heatmap,
        heatmap_scale=heatmap_scale,
        heatmap_translate=heatmap_translate,
        kinds=kinds,
        threshold=config.threshold,
        prepared_shape=prepared_shape,
        prepared_scale=(scale_y, scale_x),
    )
