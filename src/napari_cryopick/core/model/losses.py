"""Detection losses: penalty-reduced focal loss, sparse-label handling, L1 regressions.

Sparse annotation (EPicker): users click some particles, not all, so an
unlabelled cell may be a real particle. With ``sparse=True``

* cells where the (detached) prediction is a local maximum above
  ``pseudo_label_threshold`` (0.7), about half a diameter or further from every
  label (heatmap target below :data:`PSEUDO_LABEL_CLEARANCE`), are pseudo-labels:
  treated as positives;
* the negative penalty is multiplied by ``reduced_penalty`` (0.1) where the
  prediction is above ``reduce_penalty_above`` (0.5);
* cells inside a user negative (``negative_mask``) are never pseudo-labelled
  and always penalised in full.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Heatmap target below which a cell may become a pseudo-label: the Gaussian of a label
#: with the default width (a sixth of the diameter) falls to exp(-4.5) = 0.011 at half a
#: diameter, so a pseudo-label lies about half a diameter or further from every label.
PSEUDO_LABEL_CLEARANCE = 0.01


def focal_loss(
    logits: Tensor,
    target: Tensor,
    *,
    positive: Tensor | None = None,
    negative_weight: Tensor | None = None,
    alpha: float = 2.0,
    beta: float = 4.0,
) -> Tensor:
    """CenterNet penalty-reduced focal loss, normalised by the number of positives.

    ``loss = -1/N [ sum_pos (1-p)^alpha log(p)
    + sum_other w (1-y)^beta p^alpha log(1-p) ]``

    Parameters
    ----------
    logits
        Heatmap logits ``[B, K, h, w]``.
    target
        Gaussian heatmap targets ``[B, K, h, w]``, 1 at labelled centres.
    positive
        Boolean positives ``[B, K, h, w]``; ``target == 1`` if None
        (pseudo-labels are added here).
    negative_weight
        Per-cell weight of the negative term (broadcastable); 1 if None.
    alpha, beta
        Focal exponent and penalty-reduction exponent.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    if positive is None:
        positive = target >= 1.0
    positive = positive.to(logits.dtype)
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    positive_loss = -((1.0 - p) ** alpha) * log_p * positive
    negative_loss = -((1.0 - target) ** beta) * p**alpha * log_not_p * (1.0 - positive)
    if negative_weight is not None:
        negative_loss = negative_loss * negative_weight
    num_positive = positive.sum().clamp(min=1.0)
    return (positive_loss.sum() + negative_loss.sum()) / num_positive


def _reduce_where_unknown(
    negative_weight: Tensor, unknown_mask: Tensor, negative_mask: Tensor, reduced_penalty: float
) -> Tensor:
    """``negative_weight`` set to ``reduced_penalty`` inside ``unknown_mask``, except on user negatives."""
    user_negative = negative_mask.expand_as(negative_weight) > 0
    unknown = unknown_mask.expand_as(negative_weight) > 0
    negative_weight[unknown & ~user_negative] = reduced_penalty
    return negative_weight


def sparse_label_weights(
    logits: Tensor,
    target: Tensor,
    negative_mask: Tensor,
    *,
    pseudo_label_threshold: float = 0.7,
    reduce_penalty_above: float = 0.5,
    reduced_penalty: float = 0.1,
    unknown_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Positives (labels + pseudo-labels) and negative weights for sparse labels.

    Parameters
    ----------
    logits
        Heatmap logits ``[B, K, h, w]`` (detached inside).
    target
        Heatmap targets ``[B, K, h, w]``.
    negative_mask
        ``[B, 1, h, w]``: 1 where the user marked a negative.
    pseudo_label_threshold
        Local maxima of the prediction above this become positives.
    reduce_penalty_above
        Where the prediction is above this the negative penalty is reduced.
    reduced_penalty
        Factor applied to the negative penalty there.
    unknown_mask
        ``[B, 1, h, w]``: 1 where an unlabelled particle may be; the negative
        penalty is reduced there too (None: nowhere).

    Returns
    -------
    positive, negative_weight
        Boolean ``[B, K, h, w]`` and float ``[B, K, h, w]``.
    """
    with torch.no_grad():
        p = torch.sigmoid(logits.detach())
        user_negative = negative_mask.expand_as(p) > 0
        local_max = p == F.max_pool2d(p, 3, stride=1, padding=1)
        # an unlabelled particle's peak, not a labelled one's neighbouring cell: a model
        # peaking a cell off a click (clicks are rarely centred) made two adjacent
        # positives of one particle (a review, 2026-12-07)
        apart = target < PSEUDO_LABEL_CLEARANCE
        pseudo = (p > pseudo_label_threshold) & local_max & apart & ~user_negative
        positive = (target >= 1.0) | pseudo
        negative_weight = torch.ones_like(p)
        negative_weight[(p > reduce_penalty_above) & ~user_negative] = reduced_penalty
        if unknown_mask is not None:
            _reduce_where_unknown(negative_weight, unknown_mask, negative_mask, reduced_penalty)
    return positive, negative_weight


def masked_l1(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute error over the cells where ``mask`` is 1 (per channel)."""
    mask = mask.expand_as(prediction)
    return (torch.abs(prediction - target) * mask).sum() / mask.sum().clamp(min=1.0)


def detection_losses(
    outputs: dict[str, Tensor],
    targets: dict[str, Tensor],
    *,
    sparse: bool = True,
    pseudo_label_threshold: float = 0.7,
    reduce_penalty_above: float = 0.5,
    reduced_penalty: float = 0.1,
    offset_weight: float = 1.0,
    size_weight: float = 1.0,
) -> dict[str, Tensor]:
    """All detection losses of one batch.

    Parameters
    ----------
    outputs
        :class:`~.network.Detector` outputs (``heatmap``, ``offset``, optional ``size``).
    targets
        Tensors from :func:`~.targets.build_targets`, batched: ``heatmap``,
        ``offset``, ``size``, ``reg_mask``, ``negative_mask`` and optionally
        ``unknown_mask``.
    sparse
        Apply the sparse-label handling (pseudo-labels, reduced penalty).
    pseudo_label_threshold, reduce_penalty_above, reduced_penalty
        See :func:`sparse_label_weights`.
    offset_weight, size_weight
        Weights of the regression terms in ``total``.

    Returns
    -------
    dict of Tensor
        ``heatmap``, ``offset``, ``size`` (0 without a size head) and ``total``.
    """
    logits = outputs["heatmap"]  # [B, K, h, w]
    heatmap_target = targets["heatmap"]  # [B, K, h, w]
    negative_mask = targets["negative_mask"]  # [B, 1, h, w]
    unknown_mask = targets.get("unknown_mask")  # [B, 1, h, w] or None
    if unknown_mask is not None and not bool(unknown_mask.any()):
        unknown_mask = None
    if sparse:
        positive, negative_weight = sparse_label_weights(
            logits,
            heatmap_target,
            negative_mask,
            pseudo_label_threshold=pseudo_label_threshold,
            reduce_penalty_above=reduce_penalty_above,
            reduced_penalty=reduced_penalty,
            unknown_mask=unknown_mask,
        )
    elif unknown_mask is not None:
        positive = heatmap_target >= 1.0
        negative_weight = _reduce_where_unknown(
            torch.ones_like(logits.detach()), unknown_mask, negative_mask, reduced_penalty
        )
    else:
        positive, negative_weight = heatmap_target >= 1.0, None
    heatmap_loss = focal_loss(
        logits, heatmap_target, positive=positive, negative_weight=negative_weight
    )
    reg_mask = targets["reg_mask"]  # [B, 1, h, w]
    # the offset where it was set (the centre cell, and its neighbours with offset_radius)
    offset_loss = masked_l1(
        outputs["offset"], targets["offset"], targets.get("offset_mask", reg_mask)
    )
    if "size" in outputs:
        size_loss = masked_l1(outputs["size"], targets["size"], reg_mask)
    else:
        size_loss = logits.new_zeros(())
    total = heatmap_loss + offset_weight * offset_loss + size_weight * size_loss
    return {"heatmap": heatmap_loss, "offset": offset_loss, "size": size_loss, "total": total}
