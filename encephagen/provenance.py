"""Provenance of a run: versions, the plugins that provided each component, encephagen's revision, seeds, device."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from encephagen import __version__
from encephagen.errors import EncephagenError
from encephagen.registry import Registry
from encephagen.study import Plan


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_revision(package: Path) -> str | None:
    """The git commit of the checkout that tracks the package directory ``package``, ``+dirty`` when modified.

    ``None`` when no checkout tracks it: an installed copy, even one inside
    some other repository (a virtual environment in a project's checkout),
    has no revision of its own.
    """
    try:
        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=package, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()

        git("ls-files", "--error-unmatch", "__init__.py")  # fails unless this checkout tracks the package
        rev = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty else "")) if rev else None


def encephagen_revision() -> str:
    """encephagen's own git revision (of the directory it was imported from, whatever the working directory),
    or, for an installed copy, its version."""
    rev = git_revision(Path(__file__).resolve().parent)
    return rev or f"none: encephagen {__version__} was not imported from a git checkout"


def components_of(plan: Plan, executor: Any) -> list[tuple[str, str]]:
    """Every ``(kind, name)`` of component the study's cells use, the executor included."""
    used = []
    for cell in plan.cells:
        s = cell.study
        used.append(("connectome", s.connectome.name))
        used += [("null_model", c.null_model.name) for c in s.conditions if c.null_model is not None]
        if s.brain is not None and getattr(s.brain, "neuron", None) is not None:
            used.append(("neuron_model", s.brain.neuron.name))
        if s.learning_rule is not None:
            used.append(("learning_rule", s.learning_rule.name))
        used += [("task", t.name) for t in s.protocol]
    used.append(("executor", executor.name))
    return list(dict.fromkeys(used))


def environment_provenance(plan: Plan, registry: Registry, executor: Any, sets: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions, plugin providers, encephagen's git revision, study hash, overrides and device of this run.

    The seeds are not here: they are in the store (the study and every replicate) and
    :func:`encephagen.exports.seeds_provenance` writes them into ``provenance.json``, so
    that a grown study's new replicates are there too.
    """
    conn = plan.connectome
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "encephagen": __version__,
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "study_hash": plan.study_hash,
        "encephagen_git_revision": encephagen_revision(),
        "connectome": f"{conn.name} ({conn.n_regions} regions, {conn.n_edges} edges)",
        "device": getattr(plan.study.brain, "device", "auto"),
        "executor": repr(executor),
    }
    if sets:
        out["command_line_set"] = json.dumps(list(sets))
    for kind, name in components_of(plan, executor):
        try:
            out[f"plugin.{kind}.{name}"] = registry.entry(kind, name).provider
        except EncephagenError:  # a component built outside the registry
            out[f"plugin.{kind}.{name}"] = "unregistered"
    return out
