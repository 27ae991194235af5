"""Wording shared by messages: lists of names that may be long."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["and_list", "counted", "message_list", "name_list"]


def name_list(names: Iterable[object], limit: int = 6, *, quoted: bool = False) -> str:
    """The first ``limit`` of ``names`` (sorted), and how many there are when not all are shown.

    ``quoted``: each name as Python writes it (``'mic_1'``), so that names with
    spaces or an empty name stay visible.

    >>> name_list(["b", "a", "c"], limit=2)
    'a, b, ... (3 in all)'
    """
    shown = sorted(repr(str(n)) if quoted else str(n) for n in names)
    text = ", ".join(shown[:limit])
    return text + (f", ... ({len(shown)} in all)" if len(shown) > limit else "")


def message_list(messages: Iterable[object], limit: int) -> str:
    """The first ``limit`` of ``messages`` (each naming its file), in their order, joined by
    "; ", and how many more there are when not all are shown.

    >>> message_list(["a: bad", "b: bad", "c: bad"], limit=2)
    'a: bad; b: bad; and 1 more'
    """
    shown = [str(m) for m in messages]
    more = f"; and {len(shown) - limit} more" if len(shown) > limit else ""
    return "; ".join(shown[:limit]) + more


def counted(n: int, plural: str) -> str:
    """``"3 picks"``, ``"1 pick"``: a count of objects named in the plural (one of them in
    the singular: a trial read "1 picks")."""
    return f"{n} {plural if n != 1 else plural[:-1]}"


def and_list(items: Iterable[object]) -> str:
    """``items`` in their order, the last joined by "and".

    >>> and_list(["3 picks", "2 circles", "1 path"])
    '3 picks, 2 circles and 1 path'
    """
    words = [str(item) for item in items]
    return (
        ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + (words[-1] if words else "")
    )
