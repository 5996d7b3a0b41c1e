"""The spine: plugin discovery, the registry, study files and the CLI's error contract."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from encephagen import hookimpl, hookspecs
from encephagen.cli import main
from encephagen.errors import PluginError
from encephagen.plugins import DISABLE_AUTOLOAD_ENV, HOOK_KINDS, build_registry, default_registry
from encephagen.registry import Entry, Registry

BAD = Path(__file__).parent / "data" / "bad_studies"


# -- a third-party distribution, installed for real on sys.path -----------------------

@pytest.fixture
def third_party(tmp_path: Path) -> Path:
    """The toy ``mirror-nulls`` package with a real ``*.dist-info`` in a folder for ``sys.path``."""
    from contract_fakes import PACKAGES, install

    site = tmp_path / "site"
    install(site, PACKAGES / "mirror_nulls", "mirror_nulls", "mirror-nulls", "1.2.3", entry="mirror")
    return site


def _cli(args: list[str], site: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop(DISABLE_AUTOLOAD_ENV, None)
    if site is not None:
        e["PYTHONPATH"] = str(site) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "encephagen.cli", *args], capture_output=True, text=True, env=e, timeout=120)


def test_third_party_distribution_is_discovered_listed_and_usable(third_party: Path, tmp_path: Path) -> None:
    listed = _cli(["plugins", "--kind", "null_model"], site=third_party)
    assert listed.returncode == 0, listed.stderr
    line = next(l for l in listed.stdout.splitlines() if " mirror " in f" {l} ")
    assert "mirror-nulls" in line and "1.2.3" in line and "Transposes" in line

    study = tmp_path / "s.yaml"
    study.write_text(
        textwrap.dedent(
            """
            name: third-party
            replicates: 1
            connectome: {kind: synthetic, n_regions: 8}
            conditions: [{name: connectome}, {name: mirrored, null_model: {kind: mirror}}]
            protocol: [{kind: warmup, steps: 10}]
            """
        )
    )
    ok = _cli(["validate", str(study)], site=third_party)
    assert ok.returncode == 0, ok.stderr

    hidden = _cli(["plugins", "--kind", "null_model"], site=third_party, env={DISABLE_AUTOLOAD_ENV: "1"})
    assert hidden.returncode == 0 and " mirror " not in hidden.stdout and "degree_preserving" in hidden.stdout
    refused = _cli(["validate", str(study)], site=third_party, env={DISABLE_AUTOLOAD_ENV: "1"})
    assert refused.returncode == 2 and "conditions[1].null_model.kind: unknown null model 'mirror'" in refused.stderr


# -- registry -------------------------------------------------------------------------


@attrs.frozen
class _NullA:
    name: ClassVar[str] = "same_name"
    invariants: ClassVar[tuple[str, ...]] = ()

    def randomize(self, connectome, rng):  # pragma: no cover - never called
        return connectome


@attrs.frozen
class _NullB(_NullA):
    """The same name as :class:`_NullA`, provided by another distribution."""


class _PluginA:
    __name__ = "plugin_a"

    @hookimpl
    def encephagen_register_null_models(self):
        return [_NullA]


class _PluginB:
    __name__ = "plugin_b"

    @hookimpl
    def encephagen_register_null_models(self):
        return [_NullB]


def test_duplicate_names_name_both_distributions() -> None:
    """The first (by plugin name) keeps the name; the second is kept out with a line naming both."""
    reg = build_registry(extra=[(_PluginA(), "dist-alpha", "1.0"), (_PluginB(), "dist-beta", "2.0")])
    assert reg.get("null_model", "same_name") is _NullA
    (broken,) = [b for b in reg.broken if b.distribution == "dist-beta"]
    msg = broken.line()
    assert "same_name" in msg and "dist-alpha 1.0" in msg and "dist-beta 2.0" in msg


def test_unknown_name_suggests_close_matches_and_lists_all() -> None:
    reg = default_registry()
    with pytest.raises(PluginError) as err:
        reg.get("null_model", "degre_preserving")
    msg = str(err.value)
    assert "did you mean 'degree_preserving'?" in msg and "erdos_renyi" in msg


def test_a_component_must_be_an_attrs_class_with_a_name() -> None:
    class NotAttrs:
        name = "x"

    with pytest.raises(PluginError, match="attrs class"):
        Registry([Entry("task", "x", NotAttrs, "d", "1")])
    with pytest.raises(PluginError, match="name"):
        Registry([Entry("null_model", "", _NullB, "d", "1")])


def test_a_misspelled_hook_fails_at_start_up() -> None:
    class Typo:
        __name__ = "typo"

        @hookimpl
        def encephagen_register_null_model(self):  # missing "s"
            return []

    (broken,) = build_registry(extra=[(Typo(), "typo-dist", "0.1")]).broken
    assert broken.distribution == "typo-dist"
    assert "not a hook of encephagen; did you mean encephagen_register_null_models?" in broken.reason


@pytest.mark.parametrize("hook", sorted(HOOK_KINDS))
def test_every_hook_registers_its_kind(hook: str) -> None:
    from contract_fakes import shaped

    kind = HOOK_KINDS[hook]
    cls = shaped(kind, f"probe_{kind}")

    class Plugin:
        __name__ = f"probe_{hook}"

    setattr(Plugin, hook, hookimpl(lambda self: [cls]))
    reg = build_registry(extra=[(Plugin(), "probe-dist", "9.9")])
    entry = reg.entry(kind, f"probe_{kind}")
    assert entry.cls is cls and entry.distribution == "probe-dist"


def test_every_hook_is_documented() -> None:
    docs = "\n".join(p.read_text() for p in (Path(__file__).parents[1] / "docs").glob("*.md"))
    hooks = [n for n in dir(hookspecs) if n.startswith("encephagen_")]
    assert set(hooks) == set(HOOK_KINDS), "HOOK_KINDS must list every hook spec"
    missing = [h for h in hooks if f"`{h}()" not in docs]
    assert not missing, f"hooks without a documentation section: {missing}"


def test_builtins_come_through_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    eps = [ep for ep in metadata.entry_points(group="encephagen") if ep.value == "encephagen_builtins"]
    assert eps, "the built-ins must be registered through the 'encephagen' entry-point group"
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")  # third-party packages may be installed beside them
    reg = build_registry()
    for kind in ("connectome", "null_model", "neuron_model", "learning_rule", "task"):
        assert reg.entries(kind), f"no built-in {kind}"
        assert all(e.distribution == "encephagen" for e in reg.entries(kind))


# -- study files ------------------------------------------------------------------------


def _expected(path: Path) -> str | None:
    first = path.read_text().splitlines()[:1]
    return first[0].split("expect:", 1)[1].strip() if first and "expect:" in first[0] else None


BAD_FILES = sorted(BAD.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_malformed_study_gives_one_clear_line_and_exit_2(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    assert code == 2, out
    assert "Traceback" not in out.err and out.err.startswith("error: ")
    expected = _expected(path)
    if expected is not None:
        assert expected in out.err, f"expected the message to name {expected!r}, got: {out.err}"
    else:  # the empty file
        assert "empty" in out.err


def test_a_directory_instead_of_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_console_script_prints_no_traceback() -> None:
    res = _cli(["validate", str(BAD / "01_unknown_null_model.yaml")])
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: conditions[1].null_model.kind: unknown null model 'degre_preserving'; did you mean 'degree_preserving'? "
        "(available: " + ", ".join(default_registry().names("null_model")) + ")"
    ]


def test_version_and_help() -> None:
    from encephagen import __version__

    assert __version__ in _cli(["--version"]).stdout
    for cmd in (["run"], ["validate"], ["plugins"], ["report"], ["connectome", "show"], ["connectome", "export"]):
        res = _cli([*cmd, "--help"])
        assert res.returncode == 0 and "usage:" in res.stdout


def test_seeds_derive_from_study_condition_and_replicate() -> None:
    from encephagen.study import replicate_seed

    seeds = {replicate_seed(2026, c, r) for c in ("connectome", "random") for r in range(10)}
    assert len(seeds) == 20
    assert replicate_seed(2026, "random", 3) == replicate_seed(2026, "random", 3)
    assert replicate_seed(2027, "random", 3) != replicate_seed(2026, "random", 3)
    assert all(0 <= s < 2**63 for s in seeds)


def test_null_model_that_drops_positions_is_refused(tmp_path: Path) -> None:
    from encephagen.config import parse_study
    from encephagen.errors import ConfigError
    from encephagen.study import plan_for

    @attrs.frozen
    class Lossy:
        name: ClassVar[str] = "lossy"
        invariants: ClassVar[tuple[str, ...]] = ("n_regions",)

        def randomize(self, connectome, rng):
            return attrs.evolve(connectome, positions=None, tract_lengths=None)

    class Plugin:
        __name__ = "lossy"

        @hookimpl
        def encephagen_register_null_models(self):
            return [Lossy]

    reg = build_registry(extra=[(Plugin(), "lossy-dist", "1")])
    study = parse_study(
        {
            "name": "x",
            "connectome": {"kind": "synthetic"},
            "conditions": [{"name": "a"}, {"name": "b", "null_model": {"kind": "lossy"}}],
            "protocol": [{"kind": "warmup", "steps": 5}],
        },
        reg,
    )
    with pytest.raises(ConfigError, match=r"conditions\[1\]\.null_model.*positions, tract_lengths"):
        plan_for(study)
