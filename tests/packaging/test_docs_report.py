"""docs/benchmarks.md is what benchmarks/make_report.py assembles.

Session 60 edited the page's summary in place: the next ``make_report.py`` run would
have dropped its rows. The summary's source is ``benchmarks/summary.md``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmarks_page_is_the_assembled_report():
    spec = importlib.util.spec_from_file_location(
        "make_report", ROOT / "benchmarks" / "make_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    assert module.build_report() == page, (
        "docs/benchmarks.md differs from what benchmarks/make_report.py assembles: edit "
        "benchmarks/summary.md (or the result files) and run it"
    )
