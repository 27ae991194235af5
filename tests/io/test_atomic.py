"""Atomic writes: nothing half-written, and files readable like any other."""

from __future__ import annotations

import os
import stat

import pytest

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.atomic import atomic_path, atomic_write_text
from napari_cryopick.io.pickfiles import write_picks


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_umask_permissions_not_private(tmp_path):
    # the module read the process umask at import (022 or 002 on usual systems)
    from napari_cryopick.io import atomic as _atomic

    expected = 0o666 & ~_atomic._UMASK
    text = atomic_write_text(tmp_path / "a.txt", "hello")
    assert text.read_text() == "hello"
    assert _mode(text) == expected
    star = write_picks(make_picks([1.0], [2.0], diameter=10.0), tmp_path / "m.star")
    assert _mode(star) == expected
    # group/other can read what RELION on a shared cluster account must read
    assert _mode(star) & 0o044


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_text("old")

    def crash_while_writing():
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        crash_while_writing()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize("many", [False, True])
def test_an_interrupt_just_after_the_temporary_is_made_leaves_nothing(
    tmp_path, monkeypatch, many, interruptible
):
    # Ctrl-C / SIGTERM arriving between creating the temporary file and owning it
    # left it behind (a `cryopick simulate` stopped by SIGTERM, 2026-11-30)
    import signal
    import tempfile

    from napari_cryopick.io import atomic

    real = tempfile.mkstemp

    def mkstemp_then_interrupt(*args, **kwargs):
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return made

    def write() -> None:
        if many:
            with atomic.atomic_paths(tmp_path / "a.csv", tmp_path / "a.mrc") as paths:
                for path in paths:
                    path.write_text("x")
        else:
            atomic_write_text(tmp_path / "a.txt", "x")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write()
    assert list(tmp_path.iterdir()) == []
    _assert_signals_as_before()


def _assert_signals_as_before() -> None:
    import signal

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.SIGINT not in blocked
    assert signal.SIGTERM not in blocked
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_while_the_handlers_are_put_back_still_unblocks_everything(
    monkeypatch, interruptible
):
    # a Ctrl-C landing between putting back the first handler and the rest raised
    # out of the clean-up and left SIGINT/SIGTERM blocked in the main thread: every
    # `cryopick` started from that process afterwards ignored both (2026-12-01)
    import signal

    from napari_cryopick.io import atomic

    real = signal.signal
    calls = []

    def signal_interrupted_once(signum, handler):
        calls.append(signum)
        if len(calls) == len(atomic._HELD_SIGNALS) + 1:  # the first restoring call
            raise KeyboardInterrupt
        return real(signum, handler)

    before_term = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(atomic.signal, "signal", signal_interrupted_once)
    with pytest.raises(KeyboardInterrupt), atomic._signals_held():
        pass
    monkeypatch.undo()
    _assert_signals_as_before()
    assert signal.getsignal(signal.SIGTERM) is before_term


def test_signals_sent_inside_the_block_arrive_after_it(interruptible):
    import signal

    from napari_cryopick.io import atomic

    order = []

    def block() -> None:
        with atomic._signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            order.append("block finished")
        order.append("not reached")

    with pytest.raises(KeyboardInterrupt):
        block()
    assert order == ["block finished"]
    _assert_signals_as_before()


def test_a_device_pipe_or_folder_is_never_replaced(tmp_path):
    """Run as root, ``cryopick evaluate --pr-curve /dev/null`` turned /dev/null into a
    regular file: the rename replaces whatever the path is."""
    from napari_cryopick.io.atomic import atomic_write_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, said in ((fifo, "not a regular file"), (folder, "a folder")):
        with pytest.raises(OSError, match=said) as caught:
            atomic_write_text(path, "x")
        assert caught.value.filename == str(path)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "pipe"]  # no temporary
    assert atomic_write_text(tmp_path / "file", "x").read_text() == "x"
