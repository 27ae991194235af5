"""The core imports neither napari nor Qt (docs/architecture.md, STYLE.md rule 1).

Two checks:

* at run time, every core module is imported in a fresh interpreter, one after
  the other. The modules each one brings in are recorded, so a GUI import is
  blamed on the first core module that pulled it in. The list is explicit: a
  listed module that does not exist fails the test; it is never skipped;
* statically, the import graph: no module under ``core/``, ``io/``,
  ``workflows/`` or ``layers/`` imports ``cli``, ``_widgets``, napari, Qt,
  vispy or magicgui anywhere (lazy imports inside functions included).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

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
    "napari_cryopick.core.model.card",
    "napari_cryopick.io.paths",
    "napari_cryopick.workflows",
    "napari_cryopick.workflows.train",
    "napari_cryopick.workflows.pick",
    "napari_cryopick.workflows.inputs",
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


# --------------------------------------------------------------------- import graph

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "src" / "napari_cryopick"
#: Layers below the user interfaces: they never import what sits above them.
LOWER_LAYERS = ("core", "io", "workflows", "layers")
FORBIDDEN = (
    "napari_cryopick.cli",
    "napari_cryopick._widgets",
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


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in a file (nested ones too)."""
    package = ".".join(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + "._"  # relative imports start at the package
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.append((node.lineno, module))
            names += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return names


def _violations(paths) -> list[str]:
    found = {}
    for path in paths:
        for line, name in _imported_names(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN):
                found.setdefault(f"{path.relative_to(PACKAGE_ROOT)}:{line}", name)
    return [f"{where} imports {name}" for where, name in sorted(found.items())]


def test_lower_layers_never_import_interfaces_or_gui() -> None:
    files = [f for layer in LOWER_LAYERS for f in sorted((PACKAGE_ROOT / layer).rglob("*.py"))]
    assert len(files) > 30  # the walk really found the package
    assert _violations(files) == []


def test_import_graph_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lazy cli import and a relative _widgets import are both caught."""
    fake = tmp_path / "napari_cryopick" / "core"
    fake.mkdir(parents=True)
    module = fake / "bad.py"
    module.write_text(
        "def f():\n    from napari_cryopick.cli import CLIError\n"
        "from .._widgets import pick\nimport qtpy.QtCore\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_ROOT", tmp_path / "napari_cryopick")
    found = _violations([module])
    assert [item.split(" ")[0] for item in found] == [
        "core/bad.py:2",
        "core/bad.py:3",
        "core/bad.py:4",
    ]


def test_the_tables_behind_the_result_layers_import_no_gui() -> None:
    """``_widgets/shown.py`` holds tables only (docs/architecture.md): no napari, no Qt."""
    shown = PACKAGE_ROOT / "_widgets" / "shown.py"
    assert _imported_names(shown)  # it was read
    assert _violations([shown]) == []


def test_opening_a_micrograph_imports_neither_torch_nor_scipy_spatial() -> None:
    """napari imports the reader when the first micrograph opens: a responsiveness trial
    found it importing scipy.spatial (about 0.27 s of frozen viewer) for fiber files, and
    torch and the picking modules load in a background thread instead
    (``napari_cryopick._warmup``)."""
    code = (
        "import sys, napari_cryopick._reader\n"
        "print(sorted(m for m in ('torch', 'scipy.spatial') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out
