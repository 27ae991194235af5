"""The Pick widget's review panel: the table of picked micrographs, stepping through
them, a folder reviewed one micrograph at a time, pick files loaded back, reviewed flags.

It shows the session's results (``result_layers``) and never picks: the Pick
widget owns it (``PickWidget.review``) and gives it the threshold each
micrograph is shown at and its status line. The reviewed flags of a picks
folder are ``io.review``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_cryopick.core.pick_table import flip_y
from napari_cryopick.core.text import name_list
from napari_cryopick.io.review import read_reviewed, write_reviewed
from napari_cryopick.layers.results import SHOWS_KEY

from ._common import (
    connect_while_alive,
    current_micrograph_layer,
    layer_path,
    micrograph_layers,
    micrograph_name,
    same_file,
    session,
    session_micrographs,
    show_only_micrograph,
    threshold_text,
)
from .result_layers import (
    _SHAPE_KINDS,
    _kept_worth,
    _shapes_edited,
    _store_edits,
    apply_display_threshold,
    autosave_corrections,
    close_result_layers,
    display,
    next_undo,
    result_layer,
    result_picks,
    set_aside_retained,
    show_pick_result,
    shown_objects,
    undo_deletion,
)
from .shown import (
    ShownResult,
    _moved_picks,
    _object_counts,
    _object_scores,
    _particle_candidates,
    counted,
)

__all__ = ["REVIEW_DELAY_MS", "ReviewPanel"]

#: Milliseconds the review table waits after the last slider move or edit before it follows.
REVIEW_DELAY_MS = 150
#: Seconds within which micrographs whose corrections came back (or were closed with
#: corrections) are said in one line.
RESTORED_TOGETHER_S = 5.0


def _made_with(state: Any, names: list[str], current: str | None) -> str:
    """Which model made the restored picks of ``names`` when it is not the one picking
    now (``current``): Pick current would re-pick them with another model (a re-trial's
    picks of a trained model came back beside the bundled one, unsaid)."""
    files = {state.pick_results[n].model_file for n in names if n in state.pick_results}
    files.discard(None)
    if not files:
        return ""
    from napari_cryopick.core.model.bundled import bundled_model_path

    def named(file: str) -> str:
        if Path(file) == Path(bundled_model_path()).resolve():
            return "the bundled general model"
        return f"{Path(file).name} ({file}{'' if Path(file).is_file() else ', no longer there'})"

    made = " and ".join(named(f) for f in sorted(files))
    from .shown import made_by_earlier_file

    older = [
        n for n in names if n in state.pick_results and made_by_earlier_file(state.pick_results[n])
    ]
    if files == {current} and older:
        # the file was written again since (a training into it): a napari trial's picks
        # were said to be the retrained model's and re-picked at the old one's threshold
        which = "They were" if len(older) == len(names) else f"Those of {name_list(older, 3)} were"
        return (
            f". {which} picked with an earlier version of {made}, written again since "
            "(trained into): Pick picks with it as it is now, and Pick current re-picks "
            "them with it"
        )
    if files == {current}:
        return f". They were picked with {made}, which Pick picks with"
    if current in files:
        # several models, one of them Pick's: which micrograph each made (a GUI re-trial
        # read "picked with a.pt and b.pt, not with a.pt, which Pick picks with now")
        others = sorted(f for f in files if f != current)
        by_file = {
            f: [
                n
                for n in names
                if n in state.pick_results and state.pick_results[n].model_file == f
            ]
            for f in others
        }
        listed = "; ".join(f"{named(f)}: {name_list(by_file[f], 3)}" for f in others)
        return (
            f". They were picked with {made}; Pick picks with {named(current)} now: those of "
            f"{listed} are re-picked with it by Pick current (load that model first to "
            "re-pick them with it)"
        )
    now = "a model not saved" if current is None else named(current)
    return (
        f". They were picked with {made}, not with {now}, which Pick picks with now: "
        "load that model first to re-pick them with it"
    )


def _no_heatmap(state: Any, names: list[str]) -> str:
    """What a restored result lacks: its heatmap, kept only in the napari session that
    picked it (a re-trial found an empty heatmap layer, unsaid)."""
    results = [state.pick_results.get(name) for name in names]
    if not any(r is not None and r.heatmap is None for r in results):
        return ""
    return "; no heatmap (not kept on disk): Pick current draws it again and keeps them"


class ReviewPanel(QWidget):
    """Picked micrographs in a table (objects shown, mean score, reviewed); step through them.

    Parameters
    ----------
    viewer
        The napari viewer (the session's results are its).
    threshold_for
        The display threshold of a micrograph (the Pick widget's slider, or its
        data set's own threshold).
    say
        Writes one status text (the Pick widget's status line).
    model_file
        The file of the model picking now (None: one in memory only): picks back from
        an earlier session made with another are said with theirs.
    tiff_y_from_last_row
        Whether STAR, BOX and CBOX files of TIFF micrographs count y from the image's
        last row (the Pick widget's box): Load picks mirrors them then.
    """

    #: Every row was refreshed after the user rested (:meth:`schedule_review` of None).
    table_refreshed = Signal()
    #: Rows of edited micrographs were refreshed (picks deleted, moved or added).
    rows_refreshed = Signal()

    def __init__(
        self,
        viewer: Any,
        threshold_for: Callable[[str], float],
        say: Callable[[str], None],
        model_file: Callable[[], str | None] | None = None,
        tiff_y_from_last_row: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.viewer = viewer
        self._model_file = model_file or (lambda: None)
        self._tiff_y_from_last_row = tiff_y_from_last_row or (lambda: False)
        self._threshold_for = threshold_for
        #: micrograph name -> when it was closed with corrections / when they came back
        self._recent: dict[str, dict[str, float]] = {"closed": {}, "restored": {}, "dropped": {}}
        #: A note said after an action, its micrograph and the objects shown then: the
        #: Pick widget's counts replace it once those change (see :meth:`undo_deletion`).
        self.said_in_passing: tuple[str, str, str] = ("", "", "")
        self._say = say
        #: the micrographs the last "picks are back" status spoke of (its model said again
        #: when Pick's model changes: PickWidget._restate_made_with)
        self.restored_said: list[str] = []
        self._folder_files: list[Path] = []  # "Review folder…": micrograph files, in order
        self._unopenable: set[str] = set()  # of those, the ones that could not be opened
        self._picks_folder: Path | None = None
        self._review_open: str | None = None  # the micrograph the review opened last
        # the table follows edits and the threshold once the user rests
        self._review_order: dict[str, int] = {}  # micrograph -> its row
        self._review_counts: dict[str, dict[str, int]] = {}  # objects shown per micrograph
        self._review_pending: set[str] = set()
        self._review_all = False
        self._review_timer = QTimer(self)
        self._review_timer.setSingleShot(True)
        self._review_timer.setInterval(REVIEW_DELAY_MS)
        self._review_timer.timeout.connect(self._refresh_scheduled_review)

        self.review_table = QTableWidget(0, 4)
        self.review_table.setHorizontalHeaderLabels(
            ["micrograph", "picks", "mean score", "reviewed"]
        )
        self.review_table.verticalHeader().setVisible(False)
        self.review_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.review_table.setSelectionBehavior(QTableWidget.SelectRows)
        self.review_table.setSelectionMode(QTableWidget.SingleSelection)
        self.review_table.setMinimumHeight(90)
        self.review_table.setMaximumHeight(160)
        self.review_table.setToolTip("Picked micrographs; click one to show it alone")
        self.load_picks_button = QPushButton("Load picks…")
        self.load_picks_button.setToolTip(
            "Read the pick files of the open micrographs from a folder (e.g. written by "
            "Pick folder… with candidates kept) and review them at any threshold"
        )
        self.previous_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.undo_button = QPushButton("Undo delete")
        self.undo_button.setToolTip(
            "Bring back the picks, circles or paths deleted last on the micrograph shown, "
            "with their scores (Ctrl+Z on its result layers); picking again keeps deleted "
            "ones deleted"
        )
        self.reviewed_check = QCheckBox("Reviewed")
        self.reviewed_check.setToolTip("Mark the shown micrograph as reviewed")
        self.review_folder_button = QPushButton("Review folder…")
        self.review_folder_button.setToolTip(
            "Step through the micrographs of a folder, one open at a time, with their pick files"
        )
        files_row = QHBoxLayout()
        files_row.addWidget(self.review_folder_button)
        files_row.addWidget(self.load_picks_button)
        step_row = QHBoxLayout()
        step_row.addWidget(self.previous_button)
        step_row.addWidget(self.reviewed_check)
        step_row.addWidget(self.next_button)
        step_row.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.review_table)
        layout.addLayout(files_row)
        layout.addLayout(step_row)

        self.review_table.cellClicked.connect(lambda row, _col: self.show_micrograph(row))
        self.load_picks_button.clicked.connect(self._choose_picks_folder)
        self.review_folder_button.clicked.connect(self._choose_review_folder)
        self.previous_button.clicked.connect(lambda: self.step_micrograph(-1))
        self.next_button.clicked.connect(lambda: self.step_micrograph(+1))
        self.reviewed_check.toggled.connect(self._on_reviewed_toggled)
        self.undo_button.clicked.connect(self.undo_deletion)
        # bound methods: napari's events hold them weakly (a lambda would outlive the panel)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.selection.events.active.connect(self._sync_review_controls)
        state = session(self.viewer)
        connect_while_alive(state.picks_changed, self, self._on_picks_changed)
        connect_while_alive(state.corrections_restored, self, self._on_corrections_restored)
        connect_while_alive(state.micrograph_shown, self, self._sync_review_controls)
        self.refresh_review_table()
        for layer in self.viewer.layers:  # result layers another widget made already
            self.listen_to_edits(layer)

    def _on_layer_removed(self, _event: Any = None) -> None:
        self.refresh_review_table()

    def _on_layer_inserted(self, event: Any) -> None:
        self.listen_to_edits(event.value)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Objects shown per micrograph of the table (``{"picks": n, ...}``), as last counted."""
        return dict(self._review_counts)

    def names(self) -> list[str]:
        """The table's micrographs, row by row: a reviewed folder's files, else those picked."""
        if self._folder_files:  # reviewing a folder: one row per micrograph file
            return [path.stem for path in self._folder_files]
        return sorted(session(self.viewer).pick_results)

    def _choose_review_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of micrographs to review")
        if folder:
            picks = QFileDialog.getExistingDirectory(self, "Folder of their pick files")
            self.review_folder(folder, picks or None)

    def review_folder(self, folder: str | Path, picks_folder: str | Path | None = None) -> int:
        """Step through the micrograph files of ``folder``, one open at a time.

        Showing a row (click, Previous, Next) opens that micrograph, closes
        the one opened before by the review, and loads its pick file from
        ``picks_folder`` (every candidate, see :meth:`load_picks`). Returns
        the number of micrographs.
        """
        from napari_cryopick.io.micrographs import MICROGRAPH_SUFFIXES

        self._folder_files = sorted(
            p
            for p in Path(folder).iterdir()
            if p.is_file() and p.suffix.lower() in MICROGRAPH_SUFFIXES
        )
        self._picks_folder = None if picks_folder is None else Path(picks_folder)
        self._unopenable = set()
        aside = self._set_aside_other_files(self._folder_files)
        problem = "" if self._picks_folder is None else self._load_reviewed(self._picks_folder)
        self.refresh_review_table()
        self.review_table.clearSelection()  # Next shows the new folder's first micrograph
        self._say(
            "\n".join(
                t
                for t in (
                    f"Reviewing {len(self._folder_files)} micrograph(s) of {folder}",
                    aside,
                    problem,
                )
                if t
            )
        )
        return len(self._folder_files)

    def _set_aside_other_files(self, files: list[Path]) -> str:
        """Picks an earlier review kept of other files named as ``files`` leave the session.

        Results are kept by micrograph name: a second folder of the same file names
        showed the first folder's picks and corrections in its rows and on its
        micrographs (and its reviewed flags). Each such result is kept aside for its
        own file (:func:`set_aside_retained`). Returns what to say.
        """
        open_names = {micrograph_name(m) for m in micrograph_layers(self.viewer)}
        aside = [
            kept
            for path in files
            if path.stem not in open_names  # (said when its row is shown: close it first)
            and (kept := set_aside_retained(self.viewer, path.stem, path)) is not None
        ]
        if not aside:
            return ""
        one = len(aside) == 1
        return (
            f"{name_list([str(p) for p in aside], 3)} (reviewed before) {'has' if one else 'have'} "
            f"the same name as {'a micrograph' if one else 'micrographs'} here: "
            f"{'its' if one else 'their'} picks and corrections are kept aside for "
            f"{'that file' if one else 'those files'} (open {'it' if one else 'them'} again "
            "and they come back); Export leaves them out."
        )

    def _close_review_opened(self, previous: str | None) -> None:
        """Close the micrograph the review opened, ``previous``; its picks, corrected, stay
        for export (retained)."""
        if previous is None:
            return
        state = session(self.viewer)
        for mlayer in micrograph_layers(self.viewer):
            if micrograph_name(mlayer) == previous:
                state.retained.add(previous)
                state.retained_from[previous] = layer_path(mlayer)
                state.retained_image[previous] = (
                    tuple(int(n) for n in np.shape(mlayer.data)[-2:]),
                    mlayer.metadata.get("pixel_size"),
                )
                self.viewer.layers.remove(mlayer)

    def _open_for_review(self, name: str) -> None:
        """Open the folder micrograph ``name`` (closing the previous one) with its picks."""
        path = next((p for p in self._folder_files if p.stem == name), None)
        if path is None:
            return
        open_now = [m for m in micrograph_layers(self.viewer) if micrograph_name(m) == name]
        if open_now:
            other = layer_path(open_now[0])
            if other is not None and not same_file(other, path):
                # a re-trial: nothing opened and nothing said; the review row could be
                # ticked Reviewed for a micrograph never shown
                self._say(
                    f"{name} is open from {other}: close it to review {path} (one "
                    "micrograph name is one layer)."
                )
                return
            # one the user had open: the one the review opened before closes all the same
            # (a GUI trial: stepping back onto an open micrograph left it open); the one the
            # review opened itself, shown again, stays the review's
            previous = self._review_open
            if previous is not None and previous != name:
                self._review_open = None
                state = session(self.viewer)
                state.replacing = True
                try:
                    self._close_review_opened(previous)
                finally:
                    state.replacing = False
            return
        previous, self._review_open = self._review_open, name
        state = session(self.viewer)
        state.replacing = True  # the result layers stay for the next micrograph
        try:
            self._close_review_opened(previous)
            self.viewer.open(str(path), plugin="napari-cryopick")
        except Exception as error:  # (napari wraps the reader's error): said, not raised
            # a re-trial's unreadable micrograph raised out of the step, unsaid, and left
            # the result layers with no micrograph open
            self._review_open = None
            self._unopenable.add(name)  # (its row says so: a folder trial's stayed "not loaded")
            self._say(f"{path} could not be opened: {error}")
            return
        finally:
            state.replacing = False
            close_result_layers(self.viewer)  # (none open: the next one failed)
        if name in state.pick_results:
            display(self.viewer, name)  # back to a reviewed one: as the user left it
        elif self._picks_folder is not None:
            self.load_picks(self._picks_folder, only=name)

    def _on_picks_changed(self, name: str) -> None:
        state = session(self.viewer)
        unmark = name in state.unmark_in_folder
        state.unmark_in_folder.discard(name)  # (taken on this emit: not another folder's later)
        if unmark and self._picks_folder is not None:
            # new picks took the tick away: the folder's record too, or loading the
            # folder's picks (stepping back to it) brought the tick back for picks nobody
            # reviewed (a review trial)
            try:
                if name in read_reviewed(self._picks_folder):
                    write_reviewed(self._picks_folder, name, False)
            except (OSError, ValueError) as exc:
                self._say(f"Could not save the reviewed flag: {exc}")
        self.refresh_review_rows([name])
        if name == self._shown_micrograph():  # (new picks may have taken its flag away)
            self._show_reviewed(name in state.reviewed)
        if name in state.pick_results:  # picked (or opened) again: nothing to say any more
            state.discarded_corrections.discard(name)
            state.dropped_picks.discard(name)
            state.labelled_picks.discard(name)
        elif name in state.dropped_picks:
            state.dropped_picks.discard(name)
            together = [n for n in self._together("dropped", name) if n not in state.pick_results]
            # (left in labelled_picks until picked or opened again: the next close event
            # of the same group names them all again, a review)
            labelled = [n for n in together if n in state.labelled_picks]
            names, one = name_list(together, 3), len(together) == 1
            its, it = ("its", "it") if one else ("their", "them")
            text = f"{names} closed: {its} picks left with {it}"
            if labelled:
                # a GUI trial read "no corrections to keep aside" after Use as training
                # labels, and looked for its hand-added picks in the picks layer
                which = (
                    "your corrections"
                    if labelled == together
                    else (f"your corrections of {name_list(labelled, 3)}")
                )
                self._say(
                    f"{text}; {which} were used as training labels and come back with "
                    # (picks, circles or paths alike: a vesicle trial read of "picks")
                    f"{'it' if len(labelled) == 1 else 'them'} (what you added among the "
                    "labels, and what you deleted as negatives that picking keeps away); "
                    f"pick or load {its} picks again when opened (the labels stay in "
                    "their own layers, not among the picks)."
                )
            else:
                self._say(
                    f"{text} (no corrections to keep aside); pick or load {its} picks again "
                    "when opened."
                )
        elif name in state.discarded_corrections:
            # closed with corrections not yet kept (a trial lost them without a word)
            state.discarded_corrections.discard(name)
            names, one = self._closed_together("closed", name)
            self._say(
                f"{names} closed: {'its' if one else 'their'} picks and your "
                "corrections of them (picks deleted, moved or added) are kept aside: open "
                f"the same {'file' if one else 'files'} again and they come back (in a later "
                f"napari session too); until then Export leaves {'it' if one else 'them'} out."
            )

    def _closed_together(self, event: str, name: str) -> tuple[str, bool]:
        """The micrographs closed with ``name`` (:meth:`_together`, still closed), listed,
        and whether it is one: said once (a re-trial's two closed micrographs: the last one
        named)."""
        state = session(self.viewer)
        names = [n for n in self._together(event, name) if n not in state.pick_results]
        return name_list(names, 3), len(names) == 1

    def _together(self, event: str, name: str) -> list[str]:
        """``name`` and the micrographs of the same ``event`` ("closed", "restored") in the
        last :data:`RESTORED_TOGETHER_S` seconds (several at once are said once)."""
        import time

        now = time.monotonic()
        recent = {n: t for n, t in self._recent[event].items() if now - t < RESTORED_TOGETHER_S}
        recent[name] = now
        self._recent[event] = recent
        return list(recent)

    def _on_corrections_restored(self, name: str) -> None:
        state = session(self.viewer)
        state.restored_unsaid.discard(name)
        # micrographs opened together (napari's File > Open of several) are said together:
        # a trial's status named only the last of two whose corrections came back
        names = [n for n in self._together("restored", name) if n in state.pick_results]
        self.restored_said = names
        listed = name_list(names, 3)
        if names and set(names) <= state.restored_from_disk:
            # not "opened again" in a napari that never had them open (a re-trial docked
            # the widgets first, in a new process)
            self._say(
                f"{listed}: picks are back with your corrections, as you left them in an "
                f"earlier napari session{_no_heatmap(state, names)}"
                f"{_made_with(state, names, self._model_file())}."
            )
            return
        self._say(
            f"{listed} opened again: {'its' if len(names) == 1 else 'their'} picks are back "
            # "when closed" was wrong after a crash (a re-trial killed napari)
            f"with your corrections, as you left them{_no_heatmap(state, names)}"
            f"{_made_with(state, names, self._model_file())}."
        )

    def say_restored(self) -> None:
        """Micrographs opened before this panel whose corrections came back: said now."""
        state = session(self.viewer)
        names = state.restored_unsaid
        if names:
            listed = name_list(sorted(names), 3)
            note = _no_heatmap(state, sorted(names))
            note += _made_with(state, sorted(names), self._model_file())
            self.restored_said = sorted(names)
            names.clear()
            self._say(
                # "when napari last closed them" was wrong after a crash or a kill
                f"{listed}: picks are back with your corrections, as you left them in an "
                f"earlier napari session{note}."
            )

    def listen_to_edits(self, layer: Any) -> None:
        """Edits of a shared result layer (picks, circles, paths) refresh its micrograph's row."""
        if layer.metadata.get(SHOWS_KEY) not in ("picks", *_SHAPE_KINDS):
            return
        layer.events.data.connect(self._on_result_edited)
        self.destroyed.connect(lambda *_args: layer.events.data.disconnect(self._on_result_edited))

    def _on_result_edited(self, _event: Any = None) -> None:
        displayed = session(self.viewer).displayed
        if displayed:
            self.schedule_review(displayed)

    def schedule_review(self, name: str | None) -> None:
        """Refresh ``name``'s row of the review table (None: every row) when the user rests.

        A slider drag or a path being reshaped changes the counts many times a
        second; the table follows once, :data:`REVIEW_DELAY_MS` after the last.
        """
        if name is None:
            self._review_all = True
        else:
            self._review_pending.add(name)
        self._review_timer.start()

    def _refresh_scheduled_review(self) -> None:
        names, self._review_pending = self._review_pending, set()
        everything, self._review_all = self._review_all, False
        if everything:
            self.refresh_review_table()
            self.table_refreshed.emit()
        else:
            self.refresh_review_rows(names)
            self.rows_refreshed.emit()

    def _review_row(self, name: str) -> tuple[tuple[str, int, float, bool], str]:
        """``(name, objects, mean score, reviewed)`` of a micrograph and its count's text.

        Objects are counted as the user sees them (:func:`result_picks`): one
        per particle pick, vesicle circle and fiber (not one per vertex of its
        path); the text names the vesicles and fibers among them, e.g.
        ``"4 (2 vesicles, 1 fiber)"``. The mean score is one score per object.
        """
        state = session(self.viewer)
        if self._folder_files and name not in state.pick_results:
            # a folder's micrograph whose picks are not read: not opened yet (or closed
            # since), or open without picks (a review trial read "0 | –" for files of 110
            # picks each)
            self._review_counts[name] = {}
            text = "not picked" if name in session_micrographs(self.viewer) else "not loaded"
            if name in self._unopenable and name not in session_micrographs(self.viewer):
                text = "cannot be opened"
            return (name, 0, float("nan"), name in state.reviewed), text
        # the displayed micrograph from its layers, the others from the session's store
        table = result_picks(self.viewer, name)
        counts = _object_counts(table)
        self._review_counts[name] = counts
        scores = _object_scores(table)
        mean = float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")
        total = sum(counts.values())
        others = [counted(n, kind) for kind, n in counts.items() if kind != "picks" and n]
        text = f"{total} ({', '.join(others)})" if others else str(total)
        return (name, total, mean, name in session(self.viewer).reviewed), text

    def _set_review_row(self, row: int, values: tuple[str, int, float, bool], text: str) -> None:
        name, _count, mean, reviewed = values
        cells = (
            name,
            text,
            "–" if not np.isfinite(mean) else f"{mean:.2f}",
            "yes" if reviewed else "",
        )
        for column, value in enumerate(cells):
            self.review_table.setItem(row, column, QTableWidgetItem(value))

    def refresh_review_table(self) -> list[tuple[str, int, float, bool]]:
        """Fill the table: micrograph, shown objects, their mean score, reviewed flag.

        Every row (:meth:`_review_row`); :meth:`refresh_review_rows` refreshes
        some.
        """
        names = self.names()
        rows = [self._review_row(name) for name in names]
        self._review_counts = {name: self._review_counts[name] for name in names}
        self.review_table.setRowCount(len(rows))
        for row, (values, text) in enumerate(rows):
            self._set_review_row(row, values, text)
        self._review_order = {name: row for row, name in enumerate(names)}
        return [values for values, _text in rows]

    def refresh_review_rows(self, names: Any) -> None:
        """Refresh the rows of ``names`` only (and insert those of micrographs new to it).

        Counting a micrograph traces its fibers: a table of thousands of
        micrographs is refreshed whole only when micrographs left it.
        """
        order = self.names()
        before = self._review_order
        if [name for name in order if name in before] != list(before):
            self.refresh_review_table()  # micrographs went (closed): renumber every row
            return
        names = list(names)
        for row, name in enumerate(order):  # a new micrograph picked: its row is inserted
            if name not in before:
                self.review_table.insertRow(row)
                names.append(name)
        self._review_order = {name: row for row, name in enumerate(order)}
        for name in dict.fromkeys(names):
            row = self._review_order.get(name)
            if row is not None:
                self._set_review_row(row, *self._review_row(name))

    def show_micrograph(self, row: int) -> str | None:
        """Show the micrograph of table row ``row`` and its layers alone; select it."""
        names = self.names()
        if not 0 <= row < len(names):
            return None
        name = names[row]
        active = self.viewer.layers.selection.active  # (before a folder's file opens)
        if self._folder_files:
            self._open_for_review(name)
            self.refresh_review_table()
        reviewing = (
            active is not None
            and active in self.viewer.layers
            and active.metadata.get(SHOWS_KEY) in ("picks", *_SHAPE_KINDS)
        )
        if reviewing:
            # reviewing the picks (selecting, deleting): the picks layer stays selected,
            # in its mode, and follows the micrograph (a review: a click meant to select
            # a false pick after Next became an annotation there)
            show_only_micrograph(self.viewer, name)
            self.viewer.layers.selection.active = active  # (a folder's file opened: its)
        else:
            # selected first, as in the layer list: Annotate (docked) then gives the next
            # click to the micrograph's annotation layer (a GUI trial's click after Next
            # did nothing: shown first, Annotate took the image's selection for a choice)
            for mlayer in micrograph_layers(self.viewer):
                if micrograph_name(mlayer) == name:
                    self.viewer.layers.selection.active = mlayer
            show_only_micrograph(self.viewer, name)
        self.review_table.selectRow(row)
        self._show_reviewed(name in session(self.viewer).reviewed)
        return name

    def step_micrograph(self, step: int) -> str | None:
        """Show the next (``+1``) or previous (``-1``) picked micrograph."""
        names = self.names()
        if not names:
            return None
        rows = self.review_table.selectionModel().selectedRows()
        current = rows[0].row() if rows else -1
        return self.show_micrograph(min(max(current + step, 0), len(names) - 1))

    def undo_deletion(self) -> int:
        """Bring back the picks deleted last on the micrograph shown; says how many."""
        name = session(self.viewer).displayed
        what = next_undo(self.viewer)
        n = undo_deletion(self.viewer)
        if n:
            noun = {"vesicles": "circles", "fibers": "paths"}.get(what, "picks")
            text = f"{name}: {counted(n, noun)} deleted last brought back"
            self._say(text)
            # until the picks change again: then the counts take over (a GUI trial read it
            # through two more deletions and a switch of micrograph)
            self.said_in_passing = (text, name or "", shown_objects(self.viewer, name or ""))
        else:
            self._say(f"{name or 'No micrograph shown'}: nothing deleted to bring back")
        return n

    def confirm(self, question: str) -> bool:
        """Ask the user a yes-or-no question (No is the default). Tests replace it."""
        answer = QMessageBox.question(
            self, "napari-cryopick", question, QMessageBox.Yes | QMessageBox.No, QMessageBox.No
        )
        return answer == QMessageBox.Yes

    def _load_would_lose(self, name: str, table: pd.DataFrame) -> bool:
        """Whether the pick file ``table`` replacing ``name``'s picks loses the user's
        work: picks added by hand or moved that the file lacks, network picks deleted
        that the file has (they would come back), circles or paths edited. Work already
        used as training labels, and a file that holds the corrected picks (an export
        loaded back), lose nothing."""
        from napari_cryopick.core.pick_table import far_from

        state = session(self.viewer)
        if name not in state.pick_results:
            return False
        if name == state.displayed:
            _store_edits(self.viewer)  # the layer's edits of a moment ago count too
        mlayer = next(
            (m for m in micrograph_layers(self.viewer) if micrograph_name(m) == name), None
        )
        if not _kept_worth(self.viewer, name, mlayer):
            return False
        stored = state.pick_results[name]
        if stored.edited or any(
            _shapes_edited(result_layer(self.viewer, name, what), name) for what in _SHAPE_KINDS
        ):
            return True
        current = _particle_candidates(stored.picks)
        loaded = _particle_candidates(table)
        original = stored.original if stored.original is not None else np.zeros((0, 2))
        given = pd.DataFrame(np.asarray(original, float), columns=["x", "y"])  # as picked
        if stored.file_picks and stored.original is not None:
            # a pick file's picks (no scores): those now at none of the file's places were
            # added or moved by the user
            mine = far_from(current, given, 1.0)
        else:
            scored = current["score"].notna()
            mine = current[~scored] if scored.any() else current.iloc[:0]  # added by hand
            mine = pd.concat([mine, _moved_picks(current, stored.original)])
        if len(far_from(mine, loaded, 1.0)):
            return True
        # picks deleted that the file has (with or without scores, with or without
        # diameters: a BOX file's came back, and a RELION or Topaz file's, which carry none)
        if not len(given):
            return False
        sizes = pd.concat([current["diameter"], loaded["diameter"]]).astype(float)
        radius = 0.5 * float(np.nanmedian(sizes)) if sizes.notna().any() else 1.0
        gone = far_from(given, current, radius)
        return bool(len(gone)) and len(far_from(loaded, gone, radius)) < len(loaded)

    def _choose_picks_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of pick files")
        if folder:
            self.load_picks(folder)

    def load_picks(self, folder: str | Path, only: str | None = None) -> list[str]:
        """Load ``<micrograph>.<format>`` of each open micrograph from ``folder`` for review.

        Every row of a file becomes a candidate (with its score, where the
        file has one), shown at the slider's threshold like freshly picked
        ones. The reviewed flags saved in the folder (:data:`REVIEW_FILE`)
        come back, and marking a micrograph reviewed saves there from now on.
        A micrograph holding the user's corrections is replaced only if the user
        says so (:meth:`confirm`). Returns the micrographs loaded.
        """
        from napari_cryopick.io.pickfiles import micrograph_picks_in_folder

        folder = Path(folder)
        self._picks_folder = folder  # the reviewed flags are saved here
        loaded, problems = [], []
        hidden: list[tuple[int, float | None, float]] = []  # (picks hidden, written at, shown at)
        written_at: dict[str, float | None] | None = None  # the manifests' thresholds, read once
        try:
            flags = read_reviewed(folder)
        except ValueError as exc:
            flags = set()
            problems.append(str(exc))
        layers = {micrograph_name(mlayer): mlayer for mlayer in micrograph_layers(self.viewer)}
        names = [name for name in layers if only is None or name == only]
        found, read_problems = micrograph_picks_in_folder(folder, names)
        problems += read_problems
        flip = self._tiff_y_from_last_row()
        tiff_rows = {"mirrored": 0, "as written": 0}  # TIFF micrographs' STAR/BOX/CBOX files
        # the file replaces what the session had: the user's corrections too, unasked (a
        # review's hour of deletions and added picks went with one misdirected click)
        kept = [
            name for name in names if name in found and self._load_would_lose(name, found[name][1])
        ]
        if kept and self.confirm(
            f"{name_list(kept, 3)} {'holds' if len(kept) == 1 else 'hold'} your corrections "
            "(picks deleted, moved or added). Replace them with the picks of the files in "
            f"{folder}?"
        ):
            kept = []
        # the folder's flags say its files' picks were reviewed: not the corrections a
        # micrograph kept instead (the flags came back before the question, kept or not;
        # corrections kept on disk when ticked bring their own tick back with them)
        session(self.viewer).reviewed.update(flags - set(kept))
        # the files' picks replace those of the others: a tick of theirs is the folder's
        # (a review: a tick back with corrections stayed on the file's picks replacing them)
        replaced = {n for n in names if n in found and n not in kept}
        session(self.viewer).reviewed.difference_update(replaced - flags)
        for name in names:
            if name not in found or name in kept:
                continue
            path, table = found[name]
            if _y_from_last_row_possible(path, layers[name]):
                # RELION, crYOLO and EMAN2 count y of TIFF images from the last row: the
                # Pick widget's box mirrors them back, as its export mirrors them out (a
                # File > Open trial had no way in napari to read such files right)
                if flip:
                    table = flip_y(table, int(layers[name].data.shape[-2]))
                tiff_rows["mirrored" if flip else "as written"] += 1
            # best first; a fiber's vertices stay in the file's order (its path)
            traced = table["tube_id"] > 0
            ranked = table[~traced].sort_values("score", ascending=False, na_position="first")
            table = pd.concat([ranked, table[traced]]) if traced.any() else ranked
            # the file replaces what the session had (its picks without score included)
            result = ShownResult(table.reset_index(drop=True), None, file_picks=True)
            show_pick_result(self.viewer, name, result, keep_manual=False, honour_negatives=False)
            shown_at = self._threshold_for(name)
            apply_display_threshold(self.viewer, name, shown_at)
            if written_at is None:
                from napari_cryopick.workflows.batch import picked_thresholds

                written_at = picked_thresholds(folder)
            recorded = written_at.get(os.path.normpath(os.path.abspath(path)))
            hidden.append(_hidden_picks(table, shown_at, recorded))
            loaded.append(name)
        text = f"Loaded picks of {len(loaded)} micrograph(s) from {folder}"
        box = "'TIFF y from the last row'"
        if tiff_rows["mirrored"]:
            text += (
                f" ({tiff_rows['mirrored']} TIFF micrograph(s)' STAR/BOX/CBOX files read with y "
                f"from the image's last row, as RELION and crYOLO write them: {box})"
            )
        elif tiff_rows["as written"]:
            text += (
                f" ({tiff_rows['as written']} TIFF micrograph(s)' STAR/BOX/CBOX files read with "
                "y from the first row, as napari and cryopick write them; files of RELION or "
                f"crYOLO count it from the last row: tick {box} and load again)"
            )
        text += _hidden_text(hidden)
        if kept:
            text += (
                f"; {name_list(kept, 3)} kept {'its' if len(kept) == 1 else 'their'} "
                "corrected picks (not replaced)"
            )
        missing = [n for n in names if n not in found]
        looked = (
            "looked for <micrograph>.star, .cbox, .box, .txt or .csv, <micrograph>_*.star and "
            "so on, and rows naming it"
        )
        if missing and only is None:  # (a trial's 063_autopick.star was skipped unsaid)
            text += f"; none for {name_list(missing, 3)} ({looked})"
        elif missing:  # a reviewed folder's step (a GUI trial read "Loaded picks of 0")
            text = f"No picks of {only} in {folder} ({looked})"
        self._say("\n".join([text, *problems]))
        return loaded

    def _shown_micrograph(self) -> str | None:
        """The micrograph on screen (worked on), else the review table's selected row's."""
        current = current_micrograph_layer(self.viewer)
        if current is not None:
            return micrograph_name(current)
        rows = self.review_table.selectionModel().selectedRows()
        names = self.names()
        return names[rows[0].row()] if rows and rows[0].row() < len(names) else None

    def _show_reviewed(self, checked: bool) -> None:
        """Set the Reviewed box without it marking anything (``_on_reviewed_toggled``)."""
        self.reviewed_check.blockSignals(True)
        self.reviewed_check.setChecked(checked)
        self.reviewed_check.blockSignals(False)

    def _sync_review_controls(self, shown: Any = None) -> None:
        """The Reviewed box and the table's selection follow the micrograph on screen.

        Shown through Annotate's Micrograph box (``shown``: its name, sent
        before its layer is activated) or the layer list, the box kept the
        table row's micrograph, and ticking it marked that one (a trial).
        """
        name = shown if isinstance(shown, str) and shown else self._shown_micrograph()
        if name is None:
            return
        self._show_reviewed(name in session(self.viewer).reviewed)
        row = self._review_order.get(name)
        if row is not None and row < self.review_table.rowCount():
            self.review_table.selectRow(row)
        elif not self._folder_files:
            # not picked (opened again after its picks left with it): no row is it (a GUI
            # trial's table kept another highlighted, and Next stepped from that one)
            self.review_table.clearSelection()

    def _on_reviewed_toggled(self, checked: bool) -> None:
        name = self._shown_micrograph()
        names = self.names()
        if name is None or name not in names:
            # nothing to mark: the box says so instead of staying ticked for nothing
            self._show_reviewed(False)
            self._say(f"{name or 'This micrograph'} has no picks to review yet: pick it first.")
            return
        reviewed = session(self.viewer).reviewed
        session(self.viewer).reviewed_dropped.discard(name)
        session(self.viewer).unmark_in_folder.discard(name)
        if checked:
            reviewed.add(name)
        else:
            reviewed.discard(name)
        if self._picks_folder is not None:  # kept with the pick files, for the next session
            try:
                write_reviewed(self._picks_folder, name, checked)
            except OSError as exc:
                self._say(f"Could not save the reviewed flag: {exc}")
        # and with the corrections kept on disk, which bring it back (a review: a crash
        # after the tick brought back the corrections without it)
        autosave_corrections(self.viewer, name)
        self.refresh_review_table()
        row = self._review_order.get(name)
        if row is not None:
            self.review_table.selectRow(row)

    def _load_reviewed(self, folder: Path) -> str:
        """Add the reviewed flags saved in ``folder`` to the session; a problem as one line."""
        try:
            session(self.viewer).reviewed.update(read_reviewed(folder))
        except ValueError as exc:
            return str(exc)
        return ""


def _y_from_last_row_possible(pick_file: Path, micrograph_layer: Any) -> bool:
    """Whether ``pick_file`` is of a format whose readers count a TIFF micrograph's y from
    its last row (STAR, BOX, CBOX) and the layer's micrograph is a TIFF file."""
    from napari_cryopick.io.micrographs import is_tiff
    from napari_cryopick.io.pickfiles import TIFF_Y_FROM_LAST_ROW_FORMATS

    path = layer_path(micrograph_layer)
    return (
        pick_file.suffix.lower().lstrip(".") in TIFF_Y_FROM_LAST_ROW_FORMATS
        and path is not None
        and is_tiff(path)
    )


def _hidden_picks(
    table: pd.DataFrame, shown_at: float, written_at: float | None
) -> tuple[int, float | None, float]:
    """``(picks hidden, threshold written at, threshold shown at)`` of a loaded file: its
    scored rows below the threshold it is shown at, of those a pick run wrote as picks
    (at or above the threshold its manifest recorded; a candidates file's rows below it
    are candidates by design). A GUI trial's export of a command-line run's files
    loaded at the slider's 0.15 lost the picks written at 0.101, unsaid."""
    table = table[table["kind"].astype(str) != "fiber"]  # (a path's points: shown as one)
    scores = pd.to_numeric(table["score"], errors="coerce").to_numpy(float)
    below = scores < shown_at  # (NaN: a hand pick, always shown)
    if written_at is not None:
        below &= scores >= written_at
    return int(below.sum()), written_at, float(shown_at)


def _hidden_text(hidden: Sequence[tuple[int, float | None, float]]) -> str:
    """The status line's note of the loaded picks the threshold hides ('' when none)."""
    count = sum(n for n, _written, _shown in hidden)
    if not count:
        return ""
    shown = sorted({at for n, _written, at in hidden if n})
    written = sorted({at for n, at, _shown in hidden if n and at is not None})
    text = (
        f"; {count} of the files' picks score below the threshold they are shown at "
        f"({', '.join(threshold_text(t) for t in shown)}) and are hidden: Export writes "
        "only the picks shown"
    )
    if written:
        text += (
            f" (the files were picked at {', '.join(threshold_text(t) for t in written)}: "
            "move the slider there to show every pick they hold)"
        )
    return text
