"""Accuracy of what users get: the installed ``cryopick`` commands with their defaults, vs Topaz.

GitHub issue 10. Every figure comes from the ``cryopick train`` and ``cryopick
pick`` commands run as subprocesses with their default settings; the only
arguments are what a user must give (micrographs, pick files, the particle
diameter from the data set's ``dataset.json``, output paths). Each data set is
left out in turn:

* real sets with complete labels (apoferritin, beta-galactosidase), the
  sparsely labelled ribosome set (marked sparse: its precision and AP are lower
  bounds), and two simulated shapes (``ring``, ``L``: 512 px micrographs, 40 px
  particles) that no model of the project was trained on;
* split: micrographs sorted by name; the first 3 are the training micrographs,
  the rest the test micrographs, scored against all their picks;
* clicks: a random quarter of the training micrographs' picks, drawn per
  micrograph (in name order) with ``numpy.random.default_rng(0)``;
* conditions: ``zeroshot`` (``cryopick pick`` with the general model, no
  clicks), ``fewshot`` (``cryopick train --mode fewshot`` from the general
  model), ``fresh`` (``cryopick train``, a new model) and ``topaz`` (Topaz on
  the same clicks and test micrographs with the same wall-clock training
  budget as our default training);
* the clicks curve: AP against the number of clicked particles (10, 25, 50,
  100, spread evenly over the 3 training micrographs, drawn with
  ``default_rng(0)``) for ``cryopick train`` (defaults) and Topaz.

The general model of a left-out set is ``DIR/general_without_<set>.pt`` when
``--general-without DIR`` holds it (trained without that set; default DIR:
``benchmarks/models``, committed, see its README), otherwise the bundled model
(which saw the real sets: recorded as not held out).

One evaluator (:func:`napari_cryopick.core.evaluate.evaluate`, boxes of the
data set's diameter, AP at IoU 0.5 and 0.6, AR) scores both tools. AP is a
property of the ranking: ours is measured on every candidate (a second
``cryopick pick --threshold 0`` run), Topaz's on what ``extract`` writes at its
default ``-t -6`` (every candidate too). The picks ``cryopick pick`` writes
with its default threshold (the files a user gets) are reported as precision,
recall and count. Picking time is the default ``cryopick pick`` run's own time
per micrograph after its one-off start-up (reading included).

``--ablation`` trains one default model per set and scores picking options
in-process on it (border rejection off / at a quarter diameter, rotation
averaging off (on by default since commit 3babe83; the variant was "on"
before), local-std rejection), with their time per micrograph:
``benchmarks/results/accuracy_ablation.md``.

Every (set, condition) is cached in ``benchmarks/_work/accuracy/<tag>/`` with
its result, so a killed run continues where it stopped. Run (background; the
full run takes about 2 hours on the shared 2-core CPU)::

    nohup .venv/bin/python benchmarks/bench_accuracy.py > benchmarks/_work/accuracy.log 2>&1 &

Subsets: ``--sets empiar10146_apoferritin --conditions fresh,topaz``;
``--curve-sets`` picks the sets of the clicks curve (``none`` skips it).
Torch and Topaz run with 1 thread (``OMP_NUM_THREADS=1``; the machine is
shared). Results: ``benchmarks/results/accuracy.json`` and ``accuracy.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_detector import (  # noqa: E402
    TOPAZ_PYTHON,
    DataSplit,
    machine_info,
    run_topaz,
    topaz_version,
)
from napari_cryopick.core.evaluate import evaluate  # noqa: E402
from napari_cryopick.core.pick_table import make_picks  # noqa: E402
from napari_cryopick.io.pickfiles import read_picks  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("CRYOPICK_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
REAL_SETS = ("empiar10146_apoferritin", "empiar10017_bgal", "empiar10028_ribosome")
SIM_SETS = ("sim_ring", "sim_L")
CONDITIONS = ("fresh", "fewshot", "zeroshot", "topaz")
CURVE_CLICKS = (10, 25, 50, 100)
CURVE_SETS = ("empiar10146_apoferritin", "empiar10017_bgal")
N_TRAIN = 3
LABEL_FRACTION = 0.25
#: The few-shot arguments of ``cryopick train`` (the adapt mode of the defaults).
FEWSHOT_ARGS = ("--mode", "fewshot")
#: Topaz training: epochs of 10 updates (one update takes ~1-2 s on the busy
#: CPU), stopped at the budget; the last saved epoch picks.
TOPAZ_EPOCHS, TOPAZ_EPOCH_SIZE = 400, 10
#: Simulated sets: 10 micrographs of 512 px, 40 px particles of one held-out shape.
SIM_SIZE, SIM_DIAMETER, SIM_PREPARED_SNR = 512, 40.0, 0.2


# --------------------------------------------------------------------------
# data sets on disk (the CLI reads files)
# --------------------------------------------------------------------------


def write_simulated(name: str, folder: Path) -> Path:
    """Write a simulated set (float32 TIFF micrographs, CSV picks, dataset.json) once."""
    from PIL import Image

    from napari_cryopick.core.simulate import SimulationConfig

    if (folder / "dataset.json").exists():
        return folder
    shape = name.removeprefix("sim_")
    config = SimulationConfig(
        shape=(SIM_SIZE, SIM_SIZE),
        shapes=(shape,),
        diameter_px=SIM_DIAMETER,
        diameter_jitter=0.05,
        n_particles=int(0.2 * SIM_SIZE**2 / (np.pi * (SIM_DIAMETER / 2) ** 2)),
        snr=SIM_PREPARED_SNR / (SIM_DIAMETER / 20.0) ** 2,
        defocus_um=2.0,
        ice_gradient=0.5,
    )
    base_seed = {"ring": 100, "L": 200}.get(shape, 300)

    def save_tiff(path: Path, image: np.ndarray) -> None:
        Image.fromarray(image.astype(np.float32), mode="F").save(path.with_suffix(".tif"))

    info = {
        "origin": f"napari_cryopick.core.simulate, shape {shape!r} (held out), seeds {base_seed}+",
    }
    return write_simulated_files(
        folder, config, shape, base_seed, 10, SIM_DIAMETER, info, save_tiff
    )


def write_simulated_files(
    folder: Path,
    config,
    prefix: str,
    base_seed: int,
    count: int,
    diameter: float,
    info: dict,
    save_image,
) -> Path:
    """``count`` micrographs of ``config`` (seeds ``base_seed``+) in ``folder``, written atomically.

    ``micrographs/<prefix>_NN`` by ``save_image(path_without_suffix, image)``,
    ``picks/<prefix>_NN.csv`` (the particles' x, y and ``diameter``) and
    ``dataset.json`` (``info`` with the diameter and completeness).
    """
    from napari_cryopick.core.simulate import simulate_micrograph

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "micrographs").mkdir(parents=True)
    (tmp / "picks").mkdir()
    for i in range(count):
        mic = f"{prefix}_{i:02d}"
        sim = simulate_micrograph(config, seed=base_seed + i, name=mic)
        save_image(tmp / "micrographs" / mic, sim.image)
        picks = sim.picks[sim.picks["kind"] == "particle"]
        picks[["x", "y"]].assign(diameter=diameter).to_csv(
            tmp / "picks" / f"{mic}.csv", index=False
        )
    info = {
        "particle_diameter_px": diameter,
        "completeness": "complete (simulated)",
        **info,
    }
    (tmp / "dataset.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def load_set(folder: Path) -> DataSplit:
    """First 3 micrographs (by name) for training with a random quarter of their picks."""
    info = json.loads((folder / "dataset.json").read_text())
    diameter = float(info["particle_diameter_px"])
    paths = {
        p.stem: p
        for p in sorted((folder / "micrographs").iterdir())
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mrc")
        and (folder / "picks" / f"{p.stem}.csv").exists()
    }
    names = sorted(paths)
    truth = {}
    for name in names:
        table = pd.read_csv(folder / "picks" / f"{name}.csv")
        truth[name] = make_picks(table["x"], table["y"], diameter=diameter, micrograph=name)
    train, test = names[:N_TRAIN], names[N_TRAIN:]
    rng = np.random.default_rng(0)
    train_picks = {}
    for name in train:
        n_keep = max(1, math.ceil(LABEL_FRACTION * len(truth[name])))
        keep = np.sort(rng.choice(len(truth[name]), n_keep, replace=False))
        train_picks[name] = truth[name].iloc[keep].reset_index(drop=True)
    return DataSplit(
        name=folder.name,
        folder=folder,
        diameter_px=diameter,
        completeness=str(info.get("completeness", "")),
        train=train,
        test=test,
        paths=paths,
        truth=truth,
        train_picks=train_picks,
    )


def curve_clicks(split: DataSplit, n_clicks: int) -> dict[str, pd.DataFrame]:
    """``n_clicks`` picks spread evenly over the training micrographs (``default_rng(0)``)."""
    rng = np.random.default_rng(0)
    counts = [n_clicks // len(split.train)] * len(split.train)
    for i in range(n_clicks - sum(counts)):
        counts[i] += 1
    clicks = {}
    for name, count in zip(split.train, counts, strict=True):
        table = split.truth[name]
        keep = np.sort(rng.choice(len(table), min(count, len(table)), replace=False))
        clicks[name] = table.iloc[keep].reset_index(drop=True)
    return clicks


# --------------------------------------------------------------------------
# running the commands
# --------------------------------------------------------------------------


#: Source tree the commands import (``--snapshot``: a frozen copy of a commit).
_SOURCE: dict[str, str] = {}


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if "general" in _SOURCE:
        # the leave-one-out general model is "the bundled model" of every command
        env["CRYOPICK_GENERAL_MODEL"] = _SOURCE["general"]
    else:
        env.pop("CRYOPICK_GENERAL_MODEL", None)
    if "src" in _SOURCE:
        # ahead of the editable install's path entry: the commands run this copy
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SOURCE["src"], env.get("PYTHONPATH")]))
    return env


def snapshot_source(commit: str, folder: Path) -> str:
    """Export ``src/`` of ``commit`` to ``folder`` (other people edit the working tree).

    ``commit="worktree"`` copies the working tree's ``src/`` as it is now.
    """
    if Path(commit, "src").is_dir():  # an earlier snapshot: the same code again
        _SOURCE["src"] = str(Path(commit, "src"))
        return f"snapshot {Path(commit).name}"
    if commit == "worktree":
        stamp = dt.datetime.now(dt.timezone.utc).strftime("worktree-%Y%m%dT%H%M%S")
        target = folder / stamp
        shutil.copytree(ROOT / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__"))
        _SOURCE["src"] = str(target / "src")
        return f"{_commit()}, working tree copied at {stamp[9:]}"
    full = subprocess.run(
        ["git", "rev-parse", commit], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = folder / full[:12]
    if not (target / "src").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", full, "src"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    _SOURCE["src"] = str(target / "src")
    return full[:12]


def _run(command: list[str], log: Path) -> tuple[float, str]:
    """Run a command, appending its output to ``log``; (seconds, output) or RuntimeError."""
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - start
    text = out.stdout + out.stderr
    # progress bars redraw with carriage returns: keep the last state of each line
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines())
    with log.open("a") as stream:
        stream.write(f"$ {' '.join(command)}\n{text}\n({seconds:.1f} s, exit {out.returncode})\n")
    if out.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} {command[1]} failed: {text.strip()[-300:]}")
    return seconds, text


def write_clicks(clicks: dict[str, pd.DataFrame], folder: Path) -> None:
    """One CSV of x, y per training micrograph (a user's clicks carry no diameter), with
    their ``kind`` where it names other than particles (negatives: junk marked)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in clicks.items():
        other = "kind" in table and (table["kind"].astype(str) != "particle").any()
        table[["x", "y", "kind"] if other else ["x", "y"]].to_csv(
            folder / f"{name}.csv", index=False
        )


def first_training(set_name: str, seed: int, args) -> tuple[DataSplit, Path, list[str], dict]:
    """An experiment's start: the set's split (its leave-one-out general model chosen), a
    fresh work folder, the training arguments (every training at its step cap) and
    ``cryopick train`` on the clicks with its AP (``"base"``) over every candidate."""
    split = load_set(args.data / set_name)
    general_model(split, args.general_without)
    work = args.work / f"{set_name}_s{seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    train_args = ["--time-limit", "0", "--seed", str(seed)]
    first = cryopick_train(args.cryopick, split, split.train_picks, work / "r1", train_args)
    first["base"] = score_all(args.cryopick, split, first["model"], work / "r1")
    return split, work, train_args, first


def cryopick_train(
    cryopick: str,
    split: DataSplit,
    clicks: dict[str, pd.DataFrame],
    work: Path,
    extra: list[str],
) -> dict:
    """``cryopick train`` on the training micrographs with ``clicks``; returns timing."""
    write_clicks(clicks, work / "clicks")
    model = work / "model.pt"
    command = [
        cryopick,
        "train",
        "--micrographs",
        *[str(split.paths[n]) for n in split.train],
        "--picks",
        str(work / "clicks"),
        "--diameter",
        f"{split.diameter_px:g}",
        "--out",
        str(model),
        *extra,
    ]
    seconds, text = _run(command, work / "log.txt")
    steps = re.findall(r"trained (\d+) steps in ([\d.]+) s", text)
    done = re.findall(r"step[s]? (\d+)/(\d+)", text)
    return {
        "train_wall_s": seconds,
        "train_s": float(steps[-1][1]) if steps else None,
        "train_output": text.strip().splitlines()[-1] if text.strip() else "",
        "steps_done": _steps_done(model, done),
        "model": model,
    }


def _steps_done(model: Path, fallback) -> int | None:
    """Optimiser steps the checkpoint's history records (the last training run)."""
    try:
        from napari_cryopick.core.model import load_checkpoint

        _, metadata = load_checkpoint(model)
        last = metadata.get("history", [{}])[-1]
        for key in ("steps", "steps_done", "completed_steps"):
            if key in last:
                return int(last[key])
    except (OSError, ValueError, KeyError, RuntimeError):
        pass
    return int(fallback[-1][0]) if fallback else None


def cryopick_pick(
    cryopick: str,
    split: DataSplit,
    model: Path | None,
    work: Path,
    extra: tuple[str, ...] = (),
    out_name: str = "picks",
    names: list[str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """``cryopick pick`` on the test micrographs (or ``names``; CSV out); picks and timing."""
    names = list(split.test) if names is None else names
    out = work / out_name
    shutil.rmtree(out, ignore_errors=True)
    command = [cryopick, "pick", *[str(split.paths[n]) for n in names], *extra]
    if model is not None:
        command += ["--model", str(model)]
    command += ["--diameter", f"{split.diameter_px:g}", "--format", "csv", "--out", str(out)]
    seconds, text = _run(command, work / "log.txt")
    # "..., 6.4 s (start-up 4.1 s, then 0.33 s per micrograph)": the time per micrograph
    # of a long run; start-up (torch import, model load) is paid once per command
    inner = re.findall(r", ([\d.]+) s \(start-up ([\d.]+) s, then ([\d.]+) s per micrograph", text)
    tables = []
    for name in names:
        found = sorted(out.rglob(f"{name}.csv"))  # flat or mirroring the input folders
        table = read_picks(found[0]) if found else pd.DataFrame()
        if len(table):
            table["micrograph"] = name
            tables.append(table)
    pred = pd.concat(tables, ignore_index=True) if tables else make_picks([], [])
    n = len(names)
    timing = {
        "pick_wall_s": seconds,
        "pick_s": float(inner[-1][0]) if inner else None,
        "pick_startup_s": float(inner[-1][1]) if inner else None,
        "pick_s_per_micrograph": float(inner[-1][2]) if inner else seconds / n,
    }
    return pred, timing


def score(split: DataSplit, pred: pd.DataFrame) -> dict:
    """AP@0.5, AP@0.6, AR with boxes of the data set's diameter (both tools alike).

    ``precision``, ``recall`` and ``f1`` are those of all of ``pred`` at IoU
    0.5 (the end of the PR curve): for the picks ``cryopick pick`` writes with
    its default threshold, what a user gets in the files.
    """
    truth = pd.concat([split.truth[n] for n in split.test], ignore_index=True)
    fixed = pred.assign(diameter=split.diameter_px)
    report = evaluate(fixed, truth, iou_thresholds=(0.5, 0.6), diameter_px=split.diameter_px)
    curve = report.pr_curves["AP@0.5"]
    precision = float(curve.precision[-1]) if curve.precision.size else 0.0
    recall = float(np.nan_to_num(curve.recall[-1])) if curve.recall.size else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "AP@0.5": float(report.ap["AP@0.5"]),
        "AP@0.6": float(report.ap["AP@0.6"]),
        "AR": float(report.ar),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_pred": int(report.n_pred),
        "n_truth": int(report.n_truth),
    }


# --------------------------------------------------------------------------
# conditions
# --------------------------------------------------------------------------


def general_model(split: DataSplit, directory: Path | None) -> tuple[Path | None, str]:
    """The leave-one-out general model of ``split`` if present, else None (bundled).

    Also sets ``$CRYOPICK_GENERAL_MODEL`` for the ``cryopick`` subprocesses of
    this set: a default ``cryopick train`` starts from the general model's
    weights, which must not have seen the left-out set.
    """
    os.environ.pop("CRYOPICK_GENERAL_MODEL", None)
    _SOURCE.pop("general", None)
    if directory is not None:
        path = directory / f"general_without_{split.name}.pt"
        if path.is_file():
            # the subprocesses' environment is _env()'s: it must name this model too
            # (session 20's exp_threshold.py trained from the bundled model without it)
            os.environ["CRYOPICK_GENERAL_MODEL"] = _SOURCE["general"] = str(path.resolve())
            return path, f"{path} (trained without {split.name})"
    held_out = split.name.startswith("sim_")
    return None, "bundled model" + (
        " (never saw this shape)" if held_out else " (NOT held out: it saw this set)"
    )


def run_condition(condition: str, split: DataSplit, work: Path, args) -> dict:
    """One (set, condition); the result dict (also cached in ``work/result.json``)."""
    work.mkdir(parents=True, exist_ok=True)
    general, general_note = general_model(split, args.general_without)
    clicks_n = re.fullmatch(r"clicks(\d+)_(ours|topaz)", condition)
    if clicks_n:
        clicks = curve_clicks(split, int(clicks_n.group(1)))
        tool = clicks_n.group(2)
    else:
        clicks = split.train_picks
        tool = "topaz" if condition == "topaz" else "ours"
    n_clicks = 0 if condition == "zeroshot" else int(sum(len(t) for t in clicks.values()))
    result: dict = {"condition": condition, "n_clicks": n_clicks, "tool": tool}
    if tool == "topaz":
        n_train_particles = sum(len(split.truth[n]) for n in split.train)
        topaz_split = DataSplit(**{**split.__dict__, "train_picks": clicks})
        metrics = run_topaz(
            topaz_split,
            args.work / "topaz",
            threads=1,
            # short epochs: a model is saved every ~10-20 s of the budget
            epochs=TOPAZ_EPOCHS,
            epoch_size=TOPAZ_EPOCH_SIZE,
            time_limit_s=args.train_budget,
            # --num-particles: the particles per micrograph a user expects
            label_fraction=n_clicks / n_train_particles,
            seed=0,
            log=print,
        )
        result.update(
            {k: metrics[k] for k in ("train_s", "pick_s_per_micrograph", "settings")},
            **score(split, metrics_pred(args.work / "topaz" / split.name, split)),
        )
        return result
    if condition == "zeroshot":
        pred, timing = cryopick_pick(args.cryopick, split, general, work)
        result.update(timing, general=general_note, **score(split, pred))
        result["all_candidates"] = score_all(args.cryopick, split, general, work)
        return result
    extra = []
    # a new model starts from the general model too (pretrained body)
    result["general"] = general_note
    if condition == "fewshot":
        extra = list(FEWSHOT_ARGS) + (["--init", str(general)] if general is not None else [])
    extra += args.train_arg
    trained = cryopick_train(args.cryopick, split, clicks, work, extra)
    model = trained.pop("model")
    pred, timing = cryopick_pick(args.cryopick, split, model, work)
    result.update(trained, **timing, **score(split, pred), train_args=extra)
    # The predicted diameter (size head) instead of the data set's, for reference.
    truth = pd.concat([split.truth[n] for n in split.test], ignore_index=True)
    if "diameter" in pred.columns and pred["diameter"].notna().all() and len(pred):
        report = evaluate(pred, truth, iou_thresholds=(0.5,), diameter_px=split.diameter_px)
        result["AP@0.5_predicted_diameter"] = float(report.ap["AP@0.5"])
    result["all_candidates"] = score_all(args.cryopick, split, model, work)
    if not args.keep_models:
        model.unlink(missing_ok=True)
    return result


def score_all(cryopick: str, split: DataSplit, model: Path | None, work: Path) -> dict:
    """Diagnostic: AP of every candidate (``--threshold 0``): ranking apart from the threshold."""
    pred, _ = cryopick_pick(
        cryopick, split, model, work, extra=("--threshold", "0"), out_name="picks_all"
    )
    shutil.rmtree(work / "picks_all", ignore_errors=True)
    return score(split, pred)


def metrics_pred(work: Path, split: DataSplit) -> pd.DataFrame:
    """Topaz's extracted picks (written by :func:`bench_detector.run_topaz`)."""
    table = pd.read_csv(work / "picks_topaz.txt", sep="\t")
    return make_picks(
        table["x_coord"].astype(float),
        table["y_coord"].astype(float),
        diameter=split.diameter_px,
        score=table["score"].astype(float),
        micrograph=table["image_name"].astype(str),
    )


def normalise(result: dict, split: DataSplit, work: Path) -> dict:
    """Add ``headline`` (AP of the ranked candidates) and ``at_threshold`` (the files' picks).

    AP is a property of the ranking: ours from ``cryopick pick --threshold 0``
    (every candidate), Topaz from ``extract`` at its default ``-t -6`` (every
    candidate too). ``at_threshold``: precision, recall and F1 of the picks
    ``cryopick pick`` writes with its default threshold.
    """
    if "error" in result:
        return result
    if result.get("tool") == "ours" and "all_candidates" in result:
        allc = result["all_candidates"]
        result["headline"] = {k: allc[k] for k in ("AP@0.5", "AP@0.6", "AR")}
        if "f1" not in result and (work / "picks").is_dir():
            tables = [
                read_picks(path).assign(micrograph=path.stem)
                for path in sorted((work / "picks").rglob("*.csv"))
            ]
            tables = [t for t in tables if len(t)]
            pred = pd.concat(tables, ignore_index=True) if tables else make_picks([], [])
            result.update({k: v for k, v in score(split, pred).items() if k not in ("AP@0.5",)})
    else:
        result["headline"] = {k: result[k] for k in ("AP@0.5", "AP@0.6", "AR")}
    result["at_threshold"] = {
        k: result.get(k) for k in ("precision", "recall", "f1", "n_pred") if k in result
    }
    return result


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def write_markdown(results: dict, path: Path) -> None:
    m = results["machine"]
    lines = [
        "# Accuracy of the defaults users get (with Topaz)",
        "",
        f"Date: {results['date']} (finished {results.get('finished', 'running')}). Machine: "
        f"{m['cpu']}, {m['cores']} cores, no GPU; 1 torch/Topaz thread (`OMP_NUM_THREADS=1`). "
        f"Load average (1 min) at start {results['load_start']}, at end "
        f"{results.get('load_end')} (other engineers share the 2 cores: time-bounded training "
        "gets fewer steps when the machine is busy). napari-cryopick commit "
        f"{results['commit']}.",
        "",
        f"Command: `{results['command']}`",
        "",
        "Protocol (issue 10): `cryopick train` and `cryopick pick` run as subprocesses with "
        "their default settings (only micrographs, click files, `--diameter` from the data "
        "set's `dataset.json`, output paths; few-shot adds "
        f"`{' '.join(FEWSHOT_ARGS)}`). Per data set, the first {N_TRAIN} micrographs by name "
        f"are the training micrographs with a random {LABEL_FRACTION:.0%} of their picks "
        "(`numpy.random.default_rng(0)`); all other micrographs are scored against all their "
        "picks by `napari_cryopick.core.evaluate.evaluate` (boxes of the data set's diameter "
        "for both tools). Topaz gets the same clicks, test micrographs and training "
        f"wall-clock budget ({results['train_budget_s']:.0f} s, our default on a CPU). "
        "`pick s/mic` is `cryopick pick`'s own time per micrograph after its start-up "
        "(reading and writing included; the start-up, torch import and model load, is "
        "paid once per command and printed apart by `cryopick pick`; results cached "
        "before 2026-11-30 divided the whole command's wall time, start-up included, by "
        "the number of micrographs) (Topaz: its preprocessing share plus `extract`).",
        "",
        "AP@0.5, AP@0.6 and AR rank every candidate (ours: `cryopick pick --threshold 0`; "
        "Topaz: `extract` at its default `-t -6`). `picks P/R (n)`: precision and recall "
        "at IoU 0.5 of the picks `cryopick pick` writes with its default threshold (Topaz: "
        "of everything it extracts), i.e. the files a user gets.",
        "",
        "| data set | labels | condition | clicks | AP@0.5 | AP@0.6 | AR | picks P/R (n) "
        "| train s | steps | pick s/mic | general model |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in results["sets"].items():
        for condition in CONDITIONS:
            r = entry["conditions"].get(condition)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {name} | {entry['labels']} | {condition} | failed: {r['error']} |")
                continue
            steps = r.get("steps_done") or r.get("settings", {}).get("updates")
            h, t = r["headline"], r.get("at_threshold", {})
            files = (
                f"{_fmt(t.get('precision'), 2)}/{_fmt(t.get('recall'), 2)} ({t.get('n_pred')})"
                if "precision" in t
                else "-"
            )
            lines.append(
                f"| {name} | {entry['labels']} | {condition} | {r['n_clicks']} | "
                f"{_fmt(h['AP@0.5'])} | {_fmt(h['AP@0.6'])} | {_fmt(h['AR'])} | {files} | "
                f"{_fmt(r.get('train_s'), 0)} | {_fmt(steps)} | "
                f"{_fmt(r.get('pick_s_per_micrograph'), 2)} | {r.get('general', '')} |"
            )
    curve = [
        (name, entry)
        for name, entry in results["sets"].items()
        if any(k.startswith("clicks") for k in entry["conditions"])
    ]
    if curve:
        lines += [
            "",
            "## AP@0.5 against the number of clicks",
            "",
            "Clicks spread evenly over the 3 training micrographs (`default_rng(0)`); "
            "ours = `cryopick train` defaults (a new model), Topaz with the same budget.",
            "",
            "| data set | tool | " + " | ".join(f"{n} clicks" for n in CURVE_CLICKS) + " |",
            "| --- | --- | " + " | ".join("---" for _ in CURVE_CLICKS) + " |",
        ]
        for name, entry in curve:
            for tool in ("ours", "topaz"):
                cells = []
                for n in CURVE_CLICKS:
                    r = entry["conditions"].get(f"clicks{n}_{tool}")
                    cells.append(
                        "-"
                        if r is None
                        else ("failed" if "error" in r else _fmt(r["headline"]["AP@0.5"]))
                    )
                lines.append(f"| {name} | {tool} | " + " | ".join(cells) + " |")
    lines += ["", "## Targets (issue 10)", ""]
    lines += _targets(results)
    lines += ["", "Splits:", ""]
    for name, entry in results["sets"].items():
        lines.append(
            f"- {name} ({entry['diameter_px']:g} px): train {', '.join(entry['train'])} "
            f"({entry['n_clicks']} of {entry['n_train_all']} picks); test "
            f"{len(entry['test'])} micrographs, {entry['n_test_truth']} picks."
        )
    for note in results.get("notes", []):
        lines.append(f"- {note}")
    path.write_text("\n".join(lines) + "\n")


def _targets(results: dict) -> list[str]:
    lines = []
    picks_1024 = []
    for name, entry in results["sets"].items():
        c = entry["conditions"]
        # "few-shot" in the sense: a few clicks and the defaults of
        # `cryopick train` (condition "fresh": a new model from the general body);
        # `--mode fewshot` (a new head on a frozen body) is reported beside it
        few, head_only, topaz, zero = (
            c.get(k, {}).get("headline", {}) for k in ("fresh", "fewshot", "topaz", "zeroshot")
        )
        if "sparse" in entry["labels"] or name.startswith("sim_"):
            pass
        elif "AP@0.5" in few:
            t_ok = few["AP@0.5"] >= 0.80
            tz = topaz.get("AP@0.5")
            tz_ok = tz is not None and few["AP@0.5"] >= tz + 0.15
            lines.append(
                f"- {name}: few-shot (clicks, `cryopick train` defaults) AP@0.5 "
                f"{few['AP@0.5']:.3f} (target 0.80: {'met' if t_ok else 'MISSED'}); Topaz "
                f"{_fmt(tz)} (target Topaz + 0.15: {'met' if tz_ok else 'MISSED'}); zero-shot "
                f"{_fmt(zero.get('AP@0.5'))} (target 0.70: "
                f"{'met' if zero.get('AP@0.5', 0) >= 0.70 else 'MISSED'}); `--mode fewshot` "
                f"{_fmt(head_only.get('AP@0.5'))}."
            )
        for r in c.values():
            if r.get("tool") == "ours" and r.get("pick_s_per_micrograph") is not None:
                picks_1024.append((name, r["pick_s_per_micrograph"]))
    if picks_1024:
        per_set: dict[str, list[float]] = {}
        for name, value in picks_1024:
            per_set.setdefault(name, []).append(value)
        lines.append(
            "- Picking time per micrograph, reading included, after the command's start-up "
            "(target 0.5 s for a 1024x1024 micrograph; median of the `cryopick pick` runs of "
            "each set; the cost follows the micrograph's size after rescaling to the "
            "network's particle size; few test micrographs per set, so the first "
            "micrograph's warm-up weighs in): "
            + "; ".join(
                f"{n} ({results['sets'][n]['megapixels']:.1f} MP) {np.median(v):.2f} s"
                for n, v in per_set.items()
            )
            + "."
        )
    return lines


#: Picking variants of the ablation (``--ablation``): PickConfig overrides.
ABLATION_VARIANTS = {
    "default": {},
    "no_border": {"border": 0.0},
    "border_quarter": {"border": 0.25},
    "no_rotations": {"rotations": False},
    "reject_std": {"reject_std": True},
}


def ablation(split: DataSplit, args) -> dict:
    """One default ``cryopick train`` model; picking variants scored in-process.

    The variants (border rejection off, rotation averaging off, local-std
    rejection) run :func:`napari_cryopick.core.detect.pick_micrograph` on the
    same model with all candidates (threshold 0), timed per micrograph with
    reading, 1 torch thread.
    """
    import torch

    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.model import load_checkpoint

    torch.set_num_threads(1)
    work = args.work / split.name / "ablation"
    model_path = work / "model.pt"
    if not model_path.is_file():
        work.mkdir(parents=True, exist_ok=True)
        cryopick_train(args.cryopick, split, split.train_picks, work, list(args.train_arg))
    model, metadata = load_checkpoint(model_path)
    head = _default_head_of(metadata, model)
    out = {}
    for variant, overrides in ABLATION_VARIANTS.items():
        config = PickConfig(device="cpu", threshold=0.0, head=head, **overrides)
        picks, seconds = pick_in_process(split, model, config, split.test)
        values = score(split, picks)
        values["pick_s_per_micrograph"] = float(np.median(seconds))
        out[variant] = values
        print(
            f"{split.name} ablation {variant}: AP@0.5 {values['AP@0.5']:.3f} "
            f"AR {values['AR']:.3f} {values['pick_s_per_micrograph']:.2f} s/mic",
            flush=True,
        )
    return out


def pick_in_process(split: DataSplit, model, config, names: list[str]):
    """Picks of ``names`` by ``pick_micrograph`` (one table) and each micrograph's seconds, reading included."""
    from napari_cryopick.core.detect import pick_micrograph
    from napari_cryopick.io.micrographs import read_micrograph

    tables, seconds = [], []
    for name in names:
        start = time.perf_counter()
        image = read_micrograph(split.paths[name]).data
        result = pick_micrograph(
            model, image, diameter_px=split.diameter_px, config=config, micrograph_name=name
        )
        seconds.append(time.perf_counter() - start)
        tables.append(result.picks)
    return pd.concat(tables, ignore_index=True), seconds


def _default_head_of(metadata: dict, model) -> str | None:
    """The head ``cryopick pick`` picks with by default (the last run's data-set head)."""
    try:
        from napari_cryopick.core.model.card import ModelCard
        from napari_cryopick.workflows.pick import _default_head

        card = ModelCard.of_model(model, metadata)
        return _default_head(None, card, tuple(model.head_names))
    except ImportError:
        return None


def write_ablation(results: dict, path: Path) -> None:
    m = results["machine"]
    lines = [
        "# Picking options on a default-trained model (ablation)",
        "",
        f"Date: {results['date']}. Machine: {m['cpu']}, {m['cores']} cores, 1 torch thread; "
        f"load average (1 min) {results['load_start']} at start, {results['load_end']} at end. "
        f"Commit {results['commit']}.",
        "",
        f"Command: `{results['command']}`",
        "",
        "One model per set from `cryopick train` with its defaults on the benchmark's clicks "
        "(see above); the test micrographs picked in-process by `pick_micrograph` with every "
        "candidate (threshold 0) and one option changed. Time: median per micrograph, "
        "reading included.",
        "",
        "| data set | variant | AP@0.5 | AP@0.6 | AR | s/micrograph |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, variants in results["ablation"].items():
        for variant, v in variants.items():
            lines.append(
                f"| {name} | {variant} | {v['AP@0.5']:.3f} | {v['AP@0.6']:.3f} | "
                f"{v['AR']:.3f} | {v['pick_s_per_micrograph']:.2f} |"
            )
    path.write_text("\n".join(lines) + "\n")


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return head + (" (with uncommitted changes in src/)" if dirty else "")
    except OSError:
        return "unknown"


def run_meta(script: str, argv: list[str], source: str) -> dict:
    """Date, machine, commit and command of a run of ``script`` (a benchmark that runs the
    commands as this one does: one torch thread), for its report."""
    machine = machine_info()
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{machine['cpu']}, {machine['cores']} cores, "
        f"{'a CUDA GPU' if machine['gpu'] else 'no GPU'}, torch {machine['torch']}; "
        "1 torch thread (OMP_NUM_THREADS=1, as bench_accuracy.py)",
        "commit": source,
        "command": " ".join([f".venv/bin/python {script}", *argv]),
    }


def _megapixels(path: Path) -> float:
    from PIL import Image

    with Image.open(path) as image:
        return image.size[0] * image.size[1] / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default=",".join(REAL_SETS + SIM_SETS))
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument(
        "--curve-sets",
        default=",".join(CURVE_SETS),
        help="sets of the clicks curve, or 'none'",
    )
    parser.add_argument(
        "--general-without",
        type=Path,
        default=ROOT / "benchmarks" / "models",
        metavar="DIR",
        help="folder of the leave-one-out general models (default: the committed ones)",
    )
    parser.add_argument("--cryopick", default=str(ROOT / ".venv" / "bin" / "cryopick"))
    parser.add_argument(
        "--train-budget",
        type=float,
        default=None,
        help="Topaz training seconds (default: our default training budget on a CPU)",
    )
    parser.add_argument(
        "--train-arg",
        action="append",
        default=[],
        help="extra cryopick train argument (experiments only: not the defaults)",
    )
    parser.add_argument(
        "--snapshot",
        default="HEAD",
        metavar="COMMIT",
        help=(
            "run the commands from src/ of this commit (default HEAD), 'worktree' (a copy "
            "of the working tree now) or 'none' (the live working tree)"
        ),
    )
    parser.add_argument("--tag", default="default", help="cache folder under _work/accuracy")
    parser.add_argument("--restart", action="store_true", help="ignore cached results")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="picking options (border, rotations, local std) on one default model per set",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="only rewrite the report from cached results"
    )
    parser.add_argument("--keep-models", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy")
    parser.add_argument("--note", action="append", default=[])
    args = parser.parse_args(argv)
    args.train_arg = [a for item in args.train_arg for a in item.split()]
    if args.train_budget is None:
        from napari_cryopick.core.training import TrainConfig, resolve_time_limit

        args.train_budget = resolve_time_limit(TrainConfig(device="cpu"), "cpu") or 120.0
    args.work = ROOT / "benchmarks" / "_work" / "accuracy" / args.tag
    args.work.mkdir(parents=True, exist_ok=True)
    sets = [s for s in args.sets.split(",") if s]
    conditions = [c for c in args.conditions.split(",") if c]
    curve_sets = [] if args.curve_sets == "none" else args.curve_sets.split(",")
    if "topaz" in conditions and not TOPAZ_PYTHON.exists():
        print("Topaz is not installed (bash benchmarks/topaz_env.sh): skipping it", flush=True)
        conditions.remove("topaz")

    commit = _commit()
    if args.snapshot != "none":
        commit = snapshot_source(args.snapshot, args.work.parent / "src")
        print(f"commands run from src/ of commit {commit}", flush=True)
    results = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/bench_accuracy.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "load_start": round(os.getloadavg()[0], 2),
        "commit": commit,
        "train_budget_s": args.train_budget,
        "topaz_version": topaz_version() if "topaz" in conditions else None,
        "sets": {},
        "notes": list(args.note),
    }
    splits = {}
    for name in dict.fromkeys(sets + curve_sets):
        folder = (
            write_simulated(name, args.work.parent / "sims" / name)
            if name.startswith("sim_")
            else args.data / name
        )
        split = splits[name] = load_set(folder)
        results["sets"][name] = {
            "labels": split.completeness.split(":")[0].split(",")[0] or "?",
            "diameter_px": split.diameter_px,
            "train": split.train,
            "test": split.test,
            "n_clicks": int(sum(len(t) for t in split.train_picks.values())),
            "n_train_all": int(sum(len(split.truth[n]) for n in split.train)),
            "n_test_truth": int(sum(len(split.truth[n]) for n in split.test)),
            "megapixels": float(np.mean([_megapixels(split.paths[n]) for n in split.test])),
            "conditions": {},
        }
    if args.ablation:
        results["ablation"] = {}
        for name in sets:
            results["ablation"][name] = ablation(splits[name], args)
            results["load_end"] = round(os.getloadavg()[0], 2)
            args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
            write_ablation(results, args.out.with_suffix(".md"))
        return 0
    jobs = [(s, c) for s in sets for c in conditions]
    for name in curve_sets:
        for n in CURVE_CLICKS:
            jobs += [(name, f"clicks{n}_ours")]
            if "topaz" in conditions:
                jobs += [(name, f"clicks{n}_topaz")]
    per_job = args.train_budget + 60
    print(f"{len(jobs)} runs, roughly {len(jobs) * per_job / 60:.0f} min", flush=True)
    for name, condition in jobs:
        work = args.work / name / condition
        cached = work / "result.json"
        if cached.exists() and not args.restart:
            result = json.loads(cached.read_text())
            print(f"{name} {condition}: cached AP@0.5 {result.get('AP@0.5')}", flush=True)
        elif args.report_only and (work / "error.json").exists():
            result = json.loads((work / "error.json").read_text())
        elif args.report_only:
            continue
        else:
            shutil.rmtree(work, ignore_errors=True)
            start = time.perf_counter()
            try:
                result = run_condition(condition, splits[name], work, args)
            except (RuntimeError, OSError, ValueError, KeyError) as error:
                result = {"condition": condition, "error": str(error).splitlines()[-1][:300]}
            result["wall_s"] = time.perf_counter() - start
            result["commit"] = commit
            result["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            # a failure is reported, and tried again by the next run
            name_out = "error.json" if "error" in result else "result.json"
            (work / name_out).write_text(json.dumps(result, indent=1, default=str))
            # the report's headline: every candidate (ours: the --threshold 0 run)
            ranked = result.get("all_candidates", result)
            written = (
                f"; written picks AP@0.5 {_fmt(result.get('AP@0.5'))}"
                if "all_candidates" in result
                else ""
            )
            print(
                f"{name} {condition}: AP@0.5 {_fmt(ranked.get('AP@0.5'))} "
                f"AP@0.6 {_fmt(ranked.get('AP@0.6'))} AR {_fmt(ranked.get('AR'))}{written} "
                f"({result['wall_s']:.0f} s) {result.get('error', '')}",
                flush=True,
            )
        results["sets"][name]["conditions"][condition] = normalise(result, splits[name], work)
        results["load_end"] = round(os.getloadavg()[0], 2)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
        write_markdown(results, args.out.with_suffix(".md"))
    results["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if args.report_only:
        # the runs' own times, not the report's
        stamps = sorted(
            r["finished"]
            for entry in results["sets"].values()
            for r in entry["conditions"].values()
            if "finished" in r
        )
        if stamps:
            results["date"], results["finished"] = stamps[0], stamps[-1]
        commits = sorted(
            {
                r["commit"]
                for entry in results["sets"].values()
                for r in entry["conditions"].values()
                if "commit" in r and r.get("tool") != "topaz"
            }
        )
        results["commit"] = "; ".join(commits) or results["commit"]
        results["load_start"] = results["load_end"] = "see notes"
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    write_markdown(results, args.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
