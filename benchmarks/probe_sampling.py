"""Time of one training step split into drawing the crops and the network step.

Default ``TrainConfig`` (8 crops of 128 px), one torch thread, a random-start
detector, the first 3 micrographs of a real set with a quarter of their picks
(the ``bench_accuracy.py`` clicks). Prints the median milliseconds of
``sample_batch`` and of forward + backward + AdamW over 50 steps.

Usage::

    .venv/bin/python benchmarks/probe_sampling.py [SET]   # default empiar10028_ribosome
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_cryopick.core.model import Detector, DetectorConfig
from napari_cryopick.core.training import (
    Batch,
    TrainConfig,
    batch_losses,
    build_examples,
    sample_batch,
)

_spec = importlib.util.spec_from_file_location(
    "exp_fewshot", Path(__file__).with_name("exp_fewshot.py")
)
exp_fewshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(exp_fewshot)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name = argv[0] if argv else "empiar10028_ribosome"
    torch.set_num_threads(1)
    split = exp_fewshot.load_split(exp_fewshot.recipe.default_real_data_dir() / name)
    config, train_config = DetectorConfig(), TrainConfig()
    examples = build_examples(split["images"][:3], split["clicks"], split["diameter"], config)
    model = Detector(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    sampling, network = [], []
    for _ in range(55):
        t0 = time.perf_counter()
        image, targets, names, datasets = sample_batch(examples, config, train_config, rng)
        t1 = time.perf_counter()
        batch = Batch(
            image=torch.from_numpy(image),
            targets={k: torch.from_numpy(v) for k, v in targets.items()},
            head="generic",
            names=names,
            datasets=datasets,
        )
        loss = batch_losses(model(batch.image, head="generic"), batch, train_config)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sampling.append(t1 - t0)
        network.append(time.perf_counter() - t1)
    print(
        f"{name}: drawing a batch {1000 * np.median(sampling[5:]):.1f} ms, "
        f"network step {1000 * np.median(network[5:]):.1f} ms (median of 50, one thread)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
