"""napari writers (npe2 single-layer writers): save a points layer as picks.

Each writer has the npe2 signature ``(path, data, meta) -> list[str]``: the
layer's points and features become a pick table via
:func:`napari_cryopick.layers.points.points_to_picks` and are written by
:func:`napari_cryopick.io.pickfiles.write_picks`. The micrograph name comes
from ``meta["metadata"]["micrograph"]``, else the layer name. Points without a
diameter feature take their displayed size as diameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .io.pickfiles import write_picks
from .layers.points import points_to_picks


def _table(data: Any, meta: dict) -> pd.DataFrame:
    metadata = meta.get("metadata") or {}
    micrograph = metadata.get("micrograph") or meta.get("name") or ""
    table = points_to_picks(
        data,
        meta.get("features"),
        micrograph=str(micrograph),
        default_diameter=metadata.get("default_diameter"),
    )
    size = meta.get("size")
    if size is not None and len(table):
        size = np.broadcast_to(
            np.asarray(size, dtype=np.float64).reshape(-1)[: len(table)], len(table)
        )
        missing = ~np.isfinite(table["diameter"].to_numpy(np.float64))
        table.loc[missing, "diameter"] = size[missing]
    shown = meta.get("shown")
    if shown is not None and len(np.asarray(shown)) == len(table):
        # a picks layer holds every candidate; the ones below the threshold are hidden
        table = table[np.asarray(shown, dtype=bool)].reset_index(drop=True)
    return table


def _write(path: str, data: Any, meta: dict, format: str) -> list[str]:
    return [str(write_picks(_table(data, meta), path, format))]


def write_star(path: str, data: Any, meta: dict) -> list[str]:
    """Save a points layer as a RELION STAR file."""
    return _write(path, data, meta, "star")


def write_box(path: str, data: Any, meta: dict) -> list[str]:
    """Save a points layer as an EMAN BOX file (box size = diameter)."""
    return _write(path, data, meta, "box")


def write_cbox(path: str, data: Any, meta: dict) -> list[str]:
    """Save a points layer as a crYOLO CBOX file (box size = diameter)."""
    return _write(path, data, meta, "cbox")


def write_topaz(path: str, data: Any, meta: dict) -> list[str]:
    """Save a points layer as a Topaz coordinate file."""
    return _write(path, data, meta, "topaz")


def write_csv(path: str, data: Any, meta: dict) -> list[str]:
    """Save a points layer as a napari-cryopick CSV file."""
    return _write(path, data, meta, "csv")
