"""The step loop: reproducibility, batches, recording, health checks and input errors."""

from __future__ import annotations

import os
import shutil

import attrs
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from encephagen.engine import Brain, Delays, Microcircuit, Record, SimulationError, build_batch, build_network
from encephagen.errors import ConfigError, DataError
from encephagen_builtins.neurons import ALIF, LIF

from engine_helpers import make_connectome

NPR = 20


def _brain(seed: int = 0, state_seed: int = 100, model: LIF | None = None, delays: Delays | None = None, **kw: object) -> Brain:
    c = make_connectome(6, seed=1)
    net = build_network(c, Microcircuit(neurons_per_region=NPR), np.random.default_rng(seed), model or LIF(),
                        delays=delays, device="cpu")
    kw.setdefault("compile", False)
    return Brain(net, np.random.default_rng(state_seed), **kw)


def _raster(brain: Brain, steps: int, **kw: object) -> np.ndarray:
    return brain.run(steps, record=Record(raster=range(brain.n_neurons)), **kw).raster.numpy()


def test_same_seeds_same_spikes_different_seeds_differ() -> None:
    a, b, c = _raster(_brain(), 300), _raster(_brain(), 300), _raster(_brain(state_seed=101), 300)
    assert a.sum() > 0 and np.array_equal(a, b) and not np.array_equal(a, c)


def test_splitting_a_run_changes_nothing() -> None:
    one, two = _brain(delays=Delays(velocity=5.0)), _brain(delays=Delays(velocity=5.0))
    whole = _raster(one, 400)
    parts = np.concatenate([_raster(two, 150), _raster(two, 1), _raster(two, 249)])
    assert np.array_equal(whole, parts)
    for k in one.state:
        assert torch.equal(one.state[k], two.state[k])


def test_batch_of_two_equals_two_single_runs() -> None:
    c1, c2 = make_connectome(seed=1), make_connectome(seed=2)
    micro = Microcircuit(neurons_per_region=NPR)
    singles = []
    for c, ws, ss in ((c1, 3, 30), (c2, 4, 40)):
        net = build_network(c, micro, np.random.default_rng(ws), LIF(), device="cpu")
        b = Brain(net, np.random.default_rng(ss), compile=False)
        singles.append((b, _raster(b, 300)))
    net = build_batch([c1, c2], micro, [np.random.default_rng(3), np.random.default_rng(4)], LIF(), device="cpu")
    batch = Brain(net, [np.random.default_rng(30), np.random.default_rng(40)], compile=False)
    rec = batch.run(300, record=Record(raster=range(batch.n_neurons), window=100, neurons=True))
    n = singles[0][0].n_neurons
    assert np.array_equal(rec.raster.numpy(), np.concatenate([singles[0][1], singles[1][1]], axis=1))
    for k in batch.state:
        assert torch.equal(batch.state[k], torch.cat([singles[0][0].state[k], singles[1][0].state[k]]))
    assert rec.region_counts.shape == (3, 2, 6)
    assert torch.equal(rec.neuron_counts.view(-1), torch.from_numpy(rec.raster.numpy().sum(0)).to(torch.int64))
    assert n * 2 == batch.n_neurons


def test_compiled_update_equals_eager() -> None:
    """Two brains of 6 x 21 neurons (N = 252, not a multiple of the vector width): bit for bit."""
    c = make_connectome(6, seed=1)
    net = build_batch([c, c], Microcircuit(neurons_per_region=21), [np.random.default_rng(1), np.random.default_rng(2)],
                      LIF(), device="cpu")
    eager = Brain(net, [np.random.default_rng(3), np.random.default_rng(4)], compile=False)
    compiled = Brain(net, [np.random.default_rng(3), np.random.default_rng(4)], compile=True)
    a, b = _raster(eager, 200, external=0.2), _raster(compiled, 200, external=0.2)
    assert compiled.compiled, [k.reason for k in compiled._kernels.values()]
    assert a.sum() > 0 and np.array_equal(a, b)
    for k in eager.state:
        assert torch.equal(eager.state[k], compiled.state[k])


@pytest.mark.parametrize("delays", [None, Delays(velocity=4.0)])
def test_all_propagation_paths_agree(delays: Delays | None) -> None:
    """numpy event lists, the C loop (when a compiler exists) and the fixed-shape table give the same spikes."""
    from encephagen.engine.native import library

    numpy_path, static = _brain(delays=delays, native=False), _brain(delays=delays, static=True)
    want = _raster(numpy_path, 300)
    assert want.sum() > 0 and np.array_equal(want, _raster(static, 300))
    assert static.health().peak_spikes >= 1
    if library() is not None:
        native = _brain(delays=delays, native=True)
        assert np.array_equal(want, _raster(native, 300))
        for k in native.state:
            assert torch.equal(native.state[k], numpy_path.state[k])


def test_no_native_switches_off_all_or_named_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENCEPHAGEN_NO_NATIVE=1 switches every C loop off; a list of names only those (and then nothing is built)."""
    from encephagen.engine.native import build, library, switched_off

    cases = {"": (False, False), "fold": (True, False), "fold, propagate": (True, True), "1": (True, True),
             "ALL": (True, True), "propagate": (False, True), "folds": (False, False)}
    for value, (fold_off, propagate_off) in cases.items():
        monkeypatch.setenv("ENCEPHAGEN_NO_NATIVE", value)
        assert (switched_off("fold"), switched_off("propagate")) == (fold_off, propagate_off), value
    monkeypatch.setenv("ENCEPHAGEN_NO_NATIVE", "fold")
    assert build("fold", "int f(void) { return 1; }", {}) is None  # switched off: not even compiled
    monkeypatch.setenv("ENCEPHAGEN_NO_NATIVE", "fold, propagate")
    assert library() is None
    if shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang"):
        monkeypatch.setenv("ENCEPHAGEN_NO_NATIVE", "fold")
        assert library() is not None  # a compiler is here, and only 'fold' is switched off


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_every_delay_dtype_gives_the_same_spikes_on_every_path(dtype: torch.dtype) -> None:
    """The propagation reads uint8, int16 and int32 delays alike."""
    from encephagen.engine.native import library

    ref = _brain(delays=Delays(velocity=40.0), native=False)
    assert ref.network.delay.dtype == torch.uint8 and ref.network.max_delay > 1
    want = _raster(ref, 300)
    net = attrs.evolve(ref.network, delay=ref.network.delay.to(dtype))
    paths = [dict(native=False), dict(static=True)] + ([dict(native=True)] if library() is not None else [])
    for kw in paths:
        assert np.array_equal(want, _raster(Brain(net, np.random.default_rng(100), compile=False, **kw), 300)), kw


def test_a_network_with_unreadable_index_dtypes_is_refused() -> None:
    net = _brain(delays=Delays(velocity=40.0)).network
    bad = {
        "network.delay": dict(delay=net.delay.to(torch.int64)),
        "network.row_ptr": dict(row_ptr=net.row_ptr.to(torch.int32)),
        "network.post": dict(post=net.post.to(torch.int64)),
    }
    for field, change in bad.items():
        with pytest.raises(DataError, match=field.replace(".", r"\.")):
            Brain(attrs.evolve(net, **change), np.random.default_rng(0), compile=False)


def test_spike_capacity_overflow_fails_the_run() -> None:
    brain = _brain(static=True, spike_capacity=1)
    with pytest.raises(SimulationError, match="spike_capacity"):
        brain.run(200, external=5.0)


def test_learner_sees_v_before_reset_and_the_spikes() -> None:
    brain = _brain()
    calls = []

    class Probe:
        def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
            calls.append((v.clone(), z.clone()))

    rec = brain.run(150, learner=Probe(), record=Record(raster=range(brain.n_neurons)))
    assert len(calls) == 150
    v = torch.stack([c[0] for c in calls])
    z = torch.stack([c[1] for c in calls])
    assert z.dtype == torch.float32 and torch.equal(z.bool(), rec.raster)
    assert torch.all(v[z == 1] >= 20.0)
    assert z.sum() > 0


def test_learner_attached_changes_nothing_else() -> None:
    class Idle:
        def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
            pass

    a, b = _brain(), _brain()
    assert np.array_equal(_raster(a, 200), _raster(b, 200, learner=Idle()))


def test_recording_windows_and_rates() -> None:
    brain = _brain()
    rec = brain.run(250, record=Record(window=100, neurons=True, raster=[0, 5, 7]))
    assert rec.window_steps.tolist() == [100, 100, 50]
    assert torch.equal(rec.region_counts.sum(0).view(-1), rec.neuron_counts.view(-1, NPR).sum(1))
    rates = rec.region_rates()
    assert torch.allclose(rates * rec.window_steps.view(-1, 1, 1) * NPR, rec.region_counts.double())
    assert torch.equal(rec.raster.sum(0), rec.neuron_counts.view(-1)[[0, 5, 7]])
    assert rec.group_rates([0, 1]).shape == (3, 1)
    assert rec.health.ok and rec.health.finite


def test_external_input_checks() -> None:
    brain = _brain()
    n = brain.n_neurons
    with pytest.raises(DataError, match="NaN"):
        brain.run(5, external=torch.full((n,), float("nan")))
    with pytest.raises(DataError, match="shape"):
        brain.run(5, external=torch.zeros(n + 1))
    with pytest.raises(DataError, match="finite"):
        brain.run(5, external=float("inf"))
    bad = torch.zeros(n)
    bad[3] = float("inf")
    with pytest.raises(SimulationError, match="external input"):
        brain.run(5, external=lambda i: bad if i == 2 else None)
    with pytest.raises(ConfigError, match="steps"):
        brain.run(-1)
    with pytest.raises(ConfigError, match="on_step"):
        brain.run(1, learner=object())
    with pytest.raises(DataError, match=r"external\(3\)"):
        brain.run(5, external=lambda i: torch.zeros(2) if i == 3 else None)
    with pytest.raises(SimulationError, match="interrupted"):
        brain.run(1)  # the interrupted run left the brain mid-step


def test_schedule_equals_constant_and_per_brain_input_broadcasts() -> None:
    a, b = _brain(), _brain()
    ext = torch.linspace(0, 0.5, a.n_neurons)
    assert np.array_equal(_raster(a, 100, external=ext), _raster(b, 100, external=lambda i: ext))


def test_non_finite_state_is_reported() -> None:
    brain = _brain()
    brain.state["v"][3] = float("nan")
    with pytest.raises(SimulationError, match="NaN"):
        brain.run(3)
    assert not brain.run(1, check=False).health.ok


def test_explosion_is_reported() -> None:
    brain = _brain(explosion_mV=50.0)
    with pytest.raises(SimulationError, match="exploded"):
        brain.run(20, external=30.0)


@given(
    ext=st.floats(-50.0, 50.0),
    scale=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
    adaptive=st.booleans(),
)
@settings(max_examples=30, deadline=None)
def test_state_stays_finite_and_refractory_neurons_never_spike(ext: float, scale: float, seed: int, adaptive: bool) -> None:
    """External input in [-50, 50] mV per step and weights scaled by up to 3: finite state;
    no neuron spikes twice within n_ref = 20 steps."""
    model = ALIF() if adaptive else LIF()
    brain = _brain(seed=seed % 7, state_seed=seed, model=model)
    brain.network.weight.mul_(scale)
    raster = _raster(brain, 120, external=ext)
    assert all(torch.isfinite(x).all() for x in brain.state.values())
    for i in np.flatnonzero(raster.any(0)):
        assert np.all(np.diff(np.flatnonzero(raster[:, i])) >= 20)
    assert torch.all(brain.state["refrac"] >= 0) and torch.all(brain.state["refrac"] <= 19)


def test_reference_sized_regions_fire_irregularly_not_silent_not_saturated() -> None:
    """96 regions of 50 neurons on a random connectome: fluctuation-driven activity. The mean
    synaptic drive stays below threshold (firing comes from fluctuations), the mean rate is
    1-100 Hz (far from silence and from the 500 Hz refractory limit) and spike trains are irregular."""
    c = make_connectome(96, seed=5, density=0.42)
    net = build_network(c, Microcircuit(neurons_per_region=50), np.random.default_rng(0), LIF(), device="cpu")
    brain = Brain(net, np.random.default_rng(1), compile=False)
    brain.run(500)
    sample = list(range(0, net.n_neurons, 7))
    rasters, counts, drive = [], torch.zeros(net.n_neurons, dtype=torch.int64), []
    for _ in range(100):
        rec = brain.run(15, record=Record(raster=sample, neurons=True))
        rasters.append(rec.raster.numpy())
        counts += rec.neuron_counts.view(-1)
        drive.append(float((brain.state["i_syn"] + brain.state["i_nmda"]).mean()))
    rate = float(counts.double().mean()) / (1500 * net.dt) * 1000.0
    assert 1.0 < rate < 100.0
    assert 0.0 < np.mean(drive) < 20.0  # mean input below v_thr: not mean-driven
    raster = np.concatenate(rasters)
    isis = np.concatenate([np.diff(np.flatnonzero(col)) for col in raster.T])
    assert isis.size > 200
    assert isis.std() / isis.mean() > 0.3  # irregular (tonic firing would give ~0)
    assert (counts > 0).double().mean() > 0.5  # most neurons take part
