"""workflows.train: one training path; output checked first; cancel writes nothing."""

from __future__ import annotations

import errno
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from napari_cryopick.core.detect import ThresholdChoice
from napari_cryopick.core.exemplars import bank_from_metadata
from napari_cryopick.core.model import load_checkpoint
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainProgress
from napari_cryopick.workflows import train as train_workflow
from napari_cryopick.workflows.train import (
    CALIBRATING,
    TrainingSet,
    TrainOutputError,
    TrainPreview,
    TrainRequest,
    steps_cut_short,
    train,
)

FAST = {"steps": 4, "batch_size": 2, "crop_size": 48, "warmup_steps": 1}
TINY = {"widths": (4, 8, 8, 8), "feature_channels": 8, "head_width": 8}


@pytest.fixture
def training_set(make_blobs):
    images, tables = zip(*(make_blobs(seed) for seed in range(2)))
    return TrainingSet("toy", list(images), list(tables), 20.0, names=["t0", "t1"])


def _request(training_set, out, **options):
    values = {"train_options": FAST, "time_limit_s": None, "device": "cpu", "out": out}
    values["model_options"] = TINY
    values.update(options)
    return TrainRequest(datasets=[training_set], **values)


@pytest.fixture
def tiny_base(tmp_path, make_config):
    """A tiny saved model to adapt (the bundled one is too slow for these tests)."""
    from napari_cryopick.core.model import Detector, save_checkpoint

    return save_checkpoint(tmp_path / "base.pt", Detector(make_config()), metadata={})


def test_new_model_is_written_with_its_card_and_previews(tmp_path, training_set, make_blobs):
    out = tmp_path / "models" / "new.pt"
    events = []
    request = _request(
        training_set,
        out,
        kinds=("particle",),
        preview=make_blobs(5)[0],
        preview_every=2,
        run_info={"tool": "test"},
    )
    outcome = drive(train(request), events.append)
    progress = [e for e in events if isinstance(e, TrainProgress)]
    previews = [e for e in events if isinstance(e, TrainPreview)]
    assert [e.step for e in progress] == [1, 2, 3, 4, 4]
    # after the loop the model picks training micrographs for its threshold: one event
    # says so (a trial saw the bar stand at the end with nothing said)
    assert [e.phase for e in progress][-2:] == ["done", CALIBRATING]
    assert "choosing the pick threshold" in progress[-1].postfix()
    assert events.index(progress[-1]) < events.index(previews[-1])
    assert [(p.step, p.final) for p in previews] == [(2, False), (4, True)]
    assert previews[0].result.result.heatmap.ndim == 2  # a MicrographPicks, as Pick's
    assert outcome.path == out
    _model, metadata = load_checkpoint(out)
    assert metadata["card_version"] == 1
    assert metadata["datasets"] == ["toy"]
    assert metadata["dataset_info"]["toy"]["diameter_px"] == 20.0
    assert metadata["dataset_info"]["toy"]["labels"] == 16
    assert metadata["history"][-1]["mode"] == "new"
    assert metadata["history"][-1]["tool"] == "test"
    assert metadata["exemplars"]["datasets"]["toy"]
    assert outcome.card.diameter_for_head("generic") == 20.0


def test_closing_the_generator_writes_nothing(tmp_path, training_set, tiny_base):
    out = tmp_path / "model.pt"
    out.write_bytes(Path(tiny_base).read_bytes())  # the previous model
    job = train(_request(training_set, out, mode="finetune", base_model=tiny_base))
    first = next(job)
    assert isinstance(first, TrainProgress)
    job.close()
    assert out.read_bytes() == Path(tiny_base).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.pt", "model.pt"]


def test_closing_the_generator_while_the_threshold_is_chosen_writes_nothing(tmp_path, training_set):
    """With no preview micrograph, nothing was yielded between choosing the threshold and
    saving: Cancel pressed then was ignored, the model written and made the session's."""
    out = tmp_path / "model.pt"
    job = train(_request(training_set, out))
    calibrating = 0
    for event in job:
        if getattr(event, "phase", None) == CALIBRATING:
            calibrating += 1
            if calibrating == 2:  # the turn after the threshold was chosen
                break
    job.close()
    assert calibrating == 2
    assert not out.exists()


def test_a_model_file_replaced_by_training_is_kept_as_previous(tmp_path, training_set):
    # `cryopick train --out model.pt` (and the Train widget's default file) replaced an
    # existing model without a word: a week's continual learning could be lost to one
    # command with the wrong --out
    from napari_cryopick.workflows.train import previous_model_path, training_notes

    out = tmp_path / "model.pt"
    first = drive(train(_request(training_set, out, run_info={"tool": "first"})))
    assert first.previous is None
    assert not [n for n in training_notes(first, 16) if "already existed" in n]
    second = drive(train(_request(training_set, out, run_info={"tool": "second"})))
    kept = previous_model_path(out)
    assert kept == tmp_path / "model.previous.pt"
    assert second.previous == kept
    assert load_checkpoint(kept)[1]["history"][-1]["tool"] == "first"
    assert load_checkpoint(out)[1]["history"][-1]["tool"] == "second"
    [note] = [n for n in training_notes(second, 16) if "already existed" in n]
    assert str(kept) in note
    # training again from the kept version into the same file (a review: the starting
    # model.previous.pt was replaced by the disliked model.pt): the start stays
    third = drive(
        train(
            _request(
                training_set, out, mode="finetune", base_model=kept, run_info={"tool": "third"}
            )
        )
    )
    assert load_checkpoint(kept)[1]["history"][-1]["tool"] == "first"
    assert third.previous == tmp_path / "model.previous-2.pt"
    assert load_checkpoint(third.previous)[1]["history"][-1]["tool"] == "second"
    assert not list(tmp_path.glob(".*part"))
    # a file of the user's that is no model, or a folder, of the kept name is not replaced
    # (an I/O trial's own model.previous.pt text was)
    own = tmp_path / "own"
    own.mkdir()
    (own / "model.previous.pt").write_text("precious\n")
    (own / "model.previous-2.pt").mkdir()
    shutil.copy(out, own / "model.pt")
    fourth = drive(train(_request(training_set, own / "model.pt")))
    assert fourth.previous == own / "model.previous-3.pt"
    assert (own / "model.previous.pt").read_text() == "precious\n"
    assert load_checkpoint(fourth.previous)[1]["history"][-1]["tool"] == "third"
    assert not list(own.glob(".*part"))


def test_an_earlier_version_this_version_cannot_read_is_not_replaced(tmp_path, training_set):
    # (a review) an earlier version that cannot be read (a newer napari-cryopick's file)
    # counted as knowing no data set and was replaced by the next training unasked
    import torch

    from napari_cryopick.core.model.checkpoint import FORMAT_NAME

    out = tmp_path / "model.pt"
    drive(train(_request(training_set, out, run_info={"tool": "first"})))
    newer = {"format": FORMAT_NAME, "format_version": 99, "config": {}, "state_dict": {}}
    torch.save(newer, tmp_path / "model.previous.pt")
    before = (tmp_path / "model.previous.pt").read_bytes()
    second = drive(train(_request(training_set, out, run_info={"tool": "second"})))
    assert second.previous == tmp_path / "model.previous-2.pt"
    assert (tmp_path / "model.previous.pt").read_bytes() == before
    assert load_checkpoint(second.previous)[1]["history"][-1]["tool"] == "first"


def test_a_starting_model_with_a_damaged_exemplar_bank_is_named(tmp_path, training_set):
    """The metadata is not covered by the checksums: an I/O trial's edited bank was
    "malformed exemplar bank in model metadata: ..." without the file's name."""
    import torch

    from napari_cryopick.core.model import save_checkpoint

    first = drive(train(_request(training_set, tmp_path / "first.pt")))
    model, metadata = load_checkpoint(first.path)
    stored = metadata["exemplars"]
    [name] = stored["datasets"]
    stored["datasets"][name]["micrographs"] = ["one name for every crop", "and another"]
    damaged = save_checkpoint(tmp_path / "damaged.pt", model, metadata=metadata)
    request = _request(training_set, tmp_path / "next.pt", mode="continual", base_model=damaged)
    with pytest.raises(ValueError, match=r"damaged\.pt: malformed exemplar bank"):
        drive(train(request))
    assert not (tmp_path / "next.pt").exists()
    assert torch.load(damaged, weights_only=True)  # (a model file still)


def test_output_is_checked_before_training(tmp_path, training_set, monkeypatch):
    called = []
    monkeypatch.setattr(
        "napari_cryopick.core.continual.train_model", lambda *a, **k: called.append(1)
    )
    with pytest.raises(ValueError, match="is a folder"):
        next(train(_request(training_set, tmp_path)))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        next(train(_request(training_set, blocker / "model.pt")))
    assert called == []


def test_failed_save_keeps_the_model_elsewhere(tmp_path, training_set, monkeypatch):
    from napari_cryopick.core.model import checkpoint

    real = checkpoint.save_checkpoint
    target = tmp_path / "model.pt"

    def full_disk(path, *args, **kwargs):
        if Path(path) == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr("napari_cryopick.core.model.save_checkpoint", full_disk)
    monkeypatch.setattr(train_workflow.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pytest.raises(TrainOutputError, match="No space left") as raised:
        drive(train(_request(training_set, target)))
    saved = next((tmp_path / "tmp").glob("cryopick-model-*.pt"))
    assert str(saved) in str(raised.value)
    assert load_checkpoint(saved)[1]["datasets"] == ["toy"]
    assert not target.exists()


def test_fewshot_adds_a_head_and_previews_with_it(tmp_path, training_set, tiny_base, make_blobs):
    request = _request(
        training_set, tmp_path / "fs.pt", mode="fewshot", base_model=tiny_base,
        preview=make_blobs(3)[0], preview_every=2,
    )  # fmt: skip
    events = []
    outcome = drive(train(request), events.append)
    assert outcome.model.head_names == ("generic", "toy")
    assert outcome.card.dataset("toy").head == "toy"
    from napari_cryopick.cli._info import model_info

    # cryopick info names the head cryopick pick uses without --head: the one trained
    assert model_info(outcome.model, outcome.metadata)["default_head"] == "toy"
    assert outcome.metadata["history"][-1]["init"] == str(tiny_base)
    previews = [e for e in events if isinstance(e, TrainPreview)]
    # "preview every" works in the adapt modes too (issue 12.4), then the final preview
    assert [(p.step, p.final) for p in previews] == [(2, False), (4, True)]


def test_previews_show_the_preview_micrograph_at_its_own_data_sets_diameter_and_head(
    tmp_path, training_set, make_blobs
):
    # a trial: a ribosome micrograph (57 px) previewed at the β-gal set's 108 px, the
    # set trained last; in Joint mode with the β-gal head (0 picks)
    from napari_cryopick.io.micrographs import Micrograph

    images, tables = zip(*(make_blobs(seed) for seed in range(2, 4)))
    other = TrainingSet("other", list(images), list(tables), 30.0, names=["u0", "u1"])
    shown = Micrograph(training_set.micrographs[0], name="t0")  # of "toy", at 20 px
    for mode in ("new", "joint"):
        request = replace(
            _request(training_set, None, mode=mode, preview=shown, preview_every=2),
            datasets=[training_set, other],
        )
        events = []
        outcome = drive(train(request), events.append)
        previews = [e for e in events if isinstance(e, TrainPreview)]
        assert previews
        assert {p.result.diameter_px for p in previews} == {20.0}, mode
        if mode == "joint":
            assert outcome.model.head_names == ("generic", "toy", "other")


def test_a_preview_micrograph_of_no_training_set_takes_its_own_data_set_and_diameter(
    tmp_path, training_set, make_blobs
):
    """A GUI trial: an unannotated β-gal micrograph (Annotate: bgal, 108 px by its
    folder) was previewed at the ribosome set's 56 px, the set trained last, and the
    export wrote those picks. The widget passes the micrograph's own settings."""
    from napari_cryopick.io.micrographs import Micrograph

    images, tables = zip(*(make_blobs(seed) for seed in range(2, 4)))
    other = TrainingSet("other", list(images), list(tables), 30.0, names=["u0", "u1"])
    unlabelled = Micrograph(make_blobs(7)[0], name="not_trained_on")
    # "toy" (20 px, not the last set, "other" at 30 px): its diameter, unless the
    # micrograph has one of its own
    for own_diameter, expected in ((None, 20.0), (24.0, 24.0)):
        request = replace(
            _request(training_set, None, mode="joint", preview=unlabelled, preview_every=0),
            datasets=[training_set, other],
            preview_dataset="toy",
            preview_diameter_px=own_diameter,
        )
        events = []
        drive(train(request), events.append)
        previews = [e for e in events if isinstance(e, TrainPreview)]
        assert {p.result.diameter_px for p in previews} == {expected}


def test_trainings_that_would_forget_an_earlier_data_set_say_so(tmp_path, training_set, caplog):
    """Three ways a trial wiped an earlier protein without a word."""
    import logging

    def warnings(**options):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            outcome = drive(train(_request(training_set, None, **options)))
        return " ".join(r.getMessage() for r in caplog.records), outcome

    new, first = warnings(mode="new")  # "toy" held by the generic head only
    assert "no own head" not in new
    other = replace(training_set, name="other")

    def continual(base, dataset):
        caplog.clear()
        request = TrainRequest(
            datasets=[dataset], mode="continual", base_model=base.model,
            base_metadata=base.metadata, train_options=FAST, time_limit_s=None, device="cpu",
        )  # fmt: skip
        with caplog.at_level(logging.WARNING):
            outcome = drive(train(request))
        return " ".join(r.getMessage() for r in caplog.records), outcome

    # a --mode new model's data set: only the generic head knew it; continual training
    # gives it its own head from the generic one, kept by replaying its exemplars
    text, adopted = continual(first, other)
    assert "toy had no own head (trained with --mode new): it gets one" in text
    assert adopted.model.head_names == ("generic", "other", "toy")
    assert adopted.card.dataset("toy").head == "toy"
    assert adopted.metadata["history"][-1]["adopted_heads"] == ["toy"]
    # without exemplars nothing can keep it: said so
    bare = {**first.metadata, "exemplars": None}
    text, _ = continual(replace(first, metadata=bare), other)
    assert "toy: no own head and no exemplars" in text
    assert "--mode joint first" in text
    # an own head without exemplars (--exemplars 0): kept, but nothing replays it
    # (a CLI trial's β-gal: AP 0.80 -> 0.73 after a continual run, unsaid)
    text, _ = continual(
        replace(adopted, metadata={**adopted.metadata, "exemplars": None}), training_set
    )
    assert "other: own head but no exemplars in this model: continual training keeps " in text
    joint = drive(train(_request(training_set, None, mode="joint")))
    text, both = continual(joint, other)
    assert "no own head" not in text
    assert "no exemplars" not in text
    assert "already in the model" not in text
    # the same name again: its head trains on these micrographs alone, and their exemplars
    # join its earlier ones (not "replaces its exemplars", which the bank never did)
    again = replace(training_set, diameter_px=40.0, names=["t2", "t3"])
    text, retrained = continual(both, again)
    assert "data set 'toy' is already in the model" in text
    assert "trained at 20 px, this run at 40 px, which becomes its diameter" in text
    assert "retrains its head on these micrographs alone and adds their exemplars to those " in (
        text
    )
    assert (
        "of its other micrographs (which keep up to half of its bank; exemplars of these "
        "micrographs are made anew); that suits more clicks of the same protein; for another "
        "protein" in text
    )
    assert "replaces" not in text
    kept = bank_from_metadata(retrained.metadata["exemplars"]).datasets["toy"].micrographs
    # the earlier micrographs' exemplars stay, under their own names (a third run on t0
    # again must find and replace them)
    assert {"t0", "t1", "t2", "t3"} == set(kept)
    assert retrained.card.dataset("toy").diameter_px == 40.0
    # finetune of a model with data-set heads
    caplog.clear()
    request = TrainRequest(
        datasets=[other], mode="finetune", base_model=both.model, base_metadata=both.metadata,
        train_options=FAST, time_limit_s=None, device="cpu",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        drive(train(request))
    assert "the heads of toy will forget their data sets; --mode continual keeps them" in (
        caplog.text
    )
    # joint from that model trains on this run's data sets alone too (a trial: unsaid)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        drive(train(replace(request, mode="joint")))
    assert "--mode joint retrains the whole model on" in caplog.text
    assert "the heads of toy will forget their data sets; --mode continual keeps them " in (
        caplog.text
    )
    assert "give every data set's micrographs and picks to this joint run" in caplog.text
    # the Train widget asks before such a run by the notes' kind, not by their words
    for mode in ("finetune", "joint"):
        notes = train_workflow.base_model_warnings(mode, both.model, both.metadata, {"other": 40})
        assert [n.kind for n in notes if "will forget" in n] == ["forgets"], notes
    notes = train_workflow.base_model_warnings("finetune", first.model, first.metadata, {"o": 40})
    assert [n.kind for n in notes if "will be forgotten" in n] == ["forgets"], notes
    adopt = train_workflow.base_model_warnings("continual", first.model, first.metadata, {"o": 40})
    assert adopt
    assert {n.kind for n in adopt} == {""}, adopt


def test_bad_requests_fail_at_once(training_set):
    with pytest.raises(ValueError, match="mode"):
        TrainRequest(datasets=[training_set], mode="sideways")
    with pytest.raises(ValueError, match="no data sets"):
        TrainRequest(datasets=[])
    with pytest.raises(ValueError, match="uses no base model"):  # it was ignored unsaid
        TrainRequest(datasets=[training_set], mode="new", base_model=Path("m.pt"))
    with pytest.raises(ValueError, match="2 micrographs but 1"):
        TrainingSet("x", training_set.micrographs, training_set.picks[:1])
    no_diameter = TrainingSet(
        "x", training_set.micrographs, [t.drop(columns="diameter") for t in training_set.picks]
    )
    with pytest.raises(ValueError, match="diameter"):
        next(train(_request(no_diameter, None)))


def test_mode_list_is_the_cores():
    from napari_cryopick.core import continual

    assert train_workflow.MODES == continual.MODES
    assert set(train_workflow.ADAPT_MODES) < set(continual.MODES)


def test_numpy_diameters_are_accepted(training_set):
    import numpy as np

    one = TrainingSet("np", training_set.micrographs, training_set.picks, np.float32(20.0))
    job = train(_request(one, None))
    assert isinstance(next(job), TrainProgress)
    job.close()
    per_micrograph = TrainingSet(
        "np", training_set.micrographs, training_set.picks, np.array([20.0, 22.0])
    )
    job = train(_request(per_micrograph, None))
    assert isinstance(next(job), TrainProgress)
    job.close()


def test_calibrated_threshold_only_lowers_the_default(training_set, make_config, monkeypatch):
    """Best F2 on the training clicks, capped at PickConfig's threshold; None without a verdict."""
    from napari_cryopick.core import detect
    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.model import Detector
    from napari_cryopick.workflows.train import calibrate_threshold

    model = Detector(make_config())
    seen = []

    def best(verdict):
        def choose(model, images, truths, **options):
            seen.append((len(images), sum(len(t) for t in truths), options["config"].threshold))
            return verdict

        return choose

    default = PickConfig().threshold
    for verdict, expected in [
        (ThresholdChoice(0.05, 0.8, 0.7, 0.9), 0.05),  # the model scores low: its picks still show
        (ThresholdChoice(0.6, 0.9, 0.9, 0.9), default),  # never above the default
        (ThresholdChoice(float("nan"), 0.0, float("nan"), float("nan")), None),  # nothing found
    ]:
        monkeypatch.setattr(detect, "choose_threshold", best(verdict))
        assert calibrate_threshold(model, training_set, 20.0, device="cpu") == expected
    assert seen[-1] == (2, 16, 0.0)  # both labelled micrographs, every candidate
    few = TrainingSet("few", training_set.micrographs[:1], [training_set.picks[0][:2]], 20.0)
    seen.clear()
    assert calibrate_threshold(model, few, 20.0, device="cpu") is None
    assert not seen  # two clicks say nothing: not even picked
    # a fiber model is calibrated on the points of its clicked paths too (it had no
    # threshold and picked nothing at the default, a trial)
    fibers = TrainingSet(
        "fibers",
        training_set.micrographs,
        [table.assign(kind="fiber", tube_id=1) for table in training_set.picks],
        20.0,
    )
    kinds = []

    def choose(model, images, truths, **options):
        kinds.append(options["config"].kinds)
        return ThresholdChoice(0.08, 0.8, 0.7, 0.9)

    monkeypatch.setattr(detect, "choose_threshold", choose)
    fiber_model = Detector(make_config(kinds=("fiber",)))
    assert calibrate_threshold(fiber_model, fibers, 20.0, device="cpu") == 0.08
    assert kinds == [("fiber",)]


def test_the_threshold_is_calibrated_on_the_most_labelled_micrographs(
    make_blobs, make_config, monkeypatch
):
    """A trial: three micrographs of a few clicks each came first, three labelled in full
    after them; calibrated on the first three, the sparse-clicks cap fell to its floor
    and the picks doubled. The most labelled ones are used, in their order."""
    from napari_cryopick.core import detect
    from napari_cryopick.core.model import Detector
    from napari_cryopick.workflows.train import calibrate_threshold

    images, tables = zip(*(make_blobs(seed) for seed in range(6)))
    tables = [t.iloc[:1] if i < 3 else t for i, t in enumerate(tables)]
    names = [f"m{i}" for i in range(6)]
    tables = [t.assign(micrograph=n) for t, n in zip(tables, names)]
    mixed = TrainingSet("mixed", list(images), tables, 20.0, names=names)
    seen = []

    def choose(model, images, truths, **options):
        seen.append([str(t["micrograph"].iloc[0]) for t in truths])
        return ThresholdChoice(0.1, 0.8, 0.7, 0.9)

    monkeypatch.setattr(detect, "choose_threshold", choose)
    assert calibrate_threshold(Detector(make_config()), mixed, 20.0, device="cpu") == 0.1
    assert seen == [["m3", "m4", "m5"]]
    # ties keep the micrographs' order
    seen.clear()
    same = [tables[3].assign(micrograph=n) for n in names]
    even = TrainingSet("even", list(images), same, 20.0, names=names)
    calibrate_threshold(Detector(make_config()), even, 20.0, device="cpu")
    assert seen == [["m0", "m1", "m2"]]


def test_the_threshold_is_calibrated_at_each_micrographs_own_diameter(
    training_set, make_config, monkeypatch
):
    """A review: a data set of two pixel sizes (one optics group binned) was trained at
    each micrograph's diameter but calibrated at their median, so the binned micrographs
    were picked at twice their particles' size and the stored threshold came from that."""
    import numpy as np

    from napari_cryopick.core import detect
    from napari_cryopick.core.model import Detector
    from napari_cryopick.workflows import train as train_workflow
    from napari_cryopick.workflows.train import calibrate_threshold

    picked = []
    original = detect.pick_micrograph

    def spy(model, image, *, diameter_px, **options):
        picked.append(diameter_px)
        return original(model, image, diameter_px=diameter_px, **options)

    monkeypatch.setattr(detect, "pick_micrograph", spy)
    model = Detector(make_config())
    calibrate_threshold(model, training_set, [20.0, 40.0], device="cpu")
    assert picked == [20.0, 40.0]
    picked.clear()
    calibrate_threshold(model, training_set, 20.0, device="cpu")  # one for all, as before
    assert picked == [20.0, 20.0]
    # train() hands it each micrograph's diameter, not the data set's median
    given = []
    monkeypatch.setattr(
        train_workflow,
        "calibrate_threshold",
        lambda model, training_set, diameter_px, **_: given.append(list(diameter_px)),
    )
    two_sizes = TrainingSet(
        "two", training_set.micrographs, training_set.picks, np.array([20.0, 26.0])
    )
    drive(train(_request(two_sizes, None)))
    assert given == [[20.0, 26.0]]


def test_sparse_clicks_lower_the_calibrated_threshold(training_set, make_config, monkeypatch):
    """A trial: 10 clicks per β-gal micrograph, threshold 0.15 chosen, best F2 elsewhere at 0.05.

    The share of the model's picks that the user clicked says how sparse the
    clicks are; below CLICK_SHARE_FULL the threshold drops with its square root.
    """
    import math

    from napari_cryopick.core import detect
    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.model import Detector
    from napari_cryopick.workflows.train import (
        CLICK_SHARE_FULL,
        SPARSE_THRESHOLD_FLOOR,
        calibrate_threshold,
        sparse_clicks_cap,
    )

    default = PickConfig().threshold
    shares = [0.0, 0.005, 0.015, 0.05, 0.1, CLICK_SHARE_FULL, 0.5, 1.0]
    caps = [sparse_clicks_cap(share, default) for share in shares]
    assert caps == sorted(caps)  # sparser clicks, lower threshold
    assert caps[0] == caps[1] == SPARSE_THRESHOLD_FLOOR
    assert caps[3] == pytest.approx(default * math.sqrt(0.05 / CLICK_SHARE_FULL))
    assert caps[-3:] == [default] * 3
    assert sparse_clicks_cap(float("nan"), default) == default
    model = Detector(make_config())
    for share, expected in [(0.015, SPARSE_THRESHOLD_FLOOR), (0.4, default), (0.05, caps[3])]:
        verdict = ThresholdChoice(0.6, 0.8, 0.7, 0.9, click_share=share)
        monkeypatch.setattr(detect, "choose_threshold", lambda *a, v=verdict, **k: v)
        # (in thousandths, rounded down: what the Pick slider holds)
        assert calibrate_threshold(model, training_set, 20.0, device="cpu") == pytest.approx(
            math.floor(expected * 1000 + 1e-6) / 1000
        )
    # a best-F2 threshold below the cap stays
    low = ThresholdChoice(0.03, 0.8, 0.7, 0.9, click_share=0.015)
    monkeypatch.setattr(detect, "choose_threshold", lambda *a, **k: low)
    assert calibrate_threshold(model, training_set, 20.0, device="cpu") == pytest.approx(0.03)
    # measured on particles only: a vesicle model keeps the default as its cap
    sparse = ThresholdChoice(0.6, 0.8, 0.7, 0.9, click_share=0.015)
    monkeypatch.setattr(detect, "choose_threshold", lambda *a, **k: sparse)
    vesicles = TrainingSet(
        "v", training_set.micrographs, [t.assign(kind="vesicle") for t in training_set.picks], 20.0
    )
    vesicle_model = Detector(make_config(kinds=("vesicle",)))
    assert calibrate_threshold(vesicle_model, vesicles, 20.0, device="cpu") == default


def test_choose_threshold_measures_the_share_of_clicked_picks(monkeypatch):
    """click_share: of the candidates at or above share_at, the share matching a click."""
    import numpy as np
    import pandas as pd

    from napari_cryopick.core import detect
    from napari_cryopick.core.pick_table import make_picks

    xs = [20.0, 60.0, 100.0, 140.0, 180.0]
    candidates = make_picks(xs, [30.0] * 5, diameter=20.0, score=[0.9, 0.8, 0.5, 0.2, 0.1])

    class Result:
        picks = candidates.assign(micrograph="0")

    monkeypatch.setattr(detect, "pick_micrograph", lambda *a, **k: Result())
    clicks = make_picks([60.0, 140.0], [30.0, 30.0], diameter=20.0)  # 2 of the 5
    choice = detect.choose_threshold(
        None, [np.zeros((8, 8))], [clicks], diameter_px=20.0, share_at=0.15
    )
    assert choice.click_share == pytest.approx(2 / 4)  # 4 candidates >= 0.15, 2 clicked
    choice = detect.choose_threshold(
        None, [np.zeros((8, 8))], [clicks], diameter_px=20.0, share_at=0.6
    )
    assert choice.click_share == pytest.approx(1 / 2)
    assert isinstance(choice.threshold, float)
    assert pd.notna(choice.f_beta)


def test_calibrated_threshold_is_stored_and_picked_at(tmp_path, training_set, monkeypatch, capsys):
    """cryopick train stores it in the run record; cryopick pick uses it unless told otherwise."""
    from napari_cryopick.core import detect
    from napari_cryopick.workflows.pick import PickRequest, prepare

    monkeypatch.setattr(
        detect, "choose_threshold", lambda *a, **k: ThresholdChoice(0.042, 0.8, 0.7, 0.9)
    )
    out = tmp_path / "new.pt"
    outcome = drive(train(_request(training_set, out, kinds=("particle",))))
    assert outcome.pick_threshold == pytest.approx(0.042)
    _model, metadata = load_checkpoint(out)
    assert metadata["history"][-1]["pick_threshold"] == pytest.approx(0.042)

    def threshold(**options):
        request = PickRequest(micrographs=[], model=out, device="cpu", diameter_px=20.0, **options)
        return prepare(request).config.threshold

    assert threshold() == pytest.approx(0.042)
    assert threshold(threshold=0.3) == 0.3  # the user's threshold wins
    # the head the training trained (a new model's generic head), named: the same
    # threshold (a few-shot head named with --head picked nothing at 0.15)
    assert threshold(head="generic") == pytest.approx(0.042)
    from napari_cryopick.cli import main

    assert main(["info", str(out)]) == 0
    assert "pick threshold: 0.042 (calibrated" in capsys.readouterr().out


def test_calibration_picking_ends_with_the_time_budget(tmp_path, training_set, monkeypatch):
    """The threshold's picking pass gets the budget's end (it overran 120 s under load)."""
    import time

    from napari_cryopick.core import detect

    deadlines = []

    def choose(model, images, truths, **options):
        deadlines.append(options["deadline"])
        return ThresholdChoice(0.042, 0.8, 0.7, 0.9)

    monkeypatch.setattr(detect, "choose_threshold", choose)
    started = time.perf_counter()
    request = replace(
        _request(training_set, tmp_path / "timed.pt"), time_limit_s=30.0, started_at=started
    )
    drive(train(request))
    drive(train(_request(training_set, tmp_path / "untimed.pt")))  # no budget: no deadline
    assert deadlines == [pytest.approx(started + 30.0), None]


def test_info_says_which_head_the_calibrated_threshold_is_for(
    tmp_path, training_set, tiny_base, monkeypatch, capsys
):
    # a trial read "pick threshold: 0.15" on a continual model and took it for every head
    from napari_cryopick.cli import main
    from napari_cryopick.core import detect

    monkeypatch.setattr(
        detect, "choose_threshold", lambda *a, **k: ThresholdChoice(0.042, 0.8, 0.7, 0.9)
    )
    out = tmp_path / "fewshot.pt"
    drive(train(_request(training_set, out, mode="fewshot", base_model=tiny_base)))
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pick threshold: 0.042 (calibrated on the last training's clicks; head toy only" in text


def test_info_gives_each_heads_own_calibrated_threshold(tmp_path, capsys):
    # a trial: info said "other heads the default" while picking with the ribosome head used
    # its own training's 0.13, as cryopick pick --head does
    from _model_cards import save_data_set_heads_model
    from napari_cryopick.cli import main

    path = save_data_set_heads_model(
        tmp_path / "m.pt", {"ribo": 56.0, "beta": 40.0}, thresholds={"ribo": 0.13, "beta": 0.106}
    )
    assert main(["info", str(path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("pick threshold"))
    assert line == (
        "pick threshold: 0.106 (calibrated on the last training's clicks; head beta); "
        "head ribo 0.13 (its own training's); other heads the default"
    )


def test_border_learned_from_the_clicks_is_stored_and_picked_with(
    tmp_path, training_set, make_blobs, capsys
):
    """A click near the edge lowers the model's border margin; cryopick pick uses it."""
    import pandas as pd

    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.workflows.pick import PickRequest, prepare

    default = drive(train(_request(training_set, tmp_path / "far.pt")))
    assert default.pick_border == PickConfig().border  # the blobs keep 12 px (0.6 D) inside
    image, picks = make_blobs(7)
    edge = make_picks([5.0], [48.0], diameter=20.0)  # a particle clicked 0.25 D from the edge
    clicked = TrainingSet(
        "edge",
        [*training_set.micrographs, image],
        [*training_set.picks, pd.concat([picks, edge], ignore_index=True)],
        20.0,
    )
    out = tmp_path / "edge.pt"
    from napari_cryopick.core import detect

    weighed = []  # the margin the threshold was chosen at (a review: 0.5, picked at 0.25)
    choose = detect.choose_threshold

    def spy(*args, config, **options):
        weighed.append(config.border)
        return choose(*args, config=config, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detect, "choose_threshold", spy)
        outcome = drive(train(_request(clicked, out)))
    assert outcome.pick_border == pytest.approx(0.25)
    assert weighed == [pytest.approx(0.25)]
    _model, metadata = load_checkpoint(out)
    assert metadata["history"][-1]["pick_border"] == pytest.approx(0.25)

    def border(model, **options):
        request = PickRequest(
            micrographs=[], model=model, device="cpu", diameter_px=20.0, **options
        )
        return prepare(request).config.border

    assert border(out) == pytest.approx(0.25)
    assert border(out, options={"border": 0.5}) == 0.5  # the user's margin wins
    assert border(out, head="generic") == pytest.approx(0.25)  # the head it trained, named
    assert border(tmp_path / "far.pt") == PickConfig().border

    # measured in original pixels: a downsampled micrograph (40 px particles, prepared
    # at 28 px) clicked exactly half a diameter and 0.32 diameters from the far edges
    size = image.shape[1]
    for x, expected in ((size - 1 - 20.0, 0.5), (size - 1 - 12.8, 0.3)):
        right = make_picks([x, 48.0], [48.0, size - 1 - 20.0], diameter=40.0)
        far_edges = TrainingSet("right", [image], [right], 40.0)
        assert drive(train(_request(far_edges, None))).pick_border == pytest.approx(expected)
    from napari_cryopick.cli import main

    assert main(["info", str(out)]) == 0
    assert "pick border: 0.25 diameters (learned" in capsys.readouterr().out


def test_the_time_budget_counts_from_the_users_start_of_the_job(training_set):
    """TrainRequest.started_at (cryopick train: its own start): the budget is the job's."""
    import time

    options = {**FAST, "steps": 100_000, "views_per_label": None}
    now = _request(training_set, None, train_options=options, time_limit_s=3.0)
    # started 2.2 s before train(): the loop gets the floor, a quarter of the budget
    late_events, fresh_events = [], []
    late = drive(train(replace(now, started_at=time.perf_counter() - 2.2)), late_events.append)
    fresh = drive(train(now), fresh_events.append)

    def loop_seconds(events):  # the loop's own (the record's "seconds" has its set-up too)
        steps = [e for e in events if isinstance(e, TrainProgress) and e.phase != CALIBRATING]
        return max(e.elapsed_s for e in steps)

    # the job's seconds run from its start, and the loop got what was left of the budget:
    # the floor (0.75 s) against nearly all of it (about 2.9 s), each plus its last step.
    # Loop seconds, not step counts: the machine's speed may change between the runs.
    assert late.seconds >= 2.2
    assert fresh.seconds < 6.0  # the budget ended the job, not its 100,000 steps
    assert len(late.history) >= 1
    assert loop_seconds(late_events) < loop_seconds(fresh_events) - 1.0
    # the model records the loop's seconds and the whole job's (cryopick info shows both)
    run = late.metadata["history"][-1]
    # (the 2.2 s before the job's train() are in the job's and not in the loop's; the
    # loop's own length depends on the CPU: its first step took 2-3 s on a slower one)
    assert run["job_seconds"] - run["seconds"] >= 2.2
    # the budget ended both early: said (a trial read "trained 5 steps" with no reason)
    assert steps_cut_short(late) == (len(late.history), 100_000)
    short = drive(train(replace(now, time_limit_s=None, train_options=FAST)))
    assert steps_cut_short(short) is None  # all its steps done


def test_training_notes_say_when_the_start_already_saw_the_particles():
    from types import SimpleNamespace

    from napari_cryopick.workflows.train import FEW_CLICKS, training_notes

    def outcome(protected):
        run = {"steps": 10} if protected is None else {"steps": 10, "protected": protected}
        return SimpleNamespace(
            metadata={"history": [run]}, previous=None, history=[{}] * 10, completed=True
        )

    assert training_notes(outcome(None), 5) == []
    # protected but not seen (no halving): nothing to say
    assert training_notes(outcome({"separation": 0.6, "threshold": 0.2}), 5) == []
    seen = {"separation": 0.93, "threshold": 0.2, "views_per_label": 30.0}
    notes = training_notes(outcome(seen), 21)
    assert len(notes) == 2
    assert "probability 0.93" in notes[0]
    assert "30 crops per click" in notes[0]
    assert "few clicks (21)" in notes[1]
    assert "no --model" in notes[1]
    assert len(training_notes(outcome(seen), FEW_CLICKS)) == 1
    # the Train widget's wording has no command-line option (a trial saw "no --model")
    gui = training_notes(outcome(seen), 21, gui=True)
    assert "--" not in gui[1]
    assert "Pick widget's bundled general model" in gui[1]


def test_the_train_widgets_notes_say_when_the_clicks_set_the_steps():
    """A vesicle trial set 100000 steps and a minute and got 135 steps in 7 s, unsaid."""
    from types import SimpleNamespace

    from napari_cryopick.workflows.train import training_notes

    def outcome(planned, asked, views=60.0, **run):
        config = {
            "steps": asked,
            "views_per_label": views,
            "batch_size": 8,
            "positive_crop_fraction": 0.5,
            "warmup_steps": 50,
        }
        run.update(steps=planned, planned_steps=planned, train_config=config)
        return SimpleNamespace(
            metadata={"history": [run]}, previous=None, history=[{}] * planned, completed=True
        )

    (note,) = training_notes(outcome(135, 100000), 9, gui=True)
    assert "planned 135 steps, not the 100000 of Steps: 60 crops per click" in note
    assert "your 9 clicks, so that" in note
    assert training_notes(outcome(1000, 1000), 400, gui=True) == []  # Steps set them
    assert training_notes(outcome(135, 100000), 9) == []  # cryopick train says it before
    # the starting model sees the particles (a GUI trial's 5000 Steps trained 100, said
    # only as "30 crops per click, half the default"), below the fewest steps
    seen = {"separation": 0.98, "threshold": 0.2, "views_per_label": 30.0}
    notes = training_notes(outcome(100, 5000, 30.0, protected=seen), 8, gui=True)
    said = "planned 100 steps, not the 5000 of Steps: 30 crops per click for your 8 clicks"
    assert f"{said}, and 100 steps at the fewest" in notes[0]
    assert "half the default" in notes[1]
    # continual: the exemplars replayed are said only where they made more steps
    (alone,) = training_notes(outcome(120, 5000, mode="continual"), 8, gui=True)
    assert "exemplars" not in alone
    (more,) = training_notes(outcome(300, 5000, mode="continual"), 8, gui=True)
    assert "your 8 clicks and the earlier data sets' exemplars replayed" in more


def _simulated_clicks(folder, shape, n_particles, micrographs, clicked):
    """``folder/mics/m<i>.mrc`` of 40 px particles, and every third particle of the first
    ``clicked`` as ``folder/picks/m<i>.csv``; the ``cryopick train`` arguments for them."""
    from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
    from napari_cryopick.io.micrographs import write_mrc

    (folder / "mics").mkdir()
    (folder / "picks").mkdir()
    config = SimulationConfig(shape=shape, diameter_px=40.0, n_particles=n_particles)
    for seed in range(micrographs):
        simulated = simulate_micrograph(config, seed=seed)
        write_mrc(folder / "mics" / f"m{seed}.mrc", simulated.image)
        if seed < clicked:
            clicks = simulated.picks[simulated.picks["kind"] == "particle"].iloc[::3]
            clicks[["x", "y"]].to_csv(folder / "picks" / f"m{seed}.csv", index=False)
    args = ["train", "--micrographs", str(folder / "mics"), "--picks", str(folder / "picks")]
    return [*args, "--diameter", "40", "--out", str(folder / "m.pt"), "--device", "cpu"]


def test_cli_train_refuses_to_fine_tune_a_folder_named_data_set_at_another_size(tmp_path, capsys):
    """A CLI trial's two proteins in EPU folders were both data set "Data": --init without
    --mode fine-tuned the β-gal model on the ribosome (F1 0.84 to 0.16), said by a warning
    only. A size more than 25 % from the one the data set was trained at now stops the
    run, named or not; --allow-resize trains as asked."""
    from napari_cryopick.cli import main

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=2, clicked=2)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main(args) == 0
    name = tmp_path.name  # ("mics" names no data set: the folder above it does)
    out = args.index("--out") + 1
    again = [*args, "--init", str(tmp_path / "m.pt")]
    again[out] = str(tmp_path / "m2.pt")
    again[again.index("--diameter") + 1] = "60"
    capsys.readouterr()
    assert main(again) == 2
    err = capsys.readouterr().err
    assert f"data set {name!r} (from the folder names) is in" in err, err
    assert "trained at 40 px; these micrographs' particles are 60 px" in err, err
    assert f"or --dataset {name} --allow-resize to retrain it at the new size" in err
    assert not (tmp_path / "m2.pt").exists()
    # named, at that size: refused too (a continual trial's apoferritin given β-gal's name
    # replaced β-gal's head, AP 0.80 to 0.00, after a warning); --allow-resize trains it
    for named in (["--dataset", name], ["--dataset", name, "--mode", "continual"]):
        assert main([*again, *named]) == 2
        err = capsys.readouterr().err
        assert f"data set {name!r} is in" in err, err
        assert "this run's particles are 60 px (50% apart): another protein" in err, err
        assert not (tmp_path / "m2.pt").exists()
    assert main([*again, "--dataset", name, "--allow-resize"]) == 0  # as asked
    # in Å both times: the protein's size, whatever the pixels (a review: the same protein
    # on 2x copies, --diameter-A 120 both times, was refused at 80 px for 40)
    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    for folder, pixel in (("a3", 3.0), ("a15", 1.5)):
        (tmp_path / folder).mkdir()
        for index in range(2):
            image = read_micrograph(tmp_path / "mics" / f"m{index}.mrc").data
            write_mrc(tmp_path / folder / f"{folder}_{index}.mrc", image, pixel_size=pixel)
            (tmp_path / "picks" / f"{folder}_{index}.csv").write_bytes(
                (tmp_path / "picks" / f"m{index}.csv").read_bytes()
            )
    short = ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    angstrom = ["train", "--picks", str(tmp_path / "picks"), "--diameter-A", "120"]
    angstrom += ["--dataset", "prot", "--device", "cpu", *short]
    assert main([*angstrom, "--micrographs", str(tmp_path / "a3"), "--out",
                 str(tmp_path / "a.pt")]) == 0  # fmt: skip
    assert main([*angstrom, "--micrographs", str(tmp_path / "a15"), "--init",
                 str(tmp_path / "a.pt"), "--out", str(tmp_path / "b.pt")]) == 0  # fmt: skip
    close = list(again)  # within 25 % of it: more clicks of the same protein, fine-tuned
    close[close.index("--diameter") + 1] = "44"
    close[out] = str(tmp_path / "m3.pt")
    assert main(close) == 0
    assert "training (finetune)" in capsys.readouterr().out


def test_a_model_adapted_from_the_general_model_keeps_its_users_data_sets(tmp_path, capsys):
    """A docs review: a model trained from the bundled model (``--init`` it, continual)
    keeps its ``general_model`` recipe, and cryopick train took every such model for the
    general model: its user's data set retrained at another size was not refused, and
    ``--init`` without ``--mode`` on another data set fine-tuned it away. Only the
    general model's own recipe sets are left out now."""
    from napari_cryopick.cli import main
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.core.model.bundled import bundled_model_path

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=1, clicked=1)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    out = args.index("--out") + 1
    first = [*args, "--init", str(bundled_model_path()), "--mode", "continual"]
    assert main([*first, "--dataset", "prot"]) == 0
    _model, metadata = load_checkpoint(tmp_path / "m.pt")
    assert "general_model" in metadata  # (the recipe is carried on)
    resized = [*args, "--init", str(tmp_path / "m.pt"), "--dataset", "prot", "--mode", "finetune"]
    resized[resized.index("--diameter") + 1] = "60"
    resized[out] = str(tmp_path / "m2.pt")
    capsys.readouterr()
    assert main(resized) == 2
    err = capsys.readouterr().err
    assert "data set 'prot' is in" in err, err
    assert "trained at 40 px; this run's particles are 60 px" in err, err
    assert not (tmp_path / "m2.pt").exists()
    other = [*args, "--init", str(tmp_path / "m.pt"), "--dataset", "other"]
    other[out] = str(tmp_path / "m3.pt")
    assert main(other) == 0
    said = capsys.readouterr().out
    assert "--init without --mode: continual, which keeps the data sets of" in said, said
    assert "(prot)" in said, said


def test_the_general_models_recipe_sets_are_those_its_recipe_trained_and_no_user_retrained():
    """A review: every data set of the first run counted as the recipe's, so a user's
    folder named ``vesicles`` fine-tuned from the general model was left out of the resize
    refusal and the forgetting notes; a resumed recipe run (two runs) and a card without
    history must keep the recipe's sets; a fine-tune of the bundled model listed its ten
    recipe heads as forgotten."""
    from types import SimpleNamespace

    from napari_cryopick.core.model.bundled import load_bundled_model
    from napari_cryopick.core.model.card import DatasetCard, ModelCard
    from napari_cryopick.workflows.pick import recipe_heads
    from napari_cryopick.workflows.train import base_model_warnings

    recipe = {"mode": "joint", "datasets": ["sim_sphere", "vesicles"]}
    user = {"mode": "finetune", "datasets": ["vesicles"], "train_config": {}}
    sets = (DatasetCard("sim_sphere", 28.0), DatasetCard("vesicles", 40.0))

    def card(*history, general=True):
        extra = {"general_model": {"recipe": "x"}} if general else {}
        return ModelCard(datasets=sets, history=tuple(history), extra=extra)

    assert recipe_heads(card(recipe)) == ("sim_sphere", "vesicles")
    assert recipe_heads(card(recipe, dict(recipe))) == ("sim_sphere", "vesicles")  # resumed
    assert recipe_heads(card(recipe, user)) == ("sim_sphere",)  # the user's vesicles
    assert recipe_heads(card()) == ("sim_sphere", "vesicles")  # no history: all of them
    assert recipe_heads(card(recipe, general=False)) == ()
    assert recipe_heads(None) == ()
    # a recipe run's data sets as a mapping of name to details (the leave-one-out models:
    # the record's details written over the list; a review found them counting none)
    detailed = {**recipe, "datasets": {"sim_sphere": {"n": 1}, "vesicles": {"n": 2}}}
    assert recipe_heads(card(detailed, user)) == ("sim_sphere",)
    from pathlib import Path

    from napari_cryopick.core.model import load_checkpoint

    models = Path(__file__).resolve().parents[2] / "benchmarks" / "models"
    _model, loo = load_checkpoint(models / "general_without_empiar10017_bgal.pt")
    assert len(recipe_heads(ModelCard.from_metadata(loo))) == len(loo["datasets"]) == 9
    # continual from it (generic head only, no bank) loses nothing a user keeps
    notes = base_model_warnings("continual", _model, loo, {"mine": 40.0})
    assert not [n for n in notes if "no own head" in n], notes
    model, metadata = load_bundled_model()
    notes = base_model_warnings("finetune", model, metadata, {"mine": 40.0})
    assert not [n for n in notes if "sim_sphere" in n], notes
    # a user's head beside them is named (one data set, not the ten recipe heads)
    mine = SimpleNamespace(head_names=(*model.head_names, "ribo"))
    with_user = ModelCard.from_metadata(metadata)
    with_user = with_user.with_run(
        {"mode": "continual", "datasets": ["ribo"], "train_config": {}},
        [DatasetCard("ribo", 56.0)],
        heads=mine.head_names,
        kinds=("particle",),
        exemplars=None,
    )
    notes = base_model_warnings("finetune", mine, with_user.to_metadata(), {"mine": 40.0})
    forgets = [n for n in notes if n.kind == "forgets"]
    assert len(forgets) == 1, notes
    assert "the heads of ribo will forget" in forgets[0], forgets


def test_cli_train_refuses_to_replace_the_earlier_version_holding_a_data_sets_only_copy(
    tmp_path, capsys
):
    """A trial: apoferritin, left only in X.previous.pt by a New model written over a
    joint file, went with the next training into X.pt, unasked."""
    from napari_cryopick.cli import main
    from napari_cryopick.core.model import Detector, DetectorConfig, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=1, clicked=1)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    args += ["--dataset", "ribo"]
    out = tmp_path / "m.pt"  # (the --out of the arguments)
    ribo = ModelCard(datasets=(DatasetCard("ribo", 40.0),))
    both = ModelCard(datasets=(DatasetCard("ribo", 40.0), DatasetCard("apo", 62.0)))
    save_checkpoint(out, Detector(DetectorConfig()), metadata=ribo.to_metadata())
    earlier = save_checkpoint(
        tmp_path / "m.previous.pt", Detector(DetectorConfig()), metadata=both.to_metadata()
    )
    before = earlier.read_bytes()
    capsys.readouterr()
    assert main([*args, "--init", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{earlier}, the earlier version kept of {out}, holds the only copy of apo" in err
    assert earlier.read_bytes() == before
    # starting from the earlier version itself: it is kept (the next one is m.previous-2.pt)
    assert main([*args, "--init", str(earlier), "--mode", "continual"]) == 0
    assert earlier.read_bytes() == before
    assert (tmp_path / "m.previous-2.pt").is_file()


def test_the_resize_refusal_leaves_vesicles_and_fibers_alone():
    """Vesicle and fiber sizes vary from micrograph to micrograph: more clicks of a vesicle
    data set on micrographs of larger vesicles is no other protein (a review of the
    refusal of a data set trained at another particle size)."""
    import argparse
    from types import SimpleNamespace

    import pandas as pd

    from napari_cryopick.cli import CLIError
    from napari_cryopick.cli._train import _refuse_resized_dataset
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    metadata = ModelCard(datasets=(DatasetCard("ves", 185.0),)).to_metadata()
    args = argparse.Namespace(
        allow_resize=False, dataset="ves", head=None, annotations=False, init="m.pt", mode=None
    )
    for kind, refused in (("vesicle", False), ("particle", True)):
        picks = pd.DataFrame({"x": [1.0], "y": [1.0], "kind": [kind]})
        training_set = SimpleNamespace(name="ves", diameter_px=[250.0], picks=[picks])
        request = SimpleNamespace(datasets=[training_set])
        if refused:
            with pytest.raises(CLIError, match="185 px; this run's particles are 250 px"):
                _refuse_resized_dataset(args, request, metadata, "continual")
        else:
            _refuse_resized_dataset(args, request, metadata, "continual")


def test_writing_over_a_model_counts_the_users_data_sets_not_the_general_models(
    tmp_path, training_set
):
    """A review: a New model run over ribosome.pt, fine-tuned from the bundled model, was
    asked about losing sim_sphere and ten more of the general model's own data sets."""
    from napari_cryopick.core.model import load_checkpoint, save_checkpoint
    from napari_cryopick.core.model.bundled import bundled_model_path
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    model, metadata = load_checkpoint(bundled_model_path())
    pretrained = list(checkpoint_datasets(bundled_model_path()))
    out = tmp_path / "toy.pt"
    save_checkpoint(out, model, metadata={**metadata, "datasets": [*pretrained, "toy"]})
    lost = train_workflow.datasets_lost_by_writing(_request(training_set, out, mode="new"))
    assert lost == (("toy",), ())
    save_checkpoint(out, model, metadata={**metadata, "datasets": [*pretrained, "toy", "b"]})
    lost = train_workflow.datasets_lost_by_writing(_request(training_set, out, mode="new"))
    assert lost == (("toy", "b"), ("b",))
    # a user's own data set of a name the general model has too is the user's (a review)
    own = {k: v for k, v in metadata.items() if k != "general_model"}
    save_checkpoint(out, model, metadata={**own, "datasets": ["vesicles"]})
    lost = train_workflow.datasets_lost_by_writing(_request(training_set, out, mode="new"))
    assert lost == (("vesicles",), ("vesicles",))


def test_the_train_widgets_resize_question_follows_the_refusals_rule(training_set):
    """A review: the Train widget asked about a data set trained at another size in pixels
    only (the same protein on 2x-binned micrographs, a vesicle set of larger vesicles),
    where cryopick train compares in Å and leaves vesicles and fibers alone. One rule:
    ``resized_datasets``, which ``base_model_warnings`` is given."""
    from types import SimpleNamespace

    import pandas as pd

    from napari_cryopick.core.model.card import DatasetCard, ModelCard
    from napari_cryopick.workflows.train import resized_datasets

    run = {"mode": "new", "datasets": ["prot"], "diameter_A": 120.0}
    metadata = ModelCard(datasets=(DatasetCard("prot", 40.0),), history=(run,)).to_metadata()
    particles = [pd.DataFrame({"x": [1.0], "y": [1.0], "kind": ["particle"]})]

    def run_of(diameter_px, diameter_A=None, picks=particles):
        return SimpleNamespace(
            name="prot", diameter_px=[diameter_px], diameter_A=diameter_A, picks=picks
        )

    assert resized_datasets(metadata, [run_of(80.0, 120.0)]) == {}  # 2x binned, same Å
    assert resized_datasets(metadata, [run_of(80.0, 200.0)]) == {"prot": (120.0, 200.0, "Å")}
    assert resized_datasets(metadata, [run_of(80.0)]) == {"prot": (40.0, 80.0, "px")}
    assert resized_datasets(metadata, [run_of(44.0)]) == {}  # within 25 %
    vesicles = [pd.DataFrame({"x": [1.0], "y": [1.0], "kind": ["vesicle"]})]
    assert resized_datasets(metadata, [run_of(80.0, picks=vesicles)]) == {}
    # base_model_warnings says a resize by that rule (the widget asks by the note's kind)
    first = drive(train(_request(training_set, None, mode="new")))  # "toy" at 20 px
    for resized_sets, kinds in (({}, [""]), ({"toy": (120.0, 200.0, "Å")}, ["resized"])):
        notes = train_workflow.base_model_warnings(
            "continual", first.model, first.metadata, {"toy": 60.0}, resized_sets=resized_sets
        )
        said = [n for n in notes if "'toy' is already in the model" in n]
        assert [n.kind for n in said] == kinds, said
    assert "trained at 120 Å, this run at 200 Å, which becomes its diameter" in said[0]


def test_picking_micrographs_of_another_size_than_the_training_ones_is_warned_of(tmp_path, caplog):
    """A scale trial: a model trained on 1024 px micrographs without pixel sizes picked
    2x upsampled copies at its 56 px (AP 0), unsaid. The training records its
    micrographs' size; picking micrographs 1.5 times larger or smaller at the trained
    pixels, with no pixel sizes to tie them, says so with the diameter to give."""
    import logging

    from scipy import ndimage

    from napari_cryopick.cli import main
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=2, clicked=2)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main(args) == 0
    _model, metadata = load_checkpoint(tmp_path / "m.pt")
    assert metadata["history"][-1]["micrograph_px"] == {tmp_path.name: [256, 256]}
    image = read_micrograph(tmp_path / "mics" / "m1.mrc").data
    (tmp_path / "x2").mkdir()
    write_mrc(tmp_path / "x2" / "big.mrc", ndimage.zoom(image, 2, order=1))
    pick = ["pick", "--model", str(tmp_path / "m.pt"), "--format", "csv", "--threads", "1"]
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert main([*pick, str(tmp_path / "x2"), "--out", str(tmp_path / "p1")]) == 0
    assert "big: 512x512 px, 2 times the 256x256 px micrographs the model was trained" in (
        caplog.text
    ), caplog.text
    assert "give --diameter 80" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        given = [*pick, str(tmp_path / "x2"), "--diameter", "80", "--out", str(tmp_path / "p2")]
        assert main(given) == 0
        assert main([*pick, str(tmp_path / "mics"), "--out", str(tmp_path / "p3")]) == 0
    assert "times the" not in caplog.text
    # a model of two data sets of 256 and 512 px micrographs picks each without a word (a
    # review: its own 256 px micrographs were told to halve the diameter, the last data
    # set's 512 px taken for every one's)
    (tmp_path / "beta").mkdir()
    _simulated_clicks(tmp_path / "beta", (512, 512), 40, micrographs=1, clicked=1)
    for folder, suffix in (("mics", ".mrc"), ("picks", ".csv")):
        (tmp_path / "beta" / folder / f"m0{suffix}").rename(
            tmp_path / "beta" / folder / f"b0{suffix}"
        )
    joint = ["train", "--micrographs", str(tmp_path / "mics"), str(tmp_path / "beta" / "mics")]
    joint += ["--picks", str(tmp_path / "picks"), str(tmp_path / "beta" / "picks")]
    joint += ["--diameter", "40", "--out", str(tmp_path / "joint.pt"), "--device", "cpu"]
    joint += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main(joint) == 0
    _model, metadata = load_checkpoint(tmp_path / "joint.pt")
    assert sorted(map(tuple, metadata["history"][-1]["micrograph_px"].values())) == [
        (256, 256),
        (512, 512),
    ]
    pick[pick.index(str(tmp_path / "m.pt"))] = str(tmp_path / "joint.pt")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        for i, folder in enumerate((tmp_path / "mics", tmp_path / "beta" / "mics")):
            assert main([*pick, str(folder), "--out", str(tmp_path / f"j{i}")]) == 0
    assert "times the" not in caplog.text, caplog.text


def test_cli_train_from_a_general_model_that_sees_the_particles_says_so(tmp_path, capsys):
    from napari_cryopick.cli import main

    args = _simulated_clicks(tmp_path, (384, 384), 30, micrographs=2, clicked=2)
    args += ["--steps", "8", "--batch-size", "2", "--crop-size", "128", "--threads", "1"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "note: the starting model already sees these particles" in said
    assert "note: with few clicks (" in said
    assert main(["info", str(tmp_path / "m.pt")]) == 0
    assert "s the whole job)" in capsys.readouterr().out


def test_cli_train_ends_with_the_pick_command_for_the_data_set(tmp_path, capsys):
    """The last line is the next step: picking the training micrographs' folder (which
    holds one not clicked) with the model."""
    import shlex

    from napari_cryopick.cli import main

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=3, clicked=2)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    # one micrograph named as a file, the other by its folder: one folder to pick
    mics = tmp_path / "mics"
    args[2:3] = [str(mics / "m0.mrc"), str(mics)]
    assert main(args) == 0, capsys.readouterr().err
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("next: cryopick pick ")
    command = shlex.split(last.removeprefix("next: "))
    assert command[2:] == [str(mics), "--model", str(tmp_path / "m.pt"), "--out", "picks_m"]
    out = tmp_path / "picked"
    assert main([*command[1:-1], str(out), "--threads", "1", "--format", "csv"]) == 0
    assert sorted(p.name for p in out.glob("*.csv")) == ["m0.csv", "m1.csv", "m2.csv"]


def test_the_pick_command_names_cryopick_as_it_was_started(tmp_path, monkeypatch):
    """``.venv/bin/cryopick`` typed, not on PATH: the next command says that path."""
    from napari_cryopick.cli._train import _next_command

    typed = tmp_path / "venv" / "bin" / "cryopick"
    typed.parent.mkdir(parents=True)
    typed.write_text("")
    typed.chmod(0o755)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("sys.argv", [str(typed), "train"])
    assert _next_command([tmp_path], tmp_path / "m.pt").startswith(f"{typed} pick ")
    monkeypatch.setenv("PATH", str(typed.parent))  # the one on PATH: its name
    assert _next_command([tmp_path], tmp_path / "m.pt").startswith("cryopick pick ")
    monkeypatch.setattr("sys.argv", ["/x/__main__.py", "train"])  # python -m
    assert _next_command([tmp_path], tmp_path / "m.pt").startswith("cryopick pick ")


def test_cli_train_says_clicks_that_sit_on_nothing_the_others_sit_on(tmp_path, capsys, caplog):
    """A trial's clicks of one micrograph trained on another (AP 0.07 against 0.57), unsaid."""
    import logging
    import shutil

    import pandas as pd

    from napari_cryopick.cli import main

    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    args = _simulated_clicks(tmp_path, (640, 640), 90, micrographs=3, clicked=3)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    assert "sit on nothing" not in caplog.text
    assert "mirrored" not in caplog.text
    caplog.clear()
    picks = tmp_path / "picks"
    own = pd.read_csv(picks / "m0.csv")
    shutil.copy(picks / "m1.csv", picks / "m0.csv")
    assert main(args) == 0, capsys.readouterr().err  # said, and trained as asked
    assert ": the clicks on m0 sit on nothing the other micrographs' clicks sit on" in caplog.text
    assert "m1 sit" not in caplog.text
    assert "m2 sit" not in caplog.text
    # every file counting y from the bottom: said to look mirrored, with the option
    caplog.clear()
    own.to_csv(picks / "m0.csv", index=False)
    for name in ("m0", "m1", "m2"):
        table = pd.read_csv(picks / f"{name}.csv")
        table.assign(y=639 - table["y"]).to_csv(picks / f"{name}.csv", index=False)
    assert main([*args, "--allow-mirrored"]) == 0, capsys.readouterr().err
    assert ": the clicks look mirrored top to bottom" in caplog.text
    assert "cryopick train's --flip-y mirrors them" in caplog.text
    # without --allow-mirrored: stopped before training, the model left as it was
    model = Path(args[args.index("--out") + 1])
    before = model.read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the clicks look mirrored top to bottom" in err
    assert "nothing was trained" in err
    assert model.read_bytes() == before


def test_cli_train_names_every_micrograph_whose_clicks_look_mirrored(tmp_path, capsys):
    """A review: the refusal named the first of two mirrored pick files only (fixed, and
    rerun: refused on the second); with -v it gave a traceback and exit status 1."""
    import pandas as pd

    from napari_cryopick.cli import main

    args = _simulated_clicks(tmp_path, (640, 640), 90, micrographs=5, clicked=5)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    for name in ("m0", "m3"):
        path = tmp_path / "picks" / f"{name}.csv"
        table = pd.read_csv(path)
        table.assign(y=639 - table["y"]).to_csv(path, index=False)
    assert main(["-v", *args]) == 2
    err = capsys.readouterr().err
    assert "the clicks on m0 look mirrored top to bottom" in err, err
    assert "the clicks on m3 look mirrored top to bottom" in err
    assert "Traceback" not in err
    assert err.count("nothing was trained") == 1
    assert not (tmp_path / "m.pt").exists()


def test_cli_continual_on_a_data_set_the_folder_names_chose_is_refused(tmp_path, capsys):
    """A trial's two proteins in folders of one name became one data set: continual
    retrained the first one's head on the second protein (AP 0.60 -> 0.01)."""
    from napari_cryopick.cli import main

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=1, clicked=1)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main(args) == 0, capsys.readouterr().err
    main_output_of_new_model = capsys.readouterr().out  # a new model: the loss alone
    assert "(loss " in main_output_of_new_model
    first = tmp_path / "m.pt"
    again = [*args, "--mode", "continual", "--init", str(first)]
    again[again.index("--out") + 1] = str(tmp_path / "c.pt")
    assert main(again) == 2
    err = capsys.readouterr().err
    name = tmp_path.name
    assert f"data set {name!r} (from the folder names) is already in {first}" in err
    assert f"give --dataset {name} to retrain it" in err
    assert not (tmp_path / "c.pt").exists()
    # particles of another size in a folder of the same name: another protein, said so
    # at once (a trial followed "give --dataset" and met the size refusal next)
    bigger = list(again)
    bigger[bigger.index("--diameter") + 1] = "80"
    assert main(bigger) == 2
    err = capsys.readouterr().err
    assert "trained at 40 px; these micrographs' particles are 80 px: another protein" in err
    assert f"Give --dataset NAME to add it as a data set of its own (--dataset {name} " in err
    # micrographs of two folders: --dataset would name both (a continual trial followed
    # the one-set advice and trained its second protein into the first one's head)
    import shutil

    (tmp_path / "other" / "protein").mkdir(parents=True)
    shutil.copy(tmp_path / "mics" / "m0.mrc", tmp_path / "other" / "protein" / "o0.mrc")
    shutil.copy(tmp_path / "picks" / "m0.csv", tmp_path / "picks" / "o0.csv")
    two = list(again)
    two[two.index("--micrographs") + 1 : two.index("--micrographs") + 2] = [
        str(tmp_path / "mics"),
        str(tmp_path / "other" / "protein"),
    ]
    assert main(two) == 2
    err = capsys.readouterr().err
    assert "these micrographs are of 2 data sets by their folders" in err, err
    assert "Train each folder in a run of its own" in err
    (tmp_path / "picks" / "o0.csv").unlink()
    # named: trained as asked, the same data set or a new one
    assert main([*again, "--dataset", name]) == 0, capsys.readouterr().err
    # its loss says its terms (a trial read "loss 9.919" against a new model's 2.29)
    said = capsys.readouterr().out
    assert re.search(r"\(loss [\d.]+: detection [\d.]+ \+ .*distill [\d.]+", said), said
    assert "detection" not in main_output_of_new_model
    # its plan says the steps are at most those given (a CLI trial read "1000 steps" at the
    # start and "of at most 915 steps" at the end)
    assert "up to 2 steps (fewer for few picks: " in said, said
    assert main([*again, "--dataset", "other", "--out", str(tmp_path / "d.pt")]) == 0


def test_cli_continual_from_the_bundled_model_on_a_set_it_holds_by_folder_name_is_refused(
    tmp_path, capsys
):
    """A trial's folder empiar10028_ribosome, --mode continual without --init: the bundled
    model's head of that name was retrained on 59 clicks (865 labels before), warned only,
    where the same clash with --init is refused."""
    from napari_cryopick.cli import main
    from napari_cryopick.core.model.bundled import bundled_model_path
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    name = "vesicles"
    assert name in checkpoint_datasets(bundled_model_path())
    folder = tmp_path / name
    folder.mkdir()
    args = _simulated_clicks(folder, (256, 256), 12, micrographs=1, clicked=1)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main([*args, "--mode", "continual"]) == 2
    err = capsys.readouterr().err
    assert f"data set {name!r} (from the folder names) is already in the bundled general" in err
    # (the bundled model's vesicles are not these 40 px particles: said as another protein)
    assert "particles are 40 px: another protein under its name? Give --dataset NAME" in err
    assert not (folder / "m.pt").exists()
    # named: trained as asked
    assert main([*args, "--mode", "continual", "--dataset", "mine"]) == 0, capsys.readouterr().err


def test_cli_train_takes_micrographs_without_picks_and_says_which(tmp_path, capsys, caplog):
    """The rest of a data set in --micrographs is not refused: named, left out of training."""
    import logging

    from napari_cryopick.cli import main

    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    # m2: not clicked
    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=3, clicked=2)
    args += ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    empty = tmp_path / "picks" / "m2.csv"
    empty.write_text("x,y\n")  # its file without rows is named too (a re-trial)
    assert main(args) == 0, capsys.readouterr().err
    assert "on 2 micrograph(s)" in capsys.readouterr().out
    assert "1 of 3 micrographs have no picks and are not trained on (m2)" in caplog.text
    assert f"a file without rows holds no picks: {empty})" in caplog.text
    # a micrograph list naming a file that does not exist: said (a RELION trial's misnamed
    # micrograph was listed as any other without picks)
    listed = tmp_path / "micrographs.star"
    rows = [tmp_path / "mics" / n for n in ("m0.mrc", "m1.mrc", "gone.mrc")]
    listed.write_text("data_micrographs\n\nloop_\n_rlnMicrographName #1\n"
                      + "".join(f"{row}\n" for row in rows))  # fmt: skip
    caplog.clear()
    assert main([*args[:2], str(listed), *args[3:]]) == 0, capsys.readouterr().err
    assert "(gone): pick them" in caplog.text
    assert f"; no such file: {rows[2]}" in caplog.text
    empty.unlink()
    # junk marked on m2 (negatives only): trained on for them (a trial's were dropped)
    junk = tmp_path / "m2_junk.csv"
    junk.write_text("x,y\n30,30\n200,60\n")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    assert main([*args, "--negatives", str(junk)]) == 0, capsys.readouterr().err
    assert "on 3 micrograph(s) of data set" in capsys.readouterr().out
    assert "1 micrograph(s) hold negatives only and are trained on for them: m2" in caplog.text
    # negatives only, their names matched: said so (the hint on names sent a trial astray)
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "m0.csv").write_text("x,y\n")
    only = [*args[:4], str(tmp_path / "none"), *args[5:], "--negatives", str(junk)]
    assert main(only) == 2
    err = capsys.readouterr().err
    assert "only negatives (2 on 1 micrograph(s)) (the pick files hold no particles" in err
    assert "training needs particles too" in err


def test_training_picks_of_binned_micrographs_are_scaled(tmp_path):
    """--picks-binning: Topaz coordinates of 4x binned micrographs land on the particles."""
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.inputs import training_sets_from_files

    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    write_mrc(tmp_path / "mics" / "m0.mrc", np.random.default_rng(0).normal(size=(256, 256)))
    (tmp_path / "picks" / "m0.csv").write_text("x,y\n10,20\n40,50\n")
    # pixel centres: (x + 0.5) * 4 - 0.5 (core.pick_table.binned_to_original)
    for binning, expected in ((1.0, [10.0, 40.0]), (4.0, [41.5, 161.5])):
        _sets, picks = training_sets_from_files(
            [tmp_path / "mics"], [tmp_path / "picks"], diameter_px=20.0, picks_binning=binning
        )
        np.testing.assert_allclose(sorted(picks["x"]), expected)
    with pytest.raises(ValueError, match="--picks-binning must be > 0"):
        training_sets_from_files(
            [tmp_path / "mics"], [tmp_path / "picks"], diameter_px=20.0, picks_binning=0.0
        )


def test_cli_train_stopped_by_ctrl_c_says_what_became_of_the_model(tmp_path, capsys, monkeypatch):
    # a trial's Ctrl-C during `cryopick train` printed only "cryopick: interrupted"
    from napari_cryopick.cli import main
    from napari_cryopick.core import progress

    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=2, clicked=2)

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(progress, "drive", interrupted)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"{tmp_path / 'm.pt'} is not written" in err
    assert "cryopick: interrupted" in err
    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.core.model.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "m.pt", Detector(DetectorConfig()))  # an earlier model
    earlier = (tmp_path / "m.pt").read_bytes()
    assert main(args) == 130
    assert "is left as it was" in capsys.readouterr().err
    assert (tmp_path / "m.pt").read_bytes() == earlier


def test_base_model_warnings_name_the_callers_controls(training_set):
    """The CLI's advice names options; the widget's names its boxes (no "--mode" in napari)."""
    first = drive(train(_request(training_set, None, mode="new")))
    other = {"other": 20.0}
    cli = train_workflow.base_model_warnings("continual", first.model, first.metadata, other)
    widget = train_workflow.base_model_warnings(
        "continual", first.model, first.metadata, other, train_workflow.WIDGET_WORDING
    )
    assert len(cli) == len(widget) == 1
    assert "(trained with --mode new)" in cli[0]
    assert "--head toy" in cli[0]
    assert "(trained with the New model mode)" in widget[0]
    assert "the head toy in Pick's Head box" in widget[0]
    assert "--" not in widget[0]
    again = train_workflow.base_model_warnings(
        "fewshot", first.model, first.metadata, {"toy": 20.0}, train_workflow.WIDGET_WORDING
    )
    assert "the Few-shot mode retrains its head" in again[0]
    assert "another name in the Data set box" in again[0]


def test_a_fine_tune_on_fewer_labels_than_the_data_set_was_learnt_from_is_said(
    training_set, caplog
):
    """A trial: cryopick train on 59 clicks, then a napari fine-tune on 7 corrections,
    which learnt the 7 alone (AP 0.871 -> 0.836), unsaid."""
    first = drive(train(_request(training_set, None, mode="new")))  # data set "toy"
    learnt = first.card.dataset("toy").labels
    assert learnt == sum(len(t) for t in training_set.picks)
    for mode in ("finetune", "joint"):
        notes = train_workflow.base_model_warnings(
            mode, first.model, first.metadata, {"toy": 20.0}, labels={"toy": 3}
        )
        said = [n for n in notes if "'toy' is already in the model, learnt from" in n]
        assert said == [
            f"data set 'toy' is already in the model, learnt from {learnt} labels on 2 "
            f"micrograph(s); --mode {mode} retrains the model on this run's 3 labels alone, so "
            "what it learnt from the others may be lost: give their pick files too (--picks, "
            "or --annotations for napari's labels)"
        ], notes
        more = train_workflow.base_model_warnings(
            mode, first.model, first.metadata, {"toy": 20.0}, labels={"toy": learnt}
        )
        assert not [n for n in more if "learnt from" in n]
    widget = train_workflow.base_model_warnings(
        "finetune", first.model, first.metadata, {"toy": 20.0},
        train_workflow.WIDGET_WORDING, labels={"toy": 3},
    )  # fmt: skip
    (said,) = [n for n in widget if "learnt from" in n]
    assert "the Fine-tune mode retrains the model on this run's 3 labels alone" in said
    assert "Review's Load picks… then Pick's Use as training labels" in said
    # continual says it too (a trial: 18 clicks on the micrographs of 59, told "adds")
    (continual,) = train_workflow.base_model_warnings(
        "continual", first.model, first.metadata, {"toy": 20.0}, labels={"toy": 3}
    )
    assert (
        f"retrains its head on these micrographs alone (3 labels, its last training's {learnt})"
        in continual
    )
    # a training says it (the command line logs it): one micrograph of the two
    import logging

    one = replace(
        training_set, micrographs=training_set.micrographs[:1], picks=training_set.picks[:1],
        names=["t0"],
    )  # fmt: skip
    request = _request(one, None, mode="finetune", base_model=first.model)
    request = replace(request, base_metadata=first.metadata)
    with caplog.at_level(logging.WARNING):
        drive(train(request))
    assert f"learnt from {learnt} labels on 2 micrograph(s); --mode finetune retrains the " in (
        caplog.text
    )


def test_micrographs_the_model_holds_as_another_data_sets_are_named(training_set, caplog):
    """A trial trained apoferritin's micrographs under the ribosome's name (62 px against
    56, within the size check): the ribosome fell from AP 0.85 to 0.68, said only as
    "already in the model". The model's exemplar bank knows those micrographs."""
    import logging

    first = drive(train(_request(training_set, None, mode="new")))  # "toy": t0, t1
    other = replace(training_set, name="ribo")
    request = replace(
        _request(other, None, mode="continual", base_model=first.model),
        base_metadata=first.metadata,
    )
    with caplog.at_level(logging.WARNING):
        outcome = drive(train(request))
    assert (
        "data set 'ribo': t0, t1 are micrographs of data set 'toy' in the starting model (its "
        "exemplars): if they show 'toy''s protein, train them under that name" in caplog.text
    )
    # other micrographs: nothing said
    fresh = replace(training_set, name="ribo", names=["u0", "u1"])
    assert train_workflow.micrographs_of_other_datasets(outcome.metadata, {"x": ["u9"]}) == []
    assert not train_workflow.micrographs_of_other_datasets(first.metadata, {"ribo": fresh.names})


def test_a_data_set_name_one_letter_off_the_models_is_warned_about(training_set):
    # a trial's `cryopick train --head ribosme` made a fifth head and a second exemplar bank
    # of the ribosome's micrographs without a word
    first = drive(train(_request(training_set, None, mode="new")))  # data set "toy"
    notes = train_workflow.base_model_warnings(
        "continual", first.model, first.metadata, {"toys": 20.0}
    )
    assert any("'toys' is new to the model, which holds 'toy'" in n for n in notes)
    assert any("if these micrographs are of data set 'toy', train" in n for n in notes)
    other = train_workflow.base_model_warnings(
        "continual", first.model, first.metadata, {"apoferritin": 20.0}
    )
    assert not any("is new to the model" in n for n in other)


def test_finetuning_a_data_set_at_another_size_is_warned_about(training_set):
    # a CLI trial fine-tuned apoferritin micrographs in a folder named bgal: β-gal's head
    # and bank took them, at 62 px instead of 108, unsaid (continual and fewshot refuse)
    from napari_cryopick.core.model.card import ModelCard

    first = drive(train(_request(training_set, None, mode="new")))  # data set "toy"
    [toy] = ModelCard.from_metadata(first.metadata).datasets
    for mode in ("finetune", "joint"):
        notes = train_workflow.base_model_warnings(
            mode, first.model, first.metadata, {"toy": 3 * toy.diameter_px}
        )
        said = [n for n in notes if "'toy' is already in the model" in n]
        assert said == [
            f"data set 'toy' is already in the model, trained at {toy.diameter_px:.0f} px; "
            f"this run's micrographs are at {3 * toy.diameter_px:.0f} px, which becomes its "
            "diameter: if they are another protein, give another --dataset name with --mode "
            f"continual (a head of its own; --mode {mode} moves the whole model), which keeps "
            "'toy' as it is"
        ], notes
        # the Train widget asks before such a run by this kind, not by the words
        assert [n.kind for n in said] == ["resized"]
        same = train_workflow.base_model_warnings(
            mode, first.model, first.metadata, {"toy": toy.diameter_px}
        )
        assert not [n for n in same if "is already in the model" in n]
    for mode in ("continual", "fewshot"):
        notes = train_workflow.base_model_warnings(
            mode, first.model, first.metadata, {"toy": 3 * toy.diameter_px}
        )
        assert [n.kind for n in notes if "'toy' is already in the model" in n] == ["resized"]
        same = train_workflow.base_model_warnings(
            mode, first.model, first.metadata, {"toy": toy.diameter_px}
        )
        assert [n.kind for n in same if "'toy' is already in the model" in n] == [""]


def test_a_given_diameter_the_clicks_contradict_is_warned_about(real_data_dir):
    """The Train widget's check (a trial typed 20 px for 108 px particles, unsaid)."""
    import pandas as pd

    from napari_cryopick.io.micrographs import read_micrograph
    from napari_cryopick.workflows.train import TrainingSet, diameter_warnings

    folder = real_data_dir / "empiar10028_ribosome"
    names = ["061_10028", "062_10028"]
    micrographs = [read_micrograph(folder / "micrographs" / f"{n}.png") for n in names]
    picks = [
        pd.read_csv(folder / "picks" / f"{n}.csv").head(15).assign(kind="particle", diameter=d)
        for n, d in zip(names, (56.0, 56.0), strict=True)
    ]
    negative = pd.DataFrame({"x": [5.0], "y": [5.0], "kind": ["negative"], "diameter": [56.0]})
    picks[0] = pd.concat([picks[0], negative], ignore_index=True)  # not measured

    def warnings_at(diameter):
        training_set = TrainingSet("ribo", micrographs, picks, diameter_px=[diameter] * 2)
        return diameter_warnings([training_set])

    assert warnings_at(56.0) == []
    (text,) = warnings_at(20.0)
    assert text.startswith("data set 'ribo': the given particle diameter 20 px differs")
    assert "around the 30 clicks" in text
    # the picks' own diameters (nothing given): nothing to check
    assert diameter_warnings([TrainingSet("ribo", micrographs, picks, diameter_px=None)]) == []
    # a micrograph of vesicles only (its own large size) does not count (a review: the
    # median of 56, 300, 300 px was compared with the particles)
    vesicles = pd.DataFrame({"x": [300.0], "y": [300.0], "kind": ["vesicle"], "diameter": [300.0]})
    mixed = TrainingSet(
        "ribo", [*micrographs, micrographs[0].data], [*picks, vesicles], [56.0, 56.0, 300.0]
    )
    assert diameter_warnings([mixed]) == []
    # too few clicks to measure: nothing said
    few = [t.head(3) for t in picks]
    assert diameter_warnings([TrainingSet("ribo", micrographs, few, diameter_px=20.0)]) == []


def test_the_training_preview_of_a_fiber_model_is_what_pick_gives(training_set, make_blobs):
    """A trial: right after training a fiber model the preview (picked with the point
    picker, points a width apart) showed and exported fragments; Pick on the same model
    traced whole paths. The preview is now Pick's own unit of work."""
    import numpy as np

    from napari_cryopick.io.micrographs import Micrograph
    from napari_cryopick.workflows.pick import MicrographPicks, PickRequest, pick_one, prepare

    fibers = TrainingSet(
        "fibers",
        training_set.micrographs,
        [table.assign(kind="fiber", tube_id=1) for table in training_set.picks],
        20.0,
    )
    image = make_blobs(5)[0]
    events = []
    request = _request(fibers, None, kinds=("fiber",), preview=image, preview_every=2)
    outcome = drive(train(request), events.append)
    final = [e for e in events if isinstance(e, TrainPreview) and e.final][-1]
    assert isinstance(final.result, MicrographPicks)
    micrograph = Micrograph(image, name="preview")
    picked = pick_one(
        prepare(
            PickRequest(
                micrographs=[micrograph],
                model=outcome.model,
                metadata=outcome.metadata,
                diameter_px=20.0,
                device="cpu",
            )
        ),
        micrograph,
    )
    assert len(picked.fiber_paths) > 0  # something traced: the comparison says something
    assert len(final.result.fiber_paths) == len(picked.fiber_paths)
    for shown, traced in zip(final.result.fiber_paths, picked.fiber_paths, strict=True):
        np.testing.assert_allclose(shown, traced)
    assert final.result.threshold == picked.threshold
    np.testing.assert_allclose(final.result.picks[["x", "y"]], picked.picks[["x", "y"]])


def test_picks_of_no_kind_the_model_detects_are_refused_before_training(
    tmp_path, training_set, make_config, monkeypatch
):
    """A trial's few-shot run from a vesicle model on particle clicks trained on nothing."""
    from napari_cryopick.core import continual
    from napari_cryopick.core.model import Detector, save_checkpoint

    vesicles = save_checkpoint(tmp_path / "v.pt", Detector(make_config(kinds=("vesicle",))))

    def never(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(continual, "train_model", never)
    for mode in ("fewshot", "continual", "finetune"):
        request = _request(training_set, tmp_path / "e5.pt", mode=mode, base_model=vesicles)
        with pytest.raises(ValueError) as refused:
            next(train(request))
        message = str(refused.value)
        assert "\n" not in message
        assert f"its picks are of kind particle and the model {vesicles} detects only vesicle" in (
            message
        )
        assert "(--mode new)" in message
        assert "(another --init)" in message
    assert not (tmp_path / "e5.pt").exists()
    # negatives alone teach nothing to pick, for a new model too
    negatives = replace(training_set, picks=[t.assign(kind="negative") for t in training_set.picks])
    with pytest.raises(ValueError, match="'toy': only negatives, nothing to learn"):
        next(train(_request(negatives, None, mode="new")))


def test_cli_train_refuses_picks_the_starting_model_cannot_detect(tmp_path, capsys, make_config):
    from napari_cryopick.cli import main
    from napari_cryopick.core.model import Detector, save_checkpoint

    vesicles = save_checkpoint(tmp_path / "v.pt", Detector(make_config(kinds=("vesicle",))))
    args = _simulated_clicks(tmp_path, (256, 256), 12, micrographs=1, clicked=1)
    args += ["--init", str(vesicles), "--mode", "fewshot", "--steps", "2", "--threads", "1"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "training" not in captured.out  # refused before it read as started (a trial)
    err = captured.err
    assert err.startswith(f"cryopick train: error: data set '{tmp_path.name}': its picks are")
    assert f"of kind particle and the model {vesicles} detects only vesicle" in err
    assert "--kind vesicle" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()


def test_cli_train_refuses_init_with_a_new_model(tmp_path, capsys):
    # a trial: --init with --mode new trained a fresh model, the file given unused, unsaid
    from napari_cryopick.cli import main

    args = ["train", "--micrographs", str(tmp_path), "--picks", str(tmp_path)]
    args += ["--out", str(tmp_path / "m.pt"), "--init", str(tmp_path / "old.pt")]
    assert main([*args, "--mode", "new"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cryopick train: error: --init is not used by --mode new")
    assert not (tmp_path / "m.pt").exists()


def test_cli_train_refuses_a_bad_time_limit_before_reading_anything(tmp_path, capsys, caplog):
    # a trial: the micrographs and picks were read (their notes printed) before the refusal
    from napari_cryopick.cli import main

    args = ["train", "--micrographs", str(tmp_path / "none"), "--picks", str(tmp_path)]
    assert main([*args, "--out", str(tmp_path / "m.pt"), "--time-limit", "-5"]) == 2
    err = capsys.readouterr().err
    assert err == "cryopick train: error: --time-limit must be >= 0 seconds (0: no limit), got -5\n"
    assert not caplog.records  # nothing read, nothing said before it
    assert main([*args, "--out", str(tmp_path / "m.pt"), "--time-limit", "inf"]) == 2
    assert "--time-limit must be >= 0 seconds (0: no limit), got inf" in capsys.readouterr().err
    assert not caplog.records


def test_cli_train_refuses_a_head_and_a_data_set_of_different_names(tmp_path, capsys):
    """--head names the data set as --dataset does: a trial's --head foo was dropped unsaid."""
    from napari_cryopick.cli import main

    args = ["train", "--micrographs", str(tmp_path), "--picks", str(tmp_path)]
    args += ["--out", str(tmp_path / "m.pt"), "--mode", "continual", "--device", "cpu"]
    assert main([*args, "--head", "foo", "--dataset", "bar"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cryopick train: error: --head foo and --dataset bar disagree")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()


def test_cli_train_on_pick_files_without_rows_says_they_are_empty(tmp_path, capsys):
    # a trial: a header-only STAR named after the micrograph was told how pick files are
    # matched by name
    import numpy as np

    from napari_cryopick.cli import main
    from napari_cryopick.io.micrographs import write_mrc

    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    write_mrc(tmp_path / "mics" / "m1.mrc", np.random.default_rng(0).normal(size=(64, 64)))
    (tmp_path / "picks" / "m1.star").write_text(
        "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
    )
    args = ["train", "--micrographs", str(tmp_path / "mics"), "--picks", str(tmp_path / "picks")]
    assert main([*args, "--diameter", "10", "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "their pick files hold no picks" in err
    assert "m1.star: readable, with no rows" in err
    assert "matched by its name" not in err
    assert not (tmp_path / "m.pt").exists()
    # a file given by name, whatever its name (a CLI trial's --picks headeronly.star)
    one = tmp_path / "headeronly.star"
    (tmp_path / "picks" / "m1.star").rename(one)
    args = ["train", "--micrographs", str(tmp_path / "mics"), "--picks", str(one)]
    assert main([*args, "--diameter", "10", "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "headeronly.star: readable, with no rows" in err
    assert "matched by its name" not in err


def test_the_threshold_calibration_names_its_micrographs_in_its_messages():
    # a re-trial's calibration warned "1: the cap of 2331 fiber picks was reached"
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.workflows.train import _calibration_names

    tables = [make_picks([1.0], [2.0], micrograph=name) for name in ("sim_0000", "sim_0001")]
    assert _calibration_names(tables) == ["sim_0000", "sim_0001"]
    # names join the candidates to their truth: unnamed or repeated ones are numbered
    assert _calibration_names([tables[0], tables[0]]) is None
    assert _calibration_names([make_picks([1.0], [2.0])]) is None


def test_a_model_file_another_job_wrote_meanwhile_is_not_replaced(tmp_path, training_set, caplog):
    # a trial: two trainings into one file (--init busy.pt --out busy.pt), the second
    # started 12 s after the first: the first's model survived only as busy.previous.pt,
    # which the next training replaces
    import logging
    import os

    out = tmp_path / "busy.pt"
    drive(train(_request(training_set, out, run_info={"tool": "before"})))
    job = train(_request(training_set, out, run_info={"tool": "mine"}))
    next(job)  # this job has looked at busy.pt and started
    drive(train(_request(training_set, out, run_info={"tool": "other"})))  # meanwhile
    with caplog.at_level(logging.WARNING):
        outcome = drive(job)
    assert load_checkpoint(out)[1]["history"][-1]["tool"] == "other"  # left as written
    assert outcome.path == tmp_path / f"busy.{os.getpid()}.pt"
    assert load_checkpoint(outcome.path)[1]["history"][-1]["tool"] == "mine"
    assert "was written by another job while this training ran" in caplog.text


def test_a_joint_run_calibrates_each_data_sets_head_on_its_own_clicks(
    tmp_path, training_set, make_blobs, monkeypatch, capsys
):
    # a trial: a joint run of ribosome and β-gal calibrated one threshold, with the β-gal
    # head, and stored it as the generic head's; the ribosome head picked at the default
    # 0.15 and kept 98 picks (AP 0.274, where ranking every candidate gave 0.832)
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import PickRequest, head_threshold, model_threshold
    from napari_cryopick.workflows.pick import prepare as prepare_pick

    calibrated = {None: 0.12, "toy": 0.07, "other": 0.09}
    seen = []

    def fake(model, training_set, diameter_px, *, head=None, **_):
        seen.append((head, training_set.name, *sorted(set(diameter_px))))  # each micrograph's
        return calibrated[head]

    monkeypatch.setattr(train_workflow, "calibrate_threshold", fake)
    images, tables = zip(*(make_blobs(seed) for seed in range(2, 4)))
    other = TrainingSet("other", list(images), list(tables), 30.0, names=["u0", "u1"])
    out = tmp_path / "joint.pt"
    request = replace(_request(training_set, out, mode="joint"), datasets=[training_set, other])
    outcome = drive(train(request))
    # the default (generic) head on the last data set, then each head on its own data set
    assert seen == [(None, "other", 30.0), ("toy", "toy", 20.0), ("other", "other", 30.0)]
    assert outcome.pick_threshold == 0.12
    run = outcome.metadata["history"][-1]
    assert run["head_calibration"]["toy"]["pick_threshold"] == 0.07
    assert run["head_calibration"]["other"]["pick_threshold"] == 0.09
    assert set(run["head_calibration"]["toy"]) == {"pick_threshold", "pick_border"}
    card = ModelCard.of_model(*load_checkpoint(out))
    assert (head_threshold(card, "toy"), head_threshold(card, "other")) == (0.07, 0.09)
    assert model_threshold(card) == 0.12
    # cryopick info says each head's own
    from napari_cryopick.cli import main

    assert main(["info", str(out)]) == 0
    said = capsys.readouterr().out
    assert "head generic); head toy 0.07, head other 0.09 (their own trainings')" in said
    border = {h: run["head_calibration"][h]["pick_border"] for h in ("toy", "other")}
    assert f"head toy {border['toy']:g}, head other {border['other']:g} (their own" in said
    # picking the toy set's micrographs without --head: its head at its own threshold
    from napari_cryopick.io.micrographs import Micrograph

    shown = Micrograph(training_set.micrographs[0], name="t0")
    prepared = prepare_pick(
        PickRequest(micrographs=[shown], model=out, datasets={"t0": "toy"}, device="cpu")
    )
    assert (prepared.config.head, prepared.config.threshold) == ("toy", 0.07)
    # a run of one data set keeps one calibration, for the head it trained
    seen.clear()
    drive(train(_request(training_set, None, mode="joint")))
    assert seen == [("toy", "toy", 20.0)]


def test_a_training_the_time_limit_cut_to_a_few_steps_is_said():
    """A trial on a busy machine: a 20 s limit ended training after 1 of 1000 steps and
    the model was saved with nothing said but the count."""
    from types import SimpleNamespace

    from napari_cryopick.workflows.train import training_notes

    def outcome(done, planned=1000):
        return SimpleNamespace(
            previous=None,
            path=None,
            completed=True,
            history=[{}] * done,
            metadata={"history": [{"planned_steps": planned}]},
        )

    (note,) = training_notes(outcome(1), 100)
    assert note.startswith("the time limit ended training after only 1 of 1000 steps")
    assert "--time-limit" in note
    (note,) = training_notes(outcome(19, 458), 100, gui=True)
    assert "a longer time limit" in note
    assert training_notes(outcome(400), 100) == []  # most of it: the count says enough
    assert training_notes(outcome(1000), 100) == []


def test_cli_train_from_init_keeps_the_diameter_of_a_data_set_it_knows(tmp_path, capsys):
    # a trial fine-tuned a 56.4 px ribosome model on its own folder without --diameter: the
    # image estimate (52 px) was trained at, and the model picked worse
    from napari_cryopick.cli import main
    from napari_cryopick.core.model.card import ModelCard

    args = _simulated_clicks(tmp_path, (256, 256), 20, micrographs=2, clicked=2)
    short = ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    first = [*args, *short]
    first[first.index("--diameter") + 1] = "47"  # not what the image shows (40 px)
    assert main(first) == 0
    without = [a for i, a in enumerate(args) if a != "--diameter" and args[i - 1] != "--diameter"]
    without[without.index("--out") + 1] = str(tmp_path / "m2.pt")

    def trained_at(path):
        from napari_cryopick.core.model import load_checkpoint

        model, metadata = load_checkpoint(path)
        return ModelCard.of_model(model, metadata).datasets[-1].diameter_px

    assert trained_at(tmp_path / "m.pt") == 47.0
    capsys.readouterr()
    assert main([*without, *short, "--init", str(tmp_path / "m.pt")]) == 0
    assert trained_at(tmp_path / "m2.pt") == 47.0
    # a data set the model does not know: estimated from the image
    renamed = [*without, *short, "--init", str(tmp_path / "m.pt"), "--dataset", "other"]
    renamed[renamed.index("--out") + 1] = str(tmp_path / "m3.pt")
    assert main([*renamed, "--mode", "continual"]) == 0
    assert abs(trained_at(tmp_path / "m3.pt") / 40.0 - 1) < 0.25


def test_cli_trains_picks_and_shows_a_data_set_named_like_a_torch_method(tmp_path, capsys):
    """A trial's folder ``train`` (and --dataset eval, to, ...: attributes of torch modules)
    crashed continual, few-shot and joint training in add_head ("attribute 'train' already
    exists"); a --mode new model of it could never be continued."""
    import json

    from napari_cryopick.cli import main
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.core.model.card import ModelCard

    (tmp_path / "train").mkdir()
    args = _simulated_clicks(tmp_path / "train", (128, 128), 8, micrographs=1, clicked=1)
    short = ["--steps", "1", "--batch-size", "1", "--crop-size", "64", "--threads", "1"]
    first = tmp_path / "train" / "m.pt"
    assert main([*args, *short]) == 0  # --mode new: the folder names the data set train
    assert ModelCard.of_model(*load_checkpoint(first)).datasets[-1].name == "train"
    second = tmp_path / "m2.pt"
    args[args.index("--out") + 1] = str(second)
    init = ["--init", str(first), "--mode", "continual", "--dataset", "train"]
    assert main([*args, *short, *init]) == 0
    model, metadata = load_checkpoint(second)
    assert model.head_names == ("generic", "train")
    card = ModelCard.of_model(model, metadata)
    assert [d.name for d in card.datasets] == ["train"]
    assert "train" in bank_from_metadata(metadata["exemplars"]).datasets  # its exemplars
    # and continued again under another such name, from the model that has the head
    args[args.index("--out") + 1] = str(tmp_path / "m3.pt")
    init = ["--init", str(second), "--mode", "fewshot", "--dataset", "eval"]
    assert main([*args, *short, *init]) == 0
    assert load_checkpoint(tmp_path / "m3.pt")[0].head_names == ("generic", "train", "eval")
    capsys.readouterr()

    assert main(["info", str(tmp_path / "m3.pt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["heads"] == ["generic", "train", "eval"]
    micrograph = str(tmp_path / "train" / "mics" / "m0.mrc")
    pick = ["pick", micrograph, "--model", str(tmp_path / "m3.pt"), "--head", "train"]
    assert main([*pick, "--out", str(tmp_path / "picked"), "--device", "cpu"]) == 0
    assert any((tmp_path / "picked").iterdir())
    # an empty name is refused naming its option, not turned into the folder's name
    assert main([*args, *short, "--dataset", ""]) == 2
    assert "--dataset must name the data set, got an empty name" in capsys.readouterr().err
    # and names no folder selects are refused (a CLI trial's " bgal" and "a/b")
    assert main([*args, *short, "--dataset", " bgal"]) == 2
    assert "--dataset ' bgal': a name with spaces around it" in capsys.readouterr().err
    assert main([*args, *short, "--head", "a/b"]) == 2
    assert "--head 'a/b': a data set's name is one word of a folder's name" in (
        capsys.readouterr().err
    )


def test_a_model_folder_made_for_out_is_said(tmp_path, caplog):
    # a trial's typo in --out made /nonexistent_dir without a word
    import logging

    from napari_cryopick.workflows.train import check_writable

    caplog.set_level(logging.INFO, logger="napari_cryopick")
    check_writable(tmp_path / "new" / "deeper" / "m.pt")
    assert (tmp_path / "new" / "deeper").is_dir()
    assert f"created the folder {tmp_path / 'new' / 'deeper'} for the model" in caplog.text
    caplog.clear()
    check_writable(tmp_path / "new" / "deeper" / "m2.pt")  # there already: nothing said
    assert "created the folder" not in caplog.text


def test_vesicle_models_train_on_zoomed_crops_and_particle_models_do_not(
    tmp_path, training_set, monkeypatch
):
    """A GUI trial's vesicle circles came out all of one size: the size head only saw the
    clicked sizes. Vesicle models train on crops zoomed by VESICLE_SCALE_RANGE; particle
    models keep their one size (scale jitter cost them AP, session 9)."""
    from napari_cryopick.core import training as core_training

    seen = []
    real = core_training.sample_batch

    def recording(examples, model_config, config, rng):
        seen.append(config.scale_range)
        return real(examples, model_config, config, rng)

    monkeypatch.setattr(core_training, "sample_batch", recording)
    vesicles = replace(training_set, picks=[t.assign(kind="vesicle") for t in training_set.picks])
    drive(train(_request(vesicles, tmp_path / "v.pt", kinds=("vesicle",))))
    assert seen
    assert set(seen) == {train_workflow.VESICLE_SCALE_RANGE}
    seen.clear()
    drive(train(_request(training_set, tmp_path / "p.pt", kinds=("particle",))))
    assert seen
    assert set(seen) == {None}


def test_the_pick_command_names_a_list_of_micrographs_as_given(tmp_path):
    """A re-trial: ``train --micrographs lists/ok.txt`` was told ``pick lists``, a folder
    without micrographs; a list (RELION .star, cryoSPARC .cs, a .txt of paths) is given
    as it is, a micrograph stands for its folder."""
    import shlex

    from napari_cryopick.cli._train import _next_command

    listing = tmp_path / "lists" / "ok.txt"
    listing.parent.mkdir()
    listing.write_text("a.mrc\n")
    micrograph = tmp_path / "mics" / "a.mrc"
    micrograph.parent.mkdir()
    micrograph.write_bytes(b"")
    words = shlex.split(_next_command([listing, micrograph], tmp_path / "m.pt"))
    assert words[2:4] == [str(listing), str(micrograph.parent)]


def test_the_pick_command_names_no_folder_of_trained_micrographs_only(tmp_path):
    """A CLI trial trained on a folder of its three clicked micrographs and was told to
    pick that folder: the training micrographs alone. Such a folder is a placeholder now,
    said; a folder that holds others too is given as before."""
    import shlex

    from napari_cryopick.cli._train import _next_command

    folder = tmp_path / "train"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.mrc").write_bytes(b"")
    said = _next_command([folder], tmp_path / "m.pt", ["a", "b"])
    words = shlex.split(said.split(" (")[0])
    assert words[1:3] == ["pick", "MICROGRAPHS"]
    assert str(folder) not in words
    assert "the rest of the data set" in said
    assert f"every micrograph of {folder}" in said
    (folder / "c.mrc").write_bytes(b"")  # one not trained on: the folder, as given
    assert shlex.split(_next_command([folder], tmp_path / "m.pt", ["a", "b"]))[2] == str(folder)


def test_cli_train_with_init_and_no_mode_keeps_the_models_other_data_sets(tmp_path, capsys):
    """A continual trial: --init ribosome.pt on β-gal clicks fine-tuned by default and the
    ribosome went from AP 0.81 to 0.00. A new data set now trains continual (said), which
    keeps the others; more clicks of the data set the model holds still fine-tune."""
    from napari_cryopick.cli import main
    from napari_cryopick.core.model import load_checkpoint

    args = _simulated_clicks(tmp_path, (256, 256), 20, micrographs=2, clicked=2)
    short = ["--steps", "2", "--batch-size", "2", "--crop-size", "64", "--threads", "1"]
    assert main([*args, *short, "--dataset", "first"]) == 0
    out = args.index("--out") + 1
    second = [*args, *short, "--init", str(tmp_path / "m.pt"), "--dataset", "second"]
    second[out] = str(tmp_path / "m2.pt")
    capsys.readouterr()
    assert main(second) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert "--init without --mode: continual, which keeps the data sets of" in said, said
    assert "(first); --mode finetune retrains the whole model on this one" in said
    assert "training (continual)" in said
    _model, metadata = load_checkpoint(tmp_path / "m2.pt")
    assert metadata["history"][-1]["mode"] == "continual"
    assert {"first", "second"} <= set(metadata["datasets"])
    again = [*args, *short, "--init", str(tmp_path / "m.pt"), "--dataset", "first"]
    again[out] = str(tmp_path / "m3.pt")
    assert main(again) == 0
    said = capsys.readouterr().out
    assert "training (finetune)" in said, said
    assert "--init without --mode" not in said
