"""One module per pick-file format, all behind the same small interface.

Each format module exposes

``NAME``
    the format's short name (``"star"``, ``"box"``, ...);
``SUFFIXES``
    file suffixes it claims, lower case;
``read(path) -> pandas.DataFrame``
    the picks in the project's columns (:data:`napari_cryopick.core.pick_table.PICK_COLUMNS`),
    centres, in the pixels of the micrograph the file refers to;
``write(table, path, **options)``
    writes a normalized pick table (already converted to the file's pixel
    grid) to ``path``.

Binning, the y flip, atomic writing and format detection live one level up,
in :mod:`napari_cryopick.io.pickfiles`. This package holds what the modules
share: :class:`PickFileError` and small text helpers.
"""

from __future__ import annotations

import collections
import contextlib
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PickFileError", "RowMismatch"]

# Missing values in STAR-like files: what starfile and crYOLO (pandas) write.
NA_TEXT = "<NA>"

#: Decimals of written scores (STAR, CBOX, CSV, cryoSPARC STAR): fine enough that
#: candidates read back keep the order the picker gave them (4 decimals tied many of
#: the low-scored candidates ``--threshold 0`` writes, and ties reorder them).
SCORE_DECIMALS = 6


class PickFileError(ValueError):
    """A pick file that cannot be read or written; the message starts with its path."""


class RowMismatch(PickFileError):
    """The picks a reader returns are not the file's data rows one to one (start-end pairs
    joined into fibers, a coordinate-file index), so no row of the file can be dropped by
    the index of a pick; the message starts with the file's path."""


#: cryoSPARC's prefix of the files it writes (the 15 or more digits of a UID and "_").
CRYOSPARC_UID = re.compile(r"^\d{15,}_")


def file_error(path: str | os.PathLike, message: str) -> PickFileError:
    """A :class:`PickFileError` whose message starts with ``path``."""
    return PickFileError(f"{path}: {message}")


#: Files up to this size are read whole to tell a blank one (:func:`blank_reason`).
BLANK_CHECK_BYTES = 65536


def blank_reason(path: Path) -> str | None:
    """Why ``path`` holds nothing to read (0 bytes, or only white space), None otherwise.

    Such a file is no valid pick file of any text format: a file with no
    picks still has its header (a BOX file excepted, which callers allow).
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return "file is empty (0 bytes); a valid file with no picks has a header"
        if size > BLANK_CHECK_BYTES:
            return None
        content = path.read_bytes()
    except OSError:
        return None
    if content.removeprefix(b"\xef\xbb\xbf").strip():
        return None
    return f"file holds only white space ({size} bytes); a valid file with no picks has a header"


def check_readable(path: Path, *, allow_empty: bool = False) -> None:
    """Raise :class:`PickFileError` for a missing file or, unless allowed, a blank one."""
    if not path.exists():
        raise file_error(path, "file does not exist")
    if path.is_dir():
        raise file_error(path, "is a folder, not a pick file")
    reason = None if allow_empty else blank_reason(path)
    if reason is not None:
        raise file_error(path, reason)


#: Byte-order marks of the Unicode encodings other than UTF-8 (longest first).
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def other_encoding(path: Path) -> tuple[str, str] | None:
    """``(encoding name, first line)`` of a UTF-16 or UTF-32 text file (by its byte-order
    mark, or NUL bytes in its first line), None for any other (or an unreadable) file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None  # (the reader says why)
    marked = [name for mark, name in _OTHER_BOMS if head.startswith(mark)]
    if marked:
        name = marked[0]
        codec = {"UTF-16": "utf-16", "UTF-32": "utf-32"}[name]
    elif b"\x00" in head.split(b"\n", 1)[0] and _wide_text(head[:256]):
        name = "UTF-16 or UTF-32 (NUL bytes in its first line)"
        codec = "utf-16-le" if head[1:2] == b"\x00" and head[:1] != b"\x00" else "utf-16-be"
    else:
        return None
    text = head.decode(codec, errors="replace").lstrip("\ufeff")
    return name, text.split("\n", 1)[0].strip()


def _wide_text(head: bytes) -> bool:
    """Whether ``head`` reads as UTF-16 or UTF-32 text without a byte-order mark: a NUL
    byte beside nearly every character, in one byte position of each pair (random bytes
    named ``.star`` were told to convert from UTF-16, a CLI trial)."""
    if len(head) < 8:
        return False
    # UTF-16: one byte of each pair mostly NUL, the other mostly not; UTF-32: three of
    # each four (a file of zeros, left by a crash, is no text: a review)
    for width in (2, 4):
        columns = [head[offset::width] for offset in range(width)]
        nul = [c.count(0) >= 0.75 * len(c) for c in columns]
        text = [c.count(0) <= 0.25 * len(c) for c in columns]
        if sum(nul) == width - 1 and sum(text) == 1:
            return True
    return False


def _only_zero_bytes(path: Path) -> bool:
    """Whether ``path`` holds bytes, every one of them zero (read until one is not)."""
    try:
        with path.open("rb") as handle:
            seen = False
            while chunk := handle.read(1 << 16):  # (a text file's first chunk ends it)
                if chunk.strip(b"\x00"):
                    return False
                seen = True
            return seen
    except OSError:
        return False  # (the reader says why)


def refuse_other_encodings(path: Path) -> None:
    """A :class:`PickFileError` for a UTF-16 or UTF-32 text file (by its byte-order mark,
    or NUL bytes in its first line): read as UTF-8 it was "cut short" or a table of
    empty names (a review: a CSV that Excel saved as "Unicode Text")."""
    found = other_encoding(path)
    if found is not None:
        raise other_encoding_error(path, found[0])
    if _only_zero_bytes(path):
        # (a review: read as text, its 4096 NULs were printed as the "columns found")
        raise file_error(path, "holds only zero bytes: a write cut short (a crash, a full disk)?")


def other_encoding_error(path: Path, name: str) -> PickFileError:
    """The error of a pick file in the encoding ``name`` (:func:`other_encoding`)."""
    return file_error(
        path,
        f"a {name} text file: pick files are read as UTF-8; save it as UTF-8 "
        f"(e.g. iconv -f {name.split()[0]} -t UTF-8 {path.name} > new{path.suffix})",
    )


def read_text(path: Path, *, newline: str | None = None) -> str:
    """The text of a pick file (UTF-8, a byte-order mark dropped), errors naming the file.

    ``newline`` as in :func:`open`: ``""`` keeps ``\\r\\n`` line ends as they are
    (a copy with rows dropped keeps them), None reads every line end as ``\\n``.
    """
    refuse_other_encodings(path)
    try:
        with path.open(encoding="utf-8-sig", newline=newline) as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise file_error(
            path,
            f"not a UTF-8 text file (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r})",
        ) from None


#: The most columns a delimited pick file may have (STAR, CSV and Topaz files have tens).
MAX_COLUMNS = 1000
#: The longest header line read (bytes).
_HEADER_BYTES = 1 << 20


def comment_line(line: str | bytes) -> bool:
    """Whether a line of a delimited table is a comment: ``#`` its first non-blank
    character (a byte-order mark before it aside), as BOX files' are read. A ``#`` later
    in the line is a value's (``mic#1``), not a comment."""
    if isinstance(line, bytes):
        return line.lstrip(b"\xef\xbb\xbf \t").startswith(b"#")
    return line.lstrip("\ufeff \t").startswith("#")


def _without_comments(path: Path) -> io.BytesIO | None:
    """The bytes of ``path`` with each comment line (:func:`comment_line`) left empty, its
    line end kept, so that pandas skips it as a blank line and counts the lines after it
    as they are in the file; None when the file has no comment line."""
    raw = path.read_bytes()
    # (a '#' in a value, mic#1, is no reason to split the file: a line starting with one is)
    if not re.search(rb"(?m)^(?:\xef\xbb\xbf)?[ \t]*#", raw) and not re.search(rb"\r[ \t]*#", raw):
        return None
    lines = raw.splitlines(keepends=True)
    if not any(comment_line(line) for line in lines):
        return None
    kept = [line[len(line.rstrip(b"\r\n")) :] if comment_line(line) else line for line in lines]
    return io.BytesIO(b"".join(kept))


def read_delimited(
    path: Path, *, separator: str | None, lower: bool = False, comments: bool = False
) -> pd.DataFrame:
    """A text table with a header line: every field as text, one column per header name.

    ``separator``: ``","`` (CSV, quoted fields), ``"\\t"``, or None (runs of
    whitespace). Read by pandas' C parser with the header as a data row, so a
    row with more fields than the header is a :class:`PickFileError` naming
    the line: with the header as header, pandas took a row with one field too
    many as if its first field were an index and shifted every value one
    column over, silently (a fuzzing review). A short row's missing fields
    are empty. Empty trailing header fields (a trailing separator) are
    dropped; a column named twice is refused. A UTF-8 byte-order mark is read
    past. A header of more than :data:`MAX_COLUMNS` names is refused before
    parsing (pandas takes seconds per thousand columns). ``comments``: lines whose
    first non-blank character is ``#`` are skipped (:func:`comment_line`), a header
    line among them; line numbers in errors stay the file's.
    """
    import re

    refuse_other_encodings(path)
    source: Path | io.BytesIO = path
    if comments:
        source = _without_comments(path) or path
    with path.open("rb") if isinstance(source, Path) else contextlib.nullcontext(source) as handle:
        first = handle.readline(_HEADER_BYTES)
        while comments and first and not first.strip():  # (the comment lines above the header)
            first = handle.readline(_HEADER_BYTES)
        first = first.decode("utf-8", errors="replace")
        if isinstance(source, io.BytesIO):
            source.seek(0)
    # (lines ended by CR alone, an old Mac OS file: pandas reads them, the header is the
    # first; a re-trial's CSV was "a header line of 1255 columns")
    # (the first line that is not blank: a CR-only file's emptied comment lines are read
    # as one line above, and its header, the first part, was empty: a review's 5002
    # columns were read instead of refused)
    first = next((p.strip() for p in re.split(r"\r\n?|\n", first) if p.strip()), "")
    fields = len(re.split(r"\s+" if separator is None else re.escape(separator), first))
    cut = len(first) >= _HEADER_BYTES - 1  # (a header line of a megabyte: counted so far)
    if fields > MAX_COLUMNS or cut:
        # a hostile-input review: 200,000 columns did not finish in 20 minutes
        count = f"more than {fields}" if cut else str(fields)
        raise file_error(
            path, f"its header line names {count} columns: not a pick table (at most {MAX_COLUMNS})"
        )
    try:
        frame = pd.read_csv(
            source,
            sep=r"\s+" if separator is None else separator,
            header=None,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8-sig",
        )
    except UnicodeDecodeError:
        read_text(path)  # names the byte
        raise
    except pd.errors.EmptyDataError:
        raise file_error(path, "no header line") from None
    except (ValueError, pd.errors.ParserError) as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            raise file_error(
                path, f"line {line} has {saw} fields, the header names {expected}"
            ) from None
        raise file_error(path, f"malformed table: {str(exc).strip()}") from None
    header = [str(name).strip() for name in frame.iloc[0]] if len(frame) else []
    if lower:
        header = [name.lower() for name in header]
    while header and not header[-1] and not frame.iloc[1:, len(header) - 1].astype(bool).any():
        header.pop()  # a trailing separator on every line
    if not header:
        raise file_error(path, "no header line")
    # (counted once: a header of 200,000 names took minutes, counted name by name)
    repeated = sorted(name for name, n in collections.Counter(header).items() if n > 1)
    if repeated:
        raise file_error(path, f"the header names column {repeated[0]!r} more than once")
    body = frame.iloc[1:, : len(header)].reset_index(drop=True)
    if len(body):  # one pass over the cells, not a pandas call per column (wide files)
        cells = body.to_numpy(dtype=object)
        body = pd.DataFrame(np.vectorize(str.strip, otypes=[object])(cells))
    body.columns = header
    return body


def repeated_labels(frame: pd.DataFrame, path: Path, block: str = "") -> None:
    """A :class:`PickFileError` when a table (a STAR loop) names a column twice."""
    columns = [str(c) for c in frame.columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        where = f" of block data_{block}" if block else ""
        raise file_error(path, f"the label {repeated[0]!r}{where} appears more than once")


def numeric_column(
    frame: pd.DataFrame, column: str, path: Path, *, required: bool = True
) -> np.ndarray:
    """``frame[column]`` as float64, or a :class:`PickFileError` naming the bad value.

    Missing values written as ``<NA>``, ``nan`` or ``None`` become NaN; in a
    ``required`` column they are an error, as is any other non-number.
    """
    if column not in frame.columns:
        if required:
            found = ", ".join(map(str, frame.columns))
            # one column holding "x;y;diameter": a CSV of a locale with decimal commas
            other = next((sep for sep in ";\t|" if len(frame.columns) == 1 and sep in found), "")
            hint = (
                f": the file separates its columns with {other!r}, write them with commas"
                if other
                else ""
            )
            raise file_error(path, f"missing column '{column}' (columns found: {found}){hint}")
        return np.full(len(frame), np.nan)
    values = frame[column]
    as_text = values.astype(str).str.strip()
    missing = (
        values.isna().to_numpy() | as_text.isin([NA_TEXT, "nan", "NaN", "None", ""]).to_numpy()
    )
    numbers = pd.to_numeric(values.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(numbers) & ~missing
    if required:
        bad |= missing
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = (
            "no value (empty or NaN)"
            if missing[row]
            else f"a non-numeric value {str(values.iloc[row])!r}"
        )
        raise file_error(path, f"column '{column}' has {what} in data row {row + 1}")
    infinite = np.isinf(numbers)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise file_error(
            path,
            f"column '{column}' has an infinite value {values.iloc[row]!r} in data row {row + 1}",
        )
    return numbers


#: The largest tube (filament) id read: RELION and crYOLO count tubes in int32.
MAX_TUBE_ID = 2**31 - 1


def value_text(value: object) -> str:
    """A file's value as written there: text quoted, numbers bare (an I/O fuzz read
    "filamentid has np.int64(-5)", numpy's repr)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)


def tube_id_column(frame: pd.DataFrame, column: str, path: Path, *, offset: int = 0) -> np.ndarray:
    """Tube ids of ``frame[column]`` plus ``offset`` as int64, 0 where missing (no fiber).

    A tube id is a whole number from 0 to :data:`MAX_TUBE_ID`; anything else
    (``1.7``, ``-3``, ``1e30``) is a :class:`PickFileError` naming the row: it
    was truncated, read as a particle, or overflowed without a word.
    """
    values = numeric_column(frame, column, path, required=False)
    known = np.isfinite(values)
    bad = known & ((values != np.round(values)) | (values < 0) | (values > MAX_TUBE_ID))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise file_error(
            path,
            f"column '{column}' has {value_text(frame[column].iloc[row])} in data row "
            f"{row + 1}: a "
            f"tube id is a whole number from 0 to {MAX_TUBE_ID}",
        )
    return np.where(known, values + offset, 0).astype(np.int64)


def format_number(value: float, decimals: int = 3) -> str:
    """Compact text for a number: ``12``, ``12.5``, ``0.125``; NaN gives ``<NA>``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA_TEXT
    value = float(value)
    if math.isnan(value):
        return NA_TEXT
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def star_value(text: str) -> str:
    """``text`` as one STAR field: double-quoted when it is empty, holds whitespace or
    starts like STAR syntax (``#`` comment, ``_`` label, ``data_``, ``loop_``).

    STAR fields are separated by whitespace, so a micrograph name with a
    space (``sim 0000 v1.2.mrc``) is written ``"sim 0000 v1.2.mrc"``, as
    ``starfile.write`` does and RELION (3.1+) and ``starfile.read`` read back.

    Raises
    ------
    ValueError
        Text no STAR reader can take back: a line break, or a double quote
        in text that must be quoted.
    """
    text = str(text)
    if "\n" in text or "\r" in text:
        raise ValueError(f"{text!r}: a line break cannot be written in a STAR field")
    reserved = text[:1] in ("#", "_", "'", ";") or text.lower().startswith(("data_", "loop_"))
    if text and not reserved and not any(character.isspace() for character in text):
        return text
    if '"' in text:
        raise ValueError(
            f"{text!r}: a STAR field with whitespace is quoted and cannot hold a double quote"
        )
    return f'"{text}"'


def star_block(name: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Text of one STAR loop block (``data_<name>``, ``loop_``, labels, rows).

    Written by hand rather than with ``starfile.write`` so that the output is
    deterministic (no timestamp) and matches the golden files byte for byte.
    Every value goes through :func:`star_value` (quoted where it holds
    whitespace).
    """
    lines = ["", f"data_{name}", "", "loop_"]
    lines += [f"_{column} #{index}" for index, column in enumerate(columns, start=1)]
    lines += ["\t".join(star_value(value) for value in row) for row in rows]
    return "\n".join(lines) + "\n"


def star_pairs(name: str, pairs: Sequence[tuple[str, str]]) -> str:
    """Text of one STAR key-value block (no loop); values as :func:`star_value`."""
    lines = ["", f"data_{name}", ""]
    lines += [f"_{key} {star_value(value)}" for key, value in pairs]
    return "\n".join(lines) + "\n"


def _loop_rows(lines: Sequence[str]) -> Iterable[tuple[int, str | None, int]]:
    """``(index in lines, block name, number of labels)`` of each loop row of STAR text.

    The one reading of STAR layout that :func:`star_loop_problem` and
    :func:`star_keep_rows` share: a ``data_`` line starts a block (its name
    without ``data_``; None before the first), ``loop_`` a loop, ``_`` lines
    are its labels until the first row, a ``_`` line after rows ends it; blank
    and ``#`` lines are neither. RELION reads a row a line.
    """
    block, labels, rows, in_loop = None, 0, 0, False
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            block, labels, rows, in_loop = line.split()[0][len("data_") :], 0, 0, False
        elif line.startswith("loop_"):
            labels, rows, in_loop = 0, 0, True
        elif line.startswith("_"):
            if in_loop and rows:  # a key-value pair after the loop ends it
                in_loop = False
            elif in_loop:
                labels += 1
        elif in_loop and labels:
            rows += 1
            yield index, block, labels


def star_loop_problem(text: str) -> str:
    """Where a STAR loop's rows and labels disagree, as ``"line N: K values, the loop of
    data_X has M labels"``; empty when every row fits.

    RELION reads a loop a line at a time, one value per label. starfile does
    not say which line is wrong ("Expected 2 fields in line 2", counted from
    the loop), and takes a row cut short as one with empty values: a trial's
    truncated row became a pick on a micrograph named after the file.
    """
    lines = text_lines(text)  # not splitlines: see text_lines
    for index, block, labels in _loop_rows(lines):
        line = lines[index]
        values = len(star_values(line))
        if values != labels:
            where = "its block" if block is None else f"data_{block}"
            return f"line {index + 1}: {values} values, the loop of {where} has {labels} labels"
    return _unlabelled_values(lines)


def _unlabelled_values(lines: Sequence[str]) -> str:
    """Values no label names (a ``data_`` block of bare rows without ``loop_`` and
    labels, a ``loop_`` without labels) and blocks with nothing in them, said as
    ``"line N: ..."``; empty when there are none.

    starfile raised its own internals on them ("cannot unpack non-iterable
    NoneType object", a trial's micrograph list without ``loop_``), or dropped
    the values without a word, or gave an empty block the next block's loop.
    """
    block, opened, content = None, 0, False
    loop = 0  # line of the open loop_ (0: none)
    labels = 0  # of the open loop; -1 once its rows began
    # the block's table so far: a loop_ or key/value pairs (RELION and starfile read one a
    # block; starfile read a second as rows of the first: "non-numeric value '#1'")
    table = ""
    second = (
        "{line}: data_{block} holds a second table ({what}): RELION and starfile read one "
        "table a data block (a loop_, or _label value pairs): give each its own data_ block"
    )

    def unfinished() -> str:
        if loop and labels == 0:
            return f"line {loop}: loop_ without labels in data_{block}"
        if not content:
            return f"line {opened}: data_{block} is empty (no loop_ with labels, no _label value)"
        return ""

    gap = 0  # a blank line between the open loop_ and its first label
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line and loop and labels == 0:
            gap = gap or index + 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            if block is not None and unfinished():
                return unfinished()
            block, opened = line.split()[0][len("data_") :], index + 1
            content, loop, labels, table = False, 0, 0, ""
        elif block is None and line.startswith(("loop_", "_")):
            return f"line {index + 1}: {line.split()[0]} before the first data_ block"
        elif line.startswith("loop_"):
            if unfinished().startswith(f"line {loop}: loop_"):
                return unfinished()
            if table:
                what = f"a loop_ after {table}"
                return second.format(line=f"line {index + 1}", block=block, what=what)
            loop, labels, table = index + 1, 0, f"the loop_ of line {index + 1}"
            gap = 0
        elif line.startswith("_"):
            content = True
            if loop and labels == 0 and gap:
                # starfile reads no loop then, and raised pandas' internals (a fuzz
                # test: "Length mismatch: Expected axis has 1 elements")
                return (
                    f"line {gap}: a blank line between loop_ (line {loop}) and its labels "
                    f"in data_{block}: starfile reads no loop from it; remove the blank line"
                )
            if loop and labels < 0:
                what = f"{line.split()[0]} after the rows of {table}"
                return second.format(line=f"line {index + 1}", block=block, what=what)
            if loop:
                labels += 1
                continue
            table = table or f"the _label value pairs from line {index + 1}"
            if len(star_values(line)) < 2:
                return (
                    f"line {index + 1}: {line.split()[0]} without a value outside a loop "
                    f"(no loop_ above it in data_{block}?)"
                )
        elif block is None or line.startswith(("stop_", ";")):
            continue  # before the first block (starfile skips it); STAR's stop_ and text fields
        elif loop and labels:
            labels = -1  # the rows have begun (star_loop_problem counts their values)
        elif loop:
            return f"line {index + 1}: values after loop_ without labels in data_{block}"
        else:
            return (
                f"line {index + 1}: values outside a loop: data_{block} has no loop_ and "
                "labels (_rlnName #1, ...) above them"
            )
    if block is None:
        return "no data_ block found (is it a STAR file?)"
    return unfinished()


#: A STAR value: quoted ("..." or '...', closed by the quote followed by white space or
#: the line's end, so a quote inside a value does not close it) or a run of non-blanks.
#: A quote opens a value only at its start: ``Mike's_mic.mrc`` is one value.
_STAR_VALUE = re.compile(r"""(?:"(?:[^"]|"(?=\S))*"(?=\s|$)|'(?:[^']|'(?=\S))*'(?=\s|$)|\S+)""")


def star_values(line: str) -> list[str]:
    """The values of one STAR loop row, as RELION and starfile split it; a value starting
    with ``#`` (outside quotes) starts a comment that runs to the line's end."""
    values = []
    for value in _STAR_VALUE.findall(line):
        if value.startswith("#"):
            break
        values.append(value)
    return values


def text_lines(text: str) -> list[str]:
    """``text`` split after each ``\\n``, line ends kept: ``"".join`` gives it back byte for
    byte (``\\r\\n`` too). Not :meth:`str.splitlines`, which also splits at characters
    (``\\x0c``, ``\\u2028``) that starfile and RELION take as part of a line."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def star_keep_rows(path: str | os.PathLike, text: str, block: str, keep: Sequence[bool]) -> str:
    """``text`` of the STAR file ``path`` with only the rows of ``data_<block>``'s loop
    that ``keep`` marks (one flag a row, in file order).

    Every other line is kept as it was: the other blocks (RELION's
    ``data_optics``), the labels, comments and the kept rows with their
    spacing and number formats, so a filtered file differs from its input
    only by the rows dropped.

    Raises
    ------
    RowMismatch
        The block's loop does not have one row per flag (``data_<block>`` is
        key-value pairs, or holds two loops): which rows ``keep`` means is
        then unknown.
    """
    lines = text_lines(text)
    rows = [index for index, name, _ in _loop_rows(lines) if name == block]
    return drop_rows(path, lines, rows, keep, f"the loop of data_{block} has {len(rows)} rows")


def drop_rows(
    path: str | os.PathLike,
    lines: Sequence[str],
    rows: Sequence[int],
    keep: Sequence[bool],
    what: str,
) -> str:
    """``lines`` joined without the rows (indices into ``lines``, one per flag of
    ``keep``) that ``keep`` does not mark; the text copies of STAR, BOX and CBOX files.

    Raises :class:`RowMismatch` (``"<path>: <what>, N picks were read"``) when
    ``rows`` and ``keep`` differ in length: which rows ``keep`` means is unknown.
    """
    if len(rows) != len(keep):
        raise RowMismatch(f"{path}: {what}, {len(keep)} picks were read")
    dropped = {index for index, kept in zip(rows, keep) if not kept}
    return "".join(line for index, line in enumerate(lines) if index not in dropped)


#: STAR labels read as text, never as numbers: micrograph ``0001`` (named by its stem, as
#: the package's own per-micrograph files and napari's writer name it) read as the number
#: 1, so its picks matched no micrograph (an interop trial).
STRING_LABELS: tuple[str, ...] = (
    "rlnMicrographName",
    "rlnMicrographCoordinates",
    "rlnMicrographMovieName",
    "rlnImageName",
)


def starfile_read(path: str | os.PathLike) -> dict[str, object]:
    """``starfile.read(path, always_dict=True)``, without keeping the file's lines, the
    names of :data:`STRING_LABELS` as text.

    starfile reads lines through :mod:`linecache` and clears it only when it
    succeeds: after a file failed, the same path read again (corrected, or
    another file written under its name) gave the old lines in that process.
    """
    import linecache

    import starfile

    try:
        return starfile.read(path, always_dict=True, parse_as_string=list(STRING_LABELS))
    finally:
        linecache.clearcache()


def _cr_line_ends_only(path: Path) -> bool:
    """Whether the file's lines end in CR alone (classic Mac OS): starfile reads them as
    one line ("no STAR data block found", or a parser error; a CLI trial)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False  # (the reader says why)
    return b"\r" in head and b"\n" not in head


def read_star_blocks(path: Path) -> dict[str, object]:
    """All blocks of a STAR file as ``{name: DataFrame | dict}``, errors as :class:`PickFileError`."""
    if _cr_line_ends_only(path):
        raise file_error(
            path,
            "its lines end in CR alone (an old Mac OS text file), which RELION and starfile "
            f"read as one line: convert the line ends, e.g. tr '\\r' '\\n' < {path.name} > "
            f"new{path.suffix}",
        )
    try:
        blocks = starfile_read(path)
    except Exception as exc:  # starfile/pandas raise many types on malformed text
        problem = star_loop_problem(read_text(path))  # not UTF-8: said so
        raise file_error(path, f"not a valid STAR file: {problem or exc}") from None
    text = read_text(path)  # not UTF-8: said so (starfile finds no data block in it)
    if not blocks:
        raise file_error(path, "no STAR data block found (is it a STAR file?)")
    problem = star_loop_problem(text)
    if problem:
        raise file_error(path, f"not a valid STAR file: {problem}")
    repeated_blocks(path, text)
    for name, block in blocks.items():
        if isinstance(block, pd.DataFrame):
            repeated_labels(block, path, str(name))
    return dict(blocks)


def repeated_blocks(path: Path, text: str | None = None) -> None:
    """A :class:`PickFileError` when a STAR file names one data block twice (``text``:
    the file's, when already read).

    starfile returns the blocks by name, so the later block would replace the
    earlier without a word (RELION reads the first): files joined with ``cat``
    lose picks either way. A trial trained on 3 of 5 picks of such a file.
    """
    text = read_text(path) if text is None else text
    names = re.findall(r"^\s*data_(\S*)", text, flags=re.MULTILINE)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        shown = ", ".join(f"data_{name} ({names.count(name)} times)" for name in repeated)
        raise file_error(
            path,
            f"names a data block more than once: {shown} (files joined into one?); "
            "keep one block per name, or give the files one by one",
        )


#: RELION's file-type suffix of an image name, ``mic.mrc:mrc`` (``FileName::getFileFormat``
#: reads the type after the colon; the types its image reader takes): not part of the name.
RELION_TYPE_SUFFIX = re.compile(
    r":(?:mrcs?|tiff?|spi|xmp|stk|vol|img|hed|eer|ecc|dm[34]?)$", re.IGNORECASE
)


def micrograph_stem(name: object) -> str:
    """``"MotionCorr/job002/mic_001.mrc"`` -> ``"mic_001"``; empty for missing names.

    Only micrograph suffixes (``.mrc``, ``.png``, ...) are stripped, so names
    with dots such as ``May08_03.05.02`` stay whole. RELION's type suffix
    (``mic_001.mrc:mrc``, :data:`RELION_TYPE_SUFFIX`) goes first: a CLI trial's
    ``rlnMicrographName`` ``mics/May08_04.32.27.mrc:mrc`` was the micrograph
    ``May08_04.32.27.mrc:mrc``, which matched no micrograph file.
    """
    from ..micrographs import MICROGRAPH_SUFFIXES

    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    text = RELION_TYPE_SUFFIX.sub("", str(name).strip())
    if not text or text == NA_TEXT:
        return ""
    base = text.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if dot and f".{suffix.lower()}" in MICROGRAPH_SUFFIXES:
        return stem
    return base


def names_column(frame: pd.DataFrame, column: str, path: str | os.PathLike) -> list[str]:
    """Micrograph names of ``frame[column]`` as stems, empty strings when the column is absent.

    A micrograph is known by its stem everywhere (pick files, evaluation,
    training), so two different names with one stem (``GridA/FoilHole_1.mrc``
    and ``GridB/FoilHole_1.mrc``) would merge two micrographs' picks: a
    :class:`PickFileError` naming ``path`` and both names.
    """
    if column not in frame.columns:
        return [""] * len(frame)
    values = frame[column].tolist()
    stem_of: dict[object, str] = {}  # a particles file repeats each name many times
    named: dict[str, str] = {}
    for value in values:
        if value in stem_of:
            continue
        stem = stem_of[value] = micrograph_stem(value)
        # (mic.mrc and RELION's mic.mrc:mrc are one file)
        text = RELION_TYPE_SUFFIX.sub("", str(value).strip())
        if stem and named.setdefault(stem, text) != text:
            raise file_error(
                path,
                f"micrograph names must be unique: {named[stem]!r} and {text!r} are both "
                f"micrograph {stem!r} (names are file names without folders)",
            )
    return [stem_of[value] for value in values]


def text_column(frame: pd.DataFrame, column: str, default: str) -> list[str]:
    """``frame[column]`` as stripped strings, ``default`` where absent or missing."""
    if column not in frame.columns:
        return [default] * len(frame)
    out = []
    for value in frame[column].tolist():
        text = (
            ""
            if value is None or (isinstance(value, float) and math.isnan(value))
            else str(value).strip()
        )
        out.append(default if text in ("", NA_TEXT) else text)
    return out
