"""The scale a general model picks an unseen protein at, chosen by its own confidence.

A general model rescales every micrograph so that a particle of the given
diameter spans the network's target size (28 px). What "the diameter" means
differs between data sets and users: the box size, the longest extent, the
size of the densest core. The general model learned one notion of it from
its training sets, and on a protein it never saw, zero-shot picking is very
sensitive to the mismatch. Leave-one-out general models, AP@0.5 at
0.8 / 1.0 / 1.25 times the data set's diameter (``docs/general-model.md``,
session 12): beta-galactosidase 0.751 / 0.677 / 0.393, simulated ring
0.395 / 0.651 / 0.729, simulated L 0.530 / 0.430 / 0.280, ribosome
0.818 / 0.827 / 0.740.

:func:`choose_scale` picks a few micrographs at each factor of
:data:`SCALE_FACTORS` (within the 25 % a given diameter may be off) and keeps
the factor at which the model is most confident: the mean score of its
``K`` best candidates, ``K`` the number of particles that would cover
:data:`CONFIDENCE_COVERAGE` of the micrograph (:func:`pick_confidence`).
A model that sees the particles at the right size scores them high.

When the best factor is an edge of the range, one factor beyond it is tried
as well (:data:`EDGE_PROBE_RATIO`: 0.64 or 1.5625) but never chosen: a model
more confident still out there says the given diameter may be off
(:func:`beyond_range`). A model that is not confident at any factor barely
sees these particles (:func:`barely_sees`). Both only warn (session 13,
``docs/picking.md``).

The general model learned particles darker than the background (cryo-EM
bright field at underfocus). Micrographs where they are lighter (negative
stain, an inverted export) give it nothing to see: zero-shot AP@0.5 0.00-0.03
on inverted ribosome, beta-galactosidase, ring and L micrographs. So
:func:`choose_polarity` compares the confidence on the micrographs as given
and inverted, and inverts only when that is clearly better
(:data:`POLARITY_MARGIN`). Only zero-shot picking searches (``napari_cryopick.workflows.pick``): a model
trained on the user's clicks learned the user's notion of the diameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE_COVERAGE",
    "EDGE_PROBE_RATIO",
    "LOW_CONFIDENCE",
    "POLARITY_MARGIN",
    "SCALE_FACTORS",
    "barely_sees",
    "beyond_range",
    "choose_polarity",
    "choose_scale",
    "invert",
    "mean_confidence",
    "pick_confidence",
]

#: Factors of the given diameter tried, 1 (the diameter as given) among them.
SCALE_FACTORS: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.25)
#: Share of a micrograph's area that the ``K`` particles of the confidence cover.
CONFIDENCE_COVERAGE = 0.1
#: The factor tried beyond an edge of the range: the edge times this (0.8 * 0.8),
#: or divided by it (1.25 / 0.8). Only to warn; it is never chosen.
EDGE_PROBE_RATIO = 0.8
#: Below this best confidence the general model barely sees the particles.
#: Measured (leave-one-out models, their own data set's diameter): ribosome 0.53,
#: beta-galactosidase 0.42, simulated ring 0.38 and L 0.21, where zero-shot AP@0.5
#: is 0.48-0.82, against apoferritin 0.10 (AP 0.004); the bundled model on
#: apoferritin 0.17-0.18 (its generic head picks none either: AP 0.001).
LOW_CONFIDENCE = 0.19
#: The micrographs are inverted when the confidence on the inverted ones is this
#: many times the confidence on them as given. Measured at the right polarity
#: against the wrong one (factor 1, leave-one-out or bundled models): ribosome
#: 7.7, beta-galactosidase 2.0, ring 2.1, L 1.29; apoferritin, which the model
#: does not see either way, 1.07 the wrong way (so it is left as given).
POLARITY_MARGIN = 1.2
#: ... and when the model sees the particles inverted at least this well (at the given
#: diameter, before the scale search: half :data:`LOW_CONFIDENCE`, so that an inverted
#: data set near the simulated L's 0.21 whose diameter is somewhat off still inverts). A
#: CLI trial's diameter 7 times too large gave 0.085 inverted against 0.064 as given, and
#: its dark particles were picked on inverted micrographs.
POLARITY_FLOOR = 0.1


def pick_confidence(
    scores: Sequence[float] | np.ndarray,
    shape: tuple[int, ...],
    diameter_px: float,
    coverage: float = CONFIDENCE_COVERAGE,
) -> float:
    """Mean of the ``K`` highest candidate scores of one micrograph (missing ones count 0).

    ``K = max(1, floor(coverage * rows * cols / (pi * (diameter_px / 2) ** 2)))``:
    as many particles as would cover ``coverage`` of the micrograph at the
    given diameter (the same ``K`` whatever scale the model picked at).
    """
    if not diameter_px > 0 or not 0 < coverage <= 1:
        raise ValueError(
            f"need diameter_px > 0 and 0 < coverage <= 1, got {diameter_px}, {coverage}"
        )
    rows, cols = int(shape[0]), int(shape[1])
    k = max(1, int(coverage * rows * cols / (math.pi * (diameter_px / 2.0) ** 2)))
    values = np.sort(np.asarray(scores, dtype=np.float64))[::-1][:k]
    return float(values.sum() / k)


class SearchStopped(Exception):
    """The search was stopped (``should_stop``) before it ended."""


def choose_scale(
    model: Any,
    images: Sequence[np.ndarray],
    diameters_px: Sequence[float],
    config: Any = None,
    *,
    factors: Sequence[float] = SCALE_FACTORS,
    probe_beyond: bool = True,
    known: dict[float, float] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[float, dict[float, float]]:
    """The factor of the diameter at which ``model`` picks ``images`` most confidently.

    Parameters
    ----------
    model
        A detector (its default head, or ``config.head``, picks).
    images
        A few micrographs of the data set (``(rows, cols)`` arrays).
    diameters_px
        The given particle diameter of each image, in its pixels.
    config
        :class:`~napari_cryopick.core.detect.PickConfig` to pick with (its
        threshold does not matter: every candidate above the score floor counts).
    factors
        Factors tried (those at which the detector cannot rescale an image are left out).
    probe_beyond
        When the best factor is the smallest or largest tried, also try one
        factor beyond it (:data:`EDGE_PROBE_RATIO`), never chosen
        (:func:`beyond_range` reads it).
    known
        Confidences already measured on these images (``{factor: confidence}``,
        e.g. factor 1 by :func:`choose_polarity`), not measured again.
    should_stop
        Asked before each image is picked; True raises :class:`SearchStopped` (a
        RELION job's Abort, which a search over large micrographs kept waiting).

    Returns
    -------
    factor, confidences
        The chosen factor, and the mean :func:`pick_confidence` over the
        images of every factor tried (the probe beyond the edge included).
        Ties go to the factor nearest 1.
    """
    if len(images) == 0 or len(images) != len(diameters_px):
        raise ValueError("need one diameter per image, and at least one image")
    factors = tuple(float(f) for f in factors)
    if not factors or any(not f > 0 for f in factors):
        raise ValueError(f"factors must be > 0, got {factors}")
    model_config = getattr(model, "config", None)

    def usable(factor: float) -> bool:
        """The detector can rescale every image at ``factor`` (a small diameter cannot be
        enlarged without limit)."""
        if model_config is None:
            return True
        from napari_cryopick.core.model.inputs import preparation_scale

        try:
            for diameter in diameters_px:
                preparation_scale(diameter * factor, model_config)
        except ValueError:
            return False
        return True

    factors = tuple(f for f in factors if usable(f))
    if not factors:
        raise ValueError("the detector cannot rescale these images at any factor tried")

    def confidence(factor: float) -> float:
        if known and factor in known:
            return float(known[factor])
        return mean_confidence(model, images, diameters_px, factor, config, should_stop)

    confidences = {factor: confidence(factor) for factor in factors}
    best = max(factors, key=lambda f: (round(confidences[f], 12), -abs(math.log(f))))
    if probe_beyond and len(factors) > 1 and best in (min(factors), max(factors)):
        beyond = best * EDGE_PROBE_RATIO if best == min(factors) else best / EDGE_PROBE_RATIO
        beyond = round(beyond, 4)
        if usable(beyond):
            confidences[beyond] = confidence(beyond)
    return best, confidences


def mean_confidence(
    model: Any,
    images: Sequence[np.ndarray],
    diameters_px: Sequence[float],
    factor: float = 1.0,
    config: Any = None,
    should_stop: Callable[[], bool] | None = None,
) -> float:
    """:func:`pick_confidence` of ``model`` on ``images`` at ``factor`` times their
    diameters, averaged; ``should_stop`` as :func:`choose_scale`'s."""
    from napari_cryopick.core.detect import PickConfig, pick_micrograph

    config = PickConfig() if config is None else config
    config = replace(config, kinds=("particle",)) if hasattr(config, "kinds") else config
    values = []
    for image, diameter in zip(images, diameters_px, strict=True):
        if should_stop is not None and should_stop():
            raise SearchStopped("the scale and contrast search was stopped")
        result = pick_micrograph(
            model, image, diameter_px=diameter * factor, config=config, border_diameter_px=diameter
        )
        values.append(pick_confidence(result.picks["score"], image.shape, diameter))
    return float(np.mean(values))


def choose_polarity(
    model: Any,
    images: Sequence[np.ndarray],
    diameters_px: Sequence[float],
    config: Any = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[bool, dict[bool, float]]:
    """Whether ``model`` sees the particles of ``images`` better inverted (lighter particles).
    ``should_stop`` as :func:`choose_scale`'s.

    Returns
    -------
    invert, confidences
        True when the confidence at the given diameter on the inverted images
        is :data:`POLARITY_MARGIN` times that on the images as given and the
        model sees the particles inverted (at least :data:`POLARITY_FLOOR`), and
        ``{False: as given, True: inverted}``.
    """
    if len(images) == 0 or len(images) != len(diameters_px):
        raise ValueError("need one diameter per image, and at least one image")
    as_given = mean_confidence(model, images, diameters_px, 1.0, config, should_stop)
    inverted = mean_confidence(
        model, [invert(image) for image in images], diameters_px, 1.0, config, should_stop
    )
    flip = inverted > POLARITY_MARGIN * as_given and inverted >= POLARITY_FLOOR
    return flip, {False: as_given, True: inverted}


def invert(image: np.ndarray) -> np.ndarray:
    """``image`` with its contrast inverted (float32: unsigned pixels cannot be negated)."""
    return np.negative(np.asarray(image, dtype=np.float32))


def beyond_range(factor: float, confidences: dict[float, float]) -> float | None:
    """The factor tried beyond the range's edge, if the model was more confident there.

    ``factor`` is the chosen one (:func:`choose_scale`). Such a factor says the
    given diameter may be off. Replayed on three real and two simulated data
    sets (``benchmarks/results/zero_shot_scale_edge.md``): no set's own
    diameter ends this way; a diameter 1.7 times too large does on three of
    five, one 0.6 times too small on two.
    """
    if not confidences or factor not in confidences:
        return None
    best = max(confidences, key=lambda f: confidences[f])
    return best if best != factor and confidences[best] > confidences[factor] else None


def barely_sees(confidences: dict[float, float]) -> bool:
    """True when the model is not confident at any factor tried (:data:`LOW_CONFIDENCE`)."""
    return bool(confidences) and max(confidences.values()) < LOW_CONFIDENCE
