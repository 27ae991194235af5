"""Do the clicks sit on particles? A check before training on them.

Clicks saved against the wrong micrograph, or read with the wrong convention
(y counted from the other edge, coordinates of binned micrographs), train a
detector on background: a trial's clicks of one micrograph trained on another
gave AP@0.5 0.07 instead of 0.57, and nothing said so. Such clicks share
nothing: the image at them looks like the image beside them.

:func:`click_scores` asks the prepared micrographs (particles at the network's
diameter, normalised). For each micrograph, the windows (1.5 diameters wide)
around the clicks of the *other* micrographs are averaged and rotationally
averaged into a template (a rough 2D class average of the particle with its
fringe). Each click of this micrograph is scored by its window's correlation
with the template less the mean correlation of four places half a diameter
beside it; the z-score of those differences (their mean over its standard
error) is high on particles and near 0 for misplaced clicks. Places beside
the click, not random places anywhere, are the reference: another micrograph's
clicks still lie in the ice among the particles, which scores above random
places on carbon. Templates are made again without the micrographs found off.
With too few clicks per micrograph, all clicks are scored in two random
halves, each against the other's template.

:func:`clicks_off_particles` names a micrograph whose z is below :data:`Z_OFF`
(and 3 below what the others' z per click predicts for its clicks, at least
:data:`Z_EXPECTED`), and all clicks when their z together is below
:data:`Z_ALL_OFF`. :func:`check_clicks` scores weak clicks mirrored top to
bottom too, and says when they look mirrored. Measured by
``benchmarks/exp_click_check.py`` (see ``docs/user-guide.md``): a quarter of
the labels of three micrographs, right clicks never named, one micrograph given
another's clicks named in 30 of 30 draws on the real sets, all clicks with y
flipped said mirrored in 30 of 30; one micrograph's clicks with y flipped among right
ones (session 58) named mirrored in 28 of 30 at a quarter of the labels, the other 2 named
as sitting on nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from napari_cryopick.core.text import name_list

__all__ = ["ClickScore", "check_clicks", "click_scores", "clicks_off_particles"]

#: Half the window around a click, in particle diameters (the particle and its fringe).
HALF_WINDOW = 0.75

#: A micrograph whose clicks score below this z sit on nothing the others sit on.
Z_OFF = 2.0

#: ... when its clicks, at the others' z per click, would score at least this.
Z_EXPECTED = 4.0

#: All clicks together sit on nothing when their z is below this.
Z_ALL_OFF = 1.0

#: Fewest clicks a micrograph needs to be judged, and a template to be made of.
MIN_CLICKS = 10

#: Most micrographs :func:`check_clicks` scores mirrored one at a time.
MAX_MIRROR_TRIALS = 3

#: Most clicks scored per micrograph.
MAX_CLICKS = 100

#: Each click is compared with the places this many diameters beside it, this many.
SHIFT = 0.5
BESIDE = 4


@dataclass(frozen=True)
class ClickScore:
    """How far a micrograph's clicks sit above chance.

    Attributes
    ----------
    name
        The micrograph (the pooled check: ``""``).
    clicks
        Clicks scored.
    z
        How far their correlation with the template lies above that of the places
        beside them, in standard errors.
    """

    name: str
    clicks: int
    z: float


def _inside(image: np.ndarray, xy: np.ndarray, half: int) -> np.ndarray:
    """Which of ``xy`` have their whole window inside ``image``."""
    rows = np.rint(xy[..., 1])
    cols = np.rint(xy[..., 0])
    return (
        (rows >= half)
        & (rows < image.shape[0] - half)
        & (cols >= half)
        & (cols < image.shape[1] - half)
    )


def _windows(image: np.ndarray, xy: np.ndarray, half: int) -> np.ndarray:
    """The ``(2 half + 1)^2`` windows around ``xy`` (each wholly inside ``image``)."""
    size = 2 * half + 1
    out = np.empty((len(xy), size, size), np.float32)
    for i, (x, y) in enumerate(np.rint(xy).astype(int)):
        out[i] = image[y - half : y + half + 1, x - half : x + half + 1]
    return out


def _rotational_average(window: np.ndarray) -> np.ndarray:
    """``window`` averaged over rotations about its centre (particles lie in any orientation)."""
    half = window.shape[0] // 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    rings = np.minimum(np.rint(np.hypot(yy, xx)).astype(int), half + 1)
    profile = np.asarray(ndimage.mean(window, rings, np.arange(half + 2)))
    profile[half + 1] = profile[: half + 1].mean()  # corners: the mean of the rings
    return profile[rings]


def _correlations(windows: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of each window with ``template``."""
    a = windows.reshape(len(windows), template.size).astype(np.float32)
    a -= a.mean(axis=1, keepdims=True)
    b = (template.ravel() - template.mean()).astype(np.float32)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum())
    return (a @ b) / np.where(norm > 0, norm, 1.0)


def _differences(
    image: np.ndarray, xy: np.ndarray, template: np.ndarray, half: int, rng
) -> np.ndarray:
    """Each click's correlation with ``template`` less that of the places beside it.

    The places: :data:`BESIDE` of them :data:`SHIFT` diameters away (at a random angle
    and its quarter turns). A click on a particle correlates better than the places
    beside it; a misplaced click no better, wherever in the micrograph it lies (the
    clicks of another micrograph still lie in the ice among particles, which random
    places anywhere would not). Clicks whose places leave the image are left out.
    """
    angle = rng.uniform(0, 2 * np.pi, len(xy))[:, None] + np.arange(BESIDE) * 2 * np.pi / BESIDE
    shift = SHIFT * half / HALF_WINDOW
    beside = xy[:, None, :] + shift * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    inside = _inside(image, xy, half) & _inside(image, beside, half).all(axis=1)
    around = _correlations(_windows(image, beside[inside].reshape(-1, 2), half), template)
    return _correlations(_windows(image, xy[inside], half), template) - around.reshape(
        -1, BESIDE
    ).mean(axis=1)


def _z(differences: np.ndarray) -> float:
    """How many standard errors the mean of ``differences`` lies above 0."""
    if len(differences) < 2:
        return 0.0
    spread = float(differences.std(ddof=1)) / np.sqrt(len(differences))
    return float(differences.mean() / spread) if spread > 0 else 0.0


def click_scores(
    images: Sequence[np.ndarray],
    clicks: Sequence[np.ndarray],
    names: Sequence[str],
    diameter_px: float,
    *,
    seed: int = 0,
) -> list[ClickScore]:
    """Each micrograph's clicks scored against a template of the other micrographs' clicks.

    Parameters
    ----------
    images
        Micrographs with particles of ``diameter_px`` (prepared: normalised).
    clicks
        ``(n, 2)`` x, y of the particle clicks on each, in its pixels.
    names
        The micrographs' names.
    diameter_px
        The particle diameter in those pixels.
    seed
        Seed of the random places (and of the subset of clicks, above :data:`MAX_CLICKS`).

    Returns
    -------
    list of ClickScore
        One per micrograph with at least :data:`MIN_CLICKS` clicks inside it when the others
        hold as many; otherwise one pooled score (``name == ""``) of two random halves of
        all clicks, when there are twice as many; empty when too few clicks to say.
    """
    rng = np.random.default_rng(seed)
    half = max(2, round(float(HALF_WINDOW * diameter_px)))
    images = [np.asarray(image) for image in images]
    positions = []
    for image, xy in zip(images, clicks, strict=True):
        xy = np.asarray(xy, float).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        xy = xy[_inside(image, xy, half)]
        if len(xy) > MAX_CLICKS:
            xy = xy[np.sort(rng.choice(len(xy), MAX_CLICKS, replace=False))]
        positions.append(xy)
    counts = np.array([len(xy) for xy in positions])
    # each micrograph's sum of windows: a template of the others' is the total less its
    # own (memory of one window per micrograph, whatever the number of clicks)
    sums = np.zeros((len(images), 2 * half + 1, 2 * half + 1))
    for i, (image, xy) in enumerate(zip(images, positions, strict=True)):
        sums[i] = _windows(image, xy, half).sum(axis=0)
    scored = _scored(images, positions, names, counts, sums, np.ones(len(images), bool), half, rng)
    off = [i for i, score in scored.items() if score.z < Z_OFF]
    if 0 < len(off) < len(scored):
        # again, the templates without the micrographs found on nothing (a misplaced third
        # of the clicks blurs the others' template); kept when it judges as many
        trusted = np.ones(len(images), bool)
        trusted[off] = False
        again = _scored(images, positions, names, counts, sums, trusted, half, rng)
        scored = again if len(again) == len(scored) else scored
    if scored or counts.sum() < 2 * MIN_CLICKS:
        return list(scored.values())
    # no micrograph judged (one micrograph holds the clicks, or each a few): two random
    # halves of all clicks, each against the other's template; their z's are independent
    # and add as sqrt(2) times their mean
    halves = [rng.random(n) < 0.5 for n in counts]
    z, number = [], 0
    for side in (True, False):
        others = np.concatenate(
            [
                _windows(image, xy[h != side], half)
                for image, xy, h in zip(images, positions, halves, strict=True)
            ]
        )
        template = _rotational_average(others.mean(axis=0))
        differences = np.concatenate(
            [
                _differences(image, xy[h == side], template, half, rng)
                for image, xy, h in zip(images, positions, halves, strict=True)
            ]
        )
        z.append(_z(differences))
        number += len(differences)
    if number < 2 * MIN_CLICKS:  # the places beside them leave the image: nothing to say
        return []
    return [ClickScore("", number, float(np.mean(z) * np.sqrt(2)))]


def _scored(images, positions, names, counts, sums, trusted, half, rng) -> dict[int, ClickScore]:
    """One pass of :func:`click_scores`: each micrograph (by index) against the trusted others."""
    scores = {}
    total, number = sums[trusted].sum(axis=0), counts[trusted].sum()
    for i, image in enumerate(images):
        own = trusted[i]
        others = number - counts[i] * own
        if counts[i] < MIN_CLICKS or others < MIN_CLICKS:
            continue
        template = _rotational_average((total - sums[i] * own) / others)
        differences = _differences(image, positions[i], template, half, rng)
        # (the clicks whose places beside them lie inside: the expectation a micrograph
        # is judged by scales with their number, so a few say little, not "on nothing")
        if len(differences) >= 2:
            scores[i] = ClickScore(names[i], len(differences), _z(differences))
    return scores


def _together(scores: Sequence[ClickScore]) -> float:
    """The scores' z together: Stouffer's, each weighted by the square root of its clicks."""
    if not scores:
        return 0.0
    weights = np.sqrt([s.clicks for s in scores])
    return float(np.dot(weights, [s.z for s in scores]) / np.linalg.norm(weights))


def _judged(scores: Sequence[ClickScore]) -> list[ClickScore]:
    return [s for s in scores if s.clicks >= 2]


HINT = (
    "are they this micrograph's (not made while another was on screen), with y counted "
    "from the same edge, in the micrograph's own pixels (not a binned copy's), and is the "
    "particle diameter right?"
)


def clicks_off_particles(scores: Sequence[ClickScore]) -> list[str]:
    """Warnings for the micrographs (or all clicks) whose clicks sit on nothing in common.

    A micrograph is named when the median of the other micrographs' z per click, times
    the square root of its own number of clicks, expects at least :data:`Z_EXPECTED`
    and its z is below :data:`Z_OFF` and 3 below that expectation (so a faint data set's
    few clicks are not named for being faint). When the clicks' z together (Stouffer's,
    each micrograph weighted by the square root of its clicks) is below
    :data:`Z_ALL_OFF`, all clicks are named.
    """
    scores = _judged(scores)
    if not scores:
        return []
    # all of them together: a faint set's few clicks per micrograph add up; below
    # Z_ALL_OFF only (a faint simulated L's right clicks, ten a micrograph, scored 2)
    together = _together(scores)
    if together < Z_ALL_OFF:
        named = name_list([s.name for s in scores if s.name], 5)
        where = f" on {named}" if named else ""
        return [
            f"the clicks{where} sit on nothing in common: the image at them looks like the "
            f"image half a diameter beside them (z {together:.1f} over "
            f"{sum(s.clicks for s in scores)} of them away from the edges, where clicks on "
            f"particles score {Z_EXPECTED:g} and more); {HINT}"
        ]
    notes = []
    for score in scores:
        others = [s.z / np.sqrt(s.clicks) for s in scores if s is not score]
        expected = float(np.median(others)) * np.sqrt(score.clicks) if others else 0.0
        if expected >= Z_EXPECTED and score.z < min(Z_OFF, expected - 3):
            notes.append(
                f"the clicks on {score.name} sit on nothing the other micrographs' clicks "
                f"sit on (z {score.z:.1f} over {score.clicks} of them away from its edges, "
                f"where the others' clicks predict z {expected:.0f}); {HINT}"
            )
    return notes


#: How :func:`check_clicks`'s note on mirrored clicks begins (a training that said it
#: does not say it again from the starting model's detections, ``ContinualConfig.warn_mirrored``).
MIRRORED_NOTE = "the clicks look mirrored top to bottom"
#: Words of every note on mirrored clicks, the whole set's and one micrograph's
#: (``cryopick train`` stops on them: :attr:`~napari_cryopick.workflows.train.TrainRequest.refuse_mirrored`).
MIRRORED_WORDS = "look mirrored top to bottom"
#: Words of the note on clicks that sit on particles only scaled up (coordinates of
#: binned micrographs): ``cryopick train`` stops on them too.
BINNED_WORDS = "look like coordinates of micrographs binned"


def check_clicks(
    images: Sequence[np.ndarray],
    clicks: Sequence[np.ndarray],
    names: Sequence[str],
    diameter_px: float,
    *,
    seed: int = 0,
) -> list[str]:
    """Warnings for clicks that sit on nothing in common, or that look mirrored top to bottom.

    :func:`click_scores` and :func:`clicks_off_particles`; where the clicks together
    score below :data:`Z_EXPECTED`, they are scored mirrored too (y counted from the
    other edge of each micrograph): when those score :data:`Z_EXPECTED` or more and at
    least 3 above, the clicks are said to look mirrored, which names the cause (a trial's
    y-flipped apoferritin clicks scored 1.0-1.5 per micrograph, below the other warnings,
    and trained a model of AP 0.013).
    """
    scores = click_scores(images, clicks, names, diameter_px, seed=seed)
    together = _together(_judged(scores))
    mirrored = [
        np.column_stack([xy[:, 0], np.shape(image)[0] - 1 - xy[:, 1]])
        for xy, image in (
            (np.asarray(c, float).reshape(-1, 2), i) for c, i in zip(clicks, images, strict=True)
        )
    ]
    if scores and together < Z_EXPECTED:
        flipped = _together(_judged(click_scores(images, mirrored, names, diameter_px, seed=seed)))
        if flipped >= Z_EXPECTED and flipped - together >= 3:
            return [
                f"{MIRRORED_NOTE}: at them the image shows little in "
                f"common (z {together:.1f}), mirrored they sit on particles (z {flipped:.1f}); "
                "the pick files may count y from the other edge (cryopick train's --flip-y "
                "mirrors them, or mirrors them back when it was given)"
            ]
        binned = _binned(images, clicks, names, diameter_px, together, seed)
        if binned:
            return [binned]
    notes = clicks_off_particles(scores)
    flipped_ones = _one_mirrored(images, clicks, mirrored, names, diameter_px, scores, seed)
    # a micrograph said mirrored is not said off as well
    kept = [n for n in notes if not any(n.startswith(f"the clicks on {m} ") for m in flipped_ones)]
    return kept + list(flipped_ones.values())


def _binned(images, clicks, names, diameter_px, together, seed) -> str:
    """The note for clicks that all lie in the top-left half or less of their micrographs
    and sit on particles only scaled up by a power of two (coordinates of micrographs
    binned that many times: a CLI trial's crYOLO files of 2x binned micrographs, read
    without --picks-binning, trained a model of 3,600 picks a micrograph instead of 800,
    after a warning only); "" otherwise."""
    arrays = [np.asarray(c, float).reshape(-1, 2) for c in clicks]
    extents = [
        max(xy[:, 0].max() / np.shape(image)[1], xy[:, 1].max() / np.shape(image)[0])
        for xy, image in zip(arrays, images, strict=True)
        if len(xy)
    ]
    if not extents or not 0 < max(extents) <= 0.5:
        return ""
    best, factor = -np.inf, 0
    for binning in 2 ** np.arange(1, int(np.log2(1 / max(extents))) + 1):
        scaled = [xy * float(binning) for xy in arrays]
        z = _together(_judged(click_scores(images, scaled, names, diameter_px, seed=seed)))
        if z > best:
            best, factor = z, int(binning)
    if best < Z_EXPECTED or best - together < 3:
        return ""
    return (
        f"the clicks {BINNED_WORDS} {factor} times: they all lie in the top-left "
        f"{100 * max(extents):.0f} % of their micrographs, at them the image shows little in "
        f"common (z {together:.1f}), scaled {factor} times they sit on particles "
        f"(z {best:.1f}); cryopick train's --picks-binning {factor} reads them so"
    )


def _one_mirrored(images, clicks, mirrored, names, diameter_px, scores, seed) -> dict[str, str]:
    """Notes naming each micrograph whose clicks alone look mirrored top to bottom: their
    z below half what the other micrographs' z per click predicts, and mirrored (the
    others as given) at least :data:`Z_EXPECTED`, 3 above and half that prediction. A docs
    trial's one pick file of three with y counted from the other edge scored z 2.4 where
    the others predicted 16: above :data:`Z_OFF`, unsaid (right clicks mirrored land
    between particles, near z 0: no right micrograph is called mirrored)."""
    judged = [s for s in _judged(scores) if s.name]
    if len(set(names)) < len(names):  # (a name of two micrographs: which one is unsaid)
        return {}
    suspects = []
    for score in judged:
        others = [s.z / np.sqrt(s.clicks) for s in judged if s is not score]
        expected = float(np.median(others)) * np.sqrt(score.clicks) if others else 0.0
        if expected >= Z_EXPECTED and score.z < expected / 2:
            suspects.append((score.z / expected, score, expected))
    notes: dict[str, str] = {}
    # each trial scores every micrograph again: the MAX_MIRROR_TRIALS furthest below
    # their prediction only (a review: a large set of faint micrographs would add seconds)
    for _ratio, score, expected in sorted(suspects, key=lambda t: t[0])[:MAX_MIRROR_TRIALS]:
        i = list(names).index(score.name)
        trial = [mirrored[j] if j == i else clicks[j] for j in range(len(clicks))]
        again = {s.name: s.z for s in click_scores(images, trial, names, diameter_px, seed=seed)}
        flipped = again.get(score.name, 0.0)
        if flipped >= max(Z_EXPECTED, score.z + 3, expected / 2):
            notes[score.name] = (
                f"the clicks on {score.name} look mirrored top to bottom: at them the image "
                f"shows little of what the other micrographs' clicks sit on (z {score.z:.1f}, "
                f"where theirs predict z {expected:.0f}), mirrored they sit on particles "
                f"(z {flipped:.1f}); its pick file may count y from the other edge (mirror "
                "its y as height - 1 - y; --flip-y mirrors every file)"
            )
    return notes
