"""The computation: detector, training, picking, evaluation, simulation (no napari, no Qt)."""
