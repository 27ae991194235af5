"""Who is off centre, the labels or the picks? Sharpness of averages of crops.

An experiment for issue 10 (not a default). Apoferritin loses most of its AP
between IoU 0.1 and 0.5 (session 17); its labels lie 0.145 diameter from the
picks (session 38), three times the other sets', and two models' agreement
could not say whose error that is. Here the image decides: crops of the
micrograph (low-passed at a twentieth of the diameter, robustly normalised)
centred on a set of positions are averaged; the better the positions are
centred on the particles, the sharper the average. Sharpness is the RMS of the
average over one diameter after subtracting its mean in the ring out to 0.75
diameter. For each label with a pick (score >= ``--threshold``) within half a
diameter, three position sets are compared: the labels, the picks, and each
jittered by Gaussian noise of 2-8 px per axis, which calibrates how sharpness
falls with a known extra error.

Averaging crops centred on a picker's choices favours noise that looks like the
particle ("Einstein from noise"), more so the fainter the particles, so picks
look sharper than exact centres even when they are not better. The control
measures that bias: simulated hollow spheres with exact labels, made, trained
and picked by the ``cryopick`` commands with their defaults (``--control``).

Usage (picks from a ``bench_accuracy.py`` run)::

    .venv/bin/python benchmarks/exp_label_sharpness.py \\
        empiar10146_apoferritin=benchmarks/_work/accuracy/s43base/empiar10146_apoferritin/fresh/picks \\
        empiar10028_ribosome=benchmarks/_work/accuracy/s43base/empiar10028_ribosome/fresh/picks \\
        --control benchmarks/_work/sharpness_control \\
        --out benchmarks/results/exp_session45.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
from napari_cryopick.io import read_micrograph

JITTERS = (0, 2, 4, 6, 8)


def crops(image: np.ndarray, points: np.ndarray, half: int) -> np.ndarray:
    """Crops of ``2 half + 1`` px centred on ``points`` (x, y; sub-pixel by linear shift)."""
    out = []
    for x, y in points:
        xi, yi = round(float(x)), round(float(y))
        if (
            half + 1 <= xi < image.shape[1] - half - 2
            and half + 1 <= yi < image.shape[0] - half - 2
        ):
            patch = image[yi - half - 1 : yi + half + 2, xi - half - 1 : xi + half + 2]
            out.append(ndi.shift(patch, (yi - y, xi - x), order=1)[1:-1, 1:-1])
    return np.asarray(out)


def sharpness(average: np.ndarray, diameter: float) -> float:
    """RMS of ``average`` over one diameter, less its mean in the ring out to 0.75 D."""
    half = average.shape[0] // 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    radius = np.hypot(xx, yy)
    ring = (radius > diameter / 2) & (radius <= 0.75 * diameter)
    centred = average - average[ring].mean()
    return float(np.sqrt(np.mean(centred[radius <= diameter / 2] ** 2)))


def measure(
    name: str,
    micrographs: Path,
    truth: Path,
    picks: Path,
    diameter: float,
    threshold: float,
    seed: int = 0,
) -> dict:
    rng = np.random.default_rng(seed)
    half = int(diameter)
    stacks: dict[tuple[str, int], list[np.ndarray]] = {}
    offsets = []
    for pick_file in sorted(picks.glob("*.csv")):
        stem = pick_file.stem
        predicted = pd.read_csv(pick_file)
        predicted = predicted[predicted["score"] >= threshold]
        labels = pd.read_csv(truth / f"{stem}.csv")
        (image_path,) = [p for p in micrographs.glob(f"{stem}.*") if p.suffix != ".json"]
        image = np.asarray(read_micrograph(image_path, quiet=True).data, dtype=np.float32)
        image = ndi.gaussian_filter(image, diameter / 20)
        q1, q3 = np.percentile(image, [25, 75])
        image = (image - np.median(image)) / (q3 - q1)
        points = predicted[["x", "y"]].to_numpy(float)
        label_xy = labels[["x", "y"]].to_numpy(float)
        distance, index = cKDTree(points).query(label_xy)
        found = distance < 0.5 * diameter
        matched_labels, matched_picks = label_xy[found], points[index[found]]
        offsets.append(matched_picks - matched_labels)
        for kind, xy in (("label", matched_labels), ("pick", matched_picks)):
            for jitter in JITTERS:
                moved = xy + rng.normal(0.0, jitter, xy.shape) if jitter else xy
                stacks.setdefault((kind, jitter), []).append(crops(image, moved, half))
    row: dict = {"experiment": "label_sharpness", "set": name, "diameter_px": diameter}
    for (kind, jitter), parts in stacks.items():
        stack = np.concatenate(parts)
        row[f"{kind}_jitter{jitter}"] = sharpness(stack.mean(axis=0), diameter)
        row["pairs"] = len(stack)
    every = np.concatenate(offsets)
    row["offset_std_px"] = [float(v) for v in every.std(axis=0)]
    return row


def make_control(folder: Path, cryopick: str) -> tuple[Path, Path, Path]:
    """Simulated hollow spheres (apoferritin's size and about its SNR, exact labels),
    trained on a quarter of 3 micrographs' picks and picked with the CLI defaults."""
    sim = folder / "sim"
    if not (folder / "picks").is_dir():
        subprocess.run(
            [cryopick, "simulate", str(sim), "-n", "10", "--seed", "3", "--shape", "shell",
             "--diameter", "62", "--particles", "150", "--snr", "0.0017",
             "--size", "1200", "1240", "--overwrite"],
            check=True,
        )  # fmt: skip
        rng = np.random.default_rng(0)
        clicks, test = folder / "clicks", folder / "test"
        clicks.mkdir(exist_ok=True)
        test.mkdir(exist_ok=True)
        names = sorted(p.stem for p in (sim / "picks").glob("*.csv"))
        for k, name in enumerate(names):
            table = pd.read_csv(sim / "picks" / f"{name}.csv")
            if k < 3:
                keep = np.sort(rng.choice(len(table), len(table) // 4, replace=False))
                table.iloc[keep].to_csv(clicks / f"{name}.csv", index=False)
            else:
                (test / f"{name}.mrc").symlink_to((sim / "micrographs" / f"{name}.mrc").resolve())
        model = folder / "model.pt"
        subprocess.run(
            [cryopick, "train", "--micrographs", str(sim / "micrographs"), "--picks",
             str(clicks), "--diameter", "62", "--out", str(model)],
            check=True,
        )  # fmt: skip
        subprocess.run(
            [cryopick, "pick", str(test), "--model", str(model), "--format", "csv",
             "--threshold", "0", "--out", str(folder / "picks")],
            check=True,
        )  # fmt: skip
    return sim / "micrographs", sim / "picks", folder / "picks"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*", help="SET=PICKS_FOLDER (a bench_accuracy run's)")
    parser.add_argument("--data", type=Path, default=ba.DEFAULT_DATA)
    parser.add_argument("--control", type=Path, help="work folder of the simulated control")
    parser.add_argument("--threshold", type=float, default=0.15)
    parser.add_argument("--cryopick", default=str(Path(sys.executable).parent / "cryopick"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for item in args.sets:
        name, picks = item.split("=", 1)
        folder = args.data / name
        diameter = float(json.loads((folder / "dataset.json").read_text())["particle_diameter_px"])
        rows.append(
            measure(
                name, folder / "micrographs", folder / "picks", Path(picks), diameter,
                args.threshold,
            )
        )  # fmt: skip
    if args.control:
        args.control.mkdir(parents=True, exist_ok=True)
        micrographs, truth, picks = make_control(args.control, args.cryopick)
        rows.append(measure("sim_shell_control", micrographs, truth, picks, 62.0, args.threshold))
    for row in rows:
        cells = "  ".join(
            f"{k}={row[f'{k}_jitter{j}']:.4f}" for k in ("label", "pick") for j in (0, 4, 8)
        )
        print(f"{row['set']}: {row['pairs']} pairs  {cells}  offset std {row['offset_std_px']}")
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
