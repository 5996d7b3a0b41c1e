"""The plugin manager: built-ins and third-party plugins through one entry-point group.

Every distribution that declares an entry point in the group ``encephagen``
(the built-ins included, see ``pyproject.toml``) is loaded and its hooks are
collected into a :class:`~encephagen.registry.Registry`.

A plugin that cannot take part is kept out and recorded as broken, with a
one-line reason, instead of breaking every command: a module that raises on
import, a hook with arguments, a hook without ``@hookimpl`` or of an unknown
name, a hook that raises or returns something other than a list of classes,
and a component class that breaks its kind's contract
(:func:`encephagen.contract.component_problem`). ``encephagen plugins`` lists
them; every other command warns once and goes on.

Environment:

- ``ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD`` (anything but ``""`` or ``0``):
  load only encephagen's own entry points;
- ``ENCEPHAGEN_DISABLE_PLUGINS=dist1,dist2``: skip these distributions.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import pluggy

from encephagen import __version__, hookspecs
from encephagen.contract import component_problem
from encephagen.interfaces import HOOK_KINDS
from encephagen.registry import Broken, Entry, Registry, close_matches

ENTRY_POINT_GROUP = "encephagen"
DISABLE_AUTOLOAD_ENV = "ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD"
DISABLE_ENV = "ENCEPHAGEN_DISABLE_PLUGINS"
OWN_DISTRIBUTION = "encephagen"

_HOOK_PREFIX = "encephagen_"


def autoload_disabled() -> bool:
    """True when third-party autoloading is switched off by the environment."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")


def disabled_distributions() -> set[str]:
    """Distribution names listed in ``ENCEPHAGEN_DISABLE_PLUGINS`` (compared case-insensitively)."""
    return {d.strip().lower() for d in os.environ.get(DISABLE_ENV, "").split(",") if d.strip()}


def _dist_name(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("unknown", "")
    return (dist.metadata["Name"] or "unknown", dist.version or "")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _hook_problem(plugin: Any) -> str:
    """A hook-shaped function the plugin manager would silently ignore or refuse, or ""."""
    marker = "encephagen_impl"
    for attr in sorted(dir(plugin)):
        fn = getattr(plugin, attr, None)
        if not callable(fn) or not (attr.startswith(_HOOK_PREFIX) or hasattr(fn, marker)):
            continue
        if attr not in HOOK_KINDS:
            close = close_matches(attr, list(HOOK_KINDS))
            hint = f"; did you mean {close[0]}?" if close else f"; hooks are {', '.join(HOOK_KINDS)}"
            return f"{attr} is not a hook of encephagen{hint}"
        if not hasattr(fn, marker):
            return f"{attr} has no @encephagen.hookimpl, so it would never be called; decorate it"
        try:
            params = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            params = []
        if params:
            return f"{attr} takes ({', '.join(params)}); registration hooks take no arguments"
    return ""


def plugin_manager(
    extra: Iterable[tuple[Any, str, str]] = (),
) -> tuple[pluggy.PluginManager, dict[str, tuple[str, str]], list[Broken]]:
    """A plugin manager with every installed plugin that registers cleanly.

    :param extra: ``(plugin, distribution, version)`` triples registered in
        addition to the entry points (used by tests and embedding code).
    :returns: the manager, a map plugin name -> ``(distribution, version)``,
        and the plugins kept out (:class:`~encephagen.registry.Broken`).
    """
    pm = pluggy.PluginManager("encephagen")
    pm.add_hookspecs(hookspecs)
    provenance: dict[str, tuple[str, str]] = {}
    broken: list[Broken] = []
    only_own, disabled = autoload_disabled(), disabled_distributions()
    seen: set[tuple[str, str]] = set()
    candidates: list[tuple[Any, str, str, str]] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist, version = _dist_name(ep)
        if (only_own and dist != OWN_DISTRIBUTION) or dist.lower() in disabled:
            continue
        if (dist, ep.name) in seen:  # the same distribution found twice on sys.path
            continue
        seen.add((dist, ep.name))
        try:
            plugin = ep.load()
        except BaseException as exc:  # noqa: BLE001 - a broken install is reported, never fatal
            if isinstance(exc, KeyboardInterrupt):
                raise
            broken.append(Broken(dist, version, f"entry point {ep.name} ({ep.value})", f"failed to import: {_one_line(exc)}"))
            continue
        candidates.append((plugin, f"{dist}:{ep.name}", dist, version))
    for plugin, dist, version in extra:
        candidates.append((plugin, f"{dist}:{getattr(plugin, '__name__', type(plugin).__name__)}", dist, version))
    for plugin, name, dist, version in candidates:
        if pm.is_registered(plugin):
            continue
        what = getattr(plugin, "__name__", type(plugin).__name__)
        problem = _hook_problem(plugin)
        if not problem:
            try:
                pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                problem = _one_line(exc)
        if problem:
            broken.append(Broken(dist, version, what, problem))
            continue
        provenance[name] = (dist, version)
    return pm, provenance, broken


def build_registry(extra: Iterable[tuple[Any, str, str]] = ()) -> Registry:
    """Collect every registration hook of every plugin into a :class:`Registry` (broken ones recorded in it)."""
    pm, provenance, broken = plugin_manager(extra)
    registry = Registry()
    for hook_name, kind in HOOK_KINDS.items():
        caller = getattr(pm.hook, hook_name)
        # Registration order must not matter: sort by plugin name, then add.
        for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
            dist, version = provenance.get(impl.plugin_name, (OWN_DISTRIBUTION, __version__))
            where = f"{getattr(impl.plugin, '__name__', impl.plugin_name)}.{hook_name}"
            try:
                classes = impl.function()
            except Exception as exc:  # noqa: BLE001 - one plugin's bug stays its own
                broken.append(Broken(dist, version, where, f"raised {_one_line(exc)}"))
                continue
            if isinstance(classes, type) or not isinstance(classes, (list, tuple)):
                got = "a class" if isinstance(classes, type) else repr(classes)[:80]
                broken.append(Broken(dist, version, where, f"returned {got}; return a list of component classes, e.g. [MyClass]"))
                continue
            for cls in classes:
                label = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"
                problem = component_problem(kind, cls)
                if not problem:
                    entry = Entry(kind=kind, name=cls.name, cls=cls, distribution=dist, version=version)
                    problem = registry.conflict(entry)
                if problem:
                    broken.append(Broken(dist, version, label, problem))
                    continue
                registry.add(entry)
    registry.broken.extend(broken)
    return registry


_DEFAULT: Registry | None = None


def default_registry(refresh: bool = False) -> Registry:
    """The registry of installed plugins, built once per process."""
    global _DEFAULT
    if _DEFAULT is None or refresh:
        _DEFAULT = build_registry()
    return _DEFAULT
