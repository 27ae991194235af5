"""The real data sets binned and enlarged: does default picking hold across pixel sizes?

Users bring the same protein at many pixel sizes: micrographs binned by 2 or 4
for speed, or kept at a super-resolution pixel. Every micrograph is rescaled so
that the particle spans one size before the detector sees it; this measures
that the rescaling holds on real micrographs. Each real set (the micrographs of
``$CRYOPICK_REAL_DATA`` or ``../shared/data/real``) is written again at each
factor, binned by block means (factors below 1, what a camera or ``relion_image_handler
--rescale_angpix`` would give) or enlarged by cubic interpolation (factors above 1),
as MRC float32 with the pixel size scaled where the set states one; its picks
are moved with the pixels (centre of pixel ``i`` to ``(i + 0.5) * factor - 0.5``)
and its diameter scaled. Factor 1 is the set's own files.

At each factor the protocol of ``bench_accuracy.py`` (first 3 micrographs by
name, a random quarter of their picks from ``default_rng(0)``, the rest scored
against all their picks, boxes of the diameter):

* ``zeroshot``: ``cryopick pick --diameter D`` with the general model;
* ``fresh``: ``cryopick train`` with its defaults then ``cryopick pick``,

the general model being the set's leave-one-out model of ``benchmarks/models``
(as ``bench_accuracy.py``). Training runs ``--time-limit 0 --seed 0`` (its step
cap, which depends on the clicks only): every factor trains the same steps, so
a difference between factors is the pixel size's, not the machine's load. AP
ranks every candidate (``--threshold 0``, the headline of ``bench_accuracy.py``).

A factor is skipped where the rescaled micrograph would be wider than 4096 px
or the particle smaller than 14 px (the sizes users bring).

Usage::

    .venv/bin/python benchmarks/bench_scales.py [--sets ...] [--factors 0.25,0.5,1,2,4]

Results: ``benchmarks/results/scales.json`` and ``scales.md``; each (set,
factor) is cached in ``benchmarks/_work/scales/runs`` so a killed run goes on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as accuracy
from napari_cryopick.core.preprocess import bin_image
from napari_cryopick.io.micrographs import read_micrograph, write_mrc

HERE = Path(__file__).parent
FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
MAX_WIDTH_PX = 4096
MIN_DIAMETER_PX = 14.0


def rescale_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Block means for ``1/factor`` an integer (binning), cubic interpolation otherwise."""
    inverse = 1.0 / factor
    if factor < 1 and abs(inverse - round(inverse)) < 1e-9:
        return bin_image(image, round(inverse))
    return ndimage.zoom(image, factor, order=3, grid_mode=True, mode="grid-mirror").astype(
        np.float32
    )


def rescale_coordinates(values: pd.Series, factor: float) -> pd.Series:
    """Pixel centres move with the pixels: ``(i + 0.5) * factor - 0.5``."""
    return (values.astype(float) + 0.5) * factor - 0.5


def usable(split: accuracy.DataSplit, factor: float) -> str | None:
    """Why ``factor`` is skipped for ``split`` (None: it runs)."""
    width = max(read_micrograph(split.paths[split.test[0]], quiet=True).data.shape)
    if width * factor > MAX_WIDTH_PX:
        return f"wider than {MAX_WIDTH_PX} px ({width * factor:.0f})"
    if split.diameter_px * factor < MIN_DIAMETER_PX:
        return f"particle under {MIN_DIAMETER_PX:g} px ({split.diameter_px * factor:.1f})"
    return None


def write_rescaled(source: Path, factor: float, folder: Path) -> Path:
    """``source`` (a real set's folder) at ``factor`` in ``folder/<set name>`` (once)."""
    info = json.loads((source / "dataset.json").read_text())
    recipe = {"source": str(source.resolve()), "factor": factor, "binning": "block mean"}
    target = folder / source.name
    done = target / "dataset.json"
    if done.exists() and json.loads(done.read_text()).get("rescaled") == recipe:
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "micrographs").mkdir(parents=True)
    (tmp / "picks").mkdir()
    pixel = info.get("pixel_size_A")
    for image_path in sorted((source / "micrographs").iterdir()):
        picks_path = source / "picks" / f"{image_path.stem}.csv"
        if not picks_path.exists():
            continue
        image = read_micrograph(image_path, quiet=True).data.astype(np.float32)
        write_mrc(
            tmp / "micrographs" / f"{image_path.stem}.mrc",
            rescale_image(image, factor),
            pixel_size=pixel / factor if pixel else None,
        )
        table = pd.read_csv(picks_path)
        table["x"] = rescale_coordinates(table["x"], factor)
        table["y"] = rescale_coordinates(table["y"], factor)
        if "diameter" in table:
            table["diameter"] = table["diameter"].astype(float) * factor
        table.to_csv(tmp / "picks" / picks_path.name, index=False)
    info.update(
        particle_diameter_px=float(info["particle_diameter_px"]) * factor,
        pixel_size_A=pixel / factor if pixel else None,
        rescaled=recipe,
    )
    (tmp / "dataset.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def run_factor(name: str, factor: float, args) -> dict:
    """Zero-shot and default training at one factor of one set (cached)."""
    work = args.work / "runs" / f"{name}_x{factor:g}"
    cached = work / "result.json"
    if cached.exists() and not args.restart:
        return json.loads(cached.read_text())
    source = args.data / name
    folder = (
        source
        if factor == 1
        else write_rescaled(source, factor, args.work / "data" / f"x{factor:g}")
    )
    split = accuracy.load_set(folder)
    general, general_note = accuracy.general_model(split, args.general_without)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    row = {
        "set": name,
        "factor": factor,
        "diameter_px": split.diameter_px,
        "width_px": int(max(read_micrograph(split.paths[split.test[0]], quiet=True).data.shape)),
        "clicks": int(sum(len(t) for t in split.train_picks.values())),
        "test_picks": int(sum(len(split.truth[n]) for n in split.test)),
        "general": general_note,
    }
    zero, timing = accuracy.cryopick_pick(
        args.cryopick, split, general, work / "zeroshot", extra=("--threshold", "0")
    )
    row["zeroshot"] = {**accuracy.score(split, zero), **timing}
    trained = accuracy.cryopick_train(
        args.cryopick,
        split,
        split.train_picks,
        work / "fresh",
        ["--time-limit", "0", "--seed", "0"],
    )
    picks, timing = accuracy.cryopick_pick(
        args.cryopick, split, trained["model"], work / "fresh", extra=("--threshold", "0")
    )
    row["fresh"] = {
        **accuracy.score(split, picks),
        **timing,
        "train_wall_s": round(trained["train_wall_s"], 1),
        "steps": trained["steps_done"],
    }
    trained["model"].unlink(missing_ok=True)
    cached.write_text(json.dumps(row, indent=1))
    return row


def write_markdown(rows: list[dict], skipped: list[str], meta: dict, path: Path) -> None:
    lines = [
        "# The real sets binned and enlarged",
        "",
        f"Date: {meta['date']}. Machine: {meta['machine']}. Commit {meta['commit']}.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "Each real set rescaled by a factor (below 1: block-mean binning; above 1: cubic "
        "interpolation; 1: the set's own files), its picks and diameter with it; the "
        "protocol of `bench_accuracy.py` (first 3 micrographs, a random quarter of their "
        "picks, the rest scored against all their picks), the set's leave-one-out general "
        "model. `zero-shot`: `cryopick pick --diameter D`; `trained`: `cryopick train` with "
        "its defaults at `--time-limit 0 --seed 0` (the same steps at every factor), then "
        "`cryopick pick`. AP@0.5 over every candidate; `pick s/mic`: the trained model's "
        "`cryopick pick` time per micrograph after start-up, reading included.",
        "",
        "| set | factor | micrograph px | diameter px | zero-shot AP@0.5 | trained AP@0.5 "
        "| trained AP@0.6 | steps | pick s/mic |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        fresh, zero = row["fresh"], row["zeroshot"]
        lines.append(
            f"| {row['set']} | {row['factor']:g} | {row['width_px']} | "
            f"{row['diameter_px']:g} | {zero['AP@0.5']:.3f} | {fresh['AP@0.5']:.3f} | "
            f"{fresh['AP@0.6']:.3f} | {fresh['steps']} | {fresh['pick_s_per_micrograph']:.2f} |"
        )
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=accuracy.DEFAULT_DATA)
    parser.add_argument(
        "--sets", default="empiar10017_bgal,empiar10028_ribosome,empiar10146_apoferritin"
    )
    parser.add_argument("--factors", default=",".join(f"{f:g}" for f in FACTORS))
    parser.add_argument(
        "--general-without", type=Path, default=accuracy.ROOT / "benchmarks" / "models"
    )
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "scales")
    parser.add_argument("--cryopick", default=str(Path(sys.executable).parent / "cryopick"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--snapshot", default="HEAD", metavar="COMMIT")
    parser.add_argument("--restart", action="store_true", help="ignore cached results")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    factors = [float(f) for f in args.factors.split(",") if f]
    source = accuracy.snapshot_source(args.snapshot, args.work / "source")
    print(f"commands run from src/ of commit {source}", flush=True)
    rows, skipped = [], []
    for name in [n for n in args.sets.split(",") if n]:
        split = accuracy.load_set(args.data / name)
        for factor in factors:
            why = usable(split, factor)
            if why:
                skipped.append(f"{name} x{factor:g}: {why}")
                continue
            row = run_factor(name, factor, args)
            print(
                json.dumps(
                    {
                        "set": name,
                        "factor": factor,
                        "zeroshot": round(row["zeroshot"]["AP@0.5"], 3),
                        "fresh": round(row["fresh"]["AP@0.5"], 3),
                    }
                ),
                flush=True,
            )
            rows.append(row)
    meta = accuracy.run_meta("benchmarks/bench_scales.py", argv, source)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scales.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "skipped": skipped}, indent=1)
    )
    write_markdown(rows, skipped, meta, args.out / "scales.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
