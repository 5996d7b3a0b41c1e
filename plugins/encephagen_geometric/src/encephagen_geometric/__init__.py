"""encephagen-geometric: a distance-dependent null model for encephagen.

This module is the package's entry point (group ``encephagen``, see
``pyproject.toml``); encephagen loads it and calls its hooks.
"""

from __future__ import annotations

from encephagen import hookimpl

from encephagen_geometric.geometric import Geometric

__all__ = ["Geometric"]


@hookimpl
def encephagen_register_null_models() -> list[type]:
    """The null models of this package."""
    return [Geometric]
