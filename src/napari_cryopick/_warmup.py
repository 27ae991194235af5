"""Torch's and picking's one-time start-up, in a background thread, once a process.

The first ``torch.optim.AdamW`` lazily imports a large part of torch (``torch._dynamo``
and sympy), and picking needs scipy's and pyarrow's extension modules. Done in the GUI
thread when the Train or Pick dock opened, they froze the viewer: a responsiveness trial
measured 2.0-2.2 s without an event-loop tick on docking Train, 1.1 s on docking Pick.
Done by the first training or picking worker instead, they held the GIL in bursts when
the job started. So they run here, in a daemon thread started 2 s after the first
micrograph opens (it shows first) or when the Annotate, Train or Pick dock is created,
whichever comes first: docking Train then stalled the viewer 0.11 s instead of 2.2 s
(``benchmarks/bench_responsiveness.py``, docs/benchmarks.md).

Only third-party packages that import none of napari-cryopick's or napari's modules are
loaded here, each from its top-level package down (``torch`` before its submodules), the
order every other thread imports them in: a thread that needs one while this one loads it
waits for it (Python's per-module import locks), and no cycle of those locks can form.
napari-cryopick's own modules, and those defining Qt classes (``napari.qt.threading``,
matplotlib's Qt backend), are imported where they are used.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading

__all__ = ["MODULES", "OPENED_DELAY_S", "start_warm_up", "wait_for_warm_up", "warm_up"]

logger = logging.getLogger(__name__)

#: The extension modules picking needs, and the Evaluate dock's figure, loaded ahead: third-party packages only, which
#: import none of napari-cryopick's or napari's modules (no import-lock cycle with the GUI
#: thread), and define no Qt classes.
MODULES: tuple[str, ...] = (
    "scipy.fft",
    "scipy.linalg",
    "scipy.ndimage",
    "scipy.spatial",
    "scipy.constants",
    "pyarrow.pandas_compat",
    # the Evaluate dock's figure (its Qt canvas is imported where it is used): 0.4 s of
    # the 0.55 s docking Evaluate froze the viewer
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)

#: Seconds the reader's warm-up waits, for the micrograph it opens to show first.
OPENED_DELAY_S = 2.0

_lock = threading.Lock()
_thread: threading.Thread | None = None
_go = threading.Event()  # set: warm up now (a dock widget), else after the delay


def warm_up() -> None:
    """Run torch's lazy optimiser and autograd start-up, and import :data:`MODULES`."""
    import torch

    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.AdamW([weight], lr=1e-3)  # (imports torch._dynamo, sympy)
    (weight * 2.0).sum().backward()
    optimizer.step()
    for name in MODULES:
        with contextlib.suppress(ImportError):  # optional (pyarrow): nothing to load
            importlib.import_module(name)


def _run(delay: float) -> None:
    _go.wait(delay)
    try:
        warm_up()
    except Exception:  # (the job that needs them imports them again, and says why)
        logger.debug("warm-up failed", exc_info=True)


def start_warm_up(delay: float = 0.0) -> threading.Thread:
    """Start :func:`warm_up` in a daemon thread, once a process, after ``delay`` seconds
    (a call without one while it waits starts it at once); returns that thread."""
    global _thread
    with _lock:
        if not delay > 0:
            _go.set()
        if _thread is None:
            _thread = threading.Thread(
                target=_run, args=(delay,), name="cryopick-warm-up", daemon=True
            )
            _thread.start()
        return _thread


def wait_for_warm_up(timeout: float | None = None) -> bool:
    """Wait until the warm-up has run (started now if it was not); True when it has."""
    thread = start_warm_up()
    thread.join(timeout)
    return not thread.is_alive()
