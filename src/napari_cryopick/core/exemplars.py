"""Exemplar bank: a few labelled crops per learned data set, kept inside the model file.

Continual learning (EPicker) needs a small memory of every data set a model has
already learned: while the model trains on a new data set it also replays these
crops (detection loss) and is kept close to its previous self on them
(distillation). The bank lives in the checkpoint's metadata as plain types and
tensors, so it loads with ``torch.load(..., weights_only=True)``.

Selection rule (:func:`build_bank`)
    Crops are square windows of ``crop_size`` *prepared* pixels (the scale the
    network sees, particle diameter = ``DetectorConfig.target_diameter_px``).
    Micrographs are ranked by their number of labelled particles; candidate
    windows are laid on a grid (step ``crop_size // 2``) over the
    ``max_micrographs`` most-labelled micrographs (falling back to the others
    if these do not hold enough labels). Windows are then taken greedily, the
    one covering the most not-yet-covered labelled particles first, as long as
    the data set stays within ``max_particles`` particles. A data set trained
    again on other micrographs keeps its earlier crops first, up to half of
    ``max_particles`` (:data:`EARLIER_SHARE`): one crop of each earlier
    micrograph (the sparsest first), then the densest. Each crop keeps
    *all* its labels (particles and user negatives, as coordinates relative to
    the crop), so replay and distillation see exactly what the user labelled.

Storage
    Crops are stored as float16 (the prepared images are robustly normalised,
    values of a few units, where float16 keeps ~3 significant digits); labels
    as a float32 table ``[M, 5]`` = (crop index, x, y, diameter, kind index).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from napari_cryopick.core.pick_table import KINDS, make_picks

BANK_FORMAT_VERSION = 1
DEFAULT_CROP_SIZE = 128
DEFAULT_MAX_PARTICLES = 200
#: At most this share of a data set's exemplar particles is kept, first, from its
#: earlier runs when a run adds micrographs to it (:func:`build_bank`'s ``earlier``).
EARLIER_SHARE = 0.5


@dataclass(frozen=True)
class DatasetExemplars:
    """The exemplars of one data set.

    Attributes
    ----------
    crops
        float16 array ``[N, S, S]``: prepared-scale crops.
    labels
        float32 array ``[M, 5]``: ``(crop index, x, y, diameter, kind index)``;
        ``x`` = column, ``y`` = row, centre, prepared pixels relative to the
        crop's top-left pixel centre; kind index into :data:`napari_cryopick.core.pick_table.KINDS`.
    origins
        int64 array ``[N, 2]``: ``(x0, y0)`` of each crop in its prepared micrograph.
    micrographs
        name of the micrograph each crop comes from.
    """

    crops: np.ndarray
    labels: np.ndarray
    origins: np.ndarray
    micrographs: tuple[str, ...]

    @property
    def n_crops(self) -> int:
        return int(self.crops.shape[0])

    @property
    def n_particles(self) -> int:
        """Number of distinct labelled objects that are not user negatives.

        Crops may overlap, so one particle can be labelled in two crops; it is
        counted once (same micrograph, same position to 0.01 prepared pixel).
        """
        if self.labels.shape[0] == 0:
            return 0
        negative = KINDS.index("negative")
        rows = self.labels[self.labels[:, 4] != negative]
        crop = rows[:, 0].astype(np.int64)
        x = np.round((self.origins[crop, 0] + rows[:, 1]) * 100).astype(np.int64)
        y = np.round((self.origins[crop, 1] + rows[:, 2]) * 100).astype(np.int64)
        names = [self.micrographs[i] if self.micrographs else "" for i in crop]
        return len(set(zip(names, x.tolist(), y.tolist())))

    def crop_picks(self, index: int) -> pd.DataFrame:
        """Labels of crop ``index`` as a pick table (prepared pixels, crop coordinates)."""
        rows = self.labels[self.labels[:, 0] == index]
        return make_picks(
            rows[:, 1],
            rows[:, 2],
            diameter=rows[:, 3],
            kind=[KINDS[int(k)] for k in rows[:, 4]],
            micrograph=self.micrographs[index] if self.micrographs else "",
        )


@dataclass(frozen=True)
class ExemplarBank:
    """Exemplars of every learned data set: ``datasets[name] -> DatasetExemplars``."""

    crop_size: int = DEFAULT_CROP_SIZE
    datasets: dict[str, DatasetExemplars] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.datasets)

    def __len__(self) -> int:
        return sum(d.n_crops for d in self.datasets.values())


def empty_bank(crop_size: int = DEFAULT_CROP_SIZE) -> ExemplarBank:
    """A bank with no data sets."""
    return ExemplarBank(crop_size=int(crop_size), datasets={})


# --- building ---


def _example_image(example: Any) -> np.ndarray:
    """The prepared image of a training example (``image`` or ``prepared.image``)."""
    image = getattr(example, "image", None)
    if image is None:
        image = example.prepared.image
    return np.asarray(image, dtype=np.float32)


def _crop(image: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """``size`` x ``size`` window at (x0, y0), padded with the image mean where it runs out."""
    rows, cols = image.shape
    out = np.full((size, size), float(image.mean()) if image.size else 0.0, dtype=np.float32)
    r0, c0 = max(y0, 0), max(x0, 0)
    r1, c1 = min(y0 + size, rows), min(x0 + size, cols)
    if r1 > r0 and c1 > c0:
        out[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0] = image[r0:r1, c0:c1]
    return out


def _grid_starts(length: int, size: int, step: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, step))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def _label_array(picks: pd.DataFrame, crop_index: int, x0: int, y0: int) -> np.ndarray:
    kinds = picks["kind"].astype(str).to_numpy() if "kind" in picks else None
    kind_index = np.array(
        [KINDS.index(k) if k in KINDS else 0 for k in kinds]
        if kinds is not None
        else np.zeros(len(picks)),
        dtype=np.float32,
    )
    diameter = (
        picks["diameter"].to_numpy(np.float32)
        if "diameter" in picks
        else np.full(len(picks), np.nan, np.float32)
    )
    return np.column_stack(
        [
            np.full(len(picks), crop_index, np.float32),
            picks["x"].to_numpy(np.float32) - x0,
            picks["y"].to_numpy(np.float32) - y0,
            diameter,
            kind_index,
        ]
    ).astype(np.float32)


def _inside(picks: pd.DataFrame, x0: int, y0: int, size: int) -> np.ndarray:
    x = picks["x"].to_numpy(float)
    y = picks["y"].to_numpy(float)
    return (x >= x0) & (x <= x0 + size - 1) & (y >= y0) & (y <= y0 + size - 1)


def _name_of(example: Any) -> str:
    return str(getattr(example, "name", ""))


def build_bank(
    examples: Sequence[Any],
    dataset_name: str,
    *,
    max_particles: int = DEFAULT_MAX_PARTICLES,
    crop_size: int = DEFAULT_CROP_SIZE,
    max_micrographs: int = 2,
    bank: ExemplarBank | None = None,
    earlier: Sequence[Any] = (),
) -> ExemplarBank:
    """Select exemplar crops of one data set and add them to a bank.

    Parameters
    ----------
    examples
        Training examples (prepared image + picks in prepared pixels, see
        :class:`napari_cryopick.core.training.TrainingExample`).
    dataset_name
        Name under which the crops are stored (replaces an existing entry).
    max_particles
        Upper bound on the labelled particles (not counting user negatives)
        kept for this data set.
    crop_size
        Side of the square crops in prepared pixels (the bank's crop size
        wins when ``bank`` is given).
    max_micrographs
        Crops come preferably from this many most-labelled micrographs.
    bank
        Bank to add to; a new one if ``None``. The input is not modified.
    earlier
        The data set's exemplars of earlier runs (crops shaped like examples),
        to keep beside ``examples``: they are taken first, up to
        :data:`EARLIER_SHARE` of ``max_particles``, then ``examples`` fill the
        rest, then more earlier ones where room is left. Ranked with the new
        micrographs, dense new clicks took the whole bank (a CLI trial's second
        session of 263 ribosome clicks left none of the first session's
        micrographs to replay).

    Returns
    -------
    ExemplarBank
        A new bank holding the data set's exemplars (module docstring: rule).
    """
    if bank is None:
        bank = empty_bank(crop_size)
    size = int(bank.crop_size)
    negative = "negative"
    new = len(examples)
    examples = [*examples, *earlier]
    ranked = sorted(
        range(new),
        key=lambda i: -int((examples[i].picks["kind"].astype(str) != negative).sum()),
    )
    old = list(range(new, len(examples)))
    # (pool, particle cap, spread over micrographs) in turn: earlier runs' share, spread
    # over their micrographs (a re-trial's third run kept only the second's denser
    # crops), the most-labelled new micrographs, the other new ones, then earlier
    # exemplars again where room is left
    share = int(max_particles * EARLIER_SHARE)
    stages = [(old, share, True), (old, share, False)] if old else []
    stages += [
        (ranked[:max_micrographs], max_particles, False),
        (ranked[max_micrographs:], max_particles, False),
        (old, max_particles, False),
    ]

    def candidates(indices: Iterable[int]) -> list[tuple[int, int, int]]:
        windows = []
        for i in indices:
            rows, cols = _example_image(examples[i]).shape
            for y0 in _grid_starts(rows, size, max(size // 2, 1)):
                for x0 in _grid_starts(cols, size, max(size // 2, 1)):
                    windows.append((i, x0, y0))
        return windows

    xs = [examples[i].picks["x"].to_numpy(float) for i in range(len(examples))]
    ys = [examples[i].picks["y"].to_numpy(float) for i in range(len(examples))]
    particle = [
        examples[i].picks["kind"].astype(str).to_numpy() != negative for i in range(len(examples))
    ]
    covered = [np.zeros(len(x), dtype=bool) for x in xs]

    def inside(window: tuple[int, int, int]) -> np.ndarray:
        i, x0, y0 = window
        x, y = xs[i], ys[i]
        return (x >= x0) & (x <= x0 + size - 1) & (y >= y0) & (y <= y0 + size - 1) & particle[i]

    chosen: list[tuple[int, int, int]] = []
    total = 0
    for pool, cap, spread in stages:
        windows = candidates(pool)
        if spread:
            # one crop of each earlier micrograph first, the sparsest first, so that the
            # denser crops of a later run do not take the whole share (a re-trial's third
            # run kept none of the first run's micrographs)
            best_of: dict[str, tuple[int, int, tuple[int, int, int]]] = {}
            for window in windows:
                members = inside(window)
                gain = int((members & ~covered[window[0]]).sum())
                name = _name_of(examples[window[0]])
                if gain > 0 and (name not in best_of or gain > best_of[name][1]):
                    best_of[name] = (int(members.sum()), gain, window)
            windows = [w for _count, _gain, w in sorted(best_of.values(), key=lambda v: v[0])]
        while total < cap and windows:
            best, best_gain = None, 0
            for window in windows:
                members = inside(window)
                # A crop brings all its particles (covered ones too) into the count.
                count = int(members.sum())
                gain = int((members & ~covered[window[0]]).sum())
                if gain > best_gain and total + count <= cap:
                    best, best_gain = window, gain
                    if spread:
                        break  # in their order: the sparsest micrograph's first
            if best is None:
                break
            windows.remove(best)
            members = inside(best)
            covered[best[0]] |= members
            total += int(members.sum())
            chosen.append(best)

    crops, labels, origins, names = [], [], [], []
    for index, (i, x0, y0) in enumerate(chosen):
        example = examples[i]
        crops.append(_crop(_example_image(example), x0, y0, size))
        inside = _inside(example.picks, x0, y0, size)
        labels.append(_label_array(example.picks[inside], index, x0, y0))
        origins.append((x0, y0))
        names.append(str(getattr(example, "name", "")))
    entry = DatasetExemplars(
        crops=np.stack(crops).astype(np.float16)
        if crops
        else np.zeros((0, size, size), np.float16),
        labels=np.concatenate(labels) if labels else np.zeros((0, 5), np.float32),
        origins=np.asarray(origins, dtype=np.int64).reshape(-1, 2),
        micrographs=tuple(names),
    )
    datasets = dict(bank.datasets)
    datasets[str(dataset_name)] = entry
    return replace(bank, datasets=datasets)


def add_exemplars(
    bank: ExemplarBank,
    dataset_name: str,
    image: np.ndarray,
    picks: pd.DataFrame,
    *,
    origin: tuple[int, int] = (0, 0),
    micrograph: str = "",
) -> ExemplarBank:
    """Add one crop (chosen by the user) to a data set of the bank.

    Parameters
    ----------
    bank
        The bank; not modified.
    dataset_name
        Data set to add to (created if new).
    image
        Prepared micrograph (or any prepared image) to crop from.
    picks
        Labels in the same prepared pixels as ``image`` (project pick table);
        those inside the crop are stored with it.
    origin
        ``(x0, y0)`` of the crop's top-left pixel in ``image``.
    micrograph
        Name of the micrograph, for display.

    Returns
    -------
    ExemplarBank
        A new bank with the crop appended.
    """
    size = int(bank.crop_size)
    x0, y0 = (round(v) for v in origin)
    image = np.asarray(image, dtype=np.float32)
    entry = bank.datasets.get(dataset_name)
    if entry is None:
        entry = DatasetExemplars(
            crops=np.zeros((0, size, size), np.float16),
            labels=np.zeros((0, 5), np.float32),
            origins=np.zeros((0, 2), np.int64),
            micrographs=(),
        )
    index = entry.n_crops
    inside = _inside(picks, x0, y0, size)
    new_entry = DatasetExemplars(
        crops=np.concatenate([entry.crops, _crop(image, x0, y0, size)[None].astype(np.float16)]),
        labels=np.concatenate([entry.labels, _label_array(picks[inside], index, x0, y0)]),
        origins=np.concatenate([entry.origins, np.array([[x0, y0]], np.int64)]),
        micrographs=(*entry.micrographs, str(micrograph)),
    )
    datasets = dict(bank.datasets)
    datasets[dataset_name] = new_entry
    return replace(bank, datasets=datasets)


@dataclass(frozen=True)
class _PreparedExample:
    """A prepared image with its labels, shaped like a training example for :func:`build_bank`."""

    image: np.ndarray
    picks: pd.DataFrame
    name: str = ""


def add_micrograph_exemplars(
    bank: ExemplarBank,
    dataset_name: str,
    image: np.ndarray,
    picks: pd.DataFrame,
    *,
    micrograph: str = "",
    max_particles: int = DEFAULT_MAX_PARTICLES,
) -> ExemplarBank:
    """Add the labelled objects of one annotated (prepared) micrograph to a data set.

    The crops are chosen with the rule of :func:`build_bank` (greedy windows
    covering the most labelled particles) on this micrograph alone and
    appended to the data set's existing crops. Crops that came from the same
    ``micrograph`` before are replaced, so adding a micrograph again after
    more clicks does not duplicate it.

    Parameters
    ----------
    bank
        The bank; not modified.
    dataset_name
        Data set to add to (created if new).
    image
        Prepared micrograph (:func:`napari_cryopick.core.model.inputs.prepare_micrograph`).
    picks
        Its labels in prepared pixels (particles and user negatives; a crop
        keeps every label inside it).
    micrograph
        Name of the micrograph (identifies its crops for replacement).
    max_particles
        At most this many labelled particles are added from this micrograph.

    Returns
    -------
    ExemplarBank
        A new bank; unchanged (but for removed old crops of ``micrograph``)
        when ``picks`` holds no particle.
    """
    name = str(dataset_name)
    entry = bank.datasets.get(name)
    if entry is not None and micrograph:
        old = [i for i, m in enumerate(entry.micrographs) if m == str(micrograph)]
        if old:
            bank = remove_exemplars(bank, name, old)
    example = _PreparedExample(np.asarray(image, np.float32), picks, str(micrograph))
    chosen = build_bank(
        [example],
        name,
        max_particles=max_particles,
        max_micrographs=1,
        bank=empty_bank(bank.crop_size),
    ).datasets[name]
    for x0, y0 in chosen.origins:
        bank = add_exemplars(
            bank, name, example.image, picks, origin=(int(x0), int(y0)), micrograph=str(micrograph)
        )
    return bank


def remove_exemplars(
    bank: ExemplarBank, dataset_name: str, crop_indices: Iterable[int] | None = None
) -> ExemplarBank:
    """Remove crops of a data set (all of them, and the data set, when ``crop_indices`` is None).

    Raises
    ------
    KeyError
        If the data set is not in the bank.
    """
    if dataset_name not in bank.datasets:
        raise KeyError(f"exemplar bank has no data set {dataset_name!r}")
    datasets = dict(bank.datasets)
    if crop_indices is None:
        del datasets[dataset_name]
        return replace(bank, datasets=datasets)
    entry = datasets[dataset_name]
    drop = {int(i) for i in crop_indices}
    keep = [i for i in range(entry.n_crops) if i not in drop]
    renumber = {old: new for new, old in enumerate(keep)}
    rows = np.isin(entry.labels[:, 0].astype(np.int64), keep)
    labels = entry.labels[rows].copy()
    labels[:, 0] = [renumber[int(i)] for i in labels[:, 0]]
    datasets[dataset_name] = DatasetExemplars(
        crops=entry.crops[keep],
        labels=labels.reshape(-1, 5),
        origins=entry.origins[keep].reshape(-1, 2),
        micrographs=tuple(entry.micrographs[i] for i in keep),
    )
    return replace(bank, datasets=datasets)


def bank_summary(bank: ExemplarBank | None) -> dict[str, int]:
    """Number of labelled particles (negatives not counted) per data set."""
    if bank is None:
        return {}
    return {name: entry.n_particles for name, entry in bank.datasets.items()}


def bank_nbytes(bank: ExemplarBank) -> dict[str, int]:
    """Bytes of array data per data set (crops + labels + origins), as stored."""
    return {
        name: int(e.crops.nbytes + e.labels.nbytes + e.origins.nbytes)
        for name, e in bank.datasets.items()
    }


def thumbnails(
    bank: ExemplarBank, dataset_name: str, *, size: int = 48, max_count: int | None = None
) -> list[np.ndarray]:
    """Small uint8 pictures of the exemplar particles of a data set, for the GUI.

    Each thumbnail is a ``size`` x ``size`` uint8 window around one labelled
    particle (1.5 diameters wide, contrast stretched to its own 1-99 percentiles).
    """
    from skimage.transform import resize

    entry = bank.datasets[dataset_name]
    negative = KINDS.index("negative")
    out: list[np.ndarray] = []
    for crop_index, x, y, diameter, kind in entry.labels:
        if int(kind) == negative:
            continue
        if max_count is not None and len(out) >= max_count:
            break
        crop = entry.crops[int(crop_index)].astype(np.float32)
        half = max(round(0.75 * (diameter if np.isfinite(diameter) else 16.0)), 4)
        window = _crop(crop, round(x) - half, round(y) - half, 2 * half + 1)
        lo, hi = np.percentile(window, [1, 99])
        scaled = np.clip((window - lo) / max(hi - lo, 1e-6), 0, 1)
        small = resize(scaled, (size, size), order=1, anti_aliasing=True, preserve_range=True)
        out.append(np.round(small * 255).astype(np.uint8))
    return out


def thumbnail_crops(
    bank: ExemplarBank, dataset_name: str, *, max_count: int | None = None
) -> np.ndarray:
    """Crop index of each picture :func:`thumbnails` returns (same order, same ``max_count``).

    Lets a GUI map a selected particle thumbnail to the crop that holds it
    (the unit :func:`remove_exemplars` removes).
    """
    entry = bank.datasets[dataset_name]
    negative = KINDS.index("negative")
    rows = entry.labels[entry.labels[:, 4].astype(np.int64) != negative]
    indices = rows[:, 0].astype(np.int64)
    return indices if max_count is None else indices[: max(int(max_count), 0)]


# --- checkpoint metadata (plain types + tensors only) ---


def bank_to_metadata(bank: ExemplarBank) -> dict[str, Any]:
    """The bank as a dict of plain types and tensors, for ``save_checkpoint(metadata=...)``."""
    import torch

    return {
        "format_version": BANK_FORMAT_VERSION,
        "crop_size": int(bank.crop_size),
        "kinds": list(KINDS),
        "datasets": {
            name: {
                "crops": torch.from_numpy(np.ascontiguousarray(e.crops, dtype=np.float16)),
                "labels": torch.from_numpy(np.ascontiguousarray(e.labels, dtype=np.float32)),
                "origins": torch.from_numpy(np.ascontiguousarray(e.origins, dtype=np.int64)),
                "micrographs": list(e.micrographs),
            }
            for name, e in bank.datasets.items()
        },
    }


def bank_from_metadata(data: dict[str, Any] | None) -> ExemplarBank:
    """Inverse of :func:`bank_to_metadata`; an empty bank for ``None``.

    Raises
    ------
    ValueError
        If the stored bank is malformed or of a newer format.
    """
    if not data:
        return empty_bank()
    version = int(data.get("format_version", 0))
    if version > BANK_FORMAT_VERSION:
        raise ValueError(
            f"exemplar bank format {version} is newer than supported ({BANK_FORMAT_VERSION})"
        )
    stored_kinds = list(data.get("kinds", KINDS))
    datasets = {}
    try:
        crop_size = int(data["crop_size"])
        for name, d in data["datasets"].items():
            labels = _as_numpy(d["labels"], np.float32).reshape(-1, 5).copy()
            # Kind indices are remapped by name in case KINDS grows.
            if stored_kinds != list(KINDS) and labels.shape[0]:
                labels[:, 4] = [
                    KINDS.index(stored_kinds[int(k)]) if stored_kinds[int(k)] in KINDS else 0
                    for k in labels[:, 4]
                ]
            exemplars = DatasetExemplars(
                crops=_as_numpy(d["crops"], np.float16).reshape(-1, crop_size, crop_size),
                labels=labels,
                origins=_as_numpy(d["origins"], np.int64).reshape(-1, 2),
                micrographs=tuple(str(m) for m in d["micrographs"]),
            )
            _check_consistent(str(name), exemplars)
            datasets[str(name)] = exemplars
    except (KeyError, TypeError, RuntimeError, ValueError, IndexError) as error:
        raise ValueError(f"malformed exemplar bank in model metadata: {error}") from None
    return ExemplarBank(crop_size=crop_size, datasets=datasets)


def _check_consistent(name: str, exemplars: DatasetExemplars) -> None:
    """Raise ValueError when a data set's stored arrays do not fit together (the metadata
    is not covered by the checksums: an I/O trial's edited bank gave an IndexError)."""
    n = exemplars.n_crops
    labels = exemplars.labels
    if exemplars.origins.shape[0] != n or len(exemplars.micrographs) != n:
        raise ValueError(
            f"data set {name!r}: {n} crops, {exemplars.origins.shape[0]} origins and "
            f"{len(exemplars.micrographs)} micrograph names"
        )
    if labels.shape[0] and not (
        np.isfinite(labels[:, [0, 1, 2, 4]]).all()  # (a pick without a diameter: NaN)
        and (labels[:, 0] >= 0).all()
        and (labels[:, 0] < n).all()
        and (labels[:, 4] >= 0).all()
        and (labels[:, 4] < len(KINDS)).all()
    ):
        raise ValueError(f"data set {name!r}: labels of crops or kinds that are not there")


def _as_numpy(value: Any, dtype: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor (torch itself is loaded only to save)
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)
