"""The detector: a small encoder-decoder body and named CenterNet-style heads.

Output maps are at stride 4. For an input ``x`` of shape ``[B, 1, H, W]``
every output has spatial shape ``[ceil(H/4), ceil(W/4)]``; cell ``(i, j)``
covers input pixels ``4i .. 4i+3`` (rows) and ``4j .. 4j+3`` (columns).

Decoding (all positions in *input* pixels, pixel-centre convention, see
:func:`decode_positions`):

``heatmap``
    logits ``[B, K, h, w]`` (one channel per ``config.kinds``); apply
    ``sigmoid`` for scores.
``offset``
    ``[B, 2, h, w]`` in the order ``(dx, dy)``: the object centre of cell
    ``(i, j)`` is ``x = (j + dx) * 4 - 0.5``, ``y = (i + dy) * 4 - 0.5``;
    targets lie in ``[0, 1)`` at the centre cell, ``[-r, r + 1)`` in the cells
    up to ``r`` (``TrainConfig.offset_radius``) from it.
``size``
    ``[B, 1, h, w]`` log-diameter relative to ``config.target_diameter_px``;
    the diameter in input pixels is ``target_diameter_px * exp(size)``
    (:meth:`Detector.decode_size`). Absent when ``config.size_head`` is False.
``features``
    ``[B, C, h, w]`` the shared stride-4 features (for distillation).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from napari_cryopick.core.model.config import DetectorConfig

#: Initial heatmap bias: sigmoid(-2.19) = 0.1, CenterNet's prior for rare centres.
HEATMAP_BIAS_INIT = -2.19


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Zero-pad the last two axes of ``x`` at the bottom/right to a multiple.

    Parameters
    ----------
    x
        Tensor ``[..., H, W]``.
    multiple
        The padded ``H`` and ``W`` are multiples of this.

    Returns
    -------
    padded, (H, W)
        The padded tensor and the original spatial size. Zero is the mean of a
        normalised micrograph, so the padding looks like flat background.
    """
    height, width = x.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, (height, width)


class ConvBNReLU(nn.Sequential):
    """``k x k`` convolution, batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut (ResNet basic block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvBNReLU(channels, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.norm2(self.conv2(self.conv1(x)))
        return F.relu(out + x, inplace=True)


class Body(nn.Module):
    """Lightweight ResNet/FPN-style encoder-decoder ending at stride 4.

    Encoder levels at strides 2, 4, 8, 16 (``widths``); the decoder upsamples
    the stride-16 level twice with additive skip connections. The receptive
    field of a stride-4 output cell is about 160 input pixels, i.e. nearly six
    particle diameters at the default 28 px target diameter.
    """

    def __init__(self, widths: tuple[int, ...], feature_channels: int):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = ConvBNReLU(1, w0, stride=2)
        self.level1 = nn.Sequential(ConvBNReLU(w0, w1, stride=2), ConvBNReLU(w1, w1))
        self.level2 = nn.Sequential(ConvBNReLU(w1, w2, stride=2), ResidualBlock(w2))
        self.level3 = nn.Sequential(ConvBNReLU(w2, w3, stride=2), ResidualBlock(w3))
        self.lateral3 = nn.Conv2d(w3, w2, 1)
        self.fuse2 = ConvBNReLU(w2, w2)
        self.lateral2 = nn.Conv2d(w2, w1, 1)
        self.fuse1 = ConvBNReLU(w1, feature_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # [B, w0, H/2, W/2]
        c1 = self.level1(x)  # [B, w1, H/4, W/4]
        c2 = self.level2(c1)  # [B, w2, H/8, W/8]
        c3 = self.level3(c2)  # [B, w3, H/16, W/16]
        p2 = self.fuse2(
            c2 + F.interpolate(self.lateral3(c3), scale_factor=2.0)
        )  # [B, w2, H/8, W/8]
        p1 = self.fuse1(c1 + F.interpolate(self.lateral2(p2), scale_factor=2.0))  # [B, C, H/4, W/4]
        return p1


class _SubHead(nn.Sequential):
    """1x1 conv, ReLU, 1x1 conv: a per-cell predictor on the shared features."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1),
        )


class DetectionHead(nn.Module):
    """One detection head: heatmap logits, sub-pixel offset and log-size.

    Parameters
    ----------
    in_channels
        Channels of the shared features.
    num_kinds
        Heatmap channels ``K``.
    hidden
        Hidden channels of each sub-head.
    size_head
        Whether to predict the size map.
    """

    def __init__(self, in_channels: int, num_kinds: int, hidden: int, size_head: bool = True):
        super().__init__()
        self.heatmap = _SubHead(in_channels, hidden, num_kinds)
        self.offset = _SubHead(in_channels, hidden, 2)
        self.size = _SubHead(in_channels, hidden, 1) if size_head else None
        nn.init.constant_(self.heatmap[-1].bias, HEATMAP_BIAS_INIT)
        nn.init.constant_(self.offset[-1].bias, 0.5)  # the middle of a cell
        if self.size is not None:
            nn.init.zeros_(self.size[-1].bias)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        outputs = {
            "heatmap": self.heatmap(features),  # [B, K, H/4, W/4] logits
            "offset": self.offset(features),  # [B, 2, H/4, W/4] (dx, dy) in cells
        }
        if self.size is not None:
            outputs["size"] = self.size(features)  # [B, 1, H/4, W/4] log(d / target)
        return outputs


#: First character of an escaped head key (:func:`head_key`); never in a Python name.
HEAD_KEY_ESCAPE = "%"
_ESCAPED = re.compile(r"%(25|2E)")


def _escaped_key(name: str) -> str:
    """``name`` as an escaped key: :data:`HEAD_KEY_ESCAPE`, then ``name`` with ``%`` and
    ``.`` percent-encoded (``train`` -> ``%train``, ``a.b`` -> ``%a%2Eb``)."""
    return HEAD_KEY_ESCAPE + name.replace("%", "%25").replace(".", "%2E")


def head_key(name: str) -> str:
    """The module key a head of this name has inside :class:`HeadDict` (and so in
    ``state_dict`` keys ``heads.<key>.…``).

    The name itself, as in every checkpoint written before, unless torch refuses it as a
    module name -- an attribute of the module dict (``train``, ``eval``, ``to``,
    ``forward``, ``state_dict``, ...) or a name with a dot -- or it starts with
    :data:`HEAD_KEY_ESCAPE`: then :func:`_escaped_key`, which no Python attribute is.
    Users only ever see the name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a head name must be a non-empty text, got {name!r}")
    if name.startswith(HEAD_KEY_ESCAPE) or "." in name or hasattr(_RESERVED, name):
        return _escaped_key(name)
    return name


def head_name(key: str) -> str:
    """The head name of a :class:`HeadDict` key (the inverse of :func:`head_key`)."""
    if not key.startswith(HEAD_KEY_ESCAPE):
        return key
    return _ESCAPED.sub(lambda m: "%" if m.group(1) == "25" else ".", key[1:])


class HeadDict(nn.ModuleDict):
    """The detector's heads by name; any non-empty name, ``train`` and ``a.b`` included.

    An ``nn.ModuleDict`` whose keys are :func:`head_key` of the names: indexing,
    ``in``, iteration, ``keys`` and ``items`` take and give the names, the
    ``state_dict`` holds the keys. Loading also takes the other spelling of a name's
    key (a name torch reserves in one version and not in another).
    """

    def __init__(self, heads: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        for name, module in (heads or {}).items():
            self[name] = module

    def __getitem__(self, name: str) -> nn.Module:
        if name not in self:
            raise KeyError(name)
        return self._modules[head_key(name)]

    def __setitem__(self, name: str, module: nn.Module) -> None:
        self.add_module(head_key(name), module)

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        del self._modules[head_key(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(name) and head_key(name) in self._modules

    def __iter__(self) -> Iterator[str]:
        return (head_name(key) for key in self._modules)

    def keys(self) -> list[str]:
        """The head names, in insertion order."""
        return list(self)

    def items(self) -> list[tuple[str, nn.Module]]:
        """``(name, head)`` pairs, in insertion order."""
        return [(head_name(key), module) for key, module in self._modules.items()]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # a head saved under the other spelling of its key (torch reserved its name when
        # it was saved and no longer does, or the reverse) is renamed in place before
        # torch hands each head its weights, as torch's own key migrations do
        for key in list(self._modules):
            name = head_name(key)
            if any(k.startswith(f"{prefix}{key}.") for k in state_dict):
                continue
            for other in (name, _escaped_key(name)):
                if other in self._modules or "." in other:
                    continue
                old = f"{prefix}{other}."
                for k in [k for k in state_dict if k.startswith(old)]:
                    state_dict[f"{prefix}{key}.{k[len(old) :]}"] = state_dict.pop(k)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


#: An empty head dict: a name it has as an attribute is one torch refuses as a key.
_RESERVED = HeadDict()


class Detector(nn.Module):
    """CenterNet-style particle detector with named heads.

    Parameters
    ----------
    config
        Architecture; ``config.head_names`` lists the heads built.

    Notes
    -----
    Any ``H, W`` is accepted: the input is zero-padded to a multiple of
    :attr:`size_multiple` (16, the stride of the deepest level) and the
    outputs are cropped back to ``ceil(H/4), ceil(W/4)``.
    """

    size_multiple: int = 16

    def __init__(self, config: DetectorConfig | None = None):
        super().__init__()
        config = copy.deepcopy(config) if config is not None else DetectorConfig()
        self.config = config
        self.body = Body(config.widths, config.feature_channels)
        # by name; any name, those torch reserves for modules (train, eval, to) included
        self.heads = HeadDict({name: self._new_head() for name in config.head_names})

    @property
    def stride(self) -> int:
        """Output stride of every map (4)."""
        return self.config.stride

    @property
    def kinds(self) -> tuple[str, ...]:
        """Heatmap channel names."""
        return self.config.kinds

    @property
    def head_names(self) -> tuple[str, ...]:
        """Names of the heads, in creation order."""
        return tuple(self.heads.keys())

    @property
    def default_head(self) -> str:
        """``"generic"`` if present, else the first head."""
        return "generic" if "generic" in self.heads else next(iter(self.heads.keys()))

    def _new_head(self) -> DetectionHead:
        return DetectionHead(
            self.config.feature_channels,
            len(self.config.kinds),
            self.config.head_width,
            self.config.size_head,
        )

    def add_head(self, name: str, init_from: str | None = None) -> DetectionHead:
        """Add a head, optionally a copy of the weights of an existing head.

        Parameters
        ----------
        name
            Name of the new head (must not exist): any non-empty text, ``train`` or
            ``a.b`` included (:class:`HeadDict`).
        init_from
            Existing head to copy the weights from; a fresh initialisation if None.

        Returns
        -------
        DetectionHead
            The new head (on the device of the body).
        """
        head_key(name)  # a non-empty text
        if name in self.heads:
            raise ValueError(f"head {name!r} already exists")
        if init_from is not None and init_from not in self.heads:
            raise ValueError(f"no head {init_from!r}; heads are {list(self.head_names)}")
        head = self._new_head()
        if init_from is not None:
            head.load_state_dict(self.heads[init_from].state_dict())
        parameter = next(self.body.parameters())
        head.to(device=parameter.device, dtype=parameter.dtype)
        self.heads[name] = head
        self.config.head_names = self.head_names
        return head

    def forward(self, x: Tensor, head: str | None = None) -> dict[str, Tensor]:
        """Run the body and one head.

        Parameters
        ----------
        x
            Normalised prepared micrographs ``[B, 1, H, W]``.
        head
            Head name; :attr:`default_head` if None.

        Returns
        -------
        dict
            ``heatmap`` ``[B, K, h, w]`` logits, ``offset`` ``[B, 2, h, w]``
            (dx, dy), ``size`` ``[B, 1, h, w]`` (if ``size_head``) and
            ``features`` ``[B, C, h, w]``, with ``h, w = ceil(H/4), ceil(W/4)``.
        """
        name = self.default_head if head is None else head
        if name not in self.heads:
            raise KeyError(f"no head {name!r}; heads are {list(self.head_names)}")
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected input [B, 1, H, W], got {tuple(x.shape)}")
        padded, (height, width) = pad_to_multiple(x, self.size_multiple)
        out_h = math.ceil(height / self.stride)
        out_w = math.ceil(width / self.stride)
        features = self.body(padded)  # [B, C, Hp/4, Wp/4]
        outputs = self.heads[name](features)
        outputs["features"] = features
        return {key: value[..., :out_h, :out_w] for key, value in outputs.items()}

    def decode_size(self, size: Tensor) -> Tensor:
        """Diameter in input (prepared) pixels from the ``size`` output."""
        return self.config.target_diameter_px * torch.exp(size)

    def encode_size(self, diameter_px: Tensor) -> Tensor:
        """Inverse of :meth:`decode_size` (training targets)."""
        return torch.log(diameter_px / self.config.target_diameter_px)


def decode_positions(offset: Tensor, rows: Tensor, cols: Tensor, stride: int = 4) -> Tensor:
    """Object centres in input pixels from cell indices and the offset map.

    Parameters
    ----------
    offset
        ``[2, h, w]`` offset map of one image, order (dx, dy).
    rows, cols
        Integer cell indices, shape ``(N,)``.
    stride
        Output stride.

    Returns
    -------
    Tensor
        ``(N, 2)`` centres ``(x, y)`` in input pixels: ``x = (col + dx) * stride - 0.5``.
    """
    dx = offset[0, rows, cols]
    dy = offset[1, rows, cols]
    x = (cols.to(offset.dtype) + dx) * stride - 0.5
    y = (rows.to(offset.dtype) + dy) * stride - 0.5
    return torch.stack([x, y], dim=1)
