"""The plugin contract: checked at registration, broken plugins kept out with one line, third-party kinds usable.

Each mistake a plugin author makes gets one line naming the distribution, the
class or hook, and the fix; the rest of the registry keeps working.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from contract_fakes import PACKAGES, install, shaped
from encephagen import hookimpl
from encephagen.errors import PluginError
from encephagen.plugins import DISABLE_AUTOLOAD_ENV, DISABLE_ENV, build_registry

# -- each mistake, in one process ------------------------------------------------------------


def _plugin(hook: str, fn: Any, marked: bool = True) -> Any:
    class Plugin:
        __name__ = "the_plugin"

    setattr(Plugin, hook, hookimpl(fn) if marked else fn)
    return Plugin()


def _broken(plugin: Any) -> list[str]:
    reg = build_registry(extra=[(plugin, "their-dist", "0.3")])
    assert reg.names("null_model"), "the built-ins must still be registered"
    lines = [b.line() for b in reg.broken if b.distribution == "their-dist"]
    assert all(line.startswith("their-dist 0.3: ") for line in lines)
    return lines


MISTAKES: dict[str, tuple[Any, str]] = {
    "hook-takes-an-argument": (
        _plugin("encephagen_register_tasks", lambda self, registry: []),
        "encephagen_register_tasks takes (registry); registration hooks take no arguments"),
    "hook-returns-a-bare-class": (
        _plugin("encephagen_register_tasks", lambda self: shaped("task", "t")), "returned a class; return a list"),
    "hook-returns-None": (
        _plugin("encephagen_register_tasks", lambda self: None), "returned None; return a list"),
    "hook-raises": (
        _plugin("encephagen_register_tasks", lambda self: 1 / 0), "raised ZeroDivisionError"),
    "hook-without-hookimpl": (
        _plugin("encephagen_register_tasks", lambda self: [], marked=False), "has no @encephagen.hookimpl"),
    "hook-misspelled": (
        _plugin("encephagen_register_task", lambda self: []), "did you mean encephagen_register_tasks?"),
    "null-model-without-randomize": (
        _plugin("encephagen_register_null_models", lambda self: [shaped("null_model", "n", drop="randomize")]),
        "has no method randomize(); a null model defines `def randomize(self, connectome, rng)`"),
    "source-without-load": (
        _plugin("encephagen_register_connectomes", lambda self: [shaped("connectome", "c", drop="load")]),
        "has no method load()"),
    "task-without-required-groups": (
        _plugin("encephagen_register_tasks", lambda self: [shaped("task", "t", drop="required_groups")]),
        "has no method required_groups()"),
    "task-without-run": (
        _plugin("encephagen_register_tasks", lambda self: [shaped("task", "t", drop="run")]),
        "has no method run(); a task defines `def run(self, brain, context)`"),
    "rule-without-bind": (
        _plugin("encephagen_register_learning_rules", lambda self: [shaped("learning_rule", "r", drop="bind")]),
        "has no method bind()"),
    "rule-bind-without-generator": (
        _plugin("encephagen_register_learning_rules",
                lambda self: [shaped("learning_rule", "r", bind=lambda self, network: None)]),
        "bind() takes (network), but it is called as `def bind(self, network, generator)` (generator may default to None)"),
    "task-run-too-many-arguments": (
        _plugin("encephagen_register_tasks", lambda self: [shaped("task", "t", run=lambda self, brain, ctx, extra: {})]),
        "run() takes (brain, ctx, extra)"),
    "executor-map-wrong": (
        _plugin("encephagen_register_executors", lambda self: [shaped("executor", "e", map=lambda self, fn: iter(()))]),
        "map() takes (fn)"),
    "unknown-invariant": (
        _plugin("encephagen_register_null_models", lambda self: [shaped("null_model", "n", invariants=("n_edge",))]),
        "declares unknown invariants ['n_edge']"),
    "invariants-a-string": (
        _plugin("encephagen_register_null_models", lambda self: [shaped("null_model", "n", invariants="n_edges")]),
        "make it a tuple of names"),
    "neuron-without-constants": (
        _plugin("encephagen_register_neuron_models", lambda self: [shaped("neuron_model", "m", drop="v_thr")]),
        "has no `v_thr`: the threshold above rest (mV)"),
    "not-an-attrs-class": (
        _plugin("encephagen_register_tasks", lambda self: [type("Plain", (), {"name": "p"})]), "is not an attrs class"),
    "no-name": (
        _plugin("encephagen_register_tasks", lambda self: [attrs.frozen(type("Nameless", (), {}))]), "has no class variable `name`"),
    "unknown-default-role": (
        _plugin("encephagen_register_executors", lambda self: [shaped("executor", "e", default="fast")]),
        "`default = 'fast'` is not a role of its kind ('in-process', 'parallel')"),
    "name-taken": (
        _plugin("encephagen_register_null_models", lambda self: [shaped("null_model", "erdos_renyi")]),
        "null model 'erdos_renyi' is already registered by encephagen"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_each_mistake_is_one_line_naming_the_package_and_the_fix(case: str) -> None:
    plugin, needle = MISTAKES[case]
    lines = _broken(plugin)
    assert len(lines) == 1 and needle in lines[0], lines


def test_a_component_of_a_broken_package_is_an_error_that_names_the_package() -> None:
    reg = build_registry(extra=[(MISTAKES["task-without-run"][0], "their-dist", "0.3")])
    with pytest.raises(PluginError, match="unknown task 't'.*broken plugin packages that may provide it: their-dist"):
        reg.get("task", "t")


# -- installed packages, through the command line ---------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Three installed packages: a good one, one that raises on import, and the third-party task and neuron."""
    site = tmp_path / "site"
    install(site, PACKAGES / "mirror_nulls", "mirror_nulls", "good-nulls")
    install(site, PACKAGES / "broken_pkg", "broken_pkg", "broken-pkg")
    install(site, PACKAGES / "their_kinds", "their_kinds", "their-kinds")
    return site


def _cli(args: list[str], site: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, DISABLE_ENV)}
    e["PYTHONPATH"] = str(site) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "encephagen.cli", *args], capture_output=True, text=True, env=e, timeout=300)


STUDY = """
name: third-party
replicates: 1
connectome: {kind: synthetic, n_regions: 8}
brain: {neurons_per_region: 20, neuron: {kind: plain_if}}
conditions: [{name: connectome}, {name: mirrored, null_model: {kind: mirror}}]
protocol: [{kind: quiet_rate, steps: 300}]
"""


def test_a_broken_package_is_listed_and_left_out_while_the_others_run_a_study(site: Path, tmp_path: Path) -> None:
    listed = _cli(["plugins"], site)
    assert listed.returncode == 4 and "Traceback" not in listed.stderr, listed.stderr
    assert " mirror " in listed.stdout and " quiet_rate " in listed.stdout and " plain_if " in listed.stdout
    broken = [ln for ln in listed.stderr.splitlines() if "broken-pkg" in ln]
    assert len(broken) == 1 and "failed to import: RuntimeError: the package is broken on purpose" in broken[0]

    study = tmp_path / "study.yaml"
    study.write_text(STUDY)
    run = _cli(["run", str(study), "--out", str(tmp_path / "out"), "-q"], site)
    assert run.returncode == 0, run.stderr
    warnings = [ln for ln in run.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "broken-pkg" in warnings[0] and "Traceback" not in run.stderr
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    rates = [float(r.split(",")[-1]) for r in rows[1:] if ",rate_hz," in r]
    assert len(rates) == 2 and all(0 < r < 500 for r in rates), rows  # the third-party neuron fires, not saturated

    named = tmp_path / "named.yaml"
    named.write_text(STUDY.replace("kind: quiet_rate", "kind: from_the_broken_package"))
    refused = _cli(["validate", str(named)], site)
    assert refused.returncode == 2 and "broken plugin packages that may provide it: broken-pkg" in refused.stderr

    quiet = _cli(["plugins"], site, env={DISABLE_ENV: "broken-pkg"})
    assert quiet.returncode == 0 and "broken" not in quiet.stderr and " mirror " in quiet.stdout
    without = _cli(["plugins"], site, env={DISABLE_ENV: "Broken-Pkg, good-nulls"})
    assert without.returncode == 0 and " mirror " not in without.stdout and " quiet_rate " in without.stdout


def test_a_task_that_returns_one_number_works_for_one_brain_and_says_what_to_return_for_a_batch() -> None:
    from encephagen.contract import per_brain

    assert per_brain("t", {"m": 2.5}, 1) == [{"m": 2.5}]
    assert per_brain("t", {"m": [1.0, 2.0]}, 2) == [{"m": 1.0}, {"m": 2.0}]
    with pytest.raises(ValueError, match=r"task 't': metric 'm' has shape \(\); return one value per brain \(a sequence of 2"):
        per_brain("t", {"m": 2.5}, 2)
    with pytest.raises(ValueError, match="task 't' returned list, not a mapping"):
        per_brain("t", [1.0], 1)
    with pytest.raises(ValueError, match="not numbers"):
        per_brain("t", {"m": "high"}, 1)


def test_the_core_imports_no_built_in() -> None:
    """The contract lives in the core; the built-ins import it, never the other way round.

    Every import statement of every core module is read (the scaffold's templates are text
    that a generated package runs, not imports of the core).
    """
    import ast

    core = Path(__file__).parents[1] / "encephagen"
    offenders = []
    for p in core.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{p.relative_to(core)}: {n}" for n in names if n.split(".")[0] == "encephagen_builtins"]
    assert offenders == [], f"core modules that import the built-ins: {offenders}"
