"""Picking: heatmap inference on tiles, peak finding, DeepEM-style filtering.

The pipeline for one micrograph (:func:`pick_micrograph`):

1. ``prepare_micrograph`` resamples the micrograph so that the particle
   diameter becomes the detector's ``target_diameter_px`` and normalizes it
   (the *prepared* image; ``prepared = original * scale``).
2. :func:`predict_maps` runs the detector on overlapping tiles of the prepared
   image (bounded memory) and stitches the outputs by centre cropping: every
   heatmap cell comes from the tile in which it lies farthest from the tile
   edge, so the result equals a single pass wherever the receptive field fits
   in half the overlap. Optionally the predictions are averaged over the four
   90-degree rotations (DeepEM), each un-rotated before averaging.
3. :func:`find_peaks` / :func:`decode_picks` turn each heatmap channel into
   candidate centres (local maxima, greedy minimum-distance suppression,
   sub-cell offsets, size head).
4. Optionally :func:`local_std_filter` rejects candidates whose local standard
   deviation is an outlier (carbon edges, ice contamination; DeepEM).
5. Candidates go back to original pixels. All candidates down to
   ``PickConfig.score_floor`` are kept in :class:`PickResult` so that a GUI
   threshold slider can filter them (:func:`apply_threshold`) without running
   the network again.

Coordinate convention between the heatmap and pixels (matches the training
targets of :mod:`napari_cryopick.core.model`): a peak at heatmap cell ``(i, j)``
with offset ``(dx, dy)`` is a centre at ``x = (j + dx) * stride - 0.5``,
``y = (i + dy) * stride - 0.5`` in prepared pixels (pixel-centre convention:
cell ``j`` spans pixels ``4j .. 4j+3``, offsets lie in ``[0, 1)`` at an object's
centre cell and point to it from the cells around it too; see
:func:`napari_cryopick.core.model.network.decode_positions`). It lives in two helpers,
:func:`_cells_to_pixels` and :func:`_pixels_to_cells`.

This module imports neither napari nor Qt.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage

from napari_cryopick.core.pick_table import PICK_COLUMNS, empty_picks, make_picks

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "PickConfig",
    "PickResult",
    "ThresholdChoice",
    "apply_threshold",
    "border_from_clicks",
    "choose_threshold",
    "decode_picks",
    "find_peaks",
    "local_std_filter",
    "pick_micrograph",
    "predict_maps",
]

#: Heatmap channels that never become picks (they exist to teach the network
#: what is *not* an object).
NON_PICK_KINDS: frozenset[str] = frozenset({"negative"})


# --------------------------------------------------------------------------
# configuration and results
# --------------------------------------------------------------------------


@dataclass
class PickConfig:
    """Options of picking.

    Parameters
    ----------
    threshold
        Score above which a candidate is a pick. 0.15 because the CenterNet
        focal-loss heatmap of a detector trained on sparse (partially labelled)
        clicks in the default 120 s is conservative: on the leave-one-out
        experiments (docs/general-model.md) true particles often peaked at
        0.15-0.3, the best-F1 thresholds were 0.15-0.21, and the AP@0.5 of the
        picks written was 0.35 / 0.78 / 0.83 (apoferritin / beta-gal /
        ribosome) at 0.15 against 0.03 / 0.44 / 0.64 at 0.3. Choose it per data
        set with :func:`choose_threshold` (best F2, DeepEM).
    min_distance
        Minimum distance between two picks of the same kind as a fraction of
        the diameter. 0.4: touching and slightly overlapping particles
        (densely packed, projections of 3D neighbours) survive, duplicate
        peaks on one particle do not (0.6 cost 0.03 AP@0.5 on apoferritin).
    top_k
        At most this many candidates per kind and micrograph (CLI
        ``--max-picks``). None: :func:`auto_top_k` of the micrograph, at least
        2000 and 2 x area / diameter² (1.7 times the particles that fit on it; a
        trial's K3 micrograph of 2,800 packed 56 px particles lost 30 % of them to
        a fixed 2000).
    rotations
        DeepEM: average the predictions over the four 90-degree rotations of
        the input (4x the network's compute). On by default because it pays
        for its cost: on a default-trained model AP@0.5 changed by +0.000 /
        +0.037 / +0.013 (ribosome / apoferritin / beta-gal) and +0.049 /
        +0.058 (held-out simulated ring / L shapes), never lower
        (``benchmarks/bench_accuracy.py --ablation``, 2026-11-29), while
        picking a 1024 px ribosome micrograph (56 px particles) costs 0.32 s of
        CPU instead of 0.13 s on this 2-core machine's single thread, inside
        the 0.5 s budget; on a GPU the difference is negligible.
        ``cryopick pick --no-rotations`` turns it off for large CPU batch jobs.
    reject_std
        DeepEM: reject candidates whose local standard deviation is an outlier
        among the candidates (carbon edges, ice contamination).
    std_window
        Side of the square window of the local standard deviation, as a
        fraction of the diameter.
    std_z_cut
        Robust z-score (median / MAD of the log local std) beyond which a
        candidate is rejected.
    std_tails
        ``"high"`` rejects only candidates that are too textured (carbon, ice
        crystals, aggregates: the false positives that matter); ``"both"``
        also rejects too-flat ones (empty holes, vacuum). Default ``"high"``:
        real particles in thin ice are the low-std candidates and must not go.
    tile_size
        Tile side in prepared pixels (rounded up to the network's size
        multiple). Bounds the network's memory.
    overlap
        Pixels shared by two neighbouring tiles; each output cell keeps at
        least ``overlap / 2`` pixels of context to the nearest seam, which must
        cover the detector's receptive-field margin for seamless results.
    batch_size
        Tiles per forward pass.
    head
        Detector head to use (``None``: the model's default head).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    score_floor
        Candidates are kept down to this score so a threshold can be changed
        later without running the network again.
    kinds
        Heatmap kinds to decode (e.g. ``("vesicle",)``); ``None``: all of
        the model's kinds.
    ridge
        Candidates are all heatmap cells (not only local maxima), thinned by
        the greedy ``min_distance`` suppression: evenly spaced points along a
        flat ridge, e.g. a fiber, where local maxima are few and far apart.
    border
        Reject candidates whose centre lies closer than this fraction of the
        diameter to the micrograph's edge (0: keep all). 0.5: a particle cut
        by the edge cannot be extracted whole, human pickers skip it, and
        false picks on the edge rank high.
    """

    threshold: float = 0.15
    min_distance: float = 0.4
    top_k: int | None = None
    rotations: bool = True
    reject_std: bool = False
    std_window: float = 1.0
    std_z_cut: float = 3.5
    std_tails: Literal["high", "both"] = "high"
    tile_size: int = 1024
    overlap: int = 192
    batch_size: int = 1
    head: str | None = None
    device: str = "auto"
    score_floor: float = 0.05
    kinds: tuple[str, ...] | None = None
    ridge: bool = False
    border: float = 0.5

    def __post_init__(self) -> None:
        if self.kinds is not None:
            self.kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if not 0.0 <= self.score_floor <= 1.0 or not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold and score_floor must lie in [0, 1]")
        if not 0 <= self.min_distance <= 10:
            # a fraction of the diameter; huge values make every pair of candidates neighbours
            raise ValueError(
                f"min_distance must lie in [0, 10] (a fraction of the diameter), "
                f"got {self.min_distance}"
            )
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.tile_size < 16 or self.overlap < 0 or self.overlap >= self.tile_size:
            raise ValueError(
                f"need tile_size >= 16 and 0 <= overlap < tile_size, "
                f"got tile_size={self.tile_size}, overlap={self.overlap}"
            )
        if self.std_tails not in ("high", "both"):
            raise ValueError(f"std_tails must be 'high' or 'both', got {self.std_tails!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.border < 0:
            raise ValueError(f"border must be >= 0, got {self.border}")


@dataclass(frozen=True)
class PickResult:
    """Picking result of one micrograph.

    Attributes
    ----------
    picks
        All candidates with ``score >= score_floor`` in the project convention
        (original pixels), sorted by decreasing score; filter with
        :func:`apply_threshold` or use :attr:`selected`.
    heatmap
        Sigmoid heatmap at heatmap resolution, ``[h, w]`` for one kind or
        ``[K, h, w]``; cropped to the micrograph.
    heatmap_scale
        Original pixels per heatmap cell ``(sy, sx)``: napari ``scale``.
    heatmap_translate
        Original-pixel position of the centre of heatmap cell ``(0, 0)``:
        napari ``translate``.
    kinds
        Kind of each heatmap channel.
    threshold
        Threshold of the configuration used (for :attr:`selected`).
    prepared_shape
        Shape of the prepared (rescaled) image the network saw.
    prepared_scale
        ``(scale_y, scale_x)``: prepared pixels per original pixel.
    """

    picks: pd.DataFrame
    heatmap: np.ndarray
    heatmap_scale: tuple[float, float]
    heatmap_translate: tuple[float, float]
    kinds: tuple[str, ...]
    threshold: float
    prepared_shape: tuple[int, int]
    prepared_scale: tuple[float, float]

    @property
    def selected(self) -> pd.DataFrame:
        """Candidates with ``score >= threshold``."""
        return apply_threshold(self.picks, self.threshold)


def apply_threshold(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Rows of ``table`` with ``score >= threshold`` (index reset).

    Greedy suppression keeps higher-scored candidates first, so thresholding
    the candidate list equals picking again at the higher threshold.
    """
    return table[table["score"].to_numpy(float) >= threshold].reset_index(drop=True)


# --------------------------------------------------------------------------
# coordinate convention heatmap <-> pixels (the one place it lives)
# --------------------------------------------------------------------------


def _cells_to_pixels(index: np.ndarray, offset: np.ndarray, stride: int) -> np.ndarray:
    """Cell index + sub-cell offset -> prepared pixel coordinate (pixel centres)."""
    return (index + offset) * stride - 0.5


def _pixels_to_cells(pixels: np.ndarray, index: np.ndarray, stride: int) -> np.ndarray:
    """Prepared pixel coordinate -> sub-cell offset relative to cell ``index``."""
    return (pixels + 0.5) / stride - index


# --------------------------------------------------------------------------
# network inference
# --------------------------------------------------------------------------


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _tile_starts(length: int, tile: int, step: int, multiple: int) -> list[int]:
    """Tile origins covering ``[0, length)``; all multiples of ``multiple``."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    last = length - tile  # a multiple of ``multiple``: both length and tile are
    if starts[-1] != last:
        starts.append(last)
    return starts


def _balanced_tile(length: int, tile: int, margin: int, multiple: int) -> int:
    """The smallest tile side (a multiple of ``multiple``, at most ``tile``) that covers
    ``length`` with as few tiles as ``tile`` does.

    A 1,062-pixel image in tiles of 1,024 with a 192-pixel overlap needs two
    tiles per axis either way; tiles of 640 instead of 1,024 make the network
    see 1.5 times the image's pixels instead of 3.7 times.
    """
    if length <= tile:
        return length
    count = math.ceil((length - margin) / (tile - margin))
    return min(tile, _round_up(math.ceil((length + (count - 1) * margin) / count), multiple))


def _ownership(starts: list[int], tile: int, stride: int) -> list[tuple[int, int]]:
    """Heatmap-cell range each tile owns: cut half-way between tile centres."""
    cells = [s // stride for s in starts]
    tile_cells = tile // stride
    ranges = []
    for i, first in enumerate(cells):
        lo = first if i == 0 else (cells[i - 1] + first + tile_cells) // 2
        hi = first + tile_cells if i == len(cells) - 1 else (first + cells[i + 1] + tile_cells) // 2
        ranges.append((lo, hi))
    return ranges


def _rotate_coordinates(y: np.ndarray, x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Where a point ``(y, x)`` of an image ``width`` wide lands after ``np.rot90(k=1)``."""
    return (width - 1) - x, y


def _unrotate_outputs(
    heat: np.ndarray, offset: np.ndarray, size: np.ndarray | None, k: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Undo ``np.rot90(k)`` of the input on the network outputs of one tile.

    ``heat [K, h', w']``, ``offset [2, h', w']`` (dx, dy), ``size [h', w']`` in
    the rotated frame. The offsets are turned into absolute pixel positions,
    moved back to the unrotated frame and turned into offsets again, so the
    result does not depend on where inside a cell the convention puts 0.
    """
    if k % 4 == 0:
        return heat, offset, size
    rows, cols = heat.shape[-2:]
    ii, jj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    px = _cells_to_pixels(jj, offset[0], stride)
    py = _cells_to_pixels(ii, offset[1], stride)
    # Point coordinates back through k inverse rotations (pixel frame of the tile).
    # Rotated frame after m rotations has shape (H_m, W_m); undoing one rotation
    # maps new (y', x') -> old (y, x) = (x', W_old - 1 - y') where W_old = H_new.
    height_px = rows * stride
    width_px = cols * stride
    for _ in range(k % 4):
        # current frame (height_px, width_px) is the rotation of a frame
        # (width_px, height_px); its width was ``height_px``.
        px, py = height_px - 1 - py, px
        height_px, width_px = width_px, height_px
    heat = np.rot90(heat, -k, axes=(-2, -1))
    px = np.rot90(px, -k)
    py = np.rot90(py, -k)
    rows0, cols0 = heat.shape[-2:]
    ii, jj = np.meshgrid(np.arange(rows0), np.arange(cols0), indexing="ij")
    offset = np.stack([_pixels_to_cells(px, jj, stride), _pixels_to_cells(py, ii, stride)])
    if size is not None:
        size = np.rot90(size, -k)
    return np.ascontiguousarray(heat), offset.astype(np.float32), size


def _pad_image(image: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad bottom/right to a multiple of ``multiple``.

    Zeros, like ``Detector``'s own ``pad_to_multiple``: 0 is the mean of a
    normalised micrograph, and a single untiled pass pads the same way.
    """
    rows, cols = image.shape
    pad = ((0, (-rows) % multiple), (0, (-cols) % multiple))
    if pad[0][1] == 0 and pad[1][1] == 0:
        return image
    return np.pad(image, pad)


def _model_stride(model: Any) -> int:
    return int(getattr(model.config, "stride", 4))


def _forward_maps(model: Any, batch: torch.Tensor, head: str | None) -> dict[str, torch.Tensor]:
    """Run the model and turn raw outputs into probability / offset / diameter tensors."""
    import torch

    out = model(batch, head=head)
    maps = {"heatmap": torch.sigmoid(out["heatmap"].float()), "offset": out["offset"].float()}
    if out.get("size") is not None and getattr(model.config, "size_head", False):
        maps["size"] = model.decode_size(out["size"]).float()[:, 0]
    return maps


def predict_maps(
    model: Any,
    prepared_image: np.ndarray,
    *,
    head: str | None = None,
    rotations: bool = False,
    tile_size: int = 1024,
    overlap: int = 192,
    batch_size: int = 1,
    device: str | torch.device = "auto",
) -> dict[str, np.ndarray]:
    """Detector outputs over a whole prepared micrograph, tile by tile.

    Parameters
    ----------
    model
        A :class:`napari_cryopick.core.model.network.Detector` (or the same
        interface). It is put in eval mode for the call (and restored after)
        and moved to ``device``.
    prepared_image
        ``[H, W]`` float32 prepared (rescaled, normalized) micrograph.
    head
        Head name (``None``: the model's default head).
    rotations
        Average the outputs over the four 90-degree rotations of the input.
    tile_size, overlap
        Tile side and overlap between neighbouring tiles in prepared pixels;
        rounded up to the network's size multiple. Each output cell comes from
        the tile in which it lies farthest from the tile edge.
    batch_size
        Tiles per forward pass.
    device
        Torch device or ``"auto"``.

    Returns
    -------
    dict
        ``"heatmap"`` ``[K, h, w]`` sigmoid scores, ``"offset"`` ``[2, h, w]``
        (dx, dy in cells), ``"diameter"`` ``[h, w]`` in prepared pixels (only
        with a size head), with ``h = ceil(H / stride)``, ``w = ceil(W / stride)``;
        float32.
    """
    import torch

    prepared_image = np.asarray(prepared_image, dtype=np.float32)
    if prepared_image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {prepared_image.shape}")
    stride = _model_stride(model)
    multiple = int(getattr(model, "size_multiple", stride))
    multiple = max(multiple, stride)
    rows, cols = prepared_image.shape
    out_rows, out_cols = -(-rows // stride), -(-cols // stride)

    tile = _round_up(max(tile_size, multiple), multiple)
    margin = _round_up(overlap, multiple) if overlap > 0 else 0
    if margin >= tile:
        raise ValueError(f"overlap {overlap} leaves no room in tiles of {tile} pixels")
    padded = _pad_image(prepared_image, multiple)
    pad_rows, pad_cols = padded.shape
    tile_rows = _balanced_tile(pad_rows, tile, margin, multiple)
    tile_cols = _balanced_tile(pad_cols, tile, margin, multiple)
    row_starts = _tile_starts(pad_rows, tile_rows, tile_rows - margin, multiple)
    col_starts = _tile_starts(pad_cols, tile_cols, tile_cols - margin, multiple)
    row_owned = _ownership(row_starts, tile_rows, stride)
    col_owned = _ownership(col_starts, tile_cols, stride)

    heat_full = offset_full = size_full = None
    from napari_cryopick.core.model import resolve_device

    torch_device = resolve_device(device)
    was_training = model.training
    model.eval()
    model.to(torch_device)
    rotation_list = (0, 1, 2, 3) if rotations else (0,)
    jobs = [
        (r, c, row_starts[r], col_starts[c])
        for r in range(len(row_starts))
        for c in range(len(col_starts))
    ]
    try:
        with torch.inference_mode():
            for first in range(0, len(jobs), batch_size):
                chunk = jobs[first : first + batch_size]
                tiles = np.stack(
                    [padded[rs : rs + tile_rows, cs : cs + tile_cols] for _, _, rs, cs in chunk]
                )
                x = torch.from_numpy(tiles)[:, None].to(torch_device)  # [B, 1, T, T]
                heat_sum = offset_sum = size_sum = None
                for k in rotation_list:
                    xk = torch.rot90(x, k, dims=(-2, -1)) if k else x
                    maps = _forward_maps(model, xk, head)
                    heat = maps["heatmap"].cpu().numpy()  # [B, K, t, t]
                    offset = maps["offset"].cpu().numpy()  # [B, 2, t, t]
                    size = maps["size"].cpu().numpy() if "size" in maps else None  # [B, t, t]
                    if k:
                        parts = [
                            _unrotate_outputs(
                                heat[b], offset[b], None if size is None else size[b], k, stride
                            )
                            for b in range(heat.shape[0])
                        ]
                        heat = np.stack([p[0] for p in parts])
                        offset = np.stack([p[1] for p in parts])
                        size = None if size is None else np.stack([p[2] for p in parts])
                    heat_sum = heat if heat_sum is None else heat_sum + heat
                    offset_sum = offset if offset_sum is None else offset_sum + offset
                    if size is not None:
                        size_sum = size if size_sum is None else size_sum + size
                n_rot = len(rotation_list)
                if heat_full is None:
                    kinds = heat_sum.shape[1]
                    heat_full = np.zeros(
                        (kinds, pad_rows // stride, pad_cols // stride), np.float32
                    )
                    offset_full = np.zeros((2, pad_rows // stride, pad_cols // stride), np.float32)
                    if size_sum is not None:
                        size_full = np.zeros((pad_rows // stride, pad_cols // stride), np.float32)
                for b, (r, c, rs, cs) in enumerate(chunk):
                    (r0, r1), (c0, c1) = row_owned[r], col_owned[c]
                    tr0, tc0 = rs // stride, cs // stride
                    src = (slice(r0 - tr0, r1 - tr0), slice(c0 - tc0, c1 - tc0))
                    heat_full[:, r0:r1, c0:c1] = heat_sum[b][(slice(None), *src)] / n_rot
                    offset_full[:, r0:r1, c0:c1] = offset_sum[b][(slice(None), *src)] / n_rot
                    if size_full is not None:
                        size_full[r0:r1, c0:c1] = size_sum[b][src] / n_rot
    finally:
        model.train(was_training)
    result = {
        "heatmap": np.ascontiguousarray(heat_full[:, :out_rows, :out_cols]),
        "offset": np.ascontiguousarray(offset_full[:, :out_rows, :out_cols]),
    }
    if size_full is not None:
        result["diameter"] = np.ascontiguousarray(size_full[:out_rows, :out_cols])
    return result


# --------------------------------------------------------------------------
# peaks
# --------------------------------------------------------------------------


def find_peaks(
    heatmap_2d: np.ndarray,
    *,
    min_distance_cells: float,
    threshold: float,
    top_k: int | None = None,
    ridge: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima of a heatmap, at least ``min_distance_cells`` apart.

    A cell is a candidate when it is the maximum of its
    ``(2r + 1) x (2r + 1)`` neighbourhood (``r = floor(min_distance_cells)``,
    at least 1: CenterNet's max-pool NMS) and ``>= threshold``; candidates
    are then suppressed greedily in decreasing score (plateaus, and the
    corners of the square window) so that no two are closer than
    ``min_distance_cells`` (Euclidean).

    Parameters
    ----------
    heatmap_2d
        ``[h, w]`` scores.
    min_distance_cells
        Minimum distance between peaks in heatmap cells.
    threshold
        Minimum score.
    top_k
        Keep at most this many (highest scores).
    ridge
        Every cell ``>= threshold`` is a candidate (no local-maximum test);
        the greedy suppression alone spaces them ``min_distance_cells`` apart,
        best first, so a ridge yields points all along its crest.

    Returns
    -------
    rows, cols, scores
        Peak cells sorted by decreasing score (ties by row, then column).
    """
    heatmap_2d = np.asarray(heatmap_2d, dtype=np.float32)
    radius = max(1, math.floor(min_distance_cells))
    local_max = ndimage.maximum_filter(
        heatmap_2d, size=2 * radius + 1, mode="constant", cval=-np.inf
    )
    candidate = heatmap_2d >= threshold
    if not ridge:
        candidate &= heatmap_2d >= local_max
    rows, cols = np.nonzero(candidate)
    scores = heatmap_2d[rows, cols]
    order = np.lexsort((cols, rows, -scores))
    rows, cols, scores = rows[order], cols[order], scores[order]
    if rows.size > 1 and min_distance_cells > 0:
        keep = _greedy_suppression(rows, cols, float(min_distance_cells))
        rows, cols, scores = rows[keep], cols[keep], scores[keep]
    if top_k is not None:
        rows, cols, scores = rows[:top_k], cols[:top_k], scores[:top_k]
    return rows.astype(np.int64), cols.astype(np.int64), scores.astype(np.float32)


def _greedy_suppression(rows: np.ndarray, cols: np.ndarray, min_distance: float) -> np.ndarray:
    """Indices kept by greedy suppression of points (sorted by decreasing score)."""
    from scipy.spatial import cKDTree

    points = np.column_stack([rows, cols]).astype(np.float64)
    tree = cKDTree(points)
    # Pairs strictly closer than min_distance (tiny epsilon: "at least" apart).
    pairs = tree.query_pairs(min_distance - 1e-9, output_type="ndarray")
    if pairs.size == 0:
        return np.arange(len(points))
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    suppressed = np.zeros(len(points), dtype=bool)
    for index in range(len(points)):
        if suppressed[index]:
            continue
        for other in neighbours.get(index, ()):
            if other > index:
                suppressed[other] = True
    return np.flatnonzero(~suppressed)


def decode_picks(
    maps: dict[str, np.ndarray],
    kind_index: int,
    *,
    min_distance_cells: float,
    threshold: float,
    top_k: int | None = None,
    stride: int = 4,
    kind: str = "particle",
    diameter_px: float | None = None,
    micrograph: str = "",
    ridge: bool = False,
) -> pd.DataFrame:
    """Picks of one heatmap channel, in prepared pixels.

    Parameters
    ----------
    maps
        Output of :func:`predict_maps`.
    kind_index
        Heatmap channel.
    min_distance_cells, threshold, top_k
        See :func:`find_peaks`.
    stride
        Prepared pixels per heatmap cell.
    kind
        Kind written in the table.
    diameter_px
        Diameter (prepared pixels) used when ``maps`` has no ``"diameter"``.
    micrograph
        Micrograph name written in the table.
    ridge
        See :func:`find_peaks`.

    Returns
    -------
    pandas.DataFrame
        Project columns; ``x = (col + dx) * stride - 0.5``, same for ``y``.
    """
    heat = maps["heatmap"]
    heat = heat[kind_index] if heat.ndim == 3 else heat
    rows, cols, scores = find_peaks(
        heat, min_distance_cells=min_distance_cells, threshold=threshold, top_k=top_k, ridge=ridge
    )
    offset = maps["offset"]
    x = _cells_to_pixels(cols.astype(np.float64), offset[0][rows, cols].astype(np.float64), stride)
    y = _cells_to_pixels(rows.astype(np.float64), offset[1][rows, cols].astype(np.float64), stride)
    if "diameter" in maps:
        diameter: Any = maps["diameter"][rows, cols].astype(np.float64)
    else:
        diameter = np.nan if diameter_px is None else float(diameter_px)
    return make_picks(
        x, y, diameter=diameter, score=scores.astype(np.float64), micrograph=micrograph, kind=kind
    )


# --------------------------------------------------------------------------
# DeepEM local-std rejection
# --------------------------------------------------------------------------


def local_std_filter(
    image: np.ndarray,
    table: pd.DataFrame,
    window_px: float,
    z_cut: float = 3.5,
    *,
    tails: Literal["high", "both"] = "high",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """DeepEM-style rejection of candidates on carbon or ice.

    The standard deviation of the image in a square window of ``window_px``
    around each candidate is compared with that of the other candidates by a
    robust z-score of its logarithm (median and 1.4826 x MAD; the log makes
    the right-skewed std distribution symmetric). Carbon edges, ice crystals
    and aggregates are far more textured than particles in vitreous ice.

    Parameters
    ----------
    image
        ``[H, W]`` image in the pixels of ``table``.
    table
        Picks (``x``, ``y`` in the pixels of ``image``).
    window_px
        Window side in pixels (about the particle diameter).
    z_cut
        Robust z-score beyond which a candidate is rejected.
    tails
        ``"high"``: reject too-textured candidates only; ``"both"``: also
        too-flat ones.
    reference
        Boolean mask over ``table`` rows whose statistics define "normal"
        (e.g. the candidates above the pick threshold); default all rows.
        Fewer than 8 reference rows: nothing is rejected.

    Returns
    -------
    numpy.ndarray
        Boolean mask, ``True`` for candidates to keep.
    """
    n = len(table)
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    stds = _local_std_at(image, table["x"].to_numpy(float), table["y"].to_numpy(float), window_px)
    log_std = np.log(np.maximum(stds, 1e-12))
    ref = log_std if reference is None else log_std[np.asarray(reference, dtype=bool)]
    if ref.size < 8:
        return keep
    median = float(np.median(ref))
    mad = float(np.median(np.abs(ref - median))) * 1.4826
    if mad <= 1e-12:
        return keep
    z = (log_std - median) / mad
    keep = z <= z_cut
    if tails == "both":
        keep &= z >= -z_cut
    return keep


def _local_std_at(image: np.ndarray, x: np.ndarray, y: np.ndarray, window_px: float) -> np.ndarray:
    """Standard deviation of ``image`` in a window of side ``window_px`` at each (x, y)."""
    rows, cols = image.shape
    half = max(1, round(window_px / 2))
    out = np.empty(len(x), dtype=np.float64)
    for i, (cx, cy) in enumerate(zip(np.rint(x).astype(int), np.rint(y).astype(int), strict=True)):
        r0, r1 = max(0, cy - half), min(rows, cy + half + 1)
        c0, c1 = max(0, cx - half), min(cols, cx + half + 1)
        patch = image[r0:r1, c0:c1]
        out[i] = float(patch.std(dtype=np.float64)) if patch.size else 0.0
    return out


# --------------------------------------------------------------------------
# one micrograph
# --------------------------------------------------------------------------


def model_kinds(model: Any) -> tuple[str, ...]:
    """Heatmap kinds of a detector (``("particle",)`` for a model that names none)."""
    return tuple(getattr(model.config, "kinds", ("particle",))) or ("particle",)


#: The least :func:`auto_top_k` gives: the fixed cap of earlier versions.
MIN_TOP_K = 2000


def auto_top_k(shape: tuple[int, ...], diameter_px: float) -> int:
    """The default cap of candidates per kind: 2 x area / ``diameter_px``², about 1.7
    times the particles a hexagonal close packing fits on a micrograph of ``shape``
    (area / (0.866 diameter²)), at least :data:`MIN_TOP_K`."""
    area = float(np.prod(shape[-2:]))
    return max(MIN_TOP_K, math.ceil(2.0 * area / float(diameter_px) ** 2))


def pick_micrograph(
    model: Any,
    image: np.ndarray,
    *,
    diameter_px: float,
    config: PickConfig | None = None,
    micrograph_name: str = "",
    border_diameter_px: float | None = None,
) -> PickResult:
    """Pick one micrograph.

    Parameters
    ----------
    model
        Detector (see :func:`predict_maps`).
    image
        ``[H, W]`` original micrograph.
    diameter_px
        Particle diameter in original pixels (sets the rescaling).
    config
        Picking options (default :class:`PickConfig`).
    micrograph_name
        Written in the ``micrograph`` column.
    border_diameter_px
        The particle diameter the border margin (``config.border``) is a fraction
        of, in original pixels (default: ``diameter_px``). Zero-shot picking at a
        factor of the given diameter rescales by ``diameter_px`` but keeps the
        particles' border at the given diameter: a review found a factor of 1.25
        dropping whole particles near the edge and 0.8 keeping ones the edge cuts.

    Returns
    -------
    PickResult
        All candidates down to ``config.score_floor`` in original pixels, the
        heatmap and its placement over the micrograph.
    """
    from napari_cryopick.core.model.inputs import prepare_micrograph, to_original

    config = config or PickConfig()
    if not diameter_px or not np.isfinite(diameter_px) or diameter_px <= 0:
        raise ValueError(f"diameter_px must be a positive number, got {diameter_px!r}")
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D micrograph, got shape {image.shape}")
    if config.top_k is None:
        config = replace(config, top_k=auto_top_k(image.shape, diameter_px))
    from napari_cryopick.core.tiled_picking import needs_tiles, pick_in_tiles

    if needs_tiles(image.shape, diameter_px, model.config):  # bounded memory (issue 14)
        return pick_in_tiles(
            pick_micrograph,
            model,
            image,
            diameter_px=diameter_px,
            config=config,
            micrograph_name=micrograph_name,
            border_diameter_px=border_diameter_px,
        )
    prepared = prepare_micrograph(image, diameter_px, model.config)
    prep_image = np.asarray(prepared.image, dtype=np.float32)
    scale_y, scale_x = float(prepared.scale_y), float(prepared.scale_x)
    stride = _model_stride(model)
    maps = predict_maps(
        model,
        prep_image,
        head=config.head,
        rotations=config.rotations,
        tile_size=config.tile_size,
        overlap=config.overlap,
        batch_size=config.batch_size,
        device=config.device,
    )
    prep_diameter = diameter_px * math.sqrt(scale_x * scale_y)
    kinds = model_kinds(model)
    tables = []
    for index, kind in enumerate(kinds):
        if kind in NON_PICK_KINDS or index >= maps["heatmap"].shape[0]:
            continue
        if config.kinds is not None and kind not in config.kinds:
            continue
        table = decode_picks(
            maps,
            index,
            min_distance_cells=config.min_distance * prep_diameter / stride,
            threshold=config.score_floor,
            top_k=config.top_k,
            stride=stride,
            kind=kind,
            diameter_px=prep_diameter,
            micrograph=micrograph_name,
            ridge=config.ridge,
        )
        if (
            len(table) >= config.top_k
            and config.threshold > config.score_floor  # (every candidate asked: capped)
            and float(table["score"].min()) >= config.threshold
        ):
            # (not while training calibrates its threshold on every candidate: a trial's
            # fiber training was told to "raise --max-picks", an option of cryopick pick)
            logging.getLogger(__name__).warning(
                "%s: the cap of %d %s picks was reached; picks with lower scores above the "
                "threshold %.2f were dropped (raise the cap, cryopick pick --max-picks or "
                "PickConfig.top_k, or the threshold)",
                micrograph_name or "micrograph",
                config.top_k,
                kind,
                config.threshold,
            )
        if config.reject_std and len(table):
            keep = local_std_filter(
                prep_image,
                table,
                window_px=config.std_window * prep_diameter,
                z_cut=config.std_z_cut,
                tails=config.std_tails,
                reference=_std_reference(table, config.threshold),
            )
            table = table[keep].reset_index(drop=True)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True) if tables else empty_picks()
    table = to_original(table, prepared)
    if len(table):
        # Keep centres on the micrograph (peaks near the padded border), in its own
        # pixels: clipped on an enlarged prepared grid, a pick could lie past the last
        # pixel (99.75 of a 100 px micrograph at scale 4; a review), which training
        # then refuses as outside
        rows, cols = image.shape
        table["x"] = table["x"].clip(0.0, cols - 1.0)
        table["y"] = table["y"].clip(0.0, rows - 1.0)
    if config.border > 0 and len(table):
        margin = config.border * (border_diameter_px or diameter_px)
        table = table[_inside_border(table, image.shape, margin)]
    table = table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    table["micrograph"] = micrograph_name
    table = table[list(PICK_COLUMNS)]
    heatmap = maps["heatmap"]
    if heatmap.shape[0] == 1:
        heatmap = heatmap[0]
    heatmap_scale = (stride / scale_y, stride / scale_x)
    return PickResult(
        picks=table,
        heatmap=heatmap,
        heatmap_scale=heatmap_scale,
        # Cell (0, 0) covers prepared pixels 0..stride-1: centre (stride - 1) / 2.
        heatmap_translate=(
            ((stride - 1) / 2) / scale_y,
            ((stride - 1) / 2) / scale_x,
        ),
        kinds=kinds,
        threshold=config.threshold,
        prepared_shape=tuple(prep_image.shape),
        prepared_scale=(scale_y, scale_x),
    )


def _edge_distance(table: pd.DataFrame, shape: tuple[float, ...]) -> np.ndarray:
    """Each row's distance in pixels from its centre to the nearest image edge (centres 0..n-1)."""
    rows, cols = shape[:2]
    x = table["x"].to_numpy(float)
    y = table["y"].to_numpy(float)
    return np.minimum.reduce([x, cols - 1 - x, y, rows - 1 - y])


def _inside_border(table: pd.DataFrame, shape: tuple[int, ...], margin: float) -> np.ndarray:
    """Rows whose centre lies at least ``margin`` pixels inside the image (pixel centres 0..n-1)."""
    return _edge_distance(table, shape) >= margin


#: Steps of the border margin learned from clicks (fractions of the diameter).
BORDER_STEP = 0.05

#: Diameters the margin learned from vesicle clicks leaves below the closest one: the
#: centres of predicted circles lie a median 0.08 diameters from the labels' (a vesicle
#: trial: 15 px of 192), so clicked vesicles by the edge fell just outside the margin.
VESICLE_BORDER_SLACK = 0.1


def border_from_clicks(
    clicks: Sequence[tuple[Any, ...]],
    diameter_px: float | None = None,
    *,
    default: float | None = None,
) -> float | None:
    """The border margin the user's own clicks allow (a fraction of the diameter).

    Picking rejects candidates closer than ``PickConfig.border`` (half a
    diameter) to the edge: most pickers skip particles the edge cuts. Some
    users (and labelling conventions) do pick them. A user who clicked a
    particle at 0.32 diameters from the edge has shown that such particles
    count, so a model trained on those clicks keeps candidates from that
    distance on: the smallest edge distance of a clicked particle (to 0.01
    diameters), rounded down to :data:`BORDER_STEP`, never above ``default``
    (``PickConfig``'s 0.5). Clicks that all keep half a diameter from the
    edge change nothing. Particles count (rows of kind ``"particle"``, or every row of
    a table without a ``kind`` column), and vesicles where no particle was clicked (a
    vesicle trial's circle clicked 0.38 diameters from the edge was picked at the
    default margin with every vesicle the edge cuts lost, since 2026-12-06; less
    :data:`VESICLE_BORDER_SLACK`, since session 58), measured
    in the micrograph's diameter, the one picking applies the margin in; the margin
    then applies to every kind the model picks.

    Parameters
    ----------
    clicks
        ``(picks, shape)`` or ``(picks, shape, diameter_px)`` per micrograph:
        pick table (``x``, ``y``, optionally ``kind``) in the pixels of the
        micrograph of ``shape`` (original pixels: the margin is applied there,
        centres 0 .. n-1 as :func:`pick_micrograph`), and that micrograph's
        particle diameter.
    diameter_px
        Particle diameter for items that carry none.
    default
        The margin without such clicks (None: ``PickConfig().border``).

    Returns
    -------
    float or None
        The margin; None when no particle was clicked.
    """
    default = PickConfig().border if default is None else float(default)
    nearest = {"particle": math.inf, "vesicle": math.inf}
    for item in clicks:
        table, shape = item[0], item[1]
        diameter = float(item[2]) if len(item) > 2 else diameter_px
        if diameter is None or not diameter > 0:
            raise ValueError(f"diameter must be > 0 px, got {diameter!r}")
        kinds = table["kind"] if "kind" in table.columns else pd.Series("particle", table.index)
        for kind in nearest:  # (NaN kinds train nothing either)
            rows = table[(kinds == kind).to_numpy()]
            if len(rows):
                distance = float(np.min(_edge_distance(rows, shape))) / float(diameter)
                nearest[kind] = min(nearest[kind], distance)
    # vesicles only where no particle was clicked: a vesicle drawn mostly off the edge
    # must not move a particle model's margin (a review)
    closest = nearest["particle"]
    if not math.isfinite(closest):
        # (less what a predicted circle's centre lies from the label's: a trial's two
        # clicked vesicles by the edge were not picked, their circles 11-18 px nearer it)
        closest = nearest["vesicle"]
        if closest < default:  # (vesicles all half a diameter inside change nothing)
            closest -= VESICLE_BORDER_SLACK
    if not math.isfinite(closest):
        return None
    # to 0.01 diameters first (0.2499 stays 0.25), then down to the step
    fraction = round(max(0.0, closest), 2)
    stepped = math.floor(fraction / BORDER_STEP + 1e-9) * BORDER_STEP
    return round(min(default, stepped), 4)


def _std_reference(table: pd.DataFrame, threshold: float) -> np.ndarray | None:
    """Rows that define "normal" local std: candidates above the threshold if enough."""
    above = table["score"].to_numpy(float) >= threshold
    return above if above.sum() >= 8 else None


# --------------------------------------------------------------------------
# threshold selection
# --------------------------------------------------------------------------


class ThresholdChoice(NamedTuple):
    """What :func:`choose_threshold` found (the first four: ``best_threshold``'s)."""

    threshold: float
    f_beta: float
    precision: float
    recall: float
    click_share: float = float("nan")


def choose_threshold(
    model: Any,
    images: Sequence[np.ndarray],
    truths: Sequence[pd.DataFrame],
    *,
    diameter_px: float | Sequence[float],
    config: PickConfig | None = None,
    names: Sequence[str] | None = None,
    beta: float = 2.0,
    deadline: float | None = None,
    share_at: float = 0.15,
    **evaluate_options: Any,
) -> ThresholdChoice:
    """DeepEM: the threshold with the best F-beta score on labelled micrographs.

    Picks every micrograph down to ``config.score_floor`` and lets
    :func:`napari_cryopick.core.evaluate.best_threshold` match the candidates with
    the truth and scan the threshold. With a ``deadline``, the micrographs
    after the first are picked only while the next one, taking as long as the
    last, ends by then.

    Parameters
    ----------
    model
        Detector.
    images
        Original micrographs.
    truths
        True picks per micrograph (project convention).
    diameter_px
        Particle diameter in original pixels, or one per micrograph (a data set of
        several pixel sizes: each micrograph is picked at its own, as it was trained).
    config
        Picking options.
    names
        Micrograph names (default ``"0"``, ``"1"``, ...); they join candidates
        and truth.
    beta
        2 (F2: recall weighs more, DeepEM) or 1 (F1).
    deadline
        A :func:`time.perf_counter` value (a training's time budget ends
        then); None: every micrograph. ``images`` is read one item at a time,
        so a lazy sequence reads only the micrographs picked.
    share_at
        The score above which ``click_share`` counts the candidates (the
        default pick threshold).
    **evaluate_options
        Passed to ``best_threshold`` (e.g. the matching distance).

    Returns
    -------
    ThresholdChoice
        ``best_threshold``'s threshold and scores, and ``click_share``: the
        share of the candidates at or above ``share_at`` that match a truth
        pick (how much of what the model finds the user labelled: sparse
        clicks give a small share).
    """
    from napari_cryopick.core.evaluate import best_threshold, match_picks

    if len(images) != len(truths):
        raise ValueError(f"{len(images)} micrographs but {len(truths)} truth tables")
    names = [str(i) for i in range(len(images))] if names is None else list(names)
    diameters = (
        [float(diameter_px)] * len(images)
        if np.ndim(diameter_px) == 0
        else [float(d) for d in diameter_px]  # type: ignore[union-attr]
    )
    if len(diameters) != len(images):
        raise ValueError(f"{len(images)} micrographs but {len(diameters)} diameters")
    candidates, labelled = [], []
    last = 0.0  # seconds the last micrograph took
    for index, (truth, name) in enumerate(zip(truths, names, strict=True)):
        began = time.perf_counter()
        if candidates and deadline is not None and began + last > deadline:
            break
        result = pick_micrograph(
            model,
            images[index],
            diameter_px=diameters[index],
            config=config,
            micrograph_name=name,
        )
        last = time.perf_counter() - began
        candidates.append(result.picks)
        truth = truth.copy()
        truth["micrograph"] = name
        labelled.append(truth)
    pred = pd.concat(candidates, ignore_index=True)
    truth_all = pd.concat(labelled, ignore_index=True)
    # one matching serves both: greedy by descending score, the candidates at or above
    # share_at are matched as they would be on their own
    match = match_picks(pred, truth_all, **evaluate_options)
    found = match.scores >= share_at
    share = float(np.mean(match.matched[found])) if found.any() else float("nan")
    return ThresholdChoice(*best_threshold(match, beta=beta), click_share=share)
