"""The particle diameter estimated from clicks (issue 10)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core.diameter import DiameterEstimate, check_diameter, estimate_diameter
from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph

DIAMETER = 32.0
AMPLITUDE = 3.0


@pytest.fixture(scope="module")
def spheres() -> tuple[list[np.ndarray], list[pd.DataFrame]]:
    config = SimulationConfig(
        shape=(384, 384),
        shapes=("sphere",),
        diameter_px=DIAMETER,
        n_particles=25,
        snr=0.2 / (DIAMETER / 20.0) ** 2,
        defocus_um=2.0,
    )
    sims = [simulate_micrograph(config, seed=seed) for seed in (1, 2)]
    # sparse clicks: every other particle
    clicks = [s.picks[s.picks["kind"] == "particle"].iloc[::2][["x", "y"]] for s in sims]
    return [s.image for s in sims], clicks


def test_diameter_of_simulated_spheres_within_a_quarter(spheres) -> None:
    images, clicks = spheres
    estimate = estimate_diameter(images, clicks)
    assert estimate.source == "image"
    assert estimate.n_picks == sum(len(c) for c in clicks)
    assert abs(estimate.diameter_px / DIAMETER - 1.0) < 0.25


def test_pick_files_own_diameters_win(spheres) -> None:
    images, clicks = spheres
    sized = [c.assign(diameter=50.0) for c in clicks]
    estimate = estimate_diameter(images, sized)
    assert estimate == DiameterEstimate(50.0, "picks", sum(len(c) for c in clicks))
    # picks of a file without sizes beside a BOX file's: counted apart (a CLI trial read
    # "the 80 px that the pick files give their 76 picks", 40 of them sized)
    mixed = [sized[0], clicks[1].iloc[: len(sized[0]) - 2]]
    estimate = estimate_diameter(images, mixed)
    assert estimate == DiameterEstimate(50.0, "picks", len(sized[0]))


def test_no_clicks_is_an_error(spheres) -> None:
    images, _ = spheres
    with pytest.raises(ValueError, match="no clicks"):
        estimate_diameter(images, [pd.DataFrame({"x": [], "y": []})] * len(images))


def test_check_diameter_warns_beyond_25_percent() -> None:
    estimate = DiameterEstimate(100.0, "image", 40)
    assert check_diameter(110.0, estimate) is None
    assert check_diameter(85.0, estimate) is None
    assert "differs by more than 25%" in check_diameter(140.0, estimate)
    assert check_diameter(70.0, estimate) is not None
    image = check_diameter(70.0, estimate)
    assert "micrographs show around the 40 clicks" in image
    # the image estimate can be off (apoferritin 62 px read as 92): not a firm instruction
    assert "the given diameter is used" in image
    assert "can be off: measure a particle" in image
    # a BOX file's widths are box sizes: the warning says which size it compared with
    boxes = check_diameter(40.0, DiameterEstimate(64.0, "picks", 240))
    assert "64 px that the pick files give their 240 picks" in boxes
    assert "the given diameter is used" in boxes


def test_training_sets_estimate_and_warn(spheres, tmp_path, caplog) -> None:
    from PIL import Image

    from napari_cryopick.workflows.inputs import training_sets_from_files

    images, clicks = spheres
    (tmp_path / "mics").mkdir()
    (tmp_path / "picks").mkdir()
    for index, (image, table) in enumerate(zip(images, clicks, strict=True)):
        Image.fromarray(image.astype(np.float32), mode="F").save(
            tmp_path / "mics" / f"m{index}.tif"
        )
        table.to_csv(tmp_path / "picks" / f"m{index}.csv", index=False)
    mics, picks = [str(tmp_path / "mics")], [str(tmp_path / "picks")]
    with caplog.at_level(logging.WARNING):
        sets, _ = training_sets_from_files(mics, picks)
    estimated = sets[0].diameter_px[0]
    assert abs(estimated / DIAMETER - 1.0) < 0.25
    assert "no particle diameter given" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        sets, _ = training_sets_from_files(mics, picks, diameter_px=2.5 * DIAMETER)
    assert sets[0].diameter_px == [2.5 * DIAMETER] * 2
    assert "differs by more than 25%" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        training_sets_from_files(mics, picks, diameter_px=DIAMETER)
    assert "differs" not in caplog.text
    # pick files that carry the diameter: taken from them, said without a warning
    sized = tmp_path / "sized"
    sized.mkdir()
    for index, table in enumerate(clicks):
        table.assign(diameter=DIAMETER).to_csv(sized / f"m{index}.csv", index=False)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        sets, _ = training_sets_from_files(mics, [str(sized)])
    assert sets[0].diameter_px == [DIAMETER] * 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"particle diameter {DIAMETER:.0f} px, the median of the" in caplog.text
    # a starting model trained on this data set: its diameter, not the estimate (a trial
    # fine-tuned a 56.4 px model on its own folder and trained at an estimated 52 px)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        sets, _ = training_sets_from_files(
            mics, picks, known_diameters={"spheres": 1.1 * DIAMETER}, dataset="spheres"
        )
    assert sets[0].diameter_px == [1.1 * DIAMETER] * 2
    assert "as the starting model (--init) was trained on data set 'spheres'" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # one the micrographs contradict: warned
        sets, _ = training_sets_from_files(
            mics, picks, known_diameters={"spheres": 2.5 * DIAMETER}, dataset="spheres"
        )
    assert sets[0].diameter_px == [2.5 * DIAMETER] * 2
    assert "differs by more than 25%" in caplog.text
    with caplog.at_level(logging.WARNING):  # another data set's: the estimate
        sets, _ = training_sets_from_files(
            mics, picks, known_diameters={"other": 3 * DIAMETER}, dataset="spheres"
        )
    assert abs(sets[0].diameter_px[0] / DIAMETER - 1.0) < 0.25
    # the given diameter and the pick files' still win
    sets, _ = training_sets_from_files(
        mics,
        picks,
        diameter_px=DIAMETER,
        known_diameters={"spheres": 2 * DIAMETER},
        dataset="spheres",
    )
    assert sets[0].diameter_px == [DIAMETER] * 2
    sets, _ = training_sets_from_files(
        mics, [str(sized)], known_diameters={"spheres": 2 * DIAMETER}, dataset="spheres"
    )
    assert sets[0].diameter_px == [DIAMETER] * 2


def test_vesicle_training_sets_rescale_by_the_geometric_mean_and_mixed_sizes_warn(
    spheres, tmp_path, caplog
) -> None:
    # a trial trained vesicles of 148-319 px: the median put the largest far outside the
    # detector's range; and a vesicle + fiber set (24 px vs 268 px) trained at one scale
    # without a word
    from PIL import Image

    from napari_cryopick.workflows.inputs import training_sets_from_files

    images, clicks = spheres
    (tmp_path / "mics").mkdir()
    (tmp_path / "ves").mkdir()
    (tmp_path / "mixed").mkdir()
    for index, (image, table) in enumerate(zip(images, clicks, strict=True)):
        Image.fromarray(image.astype(np.float32), mode="F").save(
            tmp_path / "mics" / f"m{index}.tif"
        )
        sizes = np.linspace(100.0, 400.0, len(table))  # median 250, geometric mean 200
        table.assign(diameter=sizes, kind="vesicle").to_csv(
            tmp_path / "ves" / f"m{index}.csv", index=False
        )
        kinds = np.where(np.arange(len(table)) % 2, "vesicle", "particle")
        table.assign(diameter=np.where(kinds == "vesicle", 268.0, 24.0), kind=kinds).to_csv(
            tmp_path / "mixed" / f"m{index}.csv", index=False
        )
    mics = [str(tmp_path / "mics")]
    with caplog.at_level(logging.INFO):
        sets, _ = training_sets_from_files(mics, [str(tmp_path / "ves")])
    assert sets[0].diameter_px == [pytest.approx(200.0)] * 2
    assert "the geometric mean of the smallest and largest" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # a file of vesicles without a kind column (the real vesicle labels): --kind vesicle
    (tmp_path / "plain").mkdir()
    for path in (tmp_path / "ves").iterdir():
        pd.read_csv(path).drop(columns="kind").to_csv(tmp_path / "plain" / path.name, index=False)
    sets, table = training_sets_from_files(mics, [str(tmp_path / "plain")], kind="vesicle")
    assert set(table["kind"]) == {"vesicle"}
    assert sets[0].diameter_px == [pytest.approx(200.0)] * 2
    # vesicles without their sizes: said (a trial's x,y CSV trained every vesicle at one
    # size, said as particles' "estimated from the micrographs")
    (tmp_path / "sizeless").mkdir()
    for path in (tmp_path / "ves").iterdir():
        pd.read_csv(path).drop(columns="diameter").to_csv(
            tmp_path / "sizeless" / path.name, index=False
        )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        training_sets_from_files(mics, [str(tmp_path / "sizeless")], diameter_px=30.0)
    assert "the vesicle labels carry no diameters: every vesicle trains at one size" in (
        caplog.text
    )
    caplog.clear()  # with their diameters and a diameter given: nothing of the kind (a review)
    with caplog.at_level(logging.WARNING):
        training_sets_from_files(mics, [str(tmp_path / "ves")], diameter_px=200.0)
    assert "carry no diameters" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        training_sets_from_files(mics, [str(tmp_path / "mixed")], diameter_px=30.0)
    assert "train a model per kind" in caplog.text
    assert "particle (median 24 px) and the vesicle (median 268 px)" in caplog.text


@pytest.mark.parametrize("shape", ["shell", "ring"])
def test_diameter_of_hollow_particles_within_a_quarter(shape) -> None:
    # a hollow particle (apoferritin, a capsid) is darkest on its rim and may be light
    # at its centre: the centre's sign called the light inside "the particle" and the
    # estimate came out at a third of the diameter (shells 0.31, rings 0.61)
    config = SimulationConfig(
        shape=(512, 512), shapes=(shape,), diameter_px=48.0, n_particles=30, snr=0.05
    )
    sims = [simulate_micrograph(config, seed=seed) for seed in (3, 4, 5)]
    clicks = [s.picks[s.picks["kind"] == "particle"].iloc[::2][["x", "y"]] for s in sims]
    estimate = estimate_diameter([s.image for s in sims], clicks)
    assert abs(estimate.diameter_px / 48.0 - 1.0) < 0.25, estimate


def test_a_bright_ice_gradient_does_not_move_the_estimate(spheres) -> None:
    # clicks in a brighter (thinner-ice) part of the micrographs: the background the
    # profile is measured against lay below the particles' surroundings, and the
    # fringe was taken for the particle
    images, clicks = spheres
    rows, cols = images[0].shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    tilted, near = [], []
    for image, table in zip(images, clicks, strict=True):
        x0, y0 = float(table["x"].mean()), float(table["y"].mean())
        bump = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * (cols / 5) ** 2))
        tilted.append(image + AMPLITUDE * float(image.std()) * bump)
        near.append(table[np.hypot(table["x"] - x0, table["y"] - y0) < cols / 4])
    estimate = estimate_diameter(tilted, near)
    assert abs(estimate.diameter_px / DIAMETER - 1.0) < 0.25, estimate


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_clicks_map_onto_the_block_averaged_pixel_that_holds_them(factor):
    """Binned pixel i averages original pixels i*f .. i*f+f-1: each of them maps to i
    (``round(x / f)`` sent the upper half of each block to the next binned pixel)."""
    from napari_cryopick.core.diameter import _binned_index

    for i in range(1, 20):
        for offset in range(factor):
            assert _binned_index(i * factor + offset, factor, 100) == i
        # a click between two pixels' centres (the block's own centre) stays in the block
        assert _binned_index(i * factor + (factor - 1) / 2, factor, 100) == i
    assert _binned_index(-5.0, factor, 100) == 0
    assert _binned_index(1e6, factor, 100) == 99


def test_fibers_beside_particles_of_another_size_are_said_written_at_the_particles():
    # a CLI trial's 24 px fibers beside 50 px particles: one model wrote the fibers 50 px
    # wide (CBOX boxes 99 px) without a word, under the 3x size warning
    from napari_cryopick.workflows.inputs import kind_size_warning

    def labels(fiber_width):
        return pd.DataFrame(
            {
                "kind": ["particle"] * 3 + ["fiber"] * 4,
                "diameter": [50.0, 49.0, 51.0] + [fiber_width] * 4,
            }
        )

    said = kind_size_warning(labels(24.0))
    assert said == (
        "the fibers (median width 24 px) are traced and written at the one diameter a model "
        "of both picks at (the particles', 50 px, unless a diameter is given), not their "
        "width: train a model of the fibers alone for their own width"
    )
    assert kind_size_warning(labels(45.0)) is None  # within a quarter: nothing to say
    assert "train a model per kind" in kind_size_warning(labels(10.0))  # over 3x: as before
