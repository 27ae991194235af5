"""``cryopick demo``: simulated micrograph picked with the bundled model -> STAR + PNG."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from napari_cryopick import cli
from napari_cryopick.cli import _demo


def test_demo_writes_star_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from napari_cryopick.io.pickfiles import read_picks

    out = tmp_path / "demo"
    code = cli.main(["demo", "--no-viewer", "--out", str(out), "--seed", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    star = out / "demo_seed1.star"
    png = out / "demo_seed1_picks.png"
    assert star.is_file()
    assert png.is_file()
    assert (out / "demo_seed1.mrc").is_file()

    picks = read_picks(star)
    assert len(picks) > 0
    assert f"picked {len(picks)} particles" in captured.out
    assert "zero-shot: picked as if the diameter were" in captured.out  # says its scale
    assert picks["x"].between(0, _demo.DEMO_SIDE_PX - 1).all()
    assert picks["y"].between(0, _demo.DEMO_SIDE_PX - 1).all()

    image = iio.imread(png)
    assert image.ndim == 3
    assert min(image.shape[:2]) > 100
    # circles are drawn in green over a grey micrograph
    rgb = image[..., :3].astype(int)
    green = (rgb[..., 1] > 180) & (rgb[..., 0] < 100) & (rgb[..., 2] < 160)
    assert green.sum() > 100

    # the summary compares with the simulated truth
    assert "precision" in captured.out
    recall = float(captured.out.split("recall ")[1].split()[0].rstrip(","))
    assert recall > 0.5


def test_the_demo_hint_names_a_cryopick_the_shell_finds(monkeypatch, tmp_path) -> None:
    # a docs trial: 'make demo' (.venv/bin/cryopick) ended "pick it yourself: cryopick
    # pick ...", which a shell without the environment activated did not find
    import sys

    here = Path(sys.executable).with_name("cryopick")
    assert here.is_file()  # the package is installed in the environment running the tests
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Path(_demo._command()).resolve() == here.resolve()
    monkeypatch.setenv("PATH", str(here.parent))
    assert _demo._command() == "cryopick"


def test_the_demo_hint_is_quoted_and_keeps_the_model_and_threshold(monkeypatch, tmp_path) -> None:
    # a re-trial: an --out with a space broke the copied line; --model, --threshold left out
    import argparse
    import shlex

    monkeypatch.setattr(_demo, "_command", lambda: "cryopick")
    args = argparse.Namespace(model=tmp_path / "my model.pt", threshold=0.4)
    words = shlex.split(_demo._hint(args, tmp_path / "demo out" / "demo_seed0.mrc"))
    assert words[:3] == ["cryopick", "pick", str(tmp_path / "demo out" / "demo_seed0.mrc")]
    assert words[words.index("--model") + 1] == str(tmp_path / "my model.pt")
    assert words[words.index("--threshold") + 1] == "0.4"
    # its files beside the demo's (a CLI trial's copy wrote ./picks/ into the checkout)
    assert words[words.index("--out") + 1] == str(tmp_path / "demo out" / "picks")
    plain = shlex.split(_demo._hint(argparse.Namespace(model=None, threshold=None), Path("d.mrc")))
    assert "--model" not in plain
    assert "--threshold" not in plain


def test_demo_is_deterministic_given_the_seed(tmp_path: Path) -> None:
    first = _demo.simulate_demo_micrograph(seed=2)
    second = _demo.simulate_demo_micrograph(seed=2)
    third = _demo.simulate_demo_micrograph(seed=3)
    assert np.array_equal(first.image, second.image)
    assert not np.array_equal(first.image, third.image)


def test_demo_without_display_does_not_open_napari(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not _demo.display_available()

    def fail(*args, **kwargs):
        raise AssertionError("napari must not open without a display")

    monkeypatch.setattr(_demo, "_open_viewer", fail)
    code = cli.main(["demo", "--out", str(tmp_path / "d")])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("no display (DISPLAY and WAYLAND_DISPLAY unset): not opening")
    # the README's word: the last line is the command that picks it yourself (a new user's
    # trial read the display note last)
    assert lines[-1].startswith("pick it yourself: ")
    assert "cryopick pick " in lines[-1]


@pytest.mark.slow
def test_demo_opens_the_viewer_when_a_display_is_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(_demo, "display_available", lambda: True)
    monkeypatch.setattr(_demo, "_open_viewer", lambda *args: calls.append(args))
    assert cli.main(["demo", "--out", str(tmp_path / "d")]) == 0
    assert len(calls) == 1
    simulated, result, selected = calls[0]
    assert simulated.image.shape == (_demo.DEMO_SIDE_PX, _demo.DEMO_SIDE_PX)
    assert len(selected) > 0
    assert result.heatmap.ndim == 2
    calls.clear()
    assert cli.main(["demo", "--no-viewer", "--out", str(tmp_path / "d")]) == 0
    assert calls == []


def test_demo_rejects_a_bad_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["demo", "--no-viewer", "--threshold", "2", "--out", str(tmp_path)])
    assert code == cli.EXIT_BAD_INPUT
    assert "--threshold" in capsys.readouterr().err
