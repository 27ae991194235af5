"""What a picked micrograph's result layers are made from, and the user's corrections.

Tables only (no napari, no Qt): :class:`ShownResult` (every candidate down to
the score floor, the heatmap, the fibers traced per threshold), which
candidates a threshold and a size range show, and how a new result keeps the
user's corrections of an earlier one: hand-added picks stay
(:func:`_with_manual`), deleted picks, circles and paths stay deleted
(:func:`_without_deleted`, :func:`_deleted_shapes`). The layers themselves are
``result_layers``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import empty_picks, near_points
from napari_cryopick.core.text import counted


@dataclass(frozen=True)
class ShownResult:
    """What the layers of one picked micrograph are made from.

    ``picks`` holds every candidate down to the score floor (all kinds; fiber
    candidates untraced), so any threshold can be shown without the network.
    """

    picks: pd.DataFrame
    heatmap: np.ndarray | None
    heatmap_scale: tuple[float, float] = (1.0, 1.0)
    heatmap_translate: tuple[float, float] = (0.0, 0.0)
    link_radius_px: float | None = None
    threshold: float = field(default_factory=lambda: default_pick_config().threshold)
    #: Positions (x, y; float32, 8 bytes a candidate, so a folder of thousands stays
    #: small) of the particle candidates as the picking (or the loaded file) gave them,
    #: before the user's corrections: a candidate missing from the corrected picks
    #: was deleted by the user (:func:`deleted_picks`). None: not known.
    original: np.ndarray | None = None
    #: Diameter in pixels the micrograph was picked at (``MicrographPicks.diameter_px``):
    #: the width fibers are traced and written with, and the diameter a micrograph takes
    #: back with corrections from disk. None: not known (a pick file loaded, a training's
    #: preview), the picks' median diameter stands in.
    picked_diameter_px: float | None = None
    #: Kinds whose shapes the user edited (``"vesicle"`` circles deleted, moved,
    #: resized or drawn; ``"fiber"`` paths deleted, reshaped or drawn) and not yet
    #: used as training labels: a new result would lose them (:func:`has_corrections`).
    edited: frozenset[str] = frozenset()
    #: Negatives (x, y) the user marked on the micrograph when the result was shown
    #: (:func:`_without_negatives`): a traced fiber path passing within half its width
    #: of one is not shown. None: none (or a file loaded, shown as it is).
    negatives: np.ndarray | None = None
    #: Centres (x, y) of the network's circles, and middle vertices of its paths, that
    #: the user deleted since the last "Use as training labels" (which makes them
    #: negatives, as it does deleted particle picks).
    deleted_shapes: tuple[tuple[float, float], ...] = ()
    #: The circles and paths whose copies are training labels, as they were when last
    #: used as labels (:func:`shapes_record`, rows of :data:`RECORD_COLUMNS`): a label
    #: that copies one follows it when the user resizes, moves, reshapes or deletes it
    #: afterwards (:func:`labels_to_update`). None: not used as labels since picked.
    labelled_shapes: np.ndarray | None = None
    #: The model file the network's picks were made with (the bundled model's too), kept
    #: on disk with the corrections: picks back from an earlier session say which model
    #: made them (a re-trial's picks of a trained model came back beside the bundled
    #: model, which Pick current would have re-picked them with). None: not known (a
    #: pick file loaded, a training's preview, a model never saved).
    model_file: str | None = None
    #: ``(size, sampled digest)`` of ``model_file`` when the model picked with was read or
    #: written (:func:`~napari_cryopick.io.recovery.file_stamp`): after a restart, the
    #: same path written again since (a training into that file) is an earlier version's
    #: picks, not the file's now (a napari trial's were credited to the retrained model
    #: and picked at the old one's threshold). None: not known.
    model_stamp: tuple[int, str] | None = None
    #: The picks without a score are a pick file's (*Load picks…*: BOX, Topaz, ... files
    #: hold none), as it gave them, not added by hand: their positions are ``original``
    #: and deleting or moving one is a correction (a GUI trial's deletions of a BOX file's
    #: picks were replaced by the next load unasked, dropped on closing, and made no
    #: negatives). Picks the user adds afterwards count as corrections too.
    file_picks: bool = False
    #: Corrections kept on disk by a napari session in which the micrograph was ticked
    #: *Reviewed*: the tick comes back with them (:func:`~.result_layers._saved_result`).
    kept_reviewed: bool = False
    #: Fibers as shown at a threshold, ``{threshold: (paths, scores, rows)}``
    #: (:func:`_shown_fibers`): tracing again only at a threshold not seen yet.
    #: A new result (``dataclasses.replace``) starts with an empty one.
    traced: dict = field(default_factory=dict, init=False, repr=False, compare=False)


def default_pick_config() -> Any:
    """Core ``PickConfig()``: the defaults of ``cryopick pick``, also the widget's."""
    from napari_cryopick.core.detect import PickConfig

    return PickConfig()


def as_shown(result: Any) -> ShownResult:
    """A ``ShownResult`` of a workflow ``MicrographPicks`` or a core ``PickResult``."""
    from napari_cryopick.core.fibers import default_link_radius

    if isinstance(result, ShownResult):
        return result
    if hasattr(result, "candidates") and hasattr(result, "result"):  # MicrographPicks
        inner = result.result
        link = getattr(inner, "link_radius_px", None) or default_link_radius(result.shape[1])
        return ShownResult(
            result.candidates,
            inner.heatmap,
            tuple(inner.heatmap_scale),
            tuple(inner.heatmap_translate),
            float(link),
            float(result.threshold),
            picked_diameter_px=float(result.diameter_px),
        )
    width = float(result.prepared_shape[1]) / float(result.prepared_scale[1])
    return ShownResult(
        result.picks,
        result.heatmap,
        tuple(result.heatmap_scale),
        tuple(result.heatmap_translate),
        float(default_link_radius(width)),
        float(result.threshold),
    )


def _shown_mask(
    table: pd.DataFrame,
    threshold: float,
    diameters: tuple[float | None, float | None] = (None, None),
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Points shown: scoring ``threshold`` or more, diameter in range, and every hand-added one.

    The filter of ``cryopick filter`` (core ``pick_table.filter_mask``); picks
    without a score (added by hand) always show, and hide the detector's candidates
    they sit on (within the picker's ``min_distance`` of a diameter,
    :func:`~napari_cryopick.core.pick_table.beside_hand_picks`): the same particle.
    A size range on picks that have no diameters is not applied (the Pick widget says
    so). ``positions``: ``(row, col)`` of the rows where ``table`` has no ``x``/``y``
    (a points layer's features).
    """
    from napari_cryopick.core.pick_table import filter_mask

    low, high = diameters
    try:
        mask = filter_mask(
            table, threshold=threshold, min_diameter=low, max_diameter=high, keep_unscored=True
        )
    except ValueError:  # no diameters to filter: the threshold alone
        mask = filter_mask(table, threshold=threshold, keep_unscored=True)
    return mask & ~_beside_hand(table, positions)


def _beside_hand(table: pd.DataFrame, positions: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``table`` that a hand pick (no score) sits on, within the picker's
    ``min_distance`` (:func:`~napari_cryopick.core.pick_table.beside_hand_picks`): that
    particle, never shown, exported nor evaluated. ``positions``: ``(row, col)`` of the
    rows where ``table`` has no ``x``/``y`` (a points layer's features); none marked
    without positions or scores."""
    from napari_cryopick.core.pick_table import beside_hand_picks

    none = np.zeros(len(table), dtype=bool)
    if not len(table) or "score" not in table:
        return none
    if positions is not None and len(positions) == len(table):
        y, x = np.asarray(positions, float)[:, -2], np.asarray(positions, float)[:, -1]
    elif {"x", "y"} <= set(table.columns):
        x, y = table["x"].to_numpy(float), table["y"].to_numpy(float)
    else:
        return none
    diameter = (
        table["diameter"].to_numpy(float) if "diameter" in table else np.full(len(table), np.nan)
    )
    return beside_hand_picks(
        x, y, table["score"].to_numpy(float), diameter, default_pick_config().min_distance
    )


def _has_diameters(table: pd.DataFrame) -> bool:
    scored = np.isfinite(table["score"].to_numpy(float))
    return bool(np.isfinite(table["diameter"].to_numpy(float)[scored]).any())


def _particle_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    return candidates[~candidates["kind"].isin(["vesicle", "fiber"])].reset_index(drop=True)


def _fiber_width(fibers: pd.DataFrame, result: ShownResult | None = None) -> float | None:
    """The fiber width: the one ``result`` was picked at, else the median diameter of
    ``fibers`` (picks); None where unknown."""
    from napari_cryopick.core.fibers import median_width

    if result is not None and result.picked_diameter_px:
        return float(result.picked_diameter_px)
    return median_width(fibers)


def _fiber_table(paths: list, scores: Any, micrograph: str, width: float | None) -> pd.DataFrame:
    """Fiber paths as a pick table: their vertices, one ``tube_id`` per path (1, 2, ...),
    the path's score on each of its vertices (NaN: none)."""
    from napari_cryopick.core.fibers import paths_to_picks

    table = paths_to_picks(paths, micrograph=micrograph, diameter=width)
    if len(table) and scores is not None and len(scores) == len(paths):
        table["score"] = np.asarray(scores, dtype=float)[table["tube_id"].to_numpy() - 1]
    return table


def _shapes_differ(filled: pd.DataFrame | None, now: pd.DataFrame) -> bool:
    """Whether a layer's circles or paths differ from those it was filled with (by 0.5 px).

    Deleted, drawn, moved, resized or reshaped. Not known (None): no.
    """
    if filled is None:
        return False
    if len(filled) != len(now):
        return True
    if not np.array_equal(filled["tube_id"].to_numpy(), now["tube_id"].to_numpy()):
        return True
    before = filled[["x", "y", "diameter"]].to_numpy(float)
    after = now[["x", "y", "diameter"]].to_numpy(float)
    return not np.allclose(before, after, atol=0.5, equal_nan=True)


def _appended(table: pd.DataFrame, added: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """``table`` with ``added`` after it; returns the new table and the rows of ``added``.

    The rows of ``table`` keep their index labels (a result layer's
    ``metadata["rows"]`` names stored rows by them); ``added`` is numbered on.
    """
    start = int(table.index.max()) + 1 if len(table) else 0
    rows = list(range(start, start + len(added)))
    added = added.set_axis(pd.RangeIndex(start, start + len(added)), axis=0)
    parts = [t for t in (table, added) if len(t)]
    return (pd.concat(parts) if parts else empty_picks()), rows


def spots_table(spots: Any) -> pd.DataFrame:
    """The (x, y) spots of deleted shapes (``ShownResult.deleted_shapes``) as a table."""
    return pd.DataFrame(np.asarray(spots, float).reshape(-1, 2), columns=["x", "y"])


def _successors(kind: str, before: pd.DataFrame, now: pd.DataFrame) -> list[Any]:
    """What each circle (path) of ``before`` became in ``now``: a row label of ``now``
    (a path: its ``tube_id``), or None where it went.

    A circle is the same one moved or resized when a circle of ``now`` covers its
    centre, is centred inside it, and is within a factor of 2 of its size (a trial
    dragged a 190 px circle by 60 px, a re-trial resized one by +50 % and another by
    -30 %: each old centre, still inside, became a negative on the vesicle just
    labelled; a neighbouring vesicle lies a diameter or more away, and a small circle
    nested in a large one is no resize of it); the nearest such one. A path is the same
    one reshaped when it runs along a path of ``now`` for half its length or more
    (within half its width, core ``path_coverage``); the one it runs along most.
    """
    found: list[Any] = []
    if kind == "vesicle":
        same, near = same_circles(before, now)
        sizes = before["diameter"].to_numpy(float)
        for i, size in enumerate(sizes):
            # (a circle of no size: one at its very place)
            row = same[i] if np.isfinite(size) and size > 0 else near[i] < 1.0
            found.append(
                now.index[np.flatnonzero(row)[np.argmin(near[i][row])]] if row.any() else None
            )
        return found
    from napari_cryopick.core.fibers import SAME_FIBER_COVERAGE, path_coverage

    paths = {t: g[["x", "y"]].to_numpy(float) for t, g in now.groupby("tube_id", sort=False)}
    for _tube, path in before.groupby("tube_id", sort=False):
        points = path[["x", "y"]].to_numpy(float)
        width = float(path["diameter"].median()) if path["diameter"].notna().any() else 0.0
        tolerance = max(0.5 * width, 1.0)
        cover = {t: path_coverage(points, [p], tolerance) for t, p in paths.items()}
        best = max(cover, key=cover.get) if cover else None
        found.append(best if best is not None and cover[best] >= SAME_FIBER_COVERAGE else None)
    return found


def same_circles(first: pd.DataFrame, second: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(same, near)``, each ``(len(first), len(second))``: whether a circle of ``second``
    is one of ``first`` moved or resized (it covers that one's centre, is centred inside
    it and is within a factor of 2 of its size: :func:`_successors`), and the distances
    of their centres. Circles without a finite size are the same as none."""
    size = first["diameter"].to_numpy(float)[:, None]
    other = second["diameter"].to_numpy(float)[None, :]
    near = np.hypot(
        first["x"].to_numpy(float)[:, None] - second["x"].to_numpy(float)[None, :],
        first["y"].to_numpy(float)[:, None] - second["y"].to_numpy(float)[None, :],
    )
    with np.errstate(invalid="ignore"):
        same = (near < 0.5 * size) & (near < 0.5 * other)
        same &= (other >= 0.5 * size) & (other <= 2.0 * size)
    return same, near


def _deleted_shapes(
    kind: str, before: pd.DataFrame | None, now: pd.DataFrame, every: bool = False
) -> tuple[tuple[float, float], ...]:
    """Where the network's circles (paths) of ``before`` that ``now`` lacks were.

    A circle or path of ``now`` that one of ``before`` became (moved, resized,
    reshaped: :func:`_successors`) is no deletion of it. Otherwise it was deleted:
    its centre, or the point of the path farthest from the paths left (a trial
    deleted one of two crossing fibers: its middle vertex was the crossing, and the
    deletion was not seen). Shapes drawn by hand (no score) are not the network's:
    not counted, unless ``every`` (a pick file's result, ``ShownResult.file_picks``,
    whose shapes have no scores: its deletions made no negatives).
    """
    if before is None or not len(before):
        return ()
    scored = before if every else before[before["score"].notna()]
    found = _successors(kind, scored, now)
    if kind == "vesicle":
        return tuple(
            (float(row.x), float(row.y))
            for row, then in zip(scored.itertuples(), found, strict=True)
            if then is None
        )
    from scipy.spatial import cKDTree

    from napari_cryopick.core.fibers import resample_path

    paths = [t[["x", "y"]].to_numpy(float) for _, t in now.groupby("tube_id", sort=False)]
    gone: list[tuple[float, float]] = []
    groups = scored.groupby("tube_id", sort=False)
    for (_tube, path), then in zip(groups, found, strict=True):
        if then is not None:
            continue  # reshaped, not deleted
        points = path[["x", "y"]].to_numpy(float)
        width = float(path["diameter"].median()) if path["diameter"].notna().any() else 0.0
        tolerance = max(0.5 * width, 1.0)
        spot = points[len(points) // 2]
        if paths and len(points) > 1:
            # the point nearest its middle that is clear of the paths left (a negative
            # there must not hide them), else the farthest from them
            dense = resample_path(points, 1.0)
            left = cKDTree(np.vstack(paths)).query(dense)[0]
            clear = np.flatnonzero(left > 3.0 * tolerance)
            middle = len(dense) // 2
            best = clear[np.argmin(np.abs(clear - middle))] if len(clear) else np.argmax(left)
            spot = dense[int(best)]
        gone.append((float(spot[0]), float(spot[1])))
    return tuple(gone)


#: The codes of the shape kinds in ``ShownResult.labelled_shapes`` (its first column).
SHAPE_CODES = {"vesicle": 0.0, "fiber": 1.0}
#: A shape within this many pixels of one used as training labels (centre, diameter;
#: a path's every vertex, both ways) is that one unchanged, and a label within it of
#: one is that shape's copy.
SAME_SHAPE_PX = 1.0


#: The columns of ``ShownResult.labelled_shapes``: the kind's code, then pick columns.
RECORD_COLUMNS = ("code", "x", "y", "diameter", "tube_id", "score")


def shapes_record(*tables: pd.DataFrame) -> np.ndarray | None:
    """The circles and paths of ``tables`` (pick tables) as ``ShownResult.labelled_shapes``
    rows (:data:`RECORD_COLUMNS`; a path's tube numbered anew, one a table's path), the
    same shape once. None: none."""
    rows, tube = [], 0
    for table in tables:
        if table is None or not len(table):
            continue
        table = table[table["kind"].astype(str).isin(list(SHAPE_CODES))]
        for kind, part in table.groupby(table["kind"].astype(str), sort=False):
            if kind == "fiber":  # tubes numbered apart from the other tables' paths
                ids = pd.factorize(part["tube_id"])[0] + tube + 1
                tube = int(ids.max()) if len(ids) else tube
                part = part.assign(tube_id=ids)
            values = part[["x", "y", "diameter", "tube_id", "score"]].to_numpy(float)
            rows.append(np.column_stack([np.full(len(part), SHAPE_CODES[kind]), values]))
    if not rows:
        return None
    record = np.vstack(rows)
    # the same shape twice (shown, and carried over from the press before): once
    circles = record[record[:, 0] == SHAPE_CODES["vesicle"]]
    _values, first = np.unique(np.round(circles[:, 1:4], 1), axis=0, return_index=True)
    kept = [circles[np.sort(first)]]
    fibers = record[record[:, 0] == SHAPE_CODES["fiber"]]
    paths: list[np.ndarray] = []
    for tube in dict.fromkeys(fibers[:, 4]):
        path = fibers[fibers[:, 4] == tube]
        if not any(_same_path(path[:, 1:3], q[:, 1:3], SAME_SHAPE_PX) for q in paths):
            paths.append(path)
    kept += paths
    return np.vstack(kept) if sum(map(len, kept)) else None


def _record_table(record: np.ndarray | None, kind: str) -> pd.DataFrame:
    """The ``kind`` rows of a :func:`shapes_record` as a pick table."""
    from napari_cryopick.core.pick_table import make_picks

    width = len(RECORD_COLUMNS)
    rows = np.asarray(record if record is not None else (), float).reshape(-1, width)
    rows = rows[rows[:, 0] == SHAPE_CODES[kind]]
    return make_picks(
        rows[:, 1],
        rows[:, 2],
        diameter=rows[:, 3],
        kind=kind,
        tube_id=np.nan_to_num(rows[:, 4]).astype(int),
        score=rows[:, 5],
    )


def _same_path(first: np.ndarray, second: np.ndarray, tolerance: float) -> bool:
    """Whether two paths ((N, 2) x, y) lie within ``tolerance`` of each other, every
    vertex of each on the other (a vertex moved, an end cut or drawn on: not)."""
    from napari_cryopick.core.fibers import _distance_to_polyline

    return bool(
        (_distance_to_polyline(first, second) <= tolerance).all()
        and (_distance_to_polyline(second, first) <= tolerance).all()
    )


def _unchanged(kind: str, then: pd.DataFrame, now: pd.DataFrame) -> list[bool]:
    """Which circles (paths, by ``tube_id`` in their order) of ``then`` ``now`` holds as
    they were (:data:`SAME_SHAPE_PX`: centre and diameter; a path's every vertex)."""
    if kind == "vesicle":
        if not len(now):
            return [False] * len(then)
        xy = now[["x", "y"]].to_numpy(float)
        sizes = now["diameter"].to_numpy(float)
        same = []
        for row in then.itertuples():
            near = np.hypot(xy[:, 0] - row.x, xy[:, 1] - row.y) <= SAME_SHAPE_PX
            with np.errstate(invalid="ignore"):
                sized = np.abs(sizes - row.diameter) <= SAME_SHAPE_PX
            sized |= np.isnan(sizes) & np.isnan(row.diameter)
            same.append(bool((near & sized).any()))
        return same
    paths = [g[["x", "y"]].to_numpy(float) for _, g in now.groupby("tube_id", sort=False)]
    return [
        any(_same_path(g[["x", "y"]].to_numpy(float), p, SAME_SHAPE_PX) for p in paths)
        for _, g in then.groupby("tube_id", sort=False)
    ]


def labelled_now(shapes: pd.DataFrame, labels: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The circles (paths) of ``shapes`` that ``labels`` holds a copy of (:func:`_unchanged`)."""
    shapes = shapes[shapes["kind"].astype(str) == kind]
    if not len(shapes) or not len(labels):
        return shapes.iloc[:0]
    same = np.asarray(_unchanged(kind, shapes, labels), bool)
    if kind == "vesicle":
        return shapes[same]
    tubes = [t for (t, _g), s in zip(shapes.groupby("tube_id", sort=False), same, strict=True) if s]
    return shapes[shapes["tube_id"].isin(tubes)]


@dataclass(frozen=True)
class LabelUpdates:
    """What became of the circles (paths) of one kind used as training labels before
    (:func:`labels_to_update`): each changed one as it was used, and what it is now
    (None: deleted)."""

    pairs: tuple[tuple[pd.DataFrame, pd.DataFrame | None], ...]


def labels_to_update(result: ShownResult, kind: str, threshold: float) -> LabelUpdates | None:
    """The circles (paths) of ``kind`` last used as training labels
    (``result.labelled_shapes``) that the user resized, moved, reshaped or deleted since:
    a later *Use as training labels* replaces the labels copying them with them as they
    are now, or drops them (a GUI trial resized a circle after pressing it and pressed
    again: the label kept the old size; a path moved and then deleted kept its label).
    None: nothing changed, no record (picked since, a training's preview: the labels stay
    as they are), or fibers still traced at each threshold (never edited: no paths
    stored to compare).

    The shapes now are the result's stored ones, those hidden by ``threshold`` too:
    hiding changes no label. A shape whose successor (:func:`_successors`) scores below
    the threshold is left alone, as is a path without one whose own score lies below it
    (a micrograph's paths are stored as shown when first edited: a fiber hidden then is
    not stored, not deleted).
    """
    then = _record_table(result.labelled_shapes, kind)
    if not len(then):
        return None
    now = result.picks[result.picks["kind"].astype(str) == kind]
    if kind == "fiber":
        if kind not in result.edited and not (now["tube_id"] > 0).any():
            return None  # candidates traced at each threshold: no paths to compare yet
        now = now[now["tube_id"] > 0]
    same = _unchanged(kind, then, now)
    if kind == "vesicle":
        shapes = [then.iloc[[i]] for i in range(len(then))]
    else:
        shapes = [g for _t, g in then.groupby("tube_id", sort=False)]
    pairs = []
    labelled = [shape for shape, kept in zip(shapes, same, strict=True) if kept]
    labelled = pd.concat(labelled) if labelled else then.iloc[:0]
    successors = _successors(kind, then, now)  # (a shape each, in the order of ``shapes``)
    for shape, kept, found in zip(shapes, same, successors, strict=True):
        if kept:
            continue
        if found is not None:
            successor = now.loc[[found]] if kind == "vesicle" else now[now["tube_id"] == found]
            if any(_unchanged(kind, successor, labelled)):
                found = None  # a neighbour labelled as it is: this one went
        if found is None:
            hidden = kind == "fiber" and float(shape["score"].max()) < threshold
            if not hidden:
                pairs.append((shape, None))
            continue
        scores = successor["score"].to_numpy(float)
        if np.isfinite(scores).all() and float(scores.max()) < threshold:
            continue  # changed, then hidden: as it was until shown again
        pairs.append((shape, successor))
    return LabelUpdates(tuple(pairs)) if pairs else None


def _traced_key(threshold: float) -> float:
    return round(float(threshold), 6)


def _shown_fibers(result: ShownResult, threshold: float) -> tuple[list, list, list]:
    """The fiber paths of ``result`` shown at ``threshold``, their scores and stored rows.

    Rows with a ``tube_id`` (a loaded RELION helical STAR or crYOLO filament
    file, or paths the user edited) are paths as they are, shown when
    unscored or any vertex scores ``threshold`` or more, each with its best
    vertex score; candidates without one (a picking's result) are traced at
    ``threshold`` (with hysteresis: core ``trace_fiber_candidates``), each path with
    the mean score of its candidates at the threshold (as ``cryopick pick`` traces
    them). The rows are those of the tubes shown and
    every candidate's. Kept in ``result.traced``: a threshold seen before (the
    review table, the status, an export) is not traced again.
    """
    key = _traced_key(threshold)
    cached = result.traced.get(key)
    if cached is not None:
        return cached
    from napari_cryopick.core.fibers import path_score
    from napari_cryopick.core.pick_table import filter_mask

    picks = result.picks
    fibers = picks[picks["kind"] == "fiber"]
    paths: list = []
    scores: list[float] = []
    rows: list[int] = []
    traced = fibers[fibers["tube_id"] > 0]
    for _tube, tube in traced.groupby("tube_id", sort=True):
        if filter_mask(tube, threshold=threshold, keep_unscored=True).any():
            paths.append(tube[["x", "y"]].to_numpy(np.float64))
            scores.append(path_score(tube["score"]))
            rows += [int(i) for i in tube.index]
    candidates = fibers[fibers["tube_id"] <= 0]
    if len(candidates):
        from napari_cryopick.core.fibers import (
            SAME_FIBER_COVERAGE,
            default_link_radius,
            path_coverage,
            paths_near,
        )
        from napari_cryopick.core.object_kinds import trace_fiber_candidates

        width = _fiber_width(candidates, result) or 0.0
        found, found_picks = trace_fiber_candidates(
            candidates,
            threshold=threshold,
            link_radius_px=result.link_radius_px or default_link_radius(1024),
            diameter_px=width or None,  # a second trace along a fiber is dropped
        )
        path_scores = np.full(len(found), np.nan)
        for tube, group in found_picks.groupby("tube_id"):
            path_scores[int(tube) - 1] = float(group["score"].iloc[0])
        keep = np.ones(len(found), bool)
        if result.negatives is not None and len(result.negatives) and found:
            # a path the user marked as junk somewhere along it stays away as a whole
            keep &= ~paths_near(found, result.negatives, 0.5 * width)
        drawn = [
            tube[["x", "y"]].to_numpy(np.float64)
            for _tube, tube in traced.groupby("tube_id")
            if tube["score"].isna().all()
        ]
        if drawn and width > 0:
            # a path drawn by hand (kept through a re-pick) is the fiber: not traced twice
            keep &= np.array(
                [path_coverage(p, drawn, 0.5 * width) < SAME_FIBER_COVERAGE for p in found], bool
            )
        if not keep.all():
            found = [path for path, kept in zip(found, keep, strict=True) if kept]
            path_scores = path_scores[keep]
        paths += list(found)
        scores += path_scores.tolist()
        rows += [int(i) for i in candidates.index]
    if len(result.traced) >= 8:  # a slider dragged over many values: keep a few
        result.traced.clear()
    result.traced[key] = (paths, scores, rows)
    return paths, scores, rows


def _with_manual(shown: ShownResult, old: ShownResult | None) -> ShownResult:
    """``shown`` plus the picks, circles and paths without a score of an earlier result
    (the user's own: drawn by hand, or in a loaded file without scores).

    A network candidate within half a diameter of a hand-added pick is the
    same particle, a network circle centred within a quarter of a drawn
    circle's diameter the same vesicle: dropped, so a re-pick never doubles
    them. Paths drawn by hand keep their own tube numbers after the result's;
    a path traced along one is not shown (:func:`_shown_fibers`). A trial drew
    a circle and a path, pressed Pick again, and both were gone (hand-added
    particle picks stayed).
    """
    if old is None or not len(old.picks):
        return shown
    manual = _particle_candidates(old.picks)
    moved = _moved_picks(manual, old.original)
    manual = manual[manual["score"].isna()]
    if len(moved):
        # a network pick the user dragged elsewhere is theirs now: it stays where they put
        # it (a review: re-picking lost it, its old place counting as a deletion)
        manual = pd.concat([manual, moved.assign(score=np.nan)], ignore_index=True)
    picks = shown.picks
    if len(manual):
        particle = ~picks["kind"].isin(["vesicle", "fiber"]).to_numpy()
        diameter = pd.concat([manual["diameter"], picks["diameter"]]).astype(float)
        radius = 0.5 * float(np.nanmedian(diameter)) if diameter.notna().any() else 0.0
        if radius > 0:
            picks = picks[~near_points(picks, particle, manual, radius)]
    unscored = old.picks[old.picks["score"].isna()]
    circles = unscored[unscored["kind"] == "vesicle"]
    if len(circles):
        network = (picks["kind"] == "vesicle").to_numpy() & picks["score"].notna().to_numpy()
        same = np.zeros(len(picks), bool)
        for circle in circles.itertuples():
            size = float(circle.diameter) if np.isfinite(circle.diameter) else 0.0
            near = np.hypot(
                picks["x"].to_numpy(float) - circle.x, picks["y"].to_numpy(float) - circle.y
            )
            same |= network & (near <= max(0.25 * size, 1.0))
        picks = picks[~same]
    paths = unscored[(unscored["kind"] == "fiber") & (unscored["tube_id"] > 0)]
    if len(paths):
        tubes = picks.loc[picks["kind"] == "fiber", "tube_id"]
        start = max(int(tubes.max()), 0) if len(tubes) else 0
        numbers = {tube: start + i for i, tube in enumerate(sorted(paths["tube_id"].unique()), 1)}
        paths = paths.assign(tube_id=paths["tube_id"].map(numbers))
    kept = [t for t in (manual, circles, paths) if len(t)]
    if not kept:
        return shown
    return replace(shown, picks=pd.concat([picks, *kept], ignore_index=True))


def _moved_picks(candidates: pd.DataFrame, original: np.ndarray | None) -> pd.DataFrame:
    """The scored particle ``candidates`` lying at none of the ``original`` positions
    (within 0.5 px): network picks the user moved."""
    from napari_cryopick.core.pick_table import far_from

    scored = candidates[candidates["score"].notna()]
    if original is None or not len(original):
        return scored.iloc[:0]
    return far_from(scored, pd.DataFrame(np.asarray(original, float), columns=["x", "y"]), 0.5)


def _split_in_place(
    current: pd.DataFrame, positions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``current`` as (left at one of ``positions`` within 0.5 px, the others: moved or
    added by hand), by position (an index may repeat)."""
    from napari_cryopick.core.pick_table import nearest_distances

    at = nearest_distances(current, positions) <= 0.5
    return current[at], current[~at]


def _gone(
    positions: pd.DataFrame, left: pd.DataFrame, changed: pd.DataFrame, radius: float
) -> pd.DataFrame:
    """The ``positions`` no pick is ``left`` at and no ``changed`` one lies within
    ``radius`` of (:func:`deleted_places`)."""
    from napari_cryopick.core.pick_table import far_from

    return far_from(far_from(positions, left, 0.5), changed, radius).reset_index(drop=True)


def deleted_places(original: Any, current: pd.DataFrame, radius: float) -> pd.DataFrame:
    """The ``original`` positions (x, y) of a result whose pick the user deleted.

    No pick of ``current`` (the candidates as corrected, hidden ones too) is left at
    one (within 0.5 px), and no pick the user moved or added lies within ``radius``
    (half a diameter) of it: a pick moved a little, or replaced by one added by hand,
    is the same particle, not a deletion. A candidate left where it was is no such
    reason (a round-trip trial's deleted pick, 20 px from a candidate the threshold
    hid, came back on picking again).
    """
    positions = pd.DataFrame(np.asarray(original, float).reshape(-1, 2), columns=["x", "y"])
    if current is None or not len(current):
        return positions
    return _gone(positions, *_split_in_place(current, positions), radius)


def _without_deleted(
    shown: ShownResult, old: ShownResult | None, shown_at: float | None = None
) -> tuple[ShownResult, np.ndarray]:
    """``shown`` without the network's particle candidates where the user deleted one of
    an earlier result of the micrograph, and those places ((N, 2) x, y).

    A trial deleted 3 picks and pressed Pick (or Pick all open) again: all 3 came
    back unsaid. Deletions not yet used as training labels now go with the
    micrograph through re-picking, as hand-added picks do (:func:`_with_manual`).

    A place of the earlier result is deleted when no candidate is left at it (within
    0.5 px) and no pick the user moved or added lies within half a diameter of it (a
    pick moved a little is not a deletion). A candidate left where it was is no reason:
    a round-trip trial's deleted pick, beside a candidate the threshold hid, came back.
    A new candidate within half a diameter of a deleted place goes unless an earlier
    candidate left in place lies nearer to it (that one's particle, not the deleted).
    ``shown_at``: the threshold the earlier result was shown at: of a particle picked
    twice, a pick kept on screen (a twin) keeps the particle (None: ``old.threshold``).
    """
    none = np.zeros((0, 2), np.float32)
    if old is None or old.original is None or not len(old.original):
        return shown, none
    from napari_cryopick.core.pick_table import nearest_distances

    current = _particle_candidates(old.picks)
    # particle sizes only: a vesicle's would widen the radius around each deletion
    sizes = pd.concat([current["diameter"], _particle_candidates(shown.picks)["diameter"]])
    sizes = sizes.astype(float)
    if not sizes.notna().any():
        return shown, none
    radius = 0.5 * float(np.nanmedian(sizes))
    positions = pd.DataFrame(np.asarray(old.original, float).reshape(-1, 2), columns=["x", "y"])
    left, changed = _split_in_place(current, positions)  # (once: the places and the twins)
    gone = _gone(positions, left, changed, radius)
    if not len(gone):
        return shown, none
    picks = shown.picks
    particle = (picks["kind"] == "particle").to_numpy() & picks["score"].notna().to_numpy()
    near = near_points(picks, particle, gone, radius)
    if near.any() and len(left):
        rows = np.flatnonzero(near)
        to_gone = nearest_distances(picks.iloc[rows], gone)
        near[rows[nearest_distances(picks.iloc[rows], left) < to_gone]] = False
        # a pick left within a quarter diameter of a deleted one is the same particle
        # picked twice, the one the user kept: the new candidate nearest to it is its,
        # even where that lies nearer the deleted one (a GUI re-trial deleted the better
        # centred of two and lost the particle on Pick current)
        # (a twin is a pick the user saw and kept: a candidate the threshold hid beside a
        # deleted pick is none, a review)
        threshold = old.threshold if shown_at is None else shown_at
        seen = left[left["score"].to_numpy(float) >= float(threshold)]
        twins = seen[nearest_distances(seen, gone) <= radius / 2]
        if len(twins) and near.any():
            from scipy.spatial import cKDTree

            rows = np.flatnonzero(particle)
            xy = picks.iloc[rows][["x", "y"]].to_numpy(float)
            twin_xy = twins[["x", "y"]].to_numpy(float)
            distance, index = cKDTree(xy).query(twin_xy)
            # the candidate nearest a twin is its when the deleted place nearest that
            # candidate is the twin's partner, not another deletion (a review: a false pick
            # deleted a diameter away lost nothing, the twin's candidate sat on it)
            gone_xy = gone[["x", "y"]].to_numpy(float)
            _d, partner = cKDTree(gone_xy).query(xy[index])
            own = np.hypot(*(gone_xy[partner] - twin_xy).T) <= radius / 2
            near[rows[index[(distance <= radius) & own]]] = False
    keep = ~near
    shown = replace(shown, picks=picks[keep].reset_index(drop=True)) if not keep.all() else shown
    return shown, gone[["x", "y"]].to_numpy(np.float32)


def _objects_text(counts: dict[str, int], kinds: tuple[str, ...] = ("particle",)) -> str:
    """``"1 picks, 2 vesicles, 4 fibers"`` (the kinds there are); for none, ``"0 picks"``,
    or ``"0 vesicles"`` / ``"0 fibers"`` for a model of vesicles or fibers only (a trial's
    vesicle model said "0 picks")."""
    parts = [counted(n, what) for what, n in counts.items() if n]
    if parts:
        return ", ".join(parts)
    picked = set(kinds) - {"negative"}
    return {frozenset({"vesicle"}): "0 vesicles", frozenset({"fiber"}): "0 fibers"}.get(
        frozenset(picked), "0 picks"
    )


def _object_counts(table: pd.DataFrame) -> dict[str, int]:
    """Objects of a pick table as the user sees them (:func:`core.pick_table.object_counts`:
    one per pick and circle, one per fiber, not one per vertex of its path)."""
    from napari_cryopick.core.pick_table import object_counts

    return object_counts(table)


def _object_scores(table: pd.DataFrame) -> np.ndarray:
    """One score per object of a pick table (per pick, circle and fiber; NaN: none)."""
    fiber = (table["kind"].astype(str) == "fiber").to_numpy()
    tubes = table[fiber].drop_duplicates(["micrograph", "tube_id"])["score"].to_numpy(float)
    return np.concatenate([table.loc[~fiber, "score"].to_numpy(float), tubes])


def _scored_positions(picks: pd.DataFrame) -> np.ndarray:
    """``(x, y)`` float32 of the scored particle picks (the network's, not the user's)."""
    particles = _particle_candidates(picks)
    return particles.loc[particles["score"].notna(), ["x", "y"]].to_numpy(np.float32)


def made_by_earlier_file(result: ShownResult) -> bool:
    """Whether ``result``'s picks were made by its model file as it was before it was
    written again (its stamp then differs from the file's now); False where not known."""
    from napari_cryopick.io.recovery import file_stamp

    stamp = getattr(result, "model_stamp", None)
    if getattr(result, "model_file", None) is None or stamp is None:
        return False
    now = file_stamp(result.model_file)
    return now is not None and tuple(now) != tuple(stamp)


def same_candidates(old: ShownResult | None, original: np.ndarray, model_file: str | None) -> bool:
    """Whether a network's new result of a micrograph, whose candidates as picked are
    ``original`` (``ShownResult.original``: (x, y), the places deleted before included),
    brings back ``old``'s candidates (the same model picking it again), so what the user
    reviewed of ``old`` still holds.

    Each of the new candidates lies within 0.01 px of one of ``old``'s as picked (the
    same model gives the same places; ``old`` may hold more: places deleted under an
    earlier model). Of picks read from a file, each scored one still there lies on a
    new candidate (the file holds those above its threshold only). A result without
    particle candidates (circles, paths) is the same when the same model file made both.
    """
    if old is None:
        return False
    now = np.asarray(original, float).reshape(-1, 2)
    if old.file_picks:
        inside, outside = _scored_positions(old.picks).astype(float), now
    else:
        if old.original is None:
            return False
        inside, outside = now, np.asarray(old.original, float).reshape(-1, 2)
    if not len(inside) and not len(outside):
        return old.model_file is not None and old.model_file == model_file
    if not len(inside) or not len(outside):
        return False
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(outside).query(inside)
    return bool(np.all(distance <= 0.01))


def tracked_positions(result: ShownResult | None, picks: pd.DataFrame) -> np.ndarray:
    """``(x, y)`` float32 of the particle picks whose deletion or move is a correction:
    the scored ones (the network's), or every one of a pick file's result
    (``ShownResult.file_picks``)."""
    if result is not None and result.file_picks:
        return _particle_candidates(picks)[["x", "y"]].to_numpy(np.float32)
    return _scored_positions(picks)
