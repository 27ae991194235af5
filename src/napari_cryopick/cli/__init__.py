"""The ``cryopick`` command line.

Each sub-command lives in its own module ``_<name>.py`` with a
``register(subparsers)`` function that adds its parser and sets
``func=run`` where ``run(args) -> int`` returns the exit code. A command
turns its options into a workflow request (``workflows.train.TrainRequest``,
``workflows.pick.PickRequest``) and drives the workflow with a progress bar;
``register`` imports no torch, so ``--version`` and ``--help`` are fast.

Exit codes: 0 success, 1 the job failed (e.g. a target not met), 2 bad
input (missing or malformed file, bad option), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from typing import Any, NoReturn

from napari_cryopick import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_SUBCOMMANDS = (
    "demo",
    "simulate",
    "train",
    "pick",
    "evaluate",
    "info",
    "relion",
    "filter",
    "cryosparc",
)


class CLIError(Exception):
    """An error to show the user as one line, with exit code 2."""


def box_size(text: str) -> float:
    """``--box-size``'s type: a whole number of pixels, at least 1 (BOX and CBOX files hold
    whole-pixel boxes: a CLI trial's 64.5 became 64, unsaid)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of pixels: {text!r}") from None
    if not (math.isfinite(value) and value >= 1.0):
        raise argparse.ArgumentTypeError(f"must be at least 1 px, got {text}")
    if value != round(value):
        raise argparse.ArgumentTypeError(
            f"boxes are whole pixels, got {text}: give {math.floor(value)} or {math.ceil(value)}"
        )
    return value


class _Parser(argparse.ArgumentParser):
    """``cryopick``'s parsers (sub-commands take the same class).

    - No abbreviated options: ``cryopick simulate --n 1`` took ``--n`` for
      ``--no-ctf`` and wrote micrographs without a CTF, without a word (a trial).
    - A refused command line is one line naming the command, as every other
      error of the tool; argparse printed the whole usage above it (23 lines,
      which a RELION External job's log shows above the error).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cryopick",
        description="Cryo-EM particle, vesicle and fiber picking (napari-cryopick).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        # each sub-command module imports the core only when it runs: --help stays fast
        importlib.import_module(f"napari_cryopick.cli._{name}").register(subparsers)
    return parser


#: A process older than this when ``main`` runs did something else first (a job
#: script that ends in ``exec cryopick``): its budgets count from ``main``.
MAX_STARTUP_S = 60.0

#: :func:`time.perf_counter` at this process's start, when ``cryopick`` runs as
#: the command (``main()`` without ``argv``); None when called in a program.
_PROCESS_STARTED: float | None = None


def command_started() -> float:
    """A :func:`time.perf_counter` value: when the user's ``cryopick`` command started.

    The process's start (Python's start-up and the imports before ``main``
    ran, 1-4 s on a busy 2-core machine) when ``cryopick`` is the command;
    now when ``main`` is called from a program. Time budgets count from it.
    """
    return time.perf_counter() if _PROCESS_STARTED is None else _PROCESS_STARTED


def _process_started() -> float | None:
    try:
        import psutil

        age = time.time() - psutil.Process().create_time()
    except Exception:  # any failure (no psutil, no /proc/stat btime): count from now
        return None
    if not 0.0 <= age <= MAX_STARTUP_S:  # e.g. `exec cryopick` at the end of a long job script
        return None
    return time.perf_counter() - age


def main(argv: list[str] | None = None) -> int:
    """Run ``cryopick``; every failure becomes one line and an exit code (``cli._errors``)."""
    from napari_cryopick.cli._errors import run_main

    global _PROCESS_STARTED
    # the command itself: its budgets count from the process's start; a program's call
    # (argv given) from the call
    _PROCESS_STARTED = _process_started() if argv is None else None
    return run_main(_main, argv)


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``: input files may also follow options (``cryopick pick a/ --out X b/``,
    refused before as "unrecognized arguments: b/"), and an unknown option is said with
    the sub-command's usage, not the top level's."""
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    command = _chosen(parser, args)
    if command is None:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    while (action := _chosen(command, args)) is not None:  # cryopick cryosparc export
        command = action
    inputs = getattr(args, "inputs", None)
    if isinstance(inputs, list) and not any(item.startswith("-") for item in extra):
        args.inputs = inputs + extra
        return args
    command.error(f"unrecognized arguments: {' '.join(extra)}")
    raise AssertionError("unreachable")  # error() exits


def _chosen(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser | None:
    """The sub-command parser of ``parser`` that ``args`` chose, or None."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(getattr(args, action.dest, None) or "")
    return None


def _own_info_and_warnings(record: logging.LogRecord) -> bool:
    """This package's log records, and every library's warnings and errors."""
    return record.levelno >= logging.WARNING or record.name.split(".")[0] == "napari_cryopick"


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as refused:
        if refused.code:  # not --help / --version: a RELION job must not look running
            from napari_cryopick.cli._relion import mark_refused_options

            mark_refused_options(list(sys.argv[1:] if argv is None else argv))
        raise
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    handlers = [] if args.verbose else list(logging.getLogger().handlers)
    if args.verbose:  # this package's debug output, not every library's (Pillow's chunks, ...)
        logging.getLogger("napari_cryopick").setLevel(logging.DEBUG)
    for handler in handlers:  # other libraries' info (--dask: the scheduler's chatter) is not shown
        handler.addFilter(_own_info_and_warnings)
    try:
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        # errors, interrupts, OS errors and MemoryError: cli._errors.run_main
        return int(args.func(args) or 0)
    finally:  # main() called from Python: the caller's logging is its own again
        for handler in handlers:
            handler.removeFilter(_own_info_and_warnings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
