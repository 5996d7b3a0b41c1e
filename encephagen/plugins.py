"""The plugin manager: built-ins and third-party plugins through one entry-point group.

Every distribution that declares an entry point in the group ``encephagen``
(the built-ins included, see ``pyproject.toml``) is loaded and its hooks are
collected into a :class:`~encephagen.registry.Registry`. Setting the
environment variable ``ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD`` (to anything but
``""`` or ``0``) loads only encephagen's own entry points.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import pluggy

from encephagen import __version__, hookspecs
from encephagen.errors import PluginError
from encephagen.registry import Entry, Registry

ENTRY_POINT_GROUP = "encephagen"
DISABLE_AUTOLOAD_ENV = "ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD"
OWN_DISTRIBUTION = "encephagen"

#: Registration hook -> the kind of component it returns.
HOOK_KINDS: dict[str, str] = {
    "encephagen_register_connectomes": "connectome",
    "encephagen_register_null_models": "null_model",
    "encephagen_register_neuron_models": "neuron_model",
    "encephagen_register_learning_rules": "learning_rule",
    "encephagen_register_tasks": "task",
    "encephagen_register_executors": "executor",
}


def autoload_disabled() -> bool:
    """True when third-party autoloading is switched off by the environment."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")


def _dist_name(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("unknown", "")
    return (dist.metadata["Name"] or "unknown", dist.version or "")


def plugin_manager(extra: Iterable[tuple[Any, str, str]] = ()) -> tuple[pluggy.PluginManager, dict[str, tuple[str, str]]]:
    """A plugin manager with every installed plugin registered.

    :param extra: ``(plugin, distribution, version)`` triples registered in
        addition to the entry points (used by tests and embedding code).
    :returns: the manager and a map plugin name -> ``(distribution, version)``.
    """
    pm = pluggy.PluginManager("encephagen")
    pm.add_hookspecs(hookspecs)
    provenance: dict[str, tuple[str, str]] = {}
    only_own = autoload_disabled()
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist, version = _dist_name(ep)
        if only_own and dist != OWN_DISTRIBUTION:
            continue
        if (dist, ep.name) in seen:  # the same distribution found twice on sys.path
            continue
        seen.add((dist, ep.name))
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party install must be named
            raise PluginError.at("", f"plugin {ep.name!r} of {dist} {version} failed to import: {exc}") from exc
        name = f"{dist}:{ep.name}"
        if pm.is_registered(plugin):
            continue
        pm.register(plugin, name=name)
        provenance[name] = (dist, version)
    for plugin, dist, version in extra:
        name = f"{dist}:{getattr(plugin, '__name__', type(plugin).__name__)}"
        pm.register(plugin, name=name)
        provenance[name] = (dist, version)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError.at("", f"a plugin implements an unknown hook: {exc}") from exc
    return pm, provenance


def build_registry(extra: Iterable[tuple[Any, str, str]] = ()) -> Registry:
    """Collect every registration hook of every plugin into a :class:`Registry`."""
    pm, provenance = plugin_manager(extra)
    registry = Registry()
    for hook_name, kind in HOOK_KINDS.items():
        caller = getattr(pm.hook, hook_name)
        # Registration order must not matter: sort by plugin name, then add.
        for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
            dist, version = provenance.get(impl.plugin_name, (OWN_DISTRIBUTION, __version__))
            classes = impl.function() or []
            for cls in classes:
                registry.add(Entry(kind=kind, name=getattr(cls, "name", ""), cls=cls, distribution=dist, version=version))
    return registry


_DEFAULT: Registry | None = None


def default_registry(refresh: bool = False) -> Registry:
    """The registry of installed plugins, built once per process."""
    global _DEFAULT
    if _DEFAULT is None or refresh:
        _DEFAULT = build_registry()
    return _DEFAULT
