"""Shared fixtures and marker handling for the napari-cryopick tests.

Kept light on purpose: importing this file imports neither torch nor napari.
napari's ``make_napari_viewer`` fixture comes from napari's own pytest plugin.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the suite's own load would add "the machine is busy" to the commands' output it reads
# (cli._pick.say_busy_machine; its test turns it back on); subprocesses inherit it
os.environ["CRYOPICK_LOAD_NOTE"] = "0"

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA_ENV = "CRYOPICK_REAL_DATA"


def default_real_data_dir() -> Path:
    """Folder of the real data sets: ``$CRYOPICK_REAL_DATA`` or ``<repo>/../shared/data/real``."""
    configured = os.environ.get(REAL_DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    return REPO_ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Root of the repository (the folder holding ``pyproject.toml``)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder of the real data sets, ``<dataset>/{dataset.json, micrographs/, picks/}``.

    Skips the test only when the folder does not exist.
    """
    path = default_real_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set {REAL_DATA_ENV})")
    return path


@pytest.fixture(autouse=True)
def _own_user_folders(tmp_path_factory, monkeypatch) -> None:
    """Per-user files (the annotation index, sidecars of read-only micrographs) go to a
    temporary folder: never the home directory, never another test's or the user's."""
    folder = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("CRYOPICK_ANNOTATION_DIR", str(folder / "annotations"))
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "data"))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    """Use one torch thread when a test module imported torch (2 shared cores)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_modal_questions(monkeypatch) -> None:
    """A question dialog (``QMessageBox.question``) in a test fails it at once: shown
    for real, it waits for a click that never comes and hangs the suite. Tests that
    expect a question replace the asking method (e.g. ``ReviewPanel.confirm``)."""
    if "qtpy" not in sys.modules:
        return
    from qtpy.QtWidgets import QMessageBox

    def unexpected(_parent, _title, text, *_args, **_kwargs):
        raise AssertionError(f"unexpected question dialog: {text}")

    monkeypatch.setattr(QMessageBox, "question", staticmethod(unexpected))


@pytest.fixture(autouse=True)
def _labels_of_unreviewed_micrographs(request, monkeypatch) -> None:
    """GUI tests press *Use as training labels* on micrographs not marked Reviewed, which
    asks first (``PickWidget.confirm_labels``): answered Yes here, as the tests press it
    to make labels; the tests of the question replace the answer."""
    if request.node.get_closest_marker("gui") is None:
        return
    from napari_cryopick._widgets.pick import PickWidget

    monkeypatch.setattr(PickWidget, "confirm_labels", lambda _self, _question: True)
    # and Train's question before a training that makes the model forget data sets:
    # answered Yes, as the tests press Train to train; its own test replaces the answer
    from napari_cryopick._widgets.train import TrainWidget

    monkeypatch.setattr(TrainWidget, "confirm_forgetting", lambda _self, _question: True)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


#: Fixtures whose use makes a test ``gui`` / ``realdata`` (markers follow what a test needs).
_GUI_FIXTURES = frozenset({"make_napari_viewer", "make_napari_viewer_proxy", "qtbot", "viewer"})
_REALDATA_FIXTURES = frozenset({"real_data_dir"})


def _mark_by_need(items: list[pytest.Item]) -> None:
    """Mark tests ``gui`` (a viewer, Qt, or under tests/widgets) and ``realdata`` (real data).

    So ``-m "not gui"`` and ``-m "not realdata"`` select consistently, whoever
    wrote the test.
    """
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        in_widgets = "widgets" in Path(str(item.fspath)).parts
        if (fixtures & _GUI_FIXTURES or in_widgets) and item.get_closest_marker("gui") is None:
            item.add_marker(pytest.mark.gui)
        if fixtures & _REALDATA_FIXTURES and item.get_closest_marker("realdata") is None:
            item.add_marker(pytest.mark.realdata)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by what they need; skip tests marked ``gpu`` where CUDA is absent."""
    _mark_by_need(items)
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items or _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA (marker 'gpu'); none available")
    for item in gpu_items:
        item.add_marker(skip_gpu)


#: GUI-thread CPU seconds of :func:`_calibration_work` on the slower of the
#: developers' 2-core machines (Intel Xeon, 2026-12-01, best of 7).
REFERENCE_WORK_S = 0.215


def _calibration_work() -> float:
    """CPU seconds of this thread for a fixed mix of numpy FFTs and Python arithmetic."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.standard_normal((512, 512)).astype(np.float32)
    start = time.thread_time()
    for _ in range(20):
        image = np.fft.irfft2(np.fft.rfft2(image), s=image.shape).astype(np.float32)
    total = 0
    for i in range(200_000):
        total += i * i
    return time.thread_time() - start


@pytest.fixture(scope="session")
def cpu_slowness() -> float:
    """How much slower this CPU is than the reference one (at least 1).

    Bounds on CPU time are scaled by it: the same turn of the event loop
    costs more CPU time on a slower processor (the suite took 213 s on one of
    the developers' machines and 560 s on the other).
    """
    return max(1.0, min(_calibration_work() for _ in range(3)) / REFERENCE_WORK_S)


@pytest.fixture
def interruptible():
    """Ctrl-C raises KeyboardInterrupt in this process and its children during the test.

    A job started in the background by a non-interactive shell inherits SIGINT
    ignored (a CI launched with ``&``: the interrupt tests saw no interrupt);
    Python's own handler is installed for the test, and children started
    meanwhile get SIGINT's default, since exec resets a handled signal.
    """
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def thread_calls(monkeypatch):
    """``record(module, name)``: patch ``module.name`` to note, at each call, whether it ran
    on the main (GUI) thread; returns the list of those notes.

    Responsiveness is held structurally this way (the work runs in a worker thread
    or another process); how long the event loop waits is the benchmarks'.
    """
    import threading

    def record(module, name: str) -> list[bool]:
        calls: list[bool] = []
        original = getattr(module, name)

        def recorded(*args, **kwargs):
            calls.append(threading.current_thread() is threading.main_thread())
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)
        return calls

    return record
