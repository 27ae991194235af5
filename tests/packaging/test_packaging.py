"""The package installs as a napari plugin: manifest valid, shipped in the wheel, found by npe2.

These tests use the wheel as a user would get it, not only the source tree.
The wheel is built offline with the venv's hatchling (the ``testing`` extra).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

PLUGIN = "napari-cryopick"
# The four dock widgets the plugin promises (docs/architecture.md, README).
WIDGETS = ("Annotate", "Train", "Pick", "Evaluate")


def _manifest_widgets(manifest) -> list[str]:
    return [widget.display_name for widget in manifest.contributions.widgets or []]


@pytest.fixture(scope="module")
def source_manifest(repo_root: Path):
    from npe2 import PluginManifest

    return PluginManifest.from_file(repo_root / "src" / "napari_cryopick" / "napari.yaml")


@pytest.fixture(scope="module")
def wheel(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel once (no dependencies, no network)."""
    outdir = tmp_path_factory.mktemp("wheel")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(outdir),
            str(repo_root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (built,) = outdir.glob("napari_cryopick-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return site


def test_source_manifest_declares_the_four_widgets(source_manifest) -> None:
    assert source_manifest.name == PLUGIN
    assert sorted(_manifest_widgets(source_manifest)) == sorted(WIDGETS)


def test_npe2_validate_passes() -> None:
    npe2_cli = Path(sys.executable).with_name("npe2")
    completed = subprocess.run(
        [npe2_cli, "validate", PLUGIN], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "valid" in completed.stdout.lower()


def test_every_manifest_command_resolves(source_manifest) -> None:
    """Each ``python_name`` in napari.yaml names an importable callable."""
    source_manifest.validate_imports()


def test_wheel_ships_manifest_and_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "napari_cryopick/napari.yaml" in names
        assert "napari_cryopick/__init__.py" in names
        # the bundled general model travels inside the wheel (no download at run time)
        assert "napari_cryopick/core/model/weights/general.pt" in names
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    section = text.split("[napari.manifest]", 1)
    assert len(section) == 2, text
    assert "napari-cryopick = napari_cryopick:napari.yaml" in section[1]
    assert "cryopick = napari_cryopick.cli:main" in text


_FIND_FROM_WHEEL = textwrap.dedent(
    """
    import json, sys
    import importlib.metadata
    import napari_cryopick
    from npe2 import PluginManager, PluginManifest

    manifest = PluginManifest.from_distribution("napari-cryopick")
    manager = PluginManager()
    manager.discover(include_npe1=False)
    discovered = manager.get_manifest("napari-cryopick")
    distribution = importlib.metadata.distribution("napari-cryopick")
    print(json.dumps({
        "package_file": napari_cryopick.__file__,
        "distribution_files": str(distribution.locate_file("napari_cryopick/napari.yaml")),
        "widgets": [w.display_name for w in manifest.contributions.widgets or []],
        "discovered_widgets": [w.display_name for w in discovered.contributions.widgets or []],
    }))
    """
)


def test_installed_wheel_is_found_by_npe2(
    wheel_site: Path, repo_root: Path, tmp_path: Path
) -> None:
    # PYTHONPATH comes before site-packages, where the editable install's .pth adds src/.
    env = {"PYTHONPATH": str(wheel_site), "PATH": str(Path(sys.executable).parent)}
    completed = subprocess.run(
        [sys.executable, "-c", _FIND_FROM_WHEEL],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=tmp_path,  # not the repository: the current folder is on sys.path with -c
    )
    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert Path(found["package_file"]).is_relative_to(wheel_site), found
    assert Path(found["distribution_files"]).is_relative_to(wheel_site), found
    assert Path(found["distribution_files"]).is_file()
    assert not Path(found["package_file"]).is_relative_to(repo_root)
    assert sorted(found["widgets"]) == sorted(WIDGETS)
    assert sorted(found["discovered_widgets"]) == sorted(WIDGETS)


def test_editable_install_is_found_by_npe2() -> None:
    from npe2 import PluginManager

    manager = PluginManager()
    manager.discover(include_npe1=False)
    manifest = manager.get_manifest(PLUGIN)
    assert sorted(_manifest_widgets(manifest)) == sorted(WIDGETS)
    import napari_cryopick

    assert manifest.package_version == napari_cryopick.__version__


def _menu_texts(menu) -> list[str]:
    """Texts of all actions in a Qt menu, sub-menus included ("Sub > Item")."""
    texts = []
    for action in menu.actions():
        submenu = action.menu()
        if submenu is not None:
            texts += [f"{action.text()} > {text}" for text in _menu_texts(submenu)]
        elif action.text():
            texts.append(action.text())
    return texts


def test_widgets_in_plugins_menu_and_dockable(make_napari_viewer, source_manifest) -> None:
    viewer = make_napari_viewer()
    texts = [text.replace("&", "") for text in _menu_texts(viewer.window.plugins_menu)]
    # A plugin with several widgets gets a sub-menu named after its display name.
    submenu = source_manifest.display_name
    for name in WIDGETS:
        assert f"{submenu} > {name}" in texts, f"{name!r} not in the Plugins menu: {texts}"
    for name in WIDGETS:
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
        assert widget is not None
        assert dock.widget() is not None
    docked = set(viewer.window.dock_widgets)
    assert docked == {f"{name} ({PLUGIN})" for name in WIDGETS}
