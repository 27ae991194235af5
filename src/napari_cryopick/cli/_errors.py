"""The command line's last line of defence: every failure becomes one line and an exit code.

:func:`run_main` wraps the whole of ``cryopick`` (start-up imports included):

=====================================  ==========  =================================
failure                                exit code   message
=====================================  ==========  =================================
bad option, unreadable input file      2           ``cryopick CMD: error: PATH: ...``
(``CLIError``, ``ValueError``)
``OSError`` family (permission,        2           ``cryopick CMD: error: PATH: ...``
folder/file mix-ups, full disk)
``MemoryError``                        2           ``... out of memory ...``
Ctrl-C (also during imports)           130         ``cryopick: interrupted``
``SIGTERM``                            143         ``cryopick: terminated``
=====================================  ==========  =================================

Messages never carry a traceback, ANSI colour codes, or torch's advice to
load a file with ``weights_only=False`` (which would run code from an
untrusted checkpoint). ``-v``/``--verbose`` shows the traceback of
unexpected errors.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Sentences of torch's UnpicklingError text that suggest weights_only=False.
_UNSAFE_HINT = re.compile(r"[^.\n]*weights_only\s*=?\s*False[^.\n]*\.?", re.IGNORECASE)

_OS_MESSAGES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "already exists",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EFBIG: "file too large (file size limit)",
}


class Terminated(KeyboardInterrupt):
    """Raised by the ``SIGTERM`` handler so that ``finally`` blocks (temporary files) run."""


def clean_message(text: str) -> str:
    """One tidy line: no ANSI colour codes, no ``weights_only=False`` advice, no blank lines."""
    text = _ANSI.sub("", str(text))
    text = _UNSAFE_HINT.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines) if len(lines) <= 3 else " ".join(lines[:3]) + " ..."


def os_error_message(error: OSError) -> str:
    """``PATH: what happened`` for an OSError (the path the OS names, else the message)."""
    reason = _OS_MESSAGES.get(error.errno) if error.errno is not None else None
    strerror = clean_message(error.strerror or str(error))
    if reason is None:
        reason = strerror
    elif strerror.lower().startswith("cannot ") and ": it is " in strerror:
        reason = strerror  # io.atomic's own reason ("cannot write: it is a folder")
    elif strerror.lower().startswith("cannot "):
        # atomic writes say what they were doing: "cannot write: No space left on device"
        reason = f"{strerror.split(':', 1)[0]}: {reason}"
    if error.filename is not None:
        target = f"{error.filename}"
        if error.filename2 is not None:
            target += f" -> {error.filename2}"
        return f"{target}: {reason}"
    return clean_message(str(error)) if error.errno is None else reason


#: Sub-commands with actions of their own: errors name the action too.
_ACTIONS = {"cryosparc": ("export",)}


def _command_of(argv: list[str]) -> tuple[str, bool]:
    """The sub-command named in ``argv`` (or ``""``) and whether -v/--verbose came before it."""
    from napari_cryopick.cli import _SUBCOMMANDS

    verbose = False
    for index, item in enumerate(argv):
        if item in ("-v", "--verbose"):
            verbose = True
        elif item in _SUBCOMMANDS:
            action = next((word for word in argv[index + 1 :] if not word.startswith("-")), "")
            if action in _ACTIONS.get(item, ()):  # cryopick cryosparc export
                return f"{item} {action}", verbose
            return item, verbose
    return "", verbose


def _terminate(signum, frame) -> None:
    raise Terminated()


def install_signal_handlers() -> object:
    """Turn ``SIGTERM`` into an exception so atomic writers clean up (main thread only).

    Returns the previous handler (``None`` when nothing was installed).
    """
    import threading

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
        return signal.signal(signal.SIGTERM, _terminate)
    return None


#: Exit status after the output's reader closed the pipe (128 + SIGPIPE, as a shell reports).
EXIT_BROKEN_PIPE = 141


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured in tests): nothing to flush into a closed pipe


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``, turning every failure into one line on stderr and an exit code."""
    from napari_cryopick.cli import CLIError

    words = list(sys.argv[1:] if argv is None else argv)
    command, verbose = _command_of(words)
    prefix = f"cryopick {command}: error:" if command else "cryopick: error:"
    previous = None
    try:
        previous = install_signal_handlers()
        return main(argv)
    except Terminated:
        print("cryopick: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("cryopick: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, ValueError) as error:
        # Our readers raise ValueError subclasses whose message names the file.
        if verbose and not isinstance(error, CLIError):
            raise
        print(f"{prefix} {clean_message(str(error))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader of the output went away (``cryopick info m.pt | head -2``): no
        # error to report; the usual exit status of a command stopped by SIGPIPE
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:
        if verbose:
            raise
        print(f"{prefix} {os_error_message(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError as error:
        if verbose:
            raise
        detail = clean_message(str(error))
        print(
            f"{prefix} out of memory{': ' + detail if detail else ''} (use a smaller input, "
            "a larger --diameter or a machine with more memory)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    finally:
        if previous is not None:  # main() called from Python: give SIGTERM back
            signal.signal(signal.SIGTERM, previous)


def _refuse_read_only(path: Path, option: str, given: Path | None = None) -> None:
    """Refuse an output below a folder whose mode lets nobody write (a scale trial's
    ``cryopick pick`` and ``filter`` run as root littered ``r-x`` folders, which the Pick
    widget already refused; :func:`~napari_cryopick.io.paths.read_only_text`).
    ``given``: the file the option names in ``path`` (a folder), named instead."""
    from napari_cryopick.cli import CLIError
    from napari_cryopick.io.paths import read_only_text

    reason = read_only_text(path)
    if reason is not None:
        raise CLIError(f"{option} {path if given is None else given}: {reason}")


def _probe_folder(folder: Path, option: str, given: Path | None = None) -> None:
    """Create and remove a file in ``folder``: the only test of writability that root obeys too.

    ``given``: the file the option names in ``folder``, named in the errors (a docs audit's
    ``--json raw/e.json`` was told "--json raw: ...")."""
    from napari_cryopick.cli import CLIError

    # the folder is checked (the file may exist already: it is no folder), the file named
    _refuse_read_only(folder, option, given)
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".cryopick-write-test.", dir=folder)
    except OSError as error:
        where = "there" if given is None else f"in {folder}"
        raise CLIError(
            f"{option} {folder if given is None else given}: cannot write {where}: "
            f"{os_error_message(error).split(': ')[-1]}"
        ) from None
    os.close(descriptor)
    os.unlink(probe)


def check_output_file(path: Path | None, option: str, *, create_folder: bool = False) -> None:
    """Fail early, naming ``option``, when ``path`` cannot be written as a file.

    ``None`` (option not given) passes. A folder, a missing folder (unless
    ``create_folder``), a parent that is a file, or a folder without write
    permission is a :class:`~napari_cryopick.cli.CLIError`.
    """
    from napari_cryopick.cli import CLIError

    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        # a device, a pipe, or a link to one: the file is written beside it and renamed
        # over it, which a device refuses (a trial's --json /dev/stdout failed after the
        # whole report, as "already exists")
        raise CLIError(
            f"{option} {path}: is not a regular file (a device or a pipe); give a file name"
        )
    folder = path.parent
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise CLIError(f"{option} {path}: {parent} is a file, not a folder")
    if not folder.is_dir():
        if not create_folder:
            raise CLIError(f"{option} {path}: the folder {folder} does not exist")
        _refuse_read_only(folder, option)  # (before a folder is made in it)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CLIError(f"{option} {path}: {os_error_message(error)}") from None
    _probe_folder(folder, option, path)


def check_not_among_inputs(path: Path | None, option: str, inputs: list[Path]) -> None:
    """Refuse a report or gathered file written as a pick file into a folder read as input.

    A re-trial's ``--pr-curve p1/pr.csv`` (``p1`` the predictions' folder) made every
    later evaluate of ``p1`` fail reading ``pr.csv`` as picks; a ``cryosparc export --out``
    into the folder exported did the same with its STAR file.
    """
    from napari_cryopick.cli import CLIError
    from napari_cryopick.io.paths import pick_file_suffixes

    if path is None or Path(path).suffix.lower() not in pick_file_suffixes():
        return
    parent = Path(path).resolve().parent
    for item in inputs:
        folder = Path(item)
        if folder.is_dir() and parent.is_relative_to(folder.resolve()):
            raise CLIError(
                f"{option} {path}: lies in the input folder {folder}, where later runs would "
                "read it as a pick file; write it elsewhere"
            )


def check_output_folder(path: Path, option: str) -> None:
    """Fail early, naming ``option``, when ``path`` cannot be made a writable folder."""
    from napari_cryopick.cli import CLIError

    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() and not parent.is_dir():
            raise CLIError(f"{option} {path}: {parent} is a file, not a folder")
    _refuse_read_only(path, option)  # (before a folder is made in it)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # "--out /proc/nope: no such file or folder" read as an input missing (a trial)
        raise CLIError(
            f"{option} {path}: cannot create this output folder ({os_error_message(error)})"
        ) from None
    _probe_folder(path, option)
