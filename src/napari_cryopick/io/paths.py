"""Turning what a user names (files and folders) into the files to read.

The one place that expands folders into micrograph or pick files, used by the
command line, the widgets and the workflows alike. Folders are searched one
level deep (not recursively), in sorted order; hidden files (``.name``, e.g.
an interrupted writer's temporary file) are never taken.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from napari_cryopick.core.text import name_list

__all__ = [
    "expand_inputs",
    "find_project_dir",
    "micrograph_files",
    "micrograph_pixel_sizes",
    "pick_file_suffixes",
    "pick_files",
    "writable_folder",
]


logger = logging.getLogger(__name__)


def writable_folder(folder: str | os.PathLike) -> bool:
    """Whether files may be written into ``folder``: writable, and not marked read-only.

    ``os.access`` says yes to root (common in containers) even for a folder
    whose mode allows nobody to write (``r-xr-xr-x``, a shared raw-data
    folder); such a folder is left alone too (annotations go to the per-user
    folder; the Pick widget's *Pick folder…* asks for an export folder).
    """
    try:
        mode = Path(folder).stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def pick_file_suffixes() -> tuple[str, ...]:
    """File suffixes of every pick-file format (``.star``, ``.box``, ...), sorted."""
    from napari_cryopick.io.pickfiles import FORMATS

    return tuple(sorted({s for module in FORMATS.values() for s in module.SUFFIXES}))


def _subfolders_holding(folder: Path, suffixes: tuple[str, ...], most: int = 3) -> list[str]:
    """Names of ``folder``'s subfolders (one level) holding files of ``suffixes``, a few at most."""
    names: list[str] = []
    try:
        subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return names  # a hint only
    for sub in subfolders:
        if sub.name.startswith("."):
            continue  # hidden, as the folder's own scan skips them
        try:
            holds = any(
                f.suffix.lower() in suffixes
                and not f.name.startswith(".")
                and f.is_file()
                and not written_by_cryopick(f)  # an output folder's overview
                for f in sub.iterdir()
            )
        except OSError:
            continue
        if holds:
            names.append(f"{sub.name}/")
            if len(names) == most:
                break
    return names


def expand_inputs(
    items: Iterable[str | os.PathLike], suffixes: Iterable[str], what: str
) -> list[tuple[Path, bool]]:
    """Files named directly, and files found in named folders.

    Parameters
    ----------
    items
        File and folder paths.
    suffixes
        File suffixes (lower case, with the dot) looked for in folders.
    what
        What the files are ("micrographs", "pick files"), for messages.

    Returns
    -------
    list of (path, from_folder)
        ``from_folder`` tells a file found in a folder from one named directly.

    Raises
    ------
    FileNotFoundError
        An item that does not exist.
    ValueError
        A folder without any file of the suffixes.
    """
    suffixes = tuple(s.lower() for s in suffixes)
    found: list[tuple[Path, bool]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            listed = [p for p in path.iterdir() if p.suffix.lower() in suffixes]
            inside = sorted(p for p in listed if p.is_file() and not p.name.startswith("."))
            broken = [p.name for p in listed if p.is_symlink() and not p.exists()]
            if broken:  # left out, said (a trial's dangling link vanished from the run)
                logger.warning(
                    "%s: %d link(s) to missing files left out: %s",
                    path,
                    len(broken),
                    name_list(broken, 5),
                )
            if not inside:
                holding = _subfolders_holding(path, suffixes)
                hint = (
                    f"; folders are not searched below: its subfolder(s) {', '.join(holding)} "
                    f"hold some, give {'that' if len(holding) == 1 else 'those'}"
                    if holding
                    else ""
                )
                if what == "pick files" and any(map(is_annotation_file, path.glob("*.json"))):
                    hint += NAPARI_ANNOTATIONS_HINT
                raise ValueError(
                    f"{path}: no {what} in this folder (looked for {', '.join(suffixes)}){hint}"
                )
            # micrographs only: a RELION job folder's pick files below are read through
            # its autopick.star index
            below = _subfolders_holding(path, suffixes) if what == "micrographs" else []
            if below:  # not searched: say so, a user may expect them to be
                logger.info(
                    "%s: its subfolder(s) %s hold %s too; folders are not searched below "
                    "(give them to include them)",
                    path,
                    ", ".join(below),
                    what,
                )
            found.extend((p, True) for p in inside)
        elif path.is_file():
            found.append((path, False))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


#: Micrograph lists that may be named among micrographs: cryoSPARC exposures ``.cs`` and
#: RELION micrograph STAR files (``micrographs_ctf.star``, ``corrected_micrographs.star``).
MICROGRAPH_LIST_SUFFIXES: tuple[str, ...] = (".cs", ".star")


def find_project_dir(listing: str | os.PathLike, relative: str) -> Path | None:
    """The nearest folder above ``listing`` in which the path ``relative`` exists.

    cryoSPARC and RELION list micrographs relative to their project folder
    (``P12/``, the RELION project); a list lies somewhere below it
    (``P12/J5/x.cs``, ``CtfFind/job003/micrographs_ctf.star``). ``None`` when
    ``relative`` is absolute or exists in no folder above ``listing``.
    """
    path = Path(relative)
    if path.is_absolute():
        return None
    for folder in Path(listing).resolve().parents:
        if (folder / path).exists():
            return folder
    return None


def _listed_micrographs(path: Path) -> list[tuple[Path, float | None]]:
    """``(file, pixel size)`` of the micrographs a micrograph list names."""
    if path.suffix.lower() == ".star":
        from napari_cryopick.io.relion import read_micrographs_star

        micrographs = read_micrographs_star(path)  # names relative to the current folder
        if micrographs and not micrographs[0].path.exists():
            project = find_project_dir(path, micrographs[0].name)
            if project is not None:
                micrographs = read_micrographs_star(path, project)
        listed = [(m.path, m.pixel_size) for m in micrographs]
        home = "the current folder or a folder above the .star file (RELION's project folder)"
    else:
        from napari_cryopick.io.cryosparc import read_exposures

        listed = [(e.path, e.pixel_size) for e in read_exposures(path)]
        home = "any folder above the .cs file; keep it inside its cryoSPARC project folder"
    if not listed:
        raise ValueError(f"{path}: lists no micrographs")
    first = listed[0][0]
    if not first.exists():
        raise FileNotFoundError(f"{path}: its first micrograph ({first.name}) is not in {home}")
    return listed


#: Images ``cryopick pick`` writes into its output folder (the run's overview).
OUTPUT_IMAGES = frozenset({"summary.png"})


def written_by_cryopick(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an image a ``cryopick pick`` run wrote (its ``summary.png``
    beside the run's ``summary.csv`` or manifest), not a micrograph.

    A run into its own input folder (``--out`` = the folder, ``--monitor DIR
    --out DIR/picks``) picked its overview as a micrograph the next time (a
    trial).
    """
    path = Path(path)
    if path.name not in OUTPUT_IMAGES:
        return False
    folder = path.parent
    return (folder / "summary.csv").is_file() or any(folder.glob("cryopick_manifest*.jsonl"))


def _micrograph_inputs(items: Iterable[str | os.PathLike]) -> list[tuple[Path, float | None]]:
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

    found: list[tuple[Path, float | None]] = []
    for path, from_folder in expand_inputs(items, MICROGRAPH_SUFFIXES, "micrographs"):
        if from_folder and written_by_cryopick(path):
            continue
        if not from_folder and path.suffix.lower() in MICROGRAPH_LIST_SUFFIXES:
            found.extend(_listed_micrographs(path))
        else:
            found.append((path, None))
    # one file named twice (overlapping shell globs, a folder and a file in it) is one
    # micrograph: taken once (it was refused as "both would be written as ...")
    seen: set[str] = set()
    unique = []
    for path, size in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            unique.append((path, size))
    return unique


def micrograph_files(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Micrograph files named directly, found in the named folders, or listed.

    A micrograph list named directly stands for the micrographs it lists,
    resolved in its project folder (:func:`find_project_dir`): a cryoSPARC
    exposures ``.cs`` (:func:`napari_cryopick.io.cryosparc.read_exposures`) or
    a RELION micrograph STAR file
    (:func:`napari_cryopick.io.relion.read_micrographs_star`).
    """
    return [path for path, _ in _micrograph_inputs(items)]


def micrograph_pixel_sizes(items: Iterable[str | os.PathLike]) -> dict[str, float]:
    """Pixel sizes that micrograph lists state (``psize_A``, the optics table), by absolute path.

    They beat the micrograph files' headers. Empty when no list is named.
    """
    listed = [Path(i) for i in items if Path(i).suffix.lower() in MICROGRAPH_LIST_SUFFIXES]
    sizes = _micrograph_inputs([p for p in listed if p.is_file()])
    return {os.path.abspath(path): size for path, size in sizes if size is not None}


#: Files cryopick and RELION write next to pick files that hold no picks: a folder
#: search for pick files leaves them out (``cryopick evaluate --pred`` and
#: ``cryopick filter`` on an output folder or a RELION job folder). Named
#: directly, they are read (and refused) as any other file.
BOOKKEEPING_FILES = frozenset(
    {
        "summary.csv",
        "RELION_OUTPUT_NODES.star",
        "coords_suffix_autopick.star",
        # what RELION writes into every job folder
        "note.txt",
        "job.star",
        "job_pipeline.star",
        "default_pipeline.star",
    }
)


#: The napari annotations' sidecar files (io.annotations keeps them: its one suffix).
SIDECAR_SUFFIX = ".cryopick.json"


def is_annotation_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a napari annotation sidecar: ``<micrograph>.cryopick.json``
    beside its micrograph, or ``<stem>-<hash>.json`` in the per-user folder (a docs check:
    those were "unknown pick file suffix '.json'" without the hint)."""
    path = Path(path)
    if path.name.endswith(SIDECAR_SUFFIX):
        return True
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return b'"napari-cryopick-annotations"' in head


#: Said where napari annotations are given as pick files (a trial looked for a way).
NAPARI_ANNOTATIONS_HINT = (
    "; the napari annotations (<micrograph>.cryopick.json) are not pick files: "
    "'cryopick train --annotations' reads them for the given micrographs"
)


def pick_files(items: Iterable[str | os.PathLike]) -> list[tuple[Path, bool]]:
    """Pick files named directly or found in the named folders: ``(path, from_folder)``.

    A folder's :data:`BOOKKEEPING_FILES` are left out.
    """
    found = expand_inputs(items, pick_file_suffixes(), "pick files")
    kept = [(p, folder) for p, folder in found if not (folder and p.name in BOOKKEEPING_FILES)]
    if found and not kept:
        raise ValueError(
            f"{found[0][0].parent}: no pick files in this folder (only "
            f"{', '.join(sorted({p.name for p, _ in found}))})"
        )
    return kept
