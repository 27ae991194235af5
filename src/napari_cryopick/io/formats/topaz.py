"""Topaz particle coordinate text files.

Tab-separated with a header line ``image_name  x_coord  y_coord  score``
(``score`` optional), one pick per line, **centre** coordinates in pixels of
the micrograph Topaz saw (often a downsampled one: use the ``binning`` option
of :mod:`~napari_cryopick.io.pickfiles`). ``image_name`` is the micrograph
name without extension. One file may hold many micrographs.

Topaz writes integer coordinates and casts coordinates to integers when it
reads training targets, so integers are written by default. Topaz scores are
logits (log-likelihood ratios, unbounded; ``topaz extract -t 0`` keeps p >=
0.5); they are converted to the project's [0, 1] score with the logistic
function on reading and back with the logit on writing. A pick without a score
(added by hand) among scored ones is written with the highest score a file holds
(the logit of 1 - 1e-7, 16.118096): Topaz files have no "no score", and RELION's
reader of Topaz files takes every score as a number (``<NA>``, written until
2026-12-03, is none); it reads back as a score of 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    check_readable,
    file_error,
    format_number,
    names_column,
    numeric_column,
    read_delimited,
    read_text,
)

NAME = "topaz"
SUFFIXES: tuple[str, ...] = (".txt", ".tab")  # Topaz reads both (topaz/utils/files.py)
#: ``topaz preprocess -s S`` downsamples by Fourier cropping, which keeps pixel 0 at
#: pixel 0: original = S x downsampled, as ``topaz extract -x`` and ``topaz convert
#: --up-scale`` scale (no half-block shift; ``core.pick_table.binned_to_original``).
BLOCK_BINNING = False
HEADER: tuple[str, ...] = ("image_name", "x_coord", "y_coord", "score")
_EPSILON = 1e-7
#: Decimals of the logits written, and of the probabilities read back: a probability
#: of at most this many decimals survives the round trip exactly.
LOGIT_DECIMALS = 6


def logit(probability: np.ndarray) -> np.ndarray:
    """Probability in [0, 1] -> Topaz score (clipped to stay finite)."""
    p = np.clip(np.asarray(probability, dtype=np.float64), _EPSILON, 1 - _EPSILON)
    return np.log(p) - np.log1p(-p)


def sigmoid(score: np.ndarray) -> np.ndarray:
    """Topaz score -> probability in [0, 1]."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(score, dtype=np.float64)))


def _probabilities(score: np.ndarray) -> np.ndarray:
    """Topaz scores as probabilities, rounded to :data:`LOGIT_DECIMALS` where that keeps
    their order (|logit| < 13: beyond, rounding would tie the most confident picks at 1)."""
    probability = sigmoid(score)
    middle = np.abs(score) < 13
    probability[middle] = np.round(probability[middle], LOGIT_DECIMALS)
    return probability


def looks_like_topaz(first_line: str) -> bool:
    """Whether a header line is a Topaz coordinate header."""
    fields = first_line.strip().split()
    return fields[:3] == list(HEADER[:3])


def read(path: str | Path) -> pd.DataFrame:
    """Read a Topaz coordinate file.

    Returns
    -------
    pandas.DataFrame
        Project pick columns; ``diameter`` is NaN (Topaz does not store it).
    """
    path = Path(path)
    check_readable(path)
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first_line = next((line for line in handle if line.strip()), "")
    except UnicodeDecodeError:
        read_text(path)  # names the byte
        raise
    if not looks_like_topaz(first_line):
        raise file_error(
            path,
            f"not a Topaz coordinate file: the header should start with "
            f"'image_name x_coord y_coord', found {first_line.strip()[:80]!r}",
        )
    frame = read_delimited(path, separator="\t" if "\t" in first_line else None)
    score = numeric_column(frame, "score", path, required=False)
    return pd.DataFrame(
        {
            "micrograph": names_column(frame, "image_name", path),
            "x": numeric_column(frame, "x_coord", path),
            "y": numeric_column(frame, "y_coord", path),
            "diameter": np.nan,
            # to the logits' precision: 0.3 written and read back is 0.3, not 0.29999955
            # (below a 0.3 threshold: a trial lost a pick there)
            "score": _probabilities(score),
            "kind": "particle",
            "tube_id": 0,
        }
    )


def write(table: pd.DataFrame, path: str | Path, *, integer: bool = True) -> None:
    """Write a Topaz coordinate file.

    Parameters
    ----------
    table
        Normalized pick table in the file's pixel grid.
    path
        Destination.
    integer
        Round coordinates to whole pixels (default, what Topaz writes and
        uses); ``False`` keeps two decimals.
    """
    decimals = 0 if integer else 2
    if any("\t" in str(name) for name in table["micrograph"]):
        # (Topaz's columns are tab-separated: an I/O trial's "tab\tx.txt" was written and
        # could not be read back, "line 2 has 5 fields")
        raise file_error(path, "micrograph names with tabs cannot be written to a Topaz file")
    score = table["score"].to_numpy(np.float64)
    # every file has the score column, an empty micrograph's and one of hand picks only
    # too: Topaz files of one run are concatenated under the first file's header, and a
    # 3-column header over 4-field rows shifts every field by one in pandas without an
    # error (a trial)
    topaz_score = logit(score)
    lines = ["\t".join(HEADER)]
    for i, (name, x, y) in enumerate(zip(table["micrograph"], table["x"], table["y"])):
        # (no score: added by hand, a certain particle)
        value = topaz_score[i] if np.isfinite(score[i]) else float(logit(np.float64(1.0)))
        fields = [str(name), format_number(x, decimals), format_number(y, decimals)]
        fields.append(format_number(value, LOGIT_DECIMALS))
        lines.append("\t".join(fields))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
