"""cryoSPARC particles ``.cs`` files, read as pick files (read only).

A particles ``.cs`` file (``J*_particles*.cs``, ``*_passthrough_particles*.cs``,
an exported ``*_exported.cs``) holds the locations of every particle of a
job across its micrographs: :func:`napari_cryopick.io.cryosparc.read_particles`
turns them into picks (``x = center_x_frac * nx``, ``y = center_y_frac * ny``,
the ``pick_stats/ncc_score`` as score). The micrograph of each pick is the
stem of ``location/micrograph_path`` *as written*, cryoSPARC's UID prefix
included: the stem of the micrograph file the picks belong to, which is
also the name of that micrograph when it is picked or trained on from an
exposures ``.cs`` list. Particles without a path (an empty ``micrograph_path``) of
several ``location/micrograph_uid``, or beside particles with paths, are named by their
uid, said (a CLI trial's were one micrograph's, named after the file); of one uid in a
file without paths, after the file, as before.

cryoSPARC reads picks back from one STAR file across micrographs
(:func:`napari_cryopick.io.cryosparc.write_import_star`, ``cryopick cryosparc
export``), so this module only reads.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import check_readable, file_error

NAME = "cryosparc"
SUFFIXES: tuple[str, ...] = (".cs",)


def read(path: str | Path) -> pd.DataFrame:
    """Particle locations of a cryoSPARC particles ``.cs`` file as a pick table.

    Raises
    ------
    PickFileError
        Not a ``.cs`` file, an exposures list, or particles without locations.
    """
    from ..cryosparc import CryosparcError, is_exposures, read_cs, read_particles

    path = Path(path)
    check_readable(path)
    try:
        if is_exposures(read_cs(path)):
            raise file_error(
                path,
                "lists exposures (micrographs), not particles: give it as micrographs",
            )
        return read_particles(path, strip_uid=False)
    except CryosparcError as error:
        raise file_error(path, str(error).removeprefix(f"{path}: ")) from None


def write(table: pd.DataFrame, path: str | Path, **options) -> None:
    """Refused: cryoSPARC imports picks from one STAR file (``cryopick cryosparc export``)."""
    raise file_error(
        path,
        "cryoSPARC .cs files are read only; write picks for cryoSPARC with "
        "'cryopick cryosparc export' (one STAR file across micrographs)",
    )
