"""Micrograph reading: every format, every error case, one real file."""

from __future__ import annotations

import logging

import imageio.v3 as iio
import mrcfile
import numpy as np
import pytest
import tifffile

from napari_cryopick.io.micrographs import (
    MICROGRAPH_SUFFIXES,
    Micrograph,
    MicrographError,
    imod_stamp_and_flags,
    read_micrograph,
    write_mrc,
)


def ramp(rows: int = 24, cols: int = 32) -> np.ndarray:
    return np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) / 7.0 - 20.0


# --- formats ------------------------------------------------------------------


def test_mrc_round_trip_with_pixel_size(tmp_path):
    data = ramp()
    path = write_mrc(tmp_path / "mic_001.mrc", data, pixel_size=1.34)
    micrograph = read_micrograph(path)
    assert isinstance(micrograph, Micrograph)
    assert micrograph.data.dtype == np.float32
    assert micrograph.data.shape == (24, 32)
    np.testing.assert_array_equal(micrograph.data, data)
    assert micrograph.pixel_size == pytest.approx(1.34, rel=1e-6)
    assert micrograph.name == "mic_001"
    assert micrograph.path == path
    assert micrograph.notes == ()


def test_mrc_without_pixel_size_and_placeholder_one(tmp_path):
    assert read_micrograph(write_mrc(tmp_path / "a.mrc", ramp())).pixel_size is None
    placeholder = read_micrograph(write_mrc(tmp_path / "b.mrc", ramp(), pixel_size=1.0))
    assert placeholder.pixel_size is None
    assert any("1.0" in note for note in placeholder.notes)


def test_mrc_with_other_pixel_sizes_along_x_and_y_says_which_is_used(tmp_path):
    path = tmp_path / "aniso.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(ramp().astype(np.float32))
        mrc.voxel_size = (1.5, 1.6, 1.0)
    micrograph = read_micrograph(path)
    assert micrograph.pixel_size == pytest.approx(1.5)
    assert any("1.5 and 1.6" in note for note in micrograph.notes)
    square = tmp_path / "square.mrc"
    with mrcfile.new(square) as mrc:
        mrc.set_data(ramp().astype(np.float32))
        mrc.voxel_size = (1.5, 1.5, 1.5)
    assert read_micrograph(square).notes == ()


def test_mrc_integer_modes_and_single_frame_stack(tmp_path):
    data = (np.arange(12 * 10).reshape(12, 10) - 50).astype(np.int16)
    path = tmp_path / "int16.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data[np.newaxis])  # a stack with exactly one frame
    micrograph = read_micrograph(path)
    assert micrograph.data.dtype == np.float32
    np.testing.assert_array_equal(micrograph.data, data.astype(np.float32))


def test_imod_byte_mrc_reads_as_unsigned_unless_flagged_signed(tmp_path):
    # IMOD (newstack/clip -mode 0, SerialEM byte saves) writes unsigned bytes in mode 0 and
    # says so in its header; read as signed, every pixel above 127 wrapped to negative
    data = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    for flags, expected in ((0, data), (1, data.view(np.int8))):
        path = tmp_path / f"imod{flags}.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(data.view(np.int8))
            extra = bytearray(mrc.header.extra2.tobytes())  # imodStamp, imodFlags: bytes 152-159
            extra[40:48] = np.array([1146047817, flags], "<i4").tobytes()
            mrc.header.extra2 = bytes(extra)
        with mrcfile.open(path) as mrc:
            assert imod_stamp_and_flags(mrc.header) == (1146047817, flags)
        read = read_micrograph(path).data
        np.testing.assert_array_equal(read, expected.astype(np.float32))
    plain = tmp_path / "mrc2014.mrc"  # no IMOD stamp: mode 0 is signed (MRC2014)
    with mrcfile.new(plain) as mrc:
        mrc.set_data(data.view(np.int8))
    assert read_micrograph(plain).data.min() == -128


def test_unstamped_byte_mrc_that_wraps_as_signed_reads_as_unsigned(tmp_path, caplog):
    # a trial: unsigned bytes (background near 128) in mode 0 without IMOD's stamp, read
    # as signed (MRC2014), split between -128 and 127: 3 picks, AP 0, nothing said
    # whatever the contrast: a re-trial's spread of 50, saturated at both ends, was read
    # as signed
    rng = np.random.default_rng(0)
    for spread in (5, 20, 50, 60):
        unsigned = np.clip(rng.normal(128, spread, (64, 64)), 0, 255).astype(np.uint8)
        with mrcfile.new(tmp_path / "wrapped.mrc", overwrite=True) as mrc:
            mrc.set_data(unsigned.view(np.int8))
        read = read_micrograph(tmp_path / "wrapped.mrc")
        np.testing.assert_array_equal(read.data, unsigned.astype(np.float32))
        assert any("read as unsigned bytes" in note for note in read.notes)
        assert "read as unsigned bytes" in caplog.text
        # signed bytes around 0 stay signed, as MRC2014 says
        signed = np.clip(rng.normal(0, spread, (64, 64)), -128, 127).astype(np.int8)
        with mrcfile.new(tmp_path / "signed.mrc", overwrite=True) as mrc:
            mrc.set_data(signed)
        read = read_micrograph(tmp_path / "signed.mrc")
        np.testing.assert_array_equal(read.data, signed.astype(np.float32))
        assert not read.notes


def test_a_micrograph_of_huge_values_is_scaled_before_filtering(tmp_path, caplog):
    # a trial: pixels near ±3e38 (finite) resampled to NaN: no picks, nothing said
    from napari_cryopick.core.model import DetectorConfig
    from napari_cryopick.core.model.inputs import prepare_micrograph

    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 300)).astype(np.float32)
    write_mrc(tmp_path / "huge.mrc", data * np.float32(3e37))
    read = read_micrograph(tmp_path / "huge.mrc")
    assert any("scaled by 2^-" in note for note in read.notes)
    assert "pixel values up to" in caplog.text
    prepared = prepare_micrograph(read.data, 40.0, DetectorConfig())
    assert np.isfinite(prepared.image).all()
    np.testing.assert_allclose(read.data / read.data.std(), data / data.std(), rtol=1e-5)


def test_tiff_round_trip(tmp_path):
    data = ramp()
    tifffile.imwrite(tmp_path / "mic.tif", data)
    np.testing.assert_array_equal(read_micrograph(tmp_path / "mic.tif").data, data)
    tifffile.imwrite(tmp_path / "mic16.TIFF", (data * 10 + 500).astype(np.uint16))
    read = read_micrograph(tmp_path / "mic16.TIFF").data
    np.testing.assert_array_equal(read, (data * 10 + 500).astype(np.uint16).astype(np.float32))


def test_a_white_is_zero_tiff_reads_as_viewers_show_it(tmp_path):
    # a formats trial: a TIFF stored as 255 - image with photometric MINISWHITE was read
    # as stored: a trained model picked nothing, napari showed it inverted
    data = (np.arange(24 * 32) % 256).astype(np.uint8).reshape(24, 32)
    tifffile.imwrite(tmp_path / "white.tif", 255 - data, photometric="miniswhite")
    np.testing.assert_array_equal(read_micrograph(tmp_path / "white.tif").data, data)
    tifffile.imwrite(tmp_path / "float.tif", -ramp(), photometric="miniswhite")
    np.testing.assert_array_equal(read_micrograph(tmp_path / "float.tif").data, ramp())
    tifffile.imwrite(tmp_path / "black.tif", data, photometric="minisblack")
    np.testing.assert_array_equal(read_micrograph(tmp_path / "black.tif").data, data)
    # a 1-bit image (tifffile writes booleans "white is zero"): a TypeError from numpy's
    # boolean negative came out of the command
    bits = data > 100
    tifffile.imwrite(tmp_path / "bits.tif", bits)
    read = read_micrograph(tmp_path / "bits.tif").data
    np.testing.assert_array_equal(np.asarray(read, bool), ~bits)  # as viewers show it


def test_an_mrc_with_columns_along_y_is_transposed(tmp_path):
    # a formats trial: MAPC 2, MAPR 1 (a 4096 x 2048 image stored transposed) was read as
    # stored: 2 of 184 picks in place, 335 of 380 once x and y were swapped
    data = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    with mrcfile.new(tmp_path / "swapped.mrc") as mrc:
        mrc.set_data(np.ascontiguousarray(data.T))
        mrc.header.mapc, mrc.header.mapr = 2, 1
    micrograph = read_micrograph(tmp_path / "swapped.mrc")
    np.testing.assert_array_equal(micrograph.data, data)
    assert any("MAPC 2, MAPR 1" in note for note in micrograph.notes)
    with mrcfile.new(tmp_path / "plain.mrc") as mrc:
        mrc.set_data(data)
    np.testing.assert_array_equal(read_micrograph(tmp_path / "plain.mrc").data, data)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_8_and_16_bit(tmp_path, dtype):
    top = np.iinfo(dtype).max
    data = np.linspace(0, top, 20 * 30).reshape(20, 30).astype(dtype)
    iio.imwrite(tmp_path / "mic.png", data)
    micrograph = read_micrograph(tmp_path / "mic.png")
    np.testing.assert_array_equal(micrograph.data, data.astype(np.float32))
    assert micrograph.data.max() == top
    assert micrograph.pixel_size is None


def test_jpg_is_read_as_gray(tmp_path):
    data = np.tile(np.linspace(0, 255, 64), (48, 1)).astype(np.uint8)
    iio.imwrite(tmp_path / "mic.JPG", data, quality=95)
    read = read_micrograph(tmp_path / "mic.JPG").data
    assert read.shape == (48, 64)
    assert np.abs(read - data).mean() < 3.0  # lossy, but close


def test_cmyk_jpg_is_read_as_gray(tmp_path):
    # left alone in session 23: read as RGBA, a CMYK JPEG said "every pixel is 0"
    from PIL import Image

    data = np.tile(np.linspace(0, 255, 64), (48, 1)).astype(np.uint8)
    Image.fromarray(data).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    read = read_micrograph(tmp_path / "print.jpg").data
    assert read.shape == (48, 64)
    assert np.abs(read - data).mean() < 3.0


def test_rgba_png_to_grayscale(tmp_path):
    rgb = np.zeros((10, 12, 4), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2], rgb[..., 3] = 200, 100, 50, 255
    iio.imwrite(tmp_path / "colour.png", rgb)
    micrograph = read_micrograph(tmp_path / "colour.png")
    assert micrograph.data.shape == (10, 12)
    expected = 0.2125 * 200 + 0.7154 * 100 + 0.0721 * 50
    np.testing.assert_allclose(micrograph.data, expected, rtol=1e-5)
    assert any("grayscale" in note for note in micrograph.notes)
    assert any("alpha" in note for note in micrograph.notes)


def test_gray_rgb_png_keeps_values(tmp_path):
    gray = np.arange(10 * 12, dtype=np.uint8).reshape(10, 12)
    iio.imwrite(tmp_path / "g.png", np.stack([gray] * 3, axis=-1))
    np.testing.assert_array_equal(read_micrograph(tmp_path / "g.png").data, gray)


def test_non_finite_pixels_replaced_by_median(tmp_path, caplog):
    data = ramp(10, 10)
    median = float(np.median(data[2:]))  # finite pixels are rows 2..9
    data[0, :] = np.nan
    data[1, :] = np.inf
    path = write_mrc(tmp_path / "nan.mrc", data)
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.io.micrographs"):
        micrograph = read_micrograph(path)
    assert np.isfinite(micrograph.data).all()
    np.testing.assert_allclose(micrograph.data[:2], median)
    np.testing.assert_array_equal(micrograph.data[2:], data[2:])
    assert any("replaced 20 non-finite pixels" in note for note in micrograph.notes)
    assert "replaced 20 non-finite pixels" in caplog.text
    # read again (zero-shot picking reads the first micrographs twice): said once, noted
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.io.micrographs"):
        again = read_micrograph(path)
    assert caplog.text.count("replaced 20 non-finite pixels") == 1
    assert again.notes == micrograph.notes


def test_suffixes_cover_the_documented_formats():
    assert set(MICROGRAPH_SUFFIXES) == {".mrc", ".mrcs", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}


# --- errors -------------------------------------------------------------------


def assert_error(path, match):
    with pytest.raises(MicrographError, match=match) as info:
        read_micrograph(path)
    assert str(info.value).startswith(str(path))
    return info.value


def test_missing_file(tmp_path):
    assert_error(tmp_path / "nope.mrc", "does not exist")


def test_empty_file(tmp_path):
    path = tmp_path / "zero.mrc"
    path.write_bytes(b"")
    assert_error(path, r"empty \(0 bytes\)")


def test_truncated_mrc(tmp_path):
    path = write_mrc(tmp_path / "cut.mrc", ramp(64, 64))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 1000])
    assert_error(path, "truncated or corrupt")


def test_mrc_header_without_pixels(tmp_path):
    # a trial's header left by a failed write read as "a 3D volume with 0 sections ...
    # motion-correct the movie first"
    path = tmp_path / "empty.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((0, 16, 24), dtype=np.float32))
    error = assert_error(path, r"holds no pixels \(header size 24x16x0\)")
    assert "motion" not in str(error).lower()


def test_corrupt_mrc_header(tmp_path):
    path = tmp_path / "junk.mrc"
    path.write_bytes(b"\x07" * 2048)
    assert_error(path, "not a valid MRC file")


@pytest.mark.parametrize(
    ("where", "said"), [(212, "no machine stamp"), (208, "no 'MAP ' identifier")]
)
def test_mrc_headers_of_older_writers_are_read_when_the_data_fits(tmp_path, where, said):
    # a CLI trial: a zeroed machine stamp, and a header without "MAP " (older writers),
    # were refused as "truncated or corrupt"
    image = ramp(48, 64)
    raw = bytearray(write_mrc(tmp_path / "good.mrc", image, pixel_size=1.5).read_bytes())
    raw[where : where + 4] = bytes(4)
    path = tmp_path / "old.mrc"
    path.write_bytes(bytes(raw))
    micrograph = read_micrograph(path)
    np.testing.assert_array_equal(micrograph.data, image)
    assert micrograph.pixel_size == pytest.approx(1.5)
    assert any(said in note for note in micrograph.notes), micrograph.notes
    # the same header with its data cut short, or noise with no header: still refused
    path.write_bytes(bytes(raw[:-100]))
    assert_error(path, "truncated or corrupt")
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    assert_error(path, "not a valid MRC file")
    # a stack without a machine stamp: said as a stack, not as corrupt (a review)
    with mrcfile.new(tmp_path / "stack.mrc") as mrc:
        mrc.set_data(np.zeros((3, 16, 16), dtype=np.float32))
    raw = bytearray((tmp_path / "stack.mrc").read_bytes())
    raw[212:216] = bytes(4)
    path.write_bytes(bytes(raw))
    assert_error(path, "3D volume with 3 sections|3 frames")
    # text named .mrc: mrcfile's own reason, not the permissive reading's (a review)
    path.write_text("x y\n" * 600)
    assert_error(path, "Map ID string not found - not an MRC file")


def test_movie_mrc_says_motion_correction(tmp_path):
    path = tmp_path / "movie.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((5, 16, 16), dtype=np.float32))
        mrc.set_image_stack()
    error = assert_error(path, "5 frames")
    assert "motion" in str(error).lower()
    assert "MotionCor2" in str(error)


def test_volume_mrc(tmp_path):
    path = tmp_path / "map.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((8, 16, 16), dtype=np.float32))
        mrc.set_volume()
    assert_error(path, "3D volume with 8 sections")
    # an .mrcs is a stack by name, whatever its header says (a trial's was "a 3D volume")
    stack = tmp_path / "particles.mrcs"
    with mrcfile.new(stack) as mrc:
        mrc.set_data(np.zeros((3, 16, 16), dtype=np.float32))
        mrc.set_volume()
    assert_error(stack, "stack with 3 frames")


def test_multi_frame_tiff_movie(tmp_path):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.zeros((4, 16, 16), dtype=np.uint8), photometric="minisblack")
    assert_error(path, "4 frames.*motion-correct")


def test_tiff_frames_written_one_by_one_or_as_float_planes_are_a_movie(tmp_path):
    # a trial: frames written with one write call each were picked on the first frame
    # alone, and a (3, y, x) float32 stack (tifffile stores it as colour planes) averaged
    frames = np.random.default_rng(1).normal(size=(3, 16, 16)).astype(np.float32)
    path = tmp_path / "series.tif"
    with tifffile.TiffWriter(path) as writer:
        for frame in frames:
            writer.write(frame)
    assert_error(path, "3 frames.*motion-correct")
    planes = tmp_path / "planes.tif"
    tifffile.imwrite(
        planes, frames, photometric="rgb", planarconfig="separate"
    )  # as now by default
    assert_error(planes, "3 frames.*motion-correct")
    # 16-bit frames likewise (left alone last session: averaged as colour); grey stored
    # as three equal 16-bit planes is still one micrograph
    counts = np.random.default_rng(3).integers(0, 4000, (3, 16, 16)).astype(np.uint16)
    tifffile.imwrite(planes, counts)  # tifffile's default for (3, y, x): colour planes
    assert_error(planes, "3 frames.*motion-correct")
    tifffile.imwrite(planes, np.stack([counts[0]] * 3))
    np.testing.assert_array_equal(read_micrograph(planes).data, counts[0].astype(np.float32))


def test_a_tiff_with_a_thumbnail_reads_its_first_image_and_says_so(tmp_path):
    """A review: a TIFF whose second image is 100 x 100 was read as its first, unsaid."""
    image = np.random.default_rng(0).integers(0, 255, (64, 80)).astype(np.uint8)
    path = tmp_path / "thumb.tif"
    with tifffile.TiffWriter(path) as writer:
        writer.write(image)
        writer.write(image[:10, :10])
    read = read_micrograph(path)
    np.testing.assert_array_equal(read.data, image.astype(np.float32))
    assert read.notes == (
        "1 more image(s) of other sizes in the file (10x10; thumbnails?) left out: the first, "
        "64x80, is read",
    )
    tifffile.imwrite(path, image)
    assert read_micrograph(path).notes == ()


def test_8_bit_frames_on_a_grey_tiff_page_are_a_movie_and_rgb_stays_colour(tmp_path):
    """A robustness trial: 3- and 4-frame 8-bit movies tagged MINISBLACK (planes or
    interleaved) were read as colour, the frames mixed as luma and the 4th dropped as
    alpha, and picked (33 picks instead of about 120), unsaid."""
    frames = np.random.default_rng(4).poisson(3, (4, 16, 16)).astype(np.uint8)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames[:3], photometric="minisblack", planarconfig="separate")
    assert_error(path, "3 frames.*motion-correct")
    tifffile.imwrite(path, frames, photometric="minisblack", planarconfig="separate")
    assert_error(path, "4 frames.*motion-correct")
    tifffile.imwrite(
        path, np.moveaxis(frames[:3], 0, -1), photometric="minisblack", planarconfig="contig"
    )
    assert_error(path, "3 frames.*motion-correct")
    # an 8-bit RGB image (planes or interleaved) is still colour, read as grey
    tifffile.imwrite(path, frames[:3], photometric="rgb", planarconfig="separate")
    expected = np.moveaxis(frames[:3], 0, -1).astype(np.float64) @ np.array(
        [0.2125, 0.7154, 0.0721]
    )
    np.testing.assert_allclose(read_micrograph(path).data, expected, rtol=1e-5)
    tifffile.imwrite(path, np.moveaxis(frames[:3], 0, -1), photometric="rgb")
    np.testing.assert_allclose(read_micrograph(path).data, expected, rtol=1e-5)


def test_a_grey_tiff_with_alpha_reads_its_grey_sample(tmp_path):
    """A trial: a grey + alpha TIFF (MINISBLACK, ExtraSamples alpha) was refused as "a
    movie or stack with 64 frames"; the first sample is the image, the alpha is dropped
    and said, interleaved or as planes, white-is-zero pages inverted as without alpha."""
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 255, (24, 32), dtype=np.uint8)
    alpha = np.full_like(grey, 255)
    path = tmp_path / "grey_alpha.tif"
    for extra in ("unassalpha", "assocalpha"):
        tifffile.imwrite(
            path, np.stack([grey, alpha], -1), photometric="minisblack", extrasamples=[extra]
        )
        read = read_micrograph(path)
        np.testing.assert_array_equal(read.data, grey)
        assert any("alpha" in note for note in read.notes)
    tifffile.imwrite(
        path,
        np.stack([grey, alpha]),
        photometric="minisblack",
        planarconfig="separate",
        extrasamples=["unassalpha"],
    )
    np.testing.assert_array_equal(read_micrograph(path).data, grey)
    tifffile.imwrite(
        path,
        np.stack([255 - grey, alpha], -1),
        photometric="miniswhite",
        extrasamples=["unassalpha"],
    )
    np.testing.assert_array_equal(read_micrograph(path).data, grey)
    # two samples with no alpha declared (tifffile's own 2-frame stack) stay two frames
    tifffile.imwrite(
        path, np.stack([grey, alpha]), photometric="minisblack", planarconfig="separate"
    )
    assert_error(path, "2 frames.*motion-correct")
    tifffile.imwrite(
        path, np.stack([grey, alpha], -1), photometric="minisblack", extrasamples=["unspecified"]
    )
    assert_error(path, "2 frames.*motion-correct")


def test_compressed_tiff_reads(tmp_path):
    # SerialEM and converters write LZW; a standard install lacked the codec (imagecodecs)
    data = np.random.default_rng(2).integers(0, 60000, (16, 16)).astype(np.uint16)
    for compression in ("lzw", "deflate"):
        path = tmp_path / f"{compression}.tif"
        tifffile.imwrite(path, data, compression=compression)
        np.testing.assert_array_equal(read_micrograph(path).data, data.astype(np.float32))


def test_colour_tiff_stored_as_planes_is_read_as_grayscale(tmp_path):
    """A fuzzing review: an RGB TIFF with separate planes was refused as "a movie"."""
    rgb = np.random.default_rng(0).integers(0, 255, (3, 16, 20), dtype=np.uint8)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", planarconfig="separate")
    planar = read_micrograph(path)
    tifffile.imwrite(tmp_path / "contig.tif", np.moveaxis(rgb, 0, -1), photometric="rgb")
    np.testing.assert_allclose(planar.data, read_micrograph(tmp_path / "contig.tif").data)
    assert planar.shape == (16, 20)


def test_frames_stored_as_colour_planes_are_warned_of(tmp_path, caplog):
    """A file-format trial: tifffile writes a (4, y, x) 8-bit stack as planar RGBA; it was
    picked as a colour image (frames mixed as luma, the 4th dropped as alpha) with notes
    nobody saw. Channels far apart and a varying alpha are warned of now; a grey image
    stored as colour with a little chroma noise (JPEG) is read as before, unsaid."""
    rng = np.random.default_rng(0)
    base = rng.normal(128, 25, (64, 64))
    frames = np.stack([np.clip(base + rng.normal(0, 12, base.shape), 0, 255) for _ in range(4)])
    path = tmp_path / "movie4.tif"
    tifffile.imwrite(path, frames.astype(np.uint8))
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.io.micrographs"):
        micrograph = read_micrograph(path)
    assert micrograph.shape == (64, 64)
    assert "a 4th frame of a stack?" in caplog.text, caplog.text
    assert "its channels differ" in caplog.text
    assert "motion-correct" in caplog.text
    caplog.clear()
    grey = np.clip(base, 0, 255)
    tinted = np.stack([grey, grey + rng.normal(0, 1, grey.shape), grey], axis=-1)
    iio.imwrite(tmp_path / "tinted.png", np.clip(tinted, 0, 255).astype(np.uint8))
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.io.micrographs"):
        tinted_read = read_micrograph(tmp_path / "tinted.png")
    assert "converted colour image to grayscale (BT.709 luma)" in tinted_read.notes
    assert caplog.text == ""


def test_mrc_of_4_bit_pixels_is_named_as_such(tmp_path):
    """A file-format trial: SerialEM's mode 101 (4-bit packed) read "not a valid MRC file
    (truncated or corrupt)"; it is a valid file of a mode mrcfile cannot read."""
    import struct

    plain = tmp_path / "bytes.mrc"
    with mrcfile.new(plain) as mrc:
        mrc.set_data(np.zeros((16, 16), np.int8))
    header = bytearray(plain.read_bytes()[:1024])
    header[12:16] = struct.pack("<i", 101)
    nibbles = np.random.default_rng(0).integers(0, 16, (16, 16), dtype=np.uint8)
    path = tmp_path / "frames.mrc"
    path.write_bytes(bytes(header) + (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).tobytes())
    error = assert_error(path, "MRC mode 101")
    assert "4-bit" in str(error)
    assert "corrupt" not in str(error)


def test_complex_tiff_is_refused(tmp_path):
    """A fuzzing review: the imaginary part was dropped with a raw ComplexWarning."""
    path = tmp_path / "fft.tif"
    tifffile.imwrite(path, np.ones((16, 16), dtype=np.complex64))
    assert_error(path, "complex")


def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("this is not an image\n" * 10)
    assert_error(path, "not a readable PNG image")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "mic.dm4"
    path.write_bytes(b"1234")
    assert_error(path, "unsupported micrograph suffix '.dm4'")


def test_all_nan_image(tmp_path):
    path = write_mrc(tmp_path / "nan.mrc", np.full((8, 8), np.nan, dtype=np.float32))
    assert_error(path, "no finite pixel")


def test_micrograph_error_is_a_valueerror():
    assert issubclass(MicrographError, ValueError)


# --- real data ------------------------------------------------------------------


def test_real_16bit_png(real_data_dir):
    files = sorted((real_data_dir / "empiar10146_apoferritin" / "micrographs").glob("*.png"))
    assert files
    micrograph = read_micrograph(files[0])
    assert micrograph.data.shape == (1200, 1240)
    assert micrograph.data.dtype == np.float32
    assert micrograph.data.max() > 255  # 16-bit values survive
    assert micrograph.name == files[0].stem


def test_real_rgba_png(real_data_dir):
    files = sorted((real_data_dir / "vesicles" / "micrographs").glob("*.png"))
    micrograph = read_micrograph(files[0])
    assert micrograph.data.ndim == 2
    assert micrograph.data.shape == (2217, 2217)


def test_a_micrograph_named_twice_is_taken_once(tmp_path, monkeypatch):
    """Overlapping shell globs: `cryopick pick mrc/a.mrc mrc/a.mrc` said "both would be
    written as ... rename one of them"."""
    from napari_cryopick.io.paths import micrograph_files
    from napari_cryopick.workflows.pick import output_stems

    folder = tmp_path / "mrc"
    folder.mkdir()
    for name in ("a", "b"):
        iio.imwrite(folder / f"{name}.png", np.zeros((8, 8), np.uint8))
    monkeypatch.chdir(tmp_path)
    files = micrograph_files(["mrc/a.png", folder / "a.png", folder, "mrc/b.png"])
    assert [p.name for p in files] == ["a.png", "b.png"]
    assert len(output_stems(files, tmp_path / "out")) == 2


def test_compressed_micrographs_in_a_folder_are_said(tmp_path, caplog):
    """A file-format trial: a folder of .mrc.gz read "no micrographs in this folder", and
    beside other micrographs they were left out unsaid."""
    from napari_cryopick.io.paths import micrograph_files

    folder = tmp_path / "mics"
    folder.mkdir()
    with mrcfile.new(folder / "a.mrc.gz", compression="gzip") as mrc:
        mrc.set_data(np.zeros((16, 16), np.float32))
    (folder / "notes.txt.gz").write_bytes(b"")  # no micrograph's
    with pytest.raises(ValueError, match=r"no micrographs in this folder") as info:
        micrograph_files([folder])
    assert "1 compressed micrograph(s) left out (a.mrc.gz): decompress them" in str(info.value)
    write_mrc(folder / "b.mrc", ramp(16, 16))
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert [p.name for p in micrograph_files([folder])] == ["b.mrc"]
    assert "1 compressed micrograph(s) left out (a.mrc.gz)" in caplog.text
    caplog.clear()  # decompressed beside it: read, nothing left out (a review)
    write_mrc(folder / "a.mrc", ramp(16, 16))
    with caplog.at_level(logging.WARNING, logger="napari_cryopick"):
        assert [p.name for p in micrograph_files([folder])] == ["a.mrc", "b.mrc"]
    assert "compressed" not in caplog.text


def test_a_folder_without_micrographs_names_its_subfolders_that_hold_some(tmp_path):
    """`cryopick simulate OUT` writes OUT/micrographs/: giving OUT said only 'no micrographs'."""
    from napari_cryopick.io.paths import micrograph_files

    (tmp_path / "run" / "micrographs").mkdir(parents=True)
    (tmp_path / "run" / "picks").mkdir()
    (tmp_path / "run" / "picks" / "a.star").write_text("")
    np.save(tmp_path / "run" / "a.npy", np.zeros(2))
    iio.imwrite(tmp_path / "run" / "micrographs" / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"no micrographs in this folder") as refused:
        micrograph_files([tmp_path / "run"])
    assert "1 folder below holds 1 micrograph (micrographs/ 1): give it" in str(refused.value)
    assert "picks/" not in str(refused.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no micrographs in this folder") as refused:
        micrograph_files([tmp_path / "empty"])
    assert "below" not in str(refused.value)


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.zeros((8, 8), np.uint8))


def test_the_advice_names_every_folder_below_that_holds_micrographs_at_any_depth(tmp_path):
    """A trial's prod/ named apo/ and bgal/ only: following the advice lost ribo/GridA/ and
    ribo/GridC/Session2/ (141 micrographs), which hold micrographs deeper down."""
    from napari_cryopick.io.paths import micrograph_files

    prod = tmp_path / "prod"
    for name in ("apo/a1.png", "apo/a2.png", "bgal/b1.png", "ribo/GridA/r1.png",
                 "ribo/GridC/Session2/s1.png", ".trash/t.png"):  # fmt: skip
        _png(prod / name)
    with pytest.raises(ValueError) as refused:
        micrograph_files([prod], recursive_option="--recursive")
    message = str(refused.value)
    assert (
        "folders are not searched below, and 4 folders below hold 5 micrographs (apo/ 2, "
        "bgal/ 1, ribo/GridA/ 1, ribo/GridC/Session2/ 1): give them, or --recursive to take "
        "every folder below"
    ) in message
    assert ".trash" not in message
    for index in range(4):  # many: the first few named, the others counted
        _png(prod / f"zz{index}" / "m.png")
    with pytest.raises(
        ValueError, match=r"8 folders below hold 9 micrographs \(apo/ 2, .* and 4 more\)"
    ):
        micrograph_files([prod])
    with pytest.raises(ValueError) as refused:
        micrograph_files([prod])
    assert "--recursive" not in str(refused.value)
    # recursive: every micrograph below, sorted, hidden folders left out
    found = micrograph_files([prod], recursive=True)
    assert [p.relative_to(prod).as_posix() for p in found] == [
        "apo/a1.png", "apo/a2.png", "bgal/b1.png", "ribo/GridA/r1.png",
        "ribo/GridC/Session2/s1.png", "zz0/m.png", "zz1/m.png", "zz2/m.png", "zz3/m.png",
    ]  # fmt: skip
    (tmp_path / "none" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no micrographs in this folder or the folders below"):
        micrograph_files([tmp_path / "none"], recursive=True)


def test_a_recursive_search_that_stops_at_its_folder_cap_says_so(tmp_path, caplog, monkeypatch):
    """--recursive stopped after 10,000 folders without a word: the micrographs beyond
    were left out of the run silently."""
    import logging

    from napari_cryopick.io import paths

    monkeypatch.setattr(paths, "MOST_FOLDERS_SEARCHED", 3)
    for index in range(5):
        _png(tmp_path / "prod" / f"grid{index}" / "m.png")
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.io.paths"):
        found = paths.micrograph_files([tmp_path / "prod"], recursive=True)
    assert len(found) == 2  # prod/ itself, grid0/, grid1/
    assert "only the first 3 folders (in sorted order) were searched, 3 or more left" in (
        caplog.text
    )
    caplog.clear()
    monkeypatch.setattr(paths, "MOST_FOLDERS_SEARCHED", 6)
    with caplog.at_level(logging.WARNING, logger="napari_cryopick.io.paths"):
        assert len(paths.micrograph_files([tmp_path / "prod"], recursive=True)) == 5
    assert "were searched" not in caplog.text


def test_a_folder_whose_subfolders_hold_micrographs_too_says_they_are_not_taken(tmp_path, caplog):
    """mics/sub/062.mrc beside mics/061.mrc was left out silently (user trial helper-29)."""
    import logging

    from napari_cryopick.io.paths import micrograph_files

    _png(tmp_path / "mics" / "a.png")
    _png(tmp_path / "mics" / "sub" / "b.png")
    _png(tmp_path / "mics" / "sub" / "deeper" / "c.png")
    caplog.set_level(logging.INFO, logger="napari_cryopick")
    assert [p.name for p in micrograph_files([tmp_path / "mics"])] == ["a.png"]
    assert (
        "mics: 2 folders below hold 2 micrographs (sub/ 1, sub/deeper/ 1), not taken: folders "
        "are not searched below (give them)"
    ) in caplog.text
    # a folder below that is given itself is not news (a trial: "GridC: its subfolder(s)
    # Session2/ hold micrographs too" with GridC/Session2 on the command line)
    caplog.clear()
    micrograph_files([tmp_path / "mics", tmp_path / "mics" / "sub"])
    assert "mics: 1 folder below holds 1 micrograph (sub/deeper/ 1)" in caplog.text
    assert "sub/ 1" not in caplog.text
    caplog.clear()
    micrograph_files([tmp_path / "mics" / "sub", tmp_path / "mics" / "sub" / "deeper"])
    assert "folders below" not in caplog.text


def test_mrc_with_more_data_than_its_header_says_is_refused(tmp_path):
    """A fuzzing review: a float32 MRC with mode 0 in its header read as int8 garbage."""
    from napari_cryopick.io.micrographs import write_mrc

    path = write_mrc(tmp_path / "m.mrc", np.ones((16, 16), np.float32))
    raw = bytearray(path.read_bytes())
    raw[12:16] = (0).to_bytes(4, "little")  # mode 0 (int8): a quarter of the data
    path.write_bytes(bytes(raw))
    assert_error(path, "768 bytes larger than expected.*wrong mode or corrupt")
    padded = write_mrc(tmp_path / "p.mrc", np.ones((16, 16), np.float32))
    padded.write_bytes(padded.read_bytes() + b"0" * 100)
    assert_error(padded, "100 bytes larger")


def test_a_wrong_pixel_size_in_a_lists_second_optics_group_is_said(tmp_path):
    """A CLI trial: the list's second optics group gave 1.1 Å for micrographs of 5.4 Å/px;
    only the first five micrographs were checked, all of group 1: unsaid (ribosomes
    picked at 264 px, 18 picks)."""
    from napari_cryopick.io.micrographs import listed_pixel_size_warning, write_mrc

    image = np.zeros((16, 16), np.float32)
    sizes = {}
    for index in range(6):
        sizes[write_mrc(tmp_path / f"a{index}.mrc", image, pixel_size=2.0)] = 2.0
    for index in range(6):
        sizes[write_mrc(tmp_path / f"b{index}.mrc", image, pixel_size=5.4)] = 1.1
    said = listed_pixel_size_warning("micrographs.star", sizes)
    assert said is not None
    assert f"gives {tmp_path / 'b0.mrc'} a pixel size of 1.1 A, its MRC header 5.4 A" in said
    sizes = {path: (5.4 if listed == 1.1 else listed) for path, listed in sizes.items()}
    assert listed_pixel_size_warning("micrographs.star", sizes) is None
    # the group's first file unreadable, or of the 1.0 Å placeholder: the next is checked
    # (a review: the group was taken as checked before its header was read)
    (tmp_path / "b0.mrc").write_bytes(b"not an MRC")
    write_mrc(tmp_path / "b1.mrc", image, pixel_size=1.0)
    sizes = {path: (1.1 if listed == 5.4 else listed) for path, listed in sizes.items()}
    said = listed_pixel_size_warning("micrographs.star", sizes)
    assert said is not None
    assert f"gives {tmp_path / 'b2.mrc'} a pixel size of 1.1 A, its MRC header 5.4 A" in said


def test_a_list_of_placeholder_headers_opens_a_few_of_them(tmp_path, monkeypatch):
    """Headers of the 1.0 Å placeholder are skipped, so that the next file is checked; a
    list of thousands of such micrographs opened every header before picking started."""
    import mrcfile

    from napari_cryopick.io.micrographs import listed_pixel_size_warning, write_mrc

    image = np.zeros((8, 8), np.float32)
    sizes = {write_mrc(tmp_path / f"m{i}.mrc", image, pixel_size=1.0): 2.0 for i in range(40)}
    opened = []
    real_open = mrcfile.open
    monkeypatch.setattr(mrcfile, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert listed_pixel_size_warning("micrographs.star", sizes) is None
    assert len(opened) == 5


def test_a_text_list_of_micrograph_paths_names_its_micrographs(tmp_path, monkeypatch):
    """A scale trial's script wrote the micrographs to pick, one path a line, with a
    comment and blank lines: ``cryopick pick list.txt`` refused it as "a pick file"."""
    from napari_cryopick.io.paths import micrograph_files

    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("a.mrc", "b.mrc", "c d.mrc"):
        write_mrc(folder / name, np.zeros((8, 8), np.float32))
    listing = tmp_path / "lists" / "todo.txt"
    listing.parent.mkdir()
    (listing.parent / "here.mrc").write_bytes((folder / "a.mrc").read_bytes())
    listing.write_text(
        f"# picked tonight\n\n{folder / 'a.mrc'}\n  {folder / 'c d.mrc'}  \nhere.mrc\n"
    )
    files = micrograph_files([listing])
    assert files == [folder / "a.mrc", folder / "c d.mrc", listing.parent / "here.mrc"]
    monkeypatch.chdir(tmp_path)  # relative to the working folder when not beside the list
    listing.write_text("data/b.mrc\n")
    assert micrograph_files([listing]) == [tmp_path / "data" / "b.mrc"]
    # saved by Windows Notepad (a byte-order mark, CRLF), a quoted path
    listing.write_bytes(b"\xef\xbb\xbfdata/b.mrc\r\n'data/c d.mrc'\r\n")
    assert micrograph_files([listing]) == [
        tmp_path / "data" / "b.mrc",
        tmp_path / "data" / "c d.mrc",
    ]
    listing.write_text("data/b.mrc\ndata/gone.mrc\n")
    with pytest.raises(
        ValueError, match=r"todo.txt: a list of micrographs, 1 of which.*line 2: data/gone"
    ):
        micrograph_files([listing])
    # a Topaz pick file is no list: still refused as a pick file
    listing.write_text("image_name\tx_coord\ty_coord\tscore\na\t1\t2\t0.5\n")
    with pytest.raises(ValueError, match="a pick file, not a micrograph"):
        micrograph_files([listing])
