"""Train widget: train or adapt the detector in the background from the annotations.

The training set is every annotated micrograph (particle and negative
annotations) open in the viewer, optionally plus the saved annotations of
micrographs that are not open, grouped by data-set name. Training runs in a
napari worker on the core generator (:func:`napari_cryopick.core.training.train_detector`);
the widget shows progress, a live loss plot and, every few hundred steps and at
the end, the heatmap and picks of the current micrograph. Cancel stops the
generator: the previous model (in memory and on disk) stays as it was; a model
file is only written, atomically, when training ends normally.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# The core is imported here, in the GUI thread, on purpose: importing torch and
# scipy inside the worker would hold the GIL for hundreds of milliseconds while
# their shared libraries load, freezing the viewer at the start of training.
from napari_cryopick.core import preprocess  # noqa: F401  (scipy.fft loaded before the worker)
from napari_cryopick.core.detect import PickConfig, pick_micrograph
from napari_cryopick.core.exemplars import bank_to_metadata, build_bank, empty_bank
from napari_cryopick.core.model import Detector, DetectorConfig, save_checkpoint
from napari_cryopick.core.training import TrainConfig, build_examples, train_detector
from napari_cryopick.io.annotations import (
    AnnotationError,
    Annotations,
    dataset_summary,
    group_by_dataset,
    list_annotated,
    load_annotations,
    user_annotation_dir,
)
from napari_cryopick.io.micrographs import read_micrograph

from ._bank import ExemplarBankPanel
from ._common import (
    TRAINED_ORIGIN,
    base_model,
    current_micrograph_layer,
    layer_path,
    micrograph_layers,
    micrograph_name,
    register_widget,
    session,
)
from ._loss_plot import LossPlot
from .annotate import DIAMETER_KEY, annotations_from_layers

MODES = {
    "new": "New model",
    "finetune": "Fine-tune current model",
    "continual": "Continual (keep old data sets)",
    "fewshot": "Few-shot head (per data set)",
    "joint": "Joint (all data sets, one head each)",
}
TRAIN_KINDS = ("particle", "negative")
#: Modes that adapt an existing model: the session's model, else the bundled general model.
ADAPT_MODES = ("finetune", "continual", "fewshot")


@dataclass
class TrainingJob:
    """Everything the worker needs, gathered in the GUI thread."""

    annotations: list[Annotations]  # particles + negatives of each micrograph
    images: dict[str, np.ndarray]  # micrograph path -> image of open micrographs
    mode: str
    dataset: str
    steps: int
    batch_size: int
    crop_size: int
    device: str
    diameter_px: float
    base_model: Any
    output_path: Path | None
    preview_every: int
    preview_image: np.ndarray | None = None
    preview_name: str = ""
    base_metadata: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def training_set(viewer: Any, include_saved: bool = False) -> list[Annotations]:
    """Annotated micrographs (particles and negatives) for training.

    Parameters
    ----------
    viewer
        Micrographs open in it are taken from their annotation layers.
    include_saved
        Also read the saved annotations of micrographs that are not open
        (the per-user index of :mod:`napari_cryopick.io.annotations`).
    """
    items: list[Annotations] = []
    seen: set[str] = set()
    for mlayer in micrograph_layers(viewer):
        annotations = annotations_from_layers(viewer, mlayer)
        path = layer_path(mlayer)
        if path is not None:
            seen.add(str(Path(path).absolute()))
        annotations.picks = annotations.picks[annotations.picks["kind"].isin(TRAIN_KINDS)]
        if (annotations.picks["kind"] == "particle").any():
            items.append(annotations)
    if include_saved:
        for path in list_annotated():
            if str(path) in seen:
                continue
            try:
                annotations = load_annotations(path)
            except AnnotationError:
                continue
            if annotations is None:
                continue
            annotations.picks = annotations.picks[annotations.picks["kind"].isin(TRAIN_KINDS)]
            if (annotations.picks["kind"] == "particle").any():
                items.append(annotations)
    return items


def _start_training(job: TrainingJob) -> Generator[Any, None, Any]:
    """The core training generator for ``job.mode`` (the one place that maps modes).

    ``new`` trains a fresh detector with :func:`napari_cryopick.core.training.train_detector`
    (the instance is kept in ``job.metadata["model"]`` so the worker can
    preview it); every other mode goes through
    :func:`napari_cryopick.core.continual.train_model`. Yields the core's
    ``TrainProgress`` events and returns its result; ``job.base_model`` is
    never modified.
    """
    train_config = TrainConfig(
        steps=job.steps,
        batch_size=job.batch_size,
        crop_size=job.crop_size,
        device=job.device,
        log_interval=1,
    )
    if job.mode != "new":
        return (yield from _multi_dataset_training(job, train_config))
    model = Detector(DetectorConfig())
    job.metadata["model"] = model  # the worker previews this instance while it trains
    examples = build_examples(
        [_image_of(job, item) for item in job.annotations],
        [item.picks for item in job.annotations],
        [float(item.diameter_px or job.diameter_px) for item in job.annotations],
        model.config,
        names=[item.micrograph for item in job.annotations],
    )
    result = yield from train_detector(examples, model=model, train_config=train_config)
    # the clicked particles of each data set seed the new model's exemplar bank
    bank = empty_bank(job.crop_size)
    names = [item.dataset or job.dataset or "default" for item in job.annotations]
    for name in dict.fromkeys(names):
        chosen = [example for example, of in zip(examples, names) if of == name]
        bank = build_bank(chosen, name, crop_size=job.crop_size, bank=bank)
    job.metadata["checkpoint_metadata"] = {
        "datasets": list(dict.fromkeys(names)),
        "kinds": list(model.config.kinds),
        "exemplars": bank_to_metadata(bank),
    }
    return result


def _multi_dataset_training(job: TrainingJob, train_config: Any):
    """``continual`` / ``joint`` through :func:`napari_cryopick.core.continual.train_model`.

    One ``DatasetExamples`` per data-set name; the exemplar bank and history
    come back in ``result.metadata``. ``train_model`` trains its own copy of
    the base model, so there are no previews before the end in these modes.
    """
    from napari_cryopick.core.continual import DatasetExamples, train_model

    job.metadata.pop("model", None)
    datasets = []
    for name, items in group_by_dataset(job.annotations).items():
        images = [_image_of(job, item) for item in items]
        diameters = [float(item.diameter_px or job.diameter_px) for item in items]
        examples = build_examples(
            images,
            [item.picks for item in items],
            diameters,
            (job.base_model.config if job.base_model is not None else DetectorConfig()),
            names=[item.micrograph for item in items],
            dataset=name or "default",
        )
        datasets.append(
            DatasetExamples(name=name or "default", examples=examples, diameter_px=diameters[0])
        )
    result = yield from train_model(
        job.mode,
        datasets,
        base_model=job.base_model,
        base_metadata=job.base_metadata,
        train_config=train_config,
    )
    job.metadata["checkpoint_metadata"] = dict(result.metadata)
    return result


def _image_of(job: TrainingJob, item: Annotations) -> np.ndarray:
    image = job.images.get(str(Path(item.micrograph_path).absolute()))
    return image if image is not None else read_micrograph(item.micrograph_path).data


def _training_worker(job: TrainingJob, cancel: threading.Event) -> Generator[tuple, None, Any]:
    """Run the training generator, add previews, save the model at a normal end.

    Yields ``("train", TrainProgress)`` and ``("preview", name, PickResult)``;
    returns ``(TrainResult, saved path or None, model metadata)`` or ``None``
    when cancelled. The metadata (exemplar bank included) is what the
    checkpoint holds.
    """
    generator = _start_training(job)
    result = None
    try:
        while True:
            if cancel.is_set():
                generator.close()  # GeneratorExit inside the core: nothing is written
                return None
            try:
                event = next(generator)
            except StopIteration as stop:
                result = stop.value
                break
            yield ("train", event)
            step = getattr(event, "step", 0)
            if (
                "model" in job.metadata
                and job.preview_image is not None
                and job.preview_every > 0
                and step % job.preview_every == 0
                and step < getattr(event, "total", step + 1)
            ):
                preview_model = copy.deepcopy(job.metadata["model"]).eval()
                preview = pick_micrograph(
                    preview_model,
                    job.preview_image,
                    diameter_px=job.diameter_px,
                    config=PickConfig(device=job.device),
                    micrograph_name=job.preview_name,
                )
                yield ("preview", job.preview_name, preview)
    finally:
        generator.close()
    if cancel.is_set() or result is None:
        return None
    if job.preview_image is not None:
        final = pick_micrograph(
            result.model,
            job.preview_image,
            diameter_px=job.diameter_px,
            config=PickConfig(device=job.device),
            micrograph_name=job.preview_name,
        )
        yield ("preview", job.preview_name, final)
    metadata = {
        "mode": job.mode,
        "datasets": sorted({item.dataset for item in job.annotations}),
        "diameter_px": float(job.diameter_px),
        "steps": int(job.steps),
        "final_losses": dict(result.history[-1]) if result.history else {},
    }
    metadata["final_losses"] = {
        k: float(v)
        for k, v in metadata["final_losses"].items()
        if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
    }
    # the core's metadata wins: its "datasets" lists every data set the model knows
    metadata = {**metadata, **job.metadata.get("checkpoint_metadata", {})}
    path = None
    if job.output_path is not None:
        path = save_checkpoint(job.output_path, result.model, metadata=metadata)
    job.metadata["saved_metadata"] = metadata
    return result, path, metadata


def _warm_up_torch() -> None:
    """Run the lazy one-time initialisation of torch's optimiser and autograd here.

    The first ``torch.optim.AdamW`` lazily imports a large part of torch
    (about 2 s, holding the GIL for up to ~0.3 s at a time); done inside the
    worker it would freeze the viewer when training starts. Done once, in the
    GUI thread, when the widget opens.
    """
    import torch

    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.AdamW([weight], lr=1e-3)
    (weight * 2.0).sum().backward()
    optimizer.step()


def default_model_path(dataset: str) -> Path:
    """Default file of a trained model: the per-user data folder, named after the data set."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset) or "model"
    return user_annotation_dir().parent / "models" / f"{name}.pt"


class TrainWidget(QWidget):
    """Mode, data set, steps, device; Train / Cancel; live loss and previews."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.last_result = None
        self.last_saved: Path | None = None
        self.last_error: str = ""
        self.base_origin: str = ""  # where the last adapting run started from
        self._cancel = threading.Event()
        self._pbar = None

        self.mode_combo = QComboBox()
        for key, label in MODES.items():
            self.mode_combo.addItem(label, key)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setEditable(True)
        self.dataset_combo.setToolTip("Data set to train (few-shot head name); empty: all")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(TrainConfig().steps)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(8)
        self.crop_spin = QSpinBox()
        self.crop_spin.setRange(32, 1024)
        self.crop_spin.setSingleStep(32)
        self.crop_spin.setValue(256)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(100.0)
        self.preview_spin = QSpinBox()
        self.preview_spin.setRange(0, 100_000)
        self.preview_spin.setValue(250)
        self.preview_spin.setToolTip("Refresh heatmap and picks every N steps (0: only at the end)")
        self.include_saved = QCheckBox("Include saved annotations of closed micrographs")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText(str(default_model_path("<data set>")))
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit)
        output_row.addWidget(browse)

        self.datasets_table = QTableWidget(0, 4)
        self.datasets_table.setHorizontalHeaderLabels(
            ["data set", "micrographs", "particles", "negatives"]
        )
        self.datasets_table.verticalHeader().setVisible(False)
        self.datasets_table.setMaximumHeight(120)
        self.refresh_button = QPushButton("Refresh training set")
        self.bank_panel = ExemplarBankPanel(self.viewer, self)

        self.train_button = QPushButton("Train")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.loss_plot = LossPlot(self)

        form = QFormLayout()
        form.addRow("Mode", self.mode_combo)
        form.addRow("Data set", self.dataset_combo)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Crop size", self.crop_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("Diameter", self.diameter_spin)
        form.addRow("Preview every", self.preview_spin)
        form.addRow("Save model to", output_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.include_saved)
        layout.addWidget(self.datasets_table)
        layout.addWidget(self.refresh_button)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.bank_panel)

        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.refresh_button.clicked.connect(self.refresh_datasets)
        self.include_saved.toggled.connect(lambda _checked: self.refresh_datasets())
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        register_widget(self.viewer, "train", self)
        _warm_up_torch()
        self.refresh_datasets()
        self.bank_panel.refresh()

    # --- training set display ---

    def _on_layers_changed(self, _event: Any = None) -> None:
        mlayer = current_micrograph_layer(self.viewer)
        if mlayer is not None and mlayer.metadata.get(DIAMETER_KEY):
            self.diameter_spin.setValue(float(mlayer.metadata[DIAMETER_KEY]))
        self.refresh_datasets()

    def refresh_datasets(self) -> pd.DataFrame:
        """Show the training set: micrographs and objects per data set."""
        summary = dataset_summary(training_set(self.viewer, self.include_saved.isChecked()))
        self.datasets_table.setRowCount(len(summary))
        for row, record in enumerate(summary.itertuples(index=False)):
            values = [
                record.dataset or "(unnamed)",
                record.micrographs,
                record.particle,
                record.negative,
            ]
            for column, value in enumerate(values):
                self.datasets_table.setItem(row, column, QTableWidgetItem(str(value)))
        current = self.dataset_combo.currentText()
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        self.dataset_combo.addItems([name for name in summary["dataset"] if name])
        names = [name for name in summary["dataset"] if name]
        self.dataset_combo.setCurrentText(current or (names[0] if names else ""))
        self.dataset_combo.blockSignals(False)
        return summary

    def output_path(self) -> Path:
        """The model file: 'Save model to', else the default file of the data set."""
        text = self.output_edit.text().strip()
        dataset = self.dataset_combo.currentText().strip()
        return Path(text) if text else default_model_path(dataset or "model")

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", "", "Model (*.pt)")
        if path:
            self.output_edit.setText(path)

    # --- run ---

    def _gather_job(self) -> TrainingJob:
        mode = self.mode_combo.currentData()
        dataset = self.dataset_combo.currentText().strip()
        annotations = training_set(self.viewer, self.include_saved.isChecked())
        if dataset and mode == "fewshot":
            annotations = [item for item in annotations if item.dataset == dataset]
        if not annotations:
            raise ValueError(
                "No annotated micrographs: click some particles with the Annotate widget first."
            )
        if mode == "fewshot" and not dataset:
            raise ValueError("Few-shot training needs a data-set name (the new head's name).")
        images = {}
        for mlayer in micrograph_layers(self.viewer):
            path = layer_path(mlayer)
            key = str(Path(path if path is not None else micrograph_name(mlayer)).absolute())
            images[key] = np.asarray(mlayer.data, dtype=np.float32)
        current = current_micrograph_layer(self.viewer)
        output = self.output_path()
        output.parent.mkdir(parents=True, exist_ok=True)
        state = session(self.viewer)
        model, metadata = state.model, state.model_metadata
        if mode in ADAPT_MODES:
            model, metadata, origin = base_model(self.viewer)
            if model is None:
                raise ValueError(f"{MODES[mode]} needs a model: train a new one first.")
            self.base_origin = origin
        return TrainingJob(
            annotations=annotations,
            images=images,
            mode=mode,
            dataset=dataset,
            steps=self.steps_spin.value(),
            batch_size=self.batch_spin.value(),
            crop_size=self.crop_spin.value(),
            device=self.device_combo.currentText(),
            diameter_px=self.diameter_spin.value(),
            base_model=model,
            base_metadata=dict(metadata),
            output_path=output,
            preview_every=self.preview_spin.value(),
            preview_image=None if current is None else np.asarray(current.data, dtype=np.float32),
            preview_name="" if current is None else micrograph_name(current),
        )

    def start(self) -> Any:
        """Start training in a napari worker; returns the worker (None on bad input)."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        if self.worker is not None:
            return self.worker
        try:
            job = self._gather_job()
        except ValueError as exc:
            self.status.setText(str(exc))
            self.last_error = str(exc)
            return None
        self.last_error = ""
        self.last_result = None
        self._cancel = threading.Event()
        self.loss_plot.clear()
        self.progress_bar.setRange(0, job.steps)
        self.progress_bar.setValue(0)
        self._pbar = progress(total=job.steps, desc="cryopick training")
        start = f", starting from the {self.base_origin}" if job.mode in ADAPT_MODES else ""
        self.status.setText(
            f"Training ({MODES[job.mode]}) on {len(job.annotations)} micrograph(s){start}…"
        )
        worker = create_worker(_training_worker, job, self._cancel, _start_thread=False)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop training at the next step; nothing is saved, the old model stays."""
        if self.worker is None:
            return
        self._cancel.set()
        self.status.setText("Cancelling…")

    def _on_yielded(self, item: tuple) -> None:
        if item[0] == "train":
            event = item[1]
            # the plot first: napari's progress bar may process events (re-entering here)
            self.loss_plot.add(event.step, event.losses, force=event.step >= event.total)
            self.progress_bar.setValue(max(self.progress_bar.value(), int(event.step)))
            if self._pbar is not None and event.step > self._pbar.n:
                self._pbar.update(int(event.step) - self._pbar.n)
        elif item[0] == "preview":
            from .pick import show_pick_result

            show_pick_result(self.viewer, item[1], item[2])

    def _on_returned(self, value: Any) -> None:
        if value is None:
            self.status.setText("Training cancelled: the previous model is unchanged.")
            return
        result, path, metadata = value
        self.last_result = result
        self.last_saved = path
        self.loss_plot.redraw()
        session(self.viewer).set_model(result.model, path, metadata, origin=TRAINED_ORIGIN)
        self.status.setText(f"Training done; model saved to {path}.")

    def _on_errored(self, exc: Exception) -> None:
        self.last_error = str(exc)
        self.status.setText(f"Training failed: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
