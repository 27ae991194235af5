"""Pick widget: run the detector, filter by threshold live, export, correct and retrain.

The network runs once per micrograph in a napari worker and keeps every
candidate down to the score floor; the threshold slider then only filters the
stored candidates (:func:`napari_cryopick.core.detect.apply_threshold`), so it is
instant. Results become layers named ``"<micrograph> heatmap"``,
``"<micrograph> picks"`` (points coloured by score, score as a feature),
``"<micrograph> vesicles"`` (circles) and ``"<micrograph> fibers"`` (paths);
picking again updates them in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt
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
    QSlider,
    QVBoxLayout,
    QWidget,
)

from napari_cryopick.core.pick_table import empty_picks
from napari_cryopick.layers.results import (
    ROLE_KEY,
    fibers_layer,
    heatmap_layer,
    shapes_to_vesicles,
    vesicles_layer,
)

from ._common import (
    BUNDLED_ORIGIN,
    bundled_model,
    current_micrograph_layer,
    find_widget,
    listen_to_model,
    micrograph_layers,
    micrograph_name,
    register_widget,
    session,
    update_or_add_layer,
)
from .annotate import DIAMETER_KEY

FORMATS = ("star", "box", "cbox", "topaz", "csv")


def _picks_layer_name(micrograph: str) -> str:
    return f"{micrograph} picks"


def fiber_link_radius(result: Any) -> float:
    """Linking radius of fiber tracing for a ``PickResult`` (EPicker's, scaled to the width)."""
    from napari_cryopick.core.fibers import default_link_radius

    width = float(result.prepared_shape[1]) / float(result.prepared_scale[1])
    return float(default_link_radius(width))


def show_candidates(
    viewer: Any,
    micrograph: str,
    candidates: pd.DataFrame,
    threshold: float,
    *,
    link_radius_px: float | None = None,
) -> Any:
    """Show the candidates of one micrograph above ``threshold`` as result layers.

    Particles become scored points, vesicles circles (each its own diameter)
    and fiber candidates are traced into paths
    (:func:`napari_cryopick.core.object_kinds.trace_fiber_candidates`, no network).
    ``link_radius_px`` is the fiber linking radius (default: EPicker's for a
    1024-pixel-wide micrograph). Returns the particle points layer.
    """
    from napari_cryopick.core.detect import apply_threshold
    from napari_cryopick.layers.points import picks_layer

    table = apply_threshold(candidates, threshold)
    particles = table[~table["kind"].isin(["vesicle", "fiber"])].reset_index(drop=True)
    data, kwargs, type_name = picks_layer(particles, _picks_layer_name(micrograph))
    kwargs["metadata"] = {
        **kwargs.get("metadata", {}),
        ROLE_KEY: "result",
        "micrograph": micrograph,
    }
    layer = update_or_add_layer(viewer, (data, kwargs, type_name))
    if (candidates["kind"] == "vesicle").any():
        vesicles = table[table["kind"] == "vesicle"].reset_index(drop=True)
        update_or_add_layer(
            viewer, vesicles_layer(vesicles, f"{micrograph} vesicles", micrograph=micrograph)
        )
    if (candidates["kind"] == "fiber").any():
        from napari_cryopick.core.fibers import default_link_radius
        from napari_cryopick.core.object_kinds import trace_fiber_candidates

        fibers = candidates[candidates["kind"] == "fiber"]
        width = np.nanmedian(fibers["diameter"]) if fibers["diameter"].notna().any() else None
        paths, _picks = trace_fiber_candidates(
            fibers,
            threshold=threshold,
            link_radius_px=link_radius_px or default_link_radius(1024),
            diameter_px=width,
            micrograph=micrograph,
        )
        update_or_add_layer(
            viewer, fibers_layer(paths, f"{micrograph} fibers", micrograph=micrograph)
        )
    return layer


def show_pick_result(
    viewer: Any, micrograph: str, result: Any, threshold: float | None = None
) -> None:
    """Store a ``PickResult`` in the session and show heatmap and picks.

    The threshold is the Pick widget's slider when it is open, else the
    result's own.
    """
    session(viewer).pick_results[micrograph] = result
    if threshold is None:
        widget = find_widget(viewer, "pick")
        threshold = widget.threshold() if widget is not None else float(result.threshold)
    update_or_add_layer(
        viewer,
        heatmap_layer(
            result.heatmap,
            result.heatmap_scale,
            f"{micrograph} heatmap",
            translate=result.heatmap_translate,
        ),
    )
    show_candidates(
        viewer, micrograph, result.picks, threshold, link_radius_px=fiber_link_radius(result)
    )


def result_picks(viewer: Any, micrograph: str) -> pd.DataFrame:
    """The (possibly edited) picks shown for ``micrograph``: points and vesicle circles."""
    from napari_cryopick.layers.points import points_to_picks

    tables = []
    name = _picks_layer_name(micrograph)
    if name in viewer.layers:
        layer = viewer.layers[name]
        tables.append(points_to_picks(layer.data, layer.features, micrograph=micrograph))
    vesicles = f"{micrograph} vesicles"
    if vesicles in viewer.layers:
        tables.append(shapes_to_vesicles(viewer.layers[vesicles].data, micrograph=micrograph))
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else empty_picks()


def pick_all_kinds(model: Any, image: np.ndarray, diameter_px: float, config: Any, name: str):
    """Pick every kind of ``model`` on one micrograph; returns one ``PickResult``.

    Particles and vesicles come from :func:`napari_cryopick.core.detect.pick_micrograph`
    (vesicle diameters from the size head); fiber candidates from
    :func:`napari_cryopick.core.object_kinds.pick_fibers` (points along the heatmap's
    ridge, ready to be traced). A fiber model therefore runs the network twice.
    """
    from dataclasses import replace

    from napari_cryopick.core.detect import pick_micrograph

    kinds = tuple(getattr(model.config, "kinds", ("particle",)))
    if "fiber" not in kinds:
        return pick_micrograph(
            model, image, diameter_px=diameter_px, config=config, micrograph_name=name
        )
    from napari_cryopick.core.object_kinds import pick_fibers

    fibers = pick_fibers(model, image, diameter_px=diameter_px, config=config, micrograph_name=name)
    others = tuple(k for k in kinds if k not in ("fiber", "negative"))
    if not others:
        result = pick_micrograph(
            model, image, diameter_px=diameter_px, config=config, micrograph_name=name
        )
        return replace(result, picks=fibers.candidates)
    values = dict(vars(config))
    values["kinds"] = others
    result = pick_micrograph(
        model,
        image,
        diameter_px=diameter_px,
        config=type(config)(**values),
        micrograph_name=name,
    )
    picks = pd.concat([result.picks, fibers.candidates], ignore_index=True)
    picks = picks.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return replace(result, picks=picks)


def _pick_layers_job(
    model: Any, items: list[tuple[str, np.ndarray]], diameter_px: float, config: Any
):
    """Worker generator: pick each ``(name, image)``; yields ``(i, n, name, PickResult)``."""
    for index, (name, image) in enumerate(items, start=1):
        result = pick_all_kinds(model, image, diameter_px, config, name)
        yield index, len(items), name, result


class PickWidget(QWidget):
    """Model, head, diameter, threshold; pick current/all/folder; export; use as labels."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self.model_path: Path | None = None
        self.worker = None
        self.last_batch = None
        self.last_exported: list[Path] = []

        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("model file (.pt)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_model)
        self.load_button = QPushButton("Load")
        self.load_button.clicked.connect(lambda: self.load_model(self.model_edit.text()))
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit)
        model_row.addWidget(browse)
        model_row.addWidget(self.load_button)
        self.model_label = QLabel("No model")
        self.model_label.setWordWrap(True)
        self.head_combo = QComboBox()
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(100.0)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.rotations_check = QCheckBox("Average 4 rotations")
        self.reject_std_check = QCheckBox("Reject carbon/ice (local std)")
        self.threshold_slider = QSlider(Qt.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setValue(30)
        self.threshold_label = QLabel("0.30")
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_slider)
        threshold_row.addWidget(self.threshold_label)

        self.pick_current_button = QPushButton("Pick current")
        self.pick_all_button = QPushButton("Pick all open")
        self.pick_folder_button = QPushButton("Pick folder…")
        pick_row = QHBoxLayout()
        for button in (self.pick_current_button, self.pick_all_button, self.pick_folder_button):
            pick_row.addWidget(button)
        self.progress_bar = QProgressBar()

        self.format_combo = QComboBox()
        self.format_combo.addItems(list(FORMATS))
        self.export_edit = QLineEdit()
        self.export_edit.setPlaceholderText("output folder")
        export_browse = QPushButton("…")
        export_browse.setMaximumWidth(30)
        export_browse.clicked.connect(self._browse_export)
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_edit)
        export_row.addWidget(export_browse)
        self.export_button = QPushButton("Export picks")
        self.labels_button = QPushButton("Use as training labels")
        self.labels_button.setToolTip(
            "The edited picks of the current micrograph become its particle annotations"
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("", self.model_label)
        form.addRow("Head", self.head_combo)
        form.addRow("Diameter", self.diameter_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.rotations_check)
        form.addRow("", self.reject_std_check)
        form.addRow("Threshold", threshold_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(pick_row)
        layout.addWidget(self.progress_bar)
        export_form = QFormLayout()
        export_form.addRow("Format", self.format_combo)
        export_form.addRow("Folder", export_row)
        layout.addLayout(export_form)
        layout.addWidget(self.export_button)
        layout.addWidget(self.labels_button)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.threshold_slider.valueChanged.connect(self._on_threshold_changed)
        self.head_combo.currentTextChanged.connect(self._on_head_changed)
        self.pick_current_button.clicked.connect(self.pick_current)
        self.pick_all_button.clicked.connect(self.pick_all_open)
        self.pick_folder_button.clicked.connect(self._choose_folder)
        self.export_button.clicked.connect(self._choose_export)
        self.labels_button.clicked.connect(self.use_as_labels)
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)

        state = session(self.viewer)
        listen_to_model(self.viewer, self, self._on_session_model)
        register_widget(self.viewer, "pick", self)
        if state.model is not None:
            self.set_model(state.model, state.model_path, state.model_origin)
        else:
            self.load_bundled()
        self._on_layers_changed()

    # --- model ---

    def load_bundled(self) -> bool:
        """Pick with the bundled general model (the default until a model is trained/loaded)."""
        from napari_cryopick.core.model.bundled import bundled_model_path

        bundled = bundled_model(self.viewer)
        if bundled is None:
            self.model_label.setText("No model: train one (Train widget) or load a file.")
            return False
        self.model_edit.setText(str(bundled_model_path()))
        self.set_model(bundled[0], None, BUNDLED_ORIGIN)
        return True

    def load_model(self, path: str | Path, origin: str = "") -> bool:
        """Load a checkpoint file as the session's model (picked with, adapted by Train)."""
        from napari_cryopick.core.model import load_checkpoint

        path = Path(path)
        try:
            model, metadata = load_checkpoint(path)
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            return False
        self.model_edit.setText(str(path))
        diameter = metadata.get("diameter_px") if isinstance(metadata, dict) else None
        if diameter:
            self.diameter_spin.setValue(float(diameter))
        # the loaded model becomes the session's: Train adapts it, its bank is shown there
        session(self.viewer).set_model(model, path, metadata, origin=origin or "model file")
        return True

    def set_model(self, model: Any, path: Path | None = None, origin: str = "") -> None:
        """Pick with ``model`` from now on; fills the head list."""
        self.model = model
        self.model_path = None if path is None else Path(path)
        heads = list(getattr(model, "head_names", ()) or ())
        current = self.head_combo.currentText()
        self.head_combo.clear()
        self.head_combo.addItems(heads)
        if current in heads:
            self.head_combo.setCurrentText(current)
        where = f" ({self.model_path.name})" if self.model_path is not None else ""
        self.model_label.setText(f"Model: {origin}{where}")

    def _model_metadata(self) -> dict:
        """Metadata of the model picked with (session model or bundled model)."""
        state = session(self.viewer)
        if state.model is not None and state.model is self.model:
            return dict(state.model_metadata or {})
        if state.bundled is not None and state.bundled[0] is self.model:
            return dict(state.bundled[1] or {})
        return {}

    def _on_head_changed(self, head: str) -> None:
        """A data-set head picks at its own data set's diameter, as ``cryopick pick`` does."""
        metadata = self._model_metadata()
        if head and head in (metadata.get("dataset_info") or {}):
            from napari_cryopick.core.continual import diameter_for_head

            diameter = diameter_for_head(metadata, head)
            if diameter:
                self.diameter_spin.setValue(float(diameter))

    def _on_session_model(self, model: Any, path: Path | None) -> None:
        self.set_model(model, path, session(self.viewer).model_origin)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Model (*.pt)")
        if path:
            self.load_model(path)

    # --- parameters ---

    def threshold(self) -> float:
        """The threshold of the slider, in [0, 1]."""
        return self.threshold_slider.value() / 100.0

    def set_threshold(self, value: float) -> None:
        """Move the slider (and filter the shown picks) to ``value``."""
        self.threshold_slider.setValue(round(float(value) * 100))

    def pick_config(self) -> Any:
        """The core ``PickConfig`` of the current settings."""
        from napari_cryopick.core.detect import PickConfig

        return PickConfig(
            threshold=self.threshold(),
            rotations=self.rotations_check.isChecked(),
            reject_std=self.reject_std_check.isChecked(),
            head=self.head_combo.currentText() or None,
            device=self.device_combo.currentText(),
        )

    def _on_layers_changed(self, _event: Any = None) -> None:
        mlayer = current_micrograph_layer(self.viewer)
        if mlayer is not None and mlayer.metadata.get(DIAMETER_KEY):
            self.diameter_spin.setValue(float(mlayer.metadata[DIAMETER_KEY]))

    def _on_threshold_changed(self, value: int) -> None:
        threshold = value / 100.0
        self.threshold_label.setText(f"{threshold:.2f}")
        counts = []
        for name, result in session(self.viewer).pick_results.items():
            layer = show_candidates(
                self.viewer,
                name,
                result.picks,
                threshold,
                link_radius_px=fiber_link_radius(result),
            )
            counts.append(len(layer.data))
        if counts:
            self.status.setText(f"{sum(counts)} picks at threshold {threshold:.2f}")

    # --- picking ---

    def _run(self, items: list[tuple[str, np.ndarray]]) -> Any:
        from napari.qt.threading import create_worker

        if self.model is None:
            self.status.setText("No model: train one or load a model file first.")
            return None
        if self.worker is not None:
            return self.worker
        if not items:
            self.status.setText("Open a micrograph first.")
            return None
        worker = create_worker(
            _pick_layers_job,
            self.model,
            items,
            self.diameter_spin.value(),
            self.pick_config(),
            _start_thread=False,
        )
        return self._start(worker, len(items), self._on_picked)

    def _start(self, worker: Any, total: int, on_yielded: Any, on_returned: Any = None) -> Any:
        """Wire a picking worker to the progress bar and status line, then start it."""
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        worker.yielded.connect(on_yielded)
        if on_returned is not None:
            worker.returned.connect(on_returned)
        worker.errored.connect(lambda exc: self.status.setText(f"Picking failed: {exc}"))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._set_busy(True)
        worker.start()
        return worker

    def _set_busy(self, busy: bool) -> None:
        for button in (self.pick_current_button, self.pick_all_button, self.pick_folder_button):
            button.setEnabled(not busy)

    def _on_picked(self, item: tuple) -> None:
        index, total, name, result = item
        self.progress_bar.setValue(index)
        show_pick_result(self.viewer, name, result, self.threshold())
        n = len(result.selected) if result.threshold == self.threshold() else None
        self.status.setText(f"{name}: {n if n is not None else '…'} picks ({index}/{total})")

    def _on_finished(self) -> None:
        self.worker = None
        self._set_busy(False)
        self._on_threshold_changed(self.threshold_slider.value())

    def pick_current(self) -> Any:
        """Pick the current micrograph in the background; returns the worker."""
        mlayer = current_micrograph_layer(self.viewer)
        items = (
            []
            if mlayer is None
            else [(micrograph_name(mlayer), np.asarray(mlayer.data, np.float32))]
        )
        return self._run(items)

    def pick_all_open(self) -> Any:
        """Pick every open micrograph in the background; returns the worker."""
        items = [
            (micrograph_name(layer), np.asarray(layer.data, np.float32))
            for layer in micrograph_layers(self.viewer)
        ]
        return self._run(items)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of micrographs")
        if folder:
            self.pick_folder(folder)

    def pick_folder(self, folder: str | Path) -> Any:
        """Pick every micrograph file in ``folder`` and write pick files (export folder/format)."""
        from napari.qt.threading import create_worker

        from napari_cryopick.core.detect import pick_files
        from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

        if self.model is None:
            self.status.setText("No model: train one or load a model file first.")
            return None
        if self.worker is not None:
            return self.worker
        paths = sorted(
            p
            for p in Path(folder).iterdir()
            if p.is_file() and p.suffix.lower() in MICROGRAPH_SUFFIXES
        )
        if not paths:
            self.status.setText(f"{folder}: no micrograph files in this folder.")
            return None
        out_dir = self.export_edit.text().strip() or str(Path(folder) / "cryopick_picks")
        self.export_edit.setText(out_dir)
        job = pick_files
        if tuple(self.model.config.kinds) == ("fiber",):
            # fibers are written as traced paths (helical STAR / filament CBOX / CSV)
            from napari_cryopick.core.object_kinds import pick_fiber_files

            if self.format_combo.currentText() not in ("star", "cbox", "csv"):
                self.status.setText("Fibers are written as star, cbox or csv: choose one.")
                return None
            job = pick_fiber_files
        worker = create_worker(
            job,
            self.model,
            paths,
            diameter_px=self.diameter_spin.value(),
            config=self.pick_config(),
            out_dir=out_dir,
            format=self.format_combo.currentText(),
            _start_thread=False,
        )
        return self._start(worker, len(paths), self._on_folder_progress, self._on_folder_done)

    def _on_folder_progress(self, event: Any) -> None:
        self.progress_bar.setValue(int(event.step))
        self.status.setText(f"{event.step}/{event.total} {event.postfix()}")

    def _on_folder_done(self, batch: Any) -> None:
        self.last_batch = batch
        text = (
            f"{len(batch.picks)} picks in {len(batch.written)} files -> {self.export_edit.text()}"
        )
        if batch.errors:
            # one line per skipped file; each message starts with the file's path
            text += f"\n{len(batch.errors)} skipped:\n" + "\n".join(batch.errors.values())
        self.status.setText(text)

    # --- export and labels ---

    def _browse_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder")
        if folder:
            self.export_edit.setText(folder)

    def _choose_export(self) -> None:
        if not self.export_edit.text().strip():
            self._browse_export()
        if self.export_edit.text().strip():
            self.export()

    def export(self, folder: str | Path | None = None, format: str | None = None) -> list[Path]:
        """Write the shown (edited) picks, one file per micrograph."""
        from napari_cryopick.io.pickfiles import write_picks_per_micrograph

        folder = Path(folder or self.export_edit.text().strip())
        format = format or self.format_combo.currentText()
        names = list(session(self.viewer).pick_results)
        tables = [result_picks(self.viewer, name) for name in names]
        tables = [t for t in tables if len(t)]
        if not tables:
            self.status.setText("Nothing to export: pick first.")
            return []
        table = pd.concat(tables, ignore_index=True)
        try:
            written = write_picks_per_micrograph(table, folder, format)
        except (ValueError, OSError) as exc:
            self.status.setText(f"Export failed: {exc}")
            return []
        self.last_exported = list(written)
        self.status.setText(
            f"Exported {len(table)} picks to {len(written)} {format} file(s) in {folder}"
        )
        return self.last_exported

    def use_as_labels(self) -> Path | None:
        """The edited picks of the current micrograph become its particle annotations."""
        mlayer = current_micrograph_layer(self.viewer)
        if mlayer is None:
            self.status.setText("Open a micrograph first.")
            return None
        name = micrograph_name(mlayer)
        table = result_picks(self.viewer, name)
        table = table[table["kind"] == "particle"].assign(
            score=np.nan, diameter=self.diameter_spin.value()
        )
        annotate = find_widget(self.viewer, "annotate")
        if annotate is None:
            _dock, annotate = self.viewer.window.add_plugin_dock_widget(
                "napari-cryopick", "Annotate"
            )
        if annotate.micrograph_combo.findText(mlayer.name) >= 0:
            annotate.micrograph_combo.setCurrentText(mlayer.name)
        mlayer.metadata[DIAMETER_KEY] = self.diameter_spin.value()
        saved = annotate.set_annotations(mlayer, table, "particle")
        self.status.setText(f"{len(table)} picks are now the particle labels of {name}.")
        return saved
