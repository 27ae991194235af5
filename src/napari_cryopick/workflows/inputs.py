"""Training data from files: micrographs and pick files matched by name, grouped into data sets.

Used by ``cryopick train`` (and any script) to turn what the user names into
:class:`napari_cryopick.workflows.train.TrainingSet` objects. Pick files are
matched to micrographs by the micrograph named in the file, or by the file
name (possibly with a suffix such as ``_autopick``). The particle diameter is
given once, in pixels or in Angstrom (converted with each micrograph's pixel
size); it then belongs to the training set.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_cryopick.core.text import message_list, name_list
from napari_cryopick.io.pickfiles import match_name
from napari_cryopick.workflows.train import TrainingSet

__all__ = ["clean_labels", "match_name", "read_training_picks", "training_sets_from_files"]

logger = logging.getLogger(__name__)


#: Picks fewer than this say nothing of where a data set's particles lie.
CORNER_MIN_PICKS = 20


def clicks_in_a_corner(picks: Any, shapes: dict[str, tuple[int, int]] | None) -> float | None:
    """The share of the width and height all ``picks`` stay within, when at most a half.

    Clicks on a data set's particles spread over their micrographs; when all
    of :data:`CORNER_MIN_PICKS` or more lie in the top-left quarter (or less),
    their coordinates are most likely those of binned micrographs (a trial
    trained on a Topaz file of 4-times binned micrographs without a word).
    None: spread as clicks are, too few, or no shapes.
    """
    if shapes is None or len(picks) < CORNER_MIN_PICKS or "micrograph" not in picks:
        return None
    rows = picks["micrograph"].map(lambda name: shapes.get(name, (0, 0))[0]).to_numpy(float)
    cols = picks["micrograph"].map(lambda name: shapes.get(name, (0, 0))[1]).to_numpy(float)
    if not (rows > 0).all() or not (cols > 0).all():
        return None
    extent = max(float((picks["x"] / cols).max()), float((picks["y"] / rows).max()))
    return extent if extent <= 0.5 else None


#: Picks scoring below this (the default pick threshold) are candidates rather
#: than picks; :data:`CANDIDATE_MIN_SHARE` of them in training files is warned about.
CANDIDATE_SCORE = 0.15
CANDIDATE_MIN_SHARE = 0.1


def candidate_share(picks: Any) -> float | None:
    """The share of scored ``picks`` below :data:`CANDIDATE_SCORE`, when at least
    :data:`CANDIDATE_MIN_SHARE` (None otherwise, or without scores).

    A ``--keep-candidates`` output given as training picks trained every
    candidate, down to 0.05, as a particle without a word (a trial).
    """
    import numpy as np

    if "score" not in picks or not len(picks):
        return None
    scores = picks["score"].to_numpy(float)
    scores = scores[~np.isnan(scores)]
    if not scores.size:
        return None
    share = float(np.mean(scores < CANDIDATE_SCORE))
    return share if share >= CANDIDATE_MIN_SHARE else None


def _empty_matched_files(
    found: Sequence[tuple[Path, bool]], names: set[str], named: bool = False
) -> list[Path]:
    """Those of the pick files ``found`` named after a micrograph of ``names`` (``named``:
    or given by name, not found in a folder: a CLI trial's ``--picks headeronly.star`` was
    told how pick files are matched by name) that read as valid files without picks."""
    from napari_cryopick.io.pickfiles import match_name, read_picks

    empty = []
    for path, folder in found:
        if (folder or not named) and match_name(Path(path).stem, names) is None:
            continue
        try:
            if not len(read_picks(path)):
                empty.append(Path(path))
        except (ValueError, OSError):
            continue
    return empty


def read_training_picks(
    paths: Sequence[tuple[Path, bool]],
    names: set[str],
    kind: str | None = None,
    shapes: dict[str, tuple[int, int]] | None = None,
    binning: float = 1.0,
    flip_y: bool = False,
    diameter_px: float | None = None,
) -> Any:
    """Read pick files and keep the picks of the given micrographs.

    A file named directly must match a micrograph; files found in a folder
    that match none are skipped (a folder of picks for a whole data set used
    to train on a few of its micrographs). Fiber paths (helical STAR, filament
    CBOX, CSV with ``tube_id``) become points along them.

    Parameters
    ----------
    paths
        ``(path, from_folder)`` as :func:`napari_cryopick.io.paths.pick_files` gives.
    names
        Micrograph names.
    kind
        Overrides the kind of every pick (``"negative"`` for negatives).
    shapes
        ``{name: (rows, cols)}`` of the micrographs: picks far off their
        micrograph are refused naming the file and row, edge picks dropped
        with a counted warning (:func:`napari_cryopick.io.pickfiles.picks_on_micrograph`).
    binning
        The files' coordinates are of micrographs binned this many times
        (Topaz run with ``-s``): scaled to the original pixels.
    flip_y
        The files count y from the bottom (origin bottom-left): mirrored on
        each micrograph's height (needs ``shapes``).
    diameter_px
        The particle diameter (pixels), for how far beyond the edge a pick
        without one may lie (``picks_on_micrograph``); None: not known.
    """
    import pandas as pd

    if flip_y and shapes is None:
        raise ValueError("flipping y needs the micrographs' heights")

    from napari_cryopick.core.object_kinds import densify_fiber_picks
    from napari_cryopick.io.pickfiles import match_files

    def densified(table: Any) -> Any:
        """Fiber paths as points every half width: the width ``--diameter`` gives where the
        file holds none (a trial's RELION helices were filled every 10 px, half a default
        20 px, whatever --diameter said)."""
        if not (table["tube_id"] > 0).any():
            return table
        if diameter_px:
            unknown = (table["tube_id"] > 0) & table["diameter"].isna()
            table = table.assign(diameter=table["diameter"].mask(unknown, float(diameter_px)))
        return densify_fiber_picks(table)

    paths = _without_notes(paths)
    read = [(path, densified(table)) for path, table in _read_pick_files(paths, binning)]
    in_files = [set(table["micrograph"]) for _path, table in read]
    # a per-micrograph file (.box, .cbox, ...) named after the micrograph plus a suffix;
    # two files of one micrograph are refused (the rule of cryopick evaluate)
    matched_files = match_files(read, names)
    tables = []
    skipped = []
    unused: dict[str, int] = {}  # picks of micrographs not given, by micrograph
    pathless: list[str] = []  # files read as fibers (--kind fiber) that hold no paths
    paired: list[str] = []  # RELION manual-picking helices: rows paired into fibers
    single: list[str] = []  # files whose every fiber path is one point
    for (path, table), in_file, (_path, from_folder) in zip(
        matched_files, in_files, paths, strict=True
    ):
        table = table.copy()
        helices = kind == "fiber" and _manual_helices(path, table)
        if helices:
            # RELION's manual picking of helices: start and end of each helix, no tube
            # ids (its file is the same as for particles: only the kind tells them apart)
            table["tube_id"] = table.groupby("micrograph", sort=False).cumcount() // 2 + 1
            # and the points along each, as for the files with tube ids above (a fibers
            # trial's straight helices trained on their two ends only)
            table = densified(table)
            paired.append(path.name)
        table["file_row"] = range(1, len(table) + 1)
        given = table["micrograph"].isin(names)
        matched = table[given]
        for name, count in table.loc[~given, "micrograph"].value_counts().items():
            unused[str(name)] = unused.get(str(name), 0) + int(count)
        if shapes is not None and len(matched):
            from napari_cryopick.core.pick_table import flip_y as mirrored
            from napari_cryopick.io.pickfiles import picks_on_micrograph

            matched = pd.concat(
                [
                    picks_on_micrograph(
                        mirrored(group, shapes[name][0]) if flip_y else group,
                        shapes[name],
                        source=path,
                        diameter_px=diameter_px,
                    )
                    for name, group in matched.groupby("micrograph", sort=False)
                ],
                ignore_index=True,
            )
        matched = matched.drop(columns="file_row")
        if len(table) and matched.empty and from_folder:
            skipped.append(path.name)
            continue
        if len(table) and matched.empty:
            shown = ", ".join(sorted(in_file)[:5]) + (" ..." if len(in_file) > 5 else "")
            raise ValueError(
                f"{path}: its picks belong to no given micrograph (file names: {shown}; "
                f"micrographs: {', '.join(sorted(names)[:5])}{' ...' if len(names) > 5 else ''})"
            )
        if kind is not None:
            if kind == "fiber" and len(matched) and not (matched["tube_id"] > 0).any():
                pathless.append(path.name)
            stated = matched["kind"].astype(str)
            negatives = stated.eq("negative") & (kind != "negative")
            others = stated[~negatives & (stated != kind)]
            if (stated[~negatives] != "particle").any() and len(others):
                # the file names its picks' kinds (a fibers trial's CSV of a fiber and 3
                # particles trained as 86 vesicles with --kind vesicle, unsaid)
                counts = ", ".join(f"{n} {k}" for k, n in others.value_counts().items())
                logger.warning(
                    "%s names its picks' kinds: %s made %s by --kind %s (leave out --kind "
                    "to train each as the file says)",
                    path,
                    counts,
                    kind,
                    kind,
                )
            # (the file's negatives stay negatives: junk is no object of any kind)
            matched = matched.assign(kind=stated.where(negatives, kind))
        fibers = matched[(matched["kind"].astype(str) == "fiber") & (matched["tube_id"] > 0)]
        if (
            len(fibers)
            and not helices  # (tube ids made up here, by pairs)
            and fibers.groupby(["micrograph", "tube_id"]).size().max() == 1
        ):
            single.append(path.name)
        tables.append(matched)
    if paired:
        logger.info(
            "%s: no tube ids: read as RELION's manual picking writes helices, each pair of "
            "rows the start and end of one fiber",
            name_list(paired),
        )
    if pathless:
        # a trial trained a fiber model on a file of particle centres, without a word
        logger.warning(
            "%s: no fiber paths (no tube ids), only points: each trains as a spot on a "
            "fiber, not the fiber between them; give paths (a helical STAR with "
            "rlnHelicalTubeID, a crYOLO filament CBOX, or paths drawn in napari's Annotate)",
            name_list(pathless),
        )
    if single:
        # a fibers trial's file of four tubes of one point each trained without a word
        logger.warning(
            "%s: every fiber path holds one point (one row per tube id): each trains as a "
            "spot on a fiber, not a path; give each fiber's points under one tube id",
            name_list(single),
        )
    if unused:
        picked = {str(n) for t in tables for n in t["micrograph"].unique()}
        _log_unused(unused, skipped, names, picked)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _manual_helices(path: Path, table: Any) -> bool:
    """Whether fiber picks read from ``path`` are RELION's manual-picking helices: a STAR
    file without tube ids or kinds, each micrograph's rows in start-end pairs."""
    if path.suffix.lower() != ".star" or not len(table) or (table["tube_id"] > 0).any():
        return False
    if (table["kind"] != "particle").any():
        return False
    return bool((table.groupby("micrograph", sort=False).size() % 2 == 0).all())


def _without_notes(paths: Sequence[tuple[Path, bool]], say: bool = True) -> list[tuple[Path, bool]]:
    """``paths`` (``(path, from_folder)``) without the files found in a folder that are no
    pick files, such as notes (:func:`_notes_not_picks`; ``say``: with a warning each)."""
    return [(p, f) for p, f in paths if not (f and _notes_not_picks(Path(p), say))]


def _notes_not_picks(path: Path, say: bool = True) -> bool:
    """Whether ``path``, a ``.txt`` file found in a folder of pick files, is no pick file
    (neither a Topaz nor a CSV header: a README, notes), said with a warning: a CLI
    trial's README.txt beside the click files stopped the training."""
    from napari_cryopick.io.pickfiles import PickFileError, detect_format

    if path.suffix.lower() != ".txt":
        return False
    try:
        detect_format(path)
    except PickFileError as error:
        if "cannot tell the pick format" not in str(error):
            return False  # (empty, missing: the reader says so)
        if say:
            logger.warning("%s left out: not a pick file (no Topaz or CSV header)", path)
        return True
    return False


def _read_pick_files(paths: Sequence[tuple[Path, bool]], binning: float) -> list[tuple[Path, Any]]:
    """``(path, picks)`` of each pick file, micrograph names as their stems."""
    from napari_cryopick.io.formats import micrograph_stem
    from napari_cryopick.io.pickfiles import read_picks

    read = []
    for path, _from_folder in paths:
        table = read_picks(path, binning=binning)
        table["micrograph"] = [micrograph_stem(str(n)) or str(n) for n in table["micrograph"]]
        read.append((Path(path), table))
    return read


def _picked_names(paths: Sequence[tuple[Path, bool]], names: set[str], binning: float) -> list[str]:
    """The given micrographs the pick files ``paths`` hold picks of (no checks, nothing
    logged)."""
    from napari_cryopick.io.pickfiles import match_files

    read = _read_pick_files(_without_notes(paths, say=False), binning)
    found = {str(n) for _path, table in match_files(read, names) for n in table["micrograph"]}
    return sorted(found & names)


def _every_unreadable(
    paths: Sequence[tuple[Path, bool]], names: set[str], shapes: Mapping, binning: float
) -> ValueError:
    """One error naming every micrograph with picks that cannot be read (a trial needed
    three runs to learn of three broken files: each run stopped at the first)."""
    from napari_cryopick.io.micrographs import MicrographError

    errors = []
    for name in _picked_names(paths, names, binning):
        try:
            shapes[name]
        except MicrographError as error:
            errors.append(str(error))
    return ValueError(
        f"{len(errors)} micrograph(s) with picks cannot be read (mend or move them, or leave "
        f"out their pick files): {message_list(errors, 10)}"
    )


def read_annotation_picks(
    paths: Sequence[Path],
    names: Sequence[str],
    shapes: Mapping[str, tuple[int, int]],
    diameter_px: float | None = None,
    *,
    saved_diameters: bool = True,
) -> tuple[Any, dict[str, str]]:
    """Every object the napari Annotate widget saved for the micrographs ``paths``
    (their ``.cryopick.json`` sidecars, :func:`napari_cryopick.io.annotations.load_annotations`),
    particles, vesicles, fibers and negatives, in the micrographs' own pixels.

    Returns the picks (``micrograph`` = the name in ``names``) and ``{name: data set}``
    of the sidecars that name one. Objects without a diameter take their sidecar's
    (the Annotate widget's Diameter) when ``saved_diameters`` and no ``diameter_px``. Edge clicks are dropped, clicks far off a
    micrograph refused naming the sidecar (as for pick files).
    """
    import pandas as pd

    from napari_cryopick.core.object_kinds import densify_fiber_picks
    from napari_cryopick.io.annotations import find_sidecar, read_sidecar
    from napari_cryopick.io.micrographs import MicrographError
    from napari_cryopick.io.pickfiles import picks_on_micrograph

    tables, datasets = [], {}
    refused: list[ValueError] = []  # every unusable sidecar said at once (a CLI trial: one a run)
    unreadable: list[ValueError] = []  # and every micrograph they are of that cannot be read
    for path, name in zip(paths, names, strict=True):
        sidecar = find_sidecar(path)
        if sidecar is None:
            continue
        try:
            annotations = read_sidecar(sidecar, micrograph_path=path)
        except ValueError as error:  # AnnotationError, naming the file
            refused.append(error)
            continue
        table = annotations.picks.assign(micrograph=name)
        if annotations.dataset:
            datasets[name] = annotations.dataset
        if not len(table):
            continue
        saved = annotations.diameter_px
        if saved_diameters and diameter_px is None and saved and math.isfinite(saved) and saved > 0:
            # the Annotate widget's Diameter (a fiber's width): its clicks carry none, and
            # the Train widget trains at it (a trial's fibers were estimated at 42-122 px
            # from the CLI, 24 px typed)
            table["diameter"] = table["diameter"].fillna(float(saved))
        if (table["tube_id"] > 0).any():
            table = densify_fiber_picks(table)
        try:
            shape = shapes[name]  # (read on use)
        except MicrographError as error:  # said as the micrograph's, not its sidecar's
            unreadable.append(error)
            continue
        try:
            tables.append(
                picks_on_micrograph(table, shape, source=sidecar, diameter_px=diameter_px)
            )
        except ValueError as error:  # clicks far off the micrograph, naming the sidecar
            refused.append(error)
    if len(refused) + len(unreadable) == 1:
        raise (refused or unreadable)[0]
    if refused or unreadable:
        from napari_cryopick.io.annotations import AnnotationError

        parts = [
            f"{len(errors)} {what} cannot be used: {message_list(errors, 5)}"
            for errors, what in ((unreadable, "micrographs"), (refused, "annotation files"))
            if errors
        ]
        raise AnnotationError("; ".join(parts))
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), datasets


def _log_unused(
    unused: dict[str, int],
    skipped: list[str],
    names: Collection[str],
    picked: Collection[str] = (),
) -> None:
    """Say how many picks of the pick files belong to micrographs not given, naming a few.

    Picks of a per-micrograph file named after a given micrograph, whose picks another
    file already gives (``mic_manualpick.star`` beside a ``particles.star`` of ``mic``),
    are said apart, as a warning: a trial's were "not among the micrographs given". A name
    that differs only in case or separators from a given micrograph left without picks
    (``picked``: those with some) is said as a warning with that name (a typo)."""
    from napari_cryopick.io.pickfiles import match_name

    known = set(names)
    matched = {n: match_name(n, known) for n in unused}
    # only where the micrograph matched has picks of another file: one left without any
    # is a misnamed micrograph, said below (a RELION trial's list named 14_57_34.mrc for
    # 14_57_34_0.mrc: its ManualPick clicks were "given by another pick file", none was)
    covered = {n: c for n, c in unused.items() if matched[n] is not None and matched[n] in picked}
    if covered:
        logger.warning(
            "not used: %d pick(s) of file(s) named after given micrographs (%s), whose "
            "picks another pick file already gives (two files of one micrograph: only the "
            "one naming it is read); give one of them",
            sum(covered.values()),
            name_list(covered, 5),
        )
        unused = {n: c for n, c in unused.items() if n not in covered}
        skipped = [f for f in skipped if Path(f).stem not in covered]
        if not unused:
            return
    files = f" ({len(skipped)} file(s) wholly: {name_list(skipped, 5)})" if skipped else ""

    # a name that differs from a given micrograph's only in case or separators is that
    # micrograph's, misspelt: said as a warning with the name meant (a trial's
    # May08_03_15_02.star beside micrograph May08_03.15.02 lost its 40 clicks to an INFO
    # line); only against given micrographs left without picks (a data set's STAR file
    # names hundreds of micrographs beside the few given)
    def key(name: str) -> str:  # each run of separators one (mic_11_0 is not mic_1_10)
        return re.sub(r"[^0-9a-z]+", "_", name.casefold())

    bare = {key(n): n for n in known if n not in picked and n not in unused}
    close = {n: bare.get(key(n)) or (matched[n] if matched[n] in bare.values() else None)
             for n in unused}  # fmt: skip
    typos = sorted(f"{n} (did you mean {m}?)" for n, m in close.items() if m)
    others = [n for n, m in close.items() if m is None]
    # the misspelt first, all of them: a sorted list of hundreds would hide them
    shown = ", ".join([*typos, *([name_list(others, 5)] if others else [])])
    (logger.warning if typos else logger.info)(
        "not used: %d pick(s) of %d micrograph(s) that are not among the micrographs given: %s%s",
        sum(unused.values()),
        len(unused),
        shown,
        files,
    )


@dataclass(frozen=True)
class _Header:
    """What the checks need of a micrograph that is not kept in memory."""

    name: str
    shape: tuple[int, int]
    pixel_size: float | None
    path: Path


def _header(micrograph: Any, pixel_sizes: dict[str, float] | None = None) -> _Header:
    # a micrograph list's pixel size (cryoSPARC psize_A) beats the file header
    listed = (pixel_sizes or {}).get(os.path.abspath(micrograph.path))
    pixel_size = listed if listed is not None else micrograph.pixel_size
    return _Header(micrograph.name, micrograph.shape, pixel_size, micrograph.path)


class _MadeWhenAsked(Mapping):
    """``{key: make(key)}`` over ``keys``, each value made when first asked for, then kept.

    ``cryopick train --micrographs folder/`` names the whole data set; only the
    micrographs with picks are trained on, so only they are read: a folder of
    thousands of micrographs (or one unreadable micrograph without picks) does
    not stop or slow the training of three clicked ones.
    """

    def __init__(self, keys: Sequence[str], make: Any) -> None:
        self._keys = dict.fromkeys(keys)
        self._make = make
        self._made: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        if key not in self._made:
            self._made[key] = self._make(key)
        return self._made[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def given_pixel_size_note(label: Any, given: float | None, header: float | None) -> str | None:
    """What to say when ``--pixel-size`` (``given``) differs by more than 5 % from the pixel
    size of a micrograph's header or list, which it replaces; None otherwise (the one
    check of ``cryopick train`` and ``cryopick pick``: a CLI trial's --pixel-size 0.885 on
    micrographs whose headers said 1.77 picked 399 of 3,241 particles, unsaid)."""
    if given is None or not header or abs(given / header - 1.0) <= 0.05:
        return None
    return (
        f"{label}: --pixel-size {given:g} Å/px replaces the {header:g} Å/px of its header "
        f"({header / given:.2g} times it): diameters in Å become pixels with the given one; "
        "leave out --pixel-size if the header is right"
    )


def _headers(
    paths: Sequence[Path],
    listed: dict[str, float],
    pixel_size_A: float | None,
    from_picks: Mapping[str, tuple[float, Path]] | None = None,
) -> _MadeWhenAsked:
    """Micrograph name -> :class:`_Header`, each file read when first asked for.

    ``from_picks``: ``{micrograph name: (Å/px, STAR pick file)}`` of pick files' optics
    tables, taken for a micrograph whose header and list give none (a CLI trial's MRC
    headers held the placeholder 1.0 beside its particles file's 1.77 Å/px, and
    ``--diameter-A`` was refused: "none is known"); one that differs from the header's is
    said, the header's kept."""
    from napari_cryopick.io.micrographs import read_micrograph

    by_name = {Path(path).stem: Path(path) for path in paths}
    said: set[float] = set()  # header pixel sizes said to differ from --pixel-size
    told: set[tuple[str, float]] = set()  # (pick file, Å/px) taken or said to differ

    def from_pick_file(name: str, header: _Header) -> _Header:
        size, source = (from_picks or {}).get(name, (None, None))
        if size is None or pixel_size_A is not None:
            return header
        key = (str(source), round(size, 4))
        if header.pixel_size is None:
            if key not in told:
                told.add(key)
                logger.info(
                    "%s: pixel size %g Å/px from the optics table of %s (the header gives none)",
                    by_name[name],
                    size,
                    source,
                )
            return dataclasses.replace(header, pixel_size=size)
        if abs(size / header.pixel_size - 1.0) > 0.05 and key not in told:
            told.add(key)
            logger.warning(
                "%s: its header says %g Å/px, the optics table of %s %g Å/px: the header's "
                "is used (give --pixel-size if it is wrong)",
                by_name[name],
                header.pixel_size,
                source,
                size,
            )
        return header

    def read(name: str) -> _Header:
        header = from_pick_file(name, _header(read_micrograph(by_name[name]), listed))
        if pixel_size_A is not None:
            own = header.pixel_size
            note = given_pixel_size_note(by_name[name], pixel_size_A, own)
            if note is not None and round(own, 4) not in said:
                said.add(round(own, 4))
                logger.warning(note)
            header = dataclasses.replace(header, pixel_size=float(pixel_size_A))
        return header

    return _MadeWhenAsked(list(by_name), read)


def folder_dataset_name(path: str | os.PathLike) -> str:
    """The data-set name ``cryopick train`` and ``cryopick pick`` give a micrograph file
    without ``--dataset``: its folder's (:func:`_dataset_name`)."""
    return _dataset_name(Path(path))


def _dataset_name(path: Path) -> str:
    """The default data-set name: the micrograph's folder as the user named it.

    Not the folder a symbolic link points into: RELION projects and
    benchmark folders link their micrographs from elsewhere, and the target's
    folder (``Movies``, another data set's name) named the head wrongly.
    """
    folder = Path(os.path.abspath(path)).parent
    start = folder
    # generic folders name no protein: the folder above them does (RELION's
    # MotionCorr/job002/Movies/ names the project: every RELION-trained model was
    # called "Movies", a trial)
    while folder.parent != folder and (
        folder.name.lower() in _GENERIC_FOLDERS or _GENERIC_PATTERN.fullmatch(folder.name)
    ):
        folder = folder.parent
    return folder.name or start.name


#: Folder names that name no data set (:func:`_dataset_name` looks above them):
#: common micrograph folders, RELION's job types and cryoSPARC's micrograph folders
#: (a docs trial's exposures list of ``P12/J5/motioncorrected/`` named its data set
#: "motioncorrected"; cryoSPARC's ``J5`` job folders are skipped as RELION's ``job005``).
_GENERIC_FOLDERS = frozenset(
    {
        "motioncorrected",
        "imported",
        "micrographs",
        "mics",
        "images",
        "movies",
        "motioncorr",
        "ctffind",
        "import",
        "external",
        "manualpick",
        "autopick",
        "select",
        # EPU's session layout, Images-Disc1/GridSquare_<n>/Data/FoilHole_*.mrc: every
        # grid square of every session was data set "Data" (a CLI trial's second protein
        # fine-tuned the first one away under it)
        "data",
    }
)
#: Folder names of one pattern that name no data set: RELION's ``job005``, cryoSPARC's
#: ``J5``, EPU's ``GridSquare_1234`` and ``Images-Disc1``.
_GENERIC_PATTERN = re.compile(r"job\d+|J\d+|GridSquare_\d+|Images-Disc\d+", re.IGNORECASE)


def training_sets_from_files(
    micrographs: Sequence[str | os.PathLike],
    picks: Sequence[str | os.PathLike],
    *,
    negatives: Sequence[str | os.PathLike] = (),
    diameter_px: float | None = None,
    diameter_A: float | None = None,
    pixel_size_A: float | None = None,
    dataset: str | None = None,
    picks_binning: float = 1.0,
    kind: str | None = None,
    flip_y: bool = False,
    annotations: bool = False,
    known_diameters: Mapping[str, float] | None = None,
) -> tuple[list[TrainingSet], Any]:
    """Data sets from micrograph and pick files or folders.

    Parameters
    ----------
    micrographs, picks, negatives
        Files or folders (folders are searched one level deep).
    diameter_px, diameter_A
        The particle diameter in pixels or in Angstrom (exactly one).
    pixel_size_A
        Å per pixel of every micrograph, beating the files' headers and lists
        (PNG, JPEG and TIFF carry none); None: theirs.
    dataset
        Data-set name of every micrograph; default: each micrograph's folder
        (``.../ribosome/micrographs/x.mrc`` -> ``ribosome``), so micrographs
        from several folders make several data sets.
    picks_binning
        The pick (and negative) files' coordinates are of micrographs binned
        this many times (Topaz run with ``-s``).
    kind
        The kind of every pick of ``picks`` (``"vesicle"`` for a file of
        vesicle centres and diameters without a ``kind`` column); None: as the
        files say (particles unless they name a kind or hold fiber paths).
    flip_y
        The pick (and negative) files count y from the bottom (origin
        bottom-left): mirrored on each micrograph's height.
    known_diameters
        ``{data set: diameter px}`` of the data sets a starting model (``--init``) was
        trained on: a data set of such a name, with no diameter given and none in its
        picks, is trained at it (said) rather than at an estimate from the image (a trial's
        fine-tuning of a 56.4 px model on the same folder estimated 52 px).
    annotations
        Also read what the napari Annotate widget saved for the micrographs
        (:func:`read_annotation_picks`: particles, vesicles, fibers, negatives);
        a sidecar's data set names the micrograph's set unless ``dataset`` is given.

    Returns
    -------
    sets, picks
        The training sets (micrograph files, read when needed, one pick
        table each) and all picks read (for summaries).

    Raises
    ------
    ValueError, FileNotFoundError
        One line naming the file or option.
    """
    import pandas as pd

    from napari_cryopick.core.model.inputs import diameter_from_angstrom
    from napari_cryopick.io.paths import micrograph_files, micrograph_pixel_sizes, pick_files

    if diameter_px is not None and diameter_A is not None:
        raise ValueError("give the particle diameter once: --diameter (pixels) or --diameter-A")
    for option, value in (("--diameter", diameter_px), ("--diameter-A", diameter_A)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{option} must be > 0, got {value}")
    if not (math.isfinite(picks_binning) and picks_binning > 0):
        raise ValueError(f"--picks-binning must be > 0, got {picks_binning}")
    paths = micrograph_files(micrographs)
    # one micrograph in memory at a time (issue 14): keep what the checks need, not
    # the pixels; the diameter estimate and the training re-read the files
    if pixel_size_A is not None and not (math.isfinite(pixel_size_A) and pixel_size_A > 0):
        raise ValueError(f"--pixel-size must be > 0, got {pixel_size_A}")
    # only the micrographs with picks are read (their shapes check the picks; they
    # are trained on): the rest of a folder may be thousands, or unreadable
    names = [Path(path).stem for path in paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        # the files too (a trial's Movies/061.mrc and Movies/GridB/061.mrc read "repeated:
        # 061", as if one file were given twice)
        first = duplicates[0]
        files = [str(path) for path in paths if Path(path).stem == first]
        more = f" (and {len(duplicates) - 1} more names)" if len(duplicates) > 1 else ""
        raise ValueError(
            f"micrograph names must be unique (picks go by name): {first} is "
            f"{' and '.join(files[:2])}{more}; rename one, or train on them apart"
        )
    from_picks: dict[str, tuple[float, Path]] = {}
    name_set = set(names)
    if picks and pixel_size_A is None:
        from napari_cryopick.io.relion import star_micrograph_pixel_sizes

        for path, _ in pick_files(picks):
            if path.suffix.lower() == ".star":
                for name, size in star_micrograph_pixel_sizes(path).items():
                    # (named as its rows are matched: EPU rows without _fractions)
                    match = match_name(name, name_set)
                    if match is not None:
                        from_picks.setdefault(match, (size, path))
    headers = _headers(paths, micrograph_pixel_sizes(micrographs), pixel_size_A, from_picks)
    shapes = _MadeWhenAsked(names, lambda name: headers[name].shape)
    if not picks and not annotations:
        raise ValueError("give pick files (--picks), or --annotations to use napari's")
    found = pick_files(picks) if picks else []
    # EMAN BOX files hold box sizes, which are read as diameters: boxes are often
    # 1.5-2 times the particle (a trial trained at a 200 px box for a 108 px protein)
    # (and so do crYOLO CBOX files without its size estimates: a trial's apoferritin, 62 px,
    # trained at its 93 px _Width)
    from napari_cryopick.io.formats import blank_reason
    from napari_cryopick.io.formats.cbox import lacks_size_estimates

    # (an empty BOX file, a micrograph without particles, gives no box size: a CLI trial's
    # empty BOX beside CSV clicks made their 62 px "the median box size of the box files")
    box_sized = any(
        (path.suffix.lower() == ".box" and blank_reason(path) is None)
        or (path.suffix.lower() == ".cbox" and lacks_size_estimates(path))
        for path, _ in found
    )
    from napari_cryopick.io.micrographs import MicrographError

    try:
        table = read_training_picks(
            found,
            name_set,
            kind,
            shapes=shapes,
            binning=picks_binning,
            flip_y=flip_y,
            diameter_px=diameter_px,
        )
        negative_table = (
            read_training_picks(
                pick_files(negatives),
                name_set,
                "negative",
                shapes=shapes,
                binning=picks_binning,
                flip_y=flip_y,
                diameter_px=diameter_px,
            )
            if negatives
            else None
        )
    except MicrographError:
        found_all = [*found, *(pick_files(negatives) if negatives else [])]
        raise _every_unreadable(found_all, name_set, shapes, picks_binning) from None
    annotated_sets: dict[str, str] = {}
    if annotations:
        clicked, annotated_sets = read_annotation_picks(
            paths, names, shapes, diameter_px, saved_diameters=diameter_A is None
        )
        if not len(clicked):
            raise ValueError(
                f"no napari annotations of the given micrographs ({name_list(names)}): the "
                "Annotate widget saves them beside each micrograph (<micrograph>.cryopick.json) "
                "or, for a read-only folder, in its per-user folder"
            )
        table = pd.concat([t for t in (table, clicked) if len(t)], ignore_index=True)
    if negative_table is not None:
        table = pd.concat([table, negative_table], ignore_index=True)
    table = _without_stray_vesicles(_without_duplicates(table, diameter_px))
    positive = table[table["kind"] != "negative"] if len(table) else table
    with_positives = set(positive.get("micrograph", []))
    marked = set(table.get("micrograph", [])) if len(table) else set()
    if not with_positives:
        if marked:  # the names matched: the hint on names would send the user astray
            elsewhere = " (the pick files hold no particles of these micrographs)" if found else ""
            raise ValueError(
                f"only negatives ({len(table)} on {len(marked)} micrograph(s)){elsewhere}: "
                "training needs particles too (a model learns what a particle is from them; "
                "negatives only say what is not one)"
            )
        # (files given by name too: every one read no particle of these micrographs)
        empty = _empty_matched_files(found, name_set, named=True)
        if empty:
            # the names matched: the files hold no rows (a trial's header-only STAR was
            # told how pick files are matched by name)
            raise ValueError(
                f"no labelled particles for the given micrographs ({name_list(names)}): "
                f"their pick files hold no picks ({name_list(str(p) for p in empty)}: "
                "readable, with no rows); give the files with the clicks"
            )
        raise ValueError(
            f"no labelled particles in the pick files for the given micrographs "
            f"({name_list(names)}); a pick file is matched by its name: the micrograph's, "
            "or the micrograph's with a suffix (mic_001_autopick.star), or one micrograph's "
            "without its suffix (mic_001.star for mic_001_DW.mrc)"
        )
    # a micrograph of junk only (carbon, ice) marked with negatives is trained on for them
    # (a trial's were dropped with "their 3 negatives are not used either")
    unlabelled = [n for n in names if n not in marked]
    junk_only = [n for n in names if n in marked and n not in with_positives]
    _warn_of_candidates(positive)
    crowded = clicks_in_a_corner(positive, shapes)
    if crowded is not None and crowded > 0:  # (all at the origin: no binning to suggest)
        # binned b times, picks reach at most 1/b of the side (less: none lies on the
        # edge): the likeliest binning is the largest power of two up to 1/extent
        # (9.1 for a trial's 8 times binned Topaz file)
        likely = 2 ** math.floor(math.log2(1 / crowded))
        logger.warning(
            "all %d picks lie in the top-left %.0f %% of their micrographs' width and "
            "height: coordinates of micrographs binned up to %d times? (--picks-binning %d "
            "scales them if they were binned %d times; a Topaz run with -s writes such "
            "files)",
            len(positive),
            100 * crowded,
            int(1 / crowded),
            likely,
            likely,
        )
    if unlabelled:
        # the rest of the data set is what a user has besides the clicks: welcome, but a
        # new model does not learn from it (pseudo-label rounds measured +0.005 AP:
        # docs/general-model.md); a typo in the pick files' names shows here too
        left_out = set(unlabelled)
        # their files without rows named too (a re-trial's header-only STAR among good
        # ones: the micrograph was named, its empty file not)
        empty = _empty_matched_files(found, left_out) if len(unlabelled) <= 100 else []
        # with --annotations, napari's sidecars are a source too (a docs trial was told of
        # pick files only)
        matched = (
            "pick files and napari annotations are matched by micrograph name"
            if annotations
            else "pick files are matched by micrograph name"
        )
        # and those whose file does not exist (a RELION trial's list misnamed one: it was
        # listed here as any other, its clicks said to be another micrograph's)
        gone = [
            n for n, p in zip(names, paths, strict=True) if n in left_out and not os.path.exists(p)
        ]
        logger.warning(
            "%d of %d micrographs have no picks and are not trained on (%s): pick them "
            "with the trained model (%s; a file without rows holds no picks%s)%s",
            len(unlabelled),
            len(names),
            name_list(unlabelled, 20),  # all of them, unless a folder of thousands
            matched,
            f": {name_list([str(p) for p in empty], 5)}" if empty else "",
            f"; no such file: {name_list([str(paths[names.index(n)]) for n in gone], 5)}"
            if gone
            else "",
        )
        keep = [i for i, name in enumerate(names) if name not in left_out]
        paths = [paths[i] for i in keep]
        names = [names[i] for i in keep]
        if len(table) and "micrograph" in table:
            table = table[table["micrograph"].isin(set(names))].reset_index(drop=True)
    loaded = [headers[name] for name in names]
    if diameter_A is not None:
        diameters = []
        for micrograph in loaded:
            try:
                diameters.append(diameter_from_angstrom(diameter_A, micrograph.pixel_size))
            except ValueError as error:
                raise ValueError(f"{micrograph.path}: {error}") from None
    elif diameter_px is not None:
        diameters = [float(diameter_px)] * len(loaded)
    else:
        diameters = []
    groups = [
        dataset or annotated_sets.get(name) or _dataset_name(path)
        for path, name in zip(paths, names, strict=True)
    ]
    # a data set of negatives only has nothing to learn a particle from: left out, said (as
    # the Train widget does; a docs check: the whole run stopped on it)
    with_positives_sets = {g for g, n in zip(groups, names, strict=True) if n in with_positives}
    junk_sets = [g for g in dict.fromkeys(groups) if g not in with_positives_sets]
    if junk_sets:
        logger.warning(
            "data set(s) %s hold negatives only and are not trained on (a data set's "
            "negatives need particles of it)",
            ", ".join(junk_sets),
        )
        keep = [i for i, g in enumerate(groups) if g in with_positives_sets]
        paths, names, groups = ([seq[i] for i in keep] for seq in (paths, names, groups))
        loaded = [loaded[i] for i in keep]
        if diameters:
            diameters = [diameters[i] for i in keep]
        table = table[table["micrograph"].isin(set(names))].reset_index(drop=True)
    # each data set's own diameter (a re-trial: ribosome, 56 px, and β-gal, 108 px, in one
    # command trained both at 108 px, the median of all the picks)
    checked: list[float] = [0.0] * len(loaded)
    in_angstrom: dict[str, float | None] = {}
    for name in dict.fromkeys(groups):
        members = [i for i, group in enumerate(groups) if group == name]
        member_names = [names[i] for i in members]
        own = _check_diameters(
            [loaded[i] for i in members],
            member_names,
            positive[positive["micrograph"].isin(member_names)] if len(positive) else positive,
            [diameters[i] for i in members] if diameters else [],
            box_sized=box_sized,
            dataset=name if len(set(groups)) > 1 else "",
            known=(known_diameters or {}).get(name),
            known_name=name,
        )
        for i, value in zip(members, own, strict=True):
            checked[i] = value
        in_angstrom[name] = diameter_A
        if diameter_A is None:
            kinds = set(table[table["micrograph"].isin([names[i] for i in members])]["kind"])
            in_angstrom[name] = set_diameter_angstrom(
                own,
                [loaded[i] for i in members],
                name if len(set(groups)) > 1 else "",
                size_of(kinds),
                each_own=diameter_px is None,
            )
    diameters = checked
    table = _particles_at_trained_size(table, names, diameters)
    table = _without_negatives_on_picks(table, names, diameters)
    trained_junk = [n for n in junk_only if n in set(names)]
    if trained_junk:
        logger.info(
            "%d micrograph(s) hold negatives only and are trained on for them: %s",
            len(trained_junk),
            name_list(trained_junk, 20),
        )
    sets = []
    for name in dict.fromkeys(groups):
        members = [i for i, group in enumerate(groups) if group == name]
        sets.append(
            TrainingSet(
                name=name,
                micrographs=[paths[i] for i in members],
                picks=[
                    table[table["micrograph"] == names[i]].reset_index(drop=True) for i in members
                ],
                diameter_px=[diameters[i] for i in members],
                names=[names[i] for i in members],
                diameter_A=in_angstrom[name],
            )
        )
    return sets, table


def size_of(kinds: Collection[str]) -> str:
    """What a data set's one size is, to say it: "fiber width" for fibers only (a
    docs trial's fiber training said "particle diameter 24 px"), "vesicle diameter",
    else "particle diameter"."""
    objects = set(kinds) - {"negative"}
    if objects == {"fiber"}:
        return "fiber width"
    return "vesicle diameter" if objects == {"vesicle"} else "particle diameter"


def set_diameter_angstrom(
    diameters: Sequence[float],
    loaded: Sequence[Any],
    dataset: str = "",
    what: str = "particle diameter",
    *,
    each_own: bool = True,
) -> float | None:
    """A data set's one particle size in Å, which a training records (picking converts it
    at each micrograph's pixel size), or None. ``diameters``: each micrograph's, in its own
    pixels; ``each_own``: each micrograph's own (measured or annotated), not one given for
    all. Micrographs of several pixel sizes (:func:`_pixel_scales`) with own diameters: the
    one size in Å they all make; else one diameter in pixels at the micrographs' one pixel
    size (:func:`diameter_in_angstrom`). ``cryopick train`` and the Train widget both ask
    here (a review: the widget recorded none for a data set of two pixel sizes)."""
    if each_own and _pixel_scales(loaded):
        import numpy as np

        # one size within 5 % (a review: 55.7 px measured at 1.5 Å/px beside 27.9 at 3 Å/px
        # made 83.55 and 83.7 Å, and none was recorded): their median
        found = [float(d) * float(m.pixel_size) for d, m in zip(diameters, loaded, strict=True)]
        if max(found) > 1.05 * min(found):
            return None
        return round(float(np.median(found)), 2)
    if len(set(diameters)) == 1:
        return diameter_in_angstrom(diameters[0], loaded, dataset, what)
    return None


def diameter_in_angstrom(
    diameter: float, loaded: Sequence[Any], dataset: str = "", what: str = "particle diameter"
) -> float | None:
    """``diameter`` (pixels) in Å when every micrograph's header gives one pixel size
    (within 5 %, not the 1.0 Å placeholder); None otherwise.

    ``loaded``: the micrographs (anything with ``pixel_size``). The run records it
    (``cryopick train``, the Train widget), so that micrographs of another pixel size
    (another optics group, binned copies) are picked at the same particle size in Å. A trial's model
    trained on 1.5 Å/px micrographs picked 2x-binned ones (3 Å/px) at the training's
    54 px: 43 picks for about 340, without a word.
    """
    import numpy as np

    sizes = [getattr(m, "pixel_size", None) for m in loaded]
    known = [s for s in sizes if known_pixel_size(s)]
    if not known or len(known) < len(sizes) or max(known) > 1.05 * min(known):
        return None
    pixel = float(np.median(known))
    value = round(float(diameter) * pixel, 2)
    logger.info(
        "%s%s %g px at the micrographs' %g Å/px: %g Å, recorded with the "
        "model (micrographs of another pixel size are picked at %g Å)",
        f"{dataset}: " if dataset else "",
        what,
        round(float(diameter), 1),
        pixel,
        value,
        value,
    )
    return value


def known_pixel_size(size: Any) -> bool:
    """Whether ``size`` (Å/px) is a micrograph's own: finite, positive and not the 1.0 Å
    placeholder of headers that hold none (PNG, TIFF, unset MRC)."""
    from napari_cryopick.io.micrographs import PLACEHOLDER_PIXEL_SIZE

    return size is not None and math.isfinite(size) and size > 0 and size != PLACEHOLDER_PIXEL_SIZE


def _pixel_scales(loaded: Sequence[Any]) -> list[float] | None:
    """Each micrograph's pixel size over the median one, when every micrograph's is known
    (:func:`known_pixel_size`) and they differ by more than 5 %; else None."""
    sizes = [getattr(m, "pixel_size", None) for m in loaded]
    if not sizes or not all(known_pixel_size(size) for size in sizes):
        return None
    if max(sizes) <= 1.05 * min(sizes):
        return None
    reference = sorted(sizes)[len(sizes) // 2]
    return [size / reference for size in sizes]


def _at_each_pixel_size(
    loaded: Sequence[Any], tables: Sequence[Any], diameters: list[float], scales: list[float]
) -> list[float]:
    """The diameters of micrographs of different pixel sizes, compared in Å.

    Given in pixels (one for all), they are kept with a warning (one number of pixels is
    another size at each pixel size); given in Å (one per micrograph), checked against the
    pick files' diameters in Å; not given, the pick files' median diameter in Å at each
    micrograph's pixel size. A trial's 2 Å/px and 4 Å/px micrographs (56 and 28 px
    particles) trained at 42 px for both, and ``--diameter-A`` was warned of as 56 px
    against 42 px.
    """
    import numpy as np

    from napari_cryopick.core.diameter import diameters_disagree

    sizes = sorted({round(m.pixel_size, 3) for m in loaded})
    listed = ", ".join(f"{size:g}" for size in sizes)
    if diameters and len(set(diameters)) == 1:
        logger.warning(
            "the micrographs have different pixel sizes (%s Å/px) but one diameter in pixels "
            "(%.0f px) is used for all: the particles are another number of pixels at each; "
            "give the diameter in Å (--diameter-A)",
            listed,
            diameters[0],
        )
        return diameters
    # the pick files' diameters, in pixels of the median pixel size
    own = [
        np.asarray(table["diameter"], float) * scale
        for table, scale in zip(tables, scales, strict=True)
        if "diameter" in table
    ]
    values = np.concatenate(own) if own else np.empty(0)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        if diameters:
            return diameters
        raise ValueError(
            f"the micrographs have different pixel sizes ({listed} Å/px) and the pick files "
            "give no diameters: give the particle diameter in Å (--diameter-A)"
        )
    reference = float(np.median(values))
    if diameters:
        given = float(np.median([d * s for d, s in zip(diameters, scales, strict=True)]))
        if diameters_disagree(given, reference):
            median_size = sorted(m.pixel_size for m in loaded)[len(loaded) // 2]
            logger.warning(
                "the given particle diameter (%.0f Å) differs by more than 25 %% from the "
                "pick files' (%.0f Å, at each micrograph's pixel size: %s Å/px); the given "
                "diameter is used",
                given * median_size,
                reference * median_size,
                listed,
            )
        return diameters
    found = [reference / scale for scale in scales]
    pairs = sorted({(round(m.pixel_size, 3), round(d)) for m, d in zip(loaded, found, strict=True)})
    logger.info(
        "particle diameter %.0f Å from the pick files' diameters, at each micrograph's pixel "
        "size: %s",
        reference * sorted(m.pixel_size for m in loaded)[len(loaded) // 2],
        ", ".join(f"{d} px at {size:g} Å/px" for size, d in pairs),
    )
    return found


def _box_or_estimate(loaded: Sequence[Any], tables: Sequence[Any], box: float) -> float:
    """The box files' median box size ``box`` (EMAN BOX, crYOLO CBOX without its size
    estimates), unless the micrographs show another size.

    A box is often 1.5-2 times the particle; training at the box size rescales
    the particles too small for the detector. The size the micrographs show
    around the clicks (scale space, :func:`~napari_cryopick.core.diameter.estimate_diameter`)
    wins when the box is more than :data:`BOX_SIZE_TOLERANCE` times larger, with a
    warning.
    """
    from napari_cryopick.core.diameter import estimate_diameter

    try:
        seen = estimate_diameter(
            [m.path for m in loaded],
            [t.drop(columns="diameter", errors="ignore") for t in tables],
            shapes=[m.shape for m in loaded],
        ).diameter_px
    except ValueError:
        seen = None
    # only a box larger than the particle is suspect (a box is never smaller; the
    # estimate itself is off by more than 25 % for a quarter of the sets measured)
    if seen is None or box <= BOX_SIZE_TOLERANCE * seen:
        # a warning: the estimate fails on low-contrast micrographs (a re-trial's 62 px
        # apoferritin read as 90-93 px, so its 93 px CBOX boxes were trained at, unsaid)
        logger.warning(
            "particle diameter %.0f px, the median box size of the box files (EMAN BOX, "
            "crYOLO CBOX without _EstWidth)%s; a box is often 1.5-2 times the particle: give "
            "--diameter if the particles are smaller",
            box,
            # (the image estimate reads hollow or faint particles up to 1.5 times too large:
            # a CLI trial read its 96 px as confirming 100 px boxes of 62 px particles)
            f" (the micrographs show {seen:.0f} px around the clicks, an estimate that can "
            "read hollow or faint particles up to 1.5 times too large)"
            if seen
            else "",
        )
        return float(box)
    logger.warning(
        "the box files' boxes (EMAN BOX, crYOLO CBOX without _EstWidth) are %.0f px (median) "
        "but the micrographs show particles of "
        "%.0f px around the clicks: training at %.0f px (a box is often 1.5-2 times the "
        "particle); give --diameter to choose",
        box,
        seen,
        seen,
    )
    return float(seen)


#: Median diameters of two kinds of one training set further apart than this
#: factor: one model rescales every kind by one diameter, so one kind ends far
#: outside the detector's range (a trial: 24 px fibers with 268 px vesicles).
KIND_SIZE_RATIO = 3.0


def _kind_diameters(positive: Any) -> dict[str, Any]:
    import numpy as np

    if not len(positive) or "kind" not in positive:
        return {}
    out = {}
    for kind, group in positive.groupby("kind"):
        values = np.asarray(group["diameter"], dtype=float)
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            out[str(kind)] = values
    return out


def _fiber_widths(positive: Any, given: list[float], count: int, dataset: str) -> list[float]:
    """The width a set of fibers only trains at: the given one, else the median of the
    paths' widths (pick files, or the Diameter typed in napari's Annotate)."""
    import numpy as np

    if given:
        return given
    widths = _kind_diameters(positive).get("fiber")
    if widths is None:
        raise ValueError(
            f"{dataset + ': ' if dataset else ''}the fiber paths carry no width: give the "
            "fibers' width with --diameter (pixels)"
        )
    width = float(np.median(widths))
    logger.info(
        "%sfiber width %.0f px, the median of the paths' widths (pick files, or the Diameter "
        "typed in napari's Annotate)",
        f"{dataset}: " if dataset else "",
        width,
    )
    return [width] * count


def _warn_of_candidates(positive: Any) -> None:
    """Warn when most ``positive`` labels score as a picker's candidates (:func:`candidate_share`)."""
    low = candidate_share(positive)
    if low is not None:
        logger.warning(
            "%.0f %% of the %d picks score below %g (the lowest %.3g): candidate files "
            "('cryopick pick --keep-candidates', a RELION job with a candidate threshold) "
            "hold every candidate, and each trains as a particle; keep the picks you "
            "trust first (cryopick filter --threshold)",
            100 * low,
            len(positive),
            CANDIDATE_SCORE,
            float(positive["score"].min()),
        )


def clean_labels(
    tables: Sequence[Any], names: Sequence[str], diameters: Sequence[float]
) -> tuple[list[Any], list[str]]:
    """The passes :func:`training_sets_from_files` makes on the labels it reads, for
    tables built elsewhere (the Train widget's, from its layers): duplicate picks and
    stray vesicles left out, particle sizes far from their micrograph's trained diameter
    made unknown, negatives on a pick left out, labels of which 10 % or more score as
    candidates warned of. One table per micrograph ``names[i]`` trained at ``diameters[i]`` in, the same
    out, and what was said (each warning also logged). A review: the Train widget built
    its tables itself, so the same annotations trained otherwise than ``cryopick train
    --annotations`` trains them."""
    import pandas as pd

    from napari_cryopick.core.pick_table import empty_picks
    from napari_cryopick.core.progress import ThreadWarnings

    keep = ThreadWarnings()  # (this thread's: not another job's, logged meanwhile)
    logger.addHandler(keep)
    # each micrograph by its position, not its name: two files of one name (gridA/0001,
    # gridB/0001) kept apart (a review: their labels were swapped and merged)
    keys = [f"{index}:{name}" for index, name in enumerate(names)]
    try:
        frames = [t.assign(micrograph=k) for t, k in zip(tables, keys, strict=True)]
        table = pd.concat(frames, ignore_index=True) if frames else empty_picks()
        fallback = float(pd.Series(diameters, dtype=float).median()) if len(diameters) else None
        table = _without_stray_vesicles(_without_duplicates(table, fallback))
        table = _particles_at_trained_size(table, keys, diameters)
        table = _without_negatives_on_picks(table, keys, diameters)
        _warn_of_candidates(table[table["kind"] != "negative"] if len(table) else table)
    finally:
        logger.removeHandler(keep)
    out = [
        table[table["micrograph"] == k].assign(micrograph=n).reset_index(drop=True)
        for k, n in zip(keys, names, strict=True)
    ]
    # (the messages name micrographs by their names, as the user knows them)
    said = keep.said
    for key, name in sorted(zip(keys, names, strict=True), key=lambda kn: -len(kn[0])):
        said = [text.replace(key, name) for text in said]
    return out, said


def _without_duplicates(table: Any, diameter_px: float | None) -> Any:
    """``table`` without picks that repeat another of the same micrograph and kind
    (:func:`~napari_cryopick.core.pick_table.duplicate_picks`), said in a warning: a
    trial's two manual-pick passes counted 9 of 28 clicks twice."""
    from napari_cryopick.core.pick_table import DUPLICATE_FRACTION, duplicate_picks

    repeated = duplicate_picks(table, diameter_px) if len(table) else None
    if repeated is None or not repeated.any():
        return table
    logger.warning(
        "%d duplicate pick(s) left out, within %g diameter of another pick of the same "
        "micrograph (two pick files of one micrograph, or one given twice?): %s",
        int(repeated.sum()),
        DUPLICATE_FRACTION,
        name_list(sorted(set(table.loc[repeated, "micrograph"].astype(str))), 5),
    )
    return table[~repeated].reset_index(drop=True)


def _without_stray_vesicles(table: Any) -> Any:
    """``table`` without vesicles more than :data:`VESICLE_SIZE_OUTLIER` times from the
    median vesicle diameter, said in a warning.

    A click without a drag in napari (or a pick file's stray row) gives a
    circle of a few pixels; trained on, it taught the model a 2.5 px vesicle
    beside 185-225 px ones (a re-trial). Annotate no longer saves such slips.
    """
    from napari_cryopick.core.object_kinds import VESICLE_SIZE_OUTLIER, vesicle_size_outliers

    if not len(table) or "kind" not in table:
        return table
    vesicle = (table["kind"].astype(str) == "vesicle").to_numpy()
    if vesicle.sum() < 2:
        return table
    sizes = table.loc[vesicle, "diameter"].to_numpy(float)
    stray = vesicle.copy()
    stray[vesicle] = vesicle_size_outliers(sizes)
    if not stray.any() or stray.sum() == vesicle.sum():
        return table
    rows = table[stray]
    logger.warning(
        "%d vesicle(s) left out of training, more than %g times from the median vesicle "
        "diameter (a click without a drag in napari draws a circle of a few pixels): %s",
        len(rows),
        VESICLE_SIZE_OUTLIER,
        ", ".join(
            f"{micrograph} at ({x:.0f}, {y:.0f}), {d:.3g} px"
            for micrograph, x, y, d in zip(
                rows["micrograph"][:5],
                rows["x"][:5],
                rows["y"][:5],
                rows["diameter"][:5],
                strict=True,
            )
        )
        + (", ..." if len(rows) > 5 else ""),
    )
    return table[~stray].reset_index(drop=True)


def _vesicle_diameters(positive: Any) -> float | None:
    """The rescaling diameter of a training set of vesicles only (None: not such a set).

    The geometric mean of the smallest and largest vesicle
    (:func:`~napari_cryopick.core.object_kinds.typical_vesicle_diameter`), so
    every vesicle stays in the detector's range; the median put the largest
    of a wide range outside it (docs/vesicles-and-fibers.md).
    """
    from napari_cryopick.core.object_kinds import (
        VESICLE_SIZE_OUTLIER,
        typical_vesicle_diameter,
        vesicle_size_outliers,
    )

    by_kind = _kind_diameters(positive)
    if set(by_kind) != {"vesicle"}:
        return None
    values = by_kind["vesicle"]
    typical = typical_vesicle_diameter(values)
    odd = vesicle_size_outliers(values)
    if odd.any():
        logger.warning(
            "%d vesicle(s) of %s px left out of the scale: more than %g times from the "
            "others' median (a click without a drag in napari draws a circle of a few pixels)",
            int(odd.sum()),
            ", ".join(f"{v:.3g}" for v in values[odd][:5]),
            VESICLE_SIZE_OUTLIER,
        )
        values = values[~odd]
    logger.info(
        "vesicle diameter %.0f px: the geometric mean of the smallest and largest of the "
        "%d vesicles' diameters (%.0f-%.0f px), so every vesicle stays in the detector's range",
        typical,
        values.size,
        values.min(),
        values.max(),
    )
    return typical


def kind_size_warning(positive: Any) -> str | None:
    """Why one model should not learn these kinds together (None: their sizes are close).

    ``positive``: labelled objects with ``kind`` and ``diameter`` columns. Said
    when two kinds' median diameters differ more than :data:`KIND_SIZE_RATIO`
    (``cryopick train`` logs it, the Train widget shows it).
    """
    import numpy as np

    medians = {kind: float(np.median(v)) for kind, v in _kind_diameters(positive).items()}
    if len(medians) < 2:
        return None
    small, large = min(medians, key=medians.get), max(medians, key=medians.get)
    if medians[large] <= KIND_SIZE_RATIO * medians[small]:
        from napari_cryopick.core.diameter import diameters_disagree

        fiber, particle = medians.get("fiber"), medians.get("particle")
        if fiber is None or particle is None or not diameters_disagree(fiber, particle):
            return None
        # the model's one diameter is the particles': fibers are traced and written at it
        # (a CLI trial's 24 px fibers beside 50 px particles were written 50 px wide, CBOX
        # boxes 99 px, and evaluated against their 24 px truth at AP 0.40 instead of 0.87)
        return (
            f"the fibers (median width {fiber:.0f} px) are traced and written at the one "
            f"diameter a model of both picks at (the particles', {particle:.0f} px, unless a "
            "diameter is given), not their width: train a model of the fibers alone for "
            "their own width"
        )
    return (
        f"the {small} (median {medians[small]:.0f} px) and the {large} (median "
        f"{medians[large]:.0f} px) differ more than {KIND_SIZE_RATIO:g}x in size, but one "
        "model sees every kind at one scale: one of them will be far too small or too "
        "large for it; train a model per kind"
    )


def _warn_if_kinds_differ_in_size(positive: Any) -> None:
    message = kind_size_warning(positive)
    if message is not None:
        logger.warning(message)


#: Box sizes read as diameters further than this from the micrographs' estimate (a
#: factor) are taken for boxes, not particles: the estimate is used instead.
BOX_SIZE_TOLERANCE = 1.25


#: A negative closer than this many diameters to a labelled object contradicts it.
NEGATIVE_ON_PICK = 0.25


def _without_negatives_on_picks(
    table: Any, names: Sequence[str], diameters: Sequence[float]
) -> Any:
    """``table`` without the negatives that lie on a labelled particle, vesicle or fiber
    point of their micrograph (within a quarter of its diameter), said with where they
    are: one place cannot be both, and the clicks say what is there (a trial's negatives
    file, a copy of a picks file, trained without a word)."""
    import numpy as np
    from scipy.spatial import cKDTree

    if not len(table) or "negative" not in set(table["kind"].astype(str)):
        return table
    size = dict(zip(names, diameters, strict=True))
    negative = (table["kind"].astype(str) == "negative").to_numpy()
    drop = np.zeros(len(table), bool)
    where: dict[str, int] = {}
    for name, rows in table.groupby("micrograph", sort=False).indices.items():
        rows = np.asarray(rows)
        negatives, labels = rows[negative[rows]], rows[~negative[rows]]
        diameter = float(size.get(name, 0.0) or 0.0)
        if not len(negatives) or not len(labels) or diameter <= 0:
            continue
        xy = table[["x", "y"]].to_numpy(float)
        distance, _ = cKDTree(xy[labels]).query(xy[negatives])
        on = negatives[distance < NEGATIVE_ON_PICK * diameter]
        if len(on):
            drop[on] = True
            where[str(name)] = len(on)
    if not where:
        return table
    logger.warning(
        "%d negative(s) lie on labelled objects (within a quarter diameter) and are not "
        "used: a place cannot be both; check the negatives of %s",
        int(drop.sum()),
        ", ".join(f"{name} ({count})" for name, count in list(where.items())[:5])
        + (", …" if len(where) > 5 else ""),
    )
    return table[~drop].reset_index(drop=True)


def _particles_at_trained_size(table: Any, names: Sequence[str], diameters: Sequence[float]) -> Any:
    """``table`` with the particle picks' sizes that disagree (by more than 25 %) with the
    diameter their micrograph is trained at made unknown, so the size head learns that
    diameter (training fills unknown sizes with it).

    The message said "the given diameter is used", but a trial's model trained on BOX
    files of 80 px boxes around 56 px ribosomes with ``--diameter 56`` wrote 80-83 px
    particles (STAR ``cryopickDiameter``, CBOX ``_EstWidth``), and ``evaluate`` scored
    its picks at AP 0.03 for 0.85. Vesicles keep their own sizes.
    """
    import numpy as np

    from napari_cryopick.core.diameter import diameters_disagree

    if not len(table):
        return table
    trained = dict(zip(names, diameters, strict=True))
    at = table["micrograph"].map(trained).to_numpy(float)
    size = table["diameter"].to_numpy(float)
    particle = (table["kind"].astype(str) == "particle").to_numpy()
    known = particle & np.isfinite(size) & np.isfinite(at) & (at > 0) & (size > 0)
    off = np.zeros(len(table), bool)
    off[known] = diameters_disagree(size[known], at[known])
    if not off.any():
        return table
    # (a CLI trial could not tell which diameter "the model learns")
    logger.info(
        "%d picks' sizes in the pick files (box sizes?) differ from the diameter trained "
        "at: the model learns %.0f px, not the files' %.0f px (median)",
        int(off.sum()),
        float(np.median(at[off])),
        float(np.median(size[off])),
    )
    table = table.copy()
    table.loc[off, "diameter"] = np.nan
    return table


def _sizes_per_micrograph(
    tables: Sequence[Any], names: Sequence[str], dataset: str = "", loaded: Sequence[Any] = ()
) -> list[float] | None:
    """Each micrograph's own pick-file diameter (median), when the micrographs' medians
    differ by more than 25 % (micrographs of two binnings, pixel sizes unknown); None
    when they agree. A micrograph whose files give no size takes the size of the others
    nearest the one its image shows around its clicks (``loaded``: the micrographs; a
    re-trial's size-less one took the 42 px median of 56 and 28 px, a size of neither);
    with no clicks to measure (negatives only), that of the micrographs of its shape (a
    binned copy is smaller), else the size most micrographs have; it is said apart.

    A trial's ribosome micrographs and 2x binned copies (56 and 28 px picks, PNGs
    without pixel sizes) trained both at 42 px, the median of all, and the model picked
    the unbinned ones at 42 px, a size of neither.
    """
    import numpy as np

    from napari_cryopick.core.diameter import diameters_disagree

    medians: list[float | None] = []
    for table in tables:
        sizes = table["diameter"].to_numpy(float) if "diameter" in table.columns else np.empty(0)
        sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
        medians.append(float(np.median(sizes)) if len(sizes) else None)
    known = [m for m in medians if m is not None]
    if len(known) < 2 or not diameters_disagree(max(known), min(known)):
        return None
    own = list(medians)
    # a size no image can tell (no click to measure around, a negatives-only micrograph):
    # the size most micrographs have, never a median of sizes (one no micrograph has, which
    # the model would record: a review)
    counts = Counter(known)
    most = max(counts, key=lambda size: (counts[size], size))
    shapes = [getattr(m, "shape", None) for m in loaded]
    # each micrograph's side (a binned copy's is smaller)
    side = [float(np.sqrt(s[0] * s[1])) if s else None for s in shapes]
    sides: dict[float, list[float]] = {}
    for size, length in zip(medians, side, strict=False):
        if size is not None and length:
            sides.setdefault(size, []).append(length)

    def by_shape(i: int) -> float | None:
        # the size of the micrographs of its shape, when one shape tells (binned copies)
        mine = side[i] if i < len(side) else None
        if not mine or len(sides) < 2:
            return None
        far = {s: abs(math.log(mine / float(np.median(v)))) for s, v in sides.items()}
        best = min(far, key=far.get)
        rest = [d for s, d in far.items() if s != best]
        return best if min(rest) - far[best] > math.log(1.25) else None

    guessed = []
    for i, size in enumerate(medians):
        if size is None:
            measurable = i < len(loaded) and len(tables[i])
            shown = _image_size(loaded[i], tables[i]) if measurable else None
            shaped = None if shown else by_shape(i)
            if shown:
                own[i] = min(known, key=lambda k: abs(math.log(k / shown)))
                how = f"nearest the {shown:.0f} px its image shows"
            elif shaped:
                own[i] = shaped
                how = "no clicks to measure: that of the micrographs of its shape"
            else:
                own[i] = most
                how = "no clicks to measure: the size most micrographs have"
            guessed.append(f"{names[i]} at {own[i]:.0f} px ({how})")
    groups: dict[int, list[str]] = {}
    for name, size, given in zip(names, own, medians, strict=True):
        if given is not None:
            groups.setdefault(round(size), []).append(name)
    listed = "; ".join(
        f"{size} px on {name_list(members, 3)}" for size, members in sorted(groups.items())
    )
    if guessed:
        listed += f"; without sizes in their files: {name_list(guessed, 3)}"
    logger.warning(
        "%sthe pick files give the particles different sizes on different micrographs "
        "(%s): micrographs of different binnings or pixel sizes? Each micrograph is trained "
        "at its own files' size; the model records %.0f px, which cryopick pick uses unless "
        "given --diameter (pick micrographs of the other sizes with theirs). With MRC files "
        "that state their pixel sizes, --diameter-A gives one size in Å for all",
        f"{dataset}: " if dataset else "",
        listed,
        sorted(own)[len(own) // 2],  # what the data set records (workflows.train)
    )
    return own


def _image_size(micrograph: Any, table: Any) -> float | None:
    """The particle diameter ``micrograph``'s image shows around the clicks of ``table``
    (:func:`napari_cryopick.core.diameter.estimate_diameter`, the clicks' sizes left
    out); None when it cannot be measured."""
    from napari_cryopick.core.diameter import estimate_diameter

    try:
        source = getattr(micrograph, "path", None) or micrograph
        shape = getattr(micrograph, "shape", None)
        found = estimate_diameter([source], [table[["x", "y"]]], shapes=[shape] if shape else None)
    except (ValueError, OSError):
        return None
    return float(found.diameter_px) if found.source == "image" else None


def _no_particle_at_clicks(
    loaded: Sequence[Any], tables: Sequence[Any], estimate: Any, dataset: str
) -> str:
    """The refusal of an image estimate that reached its search range's top: around the
    clicks the micrographs show no particle. Mirrored top to bottom they are estimated
    again: a CLI trial's clicks counting y from the bottom trained at 1024 px (a quarter of
    its 4096 px micrographs) with no word of the mirror, which the check of the clicks
    gives only beside a diameter."""
    from napari_cryopick.core.diameter import estimate_diameter
    from napari_cryopick.core.pick_table import flip_y

    where = f"{dataset}: " if dataset else ""
    start = (
        f"{where}no particle diameter given, and around the {estimate.n_picks} clicks the "
        f"micrographs show no particle up to {estimate.diameter_px:.0f} px (a quarter of "
        "the smallest micrograph side)"
    )
    try:
        mirrored = estimate_diameter(
            [m.path for m in loaded],
            [flip_y(t, m.shape[0]) for t, m in zip(tables, loaded, strict=True)],
            shapes=[m.shape for m in loaded],
        )
    except ValueError:
        mirrored = None
    if mirrored is not None and not mirrored.at_limit:
        return (
            f"{start}; mirrored top to bottom they sit on particles of about "
            f"{mirrored.diameter_px:.0f} px: the pick files may count y from the bottom "
            "(give --flip-y, or leave it out if given); give --diameter too"
        )
    return (
        f"{start}: check that the clicks lie on particles of these micrographs (names, "
        "binning, y from the bottom: --flip-y) and give --diameter"
    )


def _check_diameters(
    loaded: Sequence[Any],
    names: Sequence[str],
    positive: Any,
    diameters: list[float],
    *,
    box_sized: bool = False,
    dataset: str = "",
    known: float | None = None,
    known_name: str = "",
) -> list[float]:
    """The given diameters (a warning if the clicks show another size), or the clicks' estimate.

    ``dataset``: the data set's name, said in the messages (several in one training).

    ``known``: the diameter the starting model was trained at for data set ``known_name``
    (:func:`training_sets_from_files`' ``known_diameters``), used as if given when no
    diameter is given and the pick files carry none.

    ``box_sized``: the picks' diameters are BOX box sizes; without a given
    diameter they are checked against the micrographs (:func:`_box_or_estimate`).
    """
    from napari_cryopick.core.diameter import check_diameter, estimate_diameter

    _warn_if_kinds_differ_in_size(positive)
    vesicles = _vesicle_diameters(positive)
    if not diameters and vesicles is not None:
        return [vesicles] * len(loaded)
    kinds = set(positive["kind"].astype(str)) if len(positive) else set()
    if kinds == {"vesicle"} and _kind_diameters(positive).get("vesicle") is None:
        # a vesicle set without its circles' sizes (a fibers and vesicles trial's x,y CSV
        # trained every vesicle at one size "estimated from the micrographs around 12
        # clicks" of particles, and the size head learned nothing)
        logger.warning(
            "%sthe vesicle labels carry no diameters: every vesicle trains at one size, so "
            "the model learns no vesicle sizes; give each vesicle's diameter (a diameter "
            "column, or circles drawn in napari's Annotate)",
            f"{dataset}: " if dataset else "",
        )
    if kinds == {"fiber"}:
        # the image-based estimate measures round particles: a re-trial's 24 px fibers
        # read as 185 px ("particle diameter") beside the width given
        return _fiber_widths(positive, diameters, len(loaded), dataset)
    if "particle" in kinds and len(kinds) > 1:
        # the particles' diameter, not the median over the fibers' many points along
        # their paths (a fibers trial's 48 px particles beside 24 px fibers trained at 24)
        positive = positive[positive["kind"].astype(str) == "particle"]
    tables = [positive[positive["micrograph"] == name] for name in names]
    scales = _pixel_scales(loaded)
    if scales is not None:
        return _at_each_pixel_size(loaded, tables, diameters, scales)
    try:
        estimate = estimate_diameter(
            [m.path for m in loaded], tables, shapes=[m.shape for m in loaded]
        )
    except ValueError as error:
        if diameters:
            return diameters
        raise ValueError(
            f"no particle diameter given and none can be estimated ({error}); give --diameter"
        ) from None
    if not diameters and estimate.source == "picks" and box_sized:
        return [_box_or_estimate(loaded, tables, estimate.diameter_px)] * len(loaded)
    if not diameters and estimate.source != "picks" and known:
        logger.info(
            "%sparticle diameter %g px, as the starting model (--init) was trained on data "
            "set %r; give --diameter to train at another",
            f"{dataset}: " if dataset else "",
            round(float(known), 1),
            known_name,
        )
        message = check_diameter(float(known), estimate)
        if message is not None:
            logger.warning(message)
        return [float(known)] * len(loaded)
    if not diameters and estimate.at_limit:
        raise ValueError(_no_particle_at_clicks(loaded, tables, estimate, dataset))
    if not diameters:
        if estimate.source == "picks":  # the pick files carry it: the usual case, no warning
            own = _sizes_per_micrograph(tables, names, dataset, loaded)  # (unless they differ)
            if own is not None:
                return own
            logger.info(
                "%sparticle diameter %g px, the median of the %d picks' diameters (pick "
                "files, or the Diameter typed in napari's Annotate; BOX files give box sizes, "
                "often larger than the particle: give --diameter if so)",
                f"{dataset}: " if dataset else "",
                round(float(estimate.diameter_px), 1),
                estimate.n_picks,
            )
        else:
            logger.warning(
                "%sno particle diameter given: %.0f px, estimated from the micrographs around "
                "%d clicks. An estimate from the image alone can be off (1.5x the labelled "
                "size on apoferritin, a hollow particle): measure one particle (napari's "
                "Annotate, Measure) and give --diameter",
                f"{dataset}: " if dataset else "",
                estimate.diameter_px,
                estimate.n_picks,
            )
        return [estimate.diameter_px] * len(loaded)
    message = check_diameter(sorted(diameters)[len(diameters) // 2], estimate)
    if message is not None:
        logger.warning(message)
    return diameters
