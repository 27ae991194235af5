"""``cryopick pick`` without ``--head`` picks with the head the last training run trained."""

from __future__ import annotations

from napari_cryopick.core.model.card import ModelCard
from napari_cryopick.workflows.pick import _default_head

HEADS = ("generic", "apoferritin", "ribosome")


def _card(runs: list[dict]) -> ModelCard:
    metadata = {
        "datasets": ["apoferritin", "ribosome"],
        "dataset_info": {
            "apoferritin": {"name": "apoferritin", "diameter_px": 62.0, "head": "apoferritin"},
            "ribosome": {"name": "ribosome", "diameter_px": 56.0, "head": "ribosome"},
        },
        "history": runs,
    }
    return ModelCard.from_metadata(metadata, heads=HEADS)


def test_fewshot_head_is_the_default_after_fewshot_training() -> None:
    card = _card(
        [
            {"mode": "joint", "datasets": ["apoferritin"]},
            {"mode": "fewshot", "datasets": ["ribosome"]},
        ]
    )
    assert _default_head(None, card, HEADS) == "ribosome"


def test_given_head_wins_and_joint_runs_keep_the_generic_head() -> None:
    fewshot = _card([{"mode": "fewshot", "datasets": ["ribosome"]}])
    assert _default_head("apoferritin", fewshot, HEADS) == "apoferritin"
    joint = _card([{"mode": "joint", "datasets": ["apoferritin", "ribosome"]}])
    assert _default_head(None, joint, HEADS) is None
    assert _default_head(None, _card([]), HEADS) is None
