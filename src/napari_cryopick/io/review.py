"""The review record of a folder of pick files (``cryopick_review.json``).

The Pick widget's "Reviewed" box marks a micrograph as reviewed; the names are
kept in :data:`REVIEW_FILE` beside the pick files, so reviewing a folder of
thousands of micrographs can stop and go on later (docs/file-conventions.md).
"""

from __future__ import annotations

from pathlib import Path

#: File in a folder of pick files that records which micrographs the user reviewed.
REVIEW_FILE = "cryopick_review.json"


def read_reviewed(folder: str | Path) -> set[str]:
    """Names of the micrographs marked reviewed in ``folder``'s :data:`REVIEW_FILE`.

    An empty set when there is none. Raises ``ValueError`` naming the file when
    it is not a review file (broken JSON, wrong layout).
    """
    import json

    path = Path(folder) / REVIEW_FILE
    if not path.is_file():
        return set()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        names = record["reviewed"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("'reviewed' is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a cryopick review file ({exc})") from None
    return set(names)


def write_reviewed(folder: str | Path, name: str, reviewed: bool) -> Path:
    """Mark (or unmark) micrograph ``name`` as reviewed in ``folder``'s :data:`REVIEW_FILE`.

    Other micrographs' flags in the file are kept; the file is replaced
    atomically (``io.atomic``), so a crash never leaves half a file.
    """
    import json

    from napari_cryopick.io.atomic import atomic_write_text

    try:
        names = read_reviewed(folder)
    except ValueError:
        names = set()  # a broken file is replaced by a good one
    if reviewed:
        names.add(name)
    else:
        names.discard(name)
    record = {"format": "cryopick review", "version": 1, "reviewed": sorted(names)}
    return atomic_write_text(Path(folder) / REVIEW_FILE, json.dumps(record, indent=1) + "\n")
