"""Small typed progress events shared by long jobs, and a synchronous driver.

Long jobs (training, batch picking, simulation) are generators that ``yield``
frozen event dataclasses and ``return`` their result. The napari widgets run
the same generator in a napari worker; the command line and the tests drive it
with :func:`drive`. Cancelling is closing the generator (``gen.close()``), which
raises ``GeneratorExit`` inside it so it can clean up.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between two redraws of a command-line progress bar on a terminal,
#: and where the bar goes to a file or a pipe (a cluster job's log), where
#: every redraw is kept: a 1000-step training drew 1000 bars, about 200 kB.
REFRESH_S_TERMINAL = 0.1
REFRESH_S_LOG = 30.0
_clock = time.monotonic


class ThreadWarnings(logging.Handler):
    """Keeps the messages of the warnings (and worse) logged by the thread that made it,
    in :attr:`said`: what a job said, for a caller that shows it elsewhere (a widget's
    status line, a Dask worker's result), not another job's logged meanwhile."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said: list[str] = []
        thread = threading.get_ident()
        self.addFilter(lambda record: record.thread == thread)

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


@dataclass(frozen=True)
class Progress:
    """Generic progress of a job: ``step`` out of ``total`` with a message."""

    step: int
    total: int
    message: str = ""


#: Bar of a job whose events carry their own estimate of the time left (``eta_s``):
#: elapsed time and rate, without tqdm's own remaining-time estimate.
_OWN_ETA_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]"


class _AboveBar:
    """A log handler's stream that writes each record above the progress bar
    (``tqdm.write``), not onto its line: a re-trial's warnings stuck to the bar's
    line, and ``grep -v step/s`` on the log dropped them."""

    def __init__(self, stream: Any, write: Callable[..., None]) -> None:
        self.stream = stream
        self._write = write

    def write(self, text: str) -> None:
        if text.strip():
            self._write(text.rstrip("\n"), file=self.stream)

    def flush(self) -> None:
        self.stream.flush()


class _LogLines:
    """The stream of a progress bar drawn to a file or a pipe (a cluster job's log,
    RELION's run.out): each draw a line of its own, without tqdm's carriage returns and
    blanking. A CLI trial's log began every warning after the bar with the bar's text and
    a carriage return (``picking: 33%|...\r   \rWARNING: ...``): ``grep '^WARNING'``
    found the first warning only, and a viewer that shows carriage returns showed a
    run of bars on one line."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:  # (a blanking of the line, or the bar's closing line end: nothing)
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:  # (encoding, fileno: the stream's)
        return getattr(self.stream, name)


def _drawn_state(bar: Any) -> tuple:
    """What a drawn bar line says that a later draw would change: step, total, postfix."""
    return (bar.n, bar.total, bar.postfix)


def _logs_above(bar_class: Any, bar_stream: Any) -> list[tuple[Any, Any]]:
    """Point the root logger's handlers of the bar's stream, and of standard output and
    error (a bar on one of them is cleared by a write to the other, ``tqdm.write``), at
    :class:`_AboveBar`; what to restore."""
    import logging

    streams = (bar_stream, sys.stderr, sys.stdout)
    swapped = []
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and any(stream is s for s in streams):
            swapped.append((handler, stream))
            handler.stream = _AboveBar(stream, bar_class.write)
    return swapped


def drive(
    job: Generator[Any, None, T],
    on_event: Callable[[Any], None] | None = None,
    *,
    progress_bar: bool = False,
    description: str = "",
    file: Any = None,
    unit: str = "step",
) -> T:
    """Run a job generator to the end and return its result.

    Parameters
    ----------
    job
        Generator yielding events with ``step`` and ``total`` attributes (events
        without a ``step``, such as notes, make no bar).
    on_event
        Called with every event.
    progress_bar
        Show a tqdm progress bar (command line) on standard error, redrawn at
        most every :data:`REFRESH_S_TERMINAL` s on a terminal and every
        :data:`REFRESH_S_LOG` s elsewhere, and at the last step. Events with an
        ``eta_s`` (training: the sooner of its time budget and its steps) say
        the time left in their postfix; the bar then leaves out its own estimate.
    description
        Label of the progress bar.
    file
        Stream of the progress bar (default: standard error). ``cryopick relion`` draws
        it on standard output: RELION shows a job's standard error as errors.
    unit
        What a step is, in the bar's rate ("micrograph": "2.1 micrograph/s", not the
        "step/s" a scale trial read while picking).
    """
    bar = None
    swapped: list[tuple[Any, Any]] = []
    event = None
    drawn: tuple | None = None  # (step, total, postfix) last drawn in a log
    interval, last_drawn, terminal = REFRESH_S_TERMINAL, -float("inf"), False
    if progress_bar:
        file = sys.stderr if file is None else file
        terminal = bool(getattr(file, "isatty", lambda: False)())
        interval = REFRESH_S_TERMINAL if terminal else REFRESH_S_LOG
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            if on_event is not None:
                on_event(event)
            now = _clock()
            if progress_bar and bar is None and hasattr(event, "step"):
                # made at the first event: a job refused before it starts (bad input)
                # leaves its one error line alone, not an empty "0step" bar above it
                from tqdm.auto import tqdm

                step = getattr(event, "step", None)
                postfix = getattr(event, "postfix", None)
                bar = tqdm(
                    desc=description,
                    unit=unit,
                    total=getattr(event, "total", None),  # not a first "0step" of no total
                    # the rate counts from the first event's step: a first micrograph done
                    # before the bar was made read "21959.71step/s" (a trial)
                    initial=step if isinstance(step, int) and step > 0 else 0,
                    file=file if terminal else _LogLines(file),
                    bar_format=(
                        _OWN_ETA_FORMAT if getattr(event, "eta_s", None) is not None else None
                    ),
                    dynamic_ncols=True,
                    mininterval=interval,
                    # (its first line with the first event's postfix: in a log, drawn once)
                    postfix=postfix() if callable(postfix) else None,
                )
                # (in a log the bar's lines end, so log records stand on their own)
                swapped = _logs_above(tqdm, file) if terminal else []
                if not terminal:  # drawn: the log keeps every line
                    last_drawn, drawn = now, _drawn_state(bar)
            if bar is not None:
                total = getattr(event, "total", None)
                step = getattr(event, "step", None)
                if total is not None and bar.total != total:
                    bar.total = total
                if step is not None:
                    bar.n = step
                if getattr(event, "eta_s", None) is not None and bar.bar_format != _OWN_ETA_FORMAT:
                    # the job estimates its own end (a time budget): tqdm's estimate from
                    # the steps left would be a second, different one
                    bar.bar_format = _OWN_ETA_FORMAT
                last_step = step is not None and total is not None and step >= total
                # (a monitor's last micrograph of each batch it finds is a last step: its
                # total grows)
                if now - last_drawn >= interval or last_step:
                    postfix = getattr(event, "postfix", None)
                    if callable(postfix):
                        bar.set_postfix_str(postfix(), refresh=False)
                    # (in a log, a line that says what the last one said is left out, the
                    # bar just made among them: a review's training log had "choosing the
                    # pick threshold" twice)
                    if terminal or _drawn_state(bar) != drawn:
                        bar.refresh()
                        last_drawn, drawn = now, _drawn_state(bar)
    finally:
        for handler, stream in swapped:
            handler.stream = stream
        if bar is not None:
            postfix = getattr(event, "postfix", None)
            if callable(postfix):  # the last event's, drawn by close
                bar.set_postfix_str(postfix(), refresh=False)
            if not terminal and drawn == _drawn_state(bar):
                # drawn as it ends: in a log the close draws nothing more (a review: "100%"
                # twice; leave=False blanks the line, which _LogLines drops)
                bar.leave = False
            bar.close()
        job.close()
