"""Wording shared by messages: lists of names that may be long."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["name_list"]


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
