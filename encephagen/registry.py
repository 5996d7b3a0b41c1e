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
from encephagen.interfaces import KINDS

#: How each kind is written in messages ("unknown null model 'x'").
KIND_WORDS: dict[str, str] = {
    "connectome": "connectome source",
    "null_model": "null model",
    "neuron_model": "neuron model",
    "learning_rule": "learning rule",
    "task": "task",
    "executor": "executor",
}


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


class Registry:
    """Component classes by ``(kind, name)``."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._by_kind: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        for e in entries:
            self.add(e)

    def add(self, entry: Entry) -> None:
        """Register ``entry``; a duplicate name within its kind is a :class:`PluginError`."""
        if entry.kind not in self._by_kind:
            raise PluginError.at("", f"unknown component kind {entry.kind!r}; kinds are {', '.join(KINDS)}")
        cls = entry.cls
        if not isinstance(entry.name, str) or not entry.name:
            raise PluginError.at("", f"{entry.provider}: {cls!r} has no string class variable 'name'")
        if not attrs.has(cls):
            raise PluginError.at("", f"{entry.provider}: {KIND_WORDS[entry.kind]} {entry.name!r} must be an attrs class")
        known = self._by_kind[entry.kind].get(entry.name)
        if known is not None and known.cls is not cls:
            raise PluginError.at(
                "",
                f"{KIND_WORDS[entry.kind]} {entry.name!r} is registered twice: by {known.provider} "
                f"({known.cls.__module__}.{known.cls.__qualname__}) and by {entry.provider} "
                f"({cls.__module__}.{cls.__qualname__}); uninstall one of them or rename one",
            )
        self._by_kind[entry.kind][entry.name] = entry

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
