"""Configuration of the detector network (saved inside every checkpoint)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Names of the per-head output maps.
OUTPUT_NAMES: tuple[str, ...] = ("heatmap", "offset", "size", "features")


#: The kinds a detector has a heatmap channel for (``core.pick_table.KINDS`` but
#: ``negative``, a training label).
HEATMAP_KINDS: tuple[str, ...] = ("particle", "vesicle", "fiber")


@dataclass
class DetectorConfig:
    """Architecture and scale normalisation of a :class:`~.network.Detector`.

    Parameters
    ----------
    kinds
        Object kinds, one heatmap channel each (``"particle"``, ``"vesicle"``,
        ``"fiber"``). ``"negative"`` is never a channel: negatives are a
        training signal only.
    size_head
        Predict the object diameter (log scale) per heatmap cell.
    stride
        Output stride of the heatmap. The architecture is built for 4
        (CenterNet/EPicker); other values are refused.
    target_diameter_px
        Every micrograph is resampled so that the object diameter covers this
        many pixels before it enters the network (HydraPicker's scale
        normalisation). 28 px = 7 heatmap cells at stride 4: enough cells for
        a sub-pixel offset and a Gaussian peak, small enough that a 4096 px
        micrograph of a 108 px particle shrinks to ~1060 px (fast), and well
        inside the ~160 px receptive field of the body so the network sees
        each particle with a ring of context around it. 28 px gave AP@0.5
        +0.03 to +0.04 over 20 px on the three real data sets at ~2x the
        picking cost (``benchmarks/results/detector.md``); checkpoints store
        their own value (the bundled model: 28).
    widths
        Channel widths of the four encoder levels (strides 2, 4, 8, 16).
    feature_channels
        Channels of the stride-4 feature map shared by all heads (also
        returned as ``"features"`` for distillation).
    head_width
        Hidden channels of each 1x1 sub-head.
    head_names
        Names of the detection heads (``"generic"`` is the default head).
    lowpass
        Gaussian low-pass of the rescaled micrograph before normalisation, as
        the period of the half-transmission frequency in fractions of
        ``target_diameter_px`` (0: none, the behaviour of checkpoints saved
        before this field existed).
    background
        The smooth background subtracted from the rescaled micrograph before
        normalisation (ice-thickness gradients, uneven illumination): a Gaussian
        of this many ``target_diameter_px`` (4: the particles and their
        neighbours stay as they are). 0: none, the behaviour of checkpoints
        saved before this field existed (:meth:`from_dict` gives them 0), the
        bundled general model's among them. A trial's ramp of 40 grey levels
        across a ribosome micrograph left 32 of 344 picks of a model trained
        without it (docs/general-model.md, session 28).
    """

    kinds: tuple[str, ...] = ("particle",)
    size_head: bool = True
    stride: int = 4
    target_diameter_px: float = 28.0
    widths: tuple[int, ...] = (16, 24, 48, 96)
    feature_channels: int = 32
    head_width: int = 32
    head_names: tuple[str, ...] = ("generic",)
    lowpass: float = 0.0
    background: float = 4.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kinds = tuple(str(kind) for kind in self.kinds)
        self.widths = tuple(int(width) for width in self.widths)
        self.head_names = tuple(str(name) for name in self.head_names)
        if not self.kinds:
            raise ValueError("DetectorConfig.kinds must name at least one kind")
        if "negative" in self.kinds:
            raise ValueError("'negative' is a training label, not a heatmap kind")
        unknown = [k for k in self.kinds if k not in HEATMAP_KINDS]
        if unknown:
            raise ValueError(
                f"DetectorConfig.kinds: unknown kind {unknown[0]!r} (kinds: "
                f"{', '.join(HEATMAP_KINDS)})"
            )
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"DetectorConfig.kinds has duplicates: {self.kinds}")
        if self.stride != 4:
            raise ValueError(f"only stride 4 is supported, got {self.stride}")
        if len(self.widths) != 4 or min(self.widths) < 1:
            raise ValueError(f"widths must be 4 positive ints, got {self.widths}")
        if not self.target_diameter_px > 0:
            raise ValueError(f"target_diameter_px must be > 0, got {self.target_diameter_px}")
        if not self.lowpass >= 0:
            raise ValueError(f"lowpass must be >= 0, got {self.lowpass}")
        if not (self.background >= 0 and self.background < float("inf")):
            raise ValueError(f"background must be >= 0 and finite, got {self.background}")
        if not isinstance(self.extra, dict):  # (a fuzzed checkpoint's [1]: a traceback later)
            raise ValueError(f"extra must be a mapping, got {type(self.extra).__name__}")
        if (
            not self.head_names
            or "" in self.head_names
            or len(set(self.head_names)) != len(self.head_names)
        ):
            raise ValueError(f"head_names must be unique and non-empty, got {self.head_names}")

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (lists, str, int, float, bool), for ``weights_only`` loading."""
        return {
            "kinds": list(self.kinds),
            "size_head": bool(self.size_head),
            "stride": int(self.stride),
            "target_diameter_px": float(self.target_diameter_px),
            "widths": list(self.widths),
            "feature_channels": int(self.feature_channels),
            "head_width": int(self.head_width),
            "head_names": list(self.head_names),
            "lowpass": float(self.lowpass),
            "background": float(self.background),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DetectorConfig:
        """Inverse of :meth:`to_dict`; unknown keys (from a newer version) are ignored, and a
        missing ``background`` (a checkpoint saved before the field) is 0, as it was trained."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {key: value for key, value in values.items() if key in known}
        kwargs.setdefault("background", 0.0)  # saved before the field: none, as trained
        for key in ("kinds", "widths", "head_names"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)
