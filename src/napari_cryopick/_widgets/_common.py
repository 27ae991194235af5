"""Shared helpers of the widgets: layer updates, micrograph layers, session registry.

The registry (:func:`session`) is a small in-process store per viewer: the
model trained in this session, the widgets that are open (so Evaluate can
reach the Pick widget's threshold slider) and callbacks for "a new model is
ready".
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_cryopick.layers.results import ROLE_KEY

_MICROGRAPH_SUFFIXES = (".mrcs", ".mrc", ".tiff", ".tif", ".png", ".jpeg", ".jpg")
BUNDLED_ORIGIN = "bundled general model"
TRAINED_ORIGIN = "trained in this session"


@dataclass
class SessionState:
    """What the widgets of one viewer share."""

    model: Any = None  # the in-memory Detector the Pick widget uses
    model_path: Path | None = None  # where it was saved (None: not saved)
    model_metadata: dict = field(default_factory=dict)  # checkpoint metadata (exemplar bank)
    model_origin: str = ""  # how the model came (shown by the widgets)
    widgets: dict[str, Any] = field(default_factory=dict)
    pick_results: dict[str, Any] = field(default_factory=dict)  # micrograph -> PickResult
    model_listeners: list[Callable[[Any, Path | None], None]] = field(default_factory=list)
    bundled: tuple[Any, dict] | None = None  # the bundled general model, loaded once

    def set_model(
        self,
        model: Any,
        path: Path | None = None,
        metadata: dict | None = None,
        origin: str = TRAINED_ORIGIN,
    ) -> None:
        """Make ``model`` the session's current model and tell the listeners."""
        self.model = model
        self.model_path = None if path is None else Path(path)
        self.model_metadata = dict(metadata or {})
        self.model_origin = origin
        for listener in list(self.model_listeners):
            listener(model, self.model_path)


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def session(viewer: Any) -> SessionState:
    """The shared state of the widgets docked in ``viewer``."""
    state = _SESSIONS.get(viewer)
    if state is None:
        state = SessionState()
        _SESSIONS[viewer] = state
    return state


def bundled_model(viewer: Any) -> tuple[Any, dict] | None:
    """The bundled general model and its metadata (loaded once per viewer; ~0.1 s).

    Returns ``None`` when the installation has no bundled weights.
    """
    state = session(viewer)
    if state.bundled is None:
        from napari_cryopick.core.model.bundled import load_bundled_model

        try:
            state.bundled = load_bundled_model()
        except (ValueError, OSError):
            return None
    return state.bundled


def base_model(viewer: Any) -> tuple[Any, dict, str]:
    """The model adaptation starts from: the session's model, else the bundled one.

    Returns
    -------
    model, metadata, origin
        ``(None, {}, "")`` when there is neither.
    """
    state = session(viewer)
    if state.model is not None:
        return state.model, state.model_metadata, state.model_origin or TRAINED_ORIGIN
    bundled = bundled_model(viewer)
    if bundled is None:
        return None, {}, ""
    return bundled[0], dict(bundled[1]), BUNDLED_ORIGIN


def update_or_add_layer(viewer: Any, layer_data: tuple) -> Any:
    """Add a ``LayerDataTuple`` to ``viewer``, or update the layer of the same name.

    Re-running a pick or a training preview then replaces the contents of its
    layers instead of stacking duplicates.

    Returns
    -------
    napari.layers.Layer
        The added or updated layer.
    """
    data, kwargs = layer_data[0], dict(layer_data[1]) if len(layer_data) > 1 else {}
    type_name = layer_data[2] if len(layer_data) > 2 else "image"
    kwargs = dict(kwargs)
    name = kwargs.get("name")
    existing = viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401 (LayerList has no .get)
    if existing is not None and layer_type(existing) == type_name:
        _update_layer(existing, data, kwargs)
        return existing
    if existing is not None:
        viewer.layers.remove(existing)
    return getattr(viewer, f"add_{type_name}")(data, **kwargs)


def layer_type(layer: Any) -> str:
    """``"image"``, ``"points"``, ``"shapes"``, ... (napari's private ``_type_string`` warns)."""
    return type(layer).__name__.lower()


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False


def _update_layer(layer: Any, data: Any, kwargs: dict) -> None:
    """Replace a layer's data; touch other properties only where they change (each refreshes)."""
    kwargs.pop("name", None)
    kind = layer_type(layer)
    if kind == "shapes":
        shape_type = kwargs.pop("shape_type", "rectangle")
        features = kwargs.pop("features", None)
        edge_color = kwargs.pop("edge_color", None)
        layer.data = []
        if len(data):
            layer.add(data, shape_type=shape_type, edge_color=edge_color)
        if features is not None and len(data):
            layer.features = features
    elif kind == "points":
        features = kwargs.pop("features", None)
        size = kwargs.pop("size", None)
        colours = {key: kwargs.pop(key, None) for key in ("face_color", "border_color")}
        with layer.events.blocker_all():
            layer.data = data
            if features is not None:
                layer.features = features
            if size is not None and len(data):
                layer.size = size
            for key, value in colours.items():
                if value is not None and len(data) and not isinstance(value, str):
                    setattr(layer, key, value)
        layer.refresh()
        layer.events.data(value=layer.data, action="changed", data_indices=(), vertex_indices=())
    else:
        layer.data = data
    for key, value in kwargs.items():
        if key in ("metadata", "feature_defaults", "symbol", "border_width_is_relative"):
            if key == "metadata":
                layer.metadata.update(value)
            continue
        try:
            if not _same(getattr(layer, key), value):
                setattr(layer, key, value)
        except (AttributeError, TypeError, ValueError):
            pass  # construction-only keyword; the new data is what matters


def layer_path(layer: Any) -> Path | None:
    """The file a layer was read from (metadata ``path`` or napari's source)."""
    path = layer.metadata.get("path") if hasattr(layer, "metadata") else None
    if not path:
        path = getattr(getattr(layer, "source", None), "path", None)
    return Path(path) if path else None


def micrograph_name(layer: Any) -> str:
    """Name of the micrograph shown by an image layer (file stem, else layer name)."""
    name = layer.metadata.get("name") if hasattr(layer, "metadata") else None
    if name:
        return str(name)
    path = layer_path(layer)
    if path is not None:
        lower = path.name.lower()
        for suffix in _MICROGRAPH_SUFFIXES:
            if lower.endswith(suffix):
                return path.name[: -len(suffix)]
        return path.stem
    return str(layer.name)


def is_micrograph_layer(layer: Any) -> bool:
    """An image layer that is a micrograph (not a heatmap or other result)."""
    return (
        layer_type(layer) == "image"
        and layer.metadata.get(ROLE_KEY) != "heatmap"
        and getattr(layer, "ndim", 2) == 2
        and not getattr(layer, "rgb", False)
    )


def micrograph_layers(viewer: Any) -> list[Any]:
    """Micrograph image layers of ``viewer``, bottom to top."""
    return [layer for layer in viewer.layers if is_micrograph_layer(layer)]


def current_micrograph_layer(viewer: Any) -> Any | None:
    """The selected micrograph layer, else the top-most micrograph layer."""
    active = viewer.layers.selection.active
    if active is not None and is_micrograph_layer(active):
        return active
    layers = micrograph_layers(viewer)
    return layers[-1] if layers else None


def points_layers(viewer: Any) -> list[Any]:
    """Points layers of ``viewer``."""
    return [layer for layer in viewer.layers if layer_type(layer) == "points"]


def listen_to_model(viewer: Any, widget: Any, listener: Callable[[Any, Path | None], None]) -> None:
    """Call ``listener(model, path)`` when the session's model changes, while ``widget`` lives."""
    listeners = session(viewer).model_listeners
    listeners.append(listener)

    def _forget(*_args: Any) -> None:
        if listener in listeners:
            listeners.remove(listener)

    widget.destroyed.connect(_forget)


def register_widget(viewer: Any, key: str, widget: Any) -> None:
    """Record an open widget in the session registry (weakly, by key)."""
    session(viewer).widgets[key] = weakref.ref(widget)


def find_widget(viewer: Any, key: str) -> Any | None:
    """A widget registered under ``key`` for ``viewer``, if it still exists."""
    ref = session(viewer).widgets.get(key)
    return ref() if ref is not None else None


def populate_layer_combo(combo: Any, layers: list[Any], keep: str | None = None) -> None:
    """Fill a ``QComboBox`` with layer names, keeping the current choice if possible."""
    keep = combo.currentText() if keep is None else keep
    combo.blockSignals(True)
    combo.clear()
    combo.addItems([layer.name for layer in layers])
    index = combo.findText(keep)
    if index >= 0:
        combo.setCurrentIndex(index)
    combo.blockSignals(False)
