"""Zero-shot picking chooses the scale the general model sees the particles at; nothing else does.

Simulated micrographs of 40 px particles, picked with the bundled general model
at a diameter 25 % too large (50 px): the search rescales as for a smaller
diameter and the picks match the truth better than at the given diameter.
"""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd
import pytest

from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.progress import drive
from napari_cryopick.core.scale_search import SCALE_FACTORS
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
from napari_cryopick.io.micrographs import Micrograph, write_mrc
from napari_cryopick.workflows.batch import (
    BatchOptions,
    in_shard,
    run_batch,
    settings_fingerprint,
)
from napari_cryopick.workflows.pick import (
    PickRequest,
    pick,
    prepare,
    scale_lines,
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
    # dark particles (the rule): the micrographs stay as they are
    assert not searched.inverted
    assert searched.polarity_confidences[False] > searched.polarity_confidences[True]
    confidences = searched.scale_confidences
    in_range = {f: c for f, c in confidences.items() if f in SCALE_FACTORS}
    assert set(in_range) == set(SCALE_FACTORS)
    assert max(in_range, key=in_range.get) == searched.diameter_factor
    assert fixed.diameter_factor == 1.0
    assert fixed.scale_confidences == {}
    assert _ap(searched, truth) > _ap(fixed, truth) + 0.02
    # the diameters written are the user's, whatever scale the network saw
    assert searched.picks["diameter"].median() == pytest.approx(GIVEN_DIAMETER, rel=0.3)
    # a factor given is used as it is, without a search
    given = drive(pick(dataclasses.replace(request, diameter_factor=0.8)))
    assert given.diameter_factor == 0.8
    assert given.scale_confidences == {}


@pytest.mark.parametrize(("given", "warns"), [(TRUE_DIAMETER, False), (1.7 * TRUE_DIAMETER, True)])
def test_a_diameter_far_off_is_warned_about_the_right_one_is_not(simulated, given, warns):
    images, _ = simulated
    outcome = drive(pick(PickRequest(micrographs=images, diameter_px=given, device="cpu")))
    line, warnings = scale_lines(outcome.diameter_factor, outcome.scale_confidences, given)
    assert f"as if the diameter were {given * outcome.diameter_factor:.0f} px" in line
    assert f"the picks' sizes in the files stay near {given:g} px" in line
    assert bool(warnings) == warns
    if warns:
        # the search stopped at its edge; the model is more confident still beyond it
        assert outcome.diameter_factor == min(SCALE_FACTORS)
        assert min(outcome.scale_confidences) < min(SCALE_FACTORS)
        assert "the diameter given may be off, either way" in warnings[0]
        assert " px" not in warnings[0]  # no size to try (a trial tried 35 px for 108)


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
    resolved, confidences = with_scale(trained, images)
    assert confidences == {}
    assert resolved.polarity_confidences == {}
    assert resolved.request.diameter_factor is None  # the diameter as given
    assert resolved.request.invert_contrast is False  # the micrographs as they are


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
    # the outcome carries the fingerprint the run recorded its micrographs under: the
    # RELION job lists autopick.star by it (by the request's own it listed none)
    from napari_cryopick.workflows.batch import complete_items, plan_items

    assert {o.fingerprint for o in outcomes} == {
        settings_fingerprint(
            dataclasses.replace(request, diameter_factor=outcomes[0].diameter_factor)
        )
    }
    items = plan_items(prepare(request))
    _todo, done = complete_items(items, tmp_path / "out", outcomes[0].fingerprint)
    assert len(done) == 3


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
    # nothing is chosen in monitor mode: said unless both the factor and the contrast are given
    for factor, inverted, warned in ((None, None, True), (0.9, None, True), (0.9, False, False)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            job = monitor(
                dataclasses.replace(request, diameter_factor=factor, invert_contrast=inverted),
                incoming,
                idle_timeout=0.05,
                poll_s=0.01,
            )
            drive(job)
        assert ("monitor mode picks zero-shot" in caplog.text) is warned
        # what is given is not asked for
        assert ("--diameter-factor" in caplog.text) is (factor is None)


def test_what_the_user_is_told_about_the_scale():
    # nothing searched and nothing changed: nothing to say
    assert scale_lines(1.0, {}, 50.0) == ("", ())
    line, warnings = scale_lines(0.8, {}, 50.0, "option")
    assert "as if the diameter were 40 px" in line
    assert "factor given" in line
    assert warnings == ()
    line, _ = scale_lines(0.9, {}, None, "earlier run")
    assert "0.9 x the diameter" in line
    assert "earlier run" in line
    # a resumed run whose earlier run chose 1 says so too (it was silent, a user trial)
    line, _ = scale_lines(1.0, {}, 50.0, "earlier run")
    assert "1 x the 50 px given" in line
    assert "earlier run" in line
    # a model confident nowhere: that warning
    nowhere = {0.8: 0.10, 0.9: 0.09, 1.0: 0.08, 1.1: 0.07, 1.25: 0.06}
    line, warnings = scale_lines(0.8, nowhere, 62.0)
    assert "0.8: 0.100" in line
    assert len(warnings) == 1
    assert warnings[0].startswith("the general model barely sees these particles")
    assert "diameter" not in warnings[0]
    assert "contrast" not in warnings[0]
    # ... and a little more confident beyond the range: still that one, without the
    # diameter (apoferritin at its own diameter ends so; "the diameter may be off", and
    # "measure a few particles" at 0.64 x, misled two trials)
    low = {0.64: 0.11, 0.8: 0.10, 0.9: 0.09, 1.0: 0.08}
    line, warnings = scale_lines(0.8, low, 62.0)
    assert len(warnings) == 1
    assert warnings[0].startswith("the general model barely sees these particles")
    assert "diameter" not in warnings[0]
    assert "0.64" not in warnings[0]
    # the probe beyond the edge is the most confident: the line does not claim the
    # chosen factor is the most confident overall, and the warning names the probe
    edge = {0.64: 0.40, 0.8: 0.35, 0.9: 0.30, 1.0: 0.25, 1.1: 0.2, 1.25: 0.2, 1.5625: 0.1}
    line, warnings = scale_lines(0.8, edge, 50.0)
    assert "most confident of the 0.8-1.25 x searched" in line
    # the probe is listed apart, not among the factors of the range (a trial read
    # "of the 0.8-1.25 x searched (confidence by factor 0.64: ...")
    assert "(confidence by factor 0.8: 0.350," in line
    assert "; beyond the range 0.64: 0.400, 1.5625: 0.100)" in line
    assert "0.64 x the diameter, beyond the 0.8-1.25 x searched" in warnings[0]
    assert "32 px" not in warnings[0]
    assert "contrast" not in warnings[0]
    # the smallest factor chosen where no smaller one could be tried (a trial's 10 px for
    # 56 px ribosomes: 9,019 picks, no warning); a probe tried and less confident: none
    tiny = {0.8: 0.328, 0.9: 0.30, 1.0: 0.28, 1.1: 0.26, 1.25: 0.245}
    _, warnings = scale_lines(0.8, tiny, 10.0)
    assert len(warnings) == 1
    assert "smallest factor searched (0.8 x)" in warnings[0]
    assert "(10 px) is too small to try a smaller one" in warnings[0]
    _, warnings = scale_lines(0.8, {**tiny, 0.64: 0.2}, 50.0)
    assert warnings == ()
    _, warnings = scale_lines(0.9, {**tiny, 0.9: 0.34}, 10.0)
    assert warnings == ()
    # with the contrast forced by the user, both warnings name it as a possible cause
    for confidences in (low, edge):
        _, warnings = scale_lines(0.8, confidences, 50.0, contrast_forced=True)
        assert "--invert-contrast" in warnings[0]


def test_a_resumed_zero_shot_batch_picks_at_the_earlier_run_s_scale_without_a_search(
    simulated, tmp_path, monkeypatch
):
    from napari_cryopick.core import scale_search

    images, _ = simulated
    (tmp_path / "mics").mkdir()
    paths = [write_mrc(tmp_path / "mics" / f"{m.name}.mrc", m.data) for m in images]
    request = PickRequest(
        micrographs=paths, diameter_px=GIVEN_DIAMETER, device="cpu", out_dir=tmp_path / "out"
    )
    # a shard that holds some of the three (by their names' hash)
    index = 1 if any(in_shard(m.name, (1, 2)) for m in images) else 2
    first = drive(run_batch(request, BatchOptions(shard=(index, 2), summary=False)))
    assert first.n_picked
    assert first.scale_source == "search"
    assert first.scale_confidences

    def no_search(*args, **kwargs):
        raise AssertionError("a resumed run must not search again")

    monkeypatch.setattr(scale_search, "choose_scale", no_search)
    resumed = drive(run_batch(request, BatchOptions(skip=True, summary=False)))
    assert resumed.scale_source == "earlier run"
    assert resumed.diameter_factor == first.diameter_factor
    assert resumed.n_skipped == first.n_picked
    assert resumed.n_picked == 3 - first.n_picked
    # the other shard's micrographs were picked at the same settings: all complete now
    again = drive(run_batch(request, BatchOptions(skip=True, summary=False)))
    assert again.n_picked == 0
    assert again.n_skipped == 3
    # without --skip a run searches as usual
    monkeypatch.undo()
    fresh = drive(run_batch(request, BatchOptions(summary=False)))
    assert fresh.scale_source == "search"
    assert fresh.scale_confidences


def test_cryopick_pick_says_when_the_scale_search_asked_for_cannot_run(
    simulated, tmp_path, capsys, tiny_checkpoint
):
    from napari_cryopick import cli

    images, _ = simulated
    mrc = write_mrc(tmp_path / "sim0.mrc", images[0].data, 1.5)
    args = ["pick", str(mrc), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "a")]
    assert cli.main([*args, "--scale-search"]) == 0
    captured = capsys.readouterr()
    assert "no scale search ran" in captured.err
    assert "zero-shot" not in captured.out
    assert cli.main(args) == 0  # not asked: not said
    assert "no scale search ran" not in capsys.readouterr().err
    # a run with another threshold into the folder: said, with the way to avoid re-picking
    assert cli.main([*args, "--threshold", "0.5"]) == 0
    note = " ".join(capsys.readouterr().err.split())
    assert "already holds the picks of 1 micrograph(s) made with other settings" in note
    assert "--keep-candidates and use cryopick filter" in note
    # back to the first settings: picked with them before, not "other settings" (a scale
    # trial's STAR, BOX, STAR runs were told their files would be written over, then
    # skipped, as they should be)
    assert cli.main([*args, "--skip"]) == 0
    captured = capsys.readouterr()
    assert "made with other settings" not in captured.err
    assert "1 already done" in captured.out
    # another format only: its files go beside theirs, nothing written over (a trial's
    # runs of one folder in five formats were each told of overwriting)
    assert cli.main([*args, "--format", "box"]) == 0
    note = " ".join(capsys.readouterr().err.split())
    assert "in other formats only: this run writes its files beside theirs" in note, note
    assert "writes over" not in note
    # ... and the first format again with other settings: written over, said so
    assert cli.main([*args, "--threshold", "0.6"]) == 0
    note = " ".join(capsys.readouterr().err.split())
    assert (
        "in the format(s) this run writes; this run writes over the files of those of them it picks"
        in note
    ), note


def test_a_zero_shot_run_of_unreadable_micrographs_says_only_their_failures(
    tmp_path, capsys, caplog
):
    # a formats trial: one truncated MRC got "the scale and contrast search could use none
    # of the micrographs (1 unreadable); they are picked at the diameter and contrast as
    # given" before its one failure
    from napari_cryopick import cli

    (tmp_path / "bad.mrc").write_bytes(b"\0" * 2000)
    args = ["pick", str(tmp_path / "bad.mrc"), "--diameter", "40", "--out", str(tmp_path / "o")]
    with caplog.at_level(logging.WARNING):
        assert cli.main(args) == 2
    said = capsys.readouterr().err + caplog.text
    assert "failed" in said
    assert "bad.mrc" in said
    assert "could use none of the micrographs" not in said


def test_zero_shot_inverts_micrographs_whose_particles_are_lighter(
    simulated, tmp_path, capsys, caplog
):
    from napari_cryopick import cli

    images, truth = simulated
    light = [Micrograph(-m.data, name=m.name) for m in images]
    request = PickRequest(micrographs=light, diameter_px=TRUE_DIAMETER, threshold=0.0, device="cpu")
    chosen = drive(pick(request))
    assert chosen.inverted
    assert chosen.polarity_confidences[True] > chosen.polarity_confidences[False]
    as_given = drive(pick(dataclasses.replace(request, invert_contrast=False)))
    assert not as_given.inverted
    assert as_given.polarity_confidences == {}
    assert _ap(chosen, truth) > _ap(as_given, truth) + 0.3
    # the command line says so, and a resumed batch keeps the contrast without choosing again
    (tmp_path / "mics").mkdir()
    for m in light:
        write_mrc(tmp_path / "mics" / f"{m.name}.mrc", m.data)
    args = ["pick", str(tmp_path / "mics"), "--diameter", "40", "--out", str(tmp_path / "out")]
    args += ["--no-rotations", "--diameter-factor", "1"]
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    assert cli.main(args) == 0
    said = capsys.readouterr().out
    assert "the particles look lighter than the background: picked on the inverted" in said
    # said before the search runs (a trial's 8k micrograph: 96 s without a line), and
    # counted in the start-up
    assert "zero-shot: choosing the contrast the general model sees" in caplog.text
    assert "with the contrast search, then" in said
    assert cli.main([*args, "--skip"]) == 0
    said = capsys.readouterr().out
    assert "picked on the inverted micrographs, as the earlier run in this folder did" in said
    assert "0 of 3 micrographs, 3 already done" in said
    # picking them as given is other settings (a resumed run would pick them again)
    inverted = dataclasses.replace(request, invert_contrast=True)
    assert settings_fingerprint(inverted) != settings_fingerprint(request)
    assert settings_fingerprint(request) == settings_fingerprint(
        dataclasses.replace(request, invert_contrast=False)
    )


def test_the_search_reads_micrographs_with_the_pixel_size_of_their_list(simulated, tmp_path):
    """A RELION / cryoSPARC list's pixel size beats the MRC header in the search too.

    Headers without a pixel size made every search read fail: the run picked at
    the diameter and contrast as given, silently (user trial helper-29: AP 0.79 → 0.00
    on inverted micrographs listed in a micrographs_ctf.star).
    """
    images, _ = simulated
    (tmp_path / "mics").mkdir()
    paths = [write_mrc(tmp_path / "mics" / f"{m.name}.mrc", m.data) for m in images]
    request = PickRequest(
        micrographs=paths, diameter_A=2 * GIVEN_DIAMETER, device="cpu", out_dir=tmp_path / "out"
    )
    sizes = {str(path.resolve()): 2.0 for path in paths}  # 2 A/px: 50 px
    outcome = drive(run_batch(request, BatchOptions(summary=False), pixel_sizes=sizes))
    assert outcome.n_picked == 3
    assert set(SCALE_FACTORS) <= set(outcome.scale_confidences)  # the search ran
    assert outcome.diameter_factor < 1.0


def test_a_thumbnail_among_the_micrographs_does_not_choose_the_scale(simulated, monkeypatch):
    """A 64 px noise image first in the folder decided the scale of all (user trial helper-29)."""
    import numpy as np

    from napari_cryopick.core import scale_search

    images, _ = simulated
    seen = []
    original = scale_search.choose_scale

    def recording(model, images, diameters, *args, **kwargs):
        seen.append([image.shape for image in images])
        return original(model, images, diameters, *args, **kwargs)

    monkeypatch.setattr(scale_search, "choose_scale", recording)
    thumbnail = Micrograph(np.random.default_rng(0).normal(size=(64, 64)), name="gain_small")
    request = PickRequest(
        micrographs=[thumbnail, *images], diameter_px=GIVEN_DIAMETER, device="cpu"
    )
    _prepared, confidences = with_scale(prepare(request), request.micrographs)
    assert confidences
    assert seen == [[(512, 512)] * 3]
    # thumbnails only: they are searched on (nothing else to search on)
    seen.clear()
    request = dataclasses.replace(request, micrographs=[thumbnail])
    with_scale(prepare(request), request.micrographs)
    assert seen == [[(64, 64)]]


def test_monitor_mode_with_scale_search_says_why_once_not_that_the_model_is_trained(
    simulated, tmp_path, capsys, caplog
):
    """A docs trial: monitor mode with the bundled model and --scale-search printed "only
    a general model ... searches; a model trained on your clicks learned the diameter"."""
    import logging

    from napari_cryopick import cli

    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    images, _ = simulated
    folder = tmp_path / "incoming"
    folder.mkdir()
    write_mrc(folder / "sim0.mrc", images[0].data, 1.5)
    code = cli.main(["pick", "--monitor", str(folder), "--idle-timeout", "3", "--poll", "0.1",
                     "--diameter", "40", "--scale-search", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err + caplog.text
    assert "monitor mode picks zero-shot at the diameter and contrast as given" in err
    assert "no scale search ran" not in err
    assert "--diameter-factor and --invert-contrast" in err
    # what is given is not asked for (a trial: the factor was asked for with it given)
    caplog.clear()
    code = cli.main(["pick", "--monitor", str(folder), "--idle-timeout", "3", "--poll", "0.1",
                     "--diameter", "40", "--diameter-factor", "0.9",
                     "--out", str(tmp_path / "o2")])  # fmt: skip
    assert code == 0
    (said,) = [r.getMessage() for r in caplog.records if "monitor mode" in r.getMessage()]
    assert said.endswith("give --invert-contrast or --no-invert-contrast as it chose")
    assert "--diameter-factor" not in said


def test_a_stop_during_the_search_stops_it_and_picks_nothing(simulated, tmp_path, monkeypatch):
    # a trial's RELION Abort waited for the search over the first micrographs (30 s on
    # 8k micrographs), and then for the first micrograph to be picked
    from napari_cryopick.core import detect

    images, _truth = simulated
    paths = [write_mrc(tmp_path / f"{m.name}.mrc", m.data) for m in images]
    calls = []
    real = detect.pick_micrograph

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(detect, "pick_micrograph", counted)
    request = PickRequest(micrographs=paths, diameter_px=TRUE_DIAMETER, out_dir=tmp_path / "out")
    stop = BatchOptions(should_stop=lambda: len(calls) >= 1)  # Abort after the first pick
    outcome = drive(run_batch(request, stop))
    assert outcome.stopped
    assert outcome.n_picked == 0
    assert len(calls) == 1  # not the 3 x 6 picks of a whole search
    assert not list((tmp_path / "out").glob("*.star"))


def test_the_search_takes_micrographs_spread_over_the_run(simulated, monkeypatch, caplog):
    """A scale trial: three empty test exposures first in the folder chose the scale of
    every micrograph after them (0.8 where 1.0 was right), and the run named none of the
    micrographs the search used. Now its first, its last and one between, named."""
    import numpy as np

    from napari_cryopick.core import scale_search
    from napari_cryopick.workflows.pick import search_order

    assert search_order(1) == [0]
    assert search_order(3) == [0, 1, 2]
    assert search_order(10) == [0, 4, 9, 1, 2, 3, 5, 6, 7, 8]
    assert sorted(search_order(37)) == list(range(37))
    images, _ = simulated
    seen = []
    original = scale_search.choose_scale

    def recording(model, images, diameters, *args, **kwargs):
        seen.append([float(np.std(image)) for image in images])
        return original(model, images, diameters, *args, **kwargs)

    monkeypatch.setattr(scale_search, "choose_scale", recording)
    empty = [
        Micrograph(np.random.default_rng(i).normal(size=(512, 512)), name=f"empty{i}")
        for i in range(3)
    ]
    run = [*empty, images[0], images[1], images[2]]
    request = PickRequest(micrographs=run, diameter_px=GIVEN_DIAMETER, device="cpu")
    with caplog.at_level(logging.INFO, logger="napari_cryopick.workflows.pick"):
        with_scale(prepare(request), run)
    (used,) = seen
    assert len(used) == 3
    # empty0 (the first), empty2 or sim0 (between), sim2 (the last): not the three empty
    assert "3 micrographs spread over the run (empty0, empty2, sim2)" in caplog.text
    assert "searched on" not in caplog.text  # the ones named were used
    # a thumbnail among them is passed over: the ones used instead are said (a re-trial)
    thumbnail = Micrograph(np.random.default_rng(9).normal(size=(64, 64)), name="thumb")
    run = [thumbnail, *images]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_cryopick.workflows.pick"):
        with_scale(prepare(dataclasses.replace(request, micrographs=run)), run)
    assert "(sim1, sim2, thumb)" in caplog.text  # (named in sorted order)
    assert "searched on sim0, sim1, sim2 instead" in caplog.text
