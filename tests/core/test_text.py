"""core.text: one wording for long lists of names in messages."""

from __future__ import annotations

from napari_cryopick.core.text import name_list


def test_name_list_sorts_cuts_and_counts() -> None:
    assert name_list(["m2", "m10", "m1"]) == "m1, m10, m2"
    assert name_list([f"m{i}" for i in range(9)], 3) == "m0, m1, m2, ... (9 in all)"
    assert name_list({"a b", ""}, quoted=True) == "'', 'a b'"
    assert name_list([]) == ""
