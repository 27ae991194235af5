"""The model card: one owner of a model's data sets, heads, diameters, kinds, history, bank."""

from __future__ import annotations

import pytest

from napari_cryopick.core.model.card import CARD_VERSION, DatasetCard, ModelCard


def test_round_trip_through_metadata():
    card = ModelCard(
        kinds=("particle", "vesicle"),
        heads=("generic", "ribo"),
        datasets=(DatasetCard("ribo", 56.0, 10, 865, "ribo"), DatasetCard("apo", 62.0, 3, 9)),
        diameter_px=62.0,
        history=({"mode": "joint", "datasets": ["ribo", "apo"], "steps": 5},),
        extra={"general_model": {"recipe": "x"}},
    )
    metadata = card.to_metadata()
    assert metadata["card_version"] == CARD_VERSION
    assert metadata["dataset_info"]["ribo"] == {
        "diameter_px": 56.0,
        "micrographs": 10,
        "labels": 865,
        "head": "ribo",
    }
    assert metadata["general_model"] == {"recipe": "x"}
    again = ModelCard.from_metadata(metadata)
    assert again == card
    assert again.diameter_for_head("ribo") == 56.0
    assert again.diameter_for_head("generic") == 62.0
    assert again.diameter_for_head(None) == 62.0


def test_migrates_the_train_widgets_old_metadata():
    """The old widget 'new' mode wrote mode/steps/final_losses at the top level."""
    old = {
        "mode": "new",
        "datasets": ["clicks"],
        "diameter_px": 40.0,
        "steps": 300,
        "final_losses": {"total": 0.5},
        "kinds": ["particle"],
    }
    card = ModelCard.from_metadata(old)
    assert card.dataset_names == ["clicks"]
    assert card.runs() == [
        {
            "mode": "new",
            "datasets": ["clicks"],
            "steps": 300,
            "date": "",
            "seconds": 0.0,
            "losses": {"total": 0.5},
        }
    ]
    assert "mode" not in card.to_metadata()
    assert card.to_metadata()["history"][0]["steps"] == 300


def test_migrates_cli_history_records_and_bad_values():
    old = {
        "history": [
            {"dataset": "a", "time": "2025-01-01", "elapsed_s": 3.5, "final_losses": {"t": 1}},
            {"init": "x.pt", "datasets": ["b"], "train_config": {"steps": 7}},
            "not a record",
        ],
        "diameter_px": float("nan"),
        "dataset_info": {"b": {"diameter_px": -3}},
    }
    card = ModelCard.from_metadata(old)
    assert card.dataset_names == ["a", "b"]
    assert [r["mode"] for r in card.runs()] == ["new", "finetune"]
    assert card.runs()[0]["seconds"] == 3.5
    assert card.runs()[1]["steps"] == 7
    assert card.diameter_px is None  # NaN is no diameter
    assert card.diameter_for_head("b") is None  # nor is a negative one


def test_runs_keep_the_outcome_and_heads_a_run_recorded():
    """cryopick info showed no run cut short and no adopted head: runs() dropped them."""
    card = ModelCard(
        history=(
            {
                "mode": "new",
                "steps": 3,
                "planned_steps": 8,
                "completed": True,
                "heads": ["generic"],
            },
            {"mode": "continual", "heads": ("generic", "b", "a"), "adopted_heads": ["a"]},
            {"mode": "joint", "planned_steps": float("nan"), "completed": "yes", "heads": "ab"},
        )
    )
    first, second, damaged = card.runs()
    assert (first["planned_steps"], first["completed"], first["heads"]) == (8, True, ["generic"])
    assert first["adopted_heads"] == []  # recorded only when a head was adopted
    assert (second["heads"], second["adopted_heads"]) == (["generic", "b", "a"], ["a"])
    assert not {"planned_steps", "completed", "heads", "adopted_heads"} & set(damaged)


def test_with_run_updates_and_appends_data_sets():
    card = ModelCard(datasets=(DatasetCard("a", 20.0),), diameter_px=20.0)
    after = card.with_run(
        {"mode": "continual"},
        [DatasetCard("a", 22.0), DatasetCard("b", 30.0, head="b")],
        heads=("generic", "b"),
        kinds=("particle",),
        exemplars=None,
    )
    assert after.dataset_names == ["a", "b"]
    assert after.dataset("a").diameter_px == 22.0
    assert after.diameter_px == 30.0
    assert len(after.history) == 1
    assert card.history == ()  # frozen: the old card is unchanged


def test_bundled_model_keeps_loading_and_reads_as_a_card():
    from napari_cryopick.core.model import load_bundled_model

    model, metadata = load_bundled_model()
    card = ModelCard.of_model(model, metadata)
    assert card.heads == model.head_names
    assert len(card.datasets) == 10
    assert card.diameter_for_head("empiar10028_ribosome") == pytest.approx(56.0)
    assert card.exemplars is not None
    assert "general_model" in card.extra
    assert card.runs()[0]["mode"] == "joint"
    assert set(card.to_metadata()) >= set(metadata) - {"card_version"}
