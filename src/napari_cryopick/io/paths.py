"""Turning what a user names (files and folders) into the files to read.

The one place that expands folders into micrograph or pick files, used by the
command line, the widgets and the workflows alike. Folders are searched one
level deep (``recursive``: every folder below too, as ``cryopick pick
--recursive``), in sorted order; hidden files and folders (``.name``, e.g. an
interrupted writer's temporary file) are never taken.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from napari_cryopick.core.text import name_list

__all__ = [
    "expand_inputs",
    "find_project_dir",
    "micrograph_files",
    "micrograph_pixel_sizes",
    "pick_file_suffixes",
    "pick_files",
    "read_only_text",
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


def read_only_text(path: str | os.PathLike) -> str | None:
    """Why no output may go to ``path`` (a folder, or a file in one, made if missing):
    the nearest of it and its parents that exists is a folder whose mode lets nobody
    write (``r-xr-xr-x``, a shared raw-data folder; :func:`writable_folder`), which root
    (containers, facility pipelines) could write in all the same. None: not so, or not
    run as root (a write probe then says what the file system allows: an ACL may grant
    what the mode bits do not, on NFSv4 or SMB shares)."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return None
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or writable_folder(existing):
        return None
    return (
        f"{existing} is a read-only folder ({stat.filemode(existing.stat().st_mode)}): "
        "cryopick writes nothing there, even as root; give another folder, or make it "
        "writable (chmod u+w)"
    )


def make_output_folder(folder: str | os.PathLike) -> Path:
    """``folder`` made (with its parents) for output files, refused as
    :func:`read_only_text` says when it or the nearest existing folder above it is
    read-only: run as root, a batch wrote into (and made folders in) read-only
    sub-folders of ``--out``, which only ``--out`` itself was checked for (a facility
    trial). Raises PermissionError naming the folder."""
    folder = Path(folder)
    reason = read_only_text(folder)
    if reason is not None:
        raise PermissionError(reason)  # (it names the folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pick_file_suffixes() -> tuple[str, ...]:
    """File suffixes of every pick-file format (``.star``, ``.box``, ...), sorted."""
    from napari_cryopick.io.pickfiles import FORMATS

    return tuple(sorted({s for module in FORMATS.values() for s in module.SUFFIXES}))


#: Folders a search below a folder looks at, at most (hints and ``recursive``): naming a
#: home folder by mistake costs seconds, not minutes.
MOST_FOLDERS_SEARCHED = 10_000


def _tree(folder: Path, suffixes: tuple[str, ...]) -> Iterator[tuple[Path, list[Path]]]:
    """``(folder, its entries with one of suffixes)`` of ``folder`` and every folder below,
    depth-first in sorted order; hidden folders are left out, a folder reached twice
    (through a link) is listed once, and at most :data:`MOST_FOLDERS_SEARCHED` are.
    Unreadable folders are passed over."""
    seen: set[Path] = set()
    stack = [folder]
    while stack and len(seen) < MOST_FOLDERS_SEARCHED:
        current = stack.pop()
        try:
            real = current.resolve()
            entries = sorted(current.iterdir())
        except OSError:
            continue
        if real in seen:
            continue  # a link back up, or a second link to one folder
        seen.add(real)
        yield current, [p for p in entries if p.suffix.lower() in suffixes]
        subfolders = [p for p in entries if not p.name.startswith(".") and p.is_dir()]
        stack.extend(reversed(subfolders))
    if stack:  # said: a search that stopped early must not pass for the whole tree
        logger.warning(
            "%s: only the first %d folders (in sorted order) were searched, %d or more "
            "left: name the folders you mean",
            folder,
            MOST_FOLDERS_SEARCHED,
            len(stack),
        )


def _usable(folder: Path, listed: list[Path]) -> list[Path]:
    """The files of ``listed`` (a folder's entries with the suffixes) to take: not hidden;
    links to missing files are left out and said (a trial's dangling link vanished from
    the run)."""
    broken = [p.name for p in listed if p.is_symlink() and not p.exists()]
    if broken:
        logger.warning(
            "%s: %d link(s) to missing files left out: %s",
            folder,
            len(broken),
            name_list(broken, 5),
        )
    return sorted(p for p in listed if p.is_file() and not p.name.startswith("."))


def _holding_below(
    folder: Path, suffixes: tuple[str, ...], named: Collection[str] = ()
) -> list[tuple[str, int]]:
    """``("sub/deeper/", number of files)`` of each folder below ``folder`` (any depth)
    holding files of ``suffixes``, but those in ``named`` (absolute paths: given on the
    command line themselves)."""
    holding = []
    for current, listed in _tree(folder, suffixes):
        if current == folder or os.path.abspath(current) in named:
            continue
        files = [
            f
            for f in listed
            if not f.name.startswith(".") and f.is_file() and not written_by_cryopick(f)
        ]
        if files:
            holding.append((f"{current.relative_to(folder).as_posix()}/", len(files)))
    return holding


def _below(holding: list[tuple[str, int]], what: str, most: int = 4) -> str:
    """``"3 folders below hold 141 micrographs (a/ 20, b/ 40, c/d/ 81)"``: the first
    ``most`` named, the others counted."""
    files = sum(n for _, n in holding)
    shown = ", ".join(f"{name} {n}" for name, n in holding[:most])
    more = f" and {len(holding) - most} more" if len(holding) > most else ""
    folders = "1 folder below holds" if len(holding) == 1 else f"{len(holding)} folders below hold"
    if files == 1 and what.endswith("s"):  # "1 pick file", "1 micrograph" (a re-trial)
        what = what[:-1].replace("files", "file")
    return f"{folders} {files} {what} ({shown}{more})"


def _not_searched(holding: list[tuple[str, int]], what: str, option: str) -> str:
    """``"; folders are not searched below, and <_below>: give them<option>"`` ("" when
    no folder below holds any)."""
    if not holding:
        return ""
    give = "it" if len(holding) == 1 else "them"
    return f"; folders are not searched below, and {_below(holding, what)}: give {give}{option}"


def expand_inputs(
    items: Iterable[str | os.PathLike],
    suffixes: Iterable[str],
    what: str,
    *,
    recursive: bool = False,
    recursive_option: str | None = None,
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
    recursive
        Search the folders below the named ones too, at any depth (else a folder's
        own files only, and the folders below that hold some are named).
    recursive_option
        The caller's way to ask for ``recursive`` (``"--recursive"``), offered
        where a folder's subfolders hold files.

    Returns
    -------
    list of (path, from_folder)
        ``from_folder`` tells a file found in a folder from one named directly.

    Raises
    ------
    FileNotFoundError
        An item that does not exist.
    ValueError
        A folder without any file of the suffixes (below it too, ``recursive``), or
        an item that is neither a regular file nor a folder (a named pipe, a device).
    """
    items = _expand_patterns(items)
    suffixes = tuple(s.lower() for s in suffixes)
    named = {os.path.abspath(item) for item in items if Path(item).is_dir()}
    option = f", or {recursive_option} to take every folder below" if recursive_option else ""
    found: list[tuple[Path, bool]] = []
    for item in items:
        path = Path(item)
        if path.is_dir() and recursive:
            inside = [
                f for folder, listed in _tree(path, suffixes) for f in _usable(folder, listed)
            ]
            if not inside:
                raise ValueError(
                    f"{path}: no {what} in this folder or the folders below it (looked for "
                    f"{', '.join(suffixes)})"
                )
            found.extend((p, True) for p in inside)
        elif path.is_dir():
            inside = _usable(path, [p for p in path.iterdir() if p.suffix.lower() in suffixes])
            packed = _compressed(path, suffixes, inside) if what == "micrographs" else ""
            if packed and inside:
                logger.warning("%s: %s", path, packed)
            if not inside:
                # every folder below that holds some, at any depth: a trial followed the
                # advice "apo/, bgal/ hold some" and lost ribo/GridA/ and ribo/GridC/Session2/
                hint = _not_searched(_holding_below(path, suffixes, named), what, option)
                hint += f"; {packed}" if packed else ""
                if what == "pick files" and any(map(is_annotation_file, path.glob("*.json"))):
                    hint += NAPARI_ANNOTATIONS_HINT
                raise ValueError(
                    f"{path}: no {what} in this folder (looked for {', '.join(suffixes)}){hint}"
                )
            # micrographs only: a RELION job folder's pick files below are read through
            # its autopick.star index; folders given themselves are not news
            holding = _holding_below(path, suffixes, named) if what == "micrographs" else []
            if holding:  # not searched: say so, a user may expect them to be
                logger.info(
                    "%s: %s, not taken: folders are not searched below (give %s%s)",
                    path,
                    _below(holding, what),
                    "it" if len(holding) == 1 else "them",
                    option,
                )
            found.extend((p, True) for p in inside)
        elif path.is_file():
            found.append((path, False))
        elif path.exists():
            # a named pipe, /dev/null: "no such file" was untrue, and evaluate's search for
            # the missing one ended in a StopIteration traceback (an I/O trial)
            raise ValueError(f"{path}: not a regular file or folder")
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def _expand_patterns(items: Iterable[str | Path]) -> list[str | Path]:
    """``items``, with each one that names no file but holds a wildcard (``*``, ``?``,
    ``[``) replaced by the files it matches, sorted, as a shell would (a robustness trial's
    quoted ``--micrographs "mics/*.mrc"`` was told only "no such file or folder").

    Raises
    ------
    FileNotFoundError
        A pattern that matches nothing.
    """
    expanded: list[str | Path] = []
    for item in items:
        text = str(item)
        if Path(item).exists() or not any(c in text for c in "*?["):
            expanded.append(item)
            continue
        matches = sorted(glob.glob(text))
        if not matches:
            raise FileNotFoundError(f"{text}: no file or folder matches this pattern")
        expanded.extend(matches)
    return expanded


#: Micrograph lists that may be named among micrographs: cryoSPARC exposures ``.cs`` and
#: RELION micrograph STAR files (``micrographs_ctf.star``, ``corrected_micrographs.star``).
MICROGRAPH_LIST_SUFFIXES: tuple[str, ...] = (".cs", ".star")


def find_project_dir(listing: str | os.PathLike, relative: str) -> Path | None:
    """The nearest folder above ``listing`` in which the path ``relative`` exists.

    cryoSPARC and RELION list micrographs relative to their project folder
    (``P12/``, the RELION project); a list lies somewhere below it
    (``P12/J5/x.cs``, ``CtfFind/job003/micrographs_ctf.star``). ``None`` when
    ``relative`` is absolute or exists in no folder above ``listing``. RELION's type
    suffix (``x.mrc:mrc``) is no part of the file looked for (a review: such a list read
    from outside the project named its first micrograph as not found).
    """
    from napari_cryopick.io.formats import RELION_TYPE_SUFFIX

    path = Path(RELION_TYPE_SUFFIX.sub("", str(relative)))
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
#: Folder below ``--out`` of the pictures ``cryopick pick --pictures N`` draws (the pick
#: files' folders mirrored below it).
PICTURES_FOLDER = "pictures"


def _a_runs_folder(folder: Path) -> bool:
    return (folder / "summary.csv").is_file() or any(folder.glob("cryopick_manifest*.jsonl"))


def written_by_cryopick(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an image a ``cryopick pick`` run wrote, not a micrograph: its
    ``summary.png`` beside the run's ``summary.csv`` or manifest, or a PNG below the
    run's ``pictures/`` folder (``--pictures N``).

    A run into its own input folder (``--out`` = the folder, ``--monitor DIR
    --out DIR/picks``) picked its overview as a micrograph the next time (a
    trial), and its pictures over and over (a review).
    """
    path = Path(path)
    if path.name in OUTPUT_IMAGES:
        return _a_runs_folder(path.parent)
    if path.suffix.lower() != ".png":
        return False
    return any(
        parent.name == PICTURES_FOLDER and _a_runs_folder(parent.parent) for parent in path.parents
    )


def _micrograph_inputs(
    items: Iterable[str | os.PathLike],
    recursive: bool = False,
    recursive_option: str | None = None,
) -> list[tuple[Path, float | None]]:
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

    found: list[tuple[Path, float | None]] = []
    expanded = expand_inputs(
        items,
        MICROGRAPH_SUFFIXES,
        "micrographs",
        recursive=recursive,
        recursive_option=recursive_option,
    )
    for path, from_folder in expanded:
        if from_folder and written_by_cryopick(path):
            continue
        suffix = path.suffix.lower()
        if not from_folder and suffix == ".txt":
            listed = _text_list(path)
            if listed is not None:
                found.extend((item, None) for item in listed)
                continue
        if not from_folder and suffix not in (*MICROGRAPH_SUFFIXES, *MICROGRAPH_LIST_SUFFIXES):
            # refused before anything is made (a CLI trial's pick CSV given as a micrograph
            # ran the zero-shot search, made --out and a manifest, then failed it)
            from napari_cryopick.io.pickfiles import FOLDER_PICK_SUFFIXES

            what = (
                "a pick file"
                if suffix in FOLDER_PICK_SUFFIXES
                else f"a {suffix or 'suffixless'} file"
            )
            raise ValueError(
                f"{path}: {what}, not a micrograph ({', '.join(MICROGRAPH_SUFFIXES)}) or a "
                "micrograph list (RELION .star, cryoSPARC .cs, a .txt of one micrograph "
                "path a line)"
                + (
                    ": pick files are read by cryopick train --picks and cryopick evaluate"
                    if suffix in FOLDER_PICK_SUFFIXES
                    else ""
                )
            )
        if not from_folder and suffix in MICROGRAPH_LIST_SUFFIXES:
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


#: Suffixes of compressed files (``mic.mrc.gz``): not read as micrographs.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def _compressed(folder: Path, suffixes: Sequence[str], taken: Sequence[Path] = ()) -> str:
    """What to say of ``folder``'s compressed micrographs (``mic.mrc.gz``: EMPIAR
    entries hold some), left out; "" when none (a file-format trial's folder of .mrc.gz
    read "no micrographs in this folder", and beside others they were left out unsaid).
    One whose decompressed copy is among ``taken`` is not said (it is read)."""
    read = {p.name for p in taken}
    packed = [
        p.name
        for p in folder.iterdir()
        if p.suffix.lower() in COMPRESSED_SUFFIXES
        and Path(p.stem).suffix.lower() in suffixes
        and p.stem not in read
    ]
    if not packed:
        return ""
    return (
        f"{len(packed)} compressed micrograph(s) left out ({', '.join(sorted(packed)[:3])}"
        f"{', ...' if len(packed) > 3 else ''}): decompress them first (gunzip, bunzip2, "
        "unxz, unzstd)"
    )


def _text_list(path: Path) -> list[Path] | None:
    """The micrographs a plain-text list names, one path a line (``#`` comments and blank
    lines skipped; a relative path is of the list's folder, else of the working folder),
    as scripts write them (a scale trial's list was refused as "a pick file"). None when
    ``path`` is no such list (a pick file, or lines that name no micrograph files)."""
    from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

    try:  # (a Notepad list starts with a byte-order mark: a re-trial's was "not there")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [
        (number, _unquoted(line.strip()))
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]
    if not lines or any(Path(line).suffix.lower() not in MICROGRAPH_SUFFIXES for _, line in lines):
        return None
    files, missing = [], []
    for number, line in lines:
        given = Path(line).expanduser()
        beside = given if given.is_absolute() else path.parent / given
        chosen = beside if beside.exists() or given.is_absolute() else given
        if not chosen.is_file():
            missing.append(f"line {number}: {line}")
        files.append(Path(os.path.abspath(chosen)))
    if missing:
        raise ValueError(
            f"{path}: a list of micrographs, {len(missing)} of which are not there "
            f"({'; '.join(missing[:3])}{'; ...' if len(missing) > 3 else ''}): relative "
            "paths are of the list's folder or the working folder"
        )
    return files


def _unquoted(text: str) -> str:
    """``text`` without one pair of enclosing quotes (a path a script quoted)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def micrograph_files(
    items: Iterable[str | os.PathLike],
    *,
    recursive: bool = False,
    recursive_option: str | None = None,
) -> list[Path]:
    """Micrograph files named directly, found in the named folders, or listed.

    ``recursive`` searches the folders below the named ones too;
    ``recursive_option`` names the caller's option for it in the advice given
    where only folders below hold micrographs (:func:`expand_inputs`).

    A micrograph list named directly stands for the micrographs it lists,
    resolved in its project folder (:func:`find_project_dir`): a cryoSPARC
    exposures ``.cs`` (:func:`napari_cryopick.io.cryosparc.read_exposures`) or
    a RELION micrograph STAR file
    (:func:`napari_cryopick.io.relion.read_micrographs_star`); a ``.txt`` file
    of one micrograph path a line too (:func:`_text_list`).
    """
    return [path for path, _ in _micrograph_inputs(items, recursive, recursive_option)]


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
        # the micrographs a RELION ManualPick job's user selected (no coordinates)
        "micrographs_selected.star",
        # what RELION writes into every job folder
        "note.txt",
        "job.star",
        "job_pipeline.star",
        "default_pipeline.star",
    }
)


def is_bookkeeping_file(path: str | os.PathLike) -> bool:
    """One of :data:`BOOKKEEPING_FILES`, or a RELION 3.1 ``coords_suffix_<job>.star`` (the
    micrograph list a ManualPick or AutoPick job names: a trial's ManualPick folder was
    refused for its ``micrographs_selected.star`` and ``coords_suffix_manualpick.star``)."""
    name = Path(path).name
    return name in BOOKKEEPING_FILES or (
        name.startswith("coords_suffix_") and name.endswith(".star")
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


def pick_files(
    items: Iterable[str | os.PathLike],
    *,
    recursive: bool = False,
    recursive_option: str | None = None,
) -> list[tuple[Path, bool]]:
    """Pick files named directly or found in the named folders: ``(path, from_folder)``.

    A folder's :data:`BOOKKEEPING_FILES` are left out; a file reached twice under one name
    (named twice, or named and in a named folder, through a linked folder) is taken once,
    as named where it is named once. ``recursive``: the folders
    below the named ones too (``recursive_option``: the option that asks for it, named
    in the hints).
    """
    items = _expand_patterns(items)
    found = expand_inputs(
        items,
        pick_file_suffixes(),
        "pick files",
        recursive=recursive,
        recursive_option=recursive_option,
    )
    taken: dict[tuple[str, str], tuple[Path, bool]] = {}
    for p, folder in found:
        if folder and is_bookkeeping_file(p):
            continue
        # one file reached twice under one name (named twice, named and in a folder named:
        # a CLI trial's --pred a.csv a.csv counted every pick twice, half of them false);
        # a link of another name is another micrograph's file (per-micrograph formats are
        # matched by name), and a file named directly counts as named wherever it comes
        key = (os.path.realpath(p), p.name)
        if key not in taken:
            taken[key] = (p, folder)
        elif not folder:
            taken[key] = (taken[key][0], False)
    kept = list(taken.values())
    if found and not kept:
        folder = found[0][0].parent
        # a pick run's output folder holds its summary.csv and, with sub-folders of
        # micrographs, its picks below: said as for an empty folder (a batch trial got
        # "only summary.csv" and not the 220 files below)
        named = {os.path.abspath(item) for item in items if Path(item).is_dir()}
        holding = [] if recursive else _holding_below(folder, pick_file_suffixes(), named)
        option = f", or {recursive_option} to take every folder below" if recursive_option else ""
        hint = _not_searched(holding, "pick files", option)
        raise ValueError(
            f"{folder}: no pick files in this folder (only "
            f"{', '.join(sorted({p.name for p, _ in found}))}){hint}"
        )
    return kept


def pick_folders_below(items: Iterable[str | os.PathLike]) -> list[tuple[str, str]]:
    """For each named folder whose sub-folders hold pick files that were not taken (no
    recursion): ``(folder, "<folder>: 2 folders below hold 26 pick files (a/ 6, b/ 20)")``."""
    items = _expand_patterns(items)
    named = {os.path.abspath(item) for item in items if Path(item).is_dir()}
    said = []
    for item in items:
        if Path(item).is_dir():
            holding = _holding_below(Path(item), pick_file_suffixes(), named)
            if holding:
                said.append((str(item), f"{item}: {_below(holding, 'pick files')}"))
    return said
