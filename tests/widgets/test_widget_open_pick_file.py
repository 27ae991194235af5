"""File > Open of a pick file while the Pick widget shows another micrograph's results."""

from __future__ import annotations

import pytest

from napari_cryopick._widgets._common import SHOWS_KEY
from napari_cryopick.io.pickfiles import read_picks, write_picks

DATASET = "empiar10028_ribosome"


def test_a_pick_file_of_a_micrograph_not_open_leaves_the_results_where_they_are(
    make_napari_viewer, real_data_dir, tmp_path, qtbot
):
    # a trial opened 062's STAR file with 061 on screen: the shared result layers were
    # renamed to 062 (heatmap zeroed) and the opened picks were hidden, unsaid; a later
    # trial's were drawn over 061's image, unsaid: they open hidden, and it is said
    viewer = make_napari_viewer()
    folder = real_data_dir / DATASET
    viewer.open(str(folder / "micrographs" / "061_10028.png"), plugin="napari-cryopick")
    _dock, pick = viewer.window.add_plugin_dock_widget("napari-cryopick", "Pick")

    def shared_layers():
        return [layer for layer in viewer.layers if layer.metadata.get(SHOWS_KEY)]

    # the result layers are made one per event-loop turn, then show the micrograph
    qtbot.waitUntil(
        lambda: (
            len(shared_layers()) >= 2
            and all(layer.metadata.get("micrograph") == "061_10028" for layer in shared_layers())
        ),
        timeout=10000,
    )
    shared = shared_layers()
    names_before = sorted(layer.name for layer in shared)
    assert all(name.startswith("061_10028") for name in names_before)
    other = write_picks(read_picks(folder / "picks" / "062_10028.csv"), tmp_path / "062_10028.star")
    with pytest.warns(
        UserWarning, match="062_10028 is not open: its layer is hidden, not drawn over 061_10028"
    ):
        [opened] = viewer.open(str(other), plugin="napari-cryopick")
    qtbot.wait(300)
    assert sorted(layer.name for layer in shared) == names_before
    assert all(layer.metadata.get("micrograph") == "061_10028" for layer in shared)
    assert not opened.visible
    assert len(opened.data) == len(read_picks(other))
    # Export of no picks names the opened file's layer and how to write it (a GUI trial
    # edited one and read "Nothing to export: pick first.")
    assert pick.export(tmp_path / "exported", "star") == []
    text = pick.status.text()
    assert text.startswith("Nothing to export: pick first.")
    assert "File > Open (062_10028 picks from 062_10028.star)" in text
    assert "File > Save Selected Layers writes a selected one as a pick file" in text
