"""napari writers (npe2 single-layer writers): save a points layer as picks.

Each writer has the npe2 signature ``(path, data, meta) -> list[str]``: the
layer's points and features become a pick table via
:func:`napari_cryopick.layers.points.points_to_picks` and are written by
:func:`napari_cryopick.io.pickfiles.write_picks`. The micrograph name comes
from ``meta["metadata"]["micrograph"]``, else the layer name. Points without a
diameter feature take their displayed size as diameter.

Shapes layers of vesicle circles or fiber paths (Annotate's, the Pick
widget's results) are saved as STAR or CSV (:func:`write_shapes_star`,
:func:`write_shapes_csv`): a circle is a vesicle (centre, diameter, score);
a path a fiber, written as the Pick widget's export writes fibers (STAR:
RELION helical start-end pairs, ``cryopickFiberID`` joining the pieces of
one path; CSV: its vertices with one ``tube_id`` each). They reopen as
circles and paths. A vesicle trial's
drawn circles could leave napari only as napari's own shapes CSV, which no
picker reads.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .io.pickfiles import write_picks
from .layers.points import points_to_picks


def _say(message: str) -> None:
    """A writer's warning: in napari, a notification (napari's Save dialog records the
    warnings a writer gives and shows them only when nothing was saved: a re-trial saw
    none of these); without a viewer, a ``UserWarning``."""
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # napari without a viewer
        viewer = None
    if viewer is None:
        warnings.warn(message, UserWarning, stacklevel=3)
        return
    from napari.utils.notifications import show_warning

    show_warning(message)


def _micrograph(meta: dict) -> tuple[str, float | None]:
    """The micrograph a layer's picks belong to and its diameter (None: unknown).

    Its metadata's, else the open micrograph the layer name names (exactly, or
    ``"<micrograph> ..."``), else the layer name, said (a trial: a hand-made layer
    ``"062_10028 my picks"`` was written as that micrograph, ``"Points"`` too).
    """
    from ._reader import open_micrograph_layers, open_micrograph_named
    from ._widgets._common import micrograph_diameter

    metadata = meta.get("metadata") or {}
    layer_name = str(meta.get("name") or "")
    micrograph = str(metadata.get("micrograph") or "")
    open_layers = open_micrograph_layers()
    if not micrograph:
        micrograph = open_micrograph_named(layer_name, open_layers) or ""
        if not micrograph and open_layers:
            _say(
                f"{layer_name!r} names no open micrograph: the file names its micrograph "
                f"{layer_name!r}; name the layer after its micrograph ('<micrograph> ...') "
                "to save it as that micrograph's picks"
            )
        micrograph = micrograph or layer_name
    layer = open_layers.get(micrograph)
    return micrograph, micrograph_diameter(layer) if layer is not None else None


def _table(data: Any, meta: dict) -> pd.DataFrame:
    metadata = meta.get("metadata") or {}
    micrograph, known = _micrograph(meta)
    table = points_to_picks(
        data,
        meta.get("features"),
        micrograph=micrograph,
        # the micrograph's diameter now (Annotate's), before the one the layer was opened
        # with (a re-trial changed it after File > Open and the file kept the old one)
        default_diameter=known or metadata.get("default_diameter"),
    )
    diameters = table["diameter"].to_numpy(np.float64)
    known_sizes = diameters[np.isfinite(diameters) & (diameters > 0)]
    if len(known_sizes) and len(known_sizes) < len(table):
        # points added by hand among picks of a size are of that size (a round-trip
        # trial's two added picks were saved without one, and cryopick evaluate refused
        # the file)
        table.loc[~np.isfinite(diameters), "diameter"] = float(np.median(known_sizes))
    size = meta.get("size")
    # the displayed size is a diameter only for a layer the user made (cryopick's
    # layers show picks without one at a fallback size: a trial's RELION 3.1 STAR picks
    # were written back with a made-up 32 px)
    own_layer = "default_diameter" in metadata
    missing = ~np.isfinite(table["diameter"].to_numpy(np.float64))
    if size is not None and not own_layer and missing.any():
        size = np.broadcast_to(
            np.asarray(size, dtype=np.float64).reshape(-1)[: len(table)], len(table)
        )
        table.loc[missing, "diameter"] = size[missing]
        sizes = ", ".join(f"{value:g}" for value in np.unique(size[missing])[:3])
        _say(
            f"{meta.get('name')!r}: {int(missing.sum())} point(s) without a diameter: "
            f"wrote their displayed size ({sizes} px) as their diameter; set the point size "
            "to the particle diameter, or Annotate's Diameter for the micrograph, first"
        )
    shown = meta.get("shown")
    if shown is not None and len(np.asarray(shown)) == len(table):
        # a picks layer holds every candidate; the ones below the threshold are hidden
        table = table[np.asarray(shown, dtype=bool)].reset_index(drop=True)
    return table


def _note_tiff_rows(table: pd.DataFrame, format: str) -> None:
    """Warn when a STAR, BOX or CBOX file is saved for an open TIFF (BOX/CBOX: or JPEG)
    micrograph: written as napari shows it (y from the first row), while RELION, crYOLO,
    EMAN2 and napari-boxmanager count its y from the last row (a trial: unsaid here,
    though the Pick widget's export and ``cryopick pick`` say it)."""
    from ._reader import open_micrograph_paths
    from .io.micrographs import is_tiff
    from .io.pickfiles import TIFF_Y_FROM_LAST_ROW_FORMATS, match_name, y_from_last_row

    if format not in TIFF_Y_FROM_LAST_ROW_FORMATS or not len(table):
        return
    open_paths = open_micrograph_paths()
    name = match_name(str(table["micrograph"].iloc[0]), open_paths)
    path = open_paths.get(name) if name is not None else None
    if not y_from_last_row(format, path):
        return
    readers = "RELION reads" if format == "star" else "crYOLO, EMAN2 and napari-boxmanager read"
    _say(
        f"{name} is a {'TIFF' if is_tiff(path) else 'JPEG'} micrograph: the "
        f"{format.upper()} file counts y from the image's first row, as napari shows it; "
        f"{readers} such images bottom row first: for them, export from the Pick widget "
        "with 'TIFF y from the last row' ticked (or 'cryopick pick --flip-tiff-y')"
    )


def _note_box_name(path: str, table: pd.DataFrame, format: str) -> None:
    """Warn when a BOX or CBOX file's name does not name its micrograph: those files
    hold no micrograph name, readers take it from the file name (a trial saved
    ``061_10028 picks`` as ``061_10028_box_rt.box``, read back as another micrograph;
    napari's dialog proposes the layer name)."""
    from pathlib import Path

    from .io.pickfiles import match_name

    names = sorted(set(table["micrograph"].astype(str)) - {""})
    stem = Path(path).stem
    if len(names) == 1 and match_name(stem, names) is None:
        _say(
            f"{Path(path).name}: {format.upper()} files hold no micrograph name, readers "
            f"take it from the file name: this one reads back as micrograph {stem!r}, not "
            f"{names[0]!r}; save it as {names[0]}.{format} (or {names[0]}_<anything>."
            f"{format}) to keep them together"
        )


def _write(path: str, data: Any, meta: dict, format: str) -> list[str]:
    table = _table(data, meta)
    _note_tiff_rows(table, format)
    options = {}
    if format in ("box", "cbox"):
        from .workflows.pick import one_box_size

        box = one_box_size(table)  # one whole-pixel box, as the export and cryopick pick
        if box is not None:
            options["box_size"] = box
        _note_box_name(path, table, format)
        if box is None and len(table):
            from .io.formats import PickFileError

            raise PickFileError(
                f"{path}: box size unknown: the picks have no diameter; set Annotate's "
                f"Diameter for {table['micrograph'].iloc[0]} (or the points' diameter) and "
                "save again, or save as STAR, Topaz or CSV, which need none"
            )
    return [str(write_picks(table, path, format, **options))]


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


def _shapes_table(data: Any, meta: dict) -> pd.DataFrame:
    """A shapes layer of circles (vesicles) or paths (fibers) as a pick table."""
    from .core.fibers import paths_to_picks
    from .layers.results import shapes_to_paths, shapes_to_vesicles

    metadata = meta.get("metadata") or {}
    micrograph = str(metadata.get("micrograph") or meta.get("name") or "")
    types = set(np.atleast_1d(meta.get("shape_type") or []))
    features = meta.get("features")
    scores = None
    if features is not None and "score" in getattr(features, "columns", ()):
        scores = np.asarray(features["score"], dtype=float)
        scores = scores if len(scores) == len(data) else None
    if not len(data):
        from .core.pick_table import empty_picks

        return empty_picks()
    if types == {"ellipse"}:
        return shapes_to_vesicles(data, micrograph=micrograph, scores=scores)
    if types <= {"path", "line"}:
        width = metadata.get("diameter")  # the fiber width (Annotate's Diameter)
        table = paths_to_picks(
            shapes_to_paths(data),
            micrograph=micrograph,
            diameter=float(width) if width else None,
        )
        if scores is not None and len(table):
            table["score"] = scores[table["tube_id"].to_numpy() - 1]
        return table
    raise ValueError(
        f"{meta.get('name', 'the layer')}: pick files hold vesicle circles (ellipses) or "
        f"fiber paths, not {', '.join(sorted(types))} shapes"
    )


def write_shapes_star(path: str, data: Any, meta: dict) -> list[str]:
    """Save vesicle circles or fiber paths (a shapes layer) as a RELION STAR file."""
    table = _shapes_table(data, meta)
    _note_tiff_rows(table, "star")
    if len(table) and (table["kind"] == "fiber").all():
        from .io.filaments import write_fiber_table

        # named: it reopens on its micrograph; the width kept (a re-trial reopened without)
        name = str(table["micrograph"].iloc[0])
        return [str(write_fiber_table(table, path, "star", micrograph_names=bool(name)))]
    return [str(write_picks(table, path, "star"))]


def write_shapes_csv(path: str, data: Any, meta: dict) -> list[str]:
    """Save vesicle circles or fiber paths (a shapes layer) as a napari-cryopick CSV file."""
    return [str(write_picks(_shapes_table(data, meta), path, "csv"))]
