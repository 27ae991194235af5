"""workflows.inputs: pick files matched to the micrographs given, and what is left out."""

from __future__ import annotations

import logging

import pandas as pd

from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.io.pickfiles import write_picks
from napari_cryopick.workflows.inputs import read_training_picks


def test_picks_of_micrographs_not_given_are_counted_and_named(tmp_path, caplog):
    """A STAR file of four micrographs and per-micrograph files of two more, training on two."""
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    picks = [make_picks([10.0 * (i + 1)] * (i + 1), [20.0] * (i + 1), micrograph=f"m{i}")
             for i in range(4)]  # fmt: skip
    star = write_picks(pd.concat(picks, ignore_index=True), tmp_path / "all.star")
    folder = tmp_path / "boxes"
    folder.mkdir()
    for name in ("other1", "other2"):
        write_picks(make_picks([30.0], [30.0], diameter=20.0), folder / f"{name}_autopick.star")
    write_picks(make_picks([5.0, 6.0], [5.0, 6.0]), folder / "m0_manualpick.star")
    paths = [(star, False), *((p, True) for p in sorted(folder.glob("*.star")))]
    table = read_training_picks(paths, {"m0", "m1"})
    assert table.groupby("micrograph").size().to_dict() == {"m0": 3, "m1": 2}
    line = next(r.getMessage() for r in caplog.records if "not used" in r.getMessage())
    # m2 (3 picks), m3 (4), other1_autopick (1), other2_autopick (1)
    assert "9 pick(s) of 4 micrograph(s)" in line
    assert "m2, m3" in line
    assert "other1_autopick" in line
    assert "other1_autopick.star" in line
    assert "2 file(s)" in line
