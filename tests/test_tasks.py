"""Tasks: stimulus construction, validation of region groups, and learning that shows."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from encephagen.cli import main
from encephagen.config import parse_study
from encephagen.errors import ConfigError
from encephagen.plugins import default_registry
from encephagen.replicate import task_labels
from encephagen.study import plan_for
from encephagen_builtins.tasks import (
    Conditioning,
    Differentiation,
    TaskContext,
    Warmup,
    draw_patterns,
    pattern_mask,
    pattern_masks,
    regions_of,
)


class _FakeNet:
    def __init__(self, n_brains: int = 2, regions: int = 4, npr: int = 5) -> None:
        self.n_brains, self.regions_per_brain, self.neurons_per_region = n_brains, regions, npr
        self.groups = {"visual": (2, 0, 3), "amygdala": (1,)}
        self.device = torch.device("cpu")

    @property
    def n_neurons(self) -> int:
        return self.n_brains * self.regions_per_brain * self.neurons_per_region

    def region_of(self) -> torch.Tensor:
        k = torch.arange(self.n_neurons) % (self.regions_per_brain * self.neurons_per_region)
        return k // self.neurons_per_region


class _FakeBrain:
    def __init__(self) -> None:
        self.network = _FakeNet()


def test_published_patterns_with_seed_42() -> None:
    pats = draw_patterns([np.random.default_rng(0)], 5, 200, 0.3, seed=42)
    rng = np.random.default_rng(42)
    for p in range(5):  # drawn in turn from one default_rng(42)
        expected = np.zeros(200, bool)
        expected[rng.choice(200, 60, replace=False)] = True
        assert np.array_equal(pats[p, 0], expected)


def test_patterns_differ_between_replicates_unless_fixed() -> None:
    a = draw_patterns([np.random.default_rng(1), np.random.default_rng(2)], 3, 50, 0.3, seed=None)
    assert not np.array_equal(a[:, 0], a[:, 1])
    assert (a.sum(-1) == 15).all()
    fixed = draw_patterns([np.random.default_rng(1), np.random.default_rng(2)], 3, 50, 0.3, seed=42)
    assert np.array_equal(fixed[:, 0], fixed[:, 1])


def test_pattern_mask_selects_positions_of_chosen_regions_in_each_brain() -> None:
    brain = _FakeBrain()
    positions = np.zeros((2, 5), bool)
    positions[0, [0, 3]] = True
    positions[1, [4]] = True
    regions = regions_of(brain, {"visual": 2})  # the first two visual regions: 2, 0
    assert regions == [2, 0]
    mask = pattern_mask(brain, regions, positions).reshape(2, 4, 5)
    assert mask[0].nonzero().tolist() == [[0, 0], [0, 3], [2, 0], [2, 3]]
    assert mask[1].nonzero().tolist() == [[0, 4], [2, 4]]


def _ctx(rngs: list[np.random.Generator]) -> TaskContext:
    return TaskContext(learning_rule=None, stimulus_rngs=rngs)


def test_pattern_masks_on_populations_are_the_published_positions() -> None:
    brain = _FakeBrain()
    regions = regions_of(brain, {"visual": 0})
    masks = pattern_masks(brain, _ctx([np.random.default_rng(1), np.random.default_rng(2)]), [regions] * 3, 0.4, None)
    pats = draw_patterns([np.random.default_rng(1), np.random.default_rng(2)], 3, 5, 0.4, None)
    for m, p in zip(masks, pats):
        assert torch.equal(m, pattern_mask(brain, regions, p))


def test_pattern_masks_on_a_cellular_brain_choose_among_the_groups_neurons() -> None:
    # One neuron per region: a pattern is a share of the stimulated neurons, not of positions inside one.
    brain = _FakeBrain()
    brain.network = _FakeNet(n_brains=2, regions=10, npr=1)
    brain.network.groups = {"chemosensory": (1, 2, 4, 5, 7, 8, 9), "dopaminergic": (0, 3)}
    chemo = regions_of(brain, {"chemosensory": 0})
    masks = pattern_masks(brain, _ctx([np.random.default_rng(3), np.random.default_rng(4)]), [chemo] * 4, 0.3, None)
    per_brain = [m.reshape(2, 10) for m in masks]
    for m in per_brain:
        assert (m.sum(1) == 2).all()  # round(0.3 * 7) neurons of the group in each brain
        assert set(m.nonzero()[:, 1].tolist()) <= set(chemo)
    assert len({tuple(m[0].nonzero().flatten().tolist()) for m in per_brain}) > 1  # the patterns differ
    fixed = pattern_masks(brain, _ctx([np.random.default_rng(3), np.random.default_rng(4)]), [chemo, [0, 3]], 0.3, 42)
    assert all(torch.equal(m.reshape(2, 10)[0], m.reshape(2, 10)[1]) for m in fixed)  # a pattern_seed: the same in every brain
    assert fixed[1].reshape(2, 10).sum(1).tolist() == [1, 1]  # at least one neuron, from its own set


def test_task_labels_number_repeated_tasks() -> None:
    assert task_labels([Warmup(), Conditioning(), Warmup()]) == ["warmup#1", "conditioning", "warmup#2"]


def test_task_params_are_validated() -> None:
    with pytest.raises(ValueError, match="trials"):
        Conditioning(trials=0)
    with pytest.raises(ValueError, match="cs_regions"):
        Conditioning(cs_regions={"visual": -1})


def _study(protocol: list[dict], connectome: dict | None = None) -> dict:
    return {
        "name": "t",
        "replicates": 1,
        "connectome": connectome or {"kind": "synthetic", "n_regions": 10},
        "conditions": [{"name": "c"}],
        "protocol": protocol,
    }


def test_a_missing_group_fails_at_validation_with_its_name() -> None:
    reg = default_registry()
    study = parse_study(_study([{"kind": "conditioning", "cs_regions": {"cortex_x": 0}}]), reg)
    with pytest.raises(ConfigError) as err:
        plan_for(study)
    assert "protocol[0]" in str(err.value) and "'cortex_x'" in str(err.value)


def test_a_connectome_without_thalamus_cannot_run_differentiation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nreplicates: 1\nconnectome: {kind: tvb, dataset: connectivity_76}\n"
        "conditions: [{name: c}]\nprotocol: [{kind: differentiation}]\n"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "protocol[0]" in err and "'basal_ganglia'" in err


# -- on a small simulated brain ---------------------------------------------------------


def _brain(seed: int = 3, npr: int = 30):
    from encephagen.engine import Microcircuit, build_network
    from encephagen.engine.simulate import Brain
    from encephagen_builtins.connectomes import SyntheticConnectome
    from encephagen_builtins.neurons import LIF

    conn = SyntheticConnectome(n_regions=12, density=0.4, seed=seed).load()
    net = build_network(conn, Microcircuit(neurons_per_region=npr), np.random.default_rng(seed), LIF(), device="cpu")
    return Brain(net, [np.random.default_rng(seed + 100)])


def test_differentiation_cv_matches_group_rates() -> None:
    brain = _brain()
    ctx = TaskContext(learning_rule=None, stimulus_rngs=[np.random.default_rng(0)])
    Warmup(steps=300).run(brain, ctx)
    out = Differentiation(steps=400, groups=("visual", "amygdala", "prefrontal")).run(brain, ctx)
    assert out["cv"].shape == (1,) and np.isfinite(out["cv"]).all() and out["cv"][0] >= 0


def _toy_batch(n_brains: int, npr: int = 50):
    """Visual -> amygdala and visual -> prefrontal pathways, and a few other edges; ``n_brains`` seeds."""
    from encephagen.connectome import Connectome
    from encephagen.engine import Microcircuit, build_batch
    from encephagen.engine.simulate import Brain
    from encephagen_builtins.neurons import LIF

    w = np.zeros((4, 4))
    w[0, 1] = w[0, 2] = 3
    w[1, 2] = w[2, 1] = w[3, 0] = w[2, 3] = 1
    conn = Connectome(
        weights=w, labels=["V1", "AMYG", "PFC", "X"], groups={"visual": (0,), "amygdala": (1,), "prefrontal": (2,)}, name="toy"
    )
    seeds = range(n_brains)
    net = build_batch([conn] * n_brains, Microcircuit(neurons_per_region=npr, coupling=1.0), [np.random.default_rng(s) for s in seeds], LIF(), device="cpu")
    return Brain(net, [np.random.default_rng(s + 100) for s in seeds])


def test_conditioning_with_eprop_raises_the_cs_response_above_no_learning() -> None:
    from encephagen_builtins.learning.eprop import EProp

    # Six brains in one batch, each run twice from the same seeds: with and
    # without learning. A large learning rate makes 6 trials enough; measured
    # differences (learn - no learn) were 0.0006-0.0014 spikes/neuron/step.
    task = dict(trials=6, test_every=3, cs_steps=500, us_steps=300, gap_steps=100, test_baseline_steps=500,
                pattern_seed=42, cs_regions={"visual": 0}, response_regions={"amygdala": 0})
    finals = {}
    for learn in (False, True):
        brain = _toy_batch(6)
        rngs = [np.random.default_rng(s) for s in range(6)]
        ctx = TaskContext(learning_rule=EProp(lr=300.0, w_min=-200, w_max=200), stimulus_rngs=rngs)
        Warmup(steps=500).run(brain, ctx)
        finals[learn] = Conditioning(learn=learn, **task).run(brain, ctx)["cond_final"]
    gain = finals[True] - finals[False]
    assert (gain > 0).all(), gain
    assert gain.mean() > 0.0004, gain


class _CountingBrain:
    """Wraps a brain and counts the steps it runs with and without a learner attached."""

    def __init__(self, brain) -> None:
        self.brain, self.network = brain, brain.network
        self.plain = self.learning = 0

    def run(self, steps, external=None, learner=None, record=None):
        if learner is None:
            self.plain += steps
        else:
            self.learning += steps
        return self.brain.run(steps, external=external, learner=learner, record=record)


@pytest.mark.parametrize(
    "task",
    [
        dict(kind="warmup", steps=50),
        dict(kind="differentiation", steps=40, groups=("visual", "amygdala")),
        dict(kind="conditioning", trials=3, test_every=2, cs_steps=20, us_steps=10, gap_steps=5, test_baseline_steps=7),
        dict(kind="discrimination", n_patterns=2, epochs=2, stim_steps=10, gap_steps=3, test_rounds=2),
        dict(kind="working_memory", baseline_steps=11, stim_steps=12, delay_steps=13),
        dict(kind="response_diversity", n_patterns=2, rounds=2, stim_steps=10, gap_steps=4),
        dict(kind="sequence", trials=4, test_every=2, element_steps=6, gap_steps=5, test_baseline_steps=7),
        dict(kind="multisensory", trials=2, cs_steps=10, us_steps=8, gap_steps=3, test_baseline_steps=5),
    ],
    ids=lambda t: t["kind"],
)
@pytest.mark.parametrize(("rule", "learn"), [(True, True), (False, True), (True, False)], ids=["rule", "no-rule", "learn-false"])
def test_step_counts_equal_the_steps_a_task_runs(task: dict, rule: bool, learn: bool) -> None:
    """The counts behind `validate`'s time estimate are the steps the task really simulates."""
    import attrs

    from encephagen_builtins.learning.eprop import EProp

    params = {k: v for k, v in task.items() if k != "kind"}
    cls = default_registry().get("task", task["kind"])
    if "learn" in attrs.fields_dict(cls):
        params["learn"] = learn
    component = cls(**params)
    brain = _CountingBrain(_brain(npr=10))
    ctx = TaskContext(learning_rule=EProp(w_min=-500, w_max=500) if rule else None, stimulus_rngs=[np.random.default_rng(0)])
    component.run(brain, ctx)
    assert component.step_counts(rule) == (brain.plain, brain.learning)


LEARNING_TASKS = [
    dict(kind="conditioning", trials=3, test_every=2, cs_steps=20, us_steps=10, gap_steps=5, test_baseline_steps=7),
    dict(kind="discrimination", n_patterns=2, epochs=2, stim_steps=10, gap_steps=3, test_rounds=2),
    dict(kind="sequence", trials=4, test_every=2, element_steps=6, gap_steps=5, test_baseline_steps=7),
    dict(kind="multisensory", trials=2, cs_steps=10, us_steps=8, gap_steps=3, test_baseline_steps=5),
]
GAIN = {"conditioning": "cond_gain", "discrimination": "accuracy_gain", "sequence": "seq_gain", "multisensory": "both_gain"}


@pytest.mark.parametrize("task", LEARNING_TASKS, ids=lambda t: t["kind"])
def test_test_before_measures_before_learning_and_reports_the_change(task: dict) -> None:
    """With test_before a learning task tests once before learning: its steps are counted, its change metric is
    declared as a change, and (for the curves) the gain is the last test minus that first one."""
    from encephagen_builtins.learning.eprop import EProp

    cls = default_registry().get("task", task["kind"])
    component = cls(**{k: v for k, v in task.items() if k != "kind"}, test_before=True)
    gain = GAIN[task["kind"]]
    described = {m.name: m for m in component.metrics()}
    assert described[gain].change and described[gain].direction == "higher"
    assert gain not in {m.name for m in attrs.evolve(component, test_before=False).metrics() if m.change}
    brain = _CountingBrain(_brain(npr=10))
    ctx = TaskContext(learning_rule=EProp(w_min=-500, w_max=500), stimulus_rngs=[np.random.default_rng(0)])
    out = component.run(brain, ctx)
    assert component.step_counts(True) == (brain.plain, brain.learning)
    assert set(out) == {m.name for m in component.metrics() if not m.is_series}
    if "learning_curve" in ctx.series:
        curve = ctx.series["learning_curve"]
        tests = task["trials"] // task["test_every"] + 1
        assert curve.shape == (1, tests)
        first_test = curve[:, -1] - curve[:, 0]
        assert np.array_equal(out[gain], first_test)


def test_chance_level_follows_the_number_of_patterns() -> None:
    task = default_registry().get("task", "discrimination")(n_patterns=4)
    assert {m.name: m.chance for m in task.metrics()} == {"accuracy": 0.25, "linear_accuracy": 0.25}


class _RampingBrain:
    """A brain whose every neuron gets an external input that grows with time (0 to 0.5 mV per step over 6000 steps)."""

    def __init__(self, brain) -> None:
        self.brain, self.network, self.t = brain, brain.network, 0

    def run(self, steps, external=None, learner=None, record=None):
        t0, n = self.t, self.network.n_neurons
        self.t += steps
        return self.brain.run(steps, external=lambda k: torch.full((n,), 0.5 * (t0 + k) / 6000), learner=learner, record=record)


def _steady_brain():
    from encephagen.testing import tiny_brain
    from encephagen_builtins.neurons import LIF

    return tiny_brain(neuron=LIF(nmda_groups=()), n_brains=2, neurons_per_region=100)  # no slow NMDA build-up


def test_warmup_flags_a_drifting_network_and_passes_a_stationary_one() -> None:
    ctx = TaskContext(learning_rule=None, stimulus_rngs=[np.random.default_rng(0)] * 2)
    task = Warmup(steps=4000, segment_steps=1500)
    steady = task.run(_steady_brain(), ctx)
    assert steady["steady"].tolist() == [1.0, 1.0] and np.all(steady["drift"] < 0.1)
    ramp = task.run(_RampingBrain(_steady_brain()), ctx)
    assert ramp["steady"].tolist() == [0.0, 0.0] and np.all(ramp["drift"] > 0.1)
    assert ramp["rate_hz"].min() > steady["rate_hz"].max()
    assert {m.name for m in task.metrics() if m.diagnostic} == {"drift", "steady"}


def test_warmup_until_steady_stops_when_steady_or_at_max_steps() -> None:
    ctx = TaskContext(learning_rule=None, stimulus_rngs=[np.random.default_rng(0)] * 2)
    task = Warmup(steps=3000, segment_steps=1500, until_steady=True, max_steps=6000)
    settled = task.run(_steady_brain(), ctx)  # the first segment holds the start transient; one more segment is steady
    assert settled["steady"].tolist() == [1.0, 1.0] and 300.0 <= settled["warmup_ms"][0] < 600.0
    ramp = _RampingBrain(_steady_brain())
    out = task.run(ramp, ctx)
    assert out["warmup_ms"].tolist() == [600.0, 600.0] and ramp.t == 6000 and out["steady"].tolist() == [0.0, 0.0]
    assert task.step_counts() == (6000, 0)
    with pytest.raises(ValueError, match="'max_steps' must be at least steps"):
        Warmup(steps=3000, until_steady=True, max_steps=2000)


def test_the_warmup_rate_is_unchanged_by_the_steadiness_test() -> None:
    """rate_hz is the mean over the whole warm-up, as before the segments existed (the run split changes no spike)."""
    from encephagen.testing import tiny_brain

    ctx = TaskContext(learning_rule=None, stimulus_rngs=[np.random.default_rng(0)] * 2)
    split = Warmup(steps=700, segment_steps=200).run(tiny_brain(), ctx)["rate_hz"]
    from encephagen_builtins.tasks.protocol import per_neuron_step, run

    whole = tiny_brain()
    old = per_neuron_step(run(whole, 700), whole, list(range(12)), 700) * 1000.0 / whole.network.dt  # the code before segments
    assert np.array_equal(split, old)
