"""Fast start-up: ``cryopick --version`` and ``cryopick COMMAND --help`` import no torch.

Checked in a fresh interpreter through ``sys.modules``, not by timing (a shared
machine makes timings flaky); importing torch is what costs seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from napari_cryopick import cli

HEAVY = ("torch", "scipy", "pandas", "napari", "matplotlib", "skimage")

_PROBE = """
import json, sys
from napari_cryopick.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
else:
    code = None
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _run(*argv: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"]] + [[name, "--help"] for name in cli._SUBCOMMANDS]
)
def test_version_and_help_import_no_heavy_library(argv: list[str]) -> None:
    report = _run(*argv)
    assert report["code"] == 0
    assert [name for name in HEAVY if name in report["modules"]] == []


@pytest.mark.slow
def test_startup_probe_sees_torch_when_a_command_runs(tmp_path) -> None:
    """The probe can fail: running ``info`` on a file really imports torch."""
    model = tmp_path / "missing.pt"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE.replace("except SystemExit", "except BaseException"),
            "info",
            str(model),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "torch" in report["modules"]


def test_help_defaults_match_the_configuration_classes() -> None:
    """The defaults read from the source are the classes' real defaults."""
    from dataclasses import MISSING, fields

    from napari_cryopick.cli._defaults import dataclass_defaults
    from napari_cryopick.core.continual import ContinualConfig
    from napari_cryopick.core.detect import PickConfig
    from napari_cryopick.core.simulate import SimulationConfig
    from napari_cryopick.core.training import TrainConfig

    for cls in (TrainConfig, PickConfig, ContinualConfig, SimulationConfig):
        read = dataclass_defaults(cls.__module__, cls.__name__)
        for item in fields(cls):
            if item.default is not MISSING:
                assert read[item.name] == item.default, (cls.__name__, item.name)


def test_time_budgets_count_from_the_commands_process_start(monkeypatch, capsys):
    """`cryopick train`'s 2 minutes include Python's start-up (1-4 s on a busy 2-core box)."""
    import time

    import psutil

    from napari_cryopick import cli

    monkeypatch.setattr(cli, "_PROCESS_STARTED", None)
    monkeypatch.setattr(cli, "MAX_STARTUP_S", 1e9)  # this test process is old
    before = time.perf_counter()
    assert cli.command_started() >= before  # main() called from a program: from now
    age = time.time() - psutil.Process().create_time()
    assert age > 1.0  # this test process started a while ago
    monkeypatch.setattr("sys.argv", ["cryopick", "info", "missing.pt"])
    assert cli.main() == cli.EXIT_BAD_INPUT  # run as the command: argv from sys.argv
    capsys.readouterr()
    assert cli.command_started() == pytest.approx(before - age, abs=0.5)
    assert cli.main(["info", "missing.pt"]) == cli.EXIT_BAD_INPUT  # a program's call
    assert cli.command_started() >= before
    # a process that ran for longer than a start-up before main (a job script that
    # ends in `exec cryopick train`): its budget counts from main, not from its start
    monkeypatch.setattr(cli, "MAX_STARTUP_S", min(1.0, age / 2))
    now = time.perf_counter()
    assert cli.main() == cli.EXIT_BAD_INPUT
    capsys.readouterr()
    assert cli.command_started() >= now


@pytest.mark.parametrize(
    ("module", "torch_expected"),
    [
        ("napari_cryopick._widgets.train", False),
        ("napari_cryopick._widgets._bank", False),
        ("napari_cryopick.core.training", True),  # the probe sees it where it is
    ],
)
def test_docking_the_train_widget_imports_no_torch(module: str, torch_expected: bool) -> None:
    """A GUI trial: docking Train took 2-4 s on a busy machine, importing torch for
    TrainConfig's defaults and the exemplar bank; torch loads when a training starts."""
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == str(torch_expected)
