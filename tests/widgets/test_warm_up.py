"""Torch's and picking's start-up run in a background thread, not the GUI thread (a
responsiveness trial: docking Train froze the viewer 2.0-2.2 s, Pick 1.1 s)."""

from __future__ import annotations

import threading

import pytest


@pytest.fixture
def fresh_warm_up(monkeypatch):
    """``napari_cryopick._warmup`` as in a new process, its warm-up recorded: returns the
    list of ``(thread is the main thread, thread name)`` of each warm-up run."""
    from napari_cryopick import _warmup

    runs: list[tuple[bool, str]] = []
    done = threading.Event()
    if _warmup._thread is not None:  # one an earlier test started (a reader's delay) ends first
        _warmup._go.set()
        _warmup._thread.join(120)

    def recorded() -> None:
        runs.append(
            (threading.current_thread() is threading.main_thread(), threading.current_thread().name)
        )
        done.set()

    monkeypatch.setattr(_warmup, "_thread", None)
    monkeypatch.setattr(_warmup, "_go", threading.Event())
    monkeypatch.setattr(_warmup, "warm_up", recorded)
    return runs, done


def test_docking_train_warms_up_in_a_background_thread(
    make_napari_viewer, fresh_warm_up, tmp_path, monkeypatch
):
    import numpy as np

    from napari_cryopick import _warmup
    from napari_cryopick.io.micrographs import write_mrc

    runs, done = fresh_warm_up
    monkeypatch.setattr(_warmup, "OPENED_DELAY_S", 30.0)  # (the dock starts it, not these)
    viewer = make_napari_viewer()
    for name in ("a", "b"):  # (two micrographs open, as users have)
        write_mrc(tmp_path / f"{name}.mrc", np.zeros((64, 64), np.float32))
        viewer.open(str(tmp_path / f"{name}.mrc"), plugin="napari-cryopick")
    viewer.window.add_plugin_dock_widget("napari-cryopick", "Train")
    assert done.wait(10), "no warm-up started"
    assert runs == [(False, "cryopick-warm-up")]
    viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")
    assert runs == [(False, "cryopick-warm-up")]  # once a process


def test_opening_a_micrograph_warms_up_after_it_shows_and_a_dock_at_once(
    make_napari_viewer, fresh_warm_up, tmp_path, monkeypatch
):
    import numpy as np

    from napari_cryopick import _warmup
    from napari_cryopick.io.micrographs import write_mrc

    runs, done = fresh_warm_up
    monkeypatch.setattr(_warmup, "OPENED_DELAY_S", 30.0)
    viewer = make_napari_viewer()
    for name in ("a", "b"):
        write_mrc(tmp_path / f"{name}.mrc", np.zeros((64, 64), np.float32))
        viewer.open(str(tmp_path / f"{name}.mrc"), plugin="napari-cryopick")
    assert not done.wait(0.5)  # waits for the micrographs to show
    assert _warmup._thread is not None
    viewer.window.add_plugin_dock_widget("napari-cryopick", "Annotate")  # ... or a dock
    assert done.wait(10), "the dock did not start the waiting warm-up"
    assert runs == [(False, "cryopick-warm-up")]


def test_a_failed_warm_up_is_no_error_and_waiting_ends(fresh_warm_up, monkeypatch):
    from napari_cryopick import _warmup

    def broken() -> None:
        raise ImportError("no torch here")

    raised: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    monkeypatch.setattr(_warmup, "warm_up", broken)
    assert _warmup.wait_for_warm_up(10)
    assert raised == []  # logged at debug level, not raised in the thread


def test_training_waits_for_the_warm_up_and_hears_cancel(fresh_warm_up, monkeypatch):
    """A review: the training job waited for the warm-up without a timeout, deaf to
    Cancel (nothing yielded meanwhile)."""
    from napari_cryopick import _warmup
    from napari_cryopick._widgets.train import _training_job

    release = threading.Event()
    monkeypatch.setattr(_warmup, "warm_up", lambda: release.wait(30))
    cancel = threading.Event()
    cancel.set()
    job = _training_job(None, cancel)  # (no request is read before the warm-up)
    with pytest.raises(StopIteration) as stopped:
        next(job)
    assert stopped.value.value is None
    assert _warmup._thread.is_alive()  # it had not finished: the job left on Cancel
    release.set()


def test_the_warm_up_loads_the_evaluate_figure_but_no_qt_class() -> None:
    """A responsiveness trial: docking Evaluate froze the viewer 0.55 s, 0.4 s of it
    importing matplotlib in the GUI thread; its Qt canvas stays the dock's own import."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from napari_cryopick._warmup import warm_up\n"
        "warm_up()\n"
        "print([m in sys.modules for m in ('matplotlib.figure', 'torch', 'scipy.ndimage')],"
        " sorted(m for m in sys.modules if m.startswith(('matplotlib.backends.backend_qt',"
        " 'napari', 'qtpy', 'PyQt'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[True, True, True] ['napari_cryopick', 'napari_cryopick._warmup']", out
