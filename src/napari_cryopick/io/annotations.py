"""Hand annotations of a micrograph, saved in a sidecar file beside it.

An annotation is a pick table (see :mod:`napari_cryopick.core.pick_table`) holding every
object the user marked on one micrograph: particles, vesicles (centre and
their own diameter), fibers (points along each tube, ``tube_id`` 1, 2, ...)
and negatives (carbon, ice, junk), plus the name of the data set the
micrograph belongs to and the particle diameter in pixels.

The sidecar is ``<micrograph stem>.cryopick.json`` beside the micrograph when
that folder is writable (``<file name>.cryopick.json``, e.g.
``x.mrc.cryopick.json``, when ``<stem>.cryopick.json`` is another file's:
``x.png`` beside ``x.mrc``, a binned preview beside its micrograph, whose
clicks are in other pixels), otherwise
``~/.local/share/napari-cryopick/annotations/<hash of the absolute path>.json``
(``$XDG_DATA_HOME`` is honoured; ``$CRYOPICK_ANNOTATION_DIR`` overrides the
folder). Writes are atomic (temporary file + :func:`os.replace`), so a crash
never leaves half a file. Every saved micrograph is also listed in
``index.json`` of that per-user folder, so annotations of micrographs that are
not open can still join a training set (:func:`list_annotated`).

This module imports neither napari nor Qt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import (
    KINDS,
    MAX_COORDINATE_PX,
    empty_picks,
    normalize_picks,
)
from napari_cryopick.io.atomic import NAME_MAX, atomic_write_text
from napari_cryopick.io.paths import SIDECAR_SUFFIX, writable_folder

logger = logging.getLogger(__name__)

FORMAT_NAME = "napari-cryopick-annotations"
FORMAT_VERSION = 1
_SAVED_COLUMNS = ("x", "y", "diameter", "score", "kind", "tube_id")


class AnnotationError(ValueError):
    """An annotation sidecar that cannot be read; the message starts with its path."""


@dataclass
class Annotations:
    """Everything the user marked on one micrograph.

    Attributes
    ----------
    micrograph_path
        The micrograph file the annotations belong to.
    picks
        Pick table (project convention) with every annotated object; the
        ``kind`` column tells particles, vesicles, fibers and negatives apart.
    dataset
        Name of the data set (training sets are grouped by it).
    diameter_px
        Particle diameter in original pixels, or ``None`` when not set.
    """

    micrograph_path: Path
    picks: pd.DataFrame = field(default_factory=empty_picks)
    dataset: str = ""
    diameter_px: float | None = None

    @property
    def micrograph(self) -> str:
        """Micrograph name (file stem)."""
        return _stem(Path(self.micrograph_path))

    def of_kind(self, kind: str) -> pd.DataFrame:
        """The annotated objects of one ``kind`` (``"particle"``, ``"negative"``, ...)."""
        table = self.picks[self.picks["kind"] == kind]
        return table.reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        """Number of annotated objects per kind (fibers count tubes, not points)."""
        out = {}
        for kind in KINDS:
            table = self.picks[self.picks["kind"] == kind]
            out[kind] = int(table["tube_id"].nunique()) if kind == "fiber" else len(table)
        return out


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".mrcs", ".mrc", ".tiff", ".tif", ".png", ".jpeg", ".jpg"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def user_annotation_dir() -> Path:
    """Per-user folder for sidecars of micrographs in read-only folders, and the index."""
    override = os.environ.get("CRYOPICK_ANNOTATION_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "napari-cryopick" / "annotations"


def _beside_path(micrograph_path: Path) -> Path:
    """``<stem>.cryopick.json`` beside the micrograph, unless that is another file's
    sidecar (``x.png``'s, for ``x.mrc``): then ``<file name>.cryopick.json``."""
    by_stem = micrograph_path.parent / (_stem(micrograph_path) + SIDECAR_SUFFIX)
    if _belongs_to_another(by_stem, micrograph_path):
        return micrograph_path.parent / (micrograph_path.name + SIDECAR_SUFFIX)
    return by_stem


def _belongs_to_another(sidecar: Path, micrograph_path: Path) -> bool:
    """Whether ``sidecar`` exists and is the sidecar of another micrograph file that
    exists beside ``micrograph_path`` (by file name, in any case: a folder moved keeps
    its sidecars; a sidecar of a file since converted, ``x.tif`` to ``x.mrc``, stays
    this one's)."""
    try:
        if not sidecar.is_file():
            return False
    except OSError:  # (a name too long for the file system: none there)
        return False
    try:
        stored = json.loads(sidecar.read_text(encoding="utf-8")).get("micrograph_path")
    except (OSError, ValueError, AttributeError):
        return False  # unreadable: load_annotations says so, naming it
    if not stored:
        return False
    name = Path(str(stored)).name
    if name.lower() == micrograph_path.name.lower():
        return False
    return (micrograph_path.parent / name).exists()


def user_file_key(micrograph_path: Path) -> str:
    """``<stem>-<first 16 hex of the SHA-1 of the absolute path>``: the name of a
    micrograph's files in the per-user folder (two folders' ``m1.mrc`` apart)."""
    digest = hashlib.sha1(str(micrograph_path.resolve()).encode("utf-8")).hexdigest()[:16]
    stem = _stem(micrograph_path).encode(errors="surrogateescape")[:_LONGEST_STEM]
    return f"{stem.decode(errors='ignore')}-{digest}"  # (the digest tells long stems apart)


#: The longest stem (bytes) a per-user file name keeps: with ``-<16 hex>.json`` it stays
#: within the 255 bytes of a file name (shorter stems, every name that fitted before,
#: keep their keys: a review).
_LONGEST_STEM = NAME_MAX - len("-0123456789abcdef.json")


def _fits(name: str) -> bool:
    """Whether ``name`` is short enough for a file name (:data:`~.atomic.NAME_MAX`)."""
    return len(name.encode(errors="surrogateescape")) <= NAME_MAX


def _user_path(micrograph_path: Path) -> Path:
    return user_annotation_dir() / f"{user_file_key(micrograph_path)}.json"


def sidecar_path(micrograph_path: str | os.PathLike) -> Path:
    """Where the annotations of ``micrograph_path`` are (or will be) saved.

    An existing sidecar wins (beside the micrograph first, then the per-user
    folder); otherwise beside the micrograph if that folder is writable, else
    the per-user folder.
    """
    micrograph_path = Path(micrograph_path).absolute()
    existing = find_sidecar(micrograph_path)
    if existing is not None:
        return existing
    beside = _beside_path(micrograph_path)
    if writable_folder(micrograph_path.parent) and _fits(beside.name):
        return beside
    # (a micrograph name of 242-255 bytes leaves no room for ".cryopick.json": a trial's
    # such micrographs failed with "File name too long")
    return _user_path(micrograph_path)


def find_sidecar(micrograph_path: str | os.PathLike) -> Path | None:
    """The existing sidecar of ``micrograph_path``, or ``None``: the most recently
    written where there are several (beside the micrograph first on a tie). A save into
    a folder that became read-only goes to the per-user folder; the older file beside
    the micrograph then hid it on reading, and the next save overwrote it (a review:
    15 clicks saved, 10 loaded)."""
    micrograph_path = Path(micrograph_path).absolute()
    own = micrograph_path.parent / (micrograph_path.name + SIDECAR_SUFFIX)
    found = []
    for order, candidate in enumerate(
        (own, _beside_path(micrograph_path), _user_path(micrograph_path))
    ):
        try:
            if candidate.is_file():
                found.append((-candidate.stat().st_mtime_ns, order, candidate))
        except OSError:
            continue
    return min(found)[2] if found else None


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def _picks_to_json(table: pd.DataFrame) -> dict[str, list]:
    table = normalize_picks(table)
    out: dict[str, list] = {}
    for column in _SAVED_COLUMNS:
        values = table[column].tolist()
        if column in ("x", "y", "diameter", "score"):
            values = [None if not np.isfinite(v) else round(float(v), 3) for v in values]
        elif column == "tube_id":
            values = [int(v) for v in values]
        else:
            values = [str(v) for v in values]
        out[column] = values
    return out


def save_annotations(annotations: Annotations) -> Path:
    """Write ``annotations`` atomically to the micrograph's sidecar.

    Parameters
    ----------
    annotations
        The annotations; ``micrograph_path`` decides where they go.

    Returns
    -------
    pathlib.Path
        The sidecar written.
    """
    micrograph_path = Path(annotations.micrograph_path).absolute()
    target = sidecar_path(micrograph_path)
    picks = normalize_picks(annotations.picks) if len(annotations.picks) else empty_picks()
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "micrograph": _stem(micrograph_path),
        "micrograph_path": str(micrograph_path),
        "dataset": annotations.dataset,
        "diameter_px": annotations.diameter_px,
        "picks": _picks_to_json(picks),
    }
    try:
        _atomic_write_text(target, json.dumps(document, indent=1))
    except PermissionError:
        target = _user_path(micrograph_path)
        _atomic_write_text(target, json.dumps(document, indent=1))
    _add_to_index(micrograph_path, annotations.dataset)
    return target


def load_annotations(micrograph_path: str | os.PathLike) -> Annotations | None:
    """Read the annotations of ``micrograph_path``; ``None`` when it has no sidecar.

    Raises
    ------
    AnnotationError
        The sidecar exists but is not a valid annotation file.
    """
    micrograph_path = Path(micrograph_path).absolute()
    path = find_sidecar(micrograph_path)
    if path is None:
        return None
    return read_sidecar(path, micrograph_path=micrograph_path)


def read_sidecar(
    path: str | os.PathLike, micrograph_path: str | os.PathLike | None = None
) -> Annotations:
    """Read one sidecar file.

    Parameters
    ----------
    path
        The ``.cryopick.json`` file.
    micrograph_path
        The micrograph it belongs to; default: the path stored in the file.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AnnotationError(f"{path}: not a readable annotation file ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise AnnotationError(f"{path}: not a napari-cryopick annotation file")
    version = document.get("version", 0)
    if not isinstance(version, (int, float)) or isinstance(version, bool):
        raise AnnotationError(f"{path}: annotation format version {version!r} is not a number")
    if version > FORMAT_VERSION:
        raise AnnotationError(
            f"{path}: annotation format version {version} is newer than "
            f"this napari-cryopick understands ({FORMAT_VERSION})"
        )
    columns = document.get("picks") or {}
    if not isinstance(columns, dict):
        raise AnnotationError(f"{path}: 'picks' is not a table of columns")
    try:
        table = pd.DataFrame({c: columns.get(c, []) for c in _SAVED_COLUMNS})
        for column in ("x", "y", "diameter", "score"):
            table[column] = pd.to_numeric(table[column], errors="raise").astype(float)
        table["micrograph"] = str(document.get("micrograph", ""))
        table = normalize_picks(table)
    except (ValueError, TypeError) as exc:
        raise AnnotationError(f"{path}: malformed pick columns ({exc})") from None
    if not table["kind"].map(lambda kind: isinstance(kind, str)).all():
        raise AnnotationError(f"{path}: malformed pick columns (a kind that is not a name)")
    unknown = set(table["kind"]) - set(KINDS)
    if unknown:
        raise AnnotationError(f"{path}: unknown object kind(s) {sorted(unknown)}")
    # an I/O trial's hand-edited file: a null x stopped training with "data must be
    # finite", naming no file; a diameter of -5 or NaN reached the layers
    # (and one at 1e9 px overflowed napari's sliders: a robustness trial)
    placed = np.ones(len(table), bool)
    for column in ("x", "y"):
        values = table[column].to_numpy()
        placed &= np.isfinite(values) & (np.abs(values) <= MAX_COORDINATE_PX)
    if not placed.all():
        logger.warning(
            "%s: %d pick(s) without a finite position on a micrograph left out",
            path,
            int((~placed).sum()),
        )
        table = table[placed].reset_index(drop=True)
    sizes = table["diameter"].to_numpy()
    unsized = ~np.isnan(sizes) & ~((sizes > 0) & np.isfinite(sizes))
    if unsized.any():
        logger.warning(
            "%s: %d pick diameter(s) not a positive number read as none", path, int(unsized.sum())
        )
        table.loc[unsized, "diameter"] = np.nan
    diameter = document.get("diameter_px")
    try:
        diameter = None if diameter is None else float(diameter)
    except (TypeError, ValueError):
        raise AnnotationError(f"{path}: diameter_px {diameter!r} is not a number") from None
    if diameter is not None and not (math.isfinite(diameter) and diameter > 0):
        logger.warning("%s: diameter_px %r is not a positive number: none", path, diameter)
        diameter = None
    return Annotations(
        micrograph_path=Path(micrograph_path or document.get("micrograph_path", "")),
        picks=table,
        dataset=str(document.get("dataset") or ""),
        diameter_px=diameter,
    )


# --- index of annotated micrographs (per user) ---


def _index_path() -> Path:
    return user_annotation_dir() / "index.json"


#: One ``"name": "text"`` entry of a JSON object's text.
_STRING_ENTRY = r'"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"'


def read_string_map(path: Path) -> tuple[dict[str, str], bool]:
    """``(entries, damaged)`` of a JSON file of one object of strings (the index of
    annotated micrographs, the Train widget's model file of each data set): {} when there
    is none; a damaged one (cut short, not UTF-8, not an object) gives the entries that
    can still be read, and ``damaged`` True."""
    import re

    try:
        raw = Path(path).read_bytes()
    except OSError:
        return {}, False
    try:
        data = json.loads(raw.decode("utf-8"))
        if isinstance(data, dict):
            # (a value that is no text is no entry: a null read as the path "None", a review)
            return {str(k): v for k, v in data.items() if isinstance(v, str)}, False
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    salvaged = {}
    for key, value in re.findall(_STRING_ENTRY, raw.decode("utf-8", errors="replace")):
        with contextlib.suppress(json.JSONDecodeError):
            salvaged[json.loads(f'"{key}"')] = json.loads(f'"{value}"')
    return salvaged, True


def set_aside_damaged(path: Path, what: str, kept: int) -> Path | None:
    """Copy the damaged file ``path`` (``what`` it is) to ``<name>.unreadable-<date>``
    beside it, before it is written again with the ``kept`` entries read from it, and say
    so (None: it could not be copied: the caller leaves ``path`` as it is). A copy, not a
    move: should the writing fail, the damaged file is still where it was (a review)."""
    from napari_cryopick.io.atomic import set_aside

    try:
        aside = set_aside(path, copy=True)
    except OSError:
        return None
    logger.warning(
        "%s: %s was damaged: %d entr%s read from it kept, the file set aside as %s",
        path,
        what,
        kept,
        "y" if kept == 1 else "ies",
        aside,
    )
    return aside


def _read_index() -> dict[str, str]:
    """The index ``{micrograph path: data set}``; {} when there is none. A damaged one (cut
    short, not UTF-8, not an object) gives the entries that can still be read."""
    return read_string_map(_index_path())[0]


def _add_to_index(micrograph_path: Path, dataset: str) -> None:
    index, damaged = read_string_map(_index_path())
    salvaged = len(index)
    key = str(micrograph_path)
    if index.get(key) == dataset and not damaged:
        return
    index[key] = dataset
    # a damaged index is kept as it was, beside the one written from what could be read of
    # it (a robustness trial's cut index was written again with one entry: Train's saved
    # annotations went from 4 micrographs to 1, unsaid); not written over when it cannot be
    what = "the index of annotated micrographs"
    if damaged and set_aside_damaged(_index_path(), what, salvaged) is None:
        return  # (the sidecar itself was written)
    # the index is a convenience; the sidecar itself was written
    with contextlib.suppress(OSError):
        _atomic_write_text(_index_path(), json.dumps(index, indent=1, sort_keys=True))


def list_annotated(dataset: str | None = None) -> list[Path]:
    """Micrographs with saved annotations (from the per-user index), still on disk.

    Parameters
    ----------
    dataset
        Keep only micrographs of this data set; ``None`` keeps all.
    """
    out = []
    for key, name in sorted(_read_index().items()):
        path = Path(key)
        if dataset is not None and name != dataset:
            continue
        if path.is_file() and find_sidecar(path) is not None:
            out.append(path)
    return out


def group_by_dataset(annotations: Iterable[Annotations]) -> dict[str, list[Annotations]]:
    """Group annotations by data-set name (``""`` for unnamed), in order of appearance."""
    groups: dict[str, list[Annotations]] = {}
    for item in annotations:
        groups.setdefault(item.dataset, []).append(item)
    return groups


def dataset_summary(annotations: Iterable[Annotations]) -> pd.DataFrame:
    """One row per data set: number of micrographs and of objects per kind.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, micrographs, particle, vesicle, fiber, negative``.
    """
    rows = []
    for name, items in group_by_dataset(annotations).items():
        row: dict[str, object] = {"dataset": name, "micrographs": len(items)}
        for kind in KINDS:
            row[kind] = sum(item.counts()[kind] for item in items)
        rows.append(row)
    return pd.DataFrame(rows, columns=["dataset", "micrographs", *KINDS])
