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


def _fewshot_card() -> ModelCard:
    """A new model of the ribosome (generic head), then β-gal few-shot (its own head)."""
    metadata = {
        "datasets": ["ribosome", "bgal"],
        "dataset_info": {
            "ribosome": {"name": "ribosome", "diameter_px": 56.0, "head": None},
            "bgal": {"name": "bgal", "diameter_px": 108.0, "head": "bgal"},
        },
        "diameter_px": 56.0,
        "history": [
            {"mode": "new", "datasets": ["ribosome"], "diameter_A": 84.0},
            {"mode": "fewshot", "datasets": ["bgal"], "diameter_A": 191.16},
        ],
    }
    return ModelCard.from_metadata(metadata, heads=("generic", "bgal"))


def test_a_data_set_trained_into_the_generic_head_is_picked_with_it() -> None:
    # a trial: after --mode fewshot (β-gal), the ribosome folder was picked with the β-gal
    # head at 108 px (AP 0.000, unsaid); the generic head that learned the ribosome: 0.840
    from napari_cryopick.workflows.pick import (
        _data_set_head,
        data_set_heads,
        head_diameters,
        trained_diameter_angstrom,
    )

    card = _fewshot_card()
    head_of = data_set_heads(card, ("generic", "bgal"), ("bgal",))
    assert head_of == {"bgal": "bgal", "ribosome": "generic"}
    assert _data_set_head([("m", "ribosome")], head_of) == "generic"
    assert _data_set_head([("m", "bgal")], head_of) == "bgal"
    assert _data_set_head([("m", "apoferritin")], head_of) is None
    # the generic head never learned β-gal (few-shot freezes it): one size, in Å its own
    assert head_diameters(card, "generic") == {"ribosome": 56.0}
    assert trained_diameter_angstrom(card, "generic") == 84.0
    # a model without data-set heads: the generic head for everything, nothing to choose
    assert data_set_heads(card, ("generic",), ()) == {}
