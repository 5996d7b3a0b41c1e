"""Factorial studies: overrides, cells and seeds, growing a study, statistics across cells, the CLI.

Most tests use the fake replicate function of ``runner_fakes`` (metrics from
the seed), so they check the design and the runner, not a simulation; one
runs a real 2 x 2 x 2 study of tiny brains through the command line.
"""

from __future__ import annotations

import csv
import itertools
import math
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pytest
import runner_fakes as rf
from scipy import stats as sps

from encephagen.cli import main
from encephagen.config import apply_sets, load_yaml, parse_study
from encephagen.errors import ConfigError
from encephagen.runner import run_study
from encephagen.study import replicate_seed

GOLDEN = Path(__file__).parent / "data" / "golden"

FACTORIAL = """\
name: fact
seed: 7
replicates: {replicates}
connectome: {{kind: synthetic, n_regions: 8}}
conditions:
  - {{name: connectome}}
  - {{name: rewired, null_model: {{kind: degree_preserving}}}}
factors:
  rule:
    a: {{}}
    b: {{protocol: {{warmup: {{steps: 20}}}}}}
  coupling:
{coupling}
protocol: [{{kind: warmup, steps: 10}}]
"""
LOW_HIGH = "    low: {brain: {coupling: 0.1}}\n    high: {brain: {coupling: 0.3}}"


@pytest.fixture(scope="module")
def registry():
    return rf.make_registry()


def _parse(text: str, registry):
    return parse_study(load_yaml(textwrap.dedent(text)), registry)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _calls(log: Path) -> list[tuple[str, int]]:
    return [(c, int(i)) for c, i in (ln.split() for ln in log.read_text().splitlines())] if log.exists() else []


# -- studies without factors are what they were --------------------------------------------


@pytest.mark.parametrize("name", ["s7", "s11", "three"])
def test_a_study_without_factors_gives_the_files_it_gave_before_factors_existed(name: str, registry, tmp_path: Path) -> None:
    """results.csv and summary.csv byte-identical to those the runner wrote before cells (stored in tests/data/golden)."""
    out = run_study(GOLDEN / name / "study.yaml", tmp_path / "out", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    for f in ("results.csv", "summary.csv"):
        assert (out / f).read_text() == (GOLDEN / name / f).read_text(), f
    assert not (out / "interactions.csv").exists()
    assert (out / "omnibus.csv").exists() == (name == "three")


# -- overrides and cells -----------------------------------------------------------------------


def test_conditions_and_levels_override_any_section_merged_into_the_defaults(registry) -> None:
    study = _parse(
        """
        name: s
        connectome: {kind: synthetic, n_regions: 8}
        brain: {neurons_per_region: 12, coupling: 0.15, delays: {velocity: 3.0}}
        learning_rule: {kind: eprop, lr: 0.2, w_min: -200, w_max: 200}
        conditions:
          - {name: connectome}
          - {name: hebb, learning_rule: {kind: hebbian}}
          - {name: none, learning_rule: null, brain: {delays: null}}
          - {name: slow, learning_rule: {lr: 0.01}}
        factors:
          size:
            small: {}
            big: {brain: {neurons_per_region: 20}, protocol: {conditioning: {trials: 4}}}
        protocol:
          - {kind: warmup, steps: 10}
          - {kind: conditioning, trials: 2, test_every: 1}
        """,
        registry,
    )
    cells = {c.key: c.study for c in study.cells}
    assert list(cells) == [
        f"{c}/size={s}" for c, s in itertools.product(["connectome", "hebb", "none", "slow"], ["small", "big"])
    ]
    ref = cells["connectome/size=small"]
    assert ref.learning_rule.lr == 0.2 and ref.brain.microcircuit.neurons_per_region == 12 and ref.brain.delays is not None
    hebb = cells["hebb/size=small"].learning_rule
    assert hebb.name == "hebbian" and not hasattr(hebb, "lr")  # another kind replaces the whole component
    assert cells["none/size=big"].learning_rule is None and cells["none/size=big"].brain.delays is None
    slow = cells["slow/size=big"]
    assert slow.learning_rule.lr == 0.01 and slow.learning_rule.w_max == 200  # same kind: parameters merge
    assert slow.brain.microcircuit.neurons_per_region == 20 and slow.brain.microcircuit.coupling == 0.15
    assert [t.trials for t in slow.protocol if t.name == "conditioning"] == [4]
    assert [t.trials for t in ref.protocol if t.name == "conditioning"] == [2]
    changes = dict(next(c for c in study.cells if c.key == "slow/size=big").changes)
    assert changes == {"brain.neurons_per_region": "20", "learning_rule.lr": "0.01", "protocol[1].trials": "4"}


@pytest.mark.parametrize(
    ("fragment", "line"),
    [
        ("conditions:\n  - {name: a}\n  - {name: b, learning_rule: {lr: -1}}\n",
         "conditions[1].learning_rule.lr: "),
        ("conditions:\n  - {name: a}\nfactors:\n  c:\n    high: {brain: {coupling: -0.3}}\n",
         "factors.c.high.brain.coupling: "),
        ("conditions:\n  - {name: a}\nfactors:\n  c:\n    high: {brian: {coupling: 0.3}}\n",
         "factors.c.high: unknown key 'brian'; did you mean 'brain'?"),
        ("conditions:\n  - {name: a}\n  - {name: b, protocol: {condition: {trials: 3}}}\n",
         "conditions[1].protocol.condition: no task labelled 'condition' in the protocol (labels: warmup, conditioning)"),
        ("conditions:\n  - {name: a}\n  - {name: b, learning_rule: {kind: hebian}}\n",
         "conditions[1].learning_rule.kind: unknown learning rule 'hebian'; did you mean 'hebbian'?"),
        ("conditions:\n  - {name: a}\nfactors:\n  replicate:\n    x: {}\n",
         "factors.replicate: a factor may not be called 'replicate'"),
        ("conditions:\n  - {name: a}\nfactors:\n  c: {}\n",
         "factors.c: needs at least one level"),
        ("conditions:\n  - {name: a}\n  - {name: b, protocol: []}\n",
         "conditions[1].protocol: needs at least one task"),
    ],
    ids=["condition-param", "level-param", "level-typo", "task-label", "rule-kind", "reserved", "no-levels", "empty-protocol"],
)
def test_a_bad_override_is_one_line_at_its_place_in_the_file(fragment: str, line: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nconnectome: {kind: synthetic, n_regions: 8}\nlearning_rule: {kind: eprop}\n"
        "protocol:\n  - {kind: warmup, steps: 10}\n  - {kind: conditioning, trials: 2, test_every: 1}\n" + fragment
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and line in lines[0], lines


def test_seeds_depend_on_names_only(registry) -> None:
    two = _parse(FACTORIAL.format(replicates=2, coupling=LOW_HIGH), registry)
    three = _parse(FACTORIAL.format(replicates=2, coupling=LOW_HIGH + "\n    mid: {brain: {coupling: 0.2}}"), registry)
    reordered = _parse(
        FACTORIAL.format(replicates=2, coupling=LOW_HIGH).replace("  rule:\n    a: {}\n    b: {protocol: {warmup: {steps: 20}}}\n", "")
        .replace("protocol: [", "  rule:\n    a: {}\n    b: {protocol: {warmup: {steps: 20}}}\nprotocol: ["),
        registry,
    )  # factor 'rule' now written after 'coupling'
    from encephagen.study import replicates_of

    seeds = {(r.cell, r.index): r.seed for r in replicates_of(two)}
    assert len(set(seeds.values())) == len(seeds) == 16
    grown = {(r.cell, r.index): r.seed for r in replicates_of(three)}
    assert all(grown[k] == v for k, v in seeds.items()) and len(grown) == 24
    assert {(r.cell, r.index): r.seed for r in replicates_of(reordered)} == seeds
    assert {c.fingerprint for c in two.cells} <= {c.fingerprint for c in three.cells}
    plain = _parse(rf.STUDY.format(seed=7, replicates=2), registry)
    assert [r.seed for r in replicates_of(plain)] == [replicate_seed(7, c, i) for c in ("connectome", "rewired") for i in range(2)]


def test_set_overrides_any_key_and_refuses_a_malformed_one(registry) -> None:
    doc = load_yaml(FACTORIAL.format(replicates=2, coupling=LOW_HIGH))
    study = parse_study(apply_sets(doc, ["replicates=3", "factors.coupling.high.brain.coupling=0.5", "conditions[1].null_model.kind=erdos_renyi"]), registry)
    assert study.replicates == 3 and study.conditions[1].null_model.name == "erdos_renyi"
    assert next(c for c in study.cells if c.key == "connectome/coupling=high/rule=a").study.brain.microcircuit.coupling == 0.5
    assert load_yaml(FACTORIAL.format(replicates=2, coupling=LOW_HIGH)) == doc  # the document itself is untouched
    for bad, msg in [("replicates", "expected key.path=value"), ("conditions[9].name=x", r"index \[9\] is out of range"), ("name.x=1", "not a mapping")]:
        with pytest.raises(ConfigError, match=msg):
            apply_sets(doc, [bad])


# -- growing a study ------------------------------------------------------------------------------


def test_adding_a_replicate_then_a_level_runs_only_the_new_brains(registry, tmp_path: Path) -> None:
    path, out, log = tmp_path / "s.yaml", tmp_path / "out", tmp_path / "calls.txt"
    path.write_text(FACTORIAL.format(replicates=2, coupling=LOW_HIGH))
    run_study(path, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    first = (out / "results.csv").read_text().splitlines()
    assert len(_calls(log)) == 16 and first[0] == "condition,rule,coupling,replicate,seed,task,metric,value"

    path.write_text(FACTORIAL.format(replicates=3, coupling=LOW_HIGH))
    log.unlink()
    run_study(path, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert sorted(i for _, i in _calls(log)) == [2] * 8  # one more brain per cell, nothing else
    second = (out / "results.csv").read_text().splitlines()
    assert set(first) <= set(second) and len(second) == 1 + 24 * 2

    path.write_text(FACTORIAL.format(replicates=3, coupling=LOW_HIGH + "\n    mid: {brain: {coupling: 0.2}}"))
    log.unlink()
    run_study(path, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert len(_calls(log)) == 2 * 2 * 3  # the new level's cells: 2 conditions x 2 rules x 3 replicates
    third = (out / "results.csv").read_text().splitlines()
    assert set(second) <= set(third) and len(third) == 1 + 36 * 2
    assert {r["coupling"] for r in _rows(out / "results.csv")} == {"low", "high", "mid"}
    # Every row of a finished study equals a fresh run of the grown study.
    fresh = run_study(path, tmp_path / "fresh", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert (fresh / "results.csv").read_text() == (out / "results.csv").read_text()
    assert (fresh / "summary.csv").read_text() == (out / "summary.csv").read_text()

    path.write_text(FACTORIAL.format(replicates=3, coupling=LOW_HIGH.replace("0.3", "0.35") + "\n    mid: {brain: {coupling: 0.2}}"))
    with pytest.raises(ConfigError) as err:
        run_study(path, out, registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert "cell(s) connectome/coupling=high/rule=a" in err.value.lines()[0]
    assert err.value.lines()[1:] == ["factors.coupling.high.brain.coupling: was 0.3, now 0.35"]
    path.write_text(FACTORIAL.format(replicates=3, coupling="    low: {brain: {coupling: 0.1}}"))
    with pytest.raises(ConfigError, match="would be dropped"):
        run_study(path, out, registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)


# -- statistics across cells ------------------------------------------------------------------


def test_summary_has_a_row_per_cell_and_comparison_and_the_interactions_a_row_per_factor(registry, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FACTORIAL.format(replicates=4, coupling=LOW_HIGH))
    out = run_study(path, tmp_path / "out", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    rows = _rows(out / "results.csv")
    summary = _rows(out / "summary.csv")
    assert [(s["metric"], s["rule"], s["coupling"]) for s in summary] == [
        (m, r, c) for m in ("rate", "score") for r in ("a", "b") for c in ("low", "high")
    ]
    for s in summary:  # each row is the comparison within its cell
        ref = [float(r["value"]) for r in rows if (r["condition"], r["rule"], r["coupling"], r["metric"]) == ("connectome", s["rule"], s["coupling"], s["metric"])]
        oth = [float(r["value"]) for r in rows if (r["condition"], r["rule"], r["coupling"], r["metric"]) == ("rewired", s["rule"], s["coupling"], s["metric"])]
        assert len(ref) == len(oth) == 4
        assert float(s["p"]) == pytest.approx(sps.mannwhitneyu(oth, ref, alternative="two-sided").pvalue, rel=1e-12)
    inter = _rows(out / "interactions.csv")
    assert [(i["metric"], i["factor"]) for i in inter] == [("rate", "rule"), ("rate", "coupling"), ("score", "rule"), ("score", "coupling")]
    # One family: 8 comparisons and 4 interactions share one Benjamini-Hochberg correction.
    from encephagen.stats import benjamini_hochberg

    ps = [float(s["p"]) for s in summary] + [float(i["p"]) for i in inter]
    q = benjamini_hochberg(ps)
    assert [float(s["q"]) for s in summary] + [float(i["q"]) for i in inter] == pytest.approx(list(q), rel=1e-12)
    # The fake shifts every non-reference metric by a constant: no interaction, effects equal across levels in expectation.
    assert all(0.0 < float(i["p"]) <= 1.0 and int(i["n"]) == 32 for i in inter)
    report = (out / "report.md").read_text()
    assert "### Interactions" in report and "Freedman-Lane" in report and "forest_00_warmup_rate.png" in report


def test_omnibus_all_pairs_and_the_declared_family(registry, tmp_path: Path) -> None:
    text = (GOLDEN / "three" / "study.yaml").read_text() + "statistics: {comparisons: all_pairs, fdr_family: [omnibus]}\n"
    (tmp_path / "s.yaml").write_text(text)
    out = run_study(tmp_path / "s.yaml", tmp_path / "out", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    summary = _rows(out / "summary.csv")
    assert [(s["reference"], s["condition"]) for s in summary[:3]] == [("connectome", "rewired"), ("connectome", "er"), ("rewired", "er")]
    assert all(s["q"] == "nan" and s["winner"] == "" for s in summary)  # comparisons are outside the family
    rows = _rows(out / "results.csv")
    omni = _rows(out / "omnibus.csv")
    for o in omni:
        groups = [[float(r["value"]) for r in rows if r["condition"] == c and r["metric"] == o["metric"]] for c in ("connectome", "rewired", "er")]
        res = sps.kruskal(*groups)
        assert float(o["H"]) == pytest.approx(res.statistic, rel=1e-12) and float(o["p"]) == pytest.approx(res.pvalue, rel=1e-12)
        assert (o["n_connectome"], o["n_rewired"], o["n_er"]) == ("5", "5", "5")
    from encephagen.stats import benjamini_hochberg

    assert [float(o["q"]) for o in omni] == pytest.approx(list(benjamini_hochberg([float(o["p"]) for o in omni])), rel=1e-12)


def test_the_report_states_the_smallest_reachable_p_and_warns_when_nothing_can_reach_q(registry, tmp_path: Path) -> None:
    out = run_study(rf.write_study(tmp_path / "s.yaml", replicates=3), tmp_path / "out", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    report = (out / "report.md").read_text()
    assert f"at 3 vs 3 brains is {2 / math.comb(6, 3):.3g}" in report and "WARNING: no comparison of this design can reach p < 0.05" in report
    out = run_study(rf.write_study(tmp_path / "t.yaml", replicates=4), tmp_path / "out4", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    report = (out / "report.md").read_text()  # 4 vs 4: p >= 0.029, and 2 metrics make q >= 0.057
    assert f"{2 / math.comb(8, 4):.3g}" in report and "WARNING: no single comparison can reach q < 0.05" in report
    out = run_study(rf.write_study(tmp_path / "u.yaml", replicates=5), tmp_path / "out5", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert "WARNING" not in (out / "report.md").read_text()


# -- the command line ------------------------------------------------------------------------------


TINY = (
    "name: tiny-factorial\n"
    + rf.TINY_REAL
    + "factors:\n"
    "  rule:\n"
    "    eprop: {}\n"
    "    hebbian: {learning_rule: {kind: hebbian, w_min: -200, w_max: 200}}\n"
    "  coupling:\n"
    "    low: {brain: {coupling: 0.1}}\n"
    "    high: {brain: {coupling: 0.3}}\n"
    "protocol:\n" + rf.TINY_CONDITIONING
)


def test_a_real_factorial_study_runs_from_the_command_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(TINY)
    assert main(["validate", str(path), str(GOLDEN / "s7" / "study.yaml")]) == 0
    printed = capsys.readouterr().out
    assert "2 condition(s) x 2 rule level(s) x 2 coupling level(s) = 8 cell(s) x 2 replicate(s) = 16 brains" in printed
    assert "rewired, rule=hebbian, coupling=high: 120 neurons" in printed and "estimate: ~" in printed
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "-q", "--set", "replicates=3"]) == 0
    rows = _rows(out / "results.csv")
    assert {(r["condition"], r["rule"], r["coupling"]) for r in rows} == set(itertools.product(["connectome", "rewired"], ["eprop", "hebbian"], ["low", "high"]))
    assert {r["replicate"] for r in rows} == {"0", "1", "2"}  # --set replicates=3
    assert len(_rows(out / "interactions.csv")) == 2 * 3  # 2 factors x 3 metrics (cond_final, cond_slope, rate_hz)
    report = (out / "report.md").read_text()
    assert "### Interactions" in report and "## Effects (forest plots)" in report and "--set replicates=3" in report
    assert sorted(p.name for p in (out / "figures").glob("forest_*.png")) == [
        "forest_00_conditioning_cond_final.png", "forest_01_conditioning_cond_slope.png", "forest_02_warmup_rate_hz.png",
    ]
    con = sqlite3.connect(out / "study.sqlite")
    assert con.execute("SELECT value FROM provenance WHERE key = 'command_line_set'").fetchone() == ('["replicates=3"]',)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert main(["validate", str(bad), str(path)]) == 2
    captured = capsys.readouterr()
    assert f"error: {bad}: connectome: is required but missing" in captured.err and f"{path}: valid." in captured.out


def test_the_interaction_statistic_sees_a_planted_interaction_through_the_whole_runner(registry, tmp_path: Path) -> None:
    """A fake whose condition effect exists only at one coupling level: the coupling interaction is found, the rule one not."""
    path = tmp_path / "s.yaml"
    path.write_text(FACTORIAL.format(replicates=6, coupling=LOW_HIGH))
    out = run_study(path, tmp_path / "out", registry, replicate_fn=rf.PlantedInteraction(), verbosity=-1)
    inter = {(i["metric"], i["factor"]): i for i in _rows(out / "interactions.csv")}
    assert float(inter[("rate", "coupling")]["p"]) < 0.001 and float(inter[("rate", "coupling")]["q"]) < 0.05
    assert float(inter[("rate", "rule")]["p"]) > 0.05
    effects = [float(x) for x in inter[("rate", "coupling")]["effects"].split(";")]
    assert effects[0] == pytest.approx(0.0, abs=1.0) and effects[1] > 3.0
    assert np.isfinite([float(i["F"]) for i in inter.values()]).all()


# -- merging, as a property ----------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_KEYS = st.sampled_from(["a", "b", "c", "kind"])
_LEAF = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["x", "y"]))
_DOC = st.recursive(_LEAF, lambda inner: st.dictionaries(_KEYS, inner, max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(base=st.dictionaries(_KEYS, _DOC, max_size=3), override=st.dictionaries(_KEYS, _DOC, max_size=3))
def test_merge_keeps_what_the_override_does_not_set_and_sets_what_it_does(base, override) -> None:
    from encephagen.config import UNSET
    from encephagen.design import merge

    origins: dict[str, str] = {}
    merged = merge(base, override, "over", "doc", origins)
    assert merge(base, UNSET, "over", "doc", {}) == base and merge(base, {}, "over", "doc", {}) == base
    assert merge(merged, override, "over", "doc", {}) == merged  # applying an override twice changes nothing more
    replaced = "kind" in override and override["kind"] != base.get("kind")
    for k, v in override.items():
        if not isinstance(v, dict) or replaced:
            assert merged[k] == v  # a leaf, a list or a replaced component is set as written
    if not replaced:
        assert all(merged[k] == v for k, v in base.items() if k not in override)  # untouched keys stay
    for path, where in origins.items():  # every origin names the override's own place for that value
        assert where == "over" + path[len("doc"):]


def test_the_estimate_is_the_documented_closed_form(registry) -> None:
    from encephagen.estimate import OVERHEAD_S, T_LEARN, T_PLAIN, estimate
    from encephagen.study import plan_for

    study = parse_study(load_yaml(TINY), registry)
    plan = plan_for(study)
    estimates = {e.key: e for e in estimate(plan)}
    for cell in plan.cells:
        e = estimates[cell.key]
        micro = cell.study.brain.microcircuit
        internal, between = micro.expected_synapses(plan.connectomes[cell.key])
        assert e.neurons == 10 * 12 and e.synapses == round(internal + between)
        plain = 200 + 2 * (100 + 100)  # warmup + conditioning's two tests
        learning = 2 * (100 + 100 + 50)  # two pairings
        assert e.steps == (plain, learning)
        t_plain = T_PLAIN[0] + T_PLAIN[1] * e.synapses
        assert e.seconds == pytest.approx(OVERHEAD_S + plain * t_plain + learning * (t_plain + T_LEARN[0] + T_LEARN[1] * e.synapses))
    high, low = estimates["connectome/coupling=high/rule=eprop"], estimates["connectome/coupling=low/rule=eprop"]
    assert high.synapses > low.synapses and high.bytes > low.bytes


def test_the_wiring_can_be_a_factor_and_the_rule_the_conditions(registry, tmp_path: Path) -> None:
    """A level's null model replaces the condition's: 'did learning help?' within each wiring."""
    text = textwrap.dedent(
        """
        name: rules-by-wiring
        seed: 3
        replicates: 3
        connectome: {kind: synthetic, n_regions: 8}
        learning_rule: {kind: eprop}
        conditions:
          - {name: none, learning_rule: null}
          - {name: eprop}
        factors:
          wiring:
            connectome: {}
            rewired: {null_model: {kind: degree_preserving}}
        protocol: [{kind: warmup, steps: 10}]
        """
    )
    study = _parse(text, registry)
    models = {c.key: c.study.conditions[0].null_model for c in study.cells}
    assert models["none/wiring=connectome"] is None and models["eprop/wiring=rewired"].name == "degree_preserving"
    assert study.cells[0].fingerprint != study.cells[1].fingerprint
    path = tmp_path / "s.yaml"
    path.write_text(text)
    out = run_study(path, tmp_path / "out", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert [(s["wiring"], s["reference"], s["condition"]) for s in _rows(out / "summary.csv")][:2] == [
        ("connectome", "none", "eprop"), ("rewired", "none", "eprop"),
    ]
    report = (out / "report.md").read_text()
    assert "| eprop | rewired | degree_preserving |" in report
    with pytest.raises(ConfigError, match=r"factors\.wiring\.rewired\.null_model\.kind: unknown null model 'degre_preserving'"):
        _parse(text.replace("kind: degree_preserving", "kind: degre_preserving"), registry)


def test_a_notebook_runs_a_study_from_a_dict_and_reads_its_tables(registry, tmp_path: Path) -> None:
    import encephagen

    study = {
        "name": "notebook",
        "seed": 5,
        "replicates": 3,
        "connectome": {"kind": "synthetic", "n_regions": 8},
        "conditions": [{"name": "connectome"}, {"name": "rewired", "null_model": {"kind": "degree_preserving"}}],
        "factors": {"size": {"small": {}, "big": {"brain": {"neurons_per_region": 20}}}},
        "protocol": [{"kind": "warmup", "steps": 10}],
    }
    res = encephagen.run(study, tmp_path / "out", registry=registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert res.counts == {"done": 12, "failed": 0, "pending": 0, "running": 0} and res.report.is_file()
    assert [(s.metric, dict(s.levels)["size"]) for s in res.summary] == [("rate", "small"), ("rate", "big"), ("score", "small"), ("score", "big")]
    assert res.table("summary") == _rows(tmp_path / "out" / "summary.csv")  # the same rows as the file
    assert res.table("results") == _rows(tmp_path / "out" / "results.csv")
    assert len(res.interactions) == 2 and all(i.factor == "size" for i in res.interactions)
    again = encephagen.run(study, tmp_path / "out", registry=registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert again.table("results") == res.table("results")  # a rerun resumes: nothing new
