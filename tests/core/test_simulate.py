"""Tests of the synthetic micrograph simulator and ``cryopick simulate``."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.core import simulate as sim
from napari_cryopick.core.pick_table import PICK_COLUMNS
from napari_cryopick.core.progress import Progress, drive

SMALL = (192, 192)


def _clean(**kwargs) -> sim.SimulationConfig:
    """A noise-free, CTF-free, gradient-free configuration."""
    base = {
        "shape": SMALL,
        "snr": None,
        "defocus_um": None,
        "ice_gradient": 0.0,
        "n_particles": 12,
        "diameter_px": 24.0,
    }
    base.update(kwargs)
    return sim.SimulationConfig(**base)


def _disc_mean(image, x, y, radius):
    rr, cc = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return image[np.hypot(cc - x, rr - y) <= radius].mean()


def test_same_seed_same_micrograph_other_seed_differs():
    config = sim.SimulationConfig(shape=SMALL, n_particles=10, diameter_px=20, n_fibers=1)
    a = sim.simulate_micrograph(config, seed=7)
    b = sim.simulate_micrograph(config, seed=7)
    c = sim.simulate_micrograph(config, seed=8)
    np.testing.assert_array_equal(a.image, b.image)
    pd.testing.assert_frame_equal(a.picks, b.picks)
    assert not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.float32
    assert a.image.shape == SMALL
    assert list(a.picks.columns) == list(PICK_COLUMNS)


def test_default_config_is_valid_and_fast_enough_to_call():
    micrograph = sim.simulate_micrograph(sim.SimulationConfig(shape=(256, 256), n_particles=10))
    assert (micrograph.picks["kind"] == "particle").sum() == 10
    assert micrograph.carbon_mask.shape == (256, 256)
    assert not micrograph.carbon_mask.any()


@pytest.mark.parametrize("defocus", [None, 1.5])
def test_particles_are_dark_where_the_truth_says(defocus):
    micrograph = sim.simulate_micrograph(_clean(defocus_um=defocus), seed=1)
    particles = micrograph.picks[micrograph.picks["kind"] == "particle"]
    assert len(particles) == 12
    image = micrograph.image
    background = np.median(image)
    inside = [
        _disc_mean(image, x, y, d / 4) for x, y, d in particles[["x", "y", "diameter"]].values
    ]
    # every particle is darker at its centre than the background
    assert max(inside) < background - 0.1 * image.std()
    # shifting the truth by a diameter lands on background
    shifted = [
        _disc_mean(image, (x + 60) % SMALL[1], y, 6) for x, y in particles[["x", "y"]].values
    ]
    assert np.mean(inside) < np.mean(shifted) - 0.5 * image.std()


def test_particles_inside_image_and_separated():
    micrograph = sim.simulate_micrograph(_clean(n_particles=30, min_separation=1.0), seed=2)
    table = micrograph.picks
    radius = table["diameter"].to_numpy() / 2
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    assert np.all(x >= radius)
    assert np.all(x <= SMALL[1] - 1 - radius)
    assert np.all(y >= radius)
    assert np.all(y <= SMALL[0] - 1 - radius)
    distance = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    limit = radius[:, None] + radius[None]
    off_diagonal = ~np.eye(len(x), dtype=bool)
    assert np.all(distance[off_diagonal] >= limit[off_diagonal] - 1e-9)


@pytest.mark.parametrize("name", sim.PARTICLE_SHAPES)
def test_every_shape_fits_in_its_diameter(name):
    centres, sigma, masses = sim.particle_density_blobs(name)
    assert centres.ndim == 2
    assert centres.shape[1] == 3
    assert np.all(masses > 0)
    assert np.max(np.linalg.norm(centres, axis=1)) + 1.5 * sigma == pytest.approx(1.0)
    np.testing.assert_allclose(centres.mean(axis=0), 0.0, atol=1e-9)
    config = _clean(shapes=(name,), n_particles=1, diameter_px=40.0, shape=(96, 96))
    micrograph = sim.simulate_micrograph(config, seed=3)
    (x, y, diameter) = micrograph.picks[["x", "y", "diameter"]].values[0]
    density = -micrograph.image  # no CTF: the image is the negated projection
    rr, cc = np.mgrid[0:96, 0:96]
    outside = np.hypot(cc - x, rr - y) > diameter / 2 + 2
    assert density.max() > 0
    # (almost) all the projected mass lies within the particle's diameter
    assert density[outside].sum() < 0.02 * density.sum()


def test_unknown_shape_and_bad_values_are_rejected():
    with pytest.raises(ValueError, match="banana"):
        sim.SimulationConfig(shapes=("banana",))
    with pytest.raises(ValueError, match="snr"):
        sim.SimulationConfig(snr=-1)
    with pytest.raises(ValueError, match="n_particles"):
        sim.SimulationConfig(n_particles=-3)
    with pytest.raises(ValueError, match="diameter_px"):
        sim.SimulationConfig(shapes=("sphere", "rod"), diameter_px=(10.0,))


def test_snr_is_signal_power_over_noise_variance():
    config = {"shape": (256, 256), "n_particles": 20, "diameter_px": 30.0, "ice_gradient": 0.0}
    snr = 0.5
    noisy = sim.simulate_micrograph(sim.SimulationConfig(snr=snr, **config), seed=4)
    clean = sim.simulate_micrograph(sim.SimulationConfig(snr=None, **config), seed=4)
    pd.testing.assert_frame_equal(noisy.picks, clean.picks)
    noise = noisy.image - math.sqrt(snr) * clean.image
    assert noise.std() == pytest.approx(1.0, abs=0.02)
    # over the particles, the noise-free image has unit mean square
    rr, cc = np.mgrid[0:256, 0:256]
    support = np.zeros((256, 256), bool)
    for x, y, d in clean.picks[["x", "y", "diameter"]].values:
        support |= np.hypot(cc - x, rr - y) <= d / 4
    power = np.mean(clean.image[support] ** 2)
    assert 0.3 < power < 3.0


def test_ctf_starts_at_amplitude_contrast_and_oscillates():
    f = np.linspace(0, 0.5, 2000)
    ctf = sim.ctf_1d(f, defocus_um=2.0, pixel_size=1.0, amplitude_contrast=0.1)
    assert ctf[0] == pytest.approx(0.1)
    assert np.sum(np.diff(np.sign(ctf)) != 0) > 5
    # first zero near sqrt(1 / (wavelength * defocus)) for a small amplitude contrast
    first_zero = f[np.flatnonzero(np.diff(np.sign(ctf)) != 0)[0]]
    assert first_zero == pytest.approx(math.sqrt(1 / (0.019687 * 2e4)), rel=0.1)


def test_vesicles_radii_and_membrane_position():
    config = _clean(n_particles=0, n_vesicles=3, vesicle_radius_px=(30.0, 50.0), shape=(256, 256))
    micrograph = sim.simulate_micrograph(config, seed=5)
    vesicles = micrograph.picks[micrograph.picks["kind"] == "vesicle"]
    assert len(vesicles) == 3
    assert np.all((vesicles["diameter"] >= 60) & (vesicles["diameter"] <= 100))
    density = -micrograph.image  # no CTF: the image is the negated projection
    leaflet = max(1.5, 9.0 / config.pixel_size)
    for x, y, diameter in vesicles[["x", "y", "diameter"]].values:
        radius = diameter / 2
        offsets = np.arange(0.0, radius + 2.0, 0.5)
        profile = np.array([_disc_mean(density, x + o, y, 0.8) for o in offsets])
        outer_rim = profile[offsets >= radius - 2 * leaflet].max()
        # a projected shell is densest where the beam grazes the membrane
        assert outer_rim > 1.5 * profile[0] > 0
        separation = max(3.0, 35.0 / config.pixel_size)
        assert offsets[np.argmax(profile)] >= radius - 2 * leaflet - separation
        assert profile[-1] < 0.05 * profile.max()  # nothing outside the radius


def test_fibers_centre_lines_and_picks():
    width = 12.0
    config = _clean(n_particles=5, n_fibers=2, fiber_width_px=width, shape=(256, 256))
    micrograph = sim.simulate_micrograph(config, seed=6)
    assert len(micrograph.fibers) == 2
    fiber_picks = micrograph.picks[micrograph.picks["kind"] == "fiber"]
    assert sorted(fiber_picks["tube_id"].unique()) == [1, 2]
    assert np.all(micrograph.picks.loc[micrograph.picks["kind"] != "fiber", "tube_id"] == 0)
    density = -micrograph.image
    for tube_id, line in enumerate(micrograph.fibers, start=1):
        assert line.shape[1] == 2
        assert np.all((line >= 0) & (line <= 255))
        picks = fiber_picks[fiber_picks["tube_id"] == tube_id][["x", "y"]].to_numpy()
        assert len(picks) >= 4
        gaps = np.hypot(*np.diff(picks, axis=0).T)
        np.testing.assert_allclose(gaps, width / 2, atol=1.0)
        distance = np.min(np.hypot(*(picks[:, None, :] - line[None]).transpose(2, 0, 1)), axis=1)
        assert distance.max() < 1.0
        on_line = density[np.rint(line[:, 1]).astype(int), np.rint(line[:, 0]).astype(int)]
        assert np.median(on_line) > 0.5 * density.max() * 0.2
    # particles keep clear of the fibers
    particles = micrograph.picks[micrograph.picks["kind"] == "particle"][["x", "y", "diameter"]]
    lines = np.vstack(micrograph.fibers)
    for x, y, diameter in particles.values:
        assert np.min(np.hypot(lines[:, 0] - x, lines[:, 1] - y)) >= diameter / 2 + width / 2 - 1


def test_straight_fibers_when_curvature_is_zero():
    config = _clean(n_particles=0, n_fibers=1, fiber_curvature=0.0, shape=(128, 128))
    line = sim.simulate_micrograph(config, seed=9).fibers[0]
    direction = np.diff(line, axis=0)
    angles = np.arctan2(direction[:, 1], direction[:, 0])
    assert np.ptp(np.unwrap(angles)) < 1e-6


def test_carbon_and_contamination_give_negatives_and_mask():
    config = _clean(carbon=1.0, n_contaminations=2, n_particles=15, shape=(256, 256))
    micrograph = sim.simulate_micrograph(config, seed=10)
    mask = micrograph.carbon_mask
    assert mask.dtype == bool
    assert mask.any()
    assert not mask.all()
    negatives = micrograph.picks[micrograph.picks["kind"] == "negative"]
    assert len(negatives) >= 2 + 1  # two blobs and at least one carbon-edge point
    particles = micrograph.picks[micrograph.picks["kind"] == "particle"]
    rr, cc = np.mgrid[0:256, 0:256]
    for x, y, diameter in particles[["x", "y", "diameter"]].values:
        disc = np.hypot(cc - x, rr - y) <= diameter / 2
        assert not mask[disc].any()  # no particle on carbon
    # carbon is darker than the hole
    assert micrograph.image[mask].mean() < micrograph.image[~mask].mean()
    # without carbon or contamination there are no negatives
    plain = sim.simulate_micrograph(_clean(), seed=10)
    assert not (plain.picks["kind"] == "negative").any()


def test_simulate_dataset_writes_readable_files(tmp_path):
    import mrcfile

    config = sim.SimulationConfig(shape=(128, 128), n_particles=6, diameter_px=20.0, n_fibers=1)
    events = []
    paths = drive(sim.simulate_dataset(tmp_path, 2, config, seed=3), on_event=events.append)
    assert [e.step for e in events] == [1, 2]
    assert all(isinstance(e, Progress) and e.total == 2 for e in events)
    assert [p.name for p in paths] == ["sim_0000.mrc", "sim_0001.mrc"]
    for path in paths:
        with mrcfile.open(path) as mrc:
            assert mrc.data.shape == (128, 128)
            assert float(mrc.voxel_size.x) == pytest.approx(config.pixel_size)
        table = pd.read_csv(tmp_path / "picks" / f"{path.stem}.csv")
        assert list(table.columns) == ["x", "y", "diameter", "score", "kind", "tube_id"]
        assert (table["kind"] == "particle").sum() == 6
        fibers = json.loads((tmp_path / "fibers" / f"{path.stem}.json").read_text())
        assert fibers["fibers"][0]["tube_id"] == 1
        assert len(fibers["fibers"][0]["points_xy"]) > 10
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["completeness"] == "complete"
    assert info["particle_diameter_px"] == 20.0
    assert info["protein"].startswith("synthetic particles (")
    assert "fibers" in info["protein"]
    assert info["fiber_width_px"] == config.fiber_width_px
    assert info["pixel_size_A"] == config.pixel_size
    assert info["micrographs"] == 2
    assert not list(tmp_path.rglob("*.part"))
    # the same seed gives the same data set
    again = drive(sim.simulate_dataset(tmp_path / "again", 2, config, seed=3))
    with mrcfile.open(paths[1]) as a, mrcfile.open(again[1]) as b:
        np.testing.assert_array_equal(a.data, b.data)


def test_dataset_micrograph_reads_with_project_reader(tmp_path):
    from napari_cryopick.io.micrographs import read_micrograph

    config = sim.SimulationConfig(shape=(64, 80), n_particles=2, diameter_px=16.0)
    (path,) = drive(sim.simulate_dataset(tmp_path, 1, config))
    micrograph = read_micrograph(path)
    assert micrograph.data.shape == (64, 80)
    assert micrograph.pixel_size == pytest.approx(config.pixel_size)


def test_cancelled_dataset_leaves_only_complete_files(tmp_path):
    config = sim.SimulationConfig(shape=(64, 64), n_particles=2, diameter_px=16.0)
    job = sim.simulate_dataset(tmp_path, 5, config)
    next(job)
    job.close()
    assert [p.name for p in (tmp_path / "micrographs").iterdir()] == ["sim_0000.mrc"]
    assert not (tmp_path / "dataset.json").exists()
    assert not list(tmp_path.rglob("*.part"))


def test_cli_simulate_writes_files(tmp_path):
    from napari_cryopick.cli import main

    out = tmp_path / "out"
    code = main(
        [
            "simulate", str(out), "-n", "2", "--seed", "4", "--size", "96", "128",
            "--particles", "5", "--diameter", "18", "--shape", "rod", "ring",
            "--snr", "0.5", "--defocus", "2", "--vesicles", "1", "--fibers", "1",
            "--carbon", "--contamination", "1",
        ]
    )  # fmt: skip
    assert code == 0
    mrcs = sorted((out / "micrographs").glob("*.mrc"))
    assert len(mrcs) == 2
    table = pd.read_csv(out / "picks" / "sim_0000.csv")
    assert {"particle", "fiber", "negative"} <= set(table["kind"])
    info = json.loads((out / "dataset.json").read_text())
    assert info["config"]["shapes"] == ["rod", "ring"]
    assert info["config"]["shape"] == [96, 128]


def test_cli_simulate_replaces_only_an_earlier_simulation(tmp_path, capsys):
    # a trial: simulate into a folder holding a real data set's dataset.json and picks
    # replaced both without a word
    from napari_cryopick.cli import main

    real = tmp_path / "real"
    (real / "picks").mkdir(parents=True)
    (real / "dataset.json").write_text('{"protein": "ribosome", "particle_diameter_px": 56}')
    (real / "picks" / "sim_0000.csv").write_text("x,y\n1,2\n")
    small = ["-n", "1", "--size", "64", "64", "--particles", "1", "--diameter", "12"]
    assert main(["simulate", str(real), *small]) == 2
    error = capsys.readouterr().err
    assert "2 file(s) would be replaced that no earlier cryopick simulate wrote" in error
    assert "dataset.json" in error
    assert "--overwrite" in error
    assert "ribosome" in (real / "dataset.json").read_text()
    assert (real / "picks" / "sim_0000.csv").read_text() == "x,y\n1,2\n"
    assert not (real / "micrographs").exists()
    # an earlier simulation's folder is simulated again without a word
    sim = tmp_path / "sim"
    assert main(["simulate", str(sim), *small]) == 0
    assert main(["simulate", str(sim), *small, "--seed", "3"]) == 0
    assert json.loads((sim / "dataset.json").read_text())["seed"] == 3
    assert "of an earlier simulation" not in capsys.readouterr().err
    # fewer micrographs than before: the earlier ones left are said (a re-trial)
    small_two = ["-n", "2", *small[2:]]
    assert main(["simulate", str(sim), *small_two]) == 0
    assert main(["simulate", str(sim), *small]) == 0
    assert "1 micrograph(s) of an earlier simulation stay in" in capsys.readouterr().err
    assert main(["simulate", str(real), *small, "--overwrite"]) == 0
    assert "ribosome" not in (real / "dataset.json").read_text()


def test_cli_simulate_bad_input(tmp_path, capsys):
    from napari_cryopick.cli import main

    assert main(["simulate", str(tmp_path / "a"), "--particles", "-1"]) == 2
    assert "n_particles" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "b"), "-n", "0"]) == 2
    assert main(["simulate", str(tmp_path / "c"), "--shape", "banana"]) == 2
    assert "unknown particle shape 'banana'" in capsys.readouterr().err
    assert main(["simulate", "--shape", "sphere"]) == 2
    assert "OUT_DIR" in capsys.readouterr().err


def test_cli_simulate_takes_out_dir_after_the_shapes(tmp_path):
    """``--shape`` takes one or more names; a folder after them is OUT_DIR (usage order)."""
    from napari_cryopick.cli import main

    small = ["--size", "64", "64", "--particles", "2", "--diameter", "12"]
    for shapes in (["sphere"], ["rod", "ring"]):
        out = tmp_path / "_".join(shapes)
        assert main(["simulate", "-n", "1", *small, "--shape", *shapes, str(out)]) == 0
        info = json.loads((out / "dataset.json").read_text())
        assert info["config"]["shapes"] == shapes


def _radial_power(image, low, high):
    spectrum = np.abs(np.fft.rfft2(image - image.mean())) ** 2
    fy = np.fft.fftfreq(image.shape[0])[:, None]
    fx = np.fft.rfftfreq(image.shape[1])[None, :]
    f = np.hypot(fy, fx)
    return float(spectrum[(f >= low) & (f < high)].mean())


def test_coloured_noise_has_unit_variance_and_more_low_frequency_power():
    base = {"shape": (256, 256), "n_particles": 0, "snr": 1.0, "ice_gradient": 0.0}
    white = sim.simulate_micrograph(sim.SimulationConfig(**base), seed=1).image
    coloured = sim.simulate_micrograph(
        sim.SimulationConfig(**base, noise_exponent=1.5), seed=1
    ).image
    assert abs(float(coloured.std()) - 1.0) < 0.05
    white_ratio = _radial_power(white, 0.01, 0.05) / _radial_power(white, 0.3, 0.5)
    coloured_ratio = _radial_power(coloured, 0.01, 0.05) / _radial_power(coloured, 0.3, 0.5)
    assert 0.7 < white_ratio < 1.4
    assert coloured_ratio > 5 * white_ratio


def test_blur_smooths_the_final_image_and_bad_values_are_rejected():
    base = {"shape": (128, 128), "n_particles": 0, "snr": 1.0, "ice_gradient": 0.0}
    sharp = sim.simulate_micrograph(sim.SimulationConfig(**base), seed=2).image
    blurred = sim.simulate_micrograph(sim.SimulationConfig(**base, blur_px=2.0), seed=2).image
    assert float(blurred.std()) < 0.5 * float(sharp.std())
    with pytest.raises(ValueError, match="noise_exponent and blur_px"):
        sim.SimulationConfig(noise_exponent=-1.0)


def test_cli_simulate_says_when_fewer_objects_fit_than_asked(tmp_path, capsys):
    # a trial asked for 8 vesicles per 512 px micrograph, got 3-4, and was not told
    from napari_cryopick.cli import main

    out = tmp_path / "out"
    args = ["simulate", str(out), "-n", "2", "--size", "256", "256", "--particles", "0"]
    assert main([*args, "--vesicles", "8"]) == 0
    note = capsys.readouterr().err
    placed = sum(
        int((pd.read_csv(path)["kind"] == "vesicle").sum())
        for path in sorted((out / "picks").glob("*.csv"))
    )
    assert 0 < placed < 16
    assert f"placed {placed} of the 16 vesicles asked for (8 per micrograph)" in note
    assert main([*args, "--vesicles", "1"]) == 0  # room enough: nothing said
    assert "placed" not in capsys.readouterr().err


def test_a_fibers_only_data_set_does_not_describe_particles(tmp_path):
    # dataset.json of `cryopick simulate --fibers 3 --particles 0` said "synthetic
    # particles" with a particle diameter
    config = sim.SimulationConfig(shape=(128, 128), n_particles=0, n_fibers=2, fiber_width_px=9.0)
    drive(sim.simulate_dataset(tmp_path, 1, config, seed=1))
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["protein"] == "synthetic fibers (9 px wide)"
    assert info["particle_diameter_px"] is None
    assert info["fiber_width_px"] == 9.0
    assert info["picks_by_kind"]["particle"] == 0
