"""cryoSPARC files: ``.cs`` exposures and particles in, an importable STAR file out.

A ``.cs`` file is a NumPy ``.npy`` file holding one structured array (one
row per exposure or particle, fields named ``group/field``); it is read with
:func:`numpy.load` and ``allow_pickle=False``, so no code in the file can
run. The newer compressed dataset format is read through ``cryosparc-tools``
when it is installed (``pip install cryosparc-tools``; optional).

Fields used
-----------
exposures (``J*_exposures*.cs``, ``J*_micrographs*.cs``)
    ``micrograph_blob/path`` (relative to the cryoSPARC project folder),
    ``micrograph_blob/psize_A`` (Angstrom per pixel),
    ``micrograph_blob/shape`` (``[ny, nx]``), ``uid``.
particles (``J*_particles*.cs``, ``*_passthrough_particles*.cs``)
    ``location/micrograph_path``, ``location/center_x_frac``,
    ``location/center_y_frac`` (fractions of the width and height),
    ``location/micrograph_shape`` (``[ny, nx]``); the score from
    ``pick_stats/ncc_score`` when present; ``location/micrograph_uid`` names the
    micrographs of particles without a path (:func:`read_particles`).

Coordinates and the y axis
--------------------------
``x = center_x_frac * nx`` and ``y = center_y_frac * ny``: pixels of the
micrograph as stored (row 0 = the first row in the MRC file), the project's
and RELION's convention. :func:`write_import_star` writes the same
convention (``rlnCoordinateX/Y``), which cryoSPARC's *Import Particle Stack*
reads for RELION files. Micrographs whose rows cryoSPARC holds in the other
order (motion-corrected outside cryoSPARC from TIFF movies, say) show the
picks mirrored top-bottom; ``flip_y=True`` writes ``y' = H - 1 - y`` with
``H`` the micrograph's height (the one flip of :func:`napari_cryopick.core.
pick_table.flip_y`), and reading takes the same option. See
``docs/pipelines.md``.

cryoSPARC prefixes the files it writes with a 21-digit UID
(``012345678901234567890_mic_001.mrc``); micrograph names drop it by
default so that picks match the original micrographs' stems.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_write_text
from .formats import CRYOSPARC_UID, SCORE_DECIMALS, format_number, star_block

logger = logging.getLogger(__name__)

__all__ = [
    "CryosparcError",
    "CryosparcExposure",
    "find_project_dir",
    "is_exposures",
    "micrograph_name",
    "read_cs",
    "read_exposures",
    "read_particles",
    "write_import_star",
]

_UID_PREFIX = CRYOSPARC_UID
_VERSION_LINE = "# version 30001"
#: The comment line :func:`write_import_star` writes after the version line (a STAR
#: comment cryoSPARC and RELION skip), followed by `` (sha256 <digest> of the lines
#: below)``: ``cryopick cryosparc export`` replaces a file that has it and whose lines
#: below still have that digest (:func:`export_unchanged`), and refuses another (a
#: user's own STAR file, or an export edited since) without ``--overwrite``.
EXPORT_MARK = "# written by cryopick cryosparc export"
_MICROGRAPH_SUFFIXES = (".mrc", ".mrcs", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


class CryosparcError(ValueError):
    """A ``.cs`` file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class CryosparcExposure:
    """One exposure (micrograph) of a cryoSPARC ``.cs`` file."""

    uid: int
    path: Path
    pixel_size: float | None
    shape: tuple[int, int] | None

    @property
    def name(self) -> str:
        """Micrograph name (stem, cryoSPARC's UID prefix removed)."""
        return micrograph_name(str(self.path))


def micrograph_name(path: str, *, strip_uid: bool = True) -> str:
    """Stem of a micrograph path, without cryoSPARC's UID prefix when ``strip_uid``."""
    base = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if dot and f".{suffix.lower()}" in _MICROGRAPH_SUFFIXES:
        base = stem
    return _UID_PREFIX.sub("", base) if strip_uid else base


def _error(path: Path, message: str) -> CryosparcError:
    return CryosparcError(f"{path}: {message}")


def read_cs(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.cs`` file as a NumPy structured array (no pickled objects)."""
    path = Path(path)
    if not path.is_file():
        raise _error(path, "no such file")
    if path.stat().st_size == 0:  # NumPy's EOFError from deep inside (a failed job's file)
        raise _error(path, "file is empty (0 bytes): not a cryoSPARC .cs file")
    with open(path, "rb") as handle:
        compressed = handle.read(6)[1:] == b"CSDAT"
    if compressed:
        # cryoSPARC's compressed format (cryosparc-tools' format 2) is not NumPy's:
        # np.load took it for pickled objects (a trial's v2 exposures file was refused)
        data = _read_with_cryosparc_tools(path, ValueError("a compressed CSDAT .cs file"))
    else:
        data = _read_numpy_cs(path)
    if not isinstance(data, np.ndarray) or data.dtype.names is None:
        raise _error(path, "not a cryoSPARC .cs file (no structured array inside)")
    if data.ndim != 1:  # (one record saved alone, or a grid of them: no table of rows)
        raise _error(path, f"not a cryoSPARC .cs file (a {data.ndim}-d array, not a table of rows)")
    return data


def _read_numpy_cs(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            with open(path, "rb") as handle:
                start = handle.read(6)
            # NumPy's object arrays, or a pickle (its protocol marker)
            if start == b"\x93NUMPY" or start[:1] == b"\x80":
                raise _error(path, "holds Python objects; refusing to unpickle it") from None
            # np.load takes any file that is not NumPy's for a pickle (a text file too)
            raise _error(path, "not a cryoSPARC .cs file (not a NumPy array file)") from None
        return _read_with_cryosparc_tools(path, exc)
    except (OSError, EOFError) as exc:
        return _read_with_cryosparc_tools(path, exc)


def _read_with_cryosparc_tools(path: Path, original: Exception) -> np.ndarray:
    try:
        from cryosparc.dataset import Dataset  # optional: pip install cryosparc-tools
    except ImportError:
        raise _error(
            path,
            f"not a NumPy .cs file ({original}); newer compressed .cs files need "
            "'pip install cryosparc-tools'",
        ) from None
    try:
        dataset = Dataset.load(path)
    except Exception as exc:  # the library raises many types on bad input
        raise _error(path, f"not a cryoSPARC .cs file ({exc})") from None
    return dataset.to_records() if hasattr(dataset, "to_records") else np.asarray(dataset)


def _require(path: Path, data: np.ndarray, fields: tuple[str, ...]) -> None:
    missing = [field for field in fields if field not in data.dtype.names]
    if missing:
        raise _error(
            path,
            f"missing field(s) {', '.join(missing)} "
            f"(fields found: {', '.join(data.dtype.names[:12])}"
            f"{', ...' if len(data.dtype.names) > 12 else ''})",
        )


def _require_numbers(path: Path, data: np.ndarray, fields: tuple[str, ...]) -> None:
    """Each of ``fields`` present holds numbers (a field of another type failed deep in
    NumPy: "invalid literal for int() with base 10: b'\\x00\\x04...'", no file named)."""
    for field in fields:
        if field in data.dtype.names and data.dtype[field].base.kind not in "biuf":
            raise _error(path, f"field {field} holds {data.dtype[field].base} values, not numbers")


def _require_paths(path: Path, data: np.ndarray, field: str) -> None:
    """``field`` holds text (file paths): a field of numbers named every particle's
    micrograph ``0.mrc`` (a re-trial)."""
    if field in data.dtype.names and data.dtype[field].base.kind not in "SUO":
        raise _error(path, f"field {field} holds {data.dtype[field].base} values, not file paths")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return str(value)


def _resolve(name: str, project_dir: Path | None) -> Path:
    path = Path(name)
    if path.is_absolute() or project_dir is None:
        return path
    return project_dir / path


def is_exposures(data: np.ndarray) -> bool:
    """Whether a ``.cs`` array lists exposures (micrographs) rather than particles."""
    return "micrograph_blob/path" in (data.dtype.names or ())


def find_project_dir(path: str | os.PathLike, blob_path: str) -> Path | None:
    """The folder that ``blob_path`` (relative, as cryoSPARC writes it) exists in.

    cryoSPARC writes paths relative to the project folder (``P12/``) and the
    ``.cs`` file of job ``J5`` lies in ``P12/J5/``; an exported file lies
    deeper (``P12/exports/groups/...``). The folders above ``path`` are
    tried from the nearest (:func:`napari_cryopick.io.paths.find_project_dir`);
    ``None`` when the file exists in none of them.
    """
    from .paths import find_project_dir as nearest

    return nearest(path, blob_path)


def read_exposures(
    path: str | os.PathLike, project_dir: str | os.PathLike | None = None
) -> list[CryosparcExposure]:
    """Micrograph paths and pixel sizes of an exposures ``.cs`` file.

    Parameters
    ----------
    path
        Exposures ``.cs`` file (e.g. from Patch CTF or Curate Exposures).
    project_dir
        cryoSPARC project folder the blob paths are relative to (``P12/``);
        default: the nearest folder above ``path`` in which the first
        exposure's file exists (:func:`find_project_dir`), else the folder
        two levels above ``path`` (``P12/J5/x.cs``).
    """
    path = Path(path)
    data = read_cs(path)
    _require(path, data, ("micrograph_blob/path",))
    _require_numbers(path, data, ("micrograph_blob/psize_A", "micrograph_blob/shape", "uid"))
    _require_paths(path, data, "micrograph_blob/path")
    names = data.dtype.names
    if "micrograph_blob/shape" in names and len(data):
        shapes = np.asarray(data["micrograph_blob/shape"])
        if shapes.ndim != 2 or shapes.shape[1] != 2:
            raise _error(path, "micrograph_blob/shape must hold [ny, nx] for every exposure")
    if "uid" in names and len(data):
        uids = np.asarray(data["uid"], dtype=float)
        if not (np.isfinite(uids).all() and (uids == np.round(uids)).all()):
            raise _error(path, "uid must hold whole numbers")
    project = Path(project_dir) if project_dir is not None else None
    if project is None and len(data):
        project = find_project_dir(path, _text(data["micrograph_blob/path"][0]))
    if project is None:
        project = path.resolve().parent.parent
    names = data.dtype.names
    exposures = []
    for index, row in enumerate(data):
        size = float(row["micrograph_blob/psize_A"]) if "micrograph_blob/psize_A" in names else 0.0
        shape = (
            tuple(int(v) for v in row["micrograph_blob/shape"])
            if "micrograph_blob/shape" in names
            else None
        )
        exposures.append(
            CryosparcExposure(
                uid=int(row["uid"]) if "uid" in names else index,
                path=_resolve(_text(row["micrograph_blob/path"]), project),
                pixel_size=size if math.isfinite(size) and size > 0 else None,
                shape=shape,  # type: ignore[arg-type]
            )
        )
    return exposures


def read_particles(
    path: str | os.PathLike,
    *,
    diameter_px: float | None = None,
    flip_y: bool = False,
    strip_uid: bool = True,
) -> pd.DataFrame:
    """Particle locations of a particles ``.cs`` file as a pick table.

    Parameters
    ----------
    path
        Particles (or passthrough particles) ``.cs`` file.
    diameter_px
        Written in the ``diameter`` column (``.cs`` files hold none).
    flip_y
        Mirror y (``H - 1 - y``), see the module notes.
    strip_uid
        Drop cryoSPARC's UID prefix from micrograph names.

    Particles with an empty ``location/micrograph_path`` take the name of a particle of
    their ``location/micrograph_uid`` that has one; where the rest belong to several
    uids, or lie beside particles with paths, each is named by its uid, with a warning
    naming the file; of one uid in a file without paths, their name is empty
    (:func:`napari_cryopick.io.pickfiles.read_picks` names them after the file).

    Returns
    -------
    pandas.DataFrame
        The project's pick columns, in pixels of each micrograph.
    """
    from napari_cryopick.core.pick_table import make_picks

    path = Path(path)
    data = read_cs(path)
    _require(
        path,
        data,
        (
            "location/micrograph_path",
            "location/center_x_frac",
            "location/center_y_frac",
            "location/micrograph_shape",
        ),
    )
    _require_numbers(
        path,
        data,
        (
            "location/center_x_frac",
            "location/center_y_frac",
            "location/micrograph_shape",
            "location/micrograph_uid",
            "pick_stats/ncc_score",
        ),
    )
    _require_paths(path, data, "location/micrograph_path")
    shape = np.asarray(data["location/micrograph_shape"], dtype=float)
    # (a job that kept no particles: an empty table, as an empty STAR file gives)
    shape = shape.reshape(len(data), -1) if len(data) else np.zeros((0, 2))
    if shape.shape[1] != 2 or (len(shape) and not (shape > 0).all()):
        raise _error(path, "location/micrograph_shape must hold [ny, nx] > 0 for every particle")
    ny, nx = shape[:, 0], shape[:, 1]
    x = np.asarray(data["location/center_x_frac"], dtype=float) * nx
    y = np.asarray(data["location/center_y_frac"], dtype=float) * ny
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise _error(path, "non-finite particle locations")
    names = [
        micrograph_name(_text(value), strip_uid=strip_uid)
        for value in data["location/micrograph_path"]
    ]
    names = _names_from_uids(path, data, names)
    off = np.flatnonzero((x < 0) | (x > nx) | (y < 0) | (y > ny))
    if len(off):  # the file holds each micrograph's shape: said (a hostile-input trial)
        first = off[0]
        logger.warning(
            "%s: %d particle(s) lie off their micrograph (location fractions outside "
            "0-1, e.g. x=%g, y=%g on %s of %g x %g px): kept as they are; check the file",
            path,
            len(off),
            x[first],
            y[first],
            names[first],
            nx[first],
            ny[first],
        )
    if flip_y:
        y = (ny - 1) - y
    score = (
        np.asarray(data["pick_stats/ncc_score"], dtype=float)
        if "pick_stats/ncc_score" in data.dtype.names
        else None
    )
    return make_picks(
        x,
        y,
        diameter=diameter_px,
        score=score,
        micrograph=names,
    )


def _names_from_uids(path: Path, data: np.ndarray, names: list[str]) -> list[str]:
    """Names for the particles with an empty ``location/micrograph_path``, from their
    ``location/micrograph_uid``: the name of a row of that uid that has a path, else,
    where such rows belong to several micrographs (uids), or beside rows that have paths
    (other micrographs: a review), each its uid as text, said.

    A CLI trial's particles of 2 micrographs without paths were read as one micrograph's,
    named after the file. One uid (or no uid field) leaves the names empty, as before:
    the picks of one micrograph, named after the file (or the micrograph asked for).
    """
    field = "location/micrograph_uid"
    empty = [i for i, name in enumerate(names) if not name]
    if not empty or field not in (data.dtype.names or ()):
        return names
    values = np.asarray(data[field])
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        return names  # (no uid to tell micrographs by)
    uids = [str(int(uid)) for uid in values]
    named = {uid: name for uid, name in zip(uids, names) if name}
    names = [name or named.get(uid, "") for name, uid in zip(names, uids)]
    unnamed = list(dict.fromkeys(uids[i] for i in empty if not names[i]))
    if not unnamed or (len(unnamed) == 1 and not any(names)):
        return names  # (one micrograph, no paths at all: named after the file, as before)
    logger.warning(
        "%s: %d particle(s) have no location/micrograph_path, and belong to %d micrograph(s) "
        "by their location/micrograph_uid: each is named by its uid (%s%s), not by a "
        "micrograph file; for picks that match micrographs, give a particles .cs that "
        "keeps the micrograph paths (the picking or extraction job's)",
        path,
        sum(not name for name in names),
        len(unnamed),
        ", ".join(unnamed[:5]),
        ", ..." if len(unnamed) > 5 else "",
    )
    return [name or uid for name, uid in zip(names, uids)]


def write_import_star(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    micrograph_files: dict[str, str] | None = None,
    heights: dict[str, int] | None = None,
    flip_y: bool = False,
    decimals: int = 2,
) -> Path:
    """Write picks of many micrographs as one STAR file cryoSPARC imports.

    One row per particle (``data_particles``: ``rlnMicrographName``,
    ``rlnCoordinateX``, ``rlnCoordinateY``, ``rlnAutopickFigureOfMerit`` when
    scores exist). Import it with *Import Particle Stack* (particle meta path; see docs),
    linked to the exposures; cryoSPARC matches ``rlnMicrographName`` to the
    exposure file names.

    Parameters
    ----------
    table
        Pick table (``micrograph`` = stem).
    path
        Output file (written atomically).
    micrograph_files
        ``{stem: file name}`` written as ``rlnMicrographName`` (default:
        ``<stem>.mrc``).
    heights
        ``{stem: rows}``; needed for ``flip_y``.
    flip_y
        Write ``y' = H - 1 - y``.
    decimals
        Decimals of the coordinates.
    """
    from napari_cryopick.core.pick_table import flip_y as mirror

    path = Path(path)
    files = micrograph_files or {}
    parts = []
    for stem, group in table.groupby("micrograph", sort=False):
        if flip_y:
            if not heights or stem not in heights:
                raise ValueError(f"{path}: flip_y needs the height of micrograph {stem!r}")
            group = mirror(group, heights[stem])
        parts.append(group)
    rows_table = pd.concat(parts, ignore_index=True) if parts else table.iloc[0:0]
    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY"]
    scores = rows_table["score"].to_numpy(float)
    with_scores = bool(np.isfinite(scores).any())
    if with_scores:
        labels.append("rlnAutopickFigureOfMerit")
    rows = []
    for record in rows_table.itertuples(index=False):
        row = [
            files.get(record.micrograph, f"{record.micrograph}.mrc"),
            format_number(record.x, decimals),
            format_number(record.y, decimals),
        ]
        if with_scores:  # RELION's value for a pick with no score (a hand-added one)
            row.append(
                format_number(record.score, SCORE_DECIMALS) if np.isfinite(record.score) else "-999"
            )
        rows.append(row)
    body = star_block("particles", labels, rows)
    mark = f"{EXPORT_MARK} (sha256 {_digest(body)} of the lines below)"
    return atomic_write_text(path, "\n" + _VERSION_LINE + "\n" + mark + "\n" + body)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def export_unchanged(path: str | os.PathLike) -> bool | None:
    """Whether ``path`` is a file :func:`write_import_star` wrote and nobody changed since.

    ``True``: its mark line and the digest of the lines below agree (or it is an export
    of a version that wrote no digest); ``False``: it has the mark but its lines changed
    (hand-edited); ``None``: no mark (another program's file) or unreadable.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = text.split("\n", 4)
    for index, line in enumerate(lines[:4]):
        found = re.fullmatch(
            re.escape(EXPORT_MARK) + r"(?: \(sha256 ([0-9a-f]+) of the lines below\))?",
            line.strip(),
        )
        if found is None:
            continue
        if found.group(1) is None:
            return True  # written before the digest was
        offset = sum(len(part) + 1 for part in lines[: index + 1])
        return _digest(text[offset:]) == found.group(1)
    return None
