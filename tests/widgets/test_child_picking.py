"""Folder picking in a child process (``_widgets._child_picking``), without a viewer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_cryopick._widgets._child_picking import ChildPickingError, pick_in_child
from napari_cryopick.io.micrographs import write_mrc
from napari_cryopick.workflows.pick import PickRequest

pytestmark = pytest.mark.slow  # each test starts Python processes (a few seconds each)


def _folder(tmp_path, count):
    paths = []
    for index in range(count):
        path = tmp_path / "mics" / f"m{index}.mrc"
        path.parent.mkdir(exist_ok=True)
        data = np.random.default_rng(index).normal(size=(128, 128)).astype(np.float32)
        write_mrc(path, data, pixel_size=2.0)
        paths.append(path)
    return paths


def test_child_picks_an_in_memory_model_and_reports_each_micrograph(tmp_path):
    import torch

    from napari_cryopick.core.model import Detector, DetectorConfig
    from napari_cryopick.io.pickfiles import read_picks

    torch.manual_seed(0)
    paths = _folder(tmp_path, 2)
    out = tmp_path / "out"
    request = PickRequest(
        paths,
        model=Detector(DetectorConfig()).eval(),  # in memory: the child gets it as a file
        metadata={"datasets": ["x"]},
        diameter_px=24.0,
        device="cpu",
        out_dir=out,
        formats=("star",),
        threshold=0.0,
    )
    job = pick_in_child(request, threading.Event())
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as end:
            outcome = end.value
            break
    assert [(e.step, e.total, e.micrograph) for e in events] == [(1, 2, "m0"), (2, 2, "m1")]
    assert [e.written for e in events] == [(out / "m0.star",), (out / "m1.star",)]
    assert outcome.n_micrographs == 2
    assert not outcome.errors
    # recorded in the folder's manifest, as every run into a folder
    assert sorted(p.name for p in out.iterdir()) == [
        "cryopick_manifest.jsonl",
        "m0.star",
        "m1.star",
    ]
    # the picks the parent gets back are the ones written (threshold 0: every candidate)
    assert len(outcome.picks) == sum(len(read_picks(out / f"m{i}.star")) for i in range(2))
    assert len(outcome.picks) == sum(e.n_picks for e in events) > 0


def test_child_failure_is_one_line_and_cancel_writes_nothing(tmp_path):
    paths = _folder(tmp_path, 3)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    request = PickRequest(paths, model=broken, diameter_px=24.0, device="cpu", out_dir=tmp_path)
    with pytest.raises(ChildPickingError, match=r"broken\.pt"):
        list(pick_in_child(request, threading.Event()))

    cancel = threading.Event()
    cancel.set()  # cancelled before the child picked anything
    out = tmp_path / "out"
    request = PickRequest(paths, diameter_px=24.0, device="cpu", out_dir=out)
    job = pick_in_child(request, cancel)
    with pytest.raises(StopIteration) as end:
        next(job)
    assert end.value.value is None
    assert not out.exists() or not any(out.iterdir())
