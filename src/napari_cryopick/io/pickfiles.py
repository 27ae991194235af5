"""Reading and writing pick files: one interface over every format.

:func:`read_picks` and :func:`write_picks` dispatch to the format modules in
:mod:`napari_cryopick.io.formats` (``star``, ``box``, ``cbox``, ``topaz``,
``csv``) and do the parts every format shares: format detection, the change of
pixel grid for binned micrographs, the explicit y flip, naming the micrograph
of per-micrograph files, and atomic writing. Tables come back in the project
convention of :mod:`napari_cryopick.core.pick_table` (centres, original pixels).
:func:`write_kept_rows` copies a STAR, BOX or CBOX file with some picks
dropped and everything else as written, for the columns, blocks, names and
box sizes the pick table has no place for (``cryopick filter``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from ..core import pick_table as _picks
from .atomic import atomic_path, atomic_write_bytes
from .formats import (
    CRYOSPARC_UID,
    PickFileError,
    RowMismatch,
    blank_reason,
    comment_line,
    file_error,
    micrograph_stem,
    other_encoding,
    other_encoding_error,
)
from .formats import box as _box
from .formats import cbox as _cbox
from .formats import cryosparc as _cryosparc
from .formats import csv as _csv
from .formats import star as _star
from .formats import topaz as _topaz

__all__ = [
    "BOXED_FORMATS",
    "FORMATS",
    "MULTI_MICROGRAPH_FORMATS",
    "PickFileError",
    "RowMismatch",
    "box_size_of",
    "check_pick_values",
    "detect_format",
    "match_micrograph",
    "match_name",
    "micrograph_picks_in_folder",
    "picks_on_micrograph",
    "read_pick_files",
    "read_pick_files_and_names",
    "read_picks",
    "write_kept_rows",
    "write_picks",
    "write_picks_per_micrograph",
    "y_from_last_row",
]

logger = logging.getLogger(__name__)
#: Warnings given once a process (see read_picks).
_SAID = {"scores": False, "origins": False, "box columns": False}

FORMATS: dict[str, ModuleType] = {
    module.NAME: module for module in (_star, _box, _cbox, _topaz, _csv)
}
# Formats that are read but never written: cryoSPARC's particles .cs (picks go back to
# cryoSPARC as one STAR file, io.cryosparc.write_import_star).
READ_ONLY_FORMATS: dict[str, ModuleType] = {_cryosparc.NAME: _cryosparc}
# Formats whose files can name the micrograph of every pick.
MULTI_MICROGRAPH_FORMATS: tuple[str, ...] = ("star", "topaz", "csv")
# Formats that write a box around each pick (``box_size`` of :func:`write_picks`).
BOXED_FORMATS: tuple[str, ...] = ("box", "cbox")
# Formats whose readers return a file's data rows one to one, in order, so that
# :func:`write_kept_rows` can drop rows and keep the rest of the file as it was.
ROW_FORMATS: tuple[str, ...] = ("star", "box", "cbox")
# Formats whose readers count the y of TIFF micrographs from the image's last row: RELION
# (STAR), crYOLO, EMAN2 and napari-boxmanager (BOX, CBOX); ``cryopick pick --flip-tiff-y``
# and the Pick widget's box write them so (docs/file-conventions.md).
TIFF_Y_FROM_LAST_ROW_FORMATS: tuple[str, ...] = ("star", "box", "cbox")


def y_from_last_row(format: str, micrograph: Any) -> bool:
    """Whether the readers of ``format`` files count the y of the micrograph file
    ``micrograph`` from the image's last row: TIFF in STAR, BOX and CBOX (RELION, crYOLO,
    EMAN2, napari-boxmanager), JPEG in BOX and CBOX (crYOLO)."""
    from napari_cryopick.io.micrographs import is_jpeg, is_tiff

    return format in TIFF_Y_FROM_LAST_ROW_FORMATS and (
        is_tiff(micrograph) or (format != "star" and is_jpeg(micrograph))
    )


def _first_line(path: Path) -> str:
    """The first non-blank line, decoded alone: a byte that is no UTF-8 further down (an
    I/O fuzz's Latin-1 micrograph name in a row) leaves the header readable, so the file
    is read as its format and its error names that byte, not "cannot tell the format"."""
    try:
        with path.open("rb") as handle:
            for raw in iter(lambda: handle.readline(1 << 20), b""):  # (a line at most 1 MiB)
                line = raw.decode("utf-8", errors="replace").lstrip("\ufeff")  # (no BOM)
                if line.strip() and not comment_line(line):  # (a CSV's comments, skipped)
                    return line
    except OSError:
        return ""
    return ""


def detect_format(path: str | os.PathLike) -> str:
    """Name of the format of a pick file, from its suffix (and header for ``.txt``).

    ``.star`` -> ``star``, ``.box`` -> ``box``, ``.cbox`` -> ``cbox``,
    ``.csv`` -> ``csv``, ``.cs`` -> ``cryosparc`` (particles, read only); a ``.txt`` file is ``topaz`` when its header starts
    with ``image_name x_coord y_coord`` and ``csv`` when it is a
    comma-separated table with ``x`` and ``y`` columns.

    Raises
    ------
    PickFileError
        Unknown suffix, or a ``.txt`` file whose header matches no format.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if not path.exists():
            raise file_error(path, "file does not exist")
        reason = blank_reason(path) if path.is_file() else None
        if reason is not None:
            raise file_error(path, reason)
        other = other_encoding(path) if path.is_file() else None
        header = other[1] if other is not None else _first_line(path)
        name = None
        if _topaz.looks_like_topaz(header):
            name = _topaz.NAME
        elif _csv.looks_like_csv_picks(header):
            name = _csv.NAME
        if name is not None and other is not None:
            # a UTF-16 Topaz file (Windows' "Unicode" save) was "cannot tell the pick
            # format", and a folder of clicks left it out as notes; UTF-16 notes (a
            # PowerShell README) stay notes
            raise other_encoding_error(path, other[0])
        if name is not None:
            return name
        raise file_error(
            path,
            "cannot tell the pick format of this .txt file: expected a Topaz header "
            "'image_name<TAB>x_coord<TAB>y_coord' or a CSV header with x and y",
        )
    if suffix == ".tab":  # Topaz's other suffix of coordinate files (no CSV is .tab)
        return _topaz.NAME
    for name, module in {**FORMATS, **READ_ONLY_FORMATS}.items():
        if name != _topaz.NAME and suffix in module.SUFFIXES:
            return name
    known = sorted(
        {s for module in (*FORMATS.values(), *READ_ONLY_FORMATS.values()) for s in module.SUFFIXES}
    )
    hint = ""
    from napari_cryopick.io.paths import NAPARI_ANNOTATIONS_HINT, is_annotation_file

    if is_annotation_file(path):
        hint = NAPARI_ANNOTATIONS_HINT
    raise file_error(
        path, f"unknown pick file suffix '{path.suffix}' (known: {', '.join(known)}){hint}"
    )


def _module(format: str | None, path: Path, *, reading: bool = False) -> ModuleType:
    name = detect_format(path) if format is None else format.lower()
    known = {**FORMATS, **READ_ONLY_FORMATS} if reading else FORMATS
    if name not in known:
        raise ValueError(f"unknown pick format {format!r}; choose one of {', '.join(known)}")
    return known[name]


def read_picks(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    binning: float = 1.0,
    flip_y_height: float | None = None,
    micrograph: str | None = None,
) -> pd.DataFrame:
    """Read a pick file into the project's pick table.

    Parameters
    ----------
    path
        Pick file.
    format
        ``"star"``, ``"box"``, ``"cbox"``, ``"topaz"`` or ``"csv"``; ``None``
        detects it (:func:`detect_format`).
    binning
        The file's coordinates refer to the micrograph binned by this factor
        (e.g. Topaz run on micrographs downsampled with ``-s 4``); positions
        and diameters are converted to original pixels with
        :func:`napari_cryopick.core.pick_table.binned_to_original` (block
        averaging: pixel centres), Topaz files by Topaz's own rule
        ``x = S * x_ds`` (its Fourier cropping keeps pixel 0 at pixel 0).
    flip_y_height
        When given, mirror the picks top-bottom on a micrograph of this many
        rows (original pixels) after the binning conversion, for files whose
        y axis points up. Never applied unless asked for.
    micrograph
        Name for picks whose file does not name their micrograph (``.box``,
        ``.cbox``, per-micrograph STAR); for files that name micrographs,
        only that micrograph's picks are kept. ``None``: the file's names, or
        the file stem where the file has none.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`napari_cryopick.core.pick_table.PICK_COLUMNS`, centres in
        original pixels; an empty table for a valid file without picks.

    Raises
    ------
    PickFileError
        Missing, empty or malformed file (missing columns, non-numeric values,
        no coordinate block), and picks that cannot be right: an infinite
        coordinate, a zero, negative or infinite diameter or box size, an
        infinite score. The message names the file and the data row.
    """
    path = Path(path)
    module = _module(format, path, reading=True)
    table = module.read(path)
    check_pick_values(table, path)
    scores = table["score"].to_numpy(np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size and (scores.min() < 0 or scores.max() > 1) and not _SAID["scores"]:
        _SAID["scores"] = True  # once a process: a folder of such files said it a file each
        logger.warning(
            "%s: scores from %g to %g, outside 0-1: thresholds (--threshold, the widgets') "
            "are probabilities from 0 to 1 (said once; other files may hold such scores too)",
            path,
            scores.min(),
            scores.max(),
        )
    shift = table.attrs.get(_star.ORIGIN_SHIFT_ATTR)
    if shift is not None and not _SAID["origins"]:
        _SAID["origins"] = True  # once a process, as the scores
        logger.warning(
            "%s: its particles carry refined shifts (%s) that are not applied: the "
            "coordinates are read as they are (said once; other files may carry shifts "
            "too); re-centred positions come from RELION's Extract with 're-center refined "
            "coordinates'",
            path,
            shift[1],
        )
    boxes = table.attrs.get(_csv.BOX_COLUMNS_ATTR)
    if boxes and not _SAID["box columns"]:
        _SAID["box columns"] = True  # once a process, as the scores
        logger.warning(
            "%s: its column(s) %s are not read, and its x,y are read as the centres of the "
            "picks: a CSV gives x,y (centres), diameter, score and micrograph columns "
            "(docs/file-conventions.md). If x,y are the top-left corners of boxes, add half "
            "the box to each and name the box size 'diameter' (said once; other files may "
            "have such columns too)",
            path,
            ", ".join(boxes),
        )
    names = table["micrograph"].astype(str)
    unnamed = names == ""
    if micrograph is not None:
        wanted = micrograph_stem(micrograph) or str(micrograph)
        table.loc[unnamed, "micrograph"] = wanted
        table = table[table["micrograph"].astype(str) == wanted]
    elif unnamed.any():
        table.loc[unnamed, "micrograph"] = path.stem
    table = _picks.normalize_picks(table)
    if binning != 1.0:
        _check_binning(binning)
        # block averaging's pixel centres, unless the format says otherwise (Topaz)
        block = getattr(module, "BLOCK_BINNING", True)
        table = _picks.binned_to_original(table, binning, block=block)
    if flip_y_height is not None:
        table = _picks.flip_y(table, flip_y_height)
    return table


def drop_point_fibers(table: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """``table`` without its fibers of fewer than two distinct points (a tube of one row,
    an unpaired start-end row), said with the file, micrograph and tube: napari cannot
    draw them as paths, and opened none of the file's fibers beside one (a trial).
    :func:`read_picks` keeps them: a segment of an extracted particles file is a point
    on a fiber, and after 2D classification many tubes keep one."""
    from napari_cryopick.core.fibers import point_fibers

    bad = point_fibers(table)
    if not len(bad):
        return table
    keys = set(zip(bad["micrograph"].astype(str), bad["tube_id"].astype(int)))
    rows = [
        (str(m), int(t)) in keys for m, t in zip(table["micrograph"], table["tube_id"], strict=True)
    ]
    said = ", ".join(
        f"tube {t}" + (f" of {m}" if m and m != Path(path).stem else "")
        for m, t in sorted(keys)[:5]
    )
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    logger.warning(
        "%s: %s fiber%s of one point (no path: a fiber needs a start and an end) left out: %s%s",
        path,
        len(keys),
        "" if len(keys) == 1 else "s",
        said,
        more,
    )
    return table[~np.asarray(rows, bool)].reset_index(drop=True)


def match_name(file_stem: str, names: Collection[str]) -> str | None:
    """Micrograph name for a pick file: exact, else the longest ``name + _/-/.`` prefix.

    ``mic_001_autopick`` and ``mic_001_manualpick`` (RELION), ``mic_001-picks``
    or ``mic_001.mrc`` match ``mic_001``. Failing that, the one micrograph
    whose name extends the file's by ``_/-/.`` and more: ``mic_001`` matches
    ``mic_001_DW`` (MotionCor2's dose-weighted sums, picked before they were
    renamed), unless several names do. None when no name fits.
    """
    if file_stem in names:
        return file_stem
    candidates = [n for n in names if n and file_stem.startswith(n) and file_stem[len(n)] in "_-."]
    if candidates:
        return max(candidates, key=len)
    longer = [
        n for n in names if file_stem and n.startswith(file_stem) and n[len(file_stem)] in "_-."
    ]
    return longer[0] if len(longer) == 1 else None


def match_micrograph(table: pd.DataFrame, names: Collection[str]) -> pd.DataFrame:
    """Picks of a per-micrograph file renamed after the micrograph of ``names`` it belongs to.

    A file whose picks all carry one name that is not in ``names`` (a
    per-micrograph file is named after its file, ``mic_001_autopick.star``)
    takes the name :func:`match_name` finds; a file whose rows name several
    micrographs, none of them known, gives each row the name :func:`match_name` finds
    for it, when no two names take one micrograph's; a file that names a known
    micrograph is left as it is (rows naming another micrograph are never
    reassigned). The one rule of ``cryopick train`` and ``cryopick evaluate``.
    """
    in_file = set(table["micrograph"].astype(str))
    known = set(names)
    if len(in_file) == 1 and not in_file & known:
        match = _match_with_uid(next(iter(in_file)), known)
        return table if match is None else table.assign(micrograph=match)
    # several micrographs: those named as cryoSPARC names them (a particles .cs:
    # <uid>_<micrograph>_patch_aligned_doseweighted) take the plain names they carry (a
    # trial's evaluate against plain-named truth "shared no micrograph name")
    renames = {}
    for name in in_file - known:
        bare = CRYOSPARC_UID.sub("", name)
        if bare != name and (match := match_name(bare, known)) is not None:
            renames[name] = match
    if not renames and not in_file & known:
        # rows of several micrographs, none of them given by its name: each takes the
        # name a file of its name would (EPU's FoilHole_..._120000 rows for the
        # FoilHole_..._120000_fractions micrographs: a CLI trial's STAR was refused, its
        # CBOX files of the same names matched), where no two take one micrograph's
        found = {name: match_name(name, known) for name in in_file}
        targets = [match for match in found.values() if match is not None]
        if targets and len(set(targets)) == len(targets):
            renames = {name: match for name, match in found.items() if match is not None}
    if not renames:
        return table
    return table.assign(micrograph=table["micrograph"].astype(str).replace(renames))


def _match_with_uid(name: str, names: Collection[str]) -> str | None:
    """:func:`match_name`, else the same without cryoSPARC's UID prefix."""
    match = match_name(name, names)
    bare = CRYOSPARC_UID.sub("", name)
    if match is None and bare != name:
        match = match_name(bare, names)
    return match


#: Suffixes a folder's pick files are looked for with, in order of preference.
FOLDER_PICK_SUFFIXES: tuple[str, ...] = (".star", ".cbox", ".box", ".txt", ".tab", ".csv")
#: A folder with at most this many pick files is also searched for rows naming a
#: micrograph in files of several micrographs (a ``particles.star``); larger folders
#: are per-micrograph files, read only by name.
MAX_SHARED_FILES = 50


def micrograph_picks_in_folder(
    folder: str | os.PathLike, names: Collection[str]
) -> tuple[dict[str, tuple[Path, pd.DataFrame]], list[str]]:
    """The picks of each micrograph of ``names`` in ``folder``, and the problems met.

    For each name: ``<name>.star`` (then ``.cbox``, ``.box``, ``.txt``, ``.csv``);
    else a file named after it as RELION and others name per-micrograph files
    (:func:`match_name`: ``<name>_autopick.star``); else, in a folder of at most
    :data:`MAX_SHARED_FILES` pick files, the rows naming it in the files of
    several micrographs (STAR, Topaz, CSV; :func:`match_micrograph` rules, cryoSPARC's
    prefixed names included). A trial's ``063_autopick.star`` was skipped unsaid and a
    ``particles.star`` of every micrograph could not be loaded.
    """
    folder = Path(folder)
    order = {suffix: i for i, suffix in enumerate(FOLDER_PICK_SUFFIXES)}
    try:
        files = sorted(
            (f for f in folder.iterdir() if f.suffix.lower() in order and f.is_file()),
            key=lambda f: (order[f.suffix.lower()], f.name),
        )
    except OSError as exc:
        return {}, [f"{folder}: {exc.strerror or exc}"]
    wanted = list(dict.fromkeys(str(n) for n in names))
    found: dict[str, tuple[Path, pd.DataFrame]] = {}
    problems: list[str] = []
    chosen: dict[str, Path] = {}
    for name in wanted:
        exact = [f for f in files if f.stem == name]
        # among every name asked for: mic_1_b.star is mic_1_b's with both open, not
        # mic_1's too (a review: one file loaded onto two micrographs)
        named = exact or [f for f in files if match_name(f.stem, wanted) == name]
        if named:
            chosen[name] = named[0]
    for name, path in chosen.items():
        try:
            found[name] = (path, read_picks(path, micrograph=name))
        except (PickFileError, ValueError, OSError) as exc:
            problems.append(str(exc))
            continue
        # the fibers cryopick writes beside a micrograph's points (<name>_fibers.star next
        # to <name>.star): a review's Load picks read the points alone
        companion = path.with_name(f"{name}_fibers{path.suffix}")
        if path.stem == name and companion.is_file():
            try:
                fibers = read_picks(companion, micrograph=name)
            except (PickFileError, ValueError, OSError) as exc:
                problems.append(str(exc))  # (its points stay)
                continue
            found[name] = (path, pd.concat([found[name][1], fibers], ignore_index=True))
    rest = [n for n in wanted if n not in chosen]
    # a RELION job folder: its index (autopick.star) lists each micrograph's coordinate
    # file below it (a re-trial's Load picks of AutoPick/job006 found nothing)
    for index_path in [f for f in files if f.suffix.lower() == ".star"]:
        if not rest:
            break
        try:
            index = _star.read_coordinate_index(index_path)
        except (PickFileError, ValueError, OSError):
            continue
        if index is None:
            continue
        for listed_name, file, _problem in index.entries:
            name = match_name(micrograph_stem(listed_name) or listed_name, rest)
            if name is None or file is None:
                continue
            try:
                found[name] = (file, read_picks(file, micrograph=name))
            except (PickFileError, ValueError, OSError) as exc:
                problems.append(str(exc))
            chosen[name] = file
            rest = [n for n in rest if n != name]
    shared = [f for f in files if f not in chosen.values()]
    if rest and len(files) <= MAX_SHARED_FILES:
        for path in shared:
            try:
                if detect_format(path) not in MULTI_MICROGRAPH_FORMATS:
                    continue
                table = read_picks(path)
            except (PickFileError, ValueError, OSError):
                continue  # not a pick file of these micrographs: not a problem of theirs
            table = match_micrograph(table, wanted)
            for name in [n for n in rest if n not in found]:
                rows = table[table["micrograph"].astype(str) == name]
                if len(rows):
                    found[name] = (path, rows.reset_index(drop=True))
    return found, problems


def read_pick_files(
    paths: Iterable[str | os.PathLike],
    format: str | None = None,
    *,
    names: Collection[str] | None = None,
    binning: float = 1.0,
) -> pd.DataFrame:
    """Read pick files into one table, each micrograph's picks from one file.

    Parameters
    ----------
    paths
        Pick files (:func:`napari_cryopick.io.paths.pick_files` expands folders).
    format
        As in :func:`read_picks` (None: detected per file).
    names
        Micrograph names that per-micrograph files are matched to
        (:func:`match_micrograph`: ``mic_001_autopick.star`` -> ``mic_001``).
    binning
        As in :func:`read_picks`: the files' coordinates are of micrographs
        binned this many times (Topaz run with ``-s``).

    Raises
    ------
    PickFileError
        A file cannot be read, or two files hold objects of one kind on one
        micrograph name (``GridA/FoilHole_1.star`` and ``GridB/FoilHole_1.star``;
        ``mic.star`` with particles and ``mic_fibers.star`` with fibers are
        fine): micrographs
        are known by their file names without folders, so their picks would be
        merged. The message names both files.
    """
    return read_pick_files_and_names(paths, format, names=names, binning=binning)[0]


def read_pick_files_and_names(
    paths: Iterable[str | os.PathLike],
    format: str | None = None,
    *,
    names: Collection[str] | None = None,
    binning: float = 1.0,
) -> tuple[pd.DataFrame, set[str]]:
    """:func:`read_pick_files`, and the names of the micrographs the files are of.

    A file without picks adds no row to the table, yet it says that its
    micrograph was picked and nothing was found (``cryopick pick`` writes a
    header-only file then): ``cryopick evaluate`` must not call that
    micrograph unpicked. Such a file adds the name of ``names`` its stem
    matches (:func:`match_name`: ``mic_001_autopick.star`` -> ``mic_001``);
    none without ``names`` or when none matches, as the stem of a file of
    many micrographs (``picks.star``) names no micrograph.

    Returns
    -------
    tuple of pandas.DataFrame and set of str
        The table of :func:`read_pick_files`, and the micrograph names of its
        rows plus those of the files without picks.
    """
    read = [(Path(path), read_picks(path, format, binning=binning)) for path in paths]
    matched = match_files(read, names)
    micrographs = set()
    for path, table in matched:
        if len(table):
            micrographs |= set(table["micrograph"].astype(str))
        elif names is not None and (name := match_name(path.stem, names)) is not None:
            micrographs.add(name)
    return joined_picks(matched), micrographs


def joined_picks(matched: Sequence[tuple[Path, pd.DataFrame]]) -> pd.DataFrame:
    """The tables of :func:`match_files` as one (an empty pick table when none has a row)."""
    tables = [table for _path, table in matched if len(table)]
    if not tables:
        return _picks.empty_picks()
    return pd.concat(tables, ignore_index=True)


def _pairs(table: pd.DataFrame) -> set[tuple[str, str]]:
    return set(table[["micrograph", "kind"]].astype(str).itertuples(index=False, name=None))


def match_files(
    read: Sequence[tuple[Path, pd.DataFrame]], names: Collection[str] | None = None
) -> list[tuple[Path, pd.DataFrame]]:
    """Pick tables of several files, matched to ``names`` and checked for clashes.

    The one rule of ``cryopick train``, ``evaluate`` and ``cryosparc export``.
    A per-micrograph file takes the micrograph name :func:`match_micrograph`
    finds (``mic_001_autopick.star`` -> ``mic_001``), unless another of the
    files holds that micrograph's objects of that kind under its own name
    (``mic_1_b.star`` next to ``mic_1.star`` stays ``mic_1_b``). One
    micrograph's kinds may come from several files (``cryopick pick`` writes
    a mixed model's fibers to ``<stem>_fibers.star``).

    Raises
    ------
    PickFileError
        Two files hold objects of one kind on one micrograph name, naming both.
    """
    own = set().union(*(_pairs(table) for _path, table in read)) if read else set()
    matched = []
    for path, table in read:
        if names is not None and len(table):
            renamed = match_micrograph(table, names)
            if not (_pairs(renamed) - _pairs(table)) & own:
                table = renamed
        matched.append((path, table))
    source: dict[tuple[str, str], Path] = {}
    for path, table in matched:
        for name, kind in sorted(_pairs(table)):
            first = source.setdefault((name, kind), path)
            if first != path:
                same_folder = Path(first).parent == Path(path).parent
                if os.path.realpath(first) == os.path.realpath(path):
                    # a link to a file also given (a trial's other.star -> picks.star was
                    # told "two files of one micrograph", naming no link)
                    raise file_error(
                        path,
                        f"the same file as {first} (given twice: a link, or another path to it): give it once",
                    )
                raise file_error(
                    path,
                    f"micrograph names must be unique: {first} also holds {kind} picks of "
                    f"micrograph {name!r}"
                    + (
                        " (two files of one micrograph: give one of them, e.g. the files of "
                        f"one format, '{Path(first).parent / ('*' + Path(first).suffix)}' "
                        "(quoted: cryopick expands it); cryopick evaluate: --pred-format / "
                        "--truth-format choose one in a folder)"
                        if same_folder
                        else " (names are file names without folders); give the files of "
                        "one folder at a time"
                    ),
                )
    return matched


#: No micrograph is this many pixels across: a coordinate or diameter beyond it is an error in
#: the file (an I/O trial's 1e300 overflowed scipy's KD-tree in evaluate, naming no file);
#: the one limit of every file the tool reads (core ``pick_table.MAX_COORDINATE_PX``).
MAX_COORDINATE = _picks.MAX_COORDINATE_PX


def check_pick_values(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Raise :class:`PickFileError` naming ``path`` and the row of the first impossible pick.

    Coordinates must be finite and within :data:`MAX_COORDINATE`; a diameter is either
    unknown (NaN) or a number in (0, :data:`MAX_COORDINATE`]; a score is unknown (NaN) or finite. Rows are counted
    from 1 in the order the file lists its picks.
    """
    x = table["x"].to_numpy(np.float64)
    y = table["y"].to_numpy(np.float64)
    diameter = table["diameter"].to_numpy(np.float64)
    score = table["score"].to_numpy(np.float64)

    def where(row: int) -> str:
        return f"(x={x[row]:g}, y={y[row]:g}, diameter={diameter[row]:g})"

    kinds = table["kind"].astype(str) if "kind" in table else pd.Series([], dtype=str)
    names = table["micrograph"].astype(str) if "micrograph" in table else pd.Series([], dtype=str)
    problems = [
        (~np.isfinite(x) | ~np.isfinite(y), lambda r: f"a NaN or infinite coordinate {where(r)}"),
        (
            (np.abs(x) > MAX_COORDINATE) | (np.abs(y) > MAX_COORDINATE),
            lambda r: (
                f"a coordinate beyond any micrograph (over {MAX_COORDINATE:.0e} px) {where(r)}"
            ),
        ),
        (np.isinf(diameter), lambda r: f"an infinite diameter {where(r)}"),
        (
            diameter > MAX_COORDINATE,
            lambda r: f"a diameter beyond any micrograph (over {MAX_COORDINATE:.0e} px) {where(r)}",
        ),
        (diameter <= 0, lambda r: f"a diameter (or box size) that is not > 0 {where(r)}"),
        (np.isinf(score), lambda r: f"an infinite score {where(r)}"),
        (
            ~kinds.isin(_picks.KINDS).to_numpy(),
            lambda r: f"the kind {kinds.iloc[r]!r}; kinds are {', '.join(_picks.KINDS)}",
        ),
        (
            names.str.contains("[\r\n]", regex=True).to_numpy(bool),
            lambda r: f"the micrograph name {names.iloc[r]!r}, which holds a line break",
        ),
    ]
    for bad, describe in problems:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise file_error(path, f"data row {row + 1} has {describe(row)}")


#: How far beyond the border a pick without a diameter may lie and still count as
#: an edge pick (of the micrograph's shorter side), when no diameter is known.
EDGE_SLACK_FRACTION = 0.02


#: A pick whose diameter exceeds this many times the micrograph's longer side is refused
#: (:func:`picks_on_micrograph`).
LARGER_THAN_MICROGRAPH = 1.5


def _data_row(table: pd.DataFrame, row: int) -> int:
    """The file's data row of ``table``'s row ``row`` (a ``file_row`` column, else
    counted from 1 in ``table``)."""
    return int(table["file_row"].iloc[row]) if "file_row" in table.columns else row + 1


def picks_on_micrograph(
    table: pd.DataFrame,
    shape: tuple[int, int],
    *,
    source: str | os.PathLike = "",
    strict: bool = True,
    diameter_px: float | None = None,
) -> pd.DataFrame:
    """Picks whose centre lies on a micrograph of ``shape``; edge picks just outside are dropped.

    A centre up to half a diameter (at least one pixel) beyond the border is
    an edge pick: it is dropped and counted in a logged warning, as are the
    points of a fiber path (``tube_id > 0``) beyond the border however far,
    when the path has points on the micrograph. A pick
    without a diameter gets half of ``diameter_px``, else
    :data:`EDGE_SLACK_FRACTION` of the micrograph's shorter side (RELION's
    STAR, Topaz and plain CSV files carry no diameter: a trial's pick 3 px
    off the edge stopped the training). A centre
    farther out means the picks do not belong to this micrograph (another
    micrograph, a binning or a y flip not applied): :class:`PickFileError`
    naming ``source`` and the row (a ``file_row`` column, else counted from
    1 in ``table``). With
    ``strict=False`` those are dropped with a warning too, and only a table
    whose every pick lies outside is an error.

    Parameters
    ----------
    table
        Picks in original pixels (project convention).
    shape
        ``(rows, cols)`` of the micrograph.
    source
        The pick file (or micrograph) named in messages.

    Returns
    -------
    pandas.DataFrame
        The picks on the micrograph (index reset).
    """
    if not len(table):
        return table
    rows, cols = int(shape[0]), int(shape[1])
    x = table["x"].to_numpy(np.float64)
    y = table["y"].to_numpy(np.float64)
    diameter = (
        table["diameter"].to_numpy(np.float64)
        if "diameter" in table.columns
        else np.full(len(table), np.nan)
    )
    default = (
        float(diameter_px) / 2
        if diameter_px is not None and np.isfinite(diameter_px) and diameter_px > 0
        else EDGE_SLACK_FRACTION * min(rows, cols)
    )
    slack = np.maximum(np.where(np.isfinite(diameter), diameter / 2, default), 1.0)
    larger = np.isfinite(diameter) & (diameter > LARGER_THAN_MICROGRAPH * max(rows, cols))
    if larger.any():
        # a trial's 5000 px vesicles on a 2217 px micrograph trained a model at 5000 px
        # (one a little larger than a small micrograph, its centre on it, may be real)
        row = int(np.flatnonzero(larger)[0])
        number = _data_row(table, row)
        kind = str(table["kind"].iloc[row]) if "kind" in table.columns else ""
        kind = kind if kind in ("vesicle", "fiber") else "pick"
        raise file_error(
            source,
            f"data row {number}: a {kind} of {diameter[row]:g} px at (x={x[row]:g}, "
            f"y={y[row]:g}) is larger than the {cols} x {rows} px micrograph "
            f"({int(larger.sum())} of {len(table)} picks are); a diameter in another unit "
            "or binning, or another micrograph's picks?",
        )
    beyond = np.maximum.reduce(
        [-0.5 - x, x - (cols - 0.5), -0.5 - y, y - (rows - 0.5), np.zeros(len(table))]
    )
    far = beyond > slack
    if "tube_id" in table.columns and far.any():
        # a fiber path drawn past the edge (a fibers trial's 40 px beyond it stopped the
        # training): the points of a path with points on the micrograph are edge points,
        # dropped below; a path wholly outside is still far
        tube = np.nan_to_num(table["tube_id"].to_numpy(np.float64))
        crossing = (tube > 0) & np.isin(tube, tube[(tube > 0) & (beyond <= 0)])
        far &= ~crossing
    if far.all() or (strict and far.any()):
        row = int(np.flatnonzero(far)[0])
        number = _data_row(table, row)
        raise file_error(
            source,
            f"data row {number}: pick at (x={x[row]:g}, y={y[row]:g}) lies outside the "
            f"{cols} x {rows} px micrograph ({int(far.sum())} of {len(table)} picks do); "
            "wrong micrograph, binning or y flip?",
        )
    edge = beyond > 0
    if edge.any():
        # fiber rows are points along paths (training counts them after filling in the
        # paths: a trial's file of 53 rows was said as "1 of 294 picks")
        fibers = "kind" in table.columns and bool((table["kind"].astype(str) == "fiber").all())
        logger.warning(
            "%s: dropped %d of %d %s outside the %d x %d px micrograph",
            source,
            int(edge.sum()),
            len(table),
            "points along the fiber paths" if fibers else "picks whose centre lies",
            cols,
            rows,
        )
        table = table[~edge].reset_index(drop=True)
    return table


def _check_binning(binning: float) -> None:
    if not np.isfinite(binning) or binning <= 0:
        raise ValueError(f"binning must be a positive number, got {binning}")


def write_picks(
    table: pd.DataFrame,
    path: str | os.PathLike,
    format: str | None = None,
    *,
    box_size: float | None = None,
    binning: float = 1.0,
    flip_y_height: float | None = None,
    **options,
) -> Path:
    """Write a pick table to a file, atomically.

    Parameters
    ----------
    table
        Picks in the project convention (original pixels).
    path
        Destination; its folder must exist.
    format
        Format name; ``None`` detects it from the suffix (``.txt`` is Topaz).
    box_size
        Box edge in **original** pixels for ``box`` and ``cbox`` (default:
        each pick's diameter; an error when some diameter is unknown).
    binning
        Write coordinates for the micrograph binned by this factor
        (:func:`napari_cryopick.core.pick_table.original_to_binned`).
    flip_y_height
        Mirror top-bottom on a micrograph of this many rows (original pixels)
        before writing; never applied unless asked for.
    **options
        Passed to the format's ``write`` (e.g. ``micrograph_suffix=".mrc"``
        for STAR, ``integer=False`` for Topaz, ``decimals``).

    Returns
    -------
    pathlib.Path
        ``path``. The file appears complete or not at all: it is written to a
        temporary file in the same folder and moved into place.

    Raises
    ------
    PickFileError
        The table cannot be written in this format (unknown box size, several
        micrographs in a per-micrograph format) or the folder is missing.
    """
    path = Path(path)
    if format is None and path.suffix.lower() == ".txt":
        module = _topaz
    else:
        module = _module(format, path)
    table = _picks.normalize_picks(table)
    # nothing is written that no reader takes back (a NaN position, a line break)
    check_pick_values(table, path)
    if module.NAME not in MULTI_MICROGRAPH_FORMATS:
        names = sorted(set(table["micrograph"].astype(str)) - {""})
        if len(names) > 1:
            raise file_error(
                path,
                f"{module.NAME} files hold one micrograph but the picks name {len(names)} "
                "(use write_picks_per_micrograph)",
            )
    if flip_y_height is not None:
        table = _picks.flip_y(table, flip_y_height)
    if binning != 1.0:
        _check_binning(binning)
        block = getattr(module, "BLOCK_BINNING", True)  # (Topaz: Fourier cropping)
        table = _picks.original_to_binned(table, binning, block=block)
        if box_size is not None:
            box_size = box_size / binning
    if box_size is not None:
        options["box_size"] = box_size
    if not path.parent.is_dir():
        raise file_error(path, "the destination folder does not exist")
    temporary = None
    try:
        with atomic_path(path) as temporary:
            module.write(table, temporary, **options)
    except ValueError as exc:  # PickFileError, or a value the format cannot hold
        # The format module only saw the temporary name; report the real one.
        if not isinstance(exc, PickFileError):
            raise file_error(path, str(exc)) from None
        message = str(exc) if temporary is None else str(exc).replace(str(temporary), str(path), 1)
        raise PickFileError(message) from None
    return path


def write_kept_rows(
    source: str | os.PathLike,
    target: str | os.PathLike,
    keep: Sequence[bool] | np.ndarray,
    format: str | None = None,
) -> Path:
    """Copy pick file ``source`` to ``target`` with only the picks ``keep`` marks, atomically.

    ``keep`` has one flag per pick :func:`read_picks` returns for ``source``
    (without ``micrograph``). Every other byte of the file stays as it was:
    the blocks and columns of a STAR file the pick table has no place for
    (RELION 3.1's ``data_optics``, ``rlnImageName``, angles, origins), its
    micrograph names with folders and suffixes, and the box size, corners and
    size estimates of BOX and CBOX files. :func:`write_picks` would write the
    pick table's columns only, micrograph names as stems and each box at the
    pick's diameter. Formats: :data:`ROW_FORMATS`.

    Raises
    ------
    RowMismatch
        The picks read are not the file's rows (STAR helical start-end pairs,
        a coordinate-file index): write the table with :func:`write_picks`.
    PickFileError
        ``source`` cannot be read, ``target``'s folder is missing.
    OSError
        ``target`` cannot be written (the message names it).
    """
    source, target = Path(source), Path(target)
    module = _module(format, source)
    if module.NAME not in ROW_FORMATS:
        raise RowMismatch(f"{source}: {module.NAME} files are not copied row by row")
    text = module.keep_rows(source, np.asarray(keep, dtype=bool))
    if not target.parent.is_dir():
        raise file_error(target, "the destination folder does not exist")
    return atomic_write_bytes(target, text.encode("utf-8"))


def box_size_of(path: str | os.PathLike, format: str | None = None) -> float | None:
    """The box size of a BOX or CBOX file: the width of its boxes when they are all one.

    None for other formats (no boxes), a file without picks, and boxes of
    several sizes (vesicles, each boxed at its own diameter): a copy in
    another boxed format keeps the box size (crYOLO's CBOX reads as the
    estimated particle size, ``_EstWidth``, not the box).
    """
    path = Path(path)
    module = _module(format, path, reading=True)
    if module.NAME not in BOXED_FORMATS:
        return None
    widths = set(module.box_widths(path).tolist())
    return float(widths.pop()) if len(widths) == 1 else None


def write_picks_per_micrograph(
    table: pd.DataFrame,
    folder: str | os.PathLike,
    format: str,
    *,
    suffix: str | None = None,
    **options,
) -> list[Path]:
    """Write one pick file per micrograph, named after it, as RELION, crYOLO and EMAN expect.

    Parameters
    ----------
    table
        Picks of one or many micrographs (project convention).
    folder
        Destination folder (created if missing).
    format
        Format name.
    suffix
        File name ending after the micrograph name; default: the format's
        suffix (e.g. ``mic_001.box``). RELION's picker uses e.g.
        ``"_autopick.star"``.
    **options
        Passed to :func:`write_picks` (``box_size``, ``binning``,
        ``flip_y_height``, format options).

    Returns
    -------
    list of pathlib.Path
        The files written, in micrograph order.
    """
    name = format.lower()
    if name not in FORMATS:
        raise ValueError(f"unknown pick format {format!r}; choose one of {', '.join(FORMATS)}")
    suffix = FORMATS[name].SUFFIXES[0] if suffix is None else suffix
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = _picks.normalize_picks(table)
    if name == _star.NAME:
        options.setdefault("micrograph_names", False)
    written = []
    for micrograph, group in table.groupby("micrograph", sort=True):
        stem = str(micrograph) or "picks"
        written.append(write_picks(group, folder / f"{stem}{suffix}", name, **options))
    return written
