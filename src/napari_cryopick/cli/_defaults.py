"""Default values of the core's configuration dataclasses, without importing the core.

``cryopick --help`` shows the defaults of ``TrainConfig``, ``PickConfig`` and
``ContinualConfig``, but importing their modules loads torch (seconds). This
module reads the defaults from the classes' source instead: the dataclass
stays the one place a default is defined, and the help stays fast. Literal
defaults, plain arithmetic on numbers (``1.0 / 3.0``) and module-level
constants (also imported ones) are understood; anything else reads as None.
A test compares the result with the real classes.
"""

from __future__ import annotations

import ast
import importlib.util
import operator
from functools import cache
from typing import Any

__all__ = ["dataclass_defaults", "module_constant"]


@cache
def _module_tree(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    with open(spec.origin, encoding="utf-8") as stream:
        return ast.parse(stream.read(), filename=spec.origin)


def _constant(module: str, name: str, depth: int = 0) -> Any:
    """Value of the module-level constant ``name`` of ``module`` (following imports)."""
    if depth > 4:
        return None
    for node in _module_tree(module).body:
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if name in targets:
                return _value(module, node.value, depth)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id == name and node.value is not None:
                return _value(module, node.value, depth)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _constant(node.module, alias.name, depth + 1)
    return None


_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


def _value(module: str, node: ast.expr, depth: int) -> Any:
    if isinstance(node, ast.Name):
        return _constant(module, node.id, depth + 1)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        # plain arithmetic on numbers, e.g. ``1 / 3``
        left, right = _value(module, node.left, depth), _value(module, node.right, depth)
        numbers = (int, float)
        if isinstance(left, numbers) and isinstance(right, numbers):
            return _ARITHMETIC[type(node.op)](left, right)
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def dataclass_defaults(module: str, name: str) -> dict[str, Any]:
    """``{field: default}`` of the dataclass ``name`` defined in ``module``.

    Parameters
    ----------
    module
        Dotted module name (e.g. ``"napari_cryopick.core.train_config"``); it is
        read, not imported.
    name
        Class name.
    """
    for node in _module_tree(module).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {
                item.target.id: (None if item.value is None else _value(module, item.value, 0))
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
    raise LookupError(f"no class {name} in {module}")


def module_constant(module: str, name: str) -> Any:
    """Value of the module-level constant ``name`` of ``module``, read, not imported."""
    return _constant(module, name)
