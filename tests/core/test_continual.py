"""Training modes (joint, finetune, continual, fewshot, new) and ``cryopick info``."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from napari_cryopick.cli import main
from napari_cryopick.core import continual
from napari_cryopick.core.exemplars import bank_from_metadata, bank_summary
from napari_cryopick.core.model import DetectorConfig, load_checkpoint, save_checkpoint
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples

torch.set_num_threads(1)

CONFIG = DetectorConfig(
    widths=(4, 8, 8, 8), feature_channels=8, head_width=8, target_diameter_px=20.0
)


def _dataset(
    name: str,
    seed: int,
    n_micrographs: int = 2,
    size: int = 96,
    blob: float = 2.5,
    diameter: float = 20.0,
):
    """Gaussian blobs on noise; diameter 20 px = the target, so no resampling."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    images, tables = [], []
    for index in range(n_micrographs):
        x = rng.uniform(12, size - 12, 8)
        y = rng.uniform(12, size - 12, 8)
        image = rng.normal(0, 0.3, (size, size))
        for xi, yi in zip(x, y):
            image += np.exp(-((cols - xi) ** 2 + (rows - yi) ** 2) / (2 * blob**2))
        images.append(image.astype(np.float32))
        tables.append(make_picks(x, y, diameter=diameter, micrograph=f"{name}_{index}"))
    examples = build_examples(images, tables, diameter, CONFIG, dataset=name)
    return continual.DatasetExamples(name, examples)


def _train_config(steps: int = 4) -> TrainConfig:
    return TrainConfig(
        steps=steps, batch_size=2, crop_size=48, device="cpu", warmup_steps=1, seed=1
    )


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _continual_config() -> continual.ContinualConfig:
    return continual.ContinualConfig(max_exemplars=10, exemplar_crop_size=48)


def _adapt(mode: str, dataset: Any, start: Any) -> Any:
    """Two steps of ``mode`` on ``dataset`` from ``start`` (a training's result)."""
    return drive(
        continual.train_model(
            mode,
            [dataset],
            base_model=start.model,
            base_metadata=start.metadata,
            train_config=_train_config(2),
            continual_config=_continual_config(),
        )
    )


@pytest.fixture(scope="module")
def joint_result():
    job = continual.train_model(
        "joint",
        [_dataset("alpha", 0), _dataset("beta", 1)],
        config=CONFIG,
        train_config=_train_config(6),
        continual_config=_continual_config(),
    )
    return drive(job)


def test_joint_builds_one_head_per_dataset_with_tie(joint_result):
    model = joint_result.model
    assert set(model.head_names) == {"generic", "alpha", "beta"}
    history = joint_result.history
    assert {"tie", "generic", "total", "heatmap"} <= set(history[0])
    # data-set heads start as copies of the generic head: tie is 0 at step 0
    assert history[0]["tie"] == 0.0
    assert max(h["tie"] for h in history) > 0.0
    assert {h["head"] for h in history} == {"alpha", "beta"}
    fresh = continual.Detector(CONFIG)
    for name in model.head_names:  # every head trained (generic through every batch)
        assert not _same(_state(model.heads[name]), _state(fresh.heads["generic"]))
    metadata = joint_result.metadata
    assert metadata["datasets"] == ["alpha", "beta"]
    assert metadata["history"][-1]["mode"] == "joint"
    assert metadata["history"][-1]["steps"] == 6
    counts = bank_summary(bank_from_metadata(metadata["exemplars"]))
    assert set(counts) == {"alpha", "beta"}
    assert all(0 < count <= 10 for count in counts.values())
    assert continual.diameter_for_head(metadata, "alpha") == pytest.approx(20.0)


def test_finetune_leaves_base_intact_and_has_no_anti_forgetting_terms(joint_result):
    base = joint_result.model
    before = _state(base)
    result = drive(
        continual.train_model(
            "finetune",
            [_dataset("gamma", 2)],
            base_model=base,
            base_metadata=joint_result.metadata,
            train_config=_train_config(3),
            continual_config=_continual_config(),
        )
    )
    assert _same(_state(base), before)
    assert "gamma" in result.model.head_names
    assert "distill" not in result.history[0]
    assert "drift" not in result.history[0]
    assert not _same(_state(result.model.body), _state(base.body))
    assert result.metadata["datasets"] == ["alpha", "beta", "gamma"]
    assert [r["mode"] for r in result.metadata["history"]] == ["joint", "finetune"]


def test_continual_distills_from_an_unchanged_frozen_copy(joint_result, monkeypatch):
    base = joint_result.model
    before = _state(base)
    frozen_copies = []
    original = continual._frozen_copy

    def spy(model, *args):
        frozen = original(model, *args)
        frozen_copies.append((frozen, _state(frozen)))
        return frozen

    monkeypatch.setattr(continual, "_frozen_copy", spy)
    result = drive(
        continual.train_model(
            "continual",
            [_dataset("gamma", 2)],
            base_model=base,
            base_metadata=joint_result.metadata,
            train_config=_train_config(8),
            continual_config=_continual_config(),
        )
    )
    ((frozen, frozen_before),) = frozen_copies
    assert _same(_state(frozen), frozen_before)  # the frozen copy never changed
    assert _same(_state(base), before)
    history = result.history
    assert {"distill", "drift", "tie", "generic"} <= set(history[0])
    # identical models at step 0: no drift, and no distillation difference
    assert history[0]["drift"] == 0.0
    assert history[0]["distill"] == 0.0
    assert history[-1]["drift"] > 0.0
    # exemplar batches of the old data sets were replayed and distilled
    assert {"alpha", "beta"} & {h["head"] for h in history}
    replayed = [h for h in history[1:] if h["head"] in ("alpha", "beta")]
    assert replayed
    assert max(h["distill"] for h in replayed) > 0.0
    assert "gamma" in {h["head"] for h in history}
    bank = bank_from_metadata(result.metadata["exemplars"])
    assert set(bank.names) == {"alpha", "beta", "gamma"}
    # the old data sets' exemplars are carried over unchanged
    old_bank = bank_from_metadata(joint_result.metadata["exemplars"])
    np.testing.assert_array_equal(bank.datasets["alpha"].crops, old_bank.datasets["alpha"].crops)


def test_fewshot_changes_only_the_new_head(joint_result):
    base = joint_result.model
    result = drive(
        continual.train_model(
            "fewshot",
            [_dataset("delta", 3)],
            base_model=base,
            base_metadata=joint_result.metadata,
            train_config=_train_config(4),
            continual_config=_continual_config(),
        )
    )
    model = result.model
    # body (weights AND batch-norm statistics) and the other heads are bit-identical
    assert _same(_state(model.body), _state(base.body))
    for name in base.head_names:
        assert _same(_state(model.heads[name]), _state(base.heads[name]))
    assert not _same(_state(model.heads["delta"]), _state(base.heads["generic"]))
    assert "tie" in result.history[0]
    assert "generic" not in result.history[0]
    assert result.metadata["history"][-1]["mode"] == "fewshot"
    assert "delta" in bank_summary(bank_from_metadata(result.metadata["exemplars"]))


def test_a_fewshot_run_leaves_the_generic_heads_diameter(joint_result):
    """A re-trial: after a few-shot head of 62 px apoferritin, the generic head picked the
    56 px ribosome it was trained on at 62 px (15 picks for 344), without a word."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import _training_run

    before = ModelCard.from_metadata(joint_result.metadata)
    result = drive(
        continual.train_model(
            "fewshot",
            [_dataset("delta", 3, diameter=30.0)],
            base_model=joint_result.model,
            base_metadata={
                **joint_result.metadata,
                "history": [{**joint_result.metadata["history"][-1], "diameter_A": 40.0}],
            },
            train_config=_train_config(2),
            continual_config=_continual_config(),
        )
    )
    card = ModelCard.from_metadata(result.metadata)
    assert card.dataset("delta").diameter_px == pytest.approx(30.0)
    assert card.diameter_for_head("delta") == pytest.approx(30.0)
    assert card.diameter_for_head("generic") == before.diameter_px == pytest.approx(20.0)
    # the generic head's training run is the one before the few-shot run (its Å)
    assert _training_run(card, "generic")["diameter_A"] == 40.0
    assert _training_run(card, "delta")["mode"] == "fewshot"
    # a starting model with no diameter of its own (the bundled general model) keeps none:
    # a docs trial's generic head picked beta-gal (108 px) at the few-shot head's 62 px,
    # AP 0.000, where the bundled model asks for --diameter
    unsized = {**joint_result.metadata, "diameter_px": None}
    assert ModelCard.from_metadata(unsized).diameter_px is None
    result = drive(
        continual.train_model(
            "fewshot",
            [_dataset("delta", 3, diameter=30.0)],
            base_model=joint_result.model,
            base_metadata=unsized,
            train_config=_train_config(2),
            continual_config=_continual_config(),
        )
    )
    card = ModelCard.from_metadata(result.metadata)
    assert card.diameter_px is None
    assert card.diameter_for_head("delta") == pytest.approx(30.0)


def test_step_limit_and_protection_apply_to_finetune_but_not_to_a_fewshot_head(joint_result):
    import dataclasses

    # 16 labels, one label-centred crop per step, 0.5 crops per label: 8 steps
    settings = dataclasses.replace(_train_config(12), views_per_label=0.5)
    runs = {}
    for mode in ("finetune", "fewshot"):
        result = drive(
            continual.train_model(
                mode,
                [_dataset("delta", 3)],
                base_model=joint_result.model,
                base_metadata=joint_result.metadata,
                train_config=settings,
                continual_config=_continual_config(),
            )
        )
        runs[mode] = result.metadata["history"][-1]
        assert len(result.history) == runs[mode]["planned_steps"]
    assert runs["finetune"]["planned_steps"] == 8
    assert "protected" in runs["finetune"]  # the base model's detections were looked for
    assert runs["fewshot"]["planned_steps"] == 12
    assert "protected" not in runs["fewshot"]


def test_fewshot_head_starts_as_the_generic_head_and_trains_all_its_layers(joint_result):
    """HydraPicker's few-shot head: a full head initialised from the generic one."""

    def fewshot(lr: float):
        config = TrainConfig(
            steps=3, batch_size=2, crop_size=48, device="cpu", warmup_steps=1, seed=2, lr=lr
        )
        return drive(
            continual.train_model(
                "fewshot",
                [_dataset("delta", 3)],
                base_model=joint_result.model,
                train_config=config,
                continual_config=continual.ContinualConfig(max_exemplars=0),
            )
        ).model

    generic = dict(joint_result.model.heads["generic"].named_parameters())
    # learning rate 0: the new head is still an exact copy of the generic head
    still = dict(fewshot(0.0).heads["delta"].named_parameters())
    assert still.keys() == generic.keys()
    assert all(torch.equal(still[k], generic[k]) for k in generic)
    # trained: every layer of the head (heatmap, offset and size branches) has moved
    moved = dict(fewshot(3e-3).heads["delta"].named_parameters())
    unchanged = [k for k in generic if torch.equal(moved[k], generic[k])]
    assert not unchanged
    assert any(k.startswith("offset") for k in moved)
    assert any(k.startswith("size") for k in moved)


def _new_alpha() -> Any:
    """Two steps of ``--mode new`` on data set alpha (only the generic head knows it)."""
    return drive(
        continual.train_model(
            "new",
            [_dataset("alpha", 0)],
            config=CONFIG,
            train_config=_train_config(2),
            continual_config=_continual_config(),
        )
    )


def test_new_mode_trains_the_generic_head_only():
    result = _new_alpha()
    assert result.model.head_names == ("generic",)
    assert {h["head"] for h in result.history} == {"generic"}
    assert result.metadata["datasets"] == ["alpha"]


def test_modes_validate_their_inputs(joint_result):
    with pytest.raises(ValueError, match="needs a base model"):
        next(continual.train_model("continual", [_dataset("a", 0)]))
    with pytest.raises(ValueError, match="unknown training mode"):
        next(continual.train_model("sideways", [_dataset("a", 0)]))
    with pytest.raises(ValueError, match="exactly one"):
        next(
            continual.train_model(
                "fewshot", [_dataset("a", 0), _dataset("b", 1)], base_model=joint_result.model
            )
        )
    with pytest.raises(ValueError, match="reserved"):
        next(continual.train_model("joint", [_dataset("generic", 0)]))


def test_closing_the_job_stops_training(joint_result):
    job = continual.train_model(
        "continual",
        [_dataset("gamma", 2)],
        base_model=joint_result.model,
        base_metadata=joint_result.metadata,
        train_config=_train_config(50),
        continual_config=_continual_config(),
    )
    steps = [next(job).step for _ in range(2)]
    job.close()
    assert steps == [1, 2]


def test_checkpoint_round_trip_and_info(joint_result, tmp_path, capsys):
    path = tmp_path / "model.pt"
    save_checkpoint(path, joint_result.model, metadata=joint_result.metadata)
    # weights_only=True works on the whole file, bank included
    raw = torch.load(path, weights_only=True)
    assert "exemplars" in raw["metadata"]
    model, metadata = load_checkpoint(path)
    assert set(model.head_names) == {"generic", "alpha", "beta"}
    counts = bank_summary(bank_from_metadata(metadata["exemplars"]))
    assert counts == bank_summary(joint_result.bank)

    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "heads: generic (default), alpha, beta" in out
    for name, count in counts.items():
        assert f"{name}: {count} exemplar particles" in out
    assert "mode=joint" in out
    assert "diameter: 20 px" in out
    # a fiber model's exemplars are crops along its fibers (a trial read "particles")
    from napari_cryopick.core.model import Detector

    fibers = tmp_path / "fibers.pt"
    config = dataclasses.replace(CONFIG, kinds=("fiber",))
    save_checkpoint(fibers, Detector(config), metadata=joint_result.metadata)
    assert main(["info", str(fibers)]) == 0
    out = capsys.readouterr().out
    name, count = next(iter(counts.items()))
    assert f"{name}: {count} exemplar crops along fibers" in out

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["info", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.pt")]) == 2


def test_info_says_whose_diameter_it_gives_when_sizes_differ(tmp_path, capsys):
    # a trial read "diameter: 108 px" as the size of a model of ribosome (56) and β-gal (108)
    from dataclasses import replace

    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    card = ModelCard(
        datasets=(DatasetCard("ribo", diameter_px=56.0), DatasetCard("bgal", diameter_px=108.0)),
        diameter_px=108.0,
    )
    path = save_checkpoint(
        tmp_path / "m.pt", Detector(DetectorConfig()), metadata=card.to_metadata()
    )
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "diameter: 108 px (of the last data set the generic head trained on; the data sets' "
        "own below)" in out
    )
    assert "ribo: " in out
    # a few-shot head trained last picks by default: its size first (a trial read the
    # generic head's 108 px, β-gal's, as the size of its apoferritin few-shot model)
    model = Detector(DetectorConfig())
    model.add_head("apof", init_from="generic")
    fewshot = ModelCard(
        heads=model.head_names,
        datasets=(*card.datasets, DatasetCard("apof", diameter_px=62.0, head="apof")),
        diameter_px=108.0,
        history=({"mode": "fewshot", "datasets": ["apof"]},),
    )
    path = save_checkpoint(tmp_path / "f.pt", model, metadata=fewshot.to_metadata())
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "diameter: 62 px (head apof, the default); the data sets' own below" in out
    # a few-shot head on a model without a diameter (the bundled one): the head's, and
    # the generic head none (a docs trial read "diameter: not stored" beside a 62 px head)
    unsized = replace(fewshot, diameter_px=None)
    path = save_checkpoint(tmp_path / "u.pt", model, metadata=unsized.to_metadata())
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "diameter: 62 px (head apof, the default); the generic head: none stored (it picks "
        "at the diameter you give)"
    ) in out
    # trained in Å (given, or measured at different pixel sizes): said (a re-trial)
    angstrom = replace(card, history=({"mode": "new", "datasets": ["ribo"], "diameter_A": 112.0},))
    path = save_checkpoint(
        tmp_path / "a.pt", Detector(DetectorConfig()), metadata=angstrom.to_metadata()
    )
    assert main(["info", str(path)]) == 0
    assert "112 Å, picked at each micrograph's pixel size" in capsys.readouterr().out


def test_info_shows_each_runs_steps_of_planned_heads_and_adopted_heads(tmp_path, capsys):
    """A head continual training adopted (a --mode new data set given its own head) was
    recorded but cryopick info dropped it, with planned_steps, completed and heads."""
    import json

    new = drive(
        continual.train_model(
            "new",
            [_dataset("alpha", 0)],
            config=CONFIG,
            train_config=_train_config(2),
            continual_config=_continual_config(),
        )
    )
    result = _adapt("continual", _dataset("beta", 1), new)
    assert result.metadata["history"][-1]["adopted_heads"] == ["alpha"]
    path = save_checkpoint(tmp_path / "model.pt", result.model, metadata=result.metadata)
    assert main(["info", str(path)]) == 0
    history = capsys.readouterr().out.split("training history: 2 run(s)")[1].splitlines()
    assert "mode=new  data sets=alpha  steps=2 of 2  model heads=generic  " in history[1]
    assert "adopted" not in history[1]
    assert "steps=2 of 2  model heads=generic,beta,alpha  adopted heads=alpha  " in history[2]

    assert main(["info", str(path), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["history"]
    assert [(r["planned_steps"], r["completed"]) for r in runs] == [(2, True), (2, True)]
    assert [r["heads"] for r in runs] == [["generic"], ["generic", "beta", "alpha"]]
    assert [r["adopted_heads"] for r in runs] == [[], ["alpha"]]
    assert "train_config" not in runs[1]  # in the checkpoint, not the summary

    # a run the time budget ended, and one stopped, say so
    cut = copy.deepcopy(result.metadata)
    cut["history"][0].update(steps=1, planned_steps=5)
    cut["history"][1].update(completed=False)
    save_checkpoint(path, result.model, metadata=cut)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "steps=1 of 5 (time budget)  model heads=generic" in out
    assert "steps=2 of 2 (stopped)  model heads=generic,beta,alpha" in out


def test_cli_mode_options_reach_the_training_request(tmp_path):
    """``cryopick train --mode ... --exemplars ... --distill-weight ...`` -> TrainRequest."""
    from napari_cryopick.cli import build_parser
    from napari_cryopick.cli._train import request_from_args
    from napari_cryopick.io.micrographs import write_mrc

    rng = np.random.default_rng(0)
    write_mrc(tmp_path / "m.mrc", rng.normal(size=(64, 64)).astype(np.float32), 2.0)
    make_picks([20.0], [30.0], micrograph="m").to_csv(tmp_path / "m.csv", index=False)
    argv = ["train", "--micrographs", str(tmp_path / "m.mrc"), "--picks", str(tmp_path / "m.csv")]
    argv += ["--diameter", "20", "--out", str(tmp_path / "o.pt"), "--mode", "continual"]
    argv += ["--exemplars", "10", "--distill-weight", "0.5"]
    args = build_parser().parse_args(argv)
    request, _picks = request_from_args(args)
    cfg = continual.ContinualConfig(**request.continual_options)
    assert (cfg.max_exemplars, cfg.distill_weight, cfg.reg_weight) == (10, 0.5, 0.01)
    assert request.resolved_mode == "continual"


def test_continual_through_the_workflow_appends_a_data_set(joint_result):
    from napari_cryopick.workflows.train import TrainingSet, TrainRequest, train

    rng = np.random.default_rng(2)
    size = 96
    rows, cols = np.mgrid[0:size, 0:size]
    images, tables = [], []
    for index in range(2):
        x, y = rng.uniform(12, size - 12, 8), rng.uniform(12, size - 12, 8)
        image = rng.normal(0, 0.3, (size, size))
        for xi, yi in zip(x, y):
            image += np.exp(-((cols - xi) ** 2 + (rows - yi) ** 2) / (2 * 2.5**2))
        images.append(image.astype(np.float32))
        tables.append(make_picks(x, y, diameter=20.0, micrograph=f"gamma_{index}"))
    request = TrainRequest(
        datasets=[TrainingSet("gamma", images, tables, 20.0)],
        mode="continual",
        base_model=copy.deepcopy(joint_result.model),
        base_metadata=joint_result.metadata,
        train_options={"steps": 2, "batch_size": 2, "crop_size": 48, "warmup_steps": 1},
        continual_options={"max_exemplars": 10, "exemplar_crop_size": 48},
        time_limit_s=None,
        device="cpu",
    )
    outcome = drive(train(request))
    assert outcome.mode == "continual"
    assert outcome.metadata["history"][-1]["mode"] == "continual"
    assert outcome.metadata["datasets"] == ["alpha", "beta", "gamma"]


def test_a_new_model_is_the_same_from_the_same_seed():
    """TrainConfig.seed makes a new model's first weights too: a flaky test's two runs of
    one command trained different models (thresholds 0.094 and 0.120)."""
    runs = []
    for noise in (1, 7):
        torch.rand(noise)  # whatever the process drew before
        result = drive(
            continual.train_model(
                "new",
                [_dataset("alpha", 0)],
                config=CONFIG,
                train_config=_train_config(2),
                continual_config=dataclasses.replace(_continual_config(), pretrained=False),
            )
        )
        runs.append(_state(result.model))
    first, second = runs
    assert first.keys() == second.keys()
    for key in first:  # (float sums in another order: 1e-8)
        torch.testing.assert_close(first[key], second[key], atol=1e-6, rtol=1e-5)


def test_an_adopted_head_is_distilled_towards_the_old_generic_head():
    # an earlier data set given its own head by a continual run (it had only the generic
    # head) learnt nothing from the frozen model: its exemplar batches distilled the
    # student's generic head only, and the adopted head drifted (0.858 -> 0.821 AP)
    from napari_cryopick.core.model import Detector
    from napari_cryopick.core.training import Batch

    torch.manual_seed(0)
    model = Detector(CONFIG)
    frozen = continual._frozen_copy(model)
    model.add_head("first", init_from=continual.GENERIC_HEAD)
    with torch.no_grad():
        for parameter in model.heads["first"].parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    image = torch.randn(2, 1, 48, 48)
    outputs = model(image, head="first")
    cells = (2, 1, 12, 12)
    batch = Batch(
        image=image,
        targets={"reg_mask": torch.ones(cells), "heatmap": torch.zeros(cells)},
        head="first",
        names=[continual._EXEMPLAR_PREFIX + "first/m0"] * 2,
    )
    cfg = continual.ContinualConfig(distill_features=False)

    def distilled(adopted):
        extra = continual._ExtraLoss(
            train_config=_train_config(),
            continual_config=cfg,
            tie_heads=[],
            train_generic=False,
            frozen=frozen,
            adopted=adopted,
        )
        generic = model.heads[continual.GENERIC_HEAD](outputs["features"])
        return float(extra._distill(model, batch, outputs, generic).detach())

    # the student's generic head equals the frozen one: without adoption nothing to learn
    assert distilled(()) == pytest.approx(0.0, abs=1e-9)
    assert distilled(("first",)) > 1e-3


@pytest.mark.parametrize("mode", ["continual", "joint"])
def test_training_from_a_base_model_keeps_its_batchnorm_statistics(joint_result, mode):
    # the old heads were trained on the base model's statistics; continual batches of one
    # data set's crops moved them, and 100 continual steps left the first protein at AP
    # 0.67 (from 0.86) where keeping them gave 0.86 (bench_adopted_head.py); joint from a
    # base model (--mode joint --init): a trial's ribosome went to AP 0.000
    base = joint_result.model
    before = dict(base.named_modules())

    def moved_norms(config: continual.ContinualConfig) -> list[str]:
        job = continual.train_model(
            mode,
            [_dataset("gamma", 2, blob=4.0)],
            base_model=base,
            base_metadata=joint_result.metadata,
            train_config=_train_config(6),
            continual_config=config,
        )
        norms = [
            (name, module)
            for name, module in drive(job).model.named_modules()
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
        ]
        assert norms
        return [
            name
            for name, module in norms
            if not torch.equal(module.running_mean, before[name].running_mean)
            or not torch.equal(module.running_var, before[name].running_var)
        ]

    assert moved_norms(_continual_config()) == []
    # a run may still turn it off
    config = dataclasses.replace(_continual_config(), pretrained_batchnorm=False)
    assert moved_norms(config)


def test_continual_on_a_data_set_again_replaces_its_exemplars_not_adds_copies(
    joint_result, monkeypatch
):
    """A trial: three continual runs on the same 15 clicks grew the bank 15 -> 31 -> 47."""
    metadata, model = joint_result.metadata, joint_result.model
    # room for every particle: only the clicks themselves limit the bank (16 of alpha)
    roomy = continual.ContinualConfig(max_exemplars=100, exemplar_crop_size=48)
    counts = []
    for _ in range(2):
        result = drive(
            continual.train_model(
                "continual",
                [_dataset("alpha", 0)],  # the same micrographs and picks again
                base_model=model,
                base_metadata=metadata,
                train_config=_train_config(2),
                continual_config=roomy,
            )
        )
        metadata, model = result.metadata, result.model
        bank = bank_from_metadata(metadata["exemplars"])
        counts.append(bank.datasets["alpha"].n_particles)
        assert not any(name.startswith("exemplar:") for name in bank.datasets["alpha"].micrographs)
    assert counts[0] == counts[1] <= 16, counts
    # new micrographs of the data set still add to its earlier exemplars
    more = _dataset("alpha", 5)
    more = continual.DatasetExamples(
        "alpha",
        [dataclasses.replace(e, name=e.name.replace("alpha", "alpha_new")) for e in more.examples],
    )
    offered = []
    original = continual.build_bank

    def spy(examples, *args, **kwargs):
        offered.append([e.name for e in [*examples, *kwargs.get("earlier", ())]])
        return original(examples, *args, **kwargs)

    monkeypatch.setattr(continual, "build_bank", spy)
    drive(
        continual.train_model(
            "continual",
            [more],
            base_model=model,
            base_metadata=metadata,
            train_config=_train_config(2),
            continual_config=roomy,
        )
    )
    (names,) = offered  # the bank is built from the new micrographs and the old exemplars
    assert any("alpha_new" in name for name in names)
    # the old exemplars under their micrographs' names (a prefix kept in the bank made a
    # later run on alpha_0 miss them and keep its crops twice)
    assert {"alpha_0", "alpha_1"} <= set(names)
    assert not any(name.startswith("exemplar:") for name in names)


def test_more_clicks_of_a_data_set_keep_a_share_of_its_earlier_exemplars(joint_result):
    """A CLI trial's second session of 263 ribosome clicks filled the 200-particle bank with
    its new micrographs: none of the first session's were left to replay."""
    metadata, model = joint_result.metadata, joint_result.model
    config = continual.ContinualConfig(max_exemplars=12, exemplar_crop_size=48)
    first = drive(
        continual.train_model(
            "continual",
            [_dataset("alpha", 0)],
            base_model=model,
            base_metadata=metadata,
            train_config=_train_config(2),
            continual_config=config,
        )
    )
    before = bank_from_metadata(first.metadata["exemplars"]).datasets["alpha"]
    assert before.n_particles
    assert set(before.micrographs) <= {"alpha_0", "alpha_1"}
    dense = _dataset("alpha", 7, n_micrographs=4)  # 32 new clicks: more than the bank holds
    dense = continual.DatasetExamples(
        "alpha",
        [dataclasses.replace(e, name=e.name.replace("alpha", "later")) for e in dense.examples],
    )
    second = drive(
        continual.train_model(
            "continual",
            [dense],
            base_model=first.model,
            base_metadata=first.metadata,
            train_config=_train_config(2),
            continual_config=config,
        )
    )
    entry = bank_from_metadata(second.metadata["exemplars"]).datasets["alpha"]
    assert entry.n_particles <= 12
    kept = [i for i, name in enumerate(entry.micrographs) if name in {"alpha_0", "alpha_1"}]
    assert kept, entry.micrographs  # the first session is still replayed
    new = [i for i, name in enumerate(entry.micrographs) if name.startswith("later")]
    assert new, entry.micrographs  # and the new micrographs joined it
    labels = entry.labels
    earlier_particles = int(np.isin(labels[:, 0], kept).sum())
    assert earlier_particles >= min(before.n_particles, 12 // 2) - 3  # a crop brings its all


def test_a_data_set_only_the_generic_head_knew_is_said_lost_to_a_finetune():
    """A continual trial: a --mode new ribosome model (no head of its own), fine-tuned on
    β-gal (--init without --mode), picked the ribosome at AP 0.00; nothing was said before
    the training nor at picking."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import lost_data_set_warning
    from napari_cryopick.workflows.train import base_model_warnings

    first = _new_alpha()
    notes = base_model_warnings("finetune", first.model, first.metadata, {"delta": 20.0})
    assert any(
        "alpha had no head of its own (only the generic head knew it) and will be forgotten; "
        "--mode continual keeps it" in note
        for note in notes
    ), notes
    assert not [n for n in base_model_warnings("continual", first.model, first.metadata,
                                               {"delta": 20.0}) if "forgotten" in n]  # fmt: skip
    # without exemplars nothing keeps it: not promised
    bare = {**first.metadata, "exemplars": None}
    notes = base_model_warnings("finetune", first.model, bare, {"delta": 20.0})
    assert any("nothing can keep a data set without exemplars" in note for note in notes), notes
    # a general model's data sets are its pretraining, not the user's: nothing said of them
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.core.model.bundled import bundled_model_path

    general, metadata = load_checkpoint(bundled_model_path())
    notes = base_model_warnings("finetune", general, metadata, {"delta": 20.0})
    assert not [n for n in notes if "only the generic head knew" in n], notes
    finetuned = _adapt("finetune", _dataset("delta", 3), first)
    card = ModelCard.from_metadata(finetuned.metadata)
    said = lost_data_set_warning(card, {"alpha"})
    assert said is not None
    assert said.startswith(
        "alpha: only the generic head knew it, and a later fine-tune (on delta) retrained that "
        "head: it picks poorly"
    )
    assert lost_data_set_warning(card, {"delta"}) is None


def test_heads_a_later_finetune_moved_are_said_by_info_and_pick(joint_result, tmp_path, capsys):
    """A continual-learning trial fine-tuned on apoferritin: its ribosome and beta-gal heads
    then picked nothing (AP 0.000), while info listed them as own heads with thresholds and
    pick said only "picked 98 objects"."""
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.workflows.pick import moved_head_warning

    assert ModelCard.from_metadata(joint_result.metadata).moved_by_finetune() == ()
    finetuned = _adapt("finetune", _dataset("delta", 3), joint_result)
    card = ModelCard.from_metadata(finetuned.metadata)
    assert set(card.moved_by_finetune()) == {"alpha", "beta"}
    said = moved_head_warning(card, {"alpha", "generic"})
    assert said is not None
    assert said.startswith("head(s) alpha were trained before a later fine-tune (on delta)")
    assert moved_head_warning(card, {"generic", "delta"}) is None
    path = save_checkpoint(tmp_path / "f.pt", finetuned.model, metadata=finetuned.metadata)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "alpha: " in out
    assert "own head (trained before a later fine-tune moved the shared body: picks poorly)" in out
    # trained again (continual): no longer moved
    again = _adapt("continual", _dataset("alpha", 0), finetuned)
    assert ModelCard.from_metadata(again.metadata).moved_by_finetune() == ("beta",)
