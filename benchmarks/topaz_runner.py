"""Run the Topaz command line (``topaz-em``) with the CPU torch of this machine.

Run it with the Python of ``benchmarks/.topaz-venv`` (made by
``benchmarks/topaz_env.sh``)::

    benchmarks/.topaz-venv/bin/python benchmarks/topaz_runner.py preprocess ...

The registry's ``torchvision`` wheel ships compiled ops built for the CUDA
torch; against the CPU ``torch==2.13.0`` they do not load, and
``import torchvision`` then fails in ``torchvision/_meta_registrations.py``
because ``torchvision::nms`` and ``torchvision::qnms`` do not exist. Topaz only
uses torchvision's image transforms (rotate/flip), never NMS, so defining the two
operator schemas (without kernels) before the import is enough. The schemas are
the ones torchvision's C++ sources declare. If a matching torchvision build
already registered them, nothing is defined.

Topaz reads only MRC images correctly (``topaz preprocess`` fails on PNG with
``'PngImageFile' object has no attribute 'astype'``), so the runner adds one
command of its own, ``to-mrc``, which writes each PNG/TIFF/JPEG as a float32
MRC of the same shape with the same file stem::

    python benchmarks/topaz_runner.py to-mrc DESTDIR IMAGE [IMAGE ...]

Topaz 0.3.20 counts the pixels of a 2-D particle disc with a 3-D grid
(``topaz.stats.pixels_given_radius``), so in 2-D both the observed positive
fraction and ``pi`` from ``--num-particles`` come out ``2*radius+1`` times too
large (radius 3: 203 instead of 29 pixels, pi 0.35 instead of 0.05 for 160
particles on 310x300 pixels). Topaz 0.2 counted a 2-D disc. The runner restores the 2-D count
(``--num-particles`` then means what Topaz documents); set
``TOPAZ_RUNNER_KEEP_PIXEL_COUNT=1`` to run Topaz unchanged.

This file is not part of the napari-cryopick package: it is a helper for the
detector benchmark (see ``benchmarks/TOPAZ.md``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

_TORCHVISION_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# Kept at module level: the schemas live only as long as the Library object.
_LIBRARY: torch.library.Library | None = None


def _has_operator(name: str) -> bool:
    """Tell whether ``torchvision::<name>`` is already registered with torch."""
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def define_torchvision_schemas() -> list[str]:
    """Define the torchvision operator schemas that are missing.

    Returns
    -------
    list of str
        The names of the operators this call defined (empty if torchvision's
        own compiled ops already provided them).
    """
    global _LIBRARY
    missing = [name for name in _TORCHVISION_SCHEMAS if not _has_operator(name)]
    if missing:
        _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
        for name in missing:
            _LIBRARY.define(_TORCHVISION_SCHEMAS[name])
    return missing


def _pixels_given_radius(radius: float, dims: int = 2) -> int:
    """Pixels (voxels) within ``radius`` of a centre pixel, in ``dims`` dimensions."""
    import numpy as np

    grid = np.linspace(-radius, radius, 2 * int(radius) + 1)
    axes = np.meshgrid(*([grid] * dims), indexing="ij")
    squared_distance = sum(axis**2 for axis in axes)
    return int((squared_distance <= radius**2).sum())


def patch_pixel_count() -> bool:
    """Make Topaz count particle pixels in 2-D for 2-D data (see module docstring).

    Returns
    -------
    bool
        True if Topaz was patched, False if ``TOPAZ_RUNNER_KEEP_PIXEL_COUNT`` is set.
    """
    if os.environ.get("TOPAZ_RUNNER_KEEP_PIXEL_COUNT"):
        return False
    import topaz.stats
    import topaz.training

    topaz.stats.pixels_given_radius = _pixels_given_radius
    topaz.training.pixels_given_radius = _pixels_given_radius
    return True


def images_to_mrc(destdir: str, paths: list[str]) -> list[str]:
    """Write each image as a float32 MRC file ``DESTDIR/<stem>.mrc``.

    Parameters
    ----------
    destdir : str
        Output folder (created if missing).
    paths : list of str
        Images that PIL reads (PNG, TIFF, JPEG; 8 or 16 bit, grey or RGB).

    Returns
    -------
    list of str
        The MRC files written, in input order.
    """
    import numpy as np
    from PIL import Image
    from topaz import mrc

    Path(destdir).mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        with Image.open(path) as image:
            if image.mode in ("RGB", "RGBA", "P"):
                image = image.convert("L")
            pixels = np.asarray(image, dtype=np.float32)  # [rows, cols]
        target = str(Path(destdir) / (Path(path).stem + ".mrc"))
        with open(target, "wb") as stream:
            mrc.write(stream, pixels[np.newaxis])  # topaz.mrc writes [z, rows, cols]
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Run ``topaz`` with ``argv`` (default: this process's arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    define_torchvision_schemas()
    if argv[:1] == ["to-mrc"]:
        if len(argv) < 3:
            print("usage: topaz_runner.py to-mrc DESTDIR IMAGE [IMAGE ...]", file=sys.stderr)
            return 2
        for target in images_to_mrc(argv[1], argv[2:]):
            print(target)
        return 0
    # Import after the schemas exist: topaz imports torchvision at module level.
    from topaz.main import main as topaz_main

    if argv[:1] == ["train"] and patch_pixel_count():
        print("# topaz_runner: 2-D particle pixel count restored (see topaz_runner.py)")

    sys.argv = ["topaz", *argv]
    result = topaz_main()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
