"""The zero-shot scale search: the confidence, and the factor it chooses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core import detect
from napari_cryopick.core.scale_search import SCALE_FACTORS, choose_scale, pick_confidence


def test_confidence_is_the_mean_of_the_k_best_scores_missing_ones_counting_zero():
    # 100 x 100 px, diameter 20: one particle covers pi * 100 px^2; 10 % of the
    # area is 1000 px^2, so K = floor(1000 / 314.16) = 3
    shape, diameter = (100, 100), 20.0
    assert pick_confidence([0.9, 0.1, 0.6, 0.3], shape, diameter) == pytest.approx(
        (0.9 + 0.6 + 0.3) / 3
    )
    assert pick_confidence([0.9], shape, diameter) == pytest.approx(0.9 / 3)
    assert pick_confidence([], shape, diameter) == 0.0
    # K follows the given diameter, not the scale the model picked at
    big = pick_confidence(np.linspace(1, 0, 50), (400, 400), 20.0)  # K = 50
    assert big == pytest.approx(float(np.mean(np.linspace(1, 0, 50))))
    with pytest.raises(ValueError):
        pick_confidence([0.5], shape, 0.0)


class _Result:
    def __init__(self, scores):
        self.picks = pd.DataFrame({"score": scores})


def _fake_pick(best_diameter):
    """A model most confident when the micrograph is rescaled for ``best_diameter``."""
    calls = []

    def pick_micrograph(model, image, *, diameter_px, config, border_diameter_px=None):
        calls.append(diameter_px)
        pick_micrograph.borders.append(border_diameter_px)
        quality = math.exp(-abs(math.log(diameter_px / best_diameter)) * 5)
        return _Result([quality] * 40)

    pick_micrograph.borders = []
    return pick_micrograph, calls


def test_the_factor_the_model_is_most_confident_at_is_chosen(monkeypatch):
    fake, calls = _fake_pick(best_diameter=45.0)
    monkeypatch.setattr(detect, "pick_micrograph", fake)
    images = [np.zeros((256, 256), np.float32)] * 2
    factor, confidences = choose_scale(object(), images, [50.0, 50.0])
    assert factor == 0.9  # 45 / 50
    # the border stays at the diameter given at every factor (a review: it followed them)
    assert set(fake.borders) == {50.0}
    assert set(confidences) == set(SCALE_FACTORS)
    assert max(confidences, key=confidences.get) == 0.9
    # every factor on every image, at the factor times the given diameter
    assert sorted(set(calls)) == sorted(50.0 * f for f in SCALE_FACTORS)
    assert len(calls) == len(SCALE_FACTORS) * 2


def test_ties_go_to_the_factor_nearest_one(monkeypatch):
    def flat(model, image, *, diameter_px, config, **_):
        return _Result([0.5] * 10)

    monkeypatch.setattr(detect, "pick_micrograph", flat)
    factor, _ = choose_scale(object(), [np.zeros((64, 64), np.float32)], [20.0])
    assert factor == 1.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        choose_scale(object(), [], [])
    with pytest.raises(ValueError):
        choose_scale(object(), [np.zeros((8, 8))], [10.0, 12.0])
    with pytest.raises(ValueError):
        choose_scale(object(), [np.zeros((8, 8))], [10.0], factors=(0.0, 1.0))


def test_factors_the_detector_cannot_rescale_with_are_left_out(monkeypatch):
    from napari_cryopick.core.model import DetectorConfig
    from napari_cryopick.core.model.inputs import MAX_UPSCALE

    fake, calls = _fake_pick(best_diameter=6.0)

    class _Model:
        config = DetectorConfig()

    monkeypatch.setattr(detect, "pick_micrograph", fake)
    smallest = DetectorConfig().target_diameter_px / MAX_UPSCALE  # 7 px
    factor, confidences = choose_scale(_Model(), [np.zeros((64, 64), np.float32)], [smallest])
    assert set(confidences) == {1.0, 1.1, 1.25}  # 0.8 and 0.9 would enlarge too much
    assert factor == 1.0
    assert min(calls) == pytest.approx(smallest)
    with pytest.raises(ValueError, match="cannot rescale"):
        choose_scale(_Model(), [np.zeros((64, 64), np.float32)], [smallest * 0.5])


def test_at_an_edge_one_factor_beyond_is_tried_but_never_chosen(monkeypatch):
    from napari_cryopick.core.scale_search import EDGE_PROBE_RATIO, beyond_range

    fake, calls = _fake_pick(best_diameter=30.0)  # 0.6 x the given 50 px
    monkeypatch.setattr(detect, "pick_micrograph", fake)
    factor, confidences = choose_scale(object(), [np.zeros((64, 64), np.float32)], [50.0])
    assert factor == min(SCALE_FACTORS)
    probe = round(min(SCALE_FACTORS) * EDGE_PROBE_RATIO, 4)
    assert set(confidences) == set(SCALE_FACTORS) | {probe}
    assert calls[-1] == pytest.approx(50.0 * probe)
    assert beyond_range(factor, confidences) == probe
    # the upper edge likewise
    fake, _ = _fake_pick(best_diameter=90.0)
    monkeypatch.setattr(detect, "pick_micrograph", fake)
    factor, confidences = choose_scale(object(), [np.zeros((64, 64), np.float32)], [50.0])
    assert factor == max(SCALE_FACTORS)
    assert beyond_range(factor, confidences) == round(max(SCALE_FACTORS) / EDGE_PROBE_RATIO, 4)
    # inside the range: nothing beyond is tried, nothing to warn about
    fake, calls = _fake_pick(best_diameter=45.0)
    monkeypatch.setattr(detect, "pick_micrograph", fake)
    factor, confidences = choose_scale(object(), [np.zeros((64, 64), np.float32)], [50.0])
    assert set(confidences) == set(SCALE_FACTORS)
    assert beyond_range(factor, confidences) is None
    # at the edge but less confident beyond it: the edge was right
    assert beyond_range(0.8, {0.64: 0.5, 0.8: 0.6, 0.9: 0.55}) is None


def test_a_model_confident_nowhere_barely_sees_the_particles():
    from napari_cryopick.core.scale_search import LOW_CONFIDENCE, barely_sees

    assert barely_sees({0.8: LOW_CONFIDENCE * 0.9, 1.0: LOW_CONFIDENCE * 0.5})
    assert not barely_sees({0.8: LOW_CONFIDENCE * 0.9, 1.0: LOW_CONFIDENCE * 1.1})
    assert not barely_sees({})  # no search ran


def test_the_micrographs_are_inverted_only_when_the_model_is_clearly_more_confident(
    monkeypatch,
):
    from napari_cryopick.core.scale_search import POLARITY_MARGIN, choose_polarity

    def sees_dark(model, image, *, diameter_px, config, **_):
        # a model that sees dark particles: confident on images darker at the centre
        return _Result([0.8 if image[32, 32] < image.mean() else 0.2] * 40)

    monkeypatch.setattr(detect, "pick_micrograph", sees_dark)
    dark = np.zeros((64, 64), np.float32)
    dark[28:36, 28:36] = -1.0
    light = np.zeros((64, 64), np.uint16)  # unsigned: inverting must not wrap around
    light[28:36, 28:36] = 1000
    assert choose_polarity(object(), [dark], [8.0]) == (False, {False: 0.8, True: 0.2})
    invert, confidences = choose_polarity(object(), [light, light], [8.0, 8.0])
    assert invert
    assert confidences == {False: 0.2, True: 0.8}

    # within the margin the micrographs stay as they are
    def almost_flat(model, image, *, diameter_px, config, **_):
        better = image[32, 32] < image.mean()
        return _Result([0.5 * (POLARITY_MARGIN * 0.99 if better else 1.0)] * 40)

    monkeypatch.setattr(detect, "pick_micrograph", almost_flat)
    assert choose_polarity(object(), [light], [8.0])[0] is False

    # a model that sees the particles neither way is not followed (a CLI trial's diameter
    # 7 times too large: 0.085 inverted against 0.064 as given, dark particles inverted)
    def sees_nothing(model, image, *, diameter_px, config, **_):
        return _Result([0.085 if image[32, 32] < image.mean() else 0.064] * 40)

    monkeypatch.setattr(detect, "pick_micrograph", sees_nothing)
    invert, confidences = choose_polarity(object(), [light], [8.0])
    assert invert is False
    assert confidences == pytest.approx({False: 0.064, True: 0.085})
