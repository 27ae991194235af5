"""The recipe that rebuilds the bundled general model (``scripts/train_general_model.py``).

A long CPU run writes its checkpoint as it goes and a resumed run keeps the
history of the runs before it; the per-data-set heads are copies of the
trained generic head, never heads left from an earlier run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from napari_cryopick.core.model import Detector, DetectorConfig, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _recipe():
    name = "train_general_model_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "train_general_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _small_run(tmp_path: Path, out: Path, *extra: str) -> int:
    return _recipe().main(
        [
            "--no-real",
            "--micrographs-per-shape",
            "1",
            "--steps",
            "4",
            "--time-limit",
            "600",
            "--batch-size",
            "2",
            "--crop-size",
            "64",
            "--workers",
            "0",
            "--sim-processes",
            "1",
            "--max-exemplars",
            "2",
            "--device",
            "cpu",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_resumed_run_keeps_history_and_refreshes_dataset_heads(tmp_path: Path) -> None:
    recipe = _recipe()
    # a "finalised" starting model: generic head plus a stale per-set head
    start = Detector(DetectorConfig())
    stale = start.add_head("sim_sphere")
    with torch.no_grad():
        for parameter in stale.parameters():
            parameter.fill_(0.123)
    first_run = {"mode": "joint", "steps": 99, "seconds": 1.0, "device": "cuda"}
    save_checkpoint(tmp_path / "start.pt", start, metadata={"history": [first_run]})

    out = tmp_path / "resumed.pt"
    assert _small_run(tmp_path, out, "--init", str(tmp_path / "start.pt")) == 0

    model, metadata = load_checkpoint(out)
    history = metadata["history"]
    assert [run["steps"] for run in history] == [99, 4]
    assert metadata["general_model"]["argv"][-2:] == ["--init", str(tmp_path / "start.pt")]
    generic = model.heads["generic"].state_dict()
    refreshed = model.heads["sim_sphere"].state_dict()
    assert all(torch.equal(generic[key], refreshed[key]) for key in generic)
    # only existing heads are refreshed by a training run; --finalise adds the rest
    assert "sim_cube" not in model.head_names
    assert recipe.TRAIN_SHAPES  # the shapes the finalised model gets heads for


def test_checkpoint_every_writes_the_model_while_training(tmp_path: Path, capsys) -> None:
    out = tmp_path / "general.pt"
    assert _small_run(tmp_path, out, "--checkpoint-every", "1e-9") == 0
    printed = capsys.readouterr().out
    # one interim checkpoint per step after the first, then the final file
    assert printed.count(f"checkpoint {out} at step") == 3
    model, metadata = load_checkpoint(out)
    assert metadata["history"][-1]["steps"] == 4
    assert "generic" in model.head_names


def test_weight_averaging_returns_the_mean_of_the_late_weights() -> None:
    recipe = _recipe()
    config = DetectorConfig()
    datasets = recipe.synthetic_datasets(config, micrographs_per_shape=1, processes=1)[:2]
    kwargs = {"steps": 6, "time_limit_s": None, "batch_size": 2, "crop_size": 64}
    kwargs.update(workers=0, device="cpu", seed=3)
    raws = []

    def keep(raw, record):
        raws.append((raw, record))

    # averaging only the last step: the weights are the last ones, statistics recomputed
    last, record = recipe.pretrain(
        datasets, config, average_from=1.0, average_every=1, bn_batches=2, on_raw=keep, **kwargs
    )
    assert record["average"] == {"from": 1.0, "every": 1, "models": 1}
    raw, raw_record = raws.pop()
    assert raw_record["steps"] == record["steps"] == 6
    last_parameters = dict(last.named_parameters())
    for key, value in raw.named_parameters():
        assert torch.equal(value, last_parameters[key]), key
    raw_state, last_state = raw.state_dict(), last.state_dict()
    running = [key for key in raw_state if key.endswith("running_var")]
    assert running
    assert any(not torch.equal(raw_state[k], last_state[k]) for k in running)

    # from half-way: steps 3-6 averaged, so the weights differ from the last ones
    averaged, record = recipe.pretrain(
        datasets, config, average_from=0.5, average_every=1, bn_batches=2, on_raw=keep, **kwargs
    )
    assert record["average"]["models"] == 4
    raw, _ = raws.pop()
    assert not torch.equal(
        raw.state_dict()["body.stem.0.weight"], averaged.state_dict()["body.stem.0.weight"]
    )
    assert all(
        torch.isfinite(v).all() for v in averaged.state_dict().values() if v.is_floating_point()
    )


def test_train_shapes_choose_the_simulated_sets_and_the_card_records_them(tmp_path: Path) -> None:
    from napari_cryopick.core.model import bundled_model_path

    recipe = _recipe()
    # the default is the shipped file's recipe: the model card of the bundled model agrees
    _, bundled = load_checkpoint(bundled_model_path())
    assert list(recipe.TRAIN_SHAPES) == bundled["general_model"]["train_shapes"]
    out = tmp_path / "shapes.pt"
    assert _small_run(tmp_path, out, "--train-shapes", "shell,lumpy") == 0
    _, metadata = load_checkpoint(out)
    assert metadata["general_model"]["train_shapes"] == ["shell", "lumpy"]
    assert list(metadata["history"][-1]["datasets"]) == ["sim_shell", "sim_lumpy"]
    assert metadata["general_model"]["held_out_shapes"] == list(recipe.HELD_OUT_SHAPES)
    # a held-out shape trained on is no longer listed as held out; repeats count once
    out = tmp_path / "ring.pt"
    assert _small_run(tmp_path, out, "--train-shapes", "ring,sphere,ring") == 0
    card = load_checkpoint(out)[1]["general_model"]
    assert card["train_shapes"] == ["ring", "sphere"]
    assert "ring" not in card["held_out_shapes"]
