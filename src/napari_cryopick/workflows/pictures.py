"""Pictures of picks on a micrograph (PNG), drawn without napari: ``cryopick demo`` and
``cryopick pick --pictures N``."""

from __future__ import annotations

from pathlib import Path

#: The PNG text chunk (``Software``) of the pictures written here: a picture of an
#: earlier run is replaced, a user's own file of that name is not (:func:`is_own_picture`).
PICTURE_SOFTWARE = "napari-cryopick picks picture"


#: The image of a picture is binned to about this many pixels across (twice the 800 px
#: of the picture) before it is drawn.
PICTURE_PIXELS = 1600


def save_picks_figure(image, picks, path: Path, *, title: str = "") -> Path:
    """PNG of ``image`` (contrast-stretched) with each pick drawn as a circle of its diameter,
    and each fiber (the points of a ``tube_id``) as a line along its path.

    Parameters
    ----------
    image
        Micrograph ``(rows, cols)``.
    picks
        Pick table (project convention, original pixels).
    path
        PNG to write (written to a temporary name first, then moved).
    title
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    from napari_cryopick.core.preprocess import bin_image, lowpass, to_uint8
    from napari_cryopick.io.atomic import atomic_path

    rows, cols = image.shape
    diameters = picks["diameter"].to_numpy(float) if len(picks) else np.array([])
    median = float(np.nanmedian(diameters)) if np.isfinite(diameters).any() else 20.0
    # binned to about twice the picture's 800 px first (a trial: a K3 super-resolution
    # micrograph's picture low-passed and drawn whole took 22 s and 4 GB more per
    # micrograph); drawn in the original pixels' coordinates
    factor = max(1, max(rows, cols) // PICTURE_PIXELS)
    small = bin_image(image, factor) if factor > 1 else np.asarray(image, np.float32)
    sigma = max(2.0, median / 8) / factor
    shown = to_uint8(lowpass(small, sigma) if sigma >= 1 else small)
    figure = Figure(figsize=(8, 8 * rows / cols), dpi=100)
    axes = figure.add_axes((0, 0, 1, 0.95 if title else 1))
    height, width = shown.shape
    axes.imshow(
        shown,
        cmap="gray",
        interpolation="bilinear",
        extent=(-0.5, width * factor - 0.5, height * factor - 0.5, -0.5),
    )
    kinds = picks["kind"].astype(str).to_numpy() if "kind" in picks else np.array([])
    fiber = kinds == "fiber" if len(kinds) == len(picks) else np.zeros(len(picks), bool)
    for x, y, diameter in zip(picks["x"][~fiber], picks["y"][~fiber], diameters[~fiber]):
        radius = (diameter if np.isfinite(diameter) else median) / 2
        axes.add_patch(Circle((x, y), radius, fill=False, edgecolor="#00e676", linewidth=1.2))
    # fibers as the paths they are, one line through each tube's points in order (a fiber
    # trial's picture drew a circle on each of 186 points of 4 fibers)
    paths = picks[fiber]
    by = "tube_id" if "tube_id" in paths else None
    for _tube, points in paths.groupby(by, dropna=False) if by and len(paths) else []:
        axes.plot(points["x"], points["y"], color="#00e676", linewidth=1.5, marker=".")
    if by is None and len(paths):  # (points of no known path: drawn as points)
        axes.plot(paths["x"], paths["y"], color="#00e676", linestyle="none", marker=".")
    axes.set_xlim(-0.5, cols - 0.5)
    axes.set_ylim(rows - 0.5, -0.5)
    axes.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=11)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", metadata={"Software": PICTURE_SOFTWARE})
    return path


def is_own_picture(path: Path) -> bool:
    """Whether ``path`` is a picture :func:`save_picks_figure` wrote: its PNG text chunk,
    or matplotlib's default one, which pictures carried before the chunk was set (a
    review: a run into an earlier run's folder kept its old pictures)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            software = str(image.info.get("Software", ""))
    except Exception:  # not an image at all (a user's notes of that name): not ours
        return False
    return software == PICTURE_SOFTWARE or software.startswith("Matplotlib version")
