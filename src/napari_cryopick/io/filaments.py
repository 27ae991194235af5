"""Fiber (helical tube, filament) coordinate files: RELION helical STAR and crYOLO filament CBOX.

Paths are ``(N, 2)`` arrays of (x, y) **centres** in pixels of the micrograph
(the project convention of :mod:`napari_cryopick.core.pick_table`), ordered along the
fiber.

RELION helical STAR (one ``data_`` loop block, like RELION's coordinate files)
    ``layout="start_end"``: what RELION's manual picking writes for helices and
    what *Extract* reads with "Coordinates are start-end only? Yes": every two
    consecutive rows are the start and the end of one straight tube piece
    (``rlnCoordinateX/Y``). A curved fiber is cut into straight pieces that
    stay within ``max_deviation_px`` of it (Douglas-Peucker). Each piece is a
    tube of its own (``rlnHelicalTubeID``, 1-based per micrograph), as RELION's
    manual picking makes them: RELION's *Extract* gives every segment of a pair
    the pair's tube id and a track length counted from that pair's start, so
    pieces sharing an id would give one tube track lengths that restart at
    every bend. napari-cryopick's own label ``cryopickFiberID`` (which RELION
    ignores) numbers the fiber each piece belongs to, so a curved fiber reads
    back as one path.

    ``layout="segments"``: what RELION's helical auto-picking writes and
    *Extract* reads with "start-end only? No": one row per segment, every
    ``box_distance_px`` along the fiber, with ``rlnHelicalTubeID``,
    ``rlnAngleTiltPrior`` (90), ``rlnAnglePsiPrior`` (in-plane direction of
    the tube, degrees, ``-atan2(dy, dx)``), ``rlnHelicalTrackLengthAngst``
    (distance from the tube start; so the pixel size must be known: RELION's
    *Extract* refuses segments without it) and ``rlnAnglePsiFlipRatio`` (0.5,
    no polarity known). ``rlnHelicalTrackLength`` (pixels, older files) is read.

Fiber centre lines (JSON; ``cryopick simulate`` writes ``fibers/<micrograph>.json``)
    ``{"micrograph": name, "width_px": w, "fibers": [{"tube_id": k,
    "points_xy": [[x, y], ...]}, ...]}``: each fiber's centre line, densely
    (about 1 px apart), in (x, y) pixel centres. Written by
    :func:`centre_lines_json` (the simulator), read by :func:`read_centre_lines`;
    not a pick-file format of ``cryopick pick``.

crYOLO filament CBOX (``data_global`` + ``data_cryolo``, crYOLO >= 1.8)
    One box per segment every ``box_distance_px`` along each filament;
    ``_CoordinateX/Y`` is the box corner (centre - size / 2), ``_filamentid``
    the 0-based filament number, ``_EstWidth/_EstHeight`` the fiber width,
    ``_Confidence`` the filament's score (written by
    :mod:`napari_cryopick.io.formats.cbox`).

Writers are atomic (a temporary file moved into place). Readers raise
:class:`~napari_cryopick.io.formats.PickFileError` for bad files.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick.core.fibers import median_width, resample_path, simplify_path
from napari_cryopick.core.pick_table import make_picks, normalize_picks, original_to_binned
from napari_cryopick.io.atomic import atomic_write_text
from napari_cryopick.io.formats import (
    SCORE_DECIMALS,
    check_readable,
    file_error,
    format_number,
    names_column,
    numeric_column,
    read_star_blocks,
    star_block,
)
from napari_cryopick.io.formats.star import coordinate_block

__all__ = [
    "CENTRE_LINES_SUFFIX",
    "HELICAL_LAYOUTS",
    "centre_lines_json",
    "looks_like_centre_lines",
    "read_centre_lines",
    "read_cryolo_filaments",
    "read_relion_helical",
    "segment_directions",
    "write_cryolo_filaments",
    "write_fiber_table",
    "write_relion_helical",
]

#: napari-cryopick's label of the fiber a start-end piece belongs to (RELION ignores it).
FIBER_LABEL = "cryopickFiberID"
#: Layouts of :func:`write_relion_helical`.
HELICAL_LAYOUTS: tuple[str, ...] = ("start_end", "segments")
#: Suffix of fiber centre-line files (:func:`read_centre_lines`).
CENTRE_LINES_SUFFIX = ".json"
#: RELION's flip ratio for tubes of unknown polarity (bimodal psi prior).
PSI_FLIP_RATIO = 0.5
VERSION_LINE = "# version 30001"
SEGMENT_LABELS = (
    "rlnAnglePsiPrior",
    "rlnHelicalTrackLengthAngst",
    "rlnHelicalTrackLength",
    "rlnAngleTiltPrior",
)


def start_end_paths(
    path: Path, names: Sequence[str], x: np.ndarray, y: np.ndarray, ids: np.ndarray
) -> list[tuple[str, np.ndarray, int]]:
    """Start-end pairs of rows joined into fibers: ``(micrograph, (N, 2) path, first row)``.

    Pieces with one id (``cryopickFiberID``, else the tube id) in one micrograph
    are one fiber, in the order of their first rows, where each starts where the one
    before ends (that vertex kept once); a piece that starts elsewhere begins a fiber of
    its own (a fiber trial's two pairs of one tube id, 300 px apart, were joined by a
    made-up straight stretch that training labelled and a CBOX export boxed). A NaN id
    is a fiber of its own.
    """
    if len(x) % 2:
        raise file_error(
            path, f"start-end coordinates come in pairs of rows, but the file has {len(x)} rows"
        )
    pieces: dict[tuple[str, float], list[tuple[np.ndarray, int]]] = {}
    for i in range(0, len(x), 2):
        if names[i] != names[i + 1]:
            raise file_error(
                path, f"rows {i + 1} and {i + 2} (a start-end pair) name two micrographs"
            )
        key = (names[i], ids[i] if np.isfinite(ids[i]) else -1.0 - i)
        piece = np.array([[x[i], y[i]], [x[i + 1], y[i + 1]]])
        pieces.setdefault(key, []).append((piece, i))
    out = []
    for key, parts in pieces.items():
        joined, row = parts[0]
        for piece, start in parts[1:]:
            if np.allclose(piece[0], joined[-1]):
                joined = np.vstack([joined, piece[1:]])
            else:  # (not touching: another fiber of that id, with its own first row)
                out.append((key[0], joined, row))
                joined, row = piece, start
        out.append((key[0], joined, row))
    return out


def _atomic_write_text(path: Path, text: str) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise file_error(path, "the destination folder does not exist")
    return atomic_write_text(path, text)


def _as_path(path: np.ndarray) -> np.ndarray:
    return np.asarray(path, dtype=np.float64).reshape(-1, 2)


def segment_directions(points: np.ndarray) -> np.ndarray:
    """In-plane direction of a path at each of its points, radians ``atan2(dy, dx)``.

    Central differences inside, one-sided at the ends; 0 for a single point.
    """
    points = _as_path(points)
    if len(points) < 2:
        return np.zeros(len(points))
    tangent = np.gradient(points, axis=0)
    return np.arctan2(tangent[:, 1], tangent[:, 0])


# --------------------------------------------------------------------------
# RELION
# --------------------------------------------------------------------------


def write_relion_helical(
    paths_by_micrograph: Mapping[str, Sequence[np.ndarray]],
    path: str | os.PathLike,
    *,
    layout: str = "start_end",
    box_distance_px: float | None = None,
    max_deviation_px: float | None = 4.0,
    pixel_size_A: float | None = None,
    micrograph_names: bool | None = None,
    micrograph_suffix: str = "",
    decimals: int = 3,
    width_px: float | None = None,
    scores: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write fiber paths as a RELION helical coordinate STAR file.

    Parameters
    ----------
    paths_by_micrograph
        ``{micrograph name: [path, ...]}``; each path ``(N, 2)`` (x, y) in the
        micrograph's pixels. Tube ids count from 1 per micrograph in list order
        (``"start_end"``: one per straight piece).
    path
        Destination (``.star``); its folder must exist.
    layout
        ``"start_end"`` or ``"segments"`` (see the module docstring).
    box_distance_px
        ``"segments"``: distance between consecutive segments along a tube
        (required).
    max_deviation_px
        ``"start_end"``: a curved path is cut into straight pieces staying
        within this distance of it; ``None``: one start-end pair per path.
    pixel_size_A
        ``"segments"``: Å per pixel, for ``rlnHelicalTrackLengthAngst``
        (required: RELION's *Extract* stops with "Prior information of helical
        segments is missing" without it).
    micrograph_names
        Write ``rlnMicrographName``; ``None``: when a name is not empty.
        ``False`` gives a per-micrograph coordinate file.
    micrograph_suffix
        Appended to micrograph names (e.g. ``".mrc"``).
    decimals
        Decimals of coordinates (trailing zeros dropped).
    width_px
        The fibers' width, written on every row as ``cryopickDiameter`` (read
        back as the diameter; RELION ignores it).
    scores
        ``{micrograph name: [score per path]}``, written on every row of a
        path as ``rlnAutopickFigureOfMerit`` (no score: -999, as RELION's
        manual picking writes), so a threshold can still be applied to them.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from napari_cryopick.io.formats.star import DIAMETER_LABEL, NO_SCORE_TEXT

    path = Path(path)
    if layout not in HELICAL_LAYOUTS:
        raise ValueError(f"layout must be one of {HELICAL_LAYOUTS}, got {layout!r}")
    if layout == "segments" and not (box_distance_px and box_distance_px > 0):
        raise ValueError("the 'segments' layout needs box_distance_px > 0")
    if layout == "segments" and not (
        pixel_size_A and math.isfinite(pixel_size_A) and pixel_size_A > 0
    ):
        raise ValueError(
            "RELION helical segments need the pixel size (their track length is in Å, "
            "rlnHelicalTrackLengthAngst, which RELION's Extract requires), and it is unknown "
            "(PNG, JPEG and TIFF carry none; an MRC header of 0 or 1 Å counts as none): give "
            "--pixel-size, or write start-end pairs (--helical-layout start_end)"
        )
    if micrograph_names is None:
        micrograph_names = any(str(name) for name in paths_by_micrograph)

    def number(value: float) -> str:
        return format_number(value, decimals)

    labels = ["rlnCoordinateX", "rlnCoordinateY"]
    if micrograph_names:
        labels.append("rlnMicrographName")
    labels.append("rlnHelicalTubeID")
    if layout == "start_end":
        labels.append(FIBER_LABEL)
    extra_labels = []  # the same on every row of a path
    if scores is not None:
        extra_labels.append("rlnAutopickFigureOfMerit")
    if width_px is not None and math.isfinite(width_px) and width_px > 0:
        extra_labels.append(DIAMETER_LABEL)
    if layout == "segments":
        labels += [
            "rlnAngleTiltPrior",
            "rlnAnglePsiPrior",
            "rlnHelicalTrackLengthAngst",
            "rlnAnglePsiFlipRatio",
        ]
    labels += extra_labels
    rows: list[list[str]] = []
    for micrograph, fibers in paths_by_micrograph.items():
        name = [f"{micrograph}{micrograph_suffix}"] if micrograph_names else []
        piece = 0  # start_end: tube ids of the straight pieces, 1-based per micrograph
        path_scores = list((scores or {}).get(micrograph, ()))
        for tube, fiber in enumerate(fibers, start=1):
            fiber = _as_path(fiber)
            if len(fiber) < 2:
                continue
            extra = []
            if scores is not None:
                score = path_scores[tube - 1] if tube - 1 < len(path_scores) else math.nan
                extra.append(
                    format_number(score, max(decimals, SCORE_DECIMALS))
                    if math.isfinite(score)
                    else NO_SCORE_TEXT
                )
            if DIAMETER_LABEL in extra_labels:
                extra.append(number(float(width_px)))
            if layout == "start_end":
                vertices = (
                    fiber[[0, -1]]
                    if max_deviation_px is None
                    else simplify_path(fiber, max_deviation_px)
                )
                for start, end in itertools.pairwise(vertices):
                    piece += 1
                    for x, y in (start, end):
                        rows.append([number(x), number(y), *name, str(piece), str(tube), *extra])
            else:
                segments = resample_path(fiber, float(box_distance_px))
                directions = segment_directions(segments) if len(segments) > 1 else None
                if directions is None:
                    # A tube shorter than one box distance: its direction is the chord.
                    chord = fiber[-1] - fiber[0]
                    directions = np.array([math.atan2(chord[1], chord[0])])
                arc = np.arange(len(segments)) * float(box_distance_px) * float(pixel_size_A)
                for (x, y), direction, length in zip(segments, directions, arc):
                    psi = -math.degrees(direction)
                    rows.append(
                        [
                            number(x),
                            number(y),
                            *name,
                            str(tube),
                            "90",
                            number(psi + 0.0),
                            number(length),
                            format_number(PSI_FLIP_RATIO, 1),
                            *extra,
                        ]
                    )
    text = "\n" + VERSION_LINE + "\n" + star_block("", labels, rows)
    return _atomic_write_text(path, text)


def write_fiber_table(
    table: pd.DataFrame,
    path: str | os.PathLike,
    format: str,
    *,
    micrograph_names: bool | None = None,
    binning: float = 1.0,
    box_size_px: float | None = None,
    as_boxes: bool = False,
) -> Path:
    """Write fiber picks (a pick table: each fiber's vertices in order, one ``tube_id``
    per fiber and micrograph) as RELION and crYOLO read fibers.

    ``"star"``: helical start-end pairs (:func:`write_relion_helical`, the layout
    ``cryopick pick --kind fiber`` writes), each fiber's score and the median width
    on its rows; ``"cbox"``: a crYOLO filament file of one micrograph
    (:func:`write_cryolo_filaments`, boxes every half width, boxes twice the width
    unless ``box_size_px``). One row per vertex instead, as a particle writer lays
    them out, pairs RELION's Extract across two fibers and skips every other piece.
    ``binning``: coordinates for the micrograph binned so many times (block binning,
    :func:`~napari_cryopick.core.pick_table.original_to_binned`). ``as_boxes``: the
    vertices are filament boxes already (a crYOLO CBOX read back): a CBOX keeps them as
    they are (resampled at half the width, a trial's file lost its end box).
    """
    if format not in ("star", "cbox"):
        raise ValueError(f"fibers are written as star or cbox, not {format!r}")
    table = normalize_picks(table)
    table = table[(table["kind"] == "fiber") & (table["tube_id"] > 0)]
    if binning != 1.0:
        table = original_to_binned(table, binning)
        box_size_px = None if box_size_px is None else box_size_px / binning
    paths: dict[str, list[np.ndarray]] = {}
    scores: dict[str, list[float]] = {}
    for name, rows in table.groupby("micrograph", sort=False):
        groups = [group for _, group in rows.groupby("tube_id", sort=True)]
        paths[str(name)] = [group[["x", "y"]].to_numpy(np.float64) for group in groups]
        scores[str(name)] = [float(group["score"].iloc[0]) for group in groups]
    width = median_width(table)
    if format == "star":
        return write_relion_helical(
            paths, path, scores=scores, micrograph_names=micrograph_names, width_px=width
        )
    if len(paths) > 1:
        raise ValueError(f"{path}: a CBOX file holds one micrograph, the fibers name {len(paths)}")
    width = width or box_size_px
    if not width:
        raise ValueError(f"{path}: the fibers' width is unknown: give a box size")
    return write_cryolo_filaments(
        next(iter(paths.values()), []),
        path,
        box_distance_px=width / 2.0,
        box_size_px=box_size_px or 2.0 * width,
        diameter_px=width,
        scores=next(iter(scores.values()), []),
        resample=not as_boxes,
    )


def read_relion_helical(
    path: str | os.PathLike, *, layout: str = "auto"
) -> dict[str, list[np.ndarray]]:
    """Read fiber paths from a RELION helical coordinate STAR file.

    Parameters
    ----------
    path
        STAR file with ``rlnCoordinateX/Y`` (and ``rlnHelicalTubeID``,
        ``rlnMicrographName`` where present).
    layout
        ``"start_end"``: consecutive row pairs are start and end of a straight
        piece; pieces with the same ``cryopickFiberID`` (or, without it, the
        same tube id: files of RELION's manual picking and older ones of
        napari-cryopick) in the same micrograph are joined into one path,
        others are one tube each. ``"segments"``: one
        path per (micrograph, tube id), rows in order of the track length when
        given. ``"auto"``: ``"segments"`` when the file has angle priors or a
        track length, else ``"start_end"``.

    Returns
    -------
    dict
        ``{micrograph name: [path, ...]}`` (name ``""`` for per-micrograph
        files), paths ``(N, 2)`` (x, y) in tube-id order.
    """
    path = Path(path)
    check_readable(path)
    block = coordinate_block(path, read_star_blocks(path))
    if layout not in ("auto", *HELICAL_LAYOUTS):
        raise ValueError(f"layout must be 'auto' or one of {HELICAL_LAYOUTS}, got {layout!r}")
    if layout == "auto":
        layout = "segments" if any(lb in block.columns for lb in SEGMENT_LABELS) else "start_end"
        if layout == "start_end" and "rlnHelicalTubeID" in block.columns:
            ids = numeric_column(block, "rlnHelicalTubeID", path)
            if len(ids) % 2 == 0 and not (ids[0::2] == ids[1::2]).all():
                layout = "segments"  # pairs across tubes: X, Y and tube id of segments
    x = numeric_column(block, "rlnCoordinateX", path)
    y = numeric_column(block, "rlnCoordinateY", path)
    names = names_column(block, "rlnMicrographName", path)
    tube = numeric_column(block, "rlnHelicalTubeID", path, required=layout == "segments")
    out: dict[str, list[np.ndarray]] = {}
    if layout == "segments":
        track = np.full(len(x), np.nan)
        for label in ("rlnHelicalTrackLengthAngst", "rlnHelicalTrackLength"):
            if label in block.columns:
                track = numeric_column(block, label, path)
                break
        frame = pd.DataFrame({"m": names, "t": tube, "s": track, "x": x, "y": y})
        frame["order"] = np.arange(len(frame))
        for (micrograph, _), group in frame.groupby(["m", "t"], sort=True):
            if np.isfinite(group["s"]).all():
                group = group.sort_values(["s", "order"], kind="stable")
            out.setdefault(str(micrograph), []).append(group[["x", "y"]].to_numpy(np.float64))
        return out
    if FIBER_LABEL in block.columns:
        tube = numeric_column(block, FIBER_LABEL, path)
    for name, vertices, _row in start_end_paths(path, names, x, y, tube):
        out.setdefault(name, []).append(vertices)
    return out


# --------------------------------------------------------------------------
# crYOLO
# --------------------------------------------------------------------------


def write_cryolo_filaments(
    paths: Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    box_distance_px: float,
    box_size_px: float,
    diameter_px: float | None = None,
    scores: Sequence[float] | None = None,
    decimals: int = 3,
    resample: bool = True,
) -> Path:
    """Write filaments of one micrograph as a crYOLO filament CBOX file.

    Parameters
    ----------
    paths
        One ``(N, 2)`` (x, y) path per filament, in the micrograph's pixels.
    path
        Destination (``.cbox``).
    box_distance_px
        Distance between consecutive boxes along a filament (crYOLO's
        ``--distance`` / inter-box distance), > 0.
    box_size_px
        Box edge (``_Width``/``_Height``), > 0.
    diameter_px
        Filament width (``_EstWidth``/``_EstHeight``); ``None``: the box size.
    scores
        One confidence per filament (``_Confidence``); ``None``: missing.
    decimals
        Decimals of coordinates.
    resample
        Boxes every ``box_distance_px`` along each path (from its start, as crYOLO
        places them); False: the paths' points are the boxes (a filament CBOX read
        back), written as they are.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from napari_cryopick.io.pickfiles import write_picks

    if not box_distance_px > 0 or not box_size_px > 0:
        raise ValueError(
            f"box_distance_px and box_size_px must be > 0, got {box_distance_px}, {box_size_px}"
        )
    paths = [_as_path(p) for p in paths]
    if scores is not None and len(scores) != len(paths):
        raise ValueError(f"{len(paths)} filaments but {len(scores)} scores")
    xs, ys, tubes, confidence = [], [], [], []
    for number, fiber in enumerate(paths, start=1):
        if len(fiber) == 0:
            continue
        boxes = resample_path(fiber, float(box_distance_px)) if resample else fiber
        xs.append(boxes[:, 0])
        ys.append(boxes[:, 1])
        tubes.append(np.full(len(boxes), number))
        score = np.nan if scores is None else float(scores[number - 1])
        confidence.append(np.full(len(boxes), score))
    width = float(diameter_px) if diameter_px else float(box_size_px)
    if xs:
        table = make_picks(
            np.concatenate(xs),
            np.concatenate(ys),
            diameter=width,
            score=np.concatenate(confidence),
            kind="fiber",
            tube_id=np.concatenate(tubes),
        )
    else:
        table = make_picks()
    return write_picks(table, Path(path), "cbox", box_size=float(box_size_px), decimals=decimals)


def read_cryolo_filaments(path: str | os.PathLike) -> list[np.ndarray]:
    """Read the filaments of a crYOLO CBOX file as paths (box centres in file order).

    Returns
    -------
    list of numpy.ndarray
        One ``(N, 2)`` (x, y) array per ``_filamentid`` (ascending); boxes
        without a filament id are ignored.
    """
    from napari_cryopick.io.formats import cbox

    table = cbox.read(Path(path))
    table = table[table["tube_id"] > 0]
    return [
        group[["x", "y"]].to_numpy(np.float64) for _, group in table.groupby("tube_id", sort=True)
    ]


# --------------------------------------------------------------------------
# Centre lines (JSON, cryopick simulate)
# --------------------------------------------------------------------------


def looks_like_centre_lines(head: str) -> bool:
    """Whether the start of a ``.json`` file is a fiber centre-line file (a cheap test)."""
    return head.lstrip().startswith("{") and '"points_xy"' in head and '"fibers"' in head


def centre_lines_json(micrograph: str, width_px: float, fibers: Sequence[np.ndarray]) -> str:
    """The fiber centre-line JSON text that :func:`read_centre_lines` reads.

    ``{"micrograph", "width_px", "fibers": [{"tube_id", "points_xy"}]}``:
    one entry per ``(N, 2)`` (x, y) path, ``tube_id`` 1, 2, ..., points
    rounded to 1/1000 px (``cryopick simulate``'s ``fibers/<micrograph>.json``).
    """
    import json

    payload = {
        "micrograph": micrograph,
        "width_px": float(width_px),
        "fibers": [
            {"tube_id": k + 1, "points_xy": np.round(np.asarray(line, float), 3).tolist()}
            for k, line in enumerate(fibers)
        ],
    }
    return json.dumps(payload)


def read_centre_lines(path: str | os.PathLike) -> pd.DataFrame:
    """Read a fiber centre-line JSON file as a pick table.

    Parameters
    ----------
    path
        ``{"micrograph", "width_px", "fibers": [{"tube_id", "points_xy"}]}``,
        as ``cryopick simulate`` writes to ``fibers/<micrograph>.json``.

    Returns
    -------
    pandas.DataFrame
        One row per centre-line point, in path order: kind ``"fiber"``, the
        fiber's ``tube_id`` (its position in the file, 1-based, when the file
        has none), ``diameter`` = ``width_px`` (NaN without), no score,
        ``micrograph`` = the file's (its stem when it names none).

    Raises
    ------
    PickFileError
        Not JSON, or not laid out as above.
    """
    import json

    path = Path(path)
    check_readable(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise file_error(path, f"not a JSON file ({exc})") from None
    fibers = payload.get("fibers") if isinstance(payload, dict) else None
    if not isinstance(fibers, list):
        raise file_error(path, 'not a fiber centre-line file: no "fibers" list')
    width = payload.get("width_px")
    micrograph = str(payload.get("micrograph") or path.stem)
    xs, ys, tubes = [], [], []
    for index, fiber in enumerate(fibers, start=1):
        points = fiber.get("points_xy") if isinstance(fiber, dict) else None
        try:
            points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            tube = int(fiber.get("tube_id", index))
        except (TypeError, ValueError):
            raise file_error(
                path, f'fiber {index}: "points_xy" must be [[x, y], ...] and "tube_id" a number'
            ) from None
        xs.append(points[:, 0])
        ys.append(points[:, 1])
        tubes.append(np.full(len(points), tube, dtype=np.int64))
    if not xs:
        return make_picks()
    return make_picks(
        np.concatenate(xs),
        np.concatenate(ys),
        diameter=float(width) if isinstance(width, int | float) else None,
        micrograph=micrograph,
        kind="fiber",
        tube_id=np.concatenate(tubes),
    )
