"""The core imports neither napari nor Qt (docs/architecture.md, STYLE.md rule 1).

Every core module is imported in a fresh interpreter, one after the other. The
modules each one brings in are recorded, so a GUI import is blamed on the first
core module that pulled it in. The list is explicit: a listed module that does
not exist fails the test; it is never skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CORE_MODULES = (
    "napari_cryopick",
    "napari_cryopick.core.pick_table",
    "napari_cryopick.core.progress",
    "napari_cryopick.io",
    "napari_cryopick.io.micrographs",
    "napari_cryopick.io.pickfiles",
    "napari_cryopick.core.preprocess",
    "napari_cryopick.core.simulate",
    "napari_cryopick.core.model",
    "napari_cryopick.core.training",
    "napari_cryopick.core.detect",
    "napari_cryopick.core.evaluate",
    "napari_cryopick.core.fibers",
    "napari_cryopick.core.continual",
    "napari_cryopick.core.exemplars",
    "napari_cryopick.layers.points",
    "napari_cryopick.layers.results",
    "napari_cryopick.io.annotations",
    "napari_cryopick.io.formats",
    "napari_cryopick.core.model.checkpoint",
    "napari_cryopick.cli",
)

# Top-level packages that only the napari contributions (_widgets, _reader, ...) may import.
GUI_PACKAGES = (
    "napari",
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "vispy",
    "magicgui",
    "superqt",
)

_PROBE = textwrap.dedent(
    """
    import importlib, json, sys, traceback

    modules, gui_packages = json.loads(sys.argv[1])
    gui = lambda name: name.split(".")[0] in gui_packages
    report = {}
    for module in modules:
        seen = {name for name in sys.modules if gui(name)}
        entry = {"error": None, "missing": False}
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            entry["missing"] = error.name == module
            entry["error"] = traceback.format_exc(limit=3)
        except Exception:
            entry["error"] = traceback.format_exc(limit=3)
        entry["gui_imported"] = sorted(
            {name.split(".")[0] for name in sys.modules if gui(name)} - seen
        )
        report[module] = entry
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def import_report() -> dict[str, dict]:
    """Import the core modules in one fresh interpreter and report on each."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([CORE_MODULES, GUI_PACKAGES])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_fresh_interpreter_has_no_gui_modules_before_import() -> None:
    """The probe itself starts clean, so anything found is the core's doing."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([[], GUI_PACKAGES])],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(completed.stdout) == {}
    code = "import sys, json; print(json.dumps(sorted(sys.modules)))"
    startup = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert not [name for name in startup if name.split(".")[0] in GUI_PACKAGES]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_without_gui(module: str, import_report: dict[str, dict]) -> None:
    entry = import_report[module]
    assert not entry["missing"], f"{module} is listed as a core module but does not exist"
    assert entry["error"] is None, f"importing {module} failed:\n{entry['error']}"
    assert entry["gui_imported"] == [], f"{module} imports GUI packages: {entry['gui_imported']}"


def test_probe_detects_a_gui_import() -> None:
    """The check can fail: a module that imports qtpy is reported."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([["json", "qtpy"], GUI_PACKAGES])],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(completed.stdout)
    assert report["json"]["gui_imported"] == []
    assert "qtpy" in report["qtpy"]["gui_imported"]
