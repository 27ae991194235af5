"""crYOLO ``.cbox`` files.

Since crYOLO 1.8 a CBOX file is a STAR file: a ``data_global`` block with
``_cbox_format_version``, then ``data_cryolo`` with the loop columns

``_CoordinateX _CoordinateY _CoordinateZ _Width _Height _Depth _EstWidth
_EstHeight _Confidence _NumBoxes _Angle`` (and ``_filamentid`` for filaments).

``_CoordinateX/Y`` is the box **corner** (``centre - width / 2``), as in EMAN
box files; ``_Width``/``_Height`` the box size; ``_EstWidth``/``_EstHeight``
crYOLO's estimate of the particle size (read as the diameter, their mean;
the box width when absent); ``_Confidence`` the score. Missing values are
written ``<NA>``, as crYOLO does, except the confidence of a pick without a score
(added by hand) among scored ones: 1, the highest (napari-boxmanager drops the
confidence column of a file holding one ``<NA>`` confidence); it reads back as a
score of 1. ``_filamentid`` is 0-based in crYOLO and
becomes ``tube_id = filamentid + 1`` (kind ``fiber``).

Older crYOLO (< 1.8) wrote whitespace columns ``x y w h confidence est_w
est_h``; those files are read too.

:func:`write` boxes each pick at ``box_size`` or its diameter;
:func:`keep_rows` copies a file with some picks dropped and every kept row as
it was (``cryopick filter``: the box size and corners stay the file's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    SCORE_DECIMALS,
    check_readable,
    drop_rows,
    file_error,
    format_number,
    numeric_column,
    read_star_blocks,
    read_text,
    star_block,
    star_keep_rows,
    star_pairs,
    text_lines,
    tube_id_column,
)
from .box import box_sizes

NAME = "cbox"
SUFFIXES: tuple[str, ...] = (".cbox",)

COLUMNS: tuple[str, ...] = (
    "CoordinateX",
    "CoordinateY",
    "CoordinateZ",
    "Width",
    "Height",
    "Depth",
    "EstWidth",
    "EstHeight",
    "Confidence",
    "NumBoxes",
    "Angle",
)
FORMAT_VERSION = "1.0"


def _read_legacy(path: Path, text: str) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 4:
            raise file_error(path, f"line {number} has {len(fields)} fields, expected at least 4")
        try:
            values = [float(v) for v in fields[:7]]
        except ValueError:
            raise file_error(path, f"line {number} is not numeric: {line.strip()!r}") from None
        rows.append(values + [np.nan] * (7 - len(values)))
    frame = pd.DataFrame(
        np.asarray(rows, dtype=np.float64).reshape(-1, 7),
        columns=[
            "CoordinateX",
            "CoordinateY",
            "Width",
            "Height",
            "Confidence",
            "EstWidth",
            "EstHeight",
        ],
    )
    return frame


def _frame(path: Path) -> pd.DataFrame:
    """The file's table as written: the ``data_cryolo`` loop, or the legacy columns."""
    check_readable(path, allow_empty=True)
    text = read_text(path)
    if "data_" not in text:
        return _read_legacy(path, text)
    blocks = read_star_blocks(path)
    if "cryolo" not in blocks:
        found = ", ".join(f"data_{name}" for name in blocks)
        raise file_error(path, f"no data_cryolo block (blocks found: {found})")
    frame = blocks["cryolo"]
    return pd.DataFrame([frame]) if isinstance(frame, dict) else frame


def box_widths(path: str | Path) -> np.ndarray:
    """``_Width`` of each pick of a CBOX file (the box; the diameter read is ``_EstWidth``),
    in the order :func:`read` returns them."""
    path = Path(path)
    return numeric_column(_frame(path), "Width", path)


def lacks_size_estimates(path: str | Path) -> bool:
    """Whether some pick of a CBOX file has no ``_EstWidth`` (crYOLO's size estimate):
    :func:`read` gives such a pick its box ``_Width`` as the diameter, a box size
    (often 1.5-2 times the particle) as in EMAN BOX files. False for a file that
    cannot be read (reading it says why)."""
    path = Path(path)
    try:
        frame = _frame(path)
        return bool((~np.isfinite(numeric_column(frame, "EstWidth", path, required=False))).any())
    except (ValueError, OSError):
        return False


def keep_rows(path: str | Path, keep: np.ndarray) -> str:
    """The text of CBOX file ``path`` with only the picks ``keep`` marks (one flag per pick
    :func:`read` returns: the rows of ``data_cryolo``, or the legacy lines, in order).

    The kept rows stay as written: corner, box (``_Width``), crYOLO's size
    estimate, angle, ``data_global``. Rewriting them instead would box each
    pick at its estimated size and move its corner.
    """
    path = Path(path)
    text = read_text(path, newline="")
    if "data_" in text:
        return star_keep_rows(path, text, "cryolo", keep)
    lines = text_lines(text)
    rows = [i for i, line in enumerate(lines) if line.split()]
    return drop_rows(path, lines, rows, keep, f"{len(rows)} data lines")


def read(path: str | Path) -> pd.DataFrame:
    """Read a crYOLO CBOX file (STAR layout, or the pre-1.8 plain columns).

    Returns
    -------
    pandas.DataFrame
        Project pick columns with centres; ``micrograph`` is empty.
    """
    path = Path(path)
    frame = _frame(path)
    corner_x = numeric_column(frame, "CoordinateX", path)
    corner_y = numeric_column(frame, "CoordinateY", path)
    width = numeric_column(frame, "Width", path)
    height = numeric_column(frame, "Height", path)
    est_width = numeric_column(frame, "EstWidth", path, required=False)
    est_height = numeric_column(frame, "EstHeight", path, required=False)
    for name, values in (
        ("_Width", width),
        ("_Height", height),
        ("_EstWidth", est_width),
        ("_EstHeight", est_height),
    ):
        # a box or size of <= 0 (an I/O fuzz's -220 box and -180/184 estimate were read
        # as a 2 px particle 220 px off, unsaid; BOX and CSV refuse theirs)
        bad = np.flatnonzero(np.isfinite(values) & (values <= 0))
        if len(bad):
            raise file_error(
                path, f"data row {bad[0] + 1} has {name} {values[bad[0]]:g}, which is not > 0"
            )
    est_height = np.where(np.isfinite(est_height), est_height, est_width)
    diameter = np.where(np.isfinite(est_width), (est_width + est_height) / 2, width)
    tube_id = tube_id_column(frame, "filamentid", path, offset=1)
    depth = numeric_column(frame, "CoordinateZ", path, required=False)
    slices = np.unique(depth[np.isfinite(depth)])
    if len(slices) > 1:
        # crYOLO's tomogram picks: read as 2-D they pile every slice's onto one image
        # (an I/O trial's file was read without a word)
        raise file_error(
            path,
            f"picks at {len(slices)} depths (_CoordinateZ {slices[0]:g} to {slices[-1]:g}): "
            "tomogram picks; napari-cryopick picks 2-D micrographs",
        )
    return pd.DataFrame(
        {
            "micrograph": [""] * len(frame),
            "x": corner_x + width / 2,
            "y": corner_y + height / 2,
            "diameter": diameter,
            "score": numeric_column(frame, "Confidence", path, required=False),
            "kind": np.where(tube_id > 0, "fiber", "particle").astype(object),
            "tube_id": tube_id,
        }
    )


def write(
    table: pd.DataFrame, path: str | Path, *, box_size: float | None = None, decimals: int = 3
) -> None:
    """Write a crYOLO ≥ 1.8 CBOX file.

    Parameters
    ----------
    table
        Normalized pick table in the file's pixel grid.
    path
        Destination.
    box_size
        ``_Width``/``_Height`` in the file's pixels; default: each diameter.
    decimals
        Decimals of coordinates and sizes (trailing zeros dropped).
    """
    path = Path(path)
    sizes = box_sizes(table, path, box_size)
    x = table["x"].to_numpy(np.float64)
    y = table["y"].to_numpy(np.float64)
    diameter = table["diameter"].to_numpy(np.float64)
    score = table["score"].to_numpy(np.float64)
    if np.isfinite(score).any():
        # a pick added by hand among scored ones: the highest confidence (napari-boxmanager
        # drops the confidence of a whole file holding one <NA>: a convention review)
        score = np.where(np.isfinite(score), score, 1.0)
    tube_id = table["tube_id"].to_numpy(np.int64)
    with_filaments = bool((tube_id > 0).any())

    def number(value: float) -> str:
        return format_number(value, decimals)

    rows = []
    for i in range(len(table)):
        row = [
            number(x[i] - sizes[i] / 2),
            number(y[i] - sizes[i] / 2),
            number(np.nan),
            number(sizes[i]),
            number(sizes[i]),
            number(np.nan),
            number(diameter[i]),
            number(diameter[i]),
            format_number(score[i], max(decimals, SCORE_DECIMALS)),
            number(np.nan),
            number(np.nan),
        ]
        if with_filaments:
            row.append(str(int(tube_id[i]) - 1) if tube_id[i] > 0 else number(np.nan))
        rows.append(row)
    columns = list(COLUMNS) + (["filamentid"] if with_filaments else [])
    text = star_pairs("global", [("cbox_format_version", FORMAT_VERSION)])
    text += star_block("cryolo", columns, rows)
    path.write_text(text, encoding="utf-8")
