"""Small typed progress events shared by long jobs, and a synchronous driver.

Long jobs (training, batch picking, simulation) are generators that ``yield``
frozen event dataclasses and ``return`` their result. The napari widgets run
the same generator in a napari worker; the command line and the tests drive it
with :func:`drive`. Cancelling is closing the generator (``gen.close()``), which
raises ``GeneratorExit`` inside it so it can clean up.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """Generic progress of a job: ``step`` out of ``total`` with a message."""

    step: int
    total: int
    message: str = ""


def drive(
    job: Generator[Any, None, T],
    on_event: Callable[[Any], None] | None = None,
    *,
    progress_bar: bool = False,
    description: str = "",
) -> T:
    """Run a job generator to the end and return its result.

    Parameters
    ----------
    job
        Generator yielding events with ``step`` and ``total`` attributes.
    on_event
        Called with every event.
    progress_bar
        Show a tqdm progress bar (command line).
    description
        Label of the progress bar.
    """
    bar = None
    if progress_bar:
        from tqdm.auto import tqdm

        bar = tqdm(desc=description, unit="step", dynamic_ncols=True)
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            if on_event is not None:
                on_event(event)
            if bar is not None:
                total = getattr(event, "total", None)
                step = getattr(event, "step", None)
                if total is not None and bar.total != total:
                    bar.total = total
                if step is not None:
                    bar.n = step
                postfix = getattr(event, "postfix", None)
                if callable(postfix):
                    bar.set_postfix_str(postfix(), refresh=False)
                bar.refresh()
    finally:
        if bar is not None:
            bar.close()
        job.close()
