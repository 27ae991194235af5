"""Experiment: spectral whitening of the prepared micrograph (session 15).

Runs ``exp_fewshot.py`` with the network's input whitened: after resampling to
the network's particle size and before the robust normalisation, the
micrograph's Fourier amplitudes are divided by ``A(r) ** strength``, where
``A(r)`` is the radially averaged amplitude spectrum of the micrograph itself
(smoothed over neighbouring radii). ``strength`` 1 flattens the spectrum (the
noise becomes white, as template pickers prepare their images), 0.5 is half way.
Only the inputs of training and picking change (the patched
``preprocess.normalize`` is the last step of ``prepare_micrograph``); micrographs
larger than ``inputs.CACHE_PIXELS`` after rescaling are not whitened (none of
the benchmark's sets).

    WHITEN=1 .venv/bin/python benchmarks/exp_whiten.py --set SET --condition new-random ...

``INVERT=1`` also inverts the contrast of every prepared micrograph (particles
lighter than the background), for what training on inverted micrographs costs.

Every ``exp_fewshot.py`` argument is accepted; give each strength its own
``--out`` file (the rows do not record it).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def radial_amplitude(image: np.ndarray, n_bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged Fourier amplitude of ``image`` and each rfft cell's radius bin."""
    rows, cols = image.shape
    spectrum = np.fft.rfft2(image - image.mean())
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    radius = np.sqrt(fy**2 + fx**2)  # cycles per pixel, 0 .. 0.707
    bins = np.minimum((radius / 0.5 * n_bins).astype(int), n_bins)  # corners in the last bin
    amplitude = np.abs(spectrum)
    sums = np.bincount(bins.ravel(), weights=amplitude.ravel(), minlength=n_bins + 1)
    counts = np.bincount(bins.ravel(), minlength=n_bins + 1)
    profile = sums / np.maximum(counts, 1)
    # smooth over three neighbouring radii (CTF rings, few cells at low radii)
    padded = np.pad(profile, 1, mode="edge")
    profile = (padded[:-2] + padded[1:-1] + padded[2:]) / 3.0
    return profile, bins


def whiten(image: np.ndarray, strength: float) -> np.ndarray:
    """Divide the Fourier amplitudes by the radial amplitude profile to ``strength``."""
    data = np.asarray(image, dtype=np.float64)
    profile, bins = radial_amplitude(data)
    floor = max(profile[1:].max() * 1e-6, 1e-12)
    gain = np.maximum(profile, floor) ** (-float(strength))
    gain[0] = 0.0  # the mean
    spectrum = np.fft.rfft2(data - data.mean()) * gain[bins]
    return np.fft.irfft2(spectrum, s=data.shape).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    strength = float(os.environ.get("WHITEN", "0"))
    from napari_cryopick.core import preprocess

    invert = os.environ.get("INVERT", "0") == "1"
    if strength > 0 or invert:
        original = preprocess.normalize

        def normalize(image, *, clip=5.0):
            data = whiten(image, strength) if strength > 0 else image
            return original(-data if invert else data, clip=clip)

        preprocess.normalize = normalize
    argv = list(sys.argv[1:] if argv is None else argv)
    import exp_fewshot

    return exp_fewshot.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
