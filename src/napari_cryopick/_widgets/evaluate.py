"""Evaluate widget: predicted points against ground truth -> PR curve, AP, AR, best thresholds.

All numbers come from :func:`napari_cryopick.core.evaluate.evaluate`; the widget
only turns two points layers into pick tables and shows the report. A button
sends the best-F1 or best-F2 threshold to the Pick widget's slider (through the
session's ``threshold_requested`` signal, not through the Pick widget).

The predicted layer is preselected among the result layers (``"<micrograph>
picks"``: every candidate with its score, so the PR curve spans all
thresholds) and the truth among truth and particle-annotation layers, never the
same layer for both and never a "negative" layer.
"""

from __future__ import annotations

import math
import re
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from napari_cryopick.layers.results import ROLE_KEY, SOURCE_KEY

from ._common import (
    SLIDER_STEPS,
    connect_while_alive,
    current_micrograph_layer,
    layer_type,
    micrograph_diameter,
    micrograph_layers,
    micrograph_name,
    more_coming,
    populate_layer_combo,
    scroll_layout,
    session,
    threshold_text,
    unproxy,
)
from .result_layers import _SHAPE_KINDS


def _prediction_rank(layer: Any) -> int:
    """Lower is a likelier "predicted" layer: results first, negatives never."""
    meta = layer.metadata
    if meta.get("kind") == "negative":
        return 9
    if meta.get(SOURCE_KEY):  # a file opened (its circles and paths look like results)
        return 1
    if meta.get(ROLE_KEY) == "result":
        return 0
    if meta.get(ROLE_KEY) == "annotation":
        return 5
    return 2


def _truth_rank(layer: Any) -> int:
    """Lower is a likelier ground truth: truth files, pick files opened, then particle
    annotations (after "Use as training labels" they hold the result itself: a trial
    compared a result with itself while a truth file lay open)."""
    meta = layer.metadata
    if meta.get("kind") == "negative":
        return 9
    if layer.name.endswith("truth") or meta.get(ROLE_KEY) == "truth":
        return 0
    if meta.get(SOURCE_KEY):
        return 1
    if meta.get(ROLE_KEY) == "annotation":
        return 2
    if meta.get(ROLE_KEY) == "result":
        return 6
    return 3


def _of(layer: Any) -> str:
    """The micrograph a points layer belongs to ("": not known)."""
    return str(layer.metadata.get("micrograph") or "")


def evaluable_layers(viewer: Any) -> list[Any]:
    """The layers Evaluate compares: points, circles of vesicles and paths of fibers
    (shapes layers of kind ``"vesicle"`` or ``"fiber"``: the Pick widget's results,
    Annotate's, a pick file's).

    A vesicle trial's picks were circles only: Evaluate offered the empty points
    layer and said "pick first"; a fiber trial's were paths, with the same message.
    """
    return [
        layer
        for layer in viewer.layers
        if layer_type(layer) == "points"
        or (
            layer_type(layer) == "shapes"
            and layer.metadata.get("kind") in _SHAPE_KINDS.values()  # (fibers: as points)
        )
    ]


def layer_picks(layer: Any, micrograph: str = "") -> pd.DataFrame:
    """A points layer (or a layer of vesicle circles: centre and diameter each; of fiber
    paths: their vertices, one ``tube_id`` per path) as a pick table, every row named
    ``micrograph`` when given."""
    from napari_cryopick.layers.points import points_to_picks
    from napari_cryopick.layers.results import shapes_to_paths, shapes_to_vesicles

    features = layer.features if len(layer.features) == len(layer.data) else None
    if layer_type(layer) == "shapes":
        scores = (
            features["score"].to_numpy(float)
            if features is not None and ("score" in features.columns)
            else None
        )
        if layer.metadata.get("kind") == "fiber":
            from .shown import _fiber_table

            width = layer.metadata.get("diameter")
            table = _fiber_table(shapes_to_paths(layer.data), scores, micrograph, width)
        else:
            table = shapes_to_vesicles(layer.data, micrograph=micrograph, scores=scores)
    else:
        table = points_to_picks(layer.data, features, micrograph=micrograph)
        # a candidate a hand pick sits on is that particle, never shown nor exported: not
        # scored either (a review: each counted as a false positive)
        from .shown import _beside_hand

        table = table[~_beside_hand(table)].reset_index(drop=True)
    if micrograph:
        table["micrograph"] = micrograph
    return table


def _for_the_widget(message: str) -> str:
    """A core warning worded for this widget (its controls, not the command's options)."""
    # the command's binning options have no box here (a re-trial was told to use one)
    message = re.sub(
        r" \(--(?:pred|truth)-binning (\d+) scales their coordinates and sizes\)",
        r" (load picks of the micrograph as shown, or scale the file's coordinates and "
        r"sizes \1 times)",
        message,
    )
    message = re.sub(r"--diameter (\d+)", r"\1 px in the Diameter box", message)
    return message.replace("--tolerance PX", "the Tolerance box").replace(
        "--diameter", "the Diameter box"
    )


#: Layer metadata of a truth layer read by *Load truth file…*: the file it came from.
TRUTH_FILE_KEY = "cryopick_truth_file"
#: ... and whether it was mirrored top to bottom as it was read.
TRUTH_FLIPPED_KEY = "cryopick_truth_flipped"


def _input_problems(
    pred: pd.DataFrame, truth: pd.DataFrame, truth_layer: Any, diameter: float
) -> list[str]:
    """What ``cryopick evaluate`` warns of in its inputs, worded for this widget: picks
    repeated on either side, one side's coordinates binned (not against clicks, which
    cover part of a micrograph), or y mirrored top to bottom (a truth file counting y
    from the bottom row scores AP near 0 unsaid)."""
    from napari_cryopick.core.evaluate import (
        duplicate_warnings,
        mirror_radius,
        mirrored_truth,
        scale_mismatch,
    )

    said = duplicate_warnings(pred, truth, diameter)
    # clicks in one corner spread less than picks over the whole micrograph (a review)
    ratio = (
        scale_mismatch(pred, truth) if truth_layer.metadata.get(ROLE_KEY) != "annotation" else None
    )
    if ratio is not None:
        said.append(
            f"the ground truth spreads {ratio:.2g} times as far as the predictions: one "
            "side's coordinates look like those of a binned micrograph"
        )
    radius = mirror_radius(pred, truth, diameter)
    mirror = mirrored_truth(pred, truth, radius) if radius else None
    if mirror is not None:
        from_file = truth_layer.metadata.get(TRUTH_FILE_KEY)
        untick = "untick" if truth_layer.metadata.get(TRUTH_FLIPPED_KEY) else "tick"
        advice = (
            f"{untick} 'y from the last row' and load {Path(from_file).name} again"
            if from_file
            else "one of the layers lies mirrored on the micrograph (a truth file: load it "
            "with Load truth file… and 'y from the last row' ticked)"
        )
        said.append(
            f"the ground truth matches the predictions far better mirrored top to bottom "
            f"({mirror.mirrored_recall:.0%} of its picks beside a prediction, against "
            f"{mirror.recall:.0%} as given): its y runs the other way; {advice}"
        )
    return said


def _sure_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Predicted picks without a score (added by hand) count as sure ones: score 1, or the
    highest score of the others where that is higher (a file's Topaz log-odds: hand picks
    ranked below misses at 2.0, where ``cryopick evaluate`` ranks them first)."""
    from napari_cryopick.core.evaluate import fill_scores

    if table["score"].isna().any():
        table = table.assign(score=fill_scores(table["score"].to_numpy(float)))
    return table


def _down_to_slider(threshold: float) -> float:
    """``threshold`` down to the Pick slider's step: the pick scored at a best-F threshold
    stays shown (a GUI trial's best F1 at 0.06553 went to the slider as 0.066 and hid that
    pick: recall 0.978 on screen, 0.99 evaluated)."""
    return math.floor(float(threshold) * SLIDER_STEPS + 1e-9) / SLIDER_STEPS


class EvaluateWidget(QWidget):
    """Choose predicted and truth layers, IoU; shows PR curve, AP, AR, best F1/F2."""

    def __init__(self, napari_viewer: Any):
        super().__init__()
        self.viewer = napari_viewer
        self.report = None
        self._scored_candidates = False  # the last predictions were a result's candidates

        self.pred_combo = QComboBox()
        self.pred_combo.setToolTip(
            "Points (or vesicle circles) of predicted picks (scores give the PR curve)"
        )
        self.truth_combo = QComboBox()
        self.truth_combo.setToolTip(
            "Points (or vesicle circles) of the true objects (truth file or your clicks)"
        )
        load_truth = QPushButton("Load truth file…")
        load_truth.setToolTip("Read a STAR/BOX/CBOX/Topaz/CSV pick file as ground truth")
        load_truth.clicked.connect(self._browse_truth)
        self.truth_flip_check = QCheckBox("y from the last row")
        self.truth_flip_check.setToolTip(
            "The truth file counts y from the micrograph's bottom row (RELION's picks of TIFF "
            "micrographs, some EMAN BOX files): mirror it onto the micrograph when loading"
        )
        self.iou_combo = QComboBox()
        self.iou_combo.addItems(["0.5", "0.6"])
        self.diameter_spin = QDoubleSpinBox()
        self.diameter_spin.setRange(1.0, 5000.0)
        self.diameter_spin.setSuffix(" px")
        self.diameter_spin.setValue(100.0)
        self.diameter_spin.setToolTip(
            "Diameter of picks that have none (for the IoU); follows the micrograph's "
            "diameter until you type one here"
        )
        self._diameter_typed = False  # the user's own value is kept
        self.tolerance_spin = QDoubleSpinBox()
        self.tolerance_spin.setRange(0.0, 5000.0)
        self.tolerance_spin.setDecimals(1)
        self.tolerance_spin.setSuffix(" px")
        self.tolerance_spin.setSpecialValueText("off (IoU)")  # 0: match by box overlap
        self.tolerance_spin.setToolTip(
            "Match a pick to a true particle whose centre lies this close instead of by box "
            "overlap (IoU), e.g. a quarter of the diameter; as cryopick evaluate --tolerance"
        )
        self.evaluate_button = QPushButton("Evaluate")
        self.results_label = QLabel("")
        self.results_label.setWordWrap(True)
        self.apply_f1_button = QPushButton("Use best-F1 threshold")
        self.apply_f2_button = QPushButton("Use best-F2 threshold")
        for button in (self.apply_f1_button, self.apply_f2_button):
            button.setEnabled(False)
        # fixed margins: tight_layout warns (a napari toast) when the dock is narrow
        self.figure = Figure(figsize=(3.2, 2.6))
        self.figure.subplots_adjust(left=0.17, right=0.96, top=0.9, bottom=0.17)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(200)
        self.axes = self.figure.add_subplot(111)

        form = QFormLayout()
        form.addRow("Predicted", self.pred_combo)
        form.addRow("Ground truth", self.truth_combo)
        truth_row = QHBoxLayout()  # one row: the four widgets fit a full-HD window
        truth_row.addWidget(load_truth)
        truth_row.addWidget(self.truth_flip_check)
        form.addRow("", truth_row)
        form.addRow("IoU", self.iou_combo)
        form.addRow("Diameter", self.diameter_spin)
        form.addRow("Tolerance", self.tolerance_spin)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.apply_f1_button)
        apply_row.addWidget(self.apply_f2_button)
        layout = scroll_layout(self)
        layout.addLayout(form)
        layout.addWidget(self.evaluate_button)
        layout.addWidget(self.results_label)
        layout.addLayout(apply_row)
        layout.addWidget(self.canvas)

        self.evaluate_button.clicked.connect(self.run)
        self.apply_f1_button.clicked.connect(lambda: self.apply_threshold(beta=1))
        self.apply_f2_button.clicked.connect(lambda: self.apply_threshold(beta=2))
        self.diameter_spin.editingFinished.connect(self._on_diameter_typed)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        # a result filled in place (a vesicle model's circles after the empty points
        # layer was chosen: a trial's Evaluate said "pick first")
        connect_while_alive(
            session(self.viewer).picks_changed, self, lambda _name: self._refresh_layers()
        )
        connect_while_alive(
            session(self.viewer).settings_changed, self, lambda _name: self._follow_diameter()
        )
        self._named: weakref.WeakSet = weakref.WeakSet()  # renaming these refreshes the lists
        self._layers_by_name: dict[str, Any] = {}  # the layers listed at the last refresh
        # the layers the user chose (by hand or through load_truth); the rest is chosen
        # afresh at every refresh, so an early automatic choice (clicks as "predicted"
        # before any picking, a trial) gives way to the results and follows the
        # micrograph on screen
        self._user_choice: dict[str, weakref.ref | None] = {"pred": None, "truth": None}
        self._refreshing = False
        self.pred_combo.currentTextChanged.connect(lambda text: self._chose("pred", text))
        self.truth_combo.currentTextChanged.connect(lambda text: self._chose("truth", text))
        self.viewer.layers.selection.events.active.connect(self._refresh_layers)
        self.destroyed.connect(
            lambda *_args: self.viewer.layers.selection.events.active.disconnect(
                self._refresh_layers
            )
        )
        self._refresh_layers()

    def _chose(self, which: str, text: str) -> None:
        """A combo changed outside a refresh: the user's choice, kept while its layer is open."""
        if self._refreshing:
            return
        layer = self._layers_by_name.get(text)
        if layer is None and text in self.viewer.layers:
            layer = unproxy(self.viewer.layers[text])
        self._user_choice[which] = weakref.ref(layer) if layer is not None else None

    def _chosen_name(self, which: str) -> str:
        """The name now of the layer the user chose for ``which`` ("" if none or closed)."""
        ref = self._user_choice[which]
        layer = ref() if ref is not None else None
        for candidate in self.viewer.layers if layer is not None else ():
            if unproxy(candidate) is layer:
                return candidate.name
        return ""

    def _on_diameter_typed(self) -> None:
        self._diameter_typed = True

    def _follow_diameter(self) -> None:
        """The box shows the diameter of the micrograph on screen (Annotate's, else the one
        it was picked at), until the user types one."""
        if self._diameter_typed:
            return
        current = current_micrograph_layer(self.viewer)
        diameter = micrograph_diameter(current) if current is not None else None
        if not diameter and current is not None:
            # an evaluation trial's truth without diameters was scored at the box's first
            # 100 px while Pick showed the model's 108, unsaid
            stored = session(self.viewer).pick_results.get(micrograph_name(current))
            diameter = stored.picked_diameter_px if stored is not None else None
        if diameter:
            self.diameter_spin.blockSignals(True)
            self.diameter_spin.setValue(diameter)
            self.diameter_spin.blockSignals(False)

    def _follow_names(self) -> None:
        """Refresh the lists when a layer is renamed (the result layers take the name of
        the micrograph they show: a stale name could not be chosen)."""
        for layer in self.viewer.layers:
            real = unproxy(layer)
            if real not in self._named:  # a weak set: a closed layer's id may come back
                self._named.add(real)
                layer.events.name.connect(self._refresh_layers)

    def _refresh_layers(self, _event: Any = None) -> None:
        """Refill the layer lists; keep the user's choices, else pick sensible ones.

        Sensible: results of the micrograph on screen as predicted, and a truth
        (else the particle clicks) of the same micrograph as ground truth.
        """
        if self._refreshing or more_coming(self.viewer, getattr(_event, "value", None)):
            return  # (a folder's micrographs: once, for the last)
        self._refreshing = True
        try:
            self._refill()
        finally:
            self._refreshing = False

    def _refill(self) -> None:
        self._follow_names()
        self._follow_diameter()
        layers = evaluable_layers(self.viewer)
        # the user's choices stay (under a new name if renamed); the rest is chosen again
        keep_pred = self._chosen_name("pred")
        keep_truth = self._chosen_name("truth")
        current = current_micrograph_layer(self.viewer)
        shown = micrograph_name(current) if current is not None else ""
        # between equally likely layers the one chosen before stays (renamed too)
        before = self._layers_by_name.get(self.pred_combo.currentText())
        by_pred = sorted(
            layers,
            key=lambda layer: (
                _prediction_rank(layer),
                _of(layer) != shown,
                len(layer.data) == 0,  # a vesicle model's picks are its circles
                unproxy(layer) is not before,
            ),
        )
        populate_layer_combo(self.pred_combo, by_pred, keep_pred)
        if keep_pred not in [layer.name for layer in layers] and by_pred:
            self.pred_combo.setCurrentIndex(0)
        chosen = self.pred_combo.currentText()
        pred_of = next((_of(layer) for layer in layers if layer.name == chosen), "") or shown

        def elsewhere(layer: Any) -> bool:  # a layer of another micrograph than the picks
            return bool(pred_of) and _of(layer) not in ("", pred_of)

        truth_before = self._layers_by_name.get(self.truth_combo.currentText())
        by_truth = [
            layer
            for layer in sorted(
                layers,
                key=lambda layer: (
                    elsewhere(layer),
                    len(layer.data) == 0,
                    _truth_rank(layer),
                    unproxy(layer) is not truth_before,
                ),
            )
            if _truth_rank(layer) < 9
        ]
        kept = next((layer for layer in by_truth if layer.name == keep_truth), None)
        if kept is not None and elsewhere(kept):
            # the picks layer now shows another micrograph: its truth, not the old one's
            keep_truth = ""
        elif kept is not None and len(kept.data) == 0 and by_truth and len(by_truth[0].data):
            # an empty truth scores nothing: a layer with points (a truth file opened
            # after an empty annotation layer was chosen, a trial) takes its place
            keep_truth = ""
        populate_layer_combo(self.truth_combo, by_truth, keep_truth)
        if keep_truth not in [layer.name for layer in by_truth]:
            others = [layer for layer in by_truth if layer.name != self.pred_combo.currentText()]
            if others:
                self.truth_combo.setCurrentText(others[0].name)
        self._keep_apart()
        self._layers_by_name = {layer.name: unproxy(layer) for layer in layers}

    def _keep_apart(self) -> None:
        """One layer cannot be both: move the truth, else the prediction, else leave it empty."""
        pred, truth = self.pred_combo.currentText(), self.truth_combo.currentText()
        if not pred or pred != truth:
            return
        for combo, other in ((self.truth_combo, pred), (self.pred_combo, truth)):
            names = [combo.itemText(i) for i in range(combo.count())]
            choices = [name for name in names if name != other]
            if choices:
                combo.setCurrentText(choices[0])
                return
        # a single layer: in the box it fits (a GUI trial's picks, alone, sat in Ground
        # truth with Predicted empty), the other left for the user to choose
        layer = self._layers_by_name.get(pred) or next(
            (lay for lay in evaluable_layers(self.viewer) if lay.name == pred), None
        )
        if layer is not None and _prediction_rank(layer) < _truth_rank(layer):
            self.truth_combo.setCurrentIndex(-1)
        else:
            self.pred_combo.setCurrentIndex(-1)

    def load_truth(self, path: str | Path, flip_y: bool | None = None) -> Any:
        """Read a pick file and add it as a points layer chosen as the ground truth.

        ``flip_y`` (None: the *y from the last row* box) mirrors its y onto the
        micrograph it names (else the one on screen), whose height must be known.
        """
        from napari_cryopick.io.pickfiles import match_name, read_picks
        from napari_cryopick.layers.points import picks_layer

        path = Path(path)
        flip = self.truth_flip_check.isChecked() if flip_y is None else flip_y
        try:
            table = read_picks(path)
        except (ValueError, OSError) as exc:
            self.results_label.setText(str(exc))
            return None
        layers = {micrograph_name(m): m for m in micrograph_layers(self.viewer)}
        owner = match_name(path.stem, set(layers))  # 061_autopick.star: micrograph 061
        if flip:
            mirrored = self._mirrored(table, path, owner, layers)
            if mirrored is None:
                return None
            table = mirrored
        data, kwargs, _ = picks_layer(
            table, f"{path.stem} truth", default_diameter=self.diameter_spin.value()
        )
        metadata = {**kwargs.get("metadata", {}), TRUTH_FILE_KEY: str(path)}
        metadata[TRUTH_FLIPPED_KEY] = bool(flip)
        if owner and metadata.get("micrograph") not in layers:
            metadata["micrograph"] = owner
        kwargs["metadata"] = metadata
        layer = self.viewer.add_points(data, **kwargs)
        self._user_choice["truth"] = weakref.ref(unproxy(layer))  # chosen: kept
        self._refreshing = True  # what follows is chosen for the user, not by them
        try:
            self.truth_combo.setCurrentText(layer.name)
            if not self.pred_combo.currentText():
                self.pred_combo.setCurrentIndex(0)
            self._keep_apart()
        finally:
            self._refreshing = False
        return layer

    def _mirrored(
        self, table: pd.DataFrame, path: Path, owner: str | None, layers: dict
    ) -> pd.DataFrame | None:
        """``table``'s y mirrored top to bottom on its micrographs (None: said why not).

        A file named after a micrograph, or naming one open micrograph (else the one on
        screen), takes that one's height; a whole data set's file each open micrograph's
        own (a re-trial was told to tick the box for one, then refused), the rows of
        micrographs not open as read (only an open micrograph is evaluated here).
        """
        from napari_cryopick.core.pick_table import flip_y

        by_name = table["micrograph"].astype(str)
        named = set(by_name) & set(layers) if len(table) else set()
        if owner is None and len(named) > 1:
            parts = [
                flip_y(group, int(layers[name].data.shape[-2])) if name in named else group
                for name, group in table.groupby(by_name, sort=False)
            ]
            return pd.concat(parts).loc[table.index]
        name = owner or (next(iter(named)) if named else "")
        image = layers.get(name, current_micrograph_layer(self.viewer))
        if image is None:
            self.results_label.setText(
                f"{path.name}: open its micrograph first: mirroring y needs its height"
            )
            return None
        return flip_y(table, int(image.data.shape[-2]))

    def _browse_truth(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Ground-truth picks", "", "Picks (*.star *.box *.cbox *.txt *.csv)"
        )
        if path:
            self.load_truth(path)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Predicted and truth pick tables of the chosen layers (one micrograph name)."""
        pred_layer = self.viewer.layers[self.pred_combo.currentText()]
        truth_layer = self.viewer.layers[self.truth_combo.currentText()]
        name = str(pred_layer.metadata.get("micrograph") or "micrograph")
        pred = None
        # the session's own circles or paths (not a file's, opened with the same look: a
        # trial's 5-circle STAR was scored as the session's 127 circles once Pick had run)
        if (
            layer_type(pred_layer) == "shapes"
            and pred_layer.metadata.get(ROLE_KEY) == "result"
            and not pred_layer.metadata.get(SOURCE_KEY)
        ):
            from .result_layers import every_candidate

            # every circle (fiber point) down to the score floor, not only those above
            # the slider
            pred = every_candidate(self.viewer, name, pred_layer.metadata.get("kind"))
        self._scored_candidates = pred is not None  # (what the fibers note says)
        if pred is None:
            pred = layer_picks(pred_layer, name)
        return pred, layer_picks(truth_layer, name)

    def run(self) -> Any:
        """Evaluate the chosen layers; returns the :class:`EvaluationReport`."""
        from napari_cryopick.core.evaluate import evaluate, fibers_as_points

        if not self.pred_combo.currentText() or not self.truth_combo.currentText():
            self.results_label.setText("Choose a predicted and a ground-truth points layer.")
            return None
        if self.pred_combo.currentText() == self.truth_combo.currentText():
            self.results_label.setText("Choose two different layers: predicted and ground truth.")
            return None
        chosen = (self.pred_combo.currentText(), self.truth_combo.currentText())
        if any(name not in self.viewer.layers for name in chosen):
            # the result layers are renamed after the micrograph they show
            self._refresh_layers()
            self.results_label.setText(
                "The chosen layers changed (the result layers now show another micrograph): "
                "check the choice and evaluate again."
            )
            return None
        pred_of, truth_of = (_of(self.viewer.layers[name]) for name in chosen)
        if pred_of and truth_of and pred_of != truth_of:
            for button in (self.apply_f1_button, self.apply_f2_button):
                button.setEnabled(False)
            self.results_label.setText(
                f"The predicted picks are {pred_of}'s, the ground truth is {truth_of}'s: "
                f"choose layers of one micrograph (or load {pred_of}'s truth file)."
            )
            return None
        pred, truth = self.tables()
        pred = _sure_scores(pred)
        if not len(truth):
            # (a fiber trial's empty picks layer stood as the truth beside its fibers: what
            # to do next said)
            self.results_label.setText(
                f"The ground-truth layer '{self.truth_combo.currentText()}' has no points: "
                "nothing to compare (choose another, or Load truth file…)."
            )
            return None
        if not len(pred):
            self.results_label.setText("The predicted layer has no points: pick first.")
            return None
        iou = float(self.iou_combo.currentText())
        tolerance = self.tolerance()
        # the rule of `cryopick evaluate` (a design review: the two scored fibers apart)
        fibers = fibers_as_points(pred, truth, tolerance, self.diameter_spin.value())
        if fibers is not None:
            pred, truth, tolerance = fibers.pred, fibers.truth, fibers.tolerance_px
        import warnings

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                report = evaluate(
                    pred,
                    truth,
                    iou_thresholds=(iou,),
                    tolerance_px=tolerance,
                    diameter_px=self.diameter_spin.value(),
                )
        except ValueError as exc:
            self.results_label.setText(str(exc))
            return None
        self.report = report
        self._show(report)
        self._say_candidates(report, pred)
        said = [
            _for_the_widget(str(w.message)) for w in caught if issubclass(w.category, UserWarning)
        ]
        truth_layer = self.viewer.layers[self.truth_combo.currentText()]
        if truth_layer.metadata.get(ROLE_KEY) == "annotation" and len(pred) > 2 * len(truth):
            # a trial moved to another micrograph: the truth box took its 10 clicks, and
            # AP 0.027 against them read as a broken model
            said.append(
                f"the ground truth is the {len(truth)} objects clicked in "
                f"'{truth_layer.name}': unless you clicked every particle, picks of the "
                "particles not clicked count as false, so precision, AP and the best "
                "thresholds are too low (load the micrograph's complete picks with "
                "Load truth file…)"
            )
        said += _input_problems(pred, truth, truth_layer, self.diameter_spin.value())
        text = "".join(f"\nWarning: {m[0].upper()}{m[1:]}." for m in said)
        if fibers is not None:
            note = fibers.note("the Tolerance box", None, "the Diameter box")
            pred_layer = self.viewer.layers[self.pred_combo.currentText()]
            if pred_layer.metadata.get("kind") == "fiber" and self._scored_candidates:
                # (only the result's candidates: a review found the note beside drawn paths)
                # (a GUI trial's exported paths scored AP 0.882 where the widget said 0.800)
                note += (
                    "; the picked fibers are scored as every point the model found along them "
                    "down to the score floor, not as the traced paths an export writes, so "
                    "'cryopick evaluate' on an exported file scores a little differently"
                )
            text = f"\n{note[0].upper()}{note[1:]}." + text
        # e.g. predicted and true sizes too different for IoU: under the figures
        self.results_label.setText(self.results_label.text() + text)
        return report

    def _say_candidates(self, report: Any, pred: pd.DataFrame) -> None:
        """Say that "predicted" counts every candidate scored, not only those shown at the
        slider's threshold (a GUI trial read "808 predicted" beside 717 shown picks)."""
        state = session(self.viewer)
        names = set(pred["micrograph"].astype(str)) if len(pred) else set()
        own = [state.micrograph_thresholds[n] for n in names if n in state.micrograph_thresholds]
        threshold = own[0] if len(own) == 1 else state.display_threshold
        if threshold is None or "score" not in pred.columns:
            return
        shown = int((pred["score"].to_numpy(float) >= float(threshold)).sum())
        if shown == report.n_pred:
            return
        said = f"{report.n_pred} predicted, "
        text = self.results_label.text()
        if said in text:
            self.results_label.setText(
                text.replace(
                    said,
                    f"{report.n_pred} predicted (every candidate scored, for the curve; "
                    f"{shown} at or above the threshold {threshold_text(float(threshold))}), ",
                    1,
                )
            )

    def tolerance(self) -> float | None:
        """The centre-distance tolerance in pixels (None: match by IoU)."""
        value = self.tolerance_spin.value()
        return value if value > 0 else None

    @staticmethod
    def ap_name(report: Any) -> str:
        """Key of the primary AP in ``report.ap`` and ``report.pr_curves`` (e.g. ``AP@0.5``).

        The distance one (``AP@12px``) when matched by centre distance.
        """
        names = list(report.pr_curves)
        if str(report.criterion).startswith("dist"):
            names = [name for name in names if name.endswith("px")] or names
        return names[0]

    def _show(self, report: Any) -> None:
        name = self.ap_name(report)
        ap = report.ap.get(name, float("nan"))
        f1, f2 = report.best_f1, report.best_f2
        for button in (self.apply_f1_button, self.apply_f2_button):
            button.setEnabled(False)
        if not np.isfinite(ap):
            self.results_label.setText(
                f"No {name}: no predicted pick matches the truth "
                f"({report.n_pred} predicted, {report.n_truth} true). Check the layers and "
                "the diameter."
            )
            return
        self.results_label.setText(
            f"{name} ({report.criterion}): {ap:.3f}   AR: {report.ar:.3f}\n"
            # the threshold as the Pick widget shows it once applied (a GUI trial read 0.24
            # here and 0.237 there)
            f"best F1 {f1[1]:.3f} at threshold {threshold_text(_down_to_slider(f1[0]))} "
            f"(P {f1[2]:.2f}, R {f1[3]:.2f})\n"
            f"best F2 {f2[1]:.3f} at threshold {threshold_text(_down_to_slider(f2[0]))} "
            f"(P {f2[2]:.2f}, R {f2[3]:.2f})\n"
            f"{report.n_pred} predicted, {report.n_truth} true"
        )
        self.axes.clear()
        curve = report.pr_curves[name]
        self.axes.plot(curve.recall, curve.precision, color="tab:blue", linewidth=1.5)
        for best, label, colour in ((f1, "best F1", "tab:orange"), (f2, "best F2", "tab:green")):
            if np.isfinite(best[2]) and np.isfinite(best[3]):
                self.axes.plot([best[3]], [best[2]], "o", color=colour, label=label)
        self.axes.set_xlim(0, 1.02)
        self.axes.set_ylim(0, 1.02)
        self.axes.set_xlabel("recall")
        self.axes.set_ylabel("precision")
        self.axes.set_title(f"{name} = {ap:.3f}", fontsize="small")
        if self.axes.get_legend_handles_labels()[1]:
            self.axes.legend(fontsize="x-small", loc="lower left")
        self.axes.grid(True, alpha=0.3)
        self.canvas.draw_idle()
        # a best F1/F2 of 0 matches nothing at any threshold: there is no threshold to use
        for button, best in ((self.apply_f1_button, f1), (self.apply_f2_button, f2)):
            button.setEnabled(bool(np.isfinite(best[1]) and best[1] > 0))

    def apply_threshold(self, beta: int = 1) -> float | None:
        """Send the best-F1 (``beta=1``) or best-F2 threshold to the Pick widget."""
        if self.report is None:
            return None
        best = self.report.best_f1 if beta == 1 else self.report.best_f2
        if not (np.isfinite(best[1]) and best[1] > 0):
            self.results_label.setText(
                f"Best F{beta} is 0: no pick matches the truth at any threshold, so there is "
                "no threshold to use. Check the layers, the diameter and the tolerance."
            )
            return None
        threshold = _down_to_slider(best[0])
        state = session(self.viewer)
        if not len(state.threshold_requested):
            self.results_label.setText(
                f"Open the Pick widget to apply threshold {threshold_text(threshold)}."
            )
            return threshold
        state.threshold_requested.emit(threshold)
        return threshold
