"""RELION project files: micrograph lists in, coordinate files and job markers out.

What an External job needs from a RELION 3.0, 3.1, 4 or 5 project:

- :func:`read_micrographs_star` reads ``micrographs_ctf.star`` (or any
  micrograph list: ``corrected_micrographs.star``, ``micrographs_selected.star``)
  and the pixel size of every micrograph. RELION 3.1+ keeps it in the
  ``data_optics`` table (``rlnMicrographPixelSize``, joined on
  ``rlnOpticsGroup``); RELION 3.0 files have one loop block and, at most,
  ``rlnDetectorPixelSize`` (micrometres) and ``rlnMagnification`` per row.
- :func:`coordinate_file_path` names the per-micrograph coordinate file the
  way RELION's own picker does: the input's folders below its job folder are
  mirrored below the output job folder, so ``MotionCorr/job002/Movies/a.mrc``
  becomes ``<JOBDIR>/Movies/a_autopick.star`` and two micrographs with one
  name in different folders never share a file.
- :func:`write_coordinate_files_star` writes ``<JOBDIR>/autopick.star``, the
  ``data_coordinate_files`` table (``rlnMicrographName``,
  ``rlnMicrographCoordinates``) RELION 4/5 Extract jobs take as input.
- :func:`write_output_nodes` and :func:`write_exit_marker` are the RELION
  External-job contract: ``RELION_OUTPUT_NODES.star`` declares the job's
  output node, ``RELION_JOB_EXIT_SUCCESS`` / ``_FAILURE`` / ``_ABORTED`` tell
  the GUI how the job ended, and ``RELION_JOB_ABORT_NOW`` (written by the GUI)
  asks it to stop (:func:`abort_requested`).

Every file is written atomically (:mod:`napari_cryopick.io.atomic`).
Paths inside RELION files are relative to the project folder, RELION's
working directory.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from .atomic import atomic_write_text
from .formats import RELION_TYPE_SUFFIX, star_block, star_loop_problem, starfile_read

__all__ = [
    "ABORT_NOW",
    "COORDINATES_NODE_TYPE",
    "EXIT_MARKERS",
    "RelionMicrograph",
    "RelionStarError",
    "abort_requested",
    "clear_exit_markers",
    "coordinate_file_path",
    "read_micrographs_star",
    "write_coordinate_files_star",
    "write_exit_marker",
    "write_output_nodes",
]

#: Marker files of a finished External job, by outcome.
EXIT_MARKERS: dict[str, str] = {
    "success": "RELION_JOB_EXIT_SUCCESS",
    "failure": "RELION_JOB_EXIT_FAILURE",
    "aborted": "RELION_JOB_EXIT_ABORTED",
}
#: The suffixes picking programs add to a micrograph's stem in its coordinate file's
#: name: RELION's AutoPick and ManualPick (``mic_autopick.star``,
#: ``mic_manualpick.star``) and the short ``mic_pick.star``. ``cryopick cryosparc
#: export`` and ``cryopick relion --coords`` take a file of that name for ``mic``.
COORDINATE_SUFFIXES = ("_autopick", "_manualpick", "_pick")
#: Written by the RELION GUI into the job folder when the user presses "Abort".
ABORT_NOW = "RELION_JOB_ABORT_NOW"
#: RELION 4/5 node type label of a coordinate-file list (as AutoPick's own output).
COORDINATES_NODE_TYPE = "MicrographsCoords.star.relion.autopick"
#: RELION 3.1 used integer node types; 2 is a coordinate list.
_COORDINATES_NODE_TYPE_31 = "2"
_VERSION_LINE = "# version 30001"
# "<...>/jobNNN/rest": RELION's pipeline file names. As its decomposePipelineFileName, the
# first "/jobNNN/" anywhere (RELION 3.1's Extract finds coordinate files so: a pipeline
# trial's ../proj/MotionCorr/job002/Movies/a.mrc was written below proj/MotionCorr/...,
# where Extract looked in Movies/), also in an absolute name.
_PIPELINE_NAME = re.compile(r"/job\d{3,}/(.+)$")


class RelionStarError(ValueError):
    """A RELION STAR file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class RelionMicrograph:
    """One row of a RELION micrograph list.

    Attributes
    ----------
    name
        ``rlnMicrographName`` as written (relative to the project folder).
    path
        The micrograph file: ``name`` resolved against the project folder.
    pixel_size
        Angstrom per pixel from the optics table (RELION 3.1+) or the
        detector pixel size and magnification (RELION 3.0); ``None`` when the
        file has neither (the MRC header is then used).
    optics_group
        ``rlnOpticsGroup`` (0 where the file has none).
    """

    name: str
    path: Path
    pixel_size: float | None
    optics_group: int = 0


def _error(path: Path, message: str) -> RelionStarError:
    return RelionStarError(f"{path}: {message}")


def _loop_problem(path: Path) -> str:
    try:
        return star_loop_problem(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def _read_blocks(path: Path) -> dict[str, object]:
    if not path.is_file():
        raise _error(path, "no such file")
    needs = "a micrograph list needs a loop_ with _rlnMicrographName"
    try:
        blocks = starfile_read(path)
    except Exception as exc:  # starfile/pandas raise many types on malformed text
        # starfile's own words only where no line is found wrong (a trial read its
        # internals: "cannot unpack non-iterable NoneType object")
        problem = _loop_problem(path) or f"the STAR reader said: {exc}"
        raise _error(path, f"not a valid STAR file ({problem}); {needs}") from None
    if not blocks:
        raise _error(path, f"no STAR data block found; {needs}")
    problem = _loop_problem(path)
    if problem:
        raise _error(path, f"not a valid STAR file ({problem}); {needs}")
    return {
        name: (pd.DataFrame([block]) if isinstance(block, dict) else block)
        for name, block in blocks.items()
    }


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _pixel_size(path: Path, value: object, where: str) -> float | None:
    """A pixel size column's value: None where the column is absent, else a positive
    number; any other value is an error naming the file (an I/O trial's ``abc``, ``-4``
    and ``nan`` fell back to the headers' sizes without a word)."""
    if value is None:
        return None
    size = _positive(value)
    if size is None:
        from napari_cryopick.io.formats import value_text

        raise _error(
            path, f"{where}: rlnMicrographPixelSize {value_text(value)} is not a positive number"
        )
    return size


def _micrograph_block(path: Path, blocks: dict[str, object]) -> pd.DataFrame:
    # RELION 3.1+: data_micrographs; 3.0: one unnamed block. Any block with names will do.
    names = sorted(blocks, key=lambda name: name != "micrographs")
    for name in names:
        block = blocks[name]
        if isinstance(block, pd.DataFrame) and "rlnMicrographName" in block.columns:
            return block
    found = ", ".join(f"data_{name}" for name in blocks) or "none"
    raise _error(path, f"no block with rlnMicrographName (blocks found: {found})")


def _optics_pixel_sizes(path: Path, blocks: dict[str, object]) -> dict[int, float]:
    optics = blocks.get("optics")
    if not isinstance(optics, pd.DataFrame) or "rlnOpticsGroup" not in optics.columns:
        return {}
    sizes: dict[int, float] = {}
    for _, row in optics.iterrows():
        where = f"data_optics, optics group {row['rlnOpticsGroup']}"
        size = _pixel_size(path, row.get("rlnMicrographPixelSize"), where)
        if size is None:
            # A movie list has only the movies' pixel size; micrograph lists have both.
            size = _positive(row.get("rlnMicrographOriginalPixelSize"))
        if size is None:
            continue
        group = int(row["rlnOpticsGroup"])
        if group in sizes and not math.isclose(sizes[group], size, rel_tol=1e-6):
            # (the last row won, unsaid; RELION takes the first)
            raise _error(
                path,
                f"data_optics gives optics group {group} twice, with pixel sizes "
                f"{sizes[group]:g} and {size:g} A: keep one row per group",
            )
        sizes.setdefault(group, size)
    return sizes


def star_micrograph_pixel_sizes(path: str | os.PathLike) -> dict[str, float]:
    """``{micrograph file stem: Å/px}`` that a STAR pick file gives its rows'
    micrographs with ``rlnMicrographPixelSize`` (a RELION 3.1+ particles file: in its
    optics table, joined on ``rlnOpticsGroup``, or per row). Only that column counts:
    ``rlnImagePixelSize`` is the extracted particles', ``rlnMicrographOriginalPixelSize``
    the movies' (coordinates are in the micrographs' pixels). Empty for a file that gives
    none, or that is no readable STAR file (its picks' reader says why)."""
    try:
        blocks = _read_blocks(Path(path))
        block = _micrograph_block(Path(path), blocks)
    except (RelionStarError, OSError, ValueError):
        return {}
    optics = blocks.get("optics")
    groups: dict[int, float] = {}
    if isinstance(optics, pd.DataFrame) and {"rlnOpticsGroup", "rlnMicrographPixelSize"} <= set(
        optics.columns
    ):
        for group, size in zip(optics["rlnOpticsGroup"], optics["rlnMicrographPixelSize"]):
            value = _positive(size)
            if value is not None:
                groups.setdefault(int(group), value)
    sizes: dict[str, float] = {}
    rows = block.to_dict("records")
    for row in rows:
        value = _positive(row.get("rlnMicrographPixelSize"))
        if value is None and "rlnOpticsGroup" in row:
            try:
                value = groups.get(int(row["rlnOpticsGroup"]))
            except (TypeError, ValueError):
                value = None
        if value is None:
            continue
        name = RELION_TYPE_SUFFIX.sub("", str(row["rlnMicrographName"]).strip())
        sizes.setdefault(PurePosixPath(name).stem, value)
    return sizes


def read_micrographs_star(
    path: str | os.PathLike, project_dir: str | os.PathLike | None = None
) -> list[RelionMicrograph]:
    """Read a RELION micrograph list (RELION 3.0 or 3.1+ layout).

    Parameters
    ----------
    path
        ``micrographs_ctf.star``, ``corrected_micrographs.star``, ...
    project_dir
        RELION project folder the names are relative to (default: the
        current folder, where RELION starts External jobs).

    Returns
    -------
    list of RelionMicrograph
        In file order; duplicates names are kept (the caller decides).

    Raises
    ------
    RelionStarError
        The file is missing, not STAR, has no ``rlnMicrographName`` column or
        names an optics group the optics table lacks.
    """
    path = Path(path)
    project = Path(project_dir) if project_dir is not None else Path.cwd()
    blocks = _read_blocks(path)
    block = _micrograph_block(path, blocks)
    optics = _optics_pixel_sizes(path, blocks)
    has_groups = "rlnOpticsGroup" in block.columns
    micrographs: list[RelionMicrograph] = []
    for index, row in enumerate(block.to_dict("records"), start=1):
        name = str(row["rlnMicrographName"]).strip()
        if not name or name == "<NA>":
            raise _error(path, f"row {index}: empty rlnMicrographName")
        group = int(row["rlnOpticsGroup"]) if has_groups else 0
        pixel_size = _pixel_size(path, row.get("rlnMicrographPixelSize"), f"row {index}")
        if pixel_size is None and has_groups and optics:
            if group not in optics:
                raise _error(
                    path,
                    f"row {index}: optics group {group} is not in data_optics "
                    f"(groups: {', '.join(map(str, sorted(optics)))})",
                )
            pixel_size = optics[group]
        if pixel_size is None:
            detector_um = _positive(row.get("rlnDetectorPixelSize"))
            magnification = _positive(row.get("rlnMagnification"))
            if detector_um and magnification:
                pixel_size = detector_um * 1e4 / magnification
        # the file without RELION's type suffix (mic.mrc:mrc, a review); the name as given
        stored = RELION_TYPE_SUFFIX.sub("", name)
        file = Path(stored) if Path(stored).is_absolute() else project / stored
        micrographs.append(RelionMicrograph(name, file, pixel_size, group))
    return micrographs


def _mirrored_part(micrograph_name: str) -> PurePosixPath:
    """The part of a micrograph name that is mirrored below the output job folder."""
    name = micrograph_name.replace("\\", "/")
    # (an absolute name inside a project, /data/proj/MotionCorr/job009/Movies/a.mrc, is
    # mirrored as the relative one, Movies/a.mrc, not as its whole path: a trial)
    match = _PIPELINE_NAME.search(name)
    rest = match.group(1) if match else name
    # no absolute paths and no escapes out of the job folder
    parts = [part for part in PurePosixPath(rest).parts if part not in ("/", "", ".", "..")]
    return PurePosixPath(*parts)


def coordinate_file_path(
    job_dir: str | os.PathLike, micrograph_name: str, suffix: str = "_autopick.star"
) -> Path:
    """Per-micrograph coordinate file of ``micrograph_name`` in ``job_dir``.

    ``MotionCorr/job002/Movies/a.mrc`` -> ``<job_dir>/Movies/a_autopick.star``
    (RELION's ``<Process>/jobNNN/`` prefix is dropped, the folders below it
    are kept), also in an absolute name. Names outside a job folder keep all
    their folders; an absolute one outside keeps its folders below the root,
    and ``..`` parts are dropped, so the file always lies inside ``job_dir``.
    """
    mirrored = _mirrored_part(micrograph_name)
    stem = mirrored.name
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    return Path(job_dir) / mirrored.parent / f"{stem}{suffix}"


def _project_relative(path: Path, project_dir: Path) -> str:
    """``path`` as RELION writes it: relative to the project folder where possible."""
    try:
        return Path(os.path.relpath(path.resolve(), project_dir.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def write_coordinate_files_star(
    job_dir: str | os.PathLike,
    entries: list[tuple[str, str | os.PathLike]],
    project_dir: str | os.PathLike | None = None,
    name: str = "autopick.star",
    *,
    absolute: bool = False,
) -> Path:
    """Write ``<job_dir>/autopick.star``: which coordinate file belongs to which micrograph.

    Parameters
    ----------
    job_dir
        The job folder (``--o``).
    entries
        ``(rlnMicrographName, coordinate file)`` pairs, in the order to write.
    project_dir
        Folder the coordinate paths are written relative to (default: the
        current folder).
    name
        File name inside ``job_dir``.
    absolute
        Write absolute paths (files outside the project folder, or an index
        that listed absolute paths) instead of project-relative ones.
    """
    project = Path(project_dir) if project_dir is not None else Path.cwd()
    rows = [
        (
            micrograph,
            Path(coordinates).resolve().as_posix()
            if absolute
            else _project_relative(Path(coordinates), project),
        )
        for micrograph, coordinates in entries
    ]
    text = (
        "\n"
        + _VERSION_LINE
        + "\n"
        + star_block("coordinate_files", ["rlnMicrographName", "rlnMicrographCoordinates"], rows)
    )
    return atomic_write_text(Path(job_dir) / name, text)


def write_output_nodes(
    job_dir: str | os.PathLike,
    node: str | os.PathLike,
    project_dir: str | os.PathLike | None = None,
    *,
    relion31: bool = False,
) -> Path:
    """Write ``RELION_OUTPUT_NODES.star`` declaring ``node`` as a coordinate list.

    RELION 4/5 read ``rlnPipeLineNodeTypeLabel``
    (``MicrographsCoords.star.relion.autopick``); ``relion31=True`` writes
    RELION 3.1's integer ``rlnPipeLineNodeType`` (2) instead.
    """
    project = Path(project_dir) if project_dir is not None else Path.cwd()
    node_name = _project_relative(Path(node), project)
    if relion31:
        label, value = "rlnPipeLineNodeType", _COORDINATES_NODE_TYPE_31
    else:
        label, value = "rlnPipeLineNodeTypeLabel", COORDINATES_NODE_TYPE
    text = (
        "\n"
        + _VERSION_LINE
        + "\n"
        + star_block("output_nodes", ["rlnPipeLineNodeName", label], [(node_name, value)])
    )
    return atomic_write_text(Path(job_dir) / "RELION_OUTPUT_NODES.star", text)


def clear_exit_markers(job_dir: str | os.PathLike) -> None:
    """Remove the exit markers of an earlier run of the job, not an abort request: one
    made while the job waited in a queue stops it as it starts (RELION's
    ``pipeline_control_delete_exit_files`` leaves it too; a pipeline trial's queued job,
    aborted, ran to the end and said success)."""
    for marker in EXIT_MARKERS.values():
        (Path(job_dir) / marker).unlink(missing_ok=True)


def clear_abort_request(pipeline_control: str | os.PathLike | None) -> None:
    """Remove ``RELION_JOB_ABORT_NOW`` once the job has stopped for it, as RELION's
    External-job rules ask (create ``RELION_JOB_EXIT_ABORTED``, remove the request)."""
    if pipeline_control is not None:
        (Path(pipeline_control) / ABORT_NOW).unlink(missing_ok=True)


def write_exit_marker(job_dir: str | os.PathLike, outcome: str) -> Path:
    """Write the ``RELION_JOB_EXIT_*`` file of ``outcome`` (success, failure, aborted)."""
    if outcome not in EXIT_MARKERS:
        raise ValueError(f"outcome must be one of {', '.join(EXIT_MARKERS)}, got {outcome!r}")
    for other in EXIT_MARKERS.values():
        (Path(job_dir) / other).unlink(missing_ok=True)
    return atomic_write_text(Path(job_dir) / EXIT_MARKERS[outcome], "")


def abort_requested(pipeline_control: str | os.PathLike | None) -> bool:
    """Whether the RELION GUI asked the job to stop (``RELION_JOB_ABORT_NOW``)."""
    return pipeline_control is not None and (Path(pipeline_control) / ABORT_NOW).exists()
