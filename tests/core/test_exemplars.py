"""Exemplar bank: selection, add/remove, thumbnails, checkpoint round trip."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from napari_cryopick.core import exemplars
from napari_cryopick.core.pick_table import make_picks


@dataclass(frozen=True)
class _Example:
    image: np.ndarray
    picks: pd.DataFrame
    name: str
    dataset: str = "set"


def _example(name: str, n: int, seed: int, size: int = 256) -> _Example:
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(size, size)).astype(np.float32)
    x = rng.uniform(5, size - 6, n)
    y = rng.uniform(5, size - 6, n)
    for xi, yi in zip(x, y):
        image[int(yi) - 2 : int(yi) + 3, int(xi) - 2 : int(xi) + 3] += 5.0
    picks = make_picks(x, y, diameter=20.0, micrograph=name)
    return _Example(image=image, picks=picks, name=name)


def _crops_of(bank: exemplars.ExemplarBank, name: str = "ds") -> list[_Example]:
    """A data set's exemplar crops shaped like examples (as continual training hands them
    back to ``build_bank(earlier=...)``)."""
    entry = bank.datasets[name]
    return [
        _Example(entry.crops[i].astype(np.float32), entry.crop_picks(i), entry.micrographs[i])
        for i in range(entry.n_crops)
    ]


def test_build_bank_respects_budget_and_prefers_dense_micrographs():
    examples = [_example("sparse", 10, 0), _example("dense", 120, 1), _example("mid", 60, 2)]
    bank = exemplars.build_bank(examples, "ds", max_particles=50, crop_size=64)
    entry = bank.datasets["ds"]
    assert 0 < entry.n_particles <= 50
    assert exemplars.bank_summary(bank) == {"ds": entry.n_particles}
    assert entry.crops.shape[1:] == (64, 64)
    assert entry.crops.dtype == np.float16
    # the most labelled micrograph is used first
    assert entry.micrographs[0] == "dense"
    # every stored label lies inside its crop and matches the source pick
    for index in range(entry.n_crops):
        table = entry.crop_picks(index)
        assert ((table["x"] >= 0) & (table["x"] <= 63)).all()
        assert ((table["y"] >= 0) & (table["y"] <= 63)).all()
        source = next(e for e in examples if e.name == entry.micrographs[index])
        x0, y0 = entry.origins[index]
        np.testing.assert_allclose(
            entry.crops[index].astype(np.float32),
            source.image[y0 : y0 + 64, x0 : x0 + 64],
            atol=1e-2,
            rtol=1e-3,
        )
        sx = table["x"].to_numpy() + x0
        sy = table["y"].to_numpy() + y0
        distance = np.hypot(
            sx[:, None] - source.picks["x"].to_numpy()[None],
            sy[:, None] - source.picks["y"].to_numpy()[None],
        ).min(axis=1)
        assert distance.max() < 1e-3


@pytest.mark.slow
def test_build_bank_gets_close_to_budget_with_enough_labels():
    examples = [_example(f"m{i}", 80, i) for i in range(4)]
    bank = exemplars.build_bank(examples, "ds", max_particles=200, crop_size=64)
    count = bank.datasets["ds"].n_particles
    assert 150 <= count <= 200


def test_negatives_are_stored_but_not_counted():
    example = _example("m", 30, 3, size=64)
    negatives = make_picks([10.0, 50.0], [10.0, 50.0], diameter=20.0, kind="negative")
    example = _Example(
        image=example.image,
        picks=pd.concat([example.picks, negatives], ignore_index=True),
        name="m",
    )
    bank = exemplars.build_bank([example], "ds", max_particles=200, crop_size=64)
    entry = bank.datasets["ds"]
    assert entry.n_particles == 30
    assert (entry.crop_picks(0)["kind"] == "negative").sum() == 2


def test_add_and_remove_exemplars():
    example = _example("m", 40, 4)
    bank = exemplars.empty_bank(64)
    bank = exemplars.add_exemplars(bank, "a", example.image, example.picks, origin=(0, 0))
    bank = exemplars.add_exemplars(
        bank, "a", example.image, example.picks, origin=(64, 64), micrograph="m"
    )
    bank = exemplars.add_exemplars(bank, "b", example.image, example.picks, origin=(128, 0))
    entry = bank.datasets["a"]
    assert entry.n_crops == 2
    inside = lambda x0, y0: int(  # noqa: E731
        (
            (example.picks["x"] >= x0)
            & (example.picks["x"] <= x0 + 63)
            & (example.picks["y"] >= y0)
            & (example.picks["y"] <= y0 + 63)
        ).sum()
    )
    assert entry.n_particles == inside(0, 0) + inside(64, 64)
    second = entry.crop_picks(1)
    assert len(second) == inside(64, 64)

    smaller = exemplars.remove_exemplars(bank, "a", [0])
    assert smaller.datasets["a"].n_crops == 1
    assert smaller.datasets["a"].micrographs == ("m",)
    # labels were renumbered: crop 0 now holds the former crop 1's labels
    pd.testing.assert_frame_equal(smaller.datasets["a"].crop_picks(0), second)
    # the input bank is unchanged
    assert bank.datasets["a"].n_crops == 2
    gone = exemplars.remove_exemplars(bank, "b")
    assert set(gone.names) == {"a"}
    with pytest.raises(KeyError):
        exemplars.remove_exemplars(bank, "nope")


def test_thumbnails_are_small_uint8():
    example = _example("m", 25, 5)
    bank = exemplars.build_bank([example], "ds", max_particles=20, crop_size=64)
    thumbs = exemplars.thumbnails(bank, "ds", size=32)
    assert len(thumbs) == bank.datasets["ds"].n_particles
    assert all(t.shape == (32, 32) and t.dtype == np.uint8 for t in thumbs)
    # the particle (bright square) sits in the middle of its thumbnail
    assert np.mean([t[12:20, 12:20].mean() for t in thumbs]) > np.mean([t.mean() for t in thumbs])


def test_metadata_round_trip_weights_only():
    examples = [_example("m0", 50, 6), _example("m1", 30, 7)]
    bank = exemplars.build_bank(examples, "one", max_particles=40, crop_size=64)
    bank = exemplars.build_bank(examples[1:], "two", max_particles=20, bank=bank)
    buffer = io.BytesIO()
    torch.save({"metadata": {"exemplars": exemplars.bank_to_metadata(bank)}}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    back = exemplars.bank_from_metadata(loaded["metadata"]["exemplars"])
    assert back.crop_size == 64
    assert exemplars.bank_summary(back) == exemplars.bank_summary(bank)
    for name in bank.names:
        np.testing.assert_array_equal(back.datasets[name].crops, bank.datasets[name].crops)
        np.testing.assert_array_equal(back.datasets[name].labels, bank.datasets[name].labels)
        assert back.datasets[name].micrographs == bank.datasets[name].micrographs
    assert exemplars.bank_from_metadata(None).names == ()
    with pytest.raises(ValueError, match="malformed"):
        exemplars.bank_from_metadata({"format_version": 1, "crop_size": 64, "datasets": {"x": {}}})


def test_a_bank_whose_arrays_do_not_fit_together_is_malformed():
    """The metadata is not covered by the checksums: an I/O trial's edited bank (one
    micrograph name for five crops, another crop size) gave an IndexError traceback."""
    examples = [_example("m0", 50, 6), _example("m1", 30, 7)]
    stored = exemplars.bank_to_metadata(
        exemplars.build_bank(examples, "one", max_particles=40, crop_size=64)
    )
    assert exemplars.bank_from_metadata(stored).datasets["one"].n_crops > 1
    one = stored["datasets"]["one"]
    labels = np.asarray(one["labels"], np.float32).reshape(-1, 5)
    beyond = labels.copy()
    beyond[0, 0] = 99  # a label of a crop that is not there
    for damaged in (
        {**stored, "datasets": {"one": {**one, "micrographs": ["m1"]}}},
        {**stored, "crop_size": 32},
        {**stored, "datasets": {"one": {**one, "labels": beyond.ravel().tolist()}}},
        {**stored, "datasets": {"one": {**one, "micrographs": []}}},
    ):
        with pytest.raises(ValueError, match=r"malformed exemplar bank.*'one'"):
            exemplars.bank_from_metadata(damaged)
    # picks without a diameter are stored as NaN: a valid bank (a review)
    unsized = labels.copy()
    unsized[:, 3] = np.nan
    back = exemplars.bank_from_metadata(
        {**stored, "datasets": {"one": {**one, "labels": unsized.ravel().tolist()}}}
    )
    assert np.isnan(back.datasets["one"].labels[:, 3]).all()


def test_bank_crops_keep_labels_on_particles():
    # (sample_exemplars, the unused replay sampler, was removed: replay goes through
    # continual.train_model's exemplar examples; the labels-on-particles check stays)
    example = _example("m", 30, 8, size=64)
    bank = exemplars.build_bank([example], "ds", max_particles=200, crop_size=64)
    entry = bank.datasets["ds"]
    assert entry.n_crops >= 1
    for index in range(entry.n_crops):
        crop = entry.crops[index].astype(np.float32)
        table = entry.crop_picks(index)
        assert crop.shape == (64, 64)
        assert len(table) > 0
        rows = np.round(table["y"].to_numpy()).astype(int)
        cols = np.round(table["x"].to_numpy()).astype(int)
        assert crop[rows, cols].mean() > crop.mean() + 2.0


def test_particles_in_overlapping_crops_are_counted_once():
    from napari_cryopick.core.exemplars import DatasetExemplars

    crops = np.zeros((2, 32, 32), dtype=np.float16)
    # one particle at (40, 20) in the micrograph lies in both crops (origins x0 = 20 and 30),
    # plus one particle of crop 0 only and one negative
    labels = np.array(
        [
            [0, 20.0, 20.0, 10.0, 0],
            [1, 10.0, 20.0, 10.0, 0],
            [0, 5.0, 5.0, 10.0, 0],
            [0, 8.0, 8.0, 10.0, 3],
        ],
        dtype=np.float32,
    )
    origins = np.array([[20, 0], [30, 0]], dtype=np.int64)
    entry = DatasetExemplars(crops, labels, origins, ("mic", "mic"))
    assert entry.n_particles == 2
    # the same position on another micrograph is another particle
    other = DatasetExemplars(crops, labels, origins, ("mic", "other"))
    assert other.n_particles == 3


def test_earlier_exemplars_keep_a_share_when_new_clicks_fill_the_bank():
    """A CLI trial: a second session's dense clicks of the same protein took the whole
    bank; the first session's micrographs were no longer replayed."""
    first = exemplars.build_bank(
        [_example("old_a", 40, 3), _example("old_b", 40, 4)], "ds", max_particles=60, crop_size=64
    )
    entry = first.datasets["ds"]
    earlier = _crops_of(first)
    dense = [_example("new_a", 150, 5), _example("new_b", 150, 6)]
    bank = exemplars.build_bank(dense, "ds", max_particles=60, crop_size=64, earlier=earlier)
    kept = bank.datasets["ds"]
    assert kept.n_particles <= 60
    counts = {}
    for index, name in enumerate(kept.micrographs):
        counts[name[:3]] = counts.get(name[:3], 0) + len(kept.crop_picks(index))
    # the earlier session holds up to half the bank (a crop brings all its particles)
    assert 20 <= counts.get("old", 0) <= 30, counts
    assert counts.get("new", 0) >= 25, counts
    # with few new clicks, the earlier ones fill the room left
    sparse = [_example("new_c", 4, 7)]
    bank = exemplars.build_bank(sparse, "ds", max_particles=60, crop_size=64, earlier=earlier)
    names = bank.datasets["ds"].micrographs
    assert "new_c" in names
    assert bank.datasets["ds"].n_particles >= entry.n_particles - 5


def test_earlier_exemplars_of_every_earlier_micrograph_stay_over_runs():
    """A re-trial's third run kept only the second run's denser crops: the first run's
    micrographs were no longer replayed."""

    first = exemplars.build_bank(
        [_example(f"one_{i}", 12, 10 + i) for i in range(3)], "ds", max_particles=60, crop_size=64
    )
    bank, runs = first, ["one"]
    for run, seed in (("two", 20), ("three", 30)):  # later runs of dense clicks
        dense = [_example(f"{run}_{i}", 150, seed + i) for i in range(2)]
        bank = exemplars.build_bank(
            dense, "ds", max_particles=60, crop_size=64, earlier=_crops_of(bank)
        )
        runs.append(run)
        names = set(bank.datasets["ds"].micrographs)
        assert {n.split("_")[0] for n in names} == set(runs), names
        assert bank.datasets["ds"].n_particles <= 60
