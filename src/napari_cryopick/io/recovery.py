"""Corrected picks kept on disk until they are used, so closing napari loses nothing.

The napari widgets keep each picked micrograph's candidates with the user's
corrections (picks deleted, moved or added by hand; circles and paths edited)
in the session. Those corrections become training labels ("Use as training
labels") or files (Export) only when the user says so; napari closing, or
before that used to lose them without a word. So a micrograph that closes
holding corrections (napari closing closes every micrograph) has its result
saved here, and so has the micrograph on screen a moment (2 s) after each
edit of its result layers, so that a crash or a killed napari keeps them too;
the next napari session that opens the same micrograph file shows it again
as the user left it.

One file per micrograph, ``<user annotation folder>/corrections/<stem>-<hash of
the absolute path>.npz`` (the folder of :func:`~napari_cryopick.io.annotations.
user_annotation_dir`, ``$CRYOPICK_ANNOTATION_DIR`` included), written atomically.
It holds plain arrays and one JSON text, read with ``allow_pickle=False``. It
is only taken back for the file it was saved for, unchanged since (its size
and modification time); it is removed when the micrograph holds no
corrections any more (used as training labels, picked anew without them,
closed without them). One that cannot be read, or holds what this module never
writes, is set aside unchanged as ``<name>.unreadable-<date>`` and said
(:class:`DamagedCorrections`).

This module imports neither napari nor Qt.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import MAX_COORDINATE_PX, normalize_picks
from napari_cryopick.io.annotations import user_annotation_dir, user_file_key
from napari_cryopick.io.atomic import atomic_write_bytes

FORMAT_NAME = "napari-cryopick-corrections"
FORMAT_VERSION = 1
_NUMBER_COLUMNS = ("x", "y", "diameter", "score", "tube_id")
#: The position arrays kept, and their columns (``labelled_shapes``: kind code, x, y,
#: diameter, tube_id and score of the circles and paths last used as training labels).
_ARRAYS = {"original": 2, "negatives": 2, "deleted_shapes": 2, "labelled_shapes": 6}


@dataclass
class SavedCorrections:
    """A picked micrograph's result with the user's corrections, as saved.

    ``picks`` is every candidate (project pick table, all kinds) as the user
    left them; ``arrays`` the result's position arrays (``original``,
    ``negatives``, ``deleted_shapes``, ``labelled_shapes``; absent: None); ``settings`` the
    result's numbers (threshold, heatmap placement, fiber width, link radius,
    kinds edited) and where it came from (``model``, ``saved``).
    """

    micrograph_path: Path
    picks: pd.DataFrame
    arrays: dict[str, np.ndarray | None] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def recovery_path(micrograph_path: str | os.PathLike) -> Path:
    """Where the corrections of ``micrograph_path`` are kept (named as its per-user
    annotation file is, :func:`~napari_cryopick.io.annotations.user_file_key`)."""
    key = user_file_key(Path(micrograph_path).absolute())
    return user_annotation_dir() / "corrections" / f"{key}.npz"


def _fingerprint(path: Path) -> list[int]:
    stat = path.stat()
    return [int(stat.st_size), int(stat.st_mtime_ns)]


def file_stamp(path: str | os.PathLike | None) -> tuple[int, str] | None:
    """``(size, digest of 16 blocks of its bytes)`` of ``path`` (:func:`_sample_digest`);
    None: no path, or not readable.

    Kept with picks beside the model file that made them: the same path written again
    since (a training into the same file) is another model. Not the modification time:
    a project copied without its times (``cp -r``) would call every model changed (a
    review)."""
    if path is None:
        return None
    try:
        stat = Path(path).stat()
        # read again only when the file changed (a review: 1 MiB read for each of a
        # thousand micrographs' picks back from disk, all of one model file)
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        if key not in _STAMPS:
            if len(_STAMPS) > 64:
                _STAMPS.clear()
            _STAMPS[key] = (int(stat.st_size), _sample_digest(Path(path)))
        return _STAMPS[key]
    except OSError:
        return None


#: :func:`file_stamp`'s answers by (path, size, modification time).
_STAMPS: dict[tuple[str, int, int], tuple[int, str]] = {}


_SAMPLE_BLOCKS = 16
_SAMPLE_BYTES = 1 << 16


def _sample_digest(path: Path) -> str:
    """A digest of 16 blocks of 64 KiB spread over ``path`` (1 MiB read however large):
    a micrograph re-processed since (motion correction run again) differs in every
    block; one touched or copied back with a new time does not."""
    import hashlib

    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        for offset in np.linspace(0, max(size - _SAMPLE_BYTES, 0), _SAMPLE_BLOCKS):
            handle.seek(int(offset))
            digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def _same_file(header: dict[str, Any], path: Path) -> bool:
    """Whether the micrograph ``path`` is the one the corrections' ``header`` was saved for."""
    fingerprint = _fingerprint(path)
    saved = header.get("micrograph")
    if saved == fingerprint:
        return True
    sample = header.get("sample")
    return (
        isinstance(saved, list)
        and bool(saved)
        and saved[0] == fingerprint[0]
        and sample is not None
        and sample == _sample_digest(path)
    )


def save_corrections(saved: SavedCorrections) -> Path:
    """Write ``saved`` (atomically) and return its file."""
    path = Path(saved.micrograph_path).absolute()
    target = recovery_path(path)
    picks = normalize_picks(saved.picks)
    arrays: dict[str, np.ndarray] = {
        f"picks_{name}": picks[name].to_numpy(np.float64) for name in _NUMBER_COLUMNS
    }
    arrays["picks_kind"] = picks["kind"].astype(str).to_numpy().astype(np.str_)
    for name in _ARRAYS:
        value = saved.arrays.get(name)
        if value is not None:
            arrays[name] = np.asarray(value, np.float64).reshape(-1, _ARRAYS[name])
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "micrograph_path": str(path),
        "micrograph": _fingerprint(path),
        "sample": _sample_digest(path),
        "settings": saved.settings,
    }
    arrays["header"] = np.array(json.dumps(header))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(target, buffer.getvalue())


def _kept(micrograph_path: str | os.PathLike) -> tuple[Path, Path, dict[str, Any]] | None:
    """``(micrograph path, corrections file, its header)`` when a corrections file of this
    module is kept for ``micrograph_path`` (fitting it or not); None otherwise."""
    path = Path(micrograph_path).absolute()
    source = recovery_path(path)
    if not source.is_file():
        return None
    try:
        with np.load(source, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        return None
    return path, source, header


def _fits(path: Path, header: dict[str, Any]) -> bool:
    try:
        return _same_file(header, path)
    except OSError:
        return False


class DamagedCorrections(ValueError):
    """A corrections file that cannot be read or holds what this module never writes; the
    message names it and where it was set aside (:func:`load_corrections`)."""


def load_corrections(micrograph_path: str | os.PathLike) -> SavedCorrections | None:
    """The corrections saved for ``micrograph_path``; None when there are none, or when the
    file changed since (another size, or another time and content: :func:`stale_corrections`
    says so).

    Raises
    ------
    DamagedCorrections
        The corrections file cannot be read, or holds what this module never writes (cut
        short, not an archive, arrays of other lengths, coordinates that are no numbers or
        no micrograph's, unknown kinds, settings of the wrong types): it is set aside as
        ``<name>.unreadable-<date>`` first, so that the next save does not replace it (a
        robustness trial's damaged file was written over unsaid, or raised out of napari).
    """
    path = Path(micrograph_path).absolute()
    source = recovery_path(path)
    if not source.is_file():
        return None
    try:
        kept = _kept(path)
        if kept is None:
            raise ValueError(f"not a {FORMAT_NAME} file")
        if not _fits(path, kept[2]):
            return None
        return _read_checked(path, source, kept[2])
    except Exception as error:  # numpy and zipfile raise many types on damaged archives
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}{': ' + reason if reason else ''}"
        aside = _set_aside(source)
        where = f"set aside as {aside}" if aside is not None else "left where it is"
        raise DamagedCorrections(
            f"{source}: the corrections kept for {path} cannot be read ({reason}); {where}"
        ) from None


def _read_checked(path: Path, source: Path, header: dict[str, Any]) -> SavedCorrections:
    """The corrections of ``source``, checked (ValueError: what this module never writes)."""
    from napari_cryopick.core.pick_table import KINDS

    with np.load(source, allow_pickle=False) as data:
        table = {name: np.asarray(data[f"picks_{name}"], np.float64) for name in _NUMBER_COLUMNS}
        kinds = np.asarray(data["picks_kind"]).astype(str)
        arrays = {name: (data[name] if name in data.files else None) for name in _ARRAYS}
    lengths = {len(kinds), *(len(v) for v in table.values())}
    if len(lengths) != 1 or any(v.ndim != 1 for v in table.values()) or kinds.ndim != 1:
        raise ValueError("pick columns of different lengths")
    for name in ("x", "y"):
        if not (np.isfinite(table[name]) & (np.abs(table[name]) <= MAX_COORDINATE_PX)).all():
            raise ValueError(f"pick {name} that is no micrograph's position")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kinds {unknown[:3]}")
    for name, width in _ARRAYS.items():
        value = arrays[name]
        if value is None:
            continue
        value = np.asarray(value, np.float64)
        if value.size == 0:
            arrays[name] = value.reshape(0, width)
            continue
        if not (value.ndim == 2 and value.shape[1] == width):
            if name == "labelled_shapes" and value.ndim == 2:
                # a record of another layout (files kept 2026-12-06 held 5 columns): not
                # used, as before; the corrections themselves come back (a review)
                arrays[name] = None
                continue
            raise ValueError(f"{name} of another shape")
        # positions: x, y (the labelled shapes' first column is their kind's code, the
        # last their score, NaN for the user's own)
        position = value[:, 1:3] if name == "labelled_shapes" else value
        if not (np.isfinite(position) & (np.abs(position) <= MAX_COORDINATE_PX)).all():
            raise ValueError(f"{name} that are no micrograph's positions")
        arrays[name] = value
    settings = header.get("settings")
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise ValueError("settings that are no mapping")
    threshold = settings.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"threshold {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold {threshold!r}")
    for name in ("heatmap_scale", "heatmap_translate"):
        value = settings.get(name)
        if value is not None and not (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(v, (int, float)) and np.isfinite(v) for v in value)
        ):
            raise ValueError(f"{name} {value!r}")
    for name in ("picked_diameter_px", "fiber_width_px", "link_radius_px"):
        value = settings.get(name)
        if value is not None and not (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and 0 < value < MAX_COORDINATE_PX
        ):
            raise ValueError(f"{name} {value!r}")
    edited = settings.get("edited")
    if edited is not None and not (
        isinstance(edited, (list, tuple)) and all(isinstance(e, str) for e in edited)
    ):
        raise ValueError(f"edited {edited!r}")
    picks = normalize_picks(pd.DataFrame({**table, "kind": kinds}).assign(micrograph=path.stem))
    return SavedCorrections(path, picks, arrays, dict(settings))


def _set_aside(source: Path) -> Path | None:
    """Move the damaged file ``source`` aside (:func:`~napari_cryopick.io.atomic.set_aside`;
    None: it could not be moved)."""
    from napari_cryopick.io.atomic import set_aside

    try:
        return set_aside(source)
    except OSError:
        return None


def corrections_kept(micrograph_path: str | os.PathLike) -> bool:
    """Whether corrections are kept for ``micrograph_path`` as the file is now (those
    :func:`load_corrections` takes back), read from their header only."""
    kept = _kept(micrograph_path)
    return kept is not None and _fits(kept[0], kept[2])


def stale_corrections(micrograph_path: str | os.PathLike) -> Path | None:
    """The corrections file kept for ``micrograph_path`` if it was saved for the file as
    it was before it changed (:func:`load_corrections` does not take it back), so the
    user can be told; None otherwise (none kept, it fits, or it cannot be read)."""
    kept = _kept(micrograph_path)
    if kept is None or _fits(kept[0], kept[2]):
        return None
    return kept[1]


def forget_corrections(micrograph_path: str | os.PathLike) -> None:
    """Remove the corrections kept for ``micrograph_path`` (none: nothing to do)."""
    recovery_path(micrograph_path).unlink(missing_ok=True)
