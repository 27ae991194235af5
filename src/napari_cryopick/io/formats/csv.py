"""napari-cryopick CSV files (comma-separated, one header line).

Columns ``x,y,diameter,score`` (centres, pixels, the project convention),
then ``micrograph``, ``kind`` and ``tube_id`` when they carry information.
The micrograph may also come as ``micrograph_name``, ``micrograph_path``,
``image_name``, ``rlnMicrographName``, ``filename`` or ``file_name`` (other tools'
exports; :data:`MICROGRAPH_COLUMNS`); a column of micrograph file names under
another name is refused, naming it, not read as one micrograph's picks.
Only ``x`` and ``y`` are required on reading, so plain ``x,y,diameter`` tables
(the shared real-data picks, CryoPPP-derived sets) read as they are. Column
names are matched case-insensitively; missing values are empty fields. Lines whose
first non-blank character is ``#`` are comments, skipped as in BOX files. Box columns
(``width``, ``height``, :data:`BOX_COLUMNS`) are not read: a file holding them is said
(:data:`BOX_COLUMNS_ATTR`), x and y being read as centres.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    SCORE_DECIMALS,
    check_readable,
    comment_line,
    file_error,
    format_number,
    names_column,
    numeric_column,
    read_delimited,
    text_column,
    tube_id_column,
)

NAME = "csv"
SUFFIXES: tuple[str, ...] = (".csv",)
#: Column names read as the micrograph name, first present wins (case-insensitive).
MICROGRAPH_COLUMNS: tuple[str, ...] = (
    "micrograph",
    "micrograph_name",
    "micrograph_path",
    "image_name",
    # a RELION STAR table saved as CSV (pandas, starfile), and plain file-name columns
    "rlnmicrographname",
    "_rlnmicrographname",
    "micrographname",
    "filename",
    "file_name",
)

#: Columns of a bounding-box table (lower case), which the reader does not read: their x,y
#: are often the boxes' top-left corners, where this reader takes centres.
BOX_COLUMNS: tuple[str, ...] = (
    "width",
    "height",
    "w",
    "h",
    "box_width",
    "box_height",
    "boxwidth",
    "boxheight",
    "box_size",
    "boxsize",
    "box",
)
#: ``DataFrame.attrs`` key of :func:`read`'s tables: the box columns (:data:`BOX_COLUMNS`,
#: as the header names them) holding values, or an empty tuple; said by
#: :func:`napari_cryopick.io.pickfiles.read_picks`.
BOX_COLUMNS_ATTR = "csv_box_columns"

#: Ends of the values that make a column of other name a column of micrograph files
#: (refused: read without it, every row would be one micrograph's, the file's name).
_MICROGRAPH_SUFFIXES = (".mrc", ".mrcs", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


def _micrograph_column(frame: pd.DataFrame, path: Path) -> str:
    """The column the micrograph is read from: the first of :data:`MICROGRAPH_COLUMNS`
    holding a name ("micrograph" if none: every row the file's micrograph).

    A column of micrograph file names under another name is refused, naming it, where no
    such column holds a name. A CLI trial's ``filename`` and ``rlnMicrographName``
    columns were left unread: the picks of 3 micrographs became one micrograph's, named
    after the file (training then found "no labelled particles"); a review's empty
    ``micrograph`` column beside a filled ``mic_path`` one read the same.
    """
    present = [c for c in MICROGRAPH_COLUMNS if c in frame.columns]
    for column in present:
        if frame[column].fillna("").astype(str).str.strip().ne("").any():
            return column
    for column in frame.columns:
        if column in (*present, "x", "y", "diameter", "score", "kind", "tube_id"):
            continue
        values = frame[column].dropna().astype(str).str.strip().str.lower()
        values = values[values.ne("") & ~values.str.contains("@", regex=False)]  # (stacks)
        if len(values) and values.str.endswith(_MICROGRAPH_SUFFIXES).mean() > 0.5:
            raise file_error(
                path,
                f"its column {column!r} holds micrograph file names, but the micrograph is "
                "read from a column named micrograph (or micrograph_name, micrograph_path, "
                "image_name, rlnMicrographName, filename, file_name): rename "
                f"{column!r} to 'micrograph'",
            )
    return present[0] if present else "micrograph"


def looks_like_csv_picks(first_line: str, either: bool = False) -> bool:
    """Whether a header line names at least the ``x`` and ``y`` columns (``either``: one
    of them, a pick file with the other missing or misspelt, or columns split by tabs or
    semicolons: the reader then says what is wrong). Quoted names count (``"x","y"``,
    as R, Excel and ``csv.QUOTE_ALL`` write them)."""
    separators = r"[,;\t]" if either else ","
    names = [
        name.strip().strip("\"'").strip().lower()
        for name in re.split(separators, first_line.strip())
    ]
    return ("x" in names or "y" in names) if either else ("x" in names and "y" in names)


def _header_line(path: Path) -> str:
    """The header line: the first line that is neither blank nor a comment
    (:func:`~napari_cryopick.io.formats.comment_line`)."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip() and not comment_line(line):
                return line
    return ""


def _box_columns(frame: pd.DataFrame, path: Path) -> tuple[str, ...]:
    """The columns of :data:`BOX_COLUMNS` holding a value, as the header names them.

    A CLI trial's ``X,Y,Width,Height`` table read its boxes' x,y as centres and left
    the box size out, unsaid: a bounding-box table usually gives the top-left corner,
    so every pick would lie half a box off. Not guessed (the reader reads no box), said.
    """
    import csv

    found = [
        c
        for c in frame.columns
        if c in BOX_COLUMNS and frame[c].fillna("").astype(str).str.strip().ne("").any()
    ]
    if not found:
        return ()
    header = next(csv.reader([_header_line(path).strip()]), [])
    as_written = {_unquoted(n.strip()).lower(): _unquoted(n.strip()) for n in header}
    return tuple(as_written.get(c, c) for c in found)


def _unquoted(name: str) -> str:
    return name[1:-1].strip() if len(name) >= 2 and name[0] == name[-1] == "'" else name


def _refuse_other_separator(path: Path) -> None:
    """A header of names split by ';' or tabs, not commas (a spreadsheet's CSV in a locale
    of decimal commas): said at once. Read with commas, its decimal commas split every
    line into more fields than the header's one, and a re-trial read only "line 2 has 3
    fields, the header names 1"."""
    header = _header_line(path)
    if "," in header:
        return
    for separator, said, why in (
        (";", "';'", " (a spreadsheet's CSV in a locale of decimal commas?)"),
        ("\t", "tabs", ""),
    ):
        if separator in header and looks_like_csv_picks(header, either=True):
            raise file_error(
                path,
                f"the file separates its columns with {said}, not commas{why}: save it with "
                "commas between columns and decimal points",
            )


def _refuse_cut_last_line(path: Path) -> None:
    """A last line with fewer fields than the header and no line end: the file was cut
    short (a copy or transfer that stopped), not a row with empty fields. A trial's
    ``head -c`` of a pick CSV read its last half row as a pick of a micrograph named
    after the file (STAR and CBOX files cut so are refused: their rows are counted)."""
    import csv

    from . import refuse_other_encodings

    refuse_other_encodings(path)  # (a UTF-16 file's last byte: "cut short")
    with path.open("rb") as handle:
        header = handle.readline()
        while header and (not header.strip() or comment_line(header)):
            header = handle.readline()  # (comment lines above the header)
        body = handle.tell()
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(body, size - 65536))
        tail = handle.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    last = tail.splitlines()[-1].decode("utf-8", errors="replace")
    if not last.strip() or comment_line(last):
        return
    names = next(csv.reader([header.decode("utf-8-sig", errors="replace").strip()]), [])
    fields = next(csv.reader([last]), [])
    while names and not names[-1].strip():  # a trailing separator is no field
        names = names[:-1]
    if len(fields) < len(names):
        raise file_error(
            path,
            f"its last line ({last.strip()[:60]!r}) has {len(fields)} of the header's "
            f"{len(names)} fields and no line end: the file looks cut short (a copy that "
            "did not finish?); copy it again, or end that line if it is meant so",
        )


def read(path: str | Path) -> pd.DataFrame:
    """Read a pick CSV.

    Returns
    -------
    pandas.DataFrame
        Project pick columns.
    """
    path = Path(path)
    check_readable(path)
    _refuse_other_separator(path)
    _refuse_cut_last_line(path)
    # comment lines skipped, as BOX files' (a CLI trial's "# comment" above the header
    # was "line 2 has 2 fields, the header names 1"; one at the end, "a non-numeric value")
    frame = read_delimited(path, separator=",", lower=True, comments=True)
    # 'x','y': single-quoted names (pandas unquotes only double quotes), as the header
    # check (looks_like_csv_picks) reads them
    frame.columns = [_unquoted(name) for name in frame.columns]
    tube_id = tube_id_column(frame, "tube_id", path)
    kinds = text_column(frame, "kind", "")
    kind = [k if k else ("fiber" if t > 0 else "particle") for k, t in zip(kinds, tube_id)]
    # the micrograph under the names other tools' CSV exports give it
    name_label = _micrograph_column(frame, path)
    table = pd.DataFrame(
        {
            "micrograph": names_column(frame, name_label, path),
            "x": numeric_column(frame, "x", path),
            "y": numeric_column(frame, "y", path),
            "diameter": numeric_column(frame, "diameter", path, required=False),
            "score": numeric_column(frame, "score", path, required=False),
            "kind": kind,
            "tube_id": tube_id,
        }
    )
    table.attrs[BOX_COLUMNS_ATTR] = _box_columns(frame, path)
    return table


def write(table: pd.DataFrame, path: str | Path, *, decimals: int = 3) -> None:
    """Write a pick CSV.

    Parameters
    ----------
    table
        Normalized pick table in the file's pixel grid.
    path
        Destination.
    decimals
        Decimals of coordinates and diameters (trailing zeros dropped);
        scores keep at least 4.
    """

    def number(value: float, places: int = decimals) -> str:
        text = format_number(value, places)
        return "" if text == "<NA>" else text

    columns: list[tuple[str, list[str]]] = [
        ("x", [number(v) for v in table["x"]]),
        ("y", [number(v) for v in table["y"]]),
        ("diameter", [number(v) for v in table["diameter"]]),
        ("score", [number(v, max(decimals, SCORE_DECIMALS)) for v in table["score"]]),
    ]
    names = table["micrograph"].astype(str).tolist()
    if any(names) or not names:
        # a micrograph without picks keeps the column in its header-only file, so a
        # folder's CSVs share one header (a batch trial's empty ones lacked it)
        if any("," in n or '"' in n for n in names):
            raise file_error(
                path, "micrograph names with commas or quotes cannot be written to CSV"
            )
        columns.append(("micrograph", names))
    kinds = table["kind"].astype(str).tolist()
    if any(k != "particle" for k in kinds):
        columns.append(("kind", kinds))
    tubes = table["tube_id"].to_numpy(np.int64)
    if (tubes != 0).any():
        columns.append(("tube_id", [str(int(t)) for t in tubes]))
    lines = [",".join(name for name, _ in columns)]
    lines += [",".join(row) for row in zip(*(values for _, values in columns))]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
