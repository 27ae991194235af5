"""Before/after picture of the preprocessing pipeline on a real micrograph.

Usage::

    python docs/scripts/preprocess_figure.py [REAL_DATA_DIR] [--out PNG]

Reads the first ``empiar10146_apoferritin`` micrograph (a very low contrast
16-bit PNG, particle diameter 62 px) from ``REAL_DATA_DIR`` (default
``../shared/data/real``), shows the raw image next to the preprocessed one
(resampled to 1/4, low-pass at half the particle diameter, robust
normalisation) and circles the human picks of the top-left quarter on the
"after" panel, leaving the rest unmarked so the particles can be judged by eye.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Circle

from napari_cryopick.core import preprocess as pp

REPO = Path(__file__).resolve().parents[2]
DATASET = "empiar10146_apoferritin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=REPO.parent / "shared/data/real")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs/images/apoferritin_before_after.png"
    )
    args = parser.parse_args(argv)

    folder = args.data_dir / DATASET
    info = json.loads((folder / "dataset.json").read_text())
    diameter = float(info["particle_diameter_px"])
    path = sorted((folder / "micrographs").glob("*.png"))[0]
    picks = pd.read_csv(folder / "picks" / f"{path.stem}.csv")
    raw = iio.imread(path)

    # The default pipeline, given the particle diameter as a user would:
    # bin so particles are ~16 px, low-pass at half the diameter, clip at 3.
    after = pp.preprocess(raw, diameter_px=diameter)
    sy, sx = pp.output_scale(raw.shape, after.shape)

    rows, cols = raw.shape
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.2), constrained_layout=True)
    # both panels drawn in original pixel coordinates (pixel centres at integers)
    extent_raw = (-0.5, cols - 0.5, rows - 0.5, -0.5)
    extent_after = (-0.5 / sx, (after.shape[1] - 0.5) / sx, (after.shape[0] - 0.5) / sy, -0.5 / sy)
    axes[0].imshow(pp.to_uint8(raw), cmap="gray", extent=extent_raw, interpolation="nearest")
    axes[0].set_title(f"raw {path.name} (16-bit PNG, {cols}x{rows})")
    axes[1].imshow(pp.to_uint8(after, 1, 99), cmap="gray", extent=extent_after)
    axes[1].set_title(f"preprocess(image, diameter_px={diameter:g})  (the defaults)")
    quarter = picks[(picks["x"] < cols / 2) & (picks["y"] < rows / 2)]
    for x, y in zip(quarter["x"], quarter["y"]):
        axes[1].add_patch(Circle((x, y), diameter / 2, fill=False, color="yellow", lw=0.9))
    label = f"circles: human picks of the top-left quarter ({len(quarter)} of {len(picks)})"
    axes[1].text(10, rows - 20, label, color="yellow", fontsize=9)
    for ax in axes:
        ax.set_xlim(-0.5, cols - 0.5)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    # a palette PNG keeps the picture small enough for the repository
    from PIL import Image

    Image.open(args.out).convert("RGB").quantize(colors=128).save(args.out, optimize=True)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
