"""Zero-shot picking chooses the scale the general model sees the particles at; nothing else does.

Simulated micrographs of 40 px particles, picked with the bundled general model
at a diameter 25 % too large (50 px): the search rescales as for a smaller
diameter and the picks match the truth better than at the given diameter.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.progress import drive
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
from napari_cryopick.io.micrographs import Micrograph, write_mrc
from napari_cryopick.workflows.batch import BatchOptions, run_batch, settings_fingerprint
from napari_cryopick.workflows.pick import (
    PickRequest,
    pick,
    prepare,
    with_scale,
    zero_shot,
)

TRUE_DIAMETER = 40.0
GIVEN_DIAMETER = 50.0


@pytest.fixture(scope="module")
def simulated():
    config = SimulationConfig(shape=(512, 512), diameter_px=TRUE_DIAMETER, n_particles=40)
    micrographs = [simulate_micrograph(config, seed=seed) for seed in (0, 1, 2)]
    images = [Micrograph(m.image, name=f"sim{i}") for i, m in enumerate(micrographs)]
    truth = pd.concat(
        [
            m.picks[m.picks["kind"] == "particle"].assign(micrograph=f"sim{i}")
            for i, m in enumerate(micrographs)
        ],
        ignore_index=True,
    )
    return images, truth


def _ap(outcome, truth) -> float:
    picks = outcome.picks.assign(diameter=TRUE_DIAMETER)
    report = evaluate(picks, truth.assign(diameter=TRUE_DIAMETER), iou_thresholds=(0.5,))
    return float(report.ap["AP@0.5"])


def test_zero_shot_picks_at_the_scale_the_model_is_most_confident_at(simulated):
    images, truth = simulated
    request = PickRequest(
        micrographs=images, diameter_px=GIVEN_DIAMETER, threshold=0.0, device="cpu"
    )
    searched = drive(pick(request))
    fixed = drive(pick(dataclasses.replace(request, scale_search=False)))
    assert searched.diameter_factor < 1.0  # the given diameter is too large
    assert max(searched.scale_confidences, key=searched.scale_confidences.get) == (
        searched.diameter_factor
    )
    assert fixed.diameter_factor == 1.0
    assert fixed.scale_confidences == {}
    assert _ap(searched, truth) > _ap(fixed, truth) + 0.02
    # the diameters written are the user's, whatever scale the network saw
    assert searched.picks["diameter"].median() == pytest.approx(GIVEN_DIAMETER, rel=0.3)
    # a factor given is used as it is, without a search
    given = drive(pick(dataclasses.replace(request, diameter_factor=0.8)))
    assert given.diameter_factor == 0.8
    assert given.scale_confidences == {}


def test_only_a_general_model_picking_with_its_generic_head_searches(simulated, tiny_checkpoint):
    images, _ = simulated
    bundled = prepare(PickRequest(micrographs=images, diameter_px=GIVEN_DIAMETER, device="cpu"))
    assert zero_shot(bundled)
    one_head = prepare(
        PickRequest(
            micrographs=images, diameter_px=GIVEN_DIAMETER, device="cpu", head="empiar10017_bgal"
        )
    )
    assert not zero_shot(one_head)
    assert with_scale(one_head, images)[1] == {}
    trained = prepare(PickRequest(micrographs=images, model=tiny_checkpoint, device="cpu"))
    assert not zero_shot(trained)  # a model trained on the user's data has no general recipe
    assert with_scale(trained, images) == (trained, {})


def test_every_shard_of_a_batch_picks_at_the_run_s_scale(simulated, tmp_path):
    images, _ = simulated
    (tmp_path / "mics").mkdir()
    paths = [write_mrc(tmp_path / "mics" / f"{m.name}.mrc", m.data) for m in images]
    request = PickRequest(
        micrographs=paths, diameter_px=GIVEN_DIAMETER, device="cpu", out_dir=tmp_path / "out"
    )
    outcomes = [
        drive(run_batch(request, BatchOptions(shard=(index, 2), summary=False))) for index in (1, 2)
    ]
    factors = {o.diameter_factor for o in outcomes}
    assert len(factors) == 1
    assert factors.pop() < 1.0
    assert sum(o.n_picked for o in outcomes) == 3
    # the factor is part of the settings a resumed run must match
    assert settings_fingerprint(request) != settings_fingerprint(
        dataclasses.replace(request, diameter_factor=outcomes[0].diameter_factor)
    )
    assert settings_fingerprint(request) == settings_fingerprint(
        dataclasses.replace(request, diameter_factor=1.0)
    )


def test_a_diameter_near_the_smallest_searches_only_usable_factors():
    # 7.2 px: 0.8 and 0.9 times it would enlarge the micrograph more than the detector may
    image = simulate_micrograph(
        SimulationConfig(shape=(128, 128), diameter_px=8.0, n_particles=10), seed=3
    ).image
    request = PickRequest(micrographs=[Micrograph(image, name="small")], diameter_px=7.2)
    outcome = drive(pick(dataclasses.replace(request, device="cpu")))
    assert not outcome.errors
    assert set(outcome.scale_confidences) == {1.0, 1.1, 1.25}
    # a factor given that the detector cannot use is refused before anything is picked
    with pytest.raises(ValueError, match="--diameter-factor"):
        drive(pick(dataclasses.replace(request, diameter_factor=0.5)))


def test_monitor_mode_says_it_does_not_search(tmp_path, caplog):
    from napari_cryopick.workflows.monitor import monitor

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    request = PickRequest(micrographs=(), diameter_px=40.0, device="cpu", out_dir=tmp_path / "o")
    for factor, warned in ((None, True), (0.9, False)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            job = monitor(
                dataclasses.replace(request, diameter_factor=factor),
                incoming,
                idle_timeout=0.05,
                poll_s=0.01,
            )
            drive(job)
        assert ("--diameter-factor" in caplog.text) is warned
