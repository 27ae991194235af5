"""Interrupt and kill the real ``cryopick`` command in a subprocess; earlier output must survive.

``cryopick simulate`` writes many small micrograph + truth pairs, which makes
it a good victim: the tests let a first run finish, start a second run into
the same folder, stop it with SIGINT, SIGTERM or SIGKILL after a few
micrographs, and check that

* the files of the first run are byte for byte unchanged,
* every micrograph on disk has its truth file (pairs appear together),
* SIGINT / SIGTERM leave no temporary file and give exit code 130 / 143
  with one line and no traceback,
* after SIGKILL (which nothing can catch) the next run removes the
  temporary files the killed process left.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("interruptible")]

SIZE = ["--size", "96", "96", "--particles", "4", "--diameter", "12"]


def _cryopick() -> list[str]:
    script = Path(sys.executable).with_name("cryopick")
    assert script.is_file(), f"console script not installed: {script}"
    return [str(script)]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


def _start_and_stop(out: Path, prefix: str, stop: signal.Signals, after: int) -> subprocess.Popen:
    """Start ``simulate`` and send ``stop`` once ``after`` of its micrographs exist."""
    process = subprocess.Popen(
        [*_cryopick(), "simulate", str(out), "-n", "2000", "--prefix", prefix, *SIZE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(list((out / "micrographs").glob(f"{prefix}_*.mrc"))) >= after:
            break
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.send_signal(stop)
    process.wait(timeout=60)
    return process


@pytest.fixture(scope="module")
def _first_run_once(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("first") / "data"
    done = subprocess.run(
        [*_cryopick(), "simulate", str(out), "-n", "3", "--prefix", "first", *SIZE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def first_run(_first_run_once, tmp_path) -> tuple[Path, dict[str, str]]:
    """A finished earlier run's folder (a copy per test) and the digests of its files."""
    out = tmp_path / "data"
    shutil.copytree(_first_run_once, out)
    return out, _digests(out)


def _check_pairs(out: Path) -> None:
    for micrograph in (out / "micrographs").glob("*.mrc"):
        assert (out / "picks" / f"{micrograph.stem}.csv").is_file(), micrograph


@pytest.mark.parametrize(
    ("stop", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_interrupt_cleans_up_and_keeps_earlier_output(first_run, stop, code, word):
    out, before = first_run
    process = _start_and_stop(out, "second", stop, after=3)
    stderr = process.stderr.read()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"cryopick: {word}" in stderr
    after = _digests(out)
    assert {k: after.get(k) for k in before if k != "dataset.json"} == {
        k: v for k, v in before.items() if k != "dataset.json"
    }
    assert _temporaries(out) == []
    _check_pairs(out)


def test_kill_keeps_earlier_output_and_the_next_run_removes_leftovers(first_run):
    out, before = first_run
    process = _start_and_stop(out, "second", signal.SIGKILL, after=3)
    assert process.returncode == -signal.SIGKILL
    after = _digests(out)
    for name, digest in before.items():
        assert after[name] == digest, f"{name} changed by a killed run"
    _check_pairs(out)
    # the next run writing the same files removes what the killed process left
    done = subprocess.run(
        [*_cryopick(), "simulate", str(out), "-n", "20", "--prefix", "second", *SIZE],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert _temporaries(out) == []
    _check_pairs(out)


def _wait_for_torch_to_load(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Return once the process has mapped libtorch (it is inside ``import torch``).

    A fixed sleep could land before Python's own start-up had finished on a loaded
    machine (a signal there is not the CLI's to handle). Without ``/proc``: 0.6 s.
    """
    maps = Path(f"/proc/{process.pid}/maps")
    if not maps.exists():
        time.sleep(0.6)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if "libtorch" in maps.read_text():
                return
        except OSError:
            return
        time.sleep(0.01)


def test_ctrl_c_during_start_up_imports_prints_no_traceback(tmp_path):
    from napari_cryopick.io.micrographs import write_mrc

    folder = tmp_path / "micrographs"  # a micrograph to pick: the command imports torch
    folder.mkdir()
    image = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
    write_mrc(folder / "m.mrc", image, pixel_size=2.0)
    process = subprocess.Popen(
        [*_cryopick(), "pick", str(folder), "--diameter", "20", "--out", str(tmp_path / "p")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_torch_to_load(process)  # inside the imports (torch takes seconds)
    assert process.poll() is None, process.communicate()  # still starting: signalled there
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert process.returncode == 130, stderr  # stopped by the CLI's handler
