"""``cryopick -v``: this package's debug output, not every library's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image


def test_verbose_does_not_flood_the_output_with_library_debug_lines(tmp_path):
    png = tmp_path / "m.png"
    Image.fromarray((np.random.default_rng(0).random((128, 128)) * 255).astype(np.uint8)).save(png)
    entry = "import sys; from napari_cryopick.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", entry, "-v", "pick", str(png)]
    command += ["--diameter", "20", "--out", str(tmp_path / "out"), "--no-rotations"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # Pillow logs every PNG chunk at debug level ("STREAM b'IHDR' 16 13")
    assert "STREAM" not in done.stderr
    assert "DEBUG: " not in done.stderr.replace("DEBUG: napari", "")
