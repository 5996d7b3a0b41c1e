"""The study runner: determinism across runs and executors, resume after SIGKILL, refusals, failures, statistics.

The replicate function is a fake (``runner_fakes.FakeReplicate``): its
metrics are a deterministic function of the replicate seed, so every
comparison below checks the runner, not a simulation.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import runner_fakes as rf
from scipy import stats as sps

from encephagen.errors import ConfigError, EncephagenError
from encephagen.analysis import stats_rng
from encephagen.execution import Outcome, execute, resolve_executor
from encephagen.runner import run_study
from encephagen.stats import power_replicates
from encephagen.study import Replicate, replicate_seed
from encephagen_builtins.executors import Processes, Serial

FAKES = Path(rf.__file__)
N = 4  # replicates per condition
TOTAL = 2 * N


@pytest.fixture(scope="module")
def registry():
    return rf.make_registry()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, registry) -> Path:
    """One uninterrupted serial run of the tiny study (do not write into it)."""
    root = tmp_path_factory.mktemp("baseline")
    study = rf.write_study(root / "study.yaml", replicates=N)
    return run_study(study, root / "out", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _statuses(db: Path) -> dict[tuple[str, int], str]:
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {(c, i): s for c, i, s in con.execute("SELECT condition, idx, status FROM replicates")}
    finally:
        con.close()


def _calls(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(c, int(i)) for c, i in (line.split() for line in log.read_text().splitlines())]


# -- determinism ------------------------------------------------------------------------


def test_results_hold_every_value_once_in_a_fixed_order(baseline: Path) -> None:
    rows = _csv_rows(baseline / "results.csv")
    assert list(rows[0]) == ["condition", "replicate", "seed", "task", "metric", "value"]
    assert len(rows) == TOTAL * 2
    for row in rows:
        seed = int(row["seed"])
        assert seed == replicate_seed(7, row["condition"], int(row["replicate"]))
        assert float(row["value"]) == rf.fake_values(row["condition"], seed)[row["metric"]]
    keys = [(["connectome", "rewired"].index(r["condition"]), int(r["replicate"]), r["task"], r["metric"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_same_study_twice_gives_identical_files_and_a_rerun_computes_nothing(
    baseline: Path, registry, tmp_path: Path
) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out = run_study(study, tmp_path / "again", registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    for name in ("results.csv", "summary.csv"):
        assert (out / name).read_text() == (baseline / name).read_text()
    log = tmp_path / "calls.txt"
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert _calls(log) == []
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()


def test_serial_processes_and_dask_give_identical_results(baseline: Path, registry, tmp_path: Path) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    expected = (baseline / "results.csv").read_text()
    for executor in ("processes", "dask"):
        out = run_study(study, tmp_path / executor, registry, executor=executor, workers=2, replicate_fn=rf.FakeReplicate(), verbosity=-1)
        assert (out / "results.csv").read_text() == expected, executor
        assert (out / "summary.csv").read_text() == (baseline / "summary.csv").read_text(), executor
        con = sqlite3.connect(out / "study.sqlite")
        assert con.execute("SELECT value FROM provenance WHERE key = ?", (f"plugin.executor.{executor}",)).fetchone()


# -- resume -------------------------------------------------------------------------------


def test_sigkill_mid_replicate_then_resume_gives_the_uninterrupted_results(baseline: Path, registry, tmp_path: Path) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out, log = tmp_path / "killed", tmp_path / "driver_calls.txt"
    driver = subprocess.Popen(
        [sys.executable, str(FAKES), str(study), str(out), "serial", "0.4", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert driver.poll() is None, f"the driver ended before the kill: {driver.stderr.read().decode()}"
            assert time.monotonic() < deadline, "the driver never finished a replicate"
            try:
                done = sum(s == "done" for s in _statuses(out / "study.sqlite").values())
            except sqlite3.OperationalError:  # not created yet
                done = 0
            # Kill once at least one is done and the next one has started (it sleeps 0.4 s).
            if 1 <= done < TOTAL and len(_calls(log)) == done + 1:
                break
            time.sleep(0.02)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        driver.stderr.close()
    assert driver.returncode == -signal.SIGKILL
    db = out / "study.sqlite"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    at_kill = _statuses(db)
    in_flight = _calls(log)[-1]
    assert at_kill[in_flight] == "running"
    unfinished = {k for k, s in at_kill.items() if s != "done"}
    assert 1 <= TOTAL - len(unfinished) < TOTAL

    resume_log = tmp_path / "resume_calls.txt"
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(log=str(resume_log)), verbosity=-1)
    assert sorted(_calls(resume_log)) == sorted(unfinished)  # done ones are skipped, the rest run once
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()
    assert set(_statuses(db).values()) == {"done"}


def test_a_replicate_that_kills_its_worker_fails_alone_and_its_siblings_finish(baseline: Path, registry, tmp_path: Path) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out = tmp_path / "out"
    run_study(study, out, registry, executor="processes", workers=2, replicate_fn=rf.FakeReplicate(die=("rewired", 0)), verbosity=-1)
    statuses = _statuses(out / "study.sqlite")
    assert statuses.pop(("rewired", 0)) == "failed" and set(statuses.values()) == {"done"}  # innocent ones are not lost
    con = sqlite3.connect(out / "study.sqlite")
    assert "worker process died" in con.execute("SELECT error FROM replicates WHERE cell = 'rewired' AND idx = 0").fetchone()[0]
    expected = [ln for ln in (baseline / "results.csv").read_text().splitlines() if not ln.startswith("rewired,0,")]
    assert (out / "results.csv").read_text().splitlines() == expected
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(), retry_failed=True, verbosity=-1)
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_a_replicate_that_calls_sys_exit_fails_alone(registry, tmp_path: Path, executor: str) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=2)
    out = run_study(study, tmp_path / "out", registry, executor=executor, replicate_fn=rf.FakeReplicate(exits=("rewired", 1)), verbosity=-1)
    statuses = _statuses(out / "study.sqlite")
    assert statuses.pop(("rewired", 1)) == "failed" and set(statuses.values()) == {"done"}
    con = sqlite3.connect(out / "study.sqlite")
    assert con.execute("SELECT error FROM replicates WHERE idx = 1 AND cell = 'rewired'").fetchone()[0].startswith(
        "the replicate called sys.exit(4) (at runner_fakes.py:"
    )


def test_a_change_that_alters_finished_brains_is_refused_with_what_changed(baseline: Path, registry, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(baseline, out)
    text = rf.STUDY.format(seed=7, replicates=N).replace("degree_preserving", "weight_shuffle") + "# a note\n"
    (tmp_path / "study.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        run_study(tmp_path / "study.yaml", out, registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    lines = err.value.lines()
    assert "different version of study 'tiny'" in lines[0] and "new --out" in lines[0] and f"delete {out}" in lines[0]
    assert "the brains of cell(s) rewired would change" in lines[0]
    assert lines[1:] == ["conditions[1].null_model.kind: was \"degree_preserving\", now \"weight_shuffle\""]

    (tmp_path / "study.yaml").write_text(rf.STUDY.format(seed=8, replicates=N))
    with pytest.raises(ConfigError, match="seed: was 7, now 8"):
        run_study(tmp_path / "study.yaml", out, registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    (tmp_path / "study.yaml").write_text(rf.STUDY.format(seed=7, replicates=N - 1))
    with pytest.raises(ConfigError, match="replicates would shrink from 4 to 3"):
        run_study(tmp_path / "study.yaml", out, registry, replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()


def test_changes_that_leave_finished_brains_alone_are_accepted(baseline: Path, registry, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(baseline, out)
    log = tmp_path / "calls.txt"
    # A comment, another executor, statistics options: nothing to run, nothing changes.
    (tmp_path / "study.yaml").write_text(
        rf.STUDY.format(seed=7, replicates=N) + "# only a comment\nexecutor: {kind: processes, workers: 2}\nalpha: 0.05\n"
    )
    run_study(tmp_path / "study.yaml", out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert _calls(log) == []
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()
    con = sqlite3.connect(out / "study.sqlite")
    stored_hash, new_hash = con.execute(
        "SELECT (SELECT hash FROM studies), (SELECT value FROM provenance WHERE key = 'resumed_with.study_hash')"
    ).fetchone()
    assert new_hash == stored_hash and new_hash is not None  # the store now holds the new file


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("crash", [False, True], ids=["replicate-failed", "plugin-error"])
def test_a_failed_replicate_is_recorded_listed_and_left_out(registry, tmp_path: Path, capsys, crash: bool) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out = run_study(study, tmp_path / "out", registry, replicate_fn=rf.FakeReplicate(fail=("rewired", 1), crash=crash), verbosity=0)
    reason = "ValueError: the test plugin broke (at runner_fakes.py:" if crash else "activity exploded: mean rate 1e9 Hz"
    err = capsys.readouterr().err
    assert "rewired #1 failed after" in err and reason in err
    assert err.count(" done in ") == TOTAL - 1

    con = sqlite3.connect(out / "study.sqlite")
    status, error, detail = con.execute("SELECT status, error, detail FROM replicates WHERE condition = 'rewired' AND idx = 1").fetchone()
    assert status == "failed" and error.startswith(reason) and "Traceback" in detail
    assert not any(r["condition"] == "rewired" and r["replicate"] == "1" for r in _csv_rows(out / "results.csv"))
    for row in _csv_rows(out / "summary.csv"):
        assert (row["n_ref"], row["n"]) == (str(N), str(N - 1))
        assert f"rewired: 1 of {N} replicates failed" in row["note"]
    report = (out / "report.md").read_text()
    assert "## Failed replicates" in report and f"| rewired | 1 | {replicate_seed(7, 'rewired', 1)} | {reason}" in report

    log = tmp_path / "calls.txt"  # a resume keeps the failure ...
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert _calls(log) == []
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1, retry_failed=True)
    assert _calls(log) == [("rewired", 1)]  # ... unless asked to retry it
    assert all((r["n_ref"], r["n"]) == (str(N), str(N)) for r in _csv_rows(out / "summary.csv"))


def _bad_result(kind: str):
    def fn(study, connectome, rep):
        good = rf.FakeReplicate()(study, connectome, rep)
        if kind == "type":
            return {"rate": 1.0}
        if kind == "inf":
            return type(good)(rep.condition, rep.index, rep.seed, {"warmup": {"rate": math.inf}})
        return type(good)(rep.condition, rep.index + 1, rep.seed, good.metrics)

    return fn


@pytest.mark.parametrize(
    ("kind", "message"),
    [("type", "returned dict, not a ReplicateResult"), ("inf", "metric warmup.rate is infinite"), ("other", "expected ('a', 0, 5)")],
)
def test_an_unusable_result_fails_its_replicate(kind: str, message: str) -> None:
    outcome = execute(_bad_result(kind), None, None, Replicate("a", 0, 5))
    assert isinstance(outcome, Outcome) and outcome.result is None and message in outcome.error


def test_quiet_prints_only_errors(registry, tmp_path: Path, capsys) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=2)
    run_study(study, tmp_path / "out", registry, executor="serial", replicate_fn=rf.FakeReplicate(fail=("connectome", 0)), verbosity=-1)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"\[1/4\] connectome #0 failed after \d+\.\d s: activity exploded: mean rate 1e9 Hz", lines[0])


# -- statistics --------------------------------------------------------------------------


def test_summary_matches_scipy_and_hand_computation(baseline: Path) -> None:
    values: dict[tuple[str, str], list[float]] = {}
    for r in _csv_rows(baseline / "results.csv"):
        values.setdefault((r["metric"], r["condition"]), []).append(float(r["value"]))
    summary = _csv_rows(baseline / "summary.csv")
    assert [(s["task"], s["metric"], s["reference"], s["condition"]) for s in summary] == [
        ("warmup", "rate", "connectome", "rewired"),
        ("warmup", "score", "connectome", "rewired"),
    ]
    ps = []
    for s in summary:
        ref, other = np.array(values[(s["metric"], "connectome")]), np.array(values[(s["metric"], "rewired")])
        res = sps.mannwhitneyu(other, ref, alternative="two-sided")
        assert float(s["U"]) == res.statistic and float(s["p"]) == pytest.approx(res.pvalue, rel=1e-12)
        assert (int(s["n_ref"]), int(s["n"])) == (N, N)
        assert float(s["mean_ref"]) == pytest.approx(ref.mean(), rel=1e-12)
        assert float(s["sd"]) == pytest.approx(other.std(ddof=1), rel=1e-12)
        d = (other.mean() - ref.mean()) / math.sqrt((ref.var() + other.var()) / 2)
        assert float(s["d"]) == pytest.approx(d, rel=1e-12)
        assert float(s["ci_low"]) < other.mean() - ref.mean() < float(s["ci_high"])
        n_r, n_o = ref.size, other.size
        s_p = math.sqrt(((n_r - 1) * ref.var(ddof=1) + (n_o - 1) * other.var(ddof=1)) / (n_r + n_o - 2))
        g = (1 - 3 / (4 * (n_r + n_o) - 9)) * (other.mean() - ref.mean()) / s_p
        assert float(s["g"]) == pytest.approx(g, rel=1e-12)
        want = power_replicates(g, 0.05, rng=stats_rng(7, s["task"], s["metric"], "rewired", "power"))
        assert s["power_n"] == ("" if want is None else str(want))
        assert s["direction"] == "none" and s["winner"] in ("", "differs")  # the fake task describes no metric
        ps.append(float(s["p"]))
    lo, hi = sorted(range(2), key=lambda i: ps[i])  # Benjamini-Hochberg by hand, m = 2
    q_hi = min(1.0, ps[hi])
    assert float(summary[hi]["q"]) == pytest.approx(q_hi, rel=1e-12)
    assert float(summary[lo]["q"]) == pytest.approx(min(q_hi, 2 * ps[lo]), rel=1e-12)
    winners = {s["metric"]: s["winner"] for s in summary}
    assert all(w in ("", "rewired", "connectome") for w in winners.values())


def test_statistics_generators_depend_only_on_seed_and_names() -> None:
    a = stats_rng(7, "warmup", "rate", "rewired").random(3)
    assert np.array_equal(a, stats_rng(7, "warmup", "rate", "rewired").random(3))
    assert not np.array_equal(a, stats_rng(7, "warmup", "score", "rewired").random(3))
    assert not np.array_equal(a, stats_rng(8, "warmup", "rate", "rewired").random(3))


# -- executors -----------------------------------------------------------------------------


def test_executor_choice(registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import encephagen.execution as ex
    from encephagen.config import load_yaml, parse_study

    study = parse_study(load_yaml(rf.STUDY.format(seed=1, replicates=2)), registry)
    # The default: every usable core for a study of several brains, within the memory; serial otherwise.
    monkeypatch.setattr(ex, "usable_cores", lambda: 4)
    assert resolve_executor(study, registry, None, None, brains=8) == Processes(workers=4)
    assert resolve_executor(study, registry, None, None, brains=3) == Processes(workers=3)
    assert resolve_executor(study, registry, None, None, brains=1) == Serial()
    assert ex.default_workers(8, peak_bytes=10, available=25) == 2  # 80 % of 25 bytes holds two 10-byte brains
    monkeypatch.setattr(ex, "usable_cores", lambda: 1)
    assert resolve_executor(study, registry, None, None, brains=8) == Serial()
    assert resolve_executor(study, registry, None, 3) == Processes(workers=3)
    assert resolve_executor(study, registry, "processes", None) == Processes()
    with pytest.raises(ConfigError, match="--workers: executor 'serial' takes no workers"):
        resolve_executor(study, registry, "serial", 2)
    with pytest.raises(ConfigError, match="--workers"):
        resolve_executor(study, registry, "processes", 0)
    with pytest.raises(EncephagenError, match="--executor: unknown executor 'proceses'; did you mean 'processes'"):
        resolve_executor(study, registry, "proceses", None)
    in_file = parse_study(load_yaml(rf.STUDY.format(seed=1, replicates=2) + "executor: {kind: processes, workers: 2}\n"), registry)
    assert resolve_executor(in_file, registry, None, None, brains=8) == Processes(workers=2)  # the study's choice stands
    assert resolve_executor(in_file, registry, None, None) == Processes(workers=2)
    assert resolve_executor(in_file, registry, None, 4) == Processes(workers=4)


def test_serial_executor_yields_exceptions_instead_of_raising() -> None:
    def fn(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x * x

    out = list(Serial().map(fn, [1, 2, 3]))
    assert [i for i, _ in out] == [1, 2, 3] and out[0][1] == 1 and out[2][1] == 9
    assert isinstance(out[1][1], ValueError)


def test_workers_run_torch_with_one_thread_each() -> None:
    """A pool of workers that each start a thread per core runs slower than one process (issue measured 189 s vs 67 s)."""
    out = dict(Processes(workers=2).map(_torch_threads, [0, 1]))
    assert out == {0: 1, 1: 1}
    assert dict(Processes(workers=1, threads=2).map(_torch_threads, [0])) == {0: 2}


def test_fork_is_refused_for_processes() -> None:
    with pytest.raises(ValueError, match="start_method"):
        Processes(start_method="fork")


def _torch_threads(_: int) -> int:
    import torch

    return torch.get_num_threads()


def test_a_replicate_function_that_cannot_go_to_workers_runs_serially_by_default(
    registry, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import encephagen.execution as ex

    monkeypatch.setattr(ex, "usable_cores", lambda: 2)  # the default would be two worker processes
    fake = rf.FakeReplicate()
    study = rf.write_study(tmp_path / "study.yaml", replicates=2)
    out = run_study(study, tmp_path / "out", registry, replicate_fn=lambda s, c, r: fake(s, c, r), verbosity=0)
    assert "running serially" in capsys.readouterr().err
    assert {s for s in _statuses(out / "study.sqlite").values()} == {"done"}


def test_replicates_run_interleaved_so_any_prefix_is_balanced(registry, tmp_path: Path) -> None:
    from encephagen.execution import batches_of

    log = tmp_path / "calls.txt"
    run_study(rf.write_study(tmp_path / "s.yaml", replicates=3), tmp_path / "out", registry, executor="serial",
              replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert _calls(log) == [("connectome", 0), ("rewired", 0), ("connectome", 1), ("rewired", 1), ("connectome", 2), ("rewired", 2)]
    reps = [Replicate(c, i, i, c) for c in ("a", "b") for i in range(5)]
    assert [[(r.cell, r.index) for r in g] for g in batches_of(reps, 2)] == [
        [("a", 0), ("a", 1)], [("b", 0), ("b", 1)], [("a", 2), ("a", 3)], [("b", 2), ("b", 3)], [("a", 4)], [("b", 4)],
    ]


def test_a_component_of_main_is_not_sent_to_workers() -> None:
    from encephagen.runner import _picklable

    assert _picklable(rf.FakeReplicate()) and not _picklable(lambda: 0)
    Main = type("Main", (), {"__module__": "__main__"})  # as a class defined in a notebook is
    globals()["Main"] = Main  # (findable, so it pickles by name: the worker could still not import it)
    try:
        assert not _picklable([Main()])
    finally:
        del globals()["Main"]


def _descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _driver_with_replicates_in_flight(study: Path, out: Path, executor: str, sleep: float, log: Path, in_flight: int) -> subprocess.Popen:
    """The kill-test driver running ``study``, returned once ``in_flight`` replicates have started."""
    driver = subprocess.Popen(
        [sys.executable, str(FAKES), str(study), str(out), executor, str(sleep), str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while len(_calls(log)) < in_flight:
        if driver.poll() is not None or time.monotonic() > deadline:
            driver.kill()
            driver.wait()
            err = driver.stderr.read().decode()
            driver.stderr.close()
            raise AssertionError(f"no replicate started: {err}")
        time.sleep(0.05)
    return driver


def _assert_gone_and_resumes(children: set[int], study: Path, out: Path, baseline: Path, registry) -> None:
    """Every process in ``children`` ends within 10 s, and a serial rerun completes the study exactly."""
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if _alive(p)], "worker processes outlived the study's process"
    run_study(study, out, registry, executor="serial", replicate_fn=rf.FakeReplicate(), verbosity=-1)
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()


@pytest.mark.parametrize("executor", ["serial", "processes", "dask"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_run_within_seconds_leaves_no_process_and_the_rerun_resumes(
    baseline: Path, registry, tmp_path: Path, executor: str, sig: int
) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out, log = tmp_path / "out", tmp_path / "calls.txt"
    driver = _driver_with_replicates_in_flight(study, out, executor, 2.0, log, 1 if executor == "serial" else 2)
    try:
        children = _descendants(driver.pid)
        t0 = time.monotonic()
        driver.send_signal(sig)
        code = driver.wait(timeout=30)
        stopped = time.monotonic() - t0
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        err = driver.stderr.read().decode()
        driver.stderr.close()
    assert code == 130 and "Traceback" not in err, err
    assert stopped < 10, f"took {stopped:.1f} s to stop"
    _assert_gone_and_resumes(children, study, out, baseline, registry)


def test_a_failure_of_the_machine_is_retried_by_the_next_run_without_asking(baseline: Path, registry, tmp_path: Path) -> None:
    """Out of memory is the machine's failure, not the seed's: stored as failed, then rerun by default."""
    from encephagen.execution import environment_failure
    from encephagen.results import ReplicateFailed

    assert environment_failure(MemoryError()) and environment_failure(OSError(28, "No space left on device"))
    wrapped = ReplicateFailed("x")
    wrapped.__cause__ = RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
    assert environment_failure(wrapped)
    assert not environment_failure(ValueError("bad parameter")) and not environment_failure(ReplicateFailed("exploded"))

    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out = tmp_path / "out"
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(oom=("rewired", 1), fail=("connectome", 0)), verbosity=-1)
    statuses = _statuses(out / "study.sqlite")
    assert statuses[("rewired", 1)] == "failed" and statuses[("connectome", 0)] == "failed"
    log = tmp_path / "calls.txt"
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(log=str(log)), verbosity=-1)
    assert _calls(log) == [("rewired", 1)]  # the machine's failure runs again; the replicate's own does not
    statuses = _statuses(out / "study.sqlite")
    assert statuses.pop(("connectome", 0)) == "failed" and set(statuses.values()) == {"done"}


def test_a_replicate_that_ends_a_serial_run_is_marked_failed_after_the_second_death(baseline: Path, registry, tmp_path: Path) -> None:
    """os._exit in a serial run takes the study's process; the next run says so, the one after fails that replicate."""
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out, log = tmp_path / "out", tmp_path / "calls.txt"
    cmd = [sys.executable, str(FAKES), str(study), str(out), "serial", "0", str(log), "rewired", "1"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=120) for _ in range(3)]
    assert [r.returncode for r in runs] == [3, 3, 0], [r.stderr for r in runs]
    assert "ended without a word while rewired #1 ran" in runs[1].stderr
    assert "rewired #1 was running each time the last 2 runs died" in runs[2].stderr
    statuses = _statuses(out / "study.sqlite")
    assert statuses.pop(("rewired", 1)) == "failed" and set(statuses.values()) == {"done"}
    error = sqlite3.connect(out / "study.sqlite").execute("SELECT error FROM replicates WHERE idx = 1 AND cell = 'rewired'").fetchone()[0]
    assert "os._exit" in error and "--retry-failed" in error
    run_study(study, out, registry, replicate_fn=rf.FakeReplicate(), retry_failed=True, verbosity=-1)
    assert (out / "results.csv").read_text() == (baseline / "results.csv").read_text()


def test_workers_end_when_the_study_process_is_killed(baseline: Path, registry, tmp_path: Path) -> None:
    """kill -9 of the study's process: its pool workers end within seconds; the rerun resumes exactly."""
    study = rf.write_study(tmp_path / "study.yaml", replicates=N)
    out, log = tmp_path / "out", tmp_path / "calls.txt"
    driver = _driver_with_replicates_in_flight(study, out, "processes", 30.0, log, 2)
    try:
        children = _descendants(driver.pid)
        driver.kill()
        driver.wait()
    finally:
        driver.stderr.close()
    assert children
    _assert_gone_and_resumes(children, study, out, baseline, registry)


def test_a_script_without_the_main_guard_loses_its_replicates_with_the_reason(tmp_path: Path) -> None:
    """Worker processes re-run an unguarded script; the study says why instead of failing every replicate."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(FAKES.parent)!r})\n"
        "import runner_fakes as rf\n"
        "import encephagen\n"
        f"res = encephagen.run({{'name': 'u', 'replicates': 2, 'connectome': {{'kind': 'synthetic', 'n_regions': 8}},\n"
        "    'conditions': [{'name': 'connectome'}, {'name': 'rewired', 'null_model': {'kind': 'degree_preserving'}}],\n"
        f"    'protocol': [{{'kind': 'warmup', 'steps': 10}}]}}, {str(tmp_path / 'out')!r}, registry=rf.make_registry(),\n"
        "    executor='processes', workers=2, replicate_fn=rf.FakeReplicate(), verbosity=0)\n"
        "print('counts', res.counts)\n"
    )
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "counts {'done': 0, 'failed': 0, 'pending': 4, 'running': 0}" in res.stdout
    assert "if __name__ == '__main__':" in res.stderr and "they are pending again" in res.stderr
