"""The check that clicks sit on particles (clicks of another micrograph, y flipped)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cryopick.core.click_check import (
    MIN_CLICKS,
    ClickScore,
    check_clicks,
    click_scores,
    clicks_off_particles,
)
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph

DIAMETER = 28.0


@pytest.fixture(scope="module")
def micrographs():
    """Three simulated micrographs of 28 px particles and half of them clicked."""
    config = SimulationConfig(shape=(512, 512), diameter_px=DIAMETER, n_particles=80, snr=0.3)
    images, clicks = [], []
    for seed in range(3):
        simulated = simulate_micrograph(config, seed=seed)
        image = simulated.image
        images.append((image - np.median(image)) / image.std())
        particles = simulated.picks[simulated.picks["kind"] == "particle"]
        clicks.append(particles[["x", "y"]].to_numpy(float)[::2])
    return images, clicks, ["m0", "m1", "m2"]


def test_clicks_on_particles_score_high_and_are_not_named(micrographs):
    images, clicks, names = micrographs
    scores = click_scores(images, clicks, names, DIAMETER)
    assert [s.name for s in scores] == names
    assert all(s.z > 5 for s in scores), scores
    assert clicks_off_particles(scores) == []


def test_a_micrograph_given_another_ones_clicks_is_named(micrographs):
    images, clicks, names = micrographs
    scores = click_scores(images, [clicks[1], clicks[1], clicks[2]], names, DIAMETER)
    by_name = {s.name: s for s in scores}
    assert by_name["m0"].z < 2 < 5 < by_name["m1"].z
    notes = clicks_off_particles(scores)
    assert len(notes) == 1, notes
    assert notes[0].startswith("the clicks on m0 sit on nothing the other micrographs'")
    assert f"over {by_name['m0'].clicks} of them away from its edges" in notes[0]
    assert "with y counted from the same edge" in notes[0]


def test_clicks_with_y_flipped_are_said_to_look_mirrored(micrographs):
    """A trial's y-flipped apoferritin clicks scored 1.0-1.5 per micrograph, above the
    warning of clicks on nothing: mirrored back they sit on particles, which says why."""
    images, clicks, names = micrographs
    flipped = [
        np.column_stack([xy[:, 0], image.shape[0] - 1 - xy[:, 1]])
        for xy, image in zip(clicks, images, strict=True)
    ]
    scores = click_scores(images, flipped, names, DIAMETER)
    assert clicks_off_particles(scores)[0].startswith("the clicks on m0, m1, m2 sit on nothing")
    notes = check_clicks(images, flipped, names, DIAMETER)
    assert len(notes) == 1, notes
    assert notes[0].startswith("the clicks look mirrored top to bottom")
    assert "cryopick train's --flip-y mirrors them" in notes[0]
    # the right clicks: nothing said, mirrored or not
    assert check_clicks(images, clicks, names, DIAMETER) == []
    # a micrograph given another's clicks: named as before
    (note,) = check_clicks(images, [clicks[1], clicks[1], clicks[2]], names, DIAMETER)
    assert note.startswith("the clicks on m0 sit on nothing")
    assert note.endswith("and is the particle diameter right?")


def test_one_micrographs_clicks_with_y_flipped_are_said_mirrored_by_name(micrographs):
    """A docs trial: one pick file of three counted y from the other edge; its clicks
    scored z 2.4 where the others predicted 16, above the warning of clicks on nothing,
    and nothing was said. Mirrored (the others as given) they sit on particles: named."""
    images, clicks, names = micrographs
    one = [np.column_stack([clicks[0][:, 0], images[0].shape[0] - 1 - clicks[0][:, 1]])]
    notes = check_clicks(images, [*one, *clicks[1:]], names, DIAMETER)
    assert len(notes) == 1, notes
    assert notes[0].startswith("the clicks on m0 look mirrored top to bottom: at them")
    assert "its pick file may count y from the other edge" in notes[0]
    # another micrograph's clicks are no mirror: named as sitting on nothing, as before
    (note,) = check_clicks(images, [clicks[1], clicks[1], clicks[2]], names, DIAMETER)
    assert note.startswith("the clicks on m0 sit on nothing")


def test_one_micrograph_is_scored_in_two_halves(micrographs):
    images, clicks, _ = micrographs
    (score,) = click_scores(images[:1], clicks[:1], ["m0"], DIAMETER)
    assert score.name == ""
    assert MIN_CLICKS * 2 <= score.clicks <= len(clicks[0])
    assert score.z > 5
    rng = np.random.default_rng(1)
    anywhere = rng.uniform(40, 470, (len(clicks[0]), 2))
    (score,) = click_scores(images[:1], [anywhere], ["m0"], DIAMETER)
    notes = clicks_off_particles([score])
    assert len(notes) == 1
    assert notes[0].startswith("the clicks sit on nothing in common")
    assert f"over {score.clicks} of them" in notes[0]


def test_too_few_clicks_say_nothing(micrographs):
    images, clicks, names = micrographs
    few = [xy[: MIN_CLICKS - 1] for xy in clicks[:2]]
    # one micrograph short of clicks beside two with enough is not judged; fewer than two
    # times MIN_CLICKS in all are not judged at all
    assert [s.name for s in click_scores(images, [few[0], *clicks[1:]], names, DIAMETER)] == [
        "m1",
        "m2",
    ]
    assert click_scores(images[:2], few, names[:2], DIAMETER) == []
    # clicks outside the image, or not finite, are left out
    outside = np.vstack([clicks[0], [[-50.0, 10.0], [np.nan, 3.0], [1e9, 1e9]]])
    scores = click_scores(images, [outside, *clicks[1:]], names, DIAMETER)
    assert scores[0].clicks <= len(clicks[0])


def test_a_faint_micrographs_few_clicks_are_not_named_for_being_faint():
    """Named only when the others' z per click predicts a clear score for its clicks."""
    faint = [ClickScore("a", 12, 1.5), ClickScore("b", 12, 3.0), ClickScore("c", 12, 2.5)]
    assert clicks_off_particles(faint) == []
    clear = [ClickScore("a", 12, 0.5), ClickScore("b", 12, 9.0), ClickScore("c", 12, 8.0)]
    assert [n.split(" sit ")[0] for n in clicks_off_particles(clear)] == ["the clicks on a"]
    # a trial's misplaced micrograph scored -2.3 with 4.97 expected: named; near the
    # expectation's floor, only well below it
    trial = [ClickScore("a", 30, -2.3), ClickScore("b", 30, 4.3), ClickScore("c", 30, 5.7)]
    assert [n.split(" sit ")[0] for n in clicks_off_particles(trial)] == ["the clicks on a"]
    near = [ClickScore("a", 30, 1.5), ClickScore("b", 30, 4.0), ClickScore("c", 30, 4.4)]
    assert clicks_off_particles(near) == []


def test_clicks_on_noise_are_all_scored_and_named_together_in_short():
    """A review: the second pass left out the one micrograph that passed the first, and
    the note named every micrograph (hundreds, in the Train widget's status line)."""
    rng = np.random.default_rng(3)
    images = [rng.normal(size=(200, 200)).astype(np.float32) for _ in range(12)]
    clicks = [rng.uniform(30, 170, (20, 2)) for _ in images]
    names = [f"n{i:02d}" for i in range(12)]
    scores = click_scores(images, clicks, names, DIAMETER)
    assert [s.name for s in scores] == names
    (note,) = clicks_off_particles([ClickScore(name, 20, 0.0) for name in names])
    assert note.startswith("the clicks on n00, n01, n02, n03, n04, ... (12 in all) sit on")


def test_clicks_whose_places_beside_leave_the_image_say_nothing():
    """A review: a micrograph two diameters tall scored none of its clicks (the places
    beside them leave it) and said 'sit on nothing' of clear particles."""
    image = np.zeros((2 * int(DIAMETER), 1400), np.float32)
    xs = np.arange(40.0, 1360.0, 30.0)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    for x in xs:
        image[np.hypot(yy - DIAMETER, xx - x) < DIAMETER / 2] = -3.0
    clicks = np.column_stack([xs, np.full(len(xs), DIAMETER)])
    assert check_clicks([image], [clicks], ["thin"], DIAMETER) == []


def test_mirrored_trials_are_capped_and_not_run_for_repeated_names(micrographs, monkeypatch):
    """Each trial scores every micrograph again: only the MAX_MIRROR_TRIALS furthest below
    their prediction are tried (none here), and none where a name is two micrographs'
    (which of them would be unsaid)."""
    import napari_cryopick.core.click_check as click_check

    images, clicks, names = micrographs
    one = [np.column_stack([clicks[0][:, 0], images[0].shape[0] - 1 - clicks[0][:, 1]])]
    given = [*one, *clicks[1:]]
    repeated = ["m0", "m0", "m2"]
    assert not any("look mirrored" in n for n in check_clicks(images, given, repeated, DIAMETER))
    monkeypatch.setattr(click_check, "MAX_MIRROR_TRIALS", 0)
    assert not any("look mirrored" in n for n in check_clicks(images, given, names, DIAMETER))
    monkeypatch.setattr(click_check, "MAX_MIRROR_TRIALS", 1)
    (note,) = check_clicks(images, given, names, DIAMETER)
    assert note.startswith("the clicks on m0 look mirrored top to bottom")
