"""``cryopick demo``: pick a simulated micrograph with the bundled general model.

No data and no training needed: a micrograph is simulated (seeded, with its
truth), picked with the general model that ships inside the package, and the
picks are written as a RELION STAR file next to a PNG of the micrograph with
the picks drawn as circles. The summary compares the picks with the simulated
truth. With a display (``DISPLAY`` or ``WAYLAND_DISPLAY`` set, napari
importable) and without ``--no-viewer``, napari opens with the micrograph, the
picks and the truth as layers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from napari_cryopick.cli import EXIT_OK, CLIError

#: Particle diameter (pixels) of the demo micrograph.
DEMO_DIAMETER_PX = 48.0
#: Side (pixels) of the demo micrograph.
DEMO_SIDE_PX = 768


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="pick a simulated micrograph with the bundled general model (STAR + PNG)",
        description=(
            "Simulate a micrograph, pick it with the bundled general model and write "
            "DIR/<name>.star, DIR/<name>_picks.png and DIR/<name>.mrc. Opens napari "
            "with the layers when a display is available."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("cryopick-demo"),
        metavar="DIR",
        help="output folder (default ./cryopick-demo)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument(
        "--threshold",
        metavar="T",
        type=float,
        default=None,
        help="score threshold in [0, 1] (default: as cryopick pick, 0.15 for the bundled model)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint to pick with (default: the bundled general model)",
    )
    parser.add_argument("--no-viewer", action="store_true", help="never open napari")
    parser.set_defaults(func=run)


def simulate_demo_micrograph(seed: int = 0):
    """The demo micrograph: two particle shapes, a carbon edge and ice contamination.

    Returns
    -------
    napari_cryopick.core.simulate.SyntheticMicrograph
    """
    from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph

    config = SimulationConfig(
        shape=(DEMO_SIDE_PX, DEMO_SIDE_PX),
        pixel_size=1.5,
        shapes=("ellipsoid", "dumbbell"),
        diameter_px=DEMO_DIAMETER_PX,
        n_particles=70,
        snr=0.1,
        defocus_um=1.5,
        carbon=1.0,
        n_contaminations=1,
        contamination_radius_px=(30.0, 50.0),
    )
    return simulate_micrograph(config, seed=seed, name=f"demo_seed{seed}")


def display_available() -> bool:
    """Whether a GUI can open here: a display is set and napari is importable."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import importlib.util

    return importlib.util.find_spec("napari") is not None


def _open_viewer(simulated: Any, result: Any, selected: Any) -> None:
    import napari

    from napari_cryopick.io.micrographs import Micrograph
    from napari_cryopick.layers.points import micrograph_layer, picks_layer
    from napari_cryopick.layers.results import heatmap_layer

    name = str(simulated.picks["micrograph"].iloc[0]) if len(simulated.picks) else "demo"
    micrograph = Micrograph(data=simulated.image, pixel_size=simulated.pixel_size, name=name)
    truth = simulated.picks[simulated.picks["kind"] == "particle"]
    viewer = napari.Viewer(title="napari-cryopick demo")
    layers = [
        micrograph_layer(micrograph, name=name),
        heatmap_layer(
            result.heatmap,
            result.heatmap_scale,
            name=f"{name} demo heatmap",
            translate=result.heatmap_translate,
        ),
        picks_layer(truth, name=f"{name} truth"),
        # not the Pick widget's result names ("<name> picks"): picking in this
        # viewer would make "<name> picks [1]"
        picks_layer(selected, name=f"{name} demo picks"),
    ]
    for data, kwargs, layer_type in layers:
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    viewer.layers[f"{name} demo heatmap"].visible = False
    viewer.layers[f"{name} truth"].visible = False
    napari.run()


def _command() -> str:
    """How to call ``cryopick`` from here: its name when the shell finds this one, else
    its path (``make demo`` runs ``.venv/bin/cryopick``, which is not on the PATH of a
    shell without the environment: a docs trial's copy of the hint was not found)."""
    import shutil

    here = Path(sys.executable).with_name("cryopick")
    found = shutil.which("cryopick")
    if here.is_file() and (found is None or Path(found).resolve() != here.resolve()):
        return os.path.relpath(here) if here.is_relative_to(Path.cwd()) else str(here)
    return "cryopick"


def _hint(args: argparse.Namespace, micrograph: Path) -> str:
    """The ``cryopick pick`` command that picks the demo's micrograph as the demo did, into
    ``picks/`` beside it, quoted for a shell (a re-trial's --out with a space broke the copied line, and its
    --model and --threshold were left out)."""
    import shlex

    words = [_command(), "pick", str(micrograph), "--diameter", f"{DEMO_DIAMETER_PX:g}"]
    # beside the demo's files (a CLI trial's copy wrote ./picks/ into the checkout)
    words += ["--out", str(micrograph.parent / "picks")]
    if args.model is not None:
        words += ["--model", str(args.model)]
    if args.threshold is not None:
        words += ["--threshold", f"{args.threshold:g}"]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    """Run ``cryopick demo``; returns the exit code."""
    from napari_cryopick.core.evaluate import match_picks
    from napari_cryopick.core.model import bundled_model_path
    from napari_cryopick.core.progress import drive
    from napari_cryopick.io.micrographs import Micrograph, write_mrc
    from napari_cryopick.io.pickfiles import write_picks
    from napari_cryopick.workflows.pick import PickRequest, pick
    from napari_cryopick.workflows.pictures import save_picks_figure

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}")
    model_path = args.model if args.model is not None else bundled_model_path()
    from napari_cryopick.cli._errors import check_output_folder

    check_output_folder(Path(args.out), "--out")  # a read-only folder too, even as root

    start = time.perf_counter()
    simulated = simulate_demo_micrograph(args.seed)
    name = f"demo_seed{args.seed}"
    # the pick workflow `cryopick pick` and the Pick widget run
    events: list = []
    request = PickRequest(
        micrographs=[Micrograph(simulated.image, simulated.pixel_size, name)],
        model=model_path,
        diameter_px=DEMO_DIAMETER_PX,
        threshold=args.threshold,
        device="cpu",
    )
    outcome = drive(pick(request), events.append)
    (event,) = events
    if event.item is None:
        raise CLIError(event.error)
    result, selected, threshold = event.item.result, event.item.picks, event.item.threshold
    elapsed = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    star_path = write_picks(selected, out / f"{name}.star", "star")
    mrc_path = write_mrc(out / f"{name}.mrc", simulated.image, simulated.pixel_size)
    truth = simulated.picks[simulated.picks["kind"] != "vesicle"]
    n_truth = int((truth["kind"] == "particle").sum())
    match = match_picks(selected, truth, iou=0.5)
    precision = match.n_matched / match.n_pred if match.n_pred else float("nan")
    recall = match.n_matched / n_truth if n_truth else float("nan")
    png_path = save_picks_figure(
        simulated.image,
        selected,
        out / f"{name}_picks.png",
        title=f"{name}: {len(selected)} picks (threshold {threshold:g}), "
        f"precision {precision:.2f}, recall {recall:.2f}",
    )
    print(f"model: {model_path}")
    from napari_cryopick.cli._pick import print_scale

    print_scale(outcome, request, "demo")  # the bundled model picks zero-shot: the scale it chose
    print(
        f"picked {len(selected)} particles in {name} ({DEMO_SIDE_PX} x {DEMO_SIDE_PX} px, "
        f"diameter {DEMO_DIAMETER_PX:g} px, threshold {threshold:g}) in {elapsed:.1f} s"
    )
    print(
        f"against the simulated truth ({n_truth} particles, IoU >= 0.5): "
        f"precision {precision:.2f}, recall {recall:.2f}"
    )
    print(f"wrote {star_path}, {png_path} and {mrc_path}")
    viewer = not args.no_viewer and display_available()
    if not args.no_viewer and not viewer:
        # said before the command, which stays the last line (as the README says: a new
        # user's trial read this note last), naming which of the two it is
        import importlib.util

        why = (
            "no display (DISPLAY and WAYLAND_DISPLAY unset)"
            if importlib.util.find_spec("napari") is not None
            else "napari is not installed"
        )
        print(f"{why}: not opening napari; {png_path.name} shows the picks")
    print(f"pick it yourself: {_hint(args, mrc_path)}")
    if viewer:
        _open_viewer(simulated, result, selected)
    return EXIT_OK
