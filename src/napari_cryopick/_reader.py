"""napari readers (npe2 ``get_reader`` hooks): micrographs and pick files.

Each hook returns a reader function for paths it can read and ``None`` for the
rest, so napari can try other plugins. The reader functions return
``LayerDataTuple`` lists built by :mod:`napari_cryopick.layers.points` and
:mod:`napari_cryopick.layers.results` (vesicle circles, fiber paths).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from .io.filaments import CENTRE_LINES_SUFFIX, looks_like_centre_lines, read_centre_lines
from .io.formats import blank_reason, comment_line, other_encoding
from .io.formats.csv import looks_like_csv_picks
from .io.formats.topaz import looks_like_topaz
from .io.micrographs import MICROGRAPH_SUFFIXES, read_micrograph
from .io.paths import pick_file_suffixes
from .io.pickfiles import drop_point_fibers, match_micrograph, read_picks
from .layers.points import OPENING_KEY, micrograph_layer
from .layers.results import pick_file_layers

ReaderFunction = Callable[[str | Sequence[str]], list]

#: Every pick file the command line reads: the written formats' and cryoSPARC's particles
#: ``.cs`` (read only; a trial: the command line read it, napari did not).
_PICK_SUFFIXES = (*pick_file_suffixes(), ".cs")


def _paths(path: str | Sequence[str]) -> list[Path]:
    return [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]


#: Micrographs a folder opens as layers at most (each is read whole, into memory): the
#: rest are said, and Pick folder picks them all.
FOLDER_LAYERS_MAX = 50
#: ...and at most about this many bytes of micrograph data (float32; napari holds about as
#: much again): a facility trial's folder of K3 super-resolution micrographs (0.38 GB of data
#: each) took 0.77 GB a layer, 50 of them 38 GB.
FOLDER_BYTES_MAX = 4 * 1024**3


def get_micrograph_reader(path: str | Sequence[str]) -> ReaderFunction | None:
    """Reader for MRC/TIFF/PNG/JPG micrographs, or a folder of them, ``None`` for other paths."""
    paths = _paths(path)
    if len(paths) == 1 and paths[0].is_dir():
        if _folder_micrographs(paths[0]):
            return read_micrograph_folder
        return _micrographs_below(paths[0])
    if not paths or any(p.suffix.lower() not in MICROGRAPH_SUFFIXES for p in paths):
        return None
    return read_micrograph_layers


def _micrographs_below(folder: Path) -> ReaderFunction | None:
    """For a folder whose micrographs all lie in folders below it: a reader that says
    where they are (a GUI trial's napari said only that no reader took the folder);
    ``None`` for a folder without any."""
    from .io.paths import _below, _holding_below

    try:
        holding = _holding_below(folder, MICROGRAPH_SUFFIXES)
    except OSError:
        return None
    if not holding:
        return None
    message = (
        f"{folder}: no micrographs in this folder itself; {_below(holding, 'micrographs')}: "
        "open one of those folders"
    )

    def refuse(_path: str | Sequence[str]) -> list:
        raise ValueError(message)

    return refuse


def _folder_micrographs(folder: Path) -> list[Path]:
    """The micrograph files of ``folder`` (not below it), as ``cryopick pick`` finds them."""
    from .io.paths import micrograph_files

    try:
        return micrograph_files([folder])
    except (ValueError, OSError):
        return []


def read_micrograph_folder(path: str | Sequence[str]) -> list:
    """One image layer per micrograph file of a folder (napari's File > Open Folder).

    napari's own folder reader stacked the micrographs into one 3D layer, which no widget
    works on, or failed on the annotations' sidecar files beside them (a GUI trial).
    At most :data:`FOLDER_LAYERS_MAX`, by name; a micrograph that cannot be read is said
    and left out, so are files of a name met before (``a.png`` beside ``a.mrc``: the
    annotations and picks go by name) and micrographs open already (the folder opened
    again: said once, not once a file).
    """
    import uuid

    folder = _paths(path)[0]
    files, twins = _one_per_name(_folder_micrographs(folder))
    said = []
    if twins:
        left, kept = twins[0]
        more = f" and {len(twins) - 1} more" if len(twins) > 1 else ""
        said.append(
            f"opened {kept.name}, not {left.name}{more} of the same name (annotations and "
            "picks go by name)"
        )
    open_now = open_micrograph_paths()
    again = [file for file in files if file.stem in open_now]
    files = [file for file in files if file.stem not in open_now]
    same = [file for file in again if _same_file(file, open_now[file.stem])]
    other = [file for file in again if file not in same]
    if same:
        said.append(f"{len(same)} micrograph(s) of it are open already ({same[0].stem}, …)")
    if other:
        said.append(
            f"{len(other)} micrograph(s) not opened: a micrograph of the same name from "
            f"another file is open ({other[0].name}: {open_now[other[0].stem]}, …); "
            "annotations and picks go by name: close those first"
        )
    total = len(files)
    if len(files) > FOLDER_LAYERS_MAX:
        said.append(
            f"opened the first {FOLDER_LAYERS_MAX} of its {len(files)} micrographs "
            "(by name), each as its own layer; the Pick widget's 'Pick folder…' (or "
            "cryopick pick) picks them all"
        )
        files = files[:FOLDER_LAYERS_MAX]
    layers, failed = [], []
    held = opened = 0
    for file in files:
        if held >= FOLDER_BYTES_MAX:
            # (instead of the count's message: one says how many, a review read two)
            said[:] = [m for m in said if not m.startswith("opened the first")]
            said.append(
                f"opened the first {opened} of its {total} micrographs (by name, "
                f"{held / 1024**3:.1f} GB of micrograph data, each as its own layer): large "
                "micrographs; the Pick widget's 'Pick folder…' (or cryopick pick) picks them "
                "all, reading one at a time"
            )
            break
        try:
            read = read_micrograph_layers(file)
        except (ValueError, OSError) as error:
            failed.append(error)
            continue
        layers += read
        opened += 1
        held += sum(int(getattr(data, "nbytes", 0)) for data, _kwargs, _kind in read)
    if failed and not layers:
        raise failed[0]
    if failed:
        # each named, as cryopick pick names them (a review read one of two)
        from .core.text import message_list

        said.append(f"{len(failed)} micrograph(s) not opened: {message_list(failed, 5)}")
    for message in said:
        warnings.warn(f"{folder}: {message}", UserWarning, stacklevel=1)
    if not layers:
        return [(None,)]  # napari's "nothing to add" (all open already, said)
    batch = uuid.uuid4().hex
    for index, (_data, kwargs, _kind) in enumerate(layers):
        kwargs["metadata"][OPENING_KEY] = (batch, len(layers) - 1 - index)
    return layers


def _one_per_name(files: list[Path]) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The first file of each name (stem) in the order of MRC, TIFF, PNG, JPG, and the
    ``(left out, kept)`` pairs."""
    order = {suffix: rank for rank, suffix in enumerate(MICROGRAPH_SUFFIXES)}
    ranked = sorted(files, key=lambda f: order.get(f.suffix.lower(), len(order)))
    kept: dict[str, Path] = {}
    twins = []
    for file in ranked:
        if file.stem in kept:
            twins.append((file, kept[file.stem]))
        else:
            kept[file.stem] = file
    chosen = set(kept.values())
    return [file for file in files if file in chosen], twins


def open_micrograph_layers() -> dict[str, Any]:
    """The micrographs open in napari's current viewer: their image layers by name
    (none without a viewer)."""
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # napari without a viewer: nothing is open
        return {}
    if viewer is None:
        return {}
    from ._widgets._common import micrograph_layers, micrograph_name

    return {micrograph_name(layer): layer for layer in micrograph_layers(viewer)}


def open_micrograph_paths(layers: dict[str, Any] | None = None) -> dict[str, str]:
    """The files of the micrographs open in napari's current viewer, by name (none
    without a viewer); ``layers``: :func:`open_micrograph_layers` read before."""
    from ._widgets._common import layer_path

    layers = open_micrograph_layers() if layers is None else layers
    return {
        name: str(path) for name, layer in layers.items() if (path := layer_path(layer)) is not None
    }


def open_micrograph_named(layer_name: str, names: Collection[str]) -> str | None:
    """The micrograph of ``names`` (the open ones) a layer's name names: the name itself,
    else the longest name it starts with followed by a space (``"mic_001 my picks"``);
    None: none (a trial's hand-made layer ``"062_10028 my picks"`` was written as the
    micrograph ``062_10028 my picks``)."""
    if layer_name in names:
        return layer_name
    prefixes = [n for n in names if n and layer_name.startswith(n + " ")]
    return max(prefixes, key=len) if prefixes else None


def _same_file(path: Path, other: str) -> bool:
    try:
        return path.resolve() == Path(other).resolve()
    except OSError:
        return False


def read_micrograph_layers(path: str | Sequence[str]) -> list:
    """One image layer per micrograph file, with the diameter and data-set name its
    annotation sidecar saved (:func:`_saved_settings`)."""
    from ._warmup import OPENED_DELAY_S, start_warm_up

    # torch and picking's modules, loaded once the micrograph shows, while the user looks
    # at it or annotates (at once, they slowed the opening itself: 0.8 -> 1.3 s)
    start_warm_up(OPENED_DELAY_S)
    layers = []
    for file in _paths(path):
        data, kwargs, kind = micrograph_layer(read_micrograph(file))
        kwargs["metadata"].update(_saved_settings(file))
        layers.append((data, kwargs, kind))
    return layers


def _saved_settings(path: Path) -> dict:
    """The diameter and data-set name a micrograph's sidecar holds, as layer metadata.

    Every widget reads them from the layer: a trial docked only Train, which
    trained at the 100 px shown for a micrograph without a diameter, though
    its sidecar said 56 px (Annotate, when docked, loads it). An unreadable
    sidecar gives nothing here: Annotate says why when it loads it.
    """
    from .io.annotations import AnnotationError, load_annotations
    from .layers.points import DATASET_KEY, DIAMETER_KEY

    try:
        saved = load_annotations(path)
    except (AnnotationError, OSError, ValueError):
        return {}
    if saved is None:
        return {}
    settings: dict = {}
    if saved.diameter_px:
        settings[DIAMETER_KEY] = float(saved.diameter_px)
    if saved.dataset:
        settings[DATASET_KEY] = saved.dataset
    return settings


def _head(path: Path, size: int = 65536) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(size).decode("utf-8-sig", errors="replace")
    except OSError:
        return ""


def _claims(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix == CENTRE_LINES_SUFFIX:
        return path.is_file() and looks_like_centre_lines(_head(path, 4096))
    if suffix not in _PICK_SUFFIXES or not path.is_file():
        return False
    if blank_reason(path) is not None:
        # nobody's file (0 bytes or only white space): read, it says so ("file is empty
        # (0 bytes)"), where napari said only that the reader "refused the file" (a
        # trial), or asked which reader to use
        return True
    if suffix == ".star" and other_encoding(path) is not None:
        return True  # read, it says to save it as UTF-8 (an I/O fuzz's UTF-16 STAR: "no reader")
    if suffix == ".star":
        # coordinates, or RELION's index of coordinate files (an External or AutoPick
        # job's autopick.star: the files it lists are read)
        # (and one meant to be picks whose columns are misspelt or missing, as "_rlnCoordX"
        # or a micrograph list: read, and what is missing is said, where napari said only
        # that the reader "refused the file"; other STAR files, a model.star, are not ours)
        labels = [line.split()[0].lower() for line in _head(path).splitlines()
                  if line.strip().startswith("_")]  # fmt: skip
        # (labels only: a job.star's values name "coords_suffix", a re-trial)
        return any("coord" in label or label == "_rlnmicrographname" for label in labels)
    if suffix in (".box", ".cbox", ".cs"):
        return True
    # a UTF-16 pick file (Windows' "Unicode" save): claimed by its decoded header and
    # read, which says to save it as UTF-8 (napari said only "no reader", a review)
    other = other_encoding(path)
    first_line = (
        other[1]
        if other is not None
        # (comment lines above a CSV's header skipped, as the CSV reader skips them: a
        # review's such CSV was read by the command line and "no reader" in napari)
        else next(
            (ln for ln in _head(path, 4096).splitlines() if ln.strip() and not comment_line(ln)),
            "",
        )
    )
    if suffix == ".csv":
        # a header naming x or y: read, and a missing or misspelt column is said ("missing
        # column 'y' (columns found: x, yy, diameter)"), where napari said only that the
        # reader "refused the file" (a trial)
        return looks_like_csv_picks(first_line, either=True)
    # a Topaz header with a misspelt column ("x" for "x_coord") is claimed too, and said
    meant_as_topaz = "image_name" in first_line or "_coord" in first_line
    return looks_like_topaz(first_line) or looks_like_csv_picks(first_line) or meant_as_topaz


def get_picks_reader(path: str | Sequence[str]) -> ReaderFunction | None:
    """Reader for pick files (STAR, BOX, CBOX, Topaz, CSV, cryoSPARC particles ``.cs``),
    ``None`` for other files.

    ``.star`` files must name coordinates (``rlnCoordinateX``, RELION's index of
    coordinate files ``rlnMicrographCoordinates``, or a misspelt column with "coord")
    or micrographs (``rlnMicrographName``); ``.txt`` and ``.csv`` files are claimed only
    when their header looks like picks (a Topaz header, even with a misspelt column, or
    a CSV header with ``x`` or ``y``); a claimed file that cannot be read is refused
    with what is wrong in it, naming it; ``.json`` files only when they are fiber
    centre lines (``cryopick simulate``'s ``fibers/<micrograph>.json``).
    """
    paths = _paths(path)
    if not paths or not all(_claims(p) for p in paths):
        return None
    return read_picks_layers


@contextlib.contextmanager
def _said_in_napari() -> Iterator[None]:
    """Warnings the file readers log, shown as napari's warnings (notifications) while
    napari reads: the terminal is not where a napari user looks."""

    class ToWarnings(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.warn(record.getMessage(), UserWarning, stacklevel=1)

    handler = ToWarnings(logging.WARNING)
    io_logger = logging.getLogger("napari_cryopick.io")
    io_logger.addHandler(handler)
    try:
        yield
    finally:
        io_logger.removeHandler(handler)


def read_picks_layers(path: str | Sequence[str]) -> list:
    """The layers of every micrograph named in the pick file(s).

    Per micrograph: vesicles as circles, traced fibers (with a ``tube_id``) as
    paths and the other picks as points, the look of the Pick widget's results
    (:func:`napari_cryopick.layers.results.pick_file_layers`).
    """
    from ._widgets._common import micrograph_diameter

    layers = []
    open_layers = open_micrograph_layers()
    shown = _shown_micrograph(open_layers)
    for file_path in _paths(path):
        with _said_in_napari():  # what the readers warn of (a fiber of one point left out)
            if file_path.suffix.lower() == CENTRE_LINES_SUFFIX:
                table = read_centre_lines(file_path)
            else:
                table = read_picks(file_path)
            # no path to draw (napari refused the whole file over one: a trial)
            table = drop_point_fibers(table, file_path)
        if not len(table):  # a header and no rows: an empty layer, said (a re-trial)
            warnings.warn(f"{file_path}: holds no picks", UserWarning, stacklevel=2)
        if open_layers and len(table):
            # the rule of cryopick train and evaluate: a per-micrograph file named after
            # its micrograph (mic_001_autopick.star), cryoSPARC's UID-prefixed names (a
            # trial's were tied to no open micrograph: hidden beside it, not Evaluate's)
            table = match_micrograph(table, list(open_layers))
        groups = list(table.groupby("micrograph", sort=True)) or [(file_path.stem, table)]
        _note_y_from_last_row(file_path, [str(name) for name, _ in groups], open_layers)
        hidden: list[str] = []
        for micrograph, group in groups:
            name = str(micrograph or file_path.stem)
            layer = open_layers.get(name)
            # picks without a diameter (a RELION 3.1 STAR) shown and saved at the
            # micrograph's diameter, not a 32 px fallback written back as theirs (a trial)
            known = micrograph_diameter(layer) if layer is not None else None
            made = pick_file_layers(group, name, source=file_path.name, default_diameter=known)
            if layer is None and shown is not None and _names_another(name, file_path, open_layers):
                # another micrograph's picks, not over the one seen (a GUI trial's 062
                # picks lay over 063's image, unsaid); a file that names none (a BOX of
                # another name) stays over it, as before
                for _data, kwargs, _kind in made:
                    kwargs["visible"] = False
                hidden.append(name)
            layers += made
        if hidden:
            what = (
                f"{hidden[0]} is not open: its layer is"
                if len(hidden) == 1
                else f"{len(hidden)} micrographs it picks are not open (e.g. {hidden[0]}): "
                "their layers are"
            )
            warnings.warn(
                f"{file_path.name}: {what} hidden, not drawn over {shown}; open the "
                "micrograph and select it (with a cryopick widget docked), or tick the "
                "layer's eye icon, to see its picks on it",
                UserWarning,
                stacklevel=2,
            )
    return layers


def _names_another(name: str, file_path: Path, open_layers: dict[str, Any]) -> bool:
    """Whether a pick file's group ``name`` is a micrograph other than the open ones: named
    by the file's rows (not its file name), or a micrograph file of that name lies beside
    an open one (a per-micrograph file of a folder's other micrograph)."""
    from .io.micrographs import MICROGRAPH_SUFFIXES
    from .io.pickfiles import match_name

    stem, lowered = file_path.stem.lower(), name.lower()
    # the file's name names it (match_name: mic, mic_autopick), not a longer name (a
    # review: rows naming mic_002 in mic.star were drawn over the one seen)
    if match_name(stem, [lowered]) is None or not stem.startswith(lowered):
        return True  # the rows name it (STAR rlnMicrographName, CSV, Topaz, cryoSPARC)
    # a micrograph file beside an open one that the file's name names, by the rule of
    # cryopick train (a review: mic_002_manualpick.star, mic_002-picks.star were drawn
    # over the micrograph seen; only _autopick and _pick were known)
    folders = {Path(path).parent for path in open_micrograph_paths(open_layers).values() if path}
    beside: set[str] = set()
    for folder in folders:
        try:
            beside.update(
                f.stem.lower() for f in folder.iterdir() if f.suffix.lower() in MICROGRAPH_SUFFIXES
            )
        except OSError:
            continue
    return match_name(name.lower(), beside) is not None


def _shown_micrograph(open_layers: dict[str, Any]) -> str | None:
    """The micrograph seen: the top-most visible one of ``open_layers`` (in the layer
    list's order), else None (none open, or none visible)."""
    visible = [name for name, layer in open_layers.items() if getattr(layer, "visible", True)]
    return visible[-1] if visible else None


def _note_y_from_last_row(file_path: Path, names: list[str], open_layers: dict[str, Any]) -> None:
    """Warn when a STAR, BOX or CBOX file holds picks of an open TIFF (BOX/CBOX: or JPEG)
    micrograph: RELION, crYOLO, EMAN2 and napari-boxmanager count their y from the
    image's last row, napari from the first, so such a file's picks lie mirrored top
    to bottom (a trial: a crYOLO CBOX over a TIFF was shown mirrored, unsaid)."""
    from .io.pickfiles import (
        TIFF_Y_FROM_LAST_ROW_FORMATS,
        detect_format,
        match_name,
        y_from_last_row,
    )

    try:
        format = detect_format(file_path)
    except ValueError:
        return
    if format not in TIFF_Y_FROM_LAST_ROW_FORMATS:
        return
    open_paths = open_micrograph_paths(open_layers)
    mirrored = sorted(
        name
        for name in names
        if y_from_last_row(format, open_paths.get(match_name(name, open_paths) or ""))
    )
    if not mirrored:
        return
    readers = "RELION reads TIFF" if format == "star" else "crYOLO and EMAN2 read TIFF and JPEG"
    warnings.warn(
        f"{file_path.name}: {len(mirrored)} micrograph(s) it picks are TIFF"
        f"{'' if format == 'star' else ' or JPEG'} files (e.g. {mirrored[0]}): {readers} "
        "images bottom row first, so their files count y from the last row, napari from "
        "the first. If the picks lie mirrored top to bottom, the file came from there: "
        "load its folder with the Pick widget's 'Load picks…' and 'TIFF y from the last "
        "row' ticked (TIFF micrographs), or read it with 'cryopick train --flip-y'; "
        "files cryopick wrote without --flip-y or --flip-tiff-y are shown as written",
        UserWarning,
        stacklevel=2,
    )
