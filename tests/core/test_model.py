"""Detector network, config, inputs, targets and losses (tiny CPU tensors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from napari_cryopick.core.model import (
    DetectionHead,
    Detector,
    DetectorConfig,
    diameter_from_angstrom,
    pad_to_multiple,
    prepare_micrograph,
    resolve_device,
    to_original,
    to_prepared,
)
from napari_cryopick.core.model.losses import (
    detection_losses,
    focal_loss,
    sparse_label_weights,
)
from napari_cryopick.core.model.network import decode_positions
from napari_cryopick.core.model.targets import build_targets
from napari_cryopick.core.pick_table import make_picks

torch.set_num_threads(1)


def _tiny_config(**kwargs) -> DetectorConfig:
    values = {"widths": (4, 8, 8, 8), "feature_channels": 8, "head_width": 8}
    values.update(kwargs)
    return DetectorConfig(**values)


# --- network ---


@pytest.mark.parametrize(("height", "width"), [(64, 64), (37, 50), (1, 5), (65, 129)])
def test_forward_shapes_any_size(height, width):
    model = Detector(_tiny_config(kinds=("particle", "vesicle"))).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, height, width))
    h, w = math.ceil(height / 4), math.ceil(width / 4)
    assert out["heatmap"].shape == (2, 2, h, w)
    assert out["offset"].shape == (2, 2, h, w)
    assert out["size"].shape == (2, 1, h, w)
    assert out["features"].shape == (2, 8, h, w)


def test_no_size_head_and_bad_input():
    model = Detector(_tiny_config(size_head=False)).eval()
    out = model(torch.zeros(1, 1, 32, 32))
    assert "size" not in out
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(KeyError, match="nope"):
        model(torch.zeros(1, 1, 32, 32), head="nope")


def test_heatmap_bias_initialisation():
    model = Detector(_tiny_config()).eval()
    head = model.heads["generic"]
    assert isinstance(head, DetectionHead)
    assert torch.allclose(head.heatmap[-1].bias, torch.tensor(-2.19))


def test_outputs_do_not_depend_on_padding_of_the_batch():
    # The cropped output of a 40x40 input equals the top-left of the 48x48
    # padded input: pad_to_multiple pads only bottom/right with zeros.
    model = Detector(_tiny_config()).eval()
    x = torch.randn(1, 1, 40, 40)
    padded, size = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (48, 48)
    assert size == (40, 40)
    assert torch.equal(padded[..., :40, :40], x)
    assert padded[..., 40:, :].abs().sum() == 0
    with torch.no_grad():
        a = model(x)["heatmap"]
        b = model(padded)["heatmap"][..., :10, :10]
    assert torch.allclose(a, b, atol=1e-6)


def test_heads_dict_and_add_head_copies_weights():
    model = Detector(_tiny_config(head_names=("generic", "other")))
    assert isinstance(model.heads, torch.nn.ModuleDict)
    assert model.head_names == ("generic", "other")
    assert model.default_head == "generic"
    with torch.no_grad():
        model.heads["generic"].heatmap[0].weight.add_(1.0)
    model.add_head("copy", init_from="generic")
    model.add_head("fresh")
    assert model.config.head_names == ("generic", "other", "copy", "fresh")
    for key, value in model.heads["generic"].state_dict().items():
        assert torch.equal(value, model.heads["copy"].state_dict()[key])
    # a copy, not shared parameters
    assert model.heads["copy"].heatmap[0].weight.data_ptr() != (
        model.heads["generic"].heatmap[0].weight.data_ptr()
    )
    assert not torch.equal(
        model.heads["fresh"].heatmap[0].weight, model.heads["generic"].heatmap[0].weight
    )
    x = torch.randn(1, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x, head="copy")["heatmap"], model(x)["heatmap"])
    with pytest.raises(ValueError, match="already exists"):
        model.add_head("copy")
    with pytest.raises(ValueError, match="no head"):
        model.add_head("x", init_from="missing")


def test_default_head_without_generic():
    model = Detector(_tiny_config(head_names=("b", "a")))
    assert model.default_head == "b"


def test_decode_size_and_positions():
    model = Detector(_tiny_config(target_diameter_px=20.0))
    size = model.encode_size(torch.tensor([10.0, 20.0, 40.0]))
    assert torch.allclose(size, torch.tensor([-math.log(2), 0.0, math.log(2)]))
    assert torch.allclose(model.decode_size(size), torch.tensor([10.0, 20.0, 40.0]))
    offset = torch.zeros(2, 3, 3)
    offset[0, 1, 2] = 0.25
    offset[1, 1, 2] = 0.75
    xy = decode_positions(offset, torch.tensor([1]), torch.tensor([2]))
    assert torch.allclose(xy, torch.tensor([[(2 + 0.25) * 4 - 0.5, (1 + 0.75) * 4 - 0.5]]))


def test_config_round_trip_and_validation():
    config = DetectorConfig(kinds=("particle", "fiber"), head_names=("generic", "x"))
    values = config.to_dict()
    assert all(isinstance(v, (list, str, int, float, bool, dict)) for v in values.values())
    assert DetectorConfig.from_dict({**values, "from_the_future": 1}) == config
    with pytest.raises(ValueError, match="negative"):
        DetectorConfig(kinds=("particle", "negative"))
    with pytest.raises(ValueError, match="stride"):
        DetectorConfig(stride=8)
    # a fuzzing review: a checkpoint of kind "banana" trained on nothing, exit 0
    with pytest.raises(ValueError, match="unknown kind 'banana'"):
        DetectorConfig(kinds=("particle", "banana"))


def test_a_damaged_model_card_reads_as_what_it_can_say():
    """A fuzzing review: ``heads: 5`` in a checkpoint's metadata gave a TypeError traceback."""
    from napari_cryopick.core.model.card import ModelCard

    card = ModelCard.from_metadata(
        {
            "heads": 5,
            "kinds": "particle",
            "datasets": 3,
            "history": {"mode": "new"},
            "dataset_info": {"a": {"micrographs": "many", "labels": -4}},
        }
    )
    assert card.heads == ("generic",)
    assert card.kinds == ("particle",)
    assert card.history == ()
    assert [(d.name, d.micrographs, d.labels) for d in card.datasets] == [("a", 0, 0)]


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device(None).type in ("cpu", "cuda")
    with pytest.raises(ValueError, match=r"unknown device|unsupported"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_forward_on_gpu_matches_cpu():
    model = Detector(_tiny_config()).eval()
    x = torch.randn(1, 1, 48, 40)
    with torch.no_grad():
        cpu = model(x)["heatmap"]
        gpu = model.to("cuda")(x.cuda())["heatmap"].cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)


# --- inputs ---


def test_prepare_micrograph_scale_and_coordinates():
    config = DetectorConfig(target_diameter_px=20.0)
    image = np.random.default_rng(0).normal(5.0, 2.0, (200, 300)).astype(np.float32)
    prepared = prepare_micrograph(image, 40.0, config)
    assert prepared.image.shape == (100, 150)
    assert prepared.image.dtype == np.float32
    assert prepared.scale_y == pytest.approx(0.5)
    assert prepared.scale_x == pytest.approx(0.5)
    assert abs(float(np.median(prepared.image))) < 0.1
    picks = make_picks([10.0, 250.0], [20.0, 150.0], diameter=40.0)
    on_prepared = to_prepared(picks, prepared)
    assert on_prepared["x"].tolist() == pytest.approx([5.0, 125.0])
    assert on_prepared["diameter"].tolist() == pytest.approx([20.0, 20.0])
    back = to_original(on_prepared, prepared)
    assert back[["x", "y", "diameter"]].to_numpy() == pytest.approx(
        picks[["x", "y", "diameter"]].to_numpy()
    )


def test_prepared_blob_stays_at_scaled_position():
    # A blob at original (x=60, y=90) sits at prepared (30, 45) after halving.
    yy, xx = np.mgrid[:200, :160]
    noise = np.random.default_rng(1).normal(0.0, 0.05, xx.shape)
    image = np.exp(-((xx - 60.0) ** 2 + (yy - 90.0) ** 2) / (2 * 6.0**2)) + noise
    prepared = prepare_micrograph(image, 40.0, DetectorConfig(target_diameter_px=20.0))
    # normalisation clips the blob to a plateau: use its centroid (window
    # around it, so that noise pixels elsewhere do not count)
    window = prepared.image[25:65, 10:50]
    rows, cols = np.nonzero(window >= 4.0)
    assert rows.mean() + 25 == pytest.approx(45.0, abs=0.3)
    assert cols.mean() + 10 == pytest.approx(30.0, abs=0.3)


def test_diameter_from_angstrom():
    assert diameter_from_angstrom(150.0, 1.5) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="pixel size"):
        diameter_from_angstrom(150.0, None)
    with pytest.raises(ValueError, match="pixel size"):
        diameter_from_angstrom(150.0, float("nan"))


# --- targets ---


def test_targets_peak_offset_size():
    picks = make_picks([21.0, 7.0], [10.0, 30.0], diameter=[20.0, 40.0])
    targets = build_targets(picks, (40, 36), ("particle",), target_diameter_px=20.0)
    heatmap = targets["heatmap"]
    assert heatmap.shape == (1, 10, 9)
    # x=21 -> u=(21.5)/4=5.375 -> col 5, dx=0.375; y=10 -> u=2.625 -> row 2, dy=0.625
    assert heatmap[0, 2, 5] == 1.0
    assert targets["offset"][:, 2, 5] == pytest.approx([0.375, 0.625])
    assert targets["size"][0, 2, 5] == pytest.approx(0.0)
    # x=7 -> col 1, dx=0.875; y=30 -> row 7, dy=0.625; log(40/20)
    assert heatmap[0, 7, 1] == 1.0
    assert targets["offset"][:, 7, 1] == pytest.approx([0.875, 0.625])
    assert targets["size"][0, 7, 1] == pytest.approx(math.log(2.0))
    assert targets["reg_mask"].sum() == 2
    assert (heatmap == 1.0).sum() == 2
    # Gaussian falls off from the peak; bigger objects get wider peaks
    assert 0 < heatmap[0, 2, 6] < 1
    assert heatmap[0, 2, 6] > heatmap[0, 2, 7]
    assert heatmap[0, 7, 2] > heatmap[0, 2, 6]
    # decoding the target recovers the pick
    xy = decode_positions(
        torch.from_numpy(targets["offset"]), torch.tensor([2, 7]), torch.tensor([5, 1])
    )
    assert xy.numpy() == pytest.approx(np.array([[21.0, 10.0], [7.0, 30.0]]))


def test_targets_offset_radius_points_neighbours_to_the_centre():
    # two objects 5 cells apart: every cell of each 3 x 3 window points to its object
    picks = make_picks([21.0, 41.0], [10.0, 10.0], diameter=[20.0, 20.0])
    targets = build_targets(picks, (40, 60), ("particle",), offset_radius=1)
    mask = targets["offset_mask"][0]
    assert mask.sum() == 18
    assert targets["reg_mask"].sum() == 2  # the size stays at the centre cells
    rows, cols = np.nonzero(mask)
    xy = decode_positions(
        torch.from_numpy(targets["offset"]), torch.from_numpy(rows), torch.from_numpy(cols)
    ).numpy()
    expected = np.where(cols[:, None] < 8, [[21.0, 10.0]], [[41.0, 10.0]])
    assert xy == pytest.approx(expected)
    # a cell between two touching objects points to the nearer one
    close = build_targets(
        make_picks([21.0, 29.0], [10.0, 10.0], diameter=20.0),
        (40, 60),
        ("particle",),
        offset_radius=1,
    )
    # x=21 -> col 5 (u 5.375), x=29 -> col 7 (u 7.375): cell 6 (centre 6.5) is nearer the second
    assert close["offset"][0, 2, 6] == pytest.approx(7.375 - 6)
    # two objects under two cells apart: each centre cell is its own object's, size and
    # offset alike, though the other lies nearer its middle (a review)
    # A at u (5.95, 2.95): cell (2, 5), 0.64 from its middle; B at u (6.05, 2.5): cell
    # (2, 6), 0.55 from the middle of A's cell
    for order in ((0, 1), (1, 0)):
        x, y, d = np.array([23.3, 23.7]), np.array([11.3, 9.5]), np.array([20.0, 40.0])
        pair = make_picks(x[list(order)], y[list(order)], diameter=d[list(order)])
        tight = build_targets(pair, (40, 60), ("particle",), offset_radius=1)
        assert tight["offset"][:, 2, 5] == pytest.approx([0.95, 0.95])
        assert tight["size"][0, 2, 5] == pytest.approx(0.0)
        assert tight["offset"][:, 2, 6] == pytest.approx([0.05, 0.5])
        assert tight["size"][0, 2, 6] == pytest.approx(math.log(2.0))
    # radius 0: the offset is learned at the centre cells only, as CenterNet
    assert (
        build_targets(picks, (40, 60), ("particle",))["offset_mask"] == targets["reg_mask"]
    ).all()


def test_targets_negatives_and_kinds():
    picks = make_picks(
        [20.0, 60.0, 40.0, 99.0],
        [20.0, 20.0, 60.0, 99.0],
        diameter=[20.0, 20.0, 24.0, float("nan")],
        kind=["particle", "vesicle", "negative", "fiber"],
    )
    targets = build_targets(picks, (80, 80), ("particle", "vesicle"))
    assert targets["heatmap"][0, 5, 5] == 1.0
    assert targets["heatmap"][1, 5, 15] == 1.0
    assert targets["heatmap"][0, 5, 15] == 0.0
    negative = targets["negative_mask"][0]
    assert negative[15, 10] == 1.0
    # disc of radius 24/4/2 = 3 cells around cell coordinates (14.625, 9.625)
    assert negative[15, 12] == 1.0
    assert negative[15, 13] == 0.0
    assert negative[12, 10] == 1.0
    assert negative[11, 10] == 0.0
    assert negative[:8].sum() == 0
    # the "fiber" pick (not a kind of this model) and off-image parts are ignored
    assert targets["reg_mask"].sum() == 2


def test_unknown_picks_mark_a_disc_but_are_no_label():
    picks = make_picks(
        [20.0, 60.0], [20.0, 60.0], diameter=[20.0, 24.0], kind=["particle", "unknown"]
    )
    targets = build_targets(picks, (80, 80), ("particle",))
    unknown = targets["unknown_mask"][0]
    assert unknown[15, 15] == 1.0
    assert unknown[15, 12] == 1.0  # disc of radius 3 cells
    assert unknown[15, 11] == 0.0
    assert unknown[:8].sum() == 0
    assert targets["negative_mask"].sum() == 0
    assert targets["heatmap"][0, 15, 15] == 0.0
    assert targets["reg_mask"].sum() == 1


def test_targets_empty_and_edge():
    empty = build_targets(make_picks(), (17, 17), ("particle",))
    assert empty["heatmap"].shape == (1, 5, 5)
    assert empty["heatmap"].sum() == 0
    outside = build_targets(make_picks([-3.0], [8.0], diameter=20.0), (32, 32), ("particle",))
    assert outside["reg_mask"].sum() == 0
    assert 0 < outside["heatmap"][0, 2, 0] < 1  # the visible tail of the peak


# --- losses ---


def test_focal_loss_matches_hand_computation():
    logits = torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]]])  # [1, 1, 2, 2]
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    p = 1 / (1 + np.exp(-np.array([0.0, 1.0, -1.0, 2.0])))
    positive = -((1 - p[0]) ** 2) * np.log(p[0])
    negatives = [
        -((1 - 0.5) ** 4) * p[1] ** 2 * np.log(1 - p[1]),
        -(p[2] ** 2) * np.log(1 - p[2]),
        -(p[3] ** 2) * np.log(1 - p[3]),
    ]
    expected = (positive + sum(negatives)) / 1.0
    assert float(focal_loss(logits, target)) == pytest.approx(expected, rel=1e-5)
    # no positives: normalised by 1, not 0
    no_pos = focal_loss(logits, torch.zeros_like(target))
    assert torch.isfinite(no_pos)


def test_focal_loss_gradient_direction():
    logits = torch.zeros(1, 1, 3, 3, requires_grad=True)
    target = torch.zeros(1, 1, 3, 3)
    target[0, 0, 1, 1] = 1.0
    focal_loss(logits, target).backward()
    assert logits.grad[0, 0, 1, 1] < 0  # raise the peak
    assert logits.grad[0, 0, 0, 0] > 0  # lower the background


def _sparse_case():
    # One labelled centre, one confident unlabelled local max (p=0.9), one
    # medium unlabelled (p=0.6), one user negative with p=0.9.
    logits = torch.full((1, 1, 8, 8), -4.0)
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 1, 1] = 1.0
    logits[0, 0, 1, 1] = 2.0
    logit = math.log(0.9 / 0.1)
    logits[0, 0, 4, 4] = logit  # unlabelled confident
    logits[0, 0, 1, 6] = math.log(0.6 / 0.4)  # unlabelled medium
    logits[0, 0, 6, 6] = logit  # user negative
    negative_mask = torch.zeros(1, 1, 8, 8)
    negative_mask[0, 0, 6, 6] = 1.0
    return logits, target, negative_mask


def test_sparse_weights_pseudo_labels_and_user_negatives():
    logits, target, negative_mask = _sparse_case()
    positive, weight = sparse_label_weights(logits, target, negative_mask)
    assert positive[0, 0, 1, 1]
    assert positive[0, 0, 4, 4]
    assert not positive[0, 0, 1, 6]
    assert not positive[0, 0, 6, 6]
    assert positive.sum() == 2
    assert weight[0, 0, 1, 6] == pytest.approx(0.1)
    assert weight[0, 0, 6, 6] == 1.0  # user negative: full penalty
    assert weight[0, 0, 0, 0] == 1.0


def test_no_pseudo_label_beside_a_label():
    """A review: a model peaking one cell off a click (clicks are rarely centred) made a
    second positive of the clicked particle; a peak half a diameter away is one."""
    # a click at (42, 42) prepared px (cell 10), a particle 28 px wide: 7 cells
    click = make_picks([42.0], [42.0], diameter=28.0)
    targets = build_targets(click, (96, 96), ("particle",), stride=4, target_diameter_px=28.0)
    target = torch.from_numpy(targets["heatmap"])[None]
    logits = torch.full_like(target, -4.0)
    logits[0, 0, 10, 11] = math.log(0.85 / 0.15)  # the model's peak, one cell off
    logits[0, 0, 10, 14] = math.log(0.85 / 0.15)  # and 4 cells off, past half a diameter
    negative_mask = torch.zeros(1, 1, *target.shape[-2:])
    positive, _ = sparse_label_weights(logits, target, negative_mask)
    assert positive[0, 0, 10, 10]  # the click
    assert not positive[0, 0, 10, 11]
    assert positive[0, 0, 10, 14]
    assert int(positive.sum()) == 2


def _loss_gradient(logits, target, negative_mask, sparse, unknown_mask=None):
    logits = logits.clone().requires_grad_(True)
    zeros = torch.zeros(1, 2, 8, 8)
    outputs = {"heatmap": logits, "offset": zeros, "size": zeros[:, :1]}
    targets = {
        "heatmap": target,
        "offset": zeros,
        "size": zeros[:, :1],
        "reg_mask": (target >= 1).float(),
        "negative_mask": negative_mask,
    }
    if unknown_mask is not None:
        targets["unknown_mask"] = unknown_mask
    losses = detection_losses(outputs, targets, sparse=sparse)
    losses["total"].backward()
    assert set(losses) == {"heatmap", "offset", "size", "total"}
    return logits.grad[0, 0], losses


def test_unknown_cells_get_the_reduced_penalty_unless_a_user_negative_covers_them():
    logits, target, negative_mask = _sparse_case()
    unknown = torch.zeros(1, 1, 8, 8)
    unknown[0, 0, 3, 1] = 1.0  # low-scoring unlabelled cell the starting model found
    unknown[0, 0, 6, 6] = 1.0  # also inside the user negative
    _, plain = sparse_label_weights(logits, target, negative_mask)
    _, weight = sparse_label_weights(logits, target, negative_mask, unknown_mask=unknown)
    assert plain[0, 0, 3, 1] == 1.0
    assert weight[0, 0, 3, 1] == pytest.approx(0.1)
    assert weight[0, 0, 6, 6] == 1.0
    assert torch.equal(weight[unknown == 0], plain[unknown == 0])
    # the same in the complete-label loss: the gradient at the unknown cell shrinks tenfold
    for sparse in (False, True):
        base, _ = _loss_gradient(logits, target, negative_mask, sparse)
        grad, _ = _loss_gradient(logits, target, negative_mask, sparse, unknown)
        assert grad[3, 1] == pytest.approx(0.1 * float(base[3, 1]), rel=1e-5)
        assert grad[6, 6] == pytest.approx(float(base[6, 6]), rel=1e-5)


def test_sparse_loss_spares_confident_unlabelled_but_not_user_negatives():
    logits, target, negative_mask = _sparse_case()
    dense, dense_losses = _loss_gradient(logits, target, negative_mask, sparse=False)
    sparse, sparse_losses = _loss_gradient(logits, target, negative_mask, sparse=True)
    # dense: the confident unlabelled cell is pushed down as hard as the user negative
    assert dense[4, 4] > 0
    assert dense[4, 4] == pytest.approx(float(dense[6, 6]), rel=1e-5)
    # sparse: it becomes a pseudo-positive (pushed up), the user negative is
    # still pushed down in full, and a medium unlabelled cell only weakly
    assert sparse[4, 4] < 0
    assert sparse[6, 6] > 0
    assert sparse[1, 6] > 0
    # dense normalises by 1 positive, sparse by 2 (label + pseudo-label)
    assert sparse[6, 6] == pytest.approx(float(dense[6, 6]) / 2, rel=1e-5)
    assert sparse[1, 6] == pytest.approx(0.1 * float(dense[1, 6]) / 2, rel=1e-5)
    assert sparse_losses["heatmap"] < dense_losses["heatmap"]
