"""RELION STAR coordinate files.

Read: RELION 3.0 files (one loop block, e.g. ``data_`` or ``data_images``),
RELION 3.1+ files with ``data_optics`` plus ``data_particles``, and per-
micrograph coordinate files (``data_`` block). The picks come from the one
block holding ``rlnCoordinateX``/``rlnCoordinateY``; a file with two such
blocks, or one block name twice, is refused with their names.
RELION's coordinate-file index (``autopick.star``: a ``data_coordinate_files``
table of ``rlnMicrographName`` and ``rlnMicrographCoordinates``, which
``cryopick relion`` writes too) reads as the picks of every file it lists,
each named after its micrograph.

Columns used (centres, pixels of the micrograph the file refers to):

=============================  ==============================================
``rlnCoordinateX/Y``           centre x (column) and y (row)
``rlnMicrographName``          micrograph (folder and suffix stripped)
``rlnAutopickFigureOfMerit``   score (RELION's FOM is not bounded to [0, 1]);
                               a pick with no score (added by hand) is
                               written ``-999``, as RELION's manual picker
                               does, and read back as no score
``rlnHelicalTubeID``           tube_id (1-based), kind ``fiber``
``cryopickDiameter``           diameter in pixels (napari-cryopick's own label)
``cryopickKind``               kind when not a plain particle (ours too)
=============================  ==============================================

RELION keeps labels it does not know and ignores them, but it prints
``+ WARNING: will ignore (but maintain) values for the unknown label`` on
standard error for every file it reads that has one (``MetaDataTable``'s
reader): Extract over a job's coordinate files said it once per micrograph,
in the job's ``run.err``. So particles that all have one diameter get it in
a comment line, ``# cryopickDiameter 56``, which RELION skips and
:func:`read` gives every pick; and the per-micrograph coordinate files that
picking writes for RELION (``cryopick pick``, ``cryopick relion``) give their
particles one diameter there, the median of the picks' (``diameter_comment``;
their own sizes are in the CSV and CBOX outputs). Other files (vesicles,
fibers, particles of several sizes) keep the column.
Origin offsets of refined particles (``rlnOriginXAngst``) are not applied; a file
with non-zero ones is said once a process (:data:`ORIGIN_SHIFT_ATTR`, read by
:func:`napari_cryopick.io.pickfiles.read_picks`).

:func:`write` writes the columns above only; :func:`keep_rows` copies a file
with some of its picks dropped and every other line as it was (what
``cryopick filter`` writes for a STAR input), so RELION's other blocks and
columns and its micrograph names (folders and suffixes) survive a filter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    SCORE_DECIMALS,
    RowMismatch,
    check_readable,
    file_error,
    format_number,
    names_column,
    numeric_column,
    read_star_blocks,
    read_text,
    star_block,
    star_keep_rows,
    text_column,
    tube_id_column,
)

logger = logging.getLogger(__name__)

NAME = "star"
SUFFIXES: tuple[str, ...] = (".star",)

DIAMETER_LABEL = "cryopickDiameter"
KIND_LABEL = "cryopickKind"
VERSION_LINE = "# version 30001"
#: The comment line that gives the one diameter of every pick of a file (RELION skips it).
DIAMETER_COMMENT = re.compile(rf"^# {DIAMETER_LABEL} (\S+)\s*$", re.MULTILINE)
#: Column of RELION's coordinate-file index (``autopick.star``, ``data_coordinate_files``).
INDEX_LABEL = "rlnMicrographCoordinates"


#: RELION's figure of merit for a pick with none (its manual picker writes it):
#: written for picks with no score, read back as no score (NaN). An empty or
#: ``<NA>`` field is not a number RELION can read.
NO_SCORE_FOM = -999.0
NO_SCORE_TEXT = "-999"


def coordinate_block(path: Path, blocks: dict[str, object]) -> pd.DataFrame:
    """The one block with RELION coordinate columns.

    Two such blocks (files joined, or a file of two jobs) would leave it open
    which picks are meant: a trial's file of two lost the second block's picks
    without a word, so that is an error naming the blocks.
    """
    return _coordinate_block(path, blocks)[1]


def _coordinate_block(path: Path, blocks: dict[str, object]) -> tuple[str, pd.DataFrame]:
    """:func:`coordinate_block` with its name (``"particles"`` for ``data_particles``)."""
    found = []
    for name, block in blocks.items():
        if isinstance(block, dict):
            block = pd.DataFrame([block])
        if isinstance(block, pd.DataFrame) and {"rlnCoordinateX", "rlnCoordinateY"} <= set(
            block.columns
        ):
            found.append((name, block))
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(f"data_{name} ({len(block)} rows)" for name, block in found)
        raise file_error(
            path,
            f"has {len(found)} blocks with rlnCoordinateX and rlnCoordinateY: {names}; "
            "a pick file holds one (split it into one file per block)",
        )

    def columns(block: object) -> str:
        # the columns too: a misspelt one is seen at once (a re-trial's _rlnCoordX)
        names = list(block) if isinstance(block, dict) else list(getattr(block, "columns", []))
        shown = ", ".join(map(str, names[:6])) + (", ..." if len(names) > 6 else "")
        return f" ({shown})" if names else ""

    listed = ", ".join(f"data_{name}{columns(block)}" for name, block in blocks.items())
    raise file_error(
        path, f"no block with rlnCoordinateX and rlnCoordinateY columns (blocks found: {listed})"
    )


def read(path: str | Path) -> pd.DataFrame:
    """Read picks from a RELION STAR file.

    Parameters
    ----------
    path
        STAR file (RELION 3.0 or 3.1+ layout, or a coordinate file).

    Returns
    -------
    pandas.DataFrame
        Project pick columns; ``micrograph`` is empty when the file does not
        name micrographs (per-micrograph coordinate files).
    """
    return _read(Path(path), listed_by=None)


def _read(path: Path, listed_by: Path | None) -> pd.DataFrame:
    """:func:`read`; ``listed_by``: the coordinate-file index that lists ``path``."""
    check_readable(path)
    blocks = read_star_blocks(path)
    index = blocks.get("coordinate_files")
    if isinstance(index, pd.DataFrame) and INDEX_LABEL in index.columns:
        if listed_by is not None:  # A lists B lists A ... would never end
            raise file_error(
                listed_by,
                f"lists {path}, itself a coordinate-file index (data_coordinate_files); "
                "an index lists coordinate files",
            )
        return _read_coordinate_index(path, index)
    block = coordinate_block(path, blocks)
    x = numeric_column(block, "rlnCoordinateX", path)
    y = numeric_column(block, "rlnCoordinateY", path)
    score = numeric_column(block, "rlnAutopickFigureOfMerit", path, required=False)
    score = np.where(score == NO_SCORE_FOM, np.nan, score)  # a manual pick
    diameter = numeric_column(block, DIAMETER_LABEL, path, required=False)
    if DIAMETER_LABEL not in block.columns:
        diameter = np.full(len(block), _comment_diameter(path))
    tube_id = tube_id_column(block, "rlnHelicalTubeID", path)
    names = names_column(block, "rlnMicrographName", path)
    if _start_end_pairs(block, tube_id):
        table = _fibers_from_pairs(path, block, names, x, y, tube_id, score, diameter)
    else:
        default_kind = np.where(tube_id > 0, "fiber", "particle")
        kinds = text_column(block, KIND_LABEL, "")
        kind = [k if k else d for k, d in zip(kinds, default_kind)]
        table = pd.DataFrame(
            {
                "micrograph": names,
                "x": x,
                "y": y,
                "diameter": diameter,
                "score": score,
                "kind": kind,
                "tube_id": tube_id,
            }
        )
    table.attrs[ORIGIN_SHIFT_ATTR] = _largest_origin_shift(block, path)
    return table


#: ``DataFrame.attrs`` key of :func:`read`'s tables: ``(largest |shift|, unit label)`` of
#: the refined origin shifts the file carries (not applied), or None.
ORIGIN_SHIFT_ATTR = "origin_shift"


def _largest_origin_shift(block: pd.DataFrame, path: Path) -> tuple[float, str] | None:
    """The largest refined shift of ``block`` (``rlnOriginXAngst``/``YAngst`` in Å, or
    RELION 3.0's ``rlnOriginX``/``Y`` in pixels) and its labels; None: none, or all 0."""
    for labels, unit in (
        (("rlnOriginXAngst", "rlnOriginYAngst"), "Å"),
        (
            ("rlnOriginX", "rlnOriginY"),
            "px",
        ),
    ):
        present = [label for label in labels if label in block.columns]
        if not present:
            continue
        values = np.concatenate(
            [numeric_column(block, label, path, required=False) for label in present]
        )
        values = np.abs(values[np.isfinite(values)])
        if values.size and values.max() > 0:
            return float(values.max()), f"{'/'.join(present)}, up to {values.max():.3g} {unit}"
    return None


def _comment_diameter(path: Path) -> float:
    """The diameter of a ``# cryopickDiameter D`` line before the data (NaN: none)."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096)
    found = DIAMETER_COMMENT.search(head)
    if found is None:
        return float("nan")
    try:
        value = float(found.group(1))
    except ValueError:
        value = float("nan")
    if np.isfinite(value) and value > 0:
        return value
    # (an I/O trial's "abc", -3 and nan were left out without a word)
    logger.warning(
        "%s: '# %s %s' is not a positive number of pixels: the picks have no diameter",
        path,
        DIAMETER_LABEL,
        found.group(1),
    )
    return float("nan")


def keep_rows(path: str | Path, keep: np.ndarray) -> str:
    """The text of STAR pick file ``path`` with only the picks ``keep`` marks.

    ``keep`` has one flag per pick :func:`read` returns, which are the rows
    of the coordinate block in file order. Everything else stays as written
    (:func:`~napari_cryopick.io.formats.star_keep_rows`): a RELION 3.1
    particles file keeps ``data_optics``, ``rlnImageName``, the angles, the
    origins and the micrograph names with their folders and suffixes, which
    RELION matches to its micrographs; :func:`write` keeps none of these.

    Raises
    ------
    RowMismatch
        The picks read are not the file's rows: helical start-end pairs (read
        as one fiber each), a coordinate-file index (the picks of the files it
        lists), picks as key-value pairs.
    """
    path = Path(path)
    blocks = read_star_blocks(path)
    index = blocks.get("coordinate_files")
    if isinstance(index, pd.DataFrame) and INDEX_LABEL in index.columns:
        raise RowMismatch(f"{path}: a coordinate-file index holds no picks of its own")
    name, block = _coordinate_block(path, blocks)
    if _start_end_pairs(block, tube_id_column(block, "rlnHelicalTubeID", path)):
        raise RowMismatch(
            f"{path}: its helical start-end pairs are read as one fiber each, not as its rows"
        )
    return star_keep_rows(path, read_text(path, newline=""), name, keep)


def _start_end_pairs(block: pd.DataFrame, tube_id: np.ndarray) -> bool:
    """Whether a block is RELION helical start-end pairs with tube ids (what ``cryopick
    pick --kind fiber --format star`` writes), not fiber vertices (``write`` gives those
    ``cryopickKind``) or extracted segments (priors).

    RELION's own manual picking writes a helix's start and end with no tube id, in the
    very layout of its manually picked particles: such a file reads as points here
    (``filaments.read_relion_helical`` and training with ``--kind fiber`` pair it).
    """
    from ..filaments import FIBER_LABEL, SEGMENT_LABELS

    if FIBER_LABEL in block.columns:
        return True
    if not (tube_id > 0).any() or KIND_LABEL in block.columns or len(block) % 2:
        return False
    if any(label in block.columns for label in SEGMENT_LABELS):
        return False
    # every pair within one tube: a segment file of X, Y and tube id alone (as
    # napari-boxmanager writes them) has any number of rows per tube
    return bool((tube_id[0::2] == tube_id[1::2]).all())


def _fibers_from_pairs(
    path: Path,
    block: pd.DataFrame,
    names: list[str],
    x: np.ndarray,
    y: np.ndarray,
    tube_id: np.ndarray,
    score: np.ndarray,
    diameter: np.ndarray,
) -> pd.DataFrame:
    """Start-end pairs as the vertices of one path per fiber (joints once), with the
    score and width of each fiber's first row and tube ids 1.. per micrograph."""
    from ..filaments import FIBER_LABEL, start_end_paths

    ids = tube_id.astype(np.float64)
    if FIBER_LABEL in block.columns:
        ids = numeric_column(block, FIBER_LABEL, path)
    rows: dict[str, list] = {k: [] for k in ("micrograph", "x", "y", "diameter", "score")}
    tubes: list[int] = []
    counts: dict[str, int] = {}
    for name, vertices, first in start_end_paths(path, names, x, y, ids):
        counts[name] = counts.get(name, 0) + 1
        n = len(vertices)
        rows["micrograph"] += [name] * n
        rows["x"] += vertices[:, 0].tolist()
        rows["y"] += vertices[:, 1].tolist()
        rows["diameter"] += [float(diameter[first])] * n
        rows["score"] += [float(score[first])] * n
        tubes += [counts[name]] * n
    return pd.DataFrame(
        {**rows, "kind": ["fiber"] * len(tubes), "tube_id": np.asarray(tubes, np.int64)}
    )


@dataclass(frozen=True)
class CoordinateIndex:
    """A RELION coordinate-file index (``data_coordinate_files``) as read.

    ``entries``: ``(rlnMicrographName, coordinate file, problem)`` per row;
    a row whose file cannot be found has file ``None`` and says why in
    ``problem`` (else ``""``). ``project_dir``: the folder its relative paths
    start from (RELION's project), None when they are all absolute.
    """

    entries: list[tuple[str, Path | None, str]]
    project_dir: Path | None

    def tiff_micrographs(self) -> list[tuple[str, Path | None]]:
        """``(micrograph name, coordinate file)`` of the rows naming TIFF micrographs, whose
        coordinates RELION counts in its own frame (:data:`RELION_TIFF_Y`)."""
        from napari_cryopick.io.micrographs import is_tiff

        return [(name, file) for name, file, _problem in self.entries if is_tiff(name)]


#: Why coordinates of TIFF micrographs in RELION's files differ from everyone else's.
RELION_TIFF_Y = (
    "RELION counts their y from the image's last row (it reads TIFF images flipped), as "
    "crYOLO, EMAN2 and napari-boxmanager count it in BOX and CBOX files; napari, Topaz and "
    "cryopick pick count it from the first row"
)


def relion_tiff_indexes(items: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """``(index, first TIFF micrograph)`` of each RELION coordinate index among ``items``
    (STAR files, or folders holding a RELION job's ``autopick.star``) that lists TIFF
    micrographs, whose coordinates count y in RELION's frame (:data:`RELION_TIFF_Y`).
    Unreadable files are left out (said when they are read)."""
    from napari_cryopick.io.paths import _expand_patterns

    found = []
    try:  # quoted wildcards as the commands expand them (a review: the warning was skipped)
        items = _expand_patterns(items)
    except FileNotFoundError:
        items = [item for item in items if Path(item).exists()]  # (said when read)
    for item in items:
        index_path, index = coordinate_index_of(item)
        tiffs = index.tiff_micrographs() if index is not None else []
        if tiffs:
            found.append((index_path, tiffs[0][0]))
    return found


def coordinate_index_of(item: str | Path) -> tuple[Path, CoordinateIndex | None]:
    """``(index file, its rows)`` of ``item``: a STAR file, or a folder holding a RELION
    job's ``autopick.star``; rows None for anything that is no readable coordinate-file
    index (said where its picks are read). A file whose head (64 KiB) names no
    ``data_coordinate_files`` block is not parsed: a wildcard of thousands of pick files
    is read once, by their reader."""
    path = Path(item)
    index_path = path / "autopick.star" if path.is_dir() else path
    if index_path.suffix.lower() != ".star" or not index_path.is_file():
        return index_path, None
    try:
        with open(index_path, "rb") as handle:
            if b"data_coordinate_files" not in handle.read(1 << 16):
                return index_path, None
        return index_path, read_coordinate_index(index_path)
    except (ValueError, OSError):
        return index_path, None


def read_coordinate_index(path: str | Path) -> CoordinateIndex | None:
    """The rows of a coordinate-file index, or ``None`` for an ordinary pick file.

    The names are as written (folders kept: RELION matches them to its
    micrograph list). RELION 4/5 (and ``cryopick relion``) write the listed
    paths relative to the project folder: the nearest folder above ``path``
    in which they exist (:func:`napari_cryopick.io.paths.find_project_dir`).
    One missing file does not hide the others (its row says why).
    """
    path = Path(path)
    check_readable(path)
    index = read_star_blocks(path).get("coordinate_files")
    if not (isinstance(index, pd.DataFrame) and INDEX_LABEL in index.columns):
        return None
    names = text_column(index, "rlnMicrographName", "")
    files, project = _index_files(path, index)
    return CoordinateIndex([(n, *found) for n, found in zip(names, files)], project)


def _pick_suffixes() -> set[str]:
    """The suffixes of the pick files the project reads (``.star``, ``.box``, ...)."""
    from ..pickfiles import FORMATS, READ_ONLY_FORMATS

    return {
        s for module in (*FORMATS.values(), *READ_ONLY_FORMATS.values()) for s in module.SUFFIXES
    }


def _index_files(
    path: Path, index: pd.DataFrame
) -> tuple[list[tuple[Path | None, str]], Path | None]:
    """``(file, problem)`` of each row (the file, or None and why), and the project folder."""
    from ..paths import find_project_dir

    files: list[tuple[Path | None, str]] = []
    first_project = None
    for row, file in enumerate(text_column(index, INDEX_LABEL, ""), start=1):
        listed = Path(file)
        if not listed.is_absolute():
            project = find_project_dir(path, file) if file else None
            if project is None:
                files.append(
                    (
                        None,
                        f"data row {row}: coordinate file {file!r} is in no folder above this "
                        "file (RELION's project folder)",
                    )
                )
                continue
            first_project = first_project or project
            listed = project / listed
        if listed.resolve() == path.resolve():
            files.append((None, f"data row {row}: the coordinate file listed is this file"))
            continue
        if listed.is_dir():  # (named as a missing file is: the index and its row)
            files.append((None, f"data row {row}: coordinate file {file!r} is a folder"))
            continue
        if listed.suffix.lower() not in _pick_suffixes():
            files.append(
                (None, f"data row {row}: coordinate file {file!r} is not a pick file (its suffix)")
            )
            continue
        files.append((listed, ""))
    if first_project is not None:  # the project folder is known: the file is just missing
        texts = text_column(index, INDEX_LABEL, "")
        for row, (found, problem) in enumerate(files):
            if found is None and problem.endswith("(RELION's project folder)"):
                files[row] = (
                    None,
                    f"data row {row + 1}: coordinate file {texts[row]!r} is missing (not in "
                    f"the project folder {first_project}, where the other rows' files are)",
                )
    return files, first_project


def read_listed(path: str | Path, name: str, listed_by: str | Path) -> pd.DataFrame:
    """The picks of one coordinate file that the index ``listed_by`` lists for micrograph ``name``."""
    picks = _read(Path(path), listed_by=Path(listed_by))
    if name:
        picks["micrograph"] = [n or name for n in picks["micrograph"].astype(str)]
    return picks


def _read_coordinate_index(path: Path, index: pd.DataFrame) -> pd.DataFrame:
    """The picks of every coordinate file a ``data_coordinate_files`` table lists, by micrograph."""
    names = names_column(index, "rlnMicrographName", path)
    tables = []
    for name, (file, problem) in zip(names, _index_files(path, index)[0]):
        if file is None:
            raise file_error(path, problem)
        tables.append(read_listed(file, name, path))
    frames = [t for t in tables if len(t)]
    if not frames:
        from ...core.pick_table import empty_picks

        return empty_picks()
    return pd.concat(frames, ignore_index=True)


def write(
    table: pd.DataFrame,
    path: str | Path,
    *,
    micrograph_names: bool | None = None,
    micrograph_suffix: str = "",
    decimals: int = 3,
    diameter_comment: bool | None = None,
    scores: bool | None = None,
) -> None:
    """Write picks as a RELION STAR file (one ``data_`` loop block).

    Parameters
    ----------
    table
        Normalized pick table in the file's pixel grid.
    path
        Destination.
    micrograph_names
        Write ``rlnMicrographName``. ``None`` (default): when any pick has a
        micrograph name. ``False`` gives a per-micrograph coordinate file as
        RELION's picker writes them.
    micrograph_suffix
        Appended to names in ``rlnMicrographName`` (e.g. ``".mrc"``) so that
        they match the micrograph file names RELION knows.
    decimals
        Decimals for coordinates and scores (trailing zeros dropped).
    diameter_comment
        Give the picks one diameter, the median of theirs, in a ``# cryopickDiameter``
        comment instead of a column RELION does not know (particles only). ``None``
        (default): when the particles' diameters are all one (nothing is lost).
    scores
        Write ``rlnAutopickFigureOfMerit``. ``None`` (default): when any pick has a score;
        a picker's run gives True, so that a micrograph without picks has the labels of
        the run's other files (a CLI trial's empty file lacked the FOM column).
    """
    names = table["micrograph"].astype(str).tolist()
    if micrograph_names is None:
        micrograph_names = any(names)
    columns: list[tuple[str, list[str]]] = [
        ("rlnCoordinateX", [format_number(v, decimals) for v in table["x"]]),
        ("rlnCoordinateY", [format_number(v, decimals) for v in table["y"]]),
    ]
    if micrograph_names:
        columns.append(("rlnMicrographName", [f"{n}{micrograph_suffix}" for n in names]))
    if scores is None:
        scores = bool(np.isfinite(table["score"].to_numpy(float)).any())
    if scores:
        columns.append(
            (
                "rlnAutopickFigureOfMerit",
                [
                    format_number(v, max(decimals, SCORE_DECIMALS))
                    if np.isfinite(v)
                    else NO_SCORE_TEXT
                    for v in table["score"].to_numpy(float)
                ],
            )
        )
    if (table["tube_id"].to_numpy() > 0).any():
        columns.append(("rlnHelicalTubeID", [str(int(v)) for v in table["tube_id"]]))
    kinds = table["kind"].astype(str).tolist()
    diameters = table["diameter"].to_numpy(float)
    written = [format_number(v, decimals) for v in diameters]
    if diameter_comment is None:
        diameter_comment = np.isfinite(diameters).all() and len(set(written)) == 1
    comment = ""
    if np.isfinite(diameters).any():
        if diameter_comment and set(kinds) <= {"particle"}:
            # a comment RELION skips: an unknown label is a warning on standard error for
            # every file RELION reads (Extract: once per micrograph)
            median = float(np.median(diameters[np.isfinite(diameters)]))
            comment = f"# {DIAMETER_LABEL} {format_number(median, decimals)}\n"
        else:
            columns.append((DIAMETER_LABEL, written))
    if any(k != "particle" for k in kinds):
        columns.append((KIND_LABEL, kinds))
    labels = [name for name, _ in columns]
    rows = zip(*(values for _, values in columns))
    text = "\n" + VERSION_LINE + "\n" + comment + star_block("", labels, rows)
    Path(path).write_text(text, encoding="utf-8")
