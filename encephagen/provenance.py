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


def git_revision(path: Path) -> str | None:
    """The git commit of the checkout holding ``path`` (``None`` outside one), ``+dirty`` when modified."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=path, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()

        rev = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty else "")) if rev else None


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
    """Versions, plugin providers, encephagen's git revision, study hash, seeds, overrides and device of this run."""
    conn = plan.connectome
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "encephagen": __version__,
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "study_hash": plan.study_hash,
        "study_seed": str(plan.study.seed),
        "replicate_seeds": json.dumps({c.key: [r.seed for r in plan.replicates if r.cell == c.key] for c in plan.cells}),
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
    rev = git_revision(Path(__file__).resolve().parent)
    if rev:
        out["encephagen_git_revision"] = rev
    return out
