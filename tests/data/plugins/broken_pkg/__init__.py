"""A plugin package that raises on import."""

raise RuntimeError("the package is broken on purpose")
