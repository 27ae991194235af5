"""A short training on ONE real micrograph finds particles on another one.

Real data (``real_data_dir`` fixture, EMPIAR-10028 ribosome: 1024x1024, 56 px
particles, high contrast, sparse labels). The detector trains briefly on the
labels of one micrograph and picks a different micrograph; AP@0.5 against that
micrograph's labels must clearly beat the untrained model's. The labels are
sparse (visible ribosomes are unlabelled), so the AP is a lower bound: a
correct detector is penalised for every unlabelled ribosome it finds.

Budget: well under a minute on one shared CPU core.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from napari_cryopick.core.detect import PickConfig, pick_micrograph
from napari_cryopick.core.evaluate import evaluate
from napari_cryopick.core.model import Detector, DetectorConfig
from napari_cryopick.core.pick_table import make_picks
from napari_cryopick.core.progress import drive
from napari_cryopick.core.training import TrainConfig, build_examples, train_detector
from napari_cryopick.io.micrographs import read_micrograph

DATASET = "empiar10028_ribosome"
TRAIN, TEST = "061_10028", "311_10028"

#: Calibrated on this machine (seeds 0 and 1): the trained model reaches 0.78,
#: the untrained one 0.02 (its heatmap has no peaks on particles).
MIN_TRAINED_AP = 0.5
MAX_UNTRAINED_AP = 0.1


def _load(folder, name):
    image = read_micrograph(next((folder / "micrographs").glob(f"{name}.*"))).data
    table = pd.read_csv(folder / "picks" / f"{name}.csv")
    picks = make_picks(table["x"], table["y"], diameter=table["diameter"], micrograph=name)
    return image, picks


def _ap(model, image, truth, diameter):
    result = pick_micrograph(
        model,
        image,
        diameter_px=diameter,
        config=PickConfig(device="cpu", score_floor=0.01),
        micrograph_name=truth["micrograph"].iloc[0],
    )
    report = evaluate(result.picks, truth, iou_thresholds=(0.5,), diameter_px=diameter)
    return report.ap["AP@0.5"]


@pytest.mark.slow
def test_short_training_on_one_real_micrograph_finds_particles(real_data_dir):
    folder = real_data_dir / DATASET
    if not folder.is_dir():
        pytest.fail(f"{folder} missing from the real data folder")
    diameter = float(json.loads((folder / "dataset.json").read_text())["particle_diameter_px"])
    train_image, train_picks = _load(folder, TRAIN)
    test_image, test_truth = _load(folder, TEST)
    torch.set_num_threads(1)
    config = DetectorConfig()
    torch.manual_seed(0)
    untrained_ap = _ap(Detector(config).eval(), test_image, test_truth, diameter)

    examples = build_examples([train_image], [train_picks], diameter, config, names=[TRAIN])
    train_config = TrainConfig(
        steps=60, batch_size=4, crop_size=96, lr=3e-3, warmup_steps=10, seed=0, device="cpu"
    )
    model = drive(train_detector(examples, config=config, train_config=train_config)).model
    trained_ap = _ap(model, test_image, test_truth, diameter)

    assert untrained_ap < MAX_UNTRAINED_AP
    assert trained_ap >= MIN_TRAINED_AP, f"AP@0.5 {trained_ap:.3f} (untrained {untrained_ap:.3f})"
