"""Evaluation of picks against ground truth: matching, PR curves, AP, AR, AUROC, F-beta.

Every function takes pick tables in the project convention
(:mod:`napari_cryopick.core.pick_table`). The definitions, with formulas, are in
``docs/evaluation.md``; in short:

* **Matching** is done per micrograph (``micrograph`` column). Predictions,
  sorted by descending score, are greedily matched to a still unmatched
  ground-truth pick (COCO style: a prediction whose best truth is taken tries its
  next best): either the nearest one whose
  centre lies within ``tolerance_px``, or the one of highest IoU when the IoU
  of the axis-aligned square boxes (side = each pick's own diameter, falling
  back to ``diameter_px``) is at least ``iou`` (0.5 as EPicker, 0.6 as
  HydraPicker). Candidates are found with :class:`scipy.spatial.cKDTree`.
* Ground truth of kind ``"negative"`` is never a positive: it is removed
  before matching; false positives that land on a negative are counted
  separately ("picks on junk"). Predictions of kind ``"negative"`` are
  dropped.
* **AP** is the area under the precision-recall curve with all-point
  interpolation (monotone precision envelope, PASCAL VOC >= 2010 / COCO
  without the 101-point sampling).
* **AR** is COCO's average recall: recall with all predictions (or those
  scoring at least ``score_threshold``), averaged over IoU thresholds
  0.50:0.95:0.05.
* **AUROC** treats each prediction as a TP/FP sample and adds every missed
  ground-truth pick as a positive with score ``-inf``; it is the
  Mann-Whitney probability that a positive outranks a false positive.

Core module: numpy, scipy and pandas only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_cryopick.core.pick_table import normalize_picks
from napari_cryopick.core.text import name_list

__all__ = [
    "AR_IOU_THRESHOLDS",
    "EvaluationReport",
    "FiberScoring",
    "MatchResult",
    "MicrographMismatchError",
    "Mirror",
    "PRCurve",
    "auroc",
    "average_precision",
    "average_recall",
    "best_threshold",
    "box_iou",
    "evaluate",
    "fibers_as_points",
    "fill_scores",
    "match_picks",
    "mirrored_truth",
    "precision_recall_curve",
]

#: IoU thresholds averaged by :func:`average_recall` (COCO: 0.50, 0.55, ..., 0.95).
AR_IOU_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))

PredOnly = Literal["ignore", "false_positive", "error"]


class MicrographMismatchError(ValueError):
    """Predictions and ground truth share no micrograph name (or some are unexpected)."""


@dataclass(frozen=True)
class MatchResult:
    """Result of :func:`match_picks`.

    Attributes
    ----------
    matched
        Per prediction (rows of the prediction table after dropping predictions
        of kind ``"negative"`` and, with ``pred_only="ignore"``, those on
        micrographs absent from the truth), whether it matched a ground-truth
        pick. Order: as in the input table.
    scores
        Score of each prediction (NaN scores replaced by the highest finite
        score, or 1.0 if none is finite).
    truth_index
        Position (0-based row of the truth table, in its order: its own index
        labels are not kept) of the matched truth pick, or -1.
    micrograph
        Micrograph name of each prediction.
    on_negative
        False positives lying on a ground-truth ``"negative"`` pick (same
        criterion as the matching).
    n_truth
        Number of positive ground-truth picks (kind not ``"negative"``) on the
        evaluated micrographs.
    truth_per_micrograph
        Number of positive ground-truth picks per micrograph.
    criterion
        Human-readable matching criterion, e.g. ``"IoU>=0.5"`` or ``"dist<=10px"``.
    """

    matched: np.ndarray
    scores: np.ndarray
    truth_index: np.ndarray
    micrograph: np.ndarray
    on_negative: np.ndarray
    n_truth: int
    truth_per_micrograph: dict[str, int] = field(default_factory=dict)
    criterion: str = ""

    @property
    def n_pred(self) -> int:
        """Number of evaluated predictions."""
        return int(self.matched.size)

    @property
    def n_matched(self) -> int:
        """Number of true positives over all predictions."""
        return int(self.matched.sum())


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall when keeping predictions with ``score >= threshold``.

    One entry per distinct score, thresholds in descending order; ties are
    added together.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """The curve as a DataFrame with columns threshold, precision, recall."""
        return pd.DataFrame(
            {"threshold": self.thresholds, "precision": self.precision, "recall": self.recall}
        )


# --------------------------------------------------------------------------- matching


def box_iou(
    xa: np.ndarray,
    ya: np.ndarray,
    da: np.ndarray,
    xb: np.ndarray,
    yb: np.ndarray,
    db: np.ndarray,
) -> np.ndarray:
    """IoU of axis-aligned square boxes centred on (x, y) with side ``d`` (element-wise).

    Two boxes of side ``d`` offset by ``d/2`` along one axis have IoU 1/3.
    """
    xa, ya, da, xb, yb, db = (np.asarray(v, dtype=np.float64) for v in (xa, ya, da, xb, yb, db))
    overlap_x = np.minimum(xa + da / 2, xb + db / 2) - np.maximum(xa - da / 2, xb - db / 2)
    overlap_y = np.minimum(ya + da / 2, yb + db / 2) - np.maximum(ya - da / 2, yb - db / 2)
    inter = np.clip(overlap_x, 0, None) * np.clip(overlap_y, 0, None)
    union = da * da + db * db - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _diameters(table: pd.DataFrame, diameter_px: float | None, what: str) -> np.ndarray:
    diameters = table["diameter"].to_numpy(np.float64).copy()
    missing = ~np.isfinite(diameters) | (diameters <= 0)
    if missing.any():
        if diameter_px is None:
            raise ValueError(
                f"IoU matching needs a diameter: {int(missing.sum())} {what} pick(s) have none "
                "(Topaz and some STAR files store none); give the diameter of the objects "
                "(--diameter PX) or match by centre distance (--tolerance PX)"
            )
        diameters[missing] = float(diameter_px)
    return diameters


def fill_scores(scores: np.ndarray) -> np.ndarray:
    """``scores`` with the missing ones (picks added by hand) filled as sure ones."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    finite = np.isfinite(scores)
    if not finite.all():
        # picks without a score (added by hand) are sure ones: 1, or the highest score
        # of the others where that is higher, as the Evaluate widget ranks them
        fill = max(1.0, float(scores[finite].max())) if finite.any() else 1.0
        scores[~finite] = fill
    return scores


def _greedy_match(
    pred_xy: np.ndarray,
    pred_d: np.ndarray | None,
    truth_xy: np.ndarray,
    truth_d: np.ndarray | None,
    order: np.ndarray,
    *,
    iou: float | None,
    tolerance_px: float | None,
) -> np.ndarray:
    """Greedy matching on one micrograph; returns the matched truth position or -1."""
    result = np.full(len(pred_xy), -1, dtype=np.int64)
    if len(pred_xy) == 0 or len(truth_xy) == 0:
        return result
    tree = cKDTree(truth_xy)
    if tolerance_px is not None:
        candidates = tree.query_ball_point(pred_xy, r=float(tolerance_px))
    else:
        # IoU > 0 needs |dx|, |dy| < (d_pred + d_truth) / 2: a disc of radius
        # sqrt(2) * (d_pred + max d_truth) / 2 contains every such truth pick.
        radius = (pred_d + truth_d.max()) / 2 * math.sqrt(2) + 1e-9
        candidates = tree.query_ball_point(pred_xy, r=radius)
    lengths = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    if lengths.sum() == 0:
        return result
    pair_pred = np.repeat(np.arange(len(pred_xy)), lengths)
    pair_truth = np.fromiter(
        (j for c in candidates for j in c), dtype=np.int64, count=int(lengths.sum())
    )
    if tolerance_px is not None:
        delta = truth_xy[pair_truth] - pred_xy[pair_pred]
        quality = -np.hypot(delta[:, 0], delta[:, 1])  # nearest first
    else:
        quality = box_iou(
            pred_xy[pair_pred, 0],
            pred_xy[pair_pred, 1],
            pred_d[pair_pred],
            truth_xy[pair_truth, 0],
            truth_xy[pair_truth, 1],
            truth_d[pair_truth],
        )
        good = quality >= iou
        pair_pred, pair_truth, quality = pair_pred[good], pair_truth[good], quality[good]
    rank = np.empty(len(pred_xy), dtype=np.int64)
    rank[order] = np.arange(len(order))
    # Visit predictions by descending score, each one's candidates best first;
    # a prediction takes its best candidate not already taken (COCO greedy).
    visit = np.lexsort((-quality, rank[pair_pred]))
    taken = np.zeros(len(truth_xy), dtype=bool)
    for i, j in zip(pair_pred[visit].tolist(), pair_truth[visit].tolist()):
        if result[i] < 0 and not taken[j]:
            taken[j] = True
            result[i] = j
    return result


def _near_any(
    pred_xy: np.ndarray,
    pred_d: np.ndarray | None,
    neg_xy: np.ndarray,
    neg_d: np.ndarray | None,
    *,
    iou: float | None,
    tolerance_px: float | None,
) -> np.ndarray:
    """Whether each prediction meets the matching criterion with any negative pick."""
    out = np.zeros(len(pred_xy), dtype=bool)
    if len(pred_xy) == 0 or len(neg_xy) == 0:
        return out
    tree = cKDTree(neg_xy)
    if tolerance_px is not None:
        dist, _ = tree.query(pred_xy, k=1)
        return dist <= tolerance_px
    radius = (pred_d + neg_d.max()) / 2 * math.sqrt(2) + 1e-9
    for i, cand in enumerate(tree.query_ball_point(pred_xy, r=radius)):
        if cand:
            cand = np.asarray(cand)
            overlap = box_iou(
                pred_xy[i, 0],
                pred_xy[i, 1],
                pred_d[i],
                neg_xy[cand, 0],
                neg_xy[cand, 1],
                neg_d[cand],
            )
            out[i] = bool((overlap >= iou).any())
    return out


def _check_micrographs(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    pred_only: PredOnly,
    known: Collection[str] = (),
    pred_known: Collection[str] = (),
) -> tuple[pd.DataFrame, set[str]]:
    """Apply the ``pred_only`` policy; return the predictions kept and the orphan names.

    ``known``: micrographs of the ground truth without picks (not orphans);
    ``pred_known``: micrographs predicted on without picks (the two sides share
    a micrograph held by them too).
    """
    if pred_only not in ("ignore", "false_positive", "error"):
        raise ValueError(
            f"pred_only must be 'ignore', 'false_positive' or 'error', not {pred_only!r}"
        )
    pred_names = set(pred["micrograph"].unique())
    truth_names = set(truth["micrograph"].unique()) | set(known)
    orphans = pred_names - truth_names
    if pred_names and truth_names and not ((pred_names | set(pred_known)) & truth_names):
        raise MicrographMismatchError(
            "predictions and ground truth share no micrograph name: predictions have "
            f"{name_list(pred_names, 8, quoted=True)}, ground truth has {name_list(truth_names, 8, quoted=True)}"
        )
    if orphans:
        if pred_only == "error":
            raise MicrographMismatchError(
                f"predictions on micrographs absent from the ground truth: {name_list(orphans, 8, quoted=True)}"
            )
        if pred_only == "ignore":
            warnings.warn(
                f"ignoring predictions on {len(orphans)} micrograph(s) absent from the "
                f"ground truth: {name_list(orphans, 8, quoted=True)}",
                UserWarning,
                stacklevel=3,
            )
            pred = pred[~pred["micrograph"].isin(orphans)]
    return pred, orphans


def match_picks(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    iou: float | None = None,
    tolerance_px: float | None = None,
    diameter_px: float | None = None,
    pred_only: PredOnly = "ignore",
    truth_micrographs: Collection[str] = (),
) -> MatchResult:
    """Match predictions to ground truth, per micrograph, greedily by descending score.

    Parameters
    ----------
    pred, truth
        Pick tables (project convention). Missing columns get defaults; NaN
        prediction scores count as the highest score present.
    iou
        Match when the IoU of the square boxes (side = diameter) is at least
        this. The default criterion is ``iou=0.5`` when neither ``iou`` nor
        ``tolerance_px`` is given.
    tolerance_px
        Match when the centre distance is at most this many pixels (the
        nearest unmatched truth pick wins). Exclusive with ``iou``.
    diameter_px
        Diameter for picks whose own diameter is NaN (IoU matching only).
    pred_only
        Predictions on micrographs absent from the truth: ``"ignore"`` (drop
        them with a warning naming the micrographs), ``"false_positive"``
        (keep them; they are all false positives) or ``"error"``.

    Returns
    -------
    MatchResult

    Raises
    ------
    MicrographMismatchError
        When the two tables share no micrograph name (both non-empty), or with
        ``pred_only="error"``.
    ValueError
        IoU matching where a diameter is unknown and no ``diameter_px``.
    """
    if iou is not None and tolerance_px is not None:
        raise ValueError("give either iou or tolerance_px, not both")
    if iou is None and tolerance_px is None:
        iou = 0.5
    if tolerance_px is not None and not tolerance_px >= 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    if iou is not None and not 0 < iou <= 1:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    criterion = f"IoU>={iou:g}" if iou is not None else f"dist<={tolerance_px:g}px"

    pred = normalize_picks(pred)
    truth = normalize_picks(truth)
    pred = pred[pred["kind"] != "negative"]
    pred, _ = _check_micrographs(pred, truth, pred_only, truth_micrographs)
    negative = truth["kind"] == "negative"
    negatives = truth[negative]
    positives = truth[~negative]

    n = len(pred)
    scores = fill_scores(pred["score"].to_numpy())
    matched_truth = np.full(n, -1, dtype=np.int64)
    on_negative = np.zeros(n, dtype=bool)
    pred_names = pred["micrograph"].to_numpy(object)
    pred_xy_all = pred[["x", "y"]].to_numpy(np.float64)
    truth_xy_all = positives[["x", "y"]].to_numpy(np.float64)
    neg_xy_all = negatives[["x", "y"]].to_numpy(np.float64)
    truth_labels = positives.index.to_numpy()

    use_iou = iou is not None
    pred_d_all = _diameters(pred, diameter_px, "predicted") if use_iou and n else None
    # (without predictions nothing is matched: a truth without diameters needs none, where
    # an empty prediction file was asked for --diameter though it could only score AP 0)
    truth_d_all = _diameters(positives, diameter_px, "ground-truth") if use_iou and n else None
    neg_d_all = _diameters(negatives, diameter_px, "negative") if use_iou and n else None

    truth_groups = positives.groupby("micrograph", sort=False).indices
    neg_groups = negatives.groupby("micrograph", sort=False).indices
    for name, rows in pred.groupby("micrograph", sort=False).indices.items():
        # Stable sort: among equal scores, earlier rows are matched first.
        order = np.argsort(-scores[rows], kind="stable")
        pred_xy = pred_xy_all[rows]
        pred_d = pred_d_all[rows] if use_iou else None
        t_rows = truth_groups.get(name, np.zeros(0, dtype=np.int64))
        truth_xy = truth_xy_all[t_rows]
        truth_d = truth_d_all[t_rows] if use_iou else None
        local = _greedy_match(
            pred_xy, pred_d, truth_xy, truth_d, order, iou=iou, tolerance_px=tolerance_px
        )
        hit = local >= 0
        matched_truth[rows[hit]] = truth_labels[t_rows[local[hit]]]
        n_rows = neg_groups.get(name)
        if n_rows is not None and (~hit).any():
            miss = ~hit
            near = _near_any(
                pred_xy[miss],
                pred_d[miss] if use_iou else None,
                neg_xy_all[n_rows],
                neg_d_all[n_rows] if use_iou else None,
                iou=iou,
                tolerance_px=tolerance_px,
            )
            on_negative[rows[miss]] = near

    counts = positives["micrograph"].value_counts()
    return MatchResult(
        matched=matched_truth >= 0,
        scores=scores,
        truth_index=matched_truth,
        micrograph=pred_names,
        on_negative=on_negative,
        n_truth=len(positives),
        truth_per_micrograph={str(k): int(v) for k, v in counts.items()},
        criterion=criterion,
    )


def _as_match(pred: Any, truth: pd.DataFrame | None, kwargs: dict) -> MatchResult:
    if isinstance(pred, MatchResult):
        return pred
    if truth is None:
        raise TypeError("truth is required unless a MatchResult is given")
    return match_picks(pred, truth, **kwargs)


# --------------------------------------------------------------------------- metrics


def precision_recall_curve(
    pred: pd.DataFrame | MatchResult,
    truth: pd.DataFrame | None = None,
    **match_kwargs: Any,
) -> PRCurve:
    """Precision and recall for every score threshold.

    Parameters
    ----------
    pred, truth
        Pick tables, or a :class:`MatchResult` as ``pred`` (then ``truth`` is
        not needed).
    **match_kwargs
        ``iou``, ``tolerance_px``, ``diameter_px``, ``pred_only`` for
        :func:`match_picks`.

    Returns
    -------
    PRCurve
        ``precision = TP / (TP + FP)`` and ``recall = TP / n_truth`` over the
        predictions with ``score >= threshold``; one entry per distinct score
        (descending). Empty arrays when there are no predictions; recall is
        NaN when there is no ground truth.
    """
    match = _as_match(pred, truth, match_kwargs)
    if match.n_pred == 0:
        empty = np.zeros(0)
        return PRCurve(empty, empty.copy(), empty.copy())
    order = np.argsort(-match.scores, kind="stable")
    scores = match.scores[order]
    tp = np.cumsum(match.matched[order])
    fp = np.cumsum(~match.matched[order])
    # Keep the last entry of each run of equal scores: ties enter together.
    last = np.r_[scores[1:] != scores[:-1], True]
    tp, fp, thresholds = tp[last], fp[last], scores[last]
    precision = tp / (tp + fp)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / match.n_truth if match.n_truth else np.full(tp.shape, np.nan)
    return PRCurve(thresholds.astype(np.float64), precision.astype(np.float64), recall)


def _ap_from_curve(curve: PRCurve, n_truth: int) -> float:
    if n_truth == 0:
        return float("nan")
    if curve.precision.size == 0:
        return 0.0
    recall = np.r_[0.0, curve.recall]
    # Monotone envelope: interpolated precision at recall r is max precision at recall >= r.
    envelope = np.maximum.accumulate(curve.precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * envelope))


def average_precision(
    pred: pd.DataFrame | MatchResult,
    truth: pd.DataFrame | None = None,
    **match_kwargs: Any,
) -> float:
    """Area under the precision-recall curve, all-point interpolation.

    ``AP = sum_k (r_k - r_{k-1}) * max_{j >= k} p_j`` over the thresholds of
    :func:`precision_recall_curve` (``r_0 = 0``), as PASCAL VOC >= 2010 and
    COCO (without the 101-point sampling). 1.0 for perfect predictions, 0.0
    for no predictions, NaN when there is no ground truth.

    Parameters
    ----------
    pred, truth, **match_kwargs
        As :func:`precision_recall_curve`.
    """
    match = _as_match(pred, truth, match_kwargs)
    return _ap_from_curve(precision_recall_curve(match), match.n_truth)


def average_recall(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    iou_thresholds: tuple[float, ...] = AR_IOU_THRESHOLDS,
    score_threshold: float | None = None,
    diameter_px: float | None = None,
    pred_only: PredOnly = "ignore",
    truth_micrographs: Collection[str] = (),
) -> float:
    """COCO-style average recall: recall averaged over IoU thresholds 0.50:0.95:0.05.

    ``AR = mean_t recall(IoU >= t)`` using every prediction (or those with
    ``score >= score_threshold``). Needs diameters (own or ``diameter_px``).
    NaN when there is no ground truth.

    Parameters
    ----------
    pred, truth
        Pick tables.
    iou_thresholds
        IoU thresholds to average over.
    score_threshold
        Keep predictions with at least this score; ``None`` keeps all.
    diameter_px, pred_only
        As :func:`match_picks`.
    """
    pred = normalize_picks(pred)
    if score_threshold is not None:
        pred = pred[fill_scores(pred["score"].to_numpy()) >= score_threshold]
    recalls = []
    with warnings.catch_warnings():
        # The micrograph-name warning is given once by the caller, not per threshold.
        if len(iou_thresholds) > 1:
            warnings.simplefilter("ignore", UserWarning)
        for threshold in iou_thresholds:
            match = match_picks(
                pred,
                truth,
                iou=float(threshold),
                diameter_px=diameter_px,
                pred_only=pred_only,
                truth_micrographs=truth_micrographs,
            )
            if match.n_truth == 0:
                return float("nan")
            recalls.append(match.n_matched / match.n_truth)
    return float(np.mean(recalls))


def auroc(
    pred: pd.DataFrame | MatchResult,
    truth: pd.DataFrame | None = None,
    **match_kwargs: Any,
) -> float:
    """Area under the ROC curve of the detections.

    Each prediction is a sample labelled positive (matched) or negative (false
    positive) with its score; every ground-truth pick that no prediction
    matched is added as a positive with score ``-inf`` (it was never
    detected). The AUROC is the Mann-Whitney statistic
    ``P(score_pos > score_neg) + 0.5 P(score_pos == score_neg)`` over all
    positive / false-positive pairs, so missed picks lower it. NaN when there
    are no false positives or no ground truth.

    Parameters
    ----------
    pred, truth, **match_kwargs
        As :func:`precision_recall_curve`.
    """
    match = _as_match(pred, truth, match_kwargs)
    negatives = np.sort(match.scores[~match.matched])
    n_pos = match.n_truth
    if negatives.size == 0 or n_pos == 0:
        return float("nan")
    positives = match.scores[match.matched]
    below = np.searchsorted(negatives, positives, side="left")
    equal = np.searchsorted(negatives, positives, side="right") - below
    # Missed truth picks (score -inf) outrank no false positive: they add 0.
    wins = below.sum() + 0.5 * equal.sum()
    return float(wins / (n_pos * negatives.size))


def _best_from_curve(curve: PRCurve, beta: float) -> tuple[float, float, float, float]:
    if curve.precision.size == 0 or not np.isfinite(curve.recall).any():
        return float("nan"), 0.0, float("nan"), float("nan")
    p, r = curve.precision, np.nan_to_num(curve.recall)
    b2 = beta * beta
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(p + r > 0, (1 + b2) * p * r / (b2 * p + r), 0.0)
    best = int(np.argmax(f))  # first maximum = highest threshold
    return float(curve.thresholds[best]), float(f[best]), float(p[best]), float(r[best])


def best_threshold(
    pred: pd.DataFrame | MatchResult,
    truth: pd.DataFrame | None = None,
    *,
    beta: float = 1.0,
    **match_kwargs: Any,
) -> tuple[float, float, float, float]:
    """Score threshold that maximises the F-beta score.

    ``F_beta = (1 + beta^2) P R / (beta^2 P + R)``; ``beta = 1`` is F1,
    ``beta = 2`` (DeepEM) weighs recall four times as much as precision.

    Parameters
    ----------
    pred, truth, **match_kwargs
        As :func:`precision_recall_curve`.
    beta
        Weight of recall.

    Returns
    -------
    tuple
        ``(threshold, f_beta, precision, recall)`` keeping predictions with
        ``score >= threshold``; the highest threshold wins ties. ``(nan, 0,
        nan, nan)`` without predictions or ground truth.
    """
    match = _as_match(pred, truth, match_kwargs)
    return _best_from_curve(precision_recall_curve(match), beta)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class EvaluationReport:
    """Everything :func:`evaluate` measures.

    Attributes
    ----------
    ap
        Average precision per matching criterion, e.g. ``{"AP@0.5": ...,
        "AP@0.6": ..., "AP@10px": ...}``.
    ar
        COCO average recall (IoU 0.50:0.95), NaN without diameters.
    auroc
        See :func:`auroc` (primary criterion).
    criterion
        The primary criterion (distance if given, else the first IoU), used
        for the thresholds, counts and ``pr_curves[criterion]``.
    best_f1, best_f2
        ``(threshold, f, precision, recall)`` from :func:`best_threshold`.
    n_pred, n_truth
        Evaluated predictions and positive ground-truth picks.
    n_on_negatives
        False positives above the best-F1 threshold lying on ``"negative"``
        ground truth ("picks on junk").
    per_micrograph
        Per micrograph at the best-F1 threshold: n_truth, n_pred, tp, fp, fn,
        precision, recall.
    pr_curves
        One :class:`PRCurve` per criterion.
    ignored_micrographs
        Prediction micrographs absent from the truth (ignored or counted as FP).
    """

    ap: dict[str, float]
    ar: float
    auroc: float
    criterion: str
    best_f1: tuple[float, float, float, float]
    best_f2: tuple[float, float, float, float]
    n_pred: int
    n_truth: int
    n_on_negatives: int
    per_micrograph: pd.DataFrame
    pr_curves: dict[str, PRCurve]
    ignored_micrographs: tuple[str, ...] = ()

    @property
    def precision(self) -> float:
        """Precision at the best-F1 threshold."""
        return self.best_f1[2]

    @property
    def recall(self) -> float:
        """Recall at the best-F1 threshold."""
        return self.best_f1[3]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN becomes ``None``)."""

        def clean(value):
            if isinstance(value, (float, np.floating)):
                return None if not math.isfinite(value) else float(value)
            if isinstance(value, (np.integer,)):
                return int(value)
            return value

        def best(values):
            keys = ("threshold", "f", "precision", "recall")
            return {k: clean(v) for k, v in zip(keys, values)}

        return {
            "criterion": self.criterion,
            "ap": {k: clean(v) for k, v in self.ap.items()},
            "ar": clean(self.ar),
            "auroc": clean(self.auroc),
            "best_f1": best(self.best_f1),
            "best_f2": best(self.best_f2),
            "precision": clean(self.precision),
            "recall": clean(self.recall),
            "n_pred": self.n_pred,
            "n_truth": self.n_truth,
            "n_on_negatives": self.n_on_negatives,
            "ignored_micrographs": list(self.ignored_micrographs),
            "per_micrograph": [
                {k: clean(v) for k, v in row.items()}
                for row in self.per_micrograph.to_dict(orient="records")
            ],
            "pr_curves": {
                name: {
                    "threshold": [clean(v) for v in curve.thresholds],
                    "precision": [clean(v) for v in curve.precision],
                    "recall": [clean(v) for v in curve.recall],
                }
                for name, curve in self.pr_curves.items()
            },
        }

    def summary(self) -> str:
        """A short text table for the terminal."""

        def fmt(value: float, digits: int = 3) -> str:
            return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"

        # the predictions' distinct scores (every criterion's curve has them all)
        scores = np.concatenate([np.empty(0), *(c.thresholds for c in self.pr_curves.values())])

        lines = [f"predictions {self.n_pred}, ground truth {self.n_truth} ({self.criterion})"]
        for name, value in self.ap.items():
            lines.append(f"  {name:<14} {fmt(value)}")
        lines.append(f"  {'AR@0.5:0.95':<14} {fmt(self.ar)}")
        lines.append(f"  {'AUROC':<14} {fmt(self.auroc)}")
        for label, (thr, f, p, r) in (("F1", self.best_f1), ("F2", self.best_f2)):
            if not f > 0:  # nothing matched: no threshold is better than another (a trial
                # read "best F1 0.000 at score >= 0.5461" as advice)
                lines.append(f"  best {label:<9} {fmt(f)} (no prediction matches: no threshold)")
                continue
            lines.append(
                f"  best {label:<9} {fmt(f)} at score >= {keeping_text(thr, scores)} "
                f"(precision {fmt(p)}, recall {fmt(r)})"
            )
        if self.n_on_negatives:
            lines.append(f"  picks on junk  {self.n_on_negatives} (on 'negative' ground truth)")
        if self.ignored_micrographs:
            lines.append(
                f"  ignored predictions on {len(self.ignored_micrographs)} micrograph(s) "
                "absent from the ground truth"
            )
        if len(self.per_micrograph) and self.best_f1[1] > 0:
            lines.append("")
            lines.append(
                f"per micrograph, picks with score >= {keeping_text(self.best_f1[0], scores)} (the best-F1 "
                f"threshold, {self.criterion}):"
            )
            lines.append(self.per_micrograph.to_string(index=False, float_format="%.3f"))
        return "\n".join(lines)


def keeping_text(threshold: float, scores: np.ndarray) -> str:
    """``threshold`` as a decimal that keeps the same picks of ``scores`` (``>=``).

    The shortest decimal of 4 digits or more at most ``threshold`` and above every
    score below it, so that the value printed, given to ``cryopick filter
    --threshold``, keeps the picks it was measured on (a docs audit: 0.271088 printed
    as 0.2711 lost that pick).
    """
    if not math.isfinite(threshold):
        return "n/a"
    below = scores[scores < threshold]
    lower = float(below.max()) if below.size else -math.inf
    for digits in range(4, 10):
        text = f"{threshold:.{digits}f}"
        if not float(text) <= threshold:  # rounded up: round down instead
            floored = Decimal(threshold).quantize(Decimal(1).scaleb(-digits), ROUND_FLOOR)
            text = f"{floored:.{digits}f}"
        if float(text) > lower:
            return text
    return repr(float(threshold))


def _per_micrograph(match: MatchResult, threshold: float) -> pd.DataFrame:
    names = sorted(set(match.truth_per_micrograph) | {str(n) for n in match.micrograph})
    keep = match.scores >= threshold if math.isfinite(threshold) else np.ones(match.n_pred, bool)
    rows = []
    for name in names:
        sel = (match.micrograph == name) & keep
        tp = int(match.matched[sel].sum())
        n_pred = int(sel.sum())
        n_truth = match.truth_per_micrograph.get(name, 0)
        rows.append(
            {
                "micrograph": name,
                "n_truth": n_truth,
                "n_pred": n_pred,
                "tp": tp,
                "fp": n_pred - tp,
                "fn": n_truth - tp,
                "precision": tp / n_pred if n_pred else float("nan"),
                "recall": tp / n_truth if n_truth else float("nan"),
            }
        )
    columns = ["micrograph", "n_truth", "n_pred", "tp", "fp", "fn", "precision", "recall"]
    return pd.DataFrame(rows, columns=columns)


#: Predicted and true diameters further apart than this (relative to the larger) make box
#: IoU fail: centred boxes of sides in the ratio 0.8 have IoU 0.64, so with any offset they
#: fail at 0.6 (HydraPicker's). Relative to the truth, 25 % missed picks 22.5 % smaller,
#: whose centred IoU is already below 0.6 (an evaluation review).
SIZE_MISMATCH = 0.2


def extent_ratio(pred: pd.DataFrame, truth: pd.DataFrame, min_picks: int = 20) -> float | None:
    """How far the ground truth's picks spread over the predictions' (the 95th percentile of
    x and y, on the micrographs both name); None with fewer than ``min_picks`` on a side.
    Both sides' picks cover their micrographs alike: a ratio near 2 or 4 says one side's
    coordinates are of binned micrographs, near 1 that they are not."""
    shared = set(pred["micrograph"].astype(str)) & set(truth["micrograph"].astype(str))
    pred = pred[pred["micrograph"].astype(str).isin(shared)]
    truth = truth[truth["micrograph"].astype(str).isin(shared)]
    if len(pred) < min_picks or len(truth) < min_picks:
        return None
    extents = [
        max(np.percentile(table["x"], 95), np.percentile(table["y"], 95)) for table in (pred, truth)
    ]
    if min(extents) <= 0:
        return None
    return float(extents[1] / extents[0])


#: Picks fewer than this on either side say nothing of a scale between them.
SCALE_MIN_PICKS = 20


def scale_mismatch(pred: pd.DataFrame, truth: pd.DataFrame) -> float | None:
    """How many times the ground truth's extent exceeds the predictions' (or the reverse,
    as a factor below 1), when it is 2 or more: one side's coordinates are of binned
    micrographs. None: the two spread alike, or too few picks (:func:`extent_ratio`)."""
    ratio = extent_ratio(pred, truth, SCALE_MIN_PICKS)
    return ratio if ratio is not None and (ratio >= 2 or ratio <= 0.5) else None


def mirror_radius(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    diameter_px: float | None = None,
    tolerance_px: float | None = None,
) -> float | None:
    """The radius :func:`mirrored_truth` is asked within: a quarter of the particles'
    diameter (the truth's median, else ``diameter_px``, else the predictions' median),
    else half ``tolerance_px`` (half a diameter found half of apoferritin's mirrored
    truth by chance among a picker's candidates: no contrast left). None: no size known."""
    sizes = [truth.get("diameter"), pd.Series([diameter_px], dtype=float), pred.get("diameter")]
    for values in sizes:
        known = np.asarray(values if values is not None else [], dtype=float)
        known = known[np.isfinite(known) & (known > 0)]
        if known.size:
            return float(np.median(known)) / 4
    return tolerance_px / 2 if tolerance_px else None


def duplicate_warnings(
    pred: pd.DataFrame, truth: pd.DataFrame, diameter_px: float | None = None
) -> list[str]:
    """What each side's repeated picks do to the figures, one line a side that has some:
    picks within :data:`~napari_cryopick.core.pick_table.DUPLICATE_FRACTION` of a
    diameter of another of their micrograph (two pick files of one micrograph
    concatenated: a trial's doubled truth halved recall and AP, unsaid)."""
    from napari_cryopick.core.pick_table import DUPLICATE_FRACTION, duplicate_picks

    said = []
    for side, table, effect in (
        ("ground truth holds", truth, "each counts as a particle to find"),
        ("predictions hold", pred, "each beyond the first counts as a false positive"),
    ):
        repeated = int(duplicate_picks(table, diameter_px).sum())
        if repeated:
            said.append(
                f"the {side} {repeated} duplicate pick(s), within {DUPLICATE_FRACTION:g} "
                "diameter of another pick of the same micrograph (two pick files of one "
                f"micrograph concatenated?): {effect}"
            )
    return said


@dataclass(frozen=True)
class Mirror:
    """Ground truth that matches the predictions far better mirrored top to bottom
    (:func:`mirrored_truth`): ``height`` is the micrographs' height it implies
    (``y -> height - 1 - y``), ``recall`` and ``mirrored_recall`` the share of the truth
    with a prediction within the radius as given and mirrored."""

    height: int
    recall: float
    mirrored_recall: float
    #: ``((height, micrographs), ...)`` when the micrographs' heights differ (empty else)
    heights: tuple[tuple[int, int], ...] = ()


def mirrored_truth(
    pred: pd.DataFrame, truth: pd.DataFrame, radius_px: float, min_picks: int = 20
) -> Mirror | None:
    """Whether one side's y runs the other way (a file written with the origin at the
    bottom, EMAN's or a flipped export's), without the micrographs' heights: pairs of a
    prediction and a truth pick within ``radius_px`` in x are pooled over the shared
    micrographs; a mirror puts their sums ``y_pred + y_truth`` at ``height - 1``, so the
    most common sum is tried as the mirror (each micrograph's own where it has ten pairs
    or more: heights may differ). None unless the mirrored truth finds a
    prediction within ``radius_px`` for at least half its picks and twice as many as
    given (a picker's many candidates find much of the truth by chance either way:
    give a radius well inside a particle, a quarter of its diameter), or with fewer
    than ``min_picks`` on a side."""
    if not (math.isfinite(radius_px) and radius_px > 0):
        return None
    # particles and vesicles (negatives and fiber vertices say nothing of a mirror), one
    # grouping a side (a review: a mask over the whole table per micrograph grew with
    # the square of the micrographs)
    sides = []
    for table in (pred, truth):
        kinds = table["kind"].astype(str) if "kind" in table else pd.Series("particle", table.index)
        points = table[~kinds.isin(["negative", "fiber"])]
        sides.append(
            {
                str(name): xy[np.isfinite(xy).all(axis=1)]
                for name, group in points.groupby(points["micrograph"].astype(str))
                for xy in [group[["x", "y"]].to_numpy(np.float64)]
            }
        )
    shared = sorted(set(sides[0]) & set(sides[1]))
    groups = [(sides[0][name], sides[1][name]) for name in shared]
    if sum(len(p) for p, _ in groups) < min_picks or sum(len(t) for _, t in groups) < min_picks:
        return None
    own = [_pair_sums(p, t, radius_px) for p, t in groups]
    pooled = np.concatenate(own) if own else np.zeros(0)
    if not len(pooled):
        return None
    overall = _mode_sum(pooled, radius_px)
    # each micrograph's own mirror where it has pairs enough (heights may differ: a
    # re-trial's ribosome 1024 px and apoferritin 1200 px truth evaluated together)
    totals = [_mode_sum(sums, radius_px) if len(sums) >= 10 else overall for sums in own]

    def found(flip: bool) -> tuple[float, list[list[float]]]:
        hits, matched, n = 0, [], 0
        for (p, t), total in zip(groups, totals, strict=True):
            n += len(t)
            matched.append([])
            if len(p) and len(t):
                points = np.column_stack([t[:, 0], total - t[:, 1]]) if flip else t
                distance, index = cKDTree(p).query(points, distance_upper_bound=radius_px)
                hit = np.isfinite(distance)
                hits += int(hit.sum())
                matched[-1] = list(p[index[hit], 1] + t[hit, 1])
        return hits / n, matched

    recall, _ = found(False)
    mirrored, matched = found(True)
    if not (mirrored >= 0.5 and mirrored >= 2 * recall):
        return None
    # the heights from the pairs the mirror matched (the histogram's bin is coarse), one
    # per micrograph with pairs, gathered where they lie within two radii of another
    each = sorted(round(float(np.median(m)) + 1) for m in matched if len(m) >= 3)
    every = [h for m in matched for h in m]
    height = round(float(np.median(every)) + 1)
    clusters: list[list[int]] = []
    for value in each:
        if clusters and value - clusters[-1][-1] <= 2 * radius_px:
            clusters[-1].append(value)
        else:
            clusters.append([value])
    heights = tuple((round(float(np.median(c))), len(c)) for c in clusters)
    return Mirror(height, recall, mirrored, heights if len(heights) > 1 else ())


def _pair_sums(pred_xy: np.ndarray, truth_xy: np.ndarray, radius_px: float) -> np.ndarray:
    """``y_pred + y_truth`` of every pair of a prediction and a truth pick within
    ``radius_px`` in x (one micrograph)."""
    if not len(pred_xy) or not len(truth_xy):
        return np.zeros(0)
    near = cKDTree(pred_xy[:, :1]).query_ball_point(truth_xy[:, :1], radius_px, p=np.inf)
    counts = np.fromiter((len(js) for js in near), dtype=np.int64, count=len(near))
    if not counts.sum():
        return np.zeros(0)
    j = np.concatenate([np.asarray(js, dtype=np.int64) for js in near if len(js)])
    return pred_xy[j, 1] + np.repeat(truth_xy[:, 1], counts)


def _mode_sum(sums: np.ndarray, radius_px: float) -> float:
    """The most common of ``sums`` (bins of ``radius_px``), refined to the median near it."""
    counts, edges = np.histogram(
        sums, bins=np.arange(sums.min(), sums.max() + radius_px, radius_px)
    )
    best = int(np.argmax(counts)) if len(counts) else 0
    centre = (edges[best] + radius_px / 2) if len(counts) else float(sums[0])
    return float(np.median(sums[np.abs(sums - centre) <= radius_px]))


def _warn_if_sizes_differ(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    tolerance_px: float | None = None,
    diameter_px: float | None = None,
) -> None:
    """Warn when the picks' sizes differ so much that IoU matching fails whatever the positions.

    Two boxes of 100 and 56 px have IoU 0.31 even when centred on each other,
    so AP@0.5 is 0 for picks written with a wrong diameter (a user trial:
    0.000, against F1 0.80 by centre distance). Picks without a size take
    ``diameter_px`` here as in the matching (a trial: a truth file of x, y only
    evaluated with ``--diameter 100`` against 56 px picks, AP 0.000 unsaid).
    """
    positives = truth[truth["kind"] != "negative"]
    sizes = [pd.to_numeric(t["diameter"], errors="coerce") for t in (pred, positives)]
    given = [bool(diameter_px) and bool(len(t)) and bool(t.isna().all()) for t in sizes]
    if diameter_px:
        sizes = [t.fillna(float(diameter_px)) for t in sizes]
    pred_d, truth_d = (float(t.median()) for t in sizes)
    if not (math.isfinite(pred_d) and math.isfinite(truth_d)) or pred_d <= 0 or truth_d <= 0:
        return
    if min(pred_d, truth_d) / max(pred_d, truth_d) < 1.0 - SIZE_MISMATCH:
        if tolerance_px is None:
            advice = f"match by centre distance instead (--tolerance PX, e.g. {truth_d / 4:.0f} px)"
        else:  # the user already matches by distance: say which figures to read
            advice = (
                f"read the figures at {tolerance_px:g} px (centre distance), not the AP@IoU ones"
            )
        ratio = max(pred_d, truth_d) / min(pred_d, truth_d)
        spread = extent_ratio(pred, positives)
        if spread is not None and abs(spread - 1.0) < 0.25:
            # the coordinates spread alike: not binned (a CLI trial's 100 px BOX boxes
            # against 54 px diameters were asked "binned 2 times? (--truth-binning 2)")
            larger = "predictions'" if pred_d > truth_d else "ground truth's"
            # (a CLI trial's STAR picks of `cryopick pick --diameter 124`, twice the 62 px,
            # were asked only about BOX files)
            advice = (
                f"the coordinates spread alike, so not binning: are the {larger} sizes box "
                f"sizes (BOX files hold boxes, often larger than the particle), or was the "
                f"diameter given when picking (or training) off? {advice}"
            )
        elif round(ratio) >= 2 and abs(ratio / round(ratio) - 1.0) < 0.1:
            # a whole factor: the picks of micrographs binned that many times, most likely;
            # matching their centres by distance would hide the coordinates' scale (a trial)
            side = "--pred-binning" if pred_d < truth_d else "--truth-binning"
            advice = (
                f"the sizes differ {round(ratio)} times: picks of micrographs binned "
                f"{round(ratio)} times? ({side} {round(ratio)} scales their coordinates "
                f"and sizes); else {advice}"
            )
        if any(given):  # one side's size is the diameter given: the likelier mistake
            side = "predictions have" if given[0] else "ground truth has"
            own = "their" if given[0] else "its"
            other = truth_d if given[0] else pred_d
            advice = (
                f"the {side} no sizes of {own} own and took the diameter given "
                f"({float(diameter_px):g} px): give the particles' diameter (e.g. "
                f"--diameter {other:.0f}), or {advice}"
            )
        warnings.warn(
            f"the predictions' diameters (median {pred_d:.0f} px) differ from the ground "
            f"truth's ({truth_d:.0f} px) by more than {SIZE_MISMATCH:.0%} of the larger: box overlap (IoU) "
            f"fails even for well-placed picks; {advice}",
            UserWarning,
            stacklevel=3,
        )


def _warn_if_unscored(pred: pd.DataFrame) -> None:
    """Warn when no prediction has a score: nothing ranks them (a trial: BOX files).

    Unscored picks all get one score, so the AP is their precision times their
    recall (one point of the curve), the AUROC is chance and the best-F1
    threshold is that one score.
    """
    scores = pd.to_numeric(pred["score"], errors="coerce").to_numpy(float)
    if len(scores) and not np.isfinite(scores).any():
        warnings.warn(
            "the predictions carry no scores (BOX files, start-end STAR files without "
            "rlnAutopickFigureOfMerit and hand picks have none): "
            "nothing ranks them, so AP is their precision times their recall, AUROC means "
            "nothing and the best-F1 threshold is not a threshold; read precision and recall",
            UserWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class FiberScoring:
    """How fibers are scored (:func:`fibers_as_points`): the tables to evaluate, the
    centre distance points are matched within, what it came from, and whether points
    were filled in along sparse paths."""

    pred: pd.DataFrame
    truth: pd.DataFrame
    tolerance_px: float | None
    #: "given" (asked for), "width" (half the fibers' width), "diameter" (half the
    #: diameter given: no width known), or None (no distance: boxes by IoU)
    source: str | None
    filled: bool
    #: either side holds particles or vesicles too (scored at the same distance)
    other_kinds: bool = False
    #: both sides hold fibers (so that ``--kind fiber`` can score them alone)
    both_sides: bool = False

    def note(
        self,
        tolerance_option: str = "--tolerance PX",
        kind_option: str | None = "--kind fiber",
        diameter_name: str = "the diameter",
    ) -> str:
        """One sentence on how fibers were scored, for a report (``kind_option``: how to
        score the fibers alone, None: not said; ``diameter_name``: what gave the diameter)."""
        if self.filled:
            said = (
                f"fibers are scored as points every {self.tolerance_px:g} px along their "
                "paths (the vertices of one side lie further apart: start-end pieces, "
                "filament boxes or a drawn path)"
            )
        elif self.tolerance_px is not None:
            said = "fibers are scored as the points along them, not as paths"
        else:
            return (
                "fibers are scored as points, not as paths, and no fiber width nor diameter "
                "is known to match them by: give the distance to match them within, "
                f"{tolerance_option} (e.g. half the fiber width), which also fills in points "
                "along sparse paths, or the fiber width as the diameter, whose half is then "
                "the distance (docs/evaluation.md)"
            )
        of = {
            "width": "half the fiber width",
            "diameter": f"half {diameter_name}: no fiber width known",
            "given": "as asked",
        }[str(self.source)]
        how = f"matched within {self.tolerance_px:g} px of a true point ({of}"
        if self.source != "given":
            how += f"; {tolerance_option} sets another"
        others = ""
        if self.other_kinds:  # (a review: the fibers' distance scored the particles too)
            others = "; the other kinds' picks are matched within it too" + (
                f" ({kind_option} scores the fibers alone)"
                if kind_option and self.both_sides
                else ""
            )
        return f"{said}, {how}){others}"


def _sparse_fibers(table: pd.DataFrame, spacing: float) -> bool:
    """Whether ``table``'s fiber vertices lie further apart along their tubes than
    ``spacing`` (median step): start-end pieces, a crYOLO filament's boxes, a drawn path."""
    fibers = table[(table["kind"].astype(str) == "fiber") & (table["tube_id"] > 0)]
    steps = [
        np.hypot(*np.diff(group[["x", "y"]].to_numpy(float), axis=0).T)
        for _key, group in fibers.groupby(["micrograph", "tube_id"], sort=False)
        if len(group) > 1
    ]
    return bool(steps) and float(np.median(np.concatenate(steps))) > spacing


def _filled_fibers(table: pd.DataFrame, spacing: float) -> pd.DataFrame:
    """``table`` with its fibers' paths as points every ``spacing`` px along them, each
    with its tube's score; fiber points of no tube (a picking's untraced candidates:
    points already) and the other kinds as given, a tube id on them or not."""
    from napari_cryopick.core.object_kinds import densify_fiber_picks

    fibers = ((table["kind"].astype(str) == "fiber") & (table["tube_id"] > 0)).to_numpy()
    if not fibers.any():
        return table
    scores = table[fibers].groupby(["micrograph", "tube_id"])["score"].max()
    dense = densify_fiber_picks(table[fibers], spacing)
    keys = list(zip(dense["micrograph"], dense["tube_id"], strict=True))
    dense["score"] = [scores.get(key, float("nan")) for key in keys]
    return pd.concat([table[~fibers], dense], ignore_index=True)


def fibers_as_points(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    tolerance_px: float | None = None,
    diameter_px: float | None = None,
) -> FiberScoring | None:
    """How fibers of either side are scored; None when neither side holds fibers.

    Fibers are scored as the points along them (docs/evaluation.md), matched by centre
    distance: by box overlap, points a fiber width wide spaced a few pixels apart match
    their neighbours' truth as readily as their own. Without ``tolerance_px`` the distance
    is half the fiber width (the truth's median, else the predictions'; a RELION helical
    STAR or a drawn path often holds none), else half ``diameter_px``; with none known,
    None (boxes by IoU). When either side's vertices lie further apart than the distance
    (start-end pieces, filament boxes, a simplified path), both sides' fibers become points
    every that many pixels along their paths (a trial scored its exact truth, written as
    start-end STAR, against itself as dense points: recall 0.156, the pieces' ends only).

    The one rule of ``cryopick evaluate`` and the napari Evaluate widget.
    """
    pred_in, truth_in = pred, truth
    pred = normalize_picks(pred)
    truth = normalize_picks(truth)
    sides = [t[t["kind"].astype(str) == "fiber"] for t in (truth, pred)]
    if not any(len(t) for t in sides):
        return None
    source: str | None = None
    if tolerance_px is not None:
        source = "given"
    else:
        for table in sides:
            widths = table["diameter"].to_numpy(float)
            widths = widths[np.isfinite(widths) & (widths > 0)]
            if len(widths):
                # (to 0.1 px: a GUI trial read "AP@11.9982px" of 24 px fibers, the CLI 12)
                half = max(0.1, round(float(np.median(widths)) / 2.0, 1))
                tolerance_px, source = half, "width"
                break
        else:
            if diameter_px is not None and diameter_px > 0:
                tolerance_px, source = float(diameter_px) / 2.0, "diameter"
    filled = False
    if (
        tolerance_px is not None
        and tolerance_px > 0
        # (fiber points of no tube are points already: a review found the Evaluate widget's
        # untraced candidates kept a start-end truth from being filled in)
        and (_sparse_fibers(pred, tolerance_px) or _sparse_fibers(truth, tolerance_px))
    ):
        filled = True
        pred_in, truth_in = _filled_fibers(pred, tolerance_px), _filled_fibers(truth, tolerance_px)
    kinds = set(pred["kind"].astype(str)) | set(truth["kind"].astype(str))
    other_kinds = bool(kinds - {"fiber", "negative"})
    both = all(len(side) for side in sides)
    return FiberScoring(pred_in, truth_in, tolerance_px, source, filled, other_kinds, both)


def evaluate(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    iou_thresholds: tuple[float, ...] = (0.5, 0.6),
    tolerance_px: float | None = None,
    diameter_px: float | None = None,
    pred_only: PredOnly = "ignore",
    truth_micrographs: Collection[str] = (),
    pred_micrographs: Collection[str] = (),
) -> EvaluationReport:
    """Evaluate predicted picks against ground truth.

    Parameters
    ----------
    pred, truth
        Pick tables (project convention).
    iou_thresholds
        IoU thresholds for the ``AP@<iou>`` entries (0.5 as EPicker, 0.6 as
        HydraPicker). Skipped (NaN) when diameters are unknown and a
        tolerance is given.
    tolerance_px
        Also match by centre distance (``AP@<tol>px``); it then becomes the
        primary criterion for thresholds, AUROC and counts.
    diameter_px
        Diameter for picks without one.
    pred_only
        Predictions on micrographs absent from the truth, see
        :func:`match_picks`. The warning is given once.
    truth_micrographs
        Micrographs of the ground truth that hold no picks (an empty truth
        file: the micrograph has no particle): predictions on them are false
        positives, whatever ``pred_only`` says of micrographs absent from it.
    pred_micrographs
        Micrographs predicted on without picks (an empty prediction file: picked,
        nothing found): they count as shared with the ground truth.

    Returns
    -------
    EvaluationReport
    """
    pred = normalize_picks(pred)
    truth = normalize_picks(truth)
    pred_kept = pred[pred["kind"] != "negative"]
    pred_kept, orphans = _check_micrographs(
        pred_kept, truth, pred_only, truth_micrographs, pred_micrographs
    )
    # checked once, here: what is left is scored (a micrograph without truth rows: false
    # positives), and the passes below must not refuse or drop it again
    truth_micrographs = set(truth_micrographs) | set(pred_kept["micrograph"].astype(str))
    if iou_thresholds:
        _warn_if_sizes_differ(pred_kept, truth, tolerance_px, diameter_px)
    _warn_if_unscored(pred_kept)
    # the orphans were dealt with above: what is left on a micrograph without truth rows is
    # on one the truth lists empty, and counts as false positives
    effective_pred_only: PredOnly = "false_positive"

    matches: dict[str, MatchResult] = {}
    ap: dict[str, float] = {}
    have_diameters = True
    for threshold in iou_thresholds:
        name = f"AP@{threshold:g}"
        try:
            match = match_picks(
                pred_kept,
                truth,
                iou=threshold,
                diameter_px=diameter_px,
                pred_only=effective_pred_only,
                truth_micrographs=truth_micrographs,
            )
        except ValueError:
            if tolerance_px is None:
                raise
            have_diameters = False
            ap[name] = float("nan")
            continue
        matches[name] = match
        ap[name] = average_precision(match)
    if tolerance_px is not None:
        name = f"AP@{tolerance_px:g}px"
        matches[name] = match_picks(
            pred_kept,
            truth,
            tolerance_px=tolerance_px,
            pred_only=effective_pred_only,
            truth_micrographs=truth_micrographs,
        )
        ap[name] = average_precision(matches[name])
        primary = name
    elif matches:
        primary = next(iter(matches))
    else:
        primary = "AP@0.5"
        matches[primary] = match_picks(
            pred_kept,
            truth,
            iou=0.5,
            diameter_px=diameter_px,
            pred_only=effective_pred_only,
            truth_micrographs=truth_micrographs,
        )
    main = matches[primary]

    if have_diameters:
        try:
            ar = average_recall(
                pred_kept,
                truth,
                diameter_px=diameter_px,
                pred_only=effective_pred_only,
                truth_micrographs=truth_micrographs,
            )
        except ValueError:
            ar = float("nan")
    else:
        ar = float("nan")
    curves = {name: precision_recall_curve(m) for name, m in matches.items()}
    best_f1 = _best_from_curve(curves[primary], 1.0)
    best_f2 = _best_from_curve(curves[primary], 2.0)
    threshold = best_f1[0]
    keep = main.scores >= threshold if math.isfinite(threshold) else np.ones(main.n_pred, bool)
    n_junk = int((main.on_negative & keep).sum())
    return EvaluationReport(
        ap=ap,
        ar=ar,
        auroc=auroc(main),
        criterion=main.criterion,
        best_f1=best_f1,
        best_f2=best_f2,
        n_pred=main.n_pred,
        n_truth=main.n_truth,
        n_on_negatives=n_junk,
        per_micrograph=_per_micrograph(main, threshold),
        pr_curves=curves,
        ignored_micrographs=tuple(sorted(orphans)),
    )
