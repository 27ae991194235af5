"""``python -m napari_cryopick.cli``: the ``cryopick`` command."""

import sys

from napari_cryopick.cli import main

sys.exit(main())
