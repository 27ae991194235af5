"""Batch picking at scale: Dask throughput, kill-and-resume, memory per worker.

Runs the installed ``cryopick pick`` command (the path users run) on
simulated 1024x1024 micrographs with the bundled general model, one torch
thread per process (``OMP_NUM_THREADS=1``):

1. throughput of sequential picking (``--summary``: the batch runner in this
   process, read-ahead on), ``--dask local:1`` and ``--dask local:2``: wall
   time of the command and the steady rate between the first and the last
   micrograph recorded in the run manifest (start-up excluded);
2. resume: a ``--skip`` run is killed with SIGKILL once half of the
   micrographs are recorded, then run again with ``--skip``; every micrograph
   must be recorded as done exactly once and the pick files must equal those
   of an uninterrupted run byte for byte;
3. peak resident memory of each process (driver, Dask workers), sampled
   every 0.2 s over the process tree, for a short and a long list.

``--distinct`` micrographs are simulated (about 4 s each here; 500 would
take half an hour); the others are cheap variations of them (a 90-degree
turn or mirror, a roll, a fresh draw of noise: ``_variant``), written once
into ``benchmarks/_work/batch`` and reused, so every micrograph differs.

Run (the issue's sizes are the defaults: 500 micrographs, memory at 50 and
500)::

    .venv/bin/python benchmarks/bench_batch.py
    # a trial run end to end, results kept out of benchmarks/results:
    .venv/bin/python benchmarks/bench_batch.py --n 12 --short 4 --long 8 \
        --results benchmarks/_work/batch/trial

``--overhead N`` measures only the CPU seconds per micrograph of the Dask
driver, scheduler and workers (``batch_overhead.json``).

Results: ``benchmarks/results/batch.md`` and ``batch.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "batch"
RESULTS = ROOT / "benchmarks" / "results"
CRYOPICK = Path(sys.executable).with_name("cryopick")


def _load() -> float:
    return os.getloadavg()[0]


def _variant(base, index: int, distinct: int):
    """Micrograph ``index`` made from its simulated base: a dihedral turn, a roll, new noise.

    Variant 0 of each base is the simulated micrograph itself; the others are
    rotated by 90 degrees ``v % 4`` times, mirrored for ``v // 4`` odd, rolled
    by a seeded offset and given a fresh draw of Gaussian noise (0.2 of the
    image's standard deviation): distinct pixels, the same particles, density
    and picking cost as a simulated micrograph.
    """
    import numpy as np

    variant = index // distinct
    if variant == 0:
        return base
    rng = np.random.default_rng(index)
    image = np.rot90(base, variant % 4)
    if (variant // 4) % 2:
        image = image[:, ::-1]
    image = np.roll(image, tuple(rng.integers(0, min(image.shape), 2)), axis=(0, 1))
    noise = rng.normal(0.0, 0.2 * float(base.std()), image.shape)
    return np.ascontiguousarray(image + noise, dtype=np.float32)


def make_micrographs(folder: Path, n: int, distinct: int) -> tuple[list[Path], float]:
    """``n`` distinct 1024x1024 micrographs under ``folder`` (hard links into a cache).

    ``distinct`` micrographs are simulated (about 4 s each here); the others
    are cheap variations of them (:func:`_variant`, about 0.05 s each). Both
    are written once into ``benchmarks/_work/batch`` and reused by later runs.
    """
    from napari_cryopick.core.simulate import SimulationConfig, simulate_micrograph
    from napari_cryopick.io.micrographs import read_micrograph, write_mrc

    config = SimulationConfig(shape=(1024, 1024))
    sources = WORK / "distinct"
    sources.mkdir(parents=True, exist_ok=True)
    variants = WORK / f"variants_of_{distinct}"
    variants.mkdir(parents=True, exist_ok=True)
    bases: dict[int, object] = {}
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    paths = []
    for index in range(n):
        cached = variants / f"mic_{index:04d}.mrc"
        if not cached.exists():
            seed = index % distinct
            source = sources / f"sim_{seed:03d}.mrc"
            if not source.exists():
                image = simulate_micrograph(config, seed=seed).image
                write_mrc(source, image, config.pixel_size)
            if seed not in bases:
                bases[seed] = read_micrograph(source).data
            write_mrc(cached, _variant(bases[seed], index, distinct), config.pixel_size)
        path = folder / f"mic_{index:04d}.mrc"
        os.link(cached, path)
        paths.append(path)
    return paths, float(config.mean_diameter())


class _Sampler:
    """Peak RSS per process of a process tree, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peaks: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    if process.pid not in self.peaks:
                        self.peaks[process.pid] = {"rss": 0, "cmd": " ".join(process.cmdline())}
                    self.peaks[process.pid]["rss"] = max(self.peaks[process.pid]["rss"], rss)
                except psutil.Error:
                    continue
            time.sleep(self.interval)

    def stop(self) -> dict[str, list[float]]:
        self._stop.set()
        self._thread.join()
        root = self.peaks.get(self.root.pid, {"rss": 0})["rss"] / 2**20
        # Dask worker processes run the heavy part; nannies and the semaphore tracker are small
        others = sorted(
            (p["rss"] / 2**20 for pid, p in self.peaks.items() if pid != self.root.pid),
            reverse=True,
        )
        return {"driver_mb": round(root, 1), "children_mb": [round(v, 1) for v in others]}


def _records(out: Path) -> list[dict]:
    records = []
    for path in out.glob("cryopick_manifest*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("status") == "done":
                records.append(record)
    return records


def _manifest_times(out: Path) -> list[float]:
    return sorted(record["finished"] for record in _records(out))


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def run_pick(
    mics: Path, out: Path, diameter: float, extra: list[str], kill_at: int | None = None
) -> dict:
    """One ``cryopick pick`` run; returns wall time, rates, memory, exit code."""
    command = [
        str(CRYOPICK),
        "pick",
        str(mics),
        "--diameter",
        f"{diameter:g}",
        "--out",
        str(out),
        "--device",
        "cpu",
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    load = _load()
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    sampler = _Sampler(process.pid)
    killed = False
    if kill_at is not None:
        while process.poll() is None:
            if len(_manifest_times(out)) >= kill_at:
                os.kill(process.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.05)
    stdout, _ = process.communicate()
    wall = time.perf_counter() - start
    memory = sampler.stop()
    if killed:  # the Dask children of a killed driver would linger; none in sequential runs
        time.sleep(0.5)
    times = _manifest_times(out)
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else float("nan")
    records = _records(out)
    return {
        "command": " ".join(["cryopick", *command[1:]]),
        "exit": process.returncode,
        "killed": killed,
        "wall_s": round(wall, 2),
        "recorded": len(times),
        "steady_mic_per_s": round(steady, 3),
        # per micrograph, in the process that picked it: wall time and CPU time of its thread
        "median_pick_s": round(_median([r["seconds"] for r in records]), 3),
        "median_cpu_s": round(_median([r.get("cpu_seconds", float("nan")) for r in records]), 3),
        "load_start": round(load, 2),
        "load_end": round(_load(), 2),
        "memory": memory,
        "stdout": stdout.strip().splitlines()[-1:] if stdout else [],
    }


def breakdown(paths: list[Path], diameter: float, repeats: int = 10) -> dict:
    """Median seconds per step of one micrograph, in this process with one torch thread."""
    import torch

    from napari_cryopick.core.detect import predict_maps
    from napari_cryopick.core.model.inputs import prepare_micrograph
    from napari_cryopick.io.micrographs import read_micrograph
    from napari_cryopick.workflows.pick import PickRequest, pick_one, prepare

    torch.set_num_threads(1)
    prepared = prepare(PickRequest(micrographs=(), diameter_px=diameter, device="cpu"))
    steps: dict[str, list[float]] = {"read": [], "prepare": [], "network": [], "pick_one": []}
    load = _load()
    for path in paths[: repeats + 1]:
        start = time.perf_counter()
        micrograph = read_micrograph(path)
        read = time.perf_counter() - start
        start = time.perf_counter()
        image = prepare_micrograph(micrograph.data, diameter, prepared.model.config).image
        prep = time.perf_counter() - start
        start = time.perf_counter()
        predict_maps(prepared.model, image, device="cpu")
        network = time.perf_counter() - start
        start = time.perf_counter()
        pick_one(prepared, micrograph)
        whole = time.perf_counter() - start
        if path == paths[0]:
            continue  # warm-up
        for name, value in zip(steps, (read, prep, network, whole)):
            steps[name].append(value)
    result = {name: round(_median(values), 4) for name, values in steps.items()}
    result["decode_and_rest"] = round(result["pick_one"] - result["prepare"] - result["network"], 4)
    result["prepared_shape"] = list(image.shape)
    result["load"] = round(load, 2)
    result["micrographs"] = repeats
    return result


def _cpu_seconds(processes: list) -> float:
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _tree_processes(pid: int) -> list:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def overhead(n: int, distinct: int, workers: int = 2, warm: int = 6) -> dict:
    """CPU seconds per micrograph of the driver, the scheduler and the workers (load-independent).

    An external scheduler and ``workers`` single-threaded workers are started
    (``dask scheduler`` / ``dask worker``), and this process is the driver:
    it runs :func:`~napari_cryopick.workflows.batch.run_batch` with ``dask=
    tcp://...`` on ``n`` micrographs (what ``cryopick pick --dask`` runs). CPU
    times are taken after the ``warm``-th micrograph is recorded and after the
    last one: this process's (``time.process_time``: the driver thread and
    the Dask client's threads), the scheduler's and the workers' (psutil).
    Start-up, imports and model loading are outside the window; CPU seconds
    do not depend on how busy the machine is the way wall time does.
    """
    import psutil
    import torch

    from napari_cryopick.workflows.batch import BatchOptions, run_batch
    from napari_cryopick.workflows.pick import PickRequest

    torch.set_num_threads(1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    folder = WORK / "overhead"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    scheduler_file = folder / "scheduler.json"
    dask = Path(sys.executable).with_name("dask")
    scheduler = subprocess.Popen(
        [str(dask), "scheduler", "--scheduler-file", str(scheduler_file), "--no-dashboard",
         "--port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = None
    try:
        for _ in range(300):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        worker = subprocess.Popen(
            [str(dask), "worker", "--scheduler-file", str(scheduler_file), "--nworkers",
             str(workers), "--nthreads", "1", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        paths, diameter = make_micrographs(folder / "mics", n, distinct)
        request = PickRequest(
            micrographs=paths, diameter_px=diameter, device="cpu", out_dir=folder / "out"
        )
        scheduler_process = psutil.Process(scheduler.pid)
        worker_tree = _tree_processes(worker.pid)
        load = _load()
        start = time.perf_counter()
        marks: dict[str, float] = {}
        steps = 0
        for _event in run_batch(request, BatchOptions(dask=address, summary=False)):
            steps += 1
            if steps == warm:
                marks = {
                    "driver": time.process_time(),
                    "scheduler": _cpu_seconds([scheduler_process]),
                    "workers": _cpu_seconds(worker_tree),
                    "wall": time.perf_counter(),
                }
            marks["driver_end"] = time.process_time()
            marks["wall_end"] = time.perf_counter()
        window = steps - warm
        per = {
            "driver_cpu_s": (marks["driver_end"] - marks["driver"]) / window,
            "scheduler_cpu_s": (_cpu_seconds([scheduler_process]) - marks["scheduler"]) / window,
            "worker_cpu_s": (_cpu_seconds(worker_tree) - marks["workers"]) / window,
            "wall_s": (marks["wall_end"] - marks["wall"]) / window,
        }
        records = _records(folder / "out")
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_batch.py " + " ".join(sys.argv[1:]),
        "workers": workers,
        "micrographs": n,
        "window": window,
        "recorded": len(records),
        "total_wall_s": round(time.perf_counter() - start, 2),
        "load": round(load, 2),
        "per_micrograph": {key: round(value, 4) for key, value in per.items()},
    }


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.star"))}


def main() -> int:
    global RESULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=500, help="micrographs of the throughput and resume runs"
    )
    parser.add_argument("--short", type=int, default=50, help="short list of the memory runs")
    parser.add_argument("--long", type=int, default=500, help="long list of the memory runs")
    parser.add_argument(
        "--distinct",
        type=int,
        default=20,
        help="simulated micrographs; the others are variations of them (_variant)",
    )
    parser.add_argument("--note", action="append", default=[], help="note for the result file")
    parser.add_argument(
        "--throughput-only",
        type=int,
        default=0,
        metavar="R",
        help="only the throughput runs, R rounds interleaved (sequential, local:1, local:2, ...), "
        "into batch_throughput.json; batch.md is then rewritten with them",
    )
    parser.add_argument(
        "--overhead",
        type=int,
        default=0,
        metavar="N",
        help="only the CPU seconds per micrograph of the driver, the scheduler and the two "
        "workers (external scheduler, tcp://) over N micrographs; into batch_overhead.json",
    )
    parser.add_argument("--label", default="", help="--overhead: name of this measurement")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder of the result files (default benchmarks/results; a trial run with small "
        "sizes: somewhere under benchmarks/_work)",
    )
    args = parser.parse_args()
    RESULTS = args.results
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.overhead:
        result = overhead(args.overhead, args.distinct)
        path = RESULTS / "batch_overhead.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data[args.label or result["date"]] = result
        path.write_text(json.dumps(data, indent=2) + "\n")
        print(json.dumps(result["per_micrograph"]))
        return 0
    if args.throughput_only:
        return throughput_rounds(args)

    WORK.mkdir(parents=True, exist_ok=True)
    mics = WORK / "mics"
    _, diameter = make_micrographs(mics, args.n, args.distinct)
    results: dict = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command": "python benchmarks/bench_batch.py " + " ".join(sys.argv[1:]),
        "n": args.n,
        "distinct": args.distinct,
        "diameter_px": diameter,
        "runs": {},
    }
    runs = results["runs"]

    # 1. throughput
    for name, extra in (
        ("sequential", ["--summary"]),
        ("dask local:1", ["--dask", "local:1"]),
        ("dask local:2", ["--dask", "local:2"]),
    ):
        out = WORK / name.replace(" ", "_").replace(":", "")
        shutil.rmtree(out, ignore_errors=True)
        runs[name] = run_pick(mics, out, diameter, extra)
        print(name, runs[name], flush=True)
    reference = _tree(WORK / "sequential")
    for name in ("dask local:1", "dask local:2"):
        runs[name]["identical_to_sequential"] = (
            _tree(WORK / name.replace(" ", "_").replace(":", "")) == reference
        )

    # 2. kill at ~50% and resume with --skip
    out = WORK / "resume"
    shutil.rmtree(out, ignore_errors=True)
    killed = run_pick(mics, out, diameter, ["--skip"], kill_at=args.n // 2)
    leftovers = sorted(p.name for p in out.glob(".*.tmp"))
    resumed = run_pick(mics, out, diameter, ["--skip"])
    records = []
    for line in (out / "cryopick_manifest.jsonl").read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    done = [r["input"] for r in records if r.get("status") == "done"]
    results["resume"] = {
        "killed_run": killed,
        "resumed_run": resumed,
        "recorded_before_kill": killed["recorded"],
        "temporaries_left_by_kill": leftovers,
        "records_done": len(done),
        "distinct_done": len(set(done)),
        "every_micrograph_once": len(done) == len(set(done)) == args.n,
        "identical_to_uninterrupted": _tree(out) == reference,
    }
    print("resume", results["resume"], flush=True)

    # 3. memory: short and long lists with two workers, and sequential
    memory = {}
    for n in (args.short, args.long):
        folder = WORK / f"mics_{n}"
        make_micrographs(folder, n, args.distinct)
        for name, extra in (("sequential", ["--summary"]), ("dask local:2", ["--dask", "local:2"])):
            out = WORK / f"mem_{n}_{name.replace(' ', '_').replace(':', '')}"
            shutil.rmtree(out, ignore_errors=True)
            run = run_pick(folder, out, diameter, extra)
            memory[f"{name}, {n} micrographs"] = run
            print("memory", name, n, run["memory"], run["wall_s"], flush=True)
    results["memory"] = memory

    # 4. where the time of one micrograph goes
    results["breakdown"] = breakdown(sorted(mics.glob("*.mrc")), diameter)
    print("breakdown", results["breakdown"], flush=True)
    results["notes"] = args.note

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "batch.md").write_text(report(results))
    print(f"wrote {RESULTS / 'batch.md'}")
    return 0


def throughput_rounds(args: argparse.Namespace) -> int:
    """Interleaved rounds of the three throughput runs (the load of other jobs drifts)."""
    mics = WORK / "mics"
    _, diameter = make_micrographs(mics, args.n, args.distinct)
    rounds = []
    for index in range(args.throughput_only):
        runs = {}
        for name, extra in (
            ("sequential", ["--summary"]),
            ("dask local:1", ["--dask", "local:1"]),
            ("dask local:2", ["--dask", "local:2"]),
        ):
            out = WORK / f"round{index}_{name.replace(' ', '_').replace(':', '')}"
            shutil.rmtree(out, ignore_errors=True)
            runs[name] = run_pick(mics, out, diameter, extra)
            print(index, name, runs[name], flush=True)
        rounds.append(runs)
    data = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_batch.py " + " ".join(sys.argv[1:]),
        "nice": os.nice(0),
        "rounds": rounds,
    }
    (RESULTS / "batch_throughput.json").write_text(json.dumps(data, indent=2) + "\n")
    results = json.loads((RESULTS / "batch.json").read_text())
    (RESULTS / "batch.md").write_text(report(results))
    print(f"wrote {RESULTS / 'batch.md'}")
    return 0


def _rounds_section() -> list[str]:
    path = RESULTS / "batch_throughput.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    lines = [
        "",
        "### Interleaved rounds",
        "",
        f"{data['date']}, `{data['command']}` (niceness {data['nice']}): the three runs one "
        "after another, repeated, so that each sees a similar load.",
        "",
        "| round | run | wall s | steady micrographs/s | median s (CPU s) / micrograph | load |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for index, runs in enumerate(data["rounds"]):
        for name, run in runs.items():
            lines.append(
                f"| {index + 1} | {name} | {run['wall_s']} | {run['steady_mic_per_s']} | "
                f"{run['median_pick_s']} ({run['median_cpu_s']}) | "
                f"{run['load_start']} / {run['load_end']} |"
            )
    ratios = [
        runs["dask local:2"]["steady_mic_per_s"] / runs["dask local:1"]["steady_mic_per_s"]
        for runs in data["rounds"]
    ]
    lines += [
        "",
        "Two workers against one, per round: "
        + ", ".join(f"**{ratio:.2f}x**" for ratio in ratios)
        + " (target 1.7x).",
    ]
    return lines


def _overhead_section() -> list[str]:
    path = RESULTS / "batch_overhead.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    lines = [
        "",
        "### Dask overhead: CPU seconds per micrograph",
        "",
        "`python benchmarks/bench_batch.py --overhead 60 --label ...`: an external scheduler and "
        "two single-threaded workers, the driver in the script (`run_batch` with `tcp://`); CPU "
        "times between the 6th and the last micrograph recorded (`overhead()` in the script). "
        "Labels starting with 'before' ran the code of commit ecfd1e0 (`PYTHONPATH`).",
        "",
        "| run | date | driver | scheduler | workers | wall s / micrograph | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, run in data.items():
        per = run["per_micrograph"]
        lines.append(
            f"| {label} | {run['date']} | {per['driver_cpu_s']} | {per['scheduler_cpu_s']} | "
            f"{per['worker_cpu_s']} | {per['wall_s']} | {run['load']} |"
        )
    return lines


def report(results: dict) -> str:
    """The Markdown result file."""
    runs = results["runs"]
    seq = runs["sequential"]
    lines = [
        "# Batch picking: Dask throughput, kill-and-resume, memory",
        "",
        f"Date: {results['date']}. Machine: {results['machine']}; one torch thread per process "
        "(`OMP_NUM_THREADS=1`), bundled general model, CPU. Other engineers share the 2 cores: "
        "the 1-minute load average at the start and end of each run is in the tables.",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Data: {results['n']} simulated 1024x1024 micrographs "
        f"(`SimulationConfig(shape=(1024, 1024))`, {results['diameter_px']:g} px particles), "
        f"{min(results['n'], results['distinct'])} of them simulated and the others "
        "variations of those "
        "(a 90-degree turn or mirror, a roll and a fresh draw of noise: `_variant()` in the "
        "script), so that every micrograph differs; simulating one takes about 4 s here.",
        "",
        "## Throughput",
        "",
        "| run | wall s | steady micrographs/s | vs sequential | median s / micrograph "
        "(CPU s) | identical files | load start/end |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, run in runs.items():
        ratio = run["steady_mic_per_s"] / seq["steady_mic_per_s"]
        same = "reference" if name == "sequential" else str(run["identical_to_sequential"]).lower()
        lines.append(
            f"| {name} | {run['wall_s']} | {run['steady_mic_per_s']} | {ratio:.2f}x | "
            f"{run.get('median_pick_s', 'n/a')} ({run.get('median_cpu_s', 'n/a')}) | {same} | "
            f"{run['load_start']} / {run['load_end']} |"
        )
    one, two = runs["dask local:1"], runs["dask local:2"]
    lines += [
        "",
        f"Two workers against one: **{two['steady_mic_per_s'] / one['steady_mic_per_s']:.2f}x** "
        f"steady rate, {one['wall_s'] / two['wall_s']:.2f}x wall time (target 1.7x).",
        "",
        "Commands: " + "; ".join(f"`{run['command']}`" for run in runs.values()),
        *_rounds_section(),
        *_overhead_section(),
        "",
        "## Kill at ~50% and resume",
        "",
    ]
    resume = results["resume"]
    lines += [
        f"- `{resume['killed_run']['command']}` killed with SIGKILL after "
        f"{resume['recorded_before_kill']} of {results['n']} micrographs were recorded "
        f"({resume['killed_run']['wall_s']} s); temporary files left by the kill: "
        f"{len(resume['temporaries_left_by_kill'])} (any would be removed by the next write into that folder).",
        f"- The same command again: {resume['resumed_run']['stdout'][0] if resume['resumed_run']['stdout'] else ''}",
        f"- Micrographs recorded as done: {resume['records_done']}, distinct "
        f"{resume['distinct_done']}: every micrograph exactly once: "
        f"**{str(resume['every_micrograph_once']).lower()}**.",
        f"- Pick files identical to the uninterrupted sequential run: "
        f"**{str(resume['identical_to_uninterrupted']).lower()}**.",
        "",
        "## Peak memory per process",
        "",
        "| run | driver MB | largest child processes MB (Dask workers) | wall s | load start |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, run in results["memory"].items():
        children = ", ".join(f"{v:g}" for v in run["memory"]["children_mb"][:3]) or "none"
        lines.append(
            f"| {name} | {run['memory']['driver_mb']} | {children} | {run['wall_s']} | "
            f"{run['load_start']} |"
        )
    steps = results.get("breakdown")
    if steps:
        lines += [
            "",
            "## Where the time of one micrograph goes",
            "",
            f"Median of {steps['micrographs']} micrographs in one process, one torch thread, "
            f"load {steps['load']} (`breakdown()` in the script): network input "
            f"{steps['prepared_shape'][1]}x{steps['prepared_shape'][0]} px.",
            "",
            "| read MRC | prepare (rescale, normalise) | network | decode, suppression, rest "
            "| whole `pick_one` |",
            "| --- | --- | --- | --- | --- |",
            f"| {steps['read']} s | {steps['prepare']} s | {steps['network']} s | "
            f"{steps['decode_and_rest']} s | {steps['pick_one']} s |",
        ]
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
