"""``cryopick train`` holds one micrograph at a time, not all of them (issue 14, problem 5).

The micrographs are read once for the checks, once for the diameter estimate
(only the windows around the clicks are kept) and once for the preparation;
each is dropped before the next is read. The estimate and the prepared
examples are those of the in-memory path.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

from napari_cryopick.core import training as core_training
from napari_cryopick.core.diameter import estimate_diameter
from napari_cryopick.io import micrographs as micrograph_io

SIZE = 160
COUNT = 3


@pytest.fixture
def clicked_files(tmp_path: Path, make_blobs) -> tuple[list[Path], list[Path]]:
    """Three MRC micrographs and CSV clicks without diameters (the estimate reads the images)."""
    from napari_cryopick.io.micrographs import write_mrc

    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    mics, picks = [], []
    for seed in range(COUNT):
        image, table = make_blobs(seed, size=SIZE, n=10)
        mics.append(write_mrc(tmp_path / "mics" / f"m{seed}.mrc", image, pixel_size=2.0))
        picks.append(tmp_path / "picks" / f"m{seed}.csv")
        table[["x", "y"]].to_csv(picks[-1], index=False)
    return mics, picks


class _Reads:
    """Counts the micrographs read that are still alive whenever another one is read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.arrays: list[weakref.ref] = []
        self.most_alive = 0
        self.count = 0
        real = micrograph_io.read_micrograph

        def read(path, **options):
            gc.collect()
            self.most_alive = max(self.most_alive, self.alive())
            micrograph = real(path, **options)
            self.arrays.append(weakref.ref(micrograph.data))
            self.count += 1
            return micrograph

        monkeypatch.setattr(micrograph_io, "read_micrograph", read)

    def alive(self) -> int:
        return sum(ref() is not None for ref in self.arrays)


def _in_memory(mics, picks):
    from napari_cryopick.io.pickfiles import read_picks

    images = [micrograph_io.read_micrograph(path).data for path in mics]
    return images, [read_picks(path) for path in picks]


def test_estimate_from_files_equals_the_in_memory_estimate(clicked_files) -> None:
    mics, picks = clicked_files
    images, tables = _in_memory(mics, picks)
    expected = estimate_diameter(images, tables)
    assert expected.source == "image"
    assert estimate_diameter(mics, tables) == expected
    shapes = [image.shape for image in images]
    assert estimate_diameter([str(p) for p in mics], tables, shapes=shapes) == expected
    with pytest.raises(ValueError, match="shapes"):
        estimate_diameter(mics, tables, shapes=shapes[:1])


def test_training_sets_keep_files_and_the_in_memory_diameter(clicked_files) -> None:
    from napari_cryopick.workflows.inputs import training_sets_from_files

    mics, picks = clicked_files
    images, tables = _in_memory(mics, picks)
    sets, _ = training_sets_from_files(mics, picks)
    assert [Path(m) for m in sets[0].micrographs] == mics
    expected = estimate_diameter(images, tables).diameter_px
    assert sets[0].diameter_px == [expected] * COUNT


def test_train_holds_one_micrograph_at_a_time_and_prepares_the_same_examples(
    clicked_files, monkeypatch
) -> None:
    from napari_cryopick.workflows.inputs import training_sets_from_files
    from napari_cryopick.workflows.train import TrainRequest, train

    mics, picks = clicked_files
    images, _ = _in_memory(mics, picks)
    reads = _Reads(monkeypatch)
    built = {}
    real_build = core_training.build_examples

    class Prepared(Exception):
        pass

    def build(micrographs, tables, diameters, config, **options):
        built.update(micrographs=list(micrographs), tables=list(tables), diameters=diameters)
        built["config"], built["options"] = config, options
        built["examples"] = real_build(micrographs, tables, diameters, config, **options)
        raise Prepared  # the examples are what this test needs, not the training

    monkeypatch.setattr(core_training, "build_examples", build)
    # 30 px given (a scale of 2/3, so no prepared image is the original itself)
    sets, _ = training_sets_from_files(mics, picks, diameter_px=30.0)
    model = {"widths": (4, 8, 8, 8), "feature_channels": 8, "head_width": 8}
    request = TrainRequest(datasets=sets, device="cpu", time_limit_s=None, model_options=model)
    with pytest.raises(Prepared):
        next(train(request))
    assert reads.most_alive == 0, "a micrograph was still in memory when the next was read"
    # checks, diameter estimate and preparation each read every micrograph once
    assert reads.count == 3 * COUNT
    assert all(isinstance(m, Path) for m in built["micrographs"])

    # the same examples as from the micrographs in memory
    expected = real_build(
        images, built["tables"], built["diameters"], built["config"], **built["options"]
    )
    assert len(built["examples"]) == len(expected) == COUNT
    for example, reference in zip(built["examples"], expected, strict=True):
        assert example.name == reference.name
        np.testing.assert_array_equal(
            np.asarray(example.prepared.image), np.asarray(reference.prepared.image)
        )
        assert example.picks.equals(reference.picks)


def test_the_counter_sees_micrographs_held_at_once(clicked_files, monkeypatch) -> None:
    """The check above can fail: holding every micrograph (the old path) is counted."""
    mics, _ = clicked_files
    reads = _Reads(monkeypatch)
    held = [micrograph_io.read_micrograph(path) for path in mics]
    assert reads.most_alive == COUNT - 1
    assert len(held) == COUNT
