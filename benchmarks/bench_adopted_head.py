"""Continual training from a ``--mode new`` model: is the first protein kept? (session 17)

A user trains a model on one protein with the defaults (``--mode new``: the
data set is known to the generic head and the exemplar bank only), then adds
a second protein with ``--mode continual``. Continual training moves the
generic head to the new data; since session 17 it first gives the earlier
data set its own head, copied from the generic head and kept by replay
(``core.continual.train_model``, ``adopted_heads`` in the run record).

Everything runs through the installed ``cryopick`` commands, with the
issue-10 protocol's clicks (``bench_accuracy.load_set``: the first 3
micrographs, a quarter of their picks) and fixed steps (``--steps S
--time-limit 0``, so the load does not matter). The new model starts from
the leave-one-out general model without the first protein. Reported: AP@0.5
(every candidate ranked, ``cryopick pick --threshold 0``, boxes of the data
set's diameter), and the recall and number of the picks written at the
default threshold (what a user gets), of the first protein's test
micrographs before and after, with its own head and with the generic head,
and of the second protein's with its head.

    .venv/bin/python benchmarks/bench_adopted_head.py --first empiar10028_ribosome \\
        --second empiar10017_bgal --steps 300 --out benchmarks/results/exp_session17.jsonl
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_accuracy as ba
import exp_fewshot as ef

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", default="empiar10028_ribosome")
    parser.add_argument("--second", default="empiar10017_bgal")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument(
        "--continual-steps",
        type=int,
        default=None,
        help="steps of the continual training (default: --steps); a 2-minute CPU budget "
        "on a busy machine gives about 100",
    )
    parser.add_argument(
        "--continual-options",
        default="",
        help="more `cryopick train` options of the continual training, e.g. '--lr 0.001'",
    )
    parser.add_argument(
        "--first-model",
        type=Path,
        default=None,
        help="the first protein's model of an earlier run (its `first.pt`): not trained again",
    )
    parser.add_argument("--cryopick", default=str(ROOT / ".venv" / "bin" / "cryopick"))
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "adopted")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = parser.parse_args(argv)
    first, second = (ba.load_set(ba.DEFAULT_DATA / name) for name in (args.first, args.second))
    ba.general_model(first, ROOT / "benchmarks" / "models")  # a start that never saw it
    shutil.rmtree(args.work, ignore_errors=True)
    steps = ["--steps", str(args.steps), "--time-limit", "0"]

    def ap(split, model, work, *extra) -> dict | None:
        """AP@0.5 of every candidate, and recall / picks at the default threshold."""
        try:
            every, _ = ba.cryopick_pick(
                args.cryopick, split, model, work, ("--threshold", "0", *extra)
            )
            picked, _ = ba.cryopick_pick(args.cryopick, split, model, work, extra)
        except RuntimeError as error:  # code before session 17: no head of the first set
            print(error, file=sys.stderr)
            return None
        written = ba.score(split, picked)
        return {
            "AP@0.5": round(ba.score(split, every)["AP@0.5"], 4),
            "default_threshold_recall": round(written["recall"], 4),
            "default_threshold_picks": written["n_pred"],
        }

    work = args.work / "first"
    model_first = args.work / "first.pt"
    if args.first_model is not None:
        work.mkdir(parents=True)
        shutil.copy(args.first_model, model_first)
    else:
        trained = ba.cryopick_train(
            args.cryopick, first, first.train_picks, work, ["--dataset", "first", *steps]
        )
        shutil.move(trained["model"], model_first)
    row = {"experiment": "adopted-head", "first": args.first, "second": args.second}
    row["steps"] = args.steps
    row["continual_steps"] = args.continual_steps or args.steps
    row["continual_options"] = args.continual_options
    row["first_before"] = ap(first, model_first, work)
    work = args.work / "second"
    trained = ba.cryopick_train(
        args.cryopick,
        second,
        second.train_picks,
        work,
        [
            "--dataset",
            "second",
            "--mode",
            "continual",
            "--init",
            str(model_first),
            "--steps",
            str(args.continual_steps or args.steps),
            "--time-limit",
            "0",
            *args.continual_options.split(),
        ],
    )
    both = trained["model"]
    row["first_after_own_head"] = ap(first, both, work, "--head", "first")
    row["first_after_generic_head"] = ap(first, both, work, "--head", "generic")
    row["second_own_head"] = ap(second, both, work, "--head", "second")
    ef.emit(row, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
