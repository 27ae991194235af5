"""The workflow layer: one typed request and one generator per job.

``cryopick`` (cli/), the napari widgets (_widgets/), the benchmarks and the
tests all run the same two jobs through this layer:

* :func:`napari_cryopick.workflows.train.train` serves a
  :class:`~napari_cryopick.workflows.train.TrainRequest`;
* :func:`napari_cryopick.workflows.pick.pick` serves a
  :class:`~napari_cryopick.workflows.pick.PickRequest`.

Both are generators of small progress events returning an outcome; closing
the generator cancels the job and leaves no half-written file. The modules
import torch only when a job runs, so building requests (and ``cryopick
--help``) stays fast.
"""

__all__: list[str] = []
