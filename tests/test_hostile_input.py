"""Hostile and careless study files: refused fast with one line and exit code 2; a run that fails is not a success."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from encephagen.cli import main

GOOD = "name: s\nconnectome: {kind: synthetic, n_regions: 8}\nconditions: [{name: a}]\nprotocol: [{kind: warmup, steps: 10}]\n"


def _bomb(levels: int = 9) -> str:
    """'Billion laughs': nine aliases per level, nine levels (9**9 values once expanded)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nname: *l8\n"


CASES = {
    "alias-bomb": (_bomb(), "more than 100,000 values once its aliases are expanded"),
    "alias-bomb-as-name": (GOOD.replace("name: s\n", "") + _bomb(), "more than 100,000 values"),
    "deep-nesting": (GOOD + "x: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested deeper than 64 levels"),
    "duplicate-key": (GOOD + "seed: 1\nseed: 2\n", "duplicate key 'seed' (also at line 5)"),
    "integer-key": (GOOD + "1: x\n", "a key must be a name, got '1' (int); quote it"),
    "null-key": (GOOD + "? null\n: x\n", "a key must be a name, got 'null' (null)"),
    "huge-integer": (GOOD + "seed: " + "9" * 5000 + "\n", "a value of 5,000 characters"),
    "twenty-digit-seed": (GOOD + "seed: 99999999999999999999\n", "an integer of more than 19 digits"),
    "seed-2-63": (GOOD + f"seed: {2**63}\n", "seed: must be below 2**63"),
    "long-name": (GOOD.replace("name: s", "name: " + "x" * 20_000), "a value of 20,000 characters"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_study_file_is_refused_in_well_under_a_second_with_one_line(case: str, tmp_path: Path, capsys) -> None:
    text, message = CASES[case]
    path = tmp_path / "study.yaml"
    path.write_text(text)
    t0 = time.perf_counter()
    code = main(["validate", str(path)])
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert seconds < 2.0, f"{case} took {seconds:.2f} s"


def test_anchors_and_merge_keys_of_a_normal_size_still_work(tmp_path: Path, capsys) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(
        "name: s\nconnectome: {kind: synthetic, n_regions: 8}\nconditions: [{name: a}]\n"
        "protocol: [&warm {kind: warmup, steps: 10}, {<<: *warm, steps: 20}, *warm]\n"
    )
    assert main(["validate", str(path)]) == 0
    assert "valid. 1 conditions x 10 replicates, 3 tasks" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_study_path_that_is_not_a_small_regular_file_is_refused(kind: str, tmp_path: Path, capsys) -> None:
    if kind == "fifo":
        path = tmp_path / "study.yaml"
        os.mkfifo(path)
        message = "is not a regular file"
    elif kind == "device":
        path = Path("/dev/zero")
        message = "is not a regular file"
    else:
        path = tmp_path / "study.yaml"
        path.write_text(GOOD + "# " + "x" * 1_100_000 + "\n")
        message = "larger than 1,000,000 bytes"
    t0 = time.perf_counter()
    assert main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err and time.perf_counter() - t0 < 2.0


def test_a_run_whose_replicates_all_fail_exits_3_and_says_where_the_reasons_are(tmp_path: Path) -> None:
    study = tmp_path / "boom.yaml"
    study.write_text(
        "name: boom\nseed: 1\nreplicates: 2\nconnectome: {kind: synthetic, n_regions: 10, density: 0.4, seed: 1}\n"
        "brain: {neurons_per_region: 12, device: cpu, neuron: {kind: lif, ext_rate_factor: 500.0}}\n"
        "conditions: [{name: connectome}]\nprotocol: [{kind: warmup, steps: 200}]\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "encephagen.cli", "run", str(study), "--out", str(tmp_path / "out"), "-q", "--executor", "serial"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 3, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("incomplete: 2 failed of 2 replicates") and "report.md" in last and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("replicates: 1000000000\n", "replicates: 1 cells x 1,000,000,000 replicates is more than 1,000,000 brains"),
        ("factors:\n" + "".join(f"  f{i}: {{" + ", ".join(f"l{j}: {{}}" for j in range(10)) + "}\n" for i in range(9)),
         "factors: 1,000,000,000 cells x 10 replicates is more than 1,000,000 brains"),
        ("brain: {neurons_per_region: 100000000000}\n", "brain.neurons_per_region: one brain of 800,000,000,000 neurons"),
        ("brain: {device: cuda}\n", "brain.device: is 'cuda' but"),
    ],
    ids=["replicates", "levels", "neurons", "cuda"],
)
def test_a_study_that_cannot_run_here_fails_at_validation(
    extra: str, message: str, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without CUDA, on any machine
    path = tmp_path / "study.yaml"
    path.write_text(GOOD + extra)
    t0 = time.perf_counter()
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("{kind: conditioning, trials: 3, test_every: 5}", "protocol[0].trials: must be at least test_every (5)"),
        ("{kind: sequence, trials: 3, test_every: 5}", "protocol[0].trials: must be at least test_every (5)"),
        ("{kind: differentiation, groups: []}", "protocol[0].groups: needs at least two region groups"),
        ("{kind: discrimination, n_patterns: 1}", "protocol[0].n_patterns: must be an integer of at least 2"),
    ],
    ids=["conditioning", "sequence", "differentiation", "discrimination"],
)
def test_task_parameters_that_would_fail_every_replicate_fail_at_validation(task: str, message: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(GOOD.replace("protocol: [{kind: warmup, steps: 10}]", f"protocol: [{task}]"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "protocol[0]" in err and message in err and len(err.strip().splitlines()) == 1, err


# -- the output directory and the store ---------------------------------------------------------


def _fake_run(study: Path, out: Path, **kw):
    import runner_fakes as rf

    from encephagen.runner import run_study

    return run_study(study, out, rf.make_registry(), executor="serial", replicate_fn=rf.FakeReplicate(**kw), verbosity=-1)


def test_a_store_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    import runner_fakes as rf

    from encephagen.errors import ConfigError

    out = tmp_path / "out"
    out.mkdir()
    (out / "study.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="cannot be used as a study store"):
        _fake_run(rf.write_study(tmp_path / "s.yaml", replicates=2), out)


def test_a_read_only_output_directory_is_one_line(tmp_path: Path) -> None:
    import runner_fakes as rf

    from encephagen.errors import ConfigError

    if os.geteuid() == 0:  # root writes anyway; use a path below a file instead
        target = tmp_path / "file" / "out"
        (tmp_path / "file").write_text("x")
    else:
        target = tmp_path / "ro" / "out"
        (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="--out: cannot write into"):
        _fake_run(rf.write_study(tmp_path / "s.yaml", replicates=2), target)


def test_two_runs_into_one_directory_are_refused_not_interleaved(tmp_path: Path) -> None:
    import fcntl

    import runner_fakes as rf

    from encephagen.errors import ConfigError

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds the directory
        with pytest.raises(ConfigError, match="another run is writing into"):
            _fake_run(rf.write_study(tmp_path / "s.yaml", replicates=2), out)
    _fake_run(rf.write_study(tmp_path / "s.yaml", replicates=2), out)  # released: the run goes ahead


def test_a_changed_connectome_file_is_refused_on_resume(tmp_path: Path) -> None:
    import numpy as np

    from encephagen.errors import ConfigError

    rng = np.random.default_rng(0)
    w = (rng.random((8, 8)) < 0.4) * rng.random((8, 8))
    np.save(tmp_path / "w.npy", w)
    study = tmp_path / "s.yaml"
    study.write_text(
        f"name: s\nreplicates: 2\nconnectome: {{kind: file, path: {tmp_path / 'w.npy'}}}\n"
        "brain: {neuron: {kind: lif, nmda_groups: []}}\n"  # a file without region groups
        "conditions: [{name: connectome}]\nprotocol: [{kind: warmup, steps: 10}]\n"
    )
    out = _fake_run(study, tmp_path / "out")
    np.save(tmp_path / "w.npy", w * 2.0)
    with pytest.raises(ConfigError, match="the connectome data changed since"):
        _fake_run(study, out)
    np.save(tmp_path / "w.npy", w)
    _fake_run(study, out)  # the same data again: resumes


def test_report_text_from_outside_cannot_open_html_or_close_the_study_fence(tmp_path: Path) -> None:
    import runner_fakes as rf

    study = tmp_path / "s.yaml"
    study.write_text(rf.STUDY.format(seed=1, replicates=2) + "# ```\n# <script>alert(1)</script>\n")
    (tmp_path / "out").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.png").write_bytes(b"x")
    (tmp_path / "out" / "figures").symlink_to(outside)
    out = _fake_run(study, tmp_path / "out")
    md = (out / "report.md").read_text()
    before, fenced = md.split("````\nname: tiny", 1)  # a fence longer than the file's own backticks
    assert "<script>" in fenced and fenced.rstrip().endswith("````") and "<script>" not in before
    from encephagen.report import to_markdown

    assert to_markdown([("p", "a <img src=x onerror=1> b"), ("table", ["h"], [["<b>x</b> | y"]])]) == (
        "a &lt;img src=x onerror=1> b\n\n| h |\n|---|\n| &lt;b>x&lt;/b> \\| y |\n"
    )
    assert (outside / "keep.png").exists() and not (out / "figures").is_symlink()


# -- data files that would exhaust memory ---------------------------------------------------------


def _file_study(tmp_path: Path, name: str) -> Path:
    study = tmp_path / "s.yaml"
    study.write_text(
        f"name: s\nconnectome: {{kind: file, path: {tmp_path / name}}}\n"
        "conditions: [{name: a}]\nprotocol: [{kind: warmup, steps: 10}]\n"
    )
    return study


def _npy_claiming(path: Path, shape: tuple[int, ...]) -> None:
    """A .npy file whose header declares ``shape`` (float64) but holds no data."""
    import numpy as np

    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": shape})


@pytest.mark.parametrize("kind", ["npy-header-7TiB", "zip-bomb-member", "bz2-bomb-member", "npz-bomb-member", "csv"])
def test_a_data_file_that_would_exhaust_memory_is_refused_before_reading(
    kind: str, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap (1 GiB) is lowered to 1 MiB here so that the bombs stay small; the 7 TiB header meets the real one."""
    import bz2
    import zipfile

    import numpy as np

    import encephagen_builtins.connectomes.common as size_cap

    if kind != "npy-header-7TiB":
        monkeypatch.setattr(size_cap, "MAX_DATA_BYTES", 1 << 20)
    zeros = b"0 " * (1 << 20)  # 2 MiB of text
    if kind == "npy-header-7TiB":
        _npy_claiming(tmp_path / "w.npy", (1_000_000, 1_000_000))
        name = "w.npy"
    elif kind == "zip-bomb-member":
        name = "w.zip"
        with zipfile.ZipFile(tmp_path / name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("weights.txt", zeros)
    elif kind == "bz2-bomb-member":
        name = "w.zip"
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("weights.txt.bz2", bz2.compress(zeros))
    elif kind == "npz-bomb-member":
        name = "w.npz"
        np.savez_compressed(tmp_path / name, weights=np.zeros((600, 600)))
    else:
        name = "w.csv"
        (tmp_path / name).write_bytes(zeros[: 1 << 18])
    t0 = time.perf_counter()
    assert main(["validate", str(_file_study(tmp_path, name))]) == 2
    err = capsys.readouterr().err
    assert "MiB once read, more than the" in err and "MiB a connectome file may hold" in err, err
    assert len(err.strip().splitlines()) == 1 and time.perf_counter() - t0 < 5


def test_a_group_the_neuron_model_needs_is_checked_at_validation(tmp_path: Path, capsys) -> None:
    import numpy as np

    np.save(tmp_path / "w.npy", np.ones((4, 4)) - np.eye(4))
    study = tmp_path / "s.yaml"
    study.write_text(
        f"name: s\nconnectome: {{kind: file, path: {tmp_path / 'w.npy'}}}\n"
        "conditions: [{name: a}]\nprotocol: [{kind: warmup, steps: 10}]\n"
    )
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert "brain.neuron.nmda_groups: names region group 'prefrontal', which connectome" in err and len(err.strip().splitlines()) == 1


def test_a_null_model_draw_that_breaks_the_anatomy_fails_only_its_replicate(tmp_path: Path) -> None:
    import numpy as np

    from encephagen.replicate import _draw
    from encephagen.results import ReplicateFailed
    from encephagen_builtins.connectomes import SyntheticConnectome
    from encephagen_builtins.null_models import DegreePreserving

    conn = SyntheticConnectome(n_regions=8).load()

    class Relabels(DegreePreserving):  # a plugin whose draws sometimes rename regions
        def randomize(self, connectome, rng):
            out = super().randomize(connectome, rng)
            return attrs.evolve(out, labels=[f"x{i}" for i in range(out.n_regions)]) if rng.random() < 0.5 else out

    import attrs

    model = Relabels()
    outcomes = []
    for seed in range(20):
        try:
            _draw(model, conn, np.random.default_rng(seed))
            outcomes.append("ok")
        except ReplicateFailed as exc:
            assert "changed labels" in exc.reason
            outcomes.append("failed")
    assert {"ok", "failed"} == set(outcomes)


def test_report_on_a_partial_run_says_what_is_missing(tmp_path: Path, capsys) -> None:
    import runner_fakes as rf

    out = _fake_run(rf.write_study(tmp_path / "s.yaml", replicates=2), tmp_path / "out", fail=("rewired", 1))
    assert main(["report", str(out)]) == 0
    assert "(3 of 4 replicates finished; missing: 1 failed)" in capsys.readouterr().out


@pytest.mark.parametrize("plastic", ["all", "excitatory", "between"])
def test_the_closed_form_weight_range_is_that_of_a_built_brain(plastic: str) -> None:
    import numpy as np

    from encephagen.engine import Microcircuit, build_network
    from encephagen_builtins.connectomes import SyntheticConnectome
    from encephagen_builtins.learning.common import weight_range
    from encephagen_builtins.neurons import LIF

    conn = SyntheticConnectome(n_regions=6, density=0.6, seed=2).load()
    micro = Microcircuit(neurons_per_region=20, p_between=0.5, coupling=1.0)
    net = build_network(conn, micro, np.random.default_rng(0), LIF(nmda_groups=()), device="cpu")
    w = net.weight.numpy().astype(float)
    pre = np.repeat(np.arange(net.n_neurons), np.diff(net.row_ptr.numpy()))
    post = net.post.numpy()
    keep = {
        "all": np.ones(w.size, bool),
        "excitatory": net.excitatory.numpy()[pre],
        "between": pre // 20 != post // 20,
    }[plastic]
    lo, hi = weight_range(micro, conn, plastic)
    assert (float(w[keep].min()), float(w[keep].max())) == pytest.approx((lo, hi), rel=1e-6)  # float32 weights


def test_a_small_brain_with_the_default_weight_bounds_fails_at_validation(tmp_path: Path, capsys) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(GOOD.replace("conditions:", "brain: {neurons_per_region: 8}\nlearning_rule: {kind: eprop}\nconditions:"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: learning_rule.w_min: the 'all' plastic synapses of this brain weigh [") and "widen the bounds" in err
    path.write_text(GOOD.replace("conditions:", "brain: {neurons_per_region: 8}\nlearning_rule: {kind: eprop, w_min: -400, w_max: 400}\nconditions:"))
    assert main(["validate", str(path)]) == 0
