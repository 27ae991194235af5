"""Atomic file writes: a cancelled or crashed job never leaves a broken file.

Every writer of the project (pick files, checkpoints, micrographs, reports,
figures, annotation sidecars, helical files) writes to a temporary file in the
destination folder and renames it over the destination only when the write
succeeded. So:

* an existing file is either left as it was or replaced by a complete one,
  also when the disk fills up (``ENOSPC``) or the process is killed;
* on an exception, Ctrl-C (``KeyboardInterrupt``) or a closed generator the
  temporary file is removed;
* a temporary file left by a process that was killed (``SIGKILL``, power
  loss) is named after its process (``.<name>.~<pid>-<host>.<random>.tmp``)
  and removed by the next write into the same folder once that process is
  gone. The folder is listed only when it changed since this process last
  looked (its modification time), so writing the 100,000th file of a folder
  costs what writing the first did, not a listing of 100,000 names;
* several files that belong together (a micrograph and its truth) are
  published by :func:`atomic_paths` with Ctrl-C and ``SIGTERM`` held back
  between the renames, the main file last, so the main file never appears
  without its companions.

The file gets the permissions an ordinary ``open()`` would give (``0o666``
minus the umask), not the private ``0o600`` of :func:`tempfile.mkstemp`, so
RELION or cryoSPARC jobs run by other users of the group can read it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_path",
    "atomic_paths",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temporary",
    "remove_stale_temporaries",
]

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
# ".<name>.~<pid>-<host>.<random>.tmp" (<name> cut short where the whole would pass 255
# bytes: :func:`_temporary_name`)
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.~(?P<pid>\d+)-(?P<host>[A-Za-z0-9]*)\.[^.]+\.tmp$")
_HELD_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s
)


def set_aside(path: str | os.PathLike, *, copy: bool = False) -> Path:
    """Keep the unreadable or damaged file ``path`` as ``<name>.unreadable-<date>`` beside
    it, unchanged (moved; with ``copy``, copied, the file staying where it was), and return
    where: the one convention of every file the tool keeps (annotation sidecars, kept
    corrections, the index of annotated micrographs, the record of model files). Raises
    OSError when it cannot."""
    import shutil
    import time

    path = Path(path)
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    if copy:
        shutil.copy2(path, aside)
    else:
        os.replace(path, aside)
    return aside


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a temporary file of this module (to skip when listing folders)."""
    return bool(_TEMPORARY.match(Path(path).name))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's) or we cannot tell: keep its file
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by killed processes of this host.

    Only files named by :func:`atomic_path` for the same destination, written
    on this host by a process that no longer runs, are removed; a write in
    progress in another process is never touched.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    path = Path(path)
    return _remove_stale(path.parent, path.name)


#: Folder (absolute) -> its modification time (ns) when this process last
#: listed it for stale temporaries or published a file into it.
_LOOKED_AT: dict[str, int] = {}


def _modified_ns(folder: Path) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def _remove_stale_in_folder(folder: Path) -> None:
    """:func:`remove_stale_temporaries` for every file of ``folder``, if it changed since we looked."""
    key = os.path.abspath(folder)
    modified = _modified_ns(folder)
    if modified is not None and _LOOKED_AT.get(key) == modified:
        return  # nothing was created or renamed there since this process looked
    _remove_stale(folder, None)
    if modified is not None:
        _LOOKED_AT[key] = modified


def _remember_folder(path: Path) -> None:
    """After publishing ``path``: its folder's new state is one this process has seen."""
    folder = path.parent
    key = os.path.abspath(folder)
    if key in _LOOKED_AT:
        modified = _modified_ns(folder)
        if modified is not None:
            _LOOKED_AT[key] = modified


def _remove_stale(folder: Path, name: str | None) -> list[Path]:
    """Remove dead processes' temporaries in ``folder`` (of destination ``name``, or of any)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    names = None if name is None else {name, _temporary_name(name)}  # (cut short: long)
    for entry in entries:
        if not entry.name.startswith("."):
            continue
        match = _TEMPORARY.match(entry.name)
        if not match or match["host"] != _HOST:
            continue
        if names is not None and match["name"] not in names:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _named(error: OSError, path: Path, action: str) -> OSError:
    """The same kind of OSError, naming the destination instead of the temporary file."""
    if error.errno is None:
        return error
    strerror = error.strerror or os.strerror(error.errno)
    return type(error)(error.errno, f"cannot {action}: {strerror}", str(path))


#: The longest file name (bytes) most file systems take.
NAME_MAX = 255


def _temporary_name(name: str) -> str:
    """The ``<name>`` part of a temporary file of destination ``name``: ``name`` itself,
    cut short (on a character boundary) where the temporary's whole name would pass
    :data:`NAME_MAX` bytes (a facility trial's 232-255 character stems failed with "File
    name too long", naming the destination, which was not)."""
    # the room left by the longest process id (10 digits), not this one's: every process
    # of a host cuts a name alike, so a dead one's temporaries are known by it (a review)
    room = NAME_MAX - len(f"..~{'9' * 10}-{_HOST}.XXXXXXXX.tmp".encode())
    encoded = name.encode(errors="surrogateescape")
    if len(encoded) <= room:
        return name
    return encoded[: max(room, 1)].decode(errors="ignore") or "x"


def _new_temporary(path: Path) -> Path:
    if path.exists() and not path.is_file():
        # the rename would replace it: a run as root turned /dev/null into a file
        # (``cryopick evaluate --pr-curve /dev/null``)
        kind = "a folder" if path.is_dir() else "not a regular file (a device or a pipe)"
        raise OSError(errno.EEXIST, f"cannot write: it is {kind}", str(path))
    folder = path.parent
    _remove_stale_in_folder(folder)
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{_temporary_name(path.name)}.~{os.getpid()}-{_HOST}.",
            suffix=".tmp",
            dir=folder,
        )
    except OSError as error:
        raise _named(error, path, "write") from None
    os.close(descriptor)
    return Path(temporary)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish(temporary: Path, path: Path) -> None:
    os.chmod(temporary, 0o666 & ~_UMASK)
    _fsync(temporary)
    os.replace(temporary, path)
    _remember_folder(path)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM (delivered on exit) in the main thread on POSIX.

    Blocking them with ``pthread_sigmask`` covers only the calling thread: the
    kernel hands a process's signal to any thread that does not block it (a
    reader or worker thread), and Python then runs its handler in the main
    thread at once, inside the block (a `.tmp` left by the test of this,
    2026-12-01, with other threads alive). So the Python handlers are also
    replaced for the block by ones that only record the signal, which is
    raised again once the block is over.

    Every step of putting things back is finished even when a handler that is
    back already raises in the middle (a signal arriving then): a step left
    undone kept the signals blocked for good, and every process started
    afterwards inherited the mask and could no longer be interrupted.
    """
    in_main = threading.current_thread() is threading.main_thread()
    if not (_HELD_SIGNALS and in_main):
        yield
        return
    arrived: list[int] = []

    def later(signum: int, _frame: object) -> None:
        arrived.append(signum)

    handlers: dict[int, object] = {}
    previous = None
    try:
        for signum in _HELD_SIGNALS:
            try:
                handlers[signum] = signal.signal(signum, later)
            except (OSError, ValueError):  # not settable here: leave it as it is
                continue
        if hasattr(signal, "pthread_sigmask"):
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        yield
    finally:
        # unblock first: signals pending in the kernel still reach `later`
        steps = [] if previous is None else [(signal.pthread_sigmask, signal.SIG_SETMASK, previous)]
        steps += [
            (signal.signal, signum, signal.SIG_DFL if handler is None else handler)
            for signum, handler in handlers.items()
        ]
        raised: BaseException | None = None
        for function, *arguments in steps:
            for _attempt in range(100):  # each step is idempotent: redo it until it returns
                try:
                    function(*arguments)
                    break
                except BaseException as error:  # a restored handler's Ctrl-C, say
                    raised = raised or error
        if raised is not None:
            raise raised
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; publish it as ``path`` on success.

    The temporary file exists (empty) when the block starts; the block writes
    it by name. On success it is flushed to disk (``fsync``), given ordinary
    permissions and renamed over ``path``. On an exception (or a
    ``GeneratorExit``/``KeyboardInterrupt``) the temporary file is removed and
    ``path`` is left as it was.

    Raises
    ------
    OSError
        The same kind (``PermissionError``, ``FileNotFoundError`` for a missing
        folder, ``OSError`` with ``errno.ENOSPC`` for a full disk, ...), its
        ``filename`` the destination ``path``.
    """
    path = Path(path)
    created: list[Path] = []
    try:
        # an interrupt cannot fall between creating the temporary file and owning it
        # (delivered when the signals are let through, the file is already in `created`)
        with _signals_held():
            created.append(_new_temporary(path))
        (temporary,) = created
        try:
            yield temporary
        except OSError as error:
            if error.filename in (None, str(temporary)):
                raise _named(error, path, "write") from None
            raise
        try:
            _publish(temporary, path)
        except OSError as error:
            raise _named(error, path, "write") from None
    finally:
        for temporary in created:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


@contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[tuple[Path, ...]]:
    """Temporary paths for files that belong together; all are published or none.

    Parameters
    ----------
    *paths
        Destinations, published in this order: put the main file (e.g. the
        micrograph whose truth the others hold) last, so that it never
        appears without its companions.

    Notes
    -----
    The renames run with Ctrl-C and ``SIGTERM`` held back, so an interrupt
    cannot split the group. If a rename fails, the files of the group
    published before it that did not exist before are removed again. Only a
    ``SIGKILL`` or a power loss in the microseconds between two renames can
    leave the first files without the last.
    """
    destinations = [Path(p) for p in paths]
    temporaries: list[Path] = []
    try:
        with _signals_held():  # as in atomic_path: every file created is in `temporaries`
            for destination in destinations:
                temporaries.append(_new_temporary(destination))
        try:
            yield tuple(temporaries)
        except OSError as error:
            names = [str(t) for t in temporaries]
            if error.filename is None:
                raise _named(error, destinations[0], "write") from None
            if str(error.filename) in names:
                raise _named(
                    error, destinations[names.index(str(error.filename))], "write"
                ) from None
            raise
        existed = [d.exists() for d in destinations]
        published: list[Path] = []
        with _signals_held():
            for temporary, destination in zip(temporaries, destinations):
                try:
                    _publish(temporary, destination)
                except OSError as error:
                    for done, was_there in zip(published, existed):
                        if not was_there:
                            with contextlib.suppress(OSError):
                                os.unlink(done)
                    raise _named(error, destination, "write") from None
                published.append(destination)
    finally:
        for temporary in temporaries:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path
