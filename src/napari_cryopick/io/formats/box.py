"""EMAN ``.box`` files (EMAN1 box format, also written by crYOLO and e2boxer).

One line per pick, tab-separated: ``x_corner  y_corner  box_width  box_height``
with ``corner = centre - box / 2`` in pixels of the micrograph the file refers
to (same axes as the project: x = column, y = row; the y flip some tools need
is the explicit ``flip_y_height`` option of :mod:`~napari_cryopick.io.pickfiles`).

The format has no header and no diameter: on reading, the box width is taken
as the diameter; on writing the box size is ``box_size`` or else each pick's
diameter. Lines starting with ``#`` are comments. A 0-byte ``.box`` file is a
valid file with no picks (crYOLO and EMAN write them for empty micrographs).
:func:`keep_rows` copies a file with some picks dropped and every kept line
as it was (``cryopick filter``: the box size stays the file's).

Filament start-end files (EMAN1 helix boxes, crYOLO's ``--write_eman1_filament
_start_end``): a fifth column ``-1`` marks the start of a filament and ``-2``
its end. Read as fibers: each start-end pair is one tube (``tube_id`` 1, 2,
...), its two ends the path's vertices, the box width its diameter. Other
extra columns are ignored.

crYOLO's filament "helicon" files (``CoordsIO.write_eman1_helicon``, older crYOLO's
``EMAN_HELIX_SEGMENTED`` output; napari-boxmanager reads them too) are read as
fibers as well: ``#micrograph: name`` first, then per filament a line
``#helix: (x1, y1),(x2, y2),box`` with its two ends' centres and the box size,
followed by the centres ``x y`` of its boxes (with or without the two ends' boxes:
crYOLO's versions differ; each end is read once). Each filament is one
tube, its path the start, the boxes between and the end; the box size is its
diameter. Read only (``cryopick filter`` rewrites them as another format).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    RowMismatch,
    check_readable,
    drop_rows,
    file_error,
    format_number,
    read_text,
    text_lines,
)

logger = logging.getLogger(__name__)

NAME = "box"
SUFFIXES: tuple[str, ...] = (".box",)


def read(path: str | Path) -> pd.DataFrame:
    """Read an EMAN box file.

    Returns
    -------
    pandas.DataFrame
        Project pick columns with centres; ``diameter`` is the box width and
        ``micrograph`` is empty (the caller names it after the file).
    """
    path = Path(path)
    check_readable(path, allow_empty=True)
    lines = read_text(path).splitlines()
    if _is_helicon(lines):
        return _read_helicon(path, lines)
    rows, markers, numbers = [], [], []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) < 4:
            raise file_error(
                path, f"line {number} has {len(fields)} fields, expected x y width height"
            )
        try:
            rows.append([float(v) for v in fields[:4]])
        except ValueError:
            raise file_error(path, f"line {number} is not numeric: {text!r}") from None
        markers.append(fields[4] if len(fields) > 4 else "")
        numbers.append(number)
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise file_error(path, f"data row {row + 1} has a NaN or infinite number")
    width, height = values[:, 2], values[:, 3]
    odd = np.flatnonzero(np.abs(width - height) > 0.5)
    if len(odd):
        # EMAN boxes are square: columns mixed up, said (a review's 24 x 48 box was read at
        # 24 px unsaid)
        logger.warning(
            "%s: %d box(es) not square (line %d: width %g, height %g): the width is taken "
            "as the particle's diameter; columns are x y width height",
            path,
            len(odd),
            numbers[odd[0]],
            width[odd[0]],
            height[odd[0]],
        )
    kind, tube_id = "particle", np.zeros(len(values), np.int64)
    if any(marker in FILAMENT_MARKERS for marker in markers):
        kind, tube_id = "fiber", _start_end_tubes(path, markers, numbers)
    return pd.DataFrame(
        {
            "micrograph": [""] * len(values),
            "x": values[:, 0] + width / 2,
            "y": values[:, 1] + height / 2,
            "diameter": width,
            "score": np.nan,
            "kind": kind,
            "tube_id": tube_id,
        }
    )


#: The line that starts each filament of a crYOLO helicon box file.
HELIX = "#helix"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_HELIX_LINE = re.compile(
    rf"#helix:?\s*\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)\s*,\s*"
    rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)\s*,\s*({_NUMBER})"
)


def _is_helicon(lines: list[str]) -> bool:
    """Whether the lines of a BOX file are those of a crYOLO helicon file."""
    return any(line.lstrip().startswith(HELIX) for line in lines)


def _read_helicon(path: Path, lines: list[str]) -> pd.DataFrame:
    """The fibers of a crYOLO helicon box file (see the module's text): one tube per
    ``#helix`` line, its start, the box centres after the line, its end. crYOLO writes
    the boxes at the two ends among the centres too (some versions): each end once."""
    filaments: list[tuple[tuple[float, float], list[tuple[float, float]], tuple, float]] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text.startswith(HELIX):
            match = _HELIX_LINE.match(text)
            if match is None:
                raise file_error(
                    path,
                    f"line {number}: a crYOLO helicon line reads '#helix: (x1, y1),(x2, y2),"
                    f"box', found {text!r}",
                )
            x1, y1, x2, y2, size = (float(v) for v in match.groups())
            filaments.append(((x1, y1), [], (x2, y2), size))
            continue
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if not filaments:
            raise file_error(path, f"line {number}: a box before the first '#helix' line")
        if len(fields) != 2:
            raise file_error(
                path,
                f"line {number} has {len(fields)} fields: a crYOLO helicon file holds box "
                "centres 'x y' after each '#helix' line",
            )
        try:
            x, y = (float(v) for v in fields)
        except ValueError:
            raise file_error(path, f"line {number} is not numeric: {text!r}") from None
        filaments[-1][1].append((x, y))
    rows = []
    for tube, (start, boxes, end, size) in enumerate(filaments, start=1):
        if boxes and math.dist(boxes[0], start) <= 0.5:
            boxes = boxes[1:]
        if boxes and math.dist(boxes[-1], end) <= 0.5:
            boxes = boxes[:-1]
        rows += [(x, y, size, tube) for x, y in (start, *boxes, end)]
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(values).all():
        raise file_error(path, "a NaN or infinite number")
    return pd.DataFrame(
        {
            "micrograph": [""] * len(values),
            "x": values[:, 0],
            "y": values[:, 1],
            "diameter": values[:, 2],
            "score": np.nan,
            "kind": "fiber",
            "tube_id": values[:, 3].astype(np.int64),
        }
    )


#: The fifth column of EMAN1 filament start-end box files: start and end of a filament.
FILAMENT_MARKERS = ("-1", "-2")


def _start_end_tubes(path: Path, markers: list[str], numbers: list[int]) -> np.ndarray:
    """Tube ids (1, 2, ...) of the rows of a filament start-end box file: ``-1`` then
    ``-2`` on every pair of rows, else a :class:`PickFileError` naming the line."""
    for i, marker in enumerate(markers):
        expected = FILAMENT_MARKERS[i % 2]
        if marker != expected:
            raise file_error(
                path,
                f"line {numbers[i]}: a filament start-end box file marks each start -1 "
                f"and the end after it -2, found {marker or 'no marker'!r} where {expected} "
                "belongs",
            )
    if len(markers) % 2:
        raise file_error(path, f"line {numbers[-1]}: a filament start (-1) without its end (-2)")
    return np.arange(len(markers), dtype=np.int64) // 2 + 1


def box_widths(path: str | Path) -> np.ndarray:
    """The box width of each pick of a BOX file, in the order :func:`read` returns them."""
    return read(path)["diameter"].to_numpy(np.float64)  # read: the diameter is the width


def keep_rows(path: str | Path, keep: np.ndarray) -> str:
    """The text of BOX file ``path`` with only the picks ``keep`` marks (one flag per pick
    :func:`read` returns: its data lines in order).

    The kept lines stay as written: corners, box sizes, extra columns,
    comments. Rewriting them instead would box each pick at its diameter and
    round corners to whole pixels. A filament's start and end are kept only
    together (both pass): one end alone is a file no reader takes.
    """
    path = Path(path)
    lines = text_lines(read_text(path, newline=""))
    if _is_helicon(lines):
        raise RowMismatch(f"{path}: a crYOLO helicon file (its ends are in '#helix' lines)")
    rows = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    keep = np.asarray(keep, dtype=bool)
    if len(rows) != len(keep):
        raise RowMismatch(f"{path}: {len(rows)} data lines, {len(keep)} picks were read")
    markers = [lines[i].split()[4] if len(lines[i].split()) > 4 else "" for i in rows]
    if any(marker in FILAMENT_MARKERS for marker in markers):  # read() checked the pairs
        keep = np.repeat(keep[0::2] & keep[1::2], 2)
    return drop_rows(path, lines, rows, keep, f"{len(rows)} data lines")


def box_sizes(table: pd.DataFrame, path: Path, box_size: float | None) -> np.ndarray:
    """Per-pick box sizes: ``box_size`` if given, else the diameters (all must be known)."""
    if box_size is not None:
        if not np.isfinite(box_size) or box_size <= 0:
            raise file_error(path, f"box size must be positive, got {box_size}")
        return np.full(len(table), float(box_size))
    sizes = table["diameter"].to_numpy(np.float64)
    if not np.isfinite(sizes).all() or (sizes <= 0).any():
        raise file_error(
            path,
            "box size unknown: some picks have no diameter; give the box size "
            "(--box-size PX on the command line)",
        )
    return sizes


def write(
    table: pd.DataFrame, path: str | Path, *, box_size: float | None = None, decimals: int = 0
) -> None:
    """Write an EMAN box file.

    Parameters
    ----------
    table
        Normalized pick table in the file's pixel grid.
    path
        Destination.
    box_size
        Box edge in the file's pixels; default: each pick's diameter.
    decimals
        Decimals of the written numbers; 0 (default) writes whole pixels, as
        EMAN does, so a centre may move by up to half a pixel.
    """
    path = Path(path)
    # the size as written first: a corner from the unrounded size put the centre read
    # back up to 0.75 px off (a trial measured 0.66 px; half a pixel is the promise)
    sizes = np.round(box_sizes(table, path, box_size), decimals)
    x_corner = table["x"].to_numpy(np.float64) - sizes / 2
    y_corner = table["y"].to_numpy(np.float64) - sizes / 2
    lines = [
        "\t".join(format_number(v, decimals) for v in (x, y, s, s))
        for x, y, s in zip(x_corner, y_corner, sizes)
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
