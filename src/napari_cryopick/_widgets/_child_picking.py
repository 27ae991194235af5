"""Folder picking in a child process, so the viewer's event loop never waits for it.

"Pick folder…" used to run the pick workflow in a thread of the napari
process. Its numpy, scipy and torch work then competed with the GUI thread
for the GIL and, on a busy machine, for the same cores: the event loop
stalled 66-175 ms at a time while the GUI thread itself worked only 35-63 ms
(issue 12). Here the same workflow (:func:`napari_cryopick.workflows.pick.pick`,
so the same files as ``cryopick pick``) runs in a fresh Python process, at a
lower CPU priority, with one torch thread fewer than the machine has cores.
The napari worker thread that drives it only waits on a pipe.

Protocol (all in a private temporary folder):

* the parent writes ``request.pkl`` (the :class:`PickRequest`, its model
  saved as ``model.pt`` when it is an in-memory detector) and starts
  ``python -m napari_cryopick._widgets._child_picking FOLDER``;
* the child writes one JSON line per micrograph to its stdout (step, total,
  name, picks, error, files written); at the end ``outcome.pkl`` (the
  workflow's :class:`PickOutcome`) and a ``{"done": ...}`` line;
* a line ``cancel`` on the child's stdin (or its stdin closing: napari went
  away) stops it between two micrographs: every file written so far is
  complete (the workflow writes atomically) and nothing else is written.

This module imports neither Qt nor napari (the child imports it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

#: CPU priority the child runs at, relative to napari (``nice`` increment; POSIX only).
CHILD_NICENESS = 5
#: Seconds the parent waits for a cancelled or orphaned child before killing it.
STOP_TIMEOUT_S = 60.0


class ChildPickingError(RuntimeError):
    """The picking process failed (its message says why) or died."""


def child_request(request: Any, folder: Path) -> Any:
    """``request`` as the child gets it: an in-memory model saved as a checkpoint file."""
    model = request.model
    if model is None or isinstance(model, (str, os.PathLike)):
        return request
    from napari_cryopick.core.model import save_checkpoint

    path = save_checkpoint(folder / "model.pt", model, metadata=dict(request.metadata or {}))
    return dataclasses.replace(request, model=path, metadata=None)


def _progress_event(record: dict) -> Any:
    from napari_cryopick.workflows.pick import PickProgress

    return PickProgress(
        int(record["step"]),
        int(record["total"]),
        str(record["micrograph"]),
        int(record["n_picks"]),
        float(record["elapsed_s"]),
        error=str(record.get("error", "")),
        written=tuple(Path(p) for p in record.get("written", ())),
    )


def _forward_cancel(cancel: threading.Event, finished: threading.Event, stdin: Any) -> None:
    """Tell the child to stop once ``cancel`` is set (checked every 50 ms until finished)."""
    while not finished.wait(0.05):
        if cancel.is_set():
            with contextlib.suppress(OSError, ValueError):  # the child may be gone already
                stdin.write(b"cancel\n")
                stdin.flush()
            return


def pick_in_child(request: Any, cancel: threading.Event) -> Generator[Any, None, Any]:
    """Run the pick workflow for ``request`` in a child process; the generator of a napari worker.

    Yields one :class:`~napari_cryopick.workflows.pick.PickProgress` per
    micrograph (without the picks themselves: they are in the files) and
    returns the workflow's :class:`~napari_cryopick.workflows.pick.PickOutcome`,
    or None when ``cancel`` was set (the child stopped between micrographs).

    Raises
    ------
    ChildPickingError
        The child failed (its one-line message) or died.
    """
    with tempfile.TemporaryDirectory(prefix="cryopick-pick-") as name:
        folder = Path(name)
        (folder / "request.pkl").write_bytes(pickle.dumps(child_request(request, folder)))
        command = [sys.executable, "-m", "napari_cryopick._widgets._child_picking", str(folder)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        finished = threading.Event()
        forwarder = threading.Thread(
            target=_forward_cancel,
            args=(cancel, finished, process.stdin),
            name="cryopick-cancel",
            daemon=True,
        )
        forwarder.start()
        result: dict = {}
        try:
            for line in process.stdout:  # blocks without the GIL until the child writes
                record = json.loads(line)
                if "step" in record:
                    yield _progress_event(record)
                else:
                    result = record
            process.wait()
        finally:
            finished.set()
            _stop(process)
        if "failed" in result:
            raise ChildPickingError(result["failed"])
        if "cancelled" in result:
            return None
        if "done" not in result:
            raise ChildPickingError(
                f"the picking process ended without a result (exit code {process.returncode})"
            )
        with open(folder / "outcome.pkl", "rb") as stream:
            return pickle.load(stream)


def _stop(process: subprocess.Popen) -> None:
    """Make sure the child ends: asked to stop (stdin closed), killed if it does not."""
    if process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            process.stdin.write(b"cancel\n")
            process.stdin.close()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError, ValueError):
            stream.close()


# --- the child ---


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` on a ``cancel`` line or when stdin closes (the parent is gone)."""
    received = b""
    while b"cancel" not in received:
        try:
            chunk = os.read(0, 64)  # the raw descriptor: no buffer lock held at shutdown
        except OSError:
            break
        if not chunk:
            break
        received = received[-16:] + chunk
    stop.set()


def _child_main(folder: Path) -> int:
    """Pick as ``request.pkl`` says; progress as JSON lines on the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the protocol

    def send(record: dict) -> None:
        out.write(json.dumps(record) + "\n")

    if hasattr(os, "nice"):  # POSIX
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)
    stop = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    try:
        import torch

        from napari_cryopick.core.model import cpu_cores

        torch.set_num_threads(max(1, cpu_cores() - 1))
        from napari_cryopick.workflows.pick import pick

        request = pickle.loads((folder / "request.pkl").read_bytes())
        job = pick(request)
        outcome = None
        try:
            while not stop.is_set():
                try:
                    event = next(job)
                except StopIteration as end:
                    outcome = end.value
                    break
                send(
                    {
                        "step": event.step,
                        "total": event.total,
                        "micrograph": event.micrograph,
                        "n_picks": event.n_picks,
                        "elapsed_s": event.elapsed_s,
                        "error": event.error,
                        "written": [str(p) for p in event.written],
                    }
                )
        finally:
            job.close()  # between micrographs: nothing half-written
        if outcome is None:
            send({"cancelled": True})
            return 0
        with open(folder / "outcome.pkl", "wb") as stream:
            pickle.dump(outcome, stream)
        send({"done": True})
        return 0
    except Exception as error:  # one line for the widget's status; the traceback to stderr
        import traceback

        traceback.print_exc()
        send({"failed": str(error) or type(error).__name__})
        return 1


if __name__ == "__main__":
    sys.exit(_child_main(Path(sys.argv[1])))
