"""napari-cryopick: cryo-EM particle, vesicle and fiber picking in napari.

The core (``io``, ``picks``, ``preprocess``, ``simulate``, ``model``, ``train``,
``pick``, ``evaluate``, ``fibers``) imports neither napari nor Qt, so it can be
used from scripts, the ``cryopick`` command line and the napari plugin alike.
"""

__version__ = "0.1.0"
