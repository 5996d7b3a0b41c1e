"""The conformance kit as a pytest plugin: fixtures for a plugin's own test suite.

Installed with encephagen (entry point ``pytest11``), so a plugin's tests can
ask for them by name without importing anything:

- ``encephagen_tiny_connectome``: :func:`encephagen.testing.tiny_connectome`
  (12 regions, every reference region group);
- ``encephagen_tiny_network``: :func:`encephagen.testing.small_network`, a
  small network for learning-rule checks;
- ``encephagen_tiny_brain``: :func:`encephagen.testing.tiny_brain`, two
  brains of 120 neurons with the default neuron model, for task checks;
- ``encephagen_run_tiny_study``: ``run(study, components=())`` runs a study
  (a mapping, as a study file would hold it) in a temporary directory with
  the installed plugins plus ``components`` (classes, any kind), serially,
  and returns its :class:`~encephagen.exports.StudyResults`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def encephagen_tiny_connectome() -> Any:
    from encephagen.testing import tiny_connectome

    return tiny_connectome()


@pytest.fixture
def encephagen_tiny_network() -> Any:
    from encephagen.testing import small_network

    return small_network(0, n_brains=2)


@pytest.fixture
def encephagen_tiny_brain() -> Any:
    from encephagen.testing import tiny_brain

    return tiny_brain()


@pytest.fixture
def encephagen_run_tiny_study(tmp_path: Path) -> Callable[..., Any]:
    def run(study: Mapping[str, Any], components: Sequence[type] = ()) -> Any:
        import encephagen
        from encephagen.contract import component_problem
        from encephagen.interfaces import KINDS
        from encephagen.plugins import HOOK_KINDS, build_registry

        by_kind: dict[str, list[type]] = {k: [] for k in KINDS}
        for cls in components:
            kind = next((k for k in KINDS if not component_problem(k, cls)), None)
            if kind is None:
                raise AssertionError(f"{cls.__qualname__} fits no component kind: {component_problem('task', cls)}")
            by_kind[kind].append(cls)

        class _TestComponents:
            __name__ = "test_components"

        def hook_for(kind: str) -> Callable[[Any], list[type]]:
            def hook(self: Any) -> list[type]:
                return list(by_kind[kind])

            return hook

        for hook_name, kind in HOOK_KINDS.items():
            if by_kind[kind]:
                setattr(_TestComponents, hook_name, encephagen.hookimpl(hook_for(kind)))
        registry = build_registry(extra=[(_TestComponents(), "tests", "0")])
        mine = [b.line() for b in registry.broken if b.distribution == "tests"]
        assert not mine, "; ".join(mine)
        return encephagen.run(dict(study), tmp_path / "study", registry=registry, executor="serial", verbosity=-1)

    return run
