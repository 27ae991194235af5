"""Batch picking: resume (--skip), shards, read-ahead, summary, monitor, Dask."""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import logging
import os
import re
import shutil
import signal
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pipeline_helpers import THRESHOLD, tree_bytes, write_micrographs
from PIL import Image

from napari_cryopick.core.progress import drive
from napari_cryopick.io.pickfiles import read_picks
from napari_cryopick.workflows.batch import (
    BatchOptions,
    WorkItem,
    parse_dask,
    parse_shard,
    read_manifests,
    run_batch,
)
from napari_cryopick.workflows.monitor import monitor
from napari_cryopick.workflows.pick import PickRequest

NAMES = ["a/m0.mrc", "a/m1.mrc", "b/m0.mrc", "b/m1.mrc", "b/m2.mrc", "m9.mrc"]


def _request(paths, model, out, **changes):
    values = {
        "micrographs": paths,
        "model": model,
        "diameter_px": 20.0,
        "threshold": THRESHOLD,
        "out_dir": out,
    }
    values.update(changes)
    return PickRequest(**values)


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    return write_micrographs(tmp_path_factory.mktemp("mics"), NAMES)


@pytest.fixture(scope="module")
def reference(micrographs, tiny_model, tmp_path_factory):
    """Pick files of one uninterrupted sequential run."""
    import torch

    # one thread, as every test's runs (conftest's autouse fixture runs after this
    # module-scoped one): scores are written with 6 decimals, where a second thread's
    # sums can differ
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reference")
    outcome = drive(run_batch(_request(micrographs, tiny_model, out), BatchOptions(read_ahead=0)))
    assert outcome.n_picked == len(NAMES)
    assert not outcome.errors
    return tree_bytes(out)


def test_interrupted_run_resumes_with_skip_and_matches(
    micrographs, tiny_model, tmp_path, reference
):
    out = tmp_path / "out"
    request = _request(micrographs, tiny_model, out)
    job = run_batch(request, BatchOptions(skip=True))
    for _ in range(3):
        next(job)
    job.close()  # a kill between micrographs: three recorded, three to do
    assert len(read_manifests(out)) == 3
    outcome = drive(run_batch(request, BatchOptions(skip=True)))
    assert (outcome.n_picked, outcome.n_skipped) == (3, 3)
    assert tree_bytes(out) == reference
    # every micrograph picked exactly once across both runs
    lines = (out / "cryopick_manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    inputs = [r["input"] for r in records if r["status"] == "done"]
    assert sorted(inputs) == sorted(os.path.abspath(p) for p in micrographs)
    # each announced (its output names) before its files were written
    assert [r["status"] for r in records] == ["started", "done"] * len(NAMES) + ["summary"]


def test_a_record_cut_short_does_not_swallow_the_next_runs_first_record(
    micrographs, tiny_model, tmp_path
):
    # a trial filled the disk mid-record; the next run appended its first record to the
    # broken line, and every later --skip run picked that micrograph again
    out = tmp_path / "out"
    request = _request(micrographs[:2], tiny_model, out)
    drive(run_batch(request, BatchOptions(skip=True, summary=False)))  # a pick record last
    manifest = out / "cryopick_manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])  # the last one cut
    outcome = drive(run_batch(request, BatchOptions(skip=True)))
    assert (outcome.n_picked, outcome.n_skipped) == (1, 1)
    assert len(read_manifests(out)) == 2  # the record written after the cut reads
    outcome = drive(run_batch(request, BatchOptions(skip=True)))
    assert (outcome.n_picked, outcome.n_skipped) == (0, 2)


@pytest.mark.parametrize(
    "damaged",
    [
        {"input": [1]},
        {"outputs": "m1.star", "sizes": 5},
        {"outputs": [None]},
        {"sizes": ["big"]},
        {"digests": [3]},
        {"seconds": "x"},  # (a review: write_summary's format ended in a ValueError)
        {"mean_score": "x"},
        None,
    ],
)
def test_a_damaged_manifest_record_is_left_out_as_a_cut_one_is(
    micrographs, tiny_model, tmp_path, damaged
):
    """An I/O trial's hand-damaged manifest lines ended --skip runs in TypeErrors."""
    out = tmp_path / "out"
    request = _request(micrographs[:2], tiny_model, out)
    drive(run_batch(request, BatchOptions(skip=True, summary=False)))
    manifest = out / "cryopick_manifest.jsonl"
    done = [json.loads(line) for line in manifest.read_text().splitlines()]
    done = [record for record in done if record["status"] == "done"]
    # a copy of the first micrograph's record, damaged (or a line that is no record)
    line = json.dumps({**done[0], **damaged} if damaged else [1, 2])
    with open(manifest, "a") as handle:
        handle.write(line + "\n")
    outcome = drive(run_batch(request, BatchOptions(skip=True)))
    assert (outcome.n_picked, outcome.n_skipped) == (0, 2)


def test_a_run_does_not_replace_files_it_did_not_write(micrographs, tiny_model, tmp_path, caplog):
    # a trial: cryopick pick mics --out picks --format csv replaced the user's own hand
    # picks picks/<micrograph>.csv without a word
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    mine = out / "a" / "m1.star"
    mine.write_text("my picks\n")
    request = _request(micrographs, tiny_model, out)
    with pytest.raises(ValueError, match=r"1 file\(s\) would be replaced.*a/m1\.star.*--overwrite"):
        drive(run_batch(request, BatchOptions()))
    assert mine.read_text() == "my picks\n"
    assert sorted(p.name for p in out.rglob("*")) == ["a", "m1.star"]  # nothing written
    # its own files are its to replace: again, with other settings, or killed between the
    # write and the record (the files announced as started)
    elsewhere = tmp_path / "elsewhere"
    drive(run_batch(_request(micrographs, tiny_model, elsewhere), BatchOptions()))
    drive(run_batch(_request(micrographs, tiny_model, elsewhere, threshold=0.2), BatchOptions()))
    manifest = elsewhere / "cryopick_manifest.jsonl"
    lines = manifest.read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines[-3:]] == ["started", "done", "summary"]
    del lines[-2]  # the last micrograph's record lost
    manifest.write_text("\n".join(lines) + "\n")
    (elsewhere / "m9.star").write_text("written, then killed\n")
    drive(run_batch(_request(micrographs, tiny_model, elsewhere), BatchOptions()))
    # a file of the run changed since (corrected by hand) is the user's: refused without
    # --skip; a --skip resume keeps it, skips its micrograph, says so and picks the rest
    # (a batch trial: one edited file stopped the whole resume, a deleted one's too)
    edited = elsewhere / "b" / "m2.star"
    edited.write_text(edited.read_text() + "# checked\n")
    with pytest.raises(ValueError, match=r"b/m2\.star"):
        drive(run_batch(_request(micrographs, tiny_model, elsewhere), BatchOptions()))
    (elsewhere / "a" / "m0.star").unlink()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        resumed = drive(
            run_batch(_request(micrographs, tiny_model, elsewhere), BatchOptions(skip=True))
        )
    assert (resumed.n_picked, resumed.n_skipped) == (1, len(NAMES) - 1)
    assert resumed.n_kept == 1  # (a CLI trial: counted "already done" on the command line)
    assert (elsewhere / "a" / "m0.star").is_file()
    assert "resuming, kept 1 file(s)" in caplog.text
    assert "b/m2.star" in caplog.text
    assert edited.read_text().endswith("# checked\n")
    # every output edited or deleted: still this run's folder, the resume goes on (a
    # re-trial: refused when no micrograph was complete any more)
    few = tmp_path / "few"
    two = micrographs[:2]
    drive(run_batch(_request(two, tiny_model, few), BatchOptions(skip=True)))
    outputs = sorted(few.rglob("*.star"))
    outputs[0].write_text(outputs[0].read_text() + "# checked\n")
    outputs[1].unlink()
    resumed = drive(run_batch(_request(two, tiny_model, few), BatchOptions(skip=True)))
    assert (resumed.n_picked, resumed.n_skipped) == (1, 1)
    assert outputs[0].read_text().endswith("# checked\n")
    # an edit that keeps the size too (a digit changed by hand)
    same_size = elsewhere / "b" / "m1.star"
    text = same_size.read_text()
    digit = next(i for i, c in enumerate(text) if c.isdigit() and c != "9")
    same_size.write_text(text[:digit] + "9" + text[digit + 1 :])
    edited.write_text(edited.read_text().replace("# checked\n", ""))  # not that one now
    with pytest.raises(ValueError, match=r"1 file\(s\) would be replaced.*\(b/m1\.star\)"):
        drive(run_batch(_request(micrographs, tiny_model, elsewhere), BatchOptions()))
    # the files of a shard's run, then of whole-folder runs with other settings: the runs'
    # own, whatever the manifests' names (a re-trial: the shard's older record won)
    sharded = tmp_path / "sharded"
    drive(run_batch(_request(micrographs, tiny_model, sharded), BatchOptions()))
    other = _request(micrographs, tiny_model, sharded, diameter_px=26.0)  # other file sizes
    drive(run_batch(other, BatchOptions(shard=(1, 2))))
    for _again in range(2):
        again = _request(micrographs, tiny_model, sharded)
        assert drive(run_batch(again, BatchOptions())).n_picked == len(NAMES)
    # overwrite: replaced
    outcome = drive(run_batch(request, BatchOptions(overwrite=True)))
    assert outcome.n_picked == len(NAMES)
    assert mine.read_text() != "my picks\n"
    # a monitor session records a micrograph whose files are the user's as failed, goes on
    watched = tmp_path / "watched"
    write_micrographs(watched, ["w0.mrc", "w1.mrc"])
    streamed = tmp_path / "streamed"
    streamed.mkdir()
    (streamed / "w1.star").write_text("my picks\n")
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds

    job = monitor(
        _request((), tiny_model, streamed), watched, idle_timeout=3.0, poll_s=1.0,
        settle_s=0.0, clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    outcome = drive(job)
    assert outcome.n_picked == 1
    assert outcome.n_micrographs == 2  # the refused one counted (a re-trial: "0 of 0")
    assert list(outcome.errors) == [str(watched / "w1.mrc")]
    assert "not replaced" in outcome.errors[str(watched / "w1.mrc")]
    assert (streamed / "w1.star").read_text() == "my picks\n"


def test_an_export_after_a_killed_run_is_the_users_not_the_runs(tmp_path):
    # a docs check: a run killed after announcing m0.star ("started"), then the Pick
    # widget's export of corrected picks there: a later pick run replaced them unsaid
    from napari_cryopick.workflows.batch import foreign_files, record_export

    out = tmp_path / "out"
    out.mkdir()
    started = {"input": "/x/m0.mrc", "status": "started", "outputs": ["m0.star"],
               "started_at": time.time() - 60}  # fmt: skip
    (out / "cryopick_manifest.jsonl").write_text(json.dumps(started) + "\n")
    exported = out / "m0.star"
    exported.write_text("corrected picks\n")
    assert foreign_files(out, [exported]) == []  # the killed run's, before the export
    record_export(out, [exported])
    assert foreign_files(out, [exported]) == [exported]  # a pick run may not replace it
    assert foreign_files(out, [exported], include_exports=True) == []  # an export may


def test_a_users_summary_and_a_file_put_where_a_killed_run_never_wrote_are_refused(
    micrographs, tiny_model, tmp_path
):
    from napari_cryopick.workflows.batch import STARTED_WINDOW_S, foreign_files

    # left alone last session: a user's own summary.csv in --out was replaced unsaid
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("my notes\n")
    request = _request(micrographs[:2], tiny_model, out)
    with pytest.raises(ValueError, match=r"summary\.csv.*--no-summary writes no summary"):
        drive(run_batch(request, BatchOptions()))
    drive(run_batch(request, BatchOptions(summary=False)))  # no summary: nothing to replace
    assert (out / "summary.csv").read_text() == "my notes\n"
    drive(run_batch(request, BatchOptions(overwrite=True)))
    assert (out / "summary.csv").read_text().startswith("micrograph,")
    drive(run_batch(request, BatchOptions()))  # the summary is a run's now: replaced
    # a run's own summary is the next run's, and so are the summaries of runs that did
    # not record them (before 2026-12-02)
    legacy = tmp_path / "legacy"
    drive(run_batch(_request(micrographs[:2], tiny_model, legacy), BatchOptions()))
    manifest = legacy / "cryopick_manifest.jsonl"
    kept = [line for line in manifest.read_text().splitlines() if '"summary"' not in line]
    manifest.write_text("\n".join(kept) + "\n")
    drive(run_batch(_request(micrographs[:2], tiny_model, legacy), BatchOptions()))
    # a run killed after announcing m0.star and before writing it: a file put there an
    # hour later is the user's; one written at the time is the run's
    killed = tmp_path / "killed"
    killed.mkdir()
    announced = time.time() - 3600
    started = {"input": "/x/m0.mrc", "status": "started", "outputs": ["m0.star"],
               "started_at": announced}  # fmt: skip
    (killed / "cryopick_manifest.jsonl").write_text(json.dumps(started) + "\n")
    later = killed / "m0.star"
    later.write_text("my picks\n")
    assert foreign_files(killed, [later]) == [later]
    os.utime(later, (announced + 1, announced + 1))
    assert foreign_files(killed, [later]) == []
    os.utime(later, (announced + STARTED_WINDOW_S + 5,) * 2)
    assert foreign_files(killed, [later]) == [later]


def test_the_summary_never_replaces_a_micrograph_or_its_picks(micrographs, tiny_model, tmp_path):
    """A micrograph named summary picked to CSV lost its picks to the summary table, and
    --overwrite replaced an input summary.png in the output folder with the chart."""
    named = tmp_path / "mics" / "summary.mrc"
    named.parent.mkdir()
    shutil.copy(micrographs[0], named)
    other = shutil.copy(micrographs[1], named.parent / "m1.mrc")
    out = tmp_path / "out"
    request = _request([other, named], tiny_model, out, formats=("csv",))
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"summary\.mrc.*out/summary\.csv.*--no-summary"):
            drive(run_batch(request, BatchOptions(overwrite=overwrite)))
        assert not out.exists() or not any(out.iterdir())  # refused before writing anything
    # STAR picks of it go elsewhere; without a summary CSV picks are fine too
    drive(run_batch(dataclasses.replace(request, formats=("star",)), BatchOptions()))
    drive(run_batch(request, BatchOptions(summary=False)))
    assert read_picks(out / "summary.csv").shape[0] > 0
    # an input micrograph in the output folder, named as the chart
    folder = tmp_path / "folder"
    folder.mkdir()
    chart = folder / "summary.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(chart)
    before = chart.read_bytes()
    inside = _request([micrographs[0], chart], tiny_model, folder, formats=("csv",))
    with pytest.raises(ValueError, match=r"this micrograph is .*summary\.png"):
        drive(run_batch(inside, BatchOptions(overwrite=True)))
    assert chart.read_bytes() == before


def test_skip_redoes_changed_settings_missing_files_and_cut_records(
    micrographs, tiny_model, tmp_path
):
    out = tmp_path / "out"
    drive(run_batch(_request(micrographs, tiny_model, out), BatchOptions(skip=True)))
    (out / "b" / "m1.star").unlink()
    manifest = out / "cryopick_manifest.jsonl"
    manifest.write_text(manifest.read_text() + '{"input": "cut sh')  # a killed write
    again = drive(run_batch(_request(micrographs, tiny_model, out), BatchOptions(skip=True)))
    assert (again.n_picked, again.n_skipped) == (1, 5)
    changed = _request(micrographs, tiny_model, out, threshold=0.2)
    redo = drive(run_batch(changed, BatchOptions(skip=True)))
    assert (redo.n_picked, redo.n_skipped) == (6, 0)


def test_skip_picks_again_output_files_damaged_since(micrographs, tiny_model, tmp_path, caplog):
    """A scale trial: a finished run's folder copied with three files cut short (mid-row,
    empty, at a row's end) resumed with --skip kept all three "as edited" and exited 0;
    its summary still counted their old picks. A file that no longer reads (or is empty)
    holds no edit of the user's: picked again. One that reads is kept, as an edit, and a
    same-size change (zeros after a crash) is no longer taken as done."""
    out = tmp_path / "out"
    request = _request(micrographs, tiny_model, out)
    drive(run_batch(request, BatchOptions(skip=True)))
    cut, empty, shorter, zeros = (
        out / name for name in ("a/m0.star", "a/m1.star", "b/m0.star", "b/m1.star")
    )
    before = {path: path.read_bytes() for path in (cut, empty, shorter, zeros)}
    assert all(len(read_picks(path)) >= 3 for path in before)
    text = cut.read_text()
    cut.write_text(text[: text.rindex("\t")])  # mid-row: the last row one value short
    empty.write_bytes(b"")
    rows = shorter.read_text().splitlines(keepends=True)
    shorter.write_text("".join(rows[:-1]))  # a whole row less: as a user's deletion
    zeros.write_bytes(b"\0" * len(before[zeros]))
    # a user's edit that no longer reads, whole lines (a review: replaced as damaged)
    typo = out / "b" / "m2.star"
    typo.write_text(typo.read_text() + "12.5 oops\n")
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        resumed = drive(run_batch(request, BatchOptions(skip=True)))
    assert (resumed.n_picked, resumed.n_kept, resumed.n_damaged) == (3, 2, 3)
    assert "3 output file(s) an earlier run wrote are damaged now" in caplog.text
    assert "resuming, kept 2 file(s)" in caplog.text
    assert "b/m0.star" in caplog.text
    for path in (cut, empty, zeros):
        assert path.read_bytes() == before[path], path
    assert shorter.read_text() == "".join(rows[:-1])
    assert typo.read_text().endswith("12.5 oops\n")
    # the summary says what the kept file holds now, not the run's count
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False).set_index("input")
    row = summary.loc[str(micrographs[2])]  # b/m0.mrc
    now = len(read_picks(shorter))
    assert row["picks"] == now + 1  # the run's count
    assert f"b/m0.star changed since (edited?): it holds {now} picks now" in row["reason"]
    reason = summary.loc[str(micrographs[4]), "reason"]  # b/m2.mrc
    assert reason == "picked; b/m2.star changed since and cannot be read"
    # without --skip a damaged file is refused as any changed one (only a resume replaces)
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"would be replaced.*a/m1\.star"):
        drive(run_batch(request, BatchOptions()))


def test_a_second_name_of_a_micrograph_given_beside_it_is_no_other_layout(
    tiny_model, tmp_path, caplog
):
    """A scale trial: b.mrc -> a.mrc added to a picked folder was picked right, but the
    run said the micrographs were picked before under other names: give the same folders."""
    folder = tmp_path / "mics"
    (first,) = write_micrographs(folder, ["a.mrc"])
    out = tmp_path / "out"
    drive(run_batch(_request([first], tiny_model, out), BatchOptions(skip=True)))
    (folder / "b.mrc").symlink_to(first)
    paths = sorted(folder.iterdir())
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        again = drive(run_batch(_request(paths, tiny_model, out), BatchOptions(skip=True)))
    assert (again.n_picked, again.n_skipped) == (1, 1)
    assert (out / "b.star").is_file()
    assert "under other names" not in caplog.text
    # a name whose file's record is of a micrograph not given now (a folder moved or
    # renamed): still said
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "c.mrc").symlink_to(first)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        drive(run_batch(_request([moved / "c.mrc"], tiny_model, out), BatchOptions(skip=True)))
    assert "under other names" in caplog.text


def test_skip_through_a_linked_folder_knows_links_that_share_one_file(tiny_model, tmp_path):
    """A facility trial: a.png and b.png both links to one file, picked, then --skip
    through a link to their folder picked one of them again (one record kept per file)."""
    (real,) = write_micrographs(tmp_path / "data", ["real.mrc"])
    folder = tmp_path / "links"
    folder.mkdir()
    for name in ("a.mrc", "b.mrc"):
        (folder / name).symlink_to(real)
    first, again = _picked_then_again_through_a_link(folder, tiny_model, tmp_path)
    assert first.n_picked == 2
    assert (again.n_picked, again.n_skipped) == (0, 2)


def test_skip_knows_the_micrographs_of_a_moved_folder(tiny_model, tmp_path):
    """A facility trial moved its picked folder (scratch to archive) and --skip picked all
    of it again, unsaid: a micrograph of the same name, size and time whose recorded path
    is gone is the one picked. One replaced since, or a copy beside the original, is not."""
    import shutil

    folder = tmp_path / "scratch" / "mics"
    paths = write_micrographs(folder, ["m0.mrc", "m1.mrc", "m2.mrc"])
    out = tmp_path / "out"
    first = drive(run_batch(_request(paths, tiny_model, out), BatchOptions(skip=True)))
    assert first.n_picked == 3
    archive = tmp_path / "archive" / "mics"
    archive.parent.mkdir()
    folder.rename(archive)
    moved = sorted(archive.iterdir())
    stat = moved[1].stat()  # m1 touched since: picked again
    os.utime(moved[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    again = drive(run_batch(_request(moved, tiny_model, out), BatchOptions(skip=True)))
    assert (again.n_picked, again.n_skipped) == (1, 2)
    # a copy with the times kept, its original still there: not known by its name (its
    # picks would replace the original's: refused, test below)
    copies = tmp_path / "copies"
    copies.mkdir()
    shutil.copy2(moved[0], copies / "m0.mrc")
    out2 = tmp_path / "out2"
    drive(run_batch(_request([moved[0]], tiny_model, out2), BatchOptions(skip=True)))
    with pytest.raises(ValueError, match="picks of other micrographs"):
        drive(run_batch(_request([copies / "m0.mrc"], tiny_model, out2), BatchOptions(skip=True)))


def test_micrographs_of_the_same_names_in_another_folder_do_not_replace_the_picks(
    tiny_model, tmp_path
):
    """A trial picked other/ (a different data set, the same file names) into the folder
    mics/ was picked into: every file of mics/ was replaced, unsaid, with or without
    --skip, and summary.csv then said the user had edited them. Refused now, naming a
    file and both micrographs; --overwrite replaces them."""
    first = write_micrographs(tmp_path / "mics", ["m0.mrc", "m1.mrc"])
    other = write_micrographs(tmp_path / "other", ["m0.mrc", "m1.mrc"], pixel_size=3.0)
    out = tmp_path / "out"
    drive(run_batch(_request(first, tiny_model, out), BatchOptions()))
    before = (out / "m0.star").read_bytes()
    for options in (BatchOptions(), BatchOptions(skip=True)):
        with pytest.raises(ValueError, match=r"2 file\(s\) hold the picks of other") as error:
            drive(run_batch(_request(other, tiny_model, out), options))
        assert str(first[0]) in str(error.value)
        assert str(other[0]) in str(error.value)
    assert (out / "m0.star").read_bytes() == before
    again = drive(run_batch(_request(first, tiny_model, out), BatchOptions(skip=True)))
    assert again.n_skipped == 2  # the micrographs themselves: done, as before
    # in another format too: two files of one name for two micrographs (a GUI trial's BOX
    # files of other micrographs were written beside the STAR ones, said "other settings")
    boxes = dataclasses.replace(_request(other, tiny_model, out), formats=("box",))
    with pytest.raises(ValueError, match="hold the picks of other micrographs"):
        drive(run_batch(boxes, BatchOptions(skip=True)))
    assert not (out / "m0.box").exists()
    replaced = drive(run_batch(_request(other, tiny_model, out), BatchOptions(overwrite=True)))
    assert replaced.n_picked == 2
    # the folder's names are other/'s now: resuming it is no refusal (the latest owner)
    resumed = drive(run_batch(_request(other, tiny_model, out), BatchOptions(skip=True)))
    assert resumed.n_skipped == 2


def _picked_then_again_through_a_link(folder, model, tmp_path):
    """The micrographs of ``folder`` picked into ``tmp_path/out``, then picked with --skip
    through a link to ``folder``: both outcomes."""
    paths = sorted(folder.iterdir())
    out = tmp_path / "out"
    first = drive(run_batch(_request(paths, model, out), BatchOptions(skip=True)))
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    linked = [link / p.name for p in paths]
    return first, drive(run_batch(_request(linked, model, out), BatchOptions(skip=True)))


def test_skip_knows_a_micrograph_by_its_file_not_the_path_typed(tiny_model, tmp_path, caplog):
    """A trial: the same folder through a symlink was picked again; a micrograph replaced
    under the same path was taken as done."""
    import shutil

    folder = tmp_path / "mics"
    paths = write_micrographs(folder, ["m0.mrc", "m1.mrc", "m2.mrc"])
    out = tmp_path / "out"
    first, again = _picked_then_again_through_a_link(folder, tiny_model, tmp_path)
    assert first.n_picked == 3
    assert (again.n_picked, again.n_skipped) == (0, 3)
    # m1 replaced by another micrograph under the same name: picked again
    shutil.copyfile(paths[2], paths[1])
    stat = paths[1].stat()
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    with caplog.at_level(logging.INFO, logger="napari_cryopick.workflows.batch"):
        redo = drive(run_batch(_request(paths, tiny_model, out), BatchOptions(skip=True)))
    assert (redo.n_picked, redo.n_skipped) == (1, 2)
    # said why (a fuzzing trial's touched micrograph was picked again, unsaid)
    assert "1 micrograph(s) changed since they were picked" in caplog.text
    assert str(paths[1]) in caplog.text
    # another name of the same file writes its own picks (a trial: "1 already done", and
    # alias.star was never written); so does a folder picked again in another layout
    dotted = tmp_path / "dotted" / "m0.v2.mrc"  # its outputs m0.v2.star are not m0's
    dotted.parent.mkdir()
    dotted.symlink_to(paths[0])
    dotted_out = tmp_path / "dotted_out"
    drive(run_batch(_request([dotted], tiny_model, dotted_out), BatchOptions(skip=True)))
    plain = tmp_path / "dotted" / "m0.mrc"
    plain.symlink_to(paths[0])
    named = drive(run_batch(_request([plain], tiny_model, dotted_out), BatchOptions(skip=True)))
    assert (named.n_picked, named.n_skipped) == (1, 0)
    assert (dotted_out / "m0.star").is_file()
    alias = tmp_path / "aliases" / "alias.mrc"
    alias.parent.mkdir()
    alias.symlink_to(paths[0])
    named = drive(run_batch(_request([alias], tiny_model, out), BatchOptions(skip=True)))
    assert (named.n_picked, named.n_skipped) == (1, 0)
    assert len(read_picks(out / "alias.star")) == len(read_picks(out / "m0.star"))
    again = drive(run_batch(_request([alias, *paths], tiny_model, out), BatchOptions(skip=True)))
    assert again.n_skipped == 0  # two folders now: every stem is below its folder's name
    assert (out / "aliases" / "alias.star").is_file()
    assert (out / "mics" / "m0.star").is_file()
    assert (again.n_picked, again.n_skipped) == (4, 0)
    done = drive(run_batch(_request([alias, *paths], tiny_model, out), BatchOptions(skip=True)))
    assert (done.n_picked, done.n_skipped) == (0, 4)


def test_shards_partition_the_micrographs_and_share_the_summary(
    micrographs, tiny_model, tmp_path, reference
):
    out = tmp_path / "out"
    picked = []
    for index in (1, 2, 3):
        outcome = drive(
            run_batch(_request(micrographs, tiny_model, out), BatchOptions(shard=(index, 3)))
        )
        picked.append(outcome.n_picked)
        assert (out / f"cryopick_manifest.shard-{index}-of-3.jsonl").is_file()
    assert sum(picked) == len(NAMES)
    assert tree_bytes(out) == reference
    # each shard recorded its summary in its own manifest (the one whose lock it holds):
    # shards ending together appended to one file, which NFS does not keep whole
    assert not (out / "cryopick_manifest.jsonl").exists()
    for index in (1, 2, 3):
        lines = (out / f"cryopick_manifest.shard-{index}-of-3.jsonl").read_text().splitlines()
        assert [json.loads(line)["status"] for line in lines].count("summary") == 1
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0] == "micrograph,input,status,picks,mean_score,seconds,reason"
    assert len(rows) == 1 + len(NAMES)
    assert all(",done," in row for row in rows[1:])
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_monitor_shard_and_a_list_run_shard_take_the_same_micrographs(tiny_model, tmp_path):
    # one folder, split into N by monitors and by a job array alike
    folder = tmp_path / "in"
    write_micrographs(folder, [f"m{i}.mrc" for i in range(8)])
    listed = sorted(folder.glob("*.mrc"))
    options = BatchOptions(shard=(1, 2), summary=False)
    drive(run_batch(_request(listed, tiny_model, tmp_path / "list"), options))
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds

    job = monitor(
        _request((), tiny_model, tmp_path / "monitor"), folder, options, idle_timeout=5.0,
        poll_s=1.0, settle_s=0.0, clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    drive(job)
    by_list = sorted(p.name for p in (tmp_path / "list").glob("*.star"))
    by_monitor = sorted(p.name for p in (tmp_path / "monitor").glob("*.star"))
    assert 0 < len(by_list) < 8
    assert by_monitor == by_list


def test_skip_picks_again_a_micrograph_whose_listed_pixel_size_changed(
    micrographs, tiny_model, tmp_path
):
    # a review: the pixel sizes of a RELION or cryoSPARC list are not in the settings'
    # fingerprint, so --skip after a corrected optics table kept the old picks
    out = tmp_path / "out"
    request = _request(micrographs[:2], tiny_model, out)

    def run(*pixel_sizes):
        items = [
            WorkItem(path, out / path.stem, size)
            for path, size in zip(micrographs[:2], pixel_sizes, strict=True)
        ]
        outcome = drive(run_batch(request, BatchOptions(skip=True), items=items))
        return outcome.n_picked, outcome.n_skipped

    assert run(1.0, 1.0) == (2, 0)
    assert run(1.0, 1.0) == (0, 2)
    assert run(1.0, 1.25) == (1, 1)  # the second's optics group corrected
    # none given (the header's: a --monitor of the folder a list run filled) is not
    # compared with a list's, and --pixel-size beats every list's
    assert run(1.0, None) == (0, 2)
    request = dataclasses.replace(request, pixel_size_A=1.0)
    assert run(1.0, 1.25) == (2, 0)  # (another setting: the fingerprint's)
    assert run(1.5, 1.5) == (0, 2)


def test_shards_agree_when_the_folder_changed_between_their_starts(
    micrographs, tiny_model, tmp_path
):
    # the array tasks of a job start minutes apart, each listing the folder: a micrograph
    # written meanwhile moved every later one by a place, so (every N-th of the list)
    # some were picked by no shard and others by both
    out = tmp_path / "out"
    early = [path for path in micrographs if not str(path).endswith("a/m0.mrc")]
    runs = [(1, early), (2, list(micrographs))]
    picked = []
    for index, listed in runs:
        # (without --skip: a micrograph of both shards would be picked twice)
        job = run_batch(_request(listed, tiny_model, out), BatchOptions(shard=(index, 2)))
        picked += [event.written[0].relative_to(out).with_suffix("") for event in drive_events(job)]
    assert len(picked) == len(set(picked))  # none picked twice
    # every one but the latecomer (if shard 1's: listed after it started), which a
    # resubmitted shard 1 (--skip) picks
    missed = {name[: -len(".mrc")] for name in NAMES} - {p.as_posix() for p in picked}
    assert missed <= {"a/m0"}


def test_read_ahead_gives_the_same_files(micrographs, tiny_model, tmp_path, reference):
    out = tmp_path / "ahead"
    drive(run_batch(_request(micrographs, tiny_model, out), BatchOptions(read_ahead=3)))
    assert tree_bytes(out) == reference


def test_unreadable_micrograph_is_recorded_as_failed_and_retried(micrographs, tiny_model, tmp_path):
    broken = tmp_path / "broken.mrc"
    broken.write_bytes(b"not an mrc file")
    out = tmp_path / "out"
    request = _request([*micrographs, broken], tiny_model, out)
    outcome = drive(run_batch(request, BatchOptions(skip=True)))
    assert list(outcome.errors) == [str(broken)]
    assert str(broken) in outcome.errors[str(broken)]
    again = drive(run_batch(request, BatchOptions(skip=True)))
    assert (again.n_picked, again.n_skipped, len(again.errors)) == (0, len(NAMES), 1)


def test_a_micrograph_raising_any_error_fails_alone(micrographs, tiny_model, tmp_path, monkeypatch):
    """A review: CUDA's out-of-memory (a RuntimeError) on one micrograph ended the whole run
    with a traceback, unrecorded, and --skip met it again at every resume."""
    from napari_cryopick.workflows import batch

    real = batch.pick_one
    unlucky = micrographs[1]

    def out_of_memory(prepared, micrograph):
        if Path(micrograph.path) == Path(unlucky):
            raise RuntimeError("CUDA out of memory")
        return real(prepared, micrograph)

    monkeypatch.setattr(batch, "pick_one", out_of_memory)
    request = _request(micrographs, tiny_model, tmp_path / "out")
    outcome = drive(run_batch(request, BatchOptions(skip=True)))
    assert list(outcome.errors) == [str(unlucky)]
    assert outcome.errors[str(unlucky)] == f"{unlucky}: RuntimeError: CUDA out of memory"
    assert outcome.n_picked == len(micrographs) - 1
    monkeypatch.undo()  # resumed: only that one is picked
    again = drive(run_batch(request, BatchOptions(skip=True)))
    assert (again.n_picked, again.n_skipped, len(again.errors)) == (1, len(micrographs) - 1, 0)


def test_work_items_with_their_own_stems_and_pixel_sizes(micrographs, tiny_model, tmp_path):
    out = tmp_path / "job"
    items = [
        WorkItem(path, out / f"x{i}_autopick", pixel_size=1.0)
        for i, path in enumerate(micrographs[:2])
    ]
    request = _request((), tiny_model, out, diameter_px=None, diameter_A=30.0, formats=("csv",))
    outcome = drive(run_batch(request, BatchOptions(), items))
    assert outcome.n_picked == 2
    header = tmp_path / "header"
    plain = [WorkItem(path, header / f"x{i}") for i, path in enumerate(micrographs[:2])]
    drive(run_batch(dataclasses.replace(request, out_dir=header), BatchOptions(), plain))
    sizes = read_picks(out / "x0_autopick.csv")["diameter"].mean()
    header_sizes = read_picks(header / "x0.csv")["diameter"].mean()
    # the item's 1 A/px beats the MRC header's 2 A/px: picked at 30 px, not 15
    assert sizes > 1.5 * header_sizes


@pytest.mark.parametrize(("text", "expected"), [("1/4", (1, 4)), ("4/4", (4, 4))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0"])
def test_bad_shard_is_refused(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_dask_tasks_hold_a_few_micrographs():
    from napari_cryopick.workflows.batch import _auto_task_size

    assert _auto_task_size(6, 2) == 1  # short lists: every worker gets several tasks
    assert _auto_task_size(40, 2) == 4
    assert _auto_task_size(100_000, 20) == 4
    with pytest.raises(ValueError, match="task_size"):
        BatchOptions(task_size=0)


def test_parse_dask():
    assert parse_dask("local:2") == ("local", 2)
    assert parse_dask("slurm:20") == ("slurm", 20)
    assert parse_dask("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    for bad in ("local", "local:0", "kube:3", "slurm:x"):
        with pytest.raises(ValueError, match="--dask"):
            parse_dask(bad)


def test_monitor_tries_a_failed_micrograph_again_once_its_file_changes(tiny_model, tmp_path):
    # a trial: a file created empty, written seconds later, stayed failed all session (an
    # empty MRC now waits, below; a file that is no MRC at all fails, and is tried again)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "late.mrc").write_bytes(b"not an MRC file, a placeholder\n" * 64)
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds
        if clock["t"] == 3.0:
            write_micrographs(incoming, ["late.mrc"])  # written at last: another size

    job = monitor(
        _request((), tiny_model, tmp_path / "out"), incoming, idle_timeout=6.0, poll_s=1.0,
        settle_s=0.0, clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    events = []
    outcome = drive(job, events.append)
    assert [bool(e.error) for e in events] == [True, False]  # failed empty, then picked
    assert outcome.errors == {}
    assert outcome.n_micrographs == 1  # one micrograph, tried twice (a trial: "3 of 4")
    assert (tmp_path / "out" / "late.star").is_file()


def test_monitor_waits_for_an_mrc_shorter_than_its_header_says(tiny_model, tmp_path):
    """A trial's copy paused longer than the poll: the half-copied MRC was said to have
    failed as corrupt twice, then picked. It waits now, unsaid, and is picked once whole;
    one still cut short when the monitor stops is named as such."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    write_micrographs(tmp_path / "whole", ["late.mrc", "never.mrc"])
    data = (tmp_path / "whole" / "late.mrc").read_bytes()
    (incoming / "late.mrc").write_bytes(data[: len(data) // 3])  # the copy pauses
    (incoming / "never.mrc").write_bytes(data[:700])  # not even the header: stays so
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds
        if clock["t"] == 3.0:  # settled for two looks before the copy goes on
            (incoming / "late.mrc").write_bytes(data)

    job = monitor(
        _request((), tiny_model, tmp_path / "out"), incoming, idle_timeout=4.0, poll_s=1.0,
        settle_s=0.0, clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    events = []
    outcome = drive(job, events.append)
    assert [(e.micrograph, bool(e.error)) for e in events] == [("late", False)]
    assert (tmp_path / "out" / "late.star").is_file()
    assert list(outcome.errors) == [str(incoming / "never.mrc")]
    assert (
        "shorter than its MRC header says (700 bytes)"
        in outcome.errors[str(incoming / "never.mrc")]
    )
    assert outcome.n_micrographs == 2
    assert outcome.n_picked == 1


def test_a_cut_short_mrc_is_its_own_shards_only(tiny_model, tmp_path):
    """A review: every shard's monitor named (and counted) a cut-short MRC of the folder,
    whichever shard it belongs to."""
    from napari_cryopick.workflows.batch import shard_items

    incoming = tmp_path / "incoming"
    write_micrographs(tmp_path / "whole", [f"m{i}.mrc" for i in range(6)])
    incoming.mkdir()
    for path in sorted((tmp_path / "whole").glob("*.mrc")):
        (incoming / path.name).write_bytes(path.read_bytes()[:2000])  # all cut short
    owners = {}
    for shard in (1, 2):
        clock = {"t": 0.0}

        def sleep(seconds, clock=clock):
            clock["t"] += seconds

        out = tmp_path / "out"
        options = BatchOptions(shard=(shard, 2), summary=False)
        outcome = drive(monitor(
            _request((), tiny_model, out), incoming, options, idle_timeout=3.0, poll_s=1.0,
            settle_s=0.0, clock=lambda clock=clock: clock["t"], sleep=sleep,
        ))  # fmt: skip
        owners[shard] = sorted(Path(p).name for p in outcome.errors)
        assert outcome.n_micrographs == len(owners[shard])
        mine = shard_items(
            [WorkItem(p, out / p.stem) for p in sorted(incoming.glob("*.mrc"))], (shard, 2), out
        )
        assert owners[shard] == sorted(item.source.name for item in mine)
    assert sorted(owners[1] + owners[2]) == [f"m{i}.mrc" for i in range(6)]  # each once


def test_monitor_picks_a_micrograph_again_when_it_changes_after_it_was_picked(tiny_model, tmp_path):
    # a facility trial: a preallocated file picked while still zeros, and a micrograph
    # replaced under its name, kept their first picks all session (a restart re-picked them)
    from napari_cryopick.io.micrographs import write_mrc

    incoming = tmp_path / "incoming"
    (path,) = write_micrographs(incoming, ["m.mrc"])
    clock = {"t": 0.0}
    other = np.random.default_rng(7).normal(size=(96, 128)).astype(np.float32)

    def sleep(seconds):
        clock["t"] += seconds
        if clock["t"] == 3.0:
            write_mrc(path, other, 2.0)  # the same size: only its time tells

    out = tmp_path / "out"
    request = _request((), tiny_model, out)
    job = monitor(
        request, incoming, idle_timeout=6.0, poll_s=1.0, settle_s=0.0,
        clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    events = []
    outcome = drive(job, events.append)
    assert [e.micrograph for e in events] == ["m", "m"]
    assert outcome.errors == {}
    fresh = tmp_path / "fresh"
    drive(run_batch(_request([path], tiny_model, fresh), BatchOptions()))
    assert (out / "m.star").read_bytes() == (fresh / "m.star").read_bytes()
    # counted once, with its last picks (a review: "picked 39 objects in 2 of 1")
    assert (outcome.n_micrographs, outcome.n_picked) == (1, 1)
    assert outcome.n_picks == len(read_picks(out / "m.star"))
    # a restarted monitor has nothing left to do
    again = drive(monitor(request, incoming, idle_timeout=0.5, poll_s=0.1, settle_s=0.0))
    assert (again.n_picked, again.n_skipped) == (0, 1)
    # restarted, skipped as complete, then replaced: picked, one micrograph (a review:
    # "2 of 1" by this way round)
    clock["t"] = 0.0  # (sleep writes it again at t = 3: a new time)
    job = monitor(
        request, incoming, idle_timeout=6.0, poll_s=1.0, settle_s=0.0,
        clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    third = drive(job)
    assert (third.n_micrographs, third.n_picked, third.n_skipped) == (1, 1, 0)


def test_monitor_picks_again_a_micrograph_that_changed_while_it_was_picked(
    tiny_model, tmp_path, monkeypatch
):
    # a review: a slow writer went on between the scan and the manifest record; the record
    # took the finished file's size and time, so the half-written file's picks stayed
    import napari_cryopick.workflows.batch as batch
    from napari_cryopick.io.micrographs import write_mrc

    incoming = tmp_path / "incoming"
    (path,) = write_micrographs(incoming, ["m.mrc"])
    finished = np.random.default_rng(9).normal(size=(96, 128)).astype(np.float32)
    real_record = batch._record
    calls = []

    def written_meanwhile(result, written, out_dir):
        if not calls:
            write_mrc(path, finished, 2.0)  # the writer went on while it was picked
        calls.append(result.item.source)
        return real_record(result, written, out_dir)

    monkeypatch.setattr(batch, "_record", written_meanwhile)
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds

    out = tmp_path / "out"
    outcome = drive(monitor(
        _request((), tiny_model, out), incoming, idle_timeout=4.0, poll_s=1.0, settle_s=0.0,
        clock=lambda: clock["t"], sleep=sleep,
    ))  # fmt: skip
    assert calls == [path, path]  # picked again once it settled
    assert (outcome.n_skipped, outcome.n_picked) == (0, 1)
    fresh = tmp_path / "fresh"
    drive(run_batch(_request([path], tiny_model, fresh), BatchOptions()))
    assert (out / "m.star").read_bytes() == (fresh / "m.star").read_bytes()


def test_monitor_waits_for_a_micrograph_still_changing_and_names_it_when_stopped(
    tiny_model, tmp_path, caplog
):
    # a re-trial: a monitor stopped at its idle timeout while a micrograph was still being
    # rewritten, and said nothing; a change now counts as activity
    from napari_cryopick.io.micrographs import write_mrc

    incoming = tmp_path / "incoming"
    (path,) = write_micrographs(incoming, ["m.mrc"])
    clock = {"t": 0.0}
    rng = np.random.default_rng(3)

    def sleep(seconds):
        clock["t"] += seconds
        if clock["t"] <= 6.0:  # rewritten at every look until t = 6
            write_mrc(path, rng.normal(size=(96, 128)).astype(np.float32), 2.0)

    out = tmp_path / "out"
    job = monitor(
        _request((), tiny_model, out), incoming, idle_timeout=3.0, poll_s=1.0, settle_s=0.0,
        clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    events = []
    outcome = drive(job, events.append)
    assert [e.micrograph for e in events] == ["m"]  # once, when it stopped changing
    assert clock["t"] > 6.0
    assert (outcome.n_picked, outcome.errors) == (1, {})
    # stopped (Ctrl-C) while it changes: named, not taken as picked
    clock["t"] = 0.0
    stop = {"now": False}

    def sleep_then_stop(seconds):
        sleep(seconds)
        stop["now"] = clock["t"] >= 3.0

    options = BatchOptions(should_stop=lambda: stop["now"])
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.monitor"):
        again = drive(monitor(
            _request((), tiny_model, tmp_path / "out2"), incoming, options, idle_timeout=30.0,
            poll_s=1.0, settle_s=0.0, clock=lambda: clock["t"], sleep=sleep_then_stop,
        ))  # fmt: skip
    assert again.n_picked == 0
    assert "1 micrograph(s) were still being written or changed when the monitor stopped" in (
        caplog.text
    )
    assert "m.mrc" in caplog.text
    # Ctrl-C, as the command line's monitor ends: said too
    clock["t"] = 0.0
    caplog.clear()

    def sleep_then_interrupt(seconds):
        sleep(seconds)
        if clock["t"] >= 3.0:
            raise KeyboardInterrupt

    logged = caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.monitor")
    with logged, pytest.raises(KeyboardInterrupt):
        drive(monitor(
            _request((), tiny_model, tmp_path / "out3"), incoming, idle_timeout=30.0,
            poll_s=1.0, settle_s=0.0, clock=lambda: clock["t"], sleep=sleep_then_interrupt,
        ))  # fmt: skip
    assert "were still being written or changed when the monitor stopped" in caplog.text


def test_monitor_searches_folders_as_recursive_does(tiny_model, tmp_path):
    # a facility trial: the monitor picked the copies in .snapshot/ and passed over a
    # linked session folder; cryopick pick --recursive did the opposite
    from napari_cryopick.io.paths import expand_inputs

    incoming = tmp_path / "incoming"
    write_micrographs(incoming, ["a.mrc", ".snapshot/hourly/a.mrc", ".cache/b.mrc"])
    write_micrographs(tmp_path / "elsewhere", ["c.mrc"])
    (incoming / "session2").symlink_to(tmp_path / "elsewhere")
    (incoming / "session2" / "back").symlink_to(incoming)  # a loop: searched once
    (incoming / "folder.mrc").mkdir()  # a folder named like a micrograph: not one
    out = tmp_path / "out"
    outcome = drive(monitor(_request((), tiny_model, out), incoming, idle_timeout=2.0,
                            poll_s=0.5, settle_s=0.0))  # fmt: skip
    assert outcome.errors == {}
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.star"))
    assert written == ["a.star", "session2/c.star"]
    listed = expand_inputs([incoming], (".mrc",), "micrographs", recursive=True)
    assert sorted(str(p.relative_to(incoming)) for p, _ in listed) == ["a.mrc", "session2/c.mrc"]


def test_monitor_picks_a_refused_micrograph_once_the_users_file_is_moved_away(tiny_model, tmp_path):
    # left alone last session: a micrograph refused for the user's own picks in the
    # way stayed refused all session, and a user's summary.csv was replaced at the end
    incoming = tmp_path / "incoming"
    write_micrographs(incoming, ["w0.mrc"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("my notes\n")
    with pytest.raises(ValueError, match=r"summary\.csv"):
        drive(monitor(_request((), tiny_model, out), incoming, idle_timeout=1.0, poll_s=1.0))
    (out / "summary.csv").unlink()
    mine = out / "w0.star"
    mine.write_text("my picks\n")
    clock = {"t": 0.0}

    def sleep(seconds):
        clock["t"] += seconds
        if clock["t"] == 3.0:
            mine.rename(tmp_path / "kept.star")  # the user moves them away

    job = monitor(
        _request((), tiny_model, out), incoming, idle_timeout=6.0, poll_s=1.0,
        settle_s=0.0, clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    outcome = drive(job)
    assert outcome.errors == {}
    assert outcome.n_picked == 1
    assert read_picks(mine).shape[0] > 0
    assert (tmp_path / "kept.star").read_text() == "my picks\n"


def test_monitor_picks_files_once_they_stop_growing(tiny_model, tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    out = tmp_path / "out"
    clock = {"t": 0.0}
    growing = incoming / "sub" / "late.mrc"

    def sleep(seconds):
        time.sleep(0.1)  # real waiting too: it is no picking time
        clock["t"] += seconds
        tick = clock["t"]
        if tick == 1.0:
            write_micrographs(incoming, ["first.mrc"])
        elif tick in (2.0, 3.0):  # still being copied: a bit more at every look
            write_micrographs(incoming, ["sub/late.mrc"])
            growing.write_bytes(growing.read_bytes()[: int(500 * tick)])
        elif tick == 4.0:
            write_micrographs(incoming, ["sub/late.mrc"])  # the copy completes

    request = _request((), tiny_model, out)
    job = monitor(
        request, incoming, idle_timeout=5.0, poll_s=1.0, settle_s=0.0,
        clock=lambda: clock["t"], sleep=sleep,
    )  # fmt: skip
    events = []
    outcome = None
    try:
        while True:
            events.append((next(job).micrograph, clock["t"]))
    except StopIteration as stop:
        outcome = stop.value
    assert [name for name, _ in events] == ["first", "late"]
    assert events[1][1] >= 5.0  # not while it was growing
    assert not outcome.errors
    assert outcome.n_picked == 2
    # the time per micrograph is the picking's, not the waits for arrivals (a trial
    # read 18.5 s per micrograph of a monitor that picked each in 0.5 s)
    assert outcome.seconds - outcome.busy_seconds >= 0.9  # 9 waits of 0.1 s at least
    assert outcome.seconds_per_micrograph == pytest.approx(outcome.busy_seconds / 2)
    assert (out / "sub" / "late.star").is_file()
    # a restarted monitor does not pick them again
    again = drive(monitor(request, incoming, idle_timeout=0.5, poll_s=0.1, settle_s=0.0))
    assert (again.n_picked, again.n_skipped) == (0, 2)


@pytest.mark.slow
def test_dask_local_cluster_survives_a_lost_worker_and_matches_sequential(
    micrographs, tiny_model, tmp_path, reference, monkeypatch
):
    """Two worker processes, tasks of two micrographs; one worker is killed mid-run: every
    micrograph is written once, identically."""
    pytest.importorskip("distributed")
    from napari_cryopick.workflows import batch

    clients = []
    make_client = batch._make_client

    def keep_client(*args, **kwargs):
        made = make_client(*args, **kwargs)
        clients.append(made[0])
        return made

    monkeypatch.setattr(batch, "_make_client", keep_client)
    out = tmp_path / "dask"
    job = run_batch(
        _request(micrographs, tiny_model, out), BatchOptions(dask="local:2", task_size=2)
    )
    first = next(job)
    pids = list(clients[0].run(os.getpid).values())
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)  # a worker lost with its running task
    events = [first]
    try:
        while True:
            events.append(next(job))
    except StopIteration as stop:
        outcome = stop.value
    assert outcome.n_picked == len(NAMES)
    assert not outcome.errors
    assert len(events) == len(NAMES)
    lines = (out / "cryopick_manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    inputs = [r["input"] for r in records if r["status"] == "done"]
    assert sorted(inputs) == sorted(os.path.abspath(p) for p in micrographs)  # each once
    assert tree_bytes(out) == reference


@pytest.mark.slow
def test_dask_workers_warnings_are_said_by_the_command_once_each(tiny_model, tmp_path, caplog):
    """A trial: a Dask worker printed "the micrograph is smaller than one particle" on its
    own stderr without the ``WARNING:`` the command's lines have (and a SLURM worker's
    stderr is its job's log file). The driver now says each worker warning once."""
    pytest.importorskip("distributed")
    import numpy as np

    from napari_cryopick.io.micrographs import write_mrc

    paths = write_micrographs(tmp_path / "in", ["m0.mrc"])
    for seed, name in enumerate(("tiny0.mrc", "tiny1.mrc")):
        tiny = np.random.default_rng(seed).random((12, 12), np.float32)
        write_mrc(tmp_path / "in" / name, tiny)
        paths.append(tmp_path / "in" / name)
    caplog.set_level(logging.WARNING, logger="napari_cryopick")
    outcome = drive(
        run_batch(
            _request(paths, tiny_model, tmp_path / "out"), BatchOptions(dask="local:1", task_size=1)
        )
    )
    assert outcome.n_picked + len(outcome.errors) == 3
    said = [
        r
        for r in caplog.records
        if r.name == "napari_cryopick.workflows.batch" and "smaller than one particle" in r.message
    ]
    assert sorted(r.message.split(":")[0] for r in said) == ["tiny0", "tiny1"]
    assert all(r.levelno == logging.WARNING for r in said)


@pytest.mark.slow
def test_dask_scheduler_address_runs_on_that_cluster_and_matches_sequential(
    micrographs, tiny_model, tmp_path, reference, capsys, monkeypatch
):
    """``cryopick pick --dask tcp://...`` against a scheduler and worker started here.

    One more micrograph is corrupt: the worker reports it, the driver records it as
    failed, the others are written as in a sequential run.
    """
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from napari_cryopick.cli import main
    from napari_cryopick.workflows import batch

    # the workers' plugins as the run ends, before it removes its own
    at_end = []
    close = batch._Dask.close

    def looked_at_close(self):
        at_end.append(self.client.run(lambda dask_worker: sorted(dask_worker.plugins)))
        close(self)

    monkeypatch.setattr(batch._Dask, "close", looked_at_close)
    corrupt = micrographs[-1].parent / "zz_corrupt.mrc"  # beside m9.mrc: same layout
    corrupt.write_bytes(b"not an MRC file")
    with (
        _removed_after(corrupt),
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        out = tmp_path / "tcp"
        code = main(
            [
                "pick",
                *map(str, micrographs),
                str(corrupt),
                "--model",
                str(tiny_model),
                "--diameter",
                "20",
                "--threshold",
                str(THRESHOLD),
                "--out",
                str(out),
                "--dask",
                address,
            ]
        )
        assert code == 1  # one micrograph failed, the others were picked
        # the micrographs were picked on that cluster's worker: the model plugin was there
        ((names,),) = (plugins.values() for plugins in at_end)
        assert any(name.startswith("cryopick-model-") for name in names)
        # and is gone: the shared workers do not keep each run's model in memory
        (names,) = client.run(lambda dask_worker: sorted(dask_worker.plugins)).values()
        assert not any(name.startswith("cryopick-model-") for name in names)
        assert cluster.scheduler.address == address  # the cluster outlived the run
    assert tree_bytes(out) == reference
    records = read_manifests(out)
    assert len(records) == len(NAMES) + 1
    failed = records.pop(os.path.abspath(corrupt))
    assert failed["status"] == "failed"
    assert "zz_corrupt.mrc" in failed["error"]
    assert {r["status"] for r in records.values()} == {"done"}
    assert "zz_corrupt.mrc" in capsys.readouterr().err


def test_a_worker_that_could_not_load_the_model_fails_its_tasks_saying_why(
    micrographs, tmp_path, monkeypatch
):
    # a SLURM worker job that started late and could not set the model up (its node's
    # disk, its CUDA) only logged that in its own job log; each task it took then failed
    # on "'NoneType' object has no attribute ..."
    pytest.importorskip("distributed")
    import distributed

    from napari_cryopick.workflows import batch

    name = "cryopick-model-test"
    plugin = batch._plugin_class()(name, _request((), None, None), b"not a checkpoint")
    worker = types.SimpleNamespace(
        local_directory=str(tmp_path), address="tcp://10.1.2.3:4567", plugins={}
    )
    with pytest.raises(Exception):  # noqa: B017 (what distributed logs, whatever its kind)
        plugin.setup(worker)
    worker.plugins[name] = plugin  # (distributed keeps a plugin whose setup failed)
    monkeypatch.setattr(distributed, "get_worker", lambda: worker)
    item = WorkItem(micrographs[0], tmp_path / "m0")
    with pytest.raises(batch.WorkerSetupError) as raised:
        batch._dask_task(name, (item,))
    said = batch._message(item, raised.value)  # what the driver records for the micrograph
    assert said.startswith(f"{micrographs[0]}: Dask worker tcp://10.1.2.3:4567 could not load")
    assert "model.pt" in said  # the reason: the loader's, naming the file
    worker.plugins.clear()  # a plugin another run removed
    with pytest.raises(batch.WorkerSetupError, match="the run's plugin is not on this worker"):
        batch._dask_task(name, (item,))


def test_a_run_whose_model_the_shared_workers_refuse_leaves_nothing_on_them(
    micrographs, tiny_model, tmp_path, monkeypatch
):
    # a review: the scheduler keeps a plugin whose setup failed on a worker (and sets it up
    # on every worker joining later); the run removed it only after a registration that
    # succeeded
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from napari_cryopick.workflows import batch

    plugin_class = batch._plugin_class()

    class Refused(plugin_class):
        def _setup(self, worker):
            raise OSError("No space left on device")

    monkeypatch.setattr(batch, "_plugin_class", lambda: Refused)
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
        as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        options = BatchOptions(dask=cluster.scheduler_address)
        request = _request(micrographs[:1], tiny_model, tmp_path / "out")
        with pytest.raises(ValueError, match="No space left on device"):
            drive(run_batch(request, options))
        (names,) = client.run(lambda dask_worker: sorted(dask_worker.plugins)).values()
        assert not [name for name in names if name.startswith("cryopick-model-")]
        assert not [n for n in cluster.scheduler.worker_plugins if n.startswith("cryopick-")]


@contextlib.contextmanager
def _removed_after(path):
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def test_start_up_is_reported_apart_from_the_time_per_micrograph(
    micrographs, tiny_model, tmp_path, monkeypatch, capsys
):
    """Loading the model is a one-off cost: the outcome and the CLI line keep it apart."""
    from napari_cryopick.cli import main
    from napari_cryopick.workflows import batch

    slow_start = 0.5
    prepare = batch.prepare

    def slow_prepare(request):
        time.sleep(slow_start)
        return prepare(request)

    monkeypatch.setattr(batch, "prepare", slow_prepare)
    outcome = drive(run_batch(_request(micrographs, tiny_model, tmp_path / "out")))
    assert outcome.n_picked == len(NAMES)
    assert slow_start <= outcome.startup_seconds < outcome.seconds
    per = outcome.seconds_per_micrograph
    assert per * outcome.n_picked == pytest.approx(outcome.seconds - outcome.startup_seconds)
    assert per < (outcome.seconds - slow_start) / outcome.n_picked + 1e-9

    common = ["--model", str(tiny_model), "--diameter", "20", "--out", str(tmp_path / "cli")]
    assert main(["pick", *map(str, micrographs[:2]), *common]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.search(r", ([\d.]+) s \(start-up ([\d.]+) s, then ([\d.]+) s per micrograph\)", line)
    assert match, line
    total, startup, per = map(float, match.groups())
    assert startup >= slow_start - 0.05  # printed to 0.1 s
    assert total >= startup + 2 * per - 0.1


def test_a_dask_worker_removes_its_copy_of_the_model_when_it_closes(
    micrographs, tiny_model, tmp_path, monkeypatch
):
    pytest.importorskip("distributed")
    import tempfile

    from napari_cryopick.workflows import batch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp puts it
    plugin = batch._plugin_class()("cryopick-model-test", _request([], tiny_model, None),
                                   tiny_model.read_bytes())  # fmt: skip
    plugin.setup(worker=None)
    (copy,) = tmp_path.glob("cryopick-model-*")
    assert plugin.prepared is not None
    plugin.teardown(worker=None)
    assert not copy.exists()  # each run left one behind in the temporary folder


def test_a_dask_workers_copy_of_the_model_lies_in_its_own_scratch_folder(tiny_model, tmp_path):
    # a worker killed mid-run left its copy in /tmp for good (one per killed worker and
    # run); dask removes a dead worker's scratch folder itself
    pytest.importorskip("distributed")
    from types import SimpleNamespace

    from napari_cryopick.workflows import batch

    scratch = tmp_path / "worker-scratch"
    scratch.mkdir()
    plugin = batch._plugin_class()("cryopick-model-test", _request([], tiny_model, None),
                                   tiny_model.read_bytes())  # fmt: skip
    plugin.setup(worker=SimpleNamespace(local_directory=str(scratch)))
    try:
        (copy,) = scratch.glob("cryopick-model-*/model.pt")
        assert copy.read_bytes() == tiny_model.read_bytes()
    finally:
        plugin.teardown(worker=None)
    assert not any(scratch.iterdir())


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(
    micrographs, tiny_model, tmp_path, caplog
):
    # two `cryopick pick` runs into one --out wrote the same files and manifest at once
    # without a word
    import socket
    import subprocess
    import sys

    from napari_cryopick.workflows.batch import OutputBusyError

    out = tmp_path / "out"
    request = _request(micrographs[:2], tiny_model, out)
    first = run_batch(request, BatchOptions(read_ahead=0))
    next(first)  # the first run is writing
    lock = out / "cryopick_manifest.jsonl.lock"
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    with pytest.raises(OutputBusyError, match="another cryopick run is writing here"):
        drive(run_batch(request, BatchOptions(read_ahead=0)))
    # another shard of the same folder is another lock: allowed
    drive(run_batch(request, BatchOptions(read_ahead=0, shard=(2, 2))))
    drive(first)
    assert not lock.exists()
    assert not list(out.glob("*.lock"))

    # a run killed without releasing its lock (SIGKILL): its process is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    lock.write_text(json.dumps({"host": host, "pid": dead.pid, "started": "then"}))
    with caplog.at_level("WARNING"):
        outcome = drive(run_batch(request, BatchOptions(read_ahead=0)))
    assert outcome.n_picked == 2
    assert "ended without releasing it" in caplog.text
    assert not lock.exists()

    # another host's lock: refused while fresh, taken over once it is old
    lock.write_text(json.dumps({"host": host + "-node7", "pid": 12, "started": "now"}))
    with pytest.raises(OutputBusyError, match="node7"):
        drive(run_batch(request, BatchOptions(read_ahead=0)))
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        assert drive(run_batch(request, BatchOptions(read_ahead=0))).n_picked == 2
    assert not lock.exists()
    # its start and its last sign of life (a trial took the start time for its end)
    assert "ended without releasing it (started now, last active 3600 s ago" in caplog.text


def test_a_run_releases_only_its_own_lock_and_an_unreadable_old_lock_is_taken_over(tmp_path):
    # a review: a run whose lock had been taken over deleted the new owner's lock at its
    # end, and a lock file that was not JSON blocked every later run for ever
    from napari_cryopick.workflows.batch import OutputBusyError, _OutputLock

    manifest = tmp_path / "cryopick_manifest.jsonl"
    first = _OutputLock(manifest)
    lock = first.path
    record = json.loads(lock.read_text())
    record["host"] = "another-node"  # as if first ran elsewhere and stopped beating
    lock.write_text(json.dumps(record))
    old = time.time() - 3600
    os.utime(lock, (old, old))
    second = _OutputLock(manifest)  # takes the stale lock over
    assert json.loads(lock.read_text())["token"] != record["token"]
    first.release()  # the first run ends late: the second's lock stays
    assert lock.exists()
    with pytest.raises(OutputBusyError):
        _OutputLock(manifest)
    first.beat()  # nor does it touch it
    second.release()
    assert not lock.exists()
    lock.write_text("not json")
    with pytest.raises(OutputBusyError, match="another cryopick run"):
        _OutputLock(manifest)  # fresh: a run may be writing its record
    os.utime(lock, (old, old))
    third = _OutputLock(manifest)
    assert json.loads(lock.read_text())["token"]
    third.release()
    assert not list(tmp_path.iterdir())


def test_monitor_shards_share_the_micrographs_whatever_their_polls(tiny_model, tmp_path):
    # a trial: two --monitor shards (--poll 7 and --poll 1) of one folder picked 4 of 6
    # micrographs, each taking every 2nd of its own poll's new files; neither said so
    names = [f"m{i}.mrc" for i in range(8)]

    def shard_run(index, poll, incoming):
        incoming.mkdir()
        clock = {"t": 0.0}

        def sleep(seconds):
            clock["t"] += seconds
            for name in names[: int(clock["t"])]:  # one new micrograph a second
                if not (incoming / name).exists():
                    write_micrographs(incoming, [name])

        job = monitor(
            _request((), tiny_model, tmp_path / "out"), incoming,
            BatchOptions(shard=(index, 2), summary=False), idle_timeout=12.0, poll_s=poll,
            settle_s=0.0, clock=lambda: clock["t"], sleep=sleep,
        )  # fmt: skip
        return {event.micrograph for event in drive_events(job)}

    # the same arrivals seen by each shard at its own poll
    first = shard_run(1, 1.0, tmp_path / "in1")
    second = shard_run(2, 3.0, tmp_path / "in2")
    assert first.isdisjoint(second)
    assert first | second == {Path(n).stem for n in names}
    assert first
    assert second


def drive_events(job):
    events = []
    drive(job, events.append)
    return events


FAKE_SBATCH = """#!/bin/bash
# SLURM's sbatch, stood in for: the job runs here, in a process group of its own
[ "$1" = "--test-only" ] && exit 0
jobs="$(dirname "$0")/jobs"
mkdir -p "$jobs"
cp "$1" "$jobs/script.$$"
# the first job waits in the queue for a few seconds
[ -e "$jobs/started" ] || queued="sleep ${FAKE_SLURM_QUEUE_S:-0};"
setsid bash -c "$queued exec bash $jobs/script.$$" > "$jobs/log.$$" 2>&1 < /dev/null &
echo "$!" >> "$jobs/started"
echo "Submitted batch job $!"
"""
FAKE_SCANCEL = """#!/bin/bash
for job in "$@"; do kill -TERM -- "-$job" 2>/dev/null; done
exit 0
"""


@pytest.mark.slow
def test_a_slurm_worker_job_that_ends_is_replaced_and_the_run_finishes(
    micrographs, tiny_model, tmp_path, reference, monkeypatch
):
    # a review: with scale(jobs=N), a worker job SLURM ended (its wall time, a node lost)
    # was not replaced; the run waited for ever, its lock still beating. Here SLURM's two
    # commands start the jobs on this machine, and the first job is killed as SLURM kills
    # one at its wall time
    pytest.importorskip("dask_jobqueue")
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        (bin_folder / name).write_text(text)
        (bin_folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_QUEUE_S", "4")
    started = bin_folder / "jobs" / "started"
    out = tmp_path / "out"
    options = BatchOptions(
        dask="slurm:1",
        dask_options={"walltime": "00:30:00", "memory": "2GB"},
        task_size=1,
        max_in_flight=1,  # one micrograph at a time: the rest need the next job
    )
    job = run_batch(_request(micrographs, tiny_model, out), options)
    # a run that waits for ever (the failure this test is about) ends this process with
    # its threads' tracebacks instead of hanging the suite (pytest-xdist reports the test)
    faulthandler.dump_traceback_later(240, exit=True)
    try:
        picked = [next(job)]
        (first,) = started.read_text().split()
        os.killpg(int(first), signal.SIGKILL)  # SLURM at the wall time
        outcome = drive(job, picked.append)
    finally:
        faulthandler.cancel_dump_traceback_later()
        jobs = started.read_text().split()
        for pid in jobs:  # (the run's end cancelled them; a failed test's too)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)
    assert len(jobs) >= 2  # the job that ended was replaced
    assert [event.error for event in picked] == [""] * len(NAMES)
    assert tree_bytes(out) == reference
    # the first job's time in the queue is said apart, not as picking time
    assert outcome.waiting_seconds >= 4.0
    assert outcome.seconds_per_micrograph < (outcome.seconds - outcome.startup_seconds - 3.5) / 6
    # and the workers leave before their wall time (30 min less 2 min)
    for script in (bin_folder / "jobs").glob("script.*"):
        assert "--lifetime 1680s --lifetime-stagger 30s" in script.read_text()


def test_local_dask_workers_leave_ctrl_c_to_the_command_and_take_any_free_port():
    # a trial's Ctrl-C of --dask local:2 printed a KeyboardInterrupt traceback from every
    # worker process (the terminal signals the whole process group); the command itself
    # stops the run and closes the cluster
    pytest.importorskip("distributed")
    import signal
    import socket
    import warnings

    from napari_cryopick.workflows.batch import _make_client

    before = signal.getsignal(signal.SIGINT)
    # another user's dashboard on 8787 (a trial on a shared machine: distributed warned
    # with its library path); taken here when free
    held = socket.socket()
    with contextlib.suppress(OSError):
        held.bind(("", 8787))
        held.listen()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        client, cluster, workers = _make_client("local:1", {})
    held.close()
    assert not [w for w in said if "already in use" in str(w.message)]
    try:
        assert workers == 1
        said = client.run(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        assert list(said.values()) == [True]
        assert signal.getsignal(signal.SIGINT) is before  # this process: as it was
    finally:
        client.close()
        cluster.close()


def test_skip_says_when_other_folders_lay_the_outputs_out_otherwise(tiny_model, tmp_path, caplog):
    """A batch trial: ``pick gridB --skip`` then ``pick gridB apo --skip`` into one folder
    picked gridB's micrographs again into ``gridB/`` (the outputs mirror the folders
    given), the earlier files left at the top, unsaid."""
    grid = write_micrographs(tmp_path / "gridB", ["s0.mrc", "s1.mrc"])
    apo = write_micrographs(tmp_path / "apo", ["p0.mrc"])
    out = tmp_path / "out"
    drive(run_batch(_request(grid, tiny_model, out), BatchOptions(skip=True)))
    assert (out / "s0.star").is_file()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        both = drive(run_batch(_request([*grid, *apo], tiny_model, out), BatchOptions(skip=True)))
    assert (both.n_picked, both.n_skipped) == (3, 0)
    assert "2 micrograph(s) were picked into this folder before under other names" in caplog.text
    assert "s0.star, now gridB/s0" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.workflows.batch"):
        again = drive(run_batch(_request([*grid, *apo], tiny_model, out), BatchOptions(skip=True)))
    assert (again.n_picked, again.n_skipped) == (0, 3)
    assert "other names" not in caplog.text


def test_warnings_kept_by_overlapping_tasks_leave_the_logger_as_found():
    """A review: each task of a worker of several threads restored the propagate flag it
    found, so one task ending inside another's left the package's logger silent for good.
    Each task keeps its own thread's warnings; the flag comes back with the last one."""
    import threading

    from napari_cryopick.workflows.batch import _warnings_kept

    package = logging.getLogger("napari_cryopick")
    child = logging.getLogger("napari_cryopick.workflows.pick")
    assert package.propagate
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    kept = {}

    def task(name, entered, wait_for, then):
        with _warnings_kept() as said:
            entered.set()
            wait_for.wait(5)
            child.warning("from %s", name)
            kept[name] = list(said)
        then.set()

    a = threading.Thread(target=task, args=("a", a_in, b_in, a_out))
    b = threading.Thread(target=task, args=("b", b_in, a_out, threading.Event()))
    a.start()
    a_in.wait(5)
    b.start()
    a.join(5)
    b.join(5)
    assert kept == {"a": ["from a"], "b": ["from b"]}
    assert package.propagate
    assert not [h for h in package.handlers if type(h).__name__ == "Keep"]


def test_the_summary_counts_a_kept_fiber_file_in_fibers(tmp_path):
    """A re-trial: a fibers' file edited since was summarised "it holds 234 picks now"
    beside the run's 661 (points along the fibers, not the vertices read back): a user
    read it as 430 picks lost. Fibers are counted as fibers."""
    from napari_cryopick.core.pick_table import make_picks
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.batch import _changed

    fibers = make_picks([10.0, 90.0, 10.0, 90.0], [10.0, 10.0, 50.0, 50.0], diameter=20.0,
                        score=0.9, kind="fiber", tube_id=[1, 1, 2, 2])  # fmt: skip
    path = write_picks(fibers, tmp_path / "m.star")
    record = {"status": "done", "outputs": ["m.star"], "sizes": [path.stat().st_size + 1]}
    assert (
        _changed(tmp_path, record)
        == "picked; m.star changed since (edited?): it holds 2 fibers now"
    )
    write_picks(fibers.assign(kind="particle", tube_id=0), path)
    assert _changed(tmp_path, record).endswith("it holds 4 picks now")


def test_picked_thresholds_name_each_file_under_the_run_s_manifest(
    micrographs, tiny_model, tmp_path
):
    """Load picks… of a sub-folder of a pick run (its one manifest above it) lost the
    threshold the files were picked at (a review)."""
    from napari_cryopick.workflows.batch import picked_thresholds, record_export

    out = tmp_path / "out"
    drive(run_batch(_request(micrographs, tiny_model, out), BatchOptions()))
    files = sorted(out.rglob("*.star"))
    assert any(f.parent != out for f in files)  # (the test's premise: mirrored sub-folders)
    for folder in {f.parent for f in files}:
        found = picked_thresholds(folder)
        for file in files:
            assert found[os.path.normpath(os.path.abspath(file))] == pytest.approx(THRESHOLD)
    # a file exported over since (corrections): no pick run's threshold any more
    record_export(out, [files[0]])
    assert picked_thresholds(files[0].parent)[os.path.abspath(files[0])] is None


def test_manifests_are_read_again_only_when_they_changed(micrographs, tiny_model, tmp_path):
    """A run's start read the folder's manifests three to five times over (a review):
    now once while they stay as they are, and again as soon as a line is added."""
    import napari_cryopick.workflows.batch as batch

    out = tmp_path / "out"
    drive(run_batch(_request(micrographs[:2], tiny_model, out), BatchOptions()))
    first = batch._manifest_records(out)
    calls = []
    real_loads = json.loads
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch.json, "loads", lambda text: calls.append(1) or real_loads(text))
        assert batch._manifest_records(out) == first  # not parsed again
        assert calls == []
        first[0]["status"] = "changed by a caller"  # a caller's own copy (a review)
        assert batch._manifest_records(out)[0]["status"] != "changed by a caller"
        patch.setattr(batch, "RECORDS_KEPT_S", 0.0)  # kept for a run's start only
        batch._manifest_records(out)
        assert calls
        calls.clear()
        patch.setattr(batch, "RECORDS_KEPT_S", 10.0)
        batch.record_export(out, [next(out.rglob("*.star"))])
        again = batch._manifest_records(out)
    assert len(again) == len(first) + 1
    assert again[-1]["status"] == "exported"
    assert calls  # parsed again


def test_written_suffixes_are_every_finished_runs_files_still_there(tmp_path):
    """cryosparc export's note on other formats reads them: each run's, not each
    micrograph's newest, and neither a file removed since nor a run that did not finish."""
    from napari_cryopick.workflows.batch import MANIFEST_NAME, written_suffixes

    records = [
        {"input": "a.mrc", "status": "done", "outputs": ["a.star"], "finished": 1.0},
        {"input": "a.mrc", "status": "done", "outputs": ["a.cbox"], "finished": 2.0},
        {"input": "a.mrc", "status": "done", "outputs": ["a.box"], "finished": 3.0},
        {"input": "a.mrc", "status": "failed", "outputs": ["a.csv"], "finished": 4.0},
    ]
    (tmp_path / f"{MANIFEST_NAME}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for name in ("a.star", "a.cbox", "a.csv"):  # a.box removed since
        (tmp_path / name).write_text("x")
    assert written_suffixes(tmp_path) == {".star", ".cbox"}
