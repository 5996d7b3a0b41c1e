"""``encephagen new-plugin KIND NAME``: a pip-installable plugin package whose tests pass as generated.

The package ``encephagen-<name>`` holds one working component of ``KIND``
(a small, honest example to replace with your own: a weight shuffle, a ring
lattice, a mean-rate task, ...), its registration hook and entry point, and
tests that run encephagen's conformance kit on it and check that encephagen
finds it once installed::

    encephagen new-plugin null_model lattice
    pip install -e "encephagen-lattice[test]"
    python -m pytest encephagen-lattice/tests
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from encephagen import __version__
from encephagen.errors import ConfigError
from encephagen.interfaces import KINDS

#: kind -> the example component's source. ``{Class}`` and ``{name}`` are filled in.
_COMPONENTS: dict[str, str] = {
    "null_model": '''
@attrs.frozen
class {Class}:
    """Shuffles the weights over the existing edges (a template: put your null model here).

    :ivar keep_self_loops: leave the diagonal as it is.
    """

    name: ClassVar[str] = "{name}"
    invariants: ClassVar[tuple[str, ...]] = ("n_regions", "n_edges", "weights_multiset", "binary_topology", "anatomy")

    keep_self_loops: bool = True

    def randomize(self, connectome: Connectome, rng: np.random.Generator) -> Connectome:
        w = connectome.weights.copy()
        edges = np.flatnonzero(w)
        if self.keep_self_loops:
            edges = edges[edges % (w.shape[0] + 1) != 0]  # off the diagonal
        w.flat[edges] = rng.permutation(w.flat[edges])
        return connectome.with_weights(w, f"{name}: weights shuffled over {{edges.size}} edges")
''',
    "connectome": '''
@attrs.frozen
class {Class}:
    """A ring lattice: each region projects to its next ``k`` neighbours (a template: read your data here).

    :ivar n_regions: regions in the ring (every reference group gets one).
    :ivar k: neighbours each region projects to, clockwise.
    """

    name: ClassVar[str] = "{name}"

    n_regions: int = attrs.field(default=12, validator=attrs.validators.ge(len(REFERENCE_GROUPS)))
    k: int = attrs.field(default=2, validator=attrs.validators.ge(1))

    def load(self) -> Connectome:
        n = self.n_regions
        w = np.zeros((n, n))
        for i in range(n):
            for d in range(1, self.k + 1):
                w[i, (i + d) % n] = 1.0
        angle = 2 * np.pi * np.arange(n) / n
        pos = np.stack([50 * np.cos(angle), 50 * np.sin(angle), np.zeros(n)], axis=1)  # mm
        return Connectome(
            weights=w, labels=[f"R{{i}}" for i in range(n)], positions=pos,
            tract_lengths=centre_distances(pos),
            groups={{g: (i,) for i, g in enumerate(REFERENCE_GROUPS)}},
            orientation="rows=sources (generated)",
            provenance=f"{name}: ring lattice of {{n}} regions, {{self.k}} neighbours each; not brain data",
            name=f"{name}:n{{n}}-k{{self.k}}",
        )
''',
    "task": '''
@attrs.frozen
class {Class}:
    """Runs the brain on background input and reports each brain's mean rate (a template: put your task here).

    :ivar steps: steps to run (0.1 ms each).
    """

    name: ClassVar[str] = "{name}"

    steps: int = attrs.field(default=300, validator=attrs.validators.gt(0))

    def required_groups(self) -> tuple[str, ...]:
        return ()

    def step_counts(self, rule: bool = True) -> tuple[int, int]:
        return (self.steps, 0)

    def metrics(self) -> tuple[Metric, ...]:
        return (Metric("rate_hz", "Hz", "Mean firing rate of every neuron over the run, background input only.", direction="none"),)

    def run(self, brain: Any, context: TaskContext) -> TaskResult:
        rates = brain.run(self.steps).region_rates()  # (windows, brains, regions): spikes per neuron per step
        per_step = rates.mean(dim=(0, 2))
        return {{"rate_hz": (per_step * 1000.0 / float(brain.network.dt)).cpu().numpy()}}
''',
    "learning_rule": '''
class {Class}Learner:
    """Per-neuron spike traces ``x``; ``snapshot()`` keeps them, and a reward ``r`` adds
    ``lr * r * snap[pre] * snap[post]`` to every weight, clamped to ``[w_min, w_max]``."""

    def __init__(self, rule: "{Class}", network: Any) -> None:
        self.rule, self.net = rule, network
        self.decay = math.exp(-float(network.dt) / rule.tau)
        self.x = torch.zeros(network.n_neurons, dtype=network.weight.dtype, device=network.device)
        self.snap = torch.zeros_like(self.x)  # x at the end of the last stimulus, which a later reward uses
        self.pre = network.pre_index()
        self.post = network.post.long()

    def on_step(self, v: torch.Tensor, z: torch.Tensor) -> None:
        self.x.mul_(self.decay).add_(z.to(self.x.dtype), alpha=1.0 - self.decay)

    def snapshot(self) -> None:
        self.snap.copy_(self.x)

    def reward(self, r: float) -> None:
        dw = self.snap[self.pre] * self.snap[self.post] * (self.rule.lr * float(r))
        self.net.weight.add_(dw).clamp_(self.rule.w_min, self.rule.w_max)

    def reset(self) -> None:
        self.x.zero_()
        self.snap.zero_()

    def traces(self) -> dict[str, tuple[torch.Tensor, float, float]]:
        return {{"x": (self.x, 0.0, 1.0), "snapshot": (self.snap, 0.0, 1.0)}}


@attrs.frozen
class {Class}:
    """Reward-modulated Hebbian rule on spike traces (a template: put your rule here).

    :ivar lr: learning rate (mV per unit of reward x trace product).
    :ivar tau: trace time constant (ms).
    :ivar w_min: lower weight bound (mV).
    :ivar w_max: upper weight bound (mV).
    """

    name: ClassVar[str] = "{name}"

    lr: float = 0.1
    tau: float = attrs.field(default=20.0, validator=attrs.validators.gt(0))
    w_min: float = -1000.0
    w_max: float = 1000.0

    def bind(self, network: Any, generator: torch.Generator | None = None) -> {Class}Learner:
        return {Class}Learner(self, network)
''',
    "neuron_model": '''
class {Class}Dynamics:
    """{Class} on one network: state ``v`` and ``refrac`` (float32 ``(N,)``)."""

    state_names = ("v", "refrac")

    def __init__(self, model: "{Class}", network: Any) -> None:
        dt, micro = float(network.dt), network.microcircuit
        self.k, self.v_thr = dt / model.tau_m, model.v_thr
        self.n_ref = float(math.ceil(model.t_ref / dt)) if model.t_ref > 0 else 0.0
        self.const: dict[str, torch.Tensor] = {{}}
        self.key = ("{name}", self.k, self.v_thr, self.n_ref)
        self.bg_weight = float(micro.j_eff)  # mV per background spike
        # Background spikes per neuron per step: a mean drive of drive_ratio x threshold.
        self.bg_rate = model.drive_ratio * model.v_thr * dt / (micro.j_eff * model.tau_m)

    def init_state(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        v = (u.to(torch.float64) * self.v_thr).to(torch.float32)
        return {{"v": v, "refrac": torch.zeros_like(v)}}

    def advance(self, s, c, bg, ext):
        drive = bg if ext is None else bg + ext
        free = s["refrac"] <= 0.0
        v = torch.where(free, s["v"] - self.k * s["v"] + drive, s["v"])
        spike = free & (v >= self.v_thr)
        refrac = torch.clamp(torch.where(spike, self.n_ref, s["refrac"]) - 1.0, min=0.0)
        return v, spike.to(torch.float32), {{"v": torch.where(spike, 0.0, v), "refrac": refrac}}

    def receive(self, s, c, syn):
        return {{"v": s["v"] + syn, "refrac": s["refrac"]}}


@attrs.frozen
class {Class}:
    """Integrate-and-fire neuron whose input jumps the membrane (a template: put your model here).

    :ivar v_thr: threshold above rest (mV).
    :ivar tau_m: membrane time constant (ms).
    :ivar t_ref: refractory period (ms).
    :ivar drive_ratio: mean background drive in units of the threshold.
    """

    name: ClassVar[str] = "{name}"

    v_thr: float = 20.0
    tau_m: float = 20.0
    t_ref: float = 2.0
    drive_ratio: float = 1.2

    def dynamics(self, network: Any) -> {Class}Dynamics:
        return {Class}Dynamics(self, network)

    def pseudo_derivative(self, v: torch.Tensor) -> torch.Tensor:
        return 0.3 * torch.clamp(1 - (v - self.v_thr).abs() / self.v_thr, min=0)
''',
    "executor": '''
@attrs.frozen
class {Class}:
    """Runs the items in this process, last first (a template: put your scheduler here)."""

    name: ClassVar[str] = "{name}"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        for item in reversed(list(items)):
            try:
                result = fn(item)
            except Exception as exc:  # yielded, never raised: one failed item never stops the others
                result = exc
            yield item, result
''',
}

_HEADER = '''"""{summary}"""

from __future__ import annotations

{imports}
__all__ = ["{Class}"]
'''

#: The imports each example needs.
_IMPORTS: dict[str, str] = {
    "null_model": "from typing import ClassVar\n\nimport attrs\nimport numpy as np\n\nfrom encephagen import hookimpl\nfrom encephagen.connectome import Connectome\n",
    "connectome": "from typing import ClassVar\n\nimport attrs\nimport numpy as np\n\nfrom encephagen import hookimpl\nfrom encephagen.connectome import Connectome, centre_distances\nfrom encephagen_builtins.connectomes import REFERENCE_GROUPS  # the region groups the built-in tasks use\n",
    "task": "from typing import Any, ClassVar\n\nimport attrs\n\nfrom encephagen import hookimpl\nfrom encephagen.interfaces import Metric, TaskContext, TaskResult\n",
    "learning_rule": "import math\nfrom typing import Any, ClassVar\n\nimport attrs\nimport torch\n\nfrom encephagen import hookimpl\n",
    "neuron_model": "import math\nfrom typing import Any, ClassVar\n\nimport attrs\nimport torch\n\nfrom encephagen import hookimpl\n",
    "executor": "from collections.abc import Callable, Iterator, Sequence\nfrom typing import Any, ClassVar\n\nimport attrs\n\nfrom encephagen import hookimpl\n",
}

_HOOK = '''

@hookimpl
def {hook}() -> list[type]:
    return [{Class}]
'''

_PYPROJECT = '''[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "encephagen-{name}"
version = "0.1.0"
description = "A {word} for encephagen: {name}."
requires-python = ">=3.10"
dependencies = ["encephagen>={version}"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# encephagen finds the plugin through this entry point once the package is installed.
[project.entry-points.encephagen]
{name} = "encephagen_{name}"

[tool.hatch.build.targets.wheel]
packages = ["src/encephagen_{name}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

_TESTS = '''"""encephagen's conformance kit on {Class}, and the plugin as encephagen sees it once installed."""

from encephagen.plugins import default_registry
from encephagen.testing import parametrize_with_checks
from encephagen_{name} import {Class}


@parametrize_with_checks([{Class}()])
def test_conformance(component, check):
    check(component)


def test_encephagen_finds_it():
    entry = default_registry().entry("{kind}", "{name}")
    assert entry.cls is {Class} and entry.distribution == "encephagen-{name}"
'''

_README = '''# encephagen-{name}

A {word} for [encephagen](https://pypi.org/project/encephagen/), made with
`encephagen new-plugin {kind} {name}`. Replace the example in
`src/encephagen_{name}/__init__.py` with your own; the conformance kit in
`tests/` says what the contract asks.

```bash
pip install -e ".[test]"
python -m pytest
encephagen plugins --kind {kind}
```

In a study file: `kind: {name}` where a {word} goes.
'''


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def new_plugin(kind: str, name: str, where: Path) -> Path:
    """Write the package ``encephagen-<name>`` under ``where`` and return its directory.

    :raises ConfigError: an unknown kind, a name that is not a lower-case
        identifier, or a directory that exists already.
    """
    from encephagen.interfaces import KIND_TABLE

    if kind not in KINDS:
        raise ConfigError.at("KIND", f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name) or keyword.iskeyword(name):
        raise ConfigError.at("NAME", f"{name!r} is not a lower-case Python identifier (letters, digits, _), e.g. 'lattice'")
    root = Path(where) / f"encephagen-{name}"
    if root.exists():
        raise ConfigError.at("--dir", f"{root} exists already; choose another name or directory")
    body = _COMPONENTS[kind]
    word, hook = KIND_TABLE[kind]
    fill = {"Class": _class_name(name), "name": name, "kind": kind, "word": word, "version": __version__,
            "hook": hook, "summary": f"encephagen-{name}: a {word} plugin for encephagen.",
            "imports": _IMPORTS[kind]}
    pkg = root / "src" / f"encephagen_{name}"
    pkg.mkdir(parents=True)
    (root / "tests").mkdir()
    (pkg / "__init__.py").write_text(_HEADER.format(**fill) + body.format(**fill) + _HOOK.format(**fill))
    (root / "pyproject.toml").write_text(_PYPROJECT.format(**fill))
    (root / "tests" / f"test_{name}.py").write_text(_TESTS.format(**fill))
    (root / "README.md").write_text(_README.format(**fill))
    return root
