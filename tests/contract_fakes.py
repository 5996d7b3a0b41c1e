"""Classes with the shape of a kind's contract, for registry tests (their methods are never called)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from encephagen.contract import REQUIRED, REQUIRED_ATTRIBUTES


def _method(name: str, args: tuple[str, ...]) -> Any:
    params = ", ".join(("self", *(f"{a}=None" if a == "generator" else a for a in args)))
    namespace: dict[str, Any] = {}
    exec(f"def {name}({params}):\n    raise AssertionError('a shape-only test component was called')\n", namespace)
    return namespace[name]


def shaped(kind: str, name: str, drop: str = "", **overrides: Any) -> type:
    """An attrs class named ``name`` with every method and attribute ``kind`` requires (but ``drop``)."""
    body: dict[str, Any] = {m: _method(m, a) for m, a in REQUIRED[kind].items() if m != drop}
    body.update({a: () if a == "invariants" else 1.0 for a in REQUIRED_ATTRIBUTES.get(kind, {}) if a != drop})
    body.update(overrides)
    cls = attrs.frozen(type(f"Shaped_{kind}", (), body))
    cls.name = name
    return cls


#: Toy plugin packages (real source files) the tests install into a ``site`` folder.
PACKAGES = Path(__file__).parent / "data" / "plugins"


def install(site: Path, source: Path, module: str, dist: str, version: str = "1.0", entry: str | None = None) -> None:
    """What ``pip install`` would leave in ``site`` (a folder for ``sys.path``): the package ``module``
    (a copy of, or link to, the folder ``source``) and a ``*.dist-info`` whose entry point loads it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / module).symlink_to(source.resolve(), target_is_directory=True)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[encephagen]\n{entry or module} = {module}\n")
    (info / "RECORD").write_text("")
