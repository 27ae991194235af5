"""workflows.pick: one path for every caller, one writer, a layout that never overwrites.

(The tests of the former ``detect.pick_files`` and ``object_kinds.pick_fiber_files``
live here and in tests/core/test_object_kinds.py's command-line test.)
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core.progress import drive
from napari_cryopick.io.micrographs import Micrograph
from napari_cryopick.io.pickfiles import FORMATS, read_picks
from napari_cryopick.workflows.batch import read_manifests
from napari_cryopick.workflows.pick import (
    PICK_FORMATS,
    PickRequest,
    output_stems,
    pick,
    pick_one,
    prepare,
)

DIAMETER = 20.0


def _request(paths, model, out, **options):
    values = {"threshold": 0.0, "device": "cpu", "out_dir": out, "diameter_px": DIAMETER}
    values.update(options)
    return PickRequest(micrographs=paths, model=model, **values)


def test_a_model_without_a_stored_diameter_asks_for_one_in_the_words_of_its_caller(
    tmp_path, micrograph_files, make_config
):
    # a GUI re-trial's model without a diameter, picked with "each data set's own", was
    # told "give --diameter or --diameter-A" in napari
    from napari_cryopick.core.model import Detector, save_checkpoint

    path = save_checkpoint(tmp_path / "m.pt", Detector(make_config()), metadata={})
    for in_napari, words in ((False, "give --diameter or --diameter-A"),
                             (True, "the Pick widget's Diameter box")):  # fmt: skip
        request = _request(micrograph_files[:1], path, None, diameter_px=None, in_napari=in_napari)
        with pytest.raises(ValueError, match="no usable particle diameter") as raised:
            drive(pick(request))
        assert words in str(raised.value)
        assert ("--diameter" in str(raised.value)) is not in_napari


def test_format_list_is_the_pick_file_registry():
    assert set(PICK_FORMATS) == set(FORMATS)


def test_folders_are_mirrored_and_events_carry_results(tmp_path, micrograph_files, tiny_checkpoint):
    out = tmp_path / "out"
    events = []
    outcome = drive(pick(_request(micrograph_files, tiny_checkpoint, out)), events.append)
    assert [e.step for e in events] == [1, 2, 3, 4]
    assert all(e.item is not None and e.n_picks == len(e.item.picks) for e in events)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.star"))
    assert written == ["a/m0.star", "a/m1.star", "b/m0.star", "b/m1.star"]
    assert sorted(outcome.written) == sorted(out.rglob("*.star"))
    # the same stem in two folders: two different files, neither overwritten
    first, second = read_picks(out / "a" / "m0.star"), read_picks(out / "b" / "m0.star")
    assert len(first) == events[0].n_picks
    assert len(second) == events[2].n_picks
    assert not np.array_equal(
        first[["x", "y"]].to_numpy(), second[["x", "y"]].to_numpy()[: len(first)]
    )
    assert outcome.n_done == 4
    assert not outcome.errors


def test_duplicate_outputs_are_refused_before_picking(
    tmp_path, micrograph_files, tiny_checkpoint, make_blobs
):
    import shutil

    png_twin = tmp_path / "a" / "m0.tif"
    shutil.copy(micrograph_files[0], png_twin)  # same folder, same stem, other suffix
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"m0\.mrc and .*m0\.tif") as raised:
        drive(pick(_request([*micrograph_files, png_twin], tiny_checkpoint, out)))
    assert "never" in str(raised.value)
    assert not out.exists()
    # in-memory micrographs with one name: refused as well
    image, _ = make_blobs(0)
    with pytest.raises(ValueError, match="both would be written") as raised:
        output_stems([Micrograph(image, name="x"), Micrograph(image, name="x")], out)
    # named, not printed as the object with its pixel array (the Pick widget showed it)
    assert str(raised.value).startswith("micrograph 'x' and micrograph 'x':")
    assert "array" not in str(raised.value)
    with pytest.raises(ValueError, match="both would be written"):  # one file on macOS
        output_stems([Micrograph(image, name="Mic"), Micrograph(image, name="mic")], out)


def test_one_folder_writes_flat_and_cli_refuses_duplicates(
    tmp_path, micrograph_files, tiny_checkpoint, capsys
):
    from napari_cryopick.cli import main

    stems = output_stems(micrograph_files[:2], tmp_path / "o")
    assert [p.name for p in stems.values()] == ["m0", "m1"]
    assert {p.parent for p in stems.values()} == {tmp_path / "o"}
    twin = tmp_path / "a" / "m0.tif"
    twin.write_bytes(micrograph_files[0].read_bytes())
    code = main(["pick", str(tmp_path / "a"), "--model", str(tiny_checkpoint), "--diameter", "20",
                 "--out", str(tmp_path / "cli"), "--device", "cpu"])  # fmt: skip
    assert code == 2
    assert "m0.tif" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_corrupt_micrograph_is_skipped_and_closing_leaves_whole_files(
    tmp_path, micrograph_files, tiny_checkpoint
):
    broken = micrograph_files[1]
    broken.write_bytes(b"not an MRC file")
    out = tmp_path / "out"
    events = []
    outcome = drive(pick(_request(micrograph_files[:3], tiny_checkpoint, out)), events.append)
    assert str(broken) in events[1].error
    assert events[1].n_picks == -1
    assert set(outcome.errors) == {str(broken)}
    assert events[0].n_picks > 0
    assert set(outcome.picks["micrograph"]) == {"m0"}  # a/m0 and b/m0, not the broken a/m1
    assert sorted(p.name for p in out.rglob("*.star")) == ["m0.star", "m0.star"]

    # cancelling after the first micrograph: one complete file, nothing partial
    out2 = tmp_path / "out2"
    job = pick(_request(micrograph_files, tiny_checkpoint, out2, formats=("csv", "star")))
    first = next(job)
    job.close()
    files = sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    # the run is recorded (one writer into folders: the batch runner), its lock released
    assert [str(p) for p in files] == ["a/m0.csv", "a/m0.star", "cryopick_manifest.jsonl"]
    assert len(read_picks(out2 / "a" / "m0.csv")) == first.n_picks
    records = read_manifests(out2)
    assert [r["micrograph"] for r in records.values()] == ["m0"]
    assert sorted(next(iter(records.values()))["outputs"]) == [
        "a/m0.csv",
        "a/m0.star",
    ]


def test_diameter_has_one_owner(tmp_path, micrograph_files, tiny_checkpoint, make_blobs):
    # the card's diameter (20 px), the head's data set's (30 px), Angstrom over the pixel size
    prepared = prepare(_request(micrograph_files[:1], tiny_checkpoint, None, diameter_px=None))
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(20.0)
    prepared = prepare(
        _request(micrograph_files[:1], tiny_checkpoint, None, diameter_px=None, head="setA")
    )
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(30.0)
    prepared = prepare(
        _request(micrograph_files[:1], tiny_checkpoint, None, diameter_px=None, diameter_A=50.0)
    )
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(25.0)
    # no pixel size: Angstrom cannot convert; the micrograph is named
    image, _ = make_blobs(1)
    outcome = drive(pick(_request([Micrograph(image, name="mem")], tiny_checkpoint, None,
                                  diameter_px=None, diameter_A=50.0)))  # fmt: skip
    assert "pixel size" in outcome.errors["mem"]
    # the user's pixel size (PNG, JPEG and TIFF carry none) converts it, and beats the header
    prepared = prepare(_request([Micrograph(image, name="mem")], tiny_checkpoint, None,
                                diameter_px=None, diameter_A=50.0, pixel_size_A=2.5))  # fmt: skip
    assert pick_one(prepared, Micrograph(image, name="mem")).diameter_px == pytest.approx(20.0)
    prepared = prepare(_request(micrograph_files[:1], tiny_checkpoint, None, diameter_px=None,
                                diameter_A=50.0, pixel_size_A=5.0))  # fmt: skip
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(10.0)
    with pytest.raises(ValueError, match="--pixel-size must be > 0"):
        _request(micrograph_files[:1], tiny_checkpoint, None, pixel_size_A=0.0)


def test_model_without_a_diameter_is_named(tmp_path, micrograph_files, make_config):
    from napari_cryopick.core.model import Detector, save_checkpoint

    bare = save_checkpoint(tmp_path / "bare.pt", Detector(make_config()), metadata={})
    with pytest.raises(ValueError, match=r"bare\.pt.*--diameter"):
        drive(pick(_request(micrograph_files, bare, tmp_path / "o", diameter_px=None)))
    assert not (tmp_path / "o").exists()


def test_keep_candidates_writes_the_scores_above_the_floor(
    tmp_path, micrograph_files, tiny_checkpoint
):
    scores = {}
    for floor in (None, 0.0):
        out = tmp_path / f"out{floor}"
        request = _request(micrograph_files[:1], tiny_checkpoint, out, threshold=0.9,
                           keep_candidates=floor, formats=("csv",))  # fmt: skip
        outcome = drive(pick(request))
        scores[floor] = read_picks(out / "m0.csv")["score"].to_numpy()
        assert (outcome.picks["score"] >= 0.9).all()
    assert (scores[None] >= 0.9).all()
    assert len(scores[0.0]) > len(scores[None])
    assert scores[0.0].min() < 0.9
    # a floor above the threshold keeps every pick (a trial's file held 112 of 119 picks)
    out = tmp_path / "floor above"
    request = _request(micrograph_files[:1], tiny_checkpoint, out, threshold=0.0,
                       keep_candidates=0.5, formats=("csv",))  # fmt: skip
    outcome = drive(pick(request))
    assert (outcome.picks["score"] < 0.5).any()
    assert len(read_picks(out / "m0.csv")) == len(outcome.picks)
    # BOX has no score column: the candidates below the threshold would pass for picks
    with pytest.raises(ValueError, match="--keep-candidates needs a format that stores scores"):
        _request(micrograph_files[:1], tiny_checkpoint, tmp_path / "box", keep_candidates=0.0,
                 formats=("box",))  # fmt: skip
    assert not (tmp_path / "box").exists()


def test_in_memory_micrographs_and_bad_requests(tmp_path, tiny_checkpoint, make_blobs):
    from napari_cryopick.core.model import load_checkpoint

    model, metadata = load_checkpoint(tiny_checkpoint)
    images = [Micrograph(make_blobs(i)[0], name=f"open{i}") for i in range(2)]
    request = PickRequest(micrographs=images, model=model, metadata=metadata, device="cpu",
                          threshold=0.0, formats=("box",))  # fmt: skip
    outcome = drive(pick(request))
    assert set(outcome.picks["micrograph"]) == {"open0", "open1"}
    assert outcome.written == ()
    # an output folder is the batch runner's (manifest, lock): files only, said so, and
    # the refused request leaves no folder behind
    with pytest.raises(ValueError, match="in-memory micrographs"):
        drive(pick(dataclasses.replace(request, out_dir=tmp_path / "o")))
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="no head 'nope'; heads are"):
        drive(pick(PickRequest(micrographs=images, model=model, metadata=metadata, head="nope")))
    # a typo is answered with the head meant (a trial's --head ribosom)
    with pytest.raises(ValueError, match=r"no head 'generc' \(did you mean 'generic'\?\)"):
        drive(pick(PickRequest(micrographs=images, model=model, metadata=metadata, head="generc")))
    # a data set of the model without a head of its own (a new model's): which head picks
    # it, not "no head" beside cryopick info's list of it (a continual trial)
    from dataclasses import replace as replaced

    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    card = replaced(ModelCard.from_metadata(metadata), datasets=(DatasetCard("ribo", 20.0),))
    with pytest.raises(ValueError, match="data set 'ribo' has no head of its own: the generic"):
        drive(pick(PickRequest(micrographs=images, model=model, metadata=card.to_metadata(),
                               head="ribo")))  # fmt: skip
    with pytest.raises(ValueError, match="no 'fiber' kind"):
        drive(pick(PickRequest(micrographs=images, model=model, metadata=metadata, kinds="fiber")))
    for bad in ({"threshold": 2.0}, {"diameter_px": -1.0}, {"formats": ("pdf",)}):
        with pytest.raises(ValueError):
            PickRequest(micrographs=images, **bad)


def test_the_default_head_brings_its_diameter(tmp_path, micrograph_files, make_config):
    """After few-shot training of ``setA``, picking without --head and --diameter uses
    setA's head and setA's diameter (30 px), not the model's default (20 px)."""
    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    model = Detector(make_config())
    model.add_head("setA", init_from="generic")
    card = ModelCard(
        heads=model.head_names,
        datasets=(DatasetCard("setA", diameter_px=30.0, head="setA"),),
        diameter_px=20.0,
        history=({"mode": "fewshot", "datasets": ["setA"]},),
    )
    path = save_checkpoint(tmp_path / "fs.pt", model, metadata=card.to_metadata())
    prepared = prepare(_request(micrograph_files[:1], path, None, diameter_px=None))
    assert prepared.config.head == "setA"
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(30.0)


def test_a_folder_of_no_data_set_picked_with_a_few_shot_head_beside_the_generic_ones(
    tmp_path, micrograph_files, make_config
):
    """A CLI trial added an apoferritin few-shot head to a ribosome model (whose ribosome
    the generic head picks) and picked a ribosome folder named for no data set: picked
    with the apoferritin head (AP 0.71 against 0.86), unsaid, as the model had one
    data-set head only. Its data sets count: two, so the guess is said."""
    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    model = Detector(make_config())
    model.add_head("b", init_from="generic")
    card = ModelCard(
        heads=model.head_names,
        datasets=(
            DatasetCard("a", diameter_px=DIAMETER, head="generic"),
            DatasetCard("b", diameter_px=DIAMETER, head="b"),
        ),
        diameter_px=DIAMETER,
        history=({"mode": "new", "datasets": ["a"]}, {"mode": "fewshot", "datasets": ["b"]}),
    )
    path = save_checkpoint(tmp_path / "a_then_b.pt", model, metadata=card.to_metadata())
    elsewhere = tmp_path / "ribosome_test" / "m0.mrc"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(micrograph_files[0].read_bytes())
    prepared = prepare(_request([elsewhere], path, None, threshold=None))
    assert prepared.config.head == "b"
    (said,) = prepared.warnings
    assert said.startswith(f"{path}: m0 picked with head 'b' (the last training's, "), said
    assert "pick with --head NAME (heads: b, generic (for a))" in said, said
    assert prepare(_request([elsewhere], path, None, head="b")).warnings == ()  # chosen
    # the few-shot head's own folder: its head, nothing to say
    assert prepare(_request(micrograph_files[2:], path, None, threshold=None)).warnings == ()
    # a model of one data set only (the few-shot head's): no guess to say
    alone = dataclasses.replace(card, datasets=card.datasets[1:], history=card.history[1:])
    single = save_checkpoint(tmp_path / "b.pt", model, metadata=alone.to_metadata())
    assert prepare(_request([elsewhere], single, None, threshold=None)).warnings == ()


def test_a_data_set_picked_with_another_head_than_its_own_is_warned_of(
    tmp_path, micrograph_files, make_config, make_blobs
):
    # a trial: cryopick pick ribosome/micrographs on a model whose last training was an
    # apoferritin few-shot head picked the ribosome with the apoferritin head, unsaid
    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    model = Detector(make_config())
    for name in ("a", "b"):
        model.add_head(name, init_from="generic")
    card = ModelCard(
        heads=model.head_names,
        datasets=tuple(DatasetCard(n, diameter_px=DIAMETER, head=n) for n in ("a", "b")),
        diameter_px=DIAMETER,
        history=({"mode": "fewshot", "datasets": ["b"]},),
    )
    path = save_checkpoint(tmp_path / "ab.pt", model, metadata=card.to_metadata())
    # folders a/ and b/ name the data sets; with a head named (or the Pick widget's Head
    # box) the others are said
    (warning,) = prepare(_request(micrograph_files, path, None, head="b")).warnings
    assert warning.startswith("picked with head 'b', but m0, m1 (data set 'a') have heads")
    assert prepare(_request(micrograph_files[2:], path, None)).warnings == ()
    # without --head, each data set's micrographs are picked with its own head (HydraPicker;
    # before, a run of both picked a/ with b's head, trained last, with a warning)
    mixed = prepare(_request(micrograph_files, path, None, threshold=None))
    assert mixed.warnings == ()
    assert mixed.config.head == "b"
    assert mixed.own_heads == {str(p.resolve()): "a" for p in micrograph_files[:2]}
    assert mixed.head_configs["a"].head == "a"
    picked = {p.parent.name: pick_one(mixed, p).diameter_px for p in micrograph_files[::2]}
    assert picked == {"a": pytest.approx(DIAMETER), "b": pytest.approx(DIAMETER)}
    # without --head, micrographs of one data set with a head of its own are picked with it
    # (HydraPicker's heads), at that head's own threshold: the default, not the one the
    # last training calibrated for b
    own = prepare(_request(micrograph_files[:2], path, None, threshold=None))
    assert (own.config.head, own.warnings) == ("a", ())
    # micrographs of a folder that names no data set: picked with the head trained last,
    # said with the heads to choose from (a trial: ribosome_test/ with the β-gal head, AP 0)
    elsewhere = tmp_path / "ribosome_test" / "m0.mrc"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(micrograph_files[0].read_bytes())
    (said,) = prepare(_request([elsewhere], path, None, threshold=None)).warnings
    assert said.startswith(f"{path}: m0 picked with head 'b' (the last training's, ")
    assert "pick with --head NAME (heads: a, b)" in said
    assert prepare(_request([elsewhere], path, None, head="b")).warnings == ()  # chosen
    # the Pick widget's micrographs (in memory, no data set in Annotate): its own words
    from napari_cryopick.io.micrographs import read_micrograph

    (said,) = prepare(_request([read_micrograph(elsewhere)], path, None, threshold=None)).warnings
    assert "belong to no data set of the model (Annotate's Data set)" in said
    assert "--head" not in said
    assert prepare(_request(micrograph_files[:2], path, None, head="b")).config.head == "b"
    # a general model's data-set heads are copies of its generic head: not chosen by folder
    # (nor advised: a trial's zero-shot folder was told to pick with its data set's head)
    # (its recipe's data sets: those of its first training)
    recipe = dataclasses.replace(card, history=({"mode": "joint", "datasets": ["a", "b"]},))
    general = ModelCard.from_metadata({**recipe.to_metadata(), "general_model": {"recipe": "x"}})
    assert "general_model" in general.extra
    # a model adapted from it: the head of the data set it was trained on is its own
    adapted = dataclasses.replace(
        general, history=(*general.history, {"mode": "fewshot", "datasets": ["c"]})
    )
    model.add_head("c", init_from="generic")
    adapted_path = save_checkpoint(tmp_path / "adapted.pt", model, metadata=adapted.to_metadata())
    c_micrographs = []
    for source in micrograph_files[:2]:
        target = tmp_path / "c" / source.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(source.read_bytes())
        c_micrographs.append(target)
    mixed = prepare(_request([*c_micrographs, *micrograph_files[:2]], adapted_path, None))
    assert (mixed.config.head, set(mixed.own_heads.values())) == ("c", set())
    assert prepare(_request(c_micrographs, adapted_path, None)).config.head == "c"
    general_path = save_checkpoint(tmp_path / "general.pt", model, metadata=general.to_metadata())
    assert prepare(_request(micrograph_files[:2], general_path, None)).config.head != "a"
    assert prepare(_request(micrograph_files, general_path, None, head="generic")).warnings == ()
    assert (
        "(data set 'b') have heads"
        in (prepare(_request(micrograph_files, path, None, head="generic")).warnings[0])
    )
    # micrographs held in memory (napari) say their data set in the request
    image = Micrograph(make_blobs(0)[0], name="open0")
    request = _request([image], path, None, head="b", datasets={"open0": "a"})
    assert prepare(request).warnings == (
        "picked with head 'b', but open0 (data set 'a') has a head of its own in the model: "
        "pick with that head (leave out --head: each data set with its own; the Pick "
        "widget's Head box: \"each data set's own\")",
    )


def _heads_model(path, make_config, sizes: dict, diameter_px: float, history: tuple):
    """A tiny model file with a head of its own for each data set of ``sizes`` ({name:
    diameter in pixels}), its card's diameter and training ``history``."""
    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    model = Detector(make_config())
    for name in sizes:
        model.add_head(name, init_from="generic")
    card = ModelCard(
        heads=model.head_names,
        datasets=tuple(DatasetCard(n, diameter_px=d, head=n) for n, d in sizes.items()),
        diameter_px=diameter_px,
        history=history,
    )
    return save_checkpoint(path, model, metadata=card.to_metadata())


def test_a_run_of_several_data_sets_picks_each_with_its_own_head(
    tmp_path, micrograph_files, make_config, caplog
):
    # HydraPicker's heads: micrographs of data sets a/ and b/ in one run (no --head) are
    # picked each with its own head, diameter and calibrated threshold (before: all with
    # b's, the head trained last, with a warning)

    path = _heads_model(
        tmp_path / "ab.pt",
        make_config,
        {"a": 24.0, "b": 16.0},
        DIAMETER,
        (
            {"mode": "fewshot", "datasets": ["a"], "pick_threshold": 0.21, "pick_border": 0.4},
            {"mode": "fewshot", "datasets": ["b"], "pick_threshold": 0.33},
        ),
    )
    request = _request(micrograph_files, path, None, diameter_px=None, threshold=None)
    with caplog.at_level("INFO", logger="napari_cryopick"):
        prepared = prepare(request)
    assert prepared.warnings == ()
    # both named, the default head's too (a trial read b as picked with a fallback)
    assert "each data set with a head of its own is picked with it: a, b\n" in caplog.text
    picked = {f"{p.parent.name}/{p.name}": pick_one(prepared, p) for p in micrograph_files}
    assert {k: v.diameter_px for k, v in picked.items()} == {
        "a/m0.mrc": 24.0, "a/m1.mrc": 24.0, "b/m0.mrc": 16.0, "b/m1.mrc": 16.0
    }  # fmt: skip
    assert {k: v.threshold for k, v in picked.items()} == {
        "a/m0.mrc": 0.21, "a/m1.mrc": 0.21, "b/m0.mrc": 0.33, "b/m1.mrc": 0.33
    }  # fmt: skip
    assert prepared.head_configs["a"].border == 0.4
    # one data set's folder with a head other than the default: said (a trial found it in
    # the manifest only); the default head's folder needs no word
    for folder, said in ((micrograph_files[:2], True), (micrograph_files[2:], False)):
        caplog.clear()
        with caplog.at_level("INFO", logger="napari_cryopick"):
            prepare(dataclasses.replace(request, micrographs=folder))
        own = "data set a is picked with its own head (the model's default head is 'b'; --head"
        assert (own in caplog.text) is said, caplog.text
        assert "with its own head" in caplog.text if said else "own head" not in caplog.text
    # a's own threshold and border also when its head is named, or its folder picked alone
    for one in (prepare(dataclasses.replace(request, head="a")),
                prepare(dataclasses.replace(request, micrographs=micrograph_files[:2]))):  # fmt: skip
        assert (one.config.head, one.config.threshold, one.config.border) == ("a", 0.21, 0.4)
    # the whole run through the batch runner writes each data set at its own head
    out = tmp_path / "out"
    every = {"formats": ("csv",), "keep_candidates": 0.0}  # every candidate: files differ by head
    outcome = drive(pick(dataclasses.replace(request, out_dir=out, **every)))
    assert outcome.n_done == 4
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.csv")) == [
        "a/m0.csv", "a/m1.csv", "b/m0.csv", "b/m1.csv"
    ]  # fmt: skip
    # the manifest says each micrograph's head and threshold (a trial: only the threshold,
    # and the main head's for all)
    from napari_cryopick.workflows.batch import read_manifests

    recorded = {
        Path(key).parent.name: (record["head"], record["threshold"])
        for key, record in read_manifests(out).items()
    }
    assert recorded == {"a": ("a", 0.21), "b": ("b", 0.33)}
    # resumed (the Pick widget's Pick folder…): kept, but a micrograph whose data set, and
    # so head, changed since is picked again with its new head (a review: its files of
    # the old head were kept)
    again = dataclasses.replace(request, out_dir=out, resume=True, **every)
    assert drive(pick(again)).n_kept == 4
    moved = drive(pick(dataclasses.replace(again, datasets={"m1": "b"})))
    assert moved.n_kept == 3
    heads = {
        f"{Path(key).parent.name}/{Path(key).name}": record["head"]
        for key, record in read_manifests(out).items()
    }
    assert heads == {"a/m0.mrc": "a", "a/m1.mrc": "b", "b/m0.mrc": "b", "b/m1.mrc": "b"}
    # Dask workers pick each with its own head too (they are handed the driver's choice)
    from napari_cryopick.workflows.batch import BatchOptions, run_batch

    far = tmp_path / "dask"
    job = run_batch(dataclasses.replace(request, out_dir=far, **every),
                    BatchOptions(dask="local:1", summary=False))  # fmt: skip
    assert drive(job).n_picked == 4
    for name in ("a/m0.csv", "b/m1.csv"):
        assert len(read_picks(out / name)) > 0
        assert (far / name).read_bytes() == (out / name).read_bytes()
    # a run of a/ alone takes a's head for the run, not the model's last (b): so do the
    # workers (a trial's Dask run of a ribosome folder picked with the last head, AP 0)
    alone = tmp_path / "dask_a"
    job = run_batch(dataclasses.replace(request, micrographs=micrograph_files[:2], out_dir=alone,
                                        **every), BatchOptions(dask="local:1", summary=False))  # fmt: skip
    assert drive(job).n_picked == 2
    (written,) = list(alone.rglob("m0.csv"))
    assert written.read_bytes() == (out / "a/m0.csv").read_bytes()


def test_an_unusual_header_pixel_size_and_a_micrograph_smaller_than_a_particle_are_said(
    tmp_path, tiny_checkpoint, make_blobs, caplog
):
    # a trial: 0.15 Å (nm read as Å) made --diameter-A 84 a 560 px diameter, unsaid; a
    # 40 px micrograph gave an empty file without a word
    from napari_cryopick.io.micrographs import write_mrc

    image = make_blobs(0)[0]
    nm = write_mrc(tmp_path / "nm.mrc", image, pixel_size=0.15)
    with caplog.at_level("WARNING"):
        outcome = drive(pick(_request([nm], tiny_checkpoint, None, diameter_px=None,
                                      diameter_A=3.0)))  # fmt: skip
    assert "nm.mrc: pixel size 0.15 Å from the micrograph's header is outside 0.3-20 Å" in (
        caplog.text
    )
    assert any("pixel size 0.15" in w for w in outcome.warnings)
    # a header that makes the diameter too small to pick at: the failure says why
    caplog.clear()
    coarse = write_mrc(tmp_path / "coarse.mrc", image, pixel_size=25.0)
    with caplog.at_level("WARNING"):
        outcome = drive(pick(_request([coarse], tiny_checkpoint, None, diameter_px=None,
                                      diameter_A=3.0)))  # fmt: skip
    assert "coarse.mrc: pixel size 25 Å from the micrograph's header is outside" in caplog.text
    caplog.clear()
    tiny = write_mrc(tmp_path / "tiny.mrc", image[:12, :12], pixel_size=2.0)
    with caplog.at_level("WARNING"):
        drive(pick(_request([tiny], tiny_checkpoint, None)))
    assert f"the micrograph (12 x 12 px) is smaller than one particle ({DIAMETER:.0f} px)" in (
        caplog.text
    )


def test_cli_pick_into_a_folder_says_how_many_fibers_it_traced(tmp_path, monkeypatch, capsys):
    # a trial read "picked 661 objects" for a fiber model whose files held 65 tubes: the
    # objects are the fibers' points, and the fibers were not counted
    import napari_cryopick.core.detect as core
    from napari_cryopick.cli import main
    from napari_cryopick.core.model import Detector, DetectorConfig, save_checkpoint
    from napari_cryopick.core.model.card import ModelCard
    from napari_cryopick.io.micrographs import write_mrc

    config = DetectorConfig(
        kinds=("fiber",), widths=(4, 8, 8, 8), feature_channels=8, head_width=8,
        target_diameter_px=DIAMETER,
    )  # fmt: skip
    card = ModelCard(kinds=("fiber",), heads=("generic",), diameter_px=DIAMETER)
    model = save_checkpoint(
        tmp_path / "fiber.pt", Detector(config).eval(), metadata=card.to_metadata()
    )
    stride = config.stride

    def one_fiber(model, prepared_image, **_kwargs):  # a horizontal fiber on row 20
        rows, cols = (n // stride for n in prepared_image.shape)
        rr = np.arange(rows)[:, None]
        along = (np.arange(cols)[None, :] >= 4) & (np.arange(cols)[None, :] <= cols - 5)
        heat = np.where(along, 0.9 * np.exp(-0.5 * ((rr - 20) / 1.0) ** 2), 0.0)
        return {
            "heatmap": heat[None].astype(np.float32),
            "offset": np.zeros((2, rows, cols), np.float32),
            "diameter": np.full((rows, cols), DIAMETER, np.float32),
        }

    monkeypatch.setattr(core, "predict_maps", one_fiber)
    (tmp_path / "mics").mkdir()
    noise = np.random.default_rng(0)  # a blank micrograph is skipped: no contrast
    for index in range(2):
        image = noise.normal(0, 1, (200, 300)).astype(np.float32)
        write_mrc(tmp_path / "mics" / f"m{index}.mrc", image)
    args = ["pick", str(tmp_path / "mics"), "--model", str(model), "--diameter", "20"]
    assert main([*args, "--no-rotations", "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    # fibers only: the fibers are what is counted, not their points (a trial: "picked
    # 209 objects" for 4 fibers)
    assert "traced 2 fibers (" in said
    assert " points along them) in 2 of 2 micrographs" in said
    assert "objects" not in said
    # --keep-candidates keeps no fiber below the threshold: not claimed (a trial)
    out = str(tmp_path / "kept")
    assert main([*args, "--no-rotations", "--out", out, "--keep-candidates", "0.05"]) == 0
    said = capsys.readouterr().out
    assert "--keep-candidates keeps no fiber below it" in said
    assert "also hold the" not in said


def test_box_size_sets_the_boxes_of_particles_not_their_centres(
    tmp_path, micrograph_files, tiny_checkpoint
):
    import starfile

    from napari_cryopick.io.formats.box import read as read_box_rows

    centres = {}
    for box in (None, 64.0):
        out = tmp_path / f"box{box}"
        drive(pick(_request(micrograph_files[:1], tiny_checkpoint, out, box_size_px=box,
                            formats=("box", "cbox", "star"))))  # fmt: skip
        boxes = read_box_rows(out / "m0.box")
        assert len(boxes)
        assert (boxes["diameter"] == (box or DIAMETER)).all()
        # one whole-pixel box a run, as crYOLO and EMAN2 write them (a trial's files
        # mixed 61 and 62 px boxes, CBOX widths 61.38, 61.458, ...): the diameter
        # picked at; CBOX keeps each pick's own size in _EstWidth
        cryolo = starfile.read(out / "m0.cbox", always_dict=True)["cryolo"]
        np.testing.assert_allclose(cryolo["Width"], box or DIAMETER)
        np.testing.assert_allclose(
            read_picks(out / "m0.cbox")["diameter"],
            read_picks(out / "m0.star")["diameter"],
            atol=1e-3,
        )
        centres[box] = read_picks(out / "m0.star")[["x", "y"]].to_numpy()
        np.testing.assert_allclose(read_picks(out / "m0.cbox")[["x", "y"]], centres[box], atol=1e-3)
        # BOX corners are whole pixels
        np.testing.assert_allclose(read_picks(out / "m0.box")[["x", "y"]], centres[box], atol=1)
    np.testing.assert_allclose(centres[None], centres[64.0])
    with pytest.raises(ValueError, match="--box-size must be > 0"):
        _request(micrograph_files[:1], tiny_checkpoint, None, box_size_px=0.0)
    # whole-pixel BOX files: 0.5 px wrote boxes of 0 px (a trial)
    with pytest.raises(ValueError, match=r"--box-size must be at least 1 px, got 0\.5"):
        _request(micrograph_files[:1], tiny_checkpoint, None, box_size_px=0.5)


def test_trained_model_far_from_its_diameter_warns(
    tmp_path, micrograph_files, tiny_checkpoint, caplog
):
    """The model learned 20 px: 40 px (2x) warns naming both, 22 px and 40 px x 0.5 do not."""
    import logging

    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    outcome = drive(pick(_request(micrograph_files[:1], tiny_checkpoint, None, diameter_px=40.0)))
    assert len(outcome.warnings) == 1
    assert "40 px" in outcome.warnings[0]
    assert "trained at 20 px" in outcome.warnings[0]
    assert str(tiny_checkpoint) in outcome.warnings[0]
    assert outcome.warnings[0] in caplog.text
    for options in ({"diameter_px": 22.0}, {"diameter_px": 40.0, "diameter_factor": 0.5}, {}):
        options = {"diameter_px": None, **options}
        assert not prepare(
            _request(micrograph_files[:1], tiny_checkpoint, None, **options)
        ).warnings
    # in Å: each micrograph resolves it, so it is checked there, once (a trial: --diameter
    # 75 warned, --diameter-A 150 at 2 Å/px said nothing)
    caplog.clear()
    angstrom = {"diameter_px": None, "diameter_A": 80.0, "pixel_size_A": 2.0}
    for _run in range(2):  # each run says it (once), as a GUI session picking twice
        outcome = drive(pick(_request(micrograph_files[:2], tiny_checkpoint, None, **angstrom)))
        (said,) = outcome.warnings
        assert "40 px (80 Å over the pixel size)" in said
        assert "leave out --diameter-A" in said
    logged = [r.getMessage() for r in caplog.records if "trained at 20 px" in r.getMessage()]
    assert len(logged) == 2


def test_a_model_of_particles_of_two_sizes_with_one_head(tmp_path, micrograph_files, make_config):
    # a trial's New model of ribosome (56 px) and β-gal (108 px) picked a ribosome
    # micrograph at 108 px without a word, and 56 px was warned of ("pick at 108 px")
    from _model_cards import save_data_set_heads_model
    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    card = ModelCard(
        datasets=(DatasetCard("small", diameter_px=12.0), DatasetCard("large", diameter_px=24.0)),
        diameter_px=24.0,
        history=({"mode": "new", "datasets": ["small", "large"]},),
    )
    path = save_checkpoint(
        tmp_path / "two.pt", Detector(make_config()), metadata=card.to_metadata()
    )
    with pytest.raises(
        ValueError, match=r"different sizes with one head \(small 12 px, large 24 px"
    ):
        prepare(_request(micrograph_files[:1], path, None, diameter_px=None))
    for size in (12.0, 13.0, 24.0):
        assert not prepare(_request(micrograph_files[:1], path, None, diameter_px=size)).warnings
    (said,) = prepare(_request(micrograph_files[:1], path, None, diameter_px=18.0)).warnings
    assert "trained at 12 px (small), 24 px (large)" in said
    # an in-memory model (the Pick widget's): no "the model:" in front (a re-trial)
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.io.micrographs import read_micrograph

    loaded, metadata = load_checkpoint(path)
    memory = _request([read_micrograph(micrograph_files[0])], None, None, diameter_px=18.0)
    memory = dataclasses.replace(memory, model=loaded, metadata=metadata)
    (said,) = prepare(memory).warnings
    assert said.startswith("picking at a particle diameter of 18 px")
    # a fiber model speaks of its width and its fibers (a trial: "a particle diameter")
    from napari_cryopick.core.model import Detector as FiberDetector

    fiber_card = ModelCard(kinds=("fiber",), heads=("generic",), diameter_px=24.0)
    fiber = save_checkpoint(tmp_path / "fiber.pt", FiberDetector(make_config(("fiber",))),
                            metadata=fiber_card.to_metadata())  # fmt: skip
    (said,) = prepare(_request(micrograph_files[:1], fiber, None, diameter_px=12.0)).warnings
    assert said.startswith(f"{fiber}: picking at a fiber width of 12 px")
    assert "a trained model finds fibers near the size it learned" in said
    # a continual model's generic head learned both data sets, each with a head of its own
    # (a trial: --head generic was told to pick the 56 px ribosome at β-gal's 108 px)
    path = save_data_set_heads_model(
        tmp_path / "heads.pt", {"small": 12.0, "large": 24.0}, config=make_config()
    )
    generic = {"head": "generic", "diameter_px": 12.0}
    assert not prepare(_request(micrograph_files[:1], path, None, **generic)).warnings
    with pytest.raises(ValueError, match="different sizes with one head"):
        prepare(_request(micrograph_files[:1], path, None, head="generic", diameter_px=None))
    (said,) = prepare(
        _request(micrograph_files[:1], path, None, head="large", diameter_px=12.0)
    ).warnings
    assert "pick at 24 px" in said  # a data-set head: its own size
    # sizes close enough to be one: the stored one, as before
    close = ModelCard(
        datasets=(DatasetCard("a", diameter_px=22.0), DatasetCard("b", diameter_px=24.0)),
        diameter_px=24.0,
        history=({"mode": "new", "datasets": ["a", "b"]},),
    )
    path = save_checkpoint(
        tmp_path / "close.pt", Detector(make_config()), metadata=close.to_metadata()
    )
    prepared = prepare(_request(micrograph_files[:1], path, None, diameter_px=None))
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(24.0)


def test_a_data_set_only_the_generic_head_learned_is_picked_at_its_own_size(
    tmp_path, micrograph_files, make_config, caplog
):
    """A CLI trial: apoferritin (62 px, --exemplars 0) then a continual β-gal run (108 px,
    a head of its own): picking an apoferritin folder was refused ("different sizes with
    one head: give the diameter"), where the docs promise its own size; and the data set,
    lost by the continual run, picked nothing, unsaid (``cryopick info`` too)."""
    import torch

    from napari_cryopick.cli._info import _format, model_info
    from napari_cryopick.core.model import Detector, load_checkpoint, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    torch.manual_seed(0)  # (the weights, not the tests run before: a CI's order read 9.4 px)
    model = Detector(make_config())
    model.add_head("large", init_from="generic")
    card = ModelCard(
        heads=model.head_names,
        datasets=(
            DatasetCard("small", diameter_px=12.0),  # the generic head's only
            DatasetCard("large", diameter_px=24.0, head="large"),
        ),
        diameter_px=24.0,
        history=(
            {"mode": "new", "datasets": ["small"]},
            {"mode": "continual", "datasets": ["large"]},
        ),
    )
    path = save_checkpoint(tmp_path / "lost.pt", model, metadata=card.to_metadata())
    names = {Path(m).stem: "small" for m in micrograph_files[:1]}
    request = _request(micrograph_files[:1], path, None, diameter_px=None, datasets=names)
    prepared = prepare(request)  # not refused
    assert prepared.config.head == "generic"
    (said,) = prepared.warnings
    assert said.startswith("small: only the generic head knew it (no head of its own, no ")
    assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(12.0)
    # a Dask worker picks it at that size too (a review: 24 px there), and so do the
    # batch runner's own processes; the files agree
    from napari_cryopick.workflows.batch import BatchOptions, run_batch

    every = {"formats": ("csv",), "keep_candidates": 0.0, "threshold": 0.0}
    near = dataclasses.replace(request, out_dir=tmp_path / "here", **every)
    far = dataclasses.replace(request, out_dir=tmp_path / "far", **every)
    assert drive(pick(near)).n_done == 1
    assert drive(run_batch(far, BatchOptions(dask="local:1", summary=False))).n_picked == 1
    (here,), (there,) = (list((tmp_path / f).rglob("*.csv")) for f in ("here", "far"))
    assert read_picks(here)["diameter"].median() == pytest.approx(12.0, rel=0.2)
    assert there.read_bytes() == here.read_bytes()
    # with a diameter given, or the generic head asked for, the lost data set is still said
    for options in ({"diameter_px": 12.0}, {"head": "generic"}):
        (said,) = prepare(dataclasses.replace(request, **options)).warnings
        assert said.startswith("small: only the generic head knew it"), options
    # a data set with a head of its own picked with the generic head: at its own size
    names = {Path(m).stem: "large" for m in micrograph_files[:1]}
    generic = _request(micrograph_files[:1], path, None, diameter_px=None, head="generic")
    generic = dataclasses.replace(generic, datasets=names)
    assert pick_one(prepare(generic), micrograph_files[0]).diameter_px == pytest.approx(24.0)
    # micrographs of no data set of the model: still refused without a diameter
    with pytest.raises(ValueError, match="different sizes with one head"):
        prepare(_request(micrograph_files[:1], path, None, diameter_px=None, head="generic"))
    loaded, metadata = load_checkpoint(path)
    text = _format(path, model_info(loaded, metadata))
    assert "small: no exemplars, no own head (only the generic head knew it, and a later " in text
    assert ModelCard.from_metadata(metadata).lost_by_continual({"small"}) == ()  # banked


def test_a_monitored_folder_is_picked_with_its_data_sets_head_and_size(
    tmp_path, micrograph_files, make_config, caplog
):
    """A review: monitor mode prepared its run before any micrograph arrived, so the
    data set's head was never chosen: a monitor of folder a/ picked with head b (trained
    last) at b's size, where a list run of a/ took head a; and a model whose generic head
    learned two sizes was refused. The folder names its micrographs' data set."""
    import os

    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard
    from napari_cryopick.workflows.batch import BatchOptions, read_manifests, run_batch
    from napari_cryopick.workflows.monitor import monitor

    def picked(model, tag, **changes):
        """{"list" | "monitor": (heads, median diameter)} of folder a/ picked both ways."""
        request = _request(
            micrograph_files[:2], model, None, diameter_px=None, keep_candidates=0.0, **changes
        )
        past = time.time() - 100  # settled long ago: the monitor takes them at once
        for path in micrograph_files[:2]:
            os.utime(path, (past, past))
        found = {}
        for way in ("list", "monitor"):
            out = tmp_path / f"{tag}_{way}"
            run = dataclasses.replace(request, out_dir=out, formats=("csv",))
            if way == "list":
                drive(run_batch(run, BatchOptions(summary=False)))
            else:
                run = dataclasses.replace(run, micrographs=())
                job = monitor(run, micrograph_files[0].parent, BatchOptions(summary=False),
                              idle_timeout=0.5, poll_s=0.1, settle_s=0.0)  # fmt: skip
                drive(job)
            records = read_manifests(out).values()
            sizes = [read_picks(f)["diameter"].median() for f in sorted(out.rglob("*.csv"))]
            found[way] = ({r.get("head") for r in records}, sizes)
        return found

    heads = _heads_model(
        tmp_path / "ab.pt",
        make_config,
        {"a": 14.0, "b": 28.0},
        28.0,
        ({"mode": "fewshot", "datasets": ["b"]},),
    )
    found = picked(heads, "heads")
    assert found["list"][0] == found["monitor"][0] == {"a"}, found
    assert found["monitor"][1] == pytest.approx([14.0, 14.0], rel=0.2), found
    # a folder of both data sets' folders: each micrograph with its own data set's head, as
    # a list run (a trial's monitor of a folder of two sessions: the ribosome's with the
    # β-gal head, AP 0)
    run = _request((), heads, tmp_path / "whole", diameter_px=None, formats=("csv",))
    drive(monitor(run, tmp_path, BatchOptions(summary=False), idle_timeout=0.5, poll_s=0.1,
                  settle_s=0.0))  # fmt: skip
    records = read_manifests(tmp_path / "whole").values()
    assert {Path(r["input"]).parent.name: r.get("head") for r in records} == {"a": "a", "b": "b"}
    # Dask workers too (the folder's heads travel with the run's model)
    run = _request((), heads, tmp_path / "far", diameter_px=None, formats=("csv",))
    drive(monitor(run, tmp_path, BatchOptions(summary=False, dask="local:1"),
                  idle_timeout=0.5, poll_s=0.1, settle_s=0.0))  # fmt: skip
    sizes = {
        f.parent.name: read_picks(f)["diameter"].median()
        for f in sorted((tmp_path / "far").rglob("*.csv"))
    }
    assert sizes == {"a": pytest.approx(14.0, rel=0.2), "b": pytest.approx(28.0, rel=0.2)}
    # a folder that names no data set of the model: the head trained last, said once
    import logging
    import shutil

    elsewhere = tmp_path / "incoming_0412"
    elsewhere.mkdir()
    for path in micrograph_files[:2]:
        shutil.copy(path, elsewhere / path.name)
        os.utime(elsewhere / path.name, (time.time() - 100, time.time() - 100))
    caplog.clear()
    run = _request((), heads, tmp_path / "none", diameter_px=None, formats=("csv",))
    with caplog.at_level(logging.WARNING):
        drive(monitor(run, elsewhere, BatchOptions(summary=False), idle_timeout=0.5,
                      poll_s=0.1, settle_s=0.0))  # fmt: skip
    said = [r.getMessage() for r in caplog.records if "names no data set" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert "picked with head 'b' (the last training's)" in said[0]
    # a head the monitored folder's name chose is said as such (a review: "the last
    # training's" for head a)
    (tmp_path / "a" / "session2").mkdir()
    shutil.copy(micrograph_files[0], tmp_path / "a" / "session2" / "late.mrc")
    os.utime(tmp_path / "a" / "session2" / "late.mrc", (time.time() - 100,) * 2)
    caplog.clear()
    run = _request((), heads, tmp_path / "sub", diameter_px=None, formats=("csv",))
    with caplog.at_level(logging.WARNING):
        drive(monitor(run, tmp_path / "a", BatchOptions(summary=False), idle_timeout=0.5,
                      poll_s=0.1, settle_s=0.0))  # fmt: skip
    assert "picked with head 'a' (the monitored folder's data set's)" in caplog.text
    assert "monitor with --head NAME (heads: a, b)" in said[0]
    # the generic head learned a (14 px) and b (28 px): each folder at its own size
    one = Detector(make_config())
    learned = ModelCard(
        heads=one.head_names,
        datasets=(DatasetCard("a", diameter_px=14.0), DatasetCard("b", diameter_px=28.0)),
        diameter_px=28.0,
        history=({"mode": "new", "datasets": ["a", "b"]},),
    )
    generic = save_checkpoint(tmp_path / "g.pt", one, metadata=learned.to_metadata())
    found = picked(generic, "generic")  # (refused before: "different sizes with one head")
    assert found["monitor"][1] == pytest.approx(found["list"][1]), found
    assert found["monitor"][1] == pytest.approx([14.0, 14.0], rel=0.2), found
    # a folder of no data set it learned: each micrograph refused, as a list run is (a
    # review: picked at the last size learned, unsaid)
    run = _request((), generic, tmp_path / "unknown", diameter_px=None, formats=("csv",))
    outcome = drive(monitor(run, elsewhere, BatchOptions(summary=False), idle_timeout=0.5,
                            poll_s=0.1, settle_s=0.0))  # fmt: skip
    assert outcome.n_picked == 0
    assert len(outcome.errors) == 2
    assert all("different sizes with one head" in e for e in outcome.errors.values())
    # a list run on Dask workers of such a model: the driver's sizes, not refused by the
    # workers (a review: "different sizes with one head" in the workers' setup)
    listed = _request(micrograph_files[:2], generic, tmp_path / "dask", diameter_px=None,
                      formats=("csv",), keep_candidates=0.0)  # fmt: skip
    outcome = drive(run_batch(listed, BatchOptions(summary=False, dask="local:1")))
    assert outcome.n_picked == 2, outcome.errors


def _besides_replaced(outcome) -> tuple[str, ...]:
    """An outcome's warnings but the one of a --pixel-size that replaces the headers'."""
    return tuple(w for w in outcome.warnings if "replaces the" not in w)


def test_a_model_trained_in_angstrom_is_checked_in_angstrom(
    tmp_path, micrograph_files, make_config, caplog
):
    # a trial: a model trained with --diameter-A 280 (56 px at 5 Å/px) picking a 2x-binned
    # optics group (10 Å/px: 28 px, right) was told to pick at 56 px, which lost the picks
    from dataclasses import replace

    from napari_cryopick.core.model import Detector, save_checkpoint
    from napari_cryopick.core.model.card import DatasetCard, ModelCard

    model = Detector(make_config())
    card = ModelCard(datasets=(DatasetCard("x", diameter_px=20.0),), diameter_px=20.0)
    card = replace(card, history=({"mode": "new", "datasets": ["x"], "diameter_A": 40.0},))
    path = save_checkpoint(tmp_path / "a.pt", model, metadata=card.to_metadata())
    binned = {"diameter_px": None, "diameter_A": 40.0, "pixel_size_A": 4.0}  # 10 px
    # (--pixel-size 4 stands for a binned optics group: the headers' 2 Å/px replaced, said)
    (replaced,) = drive(pick(_request(micrograph_files[:1], path, None, **binned))).warnings
    assert "--pixel-size 4 Å/px replaces the 2 Å/px of its header" in replaced
    far = {**binned, "diameter_A": 80.0}
    (said,) = _besides_replaced(drive(pick(_request(micrograph_files[:1], path, None, **far))))
    assert "80 Å, but the model was trained at 40 Å" in said
    assert "--diameter-A 40" in said
    # no diameter given: the trained Å at each micrograph's pixel size (a re-trial's binned
    # micrographs were picked at the training's pixels: 2 picks instead of 448)
    own = {"diameter_px": None, "pixel_size_A": 4.0}
    prepared = prepare(_request(micrograph_files[:1], path, None, **own))
    with caplog.at_level("INFO", logger="napari_cryopick"):
        assert pick_one(prepared, micrograph_files[0]).diameter_px == pytest.approx(10.0)
    assert prepared.warnings == ()
    # ... and said, as a note (a robustness trial's header pixel size gave 30.7 px for a
    # model trained at 56, unsaid: right if binned, wrong if the header is)
    notes = [r.getMessage() for r in caplog.records if "picked at a diameter" in r.getMessage()]
    assert len(notes) == 1, notes
    assert (
        "picked at a diameter of 10.0 px, the model's 40 Å over its pixel size 4 Å/px" in (notes[0])
    )
    assert "trained at 20 px" in notes[0]
    # the right diameter in pixels at that pixel size is not warned of (it was: "trained at
    # 20 px, pick at 20 px"); a wrong one is, in Å
    right = {"diameter_px": 10.0, "pixel_size_A": 4.0}
    assert _besides_replaced(drive(pick(_request(micrograph_files[:1], path, None, **right)))) == ()
    (said,) = _besides_replaced(drive(pick(_request(micrograph_files[:1], path, None, diameter_px=20.0,
                                  pixel_size_A=4.0))))  # fmt: skip
    assert "80 Å, but the model was trained at 40 Å" in said
    # trained with its own pixel size (wrong headers): the headers are not trusted
    overridden = replace(
        card,
        history=({"mode": "new", "datasets": ["x"], "diameter_A": 40.0, "pixel_size_A": 2.0},),
    )
    path2 = save_checkpoint(tmp_path / "o.pt", model, metadata=overridden.to_metadata())
    unsure = prepare(_request(micrograph_files[:1], path2, None, diameter_px=None))
    assert pick_one(unsure, micrograph_files[0]).diameter_px == pytest.approx(20.0)  # card px
    # ... and where a header says another pixel size, that is said (a docs check: PNGs
    # trained at 5 Å/px, a 2x-binned MRC picked at the training's pixels, unsaid); a
    # diameter in Å given trusts the headers
    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    (tmp_path / "bin").mkdir()
    binned_mrc = write_mrc(tmp_path / "bin" / "b.mrc", read_micrograph(micrograph_files[0]).data,
                       pixel_size=4.0)  # fmt: skip
    outcome = drive(pick(_request([binned_mrc], path2, None, diameter_px=None)))
    (said,) = outcome.warnings
    assert "header says 4 Å/px" in said
    assert "pick with --diameter-A 40 (10.0 px)" in said
    outcome = drive(pick(_request([binned_mrc], path2, None, diameter_px=None, diameter_A=40.0)))
    assert outcome.warnings == ()
    # a model trained in pixels: in Å the advice says it holds for the same pixel size
    pixels = save_checkpoint(
        tmp_path / "p.pt", model, metadata=replace(card, history=({"mode": "new"},)).to_metadata()
    )
    (said,) = _besides_replaced(drive(pick(_request(micrograph_files[:1], pixels, None, **binned))))
    assert "trained at 20 px" in said
    assert "binned otherwise" in said
    # a micrograph without a pixel size (a PNG) picked with the model trained in Å: at
    # the training's pixels, said once a run (a trial's PNGs were, unsaid)
    import imageio.v3 as iio

    data = read_micrograph(micrograph_files[0]).data
    (tmp_path / "png").mkdir()
    pngs = []
    for name in ("p1", "p2"):
        scaled = (255 * (data - data.min()) / np.ptp(data)).astype(np.uint8)
        iio.imwrite(tmp_path / "png" / f"{name}.png", scaled)
        pngs.append(tmp_path / "png" / f"{name}.png")
    outcome = drive(pick(_request(pngs, path, None, diameter_px=None)))
    (said,) = outcome.warnings
    assert "p1: no pixel size known" in said
    assert "trained at 40 Å: picked at the 20.0 px it was trained at (2 Å/px)" in said
    assert "give --pixel-size or --diameter" in said
    assert _besides_replaced(drive(pick(_request(pngs, path, None, diameter_px=20.0)))) == ()


def test_micrograph_without_contrast_is_skipped_with_its_reason(
    tmp_path, tiny_checkpoint, make_blobs
):
    import imageio.v3 as iio

    blank = tmp_path / "mics" / "const.png"
    blank.parent.mkdir()
    iio.imwrite(blank, np.full((96, 96), 7, dtype=np.uint8))
    image, _ = make_blobs(3)
    good = Micrograph(image, name="good")
    outcome = drive(pick(_request([blank], tiny_checkpoint, tmp_path / "out")))
    assert outcome.n_done == 0
    assert "no contrast" in outcome.errors[str(blank)]
    assert str(blank) in outcome.errors[str(blank)]
    assert not list((tmp_path / "out").glob("*.star"))
    assert not len(outcome.picks)
    outcome = drive(pick(_request([good], tiny_checkpoint, None)))
    assert outcome.n_done == 1


def test_cli_pick_pixel_size_reaches_the_request_and_the_fingerprint(tmp_path, micrograph_files):
    from napari_cryopick.cli import build_parser
    from napari_cryopick.cli._pick import request_from_args
    from napari_cryopick.workflows.batch import settings_fingerprint

    common = ["pick", str(micrograph_files[0]), "--diameter-A", "150", "--out", str(tmp_path)]
    plain = request_from_args(build_parser().parse_args(common))
    sized = request_from_args(build_parser().parse_args([*common, "--pixel-size", "1.5"]))
    assert (plain.pixel_size_A, sized.pixel_size_A) == (None, 1.5)
    assert settings_fingerprint(plain) != settings_fingerprint(sized)  # --skip redoes them


def test_the_automatic_pick_cap_keeps_earlier_runs_fingerprints(tmp_path, micrograph_files):
    # a review: --max-picks put "top_k": None into every request's options, so every
    # --skip run into an earlier run's folder re-picked everything
    import dataclasses

    from napari_cryopick.cli import build_parser
    from napari_cryopick.cli._pick import request_from_args
    from napari_cryopick.workflows.batch import settings_fingerprint

    common = ["pick", str(micrograph_files[0]), "--diameter", "20", "--out", str(tmp_path)]
    plain = request_from_args(build_parser().parse_args(common))
    assert "top_k" not in plain.options
    capped = request_from_args(build_parser().parse_args([*common, "--max-picks", "500"]))
    assert capped.options["top_k"] == 500
    assert settings_fingerprint(plain) != settings_fingerprint(capped)
    auto = dataclasses.replace(plain, options={**plain.options, "top_k": None})
    assert settings_fingerprint(auto) == settings_fingerprint(plain)


def test_vesicles_written_where_no_kind_is_stored_are_warned_about(tmp_path, make_config):
    """A trial's vesicle CBOX reopened as particles (and trained as particles) unsaid."""
    from napari_cryopick.core.model import Detector

    model = Detector(make_config(kinds=("vesicle",)))
    for formats, warned in ((("cbox",), True), (("topaz",), True), (("star", "csv"), False)):
        request = PickRequest(
            micrographs=[], model=model, diameter_px=40.0, out_dir=tmp_path, formats=formats
        )
        warnings = prepare(request).warnings
        said = [w for w in warnings if "cannot store that picks are vesicles" in w]
        assert bool(said) == warned, (formats, warnings)
    particles = PickRequest(
        micrographs=[], model=Detector(make_config()), diameter_px=20.0, out_dir=tmp_path,
        formats=("box",),
    )  # fmt: skip
    assert not prepare(particles).warnings


def test_each_file_boxes_its_particles_at_their_own_median_size(tmp_path):
    """A review: the Pick widget's export gave every micrograph the current one's
    diameter (and a particle CBOX beside fibers their width) as its box."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.workflows.pick import MicrographPicks, write_micrograph_picks

    for diameters, item_diameter, box in (([40.0, 41.4, 39.0], 120.0, 40.0), ([61.4] * 2, 5, 61)):
        picks = make_picks(np.arange(len(diameters)) * 100.0 + 80.0, [90.0] * len(diameters),
                           diameter=diameters, score=0.9, micrograph="m")  # fmt: skip
        item = MicrographPicks(
            name="m", path=None, shape=(512, 512), pixel_size=None, diameter_px=item_diameter,
            candidates=picks, picks=picks, fiber_paths=[], result=None, threshold=0.1,
        )  # fmt: skip
        request = PickRequest(micrographs=[], out_dir=tmp_path, formats=("box", "cbox"))
        written = write_micrograph_picks(item, tmp_path / "m", request, ("particle",))
        rows = np.loadtxt(written[0], ndmin=2)
        assert (rows[:, 2] == box).all()
        np.testing.assert_allclose(read_picks(written[1])["diameter"], diameters, atol=1e-3)


def test_helical_segments_of_images_without_a_pixel_size_fail_before_picking(tmp_path, make_config):
    """A review: `--helical-layout segments` on PNGs picked every micrograph, then failed
    each one's file (RELION's segments need a track length in Å)."""
    from napari_cryopick.core.model import Detector
    from napari_cryopick.workflows.pick import FiberOptions

    model = Detector(make_config(kinds=("fiber",)))
    values = {"micrographs": [tmp_path / "a.png"], "model": model, "diameter_px": 24.0,
              "out_dir": tmp_path / "out", "formats": ("star",)}  # fmt: skip
    segments = FiberOptions(helical_layout="segments")
    with pytest.raises(ValueError, match=r"a\.png: RELION helical segments .*--pixel-size"):
        prepare(PickRequest(**values, fibers=segments))
    prepare(PickRequest(**values, fibers=segments, pixel_size_A=1.5))  # given: fine
    prepare(PickRequest(**values))  # start-end pairs need none


def test_a_traced_fiber_passing_a_negative_goes_as_a_whole_and_the_rest_are_renumbered():
    from napari_cryopick.core.object_kinds import FiberPickResult
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.workflows.pick import _fibers_without

    paths = [
        np.array([[10.0, 10.0], [100.0, 10.0]]),
        np.array([[10.0, 50.0], [100.0, 50.0]]),
        np.array([[10.0, 90.0], [100.0, 90.0]]),
    ]
    picks = pd.concat(
        [
            make_picks(p[:, 0], p[:, 1], diameter=8.0, score=0.9, kind="fiber", tube_id=i + 1)
            for i, p in enumerate(paths)
        ],
        ignore_index=True,
    )
    fibers = FiberPickResult(
        paths=paths,
        picks=picks,
        candidates=picks.assign(tube_id=0),
        heatmap=np.zeros((4, 4), np.float32),
        heatmap_scale=(1.0, 1.0),
        heatmap_translate=(0.0, 0.0),
        threshold=0.5,
        link_radius_px=20.0,
        max_angle_deg=30.0,
    )
    # a negative beside the middle of the second path (between its vertices), within
    # half the 8 px width; one far from every path
    negatives = pd.DataFrame({"x": [55.0, 300.0], "y": [52.0, 300.0]})
    kept, gone = _fibers_without(fibers, negatives, 8.0)
    assert gone == 1
    assert [p[0, 1] for p in kept.paths] == [10.0, 90.0]
    assert sorted(set(kept.picks["tube_id"])) == [1, 2]
    assert (kept.picks.loc[kept.picks["tube_id"] == 2, "y"] == 90.0).all()
    # farther than half the width: nothing goes
    same, none = _fibers_without(fibers, pd.DataFrame({"x": [55.0], "y": [55.0]}), 8.0)
    assert none == 0
    assert same is fibers


def test_micrographs_picked_without_a_pick_are_named(tmp_path, micrograph_files, tiny_checkpoint,
                                                     capsys):  # fmt: skip
    # a trial: a trained model gave 1 pick on 3 inverted micrographs, and none on an
    # intensity ramp, without a word
    from napari_cryopick.cli import main

    common = ["pick", *map(str, micrograph_files[:2]), "--model", str(tiny_checkpoint),
              "--diameter", "20", "--device", "cpu"]  # fmt: skip
    assert main([*common, "--threshold", "1.0", "--out", str(tmp_path / "none")]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 of 2 picked micrograph(s) gave no pick at threshold 1: m0, m1" in err
    assert "--threshold" in err
    assert "--invert-contrast" in err
    assert main([*common, "--threshold", "0.0", "--out", str(tmp_path / "all")]) == 0
    assert "gave no pick" not in capsys.readouterr().err


def test_a_search_that_can_use_no_micrograph_says_why(tmp_path, micrograph_files, caplog):
    # a trial: "could read none of the micrographs (1 unreadable)" for a readable MRC
    # whose header has only the 1.0 Å placeholder, picked zero-shot with --diameter-A
    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    path = write_mrc(tmp_path / "p.mrc", read_micrograph(micrograph_files[0]).data, 1.0)
    request = PickRequest(micrographs=[path], diameter_A=150.0, device="cpu")
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        drive(pick(request))
    said = next(r.getMessage() for r in caplog.records if "search could use none" in r.getMessage())
    assert "no pixel size known" in said
    assert "unreadable" not in said


def test_picking_at_a_diameter_factor_keeps_the_border_at_the_given_diameter(
    micrograph_files, tiny_checkpoint, monkeypatch
):
    """A review: the zero-shot factor (0.8 on three of five benchmark sets) scaled the
    border margin too, keeping particles the edge cuts; the factor only rescales."""
    from napari_cryopick.core import detect

    seen = []
    original = detect.pick_micrograph

    def spy(*args, **kwargs):
        seen.append((kwargs["diameter_px"], kwargs.get("border_diameter_px")))
        return original(*args, **kwargs)

    monkeypatch.setattr(detect, "pick_micrograph", spy)
    request = _request(micrograph_files[:1], tiny_checkpoint, None, diameter_px=40.0)
    drive(pick(dataclasses.replace(request, diameter_factor=0.8)))
    assert seen == [(pytest.approx(32.0), 40.0)]


def test_a_run_of_data_sets_of_other_pixel_sizes_records_and_picks_each_in_angstrom(tmp_path):
    """A CLI trial: a joint training of apoferritin (2 Å/px) and the ribosome (5.4 Å/px),
    both near 54 px, said each was "recorded with the model" in Å; neither was, and a
    2x-binned apoferritin micrograph in a new folder was picked at 54 px, unsaid."""
    from napari_cryopick.cli import main
    from napari_cryopick.core.model import load_checkpoint
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.io.pickfiles import write_picks

    rng = np.random.default_rng(0)
    picks = tmp_path / "picks"
    picks.mkdir()
    for grid, pixel in (("GridA", 1.5), ("GridB", 4.0)):
        (tmp_path / grid).mkdir()
        for index in range(2):
            name = f"{grid.lower()}{index}"
            image = rng.normal(size=(128, 128)).astype(np.float32)
            write_mrc(tmp_path / grid / f"{name}.mrc", image, pixel)
            write_picks(make_picks([32.0, 64.0, 96.0], [32.0, 64.0, 96.0]), picks / f"{name}.star")
    out = tmp_path / "m.pt"
    assert main(["train", "--micrographs", str(tmp_path / "GridA"), str(tmp_path / "GridB"),
                 "--picks", str(picks), "--out", str(out), "--diameter", "20",
                 "--steps", "2", "--threads", "1"]) == 0  # fmt: skip
    _model, metadata = load_checkpoint(out)
    assert metadata["history"][-1]["diameters_A"] == {"GridA": 30.0, "GridB": 80.0}
    binned = tmp_path / "binned"
    binned.mkdir()
    write_mrc(binned / "a.mrc", rng.normal(size=(64, 64)).astype(np.float32), 3.0)
    # which protein a new folder shows is unknown: one size in pixels is two in Å, said
    prepared = prepare(_request([binned / "a.mrc"], out, None, diameter_px=None))
    (said,) = prepared.warnings
    assert "head 'generic' learned particles of one size in pixels but not in Å" in said
    assert "(GridA 30 Å, GridB 80 Å): these micrographs are picked at 20 px" in said
    assert "give --diameter-A" in said
    assert pick_one(prepared, binned / "a.mrc").diameter_px == pytest.approx(20.0)
    given = prepare(_request([binned / "a.mrc"], out, None, diameter_px=None, diameter_A=30.0))
    assert given.warnings == ()
    assert pick_one(given, binned / "a.mrc").diameter_px == pytest.approx(10.0)
    # a model with a head per data set (joint): each head picks at its own Å over this
    # micrograph's pixel size
    joint = tmp_path / "joint.pt"
    assert main(["train", "--micrographs", str(tmp_path / "GridA"), str(tmp_path / "GridB"),
                 "--picks", str(picks), "--out", str(joint), "--diameter", "20",
                 "--mode", "joint", "--steps", "2", "--threads", "1"]) == 0  # fmt: skip
    for head, expected in (("GridA", 10.0), ("GridB", 80.0 / 3.0)):
        one = prepare(_request([binned / "a.mrc"], joint, None, diameter_px=None, head=head))
        assert pick_one(one, binned / "a.mrc").diameter_px == pytest.approx(expected)
    # trained with --pixel-size (the headers wrong) and the data sets' own sizes: the
    # headers are not trusted, and the warning names the head's own Å (a review: it read
    # the run's one Å, None here, and every micrograph failed with a TypeError)
    for grid, size in (("GridA", 16.0), ("GridB", 32.0)):
        for index in range(2):
            name = f"{grid.lower()}{index}"
            write_picks(make_picks([32.0, 64.0, 96.0], [32.0, 64.0, 96.0], diameter=size),
                        picks / f"{name}.star")  # fmt: skip
    own = tmp_path / "own.pt"
    assert main(["train", "--micrographs", str(tmp_path / "GridA"), str(tmp_path / "GridB"),
                 "--picks", str(picks), "--out", str(own), "--pixel-size", "1.5",
                 "--mode", "joint", "--steps", "2", "--threads", "1"]) == 0  # fmt: skip
    _model, metadata = load_checkpoint(own)
    assert metadata["history"][-1]["diameters_A"] == {"GridA": 24.0, "GridB": 48.0}
    one = prepare(_request([binned / "a.mrc"], own, None, diameter_px=None, head="GridA"))
    assert pick_one(one, binned / "a.mrc").diameter_px == pytest.approx(16.0)
    (said,) = one.resolved_warnings.values()
    assert "the model was trained at 24 Å with --pixel-size 1.5" in said
    assert "--diameter-A 24 (8.0 px)" in said


def test_cryopick_pick_takes_the_data_set_a_file_was_annotated_as(tmp_path, monkeypatch):
    """A review: the Pick widget's Pick folder took the data set Annotate saved for a file
    (its sidecar), cryopick pick only its folder's name, so the same folder was picked
    with another head from the command line. One choice now, the workflow's."""
    from _model_cards import save_data_set_heads_model
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.annotations import Annotations, save_annotations
    from napari_cryopick.io.micrographs import write_mrc
    from napari_cryopick.workflows.pick import PickRequest, micrograph_datasets, prepare

    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(tmp_path / "user"))
    model = save_data_set_heads_model(tmp_path / "heads.pt", {"ribo": 56.0, "beta": 40.0})
    folder = tmp_path / "empiar_0000" / "micrographs"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = [write_mrc(folder / f"{n}.mrc", rng.normal(size=(160, 192)).astype(np.float32), 1.0)
             for n in ("a", "b")]  # fmt: skip
    save_annotations(Annotations(files[0], make_picks([50.0], [60.0]), "beta", 40.0))
    request = PickRequest(micrographs=files, model=model, device="cpu", out_dir=tmp_path / "out")
    assert micrograph_datasets(request) == [("a", "beta"), ("b", "empiar_0000")]
    prepared = prepare(dataclasses.replace(request, micrographs=files[:1]))
    assert prepared.config_for(str(files[0].resolve())).head == "beta"


def test_fiber_options_warning_says_when_the_options_can_do_nothing():
    from napari_cryopick.workflows.pick import FiberOptions, fiber_options_warning

    segments = FiberOptions(helical_layout="segments")
    assert fiber_options_warning(("fiber",), FiberOptions(), ("cbox",)) is None
    assert fiber_options_warning(("fiber",), segments, ("star",)) is None
    said = fiber_options_warning(("fiber",), segments, ("cbox",))
    assert said == (
        "the helical layout 'segments' applies to STAR files only: CBOX files of fibers keep "
        "their own layout"
    )
    said = fiber_options_warning(("vesicle",), FiberOptions(link_radius_px=50.0), ("star",))
    assert said.startswith("the fiber options given (link radius) do nothing")


def test_a_micrograph_of_another_binning_in_a_run_is_said(
    tmp_path, micrograph_files, tiny_checkpoint, caplog
):
    # a CLI trial's folder of a 4096 px JPG and a 2x binned 2048 px MRC: the binned one was
    # picked at the other's diameter (80 picks of 621 particles), nothing said
    from skimage.measure import block_reduce

    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    image = read_micrograph(micrograph_files[1]).data
    # (its header keeps the unbinned pixel size, as an export that does not rescale it)
    binned = write_mrc(
        tmp_path / "a" / "m1_bin2.mrc", block_reduce(image, (2, 2), np.mean), pixel_size=2.0
    )
    paths = [micrograph_files[0], binned]
    with caplog.at_level(logging.WARNING):
        outcome = drive(pick(_request(paths, tiny_checkpoint, None)))
    said = [r.getMessage() for r in caplog.records if "times the size of" in r.getMessage()]
    assert [w for w in outcome.warnings if "times the size of" in w] == said  # (and no other)
    assert all(isinstance(w, str) for w in outcome.warnings)
    rows, cols = image.shape
    assert said == [
        f"m1_bin2 ({cols // 2} x {rows // 2} px) is 0.5 times the size of m0 ({cols} x {rows} "
        f"px) and both are picked at {DIAMETER:.0f} px: if one is binned, pick it apart with "
        "its own --diameter (or give the micrographs' pixel sizes and --diameter-A) (said "
        "once a run)"
    ]
    # in napari, in the widget's words (a GUI trial was told of --diameter)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        drive(pick(_request(paths, tiny_checkpoint, None, in_napari=True)))
    said = [r.getMessage() for r in caplog.records if "times the size of" in r.getMessage()]
    assert said
    assert "if one is binned, give it its own diameter in Annotate" in said[0]
    assert "--diameter" not in said[0]
    # its header's pixel size right: picked at its own pixels (20 and 10 px), nothing to say
    binned = write_mrc(binned, block_reduce(image, (2, 2), np.mean), pixel_size=4.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        drive(pick(_request(paths, tiny_checkpoint, None, diameter_px=None, diameter_A=40.0)))
    assert not [r for r in caplog.records if "times the size of" in r.getMessage()]
    # picked at diameters of their own (each data set's head's, as a CLI trial's 1024 px
    # ribosome and 4096 px β-gal micrographs at 56 and 108 px): nothing either
    from napari_cryopick.workflows.pick import _warn_of_other_size, prepare

    prepared = prepare(_request(paths, tiny_checkpoint, None))
    small = Micrograph(np.zeros((48, 48), np.float32), name="small")
    large = Micrograph(np.zeros((192, 192), np.float32), name="large")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _warn_of_other_size(prepared, small, "small", 10.0)
        _warn_of_other_size(prepared, large, "large", 40.0)
        # another data set's head at the same diameter (a review)
        _warn_of_other_size(prepared, large, "large", 10.0, "setA")
        assert not caplog.records
        _warn_of_other_size(prepared, large, "large2", 10.0)  # at the small one's diameter
    assert [r.getMessage()[:50] for r in caplog.records] == [
        "large2 (192 x 192 px) is 4 times the size of small"
    ]
    # micrographs of one size: nothing either
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        drive(pick(_request(micrograph_files, tiny_checkpoint, None)))
    assert not [r for r in caplog.records if "times the size of" in r.getMessage()]


def test_micrographs_without_a_pick_are_said_at_the_thresholds_they_were_picked_at(capsys):
    # a CLI trial's apoferritin micrographs, picked with their own head at 0.0949, were
    # said to give no pick "at threshold 0.115" (the run's default head's)
    from types import SimpleNamespace

    from napari_cryopick.cli._batch import say_empty

    outcome = SimpleNamespace(
        empty=("a", "b"), n_picked=5, threshold=0.115, empty_thresholds=(0.0949,)
    )
    say_empty(outcome, "pick")
    assert "2 of 5 picked micrograph(s) gave no pick at threshold 0.0949: a, b" in (
        capsys.readouterr().err
    )
    say_empty(SimpleNamespace(**{**vars(outcome), "empty_thresholds": (0.0949, 0.115)}), "pick")
    assert "gave no pick at their heads' thresholds (0.0949, 0.115): a, b" in (
        capsys.readouterr().err
    )


def test_micrographs_with_far_fewer_picks_than_the_run_are_said(tmp_path, capsys):
    # a CLI trial's ten inverted copies got 5-23 picks each where the others got about
    # 110: only summary.png showed it
    from types import SimpleNamespace

    import pandas as pd

    from napari_cryopick.cli._batch import say_few

    rows = [(f"m{i}", "done", 110 + i) for i in range(8)]
    rows += [("inv0", "done", 5), ("inv1", "done", 21), ("empty", "done", 0), ("bad", "failed", 0)]
    summary = tmp_path / "summary.csv"
    pd.DataFrame(rows, columns=["micrograph", "status", "picks"]).to_csv(summary, index=False)
    say_few(SimpleNamespace(summary=(summary, tmp_path / "summary.png")), "pick")
    err = " ".join(capsys.readouterr().err.split())
    assert f"2 of the 11 micrograph(s) picked in {summary} gave fewer than a fifth of" in err
    assert "inv0 (5), inv1 (21)" in err  # not the one without picks (said apart)
    # a run of a few micrographs, or of few picks each, says nothing
    pd.DataFrame(rows[-4:], columns=["micrograph", "status", "picks"]).to_csv(summary, index=False)
    say_few(SimpleNamespace(summary=(summary,)), "pick")
    assert capsys.readouterr().err == ""
    say_few(SimpleNamespace(summary=()), "pick")  # no summary written: nothing read
    assert capsys.readouterr().err == ""


def test_fibers_are_counted_and_drawn_as_fibers_not_as_their_points(tmp_path, monkeypatch):
    """A fiber trial: the progress bar said "sim_0000: 186 picks" and the picture drew a
    circle on each of the 186 points of 4 traced fibers, titled "186 picks"."""
    import pandas as pd
    from matplotlib.axes import Axes

    from napari_cryopick.core.pick_table import make_picks, object_counts, objects_said
    from napari_cryopick.workflows.pick import MicrographPicks, PickProgress
    from napari_cryopick.workflows.pictures import save_picks_figure

    fibers = pd.concat(
        [
            make_picks(
                np.linspace(10, 90, 20),
                [20.0 + 20 * t] * 20,
                diameter=8.0,
                micrograph="m",
                kind="fiber",
                tube_id=t + 1,
            )
            for t in range(3)
        ],
        ignore_index=True,
    )
    particles = make_picks([50.0, 70.0], [90.0, 90.0], diameter=12.0, micrograph="m")
    table = pd.concat([fibers, particles], ignore_index=True)
    assert object_counts(table) == {"picks": 2, "vesicles": 0, "fibers": 3}
    assert objects_said(table) == "2 picks, 3 fibers"
    assert objects_said(fibers.iloc[:0]) == "0 picks"
    item = MicrographPicks("m", None, (100, 100), None, 12.0, table, table)
    event = PickProgress(1, 1, "m", len(table), 0.1, item=item)
    assert event.postfix() == "m: 2 picks, 3 fibers"
    lines, circles = [], []
    plot, patch = Axes.plot, Axes.add_patch
    monkeypatch.setattr(Axes, "plot", lambda self, *a, **k: lines.append(a) or plot(self, *a, **k))
    monkeypatch.setattr(Axes, "add_patch", lambda self, p: circles.append(p) or patch(self, p))
    save_picks_figure(np.zeros((100, 100), np.float32), table, tmp_path / "m.png", title="m")
    assert (tmp_path / "m.png").stat().st_size > 0
    assert len(lines) == 3  # one line per fiber
    assert len(circles) == 2  # one circle per particle, none on the fibers' points
    # fiber points of no known path (a table without tube_id): drawn as points, no line
    lines.clear(), circles.clear()
    save_picks_figure(np.zeros((100, 100), np.float32), fibers.drop(columns="tube_id"),
                      tmp_path / "p.png")  # fmt: skip
    assert len(lines) == 1
    assert not circles
    assert len(lines[0][0]) == len(fibers)


def test_a_large_micrographs_picture_is_drawn_binned_where_its_pixels_are(tmp_path, monkeypatch):
    """A trial's K3 super-resolution micrographs took 25 s and 5 GB a picture with
    --pictures (the whole image low-passed and drawn); binned first, the picture shows the
    same place where the circles are (original pixels)."""
    from matplotlib.axes import Axes
    from PIL import Image

    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.workflows import pictures

    image = np.zeros((3000, 4001), np.float32)
    image[1000:1200, 3000:3200] = 1.0  # a bright square at x 3000-3200, y 1000-1200
    drawn = []
    show = Axes.imshow
    monkeypatch.setattr(Axes, "imshow", lambda self, a, **k: drawn.append(a) or show(self, a, **k))
    picks = make_picks([3100.0], [1100.0], diameter=200.0, micrograph="m")
    pictures.save_picks_figure(image, picks, tmp_path / "m.png")
    assert max(drawn[0].shape) <= 2 * pictures.PICTURE_PIXELS  # binned, not 4001 px drawn
    picture = np.asarray(Image.open(tmp_path / "m.png").convert("L"), float)
    rows, cols = picture.shape
    bright = np.argwhere(picture > 200)
    y, x = bright.mean(axis=0)
    # the square's centre, (3100, 1100) in the micrograph, where it is in the picture
    assert x / cols * 4001 == pytest.approx(3100, abs=30)
    assert y / rows * 3000 == pytest.approx(1100, abs=30)


def test_every_micrograph_smaller_than_a_particle_is_named(tmp_path, tiny_checkpoint, caplog):
    # a CLI trial of 3 such micrographs (40 px MRC and PNG, 8 px MRC) read one warning
    # (m8x8's) in a log where the progress bar began the other two warnings' lines: each
    # micrograph is warned of by name (a guard: not said once a run)
    import imageio.v3 as iio

    from napari_cryopick.io.micrographs import write_mrc

    image = np.random.default_rng(0).normal(size=(12, 12)).astype(np.float32)
    paths = [write_mrc(tmp_path / "m8x8.mrc", image[:8, :8]),
             write_mrc(tmp_path / "tiny.mrc", image)]  # fmt: skip
    iio.imwrite(tmp_path / "tinyp.png", (image * 20 + 128).clip(0, 255).astype(np.uint8))
    paths.append(tmp_path / "tinyp.png")
    with caplog.at_level("WARNING"):
        drive(pick(_request(paths, tiny_checkpoint, None)))
    for name, side in (("m8x8", 8), ("tiny", 12), ("tinyp", 12)):
        assert (
            f"{name}.{'png' if name == 'tinyp' else 'mrc'}: the micrograph ({side} x {side} px) "
            "is smaller than one particle" in caplog.text
        )


def test_calibrated_thresholds_are_read_in_thousandths_rounded_down():
    """A GUI trial: a calibrated 0.1038 was 0.104 on the Pick slider (thousandths), and the
    widget wrote 2 picks fewer than cryopick pick at 0.1038. Both read it as 0.103 now."""
    from napari_cryopick.core.model.card import DatasetCard, ModelCard
    from napari_cryopick.workflows.pick import head_threshold, model_threshold, thousandth_below

    card = ModelCard(
        heads=("generic", "apo"),
        datasets=(DatasetCard("apo", diameter_px=40.0, head="apo"),),
        diameter_px=40.0,
        history=({"mode": "fewshot", "datasets": ["apo"], "pick_threshold": 0.10384},),
    )
    assert model_threshold(card) == 0.103
    assert head_threshold(card, "apo") == 0.103
    assert thousandth_below(0.15) == 0.15  # (no float error takes a thousandth off)
    assert thousandth_below(0.0999999) == 0.099
    import numpy as np

    # a float32 score at a thousandth is never below the threshold read from it (a review)
    scores = np.arange(10, 990, dtype=np.float32) / np.float32(1000)
    assert all(thousandth_below(float(s)) <= float(s) for s in scores)
