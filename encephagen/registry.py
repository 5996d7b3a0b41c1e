"""Name -> component class, per kind, with clear errors.

The registry is filled once from the plugin manager (see
:mod:`encephagen.plugins`). A name registered twice within a kind is an error
naming both distributions; an unknown name is an error that suggests close
matches and lists what is available.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import attrs

from encephagen.errors import PluginError
from encephagen.interfaces import KIND_WORDS, KINDS

def summary_of(cls: type) -> str:
    """The one-line summary of a component class (``summary`` or its docstring)."""
    text = getattr(cls, "summary", None) or (cls.__doc__ or "").strip()
    return text.strip().splitlines()[0] if text.strip() else ""


def close_matches(word: str, candidates: list[str]) -> list[str]:
    """The candidates nearly as similar to ``word`` as the best one (at most three)."""
    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in candidates), reverse=True)
    if not scored or scored[0][0] < 0.6:
        return []
    return [c for r, c in scored[:3] if r >= max(0.6, scored[0][0] - 0.1)]


@attrs.frozen
class Entry:
    """One registered component.

    :ivar kind: one of :data:`encephagen.interfaces.KINDS`.
    :ivar name: its ``kind:`` in a study file.
    :ivar cls: the component class.
    :ivar distribution: the installed distribution that provides it.
    :ivar version: that distribution's version.
    """

    kind: str
    name: str
    cls: type
    distribution: str
    version: str

    @property
    def summary(self) -> str:
        """One line for listings."""
        return summary_of(self.cls)

    @property
    def provider(self) -> str:
        """``distribution version``."""
        return f"{self.distribution} {self.version}".strip()


@attrs.frozen
class Broken:
    """A plugin (or one of its classes) kept out of the registry, and why.

    :ivar distribution: the installed distribution it comes from.
    :ivar version: that distribution's version.
    :ivar what: the entry point, hook or class concerned.
    :ivar reason: one line, saying the fix where there is one.
    """

    distribution: str
    version: str
    what: str
    reason: str

    def line(self) -> str:
        """``dist version: what: reason``."""
        return f"{self.distribution} {self.version}".strip() + f": {self.what}: {self.reason}"


class Registry:
    """Component classes by ``(kind, name)``, and the plugins kept out (:attr:`broken`)."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._by_kind: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        #: Plugins or classes that could not be registered, in the order found.
        self.broken: list[Broken] = []
        for e in entries:
            self.add(e)

    def conflict(self, entry: Entry) -> str:
        """Why ``entry`` cannot be added (its name is taken by another class of its kind), or ""."""
        known = self._by_kind.get(entry.kind, {}).get(entry.name)
        if known is None or known.cls is entry.cls:
            return ""
        return (
            f"{KIND_WORDS[entry.kind]} {entry.name!r} is already registered by {known.provider} "
            f"({known.cls.__module__}.{known.cls.__qualname__}); uninstall one of them or rename one"
        )

    def add(self, entry: Entry) -> None:
        """Register ``entry`` (its class checked against its kind's contract); a problem is a :class:`PluginError`."""
        from encephagen.contract import component_problem

        problem = component_problem(entry.kind, entry.cls) or self.conflict(entry)
        if not problem and entry.name != entry.cls.name:
            problem = f"registered as {entry.name!r} but its class variable `name` is {entry.cls.name!r}"
        if problem:
            raise PluginError.at("", f"{entry.provider}: {entry.cls!r}: {problem}")
        self._by_kind[entry.kind][entry.name] = entry

    def default(self, kind: str, role: str = "default") -> Entry:
        """The component of ``kind`` whose class declares ``default = role`` itself (a subclass does not
        inherit the role; see :data:`encephagen.interfaces.DEFAULT_ROLES`); the built-ins fill every role."""
        found = [e for e in self.entries(kind) if vars(e.cls).get("default") == role]
        if len(found) != 1:
            which = ", ".join(f"{e.name!r} ({e.provider})" for e in found) or "none is installed"
            raise PluginError.at(
                "", f"the {role} {KIND_WORDS[kind]} must be exactly one component, found: {which}; name one in the study"
            )
        return found[0]

    def entry(self, kind: str, name: str) -> Entry:
        """The entry for ``(kind, name)``; an unknown name gets close matches and the full list."""
        table = self._by_kind.get(kind)
        if table is None:
            raise PluginError.at("", f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
        if name in table:
            return table[name]
        word = KIND_WORDS[kind]
        msg = f"unknown {word} {name!r}"
        close = close_matches(str(name), list(table))
        if close:
            msg += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        msg += f" (available: {', '.join(sorted(table)) or 'none installed'})"
        dists = sorted({b.distribution for b in self.broken})
        if dists:
            msg += f"; broken plugin packages that may provide it: {', '.join(dists)} (see `encephagen plugins`)"
        raise PluginError.at("", msg)

    def get(self, kind: str, name: str) -> type:
        """The class registered as ``(kind, name)``."""
        return self.entry(kind, name).cls

    def names(self, kind: str) -> list[str]:
        """Sorted names of one kind."""
        return sorted(self._by_kind[kind])

    def entries(self, kind: str | None = None) -> list[Entry]:
        """All entries (of one kind), sorted by kind then name."""
        kinds = [kind] if kind else list(KINDS)
        return [self._by_kind[k][n] for k in kinds for n in sorted(self._by_kind[k])]
