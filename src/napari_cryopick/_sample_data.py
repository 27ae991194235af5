"""napari sample data: small synthetic micrographs with their truth as layers.

Each function returns a list of ``LayerDataTuple``: the micrograph image, then
the truth (points layers per kind, vesicles as circles, fiber centre lines as shape
paths). The
micrographs are 512 x 512 and deterministic (fixed seeds), so they open in a
fraction of a second.
"""

from __future__ import annotations

from typing import Any

from napari_cryopick.core.simulate import SimulationConfig, SyntheticMicrograph, simulate_micrograph

LayerDataTuple = tuple[Any, dict[str, Any], str]

_SAMPLE_SHAPE = (512, 512)


def _layers(simulated: SyntheticMicrograph, name: str) -> list[LayerDataTuple]:
    from napari_cryopick.io.micrographs import Micrograph
    from napari_cryopick.layers.points import micrograph_layer, picks_layer
    from napari_cryopick.layers.results import fibers_layer, vesicles_layer

    micrograph = Micrograph(
        data=simulated.image,
        pixel_size=simulated.pixel_size,
        name=name,
        notes=(f"synthetic (napari-cryopick simulate, seed {simulated.seed})",),
    )
    layers: list[LayerDataTuple] = [micrograph_layer(micrograph, name=name)]
    picks = simulated.picks
    for kind in ("particle", "vesicle", "fiber", "negative"):
        table = picks[picks["kind"] == kind]
        if len(table) and kind == "vesicle":  # circles, as File > Open shows vesicles
            layers.append(
                vesicles_layer(table, name=f"{name} vesicle truth", micrograph=name, role="truth")
            )
        elif len(table):
            layers.append(picks_layer(table, name=f"{name} {kind} truth", kind=kind))
    if simulated.fibers:
        layers.append(
            fibers_layer(simulated.fibers, name=f"{name} fiber centre lines", micrograph=name)
        )
    return layers


def sample_particles() -> list[LayerDataTuple]:
    """A 512 x 512 micrograph with particles of several shapes, a carbon edge and ice."""
    config = SimulationConfig(
        shape=_SAMPLE_SHAPE,
        shapes=("ellipsoid", "tetrahedron", "dumbbell"),
        diameter_px=40.0,
        n_particles=40,
        snr=0.3,
        carbon=1.0,
        n_contaminations=1,
    )
    return _layers(
        simulate_micrograph(config, seed=1, name="synthetic-particles"), "synthetic-particles"
    )


def sample_vesicles() -> list[LayerDataTuple]:
    """A 512 x 512 micrograph with vesicles (and a few particles)."""
    config = SimulationConfig(
        shape=_SAMPLE_SHAPE,
        pixel_size=5.0,
        diameter_px=32.0,
        n_particles=10,
        n_vesicles=6,
        vesicle_radius_px=(30.0, 80.0),
        snr=0.5,
    )
    return _layers(
        simulate_micrograph(config, seed=2, name="synthetic-vesicles"), "synthetic-vesicles"
    )


def sample_fibers() -> list[LayerDataTuple]:
    """A 512 x 512 micrograph with crossing fibers (and a few particles)."""
    config = SimulationConfig(
        shape=_SAMPLE_SHAPE,
        diameter_px=32.0,
        n_particles=10,
        n_fibers=3,
        fiber_width_px=20.0,
        fiber_curvature=0.8,
        snr=0.5,
    )
    return _layers(simulate_micrograph(config, seed=3, name="synthetic-fibers"), "synthetic-fibers")
