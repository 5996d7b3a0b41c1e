"""Errors that reach the user as one clear line.

Every error caused by bad input derives from :class:`EncephagenError`. The CLI
prints each of its ``problems`` on its own line (``field: message``) and exits
with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class EncephagenError(Exception):
    """Bad input, reported as one line per problem.

    :param problems: ``(field, message)`` pairs; ``field`` is a dotted path such
        as ``conditions[1].null_model.kind`` or ``""`` when no field applies.
    """

    def __init__(self, *problems: tuple[str, str]) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        super().__init__("\n".join(self.lines()))

    @classmethod
    def at(cls, field: str, message: str) -> "EncephagenError":
        """One problem at ``field``."""
        return cls((field, message))

    def lines(self) -> list[str]:
        """The problems as ``field: message`` lines."""
        return [f"{f}: {m}" if f else m for f, m in self.problems]

    def prefixed(self, prefix: str) -> "EncephagenError":
        """The same problems with ``prefix`` put before each field path."""
        def join(f: str) -> str:
            if not f:
                return prefix
            if f == prefix or f.startswith((prefix + ".", prefix + "[")):  # already absolute
                return f
            return f"{prefix}{f}" if f.startswith("[") else f"{prefix}.{f}"
        return type(self)(*[(join(f), m) for f, m in self.problems])


class ConfigError(EncephagenError):
    """A study file (or a component's parameters) is invalid."""


class PluginError(EncephagenError):
    """A plugin is missing, duplicated or malformed."""


class DataError(EncephagenError):
    """A data file or matrix is unusable (NaN, negative, wrong shape, ...)."""
