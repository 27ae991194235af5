"""Pure conversions between the core's results and napari LayerDataTuples (no napari import)."""
