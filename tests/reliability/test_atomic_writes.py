"""The one atomic writer: complete files or none, no temporary left behind, groups together."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_cryopick.io import atomic
from napari_cryopick.io.atomic import (
    atomic_path,
    atomic_paths,
    atomic_write_text,
    is_temporary,
    remove_stale_temporaries,
)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_keyboard_interrupt_removes_the_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old report")

    def interrupted_write():
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert target.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_full_disk_never_leaves_an_existing_file_empty(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old report")

    def write_on_a_full_disk():
        with atomic_path(target) as temporary:
            temporary.write_text("")  # the truncation happens on the temporary, not the target
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left") as raised:
        write_on_a_full_disk()
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(target)  # the message names the real file
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_temporaries_of_killed_processes_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "model.pt"
    stale = tmp_path / f".model.pt.~{_dead_pid()}-{atomic._HOST}.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    alive = tmp_path / f".model.pt.~{os.getppid()}-{atomic._HOST}.def456.tmp"
    alive.write_bytes(b"in progress elsewhere")
    other_host = tmp_path / f".model.pt.~{_dead_pid()}-otherhost.ghi789.tmp"
    other_host.write_bytes(b"another machine's")
    assert is_temporary(stale)
    assert not is_temporary(target)
    atomic_write_text(target, "new")
    assert not stale.exists()
    assert alive.exists(), "a write in progress in a live process is never touched"
    assert other_host.exists(), "processes of other hosts cannot be checked"
    assert target.read_text() == "new"
    assert remove_stale_temporaries(target) == []


@pytest.mark.parametrize("length", [207, 231, 240, 255])
def test_file_names_up_to_the_systems_longest_are_written(tmp_path, length, monkeypatch):
    # a facility trial: stems of 232-255 characters failed with "File name too long",
    # the temporary's own name (".<name>.~<pid>-<host>.<random>.tmp") being too long
    target = tmp_path / ("é" * 3 + "m" * (length - 11) + ".star")  # 2-byte characters too
    assert len(target.name.encode()) == length
    atomic_write_text(target, "data_\n")
    assert target.read_text() == "data_\n"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    # a killed process's temporary of it (its name cut short, by a process whose id has
    # other digits than this one's: the cut must not depend on it) goes with the next write
    with monkeypatch.context() as patched:
        patched.setattr(atomic.os, "getpid", lambda: 12)
        short = atomic._temporary_name(target.name)
    # (a process id of other digits than this one's: the cut does not depend on it)
    pid = 3999999 if len(str(os.getpid())) != 7 else 39
    monkeypatch.setattr(atomic, "_process_alive", lambda p: p != pid)
    stale = tmp_path / f".{short}.~{pid}-{atomic._HOST}.abc123.tmp"
    stale.write_bytes(b"half")
    assert is_temporary(stale)
    assert remove_stale_temporaries(target) == [stale]


def test_a_folder_is_listed_only_when_it_changed(tmp_path, monkeypatch):
    """Writing many files into one folder does not list it each time; new leftovers are still found."""
    listed = []
    real_scandir = os.scandir
    monkeypatch.setattr(
        atomic.os, "scandir", lambda folder: listed.append(folder) or real_scandir(folder)
    )
    for i in range(20):
        atomic_write_text(tmp_path / f"mic_{i:03d}.star", "data_\n")
    assert len(listed) == 1, "an unchanged folder (only our own writes) is listed once"
    # a process killed meanwhile left a temporary of another file: the folder changed
    stale = tmp_path / f".mic_999.star.~{_dead_pid()}-{atomic._HOST}.abc123.tmp"
    stale.write_bytes(b"half")
    atomic_write_text(tmp_path / "mic_020.star", "data_\n")
    assert len(listed) == 2
    assert not stale.exists(), "the next write into the folder removes it"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"mic_{i:03d}.star" for i in range(21)]


def test_a_group_is_published_together_and_rolled_back_when_a_rename_fails(tmp_path, monkeypatch):
    truth, micrograph = tmp_path / "m.csv", tmp_path / "m.mrc"
    with atomic_paths(truth, micrograph) as (truth_tmp, micrograph_tmp):
        truth_tmp.write_text("x,y\n1,2\n")
        micrograph_tmp.write_bytes(b"MRC")
    assert truth.read_text() == "x,y\n1,2\n"
    assert micrograph.read_bytes() == b"MRC"

    second, second_truth = tmp_path / "n.mrc", tmp_path / "n.csv"
    real_replace = os.replace

    def failing_replace(source, destination):
        if str(destination) == str(second):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, destination)

    def write_group():
        with atomic_paths(second_truth, second) as temporaries:
            for temporary in temporaries:
                temporary.write_text("data")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space") as raised:
        write_group()
    assert raised.value.filename == str(second)
    assert not second_truth.exists(), "the truth of a micrograph that failed is taken back"
    assert not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "m.mrc"]


def test_disk_full_in_a_real_process_keeps_the_existing_file(tmp_path):
    """RLIMIT_FSIZE makes writes past the limit fail with EFBIG, as a full disk does (ENOSPC)."""
    target = tmp_path / "picks.star"
    target.write_text("old picks\n")
    script = textwrap.dedent(
        f"""
        import resource, sys
        from napari_cryopick.io.atomic import atomic_write_text
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_write_text({str(target)!r}, "x" * 100_000)
        except OSError as error:
            print(error.errno, error.filename)
            sys.exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.split() == [str(errno.EFBIG), str(target)]
    assert target.read_text() == "old picks\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picks.star"]


def test_write_mrc_is_atomic(tmp_path, monkeypatch):
    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    path = write_mrc(tmp_path / "m.mrc", np.ones((8, 8), np.float32))
    import mrcfile

    class Interrupted(mrcfile.mrcfile.MrcFile):
        def set_data(self, data):
            super().set_data(data)
            raise KeyboardInterrupt  # Ctrl-C after the header, before the data is complete

    monkeypatch.setattr(
        mrcfile,
        "new",
        lambda name, overwrite=False: Interrupted(name, mode="w+", overwrite=overwrite),
    )
    with pytest.raises(KeyboardInterrupt):
        write_mrc(path, np.zeros((16, 16), np.float32))
    np.testing.assert_array_equal(read_micrograph(path).data, np.ones((8, 8)))
    assert [p.name for p in tmp_path.iterdir()] == ["m.mrc"]
