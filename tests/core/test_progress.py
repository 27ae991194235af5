"""The command-line progress bar of ``drive``: few redraws in a log, the last step always shown."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from napari_cryopick.core import progress
from napari_cryopick.core.progress import Progress, drive


@dataclass(frozen=True)
class _Step:
    step: int
    total: int

    def postfix(self) -> str:
        return f"at {self.step}"


def _job(n: int, total: int | None = None):
    for step in range(1, n + 1):
        yield _Step(step, n if total is None else total)
    return "done"


def test_a_log_gets_a_few_bars_not_one_per_step(capsys):
    # pytest's captured standard error is not a terminal: the log interval applies
    assert drive(_job(500), progress_bar=True, description="training") == "done"
    err = capsys.readouterr().err
    drawn = err.count("training")
    assert 2 <= drawn <= 5, drawn  # the first step, the last step (by the close)
    assert err.count("500/500") == 1  # once: the log keeps every draw
    assert err.count("1/500") == 1
    assert "at 500" in err  # the last event's postfix, not a stale one


def test_a_log_draws_the_last_step_once_however_slow_the_job(capsys, monkeypatch):
    # a review: with 30 s or more before the last step, it was drawn, then the close drew
    # it again: two "100%" lines in the log
    ticks = iter(range(0, 10_000, 40))
    monkeypatch.setattr(progress, "_clock", lambda: float(next(ticks)))
    drive(_job(5), progress_bar=True, description="picking")
    err = capsys.readouterr().err
    assert err.count("5/5") == 1, err
    assert err.count("picking") == 5  # each step 40 s after the one before: each drawn once


def test_a_log_draws_a_one_step_job_once_and_a_growing_total_at_every_step(capsys, monkeypatch):
    # a review: a one-micrograph run drew "1/1" at the bar's making and again at the close;
    # a monitor's total grows with each micrograph found (each event a last step), and
    # its log showed the first micrograph and the end only
    drive(_job(1), progress_bar=True, description="picking")
    assert capsys.readouterr().err.count("1/1") == 1
    # the same last step twice (training's calibration pass, said again): one line
    drive((_Step(3, 3) for _ in range(3)), progress_bar=True, description="training")
    assert capsys.readouterr().err.count("3/3") == 1
    ticks = iter(range(0, 10_000, 10))  # (10 s apart: drawn as last steps, not by interval)
    monkeypatch.setattr(progress, "_clock", lambda: float(next(ticks)))
    drive((_Step(i, i) for i in range(1, 5)), progress_bar=True, description="monitoring")
    err = capsys.readouterr().err
    for step in range(1, 5):
        assert err.count(f"{step}/{step}") == 1, err


def test_a_job_that_stops_early_shows_where_it_stopped(capsys):
    # a time budget ends training before its planned steps: no "last step" event
    drive(_job(30, total=1000), progress_bar=True, description="training")
    err = capsys.readouterr().err
    assert "30/1000" in err
    assert "at 30" in err


def test_a_terminal_redraws_at_the_short_interval(capsys, monkeypatch):
    redraws = []
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    ticks = iter(range(0, 10_000))
    # every event 1 s after the one before: on a terminal each one is drawn
    monkeypatch.setattr(progress, "_clock", lambda: float(next(ticks)))
    drive(
        (Progress(i, 20) for i in range(1, 21)),
        on_event=redraws.append,
        progress_bar=True,
        description="picking",
    )
    err = capsys.readouterr().err
    assert len(redraws) == 20
    assert err.count("picking") >= 20


@dataclass(frozen=True)
class _Timed:
    step: int
    total: int
    eta_s: float

    def postfix(self) -> str:
        return f"eta={self.eta_s:.0f}s"


def test_a_job_with_its_own_time_estimate_shows_one_estimate(capsys):
    # a time budget ends training before tqdm's estimate from the steps left would
    drive((_Timed(i, 1000, 60.0 - i) for i in range(1, 31)), progress_bar=True, description="t")
    err = capsys.readouterr().err
    assert "eta=30s" in err
    assert "30/1000" in err
    assert "<" not in err  # tqdm's "[elapsed<remaining, ...]" is left out
    # without one, tqdm's estimate stays
    drive(_job(30, total=1000), progress_bar=True, description="t")
    assert "<" in capsys.readouterr().err


def test_a_job_refused_before_its_first_step_draws_no_bar(capsys):
    # a trial saw "picking: 0step" above the error of a model without the kind asked
    def refused():
        raise ValueError("the model has no 'vesicle' kind")
        yield  # a generator

    with pytest.raises(ValueError, match="no 'vesicle' kind"):
        drive(refused(), progress_bar=True, description="picking")
    assert "picking" not in capsys.readouterr().err
    drive(_job(3), progress_bar=True, description="picking")  # a job that runs: drawn
    assert "3/3" in capsys.readouterr().err


def test_the_first_draw_of_a_bar_knows_its_total(capsys):
    # a trial saw "picking: 0step [00:00, ?step/s]" drawn before "1/1"
    drive(_job(3), progress_bar=True, description="picking")
    err = capsys.readouterr().err
    assert "picking: 0step" not in err  # (rates such as "49152.00step/s" hold "0step")
    assert "/3" in err.splitlines()[0]  # the first drawn line


def test_a_note_before_the_first_step_makes_no_bar_of_its_own(capsys):
    # training yields a note (clicks on nothing) before its first step: the bar is the steps'
    def noted():
        yield SimpleNamespace(text="the clicks on m0 sit on nothing")
        return (yield from _job(3))

    seen = []
    assert drive(noted(), seen.append, progress_bar=True, description="training") == "done"
    assert seen[0].text.startswith("the clicks")  # the caller still gets it
    err = capsys.readouterr().err
    assert "training: 0step" not in err
    assert "/3" in err.splitlines()[0]


def test_log_lines_during_a_progress_bar_stand_on_lines_of_their_own(capsys):
    # a re-trial: per-micrograph warnings were printed onto the bar's line, and
    # `grep -v step/s` on the log dropped them
    import logging
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)

    def job():
        for step in (1, 2, 3):
            if step == 2:
                logging.getLogger("napari_cryopick.test").warning("m1: something to say")
            yield SimpleNamespace(step=step, total=3)
        return "done"

    try:
        assert drive(job(), progress_bar=True, description="picking") == "done"
    finally:
        root.removeHandler(handler)
    assert handler.stream is sys.stderr  # given back
    err = capsys.readouterr().err
    # a log (not a terminal): every bar a line of its own, no carriage returns, so each
    # warning starts its line (a CLI trial's began with the bar's text and a \r)
    assert "\r" not in err
    lines = err.splitlines()
    assert "WARNING: m1: something to say" in lines
    assert all(line.startswith(("picking: ", "WARNING: ")) for line in lines), lines


def test_the_first_draw_shows_no_rate_from_a_step_done_before_the_bar(capsys):
    # a trial: "1/3 [00:00<00:00, 21959.71step/s]": the bar is made at the first event,
    # whose step was done before it, and counted it in no time
    def job():
        yield _Step(1, 3)
        yield _Step(3, 3)

    drive(job(), progress_bar=True, description="picking")
    first = capsys.readouterr().err.splitlines()
    first_draw = next(line for line in first if "1/3" in line)
    assert "?step/s" in first_draw or "0.00step/s" in first_draw, first_draw


def test_a_bar_can_go_to_standard_output(capsys):
    drive(_job(3), progress_bar=True, description="picking", file=progress.sys.stdout)
    captured = capsys.readouterr()
    assert "3/3" in captured.out
    assert captured.err == ""


def test_warnings_on_standard_error_stay_off_a_bar_on_standard_output(capsys, monkeypatch):
    # a review: with cryopick relion's bar on standard output, the warnings a terminal
    # shows on standard error went onto the bar's line again (no longer written above it)
    import logging
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)

    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.addHandler(handler)
    streams = []

    def job():
        for step in (1, 2):
            streams.append(handler.stream)
            yield SimpleNamespace(step=step, total=2)

    try:
        drive(job(), progress_bar=True, description="picking", file=sys.stdout)
    finally:
        root.removeHandler(handler)
    assert isinstance(streams[-1], progress._AboveBar)  # written above the bar (tqdm.write)
    assert handler.stream is sys.stderr  # given back
