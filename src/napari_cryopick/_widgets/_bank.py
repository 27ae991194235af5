"""Exemplar-bank panel of the Train widget: see, grow and prune the model's exemplar bank.

The bank (:mod:`napari_cryopick.core.exemplars`) lives in the metadata of the
session's model (``session(viewer).model_metadata["exemplars"]``), or of the
bundled general model while nothing else is loaded. The panel lists its data
sets with their particle counts, shows the particles of the chosen data set as
thumbnails, adds the clicked particles of the current micrograph, removes
selected crops and saves the model with its bank. Every edit is written back
to the session's metadata, so the next continual training and the saved
checkpoint use it. All bank logic is in the core; this file only shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QIcon, QImage, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_cryopick.core.exemplars import (
    DEFAULT_CROP_SIZE,
    ExemplarBank,
    add_micrograph_exemplars,
    bank_from_metadata,
    bank_to_metadata,
    empty_bank,
    remove_exemplars,
    thumbnail_crops,
    thumbnails,
)

from ._common import (
    BUNDLED_ORIGIN,
    base_model,
    current_micrograph_layer,
    listen_to_model,
    micrograph_dataset,
    micrograph_diameter,
    no_micrograph_text,
    session,
)

THUMBNAIL_SIZE = 48
MAX_THUMBNAILS = 60  # per data set: enough to judge it, cheap to draw


def _pixmap(picture: np.ndarray) -> QPixmap:
    """A QPixmap of a ``uint8`` grey picture (copied: Qt must not keep numpy's buffer)."""
    picture = np.ascontiguousarray(picture, dtype=np.uint8)
    rows, cols = picture.shape
    image = QImage(picture.data, cols, rows, cols, QImage.Format_Grayscale8)
    return QPixmap.fromImage(image.copy())


class ExemplarBankPanel(QWidget):
    """Data sets (particle counts) and thumbnails of the exemplar bank; add, remove, save."""

    def __init__(self, napari_viewer: Any, owner: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.owner = owner  # the Train widget: diameter, data-set name, crop size, output path
        self.last_saved: Path | None = None

        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.datasets_list = QListWidget()
        self.datasets_list.setMaximumHeight(64)
        self.thumbnails_list = QListWidget()
        self.thumbnails_list.setViewMode(QListView.IconMode)
        self.thumbnails_list.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.thumbnails_list.setGridSize(QSize(THUMBNAIL_SIZE + 6, THUMBNAIL_SIZE + 6))
        self.thumbnails_list.setResizeMode(QListView.Adjust)
        self.thumbnails_list.setMovement(QListView.Static)
        self.thumbnails_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.thumbnails_list.setMinimumHeight(2 * (THUMBNAIL_SIZE + 6) + 8)
        self.thumbnails_list.setMaximumHeight(3 * (THUMBNAIL_SIZE + 6) + 8)
        self.add_button = QPushButton("Add clicked particles of current micrograph")
        self.add_button.setToolTip(
            "The particle (and negative) annotations of the current micrograph become "
            "exemplar crops of its data set"
        )
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.setToolTip("Remove the crops holding the selected particles")
        self.save_button = QPushButton("Save model")
        self.save_button.setToolTip("Write the model with its exemplar bank to 'Save model to'")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Exemplar bank</b> (what continual training remembers)"))
        layout.addWidget(self.model_label)
        layout.addWidget(self.datasets_list)
        layout.addWidget(self.thumbnails_list)
        layout.addWidget(self.add_button)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.datasets_list.currentRowChanged.connect(lambda _row: self._show_thumbnails())
        self.thumbnails_list.itemSelectionChanged.connect(self._select_whole_crops)
        self.add_button.clicked.connect(self.add_current_micrograph)
        self.remove_button.clicked.connect(self.remove_selected)
        self.save_button.clicked.connect(lambda: self.save_model())
        listen_to_model(self.viewer, self, self._on_session_model)

    def _on_session_model(self, _model: Any, _path: Path | None) -> None:
        self.refresh()

    # --- the bank ---

    def bank(self) -> ExemplarBank:
        """The exemplar bank of the model training would start from (empty if none)."""
        _model, metadata, _origin = base_model(self.viewer)
        try:
            return bank_from_metadata(metadata.get("exemplars"))
        except ValueError as exc:
            self.status.setText(f"Exemplar bank unreadable: {exc}")
            return empty_bank()

    def _store(self, bank: ExemplarBank, message: str) -> None:
        """Put the edited bank into the session model's metadata (the bundled model's copy)."""
        state = session(self.viewer)
        if state.model is None:
            model, metadata, _origin = base_model(self.viewer)
            if model is None:
                self.status.setText("No model: train one first (the bank belongs to a model).")
                return
            metadata = {**metadata, "exemplars": bank_to_metadata(bank)}
            state.set_model(model, None, metadata, origin=f"{BUNDLED_ORIGIN}, edited bank")
        else:
            state.model_metadata["exemplars"] = bank_to_metadata(bank)
        self.refresh()
        self.status.setText(f"{message} Save the model to keep the bank in its file.")

    # --- display ---

    def refresh(self) -> None:
        """Show the data sets of the bank and the thumbnails of the chosen one."""
        _model, _metadata, origin = base_model(self.viewer)
        bank = self.bank()
        state = session(self.viewer)
        where = (
            f" ({state.model_path.name})" if state.model is not None and state.model_path else ""
        )
        self.model_label.setText(f"Model: {origin or 'none'}{where}")
        current = self.current_dataset()
        self.datasets_list.blockSignals(True)
        self.datasets_list.clear()
        for name, entry in bank.datasets.items():
            item = QListWidgetItem(
                f"{name}: {entry.n_particles} particles in {entry.n_crops} crops"
            )
            item.setData(Qt.UserRole, name)
            self.datasets_list.addItem(item)
        names = list(bank.datasets)
        if names:
            self.datasets_list.setCurrentRow(names.index(current) if current in names else 0)
        self.datasets_list.blockSignals(False)
        if not names:
            self.status.setText("The bank is empty: train, or add clicked particles.")
        self._show_thumbnails(bank)

    def current_dataset(self) -> str:
        """Name of the data set chosen in the list ('' if none)."""
        item = self.datasets_list.currentItem()
        return str(item.data(Qt.UserRole)) if item is not None else ""

    def select_dataset(self, name: str) -> None:
        """Choose the data set whose thumbnails are shown."""
        for row in range(self.datasets_list.count()):
            if self.datasets_list.item(row).data(Qt.UserRole) == name:
                self.datasets_list.setCurrentRow(row)
                return

    def _show_thumbnails(self, bank: ExemplarBank | None = None) -> None:
        bank = self.bank() if bank is None else bank
        name = self.current_dataset()
        self.thumbnails_list.blockSignals(True)
        self.thumbnails_list.clear()
        if name in bank.datasets:
            entry = bank.datasets[name]
            pictures = thumbnails(bank, name, size=THUMBNAIL_SIZE, max_count=MAX_THUMBNAILS)
            crops = thumbnail_crops(bank, name, max_count=MAX_THUMBNAILS)
            for picture, crop in zip(pictures, crops):
                item = QListWidgetItem(QIcon(_pixmap(picture)), "")
                item.setData(Qt.UserRole, int(crop))
                item.setToolTip(f"crop {int(crop)} of {entry.micrographs[int(crop)] or '?'}")
                self.thumbnails_list.addItem(item)
        self.thumbnails_list.blockSignals(False)

    def _select_whole_crops(self) -> None:
        """Selecting a particle selects every particle of its crop (what Remove removes)."""
        crops = self.selected_crops()
        self.thumbnails_list.blockSignals(True)
        for row in range(self.thumbnails_list.count()):
            item = self.thumbnails_list.item(row)
            item.setSelected(int(item.data(Qt.UserRole)) in crops)
        self.thumbnails_list.blockSignals(False)

    def selected_crops(self) -> set[int]:
        """Crop indices of the selected thumbnails."""
        return {int(item.data(Qt.UserRole)) for item in self.thumbnails_list.selectedItems()}

    # --- edits ---

    def add_current_micrograph(self) -> ExemplarBank | None:
        """Add the clicked particles of the current micrograph to its data set's exemplars."""
        from napari_cryopick.core.model.inputs import prepare_micrograph, to_prepared

        from .annotate import annotations_from_layers

        mlayer = current_micrograph_layer(self.viewer)
        model, _metadata, _origin = base_model(self.viewer)
        if mlayer is None:
            self.status.setText(no_micrograph_text(self.viewer))
            return None
        if model is None:
            self.status.setText("No model: train one first (the bank belongs to a model).")
            return None
        annotations = annotations_from_layers(self.viewer, mlayer)
        labels = annotations.picks[annotations.picks["kind"].isin(["particle", "negative"])]
        if not (labels["kind"] == "particle").any():
            self.status.setText(f"{mlayer.name}: no clicked particles to add.")
            return None
        dataset = micrograph_dataset(mlayer) or self.owner.dataset_combo.currentText().strip()
        if not dataset:
            self.status.setText("Name the data set first (Annotate widget or Data set box).")
            return None
        diameter = micrograph_diameter(mlayer) or float(self.owner.diameter_spin.value())
        labels = labels.assign(diameter=labels["diameter"].fillna(diameter))
        prepared = prepare_micrograph(np.asarray(mlayer.data, np.float32), diameter, model.config)
        bank = self.bank()
        if not bank.datasets:
            bank = empty_bank(self.owner.crop_spin.value() or DEFAULT_CROP_SIZE)
        before = bank.datasets[dataset].n_particles if dataset in bank.datasets else 0
        bank = add_micrograph_exemplars(
            bank,
            dataset,
            prepared.image,
            to_prepared(labels, prepared),
            micrograph=annotations.micrograph,
        )
        after = bank.datasets[dataset].n_particles
        self._store(bank, f"{dataset}: {after} exemplar particles (was {before}).")
        self.select_dataset(dataset)
        return bank

    def remove_selected(self) -> int:
        """Remove the crops of the selected thumbnails; returns how many crops went."""
        name = self.current_dataset()
        crops = self.selected_crops()
        if not name or not crops:
            self.status.setText("Select some thumbnails first.")
            return 0
        bank = remove_exemplars(self.bank(), name, sorted(crops))
        self._store(bank, f"{name}: removed {len(crops)} crop(s).")
        self.select_dataset(name)
        return len(crops)

    def save_model(self, path: str | Path | None = None) -> Path | None:
        """Write the model with its (edited) bank, atomically, to ``path`` or 'Save model to'."""
        from napari_cryopick.core.model import save_checkpoint

        model, metadata, origin = base_model(self.viewer)
        if model is None:
            self.status.setText("No model to save: train one first.")
            return None
        if path is None:
            path = self.owner.output_path()
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            saved = save_checkpoint(path, model, metadata=metadata)
        except (OSError, ValueError) as exc:
            self.status.setText(f"Could not save the model: {exc}")
            return None
        state = session(self.viewer)
        if state.model is None:
            state.set_model(model, saved, metadata, origin=origin)
        else:
            state.model_path = saved
        self.last_saved = saved
        self.refresh()
        self.status.setText(f"Model and exemplar bank saved to {saved}.")
        return saved
