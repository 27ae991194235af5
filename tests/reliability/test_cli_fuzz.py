"""Bad inputs and faults through the real ``cryopick`` entry point: one case per problem of issue 14.

Every failure must be one line on stderr that names the file or the option,
exit code 2, no traceback, no colour codes, and never torch's advice to load
a file with ``weights_only=False``.
"""

from __future__ import annotations

import errno
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_cryopick import cli
from napari_cryopick.io.micrographs import write_mrc

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def run(capsys, *argv) -> tuple[int, str, str]:
    """Exit code, stdout and the ``cryopick`` lines of stderr (progress bars left out)."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("cryopick")]
    return code, captured.out, "\n".join(lines)


def assert_one_line(message: str, *names: str) -> None:
    assert message.count("\n") == 0, message
    assert "Traceback" not in message
    assert "\x1b" not in message
    assert "weights_only=False" not in message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"


@pytest.fixture
def micrograph(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return write_mrc(tmp_path / "m1.mrc", rng.normal(size=(96, 96)).astype(np.float32), 2.0)


# --- 1. duplicate stems never overwrite -----------------------------------------------------


def test_pick_never_overwrites_outputs_of_same_named_micrographs(tmp_path, capsys, micrograph):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m1.mrc").write_bytes(micrograph.read_bytes())
    (tmp_path / "a" / "m1.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # same stem as a/m1.mrc
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "pick", tmp_path / "a/m1.mrc", tmp_path / "b/m1.mrc", tmp_path / "a/m1.png",
        "--diameter", 20, "--out", out,
    )  # fmt: skip
    assert code == 2
    assert_one_line(err, "m1")
    assert not out.exists() or not list(out.rglob("*.star")), "nothing written when outputs clash"


# --- 2. train checks its output before training ---------------------------------------------


def test_train_refuses_an_unwritable_output_before_training(tmp_path, capsys, micrograph):
    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n40,40,20\n")
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    code, out, err = run(
        capsys, "train", "--micrographs", micrograph, "--picks", picks, "--diameter", 20,
        "--out", blocker / "model.pt", "--steps", 1,
    )  # fmt: skip
    assert code == 2
    assert_one_line(err, "afile")
    assert "training" not in out, "the output is checked before any training"


# --- 4. OS errors and MemoryError: one line, exit 2 -----------------------------------------


def test_evaluate_json_into_a_folder(tmp_path, capsys):
    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n40,40,20\n")
    code, _, err = run(capsys, "evaluate", "--pred", picks, "--truth", picks, "--json", tmp_path)
    assert code == 2
    assert_one_line(err, "--json", str(tmp_path))


def test_evaluate_json_below_a_file(tmp_path, capsys):
    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n40,40,20\n")
    code, _, err = run(
        capsys, "evaluate", "--pred", picks, "--truth", picks, "--json", picks / "report.json"
    )
    assert code == 2
    assert_one_line(err, "--json", "m1.csv")


def test_a_refused_pick_leaves_no_empty_out_folder(tmp_path, capsys, micrograph):
    # a docs trial: '--kind fiber --format box' was refused, and left an empty --out
    out = tmp_path / "new" / "picks"
    code, _, err = run(capsys, "pick", micrograph, "--diameter", 20, "--kind", "fiber",
                       "--format", "box", "--out", out)  # fmt: skip
    assert code == 2
    assert_one_line(err, "fiber")
    assert not out.exists()
    out.mkdir(parents=True)  # one the user made stays
    assert run(capsys, "pick", micrograph, "--diameter", 20, "--kind", "fiber", "--out", out)[0]
    assert out.is_dir()


def test_pick_out_pointing_at_a_file(tmp_path, capsys, micrograph):
    blocker = tmp_path / "picks"
    blocker.write_text("a file")
    code, _, err = run(capsys, "pick", micrograph, "--diameter", 20, "--out", blocker)
    assert code == 2
    assert_one_line(err, str(blocker))
    assert blocker.read_text() == "a file"


@pytest.mark.parametrize(
    ("option", "value", "names"),
    [
        ("--diameter", "0.01", ("diameter 0.01", "(--diameter)")),  # names the option too
        ("--min-distance", "1e9", ("--min-distance",)),
        ("--min-distance", "-1", ("--min-distance", "[0, 10]")),
        ("--tile-size", "200", ("--tile-size", "at least 384")),
        ("--border", "-0.5", ("--border",)),
        ("--device", "cuda:99", ("cuda",)),  # said once, before any micrograph
    ],
)
def test_pick_options_that_ask_for_unbounded_memory(
    tmp_path, capsys, micrograph, option, value, names
):
    extra = [] if option == "--diameter" else ["--diameter", "20"]
    code, _, err = run(capsys, "pick", micrograph, option, value, *extra, "--out", tmp_path / "p")
    assert code == 2
    assert_one_line(err, *names)
    assert "m1.mrc" not in err, "the option is at fault, not the micrograph"


def test_simulate_a_huge_micrograph(tmp_path, capsys):
    code, _, err = run(capsys, "simulate", tmp_path / "sim", "--size", 200000, 200000)
    assert code == 2
    assert_one_line(err, "--size")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/data/out/m1.star"), "no space left"),
        (PermissionError(errno.EACCES, "Permission denied", "/data/out"), "permission denied"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/report.json"), "is a folder"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/f/x"), "not a folder"),
        (FileExistsError(errno.EEXIST, "File exists", "/data/out"), "already exists"),
        (MemoryError("Unable to allocate 3.8 TiB"), "out of memory"),
    ],
)
def test_os_errors_and_memory_errors_are_one_line_with_exit_2(capsys, monkeypatch, error, expected):
    from napari_cryopick.cli import _evaluate

    def fail(args):
        raise error

    monkeypatch.setattr(_evaluate, "run", fail)
    code, _, err = run(capsys, "evaluate", "--pred", "p.csv", "--truth", "t.csv")
    assert code == 2
    assert_one_line(err, expected)
    if getattr(error, "filename", None):
        assert error.filename in err


# --- 6. bad picks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("40,40,20\n50,inf,20\n", "data row 2"),
        ("40,40,0\n", "data row 1"),
        ("40,40,-20\n", "data row 1"),
    ],
)
def test_evaluate_refuses_impossible_picks_naming_file_and_row(tmp_path, capsys, rows, expected):
    good = tmp_path / "m1.csv"
    good.write_text("x,y,diameter\n40,40,20\n")
    bad = tmp_path / "bad" / "m1.csv"
    bad.parent.mkdir()
    bad.write_text("x,y,diameter\n" + rows)
    code, _, err = run(capsys, "evaluate", "--pred", bad, "--truth", good)
    assert code == 2
    assert_one_line(err, str(bad), expected)


def test_train_refuses_picks_off_the_micrograph_and_foreign_rows(tmp_path, capsys, micrograph):
    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n" + "".join(f"{900 + i},{900 + i},20\n" for i in range(30)))
    argv = ["train", "--micrographs", micrograph, "--picks", picks, "--diameter", 20]
    argv += ["--out", tmp_path / "model.pt", "--steps", 1]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert_one_line(err, str(picks), "data row 1", "outside")
    # rows naming another micrograph are not reassigned to m1 because of the file name
    picks.write_text("x,y,diameter,micrograph\n40,40,20,other\n50,50,20,other\n")
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert_one_line(err, str(picks), "other")
    assert not (tmp_path / "model.pt").exists()


def test_train_refuses_a_learning_rate_that_is_no_number_above_0(tmp_path, capsys, micrograph):
    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n30,30,20\n60,60,20\n")
    argv = ["train", "--micrographs", micrograph, "--picks", picks, "--diameter", 20]
    argv += ["--out", tmp_path / "model.pt", "--steps", 1]
    for value in ("inf", "nan", "0", "-1"):
        code, _, err = run(capsys, *argv, "--lr", value)
        assert code == 2
        assert_one_line(err, "--lr must be a number > 0")
    assert not (tmp_path / "model.pt").exists()


def test_train_refuses_continual_weights_and_sizes_out_of_range_by_their_options(
    tmp_path, capsys, micrograph
):
    # a CLI trial: --replay-fraction 2 was refused after reading, as "replay_fraction";
    # --distill-weight nan trained until "the loss became nan (learning rate too high?)";
    # --crop-size 100000 asked for 37 GiB
    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n30,30,20\n60,60,20\n")
    argv = ["train", "--micrographs", micrograph, "--picks", picks, "--diameter", 20]
    argv += ["--out", tmp_path / "model.pt", "--steps", 1, "--mode", "continual"]
    for option, value, said in (
        ("--exemplars", "-1", "--exemplars must be >= 0"),
        ("--distill-weight", "nan", "--distill-weight must be a finite number >= 0"),
        ("--reg-weight", "inf", "--reg-weight must be a finite number >= 0"),
        ("--reg-weight", "-5", "--reg-weight must be a finite number >= 0"),
        ("--replay-fraction", "2", "--replay-fraction must lie in [0, 1)"),
        ("--replay-fraction", "nan", "--replay-fraction must lie in [0, 1)"),
        ("--crop-size", "100000", "--crop-size 16 to 4096"),
    ):
        code, out, err = run(capsys, *argv, option, value)
        assert code == 2, (option, value)
        assert_one_line(err, said)
        assert "training" not in out + err  # refused before anything was read
    assert not (tmp_path / "model.pt").exists()
    # continual learning's own options in another mode: refused, not ignored (a CLI trial)
    argv[argv.index("continual")] = "fewshot"
    code, _out, err = run(capsys, *argv, "--replay-fraction", "0.3", "--reg-weight", "1")
    assert code == 2
    assert_one_line(
        err,
        "--reg-weight and --replay-fraction are used by --mode continual only (this training "
        "is fewshot): leave them out, or give --mode continual",
    )
    # before any micrograph is read (a review: after reading, below the busy-machine note)
    missing = [str(tmp_path / "missing") if a == micrograph else a for a in argv]
    code, _out, err = run(capsys, *missing, "--distill-weight", "0.5")
    assert code == 2
    assert "--distill-weight is used by --mode continual only (this training is fewshot)" in err
    assert not (tmp_path / "model.pt").exists()
    from napari_cryopick.core.continual import ContinualConfig

    with pytest.raises(ValueError, match="distill_weight must be a number >= 0, got nan"):
        ContinualConfig(distill_weight=float("nan"))


def test_training_that_diverges_writes_no_model(tmp_path, capsys, micrograph):
    # a trial's --lr 1e9 with --init good.pt: 'trained 3 steps (loss nan)', exit 0, a
    # model of NaN weights in place of the good one
    from napari_cryopick.core.training import TrainConfig

    picks = tmp_path / "m1.csv"
    picks.write_text("x,y,diameter\n30,30,20\n60,60,20\n")
    model = tmp_path / "model.pt"
    argv = ["train", "--micrographs", micrograph, "--picks", picks, "--diameter", 20]
    argv += ["--out", model, "--steps", 2, "--crop-size", 32, "--time-limit", 0]
    assert run(capsys, *argv)[0] == 0
    before = model.read_bytes()
    code, _, err = run(capsys, *argv, "--init", model, "--lr", "1e30")
    assert code == 2
    assert_one_line(err, "training diverged at step", "no model is written")
    assert model.read_bytes() == before
    assert not model.with_name("model.previous.pt").exists()
    # a re-trial: diverging on the last step (loss still finite, weights ~1e28) went by
    one_step = [*argv[:-6], "--steps", 1, "--crop-size", 32, "--time-limit", 0]
    code, _, err = run(capsys, *one_step, "--init", model, "--lr", "1e30")
    assert code == 2
    assert_one_line(err, "training diverged at step 1", "no model is written")
    assert model.read_bytes() == before
    with pytest.raises(ValueError, match="learning rate must be a number >= 0"):
        TrainConfig(lr=float("inf"))


# --- 7. checkpoints -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    from napari_cryopick.core.model import Detector, DetectorConfig, save_checkpoint

    torch.manual_seed(0)
    model = Detector(DetectorConfig(widths=(8, 8, 16, 16), feature_channels=8, head_width=8))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    return save_checkpoint(path, model, metadata={"diameter_px": 20.0})


def test_bit_flipped_checkpoint_is_refused(tmp_path, capsys, saved_model):
    data = bytearray(saved_model.read_bytes())
    raw = torch.load(saved_model, weights_only=True)
    weight = next(t for t in raw["state_dict"].values() if t.numel() > 100)
    needle = weight.flatten()[:4].numpy().tobytes()
    at = bytes(data).index(needle)
    data[at + 1] ^= 0x10
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    code, _, err = run(capsys, "info", flipped)
    assert code == 2
    assert_one_line(err, str(flipped), "checksum")


def test_nan_weights_are_refused(tmp_path, capsys, saved_model):
    raw = torch.load(saved_model, weights_only=True)
    name = next(iter(k for k, v in raw["state_dict"].items() if v.is_floating_point()))
    raw["state_dict"][name].view(-1)[0] = float("nan")
    del raw["checksums"]  # even a file without checksums (older format) is checked
    broken = tmp_path / "nan.pt"
    torch.save(raw, broken)
    code, _, err = run(capsys, "info", broken)
    assert code == 2
    assert_one_line(err, str(broken), "NaN")


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_malicious_checkpoint_is_refused_without_unsafe_advice(tmp_path, capsys, micrograph):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "napari-cryopick-detector", "payload": Payload()}, evil)
    # (an --out of its own: the default ./picks wrote into the folder pytest ran from; and
    # an earlier run's manifest there added a note line before the error: a docs trial)
    out = tmp_path / "picks"
    out.mkdir()
    (out / "cryopick_manifest.jsonl").write_text(
        '{"input": "/data/m0.mrc", "status": "done", "fingerprint": "other"}\n'
    )
    pick = ["pick", micrograph, "--model", evil, "--diameter", 20, "--out", out]
    for command in (["info", evil], pick):
        code, out, err = run(capsys, *command)
        assert code == 2
        assert "code ran" not in out
        assert_one_line(err, str(evil))
        assert "weights_only" not in err


def test_a_checkpoint_without_checksums_still_loads(tmp_path, saved_model):
    from napari_cryopick.core.model import load_checkpoint

    raw = torch.load(saved_model, weights_only=True)
    del raw["checksums"]
    old = tmp_path / "old.pt"
    torch.save(raw, old)
    _model, metadata = load_checkpoint(old)
    assert metadata["diameter_px"] == 20.0


def test_pickle_of_plain_types_is_not_a_checkpoint(tmp_path, capsys):
    import warnings

    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run(capsys, "info", path)
    assert code == 2
    assert_one_line(err, str(path))
    # torch's "Detected pickle protocol 4 ... please file an issue" printed two lines more
    assert not [w for w in caught if "pickle protocol" in str(w.message)]


@pytest.mark.parametrize("content", [b"data_\nloop_\n_rlnCoordinateX\n1\n", b""])
def test_a_file_that_is_no_torch_file_is_named_as_such(tmp_path, capsys, content):
    # a STAR file given as a model said "it holds objects other than tensors"
    path = tmp_path / "picks.star"
    path.write_bytes(content)
    code, _, err = run(capsys, "info", path)
    assert code == 2
    assert_one_line(err, str(path), "not a PyTorch file" if content else "an empty file")


def test_train_refuses_a_bad_starting_model_before_reading_micrographs(tmp_path, capsys):
    # the micrographs do not exist: a check of --init after reading them would
    # name a micrograph instead (a trial waited for every micrograph to be read)
    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    missing = tmp_path / "never_read.mrc"
    code, _, err = run(
        capsys,
        "train",
        "--micrographs",
        missing,
        "--picks",
        tmp_path / "never_read.star",
        "--init",
        path,
        "--out",
        tmp_path / "m.pt",
    )
    assert code == 2
    assert_one_line(err, str(path))
    assert "never_read" not in err


# --- 8. messages ----------------------------------------------------------------------------


def test_non_image_png_is_one_line(tmp_path, capsys):
    fake = tmp_path / "m1.png"
    fake.write_text("not an image\n" * 5)
    code, _, err = run(capsys, "pick", fake, "--diameter", 20, "--out", tmp_path / "p")
    assert code == 2
    assert_one_line(err.splitlines()[0], str(fake))
    assert "pip install" not in err


def test_the_pick_cap_warns(caplog):
    from napari_cryopick.core.detect import PickConfig, pick_micrograph
    from napari_cryopick.core.model import Detector, DetectorConfig

    class Everywhere(Detector):
        def forward(self, x, head=None):
            out = super().forward(x, head=head)
            heatmap = torch.full_like(out["heatmap"], -5.0)
            heatmap[..., 15:25, 15:25] = 5.0  # a plateau away from the border: every cell a peak
            out["heatmap"] = heatmap
            return out

    torch.manual_seed(0)
    model = Everywhere(
        DetectorConfig(
            widths=(8, 8, 16, 16), feature_channels=8, head_width=8, target_diameter_px=20.0
        )
    )
    image = np.zeros((160, 160), np.float32)
    config = PickConfig(device="cpu", top_k=5, min_distance=0.0)
    result = pick_micrograph(model, image, diameter_px=20.0, config=config)
    assert len(result.picks) == 5
    assert "cap of 5" in caplog.text
    assert "raise the cap, cryopick pick --max-picks" in caplog.text
    # every candidate asked for (training calibrating its threshold): nothing to say (a
    # trial's fiber training was told to "raise --max-picks", an option it does not have)
    caplog.clear()
    every = PickConfig(device="cpu", top_k=5, min_distance=0.0, threshold=0.0)
    assert len(pick_micrograph(model, image, diameter_px=20.0, config=every).picks) == 5
    assert "cap of" not in caplog.text
