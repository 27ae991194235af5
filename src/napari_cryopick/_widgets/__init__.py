"""napari widgets of napari-cryopick (thin: parameters in, core in a worker, layers out).

Each widget is a ``QWidget`` taking the viewer, contributed through
``napari.yaml``: :class:`~.annotate.AnnotateWidget`,
:class:`~.train.TrainWidget`, :class:`~.pick.PickWidget`,
:class:`~.evaluate.EvaluateWidget`.
"""
