"""Assemble ``docs/benchmarks.md`` from the summary and ``benchmarks/results/*.md``.

Each benchmark script writes its own ``benchmarks/results/<name>.md`` with the
command, machine, date and load of the run that produced it. This script puts
the hand-written summary (``benchmarks/summary.md``) on top and appends the
result files unchanged, so every figure in ``docs/benchmarks.md`` comes from a
run recorded next to its command.

Usage::

    .venv/bin/python benchmarks/make_report.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = (
    "accuracy",
    "accuracy_s39",
    "accuracy_s34",
    "accuracy_s28",
    "gpu_s36",
    "accuracy_lowload",
    "accuracy_ablation",
    "sizes",
    "scales",
    "accuracy_s10",
    "accuracy_s8_swa",
    "detector",
    "click_check",
    "speed",
    "continual",
    "continual_real",
    "fewshot",
    "zero_shot",
    "zero_shot_scale_edge",
    "vesicles",
    "fibers",
    "batch",
    "atomic_writes",
    "open_folder",
    "responsiveness",
)


def build_report() -> str:
    """The text of ``docs/benchmarks.md``."""
    parts = [(HERE / "summary.md").read_text()]
    results = HERE / "results"
    for name in ORDER:
        path = results / f"{name}.md"
        if not path.exists():
            continue
        text = path.read_text().strip()
        # demote the result file's headings by one level under this page's title
        lines = [("#" + line) if line.startswith("#") else line for line in text.splitlines()]
        parts.append(f"<!-- from benchmarks/results/{name}.md -->\n" + "\n".join(lines))
    return "\n\n".join(part.strip() for part in parts) + "\n"


def main() -> int:
    out = HERE.parent / "docs" / "benchmarks.md"
    out.write_text(build_report())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
