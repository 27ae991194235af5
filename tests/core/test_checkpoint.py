"""Checkpoint save (atomic) / load (weights_only) and the errors on bad files."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch

from napari_cryopick.core.model import (
    FORMAT_VERSION,
    CheckpointError,
    Detector,
    DetectorConfig,
    load_checkpoint,
    save_checkpoint,
)
from napari_cryopick.core.model import checkpoint as checkpoint_module

torch.set_num_threads(1)


def _model(**kwargs) -> Detector:
    values = {"widths": (4, 8, 8, 8), "feature_channels": 8, "head_width": 8}
    values.update(kwargs)
    torch.manual_seed(0)
    model = Detector(DetectorConfig(**values))
    # make batch-norm statistics non-trivial so that buffers are tested too
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 1, 32, 32))
    return model.eval()


def test_round_trip_same_outputs(tmp_path):
    model = _model(kinds=("particle", "vesicle"), target_diameter_px=18.0)
    model.add_head("dataset_a", init_from="generic")
    metadata = {
        "history": [{"step": 1, "total": 1.5}, {"step": 2, "total": 1.2}],
        "datasets": ["a"],
        "diameter_px": 108.0,
        "bank": torch.arange(6.0).reshape(2, 3),
    }
    path = save_checkpoint(tmp_path / "model.pt", model, metadata=metadata)
    assert path == tmp_path / "model.pt"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]

    loaded, loaded_metadata = load_checkpoint(path)
    assert not loaded.training
    assert loaded.config == model.config
    assert loaded.head_names == ("generic", "dataset_a")
    assert loaded_metadata["history"] == metadata["history"]
    assert loaded_metadata["diameter_px"] == 108.0
    assert torch.equal(loaded_metadata["bank"], metadata["bank"])
    x = torch.randn(1, 1, 40, 44)
    with torch.no_grad():
        for head in model.head_names:
            expected, actual = model(x, head=head), loaded(x, head=head)
            for key in expected:
                assert torch.equal(expected[key], actual[key]), key
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "napari-cryopick-detector"
    assert raw["format_version"] == FORMAT_VERSION == 1
    assert set(raw) == {"format", "format_version", "config", "state_dict", "metadata", "checksums"}


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint(path, _model(), metadata={"run": "old"})
    before = path.read_bytes()

    real_save = torch.save

    def failing_save(obj, stream, *args, **kwargs):
        stream.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _model(kinds=("vesicle",)), metadata={"run": "new"})
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    _, metadata = load_checkpoint(path)
    assert metadata == {"run": "old"}


def test_missing_file(tmp_path):
    path = tmp_path / "nothing.pt"
    with pytest.raises(CheckpointError, match="no such") as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path))
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "content",
    [os.urandom(256), b"x,y\n1,2\n", b"", b"PK\x03\x04 not really a zip"],
    ids=["random", "text", "empty", "fake-zip"],
)
def test_not_a_torch_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a napari-cryopick checkpoint") as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path))


def test_a_checkpoint_cut_short_is_said_in_one_sentence(tmp_path):
    # a trial: torch's paragraph of advice came with it ("This is an internal miniz error...")
    whole = save_checkpoint(tmp_path / "whole.pt", Detector(DetectorConfig()))
    path = tmp_path / "cut.pt"
    path.write_bytes(whole.read_bytes()[:3000])
    with pytest.raises(CheckpointError, match="failed finding central directory") as info:
        load_checkpoint(path)
    assert "miniz" not in str(info.value)
    assert str(info.value).endswith(")")


def test_torch_file_of_another_kind(tmp_path):
    state_dict_path = tmp_path / "state_dict.pt"
    torch.save(_model().state_dict(), state_dict_path)
    with pytest.raises(CheckpointError, match="not a napari-cryopick checkpoint"):
        load_checkpoint(state_dict_path)
    tensor_path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_path)
    with pytest.raises(CheckpointError, match="Tensor"):
        load_checkpoint(tensor_path)
    # a full pickled module is refused by weights_only loading
    module_path = tmp_path / "module.pt"
    torch.save(_model(), module_path)
    with pytest.raises(CheckpointError, match="not a napari-cryopick checkpoint"):
        load_checkpoint(module_path)


def _raw(model: Detector) -> dict:
    return {
        "format": "napari-cryopick-detector",
        "format_version": 1,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "metadata": {},
    }


def test_missing_keys_and_versions(tmp_path):
    model = _model()
    raw = _raw(model)
    del raw["state_dict"]
    path = tmp_path / "missing.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=r"missing keys \['state_dict'\]"):
        load_checkpoint(path)

    newer = _raw(model)
    newer["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "newer.pt"
    torch.save(newer, path)
    with pytest.raises(CheckpointError, match="newer than") as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path))

    broken = _raw(model)
    broken["state_dict"] = {k: v for k, v in broken["state_dict"].items() if "heads" not in k}
    path = tmp_path / "broken.pt"
    torch.save(broken, path)
    with pytest.raises(CheckpointError, match="does not build a detector"):
        load_checkpoint(path)

    wrong_config = _raw(model)
    wrong_config["config"]["stride"] = 8
    path = tmp_path / "config.pt"
    torch.save(wrong_config, path)
    with pytest.raises(CheckpointError, match="stride"):
        load_checkpoint(path)

    # an I/O fuzz: a config's extra that is no mapping gave a traceback in info and train
    not_a_mapping = _raw(model)
    not_a_mapping["config"]["extra"] = [1]
    path = tmp_path / "extra.pt"
    torch.save(not_a_mapping, path)
    with pytest.raises(CheckpointError, match=r"extra\.pt: .*extra must be a mapping, got list"):
        load_checkpoint(path)
    # weights of another shape: torch's first line said nothing alone
    shapes = _raw(model)
    name = next(k for k in shapes["state_dict"] if k.endswith("weight"))
    shapes["state_dict"][name] = torch.zeros(3, 3)
    path = tmp_path / "shape.pt"
    torch.save(shapes, path)
    with pytest.raises(CheckpointError, match=f"size mismatch for {name}"):
        load_checkpoint(path)


def test_a_card_whose_data_sets_are_no_list_names_none(tmp_path):
    """An I/O fuzz: metadata ``datasets`` = 5 ended cryopick train --init in a TypeError."""
    from napari_cryopick.core.model.checkpoint import checkpoint_datasets

    path = save_checkpoint(tmp_path / "m.pt", _model(), metadata={"datasets": 5})
    assert checkpoint_datasets(path) == ()
    path = save_checkpoint(tmp_path / "n.pt", _model(), metadata={"datasets": ["a", "b"]})
    assert checkpoint_datasets(path) == ("a", "b")


def test_heads_named_like_torch_module_attributes_save_load_and_pick(tmp_path):
    """A data set named ``train``, ``eval``, ``to``, ... (attributes of torch modules) or
    ``a.b`` is a head name: a trial's folder ``train`` crashed training in add_head with
    torch's "attribute 'train' already exists"."""
    import numpy as np

    from napari_cryopick.core.detect import PickConfig, pick_micrograph

    model = _model()
    names = ("train", "eval", "to", "state_dict", "a.b")
    for index, name in enumerate(names, start=1):
        model.add_head(name, init_from="generic")
        with torch.no_grad():  # each head its own output
            model.heads[name].heatmap[-1].bias.fill_(float(index))
    assert model.head_names == ("generic", *names)
    assert model.config.head_names == model.head_names
    assert all(name in model.heads for name in names)
    assert "x" not in model.heads
    assert [name for name, _head in model.heads.items()] == list(model.head_names)
    # a name torch knows keys as before: checkpoints written before load unchanged
    assert "heads.generic.heatmap.0.weight" in model.state_dict()
    with pytest.raises(ValueError, match="already exists"):
        model.add_head("train")
    with pytest.raises(ValueError, match="non-empty"):
        model.add_head("")

    path = save_checkpoint(tmp_path / "m.pt", model, metadata={"datasets": list(names)})
    loaded, metadata = load_checkpoint(path)
    assert loaded.head_names == ("generic", *names)
    assert metadata["datasets"] == list(names)
    x = torch.randn(1, 1, 40, 44)
    with torch.no_grad():
        for head in model.head_names:
            expected, actual = model(x, head=head), loaded(x, head=head)
            for key in expected:
                assert torch.equal(expected[key], actual[key]), (head, key)
        assert not torch.equal(
            loaded(x, head="train")["heatmap"], loaded(x, head="eval")["heatmap"]
        )
    loaded.train()  # the module's own methods are still its own
    loaded.eval()
    loaded.add_head("cuda", init_from="train")  # and a loaded model takes more such heads
    assert loaded.head_names[-1] == "cuda"

    image = np.random.default_rng(0).normal(size=(96, 96)).astype(np.float32)
    config = PickConfig(device="cpu", score_floor=0.0, head="train")
    picked = pick_micrograph(loaded, image, diameter_px=20.0, config=config)
    again = pick_micrograph(model, image, diameter_px=20.0, config=config)
    other = pick_micrograph(loaded, image, diameter_px=20.0, config=replace(config, head="to"))
    np.testing.assert_array_equal(picked.heatmap, again.heatmap)
    assert not np.array_equal(picked.heatmap, other.heatmap)

    # the same head saved under its name as a key (a torch that did not reserve it)
    raw = _raw(model)
    raw["state_dict"] = {
        k.replace("heads.%train.", "heads.train."): v for k, v in raw["state_dict"].items()
    }
    assert "heads.train.heatmap.2.bias" in raw["state_dict"]
    torch.save(raw, tmp_path / "other_key.pt")
    renamed, _ = load_checkpoint(tmp_path / "other_key.pt")
    assert torch.equal(
        renamed.heads["train"].heatmap[-1].bias, model.heads["train"].heatmap[-1].bias
    )
