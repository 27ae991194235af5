"""Atomic file writes: a cancelled or crashed job never leaves a broken file.

Every writer of the project (pick files, checkpoints, annotation sidecars,
helical files) writes to a temporary file in the destination folder and
renames it over the destination only when the write succeeded. The file gets
the permissions an ordinary ``open()`` would give (``0o666`` minus the umask),
not the private ``0o600`` of :func:`tempfile.mkstemp`, so RELION or cryoSPARC
jobs run by other users of the group can read it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; publish it as ``path`` on success.

    On an exception (or a ``GeneratorExit``/``KeyboardInterrupt``) the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else "."
    )
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path
