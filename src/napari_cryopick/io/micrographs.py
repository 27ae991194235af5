"""Reading micrographs (MRC, TIFF, PNG, JPG) into one small record.

Every reader returns a :class:`Micrograph`: a float32 ``(rows, cols)`` array,
the pixel size when the file knows it, and notes about anything that was
repaired on the way in (non-finite pixels, colour images). Problems with the
file itself raise :class:`MicrographError`, whose message starts with the path.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path

__all__ = [
    "MICROGRAPH_SUFFIXES",
    "Micrograph",
    "MicrographError",
    "is_tiff",
    "read_micrograph",
    "write_mrc",
]

logger = logging.getLogger(__name__)

MICROGRAPH_SUFFIXES: tuple[str, ...] = (".mrc", ".mrcs", ".tif", ".tiff", ".png", ".jpg", ".jpeg")

_MRC_SUFFIXES = (".mrc", ".mrcs")
_TIFF_SUFFIXES = (".tif", ".tiff")
_PLAIN_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_tiff(path: Any) -> bool:
    """Whether ``path`` names a TIFF file (``.tif``, ``.tiff``; None: no)."""
    return path is not None and Path(str(path)).suffix.lower() in _TIFF_SUFFIXES


def is_jpeg(path: Any) -> bool:
    """Whether ``path`` names a JPEG file (``.jpg``, ``.jpeg``; None: no)."""
    return path is not None and Path(str(path)).suffix.lower() in (".jpg", ".jpeg")


# ITU-R BT.709 luma weights, the ones scikit-image's rgb2gray uses.
_LUMA = np.array([0.2125, 0.7154, 0.0721])
_MOTION_CORRECTION_HINT = (
    "motion-correct the movie first (e.g. MotionCor2 or RELION's motioncorr) "
    "and open the summed micrograph; a stack of micrographs: one micrograph per file"
)


class MicrographError(ValueError):
    """A micrograph file that cannot be read; the message starts with its path."""


@dataclass(frozen=True, eq=False)
class Micrograph:
    """One 2D micrograph.

    Attributes
    ----------
    data
        float32 array of shape ``(rows, cols)``, every pixel finite.
    pixel_size
        Å per pixel when the file states it (MRC header), else ``None``.
    name
        File stem, the name pick tables use in their ``micrograph`` column.
    path
        Where it was read from, ``None`` for in-memory micrographs.
    notes
        Human-readable notes about repairs made while reading.
    """

    data: np.ndarray
    pixel_size: float | None = None
    name: str = ""
    path: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of :attr:`data`."""
        return tuple(self.data.shape)  # type: ignore[return-value]


def _error(path: Path, message: str) -> MicrographError:
    return MicrographError(f"{path}: {message}")


def read_micrograph(path: str | os.PathLike, *, quiet: bool = False) -> Micrograph:
    """Read a 2D micrograph from an MRC, TIFF, PNG or JPG file.

    Parameters
    ----------
    path
        File with one of :data:`MICROGRAPH_SUFFIXES` (case-insensitive).
    quiet
        Do not log the repairs (a file read again, already reported); they
        are in ``notes`` still.

    Returns
    -------
    Micrograph
        float32 ``(rows, cols)`` data. Colour images are converted to
        grayscale (BT.709 luma, alpha dropped); non-finite pixels are replaced
        by the median of the finite ones, which is reported in ``notes`` and
        logged as a warning. ``pixel_size`` comes from the MRC header
        (``voxel_size.x``) when it is positive and not exactly 1.0, the value
        many programs write when they do not know it; TIFF, PNG and JPG give
        ``None``.

    Raises
    ------
    MicrographError
        Missing, empty, truncated or corrupt file, unsupported suffix, a
        multi-frame movie (needs motion correction first), a 3D volume, or an
        image without any finite pixel.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MICROGRAPH_SUFFIXES:
        raise _error(
            path,
            f"unsupported micrograph suffix '{path.suffix}' "
            f"(supported: {', '.join(MICROGRAPH_SUFFIXES)})",
        )
    if not path.exists():
        raise _error(path, "file does not exist")
    if path.is_dir():
        raise _error(path, "is a folder, not a micrograph file")
    if path.stat().st_size == 0:
        raise _error(path, "file is empty (0 bytes)")

    notes: list[str] = []
    pixel_size: float | None = None
    if suffix in _MRC_SUFFIXES:
        data, pixel_size = _read_mrc(path, notes)
        if WRAPPED_BYTES_NOTE in notes:
            _log_once(path, WRAPPED_BYTES_NOTE, not quiet)
    elif suffix in _TIFF_SUFFIXES:
        data = _read_tiff(path, notes)
        for note in notes:  # (its other images left out: said as a warning, once)
            _log_once(path, note, not quiet)
    else:
        data = _read_plain_image(path)

    data = _to_grayscale(path, data, notes, not quiet)
    data = data.astype(np.float32, copy=False)
    # the extremes, in two passes without a temporary of the image's size (a GUI trial: a
    # 4096 px JPG's np.abs copy froze the viewer up to 0.13 s): NaN and infinity show there
    low, high = float(data.min()), float(data.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        data = _replace_non_finite(path, data, notes, not quiet)
        low, high = float(data.min()), float(data.max())
    data = _scale_huge(path, data, max(abs(low), abs(high)), notes, not quiet)
    return Micrograph(
        data=np.ascontiguousarray(data, dtype=np.float32),
        pixel_size=pixel_size,
        name=path.stem,
        path=path,
        notes=tuple(notes),
    )


#: ``imodStamp`` of a header IMOD wrote (the bytes "IMOD" as a little-endian int32).
IMOD_STAMP = 1146047817


def imod_stamp_and_flags(header: Any) -> tuple[int, int]:
    """``(imodStamp, imodFlags)`` of an MRC header: the int32 words at bytes 152 and 156
    (within mrcfile's unnamed ``extra2``), in the header's byte order."""
    raw = np.asarray(header["extra2"]).tobytes()
    order = ">" if header["mode"].dtype.byteorder == ">" else "<"
    stamp, flags = np.frombuffer(raw[40:48], dtype=f"{order}i4")
    return int(stamp), int(flags)


def _imod_unsigned_bytes(header: Any) -> bool:
    """Whether a mode-0 MRC holds unsigned bytes: IMOD (newstack, clip, SerialEM's byte
    saves) writes them so, stamping the header and leaving bit 0 of ``imodFlags``
    (signed bytes) clear. MRC2014 says mode 0 is signed, and mrcfile reads it so: a
    trial's IMOD byte micrograph read with every pixel above 127 wrapped to negative
    and was picked wrongly without a word."""
    try:
        stamp, flags = imod_stamp_and_flags(header)
    except (KeyError, ValueError, TypeError, IndexError):
        return False
    return stamp == IMOD_STAMP and not flags & 1


def _imod_stamped(header: Any) -> bool:
    try:
        return imod_stamp_and_flags(header)[0] == IMOD_STAMP
    except (KeyError, ValueError, TypeError, IndexError):
        return False


#: mrcfile's strict refusals of header words that older writers leave out: such files are
#: read again permissively, and kept only if the data then matches the header's size
#: and mode exactly (the other checks below apply as to any file).
_OLD_HEADER_WORDS = {
    "machine stamp": "no machine stamp (byte order taken from its mode word)",
    "map id": "no 'MAP ' identifier (an older MRC writer's)",
}


def _read_mrc(path: Path, notes: list[str]) -> tuple[np.ndarray, float | None]:
    try:
        return _read_mrc_as(path, notes, permissive=False)
    except MicrographError as error:
        said = str(error)[len(f"{path}: ") :].lower()  # mrcfile's words, not the path's
        if not any(word in said for word in _OLD_HEADER_WORDS):
            raise
        strict = error
    # (a CLI trial: a zeroed machine stamp and a header without "MAP " were refused as
    # "truncated or corrupt"; permissive reading checks the size and mode all the same)
    try:
        return _read_mrc_as(path, notes, permissive=True)
    except MicrographError as error:
        if "not a valid MRC file" in str(error):
            raise strict from None  # no MRC file after all: said as before (a review)
        raise  # an MRC file all the same: a stack, a volume, complex data, no pixels


def _read_mrc_as(
    path: Path, notes: list[str], *, permissive: bool
) -> tuple[np.ndarray, float | None]:
    import mrcfile

    try:
        with warnings.catch_warnings(record=True) as caught:
            # permissive=False turns real problems into exceptions; of the
            # warnings only the file's size matters (the rest are harmless
            # header oddities)
            warnings.simplefilter("always", RuntimeWarning)
            with mrcfile.open(path, mode="r", permissive=permissive) as mrc:
                if mrc.data is None:
                    # (permissive: a file too short, or a mode of no data type, leaves no
                    # data, with a warning saying why)
                    said = [str(w.message) for w in caught]
                    said = [m for m in said if "data block" in m] + said + ["no data block"]
                    raise ValueError(said[0])
                data = np.array(mrc.data)
                if data.dtype == np.int8 and _imod_unsigned_bytes(mrc.header):
                    data = data.view(np.uint8)
                elif (
                    data.dtype == np.int8
                    and not _imod_stamped(mrc.header)  # IMOD's flag says signed: so it is
                    and _wrapped_bytes(data)
                ):
                    data = data.view(np.uint8)
                    notes.append(WRAPPED_BYTES_NOTE)
                voxel_x = float(mrc.voxel_size.x)
                voxel_y = float(mrc.voxel_size.y)
                is_volume = bool(mrc.is_volume()) or bool(mrc.is_volume_stack())
                axes = (int(mrc.header.mapc), int(mrc.header.mapr))
    except (ValueError, OSError, EOFError) as exc:
        if "mode '101'" in str(exc):
            # a valid file of a mode mrcfile cannot read (a file-format trial read
            # "truncated or corrupt"): SerialEM's 4-bit packed frames
            raise _error(
                path,
                "MRC mode 101 (4-bit packed pixels, SerialEM's movie frames) is not read: "
                "motion-correct the frames into a micrograph, or convert it (IMOD: "
                "newstack -mode 0 IN OUT)",
            ) from None
        raise _error(
            path, f"not a valid MRC file (truncated or corrupt): {_first_line(exc)}"
        ) from None
    if permissive:  # which header words were missing, as mrcfile warned of them
        said = " ".join(str(w.message) for w in caught).lower()
        missing = [note for word, note in _OLD_HEADER_WORDS.items() if word in said]
        notes.append(
            f"header with {' and '.join(missing) or 'an older writer oddity'}: read all the "
            "same, its size and mode fit the data"
        )
    larger = [str(w.message) for w in caught if "larger than expected" in str(w.message)]
    if larger:
        # more data than the header's size and mode say: a wrong mode word reads
        # float32 pixels as int8 garbage (a fuzzing review), so nothing is guessed
        raise _error(
            path,
            f"not a valid MRC file: {larger[0]} from its header's size and mode "
            f"({'x'.join(map(str, data.shape[::-1]))}, {data.dtype}): wrong mode or corrupt",
        )

    if np.iscomplexobj(data):
        raise _error(path, "MRC holds complex (Fourier-space) data, not a micrograph")
    if data.size == 0:
        # a header without pixels (a write that failed or was interrupted) read as "a 3D
        # volume with 0 sections ... motion-correct the movie first" (a trial)
        raise _error(
            path,
            f"holds no pixels (header size {'x'.join(map(str, data.shape[::-1]))}): an "
            "interrupted or failed write?",
        )
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 3:
        frames = data.shape[0]
        if is_volume and Path(path).suffix.lower() != ".mrcs":  # .mrcs: a stack by name
            raise _error(
                path,
                f"is a 3D volume with {frames} sections, not a 2D micrograph "
                f"(if it is really a movie stored as a volume, {_MOTION_CORRECTION_HINT})",
            )
        raise _error(path, f"is a movie or stack with {frames} frames: {_MOTION_CORRECTION_HINT}")
    if data.ndim != 2:
        raise _error(path, f"has {data.ndim} dimensions, expected a 2D micrograph")
    if axes == (2, 1):
        # columns along y, rows along x (MAPC 2, MAPR 1): read as stored, a trial's picks
        # came out transposed, unsaid
        data = data.T
        notes.append("header axis order MAPC 2, MAPR 1 (columns along y): transposed")

    pixel_size = _stated_pixel_size(voxel_x)
    if voxel_x == PLACEHOLDER_PIXEL_SIZE:
        notes.append("header pixel size 1.0 Å treated as unknown (a common placeholder)")
    if (
        pixel_size is not None  # (first: voxel_x is > 0 then)
        and np.isfinite(voxel_y)
        and voxel_y > 0
        and abs(voxel_y / voxel_x - 1) > 0.01
    ):
        notes.append(
            f"header pixel sizes differ along x and y ({voxel_x:g} and {voxel_y:g} Å); "
            f"{voxel_x:g} Å (x) is used for diameters given in Å"
        )
    return data, pixel_size


#: The header pixel size many programs write when they know none: read as unknown.
PLACEHOLDER_PIXEL_SIZE = 1.0


def _stated_pixel_size(voxel_x: float) -> float | None:
    """The pixel size an MRC header's ``voxel_size.x`` states: None for 0, negative,
    non-finite values and the placeholder 1.0."""
    known = np.isfinite(voxel_x) and voxel_x > 0 and voxel_x != PLACEHOLDER_PIXEL_SIZE
    return float(voxel_x) if known else None


def _read_tiff(path: Path, notes: list[str] | None = None) -> np.ndarray:
    """The TIFF file's first image; ``notes`` gets a line naming the images of other
    sizes it holds besides (thumbnails, a review: read unsaid)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            # frames written one by one are series of their own: a trial's 3-frame
            # stack was picked on its first frame alone (thumbnails differ in shape)
            frames = sum(1 for other in tif.series if other.shape == series.shape)
            sizes = [other.shape for other in tif.series if other.shape != series.shape]
            data = series.asarray()
            photometric = series.pages[0].photometric
            keyframe = series.keyframe
            # alpha (associated or not); tifffile tags the planes of a grey stack as
            # unspecified extra samples, which stay frames
            extra_samples = sum(
                1 for extra in getattr(keyframe, "extrasamples", ()) or () if int(extra) in (1, 2)
            )
            samples = int(getattr(keyframe, "samplesperpixel", 1))
            white_is_zero = photometric == tifffile.PHOTOMETRIC.MINISWHITE
            # samples of a grey page (MINISBLACK / MINISWHITE) are frames, not colour
            grey_page = photometric in (
                tifffile.PHOTOMETRIC.MINISBLACK,
                tifffile.PHOTOMETRIC.MINISWHITE,
            )
    except Exception as exc:  # tifffile raises many types for bad files
        raise _error(path, f"not a readable TIFF image: {_first_line(exc)}") from None
    if frames > 1:
        raise _error(path, f"is a movie or stack with {frames} frames: {_MOTION_CORRECTION_HINT}")
    if sizes and notes is not None:
        shown = ", ".join("x".join(map(str, size)) for size in sizes[:3])
        notes.append(
            f"{len(sizes)} more image(s) of other sizes in the file ({shown}; thumbnails?) "
            f"left out: the first, {'x'.join(map(str, data.shape))}, is read"
        )
    if np.iscomplexobj(data):
        raise _error(path, "TIFF holds complex (Fourier-space) data, not a micrograph")
    while data.ndim > 2 and data.shape[0] == 1:
        data, axes = data[0], axes[1:]
    if grey_page and "S" in axes and extra_samples and samples - extra_samples == 1:
        # grey plus alpha: the first sample is the
        # image (a trial's grey + alpha TIFF was refused as "a movie with 64 frames");
        # kept as (y, x, 2) so that the conversion to grey drops the rest and says so
        data = np.moveaxis(data, axes.index("S"), -1)[..., :2]
        axes = axes.replace("S", "") + "S"
        if data.ndim == 3:
            if white_is_zero:
                grey = data[..., 0]
                data = data.copy()
                data[..., 0] = np.iinfo(grey.dtype).max - grey if grey.dtype.kind == "u" else -grey
            return data
    # colour stored as planes; tifffile stores any (3, y, x) array so, and planes of
    # floating-point or 16-bit samples are a stack of 3 frames (a trial's were averaged
    # as colour), unless they are equal (grey stored as colour)
    # colour stored interleaved on a grey page: frames too (moved first, as planes)
    if data.ndim == 3 and grey_page and axes.endswith("S") and data.shape[-1] in (3, 4):
        data, axes = np.moveaxis(data, -1, 0), "S" + axes[:-1]
    planes = data.ndim == 3 and axes.startswith("S") and data.shape[0] in (3, 4)
    # 8-bit planes of a grey page too (a trial's 3- and 4-frame 8-bit movies tagged
    # MINISBLACK were read as colour: frames mixed as luma, the 4th dropped as alpha)
    frames_not_colour = planes and (data.dtype.kind == "f" or data.dtype.itemsize > 1 or grey_page)
    if frames_not_colour and all(np.array_equal(data[0], plane) for plane in data[1:3]):
        frames_not_colour = False
    if planes and not frames_not_colour:
        data, axes = np.moveaxis(data, 0, -1), axes[1:] + "S"
    elif planes:
        axes = "I" + axes[1:]
    colour = axes.endswith("S") and data.shape[-1] in (3, 4)
    if data.ndim == 3 and not colour:
        count = data.shape[-1] if axes.endswith("S") else data.shape[0]
        raise _error(path, f"is a movie or stack with {count} frames: {_MOTION_CORRECTION_HINT}")
    if data.ndim > 3 or (data.ndim == 3 and not colour):
        raise _error(path, f"has shape {data.shape}, expected a 2D micrograph")
    if white_is_zero and data.ndim == 2:
        # "white is zero" (photometric MINISWHITE): viewers show the values inverted; read
        # as stored, a trial's model picked nothing and napari showed it inverted
        if data.dtype.kind == "b":  # (a 1-bit image: numpy negates no booleans)
            data = ~data
        else:
            data = np.iinfo(data.dtype).max - data if data.dtype.kind == "u" else -data
    return data


# File signatures ("magic numbers") of the plain image formats.
_SIGNATURES = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_plain_image(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    kind = path.suffix.lstrip(".").upper()
    with path.open("rb") as stream:
        head = stream.read(8)
    if not head.startswith(_SIGNATURES[path.suffix.lower()]):
        raise _error(
            path, f"not a readable {kind} image (the file does not start with the {kind} signature)"
        )
    try:
        data = iio.imread(path)
        if data.ndim == 3 and data.shape[-1] == 4 and _is_cmyk(path):
            # read as RGBA its ink channels gave "every pixel is 0" (a trial): Pillow
            # converts print colours to grey
            data = iio.imread(path, mode="L")
    except Exception as exc:  # Pillow/imageio raise many types for non-images
        # one line: imageio appends install hints for other backends
        raise _error(path, f"not a readable {kind} image: {_first_line(exc)}") from None
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[-1] not in (1, 2, 3, 4):
        raise _error(path, f"is an animated image with {data.shape[0]} frames, expected one")
    return data


def _is_cmyk(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as image:
        return image.mode == "CMYK"


#: Channels of a colour micrograph that differ by more than this share of the image's
#: spread (mean absolute difference over the luma's standard deviation) are said: a
#: micrograph stored as colour has equal channels, or nearly (JPEG's chroma).
CHANNELS_APART = 0.2


def _to_grayscale(path: Path, data: np.ndarray, notes: list[str], log: bool = True) -> np.ndarray:
    """``data`` as one grey image. A colour image's conversion, and an alpha channel
    dropped that is not the same everywhere, are logged (once a process) when its
    channels differ: a file-format trial's 4-frame 8-bit TIFF stack, which tifffile
    writes as planar RGBA, was picked as colour, frames mixed as luma and the 4th
    dropped as alpha, with a note nobody saw."""
    if data.ndim == 2:
        return data
    if data.ndim == 3 and data.shape[-1] in (1, 2):  # gray or gray + alpha
        if data.shape[-1] == 2:
            notes.append("dropped the alpha channel")
        return data[..., 0]
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        channels = data[..., :3].astype(np.float64)
        if np.array_equal(channels[..., 0], channels[..., 1]) and np.array_equal(
            channels[..., 0], channels[..., 2]
        ):
            if data.shape[-1] == 4:
                notes.append("dropped the alpha channel")
            notes.append("colour image with equal channels read as grayscale")
            return channels[..., 0]
        grey = channels @ _LUMA
        spread = float(grey.std()) or 1.0
        apart = max(
            float(np.mean(np.abs(channels[..., i] - channels[..., j]))) / spread
            for i, j in ((0, 1), (0, 2), (1, 2))
        )
        alpha = data[..., 3] if data.shape[-1] == 4 else None
        varied = alpha is not None and bool(np.any(alpha != alpha.flat[0]))
        if varied:
            note = "dropped the alpha channel (not the same everywhere: a 4th frame of a stack?)"
            _say(path, notes, note, log)
        elif alpha is not None:
            notes.append("dropped the alpha channel")
        note = "converted colour image to grayscale (BT.709 luma)"
        if apart > CHANNELS_APART:
            _say(
                path,
                notes,
                f"{note}; its channels differ ({apart:.2g} of the image's spread apart): if "
                f"they are frames of a stack, {_MOTION_CORRECTION_HINT}",
                log,
            )
        else:
            notes.append(note)
        return grey
    raise _error(path, f"has shape {data.shape}, expected a 2D micrograph")


#: What reading a mode-0 MRC says when its bytes are read unsigned (:func:`_wrapped_bytes`).
WRAPPED_BYTES_NOTE = (
    "read as unsigned bytes (0-255): as the signed bytes MRC2014 says mode 0 holds, its "
    "pixels wrap around at 127/-128 (the background split between both ends); no IMOD "
    "stamp says which"
)


def _wrapped_bytes(data: np.ndarray) -> bool:
    """Whether mode-0 bytes without IMOD's stamp look unsigned.

    Read as signed, an image whose background lies near 128 wraps between 127 and -128
    wherever neighbouring pixels straddle 128: a step of ``d`` becomes one of ``256 - d``
    (a trial's unsigned byte micrograph, read as MRC2014 says, gave 3 picks and AP 0
    without a word). Signed data (near 0) wrap the other way, read as unsigned. So the
    reading whose neighbouring pixels differ less in sum is the file's; this holds
    whatever the contrast (a re-trial's unsigned image of spread 50, saturated at both
    ends, passed the earlier test of spreads). A tie (an image of nearly only 0 and 255)
    stays signed, as MRC2014 says.
    """
    sample = data[:: max(1, data.shape[0] // 512), :: max(1, data.shape[1] // 512)]

    def steps(values: np.ndarray) -> int:
        return int(np.abs(np.diff(values.astype(np.int16), axis=-1)).sum())

    return steps(sample.view(np.uint8)) < 0.75 * steps(sample.view(np.int8))


#: Pixel magnitudes above which a micrograph is scaled before filtering (a float32 FFT
#: of a few million such pixels overflows).
HUGE_PIXEL = 1e20


def _scale_huge(
    path: Path, data: np.ndarray, peak: float, notes: list[str], log: bool
) -> np.ndarray:
    """Scale by a power of two a micrograph whose pixels reach :data:`HUGE_PIXEL` (a
    trial's ±3e38 image resampled to NaN and gave no picks without a word); said.
    ``peak``: the largest absolute pixel value."""
    if not peak > HUGE_PIXEL:
        return data
    exponent = math.ceil(math.log2(peak))
    data = np.ldexp(data, -exponent).astype(np.float32)
    _say(
        path,
        notes,
        f"pixel values up to {peak:.3g} (a corrupt or mis-scaled file?): scaled by 2^-{exponent}",
        log,
    )
    return data


def _say(path: Path, notes: list[str], note: str, log: bool) -> None:
    """Keep ``note`` with the micrograph, and log it once a process."""
    notes.append(note)
    _log_once(path, note, log)


def _log_once(path: Path, note: str, log: bool) -> None:
    said = (str(Path(path).absolute()), note)
    if log and said not in _SAID:  # once a process: a zero-shot run reads a file twice
        _SAID.add(said)
        logger.warning("%s: %s", path, note)


def _replace_non_finite(
    path: Path, data: np.ndarray, notes: list[str], log: bool = True
) -> np.ndarray:
    finite = np.isfinite(data)
    if finite.all():
        return data
    if not finite.any():
        raise _error(path, "has no finite pixel (all NaN or infinite)")
    count = int(data.size - finite.sum())
    median = float(np.median(data[finite]))
    data = np.where(finite, data, np.float32(median)).astype(np.float32)
    _say(path, notes, f"replaced {count} non-finite pixels by the median {median:.6g}", log)
    return data


#: ``(file, repair)`` pairs already logged by this process (a trial saw one file's NaN
#: warning twice: the zero-shot search's reading, then picking's).
_SAID: set[tuple[str, str]] = set()


def header_pixel_size(path: str | os.PathLike) -> float | None:
    """The pixel size (Å) an MRC file's header states, read as :func:`read_micrograph`
    reads it (0, 1.0, a common placeholder, and non-finite values are unknown); None
    also for other formats and for a file that cannot be opened (its reading says why)."""
    import mrcfile

    if Path(path).suffix.lower() not in (".mrc", ".mrcs"):
        return None
    try:
        with mrcfile.open(path, header_only=True, permissive=True) as opened:
            return _stated_pixel_size(float(opened.voxel_size.x))
    except (OSError, ValueError):
        return None


def mrc_shorter_than_header(path: str | os.PathLike, size: int | None = None) -> bool:
    """Whether an MRC file holds fewer bytes than its header says its data take, or not
    even the 1024 of a header: a copy still arriving (or a file cut short). False for
    other formats, and for a header that cannot be read or makes no sense (reading it
    then says what is wrong).

    ``size``: the file's size when known (a scan's), else read from the file system.
    """
    import mrcfile
    from mrcfile.utils import data_dtype_from_header

    if Path(path).suffix.lower() not in (".mrc", ".mrcs"):
        return False
    try:
        size = os.path.getsize(path) if size is None else size
        if size < 1024:
            return True  # not even the header yet (an empty file just created)
        with warnings.catch_warnings():  # (a file that is no MRC: its reading says so)
            warnings.simplefilter("ignore")
            opened = mrcfile.open(path, header_only=True, permissive=True)
        with opened:
            header = opened.header
            shape = [int(header.nx), int(header.ny), int(header.nz)]
            extended = int(header.nsymbt)
            itemsize = data_dtype_from_header(header).itemsize
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    if min(shape) < 1 or extended < 0:
        return False
    return size < 1024 + extended + math.prod(shape) * itemsize


def write_mrc(path: str | os.PathLike, data: np.ndarray, pixel_size: float | None = None) -> Path:
    """Write a 2D array as a float32 MRC file.

    Parameters
    ----------
    path
        Destination (overwritten if it exists).
    data
        ``(rows, cols)`` array.
    pixel_size
        Å per pixel written to the header voxel size; ``None`` leaves it 0
        (unknown).

    Returns
    -------
    pathlib.Path
        ``path``, written atomically (:mod:`napari_cryopick.io.atomic`): it
        appears complete or not at all.
    """
    import mrcfile

    path = Path(path)
    array = np.asarray(data, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"write_mrc expects a 2D array, got shape {array.shape}")
    with atomic_path(path) as temporary, mrcfile.new(temporary, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(array))
        if pixel_size is not None:
            mrc.voxel_size = float(pixel_size)
    return path


#: How far (as a ratio) a micrograph list's pixel size may be from the MRC header's unsaid.
PIXEL_SIZE_TOLERANCE = 0.1


def listed_pixel_size_warning(
    listing: str | os.PathLike,
    sizes: dict,
    why: str = "",
    checked: int = 5,
) -> str | None:
    """What to say when a micrograph list's pixel sizes (``{file: Å/px}``) are not the MRC
    headers' (more than :data:`PIXEL_SIZE_TOLERANCE` apart). None: they agree, or nothing
    to compare. The first ``checked`` MRC files are opened (header only), and the first
    file of each other pixel size the list gives: a CLI trial's wrong size in a RELION
    list's second optics group went unsaid, its first five micrographs all of group 1."""
    import mrcfile

    tried = 0
    seen: set[float] = set()
    opened_of: dict[float, int] = {}  # headers opened per listed size
    for path, listed in sizes.items():
        if not listed or Path(path).suffix.lower() != ".mrc":
            continue
        if tried >= checked and float(listed) in seen:
            continue  # (a list of thousands: a few MRC files of each pixel size only)
        if opened_of.get(float(listed), 0) >= checked:
            continue  # (its headers unreadable or the placeholder: every one was opened)
        if len(seen) >= 100:
            break
        opened_of[float(listed)] = opened_of.get(float(listed), 0) + 1
        try:
            with mrcfile.open(path, header_only=True, permissive=True) as opened:
                header = float(opened.voxel_size.x)
        except (OSError, ValueError):
            continue  # the file's own problem is said when it is read (the next one checked)
        if header <= 0 or header == 1.0:
            continue  # none, or the 1.0 Å placeholder: nothing to compare with
        tried += 1
        seen.add(float(listed))
        if abs(float(listed) / header - 1.0) > PIXEL_SIZE_TOLERANCE:
            return (
                f"{listing} gives {path} a pixel size of {float(listed):g} A, its MRC header "
                f"{header:g} A: the list's is used{f' ({why})' if why else ''}, and "
                "diameters in A become pixels with it; if the header is right, the list is "
                "not (RELION: the optics table's rlnMicrographPixelSize; cryoSPARC: psize_A)"
            )
    return None
