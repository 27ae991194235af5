"""``cryopick info [MODEL]``: what a model file holds (the bundled general model without one).

Prints the heads, the data sets the model learned (with their exemplar
counts), the particle diameter, the detector configuration and the training
history stored in the checkpoint's metadata: per run its mode, data sets,
steps of those planned, the model's heads after it and the heads it adopted
(:meth:`napari_cryopick.core.model.card.ModelCard.runs`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from napari_cryopick.cli import EXIT_BAD_INPUT, EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show the heads, data sets, exemplars and training history of a model file",
        description="Show what a napari-cryopick model file holds.",
    )
    parser.add_argument(
        "model",
        type=Path,
        nargs="?",
        default=None,
        metavar="MODEL",
        help="model file (.pt; default: the bundled general model, the one cryopick pick "
        "uses without --model)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.set_defaults(func=run)


def model_info(model: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """Plain-type summary of a loaded model and its metadata (used by ``info`` and the GUI)."""
    from napari_cryopick.core.exemplars import bank_from_metadata, bank_nbytes, bank_summary
    from napari_cryopick.core.model.card import GENERIC_HEAD, ModelCard
    from napari_cryopick.workflows.pick import (
        head_border,
        head_threshold,
        model_border,
        model_threshold,
        trained_diameter_angstrom,
        trained_head,
    )

    card = ModelCard.of_model(model, metadata)
    bank = bank_from_metadata(card.exemplars)
    default = trained_head(card, tuple(model.head_names)) or model.default_head
    # the other heads' own trainings' thresholds, which picking with them uses (info said
    # "other heads the default": a trial saw the ribosome head picked at 0.13 all the same)
    own_thresholds = {
        head: value
        for head in model.head_names
        if head != default and (value := head_threshold(card, head)) is not None
    }
    own_borders = {
        head: value
        for head in model.head_names
        if head != default and (value := head_border(card, head)) is not None
    }
    config = model.config.to_dict() if hasattr(model.config, "to_dict") else dict(model.config)
    return {
        "heads": list(model.head_names),
        # the head cryopick pick (and the Pick widget) use without --head: the one the
        # last training trained, else the model's own default
        "default_head": default,
        "datasets": card.dataset_names,
        # heads a later fine-tune moved the body from under (they pick poorly)
        "moved_by_finetune": list(card.moved_by_finetune()),
        # data sets only the generic head knew, moved by a later continual run
        "lost_by_continual": list(card.lost_by_continual()),
        "dataset_diameters_px": {d.name: d.diameter_px for d in card.datasets},
        "exemplars": bank_summary(bank),
        "exemplar_bytes": bank_nbytes(bank),
        "exemplar_crop_size": bank.crop_size if bank.datasets else None,
        "diameter_px": card.diameter_px,
        # the diameter the default head picks at, its data set's (the card's own is the
        # generic head's: a trial read a few-shot model's 108 px, β-gal's, as the last
        # data set's, apoferritin at 62 px)
        "default_head_diameter_px": next(
            (d.diameter_px for d in card.datasets if (d.head or d.name) == default), None
        ),
        # the diameter in Å of the last training of the generic head's data set (given, or
        # measured at micrographs of one pixel size): picking converts it at each
        # micrograph's pixel size (a few-shot run's, of its own head, said 191 Å beside the
        # generic head's 56 px: a trial)
        "diameter_A": trained_diameter_angstrom(
            card, GENERIC_HEAD if GENERIC_HEAD in model.head_names else None
        ),
        "kinds": list(card.kinds),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "config": config,
        "history": card.runs(),
        "pick_threshold": model_threshold(card),
        "head_thresholds": own_thresholds,
        "pick_border": model_border(card),
        "head_borders": own_borders,
    }


def _per_head(
    info: dict[str, Any], key: str, number: str, calibrated: str | None, default: str
) -> str:
    """A ``pick threshold`` / ``pick border`` line: the default head's value (the text
    ``calibrated``, its closing bracket added here; None: ``default``), then the other
    heads' own trainings' values (``info[key]``, each formatted by ``number``)."""
    own = info.get(key) or {}
    heads = info["heads"]
    if calibrated is None:
        line = default
    elif own:
        line = f"{calibrated}; head {info['default_head']})"
    elif len(heads) > 1:
        line = f"{calibrated}; head {info['default_head']} only, other heads the default)"
    else:
        line = f"{calibrated})"
    if own:
        line += "; " + ", ".join(f"head {h} {number.format(v)}" for h, v in own.items())
        line += " (its own training's)" if len(own) == 1 else " (their own trainings')"
        if len(own) < len(heads) - 1:
            line += "; other heads the default"
    return line


def _format(path: Path, info: dict[str, Any]) -> str:
    lines = [f"model: {path}"]
    heads = ", ".join(f"{h} (default)" if h == info["default_head"] else h for h in info["heads"])
    lines.append(f"heads: {heads}")
    diameter = info["diameter_px"]
    if isinstance(diameter, dict):
        diameter = ", ".join(f"{k}: {float(v):.4g} px" for k, v in diameter.items())
    elif diameter is not None:
        diameter = f"{float(diameter):.4g} px"
        sizes = {float(v) for v in (info.get("dataset_diameters_px") or {}).values() if v}
        own = info.get("default_head_diameter_px")
        if len(sizes) > 1 and own and info["default_head"] != "generic":
            # the default head's data set's size first: what picking without --head uses
            diameter = (
                f"{float(own):.4g} px (head {info['default_head']}, the default); the data "
                "sets' own below"
            )
        elif len(sizes) > 1:  # a trial read it as the model's one size
            diameter += (
                " (of the last data set the generic head trained on; the data sets' own below)"
            )
        if info.get("diameter_A"):
            diameter += f"; {float(info['diameter_A']):g} Å, picked at each micrograph's pixel size"
    if diameter is None:
        own = info.get("default_head_diameter_px")
        diameter = "not stored (the generic head picks at the diameter you give)"
        if own and info["default_head"] != "generic":
            # a few-shot head on the bundled model: its own size, the generic head none
            diameter = (
                f"{float(own):.4g} px (head {info['default_head']}, the default); the "
                "generic head: none stored (it picks at the diameter you give)"
            )
    lines.append(f"diameter: {diameter}")
    lines.append(f"parameters: {info['parameters']:,}")
    # other heads at their own trainings' calibration, as cryopick pick --head picks them
    threshold = info.get("pick_threshold")
    lines.append(
        _per_head(
            info,
            "head_thresholds",
            "{:.3g}",
            f"pick threshold: {threshold:.3g} (calibrated on the last training's clicks"
            if threshold is not None
            else None,
            "pick threshold: the default (none calibrated)",
        )
    )
    border = info.get("pick_border")
    lines.append(
        _per_head(
            info,
            "head_borders",
            "{:g}",
            f"pick border: {border:g} diameters (learned from the last training's clicks"
            if border is not None
            else None,
            "pick border: the default",
        )
    )
    datasets = info["datasets"] or sorted(info["exemplars"])
    lines.append(f"data sets: {len(datasets)}")
    # a fiber model's exemplars are crops along its fibers (a trial read "particles")
    objects = {("fiber",): "crops along fibers", ("vesicle",): "vesicles"}.get(
        tuple(info.get("kinds") or ()), "particles"
    )
    for name in datasets:
        count = info["exemplars"].get(name)
        nbytes = info["exemplar_bytes"].get(name)
        head = "own head" if name in info["heads"] else "no own head"
        if name in info.get("moved_by_finetune", ()):
            head += " (trained before a later fine-tune moved the shared body: picks poorly)"
        elif name in info.get("lost_by_continual", ()):
            head += (
                " (only the generic head knew it, and a later continual run moved that head: "
                "picks poorly)"
            )
        bank = (
            f"{count} exemplar {objects} ({nbytes / 1024:.0f} KiB)"
            if count is not None
            else "no exemplars"
        )
        size = info.get("dataset_diameters_px", {}).get(name)
        size = f", diameter {size:.4g} px" if size else ""
        lines.append(f"  {name}: {bank}, {head}{size}")
    lines.append("config:")
    for key, value in info["config"].items():
        lines.append(f"  {key}: {value}")
    history = info["history"]
    lines.append(f"training history: {len(history)} run(s)")
    for index, run in enumerate(history, 1):
        losses = run.get("losses") or {}
        loss_text = ", ".join(f"{k}={float(v):.4g}" for k, v in losses.items())
        adopted = run.get("adopted_heads") or []
        lines.append(
            f"  {index}. {run.get('date', '?')}  mode={run.get('mode', '?')}  "
            f"data sets={','.join(run.get('datasets', []))}  steps={_steps(run)}  "
            + (f"model heads={','.join(run['heads'])}  " if run.get("heads") else "")
            + (f"adopted heads={','.join(adopted)}  " if adopted else "")
            + f"{float(run.get('seconds', 0.0)):.1f} s training"
            + (
                f" ({float(run['job_seconds']):.1f} s the whole job)"
                if "job_seconds" in run
                else ""
            )
            + (f"  losses (mean of the last steps): {loss_text}" if loss_text else "")
        )
    return "\n".join(lines)


def _steps(run: dict[str, Any]) -> str:
    """A run's steps, against the planned ones where recorded: ``300 of 800 (time
    budget)`` says the budget ended training, which the model's picks may show."""
    steps, planned = run.get("steps"), run.get("planned_steps")
    if steps is None:
        return "?"
    if planned is None or not isinstance(steps, (int, float)):
        return str(steps)
    if run.get("completed") is False:
        return f"{steps} of {planned} (stopped)"
    return f"{steps} of {planned}" + (" (time budget)" if steps < planned else "")


def run(args: argparse.Namespace) -> int:
    from napari_cryopick.core.model.checkpoint import load_checkpoint

    path: Path = args.model
    if path is None:  # (a CLI trial: the bundled model could not be shown without its path)
        from napari_cryopick.core.model import bundled_model_path

        path = bundled_model_path()
    if not path.exists():
        print(f"cryopick info: error: {path}: no such file", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        model, metadata = load_checkpoint(path)
        info = model_info(model, metadata)
    except ValueError as error:  # CheckpointError and malformed metadata
        message = str(error)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        print(f"cryopick info: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(_format(path, info))
    return EXIT_OK
