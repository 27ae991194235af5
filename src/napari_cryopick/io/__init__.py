"""File input and output: micrographs and pick files (no napari, no Qt)."""

from .micrographs import (
    MICROGRAPH_SUFFIXES,
    Micrograph,
    MicrographError,
    read_micrograph,
    write_mrc,
)
from .pickfiles import (
    FORMATS,
    PickFileError,
    detect_format,
    read_picks,
    write_picks,
    write_picks_per_micrograph,
)

__all__ = [
    "FORMATS",
    "MICROGRAPH_SUFFIXES",
    "Micrograph",
    "MicrographError",
    "PickFileError",
    "detect_format",
    "read_micrograph",
    "read_picks",
    "write_mrc",
    "write_picks",
    "write_picks_per_micrograph",
]
